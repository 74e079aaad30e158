/*
 * test_ratelimit.c - the per-address refusal budget: burst, refill, independence of
 * addresses, a full table, no limit, bad addresses, threads, and the hash's published
 * test vectors. The clock is the tests' own: every call names its time.
 */
#include "scepd/ratelimit.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

enum test_op { TAKE, EXHAUSTED };

struct test_step {
	enum test_op op;
	const char *addr;
	double now;
	bool expect;
	int times; /* how many times in a row */
};

static void
test_run(struct ratelimit *rl, const struct test_step *steps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (int t = 0; t < steps[i].times; t++) {
			bool got = steps[i].op == TAKE
					   ? ratelimit_take(rl, steps[i].addr, steps[i].now)
					   : ratelimit_exhausted(rl, steps[i].addr, steps[i].now);

			if (got != steps[i].expect)
				fail_msg("step %zu (%s \"%s\" at %g, time %d): %d, expected %d", i,
					 steps[i].op == TAKE ? "take" : "exhausted", steps[i].addr,
					 steps[i].now, t + 1, got, steps[i].expect);
		}
	}
}

/* SipHash-2-4, key 00..0f: the empty message and 00..0e (the paper's Appendix A). */
static void
test_siphash_vectors(void **state)
{
	unsigned char key[16], msg[15];

	(void)state;
	for (int i = 0; i < 16; i++)
		key[i] = (unsigned char)i;
	for (int i = 0; i < 15; i++)
		msg[i] = (unsigned char)i;
	assert_true(ratelimit_siphash(key, msg, 0) == UINT64_C(0x726fdb47dd0e0e31));
	assert_true(ratelimit_siphash(key, msg, 15) == UINT64_C(0xa129ca6149be45e5));
}

/* 6 a minute: a burst of 6, then one token per 10 s, never more than 6. */
static void
test_burst_and_refill(void **state)
{
	/* clang-format off */
	static const struct test_step steps[] = {
		{ EXHAUSTED, "192.0.2.7", 0,    false,  1 },
		{ TAKE,      "192.0.2.7", 0,    true,   6 },
		{ EXHAUSTED, "192.0.2.7", 0,    true,   1 },
		{ TAKE,      "192.0.2.7", 0,    false,  3 },
		{ TAKE,      "192.0.2.7", 9.9,  false,  1 },
		{ EXHAUSTED, "192.0.2.7", 9.9,  true,   1 },
		{ EXHAUSTED, "192.0.2.7", 10,   false,  1 },
		{ TAKE,      "192.0.2.7", 10,   true,   1 },
		{ TAKE,      "192.0.2.7", 10,   false,  1 },
		{ TAKE,      "192.0.2.7", 35,   true,   2 }, /* 2.5 tokens */
		{ TAKE,      "192.0.2.7", 35,   false,  1 },
		{ TAKE,      "192.0.2.7", 40,   true,   1 }, /* the half token counted */
		{ TAKE,      "192.0.2.7", 40,   false,  1 },
		/* an hour of silence fills the bucket, not more */
		{ EXHAUSTED, "192.0.2.7", 3640, false, 20 }, /* looking takes nothing */
		{ TAKE,      "192.0.2.7", 3640, true,   6 },
		{ TAKE,      "192.0.2.7", 3640, false,  1 },
		/* a clock that goes back refills nothing */
		{ TAKE,      "192.0.2.7", 100,  false,  1 },
		{ TAKE,      "192.0.2.7", 3649, false,  1 },
		{ TAKE,      "192.0.2.7", 3650, true,   1 },
	};
	/* clang-format on */
	struct ratelimit *rl = NULL;

	(void)state;
	assert_int_equal(ratelimit_new(6, 4096, &rl), 0);
	test_run(rl, steps, sizeof(steps) / sizeof(steps[0]));
	ratelimit_free(rl);
}

