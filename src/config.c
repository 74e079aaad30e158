/*
 * config.c - scepd.conf (libconfig syntax) -> struct scepd_config: the load pipeline.
 *
 * SYNOPSIS
 *	#include "scepd/config.h"
 *
 *	config_load(path, &cfg, &errs)
 *	config_load_string(text, name, basedir, &cfg, &errs)
 *	config_where(cfg, setting, buf, size)
 *
 * DESCRIPTION
 *	Both loads parse the whole schema of config_keys.h into a new struct
 *	scepd_config. Every setting written in the file that the table does not
 *	know is reported with the closest known name (config_walk,
 *	config_suggest.c); every setting of the table is looked up and converted
 *	by the converter of its type (config_conv(), config_conv.c and
 *	config_x509.c) or given its default; then the rules that tie settings
 *	together are checked (config_rules_check(), config_rules.c). Relative
 *	paths are resolved against the directory of the file (basedir for a
 *	string), so every stored path is absolute. This file also owns the
 *	table, the error lines, the lists of the struct and its lifetime.
 *
 *	config_where() names a setting of a loaded configuration the way every
 *	later check reports it ("FILE:LINE: setting"): `scepd -t`, the workers,
 *	the warnings.
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

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libconfig.h>
#include <openssl/err.h>

#include "config_internal.h"
#include "scepd/fileio.h"

#define CONFIG_FILE_MAX ((size_t)1 << 20) /* a larger file is a mistake */

