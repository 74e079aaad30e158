/*
 * scep_enrol.c - the SCEP state machine: who may enrol, renew, poll and fetch, and
 * what each gets. A decrypted pkiMessage in, a struct scep_verdict out.
 *
 *   PKCSReq, RenewalReq  the transaction's newest certificate for the request's key
 *                        is answered again when the message is a retransmission
 *                        (not signed by that certificate). Signed by a certificate
 *                        the profile's CA issued through this profile (unexpired,
 *                        on record, within renewal.window_days): a renewal when
 *                        the policy gives the signer's subject and every SAN asked
 *                        for is in the signer (renewal.same_subject); it needs no challenge
 *                        or approval and keeps the original owner. Anything else
 *                        signed by an issued certificate: RenewalReq refused, PKCSReq
 *                        a new request. A new request's signer must hold the
 *                        request's key (of a type and size the profile's keys
 *                        allow) and pass the challenge (OTP: used up at once,
 *                        across workers; webhook: the validator the caller set says
 *                        yes, a no is a FAILURE, no answer a RETRY with Retry-After);
 *                        with approval = "manual" the first request
 *                        is stored PENDING with the challenge's owner
 *   GetCert              the recorded certificate of the profile's CA with that
 *                        serial, to a signer that scep.get_cert allows, else
 *                        badCertId
 *   CertPoll             for a signer holding the request's key: the transaction's
 *                        certificate, PENDING, issued now when approved, FAILURE
 *                        when rejected; badCertId when unknown or another key
 *   GetCRL               to any signer (a CRL is public): the current CRL of the
 *                        profile's CA (crl_publish.c) when the issuerAndSerialNumber
 *                        names that CA as issuer, else badCertId; badRequest when the
 *                        CA makes no CRL; RETRY when it cannot be made now
 *
 * A store or token that fails is never a refusal: the verdict is RETRY (the client
 * tries again later), never a permanent FAILURE. Every key operation and every store
 * access goes through the issuer. No HTTP and no logging above debug here: the
 * caller logs the verdict once.
 */
#include "scepd/scep_enrol.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "scepd/policy.h"
#include "scepd/scep_store.h"

struct scep_enrol {
	const struct config_profile *profile;
	const struct config_scep *cfg; /* the profile's */
	size_t profile_index;
	struct issuer *issuer;
	char *challenge; /* static challenge, or NULL */
	size_t challenge_len;
	struct crl_publish *crls;              /* borrowed; NULL: the CA makes no CRL */
	struct scep_enrol_validator validator; /* challenge.mode "webhook"; check NULL: none */
};

/* What an enrolment check needs besides the message. */
struct scep_enrol_ctx {
	struct scep_enrol *e;
	const struct scep_msg *msg;
	const char *client;
	struct scep_verdict *v;
};

int
scep_enrol_new(struct issuer *issuer, size_t profile, const char *challenge,
	       struct crl_publish *crls, struct scep_enrol **ret)
{
	struct scep_enrol *e;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -ENOMEM;
	e->profile = issuer_get0_profile(issuer, profile);
	e->cfg = &e->profile->scep;
	e->profile_index = profile;
	e->issuer = issuer;
	e->crls = crls;
	if (challenge != NULL) {
		e->challenge_len = strlen(challenge);
		if ((e->challenge = OPENSSL_memdup(challenge, e->challenge_len + 1)) == NULL) {
			free(e);
			return -ENOMEM;
		}
	}
	*ret = e;
	return 0;
}

void
scep_enrol_set_validator(struct scep_enrol *e, const struct scep_enrol_validator *v)
{
	e->validator = *v;
}

void
scep_enrol_free(struct scep_enrol *e)
{
	if (e == NULL)
		return;
	if (e->challenge != NULL)
		OPENSSL_clear_free(e->challenge, e->challenge_len + 1);
	free(e);
}

