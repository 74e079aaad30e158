/*
 * test_scep_msg.c - the SCEP pkiMessage codec against tests/tools/scep_build.c, a
 * second implementation of the client side (OpenSSL's PKCS7 API, as certmonger).
 *
 * Every key and certificate is made here (testlib.h): an RA, another RA that is not
 * ours, a CA, a leaf it issued, RSA and EC requesters. No server, no files. Links
 * scepd_codec, scep_build and testlib (libcrypto) alone: an HTTP dependency in the
 * codec would not link.
 */
#include "scepd/scep_msg.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "scep_build.h"
#include "testlib.h"

#define TEST_CHALLENGE "s3cret +/="
#define TEST_TXID      "A1B2C3D4E5F60718293A4B5C6D7E8F9001122334"

struct test_state {
	EVP_PKEY *ra_key, *other_key, *ca_key, *req_key, *new_key, *ec_key;
	X509 *ra_cert, *other_cert, *ca_cert, *req_cert, *leaf, *ec_cert;
	unsigned char *csr;
	size_t csr_len;
	unsigned char nonce[16];
};

static X509_NAME *
test_name(const char *cn)
{
	char spec[128];

	snprintf(spec, sizeof(spec), "/O=scepd tests/CN=%s", cn);
	return testlib_name(spec);
}

/* A certificate for key, issued by issuer/issuer_key, or self-signed when NULL. */
static X509 *
test_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, long serial,
	  const char *ku, bool ca)
{
	char subject[128];

	snprintf(subject, sizeof(subject), "/O=scepd tests/CN=%s", cn);
	return testlib_cert_make(&(struct testlib_cert){
		.key = key,
		.subject = subject,
		.issuer = issuer,
		.issuer_key = issuer_key,
		.serial = serial,
		.not_before = -3600,
		.not_after = 86400,
		.basic_constraints = ca ? "critical,CA:TRUE" : "CA:FALSE",
		.key_usage = ku,
		.subject_key_id = true,
		.san = ca ? NULL : "DNS:device.example.org,DNS:another-name.example.org",
	});
}

static unsigned char *
test_csr(EVP_PKEY *key, const char *challenge, size_t *ret_len)
{
	X509_NAME *name = test_name("device");
	unsigned char *der = NULL;
	X509_REQ *csr;
	int n;

	assert_int_equal(scep_build_csr(key, name, "DNS:device.example.org", challenge, &csr), 0);
	assert_true((n = i2d_X509_REQ(csr, &der)) > 0);
	X509_REQ_free(csr);
	X509_NAME_free(name);
	*ret_len = (size_t)n;
	return der;
}

static int
test_setup(void **state)
{
	struct test_state *st = calloc(1, sizeof(*st));
	X509_NAME *name;

	assert_non_null(st);
	st->ra_key = testlib_rsa_key(2048);
	st->other_key = testlib_rsa_key(2048);
	st->ca_key = testlib_rsa_key(2048);
	st->req_key = testlib_rsa_key(2048);
	st->new_key = testlib_rsa_key(2048);
	st->ec_key = testlib_ec_key("P-256");
	st->ca_cert =
		test_cert(st->ca_key, "CA", NULL, NULL, 1, "critical,keyCertSign,cRLSign", true);
	st->ra_cert = test_cert(st->ra_key, "RA", st->ca_cert, st->ca_key, 2,
				"critical,digitalSignature,keyEncipherment", false);
	st->other_cert = test_cert(st->other_key, "not our RA", NULL, NULL, 3,
				   "critical,digitalSignature,keyEncipherment", false);
	st->leaf = test_cert(st->req_key, "device", st->ca_cert, st->ca_key, 4,
			     "critical,digitalSignature,keyEncipherment", false);
	name = test_name("device");
	assert_int_equal(scep_build_self_signed(st->req_key, name, &st->req_cert), 0);
	assert_int_equal(scep_build_self_signed(st->ec_key, name, &st->ec_cert), 0);
	X509_NAME_free(name);
	st->csr = test_csr(st->req_key, TEST_CHALLENGE, &st->csr_len);
	assert_int_equal(RAND_bytes(st->nonce, sizeof(st->nonce)), 1);
	*state = st;
	return 0;
}

static int
test_teardown(void **state)
{
	struct test_state *st = *state;

	EVP_PKEY_free(st->ra_key);
	EVP_PKEY_free(st->other_key);
	EVP_PKEY_free(st->ca_key);
	EVP_PKEY_free(st->req_key);
	EVP_PKEY_free(st->new_key);
	EVP_PKEY_free(st->ec_key);
	X509_free(st->ra_cert);
	X509_free(st->other_cert);
	X509_free(st->ca_cert);
	X509_free(st->req_cert);
	X509_free(st->leaf);
	X509_free(st->ec_cert);
	OPENSSL_free(st->csr);
	free(st);
	return 0;
}

/* A PKCSReq as Apple sends it: self-signed signer, AES-128, SHA-256, the CSR. */
static struct scep_build_req
test_req(struct test_state *st)
{
	struct scep_build_req req = {
		.type = SCEP_MSG_PKCSREQ,
		.txid = TEST_TXID,
		.nonce = st->nonce,
		.nonce_len = sizeof(st->nonce),
		.md = EVP_sha256(),
		.cipher = EVP_aes_128_cbc(),
		.signer_cert = st->req_cert,
		.signer_key = st->req_key,
		.recipient = st->ra_cert,
		.content = st->csr,
		.content_len = st->csr_len,
	};

	return req;
}

static unsigned char *
test_build(const struct scep_build_req *req, size_t *ret_len)
{
	unsigned char *der = NULL;

	assert_int_equal(scep_build_request(req, &der, ret_len), 0);
	return der;
}

/* Parse, and decrypt when the parse accepted it: the message and its verdict. */
static struct scep_msg *
test_parse(struct test_state *st, const struct scep_build_req *req)
{
	struct scep_msg *msg = NULL;
	unsigned char *der;
	size_t len;

	der = test_build(req, &len);
	assert_int_equal(scep_msg_parse(der, len, &msg), 0);
	assert_non_null(msg);
	if (msg->fail == SCEP_FAIL_NONE)
		assert_int_equal(scep_msg_decrypt(msg, st->ra_cert, st->ra_key), 0);
	free(der);
	ERR_clear_error();
	return msg;
}

static enum scep_fail
test_verdict(struct test_state *st, const struct scep_build_req *req)
{
	struct scep_msg *msg = test_parse(st, req);
	enum scep_fail fail = msg->fail;

	assert_true(fail != SCEP_FAIL_NONE || msg->decrypted);
	/* every refusal says why, for the log */
	assert_true((fail == SCEP_FAIL_NONE) == (msg->fail_reason == NULL));
	scep_msg_free(msg);
	return fail;
}

static unsigned char *
test_certrep(struct test_state *st, const struct scep_msg *msg, const struct scep_certrep *rep,
	     size_t *ret_len)
{
	unsigned char *der = NULL;

	assert_int_equal(scep_msg_certrep(msg, rep, st->ra_cert, st->ra_key, &der, ret_len), 0);
	return der;
}

