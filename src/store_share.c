/*
 * store_share.c - the group commit shared by the worker processes (store_share.h).
 *
 * The region holds a robust process-shared mutex, a commit counter that waiters sleep on
 * (a futex), who leads the commit under way, and STORE_SHARE_SLOTS slots.
 * A slot goes FREE -> FILLING (its owner copies the record in, without the lock) ->
 * QUEUED -> TAKEN (by a leader) -> DONE (result set) -> FREE (its owner read the
 * result). Waiters wake at each commit's end and every STORE_SHARE_WAIT_MS to see
 * whether the leader still lives (a zombie does not: /proc/PID/stat); slots left by
 * owners that died are reclaimed when no slot is free.
 *
 * Not a pthread condition variable: glibc's keeps state of its waiters inside it (an
 * internal lock, group references), and a waiter SIGKILLed at the wrong moment leaves
 * the next pthread_cond_broadcast() blocked forever, with the mutex held. A futex on a
 * counter holds nothing of its waiters: a killed one simply stops waiting.
 */
#include "scepd/store_share.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "scepd/shared_pages.h"

#define STORE_SHARE_SLOTS      128
#define STORE_SHARE_SLOT_BYTES 12288 /* a record's strings and DER: a certificate fits */
#define STORE_SHARE_WAIT_MS    50    /* between checks that the leader lives */
#define STORE_SHARE_FIELDS     9     /* the strings of a store_cert, in store_share_fields() */

enum store_share_state {
	STORE_SHARE_FREE,
	STORE_SHARE_FILLING,
	STORE_SHARE_QUEUED,
	STORE_SHARE_TAKEN,
	STORE_SHARE_DONE,
};

struct store_share_slot {
	enum store_share_state state;
	int result;
	uint64_t id;  /* the database */
	uint64_t seq; /* queue order */
	pid_t owner;  /* the process waiting for it */
	pid_t taker;  /* the leader that took it */
	time_t not_before, not_after;
	uint32_t der_len;
	uint32_t lens[STORE_SHARE_FIELDS]; /* UINT32_MAX: NULL */
	unsigned char data[STORE_SHARE_SLOT_BYTES];
};

struct store_share {
	pthread_mutex_t lock;
	uint32_t commits; /* bumped at each commit's end; waiters sleep on it (a futex) */
	pid_t leader;     /* 0: no commit under way */
	uint64_t next_seq;
	struct store_share_slot slots[STORE_SHARE_SLOTS];
};

int
store_share_new(struct store_share **ret_share)
{
	pthread_mutexattr_t ma;
	struct store_share *sh;
	int r = 0;

	if ((sh = shared_pages_new(sizeof(*sh))) == NULL)
		return -errno;
	pthread_mutexattr_init(&ma);
	if (pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(&sh->lock, &ma) != 0)
		r = -ENOMEM;
	pthread_mutexattr_destroy(&ma);
	if (r < 0) {
		shared_pages_free(sh, sizeof(*sh));
		return r;
	}
	*ret_share = sh; /* zeroed: every slot FREE, no leader */
	return 0;
}

void
store_share_free(struct store_share *sh)
{
	shared_pages_free(sh, sizeof(*sh));
}

static void
store_share_lock(struct store_share *sh)
{
	/* A process died holding it: what it guarded is a few plain fields, still usable. */
	if (pthread_mutex_lock(&sh->lock) == EOWNERDEAD)
		pthread_mutex_consistent(&sh->lock);
}

/* Whether pid still runs: not gone, and not a zombie waiting for its parent's wait(). */
static bool
store_share_alive(pid_t pid)
{
	char path[64], buf[256], *state;
	ssize_t len;
	int fd;

	if (pid == getpid())
		return true;
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno != ENOENT;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return true;
	buf[len] = '\0';
	/* "PID (COMM) STATE ...": COMM may hold anything, so after the last ')'. */
	state = strrchr(buf, ')');
	return state == NULL || state[1] != ' ' || state[2] != 'Z';
}

