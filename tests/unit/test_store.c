/*
 * test_store.c - unit tests of store.c and store_sqlite.c: the URI schemes, creation
 * (file mode, schema version, WAL), add/get/count, duplicate serials, serial spelling,
 * persistence across opens, several processes writing at once, workers creating a new
 * database at the same moment, files that are not scepd's, PRAGMA integrity_check.
 *
 * Each test works in a fresh temporary directory, removed afterwards. The "DER" of
 * the test certificates is a byte pattern, not a certificate: the store never parses
 * it. The tests read the database directly with SQLite to see what the store wrote.
 */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "scepd/store.h"

#define DER_LEN      700
#define WRITERS      4
#define PER_WRITER   200
#define RACE_ROUNDS  20
#define RACE_OPENERS 4
#define SENTINEL     ((struct store *)0x5ca1ab1e)

struct test_env {
	char dir[PATH_MAX];
	char path[PATH_MAX + 32]; /* dir/scepd.db */
	char uri[PATH_MAX + 64];  /* sqlite:dir/scepd.db */
};

struct test_cert {
	char serial[32];
	char subject[64];
	unsigned char der[DER_LEN];
	struct store_cert c;
};

/* Helpers */

static void
test_cert_make(struct test_cert *t, unsigned id, const char *serial)
{
	size_t i;

	memset(t, 0, sizeof(*t));
	if (serial != NULL)
		snprintf(t->serial, sizeof(t->serial), "%s", serial);
	else
		snprintf(t->serial, sizeof(t->serial), "%X", 0x10000u + id);
	snprintf(t->subject, sizeof(t->subject), "CN=host%u.example", id);
	for (i = 0; i < sizeof(t->der); i++)
		t->der[i] = (unsigned char)(i * 31 + id * 7);
	t->der[0] = 0x30; /* looks like a SEQUENCE, for whoever reads the file */
	t->c = (struct store_cert){
		.serial = t->serial,
		.subject = t->subject,
		.sans = id % 2 ? "DNS:a.example, IP Address:192.0.2.1" : "",
		.not_before = 1700000000 + (time_t)id,
		.not_after = 1731536000 + (time_t)id,
		.der = t->der,
		.der_len = sizeof(t->der),
		.requester = "192.0.2.7",
		.endpoint = id % 2 ? "scep" : "csr",
		.transaction_id = id % 2 ? "7A1F0C" : NULL,
	};
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* The first column of the first row of sql, as text, from a connection of our own. */
static void
db_text(const char *path, const char *sql, char *buf, size_t size)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	snprintf(buf, size, "%s", (const char *)sqlite3_column_text(q, 0));
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static long long
db_int(const char *path, const char *sql)
{
	char buf[64];

	db_text(path, sql, buf, sizeof(buf));
	return strtoll(buf, NULL, 10);
}

static void
db_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void
assert_integrity(const char *path)
{
	char buf[64];

	db_text(path, "PRAGMA integrity_check", buf, sizeof(buf));
	assert_string_equal(buf, "ok");
	assert_int_equal(db_int(path, "SELECT count(*) FROM pragma_foreign_key_check"), 0);
}

static void
assert_mode_0600(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
}

static void
assert_cert_der(struct store *st, const char *serial, const struct test_cert *want)
{
	unsigned char *der = NULL;
	size_t len = 0;

	assert_int_equal(store_get_cert_der(st, serial, &der, &len), 0);
	assert_int_equal(len, want->c.der_len);
	assert_memory_equal(der, want->c.der, len);
	free(der);
}

static void
assert_count(struct store *st, uint64_t want)
{
	uint64_t n = 0;

	assert_int_equal(store_count_certs(st, &n), 0);
	assert_int_equal(n, want);
}

static int
setup(void **state)
{
	struct test_env *env;
	const char *tmp = getenv("TMPDIR");

	env = calloc(1, sizeof(*env));
	assert_non_null(env);
	snprintf(env->dir, sizeof(env->dir), "%s/test_store.XXXXXX", tmp ? tmp : "/tmp");
	assert_non_null(mkdtemp(env->dir));
	snprintf(env->path, sizeof(env->path), "%s/scepd.db", env->dir);
	snprintf(env->uri, sizeof(env->uri), "sqlite:%s", env->path);
	*state = env;
	return 0;
}

static int
teardown(void **state)
{
	struct test_env *env = *state;

	nftw(env->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(env);
	return 0;
}

/* Children: no cmocka in them, an exit status instead (0, or 100 + errno). */
static void
wait_go(int fd)
{
	char c;

	while (read(fd, &c, 1) < 0 && errno == EINTR)
		;
}

static void
child_add(const char *uri, int go_fd, unsigned first, unsigned n)
{
	struct test_cert t;
	struct store *st = NULL;
	unsigned i;
	int r;

	wait_go(go_fd);
	if ((r = store_open(uri, &st)) < 0)
		_exit(100 - r);
	for (i = first; i < first + n; i++) {
		test_cert_make(&t, i, NULL);
		if ((r = store_add_cert(st, &t.c)) < 0) {
			store_close(st);
			_exit(100 - r);
		}
	}
	store_close(st);
	_exit(0);
}

/* Forks n children adding per_child certificates each, all started at once. */
static void
run_children(const char *uri, unsigned n, unsigned per_child)
{
	pid_t pids[16];
	int go[2], status[16];
	unsigned i;

	assert_true(n <= 16);
	assert_int_equal(pipe(go), 0);
	for (i = 0; i < n; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			close(go[1]);
			child_add(uri, go[0], i * per_child, per_child);
		}
	}
	close(go[0]);
	close(go[1]); /* EOF on the pipe: every child starts now */
	/* Reap all of them before failing: teardown removes their files. */
	for (i = 0; i < n; i++)
		assert_int_equal(waitpid(pids[i], &status[i], 0), pids[i]);
	for (i = 0; i < n; i++) {
		assert_true(WIFEXITED(status[i]));
		if (WEXITSTATUS(status[i]) != 0)
			fail_msg("child %u: %s", i, strerror(WEXITSTATUS(status[i]) - 100));
	}
}

/* Tests */

static void
test_open_creates(void **state)
{
	struct test_env *env = *state;
	struct store *st = NULL;
	struct test_cert t;
	char buf[PATH_MAX + 64], text[1024];

	umask(022); /* SQLite alone would create 0644 */
	assert_int_equal(store_open(env->uri, &st), 0);
	assert_non_null(st);
	assert_mode_0600(env->path);
	assert_int_equal(db_int(env->path, "PRAGMA user_version"), 1);
	assert_int_equal(db_int(env->path, "PRAGMA application_id"), 0x53434550);
	db_text(env->path, "PRAGMA journal_mode", text, sizeof(text));
	assert_string_equal(text, "wal");
	db_text(env->path,
		"SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master "
		"WHERE name NOT LIKE 'sqlite_%' ORDER BY name)",
		text, sizeof(text));
	assert_string_equal(text,
			    "certificates certificates_transaction_id challenges pending_requests");
	assert_count(st, 0);

	test_cert_make(&t, 1, NULL);
	assert_int_equal(store_add_cert(st, &t.c), 0);
	snprintf(buf, sizeof(buf), "%s-wal", env->path);
	assert_mode_0600(buf);
	snprintf(buf, sizeof(buf), "%s-shm", env->path);
	assert_mode_0600(buf);
	store_close(st);
	assert_integrity(env->path);
}

static void
test_roundtrip(void **state)
{
	struct test_env *env = *state;
	struct store *st = NULL;
	struct test_cert t[3];
	char text[256];
	time_t now = time(NULL);
	unsigned i;

	assert_int_equal(store_open(env->uri, &st), 0);
	for (i = 0; i < 3; i++) {
		test_cert_make(&t[i], i, NULL);
		assert_int_equal(store_add_cert(st, &t[i].c), 0);
	}
	assert_count(st, 3);
	for (i = 0; i < 3; i++)
		assert_cert_der(st, t[i].serial, &t[i]);

	/* Every column as given; issued_at is now. */
	db_text(env->path,
		"SELECT printf('%s|%s|%s|%d|%d|%d|%s|%s|%s|%s', serial, subject, sans, "
		"not_before, not_after, length(der), requester, endpoint, "
		"ifnull(transaction_id, 'NULL'), ifnull(revoked_at, 'NULL')) "
		"FROM certificates WHERE serial = '10001'",
		text, sizeof(text));
	assert_string_equal(text, "10001|CN=host1.example|DNS:a.example, IP Address:192.0.2.1|"
				  "1700000001|1731536001|700|192.0.2.7|scep|7A1F0C|NULL");
	db_text(env->path,
		"SELECT ifnull(transaction_id, 'NULL') FROM certificates "
		"WHERE serial = '10000'",
		text, sizeof(text));
	assert_string_equal(text, "NULL");
	assert_true(db_int(env->path, "SELECT min(issued_at) FROM certificates") >= now);
	assert_true(db_int(env->path, "SELECT max(issued_at) FROM certificates") <= time(NULL));
	store_close(st);
	assert_integrity(env->path);
}

static void
test_duplicate(void **state)
{
	struct test_env *env = *state;
	struct store *st = NULL;
	struct test_cert first, again;

	assert_int_equal(store_open(env->uri, &st), 0);
	test_cert_make(&first, 1, "3A9F");
	assert_int_equal(store_add_cert(st, &first.c), 0);

	/* The same serial, however spelled, with other contents. */
	test_cert_make(&again, 2, "3A9F");
	assert_int_equal(store_add_cert(st, &again.c), -EEXIST);
	test_cert_make(&again, 3, "003a9f");
	assert_int_equal(store_add_cert(st, &again.c), -EEXIST);

	assert_count(st, 1);
	assert_cert_der(st, "3A9F", &first);
	store_close(st);
	assert_int_equal(db_int(env->path, "SELECT not_before FROM certificates"), 1700000001);
	assert_integrity(env->path);
}

static void
test_serial_lookup(void **state)
{
	/* clang-format off */
	static const struct {
		const char *serial;
		int r;
		int zero; /* finds the certificate with serial 0 */
	} cases[] = {
		{ "3A9F", 0, 0 }, { "3a9f", 0, 0 }, { "003A9F", 0, 0 }, { "0003a9F", 0, 0 },
		{ "0", 0, 1 }, { "00", 0, 1 }, { "000", 0, 1 },
		{ "3A9F0", -ENOENT, 0 }, { "A9F", -ENOENT, 0 }, { "1", -ENOENT, 0 },
		{ "", -ENOENT, 0 }, { "xyz", -ENOENT, 0 }, { "0x3A9F", -ENOENT, 0 },
		{ "-3A9F", -ENOENT, 0 }, { " 3A9F", -ENOENT, 0 }, { "3A9F ", -ENOENT, 0 },
	};
	/* clang-format on */
	struct test_env *env = *state;
	struct store *st = NULL;
	struct test_cert t, zero;
	unsigned char *der;
	size_t i, len;

	assert_int_equal(store_open(env->uri, &st), 0);
	test_cert_make(&t, 1, "003a9f"); /* stored as 3A9F */
	assert_int_equal(store_add_cert(st, &t.c), 0);
	test_cert_make(&zero, 2, "00"); /* stored as 0 */
	assert_int_equal(store_add_cert(st, &zero.c), 0);
	assert_int_equal(db_int(env->path, "SELECT count(*) FROM certificates "
					   "WHERE serial IN ('3A9F', '0')"),
			 2);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		der = (unsigned char *)"untouched";
		len = 12345;
		if (store_get_cert_der(st, cases[i].serial, &der, &len) != cases[i].r)
			fail_msg("serial \"%s\": expected %d", cases[i].serial, cases[i].r);
		if (cases[i].r < 0) {
			assert_string_equal((const char *)der, "untouched");
			assert_int_equal(len, 12345);
			continue;
		}
		assert_int_equal(len, DER_LEN);
		assert_memory_equal(der, cases[i].zero ? zero.der : t.der, len);
		free(der);
	}
	store_close(st);
}

