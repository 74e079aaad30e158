/*
 * exit.h - the exit codes of scepd, of `scepd -t` and of its workers, which the
 * supervisor reads to decide whether to restart a worker or stop.
 */
#ifndef SCEPD_EXIT_H
#define SCEPD_EXIT_H

enum scepd_exit {
	SCEPD_EXIT_OK = 0,
	SCEPD_EXIT_FAILURE = 1, /* usage, config, start-up failure */
	SCEPD_EXIT_FATAL = 3,   /* retrying can only make it worse (wrong PIN): don't restart */
	SCEPD_EXIT_RESPAWN = 4, /* a worker that cannot sign asks for a fresh process */
};

#endif
