/*
 * store.h - the durable record of what scepd did: issued certificates, and room for
 * pending SCEP requests and one-time challenges.
 *
 * An interface with one file per backend (store_sqlite.c now, store_pg.c later),
 * chosen by the scheme of storage.uri. Opened in each worker after fork(), never
 * shared across processes. Every write is committed (durable) before it returns:
 * a certificate is answered only after store_add_cert() returned 0.
 * Knows nothing of HTTP or keys; never logs above debug.
 */
#ifndef SCEPD_STORE_H
#define SCEPD_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct store;

/* One issued certificate. Strings are NUL-terminated UTF-8. */
struct store_cert {
	const char *serial;  /* upper-case hex, no leading zeros: "3A9F..." */
	const char *subject; /* RFC 2253 one-line form */
	const char *sans;    /* "DNS:a.example, IP Address:192.0.2.1", "" for none */
	time_t not_before;
	time_t not_after;
	const unsigned char *der;
	size_t der_len;
	const char *requester;      /* client address */
	const char *endpoint;       /* "csr" or "scep" */
	const char *transaction_id; /* SCEP transactionID, NULL for /csr */
};

/*
 * "sqlite:/path/db": creates the file (mode 0600) and the schema when missing, WAL
 * journal, a busy timeout, synchronous=FULL. Returns 0, -EINVAL (unknown scheme, or a
 * malformed URI such as a relative path), -EPROTONOSUPPORT ("postgresql://",
 * "postgres://": not built yet), the -errno of creating the file (-ENOENT when its
 * directory is missing, -EACCES, -EROFS...), -EBADMSG (not scepd's database, or one
 * written by a newer scepd), -EIO. A handle is used by one thread at a time.
 */
int store_open(const char *uri, struct store **ret_store);
void store_close(struct store *st);

/*
 * Committed when it returns 0; -EEXIST when the serial is already recorded (in any
 * spelling: the serial is stored upper-case without leading zeros); -EINVAL when the
 * serial is not hex or subject, sans, endpoint or der is missing; -ENOSPC (disk
 * full); -EIO, also when other writers held the database beyond the busy timeout.
 */
int store_add_cert(struct store *st, const struct store_cert *cert);

/* Number of certificates recorded (for tests, health and metrics). */
int store_count_certs(struct store *st, uint64_t *ret_count);

/*
 * The DER of the certificate with this serial (hex, any case, leading zeros allowed):
 * 0 and a malloc'ed copy the caller frees, -ENOENT (also for a serial that is not
 * hex), -EIO.
 */
int store_get_cert_der(struct store *st, const char *serial, unsigned char **ret_der,
		       size_t *ret_len);

#endif
