#!/usr/bin/env bash
# What a certificate this CA issued may stand in for, played by an attacker with the
# project's own SCEP client: a request signed by alice's certificate for another
# identity (PKCSReq and RenewalReq), a /csr certificate used to sign SCEP, CertPoll
# and GetCert by someone else, a broken signature, a flood of refused requests. Next
# to each, the legitimate flow: renewal of the same identity (also with the same key
# and transactionID, as certmonger and scepclient renew), renewal keeping the owner of
# a one-time challenge for subject.set, CertPoll and GetCert by the holder.
. "$(dirname "$0")/lib.sh"
[[ -x "${SCEP_CLIENT:-}" ]] || skip "SCEP_CLIENT (tests/tools/scep_client) not built"

PORT=$(free_port)
url=http://127.0.0.1:$PORT/scep
make_scep_ca "$TMP"
printf 'open-sesame' >"$TMP/challenge"
for k in alice bob dave mallory; do
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/$k.key" 2>/dev/null
done

# restart SCEP-SETTINGS [CSR-SETTINGS]: scepd with one worker (refusals are counted
# per worker) and these settings.
restart() {
	if [[ -n "$SCEPD_PID" ]]; then
		kill -TERM "$SCEPD_PID"
		wait_exit "$SCEPD_PID" 10 || fail "scepd did not stop"
	fi
	write_config "$TMP/scepd.conf" "workers = 1;"
	cat >>"$TMP/scepd.conf" <<CONF
scep: { subject_alt_name = { request = [ "dNSName" ]; }; $1 };
${2:-}
CONF
	start_scepd "$TMP/scepd.conf"
	curl -sf -o "$TMP/ca.bin" "$url?operation=GetCACert" || fail "GetCACert"
}

n=0
# scep NAME [request options...]: one message, POST; the verdict in VERDICT
# ("SUCCESS", "PENDING", "FAILURE badRequest", "HTTP 400" ...), the certificate in
# $TMP/NAME.pem. TXID overrides the transactionID.
scep() {
	local name=$1 code rc=0
	shift
	n=$((n + 1))
	"$SCEP_CLIENT" request --ca "$TMP/ca.bin" --state "$TMP/$name.st" --out "$TMP/$name.msg" \
		--txid "${TXID:-t$n-$name}" "$@" 2>"$TMP/$name.err" ||
		fail "$name: scep_client request: $(cat "$TMP/$name.err")"
	send "$name"
}

send() { # NAME: (re)sends $TMP/NAME.msg
	local name=$1 code rc=0
	code=$(curl -s -o "$TMP/$name.rep" -w '%{http_code}' --data-binary @"$TMP/$name.msg" \
		"$url?operation=PKIOperation")
	[[ $code == 200 ]] || { VERDICT="HTTP $code"; return 0; }
	VERDICT=$("$SCEP_CLIENT" reply --in "$TMP/$name.rep" --state "$TMP/$name.st" \
		--out "$TMP/$name.pem" 2>/dev/null) || rc=$?
	[[ $rc -ne 3 ]] || VERDICT=PENDING
}

certs() { store_sql "SELECT count(*) FROM certificates"; }
serial_of() { openssl x509 -in "$1" -noout -serial | cut -d= -f2 | sed "s/^0*//"; }
scepctl() { "$SCEPCTL_BIN" -c "$TMP/scepd.conf" "$@"; }

# --- A static challenge and manual approval, as in the review's reproduction.
restart 'challenge = { mode = "static"; secret = "file:'"$TMP"'/challenge"; }; approval = "manual";'
TXID=alice-tx scep alice --key "$TMP/alice.key" --subject /CN=alice --san DNS:alice.example \
	--challenge open-sesame
