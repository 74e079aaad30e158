/*
 * addr_allow.h - client address allow-lists: "10.0.0.0/8", "192.0.2.7", "::1/128".
 *
 * An entry is an IPv4 or IPv6 address with an optional prefix length (the whole
 * address when there is none). A client matches a list when it lies in any entry. An
 * IPv4 client seen on a dual-stack socket as ::ffff:a.b.c.d matches the IPv4 entries,
 * and an entry written as ::ffff:a.b.c.d/96+n is kept as the IPv4 entry a.b.c.d/n, so
 * both ways of writing an IPv4 network mean the same thing.
 *
 * Pure functions: no logging, no name resolution, no HTTP.
 */
#ifndef SCEPD_ADDR_ALLOW_H
#define SCEPD_ADDR_ALLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define ADDR_ALLOW_TEXT_MAX 64 /* "ffff:...:ffff/128" and its NUL, with room */

struct addr_allow_entry {
	int family;             /* AF_INET or AF_INET6 */
	unsigned char addr[16]; /* network byte order; 4 bytes used for AF_INET */
	unsigned prefix;        /* 0..32 or 0..128 */
};

/* A list; an empty one allows no address. "Everyone" is the absence of a list. */
struct addr_allow {
	struct addr_allow_entry *v;
	size_t n;
};

/*
 * Parse one entry. Returns 0, -EINVAL (not a numeric address, or a zone such as
 * "%eth0"), -ERANGE (prefix length out of range for the family) or -EDOM (bits set
 * after the prefix, as in "10.0.0.1/8": a typo more often than not, so it is refused).
 * *ret_entry is written only on success.
 */
int addr_allow_parse(const char *s, struct addr_allow_entry *ret_entry);

/* The entry as text, "10.0.0.0/8", in buf (ADDR_ALLOW_TEXT_MAX bytes are enough). */
void addr_allow_format(const struct addr_allow_entry *e, char *buf, size_t size);

/* Append a copy of e; 0 or -ENOMEM. */
int addr_allow_add(struct addr_allow *list, const struct addr_allow_entry *e);

/* Whether sa (AF_INET or AF_INET6; anything else never matches) lies in an entry of list. */
bool addr_allow_match(const struct addr_allow *list, const struct sockaddr *sa);

/* Frees the entries and the list itself; accepts NULL. */
void addr_allow_free(struct addr_allow *list);

#endif
