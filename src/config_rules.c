/*
 * config_rules.c - the rules that tie settings together, and the warnings of
 * `scepd -t` about settings that are valid but risky.
 *
 *	config_rules_check() runs once every setting is converted: a PIN written in
 *	the file, engine settings without engine.id, an RA without its key or
 *	certificate, a challenge secret without mode "static" or "webhook", webhook
 *	settings without mode "webhook" and that mode without its URL, an NDES page
 *	without mode "otp" (or without its path or users), reserved or shared URL
 *	paths, a csr group without csr.auth, a password for an SQLite store, an
 *	incomplete server.tls or one whose address server.listen takes; then it
 *	resolves server.max_connections_per_ip = -1. A rule is reported
 *	where the setting was written, else at its closest written group.
 *
 *	config_warnings() lists the warnings of a loaded configuration (an open
 *	/csr, a PostgreSQL server reached without sslmode=verify-full), each
 *	"FILE:LINE: setting: warning: ..." (config_where()).
 *	config_pg_uri_unverified() reads a PostgreSQL URI the way libpq does, as
 *	far as its hosts and sslmode go.
 *
 * Never here: files, keys, the network (a URI is judged by its text), logging.
 * Errors are recorded with config_error(); functions return 0 or -ENOMEM.
 */
#include "config_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "scepd/admin_tokens.h"

/* clang-format off */
static const char *const config_rules_reserved_paths[] = {
	"/healthz",
	"/metrics",
	"/cgi-bin/pkiclient.exe",
	NULL,
};
/* clang-format on */

/* Whether element e of engine.pre/post is a ("PIN", ...) command. */
static bool
config_rules_is_pin_command(const config_setting_t *e)
{
	const config_setting_t *n;

	if (!config_setting_is_list(e) && !config_setting_is_array(e))
		return false;
	n = config_setting_get_elem(e, 0);
	return n != NULL && config_setting_type(n) == CONFIG_TYPE_STRING &&
	       strcasecmp(config_setting_get_string(n), "PIN") == 0;
}

static int
config_rules_engine_pin(struct config_ctx *ctx)
{
	static const char *const lists[] = { "engine.pre", "engine.post" };
	char name[CONFIG_NAME_MAX + 24];
	int r = 0;

	if (ctx->cfg->engine.allow_inline_pin)
		return 0;
	if (ctx->cfg->engine.pin.kind == CONFIG_SECRET_INLINE)
		r = config_error(
			ctx, config_at(ctx, "engine.pin"), "engine.pin",
			"a PIN written in the configuration file is refused; " CONFIG_SECRET_SOURCES
			", or set engine.allow_inline_pin = true");
	for (size_t l = 0; l < 2 && r >= 0; l++) {
		const config_setting_t *list = config_found(ctx, lists[l]);
		int n = list != NULL && config_setting_is_aggregate(list)
				? config_setting_length(list)
				: 0;

		for (int i = 0; i < n && r >= 0; i++) {
			const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);

			if (!config_rules_is_pin_command(e))
				continue;
			config_elem_name(name, sizeof(name), lists[l], (size_t)i);
			r = config_error(ctx, e, name,
					 "a PIN written in the configuration file is refused; use "
					 "engine.pin, or set engine.allow_inline_pin = true");
		}
	}
	return r;
}

static int
config_rules_uri_needs_engine(struct config_ctx *ctx, const char *v, const char *name)
{
	if (v == NULL || strncmp(v, "pkcs11:", 7) != 0)
		return 0;
	return config_error(ctx, config_at(ctx, name), name,
			    "a pkcs11: URI needs engine.id to be set");
}

/* Engine settings without engine.id do nothing: that is a mistake worth a line. */
static int
config_rules_engine_id(struct config_ctx *ctx)
{
	const struct config_engine *e = &ctx->cfg->engine;
	int r = 0;

	if (e->id != NULL || config_bad(ctx, "engine.id"))
		return 0;
	if (e->pre.n > 0)
		r = config_error(ctx, config_at(ctx, "engine.pre"), "engine.pre",
				 "has no effect without engine.id");
	if (r >= 0 && e->post.n > 0)
		r = config_error(ctx, config_at(ctx, "engine.post"), "engine.post",
				 "has no effect without engine.id");
	if (r >= 0 && e->pin.kind != CONFIG_SECRET_NONE)
		r = config_error(ctx, config_at(ctx, "engine.pin"), "engine.pin",
				 "has no effect without engine.id");
	for (size_t i = 0; i < ctx->cfg->n_cas && r >= 0; i++) {
		struct config_inst before =
			config_enter(ctx, config_ca_inst(ctx->cfg, &ctx->cfg->cas[i]));

		r = config_rules_uri_needs_engine(ctx, ctx->cfg->cas[i].key, "ca.key");
		if (r >= 0)
			r = config_rules_uri_needs_engine(ctx, ctx->cfg->cas[i].ocsp.key,
							  "ca.ocsp.key");
		config_enter(ctx, before);
	}
	for (size_t i = 0; i < ctx->cfg->n_profiles && r >= 0; i++) {
		struct config_profile *p = &ctx->cfg->profiles[i];
		struct config_inst before;

		if (p->type != CONFIG_PROFILE_SCEP)
			continue;
		before = config_enter(ctx, config_profile_inst(ctx->cfg, p));
		r = config_rules_uri_needs_engine(ctx, p->scep.ra.key, "scep.ra.key");
		config_enter(ctx, before);
	}
	return r;
}

