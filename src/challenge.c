/*
 * challenge.c - draws one-time challenges and records their SHA-256 in the store.
 */
#include "scepd/challenge.h"

#include <errno.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "scepd/encoding.h"

int
challenge_mint(struct store *st, const struct challenge_req *req, char out[CHALLENGE_MAX],
	       time_t *ret_expires)
{
	unsigned char raw[16];
	char hash[ENCODING_SHA256_HEX_LEN + 1];
	size_t n = req->format == CHALLENGE_HEX16_UPPER ? 8 : 16;
	time_t now = time(NULL);
	int r;

	if (req->profile == NULL || req->ttl <= 0) {
		r = -EINVAL;
		goto out;
	}
	if (RAND_bytes(raw, (int)n) != 1) {
		r = -EIO;
		goto out;
	}
	encoding_hex_encode(raw, n, req->format == CHALLENGE_HEX16_UPPER, out);
	if ((r = encoding_sha256_hex(out, hash)) < 0)
		goto out;
	r = store_add_challenge(st, &(struct store_challenge){
					    .secret_hash = hash,
					    .owner = req->owner,
					    .profile = req->profile,
					    .subject = req->subject,
					    .created_at = now,
					    .expires_at = now + (time_t)req->ttl,
				    });
	if (r < 0)
		goto out;
	*ret_expires = now + (time_t)req->ttl;
out:
	if (r < 0)
		OPENSSL_cleanse(out, CHALLENGE_MAX);
	OPENSSL_cleanse(raw, sizeof(raw));
	return r;
}
