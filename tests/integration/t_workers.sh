#!/usr/bin/env bash
# Starts with N workers; a worker killed with SIGKILL is replaced within 5 s while
# /healthz keeps answering; the log names the signal. A worker that crashes leaves no
# core file. Workers exit when the supervisor is killed.
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

# No core dump, even when the limit allows one: a worker's memory may hold a file CA
# key or a PIN. A control process crashing in a directory of its own shows whether this
# machine writes core files at all (core_pattern "core"); if not, the limits count.
# SIGABRT, not SIGSEGV: AddressSanitizer catches SIGSEGV in the sanitizer build.
kill -TERM "$SCEPD_PID"
wait_exit "$SCEPD_PID" 5 || fail "scepd did not stop"
mkdir "$TMP/cwd" "$TMP/control"
ulimit -c unlimited
cd "$TMP/cwd"
start_scepd "$TMP/scepd.conf"
for pid in "$SCEPD_PID" $(worker_pids); do
	assert_eq "0 0" "$(awk '/^Max core file size/ { print $5, $6 }' "/proc/$pid/limits")" \
		"core file size limits of process $pid"
done
kill -ABRT "$(pgrep -P "$SCEPD_PID" | head -n 1)"
# The count alone can be "right" before the supervisor noticed (pgrep lists the dying
# worker too): first the supervisor's line, then the replacement.
for _ in $(seq 1 50); do
	grep -q "killed by signal 6" "$TMP/scepd.log" && break
	sleep 0.1
done
grep -q "killed by signal 6" "$TMP/scepd.log" || fail "the log does not name signal 6"
wait_worker_count "$(nproc)" 5 || fail "the worker killed by SIGABRT was not replaced"
cd "$TMP/control"
sleep 100 &
control=$!
sleep 0.2
kill -ABRT "$control"
wait "$control" 2>/dev/null || true
cd "$TMP"
[[ -z "$(ls -A "$TMP/cwd")" ]] || fail "a scepd process wrote a core file: $(ls "$TMP/cwd")"
if [[ -n "$(ls -A "$TMP/control")" ]]; then
	pass "a worker killed by SIGABRT wrote no core file (a control process did)"
	rm -r "$TMP/control" # the control's core is not scepd's: secrets_check counts cores
else
	pass "core file size 0 in supervisor and workers (no core files on this machine)"
fi

# The supervisor killed outright: its workers get SIGTERM (PR_SET_PDEATHSIG), drain and
# exit rather than serve on as orphans with a config nobody reloads.
workers=$(worker_pids)
kill -KILL "$SCEPD_PID"
wait "$SCEPD_PID" 2>/dev/null || true
for _ in $(seq 1 100); do
	left=
	for pid in $workers; do
		! kill -0 "$pid" 2>/dev/null || left+="$pid "
	done
	[[ -z "$left" ]] && break
	sleep 0.1
done
if [[ -n "$left" ]]; then
	kill -KILL $left 2>/dev/null # shellcheck disable=SC2086
	fail "workers outlived the supervisor: $left"
fi
! curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/healthz" ||
	fail "something still answers after the supervisor died"
pass "the supervisor killed with SIGKILL: every worker exits within 10 s"
