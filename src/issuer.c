/*
 * issuer.c - CSR check -> policy -> signer -> store -> audit, for every endpoint.
 *
 * A certificate leaves this module only after its record is committed: a store
 * failure makes the request "unavailable", never an unrecorded certificate. A serial
 * the store already holds is drawn again (a few times) before giving up.
 *
 * When a private-key operation fails and keys_token_lost() says the token is gone,
 * the keys and the signer are dropped and every request is answered "unavailable"
 * with the reason; the worker notices through issuer_healthy() and has itself
 * replaced by a new process, which loads the keys afresh.
 * A mutex serialises the use of keys and signer (one engine session) and nothing
 * else: checking, policy and recording run in each request's thread, and the store,
 * which serialises its own calls, commits the certificates of requests recorded at
 * the same time together.
 */
#include "scepd/issuer.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>

#include "scepd/clock.h"
#include "scepd/encoding.h"
#include "scepd/log.h"
#include "scepd/policy.h"
#include "scepd/signer.h"

#define ISSUER_SERIAL_TRIES 5

/* What the issuer keeps for one profile. */
struct issuer_profile {
	struct signer *signer; /* its CA's key with its extensions and days; NULL while the
				  token is gone */
	STACK_OF(X509) *chain; /* our own references: outlive the keys */
	STACK_OF(X509) *ra_chain;
	X509 *ca_next;
	X509 *ra_next;
	char key_name[KEYS_URI_REDACT_MAX]; /* its CA's key for audit records: no pin-value */
	unsigned stats_profile;             /* name slots in the /metrics counters */
	unsigned stats_ca;
};

struct issuer {
	const struct scepd_config *cfg;
	pthread_mutex_t lock;
	struct keys *keys; /* NULL while the token is gone */
	struct store *store;
	struct issuer_profile *profiles; /* one per cfg->profiles */
	X509 **ca_certs;                 /* one per cfg->cas: our own references */
	char unhealthy[256];             /* "" when healthy */
	struct stats *stats;             /* NULL: nothing counted */
};

/* Names and numbers of a certificate, as the store and the audit record want them. */
struct issuer_cert_text {
	char serial[80];
	char *subject;
	char *sans;
};

/* Signers and certificate references of every profile. */
static int
issuer_setup_profiles(struct issuer *is)
{
	const struct scepd_config *cfg = is->cfg;
	int r;

	for (size_t i = 0; i < cfg->n_cas; i++) {
		X509 *ca = keys_get0_ca_cert(is->keys, i);

		if (ca == NULL || !X509_up_ref(ca))
			return -ENOMEM;
		is->ca_certs[i] = ca;
	}
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		const struct config_profile *p = &cfg->profiles[i];
		struct issuer_profile *ip = &is->profiles[i];

		if ((r = keys_get1_certs(is->keys, i, &ip->chain, &ip->ra_chain, &ip->ca_next,
					 &ip->ra_next)) < 0 ||
		    (r = signer_new(config_profile_ca(cfg, p),
				    p->extensions_set ? &p->extensions : NULL, p->days,
				    keys_get0_ca_key(is->keys, p->ca),
				    keys_get0_ca_cert(is->keys, p->ca), &ip->signer)) < 0)
			return r;
	}
	return 0;
}

int
issuer_new(const struct scepd_config *cfg, struct keys *keys, struct store *store,
	   const char *unavailable_reason, struct issuer **ret_issuer)
{
	struct issuer *is;
	int r;

	if ((is = calloc(1, sizeof(*is))) == NULL ||
	    (is->profiles = calloc(cfg->n_profiles, sizeof(*is->profiles))) == NULL ||
	    (is->ca_certs = calloc(cfg->n_cas, sizeof(*is->ca_certs))) == NULL) {
		if (is != NULL)
			free(is->profiles);
		free(is);
		keys_free(keys);
		store_close(store);
		return -ENOMEM;
	}
	is->cfg = cfg;
	for (size_t i = 0; i < cfg->n_profiles; i++)
		(void)keys_uri_redact(config_profile_ca(cfg, &cfg->profiles[i])->key,
				      is->profiles[i].key_name, sizeof(is->profiles[i].key_name));
	is->keys = keys;
	is->store = store;
	pthread_mutex_init(&is->lock, NULL);
	if (keys == NULL) {
		snprintf(is->unhealthy, sizeof(is->unhealthy), "%s", unavailable_reason);
	} else if ((r = issuer_setup_profiles(is)) < 0) {
		goto out;
	}
	*ret_issuer = is;
	is = NULL;
	r = 0;
out:
	issuer_free(is);
	return r;
}

