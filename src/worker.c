/*
 * worker.c - the life of one worker process, after fork().
 *
 * Init order: signals -> engine and keys -> store -> issuer and handlers (libcurl set
 * up first when a profile asks a challenge webhook) -> HTTP on the inherited listening
 * sockets (HTTPS on server.tls's, with the certificate and key read now, so each
 * generation takes the files as they are; the key's text is wiped once the HTTP layer
 * holds it) -> "ready" byte to the supervisor. A key that
 * cannot load ends the worker with exit code 1, or 3 when retrying can only hurt (a
 * wrong PIN) -- unless the supervisor allows an unavailable start (a restart in a
 * serving generation): then the worker serves 503 with the reason.
 *
 * A worker that cannot sign (keys not loaded, or the token went away) answers 503 for
 * WORKER_RESPAWN_MS, then drains and exits with SCEPD_EXIT_RESPAWN: libp11 0.4.12
 * cannot set the engine up twice in one process, so a fresh process is the way back
 * once the token returns. On SIGTERM drain: stop accepting, let requests in flight
 * finish within server.drain_timeout, stop, tear the engine down. SIGINT and SIGHUP
 * are the supervisor's business and are ignored here (a Ctrl-C in a terminal reaches
 * the whole process group).
 *
 * The worker's context (struct worker) is the only state of the process; the config
 * is the supervisor's, inherited through fork() and never changed, and so is the
 * shared mapping of the /metrics counters (stats.h), which every answered request
 * adds to through the HTTP layer's observer.
 */
#include "scepd/worker.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "scepd/admin_http.h"
#include "scepd/clock.h"
#include "scepd/crl_http.h"
#include "scepd/crl_publish.h"
#include "scepd/csr_http.h"
#include "scepd/http.h"
#include "scepd/issuer.h"
#include "scepd/keys.h"
#include "scepd/log.h"
#include "scepd/ndes_http.h"
#include "scepd/ocsp_http.h"
#include "scepd/scep_http.h"
#include "scepd/scep_msg.h"
#include "scepd/secret.h"
#include "scepd/stats.h"
#include "scepd/store.h"
#include "scepd/store_login.h"
#include "scepd/tls_files.h"
#include "scepd/webhook.h"

#define WORKER_DRAIN_POLL_MS   10
#define WORKER_DRAIN_SETTLE_MS 50
#define WORKER_CHECK_MS        250
#define WORKER_FIRST_PRUNE_MS  10000 /* after start: not while the node comes up */
#define WORKER_RESPAWN_MS      2000
#define WORKER_PENDING_MS      5000 /* how often worker 0 counts pending and revoked */

/* The handler of one profile: one of the two, NULL when the profile is not served. */
struct worker_profile {
	struct scep_http *scep;
	struct csr_http *csr;
	struct ndes_http *ndes; /* a SCEP profile's NDES page, when it has one */
};

/* The routes of one CA: its CRL as DER and as PEM (crl.path set), its OCSP responder. */
struct worker_ca_routes {
	struct crl_http der;
	struct crl_http pem;
	char *pem_path; /* crl.path + ".pem" */
	struct ocsp_http ocsp;
};

/* What /metrics counts a route's requests under. */
struct worker_route_label {
	enum stats_endpoint endpoint;
	unsigned profile; /* name slot; 0: none */
};

/* A signing certificate whose expiry /metrics shows; the names are the config's. */
struct worker_expiry {
	const char *ca;
	const char *role; /* "ca", "ra", "ocsp" */
	const char *profile;
	time_t not_after;
};

/* What worker 0 counts in the store: pending requests by profile, revoked certificates
 * by CA and profile (name slots). */
struct worker_store_count {
	struct stats *stats;
	uint64_t pending[STATS_PROFILES_MAX];
	uint64_t revoked[STATS_CAS_MAX][STATS_PROFILES_MAX];
};

struct worker {
	const struct scepd_config *cfg;
	struct stats *stats;
	struct store_share *share; /* the workers' pooled commits, handed to the store */
	struct issuer *issuer;
	struct crl_publish *crls;           /* every CA's CRL */
	struct worker_ca_routes *ca_routes; /* one per cfg->cas */
	struct worker_profile *profiles;    /* one per cfg->profiles */
	struct admin_http *admin;           /* NULL without the admin group */
	struct http_route *routes;
	struct worker_route_label *route_labels; /* one per route */
	size_t n_routes;
	struct worker_expiry *expiry; /* read at key load, from the certificates loaded */
	size_t n_expiry;
	struct http_server **servers;
	size_t n_servers;
	int signal_fd;
	unsigned long long next_prune_ms;   /* 0: this worker does not prune the store */
	unsigned long long next_pending_ms; /* 0: this worker does not count in the store */
};

