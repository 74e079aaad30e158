#!/usr/bin/env bash
# A SoftHSM key made by root in a token that scepd uses as another user (server.user)
# is invisible to it: "ca.key: no object matches the URI" then says why, naming the
# file that user cannot read, its owner, and the configuration SoftHSM read
# ($SOFTHSM2_CONF, or the default /etc/softhsm/softhsm2.conf when it is not set).
# scepd -t run as root with server.user set warns about the same file. Once the token's
# files are the service user's, the key loads and nothing is said.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_hsm.sh"

[[ $(id -u) -eq 0 ]] || skip "needs root (runs scepd -t as another user)"
id nobody >/dev/null 2>&1 || skip "no user nobody"
command -v runuser >/dev/null || skip "runuser is not installed"

# Everything nobody must reach lives outside $TMP (0700).
pub=$(mktemp -d /tmp/scepd-firstrun-hsm.XXXXXX)
rm_pub() { rm -rf "$pub"; }
CLEANUP_HOOKS+=(rm_pub)
chmod 755 "$pub"
HSM_DIR=$pub/hsm
make_token firstrun
# The service user owns its token; then root makes the key in it (its files: root's).
chown -R nobody "$HSM_DIR/tokens" "$HSM_DIR/pin"
make_token_ca ca EC:prime256v1
chmod 644 "$HSM_DIR/ca.pem"
mkdir -m 755 "$pub/db"
chown nobody "$pub/db"
PORT=$(free_port)
{
	echo "server: { listen = [\"127.0.0.1:$PORT\"]; workers = 1; user = \"nobody\"; };"
	engine_config
	echo "ca: { certificate = \"$HSM_DIR/ca.pem\"; key = \"$(token_key_uri ca)\"; };"
	echo "storage: { uri = \"sqlite:$pub/db/scepd.db\"; };"
} >"$pub/scepd.conf"
chmod 644 "$pub/scepd.conf"
uid=$(id -u nobody)

as_nobody() { # [ENV...]: scepd -t as nobody, output in $TMP/t.out, status in $rc
	rc=0
	runuser -u nobody -- env -u SOFTHSM2_CONF "$@" "$SCEPD_BIN" -c "$pub/scepd.conf" -t \
		>"$TMP/t.out" 2>&1 || rc=$?
}

as_nobody SOFTHSM2_CONF="$SOFTHSM2_CONF"
assert_eq 1 "$rc" "scepd -t as nobody with root's key in the token"
grep -q "ca.key: no object matches the URI; $HSM_DIR/tokens/[^ ]*\.object belongs to uid 0 (root) and uid $uid (nobody) cannot read and write it" "$TMP/t.out" ||
	fail "no ownership hint: $(cat "$TMP/t.out")"
grep -q "directories.tokendir of $SOFTHSM2_CONF, from SOFTHSM2_CONF" "$TMP/t.out" ||
	fail "the hint does not name SOFTHSM2_CONF: $(cat "$TMP/t.out")"
pass "no object matches: the hint names the root-owned file and SOFTHSM2_CONF"

# Without SOFTHSM2_CONF, SoftHSM reads the default file: the hint says which.
as_nobody
assert_eq 1 "$rc" "scepd -t as nobody without SOFTHSM2_CONF"
grep -q "/etc/softhsm/softhsm2.conf (the default: SOFTHSM2_CONF is not set)\|directories.tokendir of /etc/softhsm/softhsm2.conf, the default: SOFTHSM2_CONF is not set" "$TMP/t.out" ||
	fail "no hint about the default configuration: $(cat "$TMP/t.out")"
pass "without SOFTHSM2_CONF the hint names the default configuration"

# As root, the key loads; server.user would not see it: a warning.
rc=0
"$SCEPD_BIN" -c "$pub/scepd.conf" -t >"$TMP/t.out" 2>&1 || rc=$?
assert_eq 0 "$rc" "scepd -t as root: $(cat "$TMP/t.out")"
grep -q "warning: the workers run as server.user 'nobody': $HSM_DIR/tokens/[^ ]* belongs to uid 0 (root)" "$TMP/t.out" ||
	fail "scepd -t as root: no warning: $(cat "$TMP/t.out")"
pass "scepd -t as root warns that server.user cannot use the token's files"

# The token's files made the service user's: the key loads, nothing said.
chown -R nobody "$HSM_DIR/tokens"
as_nobody SOFTHSM2_CONF="$SOFTHSM2_CONF"
assert_eq 0 "$rc" "scepd -t as nobody once the token is nobody's: $(cat "$TMP/t.out")"
rc=0
"$SCEPD_BIN" -c "$pub/scepd.conf" -t >"$TMP/t.out" 2>&1 || rc=$?
assert_eq 0 "$rc" "scepd -t as root once the token is nobody's"
grep -q "warning" "$TMP/t.out" && fail "a warning once the token is nobody's: $(cat "$TMP/t.out")"
pass "once the token's files are the service user's: no error, no warning"
