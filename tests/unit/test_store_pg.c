/*
 * test_store_pg.c - the store on a real PostgreSQL server (store_pg.c): store.h's
 * contract (store_contract.c, the same tests as on SQLite: records, walks, pending
 * requests and their transitions, one-time challenges, threads sharing a handle,
 * several processes - nodes, in effect - opening a new database at once and racing
 * for one row), then what only PostgreSQL has: the scepd_schema table, the migration of
 * version 2 and 3 databases, and a connection that comes back after the server restarted.
 *
 * Run by tests/integration/t_store_pg.sh, which starts a private server and gives
 * its URI in SCEPD_TEST_PG_URI (and, for the restart, SCEPD_TEST_PG_RESTART: a shell
 * command that restarts it). Without SCEPD_TEST_PG_URI the test is skipped (77).
 * Each test starts from an empty database: the backend's reset drops scepd's tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "scepd/store.h"
#include "store_contract.h"

static const char *pg_uri;

/* Helpers */

static PGconn *
db_connect(void)
{
	PGconn *db = PQconnectdb(pg_uri);

	if (PQstatus(db) != CONNECTION_OK)
		fail_msg("cannot connect to %s: %s", pg_uri, PQerrorMessage(db));
	return db;
}

/* The first column of the first row of sql, as text, from a connection of our own. */
static void
db_text(const char *sql, char *buf, size_t size)
{
	PGconn *db = db_connect();
	PGresult *res;

	res = PQexec(db, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) < 1)
		fail_msg("%s: %s", sql, PQerrorMessage(db));
	snprintf(buf, size, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	PQfinish(db);
}

static long long
db_int(const char *sql)
{
	char buf[64];

	db_text(sql, buf, sizeof(buf));
	return strtoll(buf, NULL, 10);
}

static void
db_exec(const char *sql)
{
	PGconn *db = db_connect();
	PGresult *res;

	res = PQexec(db, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(db));
	PQclear(res);
	PQfinish(db);
}

/* The backend: the server's database "scepd", emptied of scepd's tables. */

static void
pg_reset(struct store_contract_env *env)
{
	snprintf(env->uri, sizeof(env->uri), "%s", pg_uri);
	db_exec("SET client_min_messages = warning; "
		"DROP TABLE IF EXISTS pending_requests, certificates, challenges, crls, "
		"revocation_state, scepd_schema");
}

static void
pg_sql_text(const struct store_contract_env *env, const char *sql, char *buf, size_t size)
{
	(void)env;
	db_text(sql, buf, size);
}

static void
pg_sql_exec(const struct store_contract_env *env, const char *sql)
{
	(void)env;
	db_exec(sql);
}

static long long
pg_schema_version(const struct store_contract_env *env)
{
	(void)env;
	return db_int("SELECT version FROM scepd_schema");
}

static void
pg_set_schema_version(const struct store_contract_env *env, int version)
{
	char sql[64];

	(void)env;
	snprintf(sql, sizeof(sql), "UPDATE scepd_schema SET version = %d", version);
	db_exec(sql);
}

/* The current version in scepd_schema's one row, and scepd's six tables. */
static void
pg_assert_schema(const struct store_contract_env *env)
{
	(void)env;
	assert_int_equal(db_int("SELECT count(*) FROM scepd_schema"), 1);
	assert_int_equal(db_int("SELECT version FROM scepd_schema"), STORE_CONTRACT_SCHEMA);
	assert_int_equal(db_int("SELECT count(*) FROM pg_tables WHERE tablename IN "
				"('certificates', 'pending_requests', 'challenges', 'crls', "
				"'revocation_state', 'scepd_schema')"),
			 6);
}

static void
pg_assert_absent(const struct store_contract_env *env)
{
	(void)env;
	assert_int_equal(db_int("SELECT count(*) FROM pg_tables WHERE tablename IN "
				"('certificates', 'pending_requests', 'challenges', 'crls', "
				"'revocation_state', 'scepd_schema')"),
			 0);
}

/* The server enforces the constraints itself: nothing left to check afterwards. */
static void
pg_assert_intact(const struct store_contract_env *env)
{
	(void)env;
}

static const struct store_backend pg_backend = {
	.name = "store_contract_postgresql",
	.settle_ms = 200, /* a connection takes longer to open than a file */
	.reset = pg_reset,
	.sql_text = pg_sql_text,
	.sql_exec = pg_sql_exec,
	.schema_version = pg_schema_version,
	.set_schema_version = pg_set_schema_version,
	.assert_schema = pg_assert_schema,
	.assert_absent = pg_assert_absent,
	.assert_intact = pg_assert_intact,
};

/* Tests */

