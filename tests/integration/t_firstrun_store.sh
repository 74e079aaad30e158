#!/usr/bin/env bash
# `scepd -t` checks the store before it says "configuration OK", and every store error
# names the database file or the server:
#   - SQLite: a missing directory, and one that server.user cannot write to (as root),
#     are refused by -t with the path; the directory once fixed passes, and -t created
#     nothing in it. The daemon itself and scepctl name the path too.
#   - PostgreSQL: a server that does not answer is refused by -t with host:port and
#     libpq's reason, within a few seconds; a wrong password the same (the _pg run,
#     whose server is real); the right one passes. The password is never printed.
. "$(dirname "$0")/lib.sh"

SCEPCTL_BIN=${SCEPCTL_BIN:-$(dirname "$SCEPD_BIN")/scepctl}
PORT=$(free_port)
write_config "$TMP/scepd.conf"

# check CONFIG: runs scepd -t, output in $TMP/t.out, status in $rc.
check() {
	rc=0
	"$SCEPD_BIN" -c "$1" -t >"$TMP/t.out" 2>&1 || rc=$?
}

# with_store CONFIG-OUT URI [EXTRA-STORAGE-SETTINGS]: the test's config on another store.
with_store() {
	sed '/^storage:/d' "$TMP/scepd.conf" >"$1"
	echo "storage: { uri = \"$2\"; ${3:-} };" >>"$1"
}

# SQLite: a directory that does not exist.
with_store "$TMP/nodir.conf" "sqlite:$TMP/missing/scepd.db"
check "$TMP/nodir.conf"
assert_eq 1 "$rc" "scepd -t with a missing store directory"
grep -qx "$TMP/nodir.conf:[0-9]*: storage.uri: cannot open the store: $TMP/missing/scepd.db: No such file or directory (the directory $TMP/missing does not exist: create it, owned by the user scepd runs as)" "$TMP/t.out" ||
	fail "scepd -t: no path in: $(cat "$TMP/t.out")"
grep -q "configuration OK" "$TMP/t.out" && fail "scepd -t said OK with a missing directory"
pass "scepd -t refuses a missing SQLite directory, naming the file and the directory"

# The daemon and scepctl name the path as well.
rc=0
timeout 20 "$SCEPD_BIN" -c "$TMP/nodir.conf" -f >"$TMP/daemon.log" 2>&1 || rc=$?
[[ $rc -ne 0 && $rc -ne 124 ]] || fail "scepd -f with a missing directory: exit $rc"
grep -q "storage.uri: cannot open the store: $TMP/missing/scepd.db: No such file or directory" "$TMP/daemon.log" ||
	fail "scepd -f: no path in its log: $(tail -5 "$TMP/daemon.log")"
rc=0
"$SCEPCTL_BIN" -c "$TMP/nodir.conf" pending >"$TMP/ctl.out" 2>&1 || rc=$?
assert_eq 1 "$rc" "scepctl pending with a missing directory"
grep -q "storage.uri: cannot open the store: $TMP/missing/scepd.db: No such file or directory" "$TMP/ctl.out" ||
	fail "scepctl: no path in: $(cat "$TMP/ctl.out")"
pass "scepd -f and scepctl name the database file"

# SQLite: a directory that server.user cannot write to (root made it), then fixed.
if [[ $(id -u) -eq 0 ]] && id nobody >/dev/null 2>&1; then
	pub=$(mktemp -d /tmp/scepd-firstrun-pub.XXXXXX)
	rm_pub() { rm -rf "$pub"; }
	CLEANUP_HOOKS+=(rm_pub)
	chmod 755 "$pub"
	mkdir -m 755 "$pub/lib"
	cp "$TMP/ca.pem" "$TMP/ca.key" "$pub/"
	chown nobody "$pub/ca.key"
	with_store "$TMP/user.conf" "sqlite:$pub/lib/scepd.db"
	sed -i -e "s|$TMP/ca\.|$pub/ca.|g" -e 's|^server: {|server: { user = "nobody";|' "$TMP/user.conf"
	check "$TMP/user.conf"
	assert_eq 1 "$rc" "scepd -t with a directory that server.user cannot write to"
	grep -q "storage.uri: cannot open the store: $pub/lib/scepd.db: uid $(id -u nobody) cannot create files in $pub/lib: Permission denied" "$TMP/t.out" ||
		fail "scepd -t (server.user): $(cat "$TMP/t.out")"
	chown nobody "$pub/lib"
	check "$TMP/user.conf"
	assert_eq 0 "$rc" "scepd -t once the directory is server.user's: $(cat "$TMP/t.out")"
	assert_eq "" "$(ls -A "$pub/lib")" "files that scepd -t created in the store's directory"
	pass "scepd -t checks the directory as server.user, and creates nothing in it"
fi

# PostgreSQL: nothing listens on the port.
closed=$(free_port)
with_store "$TMP/pgdown.conf" "postgresql://scepd@127.0.0.1:$closed/scepd"
start=$SECONDS
check "$TMP/pgdown.conf"
assert_eq 1 "$rc" "scepd -t with no PostgreSQL server"
((SECONDS - start <= 8)) || fail "scepd -t took $((SECONDS - start)) s on an unreachable server"
grep -q "storage.uri: cannot open the store: 127.0.0.1:$closed/scepd: Connection refused" "$TMP/t.out" ||
	fail "scepd -t (PostgreSQL down): $(cat "$TMP/t.out")"
pass "scepd -t refuses an unreachable PostgreSQL server, naming host:port and why"

if [[ $SCEPD_TEST_STORE == postgresql ]]; then
	echo "not-the-password" >"$TMP/wrong-pin"
	sed "s|password = \"file:[^\"]*\"|password = \"file:$TMP/wrong-pin\"|" "$TMP/scepd.conf" >"$TMP/pgpw.conf"
	check "$TMP/pgpw.conf"
	assert_eq 1 "$rc" "scepd -t with a wrong PostgreSQL password"
	grep -q "storage.uri: cannot open the store: 127.0.0.1:$PG_PORT/scepd: .*password authentication failed" "$TMP/t.out" ||
		fail "scepd -t (wrong password): $(cat "$TMP/t.out")"
	grep -qF -- "$(cat "$PG_PIN_FILE")" "$TMP/t.out" && fail "scepd -t printed the password"
	grep -q "not-the-password" "$TMP/t.out" && fail "scepd -t printed the wrong password"
	pass "scepd -t refuses a wrong PostgreSQL password, naming the server"
fi

# The test's own store passes, and -t created no SQLite file.
check "$TMP/scepd.conf"
assert_eq 0 "$rc" "scepd -t on the test's store: $(cat "$TMP/t.out")"
grep -q "configuration OK" "$TMP/t.out" || fail "scepd -t: $(cat "$TMP/t.out")"
[[ ! -e "$TMP/scepd.db" ]] || fail "scepd -t created the SQLite database"
pass "scepd -t passes a store it can open, and creates nothing"
