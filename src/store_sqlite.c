/*
 * store_sqlite.c - the SQLite backend of the store ("sqlite:/abs/path.db").
 *
 * SYNOPSIS
 *	#include "store_backend.h"
 *
 *	store_sqlite_open(path, &st)
 *
 * DESCRIPTION
 *	Opens (creating when missing, mode 0600, unless STORE_OPEN_NO_CREATE) one
 *	database file for one process: each worker opens its own connection after
 *	fork(), and several processes write to the file at once (scepctl too).
 *	Every connection runs with journal_mode=WAL (readers never block the
 *	writer), synchronous=FULL (the WAL is fsynced at every commit, so a
 *	certificate that was answered survives a power cut), a busy handler
 *	(a writer waits for the others, trying again every STORE_SQLITE_POLL_US
 *	for up to STORE_SQLITE_BUSY_MS, instead of failing) and foreign_keys=ON.
 *
 *	The schema is versioned with PRAGMA user_version and marked as scepd's
 *	with PRAGMA application_id. It is created or migrated, one step of
 *	store_sqlite_migrations[] per version, in a single BEGIN IMMEDIATE
 *	transaction, so that workers starting together neither create it twice
 *	nor see it half made. The statements of the interface, walks included,
 *	are prepared once per open.
 *
 *	Each state change is one autocommit statement, committed and durable when
 *	it returns, and conditional where two processes may race: a challenge is
 *	consumed by "UPDATE ... WHERE used_at IS NULL AND expires_at > now
 *	RETURNING owner", a pending request moves by "UPDATE ... WHERE status =
 *	expected". SQLite takes the write lock when such a statement starts, so
 *	the condition is evaluated under it: of two racers exactly one changes the
 *	row, the other changes nothing and is told why by a later SELECT (used
 *	only for the error code, never to decide). The one exception is
 *	store_sqlite_add_cert_for_pending(): INSERT certificate + UPDATE request
 *	in one BEGIN IMMEDIATE transaction, rolled back unless both happened.
 *	Revoking and lifting a hold are the same pattern: the conditional UPDATE of
 *	the certificate ("... WHERE revoked_at IS NULL", "... AND revocation_reason =
 *	6") and the upsert of its CA's change counter in one BEGIN IMMEDIATE
 *	transaction. A CRL is stored by one upsert whose DO UPDATE matches only a
 *	lower cRLNumber.
 *
 *	No SQL leaves this file; nothing is logged. A handle is used by one
 *	thread at a time (store.c serialises the calls; the prepared statements
 *	are reused).
 *
 * DIAGNOSTICS
 *	store_sqlite_open(): -EINVAL for a relative or empty path; the -errno of
 *	creating or opening the file (-ENOENT when its directory is missing, or
 *	the file with STORE_OPEN_NO_CREATE; -EACCES, -EROFS, -EISDIR...);
 *	-EBADMSG when the file is not an SQLite database, belongs to another
 *	application, or has a schema newer than this scepd knows; -EIO for any
 *	other SQLite error, including a lock still held after the busy timeout.
 *	The calls: -EEXIST for a key already recorded (serial, transaction id,
 *	challenge hash), -ENOENT for an unknown one, -ESTALE for a request not in
 *	the expected status, -EALREADY and -ETIME for a used and an expired
 *	challenge, -ENOSPC when the disk is full, -ENOMEM, -EIO for anything else.
 */
#include "store_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "scepd/store.h"

#define STORE_SQLITE_BUSY_MS   10000      /* workers wait this long for each other's writes */
#define STORE_SQLITE_POLL_US   100        /* between tries to take another's write lock */
#define STORE_SQLITE_RETRY_MS  10         /* between tries to switch a new file to WAL */
#define STORE_SQLITE_CACHE_KIB "-256"     /* PRAGMA cache_size: negative = KiB */
#define STORE_SQLITE_APP_ID    0x53434550 /* "SCEP": PRAGMA application_id of scepd's files */

struct store_sqlite {
	struct store st; /* first: store.c sees only this */
	sqlite3 *db;
	sqlite3_stmt *add_cert;
	sqlite3_stmt *count_certs;
	sqlite3_stmt *get_cert_der;
	sqlite3_stmt *add_pending;
	sqlite3_stmt *set_pending_status;
	sqlite3_stmt *issue_pending;
	sqlite3_stmt *pending_status;
	sqlite3_stmt *add_challenge;
	sqlite3_stmt *consume_challenge;
	sqlite3_stmt *challenge_state;
	sqlite3_stmt *walk_certs; /* the walks: reset when they end, one at a time */
	sqlite3_stmt *walk_certs_serial;
	sqlite3_stmt *walk_certs_transaction;
	sqlite3_stmt *walk_pending;
	sqlite3_stmt *walk_pending_one;
	sqlite3_stmt *revoke;
	sqlite3_stmt *unrevoke;
	sqlite3_stmt *revocation_state;
	sqlite3_stmt *bump_changes;
	sqlite3_stmt *changes;
	sqlite3_stmt *count_revoked;
	sqlite3_stmt *put_crl;
	sqlite3_stmt *get_crl;
	sqlite3_stmt *walk_revoked;
	sqlite3_stmt *walk_revoked_all;
	sqlite3_stmt *prune_challenges;
	sqlite3_stmt *prune_rejected;
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
	/*
	 * 1 -> 2: who a certificate or a pending request was for (the challenge's owner
	 * or the /csr token's name), so that a renewal carries the original owner.
	 */
	"ALTER TABLE certificates ADD COLUMN owner TEXT;\n"
	"ALTER TABLE pending_requests ADD COLUMN owner TEXT;\n",
	/*
	 * 2 -> 3: the profile a certificate was issued through and the CA that signed it,
	 * the profile a pending request came through. Rows from before had the one CA and
	 * the two endpoints, which the single-CA configuration names CA "default" and
	 * profiles "scep" and "csr".
	 */
	"ALTER TABLE certificates ADD COLUMN profile TEXT;\n"
	"ALTER TABLE certificates ADD COLUMN ca TEXT;\n"
	"ALTER TABLE pending_requests ADD COLUMN profile TEXT;\n"
	"ALTER TABLE challenges ADD COLUMN profile TEXT;\n"
	"UPDATE certificates SET profile = endpoint, ca = 'default';\n"
	"UPDATE pending_requests SET profile = 'scep';\n"
	"UPDATE challenges SET profile = 'scep';\n",
	/*
	 * 3 -> 4: revocation. The reason (an RFC 5280 CRLReason code) and who revoked a
	 * certificate, next to revoked_at (there since version 1, never set before); the
	 * newest CRL of each CA; each CA's counter of revocation changes. Older rows are
	 * not revoked: the new columns are NULL.
	 */
	"ALTER TABLE certificates ADD COLUMN revocation_reason INTEGER;\n"
	"ALTER TABLE certificates ADD COLUMN revoked_by TEXT;\n"
	"CREATE INDEX certificates_revoked ON certificates (ca, revoked_at)\n"
	"\tWHERE revoked_at IS NOT NULL;\n"
	"CREATE TABLE crls (\n"
	"\tca TEXT NOT NULL PRIMARY KEY,\n"
	"\tnumber INTEGER NOT NULL,\n"
	"\tder BLOB NOT NULL,\n"
	"\tthis_update INTEGER NOT NULL,\n"
	"\tnext_update INTEGER NOT NULL,\n"
	"\tchanges INTEGER NOT NULL -- revocation_state.changes when it was made\n"
	");\n"
	"CREATE TABLE revocation_state (\n"
	"\tca TEXT NOT NULL PRIMARY KEY,\n"
	"\tchanges INTEGER NOT NULL -- revocations and unrevocations of the CA's certificates\n"
	");\n",
	/*
	 * 4 -> 5: a challenge may be bound to the subject a request must have (NULL: any;
	 * older challenges are not bound). Indexes for pruning what is used, expired or
	 * rejected.
	 */
	"ALTER TABLE challenges ADD COLUMN subject TEXT;\n"
	"CREATE INDEX challenges_expires_at ON challenges (expires_at);\n"
	"CREATE INDEX challenges_used_at ON challenges (used_at) WHERE used_at IS NOT NULL;\n"
	"CREATE INDEX pending_requests_rejected ON pending_requests (decided_at)\n"
	"\tWHERE status = 'rejected';\n",
};

