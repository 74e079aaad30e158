/*
 * ocsp_http.h - a CA's OCSP responder over HTTP (RFC 6960 appendix A): POST of an
 * OCSPRequest (application/ocsp-request) at cas.NAME.ocsp.path, GET with the request
 * base64- and URL-encoded below it. Always 200 with application/ocsp-response, the
 * OCSP status inside (malformedRequest, tryLater, internalError), except for a POST of
 * another content type (415). A certificate's status comes from the store as it is
 * now: a revocation is answered at once by every worker and node. A signed answer to a
 * request without nonce is reused for the same request while every status in it
 * holds, for at most ca.ocsp.cache seconds (ocsp_cache.h).
 */
#ifndef SCEPD_OCSP_HTTP_H
#define SCEPD_OCSP_HTTP_H

#include <stddef.h>

#include "scepd/config.h"
#include "scepd/http.h"
#include "scepd/issuer.h"
#include "scepd/ocsp_cache.h"

/* The route's userdata. */
struct ocsp_http {
	const struct scepd_config *cfg;
	struct issuer *issuer;
	size_t ca;                /* index in cfg->cas */
	struct ocsp_cache *cache; /* owned; NULL: every answer is signed anew */
};

int ocsp_http_handle(struct http_request *req, void *userdata);

#endif
