#!/usr/bin/env bash
# Nothing lost when a worker dies (issue 5, promise 3): 4 parallel clients send 2,000
# requests, half POST /csr and half SCEP PKCSReq, while a random worker is SIGKILLed
# every 0.5 s. A request that dies with its worker is retried up to 5 times, a SCEP one
# with the very same pkiMessage (same transaction). Then: every certificate a client
# received is in the store byte for byte and verifies against the CA, no serial is
# there twice, no SCEP transaction has two certificates, PRAGMA integrity_check is ok,
# the supervisor saw every kill and restored the $WORKERS (8) workers, which serve again.
# The restart backoff of a slot doubles at each kill (0.1 s .. 30 s): with 8 workers
# and a load of about 20 s there is mostly one alive; requests that find none wait in
# the listen queue. The killer stops with the load, after 45 s or 150 kills.
# AddressSanitizer builds (3-5x slower) send 500 requests instead of 2,000, so that the
# load, and the backoff it builds up, stays as long as in the normal build.
. "$(dirname "$0")/lib.sh"
[[ -x "${SCEP_CLIENT:-}" ]] || skip "SCEP_CLIENT (tests/tools/scep_client) not built"

WORKERS=8
CLIENTS=4
REQUESTS=2000
[[ $(ldd "$SCEPD_BIN") != *libasan* ]] || REQUESTS=500 # not ldd | grep -q: SIGPIPE
ATTEMPTS=5        # per request, the first one included
KILL_PERIOD_US=500000 # 0.5 s between kills
KILL_SECONDS=25   # the killer stops after this long, or
KILL_MAX=150      # this many kills, or when the clients are done
REPLY_TIMEOUT=40  # curl --max-time: more than the longest backoff (30 s)
started=$EPOCHSECONDS

PORT=$(free_port)
url=http://127.0.0.1:$PORT
# Without an RA, SCEP clients encrypt to the CA and check its signatures (t_scep.sh).
make_scep_ca "$TMP" "scepd fault test CA"
write_config "$TMP/scepd.conf" "workers = $WORKERS;"
cat >>"$TMP/scepd.conf" <<CONF
csr: { auth = "none"; subject = { request = ["*"]; }; };
scep: {
	challenge = { mode = "none"; };
	approval = "auto";
	subject = { request = ["*"]; };
};
CONF
start_scepd "$TMP/scepd.conf"
wait_worker_count "$WORKERS" 10 || fail "expected $WORKERS workers, found $(worker_count)"
# Killing a worker before generation 1 is ready would stop scepd (by design).
wait_log "ready: generation 1 with $WORKERS worker" 10 || fail "scepd not ready"
curl -sf -o "$TMP/ca.bin" "$url/scep?operation=GetCACert" || fail "GetCACert"

# The inputs, built before the load: request J is a /csr one for even J, a SCEP one for
# odd J. A pool of keys, one subject per request (CN=fault-J), one transaction per SCEP
# message (fault-J), each message with its own state file.
mkdir -m 700 "$TMP/in" "$TMP/out"
for k in 0 1 2 3 4 5 6 7; do
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/in/csr$k.key" 2>/dev/null
done
for k in 0 1 2 3; do
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/in/scep$k.key" 2>/dev/null
done
build_inputs() { # FIRST STEP: the inputs of requests FIRST, FIRST + STEP, ...
	local j
	for ((j = $1; j < REQUESTS; j += $2)); do
		if ((j % 2 == 0)); then
			openssl req -new -key "$TMP/in/csr$((j % 8)).key" -subj "/CN=fault-$j" \
				-out "$TMP/in/$j.csr" 2>/dev/null
		else
			"$SCEP_CLIENT" request --ca "$TMP/ca.bin" --key "$TMP/in/scep$((j % 4)).key" \
				--subject "/CN=fault-$j" --txid "fault-$j" --state "$TMP/in/$j.st" \
				--out "$TMP/in/$j.msg" 2>"$TMP/in/$j.err"
		fi
	done
}
builders=()
for b in $(seq 0 $(($(nproc) - 1))); do
	build_inputs "$b" "$(nproc)" &
	builders+=($!)
done
for pid in "${builders[@]}"; do
	wait "$pid" || fail "building the requests failed"
done
assert_eq $((REQUESTS / 2)) "$(find "$TMP/in" -name '*.csr' | wc -l)" "CSRs built"
assert_eq $((REQUESTS - REQUESTS / 2)) "$(find "$TMP/in" -name '*.msg' | wc -l)" "pkiMessages built"
prepared=$EPOCHSECONDS

