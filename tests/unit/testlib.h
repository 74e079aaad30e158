/*
 * testlib.h - what the unit tests build for themselves: keys, names, requests,
 * certificates, temporary directories and small files.
 *
 * Every function asserts (cmocka) instead of returning an error: a failure here is a
 * failed test, never a result to check. What a function returns, the caller frees
 * (EVP_PKEY_free, X509_free, X509_REQ_free, X509_NAME_free, free).
 * libcrypto and cmocka only: test_scep_msg links it and stays free of HTTP.
 */
#ifndef SCEPD_TEST_TESTLIB_H
#define SCEPD_TEST_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Keys: RSA of bits, EC on a named curve ("P-256"). */
EVP_PKEY *testlib_rsa_key(unsigned bits);
EVP_PKEY *testlib_ec_key(const char *curve);

/*
 * "/C=DE/O=Acme/CN=a+UID=b" -> the entries of name, in that order ("+" joins an RDN);
 * "" adds none. Values are UTF-8 and may hold anything but "/" and "+".
 */
void testlib_name_add(X509_NAME *name, const char *spec);
X509_NAME *testlib_name(const char *spec);

/*
 * A request signed by key (SHA-256; no digest for Ed25519 and Ed448), for subject
 * (testlib_name_add's form), with a subjectAltName extension when san is not NULL
 * (OpenSSL's "DNS:a,IP:192.0.2.1") and a challengePassword (UTF8String) when
 * challenge is not NULL.
 */
X509_REQ *testlib_csr(EVP_PKEY *key, const char *subject, const char *san, const char *challenge);

/* A certificate to make: each extension NULL is left out. */
struct testlib_cert {
	EVP_PKEY *key;        /* the public key certified */
	const char *subject;  /* testlib_name_add's form */
	X509 *issuer;         /* NULL: self-signed with key */
	EVP_PKEY *issuer_key; /* the issuer's key */
	long serial;
	long not_before;               /* seconds from now */
	long not_after;                /* seconds from now */
	const char *basic_constraints; /* "critical,CA:TRUE" */
	const char *key_usage;         /* "critical,keyCertSign,cRLSign" */
	bool subject_key_id;           /* subjectKeyIdentifier = hash */
	const char *san;               /* "DNS:a.example,DNS:b.example" */
	const char *ext_key_usage;     /* "clientAuth" */
};

/* A version 3 certificate signed with SHA-256, extensions in the order above. */
X509 *testlib_cert_make(const struct testlib_cert *spec);

/*
 * A new directory $TMPDIR/<prefix>.XXXXXX (/tmp without TMPDIR), and its removal
 * with everything under it (not following symbolic links).
 */
char *testlib_tmpdir(const char *prefix);
void testlib_rmtree(const char *dir);

/* dir/name in a buffer of the caller's; asserts it fits. */
const char *testlib_path(char *buf, size_t size, const char *dir, const char *name);

/* text written to path (created or truncated, mode 0666 & ~umask). */
void testlib_write_file(const char *path, const char *text);

/* The contents of path, NUL-terminated, as a string to free. */
char *testlib_read_file(const char *path);

/* Fails the test unless path holds exactly want. */
void testlib_assert_file_equal(const char *path, const char *want);

#endif
