/*
 * test_ocsp_cache.c - signed OCSP answers kept for reuse (ocsp_cache.h): an answer
 * comes back byte for byte under its key only, until it is max_age seconds old (and not
 * when the clock went back); another status makes another key; a newer answer in the
 * same place replaces the older; an answer too big is not kept.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scepd/ocsp_cache.h"

/* The key of a request and one status, as ocsp_http makes it. */
static void
test_key(struct ocsp_cache_key *key, const char *request, const char *serial, long long status)
{
	assert_int_equal(ocsp_cache_key_begin(key), 0);
	assert_int_equal(ocsp_cache_key_add(key, request, strlen(request)), 0);
	assert_int_equal(ocsp_cache_key_add(key, serial, strlen(serial) + 1), 0);
	assert_int_equal(ocsp_cache_key_add(key, &status, sizeof(status)), 0);
	assert_int_equal(ocsp_cache_key_end(key), 0);
	ocsp_cache_key_clear(key);
}

static void
test_reuse_and_age(void **state)
{
	static const unsigned char answer[] = "a signed answer";
	struct ocsp_cache *cache = NULL;
	struct ocsp_cache_key good, revoked, other;
	unsigned char *der = NULL;
	size_t len = 0;
	time_t produced = 0;

	(void)state;
	assert_int_equal(ocsp_cache_new(60, &cache), 0);
	test_key(&good, "request", "1A", 0);
	test_key(&revoked, "request", "1A", 1);
	test_key(&other, "request", "1B", 0);
	assert_int_equal(ocsp_cache_get(cache, &good, 1000, &der, &len, &produced), -ENOENT);
	assert_int_equal(ocsp_cache_put(cache, &good, 1000, answer, sizeof(answer)), 0);
	assert_int_equal(ocsp_cache_get(cache, &good, 1059, &der, &len, &produced), 0);
	assert_int_equal(len, sizeof(answer));
	assert_memory_equal(der, answer, len);
	assert_int_equal(produced, 1000);
	free(der);
	/* The status changed, another serial: not this answer. */
	assert_int_equal(ocsp_cache_get(cache, &revoked, 1001, &der, &len, &produced), -ENOENT);
	assert_int_equal(ocsp_cache_get(cache, &other, 1001, &der, &len, &produced), -ENOENT);
	/* max_age seconds old, or the clock set back: not reused. */
	assert_int_equal(ocsp_cache_get(cache, &good, 1060, &der, &len, &produced), -ENOENT);
	assert_int_equal(ocsp_cache_get(cache, &good, 999, &der, &len, &produced), -ENOENT);
	ocsp_cache_free(cache);
}

static void
test_replace_and_limits(void **state)
{
	static unsigned char big[OCSP_CACHE_DER_MAX + 1];
	struct ocsp_cache *cache = NULL;
	struct ocsp_cache_key key;
	unsigned char *der = NULL;
	size_t len = 0;
	time_t produced = 0;

	(void)state;
	assert_int_equal(ocsp_cache_new(0, &cache), -EINVAL);
	assert_int_equal(ocsp_cache_new(10, &cache), 0);
	test_key(&key, "request", "2C", 0);
	assert_int_equal(ocsp_cache_put(cache, &key, 100, (const unsigned char *)"old", 3), 0);
	assert_int_equal(ocsp_cache_put(cache, &key, 105, (const unsigned char *)"newer", 5), 0);
	assert_int_equal(ocsp_cache_get(cache, &key, 106, &der, &len, &produced), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(der, "newer", 5);
	assert_int_equal(produced, 105);
	free(der);
	assert_int_equal(ocsp_cache_put(cache, &key, 106, big, sizeof(big)), -E2BIG);
	assert_int_equal(ocsp_cache_put(cache, &key, 106, big, 0), -E2BIG);
	/* Many keys: each either comes back as put or is gone, never another's answer. */
	for (unsigned i = 0; i < 3 * OCSP_CACHE_ENTRIES; i++) {
		char serial[16];

		snprintf(serial, sizeof(serial), "%X", i);
		test_key(&key, "many", serial, 0);
		assert_int_equal(ocsp_cache_put(cache, &key, 200, (const unsigned char *)serial,
						strlen(serial) + 1),
				 0);
	}
	for (unsigned i = 0; i < 3 * OCSP_CACHE_ENTRIES; i++) {
		char serial[16];
		int r;

		snprintf(serial, sizeof(serial), "%X", i);
		test_key(&key, "many", serial, 0);
		r = ocsp_cache_get(cache, &key, 201, &der, &len, &produced);
		assert_true(r == 0 || r == -ENOENT);
		if (r == 0) {
			assert_string_equal((const char *)der, serial);
			free(der);
		}
	}
	ocsp_cache_free(cache);
	ocsp_cache_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reuse_and_age),
		cmocka_unit_test(test_replace_and_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
