#!/usr/bin/env bash
# Regenerates the FFM bindings for native/include/fovea_torch.h with jextract. The output is committed under
# src/main/java/dev/fovea/torch/internal/bindings and never edited by hand; CI compiles it and never needs jextract.
#
# jextract comes from PATH or $JEXTRACT_HOME/bin (DEVELOPERS.md says how to get one here). Flags:
#   --target-package      the one package the generated classes live in;
#   --include-*           only the declarations of our header (the list comes from jextract's own --dump-includes,
#                         filtered to declarations made in fovea_torch.h), so stdint/stddef typedefs stay out;
#   no -l / --library     on purpose: the library's path is only known at run time (inside the jar, a build folder or
#                         -Dfovea.native.library). dev.fovea.torch.NativeLibrary loads it with System.load, and the
#                         generated SymbolLookup.loaderLookup() then resolves every symbol from it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
header="$here/native/include/fovea_torch.h"
output="$here/src/main/java"
package=dev.fovea.torch.internal.bindings

if [ -n "${JEXTRACT_HOME:-}" ] && [ -x "$JEXTRACT_HOME/bin/jextract" ]; then
  jextract="$JEXTRACT_HOME/bin/jextract"
elif command -v jextract >/dev/null 2>&1; then
  jextract=$(command -v jextract)
else
  echo "regenerate-bindings: jextract not found: put it on PATH or set JEXTRACT_HOME (see DEVELOPERS.md)." >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$jextract" --dump-includes "$work/all-includes.txt" "$header" >/dev/null
# Lines look like `--include-function fovea_module_load    # header: /abs/path/fovea_torch.h`.
grep -E "# header: .*/fovea_torch\.h\$" "$work/all-includes.txt" | sed -E 's/[[:space:]]*#.*$//' >"$work/includes.txt"
if [ ! -s "$work/includes.txt" ]; then
  echo "regenerate-bindings: jextract found no declarations in $header" >&2
  exit 1
fi

rm -rf "$output/${package//.//}"
"$jextract" --output "$output" --target-package "$package" "@$work/includes.txt" "$header"
echo "regenerate-bindings: wrote $(find "$output/${package//.//}" -name '*.java' | wc -l) files into $output/${package//.//}"
