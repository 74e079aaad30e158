/*
 * test_addr_allow.c - unit tests of addr_allow.c: entries that parse (and how they are
 * kept), entries that are refused (with which errno), and which client addresses a
 * list matches, IPv4-mapped IPv6 clients included.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scepd/addr_allow.h"

/* clang-format off */
static const struct {
	const char *text;
	int r;
	const char *kept; /* addr_allow_format() of the entry, when r == 0 */
} parse_cases[] = {
	{ "10.0.0.0/8",            0,       "10.0.0.0/8" },
	{ "192.0.2.7",             0,       "192.0.2.7/32" },
	{ "0.0.0.0/0",             0,       "0.0.0.0/0" },
	{ "127.0.0.2/32",          0,       "127.0.0.2/32" },
	{ "::1",                   0,       "::1/128" },
	{ "::/0",                  0,       "::/0" },
	{ "2001:db8::/32",         0,       "2001:db8::/32" },
	{ "::ffff:10.1.0.0/112",   0,       "10.1.0.0/16" },
	{ "::ffff:192.0.2.7",      0,       "192.0.2.7/32" },
	{ "::ffff:0:0/96",         0,       "0.0.0.0/0" },
	{ "10.0.0.1/8",            -EDOM,   NULL },
	{ "2001:db8::1/64",        -EDOM,   NULL },
	{ "10.0.0.0/33",           -ERANGE, NULL },
	{ "::/129",                -ERANGE, NULL },
	{ "10.0.0.0/",             -EINVAL, NULL },
	{ "10.0.0.0/-1",           -EINVAL, NULL },
	{ "10.0.0.0/08",           -EINVAL, NULL },
	{ "10.0.0.0/ 8",           -EINVAL, NULL },
	{ "10.0.0.0/1000",         -EINVAL, NULL },
	{ "10.0.0",                -EINVAL, NULL },
	{ "010.0.0.1",             -EINVAL, NULL },
	{ "300.0.0.1",             -EINVAL, NULL },
	{ "localhost",             -EINVAL, NULL },
	{ "fe80::1%eth0",          -EINVAL, NULL },
	{ "",                      -EINVAL, NULL },
	{ "/8",                    -EINVAL, NULL },
	{ " 10.0.0.1",             -EINVAL, NULL },
	{ "1.2.3.4/8/8",           -EINVAL, NULL },
};

static const struct {
	const char *client; /* an IPv4 or IPv6 address; "v4m:" prefix: as ::ffff:a.b.c.d */
	bool match;
} match_cases[] = {
	{ "10.1.2.3",               true },  /* in 10.0.0.0/8 */
	{ "11.0.0.1",               false },
	{ "127.0.0.2",              true },  /* 127.0.0.2/32 */
	{ "127.0.0.1",              false },
	{ "192.168.1.129",          true },  /* 192.168.1.128/25 */
	{ "192.168.1.127",          false },
	{ "::1",                    true },
	{ "::2",                    false },
	{ "2001:db8:1::5",          true },  /* 2001:db8::/32 */
	{ "2001:db9::5",            false },
	{ "v4m:10.9.9.9",           true },  /* ::ffff:10.9.9.9 is IPv4 10.9.9.9 */
	{ "v4m:127.0.0.1",          false },
	{ "::ffff:127.0.0.2",       true },
	{ "::10.1.2.3",             false }, /* IPv4-compatible (deprecated): not IPv4 */
};
/* clang-format on */

static const char *const list_entries[] = {
	"10.0.0.0/8", "127.0.0.2/32", "192.168.1.128/25", "::1/128", "2001:db8::/32",
};

static void
test_parse(void **state)
{
	size_t failed = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		struct addr_allow_entry e = { .family = -1 };
		char text[ADDR_ALLOW_TEXT_MAX];
		int r = addr_allow_parse(parse_cases[i].text, &e);

		if (r != parse_cases[i].r) {
			print_error("'%s': r=%d, want %d\n", parse_cases[i].text, r,
				    parse_cases[i].r);
			failed++;
			continue;
		}
		if (r < 0) {
			if (e.family != -1) {
				print_error("'%s': entry written on failure\n",
					    parse_cases[i].text);
				failed++;
			}
			continue;
		}
		addr_allow_format(&e, text, sizeof(text));
		if (strcmp(text, parse_cases[i].kept) != 0) {
			print_error("'%s': kept as %s, want %s\n", parse_cases[i].text, text,
				    parse_cases[i].kept);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

static void
client_addr(const char *text, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (strncmp(text, "v4m:", 4) == 0) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr.s6_addr[10] = 0xff;
		sin6->sin6_addr.s6_addr[11] = 0xff;
		assert_int_equal(inet_pton(AF_INET, text + 4, &sin6->sin6_addr.s6_addr[12]), 1);
	} else if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
	} else {
		sin6->sin6_family = AF_INET6;
		assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
	}
}

static void
test_match(void **state)
{
	struct addr_allow *list = calloc(1, sizeof(*list));
	struct sockaddr_storage ss;
	size_t failed = 0;

	(void)state;
	assert_non_null(list);
	for (size_t i = 0; i < sizeof(list_entries) / sizeof(list_entries[0]); i++) {
		struct addr_allow_entry e;

		assert_int_equal(addr_allow_parse(list_entries[i], &e), 0);
		assert_int_equal(addr_allow_add(list, &e), 0);
	}
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		client_addr(match_cases[i].client, &ss);
		if (addr_allow_match(list, (struct sockaddr *)&ss) != match_cases[i].match) {
			print_error("%s: match %d, want %d\n", match_cases[i].client,
				    !match_cases[i].match, match_cases[i].match);
			failed++;
		}
	}
	assert_int_equal(failed, 0);

	/* Not an IP address, no list, an empty list: never a match. */
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	assert_false(addr_allow_match(list, (struct sockaddr *)&ss));
	client_addr("10.1.2.3", &ss);
	assert_false(addr_allow_match(NULL, (struct sockaddr *)&ss));
	addr_allow_free(list);
	list = calloc(1, sizeof(*list));
	assert_non_null(list);
	assert_false(addr_allow_match(list, (struct sockaddr *)&ss));
	addr_allow_free(list);
	addr_allow_free(NULL);
}

/* Every bit position of a /0../128 prefix: the boundary bit decides. */
static void
test_prefix_boundaries(void **state)
{
	struct addr_allow list = { 0 };
	struct addr_allow_entry e;
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

	(void)state;
	assert_int_equal(addr_allow_parse("2001:db8::/32", &e), 0);
	list.v = &e;
	list.n = 1;
	for (unsigned p = 0; p <= 128; p++) {
		e.prefix = p;
		memcpy(&sin6.sin6_addr, e.addr, 16);
		assert_true(addr_allow_match(&list, (struct sockaddr *)&sin6));
		if (p == 0)
			continue;
		/* Flip the last bit inside the prefix: no longer a match. */
		sin6.sin6_addr.s6_addr[(p - 1) / 8] ^= (unsigned char)(0x80 >> ((p - 1) % 8));
		assert_false(addr_allow_match(&list, (struct sockaddr *)&sin6));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_match),
		cmocka_unit_test(test_prefix_boundaries),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
