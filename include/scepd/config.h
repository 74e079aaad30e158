/*
 * config.h - scepd's configuration: libconfig file -> typed, immutable struct.
 *
 * The supervisor loads and validates the file once (and again on SIGHUP); workers
 * inherit the result through fork() and only read it. Loading is pure: no logging,
 * no forking, no keys. Every problem found is returned as one line
 * "FILE:LINE: setting: what is wrong" and all of them are collected in one run.
 *
 * Relative paths in the file are resolved against the directory of the file, so
 * every path in a loaded struct is absolute.
 */
#ifndef SCEPD_CONFIG_H
#define SCEPD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "scepd/addr_allow.h"

/* A list of strings, e.g. server.listen. */
struct config_strv {
	char **v;
	size_t n;
};

/*
 * A (name, value) pair from a list such as engine.pre or ca.extensions.
 * value is NULL for engine commands given without a value, e.g. ("LOAD").
 */
struct config_pair {
	char *name;
	char *value;
	int line;
};

struct config_pairs {
	struct config_pair *v;
	size_t n;
};

/* One entry of a `request` list: a field name and how many may appear. */
#define CONFIG_FIELD_ANY       "*" /* the wildcard entry: copy every field */
#define CONFIG_COUNT_UNLIMITED (-1)

struct config_field_rule {
	char *field; /* "CN", "dNSName", ... or CONFIG_FIELD_ANY */
	int count;   /* CONFIG_COUNT_UNLIMITED when no count was given */
};

struct config_field_rules {
	struct config_field_rule *v;
	size_t n;
};

/* subject { request = [...]; set = ( ... ); } and the same for subject_alt_name. */
struct config_name_policy {
	struct config_field_rules request;
	struct config_pairs set;
};

/* Where a secret comes from: never the secret itself unless inline was allowed. */
enum config_secret_kind {
	CONFIG_SECRET_NONE = 0,
	CONFIG_SECRET_CREDENTIAL, /* credential:NAME -> $CREDENTIALS_DIRECTORY/NAME */
	CONFIG_SECRET_FILE,       /* file:PATH (absolute after loading) */
	CONFIG_SECRET_ENV,        /* env:NAME */
	CONFIG_SECRET_INLINE,     /* written in the file; only with allow_inline_pin */
};

struct config_secret {
	enum config_secret_kind kind;
	char *ref; /* the credential name, path, variable name or inline value */
};

/*
 * server.tls: HTTPS listeners. All of listen, certificate and key, or none (then
 * listen.n is 0). client_ca: when set, TLS clients are asked (not required) for a
 * certificate, which http_request_client_subject() verifies against it.
 */
struct config_tls {
	struct config_strv listen; /* like server.listen; none when TLS is off */
	char *certificate;         /* PEM chain, leaf first */
	char *key;                 /* PEM private key, unencrypted */
	char *client_ca;           /* PEM CA certificate(s); NULL = no client certificates */
};

struct config_server {
	struct config_strv listen;  /* "127.0.0.1:8080", "[::1]:8080" */
	int workers;                /* 0 = one per CPU */
	int threads;                /* request threads per worker */
	int max_request_bytes;      /* ScepSize; >= 4096 */
	int request_timeout;        /* seconds a connection may stay idle */
	int max_connections;        /* per worker */
	int max_connections_per_ip; /* per worker and client address; 0 = no limit (the
				       default -1 is resolved when loading: a quarter of
				       max_connections, at least 1) */
	int drain_timeout;          /* seconds old workers get to finish on reload/stop */
	char *user;                 /* NULL = keep the starting user */
	char *group;                /* NULL = the user's primary group */
	struct config_tls tls;
};

struct config_engine {
	char *id; /* CAEngineDevice; NULL = no engine (file keys only) */
	struct config_pairs pre;
	struct config_pairs post;
	struct config_secret pin;
	bool allow_inline_pin;
};

enum config_serial_kind {
	CONFIG_SERIAL_RANDOM = 0,
	CONFIG_SERIAL_FILE,
	CONFIG_SERIAL_SUBJECT,
};

/* crl = { ... } of a CA: its CRL, served at path (DER) and path.pem. */
struct config_crl {
	char *path;  /* NULL: no CRL is made or served */
	int days;    /* nextUpdate = thisUpdate + days */
	int refresh; /* seconds: a CRL older than this is made anew */
};

