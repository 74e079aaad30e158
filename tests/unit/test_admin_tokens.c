/*
 * test_admin_tokens.c - unit tests of admin_tokens.c: a token made by
 * admin_tokens_new() verifies against its own line and no other; a wrong secret, an
 * unknown ID and malformed tokens are refused with their codes; every malformed file
 * line is a load error naming its line; scopes grant what they say (challenge:* any
 * profile, challenge:A only A); and the PBKDF2 cost of one verification.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "scepd/admin_tokens.h"
#include "testlib.h"

static char *test_dir;

/* A file of the lines given, loaded: the tokens, or NULL and *ret_err. */
static int
load_lines(const char *text, struct admin_tokens **ret, struct admin_tokens_error *err)
{
	char path[4096];

	testlib_path(path, sizeof(path), test_dir, "tokens");
	testlib_write_file(path, text);
	return admin_tokens_load(path, ret, err);
}

static void
new_token(const char *name, const char *const *scopes, size_t n, char token[ADMIN_TOKENS_TOKEN_MAX],
	  char **line)
{
	assert_int_equal(admin_tokens_new(name, scopes, n, ADMIN_TOKENS_ITER_MIN, token, line), 0);
}

static void
test_good_and_bad(void **state)
{
	static const char *const scopes_a[] = { "challenge:ios", "read" };
	static const char *const scopes_b[] = { "challenge:*", "revoke", "approve" };
	char tok_a[ADMIN_TOKENS_TOKEN_MAX], tok_b[ADMIN_TOKENS_TOKEN_MAX], id[17];
	char *line_a = NULL, *line_b = NULL, *text = NULL, wrong[ADMIN_TOKENS_TOKEN_MAX];
	struct admin_tokens *t = NULL;
	struct admin_tokens_error err;
	const struct admin_token *got = NULL;
	(void)state;

	new_token("mdm-a", scopes_a, 2, tok_a, &line_a);
	new_token("mdm.b", scopes_b, 3, tok_b, &line_b);
	assert_int_equal(strlen(tok_a), ADMIN_TOKENS_TOKEN_MAX - 1);
	assert_int_equal(strncmp(tok_a, "scepd_", 6), 0);
	assert_null(strstr(line_a, tok_a + 23)); /* the secret is not in the line */
	assert_true(asprintf(&text, "# admin tokens\n\n%s\n%s\n", line_a, line_b) > 0);
	assert_int_equal(load_lines(text, &t, &err), 0);
	assert_int_equal(admin_tokens_count(t), 2);

	/* good tokens: each is its own line's */
	assert_int_equal(admin_tokens_verify(t, tok_a, &got), 0);
	assert_string_equal(got->name, "mdm-a");
	assert_true(admin_token_allows(got, "challenge:ios"));
	assert_false(admin_token_allows(got, "challenge:android"));
	assert_true(admin_token_allows(got, "read"));
	assert_false(admin_token_allows(got, "revoke"));
	assert_false(admin_token_allows(got, "approve"));
	assert_int_equal(admin_tokens_verify(t, tok_b, &got), 0);
	assert_string_equal(got->name, "mdm.b");
	assert_true(admin_token_allows(got, "challenge:android"));
	assert_true(admin_token_allows(got, "challenge:ios"));
	assert_false(admin_token_allows(got, "read"));

	/* wrong secret: the ID of A, one character of the secret changed */
	memcpy(wrong, tok_a, sizeof(wrong));
	wrong[30] = wrong[30] == 'A' ? 'B' : 'A';
	got = NULL;
	assert_int_equal(admin_tokens_verify(t, wrong, &got), -EACCES);
	assert_null(got);
	/* A's secret with B's ID */
	memcpy(wrong + 6, tok_b + 6, 16);
	assert_int_equal(admin_tokens_verify(t, wrong, &got), -EACCES);

	/* unknown ID */
	memcpy(wrong, tok_a, sizeof(wrong));
	memcpy(wrong + 6, "0000000000000000", 16);
	assert_int_equal(admin_tokens_verify(t, wrong, &got), -ENOENT);

	/* not a token's form */
	assert_int_equal(admin_tokens_verify(t, "", &got), -EBADMSG);
	assert_int_equal(admin_tokens_verify(t, "garbage", &got), -EBADMSG);
	assert_int_equal(admin_tokens_parse_id("garbage", id), -EBADMSG);
	memcpy(wrong, tok_a, sizeof(wrong));
	wrong[6] = 'A'; /* upper-case hex in the ID */
	assert_int_equal(admin_tokens_verify(t, wrong, &got), -EBADMSG);
	memcpy(wrong, tok_a, sizeof(wrong));
	wrong[40] = '=';
	assert_int_equal(admin_tokens_verify(t, wrong, &got), -EBADMSG);
	memcpy(wrong, tok_a, sizeof(wrong));
	wrong[strlen(wrong) - 1] = '\0'; /* one short */
	assert_int_equal(admin_tokens_verify(t, wrong, &got), -EBADMSG);
	assert_int_equal(admin_tokens_parse_id(tok_a, id), 0);
	assert_memory_equal(id, tok_a + 6, 16);

	admin_tokens_free(t);
	free(text);
	free(line_a);
	free(line_b);
}

