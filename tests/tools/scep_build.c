/*
 * scep_build.c - the client side of SCEP, for the unit tests and scep_client.
 *
 * SYNOPSIS
 *	#include "scep_build.h"
 *
 *	scep_build_request(&req, &der, &len)
 *	scep_build_read_reply(der, len, ra, cert, key, &reply)
 *	scep_build_read_next_ca(der, len, ra, &certs)
 *
 * DESCRIPTION
 *	Requests as certmonger makes them: PKCS7_encrypt() for the envelope,
 *	PKCS7_add_signature() + PKCS7_dataFinal() for the SignedData with the SCEP
 *	attributes added as printable and octet strings. Replies are checked with
 *	CMS_verify() against the RA certificate alone (CMS_NOINTERN: a reply signed by
 *	any other certificate is refused, as Apple does) and opened with
 *	PKCS7_decrypt() like certmonger, or CMS_decrypt() for key agreement (EC).
 *	Certificates-only content is decoded with the PKCS7 API, which keeps the order
 *	in which the certificates were encoded.
 *
 *	The flags break what a test needs broken, after the normal construction; the
 *	CORRUPT flags break the last recipient, req->recipient. RECIPIENT_KEYID makes
 *	the envelope with CMS_encrypt() instead, and ignores the CORRUPT flags.
 *
 * DIAGNOSTICS
 *	0 or a negative errno; out-parameters are written only on success.
 */
#include "scep_build.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#define SCEP_BUILD_OID_MESSAGE_TYPE    "2.16.840.1.113733.1.9.2"
#define SCEP_BUILD_OID_PKI_STATUS      "2.16.840.1.113733.1.9.3"
#define SCEP_BUILD_OID_FAIL_INFO       "2.16.840.1.113733.1.9.4"
#define SCEP_BUILD_OID_SENDER_NONCE    "2.16.840.1.113733.1.9.5"
#define SCEP_BUILD_OID_RECIPIENT_NONCE "2.16.840.1.113733.1.9.6"
#define SCEP_BUILD_OID_TRANSACTION_ID  "2.16.840.1.113733.1.9.7"
#define SCEP_BUILD_OID_FAIL_INFO_TEXT  "1.3.6.1.5.5.7.24.1"

/* DES-CBC lives in OpenSSL 3's legacy provider; keep the implicit default. */
static void
scep_build_legacy(void)
{
	static OSSL_PROVIDER *legacy;

	if (legacy == NULL)
		legacy = OSSL_PROVIDER_try_load(NULL, "legacy", 1);
}

static int
scep_build_add_attr(PKCS7_SIGNER_INFO *si, const char *oid, int type, const void *bytes, size_t len)
{
	ASN1_OBJECT *obj;
	int r = 0;

	if (len > INT_MAX)
		return -EINVAL;
	if ((obj = OBJ_txt2obj(oid, 1)) == NULL)
		return -ENOMEM;
	if (X509at_add1_attr_by_OBJ(&si->auth_attr, obj, type, bytes, (int)len) == NULL)
		r = -ENOMEM;
	ASN1_OBJECT_free(obj);
	return r;
}

static void
scep_build_corrupt(PKCS7_ENVELOPE *env, const EVP_CIPHER *cipher, unsigned int flags)
{
	ASN1_OCTET_STRING *ct = env->enc_data->enc_data;
	ASN1_TYPE *iv = env->enc_data->algorithm->parameter;
	int block = EVP_CIPHER_get_block_size(cipher);

	if (flags & SCEP_BUILD_CORRUPT_KEY) {
		int last = sk_PKCS7_RECIP_INFO_num(env->recipientinfo) - 1; /* the recipient */
		ASN1_OCTET_STRING *key =
			sk_PKCS7_RECIP_INFO_value(env->recipientinfo, last)->enc_key;

		key->data[key->length / 2] ^= 0x01;
	}
	if ((flags & SCEP_BUILD_CORRUPT_IV) && iv != NULL && iv->type == V_ASN1_OCTET_STRING)
		iv->value.octet_string->data[0] ^= 0x01;
	if (flags & SCEP_BUILD_CORRUPT_CONTENT)
		ct->data[0] ^= 0x01;
	/* C[n-1] xor D(C[n]) = P[n]: its last byte is the padding length, now wrong */
	if ((flags & SCEP_BUILD_CORRUPT_PADDING) && ct->length >= 2 * block)
		ct->data[ct->length - block - 1] ^= 0x01;
}

