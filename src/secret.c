/*
 * secret.c - a secret setting read from its source: credential:NAME (systemd's
 * $CREDENTIALS_DIRECTORY), file:PATH, env:NAME, or the value inline.
 *
 *	secret_read() returns the value with one trailing newline removed and wipes
 *	what it read when it fails; the caller wipes the value once used. An env:
 *	variable is remembered, and secret_forget_env() wipes and unsets every one
 *	read, once the worker's set-up is done.
 *
 * Never here: the value in a message or a log line (errors name the setting and the
 * source), the ENGINE or keys (scepctl links this and no ENGINE code), logging.
 *
 * Errors: see secret.h.
 */
#include "scepd/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "scepd/fileio.h"

static void secret_fail(struct secret_error *err, const char *setting, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
secret_fail(struct secret_error *err, const char *setting, const char *fmt, ...)
{
	va_list ap;

	snprintf(err->setting, sizeof(err->setting), "%s", setting);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	/* One line, whatever a path or a variable name holds. */
	for (char *c = err->message; *c != '\0'; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
}

static int
secret_read_file(const char *path, char *buf, size_t size, size_t *ret_len)
{
	int fd, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return -errno;
	if ((r = fileio_read(fd, buf, size, ret_len)) == 0 && *ret_len == size)
		r = -EFBIG;
	close(fd);
	return r;
}

/*
 * The names of the env: secrets this process read, for secret_forget_env(). Set-up
 * runs on one thread, before HTTP starts.
 */
static char **secret_env_names;
static size_t secret_n_env_names;
static bool secret_env_forgotten;

static int
secret_env_remember(const char *name)
{
	char **v, *copy;

	for (size_t i = 0; i < secret_n_env_names; i++)
		if (strcmp(secret_env_names[i], name) == 0)
			return 0;
	if ((copy = strdup(name)) == NULL)
		return -ENOMEM;
	if ((v = realloc(secret_env_names, (secret_n_env_names + 1) * sizeof(*v))) == NULL) {
		free(copy);
		return -ENOMEM;
	}
	secret_env_names = v;
	secret_env_names[secret_n_env_names++] = copy;
	return 0;
}

/*
 * Removes every NAME=value of environ, as unsetenv() would, after wiping it: unsetenv()
 * alone only unlinks the string, whose bytes stay where they were, and
 * /proc/PID/environ shows the initial ones (the top of the stack) whatever environ says.
 */
static void
secret_env_wipe(const char *name)
{
	size_t len = strlen(name);
	char **src, **dst;

	if (environ == NULL)
		return;
	for (src = dst = environ; *src != NULL; src++) {
		if (strncmp(*src, name, len) == 0 && (*src)[len] == '=')
			OPENSSL_cleanse(*src, strlen(*src));
		else
			*dst++ = *src;
	}
	*dst = NULL;
}

void
secret_forget_env(void)
{
	for (size_t i = 0; i < secret_n_env_names; i++)
		secret_env_wipe(secret_env_names[i]);
	secret_env_forgotten = true;
}

/* The value of sec, not yet trimmed, into buf; *ret_len its length. */
static int
secret_fetch(const struct config_secret *sec, const char *setting, char *buf, size_t size,
	     size_t *ret_len, struct secret_error *err)
{
	char path[4096];
	const char *dir, *v;
	size_t len = 0;
	int r;

	switch (sec->kind) {
	case CONFIG_SECRET_CREDENTIAL:
		dir = getenv("CREDENTIALS_DIRECTORY");
		if (dir == NULL || dir[0] == '\0') {
			secret_fail(err, setting,
				    "credential:%s needs $CREDENTIALS_DIRECTORY, which is not set "
				    "(systemd's LoadCredential=)",
				    sec->ref);
			return -ENOENT;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, sec->ref) >= sizeof(path)) {
			secret_fail(err, setting, "the credential's path is too long");
			return -ENAMETOOLONG;
		}
		r = secret_read_file(path, buf, size - 1, &len);
		break;
	case CONFIG_SECRET_FILE:
		snprintf(path, sizeof(path), "%s", sec->ref);
		r = secret_read_file(path, buf, size - 1, &len);
		break;
	case CONFIG_SECRET_ENV:
		if ((v = getenv(sec->ref)) == NULL) {
			secret_fail(err, setting, "the environment variable %s is %s", sec->ref,
				    secret_env_forgotten ? "cleared once set-up was done"
							 : "not set");
			return -ENOENT;
		}
		if (secret_env_remember(sec->ref) < 0) {
			secret_fail(err, setting, "out of memory");
			return -ENOMEM;
		}
		len = strlen(v);
		if (len >= size) {
			secret_fail(err, setting, "the environment variable %s is too long",
				    sec->ref);
			return -EBADMSG;
		}
		memcpy(buf, v, len);
		r = 0;
		break;
	case CONFIG_SECRET_INLINE:
		len = strlen(sec->ref);
		if (len >= size) {
			secret_fail(err, setting, "the value is too long");
			return -EBADMSG;
		}
		memcpy(buf, sec->ref, len);
		r = 0;
		break;
	case CONFIG_SECRET_NONE:
	default:
		secret_fail(err, setting, "not set");
		return -ENOENT;
	}
	if (r == -EFBIG) {
		secret_fail(err, setting, "%s is longer than %zu bytes", path, size - 2);
		return -EBADMSG;
	}
	if (r < 0) {
		secret_fail(err, setting, "cannot read %s: %s", path, strerror(-r));
		return r == -ENOENT ? -ENOENT : -EIO;
	}
	*ret_len = len;
	return 0;
}

int
secret_read(const struct config_secret *sec, const char *setting, char *buf, size_t size,
	    struct secret_error *err)
{
	size_t len = 0;
	int r;

	if ((r = secret_fetch(sec, setting, buf, size, &len, err)) < 0)
		goto out;
	if (len > 0 && buf[len - 1] == '\n') {
		len--;
		if (len > 0 && buf[len - 1] == '\r')
			len--;
	}
	buf[len] = '\0';
	if (len == 0) {
		secret_fail(err, setting, "the secret is empty");
		r = -EBADMSG;
		goto out;
	}
	if (memchr(buf, '\0', len) != NULL) {
		secret_fail(err, setting, "the secret contains a NUL byte");
		r = -EBADMSG;
		goto out;
	}
	r = 0;
out:
	if (r < 0)
		OPENSSL_cleanse(buf, size);
	return r;
}
