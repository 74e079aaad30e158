#!/usr/bin/env bash
# One-time challenges minted with scepctl (used once, across workers) and manual
# approval with scepctl approve/reject, driven by micromdm's scepclient, which sends
# its PKCSReq again 30 s after a PENDING. A challenge minted for one identity cannot
# get a certificate for another when the subject comes from the challenge's owner.
. "$(dirname "$0")/lib.sh"
command -v scepclient >/dev/null || skip "scepclient (package scep) not installed"

PORT=$(free_port)
url=http://127.0.0.1:$PORT/scep
make_scep_ca "$TMP"

scep_config() { # APPROVAL [SUBJECT-BLOCK]
	write_config "$TMP/scepd.conf" "workers = 2;"
	cat >>"$TMP/scepd.conf" <<CONF
scep: { challenge = { mode = "otp"; }; approval = "$1"; ${2:-} };
CONF
}

scepctl() {
	"$SCEPCTL_BIN" -c "$TMP/scepd.conf" "$@"
}

# enrol NAME CHALLENGE: 0 when a certificate came back (see t_scep.sh for the layout).
enrol() {
	local dir=$TMP/client-$1
	rm -rf "$dir"
	mkdir -p "$dir"
	timeout 90 scepclient -server-url "$url" -private-key "$dir/key.pem" \
		-certificate "$dir/cert.pem" -cn "$1" -challenge "$2" >"$TMP/$1.out" 2>&1 &&
		[[ -s "$dir/cert.pem" ]]
}

scep_config auto
start_scepd "$TMP/scepd.conf"
otp=$(scepctl challenge new --owner alice --ttl 10m)
[[ "$otp" =~ ^[0-9a-f]{32}$ ]] || fail "challenge new printed '$otp'"
enrol first "$otp" || fail "enrolment with a fresh OTP: $(tail -2 "$TMP/first.out")"
openssl verify -CAfile "$TMP/ca.pem" "$TMP/client-first/cert.pem" >/dev/null || fail "does not verify"
! enrol second "$otp" || fail "an OTP was accepted twice"
grep -q "FAILURE badRequest: the challenge password was used already" "$TMP/scepd.log" ||
	fail "no log line for the reused OTP"
! enrol third "not-a-challenge" || fail "an unknown challenge was accepted"
pass "OTP: first use enrols, second use and an unknown one are refused"

kill -TERM "$SCEPD_PID"
wait_exit "$SCEPD_PID" 5 || fail "did not stop"
scep_config manual
start_scepd "$TMP/scepd.conf"
enrol approved "$(scepctl challenge new)" &
approved_pid=$!
enrol rejected "$(scepctl challenge new)" &
rejected_pid=$!
for _ in $(seq 1 100); do
	[[ $(scepctl pending | wc -l) -eq 2 ]] && break
	sleep 0.1
done
scepctl pending >"$TMP/pending"
assert_eq 2 "$(wc -l <"$TMP/pending")" "pending requests"
txid_ok=$(grep "CN=approved," "$TMP/pending" | cut -f1)
txid_no=$(grep "CN=rejected," "$TMP/pending" | cut -f1)
scepctl approve "$txid_ok" || fail "approve"
scepctl reject "$txid_no" || fail "reject"
! scepctl approve "$txid_no" 2>/dev/null || fail "a rejected request was approved"
wait "$approved_pid" || fail "the approved client got no certificate: $(tail -2 "$TMP/approved.out")"
openssl verify -CAfile "$TMP/ca.pem" "$TMP/client-approved/cert.pem" >/dev/null || fail "does not verify"
! wait "$rejected_pid" || fail "the rejected client got a certificate"
assert_eq "issued" "$(store_sql "SELECT status FROM pending_requests WHERE transaction_id = '$txid_ok'")" \
	"status of the approved request"
assert_eq 1 "$(store_sql "SELECT count(*) FROM certificates WHERE transaction_id = '$txid_ok'")" \
	"certificates for the approved transaction"
assert_eq 0 "$(store_sql "SELECT count(*) FROM certificates WHERE transaction_id = '$txid_no'")" \
	"certificates for the rejected transaction"
assert_eq "" "$(scepctl pending)" "pending after the decisions"
pass "manual approval: PENDING, approve -> certificate on the client's retry, reject -> FAILURE"

# A challenge for alice used by a client asking for CN=mallory: with the subject taken
# from the owner alone, the certificate names alice; a challenge without an owner
# gets nothing.
kill -TERM "$SCEPD_PID"
wait_exit "$SCEPD_PID" 5 || fail "did not stop"
scep_config auto 'subject = { request = []; set = ( ("CN", "%{REMOTE_USER}") ); };'
start_scepd "$TMP/scepd.conf"
enrol mallory "$(scepctl challenge new --owner alice)" ||
	fail "enrolment with alice's OTP: $(tail -2 "$TMP/mallory.out")"
assert_eq "subject=CN = alice" "$(openssl x509 -noout -subject -in "$TMP/client-mallory/cert.pem")" \
	"subject of the certificate issued with alice's challenge"
before=$(store_sql "SELECT count(*) FROM certificates")
! enrol nobody "$(scepctl challenge new)" || fail "a challenge without an owner got a certificate"
assert_eq "$before" "$(store_sql "SELECT count(*) FROM certificates")" \
	"certificates after the ownerless challenge"
pass "a challenge names its owner: alice's challenge gets CN=alice whatever the client asks"