static int
worker_healthz(struct http_request *req, void *userdata)
{
	struct worker *w = userdata;
	char reason[256];

	if (!issuer_healthy(w->issuer, reason, sizeof(reason)) ||
	    !issuer_store_reachable(w->issuer, reason, sizeof(reason)))
		return http_reply_text(req, 503, "%s", reason);
	return http_reply_text(req, 200, "ok");
}

/* Seconds left on this worker's signing certificates, from the notAfter read at load. */
static void
worker_metrics_expiry(const struct worker *w, FILE *out)
{
	time_t now = time(NULL);

	fputs("# HELP scepd_certificate_expiry_seconds Seconds until notAfter of a signing "
	      "certificate loaded (negative: expired).\n"
	      "# TYPE scepd_certificate_expiry_seconds gauge\n",
	      out);
	for (size_t i = 0; i < w->n_expiry; i++)
		fprintf(out,
			"scepd_certificate_expiry_seconds{ca=\"%s\",role=\"%s\",profile=\"%s\"} "
			"%lld\n",
			w->expiry[i].ca, w->expiry[i].role, w->expiry[i].profile,
			(long long)(w->expiry[i].not_after - now));
}

/*
 * /metrics: every counter of every worker since start (stats_render(): atomic loads,
 * no lock), then the expiry gauges. A scrape never waits for a request nor the reverse.
 */
static int
worker_metrics(struct http_request *req, void *userdata)
{
	struct worker *w = userdata;
	char *buf = NULL;
	size_t len = 0;
	FILE *out;
	int r;

	if ((out = open_memstream(&buf, &len)) == NULL)
		return -ENOMEM;
	r = stats_render(w->stats, out);
	worker_metrics_expiry(w, out);
	if (fclose(out) != 0 && r >= 0)
		r = -ENOMEM;
	if (r >= 0)
		r = http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
	free(buf);
	return r;
}

static time_t
worker_not_after(const X509 *cert)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1)
		return 0;
	return timegm(&tm);
}

static void
worker_add_expiry(struct worker *w, const char *ca, const char *role, const char *profile,
		  const X509 *cert)
{
	w->expiry[w->n_expiry++] = (struct worker_expiry){
		.ca = ca,
		.role = role,
		.profile = profile,
		.not_after = worker_not_after(cert),
	};
}

/* The notAfter of each CA, RA (when not the CA) and delegated OCSP certificate. */
static int
worker_collect_expiry(struct worker *w, const struct keys *keys)
{
	const struct scepd_config *cfg = w->cfg;
	X509 *cert;
	EVP_PKEY *key;

	if ((w->expiry = calloc(2 * cfg->n_cas + cfg->n_profiles, sizeof(*w->expiry))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_cas; i++) {
		X509 *ca = keys_get0_ca_cert(keys, i);

		if (ca == NULL)
			continue;
		worker_add_expiry(w, cfg->cas[i].name, "ca", "", ca);
		cert = NULL;
		keys_get0_ocsp(keys, i, &cert, &key);
		if (cert != NULL && X509_cmp(cert, ca) != 0)
			worker_add_expiry(w, cfg->cas[i].name, "ocsp", "", cert);
	}
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		const struct config_profile *p = &cfg->profiles[i];
		X509 *ca = keys_get0_ca_cert(keys, p->ca);

		if (p->type != CONFIG_PROFILE_SCEP)
			continue;
		cert = NULL;
		keys_get0_ra(keys, i, &cert, &key);
		if (cert != NULL && ca != NULL && X509_cmp(cert, ca) != 0)
			worker_add_expiry(w, config_profile_ca(cfg, p)->name, "ra", p->name, cert);
	}
	return 0;
}

