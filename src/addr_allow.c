/*
 * addr_allow.c - parse allow-list entries and match client addresses against them.
 *
 *	addr_allow_parse() takes "ADDRESS" or "ADDRESS/PREFIX", numeric only
 *	(inet_pton), and keeps an IPv4-mapped IPv6 entry (::ffff:0:0/96 and
 *	longer) as the IPv4 entry it stands for. addr_allow_match() compares the
 *	first prefix bits; an IPv4-mapped client address is compared as IPv4.
 *
 * Never here: name resolution, logging, HTTP. Errors: -EINVAL, -ERANGE, -EDOM (see
 * addr_allow.h), -ENOMEM.
 */
#include "scepd/addr_allow.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char addr_allow_v4_mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static unsigned
addr_allow_bits(int family)
{
	return family == AF_INET ? 32 : 128;
}

/* Whether the first prefix bits of a and b agree. */
static bool
addr_allow_prefix_equal(const unsigned char *a, const unsigned char *b, unsigned prefix)
{
	unsigned bytes = prefix / 8, rest = prefix % 8;
	unsigned char mask;

	if (memcmp(a, b, bytes) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (unsigned char)(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

/* Whether any bit after the prefix is set. */
static bool
addr_allow_host_bits(const struct addr_allow_entry *e)
{
	unsigned bits = addr_allow_bits(e->family);

	for (unsigned i = e->prefix; i < bits; i++)
		if (e->addr[i / 8] & (0x80 >> (i % 8)))
			return true;
	return false;
}

/* A decimal prefix length without sign, spaces or leading zeros; -1 when it is none. */
static long
addr_allow_parse_prefix(const char *s)
{
	long n = 0;

	if (s[0] == '\0' || (s[0] == '0' && s[1] != '\0') || strlen(s) > 3)
		return -1;
	for (const char *c = s; *c != '\0'; c++) {
		if (*c < '0' || *c > '9')
			return -1;
		n = n * 10 + (*c - '0');
	}
	return n;
}

int
addr_allow_parse(const char *s, struct addr_allow_entry *ret_entry)
{
	struct addr_allow_entry e = { 0 };
	char host[INET6_ADDRSTRLEN];
	const char *slash;
	size_t len;
	long prefix;

	if (s == NULL)
		return -EINVAL;
	slash = strchr(s, '/');
	len = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (len == 0 || len >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, len);
	host[len] = '\0';
	if (inet_pton(AF_INET, host, e.addr) == 1)
		e.family = AF_INET;
	else if (inet_pton(AF_INET6, host, e.addr) == 1)
		e.family = AF_INET6;
	else
		return -EINVAL; /* also "fe80::1%eth0": a zone has no meaning here */
	if (slash == NULL) {
		prefix = addr_allow_bits(e.family);
	} else if ((prefix = addr_allow_parse_prefix(slash + 1)) < 0) {
		return -EINVAL;
	} else if (prefix > (long)addr_allow_bits(e.family)) {
		return -ERANGE;
	}
	e.prefix = (unsigned)prefix;
	if (addr_allow_host_bits(&e))
		return -EDOM;
	if (e.family == AF_INET6 && e.prefix >= 96 &&
	    memcmp(e.addr, addr_allow_v4_mapped, sizeof(addr_allow_v4_mapped)) == 0) {
		memmove(e.addr, e.addr + 12, 4);
		memset(e.addr + 4, 0, 12);
		e.family = AF_INET;
		e.prefix -= 96;
	}
	*ret_entry = e;
	return 0;
}

void
addr_allow_format(const struct addr_allow_entry *e, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";

	inet_ntop(e->family, e->addr, host, sizeof(host));
	snprintf(buf, size, "%s/%u", host, e->prefix);
}

int
addr_allow_add(struct addr_allow *list, const struct addr_allow_entry *e)
{
	struct addr_allow_entry *v;

	if ((v = reallocarray(list->v, list->n + 1, sizeof(*v))) == NULL)
		return -ENOMEM;
	list->v = v;
	list->v[list->n++] = *e;
	return 0;
}

bool
addr_allow_match(const struct addr_allow *list, const struct sockaddr *sa)
{
	unsigned char addr[16];
	int family;

	if (list == NULL || sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		family = AF_INET;
	} else if (sa->sa_family == AF_INET6) {
		memcpy(addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		family = AF_INET6;
		/* An IPv4 client on a dual-stack socket: compare it as the IPv4 address it is. */
		if (memcmp(addr, addr_allow_v4_mapped, sizeof(addr_allow_v4_mapped)) == 0) {
			memmove(addr, addr + 12, 4);
			family = AF_INET;
		}
	} else {
		return false;
	}
	for (size_t i = 0; i < list->n; i++)
		if (list->v[i].family == family &&
		    addr_allow_prefix_equal(list->v[i].addr, addr, list->v[i].prefix))
			return true;
	return false;
}

void
addr_allow_free(struct addr_allow *list)
{
	if (list == NULL)
		return;
	free(list->v);
	free(list);
}
