/*
 * test_crl.c - crl_build() and crl_sign(): what a relying party checks of a CRL.
 *
 * Keys and certificates are made here (testlib.h). Every list is signed, encoded and
 * decoded again, then read the way a verifier reads it: the signature against the
 * CA's key, cRLNumber, authorityKeyIdentifier, the entries, and X509_verify_cert()
 * with CRL checking on, which refuses the revoked certificate and accepts another.
 */
#include "scepd/crl.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "testlib.h"

struct test_ca {
	EVP_PKEY *key;
	X509 *cert;
	EVP_PKEY *leaf_key;
	X509 *revoked; /* serial 0x1A2B */
	X509 *valid;   /* serial 0x1A2C */
};

static void
test_ca_make(struct test_ca *t, EVP_PKEY *key, bool ski)
{
	t->key = key;
	t->cert = testlib_cert_make(&(struct testlib_cert){
		.key = key,
		.subject = "CN=crl test CA",
		.serial = 1,
		.not_before = -60,
		.not_after = 86400,
		.basic_constraints = "critical,CA:TRUE",
		.key_usage = "critical,keyCertSign,cRLSign",
		.subject_key_id = ski,
	});
	t->leaf_key = testlib_ec_key("P-256");
	t->revoked = testlib_cert_make(&(struct testlib_cert){ .key = t->leaf_key,
							       .subject = "CN=lost phone",
							       .issuer = t->cert,
							       .issuer_key = key,
							       .serial = 0x1A2B,
							       .not_before = -60,
							       .not_after = 3600 });
	t->valid = testlib_cert_make(&(struct testlib_cert){ .key = t->leaf_key,
							     .subject = "CN=kept phone",
							     .issuer = t->cert,
							     .issuer_key = key,
							     .serial = 0x1A2C,
							     .not_before = -60,
							     .not_after = 3600 });
	assert_non_null(t->cert);
	assert_non_null(t->revoked);
	assert_non_null(t->valid);
}

static void
test_ca_free(struct test_ca *t)
{
	EVP_PKEY_free(t->key);
	EVP_PKEY_free(t->leaf_key);
	X509_free(t->cert);
	X509_free(t->revoked);
	X509_free(t->valid);
}

/* Build, sign, encode and decode again: what a client downloads. */
static X509_CRL *
test_crl_round_trip(const struct crl_params *p, EVP_PKEY *key)
{
	X509_CRL *crl = NULL, *back;
	unsigned char *der = NULL;
	const unsigned char *q;
	size_t len = 0;

	assert_int_equal(crl_build(p, &crl), 0);
	assert_int_equal(crl_sign(crl, key, NULL, &der, &len), 0);
	q = der;
	assert_non_null(back = d2i_X509_CRL(NULL, &q, (long)len));
	assert_ptr_equal(q, der + len);
	X509_CRL_free(crl);
	OPENSSL_free(der);
	return back;
}

/* X509_verify_cert() of leaf with the CA as the trust anchor and crl checked. */
static int
test_verify_with_crl(X509 *ca, X509_CRL *crl, X509 *leaf)
{
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int err;

	assert_non_null(store);
	assert_non_null(ctx);
	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	assert_int_equal(X509_STORE_add_crl(store, crl), 1);
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, leaf, NULL), 1);
	err = X509_verify_cert(ctx) == 1 ? X509_V_OK : X509_STORE_CTX_get_error(ctx);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return err;
}

