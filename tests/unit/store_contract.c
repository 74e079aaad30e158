/*
 * store_contract.c - store.h's contract, the same tests on every backend
 * (store_contract.h): add/get/count, duplicate serials and their spellings,
 * malformed certificates, persistence across opens, several processes writing at
 * once, threads sharing a handle (group commit), workers creating a new database at
 * the same moment, opening without creating, a schema newer than this scepd; the
 * certificate walks and copies; pending requests and their status transitions; the
 * profile and CA of certificates and requests; one-time challenges; processes racing
 * to consume one challenge, to approve and reject one request, and to issue or
 * withdraw an approved one; revocation (revoke, unrevoke a hold, the per-CA counter,
 * the CRL list of each CA), stored CRLs, and processes racing to revoke one certificate
 * or to store CRLs.
 *
 * Each test starts from an empty database (the backend's reset()) in a temporary
 * directory of its own. The "DER" of the test certificates is a byte pattern, not a
 * certificate (with 0 bytes in it: a blob, not text): the store never parses it. The
 * tests read the database with SQL of their own that both backends understand.
 */
#include "store_contract.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "scepd/store.h"
#include "store_races.h"
#include "store_threads.h"
#include "testlib.h"

#define WRITERS      4
#define PER_WRITER   200
#define RACE_ROUNDS  20
#define RACE_OPENERS 4
#define SENTINEL     ((struct store *)0x5ca1ab1e)
#define RACERS       4
#define RACE_CONSUME 50 /* rounds of RACERS processes consuming one challenge */
#define RACE_DECIDE  25 /* rounds of each decision race */
#define CSR_LEN      300

/* Helpers */

void
store_contract_cert_make(struct store_contract_cert *t, unsigned id, const char *serial)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	if (serial != NULL)
		snprintf(t->serial, sizeof(t->serial), "%s", serial);
	else
		snprintf(t->serial, sizeof(t->serial), "%X", 0x10000u + id);
	snprintf(t->subject, sizeof(t->subject), "CN=host%u.example", id);
	for (i = 0; i < sizeof(t->der); i++)
		t->der[i] = (unsigned char)(i * 31 + id * 7);
	t->der[0] = 0x30; /* looks like a SEQUENCE, for whoever reads the file */
	t->c = (struct store_cert){
		.serial = t->serial,
		.subject = t->subject,
		.sans = id % 2 ? "DNS:a.example, IP Address:192.0.2.1" : "",
		.not_before = 1700000000 + (time_t)id,
		.not_after = 1731536000 + (time_t)id,
		.der = t->der,
		.der_len = sizeof(t->der),
		.requester = "192.0.2.7",
		.endpoint = id % 2 ? "scep" : "csr",
		.transaction_id = id % 2 ? "7A1F0C" : NULL,
		.owner = id % 2 ? "laptop-7" : NULL,
		.profile = id % 2 ? "mdm" : NULL,
		.ca = id % 2 ? "issuing-2" : NULL,
	};
}

long long
store_contract_int(const struct store_contract_env *env, const char *sql)
{
	char buf[64];

	env->b->sql_text(env, sql, buf, sizeof(buf));
	return strtoll(buf, NULL, 10);
}

static void
assert_cert_der(struct store *st, const char *serial, const struct store_contract_cert *want)
{
	unsigned char *der = NULL;
	size_t len = 0;

	assert_int_equal(store_get_cert_der(st, serial, &der, &len), 0);
	assert_int_equal(len, want->c.der_len);
	assert_memory_equal(der, want->c.der, len);
	free(der);
}

void
store_contract_assert_count(struct store *st, uint64_t want)
{
	uint64_t n = 0;

	assert_int_equal(store_count_certs(st, &n), 0);
	assert_int_equal(n, want);
}

int
store_contract_setup(void **state)
{
	struct store_contract_env *env;

	assert_non_null(env = calloc(1, sizeof(*env)));
	env->b = *state;
	env->dir = testlib_tmpdir("test_store");
	env->b->reset(env);
	*state = env;
	return 0;
}

int
store_contract_teardown(void **state)
{
	struct store_contract_env *env = *state;

	testlib_rmtree(env->dir);
	free(env->dir);
	free(env);
	return 0;
}

/* Children: no cmocka in them, an exit status instead (0, or 100 + errno). */
static void
wait_go(int fd)
{
	char c;

	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
}

static void
child_add(const char *uri, int go_fd, unsigned first, unsigned n)
{
	struct store_contract_cert t;
	struct store *st = NULL;
	unsigned i;
	int r;

	wait_go(go_fd);
	if ((r = store_open(uri, &st)) < 0)
		_exit(100 - r);
	for (i = first; i < first + n; i++) {
		store_contract_cert_make(&t, i, NULL);
		if ((r = store_add_cert(st, &t.c)) < 0) {
			store_close(st);
			_exit(100 - r);
		}
	}
	store_close(st);
	_exit(0);
}

/* Forks n children adding per_child certificates each, all started at once. */
static void
run_children(const char *uri, unsigned n, unsigned per_child)
{
	pid_t pids[16];
	int go[2], status[16];
	unsigned i;

	assert_true(n <= 16);
	assert_int_equal(pipe(go), 0);
	for (i = 0; i < n; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			close(go[1]);
			child_add(uri, go[0], i * per_child, per_child);
		}
	}
	close(go[0]);
	close(go[1]); /* EOF on the pipe: every child starts now */
	/* Reap all of them before failing: teardown removes their files. */
	for (i = 0; i < n; i++)
		assert_int_equal(waitpid(pids[i], &status[i], 0), pids[i]);
	for (i = 0; i < n; i++) {
		assert_true(WIFEXITED(status[i]));
		if (WEXITSTATUS(status[i]) != 0)
			fail_msg("child %u: %s", i, strerror(WEXITSTATUS(status[i]) - 100));
	}
}

/* A SHA-256-sized hex string for challenge n: not a real digest, the store never checks. */
static void
test_hash(char buf[STORE_SHA256_HEX_LEN + 1], unsigned n)
{
	snprintf(buf, STORE_SHA256_HEX_LEN + 1, "%064x", n + 0xabc000u);
}

struct test_pending {
	char txid[64];
	char subject[64];
	unsigned char csr[CSR_LEN];
	unsigned char signer[STORE_CONTRACT_DER_LEN];
	struct store_pending p;
};

static void
test_pending_make(struct test_pending *t, unsigned id, time_t received_at)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	snprintf(t->txid, sizeof(t->txid), "TX%04u-C0FFEE", id);
	snprintf(t->subject, sizeof(t->subject), "CN=device%u,O=Example", id);
	for (i = 0; i < sizeof(t->csr); i++)
		t->csr[i] = (unsigned char)(i * 13 + id);
	for (i = 0; i < sizeof(t->signer); i++)
		t->signer[i] = (unsigned char)(i * 17 + id);
	t->p = (struct store_pending){
		.transaction_id = t->txid,
		.subject = t->subject,
		.csr_der = t->csr,
		.csr_der_len = sizeof(t->csr),
		.signer_cert_der = t->signer,
		.signer_cert_der_len = sizeof(t->signer),
		.requester = "198.51.100.4",
		.owner = "laptop-7",
		.profile = "mdm",
		.received_at = received_at,
	};
}

static void
assert_status(struct store *st, const char *txid, enum store_status want)
{
	struct store_pending *p = NULL;

	assert_int_equal(store_get_pending(st, txid, &p), 0);
	assert_int_equal(p->status, want);
	store_pending_free(p);
}

/* Collects what a walk hands over: serials or transaction ids, joined by spaces. */
struct test_walk {
	char keys[4096];
	unsigned calls;
	unsigned stop_after; /* 0: never stop */
};

static void
test_walk_add(struct test_walk *w, const char *key)
{
	size_t len = strlen(w->keys);

	snprintf(w->keys + len, sizeof(w->keys) - len, "%s%s", len > 0 ? " " : "", key);
}

static int
test_walk_cert_fn(const struct store_cert *cert, void *userdata)
{
	struct test_walk *w = userdata;

	if (w->stop_after > 0 && w->calls == w->stop_after)
		return -ECANCELED;
	w->calls++;
	test_walk_add(w, cert->serial);
	return 0;
}

static int
test_walk_pending_fn(const struct store_pending *req, void *userdata)
{
	struct test_walk *w = userdata;

	if (w->stop_after > 0 && w->calls == w->stop_after)
		return -ECANCELED;
	w->calls++;
	test_walk_add(w, req->transaction_id);
	return 0;
}

/* "SERIAL:PROFILE:CA" of each certificate, "-" for NULL. */
static int
test_walk_cert_profile_fn(const struct store_cert *cert, void *userdata)
{
	char key[128];

	snprintf(key, sizeof(key), "%s:%s:%s", cert->serial,
		 cert->profile != NULL ? cert->profile : "-", cert->ca != NULL ? cert->ca : "-");
	test_walk_add(userdata, key);
	return 0;
}

/* "TXID:PROFILE" of each request, "-" for NULL. */
static int
test_walk_pending_profile_fn(const struct store_pending *req, void *userdata)
{
	char key[STORE_TRANSACTION_ID_MAX + 64];

	snprintf(key, sizeof(key), "%s:%s", req->transaction_id,
		 req->profile != NULL ? req->profile : "-");
	test_walk_add(userdata, key);
	return 0;
}

/* One race of RACERS processes, which exactly one must win: the winner's index. */
static unsigned
race_once(struct store_race *rc, const struct store_contract_env *env, const char *key)
{
	unsigned winner = 0;

	rc->uri = env->uri;
	rc->key = key;
	rc->settle_ms = env->b->settle_ms;
	if (store_race_run(rc, RACERS, &winner) != 1)
		fail_msg("not one winner for %s", key);
	return winner;
}

static int
race_consume(struct store *st, unsigned i, const char *key)
{
	char used_by[32], *owner = NULL;
	int r;

	snprintf(used_by, sizeof(used_by), "racer %u", i);
	if ((r = store_consume_challenge(st, key, "scep", NULL, used_by, &owner)) == 0) {
		r = owner != NULL && strcmp(owner, "alice") == 0 ? 0 : -EPROTO;
		free(owner);
	}
	return r;
}