static void
issuer_drop_signers(struct issuer *is)
{
	for (size_t i = 0; i < is->cfg->n_profiles; i++) {
		signer_free(is->profiles[i].signer);
		is->profiles[i].signer = NULL;
	}
}

void
issuer_free(struct issuer *is)
{
	if (is == NULL)
		return;
	issuer_drop_signers(is);
	keys_free(is->keys);
	store_close(is->store);
	for (size_t i = 0; i < is->cfg->n_profiles; i++) {
		struct issuer_profile *ip = &is->profiles[i];

		sk_X509_pop_free(ip->chain, X509_free);
		sk_X509_pop_free(ip->ra_chain, X509_free);
		X509_free(ip->ca_next);
		X509_free(ip->ra_next);
	}
	free(is->profiles);
	for (size_t i = 0; i < is->cfg->n_cas; i++)
		X509_free(is->ca_certs[i]);
	free(is->ca_certs);
	pthread_mutex_destroy(&is->lock);
	free(is);
}

void
issuer_result_clear(struct issuer_result *res)
{
	X509_free(res->cert);
	memset(res, 0, sizeof(*res));
}

STACK_OF(X509) *
issuer_get0_chain(struct issuer *is, size_t profile)
{
	return is->profiles[profile].chain;
}

STACK_OF(X509) *
issuer_get0_ra_chain(struct issuer *is, size_t profile)
{
	return is->profiles[profile].ra_chain;
}

X509 *
issuer_get0_ca_next(struct issuer *is, size_t profile)
{
	return is->profiles[profile].ca_next;
}

X509 *
issuer_get0_ra_next(struct issuer *is, size_t profile)
{
	return is->profiles[profile].ra_next;
}

void
issuer_set_stats(struct issuer *is, struct stats *st)
{
	const struct scepd_config *cfg = is->cfg;

	is->stats = st;
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		is->profiles[i].stats_profile =
			stats_find(st, STATS_NAMES_PROFILE, cfg->profiles[i].name);
		is->profiles[i].stats_ca = stats_find(
			st, STATS_NAMES_CA, config_profile_ca(cfg, &cfg->profiles[i])->name);
	}
}

struct stats *
issuer_get0_stats(struct issuer *is)
{
	return is->stats;
}

X509 *
issuer_get0_ca_cert(struct issuer *is, size_t ca)
{
	return is->ca_certs[ca];
}

const struct config_profile *
issuer_get0_profile(struct issuer *is, size_t profile)
{
	return &is->cfg->profiles[profile];
}

static void
issuer_set_result(struct issuer_result *res, enum issuer_status status, const char *reason)
{
	res->status = status;
	snprintf(res->reason, sizeof(res->reason), "%s", reason);
}

/* The token is gone: drop keys and signer, so nothing uses dead handles. */
static void
issuer_lose_keys(struct issuer *is, const char *why)
{
	snprintf(is->unhealthy, sizeof(is->unhealthy), "cannot sign: %s", why);
	issuer_drop_signers(is);
	keys_free(is->keys);
	is->keys = NULL;
	log_error("%s; answering 503 until this worker is replaced", is->unhealthy);
}