#define CONFIG_KEY_GROUP(n)           { .name = n, .type = CONFIG_T_GROUP },
#define CONFIG_SECTION_STRUCT_CFG     struct scepd_config
#define CONFIG_SECTION_STRUCT_CA      struct config_ca
#define CONFIG_SECTION_STRUCT_PROFILE struct config_profile
#define CONFIG_KEY_SETTING(n, t, f, d, lo, hi, sec, field)                                         \
	{ .name = n,                                                                               \
	  .type = CONFIG_T_##t,                                                                    \
	  .flags = CONFIG_F_##f,                                                                   \
	  .def = d,                                                                                \
	  .min = lo,                                                                               \
	  .max = hi,                                                                               \
	  .section = CONFIG_S_##sec,                                                               \
	  .offset = offsetof(CONFIG_SECTION_STRUCT_##sec, field) },

const struct config_key config_keys[CONFIG_NKEYS] = { CONFIG_KEYS(CONFIG_KEY_GROUP,
								  CONFIG_KEY_SETTING) };

_Static_assert(sizeof(config_keys) / sizeof(config_keys[0]) == CONFIG_NKEYS, "table size");

/* Keys */

const struct config_key *
config_key_find(const char *name)
{
	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	return NULL;
}

/* The template a key belongs to, by its first name: "ca", "scep", "csr", or NULL. */
const char *
config_key_tmpl(const struct config_key *key)
{
	static const char *const tmpls[] = { "ca", "scep", "csr" };

	for (size_t i = 0; i < sizeof(tmpls) / sizeof(tmpls[0]); i++) {
		size_t n = strlen(tmpls[i]);

		if (strncmp(key->name, tmpls[i], n) == 0 &&
		    (key->name[n] == '.' || key->name[n] == '\0'))
			return tmpls[i];
	}
	return NULL;
}

/*
 * name as the file spells it in inst: a name of inst's template ("ca.key",
 * "ca.extensions[2]") gets the instance's prefix ("cas.devices.key"); others are kept.
 */
static const char *
config_inst_name(const struct config_inst *inst, const char *name, char *buf, size_t size)
{
	size_t n = inst->tmpl != NULL ? strlen(inst->tmpl) : 0;

	if (n > 0 && strncmp(name, inst->tmpl, n) == 0 &&
	    (name[n] == '.' || name[n] == '[' || name[n] == '\0'))
		snprintf(buf, size, "%s%s", inst->prefix, name + n);
	else
		snprintf(buf, size, "%s", name);
	return buf;
}

struct config_inst
config_enter(struct config_ctx *ctx, struct config_inst inst)
{
	struct config_inst before = ctx->inst;

	ctx->inst = inst;
	return before;
}

struct config_inst
config_ca_inst(const struct scepd_config *cfg, struct config_ca *ca)
{
	struct config_inst inst = { .tmpl = "ca", .base = ca };

	if (cfg->short_form)
		snprintf(inst.prefix, sizeof(inst.prefix), "ca");
	else
		snprintf(inst.prefix, sizeof(inst.prefix), "cas.%s", ca->name);
	return inst;
}

struct config_inst
config_profile_inst(const struct scepd_config *cfg, struct config_profile *p)
{
	struct config_inst inst = {
		.tmpl = p->type == CONFIG_PROFILE_SCEP ? "scep" : "csr",
		.base = p,
	};

	if (cfg->short_form)
		snprintf(inst.prefix, sizeof(inst.prefix), "%s", inst.tmpl);
	else
		snprintf(inst.prefix, sizeof(inst.prefix), "profiles.%s", p->name);
	return inst;
}

const char *
config_key_leaf(const struct config_key *key)
{
	const char *dot = strrchr(key->name, '.');

	return dot != NULL ? dot + 1 : key->name;
}

/* Whether key sits directly in the group named parent ("" = top level). */
bool
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
int
config_error(struct config_ctx *ctx, const config_setting_t *at, const char *setting,
	     const char *fmt, ...)
{
	const char *file = at != NULL ? config_setting_source_file(at) : NULL;
	int line = at != NULL ? (int)config_setting_source_line(at) : 0;
	char *what = NULL, *text = NULL, name[CONFIG_NAME_MAX * 2];
	va_list ap;
	int r;

	if (ctx->cur != SIZE_MAX)
		ctx->seen[ctx->cur].bad = true;
	setting = config_inst_name(&ctx->inst, setting, name, sizeof(name));
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

int
config_wrong_type(struct config_ctx *ctx, const config_setting_t *s, const char *setting,
		  const char *expected)
{
	return config_error(ctx, s, setting, "expected %s, got %s", expected, config_type_name(s));
}

int
config_range_error(struct config_ctx *ctx, const config_setting_t *s, const char *setting,
		   long long n, long long min, long long max)
{
	return config_error(ctx, s, setting, "%lld is out of range (%lld..%lld)", n, min, max);
}

/* Integers as written */

static int config_slurp(const char *path, char **ret_text, size_t *ret_size);

/* A copy of line number `line` (from 1) of text, or NULL; -ENOMEM. */
static int
config_line_copy(const char *text, int line, char **ret_line)
{
	const char *p = text, *end;

	for (int n = 1; n < line && p != NULL; n++)
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	*ret_line = NULL;
	if (p == NULL)
		return 0;
	end = strchrnul(p, '\n');
	if ((*ret_line = strndup(p, (size_t)(end - p))) == NULL)
		return -ENOMEM;
	return 0;
}

/* The line of the file where s is written, NULL when it cannot be read; -ENOMEM. */
static int
config_source_line(const struct config_ctx *ctx, const config_setting_t *s, char **ret_line)
{
	const char *file = config_setting_source_file(s);
	int line = (int)config_setting_source_line(s), r;
	char *text = NULL, path[PATH_MAX];
	size_t len = 0;

	*ret_line = NULL;
	if (file == NULL)
		return ctx->text != NULL ? config_line_copy(ctx->text, line, ret_line) : 0;
	/* libconfig names an @include file as written: relative to the include directory. */
	if (file[0] != '/' && ctx->basedir != NULL) {
		if (snprintf(path, sizeof(path), "%s/%s", ctx->basedir, file) >= (int)sizeof(path))
			return 0;
		file = path;
	}
	if ((r = config_slurp(file, &text, &len)) < 0)
		return r == -ENOMEM ? r : 0;
	r = config_line_copy(text, line, ret_line);
	free(text);
	return r;
}

/*
 * One integer literal at p (libconfig's syntax: [-+]?[0-9]+ or 0x[0-9a-f]+, then L or
 * LL): its length, 0 when p holds none. *ret_read is what libconfig 1.5 makes of it.
 */
static size_t
config_int_token(const char *p, long long *ret_exact, bool *ret_fits, long long *ret_read)
{
	const char *q = p, *digits;
	bool hex = false, wide = false;
	long long v;
	char *end;

	if (*q == '-' || *q == '+')
		q++;
	if (q[0] == '0' && (q[1] == 'x' || q[1] == 'X') && isxdigit((unsigned char)q[2])) {
		if (q != p)
			return 0;
		hex = true;
		q += 2;
	}
	digits = q;
	while (hex ? isxdigit((unsigned char)*q) : isdigit((unsigned char)*q))
		q++;
	if (q == digits || *q == '.' || *q == 'e' || *q == 'E')
		return 0; /* not an integer (a float, a name) */
	if (*q == 'L') {
		wide = true;
		q += q[1] == 'L' ? 2 : 1;
	}
	if (isalnum((unsigned char)*q) || *q == '_')
		return 0;
	errno = 0;
	if (hex) {
		unsigned long long u = strtoull(p, &end, 16);

		*ret_fits = errno != ERANGE && u <= (unsigned long long)LLONG_MAX;
		v = *ret_fits ? (long long)u : LLONG_MAX;
	} else {
		v = strtoll(p, &end, 10);
		*ret_fits = errno != ERANGE;
	}
	*ret_exact = v;
	*ret_read = wide ? v : (long long)(int32_t)(uint32_t)(unsigned long long)v;
	return (size_t)(q - p);
}

int
config_int_literal(const struct config_ctx *ctx, const config_setting_t *s, char *buf, size_t size,
		   long long *ret_exact, bool *ret_fits)
{
	const char *name = config_setting_name(s), *p, *after = NULL;
	long long got = config_setting_get_int64(s), exact = 0, read = 0;
	bool fits = true, in_string = false;
	char *line = NULL;
	int r;

	if ((r = config_source_line(ctx, s, &line)) < 0)
		return r;
	r = 1;
	for (p = line; p != NULL && *p != '\0'; p++) {
		size_t n;

		if (in_string) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				in_string = false;
			continue;
		}
		if (*p == '"') {
			in_string = true;
			continue;
		}
		if (*p == '#' || (*p == '/' && (p[1] == '/' || p[1] == '*')))
			break;
		/* Where a value may start: after "NAME =" or "NAME :", '[', '(' or ','. */
		if (*p == '=' || *p == ':' || *p == '[' || *p == '(' || *p == ',') {
			after = p;
			continue;
		}
		if (isspace((unsigned char)*p) || after == NULL ||
		    (p > line && (isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '.')))
			continue;
		if ((n = config_int_token(p, &exact, &fits, &read)) == 0) {
			after = NULL;
			continue;
		}
		if (name != NULL) {
			/* The name right before the '=' or ':' must be s's own. */
			const char *e = after, *b;
			size_t len = strlen(name);

			while (e > line && isspace((unsigned char)e[-1]))
				e--;
			b = e;
			while (b > line && (isalnum((unsigned char)b[-1]) || b[-1] == '_' ||
					    b[-1] == '-' || b[-1] == '*'))
				b--;
			if (*after == '[' || *after == '(' || *after == ',' ||
			    (size_t)(e - b) != len || strncmp(b, name, len) != 0) {
				p += n - 1;
				after = NULL;
				continue;
			}
		}
		if (read == got && (!fits || exact != got)) {
			snprintf(buf, size, "%.*s", (int)n, p);
			*ret_exact = exact;
			*ret_fits = fits;
			r = 0;
			break;
		}
		p += n - 1;
		after = NULL;
	}
	free(line);
	return r;
}

void
config_elem_name(char *buf, size_t size, const char *base, size_t i)
{
	snprintf(buf, size, "%s[%zu]", base, i);
}

/* Where settings were written */

static size_t
config_seen_find(const struct config_ctx *ctx, const char *full)
{
	const struct config_lines *lines = ctx->cfg->lines;

	for (size_t i = 0; i < lines->n; i++)
		if (strcmp(lines->v[i].name, full) == 0)
			return i;
	return SIZE_MAX;
}

/* Note that full was looked up, and where it was written (s, or NULL); its index. */
static int
config_seen_add(struct config_ctx *ctx, const char *full, const config_setting_t *s,
		size_t *ret_index)
{
	struct config_lines *lines = ctx->cfg->lines;
	struct config_line *v;
	struct config_seen *seen;
	size_t i = config_seen_find(ctx, full);

	if (i == SIZE_MAX) {
		if ((v = reallocarray(lines->v, lines->n + 1, sizeof(*v))) == NULL)
			return -ENOMEM;
		lines->v = v;
		if ((seen = reallocarray(ctx->seen, lines->n + 1, sizeof(*seen))) == NULL)
			return -ENOMEM;
		ctx->seen = seen;
		if ((v[lines->n].name = strdup(full)) == NULL)
			return -ENOMEM;
		i = lines->n++;
	}
	lines->v[i].line = s != NULL ? (int)config_setting_source_line(s) : 0;
	ctx->seen[i] = (struct config_seen){ .s = s };
	*ret_index = i;
	return 0;
}

const config_setting_t *
config_found(const struct config_ctx *ctx, const char *name)
{
	char full[CONFIG_NAME_MAX * 2];
	size_t i = config_seen_find(ctx, config_inst_name(&ctx->inst, name, full, sizeof(full)));

	return i != SIZE_MAX ? ctx->seen[i].s : NULL;
}

/* Where to report name: the setting, else the closest enclosing group that was written. */
const config_setting_t *
config_at(const struct config_ctx *ctx, const char *name)
{
	char buf[CONFIG_NAME_MAX * 2];
	const config_setting_t *s;
	size_t i;
	char *dot;

	config_inst_name(&ctx->inst, name, buf, sizeof(buf));
	for (;;) {
		if ((i = config_seen_find(ctx, buf)) != SIZE_MAX && (s = ctx->seen[i].s) != NULL)
			return s;
		if ((dot = strrchr(buf, '.')) == NULL)
			return NULL;
		*dot = '\0';
	}
}

bool
config_bad(const struct config_ctx *ctx, const char *name)
{
	char full[CONFIG_NAME_MAX * 2];
	size_t i = config_seen_find(ctx, config_inst_name(&ctx->inst, name, full, sizeof(full)));

	return i != SIZE_MAX && ctx->seen[i].bad;
}

/* Lists */

int
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

int
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

int
config_field_rules_add(struct config_field_rules *rules, const char *field, int count)
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
config_field_rules_free(struct config_field_rules *rules)
{
	for (size_t i = 0; i < rules->n; i++)
		free(rules->v[i].field);
	free(rules->v);
	*rules = (struct config_field_rules){ 0 };
}

void
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
	config_field_rules_free(&p->request);
	config_pairs_free(&p->set);
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

static bool
config_tmpl_eq(const char *a, const char *b)
{
	return a == NULL ? b == NULL : b != NULL && strcmp(a, b) == 0;
}

/*
 * Convert every setting of ctx->inst's template (the top-level ones when it has none)
 * into ctx->inst.base (the config for the top level).
 */
static int
config_read_keys(struct config_ctx *ctx, const config_setting_t *root)
{
	char full[CONFIG_NAME_MAX * 2];
	char *base = ctx->inst.tmpl != NULL ? ctx->inst.base : (void *)ctx->cfg;
	int r = 0;

	for (size_t i = 0; i < CONFIG_NKEYS && r >= 0; i++) {
		const struct config_key *key = &config_keys[i];
		const config_setting_t *s;
		bool blocked;

		if (!config_tmpl_eq(config_key_tmpl(key), ctx->inst.tmpl))
			continue;
		config_inst_name(&ctx->inst, key->name, full, sizeof(full));
		s = config_find(root, full, &blocked);
		if ((r = config_seen_add(ctx, full, s, &ctx->cur)) < 0)
			break;
		if (s == NULL && !blocked && (key->flags & CONFIG_F_REQUIRED))
			r = config_error(ctx, config_at(ctx, key->name), key->name,
					 "required setting missing");
		else if (key->type != CONFIG_T_GROUP)
			r = config_conv(ctx, key, s, base + key->offset);
		else
			r = config_conv(ctx, key, s, NULL);
	}
	ctx->cur = SIZE_MAX;
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

/* s, a member of path, is not a setting: say so, with the closest name of tpath. */
static int
config_unknown(struct config_ctx *ctx, const config_setting_t *s, const char *path,
	       const char *tpath)
{
	const char *leaf = config_setting_name(s);
	const char *hint = config_suggest_key(tpath, leaf);
	char name[CONFIG_NAME_MAX * 2];

	snprintf(name, sizeof(name), "%s%s%s", path, path[0] != '\0' ? "." : "", leaf);
	if (hint != NULL)
		return config_error(ctx, s, name, "unknown setting '%s', did you mean '%s'?", leaf,
				    hint);
	return config_error(ctx, s, name, "unknown setting '%s'", leaf);
}

/* Members of a profile group that are not settings of its template. */
static bool
config_profile_own_member(const char *tpath, const char *name)
{
	return (strcmp(tpath, "scep") == 0 || strcmp(tpath, "csr") == 0) &&
	       (strcmp(name, "type") == 0 || strcmp(name, "ca") == 0);
}

/*
 * Report every member of group (named path in the file, tpath in the table: "cas.x"
 * and "ca") that the table does not know. At the top level, cas and profiles are
 * walked by their own readers.
 */
static int
config_walk(struct config_ctx *ctx, const config_setting_t *group, const char *path,
	    const char *tpath)
{
	int n = config_setting_length(group), r = 0;

	for (int i = 0; i < n && r >= 0; i++) {
		const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
		const char *member = config_setting_name(s);
		const struct config_key *key;
		char name[CONFIG_NAME_MAX * 2], tname[CONFIG_NAME_MAX];
		int len;

		if ((r = config_note_file(ctx, config_setting_source_file(s))) < 0)
			break;
		if (tpath[0] == '\0' &&
		    (strcmp(member, "cas") == 0 || strcmp(member, "profiles") == 0))
			continue;
		if (config_profile_own_member(tpath, member))
			continue;
		snprintf(name, sizeof(name), "%s%s%s", path, path[0] != '\0' ? "." : "", member);
		len = snprintf(tname, sizeof(tname), "%s%s%s", tpath, tpath[0] != '\0' ? "." : "",
			       member);
		key = len < (int)sizeof(tname) ? config_key_find(tname) : NULL;
		if (key == NULL)
			r = config_unknown(ctx, s, path, tpath);
		else if (key->type == CONFIG_T_GROUP && config_setting_is_group(s))
			r = config_walk(ctx, s, name, tname);
	}
	return r;
}

/* Instances: the short form, or cas and profiles */

static const char *const config_short_groups[] = { "ca", "scep", "csr" };

/*
 * Read one CA or profile: its settings, then (in the long form: the walk of the top
 * level covers the short one) the members the table does not know.
 */
static int
config_read_inst(struct config_ctx *ctx, const config_setting_t *root,
		 const config_setting_t *group, struct config_inst inst)
{
	struct config_inst before = config_enter(ctx, inst);
	int r;

	r = config_read_keys(ctx, root);
	if (r >= 0 && !ctx->cfg->short_form && group != NULL && config_setting_is_group(group))
		r = config_walk(ctx, group, inst.prefix, inst.tmpl);
	config_enter(ctx, before);
	return r;
}

static int
config_new_ca(struct scepd_config *cfg, const char *name, struct config_ca **ret)
{
	struct config_ca *v;

	if ((v = reallocarray(cfg->cas, cfg->n_cas + 1, sizeof(*v))) == NULL)
		return -ENOMEM;
	cfg->cas = v;
	v[cfg->n_cas] = (struct config_ca){ 0 };
	if ((v[cfg->n_cas].name = strdup(name)) == NULL)
		return -ENOMEM;
	*ret = &v[cfg->n_cas++];
	return 0;
}

static int
config_new_profile(struct scepd_config *cfg, const char *name, enum config_profile_type type,
		   size_t ca, struct config_profile **ret)
{
	struct config_profile *v;

	if ((v = reallocarray(cfg->profiles, cfg->n_profiles + 1, sizeof(*v))) == NULL)
		return -ENOMEM;
	cfg->profiles = v;
	v[cfg->n_profiles] = (struct config_profile){ .type = type, .ca = ca };
	if ((v[cfg->n_profiles].name = strdup(name)) == NULL)
		return -ENOMEM;
	*ret = &v[cfg->n_profiles++];
	return 0;
}

/* ca, scep and csr at the top level: CA "default", profiles "scep" and "csr". */
static int
config_read_short_form(struct config_ctx *ctx, const config_setting_t *root)
{
	struct scepd_config *cfg = ctx->cfg;
	struct config_profile *p;
	struct config_ca *ca;
	int r;

	cfg->short_form = true;
	if ((r = config_new_ca(cfg, "default", &ca)) < 0 ||
	    (r = config_read_inst(ctx, root, config_setting_get_member(root, "ca"),
				  config_ca_inst(cfg, ca))) < 0)
		return r;
	for (size_t i = 0; i < 2; i++) {
		enum config_profile_type type = i == 0 ? CONFIG_PROFILE_SCEP : CONFIG_PROFILE_CSR;
		const char *name = i == 0 ? "scep" : "csr";

		if ((r = config_new_profile(cfg, name, type, 0, &p)) < 0 ||
		    (r = config_read_inst(ctx, root, config_setting_get_member(root, name),
					  config_profile_inst(cfg, p))) < 0)
			return r;
	}
	return 0;
}

/*
 * The group of cas or profiles, which must hold at least one group. Records its
 * members' lines; NULL (and an error line) when there is nothing to read.
 */
static const config_setting_t *
config_inst_group(struct config_ctx *ctx, const config_setting_t *root, const char *name,
		  const char *what, int *ret)
{
	const config_setting_t *g = config_setting_get_member(root, name);
	size_t seen;
	int n;

	*ret = 0;
	if (g == NULL) {
		*ret = config_error(ctx, NULL, name,
				    "required: %s (or the short form: ca, scep, csr)", what);
		return NULL;
	}
	if ((*ret = config_seen_add(ctx, name, g, &seen)) < 0)
		return NULL;
	if (!config_setting_is_group(g)) {
		*ret = config_wrong_type(ctx, g, name, "a group");
		return NULL;
	}
	if ((n = config_setting_length(g)) == 0) {
		*ret = config_error(ctx, g, name, "empty: name at least one");
		return NULL;
	}
	for (int i = 0; i < n && *ret >= 0; i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		char full[CONFIG_NAME_MAX * 2];

		snprintf(full, sizeof(full), "%s.%s", name, config_setting_name(m));
		if ((*ret = config_seen_add(ctx, full, m, &seen)) < 0)
			break;
		if (!config_setting_is_group(m))
			*ret = config_wrong_type(ctx, m, full, "a group");
		else if (strlen(config_setting_name(m)) > CONFIG_INST_NAME_MAX)
			*ret = config_error(ctx, m, full, "a name of at most %d characters",
					    CONFIG_INST_NAME_MAX);
	}
	return *ret >= 0 ? g : NULL;
}

static int
config_read_cas(struct config_ctx *ctx, const config_setting_t *root)
{
	const config_setting_t *g = NULL;
	struct config_ca *ca;
	int r;

	if ((g = config_inst_group(ctx, root, "cas", "the CAs, cas = { NAME = { ... }; }", &r)) ==
	    NULL)
		return r;
	for (int i = 0; i < config_setting_length(g) && r >= 0; i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);

		if (!config_setting_is_group(m))
			continue;
		if ((r = config_new_ca(ctx->cfg, config_setting_name(m), &ca)) < 0)
			break;
		r = config_read_inst(ctx, root, m, config_ca_inst(ctx->cfg, ca));
	}
	return r;
}

/* A string member of a profile: type, ca. NULL when absent (or wrong: an error line). */
static const char *
config_profile_string(struct config_ctx *ctx, const config_setting_t *m, const char *prefix,
		      const char *member, int *ret)
{
	const config_setting_t *s = config_setting_get_member(m, member);
	char full[CONFIG_NAME_MAX * 2];
	size_t seen;

	snprintf(full, sizeof(full), "%s.%s", prefix, member);
	if ((*ret = config_seen_add(ctx, full, s, &seen)) < 0 || s == NULL)
		return NULL;
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		*ret = config_wrong_type(ctx, s, full, "a string");
		return NULL;
	}
	return config_setting_get_string(s);
}

static void
config_ca_names(const struct scepd_config *cfg, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < cfg->n_cas && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s\"%s\"", i > 0 ? ", " : "",
					 cfg->cas[i].name);
}

