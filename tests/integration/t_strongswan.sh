#!/usr/bin/env bash
# strongSwan's SCEP client (pki --scepca, pki --scep; Debian packages strongswan-pki and
# libstrongswan-extra-plugins, whose curl plugin does the HTTP) against scepd with a
# static challenge, first without an RA: GetCACert; enrolment with AES (its default)
# and DES3, SHA-256, SHA-384 and SHA-224, PKCS#1 and PSS signatures; renewal with
# --cert/--key (a RenewalReq signed by the old certificate, no challenge, a new key).
# Refused and issuing nothing: a wrong challenge, and a renewal signed by a certificate
# of ours that asks for another subject. Then GetCACert and enrolment through an RA.
. "$(dirname "$0")/lib.sh"
command -v pki >/dev/null || skip "pki (package strongswan-pki) not installed"
grep -q '^loaded plugins:.* curl' <<<"$(pki --help 2>&1 || true)" ||
	skip "pki has no curl plugin (package libstrongswan-extra-plugins)"

PORT=$(free_port)
url=http://127.0.0.1:$PORT/scep
make_scep_ca "$TMP" # no RA: pki encrypts to the CA and verifies CertReps with it
printf 'sesame\n' >"$TMP/challenge"

scep_config() { # [RA-BLOCK]
	write_config "$TMP/scepd.conf" "workers = 2;"
	cat >>"$TMP/scepd.conf" <<CONF
scep: {
	challenge = { mode = "static"; secret = "file:$TMP/challenge"; };
	${1:-}
	subject = { request = ["*"]; };
};
CONF
}

scep_config
start_scepd "$TMP/scepd.conf"

# pki writes the CA of a single-certificate answer to --caout as it came.
pki --scepca --url "$url" --caout "$TMP/cacert.der" >"$TMP/scepca.out" 2>&1 ||
	fail "pki --scepca: $(grep -v plugin "$TMP/scepca.out")"
cmp -s "$TMP/cacert.der" <(openssl x509 -in "$TMP/ca.pem" -outform DER) ||
	fail "pki --scepca did not write the CA certificate"
pass "pki --scepca fetches the CA certificate"
enc=$TMP/cacert.der # --cacert-enc: whom pki encrypts to
sig=$TMP/cacert.der # --cacert-sig: the CA it checks CertReps against

certs() {
	store_sql "SELECT count(*) FROM certificates"
}

# scep NAME DN [pki --scep options...]: a new key $TMP/NAME.key, the certificate as
# $TMP/NAME.pem, pki's messages in $TMP/NAME.out; 0 when a certificate came back.
scep() {
	local name=$1 dn=$2
	shift 2
	openssl genrsa -out "$TMP/$name.key" 2048 2>/dev/null
	timeout 20 pki --scep --url "$url" --in "$TMP/$name.key" --dn "$dn" \
		--cacert-enc "$enc" --cacert-sig "$sig" --outform pem "$@" \
		>"$TMP/$name.pem" 2>"$TMP/$name.out" && [[ -s "$TMP/$name.pem" ]]
}

txid() { # NAME: the transactionID pki printed
	sed -n 's/^transaction ID: //p' "$TMP/$1.out" | head -n 1
}

# What a user checks of what pki wrote: the certificate verifies against the CA, has
# the subject asked for and a serial never seen before, and its record is in the store.
SERIALS=" "
check() { # NAME SUBJECT
	local pem=$TMP/$1.pem serial
	openssl verify -CAfile "$TMP/ca.pem" "$pem" >/dev/null || fail "$1: does not verify"
	assert_eq "subject=$2" "$(openssl x509 -in "$pem" -noout -subject -nameopt RFC2253)" "$1: subject"
	serial=$(openssl x509 -in "$pem" -noout -serial | cut -d= -f2 | sed 's/^0*//')
	[[ $SERIALS != *" $serial "* ]] || fail "$1: serial $serial was issued before"
	SERIALS+="$serial "
	assert_eq 1 "$(store_sql "SELECT count(*) FROM certificates WHERE serial = '$serial'
		AND subject = '$2' AND endpoint = 'scep' AND transaction_id = '$(txid "$1")'")" \
		"$1: store record"
}

# name | pki options | what scepd saw: signature algorithm, digest, content cipher (the
# debug line of each PKIOperation), so that an option pki ignored would show.
while IFS='|' read -r name opts seen; do
	read -r name <<<"$name"
	# shellcheck disable=SC2086 # opts are words
	scep "$name" "CN=$name" --password sesame $opts ||
		fail "$name: $(grep -vE 'plugin|TPM' "$TMP/$name.out" | tail -n 3)"
	check "$name" "CN=$name"
	read -r seen <<<"$seen"
	grep -q "transaction $(txid "$name"): signature $seen\$" "$TMP/scepd.log" ||
		fail "$name: scepd did not see '$seen': $(grep "$(txid "$name")" "$TMP/scepd.log")"
done <<'CASES'
default         |                                      | RSA-SHA256 with sha256, envelope aes128
aes-sha384-pss  | --digest sha384 --rsa-padding pss    | RSASSA-PSS with sha384, envelope aes128
des3-sha256-pss | --cipher des3 --rsa-padding pss      | RSASSA-PSS with sha256, envelope des3
des3-sha384     | --cipher des3 --digest sha384        | RSA-SHA384 with sha384, envelope des3
aes-sha224      | --digest sha224                      | RSA-SHA224 with sha224, envelope aes128
CASES
pass "enrolment with AES (default) and DES3, SHA-256, SHA-384 and SHA-224, PKCS#1 and PSS"

