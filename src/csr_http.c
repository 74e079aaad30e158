/*
 * csr_http.c - POST /csr: the request in, the certificate out, over plain HTTP.
 *
 * Order of checks: content type (415), token (401), body decoding (400), then the
 * issuer decides (400 unusable request, 403 policy, 503 cannot sign or record).
 * A certificate issued without some of what the request asked for (a subject field, a
 * subjectAltName that the profile's rules do not copy) comes with a Scepd-Dropped
 * header that lists them.
 * The body limit (413) is the HTTP layer's. Every answer but a certificate is one
 * line of text. The tokens file holds "name:sha256hex" lines, '#' comments and blank
 * lines; a token is compared by its SHA-256 in constant time.
 */
#include "scepd/csr_http.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "scepd/csr_body.h"
#include "scepd/encoding.h"
#include "scepd/log.h"
#include "scepd/p7_certs.h"

#define CSR_HTTP_TOKEN_NAME_MAX 128
#define CSR_HTTP_DROPPED_HEADER "Scepd-Dropped" /* docs/api.md */

struct csr_http_token {
	char name[CSR_HTTP_TOKEN_NAME_MAX];
	unsigned char hash[32];
};

struct csr_http {
	const struct config_csr *cfg; /* the profile's */
	size_t profile;               /* index in the config's profiles */
	struct issuer *issuer;
	struct csr_http_token *tokens;
	size_t n_tokens;
};

enum csr_http_format {
	CSR_HTTP_PEM,
	CSR_HTTP_DER,
	CSR_HTTP_PKCS7,
};

/* One "name:sha256hex" line (already stripped of its newline). */
static int
csr_http_parse_token(char *line, struct csr_http_token *ret)
{
	char *colon = strchr(line, ':');

	if (colon == NULL || colon == line || (size_t)(colon - line) >= CSR_HTTP_TOKEN_NAME_MAX)
		return -EBADMSG;
	memcpy(ret->name, line, (size_t)(colon - line));
	ret->name[colon - line] = '\0';
	return encoding_hex_decode(colon + 1, ret->hash, sizeof(ret->hash));
}

static int
csr_http_load_tokens(struct csr_http *c, const char *path, unsigned *ret_line)
{
	struct csr_http_token *grown;
	char line[512];
	unsigned lineno = 0;
	FILE *f;
	int r = 0;

	if ((f = fopen(path, "re")) == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if ((grown = realloc(c->tokens, (c->n_tokens + 1) * sizeof(*grown))) == NULL) {
			r = -ENOMEM;
			break;
		}
		c->tokens = grown;
		if ((r = csr_http_parse_token(line, &c->tokens[c->n_tokens])) < 0) {
			*ret_line = lineno;
			break;
		}
		c->n_tokens++;
	}
	OPENSSL_cleanse(line, sizeof(line));
	fclose(f);
	return r;
}

