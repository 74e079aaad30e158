/*
 * crypto_floor.c - what the cryptography a request cannot do without costs on this
 * machine, one core, with this OpenSSL: the floor under scepd's CPU per request.
 *
 * SYNOPSIS
 *	crypto_floor [--seconds S]
 *
 * DESCRIPTION
 *	Makes an RSA-2048 CA key, an RSA-2048 requester key with its PKCS#10 request
 *	and self-signed certificate, then times each of these for S seconds (default
 *	1), one thread:
 *	  sign     an RSA-2048 PKCS#1 v1.5 SHA-256 signature (a certificate, a CertRep)
 *	  decrypt  an RSA-2048 PKCS#1 v1.5 decryption of a 16-byte key (the envelope)
 *	  d2i_cert parsing the requester's certificate (the pkiMessage's signer); with
 *	           OpenSSL 3 this decodes its public key through the provider decoders
 *	  d2i_req  parsing the PKCS#10 request, the same
 *	  verify   checking the request's signature (a public-key operation)
 *	A /csr certificate needs at least d2i_req + verify + sign; a SCEP enrolment
 *	d2i_cert + verify (the pkiMessage's signature) + decrypt + d2i_req + verify +
 *	sign (the certificate) + sign (the CertRep). Nothing else is counted: no HTTP,
 *	no CMS or ASN.1 building, no store.
 *
 * OUTPUT
 *	One line of key=value pairs, milliseconds per operation:
 *	  sign_ms decrypt_ms d2i_cert_ms d2i_req_ms verify_ms csr_floor_ms scep_floor_ms
 *
 * EXIT STATUS
 *	0, or 1 when OpenSSL fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "bench_clock.h"

struct floor_input {
	EVP_PKEY *ca_key;
	EVP_PKEY *req_key;
	unsigned char *cert_der, *req_der, *wrapped;
	int cert_len, req_len;
	size_t wrapped_len;
	X509_REQ *parsed_req; /* for verify: only the verification is timed */
};

static void
floor_die(const char *what)
{
	fprintf(stderr, "crypto_floor: %s failed\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static EVP_PKEY *
floor_rsa_key(void)
{
	EVP_PKEY *key = EVP_RSA_gen(2048);

	if (key == NULL)
		floor_die("RSA key generation");
	return key;
}

/* The requester's PKCS#10 request and self-signed certificate, as DER. */
static void
floor_make_input(struct floor_input *in)
{
	unsigned char key16[16] = { 0 };
	X509_REQ *req = X509_REQ_new();
	X509 *cert = X509_new();
	X509_NAME *name = X509_NAME_new();
	EVP_PKEY_CTX *ctx = NULL;

	in->ca_key = floor_rsa_key();
	in->req_key = floor_rsa_key();
	if (req == NULL || cert == NULL || name == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)"floor.example", -1, -1, 0))
		floor_die("building a name");
	if (!X509_REQ_set_subject_name(req, name) || !X509_REQ_set_pubkey(req, in->req_key) ||
	    !X509_REQ_sign(req, in->req_key, EVP_sha256()) ||
	    (in->req_len = i2d_X509_REQ(req, &in->req_der)) <= 0)
		floor_die("building the request");
	if (!ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) ||
	    !X509_set_subject_name(cert, name) || !X509_set_issuer_name(cert, name) ||
	    !X509_gmtime_adj(X509_getm_notBefore(cert), 0) ||
	    !X509_gmtime_adj(X509_getm_notAfter(cert), 3600) ||
	    !X509_set_pubkey(cert, in->req_key) || !X509_sign(cert, in->req_key, EVP_sha256()) ||
	    (in->cert_len = i2d_X509(cert, &in->cert_der)) <= 0)
		floor_die("building the certificate");
	/* The envelope's content key, wrapped to the CA key. */
	in->wrapped_len = (size_t)EVP_PKEY_get_size(in->ca_key);
	if ((in->wrapped = malloc(in->wrapped_len)) == NULL ||
	    (ctx = EVP_PKEY_CTX_new(in->ca_key, NULL)) == NULL || EVP_PKEY_encrypt_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0 ||
	    EVP_PKEY_encrypt(ctx, in->wrapped, &in->wrapped_len, key16, sizeof(key16)) <= 0)
		floor_die("wrapping a key");
	EVP_PKEY_CTX_free(ctx);
	X509_NAME_free(name);
	X509_free(cert);
	X509_REQ_free(req);
}