# Renewal: a new key, the request signed by the certificate to renew and its key (a
# RenewalReq), no challenge.
sleep 1.1 # a later notAfter
scep renewed CN=aes-sha384-pss --cert "$TMP/aes-sha384-pss.pem" --key "$TMP/aes-sha384-pss.key" \
	--digest sha384 --rsa-padding pss ||
	fail "renewal: $(grep -vE 'plugin|TPM' "$TMP/renewed.out" | tail -n 3)"
check renewed CN=aes-sha384-pss
old=$(openssl x509 -in "$TMP/aes-sha384-pss.pem" -noout -serial | cut -d= -f2 | sed 's/^0*//')
grep -q "transaction $(txid renewed) from 127.0.0.1: renewal of serial $old" "$TMP/scepd.log" ||
	fail "scepd did not log the renewal of $old"
grep -q "SCEP RenewalReq from 127.0.0.1, transaction $(txid renewed): signature" "$TMP/scepd.log" ||
	fail "the renewal was not a RenewalReq"
! cmp -s <(openssl x509 -in "$TMP/aes-sha384-pss.pem" -noout -pubkey) \
	<(openssl x509 -in "$TMP/renewed.pem" -noout -pubkey) || fail "the renewal kept the old key"
[[ $(date -d "$(openssl x509 -in "$TMP/renewed.pem" -noout -enddate | cut -d= -f2)" +%s) -gt \
	$(date -d "$(openssl x509 -in "$TMP/aes-sha384-pss.pem" -noout -enddate | cut -d= -f2)" +%s) ]] ||
	fail "the renewed certificate does not end later"
pass "renewal with --cert/--key: a new certificate for a new key, no challenge"

# Refused, with nothing issued: a wrong challenge; a renewal signed by a certificate of
# ours that asks for another subject (its holder may renew itself, not become someone
# else), with the right challenge or none.
before=$(certs)
! scep wrong CN=wrong --password open-sesame || fail "enrolled with a wrong challenge"
grep -q "failInfo: *badRequest" "$TMP/wrong.out" || fail "wrong challenge: $(tail -n 2 "$TMP/wrong.out")"
grep -q "transaction $(txid wrong): FAILURE badRequest: wrong challenge password" "$TMP/scepd.log" ||
	fail "no log of the wrong challenge"
for how in "" "--password sesame"; do
	# shellcheck disable=SC2086 # how is words
	! scep other CN=someone-else --cert "$TMP/renewed.pem" --key "$TMP/renewed.key" $how ||
		fail "a renewal ${how:+with the challenge }got a certificate for another subject"
	grep -q "failInfo: *badRequest" "$TMP/other.out" ||
		fail "renewal for another subject: $(tail -n 2 "$TMP/other.out")"
	grep -q "transaction $(txid other): FAILURE badRequest: the new subject is not the signer" \
		"$TMP/scepd.log" || fail "no log of the renewal for another subject"
done
assert_eq "$before" "$(certs)" "certificates after the refused requests"
assert_eq 0 "$(store_sql "SELECT count(*) FROM certificates WHERE subject IN ('CN=wrong', 'CN=someone-else')")" \
	"records of refused subjects"
pass "wrong challenge and a renewal for another subject: FAILURE badRequest, nothing issued"

# An RA with its own key: GetCACert answers RA and CA, pki --scepca writes the CA to
# --caout and the RA beside it (ca-ra.der); pki encrypts to the RA and checks the
# CertRep, signed by the RA, against the CA.
kill -TERM "$SCEPD_PID"
wait_exit "$SCEPD_PID" 5 || fail "did not stop"
openssl req -new -newkey rsa:2048 -nodes -keyout "$TMP/ra.key" -subj "/CN=scepd test RA" \
	-out "$TMP/ra.csr" 2>/dev/null
openssl x509 -req -in "$TMP/ra.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
	-days 30 -out "$TMP/ra.pem" \
	-extfile <(printf 'keyUsage=critical,digitalSignature,keyEncipherment\n') 2>/dev/null
scep_config "ra = { certificate = \"$TMP/ra.pem\"; key = \"$TMP/ra.key\"; };"
start_scepd "$TMP/scepd.conf"
mkdir "$TMP/viara"
pki --scepca --url "$url" --caout "$TMP/viara/ca.der" >"$TMP/scepca-ra.out" 2>&1 ||
	fail "pki --scepca with an RA: $(grep -v plugin "$TMP/scepca-ra.out")"
cmp -s "$TMP/viara/ca.der" <(openssl x509 -in "$TMP/ca.pem" -outform DER) ||
	fail "pki --scepca with an RA did not write the CA certificate"
cmp -s "$TMP/viara/ca-ra.der" <(openssl x509 -in "$TMP/ra.pem" -outform DER) ||
	fail "pki --scepca did not write the RA certificate"
enc=$TMP/viara/ca-ra.der sig=$TMP/viara/ca.der
scep viara CN=viara --password sesame ||
	fail "enrolment through the RA: $(grep -vE 'plugin|TPM' "$TMP/viara.out" | tail -n 3)"
check viara CN=viara
grep -q 'using certificate "CN=scepd test RA"' "$TMP/viara.out" || fail "the CertRep was not the RA's"
pass "RA: pki --scepca writes CA and RA, enrolment through the RA"
