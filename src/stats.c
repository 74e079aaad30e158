/*
 * stats.c - counters in one shared anonymous mapping, and their Prometheus text.
 *
 * The region is a fixed-size struct: every array is indexed by small numbers known
 * in advance (endpoint, profile and CA name slots, a fixed list of HTTP statuses,
 * SCEP message types, histogram buckets), so no process ever allocates in it and
 * nothing in it needs a lock. Updates are relaxed atomic increments: a counter only
 * has to be right in the end, not ordered against other counters. A name slot is
 * written once by the supervisor and published by a release store of its flag;
 * readers load the flag with acquire before the name.
 *
 * Histograms keep per-bucket (not cumulative) counts and a sum in microseconds; the
 * renderer adds the buckets up, so +Inf and _count are the same number even while
 * requests land during a scrape.
 *
 * Contract: no logging, no HTTP, no OpenSSL; the counting calls never fail.
 */
#include "scepd/stats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#include "scepd/shared_pages.h"

#ifndef SCEPD_VERSION /* CMake defines it; the fuzz build does not */
#define SCEPD_VERSION "unknown"
#endif

/* The statuses scepd answers with; any other is counted as code="other". */
static const unsigned stats_codes[] = { 200, 201, 204, 301, 302, 304, 400, 401, 403,
					404, 405, 406, 409, 413, 415, 429, 500, 503 };
#define STATS_CODES_N    (sizeof(stats_codes) / sizeof(stats_codes[0]))
#define STATS_CODE_OTHER STATS_CODES_N
#define STATS_CODE_SLOTS (STATS_CODES_N + 1)

/* Upper bounds of the latency buckets, in microseconds; +Inf follows. */
static const uint64_t stats_buckets_us[] = { 500,     1000,    2500,    5000,    10000,
					     25000,   50000,   100000,  250000,  500000,
					     1000000, 2500000, 5000000, 10000000 };
#define STATS_BUCKETS_N (sizeof(stats_buckets_us) / sizeof(stats_buckets_us[0]))

struct stats_histogram {
	atomic_uint_fast64_t buckets[STATS_BUCKETS_N + 1]; /* the last one is +Inf */
	atomic_uint_fast64_t sum_us;
};

struct stats_name {
	atomic_bool used;
	char name[STATS_NAME_MAX];
};

struct stats {
	struct stats_name profiles[STATS_PROFILES_MAX]; /* [0] stays unused: "" */
	struct stats_name cas[STATS_CAS_MAX];
	atomic_uint_fast64_t requests[STATS_EP_COUNT_][STATS_PROFILES_MAX][STATS_CODE_SLOTS];
	struct stats_histogram duration[STATS_EP_COUNT_];
	atomic_uint_fast64_t issued[STATS_CAS_MAX][STATS_PROFILES_MAX];
	atomic_uint_fast64_t revoked[STATS_CAS_MAX][STATS_PROFILES_MAX];
	atomic_bool revoked_known; /* a count in the store set revoked[][] */
	atomic_uint_fast64_t scep[STATS_SCEP_TYPE_COUNT_][STATS_PKI_STATUS_COUNT_]
				 [STATS_FAIL_INFO_COUNT_];
	atomic_uint_fast64_t restarts[STATS_RESTART_CAUSE_COUNT_];
	struct stats_histogram sign[STATS_KEY_OP_COUNT_];
	/* [][STATS_SIGN_OK] unused */
	atomic_uint_fast64_t sign_errors[STATS_KEY_OP_COUNT_][STATS_SIGN_ERR_COUNT_];
	struct stats_histogram store_commit;
	atomic_uint_fast64_t store_errors;
	atomic_int_fast64_t crl_this_update[STATS_CAS_MAX]; /* 0: none served yet */
	atomic_uint_fast64_t pending[STATS_PROFILES_MAX];
	atomic_bool pending_known; /* a walk of the store set pending[] */
};

