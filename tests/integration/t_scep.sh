#!/usr/bin/env bash
# SCEP with micromdm's scepclient (Debian package scep): GetCACaps and GetCACert as
# clients expect them, enrolment without a challenge, with a static one (a wrong one
# fails), renewal, with an RA; what is not a pkiMessage gets 400 and the workers keep serving.
. "$(dirname "$0")/lib.sh"
command -v scepclient >/dev/null || skip "scepclient (package scep) not installed"

PORT=$(free_port)
url=http://127.0.0.1:$PORT/scep
make_scep_ca "$TMP" # no RA: clients encrypt to the CA
printf 'sesame\n' >"$TMP/challenge"

scep_config() { # CHALLENGE-BLOCK [RA-BLOCK]
	write_config "$TMP/scepd.conf" "workers = 2;"
	cat >>"$TMP/scepd.conf" <<CONF
scep: {
	challenge = { $1 };
	${2:-}
	subject = { request = ["*"]; };
};
CONF
}

# scepclient keeps csr.pem and self.pem beside its key and reuses them: a directory
# per client, the certificate copied out as $TMP/NAME.pem.
enrol() { # NAME [scepclient args...]: 0 when a certificate came back
	local name=$1 dir=$TMP/client-$1
	shift
	rm -rf "$dir" "$TMP/$name.pem"
	mkdir -p "$dir"
	timeout 30 scepclient -server-url "$url" -private-key "$dir/key.pem" \
		-certificate "$dir/cert.pem" -cn "$name" "$@" >"$TMP/$name.out" 2>&1 &&
		[[ -s "$dir/cert.pem" ]] && cp "$dir/cert.pem" "$TMP/$name.pem"
}

scep_config 'mode = "none";'
start_scepd "$TMP/scepd.conf"

caps=$(curl -s -D "$TMP/h" "$url?operation=GetCACaps")
grep -qi '^Content-Type: text/plain' "$TMP/h" || fail "GetCACaps content type"
for cap in POSTPKIOperation SHA-256 SHA-512 SHA-1 AES DES3 SCEPStandard Renewal SHA-384 SHA-224; do
	grep -qx "$cap" <<<"$caps" || fail "GetCACaps lacks $cap"
done
! grep -qx "GetNextCACert" <<<"$caps" || fail "GetNextCACert offered without a next CA"
! grep -qiE '^(DES|MD5)$' <<<"$caps" || fail "single DES or MD5 offered"
curl -s -D "$TMP/h" -o "$TMP/ca.der" "$url?operation=GetCACert&message=0"
grep -qx $'Content-Type: application/x-x509-ca-cert\r' "$TMP/h" || fail "GetCACert content type: $(cat "$TMP/h")"
grep -qi '^Cache-Control: max-age=[0-9]' "$TMP/h" || fail "GetCACert without max-age"
cmp "$TMP/ca.der" <(openssl x509 -in "$TMP/ca.pem" -outform DER) || fail "GetCACert is not the CA"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' \
	"http://127.0.0.1:$PORT/cgi-bin/pkiclient.exe?operation=GetCACaps")" "the legacy path"
pass "GetCACaps and GetCACert as clients expect them"

enrol dev1 || fail "scepclient without a challenge: $(tail -3 "$TMP/dev1.out")"
openssl verify -CAfile "$TMP/ca.pem" "$TMP/dev1.pem" >/dev/null || fail "dev1 does not verify"
openssl x509 -in "$TMP/dev1.pem" -noout -subject | grep -q "CN = dev1" || fail "dev1 subject"
serial=$(openssl x509 -in "$TMP/dev1.pem" -noout -serial | cut -d= -f2 | sed 's/^0*//')
assert_eq "scep" "$(store_sql "SELECT endpoint FROM certificates WHERE serial = '$serial' AND transaction_id IS NOT NULL")" \
	"store record with a transaction id"
pass "scepclient enrols without a challenge; certificate verifies and is on record"

# What is not a pkiMessage: 400 with one line, never 5xx; then the workers still serve.
for body in "" "garbage" "$(head -c 3000 /dev/urandom | base64 -w0)"; do
	code=$(curl -s -o "$TMP/body" -w '%{http_code}' -H 'Content-Type: application/x-pki-message' \
		--data-binary "$body" "$url?operation=PKIOperation")
	assert_eq 400 "$code" "POST of a non-pkiMessage"
	assert_eq 1 "$(wc -l <"$TMP/body")" "400 body lines"
