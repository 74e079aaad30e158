/*
 * encoding.h - the text forms scepd reads and writes: base64 and hex, and the SHA-256
 * hex digest by which secrets (one-time challenges) are stored and compared.
 *
 * One implementation, so that what scepctl stores and what a worker looks up can
 * never disagree. libcrypto only; never logs.
 */
#ifndef SCEPD_ENCODING_H
#define SCEPD_ENCODING_H

#include <stddef.h>

#define ENCODING_SHA256_HEX_LEN 64

/* Lower-case hex of n bytes into out, which holds 2 * n + 1 characters. */
void encoding_hex(const unsigned char *bytes, size_t n, char *out);

/* The lower-case hex SHA-256 of text (without its NUL): 0, or -EIO. */
int encoding_sha256_hex(const char *text, char out[ENCODING_SHA256_HEX_LEN + 1]);

/*
 * Base64 (whitespace and line breaks allowed) -> malloc()ed bytes: 0, -EBADMSG when it
 * is not base64 or decodes to nothing, -ENOMEM.
 */
int encoding_base64_decode(const char *text, size_t len, unsigned char **ret_bytes,
			   size_t *ret_len);

#endif
