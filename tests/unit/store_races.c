/*
 * store_races.c - see store_races.h. The racers are forked children: no cmocka in
 * them, an exit status instead (0 won, STORE_RACE_LOST, or 100 + errno).
 */
#include "store_races.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define STORE_RACE_LOST 1
#define STORE_RACE_MAX  16

static void
store_race_child(const struct store_race *rc, unsigned i, int go_fd)
{
	struct store *st = NULL;
	char c;
	int r;

	if ((r = store_open(rc->uri, &st)) < 0)
		_exit(100 - r);
	while (read(go_fd, &c, 1) < 0 && errno == EINTR)
		;
	r = rc->fn(st, i, rc->key);
	store_close(st);
	_exit(r == 0 ? 0 : r == rc->lost ? STORE_RACE_LOST : 100 - r);
}

unsigned
store_race_run(const struct store_race *rc, unsigned n, unsigned *ret_winner)
{
	pid_t pids[STORE_RACE_MAX];
	int go[2], status[STORE_RACE_MAX];
	unsigned winners = 0;

	assert_true(n <= STORE_RACE_MAX);
	assert_int_equal(pipe(go), 0);
	for (unsigned i = 0; i < n; i++) {
		assert_true((pids[i] = fork()) >= 0);
		if (pids[i] == 0) {
			close(go[1]);
			store_race_child(rc, i, go[0]);
		}
	}
	close(go[0]);
	usleep(rc->settle_ms * 1000);
	close(go[1]); /* EOF on the pipe: every racer starts now */
	/* Reap all of them before failing: the test's teardown removes their files. */
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(waitpid(pids[i], &status[i], 0), pids[i]);
	for (unsigned i = 0; i < n; i++) {
		assert_true(WIFEXITED(status[i]));
		if (WEXITSTATUS(status[i]) == 0) {
			winners++;
			*ret_winner = i;
		} else if (WEXITSTATUS(status[i]) != STORE_RACE_LOST) {
			fail_msg("racer %u for %s: %s", i, rc->key,
				 strerror(WEXITSTATUS(status[i]) - 100));
		}
	}
	return winners;
}
