/*
 * store_sqlite.c - the SQLite backend of the store ("sqlite:/abs/path.db").
 *
 * SYNOPSIS
 *	#include "store_backend.h"
 *
 *	store_sqlite_open(path, &st)
 *
 * DESCRIPTION
 *	Opens (creating when missing, mode 0600) one database file for one
 *	process: each worker opens its own connection after fork(), and several
 *	processes write to the file at once. Every connection runs with
 *	journal_mode=WAL (readers never block the writer), synchronous=FULL
 *	(the WAL is fsynced at every commit, so a certificate that was answered
 *	survives a power cut), a busy timeout (STORE_SQLITE_BUSY_MS: a writer
 *	waits for the others instead of failing) and foreign_keys=ON.
 *
 *	The schema is versioned with PRAGMA user_version and marked as scepd's
 *	with PRAGMA application_id. It is created or migrated, one step of
 *	store_sqlite_migrations[] per version, in a single BEGIN IMMEDIATE
 *	transaction, so that workers starting together neither create it twice
 *	nor see it half made. The statements of the interface are prepared once
 *	per open. Each write is one autocommit statement: committed and durable
 *	when it returns.
 *
 *	No SQL leaves this file; nothing is logged. A handle is used by one
 *	thread at a time (its prepared statements are reused).
 *
 * DIAGNOSTICS
 *	store_sqlite_open(): -EINVAL for a relative or empty path; the -errno of
 *	creating or opening the file (-ENOENT when its directory is missing,
 *	-EACCES, -EROFS, -EISDIR...); -EBADMSG when the file is not an SQLite
 *	database, belongs to another application, or has a schema newer than this
 *	scepd knows; -EIO for any other SQLite error, including a lock still held
 *	after the busy timeout. The calls: -EEXIST for a serial already recorded,
 *	-ENOENT for an unknown serial, -ENOSPC when the disk is full, -ENOMEM,
 *	-EIO for anything else.
 */
#include "store_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "scepd/store.h"

#define STORE_SQLITE_BUSY_MS  10000      /* workers wait this long for each other's writes */
#define STORE_SQLITE_RETRY_MS 10         /* between tries to switch a new file to WAL */
#define STORE_SQLITE_APP_ID   0x53434550 /* "SCEP": PRAGMA application_id of scepd's files */

struct store_sqlite {
	struct store st; /* first: store.c sees only this */
	sqlite3 *db;
	sqlite3_stmt *add_cert;
	sqlite3_stmt *count_certs;
	sqlite3_stmt *get_cert_der;
};

/*
 * Schema changes: store_sqlite_migrations[v] takes user_version v to v + 1. Append a
 * step, never edit one that was released. Keep the logical schema in step with the
 * PostgreSQL backend and docs/operations.md ("Storage").
 */
static const char *const store_sqlite_migrations[] = {
	/* 0 -> 1: issued certificates; SCEP pending requests and one-time challenges. */
	"CREATE TABLE certificates (\n"
	"\tserial TEXT NOT NULL PRIMARY KEY, -- upper-case hex, no leading zeros\n"
	"\tsubject TEXT NOT NULL,\n"
	"\tsans TEXT NOT NULL,\n"
	"\tnot_before INTEGER NOT NULL,\n"
	"\tnot_after INTEGER NOT NULL,\n"
	"\tder BLOB NOT NULL,\n"
	"\trequester TEXT,\n"
	"\tendpoint TEXT NOT NULL,\n"
	"\ttransaction_id TEXT,\n"
	"\tissued_at INTEGER NOT NULL,\n"
	"\trevoked_at INTEGER\n"
	");\n"
	"CREATE INDEX certificates_transaction_id ON certificates (transaction_id);\n"
	"CREATE TABLE pending_requests (\n"
	"\ttransaction_id TEXT NOT NULL PRIMARY KEY,\n"
	"\tsubject TEXT,\n"
	"\tcsr_der BLOB NOT NULL,\n"
	"\tsigner_cert_der BLOB,\n"
	"\trequester TEXT,\n"
	"\treceived_at INTEGER NOT NULL,\n"
	"\tstatus TEXT NOT NULL DEFAULT 'pending'\n"
	"\t\tCHECK (status IN ('pending', 'approved', 'rejected', 'issued')),\n"
	"\tdecided_at INTEGER,\n"
	"\tserial TEXT REFERENCES certificates (serial)\n"
	");\n"
	"CREATE TABLE challenges (\n"
	"\tid INTEGER PRIMARY KEY,\n"
	"\tsecret_hash TEXT UNIQUE NOT NULL,\n"
	"\towner TEXT,\n"
	"\tcreated_at INTEGER NOT NULL,\n"
	"\texpires_at INTEGER,\n"
	"\tused_at INTEGER,\n"
	"\tused_by TEXT\n"
	");\n",
};