/* The RA is a certificate and a key, or nothing. */
static int
config_rules_ra(struct config_ctx *ctx, const struct config_profile *p)
{
	const struct config_scep_ra *ra = &p->scep.ra;
	bool cert = config_found(ctx, "scep.ra.certificate") != NULL;
	bool key = config_found(ctx, "scep.ra.key") != NULL;

	if (cert && !key)
		return config_error(ctx, config_at(ctx, "scep.ra.key"), "scep.ra.key",
				    "required when scep.ra.certificate is set");
	if (key && !cert)
		return config_error(ctx, config_at(ctx, "scep.ra.certificate"),
				    "scep.ra.certificate", "required when scep.ra.key is set");
	if (ra->next_certificate != NULL && !cert)
		return config_error(ctx, config_at(ctx, "scep.ra.next_certificate"),
				    "scep.ra.next_certificate", "needs scep.ra.certificate");
	return 0;
}

static int
config_rules_challenge(struct config_ctx *ctx, const struct config_profile *p)
{
	static const char *const webhook_only[] = { "scep.challenge.url", "scep.challenge.timeout",
						    "scep.challenge.ca", "scep.challenge.id" };
	const struct config_scep *scep = &p->scep;
	bool secret = config_found(ctx, "scep.challenge.secret") != NULL;
	bool webhook = scep->challenge_mode == CONFIG_CHALLENGE_WEBHOOK;
	int r = 0;

	if (config_bad(ctx, "scep.challenge.mode"))
		return 0;
	if (scep->challenge_mode == CONFIG_CHALLENGE_STATIC && !secret)
		return config_error(ctx, config_at(ctx, "scep.challenge.secret"),
				    "scep.challenge.secret",
				    "required when scep.challenge.mode = \"static\"");
	if (webhook && !secret)
		r = config_error(ctx, config_at(ctx, "scep.challenge.secret"),
				 "scep.challenge.secret",
				 "required when scep.challenge.mode = \"webhook\" (the base64 key "
				 "that signs each call, as step-ca's webhook secret)");
	if (!webhook && scep->challenge_mode != CONFIG_CHALLENGE_STATIC && secret)
		return config_error(
			ctx, config_at(ctx, "scep.challenge.secret"), "scep.challenge.secret",
			"only used when scep.challenge.mode = \"static\" or \"webhook\"");
	if (r >= 0 && webhook && scep->challenge_url == NULL &&
	    !config_bad(ctx, "scep.challenge.url"))
		r = config_error(ctx, config_at(ctx, "scep.challenge.url"), "scep.challenge.url",
				 "required when scep.challenge.mode = \"webhook\"");
	for (const char *c = scep->challenge_id; r >= 0 && c != NULL && *c != '\0'; c++)
		if (!isprint((unsigned char)*c)) {
			r = config_error(ctx, config_at(ctx, "scep.challenge.id"),
					 "scep.challenge.id",
					 "printable ASCII on one line only: it is sent as the "
					 "X-Smallstep-Webhook-ID header");
			break;
		}
	for (size_t i = 0; r >= 0 && !webhook && i < sizeof(webhook_only) / sizeof(webhook_only[0]);
	     i++)
		if (config_found(ctx, webhook_only[i]) != NULL)
			r = config_error(ctx, config_at(ctx, webhook_only[i]), webhook_only[i],
					 "only used when scep.challenge.mode = \"webhook\"");
	return r;
}

/*
 * The NDES page mints one-time challenges: only with mode "otp", and with a path and
 * a users file (which `scepd -t` and the workers read: htpasswd.h).
 */