/* ocsp = { ... } of a CA: its OCSP responder (RFC 6960). */
struct config_ocsp {
	char *path;                          /* NULL: no responder */
	char *certificate;                   /* a delegated OCSP signer; NULL: the CA signs */
	char *key;                           /* its key: pkcs11: URI or absolute file path */
	struct config_secret key_passphrase; /* for an encrypted PEM key file */
	int cache; /* seconds a signed answer without nonce is reused; 0: never */
};

struct config_ca {
	char *name;                          /* "default" in the short form, else cas.NAME */
	char *certificate;                   /* chain file: signer first, root last */
	char *key;                           /* pkcs11: URI or absolute file path */
	struct config_secret key_passphrase; /* for an encrypted PEM key file */
	char *next_certificate;              /* NULL when not set */
	int days;
	int backdate; /* seconds notBefore lies before the time of issue */
	enum config_serial_kind serial;
	char *serial_file; /* for CONFIG_SERIAL_FILE */
	char *digest;      /* "sha256", "sha384", "sha512" */
	struct config_pairs extensions;
	struct config_crl crl;
	struct config_ocsp ocsp;
	struct config_strv crl_distribution_points; /* http:// URLs put in issued certificates */
	char *ocsp_url; /* http:// URL put in issued certificates (authorityInfoAccess); NULL */
};

struct config_scep_ra {
	char *certificate; /* NULL = no RA: the CA answers SCEP itself */
	char *key;
	struct config_secret key_passphrase;
	char *next_certificate;
};

enum config_challenge_mode {
	CONFIG_CHALLENGE_NONE = 0,
	CONFIG_CHALLENGE_STATIC,
	CONFIG_CHALLENGE_OTP,
	CONFIG_CHALLENGE_WEBHOOK, /* an HTTP(S) service says yes or no (webhook.h) */
};

enum config_approval {
	CONFIG_APPROVAL_AUTO = 0,
	CONFIG_APPROVAL_MANUAL,
};

/* scep.get_cert: who may fetch a certificate by serial with SCEP GetCert. */
enum config_get_cert {
	CONFIG_GET_CERT_SAME_SUBJECT = 0, /* a signer certificate of this CA, same subject */
	CONFIG_GET_CERT_ANY,              /* any signer (mod_scep's behaviour) */
	CONFIG_GET_CERT_NONE,             /* nobody: GetCert gets badCertId */
};

/* challenge.ndes = { ... } of a SCEP profile: the NDES-compatible challenge page. */
struct config_ndes {
	char *path;            /* NULL: no page */
	char *users_file;      /* "file:PATH" -> PATH, absolute: name:crypt-hash lines */
	bool allow_plain_http; /* serve it over plain HTTP beyond loopback (a TLS proxy) */
};

struct config_scep {
	char *path;
	struct addr_allow *allow; /* NULL = every client address */
	struct config_scep_ra ra;
	enum config_challenge_mode challenge_mode;
	struct config_secret challenge_secret; /* CONFIG_CHALLENGE_STATIC: the challenge;
						  CONFIG_CHALLENGE_WEBHOOK: the HMAC key,
						  base64 */
	char *challenge_url;     /* CONFIG_CHALLENGE_WEBHOOK: https://, or http:// to loopback */
	int challenge_timeout;   /* seconds for the whole webhook call */
	char *challenge_ca;      /* CA bundle for https; NULL: the system's */
	char *challenge_id;      /* X-Smallstep-Webhook-ID; NULL: the profile's name */
	struct config_ndes ndes; /* for CONFIG_CHALLENGE_OTP */
	enum config_approval approval;
	struct config_name_policy subject;
	struct config_name_policy subject_alt_name;
	int freshness_factor; /* ScepFreshness factor; 0 = no max-age */
	int freshness_max;    /* ScepFreshness max-seconds */
	char *crl_url;        /* NULL when empty */
	char *location;       /* NULL when empty */
	enum config_get_cert get_cert;
	int refusals_per_minute; /* signed FAILURE answers per client address, minute and
				    worker; beyond: HTTP 429. 0 = no limit */
};

enum config_csr_auth {
	CONFIG_CSR_AUTH_OFF = 0, /* csr.auth not written: /csr is not served */
	CONFIG_CSR_AUTH_NONE,    /* "none": anyone who reaches the port */
	CONFIG_CSR_AUTH_TOKENS,
};