/* The signature again, over the attributes in the order they are in now. */
static int
scep_build_resign(PKCS7_SIGNER_INFO *si, const EVP_MD *md, EVP_PKEY *key)
{
	unsigned char *attrs = NULL, *sig = NULL;
	EVP_MD_CTX *ctx = NULL;
	size_t siglen = 0;
	int n, r = -EIO;

	if ((n = ASN1_item_i2d((ASN1_VALUE *)si->auth_attr, &attrs,
			       ASN1_ITEM_rptr(PKCS7_ATTR_VERIFY))) <= 0)
		goto out;
	if ((ctx = EVP_MD_CTX_new()) == NULL || EVP_DigestSignInit(ctx, NULL, md, NULL, key) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, attrs, (size_t)n) != 1 ||
	    (sig = OPENSSL_malloc(siglen)) == NULL ||
	    EVP_DigestSign(ctx, sig, &siglen, attrs, (size_t)n) != 1)
		goto out;
	ASN1_STRING_set0(si->enc_digest, sig, (int)siglen);
	sig = NULL;
	r = 0;
out:
	OPENSSL_free(sig);
	OPENSSL_free(attrs);
	EVP_MD_CTX_free(ctx);
	return r;
}

/* With CMS, which can name a recipient by subjectKeyIdentifier (PKCS7 cannot). */
static int
scep_build_envelope_keyid(STACK_OF(X509) *recipients, BIO *in, const EVP_CIPHER *cipher,
			  unsigned char **ret_der, int *ret_len)
{
	CMS_ContentInfo *cms;
	unsigned char *der = NULL;
	int n;

	if ((cms = CMS_encrypt(recipients, in, cipher, CMS_BINARY | CMS_USE_KEYID)) == NULL)
		return -EIO;
	n = i2d_CMS_ContentInfo(cms, &der);
	CMS_ContentInfo_free(cms);
	if (n <= 0)
		return -ENOMEM;
	*ret_der = der;
	*ret_len = n;
	return 0;
}

static int
scep_build_envelope(const struct scep_build_req *req, unsigned char **ret_der, int *ret_len)
{
	STACK_OF(X509) *recipients = NULL;
	unsigned char *der = NULL;
	PKCS7 *p7 = NULL;
	BIO *in = NULL;
	int n, r = -ENOMEM;

	if (EVP_CIPHER_get_nid(req->cipher) == NID_des_cbc)
		scep_build_legacy();
	if (req->content_len > INT_MAX ||
	    (in = BIO_new_mem_buf(req->content, (int)req->content_len)) == NULL ||
	    (recipients = sk_X509_new_null()) == NULL)
		goto out;
	for (int i = 0; i < sk_X509_num(req->others); i++) {
		if (!sk_X509_push(recipients, sk_X509_value(req->others, i)))
			goto out;
	}
	if (!sk_X509_push(recipients, req->recipient))
		goto out;
	if (req->flags & SCEP_BUILD_RECIPIENT_KEYID) {
		r = scep_build_envelope_keyid(recipients, in, req->cipher, ret_der, ret_len);
		goto out;
	}
	if ((p7 = PKCS7_encrypt(recipients, in, req->cipher, PKCS7_BINARY)) == NULL) {
		r = -EIO;
		goto out;
	}
	scep_build_corrupt(p7->d.enveloped, req->cipher, req->flags);
	if (req->flags & SCEP_BUILD_BARE_ENVELOPE)
		n = i2d_PKCS7_ENVELOPE(p7->d.enveloped, &der);
	else
		n = i2d_PKCS7(p7, &der);
	if (n <= 0)
		goto out;
	*ret_der = der;
	*ret_len = n;
	der = NULL;
	r = 0;
out:
	OPENSSL_free(der);
	PKCS7_free(p7);
	sk_X509_free(recipients);
	BIO_free(in);
	return r;
}