static const char *const stats_endpoint_names[STATS_EP_COUNT_] = {
	[STATS_EP_NONE] = "none",   [STATS_EP_SCEP] = "scep",       [STATS_EP_CSR] = "csr",
	[STATS_EP_NDES] = "ndes",   [STATS_EP_CRL] = "crl",         [STATS_EP_OCSP] = "ocsp",
	[STATS_EP_ADMIN] = "admin", [STATS_EP_HEALTHZ] = "healthz", [STATS_EP_METRICS] = "metrics",
};

static const char *const stats_scep_type_names[STATS_SCEP_TYPE_COUNT_] = {
	[STATS_SCEP_PKCSREQ] = "PKCSReq",   [STATS_SCEP_RENEWALREQ] = "RenewalReq",
	[STATS_SCEP_CERTPOLL] = "CertPoll", [STATS_SCEP_GETCERT] = "GetCert",
	[STATS_SCEP_GETCRL] = "GetCRL",     [STATS_SCEP_OTHER] = "other",
};

static const char *const stats_pki_status_names[STATS_PKI_STATUS_COUNT_] = {
	[STATS_PKI_SUCCESS] = "SUCCESS",
	[STATS_PKI_FAILURE] = "FAILURE",
	[STATS_PKI_PENDING] = "PENDING",
};

static const char *const stats_fail_info_names[STATS_FAIL_INFO_COUNT_] = {
	[STATS_FAIL_NONE] = "",
	[STATS_FAIL_BAD_ALG] = "badAlg",
	[STATS_FAIL_BAD_MESSAGE_CHECK] = "badMessageCheck",
	[STATS_FAIL_BAD_REQUEST] = "badRequest",
	[STATS_FAIL_BAD_TIME] = "badTime",
	[STATS_FAIL_BAD_CERT_ID] = "badCertId",
};

static const char *const stats_sign_error_names[STATS_SIGN_ERR_COUNT_] = {
	[STATS_SIGN_OK] = "",
	[STATS_SIGN_ERR_TOKEN] = "token",
	[STATS_SIGN_ERR_PIN] = "pin",
	[STATS_SIGN_ERR_TRANSIENT] = "transient",
	[STATS_SIGN_ERR_OTHER] = "other",
	[STATS_SIGN_ERR_NO_CKR] = "none",
};

static const char *const stats_key_op_names[STATS_KEY_OP_COUNT_] = {
	[STATS_KEY_CERTIFICATE] = "certificate",
	[STATS_KEY_CRL] = "crl",
	[STATS_KEY_OCSP] = "ocsp",
	[STATS_KEY_CERTREP] = "certrep",
	[STATS_KEY_DECRYPT] = "decrypt",
	[STATS_KEY_NEXT_CA] = "next_ca",
};

static const char *const stats_restart_names[STATS_RESTART_CAUSE_COUNT_] = {
	[STATS_RESTART_SIGNAL] = "signal",
	[STATS_RESTART_EXIT] = "exit",
	[STATS_RESTART_UNAVAILABLE] = "unavailable",
};

int
stats_new(struct stats **ret_stats)
{
	/* Zeroed: every atomic starts at 0, every name unused. */
	if ((*ret_stats = shared_pages_new(sizeof(struct stats))) == NULL)
		return -errno;
	return 0;
}

void
stats_free(struct stats *st)
{
	shared_pages_free(st, sizeof(*st));
}

static struct stats_name *
stats_names_of(const struct stats *st, enum stats_names kind, size_t *ret_n)
{
	if (kind == STATS_NAMES_CA) {
		*ret_n = STATS_CAS_MAX;
		return (struct stats_name *)st->cas;
	}
	*ret_n = STATS_PROFILES_MAX;
	return (struct stats_name *)st->profiles;
}

