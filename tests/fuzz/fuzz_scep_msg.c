/*
 * fuzz_scep_msg.c - libFuzzer target for the SCEP pkiMessage codec: scep_msg_parse()
 * on any input, scep_msg_decrypt() with a fixed RA certificate and key when the message
 * passes, and the CertRep that answers it (SUCCESS encrypted to whatever signer
 * certificate the input carried, or FAILURE with its failInfo).
 *
 * Mutations of a whole message rarely get past its signature, yet any client may sign
 * and encrypt any content to the RA. So an input "W" TYPE HOW CONTENT... is first
 * wrapped, by tests/tools/scep_build.c with a requester key made at start, into a
 * message of messageType TYPE (a byte) whose envelope holds CONTENT, signed with SHA-1
 * when HOW has bit 0 set (else SHA-256) and encrypted with DES3 when bit 1 is (else
 * AES-128): the readers of decrypted content (CSR, challengePassword,
 * IssuerAndSubject, IssuerAndSerialNumber) then see the fuzzer's bytes. A pkiMessage
 * starts with 0x30, never "W".
 *
 * The RA below is a test key made once for this target, never used elsewhere:
 *   openssl req -x509 -newkey rsa:1024 -nodes -keyout ra.key -subj "/CN=scepd fuzz RA" \
 *	-days 36500 -addext keyUsage=critical,digitalSignature,keyEncipherment \
 *	-addext basicConstraints=CA:FALSE -out ra.pem
 * RSA 1024 keeps the fuzzer fast; nothing is protected by it.
 *
 * Seeds in tests/fuzz/corpus/scep_msg/: requests to this RA made with tests/tools/
 * scep_client (pkcsreq-<cipher>-<digest>, pkcsreq-ec, certpoll-aes256, getcert,
 * getcrl, renewalreq; the --break variants bad-signature, bare-envelope,
 * corrupt-padding, no-certs, unsorted-attrs; md5, certrep-type (messageType 3),
 * junk-content (random bytes encrypted)), CertReps the codec made for them
 * (certrep-*), a request from micromdm's scepclient (DES, SHA-1, encrypted to
 * another CA), and non-messages (certificate.der, random.bin, garbage.txt,
 * truncated-header.der).
 */
#include <stdint.h>
#include <stdlib.h>

#include <openssl/bio.h>
#include <openssl/pem.h>

#include "scepd/scep_msg.h"

#include "../tools/scep_build.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_scep_msg_ra_cert[] =
	"-----BEGIN CERTIFICATE-----\n"
	"MIICGDCCAYGgAwIBAgIUD+SXeUxVDbn0Te9olEcLFVnAnVgwDQYJKoZIhvcNAQEL\n"
	"BQAwGDEWMBQGA1UEAwwNc2NlcGQgZnV6eiBSQTAgFw0yNjExMjUxNTI3MjZaGA8y\n"
	"MTI2MTEwMTE1MjcyNlowGDEWMBQGA1UEAwwNc2NlcGQgZnV6eiBSQTCBnzANBgkq\n"
	"hkiG9w0BAQEFAAOBjQAwgYkCgYEAz7Rm2BM3wdxAxIRpc565PoLSD/CjWtcHsSVF\n"
	"m53yPScGJyngeWzJu1DQmv4C8pcVyGUzw4Ijus3OLxGn23xFhFbIYXCNRo1Mgb2m\n"
	"EqR4cW+rNusfll1J+eM8heSpvrEVQCWI70LMQ2eZCI1D7fLxGcwg3BHCtGHloJAr\n"
	"ryPTq2cCAwEAAaNdMFswHQYDVR0OBBYEFP8q1DXUAQxG//JSpJ+WK1dIkI0PMB8G\n"
	"A1UdIwQYMBaAFP8q1DXUAQxG//JSpJ+WK1dIkI0PMA4GA1UdDwEB/wQEAwIFoDAJ\n"
	"BgNVHRMEAjAAMA0GCSqGSIb3DQEBCwUAA4GBABYi1Jh5VBqqwgsW5G/Pg+iur42D\n"
	"ZFZkOvlW3+7PLyj1cF+Cvl3OSGzkEh8Z1BgkNkxZBbb6eI8AropxPX/oHQ+aZ9j0\n"
	"KDhQgDXiHqcMizWBlYxR/AjBtcZhTDEO1FNBI2fzGtntilT/lC8R1k9N/Ih93obH\n"
	"SsYcJkVT1vkgkcHr\n"
	"-----END CERTIFICATE-----\n";

