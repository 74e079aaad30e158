#!/usr/bin/env bash
# POST /csr with a file CA: PEM, DER and base64 requests; PEM, DER and PKCS#7 answers;
# what a user checks in the certificate; the record in the store; the errors.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
write_config "$TMP/scepd.conf" "workers = 2;"
cat >>"$TMP/scepd.conf" <<CONF
csr: {
	auth = "none";
	subject = { request = ["*"]; };
	subject_alt_name = { request = ["dNSName", "iPAddress"]; };
};
CONF
sed -i 's|^\tkey = "\(.*\)";|\tkey = "\1";\n\tdays = 30;|' "$TMP/scepd.conf"
start_scepd "$TMP/scepd.conf"
url=http://127.0.0.1:$PORT/csr

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/host.key" \
	-subj "/CN=host.example/O=Example" \
	-addext "subjectAltName=DNS:host.example,DNS:www.host.example,IP:192.0.2.7,email:x@example.org" \
	-out "$TMP/host.csr" 2>/dev/null

# PEM in, PEM out.
code=$(curl -s -o "$TMP/host.pem" -w '%{http_code}' --data-binary @"$TMP/host.csr" "$url")
assert_eq 200 "$code" "POST /csr (PEM)"
openssl verify -CAfile "$TMP/ca.pem" "$TMP/host.pem" >/dev/null || fail "certificate does not verify"
text=$(openssl x509 -in "$TMP/host.pem" -noout -text)
subject=$(openssl x509 -in "$TMP/host.pem" -noout -subject -nameopt RFC2253)
assert_eq "subject=O=Example,CN=host.example" "$subject" "subject"
grep -q "DNS:host.example, DNS:www.host.example, IP Address:192.0.2.7$" <<<"$text" ||
	fail "SANs: $(grep -A1 'Subject Alternative Name' <<<"$text")"
! grep -q "email:x@example.org" <<<"$text" || fail "rfc822Name copied though not requested"
grep -q "CA:FALSE" <<<"$text" || fail "no basicConstraints CA:FALSE"
grep -A1 "Key Usage: critical" <<<"$text" | grep -q "Digital Signature, Key Encipherment" ||
	fail "keyUsage"
grep -q "X509v3 Subject Key Identifier" <<<"$text" || fail "no SKI"
grep -q "X509v3 Authority Key Identifier" <<<"$text" || fail "no AKI"
openssl x509 -in "$TMP/host.pem" -noout -checkend $((29 * 86400)) >/dev/null ||
	fail "expires before 29 days"
! openssl x509 -in "$TMP/host.pem" -noout -checkend $((31 * 86400)) >/dev/null ||
	fail "valid for more than 30 days"
cmp <(openssl x509 -in "$TMP/host.pem" -noout -pubkey) <(openssl pkey -in "$TMP/host.key" -pubout) ||
	fail "certificate is not for the request's key"
