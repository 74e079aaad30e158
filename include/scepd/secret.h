/*
 * secret.h - reading a secret setting: credential:NAME, file:PATH, env:NAME or inline.
 *
 * The PIN, key passphrases, storage.password and the static SCEP challenge all come
 * from here. No ENGINE, no keys: scepctl reads secrets and links no ENGINE code.
 */
#ifndef SCEPD_SECRET_H
#define SCEPD_SECRET_H

#include <stddef.h>

#include "scepd/config.h"

/* Room for the longest secret with its NUL: the size of a buf for secret_read(). */
#define SECRET_MAX 1024

/* Why secret_read() failed, for "FILE:LINE: setting: message". */
struct secret_error {
	char setting[160]; /* the setting passed to secret_read(), e.g. "engine.pin" */
	char message[512]; /* one line that names the source, never the value */
};

/*
 * The secret sec, NUL-terminated in buf, with one trailing "\n" or "\r\n" removed.
 * 0; or, with err filled: -ENOENT not set (no variable, no file, no credentials
 * directory), -EBADMSG empty, too long or holding a NUL byte, -ENAMETOOLONG, -ENOMEM,
 * -EIO unreadable. On failure buf is wiped; on success the caller wipes it
 * (OPENSSL_cleanse).
 */
int secret_read(const struct config_secret *sec, const char *setting, char *buf, size_t size,
		struct secret_error *err);

/*
 * Wipes the value of every environment variable secret_read() read (env:NAME) in this
 * process and unsets it: gone from the environment, from /proc/PID/environ and from
 * what the process may start. A worker calls it once its set-up is done; env: secrets
 * read later fail. Only the supervisor keeps them, for the workers it forks.
 */
void secret_forget_env(void);

#endif
