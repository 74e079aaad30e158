/*
 * store_backend.h - what store.c expects of a storage backend (private to src/store*.c).
 *
 * A backend embeds struct store as the first member of its own handle and points
 * st->ops at its table. store.c has already checked the arguments: the serials it
 * passes are canonical (upper-case hex, no leading zeros), challenge hashes are 64
 * lower-case hex digits, times that store.h lets the caller leave at 0 are filled in,
 * status transitions are allowed ones, and the mandatory fields of each record are set.
 * Each function keeps store.h's contract for its error codes and does its state change
 * in one atomic statement or transaction.
 *
 * Walks hand fn records whose pointers stay valid until fn returns; a negative return
 * from fn stops the walk and is returned as is. `now` is the caller's clock (store.c
 * reads it once per call), so that a conditional update and the query that explains
 * its failure agree on the time.
 */
#ifndef SCEPD_STORE_BACKEND_H
#define SCEPD_STORE_BACKEND_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "scepd/store.h"

struct store_ops {
	void (*close)(struct store *st);
	int (*schema_version)(struct store *st, int *ret_version);
	int (*check)(struct store *st);
	int (*add_cert)(struct store *st, const struct store_cert *cert);
	/*
	 * n >= 2 certificates in one transaction: 0 once it is committed, with results[i]
	 * 0 (recorded) or -EEXIST (the serial was taken: that one only is left out); a
	 * negative errno when nothing was committed.
	 */
	int (*add_certs)(struct store *st, const struct store_cert *const *certs, size_t n,
			 int *results);
	int (*count_certs)(struct store *st, uint64_t *ret_count);
	int (*get_cert_der)(struct store *st, const char *serial, unsigned char **ret_der,
			    size_t *ret_len);
	int (*walk_certs)(struct store *st, const char *serial, const char *transaction_id,
			  int (*fn)(const struct store_cert *cert, void *userdata), void *userdata);
	int (*add_pending)(struct store *st, const struct store_pending *req);
	int (*walk_pending)(struct store *st, const char *transaction_id,
			    int (*fn)(const struct store_pending *req, void *userdata),
			    void *userdata);
	int (*set_pending_status)(struct store *st, const char *transaction_id,
				  enum store_status from, enum store_status to, time_t now);
	int (*add_cert_for_pending)(struct store *st, const struct store_cert *cert, time_t now);
	int (*add_challenge)(struct store *st, const struct store_challenge *ch);
	int (*consume_challenge)(struct store *st, const char *secret_hash, const char *profile,
				 const char *subject, const char *used_by, time_t now,
				 char **ret_owner);
	/* limit 0: no limit. */
	int (*prune)(struct store *st, time_t before, unsigned limit,
		     struct store_pruned *ret_pruned);
	/* when: filled in (never 0); reason: a valid one. */
	int (*revoke)(struct store *st, const char *serial, int reason, time_t when,
		      const char *by);
	int (*unrevoke)(struct store *st, const char *serial, const char *by);
	int (*walk_revoked)(struct store *st, const char *ca, time_t now,
			    int (*fn)(const struct store_cert *cert, void *userdata),
			    void *userdata);
	int (*revocation_changes)(struct store *st, const char *ca, uint64_t *ret);
	int (*count_revoked)(struct store *st,
			     int (*fn)(const char *ca, const char *profile, uint64_t n,
				       void *userdata),
			     void *userdata);
	/* -ESTALE when the stored CRL's number is not lower. */
	int (*put_crl)(struct store *st, const struct store_crl *crl);
	/* fn is called once with the CA's CRL, or not at all when there is none. */
	int (*get_crl)(struct store *st, const char *ca,
		       int (*fn)(const struct store_crl *crl, void *userdata), void *userdata);
	/*
	 * The same number in every process for the same database, when the workers may
	 * pool their certificate commits (store_share.h): 0; NULL or -ENOTSUP otherwise.
	 */
	int (*share_id)(struct store *st, uint64_t *ret_id);
};

struct store_queued; /* a certificate in store_add_cert(), waiting for its commit */

/* Set up by store_init(); the backends do not touch it. */
struct store {
	const struct store_ops *ops;
	pthread_mutex_t lock; /* one call at a time reaches the backend */
	pthread_mutex_t queue_lock;
	pthread_cond_t committed;   /* a batch was committed (or failed) */
	struct store_queued *queue; /* oldest first */
	struct store_queued **queue_end;
	bool committing;           /* a caller commits a batch now */
	struct store_share *share; /* the workers' pooled commit, or NULL */
	uint64_t share_id;
};

/* A backend's open, once its handle is ready to be handed out. */
void store_init(struct store *st, const struct store_ops *ops);

/*
 * A stored status spelling ("pending", ...) back to its value: 0, or -EIO for anything
 * else (the backends' CHECK constraints keep anything else out).
 */
int store_status_parse(const char *text, enum store_status *ret_status);

/*
 * walk_certs: serial and transaction_id are filters, NULL for none (at most one is set).
 * walk_pending: transaction_id NULL walks the pending requests (status 'pending',
 * oldest first); else the one request with that transaction_id, whatever its status.
 */

/*
 * path: an absolute file name; flags: store.h's STORE_OPEN_*. 0, -errno of creating or
 * opening the file (-ENOENT, -EACCES...), -EBADMSG, -EIO.
 */
int store_sqlite_open(const char *path, unsigned flags, struct store **ret_store);

/*
 * uri: the whole "postgresql://..." or "postgres://..." URI, for libpq; password: NULL,
 * or the login's password (wins over one in the URI); flags as above. 0, -ECONNREFUSED
 * (cannot connect or log in), -ENOENT (STORE_OPEN_NO_CREATE and no schema), -EBADMSG
 * (a newer schema), -ENOMEM, -EIO.
 */
int store_pg_open(const char *uri, const char *password, unsigned flags, struct store **ret_store,
		  struct store_error *err);

/*
 * store_pg_open()'s connection alone, closed at once; connect_timeout is timeout_s
 * unless the URI sets one. 0, -ECONNREFUSED, -ENOMEM. err (store.h) names the server
 * as host:port and gives libpq's reason, whenever store_pg_open() or this fails.
 */
int store_pg_probe(const char *uri, const char *password, unsigned timeout_s,
		   struct store_error *err);

#endif