void
scep_verdict_clear(struct scep_verdict *v)
{
	X509_free(v->cert);
	OPENSSL_free(v->crl); /* crl_publish_get()'s */
	memset(v, 0, sizeof(*v));
}

const char *
scep_verdict_kind_name(enum scep_verdict_kind kind)
{
	static const char *const names[] = {
		[SCEP_VERDICT_SUCCESS] = "SUCCESS",
		[SCEP_VERDICT_PENDING] = "PENDING",
		[SCEP_VERDICT_FAILURE] = "FAILURE",
		[SCEP_VERDICT_RETRY] = "RETRY",
	};

	if ((unsigned)kind >= sizeof(names) / sizeof(names[0]))
		return NULL;
	return names[kind];
}

/* scep_store_check_issued() against the signing certificate of the profile's CA. */
static int
scep_enrol_check_issued(struct scep_enrol *e, X509 *cert, struct store_cert **ret_record)
{
	STACK_OF(X509) *chain = issuer_get0_chain(e->issuer, e->profile_index);

	return scep_store_check_issued(issuer_get0_store(e->issuer),
				       chain != NULL ? sk_X509_value(chain, 0) : NULL, cert,
				       ret_record);
}

/*
 * Whether an error of scep_enrol_check_issued() says no about the signer (not ours,
 * expired, not on record), as opposed to a store that failed (-EIO, -ENOTCONN while
 * PostgreSQL is away, -ENOMEM...), which must never become a refusal.
 */
static bool
scep_enrol_refused_signer(int r)
{
	return r == -EBADMSG || r == -EKEYEXPIRED || r == -ENOENT;
}

static void
scep_enrol_log(struct scep_verdict *v, const char *format, ...)
{
	va_list ap;

	va_start(ap, format);
	vsnprintf(v->log, sizeof(v->log), format, ap);
	va_end(ap);
}

/* FAILURE: why for the log, text for the client. 0, so that callers can return it. */
static int
scep_enrol_fail_because(struct scep_verdict *v, enum scep_fail fail, const char *why,
			const char *text)
{
	v->kind = SCEP_VERDICT_FAILURE;
	v->fail = fail;
	snprintf(v->log, sizeof(v->log), "%s", why);
	snprintf(v->text, sizeof(v->text), "%s", text);
	return 0;
}

static int
scep_enrol_fail(struct scep_verdict *v, enum scep_fail fail, const char *text)
{
	return scep_enrol_fail_because(v, fail, text, text);
}

/* RETRY because the store failed with r while doing what. */
static int
scep_enrol_store_failed(struct scep_verdict *v, int r, const char *what)
{
	v->kind = SCEP_VERDICT_RETRY;
	snprintf(v->text, sizeof(v->text), "the certificate store is unavailable");
	scep_enrol_log(v, "the store cannot %s: %s", what, strerror(-r));
	return 0;
}

static int
scep_enrol_success(struct scep_verdict *v, X509 *cert)
{
	v->kind = SCEP_VERDICT_SUCCESS;
	v->cert = cert;
	return 0;
}

/* SCEP_ENROL_VERDICT_SET: scep_enrol_authorize() answered with the verdict itself. */
#define SCEP_ENROL_VERDICT_SET 2

/*
 * challenge.mode "webhook": ask the validator. 0 when it allows; SCEP_ENROL_VERDICT_SET
 * with a FAILURE (refused) or a RETRY (no answer: nothing issued, nothing used up).
 */
