/*
 * keys.h - the CA and RA keys and certificates of one worker process.
 *
 * keys_load() sets up the OpenSSL ENGINE exactly as mod_ca_engine did (engine.id,
 * each engine.pre command in order, ENGINE_init, each engine.post command), hands it
 * the PIN read by secret_read() (wiped after use; never logged), loads each key (a pkcs11: URI through
 * the engine, or a PEM file, optionally passphrase-protected), reads the certificate
 * chains and checks that every key matches its certificate by comparing public keys
 * and making a test signature.
 *
 * Called in a worker after fork(), or in the short-lived child of `scepd -t`; never
 * in the supervisor: a PKCS#11 module initialised before fork() is unsafe in the
 * children. The only file with OPENSSL_SUPPRESS_DEPRECATED (the ENGINE API).
 */
#ifndef SCEPD_KEYS_H
#define SCEPD_KEYS_H

#include <stdbool.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "scepd/config.h"

/* A key with its certificate chain (signing certificate first, root last). */
struct keys_pair {
	EVP_PKEY *key;
	STACK_OF(X509) *chain;
	X509 *next; /* the next_certificate setting's, or NULL */
};

struct keys {
	const struct scepd_config *cfg; /* what was loaded: borrowed */
	void *engine;                   /* ENGINE *, NULL when engine.id is not set */
	struct keys_pair *cas;          /* one per cfg->cas */
	struct keys_pair *ras;          /* one per cfg->profiles: key NULL without an RA */
	struct keys_pair *ocsps;        /* one per cfg->cas: key NULL without a delegated
					   OCSP signer */
	unsigned load_retries; /* engine set-ups that failed and were retried (for the log) */
};

/* Why keys_load() failed, for "FILE:LINE: setting: message" and for the exit code. */
struct keys_error {
	char setting[160]; /* "ca.key", "engine.pin", "engine.pre[4]", "cas.x.certificate" */
	char message[512]; /* one line, never a PIN or passphrase */
	bool fatal;        /* retrying cannot help and may hurt: wrong or locked PIN */
};

/*
 * Returns 0 and the loaded keys, or a negative errno with err filled: -EACCES wrong
 * or locked PIN (err->fatal), -ENOENT no such object / file / token, -ENODEV the
 * engine or module cannot be loaded, -EKEYREJECTED a key does not match its
 * certificate, -EBADMSG an unreadable certificate or key file, -EIO anything else.
 * Retries engine set-up a few times with jittered backoff when several processes
 * initialise one SoftHSM token at once. OpenSSL's error queue is left empty.
 */
int keys_load(const struct scepd_config *cfg, struct keys **ret_keys, struct keys_error *err);

/*
 * When cfg's PKCS#11 module is SoftHSM, which keeps each token as files: 2 (a file
 * that user cannot use) or 1 (no such file found, or no configuration) and a
 * hint in buf (one line, no PIN) naming the configuration it reads ($SOFTHSM2_CONF or
 * /etc/softhsm/softhsm2.conf), its token directory, and the first file there that
 * user (NULL: this process) cannot read and write, e.g. "/var/lib/softhsm/tokens/
 * UUID/UUID.object belongs to uid 0 (root) and uid 999 (scepd) cannot read and
 * write it: ..."; or where the tokens are, when every file is the user's. 0 and ""
 * for another module. keys_load() adds it to "no object matches the URI" and to a
 * module that cannot be initialised.
 */
int keys_token_files_hint(const struct scepd_config *cfg, const char *user, char *buf, size_t size);

/*
 * Frees the keys, then ENGINE_finish() + ENGINE_free(). Accepts NULL.
 * With libp11 0.4.12 this does not unload the PKCS#11 module once a token key was
 * loaded, and keys_load() cannot set up the engine again in the same process: a
 * process whose token was lost must exit and be replaced, not call keys_load() again.
 */
void keys_free(struct keys *keys);

/* Room for the usual key URI or path in keys_uri_redact()'s buf. */
#define KEYS_URI_REDACT_MAX 1024

/*
 * uri without its pin-value and pin-source attributes (path or query part of an RFC
 * 7512 pkcs11: URI), into buf: what a log or an audit record may name. Anything else
 * (a key file's path) is copied as it is. 0; or -ERANGE when buf is too small, and
 * buf holds as much of the redacted text as fits (never a PIN).
 */
int keys_uri_redact(const char *uri, char *buf, size_t size);

/* The signing certificate of CA ca (an index in cfg->cas): the first of its chain. */
X509 *keys_get0_ca_cert(const struct keys *keys, size_t ca);

/* The key of CA ca (the signer's). */
EVP_PKEY *keys_get0_ca_key(const struct keys *keys, size_t ca);

/*
 * The key and certificate that SCEP messages of profile (an index in cfg->profiles)
 * are encrypted to and CertReps signed with: its RA's, or its CA's without an RA.
 */
void keys_get0_ra(const struct keys *keys, size_t profile, X509 **ret_cert, EVP_PKEY **ret_key);

/*
 * The certificate and key that sign CA ca's OCSP responses: its delegated OCSP signer,
 * or the CA's own without one.
 */
void keys_get0_ocsp(const struct keys *keys, size_t ca, X509 **ret_cert, EVP_PKEY **ret_key);

/*
 * New references to the certificates of profile, which outlive the keys (a worker
 * whose token went away still answers GetCACert): its CA's chain, its RA's chain or
 * NULL, the next CA and next RA certificates or NULL. 0, or -ENOMEM with nothing
 * written.
 */
int keys_get1_certs(const struct keys *keys, size_t profile, STACK_OF(X509) **ret_ca_chain,
		    STACK_OF(X509) **ret_ra_chain, X509 **ret_ca_next, X509 **ret_ra_next);

/*
 * After a failed private-key operation: does OpenSSL's error queue (peeked, not
 * cleared) say the token is gone (device removed, session closed or handle invalid,
 * token not present, module error)? Then the keys are dead and must be loaded anew.
 */
bool keys_token_lost(void);

/* The PKCS#11 return value of a failed private-key operation, sorted (for metrics). */
enum keys_failure {
	KEYS_FAILURE_NO_CKR,    /* none in the queue: a key file, or OpenSSL itself */
	KEYS_FAILURE_TOKEN,     /* the token is gone (as keys_token_lost()) */
	KEYS_FAILURE_PIN,       /* a PIN or login problem */
	KEYS_FAILURE_TRANSIENT, /* worth another try */
	KEYS_FAILURE_OTHER_CKR, /* any other CKR_ value */
};

/* The first PKCS#11 return value in OpenSSL's error queue (peeked, not cleared), sorted. */
enum keys_failure keys_token_failure(void);

#endif
