/*
 * config_internal.h - what the pieces of the configuration parser share; private to
 * config*.c (include/scepd/config.h is the contract for everyone else).
 *
 *	config.c		the load pipeline: the table of config_keys.h, the walk
 *				of the file, error lines, the struct's lifetime
 *	config_conv.c		one converter per setting type (config_conv())
 *	config_x509.c		X.509 extensions, digests, subject and SAN field names
 *	config_rules.c		rules between settings, and the warnings of `scepd -t`
 *	config_suggest.c	"did you mean" suggestions
 *
 * Every function here records a problem with config_error() and returns 0 (or 1 where
 * its comment says so); a negative errno (-ENOMEM) stops the load.
 */
#ifndef SCEPD_CONFIG_INTERNAL_H
#define SCEPD_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include <libconfig.h>

#include "scepd/config.h"

#include "config_keys.h"

#define CONFIG_NAME_MAX      128 /* longest dotted setting name, with room to spare */
#define CONFIG_INST_NAME_MAX 48  /* longest name of a CA or profile */

/* The struct that has member at ptr (a converter's field is a member of a struct). */
#define CONFIG_CONTAINER_OF(ptr, type, member)                                                     \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* Messages that name the ways to give a secret. */
#define CONFIG_SECRET_SOURCES "use \"credential:NAME\", \"file:PATH\" or \"env:NAME\""

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
	CONFIG_T_EXTENSIONS_OVERRIDE, /* a profile's: absent = none, not the default list */
	CONFIG_T_EC_CURVES,
	CONFIG_T_HTTP_URL,     /* an absolute http:// URL (a relying party fetches it) */
	CONFIG_T_HTTP_URLS,    /* a list of them */
	CONFIG_T_USERS,        /* "file:PATH": a users file (htpasswd.h) */
	CONFIG_T_ADMIN_TOKENS, /* "file:PATH": the admin API's tokens file (admin_tokens.h) */
	CONFIG_T_SCOPES,       /* admin API scopes ("read", "challenge:NAME"...) */
	CONFIG_T_WEBHOOK_URL,  /* https://HOST..., or http:// to a loopback host */
};

/* The struct a setting's offset is in (the SECTION column of config_keys.h). */
enum config_section {
	CONFIG_S_CFG,     /* struct scepd_config */
	CONFIG_S_CA,      /* struct config_ca: ca.* */
	CONFIG_S_PROFILE, /* struct config_profile: scep.* and csr.* */
};

enum {
	CONFIG_F_NONE = 0,
	CONFIG_F_REQUIRED = 1 << 0, /* an error when absent */
	CONFIG_F_PIN = 1 << 1,      /* an inline value is kept: config_rules_engine_pin() decides */
	CONFIG_F_KEY = 1 << 2,      /* unlocks a key: not opened with CONFIG_LOAD_NO_KEY_SECRETS */
};

struct config_key {
	const char *name; /* "server.workers" */
	enum config_key_type type;
	int flags;
	const char *def; /* as written in the file; NULL = unset */
	long long min;
	long long max;
	enum config_section section;
	size_t offset; /* of the field in the section's struct */
};

/* The number of groups and settings of config_keys.h, a constant expression. */
#define CONFIG_KEY_COUNT_GROUP(n)                              +1
#define CONFIG_KEY_COUNT_SETTING(n, t, f, d, lo, hi, sec, fld) +1

#define CONFIG_NKEYS ((size_t)(0 CONFIG_KEYS(CONFIG_KEY_COUNT_GROUP, CONFIG_KEY_COUNT_SETTING)))

/* The table of config_keys.h, in its order (config.c). */
extern const struct config_key config_keys[CONFIG_NKEYS];

/* Where each setting was written: its full name ("cas.devices.key") and line. */
struct config_line {
	char *name;
	int line;
};

struct config_lines {
	struct config_line *v;
	size_t n;
};

/* One line of an error report, with what it takes to sort the lines into file order. */
struct config_msg {
	char *text;
	const char *file; /* NULL = the main file, else an @include file */
	int line;
	size_t seq;
	size_t rank; /* of file, filled in before sorting */
};

/* What the load knows of a setting it looked up: indexed like cfg->lines. */
struct config_seen {
	const config_setting_t *s; /* where it was written, or NULL */
	bool bad;                  /* it had an error of its own */
};

/*
 * The CA or profile being read or checked: settings of its template ("ca", "scep" or
 * "csr") are named after it in the file ("cas.devices", "profiles.iphone"). The
 * short form's instances have prefix == template.
 */
