#!/usr/bin/env bash
# Runs the Python client tests against a real server: generates Python stubs from proto/ with grpc_tools, starts
# `fovea serve` on the server tests' model repository on a free port, runs the tests, stops the server with SIGTERM.
# Needs server/target/fovea.jar (mvn install) and Debian's python3-grpcio, python3-grpc-tools, python3-pil.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/java-home.sh
fovea_use_java

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    wait "$server_pid" || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/stubs"
/usr/bin/python3 -m grpc_tools.protoc -I proto --python_out="$work/stubs" --grpc_python_out="$work/stubs" \
  proto/fovea/v1/*.proto
touch "$work/stubs/fovea/__init__.py" "$work/stubs/fovea/v1/__init__.py"

java --enable-native-access=ALL-UNNAMED -jar server/target/fovea.jar serve \
  --model-repository server/src/test/resources/repository --host 127.0.0.1 --port 0 --metrics-port 0 --threads 2 \
  >"$work/server.log" 2>&1 &
server_pid=$!
port=
for _ in $(seq 600); do
  port=$(sed -n 's/^fovea: serving .* on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/server.log")
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; echo "python tests: server exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { cat "$work/server.log"; echo "python tests: server did not start" >&2; exit 1; }

FOVEA_TARGET="127.0.0.1:$port" FOVEA_STUBS="$work/stubs" /usr/bin/python3 -m unittest -v tests/python/test_fovea_grpc.py
