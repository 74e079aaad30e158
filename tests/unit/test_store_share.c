/*
 * test_store_share.c - the group commit shared by worker processes (store_share.h):
 * forked processes recording into one SQLite file through it lose nothing and record
 * each serial once; a leader killed during its commit neither hangs its waiters nor
 * gets their records answered as committed; records of another database are never
 * committed into this one; a record too big for a slot is handed back.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "scepd/store.h"
#include "scepd/store_share.h"
#include "testlib.h"

#define PROCS          4
#define THREADS        2
#define EACH           50
#define SHARED_SERIALS 10 /* added by every thread of every process, own bytes each */

static struct store_cert
test_cert(const char *serial, const unsigned char *der, size_t len, const char *ca)
{
	return (struct store_cert){ .serial = serial,
				    .subject = "CN=share",
				    .sans = "",
				    .not_before = 1,
				    .not_after = 2,
				    .der = der,
				    .der_len = len,
				    .requester = "127.0.0.1",
				    .endpoint = "csr",
				    .ca = ca };
}

struct test_worker {
	struct store *st;
	unsigned proc, thread;
	int bad; /* a result that is neither 0 nor -EEXIST, or -EEXIST for an own serial */
	unsigned shared_won;
};

static void *
test_worker_run(void *arg)
{
	struct test_worker *w = arg;
	unsigned char der[64];

	for (unsigned i = 0; i < EACH + SHARED_SERIALS; i++) {
		char serial[32];
		bool shared = i >= EACH;
		struct store_cert c;
		int r;

		if (shared)
			snprintf(serial, sizeof(serial), "5EED%02X", i - EACH);
		else
			snprintf(serial, sizeof(serial), "A%02X%02X%04X", w->proc, w->thread, i);
		memset(der, (int)(w->proc * THREADS + w->thread), sizeof(der));
		c = test_cert(serial, der, sizeof(der), "one");
		r = store_add_cert(w->st, &c);
		if (r == 0 && shared)
			w->shared_won++;
		else if (r != 0 && !(shared && r == -EEXIST))
			w->bad++;
	}
	return NULL;
}

/* One forked process: THREADS threads adding through a store joined to sh. Exit status. */
static int
test_process(const char *uri, struct store_share *sh, unsigned proc)
{
	struct test_worker w[THREADS];
	pthread_t t[THREADS];
	struct store *st = NULL;
	unsigned won = 0;
	int bad = 0;

	if (store_open(uri, &st) < 0)
		return 10;
	store_set_share(st, sh);
	for (unsigned i = 0; i < THREADS; i++) {
		w[i] = (struct test_worker){ .st = st, .proc = proc, .thread = i };
		pthread_create(&t[i], NULL, test_worker_run, &w[i]);
	}
	for (unsigned i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		bad += w[i].bad;
		won += w[i].shared_won;
	}
	store_close(st);
	if (bad > 0)
		return 11;
	return (int)won; /* how many shared serials this process got: < 256 */
}

static void
test_share_processes(void **state)
{
	char *dir = testlib_tmpdir("test_store_share"), uri[PATH_MAX];
	struct store_share *sh = NULL;
	struct store *st = NULL;
	unsigned won = 0;
	uint64_t count = 0;
	pid_t pids[PROCS];
	int status;

	(void)state;
	snprintf(uri, sizeof(uri), "sqlite:%s/s.db", dir);
	assert_int_equal(store_open(uri, &st), 0); /* creates the file and schema */
	assert_int_equal(store_share_new(&sh), 0);
	for (unsigned p = 0; p < PROCS; p++) {
		if ((pids[p] = fork()) == 0)
			_exit(test_process(uri, sh, p));
		assert_true(pids[p] > 0);
	}
	for (unsigned p = 0; p < PROCS; p++) {
		assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
		assert_true(WIFEXITED(status));
		assert_true(WEXITSTATUS(status) <= SHARED_SERIALS);
		won += (unsigned)WEXITSTATUS(status);
	}
	/* Each shared serial went to exactly one caller, and every own serial is there. */
	assert_int_equal(won, SHARED_SERIALS);
	assert_int_equal(store_count_certs(st, &count), 0);
	assert_int_equal(count, PROCS * THREADS * EACH + SHARED_SERIALS);
	store_close(st);
	store_share_free(sh);
	testlib_rmtree(dir);
	free(dir);
}

