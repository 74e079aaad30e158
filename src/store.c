/*
 * store.c - the storage interface: storage.uri -> a backend, and the calls forwarded to it.
 *
 * SYNOPSIS
 *	#include "scepd/store.h"
 *
 *	store_open(uri, &st)			store_open_flags(uri, flags, &st)
 *	store_open_password(uri, password, flags, &st)
 *	store_open_explain(uri, password, flags, &st, &err)
 *	store_probe(uri, password, timeout_s, &err)
 *	store_schema_version(st, &version)	store_check(st)
 *	store_add_cert(st, cert)		store_count_certs(st, &count)
 *	store_get_cert_der(st, serial, &der, &len)
 *	store_get_cert(st, serial, &cert)	store_cert_free(cert)
 *	store_walk_certs(st, fn, userdata)
 *	store_walk_certs_by_transaction(st, txid, fn, userdata)
 *	store_add_pending(st, req)		store_get_pending(st, txid, &req)
 *	store_walk_pending(st, fn, userdata)	store_pending_free(req)
 *	store_set_pending_status(st, txid, from, to)
 *	store_add_cert_for_pending(st, cert)
 *	store_add_challenge(st, ch)
 *	store_consume_challenge(st, hash, used_by, &owner)
 *	store_status_name(status)
 *	store_revoke(st, serial, reason, when, by)	store_unrevoke(st, serial, by)
 *	store_walk_revoked(st, ca, now, fn, userdata)
 *	store_revocation_changes(st, ca, &changes)
 *	store_put_crl(st, crl)		store_get_crl(st, ca, &crl)	store_crl_free(crl)
 *	store_reason_name(reason)	store_reason_parse(name, &reason)
 *	store_close(st)
 *
 * DESCRIPTION
 *	store_open() picks the backend by the scheme of the URI ("sqlite:PATH" ->
 *	store_sqlite.c; "postgresql://..." and "postgres://..." -> store_pg.c, which
 *	gets the whole URI for libpq) and hands it the rest. The other calls check their arguments,
 *	bring serials to the one form the backends store (upper-case hex without
 *	leading zeros, "0" for zero) and challenge hashes to lower-case hex, read
 *	the clock once, refuse status transitions store.h does not allow, then call
 *	the backend through its ops table (store_backend.h). The copies that
 *	store_get_cert() and store_get_pending() return are made here, from the
 *	backend's walks, as one malloc'ed block. No backend code and no SQL here.
 *
 *	Each worker opens its own store after fork(); a handle is never shared
 *	between processes, but the request threads of a worker share one: a mutex
 *	lets one call at a time reach the backend, and store_add_cert() commits
 *	the certificates that threads add at the same time as one batch (group
 *	commit, see store_add_queued()). With store_set_share() (SQLite), the batch
 *	is shared by every worker process instead (store_share.c); a record that it
 *	cannot take goes through the worker's own batch. Nothing here logs: errors are returned to
 *	the caller, which logs them once.
 *
 * DIAGNOSTICS
 *	0 or -errno. store_open(): -EINVAL for an unknown scheme or a malformed URI,
 *	otherwise the backend's code. store_open_explain() and store_probe() also say
 *	why in one line that names the SQLite file (composed here, from the path and
 *	the code) or the PostgreSQL server (store_pg.c, from libpq). Adding: -EINVAL when a mandatory field is missing or malformed.
 *	Lookups: -ENOENT also for a key that is malformed (no record can have it).
 *	Out-parameters are written only on success.
 */
#include "scepd/store.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "scepd/encoding.h"
#include "scepd/store_share.h"

#include "store_backend.h"

#define STORE_BATCH_MAX 64 /* certificates in one group commit */
#define STORE_QUEUED    1  /* store_queued.result before its commit */

static const char *const store_status_names[STORE_STATUS_MAX] = {
	[STORE_STATUS_PENDING] = "pending",
	[STORE_STATUS_APPROVED] = "approved",
	[STORE_STATUS_REJECTED] = "rejected",
	[STORE_STATUS_ISSUED] = "issued",
};

