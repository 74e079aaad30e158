/*
 * test_config.c - unit tests of config.c: every error message with its FILE:LINE,
 * the defaults, a full configuration, relative paths, config_line(), config_where(),
 * config_parse_listen() and the shipped conf/scepd.conf.
 *
 * The configurations are parsed with config_load_string() under the name "t.conf"
 * with a temporary directory as basedir; that directory holds placeholder
 * files for every file the configurations name (the parser checks only that they
 * can be opened). "@D@" in an expected line stands for that directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "scepd/config.h"
#include "../../src/config_keys.h"
#include "testlib.h"

#define MIN            "ca = { certificate = \"ca.pem\"; key = \"ca.key\"; };\n"
#define CA             "ca = { certificate = \"ca.pem\"; key = \"ca.key\"; " /* ...and more */
#define SECRET_SOURCES "use \"credential:NAME\", \"file:PATH\" or \"env:NAME\""
#define MAX_LINES      10

/* clang-format off */
static const char *const test_files[] = {
	"ca.pem",      "ca.key",    "next.pem",     "ra.pem",     "ra.key",
	"ra-next.pem", "pin.txt",   "pass.txt",     "ra-pass.txt", "challenge.txt",
	"tokens",      "bad.inc",   "ca-chain.pem", "next-ca.pem", "ra-key.pem",
	NULL,
};
/* clang-format on */

struct test_env {
	char *dir;
};

/* Helpers */

static void
write_file(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX * 2];

	testlib_write_file(testlib_path(path, sizeof(path), dir, name), text);
}

/* tmpl with every "@D@" replaced by dir; the caller frees it. */
static char *
expand(const char *tmpl, const char *dir)
{
	size_t n = 1;
	char *out, *o;

	for (const char *p = tmpl; *p != '\0'; p++)
		n += strncmp(p, "@D@", 3) == 0 ? strlen(dir) : 1;
	assert_non_null(out = malloc(n));
	for (o = out; *tmpl != '\0';) {
		if (strncmp(tmpl, "@D@", 3) == 0) {
			o = stpcpy(o, dir);
			tmpl += 3;
		} else {
			*o++ = *tmpl++;
		}
	}
	*o = '\0';
	return out;
}

static char *
source_path(const char *rel)
{
	const char *src = getenv("SCEPD_SOURCE_DIR");
	char *p;

	assert_non_null(src);
	assert_true(asprintf(&p, "%s/%s", src, rel) > 0);
	return p;
}

static void
print_errors(const char *what, const struct config_errors *errs)
{
	print_error("case '%s' reported %zu line(s):\n", what, errs->n);
	for (size_t i = 0; i < errs->n; i++)
		print_error("  %s\n", errs->v[i]);
}

/* Parse text that must be valid; the caller frees the result. */
static struct scepd_config *
load_ok(const struct test_env *env, const char *text)
{
	struct config_errors errs = { 0 };
	struct scepd_config *cfg = NULL;
	int r;

	r = config_load_string(text, "t.conf", env->dir, &cfg, &errs);
	if (r != 0)
		print_errors(text, &errs);
	assert_int_equal(r, 0);
	assert_int_equal(errs.n, 0);
	assert_non_null(cfg);
	config_errors_clear(&errs);
	return cfg;
}

/* Setup */

static int
group_setup(void **state)
{
	struct test_env *env = calloc(1, sizeof(*env));
	char sub[PATH_MAX + 16];

	if (env == NULL)
		return -1;
	env->dir = testlib_tmpdir("test_config");
	for (size_t i = 0; test_files[i] != NULL; i++)
		write_file(env->dir, test_files[i], "placeholder\n");
	write_file(env->dir, "bad.inc", "server = {\n  workers = 5000; };\n");
	write_file(env->dir, "wrap.inc",
		   "# beyond 32 bits\nserver = {\n  workers = 0x100000000; };\n");
	snprintf(sub, sizeof(sub), "%s/state", env->dir);
	if (mkdir(sub, 0700) < 0)
		return -1;
	*state = env;
	return 0;
}

static int
group_teardown(void **state)
{
	struct test_env *env = *state;

	testlib_rmtree(env->dir);
	free(env->dir);
	free(env);
	return 0;
}

/* Every error, with its line */

struct error_case {
	const char *what;
	const char *text;
	const char *lines[MAX_LINES]; /* expected, in order; "@D@" = the directory */
};

