#!/usr/bin/env bash
# Installs what building and running Fovea needs on Debian/Ubuntu, and only what is missing. Run as root (or it
# uses sudo). Prints each thing it does.
#
#   scripts/setup.sh            build tools, libtorch, OpenBLAS (OpenMP), image codecs, and what the cross-language
#                               tests use (Python gRPC and YAML packages, Node.js and npm): enough to build and test
#   scripts/setup.sh --models   also python3-torch and python3-torchvision, to create demo and benchmark models
#
# A JDK >= 22 must exist (Temurin 25 in /usr/lib/jvm here); on releases whose apt has openjdk-25 it is installed.
set -euo pipefail

want_models=false
[ "${1:-}" = "--models" ] && want_models=true

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

packages=(cmake g++ make maven libtorch-dev libopenblas0-openmp libturbojpeg0-dev libpng-dev
  python3-grpcio python3-grpc-tools python3-pil python3-yaml)
# The Node.js client tests need node and npm; a node from elsewhere (e.g. NodeSource, which bundles npm) is kept.
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)
$want_models && packages+=(python3-torch python3-torchvision)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

source "$(dirname "$0")/java-home.sh"
if ! fovea_java_home >/dev/null; then
  missing+=(openjdk-25-jdk-headless)
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing with apt-get: ${missing[*]}"
  as_root apt-get update -q
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "${missing[@]}" || {
    echo "setup: apt-get could not install ${missing[*]}." >&2
    echo "setup: Fovea needs JDK >= 22 (e.g. Temurin 25 under /usr/lib/jvm, or set JAVA_HOME)." >&2
    exit 1
  }
else
  echo "setup: all packages present (${packages[*]})"
fi

# libtorch runs its matrix work on whatever libblas.so.3 / libopenblas.so.0 resolve to. The pthread build of OpenBLAS,
# which other packages pull in and which wins Debian's alternatives by priority, ignores libtorch's thread count and
# fights its OpenMP pool; the reference BLAS is ~40x slower. Point all three at the OpenMP build.
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
openmp_dir=/usr/lib/$multiarch/openblas-openmp
for library in libblas.so.3 liblapack.so.3 libopenblas.so.0; do
  alternative="$library-$multiarch"
  target="$openmp_dir/$library"
  [ -e "$target" ] || continue
  current=$(update-alternatives --query "$alternative" 2>/dev/null | sed -n 's/^Value: //p')
  if [ "$current" != "$target" ]; then
    echo "setup: update-alternatives --set $alternative $target (was: ${current:-unset})"
    as_root update-alternatives --set "$alternative" "$target"
  fi
done
echo "setup: BLAS for libtorch: $(readlink -f "/usr/lib/$multiarch/libblas.so.3")"
echo "setup: JDK: $(fovea_java_home)"
