/*
 * scep_store.h - the SCEP state machine's view of the store (scep_store.c): signers,
 * transactions, certificates by serial, one-time challenges, pending requests.
 * Knows nothing of keys, policy or HTTP.
 */
#ifndef SCEPD_SCEP_STORE_H
#define SCEPD_SCEP_STORE_H

#include <openssl/x509.h>

#include "scepd/store.h"

/*
 * Whether cert is one that ca issued, valid now and on record with these very bytes:
 * 0 yes, and its record when ret_record is not NULL (the endpoint it was issued
 * through, its owner; release it with store_cert_free()); -EBADMSG not issued by ca
 * (or ca NULL), -EKEYEXPIRED outside its validity, -ENOENT not on record; -EIO and the
 * store's other errors when it failed.
 */
int scep_store_check_issued(struct store *st, X509 *ca, X509 *cert, struct store_cert **ret_record);

/* The recorded certificate with this serial: 0, -ENOENT, -EIO. */
int scep_store_find_cert(struct store *st, const ASN1_INTEGER *serial, X509 **ret_cert);

/*
 * The newest certificate recorded for this SCEP transaction through this profile whose
 * public key is key: a retransmitted request gets it again instead of a new one, and
 * CertPoll answers only the holder of the key. 0 and the certificate, -ENOENT, -EIO.
 */
int scep_store_find_transaction_cert(struct store *st, const char *transaction_id,
				     const char *profile, EVP_PKEY *key, X509 **ret_cert);

/*
 * Uses up the one-time challenge of profile (compared by its SHA-256, atomically,
 * across all workers), when it is bound to no subject or to csr's: 0 and its owner
 * (malloc'ed, may be NULL), -ENOENT unknown or another profile's, -EALREADY used,
 * -ETIME expired, -EPERM bound to another subject (left unused), -ENOMEM, -EIO.
 */
int scep_store_consume_challenge(struct store *st, const char *challenge, const char *profile,
				 X509_REQ *csr, const char *used_by, char **ret_owner);

/*
 * Manual approval: records a new pending request, its CSR without the
 * challengePassword (a static challenge must not rest in the store; the CSR's
 * signature then no longer verifies, it was checked when it came). As
 * store_add_pending().
 */
int scep_store_add_pending(struct store *st, const char *transaction_id, const char *profile,
			   X509_REQ *csr, X509 *signer, const char *requester, const char *owner);

#endif