/* clang-format off */
static const struct error_case error_cases[] = {
	/* Syntax: libconfig stops at the first one. */
	{ "syntax error", "server = {\n  workers = 2;\n  listen = ;\n};\n",
	  { "t.conf:3: syntax error" } },
	{ "duplicate setting", MIN "log = { level = \"info\";\n  level = \"debug\"; };\n",
	  { "t.conf:3: syntax error: duplicate setting name" } },

	/* Types and ranges */
	{ "workers below range", MIN "server = { workers = -3; };\n",
	  { "t.conf:2: server.workers: -3 is out of range (0..1024)" } },
	{ "max_request_bytes below range", MIN "server = { max_request_bytes = 100; };\n",
	  { "t.conf:2: server.max_request_bytes: 100 is out of range (4096..16777216)" } },
	{ "days zero", CA "\n  days = 0; };\n",
	  { "t.conf:2: ca.days: 0 is out of range (1..36500)" } },
	{ "wrong type int", MIN "server = { workers = \"4\"; };\n",
	  { "t.conf:2: server.workers: expected an integer, got a string" } },
	{ "float for int", MIN "server = { request_timeout = 1.5; };\n",
	  { "t.conf:2: server.request_timeout: expected an integer, got a floating-point "
	    "number" } },
	{ "wrong type string", MIN "server = { user = 0; };\n",
	  { "t.conf:2: server.user: expected a string, got an integer" } },
	{ "empty string", MIN "server = { group = \"\"; };\n",
	  { "t.conf:2: server.group: empty; remove the setting to leave it unset" } },
	{ "wrong type bool", MIN "engine = { allow_inline_pin = \"yes\"; };\n",
	  { "t.conf:2: engine.allow_inline_pin: expected a boolean (true or false), got a "
	    "string" } },
	{ "group expected", MIN "server = 5;\n",
	  { "t.conf:2: server: expected a group, got an integer" } },
	{ "required group of wrong type", "ca = \"ca.pem\";\n",
	  { "t.conf:1: ca: expected a group, got a string" } },
	{ "range of every server integer",
	  MIN "server = {\n  request_timeout = 0;\n  max_connections = 65537;\n"
	      "  drain_timeout = 3601;\n  workers = 1025;\n  threads = 0;\n};\n",
	  { "t.conf:3: server.request_timeout: 0 is out of range (1..3600)",
	    "t.conf:4: server.max_connections: 65537 is out of range (1..65536)",
	    "t.conf:5: server.drain_timeout: 3601 is out of range (1..3600)",
	    "t.conf:6: server.workers: 1025 is out of range (0..1024)",
	    "t.conf:7: server.threads: 0 is out of range (1..64)" } },

	/*
	 * Integers beyond 32 bits, which libconfig 1.5 keeps truncated (4294967296 as 0,
	 * 0x100000001 as 1, 9999999999 as 1410065407): refused as written.
	 */
	{ "2^32 is not 0", MIN "server = { workers = 4294967296; };\n",
	  { "t.conf:2: server.workers: 4294967296 is out of range (0..1024)" } },
	{ "hex beyond 32 bits is not 1", MIN "server = { workers = 0x100000001; };\n",
	  { "t.conf:2: server.workers: 0x100000001 is out of range (0..1024)" } },
	{ "9999999999 quoted, not 1410065407", MIN "server = { workers = 9999999999; };\n",
	  { "t.conf:2: server.workers: 9999999999 is out of range (0..1024)" } },
	{ "beyond 64 bits", MIN "server = {\n  threads = 99999999999999999999;\n};\n",
	  { "t.conf:3: server.threads: 99999999999999999999 is out of range (1..64)" } },
	{ "L suffix beyond range", MIN "server = { workers = 4294967296L; };\n",
	  { "t.conf:2: server.workers: 4294967296 is out of range (0..1024)" } },
	{ "in an included file", MIN "@include \"wrap.inc\"\n",
	  { "wrap.inc:3: server.workers: 0x100000000 is out of range (0..1024)" } },
	{ "negative for a count", MIN "server = { workers = -1; };\n",
	  { "t.conf:2: server.workers: -1 is out of range (0..1024)" } },
	{ "the one that wraps, of two on a line",
	  MIN "server = { threads = 4; workers = 4294967296; drain_timeout = 4294967306; };\n",
	  { "t.conf:2: server.workers: 4294967296 is out of range (0..1024)",
	    "t.conf:2: server.drain_timeout: 4294967306 is out of range (1..3600)" } },
	{ "a count in a request list",
	  MIN "csr = { auth = \"none\";\n  subject_alt_name = { request = ( (\"dNSName\", 4294967297) ); }; };\n",
	  { "t.conf:3: csr.subject_alt_name.request[0]: count 4294967297 is out of range (1..1000)" } },

	/* Unknown settings */
	{ "unknown with hint", MIN "server = {\n  wokers = 4;\n};\n",
	  { "t.conf:3: server.wokers: unknown setting 'wokers', did you mean 'workers'?" } },
	{ "unknown without hint", MIN "server = { frobnicate = 1; };\n",
	  { "t.conf:2: server.frobnicate: unknown setting 'frobnicate'" } },
	{ "unknown group with hint", MIN "sevrer = { workers = 2; };\n",
	  { "t.conf:2: sevrer: unknown setting 'sevrer', did you mean 'server'?" } },
	{ "unknown top-level setting", MIN "colour = \"blue\";\n",
	  { "t.conf:2: colour: unknown setting 'colour'" } },
	{ "unknown nested", MIN "scep = { ra = { certificat = \"ra.pem\"; }; };\n",
	  { "t.conf:2: scep.ra.certificat: unknown setting 'certificat', did you mean "
	    "'certificate'?" } },
	{ "unknown differing in case", MIN "log = { Level = \"info\"; };\n",
	  { "t.conf:2: log.Level: unknown setting 'Level', did you mean 'level'?" } },

	/* Required settings and files */
	{ "missing ca.certificate", "ca = {\n  key = \"ca.key\";\n};\n",
	  { "t.conf:1: ca.certificate: required setting missing" } },
	{ "missing ca group", "\n\nlog = { level = \"info\"; };\n",
	  { "t.conf:1: ca.certificate: required setting missing",
	    "t.conf:1: ca.key: required setting missing" } },
	{ "empty file", "",
	  { "t.conf:1: ca.certificate: required setting missing",
	    "t.conf:1: ca.key: required setting missing" } },
	{ "missing file", "ca = {\n  certificate = \"nope.pem\";\n  key = \"ca.key\";\n};\n",
	  { "t.conf:2: ca.certificate: cannot read '@D@/nope.pem': No such file or "
	    "directory" } },
	{ "missing absolute file",
	  "ca = { certificate = \"/nonexistent/ca.pem\"; key = \"ca.key\"; };\n",
	  { "t.conf:1: ca.certificate: cannot read '/nonexistent/ca.pem': No such file or "
	    "directory" } },
	{ "directory as key file", "ca = { certificate = \"ca.pem\";\n  key = \"state\"; };\n",
	  { "t.conf:2: ca.key: cannot read '@D@/state': Is a directory" } },
	{ "empty path", "ca = { certificate = \"\"; key = \"ca.key\"; };\n",
	  { "t.conf:1: ca.certificate: empty path" } },
	{ "next certificate missing",
	  CA "\n  next_certificate = \"later.pem\"; };\n",
	  { "t.conf:2: ca.next_certificate: cannot read '@D@/later.pem': No such file or "
	    "directory" } },

	/* Engine and PIN */
	{ "inline pin", MIN "engine = {\n  id = \"pkcs11\";\n  pin = \"1234\";\n};\n",
	  { "t.conf:4: engine.pin: a PIN written in the configuration file is refused; "
	    SECRET_SOURCES
	    ", or set engine.allow_inline_pin = true" } },
	{ "PIN engine command",
	  MIN "engine = { id = \"dynamic\";\n  pre = ( (\"ID\", \"pkcs11\"),\n"
	      "    (\"PIN\", \"1234\") ); };\n",
	  { "t.conf:4: engine.pre[1]: a PIN written in the configuration file is refused; use "
	    "engine.pin, or set engine.allow_inline_pin = true" } },
	{ "pkcs11 key without engine",
	  "ca = { certificate = \"ca.pem\";\n  key = \"pkcs11:token=ca;object=key\"; };\n",
	  { "t.conf:2: ca.key: a pkcs11: URI needs engine.id to be set" } },
	{ "empty pkcs11 URI",
	  "engine = { id = \"x\"; };\nca = { certificate = \"ca.pem\"; key = \"pkcs11:\"; };\n",
	  { "t.conf:2: ca.key: empty pkcs11: URI" } },
	{ "engine settings without id",
	  MIN "engine = { pre = ( (\"LOAD\") );\n  post = ( );\n  pin = \"env:PIN\"; };\n",
	  { "t.conf:2: engine.pre: has no effect without engine.id",
	    "t.conf:4: engine.pin: has no effect without engine.id" } },
	{ "engine command shapes",
	  MIN "engine = { id = \"dynamic\";\n  pre = ( (\"A\", \"B\", \"C\"),\n    \"LOAD\",\n"
	      "    ( ),\n    (\"X\", 1.5) ); };\n",
	  { "t.conf:3: engine.pre[0]: expected (\"NAME\", \"VALUE\") or (\"NAME\")",
	    "t.conf:4: engine.pre[1]: expected (\"NAME\", \"VALUE\") or (\"NAME\")",
	    "t.conf:5: engine.pre[2]: expected (\"NAME\", \"VALUE\") or (\"NAME\")",
	    "t.conf:6: engine.pre[3]: expected (\"NAME\", \"VALUE\") or (\"NAME\")" } },
	{ "engine commands not a list", MIN "engine = { id = \"dynamic\"; post = \"LOAD\"; };\n",
	  { "t.conf:2: engine.post: expected a list, got a string" } },
	{ "empty engine id", MIN "engine = { id = \"\"; };\n",
	  { "t.conf:2: engine.id: empty; remove the setting to leave it unset" } },

	/* Other secrets */
	{ "inline key passphrase",
	  CA "\n  key_passphrase = \"hunter2\"; };\n",
	  { "t.conf:2: ca.key_passphrase: a secret written in the configuration file is "
	    "refused; " SECRET_SOURCES } },
	{ "credential with slash",
	  CA "key_passphrase = \"credential:../x\"; };\n",
	  { "t.conf:1: ca.key_passphrase: \"credential:NAME\" needs a NAME without '/'" } },
	{ "empty credential",
	  CA "key_passphrase = \"credential:\"; };\n",
	  { "t.conf:1: ca.key_passphrase: \"credential:NAME\" needs a NAME without '/'" } },
	{ "bad env name",
	  CA "key_passphrase = \"env:1PASS\"; };\n",
	  { "t.conf:1: ca.key_passphrase: \"env:NAME\" needs a variable NAME of letters, "
	    "digits and '_'" } },
	{ "missing secret file",
	  CA "key_passphrase = \"file:nope.txt\"; };\n",
	  { "t.conf:1: ca.key_passphrase: cannot read '@D@/nope.txt': No such file or "
	    "directory" } },
	{ "empty secret",
	  CA "key_passphrase = \"\"; };\n",
	  { "t.conf:1: ca.key_passphrase: empty; " SECRET_SOURCES } },
	{ "inline RA passphrase",
	  MIN "scep = { ra = { certificate = \"ra.pem\"; key = \"ra.key\";\n"
	      "  key_passphrase = \"hunter2\"; }; };\n",
	  { "t.conf:3: scep.ra.key_passphrase: a secret written in the configuration file is "
	    "refused; " SECRET_SOURCES } },

	/* SCEP: RA, challenge, approval */
	{ "RA certificate without key", MIN "scep = { ra = {\n  certificate = \"ra.pem\"; }; };\n",
	  { "t.conf:2: scep.ra.key: required when scep.ra.certificate is set" } },
	{ "RA key without certificate", MIN "scep = { ra = { key = \"ra.key\"; }; };\n",
	  { "t.conf:2: scep.ra.certificate: required when scep.ra.key is set" } },
	{ "RA next certificate alone",
	  MIN "scep = { ra = {\n  next_certificate = \"ra-next.pem\"; }; };\n",
	  { "t.conf:3: scep.ra.next_certificate: needs scep.ra.certificate" } },
	{ "RA pkcs11 key without engine",
	  MIN "scep = { ra = { certificate = \"ra.pem\";\n  key = \"pkcs11:object=ra\"; }; };\n",
	  { "t.conf:3: scep.ra.key: a pkcs11: URI needs engine.id to be set" } },
	{ "static challenge without secret",
	  MIN "scep = { challenge = {\n  mode = \"static\"; }; };\n",
	  { "t.conf:2: scep.challenge.secret: required when scep.challenge.mode = \"static\"" } },
	{ "challenge secret without static",
	  MIN "scep = { challenge = {\n  mode = \"otp\";\n  secret = \"env:CHALLENGE\"; }; };\n",
	  { "t.conf:4: scep.challenge.secret: only used when scep.challenge.mode = \"static\" "
	    "or \"webhook\"" } },
	{ "webhook without url and secret", MIN "scep = { challenge = {\n  mode = \"webhook\"; }; };\n",
	  { "t.conf:2: scep.challenge.secret: required when scep.challenge.mode = \"webhook\" "
	    "(the base64 key that signs each call, as step-ca's webhook secret)",
	    "t.conf:2: scep.challenge.url: required when scep.challenge.mode = \"webhook\"" } },
	{ "webhook http to another host",
	  MIN "scep = { challenge = { mode = \"webhook\"; secret = \"env:K\";\n"
	      "  url = \"http://mdm.example/v\"; }; };\n",
	  { "t.conf:3: scep.challenge.url: http:// only to 127.0.0.1, [::1] or localhost: the "
	    "challenges and the answers would cross the network in the clear; use https://" } },
	{ "webhook http to a look-alike of loopback",
	  MIN "scep = { challenge = { mode = \"webhook\"; secret = \"env:K\";\n"
	      "  url = \"http://127.0.0.1.evil.example/v\"; }; };\n",
	  { "t.conf:3: scep.challenge.url: http:// only to 127.0.0.1, [::1] or localhost: the "
	    "challenges and the answers would cross the network in the clear; use https://" } },
	{ "webhook url with a password",
	  MIN "scep = { challenge = { mode = \"webhook\"; secret = \"env:K\";\n"
	      "  url = \"https://u:p@mdm.example/v\"; }; };\n",
	  { "t.conf:3: scep.challenge.url: 'https://u:p@mdm.example/v': expected "
	    "scheme://HOST[:PORT]/PATH, without user or password" } },
	{ "webhook url of another scheme",
	  MIN "scep = { challenge = { mode = \"webhook\"; secret = \"env:K\";\n"
	      "  url = \"ftp://mdm.example/v\"; }; };\n",
	  { "t.conf:3: scep.challenge.url: 'ftp://mdm.example/v' is not an https:// or http:// "
	    "URL" } },
	{ "webhook id on two lines",
	  MIN "scep = { challenge = { mode = \"webhook\"; secret = \"env:K\";\n"
	      "  url = \"https://mdm.example/v\";\n  id = \"a\\nX-Other: 1\"; }; };\n",
	  { "t.conf:4: scep.challenge.id: printable ASCII on one line only: it is sent as the "
	    "X-Smallstep-Webhook-ID header" } },
	{ "webhook settings without webhook",
	  MIN "scep = { challenge = { mode = \"otp\";\n  url = \"https://mdm.example/v\"; }; };\n",
	  { "t.conf:3: scep.challenge.url: only used when scep.challenge.mode = \"webhook\"" } },
	{ "webhook timeout out of range",
	  MIN "scep = { challenge = { mode = \"webhook\"; secret = \"env:K\";\n"
	      "  url = \"http://[::1]:9/v\";\n  timeout = 61; }; };\n",
	  { "t.conf:4: scep.challenge.timeout: 61 is out of range (1..60)" } },
	{ "inline challenge",
	  MIN "scep = { challenge = { mode = \"static\";\n  secret = \"letmein\"; }; };\n",
	  { "t.conf:3: scep.challenge.secret: a secret written in the configuration file is "
	    "refused; " SECRET_SOURCES } },
	{ "bad challenge mode", MIN "scep = { challenge = { mode = \"otpx\"; }; };\n",
	  { "t.conf:2: scep.challenge.mode: 'otpx' is not one of \"none\", \"static\", "
	    "\"otp\", \"webhook\"" } },
	{ "NDES page without mode otp",
	  MIN "scep = { challenge = { mode = \"static\"; secret = \"env:C\";\n"
	      "  ndes = { path = \"/certsrv/mscep_admin/\"; users = \"file:ca.pem\"; }; }; };\n",
	  { "t.conf:3: scep.challenge.ndes: only with scep.challenge.mode = \"otp\": the page "
	    "gives out one-time challenges" } },
	{ "NDES page without users",
	  MIN "scep = { challenge = { mode = \"otp\";\n  ndes = { path = \"/n\"; }; }; };\n",
	  { "t.conf:3: scep.challenge.ndes.users: required: \"file:PATH\" of name:hash lines "
	    "(htpasswd -B)" } },
	{ "NDES page without path, users not a file: source",
	  MIN "scep = { challenge = { mode = \"otp\"; ndes = {\n  users = \"ca.pem\"; }; }; };\n",
	  { "t.conf:2: scep.challenge.ndes.path: required: the URL path of the NDES page "
	    "(\"/certsrv/mscep_admin/\")",
	    "t.conf:3: scep.challenge.ndes.users: 'ca.pem' is not \"file:PATH\"" } },
	{ "NDES page at the SCEP path, at a reserved path",
	  "cas = { a = { certificate = \"ca.pem\"; key = \"ca.key\"; }; };\n"
	  "profiles = {\n"
	  "  p = { type = \"scep\"; path = \"/p\"; challenge = { mode = \"otp\";\n"
	  "        ndes = { path = \"/p\"; users = \"file:ca.pem\"; }; }; };\n"
	  "  q = { type = \"scep\"; path = \"/q\"; challenge = { mode = \"otp\";\n"
	  "        ndes = { path = \"/healthz\"; users = \"file:ca.pem\"; }; }; };\n"
	  "};\n",
	  { "t.conf:4: profiles.p.challenge.ndes.path: '/p' is also served by profiles.p.path",
	    "t.conf:6: profiles.q.challenge.ndes.path: '/healthz' is reserved (/healthz, "
	    "/metrics, /cgi-bin/pkiclient.exe)" } },
	{ "bad approval", MIN "scep = { approval = \"maybe\"; };\n",
	  { "t.conf:2: scep.approval: 'maybe' is not one of \"auto\", \"manual\"" } },

	/* CA: digest, serial, extensions */
	{ "digest md5", CA "\n  digest = \"md5\"; };\n",
	  { "t.conf:2: ca.digest: 'md5' is refused: MD5 is broken; use \"sha256\", \"sha384\" "
	    "or \"sha512\"" } },
	{ "digest sha1", CA "\n  digest = \"SHA1\"; };\n",
	  { "t.conf:2: ca.digest: 'SHA1' is refused: SHA-1 collisions are practical; use "
	    "\"sha256\", \"sha384\" or \"sha512\"" } },
	{ "digest unknown", CA "\n  digest = \"sha224\"; };\n",
	  { "t.conf:2: ca.digest: 'sha224' is not one of \"sha256\", \"sha384\", \"sha512\"" } },
	{ "serial unknown", CA "\n  serial = \"sequential\"; };\n",
	  { "t.conf:2: ca.serial: 'sequential' is not one of \"random\", \"subject\", "
	    "\"file:PATH\"" } },
	{ "serial directory missing",
	  CA "\n  serial = \"file:nodir/serial\"; };\n",
	  { "t.conf:2: ca.serial: cannot use directory '@D@/nodir': No such file or directory" } },
	{ "serial directory is a file",
	  CA "\n  serial = \"file:ca.pem/serial\"; };\n",
	  { "t.conf:2: ca.serial: cannot use directory '@D@/ca.pem': Not a directory" } },
	{ "serial names a directory", CA "\n  serial = \"file:state\"; };\n",
	  { "t.conf:2: ca.serial: cannot use '@D@/state': Is a directory" } },
	{ "days out of range", CA "\n  days = 36501; };\n",
	  { "t.conf:2: ca.days: 36501 is out of range (1..36500)" } },
	{ "extensions",
	  CA "\n"
	  "  extensions = ( (\"keyUsage\", \"digitalSignatur\"),\n"
	  "    (\"fooBar\", \"x\"),\n"
	  "    (\"basicConstraints\", \"CA:FALSE\"),\n"
	  "    (\"basicConstraints\", \"CA:TRUE\"),\n"
	  "    (\"subjectKeyIdentifier\"),\n"
	  "    (\"subjectAltName\", \"@alt_names\") ); };\n",
	  { "t.conf:2: ca.extensions[0]: OpenSSL refuses 'digitalSignatur' for keyUsage: unknown "
	    "bit string argument",
	    "t.conf:3: ca.extensions[1]: 'fooBar' is not an X.509v3 extension known to OpenSSL",
	    "t.conf:5: ca.extensions[3]: 'basicConstraints' is listed twice",
	    "t.conf:6: ca.extensions[4]: expected (\"NAME\", \"VALUE\")",
	    "t.conf:7: ca.extensions[5]: OpenSSL refuses '@alt_names' for subjectAltName: "
	    "invalid extension string" } },
	{ "extensions not a list",
	  CA "\n  extensions = \"basicConstraints\"; };\n",
	  { "t.conf:2: ca.extensions: expected a list, got a string" } },

	/* server.listen */
	{ "listen entries",
	  MIN "server = { listen = (\n    \"127.0.0.1:8080\",\n    \"300.0.0.1:80\",\n"
	      "    \"[::1]:0\",\n    8080,\n    \"127.0.0.1:8080\",\n    \"localhost:80\" ); };\n",
	  { "t.conf:4: server.listen[1]: '300.0.0.1:80' is not a numeric address and port such "
	    "as \"127.0.0.1:8080\", \"[::1]:8080\" or \"*:8080\"",
	    "t.conf:5: server.listen[2]: '[::1]:0': the port is out of range (1..65535)",
	    "t.conf:6: server.listen[3]: expected a string, got an integer",
	    "t.conf:7: server.listen[4]: '127.0.0.1:8080' is listed twice",
	    "t.conf:8: server.listen[5]: 'localhost:80' is not a numeric address and port such "
	    "as \"127.0.0.1:8080\", \"[::1]:8080\" or \"*:8080\"" } },
	{ "listen empty", MIN "server = { listen = [ ]; };\n",
	  { "t.conf:2: server.listen: empty; at least one address is needed" } },
	{ "listen string", MIN "server = { listen = \"127.0.0.1:80\"; };\n",
	  { "t.conf:2: server.listen: expected an array of strings, got a string" } },
	{ "listen same address written twice",
	  MIN "server = { listen = [\"*:80\", \"0.0.0.0:80\"]; };\n",
	  { "t.conf:2: server.listen[1]: '0.0.0.0:80' is listed twice" } },

	/* server.tls */
	{ "tls without a key",
	  MIN "server = { tls = { listen = [\"127.0.0.1:8443\"];\n"
	      "    certificate = \"ca.pem\"; }; };\n",
	  { "t.conf:2: server.tls.key: required for TLS: server.tls needs listen, certificate and "
	    "key" } },
	{ "admin client_ca without TLS",
	  MIN "admin = { tokens = \"file:t\";\n  client_ca = \"ca.pem\"; client_scopes = [\"read\"]; };\n",
	  { "t.conf:3: admin.client_ca: needs server.tls: client certificates come over TLS" } },
	{ "admin client_ca without scopes",
	  MIN "server = { tls = { listen = [\"[::1]:8443\"]; certificate = \"ca.pem\";\n"
	      "  key = \"ca.key\"; }; };\n"
	      "admin = { tokens = \"file:t\"; client_ca = \"ca.pem\"; };\n",
	  { "t.conf:4: admin.client_scopes: required with admin.client_ca: what a client "
	    "certificate may do ([\"read\", \"challenge:PROFILE\", ...])" } },
	{ "admin client_scopes: an unknown scope, and without client_ca",
	  MIN "admin = { tokens = \"file:t\";\n  client_scopes = [\"read\", \"write\"]; };\n",
	  { "t.conf:3: admin.client_scopes[1]: 'write' is not a scope (challenge:PROFILE, "
	    "challenge:*, revoke, approve, read)",
	    "t.conf:3: admin.client_scopes: only with admin.client_ca (the CA of the clients' "
	    "certificates)" } },
	{ "admin client_scopes without client_ca",
	  MIN "admin = { tokens = \"file:t\";\n  client_scopes = [\"challenge:wifi\"]; };\n",
	  { "t.conf:3: admin.client_scopes: only with admin.client_ca (the CA of the clients' "
	    "certificates)" } },
	{ "tls on a plain address",
	  MIN "server = { listen = [\"127.0.0.1:8080\", \"[::1]:8080\"];\n"
	      "  tls = { listen = [\"*:8080\", \"[::1]:8443\"];\n"
	      "    certificate = \"ca.pem\"; key = \"ca.key\"; }; };\n",
	  { "t.conf:3: server.tls.listen: '*:8080' collides with server.listen '127.0.0.1:8080': "
	    "one address and port serves either plain HTTP or TLS" } },

	/* subject and subjectAltName rules */
	{ "subject request",
	  MIN "scep = { subject = { request = ( \"*\",\n    \"XXQ\",\n    (\"CN\", 0),\n"
	      "    (\"*\", 2),\n    \"CN\",\n    (\"OU\", 1),\n    \"OU\",\n    42 ); }; };\n",
	  { "t.conf:3: scep.subject.request[1]: 'XXQ' is not a subject field known to OpenSSL",
	    "t.conf:4: scep.subject.request[2]: count 0 is out of range (1..1000)",
	    "t.conf:5: scep.subject.request[3]: '*' takes no count",
	    "t.conf:8: scep.subject.request[6]: 'OU' is listed twice",
	    "t.conf:9: scep.subject.request[7]: expected \"FIELD\" or (\"FIELD\", COUNT)" } },
	{ "subject request count too large",
	  MIN "csr = { auth = \"none\"; subject = { request = ( (\"CN\", 1001) ); }; };\n",
	  { "t.conf:2: csr.subject.request[0]: count 1001 is out of range (1..1000)" } },
	{ "subject request not a list", MIN "scep = { subject = { request = \"*\"; }; };\n",
	  { "t.conf:2: scep.subject.request: expected an array or a list, got a string" } },
	{ "subject set",
	  MIN "scep = { subject = { set = ( (\"XXQ\", \"v\"),\n    (\"CN\"),\n"
	      "    (\"*\", \"x\") ); }; };\n",
	  { "t.conf:2: scep.subject.set[0]: 'XXQ' is not a subject field known to OpenSSL",
	    "t.conf:3: scep.subject.set[1]: expected (\"FIELD\", \"VALUE\")",
	    "t.conf:4: scep.subject.set[2]: '*' is not a subject field known to OpenSSL" } },
	{ "subjectAltName rules",
	  MIN "csr = { auth = \"none\"; subject_alt_name = { request = [\"dnsName\", \"email\"];\n"
	      "    set = ( (\"dNSName\", \"%{REMOTE_HOST}\"),\n"
	      "      (\"iPAddress\", \"%{REMOTE_ADDR\"),\n"
	      "      (\"rfc822Name\", \"\") ); }; };\n",
	  { "t.conf:2: csr.subject_alt_name.request[0]: 'dnsName' is not a subjectAltName type, "
	    "did you mean 'dNSName'?",
	    "t.conf:2: csr.subject_alt_name.request[1]: 'email' is not a subjectAltName type "
	    "(otherName, rfc822Name, dNSName, x400Address, directoryName, ediPartyName, "
	    "uniformResourceIdentifier, iPAddress, registeredID)",
	    "t.conf:3: csr.subject_alt_name.set[0]: '%{REMOTE_HOST}' is not a known variable "
	    "(%{REMOTE_ADDR}, %{REMOTE_USER})",
	    "t.conf:4: csr.subject_alt_name.set[1]: '%{REMOTE_ADDR': unterminated '%{'",
	    "t.conf:5: csr.subject_alt_name.set[2]: empty value" } },
	{ "subjectAltName set of a structured type",
	  MIN "csr = { auth = \"none\"; subject_alt_name = { set = ( (\"directoryName\", \"CN=x\") ); }; };\n",
	  { "t.conf:2: csr.subject_alt_name.set[0]: cannot set directoryName from text "
	    "(rfc822Name, dNSName, uniformResourceIdentifier, iPAddress, registeredID can be set)" } },

	/* Freshness, URLs, paths */
	{ "freshness max out of range", MIN "scep = { freshness = [2, 99999999]; };\n",
	  { "t.conf:2: scep.freshness[1]: 99999999 is out of range (0..31536000)" } },
	{ "freshness factor out of range", MIN "scep = { freshness = 1001; };\n",
	  { "t.conf:2: scep.freshness: 1001 is out of range (0..1000)" } },
	{ "freshness factor in array out of range", MIN "scep = { freshness = [-1]; };\n",
	  { "t.conf:2: scep.freshness[0]: -1 is out of range (0..1000)" } },
	{ "freshness shape", MIN "scep = { freshness = [1, 2, 3]; };\n",
	  { "t.conf:2: scep.freshness: expected [FACTOR] or [FACTOR, MAX_SECONDS]" } },
	{ "freshness string", MIN "scep = { freshness = \"2\"; };\n",
	  { "t.conf:2: scep.freshness: expected [FACTOR] or [FACTOR, MAX_SECONDS]" } },
	{ "bad URLs", MIN "scep = { crl_url = \"ftp://x/crl\";\n  location = \"http://\"; };\n",
	  { "t.conf:2: scep.crl_url: 'ftp://x/crl' is not an http:// or https:// URL",
	    "t.conf:3: scep.location: 'http://' is not an http:// or https:// URL" } },
	{ "path without slash", MIN "scep = { path = \"scep\"; };\n",
	  { "t.conf:2: scep.path: 'scep' does not start with '/'" } },
	{ "path with query", MIN "csr = { auth = \"none\"; path = \"/csr?x\"; };\n",
	  { "t.conf:2: csr.path: '/csr?x' is not a plain URL path (no spaces, '?', '#' or "
	    "'%')" } },
	{ "reserved path", MIN "csr = { auth = \"none\"; path = \"/metrics\"; };\n",
	  { "t.conf:2: csr.path: '/metrics' is reserved (/healthz, /metrics, "
	    "/cgi-bin/pkiclient.exe)" } },
	{ "legacy SCEP path", MIN "scep = { path = \"/cgi-bin/pkiclient.exe\"; };\n",
	  { "t.conf:2: scep.path: '/cgi-bin/pkiclient.exe' is reserved (/healthz, /metrics, "
	    "/cgi-bin/pkiclient.exe)" } },
	{ "same path twice",
	  MIN "scep = { path = \"/enroll\"; };\ncsr = { auth = \"none\"; path = \"/enroll\"; };\n",
	  { "t.conf:3: csr.path: '/enroll' is also scep.path" } },
	{ "scep path equal to default csr path", MIN "scep = { path = \"/csr\"; };\ncsr = { auth = \"none\"; };\n",
	  { "t.conf:2: scep.path: '/csr' is also csr.path" } },

	/* /csr, storage, log */
	{ "csr auth unknown", MIN "csr = { auth = \"basic\"; };\n",
	  { "t.conf:2: csr.auth: 'basic' is not one of \"none\", \"tokens:PATH\"" } },
	{ "csr tokens missing", MIN "csr = { auth = \"tokens:nope\"; };\n",
	  { "t.conf:2: csr.auth: cannot read '@D@/nope': No such file or directory" } },
	{ "csr group without auth",
	  MIN "\ncsr = {\n  subject = { request = [\"CN\"]; }; };\n",
	  { "t.conf:3: csr.auth: required: say how /csr clients authenticate (\"none\" or "
	    "\"tokens:PATH\")" } },
	{ "empty csr group", MIN "csr: { };\n",
	  { "t.conf:2: csr.auth: required: say how /csr clients authenticate (\"none\" or "
	    "\"tokens:PATH\")" } },

	/* Key policy and renewal */
	{ "rsa_min_bits below 1024", MIN "scep = { keys = { rsa_min_bits = 512; }; };\n",
	  { "t.conf:2: scep.keys.rsa_min_bits: 512 is out of range (1024..16384)" } },
	{ "unknown curve", MIN "csr = { auth = \"none\"; keys = { ec_curves = [ \"P-255\" ]; }; };\n",
	  { "t.conf:2: csr.keys.ec_curves[0]: 'P-255' is not one of \"P-256\", \"P-384\", "
	    "\"P-521\"; did you mean 'P-256'?" } },
	{ "curve twice", MIN "scep = { keys = { ec_curves = [ \"P-256\", \"P-256\" ]; }; };\n",
	  { "t.conf:2: scep.keys.ec_curves[1]: 'P-256' is listed twice" } },
	{ "renewal on csr", MIN "csr = { auth = \"none\"; renewal = { window_days = 3; }; };\n",
	  { "t.conf:2: csr.renewal: unknown setting 'renewal'" } },

	/* CRLs */
	{ "crl refreshed after it expires",
	  "ca = { certificate = \"ca.pem\"; key = \"ca.key\";\n"
	  "  crl = { path = \"/crl/x.crl\"; days = 1; refresh = 86400; }; };\n",
	  { "t.conf:2: ca.crl.refresh: 86400 seconds is not less than crl.days (1): the CRL "
	    "would expire before it is made anew" } },
	{ "crl path served twice",
	  "ca = { certificate = \"ca.pem\"; key = \"ca.key\"; crl = { path = \"/x\"; }; };\n"
	  "csr = { auth = \"none\"; path = \"/x\"; };\n",
	  { "t.conf:1: ca.crl.path: '/x' (or '/x.pem') is also served by csr.path" } },
	{ "crl path reserved",
	  "ca = { certificate = \"ca.pem\"; key = \"ca.key\"; crl = { path = \"/healthz\"; }; };\n",
	  { "t.conf:1: ca.crl.path: '/healthz' is reserved (/healthz, /metrics, "
	    "/cgi-bin/pkiclient.exe)" } },
	{ "two CAs, one CRL path",
	  "cas = { a = { certificate = \"ca.pem\"; key = \"ca.key\"; crl = { path = \"/c\"; }; };\n"
	  "  b = { certificate = \"ca.pem\"; key = \"ca.key\"; crl = { path = \"/c.pem\"; }; }; };\n"
	  "profiles = { p = { type = \"scep\"; path = \"/p\"; ca = \"a\"; }; };\n",
	  { "t.conf:2: cas.b.crl.path: '/c.pem' (or '/c.pem.pem') is also served by cas.a.crl.path" } },

	{ "ocsp_url not http",
	  "ca = { certificate = \"ca.pem\"; key = \"ca.key\"; ocsp_url = \"https://o.example/x\";\n"
	  "  crl_distribution_points = [ \"http://c.example/a.crl\", \"/b.crl\" ]; };\n",
	  { "t.conf:1: ca.ocsp_url: 'https://o.example/x' is not an absolute http:// URL",
	    "t.conf:2: ca.crl_distribution_points[1]: '/b.crl' is not an absolute http:// URL" } },

	/* The long form: cas and profiles */
	{ "short and long form mixed",
	  MIN "cas = { a = { certificate = \"ca.pem\"; key = \"ca.key\"; }; };\n"
	  "profiles = { p = { type = \"scep\"; path = \"/p\"; }; };\n",
	  { "t.conf:1: ca: the short form (ca, scep, csr) cannot be mixed with cas and "
	    "profiles: write it as cas.NAME and profiles.NAME" } },
	{ "cas without profiles",
	  "cas = { a = { certificate = \"ca.pem\"; key = \"ca.key\"; }; };\n",
	  { "t.conf:1: profiles: required: the endpoints, profiles = { NAME = { type = ...; ... "
	    "}; } (or the short form: ca, scep, csr)" } },
	{ "a CA without its key",
	  "cas = { a = { certificate = \"ca.pem\"; }; };\n"
	  "profiles = { p = { type = \"scep\"; path = \"/p\"; }; };\n",
	  { "t.conf:1: cas.a.key: required setting missing" } },
	{ "profile errors",
	  "cas = {\n"
	  "  a = { certificate = \"ca.pem\"; key = \"ca.key\"; days = 0; };\n"
	  "  b = { certificate = \"ca.pem\"; key = \"ca.key\"; };\n"
	  "};\n"
	  "profiles = {\n"
	  "  p = { type = \"scep\"; path = \"/p\"; ca = \"c\"; };\n"
	  "  q = { type = \"est\"; path = \"/q\"; };\n"
	  "  r = { type = \"csr\"; path = \"/r\"; auth = \"none\"; };\n"
	  "  s = { type = \"csr\"; ca = \"a\"; auth = \"none\"; };\n"
	  "  t = { type = \"scep\"; path = \"/t\"; ca = \"a\"; challenge = { mode = \"otp\"; secret = \"file:ca.pem\"; }; auth = \"none\"; };\n"
	  "  u = { type = \"csr\"; path = \"/t\"; ca = \"b\"; auth = \"none\"; };\n"
	  "};\n",
	  { "t.conf:2: cas.a.days: 0 is out of range (1..36500)",
	    "t.conf:6: profiles.p.ca: 'c' is not one of cas (\"a\", \"b\")",
	    "t.conf:7: profiles.q.type: 'est' is not one of \"scep\", \"csr\"",
	    "t.conf:8: profiles.r.ca: required: one of cas (\"a\", \"b\")",
	    "t.conf:9: profiles.s.path: required: the URL path the profile answers at",
	    "t.conf:10: profiles.t.auth: unknown setting 'auth'",
	    "t.conf:10: profiles.t.challenge.secret: only used when scep.challenge.mode = "
	    "\"static\" or \"webhook\"",
	    "t.conf:11: profiles.u.path: '/t' is also profiles.t.path" } },
	{ "a profile name too long",
	  "cas = { a = { certificate = \"ca.pem\"; key = \"ca.key\"; }; };\n"
	  "profiles = { p123456789012345678901234567890123456789012345678 = { type = \"scep\"; "
	  "path = \"/p\"; }; };\n",
	  { "t.conf:2: profiles.p123456789012345678901234567890123456789012345678: a name of at "
	    "most 48 characters" } },

	/* Address allow-lists */
	{ "allow entries",
	  MIN "scep = { allow = (\"10.0.0.1/8\", \"10.0.0.0/33\",\n"
	      "  \"::/129\", \"host.example\", 7, \"fe80::1%eth0\"); };\n"
	      "csr = { auth = \"none\";\n  allow = [ ]; };\n",
	  { "t.conf:2: scep.allow[0]: '10.0.0.1/8' has bits set after the prefix; write the "
	    "network address (\"10.0.0.0/8\", not \"10.0.0.1/8\")",
	    "t.conf:2: scep.allow[1]: '10.0.0.0/33': the prefix length is out of range (0..32 "
	    "for IPv4, 0..128 for IPv6)",
	    "t.conf:3: scep.allow[2]: '::/129': the prefix length is out of range (0..32 for "
	    "IPv4, 0..128 for IPv6)",
	    "t.conf:3: scep.allow[3]: 'host.example' is not a numeric IPv4 or IPv6 address, or "
	    "ADDRESS/PREFIX such as \"10.0.0.0/8\" or \"::1/128\"",
	    "t.conf:3: scep.allow[4]: expected a string, got an integer",
	    "t.conf:3: scep.allow[5]: 'fe80::1%eth0' is not a numeric IPv4 or IPv6 address, or "
	    "ADDRESS/PREFIX such as \"10.0.0.0/8\" or \"::1/128\"",
	    "t.conf:5: csr.allow: empty; remove the setting to allow every address" } },
	{ "metrics allow", MIN "metrics = { allow = [ \"127.0.0.1/8\" ]; };\n",
	  { "t.conf:2: metrics.allow[0]: '127.0.0.1/8' has bits set after the prefix; write the "
	    "network address (\"10.0.0.0/8\", not \"10.0.0.1/8\")" } },
	{ "metrics allow empty", MIN "metrics = { allow = [ ]; };\n",
	  { "t.conf:2: metrics.allow: empty; remove the setting for loopback only" } },
	{ "allow not a list", MIN "scep = { allow = \"10.0.0.0/8\"; };\n",
	  { "t.conf:2: scep.allow: expected an array of strings, got a string" } },

	/* SCEP GetCert and refusals, connections per address */
	{ "get_cert unknown", MIN "scep = { get_cert = \"subject\"; };\n",
	  { "t.conf:2: scep.get_cert: 'subject' is not one of \"same_subject\", \"any\", "
	    "\"none\"" } },
	{ "refusals out of range", MIN "scep = { refusals_per_minute = -1; };\n",
	  { "t.conf:2: scep.refusals_per_minute: -1 is out of range (0..100000)" } },
	{ "per-ip out of range", MIN "server = { max_connections_per_ip = -2; };\n",
	  { "t.conf:2: server.max_connections_per_ip: -2 is out of range (-1..65536)" } },
	{ "storage unsupported", MIN "storage = { uri = \"mysql://scepd:hunter2@db/scepd\"; };\n",
	  { "t.conf:2: storage.uri: unsupported URI; use \"sqlite:PATH\", \"postgresql://...\" "
	    "or \"postgres://...\"" } },
	{ "storage sqlite without path", MIN "storage = { uri = \"sqlite:\"; };\n",
	  { "t.conf:2: storage.uri: \"sqlite:PATH\" needs a PATH" } },
	{ "storage password inline",
	  MIN "storage = { uri = \"postgresql://db/scepd\"; password = \"hunter2\"; };\n",
	  { "t.conf:2: storage.password: a secret written in the configuration file is "
	    "refused; " SECRET_SOURCES } },
	{ "storage password for sqlite",
	  MIN "storage = { uri = \"sqlite:/tmp/x.db\";\n  password = \"env:DB_PASSWORD\"; };\n",
	  { "t.conf:3: storage.password: only for a \"postgresql://\" URI: an SQLite store "
	    "has no password" } },
	{ "log level", MIN "log = { level = \"verbose\"; };\n",
	  { "t.conf:2: log.level: 'verbose' is not one of \"err\", \"warning\", \"notice\", "
	    "\"info\", \"debug\"" } },

	/* @include: lines name the included file */
	{ "error in included file", MIN "@include \"bad.inc\"\n",
	  { "bad.inc:2: server.workers: 5000 is out of range (0..1024)" } },
	{ "missing included file", MIN "@include \"nope.inc\"\n",
	  { "t.conf:2: syntax error: cannot open include file" } },

	/* The admin API */
	{ "admin without tokens", MIN "admin = { path = \"/api\"; };\n",
	  { "t.conf:2: admin.tokens: required with the admin group: \"file:PATH\" (scepctl "
	    "token new writes it)" } },
	{ "admin tokens not file:", MIN "admin = { tokens = \"tokens:x\"; };\n",
	  { "t.conf:2: admin.tokens: 'tokens:x' is not \"file:PATH\"" } },
	{ "admin path of a profile", MIN "admin = {\n  tokens = \"file:t\";\n  path = \"/scep\";\n};\n",
	  { "t.conf:4: admin.path: '/scep' is also served by scep.path" } },
	{ "admin path reserved", MIN "admin = { tokens = \"file:t\"; path = \"/metrics\"; };\n",
	  { "t.conf:2: admin.path: '/metrics' is reserved (/healthz, /metrics, "
	    "/cgi-bin/pkiclient.exe)" } },
	{ "admin path root", MIN "admin = { tokens = \"file:t\"; path = \"/\"; };\n",
	  { "t.conf:2: admin.path: '/' would take every path: use a path of its own "
	    "(\"/api/v1\")" } },
	{ "admin tokens a directory", MIN "admin = { tokens = \"file:state\"; };\n",
	  { "t.conf:2: admin.tokens: cannot read '@D@/state': Is a directory" } },
	{ "admin typo", MIN "admin = { tokens = \"file:t\"; allow_plain = true; };\n",
	  { "t.conf:2: admin.allow_plain: unknown setting 'allow_plain', did you mean "
	    "'allow_plain_http'?" } },

	/* Several errors: all of them, in file order */
	{ "many errors in order",
	  "server = {\n  workers = 2000;\n  wokers = 1;\n};\n"
	  "ca = {\n  certificate = \"nope.pem\";\n"
	  "  key = \"pkcs11:object=ca\";\n  digest = \"md5\";\n};\nlog = { level = \"loud\"; };\n"
	  "bogus = 1;\n",
	  { "t.conf:2: server.workers: 2000 is out of range (0..1024)",
	    "t.conf:3: server.wokers: unknown setting 'wokers', did you mean 'workers'?",
	    "t.conf:6: ca.certificate: cannot read '@D@/nope.pem': No such file or directory",
	    "t.conf:7: ca.key: a pkcs11: URI needs engine.id to be set",
	    "t.conf:8: ca.digest: 'md5' is refused: MD5 is broken; use \"sha256\", \"sha384\" or "
	    "\"sha512\"",
	    "t.conf:10: log.level: 'loud' is not one of \"err\", \"warning\", \"notice\", "
	    "\"info\", \"debug\"",
	    "t.conf:11: bogus: unknown setting 'bogus'" } },
};
/* clang-format on */

