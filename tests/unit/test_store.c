/*
 * test_store.c - the store on SQLite (store.c, store_sqlite.c): store.h's contract
 * (store_contract.c, the same tests as on PostgreSQL), then what only SQLite has:
 * the URI schemes, creation (file mode, schema version, WAL), the migration of
 * version 1, 2 and 3 databases, a missing directory, files that are not
 * scepd's, PRAGMA integrity_check and the foreign keys after every test that writes.
 *
 * Each test works in a fresh temporary directory, removed afterwards. The tests read
 * the database directly with SQLite to see what the store wrote.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "scepd/store.h"
#include "store_contract.h"

#define SENTINEL   ((struct store *)0x5ca1ab1e)
#define WALKED_MAX 512 /* what walk_cert_fn() and walk_pending_fn() collect */

/* Helpers */

/* The first column of the first row of sql, as text, from a connection of our own. */
static void
db_text(const char *path, const char *sql, char *buf, size_t size)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	snprintf(buf, size, "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static long long
db_int(const char *path, const char *sql)
{
	char buf[64];

	db_text(path, sql, buf, sizeof(buf));
	return strtoll(buf, NULL, 10);
}

static void
db_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void
assert_integrity(const char *path)
{
	char buf[64];

	db_text(path, "PRAGMA integrity_check", buf, sizeof(buf));
	assert_string_equal(buf, "ok");
	assert_int_equal(db_int(path, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
}

static void
assert_mode_0600(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

/* The backend: a database file in the test's directory. */

static void
sqlite_reset(struct store_contract_env *env)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
	char path[sizeof(env->path) + 16];

	snprintf(env->path, sizeof(env->path), "%s/scepd.db", env->dir);
	snprintf(env->uri, sizeof(env->uri), "sqlite:%s", env->path);
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", env->path, suffixes[i]);
		if (unlink(path) < 0 && errno != ENOENT)
			fail_msg("cannot remove %s: %s", path, strerror(errno));
	}
}

static void
sqlite_sql_text(const struct store_contract_env *env, const char *sql, char *buf, size_t size)
{
	db_text(env->path, sql, buf, size);
}

static void
sqlite_sql_exec(const struct store_contract_env *env, const char *sql)
{
	db_exec(env->path, sql);
}

static long long
sqlite_schema_version(const struct store_contract_env *env)
{
	return db_int(env->path, "PRAGMA user_version");
}

static void
sqlite_set_schema_version(const struct store_contract_env *env, int version)
{
	char sql[64];

	snprintf(sql, sizeof(sql), "PRAGMA user_version = %d;", version);
	db_exec(env->path, sql);
}

/*
 * The current version, scepd's application id, and its ten objects alone (five tables,
 * five indexes); sound.
 */
static void
sqlite_assert_schema(const struct store_contract_env *env)
{
	assert_int_equal(db_int(env->path, "PRAGMA user_version"), STORE_CONTRACT_SCHEMA);
	assert_int_equal(db_int(env->path, "PRAGMA application_id"), 0x53434550);
	assert_int_equal(db_int(env->path, "SELECT count(*) FROM sqlite_master "
					   "WHERE name NOT LIKE 'sqlite_%'"),
			 10);
	assert_integrity(env->path);
}

static void
sqlite_assert_absent(const struct store_contract_env *env)
{
	struct stat sb;

	assert_int_equal(stat(env->path, &sb), -1);
}

static void
sqlite_assert_intact(const struct store_contract_env *env)
{
	assert_integrity(env->path);
}

static const struct store_backend sqlite_backend = {
	.name = "store_contract_sqlite",
	.settle_ms = 20,
	.reset = sqlite_reset,
	.sql_text = sqlite_sql_text,
	.sql_exec = sqlite_sql_exec,
	.schema_version = sqlite_schema_version,
	.set_schema_version = sqlite_set_schema_version,
	.assert_schema = sqlite_assert_schema,
	.assert_absent = sqlite_assert_absent,
	.assert_intact = sqlite_assert_intact,
};

/* Tests */

static void
test_open_creates(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_contract_cert t;
	char buf[PATH_MAX + 64], text[1024];

	umask(022); /* SQLite alone would create 0644 */
	assert_int_equal(store_open(env->uri, &st), 0);
	assert_non_null(st);
	assert_mode_0600(env->path);
	assert_int_equal(db_int(env->path, "PRAGMA user_version"), STORE_CONTRACT_SCHEMA);
	assert_int_equal(db_int(env->path, "PRAGMA application_id"), 0x53434550);
	db_text(env->path, "PRAGMA journal_mode", text, sizeof(text));
	assert_string_equal(text, "wal");
	db_text(env->path,
		"SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master "
		"WHERE name NOT LIKE 'sqlite_%' ORDER BY name)",
		text, sizeof(text));
	assert_string_equal(text, "certificates certificates_revoked certificates_transaction_id "
				  "challenges challenges_expires_at challenges_used_at crls "
				  "pending_requests pending_requests_rejected revocation_state");
	store_contract_assert_count(st, 0);

	store_contract_cert_make(&t, 1, NULL);
	assert_int_equal(store_add_cert(st, &t.c), 0);
	snprintf(buf, sizeof(buf), "%s-wal", env->path);
	assert_mode_0600(buf);
	snprintf(buf, sizeof(buf), "%s-shm", env->path);
	assert_mode_0600(buf);
	store_close(st);
	assert_integrity(env->path);
}

/*
 * A store written by the scepd before owners were recorded (schema version 1, as that
 * scepd created it) is migrated in place, through every version since: every row
 * kept, the owner unset, the profile and CA those of the single-CA configuration.
 */
static void
test_migrate_v1(void **state)
{
	struct store_contract_env *env = *state;
	struct store_cert *c = NULL;
	struct store *st = NULL;
	struct store_contract_cert t;

	db_exec(env->path,
		"PRAGMA application_id = 0x53434550;"
		"CREATE TABLE certificates (serial TEXT NOT NULL PRIMARY KEY, subject TEXT NOT "
		"NULL, sans TEXT NOT NULL, not_before INTEGER NOT NULL, not_after INTEGER NOT "
		"NULL, der BLOB NOT NULL, requester TEXT, endpoint TEXT NOT NULL, transaction_id "
		"TEXT, issued_at INTEGER NOT NULL, revoked_at INTEGER);"
		"CREATE INDEX certificates_transaction_id ON certificates (transaction_id);"
		"CREATE TABLE pending_requests (transaction_id TEXT NOT NULL PRIMARY KEY, subject "
		"TEXT, csr_der BLOB NOT NULL, signer_cert_der BLOB, requester TEXT, received_at "
		"INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN "
		"('pending', 'approved', 'rejected', 'issued')), decided_at INTEGER, serial TEXT "
		"REFERENCES certificates (serial));"
		"CREATE TABLE challenges (id INTEGER PRIMARY KEY, secret_hash TEXT UNIQUE NOT "
		"NULL, owner TEXT, created_at INTEGER NOT NULL, expires_at INTEGER, used_at "
		"INTEGER, used_by TEXT);"
		"INSERT INTO certificates VALUES ('ABC1', 'CN=old', '', 1, 2, x'3000', "
		"'192.0.2.1', 'scep', 'tx-old', 3, NULL);"
		"PRAGMA user_version = 1;");
	assert_int_equal(store_open(env->uri, &st), 0);
	assert_int_equal(db_int(env->path, "PRAGMA user_version"), STORE_CONTRACT_SCHEMA);
	assert_int_equal(store_get_cert(st, "ABC1", &c), 0);
	assert_string_equal(c->subject, "CN=old");
	assert_string_equal(c->transaction_id, "tx-old");
	assert_null(c->owner);
	assert_string_equal(c->profile, "scep");
	assert_string_equal(c->ca, "default");
	store_cert_free(c);
	store_contract_cert_make(&t, 1, NULL);
	assert_int_equal(store_add_cert(st, &t.c), 0);
	assert_int_equal(store_get_cert(st, t.serial, &c), 0);
	assert_string_equal(c->owner, "laptop-7");
	assert_string_equal(c->profile, "mdm");
	store_cert_free(c);
	store_close(st);
	assert_integrity(env->path);
}

/* Collects "KEY:PROFILE:CA" from the walks, "-" for NULL. */
static int
walk_cert_fn(const struct store_cert *cert, void *userdata)
{
	char *buf = userdata;
	size_t len = strlen(buf);

	snprintf(buf + len, WALKED_MAX - len, "%s%s:%s:%s", len > 0 ? " " : "", cert->serial,
		 cert->profile != NULL ? cert->profile : "-", cert->ca != NULL ? cert->ca : "-");
	return 0;
}

static int
walk_pending_fn(const struct store_pending *req, void *userdata)
{
	char *buf = userdata;
	size_t len = strlen(buf);

	snprintf(buf + len, WALKED_MAX - len, "%s%s:%s", len > 0 ? " " : "", req->transaction_id,
		 req->profile != NULL ? req->profile : "-");
	return 0;
}

/*
 * A store written by the scepd before profiles (schema version 2, as that scepd created
 * it, with rows of both endpoints and requests in several states) is migrated in place:
 * each certificate's profile is its endpoint and its CA "default", each pending
 * request's profile "scep"; everything else as it was, and new rows take their own.
 */
static void
test_migrate_v2(void **state)
{
	struct store_contract_env *env = *state;
	struct store_cert *c = NULL;
	struct store_pending *p = NULL;
	struct store *st = NULL;
	struct store_contract_cert t;
	char walked[WALKED_MAX] = "", text[512];

	db_exec(env->path,
		"PRAGMA application_id = 0x53434550;"
		"CREATE TABLE certificates (serial TEXT NOT NULL PRIMARY KEY, subject TEXT NOT "
		"NULL, sans TEXT NOT NULL, not_before INTEGER NOT NULL, not_after INTEGER NOT "
		"NULL, der BLOB NOT NULL, requester TEXT, endpoint TEXT NOT NULL, transaction_id "
		"TEXT, issued_at INTEGER NOT NULL, revoked_at INTEGER);"
		"CREATE INDEX certificates_transaction_id ON certificates (transaction_id);"
		"CREATE TABLE pending_requests (transaction_id TEXT NOT NULL PRIMARY KEY, subject "
		"TEXT, csr_der BLOB NOT NULL, signer_cert_der BLOB, requester TEXT, received_at "
		"INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN "
		"('pending', 'approved', 'rejected', 'issued')), decided_at INTEGER, serial TEXT "
		"REFERENCES certificates (serial));"
		"CREATE TABLE challenges (id INTEGER PRIMARY KEY, secret_hash TEXT UNIQUE NOT "
		"NULL, owner TEXT, created_at INTEGER NOT NULL, expires_at INTEGER, used_at "
		"INTEGER, used_by TEXT);"
		"ALTER TABLE certificates ADD COLUMN owner TEXT;"
		"ALTER TABLE pending_requests ADD COLUMN owner TEXT;"
		"INSERT INTO certificates VALUES ('ABC1', 'CN=dev', '', 1, 2, x'3000', "
		"'192.0.2.1', 'scep', 'tx-issued', 3, NULL, 'alice');"
		"INSERT INTO certificates VALUES ('ABC2', 'CN=web', 'DNS:web.example', 4, 5, "
		"x'3001', '192.0.2.2', 'csr', NULL, 6, NULL, 'token-1');"
		"INSERT INTO pending_requests (transaction_id, subject, csr_der, requester, "
		"received_at, status, decided_at, serial, owner) VALUES "
		"('tx-issued', 'CN=dev', x'3002', '192.0.2.1', 1, 'issued', 2, 'ABC1', 'alice'),"
		"('tx-waiting', 'CN=new', x'3003', '192.0.2.3', 7, 'pending', NULL, NULL, NULL);"
		"INSERT INTO challenges (secret_hash, owner, created_at, expires_at) VALUES "
		"('aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 'old', 1, "
		"4102444800);"
		"PRAGMA user_version = 2;");
	assert_int_equal(store_open(env->uri, &st), 0);
	assert_int_equal(db_int(env->path, "PRAGMA user_version"), STORE_CONTRACT_SCHEMA);

	assert_int_equal(store_get_cert(st, "ABC1", &c), 0);
	assert_string_equal(c->endpoint, "scep");
	assert_string_equal(c->owner, "alice");
	assert_string_equal(c->profile, "scep");
	assert_string_equal(c->ca, "default");
	store_cert_free(c);
	assert_int_equal(store_get_cert(st, "ABC2", &c), 0);
	assert_string_equal(c->sans, "DNS:web.example");
	assert_string_equal(c->profile, "csr");
	assert_string_equal(c->ca, "default");
	store_cert_free(c);
	assert_int_equal(store_get_pending(st, "tx-issued", &p), 0);
	assert_int_equal(p->status, STORE_STATUS_ISSUED);
	assert_string_equal(p->serial, "ABC1");
	assert_string_equal(p->profile, "scep");
	store_pending_free(p);
	assert_int_equal(store_walk_pending(st, walk_pending_fn, walked), 0);
	assert_string_equal(walked, "tx-waiting:scep");
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

	/* New rows after the migration: their own profile and CA, or none. */
	store_contract_cert_make(&t, 1, NULL);
	assert_int_equal(store_add_cert(st, &t.c), 0);
	store_contract_cert_make(&t, 2, NULL);
	assert_int_equal(store_add_cert(st, &t.c), 0);
	walked[0] = '\0';
	assert_int_equal(store_walk_certs(st, walk_cert_fn, walked), 0);
	assert_string_equal(walked, "ABC1:scep:default ABC2:csr:default 10001:mdm:issuing-2 "
				    "10002:-:-");
	assert_int_equal(store_set_pending_status(st, "tx-waiting", STORE_STATUS_PENDING,
						  STORE_STATUS_APPROVED),
			 0);
	store_close(st);

	db_text(env->path,
		"SELECT group_concat(transaction_id || ':' || status || ':' || profile, ' ') "
		"FROM (SELECT * FROM pending_requests ORDER BY transaction_id)",
		text, sizeof(text));
	assert_string_equal(text, "tx-issued:issued:scep tx-waiting:approved:scep");
	assert_integrity(env->path);
}

/*
 * A store of the scepd before revocation (schema version 3, as that scepd created it) is
 * migrated in place: no certificate is revoked (the new columns are NULL), there are no
 * CRLs and no counters, and the old rows can be revoked like new ones.
 */
static void
test_migrate_v3(void **state)
{
	struct store_contract_env *env = *state;
	struct store_cert *c = NULL;
	struct store *st = NULL;
	uint64_t changes = 99;
	char walked[WALKED_MAX] = "";

	db_exec(env->path,
		"PRAGMA application_id = 0x53434550;"
		"CREATE TABLE certificates (serial TEXT NOT NULL PRIMARY KEY, subject TEXT NOT "
		"NULL, sans TEXT NOT NULL, not_before INTEGER NOT NULL, not_after INTEGER NOT "
		"NULL, der BLOB NOT NULL, requester TEXT, endpoint TEXT NOT NULL, transaction_id "
		"TEXT, issued_at INTEGER NOT NULL, revoked_at INTEGER);"
		"CREATE INDEX certificates_transaction_id ON certificates (transaction_id);"
		"CREATE TABLE pending_requests (transaction_id TEXT NOT NULL PRIMARY KEY, subject "
		"TEXT, csr_der BLOB NOT NULL, signer_cert_der BLOB, requester TEXT, received_at "
		"INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN "
		"('pending', 'approved', 'rejected', 'issued')), decided_at INTEGER, serial TEXT "
		"REFERENCES certificates (serial));"
		"CREATE TABLE challenges (id INTEGER PRIMARY KEY, secret_hash TEXT UNIQUE NOT "
		"NULL, owner TEXT, created_at INTEGER NOT NULL, expires_at INTEGER, used_at "
		"INTEGER, used_by TEXT);"
		"ALTER TABLE certificates ADD COLUMN owner TEXT;"
		"ALTER TABLE pending_requests ADD COLUMN owner TEXT;"
		"ALTER TABLE certificates ADD COLUMN profile TEXT;"
		"ALTER TABLE certificates ADD COLUMN ca TEXT;"
		"ALTER TABLE pending_requests ADD COLUMN profile TEXT;"
		"ALTER TABLE challenges ADD COLUMN profile TEXT;"
		"INSERT INTO certificates VALUES ('ABC1', 'CN=dev', '', 1, 4102444800, x'3000', "
		"'192.0.2.1', 'scep', 'tx-1', 3, NULL, 'alice', 'scep', 'default');"
		"INSERT INTO certificates VALUES ('ABC2', 'CN=web', '', 4, 4102444800, x'3001', "
		"'192.0.2.2', 'csr', NULL, 6, NULL, NULL, 'csr', 'default');"
		"PRAGMA user_version = 3;");
	assert_int_equal(store_open(env->uri, &st), 0);
	assert_int_equal(db_int(env->path, "PRAGMA user_version"), STORE_CONTRACT_SCHEMA);
	assert_int_equal(db_int(env->path, "SELECT count(*) FROM certificates WHERE revoked_at IS "
					   "NULL AND revocation_reason IS NULL AND revoked_by IS "
					   "NULL"),
			 2);
	assert_int_equal(store_get_cert(st, "ABC1", &c), 0);
	assert_string_equal(c->owner, "alice");
	assert_string_equal(c->ca, "default");
	assert_int_equal(c->revoked_at, 0);
	assert_int_equal(c->revocation_reason, -1);
	assert_null(c->revoked_by);
	store_cert_free(c);
	assert_int_equal(store_revocation_changes(st, "default", &changes), 0);
	assert_int_equal(changes, 0);
	assert_int_equal(store_get_crl(st, "default", &(struct store_crl *){ NULL }), -ENOENT);
	assert_int_equal(store_revoke(st, "ABC2", STORE_REASON_KEY_COMPROMISE, 1700000000, "op"),
			 0);
	assert_int_equal(store_walk_revoked(st, "default", 1700000000, walk_cert_fn, walked), 0);
	assert_string_equal(walked, "ABC2:csr:default");
	assert_int_equal(store_revocation_changes(st, "default", &changes), 0);
	assert_int_equal(changes, 1);
	store_close(st);
	assert_integrity(env->path);
}

/*
 * A store of the scepd before subject-bound challenges and pruning (schema version 4)
 * is migrated in place: its challenges are bound to no subject, and old rows prune.
 */
static void
test_migrate_v4(void **state)
{
	struct store_contract_env *env = *state;
	struct store_pruned pruned;
	struct store *st = NULL;
	char *owner = NULL;

	db_exec(env->path,
		"PRAGMA application_id = 0x53434550;"
		"CREATE TABLE certificates (serial TEXT NOT NULL PRIMARY KEY, subject TEXT NOT "
		"NULL, sans TEXT NOT NULL, not_before INTEGER NOT NULL, not_after INTEGER NOT "
		"NULL, der BLOB NOT NULL, requester TEXT, endpoint TEXT NOT NULL, transaction_id "
		"TEXT, issued_at INTEGER NOT NULL, revoked_at INTEGER, owner TEXT, profile TEXT, "
		"ca TEXT, revocation_reason INTEGER, revoked_by TEXT);"
		"CREATE INDEX certificates_transaction_id ON certificates (transaction_id);"
		"CREATE INDEX certificates_revoked ON certificates (ca, revoked_at) WHERE "
		"revoked_at IS NOT NULL;"
		"CREATE TABLE pending_requests (transaction_id TEXT NOT NULL PRIMARY KEY, subject "
		"TEXT, csr_der BLOB NOT NULL, signer_cert_der BLOB, requester TEXT, received_at "
		"INTEGER NOT NULL, status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN "
		"('pending', 'approved', 'rejected', 'issued')), decided_at INTEGER, serial TEXT "
		"REFERENCES certificates (serial), owner TEXT, profile TEXT);"
		"CREATE TABLE challenges (id INTEGER PRIMARY KEY, secret_hash TEXT UNIQUE NOT "
		"NULL, owner TEXT, created_at INTEGER NOT NULL, expires_at INTEGER, used_at "
		"INTEGER, used_by TEXT, profile TEXT);"
		"CREATE TABLE crls (ca TEXT NOT NULL PRIMARY KEY, number INTEGER NOT NULL, der "
		"BLOB NOT NULL, this_update INTEGER NOT NULL, next_update INTEGER NOT NULL, "
		"changes INTEGER NOT NULL);"
		"CREATE TABLE revocation_state (ca TEXT NOT NULL PRIMARY KEY, changes INTEGER NOT "
		"NULL);"
		"INSERT INTO challenges VALUES (1, "
		"'bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb', 'mdm', 1, "
		"4102444800, NULL, NULL, 'scep');"
		"INSERT INTO challenges VALUES (2, "
		"'cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc', NULL, 1, 2, "
		"NULL, NULL, 'scep');"
		"PRAGMA user_version = 4;");
	assert_int_equal(store_open(env->uri, &st), 0);
	assert_int_equal(db_int(env->path, "PRAGMA user_version"), STORE_CONTRACT_SCHEMA);
	assert_int_equal(db_int(env->path, "SELECT count(*) FROM challenges WHERE subject IS NULL"),
			 2);
	assert_int_equal(store_consume_challenge(
				 st,
				 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
				 "scep", "CN=anyone", "x", &owner),
			 0);
	assert_string_equal(owner, "mdm");
	free(owner);
	assert_int_equal(store_prune(st, 1000, 0, &pruned), 0);
	assert_int_equal(pruned.challenges, 1);
	store_close(st);
	assert_integrity(env->path);
}

static void
test_bad_uri(void **state)
{
	/* clang-format off */
	static const struct {
		const char *uri;
		int r;
	} cases[] = {
		{ "", -EINVAL },
		{ "sqlite", -EINVAL },
		{ "sqlite:", -EINVAL },
		{ "sqlite:relative.db", -EINVAL },
		{ "sqlite:./scepd.db", -EINVAL },
		{ "SQLITE:/tmp/x.db", -EINVAL },
		{ "sqlite3:/tmp/x.db", -EINVAL },
		{ "file:/tmp/x.db", -EINVAL },
		{ "/tmp/x.db", -EINVAL },
		{ "mysql://u@h/db", -EINVAL },
		/* PostgreSQL where nothing listens (t_store_pg tests a real server) */
		{ "postgresql://scepd@127.0.0.1:1/scepd", -ECONNREFUSED },
		{ "postgres://127.0.0.1:1/scepd", -ECONNREFUSED },
		{ "postgresql://[::1]:1/scepd?connect_timeout=2", -ECONNREFUSED },
	};
	/* clang-format on */
	struct store *st;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		st = SENTINEL;
		if (store_open(cases[i].uri, &st) != cases[i].r)
			fail_msg("\"%s\": expected %d", cases[i].uri, cases[i].r);
		assert_ptr_equal(st, SENTINEL);
	}
	/* scepctl's open (no creating) of a PostgreSQL URI where nothing listens */
	st = SENTINEL;
	assert_int_equal(
		store_open_flags("postgresql://127.0.0.1:1/scepd", STORE_OPEN_NO_CREATE, &st),
		-ECONNREFUSED);
	assert_ptr_equal(st, SENTINEL);
}

/* A missing directory is -ENOENT (the errno of creating the file), and is not created. */
static void
test_missing_dir(void **state)
{
	struct store_contract_env *env = *state;
	char uri[PATH_MAX + 96], dir[PATH_MAX + 32];
	struct store *st = SENTINEL;
	struct stat sb;

	snprintf(dir, sizeof(dir), "%s/missing", env->dir);
	snprintf(uri, sizeof(uri), "sqlite:%s/scepd.db", dir);
	assert_int_equal(store_open(uri, &st), -ENOENT);
	assert_ptr_equal(st, SENTINEL);
	assert_int_equal(stat(dir, &sb), -1);

	/* The path names a directory. */
	snprintf(uri, sizeof(uri), "sqlite:%s", env->dir);
	assert_int_equal(store_open(uri, &st), -EISDIR);
	assert_ptr_equal(st, SENTINEL);
}

/* Files that are not scepd's databases are refused, and left alone. */
static void
test_foreign_file(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = SENTINEL;
	FILE *f;

	/* Not SQLite at all. */
	f = fopen(env->path, "w");
	assert_non_null(f);
	fputs("-----BEGIN CERTIFICATE-----\nthis is not a database, but it is long enough "
	      "for SQLite to read a header from it and find it wrong.\n",
	      f);
	fclose(f);
	assert_int_equal(store_open(env->uri, &st), -EBADMSG);
	assert_ptr_equal(st, SENTINEL);
	unlink(env->path);

	/* Another application's database. */
	db_exec(env->path, "CREATE TABLE other (x); PRAGMA user_version = 1;");
	assert_int_equal(store_open(env->uri, &st), -EBADMSG);
	db_exec(env->path, "PRAGMA user_version = 0;");
	assert_int_equal(store_open(env->uri, &st), -EBADMSG);
	assert_ptr_equal(st, SENTINEL);
	assert_int_equal(db_int(env->path, "SELECT count(*) FROM sqlite_master"), 1);
	unlink(env->path);

	/* scepd's, from a newer scepd. */
	assert_int_equal(store_open(env->uri, &st), 0);
	store_close(st);
	st = SENTINEL;
	db_exec(env->path, "PRAGMA user_version = 99;");
	assert_int_equal(store_open(env->uri, &st), -EBADMSG);
	assert_ptr_equal(st, SENTINEL);
	assert_int_equal(db_int(env->path, "PRAGMA user_version"), 99);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		store_contract_test(test_open_creates, &sqlite_backend),
		store_contract_test(test_migrate_v1, &sqlite_backend),
		store_contract_test(test_migrate_v2, &sqlite_backend),
		store_contract_test(test_migrate_v3, &sqlite_backend),
		store_contract_test(test_migrate_v4, &sqlite_backend),
		store_contract_test(test_bad_uri, &sqlite_backend),
		store_contract_test(test_missing_dir, &sqlite_backend),
		store_contract_test(test_foreign_file, &sqlite_backend),
	};
	int failed;

	failed = store_contract_run(&sqlite_backend);
	return failed + cmocka_run_group_tests_name("store_sqlite", tests, NULL, NULL);
}
