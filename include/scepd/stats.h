/*
 * stats.h - the counters behind /metrics, shared by every worker of every generation.
 *
 * The supervisor creates the region (stats_new(), an anonymous MAP_SHARED mapping)
 * before it forks the first worker; each worker inherits the same pages, so what a
 * worker counted stays counted after it died or was replaced by a reload, and nothing
 * is counted twice: there is one copy. Counters are C11 atomics updated with relaxed
 * increments; nothing on the request path takes a lock, and a scrape only loads.
 *
 * Profiles and CAs are counted by name slot: the supervisor gives each name a slot
 * (stats_assign(), at start and at every reload, before forking) and a slot keeps its
 * name for the life of the supervisor, so a reload that adds, removes or reorders
 * profiles neither resets nor mixes their counters. Slot 0 is "no profile / no CA":
 * a request outside any profile, and the names beyond STATS_PROFILES_MAX - 1 (or
 * STATS_CAS_MAX - 1) distinct ones seen since start, are counted there with an empty
 * label. Workers only read the names (stats_find()).
 *
 * Every counting function accepts a NULL struct stats (nothing is counted): modules
 * under unit test run without a region. No logging here, no HTTP, no OpenSSL.
 */
#ifndef SCEPD_STATS_H
#define SCEPD_STATS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define STATS_PROFILES_MAX 64 /* name slots, slot 0 included */
#define STATS_CAS_MAX      32
#define STATS_NAME_MAX     64 /* a longer name is counted in slot 0 */

struct stats;

/* What a route serves: the endpoint label of requests and of the latency histogram. */
enum stats_endpoint {
	STATS_EP_NONE, /* no route: 404 */
	STATS_EP_SCEP,
	STATS_EP_CSR,
	STATS_EP_NDES,
	STATS_EP_CRL,
	STATS_EP_OCSP,
	STATS_EP_ADMIN,
	STATS_EP_HEALTHZ,
	STATS_EP_METRICS,
	STATS_EP_COUNT_
};

enum stats_names {
	STATS_NAMES_PROFILE,
	STATS_NAMES_CA,
};

/* SCEP messageType of a PKIOperation (RFC 8894 3.2.1.2); OTHER: unparsed or unknown. */
enum stats_scep_type {
	STATS_SCEP_PKCSREQ,
	STATS_SCEP_RENEWALREQ,
	STATS_SCEP_CERTPOLL,
	STATS_SCEP_GETCERT,
	STATS_SCEP_GETCRL,
	STATS_SCEP_OTHER,
	STATS_SCEP_TYPE_COUNT_
};

enum stats_pki_status {
	STATS_PKI_SUCCESS,
	STATS_PKI_FAILURE,
	STATS_PKI_PENDING,
	STATS_PKI_STATUS_COUNT_
};

/* failInfo of a FAILURE; NONE for the other statuses. */
enum stats_fail_info {
	STATS_FAIL_NONE,
	STATS_FAIL_BAD_ALG,
	STATS_FAIL_BAD_MESSAGE_CHECK,
	STATS_FAIL_BAD_REQUEST,
	STATS_FAIL_BAD_TIME,
	STATS_FAIL_BAD_CERT_ID,
	STATS_FAIL_INFO_COUNT_
};

/* Why the supervisor restarted a worker of the serving generation. */
enum stats_restart_cause {
	STATS_RESTART_SIGNAL,      /* killed by a signal (a crash, the OOM killer, kill -9) */
	STATS_RESTART_EXIT,        /* exited with an error status */
	STATS_RESTART_UNAVAILABLE, /* could not sign for a while and asked for a fresh process */
	STATS_RESTART_CAUSE_COUNT_
};

/*
 * The region, zeroed, shared with every process forked later. 0, or -errno from mmap
 * (-ENOMEM). Call before forking; stats_free() in the process that created it.
 */
int stats_new(struct stats **ret_stats);

/* Unmaps this process's view; accepts NULL. Other processes keep theirs. */
void stats_free(struct stats *st);

/*
 * The slot of name (a profile's or a CA's), given one if it has none: 1.. on success,
 * -ENOSPC when every slot is taken or the name is too long (its series then go to slot
 * 0). Supervisor only: workers never write names.
 */
