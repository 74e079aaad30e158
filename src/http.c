/*
 * http.c - libmicrohttpd glue for a worker: route table, body limit, replies.
 *
 * Per listening socket, one MHD daemon per request thread (a lane), each with its own
 * internal epoll thread serving its own connections (so the counters below are
 * atomic). They do not accept: one thread per worker does (http_accept.c) and hands
 * each connection to the lane with the fewest requests under way, so that a handler
 * that waits (a webhook, a smartcard) holds up no new connection while another lane
 * is free. (libmicrohttpd's own thread pool would pick the thread by the socket's
 * number, busy or not.) The lanes share the worker's connection limits: connections
 * per address are counted here (http_peers.h), not by MHD. A request context is created on the first
 * call of the access handler (headers complete) and freed when MHD reports the
 * request completed; the handler runs once, on the last call, with the whole body. A
 * Content-Length over the limit is refused with 413 before any of the body is read; a
 * chunked body that grows over it is discarded as it arrives and refused at its end.
 * A client outside a route's allow-list gets 403 and one log line; its handler is
 * never called.
 *
 * A TLS listener (server.tls) is the same daemon with GnuTLS in it: TLS 1.2 and 1.3,
 * the certificate and key given as PEM (GnuTLS parses them while MHD starts, so the
 * caller may wipe the key after http_server_start()), and with a client CA a request
 * for (not a demand of) a client certificate. Whatever GnuTLS did or did not check of
 * that certificate, http_request_client_subject() verifies it with OpenSSL against
 * the client CA on every call.
 *
 * The only file that includes <microhttpd.h>. Knows nothing of SCEP; of certificates
 * only the client's.
 */
#include "scepd/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "scepd/clock.h"
#include "scepd/encoding.h"
#include "scepd/http_balance.h"
#include "scepd/http_peers.h"
#include "scepd/log.h"

#include "http_accept.h"

#define HTTP_MAX_EXTRA_HEADERS 4

/*
 * A worker leaves new connections to one that holds fewer only once it holds this
 * many itself: with one connection per request (devices), waiting for another worker
 * to take it, on a busy machine, cost more (+1 ms at p99) than the balance gave.
 */
#define HTTP_BALANCE_FROM 2

/* TLS 1.2 and 1.3 only, GnuTLS's NORMAL choice of ciphers otherwise. */
#define HTTP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

/* What a lane counts; its thread and the accepting thread change them, others read. */
enum http_lane_count {
	HTTP_LANE_CONNECTIONS, /* handed to it and not closed */
	HTTP_LANE_FRESH,       /* started, no request seen on it yet */
	HTTP_LANE_HANDLING,    /* requests whose handler runs now */
	HTTP_LANE_IN_FLIGHT,   /* requests arrived and not completed */
	HTTP_LANE_COUNTS
};

struct http_lane {
	struct MHD_Daemon *daemon;
	struct http_server *server;
	unsigned count[HTTP_LANE_COUNTS]; /* __atomic */
};

struct http_server {
	struct http_lane *lanes;
	unsigned n_lanes;
	const struct http_route *routes;
	size_t n_routes;
	struct http_limits limits;
	struct http_peers *peers;       /* NULL: no limit per address */
	struct http_balance_cell *cell; /* this worker's count for the others; NULL: none */
	struct http_accept *accept;     /* NULL once quiesced */
	bool quiesced;                  /* __atomic */
	bool tls;
	X509_STORE *client_ca; /* NULL: no client certificates asked for */
	/*
	 * MHD keeps pointers to the PEM texts it is given. It reads them only while starting
	 * (libmicrohttpd 0.9.75 to 1.0) and later only tests the trust pointer for NULL,
	 * but these two are public: they live as long as the daemon, to be safe. The key's
	 * text does not: the caller wipes it once the start is over.
	 */
	char *certificate_pem;
	char *client_ca_pem;
};

/* Per TCP connection: whether a request arrived on it yet. */
struct http_connection {
	bool fresh;
};

struct http_request {
	struct http_server *server;
	struct MHD_Connection *connection;
	enum http_method method;
	const char *method_name;
	const char *path;
	const struct http_route *route;
	char *body;
	size_t body_len;
	bool body_too_large;
	bool replied;
	unsigned status;             /* what was queued, once replied */
	unsigned long long start_us; /* CLOCK_MONOTONIC at the headers */
	char *extra_headers[HTTP_MAX_EXTRA_HEADERS][2];
	size_t n_extra_headers;
	char remote_addr[INET6_ADDRSTRLEN];
	struct sockaddr_storage remote; /* ss_family 0 when MHD did not say */
};