done
assert_eq 400 "$(curl -s -o /dev/null -w '%{http_code}' "$url?operation=PKIOperation&message=%%%")" \
	"GET with bad base64"
assert_eq 400 "$(curl -s -o "$TMP/body" -w '%{http_code}' "$url?operation=Bogus%0AForged:%20yes")" \
	"unknown operation"
assert_eq "unknown operation: Bogus?Forged: yes" "$(cat "$TMP/body")" "the answer to an unknown operation"
assert_eq 400 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-pki-message' \
	--data-binary x "$url?operation=Bogus")" "POST of an unknown operation"
assert_eq 405 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-pki-message' \
	--data-binary x "$url?operation=GetCACaps")" "POST GetCACaps"
assert_eq 400 "$(curl -s -o /dev/null -w '%{http_code}' "$url")" "no operation"
assert_eq 0 "$(request_loop /healthz 5)" "requests after the bad messages"
pass "non-pkiMessages get 400; the workers keep serving"

# A static challenge.
kill -TERM "$SCEPD_PID"
wait_exit "$SCEPD_PID" 5 || fail "did not stop"
scep_config "mode = \"static\"; secret = \"file:$TMP/challenge\";"
start_scepd "$TMP/scepd.conf"
! enrol nochallenge || fail "enrolled without the challenge"
! enrol wrong -challenge nope || fail "enrolled with a wrong challenge"
grep -q "FAILURE badRequest: wrong challenge password" "$TMP/scepd.log" || fail "no log of the wrong challenge"
enrol right -challenge sesame || fail "the right challenge: $(tail -3 "$TMP/right.out")"
openssl verify -CAfile "$TMP/ca.pem" "$TMP/right.pem" >/dev/null || fail "does not verify"
pass "static challenge: missing and wrong refused, right one enrols"

# scepclient renews when it finds its certificate: a RenewalReq signed by it, with the
# same key and so the same transactionID, and no challenge. A new certificate.
dir=$TMP/client-right
cp "$dir/cert.pem" "$TMP/right-old.pem"
sleep 1.1 # a later notAfter
timeout 30 scepclient -server-url "$url" -private-key "$dir/key.pem" -certificate "$dir/cert.pem" \
	-cn right >"$TMP/renew.out" 2>&1 || fail "scepclient renewal: $(tail -3 "$TMP/renew.out")"
openssl verify -CAfile "$TMP/ca.pem" "$dir/cert.pem" >/dev/null || fail "the renewed certificate does not verify"
[[ $(openssl x509 -in "$dir/cert.pem" -noout -serial) != $(openssl x509 -in "$TMP/right-old.pem" -noout -serial) ]] ||
	fail "scepclient's renewal got the old certificate again"
grep -q "renewal of serial" "$TMP/scepd.log" || fail "scepd did not log a renewal"
pass "scepclient renews with its certificate: a new certificate, no challenge"

# An RA with its own key: GetCACert is a PKCS#7 of RA and CA, clients encrypt to the RA.
kill -TERM "$SCEPD_PID"
wait_exit "$SCEPD_PID" 5 || fail "did not stop"
openssl req -new -newkey rsa:2048 -nodes -keyout "$TMP/ra.key" -subj "/CN=scepd test RA" \
	-out "$TMP/ra.csr" 2>/dev/null
openssl x509 -req -in "$TMP/ra.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
	-days 30 -out "$TMP/ra.pem" \
	-extfile <(printf 'keyUsage=critical,digitalSignature,keyEncipherment\n') 2>/dev/null
scep_config 'mode = "none";' "ra = { certificate = \"$TMP/ra.pem\"; key = \"$TMP/ra.key\"; };"
start_scepd "$TMP/scepd.conf"
curl -s -D "$TMP/h" -o "$TMP/ca-ra.p7" "$url?operation=GetCACert"
grep -qx $'Content-Type: application/x-x509-ca-ra-cert\r' "$TMP/h" || fail "GetCACert with an RA: $(cat "$TMP/h")"
assert_eq 2 "$(openssl pkcs7 -inform DER -in "$TMP/ca-ra.p7" -print_certs | grep -c '^subject=')" \
	"certificates in the ca-ra-cert answer"
enrol viara || fail "scepclient through the RA: $(tail -3 "$TMP/viara.out")"
openssl verify -CAfile "$TMP/ca.pem" "$TMP/viara.pem" >/dev/null || fail "does not verify"
pass "RA: ca-ra-cert answer, enrolment through the RA"
