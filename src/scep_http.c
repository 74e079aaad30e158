/*
 * scep_http.c - SCEP operations over HTTP: query string, bodies, content types, and
 * which CertRep a pkiMessage gets.
 *
 * PKIOperation, in order: decode the body (POST) or the message argument (GET, where
 * '+' may have arrived unescaped and become a space); parse and verify the outer
 * signature (scep_msg_parse). A message whose signature does not verify gets a 400
 * and costs no private-key operation. GetCRL is redirected; a client past
 * scep.refusals_per_minute gets a 429 before any key work; then the envelope is
 * decrypted with the RA key (only when it is addressed to the RA); then by type:
 *   PKCSReq, RenewalReq  the transaction's newest certificate for the request's key
 *                        is answered again when the message is a retransmission
 *                        (not signed by that certificate). Signed by a certificate
 *                        this CA issued through SCEP (unexpired, on record): a
 *                        renewal when the policy gives the signer's subject and
 *                        every SAN asked for is in the signer; it needs no challenge
 *                        or approval and keeps the original owner. Anything else
 *                        signed by an issued certificate: RenewalReq refused, PKCSReq
 *                        a new request. A new request's signer must hold the
 *                        request's key and pass scep.challenge (OTP: used up at once,
 *                        across workers); with approval = "manual" the first request
 *                        is stored PENDING with the challenge's owner
 *   GetCert              the recorded certificate with that serial, to a signer that
 *                        scep.get_cert allows, else badCertId
 *   CertPoll             for a signer holding the request's key: the transaction's
 *                        certificate, PENDING, issued now when approved, FAILURE
 *                        when rejected; badCertId when unknown or another key
 * Only the message types the codec accepts ever reach the signer. Signed FAILUREs
 * are counted per client address (ratelimit.c); past the limit they become 429s.
 *
 * The GetCACert, GetNextCACert and GetCACaps answers are built once per worker. Never
 * signs anything itself: every key operation goes through the issuer.
 */
#include "scepd/scep_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/x509v3.h>

#include "scepd/log.h"
#include "scepd/ratelimit.h"
#include "scepd/scep_query.h"

#define SCEP_HTTP_SECRET_MAX 1024

struct scep_http {
	const struct scepd_config *cfg;
	struct issuer *issuer;
	char *challenge; /* static challenge, or NULL */
	size_t challenge_len;
	char caps[256];
	unsigned char *ca_body; /* GetCACert answer, NULL while the keys are not loaded */
	size_t ca_body_len;
	const char *ca_type;
	unsigned char *next_ca_body; /* GetNextCACert answer, NULL without a next CA */
	size_t next_ca_body_len;
	char cache_control[64];     /* "" for none */
	struct ratelimit *refusals; /* signed FAILUREs per client; NULL: no limit */
};

#define SCEP_HTTP_RATELIMIT_ADDRESSES 4096

/*
 * Who a refusal is counted against: the client's address, or for IPv6 its /64 (one
 * host usually holds a whole /64, and would otherwise have as many allowances as
 * addresses, and could fill the table for everyone).
 */
static void
scep_http_refusal_key(const char *addr, char key[static INET6_ADDRSTRLEN + 4])
{
	struct in6_addr a6;

	if (strchr(addr, ':') == NULL || strncmp(addr, "::ffff:", 7) == 0 ||
	    inet_pton(AF_INET6, addr, &a6) != 1) {
		snprintf(key, INET6_ADDRSTRLEN + 4, "%s", addr);
		return;
	}
	memset(&a6.s6_addr[8], 0, 8);
	if (inet_ntop(AF_INET6, &a6, key, INET6_ADDRSTRLEN) == NULL)
		snprintf(key, INET6_ADDRSTRLEN + 4, "%s", addr);
	else
		strcat(key, "/64");
}