/* The server restarts under an open handle: the next calls reconnect by themselves. */
static void
test_reconnect(void **state)
{
	const char *restart = getenv("SCEPD_TEST_PG_RESTART");
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_contract_cert t;
	int r = -1;

	if (restart == NULL)
		skip();
	assert_int_equal(store_open(env->uri, &st), 0);
	store_contract_cert_make(&t, 1, NULL);
	assert_int_equal(store_add_cert(st, &t.c), 0);
	assert_int_equal(system(restart), 0);
	store_contract_cert_make(&t, 2, NULL);
	for (int i = 0; i < 50 && r != 0; i++) {
		r = store_add_cert(st, &t.c);
		if (r != 0) {
			assert_true(r == -ENOTCONN || r == -EIO);
			usleep(100000);
		}
	}
	assert_int_equal(r, 0);
	store_contract_assert_count(st, 2);
	store_close(st);
}

/*
 * A database of the scepd before profiles (schema version 2, as store_pg.c created it),
 * with certificates of both endpoints and pending requests, is migrated in place: each
 * certificate's profile is its endpoint and its CA "default", each request's profile
 * "scep"; new rows take their own.
 */
static void
test_migrate_v2(void **state)
{
	struct store_contract_env *env = *state;
	struct store_cert *c = NULL;
	struct store_pending *p = NULL;
	struct store_contract_cert t;
	struct store *st = NULL;
	char text[512];

	db_exec("CREATE TABLE scepd_schema (version integer NOT NULL);"
		"INSERT INTO scepd_schema VALUES (2);"
		"CREATE TABLE certificates (serial text NOT NULL PRIMARY KEY, subject text NOT "
		"NULL, sans text NOT NULL, not_before bigint NOT NULL, not_after bigint NOT NULL, "
		"der bytea NOT NULL, requester text, endpoint text NOT NULL, transaction_id text, "
		"issued_at bigint NOT NULL, revoked_at bigint, "
		"seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE);"
		"CREATE INDEX certificates_transaction_id ON certificates (transaction_id);"
		"CREATE TABLE pending_requests (transaction_id text NOT NULL PRIMARY KEY, subject "
		"text, csr_der bytea NOT NULL, signer_cert_der bytea, requester text, received_at "
		"bigint NOT NULL, status text NOT NULL DEFAULT 'pending' CHECK (status IN "
		"('pending', 'approved', 'rejected', 'issued')), decided_at bigint, serial text "
		"REFERENCES certificates (serial));"
		"CREATE TABLE challenges (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
		"secret_hash text UNIQUE NOT NULL, owner text, created_at bigint NOT NULL, "
		"expires_at bigint, used_at bigint, used_by text);"
		"ALTER TABLE certificates ADD COLUMN owner text;"
		"ALTER TABLE pending_requests ADD COLUMN owner text;"
		"INSERT INTO certificates (serial, subject, sans, not_before, not_after, der, "
		"requester, endpoint, transaction_id, issued_at, owner) VALUES "
		"('ABC1', 'CN=dev', '', 1, 2, '\\x3000', '192.0.2.1', 'scep', 'tx-issued', 3, "
		"'alice'), ('ABC2', 'CN=web', 'DNS:web.example', 4, 5, '\\x3001', '192.0.2.2', "
		"'csr', NULL, 6, 'token-1');"
		"INSERT INTO pending_requests (transaction_id, subject, csr_der, requester, "
		"received_at, status, decided_at, serial, owner) VALUES "
		"('tx-issued', 'CN=dev', '\\x3002', '192.0.2.1', 1, 'issued', 2, 'ABC1', 'alice'),"
		"('tx-waiting', 'CN=new', '\\x3003', '192.0.2.3', 7, 'pending', NULL, NULL, NULL);"
		"INSERT INTO challenges (secret_hash, owner, created_at, expires_at) VALUES "
		"('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'old', 1, "
		"4102444800)");
	assert_int_equal(store_open(env->uri, &st), 0);
	assert_int_equal(db_int("SELECT version FROM scepd_schema"), STORE_CONTRACT_SCHEMA);

	assert_int_equal(store_get_cert(st, "ABC1", &c), 0);
	assert_string_equal(c->owner, "alice");
	assert_string_equal(c->profile, "scep");
	assert_string_equal(c->ca, "default");
	assert_int_equal(c->der_len, 2);
	store_cert_free(c);
	assert_int_equal(store_get_cert(st, "ABC2", &c), 0);
	assert_string_equal(c->profile, "csr");
	assert_string_equal(c->ca, "default");
	store_cert_free(c);
	assert_int_equal(store_get_pending(st, "tx-waiting", &p), 0);
	assert_int_equal(p->status, STORE_STATUS_PENDING);
	assert_string_equal(p->profile, "scep");
	store_pending_free(p);
	/* A challenge minted before profiles is the short form's SCEP profile's. */
	assert_int_equal(store_consume_challenge(
				 st,
				 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
				 "wifi", NULL, "x", NULL),
			 -ENOENT);
	assert_int_equal(store_consume_challenge(
				 st,
				 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
				 "scep", NULL, "x", NULL),
			 0);

	store_contract_cert_make(&t, 1, NULL);
	assert_int_equal(store_add_cert(st, &t.c), 0);
	store_contract_cert_make(&t, 2, NULL);
	assert_int_equal(store_add_cert(st, &t.c), 0);
	store_close(st);

	db_text("SELECT string_agg(serial || ':' || coalesce(profile, '-') || ':' || "
		"coalesce(ca, '-'), ' ' ORDER BY seq) FROM certificates",
		text, sizeof(text));
	assert_string_equal(text, "ABC1:scep:default ABC2:csr:default 10001:mdm:issuing-2 "
				  "10002:-:-");
	db_text("SELECT string_agg(transaction_id || ':' || status || ':' || profile, ' ' "
		"ORDER BY transaction_id) FROM pending_requests",
		text, sizeof(text));
	assert_string_equal(text, "tx-issued:issued:scep tx-waiting:pending:scep");
}