static bool
check_error_case(const struct test_env *env, const struct error_case *c)
{
	struct scepd_config *const untouched = (struct scepd_config *)(uintptr_t)0x1;
	struct config_errors errs = { 0 };
	struct scepd_config *cfg = untouched;
	size_t want = 0;
	bool ok;
	int r;

	while (want < MAX_LINES && c->lines[want] != NULL)
		want++;
	r = config_load_string(c->text, "t.conf", env->dir, &cfg, &errs);
	ok = r == -EINVAL && cfg == untouched && errs.n == want;
	for (size_t i = 0; ok && i < want; i++) {
		char *line = expand(c->lines[i], env->dir);

		if (strcmp(line, errs.v[i]) != 0) {
			print_error("case '%s' line %zu:\n  want %s\n  got  %s\n", c->what, i, line,
				    errs.v[i]);
			ok = false;
		}
		free(line);
	}
	if (!ok) {
		print_error("case '%s': r=%d, cfg %s\n", c->what, r,
			    cfg == untouched ? "untouched" : "CLOBBERED");
		print_errors(c->what, &errs);
	}
	config_errors_clear(&errs);
	return ok;
}

/* Every case runs, so one run shows every mismatch. */
static void
test_errors(void **state)
{
	size_t failed = 0;

	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++)
		failed += !check_error_case(*state, &error_cases[i]);
	assert_int_equal(failed, 0);
}

