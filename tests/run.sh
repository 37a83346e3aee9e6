#!/usr/bin/env bash
# The cross-language client tests, against a real server: generates Python stubs from proto/ with grpc_tools, starts
# `fovea serve` on the server tests' model repository on a free TCP port and on a Unix socket, with shared memory on
# (by default for Unix socket peers with the server's uid only: the Python tests use it over the socket and check that
# TCP is refused), then runs
#   - the Python tests of the HTTP/REST binding (tests/python/test_oip_http.py, standard library only) and the
#     README's curl examples (tests/http/curl.sh) against the port it prints for --http-port 0,
#   - the Python tests (tests/python: fovea.v1 and the Open Inference Protocol) over TCP and over the Unix socket,
#   - the Node.js tests (tests/node: both APIs over both transports; @grpc/grpc-js from npm),
#   - the deploy/ checks (tests/python/test_deploy.py: YAML parses, flags exist),
#   - a syntax check of scripts/gpu-check.sh and its pieces (bash -n, Python's parser, --help),
# then starts a second server with TLS (a throw-away CA made with openssl) and a bearer token and runs
# tests/python/test_security.py against it, and stops both servers with SIGTERM. Needs server/target/fovea.jar
# (mvn install), openssl, Debian's python3-grpcio, python3-grpc-tools, python3-pil, python3-yaml, and Node.js with
# npm (scripts/setup.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/java-home.sh
fovea_use_java

work=$(mktemp -d)
server_pid=
secure_pid=
cleanup() {
  for pid in $server_pid $secure_pid; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      wait "$pid" || true
    fi
  done
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/stubs"
/usr/bin/python3 -m grpc_tools.protoc -I proto --python_out="$work/stubs" --grpc_python_out="$work/stubs" \
  proto/fovea/v1/*.proto proto/inference/*.proto
touch "$work/stubs/fovea/__init__.py" "$work/stubs/fovea/v1/__init__.py" "$work/stubs/inference/__init__.py"

socket="$work/fovea.sock"
java --enable-native-access=ALL-UNNAMED -jar server/target/fovea.jar serve \
  --model-repository server/src/test/resources/repository --host 127.0.0.1 --port 0 --metrics-port 0 --threads 2 \
  --http-port 0 --uds "$socket" --allow-shared-memory >"$work/server.log" 2>&1 &
server_pid=$!
port=
for _ in $(seq 600); do
  port=$(sed -n 's/^fovea: serving .* on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/server.log")
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log"; echo "client tests: server exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { cat "$work/server.log"; echo "client tests: server did not start" >&2; exit 1; }
http_port=$(sed -n 's/^fovea: HTTP on http:\/\/127.0.0.1:\([0-9]*\)$/\1/p' "$work/server.log")
[ -n "$http_port" ] || { cat "$work/server.log"; echo "client tests: no HTTP port printed" >&2; exit 1; }

echo "client tests: Python over HTTP/REST against 127.0.0.1:$http_port"
FOVEA_HTTP="127.0.0.1:$http_port" FOVEA_SHM_DIR=/dev/shm /usr/bin/python3 -m unittest -v tests/python/test_oip_http.py
bash tests/http/curl.sh "127.0.0.1:$http_port"

for target in "127.0.0.1:$port" "unix://$socket"; do
  echo "client tests: Python against $target"
  FOVEA_TARGET="$target" FOVEA_STUBS="$work/stubs" FOVEA_SHM_DIR=/dev/shm \
    /usr/bin/python3 -m unittest -v tests/python/test_fovea_grpc.py tests/python/test_oip_grpc.py \
      tests/python/test_oip_triton_parity.py
done
echo "client tests: Node.js against 127.0.0.1:$port and unix://$socket"
FOVEA_TARGET="127.0.0.1:$port" FOVEA_UDS_TARGET="unix://$socket" bash tests/node/run.sh
echo "client tests: deploy/ manifests"
/usr/bin/python3 -m unittest -v tests/python/test_deploy.py
echo "client tests: scripts/gpu-check.sh parses (the check itself runs on demand, on a GPU machine)"
for script in scripts/gpu-check.sh scripts/gpu/*.sh; do bash -n "$script"; done
/usr/bin/python3 -c 'import ast, sys; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]' scripts/gpu/*.py
bash scripts/gpu-check.sh --help >/dev/null

echo "client tests: Python against a server with TLS and a bearer token"
mkdir "$work/pki"
(
  cd "$work/pki"
  ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 -subj /CN=fovea-test-ca
  openssl req "${ec[@]}" -keyout server.key -out server.csr -subj /CN=localhost
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext
  openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
    -extfile server.ext
) >"$work/pki/openssl.log" 2>&1 || { cat "$work/pki/openssl.log"; exit 1; }
(umask 077 && head -c 24 /dev/urandom | base64 | tr '+/' '-_' >"$work/tokens")
java --enable-native-access=ALL-UNNAMED -jar server/target/fovea.jar serve \
  --model-repository server/src/test/resources/repository --host 127.0.0.1 --port 0 --metrics-port 0 --threads 2 \
  --http-port -1 --tls-cert "$work/pki/server.pem" --tls-key "$work/pki/server.key" --auth-token-file "$work/tokens" \
  >"$work/secure.log" 2>&1 &
secure_pid=$!
secure_port=
for _ in $(seq 600); do
  secure_port=$(sed -n 's/^fovea: serving .* on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/secure.log")
  [ -n "$secure_port" ] && break
  kill -0 "$secure_pid" 2>/dev/null || { cat "$work/secure.log"; echo "client tests: TLS server exited" >&2; exit 1; }
  sleep 0.1
done
[ -n "$secure_port" ] || { cat "$work/secure.log"; echo "client tests: TLS server did not start" >&2; exit 1; }
metrics_url=$(sed -n 's/^fovea: metrics on \(https:.*\)$/\1/p' "$work/secure.log")
if grep -qF -- "$(cat "$work/tokens")" "$work/secure.log"; then
  echo "client tests: the server logged its token" >&2
  exit 1
fi
FOVEA_SECURE_TARGET="127.0.0.1:$secure_port" FOVEA_CA="$work/pki/ca.pem" FOVEA_TOKEN_FILE="$work/tokens" \
  FOVEA_METRICS_URL="$metrics_url" FOVEA_STUBS="$work/stubs" \
  /usr/bin/python3 -m unittest -v tests/python/test_security.py