struct config_csr {
	char *path;
	struct addr_allow *allow; /* NULL = every client address */
	enum config_csr_auth auth;
	char *tokens_file; /* for CONFIG_CSR_AUTH_TOKENS */
	struct config_name_policy subject;
	struct config_name_policy subject_alt_name;
};

/* keys = { ... } of a profile: which public keys a request may certify. */
#define CONFIG_EC_CURVES_MAX 8

struct config_key_policy {
	int rsa_min_bits;                    /* smaller RSA keys are refused */
	int ec_curves[CONFIG_EC_CURVES_MAX]; /* NIDs of the curves allowed; none: no EC key */
	size_t n_ec_curves;
};

/* renewal = { ... } of a SCEP profile. */
struct config_renewal {
	int window_days;   /* > 0: only within this many days of the old notAfter */
	bool same_subject; /* the same subject, no SAN outside the old certificate's */
};

enum config_profile_type {
	CONFIG_PROFILE_SCEP = 0,
	CONFIG_PROFILE_CSR,
};

/*
 * One endpoint: a path, the CA that signs behind it and the rules of its requests.
 * The short form (ca, scep, csr at the top level) gives profiles "scep" and "csr" of
 * CA "default"; the long form profiles.NAME. Only the member of its type is used.
 */
struct config_profile {
	char *name;
	enum config_profile_type type;
	size_t ca;                      /* index in scepd_config.cas */
	bool extensions_set;            /* extensions written: they replace the CA's */
	struct config_pairs extensions; /* when extensions_set */
	int days;                       /* 0: the CA's */
	struct config_key_policy keys;
	struct config_renewal renewal; /* SCEP */
	struct config_scep scep;
	struct config_csr csr;
};

struct config_storage {
	char *uri;                     /* "sqlite:/var/lib/scepd/scepd.db" */
	struct config_secret password; /* PostgreSQL only; kind NONE: libpq's own sources */
	int keep_days; /* used/expired challenges and rejected requests older: deleted; 0: never */
	int prune_interval; /* seconds between two prunes (worker 0 of each node) */
};

struct config_log {
	int level; /* syslog priority: LOG_ERR .. LOG_DEBUG */
};

/*
 * admin = { ... }: the JSON admin API (admin_http.h). Without the group, enabled is
 * false and nothing is served at path.
 */
struct config_admin {
	bool enabled;          /* the group is written */
	char *path;            /* "/api/v1": every path below it is the API's */
	char *tokens_file;     /* file:PATH, absolute; read by the workers and scepd -t, which
				  report a file that is missing or malformed (it is not read
				  here: scepctl token new creates it) */
	bool allow_plain_http; /* serve clients that are neither on TLS nor on loopback */
	/* Written as admin.client_ca, kept in server.tls.client_ca (the TLS listeners ask
	 * for client certificates): a client certificate that verifies is an identity with
	 * these scopes. */
	struct config_strv client_scopes;
};

/* /metrics (Prometheus text): who may scrape it. */
struct config_metrics {
	/* Never NULL once loaded: without metrics.allow, loopback only (127.0.0.0/8, ::1). */
	struct addr_allow *allow;
};

struct config_lines;

struct scepd_config {
	char *path; /* the file this was loaded from */
	struct config_server server;
	struct config_engine engine;
	struct config_ca *cas; /* at least one */
	size_t n_cas;
	struct config_profile *profiles; /* in the file's order */
	size_t n_profiles;
	bool short_form; /* ca, scep and csr at the top level */
	struct config_storage storage;
	struct config_log log;
	struct config_admin admin;
	struct config_metrics metrics;
	struct config_lines *lines; /* private to config*.c: where each setting was written */
};

/* Every problem of one load, each "FILE:LINE: setting: what is wrong". */
struct config_errors {
	char **v;
	size_t n;
};

/*
 * Load and validate path. Returns 0 and the config in *ret_cfg, or a negative errno:
 * -EINVAL when the file has errors (all of them are appended to errs), -ENOENT /
 * -EACCES when it cannot be read (one line in errs as well), -ENOMEM.
 */
int config_load(const char *path, struct scepd_config **ret_cfg, struct config_errors *errs);

