#!/usr/bin/env bash
# scepctl loads no key, so it needs neither the token PIN nor a key passphrase: with
# engine.pin = "file:" a file it cannot read, a credential: passphrase outside the
# service (no CREDENTIALS_DIRECTORY) and a key file it cannot open, `scepctl pending`,
# `issued` and `challenge new` still work on the store scepd made. scepd -t, which
# loads the keys, still reports the unreadable PIN. The store's password is still
# checked (scepctl needs the store).
. "$(dirname "$0")/lib.sh"

SCEPCTL_BIN=${SCEPCTL_BIN:-$(dirname "$SCEPD_BIN")/scepctl}
ctl() {
	rc=0
	env -u CREDENTIALS_DIRECTORY "$SCEPCTL_BIN" "$@" >"$TMP/out" 2>"$TMP/err" || rc=$?
}

PORT=$(free_port)
write_config "$TMP/scepd.conf"
open_csr "$TMP/scepd.conf"
start_scepd "$TMP/scepd.conf"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$TMP/host.key" \
	-subj "/CN=host.example" -out "$TMP/host.csr" 2>/dev/null
code=$(curl -s -o "$TMP/host.pem" -w '%{http_code}' --data-binary @"$TMP/host.csr" \
	"http://127.0.0.1:$PORT/csr")
assert_eq 200 "$code" "POST /csr"
serial=$(openssl x509 -in "$TMP/host.pem" -noout -serial | cut -d= -f2 | sed 's/^0*//')

# The same store, with the keys on a token whose PIN file scepctl cannot read; and with
# a key file it cannot open, whose passphrase is a credential of the service.
sed -e '/^ca: {/,/^};/d' -e '/^csr:/d' "$TMP/scepd.conf" >"$TMP/token.conf"
cat >>"$TMP/token.conf" <<CONF
engine: { id = "pkcs11"; pin = "file:$TMP/nonexistent-pin"; };
ca: {
	certificate = "$TMP/ca.pem";
	key = "pkcs11:object=scepd-ca";
};
CONF
sed -e '/^ca: {/,/^};/d' -e '/^csr:/d' "$TMP/scepd.conf" >"$TMP/filekey.conf"
cat >>"$TMP/filekey.conf" <<CONF
ca: {
	certificate = "$TMP/ca.pem";
	key = "$TMP/no-such.key";
	key_passphrase = "credential:ca-passphrase";
};
CONF
"$SCEPD_BIN" -c "$TMP/token.conf" -t >"$TMP/t.out" 2>&1 && fail "scepd -t accepted an unreadable PIN file"
grep -q "engine.pin: cannot read '$TMP/nonexistent-pin'" "$TMP/t.out" ||
	fail "scepd -t did not name the PIN file: $(cat "$TMP/t.out")"
pass "scepd -t, which loads the keys, still refuses a PIN file it cannot read"

ctl -c "$TMP/token.conf" pending
assert_eq 0 "$rc" "scepctl pending without the PIN: $(cat "$TMP/err")"
assert_eq 0 "$(wc -c <"$TMP/err")" "bytes on stderr of scepctl pending: $(cat "$TMP/err")"
ctl -c "$TMP/token.conf" issued
assert_eq 0 "$rc" "scepctl issued without the PIN: $(cat "$TMP/err")"
grep -q "$serial" "$TMP/out" || fail "scepctl issued did not list $serial: $(cat "$TMP/out")"
ctl -c "$TMP/token.conf" challenge new --owner firstrun
assert_eq 0 "$rc" "scepctl challenge new without the PIN: $(cat "$TMP/err")"
ctl -c "$TMP/filekey.conf" issued
assert_eq 0 "$rc" "scepctl issued without the key file and its passphrase: $(cat "$TMP/err")"
grep -q "$serial" "$TMP/out" || fail "scepctl issued (file key) did not list $serial"
"$SCEPD_BIN" -c "$TMP/filekey.conf" -t >"$TMP/t.out" 2>&1 && fail "scepd -t accepted a missing key file"
grep -q "ca.key: cannot read '$TMP/no-such.key'" "$TMP/t.out" ||
	fail "scepd -t did not name the key file: $(cat "$TMP/t.out")"
pass "scepctl pending, issued and challenge new need no PIN, passphrase or key file"

# What scepctl does need is still checked: the store's password (none for SQLite: a
# password there is an error), and the form of the PIN setting itself.
sed 's|pin = "file:[^"]*"|pin = "credential:"|' "$TMP/token.conf" >"$TMP/badform.conf"
ctl -c "$TMP/badform.conf" pending
assert_eq 1 "$rc" "scepctl with a malformed engine.pin"
grep -q "engine.pin: \"credential:NAME\" needs a NAME" "$TMP/err" ||
	fail "scepctl: no error for a malformed engine.pin: $(cat "$TMP/err")"
if [[ $SCEPD_TEST_STORE == sqlite ]]; then
	sed 's|^storage: { uri = \("[^"]*"\);|storage: { uri = \1; password = "file:'"$TMP"'/nonexistent-pw";|' \
		"$TMP/token.conf" >"$TMP/pw.conf"
	grep -q nonexistent-pw "$TMP/pw.conf" || fail "the password did not go in"
	ctl -c "$TMP/pw.conf" pending
	assert_eq 1 "$rc" "scepctl with an unreadable storage.password"
	grep -q "storage.password: cannot read '$TMP/nonexistent-pw'" "$TMP/err" ||
		fail "scepctl did not name the password file: $(cat "$TMP/err")"
fi
pass "scepctl still checks the PIN setting's form and the store's password"
