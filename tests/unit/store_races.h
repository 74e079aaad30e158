/*
 * store_races.h - processes racing for one row of a store, for the store tests of
 * every backend (store_contract.c).
 */
#ifndef SCEPD_TEST_STORE_RACES_H
#define SCEPD_TEST_STORE_RACES_H

#include "scepd/store.h"

struct store_race {
	const char *uri;
	const char *key; /* the challenge hash or transaction id they race for */
	int lost;        /* the refusal a loser expects from fn */
	int (*fn)(struct store *st, unsigned i, const char *key);
	unsigned settle_ms; /* for every racer to open the store before they start */
};

/*
 * n (<= 16) forked racers each open rc->uri, wait for one start signal, and run
 * rc->fn(st, i, rc->key) once. Fails the test if a racer cannot open the store or fn
 * returns anything but 0 or rc->lost. Returns how many won (fn returned 0), with
 * *ret_winner the index of the last of them.
 */
unsigned store_race_run(const struct store_race *rc, unsigned n, unsigned *ret_winner);

#endif
