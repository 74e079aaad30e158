#!/usr/bin/env bash
# /metrics across a reload that renames, reorders and adds profiles: a profile's
# counters stay under its own name (the renamed profile's old name keeps what it
# counted, the new name starts from zero, a profile that moved in the file keeps its
# numbers), and every private-key operation is counted under what it made:
# certificates, the CRL, an OCSP response that `openssl ocsp` verifies.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
base=http://127.0.0.1:$PORT
make_file_ca "$TMP"
store_prepare
# profiles_config FIRST SECOND: the file with two /csr profiles at /csr/a and /csr/b.
profiles_config() {
	cat >"$TMP/scepd.conf" <<CONF
server: { listen = ["127.0.0.1:$PORT"]; workers = 2; };
cas: { main: { certificate = "$TMP/ca.pem"; key = "$TMP/ca.key";
	       crl = { path = "/ca.crl"; }; ocsp = { path = "/ocsp"; }; }; };
profiles: {
	$1;
	$2;
};
$(store_config_line)
log: { level = "debug"; };
CONF
}
alpha='alpha: { type = "csr"; path = "/csr/a"; ca = "main"; auth = "none"; }'
beta='beta: { type = "csr"; path = "/csr/b"; ca = "main"; auth = "none"; }'
gamma='gamma: { type = "csr"; path = "/csr/a"; ca = "main"; auth = "none"; }'
profiles_config "$alpha" "$beta"
start_scepd "$TMP/scepd.conf"

scrape() {
	curl -sf -o "$TMP/metrics.txt" "$base/metrics" || fail "GET /metrics"
}
metric() {
	awk -v s="$1" 'index($0, s " ") == 1 { print $2 }' "$TMP/metrics.txt"
}
# expect VALUE SERIES WHAT: scrape again (for at most 2 s) until SERIES shows VALUE; a
# request is counted a moment after its reply reached the client.
expect() {
	for _ in $(seq 1 20); do
		scrape
		[[ "$(metric "$2")" == "$1" ]] && return 0
		sleep 0.1
	done
	assert_eq "$1" "$(metric "$2")" "$3"
}
csr() { # NAME PATH: POST a fresh CSR, the certificate in $TMP/NAME.pem
	openssl req -new -newkey rsa:2048 -nodes -keyout "$TMP/$1.key" -subj "/CN=$1" \
		-out "$TMP/$1.csr" 2>/dev/null
	assert_eq 200 "$(curl -s -o "$TMP/$1.pem" -w '%{http_code}' --data-binary @"$TMP/$1.csr" \
		"$base$2")" "POST $2 ($1)"
}

csr a1 /csr/a
csr a2 /csr/a
csr b1 /csr/b
expect 2 'scepd_certificates_issued_total{ca="main",profile="alpha"}' "alpha before the reload"
expect 1 'scepd_certificates_issued_total{ca="main",profile="beta"}' "beta before the reload"

# alpha becomes gamma (same path), and beta moves to the first place.
profiles_config "$beta" "$gamma"
kill -HUP "$SCEPD_PID"
wait_log "generation 2 serving" 20 || fail "generation 2 did not take over"
csr g1 /csr/a
csr b2 /csr/b
expect 1 'scepd_certificates_issued_total{ca="main",profile="gamma"}' "gamma, new"
expect 2 'scepd_certificates_issued_total{ca="main",profile="beta"}' "beta, moved"
expect 2 'scepd_certificates_issued_total{ca="main",profile="alpha"}' "alpha, gone, kept"
expect 1 'scepd_http_requests_total{endpoint="csr",profile="gamma",code="200"}' "gamma's requests"
expect 2 'scepd_http_requests_total{endpoint="csr",profile="alpha",code="200"}' "alpha's requests"
pass "a reload that renames and reorders profiles neither resets nor mixes their counters"

# Every key operation under its own label: 5 certificates, an OCSP response, the CRL.
openssl ocsp -issuer "$TMP/ca.pem" -cert "$TMP/g1.pem" -url "$base/ocsp" -CAfile "$TMP/ca.pem" \
	>"$TMP/ocsp.out" 2>&1 || fail "openssl ocsp: $(cat "$TMP/ocsp.out")"
grep -q "^Response verify OK" "$TMP/ocsp.out" || fail "OCSP response: $(cat "$TMP/ocsp.out")"
grep -q "g1.pem: good" "$TMP/ocsp.out" || fail "OCSP status: $(cat "$TMP/ocsp.out")"
assert_eq 200 "$(curl -s -o "$TMP/ca.crl" -w '%{http_code}' "$base/ca.crl")" "GET the CRL"
openssl crl -in "$TMP/ca.crl" -inform DER -CAfile "$TMP/ca.pem" -noout 2>&1 |
	grep -q "verify OK" || fail "the CRL does not verify"
expect 5 'scepd_sign_duration_seconds_count{operation="certificate"}' "certificate signatures"
expect 1 'scepd_sign_duration_seconds_count{operation="ocsp"}' "OCSP signatures"
crls=$(metric 'scepd_sign_duration_seconds_count{operation="crl"}')
((${crls:-0} >= 1)) || fail "CRL signatures: '$crls'"
assert_eq 0 "$(metric 'scepd_sign_duration_seconds_count{operation="certrep"}')" \
	"CertReps without SCEP"
for op in certificate crl ocsp; do
	assert_eq 0 "$(metric "scepd_sign_errors_total{operation=\"$op\",ckr_class=\"none\"}")" \
		"$op signature errors"
done
pass "certificates, the OCSP response and the CRL are timed under their own operation"
