#!/usr/bin/env bash
# certmonger against scepd: scep-submit -c (capabilities) and -C (CA certificates),
# then a full enrolment with `getcert add-scep-ca` + `getcert request` against a
# certmonger daemon on a private D-Bus session bus, with a one-time challenge.
# certmonger verifies CertReps against the CA certificate it got as a root, which
# it finds only in a ca-ra-cert answer: the CA here has an RA.
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
SCRIPT
timeout 120 dbus-run-session -- bash "$cm/enrol.sh" >"$cm/out" 2>&1 || true
grep -q "status: MONITORING" "$cm/out" || fail "certmonger did not get its certificate: $(grep -E 'status|error' "$cm/out")"
openssl verify -CAfile "$TMP/ca.pem" "$cm/cert.pem" >/dev/null || fail "the certificate does not verify"
openssl x509 -in "$cm/cert.pem" -noout -subject | grep -q "CN = certmonger.example" || fail "subject"
grep -q "audit: result=issued endpoint=scep" "$TMP/scepd.log" || fail "no audit record"
pass "certmonger: getcert add-scep-ca + getcert request with a one-time challenge"
