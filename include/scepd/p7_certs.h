/*
 * p7_certs.h - a certificates-only PKCS#7 SignedData ("degenerate", no content and no
 * signer: RFC 5652 5.2, RFC 8894 3.4), the bundle in which SCEP's GetCACert and CertRep
 * and /csr's application/pkcs7-mime answer carry certificates, or a CRL (GetCRL's
 * CertRep). libcrypto only.
 */
#ifndef SCEPD_P7_CERTS_H
#define SCEPD_P7_CERTS_H

#include <stddef.h>

#include <openssl/x509.h>

/*
 * DER of a SignedData holding first (when not NULL), then rest in order; contentType
 * data with the content absent, as `openssl crl2pkcs7` makes it. *ret_der is
 * malloc()ed. 0, -EINVAL with no certificate at all, -ENOMEM.
 */
int p7_certs_only(X509 *first, STACK_OF(X509) *rest, unsigned char **ret_der, size_t *ret_len);

/*
 * DER of a SignedData holding the CRL crl (DER, crl_len bytes) and no certificate,
 * as `openssl crl2pkcs7 -in crl` makes it: what a SCEP GetCRL answer carries
 * (RFC 8894 3.3.4). 0, -EINVAL when crl is not a CRL, -ENOMEM.
 */
int p7_crl_only(const unsigned char *crl, size_t crl_len, unsigned char **ret_der, size_t *ret_len);

#endif
