/*
 * keys_token.c - the PKCS#11 token side of keys.c: a look at the token before the
 * engine logs in, and what a PKCS#11 return value means.
 *
 *	keys_token_probe(): before the engine logs in, a pkcs11: key's token is looked
 *	up through libp11 in the module named by the MODULE_PATH command (its token
 *	flags): that is how a missing token is told from a missing object, and how a
 *	locked or final-try PIN is caught before it costs a try. The module is checked
 *	with dlopen() first, so that its loader error can be named.
 *
 *	keys_token_files_hint(): when a token looks empty (no object matches a URI) or
 *	the module cannot start, and the module is SoftHSM, which keeps each token as
 *	files: the configuration it reads ($SOFTHSM2_CONF or KEYS_TOKEN_SOFTHSM_CONF),
 *	its directories.tokendir, and the first file there that the user scepd runs as
 *	cannot read and write (a key made by root in the service user's token).
 *
 *	keys_token_ckr_find() sorts the CKR_ values that libp11's engine puts into its
 *	OpenSSL errors: a PIN problem (fatal), worth another engine set-up (transient),
 *	or a lost token after a private-key operation. keys_token_lost() (keys.h) reads
 *	the error queue with it, for the issuer.
 *
 * Never here: the ENGINE (keys.c sets it up and loads the keys through it), logging
 * (errors go back in struct keys_error, never with a PIN or a key URI), a login (the
 * probe reads token flags only, so it never spends a PIN try).
 *
 * Errors: see keys.h and keys_internal.h.
 */
#include "keys_internal.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libp11.h>
#include <openssl/err.h>

#include "scepd/encoding.h"

/* SoftHSM's configuration file when $SOFTHSM2_CONF is not set (Debian's). */
#define KEYS_TOKEN_SOFTHSM_CONF "/etc/softhsm/softhsm2.conf"

/*
 * The PKCS#11 (v2.40) return values that libp11's engine puts into its errors, as the
 * reason of its "PKCS#11 module" library: what keys_token_ckrs[] sorts.
 */
#define KEYS_TOKEN_CKR_GENERAL_ERROR              0x005UL
#define KEYS_TOKEN_CKR_FUNCTION_FAILED            0x006UL
#define KEYS_TOKEN_CKR_DEVICE_ERROR               0x030UL
#define KEYS_TOKEN_CKR_DEVICE_MEMORY              0x031UL
#define KEYS_TOKEN_CKR_DEVICE_REMOVED             0x032UL
#define KEYS_TOKEN_CKR_KEY_HANDLE_INVALID         0x060UL
#define KEYS_TOKEN_CKR_KEY_FUNCTION_NOT_PERMITTED 0x068UL
#define KEYS_TOKEN_CKR_MECHANISM_INVALID          0x070UL
#define KEYS_TOKEN_CKR_OBJECT_HANDLE_INVALID      0x082UL
#define KEYS_TOKEN_CKR_PIN_INCORRECT              0x0A0UL
#define KEYS_TOKEN_CKR_PIN_INVALID                0x0A1UL
#define KEYS_TOKEN_CKR_PIN_LEN_RANGE              0x0A2UL
#define KEYS_TOKEN_CKR_PIN_EXPIRED                0x0A3UL
#define KEYS_TOKEN_CKR_PIN_LOCKED                 0x0A4UL
#define KEYS_TOKEN_CKR_SESSION_CLOSED             0x0B0UL
#define KEYS_TOKEN_CKR_SESSION_COUNT              0x0B1UL
#define KEYS_TOKEN_CKR_SESSION_HANDLE_INVALID     0x0B3UL
#define KEYS_TOKEN_CKR_TOKEN_NOT_PRESENT          0x0E0UL
#define KEYS_TOKEN_CKR_TOKEN_NOT_RECOGNIZED       0x0E1UL
#define KEYS_TOKEN_CKR_USER_NOT_LOGGED_IN         0x101UL
#define KEYS_TOKEN_CKR_USER_PIN_NOT_INITIALIZED   0x102UL
#define KEYS_TOKEN_CKR_CRYPTOKI_NOT_INITIALIZED   0x190UL

