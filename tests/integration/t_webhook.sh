#!/usr/bin/env bash
# scep.challenge.mode = "webhook": each new request is put to an MDM's service
# (webhook_server.py, which checks the HMAC signature as a step-ca webhook server does
# and answers by the challenge's prefix). Allowed: the certificate is issued, verifies
# and is on record, and the service saw the transactionID, the CSR (DER and decoded),
# the profile and the client. Denied: FAILURE badRequest and an audit record. The
# service failing (500, too slow, not JSON, no boolean allow, away) or refusing our
# signature (a wrong key in scepd, 401): HTTP 503 with Retry-After, nothing issued, a
# warning naming the host and why, never the challenge or the key. While one call
# waits for the slow service, the same (single) worker answers GetCACaps at once.
# `scepd -t` refuses http:// to another host and a webhook without its URL.
. "$(dirname "$0")/lib.sh"
[[ -x "${SCEP_CLIENT:-}" ]] || skip "SCEP_CLIENT (tests/tools/scep_client) not built"
command -v python3 >/dev/null || skip "python3 not installed"

PORT=$(free_port)
WPORT=$(free_port)
TPORT=$(free_port)
make_scep_ca "$TMP"
# The service's TLS certificate (127.0.0.1), from a CA of its own.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/wh-ca.key" \
	-out "$TMP/wh-ca.pem" -subj "/CN=webhook test CA" -days 30 \
	-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/wh-tls.key" \
	-subj "/CN=127.0.0.1" -out "$TMP/wh-tls.csr" 2>/dev/null
