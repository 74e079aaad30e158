/*
 * fuzz_ocsp_req.c - libFuzzer target for an OCSP request as it arrives: the bytes as a
 * POST body, and the same bytes as the path tail of a GET (percent escapes, base64),
 * each answered by ocsp_resp_prepare() and signed by ocsp_resp_sign() for the seeds'
 * CA. The lookup answers good, revoked or unknown by the
 * serial's last digit, and fails for serials ending in F (tryLater).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ocsp.h>
#include <openssl/pem.h>

#include "scepd/ocsp_resp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *fuzz_ocsp_key;
static X509 *fuzz_ocsp_ca;

static int
fuzz_ocsp_lookup(const char *serial_hex, struct ocsp_resp_status *ret, void *userdata)
{
	char last = serial_hex[strlen(serial_hex) - 1];

	(void)userdata;
	if (last == 'F')
		return -EIO;
	ret->status = last == '1'   ? OCSP_RESP_CERT_GOOD
		      : last == '2' ? OCSP_RESP_CERT_REVOKED
				    : OCSP_RESP_CERT_UNKNOWN;
	ret->revoked_at = 1700000000;
	ret->reason = last == '2' ? 1 : -1;
	return 0;
}

/*
 * The CA the seeds in corpus/ocsp_req/ ask about ("seed CA", EC P-256, made with
 * `openssl req -x509` for this corpus alone; its CertIDs are in openssl-*.der), so that
 * the fuzzer starts from requests that reach the lookup. Read on the first input and
 * kept for the process's life.
 */
static const char fuzz_ocsp_ca_pem[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIIBejCCAR+gAwIBAgIUOlji/UZTGGz61G8i9+nNZiVFD+MwCgYIKoZIzj0EAwIw\n"
	"EjEQMA4GA1UEAwwHc2VlZCBDQTAeFw0yNjEyMDMyMjQyMTdaFw0yNjEyMDQyMjQy\n"
	"MTdaMBIxEDAOBgNVBAMMB3NlZWQgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNC\n"
	"AASVnCnLZisfq/ZmxD356cJewpT4RdxdwuLUTxKwOpXRAvbfkJSKc1JJgZIiWOHz\n"
	"VtsR2iFMxOM5d49m39b36R3fo1MwUTAdBgNVHQ4EFgQU4qGSOOTidwaoM4mxUkHW\n"
	"PcHoK0owHwYDVR0jBBgwFoAU4qGSOOTidwaoM4mxUkHWPcHoK0owDwYDVR0TAQH/\n"
	"BAUwAwEB/zAKBggqhkjOPQQDAgNJADBGAiEAubZxe1hg0tQOEPrt52U2roSFYyv8\n"
	"kHX/HOK+KnxXM4sCIQDGAo5ztpXebaxRWFnYqJlBUknO/1vu+ohAS/ALrYIDTA==\n"
	"-----END CERTIFICATE-----\n";
static const char fuzz_ocsp_key_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg4AF7yY2h1r5KIJzt\n"
	"3zp8iOg9XHlAzm6ttlzwRNI9tlKhRANCAASVnCnLZisfq/ZmxD356cJewpT4Rdxd\n"
	"wuLUTxKwOpXRAvbfkJSKc1JJgZIiWOHzVtsR2iFMxOM5d49m39b36R3f\n"
	"-----END PRIVATE KEY-----\n";

static void
fuzz_ocsp_init(void)
{
	BIO *bio;

	if (fuzz_ocsp_ca != NULL)
		return;
	if ((bio = BIO_new_mem_buf(fuzz_ocsp_ca_pem, -1)) == NULL ||
	    (fuzz_ocsp_ca = PEM_read_bio_X509(bio, NULL, NULL, NULL)) == NULL)
		abort();
	BIO_free(bio);
	if ((bio = BIO_new_mem_buf(fuzz_ocsp_key_pem, -1)) == NULL ||
	    (fuzz_ocsp_key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL)
		abort();
	BIO_free(bio);
}

static void
fuzz_ocsp_answer(const unsigned char *der, size_t len)
{
	struct ocsp_resp_params params = {
		.ca = fuzz_ocsp_ca,
		.next_update_secs = 3600,
		.lookup = fuzz_ocsp_lookup,
	};
	struct ocsp_resp_prep *prep = NULL;
	unsigned char *out = NULL;
	size_t out_len;

	if (ocsp_resp_prepare(&params, der, len, &prep) < 0)
		return;
	if (ocsp_resp_sign(prep, fuzz_ocsp_ca, fuzz_ocsp_key, &out, &out_len) == 0)
		free(out);
	ocsp_resp_prep_free(prep);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *der = NULL;
	char *path;
	size_t len;

	fuzz_ocsp_init();
	fuzz_ocsp_answer(data, size);
	if ((path = malloc(size + 1)) == NULL)
		return 0;
	memcpy(path, data, size);
	path[size] = '\0';
	if (ocsp_resp_decode_get(path, &der, &len) == 0) {
		fuzz_ocsp_answer(der, len);
		free(der);
	}
	free(path);
	return 0;
}
