/*
 * test_keys.c - unit tests of keys.c and keys_token.c that need no token: key files (plain and
 * encrypted, RSA and EC), certificate chains, the match check, every passphrase
 * source, the messages and codes of each failure, the engine errors that happen
 * before a token is reached (engine library or PKCS#11 module missing), and
 * keys_token_lost() over every PKCS#11 return value it knows, on a queue made up
 * the way libp11's engine makes it. Reading secrets is tested by test_secret.c.
 *
 * Keys on a SoftHSM token are tested by tests/integration/t_keys.sh.
 *
 * Keys and certificates are made in a temporary directory when the test starts;
 * configurations are parsed with config_load_string() with that directory as basedir.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "scepd/config.h"
#include "scepd/keys.h"
#include "testlib.h"

#define PASSPHRASE "s3cret passphrase"

static char *test_dir;

/* Helpers */

static void
write_file(const char *name, const char *text)
{
	char path[PATH_MAX * 2];

	testlib_write_file(testlib_path(path, sizeof(path), test_dir, name), text);
}

static FILE *
open_file(const char *name, const char *mode)
{
	char path[PATH_MAX * 2];
	FILE *f;

	testlib_path(path, sizeof(path), test_dir, name);
	assert_non_null(f = fopen(path, mode));
	return f;
}

static X509 *
make_cert(EVP_PKEY *key, const char *cn)
{
	char subject[128];

	snprintf(subject, sizeof(subject), "/CN=%s", cn);
	return testlib_cert_make(&(struct testlib_cert){
		.key = key,
		.subject = subject,
		.serial = 1,
		.not_before = 0,
		.not_after = 86400,
	});
}

/* NAME.key and NAME.pem; encrypted as well as NAME-enc.key when asked. */
static void
make_key_and_cert(const char *base, EVP_PKEY *key, bool encrypted)
{
	char name[64];
	X509 *cert = make_cert(key, base);
	FILE *f;

	snprintf(name, sizeof(name), "%s.key", base);
	f = open_file(name, "w");
	assert_int_equal(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	fclose(f);
	snprintf(name, sizeof(name), "%s.pem", base);
	f = open_file(name, "w");
	assert_int_equal(PEM_write_X509(f, cert), 1);
	fclose(f);
	if (encrypted) {
		snprintf(name, sizeof(name), "%s-enc.key", base);
		f = open_file(name, "w");
		assert_int_equal(PEM_write_PKCS8PrivateKey(f, key, EVP_aes_256_cbc(), NULL, 0, NULL,
							   (void *)PASSPHRASE),
				 1);
		fclose(f);
	}
	X509_free(cert);
}

/* chain.pem: rsa.pem (the signer) then ec.pem (standing in for the root). */
static void
make_chain(void)
{
	char buf[8192];
	FILE *out = open_file("chain.pem", "w");
	const char *parts[] = { "rsa.pem", "ec.pem" };

	for (size_t i = 0; i < 2; i++) {
		FILE *in = open_file(parts[i], "r");
		size_t n = fread(buf, 1, sizeof(buf), in);

		fwrite(buf, 1, n, out);
		fclose(in);
	}
	fclose(out);
}

static int
setup(void **state)
{
	EVP_PKEY *rsa, *ec;

	(void)state;
	test_dir = testlib_tmpdir("test_keys");
	rsa = testlib_rsa_key(2048);
	ec = testlib_ec_key("P-256");
	make_key_and_cert("rsa", rsa, true);
	make_key_and_cert("ec", ec, true);
	make_chain();
	write_file("pass.txt", PASSPHRASE "\n");
	write_file("pass-crlf.txt", PASSPHRASE "\r\n");
	write_file("pass-bare.txt", PASSPHRASE);
	write_file("wrong-pass.txt", "not the passphrase\n");
	write_file("empty-pass.txt", "\n");
	write_file("garbage.pem", "this is no PEM file\n");
	write_file("gone.pem", "removed after the configuration is loaded\n");
	write_file("pass-cred", PASSPHRASE "\n"); /* $CREDENTIALS_DIRECTORY/pass-cred */
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	testlib_rmtree(test_dir);
	free(test_dir);
	test_dir = NULL;
	return 0;
}

static struct scepd_config *
load_config(const char *text)
{
	struct config_errors errs = { 0 };
	struct scepd_config *cfg = NULL;
	int r;

	r = config_load_string(text, "t.conf", test_dir, &cfg, &errs);
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "config: %s\n", errs.v[i]);
	config_errors_clear(&errs);
	assert_int_equal(r, 0);
	return cfg;
}

