/*
 * config_conv.c - one converter per setting type of config_keys.h: the libconfig
 * value of a setting (or its default) -> the field of struct scepd_config.
 *
 *	config_conv() picks the converter of the key's type. Plain types (integers
 *	in their range, booleans, strings); strings with a meaning (files, keys,
 *	secret sources, URL paths, URLs, the serial source, enums, csr.auth, the
 *	store URI); lists (server.listen, engine commands, extensions, subject and
 *	subjectAltName request and set lists, scep.freshness, address lists).
 *	config_parse_listen() is the listen syntax, for the supervisor too.
 *
 *	A file setting is resolved against the configuration's directory and
 *	opened to see that it can be read, never read. A secret is kept as its
 *	source ("credential:", "file:", "env:"); only engine.pin may be inline, for
 *	config_rules_engine_pin() to judge.
 *
 * Never here: rules between settings (config_rules.c), secrets read, keys loaded,
 * logging. Problems are recorded with config_error() and never quote a secret or a
 * storage URI; converters return 0 or -ENOMEM and leave the field alone on error.
 */
#include "config_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/objects.h>

#include "scepd/admin_tokens.h"

typedef int config_conv_fn(struct config_ctx *ctx, const struct config_key *key,
			   const config_setting_t *s, void *field);
typedef int config_conv_str_fn(struct config_ctx *ctx, const struct config_key *key,
			       const config_setting_t *s, const char *v, void *field);

struct config_conv_enum {
	const char *name;
	int value;
	bool alias; /* accepted, but not listed in messages */
};

struct config_conv_type {
	config_conv_fn *conv;
	config_conv_str_fn *str; /* for string settings (config_conv_string) */
};

/* Checks one (name, value) pair of a list; records errors, returns 0 or -ENOMEM. */
typedef int config_conv_pair_check_fn(struct config_ctx *ctx, const config_setting_t *at,
				      const char *setting, const struct config_pairs *pairs,
				      size_t i);

struct config_conv_pair_rules {
	const char *shape;   /* how a pair is written, for messages */
	bool value_optional; /* engine commands: ("LOAD") */
	bool int_value;      /* engine commands: ("LIST_ADD", 1) */
	config_conv_pair_check_fn *check;
};

/* Checks one field name of a request or set list, records errors. */
typedef int config_conv_field_check_fn(struct config_ctx *ctx, const config_setting_t *at,
				       const char *setting, const char *field);

/* clang-format off */
static const char *const config_conv_set_variables[] = {
	"REMOTE_ADDR",
	"REMOTE_USER",
	NULL,
};

static const struct config_conv_enum config_conv_challenge_values[] = {
	{ "none", CONFIG_CHALLENGE_NONE, false },
	{ "static", CONFIG_CHALLENGE_STATIC, false },
	{ "otp", CONFIG_CHALLENGE_OTP, false },
	{ "webhook", CONFIG_CHALLENGE_WEBHOOK, false },
	{ NULL, 0, false },
};

static const struct config_conv_enum config_conv_approval_values[] = {
	{ "auto", CONFIG_APPROVAL_AUTO, false },
	{ "manual", CONFIG_APPROVAL_MANUAL, false },
	{ NULL, 0, false },
};

static const struct config_conv_enum config_conv_get_cert_values[] = {
	{ "same_subject", CONFIG_GET_CERT_SAME_SUBJECT, false },
	{ "any", CONFIG_GET_CERT_ANY, false },
	{ "none", CONFIG_GET_CERT_NONE, false },
	{ NULL, 0, false },
};

static const struct config_conv_enum config_conv_log_level_values[] = {
	{ "err", LOG_ERR, false },
	{ "error", LOG_ERR, true },
	{ "warning", LOG_WARNING, false },
	{ "warn", LOG_WARNING, true },
	{ "notice", LOG_NOTICE, false },
	{ "info", LOG_INFO, false },
	{ "debug", LOG_DEBUG, false },
	{ NULL, 0, false },
};

/* clang-format on */

/* config_conv_str_enum() stores these enums through an int. */
_Static_assert(sizeof(enum config_challenge_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_approval) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_get_cert) == sizeof(int), "enum size");

/* Paths and files */

static int
config_conv_resolve(const struct config_ctx *ctx, const char *path, char **ret_path)
{
	char *p;

	if (path[0] == '/')
		p = strdup(path);
	else if (asprintf(&p, "%s/%s", ctx->basedir, path) < 0)
		p = NULL;
	if (p == NULL)
		return -ENOMEM;
	*ret_path = p;
	return 0;
}

/* Whether path can be opened for reading; never reads it. */
static int
config_conv_readable(const char *path)
{
	struct stat st;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (S_ISDIR(st.st_mode))
		r = -EISDIR;
	close(fd);
	return r;
}

/*
 * Resolve v, check that it can be read (unless unopened: a key's file or secret that
 * this program never reads) and store the absolute path in *ret_path.
 */
static int
config_conv_path(struct config_ctx *ctx, const config_setting_t *s, const char *setting,
		 const char *v, bool unopened, char **ret_path)
{
	char *path = NULL;
	int r;

	if (v[0] == '\0')
		return config_error(ctx, s, setting, "empty path");
	if ((r = config_conv_resolve(ctx, v, &path)) < 0)
		return r;
	if (!unopened && (r = config_conv_readable(path)) < 0) {
		r = config_error(ctx, s, setting, "cannot read '%s': %s", path, strerror(-r));
		free(path);
		return r;
	}
	free(*ret_path);
	*ret_path = path;
	return 0;
}

static int
config_conv_file(struct config_ctx *ctx, const config_setting_t *s, const char *setting,
		 const char *v, char **ret_path)
{
	return config_conv_path(ctx, s, setting, v, false, ret_path);
}

/* A key's file or the secret that unlocks it, for a program that loads no key. */
static bool
config_conv_unopened(const struct config_ctx *ctx, const struct config_key *key)
{
	return (ctx->flags & CONFIG_LOAD_NO_KEY_SECRETS) &&
	       (key->type == CONFIG_T_KEY || (key->flags & (CONFIG_F_PIN | CONFIG_F_KEY)));
}

/* Converters: plain types */

static int
config_conv_group(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		  void *field)
{
	(void)field;
	if (s != NULL && !config_setting_is_group(s))
		return config_wrong_type(ctx, s, key->name, "a group");
	return 0;
}