static int
config_rules_ndes(struct config_ctx *ctx, const struct config_profile *p)
{
	const struct config_ndes *ndes = &p->scep.ndes;
	int r = 0;

	if (config_found(ctx, "scep.challenge.ndes") == NULL)
		return 0;
	if (!config_bad(ctx, "scep.challenge.mode") &&
	    p->scep.challenge_mode != CONFIG_CHALLENGE_OTP)
		r = config_error(ctx, config_at(ctx, "scep.challenge.ndes"), "scep.challenge.ndes",
				 "only with scep.challenge.mode = \"otp\": the page gives out "
				 "one-time challenges");
	if (r >= 0 && ndes->path == NULL && !config_bad(ctx, "scep.challenge.ndes.path"))
		r = config_error(
			ctx, config_at(ctx, "scep.challenge.ndes.path"), "scep.challenge.ndes.path",
			"required: the URL path of the NDES page (\"/certsrv/mscep_admin/\")");
	if (r >= 0 && ndes->users_file == NULL && !config_bad(ctx, "scep.challenge.ndes.users"))
		r = config_error(ctx, config_at(ctx, "scep.challenge.ndes.users"),
				 "scep.challenge.ndes.users",
				 "required: \"file:PATH\" of name:hash lines (htpasswd -B)");
	return r;
}

static bool
config_rules_path_reserved(const char *path)
{
	for (size_t i = 0; path != NULL && config_rules_reserved_paths[i] != NULL; i++)
		if (strcmp(path, config_rules_reserved_paths[i]) == 0)
			return true;
	return false;
}

static const char *
config_rules_path(const struct config_profile *p)
{
	return p->type == CONFIG_PROFILE_SCEP ? p->scep.path : p->csr.path;
}

static bool
config_rules_path_written(struct config_ctx *ctx, const struct config_profile *p)
{
	struct config_inst before =
		config_enter(ctx, config_profile_inst(ctx->cfg, (struct config_profile *)p));
	bool written = config_found(ctx, p->type == CONFIG_PROFILE_SCEP ? "scep.path" : "csr.path");

	config_enter(ctx, before);
	return written;
}

/* A served profile's path: not reserved, not another's; in the long form, written. */
static int
config_rules_profile_path(struct config_ctx *ctx, size_t i)
{
	const struct scepd_config *cfg = ctx->cfg;
	const struct config_profile *p = &cfg->profiles[i];
	const char *name = p->type == CONFIG_PROFILE_SCEP ? "scep.path" : "csr.path";
	const char *path = config_rules_path(p);
	char other[CONFIG_NAME_MAX * 2];

	if (!cfg->short_form && config_found(ctx, name) == NULL)
		return config_error(ctx, config_at(ctx, name), name,
				    "required: the URL path the profile answers at");
	if (path == NULL) /* its own error was reported */
		return 0;
	if (config_rules_path_reserved(path))
		return config_error(ctx, config_at(ctx, name), name,
				    "'%s' is reserved (/healthz, /metrics, /cgi-bin/pkiclient.exe)",
				    path);
	for (size_t k = 0; k < cfg->n_profiles; k++) {
		const struct config_profile *q = &cfg->profiles[k];
		bool mine, theirs;

		if (k == i || !config_profile_served(q) || config_rules_path(q) == NULL ||
		    strcmp(config_rules_path(q), path) != 0)
			continue;
		/* Once per pair, where it was written: the later one when both were. */
		mine = config_rules_path_written(ctx, p);
		theirs = config_rules_path_written(ctx, q);
		if (mine == theirs ? k > i : theirs)
			continue;
		config_profile_setting(cfg, q, "path", other, sizeof(other));
		return config_error(ctx, config_at(ctx, name), name, "'%s' is also %s", path,
				    other);
	}
	return 0;
}

/* -1 (the default): no single address may take all of a worker's connections. */
static void
config_rules_per_ip(struct config_ctx *ctx)
{
	struct config_server *srv = &ctx->cfg->server;

	if (srv->max_connections_per_ip != -1)
		return;
	srv->max_connections_per_ip = srv->max_connections / CONFIG_PER_IP_AUTO_SHARE;
	if (srv->max_connections_per_ip < 1)
		srv->max_connections_per_ip = 1;
}

/*
 * Whether two listen addresses cannot both be bound: the same family and port, and the
 * same address or a wildcard on either side (IPv6 sockets are IPV6_V6ONLY).
 */
static bool
config_rules_listen_collide(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;

		return x->sin_port == y->sin_port && (x->sin_addr.s_addr == y->sin_addr.s_addr ||
						      x->sin_addr.s_addr == htonl(INADDR_ANY) ||
						      y->sin_addr.s_addr == htonl(INADDR_ANY));
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;

		return x->sin6_port == y->sin6_port &&
		       (IN6_ARE_ADDR_EQUAL(&x->sin6_addr, &y->sin6_addr) ||
			IN6_IS_ADDR_UNSPECIFIED(&x->sin6_addr) ||
			IN6_IS_ADDR_UNSPECIFIED(&y->sin6_addr));
	}
	return false;
}