#define STORE_SQLITE_VERSION                                                                       \
	((int64_t)(sizeof(store_sqlite_migrations) / sizeof(store_sqlite_migrations[0])))

/* The statements of the interface, prepared once per open. */
#define STORE_SQLITE_ADD_CERT                                                                      \
	"INSERT INTO certificates (serial, subject, sans, not_before, not_after, der, "            \
	"requester, endpoint, transaction_id, issued_at, owner, profile, ca) "                     \
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
#define STORE_SQLITE_COUNT_CERTS  "SELECT count(*) FROM certificates"
#define STORE_SQLITE_GET_CERT_DER "SELECT der FROM certificates WHERE serial = ?1"
#define STORE_SQLITE_ADD_PENDING                                                                   \
	"INSERT INTO pending_requests (transaction_id, subject, csr_der, signer_cert_der, "        \
	"requester, received_at, owner, profile) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
#define STORE_SQLITE_SET_PENDING_STATUS                                                            \
	"UPDATE pending_requests SET status = ?1, decided_at = ?2 "                                \
	"WHERE transaction_id = ?3 AND status = ?4"
#define STORE_SQLITE_ISSUE_PENDING                                                                 \
	"UPDATE pending_requests SET status = 'issued', serial = ?1 "                              \
	"WHERE transaction_id = ?2 AND status = 'approved'"
#define STORE_SQLITE_PENDING_STATUS "SELECT status FROM pending_requests WHERE transaction_id = ?1"
#define STORE_SQLITE_ADD_CHALLENGE                                                                 \
	"INSERT INTO challenges (secret_hash, owner, created_at, expires_at, profile, subject) "   \
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
#define STORE_SQLITE_CONSUME_CHALLENGE                                                             \
	"UPDATE challenges SET used_at = ?1, used_by = ?2 "                                        \
	"WHERE secret_hash = ?3 AND profile = ?4 AND used_at IS NULL AND expires_at > ?1 "         \
	"AND (subject IS NULL OR subject = ?5) RETURNING owner"
#define STORE_SQLITE_CHALLENGE_STATE                                                               \
	"SELECT used_at IS NOT NULL, expires_at > ?2, subject IS NULL OR subject IS ?4 "           \
	"FROM challenges WHERE secret_hash = ?1 AND profile = ?3"
/* LIMIT -1: no limit. */
#define STORE_SQLITE_PRUNE_CHALLENGES                                                              \
	"DELETE FROM challenges WHERE secret_hash IN (SELECT secret_hash FROM challenges "         \
	"WHERE expires_at < ?1 OR used_at < ?1 LIMIT ?2)"
#define STORE_SQLITE_PRUNE_REJECTED                                                                \
	"DELETE FROM pending_requests WHERE transaction_id IN (SELECT transaction_id "             \
	"FROM pending_requests WHERE status = 'rejected' AND decided_at < ?1 LIMIT ?2)"

#define STORE_SQLITE_REVOKE                                                                        \
	"UPDATE certificates SET revoked_at = ?1, revocation_reason = ?2, revoked_by = ?3 "        \
	"WHERE serial = ?4 AND revoked_at IS NULL"
#define STORE_SQLITE_UNREVOKE                                                                      \
	"UPDATE certificates SET revoked_at = NULL, revocation_reason = NULL, revoked_by = ?1 "    \
	"WHERE serial = ?2 AND revoked_at IS NOT NULL AND revocation_reason = 6"
#define STORE_SQLITE_REVOCATION_STATE                                                              \
	"SELECT revoked_at IS NOT NULL, coalesce(revocation_reason, -1) FROM certificates "        \
	"WHERE serial = ?1"
#define STORE_SQLITE_BUMP_CHANGES                                                                  \
	"INSERT INTO revocation_state (ca, changes) "                                              \
	"SELECT ca, 1 FROM certificates WHERE serial = ?1 AND ca IS NOT NULL "                     \
	"ON CONFLICT (ca) DO UPDATE SET changes = revocation_state.changes + 1"
#define STORE_SQLITE_CHANGES "SELECT changes FROM revocation_state WHERE ca = ?1"
#define STORE_SQLITE_COUNT_REVOKED                                                                 \
	"SELECT ca, profile, count(*) FROM certificates WHERE revoked_at IS NOT NULL "             \
	"GROUP BY ca, profile"
#define STORE_SQLITE_PUT_CRL                                                                       \
	"INSERT INTO crls (ca, number, der, this_update, next_update, changes) "                   \
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (ca) DO UPDATE SET "                          \
	"number = excluded.number, der = excluded.der, this_update = excluded.this_update, "       \
	"next_update = excluded.next_update, changes = excluded.changes "                          \
	"WHERE excluded.number > crls.number"
