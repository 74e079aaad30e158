/*
 * supervisor.c - sockets, worker generations, restarts, signals, sd_notify.
 *
 * Start: bind every server.listen address (or take systemd's sockets) and every
 * server.tls.listen address (always bound here: socket activation is plain only), drop to
 * server.user/server.group, fork generation 1 and send READY=1 once every worker has
 * written its ready byte. A worker that dies before generation 1 was ever ready ends
 * scepd with exit code 1 (or 3, when the worker said retrying is futile).
 *
 * Running: a worker of the serving generation that dies is logged (exit status or
 * signal) and its slot restarted after a capped exponential backoff.
 *
 * SIGHUP: RELOADING=1, then read and validate the file again. Invalid: log every
 * error and keep serving with the old generation. Valid: fork a new generation; when
 * all of it is ready, SIGTERM the old one (which drains) and SIGKILL what is left of
 * it at the drain deadline. A new generation that fails to get ready is abandoned.
 *
 * SIGTERM/SIGINT: STOPPING=1, SIGTERM every worker, wait for all to exit (SIGKILL at
 * the drain deadline), exit 0.
 *
 * Privileges: after the drop the process is made non-dumpable again (a uid change
 * resets that), so every worker, forked later, is too. A worker asks for SIGTERM when
 * the supervisor dies (PR_SET_PDEATHSIG), and one forked while it died exits at once.
 *
 * Never loads PKCS#11 or any key: a worker must not inherit an initialized engine.
 * Signals arrive through a signalfd and are handled in the loop.
 */
#include "scepd/supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "scepd/clock.h"
#include "scepd/http_balance.h"
#include "scepd/log.h"
#include "scepd/privileges.h"
#include "scepd/stats.h"
#include "scepd/store_share.h"
#include "scepd/worker.h"

#define SUPERVISOR_BACKOFF_MIN_MS   100
#define SUPERVISOR_BACKOFF_MAX_MS   30000
#define SUPERVISOR_STABLE_MS        10000 /* a worker that ran this long resets the backoff */
#define SUPERVISOR_START_TIMEOUT_MS 60000 /* a worker not ready by then is killed */
#define SUPERVISOR_KILL_GRACE_MS    1000  /* beyond drain_timeout, before SIGKILL */
#define SUPERVISOR_LISTEN_BACKLOG   1024

/* One slot of a generation: the worker that should be running there. */
struct supervisor_slot {
	pid_t pid;              /* 0 while down */
	uint64_t restart_at_ms; /* 0 when no restart is due */
	uint64_t backoff_ms;
};

struct supervisor_generation {
	unsigned id;
	struct scepd_config *cfg;
	struct supervisor_slot *slots;
	size_t n_slots;
	bool rest_started; /* slots 1.. run: slot 0 got ready first */
};

/* A live child process, of any generation. */
struct supervisor_proc {
	pid_t pid;
	unsigned generation;
	int slot;
	int status_fd; /* read end of the status pipe until ready, then -1 */
	bool ready;
	bool stopping; /* SIGTERM sent: its exit is expected */
	uint64_t started_ms;
	uint64_t kill_at_ms; /* SIGKILL deadline, 0 = none */
};

struct supervisor {
	const char *config_path;
	int *listen_fds;
	size_t n_listen_fds;
	int *tls_fds; /* server.tls.listen: the workers serve HTTPS on these */
	size_t n_tls_fds;
	int signal_fd;
	unsigned last_generation;
	struct supervisor_generation *serving;
	struct supervisor_generation *next; /* a reload waiting for its workers */
	struct supervisor_proc *procs;
	size_t n_procs;
	bool ready_sent; /* generation 1 got ready once */
	bool reload_requested;
	bool stopping;
	int exit_code;
	uint64_t watchdog_interval_ms; /* 0 = no watchdog */
	uint64_t watchdog_next_ms;
	struct stats *stats;          /* /metrics' counters, shared with every worker ever forked */
	struct store_share *share;    /* the workers' pooled certificate commits (SQLite) */
	struct http_balance *balance; /* the workers' connections per socket */
};

