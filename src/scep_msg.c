/*
 * scep_msg.c - SCEP pkiMessage codec (RFC 8894): DER bytes <-> struct scep_msg.
 *
 * SYNOPSIS
 *	#include "scepd/scep_msg.h"
 *
 *	scep_msg_init()
 *	scep_msg_parse(der, len, &msg)
 *	scep_msg_decrypt(msg, ra_cert, ra_key)
 *	scep_msg_certrep(msg, &rep, ra_cert, ra_key, &der, &len)
 *	scep_msg_certs_only(certs, &der, &len)
 *	scep_msg_next_ca(certs, ra_cert, ra_key, &der, &len)
 *	scep_msg_free(msg)
 *
 * DESCRIPTION
 *	scep_msg_parse() decodes the whole input as one CMS ContentInfo (nothing may
 *	follow it) holding a SignedData with exactly one SignerInfo and its content
 *	(type data) inline. messageType and transactionID must be PrintableStrings,
 *	senderNonce and recipientNonce OCTET STRINGs of 1 to SCEP_NONCE_MAX bytes, each
 *	present at most once with one value; transactionID is 1 to SCEP_TXID_MAX
 *	printable ASCII characters, so it is safe to log and store. Then, in this order:
 *	the digest algorithm of the SignerInfo, SHA-1 or SHA-224/256/384/512 (else
 *	badAlg, before any signature work; the CertRep is signed with the same one),
 *	the signature with CMS_verify() against the signer certificate found in the
 *	message, without chain or time checks (else badMessageCheck), and the message
 *	type (else badRequest). messageType is a canonical decimal number; anything else
 *	is kept as -1 and refused like an unknown type.
 *
 *	Signed attributes are checked in the order received: OpenSSL verifies them
 *	as a SEQUENCE OF tagged as SET, so clients that sign them unsorted (smallstep
 *	PR #2776) verify. An attribute that does not decode as DER still fails.
 *
 *	scep_msg_decrypt() first refuses (badAlg) a signer key a reply could not be
 *	encrypted to (neither RSA nor EC), then decodes the content as an
 *	EnvelopedData (also one without its ContentInfo, as old certmonger sent it)
 *	with one to four recipients and a content cipher we accept, and looks for the
 *	first recipient whose issuerAndSerialNumber names the RA certificate, all
 *	before any key operation. No such recipient is badMessageCheck without touching
 *	the key: an envelope to someone else must not cost a private-key operation, and
 *	where a message is sent is no secret. The other recipients are dropped and
 *	PKCS7_decrypt() is called without a certificate, so that the key is used once,
 *	on that recipient, and a failed key transport goes on with a random content key
 *	(OpenSSL's defence against Bleichenbacher's attack): a broken key transport and
 *	a broken padding run the same code. The key is only used through
 *	EVP_PKEY_decrypt(), so it may live in an engine; its certificate is not compared
 *	with it. The decrypted bytes go through a BIO that wipes what it frees.
 *
 *	The content must be exactly one DER object of the expected type: a PKCS#10
 *	request, an IssuerAndSubject, or an IssuerAndSerialNumber. Bytes that are not
 *	are badMessageCheck, the answer of a failed decryption: CBC has no integrity,
 *	a tampered envelope often decrypts with a valid padding to garbage, and telling
 *	that apart from a bad padding would be the padding oracle again. A request that
 *	decodes but whose self-signature does not verify, or whose challengePassword is
 *	multi-valued, not a string (any DirectoryString, or IA5String) or holds a NUL,
 *	is badRequest: it takes a valid plaintext to get there.
 *
 *	scep_msg_certrep() signs with CMS (the signer's signatureAlgorithm is then
 *	rsaEncryption for RSA keys, what legacy clients expect) and adds no S/MIME
 *	capabilities. FAILURE and PENDING carry an empty content rather than none,
 *	because PKCS7_verify(), which certmonger and sscep use, refuses a SignedData
 *	without content. Certificates-only SignedData are made with the PKCS7 API,
 *	which encodes certificates as a SEQUENCE OF and so keeps their order; CMS
 *	would sort them as a DER SET OF, and Apple takes the first one as the issued
 *	certificate.
 *
 *	No HTTP, store, policy or key loading here; never logs. OpenSSL's error queue
 *	is left for the caller to log.
 *
 * DIAGNOSTICS
 *	0 or a negative errno; out-parameters are written only on success. A refused
 *	message is a result: 0 with msg->fail set. -EBADMSG: not a pkiMessage.
 *	-EINVAL: a call the contract does not allow. -ENOMEM. -EIO: our own
 *	certificate and key could not sign or encrypt.
 *
 * BUGS
 *	Password-based recipients (RFC 8894 3.1), key agreement to an EC RA key and
 *	recipients named by subjectKeyIdentifier (CMS version 2, which the PKCS#7
 *	decoder does not read) are not read: the RA key must be RSA, as Apple requires
 *	anyway, and the clients we know name it by issuer and serial number.
 */
#include "scepd/scep_msg.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/provider.h>
#include <openssl/rand.h>

#include "scepd/p7_certs.h"

