/*
 * admin_json.h - the JSON request bodies of the admin API, parsed and checked.
 *
 * Each parser takes the whole body (maybe empty: every field is optional), refuses
 * anything but one JSON object, refuses unknown fields and fields of the wrong type
 * or out of range, and names the field in its message. jansson and libc only: no HTTP,
 * no store, no logging (tests/fuzz/fuzz_admin_json.c drives it).
 */
#ifndef SCEPD_ADMIN_JSON_H
#define SCEPD_ADMIN_JSON_H

#include <stddef.h>

#define ADMIN_JSON_TTL_MIN     60
#define ADMIN_JSON_TTL_MAX     604800
#define ADMIN_JSON_TTL_DEFAULT 3600
#define ADMIN_JSON_OWNER_MAX   255 /* as scepctl challenge new --owner */
#define ADMIN_JSON_SUBJECT_MAX 1024
#define ADMIN_JSON_REASON_MAX  32

/* A message for the client, naming the field: "unknown field 'x'". */
struct admin_json_error {
	char message[160];
};

/* POST .../challenges: {"ttl": 3600, "owner": "...", "subject": "CN=..."}. */
struct admin_json_challenge {
	long long ttl;                            /* ADMIN_JSON_TTL_DEFAULT when absent */
	char owner[ADMIN_JSON_OWNER_MAX + 1];     /* "" when absent */
	char subject[ADMIN_JSON_SUBJECT_MAX + 1]; /* "" when absent: any subject */
};

/* POST .../revoke: {"reason": "keyCompromise"}. */
struct admin_json_revoke {
	char reason[ADMIN_JSON_REASON_MAX + 1]; /* "" when absent; the caller maps the name */
};

/*
 * 0 and the fields in *ret; -EBADMSG with err->message (not JSON, not an object, an
 * unknown field, a wrong type or value); -ENOMEM. *ret is written only on success.
 */
int admin_json_parse_challenge(const char *body, size_t len, struct admin_json_challenge *ret,
			       struct admin_json_error *err);
int admin_json_parse_revoke(const char *body, size_t len, struct admin_json_revoke *ret,
			    struct admin_json_error *err);
/* A body that may only be empty or {} (approve, reject): 0, -EBADMSG, -ENOMEM. */
int admin_json_parse_none(const char *body, size_t len, struct admin_json_error *err);

#endif