static int
scep_enrol_validate(const struct scep_enrol_ctx *c)
{
	struct scep_enrol *e = c->e;
	const struct scep_enrol_query q = {
		.profile = e->profile->name,
		.challenge = c->msg->challenge,
		.transaction_id = c->msg->txid,
		.csr = c->msg->csr,
		.client = c->client,
	};
	char why[sizeof(c->v->log)] = "";
	bool allow = false;
	int r;

	if (e->validator.check == NULL) {
		r = -ENOSYS;
		snprintf(why, sizeof(why), "no challenge validator is set up");
	} else {
		r = e->validator.check(e->validator.arg, &q, &allow, why, sizeof(why));
	}
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		c->v->kind = SCEP_VERDICT_RETRY;
		c->v->retry_after = SCEP_ENROL_VALIDATOR_RETRY_AFTER;
		snprintf(c->v->text, sizeof(c->v->text),
			 "the challenge cannot be checked now; try again later");
		scep_enrol_log(c->v, "%s", why[0] != '\0' ? why : strerror(-r));
		return SCEP_ENROL_VERDICT_SET;
	}
	if (allow)
		return 0;
	scep_enrol_fail_because(c->v, SCEP_FAIL_BAD_REQUEST,
				why[0] != '\0' ? why : "webhook denied",
				"the challenge password was not accepted");
	return SCEP_ENROL_VERDICT_SET;
}

/*
 * scep.challenge for a request that is not a renewal: 0 and the challenge's owner
 * (OTP, may be NULL); 1 with *ret_refusal set when refused; SCEP_ENROL_VERDICT_SET
 * when the verdict is made (webhook); or a negative errno: the store failed (a
 * one-time challenge could not be used up), -ENOMEM.
 */
static int
scep_enrol_authorize(const struct scep_enrol_ctx *c, char **ret_owner, const char **ret_refusal)
{
	const struct scep_msg *msg = c->msg;
	struct scep_enrol *e = c->e;
	size_t len;
	int r;

	if (e->cfg->challenge_mode == CONFIG_CHALLENGE_NONE)
		return 0;
	if (msg->challenge == NULL) {
		*ret_refusal = "a challenge password is required";
		return 1;
	}
	if (e->cfg->challenge_mode == CONFIG_CHALLENGE_WEBHOOK)
		return scep_enrol_validate(c);
	if (e->cfg->challenge_mode == CONFIG_CHALLENGE_STATIC) {
		len = strlen(msg->challenge);
		if (e->challenge != NULL && len == e->challenge_len &&
		    CRYPTO_memcmp(msg->challenge, e->challenge, len) == 0)
			return 0;
		*ret_refusal = "wrong challenge password";
		return 1;
	}
	r = scep_store_consume_challenge(issuer_get0_store(e->issuer), msg->challenge,
					 e->profile->name, msg->csr, msg->txid, ret_owner);
	if (r != -ENOENT && r != -EALREADY && r != -ETIME && r != -EPERM)
		return r;
	*ret_refusal = r == -EALREADY ? "the challenge password was used already"
		       : r == -ETIME  ? "the challenge password has expired"
		       : r == -EPERM  ? "the challenge password is for another subject"
				      : "wrong challenge password";
	return 1;
}

/* scep_enrol_authorize()'s answer, when it is not 0, as the verdict. */
static int
scep_enrol_unauthorized(const struct scep_enrol_ctx *c, int r, const char *refusal)
{
	if (r == SCEP_ENROL_VERDICT_SET)
		return 0;
	if (r > 0)
		return scep_enrol_fail(c->v, SCEP_FAIL_BAD_REQUEST, refusal);
	if (r == -ENOMEM)
		return r;
	return scep_enrol_store_failed(c->v, r, "use up the one-time challenge");
}

static struct issuer_request
scep_enrol_issuer_request(const struct scep_enrol_ctx *c, X509_REQ *csr, const char *owner)
{
	return (struct issuer_request){
		.csr = csr,
		.profile = c->e->profile_index,
		.requester = c->client,
		.remote_user = owner,
		.transaction_id = c->msg->txid,
	};
}

