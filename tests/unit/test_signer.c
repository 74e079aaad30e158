/*
 * test_signer.c - signer_new(), signer_verify_csr(), signer_issue().
 *
 * Every key, CA certificate and request is made here (testlib.h): no fixture files,
 * no server. Serial files live in a fresh temporary directory.
 */
#include "scepd/signer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "testlib.h"

#define TEST_DAYS     30
#define TEST_BACKDATE 300

struct test_state {
	EVP_PKEY *rsa_key;
	X509 *rsa_ca;
	EVP_PKEY *ec_key;
	X509 *ec_ca;
	EVP_PKEY *leaf_key;
	char *dir;
};

/* clang-format off */
static struct config_pair test_default_ext[] = {
	{ "basicConstraints", "CA:FALSE", 0 },
	{ "keyUsage", "critical,digitalSignature,keyEncipherment", 0 },
	{ "subjectKeyIdentifier", "hash", 0 },
	{ "authorityKeyIdentifier", "keyid,issuer", 0 },
};
/* clang-format on */

static struct config_ca
test_config(const char *digest, enum config_serial_kind serial, const char *file)
{
	struct config_ca ca = {
		.days = TEST_DAYS,
		.backdate = TEST_BACKDATE,
		.serial = serial,
		.serial_file = (char *)file,
		.digest = (char *)digest,
		.extensions = { test_default_ext,
				sizeof(test_default_ext) / sizeof(test_default_ext[0]) },
	};

	return ca;
}

/* A self-signed root CA. */
static X509 *
test_make_ca(EVP_PKEY *key, const char *cn)
{
	char subject[128];

	snprintf(subject, sizeof(subject), "/O=scepd tests/CN=%s", cn);
	return testlib_cert_make(&(struct testlib_cert){
		.key = key,
		.subject = subject,
		.serial = 1,
		.not_before = -3600,
		.not_after = 10L * 365 * 86400,
		.basic_constraints = "critical,CA:TRUE",
		.key_usage = "critical,keyCertSign,cRLSign",
		.subject_key_id = true,
	});
}

/* A request for CN=cn, with serialNumber=serial when not NULL. */
static X509_REQ *
test_make_csr(EVP_PKEY *key, const char *cn, const char *serial)
{
	char subject[256];

	snprintf(subject, sizeof(subject), "%s%s%s%s", cn != NULL ? "/CN=" : "",
		 cn != NULL ? cn : "", serial != NULL ? "/serialNumber=" : "",
		 serial != NULL ? serial : "");
	return testlib_csr(key, subject, NULL, NULL);
}

static GENERAL_NAMES *
test_make_san(const char *text)
{
	X509_EXTENSION *ext;
	GENERAL_NAMES *san;

	assert_non_null(ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, text));
	assert_non_null(san = X509V3_EXT_d2i(ext));
	X509_EXTENSION_free(ext);
	return san;
}

/* The certificate as a client gets it: through DER. */
static X509 *
test_reparse(X509 *cert)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	X509 *copy;
	int len;

	assert_true((len = i2d_X509(cert, &der)) > 0);
	p = der;
	assert_non_null(copy = d2i_X509(NULL, &p, len));
	OPENSSL_free(der);
	return copy;
}

static X509 *
test_issue(struct signer *s, X509_REQ *csr, const GENERAL_NAMES *san)
{
	struct issue_req req = { csr, X509_REQ_get_subject_name(csr), san };
	X509 *cert = NULL, *copy;

	assert_int_equal(signer_issue(s, &req, &cert), 0);
	assert_non_null(cert);
	copy = test_reparse(cert);
	X509_free(cert);
	return copy;
}

static BIGNUM *
test_serial(X509 *cert)
{
	BIGNUM *bn;

	assert_non_null(bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL));
	return bn;
}

static time_t
test_time(const ASN1_TIME *t)
{
	struct tm tm;

	assert_int_equal(ASN1_TIME_to_tm(t, &tm), 1);
	return timegm(&tm);
}

static void
test_verify_chain(X509 *ca, X509 *cert)
{
	X509_STORE *store;
	X509_STORE_CTX *ctx;

	assert_int_equal(X509_verify(cert, X509_get0_pubkey(ca)), 1);
	assert_non_null(store = X509_STORE_new());
	assert_non_null(ctx = X509_STORE_CTX_new());
	assert_int_equal(X509_STORE_add_cert(store, ca), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, store, cert, NULL), 1);
	if (X509_verify_cert(ctx) != 1)
		fail_msg("X509_verify_cert: %s",
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
}

static int
test_setup(void **state)
{
	struct test_state *t;

	assert_non_null(t = calloc(1, sizeof(*t)));
	t->rsa_key = testlib_rsa_key(2048);
	t->ec_key = testlib_ec_key("P-256");
	t->leaf_key = testlib_ec_key("P-256");
	t->rsa_ca = test_make_ca(t->rsa_key, "RSA CA");
	t->ec_ca = test_make_ca(t->ec_key, "EC CA");
	t->dir = testlib_tmpdir("test_signer");
	*state = t;
	return 0;
}