/* The string fields of a store_cert, in slot order. */
static const char **
store_share_field(struct store_cert *c, size_t i)
{
	const char **fields[STORE_SHARE_FIELDS] = {
		&c->serial,         &c->subject, &c->sans,    &c->requester, &c->endpoint,
		&c->transaction_id, &c->owner,   &c->profile, &c->ca,
	};

	return fields[i];
}

/* cert into slot: 0, or -E2BIG when it does not fit. No lock: the slot is FILLING. */
static int
store_share_pack(struct store_share_slot *slot, const struct store_cert *cert)
{
	struct store_cert c = *cert;
	size_t used = 0;

	if (cert->der_len > STORE_SHARE_SLOT_BYTES)
		return -E2BIG;
	memcpy(slot->data, cert->der, cert->der_len);
	used = cert->der_len;
	slot->der_len = (uint32_t)cert->der_len;
	for (size_t i = 0; i < STORE_SHARE_FIELDS; i++) {
		const char *s = *store_share_field(&c, i);
		size_t len;

		if (s == NULL) {
			slot->lens[i] = UINT32_MAX;
			continue;
		}
		len = strlen(s) + 1;
		if (len > STORE_SHARE_SLOT_BYTES - used)
			return -E2BIG;
		memcpy(slot->data + used, s, len);
		slot->lens[i] = (uint32_t)len;
		used += len;
	}
	slot->not_before = cert->not_before;
	slot->not_after = cert->not_after;
	return 0;
}

/* The record of slot, pointing into the slot's data (valid while it is TAKEN). */
static void
store_share_unpack(const struct store_share_slot *slot, struct store_cert *ret_cert)
{
	size_t used = slot->der_len;

	memset(ret_cert, 0, sizeof(*ret_cert));
	ret_cert->der = slot->data;
	ret_cert->der_len = slot->der_len;
	ret_cert->not_before = slot->not_before;
	ret_cert->not_after = slot->not_after;
	for (size_t i = 0; i < STORE_SHARE_FIELDS; i++) {
		if (slot->lens[i] == UINT32_MAX)
			continue;
		*store_share_field(ret_cert, i) = (const char *)slot->data + used;
		used += slot->lens[i];
	}
}

/* Slots whose owner died while they were not in a commit go back to FREE. Locked. */
static void
store_share_reap(struct store_share *sh)
{
	for (size_t i = 0; i < STORE_SHARE_SLOTS; i++) {
		struct store_share_slot *s = &sh->slots[i];

		if ((s->state == STORE_SHARE_FILLING || s->state == STORE_SHARE_DONE) &&
		    !store_share_alive(s->owner))
			s->state = STORE_SHARE_FREE;
	}
}

/* A FREE slot made FILLING for this process, or NULL. Locked. */
static struct store_share_slot *
store_share_claim(struct store_share *sh)
{
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < STORE_SHARE_SLOTS; i++)
			if (sh->slots[i].state == STORE_SHARE_FREE) {
				sh->slots[i].state = STORE_SHARE_FILLING;
				sh->slots[i].owner = getpid();
				return &sh->slots[i];
			}
		store_share_reap(sh);
	}
	return NULL;
}

/* The oldest QUEUED slots of database id, at most STORE_SHARE_BATCH_MAX, made TAKEN. */
static size_t
store_share_take(struct store_share *sh, uint64_t id, struct store_share_slot **batch)
{
	size_t n = 0;

	for (;;) {
		struct store_share_slot *oldest = NULL;

		for (size_t i = 0; i < STORE_SHARE_SLOTS; i++) {
			struct store_share_slot *s = &sh->slots[i];

			if (s->state == STORE_SHARE_QUEUED && s->id == id &&
			    (oldest == NULL || s->seq < oldest->seq))
				oldest = s;
		}
		if (oldest == NULL || n == STORE_SHARE_BATCH_MAX)
			return n;
		oldest->state = STORE_SHARE_TAKEN;
		oldest->taker = getpid();
		batch[n++] = oldest;
	}
}

