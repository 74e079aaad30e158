/*
 * check.c - `scepd -t`: warn about risky settings, load the keys in a short-lived
 * child and report.
 *
 *	check_warnings() prints what config_warnings() finds, each line on stderr;
 *	a warning never changes the exit code.
 *
 *	check_tls() reads server.tls's files in this process (they hold no PKCS#11
 *	key) through tls_files_load(), as a worker does.
 *
 *	check_keys() forks; the child calls keys_load(), prints the failure as
 *	"FILE:LINE: setting: message" on stderr, frees the keys (ENGINE_finish before
 *	the exit, see keys.h) and leaves with _exit(): 0, 1, or 3 for a wrong or locked
 *	PIN. The parent waits and returns that code. PKCS#11 is never initialised in
 *	the calling process, which may be the supervisor-to-be.
 *
 *	check_store() probes the store in a short-lived child that first takes on
 *	server.user and server.group (when run as root), as a worker does before it
 *	opens the store: the SQLite directory must exist and take new files, a
 *	PostgreSQL server must accept the login within CHECK_STORE_TIMEOUT_S seconds.
 *	Nothing is created: a store made by root here would be the workers' to fail on.
 *
 *	check_admin_tokens() reads the admin API's tokens file (admin.tokens) as each
 *	worker does, so that a missing or malformed file is found before a reload.
 *
 *	"FILE:LINE: setting" is config_where()'s: for an element of a list
 *	("engine.pre[4]") the element's own line, for a setting that was not written
 *	(a missing engine.pin) the line of its section's anchor. The workers log
 *	the same text for the same failure.
 *
 * Never here: keys in the calling process, logging (this is a command-line check).
 */
#include "scepd/check.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "scepd/admin_tokens.h"
#include "scepd/exit.h"
#include "scepd/htpasswd.h"
#include "scepd/keys.h"
#include "scepd/privileges.h"
#include "scepd/store_login.h"
#include "scepd/tls_files.h"

void
check_warnings(const struct scepd_config *cfg)
{
	struct config_errors warns = { 0 };

	if (config_warnings(cfg, &warns) < 0)
		fprintf(stderr, "%s: cannot list the warnings: %s\n", cfg->path, strerror(ENOMEM));
	for (size_t i = 0; i < warns.n; i++)
		fprintf(stderr, "%s\n", warns.v[i]);
	config_errors_clear(&warns);
}