static int
scep_build_attrs(const struct scep_build_req *req, PKCS7_SIGNER_INFO *si)
{
	char type[16];
	int r;

	if (!PKCS7_add_signed_attribute(si, NID_pkcs9_contentType, V_ASN1_OBJECT,
					OBJ_nid2obj(NID_pkcs7_data)))
		return -ENOMEM;
	if (req->type_text != NULL || req->type >= 0) {
		if (req->type_text == NULL)
			snprintf(type, sizeof(type), "%d", req->type);
		if ((r = scep_build_add_attr(si, SCEP_BUILD_OID_MESSAGE_TYPE,
					     V_ASN1_PRINTABLESTRING,
					     req->type_text ? req->type_text : type,
					     strlen(req->type_text ? req->type_text : type))) < 0)
			return r;
	}
	if (req->txid != NULL &&
	    (r = scep_build_add_attr(si, SCEP_BUILD_OID_TRANSACTION_ID, V_ASN1_PRINTABLESTRING,
				     req->txid, strlen(req->txid))) < 0)
		return r;
	if (req->nonce != NULL &&
	    (r = scep_build_add_attr(si, SCEP_BUILD_OID_SENDER_NONCE, V_ASN1_OCTET_STRING,
				     req->nonce, req->nonce_len)) < 0)
		return r;
	return 0;
}

int
scep_build_request(const struct scep_build_req *req, unsigned char **ret_der, size_t *ret_len)
{
	unsigned char *env = NULL, *der = NULL;
	PKCS7_SIGNER_INFO *si;
	PKCS7 *p7 = NULL;
	BIO *bio = NULL;
	int env_len = 0, n, r;

	if (req->md == NULL || req->cipher == NULL || req->signer_cert == NULL ||
	    req->signer_key == NULL || req->recipient == NULL)
		return -EINVAL;
	if ((r = scep_build_envelope(req, &env, &env_len)) < 0)
		goto out;
	r = -ENOMEM;
	if ((p7 = PKCS7_new()) == NULL || !PKCS7_set_type(p7, NID_pkcs7_signed) ||
	    !PKCS7_content_new(p7, NID_pkcs7_data))
		goto out;
	if ((si = PKCS7_add_signature(p7, req->signer_cert, req->signer_key, req->md)) == NULL) {
		r = -EIO;
		goto out;
	}
	if (!(req->flags & SCEP_BUILD_NO_CERTS) && !PKCS7_add_certificate(p7, req->signer_cert))
		goto out;
	if ((r = scep_build_attrs(req, si)) < 0)
		goto out;
	r = -EIO;
	if ((bio = PKCS7_dataInit(p7, NULL)) == NULL || BIO_write(bio, env, env_len) != env_len ||
	    BIO_flush(bio) != 1 || !PKCS7_dataFinal(p7, bio))
		goto out;
	if (req->flags & SCEP_BUILD_UNSORTED_ATTRS) {
		/* PKCS7_dataFinal() sorted them; the reverse of a sorted SET is unsorted */
		for (int i = 0, j = sk_X509_ATTRIBUTE_num(si->auth_attr) - 1; i < j; i++, j--) {
			X509_ATTRIBUTE *a = sk_X509_ATTRIBUTE_value(si->auth_attr, i);

			sk_X509_ATTRIBUTE_set(si->auth_attr, i,
					      sk_X509_ATTRIBUTE_value(si->auth_attr, j));
			sk_X509_ATTRIBUTE_set(si->auth_attr, j, a);
		}
		if ((r = scep_build_resign(si, req->md, req->signer_key)) < 0)
			goto out;
	}
	if (req->flags & SCEP_BUILD_BAD_SIGNATURE)
		si->enc_digest->data[si->enc_digest->length / 2] ^= 0x01;
	r = -ENOMEM;
	if ((n = i2d_PKCS7(p7, NULL)) <= 0 || (der = malloc((size_t)n)) == NULL)
		goto out;
	{
		unsigned char *p = der;

		if (i2d_PKCS7(p7, &p) != n)
			goto out;
	}
	*ret_der = der;
	*ret_len = (size_t)n;
	der = NULL;
	r = 0;
out:
	free(der);
	BIO_free_all(bio);
	PKCS7_free(p7);
	OPENSSL_free(env);
	return r;
}

