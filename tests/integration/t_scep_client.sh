#!/usr/bin/env bash
# SCEP with the project's own client (tests/tools/scep_client) for what real clients
# don't cover: every cipher x digest x GET/POST, Apple's unescaped base64 and Cisco's
# line breaks, renewal (and expired, unrecorded, foreign, self-signed renewal signers),
# a PKCSReq signed by an issued certificate, a CSR with a broken signature, GetCert, GetCRL,
# every messageType 0..255, and broken messages: each gets a signed FAILURE or a 400,
# never a certificate it should not, never a 5xx.
. "$(dirname "$0")/lib.sh"
[[ -x "${SCEP_CLIENT:-}" ]] || skip "SCEP_CLIENT (tests/tools/scep_client) not built"

PORT=$(free_port)
url=http://127.0.0.1:$PORT/scep
make_scep_ca "$TMP"
write_config "$TMP/scepd.conf" "workers = 2;"
printf 'open-sesame' >"$TMP/challenge"
cat >>"$TMP/scepd.conf" <<CONF
scep: { challenge = { mode = "static"; secret = "file:$TMP/challenge"; }; subject_alt_name = { request = [ "dNSName" ]; }; refusals_per_minute = 0; };
CONF
# (refusals_per_minute = 0: this test is refused hundreds of times on purpose)
start_scepd "$TMP/scepd.conf"
curl -sf -o "$TMP/ca.bin" "$url?operation=GetCACert" || fail "GetCACert"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/dev.key" 2>/dev/null

n=0
# scep NAME METHOD FORMAT [request options...]: sends one message; $TMP/NAME.rep, and
# the reply's verdict in VERDICT ("SUCCESS", "FAILURE badRequest", "HTTP 400" ...).
scep() {
	local name=$1 method=$2 format=$3 code
	shift 3
	n=$((n + 1))
	"$SCEP_CLIENT" request --ca "$TMP/ca.bin" --state "$TMP/$name.st" --out "$TMP/$name.msg" \
		--format "$format" --txid "t$n-$name" "$@" 2>"$TMP/$name.err" ||
		fail "$name: scep_client request: $(cat "$TMP/$name.err")"
	if [[ $method == POST ]]; then
		code=$(curl -s -o "$TMP/$name.rep" -w '%{http_code}' -H 'Content-Type: application/x-pki-message' \
			--data-binary @"$TMP/$name.msg" "$url?operation=PKIOperation")
	else
		code=$(curl -s -o "$TMP/$name.rep" -w '%{http_code}' \
			"$url?operation=PKIOperation&message=$(cat "$TMP/$name.msg")")
	fi
	[[ $code == 200 ]] || { VERDICT="HTTP $code"; return 0; }
	VERDICT=$("$SCEP_CLIENT" reply --in "$TMP/$name.rep" --state "$TMP/$name.st" \
		--out "$TMP/$name.pem" 2>/dev/null) || true
}

certs() {
	store_sql "SELECT count(*) FROM certificates"
}

for cipher in des3 aes128 aes256 des; do
	for digest in sha1 sha256 sha512; do
		for method in POST GET; do
			format=der
			[[ $method == GET ]] && format=b64
			name=$cipher-$digest-$method
			scep "$name" "$method" "$format" --cipher "$cipher" --digest "$digest" \
				--key "$TMP/dev.key" --subject "/CN=$name" --challenge open-sesame
			assert_eq SUCCESS "$VERDICT" "$name"
			openssl verify -CAfile "$TMP/ca.pem" "$TMP/$name.pem" >/dev/null ||
				fail "$name: certificate does not verify"
		done
	done
done
pass "DES3, AES-128, AES-256 and DES x SHA-1, SHA-256, SHA-512 x POST and GET"

scep apple GET b64-raw --key "$TMP/dev.key" --subject /CN=apple --challenge open-sesame
assert_eq SUCCESS "$VERDICT" "GET with unescaped + / ="
scep cisco GET b64-lines --digest sha1 --cipher des3 --key "$TMP/dev.key" --subject /CN=cisco \
	--challenge open-sesame
