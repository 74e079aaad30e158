/*
 * admin_http.c - the JSON admin API: requests under admin.path to the store and back.
 *
 * Order of checks: the channel (403 unless TLS, loopback or admin.allow_plain_http),
 * the token (401), the endpoint (404) and its method (405), the token's scope (403),
 * the body's type (415) and fields (400, admin_json.c), then the store (404 unknown,
 * 409 not in a state for it, 503 when the store fails). Every answer is JSON built
 * with jansson; errors are {"error": "..."}. Refusals are logged with the client
 * address and the token's ID when it has a token's form, never the token; each
 * action (mint, revoke, approve, reject) writes one audit record naming token:NAME,
 * never a challenge.
 *
 * Contract: admin_http.h. The body limit (413) is the HTTP layer's.
 */
#include "scepd/admin_http.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "scepd/admin_json.h"
#include "scepd/challenge.h"
#include "scepd/encoding.h"
#include "scepd/log.h"
#include "scepd/stats.h"
#include "scepd/store.h"

#define ADMIN_HTTP_LIMIT_DEFAULT 100
#define ADMIN_HTTP_LIMIT_MAX     1000
#define ADMIN_HTTP_SERIAL_MAX    128 /* hex digits of a serial we look for */

struct admin_http {
	const struct scepd_config *cfg;
	struct issuer *issuer;
	struct admin_tokens *tokens;
	/* What a client certificate that verifies against admin.client_ca may do: its
	 * scopes point into cfg (admin.client_scopes). */
	struct admin_token client;
};

/* One request being answered. */
struct admin_http_call {
	struct admin_http *a;
	struct http_request *req;
	const char *sub; /* the path below admin.path: "/certificates/3A" */
	const struct admin_token *tok;
	char user[512]; /* "token:NAME", or "cert:" and the client certificate's subject */
};

int
admin_http_new(const struct scepd_config *cfg, struct issuer *issuer, struct admin_http **ret,
	       struct admin_tokens_error *err)
{
	struct admin_http *a;
	int r;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return -ENOMEM;
	a->cfg = cfg;
	a->issuer = issuer;
	snprintf(a->client.name, sizeof(a->client.name), "client-certificate");
	for (size_t i = 0; i < cfg->admin.client_scopes.n && i < ADMIN_TOKENS_SCOPES_MAX; i++)
		a->client.scopes[a->client.n_scopes++] = cfg->admin.client_scopes.v[i];
	if ((r = admin_tokens_load(cfg->admin.tokens_file, &a->tokens, err)) < 0) {
		free(a);
		return r;
	}
	*ret = a;
	return 0;
}

void
admin_http_free(struct admin_http *a)
{
	if (a == NULL)
		return;
	admin_tokens_free(a->tokens);
	free(a);
}

/* Replies */

/* Sends root (and takes it); 500 when it cannot be serialised. */
static int
admin_http_send(struct http_request *req, unsigned status, json_t *root)
{
	char *text;
	int r;

	if (root == NULL)
		return -ENOMEM;
	text = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII);
	json_decref(root);
	if (text == NULL)
		return -ENOMEM;
	r = http_reply(req, status, "application/json", text, strlen(text));
	free(text);
	return r;
}

/*
 * {"error": message}, not logged. The message may quote what the client sent (a field
 * name, jansson's "near '...'"), maybe cut inside a UTF-8 sequence: it goes out as
 * printable ASCII, anything else as '?'.
 */
