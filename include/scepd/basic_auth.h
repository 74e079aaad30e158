/*
 * basic_auth.h - the user and password of an "Authorization: Basic ..." header
 * (RFC 7617). libc only: no HTTP server, no hashing, so a fuzz target drives it alone.
 *
 * The scheme is matched without regard to case and followed by one or more spaces,
 * then standard base64 (RFC 4648 section 4, padding optional, nothing after it) of
 * "user:password". The user ends at the first ':' and may not be empty; the password
 * is the rest and may be. Neither may hold a control character (RFC 7617 section 2):
 * the user goes to the log.
 */
#ifndef SCEPD_BASIC_AUTH_H
#define SCEPD_BASIC_AUTH_H

#include <stddef.h>

#define BASIC_AUTH_USER_MAX     128 /* with its NUL */
#define BASIC_AUTH_PASSWORD_MAX 256 /* with its NUL */

struct basic_auth {
	char user[BASIC_AUTH_USER_MAX];
	char password[BASIC_AUTH_PASSWORD_MAX];
};

/*
 * Parse the value of an Authorization header. Returns 0 with *ret filled; -ENOENT when
 * value is NULL or names another scheme (Bearer, NTLM, Negotiate); -EBADMSG for
 * malformed base64, no ':', an empty user or a control character; -E2BIG when the
 * user or the password does not fit. *ret is wiped on failure.
 */
int basic_auth_parse(const char *value, struct basic_auth *ret);

/* Wipe the password (and the user) once they have been checked. */
void basic_auth_clear(struct basic_auth *a);

#endif
