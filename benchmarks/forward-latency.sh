#!/usr/bin/env bash
# Forward latency through Fovea's Java layer vs the C++ floor (native/bench/forward_floor.cpp linked to the same
# libtorch), same model, input, thread count and timing. Prints a markdown table for docs/benchmarks.md.
#
#   benchmarks/forward-latency.sh [THREADS] [ITERATIONS] [ROUNDS]
#
# Each (model, batch) runs ROUNDS times per side, alternating floor and Java so drift on a shared machine hits both;
# each run reports the median of ITERATIONS forwards after 5 warm-up ones (100 x ITERATIONS after 1,000 for the tiny
# model), and the table shows the mean of those medians. Models are torchvision architectures with random weights, created under models/bench if absent.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
iterations=${2:-30}
rounds=${3:-2}

source scripts/java-home.sh
fovea_use_java
/usr/bin/python3 benchmarks/python/make_models.py models/bench resnet50 vit_b_16 >&2
bash native-bindings/native/build.sh benchmarks/target/floor-build benchmarks/target/floor-build/lib \
  -DFOVEA_BUILD_BENCH=ON >&2
mvn -B -ntp -q -DskipTests install -pl benchmarks -am >&2
floor=benchmarks/target/floor-build/bin/fovea_forward_floor
java_side=(java --enable-native-access=ALL-UNNAMED -cp benchmarks/target/fovea-benchmarks.jar
  dev.fovea.bench.ForwardLatency)

median_of() { sed -n 's/^median_ms=\([0-9.]*\).*/\1/p'; }

echo "| model | input | batch | floor (C++) median ms | Java median ms | Java − floor µs | Java / floor |"
echo "|---|---|---|---|---|---|---|"

# run_case LABEL MODEL_FILE BATCH SIZE ITERATIONS WARMUP
run_case() {
  local label=$1 model=$2 batch=$3 size=$4 count=$5 warmup=$6 floor_sum=0 java_sum=0 round f j
  for round in $(seq "$rounds"); do
    f=$("$floor" "$model" "$batch" "$threads" "$warmup" "$count" "$size" | median_of)
    j=$("${java_side[@]}" "$model" "$batch" "$threads" "$warmup" "$count" "$size" | median_of)
    echo "  $label batch $batch round $round: floor $f ms, java $j ms" >&2
    floor_sum=$(echo "$floor_sum + $f" | bc -l)
    java_sum=$(echo "$java_sum + $j" | bc -l)
  done
  printf "| %s | 3x%dx%d | %d | %.3f | %.3f | %.0f | %.4f |\n" "$label" "$size" "$size" "$batch" \
    "$(echo "$floor_sum / $rounds" | bc -l)" "$(echo "$java_sum / $rounds" | bc -l)" \
    "$(echo "($java_sum - $floor_sum) * 1000 / $rounds" | bc -l)" "$(echo "$java_sum / $floor_sum" | bc -l)"
}

# A tiny model first: its forward takes well under a millisecond, so the Java layer's fixed cost per call shows.
run_case tiny_cnn native-bindings/src/test/resources/fixtures/tiny_cnn.pt 1 32 $((iterations * 100)) 1000
for model in resnet50 vit_b_16; do
  for batch in 1 8; do
    run_case "$model" "models/bench/$model.pt" "$batch" 224 "$iterations" 5
  done
done