static void
test_malformed_lines(void **state)
{
	static const char *const scopes[] = { "read" };
	static const struct {
		const char *line; /* %s: a good line's hash part */
		const char *why;
	} cases[] = {
		{ "no colons at all", "expected NAME:ID" },
		{ "name:0123456789abcdef:read", "expected NAME:ID" },
		{ "bad name!:0123456789abcdef:read:%s", "the name" },
		{ ":0123456789abcdef:read:%s", "the name" },
		{ "n:0123456789ABCDEF:read:%s", "the ID" },
		{ "n:0123456789abcde:read:%s", "the ID" },
		{ "n:0123456789abcdef:write:%s", "unknown scope" },
		{ "n:0123456789abcdef::%s", "expected one or more scopes" },
		{ "n:0123456789abcdef:read,,revoke:%s", "expected one or more scopes" },
		{ "n:0123456789abcdef:challenge:a b:%s", "unknown scope" },
		{ "n:0123456789abcdef:read:sha1$1000$AAAA$BBBB", "unknown hash" },
		{ "n:0123456789abcdef:read:pbkdf2-sha256$10$AAAAAAAAAAAAAAAAAAAAAA==$"
		  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		  "iteration" },
		{ "n:0123456789abcdef:read:pbkdf2-sha256$20000$AAAA$"
		  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		  "the salt" },
		{ "n:0123456789abcdef:read:pbkdf2-sha256$20000$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",
		  "the hash" },
		{ "n:0123456789abcdef:read:pbkdf2-sha256$20000$AAAAAAAAAAAAAAAAAAAAAA==",
		  "expected" },
	};
	char token[ADMIN_TOKENS_TOKEN_MAX], *good = NULL, *hash, *line = NULL, *text = NULL;
	struct admin_tokens *t = NULL;
	struct admin_tokens_error err;
	(void)state;

	new_token("good", scopes, 1, token, &good);
	hash = strrchr(good, ':') + 1;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *mark = strstr(cases[i].line, "%s");

		if (mark != NULL)
			assert_true(asprintf(&line, "%.*s%s%s", (int)(mark - cases[i].line),
					     cases[i].line, hash, mark + 2) > 0);
		else
			assert_non_null(line = strdup(cases[i].line));
		/* the bad line is line 3, after a comment and a good line */
		assert_true(asprintf(&text, "# x\n%s\n%s\n", good, line) > 0);
		t = NULL;
		if (load_lines(text, &t, &err) != -EBADMSG)
			fail_msg("case %zu (%s) loaded", i, line);
		assert_null(t);
		assert_int_equal(err.line, 3);
		if (strstr(err.message, cases[i].why) == NULL)
			fail_msg("case %zu: '%s' does not say '%s'", i, err.message, cases[i].why);
		free(line);
		free(text);
	}
	/* the same name twice, the same line twice */
	assert_true(asprintf(&text, "%s\n%s\n", good, good) > 0);
	assert_int_equal(load_lines(text, &t, &err), -EBADMSG);
	assert_int_equal(err.line, 2);
	free(text);
	/* a missing file */
	assert_int_equal(admin_tokens_load("/nonexistent/tokens", &t, &err), -ENOENT);
	assert_int_equal(err.line, 0);
	/* an empty file: no tokens, no error */
	assert_int_equal(load_lines("# none yet\n", &t, &err), 0);
	assert_int_equal(admin_tokens_count(t), 0);
	assert_int_equal(admin_tokens_verify(t, token, &(const struct admin_token *){ NULL }),
			 -ENOENT);
	admin_tokens_free(t);
	free(good);
}