static double
scep_http_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
scep_http_read_challenge(struct scep_http *sh, struct secret_error *err)
{
	char buf[SCEP_HTTP_SECRET_MAX];
	int r;

	if (sh->cfg->scep.challenge_mode != CONFIG_CHALLENGE_STATIC)
		return 0;
	r = secret_read(&sh->cfg->scep.challenge_secret, "scep.challenge.secret", buf, sizeof(buf),
			err);
	if (r == 0) {
		sh->challenge_len = strlen(buf);
		if ((sh->challenge = OPENSSL_memdup(buf, sh->challenge_len + 1)) == NULL)
			r = -ENOMEM;
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}

static void
scep_http_make_caps(struct scep_http *sh)
{
	snprintf(sh->caps, sizeof(sh->caps),
		 "POSTPKIOperation\nSHA-256\nSHA-512\nSHA-1\nAES\nDES3\nSCEPStandard\nRenewal\n%s",
		 issuer_get0_ca_next(sh->issuer) != NULL ? "GetNextCACert\n" : "");
}

/* max-age = remaining CA lifetime / freshness factor, at most freshness max. */
static void
scep_http_make_cache_control(struct scep_http *sh, X509 *ca)
{
	const struct config_scep *scep = &sh->cfg->scep;
	int days = 0, secs = 0;
	long long left, age;

	if (scep->freshness_factor == 0 ||
	    !ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(ca)))
		return;
	left = (long long)days * 86400 + secs;
	age = left > 0 ? left / scep->freshness_factor : 0;
	if (age > scep->freshness_max)
		age = scep->freshness_max;
	snprintf(sh->cache_control, sizeof(sh->cache_control), "max-age=%lld", age);
}

/* GetCACert: the CA alone as DER, or RA certificate(s) and CA chain as PKCS#7. */
static int
scep_http_make_ca_body(struct scep_http *sh)
{
	STACK_OF(X509) *chain = issuer_get0_chain(sh->issuer);
	STACK_OF(X509) *ra = issuer_get0_ra_chain(sh->issuer);
	STACK_OF(X509) *all = NULL;
	unsigned char *der = NULL;
	int len, r = -ENOMEM;

	if (chain == NULL)
		return 0; /* started without keys: GetCACert answers 503 */
	scep_http_make_cache_control(sh, sk_X509_value(chain, 0));
	if (ra == NULL && sk_X509_num(chain) == 1) {
		if ((len = i2d_X509(sk_X509_value(chain, 0), &der)) <= 0)
			return -ENOMEM;
		sh->ca_body = der;
		sh->ca_body_len = (size_t)len;
		sh->ca_type = "application/x-x509-ca-cert";
		return 0;
	}
	if ((all = sk_X509_new_null()) == NULL)
		goto out;
	for (int i = 0; ra != NULL && i < sk_X509_num(ra); i++)
		if (!sk_X509_push(all, sk_X509_value(ra, i)))
			goto out;
	for (int i = 0; i < sk_X509_num(chain); i++)
		if (!sk_X509_push(all, sk_X509_value(chain, i)))
			goto out;
	if ((r = scep_msg_certs_only(all, &sh->ca_body, &sh->ca_body_len)) < 0)
		goto out;
	sh->ca_type = "application/x-x509-ca-ra-cert";
out:
	sk_X509_free(all); /* borrowed certificates */
	return r;
}

/*
 * GetNextCACert: signed once per worker (it names no request), so that asking for it
 * costs no private-key operation. A worker without its keys answers 503.
 */
static int
scep_http_make_next_ca_body(struct scep_http *sh)
{
	int r;

	if (issuer_get0_ca_next(sh->issuer) == NULL || issuer_get0_chain(sh->issuer) == NULL)
		return 0;
	r = issuer_scep_next_ca(sh->issuer, &sh->next_ca_body, &sh->next_ca_body_len);
	return r == -EAGAIN ? 0 : r;
}

int
scep_http_new(const struct scepd_config *cfg, struct issuer *issuer, struct scep_http **ret,
	      struct secret_error *err)
{
	struct scep_http *sh;
	int r;

	if ((sh = calloc(1, sizeof(*sh))) == NULL)
		return -ENOMEM;
	sh->cfg = cfg;
	sh->issuer = issuer;
	scep_http_make_caps(sh);
	if ((r = scep_http_read_challenge(sh, err)) < 0 || (r = scep_http_make_ca_body(sh)) < 0 ||
	    (r = scep_http_make_next_ca_body(sh)) < 0) {
		scep_http_free(sh);
		return r;
	}
	if (cfg->scep.refusals_per_minute > 0 &&
	    (r = ratelimit_new((unsigned)cfg->scep.refusals_per_minute,
			       SCEP_HTTP_RATELIMIT_ADDRESSES, &sh->refusals)) < 0) {
		scep_http_free(sh);
		return r;
	}
	*ret = sh;
	return 0;
}