/* Commit callbacks: ctx says how to behave. */
struct test_commit {
	unsigned sleep_ms;
	bool die;       /* _exit() instead of returning: a leader killed in its commit */
	const char *ca; /* every record must be of this database */
	unsigned seen;  /* records committed */
	bool mixed;     /* one was not of ca */
};

static int
test_commit(void *ctx, const struct store_cert *const *certs, size_t n, int *results)
{
	struct test_commit *c = ctx;

	if (c->sleep_ms > 0)
		usleep(c->sleep_ms * 1000);
	if (c->die)
		_exit(0);
	for (size_t i = 0; i < n; i++) {
		c->mixed |= c->ca != NULL && strcmp(certs[i]->ca, c->ca) != 0;
		results[i] = 0;
	}
	c->seen += (unsigned)n;
	return 0;
}

static double
test_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A leader killed during its commit: a record queued meanwhile is committed by the next. */
static void
test_share_leader_dies(void **state)
{
	struct store_share *sh = NULL;
	unsigned char der[16] = { 1 };
	struct store_cert a = test_cert("A", der, sizeof(der), "x");
	struct store_cert b = test_cert("B", der, sizeof(der), "x");
	struct test_commit dies = { .sleep_ms = 300, .die = true };
	struct test_commit ok = { .ca = "x" };
	double start;
	pid_t pid;
	int status;

	(void)state;
	assert_int_equal(store_share_new(&sh), 0);
	if ((pid = fork()) == 0)
		_exit(store_share_add(sh, 1, &a, test_commit, &dies) == 0 ? 1
									  : 2); /* never returns */
	usleep(100 * 1000); /* the child leads, and sleeps in its commit */
	start = test_now();
	assert_int_equal(store_share_add(sh, 1, &b, test_commit, &ok), 0);
	assert_int_equal(ok.seen, 1); /* B committed by this process, after the leader died */
	assert_true(test_now() - start < 2);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0); /* died in the commit */
	store_share_free(sh);
}

/* A record taken by a leader that then dies is answered -EIO, not 0, and never hangs. */
static void
test_share_taken_by_dead_leader(void **state)
{
	struct store_share *sh = NULL;
	unsigned char der[16] = { 2 };
	struct store_cert a = test_cert("A", der, sizeof(der), "x");
	struct store_cert b = test_cert("B", der, sizeof(der), "x");
	struct store_cert c = test_cert("C", der, sizeof(der), "x");
	struct test_commit slow = { .sleep_ms = 300 }, dies = { .die = true }, ok = { 0 };
	pid_t leader, killer;
	double start;
	int r, status;

	(void)state;
	assert_int_equal(store_share_new(&sh), 0);
	if ((leader = fork()) == 0)
		_exit(store_share_add(sh, 1, &a, test_commit, &slow) == 0 ? 0 : 1);
	usleep(100 * 1000);
	if ((killer = fork()) == 0) /* queued behind the leader; it dies if it leads next */
		_exit(store_share_add(sh, 1, &b, test_commit, &dies) == 0 ? 3 : 4);
	usleep(50 * 1000);
	start = test_now();
	r = store_share_add(sh, 1, &c, test_commit, &ok); /* queued too */
	/* Led by this process: committed. Led by the dying one: -EIO. Never a hang. */
	assert_true(r == 0 || r == -EIO);
	assert_true(r != 0 || ok.seen >= 1);
	assert_true(test_now() - start < 3);
	assert_int_equal(waitpid(leader, &status, 0), leader);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(waitpid(killer, &status, 0), killer);
	assert_true(WIFEXITED(status));
	store_share_free(sh);
}

struct test_other_db {
	struct store_share *sh;
	uint64_t id;
	struct test_commit commit;
	int r;
};

static void *
test_other_db_run(void *arg)
{
	struct test_other_db *t = arg;
	unsigned char der[8] = { 3 };
	struct store_cert c = test_cert(t->commit.ca, der, sizeof(der), t->commit.ca);

	t->r = store_share_add(t->sh, t->id, &c, test_commit, &t->commit);
	return NULL;
}