static enum http_method
http_method_parse(const char *method)
{
	static const struct {
		const char *name;
		enum http_method method;
	} methods[] = {
		{ MHD_HTTP_METHOD_GET, HTTP_GET },
		{ MHD_HTTP_METHOD_HEAD, HTTP_HEAD },
		{ MHD_HTTP_METHOD_POST, HTTP_POST },
		{ MHD_HTTP_METHOD_OPTIONS, HTTP_OPTIONS },
	};

	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(method, methods[i].name) == 0)
			return methods[i].method;
	return 0;
}

/* Whether path lies below a subtree route's path: "/scep" holds "/scep/x", not "/scepx". */
static bool
http_route_below(const struct http_route *route, const char *path)
{
	size_t n = strlen(route->path);

	if (!route->subtree || strncmp(route->path, path, n) != 0)
		return false;
	return path[n] == '/' || (n > 0 && route->path[n - 1] == '/');
}

static const struct http_route *
http_route_find(const struct http_server *server, const char *path)
{
	const struct http_route *best = NULL;

	for (size_t i = 0; i < server->n_routes; i++)
		if (strcmp(server->routes[i].path, path) == 0)
			return &server->routes[i];
	for (size_t i = 0; i < server->n_routes; i++)
		if (http_route_below(&server->routes[i], path) &&
		    (best == NULL || strlen(server->routes[i].path) > strlen(best->path)))
			best = &server->routes[i];
	return best;
}

static unsigned
http_route_methods(const struct http_route *route)
{
	return route->methods & HTTP_GET ? route->methods | HTTP_HEAD : route->methods;
}

static void
http_allow_header(const struct http_route *route, char *buf, size_t size)
{
	unsigned methods = http_route_methods(route);
	size_t len = 0;

	buf[0] = '\0';
	if (methods & HTTP_GET)
		len += snprintf(buf + len, size - len, "GET, ");
	if (methods & HTTP_HEAD)
		len += snprintf(buf + len, size - len, "HEAD, ");
	if (methods & HTTP_POST)
		len += snprintf(buf + len, size - len, "POST, ");
	if (methods & HTTP_OPTIONS)
		len += snprintf(buf + len, size - len, "OPTIONS, ");
	if (len >= 2)
		buf[len - 2] = '\0';
}

static int
http_queue(struct http_request *req, unsigned status, const char *content_type, const void *body,
	   size_t len, const char *allow)
{
	struct MHD_Response *response;
	int r = 0;

	response = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (response == NULL)
		return -ENOMEM;
	if (content_type != NULL && MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
							    content_type) != MHD_YES)
		r = -ENOMEM;
	if (r == 0 && allow != NULL &&
	    MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow) != MHD_YES)
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < req->n_extra_headers; i++)
		if (MHD_add_response_header(response, req->extra_headers[i][0],
					    req->extra_headers[i][1]) != MHD_YES)
			r = -ENOMEM;
	/* A draining worker tells keep-alive clients to go elsewhere for the next request. */
	if (r == 0 && __atomic_load_n(&req->server->quiesced, __ATOMIC_ACQUIRE) &&
	    MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)
		r = -ENOMEM;
	if (r == 0 && MHD_queue_response(req->connection, status, response) != MHD_YES)
		r = -EIO;
	if (r == 0) {
		req->replied = true;
		req->status = status;
	}
	MHD_destroy_response(response);
	return r;
}

int
http_reply(struct http_request *req, unsigned status, const char *content_type, const void *body,
	   size_t len)
{
	return http_queue(req, status, content_type, body, len, NULL);
}

static int
http_vformat_line(char *buf, size_t size, const char *format, va_list ap)
{
	int n = vsnprintf(buf, size - 1, format, ap);

	if (n < 0)
		return -EINVAL;
	if ((size_t)n > size - 2)
		n = (int)(size - 2);
	log_one_line(buf);
	buf[n++] = '\n';
	buf[n] = '\0';
	return n;
}