static bool
config_conv_is_int(const config_setting_t *s)
{
	return config_setting_type(s) == CONFIG_TYPE_INT ||
	       config_setting_type(s) == CONFIG_TYPE_INT64;
}

/*
 * 1 after recording an error when the integer s, as written, is not what libconfig
 * read (beyond 32 bits without an L suffix, or beyond 64 bits): "4294967296 is out of
 * range (0..1024)", quoting the file, after what ("" or "count "). 0 when it is what was read; -ENOMEM.
 */
static int
config_conv_int_as_written(struct config_ctx *ctx, const config_setting_t *s, const char *setting,
			   const char *what, long long min, long long max)
{
	char literal[64];
	long long exact;
	bool fits;
	int r;

	if ((r = config_int_literal(ctx, s, literal, sizeof(literal), &exact, &fits)) != 0)
		return r < 0 ? r : 0;
	/* Every range fits in 32 bits: a value that libconfig did not keep is outside. */
	r = config_error(ctx, s, setting, "%s%s is out of range (%lld..%lld)", what, literal, min,
			 max);
	return r < 0 ? r : 1;
}

/* An integer setting or element within [min, max]; *ret untouched on error. */
static int
config_conv_int_range(struct config_ctx *ctx, const config_setting_t *s, const char *setting,
		      long long min, long long max, int *ret)
{
	long long n;
	int r;

	if (!config_conv_is_int(s))
		return config_wrong_type(ctx, s, setting, "an integer");
	if ((r = config_conv_int_as_written(ctx, s, setting, "", min, max)) != 0)
		return r < 0 ? r : 0;
	n = config_setting_get_int64(s);
	if (n < min || n > max)
		return config_range_error(ctx, s, setting, n, min, max);
	*ret = (int)n;
	return 0;
}

static int
config_conv_int(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		void *field)
{
	int *v = field;

	if (s == NULL) {
		*v = (int)strtol(key->def, NULL, 10);
		return 0;
	}
	return config_conv_int_range(ctx, s, key->name, key->min, key->max, v);
}

static int
config_conv_bool(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		 void *field)
{
	bool *v = field;

	if (s == NULL) {
		*v = key->def != NULL && strcmp(key->def, "true") == 0;
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return config_wrong_type(ctx, s, key->name, "a boolean (true or false)");
	*v = config_setting_get_bool(s) != 0;
	return 0;
}

static int config_conv_string(struct config_ctx *ctx, const struct config_key *key,
			      const config_setting_t *s, void *field);

/* Converters: strings with a meaning (config_conv_string calls them) */

static int
config_conv_str_plain(struct config_ctx *ctx, const struct config_key *key,
		      const config_setting_t *s, const char *v, void *field)
{
	char **p = field;

	if (v[0] == '\0')
		return config_error(ctx, s, key->name,
				    "empty; remove the setting to leave it unset");
	if ((*p = strdup(v)) == NULL)
		return -ENOMEM;
	return 0;
}

static int
config_conv_str_file(struct config_ctx *ctx, const struct config_key *key,
		     const config_setting_t *s, const char *v, void *field)
{
	return config_conv_file(ctx, s, key->name, v, field);
}

/* A key: a pkcs11: URI for the engine (see config_rules_engine_id) or a file. */
static int
config_conv_str_key(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		    const char *v, void *field)
{
	char **p = field;

	if (strncmp(v, "pkcs11:", 7) != 0)
		return config_conv_path(ctx, s, key->name, v, config_conv_unopened(ctx, key), p);
	if (v[7] == '\0')
		return config_error(ctx, s, key->name, "empty pkcs11: URI");
	if ((*p = strdup(v)) == NULL)
		return -ENOMEM;
	return 0;
}

static bool
config_conv_is_env_name(const char *name)
{
	if (!isalpha((unsigned char)name[0]) && name[0] != '_')
		return false;
	for (const char *c = name; *c != '\0'; c++)
		if (!isalnum((unsigned char)*c) && *c != '_')
			return false;
	return true;
}

/*
 * A secret source other than "file:": its kind and the part of v to keep, or 1 after
 * recording an error. The messages never quote v: it may be the secret itself.
 */
static int
config_conv_secret_source(struct config_ctx *ctx, const struct config_key *key,
			  const config_setting_t *s, const char *v,
			  enum config_secret_kind *ret_kind, const char **ret_ref)
{
	const char *msg = NULL;

	if (strncmp(v, "credential:", 11) == 0) {
		*ret_kind = CONFIG_SECRET_CREDENTIAL;
		*ret_ref = v + 11;
		if (v[11] == '\0' || strchr(v + 11, '/') != NULL || strcmp(v + 11, ".") == 0 ||
		    strcmp(v + 11, "..") == 0)
			msg = "\"credential:NAME\" needs a NAME without '/'";
	} else if (strncmp(v, "env:", 4) == 0) {
		*ret_kind = CONFIG_SECRET_ENV;
		*ret_ref = v + 4;
		if (!config_conv_is_env_name(v + 4))
			msg = "\"env:NAME\" needs a variable NAME of letters, digits and '_'";
	} else if (v[0] == '\0') {
		msg = "empty; " CONFIG_SECRET_SOURCES;
	} else if (key->flags & CONFIG_F_PIN) {
		/* Kept for config_rules_engine_pin(), which knows engine.allow_inline_pin. */
		*ret_kind = CONFIG_SECRET_INLINE;
		*ret_ref = v;
	} else {
		msg = "a secret written in the configuration file is "
		      "refused; " CONFIG_SECRET_SOURCES;
	}
	if (msg == NULL)
		return 0;
	return config_error(ctx, s, key->name, "%s", msg) < 0 ? -ENOMEM : 1;
}

static int
config_conv_str_secret(struct config_ctx *ctx, const struct config_key *key,
		       const config_setting_t *s, const char *v, void *field)
{
	struct config_secret *sec = field;
	enum config_secret_kind kind = CONFIG_SECRET_FILE;
	const char *src;
	char *ref = NULL;
	int r;

	if (strncmp(v, "file:", 5) == 0) {
		if ((r = config_conv_path(ctx, s, key->name, v + 5, config_conv_unopened(ctx, key),
					  &ref)) < 0 ||
		    ref == NULL)
			return r;
	} else {
		if ((r = config_conv_secret_source(ctx, key, s, v, &kind, &src)) != 0)
			return r < 0 ? r : 0;
		if ((ref = strdup(src)) == NULL)
			return -ENOMEM;
	}
	config_secret_free(sec);
	sec->kind = kind;
	sec->ref = ref;
	return 0;
}

static int
config_conv_str_url_path(struct config_ctx *ctx, const struct config_key *key,
			 const config_setting_t *s, const char *v, void *field)
{
	char **p = field;

	if (v[0] != '/')
		return config_error(ctx, s, key->name, "'%s' does not start with '/'", v);
	for (const char *c = v; *c != '\0'; c++)
		if (!isgraph((unsigned char)*c) || *c == '?' || *c == '#' || *c == '%')
			return config_error(ctx, s, key->name,
					    "'%s' is not a plain URL path (no spaces, '?', '#' "
					    "or '%%')",
					    v);
	if ((*p = strdup(v)) == NULL)
		return -ENOMEM;
	return 0;
}

/* An http(s) URL, or "" for unset. */
static int
config_conv_str_url(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		    const char *v, void *field)
{
	char **p = field;
	const char *rest;

	if (v[0] == '\0')
		return 0;
	if (strncmp(v, "http://", 7) == 0)
		rest = v + 7;
	else if (strncmp(v, "https://", 8) == 0)
		rest = v + 8;
	else
		rest = NULL;
	if (rest != NULL && (rest[0] == '\0' || rest[0] == '/'))
		rest = NULL;
	for (const char *c = rest; c != NULL && *c != '\0'; c++)
		if (!isgraph((unsigned char)*c))
			rest = NULL;
	if (rest == NULL)
		return config_error(ctx, s, key->name, "'%s' is not an http:// or https:// URL", v);
	if ((*p = strdup(v)) == NULL)
		return -ENOMEM;
	return 0;
}

static int
config_conv_str_digest(struct config_ctx *ctx, const struct config_key *key,
		       const config_setting_t *s, const char *v, void *field)
{
	return config_x509_digest(ctx, s, key->name, v, field);
}

/* "random", "subject" or "file:PATH" (a file scepd may create, so its directory must exist). */
static int
config_conv_str_serial(struct config_ctx *ctx, const struct config_key *key,
		       const config_setting_t *s, const char *v, void *field)
{
	enum config_serial_kind *kind = field;
	struct stat st;
	char *path = NULL, *slash;
	int r;

	if (strcmp(v, "random") == 0 || strcmp(v, "subject") == 0) {
		*kind = v[0] == 'r' ? CONFIG_SERIAL_RANDOM : CONFIG_SERIAL_SUBJECT;
		return 0;
	}
	if (strncmp(v, "file:", 5) != 0 || v[5] == '\0')
		return config_error(ctx, s, key->name,
				    "'%s' is not one of \"random\", \"subject\", \"file:PATH\"", v);
	if ((r = config_conv_resolve(ctx, v + 5, &path)) < 0)
		return r;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		r = config_error(ctx, s, key->name, "cannot use '%s': %s", path, strerror(EISDIR));
		free(path);
		return r;
	}
	slash = strrchr(path, '/');
	*slash = '\0'; /* path is absolute: there is a slash */
	if (stat(path[0] != '\0' ? path : "/", &st) < 0)
		r = -errno;
	else if (!S_ISDIR(st.st_mode))
		r = -ENOTDIR;
	if (r < 0) {
		r = config_error(ctx, s, key->name, "cannot use directory '%s': %s",
				 path[0] != '\0' ? path : "/", strerror(-r));
		free(path);
		return r;
	}
	*slash = '/';
	struct config_ca *ca = CONFIG_CONTAINER_OF(kind, struct config_ca, serial);

	free(ca->serial_file);
	ca->serial_file = path;
	*kind = CONFIG_SERIAL_FILE;
	return 0;
}