static void
test_same_cert(X509 *a, X509 *b)
{
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(X509_cmp(a, b), 0);
}

static void
test_roundtrip(void **state)
{
	struct test_state *st = *state;
	static const struct {
		const EVP_CIPHER *(*cipher)(void);
		enum scep_cipher expect;
		int reply_nid;
	} ciphers[] = {
		{ EVP_des_cbc, SCEP_CIPHER_DES, NID_des_ede3_cbc }, /* DES is answered with DES3 */
		{ EVP_des_ede3_cbc, SCEP_CIPHER_DES3, NID_des_ede3_cbc },
		{ EVP_aes_128_cbc, SCEP_CIPHER_AES128, NID_aes_128_cbc },
		{ EVP_aes_256_cbc, SCEP_CIPHER_AES256, NID_aes_256_cbc },
	};
	static const struct {
		const EVP_MD *(*md)(void);
		enum scep_digest expect;
	} digests[] = {
		{ EVP_sha1, SCEP_DIGEST_SHA1 },
		{ EVP_sha224, SCEP_DIGEST_SHA224 }, /* strongSwan's pki --scep --digest sha224 */
		{ EVP_sha256, SCEP_DIGEST_SHA256 },
		{ EVP_sha384, SCEP_DIGEST_SHA384 }, /* ... and sha384 */
		{ EVP_sha512, SCEP_DIGEST_SHA512 },
	};

	assert_int_equal(scep_msg_init(), 0); /* this machine has the legacy provider */
	for (size_t c = 0; c < sizeof(ciphers) / sizeof(ciphers[0]); c++) {
		for (size_t d = 0; d < sizeof(digests) / sizeof(digests[0]); d++) {
			struct scep_build_req req = test_req(st);
			STACK_OF(X509) *chain = sk_X509_new_null();
			struct scep_build_reply reply;
			struct scep_msg *msg;
			unsigned char *der;
			size_t len;

			req.cipher = ciphers[c].cipher();
			req.md = digests[d].md();
			msg = test_parse(st, &req);
			assert_int_equal(msg->fail, SCEP_FAIL_NONE);
			assert_int_equal(msg->type, SCEP_MSG_PKCSREQ);
			assert_string_equal(msg->txid, TEST_TXID);
			assert_int_equal(msg->sender_nonce_len, sizeof(st->nonce));
			assert_memory_equal(msg->sender_nonce, st->nonce, sizeof(st->nonce));
			assert_int_equal(msg->recipient_nonce_len, 0);
			assert_int_equal(msg->digest, digests[d].expect);
			assert_int_equal(msg->signature_nid, NID_rsaEncryption);
			test_same_cert(msg->signer, st->req_cert);
			assert_true(msg->decrypted);
			assert_int_equal(msg->cipher, ciphers[c].expect);
			assert_non_null(msg->csr);
			assert_int_equal(EVP_PKEY_eq(X509_REQ_get0_pubkey(msg->csr), st->req_key),
					 1);
			assert_string_equal(msg->challenge, TEST_CHALLENGE);
			assert_true(msg->signer_has_csr_key);

			assert_non_null(chain);
			assert_int_equal(sk_X509_push(chain, st->ca_cert), 1);
			der = test_certrep(st, msg,
					   &(struct scep_certrep){ .status = SCEP_STATUS_SUCCESS,
								   .cert = st->leaf,
								   .chain = chain },
					   &len);
			assert_int_equal(scep_build_read_reply(der, len, st->ra_cert, st->req_cert,
							       st->req_key, &reply),
					 0);
			assert_int_equal(reply.type, SCEP_MSG_CERTREP);
			assert_int_equal(reply.status, SCEP_STATUS_SUCCESS);
			assert_int_equal(reply.fail, -1);
			assert_string_equal(reply.txid, TEST_TXID);
			assert_int_equal(reply.recipient_nonce_len, sizeof(st->nonce));
			assert_memory_equal(reply.recipient_nonce, st->nonce, sizeof(st->nonce));
			assert_int_equal(reply.sender_nonce_len, SCEP_NONCE_LEN);
			assert_memory_not_equal(reply.sender_nonce, st->nonce, SCEP_NONCE_LEN);
			assert_int_equal(reply.digest_nid, EVP_MD_get_type(digests[d].md()));
			assert_int_equal(reply.cipher_nid, ciphers[c].reply_nid);
			assert_int_equal(sk_X509_num(reply.certs), 2);
			test_same_cert(sk_X509_value(reply.certs, 0), st->leaf);
			test_same_cert(sk_X509_value(reply.certs, 1), st->ca_cert);
			scep_build_reply_clear(&reply);
			free(der);
			sk_X509_free(chain);
			scep_msg_free(msg);
		}
	}
}

/* Apple takes certificate 0 as the issued one: the leaf comes first in the bytes. */
static void
test_leaf_first(void **state)
{
	struct test_state *st = *state;
	struct scep_build_req req = test_req(st);
	struct scep_msg *msg = test_parse(st, &req);
	unsigned char *der, *leaf = NULL, *ca = NULL, *data, *at_leaf, *at_ca;
	STACK_OF(X509) *chain = sk_X509_new_null();
	CMS_ContentInfo *cms, *env;
	const unsigned char *p;
	ASN1_OCTET_STRING **content;
	BIO *out;
	int leaf_len, ca_len;
	long n;
	size_t len;

	/* a DER SET OF would sort the CA first: the test means something */
	assert_true((leaf_len = i2d_X509(st->leaf, &leaf)) > 0);
	assert_true((ca_len = i2d_X509(st->ca_cert, &ca)) > 0);
	assert_true(memcmp(leaf, ca, (size_t)(leaf_len < ca_len ? leaf_len : ca_len)) > 0);

	assert_int_equal(sk_X509_push(chain, st->ca_cert), 1);
	der = test_certrep(st, msg,
			   &(struct scep_certrep){ .status = SCEP_STATUS_SUCCESS,
						   .cert = st->leaf,
						   .chain = chain },
			   &len);
	p = der;
	assert_non_null(cms = d2i_CMS_ContentInfo(NULL, &p, (long)len));
	assert_non_null(content = CMS_get0_content(cms));
	p = ASN1_STRING_get0_data(*content);
	assert_non_null(env = d2i_CMS_ContentInfo(NULL, &p, ASN1_STRING_length(*content)));
	assert_non_null(out = BIO_new(BIO_s_mem()));
	assert_int_equal(CMS_decrypt(env, st->req_key, st->req_cert, NULL, out, CMS_BINARY), 1);
	assert_true((n = BIO_get_mem_data(out, (char **)&data)) > 0);
	assert_non_null(at_leaf = memmem(data, (size_t)n, leaf, (size_t)leaf_len));
	assert_non_null(at_ca = memmem(data, (size_t)n, ca, (size_t)ca_len));
	assert_true(at_leaf < at_ca);

	BIO_free(out);
	CMS_ContentInfo_free(env);
	CMS_ContentInfo_free(cms);
	OPENSSL_free(leaf);
	OPENSSL_free(ca);
	free(der);
	sk_X509_free(chain);
	scep_msg_free(msg);
}