unsigned
stats_find(const struct stats *st, enum stats_names kind, const char *name)
{
	struct stats_name *v;
	size_t n;

	if (st == NULL)
		return 0;
	v = stats_names_of(st, kind, &n);
	for (size_t i = 1; i < n; i++) {
		if (!atomic_load_explicit(&v[i].used, memory_order_acquire))
			break; /* slots are taken in order */
		if (strcmp(v[i].name, name) == 0)
			return (unsigned)i;
	}
	return 0;
}

int
stats_assign(struct stats *st, enum stats_names kind, const char *name)
{
	struct stats_name *v;
	unsigned found;
	size_t n;

	if (st == NULL)
		return -ENOSPC;
	if ((found = stats_find(st, kind, name)) > 0)
		return (int)found;
	if (strlen(name) >= STATS_NAME_MAX)
		return -ENOSPC;
	v = stats_names_of(st, kind, &n);
	for (size_t i = 1; i < n; i++) {
		if (atomic_load_explicit(&v[i].used, memory_order_relaxed))
			continue;
		memcpy(v[i].name, name, strlen(name) + 1);
		atomic_store_explicit(&v[i].used, true, memory_order_release);
		return (int)i;
	}
	return -ENOSPC;
}

static size_t
stats_code_index(unsigned status)
{
	for (size_t i = 0; i < STATS_CODES_N; i++)
		if (stats_codes[i] == status)
			return i;
	return STATS_CODE_OTHER;
}