assert_eq PENDING "$VERDICT" "alice's first request under manual approval"
scepctl approve alice-tx >/dev/null || fail "approve alice"
TXID=alice-tx scep alice-poll --type poll --key "$TMP/alice.key" --subject /CN=alice
assert_eq SUCCESS "$VERDICT" "alice's CertPoll after approval"
openssl verify -CAfile "$TMP/ca.pem" "$TMP/alice-poll.pem" >/dev/null || fail "alice's certificate"
cp "$TMP/alice-poll.pem" "$TMP/alice.pem"
pass "manual approval: alice's request approved, collected with CertPoll"

before=$(certs)
scep bob-by-alice --key "$TMP/bob.key" --subject /CN=bob --san DNS:bob.example \
	--signer-cert "$TMP/alice.pem" --signer-key "$TMP/alice.key"
assert_eq "FAILURE badRequest" "$VERDICT" "PKCSReq for bob (bob's key) signed by alice's certificate"
scep bob-alice-key --key "$TMP/alice.key" --subject /CN=bob --san DNS:bob.example \
	--signer-cert "$TMP/alice.pem" --signer-key "$TMP/alice.key"
assert_eq "FAILURE badRequest" "$VERDICT" "PKCSReq for bob signed by alice's certificate, no challenge"
scep bob-alice-challenge --key "$TMP/alice.key" --subject /CN=bob --san DNS:bob.example \
	--signer-cert "$TMP/alice.pem" --signer-key "$TMP/alice.key" --challenge open-sesame
assert_eq PENDING "$VERDICT" "PKCSReq for bob signed by alice's certificate, with the challenge"
scep admin-renewal --type renewal --key "$TMP/mallory.key" --subject /CN=admin \
	--san DNS:vpn.example --signer-cert "$TMP/alice.pem" --signer-key "$TMP/alice.key"
assert_eq "FAILURE badRequest" "$VERDICT" "RenewalReq for CN=admin signed by alice's certificate"
scep alice-more-sans --type renewal --key "$TMP/alice.key" --subject /CN=alice \
	--san DNS:alice.example --san DNS:vpn.example \
	--signer-cert "$TMP/alice.pem" --signer-key "$TMP/alice.key"
assert_eq "FAILURE badRequest" "$VERDICT" "RenewalReq adding a SAN alice's certificate lacks"
assert_eq "$before" "$(certs)" "certificates after the attempts on other identities"
grep -q "the new subject is not the signer certificate's" "$TMP/scepd.log" ||
	fail "the log does not say why the RenewalReq was refused"
pass "alice's certificate gets nothing for bob or admin: refused, or a new request that waits for the operator"

scep alice-renew --type renewal --key "$TMP/mallory.key" --subject /CN=alice \
	--san DNS:alice.example --signer-cert "$TMP/alice.pem" --signer-key "$TMP/alice.key"
assert_eq SUCCESS "$VERDICT" "RenewalReq of alice's own identity with a new key"
openssl verify -CAfile "$TMP/ca.pem" "$TMP/alice-renew.pem" >/dev/null || fail "renewed certificate"
[[ $(serial_of "$TMP/alice-renew.pem") != $(serial_of "$TMP/alice.pem") ]] || fail "the same serial"
openssl x509 -in "$TMP/alice-renew.pem" -noout -ext subjectAltName | grep -q "DNS:alice.example" ||
	fail "the renewed certificate lacks alice's SAN"
pass "renewal of the same identity needs neither the challenge nor the operator"

# certmonger and scepclient renew with the same key, so with the same transactionID.
TXID=alice-tx scep alice-same-key --key "$TMP/alice.key" --subject /CN=alice \
	--san DNS:alice.example --signer-cert "$TMP/alice.pem" --signer-key "$TMP/alice.key"
assert_eq SUCCESS "$VERDICT" "PKCSReq signed by alice's certificate, same key and transactionID"
[[ $(serial_of "$TMP/alice-same-key.pem") != $(serial_of "$TMP/alice.pem") ]] ||
	fail "a renewal with the same key and transactionID got the old certificate again"