static int
admin_http_send_error(struct http_request *req, unsigned status, char *message)
{
	for (char *c = message; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
			*c = '?';
	return admin_http_send(req, status, json_pack("{s:s}", "error", message));
}

/* An answer of 4xx or 5xx, logged (at info: the client's mistake) with the client. */
static int admin_http_error(struct http_request *req, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int
admin_http_error(struct http_request *req, unsigned status, const char *fmt, ...)
{
	char message[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	log_info("admin: %s %s from %s: %u %s",
		 http_request_method(req) == HTTP_POST ? "POST" : "GET", http_request_path(req),
		 http_request_remote_addr(req), status, message);
	return admin_http_send_error(req, status, message);
}

/* A refusal: logged with the client and, when it has a token's form, the token's ID. */
static int
admin_http_refuse(struct http_request *req, unsigned status, const char *why)
{
	const char *auth = http_request_header(req, "Authorization");
	char id[ADMIN_TOKENS_ID_LEN + 1] = "-", message[256];

	if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0 &&
	    admin_tokens_parse_id(auth + 7 + strspn(auth + 7, " "), id) < 0)
		snprintf(id, sizeof(id), "-");
	log_notice("admin: %s %s from %s refused (%u, token id %s): %s",
		   http_request_method(req) == HTTP_POST ? "POST" : "GET", http_request_path(req),
		   http_request_remote_addr(req), status, id, why);
	if (status == 401 && http_add_header(req, "WWW-Authenticate", "Bearer") < 0)
		return -ENOMEM;
	snprintf(message, sizeof(message), "%s", why);
	return admin_http_send_error(req, status, message);
}

static void
admin_http_time(time_t t, char out[32])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "1970-01-01T00:00:00Z");
}

static const char *
admin_http_cert_status(const struct store_cert *cert)
{
	if (cert->revoked_at != 0)
		return "revoked";
	return cert->not_after <= time(NULL) ? "expired" : "valid";
}

/* The JSON object of a certificate; with its PEM when pem. NULL: no memory. */
static json_t *
admin_http_cert_json(const struct store_cert *cert, bool pem)
{
	char nb[32], na[32], ra[32];
	const unsigned char *p = cert->der;
	json_t *o;
	X509 *x = NULL;
	BIO *bio = NULL;
	char *data;
	long len;

	admin_http_time(cert->not_before, nb);
	admin_http_time(cert->not_after, na);
	o = json_pack("{s:s, s:s?, s:s?, s:s, s:s, s:s?, s:s?, s:s}", "serial", cert->serial,
		      "subject", cert->subject, "sans", cert->sans, "not_before", nb, "not_after",
		      na, "profile", cert->profile, "ca", cert->ca, "status",
		      admin_http_cert_status(cert));
	if (o == NULL)
		return NULL;
	if (cert->revoked_at != 0) {
		admin_http_time(cert->revoked_at, ra);
		if (json_object_set_new(o, "revoked_at", json_string(ra)) < 0 ||
		    (store_reason_name(cert->revocation_reason) != NULL &&
		     json_object_set_new(o, "revocation_reason",
					 json_string(store_reason_name(cert->revocation_reason))) <
			     0))
			goto fail;
	}
	if (!pem)
		return o;
	if ((x = d2i_X509(NULL, &p, (long)cert->der_len)) == NULL ||
	    (bio = BIO_new(BIO_s_mem())) == NULL || PEM_write_bio_X509(bio, x) != 1 ||
	    (len = BIO_get_mem_data(bio, &data)) <= 0 ||
	    json_object_set_new(o, "pem", json_stringn(data, (size_t)len)) < 0)
		goto fail;
	BIO_free(bio);
	X509_free(x);
	return o;
fail:
	ERR_clear_error();
	BIO_free(bio);
	X509_free(x);
	json_decref(o);
	return NULL;
}

/* Store errors that are not an answer of their own: 503, logged. */
static int
admin_http_store_failed(struct admin_http_call *c, int r, const char *what)
{
	log_error_errno(r, "admin: %s (client %s, %s)", what, http_request_remote_addr(c->req),
			c->user);
	return admin_http_error(c->req, 503, "the store cannot be used now; try again");
}

static bool
admin_http_is_json(const char *content_type)
{
	size_t len;

	if (content_type == NULL)
		return false;
	content_type += strspn(content_type, " \t");
	len = strcspn(content_type, "; \t");
	return len == 16 && strncasecmp(content_type, "application/json", 16) == 0;
}

