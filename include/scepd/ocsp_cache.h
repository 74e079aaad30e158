/*
 * ocsp_cache.h - signed OCSP answers kept for reuse, one cache per responder and worker.
 *
 * An answer to a request without a nonce may serve the same request again (RFC 5019
 * 2.1.1, 6.2): the cache saves the signature, the costly part of an answer. The key is
 * made by the caller from the request's DER and the status of every certificate as the
 * store had it when the answer was made (ocsp_cache_key_*), so a revocation changes
 * the key: an answer is never reused once a status in it is no longer current. Entries
 * live at most max_age seconds after they were produced; the cache holds at most
 * OCSP_CACHE_ENTRIES of them (a newer one replaces an older one in its place).
 *
 * Safe for the request threads of one worker (one mutex, held to copy an entry).
 * libcrypto's SHA-256 for the key; no HTTP, store, configuration or logging.
 */
#ifndef SCEPD_OCSP_CACHE_H
#define SCEPD_OCSP_CACHE_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>

#define OCSP_CACHE_ENTRIES 1024
#define OCSP_CACHE_DER_MAX 16384 /* larger answers are not kept */

struct ocsp_cache;

/* A cache whose answers are reused for at most max_age (>= 1) seconds: 0, -ENOMEM. */
int ocsp_cache_new(time_t max_age, struct ocsp_cache **ret_cache);

/* Accepts NULL. */
void ocsp_cache_free(struct ocsp_cache *cache);

/* The key of one answer, hashed incrementally: begin, add each part, end. */
struct ocsp_cache_key {
	EVP_MD_CTX *md;
	unsigned char digest[32];
};

/* 0, or -ENOMEM; ocsp_cache_key_clear() afterwards in every case. */
int ocsp_cache_key_begin(struct ocsp_cache_key *key);
/* 0, or -EIO (then the key is unusable: do not cache). */
int ocsp_cache_key_add(struct ocsp_cache_key *key, const void *data, size_t len);
int ocsp_cache_key_end(struct ocsp_cache_key *key);
void ocsp_cache_key_clear(struct ocsp_cache_key *key);

/*
 * A copy of the answer kept under key (ended) and produced less than max_age seconds
 * before now: 0, *ret_der (malloc()ed), *ret_len and *ret_produced; -ENOENT when there
 * is none, -ENOMEM.
 */
int ocsp_cache_get(struct ocsp_cache *cache, const struct ocsp_cache_key *key, time_t now,
		   unsigned char **ret_der, size_t *ret_len, time_t *ret_produced);

/* Keeps a copy of der, produced at produced, under key: 0, -E2BIG, -ENOMEM. */
int ocsp_cache_put(struct ocsp_cache *cache, const struct ocsp_cache_key *key, time_t produced,
		   const unsigned char *der, size_t len);

#endif
