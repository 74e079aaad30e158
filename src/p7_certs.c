/*
 * p7_certs.c - certificates-only PKCS#7 SignedData (see p7_certs.h).
 *
 * Used by the SCEP codec (GetCACert with an RA, the certificates inside a CertRep) and
 * by /csr; neither depends on the other for it. Never signs, never logs.
 */
#include "scepd/p7_certs.h"

#include <errno.h>
#include <stdlib.h>

#include <openssl/pkcs7.h>

int
p7_certs_only(X509 *first, STACK_OF(X509) *rest, unsigned char **ret_der, size_t *ret_len)
{
	unsigned char *der = NULL, *p;
	PKCS7 *p7;
	int n, r = -ENOMEM;

	if (first == NULL && sk_X509_num(rest) < 1)
		return -EINVAL;
	if ((p7 = PKCS7_new()) == NULL || !PKCS7_set_type(p7, NID_pkcs7_signed))
		goto out;
	p7->d.sign->contents->type = OBJ_nid2obj(NID_pkcs7_data);
	if (first != NULL && !PKCS7_add_certificate(p7, first))
		goto out;
	for (int i = 0; i < sk_X509_num(rest); i++)
		if (!PKCS7_add_certificate(p7, sk_X509_value(rest, i)))
			goto out;
	if ((n = i2d_PKCS7(p7, NULL)) <= 0 || (der = malloc((size_t)n)) == NULL)
		goto out;
	p = der;
	if (i2d_PKCS7(p7, &p) != n)
		goto out;
	*ret_der = der;
	*ret_len = (size_t)n;
	der = NULL; /* the caller owns it now */
	r = 0;
out:
	free(der);
	PKCS7_free(p7);
	return r;
}