static const struct config_conv_enum *
config_conv_enum_values(enum config_key_type type)
{
	switch (type) {
	case CONFIG_T_CHALLENGE:
		return config_conv_challenge_values;
	case CONFIG_T_APPROVAL:
		return config_conv_approval_values;
	case CONFIG_T_GET_CERT:
		return config_conv_get_cert_values;
	default:
		return config_conv_log_level_values;
	}
}

static int
config_conv_str_enum(struct config_ctx *ctx, const struct config_key *key,
		     const config_setting_t *s, const char *v, void *field)
{
	const struct config_conv_enum *values = config_conv_enum_values(key->type);
	char list[256] = "";
	size_t used = 0;
	int *out = field;

	for (size_t i = 0; values[i].name != NULL; i++) {
		if (strcmp(v, values[i].name) == 0) {
			*out = values[i].value;
			return 0;
		}
		if (!values[i].alias && used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used, "%s\"%s\"",
						 used > 0 ? ", " : "", values[i].name);
	}
	return config_error(ctx, s, key->name, "'%s' is not one of %s", v, list);
}

static int
config_conv_str_csr_auth(struct config_ctx *ctx, const struct config_key *key,
			 const config_setting_t *s, const char *v, void *field)
{
	enum config_csr_auth *auth = field;
	struct config_csr *csr = CONFIG_CONTAINER_OF(auth, struct config_csr, auth);
	int r;

	if (strcmp(v, "none") == 0) {
		*auth = CONFIG_CSR_AUTH_NONE;
		return 0;
	}
	if (strncmp(v, "tokens:", 7) != 0)
		return config_error(ctx, s, key->name,
				    "'%s' is not one of \"none\", \"tokens:PATH\"", v);
	if ((r = config_conv_file(ctx, s, key->name, v + 7, &csr->tokens_file)) < 0)
		return r;
	if (csr->tokens_file != NULL)
		*auth = CONFIG_CSR_AUTH_TOKENS;
	return 0;
}

/* "file:PATH": a users file, read by the workers and `scepd -t` (htpasswd.h). */
static int
config_conv_str_users(struct config_ctx *ctx, const struct config_key *key,
		      const config_setting_t *s, const char *v, void *field)
{
	if (strncmp(v, "file:", 5) != 0)
		return config_error(ctx, s, key->name, "'%s' is not \"file:PATH\"", v);
	return config_conv_file(ctx, s, key->name, v + 5, field);
}

/*
 * admin.tokens = "file:PATH". A file that exists must be readable; a missing one is
 * not an error here (scepctl token new creates it): scepd -t and the workers report it.
 */