#define STORE_SQLITE_VERSION                                                                       \
	((int64_t)(sizeof(store_sqlite_migrations) / sizeof(store_sqlite_migrations[0])))

/* The statements of the interface, prepared once per open. */
#define STORE_SQLITE_ADD_CERT                                                                      \
	"INSERT INTO certificates (serial, subject, sans, not_before, not_after, der, "            \
	"requester, endpoint, transaction_id, issued_at) "                                         \
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
#define STORE_SQLITE_COUNT_CERTS  "SELECT count(*) FROM certificates"
#define STORE_SQLITE_GET_CERT_DER "SELECT der FROM certificates WHERE serial = ?1"

static const struct store_ops store_sqlite_ops;

static struct store_sqlite *
store_sqlite_of(struct store *st)
{
	return (struct store_sqlite *)st;
}

/* An SQLite result code (extended codes are on) -> -errno. */
static int
store_sqlite_errno(int rc)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_PRIMARYKEY:
	case SQLITE_CONSTRAINT_UNIQUE:
		return -EEXIST;
	}
	switch (rc & 0xff) {
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOTADB:
		return -EBADMSG;
	default:
		return -EIO;
	}
}

static void
store_sqlite_free(struct store_sqlite *s)
{
	if (s == NULL)
		return;
	sqlite3_finalize(s->add_cert);
	sqlite3_finalize(s->count_certs);
	sqlite3_finalize(s->get_cert_der);
	sqlite3_close_v2(s->db);
	free(s);
}

static void
store_sqlite_close(struct store *st)
{
	store_sqlite_free(store_sqlite_of(st));
}

/*
 * SQLite would create the file with mode 0644 (less the umask); create it ourselves
 * with 0600 instead. Its -wal and -shm files inherit the mode of the database.
 * An existing file keeps the mode the operator gave it.
 */
static int
store_sqlite_create_file(const char *path)
{
	int fd;

	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600)) < 0)
		return -errno;
	close(fd);
	return 0;
}

static int
store_sqlite_exec(struct store_sqlite *s, const char *sql)
{
	int rc;

	rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
	return rc == SQLITE_OK ? 0 : store_sqlite_errno(rc);
}

/* Prepares sql and steps to its first row; the caller reads it and finalizes *ret_q. */
static int
store_sqlite_row(struct store_sqlite *s, const char *sql, sqlite3_stmt **ret_q)
{
	int rc;

	if ((rc = sqlite3_prepare_v2(s->db, sql, -1, ret_q, NULL)) != SQLITE_OK)
		return store_sqlite_errno(rc);
	if ((rc = sqlite3_step(*ret_q)) != SQLITE_ROW)
		return rc == SQLITE_DONE ? -EIO : store_sqlite_errno(rc);
	return 0;
}

static int
store_sqlite_query_int(struct store_sqlite *s, const char *sql, int64_t *ret_value)
{
	sqlite3_stmt *q = NULL;
	int r;

	if ((r = store_sqlite_row(s, sql, &q)) == 0)
		*ret_value = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return r;
}

/*
 * WAL only takes effect where shared memory works (not on network file systems).
 * Switching a new file to WAL returns SQLITE_BUSY at once, without calling the busy
 * handler, while another worker holds a lock on it (creating it too): retry for as
 * long as the busy timeout. The worker that wins switches the file; the others then
 * find it in WAL mode already.
 */
