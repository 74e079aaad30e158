/*
 * testlib.c - keys, names, requests, certificates, temporary directories and files
 * for the unit tests (testlib.h), so that each test file does not grow its own.
 *
 * Everything asserts with cmocka: a helper that fails fails the test that called it.
 * No scepd code here: a test of a module must not pass because testlib used the
 * same code to build its input.
 */
#include "testlib.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <openssl/x509v3.h>

EVP_PKEY *
testlib_rsa_key(unsigned bits)
{
	EVP_PKEY *key;

	assert_non_null(key = EVP_RSA_gen(bits));
	return key;
}

EVP_PKEY *
testlib_ec_key(const char *curve)
{
	EVP_PKEY *key;

	assert_non_null(key = EVP_EC_gen(curve));
	return key;
}

void
testlib_name_add(X509_NAME *name, const char *spec)
{
	char *copy, *rdn, *save = NULL;

	assert_non_null(copy = strdup(spec));
	for (rdn = strtok_r(copy, "/", &save); rdn != NULL; rdn = strtok_r(NULL, "/", &save)) {
		char *ava, *save2 = NULL;
		int set = 0; /* a new RDN, then -1: the same one as the entry before */

		for (ava = strtok_r(rdn, "+", &save2); ava != NULL;
		     ava = strtok_r(NULL, "+", &save2)) {
			char *eq = strchr(ava, '=');

			assert_non_null(eq);
			*eq = '\0';
			if (X509_NAME_add_entry_by_txt(name, ava, MBSTRING_UTF8,
						       (unsigned char *)eq + 1, -1, -1, set) != 1)
				fail_msg("cannot add %s=%s to a name", ava, eq + 1);
			set = -1;
		}
	}
	free(copy);
}

X509_NAME *
testlib_name(const char *spec)
{
	X509_NAME *name;

	assert_non_null(name = X509_NAME_new());
	testlib_name_add(name, spec);
	return name;
}

/* Ed25519 and Ed448 sign without a separate digest. */
static const EVP_MD *
testlib_md(EVP_PKEY *key)
{
	return EVP_PKEY_is_a(key, "ED25519") || EVP_PKEY_is_a(key, "ED448") ? NULL : EVP_sha256();
}

X509_REQ *
testlib_csr(EVP_PKEY *key, const char *subject, const char *san, const char *challenge)
{
	X509_REQ *csr;

	assert_non_null(csr = X509_REQ_new());
	testlib_name_add(X509_REQ_get_subject_name(csr), subject);
	if (san != NULL) {
		STACK_OF(X509_EXTENSION) *exts;
		X509_EXTENSION *ext;

		assert_non_null(exts = sk_X509_EXTENSION_new_null());
		assert_non_null(ext = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san));
		assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
		assert_int_equal(X509_REQ_add_extensions(csr, exts), 1);
		sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	}
	if (challenge != NULL)
		assert_int_equal(X509_REQ_add1_attr_by_NID(csr, NID_pkcs9_challengePassword,
							   MBSTRING_UTF8,
							   (const unsigned char *)challenge, -1),
				 1);
	assert_int_equal(X509_REQ_set_pubkey(csr, key), 1);
	assert_true(X509_REQ_sign(csr, key, testlib_md(key)) > 0);
	return csr;
}

static void
testlib_add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
	X509_EXTENSION *ext;
	X509V3_CTX v3;

	X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
	assert_non_null(ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, value));
	assert_int_equal(X509_add_ext(cert, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

X509 *
testlib_cert_make(const struct testlib_cert *spec)
{
	X509 *cert, *issuer;

	assert_non_null(spec->key);
	assert_non_null(cert = X509_new());
	issuer = spec->issuer != NULL ? spec->issuer : cert;
	assert_int_equal(X509_set_version(cert, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(cert), spec->serial), 1);
	testlib_name_add(X509_get_subject_name(cert), spec->subject);
	assert_int_equal(X509_set_issuer_name(cert, X509_get_subject_name(issuer)), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(cert), spec->not_before));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(cert), spec->not_after));
	assert_int_equal(X509_set_pubkey(cert, spec->key), 1);
	if (spec->basic_constraints != NULL)
		testlib_add_ext(cert, issuer, NID_basic_constraints, spec->basic_constraints);
	if (spec->key_usage != NULL)
		testlib_add_ext(cert, issuer, NID_key_usage, spec->key_usage);
	if (spec->subject_key_id)
		testlib_add_ext(cert, issuer, NID_subject_key_identifier, "hash");
	if (spec->san != NULL)
		testlib_add_ext(cert, issuer, NID_subject_alt_name, spec->san);
	if (spec->ext_key_usage != NULL)
		testlib_add_ext(cert, issuer, NID_ext_key_usage, spec->ext_key_usage);
	if (spec->issuer != NULL)
		assert_non_null(spec->issuer_key);
	assert_true(X509_sign(cert, spec->issuer != NULL ? spec->issuer_key : spec->key,
			      testlib_md(spec->issuer != NULL ? spec->issuer_key : spec->key)) > 0);
	return cert;
}

char *
testlib_tmpdir(const char *prefix)
{
	const char *tmp = getenv("TMPDIR");
	char *dir;

	assert_true(asprintf(&dir, "%s/%s.XXXXXX", tmp != NULL && *tmp != '\0' ? tmp : "/tmp",
			     prefix) > 0);
	if (mkdtemp(dir) == NULL)
		fail_msg("mkdtemp %s: %s", dir, strerror(errno));
	return dir;
}

static int
testlib_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) < 0)
		fail_msg("cannot remove %s: %s", path, strerror(errno));
	return 0;
}

void
testlib_rmtree(const char *dir)
{
	if (dir == NULL)
		return;
	assert_int_equal(nftw(dir, testlib_rm_entry, 16, FTW_DEPTH | FTW_PHYS), 0);
}

const char *
testlib_path(char *buf, size_t size, const char *dir, const char *name)
{
	int n = snprintf(buf, size, "%s/%s", dir, name);

	assert_true(n > 0 && (size_t)n < size);
	return buf;
}

void
testlib_write_file(const char *path, const char *text)
{
	FILE *f;

	if ((f = fopen(path, "w")) == NULL)
		fail_msg("cannot create %s: %s", path, strerror(errno));
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

char *
testlib_read_file(const char *path)
{
	char *buf = NULL;
	size_t len = 0, n;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	for (;;) {
		assert_non_null(buf = realloc(buf, len + 4096 + 1));
		n = fread(buf + len, 1, 4096, f);
		len += n;
		if (n < 4096)
			break;
	}
	assert_int_equal(ferror(f), 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

void
testlib_assert_file_equal(const char *path, const char *want)
{
	char *got = testlib_read_file(path);

	if (strcmp(got, want) != 0)
		fail_msg("%s holds \"%s\", not \"%s\"", path, got, want);
	free(got);
}
