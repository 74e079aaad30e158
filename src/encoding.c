/*
 * encoding.c - base64 and hex, and the SHA-256 hex digest of a secret.
 *
 * Used by /csr (base64 bodies, token hashes), SCEP (GET message=), the issuer and
 * scepctl (one-time challenges are stored and looked up by encoding_sha256_hex();
 * serials by encoding_hex_serial()), the store (serials and hashes normalised) and
 * keys_token.c (percent-decoding pkcs11: URIs). The one hex encoder and decoder.
 * No state, no logging.
 */
#include "scepd/encoding.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

void
encoding_hex_encode(const unsigned char *bytes, size_t n, bool upper, char *out)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

int
encoding_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
encoding_hex_decode(const char *hex, unsigned char *out, size_t size)
{
	if (strlen(hex) != size * 2)
		return -EBADMSG;
	for (size_t i = 0; i < size; i++) {
		int hi = encoding_hex_digit(hex[2 * i]), lo = encoding_hex_digit(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EBADMSG;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

int
encoding_hex_normalize(const char *hex, bool upper, bool strip_zeros, char *buf, size_t size)
{
	size_t len = strlen(hex), i;

	if (len == 0)
		return -EINVAL;
	for (i = 0; i < len; i++)
		if (encoding_hex_digit(hex[i]) < 0)
			return -EINVAL;
	if (strip_zeros)
		while (len > 1 && hex[0] == '0') {
			hex++;
			len--;
		}
	if (len >= size)
		return -ERANGE;
	for (i = 0; i < len; i++)
		buf[i] = (char)(upper ? toupper((unsigned char)hex[i])
				      : tolower((unsigned char)hex[i]));
	buf[len] = '\0';
	return 0;
}

int
encoding_hex_serial(const ASN1_INTEGER *serial, char **ret_hex)
{
	BIGNUM *bn = NULL;
	char *hex = NULL, *copy;
	int r = -ENOMEM;

	if ((bn = ASN1_INTEGER_to_BN(serial, NULL)) == NULL || (hex = BN_bn2hex(bn)) == NULL)
		goto out;
	/* BN_bn2hex() pads to whole bytes: at most one leading zero, "0" for zero. */
	if ((copy = strdup(hex + (hex[0] == '0' && hex[1] != '\0'))) == NULL)
		goto out;
	*ret_hex = copy;
	r = 0;
out:
	OPENSSL_free(hex);
	BN_free(bn);
	return r;
}

int
encoding_sha256_hex(const char *text, char out[ENCODING_SHA256_HEX_LEN + 1])
{
	unsigned char md[ENCODING_SHA256_HEX_LEN / 2];
	unsigned int md_len = 0;

	if (EVP_Digest(text, strlen(text), md, &md_len, EVP_sha256(), NULL) != 1 ||
	    md_len != sizeof(md))
		return -EIO;
	encoding_hex_encode(md, sizeof(md), false, out);
	return 0;
}

int
encoding_base64_decode(const char *text, size_t len, unsigned char **ret_bytes, size_t *ret_len)
{
	EVP_ENCODE_CTX *ctx = NULL;
	unsigned char *bytes = NULL;
	int n = 0, tail = 0, r = -EBADMSG;

	if (len == 0 || len > INT_MAX / 2) /* EVP_DecodeUpdate takes an int */
		goto out;
	if ((ctx = EVP_ENCODE_CTX_new()) == NULL || (bytes = malloc(len / 4 * 3 + 3)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, bytes, &n, (const unsigned char *)text, (int)len) < 0 ||
	    EVP_DecodeFinal(ctx, bytes + n, &tail) != 1 || n + tail == 0)
		goto out;
	*ret_bytes = bytes;
	*ret_len = (size_t)(n + tail);
	bytes = NULL; /* the caller owns it now */
	r = 0;
out:
	EVP_ENCODE_CTX_free(ctx);
	free(bytes);
	return r;
}

/* What a print function wrote into a memory BIO, as a new string. */
static int
encoding_bio_strdup(BIO *bio, char **ret)
{
	char *data = NULL;
	long len = BIO_get_mem_data(bio, &data);

	if ((*ret = strndup(len > 0 ? data : "", len > 0 ? (size_t)len : 0)) == NULL)
		return -ENOMEM;
	return 0;
}

int
encoding_name_text(const X509_NAME *name, char **ret_text)
{
	BIO *bio;
	int r = -ENOMEM;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return -ENOMEM;
	if (X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0)
		r = encoding_bio_strdup(bio, ret_text);
	BIO_free(bio);
	return r;
}

int
encoding_sans_text(X509 *cert, char **ret_text)
{
	X509_EXTENSION *ext;
	BIO *bio;
	int r = -ENOMEM, idx;

	if ((bio = BIO_new(BIO_s_mem())) == NULL)
		return -ENOMEM;
	idx = X509_get_ext_by_NID(cert, NID_subject_alt_name, -1);
	if (idx >= 0 && (ext = X509_get_ext(cert, idx)) != NULL &&
	    !X509V3_EXT_print(bio, ext, 0, 0)) {
		r = -EBADMSG;
		goto out;
	}
	r = encoding_bio_strdup(bio, ret_text);
out:
	BIO_free(bio);
	return r;
}