/* No error line ever shows a secret, however it is written wrong. */
static void
test_secrets_never_shown(void **state)
{
	static const char *const texts[] = {
		MIN "engine = { id = \"x\"; pin = \"hunter2\"; };\n",
		MIN "engine = { pin = \"hunter2\"; };\n",
		MIN "engine = { id = \"x\"; pre = ( (\"PIN\", \"hunter2\") ); };\n",
		"ca = { certificate = \"ca.pem\"; key = \"ca.key\"; key_passphrase = \"hunter2\"; "
		"};\n",
		MIN "scep = { challenge = { mode = \"static\"; secret = \"hunter2\"; }; };\n",
		MIN "scep = { challenge = { secret = \"hunter2\"; }; };\n",
		MIN "scep = { ra = { certificate = \"ra.pem\"; key = \"ra.key\"; key_passphrase = "
		    "\"hunter2\"; }; };\n",
		MIN "storage = { uri = \"mysql://u:hunter2@h/db\"; };\n",
		MIN "engine = { id = \"x\"; pin = \"hunter2\"; pni = \"hunter2\"; };\n",
	};
	const struct test_env *env = *state;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		struct config_errors errs = { 0 };
		struct scepd_config *cfg = NULL;

		assert_int_equal(config_load_string(texts[i], "t.conf", env->dir, &cfg, &errs),
				 -EINVAL);
		assert_null(cfg);
		assert_true(errs.n > 0);
		for (size_t j = 0; j < errs.n; j++)
			if (strstr(errs.v[j], "hunter2") != NULL)
				fail_msg("secret shown: %s", errs.v[j]);
		config_errors_clear(&errs);
	}
}

/* Valid configurations */

