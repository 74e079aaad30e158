/*
 * config.c - scepd.conf (libconfig syntax) -> struct scepd_config.
 *
 * SYNOPSIS
 *	#include "scepd/config.h"
 *
 *	config_load(path, &cfg, &errs)
 *	config_load_string(text, name, basedir, &cfg, &errs)
 *
 * DESCRIPTION
 *	Both parse the whole schema of config_keys.h into a new struct
 *	scepd_config. Every setting written in the file that the table does not
 *	know is reported with the closest known name (config_walk); every setting
 *	of the table is looked up and converted by the converter of its type
 *	(config_conv_*, config_str_*) or given its default; then the rules that
 *	tie settings together are checked (config_check_*). Relative paths are
 *	resolved against the directory of the file (basedir for a string), so
 *	every stored path is absolute.
 *
 *	Loading is pure: files named by the configuration are opened only to see
 *	that they can be read, no secret is read, no key is loaded, nothing is
 *	logged, nothing forks, and no state is kept between calls.
 *
 * DIAGNOSTICS
 *	Every problem is one line "FILE:LINE: setting: what is wrong", sorted by
 *	position in the file, all of them from one run. A syntax error stops
 *	libconfig, so it is then the only line ("FILE:LINE: syntax error..."). A
 *	file that cannot be read gives "FILE: cannot read: REASON". No line ever
 *	contains the value of a secret. Functions return 0, -EINVAL (the file has
 *	errors), -ENOENT, -EACCES, -EFBIG... (the file cannot be read) or -ENOMEM;
 *	*ret_cfg is written only on success.
 *
 * BUGS
 *	libconfig 1.5 silently wraps integers that do not fit in 32 bits, so such
 *	a value is reported out of range with its wrapped value.
 */
#include "scepd/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <libconfig.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "config_keys.h"

#define CONFIG_FILE_MAX         ((size_t)1 << 20) /* a larger file is a mistake */
#define CONFIG_NAME_MAX         64 /* longest dotted setting name, with room to spare */
#define CONFIG_DISTANCE_MAX_LEN 64 /* names longer than this get no suggestion */

enum config_key_type {
	CONFIG_T_GROUP,
	CONFIG_T_INT,
	CONFIG_T_BOOL,
	CONFIG_T_STRING,
	CONFIG_T_FILE,
	CONFIG_T_KEY,
	CONFIG_T_SECRET,
	CONFIG_T_LISTEN,
	CONFIG_T_COMMANDS,
	CONFIG_T_EXTENSIONS,
	CONFIG_T_DN_REQUEST,
	CONFIG_T_DN_SET,
	CONFIG_T_SAN_REQUEST,
	CONFIG_T_SAN_SET,
	CONFIG_T_URL_PATH,
	CONFIG_T_URL,
	CONFIG_T_DIGEST,
	CONFIG_T_SERIAL,
	CONFIG_T_CHALLENGE,
	CONFIG_T_APPROVAL,
	CONFIG_T_CSR_AUTH,
	CONFIG_T_STORAGE_URI,
	CONFIG_T_LOG_LEVEL,
	CONFIG_T_FRESHNESS,
	CONFIG_T_ADDR_LIST,
	CONFIG_T_GET_CERT,
};

enum {
	CONFIG_F_NONE = 0,
	CONFIG_F_REQUIRED = 1 << 0, /* an error when absent */
	CONFIG_F_PIN = 1 << 1,      /* an inline value is kept: config_check_engine_pin() decides */
};

struct config_key {
	const char *name; /* "server.workers" */
	enum config_key_type type;
	int flags;
	const char *def; /* as written in the file; NULL = unset */
	long long min;
	long long max;
	size_t offset; /* of the field in struct scepd_config */
};

#define CONFIG_KEY_GROUP(n) { .name = n, .type = CONFIG_T_GROUP },
#define CONFIG_KEY_SETTING(n, t, f, d, lo, hi, field)                                              \
	{ .name = n,                                                                               \
	  .type = CONFIG_T_##t,                                                                    \
	  .flags = CONFIG_F_##f,                                                                   \
	  .def = d,                                                                                \
	  .min = lo,                                                                               \
	  .max = hi,                                                                               \
	  .offset = offsetof(struct scepd_config, field) },

static const struct config_key config_keys[] = { CONFIG_KEYS(CONFIG_KEY_GROUP,
							     CONFIG_KEY_SETTING) };

#define CONFIG_NKEYS (sizeof(config_keys) / sizeof(config_keys[0]))

struct config_lines {
	int line[CONFIG_NKEYS]; /* indexed like config_keys; 0 = not written */
};

/* One error line, with what it takes to sort the lines into file order. */
struct config_msg {
	char *text;
	const char *file; /* NULL = the main file, else an @include file */
	int line;
	size_t seq;
	size_t rank; /* of file, filled in before sorting */
};

struct config_ctx {
	const char *name;    /* the file name for error lines */
	const char *basedir; /* absolute: relative paths are resolved against it */
	struct scepd_config *cfg;
	const config_setting_t *found[CONFIG_NKEYS]; /* where each setting was written */
	bool bad[CONFIG_NKEYS];                      /* it had an error of its own */
	size_t cur;                                  /* the key being converted, or CONFIG_NKEYS */
	struct config_msg *msgs;
	size_t n_msgs;
	const char **files; /* @include files in order of appearance */
	size_t n_files;
};

typedef int config_conv_fn(struct config_ctx *ctx, const struct config_key *key,
			   const config_setting_t *s, void *field);
typedef int config_str_fn(struct config_ctx *ctx, const struct config_key *key,
			  const config_setting_t *s, const char *v, void *field);

struct config_enum_value {
	const char *name;
	int value;
	bool alias; /* accepted, but not listed in messages */
};

struct config_type {
	config_conv_fn *conv;
	config_str_fn *str; /* for string settings (config_conv_string) */
};

/* Checks one (name, value) pair of a list; records errors, returns 0 or -ENOMEM. */
typedef int config_pair_check_fn(struct config_ctx *ctx, const config_setting_t *at,
				 const char *setting, const struct config_pairs *pairs, size_t i);

struct config_pair_rules {
	const char *shape;   /* how a pair is written, for messages */
	bool value_optional; /* engine commands: ("LOAD") */
	bool int_value;      /* engine commands: ("LIST_ADD", 1) */
	config_pair_check_fn *check;
};

/* Checks one field name of a request or set list, records errors. */
typedef int config_field_check_fn(struct config_ctx *ctx, const config_setting_t *at,
				  const char *setting, const char *field);

/* clang-format off */
static const char *const config_san_fields[] = {
	"otherName",    "rfc822Name",   "dNSName",
	"x400Address",  "directoryName", "ediPartyName",
	"uniformResourceIdentifier", "iPAddress", "registeredID",
	NULL,
};

static const char *const config_reserved_paths[] = {
	"/healthz",
	"/metrics",
	"/cgi-bin/pkiclient.exe",
	NULL,
};

static const char *const config_set_variables[] = {
	"REMOTE_ADDR",
	"REMOTE_USER",
	NULL,
};

static const struct config_enum_value config_challenge_values[] = {
	{ "none", CONFIG_CHALLENGE_NONE, false },
	{ "static", CONFIG_CHALLENGE_STATIC, false },
	{ "otp", CONFIG_CHALLENGE_OTP, false },
	{ NULL, 0, false },
};

static const struct config_enum_value config_approval_values[] = {
	{ "auto", CONFIG_APPROVAL_AUTO, false },
	{ "manual", CONFIG_APPROVAL_MANUAL, false },
	{ NULL, 0, false },
};

static const struct config_enum_value config_get_cert_values[] = {
	{ "same_subject", CONFIG_GET_CERT_SAME_SUBJECT, false },
	{ "any", CONFIG_GET_CERT_ANY, false },
	{ "none", CONFIG_GET_CERT_NONE, false },
	{ NULL, 0, false },
};