#define STORE_SQLITE_GET_CRL                                                                       \
	"SELECT ca, number, der, this_update, next_update, changes FROM crls WHERE ca = ?1"

/* The walks, prepared per call; rowid is the order in which rows were recorded. */
#define STORE_SQLITE_CERT_COLUMNS                                                                  \
	"SELECT serial, subject, sans, not_before, not_after, der, requester, endpoint, "          \
	"transaction_id, issued_at, owner, profile, ca, revoked_at, revocation_reason, "           \
	"revoked_by FROM certificates "
#define STORE_SQLITE_WALK_CERTS        STORE_SQLITE_CERT_COLUMNS "ORDER BY rowid"
#define STORE_SQLITE_WALK_CERTS_SERIAL STORE_SQLITE_CERT_COLUMNS "WHERE serial = ?1"
#define STORE_SQLITE_WALK_CERTS_TRANSACTION                                                        \
	STORE_SQLITE_CERT_COLUMNS "WHERE transaction_id = ?1 ORDER BY rowid"
#define STORE_SQLITE_WALK_REVOKED                                                                  \
	STORE_SQLITE_CERT_COLUMNS                                                                  \
	"WHERE ca = ?1 AND revoked_at IS NOT NULL AND not_after > ?2 ORDER BY revoked_at, rowid"
#define STORE_SQLITE_WALK_REVOKED_ALL                                                              \
	STORE_SQLITE_CERT_COLUMNS                                                                  \
	"WHERE revoked_at IS NOT NULL AND not_after > ?2 ORDER BY revoked_at, rowid"
#define STORE_SQLITE_PENDING_COLUMNS                                                               \
	"SELECT transaction_id, subject, csr_der, signer_cert_der, requester, received_at, "       \
	"status, decided_at, serial, owner, profile FROM pending_requests "
#define STORE_SQLITE_WALK_PENDING                                                                  \
	STORE_SQLITE_PENDING_COLUMNS                                                               \
	"WHERE status = 'pending' ORDER BY received_at, transaction_id"
#define STORE_SQLITE_WALK_PENDING_ONE STORE_SQLITE_PENDING_COLUMNS "WHERE transaction_id = ?1"

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
	sqlite3_finalize(s->add_pending);
	sqlite3_finalize(s->set_pending_status);
	sqlite3_finalize(s->issue_pending);
	sqlite3_finalize(s->pending_status);
	sqlite3_finalize(s->add_challenge);
	sqlite3_finalize(s->consume_challenge);
	sqlite3_finalize(s->challenge_state);
	sqlite3_finalize(s->count_revoked);
	sqlite3_finalize(s->prune_challenges);
	sqlite3_finalize(s->prune_rejected);
	sqlite3_finalize(s->walk_certs);
	sqlite3_finalize(s->walk_certs_serial);
	sqlite3_finalize(s->walk_certs_transaction);
	sqlite3_finalize(s->walk_pending);
	sqlite3_finalize(s->walk_pending_one);
	sqlite3_finalize(s->revoke);
	sqlite3_finalize(s->unrevoke);
	sqlite3_finalize(s->revocation_state);
	sqlite3_finalize(s->bump_changes);
	sqlite3_finalize(s->changes);
	sqlite3_finalize(s->put_crl);
	sqlite3_finalize(s->get_crl);
	sqlite3_finalize(s->walk_revoked);
	sqlite3_finalize(s->walk_revoked_all);
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
 * An existing file keeps the mode the operator gave it. With STORE_OPEN_NO_CREATE
 * this only checks that the file is there and ours to write (-ENOENT, -EACCES).
 */