bool
issuer_healthy(struct issuer *is, char *reason, size_t size)
{
	bool healthy;

	pthread_mutex_lock(&is->lock);
	healthy = is->unhealthy[0] == '\0';
	if (!healthy)
		snprintf(reason, size, "%s", is->unhealthy);
	pthread_mutex_unlock(&is->lock);
	return healthy;
}

bool
issuer_store_reachable(struct issuer *is, char *reason, size_t size)
{
	int r;

	r = store_check(is->store);
	if (r < 0)
		snprintf(reason, size, "the store cannot be reached: %s", strerror(-r));
	return r == 0;
}

static void
issuer_cert_text_clear(struct issuer_cert_text *t)
{
	free(t->subject);
	free(t->sans);
	memset(t, 0, sizeof(*t));
}

static int
issuer_cert_text(X509 *cert, struct issuer_cert_text *ret)
{
	struct issuer_cert_text t = { 0 };
	char *hex = NULL;
	int r;

	if ((r = encoding_hex_serial(X509_get0_serialNumber(cert), &hex)) < 0)
		goto out;
	snprintf(t.serial, sizeof(t.serial), "%s", hex);
	if ((r = encoding_name_text(X509_get_subject_name(cert), &t.subject)) < 0 ||
	    (r = encoding_sans_text(cert, &t.sans)) < 0)
		goto out;
	*ret = t;
	memset(&t, 0, sizeof(t));
	r = 0;
out:
	issuer_cert_text_clear(&t);
	free(hex);
	return r;
}

static time_t
issuer_asn1_time(const ASN1_TIME *at)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(at, &tm) != 1)
		return 0;
	return timegm(&tm);
}

/* "scep" or "csr": what the record and the audit line call the profile's protocol. */
static const char *
issuer_endpoint(const struct issuer *is, const struct issuer_request *req)
{
	return is->cfg->profiles[req->profile].type == CONFIG_PROFILE_SCEP ? "scep" : "csr";
}

/* The class of the PKCS#11 failure behind the last key operation's error. */
static enum stats_sign_error
issuer_sign_error(void)
{
	static const enum stats_sign_error classes[] = {
		[KEYS_FAILURE_NO_CKR] = STATS_SIGN_ERR_NO_CKR,
		[KEYS_FAILURE_TOKEN] = STATS_SIGN_ERR_TOKEN,
		[KEYS_FAILURE_PIN] = STATS_SIGN_ERR_PIN,
		[KEYS_FAILURE_TRANSIENT] = STATS_SIGN_ERR_TRANSIENT,
		[KEYS_FAILURE_OTHER_CKR] = STATS_SIGN_ERR_OTHER,
	};

	return classes[keys_token_failure()];
}

/* signer_issue(), timed for scepd_sign_duration_seconds (the key operation dominates). */
static int
issuer_timed_issue(struct issuer *is, size_t profile, const struct issue_req *ir, X509 **ret_cert)
{
	uint64_t start = clock_monotonic_us();
	int r = signer_issue(is->profiles[profile].signer, ir, ret_cert);

	if (r != -EBADMSG) /* a refusal made before any key operation is not timed */
		stats_sign(is->stats, STATS_KEY_CERTIFICATE, clock_monotonic_us() - start,
			   r == 0 ? STATS_SIGN_OK : issuer_sign_error());
	return r;
}

static int
issuer_record(struct issuer *is, const struct issuer_request *req, X509 *cert,
	      const struct issuer_cert_text *text)
{
	int (*add)(struct store *, const struct store_cert *) =
		req->approved_pending ? store_add_cert_for_pending : store_add_cert;
	unsigned char *der = NULL;
	uint64_t start;
	int len, r;

	if ((len = i2d_X509(cert, &der)) <= 0)
		return -ENOMEM;
	start = clock_monotonic_us();
	r = add(is->store,
		&(struct store_cert){
			.serial = text->serial,
			.subject = text->subject,
			.sans = text->sans,
			.not_before = issuer_asn1_time(X509_get0_notBefore(cert)),
			.not_after = issuer_asn1_time(X509_get0_notAfter(cert)),
			.der = der,
			.der_len = (size_t)len,
			.requester = req->requester,
			.endpoint = issuer_endpoint(is, req),
			.transaction_id = req->transaction_id,
			.owner = req->remote_user,
			.profile = is->cfg->profiles[req->profile].name,
			.ca = config_profile_ca(is->cfg, &is->cfg->profiles[req->profile])->name,
		});
	/* A taken serial (-EEXIST) or a request rejected meanwhile (-ESTALE) is an answer. */
	stats_store_commit(is->stats, clock_monotonic_us() - start,
			   r < 0 && r != -EEXIST && r != -ESTALE);
	OPENSSL_free(der);
	return r;
}

