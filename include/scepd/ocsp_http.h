/*
 * ocsp_http.h - a CA's OCSP responder over HTTP (RFC 6960 appendix A): POST of an
 * OCSPRequest (application/ocsp-request) at cas.NAME.ocsp.path, GET with the request
 * base64- and URL-encoded below it. Always 200 with application/ocsp-response, the
 * OCSP status inside (malformedRequest, tryLater, internalError), except for a POST of
 * another content type (415). A certificate's status comes from the store as it is
 * now: a revocation is answered at once by every worker and node.
 */
#ifndef SCEPD_OCSP_HTTP_H
#define SCEPD_OCSP_HTTP_H

#include <stddef.h>

#include "scepd/config.h"
#include "scepd/http.h"
#include "scepd/issuer.h"

/* The route's userdata. */
struct ocsp_http {
	const struct scepd_config *cfg;
	struct issuer *issuer;
	size_t ca; /* index in cfg->cas */
};

int ocsp_http_handle(struct http_request *req, void *userdata);

#endif