/* profiles.NAME's type and ca; r < 0 or *ret_ok = false when it cannot be read. */
static int
config_profile_head(struct config_ctx *ctx, const config_setting_t *m,
		    enum config_profile_type *ret_type, size_t *ret_ca, bool *ret_ok)
{
	char prefix[CONFIG_NAME_MAX], full[CONFIG_NAME_MAX * 2], names[512];
	const config_setting_t *at;
	const char *type, *ca;
	int r;

	*ret_ok = false;
	snprintf(prefix, sizeof(prefix), "profiles.%s", config_setting_name(m));
	snprintf(full, sizeof(full), "%s.type", prefix);
	if ((type = config_profile_string(ctx, m, prefix, "type", &r)) == NULL)
		return r < 0 ? r
			     : config_error(
				       ctx, m, full,
				       "required: \"scep\" or \"csr\" (what the profile serves)");
	at = config_setting_get_member(m, "type");
	if (strcmp(type, "scep") == 0)
		*ret_type = CONFIG_PROFILE_SCEP;
	else if (strcmp(type, "csr") == 0)
		*ret_type = CONFIG_PROFILE_CSR;
	else
		return config_error(ctx, at, full, "'%s' is not one of \"scep\", \"csr\"", type);
	snprintf(full, sizeof(full), "%s.ca", prefix);
	config_ca_names(ctx->cfg, names, sizeof(names));
	if ((ca = config_profile_string(ctx, m, prefix, "ca", &r)) == NULL) {
		if (r < 0 || ctx->cfg->n_cas == 0)
			return r;
		if (ctx->cfg->n_cas > 1)
			return config_error(ctx, m, full, "required: one of cas (%s)", names);
		*ret_ca = 0; /* the only CA */
		*ret_ok = true;
		return 0;
	}
	for (size_t i = 0; i < ctx->cfg->n_cas; i++) {
		if (strcmp(ctx->cfg->cas[i].name, ca) == 0) {
			*ret_ca = i;
			*ret_ok = true;
			return 0;
		}
	}
	return config_error(ctx, config_setting_get_member(m, "ca"), full,
			    "'%s' is not one of cas (%s)", ca, names);
}

