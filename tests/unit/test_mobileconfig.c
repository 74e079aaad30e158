/*
 * test_mobileconfig.c - unit tests of mobileconfig.c: the plist writer's escaping of
 * < & > " and its refusal of text XML cannot carry, base64 <data> against OpenSSL's
 * decoder, UUIDs (format, version, uniqueness), the --subject and --san parsers, the
 * policy check (a field or name the policy drops, a refusal) and the whole profile.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "scepd/mobileconfig.h"
#include "testlib.h"

/* What a writer made of one call, between the <plist> lines. */
static char *
test_plist(void (*fn)(struct mobileconfig_plist *, const void *), const void *arg, int *ret_err)
{
	struct mobileconfig_plist w;
	char *buf = NULL, *body;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	mobileconfig_plist_begin(&w, f);
	fn(&w, arg);
	*ret_err = mobileconfig_plist_end(&w);
	assert_int_equal(fclose(f), 0);
	body = strstr(buf, "<plist version=\"1.0\">\n");
	assert_non_null(body);
	body += strlen("<plist version=\"1.0\">\n");
	memmove(buf, body, strlen(body) + 1);
	*strstr(buf, "</plist>\n") = '\0';
	return buf;
}

static void
test_put_string(struct mobileconfig_plist *w, const void *arg)
{
	mobileconfig_plist_string(w, arg);
}

static const struct escape_case {
	const char *in;
	const char *out; /* NULL: refused (-EINVAL) */
} escape_cases[] = {
	{ "plain", "<string>plain</string>\n" },
	{ "<&>\"", "<string>&lt;&amp;&gt;&quot;</string>\n" },
	{ "a</string><key>x", "<string>a&lt;/string&gt;&lt;key&gt;x</string>\n" },
	{ "&amp;", "<string>&amp;amp;</string>\n" },
	{ "tab\tok", "<string>tab\tok</string>\n" },
	{ "Gr\xc3\xbc\xc3\x9f"
	  "e \xe2\x82\xac",
	  "<string>Gr\xc3\xbc\xc3\x9f"
	  "e \xe2\x82\xac</string>\n" },
	{ "", "<string></string>\n" },
	{ "bell\x07", NULL },
	{ "del\x7f", NULL },
	{ "esc\x1b[0m", NULL },
	{ "latin1 \xe9", NULL },       /* not UTF-8 */
	{ "overlong \xc0\xaf", NULL }, /* '/' in two bytes */
	{ "surrogate \xed\xa0\x80", NULL },
	{ "c1 \xc2\x85", NULL }, /* NEL */
	{ "cut \xe2\x82", NULL },
};

static void
test_escape(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(escape_cases) / sizeof(escape_cases[0]); i++) {
		const struct escape_case *c = &escape_cases[i];
		int err;
		char *out = test_plist(test_put_string, c->in, &err);

		if (c->out == NULL) {
			assert_int_equal(err, -EINVAL);
			assert_false(mobileconfig_text_valid(c->in));
		} else {
			assert_int_equal(err, 0);
			assert_string_equal(out, c->out);
			assert_true(mobileconfig_text_valid(c->in));
		}
		free(out);
	}
}

struct data_arg {
	const unsigned char *p;
	size_t len;
};

static void
test_put_data(struct mobileconfig_plist *w, const void *arg)
{
	const struct data_arg *d = arg;

	mobileconfig_plist_dict_begin(w);
	mobileconfig_plist_key(w, "k");
	mobileconfig_plist_data(w, d->p, d->len);
	mobileconfig_plist_dict_end(w);
}