assert_eq SUCCESS "$VERDICT" "GET with %0A line breaks"
pass "Apple's raw base64 and Cisco's line breaks"

before=$(certs)
scep wrong POST der --key "$TMP/dev.key" --subject /CN=wrong --challenge nope
assert_eq "FAILURE badRequest" "$VERDICT" "wrong challenge"
scep none POST der --key "$TMP/dev.key" --subject /CN=none
assert_eq "FAILURE badRequest" "$VERDICT" "no challenge"
assert_eq "$before" "$(certs)" "certificates after refusals"
pass "wrong and missing challenges refused, nothing issued"

# A name with a line break in it must not forge a log line: refused by the policy, and
# nothing the client sent starts a line of its own in the log.
before=$(certs)
scep newline POST der --key "$TMP/dev.key" --subject /CN=newline --challenge open-sesame \
	--san $'DNS:host.example\nscepd[1] supervisor: info: forged'
assert_eq "FAILURE badRequest" "$VERDICT" "a dNSName with a newline"
assert_eq "$before" "$(certs)" "certificates after the dNSName with a newline"
grep -q "subjectAltName dNSName of the request: not printable ASCII" "$TMP/scepd.log" ||
	fail "the log does not say why the dNSName was refused"
! grep -q "^scepd\[1\] supervisor: info: forged" "$TMP/scepd.log" || fail "a forged log line"
pass "a dNSName with a newline: badRequest, no forged log line"

# Renewal of the same identity: RenewalReq and a PKCSReq signed by the issued
# certificate, no challenge (t_scep_trust.sh plays the attacks on other identities).
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/new.key" 2>/dev/null
scep renew POST der --type renewal --key "$TMP/new.key" --subject /CN=aes128-sha256-POST \
	--signer-cert "$TMP/aes128-sha256-POST.pem" --signer-key "$TMP/dev.key"
assert_eq SUCCESS "$VERDICT" "RenewalReq signed by an issued certificate"
scep rekey POST der --key "$TMP/new.key" --subject /CN=aes128-sha256-POST \
	--signer-cert "$TMP/renew.pem" --signer-key "$TMP/new.key"
assert_eq SUCCESS "$VERDICT" "PKCSReq signed by an issued certificate, no challenge"
scep renew-self POST der --type renewal --key "$TMP/new.key" --subject /CN=self
assert_eq "FAILURE badMessageCheck" "$VERDICT" "RenewalReq signed by a self-signed certificate"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/foreign.key" -out "$TMP/foreign-ca.pem" \
	-subj "/CN=foreign CA" -days 30 2>/dev/null
openssl req -new -key "$TMP/dev.key" -subj "/CN=foreign" -out "$TMP/foreign.csr" 2>/dev/null
openssl x509 -req -in "$TMP/foreign.csr" -CA "$TMP/foreign-ca.pem" -CAkey "$TMP/foreign.key" \
	-CAcreateserial -days 30 -out "$TMP/foreign.pem" 2>/dev/null
scep foreign POST der --type renewal --key "$TMP/new.key" --subject /CN=foreign \
	--signer-cert "$TMP/foreign.pem" --signer-key "$TMP/dev.key"
assert_eq "FAILURE badMessageCheck" "$VERDICT" "RenewalReq signed by a foreign certificate"
pass "renewal: RenewalReq and re-keying PKCSReq by an issued certificate; self-signed and foreign signers refused"

