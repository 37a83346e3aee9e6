#!/usr/bin/env bash
# Configures and builds libfovea_torch.so with CMake. Maven runs this during native-bindings' generate-resources
# phase; it can also be run by hand.
#
#   build.sh BUILD_DIR LIBRARY_OUTPUT_DIR [extra cmake -D options...]
#
# libtorch is looked up in this order, the first that has a TorchConfig.cmake wins:
#   1. Torch_DIR, CMAKE_PREFIX_PATH or LIBTORCH (an unpacked libtorch folder) from the environment;
#   2. a pip-installed torch: torch.utils.cmake_prefix_path of $FOVEA_PYTHON, python3 or /usr/bin/python3;
#   3. Debian's libtorch-dev: /usr/lib/x86_64-linux-gnu/cmake.
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 BUILD_DIR LIBRARY_OUTPUT_DIR [cmake -D options...]" >&2
  exit 2
fi
build_dir=$1
output_dir=$2
shift 2
source_dir=$(cd "$(dirname "$0")" && pwd)

has_torch_config() {
  [ -f "$1/Torch/TorchConfig.cmake" ] || [ -f "$1/TorchConfig.cmake" ]
}

find_prefix() {
  if [ -n "${Torch_DIR:-}" ]; then
    echo "$Torch_DIR"; return
  fi
  if [ -n "${CMAKE_PREFIX_PATH:-}" ]; then
    echo "$CMAKE_PREFIX_PATH"; return
  fi
  if [ -n "${LIBTORCH:-}" ]; then
    echo "$LIBTORCH"; return
  fi
  local python prefix
  for python in ${FOVEA_PYTHON:-} python3 /usr/bin/python3; do
    command -v "$python" >/dev/null 2>&1 || continue
    prefix=$("$python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null) || continue
    if has_torch_config "$prefix"; then
      echo "$prefix"; return
    fi
  done
  if has_torch_config /usr/lib/x86_64-linux-gnu/cmake; then
    echo /usr/lib/x86_64-linux-gnu/cmake; return
  fi
  return 1
}

if ! prefix=$(find_prefix); then
  cat >&2 <<'EOF'
fovea native build: libtorch not found.
  Set Torch_DIR, CMAKE_PREFIX_PATH or LIBTORCH, install torch with pip, or on Debian/Ubuntu run
  `sudo apt-get install libtorch-dev` (scripts/setup.sh does this).
EOF
  exit 1
fi

cmake_args=(-S "$source_dir" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release "-DFOVEA_LIBRARY_OUTPUT_DIR=$output_dir")
if [ -n "${Torch_DIR:-}" ]; then
  cmake_args+=("-DTorch_DIR=$Torch_DIR")
  config_dir=$Torch_DIR
else
  cmake_args+=("-DCMAKE_PREFIX_PATH=$prefix")
  config_dir=$prefix/Torch
  [ -f "$config_dir/TorchConfig.cmake" ] || config_dir=$prefix
fi
# TorchConfig.cmake looks Caffe2's config, libtorch and libc10 up in the system's folders before its own, so on a
# machine that also has Debian's libtorch a pip or unpacked libtorch would compile with its headers and link Debian's
# libraries. Name its own explicitly (TorchConfig sits in <install>/share/cmake/Torch).
torch_install=$(cd "$config_dir/../../.." 2>/dev/null && pwd)
if [ "$torch_install" != /usr/lib ] && [ -f "$torch_install/lib/libtorch.so" ]; then
  cmake_args+=("-DCaffe2_DIR=$torch_install/share/cmake/Caffe2" "-DTORCH_LIBRARY=$torch_install/lib/libtorch.so"
    "-Dc10_LIBRARY=$torch_install/lib/libc10.so")
fi
echo "fovea native build: libtorch from $prefix"
cmake "${cmake_args[@]}" "$@"
cmake --build "$build_dir" --parallel "$(nproc)"