/* The leader died with its batch: the records it took fail with -EIO. Locked. */
static void
store_share_orphaned(struct store_share *sh)
{
	for (size_t i = 0; i < STORE_SHARE_SLOTS; i++) {
		struct store_share_slot *s = &sh->slots[i];

		if (s->state == STORE_SHARE_TAKEN && s->taker == sh->leader) {
			s->result = -EIO;
			s->state = STORE_SHARE_DONE;
		}
	}
	sh->leader = 0;
}

/* Commits what is queued for id, as the leader; called and returns locked. */
static void
store_share_lead(struct store_share *sh, uint64_t id, store_share_commit_fn *commit, void *ctx)
{
	struct store_share_slot *batch[STORE_SHARE_BATCH_MAX];
	struct store_cert certs[STORE_SHARE_BATCH_MAX];
	const struct store_cert *ptrs[STORE_SHARE_BATCH_MAX];
	int results[STORE_SHARE_BATCH_MAX];
	size_t n;
	int r;

	sh->leader = getpid();
	n = store_share_take(sh, id, batch);
	pthread_mutex_unlock(&sh->lock);
	for (size_t i = 0; i < n; i++) {
		store_share_unpack(batch[i], &certs[i]);
		ptrs[i] = &certs[i];
		results[i] = 0;
	}
	r = n > 0 ? commit(ctx, ptrs, n, results) : 0;
	store_share_lock(sh);
	for (size_t i = 0; i < n; i++) {
		batch[i]->result = r < 0 ? r : results[i];
		batch[i]->state = STORE_SHARE_DONE;
	}
	sh->leader = 0;
	__atomic_add_fetch(&sh->commits, 1, __ATOMIC_RELEASE);
	/* Shared (not FUTEX_PRIVATE_FLAG): the waiters are other processes. */
	syscall(SYS_futex, &sh->commits, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

/*
 * Unlocks, sleeps until the next commit ends or STORE_SHARE_WAIT_MS pass, relocks. A
 * commit that ends between the unlock and the sleep changed the counter: no sleep.
 */
static void
store_share_wait(struct store_share *sh)
{
	const struct timespec timeout = { 0, STORE_SHARE_WAIT_MS * 1000000L };
	uint32_t seen = __atomic_load_n(&sh->commits, __ATOMIC_ACQUIRE);

	pthread_mutex_unlock(&sh->lock);
	syscall(SYS_futex, &sh->commits, FUTEX_WAIT, seen, &timeout, NULL, 0);
	store_share_lock(sh);
}

int
store_share_add(struct store_share *sh, uint64_t id, const struct store_cert *cert,
		store_share_commit_fn *commit, void *ctx)
{
	struct store_share_slot *slot;
	int r;

	store_share_lock(sh);
	slot = store_share_claim(sh);
	pthread_mutex_unlock(&sh->lock);
	if (slot == NULL)
		return -ENOSPC;
	r = store_share_pack(slot, cert);
	store_share_lock(sh);
	if (r < 0) {
		slot->state = STORE_SHARE_FREE;
		goto out;
	}
	slot->id = id;
	slot->seq = sh->next_seq++;
	slot->state = STORE_SHARE_QUEUED;
	while (slot->state != STORE_SHARE_DONE) {
		if (sh->leader != 0 && !store_share_alive(sh->leader))
			store_share_orphaned(sh);
		if (sh->leader == 0 && slot->state == STORE_SHARE_QUEUED)
			store_share_lead(sh, id, commit, ctx);
		else
			store_share_wait(sh);
	}
	r = slot->result;
	slot->state = STORE_SHARE_FREE;
out:
	pthread_mutex_unlock(&sh->lock);
	return r;
}
