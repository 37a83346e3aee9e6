#!/usr/bin/env bash
# Sidecar transports, measured side by side (docs/benchmarks.md, "Sidecar: TCP vs Unix socket, inline vs shared
# memory"): starts `fovea serve` on TCP and a Unix socket with --allow-shared-memory (and --allow-shared-memory-tcp,
# for the TCP + shared memory variant: acceptable on 127.0.0.1 only), serving MobileNetV3-small
# (random weights), and runs SidecarBench: batch-1 latency of 224x224 and 1920x1080 raw RGB frames, inline bytes vs a
# /dev/shm reference, TCP vs Unix socket.
#   benchmarks/sidecar.sh [REQUESTS_PER_ROUND] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
requests=${1:-200}
rounds=${2:-3}
source scripts/java-home.sh
fovea_use_java
mvn -B -ntp -q -DskipTests install >&2
/usr/bin/python3 benchmarks/python/make_models.py models/bench mobilenet_v3_small >&2
repo=models/sidecar-repo
mkdir -p "$repo/mobilenet_v3_small"
ln -sfn ../../bench/mobilenet_v3_small.pt "$repo/mobilenet_v3_small/model.pt"
cat >"$repo/mobilenet_v3_small/config.pbtxt" <<'CONFIG'
task: TASK_CLASSIFICATION
preprocessing { resize_shorter_side: 224 crop_width: 224 crop_height: 224 mean: [0.485, 0.456, 0.406] std: [0.229, 0.224, 0.225] }
max_batch_size: 1
CONFIG
work=$(mktemp -d)
server_pid=
cleanup() {
  [ -z "$server_pid" ] || { kill -TERM "$server_pid" 2>/dev/null; wait "$server_pid" || true; }
  rm -rf "$work"
}
trap cleanup EXIT
java --enable-native-access=ALL-UNNAMED -jar server/target/fovea.jar serve --model-repository "$repo" \
  --host 127.0.0.1 --port 8103 --metrics-port -1 --http-port -1 --threads 2 --uds "$work/fovea.sock" --allow-shared-memory \
  --allow-shared-memory-tcp >"$work/server.log" 2>&1 &
server_pid=$!
until grep -q "on unix://" "$work/server.log"; do
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.3
done
java --enable-native-access=ALL-UNNAMED -cp benchmarks/target/fovea-benchmarks.jar dev.fovea.bench.load.SidecarBench \
  --tcp 127.0.0.1:8103 --uds "unix://$work/fovea.sock" --model mobilenet_v3_small --requests "$requests" \
  --rounds "$rounds"
