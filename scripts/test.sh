#!/usr/bin/env bash
# The test command: installs what is missing (scripts/setup.sh), then builds every module (the native library via
# CMake inside Maven) and runs all tests on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
source scripts/java-home.sh
fovea_use_java
echo "test: JAVA_HOME=$JAVA_HOME"
mvn -B -ntp verify
