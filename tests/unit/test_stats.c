/*
 * test_stats.c - the shared counters: increments from several forked processes (and
 * from a process forked after others died) all counted, histogram buckets, name slots
 * kept across "reloads", a full slot table, and the text the renderer writes.
 */
#include "scepd/stats.h"

#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define TEST_CHILDREN 4
#define TEST_ROUNDS   20000

/* The whole rendered text, malloc()ed. */
static char *
test_render(const struct stats *st)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	assert_int_equal(stats_render(st, f), 0);
	assert_int_equal(fclose(f), 0);
	return buf;
}

/* The value of the series line that starts with prefix (name and labels), or -1. */
static long long
test_value(const char *text, const char *series)
{
	size_t n = strlen(series);

	for (const char *line = text; line != NULL && *line != '\0';) {
		const char *nl = strchr(line, '\n');

		if (strncmp(line, series, n) == 0 && line[n] == ' ')
			return strtoll(line + n + 1, NULL, 10);
		line = nl != NULL ? nl + 1 : NULL;
	}
	return -1;
}

static void
test_wait_children(const pid_t *pids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int status;

		assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
}

static void
test_forked_processes(void **state)
{
	struct stats *st = NULL;
	pid_t pids[TEST_CHILDREN + 1];
	char *text;
	int prof, ca;

	(void)state;
	assert_int_equal(stats_new(&st), 0);
	assert_true((prof = stats_assign(st, STATS_NAMES_PROFILE, "hosts")) > 0);
	assert_true((ca = stats_assign(st, STATS_NAMES_CA, "servers")) > 0);
	/* A "generation" of workers counting at the same time. */
	for (size_t i = 0; i < TEST_CHILDREN; i++) {
		assert_true((pids[i] = fork()) >= 0);
		if (pids[i] == 0) {
			for (int k = 0; k < TEST_ROUNDS; k++) {
				stats_http(st, STATS_EP_CSR, (unsigned)prof, 200, 1000);
				stats_issued(st, (unsigned)ca, (unsigned)prof);
			}
			_exit(0);
		}
	}
	test_wait_children(pids, TEST_CHILDREN);
	/* Its replacement, forked after the others are gone, adds to the same counters. */
	assert_true((pids[TEST_CHILDREN] = fork()) >= 0);
	if (pids[TEST_CHILDREN] == 0) {
		stats_http(st, STATS_EP_CSR, (unsigned)prof, 200, 1000);
		stats_restart(st, STATS_RESTART_SIGNAL);
		_exit(0);
	}
	test_wait_children(&pids[TEST_CHILDREN], 1);
	text = test_render(st);
	assert_int_equal(test_value(text, "scepd_http_requests_total{endpoint=\"csr\",profile="
					  "\"hosts\",code=\"200\"}"),
			 TEST_CHILDREN * TEST_ROUNDS + 1);
	assert_int_equal(
		test_value(text,
			   "scepd_certificates_issued_total{ca=\"servers\",profile=\"hosts\"}"),
		TEST_CHILDREN * TEST_ROUNDS);
	assert_int_equal(test_value(text, "scepd_request_duration_seconds_count{endpoint=\"csr\"}"),
			 TEST_CHILDREN * TEST_ROUNDS + 1);
	assert_int_equal(test_value(text, "scepd_worker_restarts_total{cause=\"signal\"}"), 1);
	assert_int_equal(test_value(text, "scepd_worker_restarts_total{cause=\"exit\"}"), 0);
	free(text);
	stats_free(st);
}

/* Where one latency lands: the smallest bucket whose bound is >= the value. */
static const struct {
	uint64_t usec;
	const char *le;
} test_buckets[] = {
	{ 0, "0.0005" },    { 500, "0.0005" },  { 501, "0.001" },     { 2400, "0.0025" },
	{ 5000, "0.005" },  { 5001, "0.01" },   { 99999, "0.1" },     { 100000, "0.1" },
	{ 2500000, "2.5" }, { 10000000, "10" }, { 10000001, "+Inf" }, { UINT64_MAX / 2, "+Inf" },
};