static int
config_conv_str_admin_tokens(struct config_ctx *ctx, const struct config_key *key,
			     const config_setting_t *s, const char *v, void *field)
{
	char **p = field, *path = NULL;
	int r;

	if (strncmp(v, "file:", 5) != 0 || v[5] == '\0')
		return config_error(ctx, s, key->name, "'%s' is not \"file:PATH\"", v);
	if ((r = config_conv_resolve(ctx, v + 5, &path)) < 0)
		return r;
	if ((r = config_conv_readable(path)) < 0 && r != -ENOENT) {
		r = config_error(ctx, s, key->name, "cannot read '%s': %s", path, strerror(-r));
		free(path);
		return r;
	}
	free(*p);
	*p = path;
	return 0;
}

/* The URI is never quoted in messages: a PostgreSQL URI may hold a password. */
static int
config_conv_str_storage_uri(struct config_ctx *ctx, const struct config_key *key,
			    const config_setting_t *s, const char *v, void *field)
{
	char **p = field, *path = NULL;
	int r;

	if (strncmp(v, "postgresql://", 13) == 0 || strncmp(v, "postgres://", 11) == 0) {
		if ((*p = strdup(v)) == NULL)
			return -ENOMEM;
		return 0;
	}
	if (strncmp(v, "sqlite:", 7) != 0)
		return config_error(ctx, s, key->name,
				    "unsupported URI; use \"sqlite:PATH\", \"postgresql://...\" "
				    "or \"postgres://...\"");
	if (v[7] == '\0')
		return config_error(ctx, s, key->name, "\"sqlite:PATH\" needs a PATH");
	if ((r = config_conv_resolve(ctx, v + 7, &path)) < 0)
		return r;
	r = asprintf(p, "sqlite:%s", path);
	free(path);
	return r < 0 ? -ENOMEM : 0;
}

/* Converters: lists */

/* server.listen: numeric addresses, each once. */
static int
config_conv_listen(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		   void *field)
{
	struct config_strv *sv = field;
	struct sockaddr_storage a, b;
	socklen_t la, lb;
	char name[CONFIG_NAME_MAX + 24];
	int n, r = 0;

	if (s == NULL)
		return key->def != NULL ? config_strv_add(sv, key->def) : 0;
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return config_wrong_type(ctx, s, key->name, "an array of strings");
	if ((n = config_setting_length(s)) == 0)
		return config_error(ctx, s, key->name, "empty; at least one address is needed");
	for (int i = 0; i < n && r >= 0; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *v;

		config_elem_name(name, sizeof(name), key->name, (size_t)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			r = config_wrong_type(ctx, e, name, "a string");
			continue;
		}
		v = config_setting_get_string(e);
		r = config_parse_listen(v, &a, &la);
		if (r == -ERANGE) {
			r = config_error(ctx, e, name, "'%s': the port is out of range (1..65535)",
					 v);
			continue;
		}
		if (r < 0) {
			r = config_error(ctx, e, name,
					 "'%s' is not a numeric address and port such as "
					 "\"127.0.0.1:8080\", \"[::1]:8080\" or \"*:8080\"",
					 v);
			continue;
		}
		for (size_t j = 0; j < sv->n; j++)
			if (config_parse_listen(sv->v[j], &b, &lb) == 0 && la == lb &&
			    memcmp(&a, &b, la) == 0)
				r = 1;
		if (r == 1)
			r = config_error(ctx, e, name, "'%s' is listed twice", v);
		else
			r = config_strv_add(sv, v);
	}
	return r;
}

/* One ("NAME", "VALUE") element; records a shape error and returns 1 when it is not one. */
static int
config_conv_pair_get(struct config_ctx *ctx, const config_setting_t *e, const char *setting,
		     const struct config_conv_pair_rules *rules, const char **ret_name,
		     const char **ret_value, char *intbuf, size_t intsize)
{
	const config_setting_t *n, *v;
	int len;

	if (!config_setting_is_list(e) && !config_setting_is_array(e))
		goto shape;
	len = config_setting_length(e);
	if (len < (rules->value_optional ? 1 : 2) || len > 2)
		goto shape;
	n = config_setting_get_elem(e, 0);
	if (config_setting_type(n) != CONFIG_TYPE_STRING || config_setting_get_string(n)[0] == 0)
		goto shape;
	*ret_name = config_setting_get_string(n);
	*ret_value = NULL;
	if (len == 1)
		return 0;
	v = config_setting_get_elem(e, 1);
	if (config_setting_type(v) == CONFIG_TYPE_STRING) {
		*ret_value = config_setting_get_string(v);
	} else if (rules->int_value && config_conv_is_int(v)) {
		char literal[64];
		long long exact = config_setting_get_int64(v);
		bool fits = true;
		int r;

		/* The number as written, not as libconfig kept it in 32 bits. */
		if ((r = config_int_literal(ctx, v, literal, sizeof(literal), &exact, &fits)) < 0)
			return r;
		if (!fits)
			return config_error(ctx, v, setting, "%s does not fit in 64 bits",
					    literal) < 0
				       ? -ENOMEM
				       : 1;
		snprintf(intbuf, intsize, "%lld", exact);
		*ret_value = intbuf;
	} else {
		goto shape;
	}
	return 0;
shape:
	return config_error(ctx, e, setting, "expected %s", rules->shape) < 0 ? -ENOMEM : 1;
}

/* A list of pairs: engine.pre/post, ca.extensions, *.set. */
static int
config_conv_pairs(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		  struct config_pairs *pairs, const struct config_conv_pair_rules *rules)
{
	char name[CONFIG_NAME_MAX + 24], intbuf[32];
	int n, r = 0;

	if (!config_setting_is_list(s) &&
	    !(config_setting_is_array(s) && config_setting_length(s) == 0))
		return config_wrong_type(ctx, s, key->name, "a list");
	n = config_setting_length(s);
	for (int i = 0; i < n && r >= 0; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *pname, *pvalue;

		config_elem_name(name, sizeof(name), key->name, (size_t)i);
		r = config_conv_pair_get(ctx, e, name, rules, &pname, &pvalue, intbuf,
					 sizeof(intbuf));
		if (r != 0)
			continue;
		if ((r = config_pairs_add(pairs, pname, pvalue,
					  (int)config_setting_source_line(e))) < 0)
			break;
		if (rules->check != NULL)
			r = rules->check(ctx, e, name, pairs, pairs->n - 1);
	}
	return r < 0 ? r : 0;
}