static const struct config_enum_value config_log_level_values[] = {
	{ "err", LOG_ERR, false },
	{ "error", LOG_ERR, true },
	{ "warning", LOG_WARNING, false },
	{ "warn", LOG_WARNING, true },
	{ "notice", LOG_NOTICE, false },
	{ "info", LOG_INFO, false },
	{ "debug", LOG_DEBUG, false },
	{ NULL, 0, false },
};

static const char *const config_digests[] = { "sha256", "sha384", "sha512", NULL };

/* clang-format on */

/* config_str_enum() stores these enums through an int. */
_Static_assert(sizeof(enum config_challenge_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_approval) == sizeof(int), "enum size");
_Static_assert(sizeof(enum config_get_cert) == sizeof(int), "enum size");

#define CONFIG_SECRET_SOURCES "use \"credential:NAME\", \"file:PATH\" or \"env:NAME\""

/* Keys */

static const struct config_key *
config_key_find(const char *name)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

static size_t
config_key_index(const struct config_key *key)
{
	return (size_t)(key - config_keys);
}

static const char *
config_key_leaf(const struct config_key *key)
{
	const char *dot = strrchr(key->name, '.');

	return dot != NULL ? dot + 1 : key->name;
}

/* Whether key sits directly in the group named parent ("" = top level). */
static bool
config_key_in(const struct config_key *key, const char *parent)
{
	size_t n = (size_t)(config_key_leaf(key) - key->name);

	if (n == 0)
		return parent[0] == '\0';
	return strlen(parent) == n - 1 && strncmp(key->name, parent, n - 1) == 0;
}

/* Errors */

static const char *
config_type_name(const config_setting_t *s)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_GROUP:
		return "a group";
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a floating-point number";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "a boolean";
	case CONFIG_TYPE_ARRAY:
		return "an array";
	case CONFIG_TYPE_LIST:
		return "a list";
	default:
		return "nothing";
	}
}

static int
config_msg_add(struct config_ctx *ctx, const char *file, int line, char *text)
{
	struct config_msg *m;

	m = reallocarray(ctx->msgs, ctx->n_msgs + 1, sizeof(*m));
	if (m == NULL) {
		free(text);
		return -ENOMEM;
	}
	ctx->msgs = m;
	ctx->msgs[ctx->n_msgs] =
		(struct config_msg){ .text = text, .file = file, .line = line, .seq = ctx->n_msgs };
	ctx->n_msgs++;
	return 0;
}

/*
 * Record "FILE:LINE: setting: what". at gives the file and line: the setting itself, or
 * the group it belongs in when it is missing (NULL = line 1 of the main file).
 */
