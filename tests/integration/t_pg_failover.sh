#!/usr/bin/env bash
# PostgreSQL failover under /csr load: a primary and a synchronous streaming standby
# (private servers, lib_pg.sh), scepd pointed at both by a libpq multi-host URI with
# target_session_attrs=read-write. While clients send /csr requests, the primary is
# killed (pg_ctl stop -m immediate) and the standby promoted a second later. Then:
# every certificate answered 200 is on the new primary byte for byte; requests in the
# gap got 503 (any other status, or no HTTP answer at all, fails the test); requests
# succeed again after the promotion; /healthz said 503 in the gap and 200 after; scepd
# was never restarted (the same supervisor and workers throughout).
. "$(dirname "$0")/lib.sh"
[[ $SCEPD_TEST_STORE == sqlite ]] || skip "starts PostgreSQL servers of its own"

CLIENTS=3
MAX_REQUESTS=2000 # per client: the clients stop at the stop file, or here
BEFORE=30         # certificates issued before the primary is killed
AFTER=30          # and requests served after the promotion

pg_start
pg_standby_start
PORT=$(free_port)
write_config "$TMP/scepd.conf" "workers = 2;"
sed -i "s|^storage: .*|storage: { uri = \"$PG_HA_URI\"; password = \"file:$PG_PIN_FILE\"; };|" \
	"$TMP/scepd.conf"
open_csr "$TMP/scepd.conf" 'subject = { request = ["*"]; };'

# The multi-host URI is loopback only: scepd -t accepts it without a storage.uri warning.
rc=0
"$SCEPD_BIN" -c "$TMP/scepd.conf" -t >/dev/null 2>"$TMP/t.err" || rc=$?
assert_eq 0 "$rc" "scepd -t on the multi-host URI ($(cat "$TMP/t.err"))"
! grep -q "storage.uri" "$TMP/t.err" || fail "scepd -t warns about the URI: $(cat "$TMP/t.err")"

start_scepd "$TMP/scepd.conf"
supervisor=$SCEPD_PID
workers=$(worker_pids)

mkdir -m 700 "$TMP/in" "$TMP/out"
for c in $(seq 1 $CLIENTS); do
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$TMP/in/$c.key" -subj "/CN=failover-$c" -out "$TMP/in/$c.csr" 2>/dev/null
done

now_us() { echo "${EPOCHREALTIME//[.,]/}"; }

# Client C: one request after the other until the stop file appears (at most
# MAX_REQUESTS). Prints "ID START-US END-US HTTP-STATUS CURL-EXIT" a request; the answer
# of request ID is in out/ID.
client() { # C
	local i t0 code rc
	for ((i = 1; i <= MAX_REQUESTS; i++)); do
		[[ ! -e "$TMP/stop" ]] || break
		t0=$(now_us)
		rc=0
		code=$(curl -s -o "$TMP/out/$1-$i" -w '%{http_code}' --max-time 10 \
			--data-binary @"$TMP/in/$1.csr" "http://127.0.0.1:$PORT/csr") || rc=$?
		echo "$1-$i $t0 $(now_us) $code $rc"
	done
}
pids=()
for c in $(seq 1 $CLIENTS); do
	client "$c" >"$TMP/client-$c.log" &
	pids+=($!)
	BACKGROUND_PIDS+=($!)
done
answered() { # [SINCE-US]: requests answered 200 that started at or after SINCE-US
	cat "$TMP"/client-*.log | awk -v since="${1:-0}" '$4 == 200 && $2 >= since' | wc -l
}
wait_answered() { # N [SINCE-US]
	for _ in $(seq 1 200); do
		(($(answered "${2:-0}") >= $1)) && return 0
		sleep 0.1
	done
	return 1
}

wait_answered $BEFORE || fail "fewer than $BEFORE certificates within 20 s before the failover"
killing=$(now_us)
pg_crash || fail "the primary did not stop"
killed=$(now_us) # pg_ctl returned: the primary is gone
# /healthz in the gap: every worker's store is gone.
gap_health=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$PORT/healthz" || true)
sleep 1
pg_promote || fail "the standby was not promoted: $(tail -5 "$PG_DIR/standby.log")"
promoted=$(now_us)
wait_answered $AFTER "$promoted" || fail "fewer than $AFTER certificates within 20 s after the promotion"
touch "$TMP/stop"
for pid in "${pids[@]}"; do
	wait "$pid" || fail "a client failed"
