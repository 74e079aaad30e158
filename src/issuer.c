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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "scepd/encoding.h"
#include "scepd/log.h"
#include "scepd/policy.h"
#include "scepd/signer.h"

#define ISSUER_SERIAL_TRIES 5

struct issuer {
	const struct scepd_config *cfg;
	pthread_mutex_t lock;
	struct keys *keys;     /* NULL while the token is gone */
	struct signer *signer; /* NULL while the token is gone */
	struct store *store;
	STACK_OF(X509) *chain; /* our own references: outlive the keys */
	STACK_OF(X509) *ra_chain;
	X509 *ca_next;
	X509 *ra_next;
	char unhealthy[256]; /* "" when healthy */
};

/* Names and numbers of a certificate, as the store and the audit record want them. */
struct issuer_cert_text {
	char serial[80];
	char *subject;
	char *sans;
};

static int
issuer_make_signer(struct issuer *is)
{
	return signer_new(&is->cfg->ca, is->keys->ca_key, keys_get0_ca_cert(is->keys), &is->signer);
}

static int
issuer_copy_certs(struct issuer *is)
{
	const struct keys *k = is->keys;

	if ((is->chain = X509_chain_up_ref(k->ca_chain)) == NULL ||
	    (k->ra_chain != NULL && (is->ra_chain = X509_chain_up_ref(k->ra_chain)) == NULL))
		return -ENOMEM;
	if (k->ca_next != NULL && X509_up_ref(k->ca_next))
		is->ca_next = k->ca_next;
	if (k->ra_next != NULL && X509_up_ref(k->ra_next))
		is->ra_next = k->ra_next;
	return 0;
}

int
issuer_new(const struct scepd_config *cfg, struct keys *keys, struct store *store,
	   const char *unavailable_reason, struct issuer **ret_issuer)
{
	struct issuer *is;
	int r;

	if ((is = calloc(1, sizeof(*is))) == NULL) {
		keys_free(keys);
		store_close(store);
		return -ENOMEM;
	}
	is->cfg = cfg;
	is->keys = keys;
	is->store = store;
	pthread_mutex_init(&is->lock, NULL);
	if (keys == NULL) {
		snprintf(is->unhealthy, sizeof(is->unhealthy), "%s", unavailable_reason);
	} else if ((r = issuer_copy_certs(is)) < 0 || (r = issuer_make_signer(is)) < 0) {
		goto out;
	}
	*ret_issuer = is;
	is = NULL;
	r = 0;
out:
	issuer_free(is);
	return r;
}