int
scep_build_self_signed(EVP_PKEY *key, const X509_NAME *subject, X509 **ret_cert)
{
	unsigned char serial[8];
	X509_EXTENSION *ext = NULL;
	BIGNUM *bn = NULL;
	X509 *cert;
	int r = -ENOMEM;

	if ((cert = X509_new()) == NULL || RAND_bytes(serial, sizeof(serial)) != 1)
		goto out;
	serial[0] &= 0x7f;
	if (!X509_set_version(cert, X509_VERSION_3) ||
	    (bn = BN_bin2bn(serial, sizeof(serial), NULL)) == NULL ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) == NULL ||
	    !X509_set_subject_name(cert, subject) || !X509_set_issuer_name(cert, subject) ||
	    X509_gmtime_adj(X509_getm_notBefore(cert), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(cert), 86400) == NULL || !X509_set_pubkey(cert, key))
		goto out;
	if ((ext = X509V3_EXT_conf_nid(NULL, NULL, NID_key_usage,
				       "critical,digitalSignature,keyEncipherment")) == NULL ||
	    !X509_add_ext(cert, ext, -1))
		goto out;
	if (X509_sign(cert, key, EVP_sha256()) <= 0) {
		r = -EIO;
		goto out;
	}
	*ret_cert = cert;
	cert = NULL;
	r = 0;
out:
	X509_EXTENSION_free(ext);
	BN_free(bn);
	X509_free(cert);
	return r;
}

int
scep_build_csr(EVP_PKEY *key, const X509_NAME *subject, const char *san, const char *challenge,
	       X509_REQ **ret_csr)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext;
	X509_REQ *csr;
	int r = -ENOMEM;

	if ((csr = X509_REQ_new()) == NULL || !X509_REQ_set_version(csr, X509_REQ_VERSION_1) ||
	    !X509_REQ_set_subject_name(csr, subject) || !X509_REQ_set_pubkey(csr, key))
		goto out;
	if (san != NULL && *san != '\0') {
		if ((ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san)) == NULL) {
			r = -EINVAL;
			goto out;
		}
		if ((exts = sk_X509_EXTENSION_new_null()) == NULL ||
		    !sk_X509_EXTENSION_push(exts, ext)) {
			X509_EXTENSION_free(ext);
			goto out;
		}
		if (!X509_REQ_add_extensions(csr, exts))
			goto out;
	}
	if (challenge != NULL &&
	    !X509_REQ_add1_attr_by_NID(csr, NID_pkcs9_challengePassword, MBSTRING_UTF8,
				       (const unsigned char *)challenge, -1))
		goto out;
	if (X509_REQ_sign(csr, key, EVP_sha256()) <= 0) {
		r = -EIO;
		goto out;
	}
	*ret_csr = csr;
	csr = NULL;
	r = 0;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(csr);
	return r;
}