# Signers this CA's key did sign, but not through scepd: one expired, one never on
# record (made with openssl ca and the CA's key file). Both refused, nothing issued.
mkdir "$TMP/ossl-ca"
: >"$TMP/ossl-ca/index"
openssl rand -hex 8 >"$TMP/ossl-ca/serial"
cat >"$TMP/ossl-ca/ca.cnf" <<CNF
[ca]
default_ca = test
[test]
database = $TMP/ossl-ca/index
new_certs_dir = $TMP/ossl-ca
serial = $TMP/ossl-ca/serial
unique_subject = no
default_md = sha256
policy = any
[any]
commonName = supplied
CNF
ossl_ca() { # OUT [openssl ca options]
	local out=$1
	shift
	openssl ca -batch -notext -config "$TMP/ossl-ca/ca.cnf" -cert "$TMP/ca.pem" \
		-keyfile "$TMP/ca.key" -in "$TMP/foreign.csr" -out "$out" "$@" 2>/dev/null ||
		fail "openssl ca $*"
}
ossl_ca "$TMP/expired.pem" -startdate 20200101000000Z -enddate 20200201000000Z
ossl_ca "$TMP/unknown.pem" -days 30
before=$(certs)
for signer in expired unknown; do
	for type in renewal pkcsreq; do
		scep "$signer-$type" POST der --type "$type" --key "$TMP/new.key" --subject /CN=$signer \
			--signer-cert "$TMP/$signer.pem" --signer-key "$TMP/dev.key" --challenge open-sesame
		assert_eq "FAILURE badMessageCheck" "$VERDICT" "$type signed by an $signer certificate"
	done
done
assert_eq "$before" "$(certs)" "certificates after expired and unknown signers"
grep -q "the signer certificate has expired" "$TMP/scepd.log" ||
	fail "the log does not say the signer expired"
pass "RenewalReq and PKCSReq signed by an expired or an unrecorded certificate of this CA refused"

# A repeated transaction gets the same certificate, not a second one.
before=$(certs)
"$SCEP_CLIENT" request --ca "$TMP/ca.bin" --state "$TMP/rep.st" --out "$TMP/rep.msg" \
	--key "$TMP/dev.key" --subject /CN=replay --challenge open-sesame --txid replay-1
for i in 1 2; do
	curl -s -o "$TMP/rep$i.der" --data-binary @"$TMP/rep.msg" "$url?operation=PKIOperation"
	assert_eq SUCCESS "$("$SCEP_CLIENT" reply --in "$TMP/rep$i.der" --state "$TMP/rep.st" \
		--out "$TMP/rep$i.pem" 2>/dev/null)" "replay $i"
done
cmp "$TMP/rep1.pem" "$TMP/rep2.pem" || fail "a replayed message got another certificate"
assert_eq $((before + 1)) "$(certs)" "certificates after a replay"
pass "a replayed pkiMessage gets the same certificate, no second one"

# GetCert, GetCRL.
serial=$(openssl x509 -in "$TMP/rekey.pem" -noout -serial | cut -d= -f2)
scep getcert POST der --type getcert --serial "$serial" --key "$TMP/dev.key" \
	--signer-cert "$TMP/renew.pem" --signer-key "$TMP/new.key"
assert_eq SUCCESS "$VERDICT" "GetCert of an issued serial by a certificate of its subject"
cmp <(openssl x509 -in "$TMP/getcert.pem" -outform DER) <(openssl x509 -in "$TMP/rekey.pem" -outform DER) ||
	fail "GetCert returned another certificate"
scep getcert-unknown POST der --type getcert --serial 0123456789 --key "$TMP/dev.key"
assert_eq "FAILURE badCertId" "$VERDICT" "GetCert of an unknown serial"
scep getcrl POST der --type getcrl --serial "$serial" --key "$TMP/dev.key"
assert_eq "HTTP 400" "$VERDICT" "GetCRL without crl_url"
pass "GetCert (known and unknown serial), GetCRL without crl_url"

# Every messageType: only the five of RFC 8894 get anything but badRequest.
before=$(certs)
for type in $(seq 0 255); do
	case $type in 17 | 19 | 20 | 21 | 22) continue ;; esac
	scep "type$type" POST der --type "$type" --key "$TMP/dev.key" --subject "/CN=t$type" \
		--challenge open-sesame
	assert_eq "FAILURE badRequest" "$VERDICT" "messageType $type"
done
assert_eq "$before" "$(certs)" "certificates after 251 unsupported messageTypes"
pass "messageTypes 0..255 other than 17, 19-22: FAILURE badRequest, nothing issued"