/* Every length around the 48-byte lines: lines of 64, tabs, and the bytes back. */
static void
test_data(void **state)
{
	unsigned char bytes[200], back[300];

	(void)state;
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (unsigned char)(i * 37 + 11);
	for (size_t len = 0; len <= sizeof(bytes); len++) {
		struct data_arg d = { bytes, len };
		char *out, *p, *b64;
		size_t n = 0;
		int err, got;

		out = test_plist(test_put_data, &d, &err);
		assert_int_equal(err, 0);
		p = strstr(out, "\t<data>\n");
		assert_non_null(p);
		assert_non_null(strstr(out, "\t</data>\n"));
		b64 = calloc(1, strlen(out) + 1);
		assert_non_null(b64);
		for (p += strlen("\t<data>\n"); strncmp(p, "\t</data>", 8) != 0;) {
			size_t line;

			assert_memory_equal(p, "\t\t", 2);
			p += 2;
			line = strcspn(p, "\n");
			assert_true(line <= 64);
			assert_true(line % 4 == 0 && line > 0);
			memcpy(b64 + n, p, line);
			n += line;
			p += line + 1;
		}
		assert_int_equal(n, (len + 2) / 3 * 4);
		got = n > 0 ? EVP_DecodeBlock(back, (unsigned char *)b64, (int)n) : 0;
		/* EVP_DecodeBlock counts the padding's zero bytes too. */
		assert_int_equal(got, (int)((len + 2) / 3 * 3));
		assert_memory_equal(back, bytes, len);
		free(b64);
		free(out);
	}
}

static void
test_put_nested(struct mobileconfig_plist *w, const void *arg)
{
	(void)arg;
	mobileconfig_plist_dict_begin(w);
	mobileconfig_plist_key(w, "a&b");
	mobileconfig_plist_array_begin(w);
	mobileconfig_plist_integer(w, -5);
	mobileconfig_plist_array_end(w);
	mobileconfig_plist_dict_end(w);
}

static void
test_nesting(void **state)
{
	int err;
	char *out;

	(void)state;
	out = test_plist(test_put_nested, NULL, &err);
	assert_int_equal(err, 0);
	assert_string_equal(out, "<dict>\n"
				 "\t<key>a&amp;b</key>\n"
				 "\t<array>\n"
				 "\t\t<integer>-5</integer>\n"
				 "\t</array>\n"
				 "</dict>\n");
	free(out);
}

#define UUIDS 1000

static int
test_cmp_uuid(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
test_uuid(void **state)
{
	static char uuids[UUIDS][MOBILECONFIG_UUID_LEN + 1];

	(void)state;
	for (size_t i = 0; i < UUIDS; i++) {
		char *u = uuids[i];

		assert_int_equal(mobileconfig_uuid(u), 0);
		assert_int_equal(strlen(u), MOBILECONFIG_UUID_LEN);
		for (size_t j = 0; j < MOBILECONFIG_UUID_LEN; j++) {
			if (j == 8 || j == 13 || j == 18 || j == 23)
				assert_int_equal(u[j], '-');
			else
				assert_true(isxdigit((unsigned char)u[j]) &&
					    !islower((unsigned char)u[j]));
		}
		assert_int_equal(u[14], '4');           /* version 4 */
		assert_non_null(strchr("89AB", u[19])); /* RFC 4122 variant */
	}
	qsort(uuids, UUIDS, sizeof(uuids[0]), test_cmp_uuid);
	for (size_t i = 1; i < UUIDS; i++)
		assert_string_not_equal(uuids[i - 1], uuids[i]);
}

static const struct subject_case {
	const char *in;
	const char *rfc2253; /* NULL: -EINVAL */
} subject_cases[] = {
	{ "/CN=dev 1/O=Example", "O=Example,CN=dev 1" },
	{ "/C=DE/O=A\\/B/CN=x\\\\y", "CN=x\\\\y,O=A/B,C=DE" },
	{ "/2.5.4.3=by oid", "CN=by oid" },
	{ "/commonName=long", "CN=long" },
	{ "/CN=a=b", "CN=a=b" },
	{ "", NULL },
	{ "/", NULL },
	{ "CN=x", NULL },
	{ "/CN", NULL },
	{ "/CN=", NULL },
	{ "/=x", NULL },
	{ "/CN=x//O=y", NULL },
	{ "/NOPE=x", NULL },
	{ "/C=DEU", NULL }, /* a country is two letters */
	{ "/CN=a\\b", NULL },
	{ "/CN=new\nline", NULL },
	{ "/CN=\xe9", NULL },
};

static void
test_subject(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(subject_cases) / sizeof(subject_cases[0]); i++) {
		const struct subject_case *c = &subject_cases[i];
		X509_NAME *name = NULL;
		char buf[256];
		BIO *bio;
		int len;

		if (c->rfc2253 == NULL) {
			assert_int_equal(mobileconfig_parse_subject(c->in, &name), -EINVAL);
			assert_null(name);
			continue;
		}
		assert_int_equal(mobileconfig_parse_subject(c->in, &name), 0);
		bio = BIO_new(BIO_s_mem());
		assert_true(X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0);
		len = BIO_read(bio, buf, sizeof(buf) - 1);
		buf[len > 0 ? len : 0] = '\0';
		assert_string_equal(buf, c->rfc2253);
		BIO_free(bio);
		X509_NAME_free(name);
	}
}

