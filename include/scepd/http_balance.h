/*
 * http_balance.h - how many connections each worker holds on each listening socket,
 * shared by the workers, so that a new connection goes to one that holds fewer.
 *
 * Every worker's accepting thread is woken by each new connection, and whichever
 * runs first takes it (http_accept.h). With keep-alive clients that open a few
 * connections at once and keep them (an MDM server, a load balancer, the benchmark),
 * one worker could end with 7 of 8 and serve them alone: with a token, which signs
 * one request at a time per worker, the others then idle. So each worker publishes
 * its count here, and one that holds more than another worker on the same socket
 * leaves the connection to it for a moment (http_accept's "busy").
 *
 * The supervisor maps the region (http_balance_new(), MAP_SHARED) before it forks;
 * each worker takes a cell per listening socket (http_balance_join()), marks it when
 * it stops accepting (http_balance_stop()) and gives it back once its connections are
 * closed (http_balance_leave()). A cell whose process died is taken back by whoever
 * finds it, so a killed worker is not waited for. Lock-free: atomics only. No HTTP,
 * no logging, no allocation after http_balance_new().
 */
#ifndef SCEPD_HTTP_BALANCE_H
#define SCEPD_HTTP_BALANCE_H

#include <stdbool.h>

/* Cells: workers (server.workers, up to 1024) of two generations, a few sockets each. */
#define HTTP_BALANCE_CELLS 4096

struct http_balance;
struct http_balance_cell;

/* The shared region, all cells free. 0 or -errno of mmap(). */
int http_balance_new(struct http_balance **ret);

/* Accepts NULL. Only the supervisor unmaps; a worker's copy goes with its process. */
void http_balance_free(struct http_balance *balance);

/*
 * A cell for this process on listening socket `listener` (any number that is the same
 * in every worker for the same socket), its count 0. -ENOSPC when every cell is taken.
 */
int http_balance_join(struct http_balance *balance, unsigned listener,
		      struct http_balance_cell **ret_cell);

/* This process takes no more connections on the cell's socket; it may still count. */
void http_balance_stop(struct http_balance_cell *cell);

/* Gives the cell back, once nothing counts in it any more. Accepts NULL. */
void http_balance_leave(struct http_balance_cell *cell);

/* One connection more (delta 1) or less (-1). */
void http_balance_add(struct http_balance_cell *cell, int delta);

/*
 * Whether another live process that accepts holds fewer connections on the same
 * socket than this cell: then it should take the next one.
 */
bool http_balance_fewer_elsewhere(struct http_balance *balance,
				  const struct http_balance_cell *cell);

#endif