/* Signed attributes, RFC 8894 3.2.1: id-attributes = 2.16.840.1.113733.1.9 */
#define SCEP_MSG_OID_MESSAGE_TYPE    "2.16.840.1.113733.1.9.2"
#define SCEP_MSG_OID_PKI_STATUS      "2.16.840.1.113733.1.9.3"
#define SCEP_MSG_OID_FAIL_INFO       "2.16.840.1.113733.1.9.4"
#define SCEP_MSG_OID_SENDER_NONCE    "2.16.840.1.113733.1.9.5"
#define SCEP_MSG_OID_RECIPIENT_NONCE "2.16.840.1.113733.1.9.6"
#define SCEP_MSG_OID_TRANSACTION_ID  "2.16.840.1.113733.1.9.7"
#define SCEP_MSG_OID_FAIL_INFO_TEXT  "1.3.6.1.5.5.7.24.1"

/* Clients encrypt to the RA alone; the recipients are searched for it, a few at most. */
#define SCEP_MSG_RECIPIENTS_MAX 4

/* IssuerAndSubject (RFC 8894 3.3.3), the CertPoll content. OpenSSL's template macros
 * want a typedef, hence the uppercase name. */
typedef struct {
	X509_NAME *issuer;
	X509_NAME *subject;
} SCEP_MSG_ISSUER_AND_SUBJECT;

ASN1_SEQUENCE(SCEP_MSG_ISSUER_AND_SUBJECT) = {
	ASN1_SIMPLE(SCEP_MSG_ISSUER_AND_SUBJECT, issuer, X509_NAME),
	ASN1_SIMPLE(SCEP_MSG_ISSUER_AND_SUBJECT, subject, X509_NAME),
} static_ASN1_SEQUENCE_END(SCEP_MSG_ISSUER_AND_SUBJECT)

static CRYPTO_ONCE scep_msg_once = CRYPTO_ONCE_STATIC_INIT;
static int scep_msg_des_state = -ENOENT;
static OSSL_PROVIDER *scep_msg_legacy; /* kept for the life of the process */

/* clang-format off */
static const char *const scep_msg_fail_names[SCEP_FAIL_MAX] = {
	[SCEP_FAIL_BAD_ALG] = "badAlg",
	[SCEP_FAIL_BAD_MESSAGE_CHECK] = "badMessageCheck",
	[SCEP_FAIL_BAD_REQUEST] = "badRequest",
	[SCEP_FAIL_BAD_TIME] = "badTime",
	[SCEP_FAIL_BAD_CERT_ID] = "badCertId",
};

static const char *const scep_msg_cipher_names[SCEP_CIPHER_MAX] = {
	[SCEP_CIPHER_DES] = "des",
	[SCEP_CIPHER_DES3] = "des3",
	[SCEP_CIPHER_AES128] = "aes128",
	[SCEP_CIPHER_AES256] = "aes256",
};

static const char *const scep_msg_digest_names[SCEP_DIGEST_MAX] = {
	[SCEP_DIGEST_SHA1] = "sha1",
	[SCEP_DIGEST_SHA224] = "sha224",
	[SCEP_DIGEST_SHA256] = "sha256",
	[SCEP_DIGEST_SHA384] = "sha384",
	[SCEP_DIGEST_SHA512] = "sha512",
};
/* clang-format on */

/* Run by OPENSSL_cleanup() at exit, before it frees the providers. */
static void
scep_msg_unload(void)
{
	OSSL_PROVIDER_unload(scep_msg_legacy);
	scep_msg_legacy = NULL;
}

static void
scep_msg_init_once(void)
{
	EVP_CIPHER *des;

	if ((des = EVP_CIPHER_fetch(NULL, "DES-CBC", NULL)) == NULL) {
		/* retain_fallbacks: loading legacy must not switch off the implicit default */
		if ((scep_msg_legacy = OSSL_PROVIDER_try_load(NULL, "legacy", 1)) != NULL &&
		    !OPENSSL_atexit(scep_msg_unload))
			scep_msg_unload();
		des = EVP_CIPHER_fetch(NULL, "DES-CBC", NULL);
	}
	if (des != NULL)
		scep_msg_des_state = 0;
	EVP_CIPHER_free(des);
	ERR_clear_error();
}

int
scep_msg_init(void)
{
	if (!CRYPTO_THREAD_run_once(&scep_msg_once, scep_msg_init_once))
		return -ENOMEM;
	return scep_msg_des_state;
}

const char *
scep_msg_type_name(int type)
{
	switch (type) {
	case SCEP_MSG_CERTREP:
		return "CertRep";
	case SCEP_MSG_RENEWALREQ:
		return "RenewalReq";
	case SCEP_MSG_PKCSREQ:
		return "PKCSReq";
	case SCEP_MSG_CERTPOLL:
		return "CertPoll";
	case SCEP_MSG_GETCERT:
		return "GetCert";
	case SCEP_MSG_GETCRL:
		return "GetCRL";
	default:
		return NULL;
	}
}

const char *
scep_msg_fail_name(enum scep_fail fail)
{
	if ((int)fail < 0 || fail >= SCEP_FAIL_MAX)
		return NULL;
	return scep_msg_fail_names[fail];
}

const char *
scep_msg_cipher_name(enum scep_cipher cipher)
{
	if ((int)cipher < 0 || cipher >= SCEP_CIPHER_MAX)
		return NULL;
	return scep_msg_cipher_names[cipher];
}

const char *
scep_msg_digest_name(enum scep_digest digest)
{
	if ((int)digest < 0 || digest >= SCEP_DIGEST_MAX)
		return NULL;
	return scep_msg_digest_names[digest];
}

