/*
 * store_pg.c - the PostgreSQL backend of the store ("postgresql://..." or
 * "postgres://...", any libpq connection URI).
 *
 * SYNOPSIS
 *	#include "store_backend.h"
 *
 *	store_pg_open(uri, password, flags, &st, err)
 *	store_pg_probe(uri, password, timeout_s, err)
 *
 * DESCRIPTION
 *	One libpq connection per handle: each worker opens its own after fork(), on
 *	every node; scepctl opens one for its command. The password comes from libpq's
 *	own sources (PGPASSFILE or ~/.pgpass, PGPASSWORD), never from the URI in the
 *	configuration file. application_name defaults to "scepd" and connect_timeout to
 *	STORE_PG_CONNECT_S seconds; the URI may set both.
 *
 *	The schema is the logical schema of the SQLite backend (store_sqlite.c), with
 *	bytea for DER, bigint seconds for times and an identity column for the order in
 *	which rows were recorded. Its version is the one row of scepd_schema. It is
 *	created or migrated, one step of store_pg_migrations[] per version, in one
 *	transaction under a transaction-level advisory lock (STORE_PG_LOCK), so that
 *	the workers of several nodes starting together neither create it twice nor see
 *	it half made. With STORE_OPEN_NO_CREATE a database without the schema is
 *	-ENOENT.
 *
 *	Every state change is one statement or one transaction and is committed when
 *	the call returns (synchronous_commit as the server sets it: on, by default).
 *	Where two nodes race, the statement's own condition decides, under the row lock
 *	PostgreSQL takes for the UPDATE (READ COMMITTED re-checks the condition on the
 *	newest row version): a challenge is consumed by "UPDATE ... WHERE used_at IS
 *	NULL AND expires_at > now RETURNING owner", a pending request moves by "UPDATE
 *	... WHERE status = expected", a certificate is revoked by "UPDATE ... WHERE
 *	revoked_at IS NULL" (with its CA's change counter, in one transaction), a CRL
 *	stored by an upsert that replaces only a lower cRLNumber. A later SELECT
 *	only explains a miss (the error code); it never decides. Serials,
 *	transaction IDs and challenge hashes are unique by constraint.
 *
 *	When the connection is lost (the server restarted, the network failed), the
 *	next call resets it, at most once per STORE_PG_RETRY_MS: calls in between fail
 *	at once with -ENOTCONN instead of waiting for a connect timeout each. A call
 *	whose statement was under way when the connection broke is not repeated: it
 *	fails with -ENOTCONN, and what it wrote may or may not be committed (an INSERT
 *	that reached the server is on record; its certificate is never answered, as
 *	when a worker dies). Nothing is reset inside a transaction.
 *
 *	The statements of the calls (enum store_pg_query) are prepared on the session
 *	the first time each runs there (PQprepare(), types inferred by the server) and
 *	run by name from then on (PQexecPrepared()): the server parses each once per
 *	session, not once per request, and keeps a generic plan where it costs no more
 *	than one planned for the values. A reset opens a new session, which has
 *	none: each is prepared again on its next use. A statement the session lost all
 *	the same (SQLSTATE 26000: DISCARD ALL, a pooler) is prepared again and run once
 *	more (outside a transaction; inside, the call fails, but a group commit runs
 *	its whole transaction once more). The statements that run once (the schema, BEGIN,
 *	COMMIT) go as text with PQexecParams(). Parameters go as text, bytea as bytes;
 *	results are read in binary form: text as is, bigint and integer in network byte
 *	order, bytea as bytes. No SQL leaves this file; nothing is logged. A handle is
 *	used by one thread at a time (store.c serialises the calls).
 *
 * DIAGNOSTICS
 *	store_pg_open(): -ECONNREFUSED when the server cannot be reached or refuses the
 *	login, -ENOENT (STORE_OPEN_NO_CREATE and no schema), -EBADMSG when the schema
 *	is newer than this scepd knows, -ENOMEM, -EIO. The calls: as store.h, with
 *	-ENOTCONN when the server is unreachable, -ENOSPC for a full disk (SQLSTATE
 *	53100) and -EIO for any other error.
 */
#include "store_backend.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "scepd/clock.h"
#include "scepd/store.h"

#define STORE_PG_CONNECT_S "5"          /* connect_timeout unless the URI sets one */
#define STORE_PG_RETRY_MS  1000         /* between attempts to reconnect a lost connection */
#define STORE_PG_LOCK      "1396917584" /* 0x53434550, "SCEP": pg_advisory_xact_lock() */

/*
 * Schema changes: store_pg_migrations[v] takes version v to v + 1. Append a step,
 * never edit one that was released. Keep in step with store_sqlite_migrations[].
 */
static const char *const store_pg_migrations[] = {
	/* 0 -> 1: issued certificates; SCEP pending requests and one-time challenges. */
	"CREATE TABLE certificates (\n"
	"\tserial text NOT NULL PRIMARY KEY, -- upper-case hex, no leading zeros\n"
	"\tsubject text NOT NULL,\n"
	"\tsans text NOT NULL,\n"
	"\tnot_before bigint NOT NULL,\n"
	"\tnot_after bigint NOT NULL,\n"
	"\tder bytea NOT NULL,\n"
	"\trequester text,\n"
	"\tendpoint text NOT NULL,\n"
	"\ttransaction_id text,\n"
	"\tissued_at bigint NOT NULL,\n"
	"\trevoked_at bigint,\n"
	"\tseq bigint GENERATED ALWAYS AS IDENTITY UNIQUE\n"
	");\n"
	"CREATE INDEX certificates_transaction_id ON certificates (transaction_id);\n"
	"CREATE TABLE pending_requests (\n"
	"\ttransaction_id text NOT NULL PRIMARY KEY,\n"
	"\tsubject text,\n"
	"\tcsr_der bytea NOT NULL,\n"
	"\tsigner_cert_der bytea,\n"
	"\trequester text,\n"
	"\treceived_at bigint NOT NULL,\n"
	"\tstatus text NOT NULL DEFAULT 'pending'\n"
	"\t\tCHECK (status IN ('pending', 'approved', 'rejected', 'issued')),\n"
	"\tdecided_at bigint,\n"
	"\tserial text REFERENCES certificates (serial)\n"
	");\n"
	"CREATE TABLE challenges (\n"
	"\tid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
	"\tsecret_hash text UNIQUE NOT NULL,\n"
	"\towner text,\n"
	"\tcreated_at bigint NOT NULL,\n"
	"\texpires_at bigint,\n"
	"\tused_at bigint,\n"
	"\tused_by text\n"
	");\n",
	/* 1 -> 2: the owner of a certificate or a pending request (a renewal keeps it). */
	"ALTER TABLE certificates ADD COLUMN owner text;\n"
	"ALTER TABLE pending_requests ADD COLUMN owner text;\n",
	/*
	 * 2 -> 3: the profile and CA of a certificate, the profile of a pending request
	 * and of a one-time challenge; older rows get the single-CA configuration's names
	 * (CA "default", profiles "scep" and "csr").
	 */
	"ALTER TABLE certificates ADD COLUMN profile text;\n"
	"ALTER TABLE certificates ADD COLUMN ca text;\n"
	"ALTER TABLE pending_requests ADD COLUMN profile text;\n"
	"ALTER TABLE challenges ADD COLUMN profile text;\n"
	"UPDATE certificates SET profile = endpoint, ca = 'default';\n"
	"UPDATE pending_requests SET profile = 'scep';\n"
	"UPDATE challenges SET profile = 'scep';\n",
	/*
	 * 3 -> 4: revocation: the reason (RFC 5280 CRLReason code) and who revoked a
	 * certificate, each CA's newest CRL and its counter of revocation changes. Older
	 * rows are not revoked: the new columns are NULL.
	 */
	"ALTER TABLE certificates ADD COLUMN revocation_reason integer;\n"
	"ALTER TABLE certificates ADD COLUMN revoked_by text;\n"
	"CREATE INDEX certificates_revoked ON certificates (ca, revoked_at)\n"
	"\tWHERE revoked_at IS NOT NULL;\n"
	"CREATE TABLE crls (\n"
	"\tca text NOT NULL PRIMARY KEY,\n"
	"\tnumber bigint NOT NULL,\n"
	"\tder bytea NOT NULL,\n"
	"\tthis_update bigint NOT NULL,\n"
	"\tnext_update bigint NOT NULL,\n"
	"\tchanges bigint NOT NULL\n"
	");\n"
	"CREATE TABLE revocation_state (\n"
	"\tca text NOT NULL PRIMARY KEY,\n"
	"\tchanges bigint NOT NULL\n"
	");\n",
	/*
	 * 4 -> 5: the subject a challenge is bound to (NULL: any); indexes for pruning
	 * what is used, expired or rejected.
	 */
	"ALTER TABLE challenges ADD COLUMN subject text;\n"
	"CREATE INDEX challenges_expires_at ON challenges (expires_at);\n"
	"CREATE INDEX challenges_used_at ON challenges (used_at) WHERE used_at IS NOT NULL;\n"
	"CREATE INDEX pending_requests_rejected ON pending_requests (decided_at)\n"
	"\tWHERE status = 'rejected';\n",
};