static void
test_defaults(void **state)
{
	const struct test_env *env = *state;
	struct scepd_config *cfg = load_ok(env, MIN);
	char *cert = expand("@D@/ca.pem", env->dir), *key = expand("@D@/ca.key", env->dir);
	static const char *const ext[][2] = {
		{ "basicConstraints", "CA:FALSE" },
		{ "keyUsage", "critical,digitalSignature,keyEncipherment" },
		{ "subjectKeyIdentifier", "hash" },
		{ "authorityKeyIdentifier", "keyid,issuer" },
	};

	assert_string_equal(cfg->path, "t.conf");
	assert_int_equal(cfg->server.listen.n, 1);
	assert_string_equal(cfg->server.listen.v[0], "127.0.0.1:8080");
	assert_int_equal(cfg->server.workers, 0);
	assert_int_equal(cfg->server.max_request_bytes, 131072);
	assert_int_equal(cfg->server.request_timeout, 30);
	assert_int_equal(cfg->server.max_connections, 1024);
	assert_int_equal(cfg->server.drain_timeout, 10);
	assert_null(cfg->server.user);
	assert_null(cfg->server.group);
	assert_null(cfg->engine.id);
	assert_int_equal(cfg->engine.pre.n, 0);
	assert_int_equal(cfg->engine.post.n, 0);
	assert_int_equal(cfg->engine.pin.kind, CONFIG_SECRET_NONE);
	assert_null(cfg->engine.pin.ref);
	assert_false(cfg->engine.allow_inline_pin);
	assert_string_equal(cfg->cas[0].certificate, cert);
	assert_string_equal(cfg->cas[0].key, key);
	assert_int_equal(cfg->cas[0].key_passphrase.kind, CONFIG_SECRET_NONE);
	assert_null(cfg->cas[0].next_certificate);
	assert_int_equal(cfg->cas[0].days, 365);
	assert_int_equal(cfg->cas[0].serial, CONFIG_SERIAL_RANDOM);
	assert_null(cfg->cas[0].serial_file);
	assert_string_equal(cfg->cas[0].digest, "sha256");
	assert_int_equal(cfg->cas[0].extensions.n, 4);
	for (size_t i = 0; i < 4; i++) {
		assert_string_equal(cfg->cas[0].extensions.v[i].name, ext[i][0]);
		assert_string_equal(cfg->cas[0].extensions.v[i].value, ext[i][1]);
		assert_int_equal(cfg->cas[0].extensions.v[i].line, 0);
	}
	assert_string_equal(cfg->profiles[0].scep.path, "/scep");
	assert_null(cfg->profiles[0].scep.ra.certificate);
	assert_null(cfg->profiles[0].scep.ra.key);
	assert_null(cfg->profiles[0].scep.ra.next_certificate);
	assert_int_equal(cfg->profiles[0].scep.challenge_mode, CONFIG_CHALLENGE_NONE);
	assert_int_equal(cfg->profiles[0].scep.challenge_secret.kind, CONFIG_SECRET_NONE);
	assert_int_equal(cfg->profiles[0].scep.approval, CONFIG_APPROVAL_AUTO);
	assert_int_equal(cfg->profiles[0].scep.subject.request.n, 1);
	assert_string_equal(cfg->profiles[0].scep.subject.request.v[0].field, CONFIG_FIELD_ANY);
	assert_int_equal(cfg->profiles[0].scep.subject.request.v[0].count, CONFIG_COUNT_UNLIMITED);
	assert_int_equal(cfg->profiles[0].scep.subject.set.n, 0);
	assert_int_equal(cfg->profiles[0].scep.subject_alt_name.request.n, 0);
	assert_int_equal(cfg->profiles[0].scep.subject_alt_name.set.n, 0);
	assert_int_equal(cfg->profiles[0].scep.freshness_factor, 2);
	assert_int_equal(cfg->profiles[0].scep.freshness_max, 86400);
	assert_null(cfg->profiles[0].scep.crl_url);
	assert_null(cfg->profiles[0].scep.location);
	assert_null(cfg->profiles[0].scep.allow);
	assert_int_equal(cfg->profiles[0].scep.get_cert, CONFIG_GET_CERT_SAME_SUBJECT);
	assert_int_equal(cfg->profiles[0].scep.refusals_per_minute, 20);
	assert_int_equal(cfg->server.max_connections_per_ip, 1024 / 4);
	assert_int_equal(cfg->profiles[1].csr.auth,
			 CONFIG_CSR_AUTH_OFF); /* no csr group: /csr is not served */
	assert_null(cfg->profiles[1].csr.allow);
	assert_string_equal(cfg->profiles[1].csr.path, "/csr");
	assert_null(cfg->profiles[1].csr.tokens_file);
	assert_int_equal(cfg->profiles[1].csr.subject.request.n, 1);
	assert_string_equal(cfg->profiles[1].csr.subject.request.v[0].field, CONFIG_FIELD_ANY);
	assert_int_equal(cfg->profiles[1].csr.subject_alt_name.request.n, 0);
	assert_string_equal(cfg->storage.uri, "sqlite:/var/lib/scepd/scepd.db");
	assert_int_equal(cfg->log.level, LOG_INFO);
	free(cert);
	free(key);
	config_free(cfg);
}

/* clang-format off */
static const char full_text[] =
	"# every setting, relative paths against the directory\n"
	"server: {\n"
	"  listen = [\"127.0.0.1:8080\", \"[::1]:8443\", \"*:80\"];\n"
	"  workers = 4;\n"
	"  max_request_bytes = 65536;\n"
	"  request_timeout = 15;\n"
	"  max_connections = 200;\n"
	"  drain_timeout = 20;\n"
	"  user = \"scepd\";\n"
	"  group = \"scepd\";\n"
	"};\n"
	"engine: {\n"
	"  id = \"dynamic\";\n"
	"  pre = ( (\"SO_PATH\", \"/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so\"),\n"
	"          (\"ID\", \"pkcs11\"), (\"LIST_ADD\", 1), (\"LOAD\"),\n"
	"          (\"MODULE_PATH\", \"/usr/lib/softhsm/libsofthsm2.so\") );\n"
	"  post = [ ];\n"
	"  pin = \"file:pin.txt\";\n"
	"  allow_inline_pin = false;\n"
	"};\n"
	"ca: {\n"
	"  certificate = \"ca-chain.pem\";\n"
	"  key = \"pkcs11:token=scepd;object=ca;type=private\";\n"
	"  key_passphrase = \"env:CA_PASS\";\n"
	"  next_certificate = \"next.pem\";\n"
	"  days = 730;\n"
	"  serial = \"file:state/serial\";\n"
	"  digest = \"sha384\";\n"
	"  extensions = ( (\"basicConstraints\", \"critical,CA:FALSE\"),\n"
	"                 (\"extendedKeyUsage\", \"clientAuth\") );\n"
	"};\n"
	"scep: {\n"
	"  path = \"/enroll\";\n"
	"  ra = { certificate = \"ra.pem\"; key = \"ra.key\";"
	"         key_passphrase = \"file:ra-pass.txt\";\n"
	"         next_certificate = \"ra-next.pem\"; };\n"
	"  challenge = { mode = \"static\"; secret = \"credential:challenge\"; };\n"
	"  approval = \"manual\";\n"
	"  subject = { request = (\"*\", (\"CN\", 1));"
	"              set = ( (\"OU\", \"Terms and Conditions Apply\"),\n"
	"              (\"CN\", \"%{REMOTE_USER}\") ); };\n"
	"  subject_alt_name = { request = [\"dNSName\", \"iPAddress\"];\n"
	"                       set = ( (\"iPAddress\", \"%{REMOTE_ADDR}\") ); };\n"
	"  freshness = [4, 3600];\n"
	"  crl_url = \"http://pki.example.com/ca.crl\";\n"
	"  location = \"https://pki.example.com/scep\";\n"
	"};\n"
	"csr: {\n"
	"  path = \"/csr\";\n"
	"  auth = \"tokens:tokens\";\n"
	"  subject = { request = [\"CN\"]; set = ( ); };\n"
	"  subject_alt_name = { request = ((\"dNSName\", 2)); };\n"
	"};\n"
	"storage: { uri = \"sqlite:state/scepd.db\"; };\n"
	"log: { level = \"warn\"; };\n";
/* clang-format on */

static void
check_pair(const struct config_pair *p, const char *name, const char *value, int line)
{
	assert_string_equal(p->name, name);
	if (value == NULL)
		assert_null(p->value);
	else
		assert_string_equal(p->value, value);
	assert_int_equal(p->line, line);
}

static void
check_path(const char *got, const struct test_env *env, const char *tmpl)
{
	char *want = expand(tmpl, env->dir);

	assert_non_null(got);
	assert_string_equal(got, want);
	free(want);
}

static void
test_full(void **state)
{
	const struct test_env *env = *state;
	struct scepd_config *cfg = load_ok(env, full_text);
	const struct config_scep *scep = &cfg->profiles[0].scep;

	assert_int_equal(cfg->server.listen.n, 3);
	assert_string_equal(cfg->server.listen.v[1], "[::1]:8443");
	assert_int_equal(cfg->server.workers, 4);
	assert_int_equal(config_worker_count(cfg), 4);
	assert_int_equal(cfg->server.max_request_bytes, 65536);
	assert_int_equal(cfg->server.request_timeout, 15);
	assert_int_equal(cfg->server.max_connections, 200);
	assert_int_equal(cfg->server.drain_timeout, 20);
	assert_string_equal(cfg->server.user, "scepd");
	assert_string_equal(cfg->server.group, "scepd");

	assert_string_equal(cfg->engine.id, "dynamic");
	assert_int_equal(cfg->engine.pre.n, 5);
	check_pair(&cfg->engine.pre.v[0], "SO_PATH",
		   "/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so", 14);
	check_pair(&cfg->engine.pre.v[2], "LIST_ADD", "1", 15);
	check_pair(&cfg->engine.pre.v[3], "LOAD", NULL, 15);
	check_pair(&cfg->engine.pre.v[4], "MODULE_PATH", "/usr/lib/softhsm/libsofthsm2.so", 16);
	assert_int_equal(cfg->engine.post.n, 0);
	assert_int_equal(cfg->engine.pin.kind, CONFIG_SECRET_FILE);
	check_path(cfg->engine.pin.ref, env, "@D@/pin.txt");

	check_path(cfg->cas[0].certificate, env, "@D@/ca-chain.pem");
	assert_string_equal(cfg->cas[0].key, "pkcs11:token=scepd;object=ca;type=private");
	assert_int_equal(cfg->cas[0].key_passphrase.kind, CONFIG_SECRET_ENV);
	assert_string_equal(cfg->cas[0].key_passphrase.ref, "CA_PASS");
	check_path(cfg->cas[0].next_certificate, env, "@D@/next.pem");
	assert_int_equal(cfg->cas[0].days, 730);
	assert_int_equal(cfg->cas[0].serial, CONFIG_SERIAL_FILE);
	check_path(cfg->cas[0].serial_file, env, "@D@/state/serial");
	assert_string_equal(cfg->cas[0].digest, "sha384");
	assert_int_equal(cfg->cas[0].extensions.n, 2);
	check_pair(&cfg->cas[0].extensions.v[0], "basicConstraints", "critical,CA:FALSE", 29);
	check_pair(&cfg->cas[0].extensions.v[1], "extendedKeyUsage", "clientAuth", 30);

	assert_string_equal(scep->path, "/enroll");
	check_path(scep->ra.certificate, env, "@D@/ra.pem");
	check_path(scep->ra.key, env, "@D@/ra.key");
	assert_int_equal(scep->ra.key_passphrase.kind, CONFIG_SECRET_FILE);
	check_path(scep->ra.key_passphrase.ref, env, "@D@/ra-pass.txt");
	check_path(scep->ra.next_certificate, env, "@D@/ra-next.pem");
	assert_int_equal(scep->challenge_mode, CONFIG_CHALLENGE_STATIC);
	assert_int_equal(scep->challenge_secret.kind, CONFIG_SECRET_CREDENTIAL);
	assert_string_equal(scep->challenge_secret.ref, "challenge");
	assert_int_equal(scep->approval, CONFIG_APPROVAL_MANUAL);
	assert_int_equal(scep->subject.request.n, 2);
	assert_string_equal(scep->subject.request.v[0].field, "*");
	assert_int_equal(scep->subject.request.v[0].count, CONFIG_COUNT_UNLIMITED);
	assert_string_equal(scep->subject.request.v[1].field, "CN");
	assert_int_equal(scep->subject.request.v[1].count, 1);
	assert_int_equal(scep->subject.set.n, 2);
	check_pair(&scep->subject.set.v[0], "OU", "Terms and Conditions Apply", 38);
	check_pair(&scep->subject.set.v[1], "CN", "%{REMOTE_USER}", 39);
	assert_int_equal(scep->subject_alt_name.request.n, 2);
	assert_string_equal(scep->subject_alt_name.request.v[1].field, "iPAddress");
	assert_int_equal(scep->subject_alt_name.set.n, 1);
	assert_int_equal(scep->freshness_factor, 4);
	assert_int_equal(scep->freshness_max, 3600);
	assert_string_equal(scep->crl_url, "http://pki.example.com/ca.crl");
	assert_string_equal(scep->location, "https://pki.example.com/scep");

	assert_string_equal(cfg->profiles[1].csr.path, "/csr");
	assert_int_not_equal(cfg->profiles[1].csr.auth, CONFIG_CSR_AUTH_OFF);
	assert_int_equal(cfg->profiles[1].csr.auth, CONFIG_CSR_AUTH_TOKENS);
	check_path(cfg->profiles[1].csr.tokens_file, env, "@D@/tokens");
	assert_int_equal(cfg->profiles[1].csr.subject.request.n, 1);
	assert_string_equal(cfg->profiles[1].csr.subject.request.v[0].field, "CN");
	assert_int_equal(cfg->profiles[1].csr.subject.set.n, 0);
	assert_int_equal(cfg->profiles[1].csr.subject_alt_name.request.n, 1);
	assert_int_equal(cfg->profiles[1].csr.subject_alt_name.request.v[0].count, 2);

	check_path(cfg->storage.uri, env, "sqlite:@D@/state/scepd.db");
	assert_int_equal(cfg->log.level, LOG_WARNING);

	/* config_line(): where each setting was written, 0 for defaults and unknown names. */
	assert_int_equal(config_line(cfg, "server"), 2);
	assert_int_equal(config_line(cfg, "server.workers"), 4);
	assert_int_equal(config_line(cfg, "engine.pin"), 18);
	assert_int_equal(config_line(cfg, "ca.key"), 23);
	assert_int_equal(config_line(cfg, "scep.ra"), 34);
	assert_int_equal(config_line(cfg, "scep.ra.key"), 34);
	assert_int_equal(config_line(cfg, "log.level"), 53);
	assert_int_equal(config_line(cfg, "csr.subject.set"), 49);
	assert_int_equal(config_line(cfg, "no.such.setting"), 0);
	assert_int_equal(config_line(NULL, "ca.key"), 0);
	config_free(cfg);
}

