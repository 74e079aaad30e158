#!/usr/bin/env bash
# Keys: `scepd -t` accepts token keys of every supported type (RSA 2048/3072/4096,
# EC P-256/P-384), a PEM key file and an encrypted one; a PIN file with a trailing
# newline works. -t and start-up both fail with one line naming the setting for a
# wrong PIN (exit 3), no such token, no such object, a wrong MODULE_PATH and a key that does not
# match its certificate (exit 1). The PIN never shows up in any output or log.
# Workers map libsofthsm2.so, the supervisor never does; 4 workers (and 4 `scepd -t`)
# starting together on one SoftHSM token all get ready, 20 times over.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_hsm.sh"

make_token scepd-keys
PORT=$(free_port)
ALL_OUTPUT=$TMP/all-output # everything scepd printed or logged, searched for the PIN

# write_keys_config FILE CERT KEY [CA_EXTRA]; $WORKERS (1), $PIN_FILE (the token's).
write_keys_config() {
	local file=$1 cert=$2 key=$3 extra=${4:-}
	store_prepare
	{
		echo "server: { listen = [\"127.0.0.1:$PORT\"]; workers = ${WORKERS:-1}; };"
		if [[ "$key" == pkcs11:* ]]; then
			engine_config | sed "s|file:$HSM_DIR/pin\"|file:${PIN_FILE:-$HSM_DIR/pin}\"|"
		fi
		echo "ca: {"
		echo "	certificate = \"$cert\";"
		echo "	key = \"$key\";"
		[[ -z "$extra" ]] || echo "	$extra"
		echo "};"
		store_config_line
		echo "log: { level = \"debug\"; };"
	} >"$file"
}

# run_t CONFIG: scepd -t; T_RC, and its output in $TMP/t.out and $TMP/t.err.
run_t() {
	T_RC=0
	"$SCEPD_BIN" -c "$1" -t >"$TMP/t.out" 2>"$TMP/t.err" || T_RC=$?
	cat "$TMP/t.out" "$TMP/t.err" >>"$ALL_OUTPUT"
}

expect_t_ok() { # CONFIG WHAT
	run_t "$1"
	[[ $T_RC -eq 0 ]] || fail "$2: scepd -t exits $T_RC: $(cat "$TMP/t.err")"
	assert_eq "$1: configuration OK" "$(cat "$TMP/t.out")" "$2: output of -t"
	[[ ! -s "$TMP/t.err" ]] || fail "$2: -t wrote to stderr: $(cat "$TMP/t.err")"
}

# The line of CONFIG where PATTERN (a fixed string) first occurs.
line_of() { # CONFIG PATTERN
	grep -nF -- "$2" "$1" | head -n 1 | cut -d: -f1
}

# expect_t_fail CONFIG CODE SETTING MESSAGE LINE_PATTERN WHAT
expect_t_fail() {
	local config=$1 code=$2 setting=$3 message=$4 line
	line=$(line_of "$config" "$5")
	run_t "$config"
	assert_eq "$code" "$T_RC" "$6: exit code of -t"
	[[ ! -s "$TMP/t.out" ]] || fail "$6: -t printed on stdout: $(cat "$TMP/t.out")"
	assert_eq 1 "$(wc -l <"$TMP/t.err")" "$6: lines on stderr ($(cat "$TMP/t.err"))"
	[[ "$(cat "$TMP/t.err")" == "$config:$line: $setting: $message"* ]] ||
		fail "$6: expected '$config:$line: $setting: $message...', got '$(cat "$TMP/t.err")'"
}

# expect_start_fail CONFIG CODE SETTING MESSAGE WHAT: scepd itself, not -t.
expect_start_fail() {
	local config=$1 code=$2 setting=$3 message=$4 what=$5
	: >"$TMP/scepd.log"
	"$SCEPD_BIN" -c "$config" -f >>"$TMP/scepd.log" 2>&1 &
	SCEPD_PID=$!
	wait_exit "$SCEPD_PID" 60 || fail "$what: scepd still runs"
	SCEPD_PID=
	cat "$TMP/scepd.log" >>"$ALL_OUTPUT"
	assert_eq "$code" "$EXIT_STATUS" "$what: exit code at start-up"
	assert_eq 1 "$(grep -cF "$setting: $message" "$TMP/scepd.log")" \
		"$what: log lines naming $setting"
}

