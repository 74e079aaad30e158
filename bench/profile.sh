#!/usr/bin/env bash
# bench/profile.sh - where a scepd worker spends its time under SCEP and /csr load.
#
#   bench/profile.sh [scep|csr|csr-hsm ...]     (default: scep csr)
#
# Uses the release build of bench/run.sh ($BUILD_DIR, default build-bench/; run
# bench/run.sh --quick once first, or this script builds it), an RSA-2048 CA key in a
# file (csr-hsm: in a SoftHSM token), 2 workers, no RA (the CA is the SCEP recipient),
# the store on disk. For each load: perf record -g on ONE worker for
# $PROFILE_SECONDS (default 8) seconds while scep_load drives the server, then the
# top symbols by self time, the shared objects, and the scepd functions with their
# callees included (--call-graph dwarf, so that the stacks go through libcrypto,
# which has no frame pointers), and the steps of a request: each sample counted for
# the innermost scepd function on its stack and the library function it called
# there ("signer_issue -> X509_sign"), as a share and in ms of server CPU per request
# (the load's server_cpu_ms_per_req times the share). Reports go to
# $BUILD_DIR/profile/LOAD.*.txt, the recording to LOAD.perf.data (perf report -i
# FILE -G: who calls what).
# Needs perf (Debian: linux-perf). Bounded: one load run of about PROFILE_SECONDS.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
loads=("$@")
[[ ${#loads[@]} -gt 0 ]] || loads=(scep csr)
"$top/scripts/deps.sh" linux-perf # before the network namespace, which has no mirror
if [[ -z "${BENCH_IN_NETNS:-}" ]] && unshare -n true 2>/dev/null; then
	BENCH_IN_NETNS=1 exec unshare -n -- bash "$0" "${loads[@]}"
fi
[[ -n "${BENCH_IN_NETNS:-}" ]] && ip link set lo up

BUILD_DIR=${BUILD_DIR:-$top/build-bench}
SECS=${PROFILE_SECONDS:-8}
cmake -S "$top" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DSCEPD_TESTS=OFF -DSCEPD_BENCH=ON \
	-DSCEPD_WERROR=ON >/dev/null
cmake --build "$BUILD_DIR" --parallel "$(nproc)" --target scepd scep_load >/dev/null
LOAD=$BUILD_DIR/bench/scep_load
OUTDIR=$BUILD_DIR/profile
mkdir -p "$OUTDIR" "$BUILD_DIR/bench-cache"

TMP=$(mktemp -d /tmp/scepd-profile.XXXXXX)
PID=
cleanup() {
	local rc=$?
	if [[ -n "$PID" ]]; then
		kill -TERM "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	fi
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT
fail() {
	echo "profile.sh: $*" >&2
	exit 1
}
skip() { fail "$*"; }

# perf script's samples on stdin -> "share  ms/request  scepd_function -> callee",
# most first. A frame is "ADDR SYMBOL+OFF (DSO)", innermost first; a sample whose
# stack could not be followed into scepd counts for its innermost frame.
steps() { # MS_PER_REQUEST
	awk -v ms="$1" '
	function flush(i, j, callee) {
		if (n == 0)
			return
		total++
		for (i = 1; i <= n; i++)
			if (dso[i] ~ /\/scepd$/ && sym[i] != "[unknown]")
				break
		if (i > n) {
			count["(outside scepd) " (sym[1] == "[unknown]" ? dso[1] : sym[1])]++
		} else {
			callee = "(itself)"
			for (j = i - 1; j >= 1; j--)
				if (sym[j] != "[unknown]") {
					callee = sym[j]
					break
				}
			count[sym[i] " -> " callee]++
		}
		n = 0
	}
	/^[^ \t]/ || /^$/ { flush(); next }
	{
		line = $0
		sub(/^[ \t]*[0-9a-f]+ /, "", line)
		d = line
		sub(/^.* \(/, "", d)
		sub(/\)$/, "", d)
		s = line
		sub(/ \(.*$/, "", s)
		sub(/\+0x[0-9a-f]+$/, "", s)
		n++
		sym[n] = s
		dso[n] = d
	}
	END {
		flush()
		for (k in count)
			printf "%5.1f%%  %6.3f ms  %s\n", 100 * count[k] / total, ms * count[k] / total, k
	}' | sort -rn
}

port=18080
[[ -n "${BENCH_IN_NETNS:-}" ]] || port=$((20000 + RANDOM % 10000))
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/ca.key" -out "$TMP/ca.pem" \
	-subj "/CN=scepd profile CA" -days 30 -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment 2>/dev/null

offset=$((RANDOM * 100))
for load in "${loads[@]}"; do
	cakey=$TMP/ca.key cacert=$TMP/ca.pem engine=
	if [[ $load == csr-hsm ]]; then
		# shellcheck source=../tests/integration/lib_hsm.sh
		. "$top/tests/integration/lib_hsm.sh"
		[[ -n "$HSM_LABEL" ]] || {
			make_token scepd-profile
			make_token_ca rsa-ca rsa:2048
		}
		cakey=$(token_key_uri rsa-ca) cacert=$HSM_DIR/rsa-ca.pem engine=$(engine_config)
	fi
	cat >"$TMP/scepd.conf" <<CONF
server: { listen = ["127.0.0.1:$port"]; workers = 2; };
$engine
ca: { certificate = "$cacert"; key = "$cakey"; };
csr: { auth = "none"; };
storage: { uri = "sqlite:$TMP/$load.db"; };
log: { level = "info"; };
CONF
	"$BUILD_DIR/scepd" -c "$TMP/scepd.conf" -f >"$TMP/scepd.log" 2>&1 &
	PID=$!
	"$LOAD" ready --url "http://127.0.0.1:$port/healthz" >/dev/null || fail "scepd not ready"
	worker=$(pgrep -P "$PID" | head -n 1)
	case $load in
	scep) args=(scep --url "http://127.0.0.1:$port/scep" -n 9000) ;;
	*) args=(csr --url "http://127.0.0.1:$port/csr" --ca "$cacert" --key-type mixed -n 25000) ;;
	esac
	# pre-building takes a while: start perf once the client says the clock runs
	"$LOAD" "${args[@]}" -c 8 -d "$((SECS + 2))" --primes "$BUILD_DIR/bench-cache/primes.hex" \
		--key-offset "$offset" --cn-prefix "profile-$load" --pid "$PID" \
		--start-file "$TMP/started" >"$TMP/load.out" 2>"$TMP/load.err" &
	lpid=$!
	offset=$((offset + 40000))
	for _ in $(seq 1 600); do
		[[ -e "$TMP/started" ]] && break
		sleep 0.1
	done
	sleep 1
	perf record -q --call-graph dwarf,16384 -F 250 -p "$worker" -o "$TMP/perf.data" -- \
		sleep "$SECS" 2>/dev/null
	wait "$lpid" || true
	cat "$TMP/load.out" >"$OUTDIR/$load.load.txt"
	cp "$TMP/perf.data" "$OUTDIR/$load.perf.data" # for perf report -i, by hand
	{
		echo "# $load: perf record on worker $worker for $SECS s; $(cat "$TMP/load.out")"
		echo "## self time by symbol"
		perf report -i "$TMP/perf.data" --no-children --sort dso,sym --stdio -g none \
			--percent-limit 0.7 2>/dev/null | grep -v '^$'
	} >"$OUTDIR/$load.self.txt"
	perf report -i "$TMP/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null |
		grep -v '^$' >"$OUTDIR/$load.dso.txt"
	perf report -i "$TMP/perf.data" --children --sort sym --stdio -g none --percent-limit 2 \
		2>/dev/null | grep -v '^$' >"$OUTDIR/$load.children.txt"
	ms=$(tr ' ' '\n' <"$TMP/load.out" | sed -n 's/^server_cpu_ms_per_req=//p')
	{
		echo "# $load: the steps of a request, $ms ms of server CPU in all: share, ms, scepd function -> what it called"
		perf script -i "$TMP/perf.data" 2>/dev/null | steps "${ms:-0}"
	} >"$OUTDIR/$load.steps.txt"
	echo "== $load: $(cat "$TMP/load.out")"
	grep -E '^ +[0-9]' "$OUTDIR/$load.self.txt" | head -n 25
	echo "-- inclusive (children), top:"
	grep -E '^ +[0-9]' "$OUTDIR/$load.children.txt" | head -n 40
	echo "-- the steps of a request (ms of server CPU each), top:"
	sed -n 2,26p "$OUTDIR/$load.steps.txt"
	kill -TERM "$PID"
	wait "$PID" 2>/dev/null || true
	PID=
done
echo "reports in $OUTDIR"