static void
test_line_of_defaults(void **state)
{
	struct scepd_config *cfg = load_ok(*state, "\n\nca = {\n  certificate = \"ca.pem\";\n"
						   "  key = \"ca.key\";\n};\n");
	struct scepd_config blank = { 0 };

	assert_int_equal(config_line(cfg, "ca"), 3);
	assert_int_equal(config_line(cfg, "ca.certificate"), 4);
	assert_int_equal(config_line(cfg, "ca.key"), 5);
	assert_int_equal(config_line(cfg, "ca.days"), 0);
	assert_int_equal(config_line(cfg, "server.workers"), 0);
	assert_int_equal(config_line(cfg, "server"), 0);
	/* A struct built by hand, as other modules' tests may do, has no lines. */
	assert_int_equal(config_line(&blank, "ca.key"), 0);
	config_free(cfg);
}

/* The long form: CAs and profiles by name, each with its own settings. */
static void
test_long_form(void **state)
{
	struct scepd_config *cfg = load_ok(
		*state, "cas = {\n"
			"  rsa = { certificate = \"ca.pem\"; key = \"ca.key\"; days = 30; };\n"
			"  ec = { certificate = \"ca-chain.pem\"; key = \"ra-key.pem\"; };\n"
			"};\n"
			"profiles = {\n"
			"  phones = { type = \"scep\"; path = \"/scep/phones\"; ca = \"rsa\";\n"
			"    extensions = ( (\"extendedKeyUsage\", \"clientAuth\") ); days = 7;\n"
			"    keys = { rsa_min_bits = 3072; ec_curves = [ \"P-384\" ]; };\n"
			"    renewal = { window_days = 14; same_subject = false; }; };\n"
			"  hosts = { type = \"csr\"; path = \"/csr/hosts\"; ca = \"ec\"; auth = "
			"\"none\"; };\n"
			"};\n");
	const struct config_profile *phones = config_profile_by_name(cfg, "phones");
	const struct config_profile *hosts = config_profile_by_name(cfg, "hosts");
	char buf[CONFIG_WHERE_MAX];

	assert_false(cfg->short_form);
	assert_int_equal(cfg->n_cas, 2);
	assert_int_equal(cfg->n_profiles, 2);
	assert_string_equal(cfg->cas[0].name, "rsa");
	assert_int_equal(cfg->cas[0].days, 30);
	assert_int_equal(cfg->cas[1].days, 365);
	assert_int_equal(cfg->cas[1].extensions.n, 4); /* the default list */
	assert_non_null(phones);
	assert_non_null(hosts);
	assert_null(config_profile_by_name(cfg, "scep"));
	assert_string_equal(config_profile_ca(cfg, phones)->name, "rsa");
	assert_string_equal(config_profile_ca(cfg, hosts)->name, "ec");
	assert_string_equal(phones->scep.path, "/scep/phones");
	assert_true(phones->extensions_set);
	assert_int_equal(phones->extensions.n, 1);
	assert_int_equal(phones->days, 7);
	assert_int_equal(phones->keys.rsa_min_bits, 3072);
	assert_int_equal(phones->keys.n_ec_curves, 1);
	assert_int_equal(phones->keys.ec_curves[0], NID_secp384r1);
	assert_int_equal(phones->renewal.window_days, 14);
	assert_false(phones->renewal.same_subject);
	assert_false(hosts->extensions_set);
	assert_int_equal(hosts->days, 0);
	assert_int_equal(hosts->keys.rsa_min_bits, 2048);
	assert_int_equal(hosts->keys.n_ec_curves, 3);
	assert_int_equal(hosts->csr.auth, CONFIG_CSR_AUTH_NONE);
	assert_true(config_profile_served(hosts));
	assert_string_equal(config_where(cfg, "cas.ec.key", buf, sizeof(buf)),
			    "t.conf:3: cas.ec.key");
	assert_string_equal(config_where(cfg, "cas.ec.key_passphrase", buf, sizeof(buf)),
			    "t.conf:3: cas.ec.key_passphrase");
	assert_string_equal(
		config_where(cfg, "profiles.phones.keys.rsa_min_bits", buf, sizeof(buf)),
		"t.conf:8: profiles.phones.keys.rsa_min_bits");
	assert_string_equal(config_where(cfg, "profiles.phones.extensions[0]", buf, sizeof(buf)),
			    "t.conf:7: profiles.phones.extensions[0]");
	assert_string_equal(config_where(cfg, "profiles.hosts.subject.set", buf, sizeof(buf)),
			    "t.conf:10: profiles.hosts.subject.set");
	config_free(cfg);

	/* The short form is CA "default" with profiles "scep" and "csr". */
	cfg = load_ok(*state, MIN);
	assert_true(cfg->short_form);
	assert_int_equal(cfg->n_cas, 1);
	assert_string_equal(cfg->cas[0].name, "default");
	assert_int_equal(cfg->n_profiles, 2);
	assert_string_equal(cfg->profiles[0].name, "scep");
	assert_string_equal(cfg->profiles[1].name, "csr");
	assert_false(config_profile_served(&cfg->profiles[1]));
	assert_int_equal(cfg->profiles[0].keys.rsa_min_bits, 2048);
	assert_true(cfg->profiles[0].renewal.same_subject);
	config_free(cfg);
}

/* config_where(): "FILE:LINE: setting" as `scepd -t` and the workers print it. */
static void
test_where(void **state)
{
	/* clang-format off */
	static const char text[] =
		"engine = {\n"						/* 1 */
		"  id = \"dynamic\";\n"					/* 2 */
		"  pre = (\n"						/* 3 */
		"    (\"SO_PATH\", \"x.so\"),\n"				/* 4 */
		"    (\"LOAD\")\n"						/* 5 */
		"  );\n"							/* 6 */
		"};\n"							/* 7 */
		"ca = {\n"							/* 8 */
		"  certificate = \"ca.pem\";\n"				/* 9 */
		"  key = \"ca.key\";\n"					/* 10 */
		"  extensions = ( (\"basicConstraints\", \"CA:FALSE\") );\n"	/* 11 */
		"};\n"							/* 12 */
		"scep = { ra = { certificate = \"ra.pem\";\n"		/* 13 */
		"  key = \"ra.key\"; }; };\n";				/* 14 */
	static const struct {
		const char *setting;
		const char *where;
	} cases[] = {
		{ "ca.key",                 "t.conf:10: ca.key" },
		{ "engine.pre",             "t.conf:3: engine.pre" },
		{ "engine.pre[0]",          "t.conf:4: engine.pre[0]" },   /* its own line */
		{ "engine.pre[1]",          "t.conf:5: engine.pre[1]" },
		{ "engine.pre[7]",          "t.conf:3: engine.pre[7]" },   /* no such element */
		{ "engine.pre[x]",          "t.conf:3: engine.pre[x]" },
		{ "engine.post[0]",         "t.conf:2: engine.post[0]" },  /* engine.id */
		{ "engine.pin",             "t.conf:2: engine.pin" },      /* engine.id */
		{ "ca.key_passphrase",      "t.conf:10: ca.key_passphrase" }, /* ca.key */
		{ "ca.extensions[0]",       "t.conf:11: ca.extensions[0]" },
		{ "scep.ra.key_passphrase", "t.conf:14: scep.ra.key_passphrase" }, /* scep.ra.key */
		{ "scep.ra.certificate",    "t.conf:13: scep.ra.certificate" },
		{ "scep.challenge.secret",  "t.conf:1: scep.challenge.secret" }, /* no anchor */
		{ "csr.auth",               "t.conf:1: csr.auth" },
		{ "no.such.setting",        "t.conf:1: no.such.setting" },
	};
	/* clang-format on */
	struct scepd_config *cfg = load_ok(*state, text);
	struct scepd_config blank = { 0 };
	char buf[CONFIG_WHERE_MAX], small[8];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(config_where(cfg, cases[i].setting, buf, sizeof(buf)),
				    cases[i].where);
	/* Cut short like snprintf, and still a string. */
	assert_ptr_equal(config_where(cfg, "ca.key", small, sizeof(small)), small);
	assert_string_equal(small, "t.conf:");
	/* A struct built by hand has no lines: line 1, as the parser says for no line. */
	assert_string_equal(config_where(&blank, "ca.key", buf, sizeof(buf)), "?:1: ca.key");
	config_free(cfg);
}

static void
test_inline_pin_allowed(void **state)
{
	struct scepd_config *cfg =
		load_ok(*state, MIN "engine = { id = \"pkcs11\";\n"
				    "  allow_inline_pin = true;\n  pin = \"1234\";\n"
				    "  pre = ( (\"PIN\", \"1234\") ); };\n");

	assert_true(cfg->engine.allow_inline_pin);
	assert_int_equal(cfg->engine.pin.kind, CONFIG_SECRET_INLINE);
	assert_string_equal(cfg->engine.pin.ref, "1234");
	check_pair(&cfg->engine.pre.v[0], "PIN", "1234", 5);
	config_free(cfg);
}

/* Integers that fit are read as written, in any notation. */
static void
test_int_as_written(void **state)
{
	struct scepd_config *cfg = load_ok(
		*state, MIN "server = { workers = 1024; threads = 0x10;\n"
			    "  max_request_bytes = 16777216L; drain_timeout = +7; };\n"
			    "engine = { id = \"dynamic\";\n"
			    "  pre = ( (\"SO_PATH\", \"x.so\"), (\"N\", 4294967296) ); };\n");

	assert_int_equal(cfg->server.workers, 1024);
	assert_int_equal(cfg->server.threads, 16);
	assert_int_equal(cfg->server.max_request_bytes, 16777216);
	assert_int_equal(cfg->server.drain_timeout, 7);
	/* An engine command's number is passed on as its decimal string, all of it. */
	check_pair(&cfg->engine.pre.v[1], "N", "4294967296", 5);
	config_free(cfg);
}

static void
test_no_extensions(void **state)
{
	struct scepd_config *cfg = load_ok(*state, "ca = { certificate = \"ca.pem\"; key = "
						   "\"ca.key\"; extensions = ( ); };\n");

	assert_int_equal(cfg->cas[0].extensions.n, 0);
	config_free(cfg);
}

static void
test_enums(void **state)
{
	static const struct {
		const char *setting;
		int want;
	} cases[] = {
		{ "log = { level = \"err\"; };", LOG_ERR },
		{ "log = { level = \"error\"; };", LOG_ERR },
		{ "log = { level = \"warning\"; };", LOG_WARNING },
		{ "log = { level = \"warn\"; };", LOG_WARNING },
		{ "log = { level = \"notice\"; };", LOG_NOTICE },
		{ "log = { level = \"info\"; };", LOG_INFO },
		{ "log = { level = \"debug\"; };", LOG_DEBUG },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *text;
		struct scepd_config *cfg;

		assert_true(asprintf(&text, MIN "%s\n", cases[i].setting) > 0);
		cfg = load_ok(*state, text);
		assert_int_equal(cfg->log.level, cases[i].want);
		config_free(cfg);
		free(text);
	}
}

/* The settings of the security review: /csr enabling, allow-lists, GetCert, limits. */
static void
test_review_settings(void **state)
{
	static const struct {
		const char *text;
		int get_cert;
	} get_certs[] = {
		{ "scep = { get_cert = \"same_subject\"; };", CONFIG_GET_CERT_SAME_SUBJECT },
		{ "scep = { get_cert = \"any\"; };", CONFIG_GET_CERT_ANY },
		{ "scep = { get_cert = \"none\"; };", CONFIG_GET_CERT_NONE },
	};
	static const struct {
		const char *server; /* settings in the server group */
		int per_ip;
	} per_ips[] = {
		{ "", 256 },
		{ "max_connections = 8;", 2 },
		{ "max_connections = 3;", 1 },
		{ "max_connections = 8; max_connections_per_ip = -1;", 2 },
		{ "max_connections = 8; max_connections_per_ip = 0;", 0 },
		{ "max_connections_per_ip = 5;", 5 },
	};
	struct scepd_config *cfg;
	char *text;

	for (size_t i = 0; i < sizeof(get_certs) / sizeof(get_certs[0]); i++) {
		assert_true(asprintf(&text, MIN "%s\n", get_certs[i].text) > 0);
		cfg = load_ok(*state, text);
		assert_int_equal(cfg->profiles[0].scep.get_cert, get_certs[i].get_cert);
		config_free(cfg);
		free(text);
	}
	for (size_t i = 0; i < sizeof(per_ips) / sizeof(per_ips[0]); i++) {
		assert_true(asprintf(&text, MIN "server = { %s };\n", per_ips[i].server) > 0);
		cfg = load_ok(*state, text);
		assert_int_equal(cfg->server.max_connections_per_ip, per_ips[i].per_ip);
		config_free(cfg);
		free(text);
	}

	cfg = load_ok(*state, MIN "scep = { refusals_per_minute = 0; path = \"/csr\";\n"
				  "  allow = [\"127.0.0.0/8\", \"::1\"]; };\n");
	assert_int_equal(cfg->profiles[0].scep.refusals_per_minute, 0);
	assert_non_null(cfg->profiles[0].scep.allow);
	assert_int_equal(cfg->profiles[0].scep.allow->n, 2);
	assert_int_equal(cfg->profiles[0].scep.allow->v[0].prefix, 8);
	assert_int_equal(cfg->profiles[0].scep.allow->v[1].prefix, 128);
	assert_int_equal(cfg->profiles[1].csr.auth,
			 CONFIG_CSR_AUTH_OFF); /* so scep.path may be "/csr" */
	config_free(cfg);

	cfg = load_ok(*state, MIN "csr = { auth = \"none\"; allow = [\"10.0.0.0/8\"]; };\n");
	assert_int_not_equal(cfg->profiles[1].csr.auth, CONFIG_CSR_AUTH_OFF);
	assert_int_equal(cfg->profiles[1].csr.auth, CONFIG_CSR_AUTH_NONE);
	assert_int_equal(cfg->profiles[1].csr.allow->n, 1);
	assert_null(cfg->profiles[0].scep.allow);
	config_free(cfg);
}