static int
config_read_profiles(struct config_ctx *ctx, const config_setting_t *root)
{
	const config_setting_t *g;
	struct config_profile *p;
	int r;

	if ((g = config_inst_group(ctx, root, "profiles",
				   "the endpoints, profiles = { NAME = { type = ...; ... }; }",
				   &r)) == NULL)
		return r;
	for (int i = 0; i < config_setting_length(g) && r >= 0; i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		enum config_profile_type type = CONFIG_PROFILE_SCEP;
		size_t ca = 0;
		bool ok;

		if (!config_setting_is_group(m))
			continue;
		if ((r = config_profile_head(ctx, m, &type, &ca, &ok)) < 0 || !ok)
			continue;
		if ((r = config_new_profile(ctx->cfg, config_setting_name(m), type, ca, &p)) < 0)
			break;
		r = config_read_inst(ctx, root, m, config_profile_inst(ctx->cfg, p));
	}
	return r;
}

/* The short form and the long one do not mix: a file has one or the other. */
static int
config_read_instances(struct config_ctx *ctx, const config_setting_t *root)
{
	bool long_form = config_setting_get_member(root, "cas") != NULL ||
			 config_setting_get_member(root, "profiles") != NULL;
	int r = 0;

	if (!long_form)
		return config_read_short_form(ctx, root);
	for (size_t i = 0; i < 3 && r >= 0; i++) {
		const config_setting_t *s = config_setting_get_member(root, config_short_groups[i]);

		if (s != NULL)
			r = config_error(ctx, s, config_short_groups[i],
					 "the short form (ca, scep, csr) cannot be mixed with cas "
					 "and profiles: write it as cas.NAME and profiles.NAME");
	}
	if (r >= 0)
		r = config_read_cas(ctx, root);
	if (r >= 0)
		r = config_read_profiles(ctx, root);
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
	free(ctx->seen);
}

