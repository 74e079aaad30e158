/*
 * test_ocsp_resp.c - the OCSP responder core against OpenSSL's client side: requests
 * made with OCSP_REQUEST_new()/OCSP_cert_id_new(), answers checked with
 * OCSP_basic_verify() and OCSP_resp_find_status(), as `openssl ocsp` checks them.
 *
 * Every key and certificate is made here (testlib.h): our CA (EC P-256), a CA of the
 * same name with another key, delegated responders (RSA, Ed25519) with
 * extendedKeyUsage OCSPSigning and id-pkix-ocsp-nocheck. The lookup answers from a
 * table. Links scepd_codec and testlib (libcrypto) alone.
 */
#include "scepd/ocsp_resp.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include "testlib.h"

#define TEST_REVOKED_AT 1700000000 /* 2023-11-14 22:13:20 UTC */

struct test_state {
	EVP_PKEY *ca_key, *other_key, *rsa_key, *ed_key;
	X509 *ca, *other_ca, *rsa_signer, *ed_signer;
	int lookups;
};

/* The store as the lookup sees it. */
static const struct {
	const char *serial;
	struct ocsp_resp_status status;
	int r;
} test_serials[] = {
	{ "1001", { OCSP_RESP_CERT_GOOD, 0, -1 }, 0 },
	{ "1002", { OCSP_RESP_CERT_REVOKED, TEST_REVOKED_AT, 1 /* keyCompromise */ }, 0 },
	{ "1003", { OCSP_RESP_CERT_REVOKED, TEST_REVOKED_AT, -1 }, 0 },
	{ "1004", { OCSP_RESP_CERT_REVOKED, TEST_REVOKED_AT, 7 /* not a reason */ }, 0 },
	{ "1005", { OCSP_RESP_CERT_UNKNOWN, 0, -1 }, 0 },
	{ "ABCDEF0123456789ABCDEF0123456789ABCDEF01", { OCSP_RESP_CERT_GOOD, 0, -1 }, 0 },
	{ "DEAD", { OCSP_RESP_CERT_GOOD, 0, -1 }, -EIO },
	{ "BAD5", { (enum ocsp_resp_cert_status)42, 0, -1 }, 0 }, /* a bug of the lookup's */
};

static int
test_lookup(const char *serial_hex, struct ocsp_resp_status *ret, void *userdata)
{
	struct test_state *s = userdata;

	s->lookups++;
	for (size_t i = 0; i < sizeof(test_serials) / sizeof(test_serials[0]); i++)
		if (strcmp(serial_hex, test_serials[i].serial) == 0) {
			if (test_serials[i].r < 0)
				return test_serials[i].r;
			*ret = test_serials[i].status;
			return 0;
		}
	ret->status = OCSP_RESP_CERT_UNKNOWN;
	return 0;
}