void
scep_http_free(struct scep_http *sh)
{
	if (sh == NULL)
		return;
	if (sh->challenge != NULL)
		OPENSSL_clear_free(sh->challenge, sh->challenge_len + 1);
	free(sh->ca_body);
	free(sh->next_ca_body);
	ratelimit_free(sh->refusals);
	free(sh);
}

static int
scep_http_reply_pki(struct scep_http *sh, struct http_request *req, const struct scep_msg *msg,
		    const struct scep_certrep *rep)
{
	unsigned char *der = NULL;
	size_t len = 0;
	int r;

	r = issuer_scep_certrep(sh->issuer, msg, rep, &der, &len);
	if (r == -EAGAIN)
		return http_reply_text(req, 503, "signing unavailable: this worker cannot sign");
	if (r < 0)
		return log_error_errno(r, "cannot build a CertRep for transaction %s", msg->txid);
	r = http_reply(req, 200, "application/x-pki-message", der, len);
	free(der);
	return r;
}

/*
 * Logs why (for the operator) and answers FAILURE with text (for the client). A signed
 * answer costs an RA private-key operation: past scep.refusals_per_minute for this
 * client address, the answer is a 429 without one.
 */
static int
scep_http_fail_because(struct scep_http *sh, struct http_request *req,
		       const struct scep_msg *msg, enum scep_fail fail, const char *why,
		       const char *text)
{
	const char *addr = http_request_remote_addr(req);
	const char *type = scep_msg_type_name(msg->type);
	char key[INET6_ADDRSTRLEN + 4];

	log_notice("SCEP %s from %s, transaction %s: FAILURE %s: %s", type != NULL ? type : "?",
		   addr, msg->txid, scep_msg_fail_name(fail), why);
	scep_http_refusal_key(addr, key);
	if (sh->refusals != NULL && !ratelimit_take(sh->refusals, key, scep_http_now())) {
		log_warning("SCEP from %s: more than %d refusals a minute: answering 429 unsigned",
			    addr, sh->cfg->scep.refusals_per_minute);
		return http_reply_text(req, 429, "too many refused requests from this address");
	}
	return scep_http_reply_pki(sh, req, msg,
				   &(struct scep_certrep){ .status = SCEP_STATUS_FAILURE,
							   .fail = fail,
							   .fail_text = text });
}

static int
scep_http_fail(struct scep_http *sh, struct http_request *req, const struct scep_msg *msg,
	       enum scep_fail fail, const char *text)
{
	return scep_http_fail_because(sh, req, msg, fail, text, text);
}

static int
scep_http_success(struct scep_http *sh, struct http_request *req, const struct scep_msg *msg,
		  X509 *cert)
{
	return scep_http_reply_pki(
		sh, req, msg,
		&(struct scep_certrep){ .status = SCEP_STATUS_SUCCESS,
					.fail = SCEP_FAIL_NONE,
					.cert = cert,
					.chain = issuer_get0_chain(sh->issuer) });
}

/* The reply for a request the operator has yet to decide on. */
static int
scep_http_pending(struct scep_http *sh, struct http_request *req, const struct scep_msg *msg)
{
	int r;

	log_info("SCEP transaction %s from %s: PENDING", msg->txid, http_request_remote_addr(req));
	/*
	 * The client comes back after its retry delay, which may well equal our idle
	 * timeout: a kept-alive connection would then race our closing it, and a client
	 * does not resend a POST that met a closed connection.
	 */
	if ((r = http_add_header(req, "Connection", "close")) < 0)
		return r;
	return scep_http_reply_pki(
		sh, req, msg,
		&(struct scep_certrep){ .status = SCEP_STATUS_PENDING, .fail = SCEP_FAIL_NONE });
}

static int
scep_http_store_unavailable(struct http_request *req, int r, const char *what)
{
	log_error_errno(r, "SCEP from %s: the store cannot %s", http_request_remote_addr(req),
			what);
	return http_reply_text(req, 503, "the certificate store is unavailable");
}

/*
 * scep.challenge for a request that is not a renewal: 0 and the challenge's owner
 * (OTP, may be NULL), 1 with *ret_refusal set when refused, or a negative errno.
 */