/* Sign csr for this transaction: SUCCESS, or the refusal. */
static int
scep_enrol_issue(const struct scep_enrol_ctx *c, X509_REQ *csr, const char *owner,
		 bool approved_pending)
{
	struct issuer_request ir = scep_enrol_issuer_request(c, csr, owner);
	struct issuer_result res = { 0 };
	int r;

	ir.approved_pending = approved_pending;
	/*
	 * An approved request's signature was checked when it came (scep_store_add_pending()),
	 * the message's own request's when its envelope was opened (scep_msg_decrypt()).
	 */
	ir.csr_verified = approved_pending || csr == c->msg->csr;
	if ((r = issuer_issue(c->e->issuer, &ir, &res)) < 0)
		return r;
	switch (res.status) {
	case ISSUER_ISSUED:
		scep_enrol_success(c->v, res.cert);
		res.cert = NULL; /* the verdict owns it now */
		break;
	case ISSUER_BAD_REQUEST:
	case ISSUER_DENIED:
		scep_enrol_fail(c->v, SCEP_FAIL_BAD_REQUEST, res.reason);
		break;
	case ISSUER_UNAVAILABLE:
		c->v->kind = SCEP_VERDICT_RETRY;
		snprintf(c->v->text, sizeof(c->v->text), "signing unavailable: %s", res.reason);
		snprintf(c->v->log, sizeof(c->v->log), "%s", res.reason);
		break;
	}
	issuer_result_clear(&res);
	return 0;
}

/*
 * Where a transaction stands with the operator: PENDING, issue, or a refusal. Only to
 * the holder of the request's key: anyone may know a transactionID.
 */
static int
scep_enrol_decided(const struct scep_enrol_ctx *c, const struct store_pending *p)
{
	const unsigned char *der = p->csr_der;
	X509_REQ *csr;
	int r = 0;

	/* Another profile's request is not this one's to issue: its CA and rules differ. */
	if (p->profile == NULL || strcmp(p->profile, c->e->profile->name) != 0)
		return scep_enrol_fail_because(c->v, SCEP_FAIL_BAD_CERT_ID,
					       "the pending request is another profile's",
					       "no request with this transactionID");
	if ((csr = d2i_X509_REQ(NULL, &der, (long)p->csr_der_len)) == NULL)
		return scep_enrol_store_failed(c->v, -EIO, "read a pending request");
	if (EVP_PKEY_eq(X509_REQ_get0_pubkey(csr), X509_get0_pubkey(c->msg->signer)) != 1) {
		scep_enrol_fail_because(c->v, SCEP_FAIL_BAD_CERT_ID,
					"the signer does not hold the pending request's key",
					"no request with this transactionID");
		goto out;
	}
	switch (p->status) {
	case STORE_STATUS_PENDING:
		c->v->kind = SCEP_VERDICT_PENDING;
		break;
	case STORE_STATUS_REJECTED:
		scep_enrol_fail(c->v, SCEP_FAIL_BAD_REQUEST, "the request was rejected by the CA");
		break;
	case STORE_STATUS_APPROVED:
		r = scep_enrol_issue(c, csr, p->owner, true);
		break;
	default:
		scep_enrol_fail(c->v, SCEP_FAIL_BAD_CERT_ID, "the transaction is complete");
		break;
	}
out:
	X509_REQ_free(csr);
	return r;
}

/* approval = "manual": the first request of a transaction waits for scepctl. */
static int
scep_enrol_manual(const struct scep_enrol_ctx *c)
{
	struct store_pending *p = NULL;
	const char *refusal = NULL;
	char *owner = NULL;
	int r;

	if ((r = store_get_pending(issuer_get0_store(c->e->issuer), c->msg->txid, &p)) == 0) {
		r = scep_enrol_decided(c, p);
		store_pending_free(p);
		return r;
	}
	if (r != -ENOENT)
		return scep_enrol_store_failed(c->v, r, "look up a pending request");
	if ((r = scep_enrol_authorize(c, &owner, &refusal)) != 0) {
		free(owner);
		return scep_enrol_unauthorized(c, r, refusal);
	}
	r = scep_store_add_pending(issuer_get0_store(c->e->issuer), c->msg->txid,
				   c->e->profile->name, c->msg->csr, c->msg->signer, c->client,
				   owner);
	free(owner);
	if (r < 0 && r != -EEXIST)
		return scep_enrol_store_failed(c->v, r, "record a pending request");
	c->v->kind = SCEP_VERDICT_PENDING;
	return 0;
}

