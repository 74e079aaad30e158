/*
 * test_store_pg.c - store.h's contract against a real PostgreSQL server
 * (store_pg.c): the schema and its version, add/get/count, duplicate and respelled
 * serials, walks, pending requests and their transitions, one-time challenges,
 * threads sharing a handle (group commit),
 * several processes (nodes, in effect) opening a new database at once, racing to
 * consume one challenge, to decide one request and to issue it; and a connection that
 * comes back after the server restarted.
 *
 * Run by tests/integration/t_store_pg.sh, which starts a private server and gives
 * its URI in SCEPD_TEST_PG_URI (and, for the restart, SCEPD_TEST_PG_RESTART: a shell
 * command that restarts it). Without SCEPD_TEST_PG_URI the test is skipped (77).
 * Each test starts from an empty database: setup() drops scepd's tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "scepd/store.h"
#include "store_races.h"
#include "store_threads.h"

#define DER_LEN     600
#define RACERS      4
#define RACE_ROUNDS 10
#define OPENERS     4

static const char *pg_uri;

struct test_cert {
	char serial[32];
	char subject[64];
	unsigned char der[DER_LEN];
	struct store_cert c;
};

static void
test_cert_make(struct test_cert *t, unsigned id, const char *serial, const char *txid)
{
	memset(t, 0, sizeof(*t));
	if (serial != NULL)
		snprintf(t->serial, sizeof(t->serial), "%s", serial);
	else
		snprintf(t->serial, sizeof(t->serial), "%X", 0x20000u + id);
	snprintf(t->subject, sizeof(t->subject), "CN=pg%u.example", id);
	for (size_t i = 0; i < sizeof(t->der); i++)
		t->der[i] = (unsigned char)(i * 29 + id * 3); /* a 0 byte too: bytea, not text */
	t->c = (struct store_cert){
		.serial = t->serial,
		.subject = t->subject,
		.sans = "DNS:pg.example",
		.not_before = 1700000000 + (time_t)id,
		.not_after = 1731536000 + (time_t)id,
		.der = t->der,
		.der_len = sizeof(t->der),
		.requester = "192.0.2.9",
		.endpoint = txid != NULL ? "scep" : "csr",
		.transaction_id = txid,
	};
}

