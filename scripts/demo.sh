#!/usr/bin/env bash
# The main job: installs what is missing, builds Fovea, trains the demo models if absent (a small CNN and a small
# Vision Transformer that recognise shapes, ~1 minute on two cores), starts `fovea serve` on that repository
# (models/demo), streams a synthetic moving scene from `fovea-client` to each model, printing predictions, accuracy,
# latency and FPS, then stops the server with SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${FOVEA_PORT:-8001}
frames=${FOVEA_DEMO_FRAMES:-300}

bash scripts/setup.sh --models
source scripts/java-home.sh
fovea_use_java

if [ ! -f server/target/fovea.jar ] || [ ! -f client-sdk/target/fovea-client.jar ] || [ -n "$(find proto \
    native-bindings server client-sdk pom.xml -newer server/target/fovea.jar -type f -not -path '*/target/*' \
    -print -quit)" ]; then
  echo "demo: building (mvn -DskipTests install)"
  mvn -B -ntp -q -DskipTests install
fi

if [ ! -f models/demo/shapes-cnn/model.pt ] || [ ! -f models/demo/shapes-vit/model.pt ]; then
  echo "demo: training the demo models into models/demo"
  /usr/bin/python3 scripts/python/make_demo_models.py models/demo
fi

log=$(mktemp)
server_pid=
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    echo "demo: stopping the server (SIGTERM)"
    kill -TERM "$server_pid"
    wait "$server_pid" || true
    tail -n 1 "$log"
  fi
  rm -f "$log"
}
trap stop_server EXIT

echo "demo: starting fovea serve on 127.0.0.1:$port"
java --enable-native-access=ALL-UNNAMED -jar server/target/fovea.jar serve --model-repository models/demo \
  --host 127.0.0.1 --port "$port" --http-port -1 >"$log" 2>&1 &
server_pid=$!
until grep -q "^fovea: serving" "$log"; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    cat "$log"
    echo "demo: the server exited before serving" >&2
    exit 1
  fi
  sleep 0.2
done
grep "^fovea:" "$log"

# protobuf and gRPC still use sun.misc.Unsafe's memory access, which JDK 24+ warns about on every run; the option
# that allows it exists from JDK 23 on.
client=(java)
if [ "$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')" -ge 23 ]; then
  client+=(--sun-misc-unsafe-memory-access=allow)
fi
client+=(-jar client-sdk/target/fovea-client.jar --target "127.0.0.1:$port")
"${client[@]}" models
for model in shapes-cnn shapes-vit; do
  echo
  echo "demo: streaming $frames synthetic frames to $model"
  "${client[@]}" stream --model "$model" --synthetic --frames "$frames"
done