/* The body, when there is one, must be JSON: 415 otherwise (replied: *ret_replied). */
static int
admin_http_body(struct admin_http_call *c, const char **ret_body, size_t *ret_len)
{
	size_t len = 0;
	const char *body = http_request_body(c->req, &len);

	if (len > 0 && !admin_http_is_json(http_request_header(c->req, "Content-Type")))
		return -EMEDIUMTYPE;
	*ret_body = body;
	*ret_len = len;
	return 0;
}

/* Challenges */

static int
admin_http_mint(struct admin_http_call *c, const char *profile_name)
{
	const struct config_profile *p = config_profile_by_name(c->a->cfg, profile_name);
	struct admin_json_challenge body;
	struct admin_json_error jerr = { 0 };
	struct store *st = issuer_get0_store(c->a->issuer);
	char secret[CHALLENGE_MAX], expires_text[32];
	const char *text;
	size_t len;
	time_t expires;
	json_t *o;
	int r;

	if (p == NULL || p->type != CONFIG_PROFILE_SCEP)
		return admin_http_error(c->req, 404, "no SCEP profile of this name");
	if (p->scep.challenge_mode != CONFIG_CHALLENGE_OTP)
		return admin_http_error(c->req, 409,
					"the profile does not take one-time challenges "
					"(challenge.mode is not \"otp\")");
	if (admin_http_body(c, &text, &len) < 0)
		return admin_http_error(c->req, 415, "the body must be application/json");
	if ((r = admin_json_parse_challenge(text, len, &body, &jerr)) < 0)
		return r == -EBADMSG ? admin_http_error(c->req, 400, "%s", jerr.message) : r;
	r = challenge_mint(st,
			   &(struct challenge_req){
				   .profile = p->name,
				   .owner = body.owner[0] != '\0' ? body.owner : NULL,
				   .subject = body.subject[0] != '\0' ? body.subject : NULL,
				   .ttl = body.ttl,
				   .format = CHALLENGE_HEX32_LOWER,
			   },
			   secret, &expires);
	if (r < 0)
		return admin_http_store_failed(c, r, "cannot record a challenge");
	log_audit(&(struct log_audit){
		.result = "challenge",
		.endpoint = "admin",
		.profile = p->name,
		.client = http_request_remote_addr(c->req),
		.subject = body.subject[0] != '\0' ? body.subject : NULL,
		.user = c->user,
	});
	admin_http_time(expires, expires_text);
	o = json_pack("{s:s, s:s, s:s}", "challenge", secret, "expires", expires_text, "profile",
		      p->name);
	OPENSSL_cleanse(secret, sizeof(secret));
	r = admin_http_send(c->req, 201, o);
	return r;
}

/* Certificates */

struct admin_http_filter {
	const char *serial; /* normalised: upper case, no leading zeros; NULL: any */
	const char *subject;
	const char *profile;
	const char *status;
	size_t limit;
	json_t *list;
	bool truncated;
	bool failed;
};

static int
admin_http_cert_fn(const struct store_cert *cert, void *userdata)
{
	struct admin_http_filter *f = userdata;
	json_t *o;

	if ((f->serial != NULL && strcmp(cert->serial, f->serial) != 0) ||
	    (f->subject != NULL &&
	     (cert->subject == NULL || strcmp(cert->subject, f->subject) != 0)) ||
	    (f->profile != NULL &&
	     (cert->profile == NULL || strcmp(cert->profile, f->profile) != 0)) ||
	    (f->status != NULL && strcmp(admin_http_cert_status(cert), f->status) != 0))
		return 0;
	if (json_array_size(f->list) == f->limit) {
		f->truncated = true;
		return -ECANCELED; /* enough: stop the walk */
	}
	if ((o = admin_http_cert_json(cert, false)) == NULL ||
	    json_array_append_new(f->list, o) < 0) {
		f->failed = true;
		return -ENOMEM;
	}
	return 0;
}