void
issuer_free(struct issuer *is)
{
	if (is == NULL)
		return;
	signer_free(is->signer);
	keys_free(is->keys);
	store_close(is->store);
	sk_X509_pop_free(is->chain, X509_free);
	sk_X509_pop_free(is->ra_chain, X509_free);
	X509_free(is->ca_next);
	X509_free(is->ra_next);
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
issuer_get0_chain(struct issuer *is)
{
	return is->chain;
}

STACK_OF(X509) *
issuer_get0_ra_chain(struct issuer *is)
{
	return is->ra_chain;
}

X509 *
issuer_get0_ca_next(struct issuer *is)
{
	return is->ca_next;
}

X509 *
issuer_get0_ra_next(struct issuer *is)
{
	return is->ra_next;
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
	signer_free(is->signer);
	is->signer = NULL;
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

/* What a print function wrote into a memory BIO, as a new string. */
static int
issuer_bio_strdup(BIO *bio, char **ret)
{
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);

	if ((*ret = strndup(len > 0 ? data : "", len > 0 ? (size_t)len : 0)) == NULL)
		return -ENOMEM;
	return 0;
}

/* "DNS:a.example, IP Address:192.0.2.1", or "" without subjectAltName. */
static int
issuer_sans_text(X509 *cert, char **ret_sans)
{
	X509_EXTENSION *ext;
	BIO *bio;
	int r = -ENOMEM, idx;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return -ENOMEM;
	idx = X509_get_ext_by_NID(cert, NID_subject_alt_name, -1);
	if (idx >= 0 && (ext = X509_get_ext(cert, idx)) != NULL &&
	    !X509V3_EXT_print(bio, ext, 0, 0)) {
		r = -EBADMSG;
		goto out;
	}
	r = issuer_bio_strdup(bio, ret_sans);
out:
	BIO_free(bio);
	return r;
}

/* The RFC 2253 form: "CN=device 1,O=Example". */
static int
issuer_name_text(const X509_NAME *name, char **ret_subject)
{
	BIO *bio;
	int r = -ENOMEM;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return -ENOMEM;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0)
		r = issuer_bio_strdup(bio, ret_subject);
	BIO_free(bio);
	return r;
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
	if ((r = issuer_name_text(X509_get_subject_name(cert), &t.subject)) < 0 ||
	    (r = issuer_sans_text(cert, &t.sans)) < 0)
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

static int
issuer_record(struct issuer *is, const struct issuer_request *req, X509 *cert,
	      const struct issuer_cert_text *text)
{
	int (*add)(struct store *, const struct store_cert *) =
		req->approved_pending ? store_add_cert_for_pending : store_add_cert;
	unsigned char *der = NULL;
	int len, r;

	if ((len = i2d_X509(cert, &der)) <= 0)
		return -ENOMEM;
	r = add(is->store, &(struct store_cert){
				   .serial = text->serial,
				   .subject = text->subject,
				   .sans = text->sans,
				   .not_before = issuer_asn1_time(X509_get0_notBefore(cert)),
				   .not_after = issuer_asn1_time(X509_get0_notAfter(cert)),
				   .der = der,
				   .der_len = (size_t)len,
				   .requester = req->requester,
				   .endpoint = req->endpoint,
				   .transaction_id = req->transaction_id,
				   .owner = req->remote_user,
			   });
	OPENSSL_free(der);
	return r;
}

static void
issuer_audit(const struct issuer *is, const struct issuer_request *req,
	     const struct issuer_result *res, const struct issuer_cert_text *text)
{
	char key[KEYS_URI_REDACT_MAX];
	static const char *const results[] = {
		[ISSUER_ISSUED] = "issued",
		[ISSUER_BAD_REQUEST] = "bad-request",
		[ISSUER_DENIED] = "denied",
		[ISSUER_UNAVAILABLE] = "unavailable",
	};

	(void)keys_uri_redact(is->cfg->ca.key, key, sizeof(key)); /* no pin-value in the log */
	log_audit(&(struct log_audit){
		.result = results[res->status],
		.endpoint = req->endpoint,
		.client = req->requester,
		.serial = text != NULL ? text->serial : NULL,
		.subject = text != NULL ? text->subject : NULL,
		.sans = text != NULL ? text->sans : NULL,
		.transaction_id = req->transaction_id,
		.key = res->status == ISSUER_ISSUED ? key : NULL,
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
	char *subject = NULL, key[KEYS_URI_REDACT_MAX];

	(void)issuer_name_text(d->subject, &subject);
	(void)keys_uri_redact(is->cfg->ca.key, key, sizeof(key)); /* no pin-value in the log */
	log_audit(&(struct log_audit){
		.result = "signing",
		.endpoint = req->endpoint,
		.client = req->requester,
		.subject = subject,
		.transaction_id = req->transaction_id,
		.key = key,
	});
	free(subject);
}

/*
 * The private-key operation, under the lock: 0 and the certificate; -EBADMSG (the
 * request cannot be certified), -EAGAIN (cannot sign now), with res set for both.
 */
static int
issuer_sign(struct issuer *is, const struct issue_req *ir, struct issuer_result *res,
	    X509 **ret_cert)
{
	int r;

	pthread_mutex_lock(&is->lock);
	if (is->unhealthy[0] != '\0') {
		issuer_set_result(res, ISSUER_UNAVAILABLE, is->unhealthy);
		r = -EAGAIN;
	} else if ((r = signer_issue(is->signer, ir, ret_cert)) == -EBADMSG) {
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
		if ((r = issuer_sign(is, &ir, res, &cert)) < 0) {
			r = 0; /* the result says why */
			goto out;
		}
		if ((r = issuer_cert_text(cert, ret_text)) < 0)
			goto out;
		if ((r = issuer_record(is, req, cert, ret_text)) != -EEXIST)
			break;
		if (is->cfg->ca.serial == CONFIG_SERIAL_SUBJECT) {
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
	struct policy_decision d = { 0 };
	char reason[sizeof(res->reason)];
	int r;

	if (!issuer_healthy(is, reason, sizeof(reason))) {
		issuer_set_result(res, ISSUER_UNAVAILABLE, reason);
		return 0;
	}
	/* An approved request's signature was checked when it arrived (see issuer_add_pending). */
	if (!req->approved_pending && signer_verify_csr(req->csr) < 0) {
		issuer_set_result(res, ISSUER_BAD_REQUEST,
				  "the request's signature does not verify");
		return 0;
	}
	r = policy_check(req->subject, req->subject_alt_name, req->csr,
			 &(struct policy_vars){ .remote_addr = req->requester,
						.remote_user = req->remote_user },
			 &d);
	if (r < 0)
		return r;
	if (d.verdict != POLICY_ALLOW)
		issuer_set_result(res, ISSUER_DENIED, d.reason);
	else
		r = issuer_sign_and_record(is, req, &d, res, text);
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
	*ret = res;
	memset(&res, 0, sizeof(res));
out:
	issuer_result_clear(&res);
	issuer_cert_text_clear(&text);
	return r;
}

/*
 * An RA key operation begins: takes the lock, and gives the RA's certificate and key
 * (the CA's without an RA). -EAGAIN, lock released, when the keys are gone.
 */
static int
issuer_ra_begin(struct issuer *is, X509 **ret_cert, EVP_PKEY **ret_key)
{
	ERR_clear_error();
	pthread_mutex_lock(&is->lock);
	if (is->unhealthy[0] != '\0') {
		pthread_mutex_unlock(&is->lock);
		return -EAGAIN;
	}
	if (is->keys->ra_key != NULL) {
		*ret_cert = sk_X509_value(is->keys->ra_chain, 0);
		*ret_key = is->keys->ra_key;
	} else {
		*ret_cert = keys_get0_ca_cert(is->keys);
		*ret_key = is->keys->ca_key;
	}
	return 0;
}

/* ... and ends: a failure caused by a lost token drops the keys and becomes -EAGAIN. */
static int
issuer_ra_end(struct issuer *is, int r, bool failed)
{
	if (failed && keys_token_lost()) {
		issuer_lose_keys(is, "the token is gone");
		r = -EAGAIN;
	}
	pthread_mutex_unlock(&is->lock);
	ERR_clear_error();
	return r;
}

int
issuer_scep_decrypt(struct issuer *is, struct scep_msg *msg)
{
	X509 *ra_cert;
	EVP_PKEY *ra_key;
	int r;

	if ((r = issuer_ra_begin(is, &ra_cert, &ra_key)) < 0)
		return r;
	r = scep_msg_decrypt(msg, ra_cert, ra_key);
	/* A dead token looks like a bad envelope to the codec: tell them apart here. */
	return issuer_ra_end(is, r, r == 0 && msg->fail == SCEP_FAIL_BAD_MESSAGE_CHECK);
}

int
issuer_scep_certrep(struct issuer *is, const struct scep_msg *req, const struct scep_certrep *rep,
		    unsigned char **ret_der, size_t *ret_len)
{
	X509 *ra_cert;
	EVP_PKEY *ra_key;
	int r;

	if ((r = issuer_ra_begin(is, &ra_cert, &ra_key)) < 0)
		return r;
	r = scep_msg_certrep(req, rep, ra_cert, ra_key, ret_der, ret_len);
	return issuer_ra_end(is, r, r == -EIO);
}

int
issuer_scep_next_ca(struct issuer *is, unsigned char **ret_der, size_t *ret_len)
{
	STACK_OF(X509) *certs = NULL;
	X509 *ra_cert;
	EVP_PKEY *ra_key;
	int r;

	if (is->ca_next == NULL)
		return -ENOENT;
	if ((certs = sk_X509_new_null()) == NULL || !sk_X509_push(certs, is->ca_next) ||
	    (is->ra_next != NULL && !sk_X509_push(certs, is->ra_next))) {
		sk_X509_free(certs);
		return -ENOMEM;
	}
	if ((r = issuer_ra_begin(is, &ra_cert, &ra_key)) == 0) {
		r = scep_msg_next_ca(certs, ra_cert, ra_key, ret_der, ret_len);
		r = issuer_ra_end(is, r, r == -EIO);
	}
	sk_X509_free(certs); /* borrowed certificates */
	return r;
}

/* The record of the certificate with this serial, and the certificate in it. */
static int
issuer_find_recorded(struct issuer *is, const ASN1_INTEGER *serial,
		     struct store_cert **ret_record, X509 **ret_cert)
{
	struct store_cert *record = NULL;
	const unsigned char *p;
	char *hex = NULL;
	X509 *cert;
	int r;

	if ((r = encoding_hex_serial(serial, &hex)) < 0 ||
	    (r = store_get_cert(is->store, hex, &record)) < 0)
		goto out;
	p = record->der;
	if ((cert = d2i_X509(NULL, &p, (long)record->der_len)) == NULL) {
		r = -EIO;
		goto out;
	}
	*ret_cert = cert;
	if (ret_record != NULL) {
		*ret_record = record;
		record = NULL; /* the caller owns it now */
	}
	r = 0;
out:
	store_cert_free(record);
	free(hex);
	return r;
}

int
issuer_find_cert(struct issuer *is, const ASN1_INTEGER *serial, X509 **ret_cert)
{
	int r;

	r = issuer_find_recorded(is, serial, NULL, ret_cert);
	ERR_clear_error();
	return r;
}

int
issuer_check_issued(struct issuer *is, X509 *cert, struct store_cert **ret_record)
{
	X509 *ca = is->chain != NULL ? sk_X509_value(is->chain, 0) : NULL;
	struct store_cert *record = NULL;
	X509 *recorded = NULL;
	int r;

	if (ca == NULL || X509_check_issued(ca, cert) != X509_V_OK ||
	    X509_verify(cert, X509_get0_pubkey(ca)) != 1) {
		r = -EBADMSG;
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0 ||
	    X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
		r = -EKEYEXPIRED;
		goto out;
	}
	if ((r = issuer_find_recorded(is, X509_get0_serialNumber(cert), &record, &recorded)) < 0)
		goto out;
	if (X509_cmp(recorded, cert) != 0) {
		r = -ENOENT;
		goto out;
	}
	if (ret_record != NULL) {
		*ret_record = record;
		record = NULL; /* the caller owns it now */
	}
	r = 0;
out:
	store_cert_free(record);
	X509_free(recorded);
	ERR_clear_error();
	return r;
}

/* Whether every name of names is also one of within (NULL: no names). */
static bool
issuer_names_within(const GENERAL_NAMES *names, const GENERAL_NAMES *within)
{
	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		GENERAL_NAME *n = sk_GENERAL_NAME_value(names, i);
		bool found = false;

		for (int j = 0; !found && j < sk_GENERAL_NAME_num(within); j++)
			found = GENERAL_NAME_cmp(n, sk_GENERAL_NAME_value(within, j)) == 0;
		if (!found)
			return false;
	}
	return true;
}

/* The subjectAltName a CSR asks for: 0 and the names (NULL: none), -EBADMSG. */
static int
issuer_csr_sans(X509_REQ *csr, GENERAL_NAMES **ret_sans)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
	GENERAL_NAMES *sans = NULL;
	int crit = -1;

	if (exts != NULL)
		sans = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	if (sans == NULL && crit != -1)
		return -EBADMSG; /* present but unreadable, or repeated */
	*ret_sans = sans;
	return 0;
}

int
issuer_renewal_check(const struct issuer_request *req, X509 *signer, struct issuer_renewal *ret)
{
	struct policy_decision d = { 0 };
	GENERAL_NAMES *requested = NULL, *held = NULL;
	const char *refusal = NULL;
	int r;

	r = policy_check(req->subject, req->subject_alt_name, req->csr,
			 &(struct policy_vars){ .remote_addr = req->requester,
						.remote_user = req->remote_user },
			 &d);
	if (r < 0)
		goto out;
	held = X509_get_ext_d2i(signer, NID_subject_alt_name, NULL, NULL);
	if (d.verdict != POLICY_ALLOW)
		refusal = "the policy refuses the request";
	else if (X509_NAME_cmp(d.subject, X509_get_subject_name(signer)) != 0)
		refusal = "the new subject is not the signer certificate's";
	else if (issuer_csr_sans(req->csr, &requested) < 0 ||
		 !issuer_names_within(requested, held) || !issuer_names_within(d.san, held))
		refusal = "a requested subjectAltName is not in the signer certificate";
	ret->renews = refusal == NULL;
	ret->refusal = refusal;
	r = 0;
out:
	GENERAL_NAMES_free(requested);
	GENERAL_NAMES_free(held);
	policy_decision_clear(&d);
	ERR_clear_error();
	return r;
}

struct issuer_txid_match {
	EVP_PKEY *key;
	X509 *found;
};

static int
issuer_txid_match(const struct store_cert *rec, void *userdata)
{
	struct issuer_txid_match *m = userdata;
	const unsigned char *p = rec->der;
	X509 *cert;

	if ((cert = d2i_X509(NULL, &p, (long)rec->der_len)) == NULL)
		return 0;
	if (EVP_PKEY_eq(X509_get0_pubkey(cert), m->key) == 1) {
		X509_free(m->found); /* the walk is oldest first: keep the newest */
		m->found = cert;
	} else {
		X509_free(cert);
	}
	return 0;
}

int
issuer_find_transaction_cert(struct issuer *is, const char *transaction_id, EVP_PKEY *key,
			     X509 **ret_cert)
{
	struct issuer_txid_match m = { .key = key };
	int r;

	if (key == NULL)
		return -ENOENT;
	r = store_walk_certs_by_transaction(is->store, transaction_id, issuer_txid_match, &m);
	ERR_clear_error();
	if (r == 0 && m.found == NULL)
		r = -ENOENT;
	if (r < 0) {
		X509_free(m.found);
		return r;
	}
	*ret_cert = m.found;
	return 0;
}

int
issuer_consume_challenge(struct issuer *is, const char *challenge, const char *used_by,
			 char **ret_owner)
{
	char hash[ENCODING_SHA256_HEX_LEN + 1];
	int r;

	if ((r = encoding_sha256_hex(challenge, hash)) < 0)
		return r;
	return store_consume_challenge(is->store, hash, used_by, ret_owner);
}

int
issuer_get_pending(struct issuer *is, const char *transaction_id,
		   struct store_pending **ret_pending)
{
	return store_get_pending(is->store, transaction_id, ret_pending);
}

/*
 * The request as it is kept for the operator: without its challengePassword, which
 * (a static challenge above all) must not rest in the store. Its signature then no
 * longer verifies; it was checked when the request arrived.
 */
static int
issuer_pending_csr_der(X509_REQ *csr, unsigned char **ret_der, int *ret_len)
{
	X509_REQ *copy;
	int idx, len, r = -ENOMEM;

	if ((copy = X509_REQ_dup(csr)) == NULL)
		return -ENOMEM;
	while ((idx = X509_REQ_get_attr_by_NID(copy, NID_pkcs9_challengePassword, -1)) >= 0)
		X509_ATTRIBUTE_free(X509_REQ_delete_attr(copy, idx));
	if ((len = i2d_X509_REQ(copy, ret_der)) > 0) {
		*ret_len = len;
		r = 0;
	}
	X509_REQ_free(copy);
	return r;
}

int
issuer_add_pending(struct issuer *is, const char *transaction_id, X509_REQ *csr, X509 *signer,
		   const char *requester, const char *owner)
{
	unsigned char *csr_der = NULL, *signer_der = NULL;
	char *subject = NULL;
	BIO *bio = NULL;
	int csr_len = 0, signer_len, r = -ENOMEM;

	if (issuer_pending_csr_der(csr, &csr_der, &csr_len) < 0 ||
	    (signer_len = i2d_X509(signer, &signer_der)) <= 0 ||
	    (bio = BIO_new(BIO_s_mem())) == NULL ||
	    X509_NAME_print_ex(bio, X509_REQ_get_subject_name(csr), 0, XN_FLAG_RFC2253) < 0 ||
	    (r = issuer_bio_strdup(bio, &subject)) < 0)
		goto out;
	r = store_add_pending(is->store, &(struct store_pending){
						 .transaction_id = transaction_id,
						 .subject = subject,
						 .csr_der = csr_der,
						 .csr_der_len = (size_t)csr_len,
						 .signer_cert_der = signer_der,
						 .signer_cert_der_len = (size_t)signer_len,
						 .requester = requester,
						 .owner = owner,
					 });
out:
	free(subject);
	BIO_free(bio);
	OPENSSL_free(csr_der);
	OPENSSL_free(signer_der);
	ERR_clear_error();
	return r;
}
