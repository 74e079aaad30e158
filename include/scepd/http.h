/*
 * http.h - the HTTP layer of a worker: libmicrohttpd on an inherited listening
 * socket, a route table, request bodies within a limit, one-line replies.
 *
 * Handlers see a `struct http_request` (never an MHD type), are called once per
 * request with the whole body, and answer with one of the http_reply*() calls.
 * The HTTP layer answers by itself: 404 for an unknown path, 403 for a client address
 * outside the route's allow-list, 405 for a method the route does not take, 413 for a
 * body over max_request_bytes (before any of it is buffered), 500 when a handler fails
 * without replying.
 */
#ifndef SCEPD_HTTP_H
#define SCEPD_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "scepd/addr_allow.h"

struct http_balance;
struct http_request;
struct http_server;

enum http_method {
	HTTP_GET = 1 << 0,
	HTTP_HEAD = 1 << 1,
	HTTP_POST = 1 << 2,
	HTTP_OPTIONS = 1 << 3,
};

/*
 * Returns 0 once a reply is queued, or a negative errno when the request could not be
 * handled; the HTTP layer then logs that and answers 500.
 */
typedef int (*http_handler_fn)(struct http_request *req, void *userdata);

struct http_route {
	const char *path; /* matched without the query string */
	unsigned methods; /* HTTP_GET | HTTP_POST ...; GET routes take HEAD too */
	http_handler_fn handler;
	void *userdata;
	/* Client addresses the route serves; NULL = every one. Checked before the method. */
	const struct addr_allow *allow;
	/* Also every path below path ("/scep/x/pkiclient.exe"); an exact route wins, then
	 * the longest such path. */
	bool subtree;
};

/*
 * Told of every answered request once it is over, from the thread that served it:
 * route NULL when no route matched (404), the status sent, the microseconds from its
 * headers to the end of the reply. Must not block: it runs on the request path.
 */
typedef void (*http_observe_fn)(void *userdata, const struct http_route *route, unsigned status,
				unsigned long long usec);

struct http_limits {
	size_t max_request_bytes;
	unsigned request_timeout; /* seconds */
	unsigned max_connections;
	unsigned max_connections_per_ip; /* 0: no limit */
	unsigned threads;                /* threads serving the socket; handlers run in any */
	http_observe_fn observe;         /* NULL: none */
	void *observe_data;
	struct http_balance *balance; /* shared with the other workers; NULL: none */
	unsigned listener;            /* the socket's number, the same in every worker */
};

/*
 * A TLS listener's credentials, PEM text (NUL-terminated). TLS 1.2 and 1.3 only.
 * http_server_start() is done with key when it returns: the caller wipes it then.
 * client_ca: clients are asked (not required) for a certificate, which
 * http_request_client_subject() verifies against these CAs; NULL: none is asked for.
 */
struct http_tls {
	const char *certificate; /* the chain, leaf first */
	const char *key;
	const char *client_ca;
};

/*
 * Serve the routes on listen_fd, an already listening, non-blocking socket the caller
 * keeps owning, from limits->threads internal threads (epoll each; a connection stays
 * with one). Handlers of different requests may run at the same time. routes must
 * outlive the server. tls: NULL for plain HTTP; else HTTPS with these credentials
 * (copied). -EIO when MHD refuses to start (the reason is in the debug log), -EBADMSG
 * when client_ca holds no certificate.
 */
int http_server_start(int listen_fd, const struct http_limits *limits, const struct http_tls *tls,
		      const struct http_route *routes, size_t n_routes,
		      struct http_server **ret_server);

/* Stop accepting new connections; requests in flight go on. Replies say "close". */
void http_server_quiesce(struct http_server *server);

/*
 * Requests that arrived and are not answered yet, plus connections accepted that have
 * not sent their first request: what draining waits for. Idle keep-alive connections
 * do not count.
 */
unsigned http_server_requests_in_flight(const struct http_server *server);

/* Stop at once, closing every connection. Accepts NULL. */
void http_server_free(struct http_server *server);

enum http_method http_request_method(const struct http_request *req);
const char *http_request_path(const struct http_request *req);
/* A query string argument, percent-decoded; NULL when absent. */
const char *http_request_arg(const struct http_request *req, const char *name);
const char *http_request_header(const struct http_request *req, const char *name);
const void *http_request_body(const struct http_request *req, size_t *ret_len);
/* "127.0.0.1" or "::1". */
const char *http_request_remote_addr(const struct http_request *req);
/* Whether the client address is 127.0.0.1 or ::1 (not the rest of 127/8). */
bool http_request_from_loopback(const struct http_request *req);
/* Whether the request arrived on a TLS listener (server.tls). */
bool http_request_is_tls(const struct http_request *req);
/*
 * The subject of the client certificate of a TLS request, RFC 2253 one-line form
 * ("CN=admin,O=Example", as the store records subjects), malloc()ed in *ret_subject:
 * 0 when the certificate verifies against the listener's client_ca (chain, validity,
 * keyUsage/extendedKeyUsage for clientAuth when present). -ENOENT: not TLS, or no
 * certificate presented; -EPERM: presented but it does not verify (or no client_ca);
 * -ENOMEM. Verified here with OpenSSL on every call, not taken from the TLS library.
 */
int http_request_client_subject(const struct http_request *req, char **ret_subject);

/* An extra header for the reply to come (at most 4 per request); copied. */
int http_add_header(struct http_request *req, const char *name, const char *value);

int http_reply(struct http_request *req, unsigned status, const char *content_type,
	       const void *body, size_t len);
/* A text/plain reply of one line; the newline is added. */
int http_reply_text(struct http_request *req, unsigned status, const char *format, ...)
	__attribute__((format(printf, 3, 4)));

#endif
