/*
 * crl_http.h - GET of a CA's CRL: at cas.NAME.crl.path as DER (application/pkix-crl),
 * at the same path with ".pem" as PEM.
 *
 * The answer carries Last-Modified (thisUpdate), an ETag (the cRLNumber) and
 * Cache-Control max-age up to nextUpdate; If-None-Match with the current ETag gets
 * 304. A CRL that cannot be made (no valid one stored, the token gone) is a 503 with
 * one line of text.
 */
#ifndef SCEPD_CRL_HTTP_H
#define SCEPD_CRL_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "scepd/crl_publish.h"
#include "scepd/http.h"

/* The route's userdata: which CA, which form. */
struct crl_http {
	struct crl_publish *pub;
	size_t ca; /* index in cfg->cas */
	bool pem;
};

int crl_http_handle(struct http_request *req, void *userdata);

#endif
