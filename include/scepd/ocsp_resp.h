/*
 * ocsp_resp.h - the OCSP responder's protocol core (RFC 6960): OCSPRequest DER in,
 * OCSPResponse DER out, for one CA, with the status of each serial from a callback.
 *
 * An answer is made in two steps, so that the caller can hold its key lock over the
 * private-key operation alone: ocsp_resp_prepare() parses the request, looks up each
 * CertID and builds the unsigned BasicOCSPResponse, ocsp_resp_sign() signs it (or, when
 * the request was refused, encodes the error answer without touching the key).
 *
 * A request that must be refused is a result, not an error: the prepared answer then
 * carries malformedRequest (bytes that are not one OCSPRequest, no or too many CertIDs,
 * a bad nonce) or tryLater (the lookup failed). A CertID of another issuer, or hashed
 * with an algorithm other than SHA-1 or SHA-256, is answered "unknown" (RFC 6960 2.2).
 * Negative errno only for -ENOMEM, and for -EIO when our key cannot sign: the caller
 * then sends ocsp_resp_error(OCSP_RESPONSE_STATUS_INTERNALERROR).
 * No HTTP, store, configuration or key loading here; libcrypto only; never logs.
 */
#ifndef SCEPD_OCSP_RESP_H
#define SCEPD_OCSP_RESP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>

#define OCSP_RESP_MAX_IDS   64   /* CertIDs in one request; more is malformedRequest */
#define OCSP_RESP_NONCE_MAX 32   /* RFC 8954: a longer nonce is malformedRequest */
#define OCSP_RESP_GET_MAX   8192 /* characters of a GET request's path tail */

/* certStatus (RFC 6960 4.2.1). */
enum ocsp_resp_cert_status {
	OCSP_RESP_CERT_GOOD,
	OCSP_RESP_CERT_REVOKED,
	OCSP_RESP_CERT_UNKNOWN,
};

/* What the lookup answers for one serial. */
struct ocsp_resp_status {
	enum ocsp_resp_cert_status status;
	time_t revoked_at; /* REVOKED: revocationTime */
	int reason;        /* REVOKED: RFC 5280 CRLReason (0-10 but 7), -1 for none */
};

/*
 * The status of a certificate of this CA by its serial, written as the store writes
 * serials (upper-case hex, no leading zeros, encoding_hex_serial()): 0 with ret filled,
 * or negative errno, and then the whole answer is tryLater.
 */
typedef int (*ocsp_resp_lookup_fn)(const char *serial_hex, struct ocsp_resp_status *ret,
				   void *userdata);

struct ocsp_resp_params {
	X509 *ca;                   /* the issuer: CertIDs must hash its name and key */
	long next_update_secs;      /* nextUpdate = thisUpdate + this; 0: no nextUpdate */
	ocsp_resp_lookup_fn lookup; /* called once per CertID of this CA */
	void *userdata;             /* passed to lookup */
};

struct ocsp_resp_prep;

/*
 * Parses der (a POST body, or what ocsp_resp_decode_get() made of a GET) and builds the
 * answer to sign, thisUpdate now. 0 and *ret_prep (the answer may be a refusal, see
 * ocsp_resp_prep_status()), or -ENOMEM.
 */
int ocsp_resp_prepare(const struct ocsp_resp_params *params, const unsigned char *der, size_t len,
		      struct ocsp_resp_prep **ret_prep);

/* The responseStatus the answer carries: OCSP_RESPONSE_STATUS_SUCCESSFUL or a refusal. */
int ocsp_resp_prep_status(const struct ocsp_resp_prep *prep);

/*
 * Whether the signed answer may serve the same request again while every status in it
 * holds (RFC 5019): it is successful and the request carried no nonce.
 */
bool ocsp_resp_prep_reusable(const struct ocsp_resp_prep *prep);

/* A successful answer's thisUpdate. */
time_t ocsp_resp_prep_this_update(const struct ocsp_resp_prep *prep);

/*
 * The answer as OCSPResponse DER (malloc()ed). A successful one is signed by signer
 * with key (SHA-256; Ed25519 and Ed448 without a digest), responderID byKey, and
 * carries signer's certificate (the CA's or the delegated responder's). key and signer
 * are not used for a refusal and may then be NULL. Once per prep. 0, -EIO (the key did
 * not sign, or does not match signer), -EINVAL (no signer or key for a successful
 * answer), -ENOMEM.
 */
int ocsp_resp_sign(struct ocsp_resp_prep *prep, X509 *signer, EVP_PKEY *key,
		   unsigned char **ret_der, size_t *ret_len);

void ocsp_resp_prep_free(struct ocsp_resp_prep *prep);

/*
 * An unsigned answer with responseStatus status (OCSP_RESPONSE_STATUS_*, not
 * SUCCESSFUL) as DER (malloc()ed): 0, -EINVAL for SUCCESSFUL or an unknown status,
 * -ENOMEM.
 */
int ocsp_resp_error(int status, unsigned char **ret_der, size_t *ret_len);

/*
 * The request of a GET (RFC 6960 A.1): the path after the responder's URL and its '/',
 * the URL-encoding of the base64 of the DER. Percent escapes are decoded (those the
 * HTTP layer has already decoded do no harm), ' ' counts as '+' (a '+' a client did
 * not escape, made a space on the way), and a '/' of the base64 is part of it.
 * 0 and the malloc()ed DER, -EBADMSG when it is not that, or longer than
 * OCSP_RESP_GET_MAX characters, -ENOMEM.
 */
int ocsp_resp_decode_get(const char *path_tail, unsigned char **ret_der, size_t *ret_len);

#endif