int
csr_http_new(struct issuer *issuer, size_t profile, struct csr_http **ret, unsigned *ret_line)
{
	const struct config_csr *cfg = &issuer_get0_profile(issuer, profile)->csr;
	struct csr_http *c;
	int r = 0;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return -ENOMEM;
	c->cfg = cfg;
	c->profile = profile;
	c->issuer = issuer;
	if (cfg->auth == CONFIG_CSR_AUTH_TOKENS &&
	    (r = csr_http_load_tokens(c, cfg->tokens_file, ret_line)) < 0) {
		csr_http_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

void
csr_http_free(struct csr_http *c)
{
	if (c == NULL)
		return;
	free(c->tokens);
	free(c);
}

/* Which token, if any, the Authorization header carries: NULL = refused. */
static const struct csr_http_token *
csr_http_authenticate(const struct csr_http *c, const char *authorization)
{
	const struct csr_http_token *match = NULL;
	unsigned char hash[32];

	if (authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
		return NULL;
	authorization += 7;
	while (*authorization == ' ')
		authorization++;
	if (EVP_Digest(authorization, strlen(authorization), hash, NULL, EVP_sha256(), NULL) != 1)
		return NULL;
	for (size_t i = 0; i < c->n_tokens; i++) /* no early exit: the same time for all */
		if (CRYPTO_memcmp(hash, c->tokens[i].hash, sizeof(hash)) == 0)
			match = &c->tokens[i];
	return match;
}

/* Does a header value like "text/plain; charset=utf-8, x/y" name this media type? */
static bool
csr_http_media_is(const char *value, size_t len, const char *type)
{
	while (len > 0 && isspace((unsigned char)*value)) {
		value++;
		len--;
	}
	while (len > 0 && (isspace((unsigned char)value[len - 1])))
		len--;
	return strlen(type) == len && strncasecmp(value, type, len) == 0;
}

static bool
csr_http_content_type_ok(const char *content_type)
{
	static const char *const accepted[] = {
		"application/pkcs10",
		"application/x-pem-file",
		"text/plain",
		"application/octet-stream",
		"application/x-www-form-urlencoded", /* what curl --data-binary sends */
	};
	size_t len;

	if (content_type == NULL)
		return true;
	len = strcspn(content_type, ";");
	for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++)
		if (csr_http_media_is(content_type, len, accepted[i]))
			return true;
	return false;
}

/* The first supported type the Accept header lists; PEM otherwise. */
static enum csr_http_format
csr_http_format(const char *accept)
{
	const char *p = accept;

	while (p != NULL && *p != '\0') {
		size_t len = strcspn(p, ",");
		size_t type_len = strcspn(p, ";,");

		if (csr_http_media_is(p, type_len, "application/pkix-cert"))
			return CSR_HTTP_DER;
		if (csr_http_media_is(p, type_len, "application/pkcs7-mime"))
			return CSR_HTTP_PKCS7;
		if (csr_http_media_is(p, type_len, "application/x-pem-file"))
			return CSR_HTTP_PEM;
		p = p[len] == ',' ? p + len + 1 : NULL;
	}
	return CSR_HTTP_PEM;
}
static int
csr_http_reply_cert(struct csr_http *c, struct http_request *req, X509 *cert)
{
	enum csr_http_format format = csr_http_format(http_request_header(req, "Accept"));
	unsigned char *der = NULL, *p7 = NULL;
	size_t p7_len = 0;
	char *pem = NULL;
	BIO *bio = NULL;
	long pem_len;
	int len = 0, r = -ENOMEM;

	switch (format) {
	case CSR_HTTP_DER:
		if ((len = i2d_X509(cert, &der)) > 0)
			r = http_reply(req, 200, "application/pkix-cert", der, (size_t)len);
		break;
	case CSR_HTTP_PKCS7:
		if ((r = p7_certs_only(cert, issuer_get0_chain(c->issuer, c->profile), &p7,
				       &p7_len)) == 0)
			r = http_reply(req, 200, "application/pkcs7-mime", p7, p7_len);
		break;
	case CSR_HTTP_PEM:
		if ((bio = BIO_new(BIO_s_mem())) != NULL && PEM_write_bio_X509(bio, cert) &&
		    (pem_len = BIO_get_mem_data(bio, &pem)) > 0)
			r = http_reply(req, 200, "application/x-pem-file", pem, (size_t)pem_len);
		break;
	}
	OPENSSL_free(der);
	free(p7);
	BIO_free(bio);
	return r;
}

static int
csr_http_reply_result(struct csr_http *c, struct http_request *req, const struct issuer_result *res)
{
	int r;

	switch (res->status) {
	case ISSUER_ISSUED:
		/*
		 * What the policy left out: the certificate alone would not say. It is
		 * recorded already, so it is sent even without the header (logged).
		 */
		if (res->dropped[0] != '\0' &&
		    (r = http_add_header(req, CSR_HTTP_DROPPED_HEADER, res->dropped)) < 0)
			log_warning_errno(r, "cannot add the %s header", CSR_HTTP_DROPPED_HEADER);
		return csr_http_reply_cert(c, req, res->cert);
	case ISSUER_BAD_REQUEST:
		return http_reply_text(req, 400, "%s", res->reason);
	case ISSUER_DENIED:
		return http_reply_text(req, 403, "refused by policy: %s", res->reason);
	case ISSUER_UNAVAILABLE:
		return http_reply_text(req, 503, "signing unavailable: %s", res->reason);
	}
	return -EINVAL;
}

int
csr_http_handle(struct http_request *req, void *userdata)
{
	struct csr_http *c = userdata;
	const struct csr_http_token *token = NULL;
	const char *content_type = http_request_header(req, "Content-Type");
	struct issuer_result res = { 0 };
	X509_REQ *csr = NULL;
	const void *body;
	size_t len;
	int r;

	if (!csr_http_content_type_ok(content_type))
		return http_reply_text(req, 415,
				       "unsupported content type: send a PKCS#10 "
				       "request as application/pkcs10 or PEM text");
	if (c->cfg->auth == CONFIG_CSR_AUTH_TOKENS &&
	    (token = csr_http_authenticate(c, http_request_header(req, "Authorization"))) == NULL) {
		log_notice("%s from %s: missing or unknown token", c->cfg->path,
			   http_request_remote_addr(req));
		if ((r = http_add_header(req, "WWW-Authenticate", "Bearer realm=\"scepd\"")) < 0)
			return r;
		return http_reply_text(req, 401, "a valid bearer token is required");
	}
	body = http_request_body(req, &len);
	if (csr_body_decode(body, len, &csr) < 0) {
		log_notice("%s from %s: not a PKCS#10 request", c->cfg->path,
			   http_request_remote_addr(req));
		return http_reply_text(req, 400,
				       "not a PKCS#10 certificate request "
				       "(PEM, base64 or DER expected)");
	}
	r = issuer_issue(c->issuer,
			 &(struct issuer_request){
				 .csr = csr,
				 .profile = c->profile,
				 .requester = http_request_remote_addr(req),
				 .remote_user = token != NULL ? token->name : NULL,
			 },
			 &res);
	if (r == 0)
		r = csr_http_reply_result(c, req, &res);
	issuer_result_clear(&res);
	X509_REQ_free(csr);
	return r;
}
