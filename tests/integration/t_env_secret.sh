#!/usr/bin/env bash
# engine.pin = "env:NAME": a worker wipes and unsets the variable once its set-up is
# done, so the PIN is not in its /proc/PID/environ (nor in anything it would start);
# the supervisor keeps it, so a worker restarted after a crash still logs in and signs.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_hsm.sh"

make_token scepd-env
make_token_ca ca rsa:2048
PORT=$(free_port)
store_prepare
{
	echo "server: { listen = [\"127.0.0.1:$PORT\"]; workers = 1; };"
	engine_config | sed "s|pin = \"file:$HSM_DIR/pin\";|pin = \"env:SCEPD_TEST_PIN\";|"
	echo "ca: { certificate = \"$HSM_DIR/ca.pem\"; key = \"$(token_key_uri ca)\"; };"
	store_config_line
	echo "log: { level = \"debug\"; };"
} >"$TMP/scepd.conf"
open_csr "$TMP/scepd.conf"
grep -q 'pin = "env:SCEPD_TEST_PIN";' "$TMP/scepd.conf" || fail "the config has no env: PIN"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/host.key" \
	-subj "/CN=host.example" -out "$TMP/host.csr" 2>/dev/null

# The PIN is in the environment of scepd only, never in a file the test keeps for it.
SCEPD_TEST_PIN=$HSM_PIN start_scepd "$TMP/scepd.conf"

# /proc/PID/environ holds NUL-separated NAME=value strings.
environ_has() { # PID STRING
	tr '\0' '\n' <"/proc/$1/environ" | grep -qF -- "$2"
}

# The one worker: logged in, signs, and has neither the variable nor the PIN any more.
check_worker() { # WHAT
	local pid code
	pid=$(worker_pids)
	[[ "$pid" =~ ^[0-9]+$ ]] || fail "$1: not one worker: '$pid'"
	code=$(curl -s -o "$TMP/host.pem" -w '%{http_code}' --data-binary @"$TMP/host.csr" \
		"http://127.0.0.1:$PORT/csr")
	assert_eq 200 "$code" "$1: POST /csr signed with the token key"
	! environ_has "$pid" "SCEPD_TEST_PIN=" || fail "$1: SCEPD_TEST_PIN is in the worker's environ"
	! grep -qaF -- "$HSM_PIN" "/proc/$pid/environ" || fail "$1: the PIN is in the worker's environ"
}
check_worker "first worker"
environ_has "$SCEPD_PID" "SCEPD_TEST_PIN=$HSM_PIN" ||
	fail "the supervisor lost the PIN (restarts need it)"
pass "env: PIN: gone from the worker's environ after login, kept by the supervisor"

old=$(worker_pids)
kill -KILL "$old"
for _ in $(seq 1 100); do
	new=$(worker_pids || true)
	[[ -n "$new" && "$new" != "$old" ]] && curl -sf -o /dev/null \
		"http://127.0.0.1:$PORT/healthz" && break
	sleep 0.1
done
[[ -n "$new" && "$new" != "$old" ]] || fail "the killed worker was not restarted"
curl -sf -o /dev/null "http://127.0.0.1:$PORT/healthz" ||
	fail "the restarted worker cannot sign: $(curl -s "http://127.0.0.1:$PORT/healthz")"
check_worker "restarted worker"
! grep -q "cleared once set-up was done\|SCEPD_TEST_PIN is not set" "$TMP/scepd.log" ||
	fail "a worker missed the PIN: $(grep SCEPD_TEST_PIN "$TMP/scepd.log")"
pass "a worker restarted after SIGKILL logs in with the env: PIN and forgets it too"
