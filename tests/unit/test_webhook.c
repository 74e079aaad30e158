/*
 * test_webhook.c - unit tests of webhook.c: the request body has step-ca's
 * SCEPCHALLENGE fields (read back with jansson), its signature equals an HMAC-SHA256
 * computed here with OpenSSL's EVP_MAC (and RFC 4231's test vector), a challenge that
 * is not UTF-8 is refused, the answer parser's table (only a boolean allow is an
 * answer), webhook_new()'s checks, and a call to a closed port failing with a reason
 * that names the host and never the challenge or the key.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "scepd/webhook.h"
#include "testlib.h"

/* HMAC-SHA256 the other way: EVP_MAC, as lower-case hex. */
static void
hmac_hex(const unsigned char *key, size_t key_len, const char *data, size_t len, char *out)
{
	OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
								 (char *)"SHA256", 0),
				OSSL_PARAM_construct_end() };
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(mac);
	unsigned char md[32];
	size_t md_len = 0;

	assert_int_equal(EVP_MAC_init(ctx, key, key_len, params), 1);
	assert_int_equal(EVP_MAC_update(ctx, (const unsigned char *)data, len), 1);
	assert_int_equal(EVP_MAC_final(ctx, md, &md_len, sizeof(md)), 1);
	assert_int_equal(md_len, 32);
	for (size_t i = 0; i < md_len; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
}

static void
test_sign(void **state)
{
	const unsigned char key[] = { 0x00, 0xff, 0x10, 0x80, 'k', 'e', 'y' };
	const char body[] = "{\"scepChallenge\":\"x\"}";
	char got[WEBHOOK_SIGNATURE_LEN], want[WEBHOOK_SIGNATURE_LEN];

	(void)state;
	/* RFC 4231, test case 2 */
	assert_int_equal(webhook_sign((const unsigned char *)"Jefe", 4,
				      "what do ya want for nothing?", 28, got),
			 0);
	assert_string_equal(got,
			    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	assert_int_equal(webhook_sign(key, sizeof(key), body, strlen(body), got), 0);
	hmac_hex(key, sizeof(key), body, strlen(body), want);
	assert_string_equal(got, want);
}

static const char *
str_at(json_t *root, const char *path)
{
	json_t *v = root;
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = strtok_r(buf, ".", &save); p != NULL; p = strtok_r(NULL, ".", &save))
		v = json_object_get(v, p);
	return json_string_value(v);
}

static void
test_request_body(void **state)
{
	EVP_PKEY *key = testlib_ec_key("P-256");
	X509_REQ *csr = testlib_csr(key, "/C=DE/O=Acme/OU=Phones/CN=device 1",
				    "DNS:a.example,IP:192.0.2.1,email:x@a.example", "ch-1");
	const struct webhook_request req = { .profile = "iphone",
					     .challenge = "ch-1 \xc3\xa9",
					     .transaction_id = "TX42",
					     .csr = csr,
					     .client = "192.0.2.7" };
	unsigned char *der = NULL, *raw = NULL;
	json_t *root, *cr;
	json_error_t err;
	char *body = NULL;
	size_t len = 0, raw_len;
	int der_len;

	(void)state;
	assert_int_equal(webhook_request_body(&req, 86400 + 3661, &body, &len), 0);
	assert_int_equal(strlen(body), len);
	assert_non_null(root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err));
	assert_string_equal(str_at(root, "timestamp"), "1970-01-02T01:01:01Z");
	assert_string_equal(str_at(root, "provisionerName"), "iphone");
	assert_string_equal(str_at(root, "scepChallenge"), "ch-1 \xc3\xa9");
	assert_string_equal(str_at(root, "scepTransactionID"), "TX42");
	assert_string_equal(str_at(root, "clientAddress"), "192.0.2.7");
	assert_non_null(cr = json_object_get(root, "x509CertificateRequest"));
	assert_string_equal(str_at(cr, "subject.commonName"), "device 1");
	assert_string_equal(
		json_string_value(json_array_get(
			json_object_get(json_object_get(cr, "subject"), "organization"), 0)),
		"Acme");
	assert_string_equal(json_string_value(json_array_get(
				    json_object_get(json_object_get(cr, "subject"), "country"), 0)),
			    "DE");
	assert_string_equal(json_string_value(json_array_get(json_object_get(cr, "dnsNames"), 0)),
			    "a.example");
	assert_string_equal(
		json_string_value(json_array_get(json_object_get(cr, "ipAddresses"), 0)),
		"192.0.2.1");
	assert_string_equal(
		json_string_value(json_array_get(json_object_get(cr, "emailAddresses"), 0)),
		"x@a.example");
	assert_string_equal(str_at(cr, "publicKeyAlgorithm"), "ECDSA");
	assert_string_equal(str_at(cr, "signatureAlgorithm"), "ECDSA-SHA256");
	/* raw is the request's DER, base64 */
	assert_true((der_len = i2d_X509_REQ(csr, &der)) > 0);
	raw_len = strlen(str_at(cr, "raw"));
	assert_non_null(raw = malloc(raw_len));
	assert_true(EVP_DecodeBlock(raw, (const unsigned char *)str_at(cr, "raw"), (int)raw_len) >=
		    der_len);
	assert_memory_equal(raw, der, (size_t)der_len);
	assert_non_null(str_at(cr, "publicKey"));
	json_decref(root);
	free(raw);
	OPENSSL_free(der);
	free(body);
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
}

