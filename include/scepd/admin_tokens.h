/*
 * admin_tokens.h - the bearer tokens of the admin API: the tokens file, verifying a
 * presented token, its scopes.
 *
 * A token is "scepd_<ID>_<SECRET>": ID is 8 random bytes as 16 lower-case hex digits
 * (public: it picks the file's line and may be logged), SECRET 32 random bytes in
 * base64url without padding (43 characters). The file keeps one line per token,
 *
 *	NAME:ID:SCOPE[,SCOPE...]:pbkdf2-sha256$ITER$SALT$HASH
 *
 * with SALT (16 bytes) and HASH (32 bytes) in base64 (standard alphabet, padded), HASH
 * = PBKDF2-HMAC-SHA256(the whole token, SALT, ITER). '#' comments and blank lines are
 * allowed. Scopes: "challenge:PROFILE", "challenge:*", "revoke", "approve", "read".
 * Whether PROFILE names a SCEP profile is the caller's business (scepctl).
 *
 * No logging, no HTTP, no configuration here. Secrets are wiped once used.
 */
#ifndef SCEPD_ADMIN_TOKENS_H
#define SCEPD_ADMIN_TOKENS_H

#include <stdbool.h>
#include <stddef.h>

#define ADMIN_TOKENS_NAME_MAX   64 /* characters of a name: [A-Za-z0-9._-] */
#define ADMIN_TOKENS_ID_LEN     16 /* hex digits */
#define ADMIN_TOKENS_ITER       20000
#define ADMIN_TOKENS_ITER_MIN   1000
#define ADMIN_TOKENS_ITER_MAX   10000000
#define ADMIN_TOKENS_SCOPES_MAX 32 /* per token */
/* "scepd_" + ID + "_" + 43 characters, and a NUL. */
#define ADMIN_TOKENS_TOKEN_MAX (6 + ADMIN_TOKENS_ID_LEN + 1 + 43 + 1)

struct admin_tokens;

/* One token of the file, as loaded (never its secret). */
struct admin_token {
	char name[ADMIN_TOKENS_NAME_MAX + 1];
	char id[ADMIN_TOKENS_ID_LEN + 1];
	char *scopes[ADMIN_TOKENS_SCOPES_MAX]; /* as written: "revoke", "challenge:ios" */
	size_t n_scopes;
	unsigned iter;
	unsigned char salt[16];
	unsigned char hash[32];
};

/* Why a file did not load: the line (0: the file as a whole) and what is wrong. */
struct admin_tokens_error {
	unsigned line;
	char message[160];
};

/*
 * Reads and parses the tokens file. 0 and the tokens (maybe none); -ENOENT, -EACCES...
 * (cannot read: err->line 0), -EBADMSG (a malformed line, a duplicate name or ID:
 * err says which and why), -ENOMEM. *ret is written only on success.
 */
int admin_tokens_load(const char *path, struct admin_tokens **ret, struct admin_tokens_error *err);

/* Accepts NULL. */
void admin_tokens_free(struct admin_tokens *t);

size_t admin_tokens_count(const struct admin_tokens *t);
const struct admin_token *admin_tokens_get(const struct admin_tokens *t, size_t i);
/* The token of that name, or NULL. */
const struct admin_token *admin_tokens_by_name(const struct admin_tokens *t, const char *name);

/*
 * The ID of a presented token, when it has the token's form: 0 and the ID in ret_id;
 * -EBADMSG otherwise. Public: for log lines.
 */
int admin_tokens_parse_id(const char *token, char ret_id[ADMIN_TOKENS_ID_LEN + 1]);

/*
 * Which token this is: 0 and the file's token in *ret; -EBADMSG (not a token's form),
 * -ENOENT (no line with its ID), -EACCES (the secret does not match), -EIO. The hashes
 * are compared in constant time. Costs one PBKDF2 of the line's ITER.
 */
int admin_tokens_verify(const struct admin_tokens *t, const char *token,
			const struct admin_token **ret);

/*
 * Whether the token grants scope: "revoke", "approve", "read", or "challenge:PROFILE"
 * (granted by "challenge:PROFILE" and by "challenge:*").
 */
bool admin_token_allows(const struct admin_token *tok, const char *scope);

/*
 * Whether scope is one a token may have (its form only); for "challenge:PROFILE",
 * *ret_profile points at PROFILE ("*" included), else it is NULL.
 */
bool admin_tokens_scope_valid(const char *scope, const char **ret_profile);

/* Whether name is 1..ADMIN_TOKENS_NAME_MAX of [A-Za-z0-9._-]. */
bool admin_tokens_name_valid(const char *name);

/*
 * A new token: the token in ret_token (the caller shows it once, then wipes it) and its
 * file line, without newline, in *ret_line (malloc'ed). scopes[] must be valid
 * (admin_tokens_scope_valid()); iter in ADMIN_TOKENS_ITER_MIN..MAX. 0, -EINVAL, -EIO
 * (no random bytes, PBKDF2 failed), -ENOMEM.
 */
int admin_tokens_new(const char *name, const char *const *scopes, size_t n_scopes, unsigned iter,
		     char ret_token[ADMIN_TOKENS_TOKEN_MAX], char **ret_line);

#endif
