/*
 * store.h - the durable record of what scepd did: issued certificates, SCEP requests
 * waiting for an operator's decision, and one-time challenges.
 *
 * An interface with one file per backend (store_sqlite.c, store_pg.c), chosen by the
 * scheme of storage.uri. Opened in each worker after fork(), and by
 * scepctl; never shared across processes. Every write is committed (durable) before
 * it returns: a certificate is answered only after store_add_cert() returned 0.
 * Every state change is one atomic statement or transaction, so that workers (and,
 * with PostgreSQL, nodes) racing for the same row never both win.
 * Knows nothing of HTTP or keys; never logs above debug.
 */
#ifndef SCEPD_STORE_H
#define SCEPD_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct store;

/*
 * One issued certificate. Strings are NUL-terminated UTF-8. profile and ca are stored
 * as given (NULL as NULL); certificates recorded before the store knew them (schema 2
 * and older) read as profile = their endpoint, ca = "default", the names that the
 * single-CA configuration gets.
 */
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
	const char *owner;          /* the challenge's owner or the /csr token's name; NULL */
	const char *profile;        /* the profile it was issued through ("scep", "csr"...); NULL */
	const char *ca;             /* the name of the CA that signed it ("default"...); NULL */
	/* Set by the store: ignored when adding, filled when read. */
	time_t issued_at;
	time_t revoked_at;      /* the revocation date; 0 = not revoked */
	int revocation_reason;  /* enum store_reason while revoked; -1 when not revoked */
	const char *revoked_by; /* who revoked it, or who lifted its hold; NULL */
};

/*
 * "sqlite:/path/db": creates the file (mode 0600) and the schema when missing, WAL
 * journal, a busy timeout, synchronous=FULL. "postgresql://..." or "postgres://...":
 * any libpq URI; connects and creates or migrates the schema. Returns 0, -EINVAL
 * (unknown scheme, or a malformed URI such as a relative path), the -errno of
 * creating the file (-ENOENT when its directory is missing, -EACCES, -EROFS...),
 * -ECONNREFUSED (the PostgreSQL server cannot be reached or refuses the login),
 * -EBADMSG (not scepd's database, or one written by a newer scepd), -EIO. The threads
 * of a process may share a handle: its calls reach the database one at a time. With
 * PostgreSQL every call may also give -ENOTCONN while the server is unreachable (the
 * handle reconnects by itself).
 */
int store_open(const char *uri, struct store **ret_store);

/* store_open() with flags. */
enum store_open_flags {
	/* Open an existing store only: -ENOENT when the SQLite file is missing (scepctl). */
	STORE_OPEN_NO_CREATE = 1 << 0,
};
int store_open_flags(const char *uri, unsigned flags, struct store **ret_store);

/*
 * store_open_flags() with the password of a PostgreSQL login (storage.password), which
 * wins over one in the URI; NULL for none. The caller wipes it afterwards: the store
 * keeps no copy of its own beyond libpq's connection. -EINVAL with an SQLite URI.
 */
int store_open_password(const char *uri, const char *password, unsigned flags,
			struct store **ret_store);

/*
 * Why store_open_explain() or store_probe() failed: one line that names the database
 * file ("/var/lib/scepd/scepd.db: No such file or directory (the directory
 * /var/lib/scepd does not exist)") or the PostgreSQL server as host:port with libpq's
 * reason ("db.example:5432: connection refused"); never a password or the URI itself.
 */
struct store_error {
	char message[480];
};

/* store_open_password(), with err filled when it fails. */
int store_open_explain(const char *uri, const char *password, unsigned flags,
		       struct store **ret_store, struct store_error *err);

/*
 * For `scepd -t`: whether the store of uri can be opened by this process, creating and
 * changing nothing. SQLite: the file's directory exists and this process may create
 * files in it (the journal), and the file, when it exists, opens for reading and
 * writing. PostgreSQL: the server accepts a login (within timeout_s seconds, unless the
 * URI sets connect_timeout); the connection is closed at once. 0, or the errors of
 * store_open_password() with err filled.
 */
int store_probe(const char *uri, const char *password, unsigned timeout_s, struct store_error *err);

void store_close(struct store *st);

struct store_share;
/*
 * Pool st's certificate commits with the other workers' (store_share.h), when its
 * backend can (SQLite); otherwise nothing changes. sh outlives st. Once, after opening.
 */
void store_set_share(struct store *st, struct store_share *sh);

/*
 * The version of the schema, which store_open() created or migrated to (the newest
 * this scepd knows). 0, -EIO.
 */
int store_schema_version(struct store *st, int *ret_version);

/*
 * Whether the store can be used now (for /healthz): 0; with PostgreSQL -ENOTCONN while
 * the server cannot be reached (a lost connection is reset here as by any call), -EIO.
 */
