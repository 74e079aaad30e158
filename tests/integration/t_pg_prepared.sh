#!/usr/bin/env bash
# The PostgreSQL store's prepared statements (store_pg.c) across new sessions, on a
# private server started here (with log_statement = 'all', so that its log shows each
# statement run by name). scepd with two workers issues over /csr and SCEP (one-time
# challenge); then every scepd session is ended from psql (pg_terminate_backend(), as
# an administrator or a failover does). The workers notice the closed connection before
# their next statement and reconnect (store_pg_connected()): the very next requests
# succeed, no 503, and the new sessions prepare the statements again before running
# them by name (no "does not exist" error in the server's log). Then a session loses a
# prepared statement under scepd (a trigger deallocates scepd_check, as DISCARD ALL or a
# pooler would): /healthz still answers 200, the statement is prepared again and run;
# and a group commit whose statement was lost runs its transaction once more: bursts
# of /csr requests all get their certificates.
. "$(dirname "$0")/lib.sh"
[[ $SCEPD_TEST_STORE == sqlite ]] || skip "starts a PostgreSQL server of its own"
[[ -x "${SCEP_CLIENT:-}" ]] || skip "SCEP_CLIENT (tests/tools/scep_client) not built"

pg_start
pg_sql "ALTER DATABASE scepd SET log_statement = 'all'" >/dev/null
PORT=$(free_port)
make_scep_ca "$TMP"
write_config "$TMP/scepd.conf" "workers = 2;"
sed -i "s|^storage: .*|storage: { uri = \"$PG_URI\"; password = \"file:$PG_PIN_FILE\"; };|" \
	"$TMP/scepd.conf"
open_csr "$TMP/scepd.conf" 'subject = { request = ["*"]; };'
echo 'scep: { challenge = { mode = "otp"; }; };' >>"$TMP/scepd.conf"
start_scepd "$TMP/scepd.conf"
curl -sf -o "$TMP/ca.bin" "http://127.0.0.1:$PORT/scep?operation=GetCACert" || fail "GetCACert"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/host.key" \
	-subj "/CN=prepared.example" -out "$TMP/host.csr" 2>/dev/null

# sessions: the PIDs of scepd's sessions, one a line
sessions() {
	pg_sql "SELECT pid FROM pg_stat_activity WHERE datname = 'scepd'
		AND application_name = 'scepd' ORDER BY pid"
}
# issue ROUND N: N certificates over /csr and one over SCEP, each verified
issue() { # ROUND N
	local i code otp
	for ((i = 1; i <= $2; i++)); do
		code=$(curl -s -o "$TMP/$1-$i.pem" -w '%{http_code}' --max-time 10 \
			--data-binary @"$TMP/host.csr" "http://127.0.0.1:$PORT/csr")
		assert_eq 200 "$code" "POST /csr $i ($1): $(head -c 200 "$TMP/$1-$i.pem")"
		openssl verify -CAfile "$TMP/ca.pem" "$TMP/$1-$i.pem" >/dev/null ||
			fail "/csr certificate $i ($1) does not verify"
	done
	otp=$("$SCEPCTL_BIN" -c "$TMP/scepd.conf" challenge new --owner "$1") ||
		fail "scepctl challenge new ($1)"
	echo "$otp" >"$TMP/challenge-$1"
	scep_pkioperation "scep-$1" "http://127.0.0.1:$PORT/scep" "$TMP/ca.bin" \
		--subject "/CN=scep-$1" --challenge "$otp"
	assert_eq SUCCESS "$VERDICT" "SCEP PKCSReq ($1)"
	openssl verify -CAfile "$TMP/ca.pem" "$TMP/scep-$1.pem" >/dev/null ||
		fail "the SCEP certificate ($1) does not verify"
}
# on_record PEM: the stored DER of that certificate equals it
on_record() { # PEM
	local serial
	serial=$(openssl x509 -in "$1" -noout -serial | cut -d= -f2 | sed 's/^0*//')
	assert_eq "$(openssl x509 -in "$1" -outform DER | xxd -p | tr -d '\n')" \
		"$(pg_sql "SELECT encode(der, 'hex') FROM certificates WHERE serial = '$serial'")" \
		"the stored DER of $(basename "$1")"
}
# executed_by PID NAME: the server's log shows session PID running NAME by name
executed_by() { # PID NAME
	grep -qE "\[$1\] LOG:  execute $2: " "$PG_LOG"
}

issue before 4
before=$(sessions)
[[ -n "$before" ]] || fail "no scepd session in pg_stat_activity"
on_record "$TMP/before-4.pem"
on_record "$TMP/scep-before.pem"
n=0
for pid in $before; do
	executed_by "$pid" scepd_add_cert && n=$((n + 1))
done
((n > 0)) || fail "no scepd session ran scepd_add_cert by name: $(grep -m3 'execute' "$PG_LOG")"
pass "/csr and SCEP on PostgreSQL: certificates on record, scepd_add_cert run by name" \
	"($(wc -l <<<"$before") sessions)"

