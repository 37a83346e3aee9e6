#!/usr/bin/env bash
# Phase "device" of scripts/gpu-check.sh (read its header first): everything the device machine runs, in one call,
# each step bounded (scripts/gpu/steps.sh) and the whole run cut at DEADLINE_S, so one call gives every answer:
#   env, JRE, native build (native-build.sh), native GPU checks (native-checks.txt), models, the PyTorch floor
#   (floor.py), `fovea serve` on the device under fovea-bench (FP32 and FP16 + channels_last: c=1 unary and stream,
#   c=MANY stream with dynamic batching), GPU outputs against CPU outputs (parity.py), the Python comparison server
#   on the device, then the CPU matrix of docs/benchmarks.md with the server and the load generator on separate cores,
#   and the report (report.py): $OUT/summary.md, $OUT/summary.json, $OUT/results.tgz (every JSON file and log).
# It exits 0 whatever failed: each step's outcome is in summary.json.
#
# Environment: OUT (required), GPU_CHECK_MODE (gpu, or cpu for the dry run), GPU_CHECK_WORK (work folder), MODELS,
# CPU_MODELS (space-separated names from benchmarks/python/make_models.py), SECONDS_PER_LEVEL, WARM_UP_SECONDS,
# DEADLINE_S, FOVEA_PYTHON.
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
G=$ROOT/.gpu
MODE=${GPU_CHECK_MODE:-gpu}
: "${OUT:?OUT must name the folder for the results}"
W=${GPU_CHECK_WORK:-/tmp/fovea-gpu-check}
J=$W/results
L=$W/logs
STEPS=$J/steps.jsonl
rm -rf "$W"
mkdir -p "$J/gpu" "$J/cpu" "$L" "$OUT"
source scripts/gpu/steps.sh

if [ "$MODE" = gpu ]; then
  DEVICE=cuda:0 MANY=64 FLOOR_BATCHES=1,64 FLOOR_S=1.5 CPU_FLOOR_BATCHES=1,4,16 SERVER_THREADS=4 CPU_THREADS=2
  MODELS_DIR=$W/models
  MODELS=${MODELS:-mobilenet_v3_small resnet50 vit_b_16}
  CPU_MODELS=${CPU_MODELS:-mobilenet_v3_small resnet50}
  LEVEL_S=${SECONDS_PER_LEVEL:-3} WARM_UP=${WARM_UP_SECONDS:-2} DEADLINE_S=${DEADLINE_S:-460}
else
  # The dry run: the CPU build here, one small model, short levels; FP16 steps are recorded as skipped on cpu. One
  # intra-op thread: on a busy 2-core machine libgomp's barriers made a 2-thread MobileNetV3 forward take 3 s
  # instead of 55 ms with one (load average 17, 2026-11-30).
  DEVICE=cpu MANY=16 FLOOR_BATCHES=1,4 FLOOR_S=1 CPU_FLOOR_BATCHES=1,4 SERVER_THREADS=1 CPU_THREADS=1
  MODELS_DIR=$ROOT/models/bench
  MODELS=${MODELS:-mobilenet_v3_small}
  CPU_MODELS=${CPU_MODELS:-mobilenet_v3_small}
  LEVEL_S=${SECONDS_PER_LEVEL:-2} WARM_UP=${WARM_UP_SECONDS:-1} DEADLINE_S=${DEADLINE_S:-900}
fi
DEADLINE_AT=$((T0 + DEADLINE_S))
PEER_MODEL=resnet50
[[ " $MODELS " == *" $PEER_MODEL "* ]] || PEER_MODEL=${MODELS%% *}
PY=${FOVEA_PYTHON:-}
if [ -z "$PY" ]; then
  for PY in /opt/torch/.venv/bin/python3 /usr/bin/python3 python3; do command -v "$PY" >/dev/null && break; done
fi
# The CPU matrix pins the server and the load generator to separate cores where there are enough of them.
CORES=$(nproc)
SERVER_CORES=() CLIENT_CORES=()
if [ "$CORES" -ge 8 ] && command -v taskset >/dev/null; then
  SERVER_CORES=(taskset -c 0-3) CLIENT_CORES=(taskset -c "4-$((CORES - 1))")
fi

reported=
finish() {
  stop_server
  [ -n "$reported" ] && return
  reported=1
  el "== report"
  "$PY" scripts/gpu/report.py --mode "$MODE" --device "$DEVICE" --cpu-models "$CPU_MODELS" "$W" "$OUT" \
    || echo "gpu-check: report.py failed"
  tar -czf "$OUT/results.tgz" -C "$W" results logs
  ls -la "$OUT"
}
trap finish EXIT