/* Self-signed by its own key (X509_check_issued would also want keyCertSign). */
static bool
scep_enrol_self_signed(X509 *cert)
{
	return X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) == 0 &&
	       X509_verify(cert, X509_get0_pubkey(cert)) == 1;
}

/* A new request: the challenge, then the operator (approval = "manual") or the policy. */
static int
scep_enrol_new_request(const struct scep_enrol_ctx *c)
{
	const char *refusal = NULL;
	char *owner = NULL;
	int r;

	/*
	 * The key holder's own signature: or anyone could wrap a captured envelope,
	 * challenge and all, in a message of their own.
	 */
	char reason[256];

	if (!c->msg->signer_has_csr_key)
		return scep_enrol_fail(c->v, SCEP_FAIL_BAD_REQUEST,
				       "the signer certificate does not hold the request's key");
	/* Before the operator sees it: a key the profile refuses is never worth approving. */
	if ((r = policy_check_key(&c->e->profile->keys, c->msg->csr, reason, sizeof(reason))) < 0)
		return scep_enrol_fail(c->v, SCEP_FAIL_BAD_REQUEST,
				       r == -EPERM ? reason : "the request's key cannot be read");
	if (c->e->cfg->approval == CONFIG_APPROVAL_MANUAL)
		return scep_enrol_manual(c);
	if ((r = scep_enrol_authorize(c, &owner, &refusal)) != 0)
		return scep_enrol_unauthorized(c, r, refusal);
	r = scep_enrol_issue(c, c->msg->csr, owner, false);
	free(owner);
	return r;
}

/*
 * Whether the profile's renewal rules let signer (a certificate of its CA, on record)
 * renew into this request: NULL, or why not. d receives the policy's decision.
 */
static int
scep_enrol_renewal_refusal(const struct scep_enrol_ctx *c, const struct store_cert *signer,
			   struct policy_decision *d, const char **ret_refusal, char *buf,
			   size_t size)
{
	const struct config_profile *p = c->e->profile;
	struct issuer_request ir = scep_enrol_issuer_request(c, c->msg->csr, signer->owner);
	struct policy_vars vars = { .remote_addr = ir.requester, .remote_user = ir.remote_user };
	time_t now = time(NULL);
	int r;

	if (strcmp(signer->endpoint, "scep") != 0) {
		*ret_refusal = "the signer certificate was not issued through SCEP";
		return 0;
	}
	if (signer->profile == NULL || strcmp(signer->profile, p->name) != 0) {
		snprintf(buf, size, "the signer certificate was issued through profile %s, not %s",
			 signer->profile != NULL ? signer->profile : "(none)", p->name);
		*ret_refusal = buf;
		return 0;
	}
	if (p->renewal.window_days > 0 &&
	    signer->not_after - now > (time_t)p->renewal.window_days * 86400) {
		snprintf(buf, size,
			 "the signer certificate expires in %lld days: renewal opens %d days "
			 "before",
			 (long long)((signer->not_after - now) / 86400), p->renewal.window_days);
		*ret_refusal = buf;
		return 0;
	}
	if (p->renewal.same_subject)
		r = policy_check_renewal(&p->scep.subject, &p->scep.subject_alt_name, ir.csr, &vars,
					 c->msg->signer, d);
	else
		r = policy_check(&p->scep.subject, &p->scep.subject_alt_name, ir.csr, &vars, d);
	if (r < 0)
		return r;
	*ret_refusal = d->verdict == POLICY_ALLOW ? NULL : d->reason;
	return 0;
}