static int __attribute__((format(printf, 4, 5)))
config_error(struct config_ctx *ctx, const config_setting_t *at, const char *setting,
	     const char *fmt, ...)
{
	const char *file = at != NULL ? config_setting_source_file(at) : NULL;
	int line = at != NULL ? (int)config_setting_source_line(at) : 0;
	char *what = NULL, *text = NULL;
	va_list ap;
	int r;

	if (ctx->cur < CONFIG_NKEYS)
		ctx->bad[ctx->cur] = true;
	va_start(ap, fmt);
	r = vasprintf(&what, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	r = asprintf(&text, "%s:%d: %s: %s", file != NULL ? file : ctx->name, line > 0 ? line : 1,
		     setting, what);
	free(what);
	if (r < 0)
		return -ENOMEM;
	return config_msg_add(ctx, file, line > 0 ? line : 1, text);
}

static int
config_wrong_type(struct config_ctx *ctx, const config_setting_t *s, const char *setting,
		  const char *expected)
{
	return config_error(ctx, s, setting, "expected %s, got %s", expected, config_type_name(s));
}

static int
config_range_error(struct config_ctx *ctx, const config_setting_t *s, const char *setting,
		   long long n, long long min, long long max)
{
	return config_error(ctx, s, setting, "%lld is out of range (%lld..%lld)", n, min, max);
}

static void
config_elem_name(char *buf, size_t size, const char *base, size_t i)
{
	snprintf(buf, size, "%s[%zu]", base, i);
}

/* Where settings were written */

static const config_setting_t *
config_found(const struct config_ctx *ctx, const char *name)
{
	const struct config_key *key = config_key_find(name);

	return key != NULL ? ctx->found[config_key_index(key)] : NULL;
}

/* Where to report name: the setting, else the closest enclosing group that was written. */
static const config_setting_t *
config_at(const struct config_ctx *ctx, const char *name)
{
	char buf[CONFIG_NAME_MAX];
	const config_setting_t *s;
	char *dot;

	snprintf(buf, sizeof(buf), "%s", name);
	for (;;) {
		if ((s = config_found(ctx, buf)) != NULL)
			return s;
		if ((dot = strrchr(buf, '.')) == NULL)
			return NULL;
		*dot = '\0';
	}
}

static bool
config_bad(const struct config_ctx *ctx, const char *name)
{
	const struct config_key *key = config_key_find(name);

	return key != NULL && ctx->bad[config_key_index(key)];
}

/* "Did you mean" */

/* Levenshtein distance, ignoring case; INT_MAX for overlong names. */
static int
config_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int row[CONFIG_DISTANCE_MAX_LEN + 1];

	if (la > CONFIG_DISTANCE_MAX_LEN || lb > CONFIG_DISTANCE_MAX_LEN)
		return INT_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int diag = row[0];

		row[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int up = row[j];
			int cost = tolower((unsigned char)a[i - 1]) !=
				   tolower((unsigned char)b[j - 1]);
			int best = diag + cost;

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* Close enough to suggest: at most a third of the longer name differs. */
static bool
config_close(const char *typed, const char *known, int *best)
{
	size_t la = strlen(typed), lb = strlen(known);
	int d = config_distance(typed, known);

	if (d == INT_MAX || (size_t)d * 3 > (la > lb ? la : lb) || d >= *best)
		return false;
	*best = d;
	return true;
}

static const char *
config_suggest_key(const char *parent, const char *leaf)
{
	const char *found = NULL;
	int best = INT_MAX;

	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (config_key_in(&config_keys[i], parent) &&
		    config_close(leaf, config_key_leaf(&config_keys[i]), &best))
			found = config_key_leaf(&config_keys[i]);
	return found;
}

static const char *
config_suggest_word(const char *const *words, const char *typed)
{
	const char *found = NULL;
	int best = INT_MAX;

	for (size_t i = 0; words[i] != NULL; i++)
		if (config_close(typed, words[i], &best))
			found = words[i];
	return found;
}

/* Paths and files */

static int
config_resolve(const struct config_ctx *ctx, const char *path, char **ret_path)
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
config_check_readable(const char *path)
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

/* Resolve v, check that it can be read and store the absolute path in *ret_path. */
static int
config_file(struct config_ctx *ctx, const config_setting_t *s, const char *setting, const char *v,
	    char **ret_path)
{
	char *path = NULL;
	int r;

	if (v[0] == '\0')
		return config_error(ctx, s, setting, "empty path");
	if ((r = config_resolve(ctx, v, &path)) < 0)
		return r;
	if ((r = config_check_readable(path)) < 0) {
		r = config_error(ctx, s, setting, "cannot read '%s': %s", path, strerror(-r));
		free(path);
		return r;
	}
	free(*ret_path);
	*ret_path = path;
	return 0;
}

/* Lists */

static int
config_strv_add(struct config_strv *sv, const char *s)
{
	char **v;

	if ((v = reallocarray(sv->v, sv->n + 1, sizeof(*v))) == NULL)
		return -ENOMEM;
	sv->v = v;
	if ((sv->v[sv->n] = strdup(s)) == NULL)
		return -ENOMEM;
	sv->n++;
	return 0;
}

static void
config_strv_free(struct config_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	*sv = (struct config_strv){ 0 };
}

static int
config_pairs_add(struct config_pairs *pairs, const char *name, const char *value, int line)
{
	struct config_pair *v;
	struct config_pair p = { .line = line };

	if ((v = reallocarray(pairs->v, pairs->n + 1, sizeof(*v))) == NULL)
		return -ENOMEM;
	pairs->v = v;
	if ((p.name = strdup(name)) == NULL)
		return -ENOMEM;
	if (value != NULL && (p.value = strdup(value)) == NULL) {
		free(p.name);
		return -ENOMEM;
	}
	pairs->v[pairs->n++] = p;
	return 0;
}

static void
config_pairs_free(struct config_pairs *pairs)
{
	for (size_t i = 0; i < pairs->n; i++) {
		free(pairs->v[i].name);
		free(pairs->v[i].value);
	}
	free(pairs->v);
	*pairs = (struct config_pairs){ 0 };
}

static int
config_rules_add(struct config_field_rules *rules, const char *field, int count)
{
	struct config_field_rule *v;

	if ((v = reallocarray(rules->v, rules->n + 1, sizeof(*v))) == NULL)
		return -ENOMEM;
	rules->v = v;
	if ((rules->v[rules->n].field = strdup(field)) == NULL)
		return -ENOMEM;
	rules->v[rules->n++].count = count;
	return 0;
}

static void
config_rules_free(struct config_field_rules *rules)
{
	for (size_t i = 0; i < rules->n; i++)
		free(rules->v[i].field);
	free(rules->v);
	*rules = (struct config_field_rules){ 0 };
}

static void
config_secret_free(struct config_secret *sec)
{
	if (sec->ref != NULL) {
		explicit_bzero(sec->ref, strlen(sec->ref));
		free(sec->ref);
	}
	*sec = (struct config_secret){ 0 };
}

static void
config_name_policy_free(struct config_name_policy *p)
{
	config_rules_free(&p->request);
	config_pairs_free(&p->set);
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
config_is_int(const config_setting_t *s)
{
	return config_setting_type(s) == CONFIG_TYPE_INT ||
	       config_setting_type(s) == CONFIG_TYPE_INT64;
}

/* An integer setting or element within [min, max]; *ret untouched on error. */
static int
config_int(struct config_ctx *ctx, const config_setting_t *s, const char *setting, long long min,
	   long long max, int *ret)
{
	long long n;

	if (!config_is_int(s))
		return config_wrong_type(ctx, s, setting, "an integer");
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
	return config_int(ctx, s, key->name, key->min, key->max, v);
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
config_str_plain(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		 const char *v, void *field)
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
config_str_file(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		const char *v, void *field)
{
	return config_file(ctx, s, key->name, v, field);
}

/* A key: a pkcs11: URI for the engine (see config_check_engine_keys) or a file. */
static int
config_str_key(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
	       const char *v, void *field)
{
	char **p = field;

	if (strncmp(v, "pkcs11:", 7) != 0)
		return config_file(ctx, s, key->name, v, p);
	if (v[7] == '\0')
		return config_error(ctx, s, key->name, "empty pkcs11: URI");
	if ((*p = strdup(v)) == NULL)
		return -ENOMEM;
	return 0;
}

static bool
config_is_env_name(const char *name)
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
config_secret_source(struct config_ctx *ctx, const struct config_key *key,
		     const config_setting_t *s, const char *v, enum config_secret_kind *ret_kind,
		     const char **ret_ref)
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
		if (!config_is_env_name(v + 4))
			msg = "\"env:NAME\" needs a variable NAME of letters, digits and '_'";
	} else if (v[0] == '\0') {
		msg = "empty; " CONFIG_SECRET_SOURCES;
	} else if (key->flags & CONFIG_F_PIN) {
		/* Kept for config_check_engine_pin(), which knows engine.allow_inline_pin. */
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
config_str_secret(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		  const char *v, void *field)
{
	struct config_secret *sec = field;
	enum config_secret_kind kind = CONFIG_SECRET_FILE;
	const char *src;
	char *ref = NULL;
	int r;

	if (strncmp(v, "file:", 5) == 0) {
		if ((r = config_file(ctx, s, key->name, v + 5, &ref)) < 0 || ref == NULL)
			return r;
	} else {
		if ((r = config_secret_source(ctx, key, s, v, &kind, &src)) != 0)
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
config_str_url_path(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		    const char *v, void *field)
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
config_str_url(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
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
config_str_digest(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		  const char *v, void *field)
{
	char **p = field;

	if (strcasecmp(v, "md5") == 0)
		return config_error(ctx, s, key->name,
				    "'%s' is refused: MD5 is broken; use \"sha256\", \"sha384\" "
				    "or \"sha512\"",
				    v);
	if (strcasecmp(v, "sha1") == 0 || strcasecmp(v, "sha-1") == 0)
		return config_error(ctx, s, key->name,
				    "'%s' is refused: SHA-1 collisions are practical; use "
				    "\"sha256\", \"sha384\" or \"sha512\"",
				    v);
	for (size_t i = 0; config_digests[i] != NULL; i++) {
		if (strcmp(v, config_digests[i]) == 0) {
			if ((*p = strdup(v)) == NULL)
				return -ENOMEM;
			return 0;
		}
	}
	return config_error(ctx, s, key->name,
			    "'%s' is not one of \"sha256\", \"sha384\", \"sha512\"", v);
}

/* "random", "subject" or "file:PATH" (a file scepd may create, so its directory must exist). */
static int
config_str_serial(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		  const char *v, void *field)
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
	if ((r = config_resolve(ctx, v + 5, &path)) < 0)
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
	free(ctx->cfg->ca.serial_file);
	ctx->cfg->ca.serial_file = path;
	*kind = CONFIG_SERIAL_FILE;
	return 0;
}

static const struct config_enum_value *
config_enum_values(enum config_key_type type)
{
	switch (type) {
	case CONFIG_T_CHALLENGE:
		return config_challenge_values;
	case CONFIG_T_APPROVAL:
		return config_approval_values;
	case CONFIG_T_GET_CERT:
		return config_get_cert_values;
	default:
		return config_log_level_values;
	}
}

static int
config_str_enum(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		const char *v, void *field)
{
	const struct config_enum_value *values = config_enum_values(key->type);
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
config_str_csr_auth(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		    const char *v, void *field)
{
	enum config_csr_auth *auth = field;
	int r;

	if (strcmp(v, "none") == 0) {
		*auth = CONFIG_CSR_AUTH_NONE;
		return 0;
	}
	if (strncmp(v, "tokens:", 7) != 0)
		return config_error(ctx, s, key->name,
				    "'%s' is not one of \"none\", \"tokens:PATH\"", v);
	if ((r = config_file(ctx, s, key->name, v + 7, &ctx->cfg->csr.tokens_file)) < 0)
		return r;
	if (ctx->cfg->csr.tokens_file != NULL)
		*auth = CONFIG_CSR_AUTH_TOKENS;
	return 0;
}

/* The URI is never quoted in messages: a PostgreSQL URI may hold a password. */
static int
config_str_storage_uri(struct config_ctx *ctx, const struct config_key *key,
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
	if ((r = config_resolve(ctx, v + 7, &path)) < 0)
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
		return config_strv_add(sv, key->def);
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
config_pair_get(struct config_ctx *ctx, const config_setting_t *e, const char *setting,
		const struct config_pair_rules *rules, const char **ret_name,
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
	} else if (rules->int_value && config_is_int(v)) {
		snprintf(intbuf, intsize, "%lld", config_setting_get_int64(v));
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
		  struct config_pairs *pairs, const struct config_pair_rules *rules)
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
		r = config_pair_get(ctx, e, name, rules, &pname, &pvalue, intbuf, sizeof(intbuf));
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
config_check_extension(struct config_ctx *ctx, const config_setting_t *at, const char *setting,
		       const struct config_pairs *pairs, size_t i)
{
	const struct config_pair *p = &pairs->v[i];
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	const char *reason;
	int nid = OBJ_txt2nid(p->name);

	if (nid == NID_undef || X509V3_EXT_get_nid(nid) == NULL)
		return config_error(ctx, at, setting,
				    "'%s' is not an X.509v3 extension known to OpenSSL", p->name);
	for (size_t j = 0; j < i; j++)
		if (OBJ_txt2nid(pairs->v[j].name) == nid)
			return config_error(ctx, at, setting, "'%s' is listed twice", p->name);
	if (p->value[0] == '\0')
		return config_error(ctx, at, setting, "empty value for %s", p->name);
	/* Test mode: keyid/hash need no issuer or subject, so only the syntax counts. */
	X509V3_set_ctx(&v3, NULL, NULL, NULL, NULL, X509V3_CTX_TEST);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, p->value)) != NULL) {
		X509_EXTENSION_free(ext);
		return 0;
	}
	reason = ERR_reason_error_string(ERR_peek_last_error());
	return config_error(ctx, at, setting, "OpenSSL refuses '%s' for %s%s%s", p->value, p->name,
			    reason != NULL ? ": " : "", reason != NULL ? reason : "");
}

static int
config_conv_commands(struct config_ctx *ctx, const struct config_key *key,
		     const config_setting_t *s, void *field)
{
	static const struct config_pair_rules rules = {
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
	static const struct config_pair_rules rules = {
		.shape = "(\"NAME\", \"VALUE\")",
		.check = config_check_extension,
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

static int
config_check_dn_field(struct config_ctx *ctx, const config_setting_t *at, const char *setting,
		      const char *field)
{
	if (OBJ_txt2nid(field) == NID_undef)
		return config_error(ctx, at, setting,
				    "'%s' is not a subject field known to OpenSSL", field);
	return 0;
}

static int
config_check_san_field(struct config_ctx *ctx, const config_setting_t *at, const char *setting,
		       const char *field)
{
	const char *hint;

	for (size_t i = 0; config_san_fields[i] != NULL; i++)
		if (strcmp(field, config_san_fields[i]) == 0)
			return 0;
	if ((hint = config_suggest_word(config_san_fields, field)) != NULL)
		return config_error(ctx, at, setting,
				    "'%s' is not a subjectAltName type, did you mean '%s'?", field,
				    hint);
	return config_error(ctx, at, setting,
			    "'%s' is not a subjectAltName type (otherName, rfc822Name, dNSName, "
			    "x400Address, directoryName, ediPartyName, uniformResourceIdentifier, "
			    "iPAddress, registeredID)",
			    field);
}

/* A set value: text with %{REMOTE_ADDR} and %{REMOTE_USER}. */
static int
config_check_set_value(struct config_ctx *ctx, const config_setting_t *at, const char *setting,
		       const char *value)
{
	const char *p = value, *end;

	if (value == NULL || value[0] == '\0')
		return config_error(ctx, at, setting, "empty value");
	while ((p = strstr(p, "%{")) != NULL) {
		bool known = false;

		if ((end = strchr(p, '}')) == NULL)
			return config_error(ctx, at, setting, "'%s': unterminated '%%{'", value);
		for (size_t i = 0; config_set_variables[i] != NULL; i++)
			if (strlen(config_set_variables[i]) == (size_t)(end - p - 2) &&
			    strncmp(p + 2, config_set_variables[i], (size_t)(end - p - 2)) == 0)
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
config_check_dn_set(struct config_ctx *ctx, const config_setting_t *at, const char *setting,
		    const struct config_pairs *pairs, size_t i)
{
	int r;

	if ((r = config_check_dn_field(ctx, at, setting, pairs->v[i].name)) < 0)
		return r;
	return config_check_set_value(ctx, at, setting, pairs->v[i].value);
}

static int
config_check_san_set(struct config_ctx *ctx, const config_setting_t *at, const char *setting,
		     const struct config_pairs *pairs, size_t i)
{
	int r;

	static const char *const structured[] = { "otherName", "x400Address", "directoryName",
						  "ediPartyName" };

	if ((r = config_check_san_field(ctx, at, setting, pairs->v[i].name)) < 0)
		return r;
	/* The policy can only make text types from a set value; refuse the rest here. */
	for (size_t k = 0; k < sizeof(structured) / sizeof(structured[0]); k++)
		if (strcmp(pairs->v[i].name, structured[k]) == 0)
			return config_error(
				ctx, at, setting,
				"cannot set %s from text (rfc822Name, dNSName, "
				"uniformResourceIdentifier, iPAddress, registeredID can be set)",
				pairs->v[i].name);
	return config_check_set_value(ctx, at, setting, pairs->v[i].value);
}

static int
config_conv_dn_set(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		   void *field)
{
	static const struct config_pair_rules rules = {
		.shape = "(\"FIELD\", \"VALUE\")",
		.check = config_check_dn_set,
	};

	return s != NULL ? config_conv_pairs(ctx, key, s, field, &rules) : 0;
}

static int
config_conv_san_set(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		    void *field)
{
	static const struct config_pair_rules rules = {
		.shape = "(\"FIELD\", \"VALUE\")",
		.check = config_check_san_set,
	};

	return s != NULL ? config_conv_pairs(ctx, key, s, field, &rules) : 0;
}

/* One request entry: "FIELD" or ("FIELD", COUNT); 1 after a recorded error. */
static int
config_request_get(struct config_ctx *ctx, const config_setting_t *e, const char *setting,
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
	    !config_is_int(c = config_setting_get_elem(e, 1))) {
		r = config_error(ctx, e, setting, "expected \"FIELD\" or (\"FIELD\", COUNT)");
		return r < 0 ? r : 1;
	}
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
		    struct config_field_rules *rules, config_field_check_fn *check)
{
	char name[CONFIG_NAME_MAX + 24];
	int n, count, r = 0;

	if (s == NULL)
		return key->def != NULL ? config_rules_add(rules, key->def, CONFIG_COUNT_UNLIMITED)
					: 0;
	if (!config_setting_is_array(s) && !config_setting_is_list(s))
		return config_wrong_type(ctx, s, key->name, "an array or a list");
	n = config_setting_length(s);
	for (int i = 0; i < n && r >= 0; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		const char *f;

		config_elem_name(name, sizeof(name), key->name, (size_t)i);
		if ((r = config_request_get(ctx, e, name, &f, &count)) != 0)
			continue;
		for (size_t j = 0; j < rules->n && r == 0; j++)
			if (strcmp(rules->v[j].field, f) == 0)
				r = 1;
		if (r == 1)
			r = config_error(ctx, e, name, "'%s' is listed twice", f);
		else if (strcmp(f, CONFIG_FIELD_ANY) != 0 && (r = check(ctx, e, name, f)) < 0)
			break;
		else
			r = config_rules_add(rules, f, count);
	}
	return r < 0 ? r : 0;
}

static int
config_conv_dn_request(struct config_ctx *ctx, const struct config_key *key,
		       const config_setting_t *s, void *field)
{
	return config_conv_request(ctx, key, s, field, config_check_dn_field);
}

static int
config_conv_san_request(struct config_ctx *ctx, const struct config_key *key,
			const config_setting_t *s, void *field)
{
	return config_conv_request(ctx, key, s, field, config_check_san_field);
}

/* scep.freshness: FACTOR, [FACTOR] or [FACTOR, MAX_SECONDS]. */
static int
config_conv_freshness(struct config_ctx *ctx, const struct config_key *key,
		      const config_setting_t *s, void *field)
{
	int *factor = field, *max = &ctx->cfg->scep.freshness_max;
	char name[CONFIG_NAME_MAX + 24];
	int n, r;

	*max = CONFIG_FRESHNESS_MAX_DEFAULT;
	if (s == NULL) {
		*factor = (int)strtol(key->def, NULL, 10);
		return 0;
	}
	if (config_is_int(s))
		return config_int(ctx, s, key->name, key->min, key->max, factor);
	n = config_setting_is_aggregate(s) ? config_setting_length(s) : 0;
	if (config_setting_is_group(s) || n < 1 || n > 2)
		return config_error(ctx, s, key->name,
				    "expected [FACTOR] or [FACTOR, MAX_SECONDS]");
	config_elem_name(name, sizeof(name), key->name, 0);
	r = config_int(ctx, config_setting_get_elem(s, 0), name, key->min, key->max, factor);
	if (r < 0 || n < 2)
		return r;
	config_elem_name(name, sizeof(name), key->name, 1);
	return config_int(ctx, config_setting_get_elem(s, 1), name, 0, CONFIG_FRESHNESS_MAX_LIMIT,
			  max);
}

/* scep.allow, csr.allow: client addresses or networks; absent = every address. */
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
		return config_error(ctx, s, key->name,
				    "empty; remove the setting to allow every address");
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

/* clang-format off */
static const struct config_type config_types[] = {
	[CONFIG_T_GROUP] = { config_conv_group, NULL },
	[CONFIG_T_INT] = { config_conv_int, NULL },
	[CONFIG_T_BOOL] = { config_conv_bool, NULL },
	[CONFIG_T_STRING] = { config_conv_string, config_str_plain },
	[CONFIG_T_FILE] = { config_conv_string, config_str_file },
	[CONFIG_T_KEY] = { config_conv_string, config_str_key },
	[CONFIG_T_SECRET] = { config_conv_string, config_str_secret },
	[CONFIG_T_LISTEN] = { config_conv_listen, NULL },
	[CONFIG_T_COMMANDS] = { config_conv_commands, NULL },
	[CONFIG_T_EXTENSIONS] = { config_conv_extensions, NULL },
	[CONFIG_T_DN_REQUEST] = { config_conv_dn_request, NULL },
	[CONFIG_T_DN_SET] = { config_conv_dn_set, NULL },
	[CONFIG_T_SAN_REQUEST] = { config_conv_san_request, NULL },
	[CONFIG_T_SAN_SET] = { config_conv_san_set, NULL },
	[CONFIG_T_URL_PATH] = { config_conv_string, config_str_url_path },
	[CONFIG_T_URL] = { config_conv_string, config_str_url },
	[CONFIG_T_DIGEST] = { config_conv_string, config_str_digest },
	[CONFIG_T_SERIAL] = { config_conv_string, config_str_serial },
	[CONFIG_T_CHALLENGE] = { config_conv_string, config_str_enum },
	[CONFIG_T_APPROVAL] = { config_conv_string, config_str_enum },
	[CONFIG_T_CSR_AUTH] = { config_conv_string, config_str_csr_auth },
	[CONFIG_T_STORAGE_URI] = { config_conv_string, config_str_storage_uri },
	[CONFIG_T_LOG_LEVEL] = { config_conv_string, config_str_enum },
	[CONFIG_T_FRESHNESS] = { config_conv_freshness, NULL },
	[CONFIG_T_ADDR_LIST] = { config_conv_addr_list, NULL },
	[CONFIG_T_GET_CERT] = { config_conv_string, config_str_enum },
};
/* clang-format on */

/* A string setting: the default, or the value written, handed to the type's str function. */
static int
config_conv_string(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		   void *field)
{
	config_str_fn *str = config_types[key->type].str;

	if (s == NULL)
		return key->def != NULL ? str(ctx, key, NULL, key->def, field) : 0;
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return config_wrong_type(ctx, s, key->name, "a string");
	return str(ctx, key, s, config_setting_get_string(s), field);
}

/* Rules between settings */

/* Whether element e of engine.pre/post is a ("PIN", ...) command. */
static bool
config_is_pin_command(const config_setting_t *e)
{
	const config_setting_t *n;

	if (!config_setting_is_list(e) && !config_setting_is_array(e))
		return false;
	n = config_setting_get_elem(e, 0);
	return n != NULL && config_setting_type(n) == CONFIG_TYPE_STRING &&
	       strcasecmp(config_setting_get_string(n), "PIN") == 0;
}

static int
config_check_engine_pin(struct config_ctx *ctx)
{
	static const char *const lists[] = { "engine.pre", "engine.post" };
	char name[CONFIG_NAME_MAX + 24];
	int r = 0;

	if (ctx->cfg->engine.allow_inline_pin)
		return 0;
	if (ctx->cfg->engine.pin.kind == CONFIG_SECRET_INLINE)
		r = config_error(
			ctx, config_at(ctx, "engine.pin"), "engine.pin",
			"a PIN written in the configuration file is refused; " CONFIG_SECRET_SOURCES
			", or set engine.allow_inline_pin = true");
	for (size_t l = 0; l < 2 && r >= 0; l++) {
		const config_setting_t *list = config_found(ctx, lists[l]);
		int n = list != NULL && config_setting_is_aggregate(list)
				? config_setting_length(list)
				: 0;

		for (int i = 0; i < n && r >= 0; i++) {
			const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);

			if (!config_is_pin_command(e))
				continue;
			config_elem_name(name, sizeof(name), lists[l], (size_t)i);
			r = config_error(ctx, e, name,
					 "a PIN written in the configuration file is refused; use "
					 "engine.pin, or set engine.allow_inline_pin = true");
		}
	}
	return r;
}

/* Engine settings without engine.id do nothing: that is a mistake worth a line. */
static int
config_check_engine_id(struct config_ctx *ctx)
{
	const struct config_engine *e = &ctx->cfg->engine;
	int r = 0;

	if (e->id != NULL || config_bad(ctx, "engine.id"))
		return 0;
	if (e->pre.n > 0)
		r = config_error(ctx, config_at(ctx, "engine.pre"), "engine.pre",
				 "has no effect without engine.id");
	if (r >= 0 && e->post.n > 0)
		r = config_error(ctx, config_at(ctx, "engine.post"), "engine.post",
				 "has no effect without engine.id");
	if (r >= 0 && e->pin.kind != CONFIG_SECRET_NONE)
		r = config_error(ctx, config_at(ctx, "engine.pin"), "engine.pin",
				 "has no effect without engine.id");
	for (size_t i = 0; i < 2 && r >= 0; i++) {
		const char *name = i == 0 ? "ca.key" : "scep.ra.key";
		const char *v = i == 0 ? ctx->cfg->ca.key : ctx->cfg->scep.ra.key;

		if (v != NULL && strncmp(v, "pkcs11:", 7) == 0)
			r = config_error(ctx, config_at(ctx, name), name,
					 "a pkcs11: URI needs engine.id to be set");
	}
	return r;
}

/* The RA is a certificate and a key, or nothing. */
static int
config_check_ra(struct config_ctx *ctx)
{
	const struct config_scep_ra *ra = &ctx->cfg->scep.ra;
	bool cert = config_found(ctx, "scep.ra.certificate") != NULL;
	bool key = config_found(ctx, "scep.ra.key") != NULL;

	if (cert && !key)
		return config_error(ctx, config_at(ctx, "scep.ra.key"), "scep.ra.key",
				    "required when scep.ra.certificate is set");
	if (key && !cert)
		return config_error(ctx, config_at(ctx, "scep.ra.certificate"),
				    "scep.ra.certificate", "required when scep.ra.key is set");
	if (ra->next_certificate != NULL && !cert)
		return config_error(ctx, config_at(ctx, "scep.ra.next_certificate"),
				    "scep.ra.next_certificate", "needs scep.ra.certificate");
	return 0;
}

static int
config_check_challenge(struct config_ctx *ctx)
{
	const struct config_scep *scep = &ctx->cfg->scep;
	bool secret = config_found(ctx, "scep.challenge.secret") != NULL;

	if (config_bad(ctx, "scep.challenge.mode"))
		return 0;
	if (scep->challenge_mode == CONFIG_CHALLENGE_STATIC && !secret)
		return config_error(ctx, config_at(ctx, "scep.challenge.secret"),
				    "scep.challenge.secret",
				    "required when scep.challenge.mode = \"static\"");
	if (scep->challenge_mode != CONFIG_CHALLENGE_STATIC && secret)
		return config_error(ctx, config_at(ctx, "scep.challenge.secret"),
				    "scep.challenge.secret",
				    "only used when scep.challenge.mode = \"static\"");
	return 0;
}

static bool
config_path_reserved(const char *path)
{
	for (size_t i = 0; path != NULL && config_reserved_paths[i] != NULL; i++)
		if (strcmp(path, config_reserved_paths[i]) == 0)
			return true;
	return false;
}

static int
config_check_paths(struct config_ctx *ctx)
{
	static const char *const names[] = { "scep.path", "csr.path" };
	/* /csr that is not served takes no path away from SCEP. */
	const char *paths[] = { ctx->cfg->scep.path,
				ctx->cfg->csr.enabled ? ctx->cfg->csr.path : NULL };
	bool reserved = false;
	int r;

	for (size_t i = 0; i < 2; i++) {
		if (!config_path_reserved(paths[i]))
			continue;
		reserved = true;
		r = config_error(ctx, config_at(ctx, names[i]), names[i],
				 "'%s' is reserved (/healthz, /metrics, /cgi-bin/pkiclient.exe)",
				 paths[i]);
		if (r < 0)
			return r;
	}
	if (reserved || paths[0] == NULL || paths[1] == NULL || strcmp(paths[0], paths[1]) != 0)
		return 0;
	/* Report it where it was written: csr.path, unless only scep.path was. */
	if (config_found(ctx, "csr.path") != NULL)
		return config_error(ctx, config_at(ctx, "csr.path"), "csr.path",
				    "'%s' is also scep.path", paths[1]);
	return config_error(ctx, config_at(ctx, "scep.path"), "scep.path", "'%s' is also csr.path",
			    paths[0]);
}

/*
 * /csr is served only when the file says how its clients authenticate: a forgotten
 * setting must not leave an open certificate endpoint.
 */
static int
config_check_csr(struct config_ctx *ctx)
{
	const config_setting_t *group = config_found(ctx, "csr");

	ctx->cfg->csr.enabled =
		config_found(ctx, "csr.auth") != NULL && !config_bad(ctx, "csr.auth");
	if (group == NULL || !config_setting_is_group(group) ||
	    config_found(ctx, "csr.auth") != NULL)
		return 0;
	return config_error(ctx, group, "csr.auth",
			    "required: say how /csr clients authenticate (\"none\" or "
			    "\"tokens:PATH\")");
}

/* -1 (the default): no single address may take all of a worker's connections. */
static void
config_resolve_per_ip(struct config_ctx *ctx)
{
	struct config_server *srv = &ctx->cfg->server;

	if (srv->max_connections_per_ip != -1)
		return;
	srv->max_connections_per_ip = srv->max_connections / CONFIG_PER_IP_AUTO_SHARE;
	if (srv->max_connections_per_ip < 1)
		srv->max_connections_per_ip = 1;
}

/* Walking the file */

/* The setting at a dotted name; *ret_blocked when an enclosing name is not a group. */
static const config_setting_t *
config_find(const config_setting_t *root, const char *name, bool *ret_blocked)
{
	const config_setting_t *s = root;
	const char *p = name, *dot;
	char part[CONFIG_NAME_MAX];

	*ret_blocked = false;
	while (s != NULL) {
		if (!config_setting_is_group(s)) {
			*ret_blocked = true;
			return NULL;
		}
		dot = strchr(p, '.');
		snprintf(part, sizeof(part), "%.*s", dot != NULL ? (int)(dot - p) : (int)strlen(p),
			 p);
		s = config_setting_get_member(s, part);
		if (dot == NULL)
			return s;
		p = dot + 1;
	}
	return NULL;
}

static int
config_read_keys(struct config_ctx *ctx, const config_setting_t *root)
{
	int r = 0;

	for (size_t i = 0; i < CONFIG_NKEYS && r >= 0; i++) {
		const struct config_key *key = &config_keys[i];
		bool blocked;
		const config_setting_t *s = config_find(root, key->name, &blocked);

		ctx->cur = i;
		ctx->found[i] = s;
		if (s != NULL)
			ctx->cfg->lines->line[i] = (int)config_setting_source_line(s);
		if (s == NULL && !blocked && (key->flags & CONFIG_F_REQUIRED))
			r = config_error(ctx, config_at(ctx, key->name), key->name,
					 "required setting missing");
		else
			r = config_types[key->type].conv(ctx, key, s,
							 (char *)ctx->cfg + key->offset);
	}
	ctx->cur = CONFIG_NKEYS;
	return r;
}

static int
config_note_file(struct config_ctx *ctx, const char *file)
{
	const char **v;

	if (file == NULL)
		return 0;
	for (size_t i = 0; i < ctx->n_files; i++)
		if (strcmp(ctx->files[i], file) == 0)
			return 0;
	if ((v = reallocarray(ctx->files, ctx->n_files + 1, sizeof(*v))) == NULL)
		return -ENOMEM;
	ctx->files = v;
	ctx->files[ctx->n_files++] = file;
	return 0;
}

static int
config_unknown(struct config_ctx *ctx, const config_setting_t *s, const char *parent)
{
	const char *leaf = config_setting_name(s);
	const char *hint = config_suggest_key(parent, leaf);
	char name[CONFIG_NAME_MAX * 2];

	snprintf(name, sizeof(name), "%s%s%s", parent, parent[0] != '\0' ? "." : "", leaf);
	if (hint != NULL)
		return config_error(ctx, s, name, "unknown setting '%s', did you mean '%s'?", leaf,
				    hint);
	return config_error(ctx, s, name, "unknown setting '%s'", leaf);
}

/* Report every member of group (named path) that the table does not know. */
static int
config_walk(struct config_ctx *ctx, const config_setting_t *group, const char *path)
{
	int n = config_setting_length(group), r = 0;

	for (int i = 0; i < n && r >= 0; i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		const struct config_key *key;
		char name[CONFIG_NAME_MAX];
		int len;

		if ((r = config_note_file(ctx, config_setting_source_file(s))) < 0)
			break;
		len = snprintf(name, sizeof(name), "%s%s%s", path, path[0] != '\0' ? "." : "",
			       config_setting_name(s));
		key = len < (int)sizeof(name) ? config_key_find(name) : NULL;
		if (key == NULL)
			r = config_unknown(ctx, s, path);
		else if (key->type == CONFIG_T_GROUP && config_setting_is_group(s))
			r = config_walk(ctx, s, name);
	}
	return r;
}

/* Results */

static size_t
config_file_rank(const struct config_ctx *ctx, const char *file)
{
	if (file == NULL)
		return 0;
	for (size_t i = 0; i < ctx->n_files; i++)
		if (strcmp(ctx->files[i], file) == 0)
			return i + 1;
	return ctx->n_files + 1;
}

static int
config_msg_cmp(const void *a, const void *b)
{
	const struct config_msg *x = a, *y = b;

	if (x->rank != y->rank)
		return x->rank < y->rank ? -1 : 1;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Sort the lines into file order and move them to errs. */
static int
config_msgs_move(struct config_ctx *ctx, struct config_errors *errs)
{
	char **v;

	for (size_t i = 0; i < ctx->n_msgs; i++)
		ctx->msgs[i].rank = config_file_rank(ctx, ctx->msgs[i].file);
	qsort(ctx->msgs, ctx->n_msgs, sizeof(*ctx->msgs), config_msg_cmp);
	if (errs == NULL)
		return 0;
	if ((v = reallocarray(errs->v, errs->n + ctx->n_msgs, sizeof(*v))) == NULL)
		return -ENOMEM;
	errs->v = v;
	for (size_t i = 0; i < ctx->n_msgs; i++) {
		errs->v[errs->n++] = ctx->msgs[i].text;
		ctx->msgs[i].text = NULL;
	}
	return 0;
}

static void
config_ctx_done(struct config_ctx *ctx)
{
	for (size_t i = 0; i < ctx->n_msgs; i++)
		free(ctx->msgs[i].text);
	free(ctx->msgs);
	free(ctx->files);
}

static int __attribute__((format(printf, 2, 3)))
config_errors_add(struct config_errors *errs, const char *fmt, ...)
{
	char **v, *text = NULL;
	va_list ap;
	int r;

	if (errs == NULL) /* the caller wants the verdict only */
		return 0;
	va_start(ap, fmt);
	r = vasprintf(&text, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	if ((v = reallocarray(errs->v, errs->n + 1, sizeof(*v))) == NULL) {
		free(text);
		return -ENOMEM;
	}
	errs->v = v;
	errs->v[errs->n++] = text;
	return 0;
}

static int
config_syntax_error(const config_t *lc, const char *name, struct config_errors *errs)
{
	const char *file = config_error_file(lc), *text = config_error_text(lc);

	if (text == NULL || strcmp(text, "syntax error") == 0)
		return config_errors_add(errs, "%s:%d: syntax error", file != NULL ? file : name,
					 config_error_line(lc));
	return config_errors_add(errs, "%s:%d: syntax error: %s", file != NULL ? file : name,
				 config_error_line(lc), text);
}

static int
config_new(const char *path, struct scepd_config **ret_cfg)
{
	struct scepd_config *cfg;

	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return -ENOMEM;
	if ((cfg->path = strdup(path)) == NULL ||
	    (cfg->lines = calloc(1, sizeof(*cfg->lines))) == NULL) {
		config_free(cfg);
		return -ENOMEM;
	}
	*ret_cfg = cfg;
	return 0;
}

/* A password is for a PostgreSQL server: an SQLite file has none. */
static int
config_check_storage(struct config_ctx *ctx)
{
	const struct config_storage *st = &ctx->cfg->storage;

	if (st->password.kind == CONFIG_SECRET_NONE || st->uri == NULL ||
	    strncmp(st->uri, "sqlite:", 7) != 0)
		return 0;
	return config_error(ctx, config_at(ctx, "storage.password"), "storage.password",
			    "only for a \"postgresql://\" URI: an SQLite store has no password");
}

/* Everything from the libconfig tree to a checked struct. */
static int
config_from_tree(struct config_ctx *ctx, const config_t *lc)
{
	const config_setting_t *root = config_root_setting(lc);
	int r;

	if ((r = config_walk(ctx, root, "")) < 0 || (r = config_read_keys(ctx, root)) < 0 ||
	    (r = config_check_engine_pin(ctx)) < 0 || (r = config_check_engine_id(ctx)) < 0 ||
	    (r = config_check_ra(ctx)) < 0 || (r = config_check_challenge(ctx)) < 0 ||
	    (r = config_check_csr(ctx)) < 0 || (r = config_check_paths(ctx)) < 0 ||
	    (r = config_check_storage(ctx)) < 0)
		return r;
	config_resolve_per_ip(ctx);
	return 0;
}

static int
config_parse(const char *text, const char *name, const char *basedir, const char *cfg_path,
	     struct scepd_config **ret_cfg, struct config_errors *errs)
{
	struct config_ctx ctx = { .name = name, .basedir = basedir, .cur = CONFIG_NKEYS };
	struct scepd_config *cfg = NULL;
	config_t lc;
	FILE *f;
	int r;

	config_init(&lc);
	config_set_include_dir(&lc, basedir);
	ERR_set_mark(); /* leave OpenSSL's error queue as we found it */
	/* fmemopen() in "r" mode does not write: the cast only satisfies its prototype. */
	if ((f = fmemopen((void *)(uintptr_t)text, strlen(text), "r")) == NULL) {
		r = -errno;
		goto out;
	}
	if (!config_read(&lc, f)) {
		r = config_syntax_error(&lc, name, errs);
		r = r < 0 ? r : -EINVAL;
		goto out;
	}
	if ((r = config_new(cfg_path, &cfg)) < 0)
		goto out;
	ctx.cfg = cfg;
	if ((r = config_from_tree(&ctx, &lc)) < 0)
		goto out;
	if (ctx.n_msgs > 0) {
		r = config_msgs_move(&ctx, errs);
		r = r < 0 ? r : -EINVAL;
		goto out;
	}
	*ret_cfg = cfg;
	cfg = NULL; /* the caller owns it now */
	r = 0;
out:
	if (f != NULL)
		fclose(f);
	config_ctx_done(&ctx);
	config_free(cfg);
	config_destroy(&lc);
	ERR_pop_to_mark();
	return r;
}

/* Public interface */

static int
config_absolute(const char *path, char **ret_path)
{
	char cwd[PATH_MAX];
	char *p;

	if (path[0] == '/')
		p = strdup(path);
	else if (getcwd(cwd, sizeof(cwd)) == NULL)
		return -errno;
	else if (strcmp(path, ".") == 0)
		p = strdup(cwd);
	else if (asprintf(&p, "%s/%s", cwd, path) < 0)
		p = NULL;
	if (p == NULL)
		return -ENOMEM;
	*ret_path = p;
	return 0;
}

/* The directory part of an absolute path: "/etc/scepd" for "/etc/scepd/scepd.conf". */
static int
config_dirname(const char *abs, char **ret_dir)
{
	char *dir, *slash;

	if ((dir = strdup(abs)) == NULL)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash == dir)
		slash[1] = '\0';
	else
		slash[0] = '\0';
	*ret_dir = dir;
	return 0;
}

/* Grow buf to size bytes without leaving a copy of its contents behind. */
static int
config_grow(char **buf, size_t len, size_t size)
{
	char *nbuf;

	if ((nbuf = malloc(size)) == NULL)
		return -ENOMEM;
	if (*buf != NULL) {
		memcpy(nbuf, *buf, len);
		explicit_bzero(*buf, len);
		free(*buf);
	}
	*buf = nbuf;
	return 0;
}

/* The whole file, NUL-terminated; less than CONFIG_FILE_MAX bytes. */
static int
config_slurp(const char *path, char **ret_text, size_t *ret_size)
{
	char *buf = NULL;
	size_t len = 0, size = 0;
	ssize_t n;
	int fd, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return -errno;
	for (;;) {
		if (len + 1 >= size) {
			if ((size = size == 0 ? 4096 : size * 2) > CONFIG_FILE_MAX) {
				r = -EFBIG;
				goto out;
			}
			if ((r = config_grow(&buf, len, size)) < 0)
				goto out;
		}
		n = read(fd, buf + len, size - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		r = -EBADMSG;
		goto out;
	}
	*ret_text = buf;
	*ret_size = len;
	buf = NULL;
	r = 0;
out:
	if (buf != NULL) {
		explicit_bzero(buf, len);
		free(buf);
	}
	close(fd);
	return r;
}

int
config_load(const char *path, struct scepd_config **ret_cfg, struct config_errors *errs)
{
	char *text = NULL, *abs = NULL, *dir = NULL;
	size_t len = 0;
	int r, q;

	if (path == NULL)
		return -EINVAL;
	if ((r = config_slurp(path, &text, &len)) < 0) {
		q = config_errors_add(errs, "%s: cannot read: %s", path,
				      r == -EBADMSG ? "contains a NUL byte" : strerror(-r));
		r = q < 0 ? q : r;
		goto out;
	}
	if ((r = config_absolute(path, &abs)) < 0 || (r = config_dirname(abs, &dir)) < 0)
		goto out;
	r = config_parse(text, path, dir, abs, ret_cfg, errs);
out:
	if (text != NULL) {
		explicit_bzero(text, len); /* it may hold an inline PIN */
		free(text);
	}
	free(abs);
	free(dir);
	return r;
}

int
config_load_string(const char *text, const char *name, const char *basedir,
		   struct scepd_config **ret_cfg, struct config_errors *errs)
{
	char *dir = NULL;
	int r;

	if (text == NULL)
		return -EINVAL;
	if (name == NULL)
		name = "(string)";
	if ((r = config_absolute(basedir != NULL ? basedir : ".", &dir)) < 0)
		return r;
	r = config_parse(text, name, dir, name, ret_cfg, errs);
	free(dir);
	return r;
}

void
config_free(struct scepd_config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	config_strv_free(&cfg->server.listen);
	free(cfg->server.user);
	free(cfg->server.group);
	free(cfg->engine.id);
	config_pairs_free(&cfg->engine.pre);
	config_pairs_free(&cfg->engine.post);
	config_secret_free(&cfg->engine.pin);
	free(cfg->ca.certificate);
	free(cfg->ca.key);
	config_secret_free(&cfg->ca.key_passphrase);
	free(cfg->ca.next_certificate);
	free(cfg->ca.serial_file);
	free(cfg->ca.digest);
	config_pairs_free(&cfg->ca.extensions);
	free(cfg->scep.path);
	addr_allow_free(cfg->scep.allow);
	free(cfg->scep.ra.certificate);
	free(cfg->scep.ra.key);
	config_secret_free(&cfg->scep.ra.key_passphrase);
	free(cfg->scep.ra.next_certificate);
	config_secret_free(&cfg->scep.challenge_secret);
	config_name_policy_free(&cfg->scep.subject);
	config_name_policy_free(&cfg->scep.subject_alt_name);
	free(cfg->scep.crl_url);
	free(cfg->scep.location);
	free(cfg->csr.path);
	addr_allow_free(cfg->csr.allow);
	free(cfg->csr.tokens_file);
	config_name_policy_free(&cfg->csr.subject);
	config_name_policy_free(&cfg->csr.subject_alt_name);
	free(cfg->storage.uri);
	config_secret_free(&cfg->storage.password);
	free(cfg->lines);
	free(cfg);
}

int
config_worker_count(const struct scepd_config *cfg)
{
	long max = config_key_find("server.workers")->max;
	long n;

	if (cfg->server.workers > 0)
		return cfg->server.workers;
	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return (int)(n < max ? n : max);
}

void
config_errors_clear(struct config_errors *errs)
{
	if (errs == NULL)
		return;
	for (size_t i = 0; i < errs->n; i++)
		free(errs->v[i]);
	free(errs->v);
	*errs = (struct config_errors){ 0 };
}

int
config_line(const struct scepd_config *cfg, const char *setting)
{
	const struct config_key *key;

	if (cfg == NULL || cfg->lines == NULL || setting == NULL ||
	    (key = config_key_find(setting)) == NULL)
		return 0;
	return cfg->lines->line[config_key_index(key)];
}

/* Warnings */

static int
config_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode src[0..len) into buf; false when it is malformed or does not fit. */
static bool
config_pg_decode(const char *src, size_t len, char *buf, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		char c = src[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return false;
			if ((hi = config_hexval(src[i + 1])) < 0 ||
			    (lo = config_hexval(src[i + 2])) < 0)
				return false;
			c = (char)(hi * 16 + lo);
			i += 2;
		}
		if (o + 1 >= size)
			return false;
		buf[o++] = c;
	}
	buf[o] = '\0';
	return true;
}

/* A host libpq reaches without leaving the machine: a socket directory or loopback. */
static bool
config_pg_host_local(const char *host)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (host[0] == '\0' || host[0] == '/' || host[0] == '@' ||
	    strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

/*
 * Whether every host of a comma-separated list is local. In the authority of a URI
 * (in_uri) a host may carry a port and an IPv6 address is in brackets; a host= value
 * is percent-decoded already and is plain host names or addresses.
 */
static bool
config_pg_hosts_local(const char *list, size_t len, bool in_uri)
{
	char host[256];

	while (len > 0) {
		size_t n = 0, hl;
		const char *h = list, *end;

		while (n < len && list[n] != ',')
			n++;
		hl = n;
		if (in_uri && n > 0 && h[0] == '[') {
			if ((end = memchr(h, ']', n)) == NULL)
				return false;
			h++;
			hl = (size_t)(end - h);
		} else if (in_uri && (end = memchr(h, ':', n)) != NULL) {
			hl = (size_t)(end - h);
		}
		if (in_uri && !config_pg_decode(h, hl, host, sizeof(host)))
			return false;
		if (!in_uri) {
			if (hl >= sizeof(host))
				return false;
			memcpy(host, h, hl);
			host[hl] = '\0';
		}
		if (!config_pg_host_local(host))
			return false;
		list += n < len ? n + 1 : n;
		len -= n < len ? n + 1 : n;
	}
	return true;
}

bool
config_pg_uri_unverified(const char *uri)
{
	const char *p, *q, *query;
	char value[1024];
	bool remote, verified = false;
	size_t hostlen;

	if (uri == NULL)
		return false;
	if (strncmp(uri, "postgresql://", 13) == 0)
		p = uri + 13;
	else if (strncmp(uri, "postgres://", 11) == 0)
		p = uri + 11;
	else
		return false;
	/* user[:password]@ ends at the first '@' unless a '/' comes first (as libpq reads it). */
	for (q = p; *q != '\0' && *q != '@' && *q != '/'; q++)
		;
	if (*q == '@')
		p = q + 1;
	hostlen = strcspn(p, "/?");
	remote = !config_pg_hosts_local(p, hostlen, true);
	query = strchr(p + hostlen, '?');
	for (p = query != NULL ? query + 1 : NULL; p != NULL && *p != '\0';) {
		size_t n = strcspn(p, "&"), klen = strcspn(p, "=&");
		bool decoded = klen < n &&
			       config_pg_decode(p + klen + 1, n - klen - 1, value, sizeof(value));

		if (klen == 7 && strncmp(p, "sslmode", 7) == 0)
			verified = decoded && strcmp(value, "verify-full") == 0;
		else if ((klen == 4 && strncmp(p, "host", 4) == 0) ||
			 (klen == 8 && strncmp(p, "hostaddr", 8) == 0))
			remote = remote || !decoded ||
				 !config_pg_hosts_local(value, strlen(value), false);
		p += n;
		if (*p == '&')
			p++;
	}
	return remote && !verified;
}

static int __attribute__((format(printf, 4, 5)))
config_warn(const struct scepd_config *cfg, struct config_errors *warns, const char *setting,
	    const char *fmt, ...)
{
	char *what = NULL;
	int line = config_line(cfg, setting), r;
	va_list ap;

	va_start(ap, fmt);
	r = vasprintf(&what, fmt, ap);
	va_end(ap);
	if (r < 0)
		return -ENOMEM;
	r = config_errors_add(warns, "%s:%d: %s: warning: %s", cfg->path, line > 0 ? line : 1,
			      setting, what);
	free(what);
	return r;
}

int
config_warnings(const struct scepd_config *cfg, struct config_errors *warns)
{
	int r = 0;

	if (cfg->csr.enabled && cfg->csr.auth == CONFIG_CSR_AUTH_NONE)
		r = cfg->csr.allow == NULL
			    ? config_warn(
				      cfg, warns, "csr.auth",
				      "\"none\": anyone who can reach the port gets a "
				      "certificate from %s; use \"tokens:PATH\" or set csr.allow",
				      cfg->csr.path)
			    : config_warn(cfg, warns, "csr.auth",
					  "\"none\": every address csr.allow admits gets a "
					  "certificate from %s without authenticating",
					  cfg->csr.path);
	if (r >= 0 && config_pg_uri_unverified(cfg->storage.uri))
		r = config_warn(
			cfg, warns, "storage.uri",
			"the PostgreSQL server is not on this machine and the URI has no "
			"sslmode=verify-full: whoever sits on the path can forge challenges "
			"and pending records, or read the issued certificates "
			"(docs/scale-out.md)");
	return r;
}

/* A decimal port 1..65535: -EINVAL if not digits, -ERANGE if out of range. */
static int
config_parse_port(const char *s, uint16_t *ret_port)
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
	if ((r = config_parse_port(port, &p)) < 0)
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