#define STORE_PG_VERSION ((int)(sizeof(store_pg_migrations) / sizeof(store_pg_migrations[0])))

#define STORE_PG_ADD_CERT                                                                          \
	"INSERT INTO certificates (serial, subject, sans, not_before, not_after, der, "            \
	"requester, endpoint, transaction_id, issued_at, owner, profile, ca) "                     \
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
/* In a group commit a taken serial must not abort the transaction: it changes no row. */
#define STORE_PG_ADD_CERT_OR_SKIP STORE_PG_ADD_CERT " ON CONFLICT (serial) DO NOTHING"
#define STORE_PG_COUNT_CERTS      "SELECT count(*) FROM certificates"
#define STORE_PG_GET_CERT_DER     "SELECT der FROM certificates WHERE serial = $1"
#define STORE_PG_CERT_COLUMNS                                                                      \
	"SELECT serial, subject, sans, not_before, not_after, der, requester, endpoint, "          \
	"transaction_id, issued_at, owner, profile, ca, revoked_at, revocation_reason, "           \
	"revoked_by FROM certificates "
#define STORE_PG_WALK_REVOKED                                                                      \
	STORE_PG_CERT_COLUMNS                                                                      \
	"WHERE ca = $1 AND revoked_at IS NOT NULL AND not_after > $2 ORDER BY revoked_at, seq"
#define STORE_PG_WALK_REVOKED_ALL                                                                  \
	STORE_PG_CERT_COLUMNS                                                                      \
	"WHERE revoked_at IS NOT NULL AND not_after > $1 ORDER BY revoked_at, seq"
#define STORE_PG_REVOKE                                                                            \
	"UPDATE certificates SET revoked_at = $1, revocation_reason = $2, revoked_by = $3 "        \
	"WHERE serial = $4 AND revoked_at IS NULL"
#define STORE_PG_UNREVOKE                                                                          \
	"UPDATE certificates SET revoked_at = NULL, revocation_reason = NULL, revoked_by = $1 "    \
	"WHERE serial = $2 AND revoked_at IS NOT NULL AND revocation_reason = 6"
#define STORE_PG_REVOCATION_STATE                                                                  \
	"SELECT revoked_at IS NOT NULL, coalesce(revocation_reason, -1) FROM certificates "        \
	"WHERE serial = $1"
#define STORE_PG_BUMP_CHANGES                                                                      \
	"INSERT INTO revocation_state (ca, changes) "                                              \
	"SELECT ca, 1 FROM certificates WHERE serial = $1 AND ca IS NOT NULL "                     \
	"ON CONFLICT (ca) DO UPDATE SET changes = revocation_state.changes + 1"
#define STORE_PG_CHANGES "SELECT changes FROM revocation_state WHERE ca = $1"
#define STORE_PG_COUNT_REVOKED                                                                     \
	"SELECT ca, profile, count(*) FROM certificates WHERE revoked_at IS NOT NULL "             \
	"GROUP BY ca, profile"
#define STORE_PG_PUT_CRL                                                                           \
	"INSERT INTO crls (ca, number, der, this_update, next_update, changes) "                   \
	"VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (ca) DO UPDATE SET "                          \
	"number = excluded.number, der = excluded.der, this_update = excluded.this_update, "       \
	"next_update = excluded.next_update, changes = excluded.changes "                          \
	"WHERE excluded.number > crls.number"
#define STORE_PG_GET_CRL                                                                           \
	"SELECT ca, number, der, this_update, next_update, changes FROM crls WHERE ca = $1"
#define STORE_PG_WALK_CERTS        STORE_PG_CERT_COLUMNS "ORDER BY seq"
#define STORE_PG_WALK_CERTS_SERIAL STORE_PG_CERT_COLUMNS "WHERE serial = $1"
#define STORE_PG_WALK_CERTS_TRANSACTION                                                            \
	STORE_PG_CERT_COLUMNS "WHERE transaction_id = $1 ORDER BY seq"
#define STORE_PG_ADD_PENDING                                                                       \
	"INSERT INTO pending_requests (transaction_id, subject, csr_der, signer_cert_der, "        \
	"requester, received_at, owner, profile) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
#define STORE_PG_PENDING_COLUMNS                                                                   \
	"SELECT transaction_id, subject, csr_der, signer_cert_der, requester, received_at, "       \
	"status, decided_at, serial, owner, profile FROM pending_requests "
#define STORE_PG_WALK_PENDING                                                                      \
	STORE_PG_PENDING_COLUMNS "WHERE status = 'pending' ORDER BY received_at, transaction_id"
#define STORE_PG_WALK_PENDING_ONE STORE_PG_PENDING_COLUMNS "WHERE transaction_id = $1"
#define STORE_PG_SET_PENDING_STATUS                                                                \
	"UPDATE pending_requests SET status = $1, decided_at = $2 "                                \
	"WHERE transaction_id = $3 AND status = $4"
#define STORE_PG_ISSUE_PENDING                                                                     \
	"UPDATE pending_requests SET status = 'issued', serial = $1 "                              \
	"WHERE transaction_id = $2 AND status = 'approved'"
#define STORE_PG_PENDING_STATUS "SELECT status FROM pending_requests WHERE transaction_id = $1"
#define STORE_PG_ADD_CHALLENGE                                                                     \
	"INSERT INTO challenges (secret_hash, owner, created_at, expires_at, profile, subject) "   \
	"VALUES ($1, $2, $3, $4, $5, $6)"
#define STORE_PG_CONSUME_CHALLENGE                                                                 \
	"UPDATE challenges SET used_at = $1, used_by = $2 "                                        \
	"WHERE secret_hash = $3 AND profile = $4 AND used_at IS NULL AND expires_at > $1 "         \
	"AND (subject IS NULL OR subject = $5) RETURNING owner"
#define STORE_PG_CHALLENGE_STATE                                                                   \
	"SELECT used_at IS NOT NULL, expires_at > $2, "                                            \
	"subject IS NULL OR subject IS NOT DISTINCT FROM $4 "                                      \
	"FROM challenges WHERE secret_hash = $1 AND profile = $3"
