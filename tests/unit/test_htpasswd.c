/*
 * test_htpasswd.c - unit tests of htpasswd.c: the three kinds of hash taken (their
 * passwords right and wrong, an unknown user), every kind refused and every malformed
 * line with its line number, a name listed twice, a file without users or missing.
 * The hashes were made with openssl passwd -6, htpasswd -nbB -C 5 and Python's
 * crypt.crypt() with a $y$j9T$ setting (libxcrypt).
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

#include "scepd/htpasswd.h"
#include "testlib.h"

#define SHA512                                                                                     \
	"$6$abcdefgh$cp6z/RCDgmt/F/"                                                               \
	"L94nqIGUQh93wuIZnEHOEIxs5fIGLAVmkC7Kp.HJPxrF9icG0iUsSlOjUNn2yZlgfgRs05x0"
#define BCRYPT   "$2y$05$0bd85veTS7le2TooH7YxVOHAzbwl6/lDtr9/Kq1G51DJbX1Gnl1b."
#define YESCRYPT "$y$j9T$F5Jx5fExrKuJdOtMgfYmN1$XGJnKhNirFeA8GpQBs1KbNr7REDNV3c9.o9T8mEJxw7"

struct env {
	char *dir;
	char path[512];
};

static int
setup(void **state)
{
	struct env *env = calloc(1, sizeof(*env));

	assert_non_null(env);
	env->dir = testlib_tmpdir("test_htpasswd");
	testlib_path(env->path, sizeof(env->path), env->dir, "users");
	*state = env;
	return 0;
}

static int
teardown(void **state)
{
	struct env *env = *state;

	testlib_rmtree(env->dir);
	free(env->dir);
	free(env);
	return 0;
}

static void
test_verify(void **state)
{
	struct env *env = *state;
	struct htpasswd_error err;
	struct htpasswd *h = NULL;

	testlib_write_file(env->path, "# MDM accounts\n"
				      "\n"
				      "sha:" SHA512 "\n"
				      "bc:" BCRYPT "\r\n"
				      "yes:" YESCRYPT "\n");
	assert_int_equal(htpasswd_load(env->path, &h, &err), 0);
	assert_true(htpasswd_verify(h, "sha", "sha-pass"));
	assert_true(htpasswd_verify(h, "bc", "bc-pass"));
	assert_true(htpasswd_verify(h, "yes", "y-pass"));
	assert_false(htpasswd_verify(h, "sha", "bc-pass"));
	assert_false(htpasswd_verify(h, "bc", "sha-pass"));
	assert_false(htpasswd_verify(h, "yes", ""));
	assert_false(htpasswd_verify(h, "sha", "sha-pass\n"));
	assert_false(htpasswd_verify(h, "nobody", "sha-pass")); /* the dummy hash's password */
	assert_false(htpasswd_verify(h, "Sha", "sha-pass"));
	htpasswd_free(h);
	htpasswd_free(NULL);
}

static void
test_refused(void **state)
{
	static const struct {
		const char *text;
		unsigned line;
		const char *message; /* the start of it */
	} cases[] = {
		{ "a:" SHA512 "\nb:$1$abc$OGyl6dDvZCDiGmIVbeuCq/\n", 2,
		  "b: an MD5 crypt hash ($1$) is too weak; use yescrypt ($y$), SHA-512 ($6$) or "
		  "bcrypt ($2b$, $2y$)" },
		{ "a:$apr1$abc$51YrpNiEtKAQp4coykJmu.\n", 1,
		  "a: an Apache MD5 hash ($apr1$) is too weak" },
		{ "a:iSnXQCivDdgFU\n", 1, "a: a DES crypt hash is too weak" },
		{ "a:{SHA}EfatjsUqKYSrqv18O1FlA3hcIHI=\n", 1, "a: a {SHA} hash is too weak" },
		{ "a:$5$abc$sCOGUciM.GdmYMCUvmUcgu03oRH87O0clF96.9mwWGB\n", 1,
		  "a: a SHA-256 crypt hash ($5$) is not supported" },
		{ "a:$2a$05$0bd85veTS7le2TooH7YxVOHAzbwl6/lDtr9/Kq1G51DJbX1Gnl1b.\n", 1,
		  "a: a bcrypt hash of the old $2a$ kind is not supported" },
		{ "a:secret\n", 1, "a: not a supported hash (a password in plain text?)" },
		{ "a:\n", 1, "a: not a supported hash" },
		{ "# x\na:$6$abcdefgh$cp6z\n", 2, "a: a malformed hash" },
		{ "a:$2y$05$0bd85veTS7le2TooH7YxVOHAzbwl6/lDtr9/Kq1G51DJbX1Gnl1b\n", 1,
		  "a: a malformed hash" },
		{ "a:$y$j9T$F5Jx5fExrKuJdOtMgfYmN1$XGJnKhNirFeA8GpQBs1KbNr7REDNV3c9.o9T8mEJx!7\n",
		  1, "a: a malformed hash" },
		{ "a " SHA512 "\n", 1, "expected name:hash" },
		{ ":" SHA512 "\n", 1, "the name is empty" },
		{ "a\tb:" SHA512 "\n", 1,
		  "the name is empty, longer than 127 bytes or holds a "
		  "control character" },
		{ "a:" SHA512 "\nb:" BCRYPT "\na:" YESCRYPT "\n", 3,
		  "a: listed before, on line 1" },
		{ "# nobody yet\n\n", 0, "" }, /* the message names the path */
		{ "", 0, "" },
	};
	struct env *env = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct htpasswd_error err;
		struct htpasswd *h = NULL;

		testlib_write_file(env->path, cases[i].text);
		assert_int_equal(htpasswd_load(env->path, &h, &err), -EBADMSG);
		assert_null(h);
		if (err.line != cases[i].line ||
		    strncmp(err.message, cases[i].message, strlen(cases[i].message)) != 0)
			fail_msg("case %zu: line %u '%s', expected line %u '%s...'", i, err.line,
				 err.message, cases[i].line, cases[i].message);
		if (cases[i].line == 0)
			assert_non_null(strstr(err.message, "lists no users"));
	}
}

static void
test_missing(void **state)
{
	struct env *env = *state;
	struct htpasswd_error err;
	struct htpasswd *h = NULL;
	char path[600];

	snprintf(path, sizeof(path), "%s.none", env->path);
	assert_int_equal(htpasswd_load(path, &h, &err), -ENOENT);
	assert_int_equal(err.line, 0);
	assert_non_null(strstr(err.message, "No such file"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_verify),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_missing),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