static int
store_sqlite_create_file(const char *path, unsigned flags)
{
	int fd, oflags = O_RDWR | O_CLOEXEC | O_NOCTTY;

	if (!(flags & STORE_OPEN_NO_CREATE))
		oflags |= O_CREAT;
	if ((fd = open(path, oflags, 0600)) < 0)
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

/*
 * Waiting for another worker's write lock. SQLite's own busy timeout sleeps 1, 2, 5,
 * 10... ms between tries, longer than a commit takes (about 1 ms with its fsync), so
 * a worker would idle well after the lock is free: try again every
 * STORE_SQLITE_POLL_US instead, up to STORE_SQLITE_BUSY_MS in all.
 */
static int
store_sqlite_busy(void *userdata, int tries)
{
	(void)userdata;
	if ((long long)tries * STORE_SQLITE_POLL_US >= STORE_SQLITE_BUSY_MS * 1000LL)
		return 0;
	usleep(STORE_SQLITE_POLL_US);
	return 1;
}

static int
store_sqlite_connect(struct store_sqlite *s, const char *path)
{
	int rc, r;

	/* No SQLITE_OPEN_CREATE: store_sqlite_create_file() made it with the right mode. */
	if ((rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE, NULL)) != SQLITE_OK)
		return s->db == NULL ? -ENOMEM : store_sqlite_errno(rc);
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_handler(s->db, store_sqlite_busy, NULL);
	/* Before the first write: another application's file is left as it was. */
	if ((r = store_sqlite_check_owner(s)) < 0 || (r = store_sqlite_set_wal(s)) < 0 ||
	    (r = store_sqlite_exec(s, "PRAGMA synchronous = FULL;"
				      "PRAGMA foreign_keys = ON;"
				      "PRAGMA trusted_schema = OFF;"
				      /*
				       * A worker writes one row per certificate and reads a
				       * few by key: a small page cache does, and keeps the
				       * worker's memory flat as the store grows (SQLite's
				       * default is 2 MiB per connection).
				       */
				      "PRAGMA cache_size = " STORE_SQLITE_CACHE_KIB ";")) < 0)
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

/*
 * fn in one BEGIN IMMEDIATE ... COMMIT: the write lock is taken first (waiting for the
 * others), so what fn reads cannot change before it commits. Rolled back unless fn
 * returned 0 and the COMMIT succeeded.
 */
static int
store_sqlite_transaction(struct store_sqlite *s, int (*fn)(struct store_sqlite *s, void *arg),
			 void *arg)
{
	int r;

	if ((r = store_sqlite_exec(s, "BEGIN IMMEDIATE")) < 0 || (r = fn(s, arg)) < 0)
		goto out;
	r = store_sqlite_exec(s, "COMMIT");
out:
	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

static int
store_sqlite_migrate_fn(struct store_sqlite *s, void *arg)
{
	(void)arg;
	return store_sqlite_migrate_locked(s);
}

/* One process creates or migrates, the others wait and find it done. */
static int
store_sqlite_migrate(struct store_sqlite *s)
{
	return store_sqlite_transaction(s, store_sqlite_migrate_fn, NULL);
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
	const struct {
		const char *sql;
		sqlite3_stmt **q;
	} stmts[] = {
		{ STORE_SQLITE_ADD_CERT, &s->add_cert },
		{ STORE_SQLITE_COUNT_CERTS, &s->count_certs },
		{ STORE_SQLITE_GET_CERT_DER, &s->get_cert_der },
		{ STORE_SQLITE_ADD_PENDING, &s->add_pending },
		{ STORE_SQLITE_SET_PENDING_STATUS, &s->set_pending_status },
		{ STORE_SQLITE_ISSUE_PENDING, &s->issue_pending },
		{ STORE_SQLITE_PENDING_STATUS, &s->pending_status },
		{ STORE_SQLITE_ADD_CHALLENGE, &s->add_challenge },
		{ STORE_SQLITE_CONSUME_CHALLENGE, &s->consume_challenge },
		{ STORE_SQLITE_CHALLENGE_STATE, &s->challenge_state },
		{ STORE_SQLITE_PRUNE_CHALLENGES, &s->prune_challenges },
		{ STORE_SQLITE_PRUNE_REJECTED, &s->prune_rejected },
		{ STORE_SQLITE_WALK_CERTS, &s->walk_certs },
		{ STORE_SQLITE_WALK_CERTS_SERIAL, &s->walk_certs_serial },
		{ STORE_SQLITE_WALK_CERTS_TRANSACTION, &s->walk_certs_transaction },
		{ STORE_SQLITE_WALK_PENDING, &s->walk_pending },
		{ STORE_SQLITE_WALK_PENDING_ONE, &s->walk_pending_one },
		{ STORE_SQLITE_REVOKE, &s->revoke },
		{ STORE_SQLITE_UNREVOKE, &s->unrevoke },
		{ STORE_SQLITE_REVOCATION_STATE, &s->revocation_state },
		{ STORE_SQLITE_BUMP_CHANGES, &s->bump_changes },
		{ STORE_SQLITE_CHANGES, &s->changes },
		{ STORE_SQLITE_COUNT_REVOKED, &s->count_revoked },
		{ STORE_SQLITE_PUT_CRL, &s->put_crl },
		{ STORE_SQLITE_GET_CRL, &s->get_crl },
		{ STORE_SQLITE_WALK_REVOKED, &s->walk_revoked },
		{ STORE_SQLITE_WALK_REVOKED_ALL, &s->walk_revoked_all },
	};
	size_t i;
	int r;

	for (i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++)
		if ((r = store_sqlite_prepare1(s, stmts[i].sql, stmts[i].q)) < 0)
			return r;
	return 0;
}

int
store_sqlite_open(const char *path, unsigned flags, struct store **ret_store)
{
	struct store_sqlite *s = NULL;
	int r;

	if (path[0] != '/') {
		r = -EINVAL;
		goto out;
	}
	if ((r = store_sqlite_create_file(path, flags)) < 0)
		goto out;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = store_sqlite_connect(s, path)) < 0 || (r = store_sqlite_migrate(s)) < 0 ||
	    (r = store_sqlite_prepare(s)) < 0)
		goto out;
	store_init(&s->st, &store_sqlite_ops);
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
	    (rc = sqlite3_bind_int64(q, 10, (sqlite3_int64)issued_at)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 11, c->owner, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 12, c->profile, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 13, c->ca, -1, SQLITE_STATIC)) != SQLITE_OK)
		return rc;
	return SQLITE_OK;
}

static int
store_sqlite_insert_cert(struct store_sqlite *s, const struct store_cert *cert, time_t issued_at)
{
	sqlite3_stmt *q = s->add_cert;
	int rc;

	if ((rc = store_sqlite_bind_cert(q, cert, issued_at)) == SQLITE_OK)
		rc = sqlite3_step(q);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc == SQLITE_DONE ? 0 : store_sqlite_errno(rc);
}

static int
store_sqlite_schema_version(struct store *st, int *ret_version)
{
	int64_t v = 0;
	int r;

	if ((r = store_sqlite_query_int(store_sqlite_of(st), "PRAGMA user_version", &v)) < 0)
		return r;
	*ret_version = (int)v;
	return 0;
}

/* A local file opened at start: nothing to reach. */
static int
store_sqlite_check(struct store *st)
{
	(void)st;
	return 0;
}

/* The database file's device and inode: what every worker's handle has in common. */
static int
store_sqlite_share_id(struct store *st, uint64_t *ret_id)
{
	const char *path = sqlite3_db_filename(store_sqlite_of(st)->db, "main");
	struct stat sb;

	if (path == NULL || path[0] == '\0' || stat(path, &sb) < 0)
		return -ENOTSUP;
	*ret_id = ((uint64_t)sb.st_dev << 40) ^ (uint64_t)sb.st_ino;
	return 0;
}

/* One autocommit INSERT: with synchronous=FULL it is durable once sqlite3_step() is done. */
static int
store_sqlite_add_cert(struct store *st, const struct store_cert *cert)
{
	return store_sqlite_insert_cert(store_sqlite_of(st), cert, time(NULL));
}

struct store_sqlite_batch {
	const struct store_cert *const *certs;
	size_t n;
	int *results;
	time_t now;
};

/* A serial already taken fails its own INSERT only: SQLite keeps the transaction. */
static int
store_sqlite_add_certs_fn(struct store_sqlite *s, void *arg)
{
	struct store_sqlite_batch *b = arg;

	for (size_t i = 0; i < b->n; i++) {
		b->results[i] = store_sqlite_insert_cert(s, b->certs[i], b->now);
		if (b->results[i] < 0 && b->results[i] != -EEXIST)
			return b->results[i];
	}
	return 0;
}