int
http_reply_text(struct http_request *req, unsigned status, const char *format, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, format);
	n = http_vformat_line(line, sizeof(line), format, ap);
	va_end(ap);
	if (n < 0)
		return n;
	return http_queue(req, status, "text/plain", line, (size_t)n, NULL);
}

static int
http_reply_too_large(struct http_request *req)
{
	return http_reply_text(req, MHD_HTTP_CONTENT_TOO_LARGE,
			       "request body too large: the limit is %zu bytes",
			       req->server->limits.max_request_bytes);
}

int
http_add_header(struct http_request *req, const char *name, const char *value)
{
	char *n, *v;

	if (req->n_extra_headers == HTTP_MAX_EXTRA_HEADERS)
		return -E2BIG;
	if ((n = strdup(name)) == NULL || (v = strdup(value)) == NULL) {
		free(n);
		return -ENOMEM;
	}
	req->extra_headers[req->n_extra_headers][0] = n;
	req->extra_headers[req->n_extra_headers][1] = v;
	req->n_extra_headers++;
	return 0;
}

static void
http_request_free(struct http_request *req)
{
	if (req == NULL)
		return;
	for (size_t i = 0; i < req->n_extra_headers; i++) {
		free(req->extra_headers[i][0]);
		free(req->extra_headers[i][1]);
	}
	free(req->body);
	free(req);
}

static struct http_request *
http_request_new(struct http_server *server, struct MHD_Connection *connection, const char *url,
		 const char *method)
{
	const union MHD_ConnectionInfo *info;
	struct http_request *req;

	if ((req = calloc(1, sizeof(*req))) == NULL)
		return NULL;
	req->server = server;
	req->connection = connection;
	req->path = url;
	req->method_name = method;
	req->method = http_method_parse(method);
	req->route = http_route_find(server, url);
	req->start_us = clock_monotonic_us();
	info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (info != NULL && info->client_addr != NULL) {
		const struct sockaddr *sa = info->client_addr;

		if (sa->sa_family == AF_INET) {
			memcpy(&req->remote, sa, sizeof(struct sockaddr_in));
			inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
				  req->remote_addr, sizeof(req->remote_addr));
		} else if (sa->sa_family == AF_INET6) {
			memcpy(&req->remote, sa, sizeof(struct sockaddr_in6));
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
				  req->remote_addr, sizeof(req->remote_addr));
		}
	}
	return req;
}

/* The checks that need only the headers: path, method, declared body size. */
static int
http_request_precheck(struct http_request *req)
{
	const char *length;
	char allow[64];

	/* Whatever the path: an oversized body is never read. */
	length = MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND,
					     MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (length != NULL && strtoull(length, NULL, 10) > req->server->limits.max_request_bytes)
		return http_reply_too_large(req);
	if (req->route == NULL)
		return http_reply_text(req, MHD_HTTP_NOT_FOUND, "not found: %s", req->path);
	/* An address without a family (MHD did not say) matches no list: refused too. */
	if (req->route->allow != NULL &&
	    !addr_allow_match(req->route->allow, (const struct sockaddr *)&req->remote)) {
		log_notice("%s %s from %s: refused, the address is not in the allow-list of %s",
			   req->method_name, req->path,
			   req->remote_addr[0] != '\0' ? req->remote_addr : "(unknown)",
			   req->route->path);
		return http_reply_text(req, MHD_HTTP_FORBIDDEN,
				       "forbidden: this address may not use %s", req->route->path);
	}
	if ((req->method & http_route_methods(req->route)) == 0) {
		http_allow_header(req->route, allow, sizeof(allow));
		return http_queue(req, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
				  "method not allowed\n", strlen("method not allowed\n"), allow);
	}
	return 0;
}

static int
http_request_append(struct http_request *req, const char *data, size_t len)
{
	char *body;

	if (req->body_too_large || len > req->server->limits.max_request_bytes - req->body_len) {
		req->body_too_large = true;
		return 0;
	}
	if ((body = realloc(req->body, req->body_len + len + 1)) == NULL)
		return -ENOMEM;
	memcpy(body + req->body_len, data, len);
	req->body = body;
	req->body_len += len;
	req->body[req->body_len] = '\0'; /* text bodies may be read as strings */
	return 0;
}

