#!/usr/bin/env bash
# /metrics (Prometheus text format 0.0.4) counts over every worker, including those
# that died: /csr requests and a SCEP enrolment, a worker killed with SIGKILL and
# replaced, then a reload (a new generation): every counter equals the number of
# requests made (not reset, not doubled), `promtool check metrics` accepts the body, a
# revocation over the admin API and one by scepctl are counted (in the store, by CA and
# profile), the restart is counted by cause, the CRL served is fresh. A client
# outside metrics.allow (127.0.0.2) gets 403 while 127.0.0.1 gets the body; without
# the metrics group only loopback may scrape; the pending requests gauge follows a
# SCEP request from PENDING to rejected by scepctl. Then a real Prometheus server (own data
# directory, free loopback port, 1 s scrape interval) returns the issued counter from
# its query API.
. "$(dirname "$0")/lib.sh"
[[ -x "${SCEP_CLIENT:-}" ]] || skip "SCEP_CLIENT (tests/tools/scep_client) not built"
command -v promtool >/dev/null || skip "promtool (Debian package prometheus) not installed"

PORT=$(free_port)
base=http://127.0.0.1:$PORT
make_scep_ca "$TMP"
store_prepare
mkdir -m 700 "$TMP/tokens"
secrets="$TMP/challenge-tokens" # secrets_check.sh: none of these may reach a log
cat >"$TMP/scepd.conf" <<CONF
server: { listen = ["127.0.0.1:$PORT", "127.0.0.2:$PORT"]; workers = 2; };
ca: { certificate = "$TMP/ca.pem"; key = "$TMP/ca.key"; crl = { path = "/ca.crl"; }; };
scep: { challenge = { mode = "none"; }; };
csr: { auth = "none"; };
admin: { tokens = "file:tokens/admin"; };
metrics: { allow = [ "127.0.0.1" ]; };
$(store_config_line)
log: { level = "debug"; };
CONF
ops=$("$SCEPCTL_BIN" -c "$TMP/scepd.conf" token new ops --scope revoke) || fail "token new"
echo "$ops" >>"$secrets"
start_scepd "$TMP/scepd.conf"

# metric NAME{LABELS}: its value in a fresh scrape from 127.0.0.1 ("" when absent).
scrape() {
	curl -sf -o "$TMP/metrics.txt" -D "$TMP/metrics.h" "$base/metrics" || fail "GET /metrics"
}
metric() {
	awk -v s="$1" 'index($0, s " ") == 1 { print $2 }' "$TMP/metrics.txt"
}
# expect VALUE SERIES WHAT: a request is counted once its reply is sent, a moment after
# the client has it: scrape again (for at most 2 s) until SERIES shows VALUE.
expect() {
	for _ in $(seq 1 20); do
		[[ "$(metric "$2")" == "$1" ]] && return 0
		sleep 0.1
		scrape
	done
	assert_eq "$1" "$(metric "$2")" "$3"
}
# wait_metric VALUE SERIES SECONDS: what worker 0 counts in the store (every 5 s).
wait_metric() {
	for _ in $(seq 1 $(($3 * 10))); do
		scrape
		[[ "$(metric "$2")" == "$1" ]] && return 0
		sleep 0.1
	done
	fail "$2: expected '$1' within $3 s, got '$(metric "$2")'"
}
csr() { # NAME: POST a fresh CSR to /csr, the certificate in $TMP/NAME.pem
	openssl req -new -newkey rsa:2048 -nodes -keyout "$TMP/$1.key" -subj "/CN=$1" \
		-out "$TMP/$1.csr" 2>/dev/null
	assert_eq 200 "$(curl -s -o "$TMP/$1.pem" -w '%{http_code}' --data-binary @"$TMP/$1.csr" \
		"$base/csr")" "POST /csr $1"
}

# Requests spread over both workers (one connection each), then a SCEP enrolment.
for i in 1 2 3; do csr "host$i"; done
assert_eq 404 "$(curl -s -o /dev/null -w '%{http_code}' "$base/nothing")" "unknown path"
curl -sf -o "$TMP/ca.bin" "$base/scep?operation=GetCACert" || fail "GetCACert"
scep_pkioperation dev "$base/scep" "$TMP/ca.bin" --subject /CN=dev
assert_eq SUCCESS "$VERDICT" "SCEP enrolment"

# A worker killed: its replacement serves, nothing it counted is lost.
victim=$(pgrep -P "$SCEPD_PID" | head -n 1)
kill -KILL "$victim"
wait_log "killed by signal 9" 5 || fail "the supervisor did not see the worker die"
for _ in $(seq 1 50); do
	[[ $(worker_count) -eq 2 && " $(worker_pids) " != *" $victim "* ]] && break
	sleep 0.1
