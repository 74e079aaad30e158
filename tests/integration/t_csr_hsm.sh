#!/usr/bin/env bash
# /csr with CA keys in a SoftHSM token through the pkcs11 engine: RSA-2048 and P-256
# CAs issue certificates that verify; the token going away gives 503 and /healthz 503
# with the reason, and scepd serves again by itself once the token is back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_hsm.sh"

make_token scepd-test
make_token_ca rsa-ca rsa:2048
make_token_ca ec-ca EC:prime256v1
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
	-subj "/CN=hsm.example" -addext "subjectAltName=DNS:hsm.example" -out "$TMP/req.csr" 2>/dev/null

token_config() { # OBJECT WORKERS
	store_prepare
	cat >"$TMP/scepd.conf" <<CONF
server: { listen = ["127.0.0.1:$PORT"]; workers = $2; };
$(engine_config)
ca: { certificate = "$HSM_DIR/$1.pem"; key = "$(token_key_uri "$1")"; };
csr: { auth = "none"; subject_alt_name = { request = ["dNSName"]; }; };
$(store_config_line)
log: { level = "debug"; };
CONF
}

PORT=$(free_port)
for ca in rsa-ca ec-ca; do
	token_config $ca 2
	"$SCEPD_BIN" -c "$TMP/scepd.conf" -t >/dev/null || fail "$ca: scepd -t refuses the config"
	start_scepd "$TMP/scepd.conf"
	for i in 1 2 3 4; do
		code=$(curl -s -o "$TMP/$ca.$i.pem" -w '%{http_code}' --data-binary @"$TMP/req.csr" \
			"http://127.0.0.1:$PORT/csr")
		assert_eq 200 "$code" "$ca: POST /csr #$i"
		openssl verify -CAfile "$HSM_DIR/$ca.pem" "$TMP/$ca.$i.pem" >/dev/null ||
			fail "$ca: certificate #$i does not verify"
	done
	openssl x509 -in "$TMP/$ca.1.pem" -noout -ext subjectAltName | grep -q "DNS:hsm.example" ||
		fail "$ca: SAN missing"
	for pid in $(worker_pids); do
		grep -q libsofthsm2.so "/proc/$pid/maps" || fail "$ca: worker $pid has no SoftHSM mapped"
	done
	! grep -q libsofthsm2.so "/proc/$SCEPD_PID/maps" || fail "$ca: the supervisor mapped SoftHSM"
	! grep -q "$HSM_PIN" "$TMP/scepd.log" || fail "$ca: the PIN is in the log"
	kill -TERM "$SCEPD_PID"
	wait_exit "$SCEPD_PID" 5 || fail "$ca: did not stop"
	pass "$ca: 4 certificates from the token verify; SoftHSM in workers only"
done

# The token goes away while scepd runs, then comes back.
token_config rsa-ca 1
start_scepd "$TMP/scepd.conf"
mv "$HSM_DIR/tokens" "$HSM_DIR/tokens.away"
start=$SECONDS
code=$(curl -s -o "$TMP/body" -w '%{http_code}' --max-time 10 --data-binary @"$TMP/req.csr" \
	"http://127.0.0.1:$PORT/csr")
assert_eq 503 "$code" "POST /csr without the token"
((SECONDS - start <= 5)) || fail "the 503 took $((SECONDS - start)) s"
grep -q "^signing unavailable: " "$TMP/body" || fail "503 text: $(cat "$TMP/body")"
assert_eq 503 "$(curl -s -o "$TMP/body" -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")" \
	"/healthz without the token"
