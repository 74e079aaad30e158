/*
 * main.c - scepd's command line: run, check (-t), version, help.
 *
 *   scepd -c FILE        run: logs to journald when it is there, else to stderr
 *   scepd -c FILE -f     run in the foreground with logs on stderr
 *   scepd -c FILE -t     check the configuration and load every key (in a child):
 *                        exit 0, or print every error as "FILE:LINE: setting: what
 *                        is wrong" and exit 1 (3 for a wrong or locked PIN)
 *   scepd --version | -h
 *
 * scepd never daemonizes by itself: systemd (Type=notify) or the shell keeps it.
 * No process of scepd ever writes a core dump: a worker's memory may hold a file CA
 * key, a PIN on its way to the token, or a one-time challenge.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "scepd/check.h"
#include "scepd/config.h"
#include "scepd/exit.h"
#include "scepd/log.h"
#include "scepd/supervisor.h"

#define MAIN_DEFAULT_CONFIG "/etc/scepd/scepd.conf"

static void
main_usage(FILE *out)
{
	fprintf(out, "usage: scepd [-c FILE] [-f] [-t]\n"
		     "       scepd --version\n"
		     "\n"
		     "  -c, --config FILE  configuration file (default " MAIN_DEFAULT_CONFIG ")\n"
		     "  -f, --foreground   log to stderr instead of journald\n"
		     "  -t, --test         check the configuration and exit (0 = valid)\n"
		     "  -h, --help         show this help\n"
		     "      --version      show the version\n");
}

/*
 * Before any secret is read: no core file (RLIMIT_CORE 0, which a crash handler such
 * as systemd-coredump also honours) and not dumpable (no ptrace by the same uid, no
 * core through a pipe handler). Both are inherited by every worker and -t child; a
 * uid or gid change resets "dumpable", so the supervisor clears it again after it
 * drops privileges (supervisor_drop_privileges), before any worker is forked.
 */
static int
main_disable_core_dumps(void)
{
	const struct rlimit none = { 0, 0 };
	int r = 0;

	if (setrlimit(RLIMIT_CORE, &none) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		r = -errno;
		fprintf(stderr, "scepd: cannot disable core dumps: %s\n", strerror(-r));
	}
	return r;
}

static int
main_load_config(const char *path, struct scepd_config **ret_cfg)
{
	struct config_errors errs = { 0 };
	int r;

	r = config_load(path, ret_cfg, &errs);
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.v[i]);
	config_errors_clear(&errs);
	return r;
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "test", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *arg_config = MAIN_DEFAULT_CONFIG;
	bool arg_foreground = false, arg_test = false;
	struct scepd_config *cfg = NULL;
	int c;

	while ((c = getopt_long(argc, argv, "c:fth", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			arg_config = optarg;
			break;
		case 'f':
			arg_foreground = true;
			break;
		case 't':
			arg_test = true;
			break;
		case 'h':
			main_usage(stdout);
			return SCEPD_EXIT_OK;
		case 'V':
			printf("scepd %s\n", SCEPD_VERSION);
			return SCEPD_EXIT_OK;
		default:
			main_usage(stderr);
			return SCEPD_EXIT_FAILURE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "scepd: unexpected argument '%s'\n", argv[optind]);
		main_usage(stderr);
		return SCEPD_EXIT_FAILURE;
	}

	if (main_disable_core_dumps() < 0 || main_load_config(arg_config, &cfg) < 0)
		return SCEPD_EXIT_FAILURE;
	if (arg_test) {
		/* The keys load in a short-lived child: PKCS#11 never starts in this process. */
		int r, users;

		check_warnings(cfg);
		users = check_users(cfg);
		r = check_keys(cfg);
		if (check_tls(cfg) != SCEPD_EXIT_OK && r == SCEPD_EXIT_OK)
			r = SCEPD_EXIT_FAILURE;
		if (r == SCEPD_EXIT_OK)
			r = users;
		if (check_admin_tokens(cfg) != SCEPD_EXIT_OK && r == SCEPD_EXIT_OK)
			r = SCEPD_EXIT_FAILURE;
		if (check_store(cfg) != SCEPD_EXIT_OK && r == SCEPD_EXIT_OK)
			r = SCEPD_EXIT_FAILURE;
		if (r == SCEPD_EXIT_OK)
			printf("%s: configuration OK\n", arg_config);
		config_free(cfg);
		return r;
	}
	log_setup(arg_foreground ? LOG_TARGET_STDERR : LOG_TARGET_JOURNAL, cfg->log.level);
	return supervisor_run(arg_config, cfg);
}
