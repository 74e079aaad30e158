#!/usr/bin/env bash
# scepd -t warns when storage.uri names a PostgreSQL server on another machine without
# sslmode=verify-full; a local server or verify-full: no warning. No server runs here:
# scepd -t tries to log in (t_firstrun_store), so its one error is that the store
# cannot be opened, naming the host and never the password.
. "$(dirname "$0")/lib.sh"

PORT=$(free_port)
check_uri() { # URI WANT_WARNING(yes|no)
	write_config "$TMP/scepd.conf" "workers = 1;"
	sed -i "s|^storage: .*|storage: { uri = \"$1\"; };|" "$TMP/scepd.conf"
	rc=0
	"$SCEPD_BIN" -c "$TMP/scepd.conf" -t >"$TMP/t.out" 2>"$TMP/t.err" || rc=$?
	[[ $rc -eq 0 || $rc -eq 1 ]] || fail "scepd -t with $1: exit $rc ($(cat "$TMP/t.err"))"
	# Nothing else is wrong with the configuration.
	! grep -v "storage.uri: warning: \|storage.uri: cannot open the store: " "$TMP/t.err" ||
		fail "scepd -t with $1: other errors"
	! grep -q "hunter2" "$TMP/t.err" "$TMP/t.out" || fail "scepd -t shows the password"
	if [[ $2 == yes ]]; then
		grep -q "^$TMP/scepd.conf:[0-9]*: storage.uri: warning: the PostgreSQL server is not on this machine and the URI has no sslmode=verify-full" \
			"$TMP/t.err" || fail "no warning for $1: $(cat "$TMP/t.err")"
		! grep -q "hunter2" "$TMP/t.err" || fail "the warning shows the password"
	else
		! grep -q "storage.uri: warning" "$TMP/t.err" || fail "a warning for $1: $(cat "$TMP/t.err")"
	fi
}

check_uri "postgresql://scepd:hunter2@db.example/scepd" yes
check_uri "postgresql://scepd@10.0.0.5:5432/scepd?sslmode=require" yes
check_uri "postgresql://scepd@localhost/scepd?host=db.example" yes
check_uri "postgresql://scepd@db.example/scepd?sslmode=verify-full" no
check_uri "postgresql://scepd@localhost/scepd" no
check_uri "postgresql:///scepd?host=/run/postgresql" no
# A primary and its standby (docs/scale-out.md, failover): one host elsewhere is enough.
check_uri "postgresql://scepd@127.0.0.1:5432,db2.example:5432/scepd?target_session_attrs=read-write" yes
check_uri "postgresql://scepd@127.0.0.1:5432,[::1]:5433/scepd?target_session_attrs=read-write" no
pass "scepd -t warns about a remote PostgreSQL without sslmode=verify-full"
