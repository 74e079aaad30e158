#!/usr/bin/env bash
# SIGHUP: a valid config with another worker count replaces the generation without a
# failed request under a bounded request loop; a broken config keeps the old workers.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
write_config "$TMP/scepd.conf" "workers = 2;"
start_scepd "$TMP/scepd.conf"
wait_worker_count 2 5 || fail "expected 2 workers, found $(worker_count)"
old=$(worker_pids)

# 300 requests in two parallel loops, each a new connection; reload in the middle.
request_loop /healthz 150 >"$TMP/loop1" &
loop1=$!
request_loop /healthz 150 >"$TMP/loop2" &
loop2=$!
sleep 0.5
write_config "$TMP/scepd.conf" "workers = 3;"
kill -HUP "$SCEPD_PID"
wait "$loop1" "$loop2"
failed=$(($(cat "$TMP/loop1") + $(cat "$TMP/loop2")))
assert_eq 0 "$failed" "failed requests out of 300 during the reload"
wait_worker_count 3 5 || fail "expected 3 workers after reload, found $(worker_count)"
for pid in $old; do
	[[ " $(worker_pids) " != *" $pid "* ]] || fail "old worker $pid still running"
done
grep -q "generation 2 serving with 3 worker(s)" "$TMP/scepd.log" || fail "no generation 2 in the log"
pass "reload to 3 workers under 300 requests, 0 failed"

# A broken config: every error logged, the old workers keep serving.
current=$(worker_pids)
cat >"$TMP/scepd.conf" <<CONF
server: {
	listen = ["127.0.0.1:$PORT"];
	wokers = 4;
	max_request_bytes = 100;
};
CONF
kill -HUP "$SCEPD_PID"
for _ in $(seq 1 50); do
	grep -q "configuration not reloaded" "$TMP/scepd.log" && break
	sleep 0.1
done
grep -q "configuration not reloaded" "$TMP/scepd.log" || fail "no 'configuration not reloaded' in the log"
grep -q "scepd.conf:3: server.wokers: unknown setting 'wokers', did you mean 'workers'?" \
	"$TMP/scepd.log" || fail "the unknown setting is not logged with its line"
grep -q "scepd.conf:4: server.max_request_bytes: 100 is out of range" "$TMP/scepd.log" ||
	fail "the out-of-range value is not logged with its line"
assert_eq "$current" "$(worker_pids)" "workers after a broken reload"
assert_eq 0 "$(request_loop /healthz 20)" "failed requests after a broken reload"
pass "broken config on SIGHUP: errors logged, old workers keep serving"
