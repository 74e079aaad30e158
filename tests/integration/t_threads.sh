#!/usr/bin/env bash
# A worker's request threads: while one request waits for its commit (another writer
# holds the SQLite database's write lock), the worker's other threads go on serving,
# and the waiting request is answered, with its certificate on record, once the lock
# is free. With server.threads = 1 the same worker serves nothing meanwhile.
# Loopback only; the lock is held for a bounded 3 s.
. "$(dirname "$0")/lib.sh"

[[ $SCEPD_TEST_STORE == sqlite ]] || skip "holds SQLite's write lock"

openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/host.key" \
	-subj "/CN=threads.example" -out "$TMP/host.csr" 2>/dev/null
PORT=$(free_port)
url=http://127.0.0.1:$PORT

# Holds the write lock for 3 s (the workers wait up to 10 s for it), then lets go.
hold_write_lock() {
	rm -f "$TMP/locked"
	sqlite3 "$TMP/scepd.db" "BEGIN IMMEDIATE;" ".shell touch $TMP/locked; sleep 3" "COMMIT;" \
		>/dev/null &
	BACKGROUND_PIDS+=("$!")
	for _ in $(seq 1 100); do
		[[ -f "$TMP/locked" ]] && return 0
		sleep 0.05
	done
	fail "sqlite3 did not take the write lock"
}

# THREADS: starts scepd with one worker, blocks a /csr (CSR_PID) on the lock, and
# writes to $TMP/caps.code the HTTP code of a GetCACaps sent meanwhile ("000": not
# answered within 1 s).
caps_while_csr_waits() {
	write_config "$TMP/scepd.conf" "workers = 1; threads = $1;"
	open_csr "$TMP/scepd.conf"
	start_scepd "$TMP/scepd.conf"
	hold_write_lock
	curl -s -o "$TMP/host.pem" -w '%{http_code}' --max-time 15 --data-binary @"$TMP/host.csr" \
		"$url/csr" >"$TMP/csr.code" &
	CSR_PID=$!
	sleep 0.5 # the /csr is in its commit now, waiting for the lock
	curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url/scep?operation=GetCACaps" \
		>"$TMP/caps.code" || true
}

caps_while_csr_waits 4
assert_eq 200 "$(cat "$TMP/caps.code")" \
	"GetCACaps while another request of the same worker waits for its commit"
wait "$CSR_PID"
assert_eq 200 "$(cat "$TMP/csr.code")" "the /csr once the lock was free"
serial=$(openssl x509 -in "$TMP/host.pem" -noout -serial | cut -d= -f2 | sed 's/^0*//')
openssl verify -CAfile "$TMP/ca.pem" "$TMP/host.pem" >/dev/null || fail "the certificate does not verify"
store_der_hex "$serial" | xxd -r -p | cmp -s - <(openssl x509 -in "$TMP/host.pem" -outform DER) ||
	fail "certificate $serial is not on record as answered"
pass "4 threads: GetCACaps answered while a /csr waited for the store; the /csr got certificate $serial, on record"

kill -TERM "$SCEPD_PID"
wait_exit "$SCEPD_PID" 15 || fail "did not stop"
caps_while_csr_waits 1
assert_eq 000 "$(cat "$TMP/caps.code")" \
	"GetCACaps with one thread, busy with a /csr waiting for its commit"
wait "$CSR_PID"
assert_eq 200 "$(cat "$TMP/csr.code")" "the /csr once the lock was free (one thread)"
pass "1 thread: the worker serves nothing else while its request waits (what the threads are for)"
assert_eq ok "$(store_integrity)" "integrity_check"
