#!/usr/bin/env bash
# Builds scepd into build/ (or $BUILD_DIR). Extra arguments go to cmake's configure
# step, e.g. scripts/build.sh -DSCEPD_SANITIZE=ON. Developer builds use -Werror.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
build=${BUILD_DIR:-$top/build}
cmake -S "$top" -B "$build" -DSCEPD_WERROR=ON "$@" >/dev/null
cmake --build "$build" --parallel "$(nproc)"