static int
test_teardown(void **state)
{
	struct test_state *t = *state;

	testlib_rmtree(t->dir);
	free(t->dir);
	X509_free(t->rsa_ca);
	X509_free(t->ec_ca);
	EVP_PKEY_free(t->rsa_key);
	EVP_PKEY_free(t->ec_key);
	EVP_PKEY_free(t->leaf_key);
	free(t);
	return 0;
}

/* A serial file path in the test directory, removed first. */
static const char *
test_serial_path(struct test_state *t, const char *name)
{
	static char path[PATH_MAX];

	testlib_path(path, sizeof(path), t->dir, name);
	unlink(path);
	return path;
}

/* --- the certificate ---------------------------------------------------------------- */

struct issue_case {
	const char *ca;
	const char *digest;
	int sig_nid;
};

/* clang-format off */
static const struct issue_case issue_cases[] = {
	{ "rsa", "sha256", NID_sha256WithRSAEncryption },
	{ "rsa", "sha384", NID_sha384WithRSAEncryption },
	{ "rsa", "sha512", NID_sha512WithRSAEncryption },
	{ "ec",  "sha256", NID_ecdsa_with_SHA256 },
	{ "ec",  "sha384", NID_ecdsa_with_SHA384 },
	{ "ec",  "sha512", NID_ecdsa_with_SHA512 },
};
/* clang-format on */

static void
test_issue_cases(void **state)
{
	struct test_state *t = *state;

	for (size_t i = 0; i < sizeof(issue_cases) / sizeof(issue_cases[0]); i++) {
		const struct issue_case *c = &issue_cases[i];
		bool rsa = strcmp(c->ca, "rsa") == 0;
		EVP_PKEY *key = rsa ? t->rsa_key : t->ec_key;
		X509 *ca = rsa ? t->rsa_ca : t->ec_ca, *cert;
		struct config_ca cfg = test_config(c->digest, CONFIG_SERIAL_RANDOM, NULL);
		X509_REQ *csr = test_make_csr(t->leaf_key, "device-1", NULL);
		GENERAL_NAMES *san = test_make_san("DNS:device-1.example,IP:192.0.2.1");
		const int want_ext[] = { NID_basic_constraints, NID_key_usage,
					 NID_subject_key_identifier, NID_authority_key_identifier,
					 NID_subject_alt_name };
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int md_len;
		const ASN1_OCTET_STRING *skid, *akid;
		GENERAL_NAMES *got_san;
		struct signer *s = NULL;
		time_t before, after, nb, na;
		int crit, days, secs, idx;

		print_message("case %zu: %s CA, %s\n", i, c->ca, c->digest);
		assert_int_equal(signer_new(&cfg, NULL, 0, key, ca, &s), 0);
		before = time(NULL);
		cert = test_issue(s, csr, san);
		after = time(NULL);

		test_verify_chain(ca, cert);
		assert_int_equal(X509_get_version(cert), X509_VERSION_3);
		assert_int_equal(X509_get_signature_nid(cert), c->sig_nid);
		assert_int_equal(
			X509_NAME_cmp(X509_get_issuer_name(cert), X509_get_subject_name(ca)), 0);
		assert_int_equal(
			X509_NAME_cmp(X509_get_subject_name(cert), X509_REQ_get_subject_name(csr)),
			0);
		assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(cert), t->leaf_key), 1);

		/* The extensions, in the order of ca.extensions, then the SAN. */
		assert_int_equal(X509_get_ext_count(cert), 5);
		for (int j = 0; j < 5; j++)
			assert_int_equal(
				OBJ_obj2nid(X509_EXTENSION_get_object(X509_get_ext(cert, j))),
				want_ext[j]);
		assert_true(X509_get_extension_flags(cert) & EXFLAG_BCONS);
		assert_false(X509_get_extension_flags(cert) & EXFLAG_CA);
		assert_int_equal(X509_get_key_usage(cert),
				 KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
		idx = X509_get_ext_by_NID(cert, NID_key_usage, -1);
		assert_int_equal(X509_EXTENSION_get_critical(X509_get_ext(cert, idx)), 1);
		assert_int_equal(X509_pubkey_digest(cert, EVP_sha1(), md, &md_len), 1);
		assert_non_null(skid = X509_get0_subject_key_id(cert));
		assert_int_equal(ASN1_STRING_length(skid), md_len);
		assert_memory_equal(ASN1_STRING_get0_data(skid), md, md_len);
		assert_non_null(akid = X509_get0_authority_key_id(cert));
		assert_int_equal(ASN1_STRING_cmp(akid, X509_get0_subject_key_id(ca)), 0);
		/* "issuer" without ":always": only when there is no keyid */
		assert_null(X509_get0_authority_issuer(cert));
		assert_null(X509_get0_authority_serial(cert));

		assert_non_null(got_san =
					X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL));
		assert_int_equal(crit, 0); /* the subject is not empty */
		assert_int_equal(sk_GENERAL_NAME_num(got_san), 2);
		for (int j = 0; j < 2; j++)
			assert_int_equal(GENERAL_NAME_cmp(sk_GENERAL_NAME_value(got_san, j),
							  sk_GENERAL_NAME_value(san, j)),
					 0);

		nb = test_time(X509_get0_notBefore(cert));
		na = test_time(X509_get0_notAfter(cert));
		assert_in_range(nb, before - TEST_BACKDATE, after - TEST_BACKDATE);
		assert_int_equal(na - nb, (time_t)TEST_DAYS * 86400);
		assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert),
						X509_get0_notAfter(cert)),
				 1);
		assert_int_equal(days, TEST_DAYS);
		assert_int_equal(secs, 0);

		GENERAL_NAMES_free(got_san);
		GENERAL_NAMES_free(san);
		X509_REQ_free(csr);
		X509_free(cert);
		signer_free(s);
	}
}

