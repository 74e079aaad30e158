/*
 * ocsp_http.c - the OCSP responder's HTTP side (ocsp_http.h): the request's bytes to
 * ocsp_resp, the status of each serial from the store, the signature under the
 * issuer's key lock, or a signed answer reused from the cache.
 *
 * The cache key hashes the request's DER and, in the order looked up, each serial with
 * the status the store gave it: the statuses are looked up for every request, cached
 * or not, so a revocation makes the next answer a new one at once.
 */
#include "scepd/ocsp_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ocsp.h>

#include "scepd/log.h"
#include "scepd/ocsp_cache.h"
#include "scepd/ocsp_resp.h"
#include "scepd/store.h"

#define OCSP_HTTP_TYPE "application/ocsp-response"

/* One request's lookups: the responder, and the cache key they add to. */
struct ocsp_http_lookup {
	const struct ocsp_http *h;
	struct ocsp_cache_key *key; /* NULL: the answer is not cached */
	int key_error;              /* the key could not take a status: not cached */
};

/* serial and its status into the cache key. */
static void
ocsp_http_key_add(struct ocsp_http_lookup *lk, const char *serial_hex,
		  const struct ocsp_resp_status *st)
{
	long long fields[3] = { st->status, (long long)st->revoked_at, st->reason };

	if (lk->key == NULL || lk->key_error < 0)
		return;
	if ((lk->key_error = ocsp_cache_key_add(lk->key, serial_hex, strlen(serial_hex) + 1)) < 0)
		return;
	lk->key_error = ocsp_cache_key_add(lk->key, fields, sizeof(fields));
}

/* The status of serial of this CA, as the store has it now. */
static int
ocsp_http_lookup(const char *serial_hex, struct ocsp_resp_status *ret, void *userdata)
{
	struct ocsp_http_lookup *lk = userdata;
	const struct ocsp_http *h = lk->h;
	struct store_cert *rec = NULL;
	int r;

	r = store_get_cert(issuer_get0_store(h->issuer), serial_hex, &rec);
	if (r == -ENOENT) {
		*ret = (struct ocsp_resp_status){ .status = OCSP_RESP_CERT_UNKNOWN, .reason = -1 };
		ocsp_http_key_add(lk, serial_hex, ret);
		return 0;
	}
	if (r < 0) {
		log_error_errno(r, "OCSP: cannot look up serial %s", serial_hex);
		return r;
	}
	if (rec->ca == NULL || strcmp(rec->ca, h->cfg->cas[h->ca].name) != 0)
		*ret = (struct ocsp_resp_status){ .status = OCSP_RESP_CERT_UNKNOWN, .reason = -1 };
	else if (rec->revoked_at != 0)
		*ret = (struct ocsp_resp_status){ .status = OCSP_RESP_CERT_REVOKED,
						  .revoked_at = rec->revoked_at,
						  .reason = rec->revocation_reason };
	else
		*ret = (struct ocsp_resp_status){ .status = OCSP_RESP_CERT_GOOD, .reason = -1 };
	store_cert_free(rec);
	ocsp_http_key_add(lk, serial_hex, ret);
	return 0;
}

/* What the signing op needs and makes. */
struct ocsp_http_sign {
	struct ocsp_resp_prep *prep;
	unsigned char *der;
	size_t len;
};

static int
ocsp_http_sign_op(X509 *signer, EVP_PKEY *key, void *arg, bool *ret_failed)
{
	struct ocsp_http_sign *s = arg;
	int r = ocsp_resp_sign(s->prep, signer, key, &s->der, &s->len);

	*ret_failed = r == -EIO;
	return r;
}

static int
ocsp_http_reply_status(struct http_request *req, int status)
{
	unsigned char *der = NULL;
	size_t len = 0;
	int r;

	if ((r = ocsp_resp_error(status, &der, &len)) < 0)
		return r;
	r = http_reply(req, 200, OCSP_HTTP_TYPE, der, len);
	free(der);
	return r;
}

/* The request's DER: the POST body, or the GET path below the responder's. */
static int
ocsp_http_request_der(const struct ocsp_http *h, struct http_request *req, unsigned char **ret_der,
		      size_t *ret_len, bool *ret_get)
{
	const char *base = h->cfg->cas[h->ca].ocsp.path, *path = http_request_path(req);
	const char *type = http_request_header(req, "Content-Type");
	const void *body;
	size_t len;

	*ret_get = http_request_method(req) != HTTP_POST;
	if (*ret_get) {
		path += strlen(base);
		path += path[0] == '/';
		return ocsp_resp_decode_get(path, ret_der, ret_len);
	}
	if (type == NULL || strncasecmp(type, "application/ocsp-request", 24) != 0)
		return -EMEDIUMTYPE;
	body = http_request_body(req, &len);
	if ((*ret_der = malloc(len > 0 ? len : 1)) == NULL)
		return -ENOMEM;
	memcpy(*ret_der, body, len);
	*ret_len = len;
	return 0;
}