static int
admin_http_list_certs(struct admin_http_call *c)
{
	struct admin_http_filter f = { .limit = ADMIN_HTTP_LIMIT_DEFAULT };
	const char *serial = http_request_arg(c->req, "serial");
	const char *limit = http_request_arg(c->req, "limit");
	char norm[ADMIN_HTTP_SERIAL_MAX + 1], *end;
	unsigned long n;
	int r;

	if (serial != NULL) {
		if (encoding_hex_normalize(serial, true, true, norm, sizeof(norm)) < 0)
			return admin_http_error(c->req, 400, "serial: hex digits");
		f.serial = norm;
	}
	f.subject = http_request_arg(c->req, "subject");
	f.profile = http_request_arg(c->req, "profile");
	f.status = http_request_arg(c->req, "status");
	if (f.status != NULL && strcmp(f.status, "valid") != 0 &&
	    strcmp(f.status, "revoked") != 0 && strcmp(f.status, "expired") != 0)
		return admin_http_error(c->req, 400, "status: one of valid, revoked, expired");
	if (limit != NULL) {
		errno = 0;
		n = strtoul(limit, &end, 10);
		if (limit[0] < '0' || limit[0] > '9' || *end != '\0' || errno != 0 || n < 1 ||
		    n > ADMIN_HTTP_LIMIT_MAX)
			return admin_http_error(c->req, 400, "limit: a number in 1..%d",
						ADMIN_HTTP_LIMIT_MAX);
		f.limit = n;
	}
	if ((f.list = json_array()) == NULL)
		return -ENOMEM;
	r = store_walk_certs(issuer_get0_store(c->a->issuer), admin_http_cert_fn, &f);
	if (r < 0 && !(r == -ECANCELED && f.truncated)) {
		json_decref(f.list);
		return f.failed ? r : admin_http_store_failed(c, r, "cannot list the certificates");
	}
	return admin_http_send(
		c->req, 200,
		json_pack("{s:o, s:b}", "certificates", f.list, "truncated", f.truncated));
}

/* The certificate of serial, or a reply saying why not (*ret NULL then, 0 returned). */
static int
admin_http_get_cert(struct admin_http_call *c, const char *serial, struct store_cert **ret)
{
	int r;

	*ret = NULL;
	if (serial[0] == '\0' || strlen(serial) > ADMIN_HTTP_SERIAL_MAX)
		return admin_http_error(c->req, 404, "no certificate with this serial");
	r = store_get_cert(issuer_get0_store(c->a->issuer), serial, ret);
	if (r == -ENOENT)
		return admin_http_error(c->req, 404, "no certificate with this serial");
	if (r < 0)
		return admin_http_store_failed(c, r, "cannot look up a certificate");
	return 0;
}

static int
admin_http_show_cert(struct admin_http_call *c, const char *serial)
{
	struct store_cert *cert = NULL;
	int r;

	if ((r = admin_http_get_cert(c, serial, &cert)) < 0 || cert == NULL)
		return r;
	r = admin_http_send(c->req, 200, admin_http_cert_json(cert, true));
	store_cert_free(cert);
	return r;
}

static int
admin_http_revoke(struct admin_http_call *c, const char *serial)
{
	struct store *st = issuer_get0_store(c->a->issuer);
	struct store_cert *cert = NULL, *now = NULL;
	struct admin_json_revoke body;
	struct admin_json_error jerr = { 0 };
	int reason = STORE_REASON_UNSPECIFIED, r;
	const char *text;
	size_t len;

	if (admin_http_body(c, &text, &len) < 0)
		return admin_http_error(c->req, 415, "the body must be application/json");
	if ((r = admin_json_parse_revoke(text, len, &body, &jerr)) < 0)
		return r == -EBADMSG ? admin_http_error(c->req, 400, "%s", jerr.message) : r;
	if (body.reason[0] != '\0' && store_reason_parse(body.reason, &reason) < 0)
		return admin_http_error(c->req, 400,
					"reason: one of unspecified, keyCompromise, cACompromise, "
					"affiliationChanged, superseded, cessationOfOperation, "
					"certificateHold, privilegeWithdrawn, aACompromise");
	if ((r = admin_http_get_cert(c, serial, &cert)) < 0 || cert == NULL)
		return r;
	r = store_revoke(st, cert->serial, reason, 0, c->user);
	if (r == -EALREADY) {
		r = admin_http_error(c->req, 409, "revoked already");
		goto out;
	}
	if (r == -ENOENT) {
		r = admin_http_error(c->req, 404, "no certificate with this serial");
		goto out;
	}
	if (r < 0) {
		r = admin_http_store_failed(c, r, "cannot revoke a certificate");
		goto out;
	}
	log_audit(&(struct log_audit){
		.result = "revoked",
		.endpoint = "admin",
		.profile = cert->profile,
		.client = http_request_remote_addr(c->req),
		.serial = cert->serial,
		.subject = cert->subject,
		.reason = store_reason_name(reason),
		.ca = cert->ca,
		.user = c->user,
	});
	if ((r = store_get_cert(st, cert->serial, &now)) < 0) {
		r = admin_http_store_failed(c, r, "cannot read a revoked certificate back");
		goto out;
	}
	r = admin_http_send(c->req, 200, admin_http_cert_json(now, false));
out:
	store_cert_free(now);
	store_cert_free(cert);
	return r;
}

