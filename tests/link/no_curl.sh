#!/usr/bin/env bash
# no_curl.sh BINARY - fails when BINARY names any curl_ symbol (defined or undefined):
# the SCEP state machine (scepd_issuer) reaches the challenge webhook only through the
# validator it is given, and links no HTTP client. Run by ctest as
# test_scep_enrol_no_curl (label unit) on test_scep_enrol.
set -euo pipefail
bin=${1:?usage: no_curl.sh BINARY}
syms=$(nm "$bin") || { echo "nm $bin failed" >&2; exit 1; }
if found=$(grep -E '[[:space:]]_?curl_' <<<"$syms"); then
	echo "$bin links libcurl:" >&2
	echo "$found" >&2
	exit 1
fi
echo "$bin: no curl_ symbol"
