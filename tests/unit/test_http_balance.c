/*
 * test_http_balance.c - connections per worker, shared (http_balance.h): a worker is
 * told to leave a connection to another only when that other one accepts on the same
 * socket, holds fewer, and is alive; a worker that stopped accepting, one on another
 * socket and one whose process died are not waited for, and a dead worker's cell is
 * taken by the next to join. The workers are real processes sharing the mapping.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "scepd/http_balance.h"

/*
 * A process that joins socket `listener`, counts n connections and exits; with a
 * socket pair, it says so on fds[1] and waits until the test closes fds[0].
 */
static pid_t
test_worker(struct http_balance *balance, unsigned listener, int n, const int *fds)
{
	int wait_fd = fds != NULL ? fds[1] : -1;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		if (fds != NULL)
			close(fds[0]);
		struct http_balance_cell *cell = NULL;
		char byte;

		if (http_balance_join(balance, listener, &cell) < 0)
			_exit(1);
		for (int i = 0; i < n; i++)
			http_balance_add(cell, 1);
		if (wait_fd >= 0) {
			if (write(wait_fd, "j", 1) != 1)
				_exit(1);
			(void)!read(wait_fd, &byte, 1); /* until the test closes its end */
		}
		_exit(0);
	}
	return pid;
}

static void
test_fewer_elsewhere(void **state)
{
	struct http_balance *balance = NULL;
	struct http_balance_cell *mine = NULL;
	int sv[2];
	char byte;
	pid_t other;

	(void)state;
	assert_int_equal(http_balance_new(&balance), 0);
	assert_int_equal(http_balance_join(balance, 0, &mine), 0);
	for (int i = 0; i < 3; i++)
		http_balance_add(mine, 1);
	assert_false(http_balance_fewer_elsewhere(balance, mine)); /* alone */

	/* Another live worker on socket 0 with 1 connection: leave it the next one. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	other = test_worker(balance, 0, 1, sv);
	assert_int_equal(read(sv[0], &byte, 1), 1);
	assert_true(http_balance_fewer_elsewhere(balance, mine));
	/* Down to 1 here too: not fewer than us any more. */
	http_balance_add(mine, -1);
	http_balance_add(mine, -1);
	assert_false(http_balance_fewer_elsewhere(balance, mine));
	http_balance_add(mine, 1);
	assert_true(http_balance_fewer_elsewhere(balance, mine));

	/* It dies: not waited for; its cell goes to the next that joins. */
	close(sv[0]);
	assert_int_equal(waitpid(other, NULL, 0), other);
	close(sv[1]);
	assert_false(http_balance_fewer_elsewhere(balance, mine));
	http_balance_leave(mine);
	http_balance_free(balance);
}

static void
test_sockets_and_stop(void **state)
{
	struct http_balance *balance = NULL;
	struct http_balance_cell *a = NULL, *b = NULL, *c = NULL, *again = NULL;

	(void)state;
	assert_int_equal(http_balance_new(&balance), 0);
	/* Cells of one process stand for its sockets; only the same socket compares. */
	assert_int_equal(http_balance_join(balance, 0, &a), 0);
	assert_int_equal(http_balance_join(balance, 1, &b), 0);
	assert_int_equal(http_balance_join(balance, 0, &c), 0);
	assert_true(a != b && a != c && b != c);
	http_balance_add(a, 1);
	http_balance_add(a, 1);
	assert_true(http_balance_fewer_elsewhere(balance, a)); /* c: 0 on socket 0 */
	assert_false(http_balance_fewer_elsewhere(balance, b));
	/* c stops accepting (a worker draining): not waited for. */
	http_balance_stop(c);
	assert_false(http_balance_fewer_elsewhere(balance, a));
	/* Its cell given back is the next one taken, counting from 0. */
	http_balance_leave(c);
	assert_int_equal(http_balance_join(balance, 0, &again), 0);
	assert_ptr_equal(again, c);
	assert_true(http_balance_fewer_elsewhere(balance, a));
	http_balance_leave(NULL);
	http_balance_free(balance);
	http_balance_free(NULL);
}

static void
test_dead_cell_taken(void **state)
{
	struct http_balance *balance = NULL;
	struct http_balance_cell *cells[2] = { NULL };
	int status = -1;
	pid_t dead;

	(void)state;
	assert_int_equal(http_balance_new(&balance), 0);
	/* A worker joins with 5 connections and is gone without leaving. */
	dead = test_worker(balance, 0, 5, NULL);
	assert_int_equal(waitpid(dead, &status, 0), dead);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* Its cell, the first, is the first taken again, and counts from 0. */
	assert_int_equal(http_balance_join(balance, 0, &cells[0]), 0);
	assert_int_equal(http_balance_join(balance, 0, &cells[1]), 0);
	http_balance_add(cells[1], 1);
	assert_true(http_balance_fewer_elsewhere(balance, cells[1]));
	assert_false(http_balance_fewer_elsewhere(balance, cells[0]));
	http_balance_free(balance);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fewer_elsewhere),
		cmocka_unit_test(test_sockets_and_stop),
		cmocka_unit_test(test_dead_cell_taken),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