static void
test_invalid_cert(void **state)
{
	struct test_env *env = *state;
	struct store *st = NULL;
	struct test_cert t;
	uint64_t n = 99;

	assert_int_equal(store_open(env->uri, &st), 0);
	test_cert_make(&t, 1, "12G4");
	assert_int_equal(store_add_cert(st, &t.c), -EINVAL);
	test_cert_make(&t, 1, "");
	assert_int_equal(store_add_cert(st, &t.c), -EINVAL);
	test_cert_make(&t, 1, NULL);
	t.c.subject = NULL;
	assert_int_equal(store_add_cert(st, &t.c), -EINVAL);
	test_cert_make(&t, 1, NULL);
	t.c.sans = NULL;
	assert_int_equal(store_add_cert(st, &t.c), -EINVAL);
	test_cert_make(&t, 1, NULL);
	t.c.endpoint = NULL;
	assert_int_equal(store_add_cert(st, &t.c), -EINVAL);
	test_cert_make(&t, 1, NULL);
	t.c.der_len = 0;
	assert_int_equal(store_add_cert(st, &t.c), -EINVAL);
	test_cert_make(&t, 1, NULL);
	t.c.requester = NULL; /* optional */
	assert_int_equal(store_add_cert(st, &t.c), 0);
	assert_int_equal(store_count_certs(st, &n), 0);
	assert_int_equal(n, 1);
	store_close(st);
	store_close(NULL);
}

