#!/usr/bin/env bash
# A configuration problem that only shows when a worker sets up (an engine command
# that fails, a tokens file with a bad line) is logged by the worker with the same
# "FILE:LINE: setting" as `scepd -t` prints for it, never "FILE:0:".
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
make_file_ca "$TMP"
store_prepare

# The line of CONFIG where PATTERN (a fixed string) first occurs.
line_of() { # CONFIG PATTERN
	grep -nF -- "$2" "$1" | head -n 1 | cut -d: -f1
}

# run_worker CONFIG: start scepd (not -t) and wait for it to give up; its log in
# $TMP/scepd.log, the text of the worker's error lines in $TMP/worker.err.
run_worker() {
	: >"$TMP/scepd.log"
	"$SCEPD_BIN" -c "$1" -f >>"$TMP/scepd.log" 2>&1 &
	SCEPD_PID=$!
	wait_exit "$SCEPD_PID" 60 || fail "$1: scepd still runs"
	SCEPD_PID=
	assert_eq 1 "$EXIT_STATUS" "$1: exit code at start-up"
	sed -n 's/^scepd\[[0-9]*\] worker [0-9]* gen [0-9]*: error: //p' "$TMP/scepd.log" \
		>"$TMP/worker.err"
	[[ -s "$TMP/worker.err" ]] || fail "$1: no error from the worker: $(cat "$TMP/scepd.log")"
}

# 1. engine.pre[0] (SO_PATH) cannot be loaded: an element of a list, on a line of
# its own below the list's. -t and the worker name that line.
cat >"$TMP/engine.conf" <<CONF
server: { listen = ["127.0.0.1:$PORT"]; workers = 1; };
engine: {
	id = "dynamic";
	pre = (
		("SO_PATH", "$TMP/no-such-engine.so"),
		("LOAD")
	);
};
ca: {
	certificate = "$TMP/ca.pem";
	key = "$TMP/ca.key";
};
$(store_config_line)
CONF
line=$(line_of "$TMP/engine.conf" '("SO_PATH"')
rc=0
"$SCEPD_BIN" -c "$TMP/engine.conf" -t >"$TMP/t.out" 2>"$TMP/t.err" || rc=$?
assert_eq 1 "$rc" "-t with an engine that cannot be loaded"
assert_eq 1 "$(wc -l <"$TMP/t.err")" "lines from -t ($(cat "$TMP/t.err"))"
[[ "$(cat "$TMP/t.err")" == "$TMP/engine.conf:$line: engine.pre[0]: "* ]] ||
	fail "-t: expected '$TMP/engine.conf:$line: engine.pre[0]: ...', got '$(cat "$TMP/t.err")'"
run_worker "$TMP/engine.conf"
assert_eq "$(cat "$TMP/t.err")" "$(cat "$TMP/worker.err")" "the worker's line against -t's"
pass "engine.pre[0] that cannot be loaded: the worker logs -t's line ($TMP/engine.conf:$line)"

# 2. A tokens file with a bad line: the worker names csr.auth where it was written,
# then the tokens file and its line.
printf '%s\n' "ok:$(printf 'x' | sha256sum | cut -d' ' -f1)" "not a token line" >"$TMP/tokens"
cat >"$TMP/tokens.conf" <<CONF
server: { listen = ["127.0.0.1:$PORT"]; workers = 1; };
ca: {
	certificate = "$TMP/ca.pem";
	key = "$TMP/ca.key";
};
csr: {
	path = "/csr";
	auth = "tokens:$TMP/tokens";
};
$(store_config_line)
CONF
line=$(line_of "$TMP/tokens.conf" 'auth =')
"$SCEPD_BIN" -c "$TMP/tokens.conf" -t >/dev/null 2>&1 || fail "-t refuses $TMP/tokens.conf"
run_worker "$TMP/tokens.conf"
assert_eq "$TMP/tokens.conf:$line: csr.auth: $TMP/tokens:2: expected name:sha256hex" \
	"$(cat "$TMP/worker.err")" "the worker's line for a bad tokens file"
pass "a bad tokens file: the worker names csr.auth at $TMP/tokens.conf:$line"