/* The ASN.1 type of the one value of a signed attribute of a CertRep. */
static int
test_attr_type(CMS_SignerInfo *si, const char *oid)
{
	ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
	X509_ATTRIBUTE *attr;
	int i, type;

	assert_non_null(obj);
	if ((i = CMS_signed_get_attr_by_OBJ(si, obj, -1)) < 0) {
		ASN1_OBJECT_free(obj);
		return -1;
	}
	assert_true(CMS_signed_get_attr_by_OBJ(si, obj, i) < 0);
	attr = CMS_signed_get_attr(si, i);
	assert_int_equal(X509_ATTRIBUTE_count(attr), 1);
	type = ASN1_TYPE_get(X509_ATTRIBUTE_get0_type(attr, 0));
	ASN1_OBJECT_free(obj);
	return type;
}

static void
test_attr_types(const unsigned char *der, size_t len, X509 *ra, bool failure)
{
	const unsigned char *p = der;
	STACK_OF(X509) *certs;
	CMS_ContentInfo *cms;
	CMS_SignerInfo *si;
	X509_ALGOR *sig = NULL;

	assert_non_null(cms = d2i_CMS_ContentInfo(NULL, &p, (long)len));
	si = sk_CMS_SignerInfo_value(CMS_get0_SignerInfos(cms), 0);
	assert_int_equal(test_attr_type(si, "2.16.840.1.113733.1.9.2"), V_ASN1_PRINTABLESTRING);
	assert_int_equal(test_attr_type(si, "2.16.840.1.113733.1.9.3"), V_ASN1_PRINTABLESTRING);
	assert_int_equal(test_attr_type(si, "2.16.840.1.113733.1.9.4"),
			 failure ? V_ASN1_PRINTABLESTRING : -1);
	assert_int_equal(test_attr_type(si, "2.16.840.1.113733.1.9.5"), V_ASN1_OCTET_STRING);
	assert_int_equal(test_attr_type(si, "2.16.840.1.113733.1.9.6"), V_ASN1_OCTET_STRING);
	assert_int_equal(test_attr_type(si, "2.16.840.1.113733.1.9.7"), V_ASN1_PRINTABLESTRING);
	assert_int_equal(test_attr_type(si, "1.3.6.1.5.5.7.24.1"),
			 failure ? V_ASN1_UTF8STRING : -1);
	/* legacy clients expect rsaEncryption here (smallstep PR #2776) */
	CMS_SignerInfo_get0_algs(si, NULL, NULL, NULL, &sig);
	assert_int_equal(OBJ_obj2nid(sig->algorithm), NID_rsaEncryption);
	/* the RA certificate is carried, and it is the only one */
	assert_non_null(certs = CMS_get1_certs(cms));
	assert_int_equal(sk_X509_num(certs), 1);
	test_same_cert(sk_X509_value(certs, 0), ra);
	sk_X509_pop_free(certs, X509_free);
	CMS_ContentInfo_free(cms);
	/* "0x13 = PrintableString" in the bytes themselves, short form: messageType "3" */
	assert_non_null(
		memmem(der, len,
		       "\x06\x0a\x60\x86\x48\x01\x86\xf8\x45\x01\x09\x02\x31\x03\x13\x01\x33", 17));
}

/* As certmonger and sscep read a CertRep: PKCS7_verify(), which wants content. */
static void
test_pkcs7_verify(const unsigned char *der, size_t len, X509 *ra)
{
	const unsigned char *p = der;
	STACK_OF(X509) *certs = sk_X509_new_null();
	PKCS7 *p7;

	assert_non_null(p7 = d2i_PKCS7(NULL, &p, (long)len));
	assert_int_equal(sk_X509_push(certs, ra), 1);
	assert_int_equal(PKCS7_verify(p7, certs, NULL, NULL, NULL, PKCS7_NOVERIFY | PKCS7_BINARY),
			 1);
	sk_X509_free(certs);
	PKCS7_free(p7);
}

static void
test_failure_and_pending(void **state)
{
	struct test_state *st = *state;
	struct scep_build_req req = test_req(st);
	struct scep_msg *msg = test_parse(st, &req);
	struct scep_build_reply reply, again;
	unsigned char *der, *der2;
	size_t len, len2;

	der = test_certrep(st, msg,
			   &(struct scep_certrep){ .status = SCEP_STATUS_FAILURE,
						   .fail = SCEP_FAIL_BAD_REQUEST,
						   .fail_text = "wrong challenge, señor" },
			   &len);
	assert_int_equal(
		scep_build_read_reply(der, len, st->ra_cert, st->req_cert, st->req_key, &reply), 0);
	assert_int_equal(reply.type, SCEP_MSG_CERTREP);
	assert_int_equal(reply.status, SCEP_STATUS_FAILURE);
	assert_int_equal(reply.fail, SCEP_FAIL_BAD_REQUEST);
	assert_string_equal(reply.fail_text, "wrong challenge, señor");
	assert_string_equal(reply.txid, TEST_TXID);
	assert_memory_equal(reply.recipient_nonce, st->nonce, sizeof(st->nonce));
	assert_null(reply.certs);
	test_attr_types(der, len, st->ra_cert, true);
	test_pkcs7_verify(der, len, st->ra_cert);

	/* a reply signed by someone else is refused by the client */
	assert_int_equal(
		scep_build_read_reply(der, len, st->other_cert, st->req_cert, st->req_key, &again),
		-EBADMSG);
	ERR_clear_error();

	der2 = test_certrep(st, msg, &(struct scep_certrep){ .status = SCEP_STATUS_PENDING },
			    &len2);
	assert_int_equal(
		scep_build_read_reply(der2, len2, st->ra_cert, st->req_cert, st->req_key, &again),
		0);
	assert_int_equal(again.status, SCEP_STATUS_PENDING);
	assert_int_equal(again.fail, -1);
	assert_null(again.fail_text);
	assert_string_equal(again.txid, TEST_TXID);
	assert_memory_equal(again.recipient_nonce, st->nonce, sizeof(st->nonce));
	/* a fresh senderNonce in every reply */
	assert_memory_not_equal(again.sender_nonce, reply.sender_nonce, SCEP_NONCE_LEN);
	test_attr_types(der2, len2, st->ra_cert, false);
	test_pkcs7_verify(der2, len2, st->ra_cert);

	scep_build_reply_clear(&reply);
	scep_build_reply_clear(&again);
	free(der);
	free(der2);
	scep_msg_free(msg);
}