static int
store_sqlite_set_wal(struct store_sqlite *s)
{
	sqlite3_stmt *q = NULL;
	const unsigned char *mode;
	int rc, r, waited_ms = 0;

	if ((rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &q, NULL)) !=
	    SQLITE_OK) {
		r = store_sqlite_errno(rc);
		goto out;
	}
	while (((rc = sqlite3_step(q)) & 0xff) == SQLITE_BUSY && waited_ms < STORE_SQLITE_BUSY_MS) {
		sqlite3_reset(q);
		sqlite3_sleep(STORE_SQLITE_RETRY_MS);
		waited_ms += STORE_SQLITE_RETRY_MS;
	}
	if (rc != SQLITE_ROW) {
		r = rc == SQLITE_DONE ? -EIO : store_sqlite_errno(rc);
		goto out;
	}
	mode = sqlite3_column_text(q, 0);
	r = mode != NULL && strcasecmp((const char *)mode, "wal") == 0 ? 0 : -EIO;
out:
	sqlite3_finalize(q);
	return r;
}

/*
 * -EBADMSG unless the file is scepd's or empty (not SQLite at all: SQLITE_NOTADB).
 * One statement, one snapshot: another worker may be creating the schema right now.
 */
static int
store_sqlite_check_owner(struct store_sqlite *s)
{
	sqlite3_stmt *q = NULL;
	int64_t app_id, version, objects;
	int r;

	if ((r = store_sqlite_row(s,
				  "SELECT (SELECT application_id FROM pragma_application_id),"
				  " (SELECT user_version FROM pragma_user_version),"
				  " (SELECT count(*) FROM sqlite_master)",
				  &q)) < 0)
		goto out;
	app_id = sqlite3_column_int64(q, 0);
	version = sqlite3_column_int64(q, 1);
	objects = sqlite3_column_int64(q, 2);
	if (app_id != STORE_SQLITE_APP_ID && (app_id != 0 || version != 0 || objects != 0))
		r = -EBADMSG;
out:
	sqlite3_finalize(q);
	return r;
}

static int
store_sqlite_connect(struct store_sqlite *s, const char *path)
{
	int rc, r;

	/* No SQLITE_OPEN_CREATE: store_sqlite_create_file() made it with the right mode. */
	if ((rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE, NULL)) != SQLITE_OK)
		return s->db == NULL ? -ENOMEM : store_sqlite_errno(rc);
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, STORE_SQLITE_BUSY_MS);
	/* Before the first write: another application's file is left as it was. */
	if ((r = store_sqlite_check_owner(s)) < 0 || (r = store_sqlite_set_wal(s)) < 0 ||
	    (r = store_sqlite_exec(s, "PRAGMA synchronous = FULL;"
				      "PRAGMA foreign_keys = ON;"
				      "PRAGMA trusted_schema = OFF;")) < 0)
		return r;
	return 0;
}

static int
store_sqlite_migrate_locked(struct store_sqlite *s)
{
	char sql[96];
	int64_t v = 0;
	int r;

	if ((r = store_sqlite_query_int(s, "PRAGMA user_version", &v)) < 0)
		return r;
	if (v > STORE_SQLITE_VERSION)
		return -EBADMSG; /* written by a newer scepd: never "migrate" it down */
	if (v == STORE_SQLITE_VERSION)
		return 0;
	for (; v < STORE_SQLITE_VERSION; v++)
		if ((r = store_sqlite_exec(s, store_sqlite_migrations[v])) < 0)
			return r;
	snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld; PRAGMA application_id = %d;",
		 (long long)STORE_SQLITE_VERSION, STORE_SQLITE_APP_ID);
	return store_sqlite_exec(s, sql);
}

/* BEGIN IMMEDIATE: one process creates or migrates, the others wait and find it done. */
static int
store_sqlite_migrate(struct store_sqlite *s)
{
	int r;

	if ((r = store_sqlite_exec(s, "BEGIN IMMEDIATE")) < 0)
		goto out;
	if ((r = store_sqlite_migrate_locked(s)) < 0)
		goto out;
	r = store_sqlite_exec(s, "COMMIT");
out:
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

static int
store_sqlite_prepare1(struct store_sqlite *s, const char *sql, sqlite3_stmt **ret_q)
{
	int rc;

	rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, ret_q, NULL);
	return rc == SQLITE_OK ? 0 : store_sqlite_errno(rc);
}

static int
store_sqlite_prepare(struct store_sqlite *s)
{
	int r;

	if ((r = store_sqlite_prepare1(s, STORE_SQLITE_ADD_CERT, &s->add_cert)) < 0 ||
	    (r = store_sqlite_prepare1(s, STORE_SQLITE_COUNT_CERTS, &s->count_certs)) < 0 ||
	    (r = store_sqlite_prepare1(s, STORE_SQLITE_GET_CERT_DER, &s->get_cert_der)) < 0)
		return r;
	return 0;
}

