#!/usr/bin/env bash
# The main job: installs what is missing, builds Fovea, trains the demo models if absent (three families that
# recognise shapes: a small CNN, a small Vision Transformer and a hybrid, a convolutional stem feeding a transformer
# encoder; plus a second version of the CNN), starts `fovea serve` on that repository (models/demo) polling it for new
# versions, streams a synthetic moving scene from `fovea-client` to each model, printing predictions, accuracy,
# latency and FPS, and the three side by side. Then the live update: while frames stream to the CNN, its version 2 is
# dropped into the repository; the server loads it beside version 1 and swaps, and the client prints the frame from
# which version 2 answers and the results of each version. Stops the server with SIGTERM.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${FOVEA_PORT:-8001}
frames=${FOVEA_DEMO_FRAMES:-300}
repository=models/demo
update=models/demo-update
families=(shapes-cnn shapes-vit shapes-hybrid)

bash scripts/setup.sh --models
source scripts/java-home.sh
fovea_use_java

if [ ! -f server/target/fovea.jar ] || [ ! -f client-sdk/target/fovea-client.jar ] || [ -n "$(find proto \
    native-bindings server client-sdk pom.xml -newer server/target/fovea.jar -type f -not -path '*/target/*' \
    -print -quit)" ]; then
  echo "demo: building (mvn -DskipTests install)"
  mvn -B -ntp -q -DskipTests install
fi

trained=true
for model in "${families[@]}"; do
  [ -f "$repository/$model/1/model.pt" ] || trained=false
done
if ! $trained || [ ! -f "$repository/families.txt" ] || [ ! -f "$update/shapes-cnn/2/model.pt" ]; then
  echo "demo: training the demo models into $repository (and the CNN's version 2 into $update)"
  rm -rf "$repository" "$update"
  /usr/bin/python3 scripts/python/make_demo_models.py "$repository" "$update"
fi
# Every run starts with version 1 of the CNN: the live update below adds version 2.
rm -rf "$repository/shapes-cnn/2"

work=$(mktemp -d)
log=$work/server.log
: >"$log"
server_pid=
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    echo "demo: stopping the server (SIGTERM)"
    kill -TERM "$server_pid"
    wait "$server_pid" || true
    tail -n 1 "$log"
  fi
  rm -rf "$work"
}
trap stop_server EXIT

echo "demo: starting fovea serve on 127.0.0.1:$port"
java --enable-native-access=ALL-UNNAMED -jar server/target/fovea.jar serve --model-repository "$repository" \
  --host 127.0.0.1 --port "$port" --http-port -1 --model-control-mode poll --repository-poll-seconds 1 >"$log" 2>&1 &
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

for model in "${families[@]}"; do
  echo
  echo "demo: streaming $frames synthetic frames to $model"
  "${client[@]}" stream --model "$model" --synthetic --frames "$frames" | tee "$work/$model.out"
done

# p50/p90/p99 of one of a stream's latency lines ($1: "round trip" or "in the server") in its output $2.
percentiles() {
  sed -n "s/^$1 .*: p50 \([0-9.]*\), p90 \([0-9.]*\), p99 \([0-9.]*\)$/\1\/\2\/\3/p" "$2"
}
echo
echo "demo: the three families side by side, $frames frames each (accuracy: of the results streamed; latency in ms"
echo "demo: after 10 warm-up results: round trip = frame captured to result received; server = its queue +"
echo "demo: preprocess + inference + postprocess)"
row='%-7s %-14s %10s %8s  %-24s %s\n'
printf "$row" family model parameters accuracy "round trip p50/p90/p99" "server p50/p90/p99"
grep -v '^#' "$repository/families.txt" | while IFS=$'\t' read -r model family parameters _; do
  out=$work/$model.out
  printf "$row" "$family" "$model" "$parameters" "$(sed -n 's/^accuracy \([0-9.]*\) .*/\1/p' "$out")" \
    "$(percentiles "round trip" "$out")" "$(percentiles "in the server" "$out")"
done

echo
drop_after=$((frames / 4))
echo "demo: live update: streaming $frames frames to shapes-cnn; after frame $drop_after its version 2 goes into" \
  "$repository/shapes-cnn/2"
out=$work/update.out
: >"$out"
"${client[@]}" stream --model shapes-cnn --synthetic --frames "$frames" >"$out" &
client_pid=$!
tail -n +1 -f --pid="$client_pid" "$out" &
tail_pid=$!
until [ "$(sed -n 's/^frame \([0-9]*\):.*/\1/p' "$out" | tail -n 1)" -ge "$drop_after" ] 2>/dev/null; do
  kill -0 "$client_pid" 2>/dev/null || break
  sleep 0.1
done
# A rename makes the version appear whole: the server's poll never sees half a folder.
cp -r "$update/shapes-cnn/2" "$repository/shapes-cnn/.2.partial"
mv "$repository/shapes-cnn/.2.partial" "$repository/shapes-cnn/2"
echo "demo: version 2 is in the repository; the server loads and warms it up beside version 1, then swaps"
wait "$client_pid"
wait "$tail_pid"
echo "demo: the server: $(grep -o "model shapes-cnn version 2 ready.*" "$log" || echo "no version 2 of shapes-cnn yet")"
counts=$(sed -n 's/^frames sent \([0-9]*\), results \([0-9]*\), skipped [0-9]*, errors \([0-9]*\).*/\1 \2 \3/p' "$out")
read -r sent results errors <<<"$counts"
switch=$(sed -n 's/^frame \([0-9]*\): now served by model version 2 .*/\1/p' "$out")
if [ "$results" != "$sent" ] || [ "$errors" != 0 ]; then
  echo "demo: live update: of $sent frames sent, $results were answered and $errors failed" >&2
  exit 1
elif [ -z "$switch" ]; then
  echo "demo: live update: the stream ended before version 2 answered; more frames (FOVEA_DEMO_FRAMES) give the" \
    "server time to load it"
else
  echo "demo: live update: version 2 answered from frame $switch on; all $sent frames answered, none failed"
fi