/* A CRL of the CA revoking serial 5, as DER (malloc()ed). */
static unsigned char *
test_crl(struct test_state *st, size_t *ret_len)
{
	X509_CRL *crl;
	X509_REVOKED *rev;
	ASN1_INTEGER *sn;
	ASN1_TIME *now;
	unsigned char *der, *p;
	int n;

	assert_non_null(crl = X509_CRL_new());
	assert_int_equal(X509_CRL_set_version(crl, 1), 1);
	assert_int_equal(X509_CRL_set_issuer_name(crl, X509_get_subject_name(st->ca_cert)), 1);
	assert_non_null(now = ASN1_TIME_adj(NULL, time(NULL), 0, 0));
	assert_int_equal(X509_CRL_set1_lastUpdate(crl, now), 1);
	assert_non_null(rev = X509_REVOKED_new());
	assert_non_null(sn = ASN1_INTEGER_new());
	assert_int_equal(ASN1_INTEGER_set(sn, 5), 1);
	assert_int_equal(X509_REVOKED_set_serialNumber(rev, sn), 1);
	ASN1_INTEGER_free(sn);
	assert_int_equal(X509_REVOKED_set_revocationDate(rev, now), 1);
	assert_int_equal(X509_CRL_add0_revoked(crl, rev), 1);
	assert_true(X509_CRL_sign(crl, st->ca_key, EVP_sha256()) > 0);
	assert_true((n = i2d_X509_CRL(crl, NULL)) > 0);
	assert_non_null(der = malloc((size_t)n));
	p = der;
	assert_int_equal(i2d_X509_CRL(crl, &p), n);
	ASN1_TIME_free(now);
	X509_CRL_free(crl);
	*ret_len = (size_t)n;
	return der;
}

static void
test_certpoll_getcert_getcrl(void **state)
{
	struct test_state *st = *state;
	struct scep_build_req req = test_req(st);
	X509_NAME *subject = test_name("device");
	const X509_NAME *issuer = X509_get_subject_name(st->ca_cert);
	struct scep_build_reply reply;
	struct scep_msg *msg;
	unsigned char *content, *der, *crl, *back = NULL;
	size_t content_len, len, crl_len;
	ASN1_INTEGER *serial;
	BIGNUM *bn = NULL;

	/* CertPoll: IssuerAndSubject */
	assert_int_equal(scep_build_issuer_and_subject(issuer, subject, &content, &content_len), 0);
	req.type = SCEP_MSG_CERTPOLL;
	req.content = content;
	req.content_len = content_len;
	msg = test_parse(st, &req);
	assert_int_equal(msg->fail, SCEP_FAIL_NONE);
	assert_int_equal(msg->type, SCEP_MSG_CERTPOLL);
	assert_int_equal(X509_NAME_cmp(msg->issuer, issuer), 0);
	assert_int_equal(X509_NAME_cmp(msg->subject, subject), 0);
	assert_null(msg->csr);
	assert_null(msg->serial);
	scep_msg_free(msg);
	free(content);

	/* GetCert and GetCRL: IssuerAndSerialNumber, a big serial */
	assert_true(BN_hex2bn(&bn, "7F0102030405060708090A0B0C0D0E0F10111213") > 0);
	assert_non_null(serial = BN_to_ASN1_INTEGER(bn, NULL));
	assert_int_equal(scep_build_issuer_and_serial(issuer, serial, &content, &content_len), 0);
	req.content = content;
	req.content_len = content_len;
	req.type = SCEP_MSG_GETCRL;
	msg = test_parse(st, &req);
	assert_int_equal(msg->fail, SCEP_FAIL_NONE);
	assert_int_equal(ASN1_INTEGER_cmp(msg->serial, serial), 0);
	/* GetCRL SUCCESS: the CRL, byte for byte, and no certificate */
	crl = test_crl(st, &crl_len);
	der = test_certrep(st, msg,
			   &(struct scep_certrep){
				   .status = SCEP_STATUS_SUCCESS, .crl = crl, .crl_len = crl_len },
			   &len);
	assert_int_equal(
		scep_build_read_reply(der, len, st->ra_cert, st->req_cert, st->req_key, &reply), 0);
	assert_int_equal(reply.status, SCEP_STATUS_SUCCESS);
	assert_int_equal(sk_X509_num(reply.certs), 0);
	assert_int_equal(sk_X509_CRL_num(reply.crls), 1);
	assert_int_equal(i2d_X509_CRL(sk_X509_CRL_value(reply.crls, 0), &back), (int)crl_len);
	assert_memory_equal(back, crl, crl_len);
	scep_build_reply_clear(&reply);
	free(der);
	/* a certificate and a CRL, or a CRL that is not one: a bug of ours */
	assert_int_equal(scep_msg_certrep(msg,
					  &(struct scep_certrep){ .status = SCEP_STATUS_SUCCESS,
								  .cert = st->leaf,
								  .crl = crl,
								  .crl_len = crl_len },
					  st->ra_cert, st->ra_key, &der, &len),
			 -EINVAL);
	assert_int_equal(scep_msg_certrep(msg,
					  &(struct scep_certrep){ .status = SCEP_STATUS_SUCCESS,
								  .crl = crl,
								  .crl_len = crl_len - 1 },
					  st->ra_cert, st->ra_key, &der, &len),
			 -EINVAL);
	ERR_clear_error();
	OPENSSL_free(back);
	free(crl);
	scep_msg_free(msg);

	req.type = SCEP_MSG_GETCERT;
	msg = test_parse(st, &req);
	assert_int_equal(msg->fail, SCEP_FAIL_NONE);
	assert_int_equal(msg->type, SCEP_MSG_GETCERT);
	assert_int_equal(X509_NAME_cmp(msg->issuer, issuer), 0);
	assert_int_equal(ASN1_INTEGER_cmp(msg->serial, serial), 0);
	assert_null(msg->subject);
	/* GetCert SUCCESS: a stored certificate, alone */
	der = test_certrep(
		st, msg, &(struct scep_certrep){ .status = SCEP_STATUS_SUCCESS, .cert = st->leaf },
		&len);
	assert_int_equal(
		scep_build_read_reply(der, len, st->ra_cert, st->req_cert, st->req_key, &reply), 0);
	assert_int_equal(reply.status, SCEP_STATUS_SUCCESS);
	assert_int_equal(sk_X509_num(reply.certs), 1);
	test_same_cert(sk_X509_value(reply.certs, 0), st->leaf);
	scep_build_reply_clear(&reply);
	scep_msg_free(msg);

	/* a CertPoll whose content is not an IssuerAndSubject does not decode */
	req.type = SCEP_MSG_CERTPOLL;
	assert_int_equal(test_verdict(st, &req), SCEP_FAIL_BAD_MESSAGE_CHECK);

	free(der);
	free(content);
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	X509_NAME_free(subject);
}

/* RenewalReq, and PKCSReq, signed by an issued certificate, for a new key. */
static void
test_renewal(void **state)
{
	struct test_state *st = *state;
	struct scep_build_req req = test_req(st);
	struct scep_build_reply reply;
	struct scep_msg *msg;
	unsigned char *csr, *der;
	size_t csr_len, len;
	const int types[] = { SCEP_MSG_RENEWALREQ, SCEP_MSG_PKCSREQ };

	csr = test_csr(st->new_key, NULL, &csr_len);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		req.type = types[i];
		req.signer_cert = st->leaf;
		req.signer_key = st->req_key;
		req.content = csr;
		req.content_len = csr_len;
		msg = test_parse(st, &req);
		assert_int_equal(msg->fail, SCEP_FAIL_NONE);
		assert_int_equal(msg->type, types[i]);
		test_same_cert(msg->signer, st->leaf);
		assert_null(msg->challenge);
		assert_false(msg->signer_has_csr_key);
		assert_int_equal(EVP_PKEY_eq(X509_REQ_get0_pubkey(msg->csr), st->new_key), 1);
		/* the reply is for the signer: the old certificate and key open it */
		der = test_certrep(st, msg,
				   &(struct scep_certrep){ .status = SCEP_STATUS_SUCCESS,
							   .cert = st->ra_cert },
				   &len);
		assert_int_equal(
			scep_build_read_reply(der, len, st->ra_cert, st->leaf, st->req_key, &reply),
			0);
		test_same_cert(sk_X509_value(reply.certs, 0), st->ra_cert);
		scep_build_reply_clear(&reply);
		free(der);
		scep_msg_free(msg);
	}
	OPENSSL_free(csr);
}

