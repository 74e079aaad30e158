/*
 * log.c - journald or stderr.
 *
 * Under systemd each record goes to journald with PRIORITY, SYSLOG_IDENTIFIER=scepd,
 * CODE_FILE/LINE/FUNC, ERRNO and the scepd fields SCEPD_ROLE, SCEPD_WORKER and
 * SCEPD_GENERATION. On stderr (`scepd -f`, or no journald) a record is one line:
 * "scepd[PID] worker 2 gen 1: error: message: strerror". Another program (scepctl)
 * names itself with log_set_program(): "scepctl[PID]: info: audit: ...", and
 * SYSLOG_IDENTIFIER=scepctl on its audit records.
 *
 * The state here is per process and set once at start (or right after fork, for a
 * worker's role); it is the only global state outside a worker's context.
 * Never logs secrets: callers don't pass them, and nothing here adds any.
 */
#include "scepd/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#define LOG_JOURNAL_SOCKET "/run/systemd/journal/socket"

static struct {
	enum log_target target;
	int max_level;
	int worker; /* < 0: the supervisor */
	unsigned generation;
	const char *program; /* NULL: scepd, with its role */
} log_state = { LOG_TARGET_STDERR, LOG_INFO, -1, 0, NULL };

static const char *const log_level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert",     [LOG_CRIT] = "crit",
	[LOG_ERR] = "error",   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

void
log_setup(enum log_target target, int max_level)
{
	if (target == LOG_TARGET_JOURNAL && access(LOG_JOURNAL_SOCKET, W_OK) < 0)
		target = LOG_TARGET_STDERR;
	log_state.target = target;
	log_state.max_level = max_level;
}

void
log_set_program(const char *program)
{
	log_state.program = program;
}

void
log_set_max_level(int max_level)
{
	log_state.max_level = max_level;
}

void
log_set_role(int worker, unsigned generation)
{
	log_state.worker = worker;
	log_state.generation = generation;
}

static void
log_to_stderr(int level, const char *message)
{
	char role[64];

	if (log_state.program != NULL) {
		fprintf(stderr, "%s[%d]: %s: %s\n", log_state.program, (int)getpid(),
			log_level_names[level], message);
		return;
	}
	if (log_state.worker < 0)
		snprintf(role, sizeof(role), "supervisor");
	else
		snprintf(role, sizeof(role), "worker %d gen %u", log_state.worker,
			 log_state.generation);
	/* One fprintf per record keeps lines of concurrent processes whole. */
	fprintf(stderr, "scepd[%d] %s: %s: %s\n", (int)getpid(), role, log_level_names[level],
		message);
}

static void
log_to_journal(int level, int error, const char *file, int line, const char *func,
	       const char *message)
{
	char f_message[2048 + 16], f_priority[32], f_file[256], f_line[32], f_func[128];
	char f_errno[32], f_role[32], f_worker[32], f_generation[32];
	struct iovec iov[11];
	size_t n = 0;

#define LOG_FIELD(buf, ...)                                                                        \
	do {                                                                                       \
		snprintf(buf, sizeof(buf), __VA_ARGS__);                                           \
		iov[n++] = (struct iovec){ buf, strlen(buf) };                                     \
	} while (0)

	LOG_FIELD(f_message, "MESSAGE=%s", message);
	LOG_FIELD(f_priority, "PRIORITY=%d", level);
	iov[n++] = (struct iovec){ "SYSLOG_IDENTIFIER=scepd", strlen("SYSLOG_IDENTIFIER=scepd") };
	LOG_FIELD(f_file, "CODE_FILE=%s", file);
	LOG_FIELD(f_line, "CODE_LINE=%d", line);
	LOG_FIELD(f_func, "CODE_FUNC=%s", func);
	if (error != 0)
		LOG_FIELD(f_errno, "ERRNO=%d", error);
	LOG_FIELD(f_role, "SCEPD_ROLE=%s", log_state.worker < 0 ? "supervisor" : "worker");
	if (log_state.worker >= 0)
		LOG_FIELD(f_worker, "SCEPD_WORKER=%d", log_state.worker);
	LOG_FIELD(f_generation, "SCEPD_GENERATION=%u", log_state.generation);
#undef LOG_FIELD
	if (sd_journal_sendv(iov, (int)n) < 0)
		log_to_stderr(level, message);
}

