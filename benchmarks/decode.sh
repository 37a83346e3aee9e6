#!/usr/bin/env bash
# JPEG decoding candidates, side by side in one run (see DecodeBenchmark): libjpeg-turbo inside the native
# preprocessing call vs javax.imageio. The 1920x1080 test JPEG is made from scikit-image's coffee photo.
#
#   benchmarks/decode.sh [ITERATIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/java-home.sh
fovea_use_java
mkdir -p models/bench
if [ ! -f models/bench/coffee-1080p.jpg ]; then
  /usr/bin/python3 -c '
from PIL import Image
from skimage import data
Image.fromarray(data.coffee()).resize((1920, 1080), Image.BICUBIC).save("models/bench/coffee-1080p.jpg", quality=90)
'
fi
mvn -B -ntp -q -DskipTests install -pl benchmarks -am >&2
java --enable-native-access=ALL-UNNAMED -cp benchmarks/target/fovea-benchmarks.jar dev.fovea.bench.DecodeBenchmark \
  models/bench/coffee-1080p.jpg "${1:-30}"
