/*
 * test_basic_auth.c - unit tests of basic_auth.c: the scheme, the base64 (padded or
 * not, malformed), the split at the first ':', control characters, the length limits,
 * and that nothing of a refused header is left in the result.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "scepd/basic_auth.h"

static const struct {
	const char *header;
	int r;
	const char *user, *password;
} cases[] = {
	{ "Basic YWxpY2U6c2VjcmV0", 0, "alice", "secret" },
	{ "basic YWxpY2U6c2VjcmV0", 0, "alice", "secret" },     /* the scheme in any case */
	{ "BASIC   YWxpY2U6c2VjcmV0  ", 0, "alice", "secret" }, /* spaces around */
	{ "Basic Ym9iOg==", 0, "bob", "" },                     /* an empty password */
	{ "Basic Ym9iOg", 0, "bob", "" },                       /* padding left out */
	{ "Basic Ym9iOnBhOnNz", 0, "bob", "pa:ss" },            /* ':' in the password */
	{ "Basic SsO8cmdlbjpww6Rzcw==", 0, "J\xc3\xbcrgen", "p\xc3\xa4ss" }, /* UTF-8 */
	{ NULL, -ENOENT, NULL, NULL },
	{ "", -ENOENT, NULL, NULL },
	{ "Bearer YWxpY2U6c2VjcmV0", -ENOENT, NULL, NULL },
	{ "NTLM TlRMTVNTUAABAAAAB4IIogAAAAAAAAAAAAAAAAAAAAAGAbEdAAAADw==", -ENOENT, NULL, NULL },
	{ "BasicYWxpY2U6c2VjcmV0", -ENOENT, NULL, NULL }, /* no space after the scheme */
	{ "Basic", -EBADMSG, NULL, NULL },
	{ "Basic ", -EBADMSG, NULL, NULL },
	{ "Basic !!!!", -EBADMSG, NULL, NULL },
	{ "Basic YWxpY2U6c2VjcmV0=", -EBADMSG, NULL, NULL }, /* padding that does not fit */
	{ "Basic Ym9iOg=", -EBADMSG, NULL, NULL },
	{ "Basic Ym9iO", -EBADMSG, NULL, NULL },              /* a lone sixth of a byte */
	{ "Basic YWxp Y2U6c2VjcmV0", -EBADMSG, NULL, NULL },  /* a space inside */
	{ "Basic Ym9i=Og==", -EBADMSG, NULL, NULL },          /* '=' inside */
	{ "Basic YWxpY2U6c2VjcmV0\t", 0, "alice", "secret" }, /* a trailing tab */
	{ "Basic bm9jb2xvbg==", -EBADMSG, NULL, NULL },       /* "nocolon" */
	{ "Basic Om5vdXNlcg==", -EBADMSG, NULL, NULL },       /* ":nouser" */
	{ "Basic YQpiOmM=", -EBADMSG, NULL, NULL },           /* "a\nb:c" */
	{ "Basic dTpwfw==", -EBADMSG, NULL, NULL },           /* DEL in the password */
	{ "Basic dTpwAA==", -EBADMSG, NULL, NULL },           /* NUL in the password */
};

static void
test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct basic_auth a;
		int r;

		memset(&a, 'x', sizeof(a));
		r = basic_auth_parse(cases[i].header, &a);
		if (r != cases[i].r)
			fail_msg("'%s': %d, expected %d",
				 cases[i].header ? cases[i].header : "(null)", r, cases[i].r);
		if (r == 0) {
			assert_string_equal(a.user, cases[i].user);
			assert_string_equal(a.password, cases[i].password);
		} else {
			static const struct basic_auth zero;

			assert_memory_equal(&a, &zero, sizeof(a)); /* wiped */
		}
	}
}

/* "Basic " + base64 of a user of ulen 'u' and a password of plen 'p'. */
static char *
header_of(size_t ulen, size_t plen)
{
	size_t n = ulen + 1 + plen;
	unsigned char *raw = malloc(n);
	char *h = malloc(6 + 4 * (n / 3 + 1) + 1);

	assert_non_null(raw);
	assert_non_null(h);
	memset(raw, 'u', ulen);
	raw[ulen] = ':';
	memset(raw + ulen + 1, 'p', plen);
	memcpy(h, "Basic ", 6);
	EVP_EncodeBlock((unsigned char *)h + 6, raw, (int)n);
	free(raw);
	return h;
}

static void
test_limits(void **state)
{
	static const struct {
		size_t ulen, plen;
		int r;
	} limits[] = {
		{ BASIC_AUTH_USER_MAX - 1, BASIC_AUTH_PASSWORD_MAX - 1, 0 },
		{ BASIC_AUTH_USER_MAX, 1, -E2BIG },
		{ 1, BASIC_AUTH_PASSWORD_MAX, -E2BIG },
		{ 1, 4096, -E2BIG }, /* beyond the decoding buffer */
	};
	(void)state;
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		char *h = header_of(limits[i].ulen, limits[i].plen);
		struct basic_auth a;

		assert_int_equal(basic_auth_parse(h, &a), limits[i].r);
		if (limits[i].r == 0) {
			assert_int_equal(strlen(a.user), limits[i].ulen);
			assert_int_equal(strlen(a.password), limits[i].plen);
		}
		free(h);
	}
}

static void
test_clear(void **state)
{
	static const struct basic_auth zero;
	struct basic_auth a;

	(void)state;
	assert_int_equal(basic_auth_parse("Basic YWxpY2U6c2VjcmV0", &a), 0);
	basic_auth_clear(&a);
	assert_memory_equal(&a, &zero, sizeof(a));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_clear),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