static int
scep_http_authorize(struct scep_http *sh, const struct scep_msg *msg, char **ret_owner,
		    const char **ret_refusal)
{
	size_t len;
	int r;

	if (sh->cfg->scep.challenge_mode == CONFIG_CHALLENGE_NONE)
		return 0;
	if (msg->challenge == NULL) {
		*ret_refusal = "a challenge password is required";
		return 1;
	}
	if (sh->cfg->scep.challenge_mode == CONFIG_CHALLENGE_STATIC) {
		len = strlen(msg->challenge);
		if (len == sh->challenge_len &&
		    CRYPTO_memcmp(msg->challenge, sh->challenge, len) == 0)
			return 0;
		*ret_refusal = "wrong challenge password";
		return 1;
	}
	r = issuer_consume_challenge(sh->issuer, msg->challenge, msg->txid, ret_owner);
	*ret_refusal = r == -EALREADY ? "the challenge password was used already"
		       : r == -ETIME  ? "the challenge password has expired"
				      : "wrong challenge password";
	return r == -ENOENT || r == -EALREADY || r == -ETIME ? 1 : r;
}

static struct issuer_request
scep_http_issuer_request(struct scep_http *sh, struct http_request *req,
			 const struct scep_msg *msg, X509_REQ *csr, const char *owner)
{
	return (struct issuer_request){
		.csr = csr,
		.subject = &sh->cfg->scep.subject,
		.subject_alt_name = &sh->cfg->scep.subject_alt_name,
		.endpoint = "scep",
		.requester = http_request_remote_addr(req),
		.remote_user = owner,
		.transaction_id = msg->txid,
	};
}

/* Sign csr for this transaction and answer SUCCESS, or the refusal. */
static int
scep_http_issue(struct scep_http *sh, struct http_request *req, const struct scep_msg *msg,
		X509_REQ *csr, const char *owner, bool approved_pending)
{
	struct issuer_request ir = scep_http_issuer_request(sh, req, msg, csr, owner);
	struct issuer_result res = { 0 };
	int r;

	ir.approved_pending = approved_pending;
	if ((r = issuer_issue(sh->issuer, &ir, &res)) < 0)
		return r;
	switch (res.status) {
	case ISSUER_ISSUED:
		r = scep_http_success(sh, req, msg, res.cert);
		break;
	case ISSUER_BAD_REQUEST:
	case ISSUER_DENIED:
		r = scep_http_fail(sh, req, msg, SCEP_FAIL_BAD_REQUEST, res.reason);
		break;
	case ISSUER_UNAVAILABLE:
		r = http_reply_text(req, 503, "signing unavailable: %s", res.reason);
		break;
	}
	issuer_result_clear(&res);
	return r;
}

/*
 * Where a transaction stands with the operator: PENDING, issue, or a refusal. Only to
 * the holder of the request's key: anyone may know a transactionID.
 */
static int
scep_http_decided(struct scep_http *sh, struct http_request *req, const struct scep_msg *msg,
		  const struct store_pending *p)
{
	const unsigned char *der = p->csr_der;
	X509_REQ *csr;
	int r;

	if ((csr = d2i_X509_REQ(NULL, &der, (long)p->csr_der_len)) == NULL)
		return -EIO;
	if (EVP_PKEY_eq(X509_REQ_get0_pubkey(csr), X509_get0_pubkey(msg->signer)) != 1) {
		r = scep_http_fail_because(sh, req, msg, SCEP_FAIL_BAD_CERT_ID,
					   "the signer does not hold the pending request's key",
					   "no request with this transactionID");
		goto out;
	}
	switch (p->status) {
	case STORE_STATUS_PENDING:
		r = scep_http_pending(sh, req, msg);
		break;
	case STORE_STATUS_REJECTED:
		r = scep_http_fail(sh, req, msg, SCEP_FAIL_BAD_REQUEST,
				   "the request was rejected by the CA");
		break;
	case STORE_STATUS_APPROVED:
		r = scep_http_issue(sh, req, msg, csr, p->owner, true);
		break;
	default:
		r = scep_http_fail(sh, req, msg, SCEP_FAIL_BAD_CERT_ID,
				   "the transaction is complete");
		break;
	}
out:
	X509_REQ_free(csr);
	return r;
}