static void
issuer_audit(const struct issuer *is, const struct issuer_request *req,
	     const struct issuer_result *res, const struct issuer_cert_text *text)
{
	static const char *const results[] = {
		[ISSUER_ISSUED] = "issued",
		[ISSUER_BAD_REQUEST] = "bad-request",
		[ISSUER_DENIED] = "denied",
		[ISSUER_UNAVAILABLE] = "unavailable",
	};

	log_audit(&(struct log_audit){
		.result = results[res->status],
		.endpoint = issuer_endpoint(is, req),
		.profile = is->cfg->profiles[req->profile].name,
		.client = req->requester,
		.serial = text != NULL ? text->serial : NULL,
		.subject = text != NULL ? text->subject : NULL,
		.sans = text != NULL ? text->sans : NULL,
		.transaction_id = req->transaction_id,
		.key = res->status == ISSUER_ISSUED ? is->profiles[req->profile].key_name : NULL,
		.reason = res->status == ISSUER_ISSUED ? NULL : res->reason,
	});
}

/*
 * The record before the key is used: with the one after it (issued, or why not), a
 * crash or a hung token in between shows in the log.
 */
static void
issuer_audit_signing(const struct issuer *is, const struct issuer_request *req,
		     const struct policy_decision *d)
{
	char *subject = NULL;

	(void)encoding_name_text(d->subject, &subject);
	log_audit(&(struct log_audit){
		.result = "signing",
		.endpoint = issuer_endpoint(is, req),
		.profile = is->cfg->profiles[req->profile].name,
		.client = req->requester,
		.subject = subject,
		.transaction_id = req->transaction_id,
		.key = is->profiles[req->profile].key_name,
	});
	free(subject);
}

/*
 * The private-key operation, under the lock: 0 and the certificate; -EBADMSG (the
 * request cannot be certified), -EAGAIN (cannot sign now), with res set for both.
 */
static int
issuer_sign(struct issuer *is, size_t profile, const struct issue_req *ir,
	    struct issuer_result *res, X509 **ret_cert)
{
	int r;

	pthread_mutex_lock(&is->lock);
	if (is->unhealthy[0] != '\0') {
		issuer_set_result(res, ISSUER_UNAVAILABLE, is->unhealthy);
		r = -EAGAIN;
	} else if ((r = issuer_timed_issue(is, profile, ir, ret_cert)) == -EBADMSG) {
		issuer_set_result(res, ISSUER_BAD_REQUEST, "the request cannot be certified");
	} else if (r < 0) {
		log_error_errno(r, "signing failed");
		if (keys_token_lost())
			issuer_lose_keys(is, "the token is gone");
		issuer_set_result(res, ISSUER_UNAVAILABLE, "signing failed");
		r = -EAGAIN;
	}
	pthread_mutex_unlock(&is->lock);
	return r;
}

/*
 * Sign and record, drawing a new serial when the store already has one. The record
 * is made without the lock: while one request's commit waits for the disk, the next
 * one is signed, and the store commits what piled up together.
 */
static int
issuer_sign_and_record(struct issuer *is, const struct issuer_request *req,
		       const struct policy_decision *d, struct issuer_result *res,
		       struct issuer_cert_text *ret_text)
{
	struct issue_req ir = { .csr = req->csr, .subject = d->subject, .san = d->san };
	X509 *cert = NULL;
	int r = 0;

