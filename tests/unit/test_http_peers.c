/*
 * test_http_peers.c - connections per client address (http_peers.h): an address gets
 * limit connections and no more until one closes; an IPv4 address and its ::ffff: form
 * are one; addresses other than IP are refused; a table holds what it was made for;
 * and thousands of random opens and closes over a few hundred addresses (entries
 * moving back as others leave) keep every count equal to a plain array's.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cmocka.h>

#include "scepd/http_peers.h"

static struct sockaddr_in
test_v4(uint32_t host_order)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(40000) };

	sin.sin_addr.s_addr = htonl(host_order);
	return sin;
}

static struct sockaddr_in6
test_v6(const char *text)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(40001) };

	assert_int_equal(inet_pton(AF_INET6, text, &sin6.sin6_addr), 1);
	return sin6;
}

static void
test_limit(void **state)
{
	struct sockaddr_in a = test_v4(0x7f000001), b = test_v4(0x7f000002);
	struct sockaddr_in6 a_mapped = test_v6("::ffff:127.0.0.1"), c = test_v6("2001:db8::1");
	struct sockaddr_un local = { .sun_family = AF_UNIX };
	struct http_peers *peers = NULL;

	(void)state;
	assert_int_equal(http_peers_new(0, 8, &peers), -EINVAL);
	assert_int_equal(http_peers_new(3, 0, &peers), -EINVAL);
	assert_int_equal(http_peers_new(3, 8, &peers), 0);
	for (int i = 0; i < 3; i++)
		assert_true(http_peers_add(peers, (struct sockaddr *)&a));
	/* The fourth from 127.0.0.1, in either form, is refused; others are not. */
	assert_false(http_peers_add(peers, (struct sockaddr *)&a));
	assert_false(http_peers_add(peers, (struct sockaddr *)&a_mapped));
	assert_true(http_peers_add(peers, (struct sockaddr *)&b));
	assert_true(http_peers_add(peers, (struct sockaddr *)&c));
	assert_int_equal(http_peers_count(peers, (struct sockaddr *)&a_mapped), 3);
	/* One closes: one more may come, from the mapped form too. */
	http_peers_remove(peers, (struct sockaddr *)&a);
	assert_true(http_peers_add(peers, (struct sockaddr *)&a_mapped));
	assert_false(http_peers_add(peers, (struct sockaddr *)&a));
	assert_false(http_peers_add(peers, (struct sockaddr *)&local));
	assert_false(http_peers_add(peers, NULL));
	http_peers_remove(peers, (struct sockaddr *)&local); /* nothing to do, no harm */
	for (int i = 0; i < 3; i++)
		http_peers_remove(peers, (struct sockaddr *)&a);
	assert_int_equal(http_peers_count(peers, (struct sockaddr *)&a), 0);
	assert_int_equal(http_peers_count(peers, (struct sockaddr *)&b), 1);
	http_peers_free(peers);
	http_peers_free(NULL);
}

static void
test_full(void **state)
{
	struct http_peers *peers = NULL;
	struct sockaddr_in addr;

	(void)state;
	/* Made for 2 connections: 4 slots, of which 3 take addresses. */
	assert_int_equal(http_peers_new(1, 2, &peers), 0);
	for (uint32_t i = 1; i <= 3; i++) {
		addr = test_v4(0x0a000000 + i);
		assert_true(http_peers_add(peers, (struct sockaddr *)&addr));
	}
	addr = test_v4(0x0a000004);
	assert_false(http_peers_add(peers, (struct sockaddr *)&addr));
	addr = test_v4(0x0a000002);
	http_peers_remove(peers, (struct sockaddr *)&addr);
	addr = test_v4(0x0a000004);
	assert_true(http_peers_add(peers, (struct sockaddr *)&addr));
	for (uint32_t i = 1; i <= 4; i++) {
		addr = test_v4(0x0a000000 + i);
		assert_int_equal(http_peers_count(peers, (struct sockaddr *)&addr), i != 2);
	}
	http_peers_free(peers);
}

#define TEST_ADDRS 300
#define TEST_OPS   20000

static void
test_against_array(void **state)
{
	static unsigned expected[TEST_ADDRS];
	struct http_peers *peers = NULL;
	unsigned limit = 4, open = 0;

	(void)state;
	srandom(1234);
	/* Made for fewer connections than it gets: 512 slots for 300 addresses collide. */
	assert_int_equal(http_peers_new(limit, TEST_ADDRS / 2 + 10, &peers), 0);
	for (int op = 0; op < TEST_OPS; op++) {
		unsigned k = (unsigned)random() % TEST_ADDRS;
		/* Addresses close together and far apart, IPv4 and IPv6. */
		struct sockaddr_in v4 = test_v4(0xc0a80000 + k * 7);
		struct sockaddr_in6 v6 = test_v6("2001:db8::");
		struct sockaddr *addr = (struct sockaddr *)&v4;

		if (k % 2 == 1) {
			v6.sin6_addr.s6_addr[15] = (unsigned char)k;
			v6.sin6_addr.s6_addr[3] = (unsigned char)(k >> 8);
			addr = (struct sockaddr *)&v6;
		}
		/* Opens outnumber closes early on, closes later: the table fills and empties. */
		if ((unsigned)random() % TEST_OPS < (unsigned)(TEST_OPS - op) || expected[k] == 0) {
			bool ok = http_peers_add(peers, addr);

			assert_int_equal(ok, expected[k] < limit);
			expected[k] += ok;
			open += ok;
		} else {
			http_peers_remove(peers, addr);
			expected[k]--;
			open--;
		}
		assert_int_equal(http_peers_count(peers, addr), expected[k]);
		if (op % 1000 == 0)
			for (unsigned j = 0; j < TEST_ADDRS; j += 2) {
				struct sockaddr_in other = test_v4(0xc0a80000 + j * 7);

				assert_int_equal(http_peers_count(peers, (struct sockaddr *)&other),
						 expected[j]);
			}
	}
	assert_true(open > 0);
	http_peers_free(peers);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_against_array),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
