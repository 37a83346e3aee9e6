#!/usr/bin/env bash
# The request path alone (docs/benchmarks.md, "Request path (h2load)"): nghttp2's h2load sends one pre-encoded gRPC
# ModelInfer frame, over and over, to `fovea serve` serving a trivial TorchScript model (`x * 2` on FP32 [1, 4],
# Triton layout, max_batch_size 64), once without and once with dynamic batching. The model costs microseconds, so
# what is measured is the server's own path: Netty, validation, the queue, the instance, the compute thread and the
# response. For each model: a warm-up run, then REQUESTS requests with 64 in flight (-c 4 -m 16) and REQUESTS_ONE
# requests one at a time (-c 1 -m 1). On demand, not in CI; installs nghttp2-client if it is missing.
#
#   benchmarks/h2load.sh
#
# Environment: JAR (the server to measure, default server/target/fovea.jar, built here with `mvn -o package` when it
# is the default; pass another build's jar for a before/after run), REQUESTS (default 50000), REQUESTS_ONE (default
# 5000), WARM_UP (requests of the warm-up run, default 30000), SERVE_OPTIONS (more `fovea serve` flags).
# h2load and the server share this machine; on 2 cores they compete for it, which the results then include.
set -euo pipefail
cd "$(dirname "$0")/.."
jar=${JAR:-}
requests=${REQUESTS:-50000}
requests_one=${REQUESTS_ONE:-5000}
warm_up=${WARM_UP:-30000}

source scripts/java-home.sh
fovea_use_java
if ! command -v h2load >/dev/null; then
  echo "h2load: installing nghttp2-client" >&2
  apt-get install -y nghttp2-client >&2
fi
if [ -z "$jar" ]; then
  echo "h2load: building the server (mvn -o package)" >&2
  mvn -o -B -ntp -q -DskipTests package -pl server -am >&2
  jar=server/target/fovea.jar
fi

work=$(mktemp -d)
server_pid=
cleanup() {
  [ -z "$server_pid" ] || { kill -TERM "$server_pid" 2>/dev/null; wait "$server_pid" || true; }
  rm -rf "$work"
}
trap cleanup EXIT

# The model, in two repository entries that differ only in dynamic batching, and one length-prefixed gRPC frame.
/usr/bin/python3 - "$work" <<'PYTHON'
import os, struct, sys
import torch
work = sys.argv[1]
sys.path.insert(0, os.path.join("benchmarks", "python"))
import fovea_process
os.makedirs(os.path.join(work, "stubs"))
fovea_process.stubs(os.path.join(work, "stubs"))
from inference import grpc_service_pb2

class Double(torch.nn.Module):
    def forward(self, x):
        return x * 2

# Traced, not scripted: scripting needs the source file, and this one comes from stdin.
script = torch.jit.trace(Double(), torch.ones(1, 4))
for name, batching in (("double", ""), ("double_batched", "dynamic_batching { max_queue_delay_microseconds: 1000 }\n")):
    os.makedirs(os.path.join(work, "repo", name, "1"))
    script.save(os.path.join(work, "repo", name, "1", "model.pt"))
    with open(os.path.join(work, "repo", name, "config.pbtxt"), "w") as config:
        config.write('name: "%s"\nplatform: "pytorch_libtorch"\nmax_batch_size: 64\n'
                     'input [ { name: "INPUT__0" data_type: TYPE_FP32 dims: [ 4 ] } ]\n'
                     'output [ { name: "OUTPUT__0" data_type: TYPE_FP32 dims: [ 4 ] } ]\n%s' % (name, batching))
    request = grpc_service_pb2.ModelInferRequest(model_name=name)
    tensor = request.inputs.add(name="INPUT__0", datatype="FP32", shape=[1, 4])
    request.raw_input_contents.append(struct.pack("<4f", 1.0, 2.0, 3.0, 4.0))
    message = request.SerializeToString()
    with open(os.path.join(work, name + ".frame"), "wb") as frame:
        frame.write(struct.pack(">BI", 0, len(message)) + message)
PYTHON

# shellcheck disable=SC2086
java --enable-native-access=ALL-UNNAMED -jar "$jar" serve --model-repository "$work/repo" --host 127.0.0.1 \
  --port 0 --metrics-port -1 --http-port -1 ${SERVE_OPTIONS:-} >"$work/server.log" 2>&1 &
server_pid=$!
until grep -q "^fovea: serving" "$work/server.log"; do
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "h2load: the server exited" >&2; exit 1; }
  sleep 0.3
done
port=$(sed -n 's/^fovea: serving .* on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/server.log")

# h2load counts HTTP 200 as success, and gRPC sends its errors with a 200: check once that the frame gets an answer.
/usr/bin/python3 - "$work" "$port" <<'PYTHON'
import os, struct, sys
import grpc
work, port = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(work, "stubs"))
from inference import grpc_service_pb2
with grpc.insecure_channel("127.0.0.1:" + port) as channel:
    call = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
    for name in ("double", "double_batched"):
        with open(os.path.join(work, name + ".frame"), "rb") as frame:
            response = grpc_service_pb2.ModelInferResponse.FromString(call(frame.read()[5:], timeout=30))
        values = struct.unpack("<4f", response.raw_output_contents[0])
        if values != (2.0, 4.0, 6.0, 8.0):
            sys.exit("h2load: %s answered %s" % (name, values))
PYTHON

# Prints h2load's summary lines (requests, req/s, latency) for one run; fails if any request did not succeed.
run() {
  local model=$1 count=$2 clients=$3 streams=$4 label=$5 result
  result=$(h2load -n "$count" -c "$clients" -m "$streams" -d "$work/$model.frame" \
    -H 'content-type: application/grpc' -H 'te: trailers' \
    "http://127.0.0.1:$port/inference.GRPCInferenceService/ModelInfer")
  [ -z "$label" ] && return
  echo "== $model, $label"
  grep -E '^(finished in|requests:|status codes:|time for request:)' <<<"$result"
  grep -q "$count succeeded" <<<"$result" || { echo "$result" >&2; echo "h2load: requests failed" >&2; exit 1; }
}

for model in double double_batched; do
  run "$model" "$warm_up" 4 16 ""
  run "$model" "$requests" 4 16 "64 in flight (-c 4 -m 16)"
  run "$model" "$requests_one" 1 1 "one at a time (-c 1 -m 1)"
done
