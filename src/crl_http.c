/*
 * crl_http.c - a CA's CRL over HTTP (crl_http.h). No decisions here: crl_publish
 * says which list is current.
 */
#include "scepd/crl_http.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "scepd/log.h"

/* An HTTP date (RFC 9110 5.6.7): "Thu, 03 Dec 2026 21:48:18 GMT". */
static void
crl_http_date(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, size, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
		snprintf(buf, size, "Thu, 01 Jan 1970 00:00:00 GMT");
}

/* The PEM form: -----BEGIN X509 CRL-----. */
static int
crl_http_reply_pem(struct http_request *req, const struct crl_published *p)
{
	const unsigned char *q = p->der;
	X509_CRL *crl = d2i_X509_CRL(NULL, &q, (long)p->der_len);
	BIO *bio = NULL;
	char *pem = NULL;
	long len;
	int r = -ENOMEM;

	if (crl != NULL && (bio = BIO_new(BIO_s_mem())) != NULL &&
	    PEM_write_bio_X509_CRL(bio, crl) && (len = BIO_get_mem_data(bio, &pem)) > 0)
		r = http_reply(req, 200, "application/x-pem-file", pem, (size_t)len);
	BIO_free(bio);
	X509_CRL_free(crl);
	return r;
}

static int
crl_http_headers(struct http_request *req, const struct crl_published *p, const char *etag)
{
	char date[64], cache[64];
	time_t now = time(NULL);
	int r;

	crl_http_date(p->this_update, date, sizeof(date));
	snprintf(cache, sizeof(cache), "max-age=%lld",
		 (long long)(p->next_update > now ? p->next_update - now : 0));
	if ((r = http_add_header(req, "Last-Modified", date)) < 0 ||
	    (r = http_add_header(req, "ETag", etag)) < 0)
		return r;
	return http_add_header(req, "Cache-Control", cache);
}

int
crl_http_handle(struct http_request *req, void *userdata)
{
	struct crl_http *h = userdata;
	struct crl_published p = { 0 };
	const char *match = http_request_header(req, "If-None-Match");
	char etag[48];
	int r;

	if ((r = crl_publish_get(h->pub, h->ca, &p)) < 0) {
		log_error_errno(r, "%s: cannot make or read the CRL", http_request_path(req));
		return r == -ENOMEM
			       ? r
			       : http_reply_text(req, 503,
						 "the CRL cannot be made now: try again later");
	}
	snprintf(etag, sizeof(etag), "\"%" PRIu64 "%s\"", p.number, h->pem ? "-pem" : "");
	if ((r = crl_http_headers(req, &p, etag)) < 0)
		goto out;
	if (match != NULL && strcmp(match, etag) == 0)
		r = http_reply(req, 304, NULL, NULL, 0);
	else if (h->pem)
		r = crl_http_reply_pem(req, &p);
	else
		r = http_reply(req, 200, "application/pkix-crl", p.der, p.der_len);
out:
	crl_published_clear(&p);
	return r;
}
