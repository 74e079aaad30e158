#!/usr/bin/env bash
# CRLs: an RSA CA on a SoftHSM token and a P-256 CA in a file, each with crl.path. The
# list is signed in the workers (the token key), carries cRLNumber and
# authorityKeyIdentifier, and OpenSSL's own tools read it: `openssl crl` verifies it
# against the CA and lists a certificate revoked with `scepctl revoke` (with its reason)
# within seconds; `openssl verify -crl_check` then refuses that certificate and accepts
# another; a hold lifted with `scepctl unrevoke` leaves the list; every new list has a
# higher number; both workers serve the same bytes; PEM at path.pem; ETag and 304.
# SCEP GetCRL (RFC 8894 3.3.4) on a profile of the RSA CA answers the same bytes as
# GET path, and badCertId when it names another CA as issuer.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_hsm.sh"

[[ -x "${SCEP_CLIENT:-}" ]] || skip "SCEP_CLIENT (tests/tools/scep_client) not built"

make_token scepd-test
make_token_ca rsa-ca rsa:2048
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/ec-ca.key" \
	-out "$TMP/ec-ca.pem" -subj "/CN=ec-ca" -days 30 -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature 2>/dev/null

PORT=$(free_port)
base=http://127.0.0.1:$PORT
store_prepare
cat >"$TMP/scepd.conf" <<CONF
server: { listen = ["127.0.0.1:$PORT"]; workers = 2; };
$(engine_config)
cas: {
	rsa: {
		certificate = "$HSM_DIR/rsa-ca.pem";
		key = "$(token_key_uri rsa-ca)";
		crl = { path = "/crl/rsa.crl"; days = 7; refresh = 3600; };
	};
	ec: {
		certificate = "$TMP/ec-ca.pem";
		key = "$TMP/ec-ca.key";
		crl = { path = "/crl/ec.crl"; days = 2; };
	};
};
profiles: {
	devices: { type = "csr"; path = "/csr/devices"; ca = "rsa"; auth = "none"; };
	servers: { type = "csr"; path = "/csr/servers"; ca = "ec"; auth = "none"; };
	phones: { type = "scep"; path = "/scep/phones"; ca = "rsa"; refusals_per_minute = 0;
		  challenge = { mode = "otp"; }; };
};
$(store_config_line)
log: { level = "debug"; };
CONF
"$SCEPD_BIN" -c "$TMP/scepd.conf" -t >"$TMP/check.out" 2>&1 || fail "scepd -t: $(cat "$TMP/check.out")"
start_scepd "$TMP/scepd.conf"

ctl() { "$SCEPCTL_BIN" -c "$TMP/scepd.conf" "$@"; }
serial_of() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//; s/^0*//'; }

for name in phone1 phone2 phone3; do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=$name" -out "$TMP/$name.csr" 2>/dev/null
	assert_eq 200 "$(curl -s -o "$TMP/$name.pem" -w '%{http_code}' --data-binary @"$TMP/$name.csr" \
		"$base/csr/devices")" "POST /csr/devices for $name"
done
assert_eq 200 "$(curl -s -o "$TMP/web.pem" -w '%{http_code}' --data-binary @"$TMP/phone1.csr" \
	"$base/csr/servers")" "POST /csr/servers"

# get NAME: the CA's CRL (DER) into $TMP/NAME.crl, its headers into $TMP/NAME.h
get() {
	assert_eq 200 "$(curl -s -D "$TMP/$1.h" -o "$TMP/$1.crl" -w '%{http_code}' "$base/crl/$2.crl")" \
		"GET /crl/$2.crl ($1)"
	grep -qix $'Content-Type: application/pkix-crl\r' "$TMP/$1.h" || fail "$1: $(cat "$TMP/$1.h")"
}
crl_number() { openssl crl -inform DER -in "$1" -noout -crlnumber | sed 's/^crlNumber=0x//'; }
# The serials a CRL lists, as the store writes them (no leading zeros), one a line.
crl_serials() { openssl crl -inform DER -in "$1" -noout -text | sed -n 's/^ *Serial Number: 0*//p'; }

