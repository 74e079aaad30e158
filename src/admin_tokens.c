/*
 * admin_tokens.c - the admin API's bearer tokens: the file, verification, scopes.
 *
 * A line names its token by ID, so that a presented token costs one PBKDF2 (of that
 * line's ITER) and not one per line; the ID is public, the secret is not. The derived
 * hashes are compared with CRYPTO_memcmp(). The stored line holds only the salt and
 * the hash: a stolen file gives no token. Every buffer that held a token is wiped.
 *
 * Contract: admin_tokens.h. Never here: logging, HTTP, the configuration.
 * Errors: -EBADMSG for a malformed line or token, -ENOENT, -EACCES, -EIO, -ENOMEM.
 */
#include "scepd/admin_tokens.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "scepd/encoding.h"

#define ADMIN_TOKENS_PREFIX     "scepd_"
#define ADMIN_TOKENS_SECRET_LEN 43 /* base64url of 32 bytes, no padding */
#define ADMIN_TOKENS_HASH_TAG   "pbkdf2-sha256"
#define ADMIN_TOKENS_LINE_MAX   2048

struct admin_tokens {
	struct admin_token *v;
	size_t n;
};

size_t
admin_tokens_count(const struct admin_tokens *t)
{
	return t != NULL ? t->n : 0;
}

const struct admin_token *
admin_tokens_get(const struct admin_tokens *t, size_t i)
{
	return t != NULL && i < t->n ? &t->v[i] : NULL;
}

const struct admin_token *
admin_tokens_by_name(const struct admin_tokens *t, const char *name)
{
	for (size_t i = 0; t != NULL && i < t->n; i++)
		if (strcmp(t->v[i].name, name) == 0)
			return &t->v[i];
	return NULL;
}

static void
admin_tokens_token_clear(struct admin_token *tok)
{
	for (size_t i = 0; i < tok->n_scopes; i++)
		free(tok->scopes[i]);
	OPENSSL_cleanse(tok, sizeof(*tok));
}

void
admin_tokens_free(struct admin_tokens *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++)
		admin_tokens_token_clear(&t->v[i]);
	free(t->v);
	free(t);
}

