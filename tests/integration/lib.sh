# lib.sh - shared helpers of the integration tests. Each t_*.sh sources it, writes its
# config with a heredoc, starts the real scepd binary on a free loopback port and
# checks what a user would check. Exit 0 = pass, 1 = fail, 77 = skipped.
#
# SCEPD_TEST_STORE=postgresql (the *_pg variants in ctest) puts the store of
# write_config on a private PostgreSQL server (lib_pg.sh), started by write_config;
# store_sql, store_der_hex and store_integrity ask whichever store the test uses.
set -euo pipefail

SCEPD_SOURCE_DIR=${SCEPD_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SCEPD_BIN=${SCEPD_BIN:-$SCEPD_SOURCE_DIR/build/scepd}
SCEPD_NOTIFY_SINK=${SCEPD_NOTIFY_SINK:-$(dirname "$SCEPD_BIN")/tests/notify_sink}
SCEPD_TEST_STORE=${SCEPD_TEST_STORE:-sqlite}
TEST_NAME=$(basename "$0" .sh)
[[ $SCEPD_TEST_STORE == sqlite ]] || TEST_NAME+=_pg
TMP=$(mktemp -d "/tmp/scepd-$TEST_NAME.XXXXXX")
SCEPD_PID=
PORT=
BACKGROUND_PIDS=() # helpers started by a test, killed at exit
CLEANUP_HOOKS=()   # functions run at exit, after scepd is stopped (lib_pg.sh: pg_stop)

# For secrets_check.sh, which runs after the whole suite: this test's logs and stores
# (with their modes), any core file, and the secrets they must not contain: the PINs
# and challenges in $TMP (files named *pin* or challenge*) and the first base64 line
# of every PEM private key in $TMP. Only when $SCEPD_EVIDENCE_DIR is set (ctest).
save_evidence() {
	local dir f
	[[ -n "${SCEPD_EVIDENCE_DIR:-}" ]] || return 0
	dir=$SCEPD_EVIDENCE_DIR/$TEST_NAME.$$
	mkdir -p "$dir/files"
	find "$TMP" -maxdepth 2 -type f \( -name '*pin*' -o -name 'challenge*' \) \
		-exec cat {} + 2>/dev/null | tr -d '\r' | awk 'length($0) >= 6' >"$dir/secrets" || true
	grep -rlZ -e '-----BEGIN [A-Z ]*PRIVATE KEY-----' "$TMP" 2>/dev/null |
		xargs -0 -r awk '/-----BEGIN [A-Z ]*PRIVATE KEY-----/ { key = 1; next }
			key && length($0) >= 40 && /^[A-Za-z0-9+\/=]+$/ { print; key = 0 }' \
			>>"$dir/secrets" || true
	while IFS= read -r -d '' f; do
		printf '%s %s\n' "$(stat -c %a "$f")" "${f#"$TMP"/}" >>"$dir/modes"
		cp "$f" "$dir/files/$(tr / _ <<<"${f#"$TMP"/}")"
	done < <(find "$TMP" -type f \( -name '*.log' -o -name '*.db' -o -name '*.db-wal' \
		-o -name '*.db-journal' -o -name 'core' -o -name 'core.*' \) -print0)
}

cleanup() {
	local rc=$? hook
	if [[ -n "$SCEPD_PID" ]] && kill -0 "$SCEPD_PID" 2>/dev/null; then
		kill -KILL -- "$SCEPD_PID" $(pgrep -P "$SCEPD_PID" || true) 2>/dev/null || true
		wait "$SCEPD_PID" 2>/dev/null || true
	fi
	for pid in "${BACKGROUND_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for hook in "${CLEANUP_HOOKS[@]}"; do
		"$hook" || true
	done
	if [[ $rc -ne 0 && $rc -ne 77 && -f "$TMP/scepd.log" ]]; then
		echo "--- scepd log ($TMP/scepd.log, last 40 lines) ---" >&2
		tail -n 40 "$TMP/scepd.log" >&2
	fi
	save_evidence || true
	release_ports || true
	rm -rf "$TMP"
	exit $rc
}
trap cleanup EXIT

fail() {
	echo "FAIL: $TEST_NAME: $*" >&2
	exit 1
}

skip() {
	echo "SKIP: $TEST_NAME: $*" >&2
	exit 77
}

pass() {
	echo "ok: $TEST_NAME: $*"
}

assert_eq() { # expected actual what
	[[ "$1" == "$2" ]] || fail "$3: expected '$1', got '$2'"
}

# A TCP port that no socket uses right now, below Linux's ephemeral range (32768-)
# so that no client connection takes it before scepd binds it.
# Tests run in parallel: a port is also reserved (a directory made atomically, naming
# this test's shell) until the test ends, so that two tests never pick the same one in
# the moment before either binds it. A reservation whose test is gone is taken over.
PORT_LOCKS=/tmp/scepd-test-ports
free_port() {
	local port owner
	mkdir -p "$PORT_LOCKS"
	for _ in $(seq 1 100); do
		port=$((10000 + RANDOM % 22000))
		ss -Htan "sport = :$port" | grep -q . && continue
		if ! mkdir "$PORT_LOCKS/$port" 2>/dev/null; then
			owner=$(cat "$PORT_LOCKS/$port/pid" 2>/dev/null || true)
			# no pid yet: its test is reserving it right now
			[[ -z "$owner" ]] || kill -0 "$owner" 2>/dev/null && continue
		fi
		echo $$ >"$PORT_LOCKS/$port/pid"
		echo "$port"
		return 0
	done
	fail "no free port found"
}

release_ports() {
	grep -lx "$$" "$PORT_LOCKS"/*/pid 2>/dev/null | xargs -r dirname | xargs -r rm -rf
}

# A throw-away CA with its key in a file: enough for configs that need a CA.
make_file_ca() { # DIR
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1/ca.key" -out "$1/ca.pem" \
		-subj "/CN=scepd test CA" -days 30 \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
	chmod 600 "$1/ca.key"
}

# A throw-away CA that SCEP clients can use without an RA: they encrypt to it and check
# its signatures, so it needs digitalSignature and keyEncipherment besides keyCertSign
# (RFC 8894 2.1.2).
make_scep_ca() { # DIR [CN]
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1/ca.key" -out "$1/ca.pem" \
		-subj "/CN=${2:-scepd SCEP test CA}" -days 30 -addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature,keyEncipherment 2>/dev/null
	chmod 600 "$1/ca.key"
}

# The store of $SCEPD_TEST_STORE: store_prepare starts its server when it needs one
# (call it in the test's own shell, not in $(...)); store_config_line prints the
# storage setting for it.
store_prepare() {
	[[ $SCEPD_TEST_STORE != postgresql || -n "$PG_URI" ]] || pg_start
}

store_config_line() {
	if [[ $SCEPD_TEST_STORE == postgresql ]]; then
		echo "storage: { uri = \"$PG_URI\"; password = \"file:$PG_PIN_FILE\"; };"
	else
		echo "storage: { uri = \"sqlite:$TMP/scepd.db\"; };"
	fi
}

# write_config FILE [EXTRA_SERVER_SETTINGS]: a complete config on $PORT with a file CA
# and the store of $SCEPD_TEST_STORE.
write_config() {
	local file=$1 server_extra=${2:-}
	[[ -f "$TMP/ca.pem" ]] || make_file_ca "$TMP"
	store_prepare
	cat >"$file" <<CONF
server: {
	listen = ["127.0.0.1:$PORT"];
	$server_extra
};
ca: {
	certificate = "$TMP/ca.pem";
	key = "$TMP/ca.key";
};
$(store_config_line)
log: { level = "debug"; };
CONF
}

# open_csr FILE [SETTINGS]: serve /csr without authentication (csr.auth = "none"), for
# tests that POST to it; SETTINGS go into the same csr group. A config without a csr
# group does not serve /csr at all, so tests that write their own group write
# auth there instead.
open_csr() {
	echo "csr: { auth = \"none\"; ${2:-} };" >>"$1"
}

# The test's store, whichever it is: SQL as an argument, or statements on stdin; rows
# printed one a line, columns separated by '|'.
store_sql() { # [SQL]
	if [[ $SCEPD_TEST_STORE == postgresql ]]; then
		if [[ $# -gt 0 ]]; then pg_sql "$1"; else pg_sql_stdin; fi
	else
		sqlite3 "$TMP/scepd.db" "$@"
	fi
}

store_der_hex() { # SERIAL: the stored DER of that certificate, as hex
	if [[ $SCEPD_TEST_STORE == postgresql ]]; then
		pg_sql "SELECT encode(der, 'hex') FROM certificates WHERE serial = '$1'"
	else
		sqlite3 "$TMP/scepd.db" "SELECT hex(der) FROM certificates WHERE serial = '$1'"
	fi
}

# "ok" when the store is whole: SQLite's integrity_check; in PostgreSQL, whose pages
# the server checks, that every issued request names a recorded certificate.
store_integrity() {
	if [[ $SCEPD_TEST_STORE == postgresql ]]; then
		pg_sql "SELECT CASE WHEN count(*) = 0 THEN 'ok' ELSE 'dangling serials' END
			FROM pending_requests p LEFT JOIN certificates c ON c.serial = p.serial
			WHERE p.serial IS NOT NULL AND c.serial IS NULL"
	else
		sqlite3 "$TMP/scepd.db" "PRAGMA integrity_check"
	fi
}

# Start scepd in the foreground (logs in $TMP/scepd.log) and wait until it answers.
# Start scepd and wait until the supervisor says every worker of generation 1 is ready:
# /healthz answers as soon as the first worker is, and a worker that dies before the
# rest got ready makes scepd give up (a start-up failure), so a test that kills a
# worker must not act earlier.
start_scepd() { # CONFIG [ARGS...]
	local config=$1 before
	shift
	before=$(grep -c "supervisor: info: ready: generation" "$TMP/scepd.log" 2>/dev/null || true)
	"$SCEPD_BIN" -c "$config" -f "$@" >>"$TMP/scepd.log" 2>&1 &
	SCEPD_PID=$!
	wait_healthy
	for _ in $(seq 1 100); do
		(($(grep -c "supervisor: info: ready: generation" "$TMP/scepd.log" || true) > before)) &&
			return 0
		sleep 0.1
	done
	fail "scepd answered /healthz but did not log that all its workers are ready within 10 s"
}

wait_healthy() {
	for _ in $(seq 1 100); do
		curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && return 0
		kill -0 "$SCEPD_PID" 2>/dev/null || fail "scepd exited during start-up"
		sleep 0.1
	done
	fail "scepd did not answer /healthz within 10 s"
}

worker_pids() {
	pgrep -P "$SCEPD_PID" | sort -n | tr '\n' ' ' | sed 's/ $//'
}

worker_count() {
	pgrep -c -P "$SCEPD_PID" || true
}

# Wait up to SECONDS for the worker count to become N.
wait_worker_count() { # N SECONDS
	local tries=$(($2 * 10))
	for _ in $(seq 1 "$tries"); do
		[[ $(worker_count) -eq $1 ]] && return 0
		sleep 0.1
	done
	return 1
}

# Wait up to SECONDS for PID, a child of this shell, to exit; its exit status is then
# in EXIT_STATUS. Returns 1 when it is still running.
EXIT_STATUS=
wait_exit() { # PID SECONDS
	local tries=$(($2 * 20))
	for _ in $(seq 1 "$tries"); do
		if ! kill -0 "$1" 2>/dev/null; then
			EXIT_STATUS=0
			wait "$1" 2>/dev/null || EXIT_STATUS=$?
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# Open N idle connections from 127.0.0.1 (their fds in IDLE_FDS) and wait until the
# worker's threads took them all from the listen queue (Recv-Q 0): a connection made
# after that cannot be accepted before one of them.
IDLE_FDS=()
open_idle_connections() { # N
	local fd
	for _ in $(seq 1 "$1"); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" || fail "cannot open an idle connection"
		IDLE_FDS+=("$fd")
	done
	for _ in $(seq 1 100); do
		[[ $(ss -Hltn "sport = :$PORT" | awk '{ print $2 }') == 0 ]] && break
		sleep 0.05
	done
	sleep 0.3
}

# GET PATH N times, one connection each; prints how many requests failed.
request_loop() { # PATH N: prints the number of failed requests, says why on stderr
	local failed=0 i status rc
	for i in $(seq 1 "$2"); do
		rc=0
		status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
			"http://127.0.0.1:$PORT$1") || rc=$?
		if [[ $rc -ne 0 || $status != 200 ]]; then
			failed=$((failed + 1))
			echo "request $i of $2 to $1 failed: curl exit $rc, HTTP $status, $(date +%T.%N)" >&2
		fi
	done
	echo "$failed"
}

# scep_pkioperation NAME URL CA [scep_client request options...]: one PKIOperation of
# the project's SCEP client (tests/tools/scep_client) to the SCEP path URL, encrypted to
# CA (what GetCACert gave). VERDICT: "SUCCESS", "PENDING", "FAILURE badRequest"... or
# "HTTP 503" when the answer is not 200; the certificate in $TMP/NAME.pem on success,
# the answer's headers in $TMP/NAME.h.
scep_pkioperation() {
	local name=$1 url=$2 ca=$3 code
	shift 3
	"$SCEP_CLIENT" request --ca "$ca" --state "$TMP/$name.st" --out "$TMP/$name.msg" "$@" \
		2>"$TMP/$name.err" || fail "$name: scep_client request: $(cat "$TMP/$name.err")"
	code=$(curl -s -D "$TMP/$name.h" -o "$TMP/$name.rep" -w '%{http_code}' \
		-H 'Content-Type: application/x-pki-message' --data-binary @"$TMP/$name.msg" \
		"$url?operation=PKIOperation")
	[[ $code == 200 ]] || { VERDICT="HTTP $code"; return 0; }
	VERDICT=$("$SCEP_CLIENT" reply --in "$TMP/$name.rep" --state "$TMP/$name.st" \
		--out "$TMP/$name.pem" 2>"$TMP/$name.why") || true
}

wait_log() { # TEXT SECONDS: 0 once scepd's log has a line with TEXT (fixed string)
	local i
	for ((i = 0; i < $2 * 10; i++)); do
		grep -qF -- "$1" "$TMP/scepd.log" && return 0
		sleep 0.1
	done
	return 1
}

. "$(dirname "${BASH_SOURCE[0]}")/lib_pg.sh"