/* config_load() with flags. */
enum config_load_flags {
	/*
	 * For a program that loads no key (scepctl): the secrets that unlock a key
	 * (engine.pin, *.key_passphrase) and key files are checked for their form only,
	 * not opened, so that a PIN file it cannot read (or a credential: PIN outside the
	 * service) does not stop it. The store's password is checked as always.
	 */
	CONFIG_LOAD_NO_KEY_SECRETS = 1 << 0,
};
int config_load_flags(const char *path, unsigned flags, struct scepd_config **ret_cfg,
		      struct config_errors *errs);

/*
 * The same from a string: name is used in error lines, relative paths are resolved
 * against basedir (the current directory when NULL). For tests and fuzzing.
 * (Not config_read_string(): libconfig owns that name.)
 */
int config_load_string(const char *text, const char *name, const char *basedir,
		       struct scepd_config **ret_cfg, struct config_errors *errs);

void config_free(struct scepd_config *cfg);

/* The CA or profile of that name, or NULL. */
const struct config_ca *config_ca_by_name(const struct scepd_config *cfg, const char *name);
const struct config_profile *config_profile_by_name(const struct scepd_config *cfg,
						    const char *name);

/* The CA a profile signs with. */
const struct config_ca *config_profile_ca(const struct scepd_config *cfg,
					  const struct config_profile *p);

/* Whether a profile is served: a csr profile only with an auth setting. */
bool config_profile_served(const struct config_profile *p);

/*
 * The name of a setting of a CA or profile as the file spells it: "ca.key" or
 * "cas.NAME.key" for leaf "key" of a CA; "scep.ra.key" or "profiles.NAME.ra.key" for
 * leaf "ra.key" of a profile. For reports (config_where()).
 */
const char *config_ca_setting(const struct scepd_config *cfg, const struct config_ca *ca,
			      const char *leaf, char *buf, size_t size);
const char *config_profile_setting(const struct scepd_config *cfg, const struct config_profile *p,
				   const char *leaf, char *buf, size_t size);

/* The effective worker count: server.workers, or one per online CPU when 0. */
int config_worker_count(const struct scepd_config *cfg);

void config_errors_clear(struct config_errors *errs);

/*
 * The line of the file where setting ("ca.key", "server.workers") was written, or 0
 * when it was not written (a default). Reports use config_where(), which knows what to
 * name instead of 0.
 */
int config_line(const struct scepd_config *cfg, const char *setting);

/* Room for any config_where() text short of a path as long as PATH_MAX. */
#define CONFIG_WHERE_MAX 4352

/*
 * "FILE:LINE: setting" in buf (cut short to size like snprintf), for every report
 * about a setting of a loaded configuration that comes after the parser: `scepd -t`,
 * the workers' log, the warnings, scepctl. Returns buf, so that it can be a printf
 * argument. FILE is cfg->path. LINE is where setting was written; for an element of a
 * list of pairs ("engine.pre[4]", "ca.extensions[0]") the element's own line, else the
 * list's; for a setting that was not written (a missing engine.pin) the line of its
 * section's anchor: engine.id for engine.*, scep.ra.key for scep.ra.*, ca.key for
 * ca.*; else 1, as the parser does.
 */
const char *config_where(const struct scepd_config *cfg, const char *setting, char *buf,
			 size_t size);

/*
 * What `scepd -t` warns about in a valid configuration: each warning one line
 * "FILE:LINE: setting: warning: ...", appended to warns. Pure, like config_load().
 * Returns 0 or -ENOMEM.
 */
int config_warnings(const struct scepd_config *cfg, struct config_errors *warns);

/*
 * Whether a PostgreSQL URI ("postgresql://" or "postgres://") names a server that is
 * not on this machine (a host other than a Unix socket path, localhost, 127.0.0.0/8
 * or ::1, in the host list or a host= / hostaddr= parameter) without
 * sslmode=verify-full. False for anything else, e.g. "sqlite:...".
 */
bool config_pg_uri_unverified(const char *uri);

/*
 * Parse one server.listen entry: "127.0.0.1:8080", "[::1]:8080", "*:8080" (every IPv4
 * address) or "[::]:8080". Numeric addresses only. Returns 0, -EINVAL (bad syntax)
 * or -ERANGE (bad port).
 */
int config_parse_listen(const char *s, struct sockaddr_storage *ret_addr, socklen_t *ret_len);

#endif