static const struct san_case {
	const char *in;
	int r;
	enum mobileconfig_san_type type;
	const char *value;
} san_cases[] = {
	{ "dns:a.example", 0, MOBILECONFIG_SAN_DNS, "a.example" },
	{ "DNS:a.example", 0, MOBILECONFIG_SAN_DNS, "a.example" },
	{ "email:u@example.org", 0, MOBILECONFIG_SAN_EMAIL, "u@example.org" },
	{ "uri:https://x.example/p?q", 0, MOBILECONFIG_SAN_URI, "https://x.example/p?q" },
	{ "upn:u@corp.example", 0, MOBILECONFIG_SAN_UPN, "u@corp.example" },
	{ "dns:", -EINVAL, 0, NULL },
	{ "ip:192.0.2.1", -EINVAL, 0, NULL },
	{ "a.example", -EINVAL, 0, NULL },
	{ "dns:a b", -EINVAL, 0, NULL },
	{ "dns:a\n", -EINVAL, 0, NULL },
	{ "dns:\xc3\xa9", -EINVAL, 0, NULL },
};

static void
test_san(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(san_cases) / sizeof(san_cases[0]); i++) {
		const struct san_case *c = &san_cases[i];
		struct mobileconfig_san san = { 0 };

		assert_int_equal(mobileconfig_parse_san(c->in, &san), c->r);
		if (c->r == 0) {
			assert_int_equal(san.type, c->type);
			assert_string_equal(san.value, c->value);
		}
	}
}

/* A profile whose policy copies CN and O, and dNSName. */
static void
test_policy(void **state)
{
	struct config_field_rule subj[] = { { "CN", CONFIG_COUNT_UNLIMITED },
					    { "O", CONFIG_COUNT_UNLIMITED } };
	struct config_field_rule alt[] = { { "dNSName", CONFIG_COUNT_UNLIMITED } };
	struct config_profile p = { .name = "scep" };
	struct mobileconfig_san dns = { MOBILECONFIG_SAN_DNS, "a.example" };
	struct mobileconfig_san mail = { MOBILECONFIG_SAN_EMAIL, "u@example.org" };
	struct mobileconfig_san upn = { MOBILECONFIG_SAN_UPN, "u@corp.example" };
	X509_NAME *ok = NULL, *ou = NULL;
	char reason[256];

	(void)state;
	p.scep.subject.request = (struct config_field_rules){ subj, 2 };
	p.scep.subject_alt_name.request = (struct config_field_rules){ alt, 1 };
	assert_int_equal(mobileconfig_parse_subject("/CN=dev/O=Example", &ok), 0);
	assert_int_equal(mobileconfig_parse_subject("/CN=dev/OU=Lab", &ou), 0);
	assert_int_equal(mobileconfig_check_policy(&p, ok, &dns, 1, NULL, reason, sizeof(reason)),
			 0);
	assert_int_equal(mobileconfig_check_policy(&p, ok, NULL, 0, NULL, reason, sizeof(reason)),
			 0);
	assert_int_equal(mobileconfig_check_policy(&p, ou, NULL, 0, NULL, reason, sizeof(reason)),
			 -EPERM);
	assert_non_null(strstr(reason, "OU"));
	assert_int_equal(mobileconfig_check_policy(&p, ok, &mail, 1, NULL, reason, sizeof(reason)),
			 -EPERM);
	assert_non_null(strstr(reason, "rfc822Name"));
	assert_int_equal(mobileconfig_check_policy(&p, ok, &upn, 1, NULL, reason, sizeof(reason)),
			 -EPERM);
	assert_non_null(strstr(reason, "ntPrincipalName"));
	/* Nothing left: refused, not merely cut short. */
	assert_int_equal(
		mobileconfig_check_policy(&p, NULL, &mail, 1, NULL, reason, sizeof(reason)),
		-EPERM);
	assert_non_null(strstr(reason, "refuses"));
	X509_NAME_free(ok);
	X509_NAME_free(ou);
}