/*
 * The signed answer of s->prep, reused from the cache when key (ended, or NULL: no
 * reuse) finds one there, else signed now and kept under key. 0 with s->der and
 * *ret_this_update, or the signing's error.
 */
static int
ocsp_http_answer(const struct ocsp_http *h, struct ocsp_http_sign *s,
		 const struct ocsp_cache_key *key, time_t *ret_this_update)
{
	int r;

	*ret_this_update = ocsp_resp_prep_this_update(s->prep);
	if (key != NULL &&
	    ocsp_cache_get(h->cache, key, *ret_this_update, &s->der, &s->len, ret_this_update) == 0)
		return 0;
	if ((r = issuer_with_ocsp_key(h->issuer, h->ca, ocsp_http_sign_op, s)) < 0)
		return r;
	/* Not kept (too big, no memory): the next one is signed anew, nothing worse. */
	if (key != NULL)
		(void)ocsp_cache_put(h->cache, key, *ret_this_update, s->der, s->len);
	return 0;
}

int
ocsp_http_handle(struct http_request *req, void *userdata)
{
	struct ocsp_http *h = userdata;
	const struct config_ca *ca = &h->cfg->cas[h->ca];
	struct ocsp_http_sign s = { 0 };
	struct ocsp_cache_key key = { 0 };
	struct ocsp_http_lookup lk = { .h = h };
	unsigned char *der = NULL;
	size_t len = 0;
	time_t this_update = 0;
	long max_age;
	char cache_control[48];
	bool get = false, reuse;
	int r, status;

	ERR_clear_error();
	if ((r = ocsp_http_request_der(h, req, &der, &len, &get)) == -EMEDIUMTYPE)
		return http_reply_text(req, 415,
				       "send the OCSP request as application/ocsp-request");
	if (r == -EBADMSG) {
		log_notice("OCSP from %s: not a request", http_request_remote_addr(req));
		return ocsp_http_reply_status(req, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	}
	if (r < 0)
		return r;
	if (issuer_get0_ca_cert(h->issuer, h->ca) == NULL) {
		r = ocsp_http_reply_status(req, OCSP_RESPONSE_STATUS_TRYLATER);
		goto out;
	}
	if (h->cache != NULL && ocsp_cache_key_begin(&key) == 0 &&
	    ocsp_cache_key_add(&key, der, len) == 0)
		lk.key = &key;
	r = ocsp_resp_prepare(
		&(struct ocsp_resp_params){ .ca = issuer_get0_ca_cert(h->issuer, h->ca),
					    .next_update_secs = ca->crl.refresh,
					    .lookup = ocsp_http_lookup,
					    .userdata = &lk },
		der, len, &s.prep);
	if (r < 0)
		goto out;
	status = ocsp_resp_prep_status(s.prep);
	if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		r = ocsp_resp_sign(s.prep, NULL, NULL, &s.der, &s.len); /* unsigned: no key */
	} else {
		reuse = lk.key != NULL && lk.key_error == 0 && ocsp_resp_prep_reusable(s.prep) &&
			ocsp_cache_key_end(&key) == 0;
		r = ocsp_http_answer(h, &s, reuse ? &key : NULL, &this_update);
	}
	if (r == -EAGAIN || r == -EIO) {
		log_error_errno(r, "OCSP: cannot sign the response");
		r = ocsp_http_reply_status(req, r == -EAGAIN ? OCSP_RESPONSE_STATUS_TRYLATER
							     : OCSP_RESPONSE_STATUS_INTERNALERROR);
		goto out;
	}
	if (r < 0)
		goto out;
	/* A GET answer may be cached until its nextUpdate (RFC 5019 6.2). */
	max_age = (long)ca->crl.refresh - (long)(time(NULL) - this_update);
	snprintf(cache_control, sizeof(cache_control), "max-age=%ld", max_age > 0 ? max_age : 0);
	if (get && status == OCSP_RESPONSE_STATUS_SUCCESSFUL &&
	    (r = http_add_header(req, "Cache-Control", cache_control)) < 0)
		goto out;
	r = http_reply(req, 200, OCSP_HTTP_TYPE, s.der, s.len);
out:
	ocsp_cache_key_clear(&key);
	ocsp_resp_prep_free(s.prep);
	free(s.der);
	free(der);
	ERR_clear_error();
	return r;
}
