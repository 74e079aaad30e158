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
};

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