openssl x509 -req -in "$TMP/wh-tls.csr" -CA "$TMP/wh-ca.pem" -CAkey "$TMP/wh-ca.key" -days 30 \
	-set_serial 7 -extfile <(printf 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n') \
	-out "$TMP/wh-tls.pem" 2>/dev/null
store_prepare
openssl rand -base64 32 >"$TMP/challenge-key"
openssl rand -base64 32 >"$TMP/challenge-wrong-key"
chmod 600 "$TMP/challenge-key" "$TMP/challenge-wrong-key"

# config FILE MDM_URL: profile mdm asks MDM_URL, profile wrongkey signs with another key
config() {
	cat >"$1" <<CONF
server: { listen = ["127.0.0.1:$PORT"]; workers = 1; };
cas: { main: { certificate = "$TMP/ca.pem"; key = "$TMP/ca.key"; }; };
profiles: {
	mdm: { type = "scep"; path = "/scep/mdm"; ca = "main"; refusals_per_minute = 0;
	       subject_alt_name = { request = [ "dNSName" ]; };
	       challenge = { mode = "webhook"; secret = "file:$TMP/challenge-key";
			     url = "$2"; timeout = 2; id = "scepd-test"; }; };
	wrongkey: { type = "scep"; path = "/scep/wrongkey"; ca = "main"; refusals_per_minute = 0;
		    challenge = { mode = "webhook"; secret = "file:$TMP/challenge-wrong-key";
				  url = "http://127.0.0.1:$WPORT/scep/validate"; }; };
	tls: { type = "scep"; path = "/scep/tls"; ca = "main"; refusals_per_minute = 0;
	       challenge = { mode = "webhook"; secret = "file:$TMP/challenge-key";
			     url = "https://127.0.0.1:$TPORT/scep/validate"; ca = "$TMP/wh-ca.pem"; }; };
	tlsother: { type = "scep"; path = "/scep/tlsother"; ca = "main"; refusals_per_minute = 0;
		    challenge = { mode = "webhook"; secret = "file:$TMP/challenge-key";
				  url = "https://127.0.0.1:$TPORT/scep/validate"; ca = "$TMP/ca.pem"; }; };
};
$(store_config_line)
log: { level = "info"; };
CONF
}

# scepd -t: http:// only to this machine; a webhook needs its URL.
config "$TMP/remote.conf" "http://mdm.example/scep/validate"
! "$SCEPD_BIN" -c "$TMP/remote.conf" -t >"$TMP/remote.out" 2>&1 || fail "scepd -t accepts http:// to mdm.example"
grep -q "^$TMP/remote.conf:[0-9]*: profiles.mdm.challenge.url: http:// only to 127.0.0.1, \[::1\] or localhost" \
	"$TMP/remote.out" || fail "scepd -t on http:// to another host: $(cat "$TMP/remote.out")"
config "$TMP/lookalike.conf" "http://127.0.0.1.mdm.example/v"
! "$SCEPD_BIN" -c "$TMP/lookalike.conf" -t >"$TMP/lookalike.out" 2>&1 ||
	fail "scepd -t accepts http:// to 127.0.0.1.mdm.example"
config "$TMP/https.conf" "https://mdm.example/scep/validate"
"$SCEPD_BIN" -c "$TMP/https.conf" -t >"$TMP/https.out" 2>&1 || fail "scepd -t refuses https://: $(cat "$TMP/https.out")"
config "$TMP/nourl.conf" "x"
sed -i 's|url = "x"; ||' "$TMP/nourl.conf"
! "$SCEPD_BIN" -c "$TMP/nourl.conf" -t >"$TMP/nourl.out" 2>&1 || fail "scepd -t accepts a webhook without url"
grep -q "^$TMP/nourl.conf:[0-9]*: profiles.mdm.challenge.url: required when scep.challenge.mode = \"webhook\"" \
	"$TMP/nourl.out" || fail "scepd -t without url: $(cat "$TMP/nourl.out")"
pass "scepd -t refuses http:// to another host (and a look-alike), and a webhook without url; accepts https://"

python3 "$(dirname "$0")/webhook_server.py" "$WPORT" "$TMP/challenge-key" "$TMP/webhook.jsonl" \
	>"$TMP/webhook.out" 2>&1 &
WEBHOOK_PID=$!
BACKGROUND_PIDS+=("$WEBHOOK_PID")
for _ in $(seq 1 50); do
	grep -q ready "$TMP/webhook.out" 2>/dev/null && break
	sleep 0.1
done
grep -q ready "$TMP/webhook.out" || fail "webhook_server.py did not start: $(cat "$TMP/webhook.out")"
python3 "$(dirname "$0")/webhook_server.py" "$TPORT" "$TMP/challenge-key" "$TMP/webhook.jsonl" \
	"$TMP/wh-tls.pem" "$TMP/wh-tls.key" >"$TMP/webhook-tls.out" 2>&1 &
BACKGROUND_PIDS+=("$!")
for _ in $(seq 1 50); do
	grep -q ready "$TMP/webhook-tls.out" 2>/dev/null && break
	sleep 0.1
done
grep -q ready "$TMP/webhook-tls.out" || fail "webhook_server.py (TLS) did not start: $(cat "$TMP/webhook-tls.out")"

# A key that is not base64 (step-ca's secrets are): the worker does not start, and says why.
printf 'not base64!\n' >"$TMP/challenge-not-base64"
config "$TMP/notb64.conf" "http://127.0.0.1:$WPORT/scep/validate"
sed -i "s|file:$TMP/challenge-key|file:$TMP/challenge-not-base64|" "$TMP/notb64.conf"
! timeout 30 "$SCEPD_BIN" -c "$TMP/notb64.conf" -f >"$TMP/notb64.out" 2>&1 ||
	fail "scepd started with a webhook key that is not base64"
grep -q "notb64.conf:[0-9]*: profiles.mdm.challenge.secret: not base64" "$TMP/notb64.out" ||
	fail "no reason for the key that is not base64: $(tail -5 "$TMP/notb64.out")"
pass "a webhook key that is not base64 stops the start with FILE:LINE: setting: not base64"

# scepd runs with every proxy variable pointing nowhere: the webhook call ignores them.
cat >"$TMP/scepd-proxied" <<SH
#!/bin/sh
export http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 ALL_PROXY=http://127.0.0.1:9 all_proxy=http://127.0.0.1:9
exec "$SCEPD_BIN" "\$@"
SH
chmod +x "$TMP/scepd-proxied"
config "$TMP/scepd.conf" "http://127.0.0.1:$WPORT/scep/validate"
"$SCEPD_BIN" -c "$TMP/scepd.conf" -t >"$TMP/check.out" 2>&1 || fail "scepd -t: $(cat "$TMP/check.out")"
SCEPD_BIN=$TMP/scepd-proxied start_scepd "$TMP/scepd.conf"
base=http://127.0.0.1:$PORT
curl -sf -o "$TMP/ca.bin" "$base/scep/mdm?operation=GetCACert" || fail "GetCACert"
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/dev.key" 2>/dev/null

# scep NAME PROFILE CHALLENGE [request options]: one PKCSReq with transactionID
# wh-NAME; VERDICT ("SUCCESS", "FAILURE badRequest", "HTTP 503"), headers in NAME.h.
scep() {
	local name=$1 profile=$2 challenge=$3
	shift 3
	echo "$challenge" >>"$TMP/challenge-values"
	scep_pkioperation "$name" "$base/scep/$profile" "$TMP/ca.bin" --key "$TMP/dev.key" \
		--subject "/CN=$name" --challenge "$challenge" --txid "wh-$name" "$@"
}
issued() { store_sql "SELECT count(*) FROM certificates WHERE transaction_id = 'wh-$1'"; }
# field TXID EXPR: EXPR (Python, over r = the recorded request) of the webhook's record
# of that transaction, or "none"
field() {
	python3 - "$TMP/webhook.jsonl" "wh-$1" "$2" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])] if __import__("os").path.exists(sys.argv[1]) else []