static const struct keys_token_ckr keys_token_ckrs[] = {
	{ KEYS_TOKEN_CKR_PIN_INCORRECT, -EACCES, KEYS_TOKEN_CKR_FATAL,
	  "wrong PIN (the token rejected it)" },
	{ KEYS_TOKEN_CKR_PIN_LOCKED, -EACCES, KEYS_TOKEN_CKR_FATAL,
	  "the PIN is locked (the token refuses every login until it is unblocked)" },
	{ KEYS_TOKEN_CKR_PIN_EXPIRED, -EACCES, KEYS_TOKEN_CKR_FATAL, "the PIN has expired" },
	{ KEYS_TOKEN_CKR_PIN_INVALID, -EACCES, KEYS_TOKEN_CKR_FATAL,
	  "the token refuses the PIN (characters it does not accept)" },
	{ KEYS_TOKEN_CKR_PIN_LEN_RANGE, -EACCES, KEYS_TOKEN_CKR_FATAL,
	  "the token refuses the PIN (too short or too long)" },
	/* Seen when several processes open one SoftHSM token at once: worth a retry. */
	{ KEYS_TOKEN_CKR_USER_PIN_NOT_INITIALIZED, -EACCES, KEYS_TOKEN_CKR_TRANSIENT,
	  "the token's user PIN is not set up" },
	{ KEYS_TOKEN_CKR_GENERAL_ERROR, -EIO, KEYS_TOKEN_CKR_TRANSIENT | KEYS_TOKEN_CKR_LOST,
	  "the PKCS#11 module reports a general error" },
	{ KEYS_TOKEN_CKR_FUNCTION_FAILED, -EIO, KEYS_TOKEN_CKR_TRANSIENT,
	  "the token operation failed" },
	{ KEYS_TOKEN_CKR_DEVICE_ERROR, -EIO, KEYS_TOKEN_CKR_TRANSIENT | KEYS_TOKEN_CKR_LOST,
	  "the token reports a device error" },
	{ KEYS_TOKEN_CKR_DEVICE_MEMORY, -EIO, KEYS_TOKEN_CKR_TRANSIENT,
	  "the token is out of memory" },
	{ KEYS_TOKEN_CKR_DEVICE_REMOVED, -ENOENT, KEYS_TOKEN_CKR_TRANSIENT | KEYS_TOKEN_CKR_LOST,
	  "the token was removed" },
	{ KEYS_TOKEN_CKR_TOKEN_NOT_PRESENT, -ENOENT, KEYS_TOKEN_CKR_TRANSIENT | KEYS_TOKEN_CKR_LOST,
	  "the token is not present" },
	{ KEYS_TOKEN_CKR_TOKEN_NOT_RECOGNIZED, -ENOENT,
	  KEYS_TOKEN_CKR_TRANSIENT | KEYS_TOKEN_CKR_LOST, "the token is not recognised" },
	{ KEYS_TOKEN_CKR_SESSION_CLOSED, -EIO, KEYS_TOKEN_CKR_TRANSIENT | KEYS_TOKEN_CKR_LOST,
	  "the token session was closed" },
	{ KEYS_TOKEN_CKR_SESSION_HANDLE_INVALID, -EIO,
	  KEYS_TOKEN_CKR_TRANSIENT | KEYS_TOKEN_CKR_LOST, "the token session is no longer valid" },
	{ KEYS_TOKEN_CKR_SESSION_COUNT, -EIO, KEYS_TOKEN_CKR_TRANSIENT,
	  "the token has no session left" },
	{ KEYS_TOKEN_CKR_OBJECT_HANDLE_INVALID, -EIO,
	  KEYS_TOKEN_CKR_TRANSIENT | KEYS_TOKEN_CKR_LOST,
	  "the key's handle is no longer valid (was the token removed?)" },
	{ KEYS_TOKEN_CKR_KEY_HANDLE_INVALID, -EIO, KEYS_TOKEN_CKR_TRANSIENT | KEYS_TOKEN_CKR_LOST,
	  "the key's handle is no longer valid (was the token removed?)" },
	{ KEYS_TOKEN_CKR_USER_NOT_LOGGED_IN, -EIO, KEYS_TOKEN_CKR_LOST,
	  "the token session is not logged in" },
	{ KEYS_TOKEN_CKR_CRYPTOKI_NOT_INITIALIZED, -EIO, KEYS_TOKEN_CKR_LOST,
	  "the PKCS#11 module is not initialised" },
	{ KEYS_TOKEN_CKR_KEY_FUNCTION_NOT_PERMITTED, -EIO, 0,
	  "the token does not allow this key to sign" },
	{ KEYS_TOKEN_CKR_MECHANISM_INVALID, -EIO, 0,
	  "the token cannot make this kind of signature" },
};

