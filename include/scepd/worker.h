/*
 * worker.h - one worker process: everything that happens after fork().
 *
 * A worker sets up what must never be inherited (later: the engine and its PKCS#11
 * session, the store), serves HTTP on the listening sockets it inherited, tells the
 * supervisor it is ready by writing one byte to its status pipe, and drains on
 * SIGTERM: stop accepting, let requests in flight finish (at most
 * server.drain_timeout seconds), exit.
 */
#ifndef SCEPD_WORKER_H
#define SCEPD_WORKER_H

#include <stdbool.h>
#include <stddef.h>

#include "scepd/config.h"
#include "scepd/exit.h" /* worker_run() returns an enum scepd_exit */
#include "scepd/stats.h"

#define WORKER_READY_BYTE 'R'

struct worker_args {
	const struct scepd_config *cfg;
	const int *listen_fds;
	size_t n_listen_fds;
	const int *tls_fds; /* server.tls.listen's sockets */
	size_t n_tls_fds;
	int status_fd; /* write end of the status pipe; closed once ready */
	int slot;
	unsigned generation;
	struct stats *stats;          /* the supervisor's shared counters (/metrics) */
	struct store_share *share;    /* the supervisor's pooled store commits (store_share.h) */
	struct http_balance *balance; /* the workers' connections per socket (http_balance.h) */
	/*
	 * A worker restarted in a serving generation may start without its keys: it then
	 * answers 503 with the reason and asks to be replaced, until the keys load.
	 * A new generation must load them or fail (the old one keeps serving).
	 */
	bool may_start_unavailable;
};

/* Runs the worker until it is told to stop; returns its exit code (enum scepd_exit). */
int worker_run(const struct worker_args *args);

#endif
