/*
 * store_backend.h - what store.c expects of a storage backend (private to src/store*.c).
 *
 * A backend embeds struct store as the first member of its own handle and points
 * st->ops at its table. store.c has already checked the arguments: the serials it
 * passes are canonical (upper-case hex, no leading zeros) and the mandatory fields of
 * a certificate are set. Each function keeps store.h's contract for its error codes.
 */
#ifndef SCEPD_STORE_BACKEND_H
#define SCEPD_STORE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "scepd/store.h"

struct store_ops {
	void (*close)(struct store *st);
	int (*add_cert)(struct store *st, const struct store_cert *cert);
	int (*count_certs)(struct store *st, uint64_t *ret_count);
	int (*get_cert_der)(struct store *st, const char *serial, unsigned char **ret_der,
			    size_t *ret_len);
};

struct store {
	const struct store_ops *ops;
};

/* path: an absolute file name. 0, -errno of creating the file (-ENOENT, -EACCES...), -EIO. */
int store_sqlite_open(const char *path, struct store **ret_store);

#endif