static int
http_request_dispatch(struct http_request *req)
{
	int r;

	if (req->body_too_large)
		return http_reply_too_large(req);
	r = req->route->handler(req, req->route->userdata);
	if (r < 0 && !req->replied) {
		log_error_errno(r, "%s %s from %s failed", req->method_name, req->path,
				req->remote_addr);
		/* -ENOTCONN: a server behind this one (the store) is unreachable for now. */
		r = r == -ENOTCONN ? http_reply_text(req, MHD_HTTP_SERVICE_UNAVAILABLE,
						     "temporarily unavailable: try again later")
				   : http_reply_text(req, MHD_HTTP_INTERNAL_SERVER_ERROR,
						     "internal error");
	}
	return r;
}

static void
http_lane_add(struct http_lane *lane, enum http_lane_count which, int delta)
{
	__atomic_add_fetch(&lane->count[which], (unsigned)delta, __ATOMIC_RELEASE);
}

static unsigned
http_lane_get(const struct http_lane *lane, enum http_lane_count which)
{
	return __atomic_load_n(&lane->count[which], __ATOMIC_ACQUIRE);
}

/* One count summed over the lanes. */
static unsigned
http_server_count(const struct http_server *server, enum http_lane_count which)
{
	unsigned n = 0;

	for (unsigned i = 0; i < server->n_lanes; i++)
		n += http_lane_get(&server->lanes[i], which);
	return n;
}

/*
 * A connection the accepting thread counted leaves its lane, its address's count and
 * the worker's count for the others.
 */
static void
http_connection_gone(struct http_lane *lane, const struct sockaddr *addr)
{
	http_lane_add(lane, HTTP_LANE_CONNECTIONS, -1);
	if (lane->server->peers != NULL)
		http_peers_remove(lane->server->peers, addr);
	if (lane->server->cell != NULL)
		http_balance_add(lane->server->cell, -1);
}

/*
 * A connection accepted just before the worker stopped accepting may not have sent its
 * request yet; draining waits for it as for a request in flight.
 */
static void
http_connection_notify(void *cls, struct MHD_Connection *connection, void **socket_context,
		       enum MHD_ConnectionNotificationCode toe)
{
	struct http_lane *lane = cls;
	struct http_connection *conn = *socket_context;
	const union MHD_ConnectionInfo *info;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		if ((conn = calloc(1, sizeof(*conn))) == NULL)
			return; /* this one is not waited for when draining */
		conn->fresh = true;
		http_lane_add(lane, HTTP_LANE_FRESH, 1);
		*socket_context = conn;
		return;
	}
	info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	http_connection_gone(lane, info != NULL ? info->client_addr : NULL);
	if (conn != NULL) {
		if (conn->fresh)
			http_lane_add(lane, HTTP_LANE_FRESH, -1);
		free(conn);
		*socket_context = NULL;
	}
}

static void
http_connection_used(struct http_lane *lane, struct MHD_Connection *connection)
{
	const union MHD_ConnectionInfo *info;
	struct http_connection *conn;

	info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	if (info == NULL || (conn = info->socket_context) == NULL || !conn->fresh)
		return;
	conn->fresh = false;
	http_lane_add(lane, HTTP_LANE_FRESH, -1);
}