static void
test_scopes_and_names(void **state)
{
	static const struct {
		const char *scope;
		bool valid;
		const char *profile;
	} cases[] = {
		{ "read", true, NULL },
		{ "revoke", true, NULL },
		{ "approve", true, NULL },
		{ "challenge:*", true, "*" },
		{ "challenge:ios", true, "ios" },
		{ "challenge:", false, NULL },
		{ "challenge", false, NULL },
		{ "challenge:a:b", false, NULL },
		{ "Read", false, NULL },
		{ "write", false, NULL },
		{ "", false, NULL },
	};
	static const char *const bad[] = { "nope" };
	char token[ADMIN_TOKENS_TOKEN_MAX], *line = NULL;
	const char *profile;
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(admin_tokens_scope_valid(cases[i].scope, &profile),
				 cases[i].valid);
		if (cases[i].profile != NULL)
			assert_string_equal(profile, cases[i].profile);
		else
			assert_null(profile);
	}
	assert_true(admin_tokens_name_valid("a"));
	assert_true(admin_tokens_name_valid("mdm-1.example_x"));
	assert_false(admin_tokens_name_valid(""));
	assert_false(admin_tokens_name_valid("a:b"));
	assert_false(admin_tokens_name_valid("a b"));
	assert_false(admin_tokens_name_valid(
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	assert_int_equal(admin_tokens_new("x", bad, 1, ADMIN_TOKENS_ITER, token, &line), -EINVAL);
	assert_int_equal(admin_tokens_new("x:y", bad, 0, ADMIN_TOKENS_ITER, token, &line), -EINVAL);
	assert_int_equal(
		admin_tokens_new("x", (const char *const[]){ "read" }, 1, 10, token, &line),
		-EINVAL);
}

/* What one verification costs at ADMIN_TOKENS_ITER (docs/api.md quotes it). */
static void
test_cost(void **state)
{
	static const char *const scopes[] = { "read" };
	char token[ADMIN_TOKENS_TOKEN_MAX], *line = NULL, *text = NULL;
	struct admin_tokens *t = NULL;
	struct admin_tokens_error err;
	const struct admin_token *got;
	struct timespec a, b;
	(void)state;

	assert_int_equal(admin_tokens_new("cost", scopes, 1, ADMIN_TOKENS_ITER, token, &line), 0);
	assert_true(asprintf(&text, "%s\n", line) > 0);
	assert_int_equal(load_lines(text, &t, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (int i = 0; i < 10; i++)
		assert_int_equal(admin_tokens_verify(t, token, &got), 0);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("# one verification at %d iterations: %.2f ms\n", ADMIN_TOKENS_ITER,
	       ((double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6) / 10);
	admin_tokens_free(t);
	free(text);
	free(line);
}

static int
setup(void **state)
{
	(void)state;
	test_dir = testlib_tmpdir("test_admin_tokens");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	testlib_rmtree(test_dir);
	free(test_dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_and_bad),
		cmocka_unit_test(test_malformed_lines),
		cmocka_unit_test(test_scopes_and_names),
		cmocka_unit_test(test_cost),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