/* RFC 5280's names, by CRLReason code; NULL where there is no reason (7, 8). */
static const char *const store_reason_names[STORE_REASON_MAX] = {
	[STORE_REASON_UNSPECIFIED] = "unspecified",
	[STORE_REASON_KEY_COMPROMISE] = "keyCompromise",
	[STORE_REASON_CA_COMPROMISE] = "cACompromise",
	[STORE_REASON_AFFILIATION_CHANGED] = "affiliationChanged",
	[STORE_REASON_SUPERSEDED] = "superseded",
	[STORE_REASON_CESSATION_OF_OPERATION] = "cessationOfOperation",
	[STORE_REASON_CERTIFICATE_HOLD] = "certificateHold",
	[STORE_REASON_PRIVILEGE_WITHDRAWN] = "privilegeWithdrawn",
	[STORE_REASON_AA_COMPROMISE] = "aACompromise",
};

struct store_scheme {
	const char *prefix;
	int whole_uri; /* hand the backend the whole URI (libpq parses it), not what follows */
	int (*open)(const char *location, const char *password, unsigned flags,
		    struct store **ret_store, struct store_error *err);
	int (*probe)(const char *location, const char *password, unsigned timeout_s,
		     struct store_error *err);
};

/* err->message, cut short if it must be (a long path). */
static void __attribute__((format(printf, 2, 3)))
store_error_set(struct store_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/* The directory part of an absolute path, in buf: "/var/lib/scepd", "/" for "/x.db". */
static const char *
store_dirname(const char *path, char *buf, size_t size)
{
	const char *slash = strrchr(path, '/');
	size_t len = slash == NULL || slash == path ? 1 : (size_t)(slash - path);

	snprintf(buf, size, "%.*s", (int)len, slash == NULL ? "/" : path);
	return buf;
}

/* err for an SQLite file that store_sqlite_open() or store_probe_sqlite() refused. */
static void
store_sqlite_explain(const char *path, int r, unsigned flags, struct store_error *err)
{
	char dir[PATH_MAX];
	struct stat st;
	const char *why = strerror(-r);

	store_dirname(path, dir, sizeof(dir));
	if (r == -EINVAL && path[0] != '/')
		store_error_set(err, "'%s' is not an absolute path (\"sqlite:/DIR/FILE\")", path);
	else if (r == -EINVAL)
		store_error_set(err,
				"%s: an SQLite store takes no password (storage.password is for "
				"PostgreSQL)",
				path);
	else if (r == -ENOENT && stat(dir, &st) < 0 && errno == ENOENT)
		store_error_set(
			err,
			"%s: %s (the directory %s does not exist: create it, owned by the user "
			"scepd runs as)",
			path, why, dir);
	else if (r == -ENOENT && !(flags & STORE_OPEN_NO_CREATE))
		store_error_set(err, "%s: %s", path, why);
	else if (r == -EACCES || r == -EPERM || r == -EROFS)
		store_error_set(err, "%s: %s for uid %u", path, why, (unsigned)geteuid());
	else if (r == -EBADMSG)
		store_error_set(err, "%s: not scepd's database, or one written by a newer scepd",
				path);
	else
		store_error_set(err, "%s: %s", path, why);
}

/* SQLite has no login: a password for it is a configuration mistake. */
static int
store_open_sqlite(const char *path, const char *password, unsigned flags, struct store **ret_store,
		  struct store_error *err)
{
	int r;

	r = password != NULL ? -EINVAL : store_sqlite_open(path, flags, ret_store);
	if (r < 0)
		store_sqlite_explain(path, r, flags, err);
	return r;
}

/*
 * The directory must take new files (the -wal and -shm journal files, the database
 * itself the first time); an existing file must open for reading and writing. Checked
 * with the effective ids; nothing is created.
 */
static int
store_probe_sqlite(const char *path, const char *password, unsigned timeout_s,
		   struct store_error *err)
{
	char dir[PATH_MAX];
	struct stat st;
	int fd, r;

	(void)timeout_s;
	if (password != NULL || path[0] != '/') {
		store_sqlite_explain(path, -EINVAL, 0, err);
		return -EINVAL;
	}
	store_dirname(path, dir, sizeof(dir));
	if (stat(dir, &st) < 0) {
		r = -errno;
		store_sqlite_explain(path, r, 0, err);
		return r;
	}
	if (!S_ISDIR(st.st_mode)) {
		store_error_set(err, "%s: %s is not a directory", path, dir);
		return -ENOTDIR;
	}
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0) {
		r = -errno;
		store_error_set(err,
				"%s: uid %u cannot create files in %s: %s (make the directory the "
				"scepd user's)",
				path, (unsigned)geteuid(), dir, strerror(-r));
		return r;
	}
	if ((fd = open(path, O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) < 0 && errno != ENOENT) {
		r = -errno;
		store_sqlite_explain(path, r, 0, err);
		return r;
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

static const struct store_scheme store_schemes[] = {
	{ "sqlite:", 0, store_open_sqlite, store_probe_sqlite },
	{ "postgresql://", 1, store_pg_open, store_pg_probe },
	{ "postgres://", 1, store_pg_open, store_pg_probe },
};

static const struct store_scheme *
store_scheme_of(const char *uri, struct store_error *err)
{
	for (size_t i = 0; i < sizeof(store_schemes) / sizeof(store_schemes[0]); i++)
		if (strncmp(uri, store_schemes[i].prefix, strlen(store_schemes[i].prefix)) == 0)
			return &store_schemes[i];
	/* The URI itself is never quoted: it may hold a password. */
	store_error_set(err, "not a \"sqlite:/PATH\" or \"postgresql://...\" URI");
	return NULL;
}

int
store_open_explain(const char *uri, const char *password, unsigned flags, struct store **ret_store,
		   struct store_error *err)
{
	const struct store_scheme *sc;

	assert(uri != NULL && ret_store != NULL && err != NULL);
	err->message[0] = '\0';
	if ((flags & ~(unsigned)STORE_OPEN_NO_CREATE) != 0)
		return -EINVAL;
	if ((sc = store_scheme_of(uri, err)) == NULL)
		return -EINVAL;
	return sc->open(sc->whole_uri ? uri : uri + strlen(sc->prefix), password, flags, ret_store,
			err);
}

int
store_probe(const char *uri, const char *password, unsigned timeout_s, struct store_error *err)
{
	const struct store_scheme *sc;

	assert(uri != NULL && err != NULL);
	err->message[0] = '\0';
	if ((sc = store_scheme_of(uri, err)) == NULL)
		return -EINVAL;
	return sc->probe(sc->whole_uri ? uri : uri + strlen(sc->prefix), password, timeout_s, err);
}

int
store_open_password(const char *uri, const char *password, unsigned flags, struct store **ret_store)
{
	struct store_error err;

	return store_open_explain(uri, password, flags, ret_store, &err);
}

int
store_open_flags(const char *uri, unsigned flags, struct store **ret_store)
{
	return store_open_password(uri, NULL, flags, ret_store);
}

int
store_open(const char *uri, struct store **ret_store)
{
	return store_open_flags(uri, 0, ret_store);
}

void
store_set_share(struct store *st, struct store_share *sh)
{
	uint64_t id;

	if (sh != NULL && st->ops->share_id != NULL && st->ops->share_id(st, &id) == 0) {
		st->share = sh;
		st->share_id = id;
	}
}

void
store_init(struct store *st, const struct store_ops *ops)
{
	st->ops = ops;
	pthread_mutex_init(&st->lock, NULL);
	pthread_mutex_init(&st->queue_lock, NULL);
	pthread_cond_init(&st->committed, NULL);
	st->queue = NULL;
	st->queue_end = &st->queue;
	st->committing = false;
	st->share = NULL;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	pthread_mutex_destroy(&st->lock);
	pthread_mutex_destroy(&st->queue_lock);
	pthread_cond_destroy(&st->committed);
	st->ops->close(st);
}

static void
store_lock(struct store *st)
{
	pthread_mutex_lock(&st->lock);
}

static void
store_unlock(struct store *st)
{
	pthread_mutex_unlock(&st->lock);
}

int
store_schema_version(struct store *st, int *ret_version)
{
	int r;

	assert(st != NULL && ret_version != NULL);
	store_lock(st);
	r = st->ops->schema_version(st, ret_version);
	store_unlock(st);
	return r;
}

int
store_check(struct store *st)
{
	int r;

	assert(st != NULL);
	store_lock(st);
	r = st->ops->check(st);
	store_unlock(st);
	return r;
}

/* "003a9f" -> "3A9F", "00" -> "0"; -EINVAL when empty or not hex. */
static int
store_serial_normalize(const char *serial, char **ret_serial)
{
	size_t size = strlen(serial) + 1;
	char *s;
	int r;

	if ((s = malloc(size)) == NULL)
		return -ENOMEM;
	if ((r = encoding_hex_normalize(serial, true, true, s, size)) < 0) {
		free(s);
		return r;
	}
	*ret_serial = s;
	return 0;
}

static int
store_cert_valid(const struct store_cert *cert)
{
	return cert->serial != NULL && cert->subject != NULL && cert->sans != NULL &&
	       cert->endpoint != NULL && cert->der != NULL && cert->der_len > 0;
}

/* A certificate waiting in store_add_cert() (on its caller's stack) for its commit. */
struct store_queued {
	const struct store_cert *cert;
	int result; /* STORE_QUEUED until its batch is done */
	struct store_queued *next;
};

/* The oldest queued certificates, at most STORE_BATCH_MAX; under queue_lock. */
static size_t
store_queue_take(struct store *st, struct store_queued **batch)
{
	size_t n = 0;

	while (st->queue != NULL && n < STORE_BATCH_MAX) {
		batch[n++] = st->queue;
		st->queue = st->queue->next;
	}
	if (st->queue == NULL)
		st->queue_end = &st->queue;
	return n;
}

/* One transaction for the batch, or the single INSERT of a batch of one. */
static int
store_commit_certs(void *ctx, const struct store_cert *const *certs, size_t n, int *results)
{
	struct store *st = ctx;
	int r;

	store_lock(st);
	if (n == 1)
		r = results[0] = st->ops->add_cert(st, certs[0]);
	else
		r = st->ops->add_certs(st, certs, n, results);
	store_unlock(st);
	return n == 1 && r == -EEXIST ? 0 : r;
}

static void
store_commit_batch(struct store *st, struct store_queued *const *batch, size_t n, int *results)
{
	const struct store_cert *certs[STORE_BATCH_MAX];
	int r;

	for (size_t i = 0; i < n; i++)
		certs[i] = batch[i]->cert;
	r = store_commit_certs(st, certs, n, results);
	for (size_t i = 0; r < 0 && i < n; i++)
		results[i] = r; /* nothing was committed */
}

/*
 * Group commit: the first caller to find no commit under way takes the queue (its
 * own certificate and those that came while the last commit ran) and commits it as
 * one batch; the others wait for theirs. The store's own lock is taken only around
 * the commit, so that adding to the queue never waits for the disk.
 */
static int
store_add_queued(struct store *st, const struct store_cert *cert)
{
	struct store_queued self = { .cert = cert, .result = STORE_QUEUED };
	struct store_queued *batch[STORE_BATCH_MAX];
	int results[STORE_BATCH_MAX];
	size_t n;

	pthread_mutex_lock(&st->queue_lock);
	*st->queue_end = &self;
	st->queue_end = &self.next;
	while (self.result == STORE_QUEUED) {
		if (st->committing) {
			pthread_cond_wait(&st->committed, &st->queue_lock);
			continue;
		}
		st->committing = true;
		n = store_queue_take(st, batch);
		pthread_mutex_unlock(&st->queue_lock);
		store_commit_batch(st, batch, n, results);
		pthread_mutex_lock(&st->queue_lock);
		for (size_t i = 0; i < n; i++)
			batch[i]->result = results[i];
		st->committing = false;
		pthread_cond_broadcast(&st->committed);
	}
	pthread_mutex_unlock(&st->queue_lock);
	return self.result;
}

int
store_add_cert(struct store *st, const struct store_cert *cert)
{
	struct store_cert c;
	char *serial = NULL;
	int r;

	assert(st != NULL && cert != NULL);
	if (!store_cert_valid(cert)) {
		r = -EINVAL;
		goto out;
	}
	if ((r = store_serial_normalize(cert->serial, &serial)) < 0)
		goto out;
	c = *cert;
	c.serial = serial;
	if (st->share != NULL) {
		r = store_share_add(st->share, st->share_id, &c, store_commit_certs, st);
		if (r != -E2BIG && r != -ENOSPC)
			goto out;
	}
	r = store_add_queued(st, &c);
out:
	free(serial);
	return r;
}

int
store_count_certs(struct store *st, uint64_t *ret_count)
{
	int r;

	assert(st != NULL && ret_count != NULL);
	store_lock(st);
	r = st->ops->count_certs(st, ret_count);
	store_unlock(st);
	return r;
}

int
store_get_cert_der(struct store *st, const char *serial, unsigned char **ret_der, size_t *ret_len)
{
	char *s = NULL;
	int r;

	assert(st != NULL && serial != NULL && ret_der != NULL && ret_len != NULL);
	if ((r = store_serial_normalize(serial, &s)) < 0) {
		r = r == -EINVAL ? -ENOENT : r;
		goto out;
	}
	store_lock(st);
	r = st->ops->get_cert_der(st, s, ret_der, ret_len);
	store_unlock(st);
out:
	free(s);
	return r;
}

const char *
store_status_name(enum store_status status)
{
	if ((unsigned)status >= STORE_STATUS_MAX)
		return NULL;
	return store_status_names[status];
}

int
store_status_parse(const char *text, enum store_status *ret_status)
{
	for (enum store_status i = 0; i < STORE_STATUS_MAX; i++)
		if (text != NULL && strcmp(text, store_status_names[i]) == 0) {
			*ret_status = i;
			return 0;
		}
	return -EIO;
}

/* SCEP's transactionID: printable ASCII, 1..STORE_TRANSACTION_ID_MAX bytes. */
static int
store_transaction_id_valid(const char *txid)
{
	size_t i;

	if (txid == NULL || txid[0] == '\0')
		return 0;
	for (i = 0; txid[i] != '\0'; i++)
		if (i >= STORE_TRANSACTION_ID_MAX || txid[i] < 0x20 || txid[i] > 0x7e)
			return 0;
	return 1;
}

/* 64 hex digits, any case -> lower case in buf; -EINVAL otherwise. */
static int
store_hash_normalize(const char *hash, char buf[STORE_SHA256_HEX_LEN + 1])
{
	if (hash == NULL || strlen(hash) != STORE_SHA256_HEX_LEN)
		return -EINVAL;
	return encoding_hex_normalize(hash, false, false, buf, STORE_SHA256_HEX_LEN + 1);
}

/*
 * Copies: one malloc'ed block holding the record, then its strings and blobs, so that
 * one free() releases everything and the record can keep its const pointers.
 */
static size_t
store_pack_size(const char *s)
{
	return s != NULL ? strlen(s) + 1 : 0;
}

static const char *
store_pack_str(char **p, const char *s)
{
	char *d = *p;
	size_t n;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	memcpy(d, s, n);
	*p += n;
	return d;
}

static const unsigned char *
store_pack_blob(char **p, const unsigned char *b, size_t len)
{
	unsigned char *d = (unsigned char *)*p;

	if (b == NULL)
		return NULL;
	if (len > 0)
		memcpy(d, b, len);
	*p += len;
	return d;
}

static int
store_cert_dup(const struct store_cert *c, struct store_cert **ret_cert)
{
	struct store_cert *d;
	char *p;
	size_t size;

	size = sizeof(*d) + store_pack_size(c->serial) + store_pack_size(c->subject) +
	       store_pack_size(c->sans) + c->der_len + store_pack_size(c->requester) +
	       store_pack_size(c->endpoint) + store_pack_size(c->transaction_id) +
	       store_pack_size(c->owner) + store_pack_size(c->profile) + store_pack_size(c->ca) +
	       store_pack_size(c->revoked_by);
	if ((d = malloc(size)) == NULL)
		return -ENOMEM;
	*d = *c;
	p = (char *)(d + 1);
	d->serial = store_pack_str(&p, c->serial);
	d->subject = store_pack_str(&p, c->subject);
	d->sans = store_pack_str(&p, c->sans);
	d->der = store_pack_blob(&p, c->der, c->der_len);
	d->requester = store_pack_str(&p, c->requester);
	d->endpoint = store_pack_str(&p, c->endpoint);
	d->transaction_id = store_pack_str(&p, c->transaction_id);
	d->owner = store_pack_str(&p, c->owner);
	d->profile = store_pack_str(&p, c->profile);
	d->ca = store_pack_str(&p, c->ca);
	d->revoked_by = store_pack_str(&p, c->revoked_by);
	assert((size_t)(p - (char *)d) == size);
	*ret_cert = d;
	return 0;
}

static int
store_pending_dup(const struct store_pending *q, struct store_pending **ret_req)
{
	struct store_pending *d;
	char *p;
	size_t size;

	size = sizeof(*d) + store_pack_size(q->transaction_id) + store_pack_size(q->subject) +
	       q->csr_der_len + q->signer_cert_der_len + store_pack_size(q->requester) +
	       store_pack_size(q->serial) + store_pack_size(q->owner) + store_pack_size(q->profile);
	if ((d = malloc(size)) == NULL)
		return -ENOMEM;
	*d = *q;
	p = (char *)(d + 1);
	d->transaction_id = store_pack_str(&p, q->transaction_id);
	d->subject = store_pack_str(&p, q->subject);
	d->csr_der = store_pack_blob(&p, q->csr_der, q->csr_der_len);
	d->signer_cert_der = store_pack_blob(&p, q->signer_cert_der, q->signer_cert_der_len);
	d->requester = store_pack_str(&p, q->requester);
	d->serial = store_pack_str(&p, q->serial);
	d->owner = store_pack_str(&p, q->owner);
	d->profile = store_pack_str(&p, q->profile);
	assert((size_t)(p - (char *)d) == size);
	*ret_req = d;
	return 0;
}

void
store_cert_free(struct store_cert *cert)
{
	free(cert);
}

void
store_pending_free(struct store_pending *req)
{
	free(req);
}

/* The walk behind store_get_cert(): the serial is the primary key, one row at most. */
static int
store_get_cert_fn(const struct store_cert *cert, void *userdata)
{
	struct store_cert **copy = userdata;

	if (*copy != NULL)
		return -EIO;
	return store_cert_dup(cert, copy);
}

int
store_get_cert(struct store *st, const char *serial, struct store_cert **ret_cert)
{
	struct store_cert *copy = NULL;
	char *s = NULL;
	int r;

	assert(st != NULL && serial != NULL && ret_cert != NULL);
	if ((r = store_serial_normalize(serial, &s)) < 0) {
		r = r == -EINVAL ? -ENOENT : r;
		goto out;
	}
	store_lock(st);
	r = st->ops->walk_certs(st, s, NULL, store_get_cert_fn, &copy);
	store_unlock(st);
	if (r < 0)
		goto out;
	if (copy == NULL) {
		r = -ENOENT;
		goto out;
	}
	*ret_cert = copy;
	copy = NULL; /* the caller owns it now */
	r = 0;
out:
	store_cert_free(copy);
	free(s);
	return r;
}

int
store_walk_certs(struct store *st, int (*fn)(const struct store_cert *cert, void *userdata),
		 void *userdata)
{
	int r;

	assert(st != NULL && fn != NULL);
	store_lock(st);
	r = st->ops->walk_certs(st, NULL, NULL, fn, userdata);
	store_unlock(st);
	return r;
}

int
store_walk_certs_by_transaction(struct store *st, const char *transaction_id,
				int (*fn)(const struct store_cert *cert, void *userdata),
				void *userdata)
{
	int r;

	assert(st != NULL && fn != NULL);
	if (transaction_id == NULL || transaction_id[0] == '\0')
		return -EINVAL;
	store_lock(st);
	r = st->ops->walk_certs(st, NULL, transaction_id, fn, userdata);
	store_unlock(st);
	return r;
}

int
store_add_pending(struct store *st, const struct store_pending *req)
{
	struct store_pending q;
	int r;

	assert(st != NULL && req != NULL);
	if (!store_transaction_id_valid(req->transaction_id) || req->csr_der == NULL ||
	    req->csr_der_len == 0)
		return -EINVAL;
	q = *req;
	if (q.signer_cert_der == NULL || q.signer_cert_der_len == 0) {
		q.signer_cert_der = NULL;
		q.signer_cert_der_len = 0;
	}
	if (q.received_at == 0)
		q.received_at = time(NULL);
	q.status = STORE_STATUS_PENDING;
	q.decided_at = 0;
	q.serial = NULL;
	store_lock(st);
	r = st->ops->add_pending(st, &q);
	store_unlock(st);
	return r;
}

/* The walk behind store_get_pending(): the transaction_id is the primary key. */
static int
store_get_pending_fn(const struct store_pending *req, void *userdata)
{
	struct store_pending **copy = userdata;

	if (*copy != NULL)
		return -EIO;
	return store_pending_dup(req, copy);
}

int
store_get_pending(struct store *st, const char *transaction_id, struct store_pending **ret_req)
{
	struct store_pending *copy = NULL;
	int r;

	assert(st != NULL && transaction_id != NULL && ret_req != NULL);
	if (!store_transaction_id_valid(transaction_id)) {
		r = -ENOENT;
		goto out;
	}
	store_lock(st);
	r = st->ops->walk_pending(st, transaction_id, store_get_pending_fn, &copy);
	store_unlock(st);
	if (r < 0)
		goto out;
	if (copy == NULL) {
		r = -ENOENT;
		goto out;
	}
	*ret_req = copy;
	copy = NULL; /* the caller owns it now */
	r = 0;
out:
	store_pending_free(copy);
	return r;
}

int
store_walk_pending(struct store *st, int (*fn)(const struct store_pending *req, void *userdata),
		   void *userdata)
{
	int r;

	assert(st != NULL && fn != NULL);
	store_lock(st);
	r = st->ops->walk_pending(st, NULL, fn, userdata);
	store_unlock(st);
	return r;
}

static int
store_transition_allowed(enum store_status from, enum store_status to)
{
	return (from == STORE_STATUS_PENDING &&
		(to == STORE_STATUS_APPROVED || to == STORE_STATUS_REJECTED)) ||
	       (from == STORE_STATUS_APPROVED && to == STORE_STATUS_REJECTED);
}

int
store_set_pending_status(struct store *st, const char *transaction_id, enum store_status from,
			 enum store_status to)
{
	int r;

	assert(st != NULL && transaction_id != NULL);
	if (!store_transition_allowed(from, to))
		return -EINVAL;
	if (!store_transaction_id_valid(transaction_id))
		return -ENOENT;
	store_lock(st);
	r = st->ops->set_pending_status(st, transaction_id, from, to, time(NULL));
	store_unlock(st);
	return r;
}

int
store_add_cert_for_pending(struct store *st, const struct store_cert *cert)
{
	struct store_cert c;
	char *serial = NULL;
	int r;

	assert(st != NULL && cert != NULL);
	if (!store_cert_valid(cert) || !store_transaction_id_valid(cert->transaction_id)) {
		r = -EINVAL;
		goto out;
	}
	if ((r = store_serial_normalize(cert->serial, &serial)) < 0)
		goto out;
	c = *cert;
	c.serial = serial;
	store_lock(st);
	r = st->ops->add_cert_for_pending(st, &c, time(NULL));
	store_unlock(st);
out:
	free(serial);
	return r;
}

int
store_add_challenge(struct store *st, const struct store_challenge *ch)
{
	struct store_challenge c;
	char hash[STORE_SHA256_HEX_LEN + 1];
	int r;

	assert(st != NULL && ch != NULL);
	if (store_hash_normalize(ch->secret_hash, hash) < 0 || ch->profile == NULL)
		return -EINVAL;
	c = *ch;
	c.secret_hash = hash;
	if (c.created_at == 0)
		c.created_at = time(NULL);
	if (c.expires_at <= c.created_at)
		return -EINVAL;
	store_lock(st);
	r = st->ops->add_challenge(st, &c);
	store_unlock(st);
	return r;
}

int
store_consume_challenge(struct store *st, const char *secret_hash, const char *profile,
			const char *subject, const char *used_by, char **ret_owner)
{
	char hash[STORE_SHA256_HEX_LEN + 1], *owner = NULL;
	int r;

	assert(st != NULL);
	if (store_hash_normalize(secret_hash, hash) < 0 || profile == NULL)
		return -ENOENT;
	store_lock(st);
	r = st->ops->consume_challenge(st, hash, profile, subject, used_by, time(NULL), &owner);
	store_unlock(st);
	if (r < 0)
		return r;
	if (ret_owner != NULL)
		*ret_owner = owner;
	else
		free(owner);
	return 0;
}

int
store_prune(struct store *st, time_t before, unsigned limit, struct store_pruned *ret_pruned)
{
	struct store_pruned pruned = { 0 };
	int r;

	assert(st != NULL && ret_pruned != NULL);
	store_lock(st);
	r = st->ops->prune(st, before, limit, &pruned);
	store_unlock(st);
	if (r < 0)
		return r;
	*ret_pruned = pruned;
	return 0;
}

int
store_prune_all(struct store *st, time_t before, struct store_pruned *ret_pruned)
{
	struct store_pruned batch;
	int r;

	*ret_pruned = (struct store_pruned){ 0 };
	do {
		if ((r = store_prune(st, before, STORE_PRUNE_BATCH, &batch)) < 0)
			return r;
		ret_pruned->challenges += batch.challenges;
		ret_pruned->rejected_requests += batch.rejected_requests;
	} while (batch.challenges == STORE_PRUNE_BATCH ||
		 batch.rejected_requests == STORE_PRUNE_BATCH);
	return 0;
}

const char *
store_reason_name(int reason)
{
	if (reason < 0 || reason >= STORE_REASON_MAX)
		return NULL;
	return store_reason_names[reason];
}

int
store_reason_parse(const char *name, int *ret_reason)
{
	for (int i = 0; name != NULL && i < STORE_REASON_MAX; i++)
		if (store_reason_names[i] != NULL && strcasecmp(name, store_reason_names[i]) == 0) {
			*ret_reason = i;
			return 0;
		}
	return -EINVAL;
}

int
store_revoke(struct store *st, const char *serial, int reason, time_t when, const char *by)
{
	char *s = NULL;
	int r;

	assert(st != NULL && serial != NULL);
	if (store_reason_name(reason) == NULL || when < 0)
		return -EINVAL;
	if ((r = store_serial_normalize(serial, &s)) < 0) {
		r = r == -EINVAL ? -ENOENT : r;
		goto out;
	}
	if (when == 0)
		when = time(NULL);
	store_lock(st);
	r = st->ops->revoke(st, s, reason, when, by);
	store_unlock(st);
out:
	free(s);
	return r;
}

int
store_unrevoke(struct store *st, const char *serial, const char *by)
{
	char *s = NULL;
	int r;

	assert(st != NULL && serial != NULL);
	if ((r = store_serial_normalize(serial, &s)) < 0) {
		r = r == -EINVAL ? -ENOENT : r;
		goto out;
	}
	store_lock(st);
	r = st->ops->unrevoke(st, s, by);
	store_unlock(st);
out:
	free(s);
	return r;
}

int
store_walk_revoked(struct store *st, const char *ca, time_t now,
		   int (*fn)(const struct store_cert *cert, void *userdata), void *userdata)
{
	int r;

	assert(st != NULL && fn != NULL);
	store_lock(st);
	r = st->ops->walk_revoked(st, ca, now, fn, userdata);
	store_unlock(st);
	return r;
}

int
store_revocation_changes(struct store *st, const char *ca, uint64_t *ret)
{
	uint64_t n = 0;
	int r;

	assert(st != NULL && ret != NULL);
	if (ca == NULL)
		return -EINVAL;
	store_lock(st);
	r = st->ops->revocation_changes(st, ca, &n);
	store_unlock(st);
	if (r < 0)
		return r;
	*ret = n;
	return 0;
}

int
store_count_revoked(struct store *st,
		    int (*fn)(const char *ca, const char *profile, uint64_t n, void *userdata),
		    void *userdata)
{
	int r;

	assert(st != NULL && fn != NULL);
	store_lock(st);
	r = st->ops->count_revoked(st, fn, userdata);
	store_unlock(st);
	return r;
}

int
store_put_crl(struct store *st, const struct store_crl *crl)
{
	int r;

	assert(st != NULL && crl != NULL);
	if (crl->ca == NULL || crl->der == NULL || crl->der_len == 0 ||
	    crl->number > (uint64_t)INT64_MAX || crl->changes > (uint64_t)INT64_MAX ||
	    crl->next_update <= crl->this_update)
		return -EINVAL;
	store_lock(st);
	r = st->ops->put_crl(st, crl);
	store_unlock(st);
	return r;
}

/* The walk behind store_get_crl(): one CRL per CA at most. */
static int
store_get_crl_fn(const struct store_crl *crl, void *userdata)
{
	struct store_crl **copy = userdata, *d;
	char *p;

	if (*copy != NULL)
		return -EIO;
	if ((d = malloc(sizeof(*d) + store_pack_size(crl->ca) + crl->der_len)) == NULL)
		return -ENOMEM;
	*d = *crl;
	p = (char *)(d + 1);
	d->ca = store_pack_str(&p, crl->ca);
	d->der = store_pack_blob(&p, crl->der, crl->der_len);
	*copy = d;
	return 0;
}

int
store_get_crl(struct store *st, const char *ca, struct store_crl **ret_crl)
{
	struct store_crl *copy = NULL;
	int r;

	assert(st != NULL && ret_crl != NULL);
	if (ca == NULL)
		return -ENOENT;
	store_lock(st);
	r = st->ops->get_crl(st, ca, store_get_crl_fn, &copy);
	store_unlock(st);
	if (r < 0)
		goto out;
	if (copy == NULL) {
		r = -ENOENT;
		goto out;
	}
	*ret_crl = copy;
	copy = NULL; /* the caller owns it now */
	r = 0;
out:
	store_crl_free(copy);
	return r;
}

void
store_crl_free(struct store_crl *crl)
{
	free(crl);
}