/* Without extensions, a long validity, no SAN, no backdate. */
static void
test_issue_plain(void **state)
{
	struct test_state *t = *state;
	struct config_ca cfg = test_config("sha256", CONFIG_SERIAL_RANDOM, NULL);
	X509_REQ *csr = test_make_csr(t->leaf_key, "plain", NULL);
	struct signer *s = NULL;
	X509 *cert;
	time_t nb, na, now;

	cfg.extensions.n = 0;
	cfg.days = 36500;
	cfg.backdate = 0;
	assert_int_equal(signer_new(&cfg, NULL, 0, t->ec_key, t->ec_ca, &s), 0);
	now = time(NULL);
	cert = test_issue(s, csr, NULL);
	assert_int_equal(X509_get_ext_count(cert), 0);
	assert_int_equal(X509_get_version(cert), X509_VERSION_3);
	nb = test_time(X509_get0_notBefore(cert));
	na = test_time(X509_get0_notAfter(cert));
	assert_in_range(nb, now, now + 2);
	assert_int_equal(na - nb, (time_t)36500 * 86400);
	/* Beyond 2049: GeneralizedTime, RFC 5280 4.1.2.5. */
	assert_int_equal(ASN1_STRING_type(X509_get0_notAfter(cert)), V_ASN1_GENERALIZEDTIME);
	assert_int_equal(ASN1_STRING_type(X509_get0_notBefore(cert)), V_ASN1_UTCTIME);
	X509_free(cert);
	X509_REQ_free(csr);
	signer_free(s);
}

static EVP_PKEY *
test_rsa_pss_key(void)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA-PSS", NULL);
	EVP_PKEY *key = NULL;

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048), 1);
	assert_int_equal(EVP_PKEY_keygen(ctx, &key), 1);
	EVP_PKEY_CTX_free(ctx);
	return key;
}

/*
 * The requester's key reaches the certificate byte for byte, whatever its algorithm
 * parameters: NULL (RSA), an OID (EC), absent (Ed25519), a SEQUENCE (RSA-PSS).
 */
static void
test_issue_key_kinds(void **state)
{
	struct test_state *t = *state;
	struct config_ca cfg = test_config("sha256", CONFIG_SERIAL_RANDOM, NULL);
	EVP_PKEY *keys[] = {
		testlib_rsa_key(2048),
		EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"),
		test_rsa_pss_key(),
		t->leaf_key,
	};
	struct signer *s = NULL;

	assert_int_equal(signer_new(&cfg, NULL, 0, t->ec_key, t->ec_ca, &s), 0);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		X509_REQ *csr;
		X509 *cert;

		assert_non_null(keys[i]);
		print_message("key %zu: %s\n", i, EVP_PKEY_get0_type_name(keys[i]));
		csr = test_make_csr(keys[i], "key-kind", NULL);
		cert = test_issue(s, csr, NULL);
		assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(cert), keys[i]), 1);
		assert_int_equal(
			X509_PUBKEY_eq(X509_get_X509_PUBKEY(cert), X509_REQ_get_X509_PUBKEY(csr)),
			1);
		test_verify_chain(t->ec_ca, cert);
		X509_free(cert);
		X509_REQ_free(csr);
		if (keys[i] != t->leaf_key)
			EVP_PKEY_free(keys[i]);
	}
	signer_free(s);
}

/* The profile check: a CA certificate only when ca.extensions asks for one. */
static void
test_issue_profile_ca(void **state)
{
	struct test_state *t = *state;
	struct config_ca cfg = test_config("sha256", CONFIG_SERIAL_RANDOM, NULL);
	struct config_pair ca_true = { "basicConstraints", "critical,CA:TRUE", 1 };
	struct config_pair cert_sign = { "keyUsage", "critical,keyCertSign", 1 };
	X509_REQ *csr = test_make_csr(t->leaf_key, "profile", NULL);
	struct signer *s = NULL;
	X509 *cert = NULL;

	cfg.extensions.v = &ca_true;
	cfg.extensions.n = 1;
	assert_int_equal(signer_new(&cfg, NULL, 0, t->ec_key, t->ec_ca, &s), 0);
	cert = test_issue(s, csr, NULL);
	assert_int_equal(X509_check_ca(cert), 1);
	X509_free(cert);
	signer_free(s);

	/* keyCertSign makes a CA certificate too; not asked for: refused after signing. */
	cfg.extensions.v = &cert_sign;
	assert_int_equal(signer_new(&cfg, NULL, 0, t->ec_key, t->ec_ca, &s), 0);
	cert = NULL;
	assert_int_equal(
		signer_issue(s,
			     &(struct issue_req){ .csr = csr,
						  .subject = X509_REQ_get_subject_name(csr) },
			     &cert),
		-EIO);
	assert_null(cert);
	X509_REQ_free(csr);
	signer_free(s);
}