cp "$TMP/alice-same-key.pem" "$TMP/first-renewal.pem"
send alice-same-key
assert_eq SUCCESS "$VERDICT" "the renewal sent again"
cmp "$TMP/alice-same-key.pem" "$TMP/first-renewal.pem" || fail "a retransmitted renewal got another certificate"
send alice
assert_eq SUCCESS "$VERDICT" "alice's first PKCSReq sent again after issuance"
[[ $(serial_of "$TMP/alice.pem") == $(serial_of "$TMP/first-renewal.pem") ]] ||
	fail "a retransmission got an older certificate than the transaction's newest"
pass "renewal with the same key and transactionID: a new certificate; a retransmission: the same one"

# CertPoll by another key, before and after approval; then by the holder.
TXID=dave-tx scep dave --key "$TMP/dave.key" --subject /CN=dave --challenge open-sesame
assert_eq PENDING "$VERDICT" "dave's request"
TXID=dave-tx scep dave-by-mallory --type poll --key "$TMP/mallory.key" --subject /CN=dave
assert_eq "FAILURE badCertId" "$VERDICT" "CertPoll of dave's transaction by another key (pending)"
scepctl approve dave-tx >/dev/null || fail "approve dave"
before=$(certs)
TXID=dave-tx scep dave-by-mallory2 --type poll --key "$TMP/mallory.key" --subject /CN=dave
assert_eq "FAILURE badCertId" "$VERDICT" "CertPoll of dave's approved transaction by another key"
assert_eq "$before" "$(certs)" "certificates after a stranger's CertPoll of an approved request"
TXID=dave-tx scep dave-poll --type poll --key "$TMP/dave.key" --subject /CN=dave
assert_eq SUCCESS "$VERDICT" "dave's own CertPoll"
TXID=dave-tx scep dave-by-mallory3 --type poll --key "$TMP/mallory.key" --subject /CN=dave
assert_eq "FAILURE badCertId" "$VERDICT" "CertPoll of dave's issued transaction by another key"
grep -q "the signer does not hold the pending request's key" "$TMP/scepd.log" ||
	fail "the log does not say why CertPoll was refused"
pass "CertPoll answers only the holder of the request's key"

# GetCert: the holder of a certificate of the same subject, not a stranger.
alice_serial=$(serial_of "$TMP/alice-poll.pem")
scep getcert-own --type getcert --serial "$alice_serial" --key "$TMP/alice.key" \
	--signer-cert "$TMP/alice-renew.pem" --signer-key "$TMP/mallory.key"
assert_eq SUCCESS "$VERDICT" "GetCert of alice's first certificate by alice's renewed one"
cmp <(openssl x509 -in "$TMP/getcert-own.pem" -outform DER) <(openssl x509 -in "$TMP/alice-poll.pem" -outform DER) ||
	fail "GetCert returned another certificate"
scep getcert-self --type getcert --serial "$alice_serial" --key "$TMP/mallory.key"
assert_eq "FAILURE badCertId" "$VERDICT" "GetCert of alice's certificate by a self-signed stranger"
scep getcert-dave --type getcert --serial "$alice_serial" --key "$TMP/dave.key" \
	--signer-cert "$TMP/dave-poll.pem" --signer-key "$TMP/dave.key"
assert_eq "FAILURE badCertId" "$VERDICT" "GetCert of alice's certificate by dave's certificate"
pass "GetCert answers a certificate of the same subject only"

# The store goes away in the middle of a renewal (PostgreSQL stopped): 503, which the
# client retries, never a refusal it would take as final; then the same message renews.
if [[ $SCEPD_TEST_STORE == postgresql ]]; then
	pg_ctl_run stop || fail "PostgreSQL did not stop"
	scep store-gone --type renewal --key "$TMP/mallory.key" --subject /CN=alice \
		--san DNS:alice.example --signer-cert "$TMP/alice-renew.pem" --signer-key "$TMP/mallory.key"
	assert_eq "HTTP 503" "$VERDICT" "a renewal while the store is down"
	pg_ctl_run start || fail "PostgreSQL did not start again"
	for _ in $(seq 1 50); do
		send store-gone
		[[ $VERDICT == "HTTP 503" ]] || break
		sleep 0.2
	done
	assert_eq SUCCESS "$VERDICT" "the same renewal once the store is back"
	pass "the store stopped during a renewal: 503, then the renewal goes through"
