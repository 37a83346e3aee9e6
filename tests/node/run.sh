#!/usr/bin/env bash
# Runs the Node.js client tests (clients.test.js) against a running server: installs @grpc/grpc-js and
# @grpc/proto-loader from npm (pinned in package-lock.json) if missing, then `node --test`.
#   FOVEA_TARGET=127.0.0.1:PORT FOVEA_UDS_TARGET=unix:///path/fovea.sock tests/node/run.sh
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules/@grpc/grpc-js ] || [ ! -d node_modules/@grpc/proto-loader ]; then
  echo "node tests: npm ci (@grpc/grpc-js, @grpc/proto-loader)"
  npm ci --no-audit --no-fund --loglevel=error
fi
node --test clients.test.js