/* Tests */

static const struct keys_ok_case {
	const char *name;
	const char *config;
	int chain; /* certificates in ca_chain */
	bool next, ra;
} keys_ok_cases[] = {
	{ "RSA key file", "ca = { certificate = \"rsa.pem\"; key = \"rsa.key\"; };", 1, false,
	  false },
	{ "EC key file", "ca = { certificate = \"ec.pem\"; key = \"ec.key\"; };", 1, false, false },
	{ "chain, signer first", "ca = { certificate = \"chain.pem\"; key = \"rsa.key\"; };", 2,
	  false, false },
	{ "next certificate",
	  "ca = { certificate = \"rsa.pem\"; key = \"rsa.key\"; next_certificate = \"ec.pem\"; };",
	  1, true, false },
	{ "encrypted, passphrase file with newline",
	  "ca = { certificate = \"rsa.pem\"; key = \"rsa-enc.key\"; "
	  "key_passphrase = \"file:pass.txt\"; };",
	  1, false, false },
	{ "encrypted, passphrase file with CRLF",
	  "ca = { certificate = \"rsa.pem\"; key = \"rsa-enc.key\"; "
	  "key_passphrase = \"file:pass-crlf.txt\"; };",
	  1, false, false },
	{ "encrypted, passphrase file without newline",
	  "ca = { certificate = \"ec.pem\"; key = \"ec-enc.key\"; "
	  "key_passphrase = \"file:pass-bare.txt\"; };",
	  1, false, false },
	{ "encrypted, passphrase from the environment",
	  "ca = { certificate = \"rsa.pem\"; key = \"rsa-enc.key\"; "
	  "key_passphrase = \"env:TEST_KEYS_PASS\"; };",
	  1, false, false },
	{ "encrypted, passphrase as a credential",
	  "ca = { certificate = \"rsa.pem\"; key = \"rsa-enc.key\"; "
	  "key_passphrase = \"credential:pass-cred\"; };",
	  1, false, false },
	{ "RA key and certificate",
	  "ca = { certificate = \"rsa.pem\"; key = \"rsa.key\"; };\n"
	  "scep = { ra = { certificate = \"ec.pem\"; key = \"ec-enc.key\"; "
	  "key_passphrase = \"file:pass.txt\"; next_certificate = \"rsa.pem\"; }; };",
	  1, false, true },
};

static void
test_load_ok(void **state)
{
	(void)state;
	setenv("TEST_KEYS_PASS", PASSPHRASE, 1);
	setenv("CREDENTIALS_DIRECTORY", test_dir, 1);
	for (size_t i = 0; i < sizeof(keys_ok_cases) / sizeof(keys_ok_cases[0]); i++) {
		const struct keys_ok_case *c = &keys_ok_cases[i];
		struct scepd_config *cfg = load_config(c->config);
		struct keys_error err;
		struct keys *keys = NULL;
		int r;

		r = keys_load(cfg, &keys, &err);
		if (r < 0)
			fail_msg("%s: %d %s: %s", c->name, r, err.setting, err.message);
		assert_non_null(keys);
		assert_null(keys->engine);
		assert_non_null(keys->cas[0].key);
		assert_int_equal(sk_X509_num(keys->cas[0].chain), c->chain);
		assert_ptr_equal(keys_get0_ca_cert(keys, 0), sk_X509_value(keys->cas[0].chain, 0));
		assert_true(X509_check_private_key(keys_get0_ca_cert(keys, 0), keys->cas[0].key) ==
			    1);
		assert_int_equal(keys->cas[0].next != NULL, c->next);
		assert_int_equal(keys->ras[0].key != NULL, c->ra); /* profile "scep" */
		assert_int_equal(keys->ras[0].chain != NULL, c->ra);
		assert_int_equal(keys->ras[0].next != NULL, c->ra);
		assert_int_equal(keys->load_retries, 0);
		assert_int_equal(ERR_peek_error(), 0);
		keys_free(keys);
		config_free(cfg);
	}
	unsetenv("TEST_KEYS_PASS");
	unsetenv("CREDENTIALS_DIRECTORY");
}

