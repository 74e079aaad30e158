/*
 * scep_http.c - SCEP operations over HTTP: query string, bodies, content types, and
 * which CertRep a pkiMessage gets.
 *
 * PKIOperation, in order: decode the body (POST) or the message argument (GET, where
 * '+' may have arrived unescaped and become a space); parse and verify the outer
 * signature (scep_msg_parse). A message whose signature does not verify gets a 400
 * and costs no private-key operation. GetCRL is redirected when the profile's CA
 * makes no CRL (else the state machine answers it with the CRL); a client past
 * scep.refusals_per_minute gets a 429 before any key work; then the envelope is
 * decrypted with the RA key (only when it is addressed to the RA); then the state
 * machine (scep_enrol.c) decides, and its verdict becomes a CertRep (SUCCESS,
 * PENDING, FAILURE) or a 503 (retry later). No enrolment decision is made here.
 * With challenge.mode "webhook" the state machine asks scep_http_check_challenge(),
 * which calls the webhook (webhook.c) and logs what it says: a refusal as an audit
 * record "denied", no answer as a warning (then a 503 with Retry-After).
 * Signed FAILUREs are counted per client address (ratelimit.c; an IPv6 client as its
 * /64); past the limit they become 429s.
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
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "scepd/encoding.h"
#include "scepd/log.h"
#include "scepd/ratelimit.h"
#include "scepd/scep_enrol.h"
#include "scepd/scep_query.h"
#include "scepd/stats.h"
#include "scepd/webhook.h"

struct scep_http {
	const struct scepd_config *cfg;
	const struct config_scep *scep; /* the profile's */
	size_t profile;                 /* index in cfg->profiles */
	struct issuer *issuer;
	struct scep_enrol *enrol; /* who may enrol, renew, poll, fetch */
	bool crl;                 /* the profile's CA makes a CRL: GetCRL answers it */
	char caps[256];
	unsigned char *ca_body; /* GetCACert answer, NULL while the keys are not loaded */
	size_t ca_body_len;
	const char *ca_type;
	unsigned char *next_ca_body; /* GetNextCACert answer, NULL without a next CA */
	size_t next_ca_body_len;
	char cache_control[64];     /* "" for none */
	struct ratelimit *refusals; /* signed FAILUREs per client; NULL: no limit */
	struct webhook *webhook;    /* challenge.mode "webhook", else NULL */
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

/*
 * Whether the client of req is past scep.refusals_per_minute: take = true spends one
 * of its refusals (a signed FAILURE is about to be made), false only looks.
 */
static bool
scep_http_over_limit(struct scep_http *sh, struct http_request *req, bool take)
{
	char key[INET6_ADDRSTRLEN + 4];
	struct timespec ts;
	double now;

	if (sh->refusals == NULL)
		return false;
	scep_http_refusal_key(http_request_remote_addr(req), key);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	return take ? !ratelimit_take(sh->refusals, key, now)
		    : ratelimit_exhausted(sh->refusals, key, now);
}

/*
 * The state machine's validator (challenge.mode "webhook"). A refusal gets an audit
 * record; the reasons go to the log through the verdict (scep_http_verdict()).
 */
static int
scep_http_check_challenge(void *arg, const struct scep_enrol_query *q, bool *ret_allow, char *why,
			  size_t why_size)
{
	struct scep_http *sh = arg;
	struct webhook_answer a = { 0 };
	const char *reason = "webhook denied";
	char *subject = NULL;
	int r;

	r = webhook_check(sh->webhook,
			  &(struct webhook_request){ .profile = q->profile,
						     .challenge = q->challenge,
						     .transaction_id = q->transaction_id,
						     .csr = q->csr,
						     .client = q->client },
			  &a, why, why_size);
	if (r == -EILSEQ) { /* a challenge JSON cannot carry: no service could accept it */
		a.allow = false;
		reason = "challenge not UTF-8";
		snprintf(why, why_size, "the challenge is not UTF-8: not sent to webhook %s",
			 webhook_get0_host(sh->webhook));
	} else if (r < 0) {
		return r;
	} else if (!a.allow) {
		/* The service's reason goes to the log: not when it quotes the challenge. */
		if (q->challenge[0] != '\0' && strstr(a.reason, q->challenge) != NULL)
			snprintf(a.reason, sizeof(a.reason), "(its reason quotes the challenge)");
		snprintf(why, why_size, "webhook %s denied%s%s", webhook_get0_host(sh->webhook),
			 a.reason[0] != '\0' ? ": " : "", a.reason);
	}
	if (!a.allow) {
		(void)encoding_name_text(X509_REQ_get_subject_name(q->csr), &subject);
		log_audit(&(struct log_audit){
			.result = "denied",
			.endpoint = "scep",
			.profile = q->profile,
			.client = q->client,
			.subject = subject,
			.transaction_id = q->transaction_id,
			.reason = reason,
		});
		free(subject);
	}
	*ret_allow = a.allow;
	return 0;
}