/* approval = "manual": the first request of a transaction waits for scepctl. */
static int
scep_http_manual(struct scep_http *sh, struct http_request *req, const struct scep_msg *msg)
{
	struct store_pending *p = NULL;
	const char *refusal = NULL;
	char *owner = NULL;
	int r;

	if ((r = issuer_get_pending(sh->issuer, msg->txid, &p)) == 0) {
		r = scep_http_decided(sh, req, msg, p);
		store_pending_free(p);
		return r;
	}
	if (r != -ENOENT)
		return scep_http_store_unavailable(req, r, "look up a pending request");
	if ((r = scep_http_authorize(sh, msg, &owner, &refusal)) != 0) {
		free(owner);
		return r > 0 ? scep_http_fail(sh, req, msg, SCEP_FAIL_BAD_REQUEST, refusal) : r;
	}
	r = issuer_add_pending(sh->issuer, msg->txid, msg->csr, msg->signer,
			       http_request_remote_addr(req), owner);
	free(owner);
	if (r < 0 && r != -EEXIST)
		return scep_http_store_unavailable(req, r, "record a pending request");
	return scep_http_pending(sh, req, msg);
}

/* Self-signed by its own key (X509_check_issued would also want keyCertSign). */
static bool
scep_http_self_signed(X509 *cert)
{
	return X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) == 0 &&
	       X509_verify(cert, X509_get0_pubkey(cert)) == 1;
}

/* A new request: the challenge, then the operator (approval = "manual") or the policy. */
static int
scep_http_enrol_new(struct scep_http *sh, struct http_request *req, const struct scep_msg *msg)
{
	const char *refusal = NULL;
	char *owner = NULL;
	int r;

	/*
	 * The key holder's own signature: or anyone could wrap a captured envelope,
	 * challenge and all, in a message of their own.
	 */
	if (!msg->signer_has_csr_key)
		return scep_http_fail(sh, req, msg, SCEP_FAIL_BAD_REQUEST,
				      "the signer certificate does not hold the request's key");
	if (sh->cfg->scep.approval == CONFIG_APPROVAL_MANUAL)
		return scep_http_manual(sh, req, msg);
	if ((r = scep_http_authorize(sh, msg, &owner, &refusal)) != 0)
		return r > 0 ? scep_http_fail(sh, req, msg, SCEP_FAIL_BAD_REQUEST, refusal) : r;
	r = scep_http_issue(sh, req, msg, msg->csr, owner, false);
	free(owner);
	return r;
}

/*
 * A request signed by a certificate of this CA: a renewal when that certificate was
 * issued through SCEP and the request keeps its identity (subject, SANs within it);
 * then it needs no challenge and no approval, and keeps the original owner. Otherwise
 * a PKCSReq is a new request, a RenewalReq is refused.
 */
static int
scep_http_enrol_signed(struct scep_http *sh, struct http_request *req,
		       const struct scep_msg *msg, const struct store_cert *signer)
{
	struct issuer_request ir = scep_http_issuer_request(sh, req, msg, msg->csr, signer->owner);
	struct issuer_renewal renewal = { 0 };
	int r;

	if (strcmp(signer->endpoint, "scep") != 0)
		renewal.refusal = "the signer certificate was not issued through SCEP";
	else if ((r = issuer_renewal_check(&ir, msg->signer, &renewal)) < 0)
		return r;
	if (renewal.renews) {
		log_info("SCEP transaction %s from %s: renewal of serial %s", msg->txid,
			 http_request_remote_addr(req), signer->serial);
		return scep_http_issue(sh, req, msg, msg->csr, signer->owner, false);
	}
	if (msg->type == SCEP_MSG_RENEWALREQ)
		return scep_http_fail_because(sh, req, msg, SCEP_FAIL_BAD_REQUEST,
					      renewal.refusal,
					      "not a renewal of the signer certificate");
	log_info("SCEP transaction %s: not a renewal of serial %s (%s): a new request",
		 msg->txid, signer->serial, renewal.refusal);
	return scep_http_enrol_new(sh, req, msg);
}

/*
 * The transaction's newest certificate, when the request is a retransmission: the
 * same key, and not signed by that certificate (which would make it a renewal of it).
 * 0 and the certificate, -ENOENT, -EIO.
 */
