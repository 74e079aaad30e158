/*
 * keys.c - the CA and RA keys and certificates of one worker process.
 *
 *	keys_load() sets up the OpenSSL ENGINE the way mod_ca_engine did (engine.id,
 *	each engine.pre command in order, ENGINE_init(), the PIN, each engine.post
 *	command), loads ca.key and scep.ra.key (a pkcs11: URI through the engine, or a
 *	PEM file, optionally encrypted), reads the certificate chains, and proves that
 *	every key belongs to its certificate: the public keys are equal and a test
 *	signature made with the private key verifies under the certificate.
 *
 *	The PIN comes from engine.pin through secret_read() (secret.c), goes to the
 *	engine's PIN command and is wiped from every buffer of ours. A PIN the token rejected is never presented
 *	again in the same keys_load() call, and a token whose PIN is locked or down to
 *	its final try gets none: either is fatal (err->fatal), since a smartcard locks
 *	after a few wrong PINs. Other token failures at set-up (SoftHSM races when
 *	several processes open one token at once) are retried with jittered backoff.
 *
 *	Before the engine logs in, keys_token_probe() (keys_token.c) looks at a pkcs11:
 *	key's token through libp11, and keys_token_ckr_find() says what a PKCS#11 return
 *	value in libp11's errors means: fatal, transient, or a lost token.
 *
 * Never here: logging (errors go back in struct keys_error, one line each, never
 * with a PIN, a passphrase or a key URI, which may hold a pin-value), openssl.cnf
 * (the engine is configured in code only), the supervisor (PKCS#11 must not be
 * initialised before fork()), ENGINE_set_default() (see keys_engine_setup()).
 *
 * libp11 0.4.12, measured: once a key has been loaded through its engine, the engine
 * holds a reference to itself through the key it caches, so ENGINE_finish() never
 * reaches libp11's finish: the module stays initialised, and the same engine library
 * cannot be loaded again in that process (OpenSSL refuses the second "dynamic" LOAD).
 * So a process that lost its token cannot recover by calling keys_load() again; it
 * must exit and be replaced. Set-up is retried in-process only while no key was
 * loaded, which is when ENGINE_finish() still unloads everything.
 *
 * Errors: see keys.h. This is the only file with OPENSSL_SUPPRESS_DEPRECATED (keys_token.c
 * uses libp11's own API, not the ENGINE).
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "scepd/keys.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/engine.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ui.h>

#include "scepd/secret.h"

#include "keys_internal.h"

#define KEYS_TRIES       8   /* engine set-ups per keys_load() */
#define KEYS_BACKOFF_MIN 20  /* ms before the first retry; doubles... */
#define KEYS_BACKOFF_MAX 500 /* ...up to this */
#define KEYS_TEST_BYTES  32

/* Reasons of the "pkcs11 engine" library (eng_err.h). */
#define KEYS_ENG_R_INVALID_ID        100
#define KEYS_ENG_R_OBJECT_NOT_FOUND  101
#define KEYS_ENG_R_INVALID_PARAMETER 103

/* What the engine's PIN prompt saw: libp11 asks only when it has no PIN to log in with. */
struct keys_ui_state {
	bool asked;
};

/* "engine.pre[N]" / "engine.post[N]" as static strings, for keys_error.setting. */
#define KEYS_CMD_NAMES(list)                                                                       \
	{                                                                                          \
		list "[0]", list "[1]", list "[2]", list "[3]", list "[4]", list "[5]",            \
			list "[6]", list "[7]", list "[8]", list "[9]", list "[10]", list "[11]",  \
			list "[12]", list "[13]", list "[14]", list "[15]", list "[16]",           \
			list "[17]", list "[18]", list "[19]", list "[20]", list "[21]",           \
			list "[22]", list "[23]", list "[24]", list "[25]", list "[26]",           \
			list "[27]", list "[28]", list "[29]", list "[30]", list "[31]",           \
	}

/*
 * Whether this process has loaded a key through an engine: libp11 0.4.12 then keeps
 * that engine and its module alive for good (see the top), which explains a failure
 * to set up the engine again.
 */
static bool keys_engine_kept;

static const char *const keys_pre_names[] = KEYS_CMD_NAMES("engine.pre");
static const char *const keys_post_names[] = KEYS_CMD_NAMES("engine.post");

static const char *
keys_cmd_setting(bool post, size_t i)
{
	const size_t n = sizeof(keys_pre_names) / sizeof(keys_pre_names[0]);

	if (i >= n)
		return post ? "engine.post" : "engine.pre";
	return post ? keys_post_names[i] : keys_pre_names[i];
}

void
keys_fail(struct keys_error *err, const char *setting, bool fatal, const char *fmt, ...)
{
	va_list ap;

	snprintf(err->setting, sizeof(err->setting), "%s", setting);
	err->fatal = fatal;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	/* One line, whatever a library put into its text. */
	for (char *c = err->message; *c != '\0'; c++)
		if (*c == '\n' || *c == '\r')
			*c = ' ';
}

/* Empties OpenSSL's error queue into errs (the oldest first). */
void
keys_ossl_take(struct keys_ossl_errs *errs)
{
	const char *file, *func, *data;
	unsigned long e;
	int line, flags;

	errs->n = 0;
	while ((e = ERR_get_error_all(&file, &line, &func, &data, &flags)) != 0) {
		struct keys_ossl_err *x;

		if (errs->n == KEYS_ERR_MAX)
			continue; /* cannot happen: the queue holds KEYS_ERR_MAX */
		x = &errs->v[errs->n++];
		x->code = e;
		x->lib = ERR_lib_error_string(e);
		x->reason = ERR_reason_error_string(e);
		x->file = file;
		x->func = func;
		x->line = line;
		x->flags = flags;
		snprintf(x->data, sizeof(x->data), "%s",
			 (flags & ERR_TXT_STRING) && data != NULL ? data : "");
	}
}

