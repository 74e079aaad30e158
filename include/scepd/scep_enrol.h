/*
 * scep_enrol.h - the SCEP state machine: a verified, decrypted pkiMessage in, a
 * verdict out (issue, pending, failure with failInfo, or retry later).
 *
 * It decides who may enrol and how (renewal of the same identity, a new request with
 * its challenge, manual approval), answers retransmissions, CertPoll, GetCert and
 * GetCRL, and
 * goes through the issuer for everything that signs or reads the store. No HTTP here:
 * scep_http.c maps verdicts to CertReps and status codes, rate limits refusals, and
 * never decides.
 */
#ifndef SCEPD_SCEP_ENROL_H
#define SCEPD_SCEP_ENROL_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/x509.h>

#include "scepd/config.h"
#include "scepd/crl_publish.h"
#include "scepd/issuer.h"
#include "scepd/scep_msg.h"

struct scep_enrol;

enum scep_verdict_kind {
	SCEP_VERDICT_SUCCESS, /* answer the certificate */
	SCEP_VERDICT_PENDING, /* the operator has yet to decide */
	SCEP_VERDICT_FAILURE, /* a signed FAILURE with fail and text */
	SCEP_VERDICT_RETRY,   /* cannot decide now (store or token): HTTP 503 with text */
};

struct scep_verdict {
	enum scep_verdict_kind kind;
	enum scep_fail fail; /* FAILURE: the failInfo */
	char text[300];      /* FAILURE: failInfoText for the client; RETRY: the 503's line */
	char log[256];       /* what happened, for the operator: why a FAILURE or RETRY, what
				a SUCCESS was ("renewal of serial ..."); may be "" */
	X509 *cert;          /* SUCCESS: the certificate; scep_verdict_clear() frees it */
	unsigned char *crl;  /* SUCCESS to GetCRL, instead of cert: the CA's CRL (DER);
				scep_verdict_clear() frees it */
	size_t crl_len;
	int retry_after; /* RETRY: seconds for a Retry-After header; 0: none */
};

/* What a challenge validator (scep.challenge.mode "webhook") is asked about a request. */
struct scep_enrol_query {
	const char *profile;        /* the profile's name */
	const char *challenge;      /* the request's challenge password, never NULL */
	const char *transaction_id; /* never NULL */
	X509_REQ *csr;
	const char *client; /* the requester's address */
};

/*
 * Who says yes or no to a challenge for the state machine, which knows no HTTP (a
 * fake in the unit tests). check() answers 0 with *ret_allow (false: refused), or a
 * negative errno when it cannot answer now: nothing is issued and nothing used up, the
 * client is told to come back (RETRY). why: one line for the log either way (why
 * refused, why no answer), never the challenge; may be "". It may block: the worker's
 * other threads go on serving. arg is passed back.
 */
struct scep_enrol_validator {
	int (*check)(void *arg, const struct scep_enrol_query *q, bool *ret_allow, char *why,
		     size_t why_size);
	void *arg;
};

/* Seconds a client is asked to wait (Retry-After) when the validator cannot answer. */
#define SCEP_ENROL_VALIDATOR_RETRY_AFTER 30

/*
 * One per SCEP profile (an index in cfg->profiles) and worker, on the worker's
 * issuer. challenge: the profile's static challenge (challenge.mode "static"),
 * copied; NULL otherwise. crls: the worker's CRLs (borrowed) when the profile's CA
 * has crl.path, for GetCRL; NULL: GetCRL is refused. 0, -ENOMEM.
 */
int scep_enrol_new(struct issuer *issuer, size_t profile, const char *challenge,
		   struct crl_publish *crls, struct scep_enrol **ret);
void scep_enrol_free(struct scep_enrol *e);

/*
 * The validator of a profile with challenge.mode "webhook" (copied; its arg is
 * borrowed and must outlive e). Without one, such a profile answers RETRY to every new
 * request.
 */
void scep_enrol_set_validator(struct scep_enrol *e, const struct scep_enrol_validator *v);

/*
 * The verdict on msg, a PKCSReq, RenewalReq, CertPoll, GetCert or GetCRL whose signature
 * verified and which scep_msg_decrypt() opened (msg->fail NONE). client: the
 * requester's address, for the record. Returns 0 with *ret filled, or a negative
 * errno for what no verdict can answer (-ENOMEM, -EINVAL for another message type).
 */
int scep_enrol_decide(struct scep_enrol *e, const struct scep_msg *msg, const char *client,
		      struct scep_verdict *ret);

/* Frees what a verdict holds and zeroes it. */
void scep_verdict_clear(struct scep_verdict *v);

/* "SUCCESS", "PENDING", "FAILURE", "RETRY"; NULL when invalid. */
const char *scep_verdict_kind_name(enum scep_verdict_kind kind);

#endif