/* The policy's SAN replaces the one of ca.extensions in its place; critical if no subject. */
static void
test_issue_san(void **state)
{
	struct test_state *t = *state;
	struct config_pair ext[] = {
		{ "basicConstraints", "CA:FALSE", 0 },
		{ "subjectAltName", "DNS:from-config.example", 0 },
		{ "extendedKeyUsage", "clientAuth", 0 },
	};
	struct config_ca cfg = test_config("sha256", CONFIG_SERIAL_RANDOM, NULL);
	X509_REQ *csr = test_make_csr(t->leaf_key, NULL, NULL); /* empty subject */
	GENERAL_NAMES *san = test_make_san("DNS:from-policy.example"), *got;
	struct signer *s = NULL;
	X509 *cert;
	int crit;

	cfg.extensions.v = ext;
	cfg.extensions.n = 3;
	assert_int_equal(signer_new(&cfg, NULL, 0, t->ec_key, t->ec_ca, &s), 0);

	cert = test_issue(s, csr, san);
	assert_int_equal(X509_get_ext_count(cert), 3);
	assert_int_equal(X509_get_ext_by_NID(cert, NID_subject_alt_name, -1), 1);
	assert_int_equal(X509_get_ext_by_NID(cert, NID_subject_alt_name, 1), -1);
	assert_non_null(got = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL));
	assert_int_equal(crit, 1);
	assert_int_equal(sk_GENERAL_NAME_num(got), 1);
	assert_int_equal(
		GENERAL_NAME_cmp(sk_GENERAL_NAME_value(got, 0), sk_GENERAL_NAME_value(san, 0)), 0);
	test_verify_chain(t->ec_ca, cert);
	GENERAL_NAMES_free(got);
	X509_free(cert);

	/* No SAN from the policy: the configured one stays. */
	cert = test_issue(s, csr, NULL);
	assert_non_null(got = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL));
	assert_int_equal(crit, 0);
	assert_int_equal(sk_GENERAL_NAME_num(got), 1);
	assert_string_equal(ASN1_STRING_get0_data(sk_GENERAL_NAME_value(got, 0)->d.dNSName),
			    "from-config.example");
	GENERAL_NAMES_free(got);
	X509_free(cert);
	signer_free(s);

	/* Without a SAN in ca.extensions the policy's is appended. */
	cfg.extensions.n = 1;
	assert_int_equal(signer_new(&cfg, NULL, 0, t->ec_key, t->ec_ca, &s), 0);
	cert = test_issue(s, csr, san);
	assert_int_equal(X509_get_ext_count(cert), 2);
	assert_int_equal(X509_get_ext_by_NID(cert, NID_subject_alt_name, -1), 1);
	X509_free(cert);
	/* An empty SAN list is no SAN. */
	GENERAL_NAMES *empty = sk_GENERAL_NAME_new_null();
	cert = test_issue(s, csr, empty);
	assert_int_equal(X509_get_ext_count(cert), 1);
	X509_free(cert);
	sk_GENERAL_NAME_free(empty);
	signer_free(s);

	GENERAL_NAMES_free(san);
	X509_REQ_free(csr);
}

/* An extension made from the request: "email:copy"; "none" key identifiers are left out. */
static void
test_issue_extension_needs_request(void **state)
{
	struct test_state *t = *state;
	struct config_pair ext[] = {
		{ "subjectAltName", "email:copy", 0 },
		{ "subjectKeyIdentifier", "none", 0 },
		{ "authorityKeyIdentifier", "none", 0 },
	};
	struct config_ca cfg = test_config("sha256", CONFIG_SERIAL_RANDOM, NULL);
	X509_REQ *csr = test_make_csr(t->leaf_key, "no-mail", NULL), *csr2;
	struct signer *s = NULL;
	X509_NAME *name;
	X509 *cert;

	cfg.extensions.v = ext;
	cfg.extensions.n = 3;
	assert_int_equal(signer_new(&cfg, NULL, 0, t->ec_key, t->ec_ca, &s), 0);
	/* No address to copy: no subjectAltName at all rather than an empty one. */
	cert = test_issue(s, csr, NULL);
	assert_int_equal(X509_get_ext_count(cert), 0);
	X509_free(cert);

	csr2 = test_make_csr(t->leaf_key, "mail", NULL);
	name = X509_REQ_get_subject_name(csr2);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "emailAddress", MBSTRING_ASC,
						    (const unsigned char *)"a@example.com", -1, -1,
						    0),
			 1);
	cert = test_issue(s, csr2, NULL);
	assert_int_equal(X509_get_ext_count(cert), 1);
	assert_int_equal(X509_get_ext_by_NID(cert, NID_subject_alt_name, -1), 0);
	GENERAL_NAMES *got = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	assert_int_equal(sk_GENERAL_NAME_num(got), 1);
	assert_int_equal(sk_GENERAL_NAME_value(got, 0)->type, GEN_EMAIL);
	GENERAL_NAMES_free(got);
	X509_free(cert);
	X509_REQ_free(csr2);
	X509_REQ_free(csr);
	signer_free(s);
}

struct new_case {
	const char *what;
	const char *digest;
	enum config_serial_kind serial;
	const char *file;
	int days, backdate;
	const char *ext_name, *ext_value;
	int want;
};