/* The NDES page of SCEP profile i, if it has one. Returns an exit code (enum scepd_exit). */
static int
worker_setup_ndes(struct worker *w, size_t i)
{
	const struct scepd_config *cfg = w->cfg;
	const struct config_profile *p = &cfg->profiles[i];
	struct htpasswd_error err = { 0 };
	char where[CONFIG_WHERE_MAX], setting[160];

	if (p->scep.ndes.path == NULL ||
	    ndes_http_new(cfg, i, issuer_get0_store(w->issuer), &w->profiles[i].ndes, &err) >= 0)
		return SCEPD_EXIT_OK;
	config_where(
		cfg,
		config_profile_setting(cfg, p, "challenge.ndes.users", setting, sizeof(setting)),
		where, sizeof(where));
	if (err.line > 0)
		log_error("%s: %s:%u: %s", where, p->scep.ndes.users_file, err.line, err.message);
	else
		log_error("%s: %s", where, err.message);
	return SCEPD_EXIT_FAILURE;
}

/* The handler of profile i. Returns an exit code (enum scepd_exit). */
static int
worker_setup_profile(struct worker *w, size_t i)
{
	const struct scepd_config *cfg = w->cfg;
	const struct config_profile *p = &cfg->profiles[i];
	struct secret_error serr = { 0 };
	char where[CONFIG_WHERE_MAX], setting[160];
	unsigned line = 0;
	int r;

	if (p->type == CONFIG_PROFILE_SCEP) {
		if ((r = scep_http_new(cfg, i, w->issuer, w->crls, &w->profiles[i].scep, &serr)) >=
		    0)
			return worker_setup_ndes(w, i);
		if (serr.setting[0] != '\0')
			log_error("%s: %s", config_where(cfg, serr.setting, where, sizeof(where)),
				  serr.message);
		else
			log_error_errno(r, "profile %s: cannot set up SCEP", p->name);
		return SCEPD_EXIT_FAILURE;
	}
	/* No auth in the file: no handler, and no route (404 like any path). */
	if (!config_profile_served(p) ||
	    (r = csr_http_new(w->issuer, i, &w->profiles[i].csr, &line)) >= 0)
		return SCEPD_EXIT_OK;
	config_where(cfg, config_profile_setting(cfg, p, "auth", setting, sizeof(setting)), where,
		     sizeof(where));
	if (r == -EBADMSG)
		log_error("%s: %s:%u: expected name:sha256hex", where, p->csr.tokens_file, line);
	else
		log_error_errno(r, "%s: cannot read %s", where, p->csr.tokens_file);
	return SCEPD_EXIT_FAILURE;
}

/* The admin API, when configured: its tokens file is read here. An exit code. */
static int
worker_setup_admin(struct worker *w)
{
	const struct scepd_config *cfg = w->cfg;
	struct admin_tokens_error err;
	char where[CONFIG_WHERE_MAX];
	int r;

	if (!cfg->admin.enabled || (r = admin_http_new(cfg, w->issuer, &w->admin, &err)) >= 0)
		return SCEPD_EXIT_OK;
	config_where(cfg, "admin.tokens", where, sizeof(where));
	if (r == -ENOMEM)
		log_error_errno(r, "%s: cannot set up the admin API", where);
	else if (err.line > 0)
		log_error("%s: %s:%u: %s", where, cfg->admin.tokens_file, err.line, err.message);
	else
		log_error("%s: %s: %s", where, cfg->admin.tokens_file, err.message);
	return SCEPD_EXIT_FAILURE;
}

