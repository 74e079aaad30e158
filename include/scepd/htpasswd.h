/*
 * htpasswd.h - a users file of "name:hash" lines, as `htpasswd -B` and
 * `openssl passwd -6` write them, and password checks against it.
 *
 * The hash is a crypt(3) hash of a strong kind: yescrypt ($y$), SHA-512 ($6$) or
 * bcrypt ($2b$, $2y$). DES, MD5 ($1$), Apache MD5 ($apr1$), {SHA} and plain text
 * are refused when the file is read, each with its line. '#' comments and blank lines
 * are skipped; a name is listed once and holds no ':'. A file without users is an
 * error (the page would refuse everyone).
 *
 * htpasswd_verify() takes about the same time for a user not in the file as for one
 * in it: the password is hashed against the first user's hash all the same.
 * Reading the file is the caller's business to report; nothing here logs.
 */
#ifndef SCEPD_HTPASSWD_H
#define SCEPD_HTPASSWD_H

#include <stdbool.h>

struct htpasswd;

/* Why a file was refused: line 0 for the file as a whole (it cannot be read, no users). */
struct htpasswd_error {
	unsigned line;
	char message[384];
};

/*
 * Read path. Returns 0 and the users in *ret; -ENOENT, -EACCES... when the file cannot be
 * read, -EBADMSG for a line that is not "name:hash", a refused hash, a name listed
 * twice or no users at all (err says which), -ENOMEM. err is filled on failure.
 */
int htpasswd_load(const char *path, struct htpasswd **ret, struct htpasswd_error *err);

/* Accepts NULL. */
void htpasswd_free(struct htpasswd *h);

/*
 * Whether user is in the file and password matches its hash. -ENOMEM or -EIO (the
 * hash could not be computed) is a refusal too: false.
 */
bool htpasswd_verify(const struct htpasswd *h, const char *user, const char *password);

#endif