/* A group commit: one transaction, one fsync of the WAL for them all. */
static int
store_sqlite_add_certs(struct store *st, const struct store_cert *const *certs, size_t n,
		       int *results)
{
	return store_sqlite_transaction(
		store_sqlite_of(st), store_sqlite_add_certs_fn,
		&(struct store_sqlite_batch){ certs, n, results, time(NULL) });
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

/*
 * Column readers for the walks. SQLite returns NULL for an SQL NULL and, for a value,
 * only when it ran out of memory: tell the two apart.
 */
static int
store_sqlite_col_text(sqlite3_stmt *q, int col, const char **ret_text)
{
	const char *t;

	t = (const char *)sqlite3_column_text(q, col);
	if (t == NULL && sqlite3_column_type(q, col) != SQLITE_NULL)
		return -ENOMEM;
	*ret_text = t;
	return 0;
}

static int
store_sqlite_col_blob(sqlite3_stmt *q, int col, const unsigned char **ret_blob, size_t *ret_len)
{
	const unsigned char *b;
	size_t len;

	b = sqlite3_column_blob(q, col); /* before _bytes(), as SQLite documents */
	len = (size_t)sqlite3_column_bytes(q, col);
	if (b == NULL && len > 0)
		return -ENOMEM;
	*ret_blob = b;
	*ret_len = len;
	return 0;
}

/* Prepares sql and binds ?1 to key (when not NULL), bound SQLITE_STATIC. */
/* A walk's key, bound SQLITE_STATIC: the walk resets and clears q when it ends. */
static int
store_sqlite_bind_walk(sqlite3_stmt *q, const char *key)
{
	int rc;

	if (key != NULL && (rc = sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC)) != SQLITE_OK)
		return store_sqlite_errno(rc);
	return 0;
}

/* Ends a walk: its read transaction too, so that the WAL can be checkpointed. */
static void
store_sqlite_end_walk(sqlite3_stmt *q)
{
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
}

static int
store_sqlite_row_cert(sqlite3_stmt *q, struct store_cert *ret_cert)
{
	struct store_cert c = { 0 };
	int r;

	if ((r = store_sqlite_col_text(q, 0, &c.serial)) < 0 ||
	    (r = store_sqlite_col_text(q, 1, &c.subject)) < 0 ||
	    (r = store_sqlite_col_text(q, 2, &c.sans)) < 0 ||
	    (r = store_sqlite_col_blob(q, 5, &c.der, &c.der_len)) < 0 ||
	    (r = store_sqlite_col_text(q, 6, &c.requester)) < 0 ||
	    (r = store_sqlite_col_text(q, 7, &c.endpoint)) < 0 ||
	    (r = store_sqlite_col_text(q, 8, &c.transaction_id)) < 0 ||
	    (r = store_sqlite_col_text(q, 10, &c.owner)) < 0 ||
	    (r = store_sqlite_col_text(q, 11, &c.profile)) < 0 ||
	    (r = store_sqlite_col_text(q, 12, &c.ca)) < 0 ||
	    (r = store_sqlite_col_text(q, 15, &c.revoked_by)) < 0)
		return r;
	c.not_before = (time_t)sqlite3_column_int64(q, 3);
	c.not_after = (time_t)sqlite3_column_int64(q, 4);
	c.issued_at = (time_t)sqlite3_column_int64(q, 9);
	c.revoked_at = (time_t)sqlite3_column_int64(q, 13); /* NULL reads as 0 */
	c.revocation_reason =
		sqlite3_column_type(q, 14) == SQLITE_NULL ? -1 : (int)sqlite3_column_int64(q, 14);
	*ret_cert = c;
	return 0;
}

static int
store_sqlite_walk_certs(struct store *st, const char *serial, const char *transaction_id,
			int (*fn)(const struct store_cert *cert, void *userdata), void *userdata)
{
	struct store_sqlite *s = store_sqlite_of(st);
	struct store_cert c;
	sqlite3_stmt *q = s->walk_certs;
	const char *key = NULL;
	int rc, r;

	if (serial != NULL) {
		q = s->walk_certs_serial;
		key = serial;
	} else if (transaction_id != NULL) {
		q = s->walk_certs_transaction;
		key = transaction_id;
	}
	if ((r = store_sqlite_bind_walk(q, key)) < 0)
		goto out;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		if ((r = store_sqlite_row_cert(q, &c)) < 0 || (r = fn(&c, userdata)) < 0)
			goto out;
	r = rc == SQLITE_DONE ? 0 : store_sqlite_errno(rc);
out:
	store_sqlite_end_walk(q);
	return r;
}

