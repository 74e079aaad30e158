/*
 * store_share.h - one group commit for the certificate records of every worker.
 *
 * Each worker's store commits the certificates its own threads add at the same time as
 * one transaction (store.c). With SQLite, the workers then take turns on the file's one
 * write lock, and each turn costs an fsync of its own. A store_share lets the workers
 * of one supervisor pool their records instead: the supervisor maps it (MAP_SHARED,
 * before fork(), as struct stats), and a worker hands it to its store
 * (store_set_share()). A record is copied into a slot of the shared region; whichever
 * process finds no commit under way becomes the leader, takes every waiting record of
 * the same database (at most STORE_SHARE_BATCH_MAX) and commits them through its own
 * handle in one transaction with one fsync, then wakes the others. Every caller gets
 * its own record's result, after the commit that holds it: nothing is answered before
 * it is durable.
 *
 * A leader that dies during its commit (SIGKILL, a crash) fails the records it took
 * with -EIO (they may or may not be in the database: as when a worker dies after its
 * commit, before its answer) and the next waiter takes over. A record that does not
 * fit a slot, or finds every slot taken, is committed by its own store as before.
 *
 * The lock is a robust, process-shared mutex held for bookkeeping only, never across
 * a commit. No logging, no SQL here: the commit is a callback.
 */
#ifndef SCEPD_STORE_SHARE_H
#define SCEPD_STORE_SHARE_H

#include <stddef.h>
#include <stdint.h>

#include "scepd/store.h"

#define STORE_SHARE_BATCH_MAX 64 /* records in one commit */

struct store_share;

/* The region, shared with every process forked later: 0, or -errno (-ENOMEM). */
int store_share_new(struct store_share **ret_share);

/* Unmaps this process's view; accepts NULL. */
void store_share_free(struct store_share *sh);

/*
 * Commits n >= 1 records of database id in one transaction: 0 once committed, with
 * results[i] 0 or a record's own error (-EEXIST); a negative errno when nothing was.
 */
typedef int store_share_commit_fn(void *ctx, const struct store_cert *const *certs, size_t n,
				  int *results);

/*
 * Adds cert (of database id: the same number in every process for the same file) to
 * the next shared commit, leading it when none is under way (commit(ctx, ...) then
 * runs in this thread). Returns the record's result: 0, -EEXIST, the commit's error,
 * -EIO when the leader died with it; or -E2BIG / -ENOSPC when it was not shared
 * (too big for a slot, every slot taken): commit it another way.
 */
int store_share_add(struct store_share *sh, uint64_t id, const struct store_cert *cert,
		    store_share_commit_fn *commit, void *ctx);

#endif
