/*
 * config_keys.h - every setting of scepd.conf, written down once.
 *
 * CONFIG_KEYS(G, X) expands G(NAME) for each group and X(NAME, TYPE, FLAGS, DEFAULT,
 * MIN, MAX, FIELD) for each setting, in the order config.c reads them:
 *
 *	NAME	the dotted name used in error lines and by config_line() and config_where()
 *	TYPE	picks the converter in config_conv.c (CONFIG_T_<TYPE>)
 *	FLAGS	NONE, REQUIRED, or PIN (an inline value is kept for the
 *		engine.allow_inline_pin check)
 *	DEFAULT	the value as it would be written in the file; NULL = unset (csr.auth:
 *		unset means /csr is not served; see config_rules_csr)
 *	MIN/MAX	bounds of an integer (for FRESHNESS: of the factor)
 *	FIELD	the member of struct scepd_config that receives the value (on a
 *		line of its own)
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
	X("server.listen",                 LISTEN,      NONE,     "127.0.0.1:8080", 0, 0, \
	  server.listen) \
	X("server.workers",                INT,         NONE,     "0", 0, 1024, \
	  server.workers) \
	X("server.threads",                INT,         NONE,     "4", 1, 64, \
	  server.threads) \
	X("server.max_request_bytes",      INT,         NONE,     "131072", 4096, 16777216, \
	  server.max_request_bytes) \
	X("server.request_timeout",        INT,         NONE,     "30", 1, 3600, \
	  server.request_timeout) \
	X("server.max_connections",        INT,         NONE,     "1024", 1, 65536, \
	  server.max_connections) \
	X("server.max_connections_per_ip", INT,         NONE,     "-1", -1, 65536, \
	  server.max_connections_per_ip) \
	X("server.drain_timeout",          INT,         NONE,     "10", 1, 3600, \
	  server.drain_timeout) \
	X("server.user",                   STRING,      NONE,     NULL, 0, 0, \
	  server.user) \
	X("server.group",                  STRING,      NONE,     NULL, 0, 0, \
	  server.group) \
	G("engine") \
	X("engine.id",                     STRING,      NONE,     NULL, 0, 0, \
	  engine.id) \
	X("engine.pre",                    COMMANDS,    NONE,     NULL, 0, 0, \
	  engine.pre) \
	X("engine.post",                   COMMANDS,    NONE,     NULL, 0, 0, \
	  engine.post) \
	X("engine.pin",                    SECRET,      PIN,      NULL, 0, 0, \
	  engine.pin) \
	X("engine.allow_inline_pin",       BOOL,        NONE,     "false", 0, 0, \
	  engine.allow_inline_pin) \
	G("ca") \
	X("ca.certificate",                FILE,        REQUIRED, NULL, 0, 0, \
	  ca.certificate) \
	X("ca.key",                        KEY,         REQUIRED, NULL, 0, 0, \
	  ca.key) \
	X("ca.key_passphrase",             SECRET,      NONE,     NULL, 0, 0, \
	  ca.key_passphrase) \
	X("ca.next_certificate",           FILE,        NONE,     NULL, 0, 0, \
	  ca.next_certificate) \
	X("ca.days",                       INT,         NONE,     "365", 1, 36500, \
	  ca.days) \
	X("ca.backdate",                   INT,         NONE,     "0", 0, 86400, \
	  ca.backdate) \
	X("ca.serial",                     SERIAL,      NONE,     "random", 0, 0, \
	  ca.serial) \
	X("ca.digest",                     DIGEST,      NONE,     "sha256", 0, 0, \
	  ca.digest) \
	X("ca.extensions",                 EXTENSIONS,  NONE,     NULL, 0, 0, \
	  ca.extensions) \
	G("scep") \
	X("scep.path",                     URL_PATH,    NONE,     "/scep", 0, 0, \
	  scep.path) \
	X("scep.allow",                    ADDR_LIST,   NONE,     NULL, 0, 0, \
	  scep.allow) \
	G("scep.ra") \
	X("scep.ra.certificate",           FILE,        NONE,     NULL, 0, 0, \
	  scep.ra.certificate) \
	X("scep.ra.key",                   KEY,         NONE,     NULL, 0, 0, \
	  scep.ra.key) \
	X("scep.ra.key_passphrase",        SECRET,      NONE,     NULL, 0, 0, \
	  scep.ra.key_passphrase) \
	X("scep.ra.next_certificate",      FILE,        NONE,     NULL, 0, 0, \
	  scep.ra.next_certificate) \
	G("scep.challenge") \
	X("scep.challenge.mode",           CHALLENGE,   NONE,     "none", 0, 0, \
	  scep.challenge_mode) \
	X("scep.challenge.secret",         SECRET,      NONE,     NULL, 0, 0, \
	  scep.challenge_secret) \
	X("scep.approval",                 APPROVAL,    NONE,     "auto", 0, 0, \
	  scep.approval) \
	G("scep.subject") \
	X("scep.subject.request",          DN_REQUEST,  NONE,     "*", 0, 0, \
	  scep.subject.request) \
	X("scep.subject.set",              DN_SET,      NONE,     NULL, 0, 0, \
	  scep.subject.set) \
	G("scep.subject_alt_name") \
	X("scep.subject_alt_name.request", SAN_REQUEST, NONE,     NULL, 0, 0, \
	  scep.subject_alt_name.request) \
	X("scep.subject_alt_name.set",     SAN_SET,     NONE,     NULL, 0, 0, \
	  scep.subject_alt_name.set) \
	X("scep.freshness",                FRESHNESS,   NONE,     "2", 0, 1000, \
	  scep.freshness_factor) \
	X("scep.crl_url",                  URL,         NONE,     NULL, 0, 0, \
	  scep.crl_url) \
	X("scep.location",                 URL,         NONE,     NULL, 0, 0, \
	  scep.location) \
	X("scep.get_cert",                 GET_CERT,    NONE,     "same_subject", 0, 0, \
	  scep.get_cert) \
	X("scep.refusals_per_minute",      INT,         NONE,     "20", 0, 100000, \
	  scep.refusals_per_minute) \
	G("csr") \
	X("csr.path",                      URL_PATH,    NONE,     "/csr", 0, 0, \
	  csr.path) \
	X("csr.auth",                      CSR_AUTH,    NONE,     NULL, 0, 0, \
	  csr.auth) \
	X("csr.allow",                     ADDR_LIST,   NONE,     NULL, 0, 0, \
	  csr.allow) \
	G("csr.subject") \
	X("csr.subject.request",           DN_REQUEST,  NONE,     "*", 0, 0, \
	  csr.subject.request) \
	X("csr.subject.set",               DN_SET,      NONE,     NULL, 0, 0, \
	  csr.subject.set) \
	G("csr.subject_alt_name") \
	X("csr.subject_alt_name.request",  SAN_REQUEST, NONE,     NULL, 0, 0, \
	  csr.subject_alt_name.request) \
	X("csr.subject_alt_name.set",      SAN_SET,     NONE,     NULL, 0, 0, \
	  csr.subject_alt_name.set) \
	G("storage") \
	X("storage.uri",                   STORAGE_URI, NONE,     CONFIG_DEFAULT_STORAGE, 0, 0, \
	  storage.uri) \
	X("storage.password",              SECRET,      NONE,     NULL, 0, 0, \
	  storage.password) \
	G("log") \
	X("log.level",                     LOG_LEVEL,   NONE,     "info", 0, 0, \
	  log.level)
/* clang-format on */

#endif