static void
test_histogram_buckets(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(test_buckets) / sizeof(test_buckets[0]); i++) {
		struct stats *st = NULL;
		char series[128], below[128], *text;
		const char *bounds[] = { "0.0005", "0.001", "0.0025", "0.005", "0.01",
					 "0.025",  "0.05",  "0.1",    "0.25",  "0.5",
					 "1",      "2.5",   "5",      "10",    "+Inf" };
		size_t b = 0;

		assert_int_equal(stats_new(&st), 0);
		stats_http(st, STATS_EP_SCEP, 0, 200, test_buckets[i].usec);
		text = test_render(st);
		while (strcmp(bounds[b], test_buckets[i].le) != 0)
			b++;
		snprintf(series, sizeof(series),
			 "scepd_request_duration_seconds_bucket{endpoint=\"scep\",le=\"%s\"}",
			 bounds[b]);
		if (test_value(text, series) != 1)
			fail_msg("%" PRIu64 " us: %s is %lld, expected 1", test_buckets[i].usec,
				 series, test_value(text, series));
		if (b > 0) {
			snprintf(below, sizeof(below),
				 "scepd_request_duration_seconds_bucket{endpoint=\"scep\",le=\"%"
				 "s\"}",
				 bounds[b - 1]);
			if (test_value(text, below) != 0)
				fail_msg("%" PRIu64 " us: %s is %lld, expected 0",
					 test_buckets[i].usec, below, test_value(text, below));
		}
		/* Cumulative: +Inf and _count hold it whatever the bucket. */
		assert_int_equal(test_value(text, "scepd_request_duration_seconds_bucket{endpoint="
						  "\"scep\",le=\"+Inf\"}"),
				 1);
		assert_int_equal(
			test_value(text, "scepd_request_duration_seconds_count{endpoint=\"scep\"}"),
			1);
		free(text);
		stats_free(st);
	}
}

static void
test_histogram_sum(void **state)
{
	struct stats *st = NULL;
	char *text;

	(void)state;
	assert_int_equal(stats_new(&st), 0);
	stats_http(st, STATS_EP_OCSP, 0, 200, 1500000);
	stats_http(st, STATS_EP_OCSP, 0, 200, 250);
	text = test_render(st);
	assert_non_null(strstr(text, "scepd_request_duration_seconds_sum{endpoint=\"ocsp\"} "
				     "1.500250\n"));
	free(text);
	stats_free(st);
}

/* A reload keeps each name's slot; new names take free ones; a full table says so. */
static void
test_name_slots(void **state)
{
	struct stats *st = NULL;
	char name[32], longname[STATS_NAME_MAX + 8];
	int a, b;

	(void)state;
	assert_int_equal(stats_new(&st), 0);
	assert_int_equal(stats_find(st, STATS_NAMES_PROFILE, "a"), 0);
	assert_true((a = stats_assign(st, STATS_NAMES_PROFILE, "a")) > 0);
	assert_true((b = stats_assign(st, STATS_NAMES_PROFILE, "b")) > 0);
	assert_int_not_equal(a, b);
	/* "reload": b first, then a again: same slots. */
	assert_int_equal(stats_assign(st, STATS_NAMES_PROFILE, "b"), b);
	assert_int_equal(stats_assign(st, STATS_NAMES_PROFILE, "a"), a);
	assert_int_equal(stats_find(st, STATS_NAMES_PROFILE, "a"), (unsigned)a);
	/* Profiles and CAs are separate tables. */
	assert_int_equal(stats_find(st, STATS_NAMES_CA, "a"), 0);
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(stats_assign(st, STATS_NAMES_CA, longname), -ENOSPC);
	for (int i = 0; i < STATS_CAS_MAX - 1; i++) {
		snprintf(name, sizeof(name), "ca%d", i);
		assert_int_equal(stats_assign(st, STATS_NAMES_CA, name), i + 1);
	}
	assert_int_equal(stats_assign(st, STATS_NAMES_CA, "one-too-many"), -ENOSPC);
	/* Counted in slot 0, rendered with an empty label. */
	stats_issued(st, stats_find(st, STATS_NAMES_CA, "one-too-many"), (unsigned)a);
	{
		static uint64_t revoked[STATS_CAS_MAX][STATS_PROFILES_MAX];
		char *text = test_render(st);

		assert_int_equal(
			test_value(text, "scepd_certificates_issued_total{ca=\"\",profile=\"a\"}"),
			1);
		/* The revoked gauge has no sample until a count in the store set it. */
		assert_null(strstr(text, "scepd_certificates_revoked{"));
		free(text);
		revoked[0][a] = 2;
		revoked[1][b] = 5;
		stats_set_revoked(st, (const uint64_t(*)[STATS_PROFILES_MAX])revoked);
		text = test_render(st);
		assert_int_equal(
			test_value(text, "scepd_certificates_revoked{ca=\"\",profile=\"a\"}"), 2);
		assert_int_equal(
			test_value(text, "scepd_certificates_revoked{ca=\"ca0\",profile=\"b\"}"),
			5);
		free(text);
	}
	stats_free(st);
}