static const char fuzz_scep_msg_ra_key[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBAM+0ZtgTN8HcQMSE\n"
	"aXOeuT6C0g/wo1rXB7ElRZud8j0nBicp4HlsybtQ0Jr+AvKXFchlM8OCI7rNzi8R\n"
	"p9t8RYRWyGFwjUaNTIG9phKkeHFvqzbrH5ZdSfnjPIXkqb6xFUAliO9CzENnmQiN\n"
	"Q+3y8RnMINwRwrRh5aCQK68j06tnAgMBAAECgYEAkvs9oACRf21GpApzuS8ENdlL\n"
	"n54Ra1IpjlEq3gG6j03TS9mVkTfL1fNNe7DvEw6ZipMbO2oXsLS9CI/88hQR+Fmt\n"
	"JnUBDNBPLjh2vDbBSrKYC+VNIEgi/c6nrP7oMqtQlwuA+f0f1Z9DCKNoYq4tdkXK\n"
	"F4mTJdccI0AYax544BECQQD+KnFcjNzOlTWuoQONqIgWQT9D6cSsDrTuPjGOsMyZ\n"
	"X8ym5Z1aktkJycNY/mgDFmYkfviRD3guhBxlwx24ZwMfAkEA0TQf5wFm8ywhSUzI\n"
	"I1yeZ7kfBQy7Dxd6Z0PwM0GYsC+KP1zCyNrv3G3FghNVxwzCjUXAwDQlfA0yVhLF\n"
	"FOpWuQJASDBZ3kWL+YjbpGvLDJMPg/KoO2vMFmpe7UPw42xH0FArWkPhO3Z1+pe5\n"
	"yi8H78iO3lLJ2rmgEuYnAqg2asenVQJADGOC1CJAH3xoiDe0zmtIsinDTYBAf5dL\n"
	"V1wtmEt1KFHYZQIwQsa8V5hkjtxoQv5dcxJDZN5xrdP2PCSmaSOreQJAZW6Y1Es9\n"
	"qK43MUU/sJZgDbOof7KU+ZyqQHNOmBRS3oQQlR4JsSjr/2qJE/MuuNmSHYGHocTq\n"
	"vOO7LOFJ0aV9CQ==\n"
	"-----END PRIVATE KEY-----\n";

static void
fuzz_scep_msg_load(X509 **ret_cert, EVP_PKEY **ret_key)
{
	BIO *bio;

	bio = BIO_new_mem_buf(fuzz_scep_msg_ra_cert, -1);
	*ret_cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	BIO_free(bio);
	bio = BIO_new_mem_buf(fuzz_scep_msg_ra_key, -1);
	*ret_key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (*ret_cert == NULL || *ret_key == NULL)
		abort();
}

/* "W" TYPE HOW CONTENT: a message of that type around that content, else NULL. */
static unsigned char *
fuzz_scep_msg_wrap(const uint8_t *data, size_t size, X509 *ra_cert, size_t *ret_len)
{
	static const unsigned char nonce[16] = "fuzz fuzz fuzz!";
	static EVP_PKEY *key;
	static X509 *cert;
	struct scep_build_req req = {
		.txid = "FUZZ",
		.nonce = nonce,
		.nonce_len = sizeof(nonce),
		.recipient = ra_cert,
	};
	unsigned char *der = NULL;
	X509_NAME *name;

	if (size < 3 || data[0] != 'W')
		return NULL;
	if (key == NULL) {
		if ((key = EVP_RSA_gen(1024)) == NULL || (name = X509_NAME_new()) == NULL ||
		    scep_build_self_signed(key, name, &cert) < 0)
			abort();
		X509_NAME_free(name);
	}
	req.type = data[1];
	req.md = data[2] & 0x01 ? EVP_sha1() : EVP_sha256();
	req.cipher = data[2] & 0x02 ? EVP_des_ede3_cbc() : EVP_aes_128_cbc();
	req.signer_cert = cert;
	req.signer_key = key;
	req.content = data + 3;
	req.content_len = size - 3;
	if (scep_build_request(&req, &der, ret_len) < 0)
		return NULL;
	return der;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static X509 *ra_cert;
	static EVP_PKEY *ra_key;
	struct scep_certrep rep = { .status = SCEP_STATUS_FAILURE };
	struct scep_msg *msg = NULL;
	unsigned char *der = NULL, *wrapped;
	size_t len = 0;
	int r;

	if (ra_cert == NULL)
		fuzz_scep_msg_load(&ra_cert, &ra_key);
	if ((wrapped = fuzz_scep_msg_wrap(data, size, ra_cert, &len)) != NULL) {
		r = scep_msg_parse(wrapped, len, &msg);
		free(wrapped);
	} else {
		r = scep_msg_parse(data, size, &msg);
	}
	if (r < 0)
		return 0;
	if (msg->fail == SCEP_FAIL_NONE)
		(void)scep_msg_decrypt(msg, ra_cert, ra_key);
	if (msg->decrypted) {
		rep.status = SCEP_STATUS_SUCCESS;
		rep.cert = ra_cert;
	} else if (msg->fail == SCEP_FAIL_NONE) {
		rep.status = SCEP_STATUS_PENDING;
	} else {
		rep.fail = msg->fail;
		rep.fail_text = scep_msg_fail_name(msg->fail);
	}
	if (scep_msg_certrep(msg, &rep, ra_cert, ra_key, &der, &len) == 0)
		free(der);
	scep_msg_free(msg);
	return 0;
}