/* clang-format off */
static const struct new_case new_cases[] = {
	{ "defaults", "sha256", CONFIG_SERIAL_RANDOM, NULL, 365, 0, NULL, NULL, 0 },
	{ "unknown digest", "sha999", CONFIG_SERIAL_RANDOM, NULL, 365, 0, NULL, NULL, -EINVAL },
	{ "file without path", "sha256", CONFIG_SERIAL_FILE, NULL, 365, 0, NULL, NULL, -EINVAL },
	{ "days 0", "sha256", CONFIG_SERIAL_RANDOM, NULL, 0, 0, NULL, NULL, -EINVAL },
	{ "negative backdate", "sha256", CONFIG_SERIAL_RANDOM, NULL, 1, -1, NULL, NULL, -EINVAL },
	{ "bad serial kind", "sha256", 7, NULL, 1, 0, NULL, NULL, -EINVAL },
	{ "unknown extension", "sha256", CONFIG_SERIAL_RANDOM, NULL, 365, 0,
	  "frobnicate", "x", -EINVAL },
	{ "AKI the CA lacks", "sha256", CONFIG_SERIAL_RANDOM, NULL, 365, 0,
	  "authorityKeyIdentifier", "keyid:always", -EINVAL },
	{ "subject serial", "sha512", CONFIG_SERIAL_SUBJECT, NULL, 365, 0, NULL, NULL, 0 },
};
/* clang-format on */

static void
test_new_cases(void **state)
{
	struct test_state *t = *state;
	X509 *bare_ca;

	/* A CA certificate without subjectKeyIdentifier cannot give keyid:always. */
	bare_ca = X509_dup(t->ec_ca);
	X509_EXTENSION_free(X509_delete_ext(
		bare_ca, X509_get_ext_by_NID(bare_ca, NID_subject_key_identifier, -1)));
	for (size_t i = 0; i < sizeof(new_cases) / sizeof(new_cases[0]); i++) {
		const struct new_case *c = &new_cases[i];
		struct config_pair ext = { (char *)c->ext_name, (char *)c->ext_value, 0 };
		struct config_ca cfg = test_config(c->digest, c->serial, c->file);
		struct signer *s = (struct signer *)&s;

		print_message("case %zu: %s\n", i, c->what);
		cfg.days = c->days;
		cfg.backdate = c->backdate;
		if (c->ext_name != NULL) {
			cfg.extensions.v = &ext;
			cfg.extensions.n = 1;
		}
		assert_int_equal(signer_new(&cfg, NULL, 0, t->ec_key, bare_ca, &s), c->want);
		if (c->want < 0)
			assert_ptr_equal(s, (struct signer *)&s);
		else
			signer_free(s);
		ERR_clear_error();
	}
	X509_free(bare_ca);
	signer_free(NULL);
}

/* --- serials -------------------------------------------------------------------------- */

static int
test_cmp_bn(const void *a, const void *b)
{
	return BN_cmp(*(BIGNUM *const *)a, *(BIGNUM *const *)b);
}

static void
test_random_serials(void **state)
{
	enum { N = 1000 };
	struct test_state *t = *state;
	struct config_ca cfg = test_config("sha256", CONFIG_SERIAL_RANDOM, NULL);
	X509_REQ *csr = test_make_csr(t->leaf_key, "random", NULL);
	BIGNUM **serials;
	struct signer *s = NULL;
	int max_bits = 0;

	cfg.extensions.n = 0;
	assert_non_null(serials = calloc(N, sizeof(*serials)));
	assert_int_equal(signer_new(&cfg, NULL, 0, t->ec_key, t->ec_ca, &s), 0);
	for (int i = 0; i < N; i++) {
		X509 *cert = test_issue(s, csr, NULL);

		serials[i] = test_serial(cert);
		assert_false(BN_is_negative(serials[i]));
		assert_false(BN_is_zero(serials[i]));
		assert_in_range(BN_num_bits(serials[i]), 1, 159);
		/* DER: at most 20 content octets. */
		assert_in_range(X509_get0_serialNumber(cert)->length, 1, 20);
		if (BN_num_bits(serials[i]) > max_bits)
			max_bits = BN_num_bits(serials[i]);
		X509_free(cert);
	}
	assert_int_equal(max_bits, 159); /* all 159 bits are drawn: fails with p = 2^-1000 */
	qsort(serials, N, sizeof(*serials), test_cmp_bn);
	for (int i = 1; i < N; i++)
		assert_int_not_equal(BN_cmp(serials[i - 1], serials[i]), 0);
	for (int i = 0; i < N; i++)
		BN_free(serials[i]);
	free(serials);
	X509_REQ_free(csr);
	signer_free(s);
}

static unsigned long
test_serial_word(X509 *cert)
{
	BIGNUM *bn = test_serial(cert);
	unsigned long w = BN_get_word(bn);

	BN_free(bn);
	return w;
}

