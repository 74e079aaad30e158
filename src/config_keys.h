/*
 * config_keys.h - every setting of scepd.conf, written down once.
 *
 * CONFIG_KEYS(G, X) expands G(NAME) for each group and X(NAME, TYPE, FLAGS, DEFAULT,
 * MIN, MAX, SECTION, FIELD) for each setting, in the order config.c reads them:
 *
 *	NAME	the dotted name used in error lines and by config_line() and config_where()
 *	TYPE	picks the converter in config_conv.c (CONFIG_T_<TYPE>)
 *	FLAGS	NONE, REQUIRED, KEY (a passphrase that unlocks a key: scepctl, which
 *		loads no key, does not open its file), or PIN (an inline value is kept
 *		for the engine.allow_inline_pin check; the PIN unlocks keys too)
 *	DEFAULT	the value as it would be written in the file; NULL = unset (csr.auth:
 *		unset means /csr is not served; see config_rules_csr)
 *	MIN/MAX	bounds of an integer (for FRESHNESS: of the factor)
 *	SECTION	the struct that holds the value: CFG (struct scepd_config), CA
 *		(struct config_ca: ca.* is read once for the short form and once
 *		for each cas.NAME) or PROFILE (struct config_profile: scep.* and
 *		csr.* are read for the short form's profiles "scep" and "csr" and
 *		for each profiles.NAME of that type)
 *	FIELD	the member of that struct that receives the value
 *
 * The parser, the defaults, the range checks, the "did you mean" candidates and the
 * unit test that checks docs/configuration.md and conf/scepd.conf all use this one
 * table. Keep docs/configuration.md in step when you add a line here.
 */
#ifndef SCEPD_CONFIG_KEYS_H
#define SCEPD_CONFIG_KEYS_H

/* The second value of scep.freshness and a count in a `request` list. */
#define CONFIG_FRESHNESS_MAX_DEFAULT 86400
#define CONFIG_FRESHNESS_MAX_LIMIT   31536000
#define CONFIG_REQUEST_COUNT_MIN     1
#define CONFIG_REQUEST_COUNT_MAX     1000

/* server.max_connections_per_ip when absent (or -1): max_connections / this, at least 1. */
#define CONFIG_PER_IP_AUTO_SHARE 4

/* storage.uri when the setting is absent. */
#define CONFIG_DEFAULT_STORAGE "sqlite:/var/lib/scepd/scepd.db"

/* ca.extensions when the setting is absent; an empty list written in the file means none. */
#define CONFIG_DEFAULT_EXTENSIONS(E)                                                               \
	E("basicConstraints", "CA:FALSE")                                                          \
	E("keyUsage", "critical,digitalSignature,keyEncipherment")                                 \
	E("subjectKeyIdentifier", "hash")                                                          \
	E("authorityKeyIdentifier", "keyid,issuer")