int store_check(struct store *st);

/*
 * Committed when it returns 0. Group commit: certificates that threads add while
 * another commit is under way wait for it, then go in together, in one transaction
 * (one fsync); each call still returns only once its own certificate is committed, or
 * with the error that kept it out. -EEXIST when the serial is already recorded (in any
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

/*
 * The certificate with this serial (hex, any case, leading zeros allowed): 0 and a
 * malloc'ed copy (one block: strings and DER included) that the caller releases with
 * store_cert_free(); -ENOENT (also for a serial that is not hex), -EIO.
 */
int store_get_cert(struct store *st, const char *serial, struct store_cert **ret_cert);

/* Only for what store_get_cert() returned; accepts NULL. */
void store_cert_free(struct store_cert *cert);

/*
 * Walks: fn is called once per row, oldest first, with a record that lives until fn
 * returns. A negative return from fn stops the walk and becomes its result; a walk
 * over no rows returns 0 without calling fn. fn must not use st.
 */

/* Every certificate, in the order they were recorded. 0, fn's error, -ENOMEM, -EIO. */
int store_walk_certs(struct store *st, int (*fn)(const struct store_cert *cert, void *userdata),
		     void *userdata);

/*
 * The certificates recorded for this SCEP transactionID, oldest first (a replayed
 * PKCSReq is answered with its certificate; a client that derives the transactionID
 * from its key may have several). -EINVAL for an empty transaction_id.
 */
int store_walk_certs_by_transaction(struct store *st, const char *transaction_id,
				    int (*fn)(const struct store_cert *cert, void *userdata),
				    void *userdata);

/*
 * SCEP requests under manual approval (scep.approval = "manual"):
 *
 *	PKCSReq          store_add_pending()                          -> pending
 *	scepctl approve  store_set_pending_status(PENDING, APPROVED)  pending -> approved
 *	scepctl reject   store_set_pending_status(PENDING, REJECTED)  pending -> rejected
 *	CertPoll         store_add_cert_for_pending()                 approved -> issued
 *
 * Each move is one atomic conditional update: of two processes moving the same row,
 * exactly one succeeds and the other gets -ESTALE. Rows are never deleted.
 */
enum store_status {
	STORE_STATUS_PENDING = 0,
	STORE_STATUS_APPROVED,
	STORE_STATUS_REJECTED,
	STORE_STATUS_ISSUED,
	STORE_STATUS_MAX /* sentinel: the number of statuses */
};

/* "pending", "approved", "rejected", "issued" (the stored spelling); NULL when invalid. */
const char *store_status_name(enum store_status status);

/* A pending request recorded before the store knew profiles reads as profile "scep". */
struct store_pending {
	const char *transaction_id; /* printable ASCII, 1..STORE_TRANSACTION_ID_MAX bytes */
	const char *subject;        /* RFC 2253 one-line form of the CSR's subject; may be NULL */
	const unsigned char *csr_der;
	size_t csr_der_len;
	const unsigned char *signer_cert_der; /* the SCEP message's signer; NULL when none */
	size_t signer_cert_der_len;
	const char *requester; /* client address; may be NULL */
	const char *owner;     /* the one-time challenge's owner; NULL for none */
	const char *profile;   /* the SCEP profile the request came through; NULL for none */
	time_t received_at;    /* 0 when adding: now */
	/* Set by the store: ignored by store_add_pending(), filled when read. */
	enum store_status status;
	time_t decided_at;  /* 0 until approved or rejected */
	const char *serial; /* the certificate issued for it, NULL until issued */
};

#define STORE_TRANSACTION_ID_MAX 255 /* as SCEP_TXID_MAX */

/*
 * Records a request as pending. 0; -EEXIST when a request with this transaction_id
 * is recorded, whatever its status (the caller compares with store_get_pending());
 * -EINVAL for a missing or malformed transaction_id or a missing CSR; -ENOSPC; -EIO.
 */
int store_add_pending(struct store *st, const struct store_pending *req);

/*
 * 0 and a malloc'ed copy (one block) released with store_pending_free(); -ENOENT
 * (also for a malformed transaction_id); -EIO.
 */
int store_get_pending(struct store *st, const char *transaction_id, struct store_pending **ret_req);

/* Only for what store_get_pending() returned; accepts NULL. */
void store_pending_free(struct store_pending *req);

/* The requests still pending, oldest received first (ties by transaction_id). */
int store_walk_pending(struct store *st, int (*fn)(const struct store_pending *req, void *userdata),
		       void *userdata);

/*
 * Moves a request from status `from` to `to` and sets decided_at to now, in one
 * statement that matches only while the request is still in `from`. Allowed:
 * PENDING -> APPROVED, PENDING -> REJECTED (scepctl), APPROVED -> REJECTED (the
 * daemon, when an approved request can no longer be issued); anything else is
 * -EINVAL (issuing goes through store_add_cert_for_pending()). -ENOENT for an
 * unknown transaction_id; -ESTALE when the request is not in `from` (decided by
 * someone else meanwhile); -EIO.
 */
