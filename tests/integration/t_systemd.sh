#!/usr/bin/env bash
# systemd integration: sd_notify READY/RELOADING/STOPPING/STATUS/WATCHDOG, socket
# activation (sd_listen_fds), and dropping to server.user.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
write_config "$TMP/scepd.conf" "workers = 2;"

# sd_notify, with a watchdog of 1 s (pings are due every 0.5 s).
"$SCEPD_NOTIFY_SINK" "$TMP/notify" >"$TMP/notifications" &
sink=$!
BACKGROUND_PIDS+=("$sink")
for _ in $(seq 1 50); do [[ -S "$TMP/notify" ]] && break; sleep 0.1; done
NOTIFY_SOCKET=$TMP/notify WATCHDOG_USEC=1000000 start_scepd "$TMP/scepd.conf"
sleep 0.5
grep -q "^READY=1 STATUS=generation 1, 2 workers$" "$TMP/notifications" ||
	fail "no READY=1 with STATUS: $(cat "$TMP/notifications")"
write_config "$TMP/scepd.conf" "workers = 1;"
kill -HUP "$SCEPD_PID"
wait_worker_count 1 5 || fail "reload to 1 worker"
sleep 0.3
grep -q "^RELOADING=1 MONOTONIC_USEC=[0-9]*$" "$TMP/notifications" || fail "no RELOADING=1"
grep -q "^READY=1 STATUS=generation 2, 1 worker$" "$TMP/notifications" ||
	fail "no READY=1 for generation 2: $(cat "$TMP/notifications")"
[[ $(grep -c '^WATCHDOG=1$' "$TMP/notifications") -ge 2 ]] || fail "fewer than 2 WATCHDOG=1"
kill -TERM "$SCEPD_PID"
wait_exit "$SCEPD_PID" 5 || fail "did not stop"
sleep 0.2
grep -q "^STOPPING=1$" "$TMP/notifications" || fail "no STOPPING=1"
kill "$sink"
pass "sd_notify: READY, STATUS, RELOADING, WATCHDOG, STOPPING"

# Socket activation: the socket comes from systemd-socket-activate; server.listen
# names another port, which must stay closed.
command -v systemd-socket-activate >/dev/null || skip "systemd-socket-activate not installed"
other=$(free_port)
sed -i "s/127.0.0.1:$PORT/127.0.0.1:$other/" "$TMP/scepd.conf"
systemd-socket-activate -l "127.0.0.1:$PORT" "$SCEPD_BIN" -c "$TMP/scepd.conf" -f \
	>>"$TMP/scepd.log" 2>&1 &
SCEPD_PID=$!
sleep 0.3
wait_healthy
! curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$other/healthz" ||
	fail "server.listen was bound despite socket activation"
grep -q "using 1 socket(s) from systemd" "$TMP/scepd.log" || fail "socket activation not logged"
kill -TERM "$SCEPD_PID"
wait_exit "$SCEPD_PID" 5 || fail "did not stop"
pass "socket activation"

# server.user: workers run as that user, and so does the supervisor after binding.
[[ $(id -u) -eq 0 ]] || skip "not root: cannot test server.user"
sed -i "s/127.0.0.1:$other/127.0.0.1:$PORT/" "$TMP/scepd.conf"
sed -i 's/^\tworkers = 1;/\tworkers = 1; user = "nobody"; group = "nogroup";/' "$TMP/scepd.conf"
# The key, the database and their directory belong to the service user, as they
# would under StateDirectory=.
chown -R nobody:nogroup "$TMP"
start_scepd "$TMP/scepd.conf"
assert_eq nobody "$(ps -o user= -p "$SCEPD_PID")" "supervisor user"
assert_eq nobody "$(ps -o user= -p "$(worker_pids)")" "worker user"
pass "server.user = nobody"

# The shipped unit's sandbox: systemd-analyze rates it "OK" or better.
if command -v systemd-analyze >/dev/null; then
	rating=$(systemd-analyze security --offline=true "$SCEPD_SOURCE_DIR/systemd/scepd.service" 2>&1 |
		sed -n 's/.*Overall exposure level for scepd.service: \([0-9.]* [A-Z]*\).*/\1/p')
	[[ "$rating" =~ ^[0-9.]+\ (OK|SAFE|PERFECT)$ ]] ||
		fail "systemd-analyze security rates the unit '$rating', not OK or better"
	pass "systemd-analyze security --offline=true: $rating"
fi