int
scep_build_issuer_and_subject(const X509_NAME *issuer, const X509_NAME *subject,
			      unsigned char **ret_der, size_t *ret_len)
{
	unsigned char *der, *p;
	int a, b, total;

	if ((a = i2d_X509_NAME(issuer, NULL)) <= 0 || (b = i2d_X509_NAME(subject, NULL)) <= 0 ||
	    (total = ASN1_object_size(1, a + b, V_ASN1_SEQUENCE)) <= 0)
		return -EINVAL;
	if ((der = malloc((size_t)total)) == NULL)
		return -ENOMEM;
	p = der;
	ASN1_put_object(&p, 1, a + b, V_ASN1_SEQUENCE, V_ASN1_UNIVERSAL);
	i2d_X509_NAME(issuer, &p);
	i2d_X509_NAME(subject, &p);
	*ret_der = der;
	*ret_len = (size_t)total;
	return 0;
}

int
scep_build_issuer_and_serial(const X509_NAME *issuer, const ASN1_INTEGER *serial,
			     unsigned char **ret_der, size_t *ret_len)
{
	PKCS7_ISSUER_AND_SERIAL *ias;
	unsigned char *der = NULL, *p;
	int n, r = -ENOMEM;

	if ((ias = PKCS7_ISSUER_AND_SERIAL_new()) == NULL || !X509_NAME_set(&ias->issuer, issuer))
		goto out;
	ASN1_INTEGER_free(ias->serial);
	if ((ias->serial = ASN1_INTEGER_dup(serial)) == NULL)
		goto out;
	if ((n = i2d_PKCS7_ISSUER_AND_SERIAL(ias, NULL)) <= 0 || (der = malloc((size_t)n)) == NULL)
		goto out;
	p = der;
	i2d_PKCS7_ISSUER_AND_SERIAL(ias, &p);
	*ret_der = der;
	*ret_len = (size_t)n;
	r = 0;
out:
	PKCS7_ISSUER_AND_SERIAL_free(ias);
	return r;
}

int
scep_build_txid(EVP_PKEY *key, char *buf, size_t size)
{
	unsigned char *spki = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int n;

	if (size < 41)
		return -ERANGE;
	if ((n = i2d_PUBKEY(key, &spki)) <= 0)
		return -EINVAL;
	if (EVP_Digest(spki, (size_t)n, md, &mdlen, EVP_sha1(), NULL) != 1) {
		OPENSSL_free(spki);
		return -EIO;
	}
	OPENSSL_free(spki);
	for (unsigned int i = 0; i < mdlen; i++)
		snprintf(buf + 2 * i, 3, "%02X", md[i]);
	return 0;
}

static int
scep_build_push_dups(STACK_OF(X509) *to, STACK_OF(X509) *from)
{
	for (int i = 0; i < sk_X509_num(from); i++) {
		X509 *x = sk_X509_value(from, i);

		if (!X509_up_ref(x))
			return -ENOMEM;
		if (!sk_X509_push(to, x)) {
			X509_free(x);
			return -ENOMEM;
		}
	}
	return 0;
}

/* The CRLs of crls appended to *to (made when NULL). */
static int
scep_build_push_crls(STACK_OF(X509_CRL) **to, STACK_OF(X509_CRL) *from)
{
	if (sk_X509_CRL_num(from) <= 0)
		return 0;
	if (*to == NULL && (*to = sk_X509_CRL_new_null()) == NULL)
		return -ENOMEM;
	for (int i = 0; i < sk_X509_CRL_num(from); i++) {
		X509_CRL *crl = sk_X509_CRL_value(from, i);

		if (!X509_CRL_up_ref(crl))
			return -ENOMEM;
		if (!sk_X509_CRL_push(*to, crl)) {
			X509_CRL_free(crl);
			return -ENOMEM;
		}
	}
	return 0;
}

/*
 * The certificates of a DER SignedData, in encoded order; its CRLs into *crls when
 * crls is not NULL.
 */