/* Puts errs back on OpenSSL's queue, as keys_ossl_take() found them. */
void
keys_ossl_restore(const struct keys_ossl_errs *errs)
{
	for (size_t i = 0; i < errs->n; i++) {
		const struct keys_ossl_err *x = &errs->v[i];

		ERR_new();
		ERR_set_debug(x->file, x->line, x->func);
		if (x->data[0] != '\0')
			ERR_set_error(ERR_GET_LIB(x->code), ERR_GET_REASON(x->code), "%s", x->data);
		else
			ERR_set_error(ERR_GET_LIB(x->code), ERR_GET_REASON(x->code), NULL);
	}
}

bool
keys_ossl_is(const struct keys_ossl_err *x, const char *lib)
{
	return x->lib != NULL && strcmp(x->lib, lib) == 0;
}

/* The first error that carries text (its reason and text), else the first reason. */
static const char *
keys_ossl_describe(const struct keys_ossl_errs *errs, char *buf, size_t size)
{
	for (size_t i = 0; i < errs->n; i++)
		if (errs->v[i].data[0] != '\0') {
			const char *data = errs->v[i].data, *rest = strstr(data, "): ");

			/* The DSO's "filename(PATH): " repeats what dlerror() says next. */
			if (strncmp(data, "filename(", 9) == 0 && rest != NULL)
				data = rest + 3;
			snprintf(buf, size, "%s%s%s",
				 errs->v[i].reason != NULL ? errs->v[i].reason : "",
				 errs->v[i].reason != NULL ? ": " : "", data);
			return buf;
		}
	for (size_t i = 0; i < errs->n; i++)
		if (errs->v[i].reason != NULL) {
			snprintf(buf, size, "%s", errs->v[i].reason);
			return buf;
		}
	snprintf(buf, size, "no detail from OpenSSL");
	return buf;
}

/* The errno of the system error OpenSSL recorded last (BIO_new_file()), else EIO. */
static int
keys_ossl_errno(void)
{
	struct keys_ossl_errs errs;
	int e = EIO;

	keys_ossl_take(&errs);
	for (size_t i = 0; i < errs.n; i++)
		if (ERR_GET_LIB(errs.v[i].code) == ERR_LIB_SYS &&
		    ERR_GET_REASON(errs.v[i].code) > 0)
			e = ERR_GET_REASON(errs.v[i].code);
	return e;
}

/*
 * Secrets: PIN and passphrases, read by secret.c.
 */

/* secret_read(), its error as a keys_error. */
static int
keys_read_secret(const struct config_secret *sec, const char *setting, char *buf, size_t size,
		 struct keys_error *err)
{
	struct secret_error serr = { 0 };
	int r;

	if ((r = secret_read(sec, setting, buf, size, &serr)) < 0)
		keys_fail(err, serr.setting, false, "%s", serr.message);
	return r;
}

/*
 * Certificates.
 */

/* Every certificate of the PEM file path, in file order. */
static int
keys_read_certs(const char *path, const char *setting, STACK_OF(X509) **ret_certs,
		struct keys_error *err)
{
	struct keys_ossl_errs errs;
	STACK_OF(X509) *certs = NULL;
	X509 *cert = NULL;
	BIO *bio = NULL;
	char why[256];
	unsigned long e;
	int r, saved;

	if ((bio = BIO_new_file(path, "r")) == NULL) {
		saved = keys_ossl_errno();
		keys_fail(err, setting, false, "cannot read %s: %s", path, strerror(saved));
		r = saved == ENOENT ? -ENOENT : -EIO;
		goto out;
	}
	if ((certs = sk_X509_new_null()) == NULL) {
		r = -ENOMEM;
		keys_fail(err, setting, false, "out of memory");
		goto out;
	}
	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(certs, cert)) {
			r = -ENOMEM;
			keys_fail(err, setting, false, "out of memory");
			goto out;
		}
		cert = NULL;
	}
	e = ERR_peek_last_error();
	if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE &&
	    sk_X509_num(certs) > 0) {
		ERR_clear_error(); /* the end of the file */
	} else {
		keys_ossl_take(&errs);
		if (sk_X509_num(certs) == 0 && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
			keys_fail(err, setting, false, "no PEM certificate in %s", path);
		else
			keys_fail(err, setting, false, "certificate %d of %s cannot be read: %s",
				  sk_X509_num(certs) + 1, path,
				  keys_ossl_describe(&errs, why, sizeof(why)));
		r = -EBADMSG;
		goto out;
	}
	*ret_certs = certs;
	certs = NULL;
	r = 0;
out:
	X509_free(cert);
	sk_X509_pop_free(certs, X509_free);
	BIO_free(bio);
	return r;
}

/* The first certificate of path: for the next_certificate settings. */
static int
keys_read_cert(const char *path, const char *setting, X509 **ret_cert, struct keys_error *err)
{
	STACK_OF(X509) *certs = NULL;
	int r;

	if ((r = keys_read_certs(path, setting, &certs, err)) < 0)
		return r;
	*ret_cert = sk_X509_shift(certs);
	sk_X509_pop_free(certs, X509_free);
	return 0;
}

static void
keys_spec_name(char *buf, const struct scepd_config *cfg, const struct config_ca *ca,
	       const struct config_profile *p, const char *leaf)
{
	if (ca != NULL)
		config_ca_setting(cfg, ca, leaf, buf, KEYS_SETTING_MAX);
	else
		config_profile_setting(cfg, p, leaf, buf, KEYS_SETTING_MAX);
}

