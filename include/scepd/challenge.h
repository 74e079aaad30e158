/*
 * challenge.h - minting one-time challenges (scep.challenge.mode "otp").
 *
 * One place draws a challenge, hashes it as the SCEP side will (encoding_sha256_hex of
 * the characters the device sends) and records the hash: scepctl, the admin API and
 * the NDES page all mint here. The challenge itself is returned once and never stored.
 */
#ifndef SCEPD_CHALLENGE_H
#define SCEPD_CHALLENGE_H

#include <stddef.h>
#include <time.h>

#include "scepd/store.h"

enum challenge_format {
	CHALLENGE_HEX32_LOWER, /* 128 bits as 32 lower-case hex digits (scepctl, admin API) */
	CHALLENGE_HEX16_UPPER, /* 64 bits as 16 upper-case hex digits (the NDES page) */
};

/* The longest challenge any format gives, with its NUL. */
#define CHALLENGE_MAX 33

struct challenge_req {
	const char *profile; /* the SCEP profile it is good for (required) */
	const char *owner;   /* NULL for none */
	const char *subject; /* only a request with this subject may use it; NULL for any */
	long long ttl;       /* seconds, > 0 */
	enum challenge_format format;
};

/*
 * Draws and records a challenge: 0, the challenge in out (NUL-terminated) and its
 * expiry in *ret_expires. -EINVAL (no profile, ttl <= 0), -EIO (no random bytes),
 * or what store_add_challenge() returned. out is wiped on failure; the caller wipes it
 * (OPENSSL_cleanse) once it has been handed on.
 */
int challenge_mint(struct store *st, const struct challenge_req *req, char out[CHALLENGE_MAX],
		   time_t *ret_expires);

#endif