done
[[ $(worker_count) -eq 2 ]] || fail "worker not replaced within 5 s"
for i in 4 5; do csr "host$i"; done

# A reload: a new generation, the same counters.
kill -HUP "$SCEPD_PID"
wait_log "generation 2 serving" 20 || fail "generation 2 did not take over"
serial=$(openssl x509 -in "$TMP/host1.pem" -noout -serial | sed 's/^serial=//; s/^0*//')
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $ops" \
	-H 'Content-Type: application/json' --data-binary '{"reason": "keyCompromise"}' \
	"$base/api/v1/certificates/$serial/revoke")" "revoke over the admin API"

assert_eq 200 "$(curl -s -o "$TMP/ca.crl" -w '%{http_code}' "$base/ca.crl")" "GET the CRL"

scrape
grep -qi '^Content-Type: text/plain; version=0.0.4' "$TMP/metrics.h" ||
	fail "Content-Type: $(grep -i '^Content-Type' "$TMP/metrics.h")"
promtool check metrics <"$TMP/metrics.txt" >"$TMP/promtool.out" 2>&1 ||
	fail "promtool check metrics: $(cat "$TMP/promtool.out")"
pass "/metrics answers text/plain version=0.0.4 that promtool check metrics accepts"

expect 5 'scepd_http_requests_total{endpoint="csr",profile="csr",code="200"}' \
	"/csr 200s over 3 workers of 2 generations"
expect 5 'scepd_certificates_issued_total{ca="default",profile="csr"}' \
	"certificates issued on /csr"
expect 1 'scepd_certificates_issued_total{ca="default",profile="scep"}' \
	"certificates issued over SCEP"
expect 1 'scepd_scep_messages_total{message_type="PKCSReq",pki_status="SUCCESS",fail_info=""}' \
	"SCEP PKCSReq SUCCESS"
expect 1 'scepd_http_requests_total{endpoint="none",profile="",code="404"}' \
	"404s"
expect 1 'scepd_http_requests_total{endpoint="admin",profile="",code="200"}' \
	"admin API 200s"
expect 1 'scepd_worker_restarts_total{cause="signal"}' "restarts by a signal"
expect 0 'scepd_worker_restarts_total{cause="exit"}' "restarts after an exit"
expect 5 'scepd_request_duration_seconds_count{endpoint="csr"}' \
	"/csr latency observations"
expect 5 'scepd_request_duration_seconds_bucket{endpoint="csr",le="+Inf"}' \
	"/csr latency +Inf bucket"
expect 6 'scepd_sign_duration_seconds_count{operation="certificate"}' "certificate signatures timed"
expect 1 'scepd_sign_duration_seconds_count{operation="decrypt"}' "SCEP envelopes opened"
expect 1 'scepd_sign_duration_seconds_count{operation="certrep"}' "SCEP CertReps signed"
crls=$(metric 'scepd_sign_duration_seconds_count{operation="crl"}')
((${crls:-0} >= 1)) || fail "CRL signatures timed: '$crls'"
expect 0 'scepd_sign_errors_total{operation="certificate",ckr_class="none"}' \
	"signature errors (key file)"
expect 6 'scepd_store_commit_duration_seconds_count' "store commits timed"
expect 0 'scepd_store_commit_errors_total' "store commit errors"
expect 1 'scepd_http_requests_total{endpoint="crl",profile="",code="200"}' "CRL requests"
age=$(metric 'scepd_crl_age_seconds{ca="default"}')
((${age:--1} >= 0 && age < 120)) || fail "CRL age: '$age' s, expected a fresh CRL"
left=$(metric 'scepd_certificate_expiry_seconds{ca="default",role="ca",profile=""}')
((left > 29 * 86400 && left <= 30 * 86400)) || fail "CA expiry: $left s, expected about 30 days"
pass "counters equal the requests made across a SIGKILLed worker and a reload; CA expiry in ~30 days"

# Revoked certificates are counted in the store: the admin API's revocation, then one
# by scepctl (another process, which shares no counter with scepd).
wait_metric 1 'scepd_certificates_revoked{ca="default",profile="csr"}' 10
serial2=$(openssl x509 -in "$TMP/host2.pem" -noout -serial | sed 's/^serial=//; s/^0*//')
"$SCEPCTL_BIN" -c "$TMP/scepd.conf" revoke "$serial2" >/dev/null 2>&1 || fail "scepctl revoke"
wait_metric 2 'scepd_certificates_revoked{ca="default",profile="csr"}' 10
pass "scepd_certificates_revoked counts the admin API's and scepctl's revocations by CA and profile"

# Scrapes are requests too (how many depends on the retries above: at least one).
scrape
n=$(metric 'scepd_http_requests_total{endpoint="metrics",profile="",code="200"}')
((${n:-0} >= 1)) || fail "scrapes not counted: '$n'"

