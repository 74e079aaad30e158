/*
 * worker.c - the life of one worker process, after fork().
 *
 * Init order: signals -> (later: engine and keys -> store) -> HTTP on the inherited
 * listening sockets -> "ready" byte to the supervisor. Then wait for SIGTERM and
 * drain: stop accepting, let requests in flight finish within server.drain_timeout,
 * stop. SIGINT and SIGHUP are the supervisor's business and are ignored here (a
 * Ctrl-C in a terminal reaches the whole process group).
 *
 * The worker's context (struct worker) is the only state of the process; the config
 * is the supervisor's, inherited through fork() and never changed.
 */
#include "scepd/worker.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "scepd/http.h"
#include "scepd/log.h"

#define WORKER_DRAIN_POLL_MS 10

struct worker {
	const struct scepd_config *cfg;
	struct http_route routes[1];
	struct http_server **servers;
	size_t n_servers;
	int signal_fd;
};

static int
worker_healthz(struct http_request *req, void *userdata)
{
	(void)userdata;
	return http_reply_text(req, 200, "ok");
}

static unsigned long long
worker_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000 + (unsigned long long)ts.tv_nsec / 1000000;
}

static int
worker_setup_signals(struct worker *w)
{
	sigset_t mask;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	if (sigprocmask(SIG_SETMASK, &mask, NULL) < 0)
		return -errno;
	if ((w->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0)
		return -errno;
	/* The supervisor's death must not leave an orphan serving with stale config. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
		return -errno;
	return 0;
}

static int
worker_start_http(struct worker *w, const struct worker_args *args)
{
	const struct config_server *server = &w->cfg->server;
	struct http_limits limits = {
		.max_request_bytes = (size_t)server->max_request_bytes,
		.request_timeout = (unsigned)server->request_timeout,
		.max_connections = (unsigned)server->max_connections,
	};
	int r;

	w->routes[0] = (struct http_route){ "/healthz", HTTP_GET, worker_healthz, w };
	w->servers = calloc(args->n_listen_fds, sizeof(*w->servers));
	if (w->servers == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < args->n_listen_fds; i++) {
		r = http_server_start(args->listen_fds[i], &limits, w->routes,
				      sizeof(w->routes) / sizeof(w->routes[0]), &w->servers[i]);
		if (r < 0)
			return log_error_errno(r, "cannot start HTTP on socket %d",
					       args->listen_fds[i]);
		w->n_servers++;
	}
	return 0;
}

static int
worker_report_ready(int status_fd)
{
	char byte = WORKER_READY_BYTE;
	ssize_t n;

	do
		n = write(status_fd, &byte, 1);
	while (n < 0 && errno == EINTR);
	close(status_fd);
	return n == 1 ? 0 : -EPIPE;
}

static int
worker_wait_for_stop(struct worker *w)
{
	struct signalfd_siginfo si;
	struct pollfd pfd = { .fd = w->signal_fd, .events = POLLIN };
	ssize_t n;

	for (;;) {
		if (poll(&pfd, 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		n = read(w->signal_fd, &si, sizeof(si));
		if (n == (ssize_t)sizeof(si) && si.ssi_signo == SIGTERM)
			return 0;
	}
}

static unsigned
worker_requests_in_flight(const struct worker *w)
{
	unsigned n = 0;

	for (size_t i = 0; i < w->n_servers; i++)
		n += http_server_requests_in_flight(w->servers[i]);
	return n;
}

/* Stop accepting, then give requests in flight until the drain deadline. */
static void
worker_drain(struct worker *w, const struct worker_args *args)
{
	unsigned long long deadline =
		worker_now_ms() + (unsigned long long)w->cfg->server.drain_timeout * 1000;
	unsigned left;

	for (size_t i = 0; i < w->n_servers; i++)
		http_server_quiesce(w->servers[i]);
	for (size_t i = 0; i < args->n_listen_fds; i++)
		close(args->listen_fds[i]); /* our copies; the supervisor keeps its own */
	while ((left = worker_requests_in_flight(w)) > 0 && worker_now_ms() < deadline)
		poll(NULL, 0, WORKER_DRAIN_POLL_MS);
	if (left > 0)
		log_warning("drain timeout: closing %u request(s) still in flight", left);
}

static void
worker_free(struct worker *w)
{
	for (size_t i = 0; i < w->n_servers; i++)
		http_server_free(w->servers[i]);
	free(w->servers);
	if (w->signal_fd >= 0)
		close(w->signal_fd);
}

int
worker_run(const struct worker_args *args)
{
	struct worker w = { .cfg = args->cfg, .signal_fd = -1 };
	int r, code = SCEPD_EXIT_FAILURE;

	log_set_role(args->slot, args->generation);
	prctl(PR_SET_NAME, "scepd-worker");
	if ((r = worker_setup_signals(&w)) < 0) {
		log_error_errno(r, "cannot set up signal handling");
		goto out;
	}
	if ((r = worker_start_http(&w, args)) < 0)
		goto out;
	if ((r = worker_report_ready(args->status_fd)) < 0) {
		log_error_errno(r, "cannot report ready to the supervisor");
		goto out;
	}
	log_debug("ready, serving %zu socket(s)", w.n_servers);
	if ((r = worker_wait_for_stop(&w)) < 0) {
		log_error_errno(r, "cannot wait for signals");
		goto out;
	}
	worker_drain(&w, args);
	code = SCEPD_EXIT_OK;
out:
	worker_free(&w);
	return code;
}
