#!/usr/bin/env bash
# certmonger against scepd: scep-submit -c (capabilities) and -C (CA certificates),
# then a full enrolment with `getcert add-scep-ca` + `getcert request` against a
# certmonger daemon on a private D-Bus session bus, with a one-time challenge.
# certmonger verifies CertReps against the CA certificate it got as a root, which
# it finds only in a ca-ra-cert answer: the CA here has an RA. Then `getcert resubmit`
# (renewal with the same key, so the same transactionID) and `getcert rekey`: each a new
# certificate.
. "$(dirname "$0")/lib.sh"
submit=/usr/lib/certmonger/scep-submit
[[ -x $submit ]] || skip "certmonger not installed"
command -v dbus-run-session >/dev/null || skip "dbus-run-session not installed"

PORT=$(free_port)
url=http://127.0.0.1:$PORT/scep
make_file_ca "$TMP"
openssl req -new -newkey rsa:2048 -nodes -keyout "$TMP/ra.key" -subj "/CN=scepd test RA" \
	-out "$TMP/ra.csr" 2>/dev/null
openssl x509 -req -in "$TMP/ra.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" -CAcreateserial \
	-days 30 -out "$TMP/ra.pem" \
	-extfile <(printf 'keyUsage=critical,digitalSignature,keyEncipherment\n') 2>/dev/null
write_config "$TMP/scepd.conf" "workers = 2;"
cat >>"$TMP/scepd.conf" <<CONF
scep: {
	ra = { certificate = "$TMP/ra.pem"; key = "$TMP/ra.key"; };
	challenge = { mode = "otp"; };
};
CONF
start_scepd "$TMP/scepd.conf"

"$submit" -u "$url" -c >"$TMP/caps" || fail "scep-submit -c"
grep -qx "POSTPKIOperation" "$TMP/caps" || fail "scep-submit -c: $(cat "$TMP/caps")"
"$submit" -u "$url" -C >"$TMP/cacerts" || fail "scep-submit -C"
[[ $(grep -c "BEGIN CERTIFICATE" "$TMP/cacerts") -ge 2 ]] || fail "scep-submit -C: RA and CA expected"
pass "scep-submit -c and -C"

cm=$TMP/certmonger
mkdir -p "$cm/requests" "$cm/cas" "$cm/local" "$cm/tmp"
export CERTMONGER_CONFIG_DIR=$cm CERTMONGER_REQUESTS_DIR=$cm/requests CERTMONGER_CAS_DIR=$cm/cas \
	CERTMONGER_LOCAL_CA_DIR=$cm/local CERTMONGER_TMPDIR=$cm/tmp HOME=$cm
otp=$("$SCEPCTL_BIN" -c "$TMP/scepd.conf" challenge new --owner certmonger)
cat >"$cm/enrol.sh" <<SCRIPT
certmonger -s -n >"$cm/certmonger.log" 2>&1 &
pid=\$!
trap 'kill \$pid 2>/dev/null' EXIT
for _ in \$(seq 1 50); do getcert list-cas -s >/dev/null 2>&1 && break; sleep 0.1; done
getcert add-scep-ca -s -c scepd -u "$url"
getcert request -s -c scepd -k "$cm/key.pem" -f "$cm/cert.pem" -N CN=certmonger.example \\
	-L "$otp" -w
getcert list -s
cp "$cm/cert.pem" "$cm/cert1.pem"
sleep 1.1
# What automatic renewal does when the key is kept: the same key, the same transactionID.
getcert resubmit -s -f "$cm/cert.pem" -w
getcert list -s
cp "$cm/cert.pem" "$cm/cert2.pem"
sleep 1.1
getcert rekey -s -f "$cm/cert.pem" -w
getcert list -s
cp "$cm/cert.pem" "$cm/cert3.pem"
SCRIPT
timeout 120 dbus-run-session -- bash "$cm/enrol.sh" >"$cm/out" 2>&1 || true
grep -q "status: MONITORING" "$cm/out" || fail "certmonger did not get its certificate: $(grep -E 'status|error' "$cm/out")"
openssl verify -CAfile "$TMP/ca.pem" "$cm/cert.pem" >/dev/null || fail "the certificate does not verify"
openssl x509 -in "$cm/cert.pem" -noout -subject | grep -q "CN = certmonger.example" || fail "subject"
grep -q "audit: result=issued endpoint=scep" "$TMP/scepd.log" || fail "no audit record"
pass "certmonger: getcert add-scep-ca + getcert request with a one-time challenge"

# request -> resubmit (same key) -> rekey: three certificates, each later than the last.
serials=() ends=()
for i in 1 2 3; do
	[[ -s "$cm/cert$i.pem" ]] || fail "no certificate after step $i: $(grep -E 'status|error' "$cm/out")"
	openssl verify -CAfile "$TMP/ca.pem" "$cm/cert$i.pem" >/dev/null || fail "certificate $i does not verify"
	serials+=("$(openssl x509 -in "$cm/cert$i.pem" -noout -serial)")
	ends+=("$(date -d "$(openssl x509 -in "$cm/cert$i.pem" -noout -enddate | cut -d= -f2)" +%s)")
done
[[ ${serials[0]} != "${serials[1]}" ]] || fail "getcert resubmit got the same certificate again"
[[ ${serials[1]} != "${serials[2]}" && ${serials[0]} != "${serials[2]}" ]] || fail "getcert rekey got an old certificate"
[[ ${ends[1]} -gt ${ends[0]} && ${ends[2]} -gt ${ends[1]} ]] || fail "notAfter did not move on: ${ends[*]}"
cmp -s <(openssl x509 -in "$cm/cert1.pem" -noout -pubkey) <(openssl x509 -in "$cm/cert2.pem" -noout -pubkey) ||
	fail "resubmit changed the key"
! cmp -s <(openssl x509 -in "$cm/cert2.pem" -noout -pubkey) <(openssl x509 -in "$cm/cert3.pem" -noout -pubkey) ||
	fail "rekey kept the key"
grep -q "renewal of serial" "$TMP/scepd.log" || fail "scepd did not log a renewal"
pass "certmonger: request, resubmit (same key) and rekey give three certificates, each ending later"
