/*
 * store_threads.h - the group commit of store_add_cert() under threads, for the store
 * tests of every backend (store_contract.c).
 */
#ifndef SCEPD_TEST_STORE_THREADS_H
#define SCEPD_TEST_STORE_THREADS_H

#include "scepd/store.h"

/*
 * STORE_THREADS threads share st and, released at once, add STORE_THREADS_EACH
 * certificates each; one in ten has a serial that every thread adds, each with its
 * own bytes. Fails the test unless every call returned 0 or -EEXIST, each shared
 * serial was recorded once, with the bytes of the one thread told 0, and every other
 * certificate was recorded. serial_base keeps the serials apart from a test's others.
 */
#define STORE_THREADS      8
#define STORE_THREADS_EACH 100
void store_threads_check(struct store *st, unsigned serial_base);

#endif
