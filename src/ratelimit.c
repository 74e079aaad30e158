/*
 * ratelimit.c - how many refusals one client address may cost per minute.
 *
 * SYNOPSIS
 *	#include "scepd/ratelimit.h"
 *
 *	ratelimit_new(per_minute, capacity, &rl)
 *	ratelimit_take(rl, addr, now)
 *	ratelimit_exhausted(rl, addr, now)
 *	ratelimit_free(rl)
 *
 * DESCRIPTION
 *	A token bucket per address: it holds per_minute tokens when full and gains
 *	per_minute tokens per 60 seconds of the caller's clock, computed when the
 *	address is next seen (nothing runs in the background). ratelimit_take() spends
 *	a token, ratelimit_exhausted() only looks. A clock that goes back refills
 *	nothing.
 *
 *	The buckets live in one array of capacity slots, made by ratelimit_new(): no
 *	allocation afterwards, so a flood of addresses costs no memory. An address is
 *	looked for in at most RATELIMIT_PROBES slots from the one its hash names
 *	(linear probing). The hash is libcrypto's SipHash-2-4 keyed with 16 bytes from
 *	RAND_bytes() per table, so a client cannot choose addresses that pile up on one
 *	slot. Slots
 *	are never emptied, only reused: a slot whose bucket is full again tells nothing
 *	its address would not be told anew, and goes to the next new address that
 *	probes it. Because no slot turns empty, an empty slot ends the search. When
 *	every slot probed holds another address with tokens spent, the new address is
 *	refused: better a refusal than a private-key operation for a stranger.
 *
 *	One mutex covers the table; an operation holds it for at most RATELIMIT_PROBES
 *	slots. No HTTP, no clock of its own, never logs.
 *
 * DIAGNOSTICS
 *	ratelimit_new() returns 0 or -EINVAL (capacity 0 with a limit), -ENOMEM, -EIO
 *	(no random seed), the errno of pthread_mutex_init(). The rest cannot fail: an
 *	address that is empty or too long is refused, like one that finds no room.
 *
 * BUGS
 *	A client with many addresses can fill the table and so have the refusals of
 *	everyone else refused until its buckets refill; scep_http.c passes an IPv6
 *	client's /64 as its address, so that a prefix counts once.
 */
#include "scepd/ratelimit.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* Slots searched for one address: enough for a table kept below three quarters full. */
#define RATELIMIT_PROBES 32

struct ratelimit_slot {
	double tokens;                 /* at last */
	double last;                   /* the caller's clock, seconds */
	char addr[RATELIMIT_ADDR_MAX]; /* "": never used */
};

struct ratelimit {
	pthread_mutex_t lock; /* covers slots */
	unsigned per_minute;  /* 0: no limit, and no table */
	size_t capacity;
	EVP_MAC_CTX *mac;     /* SipHash, keyed at random; used under lock */
	struct ratelimit_slot *slots;
};

/*
 * SipHash-2-4 (libcrypto's) of data into 64 bits, little-endian as the paper reads its
 * output. key: 16 bytes, or NULL to keep the one mac was last keyed with. 0, -EIO.
 */
static int
ratelimit_mac(EVP_MAC_CTX *mac, const unsigned char *key, const void *data, size_t len,
	      uint64_t *ret_hash)
{
	size_t size = 8, out_len = 0;
	OSSL_PARAM params[] = { OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
				OSSL_PARAM_construct_end() };
	unsigned char out[8];
	uint64_t h = 0;

	if (!EVP_MAC_init(mac, key, key != NULL ? 16 : 0, params) ||
	    !EVP_MAC_update(mac, data, len) || !EVP_MAC_final(mac, out, &out_len, sizeof(out)) ||
	    out_len != sizeof(out))
		return -EIO;
	for (int i = 7; i >= 0; i--)
		h = (h << 8) | out[i];
	*ret_hash = h;
	return 0;
}

static EVP_MAC_CTX *
ratelimit_mac_new(void)
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
	EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;

	EVP_MAC_free(mac); /* the context keeps its own reference */
	return ctx;
}

uint64_t
ratelimit_siphash(const unsigned char key[16], const void *data, size_t len)
{
	EVP_MAC_CTX *mac = ratelimit_mac_new();
	uint64_t h = 0;

	if (mac != NULL)
		(void)ratelimit_mac(mac, key, data, len, &h);
	EVP_MAC_CTX_free(mac);
	return h;
}