/*
 * A database of the scepd before revocation (schema version 3): no certificate is
 * revoked afterwards, and the old rows can be revoked like new ones.
 */
static void
test_migrate_v3(void **state)
{
	struct store_contract_env *env = *state;
	struct store_cert *c = NULL;
	struct store *st = NULL;
	uint64_t changes = 99;

	db_exec("CREATE TABLE scepd_schema (version integer NOT NULL);"
		"INSERT INTO scepd_schema VALUES (3);"
		"CREATE TABLE certificates (serial text NOT NULL PRIMARY KEY, subject text NOT "
		"NULL, sans text NOT NULL, not_before bigint NOT NULL, not_after bigint NOT NULL, "
		"der bytea NOT NULL, requester text, endpoint text NOT NULL, transaction_id text, "
		"issued_at bigint NOT NULL, revoked_at bigint, "
		"seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE);"
		"CREATE INDEX certificates_transaction_id ON certificates (transaction_id);"
		"CREATE TABLE pending_requests (transaction_id text NOT NULL PRIMARY KEY, subject "
		"text, csr_der bytea NOT NULL, signer_cert_der bytea, requester text, received_at "
		"bigint NOT NULL, status text NOT NULL DEFAULT 'pending' CHECK (status IN "
		"('pending', 'approved', 'rejected', 'issued')), decided_at bigint, serial text "
		"REFERENCES certificates (serial));"
		"CREATE TABLE challenges (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
		"secret_hash text UNIQUE NOT NULL, owner text, created_at bigint NOT NULL, "
		"expires_at bigint, used_at bigint, used_by text);"
		"ALTER TABLE certificates ADD COLUMN owner text;"
		"ALTER TABLE pending_requests ADD COLUMN owner text;"
		"ALTER TABLE certificates ADD COLUMN profile text;"
		"ALTER TABLE certificates ADD COLUMN ca text;"
		"ALTER TABLE pending_requests ADD COLUMN profile text;"
		"ALTER TABLE challenges ADD COLUMN profile text;"
		"INSERT INTO certificates (serial, subject, sans, not_before, not_after, der, "
		"requester, endpoint, transaction_id, issued_at, owner, profile, ca) VALUES "
		"('ABC1', 'CN=dev', '', 1, 4102444800, '\\x3000', '192.0.2.1', 'scep', 'tx-1', 3, "
		"'alice', 'scep', 'default'), ('ABC2', 'CN=web', '', 4, 4102444800, '\\x3001', "
		"'192.0.2.2', 'csr', NULL, 6, NULL, 'csr', 'default')");
	assert_int_equal(store_open(env->uri, &st), 0);
	assert_int_equal(db_int("SELECT version FROM scepd_schema"), STORE_CONTRACT_SCHEMA);
	assert_int_equal(db_int("SELECT count(*) FROM certificates WHERE revoked_at IS NULL AND "
				"revocation_reason IS NULL AND revoked_by IS NULL"),
			 2);
	assert_int_equal(store_get_cert(st, "ABC1", &c), 0);
	assert_string_equal(c->owner, "alice");
	assert_int_equal(c->revoked_at, 0);
	assert_int_equal(c->revocation_reason, -1);
	assert_null(c->revoked_by);
	store_cert_free(c);
	assert_int_equal(store_revoke(st, "ABC2", STORE_REASON_KEY_COMPROMISE, 1700000000, "op"),
			 0);
	assert_int_equal(store_revocation_changes(st, "default", &changes), 0);
	assert_int_equal(changes, 1);
	store_close(st);
	assert_int_equal(db_int("SELECT revocation_reason FROM certificates WHERE serial = 'ABC2'"),
			 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		store_contract_test(test_reconnect, &pg_backend),
		store_contract_test(test_migrate_v2, &pg_backend),
		store_contract_test(test_migrate_v3, &pg_backend),
	};
	int failed;

	if ((pg_uri = getenv("SCEPD_TEST_PG_URI")) == NULL) {
		fprintf(stderr, "test_store_pg: SCEPD_TEST_PG_URI is not set: skipped\n");
		return 77;
	}
	failed = store_contract_run(&pg_backend);
	return failed + cmocka_run_group_tests_name("store_postgresql", tests, NULL, NULL);
}
