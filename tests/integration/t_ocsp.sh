#!/usr/bin/env bash
# OCSP with OpenSSL's own client: an RSA CA that signs its responses itself and a P-256
# CA with a delegated OCSP signer (EKU OCSPSigning, ocsp-nocheck). `openssl ocsp` says
# good, then revoked (with reason and time) after `scepctl revoke`, good again after
# `unrevoke` of a hold, unknown for a certificate the CA signed but never recorded and
# for another CA's; the nonce comes back; GET (RFC 6960 A.1) gets the same answer with
# Cache-Control; garbage gets malformedRequest, another content type 415. Signed answers
# to requests without nonce are reused (ocsp.cache) while the status holds: the same
# producedAt a second later, but "revoked" at once after a revocation, never the kept
# "good"; with ocsp.cache = 0, and for requests with a nonce, every answer is new.
. "$(dirname "$0")/lib.sh"

make_file_ca "$TMP" # ca.pem, ca.key: RSA-2048
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/ec-ca.key" \
	-out "$TMP/ec-ca.pem" -subj "/CN=ec-ca" -days 30 -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/ocsp.key" \
	-subj "/CN=ec-ca OCSP" -out "$TMP/ocsp.csr" 2>/dev/null
openssl x509 -req -in "$TMP/ocsp.csr" -CA "$TMP/ec-ca.pem" -CAkey "$TMP/ec-ca.key" -set_serial 99 \
	-days 30 -out "$TMP/ocsp.pem" 2>/dev/null \
	-extfile <(printf 'keyUsage=critical,digitalSignature\nextendedKeyUsage=OCSPSigning\nnoCheck=ignored\n')

PORT=$(free_port)
base=http://127.0.0.1:$PORT
store_prepare
cat >"$TMP/scepd.conf" <<CONF
server: { listen = ["127.0.0.1:$PORT"]; workers = 2; };
cas: {
	rsa: {
		certificate = "$TMP/ca.pem";
		key = "$TMP/ca.key";
		ocsp = { path = "/ocsp/rsa"; cache = 0; };
		ocsp_url = "$base/ocsp/rsa";
		crl_distribution_points = [ "$base/crl/rsa.crl", "http://crl.example/rsa.crl" ];
	};
	ec: {
		certificate = "$TMP/ec-ca.pem";
		key = "$TMP/ec-ca.key";
		ocsp = { path = "/ocsp/ec"; certificate = "$TMP/ocsp.pem"; key = "$TMP/ocsp.key"; };
	};
};
profiles: {
	devices: { type = "csr"; path = "/csr/devices"; ca = "rsa"; auth = "none"; };
	servers: { type = "csr"; path = "/csr/servers"; ca = "ec"; auth = "none"; };
};
$(store_config_line)
log: { level = "debug"; };
CONF
"$SCEPD_BIN" -c "$TMP/scepd.conf" -t >"$TMP/check.out" 2>&1 || fail "scepd -t: $(cat "$TMP/check.out")"
start_scepd "$TMP/scepd.conf"

ctl() { "$SCEPCTL_BIN" -c "$TMP/scepd.conf" "$@"; }
serial_of() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//; s/^0*//'; }
issue() { # NAME PROFILE
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
		-subj "/CN=$1" -out "$TMP/$1.csr" 2>/dev/null
	assert_eq 200 "$(curl -s -o "$TMP/$1.pem" -w '%{http_code}' --data-binary @"$TMP/$1.csr" \
		"$base/csr/$2")" "POST /csr/$2 for $1"
}
# status NAME CA-FILE URL-PATH: the first line of `openssl ocsp` about the certificate;
# the whole output in $TMP/NAME.ocsp. The response must verify against the CA.
status() {
	openssl ocsp -issuer "$2" -cert "$TMP/$1.pem" -url "$base$3" -CAfile "$2" \
		>"$TMP/$1.ocsp" 2>&1 || true
	grep -q "^Response verify OK" "$TMP/$1.ocsp" || fail "$1: the response does not verify: $(cat "$TMP/$1.ocsp")"
	! grep -qi "nonce" "$TMP/$1.ocsp" || fail "$1: nonce trouble: $(cat "$TMP/$1.ocsp")"
	sed -n "s|^$TMP/$1.pem: ||p" "$TMP/$1.ocsp"
}

issue phone1 devices
issue phone2 devices
issue web servers
assert_eq good "$(status phone1 "$TMP/ca.pem" /ocsp/rsa)" "phone1 before anything"
assert_eq good "$(status web "$TMP/ec-ca.pem" /ocsp/ec)" "web through the delegated signer"
grep -q "This Update" "$TMP/web.ocsp" && grep -q "Next Update" "$TMP/web.ocsp" ||
	fail "no thisUpdate/nextUpdate: $(cat "$TMP/web.ocsp")"