# One request with its retries; prints "J KIND ATTEMPTS RESULT", RESULT being "cert"
# (in $TMP/out/J.der or J.pem), "gave-up LAST-ERROR" or "refused WHAT" (a 4xx, a
# SCEP FAILURE or PENDING, an unreadable CertRep: never an effect of a kill).
send() { # J
	local j=$1 kind=csr attempt code rc verdict err=
	((j % 2 == 0)) || kind=scep
	for ((attempt = 1; attempt <= ATTEMPTS; attempt++)); do
		rc=0
		if [[ $kind == csr ]]; then
			code=$(curl -s -o "$TMP/out/$j.tmp" -w '%{http_code}' --max-time "$REPLY_TIMEOUT" \
				-H 'Accept: application/pkix-cert' --data-binary @"$TMP/in/$j.csr" \
				"$url/csr") || rc=$?
		else
			code=$(curl -s -o "$TMP/out/$j.tmp" -w '%{http_code}' --max-time "$REPLY_TIMEOUT" \
				-H 'Content-Type: application/x-pki-message' \
				--data-binary @"$TMP/in/$j.msg" "$url/scep?operation=PKIOperation") || rc=$?
		fi
		if ((rc != 0)); then
			err="curl-exit-$rc"
		elif [[ $code == 5* ]]; then
			err="http-$code"
		elif [[ $code != 200 ]]; then
			echo "$j $kind $attempt refused http-$code"
			return 0
		elif [[ $kind == csr ]]; then
			mv "$TMP/out/$j.tmp" "$TMP/out/$j.der"
			echo "$j $kind $attempt cert"
			return 0
		else
			rc=0
			verdict=$("$SCEP_CLIENT" reply --in "$TMP/out/$j.tmp" --state "$TMP/in/$j.st" \
				--out "$TMP/out/$j.pem" 2>/dev/null) || rc=$?
			if ((rc == 0)); then
				echo "$j $kind $attempt cert"
			else
				echo "$j $kind $attempt refused scep-${verdict// /-}-exit-$rc"
			fi
			return 0
		fi
		sleep 0.2
	done
	echo "$j $kind $ATTEMPTS gave-up $err"
}

client() { # C: requests C, C + CLIENTS, ... in order
	local j
	for ((j = $1; j < REQUESTS; j += CLIENTS)); do
		send "$j"
	done
}

# A child of the supervisor that is alive (not a zombie waiting to be reaped).
live_worker() { # PID
	local state ppid
	{ read -r _ _ state ppid _ <"/proc/$1/stat"; } 2>/dev/null || return 1
	[[ $state != Z && $ppid == "$SCEPD_PID" ]]
}

live_workers() {
	local pid
	for pid in $(pgrep -P "$SCEPD_PID"); do
		live_worker "$pid" && echo "$pid"
	done
	return 0
}

now_us() {
	echo "${EPOCHREALTIME/./}"
}

sleep_us() { # MICROSECONDS, when positive
	(($1 <= 0)) || sleep "$(printf '%d.%06d' $(($1 / 1000000)) $(($1 % 1000000)))"
}