done
cat "$TMP"/client-*.log >"$TMP/results"

# Every request got an HTTP answer, 200 or 503, and no 503 carries a certificate.
assert_eq 0 "$(awk '$5 != 0' "$TMP/results" | wc -l)" \
	"requests without an HTTP answer (connection-level failures: $(awk '$5 != 0' "$TMP/results" | head -3))"
assert_eq 0 "$(awk '$4 != 200 && $4 != 503' "$TMP/results" | wc -l)" \
	"answers neither 200 nor 503 ($(awk '$4 != 200 && $4 != 503' "$TMP/results" | head -3))"
refused=$(awk '$4 == 503' "$TMP/results" | wc -l)
((refused > 0)) || fail "no request met the failover: nothing was tested"
while read -r id _ _ _ _; do
	! grep -q "BEGIN CERTIFICATE" "$TMP/out/$id" || fail "request $id: a certificate with a 503"
	(($(wc -l <"$TMP/out/$id") <= 1)) || fail "request $id: a 503 of more than one line"
	{ head -n 1 "$TMP/out/$id" | cut -c 1-200; } >>"$TMP/refusals"
done < <(awk '$4 == 503' "$TMP/results")
# Only the gap is refused: no 503 that ended before the kill, none that started later
# than the workers' reconnect interval (1 s) after the promotion, with a margin.
assert_eq 0 "$(awk -v k="$killing" '$4 == 503 && $3 < k' "$TMP/results" | wc -l)" \
	"503s before the primary was killed"
late=$(awk -v p="$promoted" '$4 == 503 { d = $2 - p; if (d > m) m = d } END { print int(m / 1000) }' \
	"$TMP/results")
((late < 3000)) || fail "a request started ${late} ms after the promotion still got 503"
assert_eq 503 "$gap_health" "/healthz with the primary gone"

# Every certificate answered 200 is on the new primary, byte for byte.
awk '$4 == 200 { print $1 }' "$TMP/results" >"$TMP/issued.ids"
while read -r id; do
	openssl x509 -in "$TMP/out/$id" -outform DER 2>/dev/null | xxd -p | tr -d '\n' ||
		fail "request $id: 200 without a certificate"
	echo
done <"$TMP/issued.ids" | sort >"$TMP/received.hex"
issued=$(wc -l <"$TMP/issued.ids")
assert_eq "$issued" "$(sort -u "$TMP/received.hex" | grep -c .)" "distinct certificates answered 200"
pg_sql "SELECT encode(der, 'hex') FROM certificates" | sort >"$TMP/stored.hex"
missing=$(comm -23 "$TMP/received.hex" "$TMP/stored.hex" | wc -l)
assert_eq 0 "$missing" "certificates answered 200 but not on the new primary"
unanswered=$(($(wc -l <"$TMP/stored.hex") - issued))
for id in $(sed -n '1p;$p' "$TMP/issued.ids"); do
	openssl verify -CAfile "$TMP/ca.pem" "$TMP/out/$id" >/dev/null 2>&1 ||
		fail "request $id: the certificate does not verify"
done

# scepd itself went through it: same processes, healthy again.
kill -0 "$supervisor" 2>/dev/null || fail "the supervisor is gone"
assert_eq "$workers" "$(worker_pids)" "worker PIDs after the failover"
! grep -q "restarting worker" "$TMP/scepd.log" || fail "a worker was restarted: $(grep -m1 "restarting worker" "$TMP/scepd.log")"
health=
for _ in $(seq 1 50); do
	health=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$PORT/healthz" || true)
	[[ $health != 200 ]] || break
	sleep 0.1
done
assert_eq 200 "$health" "/healthz after the promotion"
first_after=$(awk -v k="$killed" '$4 == 200 && $2 >= k { if (m == "" || $3 < m) m = $3 } END { print m }' \
	"$TMP/results")
pass "$(wc -l <"$TMP/results") requests, $issued answered 200 and all on the new primary" \
	"($unanswered more recorded, never answered); $refused got 503 in the gap, served again" \
	"$(((first_after - promoted) / 1000)) ms after the promotion ($(((first_after - killing) / 1000))" \
	"ms after the kill began); same supervisor and workers, /healthz 200"
echo "the 503 answers:$(sort "$TMP/refusals" | uniq -c | tr -s ' \n' ' ')"
