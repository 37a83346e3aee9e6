#!/usr/bin/env bash
# Phase "bundle" of scripts/gpu-check.sh: writes the ignored folder .gpu/ that the device run needs besides the
# working tree, which travels anyway. The device machine has no JDK, Maven, apt or network, and a call carries 64 MiB
# in all (working tree included), so .gpu/ holds only what is built or installed here:
#   jre.tar.xz         a jlink JRE (the modules fovea serve, fovea-bench and the JUnit console launcher use), libjvm
#                      stripped, xz-packed (~19 MB instead of ~40 MB unpacked)
#   fovea.jar          the server's fat jar
#   bench-extra.jar    the benchmark classes fovea.jar lacks (the benchmarks' fat jar repeats the server's deps)
#   junit-console.jar  JUnit's console launcher, and native-tests/ (native-bindings' compiled tests and fixtures):
#                      the "native GPU checks" run those test classes against the device's libtorch
#   lib/, include/     Debian's libturbojpeg and libpng with their headers (the device has neither)
#   stubs/             Python stubs of proto/fovea/v1 for the comparison server and the parity check
#   bundle.txt         the commit and date it was made from
# Run from the project root; builds the jars first if they are missing or older than the sources.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/java-home.sh
fovea_use_java
G=.gpu
JUNIT_VERSION=6.1.3       # the project's junit.version
PROTOC_VERSION=3.25.5     # see the stubs below

if [ ! -f server/target/fovea.jar ] || [ ! -f benchmarks/target/fovea-benchmarks.jar ] \
    || [ ! -d native-bindings/target/test-classes ] || [ -n "$(find proto native-bindings server benchmarks pom.xml \
      -newer server/target/fovea.jar -type f -not -path '*/target/*' -not -path '*/.cifuzz-corpus/*' -not -name '*.py' \
      -not -name '*.md' -print -quit)" ]
then
  echo "gpu-check bundle: building (mvn -DskipTests package)"
  mvn -B -ntp -q -DskipTests package
fi

# A jar from Maven Central through the local repository (fetched once).
m2_jar() { # GROUP ARTIFACT VERSION [CLASSIFIER:TYPE]
  local group=$1 artifact=$2 version=$3 suffix=${4:-}
  local file=~/.m2/repository/${group//.//}/$artifact/$version/$artifact-$version
  if [ -n "$suffix" ]; then file+="-${suffix%%:*}.${suffix##*:}"; else file+=.jar; fi
  local coordinates=$group:$artifact:$version${suffix:+:${suffix##*:}:${suffix%%:*}}
  [ -f "$file" ] || mvn -q -B dependency:get "-Dartifact=$coordinates" -Dtransitive=false >&2
  echo "$file"
}

rm -rf "$G" && mkdir -p "$G/lib" "$G/include" "$G/stubs"
# java.desktop (AWT, for fovea-bench --chart) alone would add ~18 MB: the device run asks for no charts.
jlink --add-modules java.base,java.management,java.naming,jdk.unsupported,java.logging,jdk.httpserver \
  --strip-debug --no-header-files --no-man-pages --compress=zip-9 --output "$G/jre"
chmod u+w "$G"/jre/lib/server/libjvm.so "$G"/jre/lib/*.so
strip --strip-unneeded "$G"/jre/lib/server/libjvm.so "$G"/jre/lib/*.so
tar -cf - -C "$G" jre | xz -T0 -6 >"$G/jre.tar.xz"
rm -rf "$G/jre"

cp server/target/fovea.jar "$G/fovea.jar"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unzip -Z1 server/target/fovea.jar | sort >"$tmp/server"
unzip -Z1 benchmarks/target/fovea-benchmarks.jar | sort >"$tmp/bench"
mkdir "$tmp/x"
unzip -q benchmarks/target/fovea-benchmarks.jar -d "$tmp/x"
(cd "$tmp/x" && comm -13 ../server ../bench | grep -v '/$' | zip -q ../bench-extra.jar -@)
cp "$tmp/bench-extra.jar" "$G/"

cp "$(m2_jar org.junit.platform junit-platform-console-standalone "$JUNIT_VERSION")" "$G/junit-console.jar"
cp -r native-bindings/target/test-classes "$G/native-tests"

cp /usr/include/turbojpeg.h /usr/include/png.h /usr/include/pngconf.h /usr/include/pnglibconf.h "$G/include/"
cp -L /usr/lib/x86_64-linux-gnu/libturbojpeg.so.0 /usr/lib/x86_64-linux-gnu/libpng16.so.16 "$G/lib/"

# _pb2 modules from protoc 3.25.5: builder-style code without a runtime version check, which loads on Debian's
# protobuf 4.21 here and on the device's newer runtime (Debian's grpc_tools output is refused there; protoc 4.33's
# demands a runtime >= 6.33). _pb2_grpc from grpc_tools is plain Python for any grpcio.
protoc=$(m2_jar com.google.protobuf protoc "$PROTOC_VERSION" linux-x86_64:exe)
chmod +x "$protoc"
"$protoc" -I proto -I /usr/include --python_out="$G/stubs" proto/fovea/v1/*.proto
/usr/bin/python3 -m grpc_tools.protoc -I proto --grpc_python_out="$G/stubs" proto/fovea/v1/*.proto
touch "$G/stubs/fovea/__init__.py" "$G/stubs/fovea/v1/__init__.py"

{ echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo ' (with uncommitted changes)')"
  echo "made $(date -u +%FT%TZ)"; } >"$G/bundle.txt"
bundle=$(du -sb "$G" | cut -f1)
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 du -cb 2>/dev/null | tail -1 | cut -f1)
echo "gpu-check bundle: $G $((bundle / 1000)) kB + working tree $((tree / 1000)) kB" \
  "= $(((bundle + tree) / 1048576)) MiB of the 64 MiB a device call carries"
[ $((bundle + tree)) -lt $((64 * 1048576)) ] || { echo "gpu-check bundle: too big for one device call" >&2; exit 1; }