static int
scep_http_retransmitted(struct scep_http *sh, const struct scep_msg *msg, X509 **ret_cert)
{
	X509 *cert = NULL;
	int r;

	r = issuer_find_transaction_cert(sh->issuer, msg->txid, X509_REQ_get0_pubkey(msg->csr),
					 &cert);
	if (r == 0 && X509_cmp(cert, msg->signer) == 0)
		r = -ENOENT;
	if (r == 0)
		*ret_cert = cert;
	else
		X509_free(cert);
	return r;
}

static int
scep_http_enrol(struct scep_http *sh, struct http_request *req, const struct scep_msg *msg)
{
	struct store_cert *signer = NULL;
	bool self_signed = scep_http_self_signed(msg->signer);
	X509 *cert = NULL;
	int r;

	if (self_signed && msg->type == SCEP_MSG_RENEWALREQ)
		return scep_http_fail(sh, req, msg, SCEP_FAIL_BAD_MESSAGE_CHECK,
				      "a RenewalReq must be signed by a certificate of this CA");
	if (!self_signed && (r = issuer_check_issued(sh->issuer, msg->signer, &signer)) < 0) {
		if (r == -EIO)
			return scep_http_store_unavailable(req, r, "look up the signer");
		return scep_http_fail(sh, req, msg, SCEP_FAIL_BAD_MESSAGE_CHECK,
				      r == -EKEYEXPIRED ? "the signer certificate has expired"
				      : r == -ENOENT
					      ? "the signer certificate is not on record"
					      : "the signer is not a certificate of this CA");
	}
	/* The same request again (a retry, a replay): the same certificate, no second one. */
	if ((r = scep_http_retransmitted(sh, msg, &cert)) == 0) {
		log_info("SCEP transaction %s: answered again with its certificate", msg->txid);
		r = scep_http_success(sh, req, msg, cert);
		X509_free(cert);
		goto out;
	}
	if (r != -ENOENT) {
		r = scep_http_store_unavailable(req, r, "look up the transaction");
		goto out;
	}
	r = signer != NULL ? scep_http_enrol_signed(sh, req, msg, signer)
			   : scep_http_enrol_new(sh, req, msg);
out:
	store_cert_free(signer);
	return r;
}

/*
 * CertPoll: the operator's decision on this transaction, or its certificate; only for
 * a signer holding the request's key.
 */
static int
scep_http_poll(struct scep_http *sh, struct http_request *req, const struct scep_msg *msg)
{
	struct store_pending *p = NULL;
	X509 *cert = NULL;
	int r;

	r = issuer_find_transaction_cert(sh->issuer, msg->txid, X509_get0_pubkey(msg->signer),
					 &cert);
	if (r == 0) {
		r = scep_http_success(sh, req, msg, cert);
		X509_free(cert);
		return r;
	}
	if (r != -ENOENT)
		return scep_http_store_unavailable(req, r, "look up the transaction");
	if ((r = issuer_get_pending(sh->issuer, msg->txid, &p)) == -ENOENT)
		return scep_http_fail(sh, req, msg, SCEP_FAIL_BAD_CERT_ID,
				      "no request with this transactionID");
	if (r < 0)
		return scep_http_store_unavailable(req, r, "look up a pending request");
	r = scep_http_decided(sh, req, msg, p);
	store_pending_free(p);
	return r;
}

/*
 * Why the signer may not have cert by GetCert (scep.get_cert), or NULL when it may:
 * "same_subject" wants a valid certificate of this CA, issued through SCEP, with
 * cert's subject. *ret_r < 0 when the store failed.
 */
static const char *
scep_http_get_cert_refusal(struct scep_http *sh, const struct scep_msg *msg, X509 *cert,
			   int *ret_r)
{
	struct store_cert *signer = NULL;
	const char *refusal = NULL;
	int r;

	*ret_r = 0;
	switch (sh->cfg->scep.get_cert) {
	case CONFIG_GET_CERT_ANY:
		return NULL;
	case CONFIG_GET_CERT_NONE:
		return "GetCert is not offered here (scep.get_cert = \"none\")";
	case CONFIG_GET_CERT_SAME_SUBJECT:
		break;
	}
	if ((r = issuer_check_issued(sh->issuer, msg->signer, &signer)) == -EIO)
		*ret_r = r;
	else if (r < 0)
		refusal = "the signer is not a valid certificate of this CA";
	else if (strcmp(signer->endpoint, "scep") != 0)
		refusal = "the signer certificate was not issued through SCEP";
	else if (X509_NAME_cmp(X509_get_subject_name(msg->signer),
			       X509_get_subject_name(cert)) != 0)
		refusal = "the signer's subject is not the requested certificate's";
	store_cert_free(signer);
	return refusal;
}