el "gpu-check: mode $MODE, device $DEVICE, models $MODELS, CPU matrix $CPU_MODELS, $CORES cores," \
  "deadline ${DEADLINE_S}s, python $PY, bundle $(tr '\n' ' ' <"$G/bundle.txt" 2>/dev/null || echo missing)"
step env 60 bash -c "{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true; }
  grep -m1 'model name' /proc/cpuinfo; nproc; g++ --version | head -n 1"
step env-python 60 "$PY" -c 'import json, platform, sys, torch, grpc, google.protobuf as pb
cuda = torch.cuda.is_available()
env = dict(python=platform.python_version(), torch=torch.__version__, cuda=torch.version.cuda, cuda_available=cuda,
           gpu=torch.cuda.get_device_name(0) if cuda else None, grpcio=grpc.__version__, protobuf=pb.__version__)
print(env)
json.dump(env, open(sys.argv[1], "w"))' "$J/env.json"

step jre 120 tar -xJf "$G/jre.tar.xz" -C "$W"
LIB=$W/libfovea_torch.so
JVM=("$W/jre/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow
  "-Dfovea.native.library=$LIB")
BENCH=("${JVM[@]}" -cp "$G/fovea.jar:$G/bench-extra.jar" dev.fovea.bench.load.FoveaBench
  --seconds "$LEVEL_S" --warm-up-seconds "$WARM_UP")
step native-build 240 bash scripts/gpu/native-build.sh "$PY" "$G" "$LIB"