/* clang-format off */
#define CONFIG_KEYS(G, X) \
	G("server") \
	X("server.listen",                   LISTEN,      NONE,     "127.0.0.1:8080", 0, 0, \
	  CFG, server.listen) \
	X("server.workers",                  INT,         NONE,     "0", 0, 1024, \
	  CFG, server.workers) \
	X("server.threads",                  INT,         NONE,     "4", 1, 64, \
	  CFG, server.threads) \
	X("server.max_request_bytes",        INT,         NONE,     "131072", 4096, 16777216, \
	  CFG, server.max_request_bytes) \
	X("server.request_timeout",          INT,         NONE,     "30", 1, 3600, \
	  CFG, server.request_timeout) \
	X("server.max_connections",          INT,         NONE,     "1024", 1, 65536, \
	  CFG, server.max_connections) \
	X("server.max_connections_per_ip",   INT,         NONE,     "-1", -1, 65536, \
	  CFG, server.max_connections_per_ip) \
	X("server.drain_timeout",            INT,         NONE,     "10", 1, 3600, \
	  CFG, server.drain_timeout) \
	X("server.user",                     STRING,      NONE,     NULL, 0, 0, \
	  CFG, server.user) \
	X("server.group",                    STRING,      NONE,     NULL, 0, 0, \
	  CFG, server.group) \
	G("server.tls") \
	X("server.tls.listen",               LISTEN,      NONE,     NULL, 0, 0, \
	  CFG, server.tls.listen) \
	X("server.tls.certificate",          FILE,        NONE,     NULL, 0, 0, \
	  CFG, server.tls.certificate) \
	X("server.tls.key",                  FILE,        NONE,     NULL, 0, 0, \
	  CFG, server.tls.key) \
	G("engine") \
	X("engine.id",                       STRING,      NONE,     NULL, 0, 0, \
	  CFG, engine.id) \
	X("engine.pre",                      COMMANDS,    NONE,     NULL, 0, 0, \
	  CFG, engine.pre) \
	X("engine.post",                     COMMANDS,    NONE,     NULL, 0, 0, \
	  CFG, engine.post) \
	X("engine.pin",                      SECRET,      PIN,      NULL, 0, 0, \
	  CFG, engine.pin) \
	X("engine.allow_inline_pin",         BOOL,        NONE,     "false", 0, 0, \
	  CFG, engine.allow_inline_pin) \
	G("ca") \
	X("ca.certificate",                  FILE,        REQUIRED, NULL, 0, 0, \
	  CA, certificate) \
	X("ca.key",                          KEY,         REQUIRED, NULL, 0, 0, \
	  CA, key) \
	X("ca.key_passphrase",               SECRET,      KEY,      NULL, 0, 0, \
	  CA, key_passphrase) \
	X("ca.next_certificate",             FILE,        NONE,     NULL, 0, 0, \
	  CA, next_certificate) \
	X("ca.days",                         INT,         NONE,     "365", 1, 36500, \
	  CA, days) \
	X("ca.backdate",                     INT,         NONE,     "0", 0, 86400, \
	  CA, backdate) \
	X("ca.serial",                       SERIAL,      NONE,     "random", 0, 0, \
	  CA, serial) \
	X("ca.digest",                       DIGEST,      NONE,     "sha256", 0, 0, \
	  CA, digest) \
	X("ca.extensions",                   EXTENSIONS,  NONE,     NULL, 0, 0, \
	  CA, extensions) \
	G("ca.crl") \
	X("ca.crl.path",                     URL_PATH,    NONE,     NULL, 0, 0, \
	  CA, crl.path) \
	X("ca.crl.days",                     INT,         NONE,     "7", 1, 366, \
	  CA, crl.days) \
	X("ca.crl.refresh",                  INT,         NONE,     "3600", 60, 86400, \
	  CA, crl.refresh) \
	X("ca.crl_distribution_points",      HTTP_URLS,   NONE,     NULL, 0, 0, \
	  CA, crl_distribution_points) \
	X("ca.ocsp_url",                     HTTP_URL,    NONE,     NULL, 0, 0, \
	  CA, ocsp_url) \
	G("ca.ocsp") \
	X("ca.ocsp.path",                    URL_PATH,    NONE,     NULL, 0, 0, \
	  CA, ocsp.path) \
	X("ca.ocsp.certificate",             FILE,        NONE,     NULL, 0, 0, \
	  CA, ocsp.certificate) \
	X("ca.ocsp.key",                     KEY,         NONE,     NULL, 0, 0, \
	  CA, ocsp.key) \
	X("ca.ocsp.key_passphrase",          SECRET,      KEY,      NULL, 0, 0, \
	  CA, ocsp.key_passphrase) \
	X("ca.ocsp.cache",                   INT,         NONE,     "60", 0, 3600, \
	  CA, ocsp.cache) \
	G("scep") \
	X("scep.path",                       URL_PATH,    NONE,     "/scep", 0, 0, \
	  PROFILE, scep.path) \
	X("scep.allow",                      ADDR_LIST,   NONE,     NULL, 0, 0, \
	  PROFILE, scep.allow) \
	G("scep.ra") \
	X("scep.ra.certificate",             FILE,        NONE,     NULL, 0, 0, \
	  PROFILE, scep.ra.certificate) \
	X("scep.ra.key",                     KEY,         NONE,     NULL, 0, 0, \
	  PROFILE, scep.ra.key) \
	X("scep.ra.key_passphrase",          SECRET,      KEY,      NULL, 0, 0, \
	  PROFILE, scep.ra.key_passphrase) \
	X("scep.ra.next_certificate",        FILE,        NONE,     NULL, 0, 0, \
	  PROFILE, scep.ra.next_certificate) \
	G("scep.challenge") \
	X("scep.challenge.mode",             CHALLENGE,   NONE,     "none", 0, 0, \
	  PROFILE, scep.challenge_mode) \
	X("scep.challenge.secret",           SECRET,      NONE,     NULL, 0, 0, \
	  PROFILE, scep.challenge_secret) \
	X("scep.challenge.url",              WEBHOOK_URL, NONE,     NULL, 0, 0, \
	  PROFILE, scep.challenge_url) \
	X("scep.challenge.timeout",          INT,         NONE,     "5", 1, 60, \
	  PROFILE, scep.challenge_timeout) \
	X("scep.challenge.ca",               FILE,        NONE,     NULL, 0, 0, \
	  PROFILE, scep.challenge_ca) \
	X("scep.challenge.id",               STRING,      NONE,     NULL, 0, 0, \
	  PROFILE, scep.challenge_id) \
	G("scep.challenge.ndes") \
	X("scep.challenge.ndes.path",        URL_PATH,    NONE,     NULL, 0, 0, \
	  PROFILE, scep.ndes.path) \
	X("scep.challenge.ndes.users",       USERS,       NONE,     NULL, 0, 0, \
	  PROFILE, scep.ndes.users_file) \
	X("scep.challenge.ndes.allow_plain_http", BOOL,   NONE,     "false", 0, 0, \
	  PROFILE, scep.ndes.allow_plain_http) \
	X("scep.approval",                   APPROVAL,    NONE,     "auto", 0, 0, \
	  PROFILE, scep.approval) \
	G("scep.subject") \
	X("scep.subject.request",            DN_REQUEST,  NONE,     "*", 0, 0, \
	  PROFILE, scep.subject.request) \
	X("scep.subject.set",                DN_SET,      NONE,     NULL, 0, 0, \
	  PROFILE, scep.subject.set) \
	G("scep.subject_alt_name") \
	X("scep.subject_alt_name.request",   SAN_REQUEST, NONE,     NULL, 0, 0, \
	  PROFILE, scep.subject_alt_name.request) \
	X("scep.subject_alt_name.set",       SAN_SET,     NONE,     NULL, 0, 0, \
	  PROFILE, scep.subject_alt_name.set) \
	X("scep.freshness",                  FRESHNESS,   NONE,     "2", 0, 1000, \
	  PROFILE, scep.freshness_factor) \
	X("scep.crl_url",                    URL,         NONE,     NULL, 0, 0, \
	  PROFILE, scep.crl_url) \
	X("scep.location",                   URL,         NONE,     NULL, 0, 0, \
	  PROFILE, scep.location) \
	X("scep.get_cert",                   GET_CERT,    NONE,     "same_subject", 0, 0, \
	  PROFILE, scep.get_cert) \
	X("scep.refusals_per_minute",        INT,         NONE,     "20", 0, 100000, \
	  PROFILE, scep.refusals_per_minute) \
	X("scep.extensions",                 EXTENSIONS_OVERRIDE, NONE,     NULL, 0, 0, \
	  PROFILE, extensions) \
	X("scep.days",                       INT,         NONE,     "0", 0, 36500, \
	  PROFILE, days) \
	G("scep.keys") \
	X("scep.keys.rsa_min_bits",          INT,         NONE,     "2048", 1024, 16384, \
	  PROFILE, keys.rsa_min_bits) \
	X("scep.keys.ec_curves",             EC_CURVES,   NONE,     "P-256,P-384,P-521", 0, 0, \
	  PROFILE, keys) \
	G("scep.renewal") \
	X("scep.renewal.window_days",        INT,         NONE,     "0", 0, 36500, \
	  PROFILE, renewal.window_days) \
	X("scep.renewal.same_subject",       BOOL,        NONE,     "true", 0, 0, \
	  PROFILE, renewal.same_subject) \
	G("csr") \
	X("csr.path",                        URL_PATH,    NONE,     "/csr", 0, 0, \
	  PROFILE, csr.path) \
	X("csr.auth",                        CSR_AUTH,    NONE,     NULL, 0, 0, \
	  PROFILE, csr.auth) \
	X("csr.allow",                       ADDR_LIST,   NONE,     NULL, 0, 0, \
	  PROFILE, csr.allow) \
	G("csr.subject") \
	X("csr.subject.request",             DN_REQUEST,  NONE,     "*", 0, 0, \
	  PROFILE, csr.subject.request) \
	X("csr.subject.set",                 DN_SET,      NONE,     NULL, 0, 0, \
	  PROFILE, csr.subject.set) \
	G("csr.subject_alt_name") \
	X("csr.subject_alt_name.request",    SAN_REQUEST, NONE,     NULL, 0, 0, \
	  PROFILE, csr.subject_alt_name.request) \
	X("csr.subject_alt_name.set",        SAN_SET,     NONE,     NULL, 0, 0, \
	  PROFILE, csr.subject_alt_name.set) \
	X("csr.extensions",                  EXTENSIONS_OVERRIDE, NONE,     NULL, 0, 0, \
	  PROFILE, extensions) \
	X("csr.days",                        INT,         NONE,     "0", 0, 36500, \
	  PROFILE, days) \
	G("csr.keys") \
	X("csr.keys.rsa_min_bits",           INT,         NONE,     "2048", 1024, 16384, \
	  PROFILE, keys.rsa_min_bits) \
	X("csr.keys.ec_curves",              EC_CURVES,   NONE,     "P-256,P-384,P-521", 0, 0, \
	  PROFILE, keys) \
	G("storage") \
	X("storage.uri",                     STORAGE_URI, NONE,     CONFIG_DEFAULT_STORAGE, 0, 0, \
	  CFG, storage.uri) \
	X("storage.password",                SECRET,      NONE,     NULL, 0, 0, \
	  CFG, storage.password) \
	X("storage.keep_days",               INT,         NONE,     "30", 0, 36500, \
	  CFG, storage.keep_days) \
	X("storage.prune_interval",          INT,         NONE,     "3600", 10, 86400, \
	  CFG, storage.prune_interval) \
	G("log") \
	X("log.level",                       LOG_LEVEL,   NONE,     "info", 0, 0, \
	  CFG, log.level) \
	G("admin") \
	X("admin.path",                      URL_PATH,    NONE,     "/api/v1", 0, 0, \
	  CFG, admin.path) \
	X("admin.tokens",                    ADMIN_TOKENS, NONE,    NULL, 0, 0, \
	  CFG, admin.tokens_file) \
	X("admin.allow_plain_http",          BOOL,        NONE,     "false", 0, 0, \
	  CFG, admin.allow_plain_http) \
	X("admin.client_ca",                 FILE,        NONE,     NULL, 0, 0, \
	  CFG, server.tls.client_ca) \
	X("admin.client_scopes",             SCOPES,      NONE,     NULL, 0, 0, \
	  CFG, admin.client_scopes) \
	G("metrics") \
	X("metrics.allow",                   ADDR_LIST,   NONE,     NULL, 0, 0, \
	  CFG, metrics.allow)
/* clang-format on */

#endif