struct config_inst {
	const char *tmpl;             /* NULL: the top-level settings */
	char prefix[CONFIG_NAME_MAX]; /* the group's name in the file */
	void *base;                   /* struct config_ca or struct config_profile */
};

/* One load in progress. */
struct config_ctx {
	const char *name;    /* the file name for error lines */
	const char *basedir; /* absolute: relative paths are resolved against it */
	const char *text;    /* the main file's text, for config_int_literal() */
	unsigned flags;      /* enum config_load_flags */
	struct scepd_config *cfg;
	struct config_seen *seen; /* parallel to cfg->lines->v */
	size_t cur;               /* index in seen of the setting being converted, or SIZE_MAX */
	struct config_inst inst;  /* the instance template names are read in */
	struct config_msg *msgs;
	size_t n_msgs;
	const char **files; /* @include files in order of appearance */
	size_t n_files;
};

/* config.c: the table */
const struct config_key *config_key_find(const char *name);
const char *config_key_tmpl(const struct config_key *key); /* "ca", "scep", "csr" or NULL */
const char *config_key_leaf(const struct config_key *key);
bool config_key_in(const struct config_key *key, const char *parent);

/* config.c: error lines */
int config_error(struct config_ctx *ctx, const config_setting_t *at, const char *setting,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int config_wrong_type(struct config_ctx *ctx, const config_setting_t *s, const char *setting,
		      const char *expected);
int config_range_error(struct config_ctx *ctx, const config_setting_t *s, const char *setting,
		       long long n, long long min, long long max);
void config_elem_name(char *buf, size_t size, const char *base, size_t i);
int config_errors_add(struct config_errors *errs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * config.c: where settings were written in the file being loaded. A name of a
 * template ("scep.ra.key") means that setting of ctx->inst ("profiles.x.ra.key").
 */
const config_setting_t *config_found(const struct config_ctx *ctx, const char *name);
const config_setting_t *config_at(const struct config_ctx *ctx, const char *name);
bool config_bad(const struct config_ctx *ctx, const char *name);

/*
 * config.c: the integer s as it is written in the file. libconfig 1.5 keeps an integer
 * written without the L suffix in 32 bits (4294967296 reads as 0, 0x100000001 as 1,
 * 9999999999 as 1410065407) and saturates one beyond 64 bits. 0 and the literal in buf
 * (e.g. "0x100000001") when what libconfig read is not what was written, with
 * *ret_fits false when the literal does not fit in 64 bits either, or *ret_exact its
 * value; 1 when the value read is the one written (or the literal cannot be found);
 * -ENOMEM.
 */
int config_int_literal(const struct config_ctx *ctx, const config_setting_t *s, char *buf,
		       size_t size, long long *ret_exact, bool *ret_fits);

/* config.c: the lists of struct scepd_config */
int config_strv_add(struct config_strv *sv, const char *s);
int config_pairs_add(struct config_pairs *pairs, const char *name, const char *value, int line);
int config_field_rules_add(struct config_field_rules *rules, const char *field, int count);
void config_secret_free(struct config_secret *sec);

/*
 * config_conv.c: the value of key, converted by the converter of its type into field
 * (of ctx->cfg): from s as written in the file, or the default when s is NULL.
 */
int config_conv(struct config_ctx *ctx, const struct config_key *key, const config_setting_t *s,
		void *field);

/* config_x509.c */
int config_x509_extension(struct config_ctx *ctx, const config_setting_t *at, const char *setting,
			  const struct config_pairs *pairs, size_t i);
int config_x509_digest(struct config_ctx *ctx, const config_setting_t *s, const char *setting,
		       const char *v, char **ret_digest);
int config_x509_dn_field(struct config_ctx *ctx, const config_setting_t *at, const char *setting,
			 const char *field);
int config_x509_san_field(struct config_ctx *ctx, const config_setting_t *at, const char *setting,
			  const char *field);

/* config.c: make inst the instance template names are read in; returns the one before */
struct config_inst config_enter(struct config_ctx *ctx, struct config_inst inst);
/* config.c: the instance of a CA or profile of ctx->cfg */
struct config_inst config_ca_inst(const struct scepd_config *cfg, struct config_ca *ca);
struct config_inst config_profile_inst(const struct scepd_config *cfg, struct config_profile *p);

/* config_rules.c: every rule between settings, once all of them are converted */
int config_rules_check(struct config_ctx *ctx);

/* config_suggest.c: the closest known name, or NULL */
const char *config_suggest_key(const char *parent, const char *leaf);
const char *config_suggest_word(const char *const *words, const char *typed);

#endif
