/*
 * tls_files.h - the files of server.tls read into memory and judged: the certificate
 * chain, its private key, the client CA.
 *
 * A worker reads them once when it starts (so a reload picks up renewed files) and
 * hands the PEM text to the HTTP layer; `scepd -t` reads them to report problems.
 * The key's text is never part of a message; tls_files_forget_key() wipes it.
 */
#ifndef SCEPD_TLS_FILES_H
#define SCEPD_TLS_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "scepd/config.h"

/* Days before notAfter from which the certificate is reported as expiring soon. */
#define TLS_FILES_EXPIRY_WARN_DAYS 30

struct tls_files {
	char *certificate; /* PEM, NUL-terminated: the chain, leaf first */
	char *key;         /* PEM, NUL-terminated; NULL once forgotten */
	size_t key_size;   /* the allocation, for the wipe */
	char *client_ca;   /* PEM, NUL-terminated; NULL without admin.client_ca */
	char serial[80];   /* the leaf's serial, hex */
	time_t not_after;  /* the leaf's */
	int days_left;     /* whole days until not_after; negative once expired */
	bool expired;      /* now is past notAfter */
	bool not_yet_valid;
	bool key_exposed; /* the key file is readable by its group or by others */
};

struct tls_files_error {
	char setting[64];  /* "server.tls.key" */
	char message[512]; /* one line; never any of the key's text */
};

/*
 * Reads and checks the files tls names (tls->certificate set): 0 and the contents, or
 * a negative errno with err filled: -ENOENT/-EACCES a file cannot be read, -EBADMSG
 * no PEM certificate / key in it, an encrypted key, or a key that does not belong to
 * the certificate, -EFBIG a file over 1 MiB, -ENOMEM. An expired certificate is no
 * error here: the caller decides (expired, days_left).
 */
int tls_files_load(const struct config_tls *tls, struct tls_files **ret_files,
		   struct tls_files_error *err);

/* Wipes and frees the key's text (once the HTTP layer has it). Accepts NULL. */
void tls_files_forget_key(struct tls_files *files);

/* Frees everything, the key wiped. Accepts NULL. */
void tls_files_free(struct tls_files *files);

#endif