fi

# An unauthenticated message costs no private-key operation: a 400, no CertRep.
scep broken --break bad-signature --key "$TMP/mallory.key" --subject /CN=x --challenge x
assert_eq "HTTP 400" "$VERDICT" "a message whose signature does not verify"
scep md5 --digest md5 --key "$TMP/mallory.key" --subject /CN=x --challenge x
assert_eq "HTTP 400" "$VERDICT" "a message signed with MD5"
pass "messages whose signature does not verify: 400 without a signed answer"

# --- One-time challenges whose owner names the subject: the renewal keeps the owner.
restart 'challenge = { mode = "otp"; }; subject = { request = [ "CN" ]; set = ( ("OU", "%{REMOTE_USER}") ); };' \
	'csr: { auth = "none"; };'
otp=$(scepctl challenge new --owner laptop-7)
scep owned --key "$TMP/bob.key" --subject /CN=bob --challenge "$otp"
assert_eq SUCCESS "$VERDICT" "enrolment with a one-time challenge"
openssl x509 -in "$TMP/owned.pem" -noout -subject | grep -q "OU = laptop-7" ||
	fail "subject.set did not use the challenge's owner: $(openssl x509 -in "$TMP/owned.pem" -noout -subject)"
scep owned-renew --type renewal --key "$TMP/dave.key" --subject /CN=bob \
	--signer-cert "$TMP/owned.pem" --signer-key "$TMP/bob.key"
assert_eq SUCCESS "$VERDICT" "renewal with subject.set using %{REMOTE_USER}"
openssl x509 -in "$TMP/owned-renew.pem" -noout -subject | grep -q "OU = laptop-7" ||
	fail "the renewal lost the owner"
assert_eq laptop-7 "$(store_sql "SELECT owner FROM certificates WHERE serial = '$(serial_of "$TMP/owned-renew.pem")'")" \
	"the renewed certificate's recorded owner"
pass "a renewal carries the owner of the original request (subject.set with %{REMOTE_USER})"

# A /csr certificate never authorizes SCEP.
openssl req -new -key "$TMP/mallory.key" -subj /CN=carol -out "$TMP/carol.csr" 2>/dev/null
curl -sf --data-binary @"$TMP/carol.csr" -o "$TMP/carol.pem" "http://127.0.0.1:$PORT/csr" ||
	fail "POST /csr"
before=$(certs)
scep carol-renew --type renewal --key "$TMP/mallory.key" --subject /CN=carol \
	--signer-cert "$TMP/carol.pem" --signer-key "$TMP/mallory.key"
assert_eq "FAILURE badRequest" "$VERDICT" "RenewalReq signed by a /csr certificate"
scep carol-pkcsreq --key "$TMP/mallory.key" --subject /CN=carol \
	--signer-cert "$TMP/carol.pem" --signer-key "$TMP/mallory.key"
assert_eq "FAILURE badRequest" "$VERDICT" "PKCSReq signed by a /csr certificate, no challenge"
assert_eq "$before" "$(certs)" "certificates after SCEP signed by a /csr certificate"
pass "a certificate from /csr stands in for no SCEP challenge"

# --- Refused requests are rate limited per address; others are still served.
restart 'challenge = { mode = "static"; secret = "file:'"$TMP"'/challenge"; }; refusals_per_minute = 3;'
for i in 1 2 3; do
	scep wrong$i --key "$TMP/mallory.key" --subject /CN=m --challenge wrong
	assert_eq "FAILURE badRequest" "$VERDICT" "refusal $i of 3"
done
scep wrong4 --key "$TMP/mallory.key" --subject /CN=m --challenge wrong
assert_eq "HTTP 429" "$VERDICT" "the fourth refusal within a minute"
scep right-after --key "$TMP/mallory.key" --subject /CN=m --challenge open-sesame
assert_eq "HTTP 429" "$VERDICT" "a request from the limited address"
"$SCEP_CLIENT" request --ca "$TMP/ca.bin" --state "$TMP/other.st" --out "$TMP/other.msg" \
	--key "$TMP/dave.key" --subject /CN=other --challenge open-sesame
