#!/usr/bin/env bash
# Builds libfovea_torch.so with plain g++ against the torch of a Python, for the device check: on the device
# machine a pip wheel with CUDA (headers and libraries inside the wheel), here Debian's python3-torch, which ships
# no headers, so Debian's libtorch-dev is used. This is the build that ran on the device (16 s, 2026-11-30); unlike
# native-bindings/native/build.sh it does not go through CMake's CUDA toolkit discovery. The bundle's libturbojpeg
# and libpng are linked by path with an rpath to them.
#
#   native-build.sh PYTHON BUNDLE_DIR OUTPUT_LIBRARY
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 PYTHON BUNDLE_DIR OUTPUT_LIBRARY" >&2; exit 2; }
py=$1 bundle=$(cd "$2" && pwd) out=$3
native=$(cd "$(dirname "$0")/../../native-bindings/native" && pwd)
torch=$("$py" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
abi=$("$py" -c 'import torch; print(int(torch._C._GLIBCXX_USE_CXX11_ABI))')
if [ -f "$torch/include/torch/script.h" ]; then
  includes=(-isystem "$torch/include" -isystem "$torch/include/torch/csrc/api/include")
  libdirs=(-L"$torch/lib" -Wl,-rpath,"$torch/lib")
else
  includes=(-isystem /usr/include/torch/csrc/api/include)
  libdirs=()
fi
# Without --no-as-needed the linker drops libtorch_cuda (nothing in our code names its symbols) and libtorch then
# has no CUDA backend registered: "cuda:0" fails at run time.
torch_libs=(-ltorch -lc10 -Wl,--no-as-needed -ltorch_cpu)
if [ -f "$torch/lib/libtorch_cuda.so" ]; then
  torch_libs+=(-ltorch_cuda -lc10_cuda)
fi
torch_libs+=(-Wl,--as-needed)
echo "native build: torch $("$py" -c 'import torch; print(torch.__version__)') at $torch, C++11 ABI $abi," \
  "headers ${includes[*]}, libraries ${torch_libs[*]}"

flags=(-O3 -DNDEBUG -fPIC -std=gnu++17 "-D_GLIBCXX_USE_CXX11_ABI=$abi" -DFOVEA_HAVE_TURBOJPEG -DFOVEA_HAVE_PNG
  -Wall -Wextra -Wno-unused-parameter -I"$native/include" -I"$bundle/include" "${includes[@]}")
objects=$(mktemp -d)
trap 'rm -rf "$objects"' EXIT
pids=()
for source in "$native"/src/*.cpp; do
  g++ "${flags[@]}" -c "$source" -o "$objects/$(basename "$source" .cpp).o" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=1; done
[ $status -eq 0 ] || { echo "native build: compiling failed" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
g++ -shared -fPIC -o "$out" "$objects"/*.o -Wl,--version-script="$native/src/fovea_torch.map" -Wl,--no-undefined \
  "${libdirs[@]}" -Wl,-rpath,"$bundle/lib" "$bundle/lib/libturbojpeg.so.0" "$bundle/lib/libpng16.so.16" \
  "${torch_libs[@]}"
ldd "$out" | grep -E "torch|c10|turbo|png|not found" || true