int stats_assign(struct stats *st, enum stats_names kind, const char *name);

/* The slot of name, or 0 when it has none. Any process, any thread. */
unsigned stats_find(const struct stats *st, enum stats_names kind, const char *name);

/* One answered HTTP request, its status and the microseconds from headers to reply sent. */
void stats_http(struct stats *st, enum stats_endpoint ep, unsigned profile, unsigned status,
		uint64_t usec);
void stats_issued(struct stats *st, unsigned ca, unsigned profile);
void stats_scep(struct stats *st, enum stats_scep_type type, enum stats_pki_status status,
		enum stats_fail_info fail);
void stats_restart(struct stats *st, enum stats_restart_cause cause);
/* Why a signature failed: the class of its PKCS#11 return value (keys_token_failure()). */
enum stats_sign_error {
	STATS_SIGN_OK,
	STATS_SIGN_ERR_TOKEN,     /* the token is gone */
	STATS_SIGN_ERR_PIN,       /* PIN or login */
	STATS_SIGN_ERR_TRANSIENT, /* worth another try */
	STATS_SIGN_ERR_OTHER,     /* another CKR_ value */
	STATS_SIGN_ERR_NO_CKR,    /* no PKCS#11 code: a key file, or OpenSSL */
	STATS_SIGN_ERR_COUNT_
};

/* What a private-key operation was for: the operation label of the sign series. */
enum stats_key_op {
	STATS_KEY_CERTIFICATE, /* a certificate (SCEP or /csr) */
	STATS_KEY_CRL,         /* a CRL */
	STATS_KEY_OCSP,        /* an OCSP response (a cached one costs none) */
	STATS_KEY_CERTREP,     /* a SCEP CertRep */
	STATS_KEY_DECRYPT,     /* a SCEP request's envelope, opened with the RA key */
	STATS_KEY_NEXT_CA,     /* the GetNextCACert answer */
	STATS_KEY_OP_COUNT_
};

/* One private-key operation, with what it builds around it under the issuer's lock
 * (the HSM's or key file's time dominates), and how it ended. */
void stats_sign(struct stats *st, enum stats_key_op op, uint64_t usec, enum stats_sign_error err);
/* One certificate record written to the store (the commit, group commit wait
 * included), and whether it failed (a duplicate serial is not a failure). */
void stats_store_commit(struct stats *st, uint64_t usec, bool failed);
/*
 * The SCEP requests waiting for approval, by profile name slot (counts[0]: no slot),
 * as a walk of the store found them just now: replaces the previous numbers.
 */
void stats_set_pending(struct stats *st, const uint64_t counts[STATS_PROFILES_MAX]);
/*
 * The certificates revoked in the store now, by CA and profile name slot ([0]: no
 * slot), as a count in the store found them: replaces the previous numbers.
 */
void stats_set_revoked(struct stats *st, const uint64_t counts[STATS_CAS_MAX][STATS_PROFILES_MAX]);
/* CA ca's CRL with this thisUpdate was served (the newest served is kept). */
void stats_crl_served(struct stats *st, unsigned ca, int64_t this_update);

/*
 * Every series above in the Prometheus text format 0.0.4, HELP and TYPE lines
 * included, to out: scepd_build_info, scepd_http_requests_total,
 * scepd_request_duration_seconds, scepd_certificates_issued_total,
 * scepd_certificates_revoked (once set), scepd_scep_messages_total,
 * scepd_worker_restarts_total, scepd_sign_duration_seconds, scepd_sign_errors_total,
 * scepd_store_commit_duration_seconds, scepd_store_commit_errors_total,
 * scepd_crl_age_seconds (from now: time(NULL)), scepd_pending_requests (once set). Counters that are still 0 are left out, except the
 * histograms and the restart causes. Atomic loads only: -EIO when out fails.
 */
int stats_render(const struct stats *st, FILE *out);

/* Label text of an endpoint ("scep"), for tests and logs. */
const char *stats_endpoint_name(enum stats_endpoint ep);

#endif