static const EVP_MD *
scep_msg_md(enum scep_digest digest)
{
	switch (digest) {
	case SCEP_DIGEST_SHA1:
		return EVP_sha1();
	case SCEP_DIGEST_SHA224:
		return EVP_sha224();
	case SCEP_DIGEST_SHA384:
		return EVP_sha384();
	case SCEP_DIGEST_SHA512:
		return EVP_sha512();
	default:
		return EVP_sha256();
	}
}

/* The cipher of a reply: the request's, but never single DES. */
static const EVP_CIPHER *
scep_msg_reply_cipher(enum scep_cipher cipher)
{
	switch (cipher) {
	case SCEP_CIPHER_AES128:
		return EVP_aes_128_cbc();
	case SCEP_CIPHER_AES256:
		return EVP_aes_256_cbc();
	default: /* DES3, and DES: micromdm's scepclient decrypts DES3 too */
		return EVP_des_ede3_cbc();
	}
}

static bool
scep_msg_type_supported(int type)
{
	switch (type) {
	case SCEP_MSG_RENEWALREQ:
	case SCEP_MSG_PKCSREQ:
	case SCEP_MSG_CERTPOLL:
	case SCEP_MSG_GETCERT:
	case SCEP_MSG_GETCRL:
		return true;
	default:
		return false;
	}
}

/*
 * The value of signed attribute oid when it has ASN.1 type `type`: 1 and *ret, 0 when
 * absent, -EBADMSG when it is there twice, with other than one value, or another type.
 */
static int
scep_msg_attr(CMS_SignerInfo *si, const char *oid, int type, const ASN1_STRING **ret)
{
	X509_ATTRIBUTE *attr;
	ASN1_OBJECT *obj;
	ASN1_TYPE *value;
	int i, r;

	if ((obj = OBJ_txt2obj(oid, 1)) == NULL)
		return -ENOMEM;
	if ((i = CMS_signed_get_attr_by_OBJ(si, obj, -1)) < 0) {
		r = 0;
		goto out;
	}
	r = -EBADMSG;
	if (CMS_signed_get_attr_by_OBJ(si, obj, i) >= 0)
		goto out;
	if ((attr = CMS_signed_get_attr(si, i)) == NULL || X509_ATTRIBUTE_count(attr) != 1)
		goto out;
	if ((value = X509_ATTRIBUTE_get0_type(attr, 0)) == NULL || ASN1_TYPE_get(value) != type ||
	    value->value.asn1_string == NULL)
		goto out;
	*ret = value->value.asn1_string;
	r = 1;
out:
	ASN1_OBJECT_free(obj);
	return r;
}

/* A canonical decimal number ("0", "19"), else -1. */
static int
scep_msg_decimal(const ASN1_STRING *s)
{
	const unsigned char *p = ASN1_STRING_get0_data(s);
	int len = ASN1_STRING_length(s), n = 0;

	if (len < 1 || len > 9 || (p[0] == '0' && len > 1))
		return -1;
	for (int i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		n = n * 10 + (p[i] - '0');
	}
	return n;
}

static int
scep_msg_nonce(CMS_SignerInfo *si, const char *oid, unsigned char *buf, size_t *ret_len)
{
	const ASN1_STRING *s;
	int r, len;

	if ((r = scep_msg_attr(si, oid, V_ASN1_OCTET_STRING, &s)) <= 0)
		return r;
	len = ASN1_STRING_length(s);
	if (len < 1 || len > SCEP_NONCE_MAX)
		return -EBADMSG;
	memcpy(buf, ASN1_STRING_get0_data(s), (size_t)len);
	*ret_len = (size_t)len;
	return 1;
}