/* Even racers approve, odd ones reject. */
static int
race_decide(struct store *st, unsigned i, const char *key)
{
	return store_set_pending_status(st, key, STORE_STATUS_PENDING,
					i % 2 ? STORE_STATUS_REJECTED : STORE_STATUS_APPROVED);
}

/* Even racers issue (each its own serial), odd ones withdraw the approval. */
static int
race_issue(struct store *st, unsigned i, const char *key)
{
	struct store_contract_cert t;

	if (i % 2)
		return store_set_pending_status(st, key, STORE_STATUS_APPROVED,
						STORE_STATUS_REJECTED);
	store_contract_cert_make(&t, i, NULL);
	snprintf(t.serial, sizeof(t.serial), "%s%02u", key + 2, i); /* "TX0003-..." -> hex */
	t.serial[4] = 'A';
	t.c.transaction_id = key;
	return store_add_cert_for_pending(st, &t.c);
}

/* Tests */

static void
test_roundtrip(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_contract_cert t[3];
	char text[256];
	time_t now = time(NULL);
	unsigned i;

	assert_int_equal(store_open(env->uri, &st), 0);
	for (i = 0; i < 3; i++) {
		store_contract_cert_make(&t[i], i, NULL);
		assert_int_equal(store_add_cert(st, &t[i].c), 0);
	}
	store_contract_assert_count(st, 3);
	for (i = 0; i < 3; i++)
		assert_cert_der(st, t[i].serial, &t[i]);

	/* Every column as given; issued_at is now. */
	env->b->sql_text(env,
			 "SELECT serial || '|' || subject || '|' || sans || '|' || not_before || "
			 "'|' || not_after || '|' || length(der) || '|' || requester || '|' || "
			 "endpoint || '|' || coalesce(transaction_id, 'NULL') || '|' || "
			 "coalesce(CAST(revoked_at AS TEXT), 'NULL') || '|' || "
			 "coalesce(profile, 'NULL') || '|' || coalesce(ca, 'NULL') "
			 "FROM certificates WHERE serial = '10001'",
			 text, sizeof(text));
	assert_string_equal(text, "10001|CN=host1.example|DNS:a.example, IP Address:192.0.2.1|"
				  "1700000001|1731536001|700|192.0.2.7|scep|7A1F0C|NULL|mdm|"
				  "issuing-2");
	env->b->sql_text(env,
			 "SELECT coalesce(transaction_id, 'NULL') || '|' || "
			 "coalesce(profile, 'NULL') || '|' || coalesce(ca, 'NULL') "
			 "FROM certificates WHERE serial = '10000'",
			 text, sizeof(text));
	assert_string_equal(text, "NULL|NULL|NULL"); /* NULL is stored as NULL */
	assert_true(store_contract_int(env, "SELECT min(issued_at) FROM certificates") >= now);
	assert_true(store_contract_int(env, "SELECT max(issued_at) FROM certificates") <=
		    time(NULL));
	store_close(st);
	env->b->assert_intact(env);
}

static void
test_duplicate(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_contract_cert first, again;

	assert_int_equal(store_open(env->uri, &st), 0);
	store_contract_cert_make(&first, 1, "3A9F");
	assert_int_equal(store_add_cert(st, &first.c), 0);

	/* The same serial, however spelled, with other contents. */
	store_contract_cert_make(&again, 2, "3A9F");
	assert_int_equal(store_add_cert(st, &again.c), -EEXIST);
	store_contract_cert_make(&again, 3, "003a9f");
	assert_int_equal(store_add_cert(st, &again.c), -EEXIST);
	store_contract_cert_make(&again, 4, "0003a9F");
	assert_int_equal(store_add_cert(st, &again.c), -EEXIST);

	store_contract_assert_count(st, 1);
	assert_cert_der(st, "3A9F", &first);
	store_close(st);
	assert_int_equal(store_contract_int(env, "SELECT not_before FROM certificates"),
			 1700000001);
	env->b->assert_intact(env);
}

static void
test_serial_lookup(void **state)
{
	/* clang-format off */
	static const struct {
		const char *serial;
		int r;
		int zero; /* finds the certificate with serial 0 */
	} cases[] = {
		{ "3A9F", 0, 0 }, { "3a9f", 0, 0 }, { "003A9F", 0, 0 }, { "0003a9F", 0, 0 },
		{ "0", 0, 1 }, { "00", 0, 1 }, { "000", 0, 1 },
		{ "3A9F0", -ENOENT, 0 }, { "A9F", -ENOENT, 0 }, { "1", -ENOENT, 0 },
		{ "", -ENOENT, 0 }, { "xyz", -ENOENT, 0 }, { "0x3A9F", -ENOENT, 0 },
		{ "-3A9F", -ENOENT, 0 }, { " 3A9F", -ENOENT, 0 }, { "3A9F ", -ENOENT, 0 },
		{ "ABCDEF", -ENOENT, 0 },
	};
	/* clang-format on */
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_contract_cert t, zero;
	unsigned char *der;
	size_t i, len;

	assert_int_equal(store_open(env->uri, &st), 0);
	store_contract_cert_make(&t, 1, "003a9f"); /* stored as 3A9F */
	assert_int_equal(store_add_cert(st, &t.c), 0);
	store_contract_cert_make(&zero, 2, "00"); /* stored as 0 */
	assert_int_equal(store_add_cert(st, &zero.c), 0);
	assert_int_equal(store_contract_int(env, "SELECT count(*) FROM certificates "
						 "WHERE serial IN ('3A9F', '0')"),
			 2);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		der = (unsigned char *)"untouched";
		len = 12345;
		if (store_get_cert_der(st, cases[i].serial, &der, &len) != cases[i].r)
			fail_msg("serial \"%s\": expected %d", cases[i].serial, cases[i].r);
		if (cases[i].r < 0) {
			assert_string_equal((const char *)der, "untouched");
			assert_int_equal(len, 12345);
			continue;
		}
		assert_int_equal(len, STORE_CONTRACT_DER_LEN);
		assert_memory_equal(der, cases[i].zero ? zero.der : t.der, len);
		free(der);
	}
	store_close(st);
}

static void
test_invalid_cert(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_contract_cert t;
	uint64_t n = 99;

	assert_int_equal(store_open(env->uri, &st), 0);
	store_contract_cert_make(&t, 1, "12G4");
	assert_int_equal(store_add_cert(st, &t.c), -EINVAL);
	store_contract_cert_make(&t, 1, "");
	assert_int_equal(store_add_cert(st, &t.c), -EINVAL);
	store_contract_cert_make(&t, 1, NULL);
	t.c.subject = NULL;
	assert_int_equal(store_add_cert(st, &t.c), -EINVAL);
	store_contract_cert_make(&t, 1, NULL);
	t.c.sans = NULL;
	assert_int_equal(store_add_cert(st, &t.c), -EINVAL);
	store_contract_cert_make(&t, 1, NULL);
	t.c.endpoint = NULL;
	assert_int_equal(store_add_cert(st, &t.c), -EINVAL);
	store_contract_cert_make(&t, 1, NULL);
	t.c.der_len = 0;
	assert_int_equal(store_add_cert(st, &t.c), -EINVAL);
	store_contract_cert_make(&t, 1, NULL);
	t.c.requester = NULL; /* optional */
	assert_int_equal(store_add_cert(st, &t.c), 0);
	assert_int_equal(store_count_certs(st, &n), 0);
	assert_int_equal(n, 1);
	store_close(st);
	store_close(NULL);
}

static void
test_reopen(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_contract_cert a, b;

	assert_int_equal(store_open(env->uri, &st), 0);
	store_contract_cert_make(&a, 1, NULL);
	assert_int_equal(store_add_cert(st, &a.c), 0);
	store_close(st);

	st = NULL;
	assert_int_equal(store_open(env->uri, &st), 0);
	store_contract_assert_count(st, 1);
	assert_cert_der(st, a.serial, &a);
	store_contract_cert_make(&b, 2, NULL);
	assert_int_equal(store_add_cert(st, &b.c), 0);
	assert_int_equal(store_add_cert(st, &a.c), -EEXIST);
	store_close(st);

	st = NULL;
	assert_int_equal(store_open(env->uri, &st), 0);
	store_contract_assert_count(st, 2);
	assert_cert_der(st, b.serial, &b);
	store_close(st);
	assert_int_equal(env->b->schema_version(env), STORE_CONTRACT_SCHEMA);
	env->b->assert_intact(env);
}

/* WRITERS processes add PER_WRITER certificates each at the same time: the busy timeout. */
static void
test_concurrent_writers(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_contract_cert t;

	assert_int_equal(store_open(env->uri, &st), 0);
	store_close(st);

	run_children(env->uri, WRITERS, PER_WRITER);

	st = NULL;
	assert_int_equal(store_open(env->uri, &st), 0);
	store_contract_assert_count(st, WRITERS * PER_WRITER);
	store_contract_cert_make(&t, WRITERS * PER_WRITER - 1, NULL);
	assert_cert_der(st, t.serial, &t);
	store_close(st);
	assert_int_equal(store_contract_int(env, "SELECT count(DISTINCT serial) FROM certificates"),
			 WRITERS * PER_WRITER);
	env->b->assert_intact(env);
}

/* A worker's request threads sharing its handle: group commit, one winner a serial. */
static void
test_threads(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;

	assert_int_equal(store_open(env->uri, &st), 0);
	store_threads_check(st, 0x300000);
	store_close(st);
	assert_int_equal(store_contract_int(env, "SELECT count(DISTINCT serial) FROM certificates"),
			 store_contract_int(env, "SELECT count(*) FROM certificates"));
	/* Group commits bind every column, as single adds do. */
	assert_int_equal(store_contract_int(env, "SELECT count(*) FROM certificates "
						 "WHERE profile = 'csr' AND ca = 'default'"),
			 store_contract_int(env, "SELECT count(*) FROM certificates"));
	env->b->assert_intact(env);
}