/* LIMIT NULL: no limit. */
#define STORE_PG_PRUNE_CHALLENGES                                                                  \
	"DELETE FROM challenges WHERE secret_hash IN (SELECT secret_hash FROM challenges "         \
	"WHERE expires_at < $1 OR used_at < $1 LIMIT $2)"
#define STORE_PG_PRUNE_REJECTED                                                                    \
	"DELETE FROM pending_requests WHERE transaction_id IN (SELECT transaction_id "             \
	"FROM pending_requests WHERE status = 'rejected' AND decided_at < $1 LIMIT $2)"

/*
 * The statements of the calls, each prepared on a connection when it first runs there
 * (store_pg_run()) and executed by name from then on. The statements that run once
 * (schema, BEGIN, COMMIT) are sent with their text.
 */
enum store_pg_query {
	STORE_PG_Q_ADD_CERT,
	STORE_PG_Q_ADD_CERT_OR_SKIP,
	STORE_PG_Q_COUNT_CERTS,
	STORE_PG_Q_GET_CERT_DER,
	STORE_PG_Q_WALK_CERTS,
	STORE_PG_Q_WALK_CERTS_SERIAL,
	STORE_PG_Q_WALK_CERTS_TRANSACTION,
	STORE_PG_Q_ADD_PENDING,
	STORE_PG_Q_WALK_PENDING,
	STORE_PG_Q_WALK_PENDING_ONE,
	STORE_PG_Q_SET_PENDING_STATUS,
	STORE_PG_Q_ISSUE_PENDING,
	STORE_PG_Q_PENDING_STATUS,
	STORE_PG_Q_ADD_CHALLENGE,
	STORE_PG_Q_CONSUME_CHALLENGE,
	STORE_PG_Q_CHALLENGE_STATE,
	STORE_PG_Q_PRUNE_CHALLENGES,
	STORE_PG_Q_PRUNE_REJECTED,
	STORE_PG_Q_REVOKE,
	STORE_PG_Q_UNREVOKE,
	STORE_PG_Q_REVOCATION_STATE,
	STORE_PG_Q_BUMP_CHANGES,
	STORE_PG_Q_CHANGES,
	STORE_PG_Q_WALK_REVOKED,
	STORE_PG_Q_WALK_REVOKED_ALL,
	STORE_PG_Q_COUNT_REVOKED,
	STORE_PG_Q_PUT_CRL,
	STORE_PG_Q_GET_CRL,
	STORE_PG_Q_CHECK,
	STORE_PG_NQUERIES
};

static const struct {
	const char *name; /* of the prepared statement, in pg_prepared_statements */
	const char *sql;
} store_pg_queries[] = {
	[STORE_PG_Q_ADD_CERT] = { "scepd_add_cert", STORE_PG_ADD_CERT },
	[STORE_PG_Q_ADD_CERT_OR_SKIP] = { "scepd_add_cert_or_skip", STORE_PG_ADD_CERT_OR_SKIP },
	[STORE_PG_Q_COUNT_CERTS] = { "scepd_count_certs", STORE_PG_COUNT_CERTS },
	[STORE_PG_Q_GET_CERT_DER] = { "scepd_get_cert_der", STORE_PG_GET_CERT_DER },
	[STORE_PG_Q_WALK_CERTS] = { "scepd_walk_certs", STORE_PG_WALK_CERTS },
	[STORE_PG_Q_WALK_CERTS_SERIAL] = { "scepd_walk_certs_serial", STORE_PG_WALK_CERTS_SERIAL },
	[STORE_PG_Q_WALK_CERTS_TRANSACTION] = { "scepd_walk_certs_transaction",
						STORE_PG_WALK_CERTS_TRANSACTION },
	[STORE_PG_Q_ADD_PENDING] = { "scepd_add_pending", STORE_PG_ADD_PENDING },
	[STORE_PG_Q_WALK_PENDING] = { "scepd_walk_pending", STORE_PG_WALK_PENDING },
	[STORE_PG_Q_WALK_PENDING_ONE] = { "scepd_walk_pending_one", STORE_PG_WALK_PENDING_ONE },
	[STORE_PG_Q_SET_PENDING_STATUS] = { "scepd_set_pending_status",
					    STORE_PG_SET_PENDING_STATUS },
	[STORE_PG_Q_ISSUE_PENDING] = { "scepd_issue_pending", STORE_PG_ISSUE_PENDING },
	[STORE_PG_Q_PENDING_STATUS] = { "scepd_pending_status", STORE_PG_PENDING_STATUS },
	[STORE_PG_Q_ADD_CHALLENGE] = { "scepd_add_challenge", STORE_PG_ADD_CHALLENGE },
	[STORE_PG_Q_CONSUME_CHALLENGE] = { "scepd_consume_challenge", STORE_PG_CONSUME_CHALLENGE },
	[STORE_PG_Q_CHALLENGE_STATE] = { "scepd_challenge_state", STORE_PG_CHALLENGE_STATE },
	[STORE_PG_Q_PRUNE_CHALLENGES] = { "scepd_prune_challenges", STORE_PG_PRUNE_CHALLENGES },
	[STORE_PG_Q_PRUNE_REJECTED] = { "scepd_prune_rejected", STORE_PG_PRUNE_REJECTED },
	[STORE_PG_Q_REVOKE] = { "scepd_revoke", STORE_PG_REVOKE },
	[STORE_PG_Q_UNREVOKE] = { "scepd_unrevoke", STORE_PG_UNREVOKE },
	[STORE_PG_Q_REVOCATION_STATE] = { "scepd_revocation_state", STORE_PG_REVOCATION_STATE },
	[STORE_PG_Q_BUMP_CHANGES] = { "scepd_bump_changes", STORE_PG_BUMP_CHANGES },
	[STORE_PG_Q_CHANGES] = { "scepd_changes", STORE_PG_CHANGES },
	[STORE_PG_Q_WALK_REVOKED] = { "scepd_walk_revoked", STORE_PG_WALK_REVOKED },
	[STORE_PG_Q_WALK_REVOKED_ALL] = { "scepd_walk_revoked_all", STORE_PG_WALK_REVOKED_ALL },
	[STORE_PG_Q_COUNT_REVOKED] = { "scepd_count_revoked", STORE_PG_COUNT_REVOKED },
	[STORE_PG_Q_PUT_CRL] = { "scepd_put_crl", STORE_PG_PUT_CRL },
	[STORE_PG_Q_GET_CRL] = { "scepd_get_crl", STORE_PG_GET_CRL },
	[STORE_PG_Q_CHECK] = { "scepd_check", "SELECT 1" },
};
_Static_assert(sizeof(store_pg_queries) / sizeof(store_pg_queries[0]) == STORE_PG_NQUERIES,
	       "a statement of enum store_pg_query without its SQL");

struct store_pg {
	struct store st; /* first: store.c sees only this */
	PGconn *conn;
	uint64_t last_reset_ms; /* when the connection was last reset, 0 for never */
	bool in_transaction;    /* between BEGIN and COMMIT/ROLLBACK: never reset then */
	/* Prepared on this session; all false again when PQreset() opens a new one. */
	bool prepared[STORE_PG_NQUERIES];
	bool lost; /* a statement was not on the session (SQLSTATE 26000) */
};

static const struct store_ops store_pg_ops;

#define STORE_PG_MAX_PARAMS 13

