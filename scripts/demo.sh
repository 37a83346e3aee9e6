#!/usr/bin/env bash
# The main job: installs what is missing, builds Fovea, then loads a TorchScript model through the native layer and
# prints its prediction for an image tensor, checked against what Python's torch computed for the same input.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
source scripts/java-home.sh
fovea_use_java

if [ ! -f server/target/fovea.jar ] || [ -n "$(find native-bindings server pom.xml -newer server/target/fovea.jar \
    -type f -not -path '*/target/*' -print -quit)" ]; then
  echo "demo: building (mvn -DskipTests install)"
  mvn -B -ntp -q -DskipTests install
fi

fixtures=native-bindings/src/test/resources/fixtures
echo "demo: fovea predict on the tiny CNN fixture (random weights; Python computed the same logits: $fixtures/tiny_cnn.output_b4.bin)"
java --enable-native-access=ALL-UNNAMED -jar server/target/fovea.jar predict \
  --model "$fixtures/tiny_cnn.pt" --input "$fixtures/tiny_cnn.input_b4.bin" --shape 4,3,32,32 --top-k 3