bool
admin_tokens_name_valid(const char *name)
{
	size_t i;

	for (i = 0; name[i] != '\0'; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return i > 0 && i <= ADMIN_TOKENS_NAME_MAX;
}

bool
admin_tokens_scope_valid(const char *scope, const char **ret_profile)
{
	static const char *const plain[] = { "revoke", "approve", "read" };
	const char *profile;

	*ret_profile = NULL;
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (strcmp(scope, plain[i]) == 0)
			return true;
	if (strncmp(scope, "challenge:", 10) != 0)
		return false;
	profile = scope + 10;
	/* A profile name as the configuration allows one, or "*". */
	if (strcmp(profile, "*") != 0 && !admin_tokens_name_valid(profile))
		return false;
	*ret_profile = profile;
	return true;
}

bool
admin_token_allows(const struct admin_token *tok, const char *scope)
{
	for (size_t i = 0; i < tok->n_scopes; i++) {
		if (strcmp(tok->scopes[i], scope) == 0)
			return true;
		if (strcmp(tok->scopes[i], "challenge:*") == 0 &&
		    strncmp(scope, "challenge:", 10) == 0)
			return true;
	}
	return false;
}

/* Base64 of exactly n bytes (encoding_base64_decode()); -EBADMSG otherwise, -ENOMEM. */
static int
admin_tokens_b64_decode(const char *text, unsigned char *out, size_t n)
{
	unsigned char *bytes = NULL;
	size_t len = 0;
	int r;

	if ((r = encoding_base64_decode(text, strlen(text), &bytes, &len)) < 0)
		return r;
	if (len == n)
		memcpy(out, bytes, n);
	OPENSSL_clear_free(bytes, len);
	return len == n ? 0 : -EBADMSG;
}

static bool
admin_tokens_is_lower_hex(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return s[n] == '\0' || s[n] == '_' || s[n] == ':';
}

/* "pbkdf2-sha256$ITER$SALT$HASH" into tok. */
static int
admin_tokens_parse_hash(char *text, struct admin_token *tok, const char **ret_why)
{
	char *iter, *salt, *hash, *end;
	unsigned long n;

	iter = strchr(text, '$');
	salt = iter != NULL ? strchr(iter + 1, '$') : NULL;
	hash = salt != NULL ? strchr(salt + 1, '$') : NULL;
	if (hash == NULL || strchr(hash + 1, '$') != NULL) {
		*ret_why = "expected pbkdf2-sha256$ITER$SALT$HASH";
		return -EBADMSG;
	}
	*iter++ = *salt++ = *hash++ = '\0';
	if (strcmp(text, ADMIN_TOKENS_HASH_TAG) != 0) {
		*ret_why = "unknown hash (expected pbkdf2-sha256)";
		return -EBADMSG;
	}
	errno = 0;
	n = strtoul(iter, &end, 10);
	if (iter[0] < '1' || iter[0] > '9' || *end != '\0' || errno != 0 ||
	    n < ADMIN_TOKENS_ITER_MIN || n > ADMIN_TOKENS_ITER_MAX) {
		*ret_why = "the iteration count is not a number in 1000..10000000";
		return -EBADMSG;
	}
	tok->iter = (unsigned)n;
	if (admin_tokens_b64_decode(salt, tok->salt, sizeof(tok->salt)) < 0) {
		*ret_why = "the salt is not 16 bytes in base64";
		return -EBADMSG;
	}
	if (admin_tokens_b64_decode(hash, tok->hash, sizeof(tok->hash)) < 0) {
		*ret_why = "the hash is not 32 bytes in base64";
		return -EBADMSG;
	}
	return 0;
}

/* "a,b,c" into tok->scopes. */
static int
admin_tokens_parse_scopes(char *text, struct admin_token *tok, const char **ret_why)
{
	const char *profile;
	char *save = NULL, *s;

	if (text[0] == '\0' || text[strlen(text) - 1] == ',' || strstr(text, ",,") != NULL) {
		*ret_why = "expected one or more scopes, separated by ','";
		return -EBADMSG;
	}
	for (s = strtok_r(text, ",", &save); s != NULL; s = strtok_r(NULL, ",", &save)) {
		if (!admin_tokens_scope_valid(s, &profile)) {
			*ret_why =
				"unknown scope (challenge:PROFILE, challenge:*, revoke, approve, "
				"read)";
			return -EBADMSG;
		}
		if (tok->n_scopes == ADMIN_TOKENS_SCOPES_MAX) {
			*ret_why = "too many scopes";
			return -EBADMSG;
		}
		if ((tok->scopes[tok->n_scopes] = strdup(s)) == NULL)
			return -ENOMEM;
		tok->n_scopes++;
	}
	return 0;
}

/*
 * One line, without its newline: NAME:ID:SCOPES:HASH. Scopes have a ':' of their own
 * ("challenge:ios"): the hash is what follows the last one.
 */
static int
admin_tokens_parse_line(char *line, struct admin_token *tok, const char **ret_why)
{
	char *f[4];
	int r;

	f[0] = line;
	f[1] = strchr(line, ':');
	f[2] = f[1] != NULL ? strchr(f[1] + 1, ':') : NULL;
	f[3] = f[2] != NULL ? strrchr(f[2] + 1, ':') : NULL;
	if (f[3] == NULL) {
		*ret_why = "expected NAME:ID:SCOPES:pbkdf2-sha256$ITER$SALT$HASH";
		return -EBADMSG;
	}
	for (size_t i = 1; i < 4; i++)
		*f[i]++ = '\0';
	if (!admin_tokens_name_valid(f[0])) {
		*ret_why = "the name is not 1 to 64 of A-Z a-z 0-9 . _ -";
		return -EBADMSG;
	}
	memcpy(tok->name, f[0], strlen(f[0]) + 1); /* valid: at most ADMIN_TOKENS_NAME_MAX */
	if (strlen(f[1]) != ADMIN_TOKENS_ID_LEN ||
	    !admin_tokens_is_lower_hex(f[1], ADMIN_TOKENS_ID_LEN)) {
		*ret_why = "the ID is not 16 lower-case hex digits";
		return -EBADMSG;
	}
	memcpy(tok->id, f[1], ADMIN_TOKENS_ID_LEN + 1);
	if ((r = admin_tokens_parse_scopes(f[2], tok, ret_why)) < 0)
		return r;
	return admin_tokens_parse_hash(f[3], tok, ret_why);
}

static int
admin_tokens_add_line(struct admin_tokens *t, char *line, struct admin_tokens_error *err)
{
	struct admin_token tok = { 0 }, *grown;
	const char *why = NULL;
	int r;

	if ((r = admin_tokens_parse_line(line, &tok, &why)) < 0)
		goto out;
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, tok.name) == 0 || strcmp(t->v[i].id, tok.id) == 0) {
			why = strcmp(t->v[i].name, tok.name) == 0 ? "a second token of this name"
								  : "a second token with this ID";
			r = -EBADMSG;
			goto out;
		}
	if ((grown = reallocarray(t->v, t->n + 1, sizeof(*grown))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	t->v = grown;
	t->v[t->n++] = tok;
	tok = (struct admin_token){ 0 }; /* the list owns it now */
out:
	if (why != NULL)
		snprintf(err->message, sizeof(err->message), "%s", why);
	admin_tokens_token_clear(&tok);
	return r;
}

int
admin_tokens_load(const char *path, struct admin_tokens **ret, struct admin_tokens_error *err)
{
	struct admin_tokens *t = NULL;
	char line[ADMIN_TOKENS_LINE_MAX];
	unsigned lineno = 0;
	FILE *f = NULL;
	int r = 0;

	*err = (struct admin_tokens_error){ 0 };
	if ((f = fopen(path, "re")) == NULL) {
		r = -errno;
		snprintf(err->message, sizeof(err->message), "cannot read: %s", strerror(errno));
		goto out;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t len = strcspn(line, "\r\n");

		lineno++;
		if (line[len] == '\0' && !feof(f)) {
			snprintf(err->message, sizeof(err->message), "line too long");
			r = -EBADMSG;
			break;
		}
		line[len] = '\0';
		if (line[strspn(line, " \t")] == '\0' || line[0] == '#')
			continue;
		if ((r = admin_tokens_add_line(t, line, err)) < 0)
			break;
	}
	if (r == 0 && ferror(f)) {
		r = -EIO;
		snprintf(err->message, sizeof(err->message), "cannot read: %s", strerror(EIO));
	}
	if (r == -EBADMSG)
		err->line = lineno;
	if (r == 0) {
		*ret = t;
		t = NULL;
	}
out:
	OPENSSL_cleanse(line, sizeof(line));
	if (f != NULL)
		fclose(f);
	admin_tokens_free(t);
	return r;
}

static bool
admin_tokens_is_b64url(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_'))
			return false;
	}
	return true;
}

