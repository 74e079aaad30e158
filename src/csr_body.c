/*
 * csr_body.c - decode a PKCS#10 request as clients send it: PEM, DER or base64.
 *
 * DER must be one complete request with nothing after it; base64 may carry
 * whitespace and line breaks. Never logs; the caller answers 400 on -EBADMSG.
 */
#include "scepd/csr_body.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "scepd/encoding.h"

static int
csr_body_der(const unsigned char *der, size_t len, X509_REQ **ret_csr)
{
	const unsigned char *p = der;
	X509_REQ *csr;

	if (len > LONG_MAX || (csr = d2i_X509_REQ(NULL, &p, (long)len)) == NULL)
		return -EBADMSG;
	if (p != der + len) { /* trailing bytes: not what was meant */
		X509_REQ_free(csr);
		return -EBADMSG;
	}
	*ret_csr = csr;
	return 0;
}

static int
csr_body_pem(const char *text, size_t len, X509_REQ **ret_csr)
{
	X509_REQ *csr = NULL;
	BIO *bio;

	if (len > INT_MAX || (bio = BIO_new_mem_buf(text, (int)len)) == NULL)
		return -ENOMEM;
	csr = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (csr == NULL)
		return -EBADMSG;
	*ret_csr = csr;
	return 0;
}

static int
csr_body_base64(const char *text, size_t len, X509_REQ **ret_csr)
{
	unsigned char *der = NULL;
	size_t der_len;
	int r;

	if ((r = encoding_base64_decode(text, len, &der, &der_len)) < 0)
		return r;
	r = csr_body_der(der, der_len, ret_csr);
	free(der);
	return r;
}

int
csr_body_decode(const void *body, size_t len, X509_REQ **ret_csr)
{
	const char *text = body;
	size_t skip = 0;
	int r;

	while (skip < len && isspace((unsigned char)text[skip]))
		skip++;
	text += skip;
	len -= skip;
	if (len == 0)
		r = -EBADMSG;
	else if (len >= 10 && memcmp(text, "-----BEGIN", 10) == 0)
		r = csr_body_pem(text, len, ret_csr);
	else if ((unsigned char)text[0] == 0x30)
		r = csr_body_der((const unsigned char *)text, len, ret_csr);
	else
		r = csr_body_base64(text, len, ret_csr);
	ERR_clear_error();
	return r;
}
