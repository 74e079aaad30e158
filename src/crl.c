/*
 * crl.c - build and sign a CA's CRL (crl.h).
 *
 * The list is version 2 with the two extensions RFC 5280 5.2 asks a conforming CA
 * for: cRLNumber and authorityKeyIdentifier (the CA's subjectKeyIdentifier, or the
 * SHA-1 of its public key when the certificate has none, as OpenSSL computes it).
 * Entries keep the caller's order; X509_CRL_sort() is not called, so the order in
 * which certificates were revoked is what a reader sees.
 */
#include "scepd/crl.h"

#include <errno.h>
#include <limits.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/x509v3.h>

/* "3A9F..." -> an INTEGER; NULL when it is not upper-case hex without leading zeros. */
static ASN1_INTEGER *
crl_serial(const char *hex)
{
	BIGNUM *bn = NULL;
	ASN1_INTEGER *ai = NULL;

	if (hex == NULL || hex[0] == '\0' || hex[0] == '0')
		return NULL;
	for (const char *c = hex; *c != '\0'; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'A' && *c <= 'F')))
			return NULL;
	if (BN_hex2bn(&bn, hex) > 0)
		ai = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	return ai;
}

static int
crl_add_entry(X509_CRL *crl, const struct crl_entry *e)
{
	X509_REVOKED *rev = NULL;
	ASN1_INTEGER *serial = NULL;
	ASN1_TIME *when = NULL;
	ASN1_ENUMERATED *reason = NULL;
	int r = -ENOMEM;

	if ((serial = crl_serial(e->serial)) == NULL) {
		r = -EINVAL;
		goto out;
	}
	if ((rev = X509_REVOKED_new()) == NULL ||
	    (when = ASN1_TIME_set(NULL, e->revoked_at)) == NULL ||
	    !X509_REVOKED_set_serialNumber(rev, serial) ||
	    !X509_REVOKED_set_revocationDate(rev, when))
		goto out;
	if (e->reason > 0) {
		if ((reason = ASN1_ENUMERATED_new()) == NULL ||
		    !ASN1_ENUMERATED_set(reason, e->reason) ||
		    !X509_REVOKED_add1_ext_i2d(rev, NID_crl_reason, reason, 0, 0))
			goto out;
	}
	if (!X509_CRL_add0_revoked(crl, rev))
		goto out;
	rev = NULL; /* the list owns it now */
	r = 0;
out:
	X509_REVOKED_free(rev);
	ASN1_INTEGER_free(serial);
	ASN1_TIME_free(when);
	ASN1_ENUMERATED_free(reason);
	return r;
}

/* cRLNumber and authorityKeyIdentifier (keyid only). */
static int
crl_add_extensions(X509_CRL *crl, X509 *ca, uint64_t number)
{
	AUTHORITY_KEYID *akid = NULL;
	ASN1_INTEGER *n = NULL;
	const ASN1_OCTET_STRING *skid = X509_get0_subject_key_id(ca);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;
	int r = -ENOMEM;

	if ((n = ASN1_INTEGER_new()) == NULL || !ASN1_INTEGER_set_uint64(n, number) ||
	    !X509_CRL_add1_ext_i2d(crl, NID_crl_number, n, 0, 0))
		goto out;
	if ((akid = AUTHORITY_KEYID_new()) == NULL)
		goto out;
	if (skid != NULL) {
		akid->keyid = ASN1_OCTET_STRING_dup(skid);
	} else if (X509_pubkey_digest(ca, EVP_sha1(), md, &len) &&
		   (akid->keyid = ASN1_OCTET_STRING_new()) != NULL &&
		   !ASN1_OCTET_STRING_set(akid->keyid, md, (int)len)) {
		goto out;
	}
	if (akid->keyid == NULL ||
	    !X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, akid, 0, 0))
		goto out;
	r = 0;
out:
	AUTHORITY_KEYID_free(akid);
	ASN1_INTEGER_free(n);
	return r;
}

int
crl_build(const struct crl_params *p, X509_CRL **ret_crl)
{
	X509_CRL *crl = NULL;
	ASN1_TIME *this_update = NULL, *next_update = NULL;
	time_t now = p != NULL && p->this_update != 0 ? p->this_update : time(NULL);
	int r = -ENOMEM;

	if (p == NULL || p->ca == NULL || p->next_update <= now ||
	    (p->n_entries > 0 && p->entries == NULL))
		return -EINVAL;
	if ((crl = X509_CRL_new()) == NULL || !X509_CRL_set_version(crl, X509_CRL_VERSION_2) ||
	    !X509_CRL_set_issuer_name(crl, X509_get_subject_name(p->ca)) ||
	    (this_update = ASN1_TIME_set(NULL, now)) == NULL ||
	    (next_update = ASN1_TIME_set(NULL, p->next_update)) == NULL ||
	    !X509_CRL_set1_lastUpdate(crl, this_update) ||
	    !X509_CRL_set1_nextUpdate(crl, next_update))
		goto out;
	for (size_t i = 0; i < p->n_entries; i++)
		if ((r = crl_add_entry(crl, &p->entries[i])) < 0)
			goto out;
	if ((r = crl_add_extensions(crl, p->ca, p->number)) < 0)
		goto out;
	*ret_crl = crl;
	crl = NULL; /* the caller owns it now */
	r = 0;
out:
	X509_CRL_free(crl);
	ASN1_TIME_free(this_update);
	ASN1_TIME_free(next_update);
	return r;
}

int
crl_sign(X509_CRL *crl, EVP_PKEY *key, const EVP_MD *md, unsigned char **ret_der, size_t *ret_len)
{
	unsigned char *der = NULL;
	int len;

	if (crl == NULL || key == NULL)
		return -EINVAL;
	if (X509_CRL_sign(crl, key, md != NULL ? md : EVP_sha256()) <= 0)
		return -EIO;
	if ((len = i2d_X509_CRL(crl, &der)) <= 0)
		return -ENOMEM;
	*ret_der = der;
	*ret_len = (size_t)len;
	return 0;
}
