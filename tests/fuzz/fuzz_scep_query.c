/*
 * fuzz_scep_query.c - libFuzzer target for a SCEP query string as it arrives: split at
 * '&' and '=', unescaped by libmicrohttpd (as the server's connection lookup does), the
 * operation looked up, and a message= decoded from base64 and parsed as a pkiMessage.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <microhttpd.h>

#include "scepd/scep_msg.h"
#include "scepd/scep_query.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_scep_query_arg(char *key, char *value)
{
	struct scep_msg *msg = NULL;
	unsigned char *der = NULL;
	size_t len;

	key[MHD_http_unescape(key)] = '\0';
	value[MHD_http_unescape(value)] = '\0';
	if (strcmp(key, "operation") == 0)
		(void)scep_query_operation(value);
	else if (strcmp(key, "message") == 0 && scep_query_decode_message(value, &der, &len) == 0 &&
		 scep_msg_parse(der, len, &msg) == 0)
		scep_msg_free(msg);
	free(der);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *query, *arg, *save = NULL;

	if ((query = malloc(size + 1)) == NULL)
		return 0;
	memcpy(query, data, size);
	query[size] = '\0';
	for (arg = strtok_r(query, "&", &save); arg != NULL; arg = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(arg, '=');

		if (eq == NULL)
			continue;
		*eq = '\0';
		fuzz_scep_query_arg(arg, eq + 1);
	}
	free(query);
	return 0;
}
