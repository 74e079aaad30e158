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
#   pg_standby_start
#                  a synchronous streaming standby of that server: a base backup
#                  (pg_basebackup -R) started on a free loopback port as cluster
#                  "standby", which the primary's synchronous_standby_names names
#                  (synchronous_commit stays on, the default: a commit returns once the
#                  standby has flushed it); returns once the primary reports it "sync".
#                  Sets PG_STANDBY_PORT and PG_HA_URI, the libpq multi-host URI of both
#                  with target_session_attrs=read-write
#   pg_crash       the primary stops at once (pg_ctl stop -m immediate): no checkpoint,
#                  every connection cut, as when its machine fails
#   pg_promote     the standby becomes the primary (pg_ctl promote, which waits until it
#                  accepts writes); pg_sql, pg_restart, PG_PORT and PG_URI mean it from
#                  then on
#   pg_sql SQL     runs SQL in database scepd, prints the rows unaligned (psql -tA)
#   pg_sql_stdin   the same for the statements on stdin
#
# lib.sh sources it; a test that needs a server of its own calls pg_start.
#
# The server must not run as root: as root it runs as the "postgres" user that
# Debian's package creates, with its directory outside $TMP (which is 0700).

PG_BIN=
PG_DIR=
PG_DATA= # the primary's data directory, and its log
PG_LOG=
PG_PORT=
PG_STANDBY_PORT=
PG_HA_URI=
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
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 30 -m fast \
		-o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $PG_DIR" "$1" >/dev/null
}

pg_stop() {
	local data
	[[ -n "$PG_DIR" && -d "$PG_DIR/data" ]] || return 0
	for data in "$PG_DIR/standby" "$PG_DIR/data"; do
		[[ ! -d "$data" ]] ||
			pg_as "$PG_BIN/pg_ctl" -D "$data" -w -t 30 -m immediate stop >/dev/null 2>&1 || true
	done
	cp "$PG_DIR/server.log" "$TMP/postgresql.log" 2>/dev/null || true
	[[ ! -f "$PG_DIR/standby.log" ]] || cp "$PG_DIR/standby.log" "$TMP/postgresql-standby.log" || true
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
	PG_DATA=$PG_DIR/data
	PG_LOG=$PG_DIR/server.log
	PG_PORT=$(free_port)
	pg_ctl_run start || fail "PostgreSQL did not start: $(tail -5 "$PG_DIR/server.log")"
	pg_as "$PG_BIN/createdb" -h "$PG_DIR" -p "$PG_PORT" -U scepd scepd ||
		fail "createdb failed"
	PG_URI=postgresql://scepd@127.0.0.1:$PG_PORT/scepd
}

pg_restart() {
	pg_ctl_run restart
}

pg_standby_start() {
	local state=
	PG_STANDBY_PORT=$(free_port)
	while [[ $PG_STANDBY_PORT == "$PG_PORT" ]]; do PG_STANDBY_PORT=$(free_port); done
	# Through the socket directory, which trusts: primary_conninfo (-R) holds no password.
	# A fast checkpoint: the default spread one makes the copy wait for most of a minute.
	pg_as "$PG_BIN/pg_basebackup" -h "$PG_DIR" -p "$PG_PORT" -U scepd -D "$PG_DIR/standby" \
		-R -X stream -c fast --no-sync >"$TMP/basebackup.log" 2>&1 ||
		fail "pg_basebackup: $(tail -3 "$TMP/basebackup.log")"
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/standby" -l "$PG_DIR/standby.log" -w -t 30 \
		-o "-c listen_addresses=127.0.0.1 -p $PG_STANDBY_PORT -k $PG_DIR -c cluster_name=standby" \
		start >/dev/null || fail "the standby did not start: $(tail -5 "$PG_DIR/standby.log")"
	# Set after the base backup, so that the standby, once promoted, does not wait for a
	# standby of its own.
	pg_sql "ALTER SYSTEM SET synchronous_standby_names = 'standby'" >/dev/null
	pg_sql "SELECT pg_reload_conf()" >/dev/null
	for _ in $(seq 1 100); do
		state=$(pg_sql "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'")
		[[ $state != sync ]] || break
		sleep 0.1
	done
	[[ $state == sync ]] || fail "the standby is not synchronous after 10 s (sync_state '$state')"
	PG_HA_URI="postgresql://scepd@127.0.0.1:$PG_PORT,127.0.0.1:$PG_STANDBY_PORT/scepd?target_session_attrs=read-write"
}

pg_crash() {
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DATA" -w -t 30 -m immediate stop >/dev/null
}

pg_promote() {
	pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/standby" -w -t 30 promote >/dev/null || return 1
	PG_DATA=$PG_DIR/standby
	PG_LOG=$PG_DIR/standby.log
	PG_PORT=$PG_STANDBY_PORT
	PG_URI=postgresql://scepd@127.0.0.1:$PG_PORT/scepd
}

pg_sql() { # SQL
	pg_as "$PG_BIN/psql" -h "$PG_DIR" -p "$PG_PORT" -U scepd -d scepd -v ON_ERROR_STOP=1 \
		-tA -c "$1"
}

pg_sql_stdin() {
	pg_as "$PG_BIN/psql" -h "$PG_DIR" -p "$PG_PORT" -U scepd -d scepd -v ON_ERROR_STOP=1 \
		-tA -f -
}