/* Keys, store, issuer, handlers. Returns an exit code (enum scepd_exit). */
static int
worker_setup_issuer(struct worker *w, bool may_start_unavailable)
{
	const struct scepd_config *cfg = w->cfg;
	struct keys_error err = { 0 };
	struct secret_error serr = { 0 };
	struct keys *keys = NULL;
	struct store *store = NULL;
	char reason[sizeof(err.message) + sizeof(err.setting) + 16] = "", where[CONFIG_WHERE_MAX];
	int r;

	if ((r = keys_load(cfg, &keys, &err)) < 0) {
		log_error("%s: %s", config_where(cfg, err.setting, where, sizeof(where)),
			  err.message);
		if (err.fatal || !may_start_unavailable)
			return err.fatal ? SCEPD_EXIT_FATAL : SCEPD_EXIT_FAILURE;
		snprintf(reason, sizeof(reason), "cannot sign: %s: %s", err.setting, err.message);
	} else {
		if (keys->load_retries > 0)
			log_info("keys loaded after %u engine retries", keys->load_retries);
		if (worker_collect_expiry(w, keys) < 0) {
			keys_free(keys);
			return SCEPD_EXIT_FAILURE;
		}
	}
	if ((r = store_login_open(cfg, 0, &store, &serr)) < 0) {
		keys_free(keys);
		if (serr.setting[0] != '\0')
			log_error("%s: %s", config_where(cfg, serr.setting, where, sizeof(where)),
				  serr.message);
		else
			log_error_errno(r, "storage.uri: cannot open the store");
		return SCEPD_EXIT_FAILURE;
	}
	store_set_share(store, w->share);
	if ((r = issuer_new(cfg, keys, store, reason, &w->issuer)) < 0) {
		log_error_errno(r, "cannot set up signing");
		return SCEPD_EXIT_FAILURE;
	}
	issuer_set_stats(w->issuer, w->stats);
	if (scep_msg_init() < 0)
		log_warning("no DES-CBC (OpenSSL legacy provider): single-DES SCEP requests get "
			    "badAlg");
	/* libcurl's global state, before MHD starts the threads that call webhooks. */
	for (size_t i = 0; i < cfg->n_profiles; i++)
		if (cfg->profiles[i].type == CONFIG_PROFILE_SCEP &&
		    cfg->profiles[i].scep.challenge_mode == CONFIG_CHALLENGE_WEBHOOK) {
			if (webhook_global_init() < 0) {
				log_error("cannot initialise libcurl for the challenge webhooks");
				return SCEPD_EXIT_FAILURE;
			}
			break;
		}
	if ((w->profiles = calloc(cfg->n_profiles, sizeof(*w->profiles))) == NULL ||
	    (w->ca_routes = calloc(cfg->n_cas, sizeof(*w->ca_routes))) == NULL ||
	    crl_publish_new(cfg, w->issuer, &w->crls) < 0)
		return SCEPD_EXIT_FAILURE;
	for (size_t i = 0; i < cfg->n_profiles; i++)
		if ((r = worker_setup_profile(w, i)) != SCEPD_EXIT_OK)
			return r;
	return worker_setup_admin(w);
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
	/* PR_SET_PDEATHSIG (SIGTERM, arriving here) is set right after fork(): supervisor_child(). */
	return 0;
}

/*
 * The profile /cgi-bin/pkiclient.exe reaches: the SCEP profile named "scep", else the
 * only SCEP profile; SIZE_MAX for none.
 */
static size_t
worker_legacy_profile(const struct scepd_config *cfg)
{
	size_t found = SIZE_MAX, n = 0;

	for (size_t i = 0; i < cfg->n_profiles; i++) {
		if (cfg->profiles[i].type != CONFIG_PROFILE_SCEP)
			continue;
		if (strcmp(cfg->profiles[i].name, "scep") == 0)
			return i;
		found = i;
		n++;
	}
	return n == 1 ? found : SIZE_MAX;
}

/* Which endpoint and profile a route's requests are counted under. */
static struct worker_route_label
worker_route_label(const struct worker *w, const struct http_route *route)
{
	const struct scepd_config *cfg = w->cfg;
	struct worker_route_label l = { .endpoint = STATS_EP_NONE };

	for (size_t i = 0; i < cfg->n_profiles; i++) {
		const struct worker_profile *wp = &w->profiles[i];

		if (route->userdata == NULL ||
		    (route->userdata != wp->scep && route->userdata != wp->csr &&
		     route->userdata != wp->ndes))
			continue;
		l.profile = stats_find(w->stats, STATS_NAMES_PROFILE, cfg->profiles[i].name);
		l.endpoint = route->userdata == wp->scep  ? STATS_EP_SCEP
			     : route->userdata == wp->csr ? STATS_EP_CSR
							  : STATS_EP_NDES;
		return l;
	}
	if (route->handler == crl_http_handle)
		l.endpoint = STATS_EP_CRL;
	else if (route->handler == ocsp_http_handle)
		l.endpoint = STATS_EP_OCSP;
	else if (route->handler == admin_http_handle)
		l.endpoint = STATS_EP_ADMIN;
	else if (route->handler == worker_healthz)
		l.endpoint = STATS_EP_HEALTHZ;
	else if (route->handler == worker_metrics)
		l.endpoint = STATS_EP_METRICS;
	return l;
}

/* Every answered request, into the shared counters: relaxed atomic adds, no lock. */
static void
worker_observe(void *userdata, const struct http_route *route, unsigned status,
	       unsigned long long usec)
{
	struct worker *w = userdata;
	struct worker_route_label l = { .endpoint = STATS_EP_NONE };

	if (route != NULL)
		l = w->route_labels[route - w->routes];
	stats_http(w->stats, l.endpoint, l.profile, status, usec);
}