/* One spec: prefix "" or "ocsp." for a CA's, "ra." for a profile's. */
static void
keys_spec_fill(struct keys_spec *s, const struct scepd_config *cfg, const struct config_ca *ca,
	       const struct config_profile *p, const char *prefix, struct keys_pair *pair)
{
	char leaf[64];

	snprintf(leaf, sizeof(leaf), "%skey", prefix);
	keys_spec_name(s->key_setting, cfg, ca, p, leaf);
	snprintf(leaf, sizeof(leaf), "%skey_passphrase", prefix);
	keys_spec_name(s->passphrase_setting, cfg, ca, p, leaf);
	snprintf(leaf, sizeof(leaf), "%scertificate", prefix);
	keys_spec_name(s->certificate_setting, cfg, ca, p, leaf);
	snprintf(leaf, sizeof(leaf), "%snext_certificate", prefix);
	keys_spec_name(s->next_setting, cfg, ca, p, leaf);
	s->pair = pair;
}

int
keys_specs(const struct scepd_config *cfg, struct keys *keys, struct keys_spec **ret, size_t *ret_n)
{
	struct keys_spec *v;
	size_t n = 0;

	if ((v = calloc(2 * cfg->n_cas + cfg->n_profiles, sizeof(*v))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->n_cas; i++) {
		const struct config_ca *ca = &cfg->cas[i];

		v[n] = (struct keys_spec){ .key = ca->key,
					   .passphrase = &ca->key_passphrase,
					   .certificate = ca->certificate,
					   .next_certificate = ca->next_certificate };
		keys_spec_fill(&v[n++], cfg, ca, NULL, "", &keys->cas[i]);
	}
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		const struct config_scep_ra *ra = &cfg->profiles[i].scep.ra;

		if (cfg->profiles[i].type != CONFIG_PROFILE_SCEP || ra->key == NULL)
			continue;
		v[n] = (struct keys_spec){ .key = ra->key,
					   .passphrase = &ra->key_passphrase,
					   .certificate = ra->certificate,
					   .next_certificate = ra->next_certificate };
		keys_spec_fill(&v[n++], cfg, NULL, &cfg->profiles[i], "ra.", &keys->ras[i]);
	}
	for (size_t i = 0; i < cfg->n_cas; i++) {
		const struct config_ocsp *o = &cfg->cas[i].ocsp;

		if (o->key == NULL)
			continue;
		v[n] = (struct keys_spec){ .key = o->key,
					   .passphrase = &o->key_passphrase,
					   .certificate = o->certificate };
		keys_spec_fill(&v[n++], cfg, &cfg->cas[i], NULL, "ocsp.", &keys->ocsps[i]);
	}
	*ret = v;
	*ret_n = n;
	return 0;
}

/* Every key's certificate chain and next certificate. */
static int
keys_read_all_certs(const struct keys_spec *specs, size_t n, struct keys_error *err)
{
	int r;

	for (size_t i = 0; i < n; i++) {
		const struct keys_spec *s = &specs[i];

		if (s->certificate != NULL &&
		    (r = keys_read_certs(s->certificate, s->certificate_setting, &s->pair->chain,
					 err)) < 0)
			return r;
		if (s->next_certificate != NULL &&
		    (r = keys_read_cert(s->next_certificate, s->next_setting, &s->pair->next,
					err)) < 0)
			return r;
	}
	return 0;
}

/*
 * Key files.
 */

struct keys_passphrase {
	const char *value; /* NULL: no passphrase configured */
	bool asked;
};

static int
keys_passphrase_cb(char *buf, int size, int rwflag, void *userdata)
{
	struct keys_passphrase *pp = userdata;
	size_t len;

	(void)rwflag;
	pp->asked = true;
	if (pp->value == NULL || size <= 0)
		return -1;
	len = strlen(pp->value);
	if (len > (size_t)size)
		return -1;
	memcpy(buf, pp->value, len);
	return (int)len;
}

static int
keys_read_key_file(const char *path, const char *setting, const struct config_secret *pass,
		   const char *pass_setting, EVP_PKEY **ret_key, struct keys_error *err)
{
	struct keys_passphrase pp = { 0 };
	struct keys_ossl_errs errs;
	char secret[SECRET_MAX], why[256];
	EVP_PKEY *key = NULL;
	BIO *bio = NULL;
	int r, saved;

	if (pass->kind != CONFIG_SECRET_NONE) {
		if ((r = keys_read_secret(pass, pass_setting, secret, sizeof(secret), err)) < 0)
			goto out;
		pp.value = secret;
	}
	if ((bio = BIO_new_file(path, "r")) == NULL) {
		saved = keys_ossl_errno();
		keys_fail(err, setting, false, "cannot read %s: %s", path, strerror(saved));
		r = saved == ENOENT ? -ENOENT : -EIO;
		goto out;
	}
	key = PEM_read_bio_PrivateKey(bio, NULL, keys_passphrase_cb, &pp);
	if (key == NULL) {
		keys_ossl_take(&errs);
		if (pp.asked && pp.value == NULL)
			keys_fail(err, setting, false, "%s is encrypted and %s is not set", path,
				  pass_setting);
		else if (pp.asked)
			keys_fail(err, pass_setting, false,
				  "the passphrase does not decrypt %s (%s)", path,
				  keys_ossl_describe(&errs, why, sizeof(why)));
		else
			keys_fail(err, setting, false, "no PEM private key in %s (%s)", path,
				  keys_ossl_describe(&errs, why, sizeof(why)));
		r = -EBADMSG;
		goto out;
	}
	*ret_key = key;
	key = NULL;
	r = 0;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	EVP_PKEY_free(key);
	BIO_free(bio);
	return r;
}

/*
 * The engine settings that keys_token.c reads too.
 */

