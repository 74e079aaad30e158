/*
 * scep_store.c - what the SCEP state machine reads and writes in the store, in the
 * store's terms: whether a signer is a recorded certificate of this CA (and its
 * record: the endpoint it came through, its owner), a transaction's newest
 * certificate for a key, a certificate by serial, one-time challenges, and pending
 * requests kept without their challengePassword.
 *
 * Errors as the store gives them (-ENOENT, -EIO, -ENOTCONN...): the caller tells a
 * refusal from a failure. No key operation, no policy, no HTTP, no logging here.
 */
#include "scepd/scep_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "scepd/encoding.h"

/* The record of the certificate with this serial. */
static int
scep_store_record(struct store *st, const ASN1_INTEGER *serial, struct store_cert **ret_record)
{
	char *hex = NULL;
	int r;

	if ((r = encoding_hex_serial(serial, &hex)) == 0)
		r = store_get_cert(st, hex, ret_record);
	free(hex);
	return r;
}

int
scep_store_find_cert(struct store *st, const ASN1_INTEGER *serial, X509 **ret_cert)
{
	struct store_cert *record = NULL;
	const unsigned char *p;
	X509 *cert;
	int r;

	if ((r = scep_store_record(st, serial, &record)) < 0)
		goto out;
	p = record->der;
	if ((cert = d2i_X509(NULL, &p, (long)record->der_len)) == NULL) {
		r = -EIO;
		goto out;
	}
	*ret_cert = cert;
	r = 0;
out:
	store_cert_free(record);
	ERR_clear_error();
	return r;
}

int
scep_store_check_issued(struct store *st, X509 *ca, X509 *cert, struct store_cert **ret_record)
{
	struct store_cert *record = NULL;
	unsigned char *der = NULL;
	int len, r;

	if (ca == NULL || X509_check_issued(ca, cert) != X509_V_OK ||
	    X509_verify(cert, X509_get0_pubkey(ca)) != 1) {
		r = -EBADMSG;
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(cert)) > 0 ||
	    X509_cmp_current_time(X509_get0_notAfter(cert)) < 0) {
		r = -EKEYEXPIRED;
		goto out;
	}
	if ((r = scep_store_record(st, X509_get0_serialNumber(cert), &record)) < 0)
		goto out;
	/* On record with these very bytes, not just this serial. */
	if ((len = i2d_X509(cert, &der)) <= 0) {
		r = -ENOMEM;
		goto out;
	}
	if ((size_t)len != record->der_len || memcmp(der, record->der, record->der_len) != 0) {
		r = -ENOENT;
		goto out;
	}
	if (ret_record != NULL) {
		*ret_record = record;
		record = NULL; /* the caller owns it now */
	}
	r = 0;
out:
	OPENSSL_free(der);
	store_cert_free(record);
	ERR_clear_error();
	return r;
}

struct scep_store_txid_match {
	EVP_PKEY *key;
	const char *profile;
	X509 *found;
};

static int
scep_store_txid_match(const struct store_cert *rec, void *userdata)
{
	struct scep_store_txid_match *m = userdata;
	const unsigned char *p = rec->der;
	X509 *cert;

	if (rec->profile == NULL || strcmp(rec->profile, m->profile) != 0 ||
	    (cert = d2i_X509(NULL, &p, (long)rec->der_len)) == NULL)
		return 0;
	if (EVP_PKEY_eq(X509_get0_pubkey(cert), m->key) == 1) {
		X509_free(m->found); /* the walk is oldest first: keep the newest */
		m->found = cert;
	} else {
		X509_free(cert);
	}
	return 0;
}

int
scep_store_find_transaction_cert(struct store *st, const char *transaction_id, const char *profile,
				 EVP_PKEY *key, X509 **ret_cert)
{
	struct scep_store_txid_match m = { .key = key, .profile = profile };
	int r;

	if (key == NULL)
		return -ENOENT;
	r = store_walk_certs_by_transaction(st, transaction_id, scep_store_txid_match, &m);
	ERR_clear_error();
	if (r == 0 && m.found == NULL)
		r = -ENOENT;
	if (r < 0) {
		X509_free(m.found);
		return r;
	}
	*ret_cert = m.found;
	return 0;
}

int
scep_store_consume_challenge(struct store *st, const char *challenge, const char *profile,
			     X509_REQ *csr, const char *used_by, char **ret_owner)
{
	char hash[ENCODING_SHA256_HEX_LEN + 1], *subject = NULL;
	int r;

	if ((r = encoding_sha256_hex(challenge, hash)) < 0 ||
	    (r = encoding_name_text(X509_REQ_get_subject_name(csr), &subject)) < 0)
		goto out;
	r = store_consume_challenge(st, hash, profile, subject, used_by, ret_owner);
out:
	free(subject);
	return r;
}

/*
 * The request as it is kept for the operator: without its challengePassword, which
 * (a static challenge above all) must not rest in the store. Its signature then no
 * longer verifies; it was checked when the request arrived.
 */
static int
scep_store_pending_csr_der(X509_REQ *csr, unsigned char **ret_der, int *ret_len)
{
	X509_REQ *copy;
	int idx, len, r = -ENOMEM;

	if ((copy = X509_REQ_dup(csr)) == NULL)
		return -ENOMEM;
	while ((idx = X509_REQ_get_attr_by_NID(copy, NID_pkcs9_challengePassword, -1)) >= 0)
		X509_ATTRIBUTE_free(X509_REQ_delete_attr(copy, idx));
	if ((len = i2d_X509_REQ(copy, ret_der)) > 0) {
		*ret_len = len;
		r = 0;
	}
	X509_REQ_free(copy);
	return r;
}

int
scep_store_add_pending(struct store *st, const char *transaction_id, const char *profile,
		       X509_REQ *csr, X509 *signer, const char *requester, const char *owner)
{
	unsigned char *csr_der = NULL, *signer_der = NULL;
	char *subject = NULL;
	int csr_len = 0, signer_len, r = -ENOMEM;

	if (scep_store_pending_csr_der(csr, &csr_der, &csr_len) < 0 ||
	    (signer_len = i2d_X509(signer, &signer_der)) <= 0 ||
	    (r = encoding_name_text(X509_REQ_get_subject_name(csr), &subject)) < 0)
		goto out;
	r = store_add_pending(st, &(struct store_pending){
					  .transaction_id = transaction_id,
					  .subject = subject,
					  .csr_der = csr_der,
					  .csr_der_len = (size_t)csr_len,
					  .signer_cert_der = signer_der,
					  .signer_cert_der_len = (size_t)signer_len,
					  .requester = requester,
					  .owner = owner,
					  .profile = profile,
				  });
out:
	free(subject);
	OPENSSL_free(csr_der);
	OPENSSL_free(signer_der);
	ERR_clear_error();
	return r;
}
