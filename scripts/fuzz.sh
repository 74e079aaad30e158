#!/usr/bin/env bash
# Builds every fuzz target with clang's libFuzzer + ASan + UBSan and runs each for
# SECONDS (default 60) on its corpus. New crashers land in tests/fuzz/corpus/<parser>/
# as crash-*: commit them, the ctest replay runs them forever after.
#   scripts/fuzz.sh [SECONDS]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
"$top/scripts/deps.sh"
if ! command -v clang >/dev/null || ! dpkg-query -W libclang-rt-14-dev >/dev/null 2>&1; then
	if [[ $(id -u) -ne 0 ]]; then
		echo "fuzz.sh: needs clang; run as root: apt-get install -y clang libclang-rt-14-dev" >&2
		exit 1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends clang libclang-rt-14-dev
fi
build=$top/build-fuzz
mkdir -p "$build"
cflags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-D_GNU_SOURCE -I"$top/include")
export ASAN_OPTIONS=detect_leaks=1 LSAN_OPTIONS=suppressions=$top/tests/lsan.supp
export UBSAN_OPTIONS=halt_on_error=1
# The sources of each target: what its parser's layer is made of (CMakeLists.txt has
# the libraries), globs relative to the top of the tree.
config_sources="src/config*.c src/addr_allow.c src/fileio.c src/admin_tokens.c src/encoding.c"
declare -A sources=(
	[config]="$config_sources"
	[csr]="src/csr_body.c src/p7_certs.c src/signer.c src/policy.c $config_sources"
	[scep_msg]="src/scep_msg.c src/p7_certs.c tests/tools/scep_build.c"
	[scep_query]="src/scep_query.c src/encoding.c src/p7_certs.c src/scep_msg.c"
	[ocsp_req]="src/ocsp_resp.c src/encoding.c"
	[basic_auth]="src/basic_auth.c"
	[admin_json]="src/admin_json.c"
	[webhook_resp]="src/webhook.c"
	[webhook_req]="src/webhook.c"
)
declare -A libs=(
	[config]="$(pkg-config --libs libconfig libcrypto)"
	[csr]="$(pkg-config --libs libconfig libcrypto)"
	[scep_msg]="$(pkg-config --libs libcrypto)"
	[scep_query]="$(pkg-config --libs libmicrohttpd libcrypto)"
	[ocsp_req]="$(pkg-config --libs libcrypto)"
	[basic_auth]=""
	[admin_json]="$(pkg-config --libs jansson)"
	[webhook_resp]="$(pkg-config --libs libcurl jansson libcrypto)"
	[webhook_req]="$(pkg-config --libs libcurl jansson libcrypto)"
)
cd "$top"
for parser in "${!sources[@]}"; do
	srcs=()
	for s in ${sources[$parser]}; do srcs+=("$top/$s"); done
	# shellcheck disable=SC2086
	clang "${cflags[@]}" -o "$build/fuzz_$parser" "$top/tests/fuzz/fuzz_$parser.c" \
		"${srcs[@]}" ${libs[$parser]}
	work=$build/corpus-$parser
	mkdir -p "$work"
	echo "fuzzing $parser for $seconds s" >&2
	(cd "$top/tests/fuzz/corpus/$parser" &&
		"$build/fuzz_$parser" -max_total_time="$seconds" -max_len=8192 \
			-artifact_prefix="$top/tests/fuzz/corpus/$parser/" \
			"$work" "$top/tests/fuzz/corpus/$parser")
done
