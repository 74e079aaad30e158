#!/usr/bin/env bash
# Slow and many clients don't starve the others: 200 idle connections (slowloris) and
# a client trickling a body; others still get answers, idle connections are closed
# after request_timeout. Bounded in count and time, loopback only.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
write_config "$TMP/scepd.conf" "workers = 2; request_timeout = 2;"
open_csr "$TMP/scepd.conf"
start_scepd "$TMP/scepd.conf"
url=http://127.0.0.1:$PORT

fds=()
for _ in $(seq 1 200); do
	exec {fd}<>"/dev/tcp/127.0.0.1/$PORT" || fail "cannot open idle connection"
	fds+=("$fd")
done
# A body trickled at 200 bytes/s for up to 5 s.
head -c 1000 /dev/zero >"$TMP/slow"
curl -s -o /dev/null --limit-rate 200 --max-time 5 --data-binary @"$TMP/slow" "$url/csr" &
trickler=$!
BACKGROUND_PIDS+=("$trickler")
start=$SECONDS
assert_eq 0 "$(request_loop /healthz 50)" "failed requests beside 200 idle connections and a trickler"
((SECONDS - start < 10)) || fail "50 requests took $((SECONDS - start)) s"
pass "200 idle connections and a trickling client: 50 other requests all answered"

sleep 3
closed=0
for fd in "${fds[@]}"; do
	# A closed connection reads EOF at once; an open one would time out.
	if ! read -r -t 0.2 -u "$fd" _ 2>/dev/null; then
		[[ $? -gt 128 ]] || closed=$((closed + 1))
	fi
	exec {fd}<&-
done
assert_eq 200 "$closed" "idle connections closed after request_timeout"
pass "all 200 idle connections closed after request_timeout = 2 s"

# Limits: max_connections_per_ip holds for one address while another is served.
kill -TERM "$SCEPD_PID"
wait_exit "$SCEPD_PID" 5 || fail "did not stop"
write_config "$TMP/scepd.conf" "workers = 1; request_timeout = 30; max_connections_per_ip = 20;"
start_scepd "$TMP/scepd.conf"
open_idle_connections 20
! curl -sf -o /dev/null --max-time 2 "$url/healthz" ||
	fail "a 21st connection from 127.0.0.1 was served despite max_connections_per_ip = 20"
assert_eq ok "$(curl -s --max-time 2 --interface 127.0.0.2 "$url/healthz")" \
	"a client from 127.0.0.2 while 127.0.0.1 is at its limit"
for fd in "${IDLE_FDS[@]}"; do exec {fd}<&-; done
sleep 0.3
assert_eq ok "$(curl -s --max-time 2 "$url/healthz")" "127.0.0.1 after its connections closed"
pass "max_connections_per_ip: the 21st connection of one address refused, others served"