/*
 * server.tls: listen, certificate and key together or not at all; client_ca only with
 * them; no TLS address that server.listen takes already.
 */
static int
config_rules_tls(struct config_ctx *ctx)
{
	static const char *const needed[] = { "server.tls.listen", "server.tls.certificate",
					      "server.tls.key" };
	const struct config_server *srv = &ctx->cfg->server;
	const struct config_tls *tls = &srv->tls;
	bool any = tls->listen.n > 0 || tls->certificate != NULL || tls->key != NULL;
	struct sockaddr_storage a, b;
	socklen_t la, lb;
	int r = 0;

	if (!any)
		return tls->client_ca == NULL
			       ? 0
			       : config_error(
					 ctx, config_at(ctx, "admin.client_ca"), "admin.client_ca",
					 "needs server.tls: client certificates come over TLS");
	for (size_t i = 0; i < sizeof(needed) / sizeof(needed[0]) && r >= 0; i++)
		if (config_found(ctx, needed[i]) == NULL)
			r = config_error(ctx, config_at(ctx, needed[i]), needed[i],
					 "required for TLS: server.tls needs listen, certificate "
					 "and key");
	for (size_t i = 0; i < tls->listen.n && r >= 0; i++) {
		if (config_parse_listen(tls->listen.v[i], &a, &la) < 0)
			continue;
		for (size_t j = 0; j < srv->listen.n && r >= 0; j++)
			if (config_parse_listen(srv->listen.v[j], &b, &lb) == 0 &&
			    config_rules_listen_collide(&a, &b))
				r = config_error(ctx, config_at(ctx, "server.tls.listen"),
						 "server.tls.listen",
						 "'%s' collides with server.listen '%s': one "
						 "address and port serves either plain HTTP or TLS",
						 tls->listen.v[i], srv->listen.v[j]);
	}
	return r;
}

/* A password is for a PostgreSQL server: an SQLite file has none. */
static int
config_rules_storage(struct config_ctx *ctx)
{
	const struct config_storage *st = &ctx->cfg->storage;

	if (st->password.kind == CONFIG_SECRET_NONE || st->uri == NULL ||
	    strncmp(st->uri, "sqlite:", 7) != 0)
		return 0;
	return config_error(ctx, config_at(ctx, "storage.password"), "storage.password",
			    "only for a \"postgresql://\" URI: an SQLite store has no password");
}

/* One path the daemon serves, and the setting that makes it. */
struct config_rules_served {
	char setting[CONFIG_NAME_MAX * 2];
	char path[CONFIG_NAME_MAX * 4]; /* "" when the path is too long to compare here */
};

static void
config_rules_served_add(struct config_rules_served *v, size_t *n, const char *setting,
			const char *path, const char *suffix)
{
	struct config_rules_served *e = &v[(*n)++];

	snprintf(e->setting, sizeof(e->setting), "%s", setting);
	if ((size_t)snprintf(e->path, sizeof(e->path), "%s%s", path, suffix) >= sizeof(e->path))
		e->path[0] = '\0';
}

/*
 * Whether a path of setting `own` (a CA's crl.path or ocsp.path, a profile's
 * challenge.ndes.path) clashes with another served path: the other's setting name in
 * buf, or NULL. Served paths: the profiles', their NDES pages', every CRL path and its
 * .pem form, every OCSP path.
 */