static enum MHD_Result
http_access(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
	    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct http_lane *lane = cls;
	struct http_request *req = *con_cls;
	int r;

	(void)version;
	if (req == NULL) {
		http_connection_used(lane, connection);
		if ((req = http_request_new(lane->server, connection, url, method)) == NULL)
			return MHD_NO;
		*con_cls = req;
		http_lane_add(lane, HTTP_LANE_IN_FLIGHT, 1);
		return http_request_precheck(req) < 0 ? MHD_NO : MHD_YES;
	}
	if (req->replied) {
		*upload_data_size = 0; /* refused early: drop whatever body still arrives */
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		if (http_request_append(req, upload_data, *upload_data_size) < 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	http_lane_add(lane, HTTP_LANE_HANDLING, 1);
	r = http_request_dispatch(req);
	http_lane_add(lane, HTTP_LANE_HANDLING, -1);
	return r < 0 ? MHD_NO : MHD_YES;
}

static void
http_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
	       enum MHD_RequestTerminationCode toe)
{
	struct http_lane *lane = cls;
	const struct http_limits *limits = &lane->server->limits;
	struct http_request *req = *con_cls;

	(void)connection;
	(void)toe;
	if (req == NULL)
		return;
	if (req->replied && limits->observe != NULL)
		limits->observe(limits->observe_data, req->route, req->status,
				clock_monotonic_us() - req->start_us);
	http_request_free(req);
	*con_cls = NULL;
	http_lane_add(lane, HTTP_LANE_IN_FLIGHT, -1);
}

static void
http_mhd_log(void *cls, const char *format, va_list ap)
{
	char message[512];

	(void)cls;
	vsnprintf(message, sizeof(message), format, ap);
	message[strcspn(message, "\n")] = '\0';
	log_debug("libmicrohttpd: %s", message);
}

/* The client CA certificates as an OpenSSL store; -EBADMSG when the text holds none. */
static int
http_client_ca_store(const char *pem, X509_STORE **ret_store)
{
	X509_STORE *store = NULL;
	BIO *bio = NULL;
	X509 *cert;
	size_t n = 0;
	int r;

	if ((store = X509_STORE_new()) == NULL || (bio = BIO_new_mem_buf(pem, -1)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		int ok = X509_STORE_add_cert(store, cert);

		X509_free(cert);
		if (ok != 1) {
			r = -ENOMEM;
			goto out;
		}
		n++;
	}
	ERR_clear_error();
	if (n == 0) {
		r = -EBADMSG;
		goto out;
	}
	/* Each certificate of client_ca is a trust anchor, an intermediate CA too. */
	X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
	*ret_store = store;
	store = NULL;
	r = 0;
out:
	BIO_free(bio);
	X509_STORE_free(store);
	return r;
}

/*
 * The lane for a new connection: the one with the fewest handlers running (a handler
 * may wait for seconds, and its lane serves nothing meanwhile), then the fewest
 * connections without a request yet, then the fewest connections.
 */
static struct http_lane *
http_server_lane(struct http_server *server)
{
	static const enum http_lane_count order[] = { HTTP_LANE_HANDLING, HTTP_LANE_FRESH,
						      HTTP_LANE_CONNECTIONS };
	struct http_lane *best = &server->lanes[0];

	for (unsigned i = 1; i < server->n_lanes; i++) {
		struct http_lane *lane = &server->lanes[i];

		for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
			unsigned mine = http_lane_get(lane, order[k]);
			unsigned theirs = http_lane_get(best, order[k]);

			if (mine != theirs) {
				if (mine < theirs)
					best = lane;
				break;
			}
		}
	}
	return best;
}

/*
 * http_accept's: a connection to a lane, or closed when its address holds its share
 * already. Counted before MHD has it, so that a burst cannot pass the limits; MHD
 * says when it closes it (http_connection_notify), or at once that it could not take
 * it. (If MHD took it and dropped it before it started, out of memory, it would stay
 * counted.)
 */
static void
http_server_hand(void *userdata, int fd, const struct sockaddr *addr, socklen_t addrlen)
{
	struct http_server *server = userdata;
	struct http_lane *lane = http_server_lane(server);

	if (server->peers != NULL && !http_peers_add(server->peers, addr)) {
		log_debug("refused a connection: its address holds max_connections_per_ip = %u",
			  server->limits.max_connections_per_ip);
		close(fd);
		return;
	}
	http_lane_add(lane, HTTP_LANE_CONNECTIONS, 1);
	if (server->cell != NULL)
		http_balance_add(server->cell, 1);
	if (MHD_add_connection(lane->daemon, fd, addr, addrlen) != MHD_YES)
		http_connection_gone(lane, addr); /* MHD closed fd */
}

/*
 * http_accept's: whether this worker should take one more connection now. Full when
 * it holds max_connections. Busy while its requests in handlers and new connections
 * without a request yet are twice its request threads, or while another worker holds
 * fewer connections on this socket (http_balance.h): then another worker should take
 * it, else the accepting thread of whichever worker runs at the moment takes a burst
 * of new connections all alone, and with a token, which signs one request at a time
 * per worker, the other workers stay idle. Busy is only a preference (http_accept.h):
 * idle connections do not lock a worker out.
 */
static enum http_accept_room
http_server_room(void *userdata)
{
	struct http_server *server = userdata;

	if (http_server_count(server, HTTP_LANE_CONNECTIONS) >= server->limits.max_connections)
		return HTTP_ACCEPT_FULL;
	if (http_server_count(server, HTTP_LANE_HANDLING) +
		    http_server_count(server, HTTP_LANE_FRESH) >=
	    2 * server->n_lanes)
		return HTTP_ACCEPT_BUSY;
	if (server->cell != NULL &&
	    http_server_count(server, HTTP_LANE_CONNECTIONS) >= HTTP_BALANCE_FROM &&
	    http_balance_fewer_elsewhere(server->limits.balance, server->cell))
		return HTTP_ACCEPT_BUSY;
	return HTTP_ACCEPT_ROOM;
}

/*
 * Starts a lane's daemon. Its connection limit is twice the worker's, never reached:
 * http_server_room() keeps the worker's, counting a connection until MHD reports it
 * closed, which MHD does a moment before it stops counting it itself.
 */
static int
http_lane_start(struct http_lane *lane, unsigned flags, const struct MHD_OptionItem *tls_options)
{
	const struct http_limits *limits = &lane->server->limits;
	unsigned connection_limit = limits->max_connections <= UINT_MAX / 2
					    ? 2 * limits->max_connections
					    : limits->max_connections;

	lane->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, http_access, lane, MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log,
		NULL, MHD_OPTION_ARRAY, tls_options, MHD_OPTION_CONNECTION_LIMIT, connection_limit,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)limits->request_timeout,
		MHD_OPTION_NOTIFY_COMPLETED, http_completed, lane, MHD_OPTION_NOTIFY_CONNECTION,
		http_connection_notify, lane, MHD_OPTION_END);
	return lane->daemon != NULL ? 0 : -EIO;
}

