/*
 * http_balance.c - connections per worker and listening socket, shared (http_balance.h).
 *
 * A cell is owned by a process id (0: free) and counts that process's connections on
 * one socket. Joining takes the first free cell, or one whose owner is gone (kill(pid,
 * 0) says ESRCH), with a compare-and-swap on the owner, so that two workers starting
 * at once cannot take the same cell; `used` is one past the highest cell ever taken,
 * so the search and the comparison look at a few cells, not at all of them. A zombie
 * (killed, not yet reaped) still counts as alive: the supervisor reaps at once.
 */
#include "scepd/http_balance.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>
#include <unistd.h>

#include "scepd/shared_pages.h"

struct http_balance_cell {
	_Atomic pid_t owner; /* 0: free */
	_Atomic unsigned listener;
	_Atomic int connections;
	_Atomic bool accepting;
};

struct http_balance {
	_Atomic unsigned used; /* cells [0, used) were ever taken */
	struct http_balance_cell cells[HTTP_BALANCE_CELLS];
};

int
http_balance_new(struct http_balance **ret)
{
	/* Zeroed: every cell free. */
	if ((*ret = shared_pages_new(sizeof(struct http_balance))) == NULL)
		return -errno;
	return 0;
}

void
http_balance_free(struct http_balance *balance)
{
	shared_pages_free(balance, sizeof(*balance));
}

/* Whether pid is a live process (or one we may not signal, which is alive too). */
static bool
http_balance_alive(pid_t pid)
{
	return kill(pid, 0) == 0 || errno != ESRCH;
}

int
http_balance_join(struct http_balance *balance, unsigned listener,
		  struct http_balance_cell **ret_cell)
{
	pid_t self = getpid();

	for (unsigned i = 0; i < HTTP_BALANCE_CELLS; i++) {
		struct http_balance_cell *cell = &balance->cells[i];
		pid_t owner = atomic_load(&cell->owner);
		unsigned used;

		if (owner != 0 && http_balance_alive(owner))
			continue;
		if (!atomic_compare_exchange_strong(&cell->owner, &owner, self))
			continue; /* another worker took it first */
		atomic_store(&cell->connections, 0);
		atomic_store(&cell->listener, listener);
		atomic_store(&cell->accepting, true);
		used = atomic_load(&balance->used);
		while (used < i + 1 && !atomic_compare_exchange_weak(&balance->used, &used, i + 1))
			;
		*ret_cell = cell;
		return 0;
	}
	return -ENOSPC;
}

void
http_balance_stop(struct http_balance_cell *cell)
{
	atomic_store(&cell->accepting, false);
}

void
http_balance_leave(struct http_balance_cell *cell)
{
	if (cell == NULL)
		return;
	atomic_store(&cell->accepting, false);
	atomic_store(&cell->owner, 0);
}

void
http_balance_add(struct http_balance_cell *cell, int delta)
{
	atomic_fetch_add_explicit(&cell->connections, delta, memory_order_relaxed);
}

bool
http_balance_fewer_elsewhere(struct http_balance *balance, const struct http_balance_cell *cell)
{
	unsigned used = atomic_load(&balance->used);
	unsigned listener = atomic_load(&cell->listener);
	int mine = atomic_load_explicit(&cell->connections, memory_order_relaxed);

	for (unsigned i = 0; i < used && i < HTTP_BALANCE_CELLS; i++) {
		struct http_balance_cell *other = &balance->cells[i];
		pid_t owner;

		if (other == cell || !atomic_load(&other->accepting) ||
		    atomic_load(&other->listener) != listener ||
		    atomic_load_explicit(&other->connections, memory_order_relaxed) >= mine)
			continue;
		/* A cell just joined may show its last owner's socket for a moment: harmless. */
		if ((owner = atomic_load(&other->owner)) != 0 && http_balance_alive(owner))
			return true;
	}
	return false;
}
