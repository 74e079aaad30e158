/*
 * p7_certs.c - certificates-only and CRL-only PKCS#7 SignedData (see p7_certs.h).
 *
 * Used by the SCEP codec (GetCACert with an RA, the certificates inside a CertRep) and
 * by /csr; neither depends on the other for it. Never signs, never logs.
 */
#include "scepd/p7_certs.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include <openssl/pkcs7.h>

/* An empty degenerate SignedData: contentType data, content absent. */
static PKCS7 *
p7_certs_new(void)
{
	PKCS7 *p7;

	if ((p7 = PKCS7_new()) == NULL || !PKCS7_set_type(p7, NID_pkcs7_signed)) {
		PKCS7_free(p7);
		return NULL;
	}
	p7->d.sign->contents->type = OBJ_nid2obj(NID_pkcs7_data);
	return p7;
}

static int
p7_certs_encode(PKCS7 *p7, unsigned char **ret_der, size_t *ret_len)
{
	unsigned char *der, *p;
	int n;

	if ((n = i2d_PKCS7(p7, NULL)) <= 0 || (der = malloc((size_t)n)) == NULL)
		return -ENOMEM;
	p = der;
	if (i2d_PKCS7(p7, &p) != n) {
		free(der);
		return -ENOMEM;
	}
	*ret_der = der; /* the caller owns it now */
	*ret_len = (size_t)n;
	return 0;
}

int
p7_certs_only(X509 *first, STACK_OF(X509) *rest, unsigned char **ret_der, size_t *ret_len)
{
	PKCS7 *p7;
	int r = -ENOMEM;

	if (first == NULL && sk_X509_num(rest) < 1)
		return -EINVAL;
	if ((p7 = p7_certs_new()) == NULL)
		goto out;
	if (first != NULL && !PKCS7_add_certificate(p7, first))
		goto out;
	for (int i = 0; i < sk_X509_num(rest); i++)
		if (!PKCS7_add_certificate(p7, sk_X509_value(rest, i)))
			goto out;
	r = p7_certs_encode(p7, ret_der, ret_len);
out:
	PKCS7_free(p7);
	return r;
}

int
p7_crl_only(const unsigned char *crl, size_t crl_len, unsigned char **ret_der, size_t *ret_len)
{
	const unsigned char *p = crl;
	X509_CRL *x = NULL;
	PKCS7 *p7 = NULL;
	int r = -EINVAL;

	if (crl == NULL || crl_len == 0 || crl_len > LONG_MAX ||
	    (x = d2i_X509_CRL(NULL, &p, (long)crl_len)) == NULL || p != crl + crl_len)
		goto out;
	r = -ENOMEM;
	if ((p7 = p7_certs_new()) == NULL || !PKCS7_add_crl(p7, x))
		goto out;
	r = p7_certs_encode(p7, ret_der, ret_len);
out:
	PKCS7_free(p7);
	X509_CRL_free(x);
	return r;
}