/* The last ("MODULE_PATH", value) command of engine.pre or engine.post. */
const char *
keys_module_path(const struct scepd_config *cfg, const char **ret_setting)
{
	const char *path = NULL;

	for (size_t i = 0; i < cfg->engine.pre.n; i++)
		if (strcmp(cfg->engine.pre.v[i].name, "MODULE_PATH") == 0 &&
		    cfg->engine.pre.v[i].value != NULL) {
			path = cfg->engine.pre.v[i].value;
			*ret_setting = keys_cmd_setting(false, i);
		}
	for (size_t i = 0; i < cfg->engine.post.n; i++)
		if (strcmp(cfg->engine.post.v[i].name, "MODULE_PATH") == 0 &&
		    cfg->engine.post.v[i].value != NULL) {
			path = cfg->engine.post.v[i].value;
			*ret_setting = keys_cmd_setting(true, i);
		}
	return path;
}

/* Where the PIN comes from: engine.pin, or a ("PIN", ...) engine command. */
const char *
keys_pin_setting(const struct scepd_config *cfg)
{
	const char *setting = "engine.pin";

	if (cfg->engine.pin.kind != CONFIG_SECRET_NONE)
		return setting;
	for (size_t i = 0; i < cfg->engine.pre.n; i++)
		if (strcmp(cfg->engine.pre.v[i].name, "PIN") == 0)
			setting = keys_cmd_setting(false, i);
	for (size_t i = 0; i < cfg->engine.post.n; i++)
		if (strcmp(cfg->engine.post.v[i].name, "PIN") == 0)
			setting = keys_cmd_setting(true, i);
	return setting;
}

bool
keys_is_uri(const char *key)
{
	return key != NULL && strncmp(key, KEYS_PKCS11_PREFIX, strlen(KEYS_PKCS11_PREFIX)) == 0;
}

/*
 * The engine.
 */

/* libp11 asks through the UI only when it has no PIN: never prompt on a terminal. */
static int
keys_ui_read(UI *ui, UI_STRING *uis)
{
	struct keys_ui_state *state = UI_get0_user_data(ui);

	(void)uis;
	if (state != NULL)
		state->asked = true;
	return 0; /* no answer: the login is not attempted */
}

static UI_METHOD *
keys_ui_method(void)
{
	static UI_METHOD *method;

	/* Created once per process and kept: libp11 may hold on to it. */
	if (method == NULL && (method = UI_create_method("scepd: no PIN prompt")) != NULL)
		UI_method_set_reader(method, keys_ui_read);
	return method;
}

static bool
keys_engine_has_cmd(ENGINE *e, const char *name)
{
	bool has;

	ERR_set_mark();
	has = ENGINE_ctrl(e, ENGINE_CTRL_GET_CMD_FROM_NAME, 0, (void *)name, NULL) > 0;
	ERR_pop_to_mark();
	return has;
}

/* libp11 writes its messages to stderr unless told to be quiet. */
static void
keys_engine_quiet(ENGINE *e, bool *quiet)
{
	if (*quiet || !keys_engine_has_cmd(e, "QUIET"))
		return;
	ERR_set_mark();
	if (ENGINE_ctrl_cmd_string(e, "QUIET", NULL, 0))
		*quiet = true;
	ERR_pop_to_mark();
}

/* The index of the first ("SO_PATH", ...) command before index i, or i. */
static size_t
keys_so_path_cmd(const struct config_pairs *cmds, size_t i)
{
	for (size_t j = 0; j < i; j++)
		if (strcmp(cmds->v[j].name, "SO_PATH") == 0)
			return j;
	return i;
}

static int
keys_engine_cmds(ENGINE *e, const struct config_pairs *cmds, bool post, bool *quiet,
		 struct keys_error *err)
{
	struct keys_ossl_errs errs;
	char why[256];

	for (size_t i = 0; i < cmds->n; i++) {
		const struct config_pair *c = &cmds->v[i];
		const char *dso = NULL;

		keys_engine_quiet(e, quiet);
		ERR_clear_error();
		if (ENGINE_ctrl_cmd_string(e, c->name, c->value, 0))
			continue;
		keys_ossl_take(&errs);
		for (size_t k = 0; k < errs.n && dso == NULL; k++)
			if (ERR_GET_LIB(errs.v[k].code) == ERR_LIB_DSO && errs.v[k].data[0] != '\0')
				dso = errs.v[k].data;
		if (dso != NULL) {
			/* The LOAD failed: the path to blame is SO_PATH's. dlerror() says it. */
			const char *msg = strstr(dso, "): ");

			keys_fail(err, keys_cmd_setting(post, keys_so_path_cmd(cmds, i)), false,
				  "the engine library cannot be loaded: %s",
				  strncmp(dso, "filename(", 9) == 0 && msg != NULL ? msg + 3 : dso);
			return -ENODEV;
		}
		if (strcmp(c->name, "PIN") == 0) {
			keys_fail(err, keys_cmd_setting(post, i), false,
				  "the engine refuses its PIN command");
			return -EIO;
		}
		if (keys_engine_kept && strcmp(c->name, "LOAD") == 0) {
			keys_fail(
				err, keys_cmd_setting(post, i), false,
				"the engine cannot be loaded a second time in one process (libp11 "
				"keeps the first one): the process must exit and start again");
			return -ENODEV;
		}
		keys_fail(err, keys_cmd_setting(post, i), false, "engine command %s failed: %s",
			  c->name, keys_ossl_describe(&errs, why, sizeof(why)));
		return strcmp(c->name, "LOAD") == 0 ? -ENODEV : -EIO;
	}
	keys_engine_quiet(e, quiet);
	return 0;
}