/* Every status has a name, the names are the spellings the schema's CHECK accepts. */
static void
test_status_names(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct test_pending t;
	enum store_status i, j;
	char sql[256];

	assert_int_equal(store_open(env->uri, &st), 0);
	test_pending_make(&t, 1, 0);
	assert_int_equal(store_add_pending(st, &t.p), 0);
	store_close(st);
	for (i = 0; i < STORE_STATUS_MAX; i++) {
		assert_non_null(store_status_name(i));
		for (j = 0; j < i; j++)
			assert_string_not_equal(store_status_name(i), store_status_name(j));
		snprintf(sql, sizeof(sql), "UPDATE pending_requests SET status = '%s'",
			 store_status_name(i));
		env->b->sql_exec(env, sql);
	}
	assert_string_equal(store_status_name(STORE_STATUS_PENDING), "pending");
	assert_null(store_status_name(STORE_STATUS_MAX));
	assert_null(store_status_name((enum store_status)(-1)));
}

static void
test_cert_walks(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_cert *c = (struct store_cert *)SENTINEL;
	struct store_contract_cert t[4];
	struct test_walk w = { 0 };
	time_t now = time(NULL);
	unsigned i;

	assert_int_equal(store_open(env->uri, &st), 0);
	assert_int_equal(store_walk_certs(st, test_walk_cert_fn, &w), 0);
	assert_int_equal(w.calls, 0);
	/* Recorded in the order 3, 0, 2, 1: the walk keeps that order, not the serials'. */
	for (i = 0; i < 4; i++)
		store_contract_cert_make(&t[i], i, NULL);
	t[2].c.transaction_id = "7A1F0C"; /* as t[1] and t[3] */
	assert_int_equal(store_add_cert(st, &t[3].c), 0);
	assert_int_equal(store_add_cert(st, &t[0].c), 0);
	assert_int_equal(store_add_cert(st, &t[2].c), 0);
	assert_int_equal(store_add_cert(st, &t[1].c), 0);

	assert_int_equal(store_walk_certs(st, test_walk_cert_fn, &w), 0);
	assert_string_equal(w.keys, "10003 10000 10002 10001");
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_walk_certs_by_transaction(st, "7A1F0C", test_walk_cert_fn, &w), 0);
	assert_string_equal(w.keys, "10003 10002 10001");
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_walk_certs_by_transaction(st, "7a1f0c", test_walk_cert_fn, &w), 0);
	assert_int_equal(w.calls, 0); /* transaction ids are compared exactly */
	assert_int_equal(store_walk_certs_by_transaction(st, "", test_walk_cert_fn, &w), -EINVAL);
	/* fn's error stops the walk and is its result. */
	w.stop_after = 2;
	assert_int_equal(store_walk_certs(st, test_walk_cert_fn, &w), -ECANCELED);
	assert_int_equal(w.calls, 2);

	/* A copy of every column, found by any spelling of the serial. */
	assert_int_equal(store_get_cert(st, "0001000a", &c), -ENOENT);
	assert_int_equal(store_get_cert(st, "not hex", &c), -ENOENT);
	assert_ptr_equal(c, SENTINEL);
	assert_int_equal(store_get_cert(st, "00010001", &c), 0);
	assert_string_equal(c->serial, "10001");
	assert_string_equal(c->subject, "CN=host1.example");
	assert_string_equal(c->sans, "DNS:a.example, IP Address:192.0.2.1");
	assert_int_equal(c->not_before, 1700000001);
	assert_int_equal(c->not_after, 1731536001);
	assert_int_equal(c->der_len, STORE_CONTRACT_DER_LEN);
	assert_memory_equal(c->der, t[1].der, STORE_CONTRACT_DER_LEN);
	assert_string_equal(c->requester, "192.0.2.7");
	assert_string_equal(c->endpoint, "scep");
	assert_string_equal(c->transaction_id, "7A1F0C");
	assert_string_equal(c->owner, "laptop-7");
	assert_string_equal(c->profile, "mdm");
	assert_string_equal(c->ca, "issuing-2");
	assert_true(c->issued_at >= now && c->issued_at <= time(NULL));
	store_cert_free(c);
	c = NULL;
	assert_int_equal(store_get_cert(st, "10000", &c), 0);
	assert_null(c->transaction_id);
	assert_null(c->owner);
	assert_null(c->profile);
	assert_null(c->ca);
	assert_string_equal(c->sans, "");
	store_cert_free(c);
	store_cert_free(NULL);
	store_close(st);
}

static void
test_pending_add_get(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_pending *p = (struct store_pending *)SENTINEL;
	struct test_pending t, u;
	char long_txid[STORE_TRANSACTION_ID_MAX + 2];
	time_t now = time(NULL);

	assert_int_equal(store_open(env->uri, &st), 0);
	test_pending_make(&t, 1, 1700000000);
	assert_int_equal(store_add_pending(st, &t.p), 0);
	assert_int_equal(store_get_pending(st, "TX0002-C0FFEE", &p), -ENOENT);
	assert_int_equal(store_get_pending(st, "", &p), -ENOENT);
	assert_int_equal(store_get_pending(st, "TX\n", &p), -ENOENT);
	assert_ptr_equal(p, SENTINEL);

	assert_int_equal(store_get_pending(st, t.txid, &p), 0);
	assert_string_equal(p->transaction_id, t.txid);
	assert_string_equal(p->subject, "CN=device1,O=Example");
	assert_int_equal(p->csr_der_len, CSR_LEN);
	assert_memory_equal(p->csr_der, t.csr, CSR_LEN);
	assert_int_equal(p->signer_cert_der_len, STORE_CONTRACT_DER_LEN);
	assert_memory_equal(p->signer_cert_der, t.signer, STORE_CONTRACT_DER_LEN);
	assert_string_equal(p->requester, "198.51.100.4");
	assert_string_equal(p->owner, "laptop-7");
	assert_string_equal(p->profile, "mdm");
	assert_int_equal(p->received_at, 1700000000);
	assert_int_equal(p->status, STORE_STATUS_PENDING);
	assert_int_equal(p->decided_at, 0);
	assert_null(p->serial);
	store_pending_free(p);
	store_pending_free(NULL);

	/* The same transaction id again, whatever else differs. */
	test_pending_make(&u, 2, 0);
	u.p.transaction_id = t.txid;
	assert_int_equal(store_add_pending(st, &u.p), -EEXIST);

	/* Optional fields; received_at 0 is now; status and serial are the store's. */
	test_pending_make(&u, 3, 0);
	u.p.subject = NULL;
	u.p.requester = NULL;
	u.p.profile = NULL;
	u.p.signer_cert_der = NULL;
	u.p.status = STORE_STATUS_ISSUED;
	u.p.serial = "3A9F";
	assert_int_equal(store_add_pending(st, &u.p), 0);
	p = NULL;
	assert_int_equal(store_get_pending(st, u.txid, &p), 0);
	assert_null(p->subject);
	assert_null(p->requester);
	assert_null(p->profile);
	assert_null(p->signer_cert_der);
	assert_int_equal(p->signer_cert_der_len, 0);
	assert_true(p->received_at >= now && p->received_at <= time(NULL));
	assert_int_equal(p->status, STORE_STATUS_PENDING);
	assert_null(p->serial);
	store_pending_free(p);

	/* Refused: no transaction id, an unprintable or too long one, no CSR. */
	memset(long_txid, 'A', sizeof(long_txid) - 1);
	long_txid[sizeof(long_txid) - 1] = '\0';
	test_pending_make(&u, 4, 0);
	u.p.transaction_id = NULL;
	assert_int_equal(store_add_pending(st, &u.p), -EINVAL);
	u.p.transaction_id = "";
	assert_int_equal(store_add_pending(st, &u.p), -EINVAL);
	u.p.transaction_id = "TX\t4";
	assert_int_equal(store_add_pending(st, &u.p), -EINVAL);
	u.p.transaction_id = long_txid;
	assert_int_equal(store_add_pending(st, &u.p), -EINVAL);
	long_txid[STORE_TRANSACTION_ID_MAX] = '\0'; /* the longest allowed */
	assert_int_equal(store_add_pending(st, &u.p), 0);
	test_pending_make(&u, 5, 0);
	u.p.csr_der = NULL;
	assert_int_equal(store_add_pending(st, &u.p), -EINVAL);
	u.p.csr_der = u.csr;
	u.p.csr_der_len = 0;
	assert_int_equal(store_add_pending(st, &u.p), -EINVAL);
	store_close(st);
	assert_int_equal(store_contract_int(env, "SELECT count(*) FROM pending_requests"), 3);
	env->b->assert_intact(env);
}

static void
test_pending_walk(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct test_pending t[5];
	struct test_walk w = { 0 };
	static const time_t received[5] = { 300, 100, 200, 100, 50 };
	unsigned i;

	assert_int_equal(store_open(env->uri, &st), 0);
	assert_int_equal(store_walk_pending(st, test_walk_pending_fn, &w), 0);
	assert_int_equal(w.calls, 0);
	for (i = 0; i < 5; i++) {
		test_pending_make(&t[i], 4 - i, 1700000000 + received[i]);
		assert_int_equal(store_add_pending(st, &t[i].p), 0);
	}
	/* Oldest first, ties by transaction id; decided ones are not pending. */
	assert_int_equal(store_walk_pending(st, test_walk_pending_fn, &w), 0);
	assert_string_equal(w.keys, "TX0000-C0FFEE TX0001-C0FFEE TX0003-C0FFEE TX0002-C0FFEE "
				    "TX0004-C0FFEE");
	assert_int_equal(store_set_pending_status(st, "TX0001-C0FFEE", STORE_STATUS_PENDING,
						  STORE_STATUS_APPROVED),
			 0);
	assert_int_equal(store_set_pending_status(st, "TX0002-C0FFEE", STORE_STATUS_PENDING,
						  STORE_STATUS_REJECTED),
			 0);
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_walk_pending(st, test_walk_pending_fn, &w), 0);
	assert_string_equal(w.keys, "TX0000-C0FFEE TX0003-C0FFEE TX0004-C0FFEE");
	memset(&w, 0, sizeof(w));
	w.stop_after = 1;
	assert_int_equal(store_walk_pending(st, test_walk_pending_fn, &w), -ECANCELED);
	assert_int_equal(w.calls, 1);
	store_close(st);
}