/*
 * A request signed by a certificate of this profile's CA: a renewal when that
 * certificate was issued through this profile and the request keeps its identity
 * (subject, SANs within it; renewal.same_subject), within renewal.window_days; then it
 * needs no challenge and no approval, and keeps the original owner. Otherwise a
 * PKCSReq is a new request, a RenewalReq is refused.
 */
static int
scep_enrol_signed(const struct scep_enrol_ctx *c, const struct store_cert *signer)
{
	struct policy_decision d = { 0 };
	const char *refusal = NULL;
	char why[256];
	int r;

	if ((r = scep_enrol_renewal_refusal(c, signer, &d, &refusal, why, sizeof(why))) < 0)
		goto out;
	if (refusal == NULL) {
		if ((r = scep_enrol_issue(c, c->msg->csr, signer->owner, false)) == 0 &&
		    c->v->kind == SCEP_VERDICT_SUCCESS)
			scep_enrol_log(c->v, "renewal of serial %s", signer->serial);
	} else if (c->msg->type == SCEP_MSG_RENEWALREQ) {
		r = scep_enrol_fail_because(c->v, SCEP_FAIL_BAD_REQUEST, refusal,
					    "not a renewal of the signer certificate");
	} else if ((r = scep_enrol_new_request(c)) == 0 && c->v->log[0] == '\0') {
		scep_enrol_log(c->v, "not a renewal of serial %s (%s): a new request",
			       signer->serial, refusal);
	}
out:
	policy_decision_clear(&d);
	return r;
}

/*
 * The transaction's newest certificate, when the request is a retransmission: the
 * same key, and not signed by that certificate (which would make it a renewal of it).
 * 0 and the certificate, -ENOENT, -EIO.
 */
