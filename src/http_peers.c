/*
 * http_peers.c - how many connections each client address holds open in one worker.
 *
 * SYNOPSIS
 *	#include "scepd/http_peers.h"
 *
 *	http_peers_new(limit, connections, &peers)
 *	http_peers_add(peers, addr)
 *	http_peers_remove(peers, addr)
 *	http_peers_free(peers)
 *
 * DESCRIPTION
 *	An open-addressing table with linear probing: a power of two at least twice
 *	the connections a worker may hold, so at most half full, and an address with
 *	no connection left is taken out at once (the entries after it that probed past
 *	its slot move back: backward-shift deletion), so a search ends at the first
 *	empty slot and the table never fills with the dead. Keys are 16 bytes, IPv4 as
 *	::ffff:a.b.c.d. The hash mixes the key with 16 random bytes per table, so a
 *	client cannot choose addresses that land in one run of slots. One mutex covers
 *	the table: the accepting thread adds, the request threads remove.
 *
 * DIAGNOSTICS
 *	http_peers_new() returns 0, -EINVAL (a limit or a size of 0), -ENOMEM, or the
 *	errno of getrandom() or pthread_mutex_init(). The rest cannot fail: an address
 *	that is not IPv4 or IPv6 is refused, and one more address than the table holds
 *	(which a worker's connection limit does not let happen) too.
 */
#include "scepd/http_peers.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

struct http_peers_slot {
	unsigned char addr[16];
	unsigned count; /* 0: empty */
};

struct http_peers {
	pthread_mutex_t lock; /* covers slots */
	unsigned limit;
	size_t mask; /* slots - 1, slots a power of two */
	size_t used; /* slots with a count */
	uint64_t seed[2];
	struct http_peers_slot *slots;
};

/* The address as 16 bytes (IPv4 mapped into IPv6); false when it is neither. */
static bool
http_peers_key(const struct sockaddr *addr, unsigned char key[16])
{
	static const unsigned char v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (addr == NULL)
		return false;
	if (addr->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)addr)->sin6_addr, 16);
		return true;
	}
	if (addr->sa_family == AF_INET) {
		memcpy(key, v4_mapped, sizeof(v4_mapped));
		memcpy(key + 12, &((const struct sockaddr_in *)addr)->sin_addr, 4);
		return true;
	}
	return false;
}

/* splitmix64's finaliser: every bit of x moves every bit of the result. */
static uint64_t
http_peers_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static size_t
http_peers_home(const struct http_peers *peers, const unsigned char key[16])
{
	uint64_t a, b;

	memcpy(&a, key, 8);
	memcpy(&b, key + 8, 8);
	return (size_t)(http_peers_mix(a ^ peers->seed[0]) ^
			http_peers_mix(http_peers_mix(b ^ peers->seed[1]))) &
	       peers->mask;
}

/* The slot that holds key, or the empty slot that ends its search. Under lock. */
static size_t
http_peers_find(const struct http_peers *peers, const unsigned char key[16])
{
	size_t i = http_peers_home(peers, key);

	while (peers->slots[i].count > 0 && memcmp(peers->slots[i].addr, key, 16) != 0)
		i = (i + 1) & peers->mask;
	return i;
}

/*
 * Empties slot i and moves back each entry after it whose home lies at or before
 * the hole (cyclically), so that every entry stays reachable from its home without
 * crossing an empty slot. Under lock.
 */
static void
http_peers_vacate(struct http_peers *peers, size_t i)
{
	size_t j = i;

	for (;;) {
		size_t home;

		peers->slots[i].count = 0;
		do {
			j = (j + 1) & peers->mask;
			if (peers->slots[j].count == 0)
				return;
			home = http_peers_home(peers, peers->slots[j].addr);
			/* The entry at j stays when its home lies cyclically in (i, j]. */
		} while (i <= j ? (i < home && home <= j) : (i < home || home <= j));
		peers->slots[i] = peers->slots[j];
		i = j;
	}
}

int
http_peers_new(unsigned limit, unsigned connections, struct http_peers **ret)
{
	struct http_peers *peers;
	size_t slots = 2;
	int r;

	if (limit == 0 || connections == 0)
		return -EINVAL;
	while (slots < 2 * (size_t)connections)
		slots *= 2;
	if ((peers = calloc(1, sizeof(*peers))) == NULL)
		return -ENOMEM;
	peers->limit = limit;
	peers->mask = slots - 1;
	if ((peers->slots = calloc(slots, sizeof(*peers->slots))) == NULL) {
		r = -ENOMEM;
		goto fail;
	}
	if (getrandom(peers->seed, sizeof(peers->seed), 0) != (ssize_t)sizeof(peers->seed)) {
		r = -errno;
		goto fail;
	}
	if ((r = -pthread_mutex_init(&peers->lock, NULL)) < 0)
		goto fail;
	*ret = peers;
	return 0;
fail:
	free(peers->slots);
	free(peers);
	return r;
}

bool
http_peers_add(struct http_peers *peers, const struct sockaddr *addr)
{
	unsigned char key[16];
	bool ok = false;
	size_t i;

	if (!http_peers_key(addr, key))
		return false;
	pthread_mutex_lock(&peers->lock);
	i = http_peers_find(peers, key);
	if (peers->slots[i].count > 0) {
		ok = peers->slots[i].count < peers->limit;
		peers->slots[i].count += ok;
	} else if (peers->used < peers->mask) { /* one slot stays empty: searches end */
		memcpy(peers->slots[i].addr, key, 16);
		peers->slots[i].count = 1;
		peers->used++;
		ok = true;
	}
	pthread_mutex_unlock(&peers->lock);
	return ok;
}

void
http_peers_remove(struct http_peers *peers, const struct sockaddr *addr)
{
	unsigned char key[16];
	size_t i;

	if (!http_peers_key(addr, key))
		return;
	pthread_mutex_lock(&peers->lock);
	i = http_peers_find(peers, key);
	if (peers->slots[i].count > 1) {
		peers->slots[i].count--;
	} else if (peers->slots[i].count == 1) {
		http_peers_vacate(peers, i);
		peers->used--;
	}
	pthread_mutex_unlock(&peers->lock);
}

unsigned
http_peers_count(struct http_peers *peers, const struct sockaddr *addr)
{
	unsigned char key[16];
	unsigned count;

	if (!http_peers_key(addr, key))
		return 0;
	pthread_mutex_lock(&peers->lock);
	count = peers->slots[http_peers_find(peers, key)].count;
	pthread_mutex_unlock(&peers->lock);
	return count;
}

void
http_peers_free(struct http_peers *peers)
{
	if (peers == NULL)
		return;
	pthread_mutex_destroy(&peers->lock);
	free(peers->slots);
	free(peers);
}