const struct keys_token_ckr *
keys_token_ckr_find(keys_token_ck_ulong rv)
{
	for (size_t i = 0; i < sizeof(keys_token_ckrs) / sizeof(keys_token_ckrs[0]); i++)
		if (keys_token_ckrs[i].rv == rv)
			return &keys_token_ckrs[i];
	return NULL;
}

/*
 * The probe: a look at the module through libp11 before the engine logs in.
 */

/*
 * The percent-decoded value of path attribute attr of a pkcs11: URI into buf, or
 * false when the URI does not name it (or it does not fit).
 */
static bool
keys_token_uri_attr(const char *uri, const char *attr, char *buf, size_t size)
{
	const char *p = uri + strlen(KEYS_PKCS11_PREFIX);
	size_t alen = strlen(attr);

	while (*p != '\0' && *p != '?') {
		const char *end = p + strcspn(p, ";?");

		if ((size_t)(end - p) > alen && strncmp(p, attr, alen) == 0 && p[alen] == '=') {
			size_t n = 0;

			for (const char *c = p + alen + 1; c < end; c++) {
				int hi, lo;

				if (n + 1 >= size)
					return false;
				if (*c == '%' && end - c >= 3 &&
				    (hi = encoding_hex_digit(c[1])) >= 0 &&
				    (lo = encoding_hex_digit(c[2])) >= 0) {
					buf[n++] = (char)(hi << 4 | lo);
					c += 2;
				} else {
					buf[n++] = *c;
				}
			}
			buf[n] = '\0';
			return true;
		}
		p = *end == ';' ? end + 1 : end;
	}
	return false;
}

/* Whether a token field (libp11 drops the blank padding) equals want (absent = any). */
static bool
keys_token_field_is(const char *field, bool have, const char *want)
{
	size_t n;

	if (!have)
		return true;
	if (field == NULL)
		return false;
	for (n = strlen(field); n > 0 && field[n - 1] == ' '; n--)
		;
	return strlen(want) == n && memcmp(field, want, n) == 0;
}

struct keys_token_want {
	char label[64], manufacturer[64], serial[32], model[32];
	bool has_label, has_manufacturer, has_serial, has_model;
};

static bool
keys_token_matches(const struct keys_token_want *w, const PKCS11_TOKEN *tok)
{
	return keys_token_field_is(tok->label, w->has_label, w->label) &&
	       keys_token_field_is(tok->manufacturer, w->has_manufacturer, w->manufacturer) &&
	       keys_token_field_is(tok->serialnr, w->has_serial, w->serial) &&
	       keys_token_field_is(tok->model, w->has_model, w->model);
}

/* The token of uri (the key of setting) in the slots: present, and its PIN usable? */
static int
keys_token_probe_uri(const PKCS11_SLOT *slots, unsigned n, const char *module, const char *uri,
		     const char *setting, const char *pin_setting, struct keys_error *err,
		     bool *ret_transient)
{
	struct keys_token_want w = { 0 };
	unsigned found = 0;

	w.has_label = keys_token_uri_attr(uri, "token", w.label, sizeof(w.label));
	w.has_manufacturer =
		keys_token_uri_attr(uri, "manufacturer", w.manufacturer, sizeof(w.manufacturer));
	w.has_serial = keys_token_uri_attr(uri, "serial", w.serial, sizeof(w.serial));
	w.has_model = keys_token_uri_attr(uri, "model", w.model, sizeof(w.model));

	for (unsigned i = 0; i < n; i++) {
		const PKCS11_TOKEN *tok = slots[i].token; /* NULL: no token in the slot */

		if (tok == NULL || !tok->initialized || !keys_token_matches(&w, tok))
			continue;
		found++;
		if (!tok->loginRequired)
			continue;
		if (tok->userPinLocked) {
			keys_fail(err, pin_setting, true,
				  "the PIN is locked (the token refuses every login until it is "
				  "unblocked)");
			return -EACCES;
		}
		if (tok->userPinFinalTry) {
			keys_fail(err, pin_setting, true,
				  "the token allows one more PIN try only; scepd does not spend it "
				  "(log in once by hand with the right PIN, or unblock the PIN)");
			return -EACCES;
		}
	}
	if (found == 0) {
		*ret_transient = true; /* or SoftHSM's start-up race */
		/* Several CAs share the one module: a key of another module is not found. */
		if (w.has_label)
			keys_fail(err, setting, false,
				  "no token matches the URI (no initialised token labelled \"%s\" "
				  "in %s, the one PKCS#11 module of every pkcs11: key)",
				  w.label, module);
		else
			keys_fail(err, setting, false,
				  "no token matches the URI (no initialised token found in %s, "
				  "the one PKCS#11 module of every pkcs11: key)",
				  module);
		return -ENOENT;
	}
	return 0;
}

