/*
 * http_accept.h - one accepting thread per listening socket and worker (http.c's).
 *
 * Every worker process serves the same listening socket. Were each of a worker's
 * request threads to wait on it, as libmicrohttpd's own thread pool does, every new
 * connection would wake all of them in every worker, and all but one would find
 * nothing to accept: on a virtual machine those wake-ups cost more than the request
 * (0.10 ms of server CPU per GetCACaps on a new connection with 2 workers of 4
 * threads, 0.07 ms with this). Here one thread per worker waits, accepts one
 * connection per wake-up and hands it to the request threads (the hand callback).
 * Not EPOLLEXCLUSIVE: the kernel would wake the first worker's thread whenever it
 * waits, which is almost always, and that one worker would get every connection; as
 * it is, every worker's thread is woken and one wins. While the room callback says
 * the worker is busy, it leaves new connections to the others for a moment; while it
 * says full, to the others or to the kernel's queue.
 */
#ifndef SCEPD_HTTP_ACCEPT_H
#define SCEPD_HTTP_ACCEPT_H

#include <stdbool.h>
#include <sys/socket.h>

struct http_accept;

/* Takes fd (accepted, non-blocking, close-on-exec), closing it even when it fails. */
typedef void http_accept_hand_fn(void *userdata, int fd, const struct sockaddr *addr,
				 socklen_t addrlen);
/* Whether one more connection should be taken now. */
enum http_accept_room {
	HTTP_ACCEPT_ROOM, /* yes */
	HTTP_ACCEPT_BUSY, /* better by another worker; by this one if none takes it soon */
	HTTP_ACCEPT_FULL, /* no: the worker holds all the connections it may */
};
typedef enum http_accept_room http_accept_room_fn(void *userdata);

/*
 * Starts the thread on listen_fd (listening, non-blocking; stays the caller's):
 * 0, or -errno.
 */
int http_accept_start(int listen_fd, http_accept_hand_fn *hand, http_accept_room_fn *room,
		      void *userdata, struct http_accept **ret_accept);

/* Stops accepting and joins the thread; connections handed over are not touched. NULL ok. */
void http_accept_stop(struct http_accept *a);

#endif