static void
supervisor_notify_status(const struct supervisor *s, const char *state)
{
	size_t n = s->serving != NULL ? s->serving->n_slots : 0;
	unsigned id = s->serving != NULL ? s->serving->id : 0;

	sd_notifyf(0, "%s%sSTATUS=generation %u, %zu worker%s", state != NULL ? state : "",
		   state != NULL ? "\n" : "", id, n, n == 1 ? "" : "s");
}

/* Sockets */

static int
supervisor_bind_one(const char *setting, const char *spec, int *ret_fd)
{
	struct sockaddr_storage addr;
	socklen_t len;
	int fd = -1, one = 1, r;

	if ((r = config_parse_listen(spec, &addr, &len)) < 0)
		return log_error_errno(r, "%s: invalid address '%s'", setting, spec);
	fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = log_error_errno(-errno, "cannot create a socket for %s", spec);
		goto out;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (addr.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0)) {
		r = log_error_errno(-errno, "cannot set socket options for %s", spec);
		goto out;
	}
	if (bind(fd, (struct sockaddr *)&addr, len) < 0 ||
	    listen(fd, SUPERVISOR_LISTEN_BACKLOG) < 0) {
		r = log_error_errno(-errno, "cannot listen on %s", spec);
		goto out;
	}
	*ret_fd = fd;
	fd = -1;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	return r;
}

/* Sockets from systemd socket activation, made non-blocking like ours. */
static int
supervisor_take_systemd_sockets(struct supervisor *s, int n)
{
	int flags;

	if ((s->listen_fds = calloc((size_t)n, sizeof(int))) == NULL)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;

		if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0)
			return log_error_errno(-EINVAL,
					       "socket %d from systemd is not a listening "
					       "stream socket",
					       fd);
		if ((flags = fcntl(fd, F_GETFL)) < 0 ||
		    fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			return log_error_errno(-errno, "cannot set up socket %d from systemd", fd);
		s->listen_fds[s->n_listen_fds++] = fd;
	}
	log_info("using %d socket(s) from systemd; server.listen is ignored", n);
	return 0;
}