/*
 * /healthz, /metrics, each served profile's path (and NDES page), and the legacy SCEP
 * path.
 */
/*
 * How long the OCSP responder of ca reuses a signed answer: ocsp.cache, but never more
 * than half of crl.refresh (the answer's validity), so that a reused answer still has
 * half of it ahead.
 */
static time_t
worker_ocsp_reuse(const struct config_ca *ca)
{
	int half = ca->crl.refresh / 2;

	return ca->ocsp.cache < half ? ca->ocsp.cache : half;
}

static int
worker_make_routes(struct worker *w)
{
	const struct scepd_config *cfg = w->cfg;
	const unsigned scep_methods = HTTP_GET | HTTP_POST | HTTP_OPTIONS;
	size_t legacy = worker_legacy_profile(cfg);
	int r;

	/* /healthz, /metrics, per profile 2 (its path, its NDES page), per CA 3 (OCSP, CRL,
	 * CRL.pem), legacy SCEP, admin */
	size_t max = 2 * cfg->n_profiles + 3 * cfg->n_cas + 4;

	if ((w->routes = calloc(max, sizeof(*w->routes))) == NULL ||
	    (w->route_labels = calloc(max, sizeof(*w->route_labels))) == NULL)
		return -ENOMEM;
	w->routes[w->n_routes++] = (struct http_route){
		.path = "/healthz",
		.methods = HTTP_GET,
		.handler = worker_healthz,
		.userdata = w,
	};
	w->routes[w->n_routes++] = (struct http_route){
		.path = "/metrics",
		.methods = HTTP_GET,
		.handler = worker_metrics,
		.userdata = w,
		.allow = cfg->metrics.allow,
	};
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		const struct config_profile *p = &cfg->profiles[i];

		if (w->profiles[i].csr != NULL)
			w->routes[w->n_routes++] = (struct http_route){
				.path = p->csr.path,
				.methods = HTTP_POST,
				.handler = csr_http_handle,
				.userdata = w->profiles[i].csr,
				.allow = p->csr.allow,
			};
		else if (w->profiles[i].scep != NULL)
			w->routes[w->n_routes++] = (struct http_route){
				.path = p->scep.path,
				.methods = scep_methods,
				.handler = scep_http_handle,
				.userdata = w->profiles[i].scep,
				.allow = p->scep.allow,
				.subtree = true,
			};
		if (w->profiles[i].ndes != NULL)
			w->routes[w->n_routes++] = (struct http_route){
				.path = p->scep.ndes.path,
				.methods = HTTP_GET,
				.handler = ndes_http_handle,
				.userdata = w->profiles[i].ndes,
			};
	}
	for (size_t i = 0; i < cfg->n_cas; i++) {
		struct worker_ca_routes *c = &w->ca_routes[i];

		if (cfg->cas[i].ocsp.path != NULL) {
			c->ocsp = (struct ocsp_http){ .cfg = cfg, .issuer = w->issuer, .ca = i };
			if (cfg->cas[i].ocsp.cache > 0 &&
			    (r = ocsp_cache_new(worker_ocsp_reuse(&cfg->cas[i]), &c->ocsp.cache)) <
				    0)
				return r;
			w->routes[w->n_routes++] = (struct http_route){
				.path = cfg->cas[i].ocsp.path,
				.methods = HTTP_GET | HTTP_POST,
				.handler = ocsp_http_handle,
				.userdata = &c->ocsp,
				.subtree = true, /* GET: the request below the path */
			};
		}
		if (cfg->cas[i].crl.path == NULL)
			continue;
		if (asprintf(&c->pem_path, "%s.pem", cfg->cas[i].crl.path) < 0) {
			c->pem_path = NULL;
			return -ENOMEM;
		}
		c->der = (struct crl_http){ .pub = w->crls, .ca = i };
		c->pem = (struct crl_http){ .pub = w->crls, .ca = i, .pem = true };
		w->routes[w->n_routes++] = (struct http_route){
			.path = cfg->cas[i].crl.path,
			.methods = HTTP_GET,
			.handler = crl_http_handle,
			.userdata = &c->der,
		};
		w->routes[w->n_routes++] = (struct http_route){
			.path = c->pem_path,
			.methods = HTTP_GET,
			.handler = crl_http_handle,
			.userdata = &c->pem,
		};
	}
	if (legacy != SIZE_MAX)
		w->routes[w->n_routes++] = (struct http_route){
			.path = SCEP_HTTP_LEGACY_PATH,
			.methods = scep_methods,
			.handler = scep_http_handle,
			.userdata = w->profiles[legacy].scep,
			.allow = cfg->profiles[legacy].scep.allow,
		};
	if (w->admin != NULL)
		w->routes[w->n_routes++] = (struct http_route){
			.path = cfg->admin.path,
			.methods = HTTP_GET | HTTP_POST,
			.handler = admin_http_handle,
			.userdata = w->admin,
			.subtree = true,
		};
	for (size_t i = 0; i < w->n_routes; i++)
		w->route_labels[i] = worker_route_label(w, &w->routes[i]);
	return 0;
}