static int
scep_enrol_retransmitted(struct scep_enrol *e, const struct scep_msg *msg, X509 **ret_cert)
{
	X509 *cert = NULL;
	int r;

	r = scep_store_find_transaction_cert(issuer_get0_store(e->issuer), msg->txid,
					     e->profile->name, X509_REQ_get0_pubkey(msg->csr),
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
scep_enrol_request(const struct scep_enrol_ctx *c)
{
	struct store_cert *signer = NULL;
	bool self_signed = scep_enrol_self_signed(c->msg->signer);
	X509 *cert = NULL;
	int r;

	if (self_signed && c->msg->type == SCEP_MSG_RENEWALREQ)
		return scep_enrol_fail(c->v, SCEP_FAIL_BAD_MESSAGE_CHECK,
				       "a RenewalReq must be signed by a certificate of this CA");
	if (!self_signed && (r = scep_enrol_check_issued(c->e, c->msg->signer, &signer)) < 0) {
		if (!scep_enrol_refused_signer(r))
			return scep_enrol_store_failed(c->v, r, "look up the signer");
		return scep_enrol_fail(c->v, SCEP_FAIL_BAD_MESSAGE_CHECK,
				       r == -EKEYEXPIRED ? "the signer certificate has expired"
				       : r == -ENOENT
					       ? "the signer certificate is not on record"
					       : "the signer is not a certificate of this CA");
	}
	/* A revoked certificate stands in for nothing: not a renewal, not a new request. */
	if (signer != NULL && signer->revoked_at != 0) {
		char why[128];

		snprintf(why, sizeof(why), "the signer certificate (serial %s) is revoked: %s",
			 signer->serial,
			 store_reason_name(signer->revocation_reason) != NULL
				 ? store_reason_name(signer->revocation_reason)
				 : "unspecified");
		r = scep_enrol_fail_because(c->v, SCEP_FAIL_BAD_REQUEST, why,
					    "the signer certificate is revoked");
		goto out;
	}
	/* The same request again (a retry, a replay): the same certificate, no second one. */
	if ((r = scep_enrol_retransmitted(c->e, c->msg, &cert)) == 0) {
		scep_enrol_success(c->v, cert);
		scep_enrol_log(c->v, "answered again with its certificate");
		goto out;
	}
	if (r != -ENOENT) {
		r = scep_enrol_store_failed(c->v, r, "look up the transaction");
		goto out;
	}
	r = signer != NULL ? scep_enrol_signed(c, signer) : scep_enrol_new_request(c);
out:
	store_cert_free(signer);
	return r;
}

/* CertPoll: the operator's decision on this transaction, or its certificate. */
static int
scep_enrol_poll(const struct scep_enrol_ctx *c)
{
	struct store_pending *p = NULL;
	X509 *cert = NULL;
	int r;

	r = scep_store_find_transaction_cert(issuer_get0_store(c->e->issuer), c->msg->txid,
					     c->e->profile->name, X509_get0_pubkey(c->msg->signer),
					     &cert);
	if (r == 0)
		return scep_enrol_success(c->v, cert);
	if (r != -ENOENT)
		return scep_enrol_store_failed(c->v, r, "look up the transaction");
	if ((r = store_get_pending(issuer_get0_store(c->e->issuer), c->msg->txid, &p)) == -ENOENT)
		return scep_enrol_fail(c->v, SCEP_FAIL_BAD_CERT_ID,
				       "no request with this transactionID");
	if (r < 0)
		return scep_enrol_store_failed(c->v, r, "look up a pending request");
	r = scep_enrol_decided(c, p);
	store_pending_free(p);
	return r;
}

/* Whether cert was issued by the profile's CA (by name and signature). */
static bool
scep_enrol_ours(struct scep_enrol *e, X509 *cert)
{
	STACK_OF(X509) *chain = issuer_get0_chain(e->issuer, e->profile_index);
	X509 *ca = chain != NULL ? sk_X509_value(chain, 0) : NULL;

	return ca != NULL && X509_check_issued(ca, cert) == X509_V_OK &&
	       X509_verify(cert, X509_get0_pubkey(ca)) == 1;
}

/*
 * Why the signer may not have cert by GetCert (scep.get_cert), or NULL when it may:
 * "same_subject" wants a valid certificate of this CA, issued through SCEP, with
 * cert's subject. *ret_r < 0 when the store failed.
 */
static const char *
scep_enrol_get_cert_refusal(struct scep_enrol *e, const struct scep_msg *msg, X509 *cert,
			    int *ret_r)
{
	struct store_cert *signer = NULL;
	const char *refusal = NULL;
	int r;

	*ret_r = 0;
	switch (e->cfg->get_cert) {
	case CONFIG_GET_CERT_ANY:
		return NULL;
	case CONFIG_GET_CERT_NONE:
		return "GetCert is not offered here (scep.get_cert = \"none\")";
	case CONFIG_GET_CERT_SAME_SUBJECT:
		break;
	}
	if ((r = scep_enrol_check_issued(e, msg->signer, &signer)) < 0 &&
	    !scep_enrol_refused_signer(r))
		*ret_r = r;
	else if (r < 0)
		refusal = "the signer is not a valid certificate of this CA";
	else if (signer->revoked_at != 0)
		refusal = "the signer certificate is revoked";
	else if (strcmp(signer->endpoint, "scep") != 0)
		refusal = "the signer certificate was not issued through SCEP";
	else if (X509_NAME_cmp(X509_get_subject_name(msg->signer), X509_get_subject_name(cert)) !=
		 0)
		refusal = "the signer's subject is not the requested certificate's";
	store_cert_free(signer);
	return refusal;
}

static int
scep_enrol_get_cert(const struct scep_enrol_ctx *c)
{
	const char *refusal;
	X509 *cert = NULL;
	int r;

	if ((r = scep_store_find_cert(issuer_get0_store(c->e->issuer), c->msg->serial, &cert)) ==
	    -ENOENT)
		return scep_enrol_fail(c->v, SCEP_FAIL_BAD_CERT_ID, "no such certificate");
	if (r < 0)
		return scep_enrol_store_failed(c->v, r, "look up a certificate");
	if (!scep_enrol_ours(c->e, cert)) { /* another profile's CA: as unknown here */
		X509_free(cert);
		return scep_enrol_fail_because(c->v, SCEP_FAIL_BAD_CERT_ID,
					       "the certificate is another CA's",
					       "no such certificate");
	}
	refusal = scep_enrol_get_cert_refusal(c->e, c->msg, cert, &r);
	if (r < 0) {
		X509_free(cert);
		return scep_enrol_store_failed(c->v, r, "look up the signer");
	}
	if (refusal != NULL) { /* the same answer as an unknown serial */
		X509_free(cert);
		return scep_enrol_fail_because(c->v, SCEP_FAIL_BAD_CERT_ID, refusal,
					       "no such certificate");
	}
	return scep_enrol_success(c->v, cert);
}

/* GetCRL: the CRL of the profile's CA, when the message names that CA as issuer. */
static int
scep_enrol_get_crl(const struct scep_enrol_ctx *c)
{
	struct crl_published crl = { 0 };
	size_t ca = c->e->profile->ca;
	X509 *ca_cert = issuer_get0_ca_cert(c->e->issuer, ca);
	int r;

	if (c->e->crls == NULL)
		return scep_enrol_fail_because(c->v, SCEP_FAIL_BAD_REQUEST,
					       "the profile's CA makes no CRL (no crl.path)",
					       "GetCRL is not offered here");
	if (ca_cert == NULL) {
		c->v->kind = SCEP_VERDICT_RETRY;
		snprintf(c->v->text, sizeof(c->v->text), "the CRL is unavailable");
		scep_enrol_log(c->v, "the CA certificate is not loaded");
		return 0;
	}
	if (X509_NAME_cmp(c->msg->issuer, X509_get_subject_name(ca_cert)) != 0)
		return scep_enrol_fail_because(c->v, SCEP_FAIL_BAD_CERT_ID,
					       "GetCRL names another issuer than the profile's CA",
					       "no CRL for that issuer");
	if ((r = crl_publish_get(c->e->crls, ca, &crl)) == -ENOMEM)
		return r;
	if (r < 0) {
		c->v->kind = SCEP_VERDICT_RETRY;
		snprintf(c->v->text, sizeof(c->v->text), "the CRL is unavailable");
		scep_enrol_log(c->v, "the CRL cannot be made: %s", strerror(-r));
		return 0;
	}
	c->v->kind = SCEP_VERDICT_SUCCESS;
	c->v->crl = crl.der;
	c->v->crl_len = crl.der_len;
	crl.der = NULL; /* the verdict owns it now */
	scep_enrol_log(c->v, "CRL number %llu", (unsigned long long)crl.number);
	crl_published_clear(&crl);
	return 0;
}

int
scep_enrol_decide(struct scep_enrol *e, const struct scep_msg *msg, const char *client,
		  struct scep_verdict *ret)
{
	struct scep_verdict v = { 0 };
	const struct scep_enrol_ctx c = { e, msg, client, &v };
	int r;

	if (!msg->decrypted || msg->fail != SCEP_FAIL_NONE || msg->signer == NULL)
		return -EINVAL;
	switch (msg->type) {
	case SCEP_MSG_PKCSREQ:
	case SCEP_MSG_RENEWALREQ:
		r = msg->csr != NULL ? scep_enrol_request(&c) : -EINVAL;
		break;
	case SCEP_MSG_GETCERT:
		r = msg->serial != NULL ? scep_enrol_get_cert(&c) : -EINVAL;
		break;
	case SCEP_MSG_CERTPOLL:
		r = scep_enrol_poll(&c);
		break;
	case SCEP_MSG_GETCRL:
		r = c.msg->issuer != NULL ? scep_enrol_get_crl(&c) : -EINVAL;
		break;
	default:
		r = -EINVAL;
		break;
	}
	if (r < 0) {
		scep_verdict_clear(&v);
		return r;
	}
	*ret = v;
	return 0;
}