static void
test_reopen(void **state)
{
	struct test_env *env = *state;
	struct store *st = NULL;
	struct test_cert a, b;

	assert_int_equal(store_open(env->uri, &st), 0);
	test_cert_make(&a, 1, NULL);
	assert_int_equal(store_add_cert(st, &a.c), 0);
	store_close(st);

	st = NULL;
	assert_int_equal(store_open(env->uri, &st), 0);
	assert_count(st, 1);
	assert_cert_der(st, a.serial, &a);
	test_cert_make(&b, 2, NULL);
	assert_int_equal(store_add_cert(st, &b.c), 0);
	assert_int_equal(store_add_cert(st, &a.c), -EEXIST);
	store_close(st);

	st = NULL;
	assert_int_equal(store_open(env->uri, &st), 0);
	assert_count(st, 2);
	assert_cert_der(st, b.serial, &b);
	store_close(st);
	assert_int_equal(db_int(env->path, "PRAGMA user_version"), 1);
	assert_integrity(env->path);
}

/* WRITERS processes add PER_WRITER certificates each at the same time: the busy timeout. */
static void
test_concurrent_writers(void **state)
{
	struct test_env *env = *state;
	struct store *st = NULL;
	struct test_cert t;

	assert_int_equal(store_open(env->uri, &st), 0);
	store_close(st);

	run_children(env->uri, WRITERS, PER_WRITER);

	st = NULL;
	assert_int_equal(store_open(env->uri, &st), 0);
	assert_count(st, WRITERS * PER_WRITER);
	test_cert_make(&t, WRITERS * PER_WRITER - 1, NULL);
	assert_cert_der(st, t.serial, &t);
	store_close(st);
	assert_int_equal(db_int(env->path, "SELECT count(DISTINCT serial) FROM certificates"),
			 WRITERS * PER_WRITER);
	assert_integrity(env->path);
}