/* server.tls.listen: bound here even under socket activation. */
static int
supervisor_open_tls_sockets(struct supervisor *s, const struct config_tls *tls)
{
	int r;

	if (tls->listen.n == 0)
		return 0;
	if ((s->tls_fds = calloc(tls->listen.n, sizeof(int))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < tls->listen.n; i++) {
		if ((r = supervisor_bind_one("server.tls.listen", tls->listen.v[i],
					     &s->tls_fds[i])) < 0)
			return r;
		s->n_tls_fds++;
		log_info("listening on %s (TLS)", tls->listen.v[i]);
	}
	return 0;
}

static int
supervisor_open_sockets(struct supervisor *s, const struct config_server *server)
{
	int n, r;

	if ((n = sd_listen_fds(1)) < 0)
		return log_error_errno(n, "cannot take sockets from systemd");
	if (n > 0) {
		if ((r = supervisor_take_systemd_sockets(s, n)) < 0)
			return r;
		return supervisor_open_tls_sockets(s, &server->tls);
	}

	if ((s->listen_fds = calloc(server->listen.n, sizeof(int))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < server->listen.n; i++) {
		if ((r = supervisor_bind_one("server.listen", server->listen.v[i],
					     &s->listen_fds[i])) < 0)
			return r;
		s->n_listen_fds++;
		log_info("listening on %s", server->listen.v[i]);
	}
	return supervisor_open_tls_sockets(s, &server->tls);
}

static void
supervisor_close_sockets(struct supervisor *s)
{
	for (size_t i = 0; i < s->n_listen_fds; i++)
		close(s->listen_fds[i]);
	s->n_listen_fds = 0;
	for (size_t i = 0; i < s->n_tls_fds; i++)
		close(s->tls_fds[i]);
	s->n_tls_fds = 0;
}

static int
supervisor_drop_privileges(const struct config_server *server)
{
	const char *setting;
	char why[256];
	int r;

	if (server->user == NULL && server->group == NULL)
		return 0;
	if ((r = privileges_drop(server, &setting, why, sizeof(why))) < 0) {
		if (setting != NULL)
			return log_error_errno(r, "%s: %s", setting, why);
		return log_error_errno(r, "%s", why);
	}
	if (getuid() != 0 && setuid(0) == 0)
		return log_error_errno(-EPERM, "dropped privileges can be regained");
	/*
	 * Changing uid or gid makes the kernel reset "dumpable" to fs.suid_dumpable, which
	 * may be 1: not dumpable again, before any worker is forked (they inherit it), so
	 * that no process of the service user can ptrace a worker or read its memory.
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return log_error_errno(-errno, "cannot make the process non-dumpable");
	log_info("running as uid %u gid %u", (unsigned)getuid(), (unsigned)getgid());
	return 0;
}

/* Generations and processes */

static void
supervisor_generation_free(struct supervisor_generation *g)
{
	if (g == NULL)
		return;
	config_free(g->cfg);
	free(g->slots);
	free(g);
}

static struct supervisor_generation *
supervisor_generation_new(struct supervisor *s, struct scepd_config *cfg)
{
	struct supervisor_generation *g;
	int n = config_worker_count(cfg);

	if ((g = calloc(1, sizeof(*g))) == NULL)
		return NULL;
	if ((g->slots = calloc((size_t)n, sizeof(*g->slots))) == NULL) {
		free(g);
		return NULL;
	}
	g->n_slots = (size_t)n;
	g->id = ++s->last_generation;
	g->cfg = cfg;
	return g;
}

static struct supervisor_proc *
supervisor_proc_find(struct supervisor *s, pid_t pid)
{
	for (size_t i = 0; i < s->n_procs; i++)
		if (s->procs[i].pid == pid)
			return &s->procs[i];
	return NULL;
}

static void
supervisor_proc_remove(struct supervisor *s, struct supervisor_proc *p)
{
	if (p->status_fd >= 0)
		close(p->status_fd);
	*p = s->procs[--s->n_procs];
}

static void
supervisor_proc_stop(struct supervisor_proc *p, const struct scepd_config *cfg)
{
	if (p->stopping)
		return;
	p->stopping = true;
	p->kill_at_ms = clock_monotonic_ms() + (uint64_t)cfg->server.drain_timeout * 1000 +
			SUPERVISOR_KILL_GRACE_MS;
	kill(p->pid, SIGTERM);
}

static void
supervisor_stop_generation(struct supervisor *s, unsigned id, const struct scepd_config *cfg)
{
	for (size_t i = 0; i < s->n_procs; i++)
		if (s->procs[i].generation == id)
			supervisor_proc_stop(&s->procs[i], cfg);
}

/*
 * In the child: make sure the supervisor is alive and will take us along when it dies,
 * drop every fd that belongs to it, then run the worker.
 */
static void
supervisor_child(struct supervisor *s, struct supervisor_generation *g, int slot, int status_fd,
		 pid_t supervisor_pid)
{
	struct worker_args args = {
		.cfg = g->cfg,
		.listen_fds = s->listen_fds,
		.n_listen_fds = s->n_listen_fds,
		.tls_fds = s->tls_fds,
		.n_tls_fds = s->n_tls_fds,
		.status_fd = status_fd,
		.slot = slot,
		.generation = g->id,
		.stats = s->stats,
		.share = s->share,
		.balance = s->balance,
		/* A restart in the serving generation: better 503 with a reason than nothing. */
		.may_start_unavailable = s->ready_sent && g == s->serving,
	};

	/*
	 * The supervisor's death must not leave an orphan serving with a stale config and
	 * holding the token: SIGTERM (a drain) when it dies. PR_SET_PDEATHSIG covers only
	 * deaths after this call; had the supervisor died since fork(), we were reparented
	 * already (to init or a subreaper) and no signal will ever come. getppid() then
	 * differs from the pid the supervisor had before fork(): leave at once, before
	 * touching keys or sockets.
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != supervisor_pid)
		_exit(SCEPD_EXIT_FAILURE);
	close(s->signal_fd);
	for (size_t i = 0; i < s->n_procs; i++)
		if (s->procs[i].status_fd >= 0)
			close(s->procs[i].status_fd);
	_exit(worker_run(&args));
}

static int
supervisor_spawn(struct supervisor *s, struct supervisor_generation *g, int slot)
{
	struct supervisor_proc *procs, *p;
	pid_t pid, self = getpid();
	int pipe_fds[2];

	procs = realloc(s->procs, (s->n_procs + 1) * sizeof(*procs));
	if (procs == NULL)
		return -ENOMEM;
	s->procs = procs;
	if (pipe2(pipe_fds, O_CLOEXEC) < 0)
		return -errno;
	if ((pid = fork()) < 0) {
		close(pipe_fds[0]);
		close(pipe_fds[1]);
		return -errno;
	}
	if (pid == 0) {
		close(pipe_fds[0]);
		supervisor_child(s, g, slot, pipe_fds[1], self);
	}
	close(pipe_fds[1]);
	p = &s->procs[s->n_procs++];
	*p = (struct supervisor_proc){
		.pid = pid,
		.generation = g->id,
		.slot = slot,
		.status_fd = pipe_fds[0],
		.started_ms = clock_monotonic_ms(),
	};
	g->slots[slot].pid = pid;
	g->slots[slot].restart_at_ms = 0;
	log_debug("started worker %d of generation %u, pid %d", slot, g->id, (int)pid);
	return 0;
}

/*
 * A generation starts with one worker; the others follow once it is ready. So a wrong
 * PIN is presented once per start (a smartcard locks after a few), and the workers
 * don't all open the token at the same moment.
 */
static int
supervisor_spawn_generation(struct supervisor *s, struct supervisor_generation *g)
{
	int r;

	if ((r = supervisor_spawn(s, g, 0)) < 0)
		return log_error_errno(r, "cannot start worker 0 of generation %u", g->id);
	return 0;
}

static int
supervisor_spawn_rest(struct supervisor *s, struct supervisor_generation *g)
{
	int r;

	g->rest_started = true;
	for (size_t i = 1; i < g->n_slots; i++)
		if ((r = supervisor_spawn(s, g, (int)i)) < 0)
			return log_error_errno(r, "cannot start worker %zu of generation %u", i,
					       g->id);
	return 0;
}

static bool
supervisor_generation_ready(const struct supervisor *s, const struct supervisor_generation *g)
{
	size_t ready = 0;

	for (size_t i = 0; i < s->n_procs; i++)
		if (s->procs[i].generation == g->id && s->procs[i].ready)
			ready++;
	return ready == g->n_slots;
}

static void
supervisor_begin_shutdown(struct supervisor *s, int exit_code)
{
	if (s->stopping)
		return;
	s->stopping = true;
	s->exit_code = exit_code;
	sd_notify(0, "STOPPING=1");
	log_info("stopping: draining %zu worker(s)", s->n_procs);
	if (s->next != NULL) {
		supervisor_stop_generation(s, s->next->id, s->next->cfg);
		supervisor_generation_free(s->next);
		s->next = NULL;
	}
	for (size_t i = 0; i < s->n_procs; i++)
		supervisor_proc_stop(&s->procs[i], s->serving->cfg);
	supervisor_close_sockets(s);
}

/* Reload */

static bool
supervisor_strv_equal(const struct config_strv *a, const struct config_strv *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return false;
	return true;
}

static bool
supervisor_str_equal(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void
supervisor_warn_restart_only(const struct scepd_config *old, const struct scepd_config *new)
{
	if (!supervisor_strv_equal(&old->server.listen, &new->server.listen))
		log_warning("server.listen changed: the sockets stay as they are until a restart");
	if (!supervisor_strv_equal(&old->server.tls.listen, &new->server.tls.listen))
		log_warning("server.tls.listen changed: the sockets stay as they are until a "
			    "restart");
	if (!supervisor_str_equal(old->server.user, new->server.user) ||
	    !supervisor_str_equal(old->server.group, new->server.group))
		log_warning("server.user/server.group changed: they apply at the next restart");
}

/* What `scepd -t` warns about (an open /csr, an unverified store...), in the log too. */
static void
supervisor_log_warnings(const struct scepd_config *cfg)
{
	struct config_errors warns = { 0 };

	if (config_warnings(cfg, &warns) < 0)
		log_warning("cannot list the configuration's warnings: %s", strerror(ENOMEM));
	for (size_t i = 0; i < warns.n; i++)
		log_warning("%s", warns.v[i]);
	config_errors_clear(&warns);
}

/*
 * Give each profile and CA of cfg its name slot in the counters, before its workers
 * are forked: a name seen before keeps its slot (and its counts) across reloads.
 */
static void
supervisor_stats_names(struct supervisor *s, const struct scepd_config *cfg)
{
	for (size_t i = 0; i < cfg->n_profiles; i++)
		if (stats_assign(s->stats, STATS_NAMES_PROFILE, cfg->profiles[i].name) < 0)
			log_warning("metrics: no counter slot left for profile %s: it is counted "
				    "with profile=\"\"",
				    cfg->profiles[i].name);
	for (size_t i = 0; i < cfg->n_cas; i++)
		if (stats_assign(s->stats, STATS_NAMES_CA, cfg->cas[i].name) < 0)
			log_warning("metrics: no counter slot left for CA %s: it is counted with "
				    "ca=\"\"",
				    cfg->cas[i].name);
}

static void
supervisor_reload(struct supervisor *s)
{
	struct config_errors errs = { 0 };
	struct scepd_config *cfg = NULL;
	int r;

	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		   (unsigned long long)clock_monotonic_ms() * 1000);
	log_info("reloading %s", s->config_path);
	if ((r = config_load(s->config_path, &cfg, &errs)) < 0) {
		for (size_t i = 0; i < errs.n; i++)
			log_error("%s", errs.v[i]);
		log_error("configuration not reloaded (%zu error%s): generation %u keeps serving",
			  errs.n, errs.n == 1 ? "" : "s", s->serving->id);
		config_errors_clear(&errs);
		supervisor_notify_status(s, "READY=1");
		return;
	}
	supervisor_warn_restart_only(s->serving->cfg, cfg);
	supervisor_log_warnings(cfg);
	if ((s->next = supervisor_generation_new(s, cfg)) == NULL) {
		log_error_errno(-ENOMEM, "configuration not reloaded");
		config_free(cfg);
		supervisor_notify_status(s, "READY=1");
		return;
	}
	supervisor_stats_names(s, cfg);
	log_info("starting generation %u with %zu worker(s)", s->next->id, s->next->n_slots);
	if (supervisor_spawn_generation(s, s->next) < 0) {
		supervisor_stop_generation(s, s->next->id, s->next->cfg);
		supervisor_generation_free(s->next);
		s->next = NULL;
		supervisor_notify_status(s, "READY=1");
	}
}

/* The new generation is ready: it serves, the old one drains. */
static void
supervisor_switch_generation(struct supervisor *s)
{
	struct supervisor_generation *old = s->serving;

	supervisor_stop_generation(s, old->id, s->next->cfg);
	s->serving = s->next;
	s->next = NULL;
	log_set_max_level(s->serving->cfg->log.level);
	log_info("generation %u serving with %zu worker(s); generation %u drains", s->serving->id,
		 s->serving->n_slots, old->id);
	supervisor_generation_free(old);
	supervisor_notify_status(s, "READY=1");
}

static void
supervisor_abandon_reload(struct supervisor *s)
{
	log_error("generation %u could not start: generation %u keeps serving", s->next->id,
		  s->serving->id);
	supervisor_stop_generation(s, s->next->id, s->next->cfg);
	supervisor_generation_free(s->next);
	s->next = NULL;
	supervisor_notify_status(s, "READY=1");
}

/* Events */

static void
supervisor_log_exit(const struct supervisor_proc *p, int status, int level)
{
	if (WIFSIGNALED(status))
		log_full_errno(level, 0,
			       "worker %d (pid %d, generation %u) killed by signal %d (%s)",
			       p->slot, (int)p->pid, p->generation, WTERMSIG(status),
			       strsignal(WTERMSIG(status)));
	else
		log_full_errno(level, 0, "worker %d (pid %d, generation %u) exited with status %d",
			       p->slot, (int)p->pid, p->generation, WEXITSTATUS(status));
}

static void
supervisor_schedule_restart(struct supervisor *s, const struct supervisor_proc *p)
{
	struct supervisor_slot *slot = &s->serving->slots[p->slot];
	uint64_t now = clock_monotonic_ms();

	if (now - p->started_ms >= SUPERVISOR_STABLE_MS || slot->backoff_ms == 0)
		slot->backoff_ms = SUPERVISOR_BACKOFF_MIN_MS;
	else if (slot->backoff_ms < SUPERVISOR_BACKOFF_MAX_MS / 2)
		slot->backoff_ms *= 2;
	else
		slot->backoff_ms = SUPERVISOR_BACKOFF_MAX_MS;
	slot->pid = 0;
	slot->restart_at_ms = now + slot->backoff_ms;
	log_info("restarting worker %d in %llu ms", p->slot, (unsigned long long)slot->backoff_ms);
}

static void
supervisor_worker_exited(struct supervisor *s, struct supervisor_proc *p, int status)
{
	bool fatal = WIFEXITED(status) && WEXITSTATUS(status) == SCEPD_EXIT_FATAL;
	bool respawn = WIFEXITED(status) && WEXITSTATUS(status) == SCEPD_EXIT_RESPAWN;

	if (p->stopping) {
		supervisor_log_exit(p, status, WIFSIGNALED(status) ? LOG_WARNING : LOG_DEBUG);
		return;
	}
	if (respawn && !s->stopping && p->generation == s->serving->id) {
		/* It served 503 for a while and wants a fresh process: no growing backoff. */
		log_info("worker %d (pid %d) cannot sign: starting a fresh one", p->slot,
			 (int)p->pid);
		stats_restart(s->stats, STATS_RESTART_UNAVAILABLE);
		s->serving->slots[p->slot].pid = 0;
		s->serving->slots[p->slot].restart_at_ms =
			clock_monotonic_ms() + SUPERVISOR_BACKOFF_MIN_MS;
		return;
	}
	supervisor_log_exit(p, status, LOG_ERR);
	if (s->stopping)
		return;
	if (fatal) {
		log_error("worker %d reported a fatal error: stopping", p->slot);
		supervisor_begin_shutdown(s, SCEPD_EXIT_FATAL);
	} else if (s->next != NULL && p->generation == s->next->id) {
		supervisor_abandon_reload(s);
	} else if (p->generation == s->serving->id && !s->ready_sent) {
		log_error("a worker died before scepd was ready: giving up");
		supervisor_begin_shutdown(s, SCEPD_EXIT_FAILURE);
	} else if (p->generation == s->serving->id) {
		stats_restart(s->stats,
			      WIFSIGNALED(status) ? STATS_RESTART_SIGNAL : STATS_RESTART_EXIT);
		supervisor_schedule_restart(s, p);
	}
}

static void
supervisor_reap(struct supervisor *s)
{
	struct supervisor_proc *p;
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if ((p = supervisor_proc_find(s, pid)) == NULL)
			continue;
		struct supervisor_proc dead = *p;

		supervisor_proc_remove(s, p);
		supervisor_worker_exited(s, &dead, status);
	}
}

static void
supervisor_worker_ready(struct supervisor *s, struct supervisor_proc *p)
{
	struct supervisor_generation *g = s->next != NULL && p->generation == s->next->id ? s->next
					  : p->generation == s->serving->id ? s->serving
									    : NULL;
	unsigned generation = p->generation;

	p->ready = true;
	close(p->status_fd);
	p->status_fd = -1;
	p = NULL; /* spawning below may move s->procs */
	if (g != NULL && !g->rest_started && supervisor_spawn_rest(s, g) < 0) {
		if (g == s->next)
			supervisor_abandon_reload(s);
		else if (!s->ready_sent)
			supervisor_begin_shutdown(s, SCEPD_EXIT_FAILURE);
		return;
	}
	if (s->next != NULL && generation == s->next->id) {
		if (supervisor_generation_ready(s, s->next))
			supervisor_switch_generation(s);
	} else if (!s->ready_sent && generation == s->serving->id &&
		   supervisor_generation_ready(s, s->serving)) {
		s->ready_sent = true;
		log_info("ready: generation %u with %zu worker(s)", s->serving->id,
			 s->serving->n_slots);
		supervisor_notify_status(s, "READY=1");
	}
}

static void
supervisor_read_status(struct supervisor *s, int fd)
{
	struct supervisor_proc *p = NULL;
	char byte;
	ssize_t n;

	for (size_t i = 0; i < s->n_procs; i++)
		if (s->procs[i].status_fd == fd)
			p = &s->procs[i];
	if (p == NULL)
		return;
	n = read(fd, &byte, 1);
	if (n == 1 && byte == WORKER_READY_BYTE) {
		supervisor_worker_ready(s, p);
	} else if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
		close(p->status_fd); /* it died before ready: SIGCHLD tells the rest */
		p->status_fd = -1;
	}
}

static void
supervisor_handle_signal(struct supervisor *s)
{
	struct signalfd_siginfo si;

	while (read(s->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			supervisor_reap(s);
			break;
		case SIGHUP:
			if (s->stopping)
				break;
			if (s->next != NULL)
				s->reload_requested = true; /* after the one in progress */
			else
				supervisor_reload(s);
			break;
		case SIGTERM:
		case SIGINT:
			log_info("received %s", strsignal((int)si.ssi_signo));
			supervisor_begin_shutdown(s, SCEPD_EXIT_OK);
			break;
		default:
			break;
		}
	}
}

/* Restarts, drain deadlines, start timeouts and the watchdog. */
static void
supervisor_handle_timers(struct supervisor *s)
{
	uint64_t now = clock_monotonic_ms();
	struct supervisor_generation *g = s->serving;
	int r;

	for (size_t i = 0; i < s->n_procs; i++) {
		struct supervisor_proc *p = &s->procs[i];

		if (p->kill_at_ms != 0 && now >= p->kill_at_ms) {
			log_warning("worker %d (pid %d) did not drain in time: killing it", p->slot,
				    (int)p->pid);
			kill(p->pid, SIGKILL);
			p->kill_at_ms = 0;
		} else if (!p->ready && !p->stopping &&
			   now - p->started_ms >= SUPERVISOR_START_TIMEOUT_MS) {
			log_error("worker %d (pid %d) not ready after %d s: killing it", p->slot,
				  (int)p->pid, SUPERVISOR_START_TIMEOUT_MS / 1000);
			kill(p->pid, SIGKILL);
		}
	}
	for (size_t i = 0; !s->stopping && i < g->n_slots; i++) {
		if (g->slots[i].restart_at_ms == 0 || now < g->slots[i].restart_at_ms)
			continue;
		if ((r = supervisor_spawn(s, g, (int)i)) < 0) {
			log_error_errno(r, "cannot restart worker %zu", i);
			g->slots[i].restart_at_ms = now + SUPERVISOR_BACKOFF_MAX_MS;
		}
	}
	if (s->watchdog_interval_ms != 0 && now >= s->watchdog_next_ms) {
		sd_notify(0, "WATCHDOG=1");
		s->watchdog_next_ms = now + s->watchdog_interval_ms;
	}
}

static int
supervisor_poll_timeout(const struct supervisor *s)
{
	uint64_t now = clock_monotonic_ms(), next = now + 1000;

	for (size_t i = 0; i < s->n_procs; i++) {
		if (s->procs[i].kill_at_ms != 0 && s->procs[i].kill_at_ms < next)
			next = s->procs[i].kill_at_ms;
		if (!s->procs[i].ready &&
		    s->procs[i].started_ms + SUPERVISOR_START_TIMEOUT_MS < next)
			next = s->procs[i].started_ms + SUPERVISOR_START_TIMEOUT_MS;
	}
	for (size_t i = 0; i < s->serving->n_slots; i++)
		if (s->serving->slots[i].restart_at_ms != 0 &&
		    s->serving->slots[i].restart_at_ms < next)
			next = s->serving->slots[i].restart_at_ms;
	if (s->watchdog_interval_ms != 0 && s->watchdog_next_ms < next)
		next = s->watchdog_next_ms;
	return next <= now ? 0 : (int)(next - now);
}

static int
supervisor_loop(struct supervisor *s)
{
	struct pollfd *pfds = NULL;
	size_t n;
	int r = 0;

	while (!s->stopping || s->n_procs > 0) {
		struct pollfd *grown = realloc(pfds, (s->n_procs + 1) * sizeof(*pfds));

		if (grown == NULL) {
			r = -ENOMEM;
			break;
		}
		pfds = grown;
		pfds[0] = (struct pollfd){ .fd = s->signal_fd, .events = POLLIN };
		n = 1;
		for (size_t i = 0; i < s->n_procs; i++)
			if (s->procs[i].status_fd >= 0)
				pfds[n++] = (struct pollfd){ .fd = s->procs[i].status_fd,
							     .events = POLLIN };
		if (poll(pfds, n, supervisor_poll_timeout(s)) < 0 && errno != EINTR) {
			r = log_error_errno(-errno, "poll failed");
			break;
		}
		/* Status bytes first: a worker that wrote "ready" and died is still known. */
		for (size_t i = 1; i < n; i++)
			if (pfds[i].revents != 0)
				supervisor_read_status(s, pfds[i].fd);
		if (pfds[0].revents != 0)
			supervisor_handle_signal(s);
		supervisor_handle_timers(s);
		if (s->reload_requested && s->next == NULL && !s->stopping) {
			s->reload_requested = false;
			supervisor_reload(s);
		}
	}
	free(pfds);
	return r;
}

static int
supervisor_setup_signals(struct supervisor *s)
{
	sigset_t mask;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	if ((s->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		return -errno;
	return 0;
}

static void
supervisor_setup_watchdog(struct supervisor *s)
{
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		s->watchdog_interval_ms = usec / 2000;
		s->watchdog_next_ms = clock_monotonic_ms();
	}
}

static void
supervisor_free(struct supervisor *s)
{
	for (size_t i = 0; i < s->n_procs; i++)
		if (s->procs[i].status_fd >= 0)
			close(s->procs[i].status_fd);
	free(s->procs);
	supervisor_close_sockets(s);
	free(s->listen_fds);
	free(s->tls_fds);
	if (s->signal_fd >= 0)
		close(s->signal_fd);
	supervisor_generation_free(s->next);
	supervisor_generation_free(s->serving);
	stats_free(s->stats);
	store_share_free(s->share);
	http_balance_free(s->balance);
}

int
supervisor_run(const char *config_path, struct scepd_config *cfg)
{
	struct supervisor s = { .config_path = config_path, .signal_fd = -1 };
	int r, code = SCEPD_EXIT_FAILURE;

	if ((s.serving = supervisor_generation_new(&s, cfg)) == NULL) {
		config_free(cfg);
		log_error_errno(-ENOMEM, "cannot start");
		goto out;
	}
	if ((r = supervisor_setup_signals(&s)) < 0) {
		log_error_errno(r, "cannot set up signal handling");
		goto out;
	}
	if (supervisor_open_sockets(&s, &cfg->server) < 0 ||
	    supervisor_drop_privileges(&cfg->server) < 0)
		goto out;
	supervisor_setup_watchdog(&s);
	if ((r = stats_new(&s.stats)) < 0) {
		log_error_errno(r, "cannot map the shared memory of the metrics");
		goto out;
	}
	if ((r = store_share_new(&s.share)) < 0) {
		log_error_errno(r, "cannot map the shared memory of the store's commits");
		goto out;
	}
	if ((r = http_balance_new(&s.balance)) < 0) {
		log_error_errno(r, "cannot map the shared memory of the workers' connections");
		goto out;
	}
	supervisor_stats_names(&s, cfg);
	log_info("scepd %s starting %zu worker(s)", SCEPD_VERSION, s.serving->n_slots);
	supervisor_log_warnings(cfg);
	if (supervisor_spawn_generation(&s, s.serving) < 0)
		supervisor_begin_shutdown(&s, SCEPD_EXIT_FAILURE);
	if (supervisor_loop(&s) < 0)
		goto out;
	code = s.exit_code;
	log_info("stopped");
out:
	supervisor_free(&s);
	return code;
}