/* Two signers on one file: one counter, strictly increasing, starting at 1. */
static void
test_file_serials(void **state)
{
	struct test_state *t = *state;
	const char *path = test_serial_path(t, "serial");
	struct config_ca cfg = test_config("sha256", CONFIG_SERIAL_FILE, path);
	X509_REQ *csr = test_make_csr(t->leaf_key, "file", NULL);
	struct signer *s1 = NULL, *s2 = NULL;
	unsigned long last = 0;
	struct stat st;

	assert_int_equal(signer_new(&cfg, NULL, 0, t->ec_key, t->ec_ca, &s1), 0);
	assert_int_equal(signer_new(&cfg, NULL, 0, t->rsa_key, t->rsa_ca, &s2), 0);
	for (int i = 0; i < 20; i++) {
		X509 *cert = test_issue(i % 2 ? s2 : s1, csr, NULL);
		unsigned long serial = test_serial_word(cert);

		assert_int_equal(serial, last + 1);
		last = serial;
		X509_free(cert);
	}
	testlib_assert_file_equal(path, "15\n"); /* the next one: 21 */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	/* A restart: a new signer carries on. */
	signer_free(s1);
	assert_int_equal(signer_new(&cfg, NULL, 0, t->ec_key, t->ec_ca, &s1), 0);
	X509 *cert = test_issue(s1, csr, NULL);
	assert_int_equal(test_serial_word(cert), 21);
	X509_free(cert);

	signer_free(s1);
	signer_free(s2);
	X509_REQ_free(csr);
}

/* 4 processes x 50 certificates on one serial file: 1..200, each once. */
static void
test_file_serials_forked(void **state)
{
	enum { CHILDREN = 4, EACH = 50 };
	struct test_state *t = *state;
	const char *path = test_serial_path(t, "serial-forked");
	struct config_ca cfg = test_config("sha256", CONFIG_SERIAL_FILE, path);
	X509_REQ *csr = test_make_csr(t->leaf_key, "forked", NULL);
	struct signer *s = NULL;
	pid_t pids[CHILDREN];
	int fds[CHILDREN];
	bool seen[CHILDREN * EACH + 1] = { false };
	unsigned long max = 0;

	cfg.extensions.n = 0;
	assert_int_equal(signer_new(&cfg, NULL, 0, t->ec_key, t->ec_ca, &s), 0);
	for (int c = 0; c < CHILDREN; c++) {
		int pipefd[2];

		assert_int_equal(pipe(pipefd), 0);
		assert_true((pids[c] = fork()) >= 0);
		if (pids[c] == 0) {
			struct issue_req req = { csr, X509_REQ_get_subject_name(csr), NULL };

			close(pipefd[0]);
			for (int i = 0; i < EACH; i++) {
				X509 *cert = NULL;
				BIGNUM *bn;
				unsigned long w;

				if (signer_issue(s, &req, &cert) < 0)
					_exit(1);
				bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
				w = BN_get_word(bn);
				if (write(pipefd[1], &w, sizeof(w)) != sizeof(w))
					_exit(2);
				BN_free(bn);
				X509_free(cert);
			}
			_exit(0);
		}
		close(pipefd[1]);
		fds[c] = pipefd[0];
	}
	for (int c = 0; c < CHILDREN; c++) {
		unsigned long w;
		int n = 0, status;

		while (read(fds[c], &w, sizeof(w)) == sizeof(w)) {
			assert_in_range(w, 1, CHILDREN * EACH);
			assert_false(seen[w]);
			seen[w] = true;
			if (w > max)
				max = w;
			n++;
		}
		close(fds[c]);
		assert_int_equal(waitpid(pids[c], &status, 0), pids[c]);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		assert_int_equal(n, EACH);
	}
	assert_int_equal(max, CHILDREN * EACH);
	testlib_assert_file_equal(path, "C9\n");
	X509_REQ_free(csr);
	signer_free(s);
}

struct file_case {
	const char *before; /* NULL: no file */
	int want;
	const char *serial_hex; /* the serial issued */
	const char *after;      /* the file afterwards */
};

/* clang-format off */
#define MAX_HEX "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF" /* 2^159 - 1 */
#define TOP_HEX "8000000000000000000000000000000000000000" /* 2^159 */
static const struct file_case file_cases[] = {
	{ NULL,                 0, "01", "02\n" },
	{ "",                   0, "01", "02\n" },
	{ " \n\n",              0, "01", "02\n" },
	{ "0FFF\n",             0, "0FFF", "1000\n" },
	{ "ff",                 0, "FF", "0100\n" },  /* lowercase, no newline: openssl-ca's */
	{ "  1a \r\nrest\n",    0, "1A", "1B\n" },    /* later lines are ignored */
	{ "0000000000002A\n",   0, "2A", "2B\n" },    /* shorter: truncated */
	{ "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFE\n", 0,
	  "7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFE", MAX_HEX "\n" },
	{ MAX_HEX "\n",         0, MAX_HEX, TOP_HEX "\n" },
	{ TOP_HEX "\n",         -EUCLEAN, NULL, NULL },
	{ "0\n",                -EUCLEAN, NULL, NULL },
	{ "xyz\n",              -EUCLEAN, NULL, NULL },
	{ "12 34\n",            -EUCLEAN, NULL, NULL },
	{ "-5\n",               -EUCLEAN, NULL, NULL },
	{ "\n12\n",             -EUCLEAN, NULL, NULL },  /* a blank first line, then more */
};
/* clang-format on */

