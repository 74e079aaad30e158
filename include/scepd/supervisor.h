/*
 * supervisor.h - the parent process: sockets, worker generations, signals, sd_notify.
 *
 * The supervisor binds every server.listen address (or takes the sockets systemd
 * passes), drops privileges, forks the workers of generation 1 and watches them until
 * SIGTERM/SIGINT. It never loads PKCS#11: keys are the workers' business.
 */
#ifndef SCEPD_SUPERVISOR_H
#define SCEPD_SUPERVISOR_H

#include "scepd/config.h"

/*
 * Serve until stopped. Takes ownership of cfg (loaded from config_path, which SIGHUP
 * reads again). Returns the process exit code (enum scepd_exit).
 */
int supervisor_run(const char *config_path, struct scepd_config *cfg);

#endif