int
admin_tokens_parse_id(const char *token, char ret_id[ADMIN_TOKENS_ID_LEN + 1])
{
	const size_t pre = sizeof(ADMIN_TOKENS_PREFIX) - 1;

	if (strlen(token) != ADMIN_TOKENS_TOKEN_MAX - 1 ||
	    strncmp(token, ADMIN_TOKENS_PREFIX, pre) != 0 ||
	    !admin_tokens_is_lower_hex(token + pre, ADMIN_TOKENS_ID_LEN) ||
	    token[pre + ADMIN_TOKENS_ID_LEN] != '_' ||
	    !admin_tokens_is_b64url(token + pre + ADMIN_TOKENS_ID_LEN + 1, ADMIN_TOKENS_SECRET_LEN))
		return -EBADMSG;
	memcpy(ret_id, token + pre, ADMIN_TOKENS_ID_LEN);
	ret_id[ADMIN_TOKENS_ID_LEN] = '\0';
	return 0;
}

static int
admin_tokens_derive(const char *token, const unsigned char salt[16], unsigned iter,
		    unsigned char out[32])
{
	if (PKCS5_PBKDF2_HMAC(token, (int)strlen(token), salt, 16, (int)iter, EVP_sha256(), 32,
			      out) != 1)
		return -EIO;
	return 0;
}

