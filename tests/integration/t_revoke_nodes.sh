#!/usr/bin/env bash
# Revocation across two scepd nodes (2 workers each) on one PostgreSQL database (a
# private server) with the same file CA, crl.path and ocsp.path. (1) A certificate
# issued on node A and revoked with `scepctl -c a.conf revoke`: within 1 s both nodes'
# OCSP say revoked, and within 1.5 s both nodes' CRLs list it with the same cRLNumber.
# (2) Ten revocations in parallel through both configs while a loop fetches the CRL
# from both nodes alternately: the cRLNumber never decreases on a node, both nodes end
# with the same bytes listing all ten, and the store's crls.number is that cRLNumber.
# (3) A hold lifted with `scepctl unrevoke` is good again on both nodes' OCSP and gone
# from both CRLs.
. "$(dirname "$0")/lib.sh"
[[ $SCEPD_TEST_STORE == sqlite ]] || skip "starts a PostgreSQL server of its own"

pg_start
PORT_A=$(free_port)
PORT_B=$(free_port)
while [[ $PORT_B == "$PORT_A" ]]; do PORT_B=$(free_port); done
make_file_ca "$TMP"

node_config() { # FILE PORT
	cat >"$1" <<CONF
server: { listen = ["127.0.0.1:$2"]; workers = 2; };
ca: {
	certificate = "$TMP/ca.pem";
	key = "$TMP/ca.key";
	crl = { path = "/crl/ca.crl"; };
	ocsp = { path = "/ocsp/ca"; };
};
csr: { auth = "none"; subject = { request = ["*"]; }; };
storage: { uri = "$PG_URI"; password = "file:$PG_PIN_FILE"; };
log: { level = "debug"; };
CONF
	"$SCEPD_BIN" -c "$1" -t >"$TMP/check.out" 2>&1 || fail "scepd -t $1: $(cat "$TMP/check.out")"
}
node_config "$TMP/a.conf" "$PORT_A"
node_config "$TMP/b.conf" "$PORT_B"
PORT=$PORT_A start_scepd "$TMP/a.conf"
"$SCEPD_BIN" -c "$TMP/b.conf" -f >>"$TMP/scepd-b.log" 2>&1 &
NODE_B=$!
BACKGROUND_PIDS+=("$NODE_B")
for _ in $(seq 1 100); do
	curl -sf "http://127.0.0.1:$PORT_B/healthz" >/dev/null 2>&1 && break
	kill -0 "$NODE_B" 2>/dev/null || fail "node B exited during start-up: $(tail -5 "$TMP/scepd-b.log")"
	sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT_B/healthz" >/dev/null || fail "node B did not answer /healthz"

ctl() { # A|B ARGS...
	local node=$1
	shift
	"$SCEPCTL_BIN" -c "$TMP/${node,,}.conf" "$@"
}
serial_of() { openssl x509 -in "$1" -noout -serial | sed 's/^serial=//; s/^0*//'; }
now_ms() { date +%s%3N; }