static void
test_pending_transitions(void **state)
{
	/* clang-format off */
	static const struct {
		enum store_status at;   /* where the request is */
		enum store_status from; /* what the caller expects */
		enum store_status to;
		int r;
	} cases[] = {
		{ STORE_STATUS_PENDING, STORE_STATUS_PENDING, STORE_STATUS_APPROVED, 0 },
		{ STORE_STATUS_PENDING, STORE_STATUS_PENDING, STORE_STATUS_REJECTED, 0 },
		{ STORE_STATUS_APPROVED, STORE_STATUS_APPROVED, STORE_STATUS_REJECTED, 0 },
		{ STORE_STATUS_APPROVED, STORE_STATUS_PENDING, STORE_STATUS_APPROVED, -ESTALE },
		{ STORE_STATUS_APPROVED, STORE_STATUS_PENDING, STORE_STATUS_REJECTED, -ESTALE },
		{ STORE_STATUS_REJECTED, STORE_STATUS_PENDING, STORE_STATUS_APPROVED, -ESTALE },
		{ STORE_STATUS_REJECTED, STORE_STATUS_PENDING, STORE_STATUS_REJECTED, -ESTALE },
		{ STORE_STATUS_ISSUED, STORE_STATUS_PENDING, STORE_STATUS_REJECTED, -ESTALE },
		{ STORE_STATUS_ISSUED, STORE_STATUS_APPROVED, STORE_STATUS_REJECTED, -ESTALE },
		{ STORE_STATUS_PENDING, STORE_STATUS_APPROVED, STORE_STATUS_REJECTED, -ESTALE },
		/* Not transitions a caller may ask for. */
		{ STORE_STATUS_PENDING, STORE_STATUS_PENDING, STORE_STATUS_ISSUED, -EINVAL },
		{ STORE_STATUS_PENDING, STORE_STATUS_PENDING, STORE_STATUS_PENDING, -EINVAL },
		{ STORE_STATUS_APPROVED, STORE_STATUS_APPROVED, STORE_STATUS_PENDING, -EINVAL },
		{ STORE_STATUS_APPROVED, STORE_STATUS_APPROVED, STORE_STATUS_ISSUED, -EINVAL },
		{ STORE_STATUS_REJECTED, STORE_STATUS_REJECTED, STORE_STATUS_APPROVED, -EINVAL },
		{ STORE_STATUS_ISSUED, STORE_STATUS_ISSUED, STORE_STATUS_PENDING, -EINVAL },
		{ STORE_STATUS_PENDING, STORE_STATUS_MAX, STORE_STATUS_APPROVED, -EINVAL },
	};
	/* clang-format on */
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_pending *p = NULL;
	struct test_pending t;
	struct store_contract_cert c;
	char sql[256];
	time_t now;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(store_open(env->uri, &st), 0);
		test_pending_make(&t, (unsigned)i, 1700000000);
		assert_int_equal(store_add_pending(st, &t.p), 0);
		if (cases[i].at == STORE_STATUS_ISSUED) {
			store_contract_cert_make(&c, (unsigned)i, NULL);
			c.c.transaction_id = t.txid;
			store_close(st);
			snprintf(sql, sizeof(sql),
				 "UPDATE pending_requests SET status = 'approved' "
				 "WHERE transaction_id = '%s'",
				 t.txid);
			env->b->sql_exec(env, sql);
			assert_int_equal(store_open(env->uri, &st), 0);
			assert_int_equal(store_add_cert_for_pending(st, &c.c), 0);
		} else if (cases[i].at != STORE_STATUS_PENDING) {
			snprintf(sql, sizeof(sql),
				 "UPDATE pending_requests SET status = '%s', decided_at = 1 "
				 "WHERE transaction_id = '%s'",
				 store_status_name(cases[i].at), t.txid);
			env->b->sql_exec(env, sql);
		}
		now = time(NULL);
		if (store_set_pending_status(st, t.txid, cases[i].from, cases[i].to) != cases[i].r)
			fail_msg("case %zu: expected %d", i, cases[i].r);
		assert_int_equal(store_get_pending(st, t.txid, &p), 0);
		if (cases[i].r == 0) {
			assert_int_equal(p->status, cases[i].to);
			assert_true(p->decided_at >= now && p->decided_at <= time(NULL));
		} else {
			assert_int_equal(p->status, cases[i].at); /* untouched */
		}
		store_pending_free(p);
		p = NULL;
		store_close(st);
	}

	assert_int_equal(store_open(env->uri, &st), 0);
	assert_int_equal(store_set_pending_status(st, "TX9999-C0FFEE", STORE_STATUS_PENDING,
						  STORE_STATUS_APPROVED),
			 -ENOENT);
	assert_int_equal(
		store_set_pending_status(st, "", STORE_STATUS_PENDING, STORE_STATUS_APPROVED),
		-ENOENT);
	store_close(st);
	env->b->assert_intact(env);
}

static void
test_add_cert_for_pending(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_pending *p = NULL;
	struct test_pending a, b, r;
	struct store_contract_cert c, d;
	struct test_walk w = { 0 };

	assert_int_equal(store_open(env->uri, &st), 0);
	test_pending_make(&a, 1, 0);
	test_pending_make(&b, 2, 0);
	test_pending_make(&r, 3, 0);
	assert_int_equal(store_add_pending(st, &a.p), 0);
	assert_int_equal(store_add_pending(st, &b.p), 0);
	assert_int_equal(store_add_pending(st, &r.p), 0);
	assert_int_equal(
		store_set_pending_status(st, r.txid, STORE_STATUS_PENDING, STORE_STATUS_REJECTED),
		0);
	store_contract_cert_make(&c, 1, "00c0ffee");
	c.c.transaction_id = a.txid;

	/* Neither row is written unless both are: pending, rejected, unknown, none. */
	assert_int_equal(store_add_cert_for_pending(st, &c.c), -ESTALE);
	c.c.transaction_id = r.txid;
	assert_int_equal(store_add_cert_for_pending(st, &c.c), -ESTALE);
	c.c.transaction_id = "TX9999-C0FFEE";
	assert_int_equal(store_add_cert_for_pending(st, &c.c), -ENOENT);
	c.c.transaction_id = NULL;
	assert_int_equal(store_add_cert_for_pending(st, &c.c), -EINVAL);
	c.c.transaction_id = a.txid;
	c.c.serial = "xyz";
	assert_int_equal(store_add_cert_for_pending(st, &c.c), -EINVAL);
	c.c.serial = c.serial;
	store_contract_assert_count(st, 0);

	/* Approved: the certificate and the status change land together. */
	assert_int_equal(
		store_set_pending_status(st, a.txid, STORE_STATUS_PENDING, STORE_STATUS_APPROVED),
		0);
	assert_int_equal(store_add_cert_for_pending(st, &c.c), 0);
	store_contract_assert_count(st, 1);
	assert_int_equal(store_get_pending(st, a.txid, &p), 0);
	assert_int_equal(p->status, STORE_STATUS_ISSUED);
	assert_string_equal(p->serial, "C0FFEE");
	assert_true(p->decided_at > 0);
	store_pending_free(p);
	p = NULL;
	assert_int_equal(store_walk_certs_by_transaction(st, a.txid, test_walk_cert_fn, &w), 0);
	assert_string_equal(w.keys, "C0FFEE");

	/* Issued once only: a second certificate for it is refused, and not recorded. */
	store_contract_cert_make(&d, 2, "D00D");
	d.c.transaction_id = a.txid;
	assert_int_equal(store_add_cert_for_pending(st, &d.c), -ESTALE);
	store_contract_assert_count(st, 1);

	/* A serial already recorded: -EEXIST, and the request stays approved. */
	assert_int_equal(
		store_set_pending_status(st, b.txid, STORE_STATUS_PENDING, STORE_STATUS_APPROVED),
		0);
	c.c.transaction_id = b.txid;
	assert_int_equal(store_add_cert_for_pending(st, &c.c), -EEXIST);
	assert_status(st, b.txid, STORE_STATUS_APPROVED);
	assert_int_equal(store_add_cert_for_pending(st, &d.c), -ESTALE); /* d is a's */
	d.c.transaction_id = b.txid;
	assert_int_equal(store_add_cert_for_pending(st, &d.c), 0);
	assert_status(st, b.txid, STORE_STATUS_ISSUED);
	store_contract_assert_count(st, 2);
	store_close(st);
	assert_int_equal(store_contract_int(env, "SELECT count(*) FROM pending_requests p JOIN "
						 "certificates c ON c.serial = p.serial AND "
						 "c.transaction_id = p.transaction_id"),
			 2);
	env->b->assert_intact(env);
}

/*
 * The profile and the CA: as given (NULL as NULL) through every way in (add, group
 * commit, add for a pending request) and out (get, walks); a request keeps its own.
 */
