/*
 * csr_body.h - bytes as clients send a PKCS#10 request -> X509_REQ.
 *
 * Accepts PEM ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST"), DER, and base64
 * of DER with or without line breaks. No HTTP here, so the fuzzer can reach it.
 */
#ifndef SCEPD_CSR_BODY_H
#define SCEPD_CSR_BODY_H

#include <stddef.h>

#include <openssl/x509.h>

/* 0 and the request, or -EBADMSG when the bytes are none of the forms above. */
int csr_body_decode(const void *body, size_t len, X509_REQ **ret_csr);

#endif
