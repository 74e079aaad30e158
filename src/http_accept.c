/*
 * http_accept.c - one accepting thread per listening socket and worker (http_accept.h).
 *
 * The thread waits in epoll for the listening socket and for an eventfd that
 * http_accept_stop() writes. It accepts one connection per wake-up (level-triggered:
 * what it leaves, a worker is woken for again), unless the room callback says no;
 * then it only waits for the stop, HTTP_ACCEPT_FULL_MS at a time, and looks again.
 */
#include "http_accept.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "scepd/log.h"

#define HTTP_ACCEPT_FULL_MS  10 /* between looks while the worker is full */
#define HTTP_ACCEPT_BATCH    1 /* connections taken per wake-up: more would pile them on one worker */
#define HTTP_ACCEPT_ERROR_MS 50 /* after EMFILE and the like: let connections close */

struct http_accept {
	int listen_fd;
	int epoll_fd;
	int stop_fd; /* eventfd */
	http_accept_hand_fn *hand;
	http_accept_room_fn *room;
	void *userdata;
	pthread_t thread;
	time_t warned; /* CLOCK_MONOTONIC seconds of the last failed accept logged */
};

/* Waits up to ms for the stop: true once it came. */
static bool
http_accept_stopped(struct http_accept *a, int ms)
{
	struct epoll_event ev;
	int n;

	/* The stop fd alone: the listening socket, ready or not, must not wake this one. */
	if (ms >= 0) {
		struct timespec ts = { 0, (long)ms * 1000000L };
		uint64_t v;

		nanosleep(&ts, NULL);
		return read(a->stop_fd, &v, sizeof(v)) == (ssize_t)sizeof(v);
	}
	n = epoll_wait(a->epoll_fd, &ev, 1, -1);
	return n == 1 && ev.data.fd == a->stop_fd;
}

/* Takes what is queued: false when the thread should wait before trying again. */
static bool
http_accept_batch(struct http_accept *a)
{
	for (int i = 0; i < HTTP_ACCEPT_BATCH; i++) {
		struct sockaddr_storage addr;
		socklen_t len = sizeof(addr);
		struct timespec now;
		int fd, r;

		if (!a->room(a->userdata))
			return false;
		fd = accept4(a->listen_fd, (struct sockaddr *)&addr, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			a->hand(a->userdata, fd, (struct sockaddr *)&addr, len);
			continue;
		}
		r = -errno;
		switch (-r) {
		case EAGAIN:
		case ECONNABORTED:
		case EINTR:
		case EPROTO:
			return true; /* another worker took it, or the client left */
		default: /* EMFILE and the like: once a minute in the log, not at every try */
			if (clock_gettime(CLOCK_MONOTONIC, &now) == 0 &&
			    (a->warned == 0 || now.tv_sec - a->warned >= 60)) {
				a->warned = now.tv_sec;
				log_warning_errno(r, "cannot accept a connection");
			}
			return false;
		}
	}
	return true;
}

static void *
http_accept_run(void *arg)
{
	struct http_accept *a = arg;

	for (;;) {
		if (http_accept_stopped(a, -1))
			return NULL;
		if (http_accept_batch(a))
			continue;
		if (http_accept_stopped(a, a->room(a->userdata) ? HTTP_ACCEPT_ERROR_MS
								: HTTP_ACCEPT_FULL_MS))
			return NULL;
	}
}

int
http_accept_start(int listen_fd, http_accept_hand_fn *hand, http_accept_room_fn *room,
		  void *userdata, struct http_accept **ret_accept)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct http_accept *a;
	int r;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return -ENOMEM;
	*a = (struct http_accept){ .listen_fd = listen_fd,
				   .hand = hand,
				   .room = room,
				   .userdata = userdata,
				   .epoll_fd = -1,
				   .stop_fd = -1 };
	if ((a->epoll_fd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (a->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		r = -errno;
		goto fail;
	}
	ev.data.fd = listen_fd;
	if (epoll_ctl(a->epoll_fd, EPOLL_CTL_ADD, listen_fd, &ev) < 0) {
		r = -errno;
		goto fail;
	}
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = a->stop_fd };
	if (epoll_ctl(a->epoll_fd, EPOLL_CTL_ADD, a->stop_fd, &ev) < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = -pthread_create(&a->thread, NULL, http_accept_run, a)) < 0)
		goto fail;
	*ret_accept = a;
	return 0;
fail:
	if (a->stop_fd >= 0)
		close(a->stop_fd);
	if (a->epoll_fd >= 0)
		close(a->epoll_fd);
	free(a);
	return r;
}

void
http_accept_stop(struct http_accept *a)
{
	uint64_t one = 1;

	if (a == NULL)
		return;
	(void)!write(a->stop_fd, &one, sizeof(one));
	pthread_join(a->thread, NULL);
	close(a->stop_fd);
	close(a->epoll_fd);
	free(a);
}
