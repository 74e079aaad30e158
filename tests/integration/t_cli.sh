#!/usr/bin/env bash
# The command line: --version, -h, -t on good and bad files, bad arguments.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
[[ "$("$SCEPD_BIN" --version)" =~ ^scepd\ [0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "--version"
"$SCEPD_BIN" -h | grep -q -- "--config FILE" || fail "-h does not describe -c"
rc=0; "$SCEPD_BIN" --bogus >/dev/null 2>&1 || rc=$?
assert_eq 1 "$rc" "exit status for an unknown option"
pass "--version, -h, unknown option"

write_config "$TMP/good.conf" "workers = 2;"
"$SCEPD_BIN" -c "$TMP/good.conf" -t >"$TMP/out" 2>&1 || fail "-t on a valid file: $(cat "$TMP/out")"
cat >"$TMP/bad.conf" <<CONF
server: {
	workers = -3;
	max_request_bytes = 100;
	wokers = 2;
};
ca: {
	certificate = "$TMP/missing.pem";
	key = "$TMP/missing.key";
};
CONF
rc=0; "$SCEPD_BIN" -c "$TMP/bad.conf" -t >"$TMP/out" 2>&1 || rc=$?
assert_eq 1 "$rc" "-t on a broken file"
grep -qx "$TMP/bad.conf:2: server.workers: -3 is out of range (0..1024)" "$TMP/out" ||
	fail "workers = -3 not reported: $(cat "$TMP/out")"
grep -qx "$TMP/bad.conf:3: server.max_request_bytes: 100 is out of range (4096..16777216)" "$TMP/out" ||
	fail "max_request_bytes = 100 not reported: $(cat "$TMP/out")"
grep -qx "$TMP/bad.conf:4: server.wokers: unknown setting 'wokers', did you mean 'workers'?" "$TMP/out" ||
	fail "wokers not reported: $(cat "$TMP/out")"
grep -q "^$TMP/bad.conf:7: ca.certificate: cannot read '$TMP/missing.pem'" "$TMP/out" ||
	fail "missing certificate not reported: $(cat "$TMP/out")"
pass "-t reports every error of a file with FILE:LINE"

rc=0; "$SCEPD_BIN" -c "$TMP/nonexistent.conf" -t >"$TMP/out" 2>&1 || rc=$?
assert_eq 1 "$rc" "-t on a missing file"
grep -q "nonexistent.conf" "$TMP/out" || fail "missing file not named"
pass "-t on a missing file"
