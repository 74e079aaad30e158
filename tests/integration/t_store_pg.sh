#!/usr/bin/env bash
# The PostgreSQL store against a private server started here: store.h's contract
# (tests/unit/test_store_pg.c: schema, records, transitions, processes racing for one
# row, a server restart under an open connection); then scepd with
# storage.uri = "postgresql://...": /csr certificates on record in PostgreSQL, the
# schema made once by workers starting together, scepctl on the same database.
. "$(dirname "$0")/lib.sh"
[[ $SCEPD_TEST_STORE == sqlite ]] || skip "starts PostgreSQL servers of its own"
[[ -x "${STORE_PG_TEST:-}" ]] || skip "STORE_PG_TEST (test_store_pg) not built"
[[ -x "${SCEP_CLIENT:-}" ]] || skip "SCEP_CLIENT (tests/tools/scep_client) not built"

pg_start
restart=$(printf '%q ' runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$PG_DIR/data" \
	-l "$PG_DIR/server.log" -w -t 30 -m fast \
	-o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR" restart)
[[ $(id -u) -eq 0 ]] || restart=${restart#runuser -u postgres -- }
# The C test logs in with libpq's own PGPASSWORD; scepd below with storage.password.
PGPASSWORD=$(cat "$PG_PIN_FILE") SCEPD_TEST_PG_URI=$PG_URI \
	SCEPD_TEST_PG_RESTART="$restart >/dev/null" "$STORE_PG_TEST" || fail "test_store_pg failed"
pass "store contract on PostgreSQL: records, transitions, races, reconnect"

pg_sql "DROP TABLE pending_requests, certificates, challenges, crls, revocation_state, scepd_schema" >/dev/null
PORT=$(free_port)
write_config "$TMP/scepd.conf" "workers = 4;"
sed -i "s|^storage: .*|storage: { uri = \"$PG_URI\"; password = \"file:$TMP/wrong\"; };|" \
	"$TMP/scepd.conf"
echo wrong-password >"$TMP/wrong"
"$SCEPCTL_BIN" -c "$TMP/scepd.conf" db migrate 2>"$TMP/ctl.err" && fail "db migrate with a wrong password"
grep -q "storage.uri: cannot open the store: 127.0.0.1:$PG_PORT/scepd: .*password authentication failed" "$TMP/ctl.err" ||
	fail "db migrate with a wrong password: $(cat "$TMP/ctl.err")"
sed -i "s|file:$TMP/wrong|file:$PG_PIN_FILE|" "$TMP/scepd.conf"
cat >>"$TMP/scepd.conf" <<CONF
csr: { auth = "none"; subject = { request = ["*"]; }; };
scep: { challenge = { mode = "none"; }; };
CONF
"$SCEPCTL_BIN" -c "$TMP/scepd.conf" pending 2>"$TMP/ctl.err" && fail "scepctl pending on no schema"
grep -q "storage.uri: cannot open the store: 127.0.0.1:$PG_PORT/scepd: the database has no scepd tables yet" "$TMP/ctl.err" ||
	fail "scepctl pending on no schema: $(cat "$TMP/ctl.err")"
assert_eq "schema version 5" "$("$SCEPCTL_BIN" -c "$TMP/scepd.conf" db migrate)" "scepctl db migrate"
assert_eq 5 "$(pg_sql "SELECT version FROM scepd_schema")" "the version in scepd_schema"
pg_sql "DROP TABLE pending_requests, certificates, challenges, crls, revocation_state, scepd_schema" >/dev/null
start_scepd "$TMP/scepd.conf"
assert_eq 1 "$(pg_sql "SELECT count(*) FROM scepd_schema")" "schema rows after 4 workers started"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/host.key" \
	-subj "/CN=pg.example" -out "$TMP/host.csr" 2>/dev/null
for i in 1 2 3 4 5 6 7 8; do
	curl -sf -o "$TMP/host$i.pem" --data-binary @"$TMP/host.csr" "http://127.0.0.1:$PORT/csr" ||
		fail "POST /csr $i"
	openssl verify -CAfile "$TMP/ca.pem" "$TMP/host$i.pem" >/dev/null || fail "certificate $i does not verify"
done
assert_eq 8 "$(pg_sql "SELECT count(DISTINCT serial) FROM certificates WHERE subject = 'CN=pg.example'")" \
	"certificates on record in PostgreSQL"
serial=$(openssl x509 -in "$TMP/host5.pem" -noout -serial | cut -d= -f2 | sed 's/^0*//')
assert_eq "csr" "$(pg_sql "SELECT endpoint FROM certificates WHERE serial = '$serial'")" \
	"the record of certificate 5"
assert_eq "$(openssl x509 -in "$TMP/host5.pem" -outform DER | xxd -p | tr -d '\n')" \
	"$(pg_sql "SELECT encode(der, 'hex') FROM certificates WHERE serial = '$serial'")" \
	"the stored DER of certificate 5"
"$SCEPCTL_BIN" -c "$TMP/scepd.conf" issued --serial "$serial" >"$TMP/issued.out" ||
	fail "scepctl issued: $(cat "$TMP/issued.out")"
grep -q "CN=pg.example" "$TMP/issued.out" || fail "scepctl issued does not show the certificate"
pass "scepd on PostgreSQL: scepctl db migrate; 8 /csr certificates on record, one schema" \
	"for 4 workers, scepctl issued"

# The database goes away: /csr and SCEP answer 503 at once and hand out no
# certificate; GetCACert needs no database; once it is back, the workers reconnect by
# themselves.
curl -sf -o "$TMP/ca.bin" "http://127.0.0.1:$PORT/scep?operation=GetCACert" || fail "GetCACert"
"$SCEP_CLIENT" request --ca "$TMP/ca.bin" --subject /CN=pg-scep --state "$TMP/scep.st" \
	--out "$TMP/scep.msg" 2>"$TMP/scep.err" || fail "scep_client request: $(cat "$TMP/scep.err")"
before=$(pg_sql "SELECT count(*) FROM certificates")
pg_ctl_run stop || fail "cannot stop PostgreSQL"
code=$(curl -s -o "$TMP/scep.rep" -w '%{http_code}' --max-time 10 \
	-H 'Content-Type: application/x-pki-message' --data-binary @"$TMP/scep.msg" \
	"http://127.0.0.1:$PORT/scep?operation=PKIOperation")
assert_eq 503 "$code" "SCEP PKCSReq while the database is down"
code=$(curl -s -o "$TMP/health" -w '%{http_code}' "http://127.0.0.1:$PORT/healthz")
assert_eq "503 the store cannot be reached: Transport endpoint is not connected" \
	"$code $(cat "$TMP/health")" "/healthz while the database is down"
curl -sf -o /dev/null "http://127.0.0.1:$PORT/scep?operation=GetCACert" ||
	fail "GetCACert while the database is down"
for i in 1 2 3 4; do
	code=$(curl -s -o "$TMP/down$i.out" -w '%{http_code}' --max-time 10 \
		--data-binary @"$TMP/host.csr" "http://127.0.0.1:$PORT/csr")
	assert_eq 503 "$code" "POST /csr $i while the database is down"
	! grep -q "BEGIN CERTIFICATE" "$TMP/down$i.out" || fail "a certificate without a record"
done
grep -q "cannot record certificate" "$TMP/scepd.log" || fail "the log does not say the record failed"
pg_ctl_run start || fail "cannot start PostgreSQL again"
sleep 1.1 # a worker retries a lost connection at most once a second
ok=0
for i in $(seq 1 20); do
	curl -sf -o /dev/null --max-time 10 --data-binary @"$TMP/host.csr" \
		"http://127.0.0.1:$PORT/csr" && ok=$((ok + 1))
done
assert_eq 20 "$ok" "POST /csr after the database came back"
code=$(curl -s -o "$TMP/scep.rep" -w '%{http_code}' --max-time 10 \
	-H 'Content-Type: application/x-pki-message' --data-binary @"$TMP/scep.msg" \
	"http://127.0.0.1:$PORT/scep?operation=PKIOperation")
assert_eq 200 "$code" "the same SCEP PKCSReq after the database came back"
assert_eq "ok" "$(curl -sf "http://127.0.0.1:$PORT/healthz")" "/healthz after the database came back"
assert_eq SUCCESS "$("$SCEP_CLIENT" reply --in "$TMP/scep.rep" --state "$TMP/scep.st" \
	--out "$TMP/scep.pem" 2>/dev/null)" "the SCEP answer after the outage"
assert_eq $((before + 21)) "$(pg_sql "SELECT count(*) FROM certificates")" \
	"certificates on record after the outage"
pass "database down: 503 for /csr, SCEP and /healthz (naming the store), no certificate," \
	"GetCACert served;" \
	"back: the workers reconnect by themselves"
