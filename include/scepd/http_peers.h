/*
 * http_peers.h - how many connections each client address holds open in one worker.
 *
 * server.max_connections_per_ip is the worker's, whichever of its request threads
 * serve the connections (http.c), so the count is kept here, not by libmicrohttpd,
 * whose daemons each count only their own. An address is an IPv4 or IPv6 address
 * without the port (an IPv4 address and its ::ffff: form count as one). A table of
 * twice the connections a worker may hold, made by http_peers_new() and never grown:
 * an address leaves it when its last connection closes. Thread-safe. No HTTP, no
 * logging, no allocation after http_peers_new().
 */
#ifndef SCEPD_HTTP_PEERS_H
#define SCEPD_HTTP_PEERS_H

#include <stdbool.h>
#include <sys/socket.h>

struct http_peers;

/*
 * limit: connections per address (at least 1); connections: how many a worker holds
 * at most, all addresses together (at least 1). 0, -EINVAL or -ENOMEM.
 */
int http_peers_new(unsigned limit, unsigned connections, struct http_peers **ret);

/*
 * One more connection from addr: true when it is within the limit (and now counted),
 * false when the address holds limit connections already, the table is full, or addr
 * is not IPv4 or IPv6 (then nothing is counted).
 */
bool http_peers_add(struct http_peers *peers, const struct sockaddr *addr);

/* A connection from addr that http_peers_add() counted closed. */
void http_peers_remove(struct http_peers *peers, const struct sockaddr *addr);

/* Connections counted for addr now (for tests). */
unsigned http_peers_count(struct http_peers *peers, const struct sockaddr *addr);

/* Accepts NULL. */
void http_peers_free(struct http_peers *peers);

#endif