# Broken messages: a uniform badMessageCheck, nothing issued; no signed answer at all
# when the signature does not verify.
scep break-bad-signature POST der --break bad-signature --key "$TMP/dev.key" --subject /CN=broken \
	--challenge open-sesame
assert_eq "HTTP 400" "$VERDICT" "bad-signature"
for what in corrupt-key corrupt-iv corrupt-content corrupt-padding; do
	scep "break-$what" POST der --break "$what" --key "$TMP/dev.key" --subject /CN=broken \
		--challenge open-sesame
	assert_eq "FAILURE badMessageCheck" "$VERDICT" "$what"
done
scep md5 POST der --digest md5 --key "$TMP/dev.key" --subject /CN=md5 --challenge open-sesame
assert_eq "HTTP 400" "$VERDICT" "MD5 (the signature cannot be verified)"
assert_eq "$before" "$(certs)" "certificates after broken messages"
assert_eq 0 "$(request_loop /healthz 5)" "requests after the broken messages"
! grep -qE "killed by signal|exited with status [^0]" "$TMP/scepd.log" || fail "a worker died"
pass "broken key, IV, content and padding: badMessageCheck; broken signature, MD5: 400"

# Without an RA, unusual settings: a next CA, a CRL URL, manual approval.
kill -TERM "$SCEPD_PID"
wait_exit "$SCEPD_PID" 5 || fail "did not stop"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/next.key" -out "$TMP/next.pem" \
	-subj "/CN=scepd next CA" -days 60 -addext basicConstraints=critical,CA:TRUE 2>/dev/null
sed -i "s|^\tkey = \"\(.*\)\";|\tkey = \"\1\";\n\tnext_certificate = \"$TMP/next.pem\";|" "$TMP/scepd.conf"
sed -i 's|^scep: {.*|scep: { approval = "manual"; crl_url = "http://crl.example/ca.crl"; };|' "$TMP/scepd.conf"
start_scepd "$TMP/scepd.conf"

curl -s "$url?operation=GetCACaps" | grep -qx "GetNextCACert" || fail "GetNextCACert not offered"
curl -s -D "$TMP/h" -o "$TMP/next.p7" "$url?operation=GetNextCACert"
grep -qx $'Content-Type: application/x-x509-next-ca-cert\r' "$TMP/h" || fail "GetNextCACert type"
"$SCEP_CLIENT" nextca --in "$TMP/next.p7" --ca "$TMP/ca.bin" --out "$TMP/next-got.pem" ||
	fail "GetNextCACert answer does not verify with the current CA"
cmp <(openssl x509 -in "$TMP/next-got.pem" -outform DER) <(openssl x509 -in "$TMP/next.pem" -outform DER) ||
	fail "GetNextCACert carries another certificate"
pass "GetNextCACert: offered, signed by the current CA, carries the next CA"

scep crl POST der --type getcrl --serial 01 --key "$TMP/dev.key"
assert_eq "HTTP 302" "$VERDICT" "GetCRL with crl_url"
curl -s -D "$TMP/h" -o /dev/null --data-binary @"$TMP/crl.msg" "$url?operation=PKIOperation"
grep -qx $'Location: http://crl.example/ca.crl\r' "$TMP/h" || fail "GetCRL Location: $(cat "$TMP/h")"
assert_eq 200 "$(curl -s --http1.0 -o /dev/null -w '%{http_code}' "$url?operation=GetCACaps")" "HTTP/1.0"
pass "GetCRL redirects to crl_url; HTTP/1.0 clients are served"

# Manual approval with CertPoll: PENDING, again PENDING, approve, CertPoll SUCCESS.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/poll.key" 2>/dev/null
"$SCEP_CLIENT" request --ca "$TMP/ca.bin" --state "$TMP/p1.st" --out "$TMP/p1.msg" \
	--key "$TMP/poll.key" --subject /CN=polled --txid poll-tx