recs = [r for r in recs if r["body"].get("scepTransactionID") == sys.argv[2]]
print(eval(sys.argv[3], {"r": recs[-1]}) if recs else "none")
PY
}
# a 503 with Retry-After, nothing issued, a warning with the host and the reason
unavailable() { # NAME WHY
	assert_eq "HTTP 503" "$VERDICT" "$1"
	grep -qi '^Retry-After: [0-9]' "$TMP/$1.h" || fail "$1: no Retry-After: $(cat "$TMP/$1.h")"
	assert_eq 0 "$(issued "$1")" "$1: certificates on record"
	grep -q "warning: SCEP transaction wh-$1 from 127.0.0.1: answering 503: webhook 127.0.0.1: $2" \
		"$TMP/scepd.log" || fail "$1: no warning '$2': $(grep "wh-$1" "$TMP/scepd.log")"
}

# Allowed (through no proxy): issued, verifies, on record; the service saw what step-ca would send.
scep allow mdm allow-7f3a --san DNS:allow.example
assert_eq SUCCESS "$VERDICT" "allowed by the webhook"
openssl verify -CAfile "$TMP/ca.pem" "$TMP/allow.pem" >/dev/null || fail "the allowed certificate does not verify"
assert_eq 1 "$(issued allow)" "certificates on record for wh-allow"
assert_eq "scepd-test application/json mdm 127.0.0.1 allow-7f3a" \
	"$(field allow 'r["id"] + " " + r["content_type"] + " " + r["body"]["provisionerName"] + " " + r["body"]["clientAddress"] + " " + r["body"]["scepChallenge"]')" \
	"webhook ID, content type, profile, client and challenge seen by the service"
assert_eq "allow ['allow.example'] RSA" \
	"$(field allow 'r["body"]["x509CertificateRequest"]["subject"]["commonName"] + " " + str(r["body"]["x509CertificateRequest"]["dnsNames"]) + " " + r["body"]["x509CertificateRequest"]["publicKeyAlgorithm"]')" \
	"decoded CSR seen by the service"
field allow 'r["body"]["x509CertificateRequest"]["raw"]' | base64 -d >"$TMP/allow-raw.der"
openssl req -inform DER -in "$TMP/allow-raw.der" -noout -subject 2>/dev/null | grep -q "CN *= *allow" ||
	fail "x509CertificateRequest.raw is not the CSR"
field allow 'r["body"]["timestamp"]' | grep -qE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' ||
	fail "timestamp: $(field allow 'r["body"]["timestamp"]')"
pass "allow: issued, verifies, on record; the service got the signed step-ca body (transactionID, CSR, profile, client)"

# Denied: a signed FAILURE, an audit record, nothing issued.
scep deny mdm deny-c0ffee
assert_eq "FAILURE badRequest" "$VERDICT" "denied by the webhook"
assert_eq 0 "$(issued deny)" "certificates on record for wh-deny"
grep -q "audit: result=denied endpoint=scep profile=mdm client=127.0.0.1 .*transaction_id=wh-deny .*reason=\"webhook denied\"" \
	"$TMP/scepd.log" || fail "no audit record of the denial: $(grep audit "$TMP/scepd.log" | tail -3)"
grep -q "wh-deny: FAILURE badRequest: webhook 127.0.0.1 denied: no such device (unknown-device)" "$TMP/scepd.log" ||
	fail "no log line with the service's reason"
scep echo mdm echo-5b2d9e
assert_eq "FAILURE badRequest" "$VERDICT" "denied by the webhook, quoting the challenge"
grep -q "wh-echo: FAILURE badRequest: webhook 127.0.0.1 denied: (its reason quotes the challenge)" \
	"$TMP/scepd.log" || fail "a reason quoting the challenge: $(grep wh-echo "$TMP/scepd.log")"
pass "deny: FAILURE badRequest, audit result=denied reason=\"webhook denied\", nothing issued"