/* Hands the PIN to the engine and wipes our copy. */
static int
keys_engine_pin(ENGINE *e, const struct config_secret *pin, struct keys_error *err)
{
	char buf[SECRET_MAX];
	int r;

	if ((r = keys_read_secret(pin, "engine.pin", buf, sizeof(buf), err)) < 0)
		goto out;
	if (!keys_engine_has_cmd(e, "PIN")) {
		keys_fail(err, "engine.pin", false, "the engine has no PIN command");
		r = -EIO;
		goto out;
	}
	if (!ENGINE_ctrl_cmd_string(e, "PIN", buf, 0)) {
		ERR_clear_error();
		keys_fail(err, "engine.pin", false, "the engine refuses the PIN command");
		r = -EIO;
		goto out;
	}
	r = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}

static void
keys_engine_free(ENGINE *e)
{
	if (e == NULL)
		return;
	ERR_set_mark();
	ENGINE_finish(e);
	ENGINE_remove(e); /* LIST_ADD put it on OpenSSL's list; fails harmlessly if not */
	ENGINE_free(e);
	ERR_pop_to_mark();
}

static int
keys_engine_setup(const struct scepd_config *cfg, ENGINE **ret_engine, struct keys_error *err)
{
	struct keys_ossl_errs errs;
	ENGINE *e = NULL;
	bool quiet = false, initialised = false;
	char why[256];
	int r;

	if ((e = ENGINE_by_id(cfg->engine.id)) == NULL) {
		keys_ossl_take(&errs);
		keys_fail(err, "engine.id", false, "no OpenSSL engine \"%s\" (%s)", cfg->engine.id,
			  keys_ossl_describe(&errs, why, sizeof(why)));
		r = -ENODEV;
		goto out;
	}
	if ((r = keys_engine_cmds(e, &cfg->engine.pre, false, &quiet, err)) < 0)
		goto out;
	/*
	 * Initialised, never made a default (no ENGINE_set_default()): keys come out of it
	 * through ENGINE_load_private_key() alone, and every other operation stays with
	 * OpenSSL's own code. A default engine would also get the OpenSSL calls that the
	 * PKCS#11 module makes itself: tpm2-pkcs11 encrypts its TPM session salt with
	 * OpenSSL during C_Login; with the pkcs11 engine as the default, OpenSSL cannot
	 * even make that RSA public key, and the login fails ("Could not create rsa key",
	 * measured; tests/integration/t_tpm.sh, docs/hsm.md).
	 */
	if (!ENGINE_init(e)) {
		keys_ossl_take(&errs);
		keys_fail(err, "engine.id", false, "the engine \"%s\" cannot be initialised (%s)",
			  cfg->engine.id, keys_ossl_describe(&errs, why, sizeof(why)));
		r = -ENODEV;
		goto out;
	}
	initialised = true;
	if (cfg->engine.pin.kind != CONFIG_SECRET_NONE &&
	    (r = keys_engine_pin(e, &cfg->engine.pin, err)) < 0)
		goto out;
	if ((r = keys_engine_cmds(e, &cfg->engine.post, true, &quiet, err)) < 0)
		goto out;
	*ret_engine = e;
	e = NULL;
	r = 0;
out:
	if (e != NULL) {
		if (initialised)
			keys_engine_free(e);
		else {
			ERR_set_mark();
			ENGINE_remove(e);
			ENGINE_free(e);
			ERR_pop_to_mark();
		}
	}
	return r;
}

/* Why ENGINE_load_private_key() failed, from the error queue libp11 left. */
static int
keys_engine_key_error(const struct scepd_config *cfg, const char *setting,
		      const struct keys_ui_state *ui, struct keys_error *err, bool *ret_transient)
{
	const struct keys_token_ckr *ckr = NULL, *pin = NULL;
	const char *module_setting = "engine.pre";
	struct keys_ossl_errs errs;
	bool module = false, bad_uri = false, not_found = false, no_slots = false;
	char why[256];

	keys_ossl_take(&errs);
	for (size_t i = 0; i < errs.n; i++) {
		const struct keys_ossl_err *x = &errs.v[i];
		int reason = ERR_GET_REASON(x->code);

		if (keys_ossl_is(x, KEYS_ERRLIB_CKR)) {
			const struct keys_token_ckr *c =
				keys_token_ckr_find((keys_token_ck_ulong)reason);

			if (c != NULL && (c->flags & KEYS_TOKEN_CKR_FATAL) && pin == NULL)
				pin = c;
			else if (c != NULL && ckr == NULL)
				ckr = c;
		} else if (keys_ossl_is(x, KEYS_ERRLIB_P11)) {
			module = module || reason == KEYS_P11_R_LOAD_MODULE_ERROR;
			if (reason == KEYS_P11_R_NO_SESSION)
				no_slots = true;
		} else if (keys_ossl_is(x, KEYS_ERRLIB_ENGINE)) {
			bad_uri = bad_uri || reason == KEYS_ENG_R_INVALID_ID;
			not_found = not_found || reason == KEYS_ENG_R_OBJECT_NOT_FOUND;
			no_slots = no_slots || reason == KEYS_ENG_R_INVALID_PARAMETER;
		}
	}

	if (pin != NULL) {
		keys_fail(err, keys_pin_setting(cfg), true, "%s", pin->what);
		return pin->r;
	}
	if (module) {
		keys_module_path(cfg, &module_setting);
		keys_fail(err, module_setting, false, "the PKCS#11 module cannot be loaded");
		return -ENODEV;
	}
	if (bad_uri) {
		keys_fail(err, setting, false, "not a valid PKCS#11 URI (RFC 7512)");
		return -EBADMSG;
	}
	if (ui->asked && cfg->engine.pin.kind == CONFIG_SECRET_NONE) {
		keys_fail(err, "engine.pin", false,
			  "the token asks for a PIN and engine.pin is not set");
		return -EACCES;
	}
	if (ckr != NULL) {
		*ret_transient = (ckr->flags & KEYS_TOKEN_CKR_TRANSIENT) != 0;
		keys_fail(err, setting, false, "%s", ckr->what);
		return ckr->r;
	}
	if (not_found) {
		char hint[sizeof(err->message) - 64];

		*ret_transient = true; /* or SoftHSM's start-up race */
		if (keys_token_files_hint(cfg, NULL, hint, sizeof(hint)) > 0)
			keys_fail(err, setting, false, "no object matches the URI; %s", hint);
		else
			keys_fail(err, setting, false,
				  "no object matches the URI (the token's objects may belong to "
				  "another user than uid %u, which scepd runs as)",
				  (unsigned)geteuid());
		return -ENOENT;
	}
	if (no_slots) {
		*ret_transient = true;
		keys_fail(err, setting, false, "the engine cannot list the tokens");
		return -EIO;
	}
	keys_fail(err, setting, false, "the engine cannot load the key (%s)",
		  keys_ossl_describe(&errs, why, sizeof(why)));
	return -EIO;
}