static void
test_check_list(struct test_ca *t, uint64_t number)
{
	const struct crl_entry entries[] = {
		{ .serial = "1A2B",
		  .revoked_at = time(NULL) - 30,
		  .reason = 1 /* keyCompromise */ },
		{ .serial = "7F", .revoked_at = time(NULL) - 20, .reason = 0 },
		{ .serial = "80",
		  .revoked_at = time(NULL) - 10,
		  .reason = 6 /* certificateHold */ },
	};
	time_t now = time(NULL);
	X509_CRL *crl = test_crl_round_trip(&(struct crl_params){ .ca = t->cert,
								  .number = number,
								  .this_update = now,
								  .next_update = now + 7 * 86400,
								  .entries = entries,
								  .n_entries = 3 },
					    t->key);
	STACK_OF(X509_REVOKED) *revoked = X509_CRL_get_REVOKED(crl);
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	AUTHORITY_KEYID *akid = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned md_len = 0;
	uint64_t got = 0;
	int diff_days = -1, diff_secs = -1;

	assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(t->cert)), 1);
	assert_int_equal(X509_CRL_get_version(crl), X509_CRL_VERSION_2);
	assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(t->cert)),
			 0);
	assert_int_equal(ASN1_TIME_diff(&diff_days, &diff_secs, X509_CRL_get0_lastUpdate(crl),
					X509_CRL_get0_nextUpdate(crl)),
			 1);
	assert_int_equal(diff_days, 7);
	assert_int_equal(diff_secs, 0);

	/* cRLNumber and the authority key identifier a verifier matches the CA by */
	assert_non_null(n);
	assert_int_equal(ASN1_INTEGER_get_uint64(&got, n), 1);
	assert_true(got == number);
	assert_non_null(akid);
	assert_non_null(akid->keyid);
	if (X509_get0_subject_key_id(t->cert) != NULL) {
		assert_int_equal(
			ASN1_OCTET_STRING_cmp(akid->keyid, X509_get0_subject_key_id(t->cert)), 0);
	} else {
		assert_int_equal(X509_pubkey_digest(t->cert, EVP_sha1(), md, &md_len), 1);
		assert_int_equal(ASN1_STRING_length(akid->keyid), (int)md_len);
		assert_memory_equal(ASN1_STRING_get0_data(akid->keyid), md, md_len);
	}

	/* the entries, in the order given, with their reasons */
	assert_int_equal(sk_X509_REVOKED_num(revoked), 3);
	for (int i = 0; i < 3; i++) {
		X509_REVOKED *rev = sk_X509_REVOKED_value(revoked, i);
		BIGNUM *bn = ASN1_INTEGER_to_BN(X509_REVOKED_get0_serialNumber(rev), NULL);
		char *hex = BN_bn2hex(bn);
		ASN1_ENUMERATED *reason = X509_REVOKED_get_ext_d2i(rev, NID_crl_reason, NULL, NULL);

		assert_string_equal(hex, entries[i].serial);
		assert_int_equal(ASN1_TIME_cmp_time_t(X509_REVOKED_get0_revocationDate(rev),
						      entries[i].revoked_at),
				 0);
		if (entries[i].reason > 0) {
			assert_non_null(reason);
			assert_int_equal(ASN1_ENUMERATED_get(reason), entries[i].reason);
		} else {
			assert_null(reason); /* unspecified: no reasonCode (RFC 5280 5.3.1) */
		}
		ASN1_ENUMERATED_free(reason);
		OPENSSL_free(hex);
		BN_free(bn);
	}

	/* a relying party with CRL checking: the revoked certificate fails, the other passes */
	assert_int_equal(test_verify_with_crl(t->cert, crl, t->revoked), X509_V_ERR_CERT_REVOKED);
	assert_int_equal(test_verify_with_crl(t->cert, crl, t->valid), X509_V_OK);

	ASN1_INTEGER_free(n);
	AUTHORITY_KEYID_free(akid);
	X509_CRL_free(crl);
}

static void
test_rsa_ca(void **state)
{
	struct test_ca t = { 0 };

	(void)state;
	test_ca_make(&t, testlib_rsa_key(2048), true);
	test_check_list(&t, 1);
	test_check_list(&t, UINT64_C(0x123456789));
	test_ca_free(&t);
}

/* An EC CA whose certificate has no subjectKeyIdentifier: the key's SHA-1 stands in. */
static void
test_ec_ca_without_ski(void **state)
{
	struct test_ca t = { 0 };

	(void)state;
	test_ca_make(&t, testlib_ec_key("P-384"), false);
	test_check_list(&t, 42);
	test_ca_free(&t);
}

/* An empty list is a valid CRL: nothing is revoked, everything verifies. */
static void
test_empty(void **state)
{
	struct test_ca t = { 0 };
	X509_CRL *crl;

	(void)state;
	test_ca_make(&t, testlib_ec_key("P-256"), true);
	crl = test_crl_round_trip(
		&(struct crl_params){ .ca = t.cert, .number = 1, .next_update = time(NULL) + 3600 },
		t.key);
	assert_true(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) <= 0); /* -1: none at all */
	assert_int_equal(test_verify_with_crl(t.cert, crl, t.revoked), X509_V_OK);
	X509_CRL_free(crl);
	test_ca_free(&t);
}

static void
test_refused(void **state)
{
	static const char *const bad_serials[] = { "", "0A", "1a2b", "12 34", "G1", "-1" };
	struct test_ca t = { 0 };
	time_t now = time(NULL);
	X509_CRL *crl = NULL;

	(void)state;
	test_ca_make(&t, testlib_ec_key("P-256"), true);
	for (size_t i = 0; i < sizeof(bad_serials) / sizeof(bad_serials[0]); i++) {
		struct crl_entry e = { .serial = bad_serials[i], .revoked_at = now, .reason = 1 };

		assert_int_equal(crl_build(&(struct crl_params){ .ca = t.cert,
								 .number = 1,
								 .next_update = now + 60,
								 .entries = &e,
								 .n_entries = 1 },
					   &crl),
				 -EINVAL);
	}
	assert_int_equal(crl_build(&(struct crl_params){ .ca = t.cert,
							 .number = 1,
							 .this_update = now,
							 .next_update = now },
				   &crl),
			 -EINVAL);
	assert_int_equal(
		crl_build(&(struct crl_params){ .number = 1, .next_update = now + 60 }, &crl),
		-EINVAL);
	assert_int_equal(crl_build(NULL, &crl), -EINVAL);
	assert_null(crl);
	test_ca_free(&t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rsa_ca),
		cmocka_unit_test(test_ec_ca_without_ski),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
