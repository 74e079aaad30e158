#!/usr/bin/env bash
# no_symbols.sh BINARY PREFIX - fails when BINARY names any symbol starting with PREFIX
# (defined or undefined): a layer that must not link some code. Run by ctest:
#   test_scepctl_no_engine    scepctl, ENGINE_: it reads the store and secrets, never
#                             keys (keys.c, keys_token.c, libp11)
#   test_scep_enrol_no_curl   test_scep_enrol, curl_: the SCEP state machine reaches
#                             the challenge webhook only through the validator it is
#                             given, and links no HTTP client
set -euo pipefail
bin=${1:?usage: no_symbols.sh BINARY PREFIX}
prefix=${2:?usage: no_symbols.sh BINARY PREFIX}
syms=$(nm "$bin") || { echo "nm $bin failed" >&2; exit 1; }
if found=$(grep -E "[[:space:]]_?${prefix}" <<<"$syms"); then
	echo "$bin has $prefix symbols:" >&2
	echo "$found" >&2
	exit 1
fi
echo "$bin: no $prefix symbol"