int store_set_pending_status(struct store *st, const char *transaction_id, enum store_status from,
			     enum store_status to);

/*
 * Records cert (as store_add_cert() does) for the approved request whose
 * transaction_id is cert->transaction_id, and moves that request to ISSUED with the
 * certificate's serial, in one transaction: both happen or neither. 0; -ENOENT
 * (no such request); -ESTALE (the request is not approved: still pending, rejected,
 * or issued already); -EEXIST (the serial is recorded); -EINVAL (as store_add_cert(),
 * or no transaction_id); -ENOSPC; -EIO.
 */
int store_add_cert_for_pending(struct store *st, const struct store_cert *cert);

/*
 * One-time challenges (scep.challenge.mode = "otp"), minted by scepctl. The store
 * keeps only the SHA-256 of a challenge, never the challenge: both sides hash the
 * challenge's bytes exactly as typed (no trailing newline, no case folding) and give
 * the store the digest as hex.
 */
struct store_challenge {
	const char *secret_hash; /* 64 hex digits (any case; stored lower-case) */
	const char *owner;       /* becomes %{REMOTE_USER}; NULL for none */
	const char *profile;     /* the SCEP profile it is good for (required) */
	const char *subject;     /* RFC 2253 subject a request must have to use it; NULL: any */
	time_t created_at;       /* 0: now */
	time_t expires_at;       /* > created_at */
};

#define STORE_SHA256_HEX_LEN 64

/* 0; -EEXIST (the same hash is recorded); -EINVAL (malformed hash or times, no profile); -EIO. */
int store_add_challenge(struct store *st, const struct store_challenge *ch);

/*
 * Marks the challenge used (used_at = now, used_by as given, e.g. "192.0.2.7 txid
 * 7A1F") in one conditional statement that matches only an unused, unexpired
 * challenge of that profile, bound to no subject or to this subject (compared as
 * stored: the RFC 2253 one-line form): of any number of processes consuming the same
 * challenge, exactly one gets 0. On 0, *ret_owner (when ret_owner is not NULL) is a
 * malloc'ed copy of the owner, or NULL when it has none. Failures: -ENOENT (unknown,
 * another profile's, also a malformed hash), -EALREADY (used before, whether or not
 * it has expired since), -ETIME (expired unused), -EPERM (bound to another subject,
 * or subject is NULL: left unused), -EIO. Challenges recorded before the store knew
 * profiles (schema 2 and older) are profile "scep"'s; before schema 5 none is bound.
 */
int store_consume_challenge(struct store *st, const char *secret_hash, const char *profile,
			    const char *subject, const char *used_by, char **ret_owner);

/* What store_prune() deleted. */
struct store_pruned {
	uint64_t challenges;        /* used or expired before the cut-off */
	uint64_t rejected_requests; /* pending requests rejected before the cut-off */
};

/*
 * Deletes what nobody needs any more (schema 5): one-time challenges used or expired
 * before `before`, and pending requests rejected before it. Issued certificates and
 * the requests they came from are never deleted. limit > 0 deletes at most that many
 * rows of each kind (a caller pruning millions of rows goes in batches, letting other
 * writers in between); 0 deletes all. 0 and the counts; -ENOSPC; -EIO.
 */
int store_prune(struct store *st, time_t before, unsigned limit, struct store_pruned *ret_pruned);

/* The batch of store_prune_all(). */
#define STORE_PRUNE_BATCH 10000

/*
 * store_prune() of everything before `before`, STORE_PRUNE_BATCH rows of each kind at a
 * time (other threads reach the store between two batches): 0 and the totals; on an
 * error, what was deleted until then is in *ret_pruned as well.
 */
int store_prune_all(struct store *st, time_t before, struct store_pruned *ret_pruned);

/*
 * Revocation (schema 4). A certificate is revoked by one conditional UPDATE that
 * matches only while it is not revoked, so that of any number of processes (or nodes)
 * revoking it, exactly one wins. Its revocation date and reason are then fixed: the
 * only way back is store_unrevoke() of a certificateHold, after which it may be revoked
 * again (with any reason).
 *
 *	not revoked --store_revoke(reason)--> revoked (reason, revoked_at, revoked_by)
 *	revoked (certificateHold) --store_unrevoke()--> not revoked
 *
 * Each CA has a counter of revocation changes: every successful store_revoke() and
 * store_unrevoke() of a certificate of that CA (store_cert.ca) adds one to it, in the
 * same transaction. A CRL records the counter value it was made from
 * (store_crl.changes): a CRL whose changes equal store_revocation_changes() lists
 * every revocation of its CA. Certificates without a CA (ca NULL) count for none.
 */