static int
keys_load_key(const struct scepd_config *cfg, ENGINE *engine, const char *key, const char *setting,
	      const struct config_secret *pass, const char *pass_setting, EVP_PKEY **ret_key,
	      struct keys_error *err, bool *ret_transient)
{
	struct keys_ui_state ui = { 0 };
	UI_METHOD *method;
	EVP_PKEY *pkey;

	if (!keys_is_uri(key))
		return keys_read_key_file(key, setting, pass, pass_setting, ret_key, err);
	if (engine == NULL) {
		keys_fail(err, setting, false, "a pkcs11: URI needs engine.id to be set");
		return -ENODEV;
	}
	if ((method = keys_ui_method()) == NULL) {
		keys_fail(err, setting, false, "out of memory");
		return -ENOMEM;
	}
	ERR_clear_error();
	pkey = ENGINE_load_private_key(engine, key, method, &ui);
	if (pkey == NULL)
		return keys_engine_key_error(cfg, setting, &ui, err, ret_transient);
	ERR_clear_error(); /* libp11 leaves the failed login-free attempt's errors */
	*ret_key = pkey;
	return 0;
}

/*
 * The match check: equal public keys, and a signature that verifies.
 */

static int
keys_check_pair(EVP_PKEY *key, X509 *cert, const char *key_setting, const char *cert_setting,
		struct keys_error *err)
{
	unsigned char tbs[KEYS_TEST_BYTES], *sig = NULL;
	struct keys_ossl_errs errs;
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY *pub;
	size_t siglen = 0;
	char why[256];
	int r, eq;

