/*
 * clock.h - the monotonic clock, for timeouts, backoffs and durations (never for
 * dates: those are time(NULL)).
 */
#ifndef SCEPD_CLOCK_H
#define SCEPD_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Microseconds of CLOCK_MONOTONIC. */
static inline uint64_t
clock_monotonic_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* Milliseconds of CLOCK_MONOTONIC. */
static inline uint64_t
clock_monotonic_ms(void)
{
	return clock_monotonic_us() / 1000;
}

#endif