static void
stats_inc(atomic_uint_fast64_t *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static void
stats_observe(struct stats_histogram *h, uint64_t usec)
{
	size_t b = 0;

	while (b < STATS_BUCKETS_N && usec > stats_buckets_us[b])
		b++;
	stats_inc(&h->buckets[b], 1);
	stats_inc(&h->sum_us, usec);
}

void
stats_http(struct stats *st, enum stats_endpoint ep, unsigned profile, unsigned status,
	   uint64_t usec)
{
	if (st == NULL || (unsigned)ep >= STATS_EP_COUNT_)
		return;
	if (profile >= STATS_PROFILES_MAX)
		profile = 0;
	stats_inc(&st->requests[ep][profile][stats_code_index(status)], 1);
	stats_observe(&st->duration[ep], usec);
}

void
stats_sign(struct stats *st, enum stats_key_op op, uint64_t usec, enum stats_sign_error err)
{
	if (st == NULL || (unsigned)op >= STATS_KEY_OP_COUNT_)
		return;
	stats_observe(&st->sign[op], usec);
	if (err != STATS_SIGN_OK && (unsigned)err < STATS_SIGN_ERR_COUNT_)
		stats_inc(&st->sign_errors[op][err], 1);
}

void
stats_store_commit(struct stats *st, uint64_t usec, bool failed)
{
	if (st == NULL)
		return;
	stats_observe(&st->store_commit, usec);
	if (failed)
		stats_inc(&st->store_errors, 1);
}

void
stats_issued(struct stats *st, unsigned ca, unsigned profile)
{
	if (st == NULL)
		return;
	stats_inc(&st->issued[ca < STATS_CAS_MAX ? ca : 0]
			     [profile < STATS_PROFILES_MAX ? profile : 0],
		  1);
}

void
stats_set_revoked(struct stats *st, const uint64_t counts[STATS_CAS_MAX][STATS_PROFILES_MAX])
{
	if (st == NULL)
		return;
	for (size_t c = 0; c < STATS_CAS_MAX; c++)
		for (size_t p = 0; p < STATS_PROFILES_MAX; p++)
			atomic_store_explicit(&st->revoked[c][p], counts[c][p],
					      memory_order_relaxed);
	atomic_store_explicit(&st->revoked_known, true, memory_order_release);
}

void
stats_scep(struct stats *st, enum stats_scep_type type, enum stats_pki_status status,
	   enum stats_fail_info fail)
{
	if (st == NULL || (unsigned)type >= STATS_SCEP_TYPE_COUNT_ ||
	    (unsigned)status >= STATS_PKI_STATUS_COUNT_ || (unsigned)fail >= STATS_FAIL_INFO_COUNT_)
		return;
	stats_inc(&st->scep[type][status][fail], 1);
}

void
stats_crl_served(struct stats *st, unsigned ca, int64_t this_update)
{
	atomic_int_fast64_t *v;
	int_fast64_t seen;

	if (st == NULL)
		return;
	v = &st->crl_this_update[ca < STATS_CAS_MAX ? ca : 0];
	seen = atomic_load_explicit(v, memory_order_relaxed);
	/* Keep the newest: workers may serve an older copy a moment longer. */
	while (this_update > seen &&
	       !atomic_compare_exchange_weak_explicit(v, &seen, this_update, memory_order_relaxed,
						      memory_order_relaxed))
		;
}

void
stats_set_pending(struct stats *st, const uint64_t counts[STATS_PROFILES_MAX])
{
	if (st == NULL)
		return;
	for (size_t i = 0; i < STATS_PROFILES_MAX; i++)
		atomic_store_explicit(&st->pending[i], counts[i], memory_order_relaxed);
	atomic_store_explicit(&st->pending_known, true, memory_order_release);
}

void
stats_restart(struct stats *st, enum stats_restart_cause cause)
{
	if (st != NULL && (unsigned)cause < STATS_RESTART_CAUSE_COUNT_)
		stats_inc(&st->restarts[cause], 1);
}

const char *
stats_endpoint_name(enum stats_endpoint ep)
{
	return (unsigned)ep < STATS_EP_COUNT_ ? stats_endpoint_names[ep] : "none";
}

static uint64_t
stats_load(const atomic_uint_fast64_t *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* A slot's name as a label value, "" for slot 0 or a slot not (yet) published. */
static const char *
stats_slot_name(const struct stats_name *v, size_t i)
{
	if (i == 0 || !atomic_load_explicit(&v[i].used, memory_order_acquire))
		return "";
	return v[i].name;
}

/* A label value with \, " and newline escaped (names come from the configuration). */
static void
stats_put_label(FILE *out, const char *v)
{
	for (; *v != '\0'; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', out);
		if (*v == '\n')
			fputs("\\n", out);
		else
			fputc(*v, out);
	}
}

static void
stats_header(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
stats_render_requests(const struct stats *st, FILE *out)
{
	stats_header(out, "scepd_http_requests_total", "counter",
		     "HTTP requests answered, by endpoint, profile and status code.");
	for (size_t e = 0; e < STATS_EP_COUNT_; e++)
		for (size_t p = 0; p < STATS_PROFILES_MAX; p++)
			for (size_t c = 0; c < STATS_CODE_SLOTS; c++) {
				uint64_t v = stats_load(&st->requests[e][p][c]);

				if (v == 0)
					continue;
				fprintf(out, "scepd_http_requests_total{endpoint=\"%s\",profile=\"",
					stats_endpoint_names[e]);
				stats_put_label(out, stats_slot_name(st->profiles, p));
				if (c == STATS_CODE_OTHER)
					fprintf(out, "\",code=\"other\"} %" PRIu64 "\n", v);
				else
					fprintf(out, "\",code=\"%u\"} %" PRIu64 "\n",
						stats_codes[c], v);
			}
}

/* One histogram's lines; labels: "endpoint=\"csr\"," or "" (the comma included). */
static void
stats_render_histogram(FILE *out, const char *name, const char *labels,
		       const struct stats_histogram *h)
{
	uint64_t total = 0, sum = stats_load(&h->sum_us);
	int n = (int)strlen(labels);

	for (size_t b = 0; b < STATS_BUCKETS_N; b++) {
		total += stats_load(&h->buckets[b]);
		fprintf(out, "%s_bucket{%sle=\"%g\"} %" PRIu64 "\n", name, labels,
			(double)stats_buckets_us[b] / 1e6, total);
	}
	total += stats_load(&h->buckets[STATS_BUCKETS_N]);
	fprintf(out, "%s_bucket{%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, total);
	/* _sum and _count: the labels without the trailing comma, no braces without any. */
	fprintf(out, "%s_sum%s%.*s%s %" PRIu64 ".%06" PRIu64 "\n", name, n > 0 ? "{" : "",
		n > 0 ? n - 1 : 0, labels, n > 0 ? "}" : "", sum / 1000000, sum % 1000000);
	fprintf(out, "%s_count%s%.*s%s %" PRIu64 "\n", name, n > 0 ? "{" : "", n > 0 ? n - 1 : 0,
		labels, n > 0 ? "}" : "", total);
}

static void
stats_render_durations(const struct stats *st, FILE *out)
{
	char labels[64];

	stats_header(out, "scepd_request_duration_seconds", "histogram",
		     "Time from a request's headers to its reply, by endpoint.");
	for (size_t e = 0; e < STATS_EP_COUNT_; e++) {
		snprintf(labels, sizeof(labels), "endpoint=\"%s\",", stats_endpoint_names[e]);
		stats_render_histogram(out, "scepd_request_duration_seconds", labels,
				       &st->duration[e]);
	}
	stats_header(out, "scepd_sign_duration_seconds", "histogram",
		     "Private-key operations (the HSM's or key file's time), by what they made.");
	for (size_t o = 0; o < STATS_KEY_OP_COUNT_; o++) {
		snprintf(labels, sizeof(labels), "operation=\"%s\",", stats_key_op_names[o]);
		stats_render_histogram(out, "scepd_sign_duration_seconds", labels, &st->sign[o]);
	}
	stats_header(out, "scepd_sign_errors_total", "counter",
		     "Private-key operations that failed, by what they made and class of "
		     "PKCS#11 return value.");
	for (size_t o = 0; o < STATS_KEY_OP_COUNT_; o++)
		for (size_t e = STATS_SIGN_OK + 1; e < STATS_SIGN_ERR_COUNT_; e++)
			fprintf(out,
				"scepd_sign_errors_total{operation=\"%s\",ckr_class=\"%s\"} "
				"%" PRIu64 "\n",
				stats_key_op_names[o], stats_sign_error_names[e],
				stats_load(&st->sign_errors[o][e]));
	stats_header(out, "scepd_store_commit_duration_seconds", "histogram",
		     "Certificate records written to the store, group commit wait included.");
	stats_render_histogram(out, "scepd_store_commit_duration_seconds", "", &st->store_commit);
	stats_header(out, "scepd_store_commit_errors_total", "counter",
		     "Certificate records the store failed to write.");
	fprintf(out, "scepd_store_commit_errors_total %" PRIu64 "\n",
		stats_load(&st->store_errors));
}

static void
stats_render_certificates(const struct stats *st, FILE *out)
{
	stats_header(out, "scepd_certificates_issued_total", "counter",
		     "Certificates issued and recorded, by CA and profile.");
	for (size_t c = 0; c < STATS_CAS_MAX; c++)
		for (size_t p = 0; p < STATS_PROFILES_MAX; p++) {
			uint64_t v = stats_load(&st->issued[c][p]);

			if (v == 0)
				continue;
			fputs("scepd_certificates_issued_total{ca=\"", out);
			stats_put_label(out, stats_slot_name(st->cas, c));
			fputs("\",profile=\"", out);
			stats_put_label(out, stats_slot_name(st->profiles, p));
			fprintf(out, "\"} %" PRIu64 "\n", v);
		}
	stats_header(out, "scepd_certificates_revoked", "gauge",
		     "Certificates revoked in the store, by CA and profile (refreshed every few "
		     "seconds).");
	if (!atomic_load_explicit(&st->revoked_known, memory_order_acquire))
		return;
	for (size_t c = 0; c < STATS_CAS_MAX; c++)
		for (size_t p = 0; p < STATS_PROFILES_MAX; p++) {
			uint64_t v = stats_load(&st->revoked[c][p]);

			if (v == 0)
				continue;
			fputs("scepd_certificates_revoked{ca=\"", out);
			stats_put_label(out, stats_slot_name(st->cas, c));
			fputs("\",profile=\"", out);
			stats_put_label(out, stats_slot_name(st->profiles, p));
			fprintf(out, "\"} %" PRIu64 "\n", v);
		}
}

static void
stats_render_scep(const struct stats *st, FILE *out)
{
	stats_header(out, "scepd_scep_messages_total", "counter",
		     "SCEP PKIOperation replies, by messageType, pkiStatus and failInfo.");
	for (size_t t = 0; t < STATS_SCEP_TYPE_COUNT_; t++)
		for (size_t s = 0; s < STATS_PKI_STATUS_COUNT_; s++)
			for (size_t f = 0; f < STATS_FAIL_INFO_COUNT_; f++) {
				uint64_t v = stats_load(&st->scep[t][s][f]);

				if (v == 0)
					continue;
				fprintf(out,
					"scepd_scep_messages_total{message_type=\"%s\",pki_status="
					"\"%s\",fail_info=\"%s\"} %" PRIu64 "\n",
					stats_scep_type_names[t], stats_pki_status_names[s],
					stats_fail_info_names[f], v);
			}
}

static void
stats_render_crl(const struct stats *st, FILE *out)
{
	int64_t now = (int64_t)time(NULL);

	stats_header(out, "scepd_crl_age_seconds", "gauge",
		     "Seconds since thisUpdate of the newest CRL served, by CA.");
	for (size_t c = 0; c < STATS_CAS_MAX; c++) {
		int64_t t = atomic_load_explicit(&st->crl_this_update[c], memory_order_relaxed);

		if (t == 0)
			continue;
		fputs("scepd_crl_age_seconds{ca=\"", out);
		stats_put_label(out, stats_slot_name(st->cas, c));
		fprintf(out, "\"} %" PRId64 "\n", now - t);
	}
}

/* Every profile name known (0 included), slot 0 only when something is counted there. */
static void
stats_render_pending(const struct stats *st, FILE *out)
{
	stats_header(
		out, "scepd_pending_requests", "gauge",
		"SCEP requests waiting for approval, by profile (refreshed every few seconds).");
	if (!atomic_load_explicit(&st->pending_known, memory_order_acquire))
		return;
	for (size_t p = 0; p < STATS_PROFILES_MAX; p++) {
		uint64_t v = stats_load(&st->pending[p]);

		if (p == 0 ? v == 0
			   : !atomic_load_explicit(&st->profiles[p].used, memory_order_acquire))
			continue;
		fputs("scepd_pending_requests{profile=\"", out);
		stats_put_label(out, stats_slot_name(st->profiles, p));
		fprintf(out, "\"} %" PRIu64 "\n", v);
	}
}

int
stats_render(const struct stats *st, FILE *out)
{
	stats_header(out, "scepd_build_info", "gauge", "scepd's version; always 1.");
	fprintf(out, "scepd_build_info{version=\"%s\"} 1\n", SCEPD_VERSION);
	stats_render_requests(st, out);
	stats_render_durations(st, out);
	stats_render_certificates(st, out);
	stats_render_scep(st, out);
	stats_render_crl(st, out);
	stats_render_pending(st, out);
	stats_header(out, "scepd_worker_restarts_total", "counter",
		     "Workers of the serving generation the supervisor restarted, by cause.");
	for (size_t i = 0; i < STATS_RESTART_CAUSE_COUNT_; i++)
		fprintf(out, "scepd_worker_restarts_total{cause=\"%s\"} %" PRIu64 "\n",
			stats_restart_names[i], stats_load(&st->restarts[i]));
	return ferror(out) ? -EIO : 0;
}