	if ((pub = X509_get0_pubkey(cert)) == NULL) {
		keys_ossl_take(&errs);
		keys_fail(err, cert_setting, false,
			  "the certificate's public key cannot be read (%s)",
			  keys_ossl_describe(&errs, why, sizeof(why)));
		r = -EBADMSG;
		goto out;
	}
	/* 1 equal, 0 different, < 0 cannot tell: then the signature decides. */
	eq = EVP_PKEY_eq(pub, key);
	ERR_clear_error();
	if (eq == 0) {
		keys_fail(err, key_setting, false, "the key does not match the certificate in %s",
			  cert_setting);
		r = -EKEYREJECTED;
		goto out;
	}
	if (RAND_bytes(tbs, sizeof(tbs)) != 1 || (mctx = EVP_MD_CTX_new()) == NULL) {
		keys_fail(err, key_setting, false, "out of memory or randomness");
		r = -ENOMEM;
		goto out;
	}
	if (EVP_DigestSignInit(mctx, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(mctx, NULL, &siglen, tbs, sizeof(tbs)) != 1 ||
	    (sig = OPENSSL_malloc(siglen)) == NULL ||
	    EVP_DigestSign(mctx, sig, &siglen, tbs, sizeof(tbs)) != 1) {
		const struct keys_token_ckr *ckr = NULL;

		keys_ossl_take(&errs);
		for (size_t i = 0; i < errs.n && ckr == NULL; i++)
			if (keys_ossl_is(&errs.v[i], KEYS_ERRLIB_CKR))
				ckr = keys_token_ckr_find(
					(keys_token_ck_ulong)ERR_GET_REASON(errs.v[i].code));
		keys_fail(err, key_setting, false, "the key cannot sign: %s",
			  ckr != NULL ? ckr->what : keys_ossl_describe(&errs, why, sizeof(why)));
		r = -EIO;
		goto out;
	}
	EVP_MD_CTX_free(mctx);
	if ((mctx = EVP_MD_CTX_new()) == NULL) {
		keys_fail(err, key_setting, false, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	if (EVP_DigestVerifyInit(mctx, NULL, EVP_sha256(), NULL, pub) != 1 ||
	    EVP_DigestVerify(mctx, sig, siglen, tbs, sizeof(tbs)) != 1) {
		ERR_clear_error();
		keys_fail(err, key_setting, false, "the key does not match the certificate in %s",
			  cert_setting);
		r = -EKEYREJECTED;
		goto out;
	}
	r = 0;
out:
	OPENSSL_free(sig);
	EVP_MD_CTX_free(mctx);
	return r;
}

/*
 * Every key, in order. A failure after a token key was loaded is not transient: an
 * engine that loaded a key cannot be set up again (see the top).
 */
static int
keys_load_all(const struct scepd_config *cfg, ENGINE *engine, const struct keys_spec *specs,
	      size_t n, struct keys_error *err, bool *ret_transient)
{
	int r;

	for (size_t i = 0; i < n; i++) {
		const struct keys_spec *s = &specs[i];
		bool transient = false;

		r = keys_load_key(cfg, engine, s->key, s->key_setting, s->passphrase,
				  s->passphrase_setting, &s->pair->key, err, &transient);
		if (r < 0) {
			*ret_transient = transient && !keys_engine_kept;
			return r;
		}
		keys_engine_kept = keys_engine_kept || keys_is_uri(s->key);
	}
	return 0;
}

/* Every key against its certificate. */
static int
keys_check_pairs(const struct keys_spec *specs, size_t n, struct keys_error *err)
{
	int r;

	for (size_t i = 0; i < n; i++) {
		const struct keys_spec *s = &specs[i];

		if (s->pair->key != NULL && s->pair->chain != NULL &&
		    (r = keys_check_pair(s->pair->key, sk_X509_value(s->pair->chain, 0),
					 s->key_setting, s->certificate_setting, err)) < 0)
			return r;
	}
	return 0;
}

/*
 * One attempt: token lookup, engine, keys, match checks. *ret_transient says whether
 * another attempt may succeed where this one failed.
 */
static int
keys_load_private(const struct scepd_config *cfg, struct keys *keys, const struct keys_spec *specs,
		  size_t n, struct keys_error *err, bool *ret_transient)
{
	ENGINE *engine = NULL;
	int r;

	if (cfg->engine.id != NULL) {
		/* A kept engine keeps its module initialised: the lookup would see stale tokens. */
		if (!keys_engine_kept &&
		    (r = keys_token_probe(cfg, specs, n, err, ret_transient)) < 0)
			return r;
		if ((r = keys_engine_setup(cfg, &engine, err)) < 0)
			return r;
		keys->engine = engine;
	}
	if ((r = keys_load_all(cfg, engine, specs, n, err, ret_transient)) < 0)
		return r;
	*ret_transient = false;
	return keys_check_pairs(specs, n, err);
}

/* Drops what one failed attempt loaded, keeping the certificates. */
static void
keys_drop_private(struct keys *keys)
{
	for (size_t i = 0; keys->cas != NULL && i < keys->cfg->n_cas; i++) {
		EVP_PKEY_free(keys->cas[i].key);
		keys->cas[i].key = NULL;
	}
	for (size_t i = 0; keys->ras != NULL && i < keys->cfg->n_profiles; i++) {
		EVP_PKEY_free(keys->ras[i].key);
		keys->ras[i].key = NULL;
	}
	for (size_t i = 0; keys->ocsps != NULL && i < keys->cfg->n_cas; i++) {
		EVP_PKEY_free(keys->ocsps[i].key);
		keys->ocsps[i].key = NULL;
	}
	keys_engine_free(keys->engine);
	keys->engine = NULL;
}

/* 20, 40, 80, ... 500 ms, each between 3/4 and 5/4 of that. */
static void
keys_backoff(unsigned attempt)
{
	unsigned long ms = KEYS_BACKOFF_MIN;
	unsigned short rnd = 0;
	struct timespec ts;

	for (unsigned i = 0; i < attempt && ms < KEYS_BACKOFF_MAX; i++)
		ms *= 2;
	if (ms > KEYS_BACKOFF_MAX)
		ms = KEYS_BACKOFF_MAX;
	if (RAND_bytes((unsigned char *)&rnd, sizeof(rnd)) != 1)
		rnd = (unsigned short)getpid();
	ms = ms * 3 / 4 + (unsigned long)rnd % (ms / 2 + 1);
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int
keys_load(const struct scepd_config *cfg, struct keys **ret_keys, struct keys_error *err)
{
	struct keys *keys = NULL;
	struct keys_spec *specs = NULL;
	size_t n = 0;
	int r;

	*err = (struct keys_error){ 0 };
	ERR_clear_error();
	if ((keys = calloc(1, sizeof(*keys))) == NULL ||
	    (keys->cas = calloc(cfg->n_cas, sizeof(*keys->cas))) == NULL ||
	    (keys->ras = calloc(cfg->n_profiles, sizeof(*keys->ras))) == NULL ||
	    (keys->ocsps = calloc(cfg->n_cas, sizeof(*keys->ocsps))) == NULL) {
		keys_fail(err, "ca.key", false, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	keys->cfg = cfg;
	if ((r = keys_specs(cfg, keys, &specs, &n)) < 0) {
		keys_fail(err, "ca.key", false, "out of memory");
		goto out;
	}
	if ((r = keys_read_all_certs(specs, n, err)) < 0)
		goto out;
	for (unsigned attempt = 0;; attempt++) {
		bool transient = false;

		*err = (struct keys_error){ 0 };
		if ((r = keys_load_private(cfg, keys, specs, n, err, &transient)) >= 0)
			break;
		keys_drop_private(keys);
		ERR_clear_error();
		if (!transient || err->fatal || attempt + 1 >= KEYS_TRIES)
			goto out;
		keys->load_retries++;
		keys_backoff(attempt);
	}
	*ret_keys = keys;
	keys = NULL;
	r = 0;
out:
	if (r < 0 && err->setting[0] == '\0') /* every path names one; this is a safety net */
		keys_fail(err, "ca.key", false, "the keys cannot be loaded: %s", strerror(-r));
	free(specs);
	keys_free(keys);
	ERR_clear_error();
	return r;
}

void
keys_free(struct keys *keys)
{
	if (keys == NULL)
		return;
	keys_drop_private(keys);
	for (size_t i = 0; keys->cas != NULL && i < keys->cfg->n_cas; i++) {
		sk_X509_pop_free(keys->cas[i].chain, X509_free);
		X509_free(keys->cas[i].next);
	}
	for (size_t i = 0; keys->ras != NULL && i < keys->cfg->n_profiles; i++) {
		sk_X509_pop_free(keys->ras[i].chain, X509_free);
		X509_free(keys->ras[i].next);
	}
	for (size_t i = 0; keys->ocsps != NULL && i < keys->cfg->n_cas; i++)
		sk_X509_pop_free(keys->ocsps[i].chain, X509_free);
	free(keys->cas);
	free(keys->ras);
	free(keys->ocsps);
	free(keys);
}

/* Whether the attribute of len bytes at attr is pin-value or pin-source. */
static bool
keys_uri_attr_is_pin(const char *attr, size_t len)
{
	static const char *const names[] = { "pin-value", "pin-source" };
	size_t name_len = strcspn(attr, "=");

	if (name_len > len)
		name_len = len;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (name_len == strlen(names[i]) && memcmp(attr, names[i], name_len) == 0)
			return true;
	return false;
}

/* Appends len bytes of text to buf (size bytes, *n used) as far as they fit. */
static bool
keys_redact_append(char *buf, size_t size, size_t *n, const char *text, size_t len)
{
	bool fits = *n + len < size;

	if (!fits)
		len = size - 1 - *n;
	memcpy(buf + *n, text, len);
	*n += len;
	buf[*n] = '\0';
	return fits;
}

int
keys_uri_redact(const char *uri, char *buf, size_t size)
{
	const size_t prefix = strlen(KEYS_PKCS11_PREFIX);
	const char *p, *end;
	bool fits = true, first = true;
	size_t n = 0;

	if (size == 0)
		return -ERANGE;
	buf[0] = '\0';
	if (uri == NULL)
		return 0;
	if (!keys_is_uri(uri))
		return keys_redact_append(buf, size, &n, uri, strlen(uri)) ? 0 : -ERANGE;
	fits = keys_redact_append(buf, size, &n, uri, prefix);
	/* The path: attributes separated by ";", up to "?". */
	for (p = uri + prefix; *p != '\0' && *p != '?'; p = *end == ';' ? end + 1 : end) {
		end = p + strcspn(p, ";?");
		if (keys_uri_attr_is_pin(p, (size_t)(end - p)))
			continue;
		if (!first)
			fits = keys_redact_append(buf, size, &n, ";", 1) && fits;
		fits = keys_redact_append(buf, size, &n, p, (size_t)(end - p)) && fits;
		first = false;
	}
	if (*p != '?')
		return fits ? 0 : -ERANGE;
	/* The query: attributes separated by "&"; no "?" when none is left. */
	first = true;
	for (p++; *p != '\0'; p = *end == '&' ? end + 1 : end) {
		end = p + strcspn(p, "&");
		if (keys_uri_attr_is_pin(p, (size_t)(end - p)))
			continue;
		fits = keys_redact_append(buf, size, &n, first ? "?" : "&", 1) && fits;
		fits = keys_redact_append(buf, size, &n, p, (size_t)(end - p)) && fits;
		first = false;
	}
	return fits ? 0 : -ERANGE;
}

X509 *
keys_get0_ca_cert(const struct keys *keys, size_t ca)
{
	if (keys == NULL || ca >= keys->cfg->n_cas || sk_X509_num(keys->cas[ca].chain) < 1)
		return NULL;
	return sk_X509_value(keys->cas[ca].chain, 0);
}

EVP_PKEY *
keys_get0_ca_key(const struct keys *keys, size_t ca)
{
	return keys->cas[ca].key;
}

static X509 *
keys_up_ref(X509 *cert)
{
	/* An up-ref is an atomic increment; should it fail, there is no certificate. */
	return cert != NULL && X509_up_ref(cert) ? cert : NULL;
}

int
keys_get1_certs(const struct keys *keys, size_t profile, STACK_OF(X509) **ret_ca_chain,
		STACK_OF(X509) **ret_ra_chain, X509 **ret_ca_next, X509 **ret_ra_next)
{
	const struct keys_pair *ca = &keys->cas[keys->cfg->profiles[profile].ca];
	const struct keys_pair *ra = &keys->ras[profile];
	STACK_OF(X509) *ca_chain = NULL, *ra_chain = NULL;

	if ((ca_chain = X509_chain_up_ref(ca->chain)) == NULL ||
	    (ra->chain != NULL && (ra_chain = X509_chain_up_ref(ra->chain)) == NULL)) {
		sk_X509_pop_free(ca_chain, X509_free);
		return -ENOMEM;
	}
	*ret_ca_chain = ca_chain;
	*ret_ra_chain = ra_chain;
	*ret_ca_next = keys_up_ref(ca->next);
	*ret_ra_next = keys_up_ref(ra->next);
	return 0;
}

void
keys_get0_ra(const struct keys *keys, size_t profile, X509 **ret_cert, EVP_PKEY **ret_key)
{
	const struct keys_pair *ra = &keys->ras[profile];
	size_t ca = keys->cfg->profiles[profile].ca;

	if (ra->key != NULL) {
		*ret_cert = sk_X509_value(ra->chain, 0);
		*ret_key = ra->key;
	} else {
		*ret_cert = keys_get0_ca_cert(keys, ca);
		*ret_key = keys->cas[ca].key;
	}
}

void
keys_get0_ocsp(const struct keys *keys, size_t ca, X509 **ret_cert, EVP_PKEY **ret_key)
{
	const struct keys_pair *o = &keys->ocsps[ca];

	if (o->key != NULL) {
		*ret_cert = sk_X509_value(o->chain, 0);
		*ret_key = o->key;
	} else {
		*ret_cert = keys_get0_ca_cert(keys, ca);
		*ret_key = keys->cas[ca].key;
	}
}