/* What `scepd -t` warns about: each line FILE:LINE: setting: warning: ... */
static void
test_warnings(void **state)
{
	static const struct {
		const char *text;
		const char *lines[3];
	} cases[] = {
		{ MIN, { NULL } },
		{ MIN "csr = { auth = \"tokens:tokens\"; };\n", { NULL } },
		{ MIN "csr = {\n  auth = \"none\"; };\n",
		  { "t.conf:3: csr.auth: warning: \"none\": anyone who can reach the port gets a "
		    "certificate from /csr; use \"tokens:PATH\" or set csr.allow" } },
		{ MIN "csr = { auth = \"none\"; path = \"/x\"; allow = [\"10.0.0.0/8\"]; };\n",
		  { "t.conf:2: csr.auth: warning: \"none\": every address csr.allow admits gets a "
		    "certificate from /x without authenticating" } },
		{ MIN "storage = { uri = \"postgresql:///scepd\"; };\n", { NULL } },
		{ MIN "storage = {\n uri = \"postgresql://scepd@db.example/scepd\"; };\n",
		  { "t.conf:3: storage.uri: warning: the PostgreSQL server is not on this machine "
		    "and the URI has no sslmode=verify-full: whoever sits on the path can forge "
		    "challenges and pending records, or read the issued certificates "
		    "(docs/scale-out.md)" } },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config_errors warns = { 0 };
		struct scepd_config *cfg = load_ok(*state, cases[i].text);
		size_t n = 0;

		assert_int_equal(config_warnings(cfg, &warns), 0);
		while (n < 3 && cases[i].lines[n] != NULL)
			n++;
		if (warns.n != n)
			print_errors(cases[i].text, &warns);
		assert_int_equal(warns.n, n);
		for (size_t j = 0; j < n; j++)
			assert_string_equal(warns.v[j], cases[i].lines[j]);
		config_errors_clear(&warns);
		config_free(cfg);
	}
}

/* config_pg_uri_unverified(): which URIs reach a remote server without verify-full. */
static void
test_pg_uri(void **state)
{
	static const struct {
		const char *uri;
		bool unverified;
	} cases[] = {
		{ "postgresql:///scepd", false },                          /* default Unix socket */
		{ "postgresql://%2Fvar%2Frun%2Fpostgresql/scepd", false }, /* socket directory */
		{ "postgresql:///scepd?host=/run/postgresql", false },
		{ "postgresql://localhost/scepd", false },
		{ "postgresql://LOCALHOST:5433/scepd", false },
		{ "postgresql://127.0.0.1/scepd", false },
		{ "postgresql://127.9.9.9:5432/scepd", false },
		{ "postgresql://[::1]:5432/scepd", false },
		{ "postgres://u:p@localhost,127.0.0.2/scepd", false },
		{ "postgresql://db.example/scepd", true },
		{ "postgres://db.example", true },
		{ "postgresql://u:p@10.0.0.5:5432/scepd?sslmode=require", true },
		{ "postgresql://u:p@10.0.0.5/scepd?sslmode=verify-ca", true },
		{ "postgresql://u:p@10.0.0.5/scepd?sslmode=verify-full", false },
		{ "postgresql://10.0.0.5/scepd?connect_timeout=3&sslmode=verify%2Dfull", false },
		{ "postgresql://10.0.0.5/scepd?sslmode=verify-full&sslmode=disable", true },
		{ "postgresql://[2001:db8::5]/scepd", true },
		{ "postgresql://localhost,db.example/scepd", true },
		{ "postgresql://localhost/scepd?host=db.example", true },
		{ "postgresql://localhost/scepd?hostaddr=192.0.2.1", true },
		{ "postgresql:///scepd?host=localhost,::1", false },
		{ "postgresql://u:p%40ss@localhost/scepd", false },
		{ "postgresql://u@db.example/scepd?sslmode=verify-full", false },
		{ "postgresql://%zz/scepd", true }, /* undecodable: assume the worst */
		{ "sqlite:/var/lib/scepd/scepd.db", false },
		{ NULL, false },
	};
	size_t failed = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (config_pg_uri_unverified(cases[i].uri) == cases[i].unverified)
			continue;
		print_error("%s: want %s\n", cases[i].uri != NULL ? cases[i].uri : "(null)",
			    cases[i].unverified ? "unverified" : "fine");
		failed++;
	}
	assert_int_equal(failed, 0);
}

static void
test_more_forms(void **state)
{
	struct scepd_config *cfg;

	cfg = load_ok(*state,
		      "ca = { certificate = \"ca.pem\"; key = \"ca.key\"; serial = \"subject\";\n"
		      "  key_passphrase = \"file:/dev/null\"; digest = \"sha512\"; };\n"
		      "scep = { freshness = 0; crl_url = \"\"; location = \"\";\n"
		      "  ra = { certificate = \"ra.pem\"; key = \"ra.key\"; };\n"
		      "  subject = { request = []; };\n  challenge = { mode = \"otp\"; }; };\n"
		      "storage = { uri = \"postgresql://db.example.com/scepd\";\n"
		      "  password = \"env:SCEPD_DB_PASSWORD\"; };\n"
		      "server = { listen = (\"[::]:8080\"); };\n");
	assert_int_equal(cfg->cas[0].serial, CONFIG_SERIAL_SUBJECT);
	assert_null(cfg->cas[0].serial_file);
	assert_string_equal(cfg->cas[0].key_passphrase.ref, "/dev/null");
	assert_string_equal(cfg->cas[0].digest, "sha512");
	assert_int_equal(cfg->profiles[0].scep.freshness_factor, 0);
	assert_int_equal(cfg->profiles[0].scep.freshness_max, 86400);
	assert_null(cfg->profiles[0].scep.crl_url);
	assert_null(cfg->profiles[0].scep.location);
	assert_int_equal(cfg->profiles[0].scep.subject.request.n, 0);
	assert_int_equal(cfg->profiles[0].scep.challenge_mode, CONFIG_CHALLENGE_OTP);
	assert_string_equal(cfg->storage.uri, "postgresql://db.example.com/scepd");
	assert_int_equal(cfg->storage.password.kind, CONFIG_SECRET_ENV);
	assert_string_equal(cfg->storage.password.ref, "SCEPD_DB_PASSWORD");
	assert_string_equal(cfg->server.listen.v[0], "[::]:8080");
	config_free(cfg);
}

/* challenge.mode "webhook": its settings, their defaults, and each loopback form of http:// */
static void
test_webhook(void **state)
{
	static const char *const loopback[] = { "http://127.0.0.1:8443/v", "http://[::1]/v",
						"http://LOCALHOST:9/v?x=1" };
	struct scepd_config *cfg;
	char text[512];

	cfg = load_ok(*state, "ca = { certificate = \"ca.pem\"; key = \"ca.key\"; };\n"
			      "scep = { challenge = { mode = \"webhook\"; secret = \"env:K\";\n"
			      "  url = \"https://mdm.example/scep/validate\"; timeout = 12;\n"
			      "  ca = \"ca.pem\"; id = \"mdm-1\"; }; };\n");
	assert_int_equal(cfg->profiles[0].scep.challenge_mode, CONFIG_CHALLENGE_WEBHOOK);
	assert_string_equal(cfg->profiles[0].scep.challenge_url,
			    "https://mdm.example/scep/validate");
	assert_int_equal(cfg->profiles[0].scep.challenge_timeout, 12);
	assert_non_null(strstr(cfg->profiles[0].scep.challenge_ca, "ca.pem"));
	assert_string_equal(cfg->profiles[0].scep.challenge_id, "mdm-1");
	config_free(cfg);
	for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++) {
		snprintf(text, sizeof(text),
			 "ca = { certificate = \"ca.pem\"; key = \"ca.key\"; };\n"
			 "scep = { challenge = { mode = \"webhook\"; secret = \"env:K\";\n"
			 "  url = \"%s\"; }; };\n",
			 loopback[i]);
		cfg = load_ok(*state, text);
		assert_int_equal(cfg->profiles[0].scep.challenge_timeout, 5);
		assert_null(cfg->profiles[0].scep.challenge_ca);
		assert_null(cfg->profiles[0].scep.challenge_id);
		config_free(cfg);
	}
}

/* config_load() on real files */

static void
test_load_file(void **state)
{
	const struct test_env *env = *state;
	struct config_errors errs = { 0 };
	struct scepd_config *cfg = NULL;
	char *path = expand("@D@/t.conf", env->dir), cwd[PATH_MAX], real[PATH_MAX], *want;

	write_file(env->dir, "t.conf", MIN "server = { workers = 3; };\n");
	assert_int_equal(config_load(path, &cfg, &errs), 0);
	assert_int_equal(errs.n, 0);
	assert_string_equal(cfg->path, path);
	check_path(cfg->cas[0].certificate, env, "@D@/ca.pem");
	assert_int_equal(config_worker_count(cfg), 3);
	config_free(cfg);
	cfg = NULL;

	/* A relative file name: the path is kept absolute, files resolve against its dir. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(env->dir), 0);
	assert_int_equal(config_load("t.conf", &cfg, &errs), 0);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(cfg->path, path);
	check_path(cfg->cas[0].key, env, "@D@/ca.key");
	config_free(cfg);
	cfg = NULL;

	/* A string without basedir resolves against the current directory. */
	assert_int_equal(chdir(env->dir), 0);
	assert_int_equal(config_load_string(MIN, NULL, NULL, &cfg, &errs), 0);
	assert_non_null(getcwd(real, sizeof(real)));
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(cfg->path, "(string)");
	assert_non_null(want = malloc(strlen(real) + sizeof("/ca.pem")));
	strcat(strcpy(want, real), "/ca.pem");
	assert_string_equal(cfg->cas[0].certificate, want);
	free(want);
	config_free(cfg);
	cfg = NULL;
	assert_int_equal(config_load_string(NULL, "t.conf", NULL, &cfg, &errs), -EINVAL);
	assert_int_equal(config_load(NULL, &cfg, &errs), -EINVAL);
	/* Without errs only the verdict comes back. */
	assert_int_equal(config_load_string("x = 1;", "t.conf", env->dir, &cfg, NULL), -EINVAL);
	assert_int_equal(config_load("/nonexistent", &cfg, NULL), -ENOENT);
	assert_null(cfg);
	assert_int_equal(errs.n, 0);

	/* Errors name the file as it was given. */
	write_file(env->dir, "t.conf", MIN "server = { workers = -1; };\n");
	assert_int_equal(config_load(path, &cfg, &errs), -EINVAL);
	assert_null(cfg);
	assert_int_equal(errs.n, 1);
	want = expand("@D@/t.conf:2: server.workers: -1 is out of range (0..1024)", env->dir);
	assert_string_equal(errs.v[0], want);
	free(want);
	/* errs is appended to, not replaced. */
	assert_int_equal(config_load("/nonexistent/scepd.conf", &cfg, &errs), -ENOENT);
	assert_int_equal(errs.n, 2);
	assert_string_equal(errs.v[1],
			    "/nonexistent/scepd.conf: cannot read: No such file or directory");
	assert_int_equal(config_load(env->dir, &cfg, &errs), -EISDIR);
	assert_int_equal(errs.n, 3);
	assert_null(cfg);
	config_errors_clear(&errs);
	assert_int_equal(errs.n, 0);
	assert_null(errs.v);
	config_errors_clear(&errs);
	config_free(NULL);
	free(path);
}

static void
test_worker_count(void **state)
{
	struct scepd_config *cfg = load_ok(*state, MIN);
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	assert_int_equal(cfg->server.workers, 0);
	assert_int_equal(config_worker_count(cfg), cpus < 1 ? 1 : cpus > 1024 ? 1024 : cpus);
	config_free(cfg);
}

/* config_parse_listen() */