/* The strings and blobs are bound SQLITE_STATIC: the caller resets and clears. */
static int
store_sqlite_bind_pending(sqlite3_stmt *q, const struct store_pending *p)
{
	int rc;

	if ((rc = sqlite3_bind_text(q, 1, p->transaction_id, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 2, p->subject, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_blob64(q, 3, p->csr_der, p->csr_der_len, SQLITE_STATIC)) !=
		    SQLITE_OK ||
	    (rc = sqlite3_bind_blob64(q, 4, p->signer_cert_der, p->signer_cert_der_len,
				      SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 5, p->requester, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(q, 6, (sqlite3_int64)p->received_at)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 7, p->owner, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 8, p->profile, -1, SQLITE_STATIC)) != SQLITE_OK)
		return rc;
	return SQLITE_OK;
}

static int
store_sqlite_add_pending(struct store *st, const struct store_pending *req)
{
	sqlite3_stmt *q = store_sqlite_of(st)->add_pending;
	int rc;

	if ((rc = store_sqlite_bind_pending(q, req)) == SQLITE_OK)
		rc = sqlite3_step(q);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc == SQLITE_DONE ? 0 : store_sqlite_errno(rc);
}

static int
store_sqlite_row_pending(sqlite3_stmt *q, struct store_pending *ret_req)
{
	struct store_pending p = { 0 };
	const char *status;
	int r;

	if ((r = store_sqlite_col_text(q, 0, &p.transaction_id)) < 0 ||
	    (r = store_sqlite_col_text(q, 1, &p.subject)) < 0 ||
	    (r = store_sqlite_col_blob(q, 2, &p.csr_der, &p.csr_der_len)) < 0 ||
	    (r = store_sqlite_col_blob(q, 3, &p.signer_cert_der, &p.signer_cert_der_len)) < 0 ||
	    (r = store_sqlite_col_text(q, 4, &p.requester)) < 0 ||
	    (r = store_sqlite_col_text(q, 6, &status)) < 0 ||
	    (r = store_status_parse(status, &p.status)) < 0 ||
	    (r = store_sqlite_col_text(q, 8, &p.serial)) < 0 ||
	    (r = store_sqlite_col_text(q, 9, &p.owner)) < 0 ||
	    (r = store_sqlite_col_text(q, 10, &p.profile)) < 0)
		return r;
	p.received_at = (time_t)sqlite3_column_int64(q, 5);
	p.decided_at = (time_t)sqlite3_column_int64(q, 7); /* NULL reads as 0 */
	*ret_req = p;
	return 0;
}

static int
store_sqlite_walk_pending(struct store *st, const char *transaction_id,
			  int (*fn)(const struct store_pending *req, void *userdata),
			  void *userdata)
{
	struct store_sqlite *s = store_sqlite_of(st);
	sqlite3_stmt *q = transaction_id != NULL ? s->walk_pending_one : s->walk_pending;
	struct store_pending p;
	int rc, r;

	if ((r = store_sqlite_bind_walk(q, transaction_id)) < 0)
		goto out;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		if ((r = store_sqlite_row_pending(q, &p)) < 0 || (r = fn(&p, userdata)) < 0)
			goto out;
	r = rc == SQLITE_DONE ? 0 : store_sqlite_errno(rc);
out:
	store_sqlite_end_walk(q);
	return r;
}

/*
 * Why a conditional UPDATE of a pending request changed nothing: -ENOENT when there
 * is no such request, -ESTALE when it is in another status.
 */
static int
store_sqlite_pending_miss(struct store_sqlite *s, const char *transaction_id)
{
	sqlite3_stmt *q = s->pending_status;
	int rc, r;

	if ((rc = sqlite3_bind_text(q, 1, transaction_id, -1, SQLITE_STATIC)) != SQLITE_OK) {
		r = store_sqlite_errno(rc);
		goto out;
	}
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		r = -ESTALE;
	else
		r = rc == SQLITE_DONE ? -ENOENT : store_sqlite_errno(rc);
out:
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return r;
}

/* One conditional UPDATE: it matches only while the request is in `from`. */
static int
store_sqlite_set_pending_status(struct store *st, const char *transaction_id,
				enum store_status from, enum store_status to, time_t now)
{
	struct store_sqlite *s = store_sqlite_of(st);
	sqlite3_stmt *q = s->set_pending_status;
	int rc, r;

	if ((rc = sqlite3_bind_text(q, 1, store_status_name(to), -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(q, 2, (sqlite3_int64)now)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 3, transaction_id, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 4, store_status_name(from), -1, SQLITE_STATIC)) !=
		    SQLITE_OK) {
		r = store_sqlite_errno(rc);
		goto out;
	}
	if ((rc = sqlite3_step(q)) != SQLITE_DONE) {
		r = store_sqlite_errno(rc);
		goto out;
	}
	r = sqlite3_changes(s->db) == 1 ? 0 : 1;
out:
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (r == 1) /* not changed: only now ask why, for the error code */
		r = store_sqlite_pending_miss(s, transaction_id);
	return r;
}

/* Moves the approved request to issued; 1 when no row matched (not approved, or none). */
static int
store_sqlite_issue_pending(struct store_sqlite *s, const char *transaction_id, const char *serial)
{
	sqlite3_stmt *q = s->issue_pending;
	int rc, r;

	if ((rc = sqlite3_bind_text(q, 1, serial, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 2, transaction_id, -1, SQLITE_STATIC)) != SQLITE_OK) {
		r = store_sqlite_errno(rc);
		goto out;
	}
	if ((rc = sqlite3_step(q)) != SQLITE_DONE) {
		r = store_sqlite_errno(rc);
		goto out;
	}
	r = sqlite3_changes(s->db) == 1 ? 0 : 1;
out:
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return r;
}

struct store_sqlite_issue {
	const struct store_cert *cert;
	time_t now;
};

/*
 * The certificate goes in first: the request's serial references it. Anything short
 * of both rows is an error (pending_miss() says which), and rolls back.
 */
static int
store_sqlite_issue_fn(struct store_sqlite *s, void *arg)
{
	const struct store_sqlite_issue *is = arg;
	int r;

	if ((r = store_sqlite_insert_cert(s, is->cert, is->now)) < 0 ||
	    (r = store_sqlite_issue_pending(s, is->cert->transaction_id, is->cert->serial)) < 0)
		return r;
	return r == 1 ? store_sqlite_pending_miss(s, is->cert->transaction_id) : 0;
}

/* In one transaction, so that the status the UPDATE reads cannot change before COMMIT. */
static int
store_sqlite_add_cert_for_pending(struct store *st, const struct store_cert *cert, time_t now)
{
	return store_sqlite_transaction(store_sqlite_of(st), store_sqlite_issue_fn,
					&(struct store_sqlite_issue){ cert, now });
}

static int
store_sqlite_add_challenge(struct store *st, const struct store_challenge *ch)
{
	sqlite3_stmt *q = store_sqlite_of(st)->add_challenge;
	int rc;

	if ((rc = sqlite3_bind_text(q, 1, ch->secret_hash, -1, SQLITE_STATIC)) == SQLITE_OK &&
	    (rc = sqlite3_bind_text(q, 2, ch->owner, -1, SQLITE_STATIC)) == SQLITE_OK &&
	    (rc = sqlite3_bind_int64(q, 3, (sqlite3_int64)ch->created_at)) == SQLITE_OK &&
	    (rc = sqlite3_bind_int64(q, 4, (sqlite3_int64)ch->expires_at)) == SQLITE_OK &&
	    (rc = sqlite3_bind_text(q, 5, ch->profile, -1, SQLITE_STATIC)) == SQLITE_OK &&
	    (rc = sqlite3_bind_text(q, 6, ch->subject, -1, SQLITE_STATIC)) == SQLITE_OK)
		rc = sqlite3_step(q);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return rc == SQLITE_DONE ? 0 : store_sqlite_errno(rc);
}

/*
 * Why a challenge was not consumed: -ENOENT, -EALREADY (used), -ETIME (expired),
 * -EPERM (another subject's).
 */
static int
store_sqlite_challenge_miss(struct store_sqlite *s, const char *secret_hash, const char *profile,
			    const char *subject, time_t now)
{
	sqlite3_stmt *q = s->challenge_state;
	int rc, r;

	if ((rc = sqlite3_bind_text(q, 1, secret_hash, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(q, 2, (sqlite3_int64)now)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 3, profile, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 4, subject, -1, SQLITE_STATIC)) != SQLITE_OK) {
		r = store_sqlite_errno(rc);
		goto out;
	}
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		if (sqlite3_column_int(q, 0))
			r = -EALREADY;
		else if (!sqlite3_column_int(q, 1))
			r = -ETIME;
		else if (!sqlite3_column_int(q, 2))
			r = -EPERM;
		else
			r = -EIO; /* unused and valid, yet the UPDATE missed it: cannot be */
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : store_sqlite_errno(rc);
	}
out:
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return r;
}