/* Pending requests */

static int
admin_http_pending_fn(const struct store_pending *p, void *userdata)
{
	json_t *list = userdata, *o;
	char received[32];

	admin_http_time(p->received_at, received);
	o = json_pack("{s:s, s:s?, s:s, s:s?, s:s?, s:s}", "transaction_id", p->transaction_id,
		      "subject", p->subject, "received_at", received, "requester", p->requester,
		      "profile", p->profile, "status", store_status_name(p->status));
	if (o == NULL || json_array_append_new(list, o) < 0)
		return -ENOMEM;
	return 0;
}

static int
admin_http_list_pending(struct admin_http_call *c)
{
	const char *status = http_request_arg(c->req, "status");
	json_t *list;
	int r;

	if (status != NULL && strcmp(status, "pending") != 0)
		return admin_http_error(c->req, 400, "status: only \"pending\" is listed");
	if ((list = json_array()) == NULL)
		return -ENOMEM;
	if ((r = store_walk_pending(issuer_get0_store(c->a->issuer), admin_http_pending_fn, list)) <
	    0) {
		json_decref(list);
		return r == -ENOMEM ? r : admin_http_store_failed(c, r, "cannot list the requests");
	}
	return admin_http_send(c->req, 200, json_pack("{s:o}", "requests", list));
}

static int
admin_http_decide(struct admin_http_call *c, const char *txid, enum store_status to)
{
	struct store *st = issuer_get0_store(c->a->issuer);
	struct admin_json_error jerr = { 0 };
	struct store_pending *p = NULL;
	const char *text;
	size_t len;
	int r;

	if (admin_http_body(c, &text, &len) < 0)
		return admin_http_error(c->req, 415, "the body must be application/json");
	if ((r = admin_json_parse_none(text, len, &jerr)) < 0)
		return r == -EBADMSG ? admin_http_error(c->req, 400, "%s", jerr.message) : r;
	if (txid[0] == '\0' || strlen(txid) > STORE_TRANSACTION_ID_MAX)
		return admin_http_error(c->req, 404, "no request with this transaction id");
	r = store_set_pending_status(st, txid, STORE_STATUS_PENDING, to);
	if (r == -ENOENT)
		return admin_http_error(c->req, 404, "no request with this transaction id");
	if (r == -ESTALE && (r = store_get_pending(st, txid, &p)) == 0) {
		r = admin_http_error(c->req, 409, "the request is %s, not pending",
				     store_status_name(p->status));
		goto out;
	}
	if (r < 0) {
		r = admin_http_store_failed(c, r, "cannot decide a request");
		goto out;
	}
	if ((r = store_get_pending(st, txid, &p)) < 0) {
		r = admin_http_store_failed(c, r, "cannot read a decided request back");
		goto out;
	}
	log_audit(&(struct log_audit){
		.result = to == STORE_STATUS_APPROVED ? "approved" : "rejected",
		.endpoint = "admin",
		.profile = p->profile,
		.client = http_request_remote_addr(c->req),
		.subject = p->subject,
		.transaction_id = p->transaction_id,
		.user = c->user,
	});
	r = admin_http_send(c->req, 200,
			    json_pack("{s:s, s:s?, s:s?, s:s}", "transaction_id", p->transaction_id,
				      "subject", p->subject, "profile", p->profile, "status",
				      store_status_name(p->status)));
out:
	store_pending_free(p);
	return r;
}