int
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

/* Everything from the libconfig tree to a checked struct. */
static int
config_from_tree(struct config_ctx *ctx, const config_t *lc)
{
	const config_setting_t *root = config_root_setting(lc);
	int r;

	if ((r = config_walk(ctx, root, "", "")) < 0 || (r = config_read_keys(ctx, root)) < 0 ||
	    (r = config_read_instances(ctx, root)) < 0)
		return r;
	return config_rules_check(ctx);
}

static int
config_parse(const char *text, const char *name, const char *basedir, const char *cfg_path,
	     unsigned flags, struct scepd_config **ret_cfg, struct config_errors *errs)
{
	struct config_ctx ctx = {
		.name = name, .basedir = basedir, .text = text, .flags = flags, .cur = SIZE_MAX
	};
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
	size_t len = 0, size = 0, n;
	int fd, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return -errno;
	do { /* a full buffer: grow it, more may follow */
		if ((size = size == 0 ? 4096 : size * 2) > CONFIG_FILE_MAX) {
			r = -EFBIG;
			goto out;
		}
		if ((r = config_grow(&buf, len, size)) < 0 ||
		    (r = fileio_read(fd, buf + len, size - len - 1, &n)) < 0)
			goto out;
		len += n;
	} while (len == size - 1);
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
	return config_load_flags(path, 0, ret_cfg, errs);
}

