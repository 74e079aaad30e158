/*
 * crl.h - a CA's certificate revocation list (RFC 5280 section 5), built and signed.
 *
 * crl_build() makes the list, unsigned: issuer, thisUpdate, nextUpdate, the
 * cRLNumber and authorityKeyIdentifier extensions, and one entry per revoked
 * certificate with its revocation date and (unless unspecified) its reasonCode.
 * crl_sign() is the private-key operation alone, so that a caller can run it under
 * the lock of its engine session; it returns the DER to store and serve.
 *
 * libcrypto only: no store, no configuration, no logging.
 */
#ifndef SCEPD_CRL_H
#define SCEPD_CRL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* One revoked certificate. */
struct crl_entry {
	const char *serial; /* upper-case hex, no leading zeros, as the store writes it */
	time_t revoked_at;
	int reason; /* RFC 5280 CRLReason; 0 (unspecified) or -1: no reasonCode extension */
};

struct crl_params {
	X509 *ca;           /* the issuer: its subject and key identifier */
	uint64_t number;    /* cRLNumber; strictly increasing per CA */
	time_t this_update; /* 0: now */
	time_t next_update; /* > this_update */
	const struct crl_entry *entries;
	size_t n_entries;
};

/*
 * The unsigned list: 0 and *ret_crl, -EINVAL (a bad serial, next_update not after
 * this_update, no CA), -ENOMEM.
 */
int crl_build(const struct crl_params *p, X509_CRL **ret_crl);

/*
 * Signs crl with key (the CA's: RSA or EC) and digest md (NULL: SHA-256), then
 * encodes it: 0 and the DER (OPENSSL_malloc'ed: OPENSSL_free() it), -EIO when the
 * key cannot sign (OpenSSL's error queue says why), -ENOMEM.
 */
int crl_sign(X509_CRL *crl, EVP_PKEY *key, const EVP_MD *md, unsigned char **ret_der,
	     size_t *ret_len);

#endif