/* Routing */

enum admin_http_endpoint {
	ADMIN_HTTP_NONE = 0,
	ADMIN_HTTP_MINT,
	ADMIN_HTTP_CERTS,
	ADMIN_HTTP_CERT,
	ADMIN_HTTP_REVOKE,
	ADMIN_HTTP_REQUESTS,
	ADMIN_HTTP_APPROVE,
	ADMIN_HTTP_REJECT,
};

/* What sub names; the variable part (profile, serial, txid) copied into arg. */
static enum admin_http_endpoint
admin_http_match(const char *sub, char *arg, size_t size)
{
	static const struct {
		const char *prefix, *suffix;
		enum admin_http_endpoint e;
	} table[] = {
		{ "/profiles/", "/challenges", ADMIN_HTTP_MINT },
		{ "/certificates/", "/revoke", ADMIN_HTTP_REVOKE },
		{ "/requests/", "/approve", ADMIN_HTTP_APPROVE },
		{ "/requests/", "/reject", ADMIN_HTTP_REJECT },
		{ "/certificates/", "", ADMIN_HTTP_CERT },
	};
	size_t len = strlen(sub);

	if (strcmp(sub, "/certificates") == 0)
		return ADMIN_HTTP_CERTS;
	if (strcmp(sub, "/requests") == 0)
		return ADMIN_HTTP_REQUESTS;
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		size_t pl = strlen(table[i].prefix), sl = strlen(table[i].suffix);

		if (len <= pl + sl || strncmp(sub, table[i].prefix, pl) != 0 ||
		    strcmp(sub + len - sl, table[i].suffix) != 0 || len - pl - sl >= size)
			continue;
		memcpy(arg, sub + pl, len - pl - sl);
		arg[len - pl - sl] = '\0';
		/* A serial has no '/'; a transaction id may (base64). */
		if (table[i].e == ADMIN_HTTP_CERT || table[i].e == ADMIN_HTTP_REVOKE ||
		    table[i].e == ADMIN_HTTP_MINT)
			if (strchr(arg, '/') != NULL)
				continue;
		return table[i].e;
	}
	return ADMIN_HTTP_NONE;
}

/*
 * Without an Authorization header: the client certificate, when admin.client_ca is
 * set and the client presented one. 0 with c->tok set, or a reply already sent.
 */
static int
admin_http_authenticate_cert(struct admin_http_call *c)
{
	char *subject = NULL;
	int r;

	if (c->a->client.n_scopes == 0)
		return admin_http_refuse(c->req, 401, "missing Authorization: Bearer token");
	r = http_request_client_subject(c->req, &subject);
	if (r == -ENOENT)
		return admin_http_refuse(
			c->req, 401, "missing Authorization: Bearer token or client certificate");
	if (r == -EPERM)
		return admin_http_refuse(c->req, 401,
					 "the client certificate does not verify against "
					 "admin.client_ca");
	if (r < 0)
		return r;
	snprintf(c->user, sizeof(c->user), "cert:%s", subject);
	free(subject);
	c->tok = &c->a->client;
	return 0;
}

/* The token of the Authorization header: 0, or a reply already sent (*ret NULL). */
static int
admin_http_authenticate(struct admin_http_call *c)
{
	const char *auth = http_request_header(c->req, "Authorization");
	int r;

	if (auth == NULL)
		return admin_http_authenticate_cert(c);
	if (strncasecmp(auth, "Bearer ", 7) != 0)
		return admin_http_refuse(c->req, 401, "the Authorization header is not Bearer");
	auth += 7 + strspn(auth + 7, " ");
	r = admin_tokens_verify(c->a->tokens, auth, &c->tok);
	if (r == -EBADMSG)
		return admin_http_refuse(c->req, 401, "malformed token");
	if (r == -ENOENT || r == -EACCES)
		return admin_http_refuse(c->req, 401, "unknown token");
	if (r < 0) {
		log_error_errno(r, "admin: cannot verify a token");
		return admin_http_error(c->req, 500, "cannot verify the token");
	}
	snprintf(c->user, sizeof(c->user), "token:%s", c->tok->name);
	return 0;
}