static void
test_chain_order(void **state)
{
	struct scepd_config *cfg =
		load_config("ca = { certificate = \"chain.pem\"; key = \"rsa.key\"; };");
	struct keys_error err;
	struct keys *keys = NULL;
	char cn[64];

	(void)state;
	assert_int_equal(keys_load(cfg, &keys, &err), 0);
	X509_NAME_get_text_by_NID(X509_get_subject_name(keys_get0_ca_cert(keys, 0)), NID_commonName,
				  cn, sizeof(cn));
	assert_string_equal(cn, "rsa");
	X509_NAME_get_text_by_NID(X509_get_subject_name(sk_X509_value(keys->cas[0].chain, 1)),
				  NID_commonName, cn, sizeof(cn));
	assert_string_equal(cn, "ec");
	keys_free(keys);
	config_free(cfg);
	keys_free(NULL);
	assert_null(keys_get0_ca_cert(NULL, 0));
}

#define ENGINE_PRE(so, module)                                                                     \
	"engine = { id = \"dynamic\"; pre = ( (\"SO_PATH\", \"" so "\"), (\"ID\", \"pkcs11\"), "   \
	"(\"LIST_ADD\", \"1\"), (\"LOAD\")" module " ); pin = \"file:pass.txt\"; };\n"
#define TOKEN_KEY "ca = { certificate = \"rsa.pem\"; key = \"pkcs11:token=t;object=ca\"; };"

static const struct keys_fail_case {
	const char *name;
	const char *config;
	int r;
	const char *setting;
	const char *message; /* a part of it */
} keys_fail_cases[] = {
	{ "key and certificate differ", "ca = { certificate = \"ec.pem\"; key = \"rsa.key\"; };",
	  -EKEYREJECTED, "ca.key", "the key does not match the certificate in ca.certificate" },
	{ "same type, other key",
	  "ca = { certificate = \"rsa.pem\"; key = \"rsa.key\"; };\n"
	  "scep = { ra = { certificate = \"chain.pem\"; key = \"ec.key\"; }; };",
	  -EKEYREJECTED, "scep.ra.key",
	  "the key does not match the certificate in scep.ra.certificate" },
	{ "encrypted without passphrase",
	  "ca = { certificate = \"rsa.pem\"; key = \"rsa-enc.key\"; };", -EBADMSG, "ca.key",
	  "is encrypted and ca.key_passphrase is not set" },
	{ "wrong passphrase",
	  "ca = { certificate = \"rsa.pem\"; key = \"rsa-enc.key\"; "
	  "key_passphrase = \"file:wrong-pass.txt\"; };",
	  -EBADMSG, "ca.key_passphrase", "the passphrase does not decrypt" },
	{ "empty passphrase",
	  "ca = { certificate = \"rsa.pem\"; key = \"rsa-enc.key\"; "
	  "key_passphrase = \"file:empty-pass.txt\"; };",
	  -EBADMSG, "ca.key_passphrase", "the secret is empty" },
	{ "passphrase variable not set",
	  "ca = { certificate = \"rsa.pem\"; key = \"rsa-enc.key\"; "
	  "key_passphrase = \"env:TEST_KEYS_UNSET\"; };",
	  -ENOENT, "ca.key_passphrase", "the environment variable TEST_KEYS_UNSET is not set" },
	{ "credential without $CREDENTIALS_DIRECTORY",
	  "ca = { certificate = \"rsa.pem\"; key = \"rsa-enc.key\"; "
	  "key_passphrase = \"credential:pass-cred\"; };",
	  -ENOENT, "ca.key_passphrase", "needs $CREDENTIALS_DIRECTORY" },
	{ "RA passphrase file",
	  "ca = { certificate = \"rsa.pem\"; key = \"rsa.key\"; };\n"
	  "scep = { ra = { certificate = \"ec.pem\"; key = \"ec-enc.key\"; "
	  "key_passphrase = \"file:wrong-pass.txt\"; }; };",
	  -EBADMSG, "scep.ra.key_passphrase", "the passphrase does not decrypt" },
	{ "certificate file is no PEM",
	  "ca = { certificate = \"garbage.pem\"; key = \"rsa.key\"; };", -EBADMSG, "ca.certificate",
	  "no PEM certificate in" },
	{ "key file is no PEM", "ca = { certificate = \"rsa.pem\"; key = \"garbage.pem\"; };",
	  -EBADMSG, "ca.key", "no PEM private key in" },
	{ "next certificate is no PEM",
	  "ca = { certificate = \"rsa.pem\"; key = \"rsa.key\"; "
	  "next_certificate = \"garbage.pem\"; };",
	  -EBADMSG, "ca.next_certificate", "no PEM certificate in" },
	{ "file gone after the configuration was read",
	  "ca = { certificate = \"gone.pem\"; key = \"rsa.key\"; };", -ENOENT, "ca.certificate",
	  "No such file or directory" },
	{ "engine library missing", ENGINE_PRE("/nonexistent/engines/pkcs11.so", "") TOKEN_KEY,
	  -ENODEV, "engine.pre[0]",
	  "the engine library cannot be loaded: /nonexistent/engines/pkcs11.so: cannot open" },
	{ "PKCS#11 module missing",
	  ENGINE_PRE("/nonexistent/engines/pkcs11.so",
		     ", (\"MODULE_PATH\", \"/nonexistent/libnothing.so\")") TOKEN_KEY,
	  -ENODEV, "engine.pre[4]",
	  "the PKCS#11 module cannot be loaded: /nonexistent/libnothing.so: cannot open" },
	{ "no such engine", "engine = { id = \"scepd-no-such-engine\"; };\n" TOKEN_KEY, -ENODEV,
	  "engine.id", "no OpenSSL engine \"scepd-no-such-engine\"" },
};