static int
scep_build_p7_certs(const unsigned char *der, size_t len, STACK_OF(X509) *to,
		    STACK_OF(X509_CRL) **crls)
{
	const unsigned char *p = der;
	PKCS7 *p7;
	int r = -EBADMSG;

	if (len > LONG_MAX || (p7 = d2i_PKCS7(NULL, &p, (long)len)) == NULL)
		return -EBADMSG;
	if (p == der + len && PKCS7_type_is_signed(p7) && p7->d.sign != NULL &&
	    (r = scep_build_push_dups(to, p7->d.sign->cert)) == 0 && crls != NULL)
		r = scep_build_push_crls(crls, p7->d.sign->crl);
	PKCS7_free(p7);
	return r;
}

int
scep_build_read_certs(const unsigned char *data, size_t len, STACK_OF(X509) **ret_certs)
{
	STACK_OF(X509) *certs;
	const unsigned char *p = data;
	BIO *bio = NULL;
	PKCS7 *p7 = NULL;
	X509 *x;
	int r = -EBADMSG;

	if ((certs = sk_X509_new_null()) == NULL)
		return -ENOMEM;
	if (len == 0 || len > INT_MAX)
		goto out;
	if (data[0] == 0x30) {
		if ((x = d2i_X509(NULL, &p, (long)len)) != NULL && p == data + len) {
			if (!sk_X509_push(certs, x)) {
				X509_free(x);
				r = -ENOMEM;
				goto out;
			}
		} else {
			X509_free(x);
			if ((r = scep_build_p7_certs(data, len, certs, NULL)) < 0)
				goto out;
		}
	} else {
		if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
			r = -ENOMEM;
			goto out;
		}
		while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
			if (!sk_X509_push(certs, x)) {
				X509_free(x);
				r = -ENOMEM;
				goto out;
			}
		if (sk_X509_num(certs) == 0) {
			BIO_free(bio);
			if ((bio = BIO_new_mem_buf(data, (int)len)) == NULL) {
				r = -ENOMEM;
				goto out;
			}
			if ((p7 = PEM_read_bio_PKCS7(bio, NULL, NULL, NULL)) != NULL &&
			    PKCS7_type_is_signed(p7) &&
			    (r = scep_build_push_dups(certs, p7->d.sign->cert)) < 0)
				goto out;
		}
	}
	ERR_clear_error();
	r = sk_X509_num(certs) > 0 ? 0 : -EBADMSG;
	if (r == 0) {
		*ret_certs = certs;
		certs = NULL;
	}
out:
	PKCS7_free(p7);
	BIO_free(bio);
	sk_X509_pop_free(certs, X509_free);
	return r;
}

int
scep_build_pick_ra(STACK_OF(X509) *certs, X509 **ret_ra)
{
	X509 *pick = NULL;

	if (sk_X509_num(certs) == 1)
		pick = sk_X509_value(certs, 0);
	for (int i = 0; pick == NULL && i < sk_X509_num(certs); i++) {
		X509 *x = sk_X509_value(certs, i);

		if (X509_check_ca(x) == 0 && (X509_get_key_usage(x) & KU_KEY_ENCIPHERMENT))
			pick = x;
	}
	if (pick == NULL || !X509_up_ref(pick))
		return -ENOENT;
	*ret_ra = pick;
	return 0;
}

/* A SignedData signed by ra alone: 0 and its content, or -EBADMSG. */
static int
scep_build_verify(const unsigned char *der, size_t len, X509 *ra, CMS_ContentInfo **ret_cms,
		  BIO **ret_content)
{
	const unsigned char *p = der;
	STACK_OF(X509) *signers = NULL;
	CMS_ContentInfo *cms = NULL;
	BIO *out = NULL;
	int r = -EBADMSG;

	if (len == 0 || len > LONG_MAX ||
	    (cms = d2i_CMS_ContentInfo(NULL, &p, (long)len)) == NULL || p != der + len ||
	    OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed ||
	    sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)) != 1)
		goto out;
	if ((signers = sk_X509_new_null()) == NULL || !sk_X509_push(signers, ra) ||
	    (out = BIO_new(BIO_s_mem())) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (CMS_verify(cms, signers, NULL, NULL, out,
		       CMS_NO_SIGNER_CERT_VERIFY | CMS_NOINTERN | CMS_BINARY) != 1)
		goto out;
	*ret_cms = cms;
	*ret_content = out;
	cms = NULL;
	out = NULL;
	r = 0;
out:
	BIO_free(out);
	sk_X509_free(signers);
	CMS_ContentInfo_free(cms);
	return r;
}

