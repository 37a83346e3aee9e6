#!/usr/bin/env bash
# The one-shot GPU check: in one call of a bare device machine (no JDK, Maven, apt or network; an NVIDIA GPU, CUDA,
# g++, and Python with a CUDA torch, torchvision and grpcio), it builds the native library against that machine's
# torch, makes the benchmark models, runs the PyTorch floor, runs fovea-bench against `fovea serve` on cuda:0 (FP32
# and FP16 + channels_last; c=1 unary and stream, c=64 stream with dynamic batching), checks the GPU's outputs against
# the CPU's for the same model, runs the Python comparison server on cuda:0, and runs docs/benchmarks.md's CPU matrix
# with server and load generator on separate cores. Every step is time-bounded, the whole run stops at 460 s, and it
# ends with a markdown table; results go to $OUT: summary.md, summary.json, results.tgz (all JSON and logs) and
# gpu-check.log. It exits 0 even when steps fail: their outcome is in the results.
#
#   bash scripts/gpu-check.sh bundle   here: build the jars if stale, write the ignored .gpu/ (JRE, jars, stubs, ...)
#   bash scripts/gpu-check.sh device   there, from the project root with .gpu/ carried: the checks, into $OUT
#   bash scripts/gpu-check.sh --cpu    both phases here against the CPU build, with small counts (a dry run)
#
# With the device tool: `bash scripts/gpu-check.sh bundle` here, then run `bash scripts/gpu-check.sh device` with
# carry [".gpu"] and timeout_s 600. scripts/gpu/ holds the pieces; scripts/gpu/native-checks.txt is the list of
# native GPU checks the device phase runs (add GPU-only checks there). The environment variables of
# scripts/gpu/device-run.sh (MODELS, CPU_MODELS, SECONDS_PER_LEVEL, WARM_UP_SECONDS, DEADLINE_S) change the matrix.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n 's/^#   \(bash scripts\/gpu-check.sh \)/  \1/p' "$0"; }

case "${1:-}" in
  bundle)
    bash scripts/gpu/bundle.sh
    ;;
  device)
    export OUT=${OUT:-/tmp/fovea-gpu-check-out}
    mkdir -p "$OUT"
    # Piped, not `exec > >(tee)`: the runner waits for explicit PIDs, but a process substitution here would still
    # keep this script's output open.
    GPU_CHECK_MODE=gpu bash scripts/gpu/device-run.sh 2>&1 | tee "$OUT/gpu-check.log"
    ;;
  --cpu)
    export OUT=${OUT:-target/gpu-check}
    mkdir -p "$OUT"
    start=$(date +%s)
    bash scripts/gpu/bundle.sh 2>&1 | tee "$OUT/bundle.log"
    GPU_CHECK_MODE=cpu bash scripts/gpu/device-run.sh 2>&1 | tee "$OUT/gpu-check.log"
    echo "gpu-check --cpu: bundle and dry run took $(($(date +%s) - start)) s; results in $OUT"
    ;;
  -h | --help)
    usage
    ;;
  *)
    usage >&2
    exit 2
    ;;
esac