/* The first column of the first row of sql, as text, from a connection of our own. */
static void
db_text(const char *sql, char *buf, size_t size)
{
	PGconn *db = PQconnectdb(pg_uri);
	PGresult *res;

	assert_int_equal(PQstatus(db), CONNECTION_OK);
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

static int
setup(void **state)
{
	PGconn *db = PQconnectdb(pg_uri);
	PGresult *res;

	(void)state;
	assert_int_equal(PQstatus(db), CONNECTION_OK);
	res = PQexec(db, "SET client_min_messages = warning; "
			 "DROP TABLE IF EXISTS pending_requests, certificates, challenges, "
			 "scepd_schema");
	assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
	PQfinish(db);
	return 0;
}

static struct store *
open_store(void)
{
	struct store *st = NULL;

	assert_int_equal(store_open(pg_uri, &st), 0);
	assert_non_null(st);
	return st;
}

static void
assert_count(struct store *st, uint64_t want)
{
	uint64_t n = 0;

	assert_int_equal(store_count_certs(st, &n), 0);
	assert_int_equal(n, want);
}

/* RACERS processes race for key: how many won. */
static unsigned
race_run(const char *key, int lost, int (*fn)(struct store *st, unsigned i, const char *key))
{
	unsigned winner = 0;

	return store_race_run(&(struct store_race){ pg_uri, key, lost, fn, 200 }, RACERS, &winner);
}

/* Tests */

static void
test_schema(void **state)
{
	struct store *st;

	(void)state;
	/* scepctl's open of an empty database: no schema, nothing created. */
	assert_int_equal(store_open_flags(pg_uri, STORE_OPEN_NO_CREATE, &st), -ENOENT);
	assert_int_equal(db_int("SELECT count(*) FROM pg_tables WHERE tablename = 'certificates'"),
			 0);
	st = open_store();
	assert_int_equal(db_int("SELECT version FROM scepd_schema"), 2);
	assert_int_equal(
		db_int("SELECT count(*) FROM pg_tables WHERE tablename IN "
		       "('certificates', 'pending_requests', 'challenges', 'scepd_schema')"),
		4);
	assert_count(st, 0);
	store_close(st);
	assert_int_equal(store_open_flags(pg_uri, STORE_OPEN_NO_CREATE, &st), 0);
	store_close(st);

	/* A schema newer than this scepd knows is refused, not used. */
	{
		PGconn *db = PQconnectdb(pg_uri);

		PQclear(PQexec(db, "UPDATE scepd_schema SET version = 99"));
		PQfinish(db);
	}
	assert_int_equal(store_open(pg_uri, &st), -EBADMSG);
}

static void
test_certs(void **state)
{
	struct store *st = open_store();
	struct store_cert *got = NULL;
	struct test_cert t[3], again;
	unsigned char *der = NULL;
	time_t now = time(NULL);
	char text[256];
	size_t len = 0;

	(void)state;
	test_cert_make(&t[0], 0, "003a9f", NULL);
	test_cert_make(&t[1], 1, NULL, "TX-PG-1");
	test_cert_make(&t[2], 2, NULL, "TX-PG-1");
	for (int i = 0; i < 3; i++)
		assert_int_equal(store_add_cert(st, &t[i].c), 0);
	assert_count(st, 3);

	/* The serial is the key, however spelled. */
	test_cert_make(&again, 9, "3A9F", NULL);
	assert_int_equal(store_add_cert(st, &again.c), -EEXIST);
	test_cert_make(&again, 9, "0003a9F", NULL);
	assert_int_equal(store_add_cert(st, &again.c), -EEXIST);
	assert_count(st, 3);
	assert_int_equal(store_get_cert_der(st, "3a9f", &der, &len), 0);
	assert_int_equal(len, DER_LEN);
	assert_memory_equal(der, t[0].der, DER_LEN);
	free(der);
	assert_int_equal(store_get_cert_der(st, "ABCDEF", &der, &len), -ENOENT);

	/* Every column as given; issued_at is now. */
	assert_int_equal(store_get_cert(st, t[1].serial, &got), 0);
	assert_string_equal(got->serial, "20001");
	assert_string_equal(got->subject, "CN=pg1.example");
	assert_string_equal(got->sans, "DNS:pg.example");
	assert_int_equal(got->not_before, 1700000001);
	assert_int_equal(got->not_after, 1731536001);
	assert_string_equal(got->requester, "192.0.2.9");
	assert_string_equal(got->endpoint, "scep");
	assert_string_equal(got->transaction_id, "TX-PG-1");
	assert_true(got->issued_at >= now && got->issued_at <= time(NULL));
	assert_memory_equal(got->der, t[1].der, DER_LEN);
	store_cert_free(got);
	db_text("SELECT serial || '|' || coalesce(transaction_id, 'NULL') || '|' || length(der) "
		"FROM certificates ORDER BY seq LIMIT 1",
		text, sizeof(text));
	assert_string_equal(text, "3A9F|NULL|600");
	store_close(st);
}

static int
collect_cert(const struct store_cert *cert, void *userdata)
{
	char *keys = userdata;

	snprintf(keys + strlen(keys), 256 - strlen(keys), "%s ", cert->serial);
	return 0;
}

static void
test_walks(void **state)
{
	struct store *st = open_store();
	struct test_cert t;
	char keys[256] = "";

	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		test_cert_make(&t, i, NULL, i % 2 ? "TX-WALK" : NULL);
		assert_int_equal(store_add_cert(st, &t.c), 0);
	}
	assert_int_equal(store_walk_certs(st, collect_cert, keys), 0);
	assert_string_equal(keys, "20000 20001 20002 20003 ");
	keys[0] = '\0';
	assert_int_equal(store_walk_certs_by_transaction(st, "TX-WALK", collect_cert, keys), 0);
	assert_string_equal(keys, "20001 20003 ");
	keys[0] = '\0';
	assert_int_equal(store_walk_certs_by_transaction(st, "TX-NONE", collect_cert, keys), 0);
	assert_string_equal(keys, "");
	store_close(st);
}

