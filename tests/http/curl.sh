#!/usr/bin/env bash
# Runs the curl examples of the README's "HTTP/REST" section exactly as written (the ```sh blocks of that section),
# against a running server on the test repository, so the README's examples are tested. Usage:
#   tests/http/curl.sh HOST:PORT
# The README says localhost:8000; this points those commands at HOST:PORT, makes curl fail on an HTTP error status
# (--fail-with-body), and runs them in a temporary folder holding picture.png (a test fixture).
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${1:?usage: tests/http/curl.sh HOST:PORT}

examples=$(awk '
  /^### HTTP\/REST/ { in_section = 1; next }
  in_section && /^##/ { exit }
  in_section && /^```sh$/ { in_block = 1; next }
  in_section && in_block && /^```$/ { in_block = 0; next }
  in_section && in_block { print }
' README.md)
[ -n "$examples" ] || { echo "curl.sh: no sh blocks in the README's HTTP/REST section" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp native-bindings/src/test/resources/fixtures/cat.png "$work/picture.png"
printf '%s\n' "$examples" | sed "s/localhost:8000/$target/g" > "$work/examples.sh"

echo "curl.sh: the README's HTTP/REST examples against $target"
cd "$work"
bash -c 'set -euo pipefail
curl() { command curl --fail-with-body --show-error "$@"; echo; }
source ./examples.sh' > output.txt || { cat output.txt; echo "curl.sh: an example failed" >&2; exit 1; }
cat output.txt
grep -q '"name":"fovea"' output.txt
grep -q '"data":\[10.0,26.0\]' output.txt
grep -q '"datatype":"BYTES","shape":\[1,3\]' output.txt
echo "curl.sh: all examples answered"