/* What the TLS files' state means for clients, in the log; never a reason to stop. */
static void
worker_log_tls_files(const struct worker *w, const struct tls_files *files)
{
	char where[CONFIG_WHERE_MAX];

	config_where(w->cfg, "server.tls.certificate", where, sizeof(where));
	if (files->expired)
		log_error("%s: the certificate (serial %s) has expired: TLS clients refuse it",
			  where, files->serial);
	else if (files->not_yet_valid)
		log_error("%s: the certificate (serial %s) is not valid yet: TLS clients refuse "
			  "it",
			  where, files->serial);
	else if (files->days_left < TLS_FILES_EXPIRY_WARN_DAYS)
		log_warning("%s: the certificate (serial %s) expires in %d day(s)", where,
			    files->serial, files->days_left);
	if (files->key_exposed)
		log_warning("%s: the key file is readable by its group or others: make it 0600",
			    config_where(w->cfg, "server.tls.key", where, sizeof(where)));
	log_debug("TLS certificate serial %s", files->serial);
}

/* HTTPS on server.tls's sockets, the routes the same as on the plain ones. */
static int
worker_start_https(struct worker *w, const struct worker_args *args,
		   const struct http_limits *limits)
{
	const struct config_tls *tls = &w->cfg->server.tls;
	struct http_limits tls_limits = *limits;
	struct tls_files_error err = { 0 };
	struct tls_files *files = NULL;
	char where[CONFIG_WHERE_MAX];
	int r;

	if (args->n_tls_fds == 0)
		return 0;
	if (tls->certificate == NULL) {
		log_warning("server.tls is gone from the configuration: its sockets stay open, "
			    "unserved, until a restart");
		return 0;
	}
	if ((r = tls_files_load(tls, &files, &err)) < 0) {
		if (err.setting[0] == '\0')
			return log_error_errno(r, "server.tls: cannot read the files");
		log_error("%s: %s", config_where(w->cfg, err.setting, where, sizeof(where)),
			  err.message);
		return r;
	}
	worker_log_tls_files(w, files);
	for (size_t i = 0; i < args->n_tls_fds; i++) {
		struct http_tls creds = {
			.certificate = files->certificate,
			.key = files->key,
			.client_ca = files->client_ca,
		};

		/* Numbered after the plain sockets, as the supervisor opened them. */
		tls_limits.listener = (unsigned)(args->n_listen_fds + i);
		r = http_server_start(args->tls_fds[i], &tls_limits, &creds, w->routes, w->n_routes,
				      &w->servers[w->n_servers]);
		if (r < 0) {
			log_error_errno(r,
					"cannot start HTTPS on socket %d (the certificate and "
					"key: see the debug log)",
					args->tls_fds[i]);
			goto out;
		}
		w->n_servers++;
	}
	r = 0;
out:
	tls_files_free(files); /* GnuTLS has its own copy of the key now: ours is wiped */
	return r;
}

