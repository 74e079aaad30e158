/*
 * ratelimit.h - how many refusals one client address may cost per minute.
 *
 * A refused but authentic SCEP request is answered with a FAILURE CertRep that the RA
 * key signs, a private-key operation (slow on a smartcard): one address must not keep
 * the key busy. Each address has a token bucket: per_minute tokens at most (the
 * burst), per_minute tokens back every 60 seconds. A fixed table of addresses, made by
 * ratelimit_new() and never grown; when it has no room for a new address, that
 * address is refused. Thread-safe. No HTTP, no logging, no allocation after
 * ratelimit_new().
 */
#ifndef SCEPD_RATELIMIT_H
#define SCEPD_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The longest address kept, with its NUL: INET6_ADDRSTRLEN, a '%' and a zone name. */
#define RATELIMIT_ADDR_MAX 64

struct ratelimit;

/*
 * per_minute refusals allowed per address (the burst; as many tokens come back per
 * 60 s), 0: no limit. capacity: how many addresses are tracked (e.g. 4096), at least
 * 1 unless per_minute is 0. 0, -EINVAL, -ENOMEM, or -EIO when no random seed could be
 * had.
 */
int ratelimit_new(unsigned per_minute, size_t capacity, struct ratelimit **ret);

/* NULL is fine. */
void ratelimit_free(struct ratelimit *rl);

/*
 * Whether addr (a printable address, "192.0.2.7", "::1") may be given one more
 * refusal at now (CLOCK_MONOTONIC seconds, passed in for tests); when true, one token
 * is taken. False also when the table has no room for addr, or addr is
 * RATELIMIT_ADDR_MAX bytes or longer: a CA refuses first.
 */
bool ratelimit_take(struct ratelimit *rl, const char *addr, double now);

/*
 * Whether addr has no token left at now, so that the caller can refuse before any
 * key work; takes nothing and records nothing. True when ratelimit_take() would be
 * false.
 */
bool ratelimit_exhausted(struct ratelimit *rl, const char *addr, double now);

/*
 * libcrypto's SipHash-2-4 of data with a 16-byte key, read as the table reads it (0 when
 * libcrypto fails): here for the published test vectors.
 */
uint64_t ratelimit_siphash(const unsigned char key[16], const void *data, size_t len);

#endif
