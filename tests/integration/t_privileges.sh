#!/usr/bin/env bash
# After dropping to server.user, scepd is still not dumpable: the supervisor and every
# worker, restarted ones too. Changing uid resets "dumpable" to fs.suid_dumpable, so
# this fails without the prctl after the drop wherever that sysctl is 1.
# A non-dumpable process's /proc/PID files belong to root, not to its own uid: that is
# how the test sees it (PR_GET_DUMPABLE only answers for the caller).
. "$(dirname "$0")/lib.sh"

[[ $(id -u) -eq 0 ]] || skip "not root: cannot test server.user"
getent passwd nobody >/dev/null && getent group nogroup >/dev/null ||
	skip "no user nobody or group nogroup"

# Owner of /proc/PID/environ and the process's user, e.g. "root nobody".
proc_owners() { # PID
	echo "$(stat -c %U "/proc/$1/environ") $(ps -o user= -p "$1" | tr -d ' ')"
}

# With fs.suid_dumpable = 0 (Debian's default) the kernel makes a process that changes
# its uid non-dumpable by itself, and the test could not fail: set it to 1 (what many
# hosts run with, for crash reporters) while the test runs.
restore_suid_dumpable() {
	echo "$saved_suid_dumpable" >/proc/sys/fs/suid_dumpable
}
saved_suid_dumpable=$(cat /proc/sys/fs/suid_dumpable)
if echo 1 2>/dev/null >/proc/sys/fs/suid_dumpable; then
	CLEANUP_HOOKS+=(restore_suid_dumpable)
fi

PORT=$(free_port)
write_config "$TMP/scepd.conf" 'workers = 2; user = "nobody"; group = "nogroup";'
# The key, the database and their directory belong to the service user.
chown -R nobody:nogroup "$TMP"
start_scepd "$TMP/scepd.conf"
wait_worker_count 2 10 || fail "2 workers did not start"
grep -q "running as uid $(id -u nobody) gid $(getent group nogroup | cut -d: -f3)" \
	"$TMP/scepd.log" || fail "no privilege drop logged"
assert_eq "root nobody" "$(proc_owners "$SCEPD_PID")" "supervisor: /proc owner and user"
for pid in $(worker_pids); do
	assert_eq "root nobody" "$(proc_owners "$pid")" "worker $pid: /proc owner and user"
done
pass "server.user = nobody: supervisor and workers run as nobody, not dumpable" \
	"(fs.suid_dumpable = $(cat /proc/sys/fs/suid_dumpable))"

# A worker started after a crash is forked from the same supervisor: not dumpable either.
old=$(worker_pids)
kill -KILL "${old%% *}"
for _ in $(seq 1 100); do
	new=$(worker_pids || true)
	[[ $(wc -w <<<"$new") -eq 2 && "$new" != "$old" ]] && break
	sleep 0.1
done
[[ $(wc -w <<<"$new") -eq 2 && "$new" != "$old" ]] || fail "the killed worker was not restarted"
wait_healthy
for pid in $new; do
	assert_eq "root nobody" "$(proc_owners "$pid")" "worker $pid after a restart"
done
pass "a restarted worker is not dumpable"
