#!/usr/bin/env bash
# no_engine.sh BINARY - fails when BINARY names any ENGINE_ symbol (defined or
# undefined): scepctl reads the store and secrets, and must link no ENGINE code
# (keys.c, keys_token.c, libp11). Run by ctest as test_scepctl_no_engine (label unit).
set -euo pipefail
bin=${1:?usage: no_engine.sh BINARY}
syms=$(nm "$bin") || { echo "nm $bin failed" >&2; exit 1; }
if found=$(grep -E '[[:space:]]_?ENGINE_' <<<"$syms"); then
	echo "$bin links ENGINE code:" >&2
	echo "$found" >&2
	exit 1
fi
echo "$bin: no ENGINE_ symbol"
