/*
 * test_encoding.c - unit tests of encoding.c's hex: the encoder in both cases, every
 * digit, the decoder's length and digit checks, normalisation as the store does it
 * (serials upper case without leading zeros, hashes lower case) and serial numbers
 * as the issuer prints them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/asn1.h>
#include <openssl/bn.h>

#include "scepd/encoding.h"

static void
test_encode(void **state)
{
	const unsigned char bytes[] = { 0x00, 0x0f, 0xa5, 0xff };
	char out[2 * sizeof(bytes) + 1];

	(void)state;
	encoding_hex_encode(bytes, sizeof(bytes), false, out);
	assert_string_equal(out, "000fa5ff");
	encoding_hex_encode(bytes, sizeof(bytes), true, out);
	assert_string_equal(out, "000FA5FF");
	encoding_hex_encode(bytes, 0, true, out);
	assert_string_equal(out, "");
}

static void
test_digit(void **state)
{
	(void)state;
	for (int c = 0; c < 256; c++) {
		const char *lower = "0123456789abcdef", *upper = "0123456789ABCDEF";
		const char *l = c != 0 ? strchr(lower, c) : NULL,
			   *u = c != 0 ? strchr(upper, c) : NULL;
		int want = l != NULL ? (int)(l - lower) : u != NULL ? (int)(u - upper) : -1;

		assert_int_equal(encoding_hex_digit((char)c), want);
	}
}

static const struct decode_case {
	const char *hex;
	size_t size;
	int r;
	const unsigned char bytes[4];
} decode_cases[] = {
	{ "00ff7A", 3, 0, { 0x00, 0xff, 0x7a } },
	{ "DEADbeef", 4, 0, { 0xde, 0xad, 0xbe, 0xef } },
	{ "00ff7", 3, -EBADMSG, { 0 } },   /* too short */
	{ "00ff7a0", 3, -EBADMSG, { 0 } }, /* too long */
	{ "00fg7a", 3, -EBADMSG, { 0 } },
	{ " 0ff7a", 3, -EBADMSG, { 0 } }, /* sscanf() would have skipped the blank */
	{ "+1ff7a", 3, -EBADMSG, { 0 } },
	{ "", 0, 0, { 0 } },
};

static void
test_decode(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]); i++) {
		const struct decode_case *c = &decode_cases[i];
		unsigned char out[4] = { 0 };

		if (encoding_hex_decode(c->hex, out, c->size) != c->r)
			fail_msg("\"%s\": not %d", c->hex, c->r);
		if (c->r == 0)
			assert_memory_equal(out, c->bytes, c->size);
	}
}

static const struct normalize_case {
	const char *hex;
	bool upper, strip;
	size_t size;
	int r;
	const char *out;
} normalize_cases[] = {
	{ "003a9f", true, true, 16, 0, "3A9F" },
	{ "00", true, true, 16, 0, "0" },
	{ "0", true, true, 16, 0, "0" },
	{ "ABCdef", true, true, 16, 0, "ABCDEF" },
	{ "003A9F", false, false, 16, 0, "003a9f" },
	{ "3a9f", true, true, 5, 0, "3A9F" },
	{ "3a9f", true, true, 4, -ERANGE, NULL },
	{ "0003a9f", true, true, 5, 0, "3A9F" }, /* fits once the zeros are gone */
	{ "", true, true, 16, -EINVAL, NULL },
	{ "3a9g", true, true, 16, -EINVAL, NULL },
	{ "-3a9f", true, true, 16, -EINVAL, NULL },
	{ "3a 9f", true, true, 16, -EINVAL, NULL },
};

static void
test_normalize(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(normalize_cases) / sizeof(normalize_cases[0]); i++) {
		const struct normalize_case *c = &normalize_cases[i];
		char buf[16] = "untouched";
		int r = encoding_hex_normalize(c->hex, c->upper, c->strip, buf, c->size);

		if (r != c->r)
			fail_msg("\"%s\": got %d, not %d", c->hex, r, c->r);
		if (r == 0)
			assert_string_equal(buf, c->out);
	}
}

static const struct serial_case {
	const char *bn; /* BN_hex2bn() form */
	const char *out;
} serial_cases[] = {
	{ "0", "0" },
	{ "1", "1" },
	{ "0A", "A" },
	{ "ff", "FF" },
	{ "100", "100" },
	{ "0123456789abcdef0123456789abcdef01234567", "123456789ABCDEF0123456789ABCDEF01234567" },
	{ "-0A", "-0A" }, /* as before: a client may send one, the store refuses it */
};

static void
test_serial(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(serial_cases) / sizeof(serial_cases[0]); i++) {
		ASN1_INTEGER *ai;
		BIGNUM *bn = NULL;
		char *hex = NULL;

		assert_true(BN_hex2bn(&bn, serial_cases[i].bn) > 0);
		assert_non_null(ai = BN_to_ASN1_INTEGER(bn, NULL));
		assert_int_equal(encoding_hex_serial(ai, &hex), 0);
		assert_string_equal(hex, serial_cases[i].out);
		free(hex);
		ASN1_INTEGER_free(ai);
		BN_free(bn);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode), cmocka_unit_test(test_digit),
		cmocka_unit_test(test_decode), cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_serial),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
