/*
 * check.h - the part of `scepd -t` that needs more than the parser: the keys, and
 * the warnings about settings that are valid but risky.
 *
 * check_keys() loads every key and certificate of a loaded configuration in a
 * short-lived child process, so that no PKCS#11 module is ever initialised in the
 * calling process (which may go on to fork workers). The child prints each problem to
 * stderr as "FILE:LINE: setting: message" (config_where()), like config_load() does.
 */
#ifndef SCEPD_CHECK_H
#define SCEPD_CHECK_H

#include "scepd/config.h"

/*
 * Returns the exit code for `scepd -t` (enum scepd_exit), not an errno: 0 when every
 * key loads and matches its certificate, 3 (SCEPD_EXIT_FATAL) for a wrong or locked
 * PIN, 1 for any other problem (including a failed fork or a child that crashed).
 * Prints nothing on success.
 */
int check_keys(const struct scepd_config *cfg);

/*
 * Read every users file (scep.challenge.ndes.users) as the workers will: each problem
 * on stderr as "FILE:LINE: setting: USERS:LINE: what is wrong". Returns 0 or 1 (enum
 * scepd_exit).
 */
int check_users(const struct scepd_config *cfg);

/*
 * Print each config_warnings() line on stderr ("FILE:LINE: setting: warning: ...").
 * Warnings never make `scepd -t` fail.
 */
void check_warnings(const struct scepd_config *cfg);

/*
 * server.tls's files (nothing when TLS is off): readable, a certificate, an unencrypted
 * key that belongs to it, a client CA with a certificate, a certificate in its validity
 * period. Each problem on stderr as "FILE:LINE: setting: message"; a certificate that
 * expires within TLS_FILES_EXPIRY_WARN_DAYS days and a key file readable by group or
 * others are warnings. Returns SCEPD_EXIT_OK or SCEPD_EXIT_FAILURE.
 */
int check_tls(const struct scepd_config *cfg);

/*
 * The store of storage.uri, as the workers will open it, in a short-lived child that
 * switches to server.user and server.group first (when started as root): for SQLite,
 * the database's directory exists and that user may create files in it, and the file,
 * if there is one, opens for reading and writing; for PostgreSQL, a login within
 * CHECK_STORE_TIMEOUT_S seconds (unless the URI sets connect_timeout), with
 * storage.password. Nothing is created or changed. The problem on stderr as
 * "FILE:LINE: storage.uri: cannot open the store: PATH-OR-HOST: why". Returns 0 or 1.
 */
#define CHECK_STORE_TIMEOUT_S 3
int check_store(const struct scepd_config *cfg);

/*
 * With the admin group: read and parse admin.tokens as a worker would, printing
 * "FILE:LINE: admin.tokens: PATH:LINE: what is wrong" (or "...: PATH: cannot read: ...")
 * on stderr. Returns 0 or 1 (SCEPD_EXIT_FAILURE).
 */
int check_admin_tokens(const struct scepd_config *cfg);

#endif