static void
test_profiles(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_cert *c = NULL;
	struct store_pending *p = NULL;
	struct store_contract_cert t[3];
	struct test_pending a, b;
	struct test_walk w = { 0 };

	assert_int_equal(store_open(env->uri, &st), 0);
	test_pending_make(&a, 1, 1700000000);
	a.p.profile = "scep-mdm";
	test_pending_make(&b, 2, 1700000001);
	b.p.profile = NULL;
	assert_int_equal(store_add_pending(st, &a.p), 0);
	assert_int_equal(store_add_pending(st, &b.p), 0);
	assert_int_equal(store_walk_pending(st, test_walk_pending_profile_fn, &w), 0);
	assert_string_equal(w.keys, "TX0001-C0FFEE:scep-mdm TX0002-C0FFEE:-");
	assert_int_equal(store_get_pending(st, b.txid, &p), 0);
	assert_null(p->profile);
	store_pending_free(p);
	p = NULL;

	/* Issued for the approved request: the certificate's own profile and CA. */
	assert_int_equal(
		store_set_pending_status(st, a.txid, STORE_STATUS_PENDING, STORE_STATUS_APPROVED),
		0);
	store_contract_cert_make(&t[0], 1, NULL);
	t[0].c.transaction_id = a.txid;
	t[0].c.profile = "scep-mdm";
	t[0].c.ca = "devices";
	assert_int_equal(store_add_cert_for_pending(st, &t[0].c), 0);
	assert_int_equal(store_get_pending(st, a.txid, &p), 0);
	assert_int_equal(p->status, STORE_STATUS_ISSUED);
	assert_string_equal(p->profile, "scep-mdm");
	store_pending_free(p);
	assert_int_equal(store_get_cert(st, t[0].serial, &c), 0);
	assert_string_equal(c->profile, "scep-mdm");
	assert_string_equal(c->ca, "devices");
	store_cert_free(c);
	c = NULL;

	/* A profile without a CA name, and neither. */
	store_contract_cert_make(&t[1], 2, NULL);
	t[1].c.profile = "csr";
	store_contract_cert_make(&t[2], 4, NULL);
	assert_int_equal(store_add_cert(st, &t[1].c), 0);
	assert_int_equal(store_add_cert(st, &t[2].c), 0);
	assert_int_equal(store_get_cert(st, t[1].serial, &c), 0);
	assert_string_equal(c->profile, "csr");
	assert_null(c->ca);
	store_cert_free(c);
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_walk_certs(st, test_walk_cert_profile_fn, &w), 0);
	assert_string_equal(w.keys, "10001:scep-mdm:devices 10002:csr:- 10004:-:-");
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_walk_certs_by_transaction(st, a.txid, test_walk_cert_profile_fn, &w),
			 0);
	assert_string_equal(w.keys, "10001:scep-mdm:devices");
	store_close(st);

	assert_int_equal(store_contract_int(env, "SELECT count(*) FROM certificates "
						 "WHERE ca IS NULL"),
			 2);
	assert_int_equal(store_contract_int(env, "SELECT count(*) FROM certificates "
						 "WHERE profile IS NULL"),
			 1);
	assert_int_equal(store_contract_int(env, "SELECT count(*) FROM pending_requests "
						 "WHERE profile IS NULL"),
			 1);
	env->b->assert_intact(env);
}

static void
test_challenges(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_challenge ch;
	char h[4][STORE_SHA256_HEX_LEN + 1], upper[STORE_SHA256_HEX_LEN + 1], *owner;
	time_t now = time(NULL);
	size_t i;

	for (i = 0; i < 4; i++)
		test_hash(h[i], (unsigned)i);
	assert_int_equal(store_open(env->uri, &st), 0);
	ch = (struct store_challenge){
		.profile = "scep", .secret_hash = h[0], .owner = "alice", .expires_at = now + 3600
	};
	assert_int_equal(store_add_challenge(st, &ch), 0);
	assert_int_equal(store_add_challenge(st, &ch), -EEXIST);
	ch = (struct store_challenge){ .profile = "scep",
				       .secret_hash = h[1],
				       .expires_at = now + 3600 };
	assert_int_equal(store_add_challenge(st, &ch), 0);
	ch = (struct store_challenge){ .profile = "scep",
				       .secret_hash = h[2],
				       .owner = "bob",
				       .created_at = now - 7200,
				       .expires_at = now - 1 };
	assert_int_equal(store_add_challenge(st, &ch), 0);

	/* Refused: malformed hashes, an expiry not after the creation. */
	ch = (struct store_challenge){ .profile = "scep", .secret_hash = h[3], .expires_at = now };
	ch.created_at = now;
	assert_int_equal(store_add_challenge(st, &ch), -EINVAL);
	ch.expires_at = 0;
	ch.created_at = 0;
	assert_int_equal(store_add_challenge(st, &ch), -EINVAL);
	ch.expires_at = now + 60;
	ch.secret_hash = "abc";
	assert_int_equal(store_add_challenge(st, &ch), -EINVAL);
	ch.secret_hash = NULL;
	assert_int_equal(store_add_challenge(st, &ch), -EINVAL);
	memset(upper, 'g', STORE_SHA256_HEX_LEN); /* the right length, not hex */
	upper[STORE_SHA256_HEX_LEN] = '\0';
	ch.secret_hash = upper;
	assert_int_equal(store_add_challenge(st, &ch), -EINVAL);

	/* Consumed once: the owner comes back; any case of the hash will do. */
	for (i = 0; i <= STORE_SHA256_HEX_LEN; i++)
		upper[i] = (char)(h[0][i] >= 'a' && h[0][i] <= 'f' ? h[0][i] - 32 : h[0][i]);
	owner = (char *)"untouched";
	assert_int_equal(store_consume_challenge(st, h[3], "scep", NULL, "x", &owner), -ENOENT);
	assert_int_equal(store_consume_challenge(st, "nothex", "scep", NULL, "x", &owner), -ENOENT);
	assert_int_equal(store_consume_challenge(st, NULL, "scep", NULL, "x", &owner), -ENOENT);
	assert_int_equal(store_consume_challenge(st, h[2], "scep", NULL, "x", &owner), -ETIME);
	assert_string_equal(owner, "untouched");
	assert_int_equal(store_consume_challenge(st, upper, "scep", NULL, "192.0.2.7 TX1", &owner),
			 0);
	assert_string_equal(owner, "alice");
	free(owner);
	owner = (char *)"untouched";
	assert_int_equal(store_consume_challenge(st, h[0], "scep", NULL, "192.0.2.8 TX2", &owner),
			 -EALREADY);
	assert_string_equal(owner, "untouched");
	/* Another profile's challenge is unknown here, and stays unused for its own. */
	assert_int_equal(store_consume_challenge(st, h[1], "wifi", NULL, "x", &owner), -ENOENT);
	assert_int_equal(store_consume_challenge(st, h[1], NULL, NULL, "x", &owner), -ENOENT);
	assert_string_equal(owner, "untouched");
	/* No owner: NULL; and the owner may be declined. */
	assert_int_equal(store_consume_challenge(st, h[1], "scep", NULL, NULL, &owner), 0);
	assert_null(owner);
	/* A challenge without a profile is refused. */
	ch = (struct store_challenge){ .secret_hash = h[3], .expires_at = now + 60 };
	assert_int_equal(store_add_challenge(st, &ch), -EINVAL);
	store_close(st);

	assert_int_equal(store_contract_int(env, "SELECT count(*) FROM challenges"), 3);
	assert_int_equal(store_contract_int(env,
					    "SELECT count(*) FROM challenges WHERE "
					    "used_by = '192.0.2.7 TX1' AND used_at >= created_at"),
			 1);
	assert_int_equal(store_contract_int(env, "SELECT count(*) FROM challenges WHERE "
						 "secret_hash = lower(secret_hash)"),
			 3);
	/* Used, then expired: still "used". */
	env->b->sql_exec(env, "UPDATE challenges SET expires_at = 1 WHERE owner = 'alice'");
	assert_int_equal(store_open(env->uri, &st), 0);
	assert_int_equal(store_consume_challenge(st, h[0], "scep", NULL, "x", NULL), -EALREADY);
	ch = (struct store_challenge){
		.profile = "scep", .secret_hash = h[3], .owner = "carol", .expires_at = now + 60
	};
	assert_int_equal(store_add_challenge(st, &ch), 0);
	assert_int_equal(store_consume_challenge(st, h[3], "scep", NULL, "x", NULL), 0);
	store_close(st);
	env->b->assert_intact(env);
}

/*
 * A challenge bound to a subject is used only by a request with that subject; a refusal
 * for another subject (or none) leaves it unused for its own.
 */
static void
test_challenge_subject(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	char h[2][STORE_SHA256_HEX_LEN + 1], *owner = NULL;
	time_t now = time(NULL);

	test_hash(h[0], 10);
	test_hash(h[1], 11);
	assert_int_equal(store_open(env->uri, &st), 0);
	assert_int_equal(store_add_challenge(st,
					     &(struct store_challenge){
						     .profile = "scep",
						     .secret_hash = h[0],
						     .owner = "mdm",
						     .subject = "CN=device1,O=Example",
						     .expires_at = now + 3600,
					     }),
			 0);
	assert_int_equal(
		store_consume_challenge(st, h[0], "scep", "CN=device2,O=Example", "x", &owner),
		-EPERM);
	assert_int_equal(store_consume_challenge(st, h[0], "scep", "CN=device1", "x", &owner),
			 -EPERM);
	assert_int_equal(store_consume_challenge(st, h[0], "scep", NULL, "x", &owner), -EPERM);
	assert_null(owner);
	assert_int_equal(
		store_consume_challenge(st, h[0], "scep", "CN=device1,O=Example", "x", &owner), 0);
	assert_string_equal(owner, "mdm");
	free(owner);
	assert_int_equal(
		store_consume_challenge(st, h[0], "scep", "CN=device1,O=Example", "x", NULL),
		-EALREADY);
	/* Unbound: any subject. */
	assert_int_equal(store_add_challenge(st,
					     &(struct store_challenge){
						     .profile = "scep",
						     .secret_hash = h[1],
						     .expires_at = now + 3600,
					     }),
			 0);
	assert_int_equal(store_consume_challenge(st, h[1], "scep", "CN=anyone", "x", NULL), 0);
	store_close(st);
	assert_int_equal(store_contract_int(env, "SELECT count(*) FROM challenges "
						 "WHERE subject = 'CN=device1,O=Example'"),
			 1);
	env->b->assert_intact(env);
}

/*
 * Pruning deletes challenges used or expired before the cut-off and requests rejected
 * before it, in batches when asked; nothing else.
 */