# issue NAME: a certificate from POST /csr on node A into $TMP/NAME.pem
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$TMP/dev.key" 2>/dev/null
issue() {
	openssl req -new -key "$TMP/dev.key" -subj "/CN=$1" -out "$TMP/$1.csr" 2>/dev/null
	assert_eq 200 "$(curl -s -o "$TMP/$1.pem" -w '%{http_code}' --data-binary @"$TMP/$1.csr" \
		"http://127.0.0.1:$PORT_A/csr")" "POST /csr on node A for $1"
}
# ocsp NAME PORT: the status `openssl ocsp` gives for $TMP/NAME.pem on that node
ocsp() {
	openssl ocsp -issuer "$TMP/ca.pem" -cert "$TMP/$1.pem" -url "http://127.0.0.1:$2/ocsp/ca" \
		-CAfile "$TMP/ca.pem" >"$TMP/$1-$2.ocsp" 2>&1 || true
	grep -q "^Response verify OK" "$TMP/$1-$2.ocsp" ||
		fail "$1 on port $2: the response does not verify: $(cat "$TMP/$1-$2.ocsp")"
	sed -n "s|^$TMP/$1.pem: ||p" "$TMP/$1-$2.ocsp"
}
crl_number() { echo $((16#$(openssl crl -inform DER -in "$1" -noout -crlnumber | sed 's/^crlNumber=0x//'))); }
crl_serials() { openssl crl -inform DER -in "$1" -noout -text | sed -n 's/^ *Serial Number: 0*//p'; }
# get_crl PORT FILE: the DER CRL of that node; its cRLNumber and number of entries are
# appended to $TMP/seen-a or seen-b, every CRL each node served in the order served.
node_of() { if [[ $1 == "$PORT_A" ]]; then echo a; else echo b; fi; }
get_crl() {
	assert_eq 200 "$(curl -s -o "$2" -w '%{http_code}' --max-time 5 \
		"http://127.0.0.1:$1/crl/ca.crl")" "GET /crl/ca.crl on port $1"
	echo "$(crl_number "$2") $(crl_serials "$2" | wc -l)" >>"$TMP/seen-$(node_of "$1")"
}
served() { cut -d' ' -f1 "$TMP/seen-$1" | uniq -c | awk '{ printf "%s%sx%s", sep, $2, $1; sep = " " }'; }
# Every cRLNumber a node served, in order, never lower than one it served before.
check_monotonic() {
	local node prev n
	for node in a b; do
		prev=0
		while read -r n _; do
			((n >= prev)) || fail "node ${node^^}'s cRLNumber decreased: $prev then $n" \
				"(served, NUMBERxTIMES: $(served "$node"))"
			prev=$n
		done <"$TMP/seen-$node"
	done
}
crl_lists() { crl_serials "$1" | grep -qx "$2"; } # FILE SERIAL

for name in lost held; do issue "$name"; done
for i in $(seq 1 10); do issue "par$i"; done
get_crl "$PORT_A" "$TMP/first-a.crl"
get_crl "$PORT_B" "$TMP/first-b.crl"
openssl crl -inform DER -in "$TMP/first-a.crl" -CAfile "$TMP/ca.pem" -noout 2>&1 | grep -q "verify OK" ||
	fail "node A's CRL does not verify against the CA"
assert_eq good "$(ocsp lost "$PORT_B")" "node B's OCSP about a certificate node A issued"

# (1) One revocation: OCSP at once, the CRL within 1.5 s, on both nodes.
lost=$(serial_of "$TMP/lost.pem")
ctl A revoke "$lost" --reason keyCompromise >/dev/null 2>&1 || fail "scepctl -c a.conf revoke"
t0=$(now_ms)
for port in "$PORT_A" "$PORT_B"; do
	assert_eq revoked "$(ocsp lost "$port")" "OCSP on port $port after the revocation"
	grep -q "Reason: keyCompromise" "$TMP/lost-$port.ocsp" || fail "no reason: $(cat "$TMP/lost-$port.ocsp")"
done
ocsp_ms=$(($(now_ms) - t0))
((ocsp_ms < 1000)) || fail "both nodes' OCSP took $ocsp_ms ms to say revoked"
seen_a='' seen_b=''
while ((($(now_ms) - t0) < 1500)); do
	if [[ -z $seen_a ]]; then
		get_crl "$PORT_A" "$TMP/r1-a.crl"
		! crl_lists "$TMP/r1-a.crl" "$lost" || seen_a=$(($(now_ms) - t0))
	fi
	if [[ -z $seen_b ]]; then
		get_crl "$PORT_B" "$TMP/r1-b.crl"
		! crl_lists "$TMP/r1-b.crl" "$lost" || seen_b=$(($(now_ms) - t0))
	fi
	[[ -n $seen_a && -n $seen_b ]] && break
	sleep 0.05
done
[[ -n $seen_a ]] || fail "node A's CRL does not list $lost after 1.5 s"
[[ -n $seen_b ]] || fail "node B's CRL does not list $lost after 1.5 s"
# Both lists now carry the revocation: once every worker has it, the same number.
for _ in $(seq 1 30); do
	get_crl "$PORT_A" "$TMP/r1-a.crl"
	get_crl "$PORT_B" "$TMP/r1-b.crl"
	cmp -s "$TMP/r1-a.crl" "$TMP/r1-b.crl" && break
	sleep 0.05
done
n1a=$(crl_number "$TMP/r1-a.crl")
n1b=$(crl_number "$TMP/r1-b.crl")
assert_eq "$n1a" "$n1b" "the cRLNumber of both nodes' CRLs"
crl_lists "$TMP/r1-a.crl" "$lost" && crl_lists "$TMP/r1-b.crl" "$lost" ||
	fail "a node's CRL dropped $lost"
n0=$(crl_number "$TMP/first-a.crl")
((n1a > n0)) || fail "cRLNumber did not increase: $n0 then $n1a"
check_monotonic
pass "revoked on A with scepctl: both OCSPs say revoked within $ocsp_ms ms; both CRLs list it" \
	"(A after $seen_a ms, B after $seen_b ms), cRLNumber $n0 -> $n1a on both"

# (2) Ten revocations in parallel through both configs while the CRL is fetched from
# both nodes alternately; every cRLNumber seen is recorded per node.
# The watcher only saves each answer (w/NODE.K.crl, as fast as curl goes); they are
# read, in order, afterwards.
mkdir "$TMP/w"
watch_crls() {
	local k=0 port node
	while [[ ! -e "$TMP/stop-watch" ]]; do
		if ((k % 2 == 0)); then port=$PORT_A node=a; else port=$PORT_B node=b; fi
		if curl -sf -o "$TMP/w/tmp.crl" --max-time 5 "http://127.0.0.1:$port/crl/ca.crl"; then
			mv "$TMP/w/tmp.crl" "$TMP/w/$node.$k.crl"
		else
			echo "$node $k" >>"$TMP/w/failed"
		fi
		k=$((k + 1))
	done
}
latest_count() { # NODE: the number of entries of the newest list the watcher saved
	local f
	f=$(ls -v "$TMP/w/$1".*.crl 2>/dev/null | tail -n 1)
	[[ -n $f ]] && crl_serials "$f" | wc -l
}
watch_crls &
watcher=$!
BACKGROUND_PIDS+=("$watcher")
sleep 0.3
pids=()
t0=$(now_ms)
for i in $(seq 1 10); do
	node=A
	((i % 2)) || node=B
	ctl "$node" revoke "$(serial_of "$TMP/par$i.pem")" --reason superseded >"$TMP/rev$i.out" 2>&1 &
	pids+=($!)
done
for i in "${!pids[@]}"; do
	wait "${pids[$i]}" || fail "parallel revoke $((i + 1)): $(cat "$TMP/rev$((i + 1)).out")"
done
revoked_ms=$(($(now_ms) - t0))
# Watch until both nodes serve all 11 (at most 5 s), then a little longer.
for _ in $(seq 1 50); do
	[[ $(latest_count a) == 11 && $(latest_count b) == 11 ]] && break
	sleep 0.1
done
all_ms=$(($(now_ms) - t0))
sleep 1.2
touch "$TMP/stop-watch"
wait "$watcher" || true
[[ ! -e "$TMP/w/failed" ]] || fail "CRL fetches failed during the revocations: $(cat "$TMP/w/failed")"
fetches=$(ls "$TMP/w" | wc -l)
for node in a b; do
	while read -r f; do
		echo "$(crl_number "$f") $(crl_serials "$f" | wc -l)"
	done < <(ls -v "$TMP/w/$node".*.crl) >>"$TMP/seen-$node"
done
check_monotonic
get_crl "$PORT_A" "$TMP/final-a.crl"
get_crl "$PORT_B" "$TMP/final-b.crl"
for _ in 1 2 3 4 5 6; do # every worker of each node
	get_crl "$PORT_A" "$TMP/again-a.crl"
	get_crl "$PORT_B" "$TMP/again-b.crl"
	cmp -s "$TMP/again-a.crl" "$TMP/final-a.crl" || fail "node A serves two different final CRLs"
	cmp -s "$TMP/again-b.crl" "$TMP/final-a.crl" || fail "node B's final CRL is not node A's"
done
for i in $(seq 1 10); do
	crl_lists "$TMP/final-a.crl" "$(serial_of "$TMP/par$i.pem")" || fail "the final CRL lacks par$i"
done
crl_lists "$TMP/final-a.crl" "$lost" || fail "the final CRL lacks $lost"
nf=$(crl_number "$TMP/final-a.crl")
assert_eq "$nf" "$(pg_sql "SELECT number FROM crls")" "the stored crls.number"
pg_sql "SELECT encode(der, 'hex') FROM crls" | xxd -r -p | cmp -s - "$TMP/final-a.crl" ||
	fail "the stored CRL is not the one the nodes serve"
seen_a=$(cut -d' ' -f1 "$TMP/seen-a" | uniq | tr '\n' ' ')
seen_b=$(cut -d' ' -f1 "$TMP/seen-b" | uniq | tr '\n' ' ')
pass "10 parallel revocations through A and B ($revoked_ms ms): cRLNumbers served so far by A: ${seen_a% }," \
	"by B: ${seen_b% } ($fetches fetches by the watcher), never lower;" \
	"all listed on both within $all_ms ms; final lists identical, cRLNumber $nf = crls.number"

# (3) A hold lifted: good again on both OCSPs, gone from both CRLs.
held=$(serial_of "$TMP/held.pem")
ctl B revoke "$held" --reason certificateHold >/dev/null 2>&1 || fail "scepctl -c b.conf revoke (hold)"
for port in "$PORT_A" "$PORT_B"; do
	assert_eq revoked "$(ocsp held "$port")" "OCSP on port $port of the hold"
done
t0=$(now_ms)
for _ in $(seq 1 30); do
	get_crl "$PORT_A" "$TMP/h-a.crl"
	get_crl "$PORT_B" "$TMP/h-b.crl"
	crl_lists "$TMP/h-a.crl" "$held" && crl_lists "$TMP/h-b.crl" "$held" && break
	sleep 0.05
done
crl_lists "$TMP/h-a.crl" "$held" && crl_lists "$TMP/h-b.crl" "$held" ||
	fail "the hold is not in both CRLs after 1.5 s"
nh=$(crl_number "$TMP/h-a.crl")
ctl A unrevoke "$held" >/dev/null 2>&1 || fail "scepctl -c a.conf unrevoke"
t0=$(now_ms)
for port in "$PORT_A" "$PORT_B"; do
	assert_eq good "$(ocsp held "$port")" "OCSP on port $port after the hold was lifted"
done
gone_a='' gone_b=''
while ((($(now_ms) - t0) < 1500)); do
	get_crl "$PORT_A" "$TMP/u-a.crl"
	get_crl "$PORT_B" "$TMP/u-b.crl"
	[[ -n $gone_a ]] || crl_lists "$TMP/u-a.crl" "$held" || gone_a=$(($(now_ms) - t0))
	[[ -n $gone_b ]] || crl_lists "$TMP/u-b.crl" "$held" || gone_b=$(($(now_ms) - t0))
	[[ -n $gone_a && -n $gone_b ]] && break
	sleep 0.05
done
[[ -n $gone_a && -n $gone_b ]] || fail "the lifted hold is still in a node's CRL after 1.5 s"
for _ in $(seq 1 30); do
	get_crl "$PORT_A" "$TMP/u-a.crl"
	get_crl "$PORT_B" "$TMP/u-b.crl"
	cmp -s "$TMP/u-a.crl" "$TMP/u-b.crl" && ! crl_lists "$TMP/u-a.crl" "$held" && break
	sleep 0.05
done
cmp -s "$TMP/u-a.crl" "$TMP/u-b.crl" || fail "the nodes serve different CRLs after the unrevoke"
nu=$(crl_number "$TMP/u-a.crl")
((nf < nh && nh < nu)) || fail "cRLNumbers do not increase: $nf $nh $nu"
crl_lists "$TMP/u-a.crl" "$lost" || fail "the revoked certificate left the CRL"
assert_eq "$nu" "$(pg_sql "SELECT number FROM crls")" "crls.number after the unrevoke"
check_monotonic
pass "a hold set on B and lifted on A: good again on both OCSPs, gone from both CRLs" \
	"(A after $gone_a ms, B after $gone_b ms); cRLNumbers $nf < $nh < $nu"