/* messageType, transactionID, senderNonce (all required), recipientNonce. */
static int
scep_msg_read_attrs(CMS_SignerInfo *si, struct scep_msg *msg)
{
	const unsigned char *p;
	const ASN1_STRING *s;
	int r, len;

	if ((r = scep_msg_attr(si, SCEP_MSG_OID_MESSAGE_TYPE, V_ASN1_PRINTABLESTRING, &s)) <= 0)
		return r < 0 ? r : -EBADMSG;
	msg->type = scep_msg_decimal(s);

	if ((r = scep_msg_attr(si, SCEP_MSG_OID_TRANSACTION_ID, V_ASN1_PRINTABLESTRING, &s)) <= 0)
		return r < 0 ? r : -EBADMSG;
	p = ASN1_STRING_get0_data(s);
	len = ASN1_STRING_length(s);
	if (len < 1 || len > SCEP_TXID_MAX)
		return -EBADMSG;
	for (int i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return -EBADMSG;
	memcpy(msg->txid, p, (size_t)len);
	msg->txid[len] = '\0';

	if ((r = scep_msg_nonce(si, SCEP_MSG_OID_SENDER_NONCE, msg->sender_nonce,
				&msg->sender_nonce_len)) <= 0)
		return r < 0 ? r : -EBADMSG;
	if ((r = scep_msg_nonce(si, SCEP_MSG_OID_RECIPIENT_NONCE, msg->recipient_nonce,
				&msg->recipient_nonce_len)) < 0)
		return r;
	return 0;
}

/* The SignerInfo's digest: 0 and *ret, or -1 when not one we accept. */
static int
scep_msg_read_digest(CMS_SignerInfo *si, enum scep_digest *ret)
{
	X509_ALGOR *alg = NULL;

	CMS_SignerInfo_get0_algs(si, NULL, NULL, &alg, NULL);
	if (alg == NULL)
		return -1;
	switch (OBJ_obj2nid(alg->algorithm)) {
	case NID_sha1:
		*ret = SCEP_DIGEST_SHA1;
		return 0;
	case NID_sha224:
		*ret = SCEP_DIGEST_SHA224;
		return 0;
	case NID_sha256:
		*ret = SCEP_DIGEST_SHA256;
		return 0;
	case NID_sha384:
		*ret = SCEP_DIGEST_SHA384;
		return 0;
	case NID_sha512:
		*ret = SCEP_DIGEST_SHA512;
		return 0;
	default:
		return -1;
	}
}

/* The SignerInfo's signatureAlgorithm (RSASSA-PSS, sha256WithRSAEncryption...), for the log. */
static int
scep_msg_signature_nid(CMS_SignerInfo *si)
{
	X509_ALGOR *sig = NULL;

	CMS_SignerInfo_get0_algs(si, NULL, NULL, NULL, &sig);
	return sig != NULL ? OBJ_obj2nid(sig->algorithm) : NID_undef;
}

/* The signature with the signer certificate in the message: 0 and msg->signer, or -1. */
static int
scep_msg_verify(CMS_ContentInfo *cms, CMS_SignerInfo *si, struct scep_msg *msg)
{
	X509 *signer = NULL;

	if (CMS_verify(cms, NULL, NULL, NULL, NULL, CMS_NO_SIGNER_CERT_VERIFY | CMS_BINARY) != 1)
		return -1;
	CMS_SignerInfo_get0_algs(si, NULL, &signer, NULL, NULL);
	if (signer == NULL || !X509_up_ref(signer))
		return -1;
	msg->signer = signer;
	return 0;
}

int
scep_msg_parse(const void *der, size_t len, struct scep_msg **ret_msg)
{
	const unsigned char *p = der;
	STACK_OF(CMS_SignerInfo) *signers;
	CMS_ContentInfo *cms = NULL;
	struct scep_msg *msg = NULL;
	ASN1_OCTET_STRING **content;
	CMS_SignerInfo *si;
	int r = -EBADMSG;

	if (len == 0 || len > LONG_MAX)
		goto out;
	if ((cms = d2i_CMS_ContentInfo(NULL, &p, (long)len)) == NULL ||
	    p != (const unsigned char *)der + len)
		goto out;
	if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed ||
	    OBJ_obj2nid(CMS_get0_eContentType(cms)) != NID_pkcs7_data)
		goto out;
	if ((signers = CMS_get0_SignerInfos(cms)) == NULL || sk_CMS_SignerInfo_num(signers) != 1)
		goto out;
	si = sk_CMS_SignerInfo_value(signers, 0);
	if ((content = CMS_get0_content(cms)) == NULL || *content == NULL)
		goto out; /* detached: no pkcsPKIEnvelope */

	if ((msg = calloc(1, sizeof(*msg))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	msg->type = -1;
	msg->digest = SCEP_DIGEST_SHA256;
	msg->signature_nid = scep_msg_signature_nid(si);
	msg->fail = SCEP_FAIL_NONE;
	if ((r = scep_msg_read_attrs(si, msg)) < 0)
		goto out;
	msg->envelope_len = (size_t)ASN1_STRING_length(*content);
	if ((msg->envelope = malloc(msg->envelope_len + 1)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(msg->envelope, ASN1_STRING_get0_data(*content), msg->envelope_len);

	if (scep_msg_read_digest(si, &msg->digest) < 0) {
		msg->fail = SCEP_FAIL_BAD_ALG;
		msg->fail_reason = "the message digest algorithm is not supported";
	} else if (scep_msg_verify(cms, si, msg) < 0) {
		msg->fail = SCEP_FAIL_BAD_MESSAGE_CHECK;
		msg->fail_reason = "the message signature does not verify";
	} else if (!scep_msg_type_supported(msg->type)) {
		msg->fail = SCEP_FAIL_BAD_REQUEST;
		msg->fail_reason = "unsupported messageType";
	}

	*ret_msg = msg;
	msg = NULL; /* the caller owns it now */
	r = 0;
out:
	scep_msg_free(msg);
	CMS_ContentInfo_free(cms);
	return r;
}

void
scep_msg_free(struct scep_msg *msg)
{
	if (msg == NULL)
		return;
	X509_free(msg->signer);
	X509_REQ_free(msg->csr);
	if (msg->challenge != NULL)
		OPENSSL_clear_free(msg->challenge, strlen(msg->challenge));
	X509_NAME_free(msg->issuer);
	X509_NAME_free(msg->subject);
	ASN1_INTEGER_free(msg->serial);
	free(msg->envelope);
	free(msg);
}

/* The EnvelopedData, with or without its ContentInfo, or NULL. */
static PKCS7 *
scep_msg_envelope_decode(const unsigned char *der, size_t len)
{
	const unsigned char *p = der;
	PKCS7_ENVELOPE *env;
	PKCS7 *p7;

	if (len == 0 || len > LONG_MAX)
		return NULL;
	if ((p7 = d2i_PKCS7(NULL, &p, (long)len)) != NULL) {
		if (p == der + len && PKCS7_type_is_enveloped(p7) && p7->d.enveloped != NULL)
			return p7;
		PKCS7_free(p7);
		return NULL;
	}
	/* Old certmonger (src/pkcs7.c, i2d_PKCS7_ENVELOPE) sent the bare EnvelopedData. */
	p = der;
	if ((env = d2i_PKCS7_ENVELOPE(NULL, &p, (long)len)) == NULL)
		return NULL;
	if (p != der + len || (p7 = PKCS7_new()) == NULL) {
		PKCS7_ENVELOPE_free(env);
		return NULL;
	}
	p7->type = OBJ_nid2obj(NID_pkcs7_enveloped);
	p7->d.enveloped = env;
	return p7;
}

/* The content cipher of env: 0 and *ret, or -1 when not one we accept. */
static int
scep_msg_envelope_cipher(const PKCS7_ENVELOPE *env, enum scep_cipher *ret)
{
	if (env->enc_data == NULL || env->enc_data->algorithm == NULL)
		return -1;
	switch (OBJ_obj2nid(env->enc_data->algorithm->algorithm)) {
	case NID_des_cbc:
		if (scep_msg_init() < 0)
			return -1;
		*ret = SCEP_CIPHER_DES;
		return 0;
	case NID_des_ede3_cbc:
		*ret = SCEP_CIPHER_DES3;
		return 0;
	case NID_aes_128_cbc:
		*ret = SCEP_CIPHER_AES128;
		return 0;
	case NID_aes_256_cbc:
		*ret = SCEP_CIPHER_AES256;
		return 0;
	default:
		return -1;
	}
}

/* Whether ri names cert by issuer and serial number (no key operation). */
static bool
scep_msg_recipient_is(const PKCS7_RECIP_INFO *ri, X509 *cert)
{
	const PKCS7_ISSUER_AND_SERIAL *ias = ri->issuer_and_serial;

	return ias != NULL && ias->issuer != NULL && ias->serial != NULL &&
	       X509_NAME_cmp(ias->issuer, X509_get_issuer_name(cert)) == 0 &&
	       ASN1_INTEGER_cmp(ias->serial, X509_get0_serialNumber(cert)) == 0;
}

/*
 * Keeps in env the first recipient that names cert and drops the others, so that
 * PKCS7_decrypt() uses the key on that one alone: 0, or -ENOENT when none names it.
 */
static int
scep_msg_envelope_keep_recipient(PKCS7_ENVELOPE *env, X509 *cert)
{
	STACK_OF(PKCS7_RECIP_INFO) *ris = env->recipientinfo;
	int i, found = -1;

	for (i = 0; i < sk_PKCS7_RECIP_INFO_num(ris); i++) {
		if (scep_msg_recipient_is(sk_PKCS7_RECIP_INFO_value(ris, i), cert)) {
			found = i;
			break;
		}
	}
	if (found < 0)
		return -ENOENT;
	for (i = sk_PKCS7_RECIP_INFO_num(ris) - 1; i >= 0; i--) {
		if (i != found)
			PKCS7_RECIP_INFO_free(sk_PKCS7_RECIP_INFO_delete(ris, i));
	}
	return 0;
}

/* The reply is encrypted to the signer: RSA key transport or EC key agreement. */
static bool
scep_msg_signer_can_receive(const struct scep_msg *msg)
{
	EVP_PKEY *key = X509_get0_pubkey(msg->signer);

	return key != NULL && (EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "EC"));
}

/*
 * The challengePassword of csr: 0 and *ret (NULL when there is none), or -EBADMSG
 * when it is there twice, multi-valued, not a string type or holds a NUL.
 */
static int
scep_msg_read_challenge(X509_REQ *csr, char **ret)
{
	unsigned char *utf8 = NULL;
	X509_ATTRIBUTE *attr;
	ASN1_TYPE *value;
	int i, n;

	if ((i = X509_REQ_get_attr_by_NID(csr, NID_pkcs9_challengePassword, -1)) < 0) {
		*ret = NULL;
		return 0;
	}
	if (X509_REQ_get_attr_by_NID(csr, NID_pkcs9_challengePassword, i) >= 0)
		return -EBADMSG;
	if ((attr = X509_REQ_get_attr(csr, i)) == NULL || X509_ATTRIBUTE_count(attr) != 1 ||
	    (value = X509_ATTRIBUTE_get0_type(attr, 0)) == NULL)
		return -EBADMSG;
	switch (ASN1_TYPE_get(value)) {
	case V_ASN1_PRINTABLESTRING:
	case V_ASN1_UTF8STRING:
	case V_ASN1_T61STRING:
	case V_ASN1_BMPSTRING:
	case V_ASN1_UNIVERSALSTRING:
	case V_ASN1_IA5STRING:
		break;
	default:
		return -EBADMSG;
	}
	if ((n = ASN1_STRING_to_UTF8(&utf8, value->value.asn1_string)) < 0)
		return -EBADMSG;
	if (memchr(utf8, '\0', (size_t)n) != NULL) {
		OPENSSL_clear_free(utf8, (size_t)n);
		return -EBADMSG;
	}
	*ret = (char *)utf8; /* NUL-terminated by ASN1_STRING_to_UTF8() */
	return 0;
}

/*
 * The readers of the decrypted content: the fields set, or *fail.
 * Bytes that do not decode as the expected type are badMessageCheck, like a failed
 * decryption: a CBC envelope has no integrity, so a tampered one decrypts with a
 * valid padding to garbage, and answering that differently from a bad padding
 * would be a padding oracle. A request that decodes but is not acceptable (broken
 * self-signature, a second challengePassword) is badRequest.
 */
static void
scep_msg_read_csr(const unsigned char *der, long len, struct scep_msg *msg, enum scep_fail *fail,
		  const char **why)
{
	const unsigned char *p = der;
	char *challenge = NULL;
	X509_REQ *csr;
	EVP_PKEY *key;

	if ((csr = d2i_X509_REQ(NULL, &p, len)) == NULL || p != der + len) {
		*fail = SCEP_FAIL_BAD_MESSAGE_CHECK;
		*why = "the decrypted content is not a DER PKCS#10 request (or the envelope does "
		       "not open with the RA key)";
		goto out;
	}
	if ((key = X509_REQ_get0_pubkey(csr)) == NULL || X509_REQ_verify(csr, key) <= 0) {
		*fail = SCEP_FAIL_BAD_REQUEST;
		*why = "the request's own signature does not verify";
		goto out;
	}
	if (scep_msg_read_challenge(csr, &challenge) < 0) {
		*fail = SCEP_FAIL_BAD_REQUEST;
		*why = "the request's challengePassword is malformed";
		goto out;
	}
	msg->signer_has_csr_key = EVP_PKEY_eq(X509_get0_pubkey(msg->signer), key) == 1;
	msg->csr = csr;
	msg->challenge = challenge;
	csr = NULL;
out:
	X509_REQ_free(csr);
}

static void
scep_msg_read_issuer_and_subject(const unsigned char *der, long len, struct scep_msg *msg,
				 enum scep_fail *fail, const char **why)
{
	const ASN1_ITEM *it = ASN1_ITEM_rptr(SCEP_MSG_ISSUER_AND_SUBJECT);
	const unsigned char *p = der;
	SCEP_MSG_ISSUER_AND_SUBJECT *ias;

	if ((ias = (SCEP_MSG_ISSUER_AND_SUBJECT *)ASN1_item_d2i(NULL, &p, len, it)) == NULL ||
	    p != der + len) {
		*fail = SCEP_FAIL_BAD_MESSAGE_CHECK;
		*why = "the decrypted content is not a DER IssuerAndSubject (or the envelope does "
		       "not open with the RA key)";
		goto out;
	}
	msg->issuer = ias->issuer;
	msg->subject = ias->subject;
	ias->issuer = ias->subject = NULL;
out:
	ASN1_item_free((ASN1_VALUE *)ias, it);
}

static void
scep_msg_read_issuer_and_serial(const unsigned char *der, long len, struct scep_msg *msg,
				enum scep_fail *fail, const char **why)
{
	const unsigned char *p = der;
	PKCS7_ISSUER_AND_SERIAL *ias;

	if ((ias = d2i_PKCS7_ISSUER_AND_SERIAL(NULL, &p, len)) == NULL || p != der + len) {
		*fail = SCEP_FAIL_BAD_MESSAGE_CHECK;
		*why = "the decrypted content is not a DER IssuerAndSerialNumber (or the envelope "
		       "does not open with the RA key)";
		goto out;
	}
	msg->issuer = ias->issuer;
	msg->serial = ias->serial;
	ias->issuer = NULL;
	ias->serial = NULL;
out:
	PKCS7_ISSUER_AND_SERIAL_free(ias);
}

int
scep_msg_decrypt(struct scep_msg *msg, X509 *ra_cert, EVP_PKEY *ra_key)
{
	enum scep_cipher cipher = SCEP_CIPHER_DES3;
	enum scep_fail fail = SCEP_FAIL_NONE;
	const char *why = NULL;
	const unsigned char *content;
	PKCS7 *p7 = NULL;
	BIO *out = NULL;
	char *data;
	long len;
	int n, r = 0;

	if (msg == NULL || ra_cert == NULL || ra_key == NULL || msg->fail != SCEP_FAIL_NONE ||
	    msg->signer == NULL || msg->decrypted)
		return -EINVAL;

	if (!scep_msg_signer_can_receive(msg)) {
		fail = SCEP_FAIL_BAD_ALG;
		why = "the signer's key is neither RSA nor EC: no reply can be encrypted to it";
		goto out;
	}
	if ((p7 = scep_msg_envelope_decode(msg->envelope, msg->envelope_len)) == NULL ||
	    (n = sk_PKCS7_RECIP_INFO_num(p7->d.enveloped->recipientinfo)) < 1 ||
	    n > SCEP_MSG_RECIPIENTS_MAX) {
		fail = SCEP_FAIL_BAD_MESSAGE_CHECK;
		why = "the content is not a PKCS#7 envelope, or has no or too many recipients";
		goto out;
	}
	if (scep_msg_envelope_cipher(p7->d.enveloped, &cipher) < 0) {
		fail = SCEP_FAIL_BAD_ALG;
		why = "the envelope's content cipher is not supported";
		goto out;
	}
	if (scep_msg_envelope_keep_recipient(p7->d.enveloped, ra_cert) < 0) {
		fail = SCEP_FAIL_BAD_MESSAGE_CHECK;
		why = "the envelope is not encrypted to our RA certificate";
		goto out;
	}
	if ((out = BIO_new(BIO_s_secmem())) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	/*
	 * One recipient left and no certificate: the key is used on it once, and a failed
	 * key transport goes on with a random key, to fail like a bad padding.
	 */
	if (PKCS7_decrypt(p7, ra_key, NULL, out, PKCS7_BINARY) != 1 ||
	    (len = BIO_get_mem_data(out, &data)) <= 0) {
		fail = SCEP_FAIL_BAD_MESSAGE_CHECK;
		why = "the envelope cannot be decrypted with the RA key";
		goto out;
	}
	content = (const unsigned char *)data;
	switch (msg->type) {
	case SCEP_MSG_PKCSREQ:
	case SCEP_MSG_RENEWALREQ:
		scep_msg_read_csr(content, len, msg, &fail, &why);
		break;
	case SCEP_MSG_CERTPOLL:
		scep_msg_read_issuer_and_subject(content, len, msg, &fail, &why);
		break;
	case SCEP_MSG_GETCERT:
	case SCEP_MSG_GETCRL:
		scep_msg_read_issuer_and_serial(content, len, msg, &fail, &why);
		break;
	default: /* not reached: scep_msg_parse() refused the type */
		fail = SCEP_FAIL_BAD_REQUEST;
		why = "unsupported messageType";
		break;
	}
	if (fail == SCEP_FAIL_NONE) {
		msg->cipher = cipher;
		msg->decrypted = true;
	}
out:
	if (r == 0) {
		msg->fail = fail;
		msg->fail_reason = why;
	}
	BIO_free(out); /* secmem: wiped */
	PKCS7_free(p7);
	return r;
}

/* der of an ASN.1 value, into malloc()ed memory. */
static int
scep_msg_encode(const ASN1_VALUE *value, const ASN1_ITEM *it, unsigned char **ret_der,
		size_t *ret_len)
{
	unsigned char *der, *p;
	int n;

	if ((n = ASN1_item_i2d(value, NULL, it)) <= 0)
		return -ENOMEM;
	if ((der = malloc((size_t)n)) == NULL)
		return -ENOMEM;
	p = der;
	if (ASN1_item_i2d(value, &p, it) != n) {
		free(der);
		return -ENOMEM;
	}
	*ret_der = der;
	*ret_len = (size_t)n;
	return 0;
}

int
scep_msg_certs_only(STACK_OF(X509) *certs, unsigned char **ret_der, size_t *ret_len)
{
	if (sk_X509_num(certs) < 1)
		return -EINVAL;
	return p7_certs_only(NULL, certs, ret_der, ret_len);
}

static int
scep_msg_add_attr(CMS_SignerInfo *si, const char *oid, int type, const void *bytes, size_t len)
{
	ASN1_OBJECT *obj;
	int r = 0;

	if (len > INT_MAX)
		return -EINVAL;
	if ((obj = OBJ_txt2obj(oid, 1)) == NULL)
		return -ENOMEM;
	if (CMS_signed_add1_attr_by_OBJ(si, obj, type, bytes, (int)len) != 1)
		r = -ENOMEM;
	ASN1_OBJECT_free(obj);
	return r;
}

static int
scep_msg_add_number(CMS_SignerInfo *si, const char *oid, int n)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%d", n);
	return scep_msg_add_attr(si, oid, V_ASN1_PRINTABLESTRING, buf, strlen(buf));
}

/*
 * A SignedData by cert/key over content; attributes are added by add() when not NULL.
 * Returns what the encoding and CMS return; -EIO when signing failed.
 */
static int
scep_msg_sign(X509 *cert, EVP_PKEY *key, const EVP_MD *md, BIO *content,
	      int (*add)(CMS_SignerInfo *si, const void *arg), const void *arg,
	      unsigned char **ret_der, size_t *ret_len)
{
	const unsigned int flags = CMS_BINARY | CMS_NOSMIMECAP | CMS_PARTIAL;
	CMS_ContentInfo *cms;
	CMS_SignerInfo *si;
	int r;

	if ((cms = CMS_sign(NULL, NULL, NULL, NULL, flags)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if ((si = CMS_add1_signer(cms, cert, key, md, flags)) == NULL) {
		r = -EIO; /* a key that does not match its certificate, or cannot sign */
		goto out;
	}
	if (add != NULL && (r = add(si, arg)) < 0)
		goto out;
	if (CMS_final(cms, content, NULL, CMS_BINARY) != 1) {
		r = -EIO;
		goto out;
	}
	r = scep_msg_encode((ASN1_VALUE *)cms, ASN1_ITEM_rptr(CMS_ContentInfo), ret_der, ret_len);
out:
	CMS_ContentInfo_free(cms);
	return r;
}

struct scep_msg_reply {
	const struct scep_msg *req;
	const struct scep_certrep *rep;
};

static int
scep_msg_add_certrep_attrs(CMS_SignerInfo *si, const void *arg)
{
	const struct scep_msg_reply *reply = arg;
	const struct scep_msg *req = reply->req;
	const struct scep_certrep *rep = reply->rep;
	unsigned char nonce[SCEP_NONCE_LEN];
	int r;

	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		return -EIO;
	if ((r = scep_msg_add_attr(si, SCEP_MSG_OID_TRANSACTION_ID, V_ASN1_PRINTABLESTRING,
				   req->txid, strlen(req->txid))) < 0 ||
	    (r = scep_msg_add_number(si, SCEP_MSG_OID_MESSAGE_TYPE, SCEP_MSG_CERTREP)) < 0 ||
	    (r = scep_msg_add_number(si, SCEP_MSG_OID_PKI_STATUS, rep->status)) < 0 ||
	    (r = scep_msg_add_attr(si, SCEP_MSG_OID_SENDER_NONCE, V_ASN1_OCTET_STRING, nonce,
				   sizeof(nonce))) < 0 ||
	    (r = scep_msg_add_attr(si, SCEP_MSG_OID_RECIPIENT_NONCE, V_ASN1_OCTET_STRING,
				   req->sender_nonce, req->sender_nonce_len)) < 0)
		return r;
	if (rep->status != SCEP_STATUS_FAILURE)
		return 0;
	if ((r = scep_msg_add_number(si, SCEP_MSG_OID_FAIL_INFO, rep->fail)) < 0)
		return r;
	if (rep->fail_text != NULL &&
	    (r = scep_msg_add_attr(si, SCEP_MSG_OID_FAIL_INFO_TEXT, V_ASN1_UTF8STRING,
				   rep->fail_text, strlen(rep->fail_text))) < 0)
		return r;
	return 0;
}

/*
 * SUCCESS: the certificates, certs-only, or the CRL, in an EnvelopedData for the
 * request's signer.
 */
static int
scep_msg_certrep_envelope(const struct scep_msg *req, const struct scep_certrep *rep, BIO *out)
{
	STACK_OF(X509) *recipients = NULL;
	CMS_ContentInfo *env = NULL;
	unsigned char *certs = NULL, *der = NULL;
	size_t certs_len = 0, der_len = 0;
	BIO *in = NULL;
	int r;

	if ((r = rep->crl != NULL ? p7_crl_only(rep->crl, rep->crl_len, &certs, &certs_len)
				  : p7_certs_only(rep->cert, rep->chain, &certs, &certs_len)) < 0)
		goto out;
	r = -ENOMEM;
	if (certs_len > INT_MAX || (in = BIO_new_mem_buf(certs, (int)certs_len)) == NULL ||
	    (recipients = sk_X509_new_null()) == NULL || !sk_X509_push(recipients, req->signer))
		goto out;
	if ((env = CMS_encrypt(recipients, in, scep_msg_reply_cipher(req->cipher), CMS_BINARY)) ==
	    NULL) {
		r = -EIO;
		goto out;
	}
	if ((r = scep_msg_encode((ASN1_VALUE *)env, ASN1_ITEM_rptr(CMS_ContentInfo), &der,
				 &der_len)) < 0)
		goto out;
	if (der_len > INT_MAX || BIO_write(out, der, (int)der_len) != (int)der_len) {
		r = -ENOMEM;
		goto out;
	}
	r = 0;
out:
	free(der);
	CMS_ContentInfo_free(env);
	sk_X509_free(recipients); /* borrowed: the request owns its signer */
	BIO_free(in);
	free(certs);
	return r;
}

int
scep_msg_certrep(const struct scep_msg *req, const struct scep_certrep *rep, X509 *ra_cert,
		 EVP_PKEY *ra_key, unsigned char **ret_der, size_t *ret_len)
{
	const struct scep_msg_reply reply = { req, rep };
	BIO *content = NULL;
	int r;

	if (req == NULL || rep == NULL || ra_cert == NULL || ra_key == NULL)
		return -EINVAL;
	switch (rep->status) {
	case SCEP_STATUS_SUCCESS:
		if ((rep->cert == NULL) == (rep->crl == NULL) || !req->decrypted ||
		    req->fail != SCEP_FAIL_NONE || req->signer == NULL)
			return -EINVAL;
		break;
	case SCEP_STATUS_FAILURE:
		if (scep_msg_fail_name(rep->fail) == NULL)
			return -EINVAL;
		break;
	case SCEP_STATUS_PENDING:
		break;
	default:
		return -EINVAL;
	}
	if ((content = BIO_new(BIO_s_mem())) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (rep->status == SCEP_STATUS_SUCCESS &&
	    (r = scep_msg_certrep_envelope(req, rep, content)) < 0)
		goto out;
	r = scep_msg_sign(ra_cert, ra_key, scep_msg_md(req->digest), content,
			  scep_msg_add_certrep_attrs, &reply, ret_der, ret_len);
out:
	BIO_free(content);
	return r;
}

int
scep_msg_next_ca(STACK_OF(X509) *certs, X509 *ra_cert, EVP_PKEY *ra_key, unsigned char **ret_der,
		 size_t *ret_len)
{
	unsigned char *bundle = NULL;
	size_t bundle_len = 0;
	BIO *content = NULL;
	int r;

	if (ra_cert == NULL || ra_key == NULL)
		return -EINVAL;
	if ((r = scep_msg_certs_only(certs, &bundle, &bundle_len)) < 0)
		goto out;
	if (bundle_len > INT_MAX || (content = BIO_new_mem_buf(bundle, (int)bundle_len)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	r = scep_msg_sign(ra_cert, ra_key, EVP_sha256(), content, NULL, NULL, ret_der, ret_len);
out:
	BIO_free(content);
	free(bundle);
	return r;
}
