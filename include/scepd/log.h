/*
 * log.h - scepd's logging: journald with structured fields, or stderr.
 *
 * Modules below the process boundary (config, codec, signer, store) never log above
 * debug; they return errors. The supervisor, the worker and the HTTP handlers log
 * once, with context. The log_*_errno() forms append strerror(-r) and return r, so a
 * caller can `return log_error_errno(r, "cannot ...");`.
 * Secrets (PINs, keys, passphrases) never reach a log line.
 */
#ifndef SCEPD_LOG_H
#define SCEPD_LOG_H

#include <syslog.h>

enum log_target {
	LOG_TARGET_STDERR,
	LOG_TARGET_JOURNAL, /* falls back to stderr when journald is not running */
};

/* Where to log and the most verbose priority that is written (LOG_ERR..LOG_DEBUG). */
void log_setup(enum log_target target, int max_level);
void log_set_max_level(int max_level);

/* Who is logging: the supervisor (worker < 0) or worker slot `worker` of `generation`. */
void log_set_role(int worker, unsigned generation);

/*
 * Another program than scepd (scepctl): its name on stderr ("scepctl[PID]: info: ...")
 * and as the SYSLOG_IDENTIFIER of its audit records. A static string.
 */
void log_set_program(const char *program);

/*
 * Replaces each control character (below 0x20, and 0x7f) in text with '?', so that
 * what a client sent cannot start a forged log line or a second line of a reply.
 * log_internal() and log_audit() do it to every record.
 */
void log_one_line(char *text);

/* Returns -abs(error), or 0 when error is 0. */
int log_internal(int level, int error, const char *file, int line, const char *func,
		 const char *format, ...) __attribute__((format(printf, 6, 7)));

#define log_full_errno(level, error, ...)                                                          \
	log_internal((level), (error), __FILE__, __LINE__, __func__, __VA_ARGS__)

#define log_debug(...)   log_full_errno(LOG_DEBUG, 0, __VA_ARGS__)
#define log_info(...)    log_full_errno(LOG_INFO, 0, __VA_ARGS__)
#define log_notice(...)  log_full_errno(LOG_NOTICE, 0, __VA_ARGS__)
#define log_warning(...) log_full_errno(LOG_WARNING, 0, __VA_ARGS__)
#define log_error(...)   log_full_errno(LOG_ERR, 0, __VA_ARGS__)

/* One record per issuance decision. NULL fields are left out. */
struct log_audit {
	const char *result;   /* "signing" (before the key is used), "issued", "denied", ... */
	const char *endpoint; /* "csr", "scep", "admin" */
	const char *profile;  /* the profile's name */
	const char *client;
	const char *serial;
	const char *subject;
	const char *sans;
	const char *transaction_id;
	const char *key;    /* the CA key that signed (URI or file) */
	const char *reason; /* why not issued; the CRLReason of a revocation */
	const char *ca;     /* the CA's name (revocations) */
	const char *user;   /* who: the Unix user running scepctl, "token:NAME" (admin API) */
};

/*
 * Logs the record at info level: on journald as SCEPD_RESULT=, SCEPD_ENDPOINT=,
 * SCEPD_PROFILE=, SCEPD_CLIENT=, SCEPD_SERIAL=, SCEPD_SUBJECT=, SCEPD_SANS=, SCEPD_TRANSACTION_ID=,
 * SCEPD_KEY=, SCEPD_REASON=, SCEPD_CA=, SCEPD_USER= fields; on stderr as one "audit: key=value ..." line.
 */
void log_audit(const struct log_audit *a);

#define log_warning_errno(error, ...) log_full_errno(LOG_WARNING, (error), __VA_ARGS__)
#define log_error_errno(error, ...)   log_full_errno(LOG_ERR, (error), __VA_ARGS__)

#endif