static void
test_prune(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_pruned pruned;
	struct test_pending t;
	char h[STORE_SHA256_HEX_LEN + 1];
	time_t now = time(NULL), day = 86400;
	unsigned i;

	assert_int_equal(store_open(env->uri, &st), 0);
	/* 0-2 expired 40 days ago unused; 3-5 used 40 days ago; 6 expired yesterday; 7 valid. */
	for (i = 0; i < 8; i++) {
		test_hash(h, 100 + i);
		assert_int_equal(store_add_challenge(st,
						     &(struct store_challenge){
							     .profile = "scep",
							     .secret_hash = h,
							     .created_at = now - 50 * day,
							     .expires_at = i < 3   ? now - 40 * day
									   : i < 6 ? now - 39 * day
									   : i < 7 ? now - day
										   : now + day,
						     }),
				 0);
	}
	env->b->sql_exec(env, "UPDATE challenges SET used_at = expires_at - 86400 WHERE id IN "
			      "(SELECT id FROM challenges ORDER BY id LIMIT 3 OFFSET 3)");
	for (i = 0; i < 4; i++) {
		test_pending_make(&t, 500 + i, now - 50 * day);
		assert_int_equal(store_add_pending(st, &t.p), 0);
	}
	assert_int_equal(store_set_pending_status(st, "TX0500-C0FFEE", STORE_STATUS_PENDING,
						  STORE_STATUS_REJECTED),
			 0);
	assert_int_equal(store_set_pending_status(st, "TX0501-C0FFEE", STORE_STATUS_PENDING,
						  STORE_STATUS_REJECTED),
			 0);
	assert_int_equal(store_set_pending_status(st, "TX0502-C0FFEE", STORE_STATUS_PENDING,
						  STORE_STATUS_APPROVED),
			 0);
	env->b->sql_exec(env, "UPDATE pending_requests SET decided_at = decided_at - 3456000 "
			      "WHERE transaction_id IN ('TX0500-C0FFEE', 'TX0502-C0FFEE')");

	/* Cut-off 30 days ago, two at a time. */
	assert_int_equal(store_prune(st, now - 30 * day, 2, &pruned), 0);
	assert_int_equal(pruned.challenges, 2);
	assert_int_equal(pruned.rejected_requests, 1);
	assert_int_equal(store_prune(st, now - 30 * day, 0, &pruned), 0);
	assert_int_equal(pruned.challenges, 4);
	assert_int_equal(pruned.rejected_requests, 0);
	assert_int_equal(store_prune(st, now - 30 * day, 0, &pruned), 0);
	assert_int_equal(pruned.challenges, 0);
	store_close(st);
	assert_int_equal(store_contract_int(env, "SELECT count(*) FROM challenges"), 2);
	/* The rejected request of yesterday, the approved and the pending one stay. */
	assert_int_equal(store_contract_int(env, "SELECT count(*) FROM pending_requests"), 3);
	assert_int_equal(store_contract_int(env, "SELECT count(*) FROM pending_requests WHERE "
						 "transaction_id = 'TX0500-C0FFEE'"),
			 0);
	env->b->assert_intact(env);
}

/* RACERS processes consume one challenge, RACE_CONSUME times: exactly one wins each time. */
static void
test_race_consume(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_challenge ch;
	char hash[RACE_CONSUME][STORE_SHA256_HEX_LEN + 1], sql[256];
	struct store_race rc = { .lost = -EALREADY, .fn = race_consume };
	unsigned round, winner = 0;

	assert_int_equal(store_open(env->uri, &st), 0);
	for (round = 0; round < RACE_CONSUME; round++) {
		test_hash(hash[round], round);
		ch = (struct store_challenge){ .profile = "scep",
					       .secret_hash = hash[round],
					       .owner = "alice",
					       .expires_at = time(NULL) + 600 };
		assert_int_equal(store_add_challenge(st, &ch), 0);
	}
	store_close(st);
	for (round = 0; round < RACE_CONSUME; round++) {
		winner = race_once(&rc, env, hash[round]);
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM challenges WHERE secret_hash = '%.64s' "
			 "AND used_by = 'racer %u'",
			 rc.key, winner);
		assert_int_equal(store_contract_int(env, sql), 1);
	}
	assert_int_equal(
		store_contract_int(env, "SELECT count(*) FROM challenges WHERE used_at IS NULL"),
		0);
	env->b->assert_intact(env);
}

/* Approvers and rejecters race for one request: one decision, the winner's. */
static void
test_race_decide(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct test_pending t;
	struct store_race rc = { .lost = -ESTALE, .fn = race_decide };
	unsigned round, winner = 0, approved = 0;

	for (round = 0; round < RACE_DECIDE; round++) {
		assert_int_equal(store_open(env->uri, &st), 0);
		test_pending_make(&t, round, 0);
		assert_int_equal(store_add_pending(st, &t.p), 0);
		store_close(st);
		winner = race_once(&rc, env, t.txid);
		assert_int_equal(store_open(env->uri, &st), 0);
		assert_status(st, t.txid,
			      winner % 2 ? STORE_STATUS_REJECTED : STORE_STATUS_APPROVED);
		store_close(st);
		approved += winner % 2 == 0;
	}
	print_message("approvals won %u of %u races\n", approved, RACE_DECIDE);
	env->b->assert_intact(env);
}

/* Issuers and withdrawers race for one approved request: issued once, or not at all. */
static void
test_race_issue(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct test_pending t;
	struct test_walk w;
	struct store_race rc = { .lost = -ESTALE, .fn = race_issue };
	unsigned round, winner = 0, issued = 0;

	for (round = 0; round < RACE_DECIDE; round++) {
		assert_int_equal(store_open(env->uri, &st), 0);
		test_pending_make(&t, round, 0);
		assert_int_equal(store_add_pending(st, &t.p), 0);
		assert_int_equal(store_set_pending_status(st, t.txid, STORE_STATUS_PENDING,
							  STORE_STATUS_APPROVED),
				 0);
		store_close(st);
		winner = race_once(&rc, env, t.txid);
		assert_int_equal(store_open(env->uri, &st), 0);
		assert_status(st, t.txid, winner % 2 ? STORE_STATUS_REJECTED : STORE_STATUS_ISSUED);
		memset(&w, 0, sizeof(w));
		assert_int_equal(store_walk_certs_by_transaction(st, t.txid, test_walk_cert_fn, &w),
				 0);
		assert_int_equal(w.calls, winner % 2 ? 0 : 1);
		store_close(st);
		issued += winner % 2 == 0;
	}
	print_message("issuers won %u of %u races\n", issued, RACE_DECIDE);
	assert_int_equal(store_contract_int(env, "SELECT count(*) FROM certificates"), issued);
	env->b->assert_intact(env);
}

/* Revocation */

/* "SERIAL:REASON" of each certificate a walk hands over. */
static int
test_walk_revoked_fn(const struct store_cert *cert, void *userdata)
{
	struct test_walk *w = userdata;
	char key[96];

	if (w->stop_after > 0 && w->calls == w->stop_after)
		return -ECANCELED;
	w->calls++;
	snprintf(key, sizeof(key), "%s:%d", cert->serial, cert->revocation_reason);
	test_walk_add(w, key);
	return 0;
}

static uint64_t
test_changes(struct store *st, const char *ca)
{
	uint64_t n = 99;

	assert_int_equal(store_revocation_changes(st, ca, &n), 0);
	return n;
}

/* Every code and name, both ways; the codes without a reason have no name. */
static void
test_reason_names(void **state)
{
	int reason;

	(void)state;
	for (int i = -1; i <= STORE_REASON_MAX; i++) {
		const char *name = store_reason_name(i);

		if (i < 0 || i == 7 || i == 8 || i >= STORE_REASON_MAX) {
			assert_null(name);
			continue;
		}
		assert_non_null(name);
		reason = -1;
		assert_int_equal(store_reason_parse(name, &reason), 0);
		assert_int_equal(reason, i);
	}
	assert_string_equal(store_reason_name(STORE_REASON_KEY_COMPROMISE), "keyCompromise");
	assert_string_equal(store_reason_name(STORE_REASON_CERTIFICATE_HOLD), "certificateHold");
	assert_string_equal(store_reason_name(STORE_REASON_AA_COMPROMISE), "aACompromise");
	assert_int_equal(store_reason_parse("KEYCOMPROMISE", &reason), 0);
	assert_int_equal(reason, STORE_REASON_KEY_COMPROMISE);
	reason = 42;
	assert_int_equal(store_reason_parse("removeFromCRL", &reason), -EINVAL);
	assert_int_equal(store_reason_parse("", &reason), -EINVAL);
	assert_int_equal(store_reason_parse("1", &reason), -EINVAL);
	assert_int_equal(store_reason_parse(NULL, &reason), -EINVAL);
	assert_int_equal(reason, 42);
}

static void
assert_revocation(struct store *st, const char *serial, time_t at, int reason, const char *by)
{
	struct store_cert *c = NULL;

	assert_int_equal(store_get_cert(st, serial, &c), 0);
	assert_int_equal(c->revoked_at, at);
	assert_int_equal(c->revocation_reason, reason);
	if (by == NULL)
		assert_null(c->revoked_by);
	else
		assert_string_equal(c->revoked_by, by);
	store_cert_free(c);
}