static int
config_conv_commands(struct config_ctx *ctx, const struct config_key *key,
		     const config_setting_t *s, void *field)
{
	static const struct config_conv_pair_rules rules = {
		.shape = "(\"NAME\", \"VALUE\") or (\"NAME\")",
		.value_optional = true,
		.int_value = true,
	};

	return s != NULL ? config_conv_pairs(ctx, key, s, field, &rules) : 0;
}

static int
config_conv_extensions(struct config_ctx *ctx, const struct config_key *key,
		       const config_setting_t *s, void *field)
{
	static const struct config_conv_pair_rules rules = {
		.shape = "(\"NAME\", \"VALUE\")",
		.check = config_x509_extension,
	};
	struct config_pairs *pairs = field;
	int r = 0;

	if (s != NULL)
		return config_conv_pairs(ctx, key, s, pairs, &rules);
#define CONFIG_DEFAULT_EXTENSION(n, v)                                                             \
	if (r == 0)                                                                                \
		r = config_pairs_add(pairs, n, v, 0);
	CONFIG_DEFAULT_EXTENSIONS(CONFIG_DEFAULT_EXTENSION)
#undef CONFIG_DEFAULT_EXTENSION
	return r;
}

/*
 * An absolute http:// URL that a relying party fetches (a CRL, an OCSP responder):
 * not https, whose check would itself need the answer; no ',' or ';', which the
 * extension's text form would split at.
 */
static bool
config_conv_is_http_url(const char *v)
{
	const char *rest = strncmp(v, "http://", 7) == 0 ? v + 7 : NULL;

	if (rest == NULL || rest[0] == '\0' || rest[0] == '/')
		return false;
	for (const char *c = rest; *c != '\0'; c++)
		if (!isgraph((unsigned char)*c) || *c == ',' || *c == ';')
			return false;
	return true;
}

static int
config_conv_str_http_url(struct config_ctx *ctx, const struct config_key *key,
			 const config_setting_t *s, const char *v, void *field)
{
	char **p = field;

	if (!config_conv_is_http_url(v))
		return config_error(ctx, s, key->name, "'%s' is not an absolute http:// URL", v);
	if ((*p = strdup(v)) == NULL)
		return -ENOMEM;
	return 0;
}

/*
 * An array or list of strings, each one that valid() accepts ("'%s' is not WHAT"
 * otherwise), into the config_strv at field.
 */
static int
config_conv_strings(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		    void *field, bool (*valid)(const char *v), const char *what)
{
	struct config_strv *sv = field;
	char name[CONFIG_NAME_MAX + 24];
	int n, r = 0;

	if (s == NULL)
		return 0;
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return config_wrong_type(ctx, s, key->name, "an array of strings");
	n = config_setting_length(s);
	for (int i = 0; i < n && r >= 0; i++) {
		const config_setting_t *el = config_setting_get_elem(s, (unsigned)i);
		const char *v;

		config_elem_name(name, sizeof(name), key->name, (size_t)i);
		if (config_setting_type(el) != CONFIG_TYPE_STRING) {
			r = config_wrong_type(ctx, el, name, "a string");
			continue;
		}
		v = config_setting_get_string(el);
		if (!valid(v))
			r = config_error(ctx, el, name, "'%s' is not %s", v, what);
		else
			r = config_strv_add(sv, v);
	}
	return r;
}

static int
config_conv_http_urls(struct config_ctx *ctx, const struct config_key *key,
		      const config_setting_t *s, void *field)
{
	return config_conv_strings(ctx, key, s, field, config_conv_is_http_url,
				   "an absolute http:// URL");
}

static bool
config_conv_is_scope(const char *v)
{
	const char *profile;

	return admin_tokens_scope_valid(v, &profile);
}

/* admin.client_scopes: each a scope an admin token may have (admin_tokens.h). */
static int
config_conv_scopes(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		   void *field)
{
	return config_conv_strings(
		ctx, key, s, field, config_conv_is_scope,
		"a scope (challenge:PROFILE, challenge:*, revoke, approve, read)");
}

/* A profile's extensions: when written, they replace the CA's; absent, nothing. */
static int
config_conv_extensions_override(struct config_ctx *ctx, const struct config_key *key,
				const config_setting_t *s, void *field)
{
	struct config_pairs *pairs = field;
	struct config_profile *p = CONFIG_CONTAINER_OF(pairs, struct config_profile, extensions);

	if (s == NULL)
		return 0;
	p->extensions_set = true;
	return config_conv_extensions(ctx, key, s, field);
}

/* The curves keys.ec_curves may name, by their NIST names. */
static int
config_conv_ec_curve(struct config_ctx *ctx, const config_setting_t *at, const char *setting,
		     const char *name, struct config_key_policy *kp)
{
	static const char *const names[] = { "P-256", "P-384", "P-521", NULL };
	const char *hint;
	int nid = EC_curve_nist2nid(name);

	for (size_t i = 0; nid != NID_undef && names[i] != NULL; i++) {
		if (strcmp(names[i], name) != 0)
			continue;
		for (size_t k = 0; k < kp->n_ec_curves; k++)
			if (kp->ec_curves[k] == nid)
				return config_error(ctx, at, setting, "'%s' is listed twice", name);
		kp->ec_curves[kp->n_ec_curves++] = nid;
		return 0;
	}
	if ((hint = config_suggest_word(names, name)) != NULL)
		return config_error(ctx, at, setting,
				    "'%s' is not one of \"P-256\", \"P-384\", \"P-521\"; did you "
				    "mean '%s'?",
				    name, hint);
	return config_error(ctx, at, setting, "'%s' is not one of \"P-256\", \"P-384\", \"P-521\"",
			    name);
}

/* keys.ec_curves: a list of curve names; [] allows no EC key. */
static int
config_conv_ec_curves(struct config_ctx *ctx, const struct config_key *key,
		      const config_setting_t *s, void *field)
{
	struct config_key_policy *kp = field;
	char name[CONFIG_NAME_MAX + 24], def[64], *save = NULL;
	int n, r = 0;

	kp->n_ec_curves = 0;
	if (s == NULL) {
		snprintf(def, sizeof(def), "%s", key->def);
		for (char *t = strtok_r(def, ",", &save); t != NULL && r >= 0;
		     t = strtok_r(NULL, ",", &save))
			r = config_conv_ec_curve(ctx, NULL, key->name, t, kp);
		return r;
	}
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return config_wrong_type(ctx, s, key->name, "a list of curve names");
	n = config_setting_length(s);
	if (n > CONFIG_EC_CURVES_MAX)
		return config_error(ctx, s, key->name, "at most %d curves", CONFIG_EC_CURVES_MAX);
	for (int i = 0; i < n && r >= 0; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);

		config_elem_name(name, sizeof(name), key->name, (size_t)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING)
			r = config_wrong_type(ctx, e, name, "a string");
		else
			r = config_conv_ec_curve(ctx, e, name, config_setting_get_string(e), kp);
	}
	return r;
}