void
log_one_line(char *text)
{
	for (unsigned char *p = (unsigned char *)text; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/*
 * key=value for the stderr form, the value in quotes when it has a space, '=' or '"',
 * with '"' and '\' inside escaped by '\': a subject cannot add a field of its own.
 */
static size_t
log_audit_append(char *buf, size_t size, size_t len, const char *key, const char *value)
{
	bool quote;
	int n;

	if (value == NULL || len + 1 >= size)
		return len;
	quote = strpbrk(value, " \t=\"\\") != NULL;
	n = snprintf(buf + len, size - len, " %s=%s", key, quote ? "\"" : "");
	if (n < 0)
		return len;
	len = len + (size_t)n >= size ? size - 1 : len + (size_t)n;
	for (const char *v = value; *v != '\0' && len + 2 < size; v++) {
		if (quote && (*v == '"' || *v == '\\'))
			buf[len++] = '\\';
		buf[len++] = *v;
	}
	if (quote && len + 1 < size)
		buf[len++] = '"';
	buf[len] = '\0';
	return len;
}

static void
log_audit_journal_field(struct iovec *iov, size_t *n, char *buf, size_t size, const char *name,
			const char *value)
{
	if (value == NULL)
		return;
	snprintf(buf, size, "%s=%s", name, value);
	iov[(*n)++] = (struct iovec){ buf, strlen(buf) };
}

void
log_audit(const struct log_audit *a)
{
	/* clang-format off */
	const char *const fields[][2] = {
		{ "SCEPD_RESULT", a->result },
		{ "SCEPD_ENDPOINT", a->endpoint },
		{ "SCEPD_PROFILE", a->profile },
		{ "SCEPD_CLIENT", a->client },
		{ "SCEPD_SERIAL", a->serial },
		{ "SCEPD_SUBJECT", a->subject },
		{ "SCEPD_SANS", a->sans },
		{ "SCEPD_TRANSACTION_ID", a->transaction_id },
		{ "SCEPD_KEY", a->key },
		{ "SCEPD_REASON", a->reason },
		{ "SCEPD_USER", a->user },
		{ "SCEPD_CA", a->ca },
	};
	/* clang-format on */
	enum { N_FIELDS = sizeof(fields) / sizeof(fields[0]) };
	char message[2048], bufs[N_FIELDS + 3][2100];
	struct iovec iov[N_FIELDS + 3];
	size_t len, n = 0;

	if (log_state.max_level < LOG_INFO)
		return;
	len = (size_t)snprintf(message, sizeof(message), "audit:");
	len = log_audit_append(message, sizeof(message), len, "result", a->result);
	len = log_audit_append(message, sizeof(message), len, "endpoint", a->endpoint);
	len = log_audit_append(message, sizeof(message), len, "profile", a->profile);
	len = log_audit_append(message, sizeof(message), len, "client", a->client);
	len = log_audit_append(message, sizeof(message), len, "serial", a->serial);
	len = log_audit_append(message, sizeof(message), len, "subject", a->subject);
	len = log_audit_append(message, sizeof(message), len, "sans", a->sans);
	len = log_audit_append(message, sizeof(message), len, "transaction_id", a->transaction_id);
	len = log_audit_append(message, sizeof(message), len, "key", a->key);
	len = log_audit_append(message, sizeof(message), len, "reason", a->reason);
	len = log_audit_append(message, sizeof(message), len, "ca", a->ca);
	(void)log_audit_append(message, sizeof(message), len, "user", a->user);
	log_one_line(message);
	if (log_state.target != LOG_TARGET_JOURNAL) {
		log_to_stderr(LOG_INFO, message);
		return;
	}
	log_audit_journal_field(iov, &n, bufs[n], sizeof(bufs[0]), "MESSAGE", message);
	log_audit_journal_field(iov, &n, bufs[n], sizeof(bufs[0]), "PRIORITY", "6");
	log_audit_journal_field(iov, &n, bufs[n], sizeof(bufs[0]), "SYSLOG_IDENTIFIER",
				log_state.program != NULL ? log_state.program : "scepd");
	for (size_t i = 0; i < N_FIELDS; i++)
		log_audit_journal_field(iov, &n, bufs[n], sizeof(bufs[0]), fields[i][0],
					fields[i][1]);
	if (sd_journal_sendv(iov, (int)n) < 0)
		log_to_stderr(LOG_INFO, message);
}

int
log_internal(int level, int error, const char *file, int line, const char *func, const char *format,
	     ...)
{
	char message[2048];
	int saved_errno = errno;
	size_t len;
	va_list ap;

	error = abs(error);
	if (level < LOG_EMERG || level > LOG_DEBUG)
		level = LOG_ERR;
	if (level > log_state.max_level)
		goto out;

	va_start(ap, format);
	vsnprintf(message, sizeof(message), format, ap);
	va_end(ap);
	len = strlen(message);
	if (error != 0)
		snprintf(message + len, sizeof(message) - len, ": %s", strerror(error));
	log_one_line(message);

	if (log_state.target == LOG_TARGET_JOURNAL)
		log_to_journal(level, error, file, line, func, message);
	else
		log_to_stderr(level, message);
out:
	errno = saved_errno;
	return -error;
}