/* The HMAC key of the webhook: challenge.secret, base64 as step-ca's secrets. */
static int
scep_http_make_webhook(struct scep_http *sh, const char *setting, const char *secret,
		       struct secret_error *err)
{
	const struct config_scep *scep = sh->scep;
	unsigned char *key = NULL;
	size_t key_len = 0;
	int r;

	if ((r = encoding_base64_decode(secret, strlen(secret), &key, &key_len)) < 0) {
		if (r == -EBADMSG) {
			snprintf(err->setting, sizeof(err->setting), "%s", setting);
			snprintf(err->message, sizeof(err->message),
				 "not base64: the webhook key is written base64 (as step-ca's "
				 "webhook secret), e.g. from `openssl rand -base64 32`");
		}
		return r;
	}
	r = webhook_new(
		&(struct webhook_params){
			.url = scep->challenge_url,
			.key = key,
			.key_len = key_len,
			.id = scep->challenge_id != NULL ? scep->challenge_id
							 : sh->cfg->profiles[sh->profile].name,
			.ca_file = scep->challenge_ca,
			.timeout = scep->challenge_timeout,
		},
		&sh->webhook);
	OPENSSL_clear_free(key, key_len);
	if (r == -EINVAL) { /* scepd -t judged the URL by its text; libcurl could not read it */
		config_profile_setting(sh->cfg, &sh->cfg->profiles[sh->profile], "challenge.url",
				       err->setting, sizeof(err->setting));
		snprintf(err->message, sizeof(err->message), "libcurl cannot parse this URL");
	}
	if (r < 0)
		return r;
	scep_enrol_set_validator(
		sh->enrol,
		&(struct scep_enrol_validator){ .check = scep_http_check_challenge, .arg = sh });
	return 0;
}

/*
 * The state machine, with the static challenge if there is one, or the webhook and
 * its key (this copy of the secret is wiped).
 */
static int
scep_http_make_enrol(struct scep_http *sh, struct crl_publish *crls, struct secret_error *err)
{
	char buf[SECRET_MAX], setting[160];
	bool is_static = sh->scep->challenge_mode == CONFIG_CHALLENGE_STATIC;
	bool is_webhook = sh->scep->challenge_mode == CONFIG_CHALLENGE_WEBHOOK;
	int r = 0;

	config_profile_setting(sh->cfg, &sh->cfg->profiles[sh->profile], "challenge.secret",
			       setting, sizeof(setting));
	if (is_static || is_webhook)
		r = secret_read(&sh->scep->challenge_secret, setting, buf, sizeof(buf), err);
	if (r == 0)
		r = scep_enrol_new(sh->issuer, sh->profile, is_static ? buf : NULL,
				   sh->crl ? crls : NULL, &sh->enrol);
	if (r == 0 && is_webhook)
		r = scep_http_make_webhook(sh, setting, buf, err);
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}

/*
 * SHA-384 and SHA-224 (accepted; not in RFC 8894's list, but in strongSwan's) come after
 * the lines clients knew before, which stay as they were. strongSwan 5.9.8 (Debian 12)
 * tests each capability with its number as a bit mask: its AES test passes through the
 * "SCEPStandard" one, whose mask is the bit of the SHA-384 line. Without that line its
 * default cipher is "not supported by CA".
 */
