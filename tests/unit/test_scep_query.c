/*
 * test_scep_query.c - the operation names of a SCEP query string and the base64
 * message of a GET PKIOperation, as the HTTP layer hands them over (unescaped).
 */
#include "scepd/scep_query.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void
test_operations(void **state)
{
	(void)state;
	assert_int_equal(SCEP_OP_PKI_OPERATION, scep_query_operation("PKIOperation"));
	assert_int_equal(SCEP_OP_GET_CA_CAPS, scep_query_operation("GetCACaps"));
	assert_int_equal(SCEP_OP_GET_CA_CERT, scep_query_operation("GetCACert"));
	assert_int_equal(SCEP_OP_GET_NEXT_CA_CERT, scep_query_operation("GetNextCACert"));
	/* RFC 8894 spells them so; a near miss is unknown, not a guess. */
	assert_int_equal(SCEP_OP_UNKNOWN, scep_query_operation("getcacaps"));
	assert_int_equal(SCEP_OP_UNKNOWN, scep_query_operation("GetCACaps "));
	assert_int_equal(SCEP_OP_UNKNOWN, scep_query_operation("GetCACert\n"));
	assert_int_equal(SCEP_OP_UNKNOWN, scep_query_operation("GetCRL"));
	assert_int_equal(SCEP_OP_UNKNOWN, scep_query_operation(""));
}

static void
test_message(void **state)
{
	static const unsigned char expect[] = { 0xfb, 0xef, 0xbe, 0x30, 0x82 };
	unsigned char *der = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(0, scep_query_decode_message("++++MIIA", &der, &len));
	assert_int_equal(6, len);
	free(der);
	/* '+' that arrived unescaped has become ' ': it is still '+'. */
	assert_int_equal(0, scep_query_decode_message("    MIIA", &der, &len));
	assert_int_equal(6, len);
	assert_memory_equal(expect, der, sizeof(expect));
	free(der);
	assert_int_equal(-EBADMSG, scep_query_decode_message("", &der, &len));
	assert_int_equal(-EBADMSG, scep_query_decode_message("not base64!", &der, &len));
	assert_int_equal(-EBADMSG, scep_query_decode_message("MII=A", &der, &len));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_operations),
		cmocka_unit_test(test_message),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