/* Every enum value renders with its label; NULL and out-of-range ids count nothing. */
static void
test_labels(void **state)
{
	struct stats *st = NULL;
	char *text;

	(void)state;
	assert_int_equal(stats_new(&st), 0);
	for (int e = 0; e < STATS_EP_COUNT_; e++)
		stats_http(st, (enum stats_endpoint)e, 0, 418, 1);
	stats_http(st, STATS_EP_COUNT_, 0, 200, 1);
	stats_http(NULL, STATS_EP_CSR, 0, 200, 1);
	stats_scep(st, STATS_SCEP_PKCSREQ, STATS_PKI_FAILURE, STATS_FAIL_BAD_MESSAGE_CHECK);
	stats_scep(st, STATS_SCEP_CERTPOLL, STATS_PKI_PENDING, STATS_FAIL_NONE);
	stats_scep(st, STATS_SCEP_TYPE_COUNT_, STATS_PKI_PENDING, STATS_FAIL_NONE);
	text = test_render(st);
	for (int e = 0; e < STATS_EP_COUNT_; e++) {
		char series[128];

		snprintf(series, sizeof(series),
			 "scepd_http_requests_total{endpoint=\"%s\",profile=\"\",code=\"other\"}",
			 stats_endpoint_name((enum stats_endpoint)e));
		assert_int_equal(test_value(text, series), 1);
	}
	assert_null(strstr(text, "code=\"200\""));
	assert_int_equal(test_value(text, "scepd_scep_messages_total{message_type=\"PKCSReq\","
					  "pki_status=\"FAILURE\",fail_info=\"badMessageCheck\"}"),
			 1);
	assert_int_equal(test_value(text, "scepd_scep_messages_total{message_type=\"CertPoll\","
					  "pki_status=\"PENDING\",fail_info=\"\"}"),
			 1);
	assert_non_null(strstr(text, "# TYPE scepd_request_duration_seconds histogram\n"));
	free(text);
	/* Key operations by what they made; the store commit histogram has no labels. */
	stats_sign(st, STATS_KEY_CERTIFICATE, 7000, STATS_SIGN_OK);
	stats_sign(st, STATS_KEY_CERTIFICATE, 20000000, STATS_SIGN_ERR_TOKEN);
	stats_sign(st, STATS_KEY_CERTIFICATE, 1, STATS_SIGN_ERR_COUNT_); /* timed, not counted */
	stats_sign(st, STATS_KEY_OCSP, 800, STATS_SIGN_ERR_PIN);
	stats_sign(st, STATS_KEY_OP_COUNT_, 800, STATS_SIGN_ERR_PIN); /* out of range: ignored */
	stats_store_commit(st, 1, true);
	text = test_render(st);
#define SIGN_SERIES(op, tail) "scepd_sign_duration_seconds_" tail "{operation=\"" op "\""
	assert_int_equal(test_value(text, SIGN_SERIES("certificate", "bucket") ",le=\"0.005\"}"),
			 1);
	assert_int_equal(test_value(text, SIGN_SERIES("certificate", "bucket") ",le=\"0.01\"}"), 2);
	assert_int_equal(test_value(text, SIGN_SERIES("certificate", "bucket") ",le=\"+Inf\"}"), 3);
	assert_int_equal(test_value(text, SIGN_SERIES("certificate", "count") "}"), 3);
	assert_non_null(strstr(text, "\n" SIGN_SERIES("certificate", "sum") "} 20.007001\n"));
	assert_int_equal(test_value(text, SIGN_SERIES("ocsp", "bucket") ",le=\"0.0005\"}"), 0);
	assert_int_equal(test_value(text, SIGN_SERIES("ocsp", "bucket") ",le=\"0.001\"}"), 1);
	assert_int_equal(test_value(text, SIGN_SERIES("crl", "count") "}"), 0);
	assert_int_equal(test_value(text, SIGN_SERIES("decrypt", "count") "}"), 0);
#undef SIGN_SERIES
	assert_int_equal(test_value(text, "scepd_sign_errors_total{operation=\"certificate\","
					  "ckr_class=\"token\"}"),
			 1);
	assert_int_equal(test_value(text, "scepd_sign_errors_total{operation=\"ocsp\","
					  "ckr_class=\"pin\"}"),
			 1);
	assert_int_equal(test_value(text, "scepd_sign_errors_total{operation=\"certificate\","
					  "ckr_class=\"pin\"}"),
			 0);
	assert_int_equal(test_value(text, "scepd_sign_errors_total{operation=\"crl\","
					  "ckr_class=\"none\"}"),
			 0);
	assert_int_equal(test_value(text, "scepd_sign_errors_total{operation=\"next_ca\","
					  "ckr_class=\"other\"}"),
			 0);
	assert_int_equal(test_value(text, "scepd_store_commit_duration_seconds_count"), 1);
	assert_int_equal(test_value(text, "scepd_store_commit_errors_total"), 1);
	/* Pending requests: absent until set, then every profile name, 0 included. */
	assert_null(strstr(text, "scepd_pending_requests{"));
	{
		uint64_t counts[STATS_PROFILES_MAX] = { 0 };
		int p = stats_assign(st, STATS_NAMES_PROFILE, "iphone");

		assert_true(p > 0);
		stats_assign(st, STATS_NAMES_PROFILE, "idle");
		counts[p] = 3;
		stats_set_pending(st, counts);
	}
	free(text);
	text = test_render(st);
	assert_int_equal(test_value(text, "scepd_pending_requests{profile=\"iphone\"}"), 3);
	assert_int_equal(test_value(text, "scepd_pending_requests{profile=\"idle\"}"), 0);
	assert_int_equal(test_value(text, "scepd_pending_requests{profile=\"\"}"), -1);
	/* CRL age: the newest thisUpdate served wins, an older copy served later does not. */
	stats_crl_served(st, 0, (int64_t)time(NULL) - 100);
	stats_crl_served(st, 0, (int64_t)time(NULL) - 5000);
	free(text);
	text = test_render(st);
	{
		long long age = test_value(text, "scepd_crl_age_seconds{ca=\"\"}");

		assert_true(age >= 100 && age < 200);
	}
	assert_non_null(strstr(text, "scepd_build_info{version=\""));
	free(text);
	stats_free(st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forked_processes), cmocka_unit_test(test_histogram_buckets),
		cmocka_unit_test(test_histogram_sum),    cmocka_unit_test(test_name_slots),
		cmocka_unit_test(test_labels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