openssl x509 -in "$TMP/phone1.pem" -noout -ext authorityInfoAccess,crlDistributionPoints >"$TMP/ext"
grep -q "OCSP - URI:$base/ocsp/rsa" "$TMP/ext" || fail "no OCSP URL in the certificate: $(cat "$TMP/ext")"
grep -q "URI:$base/crl/rsa.crl" "$TMP/ext" && grep -q "URI:http://crl.example/rsa.crl" "$TMP/ext" ||
	fail "no CRL URLs in the certificate: $(cat "$TMP/ext")"
! openssl x509 -in "$TMP/web.pem" -noout -ext authorityInfoAccess 2>/dev/null | grep -q OCSP ||
	fail "the other CA's certificate names an OCSP URL"
pass "openssl ocsp: good from the CA-signed and the delegated responder, nonce echoed; ocsp_url and crl_distribution_points in the certificates"

ctl revoke "$(serial_of "$TMP/phone1.pem")" --reason keyCompromise >/dev/null 2>&1 || fail "revoke"
assert_eq revoked "$(status phone1 "$TMP/ca.pem" /ocsp/rsa)" "phone1 after scepctl revoke"
grep -q "Reason: keyCompromise" "$TMP/phone1.ocsp" || fail "no reason: $(cat "$TMP/phone1.ocsp")"
grep -q "Revocation Time" "$TMP/phone1.ocsp" || fail "no revocation time"
assert_eq good "$(status phone2 "$TMP/ca.pem" /ocsp/rsa)" "phone2 is still good"
ctl revoke "$(serial_of "$TMP/phone2.pem")" --reason certificateHold >/dev/null 2>&1 || fail "hold"
assert_eq revoked "$(status phone2 "$TMP/ca.pem" /ocsp/rsa)" "phone2 on hold"
grep -q "Reason: certificateHold" "$TMP/phone2.ocsp" || fail "no hold reason"
ctl unrevoke "$(serial_of "$TMP/phone2.pem")" >/dev/null 2>&1 || fail "unrevoke"
assert_eq good "$(status phone2 "$TMP/ca.pem" /ocsp/rsa)" "phone2 after unrevoke"
pass "revoked (reason, time) at once after scepctl revoke; a lifted hold is good again"

# Signed by the CA but never recorded, and another CA's certificate: unknown.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
	-subj "/CN=forged" -out "$TMP/forged.csr" 2>/dev/null
openssl x509 -req -in "$TMP/forged.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -set_serial 4242 \
	-days 1 -out "$TMP/forged.pem" 2>/dev/null
assert_eq unknown "$(status forged "$TMP/ca.pem" /ocsp/rsa)" "a certificate that is not on record"
openssl ocsp -issuer "$TMP/ca.pem" -serial "0x$(serial_of "$TMP/web.pem")" -url "$base/ocsp/rsa" \
	-CAfile "$TMP/ca.pem" >"$TMP/other.ocsp" 2>&1 || true
grep -q ": unknown" "$TMP/other.ocsp" || fail "another CA's serial: $(cat "$TMP/other.ocsp")"
pass "unknown for a serial not on record and for another CA's"

# GET: the request base64- and URL-encoded below the path.
openssl ocsp -issuer "$TMP/ca.pem" -cert "$TMP/phone1.pem" -no_nonce -reqout "$TMP/req.der" 2>/dev/null
enc=$(base64 -w0 "$TMP/req.der" | sed 's|+|%2B|g; s|/|%2F|g; s|=|%3D|g')
code=$(curl -s -D "$TMP/get.h" -o "$TMP/get.der" -w '%{http_code}' "$base/ocsp/rsa/$enc")
assert_eq 200 "$code" "GET /ocsp/rsa/<request>"
grep -qix $'Content-Type: application/ocsp-response\r' "$TMP/get.h" || fail "GET: $(cat "$TMP/get.h")"
grep -qi "^Cache-Control: max-age=" "$TMP/get.h" || fail "GET: no Cache-Control"
openssl ocsp -respin "$TMP/get.der" -issuer "$TMP/ca.pem" -cert "$TMP/phone1.pem" -CAfile "$TMP/ca.pem" \
	>"$TMP/get.ocsp" 2>&1 || true
grep -q "phone1.pem: revoked" "$TMP/get.ocsp" || fail "GET answer: $(cat "$TMP/get.ocsp")"
pass "GET with the request in the path: the same answer, cacheable"