	issuer_audit_signing(is, req, d);
	for (int i = 0; i < ISSUER_SERIAL_TRIES; i++) {
		issuer_cert_text_clear(ret_text);
		X509_free(cert);
		cert = NULL;
		if ((r = issuer_sign(is, req->profile, &ir, res, &cert)) < 0) {
			r = 0; /* the result says why */
			goto out;
		}
		if ((r = issuer_cert_text(cert, ret_text)) < 0)
			goto out;
		if ((r = issuer_record(is, req, cert, ret_text)) != -EEXIST)
			break;
		if (config_profile_ca(is->cfg, &is->cfg->profiles[req->profile])->serial ==
		    CONFIG_SERIAL_SUBJECT) {
			/* The serial comes from the request: drawing again gives the same. */
			issuer_set_result(
				res, ISSUER_DENIED,
				"a certificate with this serialNumber was issued already");
			r = 0;
			goto out;
		}
		log_warning("serial %s is taken: drawing another", ret_text->serial);
	}
	if (r == -ESTALE) { /* rejected between approval and issuance */
		issuer_set_result(res, ISSUER_DENIED, "the request is no longer approved");
		r = 0;
		goto out;
	}
	if (r < 0) {
		log_error_errno(r, "cannot record certificate serial=%s", ret_text->serial);
		issuer_set_result(res, ISSUER_UNAVAILABLE, "the certificate cannot be recorded");
		goto out;
	}
	res->status = ISSUER_ISSUED;
	stats_issued(is->stats, is->profiles[req->profile].stats_ca,
		     is->profiles[req->profile].stats_profile);
	res->cert = cert;
	cert = NULL; /* the caller owns it now */
out:
	X509_free(cert);
	return r == -ENOMEM ? r : 0;
}

static int
issuer_issue_checked(struct issuer *is, const struct issuer_request *req, struct issuer_result *res,
		     struct issuer_cert_text *text)
{
	const struct config_profile *p = &is->cfg->profiles[req->profile];
	const struct config_name_policy *subject =
		p->type == CONFIG_PROFILE_SCEP ? &p->scep.subject : &p->csr.subject;
	const struct config_name_policy *san = p->type == CONFIG_PROFILE_SCEP
						       ? &p->scep.subject_alt_name
						       : &p->csr.subject_alt_name;
	struct policy_decision d = { 0 };
	char reason[sizeof(res->reason)];
	int r;

	if (!issuer_healthy(is, reason, sizeof(reason))) {
		issuer_set_result(res, ISSUER_UNAVAILABLE, reason);
		return 0;
	}
	if (!req->csr_verified && signer_verify_csr(req->csr) < 0) {
		issuer_set_result(res, ISSUER_BAD_REQUEST,
				  "the request's signature does not verify");
		return 0;
	}
	if (policy_check_key(&p->keys, req->csr, reason, sizeof(reason)) < 0) {
		issuer_set_result(res, ISSUER_BAD_REQUEST, reason);
		return 0;
	}
	r = policy_check(subject, san, req->csr,
			 &(struct policy_vars){ .remote_addr = req->requester,
						.remote_user = req->remote_user },
			 &d);
	if (r < 0)
		return r;
	if (d.verdict != POLICY_ALLOW) {
		issuer_set_result(res, ISSUER_DENIED, d.reason);
	} else {
		r = issuer_sign_and_record(is, req, &d, res, text);
		snprintf(res->dropped, sizeof(res->dropped), "%s", d.dropped);
	}
	policy_decision_clear(&d);
	return r;
}