/* RFC 5280 CRLReason codes (7 is unused; removeFromCRL, 8, is not a revocation). */
enum store_reason {
	STORE_REASON_UNSPECIFIED = 0,
	STORE_REASON_KEY_COMPROMISE = 1,
	STORE_REASON_CA_COMPROMISE = 2,
	STORE_REASON_AFFILIATION_CHANGED = 3,
	STORE_REASON_SUPERSEDED = 4,
	STORE_REASON_CESSATION_OF_OPERATION = 5,
	STORE_REASON_CERTIFICATE_HOLD = 6,
	STORE_REASON_PRIVILEGE_WITHDRAWN = 9,
	STORE_REASON_AA_COMPROMISE = 10,
	STORE_REASON_MAX = 11 /* sentinel: above every code (7 and 8 are not ones) */
};

/*
 * The RFC 5280 name of a reason: "unspecified", "keyCompromise", "cACompromise",
 * "affiliationChanged", "superseded", "cessationOfOperation", "certificateHold",
 * "privilegeWithdrawn", "aACompromise"; NULL for anything else (7, 8, -1...).
 */
const char *store_reason_name(int reason);

/* The name (any case) back to its code: 0, or -EINVAL for anything else. */
int store_reason_parse(const char *name, int *ret_reason);

/*
 * Revokes the certificate with this serial (hex, any case, leading zeros allowed) for
 * reason (an enum store_reason), as of `when` (0: now; the caller refuses dates in the
 * future), recording `by` (who: an operator's user name, an API token's name; may be
 * NULL), and adds one to its CA's change counter, in one transaction. 0; -ENOENT
 * (no such certificate, also a serial that is not hex); -EALREADY (revoked already,
 * whatever the reason, certificateHold included: nothing changes); -EINVAL (not a
 * reason, or a negative when); -EIO.
 */
int store_revoke(struct store *st, const char *serial, int reason, time_t when, const char *by);

/*
 * Lifts a certificateHold: the certificate is no longer revoked (revoked_at and the
 * reason are cleared, revoked_by becomes `by`), and its CA's counter goes up by one,
 * in one transaction. 0; -ENOENT (no such certificate); -ESRCH (not revoked); -EPERM
 * (revoked for a final reason: that cannot be undone); -EIO.
 */
int store_unrevoke(struct store *st, const char *serial, const char *by);

/*
 * The revoked certificates of CA `ca` that have not expired at `now` (not_after > now):
 * what a CRL of that CA lists. In revocation order (revoked_at, then the order in which
 * they were recorded). ca NULL walks every CA's (and those without a CA); now 0 includes
 * the expired ones. As the other walks: 0, fn's error, -ENOMEM, -EIO.
 */
int store_walk_revoked(struct store *st, const char *ca, time_t now,
		       int (*fn)(const struct store_cert *cert, void *userdata), void *userdata);

/* The CA's counter of revocation changes: 0 and *ret (0 when never changed); -EINVAL, -EIO. */
int store_revocation_changes(struct store *st, const char *ca, uint64_t *ret);

/*
 * How many certificates are revoked now (on hold included, expired ones too), by CA and
 * profile: fn once per pair that has any, ca or profile NULL for certificates recorded
 * without them. One grouped query. 0, fn's error, -EIO.
 */
int store_count_revoked(struct store *st,
			int (*fn)(const char *ca, const char *profile, uint64_t n, void *userdata),
			void *userdata);

/*
 * The newest CRL of each CA. number is the CRL's cRLNumber (at most INT64_MAX), changes
 * the CA's counter value the CRL was made from (read it before walking the revoked
 * certificates: a change in between is then seen as a newer counter).
 */
struct store_crl {
	const char *ca;
	uint64_t number;
	const unsigned char *der;
	size_t der_len;
	time_t this_update;
	time_t next_update; /* > this_update */
	uint64_t changes;
};

/*
 * Stores crl as its CA's CRL, replacing the stored one only when crl->number is greater
 * (one conditional upsert: of several workers or nodes storing CRLs at once, the
 * highest number stays). 0; -ESTALE (a CRL with this number or a higher one is stored:
 * another one won, nothing changed); -EINVAL (no ca or der, a number above INT64_MAX,
 * next_update <= this_update); -ENOSPC; -EIO.
 */
int store_put_crl(struct store *st, const struct store_crl *crl);

/*
 * The stored CRL of CA ca: 0 and a malloc'ed copy (one block) released with
 * store_crl_free(); -ENOENT (none stored); -EIO.
 */
int store_get_crl(struct store *st, const char *ca, struct store_crl **ret_crl);

/* Only for what store_get_crl() returned; accepts NULL. */
void store_crl_free(struct store_crl *crl);

#endif