# Every scepd session ended from psql; the requests right after must all succeed.
killed=$(pg_sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
	WHERE datname = 'scepd' AND application_name = 'scepd' AND pid <> pg_backend_pid()")
((killed > 0)) || fail "pg_terminate_backend ended no session"
for _ in $(seq 1 100); do
	[[ -z "$(sessions)" ]] && break
	sleep 0.1
done
[[ -z "$(sessions)" ]] || fail "scepd sessions still there after pg_terminate_backend: $(sessions)"
issue after 8
after=$(sessions)
[[ -n "$after" ]] || fail "no scepd session after the requests"
for pid in $after; do
	! grep -qx "$pid" <<<"$before" || fail "session $pid survived pg_terminate_backend"
done
on_record "$TMP/after-1.pem"
on_record "$TMP/after-8.pem"
on_record "$TMP/scep-after.pem"
assert_eq 14 "$(pg_sql "SELECT count(*) FROM certificates")" "certificates on record"
n=0
for pid in $after; do
	executed_by "$pid" scepd_add_cert && n=$((n + 1))
done
((n > 0)) || fail "no new session ran scepd_add_cert by name"
scep=no
for pid in $after; do
	! executed_by "$pid" scepd_consume_challenge || scep=yes
done
assert_eq yes "$scep" "a new session ran scepd_consume_challenge by name"
! grep -q 'prepared statement .* does not exist' "$PG_LOG" ||
	fail "a statement ran before it was prepared: $(grep -m1 'does not exist' "$PG_LOG")"
! grep -q 'cannot' "$TMP/scepd.log" ||
	fail "scepd logged a failure: $(grep -m1 'cannot' "$TMP/scepd.log")"
pass "sessions terminated: the next 8 /csr and a SCEP request answered at once, no 503;" \
	"new sessions ($(wc -l <<<"$after")) prepared the statements again"

# A session loses scepd_check under scepd (as with DISCARD ALL): SQLSTATE 26000, the
# statement is prepared again and run once more; /healthz never notices.
pg_sql_stdin >/dev/null <<'SQL'
CREATE FUNCTION scepd_test_forget() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF EXISTS (SELECT 1 FROM pg_prepared_statements WHERE name = 'scepd_check') THEN
		EXECUTE 'DEALLOCATE scepd_check';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER scepd_test_forget AFTER INSERT ON certificates
	FOR EACH ROW EXECUTE FUNCTION scepd_test_forget();
SQL
lost=0
for round in $(seq 1 10); do
	for _ in 1 2 3 4; do
		assert_eq ok "$(curl -s --max-time 10 "http://127.0.0.1:$PORT/healthz")" \
			"/healthz (round $round)"
	done
	curl -sf -o "$TMP/forget-$round.pem" --max-time 10 --data-binary @"$TMP/host.csr" \
		"http://127.0.0.1:$PORT/csr" || fail "POST /csr with the trigger (round $round)"
	for _ in 1 2 3 4; do
		assert_eq ok "$(curl -s --max-time 10 "http://127.0.0.1:$PORT/healthz")" \
			"/healthz after a lost statement (round $round)"
	done
	lost=$(grep -c 'prepared statement "scepd_check" does not exist' "$PG_LOG" || true)
	((lost == 0)) || break
done
((lost > 0)) || fail "the trigger never took scepd_check from a session that used it"
pid=$(grep -m1 'prepared statement "scepd_check" does not exist' "$PG_LOG" | sed -n 's/.*\[\([0-9]*\)\] ERROR.*/\1/p')
[[ -n "$pid" ]] || fail "cannot read the session of the 26000 error"
sed -n "/\[$pid\] ERROR:  prepared statement \"scepd_check\" does not exist/,\$p" "$PG_LOG" |
	grep -qE "\[$pid\] LOG:  execute scepd_check: SELECT 1" ||
	fail "session $pid did not run scepd_check again after the 26000 error"
pass "a statement lost by its session (SQLSTATE 26000) is prepared again and run: /healthz" \
	"200 throughout ($lost such errors)"

# The same inside a group commit: a single INSERT (a batch of one) takes
# scepd_add_cert_or_skip from its session; the next batch of that session meets
# SQLSTATE 26000 inside its transaction, which runs once more: every request gets its
# certificate.
pg_sql_stdin >/dev/null <<'SQL'
CREATE FUNCTION scepd_test_forget_batch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF current_query() NOT LIKE '%ON CONFLICT%' AND EXISTS (SELECT 1
	    FROM pg_prepared_statements WHERE name = 'scepd_add_cert_or_skip') THEN
		EXECUTE 'DEALLOCATE scepd_add_cert_or_skip';
	END IF;
	RETURN NEW;
END $$;
CREATE TRIGGER scepd_test_forget_batch AFTER INSERT ON certificates
	FOR EACH ROW EXECUTE FUNCTION scepd_test_forget_batch();
SQL
lost=0
for round in $(seq 1 50); do
	# One curl, 16 connections at once (not 16 curls started one after the other),
	# so that each worker's requests overlap and commit together.
	outputs=()
	for i in $(seq 1 16); do
		outputs+=(-o "$TMP/batch-$round-$i.pem" "http://127.0.0.1:$PORT/csr")
	done
	curl -s -Z --parallel-immediate --parallel-max 16 --max-time 10 -w '%{http_code}\n' \
		--data-binary @"$TMP/host.csr" "${outputs[@]}" >"$TMP/batch-$round.codes" || true
	assert_eq "16 200" "$(grep -c '^200$' "$TMP/batch-$round.codes") $(sort -u "$TMP/batch-$round.codes")" \
		"POST /csr, a burst of 16 (round $round): $(sort "$TMP/batch-$round.codes" | uniq -c | tr '\n' ' ')"
	lost=$(grep -c 'prepared statement "scepd_add_cert_or_skip" does not exist' "$PG_LOG" || true)
	((lost == 0)) || break
done
((lost > 0)) || fail "no group commit met a lost scepd_add_cert_or_skip in 50 bursts of 16"
openssl verify -CAfile "$TMP/ca.pem" "$TMP/batch-$round-16.pem" >/dev/null ||
	fail "a certificate of the last burst does not verify"
on_record "$TMP/batch-$round-16.pem"
pass "a group commit whose statement was lost (SQLSTATE 26000) runs once more: $((round * 16))" \
	"requests in bursts of 16, all 200 ($lost such errors)"