static int
worker_start_http(struct worker *w, const struct worker_args *args)
{
	const struct config_server *server = &w->cfg->server;
	struct http_limits limits = {
		.max_request_bytes = (size_t)server->max_request_bytes,
		.request_timeout = (unsigned)server->request_timeout,
		.max_connections = (unsigned)server->max_connections,
		.max_connections_per_ip = (unsigned)server->max_connections_per_ip,
		.threads = (unsigned)server->threads,
		.observe = worker_observe,
		.observe_data = w,
		.balance = args->balance,
	};
	int r;

	if ((r = worker_make_routes(w)) < 0)
		return r;
	w->servers = calloc(args->n_listen_fds + args->n_tls_fds, sizeof(*w->servers));
	if (w->servers == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < args->n_listen_fds; i++) {
		limits.listener = (unsigned)i;
		r = http_server_start(args->listen_fds[i], &limits, NULL, w->routes, w->n_routes,
				      &w->servers[i]);
		if (r < 0)
			return log_error_errno(r, "cannot start HTTP on socket %d",
					       args->listen_fds[i]);
		w->n_servers++;
	}
	return worker_start_https(w, args, &limits);
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

/*
 * Deletes spent challenges and rejected requests older than storage.keep_days (worker
 * 0 of each node does, every storage.prune_interval seconds).
 */
static void
worker_prune(struct worker *w)
{
	const struct config_storage *cfg = &w->cfg->storage;
	struct store_pruned pruned;
	int r;

	w->next_prune_ms = clock_monotonic_ms() + (unsigned long long)cfg->prune_interval * 1000;
	r = store_prune_all(issuer_get0_store(w->issuer),
			    time(NULL) - (time_t)cfg->keep_days * 86400, &pruned);
	if (pruned.challenges > 0 || pruned.rejected_requests > 0)
		log_info("pruned %" PRIu64 " challenge(s) and %" PRIu64
			 " rejected request(s) older than %d days",
			 pruned.challenges, pruned.rejected_requests, cfg->keep_days);
	if (r < 0)
		log_warning_errno(r, "cannot prune the store (again in %d s)", cfg->prune_interval);
}

static int
worker_count_one_pending(const struct store_pending *req, void *userdata)
{
	struct worker_store_count *c = userdata;

	c->pending[stats_find(c->stats, STATS_NAMES_PROFILE,
			      req->profile != NULL ? req->profile : "")]++;
	return 0;
}

/* By the names the store recorded: a CA or profile renamed or removed counts in slot 0. */
static int
worker_count_revoked(const char *ca, const char *profile, uint64_t n, void *userdata)
{
	struct worker_store_count *c = userdata;

	c->revoked[stats_find(c->stats, STATS_NAMES_CA, ca != NULL ? ca : "")]
		  [stats_find(c->stats, STATS_NAMES_PROFILE, profile != NULL ? profile : "")] += n;
	return 0;
}

/*
 * scepd_pending_requests and scepd_certificates_revoked: counted in the store, here in
 * the worker's own loop and not at scrape time, so that a scrape only loads numbers and
 * revocations by scepctl or another node count too. A store that cannot be read leaves
 * the last numbers (the log says why at debug level).
 */
static void
worker_count_store(struct worker *w)
{
	struct worker_store_count *c;
	struct store *st = issuer_get0_store(w->issuer);
	int r;

	w->next_pending_ms = clock_monotonic_ms() + WORKER_PENDING_MS;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return;
	c->stats = w->stats;
	if ((r = store_walk_pending(st, worker_count_one_pending, c)) < 0)
		log_debug("cannot count the pending requests: %s", strerror(-r));
	else
		stats_set_pending(w->stats, c->pending);
	if ((r = store_count_revoked(st, worker_count_revoked, c)) < 0)
		log_debug("cannot count the revoked certificates: %s", strerror(-r));
	else
		stats_set_revoked(w->stats, (const uint64_t(*)[STATS_PROFILES_MAX])c->revoked);
	free(c);
}

/*
 * Wait for SIGTERM (returns 0), or until this worker has been unable to sign for
 * WORKER_RESPAWN_MS (returns 1: it wants a fresh process).
 */
static int
worker_wait_for_stop(struct worker *w)
{
	struct signalfd_siginfo si;
	struct pollfd pfd = { .fd = w->signal_fd, .events = POLLIN };
	unsigned long long unavailable_since = 0;
	char reason[256];
	int k;

	for (;;) {
		if ((k = poll(&pfd, 1, WORKER_CHECK_MS)) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (k > 0 && read(w->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si) &&
		    si.ssi_signo == SIGTERM)
			return 0;
		if (w->next_prune_ms != 0 && clock_monotonic_ms() >= w->next_prune_ms)
			worker_prune(w);
		if (w->next_pending_ms != 0 && clock_monotonic_ms() >= w->next_pending_ms)
			worker_count_store(w);
		if (issuer_healthy(w->issuer, reason, sizeof(reason)))
			unavailable_since = 0;
		else if (unavailable_since == 0)
			unavailable_since = clock_monotonic_ms();
		else if (clock_monotonic_ms() - unavailable_since >= WORKER_RESPAWN_MS)
			return 1;
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
		clock_monotonic_ms() + (unsigned long long)w->cfg->server.drain_timeout * 1000;
	unsigned long long idle_since = 0;
	unsigned left;

	for (size_t i = 0; i < w->n_servers; i++)
		http_server_quiesce(w->servers[i]);
	for (size_t i = 0; i < args->n_listen_fds; i++)
		close(args->listen_fds[i]); /* our copies; the supervisor keeps its own */
	for (size_t i = 0; i < args->n_tls_fds; i++)
		close(args->tls_fds[i]);
	/*
	 * MHD announces a connection it accepted just before the quiesce a moment later,
	 * from its own thread: nothing in flight counts only once it has stayed so for
	 * WORKER_DRAIN_SETTLE_MS.
	 */
	for (;;) {
		unsigned long long now = clock_monotonic_ms();

		if ((left = worker_requests_in_flight(w)) > 0)
			idle_since = 0;
		else if (idle_since == 0)
			idle_since = now;
		else if (now - idle_since >= WORKER_DRAIN_SETTLE_MS)
			break;
		if (now >= deadline)
			break;
		poll(NULL, 0, WORKER_DRAIN_POLL_MS);
	}
	if (left > 0)
		log_warning("drain timeout: closing %u request(s) still in flight", left);
}

static void
worker_free(struct worker *w)
{
	for (size_t i = 0; i < w->n_servers; i++)
		http_server_free(w->servers[i]);
	free(w->servers);
	free(w->routes);
	free(w->route_labels);
	free(w->expiry);
	for (size_t i = 0; w->profiles != NULL && i < w->cfg->n_profiles; i++) {
		csr_http_free(w->profiles[i].csr);
		scep_http_free(w->profiles[i].scep);
		ndes_http_free(w->profiles[i].ndes);
	}
	free(w->profiles);
	for (size_t i = 0; w->ca_routes != NULL && i < w->cfg->n_cas; i++) {
		free(w->ca_routes[i].pem_path);
		ocsp_cache_free(w->ca_routes[i].ocsp.cache);
	}
	free(w->ca_routes);
	admin_http_free(w->admin);
	crl_publish_free(w->crls);
	issuer_free(w->issuer); /* keys last: ENGINE_finish before _exit() */
	if (w->signal_fd >= 0)
		close(w->signal_fd);
}

int
worker_run(const struct worker_args *args)
{
	struct worker w = {
		.cfg = args->cfg, .stats = args->stats, .share = args->share, .signal_fd = -1
	};
	int r, code = SCEPD_EXIT_FAILURE;

	log_set_role(args->slot, args->generation);
	prctl(PR_SET_NAME, "scepd-worker");
	if ((r = worker_setup_signals(&w)) < 0) {
		log_error_errno(r, "cannot set up signal handling");
		goto out;
	}
	code = worker_setup_issuer(&w, args->may_start_unavailable);
	secret_forget_env(); /* read for good: the supervisor keeps them for restarts */
	if (code != SCEPD_EXIT_OK)
		goto out;
	code = SCEPD_EXIT_FAILURE;
	if ((r = worker_start_http(&w, args)) < 0)
		goto out;
	if ((r = worker_report_ready(args->status_fd)) < 0) {
		log_error_errno(r, "cannot report ready to the supervisor");
		goto out;
	}
	log_debug("ready, serving %zu socket(s)", w.n_servers);
	if (args->slot == 0 && w.cfg->storage.keep_days > 0)
		w.next_prune_ms = clock_monotonic_ms() + WORKER_FIRST_PRUNE_MS;
	if (args->slot == 0)
		w.next_pending_ms = clock_monotonic_ms();
	if ((r = worker_wait_for_stop(&w)) < 0) {
		log_error_errno(r, "cannot wait for signals");
		goto out;
	}
	if (r > 0)
		log_notice("cannot sign for %d s: asking for a fresh worker",
			   WORKER_RESPAWN_MS / 1000);
	worker_drain(&w, args);
	code = r > 0 ? SCEPD_EXIT_RESPAWN : SCEPD_EXIT_OK;
out:
	worker_free(&w);
	return code;
}