/* Workers starting together on a database that does not exist yet: one schema, no error. */
static void
test_schema_race(void **state)
{
	struct test_env *env = *state;
	char path[PATH_MAX + 64], uri[PATH_MAX + 96];
	unsigned round;

	for (round = 0; round < RACE_ROUNDS; round++) {
		snprintf(path, sizeof(path), "%s/race%u.db", env->dir, round);
		snprintf(uri, sizeof(uri), "sqlite:%s", path);
		run_children(uri, RACE_OPENERS, 1);
		assert_int_equal(db_int(path, "PRAGMA user_version"), 1);
		assert_int_equal(db_int(path, "SELECT count(*) FROM certificates"), RACE_OPENERS);
		assert_int_equal(db_int(path, "SELECT count(*) FROM sqlite_master "
					      "WHERE name NOT LIKE 'sqlite_%'"),
				 4);
		assert_integrity(path);
	}
}

static void
test_bad_uri(void **state)
{
	/* clang-format off */
	static const struct {
		const char *uri;
		int r;
	} cases[] = {
		{ "", -EINVAL },
		{ "sqlite", -EINVAL },
		{ "sqlite:", -EINVAL },
		{ "sqlite:relative.db", -EINVAL },
		{ "sqlite:./scepd.db", -EINVAL },
		{ "SQLITE:/tmp/x.db", -EINVAL },
		{ "sqlite3:/tmp/x.db", -EINVAL },
		{ "file:/tmp/x.db", -EINVAL },
		{ "/tmp/x.db", -EINVAL },
		{ "mysql://u@h/db", -EINVAL },
		{ "postgresql://scepd@db.example/scepd", -EPROTONOSUPPORT },
		{ "postgres://db.example/scepd", -EPROTONOSUPPORT },
		{ "postgresql://", -EPROTONOSUPPORT },
	};
	/* clang-format on */
	struct store *st;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		st = SENTINEL;
		if (store_open(cases[i].uri, &st) != cases[i].r)
			fail_msg("\"%s\": expected %d", cases[i].uri, cases[i].r);
		assert_ptr_equal(st, SENTINEL);
	}
}