/* The one value of a signed attribute, of ASN.1 type `type`, or NULL. */
static const ASN1_STRING *
scep_build_attr(CMS_SignerInfo *si, const char *oid, int type)
{
	const ASN1_STRING *s;
	ASN1_OBJECT *obj;

	if ((obj = OBJ_txt2obj(oid, 1)) == NULL)
		return NULL;
	s = CMS_signed_get0_data_by_OBJ(si, obj, -3, type); /* -3: exactly one, one value */
	ASN1_OBJECT_free(obj);
	return s;
}

static int
scep_build_attr_number(CMS_SignerInfo *si, const char *oid)
{
	const ASN1_STRING *s = scep_build_attr(si, oid, V_ASN1_PRINTABLESTRING);
	char buf[16];
	char *end;
	long n;

	if (s == NULL || ASN1_STRING_length(s) < 1 || ASN1_STRING_length(s) >= (int)sizeof(buf))
		return -1;
	memcpy(buf, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
	buf[ASN1_STRING_length(s)] = '\0';
	n = strtol(buf, &end, 10);
	return *end == '\0' && n >= 0 && n < INT_MAX ? (int)n : -1;
}

static char *
scep_build_attr_text(CMS_SignerInfo *si, const char *oid, int type)
{
	const ASN1_STRING *s = scep_build_attr(si, oid, type);

	if (s == NULL)
		return NULL;
	return strndup((const char *)ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
}

static void
scep_build_attr_nonce(CMS_SignerInfo *si, const char *oid, unsigned char *buf, size_t *ret_len)
{
	const ASN1_STRING *s = scep_build_attr(si, oid, V_ASN1_OCTET_STRING);

	*ret_len = 0;
	if (s != NULL && ASN1_STRING_length(s) <= SCEP_BUILD_NONCE_MAX) {
		memcpy(buf, ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s));
		*ret_len = (size_t)ASN1_STRING_length(s);
	}
}

/* SUCCESS: the envelope opened with cert/key, the certificates in it. */
static int
scep_build_open(const unsigned char *der, size_t len, X509 *cert, EVP_PKEY *key,
		struct scep_build_reply *reply)
{
	const unsigned char *p = der;
	CMS_ContentInfo *cms = NULL;
	PKCS7 *p7 = NULL;
	BIO *out = NULL;
	char *data;
	long n;
	int r = -EBADMSG;

	if (len == 0 || len > LONG_MAX)
		return -EBADMSG;
	if ((out = BIO_new(BIO_s_mem())) == NULL || (reply->certs = sk_X509_new_null()) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if ((p7 = d2i_PKCS7(NULL, &p, (long)len)) != NULL && PKCS7_type_is_enveloped(p7)) {
		/* key transport: as certmonger does it */
		reply->cipher_nid = OBJ_obj2nid(p7->d.enveloped->enc_data->algorithm->algorithm);
		if (EVP_CIPHER_get_nid(EVP_des_cbc()) == reply->cipher_nid)
			scep_build_legacy();
		if (PKCS7_decrypt(p7, key, cert, out, PKCS7_BINARY) != 1)
			goto out;
	} else {
		/* key agreement (EC): PKCS7 does not know it */
		p = der;
		if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)len)) == NULL ||
		    CMS_decrypt(cms, key, cert, NULL, out, CMS_BINARY) != 1)
			goto out;
	}
	if ((n = BIO_get_mem_data(out, &data)) <= 0)
		goto out;
	r = scep_build_p7_certs((const unsigned char *)data, (size_t)n, reply->certs, &reply->crls);
