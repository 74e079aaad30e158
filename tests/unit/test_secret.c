/*
 * test_secret.c - unit tests of secret.c: every source (credential:, file:, env:,
 * inline), the trailing newline rule, the messages and codes of each failure (never
 * with the value in them, buf wiped), and env: secrets wiped by secret_forget_env().
 *
 * Files are made in a temporary directory when the test starts.
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

#include "scepd/config.h"
#include "scepd/secret.h"

#define VALUE "s3cret value"

static char test_dir[PATH_MAX];

static void
write_file(const char *name, const char *text, size_t len)
{
	char path[PATH_MAX * 2];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", test_dir, name);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int
setup(void **state)
{
	char big[2048];

	(void)state;
	snprintf(test_dir, sizeof(test_dir), "/tmp/test_secret.XXXXXX");
	assert_non_null(mkdtemp(test_dir));
	write_file("lf", VALUE "\n", strlen(VALUE "\n"));
	write_file("crlf", VALUE "\r\n", strlen(VALUE "\r\n"));
	write_file("bare", VALUE, strlen(VALUE));
	write_file("two-lf", VALUE "\n\n", strlen(VALUE "\n\n"));
	write_file("empty", "", 0);
	write_file("only-lf", "\n", 1);
	write_file("nul", VALUE "\0x\n", strlen(VALUE) + 3);
	memset(big, 'x', sizeof(big));
	write_file("big", big, sizeof(big));
	write_file("cred", VALUE "\n", strlen(VALUE "\n"));
	return 0;
}

static int
teardown(void **state)
{
	char cmd[PATH_MAX + 16];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", test_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const struct secret_case {
	const char *name;
	enum config_secret_kind kind;
	const char *ref; /* a file name in test_dir for file: */
	int r;
	const char *value;   /* on success */
	const char *message; /* a part of it, on failure */
} secret_cases[] = {
	{ "file with LF", CONFIG_SECRET_FILE, "lf", 0, VALUE, NULL },
	{ "file with CRLF", CONFIG_SECRET_FILE, "crlf", 0, VALUE, NULL },
	{ "file without newline", CONFIG_SECRET_FILE, "bare", 0, VALUE, NULL },
	{ "one newline only is removed", CONFIG_SECRET_FILE, "two-lf", 0, VALUE "\n", NULL },
	{ "empty file", CONFIG_SECRET_FILE, "empty", -EBADMSG, NULL, "the secret is empty" },
	{ "file of a newline", CONFIG_SECRET_FILE, "only-lf", -EBADMSG, NULL,
	  "the secret is empty" },
	{ "NUL byte", CONFIG_SECRET_FILE, "nul", -EBADMSG, NULL, "contains a NUL byte" },
	{ "file too long", CONFIG_SECRET_FILE, "big", -EBADMSG, NULL, "is longer than" },
	{ "no such file", CONFIG_SECRET_FILE, "missing", -ENOENT, NULL,
	  "No such file or directory" },
	{ "credential", CONFIG_SECRET_CREDENTIAL, "cred", 0, VALUE, NULL },
	{ "no such credential", CONFIG_SECRET_CREDENTIAL, "missing", -ENOENT, NULL, "cannot read" },
	{ "variable", CONFIG_SECRET_ENV, "TEST_SECRET_VALUE", 0, VALUE, NULL },
	{ "variable not set", CONFIG_SECRET_ENV, "TEST_SECRET_UNSET", -ENOENT, NULL,
	  "the environment variable TEST_SECRET_UNSET is not set" },
	{ "inline", CONFIG_SECRET_INLINE, VALUE, 0, VALUE, NULL },
	{ "inline with LF", CONFIG_SECRET_INLINE, VALUE "\n", 0, VALUE, NULL },
	{ "not set", CONFIG_SECRET_NONE, NULL, -ENOENT, NULL, "not set" },
};