static void
test_file_serial_contents(void **state)
{
	struct test_state *t = *state;
	X509_REQ *csr = test_make_csr(t->leaf_key, "contents", NULL);
	struct issue_req req = { csr, X509_REQ_get_subject_name(csr), NULL };
	char big[200];

	for (size_t i = 0; i < sizeof(file_cases) / sizeof(file_cases[0]); i++) {
		const struct file_case *c = &file_cases[i];
		const char *path = test_serial_path(t, "serial-contents");
		struct config_ca cfg = test_config("sha256", CONFIG_SERIAL_FILE, path);
		struct signer *s = NULL;
		X509 *cert = NULL;

		print_message("case %zu\n", i);
		if (c->before != NULL)
			testlib_write_file(path, c->before);
		assert_int_equal(signer_new(&cfg, NULL, 0, t->ec_key, t->ec_ca, &s), 0);
		assert_int_equal(signer_issue(s, &req, &cert), c->want);
		if (c->want == 0) {
			X509 *issued = cert;
			BIGNUM *bn;

			cert = test_reparse(issued); /* the key is not decoded in signer_issue() */
			X509_free(issued);
			bn = test_serial(cert);
			char *hex = BN_bn2hex(bn);

			assert_string_equal(hex, c->serial_hex);
			testlib_assert_file_equal(path, c->after);
			OPENSSL_free(hex);
			BN_free(bn);
			X509_free(cert);
		} else {
			assert_null(cert);
			testlib_assert_file_equal(path, c->before); /* untouched */
		}
		signer_free(s);
	}

	/* After 2^159 - 1 the counter is exhausted. */
	{
		const char *path = test_serial_path(t, "serial-contents");
		struct config_ca cfg = test_config("sha256", CONFIG_SERIAL_FILE, path);
		struct signer *s = NULL;
		X509 *cert = NULL;

		testlib_write_file(path, MAX_HEX "\n");
		assert_int_equal(signer_new(&cfg, NULL, 0, t->ec_key, t->ec_ca, &s), 0);
		assert_int_equal(signer_issue(s, &req, &cert), 0);
		X509_free(cert);
		cert = NULL;
		assert_int_equal(signer_issue(s, &req, &cert), -EUCLEAN);
		assert_null(cert);

		/* Far too long to be a serial file. */
		memset(big, '1', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		testlib_write_file(path, big);
		assert_int_equal(signer_issue(s, &req, &cert), -EUCLEAN);

		/* Cannot be opened. */
		signer_free(s);
		cfg.serial_file = (char *)"/nonexistent-dir/serial";
		assert_int_equal(signer_new(&cfg, NULL, 0, t->ec_key, t->ec_ca, &s), 0);
		assert_int_equal(signer_issue(s, &req, &cert), -ENOENT);
		assert_null(cert);
		signer_free(s);
	}
	X509_REQ_free(csr);
}

struct subject_case {
	const char *serial_number; /* NULL: no serialNumber attribute */
	const char *second;        /* a second serialNumber */
	int want;
	const char *serial_dec;
};

/* clang-format off */
static const struct subject_case subject_cases[] = {
	{ "12345",  NULL, 0, "12345" },
	{ "007",    NULL, 0, "7" },
	{ "0x1F",   NULL, 0, "31" },
	{ "0X00ff", NULL, 0, "255" },
	{ "730750818665451459101842416358141509827966271487", NULL, 0,
	  "730750818665451459101842416358141509827966271487" },        /* 2^159 - 1 */
	{ "0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", NULL, 0,
	  "730750818665451459101842416358141509827966271487" },
	{ "730750818665451459101842416358141509827966271488", NULL, -EBADMSG, NULL }, /* 2^159 */
	{ "0",      NULL, -EBADMSG, NULL },
	{ "0x0",    NULL, -EBADMSG, NULL },
	{ "0x",     NULL, -EBADMSG, NULL },
	{ "abc",    NULL, -EBADMSG, NULL },    /* hexadecimal needs 0x */
	{ "-5",     NULL, -EBADMSG, NULL },
	{ "1 2",    NULL, -EBADMSG, NULL },
	{ "C02XK1ABJG5H", NULL, -EBADMSG, NULL }, /* a device serial, not a number */
	{ NULL,     NULL, -EBADMSG, NULL },
	{ "1",      "2",  -EBADMSG, NULL },    /* two: ambiguous */
};
/* clang-format on */

static void
test_subject_serials(void **state)
{
	struct test_state *t = *state;
	struct config_ca cfg = test_config("sha256", CONFIG_SERIAL_SUBJECT, NULL);
	struct signer *s = NULL;

	assert_int_equal(signer_new(&cfg, NULL, 0, t->ec_key, t->ec_ca, &s), 0);
	for (size_t i = 0; i < sizeof(subject_cases) / sizeof(subject_cases[0]); i++) {
		const struct subject_case *c = &subject_cases[i];
		X509_REQ *csr = test_make_csr(t->leaf_key, "subject", c->serial_number);
		X509_NAME *name = X509_REQ_get_subject_name(csr);
		struct issue_req req = { csr, name, NULL };
		X509 *cert = NULL;

		print_message("case %zu: %s\n", i, c->serial_number ? c->serial_number : "(none)");
		if (c->second != NULL)
			assert_int_equal(X509_NAME_add_entry_by_txt(
						 name, "serialNumber", MBSTRING_ASC,
						 (const unsigned char *)c->second, -1, -1, 0),
					 1);
		assert_int_equal(signer_issue(s, &req, &cert), c->want);
		if (c->want == 0) {
			X509 *issued = cert;
			BIGNUM *bn;

			cert = test_reparse(issued); /* the key is not decoded in signer_issue() */
			X509_free(issued);
			bn = test_serial(cert);
			char *dec = BN_bn2dec(bn);

			assert_string_equal(dec, c->serial_dec);
			test_verify_chain(t->ec_ca, cert);
			OPENSSL_free(dec);
			BN_free(bn);
			X509_free(cert);
		} else {
			assert_null(cert);
		}
		X509_REQ_free(csr);
	}
	signer_free(s);
}

/* --- failures ------------------------------------------------------------------------- */

static void
test_verify_csr(void **state)
{
	struct test_state *t = *state;
	X509_REQ *csr = test_make_csr(t->leaf_key, "verify", NULL), *broken, *empty;
	unsigned char *der = NULL;
	const unsigned char *p;
	int len;

	assert_int_equal(signer_verify_csr(csr), 0);

	/* The last byte of the DER is the last byte of the signature. */
	assert_true((len = i2d_X509_REQ(csr, &der)) > 0);
	der[len - 1] ^= 0x01;
	p = der;
	assert_non_null(broken = d2i_X509_REQ(NULL, &p, len));
	assert_int_equal(signer_verify_csr(broken), -EBADMSG);

	assert_non_null(empty = X509_REQ_new());
	assert_int_equal(signer_verify_csr(empty), -EBADMSG);
	assert_int_equal(signer_verify_csr(NULL), -EBADMSG);

	ERR_clear_error();
	OPENSSL_free(der);
	X509_REQ_free(broken);
	X509_REQ_free(empty);
	X509_REQ_free(csr);
}

/* A key that does not belong to the CA certificate: signed, but the check refuses it. */
static void
test_key_mismatch(void **state)
{
	struct test_state *t = *state;
	const char *path = test_serial_path(t, "serial-mismatch");
	X509_REQ *csr = test_make_csr(t->leaf_key, "mismatch", NULL);
	struct issue_req req = { csr, X509_REQ_get_subject_name(csr), NULL };
	struct config_ca cfgs[] = {
		test_config("sha256", CONFIG_SERIAL_RANDOM, NULL),
		test_config("sha256", CONFIG_SERIAL_FILE, path),
	};

	for (size_t i = 0; i < 2; i++) {
		struct signer *s = NULL;
		X509 *cert = (X509 *)&cert;

		/* the RSA key with the EC CA, the EC key with the RSA CA */
		assert_int_equal(signer_new(&cfgs[i], NULL, 0, i ? t->ec_key : t->rsa_key,
					    i ? t->rsa_ca : t->ec_ca, &s),
				 0);
		assert_int_equal(signer_issue(s, &req, &cert), -EIO);
		assert_ptr_equal(cert, (X509 *)&cert);
		assert_int_not_equal(ERR_peek_error(), 0); /* left for the caller */
		ERR_clear_error();
		signer_free(s);
	}
	X509_REQ_free(csr);
}

/* A request without a usable public key, and requests the caller got wrong. */
static void
test_issue_bad_requests(void **state)
{
	struct test_state *t = *state;
	struct config_ca cfg = test_config("sha256", CONFIG_SERIAL_RANDOM, NULL);
	X509_REQ *empty = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	struct issue_req no_key = { empty, name, NULL };
	struct issue_req no_subject = { empty, NULL, NULL };
	struct issue_req no_csr = { NULL, name, NULL };
	struct signer *s = NULL;
	X509 *cert = NULL;

	assert_int_equal(signer_new(&cfg, NULL, 0, t->ec_key, t->ec_ca, &s), 0);
	assert_int_equal(signer_issue(s, &no_key, &cert), -EBADMSG);
	assert_int_equal(signer_issue(s, &no_subject, &cert), -EINVAL);
	assert_int_equal(signer_issue(s, &no_csr, &cert), -EINVAL);
	assert_int_equal(signer_issue(s, NULL, &cert), -EINVAL);
	assert_null(cert);
	ERR_clear_error();
	signer_free(s);
	X509_NAME_free(name);
	X509_REQ_free(empty);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_issue_cases),
		cmocka_unit_test(test_issue_plain),
		cmocka_unit_test(test_issue_profile_ca),
		cmocka_unit_test(test_issue_san),
		cmocka_unit_test(test_issue_extension_needs_request),
		cmocka_unit_test(test_new_cases),
		cmocka_unit_test(test_random_serials),
		cmocka_unit_test(test_file_serials),
		cmocka_unit_test(test_file_serials_forked),
		cmocka_unit_test(test_file_serial_contents),
		cmocka_unit_test(test_subject_serials),
		cmocka_unit_test(test_issue_key_kinds),
		cmocka_unit_test(test_verify_csr),
		cmocka_unit_test(test_key_mismatch),
		cmocka_unit_test(test_issue_bad_requests),
	};

	return cmocka_run_group_tests(tests, test_setup, test_teardown);
}
