#!/usr/bin/env bash
# bench/run.sh - scepd's benchmark, against micromdm's scepserver on the same machine.
#
#   bench/run.sh            the full run (about 14 minutes): the table goes to
#                           bench/results/DATE.md and to stdout
#   bench/run.sh --quick    one short run of everything, to see that it works; the
#                           table goes to stdout and $BUILD_DIR/bench-quick.md only
#
# Builds scepd and bench/scep_load in release mode into $BUILD_DIR (default
# build-bench/), makes a SoftHSM2 token in a temporary directory (its own
# SOFTHSM2_CONF, as tests/integration/lib_hsm.sh does) with an RSA-2048 and a P-256 CA
# key, the same kinds of CA keys as files, a CA depot for scepserver and a private
# PostgreSQL server; then starts the servers one after the other on 127.0.0.1 and
# measures them (bench/README.md says what and how). Everything runs in a private network namespace when `unshare -n`
# works (root): nothing but loopback exists there, and scepserver, which listens on
# every address, is reachable from nowhere else. All load is bounded in count and time.
#
# Settings (environment): BENCH_RUNS (3) runs per figure, the median is reported;
# BENCH_SECONDS (5) length of a timed run; BENCH_CONCURRENCY (8) connections;
# BENCH_WRK_SECONDS (10); BENCH_SPEED_SECONDS (3) for openssl speed; BENCH_OUT (the
# results file); BUILD_DIR.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
quick=no
if [[ "${1:-}" == "--quick" ]]; then
	quick=yes
	shift
