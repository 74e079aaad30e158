/*
 * fuzz_webhook_resp.c - libFuzzer target for a challenge webhook's answer, as
 * webhook_check() hands it over: any bytes, up to WEBHOOK_MAX_RESPONSE, to
 * webhook_parse_response(). An answer must either allow, refuse with a printable
 * reason, or be an error; never crash, hang or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scepd/webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct webhook_answer a = { 0 };

	if (size > WEBHOOK_MAX_RESPONSE)
		return 0; /* the transfer stops before */
	if (webhook_parse_response((const char *)data, size, &a) == 0) {
		/* the reason goes to a log line: printable ASCII, terminated */
		size_t len = strnlen(a.reason, sizeof(a.reason));

		if (len == sizeof(a.reason))
			abort();
		for (size_t i = 0; i < len; i++)
			if (a.reason[i] < 0x20 || a.reason[i] >= 0x7f)
				abort();
		if (a.allow && len != 0)
			abort();
	}
	return 0;
}