stop_scepd() {
	kill -TERM "$SCEPD_PID"
	wait_exit "$SCEPD_PID" 20 || fail "scepd did not stop"
	assert_eq 0 "$EXIT_STATUS" "exit code after SIGTERM"
	SCEPD_PID=
	cat "$TMP/scepd.log" >>"$ALL_OUTPUT"
}

# 1. Every key type in the token, and key files.
types=(rsa:2048 rsa:3072 rsa:4096 EC:prime256v1 EC:secp384r1)
for t in "${types[@]}"; do
	object=ca-${t//:/-}
	make_token_ca "$object" "$t"
	write_keys_config "$TMP/$object.conf" "$HSM_DIR/$object.pem" "$(token_key_uri "$object")"
	expect_t_ok "$TMP/$object.conf" "token key $t"
done
pass "scepd -t accepts token keys ${types[*]}"

make_file_ca "$TMP"
write_keys_config "$TMP/file.conf" "$TMP/ca.pem" "$TMP/ca.key"
expect_t_ok "$TMP/file.conf" "PEM key file"
printf '%s\n' "file key passphrase" >"$TMP/passphrase"
openssl pkey -in "$TMP/ca.key" -aes256 -passout "file:$TMP/passphrase" -out "$TMP/ca-enc.key"
write_keys_config "$TMP/enc.conf" "$TMP/ca.pem" "$TMP/ca-enc.key" \
	"key_passphrase = \"file:$TMP/passphrase\";"
expect_t_ok "$TMP/enc.conf" "encrypted PEM key file"
pass "scepd -t accepts a PEM key file and an encrypted one"

printf '%s\n' "$HSM_PIN" >"$TMP/pin-newline"
PIN_FILE=$TMP/pin-newline write_keys_config "$TMP/pin-nl.conf" "$HSM_DIR/ca-rsa-2048.pem" \
	"$(token_key_uri ca-rsa-2048)"
expect_t_ok "$TMP/pin-nl.conf" "PIN file with a trailing newline"
printf '%s\r\n' "$HSM_PIN" >"$TMP/pin-crlf"
PIN_FILE=$TMP/pin-crlf write_keys_config "$TMP/pin-crlf.conf" "$HSM_DIR/ca-rsa-2048.pem" \
	"$(token_key_uri ca-rsa-2048)"
expect_t_ok "$TMP/pin-crlf.conf" "PIN file with a trailing CRLF"
pass "a PIN file ending in a newline or CRLF works"

# 2. What goes wrong: -t, then start-up.
WRONG_PIN=$(openssl rand -hex 8)
printf '%s' "$WRONG_PIN" >"$TMP/wrong-pin"
PIN_FILE=$TMP/wrong-pin write_keys_config "$TMP/wrong-pin.conf" "$HSM_DIR/ca-rsa-2048.pem" \
	"$(token_key_uri ca-rsa-2048)"
write_keys_config "$TMP/no-object.conf" "$HSM_DIR/ca-rsa-2048.pem" "$(token_key_uri no-such-key)"
write_keys_config "$TMP/no-token.conf" "$HSM_DIR/ca-rsa-2048.pem" \
	"pkcs11:token=no-such-token;object=ca-rsa-2048;type=private"
write_keys_config "$TMP/bad-module.conf" "$HSM_DIR/ca-rsa-2048.pem" "$(token_key_uri ca-rsa-2048)"
sed -i "s|\"$HSM_MODULE\"|\"$TMP/no-such-module.so\"|" "$TMP/bad-module.conf"
write_keys_config "$TMP/mismatch.conf" "$HSM_DIR/ca-EC-prime256v1.pem" \
	"$(token_key_uri ca-rsa-2048)"

expect_t_fail "$TMP/wrong-pin.conf" 3 engine.pin "wrong PIN (the token rejected it)" \
	"pin =" "wrong PIN"
expect_t_fail "$TMP/no-object.conf" 1 ca.key "no object matches the URI" "key =" "no such object"
expect_t_fail "$TMP/no-token.conf" 1 ca.key \
	'no token matches the URI (no initialised token labelled "no-such-token" in ' "key =" \
	"no such token"
expect_t_fail "$TMP/bad-module.conf" 1 "engine.pre[4]" \
	"the PKCS#11 module cannot be loaded: $TMP/no-such-module.so" "MODULE_PATH" \
	"wrong MODULE_PATH"
expect_t_fail "$TMP/mismatch.conf" 1 ca.key \
	"the key does not match the certificate in ca.certificate" "key =" "key/cert mismatch"
pass "scepd -t: one line naming the setting; exit 3 for a wrong PIN, else 1"

expect_start_fail "$TMP/wrong-pin.conf" 3 engine.pin "wrong PIN (the token rejected it)" \
	"wrong PIN"
expect_start_fail "$TMP/no-object.conf" 1 ca.key "no object matches the URI" "no such object"
expect_start_fail "$TMP/no-token.conf" 1 ca.key "no token matches the URI" "no such token"
expect_start_fail "$TMP/bad-module.conf" 1 "engine.pre[4]" \
	"the PKCS#11 module cannot be loaded" "wrong MODULE_PATH"
expect_start_fail "$TMP/mismatch.conf" 1 ca.key \
	"the key does not match the certificate in ca.certificate" "key/cert mismatch"
pass "start-up: the same line in the log; exit 3 for a wrong PIN, else 1"

# With 4 workers, a wrong PIN is still presented once: a smartcard counts every try.
WORKERS=4 PIN_FILE=$TMP/wrong-pin write_keys_config "$TMP/wrong-pin-4.conf" \
	"$HSM_DIR/ca-rsa-2048.pem" "$(token_key_uri ca-rsa-2048)"
expect_start_fail "$TMP/wrong-pin-4.conf" 3 engine.pin "wrong PIN (the token rejected it)" \
	"wrong PIN with 4 workers"
pass "4 workers, wrong PIN: one PIN try, exit 3"

# 3. Four `scepd -t` at once on one token: the SoftHSM race is retried away.
failed=0
for _ in $(seq 1 10); do
	pids=()
	for i in 1 2 3 4; do
		"$SCEPD_BIN" -c "$TMP/ca-rsa-2048.conf" -t >"$TMP/par.$i" 2>&1 &
		pids+=($!)
	done
	for i in 1 2 3 4; do
		wait "${pids[$((i - 1))]}" || {
			failed=$((failed + 1))
			echo "parallel -t failed: $(cat "$TMP/par.$i")" >&2
		}
		cat "$TMP/par.$i" >>"$ALL_OUTPUT"
	done
done
assert_eq 0 "$failed" "failed runs of 4 parallel scepd -t (10 rounds)"
pass "4 x scepd -t at once on one token, 10 rounds: all OK"

# 4. Workers: the module lives in the workers only; 4 at once, 20 times.
WORKERS=4 write_keys_config "$TMP/run.conf" "$HSM_DIR/ca-EC-prime256v1.pem" \
	"$(token_key_uri ca-EC-prime256v1)"
: >"$TMP/scepd.log"
start_scepd "$TMP/run.conf"
wait_worker_count 4 10 || fail "expected 4 workers, found $(worker_count)"
for pid in $(worker_pids); do
	grep -q libsofthsm2 "/proc/$pid/maps" || fail "worker $pid has no libsofthsm2.so mapped"
done
if grep -qE 'libsofthsm2|engines-3/pkcs11' "/proc/$SCEPD_PID/maps"; then
	fail "the supervisor maps libsofthsm2.so or the pkcs11 engine"
fi
stop_scepd
pass "libsofthsm2.so is mapped in every worker and not in the supervisor"

retries=0
for round in $(seq 1 20); do
	: >"$TMP/scepd.log"
	start_scepd "$TMP/run.conf"
	for _ in $(seq 1 100); do
		grep -q "ready: generation 1 with 4 worker(s)" "$TMP/scepd.log" && break
		kill -0 "$SCEPD_PID" 2>/dev/null || fail "round $round: scepd exited"
		sleep 0.1
	done
	grep -q "ready: generation 1 with 4 worker(s)" "$TMP/scepd.log" ||
		fail "round $round: the 4 workers did not all get ready"
	assert_eq 4 "$(worker_count)" "round $round: workers"
	if grep -q "restarting worker" "$TMP/scepd.log"; then
		fail "round $round: a worker had to be restarted"
	fi
	n=$({ grep -oE '[0-9]+ engine retr' "$TMP/scepd.log" || true; } |
		awk '{ s += $1 } END { print s + 0 }')
	retries=$((retries + n))
	stop_scepd
done
pass "4 workers on one token got ready in each of 20 starts ($retries engine retries logged)"

# 5. The PIN never shows.
[[ -s "$ALL_OUTPUT" ]] || fail "no output collected"
for pin in "$HSM_PIN" "$WRONG_PIN"; do
	if grep -qF "$pin" "$ALL_OUTPUT"; then
		fail "a PIN appears in scepd's output"
	fi
done
pass "no PIN in any output or log"
