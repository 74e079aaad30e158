#!/usr/bin/env bash
# server.tls: HTTPS listeners of scepd's own. GetCACaps and /csr over HTTPS with the test
# CA's server certificate (IP SAN 127.0.0.1), plain HTTP unchanged; a client without
# the CA, TLS 1.1, plain HTTP on the TLS port and an expired certificate are refused;
# a renewed certificate is served after SIGHUP; scepd -t judges the files; the key
# never reaches the log.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
TPORT=$(free_port)
tls=$TMP/tls
mkdir -p "$tls"

# The TLS CA, and server certificates for 127.0.0.1 signed by it.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tls/ca.key" -out "$tls/ca.pem" \
	-subj "/CN=scepd TLS test CA" -days 30 -addext basicConstraints=critical,CA:TRUE \
	-addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tls/server.key" \
	-subj "/CN=127.0.0.1" -out "$tls/server.csr" 2>/dev/null
chmod 600 "$tls/server.key"
printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >"$tls/ext.cnf"
server_cert() { # SERIAL DAYS OUT
	openssl x509 -req -in "$tls/server.csr" -CA "$tls/ca.pem" -CAkey "$tls/ca.key" \
		-set_serial "$1" -days "$2" -extfile "$tls/ext.cnf" -out "$3" 2>/dev/null
}
server_cert 0x1001 20 "$tls/server.pem"