/* Records of two databases queued at once: each commit holds one database's only. */
static void
test_share_two_databases(void **state)
{
	struct store_share *sh = NULL;
	struct test_other_db t[4];
	pthread_t th[4];

	(void)state;
	assert_int_equal(store_share_new(&sh), 0);
	for (unsigned i = 0; i < 4; i++) {
		t[i] = (struct test_other_db){ .sh = sh,
					       .id = i % 2 + 1,
					       .commit = { .sleep_ms = 100,
							   .ca = i % 2 ? "two" : "one" } };
		pthread_create(&th[i], NULL, test_other_db_run, &t[i]);
		usleep(20 * 1000);
	}
	for (unsigned i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].r, 0);
		assert_false(t[i].commit.mixed);
	}
	store_share_free(sh);
}

/* Too big for a slot: handed back, and the slot is free again. */
static void
test_share_too_big(void **state)
{
	static unsigned char big[64 * 1024];
	unsigned char der[8] = { 4 };
	struct store_share *sh = NULL;
	struct test_commit ok = { 0 };
	struct store_cert c = test_cert("B16", big, sizeof(big), "x");

	(void)state;
	assert_int_equal(store_share_new(&sh), 0);
	for (unsigned i = 0; i < 500; i++) /* more than there are slots */
		assert_int_equal(store_share_add(sh, 1, &c, test_commit, &ok), -E2BIG);
	c = test_cert("B17", der, sizeof(der), "x");
	for (unsigned i = 0; i < 500; i++)
		assert_int_equal(store_share_add(sh, 1, &c, test_commit, &ok), 0);
	assert_int_equal(ok.seen, 500);
	store_share_free(sh);
}

/* A process that adds records until it is killed; its commits take a moment. */
static void
test_add_forever(struct store_share *sh, unsigned n)
{
	unsigned char der[16] = { 5 };
	struct store_cert c = test_cert("K", der, sizeof(der), "x");
	struct test_commit slow = { .sleep_ms = 1 };

	prctl(PR_SET_PDEATHSIG, SIGKILL); /* none left behind when the test fails */
	der[1] = (unsigned char)n;
	for (;;)
		if (store_share_add(sh, 1, &c, test_commit, &slow) != 0 && errno != EIO)
			usleep(1000);
}

/* A process that adds one record within 5 s: its exit status (a hang is SIGALRM). */
static int
test_add_within_5s(struct store_share *sh)
{
	unsigned char der[16] = { 6 };
	struct store_cert c = test_cert("L", der, sizeof(der), "x");
	struct test_commit ok = { 0 };
	int status;
	pid_t pid;

	if ((pid = fork()) == 0) {
		alarm(5);
		_exit(store_share_add(sh, 1, &c, test_commit, &ok) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

/*
 * Processes killed at any point, while they lead, wait or copy a record in (as t_fault
 * kills workers): the others go on, and a record added afterwards is committed at once.
 */
static void
test_share_waiters_killed(void **state)
{
	struct store_share *sh = NULL;
	pid_t pids[6];
	int status;

	(void)state;
	assert_int_equal(store_share_new(&sh), 0);
	for (unsigned i = 0; i < 6; i++)
		if ((pids[i] = fork()) == 0)
			test_add_forever(sh, i);
	for (unsigned k = 0; k < 400; k++) {
		unsigned i = (unsigned)rand() % 6;

		usleep((useconds_t)(rand() % 3000));
		kill(pids[i], SIGKILL);
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		if ((pids[i] = fork()) == 0)
			test_add_forever(sh, i);
		if (k % 100 == 99) /* the survivors still let a newcomer through */
			assert_int_equal(test_add_within_5s(sh), 0);
	}
	for (unsigned i = 0; i < 6; i++) {
		kill(pids[i], SIGKILL);
		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
	}
	assert_int_equal(test_add_within_5s(sh), 0);
	store_share_free(sh);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_share_processes),
		cmocka_unit_test(test_share_leader_dies),
		cmocka_unit_test(test_share_taken_by_dead_leader),
		cmocka_unit_test(test_share_two_databases),
		cmocka_unit_test(test_share_too_big),
		cmocka_unit_test(test_share_waiters_killed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