/* revoke and unrevoke: each refusal, the hold lifted and revoked again, the counter. */
static void
test_revoke(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_contract_cert t[3];
	char sql[256];
	time_t now;

	assert_int_equal(store_open(env->uri, &st), 0);
	for (unsigned i = 0; i < 3; i++) {
		store_contract_cert_make(&t[i], i + 1, NULL); /* 10001 and 10003: CA issuing-2 */
		assert_int_equal(store_add_cert(st, &t[i].c), 0);
	}
	assert_revocation(st, "10001", 0, -1, NULL);
	assert_int_equal(test_changes(st, "issuing-2"), 0);
	assert_int_equal(test_changes(st, "nope"), 0);

	assert_int_equal(
		store_revoke(st, "0010001", STORE_REASON_KEY_COMPROMISE, 1700000500, "alice"), 0);
	assert_revocation(st, "10001", 1700000500, STORE_REASON_KEY_COMPROMISE, "alice");
	assert_int_equal(test_changes(st, "issuing-2"), 1);
	/* Revoked already, whatever the reason: nothing changes. */
	for (int reason = 0; reason < STORE_REASON_MAX; reason++)
		if (store_reason_name(reason) != NULL)
			assert_int_equal(store_revoke(st, "10001", reason, 0, "bob"), -EALREADY);
	assert_revocation(st, "10001", 1700000500, STORE_REASON_KEY_COMPROMISE, "alice");
	assert_int_equal(test_changes(st, "issuing-2"), 1);
	/* Unknown, malformed, not a reason, a negative date. */
	assert_int_equal(store_revoke(st, "ABCDEF", STORE_REASON_UNSPECIFIED, 0, "x"), -ENOENT);
	assert_int_equal(store_revoke(st, "not-hex", STORE_REASON_UNSPECIFIED, 0, "x"), -ENOENT);
	for (int reason = -1; reason <= STORE_REASON_MAX; reason++)
		if (store_reason_name(reason) == NULL)
			assert_int_equal(store_revoke(st, "10003", reason, 0, "x"), -EINVAL);
	assert_int_equal(store_revoke(st, "10003", STORE_REASON_UNSPECIFIED, -5, "x"), -EINVAL);
	assert_revocation(st, "10003", 0, -1, NULL);

	/* A certificate without a CA: revoked now, counted for no CA. */
	now = time(NULL);
	assert_int_equal(store_revoke(st, "10002", STORE_REASON_SUPERSEDED, 0, NULL), 0);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM certificates WHERE serial = '10002' AND revoked_at >= %lld "
		 "AND revoked_at <= %lld AND revocation_reason = 4 AND revoked_by IS NULL",
		 (long long)now, (long long)now + 5);
	assert_int_equal(store_contract_int(env, sql), 1);
	assert_int_equal(store_contract_int(env, "SELECT count(*) FROM revocation_state"), 1);
	assert_int_equal(test_changes(st, "issuing-2"), 1);

	/* Unrevoke: only a hold. */
	assert_int_equal(store_unrevoke(st, "10001", "bob"), -EPERM);
	assert_int_equal(store_unrevoke(st, "10003", "bob"), -ESRCH);
	assert_int_equal(store_unrevoke(st, "ABCDEF", "bob"), -ENOENT);
	assert_int_equal(store_unrevoke(st, "zz", "bob"), -ENOENT);
	assert_revocation(st, "10001", 1700000500, STORE_REASON_KEY_COMPROMISE, "alice");
	assert_int_equal(test_changes(st, "issuing-2"), 1);

	assert_int_equal(
		store_revoke(st, "10003", STORE_REASON_CERTIFICATE_HOLD, 1700000600, "bob"), 0);
	assert_int_equal(test_changes(st, "issuing-2"), 2);
	assert_int_equal(store_revoke(st, "10003", STORE_REASON_KEY_COMPROMISE, 0, "bob"),
			 -EALREADY);
	assert_int_equal(store_unrevoke(st, "10003", "carol"), 0);
	assert_revocation(st, "10003", 0, -1, "carol");
	assert_int_equal(store_contract_int(env, "SELECT count(*) FROM certificates WHERE serial = "
						 "'10003' AND revoked_at IS NULL AND "
						 "revocation_reason IS NULL"),
			 1);
	assert_int_equal(test_changes(st, "issuing-2"), 3);
	assert_int_equal(store_unrevoke(st, "10003", "carol"), -ESRCH);
	assert_int_equal(
		store_revoke(st, "10003", STORE_REASON_CESSATION_OF_OPERATION, 1700000700, "dave"),
		0);
	assert_revocation(st, "10003", 1700000700, STORE_REASON_CESSATION_OF_OPERATION, "dave");
	assert_int_equal(test_changes(st, "issuing-2"), 4);
	store_close(st);

	/* It is all on record: another handle sees it. */
	assert_int_equal(store_open(env->uri, &st), 0);
	assert_int_equal(test_changes(st, "issuing-2"), 4);
	assert_revocation(st, "10001", 1700000500, STORE_REASON_KEY_COMPROMISE, "alice");
	store_close(st);
	env->b->assert_intact(env);
}

/* The CRL list: one CA's revoked and unexpired certificates, in revocation order. */
#define TEST_GROUPS_MAX 256

/* store_count_revoked()'s groups, "CA|PROFILE=N" ('-' for NULL), in the order given. */
static int
test_count_revoked_fn(const char *ca, const char *profile, uint64_t n, void *userdata)
{
	char *out = userdata;
	size_t used = strlen(out);

	snprintf(out + used, TEST_GROUPS_MAX - used, "%s%s|%s=%" PRIu64, used > 0 ? " " : "",
		 ca != NULL ? ca : "-", profile != NULL ? profile : "-", n);
	return 0;
}

static void
test_walk_revoked(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_contract_cert t;
	struct test_walk w;

	assert_int_equal(store_open(env->uri, &st), 0);
	for (unsigned id = 1; id <= 8; id++) {
		store_contract_cert_make(&t, id, NULL);
		t.c.ca = id <= 5 ? "issuing-2" : id == 6 ? "other" : NULL;
		if (id == 5)
			t.c.not_after = 1700000000; /* expired at 1700000000 */
		assert_int_equal(store_add_cert(st, &t.c), 0);
	}
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_walk_revoked(st, "issuing-2", 0, test_walk_revoked_fn, &w), 0);
	assert_int_equal(w.calls, 0);

	assert_int_equal(store_revoke(st, "10003", STORE_REASON_SUPERSEDED, 1700000100, "a"), 0);
	assert_int_equal(store_revoke(st, "10001", STORE_REASON_KEY_COMPROMISE, 1700000200, "a"),
			 0);
	assert_int_equal(store_revoke(st, "10005", STORE_REASON_UNSPECIFIED, 1700000050, "a"), 0);
	assert_int_equal(store_revoke(st, "10004", STORE_REASON_CERTIFICATE_HOLD, 1700000200, "a"),
			 0);
	assert_int_equal(store_revoke(st, "10006", STORE_REASON_KEY_COMPROMISE, 1700000010, "a"),
			 0);
	assert_int_equal(store_revoke(st, "10007", STORE_REASON_KEY_COMPROMISE, 1700000020, "a"),
			 0);

	/* Expired 10005 left out; 10001 and 10004 at the same second: the order recorded. */
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_walk_revoked(st, "issuing-2", 1700000000, test_walk_revoked_fn, &w),
			 0);
	assert_string_equal(w.keys, "10003:4 10001:1 10004:6");
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_walk_revoked(st, "issuing-2", 0, test_walk_revoked_fn, &w), 0);
	assert_string_equal(w.keys, "10005:0 10003:4 10001:1 10004:6");
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_walk_revoked(st, "other", 1700000000, test_walk_revoked_fn, &w), 0);
	assert_string_equal(w.keys, "10006:1");
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_walk_revoked(st, NULL, 0, test_walk_revoked_fn, &w), 0);
	assert_string_equal(w.keys, "10006:1 10007:1 10005:0 10003:4 10001:1 10004:6");
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_walk_revoked(st, "nope", 0, test_walk_revoked_fn, &w), 0);
	assert_int_equal(w.calls, 0);
	/* Unrevoked: off the list. */
	assert_int_equal(store_unrevoke(st, "10004", "b"), 0);
	memset(&w, 0, sizeof(w));
	assert_int_equal(store_walk_revoked(st, "issuing-2", 1700000000, test_walk_revoked_fn, &w),
			 0);
	assert_string_equal(w.keys, "10003:4 10001:1");
	/* fn stops the walk. */
	memset(&w, 0, sizeof(w));
	w.stop_after = 1;
	assert_int_equal(store_walk_revoked(st, "issuing-2", 0, test_walk_revoked_fn, &w),
			 -ECANCELED);
	assert_string_equal(w.keys, "10005:0");
	assert_int_equal(test_changes(st, "issuing-2"), 5);
	assert_int_equal(test_changes(st, "other"), 1);
	/* Counted by CA and profile (what /metrics shows), expired and NULL ones too. */
	{
		char groups[TEST_GROUPS_MAX] = "";

		assert_int_equal(store_count_revoked(st, test_count_revoked_fn, groups), 0);
		assert_non_null(strstr(groups, "issuing-2|mdm=3"));
		assert_non_null(strstr(groups, "other|-=1"));
		assert_non_null(strstr(groups, "-|mdm=1"));
		assert_int_equal(strlen(groups), strlen("issuing-2|mdm=3 other|-=1 -|mdm=1"));
	}
	store_close(st);
}

static void
test_crl_make(struct store_crl *crl, unsigned char *der, size_t len, const char *ca,
	      uint64_t number, unsigned char mark)
{
	for (size_t i = 0; i < len; i++)
		der[i] = (unsigned char)(i * 7 + mark);
	*crl = (struct store_crl){
		.ca = ca,
		.number = number,
		.der = der,
		.der_len = len,
		/* number % 100000: the huge numbers of the limit tests must not overflow */
		.this_update = 1700000000 + (time_t)(number % 100000),
		.next_update = 1700086400 + (time_t)(number % 100000),
		.changes = number % 1000,
	};
}

static void
assert_crl(struct store *st, const char *ca, uint64_t number, unsigned char mark)
{
	struct store_crl *c = NULL, want;
	unsigned char der[300];

	test_crl_make(&want, der, sizeof(der), ca, number, mark);
	assert_int_equal(store_get_crl(st, ca, &c), 0);
	assert_string_equal(c->ca, ca);
	assert_int_equal(c->number, number);
	assert_int_equal(c->der_len, sizeof(der));
	assert_memory_equal(c->der, der, sizeof(der));
	assert_int_equal(c->this_update, want.this_update);
	assert_int_equal(c->next_update, want.next_update);
	assert_int_equal(c->changes, want.changes);
	store_crl_free(c);
}