int
admin_http_handle(struct http_request *req, void *userdata)
{
	struct admin_http *a = userdata;
	struct admin_http_call c = { .a = a, .req = req };
	const char *path = http_request_path(req);
	size_t plen = strlen(a->cfg->admin.path);
	enum http_method method = http_request_method(req);
	enum admin_http_endpoint e;
	char arg[STORE_TRANSACTION_ID_MAX + 1], scope[ADMIN_TOKENS_NAME_MAX + 16];
	bool post;
	int r;

	ERR_clear_error();
	if (!http_request_is_tls(req) && !http_request_from_loopback(req) &&
	    !a->cfg->admin.allow_plain_http)
		return admin_http_refuse(req, 403,
					 "use the TLS listener (server.tls) for the admin API");
	if ((r = admin_http_authenticate(&c)) < 0 || c.tok == NULL)
		return r;
	c.sub = path + (strncmp(path, a->cfg->admin.path, plen) == 0 ? plen : strlen(path));
	e = admin_http_match(c.sub, arg, sizeof(arg));
	if (e == ADMIN_HTTP_NONE)
		return admin_http_error(req, 404, "no such endpoint");
	post = e == ADMIN_HTTP_MINT || e == ADMIN_HTTP_REVOKE || e == ADMIN_HTTP_APPROVE ||
	       e == ADMIN_HTTP_REJECT;
	if ((post && method != HTTP_POST) || (!post && method != HTTP_GET && method != HTTP_HEAD)) {
		if (http_add_header(req, "Allow", post ? "POST" : "GET, HEAD") < 0)
			return -ENOMEM;
		return admin_http_error(req, 405, "method not allowed: use %s",
					post ? "POST" : "GET");
	}
	if (e == ADMIN_HTTP_MINT && !admin_tokens_name_valid(arg))
		return admin_http_error(req, 404, "no SCEP profile of this name");
	switch (e) {
	case ADMIN_HTTP_MINT:
		snprintf(scope, sizeof(scope), "challenge:%.*s", ADMIN_TOKENS_NAME_MAX, arg);
		break;
	case ADMIN_HTTP_REVOKE:
		snprintf(scope, sizeof(scope), "revoke");
		break;
	case ADMIN_HTTP_APPROVE:
	case ADMIN_HTTP_REJECT:
		snprintf(scope, sizeof(scope), "approve");
		break;
	default:
		snprintf(scope, sizeof(scope), "read");
		break;
	}
	if (!admin_token_allows(c.tok, scope)) {
		char why[sizeof(scope) + sizeof(c.user) + 32];

		snprintf(why, sizeof(why), "%s lacks the scope %s", c.user, scope);
		return admin_http_refuse(req, 403, why);
	}
	switch (e) {
	case ADMIN_HTTP_MINT:
		return admin_http_mint(&c, arg);
	case ADMIN_HTTP_CERTS:
		return admin_http_list_certs(&c);
	case ADMIN_HTTP_CERT:
		return admin_http_show_cert(&c, arg);
	case ADMIN_HTTP_REVOKE:
		return admin_http_revoke(&c, arg);
	case ADMIN_HTTP_REQUESTS:
		return admin_http_list_pending(&c);
	case ADMIN_HTTP_APPROVE:
		return admin_http_decide(&c, arg, STORE_STATUS_APPROVED);
	case ADMIN_HTTP_REJECT:
		return admin_http_decide(&c, arg, STORE_STATUS_REJECTED);
	default:
		return admin_http_error(req, 404, "no such endpoint");
	}
}