for i in 1 2; do
	curl -s -o "$TMP/p1.rep" --data-binary @"$TMP/p1.msg" "$url?operation=PKIOperation"
	rc=0
	"$SCEP_CLIENT" reply --in "$TMP/p1.rep" --state "$TMP/p1.st" >/dev/null 2>&1 || rc=$?
	assert_eq 3 "$rc" "PKCSReq #$i under manual approval (3 = PENDING)"
done
assert_eq 1 "$("$SCEPCTL_BIN" -c "$TMP/scepd.conf" pending | grep -c poll-tx)" "pending rows for the transaction"
"$SCEPCTL_BIN" -c "$TMP/scepd.conf" approve poll-tx || fail "approve"
"$SCEP_CLIENT" request --ca "$TMP/ca.bin" --state "$TMP/p2.st" --out "$TMP/p2.msg" \
	--type poll --key "$TMP/poll.key" --subject /CN=polled --txid poll-tx
curl -s -o "$TMP/p2.rep" --data-binary @"$TMP/p2.msg" "$url?operation=PKIOperation"
assert_eq SUCCESS "$("$SCEP_CLIENT" reply --in "$TMP/p2.rep" --state "$TMP/p2.st" --out "$TMP/polled.pem" 2>/dev/null)" \
	"CertPoll after approve"
openssl verify -CAfile "$TMP/ca.pem" "$TMP/polled.pem" >/dev/null || fail "does not verify"
"$SCEP_CLIENT" request --ca "$TMP/ca.bin" --state "$TMP/p3.st" --out "$TMP/p3.msg" \
	--type poll --key "$TMP/poll.key" --subject /CN=nobody --txid unknown-tx
curl -s -o "$TMP/p3.rep" --data-binary @"$TMP/p3.msg" "$url?operation=PKIOperation"
assert_eq "FAILURE badCertId" "$("$SCEP_CLIENT" reply --in "$TMP/p3.rep" --state "$TMP/p3.st" 2>/dev/null)" \
	"CertPoll of an unknown transaction"
pass "manual approval: PENDING twice (one pending row), approve, CertPoll SUCCESS; unknown: badCertId"

# A PKCSReq whose envelope holds no certificate request.
printf 'not a CSR' >"$TMP/junk"
scep nocsr POST der --content "$TMP/junk" --key "$TMP/dev.key" --subject /CN=x
assert_eq "FAILURE badMessageCheck" "$VERDICT" "an envelope without a CSR"
pass "an envelope without a CSR: badMessageCheck"

# A PKCSReq whose CSR's own signature is broken (one bit flipped in the signature):
# refused before it could be held for approval or signed.
cat >"$TMP/badsig.cnf" <<CNF
[req]
prompt = no
distinguished_name = dn
attributes = attrs
[dn]
CN = badsig
[attrs]
challengePassword = open-sesame
CNF
openssl req -new -key "$TMP/dev.key" -config "$TMP/badsig.cnf" -outform DER \
	-out "$TMP/badsig.der" 2>/dev/null
size=$(stat -c %s "$TMP/badsig.der")
last=$(xxd -s $((size - 2)) -l 1 -p "$TMP/badsig.der")
printf "$(printf '\\x%02x' $((0x$last ^ 1)))" |
	dd of="$TMP/badsig.der" bs=1 seek=$((size - 2)) conv=notrunc 2>/dev/null
before=$(certs)
scep badsig POST der --content "$TMP/badsig.der" --key "$TMP/dev.key" --subject /CN=badsig
assert_eq "FAILURE badRequest" "$VERDICT" "a CSR with a broken signature"
assert_eq "$before" "$(certs)" "certificates after the broken CSR"
assert_eq 0 "$(store_sql "SELECT count(*) FROM pending_requests
	WHERE transaction_id LIKE '%-badsig'")" "pending requests for the broken CSR"
grep -q "FAILURE badRequest: the request's own signature does not verify" "$TMP/scepd.log" ||
	fail "the log does not say the CSR's signature is broken"
pass "a CSR with a broken signature: badRequest, the log says why, nothing issued or held"