/* The whole profile: the keys in place, keysizes Apple does not take refused. */
static void
test_write(void **state)
{
	EVP_PKEY *key = testlib_rsa_key(2048);
	X509 *ca = testlib_cert_make(&(struct testlib_cert){
		.key = key,
		.subject = "/CN=Test & <CA>",
		.not_after = 86400,
		.basic_constraints = "critical,CA:TRUE",
	});
	struct mobileconfig_san sans[] = { { MOBILECONFIG_SAN_DNS, "a.example" },
					   { MOBILECONFIG_SAN_UPN, "u@corp.example" },
					   { MOBILECONFIG_SAN_DNS, "b.example" } };
	struct mobileconfig_req req = {
		.url = "http://ca.example/scep?x=1&y=2",
		.name = "default",
		.identifier = "org.example.scepd.scep",
		.display_name = "SCEP enrolment (scep)",
		.challenge = "c<h>",
		.keysize = 2048,
		.sans = sans,
		.n_sans = 3,
		.ca = ca,
	};
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_int_equal(
		mobileconfig_parse_subject("/CN=dev/O=Example", (X509_NAME **)&req.subject), 0);
	f = open_memstream(&buf, &len);
	assert_int_equal(mobileconfig_write(f, &req), 0);
	fclose(f);
	assert_non_null(strstr(buf, "<string>http://ca.example/scep?x=1&amp;y=2</string>"));
	assert_non_null(strstr(buf, "<key>Challenge</key>\n\t\t\t\t<string>c&lt;h&gt;</string>"));
	assert_non_null(strstr(buf, "<key>Key Usage</key>\n\t\t\t\t<integer>5</integer>"));
	assert_non_null(strstr(buf, "<key>dNSName</key>\n\t\t\t\t\t<array>\n"
				    "\t\t\t\t\t\t<string>a.example</string>\n"
				    "\t\t\t\t\t\t<string>b.example</string>\n"));
	assert_non_null(strstr(buf, "<key>ntPrincipalName</key>\n"
				    "\t\t\t\t\t<string>u@corp.example</string>"));
	assert_non_null(strstr(buf, "<string>com.apple.security.root</string>"));
	assert_non_null(strstr(buf, "<string>Test &amp; &lt;CA&gt;</string>"));
	assert_non_null(strstr(buf, "<string>org.example.scepd.scep.ca</string>"));
	assert_non_null(strstr(buf, "<string>Configuration</string>"));
	free(buf);

	for (int bits = 512; bits <= 8192; bits += 512) {
		req.keysize = bits;
		buf = NULL;
		f = open_memstream(&buf, &len);
		assert_int_equal(mobileconfig_write(f, &req),
				 bits == 1024 || bits == 2048 || bits == 4096 ? 0 : -EINVAL);
		fclose(f);
		free(buf);
	}
	req.keysize = 2048;
	req.challenge = "no\x01pe";
	buf = NULL;
	f = open_memstream(&buf, &len);
	assert_int_equal(mobileconfig_write(f, &req), -EINVAL);
	fclose(f);
	free(buf);
	X509_NAME_free((X509_NAME *)req.subject);
	X509_free(ca);
	EVP_PKEY_free(key);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape),  cmocka_unit_test(test_data),
		cmocka_unit_test(test_nesting), cmocka_unit_test(test_uuid),
		cmocka_unit_test(test_subject), cmocka_unit_test(test_san),
		cmocka_unit_test(test_policy),  cmocka_unit_test(test_write),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