get empty rsa
openssl crl -inform DER -in "$TMP/empty.crl" -CAfile "$HSM_DIR/rsa-ca.pem" -noout 2>&1 |
	grep -q "verify OK" || fail "the RSA CA's CRL does not verify against the CA"
openssl crl -inform DER -in "$TMP/empty.crl" -noout -text >"$TMP/empty.txt"
grep -q "No Revoked Certificates" "$TMP/empty.txt" || fail "a fresh CRL lists something"
grep -q "X509v3 Authority Key Identifier" "$TMP/empty.txt" || fail "no authorityKeyIdentifier"
grep -q "Issuer: CN = rsa-ca" "$TMP/empty.txt" || fail "issuer: $(grep Issuer "$TMP/empty.txt")"
grep -qi "^Cache-Control: max-age=" "$TMP/empty.h" || fail "no Cache-Control"
grep -qi "^Last-Modified: " "$TMP/empty.h" || fail "no Last-Modified"
n0=$((16#$(crl_number "$TMP/empty.crl")))
pass "an empty CRL, signed with the token key, verifies against the CA (cRLNumber $n0)"

# Revoked: in the list within seconds, with its reason; verify -crl_check refuses it.
ctl revoke "$(serial_of "$TMP/phone1.pem")" --reason keyCompromise >/dev/null || fail "scepctl revoke"
found=
for _ in $(seq 1 30); do
	get revoked rsa
	if crl_serials "$TMP/revoked.crl" | grep -qx "$(serial_of "$TMP/phone1.pem")"; then
		found=yes
		break
	fi
	sleep 0.1
done
[[ -n $found ]] || fail "the revoked serial is not in the CRL after 3 s"
openssl crl -inform DER -in "$TMP/revoked.crl" -noout -text >"$TMP/revoked.txt"
grep -q "Key Compromise" "$TMP/revoked.txt" || fail "no reason in the CRL: $(cat "$TMP/revoked.txt")"
n1=$((16#$(crl_number "$TMP/revoked.crl")))
((n1 > n0)) || fail "cRLNumber did not increase: $n0 then $n1"
openssl crl -inform DER -in "$TMP/revoked.crl" -out "$TMP/revoked-crl.pem"
! openssl verify -crl_check -CRLfile "$TMP/revoked-crl.pem" -CAfile "$HSM_DIR/rsa-ca.pem" \
	"$TMP/phone1.pem" >"$TMP/verify.out" 2>&1 || fail "verify -crl_check accepts the revoked certificate"
grep -q "certificate revoked" "$TMP/verify.out" || fail "verify: $(cat "$TMP/verify.out")"
openssl verify -crl_check -CRLfile "$TMP/revoked-crl.pem" -CAfile "$HSM_DIR/rsa-ca.pem" \
	"$TMP/phone2.pem" >/dev/null || fail "verify -crl_check refuses a certificate that is not revoked"
pass "scepctl revoke: in the CRL within seconds with its reason; verify -crl_check refuses it, accepts another"

# Both workers, and the PEM form, serve the same list; the ETag gives 304. The other
# worker looks at the store at most once a second: until then it may serve the list
# it had before the revocation.
sleep 1.2
for i in 1 2 3 4 5 6; do
	get same$i rsa
	cmp -s "$TMP/same$i.crl" "$TMP/revoked.crl" || fail "request $i got another CRL"
done
curl -sf -o "$TMP/crl.pem" "$base/crl/rsa.crl.pem" || fail "GET /crl/rsa.crl.pem"
cmp -s "$TMP/crl.pem" "$TMP/revoked-crl.pem" || fail "the PEM form is not the DER list"
etag=$(sed -n 's/^[Ee][Tt][Aa][Gg]: \(.*\)\r$/\1/p' "$TMP/revoked.h")
[[ -n $etag ]] || fail "no ETag"
assert_eq 304 "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$base/crl/rsa.crl")" \
	"GET with If-None-Match of the current ETag"
pass "every worker serves the same list; PEM at .pem; 304 for the current ETag"

# A hold: listed, then lifted and gone; each list numbered higher. The other CA's list
# knows nothing of this CA's revocations.
ctl revoke "$(serial_of "$TMP/phone2.pem")" --reason certificateHold >/dev/null || fail "revoke (hold)"
sleep 1.2
get held rsa
openssl crl -inform DER -in "$TMP/held.crl" -noout -text | grep -q "Certificate Hold" ||
	fail "the hold is not in the CRL"
n2=$((16#$(crl_number "$TMP/held.crl")))
ctl unrevoke "$(serial_of "$TMP/phone2.pem")" >/dev/null || fail "scepctl unrevoke"
sleep 1.2
get lifted rsa
! crl_serials "$TMP/lifted.crl" | grep -qx "$(serial_of "$TMP/phone2.pem")" ||
	fail "the lifted hold is still in the CRL"
crl_serials "$TMP/lifted.crl" | grep -qx "$(serial_of "$TMP/phone1.pem")" ||
	fail "the revoked certificate left the CRL"
n3=$((16#$(crl_number "$TMP/lifted.crl")))
((n1 < n2 && n2 < n3)) || fail "cRLNumbers do not increase: $n1 $n2 $n3"
get ec ec
openssl crl -inform DER -in "$TMP/ec.crl" -CAfile "$TMP/ec-ca.pem" -noout 2>&1 | grep -q "verify OK" ||
	fail "the EC CA's CRL does not verify"
grep -q "No Revoked Certificates" <(openssl crl -inform DER -in "$TMP/ec.crl" -noout -text) ||
	fail "the EC CA's CRL lists the RSA CA's revocations"
pass "a hold is listed, then lifted; numbers $n1 < $n2 < $n3; each CA lists its own"

# SCEP GetCRL: the same bytes as GET /crl/rsa.crl, in a CertRep encrypted to the signer.
# Any signer may ask (a CRL is public): here a fresh self-signed one.
curl -sf -o "$TMP/phones.ca" "$base/scep/phones?operation=GetCACert" || fail "GetCACert of phones"
# getcrl NAME [request options...]: VERDICT of a GetCRL, its CRL (PEM) in $TMP/NAME.pem
getcrl() {
	local name=$1 code
	shift
	"$SCEP_CLIENT" request --ca "$TMP/phones.ca" --type getcrl --state "$TMP/$name.st" \
		--out "$TMP/$name.msg" --txid "getcrl-$name" "$@" 2>"$TMP/$name.err" ||
		fail "$name: scep_client request: $(cat "$TMP/$name.err")"
	code=$(curl -s -o "$TMP/$name.rep" -w '%{http_code}' -H 'Content-Type: application/x-pki-message' \
		--data-binary @"$TMP/$name.msg" "$base/scep/phones?operation=PKIOperation")
	[[ $code == 200 ]] || { VERDICT="HTTP $code: $(cat "$TMP/$name.rep")"; return 0; }
	VERDICT=$("$SCEP_CLIENT" reply --in "$TMP/$name.rep" --state "$TMP/$name.st" \
		--out "$TMP/$name.pem" 2>"$TMP/$name.why") || true
}
getcrl scep-crl --serial "$(serial_of "$TMP/phone1.pem")"
assert_eq SUCCESS "$VERDICT" "GetCRL on /scep/phones"
get current rsa
openssl crl -in "$TMP/scep-crl.pem" -outform DER -out "$TMP/scep-crl.der" || fail "the GetCRL answer is no CRL"
cmp -s "$TMP/scep-crl.der" "$TMP/current.crl" || fail "GetCRL answered another CRL than GET /crl/rsa.crl"
crl_serials "$TMP/scep-crl.der" | grep -qx "$(serial_of "$TMP/phone1.pem")" ||
	fail "the GetCRL answer does not list the revoked certificate"
getcrl scep-ec --serial "$(serial_of "$TMP/web.pem")" --issuer-cert "$TMP/ec-ca.pem"
assert_eq "FAILURE badCertId" "$VERDICT" "GetCRL naming the EC CA on /scep/phones"
pass "SCEP GetCRL answers the CA's CRL byte for byte; another CA's issuer gets badCertId"