/* EC requester: the reply goes out by key agreement. */
static void
test_ec_requester(void **state)
{
	struct test_state *st = *state;
	struct scep_build_req req = test_req(st);
	struct scep_build_reply reply;
	struct scep_msg *msg;
	unsigned char *csr, *der;
	size_t csr_len, len;

	csr = test_csr(st->ec_key, "ec", &csr_len);
	req.signer_cert = st->ec_cert;
	req.signer_key = st->ec_key;
	req.content = csr;
	req.content_len = csr_len;
	msg = test_parse(st, &req);
	assert_int_equal(msg->fail, SCEP_FAIL_NONE);
	assert_int_equal(msg->signature_nid, NID_ecdsa_with_SHA256);
	assert_true(msg->signer_has_csr_key);
	der = test_certrep(
		st, msg, &(struct scep_certrep){ .status = SCEP_STATUS_SUCCESS, .cert = st->leaf },
		&len);
	assert_int_equal(
		scep_build_read_reply(der, len, st->ra_cert, st->ec_cert, st->ec_key, &reply), 0);
	test_same_cert(sk_X509_value(reply.certs, 0), st->leaf);
	scep_build_reply_clear(&reply);
	free(der);
	scep_msg_free(msg);
	OPENSSL_free(csr);
}

static void
test_bad_signature(void **state)
{
	struct test_state *st = *state;
	struct scep_build_req req = test_req(st);
	struct scep_build_reply reply;
	struct scep_msg *msg;
	unsigned char *der;
	size_t len;

	req.flags = SCEP_BUILD_BAD_SIGNATURE;
	msg = test_parse(st, &req);
	assert_int_equal(msg->fail, SCEP_FAIL_BAD_MESSAGE_CHECK);
	assert_null(msg->signer);
	assert_false(msg->decrypted);
	/* never decrypted, whatever the caller tries */
	assert_int_equal(scep_msg_decrypt(msg, st->ra_cert, st->ra_key), -EINVAL);
	assert_null(msg->csr);
	/* but answered: the attributes were read */
	assert_string_equal(msg->txid, TEST_TXID);
	der = test_certrep(
		st, msg, &(struct scep_certrep){ .status = SCEP_STATUS_FAILURE, .fail = msg->fail },
		&len);
	assert_int_equal(
		scep_build_read_reply(der, len, st->ra_cert, st->req_cert, st->req_key, &reply), 0);
	assert_int_equal(reply.fail, SCEP_FAIL_BAD_MESSAGE_CHECK);
	assert_memory_equal(reply.recipient_nonce, st->nonce, sizeof(st->nonce));
	scep_build_reply_clear(&reply);
	free(der);
	scep_msg_free(msg);

	/* a certificate that is not the signing key's */
	req = test_req(st);
	req.signer_cert = st->leaf;
	req.signer_key = st->new_key;
	assert_int_equal(test_verdict(st, &req), SCEP_FAIL_BAD_MESSAGE_CHECK);

	/* no signer certificate in the message */
	req = test_req(st);
	req.flags = SCEP_BUILD_NO_CERTS;
	assert_int_equal(test_verdict(st, &req), SCEP_FAIL_BAD_MESSAGE_CHECK);
}

static void
test_digests(void **state)
{
	struct test_state *st = *state;
	struct scep_build_req req = test_req(st);
	/* MD5, and SHA-2 and SHA-3 variants that no SCEP client sends and GetCACaps lacks */
	const EVP_MD *(*const refused[])(void) = { EVP_md5, EVP_sha512_256, EVP_sha3_256 };
	struct scep_build_reply reply;
	struct scep_msg *msg;
	unsigned char *der;
	size_t len;

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		req.md = refused[i]();
		msg = test_parse(st, &req);
		assert_int_equal(msg->fail, SCEP_FAIL_BAD_ALG);
		assert_null(msg->signer);
		assert_int_equal(msg->digest, SCEP_DIGEST_SHA256);
		/* the FAILURE goes out with SHA-256 */
		der = test_certrep(
			st, msg,
			&(struct scep_certrep){ .status = SCEP_STATUS_FAILURE, .fail = msg->fail },
			&len);
		assert_int_equal(scep_build_read_reply(der, len, st->ra_cert, st->req_cert,
						       st->req_key, &reply),
				 0);
		assert_int_equal(reply.fail, SCEP_FAIL_BAD_ALG);
		assert_int_equal(reply.digest_nid, NID_sha256);
		scep_build_reply_clear(&reply);
		free(der);
		scep_msg_free(msg);
	}
}

/*
 * The key is used on the one recipient that names the RA certificate by issuer and
 * serial number, and on no other. The twins hold the RA's own key under another name:
 * an envelope to a twin would open with the RA key, so its refusal proves that the key
 * was not used on it (trying the key on every recipient, as this codec once did,
 * decrypts them all). The refusal of an envelope to nobody of ours also leaves
 * OpenSSL's error queue empty: no decryption was even attempted.
 */
