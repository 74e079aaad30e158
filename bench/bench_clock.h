/*
 * bench_clock.h - the one clock of the benchmark's tools: seconds on CLOCK_MONOTONIC.
 */
#ifndef SCEPD_BENCH_CLOCK_H
#define SCEPD_BENCH_CLOCK_H

#include <time.h>

static inline double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