/* The CKR_ value of the last error libp11 queued, or 0: for the message. */
static unsigned long
keys_token_last_ckr(void)
{
	unsigned long e = ERR_peek_last_error();

	return e != 0 && ERR_GET_LIB(e) == ERR_get_CKR_code() ? (unsigned long)ERR_GET_REASON(e)
							      : 0;
}

/*
 * Looks up the token of each pkcs11: key, through libp11, in the module the engine is
 * going to use. The module is opened once more by hand first and never closed: that
 * names what dlopen() found wrong (libp11 would print it to stderr), and keeps the
 * module mapped when libp11 unloads it (the engine loads it again at once; unloading
 * a module that links OpenSSL while OpenSSL runs is asking for trouble).
 * PKCS11_CTX_unload() finalises the module: nothing else has it initialised here,
 * since the probe runs before the engine is set up and only while no engine was kept.
 */
int
keys_token_probe(const struct scepd_config *cfg, const struct keys_spec *specs, size_t n_specs,
		 struct keys_error *err, bool *ret_transient)
{
	const char *module, *module_setting = "engine.pre";
	PKCS11_CTX *ctx = NULL;
	PKCS11_SLOT *slots = NULL;
	unsigned n = 0;
	bool any = false, loaded = false;
	void *dl;
	int r;

	for (size_t i = 0; i < n_specs; i++)
		any = any || keys_is_uri(specs[i].key);
	module = keys_module_path(cfg, &module_setting);
	if (module == NULL)
		module = getenv("PKCS11_MODULE_PATH"); /* libp11's own fallback */
	if (!any || module == NULL)
		return 0;

