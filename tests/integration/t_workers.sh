#!/usr/bin/env bash
# Starts with N workers; a worker killed with SIGKILL is replaced within 5 s while
# /healthz keeps answering; the log names the signal.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
write_config "$TMP/scepd.conf" "workers = 3;"
start_scepd "$TMP/scepd.conf"

wait_worker_count 3 5 || fail "expected 3 workers, found $(worker_count)"
for pid in $(worker_pids); do
	assert_eq "scepd-worker" "$(cat /proc/"$pid"/comm)" "process name of worker $pid"
done
pass "3 workers started"

before=$(worker_pids)
victim=$(pgrep -P "$SCEPD_PID" | head -n 1)
kill -KILL "$victim"
failed=0
for _ in $(seq 1 50); do
	curl -sf -o /dev/null --max-time 2 --retry 2 --retry-all-errors --retry-delay 0 \
		"http://127.0.0.1:$PORT/healthz" || failed=$((failed + 1))
	sleep 0.1
	[[ $(worker_count) -eq 3 && "$(worker_pids)" != "$before" ]] && break
done
[[ $(worker_count) -eq 3 ]] || fail "worker not replaced within 5 s"
after=$(worker_pids)
[[ " $after " != *" $victim "* ]] || fail "killed worker $victim still listed"
assert_eq 0 "$failed" "failed /healthz requests while the worker was replaced"
grep -q "killed by signal 9" "$TMP/scepd.log" || fail "the log does not name signal 9"
pass "killed worker $victim replaced, /healthz kept answering"

# Workers = 0 means one per CPU.
kill -TERM "$SCEPD_PID"
wait_exit "$SCEPD_PID" 5 || fail "scepd did not stop"
write_config "$TMP/scepd.conf" "workers = 0;"
start_scepd "$TMP/scepd.conf"
wait_worker_count "$(nproc)" 5 || fail "workers = 0: expected $(nproc) workers, found $(worker_count)"
pass "workers = 0 starts one per CPU ($(nproc))"