static const char *
config_rules_ca_path_clash(const struct scepd_config *cfg, const char *own, char *buf, size_t size)
{
	struct config_rules_served *v;
	const char *clash = NULL;
	char setting[CONFIG_NAME_MAX * 2];
	size_t n = 0;

	if ((v = calloc(2 * cfg->n_profiles + 3 * cfg->n_cas + 1, sizeof(*v))) == NULL)
		return NULL;
	for (size_t k = 0; k < cfg->n_profiles; k++)
		if (config_profile_served(&cfg->profiles[k]) &&
		    config_rules_path(&cfg->profiles[k]) != NULL)
			config_rules_served_add(v, &n,
						config_profile_setting(cfg, &cfg->profiles[k],
								       "path", setting,
								       sizeof(setting)),
						config_rules_path(&cfg->profiles[k]), "");
	for (size_t k = 0; k < cfg->n_profiles; k++)
		if (cfg->profiles[k].type == CONFIG_PROFILE_SCEP &&
		    cfg->profiles[k].scep.ndes.path != NULL)
			config_rules_served_add(v, &n,
						config_profile_setting(cfg, &cfg->profiles[k],
								       "challenge.ndes.path",
								       setting, sizeof(setting)),
						cfg->profiles[k].scep.ndes.path, "");
	for (size_t k = 0; k < cfg->n_cas; k++) {
		const struct config_ca *ca = &cfg->cas[k];

		config_ca_setting(cfg, ca, "crl.path", setting, sizeof(setting));
		if (ca->crl.path != NULL) {
			config_rules_served_add(v, &n, setting, ca->crl.path, "");
			config_rules_served_add(v, &n, setting, ca->crl.path, ".pem");
		}
		config_ca_setting(cfg, ca, "ocsp.path", setting, sizeof(setting));
		if (ca->ocsp.path != NULL)
			config_rules_served_add(v, &n, setting, ca->ocsp.path, "");
	}
	if (cfg->admin.enabled && cfg->admin.path != NULL)
		config_rules_served_add(v, &n, "admin.path", cfg->admin.path, "");
	/* Reported once per pair: at the setting that comes later in this list. */
	for (size_t a = 0; a < n && clash == NULL; a++) {
		if (strcmp(v[a].setting, own) != 0)
			continue;
		for (size_t b = 0; b < a && clash == NULL; b++)
			if (strcmp(v[b].setting, own) != 0 && v[a].path[0] != '\0' &&
			    strcmp(v[a].path, v[b].path) == 0) {
				snprintf(buf, size, "%s", v[b].setting);
				clash = buf;
			}
	}
	free(v);
	return clash;
}

/* A CA's CRL: its path (and path.pem) not reserved nor another's; refreshed in time. */
static int
config_rules_crl(struct config_ctx *ctx, size_t i)
{
	const struct config_ca *ca = &ctx->cfg->cas[i];
	char other[CONFIG_NAME_MAX * 2], own[CONFIG_NAME_MAX * 2];

	if (ca->crl.path == NULL)
		return 0;
	if (config_rules_path_reserved(ca->crl.path))
		return config_error(ctx, config_at(ctx, "ca.crl.path"), "ca.crl.path",
				    "'%s' is reserved (/healthz, /metrics, /cgi-bin/pkiclient.exe)",
				    ca->crl.path);
	config_ca_setting(ctx->cfg, ca, "crl.path", own, sizeof(own));
	if (config_rules_ca_path_clash(ctx->cfg, own, other, sizeof(other)) != NULL)
		return config_error(ctx, config_at(ctx, "ca.crl.path"), "ca.crl.path",
				    "'%s' (or '%s.pem') is also served by %s", ca->crl.path,
				    ca->crl.path, other);
	if ((long long)ca->crl.refresh >= (long long)ca->crl.days * 86400)
		return config_error(ctx, config_at(ctx, "ca.crl.refresh"), "ca.crl.refresh",
				    "%d seconds is not less than crl.days (%d): the CRL would "
				    "expire before it is made anew",
				    ca->crl.refresh, ca->crl.days);
	return 0;
}

/* A CA's OCSP responder: a path of its own; a delegated signer is a certificate and a key. */
static int
config_rules_ocsp(struct config_ctx *ctx, size_t i)
{
	const struct config_ca *ca = &ctx->cfg->cas[i];
	char other[CONFIG_NAME_MAX * 2], own[CONFIG_NAME_MAX * 2];
	bool cert = ca->ocsp.certificate != NULL, key = ca->ocsp.key != NULL;

	if (cert && !key)
		return config_error(ctx, config_at(ctx, "ca.ocsp.key"), "ca.ocsp.key",
				    "required when ocsp.certificate is set");
	if (key && !cert)
		return config_error(ctx, config_at(ctx, "ca.ocsp.certificate"),
				    "ca.ocsp.certificate", "required when ocsp.key is set");
	if ((cert || key) && ca->ocsp.path == NULL)
		return config_error(ctx, config_at(ctx, "ca.ocsp.path"), "ca.ocsp.path",
				    "required when the ocsp group names a signer");
	if (ca->ocsp.path == NULL)
		return 0;
	if (config_rules_path_reserved(ca->ocsp.path))
		return config_error(ctx, config_at(ctx, "ca.ocsp.path"), "ca.ocsp.path",
				    "'%s' is reserved (/healthz, /metrics, /cgi-bin/pkiclient.exe)",
				    ca->ocsp.path);
	config_ca_setting(ctx->cfg, ca, "ocsp.path", own, sizeof(own));
	if (config_rules_ca_path_clash(ctx->cfg, own, other, sizeof(other)) != NULL)
		return config_error(ctx, config_at(ctx, "ca.ocsp.path"), "ca.ocsp.path",
				    "'%s' is also served by %s", ca->ocsp.path, other);
	return 0;
}

