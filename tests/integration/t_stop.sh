#!/usr/bin/env bash
# SIGTERM and SIGINT: stop accepting, drain, exit 0 within 5 s, no worker left.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
write_config "$TMP/scepd.conf" "workers = 2;"
for sig in TERM INT; do
	start_scepd "$TMP/scepd.conf"
	workers=$(worker_pids)
	kill -"$sig" "$SCEPD_PID"
	wait_exit "$SCEPD_PID" 5 || fail "SIG$sig: scepd still running after 5 s"
	assert_eq 0 "$EXIT_STATUS" "exit status after SIG$sig"
	for pid in $workers; do
		! kill -0 "$pid" 2>/dev/null || fail "SIG$sig: worker $pid survived"
	done
	! curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/healthz" ||
		fail "SIG$sig: still answering after exit"
	pass "SIG$sig: exit 0, workers gone"
done