	if ((dl = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL) {
		keys_fail(err, module_setting, false, "the PKCS#11 module cannot be loaded: %s",
			  dlerror());
		return -ENODEV;
	}
	if (dlsym(dl, "C_GetFunctionList") == NULL) {
		keys_fail(err, module_setting, false,
			  "%s is not a PKCS#11 module (no C_GetFunctionList)", module);
		return -ENODEV;
	}
	ERR_set_mark();
	if ((ctx = PKCS11_CTX_new()) == NULL) {
		keys_fail(err, module_setting, false, "out of memory");
		r = -ENOMEM;
		goto out;
	}
	if (PKCS11_CTX_load(ctx, module) < 0) {
		unsigned long rv = keys_token_last_ckr();

		if (rv == 0) {
			keys_fail(err, module_setting, false,
				  "%s is not a PKCS#11 module (no C_GetFunctionList)", module);
			r = -ENODEV;
			goto out;
		}
		char hint[sizeof(err->message) - 64];

		*ret_transient = true;
		if (keys_token_files_hint(cfg, NULL, hint, sizeof(hint)) > 0)
			keys_fail(err, module_setting, false,
				  "the PKCS#11 module cannot be initialised (CKR 0x%lx); %s", rv,
				  hint);
		else
			keys_fail(err, module_setting, false,
				  "the PKCS#11 module cannot be initialised (CKR 0x%lx)", rv);
		r = -EIO;
		goto out;
	}
	loaded = true;
	if (PKCS11_enumerate_slots(ctx, &slots, &n) < 0) {
		*ret_transient = true;
		keys_fail(err, module_setting, false,
			  "the PKCS#11 module cannot list its tokens (CKR 0x%lx)",
			  keys_token_last_ckr());
		slots = NULL;
		n = 0;
		r = -EIO;
		goto out;
	}
	for (size_t i = 0; i < n_specs; i++)
		if (keys_is_uri(specs[i].key) &&
		    (r = keys_token_probe_uri(slots, n, module, specs[i].key, specs[i].key_setting,
					      keys_pin_setting(cfg), err, ret_transient)) < 0)
			goto out;
	r = 0;
out:
	if (slots != NULL)
		PKCS11_release_all_slots(ctx, slots, n);
	if (loaded)
		PKCS11_CTX_unload(ctx);
	if (ctx != NULL)
		PKCS11_CTX_free(ctx);
	ERR_pop_to_mark(); /* libp11's errors are ours to describe, not the engine's */
	return r;
}

bool
keys_token_lost(void)
{
	struct keys_ossl_errs errs;
	bool lost = false;

	keys_ossl_take(&errs);
	for (size_t i = 0; i < errs.n && !lost; i++) {
		const struct keys_ossl_err *x = &errs.v[i];
		const struct keys_token_ckr *ckr;

		if (keys_ossl_is(x, KEYS_ERRLIB_CKR))
			lost = (ckr = keys_token_ckr_find(
					(keys_token_ck_ulong)ERR_GET_REASON(x->code))) != NULL &&
			       (ckr->flags & KEYS_TOKEN_CKR_LOST);
		else if (keys_ossl_is(x, KEYS_ERRLIB_P11))
			lost = ERR_GET_REASON(x->code) == KEYS_P11_R_NO_SESSION;
	}
	keys_ossl_restore(&errs);
	return lost;
}

enum keys_failure
keys_token_failure(void)
{
	enum keys_failure f = KEYS_FAILURE_NO_CKR;
	struct keys_ossl_errs errs;

	keys_ossl_take(&errs);
	for (size_t i = 0; i < errs.n && f == KEYS_FAILURE_NO_CKR; i++) {
		const struct keys_ossl_err *x = &errs.v[i];
		const struct keys_token_ckr *ckr;

		if (keys_ossl_is(x, KEYS_ERRLIB_P11) &&
		    ERR_GET_REASON(x->code) == KEYS_P11_R_NO_SESSION) {
			f = KEYS_FAILURE_TOKEN;
			continue;
		}
		if (!keys_ossl_is(x, KEYS_ERRLIB_CKR))
			continue;
		ckr = keys_token_ckr_find((keys_token_ck_ulong)ERR_GET_REASON(x->code));
		if (ckr == NULL)
			f = KEYS_FAILURE_OTHER_CKR;
		else if (ckr->flags & KEYS_TOKEN_CKR_LOST)
			f = KEYS_FAILURE_TOKEN;
		else if (ckr->flags & KEYS_TOKEN_CKR_FATAL)
			f = KEYS_FAILURE_PIN;
		else if (ckr->flags & KEYS_TOKEN_CKR_TRANSIENT)
			f = KEYS_FAILURE_TRANSIENT;
		else
			f = KEYS_FAILURE_OTHER_CKR;
	}
	keys_ossl_restore(&errs);
	return f;
}

/* SoftHSM's hints */

/* Whether module is SoftHSM (its file is named libsofthsm2.so or the like). */
static bool
keys_token_is_softhsm(const char *module)
{
	const char *base = module != NULL ? strrchr(module, '/') : NULL;

	base = base != NULL ? base + 1 : module;
	return base != NULL && strstr(base, "softhsm") != NULL;
}

/* May the user of uid and groups (n of them) read and write what st describes? */
static bool
keys_token_user_can(const struct stat *st, uid_t uid, const gid_t *groups, int n)
{
	mode_t need = S_ISDIR(st->st_mode) ? 07 : 06; /* rwx for a directory, rw- for a file */

	if (uid == 0)
		return true;
	if (st->st_uid == uid)
		return ((st->st_mode >> 6) & need) == need;
	for (int i = 0; i < n; i++)
		if (st->st_gid == groups[i])
			return ((st->st_mode >> 3) & need) == need;
	return (st->st_mode & need) == need;
}

/*
 * directories.tokendir of SoftHSM's configuration file conf, in dir. 0, -errno of
 * reading conf, -ENOENT when it sets none.
 */
static int
keys_token_softhsm_tokendir(const char *conf, char *dir, size_t size)
{
	char line[1024];
	FILE *f;
	int r = -ENOENT;

	if ((f = fopen(conf, "re")) == NULL)
		return -errno;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = line, *end;

		p += strspn(p, " \t");
		if (strncmp(p, "directories.tokendir", 20) != 0)
			continue;
		p += 20;
		p += strspn(p, " \t");
		if (*p++ != '=')
			continue;
		p += strspn(p, " \t");
		end = p + strcspn(p, "\r\n");
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		snprintf(dir, size, "%.*s", (int)(end - p), p);
		r = 0;
	}
	fclose(f);
	return r;
}