static void
test_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509_EXTENSION *ext;
	X509V3_CTX ctx;

	X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
	assert_non_null(ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value));
	assert_int_equal(X509_add_ext(cert, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

/* A delegated responder's certificate: made by testlib, the OCSP extensions added, signed again. */
static X509 *
test_signer_cert(EVP_PKEY *key, const char *subject, X509 *ca, EVP_PKEY *ca_key)
{
	X509 *cert = testlib_cert_make(&(struct testlib_cert){
		.key = key,
		.subject = subject,
		.issuer = ca,
		.issuer_key = ca_key,
		.serial = 77,
		.not_before = -3600,
		.not_after = 86400,
		.basic_constraints = "CA:FALSE",
		.key_usage = "critical,digitalSignature",
		.subject_key_id = true,
	});

	test_add_ext(cert, ca, NID_ext_key_usage, "OCSPSigning");
	test_add_ext(cert, ca, NID_id_pkix_OCSP_noCheck, "ignored");
	assert_true(X509_sign(cert, ca_key, EVP_sha256()) > 0);
	return cert;
}

static X509 *
test_ca_cert(EVP_PKEY *key)
{
	return testlib_cert_make(&(struct testlib_cert){
		.key = key,
		.subject = "/O=scepd tests/CN=OCSP test CA",
		.serial = 1,
		.not_before = -3600,
		.not_after = 86400,
		.basic_constraints = "critical,CA:TRUE",
		.key_usage = "critical,keyCertSign,cRLSign",
		.subject_key_id = true,
	});
}

static int
test_setup(void **state)
{
	struct test_state *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	s->ca_key = testlib_ec_key("P-256");
	s->other_key = testlib_ec_key("P-256");
	s->rsa_key = testlib_rsa_key(2048);
	assert_non_null(s->ed_key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
	s->ca = test_ca_cert(s->ca_key);
	s->other_ca = test_ca_cert(s->other_key); /* the same name, another key */
	s->rsa_signer =
		test_signer_cert(s->rsa_key, "/O=scepd tests/CN=OCSP RSA", s->ca, s->ca_key);
	s->ed_signer =
		test_signer_cert(s->ed_key, "/O=scepd tests/CN=OCSP Ed25519", s->ca, s->ca_key);
	*state = s;
	return 0;
}

static int
test_teardown(void **state)
{
	struct test_state *s = *state;

	X509_free(s->ca);
	X509_free(s->other_ca);
	X509_free(s->rsa_signer);
	X509_free(s->ed_signer);
	EVP_PKEY_free(s->ca_key);
	EVP_PKEY_free(s->other_key);
	EVP_PKEY_free(s->rsa_key);
	EVP_PKEY_free(s->ed_key);
	free(s);
	return 0;
}

/* The CertID of serial (hex) issued by issuer, hashed with md. */
static OCSP_CERTID *
test_id(const EVP_MD *md, X509 *issuer, const char *serial_hex)
{
	ASN1_INTEGER *serial;
	OCSP_CERTID *id;
	BIGNUM *bn = NULL;

	assert_true(BN_hex2bn(&bn, serial_hex) > 0);
	assert_non_null(serial = BN_to_ASN1_INTEGER(bn, NULL));
	assert_non_null(id = OCSP_cert_id_new(md, X509_get_subject_name(issuer),
					      X509_get0_pubkey_bitstr(issuer), serial));
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	return id;
}

static void
test_add_id(OCSP_REQUEST *req, OCSP_CERTID *id)
{
	assert_non_null(OCSP_request_add0_id(req, id));
}

static unsigned char *
test_req_der(OCSP_REQUEST *req, size_t *ret_len)
{
	unsigned char *der = NULL;
	int n;

	assert_true((n = i2d_OCSP_REQUEST(req, &der)) > 0);
	*ret_len = (size_t)n;
	return der;
}

static struct ocsp_resp_params
test_params(struct test_state *s, long next_update_secs)
{
	return (struct ocsp_resp_params){
		.ca = s->ca,
		.next_update_secs = next_update_secs,
		.lookup = test_lookup,
		.userdata = s,
	};
}

/* The answer to der (prepare, then sign), decoded. */
static OCSP_RESPONSE *
test_answer_der(struct test_state *s, const unsigned char *der, size_t len, X509 *signer,
		EVP_PKEY *key, long next_update_secs)
{
	struct ocsp_resp_params params = test_params(s, next_update_secs);
	struct ocsp_resp_prep *prep = NULL;
	unsigned char *out = NULL;
	const unsigned char *p;
	OCSP_RESPONSE *resp;
	size_t out_len = 0;

	assert_int_equal(0, ocsp_resp_prepare(&params, der, len, &prep));
	assert_non_null(prep);
	assert_int_equal(0, ocsp_resp_sign(prep, signer, key, &out, &out_len));
	p = out;
	assert_non_null(resp = d2i_OCSP_RESPONSE(NULL, &p, (long)out_len));
	assert_ptr_equal(p, out + out_len);
	assert_int_equal(OCSP_response_status(resp), ocsp_resp_prep_status(prep));
	ocsp_resp_prep_free(prep);
	free(out);
	return resp;
}

static OCSP_RESPONSE *
test_answer(struct test_state *s, OCSP_REQUEST *req, X509 *signer, EVP_PKEY *key)
{
	OCSP_RESPONSE *resp;
	unsigned char *der;
	size_t len;

	der = test_req_der(req, &len);
	resp = test_answer_der(s, der, len, signer, key, 3600);
	OPENSSL_free(der);
	return resp;
}

/*
 * A successful answer's BasicOCSPResponse, verified as a client verifies it; flags
 * OCSP_NOCHECKS when it answers for other issuers too (OpenSSL then refuses it, as
 * the signer is not authorized for all).
 */
static OCSP_BASICRESP *
test_verified_flags(struct test_state *s, OCSP_RESPONSE *resp, X509 *signer, unsigned long flags)
{
	STACK_OF(X509) *certs;
	const ASN1_OCTET_STRING *key_hash = NULL;
	const X509_NAME *name = NULL;
	unsigned char sha1[SHA_DIGEST_LENGTH];
	const ASN1_BIT_STRING *pub = X509_get0_pubkey_bitstr(signer);
	OCSP_BASICRESP *bs;
	X509_STORE *store;

	assert_int_equal(OCSP_RESPONSE_STATUS_SUCCESSFUL, OCSP_response_status(resp));
	assert_non_null(bs = OCSP_response_get1_basic(resp));
	assert_non_null(store = X509_STORE_new());
	assert_int_equal(1, X509_STORE_add_cert(store, s->ca));
	/* The signer's certificate is sent, the CA's too when it signs: no other is needed. */
	assert_int_equal(1, sk_X509_num(OCSP_resp_get0_certs(bs)));
	assert_int_equal(0, X509_cmp(signer, sk_X509_value(OCSP_resp_get0_certs(bs), 0)));
	assert_non_null(certs = sk_X509_new_null());
	assert_int_equal(1, OCSP_basic_verify(bs, certs, store, flags));
	sk_X509_free(certs);
	X509_STORE_free(store);
	/* responderID byKey: the SHA-1 of the signer's public key. */
	assert_int_equal(1, OCSP_resp_get0_id(bs, &key_hash, &name));
	assert_null(name);
	assert_non_null(key_hash);
	assert_int_equal(1, EVP_Digest(ASN1_STRING_get0_data(pub), (size_t)ASN1_STRING_length(pub),
				       sha1, NULL, EVP_sha1(), NULL));
	assert_int_equal(sizeof(sha1), ASN1_STRING_length(key_hash));
	assert_memory_equal(sha1, ASN1_STRING_get0_data(key_hash), sizeof(sha1));
	return bs;
}

static OCSP_BASICRESP *
test_verified(struct test_state *s, OCSP_RESPONSE *resp, X509 *signer)
{
	return test_verified_flags(s, resp, signer, 0);
}

struct test_expect {
	int status; /* V_OCSP_CERTSTATUS_* */
	int reason; /* OCSP_REVOKED_STATUS_NOSTATUS for none */
	bool next;  /* nextUpdate present */
};

static void
test_status(OCSP_BASICRESP *bs, OCSP_CERTID *id, const struct test_expect *want)
{
	ASN1_GENERALIZEDTIME *rev = NULL, *this_update = NULL, *next_update = NULL;
	int status = -1, reason = -2;

	assert_int_equal(1, OCSP_resp_find_status(bs, id, &status, &reason, &rev, &this_update,
						  &next_update));
	assert_int_equal(want->status, status);
	assert_non_null(this_update);
	assert_int_equal(want->next, next_update != NULL);
	assert_int_equal(1, OCSP_check_validity(this_update, next_update, 5, -1));
	if (status == V_OCSP_CERTSTATUS_REVOKED) {
		assert_non_null(rev);
		assert_int_equal(0, ASN1_TIME_cmp_time_t(rev, TEST_REVOKED_AT));
		assert_int_equal(want->reason, reason);
	} else {
		assert_null(rev);
	}
}

/* Each signer, each status, the nonce echoed, the signature SHA-256. */
static void
test_signers(void **state)
{
	struct test_state *s = *state;
	const struct {
		X509 *signer;
		EVP_PKEY *key;
		int sig_nid;
	} signers[] = {
		{ s->ca, s->ca_key, NID_ecdsa_with_SHA256 },
		{ s->rsa_signer, s->rsa_key, NID_sha256WithRSAEncryption },
		{ s->ed_signer, s->ed_key, NID_ED25519 },
	};
	static const struct {
		const char *serial;
		struct test_expect want;
	} cases[] = {
		{ "1001", { V_OCSP_CERTSTATUS_GOOD, OCSP_REVOKED_STATUS_NOSTATUS, true } },
		{ "1002", { V_OCSP_CERTSTATUS_REVOKED, OCSP_REVOKED_STATUS_KEYCOMPROMISE, true } },
		{ "1003", { V_OCSP_CERTSTATUS_REVOKED, OCSP_REVOKED_STATUS_NOSTATUS, true } },
		{ "1004", { V_OCSP_CERTSTATUS_REVOKED, OCSP_REVOKED_STATUS_NOSTATUS, true } },
		{ "1005", { V_OCSP_CERTSTATUS_UNKNOWN, OCSP_REVOKED_STATUS_NOSTATUS, true } },
		{ "9999", { V_OCSP_CERTSTATUS_UNKNOWN, OCSP_REVOKED_STATUS_NOSTATUS, true } },
		/* Leading zeros are not the store's form: the lookup sees "1001". */
		{ "00001001", { V_OCSP_CERTSTATUS_GOOD, OCSP_REVOKED_STATUS_NOSTATUS, true } },
		{ "abcdef0123456789abcdef0123456789abcdef01",
		  { V_OCSP_CERTSTATUS_GOOD, OCSP_REVOKED_STATUS_NOSTATUS, true } },
	};

	for (size_t i = 0; i < sizeof(signers) / sizeof(signers[0]); i++)
		for (size_t j = 0; j < sizeof(cases) / sizeof(cases[0]); j++) {
			OCSP_REQUEST *req = OCSP_REQUEST_new();
			OCSP_CERTID *id = test_id(EVP_sha1(), s->ca, cases[j].serial);
			OCSP_RESPONSE *resp;
			OCSP_BASICRESP *bs;

			assert_non_null(req);
			test_add_id(req, OCSP_CERTID_dup(id));
			assert_int_equal(1, OCSP_request_add1_nonce(req, NULL, -1));
			resp = test_answer(s, req, signers[i].signer, signers[i].key);
			bs = test_verified(s, resp, signers[i].signer);
			assert_int_equal(signers[i].sig_nid,
					 OBJ_obj2nid(OCSP_resp_get0_tbs_sigalg(bs)->algorithm));
			assert_int_equal(1, OCSP_check_nonce(req, bs));
			assert_int_equal(1, OCSP_resp_count(bs));
			test_status(bs, id, &cases[j].want);
			OCSP_BASICRESP_free(bs);
			OCSP_RESPONSE_free(resp);
			OCSP_CERTID_free(id);
			OCSP_REQUEST_free(req);
		}
}

/*
 * Every CertID answered, in order: ours by SHA-1 and SHA-256, foreign ones unknown
 * without a lookup. Once ours alone, then all of them.
 */
static void
test_multi(void **state)
{
	struct test_state *s = *state;
	const struct {
		const EVP_MD *md;
		X509 *issuer;
		const char *serial;
		struct test_expect want;
		bool ours;
	} ids[] = {
		{ EVP_sha1(), s->ca, "1001", { V_OCSP_CERTSTATUS_GOOD, -1, false }, true },
		{ EVP_sha256(), s->ca, "1002", { V_OCSP_CERTSTATUS_REVOKED, 1, false }, true },
		{ EVP_sha256(), s->ca, "1001", { V_OCSP_CERTSTATUS_GOOD, -1, false }, true },
		/* Another CA's key under our CA's name: not ours. */
		{ EVP_sha1(),
		  s->other_ca,
		  "1001",
		  { V_OCSP_CERTSTATUS_UNKNOWN, -1, false },
		  false },
		{ EVP_sha256(),
		  s->other_ca,
		  "1002",
		  { V_OCSP_CERTSTATUS_UNKNOWN, -1, false },
		  false },
		/* A hash we do not compare. */
		{ EVP_sha384(), s->ca, "1001", { V_OCSP_CERTSTATUS_UNKNOWN, -1, false }, false },
		{ EVP_sha1(),
		  s->rsa_signer,
		  "1001",
		  { V_OCSP_CERTSTATUS_UNKNOWN, -1, false },
		  false },
		/* Longer than 20 octets: no certificate of ours (not looked up). */
		{ EVP_sha1(),
		  s->ca,
		  "ABCDEF0123456789ABCDEF0123456789ABCDEF0123",
		  { V_OCSP_CERTSTATUS_UNKNOWN, -1, false },
		  false },
		{ EVP_sha1(), s->ca, "1005", { V_OCSP_CERTSTATUS_UNKNOWN, -1, false }, true },
		{ EVP_sha1(), s->ca, "1003", { V_OCSP_CERTSTATUS_REVOKED, -1, false }, true },
	};
	const size_t n_ids = sizeof(ids) / sizeof(ids[0]);

	for (int all = 0; all < 2; all++) {
		OCSP_CERTID *want_ids[sizeof(ids) / sizeof(ids[0])];
		size_t want_idx[sizeof(ids) / sizeof(ids[0])];
		OCSP_REQUEST *req = OCSP_REQUEST_new();
		OCSP_RESPONSE *resp;
		OCSP_BASICRESP *bs;
		unsigned char *der;
		int lookups = 0, n = 0;
		size_t len;

		assert_non_null(req);
		for (size_t i = 0; i < n_ids; i++) {
			if (!all && !ids[i].ours)
				continue;
			want_ids[n] = test_id(ids[i].md, ids[i].issuer, ids[i].serial);
			want_idx[n++] = i;
			test_add_id(req, OCSP_CERTID_dup(want_ids[n - 1]));
			lookups += ids[i].ours;
		}
		der = test_req_der(req, &len);
		s->lookups = 0;
		resp = test_answer_der(s, der, len, s->ca, s->ca_key, 0);
		assert_int_equal(lookups, s->lookups);
		bs = test_verified_flags(s, resp, s->ca, all ? OCSP_NOCHECKS : 0);
		/* No nonce asked, none sent. */
		assert_int_equal(2, OCSP_check_nonce(req, bs));
		assert_int_equal(n, OCSP_resp_count(bs));
		for (int i = 0; i < n; i++) {
			const OCSP_CERTID *got = OCSP_SINGLERESP_get0_id(OCSP_resp_get0(bs, i));

			assert_int_equal(0, OCSP_id_cmp(want_ids[i], got));
			test_status(bs, want_ids[i], &ids[want_idx[i]].want);
			OCSP_CERTID_free(want_ids[i]);
		}
		OCSP_BASICRESP_free(bs);
		OCSP_RESPONSE_free(resp);
		OPENSSL_free(der);
		OCSP_REQUEST_free(req);
	}
}

/* nextUpdate is thisUpdate + next_update_secs. */
static void
test_next_update(void **state)
{
	struct test_state *s = *state;
	ASN1_GENERALIZEDTIME *this_update = NULL, *next_update = NULL;
	OCSP_CERTID *id = test_id(EVP_sha1(), s->ca, "1001");
	OCSP_REQUEST *req = OCSP_REQUEST_new();
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *bs;
	unsigned char *der;
	int days = -1, secs = -1, status;
	size_t len;

	test_add_id(req, OCSP_CERTID_dup(id));
	der = test_req_der(req, &len);
	resp = test_answer_der(s, der, len, s->ca, s->ca_key, 86400 + 90);
	bs = test_verified(s, resp, s->ca);
	assert_int_equal(
		1, OCSP_resp_find_status(bs, id, &status, NULL, NULL, &this_update, &next_update));
	assert_int_equal(1, ASN1_TIME_diff(&days, &secs, this_update, next_update));
	assert_int_equal(1, days);
	assert_int_equal(90, secs);
	assert_int_equal(1, ASN1_TIME_cmp_time_t(next_update, time(NULL) + 86400));
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	OCSP_CERTID_free(id);
}

/* The responseStatus of the answer to der, which must not need a key. */
static int
test_refusal(struct test_state *s, const unsigned char *der, size_t len)
{
	OCSP_RESPONSE *resp = test_answer_der(s, der, len, NULL, NULL, 3600);
	int status = OCSP_response_status(resp);

	assert_null(OCSP_response_get1_basic(resp));
	OCSP_RESPONSE_free(resp);
	return status;
}

static int
test_refusal_req(struct test_state *s, OCSP_REQUEST *req)
{
	unsigned char *der;
	size_t len;
	int status;

	der = test_req_der(req, &len);
	status = test_refusal(s, der, len);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	return status;
}

static OCSP_REQUEST *
test_req_n(struct test_state *s, int n)
{
	OCSP_REQUEST *req = OCSP_REQUEST_new();

	assert_non_null(req);
	for (int i = 0; i < n; i++)
		test_add_id(req, test_id(EVP_sha1(), s->ca, "1001"));
	return req;
}

/* A request with a nonce extension of extnValue value, answered with status, the nonce echoed. */
static void
test_nonce_ext(struct test_state *s, const unsigned char *value, int len, int status)
{
	OCSP_REQUEST *req = test_req_n(s, 1);
	ASN1_OCTET_STRING *os;
	X509_EXTENSION *ext;
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *bs;

	assert_non_null(os = ASN1_OCTET_STRING_new());
	assert_int_equal(1, ASN1_OCTET_STRING_set(os, value, len));
	assert_non_null(ext = X509_EXTENSION_create_by_NID(NULL, NID_id_pkix_OCSP_Nonce, 0, os));
	assert_int_equal(1, OCSP_REQUEST_add_ext(req, ext, -1));
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(os);
	if (status != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
		assert_int_equal(status, test_refusal_req(s, req));
		return;
	}
	resp = test_answer(s, req, s->ca, s->ca_key);
	bs = test_verified(s, resp, s->ca);
	assert_int_equal(1, OCSP_check_nonce(req, bs));
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	OCSP_REQUEST_free(req);
}

/* Bytes that are no request, and requests we refuse: malformedRequest, tryLater. */
static void
test_malformed(void **state)
{
	struct test_state *s = *state;
	static const unsigned char garbage[] = "\x30\x03\x02\x01";
	unsigned char nonce[OCSP_RESP_NONCE_MAX + 1] = { 0 };
	unsigned char *der, *longer;
	OCSP_REQUEST *req;
	size_t len;

	assert_int_equal(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, test_refusal(s, NULL, 0));
	assert_int_equal(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
			 test_refusal(s, (const unsigned char *)"", 0));
	assert_int_equal(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
			 test_refusal(s, (const unsigned char *)"not DER", 7));
	assert_int_equal(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
			 test_refusal(s, garbage, sizeof(garbage) - 1));
	/* A good request, cut short, and with a byte after it. */
	req = test_req_n(s, 2);
	der = test_req_der(req, &len);
	for (size_t cut = 1; cut < len; cut += 7)
		assert_int_equal(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
				 test_refusal(s, der, len - cut));
	assert_non_null(longer = malloc(len + 1));
	memcpy(longer, der, len);
	longer[len] = 0;
	assert_int_equal(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, test_refusal(s, longer, len + 1));
	free(longer);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	/* No CertID; too many. */
	assert_int_equal(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
			 test_refusal_req(s, test_req_n(s, 0)));
	assert_int_equal(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
			 test_refusal_req(s, test_req_n(s, OCSP_RESP_MAX_IDS + 1)));
	/* Nonces of 33 octets, of none, and two nonce extensions (RFC 8954 2.1). */
	req = test_req_n(s, 1);
	assert_int_equal(1, OCSP_request_add1_nonce(req, nonce, sizeof(nonce)));
	assert_int_equal(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, test_refusal_req(s, req));
	test_nonce_ext(s, (const unsigned char *)"\x04\x00", 2,
		       OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	test_nonce_ext(s, (const unsigned char *)"", 0, OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	test_nonce_ext(s, nonce, sizeof(nonce), OCSP_RESPONSE_STATUS_MALFORMEDREQUEST);
	/* Not DER of an OCTET STRING: the nonce is the whole value, as old clients sent it. */
	test_nonce_ext(s, nonce, 16, OCSP_RESPONSE_STATUS_SUCCESSFUL);
	test_nonce_ext(s, nonce, OCSP_RESP_NONCE_MAX, OCSP_RESPONSE_STATUS_SUCCESSFUL);
	/* OCSP_request_add1_nonce() replaces the nonce: the second added as it is. */
	req = test_req_n(s, 1);
	assert_int_equal(1, OCSP_request_add1_nonce(req, NULL, -1));
	assert_int_equal(1, OCSP_REQUEST_add_ext(req, OCSP_REQUEST_get_ext(req, 0), -1));
	assert_int_equal(2, OCSP_REQUEST_get_ext_count(req));
	assert_int_equal(OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, test_refusal_req(s, req));
	/* The lookup fails for one of them: tryLater for all. */
	req = test_req_n(s, 2);
	test_add_id(req, test_id(EVP_sha256(), s->ca, "DEAD"));
	assert_int_equal(OCSP_RESPONSE_STATUS_TRYLATER, test_refusal_req(s, req));
	/* A status the lookup should not answer: tryLater too, never "good". */
	req = test_req_n(s, 1);
	test_add_id(req, test_id(EVP_sha1(), s->ca, "BAD5"));
	assert_int_equal(OCSP_RESPONSE_STATUS_TRYLATER, test_refusal_req(s, req));
}

/* The limits are inclusive: 64 CertIDs and a nonce of 1 and of 32 octets are answered. */
static void
test_limits(void **state)
{
	struct test_state *s = *state;
	unsigned char nonce[OCSP_RESP_NONCE_MAX] = { 1 };
	const size_t lens[] = { 1, OCSP_RESP_NONCE_MAX };
	OCSP_REQUEST *req = test_req_n(s, OCSP_RESP_MAX_IDS);
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *bs;

	resp = test_answer(s, req, s->ca, s->ca_key);
	bs = test_verified(s, resp, s->ca);
	assert_int_equal(OCSP_RESP_MAX_IDS, OCSP_resp_count(bs));
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	OCSP_REQUEST_free(req);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		req = test_req_n(s, 1);
		assert_int_equal(1, OCSP_request_add1_nonce(req, nonce, (int)lens[i]));
		resp = test_answer(s, req, s->rsa_signer, s->rsa_key);
		bs = test_verified(s, resp, s->rsa_signer);
		assert_int_equal(1, OCSP_check_nonce(req, bs));
		OCSP_BASICRESP_free(bs);
		OCSP_RESPONSE_free(resp);
		OCSP_REQUEST_free(req);
	}
}

/* A key that is not the signer's does not sign: -EIO, and the caller answers internalError. */
static void
test_sign_errors(void **state)
{
	struct test_state *s = *state;
	struct ocsp_resp_params params = test_params(s, 0);
	struct ocsp_resp_prep *prep = NULL;
	OCSP_REQUEST *req = test_req_n(s, 1);
	unsigned char *der, *out = (unsigned char *)"untouched";
	size_t len, out_len = 42;

	der = test_req_der(req, &len);
	assert_int_equal(0, ocsp_resp_prepare(&params, der, len, &prep));
	assert_int_equal(OCSP_RESPONSE_STATUS_SUCCESSFUL, ocsp_resp_prep_status(prep));
	assert_int_equal(-EIO, ocsp_resp_sign(prep, s->rsa_signer, s->other_key, &out, &out_len));
	assert_int_equal(-EINVAL, ocsp_resp_sign(prep, NULL, s->ca_key, &out, &out_len));
	assert_int_equal(-EINVAL, ocsp_resp_sign(prep, s->ca, NULL, &out, &out_len));
	assert_string_equal("untouched", (char *)out);
	assert_int_equal(42, out_len);
	ocsp_resp_prep_free(prep);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
	ocsp_resp_prep_free(NULL);
}

/* Every responseStatus as an unsigned answer; SUCCESSFUL and unknown ones are not errors. */
static void
test_error_statuses(void **state)
{
	static const struct {
		int status, r;
	} cases[] = {
		{ OCSP_RESPONSE_STATUS_MALFORMEDREQUEST, 0 },
		{ OCSP_RESPONSE_STATUS_INTERNALERROR, 0 },
		{ OCSP_RESPONSE_STATUS_TRYLATER, 0 },
		{ OCSP_RESPONSE_STATUS_SIGREQUIRED, 0 },
		{ OCSP_RESPONSE_STATUS_UNAUTHORIZED, 0 },
		{ OCSP_RESPONSE_STATUS_SUCCESSFUL, -EINVAL },
		{ 4, -EINVAL }, /* not used by RFC 6960 */
		{ 7, -EINVAL },
		{ -1, -EINVAL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char *der = NULL;
		const unsigned char *p;
		OCSP_RESPONSE *resp;
		size_t len = 0;

		assert_int_equal(cases[i].r, ocsp_resp_error(cases[i].status, &der, &len));
		if (cases[i].r < 0) {
			assert_null(der);
			continue;
		}
		p = der;
		assert_non_null(resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len));
		assert_int_equal(cases[i].status, OCSP_response_status(resp));
		assert_null(OCSP_response_get1_basic(resp));
		OCSP_RESPONSE_free(resp);
		free(der);
	}
}

/* RFC 6960 A.1: the URL-encoded base64 of a GET. */
static void
test_decode_get(void **state)
{
	static const unsigned char plus_slash[] = { 0xfb, 0xff, 0xbf }; /* "+/+/" */
	static const unsigned char pad2[] = { 0xfb, 0xff, 0xbf, 0x41 }; /* "+/+/QQ==" */
	static const struct {
		const char *path;
		const unsigned char *want;
		size_t want_len;
	} ok[] = {
		{ "+/+/", plus_slash, sizeof(plus_slash) },
		{ "%2B%2F%2B%2F", plus_slash, sizeof(plus_slash) },
		{ "%2b%2f%2b%2f", plus_slash, sizeof(plus_slash) },
		{ " / /", plus_slash, sizeof(plus_slash) }, /* '+' unescaped, made a space */
		{ "%20%2F+/", plus_slash, sizeof(plus_slash) },
		{ "+/+/QQ==", pad2, sizeof(pad2) },
		{ "+/+/QQ%3D%3D", pad2, sizeof(pad2) },
		{ "%2B/%2b/QQ%3d=", pad2, sizeof(pad2) },
		{ "+/+/QQ", pad2, sizeof(pad2) }, /* the padding left out */
	};
	static const char *bad[] = {
		"",       "%",       "%2",       "%2G",     "%G2",          "+/+/%",
		"+/+/%0", "%00+/+/", "+/+/\n",   "+/+/%0A", "+/+/QQ=",      "+/+/Q",
		"====",   "+/-_",    "+/+/?x=1", "+/+/#",   "+/+/QQ==+/+/",
	};
	unsigned char *der = NULL;
	size_t len = 0;
	char *huge;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(0, ocsp_resp_decode_get(ok[i].path, &der, &len));
		assert_int_equal(ok[i].want_len, len);
		assert_memory_equal(ok[i].want, der, len);
		free(der);
		der = NULL;
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (ocsp_resp_decode_get(bad[i], &der, &len) != -EBADMSG)
			fail_msg("\"%s\" decoded", bad[i]);
		assert_null(der);
	}
	/* OCSP_RESP_GET_MAX characters are read, one more is refused. */
	assert_non_null(huge = malloc(OCSP_RESP_GET_MAX + 2));
	memset(huge, 'A', OCSP_RESP_GET_MAX + 1);
	huge[OCSP_RESP_GET_MAX] = '\0';
	assert_int_equal(0, ocsp_resp_decode_get(huge, &der, &len));
	assert_int_equal(OCSP_RESP_GET_MAX / 4 * 3, len);
	free(der);
	der = NULL;
	huge[OCSP_RESP_GET_MAX] = 'A';
	huge[OCSP_RESP_GET_MAX + 1] = '\0';
	assert_int_equal(-EBADMSG, ocsp_resp_decode_get(huge, &der, &len));
	assert_null(der);
	free(huge);
}

/* A real request through GET: every '+', '/' and '=' escaped, or none. */
static void
test_get_request(void **state)
{
	struct test_state *s = *state;
	OCSP_REQUEST *req = test_req_n(s, 3);
	unsigned char *der, *got = NULL;
	char *b64, *escaped;
	size_t len, got_len = 0, n = 0;
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *bs;

	assert_int_equal(1, OCSP_request_add1_nonce(req, NULL, -1));
	der = test_req_der(req, &len);
	assert_non_null(b64 = malloc(len / 3 * 4 + 5));
	assert_true(EVP_EncodeBlock((unsigned char *)b64, der, (int)len) > 0);
	assert_non_null(escaped = malloc(strlen(b64) * 3 + 1));
	for (const char *p = b64; *p != '\0'; p++)
		if (*p == '+' || *p == '/' || *p == '=')
			n += (size_t)sprintf(escaped + n, "%%%02X", (unsigned char)*p);
		else
			escaped[n++] = *p;
	escaped[n] = '\0';
	for (int i = 0; i < 2; i++) {
		assert_int_equal(0, ocsp_resp_decode_get(i == 0 ? b64 : escaped, &got, &got_len));
		assert_int_equal(len, got_len);
		assert_memory_equal(der, got, len);
		resp = test_answer_der(s, got, got_len, s->ca, s->ca_key, 3600);
		bs = test_verified(s, resp, s->ca);
		assert_int_equal(1, OCSP_check_nonce(req, bs));
		assert_int_equal(3, OCSP_resp_count(bs));
		OCSP_BASICRESP_free(bs);
		OCSP_RESPONSE_free(resp);
		free(got);
	}
	free(escaped);
	free(b64);
	OPENSSL_free(der);
	OCSP_REQUEST_free(req);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signers),        cmocka_unit_test(test_multi),
		cmocka_unit_test(test_next_update),    cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limits),         cmocka_unit_test(test_sign_errors),
		cmocka_unit_test(test_error_statuses), cmocka_unit_test(test_decode_get),
		cmocka_unit_test(test_get_request),
	};

	return cmocka_run_group_tests(tests, test_setup, test_teardown);
}
