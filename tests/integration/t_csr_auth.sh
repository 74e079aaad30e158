#!/usr/bin/env bash
# /csr is closed unless the configuration says how its clients authenticate: without
# a csr group POST /csr gets 404 and nothing is issued; a csr group without auth fails
# `scepd -t` naming the line; auth = "none" serves /csr, and `scepd -t` warns (exit 0).
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
	-subj "/CN=open.example" -out "$TMP/req.csr" 2>/dev/null

# No csr group: /csr does not exist.
write_config "$TMP/scepd.conf" "workers = 1;"
"$SCEPD_BIN" -c "$TMP/scepd.conf" -t >"$TMP/t.out" 2>"$TMP/t.err" ||
	fail "scepd -t refuses a config without csr group: $(cat "$TMP/t.err")"
! grep -q "csr.auth" "$TMP/t.err" || fail "a warning about csr.auth without a csr group"
start_scepd "$TMP/scepd.conf"
code=$(curl -s -o "$TMP/out" -w '%{http_code}' --data-binary @"$TMP/req.csr" \
	"http://127.0.0.1:$PORT/csr")
assert_eq 404 "$code" "POST /csr without a csr group"
assert_eq "not found: /csr" "$(cat "$TMP/out")" "the 404 text"
assert_eq 0 "$(store_sql "SELECT count(*) FROM certificates")" "certificates issued"
! grep -q "audit: .*endpoint=csr" "$TMP/scepd.log" || fail "an audit record for /csr"
kill -TERM "$SCEPD_PID"
wait_exit "$SCEPD_PID" 10 || fail "scepd did not stop"
pass "no csr group: POST /csr is 404 and issues nothing"

# A csr group without auth: an error with its line, the exit code 1.
write_config "$TMP/scepd.conf" "workers = 1;"
line=$(($(wc -l <"$TMP/scepd.conf") + 1))
echo 'csr: { subject = { request = ["CN"]; }; };' >>"$TMP/scepd.conf"
rc=0
"$SCEPD_BIN" -c "$TMP/scepd.conf" -t >"$TMP/t.out" 2>"$TMP/t.err" || rc=$?
assert_eq 1 "$rc" "scepd -t with a csr group without auth"
grep -qxF "$TMP/scepd.conf:$line: csr.auth: required: say how /csr clients authenticate (\"none\" or \"tokens:PATH\")" \
	"$TMP/t.err" || fail "scepd -t did not name csr.auth: $(cat "$TMP/t.err")"
pass "a csr group without auth: scepd -t fails with FILE:LINE: csr.auth: required"

# auth = "none": served, and scepd -t warns but passes.
write_config "$TMP/scepd.conf" "workers = 1;"
line=$(($(wc -l <"$TMP/scepd.conf") + 1))
open_csr "$TMP/scepd.conf"
rc=0
"$SCEPD_BIN" -c "$TMP/scepd.conf" -t >"$TMP/t.out" 2>"$TMP/t.err" || rc=$?
assert_eq 0 "$rc" "scepd -t with csr.auth = \"none\" ($(cat "$TMP/t.err"))"
grep -qxF "$TMP/scepd.conf:$line: csr.auth: warning: \"none\": anyone who can reach the port gets a certificate from /csr; use \"tokens:PATH\" or set csr.allow" \
	"$TMP/t.err" || fail "no warning about an open /csr: $(cat "$TMP/t.err")"
grep -q "configuration OK" "$TMP/t.out" || fail "scepd -t did not say OK"
start_scepd "$TMP/scepd.conf"
code=$(curl -s -o "$TMP/cert.pem" -w '%{http_code}' --data-binary @"$TMP/req.csr" \
	"http://127.0.0.1:$PORT/csr")
assert_eq 200 "$code" "POST /csr with auth = \"none\""
openssl verify -CAfile "$TMP/ca.pem" "$TMP/cert.pem" >/dev/null || fail "certificate does not verify"
grep -q "supervisor: warning: .*csr.auth: warning: \"none\": anyone who can reach the port" \
	"$TMP/scepd.log" || fail "the running daemon does not log the warning"
pass "auth = \"none\": /csr issues, scepd -t warns and exits 0, the daemon logs the warning"
