#!/usr/bin/env bash
# Installs what is missing, builds and runs every test (unit and integration).
#   scripts/test.sh              the normal build, in build/
#   scripts/test.sh --sanitize   an ASan+UBSan build, in build-sanitize/
# Extra arguments after the options go to ctest, e.g. scripts/test.sh -L unit.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cmake_args=()
export BUILD_DIR=${BUILD_DIR:-$top/build}
if [[ "${1:-}" == "--sanitize" ]]; then
	shift
	export BUILD_DIR=$top/build-sanitize
	cmake_args+=(-DSCEPD_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
	export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
	export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
	export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$top/tests/lsan.supp}
fi
"$top/scripts/build.sh" "${cmake_args[@]}"
cd "$BUILD_DIR"
ctest --output-on-failure --parallel 2 "$@"
