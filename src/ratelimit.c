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
 *	(linear probing). The hash is SipHash-2-4 keyed with 16 bytes from RAND_bytes()
 *	per table, so a client cannot choose addresses that pile up on one slot. Slots
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
 *	A client with many addresses (an IPv6 prefix) can fill the table and so have
 *	the refusals of everyone else refused until its buckets refill; the caller may
 *	pass an IPv6 client's /64 prefix as its address.
 */
#include "scepd/ratelimit.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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
	unsigned char key[16]; /* of the hash */
	struct ratelimit_slot *slots;
};

static uint64_t
ratelimit_rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

static uint64_t
ratelimit_le64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

static void
ratelimit_sipround(uint64_t v[4])
{
	v[0] += v[1];
	v[1] = ratelimit_rotl(v[1], 13) ^ v[0];
	v[0] = ratelimit_rotl(v[0], 32);
	v[2] += v[3];
	v[3] = ratelimit_rotl(v[3], 16) ^ v[2];
	v[0] += v[3];
	v[3] = ratelimit_rotl(v[3], 21) ^ v[0];
	v[2] += v[1];
	v[1] = ratelimit_rotl(v[1], 17) ^ v[2];
	v[2] = ratelimit_rotl(v[2], 32);
}

/* Two rounds per 8-byte word, the last word padded and holding len mod 256, four rounds. */
uint64_t
ratelimit_siphash(const unsigned char key[16], const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t k0 = ratelimit_le64(key), k1 = ratelimit_le64(key + 8);
	uint64_t v[4] = {
		k0 ^ UINT64_C(0x736f6d6570736575),
		k1 ^ UINT64_C(0x646f72616e646f6d),
		k0 ^ UINT64_C(0x6c7967656e657261),
		k1 ^ UINT64_C(0x7465646279746573),
	};
	uint64_t m;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		m = ratelimit_le64(p + i);
		v[3] ^= m;
		ratelimit_sipround(v);
		ratelimit_sipround(v);
		v[0] ^= m;
	}
	m = (uint64_t)(len & 0xff) << 56;
	for (size_t j = 0; i + j < len; j++)
		m |= (uint64_t)p[i + j] << (8 * j);
	v[3] ^= m;
	ratelimit_sipround(v);
	ratelimit_sipround(v);
	v[0] ^= m;
	v[2] ^= 0xff;
	for (int r = 0; r < 4; r++)
		ratelimit_sipround(v);
	return v[0] ^ v[1] ^ v[2] ^ v[3];
}

int
ratelimit_new(unsigned per_minute, size_t capacity, struct ratelimit **ret)
{
	struct ratelimit *rl = NULL;
	int r;

	if (per_minute > 0 && capacity == 0)
		return -EINVAL;
	if ((rl = calloc(1, sizeof(*rl))) == NULL ||
	    (per_minute > 0 && (rl->slots = calloc(capacity, sizeof(*rl->slots))) == NULL)) {
		r = -ENOMEM;
		goto out;
	}
	if (per_minute > 0 && RAND_bytes(rl->key, sizeof(rl->key)) != 1) {
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
	if (rl != NULL) {
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
	size_t start = ratelimit_siphash(rl->key, addr, len) % rl->capacity;
	size_t probes = rl->capacity < RATELIMIT_PROBES ? rl->capacity : RATELIMIT_PROBES;
	struct ratelimit_slot *room = NULL;

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
	*ret_found = false;
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