/* A profile's NDES page: a path of its own, like a CA's CRL or OCSP path. */
static int
config_rules_ndes_path(struct config_ctx *ctx, const struct config_profile *p)
{
	const char *name = "scep.challenge.ndes.path", *path = p->scep.ndes.path;
	char other[CONFIG_NAME_MAX * 2], own[CONFIG_NAME_MAX * 2];

	if (config_rules_path_reserved(path))
		return config_error(ctx, config_at(ctx, name), name,
				    "'%s' is reserved (/healthz, /metrics, /cgi-bin/pkiclient.exe)",
				    path);
	config_profile_setting(ctx->cfg, p, "challenge.ndes.path", own, sizeof(own));
	if (config_rules_ca_path_clash(ctx->cfg, own, other, sizeof(other)) != NULL)
		return config_error(ctx, config_at(ctx, name), name, "'%s' is also served by %s",
				    path, other);
	return 0;
}

/*
 * /csr is served only when the file says how its clients authenticate: a forgotten
 * setting must not leave an open certificate endpoint.
 */
static int
config_rules_csr(struct config_ctx *ctx, const struct config_profile *p)
{
	const config_setting_t *group = config_found(ctx, "csr");

	if (group == NULL || !config_setting_is_group(group) ||
	    config_found(ctx, "csr.auth") != NULL)
		return 0;
	return config_error(ctx, group, "csr.auth",
			    "required: say how %s clients authenticate (\"none\" or "
			    "\"tokens:PATH\")",
			    p->csr.path != NULL ? p->csr.path : "/csr");
}

/* The rules of one profile, in its instance. */
static int
config_rules_profile(struct config_ctx *ctx, size_t i)
{
	struct config_profile *p = &ctx->cfg->profiles[i];
	struct config_inst before = config_enter(ctx, config_profile_inst(ctx->cfg, p));
	int r = 0;

	if (p->type == CONFIG_PROFILE_SCEP) {
		if ((r = config_rules_ra(ctx, p)) >= 0 && (r = config_rules_challenge(ctx, p)) >= 0)
			r = config_rules_ndes(ctx, p);
	} else {
		r = config_rules_csr(ctx, p);
	}
	if (r >= 0 && config_profile_served(p))
		r = config_rules_profile_path(ctx, i);
	if (r >= 0 && p->type == CONFIG_PROFILE_SCEP && p->scep.ndes.path != NULL)
		r = config_rules_ndes_path(ctx, p);
	config_enter(ctx, before);
	return r;
}

/*
 * admin.client_ca and admin.client_scopes go together; a challenge:PROFILE scope names
 * a SCEP profile.
 */
static int
config_rules_admin_clients(struct config_ctx *ctx)
{
	const struct scepd_config *cfg = ctx->cfg;
	const struct config_strv *scopes = &cfg->admin.client_scopes;
	const struct config_profile *p;

	if (cfg->server.tls.client_ca != NULL && scopes->n == 0 &&
	    !config_bad(ctx, "admin.client_scopes"))
		return config_error(ctx, config_at(ctx, "admin.client_scopes"),
				    "admin.client_scopes",
				    "required with admin.client_ca: what a client certificate may "
				    "do ([\"read\", \"challenge:PROFILE\", ...])");
	if (cfg->server.tls.client_ca == NULL && scopes->n > 0)
		return config_error(
			ctx, config_at(ctx, "admin.client_scopes"), "admin.client_scopes",
			"only with admin.client_ca (the CA of the clients' certificates)");
	if (scopes->n > ADMIN_TOKENS_SCOPES_MAX)
		return config_error(ctx, config_at(ctx, "admin.client_scopes"),
				    "admin.client_scopes", "more than %d scopes",
				    ADMIN_TOKENS_SCOPES_MAX);
	for (size_t i = 0; i < scopes->n; i++) {
		if (strncmp(scopes->v[i], "challenge:", 10) != 0 ||
		    strcmp(scopes->v[i] + 10, "*") == 0)
			continue;
		p = config_profile_by_name(cfg, scopes->v[i] + 10);
		if (p == NULL || p->type != CONFIG_PROFILE_SCEP)
			return config_error(ctx, config_at(ctx, "admin.client_scopes"),
					    "admin.client_scopes",
					    "'%s': %s is not a SCEP profile of this configuration",
					    scopes->v[i], scopes->v[i] + 10);
	}
	return 0;
}

/*
 * admin = { ... }: the group turns the API on; it needs its tokens file, and a path
 * of its own (the API takes every path below it as well).
 */