int
http_server_start(int listen_fd, const struct http_limits *limits, const struct http_tls *tls,
		  const struct http_route *routes, size_t n_routes, struct http_server **ret_server)
{
	struct MHD_OptionItem tls_options[5];
	struct http_server *server;
	unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG |
			 MHD_USE_NO_LISTEN_SOCKET;
	size_t n = 0;
	int r;

	if ((server = calloc(1, sizeof(*server))) == NULL)
		return -ENOMEM;
	server->routes = routes;
	server->n_routes = n_routes;
	server->limits = *limits;
	/* A lane per request thread, never more than connections. */
	server->n_lanes = limits->threads < limits->max_connections ? limits->threads
								    : limits->max_connections;
	if (server->n_lanes < 1)
		server->n_lanes = 1;
	if ((server->lanes = calloc(server->n_lanes, sizeof(*server->lanes))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (limits->max_connections_per_ip > 0 &&
	    (r = http_peers_new(limits->max_connections_per_ip, limits->max_connections,
				&server->peers)) < 0)
		goto out;
	/* No cell left (thousands of workers): this one goes unbalanced, nothing worse. */
	if (limits->balance != NULL &&
	    http_balance_join(limits->balance, limits->listener, &server->cell) < 0)
		server->cell = NULL;
	if (tls != NULL) {
		/* MHD reads the key only while it starts: see certificate_pem above. */
		server->tls = true;
		flags |= MHD_USE_TLS;
		if ((server->certificate_pem = strdup(tls->certificate)) == NULL ||
		    (tls->client_ca != NULL &&
		     (server->client_ca_pem = strdup(tls->client_ca)) == NULL)) {
			r = -ENOMEM;
			goto out;
		}
		tls_options[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0,
							    server->certificate_pem };
		tls_options[n++] =
			(struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)tls->key };
		tls_options[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0,
							    (void *)HTTP_TLS_PRIORITIES };
		if (tls->client_ca != NULL) {
			if ((r = http_client_ca_store(tls->client_ca, &server->client_ca)) < 0)
				goto out;
			/* Makes MHD ask every TLS client for a certificate (GNUTLS_CERT_REQUEST). */
			tls_options[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0,
								    server->client_ca_pem };
		}
	}
	tls_options[n] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	for (unsigned i = 0; i < server->n_lanes; i++) {
		server->lanes[i].server = server;
		if ((r = http_lane_start(&server->lanes[i], flags, tls_options)) < 0)
			goto out;
	}
	if ((r = http_accept_start(listen_fd, http_server_hand, http_server_room, server,
				   &server->accept)) < 0)
		goto out;
	*ret_server = server;
	server = NULL; /* the caller owns it now */
	r = 0;
out:
	http_server_free(server);
	return r;
}

void
http_server_quiesce(struct http_server *server)
{
	if (__atomic_exchange_n(&server->quiesced, true, __ATOMIC_ACQ_REL))
		return;
	http_accept_stop(server->accept); /* the listening socket stays the caller's */
	server->accept = NULL;
	if (server->cell != NULL)
		http_balance_stop(server->cell); /* the others no longer leave connections to us */
}

unsigned
http_server_requests_in_flight(const struct http_server *server)
{
	return http_server_count(server, HTTP_LANE_IN_FLIGHT) +
	       http_server_count(server, HTTP_LANE_FRESH);
}

void
http_server_free(struct http_server *server)
{
	if (server == NULL)
		return;
	http_server_quiesce(server);
	for (unsigned i = 0; server->lanes != NULL && i < server->n_lanes; i++)
		if (server->lanes[i].daemon != NULL)
			MHD_stop_daemon(server->lanes[i].daemon);
	free(server->lanes);
	/* After the daemons: their closing connections count in these. */
	http_peers_free(server->peers);
	http_balance_leave(server->cell);
	X509_STORE_free(server->client_ca);
	free(server->certificate_pem);
	free(server->client_ca_pem);
	free(server);
}

enum http_method
http_request_method(const struct http_request *req)
{
	return req->method;
}

const char *
http_request_path(const struct http_request *req)
{
	return req->path;
}

const char *
http_request_arg(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->connection, MHD_GET_ARGUMENT_KIND, name);
}