/*
 * The first entry of dir, or of a token directory in it, that the user cannot read and
 * write: true with its path and stat.
 */
static bool
keys_token_find_foreign(const char *dir, int depth, uid_t uid, const gid_t *groups, int n,
			char *path, size_t size, struct stat *ret_st)
{
	struct dirent *de;
	struct stat st;
	bool found = false;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return false;
	while (!found && (de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		/* A lock file says less than the object next to it. */
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    (len > 5 && strcmp(de->d_name + len - 5, ".lock") == 0))
			continue;
		if (snprintf(path, size, "%s/%s", dir, de->d_name) >= (int)size ||
		    lstat(path, &st) < 0)
			continue;
		if (!keys_token_user_can(&st, uid, groups, n)) {
			*ret_st = st;
			found = true;
		} else if (S_ISDIR(st.st_mode) && depth > 0) {
			char sub[PATH_MAX];

			snprintf(sub, sizeof(sub), "%s", path);
			found = keys_token_find_foreign(sub, depth - 1, uid, groups, n, path, size,
							ret_st);
		}
	}
	closedir(d);
	return found;
}

/* "uid 0 (root)" */
static void
keys_token_uid_name(uid_t uid, char *buf, size_t size)
{
	struct passwd *pw = getpwuid(uid);

	if (pw != NULL)
		snprintf(buf, size, "uid %u (%s)", (unsigned)uid, pw->pw_name);
	else
		snprintf(buf, size, "uid %u", (unsigned)uid);
}

int
keys_token_files_hint(const struct scepd_config *cfg, const char *user, char *buf, size_t size)
{
	const char *module, *module_setting = NULL, *env = getenv("SOFTHSM2_CONF");
	const char *conf = env != NULL && env[0] != '\0' ? env : KEYS_TOKEN_SOFTHSM_CONF;
	const char *from =
		conf == env ? "from SOFTHSM2_CONF" : "the default: SOFTHSM2_CONF is not set";
	char dir[PATH_MAX], path[PATH_MAX], who[96], owner[96];
	gid_t groups[64];
	struct stat st;
	uid_t uid;
	int n = (int)(sizeof(groups) / sizeof(groups[0])), r;

	buf[0] = '\0';
	module = keys_module_path(cfg, &module_setting);
	if (module == NULL)
		module = getenv("PKCS11_MODULE_PATH");
	if (!keys_token_is_softhsm(module))
		return 0;
	if (user != NULL) {
		struct passwd *pw = getpwnam(user);

		if (pw == NULL || getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0)
			return 0;
		uid = pw->pw_uid;
	} else {
		uid = geteuid();
		if ((n = getgroups((int)(sizeof(groups) / sizeof(groups[0])) - 1, groups)) < 0)
			n = 0;
		groups[n++] = getegid();
	}
	keys_token_uid_name(uid, who, sizeof(who));
	if ((r = keys_token_softhsm_tokendir(conf, dir, sizeof(dir))) < 0) {
		snprintf(buf, size, "SoftHSM reads its configuration from %s (%s)%s%s", conf, from,
			 r == -ENOENT ? ", which sets no directories.tokendir" : ": ",
			 r == -ENOENT ? "" : strerror(-r));
		return 1;
	}
	if (!keys_token_find_foreign(dir, 1, uid, groups, n, path, sizeof(path), &st)) {
		snprintf(
			buf, size,
			"SoftHSM keeps its tokens as files in %s (directories.tokendir of %s, %s): "
			"is that where the key was made?",
			dir, conf, from);
		return 1;
	}
	keys_token_uid_name(st.st_uid, owner, sizeof(owner));
	r = 2;
	snprintf(buf, size,
		 "%s belongs to %s and %s cannot %s it: the token's objects may belong to "
		 "another user (SoftHSM keeps tokens as files in %s, the directories.tokendir "
		 "of %s, %s); make them the service user's",
		 path, owner, who, S_ISDIR(st.st_mode) ? "enter" : "read and write", dir, conf,
		 from);
	return r;
}
