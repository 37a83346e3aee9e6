#!/usr/bin/env bash
# The test command: installs what is missing (scripts/setup.sh), builds every module (the native library via CMake
# inside Maven) and runs all tests on the CPU, then the Python client tests against a real server.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
source scripts/java-home.sh
fovea_use_java
echo "test: JAVA_HOME=$JAVA_HOME"
mvn -B -ntp install
bash tests/run.sh
