/*
 * scep_build.h - the client side of SCEP, for the unit tests and scep_client.
 *
 * Requests are built the way certmonger builds them, with OpenSSL's PKCS7 API, and
 * replies are read with CMS: deliberately not with src/scep_msg.c, so that the codec
 * is tested against a second implementation rather than against itself. Flags make
 * the broken messages the tests need. libcrypto only; never prints.
 */
#ifndef SCEPD_TESTS_SCEP_BUILD_H
#define SCEPD_TESTS_SCEP_BUILD_H

#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define SCEP_BUILD_NONCE_MAX 64

enum scep_build_flag {
	SCEP_BUILD_BAD_SIGNATURE = 1 << 0,  /* flip a bit of the signature */
	SCEP_BUILD_UNSORTED_ATTRS = 1 << 1, /* signed attributes unsorted, and signed so */
	SCEP_BUILD_NO_CERTS = 1 << 2,       /* leave the signer certificate out */
	SCEP_BUILD_BARE_ENVELOPE = 1 << 3,  /* EnvelopedData without ContentInfo (old certmonger) */
	SCEP_BUILD_CORRUPT_KEY = 1 << 4,    /* flip a bit of the encrypted content key */
	SCEP_BUILD_CORRUPT_IV = 1 << 5,     /* flip the first bit of the IV */
	SCEP_BUILD_CORRUPT_CONTENT = 1 << 6, /* flip a bit of the first ciphertext block */
	SCEP_BUILD_CORRUPT_PADDING = 1 << 7, /* flip the last byte of the next-to-last block */
	SCEP_BUILD_RECIPIENT_KEYID = 1 << 8, /* recipients by subjectKeyIdentifier (CMS v2) */
};

struct scep_build_req {
	int type;                   /* messageType; < 0: none */
	const char *type_text;      /* messageType as this text instead, when not NULL */
	const char *txid;           /* transactionID; NULL: none */
	const unsigned char *nonce; /* senderNonce; NULL: none */
	size_t nonce_len;
	const EVP_MD *md;         /* digest of the signature */
	const EVP_CIPHER *cipher; /* content cipher of the envelope */
	X509 *signer_cert;
	EVP_PKEY *signer_key;
	X509 *recipient;              /* the RA (or CA) certificate */
	STACK_OF(X509) *others;       /* more recipients, before it in the envelope; or NULL */
	const unsigned char *content; /* DER to encrypt: CSR, IssuerAndSubject, ... */
	size_t content_len;
	unsigned int flags; /* enum scep_build_flag */
};

/* The pkiMessage. *ret_der is malloc()ed. -EINVAL, -ENOMEM, -EIO. */
int scep_build_request(const struct scep_build_req *req, unsigned char **ret_der, size_t *ret_len);

/* A self-signed certificate, as clients make for initial enrolment (KU DS|KE). */
int scep_build_self_signed(EVP_PKEY *key, const X509_NAME *subject, X509 **ret_cert);

/*
 * A PKCS#10 request with SHA-256, SANs in openssl.cnf syntax ("DNS:a,IP:192.0.2.1")
 * or NULL, a challengePassword (PrintableString when it can be, else UTF8String) or
 * NULL.
 */
int scep_build_csr(EVP_PKEY *key, const X509_NAME *subject, const char *san, const char *challenge,
		   X509_REQ **ret_csr);

/* DER of IssuerAndSubject (CertPoll) and IssuerAndSerialNumber (GetCert, GetCRL). */
int scep_build_issuer_and_subject(const X509_NAME *issuer, const X509_NAME *subject,
				  unsigned char **ret_der, size_t *ret_len);
int scep_build_issuer_and_serial(const X509_NAME *issuer, const ASN1_INTEGER *serial,
				 unsigned char **ret_der, size_t *ret_len);

/* The transactionID Apple uses: hex SHA-1 of the public key (41 bytes with NUL). */
int scep_build_txid(EVP_PKEY *key, char *buf, size_t size);

/* Certificates from a DER or PEM certificate, PEM certificates, or DER/PEM PKCS#7. */
int scep_build_read_certs(const unsigned char *data, size_t len, STACK_OF(X509) **ret_certs);

/*
 * The certificate a client encrypts to, as Apple picks it from GetCACert: the one
 * certificate, or the first non-CA certificate allowing keyEncipherment. -ENOENT.
 */
int scep_build_pick_ra(STACK_OF(X509) *certs, X509 **ret_ra);

struct scep_build_reply {
	int type;        /* messageType, -1: absent or not a number */
	int status;      /* pkiStatus, -1 */
	int fail;        /* failInfo, -1 */
	char *fail_text; /* failInfoText, or NULL */
	char *txid;      /* transactionID, or NULL */
	unsigned char sender_nonce[SCEP_BUILD_NONCE_MAX];
	size_t sender_nonce_len;
	unsigned char recipient_nonce[SCEP_BUILD_NONCE_MAX];
	size_t recipient_nonce_len;
	int digest_nid;           /* of the signature */
	int cipher_nid;           /* SUCCESS: of the envelope, NID_undef when not read */
	STACK_OF(X509) *certs;    /* SUCCESS: the certificates, in encoded order */
	STACK_OF(X509_CRL) *crls; /* SUCCESS: the CRLs (GetCRL), or NULL: none */
};

/*
 * Checks that der is a SignedData signed by ra (the signer must be ra itself), reads
 * the CertRep attributes and, for SUCCESS, decrypts the envelope with cert and key and
 * reads the certificates and CRLs. 0, -EBADMSG (not that, or a bad signature), -ENOMEM.
 * Whether the values are the expected ones is the caller's to check.
 */
int scep_build_read_reply(const unsigned char *der, size_t len, X509 *ra, X509 *cert, EVP_PKEY *key,
			  struct scep_build_reply *ret);
void scep_build_reply_clear(struct scep_build_reply *reply);

/* GetNextCACert: the certificates inside, when ra signed it. */
int scep_build_read_next_ca(const unsigned char *der, size_t len, X509 *ra,
			    STACK_OF(X509) **ret_certs);

#endif
