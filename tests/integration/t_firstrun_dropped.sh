#!/usr/bin/env bash
# What the policy leaves out of a certificate is said, not silently dropped (docs/api.md,
# "What the policy dropped"): under the default csr policy (subject_alt_name.request
# empty) a /csr request with subjectAltNames gets a certificate without them, a
# Scepd-Dropped header naming each, and a notice log line naming them; with the names
# allowed the certificate has them and there is no header. A subject field that
# subject.request does not list is named too. A name crafted to look like a second
# entry of the list, or to end the header, is escaped.
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
write_config "$TMP/scepd.conf"
open_csr "$TMP/scepd.conf"
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
