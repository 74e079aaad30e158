/*
 * http_accept.c - one accepting thread per listening socket and worker (http_accept.h).
 *
 * The thread waits in epoll for the listening socket and for an eventfd that
 * http_accept_stop() writes. It accepts one connection per wake-up (more would pile a
 * burst on one worker; level-triggered, a worker is woken again for what is left),
 * unless the room callback says no: then it waits HTTP_ACCEPT_FULL_MS for the stop
 * alone, and takes one connection all the same when the worker was only busy (so that
 * busy workers still take 500 connections a second when every worker is busy), or
 * looks again when it was full.
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

#define HTTP_ACCEPT_FULL_MS  2  /* between looks while the worker is busy or full */
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

/*
 * ms < 0: waits in epoll for a connection or the stop; ms >= 0: sleeps ms, then looks
 * for the stop alone. true once the stop came.
 */
static bool
http_accept_stopped(struct http_accept *a, int ms)
{
	struct epoll_event ev;
	int n;

	if (ms >= 0) {
		struct timespec ts = { 0, (long)ms * 1000000L };
		uint64_t v;

		nanosleep(&ts, NULL);
		return read(a->stop_fd, &v, sizeof(v)) == (ssize_t)sizeof(v);
	}
	n = epoll_wait(a->epoll_fd, &ev, 1, -1);
	return n == 1 && ev.data.fd == a->stop_fd;
}

/* What the thread does next. */
enum http_accept_next {
	HTTP_ACCEPT_WAIT,       /* in epoll, for the next connection */
	HTTP_ACCEPT_AFTER_BUSY, /* HTTP_ACCEPT_FULL_MS, then take one all the same */
	HTTP_ACCEPT_AFTER_FULL, /* HTTP_ACCEPT_FULL_MS, then look again */
	HTTP_ACCEPT_AFTER_ERROR /* HTTP_ACCEPT_ERROR_MS, then look again */
};

/* Takes one connection, if there is one and room for it (any but FULL when forced). */
static enum http_accept_next
http_accept_one(struct http_accept *a, bool force)
{
	enum http_accept_room room = a->room(a->userdata);
	struct sockaddr_storage addr;
	socklen_t len = sizeof(addr);
	struct timespec now;
	int fd, r;

	if (room == HTTP_ACCEPT_FULL)
		return HTTP_ACCEPT_AFTER_FULL;
	if (room == HTTP_ACCEPT_BUSY && !force)
		return HTTP_ACCEPT_AFTER_BUSY;
	fd = accept4(a->listen_fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd >= 0) {
		a->hand(a->userdata, fd, (struct sockaddr *)&addr, len);
		return HTTP_ACCEPT_WAIT; /* level-triggered: woken again while more wait */
	}
	r = -errno;
	switch (-r) {
	case EAGAIN:
	case ECONNABORTED:
	case EINTR:
	case EPROTO:
		return HTTP_ACCEPT_WAIT; /* another worker took it, or the client left */
	default: /* EMFILE and the like: once a minute in the log, not at every try */
		if (clock_gettime(CLOCK_MONOTONIC, &now) == 0 &&
		    (a->warned == 0 || now.tv_sec - a->warned >= 60)) {
			a->warned = now.tv_sec;
			log_warning_errno(r, "cannot accept a connection");
		}
		return HTTP_ACCEPT_AFTER_ERROR;
	}
}

static void *
http_accept_run(void *arg)
{
	struct http_accept *a = arg;
	enum http_accept_next next = HTTP_ACCEPT_WAIT;

	for (;;) {
		switch (next) {
		case HTTP_ACCEPT_WAIT:
			if (http_accept_stopped(a, -1))
				return NULL;
			next = http_accept_one(a, false);
			break;
		case HTTP_ACCEPT_AFTER_BUSY:
		case HTTP_ACCEPT_AFTER_FULL:
			if (http_accept_stopped(a, HTTP_ACCEPT_FULL_MS))
				return NULL;
			next = http_accept_one(a, next == HTTP_ACCEPT_AFTER_BUSY);
			break;
		case HTTP_ACCEPT_AFTER_ERROR:
			if (http_accept_stopped(a, HTTP_ACCEPT_ERROR_MS))
				return NULL;
			next = http_accept_one(a, false);
			break;
		}
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