# One kill per period of KILL_PERIOD_US: in even periods a random live worker at the
# period's start; in the others the first worker whose audit record appears in the log
# during the period, killed at once: alternately at "result=signing" (written before
# the CA key is used: the kill lands while signing or storing) and at "result=issued"
# (written once stored: the kill lands before the answer is sent, the certificate is
# on record but never reaches its client; a SCEP retry must get that one again).
killer() { # until $TMP/load-done; writes "KILLS AT-SIGNING AT-ISSUED" to $TMP/kills
	local kills=0 period=0 deadline=$((EPOCHSECONDS + KILL_SECONDS)) tick left pid what target
	local victims=() log
	local -A at=([signing]=0 [issued]=0)
	exec {log}< <(tail -n 0 -F --pid="$SCEPD_PID" "$TMP/scepd.log" 2>/dev/null |
		sed -u -n 's/^scepd\[\([0-9]*\)\] worker [0-9]* gen [0-9]*: [a-z]*: audit: result=\(signing\|issued\) .*/\1 \2/p' 2>/dev/null)
	tick=$(now_us)
	while [[ ! -e $TMP/load-done ]] && ((kills < KILL_MAX && EPOCHSECONDS < deadline)); do
		period=$((period + 1))
		tick=$((tick + KILL_PERIOD_US))
		sleep_us $((tick - $(now_us)))
		if ((period % 2 == 0)); then
			victims=($(live_workers))
			((${#victims[@]} > 0)) || continue
			kill -KILL "${victims[RANDOM % ${#victims[@]}]}" 2>/dev/null && kills=$((kills + 1))
			continue
		fi
		target=signing
		((period % 4 == 1)) || target=issued
		while read -r -t 0 -u "$log"; do # what was logged before this period
			read -r -u "$log" _ || break
		done
		while left=$((tick + KILL_PERIOD_US - $(now_us))) && ((left > 0)); do
			read -r -t "$(printf '%d.%06d' $((left / 1000000)) $((left % 1000000)))" -u "$log" \
				pid what || break
			if [[ $what == "$target" ]] && live_worker "$pid" && kill -KILL "$pid" 2>/dev/null; then
				kills=$((kills + 1))
				at[$target]=$((at[$target] + 1))
				break
			fi
		done
	done
	exec {log}<&-
	echo "$kills ${at[signing]} ${at[issued]}" >"$TMP/kills"
}

killer &
killer_pid=$!
BACKGROUND_PIDS+=("$killer_pid")
clients=()
for c in $(seq 0 $((CLIENTS - 1))); do
	client "$c" >"$TMP/client-$c.log" &
	clients+=($!)
	BACKGROUND_PIDS+=($!)
done
for pid in "${clients[@]}"; do
	wait "$pid" || fail "client $pid failed"
done
loaded=$EPOCHSECONDS
touch "$TMP/load-done"
wait "$killer_pid" || fail "the killer failed"
read -r kills signing_kills issued_kills <"$TMP/kills"
cat "$TMP"/client-*.log >"$TMP/results"

# The supervisor: alive, saw every kill, restored the workers, which serve.
kill -0 "$SCEPD_PID" 2>/dev/null || fail "the supervisor died"
wait_worker_count "$WORKERS" 35 ||
	fail "worker count not restored within 35 s: $(worker_count) of $WORKERS"
assert_eq "$WORKERS" "$(live_workers | wc -l)" "live workers after the load"
assert_eq "$kills" "$(grep -c "killed by signal 9" "$TMP/scepd.log")" \
	"worker deaths by SIGKILL in the log (kills sent)"
openssl req -new -key "$TMP/in/csr0.key" -subj "/CN=fault-after" -out "$TMP/after.csr" 2>/dev/null
for i in $(seq 1 $((WORKERS * 2))); do
	curl -sf -o /dev/null --max-time 10 --data-binary @"$TMP/after.csr" "$url/csr" ||
		fail "/csr request $i after the restore failed"
done
restored=$EPOCHSECONDS

# What the clients saw.
assert_eq "$REQUESTS" "$(wc -l <"$TMP/results")" "requests with a result"
received=$(grep -c ' cert$' "$TMP/results" || true)
gave_up=$(grep -c ' gave-up ' "$TMP/results" || true)
failed=$(awk '$4 == "cert" { n += $3 - 1 } $4 == "gave-up" { n += $3 } END { print n + 0 }' \
	"$TMP/results")
refused=$(grep ' refused ' "$TMP/results" | head -n 5 || true)
[[ -z $refused ]] || fail "requests refused (no kill explains a refusal): $refused"
((received * 2 >= REQUESTS)) ||
	fail "only $received of $REQUESTS requests got a certificate: the load did not get through"
((kills >= 4)) || fail "only $kills kills during the load: nothing was tested"

# Every received certificate: DER, verified against the CA, then looked up in the store.
for j in $(awk '$2 == "scep" && $4 == "cert" { print $1 }' "$TMP/results"); do
	sed -n '/^-----BEGIN CERTIFICATE-----$/,/^-----END CERTIFICATE-----$/{/^-----/!p}' \
		"$TMP/out/$j.pem" | base64 -d >"$TMP/out/$j.der" || fail "certificate $j: not PEM"
done
awk -v tmp="$TMP" '$4 == "cert" { print tmp "/out/" $1 ".der" }' "$TMP/results" >"$TMP/received"
assert_eq "$received" "$(wc -l <"$TMP/received")" "received certificate files"
unverified=$(xargs -n 250 openssl verify -CAfile "$TMP/ca.pem" <"$TMP/received" 2>&1 |
	grep -v ': OK$' | head -n 5 || true)
[[ -z $unverified ]] || fail "received certificates that do not verify: $unverified"

# The checks in SQL: the received ones are loaded next to the store, read-only.
(
	umask 077
	{
		echo "CREATE TABLE received (j INTEGER PRIMARY KEY, kind TEXT NOT NULL, der BLOB NOT NULL);"
		echo "BEGIN;"
		awk -v q="'" -v tmp="$TMP" '$4 == "cert" {
			printf "INSERT INTO received VALUES (%d, %s%s%s, readfile(%s%s/out/%d.der%s));\n",
				$1, q, $2, q, q, tmp, $1, q }' "$TMP/results"
		echo "COMMIT;"
	} | sqlite3 -bail "$TMP/received.db"
) || fail "cannot load the received certificates into $TMP/received.db"
# On PostgreSQL the store's certificates are copied into an SQLite file first, so that
# the same queries check both.
store_file=$TMP/scepd.db
if [[ $SCEPD_TEST_STORE == postgresql ]]; then
	store_file=$TMP/store-copy.db
	(umask 077 && : >"$store_file")
	{
		echo "CREATE TABLE certificates (serial TEXT, der BLOB, endpoint TEXT, transaction_id TEXT);"
		echo "BEGIN;"
		store_sql "SELECT format('INSERT INTO certificates VALUES (%L, x%L, %L, %L);', serial,
			encode(der, 'hex'), endpoint, transaction_id) FROM certificates"
		echo "COMMIT;"
	} | sqlite3 -bail "$store_file" || fail "cannot copy the PostgreSQL store into $store_file"
fi
query() { # SQL: over received and the store (attached as "store")
	sqlite3 -bail -cmd ".timeout 10000" -cmd "ATTACH 'file:$store_file?mode=ro' AS store" \
		"$TMP/received.db" "$1"
}
# One sqlite3 run, so that the TEMP table and its index serve every check.
checks=$(query "CREATE TEMP TABLE issued AS SELECT serial, der, endpoint, transaction_id FROM store.certificates;
	CREATE INDEX temp.issued_der ON issued (der);
	SELECT 'short ' || count(*) FROM received WHERE length(der) < 100;
	SELECT 'lost ' || count(*) FROM received r WHERE NOT EXISTS (SELECT 1 FROM issued i WHERE i.der = r.der);
	SELECT 'wrong-record ' || count(*) FROM received r JOIN issued i ON i.der = r.der
		WHERE i.endpoint != r.kind OR (r.kind = 'scep' AND i.transaction_id IS NOT 'fault-' || r.j)
		OR (r.kind = 'csr' AND i.transaction_id IS NOT NULL);
	SELECT 'serial-twice-received ' || count(*) FROM (SELECT i.serial FROM received r
		JOIN issued i ON i.der = r.der GROUP BY i.serial HAVING count(*) > 1);
	SELECT 'serial-twice-stored ' || count(*) FROM (SELECT serial FROM store.certificates
		GROUP BY serial HAVING count(*) > 1);
	SELECT 'transaction-twice ' || count(*) FROM (SELECT transaction_id FROM store.certificates
		WHERE transaction_id IS NOT NULL GROUP BY transaction_id HAVING count(*) > 1);
	SELECT 'stored ' || count(*) FROM store.certificates;")
get() { # NAME: its figure in $checks
	awk -v name="$1" '$1 == name { sub(/^[^ ]+ /, ""); print }' <<<"$checks"
}
assert_eq 0 "$(get short)" "received certificates shorter than 100 bytes"
lost=$(get lost)
if ((lost > 0)); then
	query "SELECT j, kind FROM received r WHERE NOT EXISTS (SELECT 1 FROM store.certificates c
		WHERE c.der = r.der) LIMIT 5" >&2
	fail "$lost received certificates are not in the store"
fi
assert_eq 0 "$(get wrong-record)" "received certificates whose store record has another endpoint or transaction"
assert_eq 0 "$(get serial-twice-received)" "serials received for two requests"
assert_eq 0 "$(get serial-twice-stored)" "serials twice in the store"
assert_eq 0 "$(get transaction-twice)" "SCEP transactions with two certificates"
assert_eq ok "$(store_integrity)" "the store's integrity check"
stored=$(get stored)
((stored >= received + WORKERS * 2)) || fail "$stored certificates stored, fewer than received"

pass "$REQUESTS requests ($((REQUESTS / 2)) /csr, $((REQUESTS - REQUESTS / 2)) SCEP) from $CLIENTS clients," \
	"$received certificates received, $failed failed attempts, $gave_up given up, $kills kills ($signing_kills at signing, $issued_kills at issued)," \
	"lost = 0, $((stored - received - WORKERS * 2)) issued but not received;" \
	"$WORKERS workers restored; inputs $((prepared - started)) s, load $((loaded - prepared)) s," \
	"restore $((restored - loaded)) s, wall $((EPOCHSECONDS - started)) s"