static void
test_pending(void **state)
{
	static const unsigned char csr[] = { 0x30, 0x00, 0x01, 0x02 };
	struct store *st = open_store();
	struct store_pending *got = NULL;
	struct test_cert t;

	(void)state;
	assert_int_equal(
		store_add_pending(st, &(struct store_pending){ .transaction_id = "TX-P1",
							       .subject = "CN=d1",
							       .csr_der = csr,
							       .csr_der_len = sizeof(csr),
							       .requester = "198.51.100.1" }),
		0);
	assert_int_equal(
		store_add_pending(st, &(struct store_pending){ .transaction_id = "TX-P1",
							       .csr_der = csr,
							       .csr_der_len = sizeof(csr) }),
		-EEXIST);
	assert_int_equal(store_get_pending(st, "TX-P1", &got), 0);
	assert_int_equal(got->status, STORE_STATUS_PENDING);
	assert_string_equal(got->subject, "CN=d1");
	assert_int_equal(got->csr_der_len, sizeof(csr));
	assert_memory_equal(got->csr_der, csr, sizeof(csr));
	assert_null(got->signer_cert_der);
	assert_null(got->serial);
	store_pending_free(got);
	assert_int_equal(store_get_pending(st, "TX-NONE", &got), -ENOENT);

	/* Issuing before approval is refused; approve, then issue once. */
	test_cert_make(&t, 1, NULL, "TX-P1");
	assert_int_equal(store_add_cert_for_pending(st, &t.c), -ESTALE);
	assert_count(st, 0); /* rolled back */
	assert_int_equal(store_set_pending_status(st, "TX-NONE", STORE_STATUS_PENDING,
						  STORE_STATUS_APPROVED),
			 -ENOENT);
	assert_int_equal(
		store_set_pending_status(st, "TX-P1", STORE_STATUS_PENDING, STORE_STATUS_APPROVED),
		0);
	assert_int_equal(
		store_set_pending_status(st, "TX-P1", STORE_STATUS_PENDING, STORE_STATUS_REJECTED),
		-ESTALE);
	assert_int_equal(store_add_cert_for_pending(st, &t.c), 0);
	assert_int_equal(store_get_pending(st, "TX-P1", &got), 0);
	assert_int_equal(got->status, STORE_STATUS_ISSUED);
	assert_string_equal(got->serial, t.serial);
	assert_true(got->decided_at > 0);
	store_pending_free(got);
	test_cert_make(&t, 2, NULL, "TX-P1");
	assert_int_equal(store_add_cert_for_pending(st, &t.c), -ESTALE);
	test_cert_make(&t, 3, NULL, "TX-NONE");
	assert_int_equal(store_add_cert_for_pending(st, &t.c), -ENOENT);
	assert_count(st, 1);
	store_close(st);
}

static void
test_challenges(void **state)
{
	struct store *st = open_store();
	char *owner = NULL;
	time_t now = time(NULL);
	const char *live = "00000000000000000000000000000000000000000000000000000000000000aa";
	const char *old = "00000000000000000000000000000000000000000000000000000000000000bb";

	(void)state;
	assert_int_equal(store_add_challenge(st,
					     &(struct store_challenge){
						     .secret_hash = live,
						     .owner = "alice",
						     .expires_at = now + 3600,
					     }),
			 0);
	assert_int_equal(store_add_challenge(st,
					     &(struct store_challenge){
						     .secret_hash = live,
						     .expires_at = now + 3600,
					     }),
			 -EEXIST);
	assert_int_equal(store_add_challenge(st,
					     &(struct store_challenge){
						     .secret_hash = old,
						     .created_at = now - 7200,
						     .expires_at = now - 3600,
					     }),
			 0);
	assert_int_equal(store_consume_challenge(st, old, "x", &owner), -ETIME);
	assert_int_equal(store_consume_challenge(st, live, "192.0.2.1", &owner), 0);
	assert_string_equal(owner, "alice");
	free(owner);
	assert_int_equal(store_consume_challenge(st, live, "192.0.2.1", &owner), -EALREADY);
	assert_int_equal(store_consume_challenge(
				 st,
				 "1111111111111111111111111111111111111111111111111111111111111111",
				 "x", &owner),
			 -ENOENT);
	assert_int_equal(db_int("SELECT count(*) FROM challenges WHERE used_by = '192.0.2.1'"), 1);
	store_close(st);
}

/* A worker's request threads sharing its connection: group commit, one winner a serial. */
static void
test_threads(void **state)
{
	struct store *st = open_store();

	(void)state;
	store_threads_check(st, 0x300000);
	store_close(st);
	assert_int_equal(db_int("SELECT count(DISTINCT serial) FROM certificates"),
			 db_int("SELECT count(*) FROM certificates"));
}

/* Several nodes' workers meeting an empty database at once: one schema, no error. */
static void
test_schema_race(void **state)
{
	pid_t pids[OPENERS];
	int status;

	(void)state;
	for (unsigned i = 0; i < OPENERS; i++) {
		assert_true((pids[i] = fork()) >= 0);
		if (pids[i] == 0) {
			struct store *st = NULL;
			int r = store_open(pg_uri, &st);

			store_close(st);
			_exit(r < 0 ? 100 - r : 0);
		}
	}
	for (unsigned i = 0; i < OPENERS; i++) {
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status));
		if (WEXITSTATUS(status) != 0)
			fail_msg("opener %u: %s", i, strerror(WEXITSTATUS(status) - 100));
	}
	assert_int_equal(db_int("SELECT count(*) FROM scepd_schema"), 1);
}