const char *
http_request_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->connection, MHD_HEADER_KIND, name);
}

const void *
http_request_body(const struct http_request *req, size_t *ret_len)
{
	*ret_len = req->body_len;
	return req->body;
}

const char *
http_request_remote_addr(const struct http_request *req)
{
	return req->remote_addr;
}

bool
http_request_from_loopback(const struct http_request *req)
{
	return strcmp(req->remote_addr, "127.0.0.1") == 0 || strcmp(req->remote_addr, "::1") == 0;
}

bool
http_request_is_tls(const struct http_request *req)
{
	return req->server->tls;
}

/* Whether leaf (with the rest of the peer's chain, untrusted) verifies against store. */
static int
http_client_verify(X509_STORE *store, X509 *leaf, STACK_OF(X509) *chain)
{
	X509_STORE_CTX *ctx;
	int r;

	if ((ctx = X509_STORE_CTX_new()) == NULL)
		return -ENOMEM;
	if (X509_STORE_CTX_init(ctx, store, leaf, chain) != 1 ||
	    X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) != 1) {
		r = -ENOMEM;
		goto out;
	}
	r = X509_verify_cert(ctx) == 1 ? 0 : -EPERM;
	if (r < 0)
		log_debug("client certificate refused: %s",
			  X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
out:
	X509_STORE_CTX_free(ctx);
	ERR_clear_error();
	return r;
}

int
http_request_client_subject(const struct http_request *req, char **ret_subject)
{
	const union MHD_ConnectionInfo *info;
	const gnutls_datum_t *peers;
	STACK_OF(X509) *chain = NULL;
	X509 *leaf = NULL;
	unsigned n = 0;
	int r;

	if (!req->server->tls)
		return -ENOENT;
	info = MHD_get_connection_info(req->connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (info == NULL || info->tls_session == NULL)
		return -ENOENT;
	peers = gnutls_certificate_get_peers((gnutls_session_t)info->tls_session, &n);
	if (peers == NULL || n == 0)
		return -ENOENT;
	if (req->server->client_ca == NULL)
		return -EPERM; /* not asked for, and nothing to check it against */
	if ((chain = sk_X509_new_null()) == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		const unsigned char *p = peers[i].data;
		X509 *cert = d2i_X509(NULL, &p, (long)peers[i].size);

		if (cert == NULL || p != peers[i].data + peers[i].size) {
			X509_free(cert);
			r = -EPERM; /* not DER we can read: not a certificate we accept */
			goto out;
		}
		if (i == 0) {
			leaf = cert;
		} else if (sk_X509_push(chain, cert) == 0) {
			X509_free(cert);
			r = -ENOMEM;
			goto out;
		}
	}
	if ((r = http_client_verify(req->server->client_ca, leaf, chain)) < 0)
		goto out;
	r = encoding_name_text(X509_get_subject_name(leaf), ret_subject);
out:
	X509_free(leaf);
	sk_X509_pop_free(chain, X509_free);
	ERR_clear_error();
	return r;
}