int
ratelimit_new(unsigned per_minute, size_t capacity, struct ratelimit **ret)
{
	struct ratelimit *rl = NULL;
	unsigned char key[16];
	uint64_t ignored;
	int r;

	if (per_minute > 0 && capacity == 0)
		return -EINVAL;
	if ((rl = calloc(1, sizeof(*rl))) == NULL ||
	    (per_minute > 0 && (rl->slots = calloc(capacity, sizeof(*rl->slots))) == NULL)) {
		r = -ENOMEM;
		goto out;
	}
	/* The hash's key: random per table, so that no client can aim at one slot. */
	if (per_minute > 0 &&
	    ((rl->mac = ratelimit_mac_new()) == NULL || RAND_bytes(key, sizeof(key)) != 1 ||
	     ratelimit_mac(rl->mac, key, "", 0, &ignored) < 0)) {
		r = -EIO;
		goto out;
	}
	if ((r = -pthread_mutex_init(&rl->lock, NULL)) < 0)
		goto out;
	rl->per_minute = per_minute;
	rl->capacity = capacity;
	*ret = rl;
	rl = NULL; /* the caller owns it now */
	r = 0;
out:
	OPENSSL_cleanse(key, sizeof(key));
	if (rl != NULL) {
		EVP_MAC_CTX_free(rl->mac);
		free(rl->slots);
		free(rl);
	}
	return r;
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	pthread_mutex_destroy(&rl->lock);
	EVP_MAC_CTX_free(rl->mac);
	free(rl->slots);
	free(rl);
}

/* The length of addr, or 0 when it is not one to keep (NULL, empty, too long). */
static size_t
ratelimit_addr_len(const char *addr)
{
	size_t len;

	if (addr == NULL || (len = strnlen(addr, RATELIMIT_ADDR_MAX)) == RATELIMIT_ADDR_MAX)
		return 0;
	return len;
}

/* The tokens of slot s at now, refilled. */
static double
ratelimit_level(const struct ratelimit *rl, const struct ratelimit_slot *s, double now)
{
	double tokens = s->tokens;

	if (now > s->last)
		tokens += (now - s->last) * rl->per_minute / 60.0;
	return tokens < rl->per_minute ? tokens : rl->per_minute;
}

/*
 * The slot of addr (*ret_found), else the first probed slot that is empty or whose
 * bucket is full again, else NULL: the table has no room for addr. Called locked.
 */
static struct ratelimit_slot *
ratelimit_find(struct ratelimit *rl, const char *addr, size_t len, double now, bool *ret_found)
{
	size_t probes = rl->capacity < RATELIMIT_PROBES ? rl->capacity : RATELIMIT_PROBES;
	struct ratelimit_slot *room = NULL;
	uint64_t hash;
	size_t start;

	*ret_found = false;
	if (ratelimit_mac(rl->mac, NULL, addr, len, &hash) < 0)
		return NULL; /* no room, as far as anyone can tell: refused */
	start = hash % rl->capacity;
	for (size_t i = 0; i < probes; i++) {
		struct ratelimit_slot *s = &rl->slots[(start + i) % rl->capacity];

		if (s->addr[0] == '\0') {
			/* never used: addr was not put further on */
			if (room == NULL)
				room = s;
			break;
		}
		if (memcmp(s->addr, addr, len + 1) == 0) {
			*ret_found = true;
			return s;
		}
		if (room == NULL && ratelimit_level(rl, s, now) >= rl->per_minute)
			room = s;
	}
	return room;
}

bool
ratelimit_take(struct ratelimit *rl, const char *addr, double now)
{
	struct ratelimit_slot *s;
	bool found, ok = false;
	size_t len;

	if (rl->per_minute == 0)
		return true;
	if ((len = ratelimit_addr_len(addr)) == 0)
		return false;
	pthread_mutex_lock(&rl->lock);
	if ((s = ratelimit_find(rl, addr, len, now, &found)) == NULL)
		goto out;
	if (found) {
		s->tokens = ratelimit_level(rl, s, now);
		if (now > s->last)
			s->last = now;
	} else {
		memcpy(s->addr, addr, len + 1);
		s->tokens = rl->per_minute;
		s->last = now;
	}
	if (s->tokens >= 1) {
		s->tokens -= 1;
		ok = true;
	}
out:
	pthread_mutex_unlock(&rl->lock);
	return ok;
}

bool
ratelimit_exhausted(struct ratelimit *rl, const char *addr, double now)
{
	struct ratelimit_slot *s;
	bool found, exhausted;
	size_t len;

	if (rl->per_minute == 0)
		return false;
	if ((len = ratelimit_addr_len(addr)) == 0)
		return true;
	pthread_mutex_lock(&rl->lock);
	s = ratelimit_find(rl, addr, len, now, &found);
	exhausted = s == NULL || (found && ratelimit_level(rl, s, now) < 1);
	pthread_mutex_unlock(&rl->lock);
	return exhausted;
}