static void
scep_http_make_caps(struct scep_http *sh)
{
	snprintf(sh->caps, sizeof(sh->caps),
		 "POSTPKIOperation\nSHA-256\nSHA-512\nSHA-1\nAES\nDES3\nSCEPStandard\nRenewal\n"
		 "SHA-384\nSHA-224\n%s",
		 issuer_get0_ca_next(sh->issuer, sh->profile) != NULL ? "GetNextCACert\n" : "");
}

/* max-age = remaining CA lifetime / freshness factor, at most freshness max. */
static void
scep_http_make_cache_control(struct scep_http *sh, X509 *ca)
{
	const struct config_scep *scep = sh->scep;
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
	STACK_OF(X509) *chain = issuer_get0_chain(sh->issuer, sh->profile);
	STACK_OF(X509) *ra = issuer_get0_ra_chain(sh->issuer, sh->profile);
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

/* What the RA key signs for GetNextCACert. */
struct scep_http_next_ca {
	STACK_OF(X509) *certs; /* the next CA, and the next RA when there is one */
	unsigned char *der;
	size_t len;
};

static int
scep_http_sign_next_ca(X509 *ra_cert, EVP_PKEY *ra_key, void *arg, bool *ret_failed)
{
	struct scep_http_next_ca *n = arg;
	int r;

	r = scep_msg_next_ca(n->certs, ra_cert, ra_key, &n->der, &n->len);
	*ret_failed = r == -EIO;
	return r;
}

/*
 * GetNextCACert: signed once per worker (it names no request), so that asking for it
 * costs no private-key operation. A worker without its keys answers 503.
 */
static int
scep_http_make_next_ca_body(struct scep_http *sh)
{
	struct scep_http_next_ca n = { 0 };
	X509 *ca_next = issuer_get0_ca_next(sh->issuer, sh->profile);
	X509 *ra_next = issuer_get0_ra_next(sh->issuer, sh->profile);
	int r;

	if (ca_next == NULL || issuer_get0_chain(sh->issuer, sh->profile) == NULL)
		return 0;
	if ((n.certs = sk_X509_new_null()) == NULL || !sk_X509_push(n.certs, ca_next) ||
	    (ra_next != NULL && !sk_X509_push(n.certs, ra_next))) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = issuer_with_ra_key(sh->issuer, sh->profile, STATS_KEY_NEXT_CA,
				    scep_http_sign_next_ca, &n)) == 0) {
		sh->next_ca_body = n.der;
		sh->next_ca_body_len = n.len;
	} else if (r == -EAGAIN) {
		r = 0; /* a worker without its keys answers 503 */
	}
out:
	sk_X509_free(n.certs); /* borrowed certificates */
	return r;
}

int
scep_http_new(const struct scepd_config *cfg, size_t profile, struct issuer *issuer,
	      struct crl_publish *crls, struct scep_http **ret, struct secret_error *err)
{
	struct scep_http *sh;
	int r;