int
store_sqlite_open(const char *path, struct store **ret_store)
{
	struct store_sqlite *s = NULL;
	int r;

	if (path[0] != '/') {
		r = -EINVAL;
		goto out;
	}
	if ((r = store_sqlite_create_file(path)) < 0)
		goto out;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	s->st.ops = &store_sqlite_ops;
	if ((r = store_sqlite_connect(s, path)) < 0 || (r = store_sqlite_migrate(s)) < 0 ||
	    (r = store_sqlite_prepare(s)) < 0)
		goto out;
	*ret_store = &s->st;
	s = NULL; /* the caller owns it now */
	r = 0;
out:
	store_sqlite_free(s);
	return r;
}

/* The strings are bound SQLITE_STATIC: the caller resets and clears before returning. */
static int
store_sqlite_bind_cert(sqlite3_stmt *q, const struct store_cert *c, time_t issued_at)
{
	int rc;

	if ((rc = sqlite3_bind_text(q, 1, c->serial, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 2, c->subject, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 3, c->sans, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(q, 4, (sqlite3_int64)c->not_before)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(q, 5, (sqlite3_int64)c->not_after)) != SQLITE_OK ||
	    (rc = sqlite3_bind_blob64(q, 6, c->der, c->der_len, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 7, c->requester, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 8, c->endpoint, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 9, c->transaction_id, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(q, 10, (sqlite3_int64)issued_at)) != SQLITE_OK)
		return rc;
	return SQLITE_OK;
}

/* One autocommit INSERT: with synchronous=FULL it is durable once sqlite3_step() is done. */
static int
store_sqlite_add_cert(struct store *st, const struct store_cert *cert)
{
	sqlite3_stmt *q = store_sqlite_of(st)->add_cert;
	int rc;

	if ((rc = store_sqlite_bind_cert(q, cert, time(NULL))) == SQLITE_OK)
		rc = sqlite3_step(q);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc == SQLITE_DONE ? 0 : store_sqlite_errno(rc);
}

static int
store_sqlite_count_certs(struct store *st, uint64_t *ret_count)
{
	sqlite3_stmt *q = store_sqlite_of(st)->count_certs;
	int rc, r;

	if ((rc = sqlite3_step(q)) != SQLITE_ROW) {
		r = store_sqlite_errno(rc);
		goto out;
	}
	*ret_count = (uint64_t)sqlite3_column_int64(q, 0);
	r = 0;
out:
	sqlite3_reset(q);
	return r;
}

static int
store_sqlite_copy_blob(sqlite3_stmt *q, int col, unsigned char **ret_der, size_t *ret_len)
{
	const void *blob;
	unsigned char *der;
	size_t len;

	blob = sqlite3_column_blob(q, col); /* before _bytes(), as SQLite documents */
	len = (size_t)sqlite3_column_bytes(q, col);
	if (blob == NULL && len > 0)
		return -ENOMEM;
	if ((der = malloc(len > 0 ? len : 1)) == NULL)
		return -ENOMEM;
	if (len > 0)
		memcpy(der, blob, len);
	*ret_der = der;
	*ret_len = len;
	return 0;
}

static int
store_sqlite_get_cert_der(struct store *st, const char *serial, unsigned char **ret_der,
			  size_t *ret_len)
{
	sqlite3_stmt *q = store_sqlite_of(st)->get_cert_der;
	int rc, r;

	if ((rc = sqlite3_bind_text(q, 1, serial, -1, SQLITE_STATIC)) != SQLITE_OK) {
		r = store_sqlite_errno(rc);
		goto out;
	}
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		r = store_sqlite_copy_blob(q, 0, ret_der, ret_len);
	else
		r = rc == SQLITE_DONE ? -ENOENT : store_sqlite_errno(rc);
out:
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return r;
}

static const struct store_ops store_sqlite_ops = {
	.close = store_sqlite_close,
	.add_cert = store_sqlite_add_cert,
	.count_certs = store_sqlite_count_certs,
	.get_cert_der = store_sqlite_get_cert_der,
};