/*
 * The UPDATE is the whole decision: it matches only an unused, unexpired challenge,
 * under the write lock, and RETURNING hands back the owner of the row it changed. It
 * runs to SQLITE_DONE, where the autocommit transaction commits.
 */
static int
store_sqlite_consume_challenge(struct store *st, const char *secret_hash, const char *profile,
			       const char *subject, const char *used_by, time_t now,
			       char **ret_owner)
{
	struct store_sqlite *s = store_sqlite_of(st);
	sqlite3_stmt *q = s->consume_challenge;
	const char *t;
	char *owner = NULL;
	int rc, r, hit = 0;

	if ((rc = sqlite3_bind_int64(q, 1, (sqlite3_int64)now)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 2, used_by, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 3, secret_hash, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 4, profile, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(q, 5, subject, -1, SQLITE_STATIC)) != SQLITE_OK) {
		r = store_sqlite_errno(rc);
		goto out;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		hit++;
		if ((r = store_sqlite_col_text(q, 0, &t)) < 0)
			goto out;
		if (t != NULL && owner == NULL && (owner = strdup(t)) == NULL) {
			r = -ENOMEM;
			goto out;
		}
	}
	if (rc != SQLITE_DONE) {
		r = store_sqlite_errno(rc);
		goto out;
	}
	if (hit == 0) {
		r = 1;
		goto out;
	}
	*ret_owner = owner;
	owner = NULL; /* the caller owns it now */
	r = 0;
out:
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	free(owner);
	if (r == 1) /* consumed nothing: only now ask why, for the error code */
		r = store_sqlite_challenge_miss(s, secret_hash, profile, subject, now);
	return r;
}

/*
 * Steps q, which the caller bound, to its end: 0 and the rows it changed in
 * *ret_changes (when not NULL), or -errno. Resets and clears q.
 */
static int
store_sqlite_step(struct store_sqlite *s, sqlite3_stmt *q, int *ret_changes)
{
	int rc;

	rc = sqlite3_step(q);
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	if (rc != SQLITE_DONE)
		return store_sqlite_errno(rc);
	if (ret_changes != NULL)
		*ret_changes = sqlite3_changes(s->db);
	return 0;
}

/* One pruning DELETE: the rows it deleted in *ret_count. */
static int
store_sqlite_prune_one(struct store_sqlite *s, sqlite3_stmt *q, time_t before, unsigned limit,
		       uint64_t *ret_count)
{
	int rc, changes = 0, r;

	if ((rc = sqlite3_bind_int64(q, 1, (sqlite3_int64)before)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(q, 2, limit > 0 ? (sqlite3_int64)limit : -1)) != SQLITE_OK) {
		sqlite3_reset(q);
		sqlite3_clear_bindings(q);
		return store_sqlite_errno(rc);
	}
	if ((r = store_sqlite_step(s, q, &changes)) < 0)
		return r;
	*ret_count = (uint64_t)changes;
	return 0;
}

static int
store_sqlite_prune(struct store *st, time_t before, unsigned limit, struct store_pruned *ret_pruned)
{
	struct store_sqlite *s = store_sqlite_of(st);
	int r;

	if ((r = store_sqlite_prune_one(s, s->prune_challenges, before, limit,
					&ret_pruned->challenges)) < 0)
		return r;
	return store_sqlite_prune_one(s, s->prune_rejected, before, limit,
				      &ret_pruned->rejected_requests);
}

/*
 * Why a conditional UPDATE of a certificate's revocation changed nothing: -ENOENT (no
 * such certificate), else `revoked` when it is revoked with a final reason, `hold`
 * when it is on hold, `valid` when it is not revoked.
 */
static int
store_sqlite_revocation_miss(struct store_sqlite *s, const char *serial, int valid, int hold,
			     int revoked)
{
	sqlite3_stmt *q = s->revocation_state;
	int rc, r;

	if ((rc = sqlite3_bind_text(q, 1, serial, -1, SQLITE_STATIC)) != SQLITE_OK) {
		r = store_sqlite_errno(rc);
		goto out;
	}
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		if (!sqlite3_column_int(q, 0))
			r = valid;
		else if (sqlite3_column_int(q, 1) == STORE_REASON_CERTIFICATE_HOLD)
			r = hold;
		else
			r = revoked;
	} else {
		r = rc == SQLITE_DONE ? -ENOENT : store_sqlite_errno(rc);
	}
out:
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return r;
}

/* Adds one to the counter of the certificate's CA (none when it has no CA). */
static int
store_sqlite_bump_changes(struct store_sqlite *s, const char *serial)
{
	sqlite3_stmt *q = s->bump_changes;
	int rc;

	if ((rc = sqlite3_bind_text(q, 1, serial, -1, SQLITE_STATIC)) != SQLITE_OK) {
		sqlite3_clear_bindings(q);
		return store_sqlite_errno(rc);
	}
	return store_sqlite_step(s, q, NULL);
}

struct store_sqlite_revocation {
	const char *serial;
	int reason; /* -1: unrevoke */
	time_t when;
	const char *by;
};

/*
 * The conditional UPDATE decides (under the write lock BEGIN IMMEDIATE took), then the
 * counter goes up in the same transaction; a miss is explained and rolled back.
 */
static int
store_sqlite_revocation_fn(struct store_sqlite *s, void *arg)
{
	const struct store_sqlite_revocation *rv = arg;
	sqlite3_stmt *q;
	int rc, r, changed = 0;

	if (rv->reason >= 0) {
		q = s->revoke;
		if ((rc = sqlite3_bind_int64(q, 1, (sqlite3_int64)rv->when)) != SQLITE_OK ||
		    (rc = sqlite3_bind_int(q, 2, rv->reason)) != SQLITE_OK ||
		    (rc = sqlite3_bind_text(q, 3, rv->by, -1, SQLITE_STATIC)) != SQLITE_OK ||
		    (rc = sqlite3_bind_text(q, 4, rv->serial, -1, SQLITE_STATIC)) != SQLITE_OK)
			goto bind_failed;
	} else {
		q = s->unrevoke;
		if ((rc = sqlite3_bind_text(q, 1, rv->by, -1, SQLITE_STATIC)) != SQLITE_OK ||
		    (rc = sqlite3_bind_text(q, 2, rv->serial, -1, SQLITE_STATIC)) != SQLITE_OK)
			goto bind_failed;
	}
	if ((r = store_sqlite_step(s, q, &changed)) < 0)
		return r;
	if (changed != 1)
		return rv->reason >= 0
			       ? store_sqlite_revocation_miss(s, rv->serial, -EIO, -EALREADY,
							      -EALREADY)
			       : store_sqlite_revocation_miss(s, rv->serial, -ESRCH, -EIO, -EPERM);
	return store_sqlite_bump_changes(s, rv->serial);
bind_failed:
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return store_sqlite_errno(rc);
}