int
admin_tokens_verify(const struct admin_tokens *t, const char *token, const struct admin_token **ret)
{
	const struct admin_token *tok = NULL;
	char id[ADMIN_TOKENS_ID_LEN + 1];
	unsigned char hash[32];
	int r;

	if ((r = admin_tokens_parse_id(token, id)) < 0)
		return r;
	for (size_t i = 0; t != NULL && i < t->n && tok == NULL; i++) /* the ID is public */
		if (strcmp(t->v[i].id, id) == 0)
			tok = &t->v[i];
	if (tok == NULL)
		return -ENOENT;
	if ((r = admin_tokens_derive(token, tok->salt, tok->iter, hash)) < 0)
		goto out;
	if (CRYPTO_memcmp(hash, tok->hash, sizeof(hash)) != 0) {
		r = -EACCES;
		goto out;
	}
	*ret = tok;
out:
	OPENSSL_cleanse(hash, sizeof(hash));
	return r;
}

int
admin_tokens_new(const char *name, const char *const *scopes, size_t n_scopes, unsigned iter,
		 char ret_token[ADMIN_TOKENS_TOKEN_MAX], char **ret_line)
{
	unsigned char id[8], secret[32], salt[16], hash[32];
	char id_hex[ADMIN_TOKENS_ID_LEN + 1], b64[64], salt_b64[32], hash_b64[48];
	char token[ADMIN_TOKENS_TOKEN_MAX], *list = NULL, *line = NULL;
	const char *profile;
	size_t len = 0, used = 0;
	int r;

	if (!admin_tokens_name_valid(name) || n_scopes == 0 || n_scopes > ADMIN_TOKENS_SCOPES_MAX ||
	    iter < ADMIN_TOKENS_ITER_MIN || iter > ADMIN_TOKENS_ITER_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n_scopes; i++) {
		if (!admin_tokens_scope_valid(scopes[i], &profile))
			return -EINVAL;
		len += strlen(scopes[i]) + 1;
	}
	if ((list = malloc(len)) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < n_scopes; i++)
		used += (size_t)snprintf(list + used, len - used, "%s%s", i > 0 ? "," : "",
					 scopes[i]);
	if (RAND_bytes(id, sizeof(id)) != 1 || RAND_bytes(secret, sizeof(secret)) != 1 ||
	    RAND_bytes(salt, sizeof(salt)) != 1) {
		r = -EIO;
		goto out;
	}
	encoding_hex_encode(id, sizeof(id), false, id_hex);
	EVP_EncodeBlock((unsigned char *)b64, secret, sizeof(secret));
	for (char *c = b64; *c != '\0'; c++) /* base64url, no padding */
		*c = *c == '+' ? '-' : *c == '/' ? '_' : *c == '=' ? '\0' : *c;
	b64[ADMIN_TOKENS_SECRET_LEN] = '\0';
	snprintf(token, sizeof(token), ADMIN_TOKENS_PREFIX "%.16s_%.43s", id_hex, b64);
	if ((r = admin_tokens_derive(token, salt, iter, hash)) < 0)
		goto out;
	EVP_EncodeBlock((unsigned char *)salt_b64, salt, sizeof(salt));
	EVP_EncodeBlock((unsigned char *)hash_b64, hash, sizeof(hash));
	if (asprintf(&line, "%s:%s:%s:" ADMIN_TOKENS_HASH_TAG "$%u$%s$%s", name, id_hex, list, iter,
		     salt_b64, hash_b64) < 0) {
		line = NULL;
		r = -ENOMEM;
		goto out;
	}
	memcpy(ret_token, token, sizeof(token));
	*ret_line = line;
	r = 0;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(b64, sizeof(b64));
	OPENSSL_cleanse(token, sizeof(token));
	OPENSSL_cleanse(hash, sizeof(hash));
	free(list);
	return r;
}
