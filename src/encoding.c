/*
 * encoding.c - base64 and hex, and the SHA-256 hex digest of a secret.
 *
 * Used by /csr (base64 bodies), SCEP (GET message=), the issuer and scepctl (one-time
 * challenges are stored and looked up by encoding_sha256_hex()). No state, no logging.
 */
#include "scepd/encoding.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

void
encoding_hex(const unsigned char *bytes, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

int
encoding_sha256_hex(const char *text, char out[ENCODING_SHA256_HEX_LEN + 1])
{
	unsigned char md[ENCODING_SHA256_HEX_LEN / 2];
	unsigned int md_len = 0;

	if (EVP_Digest(text, strlen(text), md, &md_len, EVP_sha256(), NULL) != 1 ||
	    md_len != sizeof(md))
		return -EIO;
	encoding_hex(md, sizeof(md), out);
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