int
issuer_issue(struct issuer *is, const struct issuer_request *req, struct issuer_result *ret)
{
	struct issuer_result res = { 0 };
	struct issuer_cert_text text = { 0 };
	int r;

	ERR_clear_error();
	r = issuer_issue_checked(is, req, &res, &text);
	ERR_clear_error();
	if (r < 0)
		goto out;
	issuer_audit(is, req, &res, res.status == ISSUER_ISSUED ? &text : NULL);
	if (res.status == ISSUER_ISSUED && res.dropped[0] != '\0')
		log_notice("%s profile %s: serial=%s for client %s without what the policy "
			   "dropped: %s (the profile's subject.request and "
			   "subject_alt_name.request list what is copied)",
			   issuer_endpoint(is, req), is->cfg->profiles[req->profile].name,
			   text.serial, req->requester, res.dropped);
	else
		res.dropped[0] = '\0';
	*ret = res;
	memset(&res, 0, sizeof(res));
out:
	issuer_result_clear(&res);
	issuer_cert_text_clear(&text);
	return r;
}

/* What issuer_with_key() lends: a profile's RA (or its CA's key without one), or a CA's. */
enum issuer_key_kind {
	ISSUER_KEY_RA,
	ISSUER_KEY_CA,
	ISSUER_KEY_OCSP,
};

/*
 * Runs op with a certificate and its key under the lock: one engine session, one key
 * operation at a time. A failure that op reports with failed = true and that
 * keys_token_lost() blames on the token drops the keys and becomes -EAGAIN. -EAGAIN,
 * op not called, when the keys are gone.
 */

static int
issuer_with_key(struct issuer *is, enum issuer_key_kind kind, size_t index, enum stats_key_op what,
		int (*op)(X509 *cert, EVP_PKEY *key, void *arg, bool *ret_failed), void *arg)
{
	enum stats_sign_error err = STATS_SIGN_OK;
	bool failed = false;
	uint64_t start;
	X509 *cert;
	EVP_PKEY *key;
	int r;

	ERR_clear_error();
	pthread_mutex_lock(&is->lock);
	if (is->unhealthy[0] != '\0') {
		r = -EAGAIN;
		goto out;
	}
	if (kind == ISSUER_KEY_RA) {
		keys_get0_ra(is->keys, index, &cert, &key);
	} else if (kind == ISSUER_KEY_OCSP) {
		keys_get0_ocsp(is->keys, index, &cert, &key);
	} else {
		cert = keys_get0_ca_cert(is->keys, index);
		key = keys_get0_ca_key(is->keys, index);
	}
	start = clock_monotonic_us();
	r = op(cert, key, arg, &failed);
	if (failed)
		err = issuer_sign_error();
	/* An envelope that does not open without a PKCS#11 code is the sender's fault. */
	if (what == STATS_KEY_DECRYPT && err == STATS_SIGN_ERR_NO_CKR)
		err = STATS_SIGN_OK;
	stats_sign(is->stats, what, clock_monotonic_us() - start, err);
	if (failed && keys_token_lost()) {
		issuer_lose_keys(is, "the token is gone");
		r = -EAGAIN;
	}
out:
	pthread_mutex_unlock(&is->lock);
	ERR_clear_error();
	return r;
}

int
issuer_with_ra_key(struct issuer *is, size_t profile, enum stats_key_op what,
		   int (*op)(X509 *ra_cert, EVP_PKEY *ra_key, void *arg, bool *ret_failed),
		   void *arg)
{
	return issuer_with_key(is, ISSUER_KEY_RA, profile, what, op, arg);
}

int
issuer_with_ocsp_key(struct issuer *is, size_t ca,
		     int (*op)(X509 *signer, EVP_PKEY *key, void *arg, bool *ret_failed), void *arg)
{
	return issuer_with_key(is, ISSUER_KEY_OCSP, ca, STATS_KEY_OCSP, op, arg);
}

int
issuer_with_ca_key(struct issuer *is, size_t ca,
		   int (*op)(X509 *ca_cert, EVP_PKEY *ca_key, void *arg, bool *ret_failed),
		   void *arg)
{
	return issuer_with_key(is, ISSUER_KEY_CA, ca, STATS_KEY_CRL, op, arg);
}

struct store *
issuer_get0_store(struct issuer *is)
{
	return is->store;
}