/* One address's refusals do not spend another's, however alike their names. */
static void
test_addresses_independent(void **state)
{
	/* clang-format off */
	static const struct test_step steps[] = {
		{ TAKE,      "192.0.2.7",    0, true,  2 },
		{ TAKE,      "192.0.2.7",    0, false, 1 },
		{ EXHAUSTED, "192.0.2.70",   0, false, 1 },
		{ TAKE,      "192.0.2.70",   0, true,  2 },
		{ TAKE,      "192.0.2.",     0, true,  2 },
		{ TAKE,      "::1",          0, true,  2 },
		{ TAKE,      "::1",          0, false, 1 },
		{ TAKE,      "2001:db8::7",  0, true,  2 },
		{ TAKE,      "fe80::1%eth0", 0, true,  2 },
		{ TAKE,      "fe80::1%eth1", 0, true,  2 },
		{ EXHAUSTED, "192.0.2.7",    0, true,  1 },
		{ EXHAUSTED, "192.0.2.8",    0, false, 1 },
	};
	/* clang-format on */
	struct ratelimit *rl = NULL;

	(void)state;
	assert_int_equal(ratelimit_new(2, 4096, &rl), 0);
	test_run(rl, steps, sizeof(steps) / sizeof(steps[0]));
	ratelimit_free(rl);
}

/*
 * Four slots, one refusal a minute: four addresses fill the table, a fifth is
 * refused, the four are not forgotten while they have tokens to get back, and a
 * slot whose bucket is full again goes to a new address.
 */
static void
test_table_full(void **state)
{
	/* clang-format off */
	static const struct test_step steps[] = {
		{ TAKE,      "192.0.2.1", 0,  true,  1 },
		{ TAKE,      "192.0.2.2", 0,  true,  1 },
		{ TAKE,      "192.0.2.3", 0,  true,  1 },
		{ TAKE,      "192.0.2.4", 0,  true,  1 },
		{ TAKE,      "192.0.2.5", 0,  false, 1 },
		{ EXHAUSTED, "192.0.2.5", 0,  true,  1 },
		{ TAKE,      "192.0.2.5", 59, false, 1 },
		{ TAKE,      "192.0.2.1", 30, false, 1 },
		{ EXHAUSTED, "192.0.2.4", 59, true,  1 },
		{ TAKE,      "192.0.2.5", 60, true,  1 },
		{ TAKE,      "192.0.2.5", 60, false, 1 },
		{ EXHAUSTED, "192.0.2.5", 60, true,  1 },
		{ TAKE,      "192.0.2.6", 60, true,  1 },
		{ TAKE,      "192.0.2.7", 60, true,  1 },
		{ TAKE,      "192.0.2.8", 60, true,  1 },
		{ TAKE,      "192.0.2.9", 60, false, 1 },
	};
	/* clang-format on */
	struct ratelimit *rl = NULL;
	char addr[RATELIMIT_ADDR_MAX];
	int taken = 0;

	(void)state;
	assert_int_equal(ratelimit_new(1, 4, &rl), 0);
	test_run(rl, steps, sizeof(steps) / sizeof(steps[0]));
	ratelimit_free(rl);

	/* a flood of addresses: no more than the table holds get a refusal */
	assert_int_equal(ratelimit_new(1, 64, &rl), 0);
	for (int i = 0; i < 1000; i++) {
		snprintf(addr, sizeof(addr), "2001:db8::%x", i);
		taken += ratelimit_take(rl, addr, 0);
	}
	assert_true(taken <= 64);
	assert_true(taken >= 32); /* at least the probes of one address */
	for (int i = 0; i < 1000; i++) {
		snprintf(addr, sizeof(addr), "2001:db8::%x", i);
		assert_true(ratelimit_exhausted(rl, addr, 59));
		assert_false(ratelimit_take(rl, addr, 59));
	}
	assert_true(ratelimit_take(rl, "192.0.2.1", 61));
	ratelimit_free(rl);
}

