#!/usr/bin/env bash
# Two scepd nodes, 2 workers each, on one PostgreSQL database (a private server):
# 400 requests (200 /csr, 200 SCEP PKCSReq) spread over both by 4 parallel clients,
# with PostgreSQL restarted in the middle: requests during the outage get 503 and are
# retried (a SCEP one with the same message), the nodes reconnect by themselves, and
# in the end every request has its certificate, no serial twice, every certificate
# received on record byte for byte. Then, with
# one-time challenges and manual approval: a challenge used on node A is refused on
# node B; a request PENDING on A, approved with scepctl, is collected by CertPoll on B;
# GetCert on B finds a certificate A issued.
. "$(dirname "$0")/lib.sh"
[[ $SCEPD_TEST_STORE == sqlite ]] || skip "starts PostgreSQL servers of its own"
[[ -x "${SCEP_CLIENT:-}" ]] || skip "SCEP_CLIENT (tests/tools/scep_client) not built"

REQUESTS=400
CLIENTS=4
pg_start
PORT_A=$(free_port)
PORT_B=$(free_port)
while [[ $PORT_B == "$PORT_A" ]]; do PORT_B=$(free_port); done
NODE_B=

node_config() { # FILE PORT SCEP-SETTINGS
	PORT=$2 write_config "$1" "workers = 2;"
	sed -i "s|^storage: .*|storage: { uri = \"$PG_URI\"; password = \"file:$PG_PIN_FILE\"; };|" "$1"
	cat >>"$1" <<CONF
csr: { auth = "none"; subject = { request = ["*"]; }; };
scep: { $3 };
CONF
}

start_nodes() { # SCEP-SETTINGS
	node_config "$TMP/a.conf" "$PORT_A" "$1"
	node_config "$TMP/b.conf" "$PORT_B" "$1"
	PORT=$PORT_A start_scepd "$TMP/a.conf"
	"$SCEPD_BIN" -c "$TMP/b.conf" -f >>"$TMP/scepd-b.log" 2>&1 &
	NODE_B=$!
	BACKGROUND_PIDS+=("$NODE_B")
	for _ in $(seq 1 100); do
		curl -sf "http://127.0.0.1:$PORT_B/healthz" >/dev/null 2>&1 && return 0
		kill -0 "$NODE_B" 2>/dev/null || fail "node B exited during start-up: $(tail -5 "$TMP/scepd-b.log")"
		sleep 0.1
	done
	fail "node B did not answer /healthz"
}

stop_nodes() {
	kill -TERM "$SCEPD_PID" "$NODE_B"
	wait_exit "$SCEPD_PID" 10 || fail "node A did not stop"
	wait_exit "$NODE_B" 10 || fail "node B did not stop"
}

start_nodes 'challenge = { mode = "none"; }; subject = { request = ["*"]; };'
curl -sf -o "$TMP/ca.bin" "http://127.0.0.1:$PORT_A/scep?operation=GetCACert" || fail "GetCACert"

# The inputs, before the load: request J is /csr for even J, SCEP for odd J.
mkdir -m 700 "$TMP/in" "$TMP/out"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/in/csr.key" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/in/scep.key" 2>/dev/null
build_inputs() { # FIRST STEP
	local j
	for ((j = $1; j < REQUESTS; j += $2)); do
		if ((j % 2 == 0)); then
			openssl req -new -key "$TMP/in/csr.key" -subj "/CN=node-$j" -out "$TMP/in/$j.csr" 2>/dev/null
		else
			"$SCEP_CLIENT" request --ca "$TMP/ca.bin" --key "$TMP/in/scep.key" \
				--subject "/CN=node-$j" --txid "node-$j" --state "$TMP/in/$j.st" \
				--out "$TMP/in/$j.msg" 2>/dev/null
		fi
	done
}
build_inputs 0 2 &
b0=$!
build_inputs 1 2 || fail "building the SCEP requests"
wait "$b0" || fail "building the CSRs"

# Client C sends requests C, C + CLIENTS, ...; request J goes to node A or B by J / 2.
# A 503 is retried after 0.2 s, up to ATTEMPTS times; any other answer is final.
# Prints "J PORT FINAL-STATUS 503S".
ATTEMPTS=50
client() { # C
	local j port code busy attempt
	for ((j = $1; j < REQUESTS; j += CLIENTS)); do
		port=$PORT_A
		(((j / 2) % 2)) && port=$PORT_B
		busy=0
		for ((attempt = 1; attempt <= ATTEMPTS; attempt++)); do
			if ((j % 2 == 0)); then
				code=$(curl -s -o "$TMP/out/$j.pem" -w '%{http_code}' --max-time 30 \
					--data-binary @"$TMP/in/$j.csr" "http://127.0.0.1:$port/csr")
			else
				code=$(curl -s -o "$TMP/out/$j.rep" -w '%{http_code}' --max-time 30 \
					-H 'Content-Type: application/x-pki-message' \
					--data-binary @"$TMP/in/$j.msg" \
					"http://127.0.0.1:$port/scep?operation=PKIOperation")
			fi
			[[ $code == 503 ]] || break
			busy=$((busy + 1))
			! grep -q "BEGIN CERTIFICATE" "$TMP/out/$j.pem" 2>/dev/null ||
				echo "$j certificate-with-503" >>"$TMP/violations"
			sleep 0.2
		done
		echo "$j $port $code $busy"
	done
}
pids=()
for c in $(seq 0 $((CLIENTS - 1))); do
	client "$c" >"$TMP/client-$c.log" &
	pids+=($!)
done
# PostgreSQL restarted once the load is under way (a fast shutdown: the connections of
# every worker are cut).
for _ in $(seq 1 300); do
	(($(cat "$TMP"/client-*.log | wc -l) >= REQUESTS / 4)) && break
	sleep 0.05