static void
test_parse_listen(void **state)
{
	static const struct {
		const char *s;
		int r;
		int family;
		const char *addr;
		int port;
	} cases[] = {
		{ "127.0.0.1:8080", 0, AF_INET, "127.0.0.1", 8080 },
		{ "0.0.0.0:1", 0, AF_INET, "0.0.0.0", 1 },
		{ "*:65535", 0, AF_INET, "0.0.0.0", 65535 },
		{ "[::1]:8080", 0, AF_INET6, "::1", 8080 },
		{ "[::]:443", 0, AF_INET6, "::", 443 },
		{ "[2001:db8::1]:80", 0, AF_INET6, "2001:db8::1", 80 },
		{ "127.0.0.1:0", -ERANGE, 0, NULL, 0 },
		{ "127.0.0.1:65536", -ERANGE, 0, NULL, 0 },
		{ "127.0.0.1:99999", -ERANGE, 0, NULL, 0 },
		{ "127.0.0.1:99999999999999999999", -ERANGE, 0, NULL, 0 },
		{ "[::1]:0", -ERANGE, 0, NULL, 0 },
		{ "300.0.0.1:80", -EINVAL, 0, NULL, 0 },
		{ "127.0.0.1", -EINVAL, 0, NULL, 0 },
		{ "127.0.0.1:", -EINVAL, 0, NULL, 0 },
		{ ":80", -EINVAL, 0, NULL, 0 },
		{ "localhost:80", -EINVAL, 0, NULL, 0 },
		{ "example.com:443", -EINVAL, 0, NULL, 0 },
		{ "::1:80", -EINVAL, 0, NULL, 0 },
		{ "[::1]80", -EINVAL, 0, NULL, 0 },
		{ "[::1:80", -EINVAL, 0, NULL, 0 },
		{ "[127.0.0.1]:80", -EINVAL, 0, NULL, 0 },
		{ "127.0.0.1:+80", -EINVAL, 0, NULL, 0 },
		{ "127.0.0.1:80 ", -EINVAL, 0, NULL, 0 },
		{ "127.1:80", -EINVAL, 0, NULL, 0 },
		{ "*:http", -EINVAL, 0, NULL, 0 },
		{ "", -EINVAL, 0, NULL, 0 },
		{ NULL, -EINVAL, 0, NULL, 0 },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockaddr_storage ss;
		socklen_t len = 12345;
		char buf[INET6_ADDRSTRLEN];
		int r;

		memset(&ss, 0xaa, sizeof(ss));
		r = config_parse_listen(cases[i].s, &ss, &len);
		if (r != cases[i].r)
			fail_msg("'%s': got %d, want %d", cases[i].s ? cases[i].s : "(null)", r,
				 cases[i].r);
		if (r < 0) {
			assert_int_equal(len, 12345); /* untouched */
			continue;
		}
		assert_int_equal(ss.ss_family, cases[i].family);
		if (cases[i].family == AF_INET) {
			const struct sockaddr_in *sin = (const struct sockaddr_in *)&ss;

			assert_int_equal(len, sizeof(*sin));
			assert_string_equal(inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)),
					    cases[i].addr);
			assert_int_equal(ntohs(sin->sin_port), cases[i].port);
		} else {
			const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&ss;

			assert_int_equal(len, sizeof(*sin6));
			assert_string_equal(inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf)),
					    cases[i].addr);
			assert_int_equal(ntohs(sin6->sin6_port), cases[i].port);
		}
	}
}

/* The shipped example and the documentation */

static void
test_shipped_example(void **state)
{
	const struct test_env *env = *state;
	char *path = source_path("conf/scepd.conf"), *text, *moved, *p;
	struct config_errors errs = { 0 };
	struct scepd_config *cfg = NULL;
	int r;

	/* As shipped: the only complaints may be its /etc/scepd files missing here. */
	r = config_load(path, &cfg, &errs);
	if (r == 0) {
		config_free(cfg);
		cfg = NULL;
	} else {
		assert_int_equal(r, -EINVAL);
		for (size_t i = 0; i < errs.n; i++)
			if (strstr(errs.v[i], ": cannot read '/etc/scepd/") == NULL)
				fail_msg("conf/scepd.conf: unexpected error: %s", errs.v[i]);
	}
	config_errors_clear(&errs);

	/* With /etc/scepd/ pointing at our placeholders it must load without an error. */
	text = testlib_read_file(path);
	while ((p = strstr(text, "/etc/scepd/")) != NULL) {
		memcpy(p, "@D@", 3); /* "/etc/scepd/x" -> "@D@/x" */
		memmove(p + 3, p + 10, strlen(p + 10) + 1);
	}
	moved = expand(text, env->dir);
	r = config_load_string(moved, "scepd.conf", env->dir, &cfg, &errs);
	if (r != 0)
		print_errors("conf/scepd.conf with placeholders", &errs);
	assert_int_equal(r, 0);
	assert_string_equal(cfg->engine.id, "dynamic");
	assert_int_equal(cfg->engine.pin.kind, CONFIG_SECRET_CREDENTIAL);
	assert_string_equal(cfg->engine.pin.ref, "pin");
	assert_int_equal(cfg->cas[0].extensions.n, 4);
	config_free(cfg);
	free(moved);
	free(text);
	free(path);
}

#define NAME_OF_GROUP(n)                                n,
#define NAME_OF_SETTING(n, t, f, d, lo, hi, sec, field) n,
static const char *const all_settings[] = { CONFIG_KEYS(NAME_OF_GROUP, NAME_OF_SETTING) NULL };

/* The dotted names conf/scepd.conf shows, as conf_names() finds them. */
struct conf_names {
	char **v;
	size_t n;
};

static bool
conf_names_has(const struct conf_names *names, const char *name)
{
	for (size_t i = 0; i < names->n; i++)
		if (strcmp(names->v[i], name) == 0)
			return true;
	return false;
}

static void
conf_names_free(struct conf_names *names)
{
	for (size_t i = 0; i < names->n; i++)
		free(names->v[i]);
	free(names->v);
}

/*
 * Every group and setting an example file shows, by its full dotted name, written or
 * commented out: the example comments out optional settings ("# user = ...;") and
 * whole groups ("# csr: {" ... "# };"), and optional settings in them ("# \t# allow =
 * ..."). Each line loses its leading '#' marks, then
 * "NAME: {" or "NAME = {" opens group NAME, "}" or "};" closes the innermost one, and
 * "NAME = VALUE" is setting NAME of the open group. Prose in a comment never starts
 * with a name directly followed by '=' or ": {". A group opened and closed on one
 * line is not understood: its settings are then missing, and the test says so.
 */
static struct conf_names
conf_names(const char *text)
{
	struct conf_names names = { 0 };
	char group[8][64], name[sizeof(group) + 64];
	size_t depth = 0;

	for (const char *line = text; *line != '\0';) {
		const char *p = line, *end = strchr(line, '\n'), *ident;
		size_t len;
		char op;

		line = end != NULL ? end + 1 : line + strlen(line);
		p += strspn(p, " \t");
		while (*p == '#')
			p += 1 + strspn(p + 1, " \t");
		if (*p == '}') {
			assert_true(depth > 0);
			depth--;
			continue;
		}
		if (!isalpha((unsigned char)*p) && *p != '_')
			continue;
		ident = p;
		len = strspn(p, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");
		assert_true(len < sizeof(group[0]));
		p += len + strspn(p + len, " \t");
		if ((op = *p) != '=' && op != ':')
			continue;
		p += 1 + strspn(p + 1, " \t");
		if (*p != '{' && (op != '=' || *p == '\0' || *p == '\n'))
			continue;
		name[0] = '\0';
		for (size_t i = 0; i < depth; i++)
			snprintf(name + strlen(name), sizeof(name) - strlen(name), "%s.", group[i]);
		snprintf(name + strlen(name), sizeof(name) - strlen(name), "%.*s", (int)len, ident);
		if (*p == '{') {
			assert_true(depth < sizeof(group) / sizeof(group[0]));
			snprintf(group[depth++], sizeof(group[0]), "%.*s", (int)len, ident);
		}
		assert_non_null(names.v = reallocarray(names.v, names.n + 1, sizeof(*names.v)));
		assert_non_null(names.v[names.n++] = strdup(name));
	}
	assert_int_equal(depth, 0);
	return names;
}

/* conf_names() on small examples: full names, comments, and a removed setting. */
static void
test_conf_names(void **state)
{
	static const char text[] = "# scepd.conf\n"
				   "# Errors read: FILE:LINE: setting: what is wrong\n"
				   "ca: {\n"
				   "\tkey = \"pkcs11:x\"; # or a file\n"
				   "\t# key_passphrase = \"credential:p\";\n"
				   "};\n"
				   "scep: {\n"
				   "\tra = {\n"
				   "\t\t# The RA: both or neither\n"
				   "\t\t# key = \"/etc/scepd/ra-key.pem\";\n"
				   "\t};\n"
				   "};\n"
				   "# csr: {\n"
				   "# \tauth = \"none\";\n"
				   "# \t# allow = [ \"10.1.2.0/24\" ];\n"
				   "# };\n";
	struct conf_names names = conf_names(text);
	char *without;
	(void)state;

	assert_int_equal(names.n, 9);
	assert_true(conf_names_has(&names, "ca"));
	assert_true(conf_names_has(&names, "ca.key"));
	assert_true(conf_names_has(&names, "ca.key_passphrase"));
	assert_true(conf_names_has(&names, "scep.ra"));
	assert_true(conf_names_has(&names, "scep.ra.key"));
	assert_true(conf_names_has(&names, "csr.auth"));
	assert_true(conf_names_has(&names, "csr.allow"));
	assert_false(conf_names_has(&names, "key"));
	assert_false(conf_names_has(&names, "Errors"));
	conf_names_free(&names);

	/* Without the commented-out RA key, ca.key no longer stands in for scep.ra.key. */
	assert_non_null(without = strdup(text));
	memset(strstr(without, "# key = \"/etc"), ' ', strlen("# key"));
	names = conf_names(without);
	assert_true(conf_names_has(&names, "ca.key"));
	assert_false(conf_names_has(&names, "scep.ra.key"));
	conf_names_free(&names);
	free(without);
}

/* Every setting of the table is documented, and shown in the example by its full name. */
static void
test_documented(void **state)
{
	char *doc_path = source_path("docs/configuration.md");
	char *conf_path = source_path("conf/scepd.conf");
	char *doc = testlib_read_file(doc_path), *conf = testlib_read_file(conf_path);
	struct conf_names shown = conf_names(conf);
	(void)state;

	for (size_t i = 0; all_settings[i] != NULL; i++) {
		char *quoted;

		assert_true(asprintf(&quoted, "`%s`", all_settings[i]) > 0);
		if (strstr(doc, quoted) == NULL)
			fail_msg("docs/configuration.md does not document %s", quoted);
		if (!conf_names_has(&shown, all_settings[i]))
			fail_msg("conf/scepd.conf does not show %s", all_settings[i]);
		free(quoted);
	}
	conf_names_free(&shown);
	free(doc);
	free(conf);
	free(doc_path);
	free(conf_path);
}

/* admin: absent -> off with the default path; a tokens file that is missing yet loads. */
static void
test_admin(void **state)
{
	const struct test_env *env = *state;
	struct scepd_config *cfg = load_ok(env, MIN);
	char *tokens = expand("@D@/not-yet", env->dir);

	assert_false(cfg->admin.enabled);
	assert_string_equal(cfg->admin.path, "/api/v1");
	assert_null(cfg->admin.tokens_file);
	assert_false(cfg->admin.allow_plain_http);
	config_free(cfg);
	cfg = load_ok(env, MIN "admin = { tokens = \"file:not-yet\"; allow_plain_http = true; "
			       "path = \"/admin\"; };\n");
	assert_true(cfg->admin.enabled);
	assert_string_equal(cfg->admin.path, "/admin");
	assert_string_equal(cfg->admin.tokens_file, tokens);
	assert_true(cfg->admin.allow_plain_http);
	config_free(cfg);
	free(tokens);
}

/* /metrics: loopback only without the group; a written list replaces that. */
static void
test_metrics(void **state)
{
	const struct test_env *env = *state;
	struct scepd_config *cfg = load_ok(env, MIN);
	struct sockaddr_in v4 = { .sin_family = AF_INET };
	struct sockaddr_in6 v6 = { .sin6_family = AF_INET6 };

	assert_non_null(cfg->metrics.allow);
	inet_pton(AF_INET, "127.0.0.2", &v4.sin_addr);
	assert_true(addr_allow_match(cfg->metrics.allow, (struct sockaddr *)&v4));
	inet_pton(AF_INET6, "::1", &v6.sin6_addr);
	assert_true(addr_allow_match(cfg->metrics.allow, (struct sockaddr *)&v6));
	inet_pton(AF_INET, "10.0.0.1", &v4.sin_addr);
	assert_false(addr_allow_match(cfg->metrics.allow, (struct sockaddr *)&v4));
	config_free(cfg);
	cfg = load_ok(env, MIN "metrics = { allow = [ \"10.0.0.0/8\" ]; };\n");
	assert_true(addr_allow_match(cfg->metrics.allow, (struct sockaddr *)&v4));
	inet_pton(AF_INET, "127.0.0.1", &v4.sin_addr);
	assert_false(addr_allow_match(cfg->metrics.allow, (struct sockaddr *)&v4));
	config_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_secrets_never_shown),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_line_of_defaults),
		cmocka_unit_test(test_inline_pin_allowed),
		cmocka_unit_test(test_int_as_written),
		cmocka_unit_test(test_no_extensions),
		cmocka_unit_test(test_enums),
		cmocka_unit_test(test_more_forms),
		cmocka_unit_test(test_webhook),
		cmocka_unit_test(test_load_file),
		cmocka_unit_test(test_worker_count),
		cmocka_unit_test(test_parse_listen),
		cmocka_unit_test(test_shipped_example),
		cmocka_unit_test(test_documented),
		cmocka_unit_test(test_long_form),
		cmocka_unit_test(test_review_settings),
		cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_pg_uri),
		cmocka_unit_test(test_where),
		cmocka_unit_test(test_conf_names),
		cmocka_unit_test(test_admin),
		cmocka_unit_test(test_metrics),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