	if ((sh = calloc(1, sizeof(*sh))) == NULL)
		return -ENOMEM;
	sh->cfg = cfg;
	sh->scep = &cfg->profiles[profile].scep;
	sh->profile = profile;
	sh->issuer = issuer;
	sh->crl = crls != NULL && cfg->cas[cfg->profiles[profile].ca].crl.path != NULL;
	scep_http_make_caps(sh);
	if ((r = scep_http_make_enrol(sh, crls, err)) < 0 || (r = scep_http_make_ca_body(sh)) < 0 ||
	    (r = scep_http_make_next_ca_body(sh)) < 0) {
		scep_http_free(sh);
		return r;
	}
	if (sh->scep->refusals_per_minute > 0 &&
	    (r = ratelimit_new((unsigned)sh->scep->refusals_per_minute,
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
	scep_enrol_free(sh->enrol);
	webhook_free(sh->webhook);
	free(sh->ca_body);
	free(sh->next_ca_body);
	ratelimit_free(sh->refusals);
	free(sh);
}

struct scep_http_certrep {
	const struct scep_msg *req;
	const struct scep_certrep *rep;
	unsigned char *der;
	size_t len;
};

static int
scep_http_sign_certrep(X509 *ra_cert, EVP_PKEY *ra_key, void *arg, bool *ret_failed)
{
	struct scep_http_certrep *c = arg;
	int r;

	r = scep_msg_certrep(c->req, c->rep, ra_cert, ra_key, &c->der, &c->len);
	*ret_failed = r == -EIO;
	return r;
}

static int
scep_http_decrypt(X509 *ra_cert, EVP_PKEY *ra_key, void *arg, bool *ret_failed)
{
	struct scep_msg *msg = arg;
	int r;

	r = scep_msg_decrypt(msg, ra_cert, ra_key);
	/* A dead token looks like a bad envelope to the codec: the issuer tells them apart. */
	*ret_failed = r == 0 && msg->fail == SCEP_FAIL_BAD_MESSAGE_CHECK;
	return r;
}

/* scepd_scep_messages_total: the request's messageType, the answer's status and failInfo. */
static void
scep_http_count(struct scep_http *sh, const struct scep_msg *msg, const struct scep_certrep *rep)
{
	enum stats_scep_type type = STATS_SCEP_OTHER;
	enum stats_pki_status status = STATS_PKI_FAILURE;
	enum stats_fail_info fail = STATS_FAIL_NONE;

	switch (msg->type) {
	case SCEP_MSG_PKCSREQ:
		type = STATS_SCEP_PKCSREQ;
		break;
	case SCEP_MSG_RENEWALREQ:
		type = STATS_SCEP_RENEWALREQ;
		break;
	case SCEP_MSG_CERTPOLL:
		type = STATS_SCEP_CERTPOLL;
		break;
	case SCEP_MSG_GETCERT:
		type = STATS_SCEP_GETCERT;
		break;
	case SCEP_MSG_GETCRL:
		type = STATS_SCEP_GETCRL;
		break;
	default:
		break;
	}
	if (rep->status == SCEP_STATUS_SUCCESS)
		status = STATS_PKI_SUCCESS;
	else if (rep->status == SCEP_STATUS_PENDING)
		status = STATS_PKI_PENDING;
	else if (rep->fail >= SCEP_FAIL_BAD_ALG && rep->fail < SCEP_FAIL_MAX)
		fail = (enum stats_fail_info)(STATS_FAIL_BAD_ALG + (rep->fail - SCEP_FAIL_BAD_ALG));
	stats_scep(issuer_get0_stats(sh->issuer), type, status, fail);
}

static int
scep_http_reply_pki(struct scep_http *sh, struct http_request *req, const struct scep_msg *msg,
		    const struct scep_certrep *rep)
{
	struct scep_http_certrep c = { .req = msg, .rep = rep };
	int r;

	r = issuer_with_ra_key(sh->issuer, sh->profile, STATS_KEY_CERTREP, scep_http_sign_certrep,
			       &c);
	if (r == -EAGAIN)
		return http_reply_text(req, 503, "signing unavailable: this worker cannot sign");
	if (r < 0)
		return log_error_errno(r, "cannot build a CertRep for transaction %s", msg->txid);
	r = http_reply(req, 200, "application/x-pki-message", c.der, c.len);
	free(c.der);
	if (r >= 0)
		scep_http_count(sh, msg, rep);
	return r;
}

/*
 * Logs why (for the operator) and answers FAILURE with text (for the client). A signed
 * answer costs an RA private-key operation: past scep.refusals_per_minute for this
 * client address, the answer is a 429 without one.
 */
static int
scep_http_fail_because(struct scep_http *sh, struct http_request *req, const struct scep_msg *msg,
		       enum scep_fail fail, const char *why, const char *text)
{
	const char *addr = http_request_remote_addr(req);
	const char *type = scep_msg_type_name(msg->type);

	log_notice("SCEP %s from %s, transaction %s: FAILURE %s: %s", type != NULL ? type : "?",
		   addr, msg->txid, scep_msg_fail_name(fail), why);
	if (scep_http_over_limit(sh, req, true)) {
		log_warning("SCEP from %s: more than %d refusals a minute: answering 429 unsigned",
			    addr, sh->scep->refusals_per_minute);
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
		  const struct scep_verdict *v)
{
	if (v->crl != NULL)
		return scep_http_reply_pki(sh, req, msg,
					   &(struct scep_certrep){ .status = SCEP_STATUS_SUCCESS,
								   .fail = SCEP_FAIL_NONE,
								   .crl = v->crl,
								   .crl_len = v->crl_len });
	return scep_http_reply_pki(
		sh, req, msg,
		&(struct scep_certrep){ .status = SCEP_STATUS_SUCCESS,
					.fail = SCEP_FAIL_NONE,
					.cert = v->cert,
					.chain = issuer_get0_chain(sh->issuer, sh->profile) });
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

/* The verdict of the state machine, as the client gets it and the log says it. */
static int
scep_http_verdict(struct scep_http *sh, struct http_request *req, const struct scep_msg *msg,
		  const struct scep_verdict *v)
{
	const char *addr = http_request_remote_addr(req);

	switch (v->kind) {
	case SCEP_VERDICT_SUCCESS:
		if (v->log[0] != '\0')
			log_info("SCEP transaction %s from %s: %s", msg->txid, addr, v->log);
		return scep_http_success(sh, req, msg, v);
	case SCEP_VERDICT_PENDING:
		if (v->log[0] != '\0')
			log_info("SCEP transaction %s from %s: %s", msg->txid, addr, v->log);
		return scep_http_pending(sh, req, msg);
	case SCEP_VERDICT_FAILURE:
		return scep_http_fail_because(sh, req, msg, v->fail, v->log, v->text);
	case SCEP_VERDICT_RETRY:
		if (v->retry_after > 0) { /* a service of the operator's, not this host, is away */
			char seconds[16];

			log_warning("SCEP transaction %s from %s: answering 503: %s", msg->txid,
				    addr, v->log);
			snprintf(seconds, sizeof(seconds), "%d", v->retry_after);
			if (http_add_header(req, "Retry-After", seconds) < 0)
				return -ENOMEM;
		} else {
			log_error("SCEP transaction %s from %s: answering 503: %s", msg->txid, addr,
				  v->log);
		}
		return http_reply_text(req, 503, "%s", v->text);
	}
	return -EINVAL;
}

static int
scep_http_dispatch(struct scep_http *sh, struct http_request *req, struct scep_msg *msg)
{
	struct scep_verdict v = { 0 };
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
	if (msg->type == SCEP_MSG_GETCRL && !sh->crl) {
		if (sh->scep->crl_url == NULL)
			return http_reply_text(req, 400, "GetCRL is not offered here");
		if ((r = http_add_header(req, "Location", sh->scep->crl_url)) < 0)
			return r;
		return http_reply_text(req, 302, "the CRL is at %s", sh->scep->crl_url);
	}
	/* No more key work for a client that used up its refusals. */
	if (scep_http_over_limit(sh, req, false)) {
		log_notice("SCEP PKIOperation from %s: more than %d refusals a minute: answering "
			   "429 before any key work",
			   http_request_remote_addr(req), sh->scep->refusals_per_minute);
		return http_reply_text(req, 429, "too many refused requests from this address");
	}
	if ((r = issuer_with_ra_key(sh->issuer, sh->profile, STATS_KEY_DECRYPT, scep_http_decrypt,
				    msg)) == -EAGAIN)
		return http_reply_text(req, 503, "signing unavailable: this worker cannot sign");
	if (r < 0)
		return r;
	if (msg->fail != SCEP_FAIL_NONE)
		return scep_http_fail_because(
			sh, req, msg, msg->fail, msg->fail_reason,
			"the message cannot be opened or its content is not acceptable");
	/* What a client really sent, whatever it was told to send. */
	log_debug("SCEP %s from %s, transaction %s: signature %s with %s, envelope %s",
		  scep_msg_type_name(msg->type), http_request_remote_addr(req), msg->txid,
		  OBJ_nid2sn(msg->signature_nid), scep_msg_digest_name(msg->digest),
		  scep_msg_cipher_name(msg->cipher));
	if ((r = scep_enrol_decide(sh->enrol, msg, http_request_remote_addr(req), &v)) == -EINVAL)
		return scep_http_fail(sh, req, msg, SCEP_FAIL_BAD_REQUEST,
				      "unsupported messageType");
	if (r < 0)
		return r;
	r = scep_http_verdict(sh, req, msg, &v);
	scep_verdict_clear(&v);
	return r;
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
	if (issuer_get0_ca_next(sh->issuer, sh->profile) == NULL)
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
	const char *location = sh->scep->location;
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
