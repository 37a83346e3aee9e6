#!/usr/bin/env bash
# Forward latency through Fovea's Java layer vs the C++ floor (native/bench/forward_floor.cpp linked to the same
# libtorch), same model, input, thread count and timing. Prints a markdown table for docs/benchmarks.md.
#
#   benchmarks/forward-latency.sh [THREADS] [ITERATIONS] [ROUNDS]
#
# Each (model, batch) runs ROUNDS times per side, alternating floor and Java so drift on a shared machine hits both;
# each run reports the median of ITERATIONS forwards after 5 warm-up ones, and the table shows the mean of those
# medians. Models are torchvision architectures with random weights, created under models/bench if absent.
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${1:-2}
iterations=${2:-30}
rounds=${3:-2}
warmup=5

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

echo "| model | batch | floor (C++) median ms | Java median ms | Java / floor |"
echo "|---|---|---|---|---|"
for model in resnet50 vit_b_16; do
  for batch in 1 8; do
    floor_sum=0
    java_sum=0
    for round in $(seq "$rounds"); do
      f=$("$floor" "models/bench/$model.pt" "$batch" "$threads" "$warmup" "$iterations" | median_of)
      j=$("${java_side[@]}" "models/bench/$model.pt" "$batch" "$threads" "$warmup" "$iterations" | median_of)
      echo "  $model batch $batch round $round: floor $f ms, java $j ms" >&2
      floor_sum=$(echo "$floor_sum + $f" | bc -l)
      java_sum=$(echo "$java_sum + $j" | bc -l)
    done
    printf "| %s | %d | %.2f | %.2f | %.4f |\n" "$model" "$batch" "$(echo "$floor_sum / $rounds" | bc -l)" \
      "$(echo "$java_sum / $rounds" | bc -l)" "$(echo "$java_sum / $floor_sum" | bc -l)"
  done
done