write_config "$TMP/scepd.conf" "workers = 2;
	tls = {
		listen = [\"127.0.0.1:$TPORT\"];
		certificate = \"$tls/server.pem\";
		key = \"$tls/server.key\";
	};"
echo "scep: { };" >>"$TMP/scepd.conf"
open_csr "$TMP/scepd.conf"

# scepd -t: the certificate expires within 30 days: a warning, not an error.
out=$("$SCEPD_BIN" -c "$TMP/scepd.conf" -t 2>&1) || fail "scepd -t: $out"
grep -q "server.tls.certificate: warning: the certificate (serial 1001) expires on .*, in \(19\|20\) day(s)" \
	<<<"$out" || fail "scepd -t does not warn of the expiry: $out"
! grep -q "server.tls.key: warning" <<<"$out" || fail "a 0600 key is reported readable: $out"

start_scepd "$TMP/scepd.conf"
https=https://127.0.0.1:$TPORT

# HTTPS with the CA: GetCACaps and a certificate from /csr.
caps=$(curl -sS --cacert "$tls/ca.pem" -w '\n%{http_code}' "$https/scep?operation=GetCACaps") ||
	fail "GetCACaps over HTTPS"
assert_eq 200 "$(tail -n1 <<<"$caps")" "GetCACaps over HTTPS"
grep -qx "POSTPKIOperation" <<<"$caps" || fail "no POSTPKIOperation in the caps: $caps"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/host.key" \
	-subj "/CN=host.example" -out "$TMP/host.csr" 2>/dev/null
code=$(curl -sS --cacert "$tls/ca.pem" -o "$TMP/host.pem" -w '%{http_code}' \
	--data-binary @"$TMP/host.csr" "$https/csr")
assert_eq 200 "$code" "POST /csr over HTTPS"
openssl verify -CAfile "$TMP/ca.pem" "$TMP/host.pem" >/dev/null ||
	fail "the certificate from /csr over HTTPS does not verify"
# Plain HTTP on server.listen still serves.
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/scep?operation=GetCACaps")
assert_eq 200 "$code" "GetCACaps over plain HTTP"
pass "GetCACaps and /csr over HTTPS, plain HTTP unchanged"

# Attacker cases: a client that does not know the CA refuses the server...
rc=0
err=$(curl -sS -o /dev/null "$https/healthz" 2>&1) || rc=$?
assert_eq 60 "$rc" "curl without --cacert (exit code; $err)"
# ... TLS 1.1 is refused by the server (the client here is willing: no minimum, SECLEVEL 0),
# TLS 1.2 and 1.3 are taken.
printf 'openssl_conf = scepd_test\n[scepd_test]\n' >"$TMP/openssl-any.cnf"
out=$(OPENSSL_CONF=$TMP/openssl-any.cnf openssl s_client -connect "127.0.0.1:$TPORT" -tls1_1 \
	-cipher 'DEFAULT:@SECLEVEL=0' </dev/null 2>&1) && fail "TLS 1.1 handshake succeeded"
grep -q "^New, (NONE), Cipher is (NONE)" <<<"$out" || fail "TLS 1.1: $out"
for v in 1_2:TLSv1.2 1_3:TLSv1.3; do
	out=$(openssl s_client -connect "127.0.0.1:$TPORT" -tls${v%%:*} -CAfile "$tls/ca.pem" \
		-verify_return_error </dev/null 2>&1) || fail "${v#*:} refused: $out"
	grep -q "^New, ${v#*:}, Cipher is" <<<"$out" || fail "${v#*:}: $out"
done
pass "unknown CA and TLS 1.1 refused; TLS 1.2 and 1.3 accepted"

# Plain HTTP sent to the TLS port gets no HTTP answer, and the workers keep serving.
workers=$(worker_pids)
rc=0
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$TPORT/healthz") || rc=$?
assert_eq 000 "$code" "plain HTTP on the TLS port (HTTP status)"
[[ $rc -ne 0 ]] || fail "plain HTTP on the TLS port: curl succeeded"
printf 'GET /healthz HTTP/1.0\r\n\r\n' >"$TMP/plain.req"
answer=$(timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$TPORT; cat $TMP/plain.req >&3; cat <&3" \
	2>/dev/null | head -c 200 | tr -d '\0' || true)
! grep -q "^HTTP/" <<<"$answer" || fail "the TLS port answered plain HTTP: $answer"
code=$(curl -sS --cacert "$tls/ca.pem" -o /dev/null -w '%{http_code}' "$https/healthz")
assert_eq 200 "$code" "HTTPS after plain HTTP on the TLS port"
assert_eq "$workers" "$(worker_pids)" "workers after plain HTTP on the TLS port"
pass "plain HTTP on the TLS port: no HTTP answer, the workers keep serving"

# Reload: a renewed certificate (new serial) in place of the old, SIGHUP, new generation.
serial() {
	openssl s_client -connect "127.0.0.1:$TPORT" -CAfile "$tls/ca.pem" </dev/null 2>/dev/null |
		openssl x509 -noout -serial
}
assert_eq "serial=1001" "$(serial)" "serial before the renewal"
server_cert 0x2002 60 "$tls/renewed.pem"
mv "$tls/renewed.pem" "$tls/server.pem"
kill -HUP "$SCEPD_PID"
wait_log "generation 2 serving" 10 || fail "no generation 2 after SIGHUP"
assert_eq "serial=2002" "$(serial)" "serial after the renewal and SIGHUP"
pass "SIGHUP serves the renewed certificate"

# An expired certificate (openssl ca, for a notAfter in the past): scepd -t says so and
# fails; served anyway after a reload (the log says so), clients refuse it.
mkdir -p "$tls/ca.db"
: >"$tls/ca.db/index.txt"
echo 3003 >"$tls/ca.db/serial"
cat >"$tls/ca.cnf" <<CNF
[ ca ]
default_ca = test
[ test ]
database = $tls/ca.db/index.txt
new_certs_dir = $tls/ca.db
serial = $tls/ca.db/serial
certificate = $tls/ca.pem
private_key = $tls/ca.key
default_md = sha256
policy = any
unique_subject = no
[ any ]
commonName = supplied
CNF
openssl ca -batch -config "$tls/ca.cnf" -in "$tls/server.csr" -startdate 20200101000000Z \
	-enddate 20210101000000Z -extfile "$tls/ext.cnf" -out "$tls/expired.pem" 2>/dev/null ||
	fail "openssl ca could not make the expired certificate"
cp "$tls/expired.pem" "$tls/server.pem"
rc=0
out=$("$SCEPD_BIN" -c "$TMP/scepd.conf" -t 2>&1) || rc=$?
assert_eq 1 "$rc" "scepd -t with an expired certificate (exit code; $out)"
grep -q "server.tls.certificate: the certificate (serial 3003) expired on 2021-01-01 00:00:00 UTC" \
	<<<"$out" || fail "scepd -t does not say the certificate expired: $out"
kill -HUP "$SCEPD_PID"
wait_log "generation 3 serving" 10 || fail "no generation 3 after SIGHUP"
grep -q "server.tls.certificate: the certificate (serial 3003) has expired" "$TMP/scepd.log" ||
	fail "the log does not say the certificate expired"
rc=0
err=$(curl -sS --cacert "$tls/ca.pem" -o /dev/null "$https/healthz" 2>&1) || rc=$?
assert_eq 60 "$rc" "curl to an expired certificate (exit code; $err)"
grep -q "certificate has expired" <<<"$err" || fail "curl's error: $err"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")
assert_eq 200 "$code" "plain HTTP while the TLS certificate is expired"
pass "an expired certificate: scepd -t fails, clients refuse it, plain HTTP serves"

# scepd -t: a key of another certificate, a key its group can read, an address taken twice.
cp "$tls/server.pem" "$tls/server.pem.expired"
server_cert 0x4004 60 "$tls/server.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tls/other.key" 2>/dev/null
chmod 600 "$tls/other.key"
sed "s|$tls/server.key|$tls/other.key|" "$TMP/scepd.conf" >"$TMP/mismatch.conf"
rc=0
out=$("$SCEPD_BIN" -c "$TMP/mismatch.conf" -t 2>&1) || rc=$?
assert_eq 1 "$rc" "scepd -t with a key of another certificate (exit code; $out)"
grep -q "server.tls.key: '$tls/other.key' is not the key of the first certificate" <<<"$out" ||
	fail "scepd -t on a mismatched key: $out"
chmod 640 "$tls/server.key"
out=$("$SCEPD_BIN" -c "$TMP/scepd.conf" -t 2>&1) || fail "scepd -t, key 0640: $out"
grep -q "server.tls.key: warning: the key file is readable by its group or others" <<<"$out" ||
	fail "scepd -t does not warn of a 0640 key: $out"
chmod 600 "$tls/server.key"
sed "s|\"127.0.0.1:$TPORT\"|\"*:$PORT\"|" "$TMP/scepd.conf" >"$TMP/collide.conf"
rc=0
out=$("$SCEPD_BIN" -c "$TMP/collide.conf" -t 2>&1) || rc=$?
assert_eq 1 "$rc" "scepd -t with a TLS address on the plain port (exit code; $out)"
grep -q "server.tls.listen: '\*:$PORT' collides with server.listen '127.0.0.1:$PORT'" <<<"$out" ||
	fail "scepd -t on colliding addresses: $out"
pass "scepd -t: mismatched key, readable key, colliding address"

# A renewal gone wrong (a certificate of another key): the new generation does not start,
# the old one serves on with its certificate.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tls/wrong.key" \
	-subj "/CN=127.0.0.1" -set_serial 0x5005 -days 30 -out "$tls/server.pem" 2>/dev/null
kill -HUP "$SCEPD_PID"
for _ in $(seq 1 100); do
	grep -q "generation 4 could not start" "$TMP/scepd.log" && break
	sleep 0.1
done
grep -q "generation 4 could not start: generation 3 keeps serving" "$TMP/scepd.log" ||
	fail "a certificate of another key did not stop generation 4"
grep -q "server.tls.key: '$tls/server.key' is not the key of the first certificate" \
	"$TMP/scepd.log" || fail "the log does not say why generation 4 did not start"
assert_eq "serial=3003" "$(serial)" "serial after a failed renewal"
pass "a renewal with a certificate of another key: the old generation serves on"

# The key's text never reaches the log (secrets_check.sh checks every key in \$TMP too).
key_line=$(sed -n 2p "$tls/server.key")
! grep -qF "$key_line" "$TMP/scepd.log" || fail "the TLS key is in the log"
! grep -q "PRIVATE KEY" "$TMP/scepd.log" || fail "a private key is in the log"
pass "the TLS key is not in the log"