static int
config_rules_admin(struct config_ctx *ctx)
{
	struct config_admin *admin = &ctx->cfg->admin;
	char other[CONFIG_NAME_MAX * 2];
	int r;

	admin->enabled = config_found(ctx, "admin") != NULL;
	if (!admin->enabled)
		return 0;
	if (admin->tokens_file == NULL && !config_bad(ctx, "admin.tokens") &&
	    (r = config_error(ctx, config_at(ctx, "admin.tokens"), "admin.tokens",
			      "required with the admin group: \"file:PATH\" (scepctl token new "
			      "writes it)")) < 0)
		return r;
	if ((r = config_rules_admin_clients(ctx)) < 0)
		return r;
	if (admin->path == NULL)
		return 0;
	if (config_rules_path_reserved(admin->path))
		return config_error(ctx, config_at(ctx, "admin.path"), "admin.path",
				    "'%s' is reserved (/healthz, /metrics, /cgi-bin/pkiclient.exe)",
				    admin->path);
	if (strcmp(admin->path, "/") == 0)
		return config_error(
			ctx, config_at(ctx, "admin.path"), "admin.path",
			"'/' would take every path: use a path of its own (\"/api/v1\")");
	if (config_rules_ca_path_clash(ctx->cfg, "admin.path", other, sizeof(other)) != NULL)
		return config_error(ctx, config_at(ctx, "admin.path"), "admin.path",
				    "'%s' is also served by %s", admin->path, other);
	return 0;
}