static void
test_load_fails(void **state)
{
	(void)state;
	unsetenv("CREDENTIALS_DIRECTORY");
	unsetenv("PKCS11_MODULE_PATH");
	for (size_t i = 0; i < sizeof(keys_fail_cases) / sizeof(keys_fail_cases[0]); i++) {
		const struct keys_fail_case *c = &keys_fail_cases[i];
		struct scepd_config *cfg = load_config(c->config);
		struct keys_error err;
		struct keys *keys = (struct keys *)&err; /* must stay untouched */
		char path[PATH_MAX * 2];
		int r;

		if (strstr(c->config, "gone.pem") != NULL) {
			snprintf(path, sizeof(path), "%s/gone.pem", test_dir);
			unlink(path);
		}
		r = keys_load(cfg, &keys, &err);
		if (r != c->r || strcmp(err.setting, c->setting) != 0 ||
		    strstr(err.message, c->message) == NULL)
			fail_msg("%s: got %d %s: %s", c->name, r, err.setting, err.message);
		assert_ptr_equal(keys, (struct keys *)&err);
		assert_false(err.fatal);
		assert_null(strchr(err.message, '\n'));
		assert_null(strstr(err.message, PASSPHRASE));
		assert_int_equal(ERR_peek_error(), 0);
		config_free(cfg);
	}
}

/* A made-up error library with the name libp11's engine registers, as the engine does. */
static int
fake_lib(const char *name)
{
	static ERR_STRING_DATA strings[4][2];
	static int n;
	int lib = ERR_get_next_error_library();

	assert_true(n < 4);
	strings[n][0] = (ERR_STRING_DATA){ ERR_PACK(lib, 0, 0), name };
	strings[n][1] = (ERR_STRING_DATA){ 0, NULL };
	assert_int_equal(ERR_load_strings(lib, strings[n]), 1);
	n++;
	return lib;
}

static void
push_error(int lib, int reason)
{
	ERR_new();
	ERR_set_debug("p11_rsa.c", 120, "ERR_CKR_error");
	ERR_set_error(lib, reason, NULL);
}

