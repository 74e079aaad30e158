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

#define CONFIG_KEY_GROUP(n) { .name = n, .type = CONFIG_T_GROUP },
#define CONFIG_KEY_SETTING(n, t, f, d, lo, hi, field)                                              \
	{ .name = n,                                                                               \
	  .type = CONFIG_T_##t,                                                                    \
	  .flags = CONFIG_F_##f,                                                                   \
	  .def = d,                                                                                \
	  .min = lo,                                                                               \
	  .max = hi,                                                                               \
	  .offset = offsetof(struct scepd_config, field) },

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

static size_t
config_key_index(const struct config_key *key)
{
	return (size_t)(key - config_keys);
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

void
config_elem_name(char *buf, size_t size, const char *base, size_t i)
{
	snprintf(buf, size, "%s[%zu]", base, i);
}

/* Where settings were written */

const config_setting_t *
config_found(const struct config_ctx *ctx, const char *name)
{
	const struct config_key *key = config_key_find(name);

	return key != NULL ? ctx->found[config_key_index(key)] : NULL;
}

/* Where to report name: the setting, else the closest enclosing group that was written. */
const config_setting_t *
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

bool
config_bad(const struct config_ctx *ctx, const char *name)
{
	const struct config_key *key = config_key_find(name);

	return key != NULL && ctx->bad[config_key_index(key)];
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
			r = config_conv(ctx, key, s, (char *)ctx->cfg + key->offset);
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

	if ((r = config_walk(ctx, root, "")) < 0 || (r = config_read_keys(ctx, root)) < 0)
		return r;
	return config_rules_check(ctx);
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

/*
 * The line `scepd -t` names for setting (the rule of config.h), or 0 when the file
 * says nothing of it or of its section.
 */
static int
config_where_line(const struct scepd_config *cfg, const char *setting)
{
	static const struct {
		const char *prefix, *anchor;
	} anchors[] = {
		{ "engine.", "engine.id" },
		{ "scep.ra.", "scep.ra.key" },
		{ "ca.", "ca.key" },
	};
	const struct config_key *key;
	const char *bracket;
	char list[CONFIG_NAME_MAX], *end;
	unsigned long i;
	int line;

	if ((line = config_line(cfg, setting)) > 0)
		return line;
	/* "engine.pre[4]": the element's own line, else the list's. */
	if ((bracket = strchr(setting, '[')) != NULL &&
	    (size_t)(bracket - setting) < sizeof(list)) {
		snprintf(list, sizeof(list), "%.*s", (int)(bracket - setting), setting);
		errno = 0;
		i = strtoul(bracket + 1, &end, 10);
		key = config_key_find(list);
		if (key != NULL && errno == 0 && end != bracket + 1 && *end == ']' &&
		    (key->type == CONFIG_T_COMMANDS || key->type == CONFIG_T_EXTENSIONS ||
		     key->type == CONFIG_T_DN_SET || key->type == CONFIG_T_SAN_SET)) {
			const struct config_pairs *pairs =
				(const void *)((const char *)cfg + key->offset);

			if (i < pairs->n && pairs->v[i].line > 0)
				return pairs->v[i].line;
		}
		if ((line = config_line(cfg, list)) > 0)
			return line;
	}
	for (size_t k = 0; k < sizeof(anchors) / sizeof(anchors[0]); k++)
		if (strncmp(setting, anchors[k].prefix, strlen(anchors[k].prefix)) == 0 &&
		    (line = config_line(cfg, anchors[k].anchor)) > 0)
			return line;
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