done
pg_restart || fail "PostgreSQL did not restart"
restarted_at=$(cat "$TMP"/client-*.log | wc -l)
for pid in "${pids[@]}"; do
	wait "$pid" || fail "a client failed"
done
cat "$TMP"/client-*.log >"$TMP/results"
[[ ! -s "$TMP/violations" ]] || fail "certificates answered with a 503: $(head -3 "$TMP/violations")"
assert_eq "$REQUESTS" "$(awk '$3 == 200' "$TMP/results" | wc -l)" "requests answered 200 in the end"
outage=$(awk '{ n += $4 } END { print n + 0 }' "$TMP/results")
((outage > 0)) || fail "no request met the restart: nothing was tested"
for ((j = 1; j < REQUESTS; j += 2)); do
	"$SCEP_CLIENT" reply --in "$TMP/out/$j.rep" --state "$TMP/in/$j.st" --out "$TMP/out/$j.pem" \
		>/dev/null 2>&1 || fail "SCEP request $j: no certificate in the CertRep"
done
for ((j = 0; j < REQUESTS; j++)); do
	openssl x509 -in "$TMP/out/$j.pem" -outform DER | xxd -p | tr -d '\n'
	echo
done >"$TMP/received.hex"
unverified=$(for ((j = 0; j < REQUESTS; j += 50)); do
	openssl verify -CAfile "$TMP/ca.pem" "$TMP/out/$j.pem" 2>&1 | grep -v ': OK$' || true
done)
[[ -z $unverified ]] || fail "certificates that do not verify: $unverified"
assert_eq 0 "$(pg_sql "SELECT count(*) FROM (SELECT serial FROM certificates GROUP BY serial HAVING count(*) > 1) d")" \
	"serials twice in the store"
pg_sql "SELECT encode(der, 'hex') FROM certificates" | sort >"$TMP/stored.hex"
assert_eq 0 "$(sort "$TMP/received.hex" | comm -23 - "$TMP/stored.hex" | wc -l)" \
	"received certificates not on record"
assert_eq "$REQUESTS" "$(sort -u "$TMP/received.hex" | wc -l)" "distinct certificates received"
a=$(grep -c "audit: result=issued" "$TMP/scepd.log" || true)
b=$(grep -c "audit: result=issued" "$TMP/scepd-b.log" || true)
((a > 0 && b > 0)) || fail "one node issued nothing (A $a, B $b)"
pass "$REQUESTS requests over 2 nodes (A issued $a, B $b), PostgreSQL restarted after" \
	"$restarted_at: $outage answers 503 meanwhile, then all served; no serial twice," \
	"every certificate on record"

# One-time challenges and manual approval across the nodes.
stop_nodes
start_nodes 'challenge = { mode = "otp"; }; approval = "manual"; subject = { request = ["*"]; };'
scepctl() { "$SCEPCTL_BIN" -c "$TMP/a.conf" "$@"; }
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/dev.key" 2>/dev/null
pki() { # NAME PORT [scep_client request options...]: VERDICT of the answer
	local name=$1 port=$2 rc=0
	shift 2
	"$SCEP_CLIENT" request --ca "$TMP/ca.bin" --key "$TMP/dev.key" --state "$TMP/$name.st" \
		--out "$TMP/$name.msg" "$@" 2>/dev/null || fail "$name: scep_client request"
	curl -s -o "$TMP/$name.rep" -H 'Content-Type: application/x-pki-message' \
		--data-binary @"$TMP/$name.msg" "http://127.0.0.1:$port/scep?operation=PKIOperation"
	VERDICT=$("$SCEP_CLIENT" reply --in "$TMP/$name.rep" --state "$TMP/$name.st" \
		--out "$TMP/$name.pem" 2>/dev/null) || rc=$?
	((rc != 3)) || VERDICT=PENDING
}
otp=$(scepctl challenge new --ttl 10m) || fail "challenge new"
pki pend-a "$PORT_A" --subject /CN=pend --txid pend-tx --challenge "$otp"
assert_eq PENDING "$VERDICT" "PKCSReq with a fresh challenge on node A"
pki reuse-b "$PORT_B" --subject /CN=reuse --txid reuse-tx --challenge "$otp"
assert_eq "FAILURE badRequest" "$VERDICT" "the same challenge on node B"
grep -q "the challenge password was used already" "$TMP/scepd-b.log" ||
	fail "node B does not say the challenge was used"
scepctl approve pend-tx || fail "scepctl approve"
pki poll-b "$PORT_B" --type poll --subject /CN=pend --txid pend-tx
assert_eq SUCCESS "$VERDICT" "CertPoll on node B after the approval"
openssl verify -CAfile "$TMP/ca.pem" "$TMP/poll-b.pem" >/dev/null || fail "the polled certificate does not verify"
# GetCert answers a certificate of the same subject: request 1's own (SCEP, node A).
serial=$(openssl x509 -in "$TMP/out/1.pem" -noout -serial | cut -d= -f2)
grep -q "$PORT_A" <(grep '^1 ' "$TMP/results") || fail "request 1 did not go to node A"
pki getcert-b "$PORT_B" --type getcert --serial "$serial" \
	--signer-cert "$TMP/out/1.pem" --signer-key "$TMP/in/scep.key"
assert_eq SUCCESS "$VERDICT" "GetCert on node B"
cmp <(openssl x509 -in "$TMP/getcert-b.pem" -outform DER) <(openssl x509 -in "$TMP/out/1.pem" -outform DER) ||
	fail "GetCert on node B returned another certificate"
pass "a challenge used on A is refused on B; PENDING on A, approved, collected on B; GetCert on B"