static void
test_read(void **state)
{
	(void)state;
	assert_int_equal(setenv("CREDENTIALS_DIRECTORY", test_dir, 1), 0);
	assert_int_equal(setenv("TEST_SECRET_VALUE", VALUE, 1), 0);
	unsetenv("TEST_SECRET_UNSET");
	for (size_t i = 0; i < sizeof(secret_cases) / sizeof(secret_cases[0]); i++) {
		const struct secret_case *c = &secret_cases[i];
		struct secret_error err = { 0 };
		char path[PATH_MAX * 2], buf[1024];
		struct config_secret sec = { c->kind, (char *)c->ref };
		int r;

		if (c->kind == CONFIG_SECRET_FILE) {
			snprintf(path, sizeof(path), "%s/%s", test_dir, c->ref);
			sec.ref = path;
		}
		memset(buf, 'Z', sizeof(buf));
		r = secret_read(&sec, "test.secret", buf, sizeof(buf), &err);
		if (r != c->r)
			fail_msg("%s: got %d: %s", c->name, r, err.message);
		if (r == 0) {
			assert_string_equal(buf, c->value);
			continue;
		}
		if (strcmp(err.setting, "test.secret") != 0 ||
		    strstr(err.message, c->message) == NULL)
			fail_msg("%s: got %s: %s", c->name, err.setting, err.message);
		assert_null(strchr(err.message, '\n'));
		assert_null(strstr(err.message, VALUE));
		for (size_t k = 0; k < sizeof(buf); k++)
			if (buf[k] != '\0')
				fail_msg("%s: buf[%zu] not wiped", c->name, k);
	}
	unsetenv("CREDENTIALS_DIRECTORY");
	unsetenv("TEST_SECRET_VALUE");
}

/* credential: without $CREDENTIALS_DIRECTORY says where the name should come from. */
static void
test_credential_no_dir(void **state)
{
	const struct config_secret sec = { CONFIG_SECRET_CREDENTIAL, (char *)"cred" };
	struct secret_error err = { 0 };
	char buf[64];

	(void)state;
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(secret_read(&sec, "engine.pin", buf, sizeof(buf), &err), -ENOENT);
	assert_string_equal(err.setting, "engine.pin");
	assert_non_null(strstr(err.message, "needs $CREDENTIALS_DIRECTORY"));
}

/*
 * env: secrets can be read as often as set-up needs (engine retries, one variable for
 * two settings); secret_forget_env() then wipes and unsets those read, and only
 * those, and a later read says why it fails. Runs last: it changes secret.c's state.
 */
static void
test_env_forget(void **state)
{
	const struct config_secret pin = { CONFIG_SECRET_ENV, (char *)"TEST_KEYS_PIN" };
	const char zeros[sizeof("TEST_KEYS_PIN=123456")] = { 0 };
	struct secret_error err = { 0 };
	char buf[64], *entry;

	(void)state;
	assert_int_equal(setenv("TEST_KEYS_PIN", "123456", 1), 0);
	assert_int_equal(setenv("TEST_KEYS_OTHER", "kept", 1), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(secret_read(&pin, "engine.pin", buf, sizeof(buf), &err), 0);
		assert_string_equal(buf, "123456");
	}
	/* glibc never frees the strings setenv() made: the wipe can be looked at. */
	entry = getenv("TEST_KEYS_PIN") - strlen("TEST_KEYS_PIN=");
	secret_forget_env();
	assert_null(getenv("TEST_KEYS_PIN"));
	assert_memory_equal(entry, zeros, sizeof(zeros) - 1);
	assert_string_equal(getenv("TEST_KEYS_OTHER"), "kept");
	assert_int_equal(secret_read(&pin, "engine.pin", buf, sizeof(buf), &err), -ENOENT);
	assert_string_equal(err.setting, "engine.pin");
	assert_non_null(strstr(err.message, "TEST_KEYS_PIN is cleared once set-up was done"));
	unsetenv("TEST_KEYS_OTHER");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read),
		cmocka_unit_test(test_credential_no_dir),
		cmocka_unit_test(test_env_forget),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