static int
store_sqlite_revoke(struct store *st, const char *serial, int reason, time_t when, const char *by)
{
	return store_sqlite_transaction(
		store_sqlite_of(st), store_sqlite_revocation_fn,
		&(struct store_sqlite_revocation){ serial, reason, when, by });
}

static int
store_sqlite_unrevoke(struct store *st, const char *serial, const char *by)
{
	return store_sqlite_transaction(store_sqlite_of(st), store_sqlite_revocation_fn,
					&(struct store_sqlite_revocation){ serial, -1, 0, by });
}

static int
store_sqlite_walk_revoked(struct store *st, const char *ca, time_t now,
			  int (*fn)(const struct store_cert *cert, void *userdata), void *userdata)
{
	struct store_sqlite *s = store_sqlite_of(st);
	sqlite3_stmt *q = ca != NULL ? s->walk_revoked : s->walk_revoked_all;
	struct store_cert c;
	int rc, r;

	if ((r = store_sqlite_bind_walk(q, ca)) < 0)
		goto out;
	if ((rc = sqlite3_bind_int64(q, 2, (sqlite3_int64)now)) != SQLITE_OK) {
		r = store_sqlite_errno(rc);
		goto out;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW)
		if ((r = store_sqlite_row_cert(q, &c)) < 0 || (r = fn(&c, userdata)) < 0)
			goto out;
	r = rc == SQLITE_DONE ? 0 : store_sqlite_errno(rc);
out:
	store_sqlite_end_walk(q);
	return r;
}

static int
store_sqlite_revocation_changes(struct store *st, const char *ca, uint64_t *ret)
{
	sqlite3_stmt *q = store_sqlite_of(st)->changes;
	int rc, r;

	if ((rc = sqlite3_bind_text(q, 1, ca, -1, SQLITE_STATIC)) != SQLITE_OK) {
		r = store_sqlite_errno(rc);
		goto out;
	}
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*ret = (uint64_t)sqlite3_column_int64(q, 0);
	else if (rc == SQLITE_DONE)
		*ret = 0;
	r = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : store_sqlite_errno(rc);
out:
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
	return r;
}

static int
store_sqlite_count_revoked(struct store *st,
			   int (*fn)(const char *ca, const char *profile, uint64_t n,
				     void *userdata),
			   void *userdata)
{
	sqlite3_stmt *q = store_sqlite_of(st)->count_revoked;
	const char *ca, *profile;
	int rc, r = 0;

	while (r == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		if ((r = store_sqlite_col_text(q, 0, &ca)) == 0 &&
		    (r = store_sqlite_col_text(q, 1, &profile)) == 0)
			r = fn(ca, profile, (uint64_t)sqlite3_column_int64(q, 2), userdata);
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = store_sqlite_errno(rc);
	sqlite3_reset(q);
	return r;
}

/* One upsert whose DO UPDATE matches only a lower number: no row changed is -ESTALE. */
static int
store_sqlite_put_crl(struct store *st, const struct store_crl *crl)
{
	struct store_sqlite *s = store_sqlite_of(st);
	sqlite3_stmt *q = s->put_crl;
	int rc, r, changed = 0;

	if ((rc = sqlite3_bind_text(q, 1, crl->ca, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(q, 2, (sqlite3_int64)crl->number)) != SQLITE_OK ||
	    (rc = sqlite3_bind_blob64(q, 3, crl->der, crl->der_len, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(q, 4, (sqlite3_int64)crl->this_update)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(q, 5, (sqlite3_int64)crl->next_update)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(q, 6, (sqlite3_int64)crl->changes)) != SQLITE_OK) {
		sqlite3_reset(q);
		sqlite3_clear_bindings(q);
		return store_sqlite_errno(rc);
	}
	if ((r = store_sqlite_step(s, q, &changed)) < 0)
		return r;
	return changed == 1 ? 0 : -ESTALE;
}

static int
store_sqlite_get_crl(struct store *st, const char *ca,
		     int (*fn)(const struct store_crl *crl, void *userdata), void *userdata)
{
	sqlite3_stmt *q = store_sqlite_of(st)->get_crl;
	struct store_crl c = { 0 };
	int rc, r;

	if ((r = store_sqlite_bind_walk(q, ca)) < 0)
		goto out;
	rc = sqlite3_step(q);
	if (rc != SQLITE_ROW) {
		r = rc == SQLITE_DONE ? 0 : store_sqlite_errno(rc);
		goto out;
	}
	if ((r = store_sqlite_col_text(q, 0, &c.ca)) < 0 ||
	    (r = store_sqlite_col_blob(q, 2, &c.der, &c.der_len)) < 0)
		goto out;
	c.number = (uint64_t)sqlite3_column_int64(q, 1);
	c.this_update = (time_t)sqlite3_column_int64(q, 3);
	c.next_update = (time_t)sqlite3_column_int64(q, 4);
	c.changes = (uint64_t)sqlite3_column_int64(q, 5);
	r = fn(&c, userdata);
out:
	store_sqlite_end_walk(q);
	return r;
}

static const struct store_ops store_sqlite_ops = {
	.share_id = store_sqlite_share_id,
	.close = store_sqlite_close,
	.schema_version = store_sqlite_schema_version,
	.check = store_sqlite_check,
	.add_cert = store_sqlite_add_cert,
	.add_certs = store_sqlite_add_certs,
	.count_certs = store_sqlite_count_certs,
	.get_cert_der = store_sqlite_get_cert_der,
	.walk_certs = store_sqlite_walk_certs,
	.add_pending = store_sqlite_add_pending,
	.walk_pending = store_sqlite_walk_pending,
	.set_pending_status = store_sqlite_set_pending_status,
	.add_cert_for_pending = store_sqlite_add_cert_for_pending,
	.add_challenge = store_sqlite_add_challenge,
	.consume_challenge = store_sqlite_consume_challenge,
	.prune = store_sqlite_prune,
	.revoke = store_sqlite_revoke,
	.unrevoke = store_sqlite_unrevoke,
	.walk_revoked = store_sqlite_walk_revoked,
	.revocation_changes = store_sqlite_revocation_changes,
	.count_revoked = store_sqlite_count_revoked,
	.put_crl = store_sqlite_put_crl,
	.get_crl = store_sqlite_get_crl,
};
