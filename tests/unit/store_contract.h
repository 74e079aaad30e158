/*
 * store_contract.h - store.h's contract, one suite for every backend: test_store.c
 * runs it on SQLite, test_store_pg.c on PostgreSQL. A backend gives a fresh database
 * and a way to look into it; the tests themselves know no backend.
 */
#ifndef SCEPD_TEST_STORE_CONTRACT_H
#define SCEPD_TEST_STORE_CONTRACT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "scepd/store.h"

/* The schema version this scepd creates and migrates to (store_sqlite_migrations[]). */
#define STORE_CONTRACT_SCHEMA 5

struct store_contract_env;

struct store_backend {
	const char *name;
	unsigned settle_ms; /* for racers to open the store (store_race.settle_ms) */
	/* Sets env->uri (and env->path) the first time; then an empty database there. */
	void (*reset)(struct store_contract_env *env);
	/* The first column of the first row of sql, as text, from a connection of its own. */
	void (*sql_text)(const struct store_contract_env *env, const char *sql, char *buf,
			 size_t size);
	void (*sql_exec)(const struct store_contract_env *env, const char *sql);
	/* The schema version the database records, and a way to change it. */
	long long (*schema_version)(const struct store_contract_env *env);
	void (*set_schema_version)(const struct store_contract_env *env, int version);
	/* scepd's schema, of the current version, made once; and nothing made at all. */
	void (*assert_schema)(const struct store_contract_env *env);
	void (*assert_absent)(const struct store_contract_env *env);
	/* The backend's own consistency checks, where the tests used to end with one. */
	void (*assert_intact)(const struct store_contract_env *env);
};

struct store_contract_env {
	const struct store_backend *b;
	char *dir;                /* a temporary directory of the test's own */
	char path[PATH_MAX + 32]; /* SQLite: dir/scepd.db */
	char uri[PATH_MAX + 64];
};

/*
 * Per-test setup and teardown: *state is the backend before setup, the env after.
 * store_contract_test(f, backend) is a test with both.
 */
int store_contract_setup(void **state);
int store_contract_teardown(void **state);
#define store_contract_test(f, backend)                                                            \
	cmocka_unit_test_prestate_setup_teardown(f, store_contract_setup, store_contract_teardown, \
						 (void *)(backend))

/* Runs every backend-neutral test on b; cmocka's result. */
int store_contract_run(const struct store_backend *b);

/* A certificate to record: serial NULL is 10000 + id in hex; a byte pattern for DER. */
#define STORE_CONTRACT_DER_LEN 700
struct store_contract_cert {
	char serial[32];
	char subject[64];
	unsigned char der[STORE_CONTRACT_DER_LEN];
	struct store_cert c;
};
void store_contract_cert_make(struct store_contract_cert *t, unsigned id, const char *serial);

long long store_contract_int(const struct store_contract_env *env, const char *sql);
void store_contract_assert_count(struct store *st, uint64_t want);

#endif
