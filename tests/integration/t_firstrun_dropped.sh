#!/usr/bin/env bash
# What the policy leaves out of a certificate is said, not silently dropped (docs/api.md,
# "What the policy dropped"): under the default csr policy (subject_alt_name.request
# empty) a /csr request with subjectAltNames gets a certificate without them, a
# Scepd-Dropped header naming each, and a notice log line naming them; with the names
# allowed the certificate has them and there is no header. A subject field that
# subject.request does not list is named too. A name crafted to look like a second
# entry of the list, or to end the header, is escaped. SCEP, which has no header, says
# it in the log line: a name with a line break, dropped, forges no log line.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
csr() { # FILE SUBJECT SAN
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/k.key" \
		-subj "$2" -addext "subjectAltName=$3" -out "$1" 2>/dev/null
}
post() { # CSR: the certificate in $TMP/cert.pem, the headers in $TMP/headers
	code=$(curl -s -D "$TMP/headers" -o "$TMP/cert.pem" -w '%{http_code}' \
		--data-binary @"$1" "http://127.0.0.1:$PORT/csr")
	assert_eq 200 "$code" "POST /csr"
}
dropped_header() {
	grep -i '^Scepd-Dropped:' "$TMP/headers" | sed 's/^[^:]*: //' | tr -d '\r'
}
sans_of() {
	openssl x509 -in "$TMP/cert.pem" -noout -ext subjectAltName 2>/dev/null | tail -n +2 |
		sed 's/^ *//'
}

# The default policy: no subjectAltName is copied.
make_scep_ca "$TMP"
write_config "$TMP/scepd.conf"
open_csr "$TMP/scepd.conf"
printf 'open-sesame' >"$TMP/challenge"
echo "scep: { challenge = { mode = \"static\"; secret = \"file:$TMP/challenge\"; }; };" \
	>>"$TMP/scepd.conf"
start_scepd "$TMP/scepd.conf"
csr "$TMP/web.csr" "/CN=www.example.com" "DNS:www.example.com,IP:192.0.2.1"
post "$TMP/web.csr"
assert_eq "" "$(sans_of)" "subjectAltName of the certificate under the default policy"
assert_eq "subjectAltName=DNS:www.example.com; subjectAltName=IP:192.0.2.1" "$(dropped_header)" \
	"Scepd-Dropped under the default policy"
wait_log "dropped: subjectAltName=DNS:www.example.com; subjectAltName=IP:192.0.2.1" 5 ||
	fail "no log line names the dropped names: $(tail -3 "$TMP/scepd.log")"
grep "dropped: subjectAltName=DNS:www.example.com" "$TMP/scepd.log" | grep -q ": notice: " ||
	fail "the log line is not at notice level"
pass "default policy: the SANs are dropped, and the header and the log say which"

# A name made to pass for more entries, or to end the header line: escaped.
csr "$TMP/evil.csr" "/CN=evil.example" "DNS:x.example;subject=CN"
post "$TMP/evil.csr"
assert_eq 'subjectAltName=DNS:x.example\x3Bsubject=CN' "$(dropped_header)" \
	"Scepd-Dropped of a crafted name"
assert_eq 1 "$(grep -ci '^Scepd-Dropped:' "$TMP/headers")" "Scepd-Dropped headers"
pass "a crafted name is escaped, one header"

# SCEP: the log line names what was dropped; a line break in a name is escaped.
if [[ -x "${SCEP_CLIENT:-}" ]]; then
	url=http://127.0.0.1:$PORT/scep
	curl -sf -o "$TMP/ca.bin" "$url?operation=GetCACert" || fail "GetCACert"
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/dev.key" 2>/dev/null
	"$SCEP_CLIENT" request --ca "$TMP/ca.bin" --state "$TMP/dev.st" --out "$TMP/dev.msg" \
		--format der --txid firstrun-dropped --key "$TMP/dev.key" --subject /CN=dev \
		--challenge open-sesame --san $'DNS:dev.example\nscepd[1] supervisor: info: forged' \
		2>"$TMP/dev.err" || fail "scep_client request: $(cat "$TMP/dev.err")"
	code=$(curl -s -o "$TMP/dev.rep" -w '%{http_code}' -H 'Content-Type: application/x-pki-message' \
		--data-binary @"$TMP/dev.msg" "$url?operation=PKIOperation")
	assert_eq 200 "$code" "SCEP PKIOperation"
	assert_eq SUCCESS "$("$SCEP_CLIENT" reply --in "$TMP/dev.rep" --state "$TMP/dev.st" \
		--out "$TMP/dev.pem" 2>/dev/null)" "SCEP enrolment with a SAN the policy drops"
	openssl x509 -in "$TMP/dev.pem" -noout -ext subjectAltName 2>/dev/null | grep -q DNS &&
		fail "the SCEP certificate has the dropped SAN"
	wait_log 'scep profile scep: serial=' 5 || fail "no SCEP dropped line: $(tail -3 "$TMP/scepd.log")"
	grep -q 'dropped: subjectAltName=DNS:dev.example\\x0Ascepd\[1\]\\x20supervisor:' "$TMP/scepd.log" ||
		fail "the SCEP line does not name the escaped SAN: $(grep 'scep profile' "$TMP/scepd.log")"
	! grep -q "^scepd\[1\] supervisor: info: forged" "$TMP/scepd.log" || fail "a forged log line"
	pass "SCEP: the dropped SAN is named, escaped, in the log line"
fi

# A request without subjectAltName: nothing dropped, no header.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/k.key" \
	-subj "/CN=plain.example" -out "$TMP/plain.csr" 2>/dev/null
post "$TMP/plain.csr"
assert_eq "" "$(dropped_header)" "Scepd-Dropped for a request without SANs"
kill "$SCEPD_PID"
wait "$SCEPD_PID" 2>/dev/null || true

# The names allowed (docs/api.md's example config): copied, no header. A subject field
# that subject.request leaves out is named.
sed -i '/^csr:/d' "$TMP/scepd.conf"
open_csr "$TMP/scepd.conf" 'subject = { request = [ "CN" ]; }; subject_alt_name = { request = [ "dNSName", "iPAddress" ]; };'
start_scepd "$TMP/scepd.conf"
post "$TMP/web.csr"
assert_eq "DNS:www.example.com, IP Address:192.0.2.1" "$(sans_of)" \
	"subjectAltName of the certificate with the names allowed"
assert_eq "" "$(dropped_header)" "Scepd-Dropped with the names allowed"
csr "$TMP/ou.csr" "/CN=www.example.com/OU=Web" "DNS:www.example.com"
post "$TMP/ou.csr"
assert_eq "subject=OU" "$(dropped_header)" "Scepd-Dropped of a subject field"
openssl x509 -in "$TMP/cert.pem" -noout -subject | grep -q "OU" && fail "the certificate has the OU"
pass "with the names allowed: copied, no header; a dropped subject field is named"