int
config_load_flags(const char *path, unsigned flags, struct scepd_config **ret_cfg,
		  struct config_errors *errs)
{
	char *text = NULL, *abs = NULL, *dir = NULL;
	size_t len = 0;
	int r, q;

	if (path == NULL || (flags & ~(unsigned)CONFIG_LOAD_NO_KEY_SECRETS) != 0)
		return -EINVAL;
	if ((r = config_slurp(path, &text, &len)) < 0) {
		q = config_errors_add(errs, "%s: cannot read: %s", path,
				      r == -EBADMSG ? "contains a NUL byte" : strerror(-r));
		r = q < 0 ? q : r;
		goto out;
	}
	if ((r = config_absolute(path, &abs)) < 0 || (r = config_dirname(abs, &dir)) < 0)
		goto out;
	r = config_parse(text, path, dir, abs, flags, ret_cfg, errs);
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
	r = config_parse(text, name, dir, name, 0, ret_cfg, errs);
	free(dir);
	return r;
}

static void
config_ca_free(struct config_ca *ca)
{
	free(ca->name);
	free(ca->certificate);
	free(ca->key);
	config_secret_free(&ca->key_passphrase);
	free(ca->next_certificate);
	free(ca->serial_file);
	free(ca->digest);
	config_pairs_free(&ca->extensions);
	free(ca->crl.path);
	config_strv_free(&ca->crl_distribution_points);
	free(ca->ocsp_url);
	free(ca->ocsp.path);
	free(ca->ocsp.certificate);
	free(ca->ocsp.key);
	config_secret_free(&ca->ocsp.key_passphrase);
}