# Outside metrics.allow: 403, and the body never leaves.
code=$(curl -s -o "$TMP/denied" -w '%{http_code}' --interface 127.0.0.2 \
	"http://127.0.0.2:$PORT/metrics")
assert_eq 403 "$code" "/metrics from 127.0.0.2"
! grep -q scepd_ "$TMP/denied" || fail "the 403 carries metrics"
grep -q "GET /metrics from 127.0.0.2: refused" "$TMP/scepd.log" || fail "no log line for the 403"
# From 127.0.0.1 on the same listener: allowed.
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.1 \
	"http://127.0.0.2:$PORT/metrics")" "/metrics from 127.0.0.1 on the 127.0.0.2 listener"
scrape
expect 1 'scepd_http_requests_total{endpoint="metrics",profile="",code="403"}' \
	"refused scrapes counted"
pass "metrics.allow: 127.0.0.2 gets 403 and a log line, 127.0.0.1 the body"

# Without the metrics group: loopback only, 127.0.0.2 included (127.0.0.0/8). And SCEP
# with manual approval, for the pending requests gauge.
kill -TERM "$SCEPD_PID"
wait_exit "$SCEPD_PID" 15 || fail "scepd did not stop"
sed -i '/^metrics:/d; s/^scep: { challenge = { mode = "none"; }; };/scep: { challenge = { mode = "none"; }; approval = "manual"; };/' \
	"$TMP/scepd.conf"
grep -q 'approval = "manual"' "$TMP/scepd.conf" || fail "config edit"
start_scepd "$TMP/scepd.conf"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' --interface 127.0.0.2 \
	"http://127.0.0.2:$PORT/metrics")" "default allow-list, from 127.0.0.2"
scrape
expect "" 'scepd_certificates_issued_total{ca="default",profile="csr"}' \
	"a new scepd starts from zero"
pass "without the metrics group, loopback may scrape"

# wait_metric VALUE SERIES SECONDS: scrape until SERIES shows VALUE (a gauge refreshed
# every 5 s by worker 0).
wait_metric 0 'scepd_pending_requests{profile="scep"}' 10
scep_pkioperation pend "$base/scep" "$TMP/ca.bin" --subject /CN=pend --txid pend-1
assert_eq PENDING "$VERDICT" "SCEP enrolment with manual approval"
wait_metric 1 'scepd_pending_requests{profile="scep"}' 10
"$SCEPCTL_BIN" -c "$TMP/scepd.conf" reject pend-1 >/dev/null || fail "scepctl reject"
wait_metric 0 'scepd_pending_requests{profile="scep"}' 10
expect 1 'scepd_scep_messages_total{message_type="PKCSReq",pki_status="PENDING",fail_info=""}' \
	"SCEP PKCSReq PENDING"
pass "scepd_pending_requests follows a request from PENDING to rejected (scepctl)"

# A real Prometheus server scraping every second.
command -v prometheus >/dev/null || skip "prometheus (Debian package prometheus) not installed"
for i in 6 7; do csr "host$i"; done
PROM_PORT=$(free_port)
cat >"$TMP/prometheus.yml" <<YML
global: { scrape_interval: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: scepd
    static_configs: [ { targets: [ "127.0.0.1:$PORT" ] } ]
YML
promtool check config "$TMP/prometheus.yml" >/dev/null 2>&1 || fail "promtool check config"
prometheus --config.file="$TMP/prometheus.yml" --storage.tsdb.path="$TMP/prom" \
	--web.listen-address="127.0.0.1:$PROM_PORT" >"$TMP/prometheus.log" 2>&1 &
BACKGROUND_PIDS+=($!)
q='scepd_certificates_issued_total{job="scepd",profile="csr"}'
value=
for _ in $(seq 1 60); do
	value=$(curl -s --max-time 2 -G --data-urlencode "query=$q" \
		"http://127.0.0.1:$PROM_PORT/api/v1/query" | jq -r '.data.result[0].value[1] // empty' \
		2>/dev/null || true)
	[[ -n "$value" ]] && break
	sleep 0.5
done
[[ -n "$value" ]] || fail "Prometheus returned no sample within 30 s: $(tail -n 5 "$TMP/prometheus.log")"
assert_eq 2 "$value" "issued counter as Prometheus stored it"
health=$(curl -s -G --data-urlencode 'query=up{job="scepd"}' \
	"http://127.0.0.1:$PROM_PORT/api/v1/query" | jq -r '.data.result[0].value[1]')
assert_eq 1 "$health" "up{job=\"scepd\"}"
pass "a Prometheus server scraping every second returns the issued counter from its query API"