serial=$(openssl x509 -in "$TMP/host.pem" -noout -serial | cut -d= -f2 | sed 's/^0*//')
[[ ${#serial} -ge 30 ]] || fail "random serial too short: $serial"
stored=$(store_sql "SELECT endpoint || ' ' || requester FROM certificates WHERE serial = '$serial'")
assert_eq "csr 127.0.0.1" "$stored" "store record of $serial"
store_der_hex "$serial" |
	xxd -r -p | cmp - <(openssl x509 -in "$TMP/host.pem" -outform DER) || fail "stored DER differs"
grep -q "audit: result=issued endpoint=csr profile=csr client=127.0.0.1 serial=$serial" "$TMP/scepd.log" ||
	fail "no audit record for $serial"
grep -q 'audit: result=signing endpoint=csr profile=csr client=127.0.0.1 subject="O=Example,CN=host.example"' \
	"$TMP/scepd.log" || fail "no audit record before signing"
pass "PEM request: certificate verifies, subject, SANs, extensions, validity, store, audit"

# DER in (application/pkcs10), DER out; base64 in, PKCS#7 out.
openssl req -in "$TMP/host.csr" -outform DER -out "$TMP/host.der"
code=$(curl -s -o "$TMP/host.cer" -w '%{http_code}' -H 'Content-Type: application/pkcs10' \
	-H 'Accept: application/pkix-cert' --data-binary @"$TMP/host.der" "$url")
assert_eq 200 "$code" "POST /csr (DER)"
openssl x509 -inform DER -in "$TMP/host.cer" -noout || fail "DER answer is not a certificate"
serial2=$(openssl x509 -inform DER -in "$TMP/host.cer" -noout -serial | cut -d= -f2 | sed 's/^0*//')
[[ "$serial2" != "$serial" ]] || fail "serial reused"
base64 "$TMP/host.der" >"$TMP/host.b64"
code=$(curl -s -o "$TMP/host.p7" -w '%{http_code}' -H 'Content-Type: text/plain' \
	-H 'Accept: application/pkcs7-mime' --data-binary @"$TMP/host.b64" "$url")
assert_eq 200 "$code" "POST /csr (base64)"
openssl pkcs7 -inform DER -in "$TMP/host.p7" -print_certs -out "$TMP/p7.pem" ||
	fail "PKCS#7 answer unreadable"
assert_eq 2 "$(grep -c 'BEGIN CERTIFICATE' "$TMP/p7.pem")" "certificates in the PKCS#7"
openssl x509 -in "$TMP/p7.pem" -noout -subject | grep -q "CN = host.example" ||
	fail "the PKCS#7's first certificate is not the leaf"
pass "DER and base64 requests; DER and PKCS#7 answers"

# Errors, each one line of text.
expect() { # CODE TEXT CURL-ARGS...
	local want_code=$1 want_text=$2
	shift 2
	code=$(curl -s -o "$TMP/body" -w '%{http_code}' "$@")
	assert_eq "$want_code" "$code" "status for: $want_text"
	assert_eq "$want_text" "$(cat "$TMP/body")" "text"
}
expect 400 "not a PKCS#10 certificate request (PEM, base64 or DER expected)" \
	--data-binary "hello" "$url"
# A request whose signature is broken: flip one bit near the end (in the signature).
size=$(stat -c %s "$TMP/host.der")
cp "$TMP/host.der" "$TMP/bad.der"
last=$(xxd -s $((size - 2)) -l 1 -p "$TMP/bad.der")
printf "$(printf '\\x%02x' $((0x$last ^ 1)))" |
	dd of="$TMP/bad.der" bs=1 seek=$((size - 2)) conv=notrunc 2>/dev/null
expect 400 "the request's signature does not verify" -H 'Content-Type: application/pkcs10' \
	--data-binary @"$TMP/bad.der" "$url"
expect 415 "unsupported content type: send a PKCS#10 request as application/pkcs10 or PEM text" \
	-H 'Content-Type: application/json' --data-binary @"$TMP/host.csr" "$url"
expect 405 "method not allowed" "$url"
head -c 204800 /dev/zero >"$TMP/big"
expect 413 "request body too large: the limit is 131072 bytes" --data-binary @"$TMP/big" "$url"
expect 413 "request body too large: the limit is 131072 bytes" -H 'Transfer-Encoding: chunked' \
	--data-binary @"$TMP/big" "$url"
grep -q "audit: result=bad-request endpoint=csr" "$TMP/scepd.log" || fail "no audit for the bad request"
assert_eq 0 "$(request_loop /healthz 5)" "requests after the errors"
pass "400 garbage, 400 broken signature, 415, 405, 413 (sized and chunked); the workers keep serving"

# 200 requests from 4 parallel clients over 2 workers: 200 unique serials, all stored.
before=$(store_sql "SELECT count(*) FROM certificates")
clients=()
for c in 1 2 3 4; do
	(for _ in $(seq 1 50); do
		curl -sf --data-binary @"$TMP/host.csr" "$url" | openssl x509 -noout -serial
	done >"$TMP/serials.$c") &
	clients+=($!)
done
wait "${clients[@]}"
cat "$TMP"/serials.* | cut -d= -f2 | sed 's/^0*//' | sort >"$TMP/serials"
assert_eq 200 "$(wc -l <"$TMP/serials")" "certificates received"
assert_eq 200 "$(uniq "$TMP/serials" | wc -l)" "distinct serials"
after=$(store_sql "SELECT count(*) FROM certificates")
assert_eq $((before + 200)) "$after" "records in the store"
while read -r s; do
	echo "SELECT count(*) FROM certificates WHERE serial = '$s';"
done <"$TMP/serials" | store_sql | sort -u | tr '\n' ' ' | grep -qx "1 " ||
	fail "a received certificate is not in the store"
assert_eq ok "$(store_integrity)" "integrity_check"
pass "200 requests, 4 clients, 2 workers: 200 distinct serials, all in the store"
