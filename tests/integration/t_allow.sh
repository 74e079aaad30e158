#!/usr/bin/env bash
# scep.allow and csr.allow: a client address outside the list gets 403 with one line,
# the log names it, and nothing is issued; inside the list it is served. Loopback has
# all of 127.0.0.0/8, so curl --interface 127.0.0.2 is a second client.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
url=http://127.0.0.1:$PORT
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
	-subj "/CN=allow.example" -out "$TMP/req.csr" 2>/dev/null

start_with() { # SCEP_ALLOW CSR_ALLOW
	write_config "$TMP/scepd.conf" "workers = 1;"
	echo "scep: { allow = [ $1 ]; };" >>"$TMP/scepd.conf"
	open_csr "$TMP/scepd.conf" "allow = [ $2 ];"
	start_scepd "$TMP/scepd.conf"
}

stop() {
	kill -TERM "$SCEPD_PID"
	wait_exit "$SCEPD_PID" 10 || fail "scepd did not stop"
}

status() { # PATH [CURL_ARGS...]: the HTTP status, the body in $TMP/body
	local path=$1
	shift
	curl -s -o "$TMP/body" -w '%{http_code}' --max-time 5 "$@" "$url$path"
}

curl -s -o /dev/null --max-time 2 --interface 127.0.0.2 "$url/" 2>/dev/null ||
	[[ $? -ne 45 ]] || skip "cannot bind 127.0.0.2 here"

# Only 127.0.0.2 may use /scep and /csr.
start_with '"127.0.0.2/32"' '"127.0.0.2", "::1"'
assert_eq 403 "$(status '/scep?operation=GetCACaps')" "GetCACaps from 127.0.0.1"
assert_eq "forbidden: this address may not use /scep" "$(cat "$TMP/body")" "the 403 text"
assert_eq 403 "$(status '/cgi-bin/pkiclient.exe?operation=GetCACaps')" \
	"the legacy path from 127.0.0.1"
assert_eq 403 "$(status /csr --data-binary @"$TMP/req.csr")" "POST /csr from 127.0.0.1"
assert_eq "forbidden: this address may not use /csr" "$(cat "$TMP/body")" "the 403 text"
assert_eq 0 "$(store_sql "SELECT count(*) FROM certificates")" "certificates issued"
grep -q "POST /csr from 127.0.0.1: refused, the address is not in the allow-list of /csr" \
	"$TMP/scepd.log" || fail "no log line for the refused /csr"
grep -q "GET /scep from 127.0.0.1: refused" "$TMP/scepd.log" ||
	fail "no log line for the refused /scep"
! grep -q "audit: .*endpoint=csr" "$TMP/scepd.log" || fail "an audit record for a refused client"
assert_eq 200 "$(status /healthz)" "/healthz is for everyone"
assert_eq 200 "$(status '/scep?operation=GetCACaps' --interface 127.0.0.2)" \
	"GetCACaps from 127.0.0.2"
assert_eq 200 "$(status /csr --interface 127.0.0.2 --data-binary @"$TMP/req.csr")" \
	"POST /csr from 127.0.0.2"
assert_eq 1 "$(store_sql "SELECT count(*) FROM certificates")" "certificates issued"
stop
pass "allow = 127.0.0.2: 127.0.0.1 gets 403 on /scep, the legacy path and /csr; 127.0.0.2 is served"

# A network that holds 127.0.0.1, written as IPv4 and as IPv4-mapped IPv6.
start_with '"127.0.0.0/8"' '"::ffff:127.0.0.0/104"'
assert_eq 200 "$(status '/scep?operation=GetCACaps')" "GetCACaps from 127.0.0.1 in 127.0.0.0/8"
assert_eq 200 "$(status /csr --data-binary @"$TMP/req.csr")" "POST /csr from 127.0.0.1"
stop
pass "allow = 127.0.0.0/8 (and ::ffff:127.0.0.0/104): 127.0.0.1 is served"