/* A set value: text with %{REMOTE_ADDR} and %{REMOTE_USER}. */
static int
config_conv_set_value(struct config_ctx *ctx, const config_setting_t *at, const char *setting,
		      const char *value)
{
	const char *p = value, *end;

	if (value == NULL || value[0] == '\0')
		return config_error(ctx, at, setting, "empty value");
	while ((p = strstr(p, "%{")) != NULL) {
		bool known = false;

		if ((end = strchr(p, '}')) == NULL)
			return config_error(ctx, at, setting, "'%s': unterminated '%%{'", value);
		for (size_t i = 0; config_conv_set_variables[i] != NULL; i++)
			if (strlen(config_conv_set_variables[i]) == (size_t)(end - p - 2) &&
			    strncmp(p + 2, config_conv_set_variables[i], (size_t)(end - p - 2)) ==
				    0)
				known = true;
		if (!known)
			return config_error(ctx, at, setting,
					    "'%.*s' is not a known variable (%%{REMOTE_ADDR}, "
					    "%%{REMOTE_USER})",
					    (int)(end - p + 1), p);
		p = end + 1;
	}
	return 0;
}

static int
config_conv_check_dn_set(struct config_ctx *ctx, const config_setting_t *at, const char *setting,
			 const struct config_pairs *pairs, size_t i)
{
	int r;

	if ((r = config_x509_dn_field(ctx, at, setting, pairs->v[i].name)) < 0)
		return r;
	return config_conv_set_value(ctx, at, setting, pairs->v[i].value);
}

static int
config_conv_check_san_set(struct config_ctx *ctx, const config_setting_t *at, const char *setting,
			  const struct config_pairs *pairs, size_t i)
{
	int r;

	static const char *const structured[] = { "otherName", "x400Address", "directoryName",
						  "ediPartyName" };

	if ((r = config_x509_san_field(ctx, at, setting, pairs->v[i].name)) < 0)
		return r;
	/* The policy can only make text types from a set value; refuse the rest here. */
	for (size_t k = 0; k < sizeof(structured) / sizeof(structured[0]); k++)
		if (strcmp(pairs->v[i].name, structured[k]) == 0)
			return config_error(
				ctx, at, setting,
				"cannot set %s from text (rfc822Name, dNSName, "
				"uniformResourceIdentifier, iPAddress, registeredID can be set)",
				pairs->v[i].name);
	return config_conv_set_value(ctx, at, setting, pairs->v[i].value);
}

static int
config_conv_dn_set(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		   void *field)
{
	static const struct config_conv_pair_rules rules = {
		.shape = "(\"FIELD\", \"VALUE\")",
		.check = config_conv_check_dn_set,
	};

	return s != NULL ? config_conv_pairs(ctx, key, s, field, &rules) : 0;
}

static int
config_conv_san_set(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		    void *field)
{
	static const struct config_conv_pair_rules rules = {
		.shape = "(\"FIELD\", \"VALUE\")",
		.check = config_conv_check_san_set,
	};

	return s != NULL ? config_conv_pairs(ctx, key, s, field, &rules) : 0;
}

/* One request entry: "FIELD" or ("FIELD", COUNT); 1 after a recorded error. */
static int
config_conv_request_get(struct config_ctx *ctx, const config_setting_t *e, const char *setting,
			const char **ret_field, int *ret_count)
{
	const config_setting_t *f, *c;
	int r;

	if (config_setting_type(e) == CONFIG_TYPE_STRING) {
		*ret_field = config_setting_get_string(e);
		*ret_count = CONFIG_COUNT_UNLIMITED;
		return 0;
	}
	if (!config_setting_is_list(e) || config_setting_length(e) != 2 ||
	    config_setting_type(f = config_setting_get_elem(e, 0)) != CONFIG_TYPE_STRING ||
	    !config_conv_is_int(c = config_setting_get_elem(e, 1))) {
		r = config_error(ctx, e, setting, "expected \"FIELD\" or (\"FIELD\", COUNT)");
		return r < 0 ? r : 1;
	}
	if ((r = config_conv_int_as_written(ctx, c, setting, "count ", CONFIG_REQUEST_COUNT_MIN,
					    CONFIG_REQUEST_COUNT_MAX)) != 0)
		return r;
	if (config_setting_get_int64(c) < CONFIG_REQUEST_COUNT_MIN ||
	    config_setting_get_int64(c) > CONFIG_REQUEST_COUNT_MAX) {
		r = config_error(ctx, e, setting, "count %lld is out of range (%d..%d)",
				 config_setting_get_int64(c), CONFIG_REQUEST_COUNT_MIN,
				 CONFIG_REQUEST_COUNT_MAX);
		return r < 0 ? r : 1;
	}
	*ret_field = config_setting_get_string(f);
	*ret_count = (int)config_setting_get_int64(c);
	if (strcmp(*ret_field, CONFIG_FIELD_ANY) == 0) {
		r = config_error(ctx, e, setting, "'*' takes no count");
		return r < 0 ? r : 1;
	}
	return 0;
}

static int
config_conv_request(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		    struct config_field_rules *rules, config_conv_field_check_fn *check)
{
	char name[CONFIG_NAME_MAX + 24];
	int n, count, r = 0;

	if (s == NULL)
		return key->def != NULL
			       ? config_field_rules_add(rules, key->def, CONFIG_COUNT_UNLIMITED)
			       : 0;
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return config_wrong_type(ctx, s, key->name, "an array or a list");
	n = config_setting_length(s);
	for (int i = 0; i < n && r >= 0; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *f;

		config_elem_name(name, sizeof(name), key->name, (size_t)i);
		if ((r = config_conv_request_get(ctx, e, name, &f, &count)) != 0)
			continue;
		for (size_t j = 0; j < rules->n && r == 0; j++)
			if (strcmp(rules->v[j].field, f) == 0)
				r = 1;
		if (r == 1)
			r = config_error(ctx, e, name, "'%s' is listed twice", f);
		else if (strcmp(f, CONFIG_FIELD_ANY) != 0 && (r = check(ctx, e, name, f)) < 0)
			break;
		else
			r = config_field_rules_add(rules, f, count);
	}
	return r < 0 ? r : 0;
}

