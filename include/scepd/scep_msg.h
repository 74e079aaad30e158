/*
 * scep_msg.h - SCEP pkiMessage codec (RFC 8894): DER bytes <-> struct scep_msg.
 *
 * A request is read in two steps, so that no key operation happens for a message
 * whose signature does not verify: scep_msg_parse() reads the outer SignedData and its
 * signed attributes and checks the signature with the certificate carried in the
 * message (no chain, no expiry: that is the caller's), then scep_msg_decrypt() opens
 * the pkcsPKIEnvelope with the RA (or CA) key, when it is addressed to the RA
 * certificate, and reads what is inside.
 * scep_msg_certrep() answers it; scep_msg_certs_only() and scep_msg_next_ca() make the
 * bodies of GetCACert and GetNextCACert.
 *
 * A message that must be refused is a result, not an error: the functions return 0
 * with msg->fail set, and the caller answers a signed FAILURE with that failInfo.
 * Negative errno only for what is not a pkiMessage at all (-EBADMSG: answer 400), for
 * -ENOMEM, and for -EIO when our own key or certificate cannot sign or encrypt.
 * No HTTP, store, policy or key loading here; libcrypto only; never logs.
 */
#ifndef SCEPD_SCEP_MSG_H
#define SCEPD_SCEP_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define SCEP_NONCE_LEN 16  /* the senderNonce we send */
#define SCEP_NONCE_MAX 64  /* the longest nonce we accept */
#define SCEP_TXID_MAX  255 /* the longest transactionID we accept */

/* messageType (RFC 8894 3.2.1.2). */
enum scep_msg_type {
	SCEP_MSG_CERTREP = 3,
	SCEP_MSG_RENEWALREQ = 17,
	SCEP_MSG_PKCSREQ = 19,
	SCEP_MSG_CERTPOLL = 20, /* GetCertInitial */
	SCEP_MSG_GETCERT = 21,
	SCEP_MSG_GETCRL = 22,
};

/* pkiStatus (3.2.1.3). */
enum scep_status {
	SCEP_STATUS_SUCCESS = 0,
	SCEP_STATUS_FAILURE = 2,
	SCEP_STATUS_PENDING = 3,
};

/* failInfo (3.2.1.4). */
enum scep_fail {
	SCEP_FAIL_NONE = -1,
	SCEP_FAIL_BAD_ALG = 0,
	SCEP_FAIL_BAD_MESSAGE_CHECK = 1,
	SCEP_FAIL_BAD_REQUEST = 2,
	SCEP_FAIL_BAD_TIME = 3,
	SCEP_FAIL_BAD_CERT_ID = 4,
	SCEP_FAIL_MAX
};

enum scep_digest {
	SCEP_DIGEST_SHA1,
	SCEP_DIGEST_SHA224,
	SCEP_DIGEST_SHA256,
	SCEP_DIGEST_SHA384,
	SCEP_DIGEST_SHA512,
	SCEP_DIGEST_MAX
};

/* DES is read (micromdm's scepclient sends nothing else) but never written. */
enum scep_cipher {
	SCEP_CIPHER_DES,
	SCEP_CIPHER_DES3,
	SCEP_CIPHER_AES128,
	SCEP_CIPHER_AES256,
	SCEP_CIPHER_MAX
};

struct scep_msg {
	/* scep_msg_parse(): signed attributes, read even when fail is set */
	int type;                     /* messageType as sent; -1: not a decimal number */
	char txid[SCEP_TXID_MAX + 1]; /* transactionID, printable ASCII */
	unsigned char sender_nonce[SCEP_NONCE_MAX];
	size_t sender_nonce_len;
	unsigned char recipient_nonce[SCEP_NONCE_MAX];
	size_t recipient_nonce_len; /* 0: absent */
	enum scep_digest digest;    /* the request's; SHA-256 when it was not supported */
	int signature_nid;          /* its signatureAlgorithm (NID_rsassaPss...), for the log */
	X509 *signer;               /* its signature verified; NULL when it did not */
	enum scep_fail fail;        /* not SCEP_FAIL_NONE: answer FAILURE with it */
	const char *fail_reason;    /* with fail: what was wrong, for the log only (static) */

	/* scep_msg_decrypt() */
	bool decrypted; /* the fields below are valid */
	enum scep_cipher cipher;
	X509_REQ *csr;           /* PKCSReq, RenewalReq; its self-signature verified */
	char *challenge;         /* its challengePassword as UTF-8; NULL: none */
	bool signer_has_csr_key; /* the signer certificate holds the CSR's key */
	X509_NAME *issuer;       /* CertPoll, GetCert, GetCRL */
	X509_NAME *subject;      /* CertPoll */
	ASN1_INTEGER *serial;    /* GetCert, GetCRL */

	/* private to scep_msg.c */
	unsigned char *envelope;
	size_t envelope_len;
};