/* per_minute 0: no limit, no table. */
static void
test_no_limit(void **state)
{
	struct ratelimit *rl = NULL;

	(void)state;
	assert_int_equal(ratelimit_new(0, 0, &rl), 0);
	for (int i = 0; i < 10000; i++)
		assert_true(ratelimit_take(rl, "192.0.2.7", 0));
	assert_false(ratelimit_exhausted(rl, "192.0.2.7", 0));
	ratelimit_free(rl);
}

/* What is not an address is refused; the contract of ratelimit_new(). */
static void
test_not_addresses(void **state)
{
	struct ratelimit *rl = NULL;
	char longest[RATELIMIT_ADDR_MAX], too_long[RATELIMIT_ADDR_MAX + 1];

	(void)state;
	assert_int_equal(ratelimit_new(1, 0, &rl), -EINVAL);
	assert_null(rl);
	ratelimit_free(NULL);
	assert_int_equal(ratelimit_new(5, 16, &rl), 0);
	memset(longest, 'a', sizeof(longest) - 1);
	longest[sizeof(longest) - 1] = '\0';
	memset(too_long, 'a', sizeof(too_long) - 1);
	too_long[sizeof(too_long) - 1] = '\0';
	assert_true(ratelimit_take(rl, longest, 0));
	assert_false(ratelimit_exhausted(rl, longest, 0));
	assert_false(ratelimit_take(rl, too_long, 0));
	assert_true(ratelimit_exhausted(rl, too_long, 0));
	assert_false(ratelimit_take(rl, "", 0));
	assert_true(ratelimit_exhausted(rl, "", 0));
	assert_false(ratelimit_take(rl, NULL, 0));
	assert_true(ratelimit_exhausted(rl, NULL, 0));
	ratelimit_free(rl);
}

#define TEST_THREADS    4
#define TEST_PER_MINUTE 1000

struct test_thread {
	struct ratelimit *rl;
	char own[32];
	int shared_taken, own_taken;
};

static void *
test_thread_main(void *arg)
{
	struct test_thread *t = arg;

	for (int i = 0; i < 3 * TEST_PER_MINUTE; i++) {
		t->shared_taken += ratelimit_take(t->rl, "192.0.2.7", 0);
		t->own_taken += ratelimit_take(t->rl, t->own, 0);
		(void)ratelimit_exhausted(t->rl, "192.0.2.7", 0);
	}
	return NULL;
}

/* Threads hammering one table: every token is given once, none is lost. */
static void
test_threads(void **state)
{
	struct test_thread threads[TEST_THREADS];
	pthread_t ids[TEST_THREADS];
	struct ratelimit *rl = NULL;
	int shared = 0;

	(void)state;
	assert_int_equal(ratelimit_new(TEST_PER_MINUTE, 4096, &rl), 0);
	for (int i = 0; i < TEST_THREADS; i++) {
		threads[i] = (struct test_thread){ .rl = rl };
		snprintf(threads[i].own, sizeof(threads[i].own), "2001:db8::%d", i);
		assert_int_equal(pthread_create(&ids[i], NULL, test_thread_main, &threads[i]), 0);
	}
	for (int i = 0; i < TEST_THREADS; i++) {
		assert_int_equal(pthread_join(ids[i], NULL), 0);
		assert_int_equal(threads[i].own_taken, TEST_PER_MINUTE);
		shared += threads[i].shared_taken;
	}
	assert_int_equal(shared, TEST_PER_MINUTE);
	assert_true(ratelimit_exhausted(rl, "192.0.2.7", 0));
	ratelimit_free(rl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_vectors),
		cmocka_unit_test(test_burst_and_refill),
		cmocka_unit_test(test_addresses_independent),
		cmocka_unit_test(test_table_full),
		cmocka_unit_test(test_no_limit),
		cmocka_unit_test(test_not_addresses),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