static int
scep_http_get_cert(struct scep_http *sh, struct http_request *req, const struct scep_msg *msg)
{
	const char *refusal;
	X509 *cert = NULL;
	int r;

	if ((r = issuer_find_cert(sh->issuer, msg->serial, &cert)) == -ENOENT)
		return scep_http_fail(sh, req, msg, SCEP_FAIL_BAD_CERT_ID, "no such certificate");
	if (r < 0)
		return scep_http_store_unavailable(req, r, "look up a certificate");
	refusal = scep_http_get_cert_refusal(sh, msg, cert, &r);
	if (r < 0)
		r = scep_http_store_unavailable(req, r, "look up the signer");
	else if (refusal != NULL) /* the same answer as an unknown serial */
		r = scep_http_fail_because(sh, req, msg, SCEP_FAIL_BAD_CERT_ID, refusal,
					   "no such certificate");
	else
		r = scep_http_success(sh, req, msg, cert);
	X509_free(cert);
	return r;
}

static int
scep_http_dispatch(struct scep_http *sh, struct http_request *req, struct scep_msg *msg)
{
	char key[INET6_ADDRSTRLEN + 4];
	int r;

	/*
	 * An unauthenticated message gets no signed answer: that would cost a private-key
	 * operation for anyone who sends bytes. A verified signer that asks for what we do
	 * not offer gets a (rate limited) FAILURE.
	 */
	if (msg->signer == NULL) {
		log_notice("SCEP PKIOperation from %s, transaction %s: refused unsigned: %s",
			   http_request_remote_addr(req), msg->txid, msg->fail_reason);
		return http_reply_text(req, 400, "%s", msg->fail_reason);
	}
	if (msg->fail != SCEP_FAIL_NONE)
		return scep_http_fail_because(sh, req, msg, msg->fail, msg->fail_reason,
					      "unsupported messageType");
	if (msg->type == SCEP_MSG_GETCRL) {
		if (sh->cfg->scep.crl_url == NULL)
			return http_reply_text(req, 400, "GetCRL is not offered here");
		if ((r = http_add_header(req, "Location", sh->cfg->scep.crl_url)) < 0)
			return r;
		return http_reply_text(req, 302, "the CRL is at %s", sh->cfg->scep.crl_url);
	}
	/* No more key work for a client that used up its refusals. */
	scep_http_refusal_key(http_request_remote_addr(req), key);
	if (sh->refusals != NULL && ratelimit_exhausted(sh->refusals, key, scep_http_now())) {
		log_notice("SCEP PKIOperation from %s: more than %d refusals a minute: answering "
			   "429 before any key work",
			   http_request_remote_addr(req), sh->cfg->scep.refusals_per_minute);
		return http_reply_text(req, 429, "too many refused requests from this address");
	}
	if ((r = issuer_scep_decrypt(sh->issuer, msg)) == -EAGAIN)
		return http_reply_text(req, 503, "signing unavailable: this worker cannot sign");
	if (r < 0)
		return r;
	if (msg->fail != SCEP_FAIL_NONE)
		return scep_http_fail_because(
			sh, req, msg, msg->fail, msg->fail_reason,
			"the message cannot be opened or its content is not acceptable");
	switch (msg->type) {
	case SCEP_MSG_PKCSREQ:
	case SCEP_MSG_RENEWALREQ:
		return scep_http_enrol(sh, req, msg);
	case SCEP_MSG_GETCERT:
		return scep_http_get_cert(sh, req, msg);
	case SCEP_MSG_CERTPOLL:
		return scep_http_poll(sh, req, msg);
	default:
		return scep_http_fail(sh, req, msg, SCEP_FAIL_BAD_REQUEST,
				      "unsupported messageType");
	}
}