grep -q "cannot sign" "$TMP/body" || fail "/healthz reason: $(cat "$TMP/body")"
# /metrics counts the failed signature by the class of its PKCS#11 return value.
curl -sf -o "$TMP/metrics.txt" "http://127.0.0.1:$PORT/metrics" || fail "GET /metrics"
assert_eq 1 "$(awk '$1 == "scepd_sign_errors_total{operation=\"certificate\",ckr_class=\"token\"}" { print $2 }' \
	"$TMP/metrics.txt")" "signature errors of class token in /metrics"
pass "token gone: 503 at once, /healthz 503 with the reason, /metrics counts a token error"

mv "$HSM_DIR/tokens.away" "$HSM_DIR/tokens"
for _ in $(seq 1 100); do
	[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz") == 200 ]] && break
	sleep 0.2
done
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")" \
	"/healthz after the token came back"
code=$(curl -s -o "$TMP/back.pem" -w '%{http_code}' --data-binary @"$TMP/req.csr" \
	"http://127.0.0.1:$PORT/csr")
assert_eq 200 "$code" "POST /csr after the token came back"
openssl verify -CAfile "$HSM_DIR/rsa-ca.pem" "$TMP/back.pem" >/dev/null || fail "does not verify"
curl -sf -o "$TMP/metrics.txt" "http://127.0.0.1:$PORT/metrics" || fail "GET /metrics"
n=$(awk '$1 == "scepd_worker_restarts_total{cause=\"unavailable\"}" { print $2 }' "$TMP/metrics.txt")
((${n:-0} >= 1)) || fail "workers replaced for want of the token, in /metrics: '$n'"
pass "token back: serving again without a restart of scepd; /metrics counts the fresh worker"

# SCEP with the RA key on the token: the same token key serves as CA and RA.
kill -TERM "$SCEPD_PID"
wait_exit "$SCEPD_PID" 5 || fail "did not stop"
# The RA certificate: the CA's own token key, certified by the CA as a non-CA
# certificate for signing and key encipherment (what clients look for in an RA).
printf 'keyUsage = critical, digitalSignature, keyEncipherment\n' >"$TMP/ra.ext"
OPENSSL_CONF=$HSM_DIR/openssl.cnf PKCS11_MODULE_PATH=$HSM_MODULE \
	openssl req -new -config "$HSM_DIR/openssl.cnf" -engine pkcs11 -keyform engine \
	-key "$(token_key_uri rsa-ca)" -passin "file:$HSM_DIR/pin" -subj "/CN=scepd token RA" \
	-out "$TMP/ra.csr" >"$TMP/ra.out" 2>&1 || fail "RA request: $(cat "$TMP/ra.out")"
OPENSSL_CONF=$HSM_DIR/openssl.cnf PKCS11_MODULE_PATH=$HSM_MODULE \
	openssl x509 -req -in "$TMP/ra.csr" -CA "$HSM_DIR/rsa-ca.pem" -engine pkcs11 \
	-CAkeyform engine -CAkey "$(token_key_uri rsa-ca)" -passin "file:$HSM_DIR/pin" \
	-set_serial 0x5ca1ab1e -days 30 -extfile "$TMP/ra.ext" -out "$TMP/ra.pem" \
	>"$TMP/ra.out" 2>&1 || fail "RA certificate: $(cat "$TMP/ra.out")"
token_config rsa-ca 1
cat >>"$TMP/scepd.conf" <<CONF
scep: { ra = { certificate = "$TMP/ra.pem"; key = "$(token_key_uri rsa-ca)"; }; };
CONF
"$SCEPD_BIN" -c "$TMP/scepd.conf" -t >/dev/null || fail "scepd -t refuses a token RA"
start_scepd "$TMP/scepd.conf"
if [[ -x "${SCEP_CLIENT:-}" ]]; then
	curl -sf -o "$TMP/ca.bin" "http://127.0.0.1:$PORT/scep?operation=GetCACert" || fail "GetCACert"
	for cipher in des3 aes128 aes256; do
		"$SCEP_CLIENT" request --ca "$TMP/ca.bin" --state "$TMP/$cipher.st" \
			--out "$TMP/$cipher.msg" --cipher "$cipher" --subject "/CN=ra-$cipher" \
			--key "$TMP/$cipher.key" --txid "ra-$cipher"
		curl -s -o "$TMP/$cipher.rep" --data-binary @"$TMP/$cipher.msg" \
			"http://127.0.0.1:$PORT/scep?operation=PKIOperation"
		assert_eq SUCCESS "$("$SCEP_CLIENT" reply --in "$TMP/$cipher.rep" --state "$TMP/$cipher.st" \
			--out "$TMP/ra-$cipher.pem" 2>/dev/null)" "SCEP $cipher with the token RA"
		openssl verify -CAfile "$HSM_DIR/rsa-ca.pem" "$TMP/ra-$cipher.pem" >/dev/null ||
			fail "$cipher: does not verify"
	done
	pass "SCEP: one token key as CA and RA decrypts DES3/AES-128/AES-256 and signs the replies"
fi

# ca.key may carry the PIN in the URI (RFC 7512 pin-value): the audit records name the
# key without it.
kill -TERM "$SCEPD_PID"
wait_exit "$SCEPD_PID" 5 || fail "did not stop before the pin-value test"
token_config rsa-ca 1
sed -i "s|key = \"$(token_key_uri rsa-ca)\"|key = \"$(token_key_uri rsa-ca);pin-value=$HSM_PIN\"|" \
	"$TMP/scepd.conf"
grep -qF "pin-value=$HSM_PIN" "$TMP/scepd.conf" || fail "pin-value: the config has no pin-value"
start_scepd "$TMP/scepd.conf"
code=$(curl -s -o "$TMP/pin-value.pem" -w '%{http_code}' --data-binary @"$TMP/req.csr" \
	"http://127.0.0.1:$PORT/csr")
assert_eq 200 "$code" "POST /csr with pin-value in ca.key"
grep -a "result=issued" "$TMP/scepd.log" | grep -qF "key=\"$(token_key_uri rsa-ca)\"" ||
	fail "pin-value: no audit record names the key: $(grep -a 'result=' "$TMP/scepd.log" | tail -2)"
! grep -qaF "$HSM_PIN" "$TMP/scepd.log" || fail "pin-value: the PIN is in the log"
pass "pin-value in ca.key: the audit records name the key without the PIN"

# Secrets stay secret: no PIN and no private key in the log or the store; the store
# files are 0600 (PostgreSQL: its rows, dumped as text, hold neither).
stores=("$TMP"/scepd.db*)
if [[ $SCEPD_TEST_STORE == postgresql ]]; then
	stores=("$TMP/store-dump.txt")
	(umask 077 && for t in certificates pending_requests challenges; do
		store_sql "SELECT * FROM $t"
	done >"${stores[0]}") || fail "cannot dump the store"
fi
for f in "$TMP/scepd.log" "${stores[@]}"; do
	! grep -qaF "$HSM_PIN" "$f" || fail "the PIN is in $f"
	! grep -qa "PRIVATE KEY" "$f" || fail "a private key is in $f"
done
for f in "${stores[@]}"; do
	assert_eq 600 "$(stat -c %a "$f")" "mode of $f"
done
pass "no PIN or private key in the log or the store; store files 0600"