/* A challenge that is not UTF-8 cannot be sent: -EILSEQ, nothing allocated. */
static void
test_request_not_utf8(void **state)
{
	EVP_PKEY *key = testlib_ec_key("P-256");
	X509_REQ *csr = testlib_csr(key, "/CN=d", NULL, NULL);
	struct webhook_request req = {
		.profile = "p", .challenge = "bad \xff", .transaction_id = "T", .csr = csr
	};
	char *body = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(webhook_request_body(&req, 0, &body, &len), -EILSEQ);
	assert_null(body);
	req.challenge = NULL;
	assert_int_equal(webhook_request_body(&req, 0, &body, &len), -EILSEQ);
	X509_REQ_free(csr);
	EVP_PKEY_free(key);
}

static void
test_parse_response(void **state)
{
	static const struct {
		const char *body;
		int r;
		bool allow;
		const char *reason;
	} cases[] = {
		{ "{\"allow\": true}", 0, true, "" },
		{ "{\"allow\":true,\"data\":{\"x\":[1,2]}}", 0, true, "" },
		{ " {\"allow\": false} \n", 0, false, "" },
		{ "{\"allow\": false, \"error\": {\"code\": \"c1\", \"message\": \"no\\nway\"}}", 0,
		  false, "no?way (c1)" },
		{ "{\"allow\": false, \"error\": {\"message\": \"\\u00e9\"}}", 0, false, "??" },
		{ "{\"allow\": false, \"error\": \"text\"}", 0, false, "" },
		{ "", -EBADMSG, false, NULL },
		{ "null", -EBADMSG, false, NULL },
		{ "[true]", -EBADMSG, false, NULL },
		{ "{}", -EBADMSG, false, NULL },
		{ "{\"allow\": \"true\"}", -EBADMSG, false, NULL },
		{ "{\"allow\": 1}", -EBADMSG, false, NULL },
		{ "{\"allow\": null}", -EBADMSG, false, NULL },
		{ "{\"Allow\": true}", -EBADMSG, false, NULL },
		{ "{\"allow\": false, \"allow\": true}", -EBADMSG, false, NULL },
		{ "{\"allow\": true} {\"allow\": true}", -EBADMSG, false, NULL },
		{ "{\"allow\": true", -EBADMSG, false, NULL },
		{ "<html>ok</html>", -EBADMSG, false, NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct webhook_answer a = { .allow = true, .reason = "untouched" };
		int r = webhook_parse_response(cases[i].body, strlen(cases[i].body), &a);

		if (r != cases[i].r)
			fail_msg("case %zu '%s': %d, want %d", i, cases[i].body, r, cases[i].r);
		if (r < 0) {
			assert_true(a.allow); /* not written on failure */
			assert_string_equal(a.reason, "untouched");
			continue;
		}
		assert_int_equal(a.allow, cases[i].allow);
		assert_string_equal(a.reason, cases[i].reason);
	}
}

static void
test_new(void **state)
{
	const unsigned char key[] = "0123456789abcdef";
	struct webhook_params p = { .url = "http://127.0.0.1:1/scep/validate?x=1",
				    .key = key,
				    .key_len = 16,
				    .id = "scepd",
				    .timeout = 2 };
	struct webhook *wh = NULL;

	(void)state;
	assert_int_equal(webhook_new(&p, &wh), 0);
	assert_string_equal(webhook_get0_host(wh), "127.0.0.1");
	webhook_free(wh);
	wh = NULL;
	p.id = "two\r\nX-Injected: 1"; /* a header value stays one line */
	assert_int_equal(webhook_new(&p, &wh), -EINVAL);
	p.id = "scepd";
	p.key_len = 0;
	assert_int_equal(webhook_new(&p, &wh), -EINVAL);
	p.key_len = 16;
	p.url = "not a url";
	assert_int_equal(webhook_new(&p, &wh), -EINVAL);
	assert_null(wh);
	webhook_free(NULL);
}

/* Nothing listens on port 1: an error naming the host, never the challenge or key. */
static void
test_check_unreachable(void **state)
{
	const unsigned char key[] = "the-hmac-key-bytes";
	EVP_PKEY *pkey = testlib_ec_key("P-256");
	X509_REQ *csr = testlib_csr(pkey, "/CN=d", NULL, NULL);
	struct webhook_answer a = { .allow = true };
	struct webhook *wh = NULL;
	char why[256] = "";
	int r;

	(void)state;
	assert_int_equal(webhook_global_init(), 0);
	assert_int_equal(webhook_new(&(struct webhook_params){ .url = "http://127.0.0.1:1/v",
							       .key = key,
							       .key_len = sizeof(key) - 1,
							       .id = "scepd",
							       .timeout = 2 },
				     &wh),
			 0);
	r = webhook_check(wh,
			  &(struct webhook_request){ .profile = "p",
						     .challenge = "secret-challenge-123",
						     .transaction_id = "T",
						     .csr = csr,
						     .client = "::1" },
			  &a, why, sizeof(why));
	assert_true(r == -ECONNREFUSED || r == -EIO);
	assert_true(a.allow); /* not written on failure */
	assert_non_null(strstr(why, "webhook 127.0.0.1: "));
	assert_null(strstr(why, "secret-challenge-123"));
	assert_null(strstr(why, "the-hmac-key"));
	webhook_free(wh);
	X509_REQ_free(csr);
	EVP_PKEY_free(pkey);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign),
		cmocka_unit_test(test_request_body),
		cmocka_unit_test(test_request_not_utf8),
		cmocka_unit_test(test_parse_response),
		cmocka_unit_test(test_new),
		cmocka_unit_test(test_check_unreachable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
