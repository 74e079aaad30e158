/*
 * fuzz_webhook_req.c - libFuzzer target for the JSON body of a challenge webhook call:
 * any DER a client may send as its request, decoded by d2i_X509_REQ() as the SCEP
 * codec does, then webhook_request_body() (subject, SANs of any type and length, keys,
 * raw) and the signature over it. The body must be JSON that jansson reads back.
 */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "scepd/webhook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *p = data;
	char signature[WEBHOOK_SIGNATURE_LEN], *body = NULL;
	X509_REQ *csr;
	json_t *back;
	size_t len = 0;

	if ((csr = d2i_X509_REQ(NULL, &p, (long)size)) == NULL)
		return 0;
	if (webhook_request_body(&(struct webhook_request){ .profile = "p",
							    .challenge = "c",
							    .transaction_id = "T",
							    .csr = csr,
							    .client = "192.0.2.1" },
				 1700000000, &body, &len) == 0) {
		if ((back = json_loadb(body, len, 0, NULL)) == NULL)
			abort();
		json_decref(back);
		if (webhook_sign((const unsigned char *)"k", 1, body, len, signature) < 0)
			abort();
		free(body);
	}
	X509_REQ_free(csr);
	return 0;
}