/* The parameters of one statement: text, or bytes for a bytea. */
struct store_pg_params {
	int n;
	const char *values[STORE_PG_MAX_PARAMS];
	int lengths[STORE_PG_MAX_PARAMS];
	int formats[STORE_PG_MAX_PARAMS];
	char numbers[STORE_PG_MAX_PARAMS][24];
};

static struct store_pg *
store_pg_of(struct store *st)
{
	return (struct store_pg *)st;
}

static void
store_pg_text(struct store_pg_params *p, const char *text)
{
	assert(p->n < STORE_PG_MAX_PARAMS);
	p->values[p->n] = text; /* NULL is SQL NULL */
	p->lengths[p->n] = 0;
	p->formats[p->n] = 0;
	p->n++;
}

static void
store_pg_int(struct store_pg_params *p, int64_t v)
{
	assert(p->n < STORE_PG_MAX_PARAMS);
	snprintf(p->numbers[p->n], sizeof(p->numbers[0]), "%" PRId64, v);
	store_pg_text(p, p->numbers[p->n]);
}

static void
store_pg_bytes(struct store_pg_params *p, const unsigned char *bytes, size_t len)
{
	assert(p->n < STORE_PG_MAX_PARAMS);
	p->values[p->n] = (const char *)bytes;
	p->lengths[p->n] = (int)len;
	p->formats[p->n] = 1;
	p->n++;
}

/* The -errno of a failed result: constraint, full disk, lost connection, other. */
static int
store_pg_errno(struct store_pg *s, const PGresult *res)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (PQstatus(s->conn) != CONNECTION_OK)
		return -ENOTCONN;
	if (res == NULL)
		return -ENOMEM;
	if (state == NULL)
		return -EIO;
	if (strcmp(state, "23505") == 0) /* unique_violation */
		return -EEXIST;
	if (strcmp(state, "53100") == 0) /* disk_full */
		return -ENOSPC;
	if (strcmp(state, "53200") == 0) /* out_of_memory */
		return -ENOMEM;
	return -EIO;
}

/*
 * A lost connection is reset here, at most once per STORE_PG_RETRY_MS, and never in
 * the middle of a transaction (the statements after the reset would run outside it).
 * A server that shut down sent its farewell and closed the socket: reading what is
 * there, without blocking, notices it before a statement is sent into it (the first
 * read takes the message, the second finds the end of the stream).
 */
static int
store_pg_connected(struct store_pg *s)
{
	uint64_t now;

	if (PQstatus(s->conn) == CONNECTION_OK && PQconsumeInput(s->conn) == 1 &&
	    PQconsumeInput(s->conn) == 1 && PQstatus(s->conn) == CONNECTION_OK)
		return 0;
	if (s->in_transaction)
		return -ENOTCONN;
	now = clock_monotonic_ms();
	if (s->last_reset_ms != 0 && now - s->last_reset_ms < STORE_PG_RETRY_MS)
		return -ENOTCONN;
	s->last_reset_ms = now;
	PQreset(s->conn);
	/* A new session (maybe on another host of the URI): nothing is prepared there. */
	memset(s->prepared, 0, sizeof(s->prepared));
	return PQstatus(s->conn) == CONNECTION_OK ? 0 : -ENOTCONN;
}

/* A statement's result: 0 for PGRES_COMMAND_OK or PGRES_TUPLES_OK, else its -errno. */
static int
store_pg_result(struct store_pg *s, const PGresult *res)
{
	if (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK)
		return 0;
	return store_pg_errno(s, res);
}

/*
 * Runs one statement given as text, with binary results: for those that run once on a
 * handle (schema, BEGIN, COMMIT). 0 and the result for the caller to PQclear(), or
 * -errno.
 */
static int
store_pg_run_sql(struct store_pg *s, const char *sql, const struct store_pg_params *p,
		 PGresult **ret_res)
{
	PGresult *res;
	int r;

	if ((r = store_pg_connected(s)) < 0)
		return r;
	res = PQexecParams(s->conn, sql, p != NULL ? p->n : 0, NULL, p != NULL ? p->values : NULL,
			   p != NULL ? p->lengths : NULL, p != NULL ? p->formats : NULL, 1);
	if ((r = store_pg_result(s, res)) < 0) {
		PQclear(res);
		return r;
	}
	*ret_res = res;
	return 0;
}

/* The server infers the parameters' types, as for PQexecParams() without types. */
static int
store_pg_prepare(struct store_pg *s, enum store_pg_query q)
{
	PGresult *res =
		PQprepare(s->conn, store_pg_queries[q].name, store_pg_queries[q].sql, 0, NULL);
	int r = store_pg_result(s, res);

	PQclear(res);
	if (r == 0)
		s->prepared[q] = true;
	return r;
}

/* invalid_sql_statement_name: "prepared statement ... does not exist". */
static bool
store_pg_not_prepared(const PGresult *res)
{
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return state != NULL && strcmp(state, "26000") == 0;
}

/*
 * Runs statement q with binary results, prepared on this session first if it is not
 * yet. A session that lost it all the same (DISCARD ALL, a pooler between us and the
 * server) answers SQLSTATE 26000 before running anything: outside a transaction it is
 * prepared again and run once more; inside one, which that error aborted, the call
 * fails (-EIO) and the next use prepares it. 0 and the result (PGRES_COMMAND_OK or
 * PGRES_TUPLES_OK) for the caller to PQclear(), or -errno.
 */
static int
store_pg_run(struct store_pg *s, enum store_pg_query q, const struct store_pg_params *p,
	     PGresult **ret_res)
{
	PGresult *res;
	int r;

	if ((r = store_pg_connected(s)) < 0)
		return r;
	for (int tries = 0;; tries++) {
		if (!s->prepared[q] && (r = store_pg_prepare(s, q)) < 0)
			return r;
		res = PQexecPrepared(s->conn, store_pg_queries[q].name, p != NULL ? p->n : 0,
				     p != NULL ? p->values : NULL, p != NULL ? p->lengths : NULL,
				     p != NULL ? p->formats : NULL, 1);
		if ((r = store_pg_result(s, res)) == 0)
			break;
		if (store_pg_not_prepared(res)) {
			s->prepared[q] = false;
			s->lost = true;
		}
		if (tries > 0 || s->prepared[q] || s->in_transaction) {
			PQclear(res);
			return r;
		}
		PQclear(res);
	}
	*ret_res = res;
	return 0;
}

/* A statement whose result is not needed beyond success. */
static int
store_pg_exec_sql(struct store_pg *s, const char *sql, const struct store_pg_params *p)
{
	PGresult *res;
	int r;

	if ((r = store_pg_run_sql(s, sql, p, &res)) < 0)
		return r;
	PQclear(res);
	return 0;
}

static int
store_pg_exec(struct store_pg *s, enum store_pg_query q, const struct store_pg_params *p)
{
	PGresult *res;
	int r;

	if ((r = store_pg_run(s, q, p, &res)) < 0)
		return r;
	PQclear(res);
	return 0;
}

/* Rows changed by an UPDATE, INSERT or DELETE. */
static int
store_pg_changes(PGresult *res)
{
	return atoi(PQcmdTuples(res));
}