static void
floor_sign(const struct floor_input *in)
{
	static const unsigned char tbs[512];
	unsigned char sig[512];
	size_t len = sizeof(sig);
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, in->ca_key) <= 0 ||
	    EVP_DigestSign(md, sig, &len, tbs, sizeof(tbs)) <= 0)
		floor_die("signing");
	EVP_MD_CTX_free(md);
}

static void
floor_decrypt(const struct floor_input *in)
{
	unsigned char out[512];
	size_t len = sizeof(out);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(in->ca_key, NULL);

	if (ctx == NULL || EVP_PKEY_decrypt_init(ctx) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) <= 0 ||
	    EVP_PKEY_decrypt(ctx, out, &len, in->wrapped, in->wrapped_len) <= 0 || len != 16)
		floor_die("decrypting");
	EVP_PKEY_CTX_free(ctx);
}

static void
floor_d2i_cert(const struct floor_input *in)
{
	const unsigned char *p = in->cert_der;
	X509 *cert = d2i_X509(NULL, &p, in->cert_len);

	if (cert == NULL || X509_get0_pubkey(cert) == NULL)
		floor_die("parsing the certificate");
	X509_free(cert);
}

static void
floor_d2i_req(const struct floor_input *in)
{
	const unsigned char *p = in->req_der;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, in->req_len);

	if (req == NULL || X509_REQ_get0_pubkey(req) == NULL)
		floor_die("parsing the request");
	X509_REQ_free(req);
}

static void
floor_verify(const struct floor_input *in)
{
	if (X509_REQ_verify(in->parsed_req, X509_REQ_get0_pubkey(in->parsed_req)) != 1)
		floor_die("verifying the request");
}

/* Milliseconds per call of fn, over `seconds` of calls (checking the clock every 16). */
static double
floor_time(void (*fn)(const struct floor_input *), const struct floor_input *in, double seconds)
{
	double start = bench_now(), now;
	long n = 0;

	fn(in); /* warm up */
	do {
		for (int i = 0; i < 16; i++)
			fn(in);
		n += 16;
		now = bench_now();
	} while (now - start < seconds);
	return (now - start) * 1e3 / (double)n;
}

int
main(int argc, char **argv)
{
	struct floor_input in = { 0 };
	const unsigned char *p;
	double seconds = 1, sign, decrypt, d2i_cert, d2i_req, verify;

	if (argc == 3 && strcmp(argv[1], "--seconds") == 0)
		seconds = atof(argv[2]);
	else if (argc != 1) {
		fprintf(stderr, "usage: crypto_floor [--seconds S]\n");
		return 1;
	}
	if (seconds <= 0)
		seconds = 1;
	floor_make_input(&in);
	p = in.req_der;
	if ((in.parsed_req = d2i_X509_REQ(NULL, &p, in.req_len)) == NULL)
		floor_die("parsing the request");

	sign = floor_time(floor_sign, &in, seconds);
	decrypt = floor_time(floor_decrypt, &in, seconds);
	d2i_cert = floor_time(floor_d2i_cert, &in, seconds);
	d2i_req = floor_time(floor_d2i_req, &in, seconds);
	verify = floor_time(floor_verify, &in, seconds);
	printf("sign_ms=%.4f decrypt_ms=%.4f d2i_cert_ms=%.4f d2i_req_ms=%.4f verify_ms=%.4f "
	       "csr_floor_ms=%.4f scep_floor_ms=%.4f\n",
	       sign, decrypt, d2i_cert, d2i_req, verify, d2i_req + verify + sign,
	       d2i_cert + verify + decrypt + d2i_req + verify + 2 * sign);

	X509_REQ_free(in.parsed_req);
	EVP_PKEY_free(in.ca_key);
	EVP_PKEY_free(in.req_key);
	OPENSSL_free(in.cert_der);
	OPENSSL_free(in.req_der);
	free(in.wrapped);
	return 0;
}
