/*
 * htpasswd.c - a users file of crypt(3) hashes (htpasswd.h): read once, checked with
 * libcrypt's crypt_rn() and a constant-time comparison.
 *
 * A hash is judged by its form when the file is read (its prefix, the length and the
 * alphabet of its last field), not by hashing: a bcrypt hash of cost 12 takes a quarter
 * of a second, and every worker and `scepd -t` read the file. libcrypt still refuses a
 * setting it cannot use when a password is checked: that is a refusal.
 *
 * Never here: HTTP, logging, the configuration.
 */
#include "scepd/htpasswd.h"

#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "scepd/basic_auth.h"

#define HTPASSWD_USE                                                                               \
	"; use yescrypt ($y$), SHA-512 ($6$) or bcrypt ($2b$, $2y$): mkpasswd, "                   \
	"openssl passwd -6 or htpasswd -B"

struct htpasswd_user {
	char *name;
	char *hash;
	unsigned line;
};

struct htpasswd {
	struct htpasswd_user *v;
	size_t n;
};

/* The hashes taken: a prefix and the length of the last '$' field (the hash proper). */
static const struct {
	const char *prefix;
	size_t hash_len;
} htpasswd_kinds[] = {
	{ "$y$", 43 },
	{ "$6$", 86 },
	{ "$2b$", 53 }, /* the 22 characters of salt run into the hash: "$2b$12$" + 53 */
	{ "$2y$", 53 },
};

/* Those refused with a name, so that the message says what to change. */
static const struct {
	const char *prefix;
	const char *what;
} htpasswd_weak[] = {
	{ "$1$", "an MD5 crypt hash ($1$) is too weak" },
	{ "$apr1$", "an Apache MD5 hash ($apr1$) is too weak" },
	{ "{SHA}", "a {SHA} hash is too weak" },
	{ "$5$", "a SHA-256 crypt hash ($5$) is not supported" },
	{ "$2a$", "a bcrypt hash of the old $2a$ kind is not supported" },
};

static bool
htpasswd_crypt64(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strchr("./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
			   s[i]) == NULL ||
		    s[i] == '\0')
			return false;
	return true;
}

/* NULL when hash is of a kind taken, else why not. */
static const char *
htpasswd_judge(const char *hash)
{
	const char *last = strrchr(hash, '$');

	for (size_t i = 0; i < sizeof(htpasswd_kinds) / sizeof(htpasswd_kinds[0]); i++) {
		size_t plen = strlen(htpasswd_kinds[i].prefix);

		if (strncmp(hash, htpasswd_kinds[i].prefix, plen) != 0)
			continue;
		if (last == NULL || last < hash + plen ||
		    strlen(last + 1) != htpasswd_kinds[i].hash_len ||
		    !htpasswd_crypt64(last + 1, strlen(last + 1)))
			return "a malformed hash (cut short, or not as mkpasswd, openssl passwd "
			       "or htpasswd write it)";
		return NULL;
	}
	for (size_t i = 0; i < sizeof(htpasswd_weak) / sizeof(htpasswd_weak[0]); i++)
		if (strncmp(hash, htpasswd_weak[i].prefix, strlen(htpasswd_weak[i].prefix)) == 0)
			return htpasswd_weak[i].what;
	if (strlen(hash) == 13 && htpasswd_crypt64(hash, 13))
		return "a DES crypt hash is too weak";
	return "not a supported hash (a password in plain text?)";
}

static bool
htpasswd_name_ok(const char *name)
{
	if (name[0] == '\0' || strlen(name) >= BASIC_AUTH_USER_MAX)
		return false;
	for (const unsigned char *c = (const unsigned char *)name; *c != '\0'; c++)
		if (*c < 0x20 || *c == 0x7f)
			return false;
	return true;
}