static void
test_recipients(void **state)
{
	static const char not_ours[] = "the envelope is not encrypted to our RA certificate";
	struct test_state *st = *state;
	const char *ku = "critical,digitalSignature,keyEncipherment";
	X509 *ra = st->ra_cert, *other = st->other_cert;
	X509 *twin_issuer = test_cert(st->ra_key, "RA", NULL, NULL, 2, ku, false);
	X509 *twin_serial = test_cert(st->ra_key, "RA", st->ca_cert, st->ca_key, 22, ku, false);
	const enum scep_fail ok = SCEP_FAIL_NONE, bmc = SCEP_FAIL_BAD_MESSAGE_CHECK;
	/* clang-format off */
	const struct {
		const char *what;
		X509 *recipient;
		X509 *others[5]; /* before it, NULL-terminated */
		unsigned int flags;
		enum scep_fail fail;
		bool not_ours; /* refused before any key operation */
	} cases[] = {
		{ "to the RA alone",            ra, { NULL },                 0, ok,  false },
		{ "to another RA, then ours",   ra, { other },                0, ok,  false },
		{ "four recipients, ours last", ra, { other, other, other },  0, ok,  false },
		{ "five recipients",            ra, { other, other, other, other }, 0, bmc, false },
		{ "to another RA alone",        other, { NULL },              0, bmc, true },
		{ "to the RA key, another issuer", twin_issuer, { NULL },     0, bmc, true },
		{ "to the RA key, another serial", twin_serial, { NULL },     0, bmc, true },
		{ "to strangers only", twin_serial, { other, twin_issuer },   0, bmc, true },
		/* ours is broken, the twin before it would open: only ours is tried */
		{ "to a twin, then ours broken", ra, { twin_issuer }, SCEP_BUILD_CORRUPT_KEY,
		  bmc, false },
		/* CMS version 2 is not read (see scep_msg.c, BUGS) */
		{ "to the RA by subjectKeyIdentifier", ra, { NULL }, SCEP_BUILD_RECIPIENT_KEYID,
		  bmc, false },
	};
	/* clang-format on */

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct scep_build_req req = test_req(st);
		struct scep_msg *msg = NULL;
		STACK_OF(X509) *others;
		unsigned char *der;
		size_t len;

		print_message("%s\n", cases[i].what);
		assert_non_null(others = sk_X509_new_null());
		for (size_t j = 0; cases[i].others[j] != NULL; j++)
			assert_true(sk_X509_push(others, cases[i].others[j]) > 0);
		req.recipient = cases[i].recipient;
		req.others = others;
		req.flags = cases[i].flags;
		der = test_build(&req, &len);
		assert_int_equal(scep_msg_parse(der, len, &msg), 0);
		assert_int_equal(msg->fail, SCEP_FAIL_NONE);
		ERR_clear_error();
		assert_int_equal(scep_msg_decrypt(msg, st->ra_cert, st->ra_key), 0);
		assert_int_equal(msg->fail, cases[i].fail);
		assert_true(msg->decrypted == (cases[i].fail == SCEP_FAIL_NONE));
		if (cases[i].fail == SCEP_FAIL_NONE) {
			assert_null(msg->fail_reason);
			assert_non_null(msg->csr);
			assert_string_equal(msg->challenge, TEST_CHALLENGE);
		} else {
			assert_non_null(msg->fail_reason);
			assert_true((strcmp(msg->fail_reason, not_ours) == 0) == cases[i].not_ours);
		}
		if (cases[i].not_ours)
			assert_int_equal(ERR_peek_error(), 0);
		ERR_clear_error();
		scep_msg_free(msg);
		free(der);
		sk_X509_free(others);
	}
	X509_free(twin_issuer);
	X509_free(twin_serial);
}

/* Whatever breaks the envelope, one answer. */
static void
test_envelope_uniform(void **state)
{
	struct test_state *st = *state;
	const EVP_CIPHER *(*const ciphers[])(void) = { EVP_des_cbc, EVP_des_ede3_cbc,
						       EVP_aes_128_cbc, EVP_aes_256_cbc };
	static const unsigned int breaks[] = {
		0, /* to another RA */
		SCEP_BUILD_CORRUPT_KEY,
		SCEP_BUILD_CORRUPT_IV,
		SCEP_BUILD_CORRUPT_CONTENT,
		SCEP_BUILD_CORRUPT_PADDING,
		SCEP_BUILD_CORRUPT_KEY | SCEP_BUILD_CORRUPT_PADDING,
	};
	unsigned char junk[200];

	for (size_t c = 0; c < sizeof(ciphers) / sizeof(ciphers[0]); c++) {
		for (size_t b = 0; b < sizeof(breaks) / sizeof(breaks[0]); b++) {
			struct scep_build_req req = test_req(st);

			req.cipher = ciphers[c]();
			req.flags = breaks[b];
			if (breaks[b] == 0)
				req.recipient = st->other_cert;
			assert_int_equal(test_verdict(st, &req), SCEP_FAIL_BAD_MESSAGE_CHECK);
		}
	}

	/* well encrypted, but no request inside: the same answer */
	{
		struct scep_build_req req = test_req(st);

		assert_int_equal(RAND_bytes(junk, sizeof(junk)), 1);
		req.content = junk;
		req.content_len = sizeof(junk);
		assert_int_equal(test_verdict(st, &req), SCEP_FAIL_BAD_MESSAGE_CHECK);
		req.content = (const unsigned char *)"\x02\x01\x00";
		req.content_len = 3;
		assert_int_equal(test_verdict(st, &req), SCEP_FAIL_BAD_MESSAGE_CHECK);
	}
}

static void
test_message_types(void **state)
{
	struct test_state *st = *state;
	static const char *const texts[] = { "019", "19 ", "+19",        "-1",
					     "abc", "",    "1000000019", "１９" };
	int accepted = 0;

	for (int type = 0; type <= 255; type++) {
		struct scep_build_req req = test_req(st);
		struct scep_msg *msg = NULL;
		unsigned char *der;
		size_t len;

		req.type = type;
		der = test_build(&req, &len);
		assert_int_equal(scep_msg_parse(der, len, &msg), 0);
		assert_int_equal(msg->type, type);
		if (type == 17 || type == 19 || type == 20 || type == 21 || type == 22) {
			assert_int_equal(msg->fail, SCEP_FAIL_NONE);
			accepted++;
		} else {
			assert_int_equal(msg->fail, SCEP_FAIL_BAD_REQUEST);
			assert_int_equal(scep_msg_decrypt(msg, st->ra_cert, st->ra_key), -EINVAL);
		}
		scep_msg_free(msg);
		free(der);
	}
	assert_int_equal(accepted, 5);
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct scep_build_req req = test_req(st);
		struct scep_msg *msg;

		req.type_text = texts[i];
		msg = test_parse(st, &req);
		assert_int_equal(msg->type, -1);
		assert_int_equal(msg->fail, SCEP_FAIL_BAD_REQUEST);
		scep_msg_free(msg);
	}
}

static void
test_parse_ebadmsg(const void *der, size_t len)
{
	struct scep_msg *msg = NULL;

	assert_int_equal(scep_msg_parse(der, len, &msg), -EBADMSG);
	assert_null(msg);
	ERR_clear_error();
}

