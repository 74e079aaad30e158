/*
 * scep_query.c - the operation names of RFC 8894 section 4 and the base64 message of
 * a GET PKIOperation (section 4.1).
 */
#include "scepd/scep_query.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "scepd/encoding.h"

static const struct {
	const char *name;
	enum scep_operation op;
} scep_query_operations[] = {
	{ "PKIOperation", SCEP_OP_PKI_OPERATION },
	{ "GetCACaps", SCEP_OP_GET_CA_CAPS },
	{ "GetCACert", SCEP_OP_GET_CA_CERT },
	{ "GetNextCACert", SCEP_OP_GET_NEXT_CA_CERT },
};

enum scep_operation
scep_query_operation(const char *name)
{
	for (size_t i = 0; i < sizeof(scep_query_operations) / sizeof(scep_query_operations[0]);
	     i++)
		if (strcmp(name, scep_query_operations[i].name) == 0)
			return scep_query_operations[i].op;
	return SCEP_OP_UNKNOWN;
}

int
scep_query_decode_message(const char *message, unsigned char **ret_der, size_t *ret_len)
{
	char *text;
	int r;

	if ((text = strdup(message)) == NULL)
		return -ENOMEM;
	for (char *p = text; *p != '\0'; p++)
		if (*p == ' ')
			*p = '+';
	r = encoding_base64_decode(text, strlen(text), ret_der, ret_len);
	free(text);
	return r;
}