/* What to answer. */
struct scep_certrep {
	enum scep_status status;
	enum scep_fail fail;      /* FAILURE: the failInfo */
	const char *fail_text;    /* FAILURE: failInfoText (UTF-8), or NULL */
	X509 *cert;               /* SUCCESS: the certificate, first in the reply */
	STACK_OF(X509) *chain;    /* SUCCESS: NULL, or certificates to add after it */
	const unsigned char *crl; /* SUCCESS to GetCRL, instead of cert: the CRL (DER) */
	size_t crl_len;
};

/*
 * Makes DES-CBC decryptable (OpenSSL 3 keeps it in the "legacy" provider, loaded here
 * with the fallback to "default" kept). Once per process; scep_msg_decrypt() calls it
 * when it meets DES, a worker may call it at start to learn early. 0, or -ENOENT when
 * the provider is not available: DES requests are then answered badAlg.
 */
int scep_msg_init(void);

/*
 * 0 and the message when der is a pkiMessage: a SignedData with one signer, content
 * of type data, and the signed attributes messageType, transactionID and senderNonce.
 * msg->fail then says whether to go on: SCEP_FAIL_NONE, or badAlg (digest other than
 * SHA-1, SHA-224, SHA-256, SHA-384, SHA-512), badMessageCheck (the signature does not
 * verify with the certificate in the message), badRequest (a messageType other than
 * 17, 19, 20, 21, 22). -EBADMSG when it is not a pkiMessage, -ENOMEM.
 */
int scep_msg_parse(const void *der, size_t len, struct scep_msg **ret_msg);

/*
 * Opens the envelope of a message that scep_msg_parse() accepted (fail is NONE) with
 * ra_key, the key of ra_cert (the RA or CA), any RSA EVP_PKEY, an engine key too, and
 * reads its content by type. The key is used once at most, on the one recipient (of
 * at most 4) whose issuerAndSerialNumber names ra_cert; ra_cert is not checked
 * against ra_key. An envelope with no such recipient is badMessageCheck without any
 * key operation, so that a message anyone can sign costs no private-key work unless
 * it is addressed to us. 0 with msg->decrypted, or 0 with msg->fail set: badAlg for a
 * content cipher other than DES, DES3, AES-128-CBC, AES-256-CBC, or a signer key a
 * reply cannot be encrypted to (neither RSA nor EC); badMessageCheck when no
 * recipient names ra_cert, or the envelope cannot be opened or what it holds does
 * not decode as the message type's content, whatever the reason (one answer: no
 * padding oracle); badRequest for a request that decodes but is not acceptable (a
 * broken self-signature; a challengePassword repeated, multi-valued, not a string or
 * with a NUL). -EINVAL when msg was not to be decrypted, -ENOMEM.
 *
 * A self-signed signer must hold the CSR's key (RFC 8894 2.3), or anyone could wrap
 * a captured envelope, challenge and all, in a message of their own: for a signer
 * that is not a certificate this CA issued, refuse PKCSReq without signer_has_csr_key.
 */
int scep_msg_decrypt(struct scep_msg *msg, X509 *ra_cert, EVP_PKEY *ra_key);

/* NULL is fine. The challenge is wiped. */
void scep_msg_free(struct scep_msg *msg);

/*
 * The CertRep answering req: a SignedData by ra_cert/ra_key with req's digest, which
 * carries ra_cert and the PrintableString attributes messageType "3", pkiStatus,
 * failInfo on FAILURE (and failInfoText when given), req's transactionID, a fresh
 * senderNonce and recipientNonce = req's senderNonce. On SUCCESS its content is an
 * EnvelopedData for req's signer certificate, with req's cipher (DES3 for a DES
 * request), holding a certificates-only SignedData with rep->cert first and
 * rep->chain after it in that order, or with rep->crl (and no cert) a SignedData
 * holding that CRL and no certificate (GetCRL, RFC 8894 3.3.4); otherwise the content
 * is empty. SUCCESS needs a decrypted req and either cert or crl. *ret_der is malloc()ed. -EINVAL, -ENOMEM, or -EIO when signing or
 * encrypting failed (see keys_token_lost()).
 */
int scep_msg_certrep(const struct scep_msg *req, const struct scep_certrep *rep, X509 *ra_cert,
		     EVP_PKEY *ra_key, unsigned char **ret_der, size_t *ret_len);

/* A degenerate certificates-only SignedData (GetCACert with an RA), certs in order. */
int scep_msg_certs_only(STACK_OF(X509) *certs, unsigned char **ret_der, size_t *ret_len);

/* GetNextCACert: a SignedData by ra_cert/ra_key (SHA-256) over scep_msg_certs_only(certs). */
int scep_msg_next_ca(STACK_OF(X509) *certs, X509 *ra_cert, EVP_PKEY *ra_key,
		     unsigned char **ret_der, size_t *ret_len);

/* Names for logs and tests: "PKCSReq", "badAlg", "aes128", "sha256"; NULL when unknown. */
const char *scep_msg_type_name(int type);
const char *scep_msg_fail_name(enum scep_fail fail);
const char *scep_msg_cipher_name(enum scep_cipher cipher);
const char *scep_msg_digest_name(enum scep_digest digest);

#endif