out:
	CMS_ContentInfo_free(cms);
	PKCS7_free(p7);
	BIO_free(out);
	return r;
}

int
scep_build_read_reply(const unsigned char *der, size_t len, X509 *ra, X509 *cert, EVP_PKEY *key,
		      struct scep_build_reply *ret)
{
	struct scep_build_reply reply = { .type = -1, .status = -1, .fail = -1 };
	CMS_ContentInfo *cms = NULL;
	X509_ALGOR *digest = NULL;
	CMS_SignerInfo *si;
	BIO *content = NULL;
	char *data;
	long n;
	int r;

	if ((r = scep_build_verify(der, len, ra, &cms, &content)) < 0)
		goto out;
	si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
	CMS_SignerInfo_get0_algs(si, NULL, NULL, &digest, NULL);
	reply.digest_nid = digest != NULL ? OBJ_obj2nid(digest->algorithm) : NID_undef;
	reply.type = scep_build_attr_number(si, SCEP_BUILD_OID_MESSAGE_TYPE);
	reply.status = scep_build_attr_number(si, SCEP_BUILD_OID_PKI_STATUS);
	reply.fail = scep_build_attr_number(si, SCEP_BUILD_OID_FAIL_INFO);
	reply.txid =
		scep_build_attr_text(si, SCEP_BUILD_OID_TRANSACTION_ID, V_ASN1_PRINTABLESTRING);
	reply.fail_text =
		scep_build_attr_text(si, SCEP_BUILD_OID_FAIL_INFO_TEXT, V_ASN1_UTF8STRING);
	scep_build_attr_nonce(si, SCEP_BUILD_OID_SENDER_NONCE, reply.sender_nonce,
			      &reply.sender_nonce_len);
	scep_build_attr_nonce(si, SCEP_BUILD_OID_RECIPIENT_NONCE, reply.recipient_nonce,
			      &reply.recipient_nonce_len);
	if (reply.status == 0) {
		if ((n = BIO_get_mem_data(content, &data)) <= 0) {
			r = -EBADMSG;
			goto out;
		}
		if ((r = scep_build_open((const unsigned char *)data, (size_t)n, cert, key,
					 &reply)) < 0)
			goto out;
	}
	*ret = reply;
	memset(&reply, 0, sizeof(reply)); /* the caller owns it now */
	r = 0;
out:
	scep_build_reply_clear(&reply);
	BIO_free(content);
	CMS_ContentInfo_free(cms);
	return r;
}

void
scep_build_reply_clear(struct scep_build_reply *reply)
{
	free(reply->fail_text);
	free(reply->txid);
	sk_X509_pop_free(reply->certs, X509_free);
	sk_X509_CRL_pop_free(reply->crls, X509_CRL_free);
	memset(reply, 0, sizeof(*reply));
}

int
scep_build_read_next_ca(const unsigned char *der, size_t len, X509 *ra, STACK_OF(X509) **ret_certs)
{
	STACK_OF(X509) *certs = NULL;
	CMS_ContentInfo *cms = NULL;
	BIO *content = NULL;
	char *data;
	long n;
	int r;

	if ((r = scep_build_verify(der, len, ra, &cms, &content)) < 0)
		goto out;
	if ((certs = sk_X509_new_null()) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if ((n = BIO_get_mem_data(content, &data)) <= 0) {
		r = -EBADMSG;
		goto out;
	}
	if ((r = scep_build_p7_certs((const unsigned char *)data, (size_t)n, certs, NULL)) < 0)
		goto out;
	*ret_certs = certs;
	certs = NULL;
	r = 0;
out:
	sk_X509_pop_free(certs, X509_free);
	BIO_free(content);
	CMS_ContentInfo_free(cms);
	return r;
}
