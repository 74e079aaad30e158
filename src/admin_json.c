/*
 * admin_json.c - the admin API's request bodies: JSON in, checked C structs out.
 *
 * Bodies are parsed by jansson with JSON_REJECT_DUPLICATES (a field given twice is an
 * error, not "the last one wins"), NUL bytes refused. Strings must be UTF-8 without
 * control characters: they reach the store and the audit log. Every message names the
 * field and never quotes a value.
 *
 * Contract: admin_json.h. Never here: HTTP, the store, logging.
 */
#include "scepd/admin_json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

static int
admin_json_fail(struct admin_json_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

/* The body as one JSON object; an empty body is an empty object. */
static int
admin_json_object(const char *body, size_t len, json_t **ret, struct admin_json_error *err)
{
	json_error_t jerr;
	json_t *root;

	if (len == 0) {
		if ((*ret = json_object()) == NULL)
			return -ENOMEM;
		return 0;
	}
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return admin_json_fail(err, "the body is not JSON (at character %d: %s)",
				       jerr.position, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return admin_json_fail(err, "the body is not a JSON object");
	}
	*ret = root;
	return 0;
}

/* A string field of 1..max characters, none a control character. */
static int
admin_json_string(json_t *v, const char *field, size_t max, char *out, size_t size,
		  struct admin_json_error *err)
{
	const char *s;
	size_t len;

	if (!json_is_string(v))
		return admin_json_fail(err, "%s: expected a string", field);
	s = json_string_value(v);
	len = json_string_length(v);
	if (len == 0 || len > max || len >= size || strlen(s) != len)
		return admin_json_fail(err, "%s: 1 to %zu characters", field, max);
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return admin_json_fail(err, "%s: no control characters", field);
	memcpy(out, s, len + 1);
	return 0;
}

int
admin_json_parse_challenge(const char *body, size_t len, struct admin_json_challenge *ret,
			   struct admin_json_error *err)
{
	struct admin_json_challenge c = { .ttl = ADMIN_JSON_TTL_DEFAULT };
	const char *key;
	json_t *root = NULL, *v;
	int r;

	if ((r = admin_json_object(body, len, &root, err)) < 0)
		return r;
	json_object_foreach(root, key, v)
	{
		if (strcmp(key, "ttl") == 0) {
			if (!json_is_integer(v) || json_integer_value(v) < ADMIN_JSON_TTL_MIN ||
			    json_integer_value(v) > ADMIN_JSON_TTL_MAX) {
				r = admin_json_fail(err,
						    "ttl: an integer number of seconds in %d..%d",
						    ADMIN_JSON_TTL_MIN, ADMIN_JSON_TTL_MAX);
				goto out;
			}
			c.ttl = json_integer_value(v);
		} else if (strcmp(key, "owner") == 0) {
			if ((r = admin_json_string(v, "owner", ADMIN_JSON_OWNER_MAX, c.owner,
						   sizeof(c.owner), err)) < 0)
				goto out;
		} else if (strcmp(key, "subject") == 0) {
			if ((r = admin_json_string(v, "subject", ADMIN_JSON_SUBJECT_MAX, c.subject,
						   sizeof(c.subject), err)) < 0)
				goto out;
			if (strchr(c.subject, '=') == NULL) {
				r = admin_json_fail(err, "subject: TYPE=value, in the RFC 2253 "
							 "one-line form (\"CN=device,O=Example\")");
				goto out;
			}
		} else {
			r = admin_json_fail(err, "unknown field '%.64s' (ttl, owner, subject)",
					    key);
			goto out;
		}
	}
	*ret = c;
	r = 0;
out:
	json_decref(root);
	return r;
}

int
admin_json_parse_revoke(const char *body, size_t len, struct admin_json_revoke *ret,
			struct admin_json_error *err)
{
	struct admin_json_revoke rv = { 0 };
	const char *key;
	json_t *root = NULL, *v;
	int r;

	if ((r = admin_json_object(body, len, &root, err)) < 0)
		return r;
	json_object_foreach(root, key, v)
	{
		if (strcmp(key, "reason") == 0) {
			if ((r = admin_json_string(v, "reason", ADMIN_JSON_REASON_MAX, rv.reason,
						   sizeof(rv.reason), err)) < 0)
				goto out;
		} else {
			r = admin_json_fail(err, "unknown field '%.64s' (reason)", key);
			goto out;
		}
	}
	*ret = rv;
	r = 0;
out:
	json_decref(root);
	return r;
}

int
admin_json_parse_none(const char *body, size_t len, struct admin_json_error *err)
{
	const char *key;
	json_t *root = NULL, *v;
	int r;

	if ((r = admin_json_object(body, len, &root, err)) < 0)
		return r;
	json_object_foreach(root, key, v)
	{
		r = admin_json_fail(err, "unknown field '%.64s' (this endpoint takes none)", key);
		break;
	}
	json_decref(root);
	return r;
}