int
check_tls(const struct scepd_config *cfg)
{
	const struct config_tls *tls = &cfg->server.tls;
	struct tls_files_error err = { 0 };
	struct tls_files *files = NULL;
	char where[CONFIG_WHERE_MAX], date[32];
	struct tm tm;
	int code = SCEPD_EXIT_FAILURE, r;

	if (tls->certificate == NULL)
		return SCEPD_EXIT_OK;
	if ((r = tls_files_load(tls, &files, &err)) < 0) {
		if (err.setting[0] == '\0')
			fprintf(stderr, "%s: server.tls: %s\n", cfg->path, strerror(-r));
		else
			fprintf(stderr, "%s: %s\n",
				config_where(cfg, err.setting, where, sizeof(where)), err.message);
		return SCEPD_EXIT_FAILURE;
	}
	if (gmtime_r(&files->not_after, &tm) == NULL ||
	    strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(date, sizeof(date), "(unknown)");
	config_where(cfg, "server.tls.certificate", where, sizeof(where));
	if (files->expired) {
		fprintf(stderr, "%s: the certificate (serial %s) expired on %s: renew it\n", where,
			files->serial, date);
		goto out;
	}
	if (files->not_yet_valid) {
		fprintf(stderr, "%s: the certificate (serial %s) is not valid yet\n", where,
			files->serial);
		goto out;
	}
	if (files->days_left < TLS_FILES_EXPIRY_WARN_DAYS)
		fprintf(stderr,
			"%s: warning: the certificate (serial %s) expires on %s, in %d "
			"day(s)\n",
			where, files->serial, date, files->days_left);
	if (files->key_exposed)
		fprintf(stderr,
			"%s: warning: the key file is readable by its group or others: make it "
			"0600 (owned by the user scepd runs as)\n",
			config_where(cfg, "server.tls.key", where, sizeof(where)));
	code = SCEPD_EXIT_OK;
out:
	tls_files_free(files);
	return code;
}

int
check_users(const struct scepd_config *cfg)
{
	char where[CONFIG_WHERE_MAX], setting[160];
	int status = SCEPD_EXIT_OK;

	for (size_t i = 0; i < cfg->n_profiles; i++) {
		const struct config_profile *p = &cfg->profiles[i];
		struct htpasswd_error err;
		struct htpasswd *users = NULL;

		if (p->type != CONFIG_PROFILE_SCEP || p->scep.ndes.users_file == NULL)
			continue;
		if (htpasswd_load(p->scep.ndes.users_file, &users, &err) >= 0) {
			htpasswd_free(users);
			continue;
		}
		config_where(cfg,
			     config_profile_setting(cfg, p, "challenge.ndes.users", setting,
						    sizeof(setting)),
			     where, sizeof(where));
		if (err.line > 0)
			fprintf(stderr, "%s: %s:%u: %s\n", where, p->scep.ndes.users_file, err.line,
				err.message);
		else
			fprintf(stderr, "%s: %s\n", where, err.message);
		status = SCEPD_EXIT_FAILURE;
	}
	return status;
}

/*
 * Runs fn(cfg) in a child process and returns its exit code: SCEPD_EXIT_OK, or
 * SCEPD_EXIT_FATAL when fatal_ok, else SCEPD_EXIT_FAILURE. what names the check in
 * the parent's own messages.
 */
static int
check_in_child(const struct scepd_config *cfg, const char *what, bool fatal_ok,
	       int (*fn)(const struct scepd_config *cfg))
{
	pid_t pid;
	int status;

	/* Nothing buffered may be written twice, by the child and by us. */
	fflush(stdout);
	fflush(stderr);
	if ((pid = fork()) < 0) {
		fprintf(stderr, "%s: cannot fork to check %s: %s\n", cfg->path, what,
			strerror(errno));
		return SCEPD_EXIT_FAILURE;
	}
	if (pid == 0) {
		status = fn(cfg);
		fflush(stderr);
		_exit(status);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			fprintf(stderr, "%s: cannot wait for the check of %s: %s\n", cfg->path,
				what, strerror(errno));
			return SCEPD_EXIT_FAILURE;
		}
	if (WIFEXITED(status) && (WEXITSTATUS(status) == SCEPD_EXIT_OK ||
				  (fatal_ok && WEXITSTATUS(status) == SCEPD_EXIT_FATAL)))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		fprintf(stderr, "%s: the check of %s died of signal %d (%s)\n", cfg->path, what,
			WTERMSIG(status), strsignal(WTERMSIG(status)));
	return SCEPD_EXIT_FAILURE;
}

static int
check_keys_child(const struct scepd_config *cfg)
{
	char where[CONFIG_WHERE_MAX];
	struct keys_error err;
	struct keys *keys = NULL;
	int r;

	r = keys_load(cfg, &keys, &err);
	if (r < 0)
		fprintf(stderr, "%s: %s\n", config_where(cfg, err.setting, where, sizeof(where)),
			err.message);
	keys_free(keys);
	if (r >= 0)
		return SCEPD_EXIT_OK;
	return err.fatal ? SCEPD_EXIT_FATAL : SCEPD_EXIT_FAILURE;
}

/*
 * The keys load here as the user running -t (root, usually), the workers' as
 * server.user: a SoftHSM token file that server.user cannot use (a key made by root)
 * would hide the key from them. A warning, from the token directory's file modes.
 */
static void
check_token_files(const struct scepd_config *cfg)
{
	char where[CONFIG_WHERE_MAX], hint[512];
	const char *setting = NULL;

	if (geteuid() != 0 || cfg->server.user == NULL)
		return;
	for (size_t i = 0; i < cfg->n_cas && setting == NULL; i++)
		if (cfg->cas[i].key != NULL && strncmp(cfg->cas[i].key, "pkcs11:", 7) == 0)
			setting = "engine.id";
	if (setting == NULL ||
	    keys_token_files_hint(cfg, cfg->server.user, hint, sizeof(hint)) != 2)
		return;
	fprintf(stderr, "%s: warning: the workers run as server.user '%s': %s\n",
		config_where(cfg, setting, where, sizeof(where)), cfg->server.user, hint);
}

int
check_keys(const struct scepd_config *cfg)
{
	int r = check_in_child(cfg, "the keys", true, check_keys_child);

	if (r == SCEPD_EXIT_OK)
		check_token_files(cfg);
	return r;
}

/*
 * server.user and server.group, as the supervisor takes them on, when this process may
 * switch (root). 0, or 1 after printing why not.
 */
static int
check_become_server_user(const struct scepd_config *cfg)
{
	char where[CONFIG_WHERE_MAX], why[256];
	const char *setting;

	if (geteuid() != 0)
		return 0;
	if (privileges_drop(&cfg->server, &setting, why, sizeof(why)) == 0)
		return 0;
	if (setting != NULL)
		fprintf(stderr, "%s: %s\n", config_where(cfg, setting, where, sizeof(where)), why);
	else
		fprintf(stderr,
			"%s: cannot switch to server.user/server.group to check the store: %s\n",
			cfg->path, why);
	return 1;
}

static int
check_store_child(const struct scepd_config *cfg)
{
	char where[CONFIG_WHERE_MAX];
	struct secret_error err = { 0 };

	if (check_become_server_user(cfg) != 0)
		return SCEPD_EXIT_FAILURE;
	if (store_login_probe(cfg, CHECK_STORE_TIMEOUT_S, &err) == 0)
		return SCEPD_EXIT_OK;
	fprintf(stderr, "%s: %s\n",
		config_where(cfg, err.setting[0] != '\0' ? err.setting : "storage.uri", where,
			     sizeof(where)),
		err.message[0] != '\0' ? err.message : "cannot open the store");
	return SCEPD_EXIT_FAILURE;
}

int
check_store(const struct scepd_config *cfg)
{
	return check_in_child(cfg, "the store", false, check_store_child);
}

int
check_admin_tokens(const struct scepd_config *cfg)
{
	struct admin_tokens *tokens = NULL;
	struct admin_tokens_error err;
	char where[CONFIG_WHERE_MAX];
	int r;

	if (!cfg->admin.enabled || cfg->admin.tokens_file == NULL)
		return SCEPD_EXIT_OK;
	r = admin_tokens_load(cfg->admin.tokens_file, &tokens, &err);
	admin_tokens_free(tokens);
	if (r >= 0)
		return SCEPD_EXIT_OK;
	config_where(cfg, "admin.tokens", where, sizeof(where));
	if (r == -ENOMEM)
		fprintf(stderr, "%s: %s\n", where, strerror(ENOMEM));
	else if (err.line > 0)
		fprintf(stderr, "%s: %s:%u: %s\n", where, cfg->admin.tokens_file, err.line,
			err.message);
	else
		fprintf(stderr, "%s: %s: %s\n", where, cfg->admin.tokens_file, err.message);
	return SCEPD_EXIT_FAILURE;
}