# The cache. produced NAME CA-FILE ANSWER-FILE: the status of NAME in an answer after
# it verifies, and its producedAt, in $TMP/produced.
produced() {
	openssl ocsp -respin "$3" -issuer "$2" -cert "$TMP/$1.pem" -CAfile "$2" -resp_text \
		>"$3.txt" 2>&1 || true
	grep -q "^Response verify OK" "$3.txt" || fail "$3: does not verify: $(cat "$3.txt")"
	sed -n 's/^ *Produced At: //p' "$3.txt" >>"$TMP/produced"
	sed -n "s|^$TMP/$1.pem: ||p" "$3.txt"
}
# get_answers NAME CA-FILE URL-PATH N: N GETs without nonce, the answers kept as
# $TMP/NAME.getI.der (I counting on from the last call); every status they say.
get_answers() {
	local i enc first
	openssl ocsp -issuer "$2" -cert "$TMP/$1.pem" -no_nonce -reqout "$TMP/$1.req" 2>/dev/null
	enc=$(base64 -w0 "$TMP/$1.req" | sed 's|+|%2B|g; s|/|%2F|g; s|=|%3D|g')
	first=$(find "$TMP" -maxdepth 1 -name "$1.get*.der" | wc -l)
	for ((i = first; i < first + $4; i++)); do
		curl -sf -D "$TMP/$1.get$i.h" -o "$TMP/$1.get$i.der" "$base$3/$enc" || fail "GET $3 for $1"
		produced "$1" "$2" "$TMP/$1.get$i.der"
	done | sort -u
}
# The delegated signer is P-256: ECDSA signatures differ each time, so two equal answers
# are one answer reused. With 2 workers (a cache each), 6 GETs across a second bring at
# most 2 different answers (signed anew, 6).
: >"$TMP/produced"
assert_eq good "$(get_answers web "$TMP/ec-ca.pem" /ocsp/ec 1)" "GET for web"
sleep 1.2
assert_eq good "$(get_answers web "$TMP/ec-ca.pem" /ocsp/ec 5)" "GETs for web a second later"
assert_eq 6 "$(find "$TMP" -maxdepth 1 -name 'web.get*.der' | wc -l)" "answers kept"
answers=$(md5sum "$TMP"/web.get*.der | awk '{ print $1 }' | sort -u | wc -l)
((answers <= 2)) || fail "$answers different answers to 6 GETs: not reused"
(($(sort -u "$TMP/produced" | wc -l) <= 2)) || fail "producedAt: $(sort -u "$TMP/produced")"
max_age=$(sed -n 's/^Cache-Control: max-age=\([0-9]*\)\r$/\1/ip' "$TMP/web.get5.h")
((max_age > 0 && max_age <= 3600)) || fail "Cache-Control of a reused answer: '$max_age'"
# With a nonce, each answer is new: the nonce comes back (status checks it).
assert_eq good "$(status web "$TMP/ec-ca.pem" /ocsp/ec)" "web with a nonce"
# The attacker's hope: a kept "good" after the revocation. The store is read for every
# request, so the next answer of every worker says revoked.
ctl revoke "$(serial_of "$TMP/web.pem")" --reason keyCompromise >/dev/null 2>&1 || fail "revoke web"
assert_eq revoked "$(get_answers web "$TMP/ec-ca.pem" /ocsp/ec 6)" "every GET after the revocation"
ctl unrevoke "$(serial_of "$TMP/web.pem")" >/dev/null 2>&1 && fail "unrevoke of keyCompromise succeeded"
# ocsp.cache = 0 (the RSA CA): RSA signatures are deterministic, so only producedAt can
# tell: a second later, every answer is a new one.
: >"$TMP/produced"
assert_eq good "$(get_answers phone2 "$TMP/ca.pem" /ocsp/rsa 1)" "GET for phone2"
first=$(cat "$TMP/produced")
sleep 1.2
assert_eq good "$(get_answers phone2 "$TMP/ca.pem" /ocsp/rsa 4)" "GETs for phone2 a second later"
assert_eq 1 "$(grep -cxF "$first" "$TMP/produced")" "answers with the first producedAt, ocsp.cache = 0"
pass "answers without nonce reused by each worker (byte for byte, at most one per worker), revoked at once after a revocation; with a nonce or ocsp.cache = 0 signed anew"

# Garbage: a malformedRequest response, and the workers keep serving; a POST of
# another type: 415.
head -c 300 /dev/urandom >"$TMP/junk"
curl -s -o "$TMP/junk.der" -H 'Content-Type: application/ocsp-request' --data-binary @"$TMP/junk" \
	"$base/ocsp/rsa" || fail "POST of garbage"
openssl ocsp -respin "$TMP/junk.der" -resp_text -noverify >"$TMP/junk.ocsp" 2>&1 || true
grep -qi "malformedrequest" "$TMP/junk.ocsp" || fail "garbage: $(head -3 "$TMP/junk.ocsp")"
assert_eq 415 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: text/plain' \
	--data-binary @"$TMP/req.der" "$base/ocsp/rsa")" "POST as text/plain"
assert_eq good "$(status phone2 "$TMP/ca.pem" /ocsp/rsa)" "still serving after garbage"
pass "garbage gets malformedRequest, another content type 415; the responder keeps serving"