static void
config_profile_free(struct config_profile *p)
{
	free(p->name);
	config_pairs_free(&p->extensions);
	free(p->scep.path);
	addr_allow_free(p->scep.allow);
	free(p->scep.ra.certificate);
	free(p->scep.ra.key);
	config_secret_free(&p->scep.ra.key_passphrase);
	free(p->scep.ra.next_certificate);
	config_secret_free(&p->scep.challenge_secret);
	free(p->scep.ndes.path);
	free(p->scep.ndes.users_file);
	free(p->scep.challenge_url);
	free(p->scep.challenge_ca);
	free(p->scep.challenge_id);
	config_name_policy_free(&p->scep.subject);
	config_name_policy_free(&p->scep.subject_alt_name);
	free(p->scep.crl_url);
	free(p->scep.location);
	free(p->csr.path);
	addr_allow_free(p->csr.allow);
	free(p->csr.tokens_file);
	config_name_policy_free(&p->csr.subject);
	config_name_policy_free(&p->csr.subject_alt_name);
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
	config_strv_free(&cfg->server.tls.listen);
	free(cfg->server.tls.certificate);
	free(cfg->server.tls.key);
	free(cfg->server.tls.client_ca);
	free(cfg->engine.id);
	config_pairs_free(&cfg->engine.pre);
	config_pairs_free(&cfg->engine.post);
	config_secret_free(&cfg->engine.pin);
	for (size_t i = 0; i < cfg->n_cas; i++)
		config_ca_free(&cfg->cas[i]);
	free(cfg->cas);
	for (size_t i = 0; i < cfg->n_profiles; i++)
		config_profile_free(&cfg->profiles[i]);
	free(cfg->profiles);
	free(cfg->storage.uri);
	config_secret_free(&cfg->storage.password);
	free(cfg->admin.path);
	free(cfg->admin.tokens_file);
	config_strv_free(&cfg->admin.client_scopes);
	addr_allow_free(cfg->metrics.allow);
	if (cfg->lines != NULL)
		for (size_t i = 0; i < cfg->lines->n; i++)
			free(cfg->lines->v[i].name);
	free(cfg->lines != NULL ? cfg->lines->v : NULL);
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
	if (cfg == NULL || cfg->lines == NULL || setting == NULL)
		return 0;
	for (size_t i = 0; i < cfg->lines->n; i++)
		if (strcmp(cfg->lines->v[i].name, setting) == 0)
			return cfg->lines->v[i].line;
	return 0;
}

const struct config_ca *
config_ca_by_name(const struct scepd_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_cas; i++)
		if (strcmp(cfg->cas[i].name, name) == 0)
			return &cfg->cas[i];
	return NULL;
}

const struct config_profile *
config_profile_by_name(const struct scepd_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_profiles; i++)
		if (strcmp(cfg->profiles[i].name, name) == 0)
			return &cfg->profiles[i];
	return NULL;
}

const struct config_ca *
config_profile_ca(const struct scepd_config *cfg, const struct config_profile *p)
{
	return &cfg->cas[p->ca];
}

bool
config_profile_served(const struct config_profile *p)
{
	return p->type == CONFIG_PROFILE_SCEP || p->csr.auth != CONFIG_CSR_AUTH_OFF;
}

const char *
config_ca_setting(const struct scepd_config *cfg, const struct config_ca *ca, const char *leaf,
		  char *buf, size_t size)
{
	if (cfg->short_form)
		snprintf(buf, size, "ca.%s", leaf);
	else
		snprintf(buf, size, "cas.%s.%s", ca->name, leaf);
	return buf;
}

const char *
config_profile_setting(const struct scepd_config *cfg, const struct config_profile *p,
		       const char *leaf, char *buf, size_t size)
{
	if (cfg->short_form)
		snprintf(buf, size, "%s.%s", p->name, leaf);
	else
		snprintf(buf, size, "profiles.%s.%s", p->name, leaf);
	return buf;
}

/*
 * The key of the table a full setting name is of, and the struct its value is in:
 * "cas.x.extensions" is ca.extensions of CA x, "profiles.y.subject.set" scep.subject.set
 * of profile y (of type scep). NULL when it names no setting.
 */