static int
race_consume(struct store *st, unsigned i, const char *key)
{
	char used_by[16], *owner = NULL;
	int r;

	snprintf(used_by, sizeof(used_by), "racer %u", i);
	if ((r = store_consume_challenge(st, key, used_by, &owner)) == 0)
		free(owner);
	return r;
}

static int
race_decide(struct store *st, unsigned i, const char *key)
{
	return store_set_pending_status(st, key, STORE_STATUS_PENDING,
					i % 2 ? STORE_STATUS_REJECTED : STORE_STATUS_APPROVED);
}

static int
race_issue(struct store *st, unsigned i, const char *key)
{
	struct test_cert t;
	char serial[32];

	snprintf(serial, sizeof(serial), "%X%02X", (unsigned)strtoul(key + 3, NULL, 10) + 0xA00u,
		 i);
	test_cert_make(&t, i, serial, key);
	return store_add_cert_for_pending(st, &t.c);
}

/* Processes (nodes) racing for one row: exactly one wins each round. */
static void
test_races(void **state)
{
	static const unsigned char csr[] = { 0x30, 0x00 };
	struct store *st = open_store();
	char key[80];

	(void)state;
	for (unsigned round = 0; round < RACE_ROUNDS; round++) {
		snprintf(key, sizeof(key), "%064x", 0xc0ffee00u + round);
		assert_int_equal(store_add_challenge(st,
						     &(struct store_challenge){
							     .secret_hash = key,
							     .expires_at = time(NULL) + 600,
						     }),
				 0);
		assert_int_equal(race_run(key, -EALREADY, race_consume), 1);

		snprintf(key, sizeof(key), "TX-%u", round);
		assert_int_equal(store_add_pending(st,
						   &(struct store_pending){
							   .transaction_id = key,
							   .csr_der = csr,
							   .csr_der_len = sizeof(csr),
						   }),
				 0);
		assert_int_equal(race_run(key, -ESTALE, race_decide), 1);
		/* Whoever decided: approve it now if it was rejected, then race to issue. */
		(void)store_set_pending_status(st, key, STORE_STATUS_PENDING,
					       STORE_STATUS_APPROVED);
		{
			struct store_pending *p = NULL;

			assert_int_equal(store_get_pending(st, key, &p), 0);
			if (p->status == STORE_STATUS_APPROVED)
				assert_int_equal(race_run(key, -ESTALE, race_issue), 1);
			store_pending_free(p);
		}
	}
	assert_int_equal(db_int("SELECT count(*) FROM challenges WHERE used_at IS NOT NULL"),
			 RACE_ROUNDS);
	assert_int_equal(db_int("SELECT count(*) FROM certificates"),
			 db_int("SELECT count(*) FROM pending_requests WHERE status = 'issued'"));
	store_close(st);
}

/* The server restarts under an open handle: the next calls reconnect by themselves. */
static void
test_reconnect(void **state)
{
	const char *restart = getenv("SCEPD_TEST_PG_RESTART");
	struct store *st;
	struct test_cert t;
	int r = -1;

	(void)state;
	if (restart == NULL)
		skip();
	st = open_store();
	test_cert_make(&t, 1, NULL, NULL);
	assert_int_equal(store_add_cert(st, &t.c), 0);
	assert_int_equal(system(restart), 0);
	test_cert_make(&t, 2, NULL, NULL);
	for (int i = 0; i < 50 && r != 0; i++) {
		r = store_add_cert(st, &t.c);
		if (r != 0) {
			assert_true(r == -ENOTCONN || r == -EIO);
			usleep(100000);
		}
	}
	assert_int_equal(r, 0);
	assert_count(st, 2);
	store_close(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_schema, setup),
		cmocka_unit_test_setup(test_certs, setup),
		cmocka_unit_test_setup(test_walks, setup),
		cmocka_unit_test_setup(test_pending, setup),
		cmocka_unit_test_setup(test_challenges, setup),
		cmocka_unit_test_setup(test_threads, setup),
		cmocka_unit_test_setup(test_schema_race, setup),
		cmocka_unit_test_setup(test_races, setup),
		cmocka_unit_test_setup(test_reconnect, setup),
	};

	if ((pg_uri = getenv("SCEPD_TEST_PG_URI")) == NULL) {
		fprintf(stderr, "test_store_pg: SCEPD_TEST_PG_URI is not set: skipped\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