fi
[[ $# -eq 0 ]] || {
	echo "usage: bench/run.sh [--quick]" >&2
	exit 1
}

# Packages first: apt cannot reach the mirror from inside the network namespace.
"$top/scripts/deps.sh" wrk
# A private network namespace: only loopback, and no port clashes with other tests.
if [[ -z "${BENCH_IN_NETNS:-}" && -z "${BENCH_NO_NETNS:-}" ]] && command -v unshare >/dev/null &&
	unshare -n true 2>/dev/null; then
	args=()
	[[ $quick == yes ]] && args+=(--quick)
	BENCH_IN_NETNS=1 exec unshare -n -- bash "$0" "${args[@]}"
fi
if [[ -n "${BENCH_IN_NETNS:-}" ]]; then
	ip link set lo up
fi

BUILD_DIR=${BUILD_DIR:-$top/build-bench}
if [[ $quick == yes ]]; then
	RUNS=${BENCH_RUNS:-1}
	SECONDS_PER_RUN=${BENCH_SECONDS:-2}
	WRK_SECONDS=${BENCH_WRK_SECONDS:-2}
	SPEED_SECONDS=${BENCH_SPEED_SECONDS:-1}
	OUT=${BENCH_OUT:-$BUILD_DIR/bench-quick.md}
else
	RUNS=${BENCH_RUNS:-3}
	SECONDS_PER_RUN=${BENCH_SECONDS:-5}
	WRK_SECONDS=${BENCH_WRK_SECONDS:-10}
	SPEED_SECONDS=${BENCH_SPEED_SECONDS:-3}
	OUT=${BENCH_OUT:-$top/bench/results/$(date +%F).md}
fi
CONC=${BENCH_CONCURRENCY:-8}
DEVICE_CONC=2 # "SCEP as devices do it": two devices enrolling at a time
WRK_CONNECTIONS=32
CPUS=$(nproc)

log() { echo "bench: $*" >&2; }
fail() {
	echo "bench: FAIL: $*" >&2
	exit 1
}
skip() { fail "$*"; } # lib_hsm.sh skips when SoftHSM is missing: here that is fatal


log "building scepd and scep_load (release) in $BUILD_DIR"
cmake -S "$top" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DSCEPD_TESTS=OFF -DSCEPD_BENCH=ON \
	-DSCEPD_WERROR=ON >/dev/null
cmake --build "$BUILD_DIR" --parallel "$CPUS" --target scepd scep_load crypto_floor inproc_bound >/dev/null
SCEPD=$BUILD_DIR/scepd
LOAD=$BUILD_DIR/bench/scep_load
FLOOR=$BUILD_DIR/bench/crypto_floor
BOUND=$BUILD_DIR/bench/inproc_bound
mkdir -p "$BUILD_DIR/bench-cache"
PRIMES=$BUILD_DIR/bench-cache/primes.hex # 1024-bit primes; no secret of anything real

TMP=$(mktemp -d /tmp/scepd-bench.XXXXXX)
SERVER_PID=
SERVER2_PID=    # the second node of the PostgreSQL runs
CLEANUP_HOOKS=() # lib_pg.sh: pg_stop
SCRAPE_PID=      # the /metrics scraper of the diagnosis row (scrape_start)
scrape_stop() {
	[[ -n "$SCRAPE_PID" ]] || return 0
	kill "$SCRAPE_PID" 2>/dev/null || true
	wait "$SCRAPE_PID" 2>/dev/null || true
	SCRAPE_PID=
}
cleanup() {
	local rc=$? hook
	scrape_stop
	stop_server
	for hook in "${CLEANUP_HOOKS[@]}"; do
		"$hook" || true
	done
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT

# --- servers -------------------------------------------------------------------

PORT_SCEPD=18080
PORT_SCEPSERVER=18090
PORT_SCEPD2=18081
free_port() { # for lib_pg.sh
	local p
	for _ in $(seq 1 100); do
		p=$((10000 + RANDOM % 22000))
		ss -Htan "sport = :$p" | grep -q . || break
	done
	echo "$p"
}
if [[ -z "${BENCH_IN_NETNS:-}" ]]; then # shared ports: pick free ones
	for v in PORT_SCEPD PORT_SCEPD2 PORT_SCEPSERVER; do
		for _ in $(seq 1 100); do
			p=$((10000 + RANDOM % 22000))
			ss -Htan "sport = :$p" | grep -q . || break
		done
		printf -v "$v" '%s' "$p"
	done
fi

stop_server() {
	if [[ -n "$SERVER2_PID" ]]; then
		local first=$SERVER_PID
		SERVER_PID=$SERVER2_PID
		SERVER2_PID=
		stop_server
		SERVER_PID=$first
	fi
	if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$SERVER_PID" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$SERVER_PID" $(pgrep -P "$SERVER_PID" || true) 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
	fi
	SERVER_PID=
}

# Each sets READY_MS, the time from the start to the first 200.
READY_MS=
STARTED_PID=
start_scepd_on() { # CONFIG LOG PORT: STARTED_PID
	local t0 out
	t0=$(date +%s%N)
	"$SCEPD" -c "$1" -f >>"$2" 2>&1 &
	STARTED_PID=$!
	out=$("$LOAD" ready --url "http://127.0.0.1:$3/healthz" --since "$t0" \
		--timeout 20) || fail "scepd did not get ready: $(tail -5 "$2")"
	READY_MS=${out#ready_ms=}
}
start_scepd() { # CONFIG LOG
	start_scepd_on "$1" "$2" "$PORT_SCEPD"
	SERVER_PID=$STARTED_PID
}

start_scepserver() { # DEPOT LOG
	local t0 out
	t0=$(date +%s%N)
	(cd "$(dirname "$1")" && exec scepserver -depot "$(basename "$1")" -port "$PORT_SCEPSERVER") \
		>>"$2" 2>&1 &
	SERVER_PID=$!
	out=$("$LOAD" ready --url "http://127.0.0.1:$PORT_SCEPSERVER/scep?operation=GetCACaps" \
		--since "$t0" --timeout 20) || fail "scepserver did not get ready: $(tail -5 "$2")"
	READY_MS=${out#ready_ms=}
}

# VmRSS in KiB of each worker of scepd (children of the supervisor), or of the server.
rss_kib() {
	local pids pid
	pids=$(pgrep -P "$SERVER_PID" || true)
	[[ -n "$pids" ]] || pids=$SERVER_PID
	for pid in $pids; do
		awk '/^VmRSS:/ { print $2 }' "/proc/$pid/status"
	done
}

# --- load ----------------------------------------------------------------------

KEY_NEXT=0 # every request of the whole run gets its own key, transactionID and CN
FAILED_TOTAL_scepd=0
FAILED_TOTAL_scepserver=0
REQUESTS_scepd=0
REQUESTS_scepserver=0

field() { # LINE NAME
	tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"
}

# One scep_load run; its output line is appended to $TMP/runs/LABEL.
load_run() { # LABEL WHO MODE URL N DURATION [ARGS...]
	local label=$1 who=$2 mode=$3 url=$4 n=$5 duration=$6 line rc=0 failed sent
	shift 6
	mkdir -p "$TMP/runs"
	line=$("$LOAD" "$mode" --url "$url" -n "$n" -d "$duration" -c "$CONC" --pid "$SERVER_PID" \
		--primes "$PRIMES" --key-offset "$KEY_NEXT" --cn-prefix "bench-$who" \
		--serials "$TMP/serials.$SERIALS" "$@" 2>>"$TMP/load.err") || rc=$?
	[[ $rc -eq 0 || $rc -eq 2 ]] || fail "scep_load $mode: exit $rc: $(tail -5 "$TMP/load.err")"
	KEY_NEXT=$((KEY_NEXT + n))
	failed=$(field "$line" failed)
	sent=$(field "$line" sent)
	eval "FAILED_TOTAL_$who=\$((FAILED_TOTAL_$who + failed))"
	eval "REQUESTS_$who=\$((REQUESTS_$who + sent))"
	echo "$line" >>"$TMP/runs/$label"
	log "  $label: $(field "$line" rate)/s ok=$(field "$line" ok) failed=$failed" \
		"server=$(field "$line" server_cpu_ms_per_req) ms/req client=$(field "$line" client_cpu_ms_per_req) ms/req" \
		"other=$(field "$line" other_cpu_ms) ms"
}

# A warm-up run estimates the rate; then RUNS timed runs of SECONDS_PER_RUN each (as
# many requests pre-built as twice the estimate would need), then one run at half
# of the median rate for the latency. With SCRAPE_URL set, each timed run is followed
# by one more under LABEL-metrics while SCRAPE_URL is fetched every second: the two
# rows alternate on the same server, so that what the machine does meanwhile weighs
# on both alike.
measure() { # LABEL WHO MODE URL [ARGS...]
	local label=$1 who=$2 mode=$3 url=$4 est n half
	shift 4
	load_run "$label.warmup" "$who" "$mode" "$url" 200 "$SECONDS_PER_RUN" "$@"
	est=$(field "$(tail -n 1 "$TMP/runs/$label.warmup")" rate)
	n=$(awk -v r="$est" -v s="$SECONDS_PER_RUN" 'BEGIN { n = int(r * s * 2); print (n < 200 ? 200 : n > 60000 ? 60000 : n) }')
	[[ -n "${SCRAPE_URL:-}" ]] && : >"$TMP/scrapes"
	for _ in $(seq 1 "$RUNS"); do
		load_run "$label" "$who" "$mode" "$url" "$n" "$SECONDS_PER_RUN" "$@"
		[[ -n "${SCRAPE_URL:-}" ]] || continue
		scrape_start "$SCRAPE_URL"
		load_run "$label-metrics" "$who" "$mode" "$url" "$n" "$SECONDS_PER_RUN" "$@"
		scrape_stop
	done
	[[ -n "${SCRAPE_URL:-}" ]] && scrape_check
	half=$(awk -v r="$(med "$label" rate)" 'BEGIN { printf "%.1f", r / 2 }')
	n=$(awk -v r="$half" -v s="$SECONDS_PER_RUN" 'BEGIN { n = int(r * s); print (n < 50 ? 50 : n) }')
	load_run "$label.half" "$who" "$mode" "$url" "$n" "$((SECONDS_PER_RUN * 2))" --rate "$half" "$@"
}

# The median of a field over a label's runs.
med() { # LABEL FIELD
	local f=$TMP/runs/$1
	[[ -f "$f" ]] || f=$TMP/wrk/$1
	tr ' ' '\n' <"$f" | sed -n "s/^$2=//p" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR == 0) print "n/a"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The in-process bound of a server's configuration (bench/inproc_bound), RUNS runs of
# SPEED_SECONDS with one process per CPU, appended to $TMP/runs/LABEL; the server is
# stopped meanwhile, so that the bound has the cores to itself as the server had.
bound_run() { # LABEL CONFIG PROFILE [ARGS...]
	local label=$1 conf=$2 profile=$3 line
	shift 3
	mkdir -p "$TMP/runs"
	for _ in $(seq 1 "$RUNS"); do
		line=$("$BOUND" -c "$conf" -p "$profile" --seconds "$SPEED_SECONDS" "$@" 2>>"$TMP/bound.err") ||
			fail "inproc_bound $label: $(tail -3 "$TMP/bound.err")"
		echo "$line" >>"$TMP/runs/$label"
	done
	log "  bound $label: $(med "$label" per_second)/s, $(med "$label" cpu_ms_per_op) ms CPU per operation"
}

wrk_run() { # LABEL URL
	local out rps non2xx errors
	mkdir -p "$TMP/wrk"
	for _ in $(seq 1 "$RUNS"); do
		out=$(wrk -t1 -c"$WRK_CONNECTIONS" -d"${WRK_SECONDS}s" "$2")
		rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
		non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' <<<"$out")
		errors=$(awk '/Socket errors:/ { s = 0; for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) s += $i; print s }' <<<"$out")
		echo "rps=$rps non2xx=${non2xx:-0} errors=${errors:-0}" >>"$TMP/wrk/$1"
		log "  $1: $rps/s non-2xx=${non2xx:-0} socket errors=${errors:-0}"
	done
}

# wrk with bench/ocsp_wrk.lua, which checks every answer is a successful OCSPResponse:
# requests/s, p50 / p99 ms, answers and unsuccessful ones, appended to $TMP/wrk/LABEL.
OCSP_UNSUCCESSFUL=0
OCSP_ANSWERS=0
# utime + stime in ms of the server (the supervisor, with its reaped children) and its
# workers, as scep_load --pid counts it.
server_cpu_ms() {
	local p tck
	tck=$(getconf CLK_TCK)
	for p in "$SERVER_PID" $(pgrep -P "$SERVER_PID" || true); do
		sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null |
			awk -v sup="$([[ $p == "$SERVER_PID" ]] && echo 1 || echo 0)" '{ print $12 + $13 + (sup ? $14 + $15 : 0) }'
	done | awk -v t="$tck" '{ s += $1 } END { printf "%.0f", s * 1000 / t }'
}
wrk_ocsp() { # LABEL URL MODE [REQUEST-DER]
	local out rps non2xx errors p50 p99 answers bad cpu0 cpu
	mkdir -p "$TMP/wrk"
	for _ in $(seq 1 "$RUNS"); do
		cpu0=$(server_cpu_ms)
		out=$(OCSP_MODE=$3 OCSP_REQ=${4:-} wrk -t1 -c"$WRK_CONNECTIONS" -d"${WRK_SECONDS}s" --latency \
			-s "$top/bench/ocsp_wrk.lua" "$2") || fail "wrk $1: $out"
		cpu=$(($(server_cpu_ms) - cpu0))
		rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
		non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $5 }' <<<"$out")
		errors=$(awk '/Socket errors:/ { s = 0; for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) s += $i; print s }' <<<"$out")
		# "50%  9.78ms": wrk's units are us, ms, s or m
		p50=$(wrk_ms 50 <<<"$out")
		p99=$(wrk_ms 99 <<<"$out")
		answers=$(sed -n 's/.*ocsp_answers=\([0-9]*\).*/\1/p' <<<"$out")
		bad=$(sed -n 's/.*ocsp_unsuccessful=\([0-9]*\).*/\1/p' <<<"$out")
		[[ -n "$rps" && -n "$answers" ]] || fail "wrk $1: cannot read its output: $out"
		OCSP_ANSWERS=$((OCSP_ANSWERS + answers))
		OCSP_UNSUCCESSFUL=$((OCSP_UNSUCCESSFUL + bad))
		cpu=$(awk -v c="$cpu" -v a="$answers" 'BEGIN { printf "%.3f", (a > 0 ? c / a : 0) }')
		echo "rps=$rps p50_ms=$p50 p99_ms=$p99 server_cpu_ms_per_req=$cpu answers=$answers unsuccessful=$bad non2xx=${non2xx:-0} errors=${errors:-0}" >>"$TMP/wrk/$1"
		log "  $1: $rps/s p50 $p50 ms p99 $p99 ms server $cpu ms/answer unsuccessful=$bad non-2xx=${non2xx:-0} socket errors=${errors:-0}"
	done
}
wrk_ms() { # PERCENT < wrk --latency output
	awk -v p="$1%" '$1 == p { v = $2; u = v; sub(/^[0-9.]+/, "", u); v += 0;
		if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000;
		printf "%.2f", v }'
}

# GET URL (a /metrics) once a second in the background until scrape_stop, each
# answer's status added to $TMP/scrapes; the first scrape must answer 200. Bounded: at most
# an hour's scrapes, each at most 2 s, and cleanup stops it.
scrape_start() { # URL
	local code
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1") || code="curl failed"
	[[ $code == 200 ]] || fail "GET $1: $code, not 200 (metrics.allow?)"
	(
		for _ in $(seq 1 3600); do
			curl -s -o /dev/null -w '%{http_code}\n' --max-time 2 "$1" >>"$TMP/scrapes" ||
				echo "curl failed" >>"$TMP/scrapes"
			sleep 1
		done
	) &
	SCRAPE_PID=$!
}
# Stops the scraper; every scrape must have answered 200.
scrape_check() {
	scrape_stop
	SCRAPES=$(wc -l <"$TMP/scrapes")
	[[ $SCRAPES -gt 0 ]] || fail "/metrics: no scrape during the runs"
	grep -qvx 200 "$TMP/scrapes" && fail "/metrics: $(grep -vx 200 "$TMP/scrapes" | sort | uniq -c | tr '\n' ' ')of $SCRAPES scrapes not 200"
	log "  /metrics: $SCRAPES scrapes during the runs, all 200"
}

dup_serials() { # SERIALS-FILE: serial values issued more than once
	[[ -s "$1" ]] || {
		echo 0
		return
	}
	sort "$1" | uniq -d | wc -l
}

# --- CAs -------------------------------------------------------------------------

log "making the CAs: files, a SoftHSM token, a scepserver depot"
# Without an RA the CA is the SCEP recipient: it needs keyEncipherment (RFC 8894 2.1.2).
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/rsa-file.key" -out "$TMP/rsa-file.pem" \
	-subj "/CN=scepd bench RSA CA" -days 30 -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/ec-file.key" \
	-out "$TMP/ec-file.pem" -subj "/CN=scepd bench P-256 CA" -days 30 \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
	2>/dev/null
chmod 600 "$TMP"/*.key
# shellcheck source=../tests/integration/lib_hsm.sh
. "$top/tests/integration/lib_hsm.sh"
make_token scepd-bench
make_token_ca rsa-ca rsa:2048
make_token_ca ec-ca EC:prime256v1
mkdir -p "$TMP/scepserver"
(cd "$TMP/scepserver" && scepserver ca -init -depot depot -keySize 2048 \
	-organization "scepserver bench CA" >/dev/null 2>&1) || fail "scepserver ca -init"

scepd_config() { # NAME CA-CERT CA-KEY [STORE-DIR] [EXTRA]; $SERVER_EXTRA goes into server
	local store=${4:-$TMP}
	cat >"$TMP/$1.conf" <<CONF
server: { listen = ["127.0.0.1:$PORT_SCEPD"]; workers = 0; ${SERVER_EXTRA:-} };
$([[ $3 == pkcs11:* ]] && engine_config)
ca: { certificate = "$2"; key = "$3"; ${CA_EXTRA:-} };
csr: { auth = "none"; };
storage: { uri = "sqlite:$store/$1.db"; };
log: { level = "info"; };
${5:-}
CONF
}

# --- the signing limit -------------------------------------------------------------

log "openssl speed -seconds $SPEED_SECONDS rsa2048 ecdsap256"
speed=$(openssl speed -seconds "$SPEED_SECONDS" rsa2048 ecdsap256 2>/dev/null)
RSA_SIGN=$(awk '/^rsa 2048 bits/ { print $6 }' <<<"$speed")
EC_SIGN=$(awk '/ecdsa \(nistp256\)/ { print $(NF - 1) }' <<<"$speed")
[[ -n "$RSA_SIGN" && -n "$EC_SIGN" ]] || fail "cannot read openssl speed: $speed"
log "  RSA-2048 $RSA_SIGN sign/s, P-256 $EC_SIGN sign/s (one core)"
log "crypto_floor --seconds $SPEED_SECONDS (what a request's cryptography alone costs)"
FLOOR_LINE=$("$FLOOR" --seconds "$SPEED_SECONDS") || fail "crypto_floor failed"
log "  $FLOOR_LINE"

LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)

# --- SCEP: scepd ------------------------------------------------------------------------

log "SCEP PKCSReq, scepd (RSA-2048 file CA as the recipient, $CPUS workers)"
SERIALS=rsa-file
scepd_config scep "$TMP/rsa-file.pem" "$TMP/rsa-file.key"
start_scepd "$TMP/scep.conf" "$TMP/scepd-scep.log"
measure scep.scepd scepd scep "http://127.0.0.1:$PORT_SCEPD/scep"
RSS_SCEP=$(rss_kib | sort -n | tail -n 1)
WORKERS=$(pgrep -c -P "$SERVER_PID" || true)
log "GetCACaps and GetCACert, scepd (wrk -t1 -c$WRK_CONNECTIONS -d${WRK_SECONDS}s)"
wrk_run caps.scepd "http://127.0.0.1:$PORT_SCEPD/scep?operation=GetCACaps"
wrk_run cert.scepd "http://127.0.0.1:$PORT_SCEPD/scep?operation=GetCACert"
log "SCEP as devices do it, scepd (GetCACaps, GetCACert, PKIOperation, a new connection each; $DEVICE_CONC at a time)"
measure scep-device.scepd scepd scep "http://127.0.0.1:$PORT_SCEPD/scep" --device -c "$DEVICE_CONC"
stop_server
bound_run bound.scep "$TMP/scep.conf" scep

# --- SCEP: scepserver -------------------------------------------------------------------

log "SCEP PKCSReq, scepserver (RSA-2048 file CA from its depot)"
SERIALS=scepserver
start_scepserver "$TMP/scepserver/depot" "$TMP/scepserver.log"
measure scep.scepserver scepserver scep "http://127.0.0.1:$PORT_SCEPSERVER/scep"
RSS_SCEPSERVER=$(rss_kib | sort -n | tail -n 1)
log "GetCACaps and GetCACert, scepserver"
wrk_run caps.scepserver "http://127.0.0.1:$PORT_SCEPSERVER/scep?operation=GetCACaps"
wrk_run cert.scepserver "http://127.0.0.1:$PORT_SCEPSERVER/scep?operation=GetCACert"
log "SCEP as devices do it, scepserver"
measure scep-device.scepserver scepserver scep "http://127.0.0.1:$PORT_SCEPSERVER/scep" --device \
	-c "$DEVICE_CONC"
stop_server

# --- /csr ----------------------------------------------------------------------------

declare -A RSS_CSR RSS_OCSP
SCRAPES=0
for ca in rsa-file ec-file rsa-hsm ec-hsm rsa-file-tmpfs rsa-file-1thread; do
	case $ca in
	rsa-file)
		# With /metrics open: its runs alternate with runs under csr.rsa-file-metrics
		# during which it is scraped every second, as Prometheus would (a diagnosis
		# that the scrapes change no figure beyond noise).
		scepd_config "csr-$ca" "$TMP/$ca.pem" "$TMP/$ca.key" "" \
			'metrics = { allow = [ "127.0.0.0/8" ]; };'
		;;
	ec-file) scepd_config "csr-$ca" "$TMP/$ca.pem" "$TMP/$ca.key" ;;
	rsa-file-1thread)
		# One request at a time per worker: what the threads and their group
		# commit add.
		SERVER_EXTRA="threads = 1;" scepd_config "csr-$ca" "$TMP/rsa-file.pem" "$TMP/rsa-file.key"
		;;
	rsa-hsm) scepd_config "csr-$ca" "$HSM_DIR/rsa-ca.pem" "$(token_key_uri rsa-ca)" ;;
	ec-hsm) scepd_config "csr-$ca" "$HSM_DIR/ec-ca.pem" "$(token_key_uri ec-ca)" ;;
	rsa-file-tmpfs)
		# The same as rsa-file with the store where fsync costs nothing: the
		# difference is what the store's durable commit costs.
		mkdir -p /dev/shm/scepd-bench.$$
		scepd_config "csr-$ca" "$TMP/rsa-file.pem" "$TMP/rsa-file.key" /dev/shm/scepd-bench.$$
		;;
	esac
	case $ca in
	rsa-file*) SERIALS=rsa-file ;;
	*) SERIALS=$ca ;;
	esac
	case $ca in
	rsa-hsm) cacert=$HSM_DIR/rsa-ca.pem ;;
	ec-hsm) cacert=$HSM_DIR/ec-ca.pem ;;
	rsa-file*) cacert=$TMP/rsa-file.pem ;;
	*) cacert=$TMP/$ca.pem ;;
	esac
	log "/csr, scepd, CA key $ca (requests: RSA-2048 and P-256 in turn)"
	start_scepd "$TMP/csr-$ca.conf" "$TMP/scepd-csr-$ca.log"
	scrape_url=
	[[ $ca == rsa-file ]] && scrape_url="http://127.0.0.1:$PORT_SCEPD/metrics"
	SCRAPE_URL=$scrape_url measure "csr.$ca" scepd csr "http://127.0.0.1:$PORT_SCEPD/csr" \
		--ca "$cacert" --key-type mixed
	RSS_CSR[$ca]=$(rss_kib | sort -n | tail -n 1)
	stop_server
	case $ca in
	rsa-file | ec-file | rsa-hsm | ec-hsm)
		# The load sends RSA-2048 and P-256 requests in turn: the bound of each.
		bound_run "bound.csr.$ca.rsa" "$TMP/csr-$ca.conf" csr --key-type rsa
		bound_run "bound.csr.$ca.ec" "$TMP/csr-$ca.conf" csr --key-type ec
		;;
	esac
	rm -rf /dev/shm/scepd-bench.$$
done

# --- OCSP ------------------------------------------------------------------------------

# The RSA-2048 CA, as a file and on the token, with an OCSP responder (the CA signs
# every answer: no delegated signer); a few certificates issued through /csr, then wrk
# with bench/ocsp_wrk.lua: POST with a new nonce in every request (signed anew each
# time), and GET of one request without a nonce (RFC 5019 style: each worker signs it
# once and then reuses the answer, ocsp.cache, while the status holds).
for ca in rsa-file rsa-hsm; do
	case $ca in
	rsa-file) cacert=$TMP/rsa-file.pem cakey=$TMP/rsa-file.key ;;
	rsa-hsm) cacert=$HSM_DIR/rsa-ca.pem cakey=$(token_key_uri rsa-ca) ;;
	esac
	CA_EXTRA='ocsp = { path = "/ocsp/ca"; };' scepd_config "ocsp-$ca" "$cacert" "$cakey"
	log "OCSP, scepd, CA key $ca (wrk -t1 -c$WRK_CONNECTIONS -d${WRK_SECONDS}s; POST with fresh nonces, GET without)"
	start_scepd "$TMP/ocsp-$ca.conf" "$TMP/scepd-ocsp-$ca.log"
	for i in 1 2 3; do
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
			-subj "/CN=bench-ocsp-$ca-$i" -outform DER -out "$TMP/ocsp-$ca-$i.csr" 2>/dev/null
		code=$(curl -s -o "$TMP/ocsp-$ca-$i.pem" -w '%{http_code}' --data-binary @"$TMP/ocsp-$ca-$i.csr" \
			"http://127.0.0.1:$PORT_SCEPD/csr") || code=curl
		[[ $code == 200 ]] || fail "OCSP: /csr for a certificate to ask about: $code"
	done
	base=http://127.0.0.1:$PORT_SCEPD/ocsp/ca
	# One answer checked the whole way: signature, status and the nonce echoed.
	check=$(openssl ocsp -issuer "$cacert" -cert "$TMP/ocsp-$ca-1.pem" -url "$base" -CAfile "$cacert" 2>&1) || true
	grep -q "^Response verify OK" <<<"$check" && grep -q ": good" <<<"$check" &&
		! grep -qi nonce <<<"$check" || fail "OCSP: openssl ocsp: $check"
	# POST: a request about the first certificate with a 16-byte nonce that
	# ocsp_wrk.lua replaces in every request.
	openssl ocsp -issuer "$cacert" -cert "$TMP/ocsp-$ca-1.pem" -reqout "$TMP/ocsp-$ca.req" >/dev/null 2>&1 ||
		fail "OCSP: openssl ocsp -reqout"
	wrk_ocsp "ocsp.$ca.post" "$base" fresh "$TMP/ocsp-$ca.req"
	# GET: the same request without a nonce, base64- and URL-encoded below the path.
	openssl ocsp -issuer "$cacert" -cert "$TMP/ocsp-$ca-2.pem" -no_nonce -reqout "$TMP/ocsp-$ca-get.req" \
		>/dev/null 2>&1 || fail "OCSP: openssl ocsp -reqout -no_nonce"
	enc=$(base64 -w0 "$TMP/ocsp-$ca-get.req" | sed 's|+|%2B|g; s|/|%2F|g; s|=|%3D|g')
	wrk_ocsp "ocsp.$ca.get" "$base/$enc" get
	RSS_OCSP[$ca]=$(rss_kib | sort -n | tail -n 1)
	stop_server
done

# --- PostgreSQL ------------------------------------------------------------------------

# The store on a private PostgreSQL server on loopback (tests/integration/lib_pg.sh),
# the RSA-2048 file CA key: one node with a worker per CPU, then two nodes with half as
# many each, the load client alternating its connections between them. The database
# server's CPU time is not in "server CPU": it shows as "other CPU".
# shellcheck source=../tests/integration/lib_pg.sh
. "$top/tests/integration/lib_pg.sh"
log "PostgreSQL store: a private server; /csr and SCEP on one node, then on two"
pg_start
pg_config() { # NAME PORT WORKERS
	scepd_config "$1" "$TMP/rsa-file.pem" "$TMP/rsa-file.key"
	sed -i -e "s|^storage: .*|storage: { uri = \"$PG_URI\"; password = \"file:$PG_PIN_FILE\"; };|" \
		-e "s|127.0.0.1:$PORT_SCEPD|127.0.0.1:$2|" -e "s|workers = 0;|workers = $3;|" "$TMP/$1.conf"
}
start_node2() { # CONFIG LOG
	start_scepd_on "$1" "$2" "$PORT_SCEPD2"
	SERVER2_PID=$STARTED_PID
}
half_workers=$(((CPUS + 1) / 2))
SERIALS=rsa-file
pg_config pg1 "$PORT_SCEPD" 0
start_scepd "$TMP/pg1.conf" "$TMP/scepd-pg1.log"
measure csr.pg1 scepd csr "http://127.0.0.1:$PORT_SCEPD/csr" --ca "$TMP/rsa-file.pem" --key-type mixed
measure scep.pg1 scepd scep "http://127.0.0.1:$PORT_SCEPD/scep"
stop_server
pg_config pg2a "$PORT_SCEPD" "$half_workers"
pg_config pg2b "$PORT_SCEPD2" "$half_workers"
start_scepd "$TMP/pg2a.conf" "$TMP/scepd-pg2a.log"
start_node2 "$TMP/pg2b.conf" "$TMP/scepd-pg2b.log"
measure csr.pg2 scepd csr "http://127.0.0.1:$PORT_SCEPD/csr" --ca "$TMP/rsa-file.pem" --key-type mixed \
	--also-url "http://127.0.0.1:$PORT_SCEPD2/csr" --also-pid "$SERVER2_PID"
measure scep.pg2 scepd scep "http://127.0.0.1:$PORT_SCEPD/scep" \
	--also-url "http://127.0.0.1:$PORT_SCEPD2/scep" --also-pid "$SERVER2_PID"
stop_server
DUP_PG=$(pg_sql "SELECT count(*) FROM (SELECT serial FROM certificates GROUP BY serial HAVING count(*) > 1) d")
STORED_PG=$(pg_sql "SELECT count(*) FROM certificates")
pg_stop

# --- start-up ------------------------------------------------------------------------

log "start-up to the first 200 on /healthz, RSA-2048 SoftHSM key and file key"
for _ in $(seq 1 "$RUNS"); do
	start_scepd "$TMP/csr-rsa-hsm.conf" "$TMP/scepd-startup.log"
	echo "ms=$READY_MS" >>"$TMP/runs/startup.hsm"
	stop_server
	start_scepd "$TMP/csr-rsa-file.conf" "$TMP/scepd-startup.log"
	echo "ms=$READY_MS" >>"$TMP/runs/startup.file"
	stop_server
done
LOADAVG_END=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the table -----------------------------------------------------------------------

DUP_scepd=0
for s in rsa-file ec-file rsa-hsm ec-hsm; do
	DUP_scepd=$((DUP_scepd + $(dup_serials "$TMP/serials.$s")))
done
DUP_scepserver=$(dup_serials "$TMP/serials.scepserver")
ISSUED_scepd=$(cat "$TMP"/serials.{rsa-file,ec-file,rsa-hsm,ec-hsm} 2>/dev/null | wc -l || true)
ISSUED_scepserver=$(cat "$TMP/serials.scepserver" 2>/dev/null | wc -l || true)

calc() { awk "BEGIN { printf \"$1\", $2 }"; }
# The table of a SCEP load against both servers: its rows and the scepd / scepserver ratios.
scep_table() { # LABEL-PREFIX PER (what the client CPU is per: request, enrolment)
	local who
	echo "| server | enrolments/s | server CPU ms/enrolment | client CPU ms/$2 | other CPU ms/run | p50 / p99 ms at peak |"
	echo "|---|---:|---:|---:|---:|---:|"
	for who in scepd scepserver; do
		echo "| $who | $(med "$1.$who" rate) | $(med "$1.$who" server_cpu_ms_per_req) | $(med "$1.$who" client_cpu_ms_per_req) | $(med "$1.$who" other_cpu_ms) | $(med "$1.$who" p50_ms) / $(med "$1.$who" p99_ms) |"
	done
	echo "| **scepd / scepserver** | **$(calc "%.2f×" "$(med "$1.scepd" rate) / $(med "$1.scepserver" rate)")** | **$(calc "%.2f×" "$(med "$1.scepd" server_cpu_ms_per_req) / $(med "$1.scepserver" server_cpu_ms_per_req)")** | | | |"
}
yes_no() { awk "BEGIN { if ($1) print \"**holds**\"; else print \"**misses**\" }"; }
kib_mib() { calc "%.1f" "$1 / 1024"; }

r_scepd=$(med scep.scepd rate)
r_scepserver=$(med scep.scepserver rate)
cpu_scepd=$(med scep.scepd server_cpu_ms_per_req)
rsa_limit=$(calc "%.0f" "$RSA_SIGN * $CPUS")
ec_limit=$(calc "%.0f" "$EC_SIGN * $CPUS")
limit_of() { case $1 in rsa*) echo "$rsa_limit" ;; *) echo "$ec_limit" ;; esac }
# The bound of /csr with CA key CA for the load's mix (RSA and P-256 requests in turn):
# the rate of alternating operations, and the mean CPU per operation.
bound_csr_rate() { calc "%.1f" "2 / (1 / $(med "bound.csr.$1.rsa" per_second) + 1 / $(med "bound.csr.$1.ec" per_second))"; }
bound_csr_cpu() { calc "%.3f" "($(med "bound.csr.$1.rsa" cpu_ms_per_op) + $(med "bound.csr.$1.ec" cpu_ms_per_op)) / 2"; }
b_scep=$(med bound.scep per_second)
cpu_dev_scepd=$(med scep-device.scepd server_cpu_ms_per_req)
cpu_dev_scepserver=$(med scep-device.scepserver server_cpu_ms_per_req)
r_csr=$(med csr.rsa-file rate)
r_csr_metrics=$(med csr.rsa-file-metrics rate)
cpu_csr=$(med csr.rsa-file server_cpu_ms_per_req)
cpu_csr_metrics=$(med csr.rsa-file-metrics server_cpu_ms_per_req)
b_scep_cpu=$(med bound.scep cpu_ms_per_op)

{
	echo "# scepd benchmark, $(date +%F)"
	echo
	echo "Made by \`bench/run.sh\`$([[ $quick == yes ]] && echo " --quick (one short run: not for comparison)"); bench/README.md says how to read it."
	echo
	echo "- Machine: $CPUS × $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r), $(openssl version | cut -d' ' -f1-2)."
	echo "- scepd $(git -C "$top" describe --always --dirty 2>/dev/null || echo '?') (release build, $WORKERS workers = CPUs, SQLite store on $(df -T "$TMP" | awk 'NR == 2 { print $2 }'), log level info);" \
		"scepserver $(scepserver -version 2>&1 | head -n 1) (Debian package scep $(dpkg-query -W -f '${Version}' scep 2>/dev/null || echo '?'), file depot)."
	echo "- Client (bench/scep_load) and servers share the machine; 127.0.0.1$([[ -n "${BENCH_IN_NETNS:-}" ]] && echo " in a private network namespace")."
	echo "- Each figure is the median of $RUNS runs of ${SECONDS_PER_RUN} s with $CONC connections (after a 200-request warm-up), requests pre-built before the clock starts and checked after it stops."
	echo "- Load average before / after: $LOADAVG_START / $LOADAVG_END (other people's work on the machine shows here and as \"other CPU\")."
	echo
	echo "## SCEP PKCSReq enrolments"
	echo
	echo "RSA-2048 CA key in a file; no RA: the CA itself decrypts and signs on both servers (scepserver has no RA). Requester keys RSA-2048, AES-128-CBC, SHA-256, every message with its own key, transactionID and subject."
	echo
	scep_table scep request
	echo
	echo "## SCEP as devices do it"
	echo
	echo "Each enrolment as a device makes it: GetCACaps, GetCACert (200, not empty) and PKIOperation (the same pre-built PKCSReqs, checked the same way as above), each on a new TCP connection (\`Connection: close\`), $DEVICE_CONC devices at a time (\`scep_load scep --device -c $DEVICE_CONC\`); the same servers and CA as above. Rates, server CPU and latencies are per enrolment (all three exchanges)."
	echo
	scep_table scep-device enrolment
	echo
	echo "## /csr certificates (scepd)"
	echo
	echo "Pre-built PKCS#10 requests, RSA-2048 and P-256 requester keys in turn, DER, answered as PEM. The limit is one private-key operation per certificate (below)."
	echo
	echo "| CA key | certificates/s | signing limit/s | fraction of the limit | server CPU ms/cert | client CPU ms/request | other CPU ms/run | p50 / p99 ms at peak |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	for ca in rsa-file rsa-hsm ec-file ec-hsm rsa-file-tmpfs rsa-file-1thread rsa-file-metrics; do
		case $ca in
		rsa-file) name="RSA-2048, file" ;;
		rsa-hsm) name="RSA-2048, SoftHSM" ;;
		ec-file) name="P-256, file" ;;
		ec-hsm) name="P-256, SoftHSM" ;;
		rsa-file-tmpfs) name="RSA-2048, file, store on tmpfs (diagnosis: no fsync cost)" ;;
		rsa-file-1thread) name="RSA-2048, file, one request thread per worker (diagnosis: no group commit)" ;;
		rsa-file-metrics) name="RSA-2048, file, /metrics scraped every second, runs alternating with the plain row's (diagnosis; $SCRAPES scrapes, all 200)" ;;
		esac
		lim=$(limit_of "$ca")
		echo "| $name | $(med csr.$ca rate) | $lim | $(calc "%.0f%%" "100 * $(med csr.$ca rate) / $lim") | $(med csr.$ca server_cpu_ms_per_req) | $(med csr.$ca client_cpu_ms_per_req) | $(med csr.$ca other_cpu_ms) | $(med csr.$ca p50_ms) / $(med csr.$ca p99_ms) |"
	done
	echo
	echo "## The in-process bound"
	echo
	echo "\`bench/inproc_bound\` on each server's own configuration and keys, one process per CPU ($CPUS), with the cores to itself (the server stopped): scepd's own code doing exactly what a request needs and nothing else, no HTTP, store, log or audit. /csr: decode and verify the request, the key and name policy, build and sign the certificate with the configuration's extensions, DER; the load's mix of RSA-2048 and P-256 requests (the bound of each, combined). SCEP: parse and verify the pkiMessage, decrypt it, the same policy and signature, build, sign and encrypt the CertRep. Medians of $RUNS runs of $SPEED_SECONDS s. The server's figure as a fraction of the bound is what HTTP, the store's durable commit, logging and sharing the cores with the load client leave."
	echo
	echo "| request | CA key | bound/s | scepd/s | scepd / bound | bound CPU ms/op | scepd server CPU ms/req | server CPU / bound CPU |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	for ca in rsa-file rsa-hsm ec-file ec-hsm; do
		case $ca in
		rsa-file) name="RSA-2048, file" ;;
		rsa-hsm) name="RSA-2048, SoftHSM" ;;
		ec-file) name="P-256, file" ;;
		ec-hsm) name="P-256, SoftHSM" ;;
		esac
		b=$(bound_csr_rate "$ca")
		bc=$(bound_csr_cpu "$ca")
		echo "| /csr | $name | $b | $(med csr.$ca rate) | $(calc "%.0f%%" "100 * $(med csr.$ca rate) / $b") | $bc | $(med csr.$ca server_cpu_ms_per_req) | $(calc "%.2f×" "$(med csr.$ca server_cpu_ms_per_req) / $bc") |"
	done
	echo "| SCEP PKCSReq | RSA-2048, file | $b_scep | $r_scepd | $(calc "%.0f%%" "100 * $r_scepd / $b_scep") | $b_scep_cpu | $cpu_scepd | $(calc "%.2f×" "$cpu_scepd / $b_scep_cpu") |"
	echo
	echo "## The signing limit of this machine"
	echo
	echo "\`openssl speed -seconds $SPEED_SECONDS rsa2048 ecdsap256\`, one process, × $CPUS cores, divided by the private-key operations a request needs: 1 for /csr, 3 for SCEP (RA decrypt, CA signature, RA signature of the CertRep). It ignores everything else a request costs, and that the client shares the cores."
	echo
	echo "| key | sign/s, 1 core | × $CPUS cores | /csr limit/s | scepd /csr | SCEP limit/s | scepd SCEP |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	echo "| RSA-2048 | $RSA_SIGN | $rsa_limit | $rsa_limit | $(calc "%.0f%%" "100 * $(med csr.rsa-file rate) / $rsa_limit") (file) | $(calc "%.0f" "$rsa_limit / 3") | $(calc "%.0f%%" "100 * $r_scepd / ($rsa_limit / 3)") |"
	echo "| P-256 | $EC_SIGN | $ec_limit | $ec_limit | $(calc "%.0f%%" "100 * $(med csr.ec-file rate) / $ec_limit") (file) | | |"
	echo
	echo "## OCSP (scepd)"
	echo
	echo "An OCSP responder (\`ocsp = { path = \"/ocsp/ca\"; }\`) for the RSA-2048 CA, the CA key signing every answer (no delegated signer), asked about a certificate it issued (status good); \`wrk -t1 -c$WRK_CONNECTIONS -d${WRK_SECONDS}s --latency\` with bench/ocsp_wrk.lua, which checks that every answer is a successful OCSPResponse (HTTP 200 and responseStatus 0; one answer per CA is verified in full by \`openssl ocsp\` first). **POST, fresh**: application/ocsp-request, each request with its own 16-byte nonce, so that each answer must be signed anew. **GET, no nonce**: one request without a nonce, base64 below the path (RFC 5019 style): each worker signs the answer once and reuses it (\`ocsp.cache\`, default 60 s) while the store still says good; the store is read for every request all the same. No peer server has OCSP: the ratio is to the signing limit (one RSA-2048 signature per answer, × $CPUS cores), which reused answers are not bound by."
	echo
	echo "| CA key | request | responses/s | p50 / p99 ms at peak | server CPU ms/answer | signing limit/s | fraction of the limit | unsuccessful answers |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	for ca in rsa-file rsa-hsm; do
		for m in post get; do
			case $ca in rsa-file) name="RSA-2048, file" ;; rsa-hsm) name="RSA-2048, SoftHSM" ;; esac
			case $m in post) req="POST, fresh nonce" ;; get) req="GET, no nonce (answers reused)" ;; esac
			r=$(med "ocsp.$ca.$m" rps)
			echo "| $name | $req | $r | $(med "ocsp.$ca.$m" p50_ms) / $(med "ocsp.$ca.$m" p99_ms) | $(med "ocsp.$ca.$m" server_cpu_ms_per_req) | $rsa_limit | $(calc "%.0f%%" "100 * $r / $rsa_limit") | $(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^unsuccessful=/) { sub(/^unsuccessful=/, "", $i); s += $i } } END { print s + 0 }' "$TMP/wrk/ocsp.$ca.$m") |"
		done
	done
	echo
	echo "## GetCACaps and GetCACert"
	echo
	echo "\`wrk -t1 -c$WRK_CONNECTIONS -d${WRK_SECONDS}s\` (keep-alive), requests/s."
	echo
	echo "| operation | scepd | scepserver | scepd / scepserver |"
	echo "|---|---:|---:|---:|"
	for op in caps cert; do
		a=$(med $op.scepd rps)
		b=$(med $op.scepserver rps)
		echo "| $([[ $op == caps ]] && echo GetCACaps || echo GetCACert) | $a | $b | $(calc "%.2f×" "$a / $b") |"
	done
	echo
	echo "## The PostgreSQL store"
	echo
	echo "The same RSA-2048 file CA key and requests as above; the store on a PostgreSQL $(basename "$(dirname "$PG_BIN")") server on the same machine (a private cluster on loopback, default settings: every commit waits for its WAL flush). Two nodes: two scepd processes with $half_workers worker(s) each, the client alternating its connections between them. \"other CPU\" is mostly the database server's."
	echo
	echo "| store | nodes × workers | /csr certs/s | server CPU ms/cert | other CPU ms/run | p50 / p99 ms | SCEP enrolments/s | server CPU ms/enrolment | p50 / p99 ms |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
	echo "| SQLite | 1 × $WORKERS | $(med csr.rsa-file rate) | $(med csr.rsa-file server_cpu_ms_per_req) | $(med csr.rsa-file other_cpu_ms) | $(med csr.rsa-file p50_ms) / $(med csr.rsa-file p99_ms) | $(med scep.scepd rate) | $(med scep.scepd server_cpu_ms_per_req) | $(med scep.scepd p50_ms) / $(med scep.scepd p99_ms) |"
	echo "| PostgreSQL | 1 × $WORKERS | $(med csr.pg1 rate) | $(med csr.pg1 server_cpu_ms_per_req) | $(med csr.pg1 other_cpu_ms) | $(med csr.pg1 p50_ms) / $(med csr.pg1 p99_ms) | $(med scep.pg1 rate) | $(med scep.pg1 server_cpu_ms_per_req) | $(med scep.pg1 p50_ms) / $(med scep.pg1 p99_ms) |"
	echo "| PostgreSQL | 2 × $half_workers | $(med csr.pg2 rate) | $(med csr.pg2 server_cpu_ms_per_req) | $(med csr.pg2 other_cpu_ms) | $(med csr.pg2 p50_ms) / $(med csr.pg2 p99_ms) | $(med scep.pg2 rate) | $(med scep.pg2 server_cpu_ms_per_req) | $(med scep.pg2 p50_ms) / $(med scep.pg2 p99_ms) |"
	echo
	echo "Certificates in the PostgreSQL store after these runs: $STORED_PG; duplicate serials there: $DUP_PG."
	echo
	echo "## Latency at half of the peak"
	echo
	echo "The load client rate-limited to half of the median rate above, for about ${SECONDS_PER_RUN} s; latency from sending the request to the end of the answer."
	echo
	echo "| what | rate/s | p50 ms | p90 ms | p99 ms | max ms |"
	echo "|---|---:|---:|---:|---:|---:|"
	for l in scep.scepd scep.scepserver scep-device.scepd scep-device.scepserver csr.rsa-file csr.rsa-hsm csr.ec-file csr.ec-hsm; do
		echo "| $l | $(med $l.half rate) | $(med $l.half p50_ms) | $(med $l.half p90_ms) | $(med $l.half p99_ms) | $(med $l.half max_ms) |"
	done
	echo
	echo "## Memory and start-up"
	echo
	echo "| what | value |"
	echo "|---|---:|"
	echo "| RSS per worker after the SCEP runs (largest worker) | $(kib_mib "$RSS_SCEP") MiB |"
	for ca in rsa-file rsa-hsm ec-file ec-hsm; do
		echo "| RSS per worker after the /csr runs, $ca | $(kib_mib "${RSS_CSR[$ca]}") MiB |"
	done
	for ca in rsa-file rsa-hsm; do
		echo "| RSS per worker after the OCSP runs, $ca | $(kib_mib "${RSS_OCSP[$ca]}") MiB |"
	done
	echo "| scepserver RSS (one process) after the SCEP runs | $(kib_mib "$RSS_SCEPSERVER") MiB |"
	echo "| start-up to the first 200 on /healthz, RSA-2048 SoftHSM key | $(med startup.hsm ms) ms |"
	echo "| start-up to the first 200 on /healthz, RSA-2048 file key | $(med startup.file ms) ms |"
	echo
	echo "## Failures and duplicate serials (findings)"
	echo
	echo "Over every request of this run, warm-ups and half-load runs included. A duplicate is a serial number that came back in more than one certificate of the same CA."
	echo
	echo "| server | requests sent | failed | certificates | duplicate serials |"
	echo "|---|---:|---:|---:|---:|"
	echo "| scepd (SCEP + /csr) | $REQUESTS_scepd | $FAILED_TOTAL_scepd | $ISSUED_scepd | $DUP_scepd |"
	echo "| scepd (OCSP, answers) | $OCSP_ANSWERS | $OCSP_UNSUCCESSFUL | | |"
	echo "| scepserver (SCEP) | $REQUESTS_scepserver | $FAILED_TOTAL_scepserver | $ISSUED_scepserver | $DUP_scepserver |"
	if [[ -s "$TMP/load.err" ]]; then
		echo
		echo "What the failures were (scep_load, the first of each run; server logs for details):"
		echo
		sed -n 's/^scep_load: request [0-9]*: /- /p' "$TMP/load.err" | sort | uniq -c |
			sort -rn | head -n 10 | sed 's/^ *\([0-9]*\) - /- \1 × /'
		grep -ho 'err="[^"]*"' "$TMP/scepserver.log" 2>/dev/null | sort | uniq -c | sort -rn |
			head -n 5 | sed 's/^ *\([0-9]*\) /- scepserver log, \1 × /'
	fi
	echo
	echo "## The floor: the cryptography a request cannot do without"
	echo
	echo "\`bench/crypto_floor\`, one core, RSA-2048, the same OpenSSL: each operation timed alone for $SPEED_SECONDS s. A /csr certificate needs at least: parse the request (with OpenSSL 3, its public key goes through the provider decoders), verify its signature, sign. A SCEP enrolment: parse the signer certificate, verify the pkiMessage's signature, decrypt the envelope's key, parse and verify the request, sign the certificate, sign the CertRep. No HTTP, CMS or certificate building, store or client is counted."
	echo
	echo "| operation | ms |"
	echo "|---|---:|"
	for f in sign decrypt d2i_cert d2i_req verify; do
		echo "| $f | $(field "$FLOOR_LINE" "${f}_ms") |"
	done
	csr_floor=$(field "$FLOOR_LINE" csr_floor_ms)
	scep_floor=$(field "$FLOOR_LINE" scep_floor_ms)
	echo
	echo "| request | floor ms | scepd server CPU ms | scepd / floor | the most the floor allows on $CPUS cores, /s | as a fraction of the signing limit |"
	echo "|---|---:|---:|---:|---:|---:|"
	echo "| /csr, RSA-2048 file key | $csr_floor | $(med csr.rsa-file server_cpu_ms_per_req) | $(calc "%.2f×" "$(med csr.rsa-file server_cpu_ms_per_req) / $csr_floor") | $(calc "%.0f" "$CPUS * 1000 / $csr_floor") | $(calc "%.0f%%" "100 * $CPUS * 1000 / $csr_floor / $rsa_limit") |"
	echo "| SCEP enrolment, RSA-2048 file key | $scep_floor | $cpu_scepd | $(calc "%.2f×" "$cpu_scepd / $scep_floor") | $(calc "%.0f" "$CPUS * 1000 / $scep_floor") | $(calc "%.0f%%" "100 * $CPUS * 1000 / $scep_floor / ($rsa_limit / 3)") |"
	echo
	echo "## The issue's targets"
	echo
	echo "| target | measured | |"
	echo "|---|---:|---|"
	echo "| SCEP enrolments/s ≥ 5 × scepserver | $(calc "%.2f×" "$r_scepd / $r_scepserver") | $(yes_no "$r_scepd >= 5 * $r_scepserver") |"
	echo "| SCEP as devices do it (GetCACaps, GetCACert, PKIOperation, a new connection each, $DEVICE_CONC at a time): scepserver's server CPU per enrolment ≥ 3 × scepd's | $(calc "%.2f×" "$cpu_dev_scepserver / $cpu_dev_scepd") ($cpu_dev_scepserver / $cpu_dev_scepd ms) | $(yes_no "$cpu_dev_scepserver >= 3 * $cpu_dev_scepd") |"
	echo "| scepd's server CPU per enrolment ≤ 1.3 × its in-process bound | $(calc "%.2f×" "$cpu_scepd / $b_scep_cpu") ($cpu_scepd / $b_scep_cpu ms) | $(yes_no "$cpu_scepd <= 1.3 * $b_scep_cpu") |"
	echo "| /csr RSA-2048 file key ≥ 75 % of the in-process bound | $(calc "%.0f%%" "100 * $(med csr.rsa-file rate) / $(bound_csr_rate rsa-file)") | $(yes_no "$(med csr.rsa-file rate) >= 0.75 * $(bound_csr_rate rsa-file)") |"
	echo "| /csr RSA-2048 SoftHSM key ≥ 65 % of the in-process bound | $(calc "%.0f%%" "100 * $(med csr.rsa-hsm rate) / $(bound_csr_rate rsa-hsm)") | $(yes_no "$(med csr.rsa-hsm rate) >= 0.65 * $(bound_csr_rate rsa-hsm)") |"
	echo "| /csr RSA-2048 file key with /metrics scraped every second: rate and server CPU/cert within 5 % of the plain row (noise-bounded: two runs of the same row on this shared machine can differ by that much) | rate $(calc "%+.1f%%" "100 * ($r_csr_metrics / $r_csr - 1)"), CPU $(calc "%+.1f%%" "100 * ($cpu_csr_metrics / $cpu_csr - 1)") | $(yes_no "$r_csr_metrics >= 0.95 * $r_csr && $r_csr_metrics <= 1.05 * $r_csr && $cpu_csr_metrics >= 0.95 * $cpu_csr && $cpu_csr_metrics <= 1.05 * $cpu_csr") |"
	echo "| /csr p99 at half of the peak ≤ 5 ms (RSA-2048 file key) | $(med csr.rsa-file.half p99_ms) ms | $(yes_no "$(med csr.rsa-file.half p99_ms) <= 5") |"
	echo "| SCEP p99 at half of the peak ≤ 10 ms | $(med scep.scepd.half p99_ms) ms | $(yes_no "$(med scep.scepd.half p99_ms) <= 10") |"
	echo "| OCSP ≥ 20,000 reused good answers/s (GET, RSA-2048 file key) | $(med ocsp.rsa-file.get rps)/s | $(yes_no "$(med ocsp.rsa-file.get rps) >= 20000") |"
	echo "| OCSP with a fresh signature per answer bounded by the signing rate (POST, RSA-2048 file key) | $(calc "%.0f%%" "100 * $(med ocsp.rsa-file.post rps) / $rsa_limit") of the signing limit | |"
	echo "| GetCACaps at least as fast as scepserver | $(calc "%.2f×" "$(med caps.scepd rps) / $(med caps.scepserver rps)") | $(yes_no "$(med caps.scepd rps) >= $(med caps.scepserver rps)") |"
	echo "| GetCACert at least as fast as scepserver | $(calc "%.2f×" "$(med cert.scepd rps) / $(med cert.scepserver rps)") | $(yes_no "$(med cert.scepd rps) >= $(med cert.scepserver rps)") |"
	rss_max=$(printf '%s\n' "$RSS_SCEP" "${RSS_CSR[@]}" | sort -n | tail -n 1)
	echo "| RSS per worker ≤ 16 MiB | $(kib_mib "$rss_max") MiB (largest) | $(yes_no "$rss_max <= 16384") |"
	echo "| start-up to ready ≤ 300 ms with a SoftHSM key | $(med startup.hsm ms) ms | $(yes_no "$(med startup.hsm ms) <= 300") |"
} >"$TMP/table.md"

mkdir -p "$(dirname "$OUT")"
cp "$TMP/table.md" "$OUT"
cat "$OUT"
log "written to $OUT"
