#!/usr/bin/env bash
# No leaks under load: a worker's RSS after 5,000 mixed requests (/csr, SCEP
# GetCACaps and GetCACert, /healthz) is within 10% of its RSS after 500.
. "$(dirname "$0")/lib.sh"
# ASan keeps freed memory in quarantine: RSS says nothing about leaks there (LSan does).
# Not `ldd | grep -q`: grep leaves early, ldd may die of SIGPIPE, and pipefail says no.
[[ $(ldd "$SCEPD_BIN") != *libasan* ]] || skip "an AddressSanitizer build: LeakSanitizer checks leaks"

PORT=$(free_port)
write_config "$TMP/scepd.conf" "workers = 1;"
open_csr "$TMP/scepd.conf"
start_scepd "$TMP/scepd.conf"
url=http://127.0.0.1:$PORT
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null \
	-subj "/CN=rss.example" -out "$TMP/req.csr" 2>/dev/null
worker=$(worker_pids)

# One round: 100 requests over kept-alive connections, 25 of them certificates.
round() {
	local gets=() posts=()
	for _ in $(seq 1 25); do
		gets+=("$url/healthz" "$url/scep?operation=GetCACaps" "$url/scep?operation=GetCACert")
		posts+=("$url/csr")
	done
	curl -sf "${gets[@]}" >/dev/null || fail "GET round failed"
	curl -sf --data-binary @"$TMP/req.csr" "${posts[@]}" >/dev/null || fail "POST round failed"
}

rss() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$worker/status"
}

for _ in $(seq 1 5); do round; done
rss500=$(rss)
for _ in $(seq 1 45); do round; done
rss5000=$(rss)
assert_eq "$worker" "$(worker_pids)" "the worker (no restart during the run)"
assert_eq 1250 "$(store_sql 'SELECT count(*) FROM certificates')" "certificates issued"
echo "worker RSS: ${rss500} kB after 500 requests, ${rss5000} kB after 5000"
((rss5000 * 100 <= rss500 * 110)) || fail "RSS grew from $rss500 kB to $rss5000 kB (> 10%)"
pass "RSS ${rss500} kB after 500 requests, ${rss5000} kB after 5000 (<= +10%)"