static void
test_not_pkimessage(void **state)
{
	struct test_state *st = *state;
	struct scep_build_req req = test_req(st);
	STACK_OF(X509) *certs = sk_X509_new_null();
	unsigned char *der, *longer, *cert = NULL, *bundle;
	unsigned char nonce[SCEP_NONCE_MAX + 1] = { 0 };
	char txid[SCEP_TXID_MAX + 2];
	size_t len, bundle_len;
	int cert_len;

	test_parse_ebadmsg("", 0);
	test_parse_ebadmsg("\x30", 1);
	test_parse_ebadmsg("\x30\x80\x00\x00", 4);
	test_parse_ebadmsg("garbage, not DER at all", 23);
	test_parse_ebadmsg(st->csr, st->csr_len);

	/* every truncation, and one byte too many */
	der = test_build(&req, &len);
	for (size_t n = 0; n < len; n++)
		test_parse_ebadmsg(der, n);
	assert_non_null(longer = malloc(len + 1));
	memcpy(longer, der, len);
	longer[len] = 0;
	test_parse_ebadmsg(longer, len + 1);
	free(longer);
	free(der);

	/* PKCS#7, but not a pkiMessage: a certificate, a certs-only bundle */
	assert_true((cert_len = i2d_X509(st->ca_cert, &cert)) > 0);
	test_parse_ebadmsg(cert, (size_t)cert_len);
	assert_int_equal(sk_X509_push(certs, st->ca_cert), 1);
	assert_int_equal(scep_msg_certs_only(certs, &bundle, &bundle_len), 0);
	test_parse_ebadmsg(bundle, bundle_len);
	free(bundle);
	OPENSSL_free(cert);
	sk_X509_free(certs);

	/* the attributes a pkiMessage must have, and have right */
	req = test_req(st);
	req.txid = NULL;
	der = test_build(&req, &len);
	test_parse_ebadmsg(der, len);
	free(der);
	req = test_req(st);
	req.type = -1;
	der = test_build(&req, &len);
	test_parse_ebadmsg(der, len);
	free(der);
	req = test_req(st);
	req.nonce = NULL;
	der = test_build(&req, &len);
	test_parse_ebadmsg(der, len);
	free(der);
	req = test_req(st);
	req.nonce = nonce;
	req.nonce_len = sizeof(nonce);
	der = test_build(&req, &len);
	test_parse_ebadmsg(der, len);
	free(der);
	req = test_req(st);
	req.txid = "line\nbreak";
	der = test_build(&req, &len);
	test_parse_ebadmsg(der, len);
	free(der);
	memset(txid, 'A', sizeof(txid) - 1);
	txid[sizeof(txid) - 1] = '\0';
	req = test_req(st);
	req.txid = txid;
	der = test_build(&req, &len);
	test_parse_ebadmsg(der, len);
	free(der);
	txid[SCEP_TXID_MAX] = '\0'; /* the longest accepted */
	req = test_req(st);
	req.txid = txid;
	assert_int_equal(test_verdict(st, &req), SCEP_FAIL_NONE);
}

/* A request inside that decodes but is not acceptable: badRequest. */
static void
test_bad_requests(void **state)
{
	struct test_state *st = *state;
	struct scep_build_req req = test_req(st);
	unsigned char *csr, *der = NULL;
	struct scep_msg *msg;
	X509_NAME *name = test_name("device");
	X509_ATTRIBUTE *attr;
	X509_REQ *x;
	size_t len;
	int n;

	/* a broken self-signature */
	csr = malloc(st->csr_len);
	assert_non_null(csr);
	memcpy(csr, st->csr, st->csr_len);
	csr[st->csr_len - 10] ^= 0x01;
	req.content = csr;
	req.content_len = st->csr_len;
	assert_int_equal(test_verdict(st, &req), SCEP_FAIL_BAD_REQUEST);
	free(csr);

	/* a challengePassword with two values (OpenSSL 3 refuses to make two attributes) */
	assert_int_equal(scep_build_csr(st->req_key, name, NULL, NULL, &x), 0);
	assert_non_null(attr = X509_ATTRIBUTE_create_by_NID(NULL, NID_pkcs9_challengePassword,
							    V_ASN1_UTF8STRING,
							    (const unsigned char *)"one", 3));
	assert_int_equal(X509_ATTRIBUTE_set1_data(attr, V_ASN1_UTF8STRING, "two", 3), 1);
	assert_int_equal(X509_ATTRIBUTE_count(attr), 2);
	assert_int_equal(X509_REQ_add1_attr(x, attr), 1);
	X509_ATTRIBUTE_free(attr);
	assert_true(X509_REQ_sign(x, st->req_key, EVP_sha256()) > 0);
	assert_true((n = i2d_X509_REQ(x, &der)) > 0);
	req.content = der;
	req.content_len = (size_t)n;
	assert_int_equal(test_verdict(st, &req), SCEP_FAIL_BAD_REQUEST);
	X509_REQ_free(x);
	OPENSSL_free(der);
	der = NULL;

	/* a NUL inside it */
	assert_int_equal(scep_build_csr(st->req_key, name, NULL, NULL, &x), 0);
	assert_int_equal(X509_REQ_add1_attr_by_NID(x, NID_pkcs9_challengePassword,
						   V_ASN1_UTF8STRING, (const unsigned char *)"a\0b",
						   3),
			 1);
	assert_true(X509_REQ_sign(x, st->req_key, EVP_sha256()) > 0);
	assert_true((n = i2d_X509_REQ(x, &der)) > 0);
	req.content = der;
	req.content_len = (size_t)n;
	assert_int_equal(test_verdict(st, &req), SCEP_FAIL_BAD_REQUEST);
	X509_REQ_free(x);
	OPENSSL_free(der);
	der = NULL;

	/* UTF8String and BMPString challenges come out as UTF-8 */
	assert_int_equal(scep_build_csr(st->req_key, name, NULL, NULL, &x), 0);
	assert_int_equal(X509_REQ_add1_attr_by_NID(x, NID_pkcs9_challengePassword, V_ASN1_BMPSTRING,
						   (const unsigned char *)"\x00p\x00\xe4\x00s", 6),
			 1);
	assert_true(X509_REQ_sign(x, st->req_key, EVP_sha256()) > 0);
	assert_true((n = i2d_X509_REQ(x, &der)) > 0);
	req.content = der;
	req.content_len = (size_t)n;
	msg = test_parse(st, &req);
	assert_int_equal(msg->fail, SCEP_FAIL_NONE);
	assert_string_equal(msg->challenge, "p\xc3\xa4s");
	scep_msg_free(msg);
	X509_REQ_free(x);
	OPENSSL_free(der);
	der = NULL;

	csr = test_csr(st->req_key, "pässwörd", &len);
	req.content = csr;
	req.content_len = len;
	msg = test_parse(st, &req);
	assert_int_equal(msg->fail, SCEP_FAIL_NONE);
	assert_string_equal(msg->challenge, "pässwörd");
	scep_msg_free(msg);
	OPENSSL_free(csr);
	X509_NAME_free(name);
}

/* Legacy shapes that are safe to read. */
static void
test_legacy(void **state)
{
	struct test_state *st = *state;
	struct scep_build_req req = test_req(st);
	const unsigned char *p;
	struct scep_msg *msg;
	PKCS7_SIGNER_INFO *si;
	unsigned char *der, *a = NULL, *b = NULL;
	int alen, blen;
	size_t len;
	PKCS7 *p7;

	/* signed attributes sent and signed unsorted */
	req.flags = SCEP_BUILD_UNSORTED_ATTRS;
	der = test_build(&req, &len);
	p = der;
	assert_non_null(p7 = d2i_PKCS7(NULL, &p, (long)len));
	si = sk_PKCS7_SIGNER_INFO_value(p7->d.sign->signer_info, 0);
	assert_true(sk_X509_ATTRIBUTE_num(si->auth_attr) >= 2);
	alen = i2d_X509_ATTRIBUTE(sk_X509_ATTRIBUTE_value(si->auth_attr, 0), &a);
	blen = i2d_X509_ATTRIBUTE(sk_X509_ATTRIBUTE_value(si->auth_attr, 1), &b);
	assert_true(memcmp(a, b, (size_t)(alen < blen ? alen : blen)) > 0); /* not DER order */
	OPENSSL_free(a);
	OPENSSL_free(b);
	PKCS7_free(p7);
	assert_int_equal(scep_msg_parse(der, len, &msg), 0);
	assert_int_equal(msg->fail, SCEP_FAIL_NONE);
	assert_int_equal(scep_msg_decrypt(msg, st->ra_cert, st->ra_key), 0);
	assert_true(msg->decrypted);
	scep_msg_free(msg);
	free(der);

	/* the EnvelopedData without its ContentInfo */
	req = test_req(st);
	req.flags = SCEP_BUILD_BARE_ENVELOPE;
	msg = test_parse(st, &req);
	assert_int_equal(msg->fail, SCEP_FAIL_NONE);
	assert_string_equal(msg->challenge, TEST_CHALLENGE);
	scep_msg_free(msg);
}

