#!/usr/bin/env bash
# The load benchmark of docs/benchmarks.md ("Server under load"): for each model, fovea-bench against `fovea serve`
# at concurrency 1 and 16, unary and streaming, without and with dynamic batching, plus the in-process floor (batch 1
# for latency; batches 1, 4 and 16 for the best images/s); then the same load against a plain Python gRPC server
# (benchmarks/python/python_server.py: Debian's python3-grpcio + python3-torch, no batching) serving the same
# TorchScript file over the same proto. Raw 224x224 RGB frames, random-weight torchvision models. Prints a summary
# table; JSON and PNG charts go to OUT.
#
#   benchmarks/load.sh [MODEL...]        MODEL: mobilenet_v3_small, resnet50, vit_b_16 (default: all three)
#
# Environment: THREADS (libtorch intra-op threads, server and floor, default 2), SECONDS_PER_LEVEL (default 10),
# WARM_UP_SECONDS (default 10: the JIT of both JVMs needs it at concurrency 1), OUT (default target/bench-load),
# PYTHON_WORKERS (the Python server's gRPC thread pool sizes to measure, default "16 1": 16 is what a user would
# start with; 1 runs one request at a time, so torch's threads do not fight each other).
# Client and servers share this machine; on 2 cores they compete for it, which the results then include.
set -euo pipefail
cd "$(dirname "$0")/.."
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(mobilenet_v3_small resnet50 vit_b_16)
threads=${THREADS:-2}
seconds=${SECONDS_PER_LEVEL:-10}
warm_up=${WARM_UP_SECONDS:-10}
out=${OUT:-target/bench-load}
fovea_port=8101
python_port=8102

source scripts/java-home.sh
fovea_use_java
mkdir -p "$out"
echo "load: building (mvn -DskipTests install) and creating models under models/bench" >&2
mvn -B -ntp -q -DskipTests install >&2
/usr/bin/python3 benchmarks/python/make_models.py models/bench "${models[@]}" >&2

# One repository, two entries per model: without and with dynamic batching (same file, same preprocessing).
repo=models/bench-repo
rm -rf "$repo"
for model in "${models[@]}"; do
  for variant in "" "-batched"; do
    mkdir -p "$repo/$model$variant"
    ln -s "../../bench/$model.pt" "$repo/$model$variant/model.pt"
    {
      echo 'task: TASK_CLASSIFICATION'
      echo 'preprocessing { crop_width: 224 crop_height: 224 mean: [0.485, 0.456, 0.406] std: [0.229, 0.224, 0.225] }'
      echo 'max_batch_size: 16'
      [ -z "$variant" ] || echo 'dynamic_batching { max_queue_delay_us: 2000 }'
    } >"$repo/$model$variant/config.pbtxt"
  done
done

server_pid=
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid"
    wait "$server_pid" || true
  fi
  server_pid=
}
trap stop_server EXIT

wait_for() {
  local log=$1 pattern=$2
  until grep -q "$pattern" "$log"; do
    kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; echo "load: the server exited" >&2; exit 1; }
    sleep 0.3
  done
}

bench=(java --enable-native-access=ALL-UNNAMED -cp benchmarks/target/fovea-benchmarks.jar
  dev.fovea.bench.load.FoveaBench --seconds "$seconds" --warm-up-seconds "$warm_up" --threads "$threads")

echo "load: fovea serve --threads $threads on 127.0.0.1:$fovea_port" >&2
java --enable-native-access=ALL-UNNAMED -jar server/target/fovea.jar serve --model-repository "$repo" \
  --host 127.0.0.1 --port "$fovea_port" --metrics-port -1 --http-port -1 --threads "$threads" >"$out/fovea.log" 2>&1 &
server_pid=$!
wait_for "$out/fovea.log" "^fovea: serving"
for model in "${models[@]}"; do
  "${bench[@]}" --target "127.0.0.1:$fovea_port" --model "$model" --model-file "models/bench/$model.pt" \
    --concurrency 1,16 --modes unary,stream --floor-batches 1,4,16 \
    --json "$out/$model.json" --chart "$out/$model.png" | tee "$out/$model.md"
  "${bench[@]}" --target "127.0.0.1:$fovea_port" --model "$model-batched" --concurrency 16 --modes unary,stream \
    --json "$out/$model-batched.json" | tee "$out/$model-batched.md"
done
stop_server

model=${models[0]}
for workers in ${PYTHON_WORKERS:-16 1}; do
  echo "load: python_server.py ($workers gRPC workers, torch $threads threads) on 127.0.0.1:$python_port, $model" >&2
  /usr/bin/python3 benchmarks/python/python_server.py --model-repository "$repo" --model "$model" \
    --host 127.0.0.1 --port "$python_port" --threads "$threads" --workers "$workers" >"$out/python.log" 2>&1 &
  server_pid=$!
  wait_for "$out/python.log" "^python-server: serving"
  "${bench[@]}" --target "127.0.0.1:$python_port" --model "$model" --concurrency 16 --modes unary,stream \
    --json "$out/python-w$workers-$model.json" | tee "$out/python-w$workers-$model.md"
  stop_server
done

/usr/bin/python3 benchmarks/python/summarize_load.py "$out" "${models[@]}"