code=$(curl -s --interface 127.0.0.2 -o "$TMP/other.rep" -w '%{http_code}' \
	--data-binary @"$TMP/other.msg" "$url?operation=PKIOperation")
assert_eq 200 "$code" "a request from another address"
assert_eq SUCCESS "$("$SCEP_CLIENT" reply --in "$TMP/other.rep" --state "$TMP/other.st" 2>/dev/null)" \
	"the other address's enrolment"
grep -q "more than 3 refusals a minute" "$TMP/scepd.log" || fail "the log does not name the limit"
pass "refused requests: 3 signed FAILUREs a minute, then 429 without a key operation; other addresses served"

# An IPv6 client counts as its /64: a host that holds a whole prefix does not get a
# new allowance with each address. Two addresses of one /64 on lo (root only).
net6=fd00:5ce9:7e57:1
restore_lo() { ip -6 addr del "$net6::a/64" dev lo; ip -6 addr del "$net6::b/64" dev lo; }
if [[ $(id -u) -eq 0 ]] && ip -6 addr add "$net6::a/64" dev lo nodad 2>/dev/null; then
	CLEANUP_HOOKS+=(restore_lo)
	ip -6 addr add "$net6::b/64" dev lo nodad || fail "ip -6 addr add"
	kill -TERM "$SCEPD_PID"
	wait_exit "$SCEPD_PID" 10 || fail "scepd did not stop"
	sed -i "s|listen = \[\"127.0.0.1:$PORT\"\];|listen = [\"127.0.0.1:$PORT\", \"[$net6::a]:$PORT\"];|" "$TMP/scepd.conf"
	start_scepd "$TMP/scepd.conf"
	url6="http://[$net6::a]:$PORT/scep"
	for src in a a a b; do
		code=$(curl -s -g --interface "$net6::$src" -o /dev/null -w '%{http_code}' \
			--data-binary @"$TMP/wrong1.msg" "$url6?operation=PKIOperation")
		last=$code
		[[ $src == b ]] || assert_eq 200 "$code" "a refusal from $net6::$src"
	done
	assert_eq 429 "$last" "the fourth refusal from another address of the same /64"
	code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$TMP/wrong1.msg" \
		"$url?operation=PKIOperation")
	assert_eq 200 "$code" "a refusal from 127.0.0.1 (another allowance)"
	pass "IPv6: the refusals of one /64 are counted together"
else
	echo "skipped: the IPv6 /64 part needs root and ip(8)" >&2
fi

# --- GetNextCACert is signed once per worker, not per request.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/next.key" -out "$TMP/next.pem" \
	-subj "/CN=scepd next CA" -days 60 -addext basicConstraints=critical,CA:TRUE 2>/dev/null
sed -i "s|^\tkey = \"\(.*\)\";|\tkey = \"\1\";\n\tnext_certificate = \"$TMP/next.pem\";|" "$TMP/scepd.conf"
kill -TERM "$SCEPD_PID"
wait_exit "$SCEPD_PID" 10 || fail "scepd did not stop"
start_scepd "$TMP/scepd.conf"
curl -sf -o "$TMP/next1.p7" "$url?operation=GetNextCACert" || fail "GetNextCACert"
sleep 1.1 # a new signature would carry another signingTime
curl -sf -o "$TMP/next2.p7" "$url?operation=GetNextCACert" || fail "GetNextCACert again"
cmp -s "$TMP/next1.p7" "$TMP/next2.p7" || fail "GetNextCACert was signed again for a second request"
"$SCEP_CLIENT" nextca --in "$TMP/next2.p7" --ca "$TMP/ca.bin" >/dev/null || fail "GetNextCACert does not verify"
pass "GetNextCACert: one signature per worker"
