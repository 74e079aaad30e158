/*
 * ocsp_cache.c - signed OCSP answers kept for reuse (ocsp_cache.h).
 *
 * A table of OCSP_CACHE_ENTRIES places, the place of a key being its first bytes (the
 * key is a SHA-256: spread evenly); a put replaces whatever was there. Entries are
 * not freed when they age: a get ignores them, a put reuses their place.
 */
#include "scepd/ocsp_cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct ocsp_cache_entry {
	unsigned char digest[32];
	time_t produced;
	unsigned char *der; /* NULL: the place is empty */
	size_t len;
};

struct ocsp_cache {
	pthread_mutex_t lock;
	time_t max_age;
	struct ocsp_cache_entry entries[OCSP_CACHE_ENTRIES];
};

int
ocsp_cache_new(time_t max_age, struct ocsp_cache **ret_cache)
{
	struct ocsp_cache *cache;

	if (max_age < 1)
		return -EINVAL;
	if ((cache = calloc(1, sizeof(*cache))) == NULL)
		return -ENOMEM;
	if (pthread_mutex_init(&cache->lock, NULL) != 0) {
		free(cache);
		return -ENOMEM;
	}
	cache->max_age = max_age;
	*ret_cache = cache;
	return 0;
}

void
ocsp_cache_free(struct ocsp_cache *cache)
{
	if (cache == NULL)
		return;
	for (size_t i = 0; i < OCSP_CACHE_ENTRIES; i++)
		free(cache->entries[i].der);
	pthread_mutex_destroy(&cache->lock);
	free(cache);
}

int
ocsp_cache_key_begin(struct ocsp_cache_key *key)
{
	memset(key, 0, sizeof(*key));
	if ((key->md = EVP_MD_CTX_new()) == NULL)
		return -ENOMEM;
	return EVP_DigestInit_ex(key->md, EVP_sha256(), NULL) == 1 ? 0 : -ENOMEM;
}

int
ocsp_cache_key_add(struct ocsp_cache_key *key, const void *data, size_t len)
{
	return EVP_DigestUpdate(key->md, data, len) == 1 ? 0 : -EIO;
}

int
ocsp_cache_key_end(struct ocsp_cache_key *key)
{
	unsigned int n = 0;

	if (EVP_DigestFinal_ex(key->md, key->digest, &n) != 1 || n != sizeof(key->digest))
		return -EIO;
	return 0;
}

void
ocsp_cache_key_clear(struct ocsp_cache_key *key)
{
	EVP_MD_CTX_free(key->md);
	key->md = NULL;
}

static struct ocsp_cache_entry *
ocsp_cache_place(struct ocsp_cache *cache, const struct ocsp_cache_key *key)
{
	uint32_t h;

	memcpy(&h, key->digest, sizeof(h));
	return &cache->entries[h % OCSP_CACHE_ENTRIES];
}

int
ocsp_cache_get(struct ocsp_cache *cache, const struct ocsp_cache_key *key, time_t now,
	       unsigned char **ret_der, size_t *ret_len, time_t *ret_produced)
{
	struct ocsp_cache_entry *e;
	int r = -ENOENT;

	pthread_mutex_lock(&cache->lock);
	e = ocsp_cache_place(cache, key);
	/* A clock set back makes now < produced: not reused either. */
	if (e->der == NULL || memcmp(e->digest, key->digest, sizeof(e->digest)) != 0 ||
	    now < e->produced || now - e->produced >= cache->max_age)
		goto out;
	if ((*ret_der = malloc(e->len)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(*ret_der, e->der, e->len);
	*ret_len = e->len;
	*ret_produced = e->produced;
	r = 0;
out:
	pthread_mutex_unlock(&cache->lock);
	return r;
}

int
ocsp_cache_put(struct ocsp_cache *cache, const struct ocsp_cache_key *key, time_t produced,
	       const unsigned char *der, size_t len)
{
	struct ocsp_cache_entry *e;
	unsigned char *copy;

	if (len == 0 || len > OCSP_CACHE_DER_MAX)
		return -E2BIG;
	if ((copy = malloc(len)) == NULL)
		return -ENOMEM;
	memcpy(copy, der, len);
	pthread_mutex_lock(&cache->lock);
	e = ocsp_cache_place(cache, key);
	free(e->der);
	memcpy(e->digest, key->digest, sizeof(e->digest));
	e->produced = produced;
	e->der = copy;
	e->len = len;
	pthread_mutex_unlock(&cache->lock);
	return 0;
}