static const struct config_key *
config_resolve(const struct scepd_config *cfg, const char *setting, const void **ret_base)
{
	char inst[CONFIG_NAME_MAX], tname[CONFIG_NAME_MAX * 2];
	const char *rest, *dot;

	*ret_base = cfg;
	if (strncmp(setting, "cas.", 4) == 0 || strncmp(setting, "profiles.", 9) == 0) {
		bool ca = setting[0] == 'c';

		rest = setting + (ca ? 4 : 9);
		if ((dot = strchr(rest, '.')) == NULL || (size_t)(dot - rest) >= sizeof(inst))
			return NULL;
		snprintf(inst, sizeof(inst), "%.*s", (int)(dot - rest), rest);
		if (ca) {
			*ret_base = config_ca_by_name(cfg, inst);
			snprintf(tname, sizeof(tname), "ca%s", dot);
		} else {
			const struct config_profile *p = config_profile_by_name(cfg, inst);

			*ret_base = p;
			if (p != NULL)
				snprintf(tname, sizeof(tname), "%s%s",
					 p->type == CONFIG_PROFILE_SCEP ? "scep" : "csr", dot);
		}
		return *ret_base != NULL ? config_key_find(tname) : NULL;
	}
	const struct config_key *key = config_key_find(setting);
	const char *tmpl = key != NULL ? config_key_tmpl(key) : NULL;

	if (tmpl == NULL || !cfg->short_form)
		return key;
	*ret_base = strcmp(tmpl, "ca") == 0 ? (const void *)&cfg->cas[0]
					    : (const void *)config_profile_by_name(cfg, tmpl);
	return *ret_base != NULL ? key : NULL;
}

/* "engine.pre[4]": the element's own line, or 0. */
static int
config_where_element(const struct scepd_config *cfg, const char *setting)
{
	const char *bracket = strchr(setting, '[');
	char list[CONFIG_NAME_MAX * 2], *end;
	const struct config_key *key;
	const void *base;
	unsigned long i;

	if (bracket == NULL || (size_t)(bracket - setting) >= sizeof(list))
		return 0;
	snprintf(list, sizeof(list), "%.*s", (int)(bracket - setting), setting);
	errno = 0;
	i = strtoul(bracket + 1, &end, 10);
	key = config_resolve(cfg, list, &base);
	if (key != NULL && errno == 0 && end != bracket + 1 && *end == ']' &&
	    (key->type == CONFIG_T_COMMANDS || key->type == CONFIG_T_EXTENSIONS ||
	     key->type == CONFIG_T_EXTENSIONS_OVERRIDE || key->type == CONFIG_T_DN_SET ||
	     key->type == CONFIG_T_SAN_SET)) {
		const struct config_pairs *pairs = (const void *)((const char *)base + key->offset);

		if (i < pairs->n && pairs->v[i].line > 0)
			return pairs->v[i].line;
	}
	return config_line(cfg, list);
}

/*
 * The line `scepd -t` names for setting (the rule of config.h), or 0 when the file
 * says nothing of it or of its section: the setting's, an element's, the anchor of
 * its section (engine.id for engine.*, the RA's key for its RA, the CA's key for a
 * CA), else, in the long form, the line of the CA's or profile's group.
 */
static int
config_where_line(const struct scepd_config *cfg, const char *setting)
{
	char buf[CONFIG_NAME_MAX * 2], *cut;
	const struct config_key *key;
	const void *base;
	int line;

	if ((line = config_line(cfg, setting)) > 0 ||
	    (line = config_where_element(cfg, setting)) > 0)
		return line;
	snprintf(buf, sizeof(buf), "%s", setting);
	if ((cut = strchr(buf, '[')) != NULL)
		*cut = '\0';
	if (strncmp(buf, "engine.", 7) == 0 && (line = config_line(cfg, "engine.id")) > 0)
		return line;
	key = config_resolve(cfg, buf, &base);
	if (key != NULL && (cut = strstr(buf, ".ra.")) != NULL) {
		snprintf(cut, sizeof(buf) - (size_t)(cut - buf), ".ra.key");
		if ((line = config_line(cfg, buf)) > 0)
			return line;
	} else if (key != NULL && key->section == CONFIG_S_CA) {
		config_ca_setting(cfg, base, "key", buf, sizeof(buf));
		if ((line = config_line(cfg, buf)) > 0)
			return line;
	}
	/* A CA's or profile's setting of the long form: its group's line. */
	if (strncmp(buf, "cas.", 4) == 0 || strncmp(buf, "profiles.", 9) == 0) {
		cut = strchr(strchr(buf, '.') + 1, '.');
		if (cut != NULL)
			*cut = '\0';
		return config_line(cfg, buf);
	}
	return 0;
}

const char *
config_where(const struct scepd_config *cfg, const char *setting, char *buf, size_t size)
{
	int line = cfg != NULL && setting != NULL ? config_where_line(cfg, setting) : 0;

	snprintf(buf, size, "%s:%d: %s", cfg != NULL && cfg->path != NULL ? cfg->path : "?",
		 line > 0 ? line : 1, setting != NULL ? setting : "?");
	return buf;
}