static int
scep_http_pki_operation(struct scep_http *sh, struct http_request *req)
{
	struct scep_msg *msg = NULL;
	unsigned char *decoded = NULL;
	const void *body;
	const char *message;
	size_t len = 0;
	int r;

	if (http_request_method(req) == HTTP_POST) {
		body = http_request_body(req, &len);
	} else if ((message = http_request_arg(req, "message")) == NULL ||
		   (r = scep_query_decode_message(message, &decoded, &len)) == -EBADMSG) {
		return http_reply_text(req, 400, "PKIOperation needs message=<base64 pkiMessage>");
	} else if (r < 0) {
		return r;
	} else {
		body = decoded;
	}
	if (len == 0) {
		r = http_reply_text(req, 400, "empty pkiMessage");
		goto out;
	}
	if ((r = scep_msg_parse(body, len, &msg)) == -EBADMSG) {
		log_notice("SCEP PKIOperation from %s: not a pkiMessage",
			   http_request_remote_addr(req));
		r = http_reply_text(req, 400, "not a SCEP pkiMessage");
		goto out;
	}
	if (r < 0)
		goto out;
	r = scep_http_dispatch(sh, req, msg);
out:
	scep_msg_free(msg);
	free(decoded);
	return r;
}

static int
scep_http_get_ca_cert(struct scep_http *sh, struct http_request *req)
{
	int r;

	if (sh->ca_body == NULL)
		return http_reply_text(req, 503, "signing unavailable: this worker cannot sign");
	if (sh->cache_control[0] != '\0' &&
	    (r = http_add_header(req, "Cache-Control", sh->cache_control)) < 0)
		return r;
	return http_reply(req, 200, sh->ca_type, sh->ca_body, sh->ca_body_len);
}

static int
scep_http_get_next_ca_cert(struct scep_http *sh, struct http_request *req)
{
	if (issuer_get0_ca_next(sh->issuer) == NULL)
		return http_reply_text(req, 404, "no next CA certificate is configured");
	if (sh->next_ca_body == NULL)
		return http_reply_text(req, 503, "signing unavailable: this worker cannot sign");
	return http_reply(req, 200, "application/x-x509-next-ca-cert", sh->next_ca_body,
			  sh->next_ca_body_len);
}

/* OPTIONS: a WADL that names where the service is. */
static int
scep_http_options(struct scep_http *sh, struct http_request *req)
{
	const char *location = sh->cfg->scep.location;
	char wadl[1024];
	int n;

	n = snprintf(
		wadl, sizeof(wadl),
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<application xmlns=\"http://wadl.dev.java.net/2009/02\">\n"
		" <resources base=\"%s\">\n"
		"  <resource path=\"\">\n"
		"   <method name=\"GET\"><request><param name=\"operation\" style=\"query\" "
		"required=\"true\"/><param name=\"message\" style=\"query\"/></request></method>\n"
		"   <method name=\"POST\"><request><param name=\"operation\" style=\"query\" "
		"required=\"true\"/><representation mediaType=\"application/x-pki-message\"/>"
		"</request></method>\n"
		"  </resource>\n"
		" </resources>\n"
		"</application>\n",
		location != NULL ? location : http_request_path(req));
	if (n < 0 || (size_t)n >= sizeof(wadl))
		return -ENAMETOOLONG;
	return http_reply(req, 200, "application/vnd.sun.wadl+xml", wadl, (size_t)n);
}

int
scep_http_handle(struct http_request *req, void *userdata)
{
	struct scep_http *sh = userdata;
	const char *operation = http_request_arg(req, "operation");
	enum scep_operation op;

	if (http_request_method(req) == HTTP_OPTIONS)
		return scep_http_options(sh, req);
	if (operation == NULL)
		return http_reply_text(req, 400, "missing operation=");
	op = scep_query_operation(operation);
	if (op == SCEP_OP_UNKNOWN)
		return http_reply_text(req, 400, "unknown operation: %s", operation);
	if (op != SCEP_OP_PKI_OPERATION && http_request_method(req) == HTTP_POST)
		return http_reply_text(req, 405, "%s is a GET operation", operation);
	switch (op) {
	case SCEP_OP_PKI_OPERATION:
		return scep_http_pki_operation(sh, req);
	case SCEP_OP_GET_CA_CAPS:
		return http_reply(req, 200, "text/plain", sh->caps, strlen(sh->caps));
	case SCEP_OP_GET_CA_CERT:
		return scep_http_get_ca_cert(sh, req);
	case SCEP_OP_GET_NEXT_CA_CERT:
		return scep_http_get_next_ca_cert(sh, req);
	case SCEP_OP_UNKNOWN:
		break;
	}
	return http_reply_text(req, 400, "unknown operation: %s", operation);
}