/* One line without its newline: 0, or -EBADMSG with err->message filled. */
static int
htpasswd_add(struct htpasswd *h, char *line, unsigned lineno, struct htpasswd_error *err)
{
	struct htpasswd_user *grown;
	char *colon = strchr(line, ':');
	const char *why;

	if (colon == NULL) {
		snprintf(err->message, sizeof(err->message), "expected name:hash");
		return -EBADMSG;
	}
	*colon = '\0';
	if (!htpasswd_name_ok(line)) {
		snprintf(err->message, sizeof(err->message),
			 "the name is empty, longer than %d bytes or holds a control character",
			 BASIC_AUTH_USER_MAX - 1);
		return -EBADMSG;
	}
	if ((why = htpasswd_judge(colon + 1)) != NULL) {
		snprintf(err->message, sizeof(err->message), "%s: %s%s", line, why, HTPASSWD_USE);
		return -EBADMSG;
	}
	for (size_t i = 0; i < h->n; i++)
		if (strcmp(h->v[i].name, line) == 0) {
			snprintf(err->message, sizeof(err->message),
				 "%s: listed before, on line %u", line, h->v[i].line);
			return -EBADMSG;
		}
	if ((grown = realloc(h->v, (h->n + 1) * sizeof(*grown))) == NULL)
		return -ENOMEM;
	h->v = grown;
	h->v[h->n] = (struct htpasswd_user){ .name = strdup(line),
					     .hash = strdup(colon + 1),
					     .line = lineno };
	if (h->v[h->n].name == NULL || h->v[h->n].hash == NULL) {
		free(h->v[h->n].name);
		free(h->v[h->n].hash);
		return -ENOMEM;
	}
	h->n++;
	return 0;
}

int
htpasswd_load(const char *path, struct htpasswd **ret, struct htpasswd_error *err)
{
	struct htpasswd *h = NULL;
	char *line = NULL;
	size_t size = 0;
	unsigned lineno = 0;
	ssize_t len;
	FILE *f = NULL;
	int r = 0;

	*err = (struct htpasswd_error){ 0 };
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if ((f = fopen(path, "re")) == NULL) {
		r = -errno;
		snprintf(err->message, sizeof(err->message), "cannot read %s: %s", path,
			 strerror(errno));
		goto out;
	}
	while ((len = getline(&line, &size, f)) >= 0) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if ((r = htpasswd_add(h, line, lineno, err)) < 0) {
			err->line = lineno;
			goto out;
		}
	}
	if (ferror(f)) {
		r = -EIO;
		snprintf(err->message, sizeof(err->message), "cannot read %s: %s", path,
			 strerror(EIO));
		goto out;
	}
	if (h->n == 0) {
		r = -EBADMSG;
		snprintf(err->message, sizeof(err->message),
			 "%s lists no users: every request would be refused", path);
		goto out;
	}
	*ret = h;
	h = NULL;
out:
	if (r == -ENOMEM && err->message[0] == '\0')
		snprintf(err->message, sizeof(err->message), "%s", strerror(ENOMEM));
	if (line != NULL)
		explicit_bzero(line, size);
	free(line);
	if (f != NULL)
		fclose(f);
	htpasswd_free(h);
	return r;
}

void
htpasswd_free(struct htpasswd *h)
{
	if (h == NULL)
		return;
	for (size_t i = 0; i < h->n; i++) {
		free(h->v[i].name);
		free(h->v[i].hash);
	}
	free(h->v);
	free(h);
}

bool
htpasswd_verify(const struct htpasswd *h, const char *user, const char *password)
{
	const struct htpasswd_user *found = NULL;
	struct crypt_data *data;
	const char *hashed;
	size_t len;
	bool ok;

	for (size_t i = 0; i < h->n; i++) /* no early exit: the same time for every name */
		if (strcmp(h->v[i].name, user) == 0)
			found = &h->v[i];
	if ((data = calloc(1, sizeof(*data))) == NULL)
		return false;
	/* An unknown user costs a hash too, against the first user's (a real setting). */
	hashed = crypt_rn(password, found != NULL ? found->hash : h->v[0].hash, data,
			  (int)sizeof(*data));
	ok = found != NULL && hashed != NULL && hashed[0] != '*' &&
	     (len = strlen(found->hash)) == strlen(hashed) &&
	     CRYPTO_memcmp(hashed, found->hash, len) == 0;
	explicit_bzero(data, sizeof(*data));
	free(data);
	return ok;
}
