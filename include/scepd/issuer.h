/*
 * issuer.h - the one path every endpoint takes to a certificate:
 * CSR check -> policy -> signer -> store -> audit record.
 *
 * One issuer per worker, shared by its request threads, for every profile. It owns
 * the worker's keys, a signer per profile (its CA's key, with the profile's
 * extensions and days) and the store; a signature is made by one thread at a time (one engine
 * session), everything else runs in the request's own thread. When the
 * token goes away it drops the keys and answers "unavailable" at once; libp11 0.4.12
 * cannot load the engine again in the same process, so the worker then has itself
 * replaced by a new process (see worker.c). It also lends the RA key, under the same
 * lock, for SCEP's envelopes and CertReps (issuer_with_ra_key); who may enrol is
 * decided in scep_enrol.c, not here.
 * Knows nothing of HTTP or SCEP: handlers map the result to their protocol.
 */
#ifndef SCEPD_ISSUER_H
#define SCEPD_ISSUER_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

#include "scepd/config.h"
#include "scepd/keys.h"
#include "scepd/policy.h"
#include "scepd/stats.h"
#include "scepd/store.h"

struct issuer;

struct issuer_request {
	X509_REQ *csr;
	size_t profile;             /* index in cfg->profiles: the rules, the CA, the record */
	const char *requester;      /* client address */
	const char *remote_user;    /* token name or challenge owner, recorded as the
				     * certificate's owner; NULL when none */
	const char *transaction_id; /* SCEP transactionID; NULL for /csr */
	bool approved_pending;      /* record it as the issuance of this approved request */
	bool csr_verified;          /* the caller checked csr's own signature already */
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
	/*
	 * ISSUED: what the request asked for and the profile's rules left out, as
	 * policy_decision.dropped ("subjectAltName=DNS:www.example.com; subject=OU"), ""
	 * for nothing; also logged at notice level. Safe for an HTTP header.
	 */
	char dropped[POLICY_DROPPED_MAX];
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
 * Of a profile (an index in cfg->profiles): its CA's chain (signing certificate
 * first, root last), for PKCS#7 answers; its RA chain (RA certificate first) or NULL
 * without an RA; the next CA and next RA certificates or NULL. All NULL while the
 * worker started without its keys.
 */
STACK_OF(X509) *issuer_get0_chain(struct issuer *is, size_t profile);
STACK_OF(X509) *issuer_get0_ra_chain(struct issuer *is, size_t profile);
X509 *issuer_get0_ca_next(struct issuer *is, size_t profile);
X509 *issuer_get0_ra_next(struct issuer *is, size_t profile);

/* CA ca's signing certificate (an index in cfg->cas); NULL while started without keys. */
X509 *issuer_get0_ca_cert(struct issuer *is, size_t ca);

/* The profile's configuration. */
const struct config_profile *issuer_get0_profile(struct issuer *is, size_t profile);

/*
 * Runs op with the profile's RA certificate and key (its CA's without an RA) under the
 * issuer's lock: the engine session makes one key operation at a time. op returns its
 * result and sets *ret_failed when a key operation failed: when the token is to blame
 * (keys_token_lost()), the keys are dropped and the result is -EAGAIN. -EAGAIN, op not
 * called, when this worker cannot use its keys (answer 503). The time op takes and a
 * failure's class are counted under what (scepd_sign_duration_seconds).
 */
int issuer_with_ra_key(struct issuer *is, size_t profile, enum stats_key_op what,
		       int (*op)(X509 *ra_cert, EVP_PKEY *ra_key, void *arg, bool *ret_failed),
		       void *arg);

/* The same with CA ca's certificate and key (an index in cfg->cas): for its CRL. */
int issuer_with_ca_key(struct issuer *is, size_t ca,
		       int (*op)(X509 *ca_cert, EVP_PKEY *ca_key, void *arg, bool *ret_failed),
		       void *arg);

/* The same with the signer of CA ca's OCSP responses: its delegated one, or the CA. */
int issuer_with_ocsp_key(struct issuer *is, size_t ca,
			 int (*op)(X509 *signer, EVP_PKEY *key, void *arg, bool *ret_failed),
			 void *arg);

/*
 * Count each certificate issued in st (scepd_certificates_issued_total), under the
 * profile's and its CA's name slots, which the supervisor assigned already. Call once,
 * before serving; st NULL (the default): nothing counted.
 */
void issuer_set_stats(struct issuer *is, struct stats *st);

/* Those counters, for the handlers that count what they answer; NULL when none. */
struct stats *issuer_get0_stats(struct issuer *is);

/* The store, for lookups that issue nothing (the SCEP state machine's). */
struct store *issuer_get0_store(struct issuer *is);

#endif
