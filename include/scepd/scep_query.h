/*
 * scep_query.h - what the query string of a SCEP request asks for: the operation, and
 * for a GET PKIOperation the message argument as pkiMessage DER.
 *
 * Pure functions over strings the HTTP layer has already unescaped: no HTTP library,
 * no keys, never logs. tests/fuzz/fuzz_scep_query.c drives them with raw query strings.
 */
#ifndef SCEPD_SCEP_QUERY_H
#define SCEPD_SCEP_QUERY_H

#include <stddef.h>

enum scep_operation {
	SCEP_OP_UNKNOWN,
	SCEP_OP_PKI_OPERATION,
	SCEP_OP_GET_CA_CAPS,
	SCEP_OP_GET_CA_CERT,
	SCEP_OP_GET_NEXT_CA_CERT,
};

/* The operation= value as RFC 8894 spells it (case matters), or SCEP_OP_UNKNOWN. */
enum scep_operation scep_query_operation(const char *name);

/*
 * The message= value of a GET PKIOperation: base64 of the DER, where an unescaped '+'
 * has become ' ' on the way (some clients do not percent-encode it). 0 and a malloc()ed
 * DER, -EBADMSG when it is not base64 or is empty, -ENOMEM.
 */
int scep_query_decode_message(const char *message, unsigned char **ret_der, size_t *ret_len);

#endif