/* A CRL is stored only over a lower number; each CA has its own. */
static void
test_crl(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_crl crl, *c = (struct store_crl *)0x1;
	unsigned char der[300];

	assert_int_equal(store_open(env->uri, &st), 0);
	assert_int_equal(store_get_crl(st, "issuing-2", &c), -ENOENT);
	assert_ptr_equal(c, (struct store_crl *)0x1);
	test_crl_make(&crl, der, sizeof(der), "issuing-2", 5, 1);
	assert_int_equal(store_put_crl(st, &crl), 0);
	assert_crl(st, "issuing-2", 5, 1);
	test_crl_make(&crl, der, sizeof(der), "issuing-2", 5, 2);
	assert_int_equal(store_put_crl(st, &crl), -ESTALE);
	test_crl_make(&crl, der, sizeof(der), "issuing-2", 4, 3);
	assert_int_equal(store_put_crl(st, &crl), -ESTALE);
	test_crl_make(&crl, der, sizeof(der), "issuing-2", 0, 3);
	assert_int_equal(store_put_crl(st, &crl), -ESTALE);
	assert_crl(st, "issuing-2", 5, 1);
	test_crl_make(&crl, der, sizeof(der), "issuing-2", 6, 4);
	assert_int_equal(store_put_crl(st, &crl), 0);
	assert_crl(st, "issuing-2", 6, 4);
	test_crl_make(&crl, der, sizeof(der), "other", 1, 5);
	assert_int_equal(store_put_crl(st, &crl), 0);
	assert_crl(st, "other", 1, 5);
	assert_crl(st, "issuing-2", 6, 4);
	test_crl_make(&crl, der, sizeof(der), "other", (uint64_t)INT64_MAX, 6);
	assert_int_equal(store_put_crl(st, &crl), 0);
	assert_crl(st, "other", (uint64_t)INT64_MAX, 6);

	/* Malformed: nothing stored. */
	test_crl_make(&crl, der, sizeof(der), "x", (uint64_t)INT64_MAX + 1, 0);
	assert_int_equal(store_put_crl(st, &crl), -EINVAL);
	test_crl_make(&crl, der, sizeof(der), NULL, 1, 0);
	assert_int_equal(store_put_crl(st, &crl), -EINVAL);
	test_crl_make(&crl, der, sizeof(der), "x", 1, 0);
	crl.der = NULL;
	assert_int_equal(store_put_crl(st, &crl), -EINVAL);
	test_crl_make(&crl, der, sizeof(der), "x", 1, 0);
	crl.der_len = 0;
	assert_int_equal(store_put_crl(st, &crl), -EINVAL);
	test_crl_make(&crl, der, sizeof(der), "x", 1, 0);
	crl.next_update = crl.this_update;
	assert_int_equal(store_put_crl(st, &crl), -EINVAL);
	test_crl_make(&crl, der, sizeof(der), "x", 1, 0);
	crl.changes = (uint64_t)INT64_MAX + 1;
	assert_int_equal(store_put_crl(st, &crl), -EINVAL);
	assert_int_equal(store_get_crl(st, "x", &c), -ENOENT);
	assert_int_equal(store_contract_int(env, "SELECT count(*) FROM crls"), 2);
	store_close(st);
	env->b->assert_intact(env);
}

/* Racer i revokes with its own reason and name. */
static int
race_revoke(struct store *st, unsigned i, const char *key)
{
	static const int reasons[] = { STORE_REASON_KEY_COMPROMISE, STORE_REASON_SUPERSEDED,
				       STORE_REASON_CERTIFICATE_HOLD, STORE_REASON_UNSPECIFIED };
	char by[32];

	snprintf(by, sizeof(by), "racer %u", i);
	return store_revoke(st, key, reasons[i % 4], 0, by);
}

/* key "CA/NUMBER": racer i stores that CA's CRL number NUMBER (+ i when NUMBER is 0). */
static int
race_put_crl(struct store *st, unsigned i, const char *key)
{
	struct store_crl crl;
	unsigned char der[300];
	char ca[64];
	unsigned long long number = 0;

	if (sscanf(key, "%63[^/]/%llu", ca, &number) != 2)
		return -EPROTO;
	if (number == 0)
		number = 100 + i;
	test_crl_make(&crl, der, sizeof(der), ca, number, (unsigned char)i);
	return store_put_crl(st, &crl);
}

/* Racers revoke one certificate: one revocation, the winner's, counted once. */
static void
test_race_revoke(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_contract_cert t;
	struct store_race rc = { .lost = -EALREADY, .fn = race_revoke };
	char sql[256];
	unsigned round, winner = 0;

	assert_int_equal(store_open(env->uri, &st), 0);
	for (round = 0; round < RACE_DECIDE; round++) {
		store_contract_cert_make(&t, round * 2 + 1, NULL); /* CA issuing-2 */
		assert_int_equal(store_add_cert(st, &t.c), 0);
	}
	store_close(st);
	for (round = 0; round < RACE_DECIDE; round++) {
		store_contract_cert_make(&t, round * 2 + 1, NULL);
		winner = race_once(&rc, env, t.serial);
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM certificates WHERE serial = '%s' AND "
			 "revoked_by = 'racer %u' AND revocation_reason = %d",
			 t.serial, winner, (int[]){ 1, 4, 6, 0 }[winner % 4]);
		assert_int_equal(store_contract_int(env, sql), 1);
	}
	assert_int_equal(store_contract_int(env, "SELECT changes FROM revocation_state WHERE ca = "
						 "'issuing-2'"),
			 RACE_DECIDE);
	env->b->assert_intact(env);
}

/* Racers store CRLs of one CA: the same number, one wins; increasing, the highest stays. */
static void
test_race_crl(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;
	struct store_race rc = { .lost = -ESTALE, .fn = race_put_crl };
	char key[RACE_DECIDE][64], sql[128];
	unsigned round, winner = 0, won;

	assert_int_equal(store_open(env->uri, &st), 0);
	store_close(st);
	for (round = 0; round < RACE_DECIDE; round++) {
		snprintf(key[round], sizeof(key[round]), "same-%u/7", round);
		winner = race_once(&rc, env, key[round]);
		assert_int_equal(store_open(env->uri, &st), 0);
		snprintf(sql, sizeof(sql), "same-%u", round);
		assert_crl(st, sql, 7, (unsigned char)winner);
		store_close(st);
	}
	rc.uri = env->uri;
	rc.settle_ms = env->b->settle_ms;
	for (round = 0; round < RACE_DECIDE; round++) {
		snprintf(key[round], sizeof(key[round]), "up-%u/0", round);
		rc.key = key[round];
		won = store_race_run(&rc, RACERS, &winner);
		assert_true(won >= 1 && won <= RACERS);
		assert_int_equal(store_open(env->uri, &st), 0);
		snprintf(sql, sizeof(sql), "up-%u", round);
		assert_crl(st, sql, 100 + RACERS - 1, (unsigned char)(RACERS - 1));
		store_close(st);
	}
	env->b->assert_intact(env);
}

/* Workers (of one node or several) meeting an empty database at once: one schema, no error. */
static void
test_schema_race(void **state)
{
	struct store_contract_env *env = *state;
	unsigned round;

	for (round = 0; round < RACE_ROUNDS; round++) {
		env->b->reset(env);
		run_children(env->uri, RACE_OPENERS, 1);
		env->b->assert_schema(env);
		assert_int_equal(store_contract_int(env, "SELECT count(*) FROM certificates"),
				 RACE_OPENERS);
		env->b->assert_intact(env);
	}
}

/* scepctl's open: an empty database stays empty; a bad flag is refused. */
static void
test_open_no_create(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = SENTINEL;

	assert_int_equal(store_open_flags(env->uri, STORE_OPEN_NO_CREATE, &st), -ENOENT);
	assert_ptr_equal(st, SENTINEL);
	env->b->assert_absent(env);
	assert_int_equal(store_open_flags(env->uri, 0x80, &st), -EINVAL);
	assert_ptr_equal(st, SENTINEL);

	assert_int_equal(store_open_flags(env->uri, 0, &st), 0);
	store_close(st);
	env->b->assert_schema(env);
	st = NULL;
	assert_int_equal(store_open_flags(env->uri, STORE_OPEN_NO_CREATE, &st), 0);
	store_contract_assert_count(st, 0);
	store_close(st);
}

/* A schema newer than this scepd knows is refused, not used, and left alone. */
static void
test_newer_schema(void **state)
{
	struct store_contract_env *env = *state;
	struct store *st = NULL;

	assert_int_equal(store_open(env->uri, &st), 0);
	store_close(st);
	env->b->set_schema_version(env, 99);
	st = SENTINEL;
	assert_int_equal(store_open(env->uri, &st), -EBADMSG);
	assert_ptr_equal(st, SENTINEL);
	assert_int_equal(store_open_flags(env->uri, STORE_OPEN_NO_CREATE, &st), -EBADMSG);
	assert_ptr_equal(st, SENTINEL);
	assert_int_equal(env->b->schema_version(env), 99);
}

int
store_contract_run(const struct store_backend *b)
{
	const struct CMUnitTest tests[] = {
		store_contract_test(test_roundtrip, b),
		store_contract_test(test_duplicate, b),
		store_contract_test(test_serial_lookup, b),
		store_contract_test(test_invalid_cert, b),
		store_contract_test(test_reopen, b),
		store_contract_test(test_concurrent_writers, b),
		store_contract_test(test_threads, b),
		store_contract_test(test_schema_race, b),
		store_contract_test(test_open_no_create, b),
		store_contract_test(test_newer_schema, b),
		store_contract_test(test_status_names, b),
		store_contract_test(test_cert_walks, b),
		store_contract_test(test_pending_add_get, b),
		store_contract_test(test_pending_walk, b),
		store_contract_test(test_pending_transitions, b),
		store_contract_test(test_add_cert_for_pending, b),
		store_contract_test(test_profiles, b),
		store_contract_test(test_challenges, b),
		store_contract_test(test_race_consume, b),
		store_contract_test(test_challenge_subject, b),
		store_contract_test(test_prune, b),
		store_contract_test(test_race_decide, b),
		store_contract_test(test_race_issue, b),
		store_contract_test(test_reason_names, b),
		store_contract_test(test_revoke, b),
		store_contract_test(test_walk_revoked, b),
		store_contract_test(test_crl, b),
		store_contract_test(test_race_revoke, b),
		store_contract_test(test_race_crl, b),
	};

	return _cmocka_run_group_tests(b->name, tests, sizeof(tests) / sizeof(tests[0]), NULL,
				       NULL);
}