# Native GPU checks: every command line of scripts/gpu/native-checks.txt, in order.
export JAVA="${JVM[*]}" NATIVE_TESTS=$G/native-tests DEVICE
check=0
while IFS= read -r line; do
  [[ -z "${line// }" || "$line" == \#* ]] && continue
  check=$((check + 1))
  export JUNIT="$JAVA -jar $G/junit-console.jar execute --class-path $G/native-tests:$G/fovea.jar"
  JUNIT+=" --disable-banner --details=summary"
  step "native-check-$check" 150 bash -c "$line"
done <scripts/gpu/native-checks.txt

ALL_MODELS=$(printf '%s\n' $MODELS $CPU_MODELS | sort -u | tr '\n' ' ')
step models 240 "$PY" benchmarks/python/make_models.py "$MODELS_DIR" $ALL_MODELS
step floor 180 "$PY" scripts/gpu/floor.py --device "$DEVICE" --batches "$FLOOR_BATCHES" --seconds "$FLOOR_S" \
  --precisions fp32,fp16 --threads "$SERVER_THREADS" --out "$J/floor.json" "$MODELS_DIR" $MODELS

# write_model FOLDER DEVICE MAX_BATCH [config lines...]: a model folder of a repository, linked to MODELS_DIR.
write_model() {
  local folder=$1 device=$2 max_batch=$3 model=${1##*/}
  shift 3
  mkdir -p "$folder"
  ln -sf "$MODELS_DIR/${model%%-*}.pt" "$folder/model.pt"
  { echo 'task: TASK_CLASSIFICATION'
    echo 'preprocessing { crop_width: 224 crop_height: 224 mean: [0.485, 0.456, 0.406] std: [0.229, 0.224, 0.225] }'
    echo "device: \"$device\""
    echo "max_batch_size: $max_batch"
    printf '%s\n' "$@"; } >"$folder/config.pbtxt"
}

# `fovea serve` on the device: per model, FP32 and FP16 (+ channels_last), each without and with dynamic batching,
# and the same file on the CPU as the parity reference.
R=$W/repo
FP16=('precision: FP16' 'channels_last: true')
BATCHING='dynamic_batching { max_queue_delay_us: 1000 }'
for m in $MODELS; do
  write_model "$R/$m" "$DEVICE" 64
  write_model "$R/$m-batched" "$DEVICE" 64 "$BATCHING"
  write_model "$R/$m-cpu" cpu 64
  if [ "$DEVICE" != cpu ]; then
    write_model "$R/$m-fp16" "$DEVICE" 64 "${FP16[@]}"
    write_model "$R/$m-fp16-batched" "$DEVICE" 64 "${FP16[@]}" "$BATCHING"
  fi
done
if start_server fovea-serve "^fovea: serving" 240 "${JVM[@]}" -jar "$G/fovea.jar" serve --model-repository "$R" \
    --host 127.0.0.1 --port 8101 --metrics-port 8102 --http-port -1 --threads "$SERVER_THREADS"; then
  checks=()
  for m in $MODELS; do
    for precision in fp32 fp16; do
      name=$m
      [ $precision = fp32 ] || name=$m-fp16
      if [ $precision = fp16 ] && [ "$DEVICE" = cpu ]; then
        skip "bench-$name" "skipped on cpu: FP16 convolutions do not run on the CPU"
        continue
      fi
      step "bench-$name" 60 "${BENCH[@]}" --target 127.0.0.1:8101 --model "$name" --concurrency 1 \
        --modes unary,stream --json "$J/gpu/$name.json"
      step "bench-$name-batched" 60 "${BENCH[@]}" --target 127.0.0.1:8101 --model "$name-batched" \
        --concurrency "$MANY" --modes stream --json "$J/gpu/$name-batched.json"
      tolerance=0.01
      [ $precision = fp32 ] || tolerance=0.05
      checks+=("$name:$m-cpu:$precision:$tolerance")
    done
  done
  step parity 120 "$PY" scripts/gpu/parity.py --target 127.0.0.1:8101 --stubs "$G/stubs" --out "$J/parity.json" \
    "${checks[@]}"
  step metrics 30 "$PY" -c 'import sys, urllib.request
text = urllib.request.urlopen("http://127.0.0.1:8102/metrics", timeout=10).read().decode()
sys.stdout.write("".join(l + "\n" for l in text.splitlines()
                         if l.startswith(("fovea_batch_size_", "fovea_stage_duration_seconds_sum",
                                          "fovea_stage_duration_seconds_count", "fovea_native_memory"))))'
  [ "$DEVICE" = cpu ] || step gpu-memory 30 nvidia-smi --query-gpu=memory.used,memory.total --format=csv
  stop_server
fi

# The Python comparison server on the device, as many gRPC workers as the largest concurrency (a stream holds one).
if start_server python-serve "^python-server: serving" 180 "$PY" benchmarks/python/python_server.py \
    --model-repository "$R" --model "$PEER_MODEL" --port 8103 --threads "$SERVER_THREADS" --workers "$MANY" \
    --stubs "$G/stubs"; then
  step "bench-python-$PEER_MODEL" 90 "${BENCH[@]}" --target 127.0.0.1:8103 --model "$PEER_MODEL" --concurrency 1 \
    --modes unary,stream --json "$J/gpu/python-$PEER_MODEL.json"
  step "bench-python-$PEER_MODEL-many" 60 "${BENCH[@]}" --target 127.0.0.1:8103 --model "$PEER_MODEL" \
    --concurrency "$MANY" --modes stream --json "$J/gpu/python-$PEER_MODEL-many.json"
  stop_server
fi

# The CPU matrix of docs/benchmarks.md ("Server under load", benchmarks/load.sh): the same levels, names and
# summary, CPU_THREADS intra-op threads (2 as there), the server on cores 0-3 and the load generator (and its floor)
# on the others.
RC=$W/repo-cpu
for m in $CPU_MODELS; do
  write_model "$RC/$m" cpu 16
  write_model "$RC/$m-batched" cpu 16 'dynamic_batching { max_queue_delay_us: 2000 }'
done
if start_server fovea-serve-cpu "^fovea: serving" 180 "${SERVER_CORES[@]}" "${JVM[@]}" -jar "$G/fovea.jar" serve \
    --model-repository "$RC" --host 127.0.0.1 --port 8104 --metrics-port -1 --http-port -1 \
    --threads "$CPU_THREADS"; then
  for m in $CPU_MODELS; do
    step "cpu-$m" 120 "${CLIENT_CORES[@]}" "${BENCH[@]}" --threads "$CPU_THREADS" --target 127.0.0.1:8104 \
      --model "$m" --model-file "$MODELS_DIR/$m.pt" --concurrency 1,16 --modes unary,stream \
      --floor-batches "$CPU_FLOOR_BATCHES" --json "$J/cpu/$m.json"
    step "cpu-$m-batched" 60 "${CLIENT_CORES[@]}" "${BENCH[@]}" --target 127.0.0.1:8104 --model "$m-batched" \
      --concurrency 16 --modes unary,stream --json "$J/cpu/$m-batched.json"
  done
  stop_server
fi
CPU_PEER=${CPU_MODELS%% *}
for workers in 16 1; do
  if start_server "python-serve-cpu-w$workers" "^python-server: serving" 120 "${SERVER_CORES[@]}" "$PY" \
      benchmarks/python/python_server.py --model-repository "$RC" --model "$CPU_PEER" --port 8105 \
      --threads "$CPU_THREADS" --workers $workers --stubs "$G/stubs"; then
    step "cpu-python-w$workers" 60 "${CLIENT_CORES[@]}" "${BENCH[@]}" --target 127.0.0.1:8105 --model "$CPU_PEER" \
      --concurrency 16 --modes unary,stream --json "$J/cpu/python-w$workers-$CPU_PEER.json"
    stop_server
  fi
done
el "gpu-check: steps done"
exit 0