static void
test_certs_only_and_next_ca(void **state)
{
	struct test_state *st = *state;
	STACK_OF(X509) *certs = sk_X509_new_null(), *got = NULL;
	const unsigned char *p;
	unsigned char *der;
	size_t len;
	PKCS7 *p7;

	assert_int_equal(scep_msg_certs_only(certs, &der, &len), -EINVAL);
	assert_int_equal(sk_X509_push(certs, st->ra_cert), 1);
	assert_int_equal(sk_X509_push(certs, st->leaf), 2);
	assert_int_equal(sk_X509_push(certs, st->ca_cert), 3);
	assert_int_equal(scep_msg_certs_only(certs, &der, &len), 0);
	p = der;
	assert_non_null(p7 = d2i_PKCS7(NULL, &p, (long)len));
	assert_true(PKCS7_type_is_signed(p7));
	assert_null(p7->d.sign->contents->d.ptr); /* degenerate: no content */
	assert_int_equal(sk_PKCS7_SIGNER_INFO_num(p7->d.sign->signer_info), 0);
	assert_int_equal(sk_X509_num(p7->d.sign->cert), 3);
	for (int i = 0; i < 3; i++)
		test_same_cert(sk_X509_value(p7->d.sign->cert, i), sk_X509_value(certs, i));
	PKCS7_free(p7);
	free(der);

	assert_int_equal(scep_msg_next_ca(certs, st->ra_cert, st->ra_key, &der, &len), 0);
	assert_int_equal(scep_build_read_next_ca(der, len, st->ra_cert, &got), 0);
	assert_int_equal(sk_X509_num(got), 3);
	for (int i = 0; i < 3; i++)
		test_same_cert(sk_X509_value(got, i), sk_X509_value(certs, i));
	sk_X509_pop_free(got, X509_free);
	assert_int_equal(scep_build_read_next_ca(der, len, st->other_cert, &got), -EBADMSG);
	ERR_clear_error();
	free(der);
	sk_X509_free(certs);
}

static void
test_contract(void **state)
{
	struct test_state *st = *state;
	struct scep_build_req req = test_req(st);
	unsigned char *der = NULL;
	struct scep_msg *msg;
	size_t len = 0;

	req.type = SCEP_MSG_PKCSREQ;
	der = test_build(&req, &len);
	assert_int_equal(scep_msg_parse(der, len, &msg), 0);
	free(der);
	der = NULL;
	/* SUCCESS needs a decrypted request */
	assert_int_equal(scep_msg_certrep(msg,
					  &(struct scep_certrep){ .status = SCEP_STATUS_SUCCESS,
								  .cert = st->leaf },
					  st->ra_cert, st->ra_key, &der, &len),
			 -EINVAL);
	assert_int_equal(scep_msg_decrypt(msg, st->ra_cert, NULL), -EINVAL);
	assert_int_equal(scep_msg_decrypt(msg, NULL, st->ra_key), -EINVAL);
	assert_int_equal(scep_msg_decrypt(msg, st->ra_cert, st->ra_key), 0);
	assert_int_equal(scep_msg_decrypt(msg, st->ra_cert, st->ra_key), -EINVAL); /* twice */
	assert_int_equal(scep_msg_certrep(msg,
					  &(struct scep_certrep){ .status = SCEP_STATUS_SUCCESS },
					  st->ra_cert, st->ra_key, &der, &len),
			 -EINVAL);
	assert_int_equal(scep_msg_certrep(msg,
					  &(struct scep_certrep){ .status = SCEP_STATUS_FAILURE,
								  .fail = SCEP_FAIL_NONE },
					  st->ra_cert, st->ra_key, &der, &len),
			 -EINVAL);
	assert_int_equal(scep_msg_certrep(msg, &(struct scep_certrep){ .status = 1 }, st->ra_cert,
					  st->ra_key, &der, &len),
			 -EINVAL);
	/* an RA key that is not the RA certificate's */
	assert_int_equal(scep_msg_certrep(msg,
					  &(struct scep_certrep){ .status = SCEP_STATUS_PENDING },
					  st->ra_cert, st->other_key, &der, &len),
			 -EIO);
	assert_null(der);
	ERR_clear_error();
	scep_msg_free(msg);
	scep_msg_free(NULL);
}

static void
test_names(void **state)
{
	(void)state;
	for (int f = 0; f < SCEP_FAIL_MAX; f++)
		assert_non_null(scep_msg_fail_name(f));
	assert_string_equal(scep_msg_fail_name(SCEP_FAIL_BAD_ALG), "badAlg");
	assert_string_equal(scep_msg_fail_name(SCEP_FAIL_BAD_MESSAGE_CHECK), "badMessageCheck");
	assert_string_equal(scep_msg_fail_name(SCEP_FAIL_BAD_CERT_ID), "badCertId");
	assert_null(scep_msg_fail_name(SCEP_FAIL_NONE));
	assert_null(scep_msg_fail_name(SCEP_FAIL_MAX));
	for (int c = 0; c < SCEP_CIPHER_MAX; c++)
		assert_non_null(scep_msg_cipher_name(c));
	assert_null(scep_msg_cipher_name(SCEP_CIPHER_MAX));
	for (int d = 0; d < SCEP_DIGEST_MAX; d++)
		assert_non_null(scep_msg_digest_name(d));
	assert_null(scep_msg_digest_name(SCEP_DIGEST_MAX));
	for (int t = -1; t <= 256; t++)
		assert_true((scep_msg_type_name(t) != NULL) ==
			    (t == 3 || t == 17 || (t >= 19 && t <= 22)));
	assert_string_equal(scep_msg_type_name(SCEP_MSG_CERTPOLL), "CertPoll");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_leaf_first),
		cmocka_unit_test(test_failure_and_pending),
		cmocka_unit_test(test_certpoll_getcert_getcrl),
		cmocka_unit_test(test_renewal),
		cmocka_unit_test(test_ec_requester),
		cmocka_unit_test(test_bad_signature),
		cmocka_unit_test(test_digests),
		cmocka_unit_test(test_recipients),
		cmocka_unit_test(test_envelope_uniform),
		cmocka_unit_test(test_message_types),
		cmocka_unit_test(test_not_pkimessage),
		cmocka_unit_test(test_bad_requests),
		cmocka_unit_test(test_legacy),
		cmocka_unit_test(test_certs_only_and_next_ca),
		cmocka_unit_test(test_contract),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, test_setup, test_teardown);
}
