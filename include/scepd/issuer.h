/*
 * issuer.h - the one path every endpoint takes to a certificate:
 * CSR check -> policy -> signer -> store -> audit record.
 *
 * One issuer per worker, shared by its request threads. It owns the worker's keys,
 * signer and store; a signature is made by one thread at a time (one engine
 * session), everything else runs in the request's own thread. When the
 * token goes away it drops the keys and answers "unavailable" at once; libp11 0.4.12
 * cannot load the engine again in the same process, so the worker then has itself
 * replaced by a new process (see worker.c).
 * Knows nothing of HTTP: handlers map the result to their protocol.
 */
#ifndef SCEPD_ISSUER_H
#define SCEPD_ISSUER_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

#include "scepd/config.h"
#include "scepd/keys.h"
#include "scepd/scep_msg.h"
#include "scepd/store.h"

struct issuer;

struct issuer_request {
	X509_REQ *csr;
	const struct config_name_policy *subject; /* the endpoint's rules */
	const struct config_name_policy *subject_alt_name;
	const char *endpoint;       /* "csr" or "scep", for the record */
	const char *requester;      /* client address */
	const char *remote_user;    /* token name or challenge owner, recorded as the
				     * certificate's owner; NULL when none */
	const char *transaction_id; /* SCEP transactionID; NULL for /csr */
	bool approved_pending;      /* record it as the issuance of this approved request
				     * (its csr, as stored, was checked when it came) */
};

enum issuer_status {
	ISSUER_ISSUED,
	ISSUER_BAD_REQUEST, /* unusable CSR: bad signature, bad key, no serialNumber */
	ISSUER_DENIED,      /* the policy refused */
	ISSUER_UNAVAILABLE, /* cannot sign or record right now: token gone, store failing */
};

struct issuer_result {
	enum issuer_status status;
	char reason[256]; /* not ISSUED: one line for the client and the log */
	X509 *cert;       /* ISSUED: the certificate, already recorded; the caller frees it */
};

/*
 * Takes ownership of keys and store (also on failure). keys may be NULL: then the
 * issuer answers every request "unavailable" with unavailable_reason.
 */
int issuer_new(const struct scepd_config *cfg, struct keys *keys, struct store *store,
	       const char *unavailable_reason, struct issuer **ret_issuer);
void issuer_free(struct issuer *is);

/* Returns 0 with *ret filled, whatever the outcome; negative only for -ENOMEM. */
int issuer_issue(struct issuer *is, const struct issuer_request *req, struct issuer_result *ret);

/* Frees what a result holds and zeroes it. */
void issuer_result_clear(struct issuer_result *res);

/* Whether this worker can sign now; when not, why (for /healthz). */
bool issuer_healthy(struct issuer *is, char *reason, size_t size);

/*
 * Whether the store can be reached now; when not, why (for /healthz). Unlike a token
 * that is gone, an unreachable store does not get the worker replaced: the store
 * reconnects by itself.
 */
bool issuer_store_reachable(struct issuer *is, char *reason, size_t size);

/*
 * The CA chain (signing certificate first, root last), for PKCS#7 answers; the RA
 * chain (RA certificate first) or NULL without an RA; the next CA and next RA
 * certificates or NULL. All NULL while the worker started without its keys.
 */
STACK_OF(X509) *issuer_get0_chain(struct issuer *is);
STACK_OF(X509) *issuer_get0_ra_chain(struct issuer *is);
X509 *issuer_get0_ca_next(struct issuer *is);
X509 *issuer_get0_ra_next(struct issuer *is);

/*
 * SCEP operations with the RA key (the CA key without an RA), under the issuer's lock.
 * -EAGAIN when this worker cannot use its keys (token gone): answer 503.
 */
int issuer_scep_decrypt(struct issuer *is, struct scep_msg *msg);
int issuer_scep_certrep(struct issuer *is, const struct scep_msg *req,
			const struct scep_certrep *rep, unsigned char **ret_der, size_t *ret_len);
int issuer_scep_next_ca(struct issuer *is, unsigned char **ret_der, size_t *ret_len);

/*
 * Whether cert is one this CA issued, valid now and on record with these very bytes:
 * 0 yes, and its record when ret_record is not NULL (the endpoint it was issued
 * through, its owner; release it with store_cert_free()); -EBADMSG not issued by this
 * CA, -EKEYEXPIRED outside its validity, -ENOENT not on record; -EIO store failure.
 */
int issuer_check_issued(struct issuer *is, X509 *cert, struct store_cert **ret_record);

/* Whether a request signed by an issued certificate renews that certificate's identity. */
struct issuer_renewal {
	bool renews;         /* the policy's subject for req is signer's subject, and every
				SAN req asks for (and the policy would give) is in signer */
	const char *refusal; /* !renews: why not, one static line for the client and log */
};

/*
 * Checks req (its csr, rules, requester, and as remote_user the owner recorded with
 * signer) against signer, a certificate issuer_check_issued() accepted. No key
 * operation, nothing recorded. 0 with *ret filled, or -ENOMEM.
 */
int issuer_renewal_check(const struct issuer_request *req, X509 *signer,
			 struct issuer_renewal *ret);

/*
 * The newest certificate recorded for this SCEP transaction whose public key is key:
 * a retransmitted request gets it again instead of a new one, and CertPoll answers
 * only the holder of the key. 0 and the certificate, -ENOENT, -EIO.
 */
int issuer_find_transaction_cert(struct issuer *is, const char *transaction_id, EVP_PKEY *key,
				 X509 **ret_cert);

/*
 * Uses up the one-time challenge (compared by its SHA-256, atomically, across all
 * workers): 0 and its owner (malloc'ed, may be NULL), -ENOENT unknown, -EALREADY used,
 * -ETIME expired, -EIO.
 */
int issuer_consume_challenge(struct issuer *is, const char *challenge, const char *used_by,
			     char **ret_owner);

/* Manual approval: the state of a transaction, and adding a new pending request. */
int issuer_get_pending(struct issuer *is, const char *transaction_id,
		       struct store_pending **ret_pending);
int issuer_add_pending(struct issuer *is, const char *transaction_id, X509_REQ *csr, X509 *signer,
		       const char *requester, const char *owner);

/* The recorded certificate with this serial: 0, -ENOENT, -EIO. */
int issuer_find_cert(struct issuer *is, const ASN1_INTEGER *serial, X509 **ret_cert);

#endif