static int
config_conv_dn_request(struct config_ctx *ctx, const struct config_key *key,
		       const config_setting_t *s, void *field)
{
	return config_conv_request(ctx, key, s, field, config_x509_dn_field);
}

static int
config_conv_san_request(struct config_ctx *ctx, const struct config_key *key,
			const config_setting_t *s, void *field)
{
	return config_conv_request(ctx, key, s, field, config_x509_san_field);
}

/* scep.freshness: FACTOR, [FACTOR] or [FACTOR, MAX_SECONDS]. */
static int
config_conv_freshness(struct config_ctx *ctx, const struct config_key *key,
		      const config_setting_t *s, void *field)
{
	int *factor = field;
	int *max =
		&CONFIG_CONTAINER_OF(factor, struct config_scep, freshness_factor)->freshness_max;
	char name[CONFIG_NAME_MAX + 24];
	int n, r;

	*max = CONFIG_FRESHNESS_MAX_DEFAULT;
	if (s == NULL) {
		*factor = (int)strtol(key->def, NULL, 10);
		return 0;
	}
	if (config_conv_is_int(s))
		return config_conv_int_range(ctx, s, key->name, key->min, key->max, factor);
	n = config_setting_is_aggregate(s) ? config_setting_length(s) : 0;
	if (config_setting_is_group(s) || n < 1 || n > 2)
		return config_error(ctx, s, key->name,
				    "expected [FACTOR] or [FACTOR, MAX_SECONDS]");
	config_elem_name(name, sizeof(name), key->name, 0);
	r = config_conv_int_range(ctx, config_setting_get_elem(s, 0), name, key->min, key->max,
				  factor);
	if (r < 0 || n < 2)
		return r;
	config_elem_name(name, sizeof(name), key->name, 1);
	return config_conv_int_range(ctx, config_setting_get_elem(s, 1), name, 0,
				     CONFIG_FRESHNESS_MAX_LIMIT, max);
}

/*
 * scep.allow, csr.allow, metrics.allow: client addresses or networks; absent = every
 * address (metrics.allow: loopback, config_rules_metrics()).
 */
static int
config_conv_addr_list(struct config_ctx *ctx, const struct config_key *key,
		      const config_setting_t *s, void *field)
{
	struct addr_allow **ret_list = field, *list = NULL;
	struct addr_allow_entry e;
	char name[CONFIG_NAME_MAX + 24];
	int n, r = 0;

	if (s == NULL)
		return 0;
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return config_wrong_type(ctx, s, key->name, "an array of strings");
	if ((n = config_setting_length(s)) == 0)
		return config_error(ctx, s, key->name, "%s",
				    strcmp(key->name, "metrics.allow") == 0
					    ? "empty; remove the setting for loopback only"
					    : "empty; remove the setting to allow every address");
	if ((list = calloc(1, sizeof(*list))) == NULL)
		return -ENOMEM;
	for (int i = 0; i < n && r >= 0; i++) {
		const config_setting_t *el = config_setting_get_elem(s, (unsigned)i);
		const char *v;

		config_elem_name(name, sizeof(name), key->name, (size_t)i);
		if (config_setting_type(el) != CONFIG_TYPE_STRING) {
			r = config_wrong_type(ctx, el, name, "a string");
			continue;
		}
		v = config_setting_get_string(el);
		switch (addr_allow_parse(v, &e)) {
		case 0:
			r = addr_allow_add(list, &e);
			break;
		case -ERANGE:
			r = config_error(ctx, el, name,
					 "'%s': the prefix length is out of range "
					 "(0..32 for IPv4, 0..128 for IPv6)",
					 v);
			break;
		case -EDOM:
			r = config_error(ctx, el, name,
					 "'%s' has bits set after the prefix; write "
					 "the network address (\"10.0.0.0/8\", not \"10.0.0.1/8\")",
					 v);
			break;
		default:
			r = config_error(ctx, el, name,
					 "'%s' is not a numeric IPv4 or IPv6 address, "
					 "or ADDRESS/PREFIX such as \"10.0.0.0/8\" or \"::1/128\"",
					 v);
			break;
		}
	}
	if (r >= 0) {
		addr_allow_free(*ret_list);
		*ret_list = list;
		list = NULL;
	}
	addr_allow_free(list);
	return r;
}

/*
 * The host of an absolute URL with scheme (scheme:// skipped already): where it starts
 * and its length, without the brackets of an IPv6 literal. false when there is no
 * host, when the authority holds user information ('@': a password has no business
 * in the configuration's URL) or when the URL holds blanks or control characters.
 */
static bool
config_conv_url_host(const char *rest, const char **ret_host, size_t *ret_len)
{
	size_t end = strcspn(rest, "/?#");
	const char *host = rest, *close;
	size_t len;

	for (const char *c = rest; *c != '\0'; c++)
		if (!isgraph((unsigned char)*c))
			return false;
	if (memchr(rest, '@', end) != NULL)
		return false;
	if (rest[0] == '[') {
		if ((close = memchr(rest, ']', end)) == NULL)
			return false;
		host = rest + 1;
		len = (size_t)(close - host);
	} else {
		len = strcspn(rest, ":/?#");
	}
	if (len == 0)
		return false;
	*ret_host = host;
	*ret_len = len;
	return true;
}

/*
 * scep.challenge.url: https:// to any host; http:// only to this machine (127.0.0.1,
 * ::1, localhost), where nobody on the path can read the challenges or forge the answer.
 */
static int
config_conv_str_webhook_url(struct config_ctx *ctx, const struct config_key *key,
			    const config_setting_t *s, const char *v, void *field)
{
	static const char *const loopback[] = { "127.0.0.1", "::1", "localhost" };
	bool https = strncmp(v, "https://", 8) == 0, ok = false;
	const char *host;
	char **p = field;
	size_t len;

	if (!https && strncmp(v, "http://", 7) != 0)
		return config_error(ctx, s, key->name, "'%s' is not an https:// or http:// URL", v);
	if (!config_conv_url_host(v + (https ? 8 : 7), &host, &len))
		return config_error(ctx, s, key->name,
				    "'%s': expected scheme://HOST[:PORT]/PATH, without user or "
				    "password",
				    v);
	for (size_t i = 0; !https && i < sizeof(loopback) / sizeof(loopback[0]); i++)
		ok = ok || (strlen(loopback[i]) == len && strncasecmp(host, loopback[i], len) == 0);
	if (!https && !ok)
		return config_error(ctx, s, key->name,
				    "http:// only to 127.0.0.1, [::1] or localhost: the "
				    "challenges and the answers would cross the network in the "
				    "clear; use https://");
	if ((*p = strdup(v)) == NULL)
		return -ENOMEM;
	return 0;
}

