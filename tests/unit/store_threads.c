/*
 * store_threads.c - see store_threads.h. The threads only record what happened; the
 * test's assertions run afterwards, in the test's own thread (cmocka's are not
 * thread-safe).
 */
#include "store_threads.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define STORE_THREADS_DER_LEN 400
#define STORE_THREADS_SHARED  10 /* every 10th certificate has a shared serial */

struct store_threads_run {
	struct store *st;
	unsigned serial_base;
	pthread_barrier_t start;
};

struct store_threads_one {
	struct store_threads_run *run;
	unsigned thread;
	pthread_t tid;
	int results[STORE_THREADS_EACH];
};

static void
store_threads_serial(unsigned base, unsigned thread, unsigned i, char *buf, size_t size)
{
	if (i % STORE_THREADS_SHARED == 0)
		snprintf(buf, size, "%X", base + i);
	else
		snprintf(buf, size, "%X", base + 0x10000u + thread * STORE_THREADS_EACH + i);
}

/* The bytes thread `thread` records for certificate i: tell the threads apart. */
static void
store_threads_der(unsigned thread, unsigned i, unsigned char *der)
{
	for (size_t k = 0; k < STORE_THREADS_DER_LEN; k++)
		der[k] = (unsigned char)(k * 13 + thread * 101 + i);
	der[0] = 0x30;
}

static void *
store_threads_main(void *arg)
{
	struct store_threads_one *one = arg;
	unsigned char der[STORE_THREADS_DER_LEN];
	char serial[32], subject[64];

	pthread_barrier_wait(&one->run->start);
	for (unsigned i = 0; i < STORE_THREADS_EACH; i++) {
		store_threads_serial(one->run->serial_base, one->thread, i, serial, sizeof(serial));
		snprintf(subject, sizeof(subject), "CN=thread%u-%u.example", one->thread, i);
		store_threads_der(one->thread, i, der);
		one->results[i] = store_add_cert(one->run->st, &(struct store_cert){
								       .serial = serial,
								       .subject = subject,
								       .sans = "",
								       .not_before = 1700000000,
								       .not_after = 1731536000,
								       .der = der,
								       .der_len = sizeof(der),
								       .requester = "192.0.2.9",
								       .endpoint = "csr",
								       .profile = "csr",
								       .ca = "default",
							       });
	}
	return NULL;
}

/* The recorded bytes of serial are thread's certificate i. */
static void
store_threads_assert_der(struct store *st, const char *serial, unsigned thread, unsigned i)
{
	unsigned char want[STORE_THREADS_DER_LEN], *der = NULL;
	size_t len = 0;

	store_threads_der(thread, i, want);
	assert_int_equal(store_get_cert_der(st, serial, &der, &len), 0);
	assert_int_equal(len, sizeof(want));
	assert_memory_equal(der, want, sizeof(want));
	free(der);
}

void
store_threads_check(struct store *st, unsigned serial_base)
{
	static struct store_threads_one threads[STORE_THREADS];
	struct store_threads_run run = { .st = st, .serial_base = serial_base };
	char serial[32];
	uint64_t before = 0, after = 0;

	assert_int_equal(store_count_certs(st, &before), 0);
	assert_int_equal(pthread_barrier_init(&run.start, NULL, STORE_THREADS), 0);
	for (unsigned t = 0; t < STORE_THREADS; t++) {
		threads[t] = (struct store_threads_one){ .run = &run, .thread = t };
		assert_int_equal(
			pthread_create(&threads[t].tid, NULL, store_threads_main, &threads[t]), 0);
	}
	for (unsigned t = 0; t < STORE_THREADS; t++)
		assert_int_equal(pthread_join(threads[t].tid, NULL), 0);
	pthread_barrier_destroy(&run.start);

	for (unsigned i = 0; i < STORE_THREADS_EACH; i++) {
		unsigned winners = 0, winner = 0;

		for (unsigned t = 0; t < STORE_THREADS; t++) {
			int r = threads[t].results[i];

			store_threads_serial(serial_base, t, i, serial, sizeof(serial));
			if (r != 0 && r != -EEXIST)
				fail_msg("thread %u, serial %s: %s", t, serial, strerror(-r));
			if (i % STORE_THREADS_SHARED != 0) {
				assert_int_equal(r, 0);
				store_threads_assert_der(st, serial, t, i);
			} else if (r == 0) {
				winners++;
				winner = t;
			}
		}
		if (i % STORE_THREADS_SHARED == 0) {
			store_threads_serial(serial_base, 0, i, serial, sizeof(serial));
			if (winners != 1)
				fail_msg("shared serial %s recorded for %u threads", serial,
					 winners);
			store_threads_assert_der(st, serial, winner, i);
		}
	}
	assert_int_equal(store_count_certs(st, &after), 0);
	assert_int_equal(
		after - before,
		STORE_THREADS * (STORE_THREADS_EACH - STORE_THREADS_EACH / STORE_THREADS_SHARED) +
			STORE_THREADS_EACH / STORE_THREADS_SHARED);
}
