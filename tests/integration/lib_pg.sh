# lib_pg.sh - a private PostgreSQL server for the integration tests (lib.sh sources
# it). Skips the test (exit 77) when the PostgreSQL server is not installed.
#
#   pg_start       initdb into a directory of its own, start the server on a free
#                  loopback port, create database "scepd"; sets PG_URI
#                  (postgresql://scepd@127.0.0.1:PORT/scepd), PG_PORT and PG_PIN_FILE:
#                  the password of the superuser "scepd", which connections over TCP
#                  need (scram-sha-256; the Unix socket in that directory, which
#                  pg_sql uses, trusts). Named *pin* so that secrets_check looks for
#                  it in every log and store. Stopped and removed when the test exits.
#   pg_restart     stop (fast) and start again on the same port
#   pg_sql SQL     runs SQL in database scepd, prints the rows unaligned (psql -tA)
#   pg_sql_stdin   the same for the statements on stdin
#
# lib.sh sources it; a test that needs a server of its own calls pg_start.
#
# The server must not run as root: as root it runs as the "postgres" user that
# Debian's package creates, with its directory outside $TMP (which is 0700).

PG_BIN=
PG_DIR=
PG_PORT=
PG_URI=
PG_PIN_FILE=

pg_as() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

pg_ctl_run() { # ACTION
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 30 -m fast \
		-o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR" "$1" >/dev/null
}

pg_stop() {
	[[ -n "$PG_DIR" && -d "$PG_DIR/data" ]] || return 0
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -w -t 30 -m immediate stop >/dev/null 2>&1 || true
	cp "$PG_DIR/server.log" "$TMP/postgresql.log" 2>/dev/null || true
	rm -rf "$PG_DIR"
}

pg_start() {
	PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	[[ -n "$PG_BIN" && -x "$PG_BIN/initdb" ]] || skip "the PostgreSQL server is not installed"
	if [[ $(id -u) -eq 0 ]]; then
		id postgres >/dev/null 2>&1 || skip "no postgres user to run the server as"
		PG_DIR=$(mktemp -d /tmp/scepd-pg.XXXXXX)
		chown postgres: "$PG_DIR"
	else
		PG_DIR=$TMP/pg
		mkdir -m 700 "$PG_DIR"
	fi
	CLEANUP_HOOKS+=(pg_stop)
	PG_PIN_FILE=$TMP/pgpin
	(umask 077 && openssl rand -hex 16 | tr -d '\n' >"$PG_PIN_FILE")
	install -m 600 "$PG_PIN_FILE" "$PG_DIR/pwfile"
	[[ $(id -u) -ne 0 ]] || chown postgres: "$PG_DIR/pwfile"
	pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U scepd --auth-local=trust \
		--auth-host=scram-sha-256 --pwfile="$PG_DIR/pwfile" -E UTF8 --no-sync \
		>"$TMP/initdb.log" 2>&1 || fail "initdb: $(tail -3 "$TMP/initdb.log")"
	rm -f "$PG_DIR/pwfile"
	PG_PORT=$(free_port)
	pg_ctl_run start || fail "PostgreSQL did not start: $(tail -5 "$PG_DIR/server.log")"
	pg_as "$PG_BIN/createdb" -h "$PG_DIR" -p "$PG_PORT" -U scepd scepd ||
		fail "createdb failed"
	PG_URI=postgresql://scepd@127.0.0.1:$PG_PORT/scepd
}

pg_restart() {
	pg_ctl_run restart
}

pg_sql() { # SQL
	pg_as "$PG_BIN/psql" -h "$PG_DIR" -p "$PG_PORT" -U scepd -d scepd -v ON_ERROR_STOP=1 \
		-tA -c "$1"
}

pg_sql_stdin() {
	pg_as "$PG_BIN/psql" -h "$PG_DIR" -p "$PG_PORT" -U scepd -d scepd -v ON_ERROR_STOP=1 \
		-tA -f -
}
