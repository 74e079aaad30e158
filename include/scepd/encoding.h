/*
 * encoding.h - the text forms scepd reads and writes: base64 and hex, the SHA-256
 * hex digest by which secrets (one-time challenges) are stored and compared, and the
 * one-line texts of a name and of a subjectAltName that the store records.
 *
 * One implementation, so that what scepctl stores and what a worker looks up can
 * never disagree. libcrypto only; never logs.
 */
#ifndef SCEPD_ENCODING_H
#define SCEPD_ENCODING_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/asn1.h>
#include <openssl/x509.h>

#define ENCODING_SHA256_HEX_LEN 64

/* Hex of n bytes, lower or upper case, into out, which holds 2 * n + 1 characters. */
void encoding_hex_encode(const unsigned char *bytes, size_t n, bool upper, char *out);

/* The value of one hex digit, either case, or -1. */
int encoding_hex_digit(char c);

/* Exactly 2 * size hex digits (either case) -> size bytes: 0, or -EBADMSG. */
int encoding_hex_decode(const char *hex, unsigned char *out, size_t size);

/*
 * Hex digits (either case) into buf in one case, with leading zeros dropped when
 * strip_zeros ("003a9f" -> "3A9F", "00" -> "0"): 0, -EINVAL when hex is empty or not
 * hex, -ERANGE when buf is too small.
 */
int encoding_hex_normalize(const char *hex, bool upper, bool strip_zeros, char *buf, size_t size);

/*
 * A serial number as the store keeps it: upper-case hex without leading zeros ("-"
 * first when negative), malloc()ed. 0, or -ENOMEM.
 */
int encoding_hex_serial(const ASN1_INTEGER *serial, char **ret_hex);

/* The lower-case hex SHA-256 of text (without its NUL): 0, or -EIO. */
int encoding_sha256_hex(const char *text, char out[ENCODING_SHA256_HEX_LEN + 1]);

/*
 * Base64 (whitespace and line breaks allowed) -> malloc()ed bytes: 0, -EBADMSG when it
 * is not base64 or decodes to nothing, -ENOMEM.
 */
int encoding_base64_decode(const char *text, size_t len, unsigned char **ret_bytes,
			   size_t *ret_len);

/* The RFC 2253 one-line form of name, "CN=device 1,O=Example", malloc()ed. 0, -ENOMEM. */
int encoding_name_text(const X509_NAME *name, char **ret_text);

/*
 * The subjectAltName of cert as OpenSSL prints it, "DNS:a.example, IP Address:192.0.2.1",
 * or "" without one; malloc()ed. 0, -EBADMSG (unprintable), -ENOMEM.
 */
int encoding_sans_text(X509 *cert, char **ret_text);

#endif