/* A missing directory is -ENOENT (the errno of creating the file), and is not created. */
static void
test_missing_dir(void **state)
{
	struct test_env *env = *state;
	char uri[PATH_MAX + 96], dir[PATH_MAX + 32];
	struct store *st = SENTINEL;
	struct stat sb;

	snprintf(dir, sizeof(dir), "%s/missing", env->dir);
	snprintf(uri, sizeof(uri), "sqlite:%s/scepd.db", dir);
	assert_int_equal(store_open(uri, &st), -ENOENT);
	assert_ptr_equal(st, SENTINEL);
	assert_int_equal(stat(dir, &sb), -1);

	/* The path names a directory. */
	snprintf(uri, sizeof(uri), "sqlite:%s", env->dir);
	assert_int_equal(store_open(uri, &st), -EISDIR);
	assert_ptr_equal(st, SENTINEL);
}

/* Files that are not scepd's databases are refused, and left alone. */
static void
test_foreign_file(void **state)
{
	struct test_env *env = *state;
	struct store *st = SENTINEL;
	FILE *f;

	/* Not SQLite at all. */
	f = fopen(env->path, "w");
	assert_non_null(f);
	fputs("-----BEGIN CERTIFICATE-----\nthis is not a database, but it is long enough "
	      "for SQLite to read a header from it and find it wrong.\n",
	      f);
	fclose(f);
	assert_int_equal(store_open(env->uri, &st), -EBADMSG);
	assert_ptr_equal(st, SENTINEL);
	unlink(env->path);

	/* Another application's database. */
	db_exec(env->path, "CREATE TABLE other (x); PRAGMA user_version = 1;");
	assert_int_equal(store_open(env->uri, &st), -EBADMSG);
	db_exec(env->path, "PRAGMA user_version = 0;");
	assert_int_equal(store_open(env->uri, &st), -EBADMSG);
	assert_ptr_equal(st, SENTINEL);
	assert_int_equal(db_int(env->path, "SELECT count(*) FROM sqlite_master"), 1);
	unlink(env->path);

	/* scepd's, from a newer scepd. */
	assert_int_equal(store_open(env->uri, &st), 0);
	store_close(st);
	st = SENTINEL;
	db_exec(env->path, "PRAGMA user_version = 99;");
	assert_int_equal(store_open(env->uri, &st), -EBADMSG);
	assert_ptr_equal(st, SENTINEL);
	assert_int_equal(db_int(env->path, "PRAGMA user_version"), 99);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serial_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_cert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_writers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_schema_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_uri, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