# The service failing: 503 + Retry-After, nothing issued, a warning.
scep err500 mdm err500-1
unavailable err500 "HTTP status 500"
scep garbage mdm garbage-1
unavailable garbage 'the answer is not a JSON object with a boolean "allow"'
scep noallow mdm noallow-1
unavailable noallow 'the answer is not a JSON object with a boolean "allow"'
scep stringy mdm stringy-1
unavailable stringy 'the answer is not a JSON object with a boolean "allow"'
scep huge mdm huge-1
unavailable huge "answer longer than 65536 bytes"
scep redirect mdm redirect-1
unavailable redirect "HTTP status 307"
pass "500, not JSON, no allow, allow as a string, an allow beyond 64 KiB, a redirect (not followed): 503 with Retry-After, nothing issued, a warning why"

# Too slow: 503 after the 2 s timeout; meanwhile the one worker answers GetCACaps at
# once, on each of 6 new connections while an idle one more stays open before each:
# the new ones have sockets of 6 numbers in a row, and whichever of the worker's
# threads its numbers would name, none goes to the thread that waits for the service.
(
	scep slow mdm slow-1
	echo "$VERDICT" >"$TMP/slow.verdict"
) &
slow_pid=$!
sleep 0.7
caps_time=0
for i in 1 2 3 4 5 6; do
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" || fail "cannot open an idle connection"
	IDLE_FDS+=("$fd")
	t=$(curl -s -o "$TMP/caps" -w '%{time_total}' "$base/scep/mdm?operation=GetCACaps")
	grep -q POSTPKIOperation "$TMP/caps" ||
		fail "GetCACaps $i during the slow call: $(cat "$TMP/caps")"
	caps_time=$(awk -v a="$caps_time" -v b="$t" 'BEGIN { print (b > a ? b : a) }')
done
for fd in "${IDLE_FDS[@]}"; do exec {fd}<&-; done
awk -v t="$caps_time" 'BEGIN { exit !(t < 0.5) }' ||
	fail "the slowest of 6 GetCACaps took $caps_time s during the slow call"
[[ -z $(cat "$TMP/slow.verdict" 2>/dev/null) ]] || fail "the slow call was answered before GetCACaps"
wait "$slow_pid"
VERDICT=$(cat "$TMP/slow.verdict")
unavailable slow "no answer within 2 s"
sleep 2.5 # the service allows after 4 s: too late, still nothing issued
assert_eq 0 "$(issued slow)" "certificates on record for wh-slow after the service answered"
pass "timeout: 503 with Retry-After after 2 s, nothing issued; 6 GetCACaps on new connections answered within $caps_time s meanwhile (workers = 1)"

# A key scepd has wrong: the service refuses the signature (401), nothing is issued.
scep wrongkey wrongkey allow-wrongkey
unavailable wrongkey "HTTP status 401"
assert_eq none "$(field wrongkey 'r')" "the service recorded a request with a bad signature"
pass "wrong key in scepd: the service answers 401, scepd 503, nothing issued"

# https: verified against challenge.ca; a certificate that bundle does not vouch for is
# an error (503), the request never reaches the service.
scep tls tls allow-tls
assert_eq SUCCESS "$VERDICT" "allowed by the webhook over https"
assert_eq "tls" "$(field tls 'r["body"]["x509CertificateRequest"]["subject"]["commonName"]')" \
	"the https service's record"
scep tlsother tlsother allow-tlsother
unavailable tlsother ""
grep "wh-tlsother" "$TMP/scepd.log" | grep -qi "certificate" || fail "tlsother: the warning does not say it is the certificate"
assert_eq none "$(field tlsother 'r')" "a request sent over TLS that was not verified"
pass "https: verified against scep.challenge.ca; with another CA bundle: 503, nothing sent, nothing issued"

# The service away: 503, nothing issued.
kill "$WEBHOOK_PID"
wait "$WEBHOOK_PID" 2>/dev/null || true
scep away mdm allow-away
unavailable away ""
assert_eq 0 "$(issued away)" "certificates on record for wh-away"
pass "service away: 503 with Retry-After, nothing issued"

# Never the key or a challenge in the log (secrets_check also looks, after the suite).
for secret in "$(cat "$TMP/challenge-key")" "$(cat "$TMP/challenge-wrong-key")" $(cat "$TMP/challenge-values"); do
	! grep -qF -- "$secret" "$TMP/scepd.log" || fail "the log holds a secret or a challenge"
done
pass "neither the webhook keys nor the challenges reach the log"