/* Column readers for binary results; an SQL NULL reads as NULL or 0. */
static const char *
store_pg_col_text(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

static const unsigned char *
store_pg_col_bytes(const PGresult *res, int row, int col, size_t *ret_len)
{
	if (PQgetisnull(res, row, col)) {
		*ret_len = 0;
		return NULL;
	}
	*ret_len = (size_t)PQgetlength(res, row, col);
	return (const unsigned char *)PQgetvalue(res, row, col);
}

/* bigint (8 bytes), integer (4) or boolean (1), in network byte order. */
static int64_t
store_pg_col_int(const PGresult *res, int row, int col)
{
	const unsigned char *v;
	uint64_t u = 0;
	int len;

	if (PQgetisnull(res, row, col))
		return 0;
	v = (const unsigned char *)PQgetvalue(res, row, col);
	len = PQgetlength(res, row, col);
	for (int i = 0; i < len && i < 8; i++)
		u = u << 8 | v[i];
	if (len == 4)
		return (int32_t)(uint32_t)u;
	return (int64_t)u;
}

/* libpq prints notices and the server's farewell on stderr: the store never logs. */
static void
store_pg_ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static void
store_pg_close(struct store *st)
{
	struct store_pg *s = store_pg_of(st);

	PQfinish(s->conn);
	free(s);
}

static int
store_pg_begin(struct store_pg *s)
{
	int r;

	if ((r = store_pg_exec_sql(s, "BEGIN", NULL)) == 0)
		s->in_transaction = true;
	return r;
}

static int
store_pg_commit(struct store_pg *s)
{
	int r = store_pg_exec_sql(s, "COMMIT", NULL);

	s->in_transaction = false; /* committed, or the server rolled it back */
	return r;
}

/* Ends a transaction that did not commit; a no-op after COMMIT. */
static void
store_pg_rollback(struct store_pg *s)
{
	if (PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
		PQclear(PQexec(s->conn, "ROLLBACK"));
	s->in_transaction = false;
}

/* The schema's version: 0 for none (and, with no_create, -ENOENT). */
static int
store_pg_version(struct store_pg *s, bool no_create, int *ret_version)
{
	PGresult *res;
	int r;

	if ((r = store_pg_run_sql(s, "SELECT to_regclass('scepd_schema') IS NOT NULL", NULL,
				  &res)) < 0)
		return r;
	r = PQntuples(res) == 1 && store_pg_col_int(res, 0, 0) != 0;
	PQclear(res);
	if (!r) {
		if (no_create)
			return -ENOENT;
		*ret_version = 0;
		return 0;
	}
	if ((r = store_pg_run_sql(s, "SELECT version FROM scepd_schema", NULL, &res)) < 0)
		return r;
	*ret_version = PQntuples(res) == 1 ? (int)store_pg_col_int(res, 0, 0) : 0;
	PQclear(res);
	return 0;
}

/* Creates or migrates the schema, in one transaction under the advisory lock. */
static int
store_pg_migrate(struct store_pg *s, unsigned flags)
{
	struct store_pg_params p = { 0 };
	int version, r;

	if ((r = store_pg_begin(s)) < 0 ||
	    (r = store_pg_exec_sql(s, "SELECT pg_advisory_xact_lock(" STORE_PG_LOCK ")", NULL)) <
		    0 ||
	    (r = store_pg_version(s, flags & STORE_OPEN_NO_CREATE, &version)) < 0)
		goto out;
	if (version > STORE_PG_VERSION) {
		r = -EBADMSG;
		goto out;
	}
	if (version == STORE_PG_VERSION) {
		r = store_pg_commit(s);
		goto out;
	}
	if (version == 0 &&
	    ((r = store_pg_exec_sql(s, "CREATE TABLE scepd_schema (version integer NOT NULL)",
				    NULL)) < 0 ||
	     (r = store_pg_exec_sql(s, "INSERT INTO scepd_schema VALUES (0)", NULL)) < 0))
		goto out;
	for (; version < STORE_PG_VERSION; version++) {
		PGresult *res = PQexec(s->conn, store_pg_migrations[version]);

		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			r = store_pg_errno(s, res);
			PQclear(res);
			goto out;
		}
		PQclear(res);
	}
	store_pg_int(&p, STORE_PG_VERSION);
	if ((r = store_pg_exec_sql(s, "UPDATE scepd_schema SET version = $1", &p)) < 0)
		goto out;
	r = store_pg_commit(s);
out:
	store_pg_rollback(s);
	return r;
}

/*
 * err: "HOST:PORT/DB: why", the server as libpq tried it; why is libpq's reason (what
 * follows "failed: " in the first line of its message) or what r means.
 */
static void
store_pg_explain(PGconn *conn, int r, struct store_error *err)
{
	const char *host = conn != NULL ? PQhost(conn) : NULL;
	const char *port = conn != NULL ? PQport(conn) : NULL;
	const char *db = conn != NULL ? PQdb(conn) : NULL;
	const char *msg = conn != NULL ? PQerrorMessage(conn) : NULL, *why;
	int len;

	if (err == NULL)
		return;
	if (r == -ENOENT) {
		why = "the database has no scepd tables yet (scepd creates them when it starts)";
		len = (int)strlen(why);
	} else if (r == -EBADMSG) {
		why = "the database was written by a newer scepd";
		len = (int)strlen(why);
	} else if (msg == NULL || msg[0] == '\0' || r != -ECONNREFUSED) {
		why = strerror(-r);
		len = (int)strlen(why);
	} else {
		why = strstr(msg, "failed: ");
		why = why != NULL && why < strchrnul(msg, '\n') ? why + 8 : msg;
		len = (int)(strchrnul(why, '\n') - why);
	}
	snprintf(err->message, sizeof(err->message), "%s:%s%s%s: %.*s",
		 host != NULL && host[0] != '\0' ? host : "localhost",
		 port != NULL && port[0] != '\0' ? port : "5432", db != NULL ? "/" : "",
		 db != NULL ? db : "", len, why);
}

/* A connection to uri: libpq's defaults, then timeout_s (a string), then the URI's. */
static PGconn *
store_pg_connect(const char *uri, const char *password, const char *timeout_s)
{
	/* libpq skips a NULL value: without a password, its own sources apply. */
	const char *const keys[] = { "connect_timeout", "application_name", "dbname", "password",
				     NULL };
	const char *const values[] = { timeout_s, "scepd", uri, password, NULL };

	/* expand_dbname: the URI is parsed, and what it sets wins over the defaults. */
	return PQconnectdbParams(keys, values, 1);
}

int
store_pg_probe(const char *uri, const char *password, unsigned timeout_s, struct store_error *err)
{
	char timeout[16];
	PGconn *conn;
	int r = 0;

	snprintf(timeout, sizeof(timeout), "%u", timeout_s);
	if ((conn = store_pg_connect(uri, password, timeout)) == NULL)
		return -ENOMEM;
	if (PQstatus(conn) != CONNECTION_OK) {
		r = -ECONNREFUSED;
		store_pg_explain(conn, r, err);
	}
	PQfinish(conn);
	return r;
}

int
store_pg_open(const char *uri, const char *password, unsigned flags, struct store **ret_store,
	      struct store_error *err)
{
	struct store_pg *s;
	int r;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	if ((s->conn = store_pg_connect(uri, password, STORE_PG_CONNECT_S)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (PQstatus(s->conn) != CONNECTION_OK) {
		r = -ECONNREFUSED;
		goto out;
	}
	PQsetNoticeProcessor(s->conn, store_pg_ignore_notice, NULL); /* kept by PQreset() */
	if ((r = store_pg_migrate(s, flags)) < 0)
		goto out;
	store_init(&s->st, &store_pg_ops);
	*ret_store = &s->st;
	s = NULL;
	r = 0;
out:
	if (s != NULL) {
		store_pg_explain(s->conn, r, err);
		store_pg_close(&s->st);
	}
	return r;
}

static int
store_pg_schema_version(struct store *st, int *ret_version)
{
	return store_pg_version(store_pg_of(st), false, ret_version);
}

/* One round trip: the server answers, or the connection is reset (at most once a second). */
static int
store_pg_check(struct store *st)
{
	return store_pg_exec(store_pg_of(st), STORE_PG_Q_CHECK, NULL);
}

static void
store_pg_cert_params(struct store_pg_params *p, const struct store_cert *c, time_t issued_at)
{
	store_pg_text(p, c->serial);
	store_pg_text(p, c->subject);
	store_pg_text(p, c->sans);
	store_pg_int(p, (int64_t)c->not_before);
	store_pg_int(p, (int64_t)c->not_after);
	store_pg_bytes(p, c->der, c->der_len);
	store_pg_text(p, c->requester);
	store_pg_text(p, c->endpoint);
	store_pg_text(p, c->transaction_id);
	store_pg_int(p, (int64_t)issued_at);
	store_pg_text(p, c->owner);
	store_pg_text(p, c->profile);
	store_pg_text(p, c->ca);
}

static int
store_pg_insert_cert(struct store_pg *s, const struct store_cert *c, time_t issued_at)
{
	struct store_pg_params p = { 0 };

	store_pg_cert_params(&p, c, issued_at);
	return store_pg_exec(s, STORE_PG_Q_ADD_CERT, &p);
}

/* One autocommit INSERT: committed when the server answers. */
static int
store_pg_add_cert(struct store *st, const struct store_cert *cert)
{
	return store_pg_insert_cert(store_pg_of(st), cert, time(NULL));
}

/* A group commit: one transaction, one flush of the server's WAL for them all. */
static int
store_pg_add_certs_once(struct store_pg *s, const struct store_cert *const *certs, size_t n,
			time_t now, int *results)
{
	PGresult *res;
	int r;

	if ((r = store_pg_begin(s)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct store_pg_params p = { 0 };

		store_pg_cert_params(&p, certs[i], now);
		if ((r = store_pg_run(s, STORE_PG_Q_ADD_CERT_OR_SKIP, &p, &res)) < 0)
			goto out;
		results[i] = store_pg_changes(res) == 1 ? 0 : -EEXIST;
		PQclear(res);
	}
	r = store_pg_commit(s);
out:
	store_pg_rollback(s);
	return r;
}

/*
 * A statement the session lost (SQLSTATE 26000) aborted the transaction, which left
 * nothing behind: it is prepared again and the whole transaction runs once more, so
 * that the batch does not fail for it.
 */
static int
store_pg_add_certs(struct store *st, const struct store_cert *const *certs, size_t n, int *results)
{
	struct store_pg *s = store_pg_of(st);
	time_t now = time(NULL);
	int r;

	s->lost = false;
	if ((r = store_pg_add_certs_once(s, certs, n, now, results)) < 0 && s->lost)
		r = store_pg_add_certs_once(s, certs, n, now, results);
	return r;
}

static int
store_pg_count_certs(struct store *st, uint64_t *ret_count)
{
	PGresult *res;
	int r;

	if ((r = store_pg_run(store_pg_of(st), STORE_PG_Q_COUNT_CERTS, NULL, &res)) < 0)
		return r;
	*ret_count = (uint64_t)store_pg_col_int(res, 0, 0);
	PQclear(res);
	return 0;
}

static int
store_pg_get_cert_der(struct store *st, const char *serial, unsigned char **ret_der,
		      size_t *ret_len)
{
	struct store_pg_params p = { 0 };
	const unsigned char *der;
	unsigned char *copy;
	PGresult *res;
	size_t len;
	int r;

	store_pg_text(&p, serial);
	if ((r = store_pg_run(store_pg_of(st), STORE_PG_Q_GET_CERT_DER, &p, &res)) < 0)
		return r;
	if (PQntuples(res) != 1) {
		r = -ENOENT;
		goto out;
	}
	der = store_pg_col_bytes(res, 0, 0, &len);
	if ((copy = malloc(len > 0 ? len : 1)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (len > 0)
		memcpy(copy, der, len);
	*ret_der = copy;
	*ret_len = len;
	r = 0;
out:
	PQclear(res);
	return r;
}

/* Runs a query of STORE_PG_CERT_COLUMNS and hands each row to fn. */
static int
store_pg_walk_cert_rows(struct store_pg *s, enum store_pg_query q, const struct store_pg_params *p,
			int (*fn)(const struct store_cert *cert, void *userdata), void *userdata)
{
	PGresult *res;
	int r;

	if ((r = store_pg_run(s, q, p, &res)) < 0)
		return r;
	for (int i = 0; i < PQntuples(res); i++) {
		struct store_cert c = {
			.serial = store_pg_col_text(res, i, 0),
			.subject = store_pg_col_text(res, i, 1),
			.sans = store_pg_col_text(res, i, 2),
			.not_before = (time_t)store_pg_col_int(res, i, 3),
			.not_after = (time_t)store_pg_col_int(res, i, 4),
			.requester = store_pg_col_text(res, i, 6),
			.endpoint = store_pg_col_text(res, i, 7),
			.transaction_id = store_pg_col_text(res, i, 8),
			.issued_at = (time_t)store_pg_col_int(res, i, 9),
			.owner = store_pg_col_text(res, i, 10),
			.profile = store_pg_col_text(res, i, 11),
			.ca = store_pg_col_text(res, i, 12),
			.revoked_at = (time_t)store_pg_col_int(res, i, 13),
			.revocation_reason =
				PQgetisnull(res, i, 14) ? -1 : (int)store_pg_col_int(res, i, 14),
			.revoked_by = store_pg_col_text(res, i, 15),
		};

		c.der = store_pg_col_bytes(res, i, 5, &c.der_len);
		if ((r = fn(&c, userdata)) < 0)
			break;
	}
	PQclear(res);
	return r;
}

static int
store_pg_walk_certs(struct store *st, const char *serial, const char *transaction_id,
		    int (*fn)(const struct store_cert *cert, void *userdata), void *userdata)
{
	struct store_pg_params p = { 0 };
	enum store_pg_query q = STORE_PG_Q_WALK_CERTS;

	if (serial != NULL) {
		q = STORE_PG_Q_WALK_CERTS_SERIAL;
		store_pg_text(&p, serial);
	} else if (transaction_id != NULL) {
		q = STORE_PG_Q_WALK_CERTS_TRANSACTION;
		store_pg_text(&p, transaction_id);
	}
	return store_pg_walk_cert_rows(store_pg_of(st), q, &p, fn, userdata);
}

static int
store_pg_add_pending(struct store *st, const struct store_pending *req)
{
	struct store_pg_params p = { 0 };

	store_pg_text(&p, req->transaction_id);
	store_pg_text(&p, req->subject);
	store_pg_bytes(&p, req->csr_der, req->csr_der_len);
	if (req->signer_cert_der != NULL)
		store_pg_bytes(&p, req->signer_cert_der, req->signer_cert_der_len);
	else
		store_pg_text(&p, NULL);
	store_pg_text(&p, req->requester);
	store_pg_int(&p, (int64_t)req->received_at);
	store_pg_text(&p, req->owner);
	store_pg_text(&p, req->profile);
	return store_pg_exec(store_pg_of(st), STORE_PG_Q_ADD_PENDING, &p);
}

static int
store_pg_walk_pending(struct store *st, const char *transaction_id,
		      int (*fn)(const struct store_pending *req, void *userdata), void *userdata)
{
	struct store_pg_params p = { 0 };
	PGresult *res;
	int r;

	if (transaction_id != NULL)
		store_pg_text(&p, transaction_id);
	if ((r = store_pg_run(store_pg_of(st),
			      transaction_id != NULL ? STORE_PG_Q_WALK_PENDING_ONE
						     : STORE_PG_Q_WALK_PENDING,
			      &p, &res)) < 0)
		return r;
	for (int i = 0; i < PQntuples(res); i++) {
		struct store_pending q = {
			.transaction_id = store_pg_col_text(res, i, 0),
			.subject = store_pg_col_text(res, i, 1),
			.requester = store_pg_col_text(res, i, 4),
			.received_at = (time_t)store_pg_col_int(res, i, 5),
			.decided_at = (time_t)store_pg_col_int(res, i, 7),
			.serial = store_pg_col_text(res, i, 8),
			.owner = store_pg_col_text(res, i, 9),
			.profile = store_pg_col_text(res, i, 10),
		};

		q.csr_der = store_pg_col_bytes(res, i, 2, &q.csr_der_len);
		q.signer_cert_der = store_pg_col_bytes(res, i, 3, &q.signer_cert_der_len);
		if ((r = store_status_parse(store_pg_col_text(res, i, 6), &q.status)) < 0 ||
		    (r = fn(&q, userdata)) < 0)
			break;
	}
	PQclear(res);
	return r;
}

/* Why a conditional UPDATE of a pending request changed nothing: -ENOENT or -ESTALE. */
static int
store_pg_pending_miss(struct store_pg *s, const char *transaction_id)
{
	struct store_pg_params p = { 0 };
	PGresult *res;
	int r;

	store_pg_text(&p, transaction_id);
	if ((r = store_pg_run(s, STORE_PG_Q_PENDING_STATUS, &p, &res)) < 0)
		return r;
	r = PQntuples(res) > 0 ? -ESTALE : -ENOENT;
	PQclear(res);
	return r;
}

/* One conditional UPDATE: it matches only while the request is in `from`. */
static int
store_pg_set_pending_status(struct store *st, const char *transaction_id, enum store_status from,
			    enum store_status to, time_t now)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_params p = { 0 };
	PGresult *res;
	int r;

	store_pg_text(&p, store_status_name(to));
	store_pg_int(&p, (int64_t)now);
	store_pg_text(&p, transaction_id);
	store_pg_text(&p, store_status_name(from));
	if ((r = store_pg_run(s, STORE_PG_Q_SET_PENDING_STATUS, &p, &res)) < 0)
		return r;
	r = store_pg_changes(res) == 1 ? 0 : 1;
	PQclear(res);
	return r == 1 ? store_pg_pending_miss(s, transaction_id) : 0;
}

/*
 * The certificate and the request's move to issued in one transaction: the UPDATE
 * waits for a racer's row lock and re-checks the status, so only one of two nodes
 * issuing the same approved request commits. Anything short of both rolls back.
 */
static int
store_pg_add_cert_for_pending(struct store *st, const struct store_cert *cert, time_t now)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_params p = { 0 };
	PGresult *res = NULL;
	int r;

	if ((r = store_pg_begin(s)) < 0 || (r = store_pg_insert_cert(s, cert, now)) < 0)
		goto out;
	store_pg_text(&p, cert->serial);
	store_pg_text(&p, cert->transaction_id);
	if ((r = store_pg_run(s, STORE_PG_Q_ISSUE_PENDING, &p, &res)) < 0)
		goto out;
	if (store_pg_changes(res) != 1) {
		store_pg_rollback(s);
		r = store_pg_pending_miss(s, cert->transaction_id);
		goto out;
	}
	r = store_pg_commit(s);
out:
	PQclear(res);
	store_pg_rollback(s);
	return r;
}

static int
store_pg_add_challenge(struct store *st, const struct store_challenge *ch)
{
	struct store_pg_params p = { 0 };

	store_pg_text(&p, ch->secret_hash);
	store_pg_text(&p, ch->owner);
	store_pg_int(&p, (int64_t)ch->created_at);
	store_pg_int(&p, (int64_t)ch->expires_at);
	store_pg_text(&p, ch->profile);
	store_pg_text(&p, ch->subject);
	return store_pg_exec(store_pg_of(st), STORE_PG_Q_ADD_CHALLENGE, &p);
}

/*
 * Why a challenge was not consumed: -ENOENT, -EALREADY (used), -ETIME (expired),
 * -EPERM (another subject's).
 */
static int
store_pg_challenge_miss(struct store_pg *s, const char *secret_hash, const char *profile,
			const char *subject, time_t now)
{
	struct store_pg_params p = { 0 };
	PGresult *res;
	int r;

	store_pg_text(&p, secret_hash);
	store_pg_int(&p, (int64_t)now);
	store_pg_text(&p, profile);
	store_pg_text(&p, subject);
	if ((r = store_pg_run(s, STORE_PG_Q_CHALLENGE_STATE, &p, &res)) < 0)
		return r;
	if (PQntuples(res) == 0)
		r = -ENOENT;
	else if (store_pg_col_int(res, 0, 0))
		r = -EALREADY;
	else if (!store_pg_col_int(res, 0, 1))
		r = -ETIME;
	else if (!store_pg_col_int(res, 0, 2))
		r = -EPERM;
	else
		r = -EIO; /* unused and valid, yet the UPDATE missed it: cannot be */
	PQclear(res);
	return r;
}

/* The UPDATE is the whole decision; RETURNING hands back the owner of the row. */
static int
store_pg_consume_challenge(struct store *st, const char *secret_hash, const char *profile,
			   const char *subject, const char *used_by, time_t now, char **ret_owner)
{
	struct store_pg *s = store_pg_of(st);
	struct store_pg_params p = { 0 };
	const char *owner;
	char *copy = NULL;
	PGresult *res;
	int r;

	store_pg_int(&p, (int64_t)now);
	store_pg_text(&p, used_by);
	store_pg_text(&p, secret_hash);
	store_pg_text(&p, profile);
	store_pg_text(&p, subject);
	if ((r = store_pg_run(s, STORE_PG_Q_CONSUME_CHALLENGE, &p, &res)) < 0)
		return r;
	if (PQntuples(res) == 0) {
		PQclear(res);
		return store_pg_challenge_miss(s, secret_hash, profile, subject, now);
	}
	owner = store_pg_col_text(res, 0, 0);
	if (owner != NULL && (copy = strdup(owner)) == NULL)
		r = -ENOMEM; /* consumed all the same: the challenge is spent */
	else
		*ret_owner = copy;
	PQclear(res);
	return r;
}

/* One pruning DELETE: the rows it deleted in *ret_count. */
static int
store_pg_prune_one(struct store_pg *s, enum store_pg_query q, time_t before, unsigned limit,
		   uint64_t *ret_count)
{
	struct store_pg_params p = { 0 };
	PGresult *res;
	int r;

	store_pg_int(&p, (int64_t)before);
	if (limit > 0)
		store_pg_int(&p, (int64_t)limit);
	else
		store_pg_text(&p, NULL); /* LIMIT NULL: all */
	if ((r = store_pg_run(s, q, &p, &res)) < 0)
		return r;
	*ret_count = (uint64_t)store_pg_changes(res);
	PQclear(res);
	return 0;
}

static int
store_pg_prune(struct store *st, time_t before, unsigned limit, struct store_pruned *ret_pruned)
{
	struct store_pg *s = store_pg_of(st);
	int r;

	if ((r = store_pg_prune_one(s, STORE_PG_Q_PRUNE_CHALLENGES, before, limit,
				    &ret_pruned->challenges)) < 0)
		return r;
	return store_pg_prune_one(s, STORE_PG_Q_PRUNE_REJECTED, before, limit,
				  &ret_pruned->rejected_requests);
}

/*
 * Why a conditional UPDATE of a certificate's revocation changed nothing: -ENOENT (no
 * such certificate), else `valid`, `hold` or `revoked` for its state.
 */
static int
store_pg_revocation_miss(struct store_pg *s, const char *serial, int valid, int hold, int revoked)
{
	struct store_pg_params p = { 0 };
	PGresult *res;
	int r;

	store_pg_text(&p, serial);
	if ((r = store_pg_run(s, STORE_PG_Q_REVOCATION_STATE, &p, &res)) < 0)
		return r;
	if (PQntuples(res) == 0)
		r = -ENOENT;
	else if (!store_pg_col_int(res, 0, 0))
		r = valid;
	else if (store_pg_col_int(res, 0, 1) == STORE_REASON_CERTIFICATE_HOLD)
		r = hold;
	else
		r = revoked;
	PQclear(res);
	return r;
}

/*
 * The conditional UPDATE decides: a racer's UPDATE waits for the row lock and re-checks
 * the condition, so exactly one wins. The counter goes up in the same transaction; its
 * upsert locks the CA's row, so concurrent changes of one CA add up. reason -1: unrevoke.
 */
static int
store_pg_revocation(struct store_pg *s, const char *serial, int reason, time_t when, const char *by)
{
	struct store_pg_params p = { 0 }, b = { 0 };
	PGresult *res = NULL;
	int r;

	if (reason >= 0) {
		store_pg_int(&p, (int64_t)when);
		store_pg_int(&p, reason);
		store_pg_text(&p, by);
		store_pg_text(&p, serial);
	} else {
		store_pg_text(&p, by);
		store_pg_text(&p, serial);
	}
	if ((r = store_pg_begin(s)) < 0 ||
	    (r = store_pg_run(s, reason >= 0 ? STORE_PG_Q_REVOKE : STORE_PG_Q_UNREVOKE, &p, &res)) <
		    0)
		goto out;
	if (store_pg_changes(res) != 1) {
		store_pg_rollback(s);
		r = reason >= 0 ? store_pg_revocation_miss(s, serial, -EIO, -EALREADY, -EALREADY)
				: store_pg_revocation_miss(s, serial, -ESRCH, -EIO, -EPERM);
		goto out;
	}
	store_pg_text(&b, serial);
	if ((r = store_pg_exec(s, STORE_PG_Q_BUMP_CHANGES, &b)) < 0)
		goto out;
	r = store_pg_commit(s);
out:
	PQclear(res);
	store_pg_rollback(s);
	return r;
}

static int
store_pg_revoke(struct store *st, const char *serial, int reason, time_t when, const char *by)
{
	return store_pg_revocation(store_pg_of(st), serial, reason, when, by);
}

static int
store_pg_unrevoke(struct store *st, const char *serial, const char *by)
{
	return store_pg_revocation(store_pg_of(st), serial, -1, 0, by);
}

static int
store_pg_walk_revoked(struct store *st, const char *ca, time_t now,
		      int (*fn)(const struct store_cert *cert, void *userdata), void *userdata)
{
	struct store_pg_params p = { 0 };

	if (ca != NULL)
		store_pg_text(&p, ca);
	store_pg_int(&p, (int64_t)now);
	return store_pg_walk_cert_rows(
		store_pg_of(st), ca != NULL ? STORE_PG_Q_WALK_REVOKED : STORE_PG_Q_WALK_REVOKED_ALL,
		&p, fn, userdata);
}

static int
store_pg_revocation_changes(struct store *st, const char *ca, uint64_t *ret)
{
	struct store_pg_params p = { 0 };
	PGresult *res;
	int r;

	store_pg_text(&p, ca);
	if ((r = store_pg_run(store_pg_of(st), STORE_PG_Q_CHANGES, &p, &res)) < 0)
		return r;
	*ret = PQntuples(res) > 0 ? (uint64_t)store_pg_col_int(res, 0, 0) : 0;
	PQclear(res);
	return 0;
}

static int
store_pg_count_revoked(struct store *st,
		       int (*fn)(const char *ca, const char *profile, uint64_t n, void *userdata),
		       void *userdata)
{
	PGresult *res;
	int r;

	if ((r = store_pg_run(store_pg_of(st), STORE_PG_Q_COUNT_REVOKED, NULL, &res)) < 0)
		return r;
	for (int i = 0; i < PQntuples(res) && r == 0; i++)
		r = fn(store_pg_col_text(res, i, 0), store_pg_col_text(res, i, 1),
		       (uint64_t)store_pg_col_int(res, i, 2), userdata);
	PQclear(res);
	return r;
}

/*
 * One upsert: ON CONFLICT locks the CA's row and evaluates the WHERE on its newest
 * version, so of racing writers only higher numbers replace it; no row is -ESTALE.
 */
static int
store_pg_put_crl(struct store *st, const struct store_crl *crl)
{
	struct store_pg_params p = { 0 };
	PGresult *res;
	int r;

	store_pg_text(&p, crl->ca);
	store_pg_int(&p, (int64_t)crl->number);
	store_pg_bytes(&p, crl->der, crl->der_len);
	store_pg_int(&p, (int64_t)crl->this_update);
	store_pg_int(&p, (int64_t)crl->next_update);
	store_pg_int(&p, (int64_t)crl->changes);
	if ((r = store_pg_run(store_pg_of(st), STORE_PG_Q_PUT_CRL, &p, &res)) < 0)
		return r;
	r = store_pg_changes(res) == 1 ? 0 : -ESTALE;
	PQclear(res);
	return r;
}

static int
store_pg_get_crl(struct store *st, const char *ca,
		 int (*fn)(const struct store_crl *crl, void *userdata), void *userdata)
{
	struct store_pg_params p = { 0 };
	PGresult *res;
	int r;

	store_pg_text(&p, ca);
	if ((r = store_pg_run(store_pg_of(st), STORE_PG_Q_GET_CRL, &p, &res)) < 0)
		return r;
	if (PQntuples(res) > 0) {
		struct store_crl c = {
			.ca = store_pg_col_text(res, 0, 0),
			.number = (uint64_t)store_pg_col_int(res, 0, 1),
			.this_update = (time_t)store_pg_col_int(res, 0, 3),
			.next_update = (time_t)store_pg_col_int(res, 0, 4),
			.changes = (uint64_t)store_pg_col_int(res, 0, 5),
		};

		c.der = store_pg_col_bytes(res, 0, 2, &c.der_len);
		r = fn(&c, userdata);
	}
	PQclear(res);
	return r;
}

static const struct store_ops store_pg_ops = {
	.close = store_pg_close,
	.schema_version = store_pg_schema_version,
	.check = store_pg_check,
	.add_cert = store_pg_add_cert,
	.add_certs = store_pg_add_certs,
	.count_certs = store_pg_count_certs,
	.get_cert_der = store_pg_get_cert_der,
	.walk_certs = store_pg_walk_certs,
	.add_pending = store_pg_add_pending,
	.walk_pending = store_pg_walk_pending,
	.set_pending_status = store_pg_set_pending_status,
	.add_cert_for_pending = store_pg_add_cert_for_pending,
	.add_challenge = store_pg_add_challenge,
	.consume_challenge = store_pg_consume_challenge,
	.prune = store_pg_prune,
	.revoke = store_pg_revoke,
	.unrevoke = store_pg_unrevoke,
	.walk_revoked = store_pg_walk_revoked,
	.revocation_changes = store_pg_revocation_changes,
	.count_revoked = store_pg_count_revoked,
	.put_crl = store_pg_put_crl,
	.get_crl = store_pg_get_crl,
};
