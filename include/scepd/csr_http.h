/*
 * csr_http.h - the /csr endpoint: POST a PKCS#10 request, get the certificate.
 *
 * Request: PEM, base64 DER or DER, as application/pkcs10, application/x-pem-file,
 * text/plain, application/octet-stream or curl's default form type. Answer: PEM by
 * default, DER for Accept: application/pkix-cert, the certificate and the CA chain as
 * PKCS#7 for Accept: application/pkcs7-mime. csr.auth = "tokens:PATH" asks for
 * "Authorization: Bearer TOKEN" and makes the token's name %{REMOTE_USER}.
 * Errors are one line of text: 400, 401, 403, 413, 415, 503.
 */
#ifndef SCEPD_CSR_HTTP_H
#define SCEPD_CSR_HTTP_H

#include "scepd/config.h"
#include "scepd/http.h"
#include "scepd/issuer.h"

struct csr_http;

/*
 * The endpoint of a csr profile (an index in cfg->profiles). Reads the tokens file of
 * its auth, if any. Returns 0, -ENOENT / -EACCES when it cannot be read, -EBADMSG with
 * *ret_line set when a line is not "name:sha256hex".
 */
int csr_http_new(struct issuer *issuer, size_t profile, struct csr_http **ret, unsigned *ret_line);
void csr_http_free(struct csr_http *c);

/* The route handler; userdata is the struct csr_http. */
int csr_http_handle(struct http_request *req, void *userdata);

#endif
