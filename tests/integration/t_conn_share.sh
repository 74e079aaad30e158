#!/usr/bin/env bash
# One client address cannot take all of a worker's connections by default: with
# max_connections = 8 and max_connections_per_ip unset, 8 idle connections from
# 127.0.0.1 leave room for a request from 127.0.0.2.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
url=http://127.0.0.1:$PORT
write_config "$TMP/scepd.conf" "workers = 1; max_connections = 8; request_timeout = 30;"
start_scepd "$TMP/scepd.conf"
curl -s -o /dev/null --max-time 2 --interface 127.0.0.2 "$url/healthz" ||
	skip "cannot bind 127.0.0.2 here"

open_idle_connections 8
assert_eq ok "$(curl -s --max-time 3 --interface 127.0.0.2 "$url/healthz")" \
	"a request from 127.0.0.2 beside 8 idle connections from 127.0.0.1"
for fd in "${IDLE_FDS[@]}"; do exec {fd}<&-; done
pass "8 idle connections from one address do not lock out another (default per-ip limit)"
