/*
 * keys_internal.h - what the two halves of the keys module share; private to keys*.c
 * (include/scepd/keys.h is the contract for everyone else).
 *
 *	keys.c		the ENGINE, PIN, key files and certificates, the match check,
 *			keys_load(); OpenSSL's error queue and keys_fail()
 *	keys_token.c	the token probe through libp11 before the engine logs in, and
 *			what a PKCS#11 return value (CKR_) in libp11's errors means
 *
 * Every function that takes a struct keys_error fills it with keys_fail() when it
 * returns a negative errno; none of them logs.
 */
#ifndef SCEPD_KEYS_INTERNAL_H
#define SCEPD_KEYS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "scepd/config.h"
#include "scepd/keys.h"

#define KEYS_PKCS11_PREFIX "pkcs11:"

/* The names libp11's engine gives its OpenSSL error libraries (0.4.x). */
#define KEYS_ERRLIB_CKR    "PKCS#11 module" /* reason = the CKR_ return value */
#define KEYS_ERRLIB_P11    "libp11"
#define KEYS_ERRLIB_ENGINE "pkcs11 engine"

/* Reasons of the "libp11" library (p11_err.h). */
#define KEYS_P11_R_LOAD_MODULE_ERROR 1025
#define KEYS_P11_R_NO_SESSION        1029

/* One OpenSSL error, copied out of the queue. */
struct keys_ossl_err {
	unsigned long code;
	const char *lib;    /* ERR_lib_error_string(), or NULL */
	const char *reason; /* ERR_reason_error_string(), or NULL */
	char data[256];     /* the error's text data, or "" */
	const char *file;
	const char *func;
	int line;
	int flags;
};

#define KEYS_ERR_MAX 16 /* OpenSSL's queue holds 16 */

struct keys_ossl_errs {
	struct keys_ossl_err v[KEYS_ERR_MAX];
	size_t n;
};

/* A PKCS#11 return value (CK_RV): what struct keys_token_ckr sorts. */
typedef unsigned long keys_token_ck_ulong;

/* What a PKCS#11 return value means to us. */
enum {
	KEYS_TOKEN_CKR_FATAL = 1 << 0,     /* a PIN problem: never try again */
	KEYS_TOKEN_CKR_TRANSIENT = 1 << 1, /* worth another engine set-up */
	KEYS_TOKEN_CKR_LOST = 1 << 2,      /* after a private-key operation: the token is gone */
};

struct keys_token_ckr {
	keys_token_ck_ulong rv;
	int r;          /* the errno keys_load() returns for it */
	unsigned flags; /* KEYS_TOKEN_CKR_* */
	const char *what;
};

/*
 * keys.c
 */

/* Fills err: setting, fatal, and the message on one line. */
void keys_fail(struct keys_error *err, const char *setting, bool fatal, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Empties OpenSSL's error queue into errs (the oldest first). */
void keys_ossl_take(struct keys_ossl_errs *errs);

/* Puts errs back on OpenSSL's queue, as keys_ossl_take() found them. */
void keys_ossl_restore(const struct keys_ossl_errs *errs);

/* Whether x comes from the OpenSSL error library named lib (KEYS_ERRLIB_*). */
bool keys_ossl_is(const struct keys_ossl_err *x, const char *lib);

/* The last MODULE_PATH of engine.pre or engine.post, and its setting; or NULL. */
const char *keys_module_path(const struct scepd_config *cfg, const char **ret_setting);

/* Where the PIN comes from: engine.pin, or a ("PIN", ...) engine command. */
const char *keys_pin_setting(const struct scepd_config *cfg);

/* Whether key is a pkcs11: URI (else a key file's path). */
bool keys_is_uri(const char *key);

/* The name of a setting as keys_error carries it. */
#define KEYS_SETTING_MAX 160

/*
 * One key the configuration names, with its certificates and the names of its
 * settings as the file spells them: each CA's, each SCEP profile's RA, each CA's
 * delegated OCSP signer.
 */
struct keys_spec {
	const char *key; /* pkcs11: URI or file path */
	const struct config_secret *passphrase;
	const char *certificate;      /* its chain file */
	const char *next_certificate; /* NULL: none */
	char key_setting[KEYS_SETTING_MAX];
	char passphrase_setting[KEYS_SETTING_MAX];
	char certificate_setting[KEYS_SETTING_MAX];
	char next_setting[KEYS_SETTING_MAX];
	struct keys_pair *pair; /* where struct keys holds it */
};

/*
 * keys.c: every key of cfg, in the order they are loaded (the CAs, the RAs, the OCSP
 * signers), pairs pointing into keys. 0 and a malloc'ed array, -ENOMEM.
 */
int keys_specs(const struct scepd_config *cfg, struct keys *keys, struct keys_spec **ret,
	       size_t *ret_n);

/*
 * keys_token.c
 */

/* What rv means, or NULL for a value the table does not know. */
const struct keys_token_ckr *keys_token_ckr_find(keys_token_ck_ulong rv);

/*
 * Looks up the token of each pkcs11: key of cfg through libp11, in the module the
 * engine is going to use; 0 when no key is a URI or no module is named. -ENODEV the
 * module cannot be loaded, -ENOENT no token matches, -EACCES the PIN is locked or at
 * its final try (err->fatal), -EIO the module fails; *ret_transient is set when
 * another attempt may succeed. Only while no engine was kept (see keys.c).
 */
int keys_token_probe(const struct scepd_config *cfg, const struct keys_spec *specs, size_t n_specs,
		     struct keys_error *err, bool *ret_transient);

#endif