static void
test_token_lost(void **state)
{
	/* CKR_ values: the token or its session is gone, or it is not. */
	static const struct {
		int ckr;
		bool lost;
	} cases[] = {
		{ 0x005, true },  /* GENERAL_ERROR */
		{ 0x030, true },  /* DEVICE_ERROR */
		{ 0x032, true },  /* DEVICE_REMOVED */
		{ 0x060, true },  /* KEY_HANDLE_INVALID */
		{ 0x082, true },  /* OBJECT_HANDLE_INVALID: SoftHSM's token directory went away */
		{ 0x0B0, true },  /* SESSION_CLOSED */
		{ 0x0B3, true },  /* SESSION_HANDLE_INVALID */
		{ 0x0E0, true },  /* TOKEN_NOT_PRESENT */
		{ 0x0E1, true },  /* TOKEN_NOT_RECOGNIZED */
		{ 0x101, true },  /* USER_NOT_LOGGED_IN */
		{ 0x190, true },  /* CRYPTOKI_NOT_INITIALIZED */
		{ 0x006, false }, /* FUNCTION_FAILED */
		{ 0x031, false }, /* DEVICE_MEMORY */
		{ 0x068, false }, /* KEY_FUNCTION_NOT_PERMITTED */
		{ 0x070, false }, /* MECHANISM_INVALID */
		{ 0x0A0, false }, /* PIN_INCORRECT */
		{ 0x0A4, false }, /* PIN_LOCKED */
		{ 0x0B1, false }, /* SESSION_COUNT */
		{ 0x150, false }, /* BUFFER_TOO_SMALL */
	};
	int ckr = fake_lib("PKCS#11 module"), p11 = fake_lib("libp11"), other = fake_lib("other");
	unsigned long first, last;

	(void)state;
	ERR_clear_error();
	assert_false(keys_token_lost());
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ERR_raise(ERR_LIB_EVP, ERR_R_PASSED_NULL_PARAMETER);
		push_error(ckr, cases[i].ckr);
		ERR_raise_data(ERR_LIB_RSA, RSA_R_BAD_SIGNATURE, "text %d", 1);
		first = ERR_peek_error();
		last = ERR_peek_last_error();
		if (keys_token_lost() != cases[i].lost)
			fail_msg("CKR 0x%x: expected %s", cases[i].ckr,
				 cases[i].lost ? "lost" : "not lost");
		/* Peeked, not cleared: the same three errors, in the same order. */
		assert_int_equal(ERR_peek_error(), first);
		assert_int_equal(ERR_peek_last_error(), last);
		assert_int_equal(ERR_get_error(), first);
		assert_int_equal(ERR_GET_LIB(ERR_get_error()), ckr);
		assert_int_equal(ERR_get_error(), last);
		assert_int_equal(ERR_get_error(), 0);
	}
	/* libp11's "no session", and a DEVICE_REMOVED value from some other library. */
	push_error(p11, 1029);
	assert_true(keys_token_lost());
	ERR_clear_error();
	push_error(other, 0x032);
	assert_false(keys_token_lost());
	ERR_clear_error();
}

/* keys_uri_redact(): what an audit record may name of ca.key. */
static const struct redact_case {
	const char *uri;
	size_t size;
	int r;
	const char *out;
} redact_cases[] = {
	{ "pkcs11:token=ca;object=key;pin-value=THEPIN", 256, 0, "pkcs11:token=ca;object=key" },
	{ "pkcs11:pin-value=THEPIN;token=ca;object=key", 256, 0, "pkcs11:token=ca;object=key" },
	{ "pkcs11:token=ca;pin-value=THEPIN;object=key", 256, 0, "pkcs11:token=ca;object=key" },
	{ "pkcs11:token=ca;object=key?pin-value=THEPIN", 256, 0, "pkcs11:token=ca;object=key" },
	{ "pkcs11:token=ca?pin-source=file:/etc/pin&module-path=/m.so", 256, 0,
	  "pkcs11:token=ca?module-path=/m.so" },
	{ "pkcs11:token=ca?module-path=/m.so&pin-value=THEPIN&x=1", 256, 0,
	  "pkcs11:token=ca?module-path=/m.so&x=1" },
	{ "pkcs11:token=ca;pin-source=/etc/pin;pin-value=THEPIN?pin-value=THEPIN", 256, 0,
	  "pkcs11:token=ca" },
	{ "pkcs11:pin-value=THEPIN", 256, 0, "pkcs11:" },
	{ "pkcs11:token=pin-value=x;pin-valuex=1", 256, 0,
	  "pkcs11:token=pin-value=x;pin-valuex=1" },
	{ "pkcs11:token=ca;object=key", 256, 0, "pkcs11:token=ca;object=key" },
	{ "/etc/scepd/ca.key", 256, 0, "/etc/scepd/ca.key" },
	{ "pkcs11:token=ca;object=key;pin-value=THEPIN", 12, -ERANGE, "pkcs11:toke" },
	{ "pkcs11:pin-value=THEPIN;object=key", 10, -ERANGE, "pkcs11:ob" },
	{ "/etc/scepd/ca.key", 5, -ERANGE, "/etc" },
};

static void
test_uri_redact(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(redact_cases) / sizeof(redact_cases[0]); i++) {
		const struct redact_case *c = &redact_cases[i];
		char buf[256];
		int r = keys_uri_redact(c->uri, buf, c->size);

		if (r != c->r || strcmp(buf, c->out) != 0)
			fail_msg("%s: got %d \"%s\", not %d \"%s\"", c->uri, r, buf, c->r, c->out);
		assert_null(strstr(buf, "THEPIN"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_load_ok),    cmocka_unit_test(test_chain_order),
		cmocka_unit_test(test_load_fails), cmocka_unit_test(test_token_lost),
		cmocka_unit_test(test_uri_redact),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