/* clang-format off */
static const struct config_conv_type config_conv_types[] = {
	[CONFIG_T_GROUP] = { config_conv_group, NULL },
	[CONFIG_T_INT] = { config_conv_int, NULL },
	[CONFIG_T_BOOL] = { config_conv_bool, NULL },
	[CONFIG_T_STRING] = { config_conv_string, config_conv_str_plain },
	[CONFIG_T_FILE] = { config_conv_string, config_conv_str_file },
	[CONFIG_T_KEY] = { config_conv_string, config_conv_str_key },
	[CONFIG_T_SECRET] = { config_conv_string, config_conv_str_secret },
	[CONFIG_T_LISTEN] = { config_conv_listen, NULL },
	[CONFIG_T_COMMANDS] = { config_conv_commands, NULL },
	[CONFIG_T_EXTENSIONS] = { config_conv_extensions, NULL },
	[CONFIG_T_DN_REQUEST] = { config_conv_dn_request, NULL },
	[CONFIG_T_DN_SET] = { config_conv_dn_set, NULL },
	[CONFIG_T_SAN_REQUEST] = { config_conv_san_request, NULL },
	[CONFIG_T_SAN_SET] = { config_conv_san_set, NULL },
	[CONFIG_T_URL_PATH] = { config_conv_string, config_conv_str_url_path },
	[CONFIG_T_URL] = { config_conv_string, config_conv_str_url },
	[CONFIG_T_DIGEST] = { config_conv_string, config_conv_str_digest },
	[CONFIG_T_SERIAL] = { config_conv_string, config_conv_str_serial },
	[CONFIG_T_CHALLENGE] = { config_conv_string, config_conv_str_enum },
	[CONFIG_T_APPROVAL] = { config_conv_string, config_conv_str_enum },
	[CONFIG_T_CSR_AUTH] = { config_conv_string, config_conv_str_csr_auth },
	[CONFIG_T_STORAGE_URI] = { config_conv_string, config_conv_str_storage_uri },
	[CONFIG_T_LOG_LEVEL] = { config_conv_string, config_conv_str_enum },
	[CONFIG_T_FRESHNESS] = { config_conv_freshness, NULL },
	[CONFIG_T_ADDR_LIST] = { config_conv_addr_list, NULL },
	[CONFIG_T_GET_CERT] = { config_conv_string, config_conv_str_enum },
	[CONFIG_T_EXTENSIONS_OVERRIDE] = { config_conv_extensions_override, NULL },
	[CONFIG_T_EC_CURVES] = { config_conv_ec_curves, NULL },
	[CONFIG_T_HTTP_URL] = { config_conv_string, config_conv_str_http_url },
	[CONFIG_T_HTTP_URLS] = { config_conv_http_urls, NULL },
	[CONFIG_T_SCOPES] = { config_conv_scopes, NULL },
	[CONFIG_T_USERS] = { config_conv_string, config_conv_str_users },
	[CONFIG_T_ADMIN_TOKENS] = { config_conv_string, config_conv_str_admin_tokens },
	[CONFIG_T_WEBHOOK_URL] = { config_conv_string, config_conv_str_webhook_url },
};
/* clang-format on */

/* A string setting: the default, or the value written, handed to the type's str function. */
static int
config_conv_string(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		   void *field)
{
	config_conv_str_fn *str = config_conv_types[key->type].str;

	if (s == NULL)
		return key->def != NULL ? str(ctx, key, NULL, key->def, field) : 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return config_wrong_type(ctx, s, key->name, "a string");
	return str(ctx, key, s, config_setting_get_string(s), field);
}

int
config_conv(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
	    void *field)
{
	return config_conv_types[key->type].conv(ctx, key, s, field);
}

/* A decimal port 1..65535: -EINVAL if not digits, -ERANGE if out of range. */
static int
config_conv_port(const char *s, uint16_t *ret_port)
{
	unsigned long n = 0;

	if (s[0] == '\0')
		return -EINVAL;
	for (const char *c = s; *c != '\0'; c++) {
		if (*c < '0' || *c > '9')
			return -EINVAL;
		if (n <= 65535)
			n = n * 10 + (unsigned long)(*c - '0');
	}
	if (n < 1 || n > 65535)
		return -ERANGE;
	*ret_port = (uint16_t)n;
	return 0;
}

int
config_parse_listen(const char *s, struct sockaddr_storage *ret_addr, socklen_t *ret_len)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	char host[INET6_ADDRSTRLEN];
	const char *port, *end;
	uint16_t p;
	bool v6;
	int r;

	if (s == NULL)
		return -EINVAL;
	v6 = s[0] == '[';
	if (v6) {
		if ((end = strchr(s, ']')) == NULL || end[1] != ':')
			return -EINVAL;
		s++;
		port = end + 2;
	} else {
		if ((end = strchr(s, ':')) == NULL || strchr(end + 1, ':') != NULL)
			return -EINVAL;
		port = end + 1;
	}
	if (end == s || (size_t)(end - s) >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, (size_t)(end - s));
	host[end - s] = '\0';
	if (v6 ? inet_pton(AF_INET6, host, &sin6.sin6_addr) != 1
	       : strcmp(host, "*") != 0 && inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		return -EINVAL;
	if ((r = config_conv_port(port, &p)) < 0)
		return r;
	if (v6) {
		sin6.sin6_port = htons(p);
		memcpy(&ss, &sin6, sizeof(sin6));
		*ret_len = sizeof(sin6);
	} else {
		sin.sin_port = htons(p);
		if (strcmp(host, "*") == 0)
			sin.sin_addr.s_addr = htonl(INADDR_ANY);
		memcpy(&ss, &sin, sizeof(sin));
		*ret_len = sizeof(sin);
	}
	*ret_addr = ss;
	return 0;
}
