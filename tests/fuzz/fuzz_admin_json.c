/*
 * fuzz_admin_json.c - libFuzzer target for the admin API's JSON bodies
 * (admin_json.c): the first byte picks the parser ('r' revoke, 'n' none, anything
 * else challenge), the rest is the body as it arrives. A parse that succeeds must give
 * values within their bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scepd/admin_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct admin_json_challenge c;
	struct admin_json_revoke rv;
	struct admin_json_error err;
	const char *body = (const char *)data + 1;

	if (size == 0)
		return 0;
	if (data[0] == 'n') {
		(void)admin_json_parse_none(body, size - 1, &err);
	} else if (data[0] == 'r') {
		if (admin_json_parse_revoke(body, size - 1, &rv, &err) == 0 &&
		    strlen(rv.reason) > ADMIN_JSON_REASON_MAX)
			abort();
	} else if (admin_json_parse_challenge(body, size - 1, &c, &err) == 0 &&
		   (c.ttl < ADMIN_JSON_TTL_MIN || c.ttl > ADMIN_JSON_TTL_MAX ||
		    strlen(c.owner) > ADMIN_JSON_OWNER_MAX ||
		    strlen(c.subject) > ADMIN_JSON_SUBJECT_MAX)) {
		abort();
	}
	return 0;
}