/* Without metrics.allow, /metrics answers loopback clients only: 127.0.0.0/8 and ::1. */
static int
config_rules_metrics(struct config_ctx *ctx)
{
	static const char *const loopback[] = { "127.0.0.0/8", "::1/128" };
	struct config_metrics *m = &ctx->cfg->metrics;
	struct addr_allow_entry e;
	int r;

	if (m->allow != NULL || config_bad(ctx, "metrics.allow"))
		return 0;
	if ((m->allow = calloc(1, sizeof(*m->allow))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++)
		if ((r = addr_allow_parse(loopback[i], &e)) < 0 ||
		    (r = addr_allow_add(m->allow, &e)) < 0)
			return r;
	return 0;
}

int
config_rules_check(struct config_ctx *ctx)
{
	int r;

	if ((r = config_rules_engine_pin(ctx)) < 0 || (r = config_rules_engine_id(ctx)) < 0 ||
	    (r = config_rules_storage(ctx)) < 0 || (r = config_rules_tls(ctx)) < 0)
		return r;
	for (size_t i = 0; i < ctx->cfg->n_profiles; i++)
		if ((r = config_rules_profile(ctx, i)) < 0)
			return r;
	for (size_t i = 0; i < ctx->cfg->n_cas; i++) {
		struct config_inst before =
			config_enter(ctx, config_ca_inst(ctx->cfg, &ctx->cfg->cas[i]));

		if ((r = config_rules_crl(ctx, i)) >= 0)
			r = config_rules_ocsp(ctx, i);
		config_enter(ctx, before);
		if (r < 0)
			return r;
	}
	if ((r = config_rules_admin(ctx)) < 0 || (r = config_rules_metrics(ctx)) < 0)
		return r;
	config_rules_per_ip(ctx);
	return 0;
}

/* Warnings (scepd -t, and the supervisor's log) */

static int
config_rules_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode src[0..len) into buf; false when it is malformed or does not fit. */
static bool
config_rules_pg_decode(const char *src, size_t len, char *buf, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = src[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return false;
			if ((hi = config_rules_hexval(src[i + 1])) < 0 ||
			    (lo = config_rules_hexval(src[i + 2])) < 0)
				return false;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (o + 1 >= size)
			return false;
		buf[o++] = c;
	}
	buf[o] = '\0';
	return true;
}

/* A host libpq reaches without leaving the machine: a socket directory or loopback. */
static bool
config_rules_pg_host_local(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (host[0] == '\0' || host[0] == '/' || host[0] == '@' ||
	    strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

/*
 * Whether every host of a comma-separated list is local. In the authority of a URI
 * (in_uri) a host may carry a port and an IPv6 address is in brackets; a host= value
 * is percent-decoded already and is plain host names or addresses.
 */
static bool
config_rules_pg_hosts_local(const char *list, size_t len, bool in_uri)
{
	char host[256];

	while (len > 0) {
		size_t n = 0, hl;
		const char *h = list, *end;

		while (n < len && list[n] != ',')
			n++;
		hl = n;
		if (in_uri && n > 0 && h[0] == '[') {
			if ((end = memchr(h, ']', n)) == NULL)
				return false;
			h++;
			hl = (size_t)(end - h);
		} else if (in_uri && (end = memchr(h, ':', n)) != NULL) {
			hl = (size_t)(end - h);
		}
		if (in_uri && !config_rules_pg_decode(h, hl, host, sizeof(host)))
			return false;
		if (!in_uri) {
			if (hl >= sizeof(host))
				return false;
			memcpy(host, h, hl);
			host[hl] = '\0';
		}
		if (!config_rules_pg_host_local(host))
			return false;
		list += n < len ? n + 1 : n;
		len -= n < len ? n + 1 : n;
	}
	return true;
}

bool
config_pg_uri_unverified(const char *uri)
{
	const char *p, *q, *query;
	char value[1024];
	bool remote, verified = false;
	size_t hostlen;

	if (uri == NULL)
		return false;
	if (strncmp(uri, "postgresql://", 13) == 0)
		p = uri + 13;
	else if (strncmp(uri, "postgres://", 11) == 0)
		p = uri + 11;
	else
		return false;
	/* user[:password]@ ends at the first '@' unless a '/' comes first (as libpq reads it). */
	for (q = p; *q != '\0' && *q != '@' && *q != '/'; q++)
		;
	if (*q == '@')
		p = q + 1;
	hostlen = strcspn(p, "/?");
	remote = !config_rules_pg_hosts_local(p, hostlen, true);
	query = strchr(p + hostlen, '?');
	for (p = query != NULL ? query + 1 : NULL; p != NULL && *p != '\0';) {
		size_t n = strcspn(p, "&"), klen = strcspn(p, "=&");
		bool decoded = klen < n && config_rules_pg_decode(p + klen + 1, n - klen - 1, value,
								  sizeof(value));

		if (klen == 7 && strncmp(p, "sslmode", 7) == 0)
			verified = decoded && strcmp(value, "verify-full") == 0;
		else if ((klen == 4 && strncmp(p, "host", 4) == 0) ||
			 (klen == 8 && strncmp(p, "hostaddr", 8) == 0))
			remote = remote || !decoded ||
				 !config_rules_pg_hosts_local(value, strlen(value), false);
		p += n;
		if (*p == '&')
			p++;
	}
	return remote && !verified;
}

static int __attribute__((format(printf, 4, 5)))
config_rules_warn(const struct scepd_config *cfg, struct config_errors *warns, const char *setting,
		  const char *fmt, ...)
{
	char where[CONFIG_WHERE_MAX], *what = NULL;
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&what, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	r = config_errors_add(warns, "%s: warning: %s",
			      config_where(cfg, setting, where, sizeof(where)), what);
	free(what);
	return r;
}

/* The warnings of one profile. */
static int
config_rules_profile_warnings(const struct scepd_config *cfg, const struct config_profile *p,
			      struct config_errors *warns)
{
	char name[CONFIG_NAME_MAX * 2], allow[CONFIG_NAME_MAX * 2];
	int r = 0;

	if (p->type == CONFIG_PROFILE_CSR && p->csr.auth == CONFIG_CSR_AUTH_NONE) {
		config_profile_setting(cfg, p, "auth", name, sizeof(name));
		config_profile_setting(cfg, p, "allow", allow, sizeof(allow));
		r = p->csr.allow == NULL
			    ? config_rules_warn(
				      cfg, warns, name,
				      "\"none\": anyone who can reach the port gets a "
				      "certificate from %s; use \"tokens:PATH\" or set %s",
				      p->csr.path, allow)
			    : config_rules_warn(cfg, warns, name,
						"\"none\": every address %s admits gets a "
						"certificate from %s without authenticating",
						allow, p->csr.path);
	}
	if (r >= 0 && p->type == CONFIG_PROFILE_SCEP && !p->renewal.same_subject) {
		config_profile_setting(cfg, p, "renewal.same_subject", name, sizeof(name));
		r = config_rules_warn(cfg, warns, name,
				      "false: the holder of any certificate of %s may renew it "
				      "into another subject and other names, with no challenge "
				      "and no approval",
				      p->scep.path);
	}
	return r;
}

int
config_warnings(const struct scepd_config *cfg, struct config_errors *warns)
{
	int r = 0;

	for (size_t i = 0; i < cfg->n_profiles && r >= 0; i++)
		if (config_profile_served(&cfg->profiles[i]))
			r = config_rules_profile_warnings(cfg, &cfg->profiles[i], warns);
	if (r >= 0 && config_pg_uri_unverified(cfg->storage.uri))
		r = config_rules_warn(
			cfg, warns, "storage.uri",
			"the PostgreSQL server is not on this machine and the URI has no "
			"sslmode=verify-full: whoever sits on the path can forge challenges "
			"and pending records, or read the issued certificates "
			"(docs/scale-out.md)");
	return r;
}
