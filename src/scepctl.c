/*
 * scepctl.c - scepd's administration tool: pending SCEP requests, issued certificates,
 * revocation, one-time challenges.
 *
 * SYNOPSIS
 *	scepctl [-c FILE] pending
 *	scepctl [-c FILE] approve TXID
 *	scepctl [-c FILE] reject TXID
 *	scepctl [-c FILE] issued [--serial HEX | --profile NAME]
 *	scepctl [-c FILE] revoke SERIAL [--reason REASON] [--date DATE]
 *	scepctl [-c FILE] revoke --txid TXID [--reason REASON] [--date DATE]
 *	scepctl [-c FILE] unrevoke SERIAL
 *	scepctl [-c FILE] revoked
 *	scepctl [-c FILE] challenge new [--owner NAME] [--ttl DURATION] [--profile NAME]
 *	                                [--subject SUBJECT]
 *	scepctl [-c FILE] db migrate
 *	scepctl [-c FILE] db prune [DAYS]
 *	scepctl [-c FILE] token new NAME --scope SCOPE [--scope SCOPE...]
 *	scepctl [-c FILE] mobileconfig [--profile NAME] [--challenge new|TEXT]
 *	                               [--subject /CN=x/O=y] [--san TYPE:VALUE...]
 *	                               [--keysize BITS] [--url URL] [--owner NAME]
 *	                               [--ttl DURATION] [--sign-cert FILE --sign-key FILE]
 *	scepctl --version | -h
 *
 * DESCRIPTION
 *	Loads scepd's configuration (default /etc/scepd/scepd.conf) with
 *	config_load(), opens the store named by storage.uri (never creating it:
 *	that is scepd's job, except for `db migrate`, which creates or upgrades the
 *	schema as a starting worker would and prints its version) and does one
 *	thing through store.h. Every change is
 *	one atomic store call, so scepctl may run while scepd serves; what it
 *	decides is seen by every worker at once.
 *
 *	Listings are one record a line, fields separated by one tab, no header,
 *	the same on a terminal as in a pipe: "-" for an empty field, times as
 *	ISO 8601 UTC, control characters as \xHH; new fields are added at the end.
 *	`pending` also shows what the stored CSR asks for (subjectAltNames, key type
 *	and size): bytes its sender chose, so anything but printable ASCII, ',' and
 *	'\' is printed as \xHH, "?" when the CSR cannot be read; and the profile the
 *	request came through. `issued` ends with the profile and the CA of each
 *	certificate, then its status (valid, revoked, expired), revocation reason and
 *	date; --profile lists one profile's. `revoke` and `unrevoke` change a
 *	certificate's revocation in one store call each (store_revoke(),
 *	store_unrevoke()) and write an audit record (log_audit(): who, what, why) on
 *	stderr, and to the journal when journald runs; `revoked` lists the revoked
 *	certificates in revocation order. `challenge new` prints the new
 *	challenge alone: 128 bits from RAND_bytes() as 32 lower-case hex digits, good
 *	for one SCEP profile only (--profile, or the one that takes one-time
 *	challenges).
 *	Only its SHA-256 (of those 32 characters) is stored. `db prune` deletes the
 *	one-time challenges used or expired, and the requests rejected, more than DAYS
 *	(default storage.keep_days) days ago, and says how many.
 *
 *	`token new` draws a bearer token of the admin API (admin_tokens.h), appends its
 *	line (name, ID, scopes, PBKDF2 hash; never the token) to admin.tokens, creating
 *	the file with mode 0600, under an exclusive lock, and prints the token alone,
 *	once. It refuses a name the file has already and a scope that is unknown or names
 *	no SCEP profile of the configuration. It does not open the store.
 *
 *	`mobileconfig` writes an Apple configuration profile for a SCEP profile on
 *	stdout (mobileconfig.h): the SCEP payload and the CA certificate, with a new
 *	one-time challenge (--challenge new, minted as `challenge new` mints it) or the
 *	one given; signed as CMS with --sign-cert and --sign-key (a PEM key file, the
 *	only key scepctl ever reads). It refuses a key size below the profile's
 *	keys.rsa_min_bits and a subject or name the profile's policy would refuse or drop.
 *
 *	It never loads the CA's keys, engines or PKCS#11, and logs only the audit records
 *	of revocations: otherwise it talks to the person or script that runs it,
 *	on stdout (results) and stderr (one line per problem).
 *
 * DIAGNOSTICS
 *	Exit 0 on success, 1 otherwise: usage, configuration (every error as
 *	"FILE:LINE: setting: what is wrong", as scepd -t prints them), a store
 *	that cannot be opened, an unknown transaction id or serial, a request
 *	that is not pending, an output that cannot be written. revoke and
 *	unrevoke have their own: 4 no such certificate (or none for the
 *	transaction id), 5 revoked already, 6 cannot unrevoke (not revoked, or
 *	revoked for a final reason).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <getopt.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "scepd/admin_tokens.h"
#include "scepd/challenge.h"
#include "scepd/config.h"
#include "scepd/encoding.h"
#include "scepd/log.h"
#include "scepd/mobileconfig.h"
#include "scepd/store.h"
#include "scepd/store_login.h"

#define SCEPCTL_DEFAULT_CONFIG "/etc/scepd/scepd.conf"
#define SCEPCTL_TTL_DEFAULT    3600              /* 1h */
#define SCEPCTL_TTL_MAX        (365LL * 86400LL) /* 365d */
#define SCEPCTL_OWNER_MAX      255
#define SCEPCTL_SUBJECT_MAX    1024
#define SCEPCTL_SANS_MAX       16
#define SCEPCTL_URL_MAX        2048

/* Exit statuses of revoke and unrevoke, beyond EXIT_SUCCESS and EXIT_FAILURE. */
enum scepctl_exit {
	SCEPCTL_EXIT_UNKNOWN = 4,  /* no such certificate (or none for the transaction id) */
	SCEPCTL_EXIT_ALREADY = 5,  /* revoked already */
	SCEPCTL_EXIT_NOT_HELD = 6, /* unrevoke: not revoked, or revoked for a final reason */
};

/* Long options without a letter. */
enum scepctl_opt {
	SCEPCTL_OPT_CHALLENGE = 0x100,
	SCEPCTL_OPT_SAN,
	SCEPCTL_OPT_KEYSIZE,
	SCEPCTL_OPT_URL,
	SCEPCTL_OPT_SIGN_CERT,
	SCEPCTL_OPT_SIGN_KEY,
};

/* What the command line asked for. */
struct scepctl_args {
	const char *config;
	const char *serial;                          /* issued --serial */
	const char *profile;                         /* issued --profile, challenge new --profile */
	const char *owner;                           /* challenge new --owner */
	const char *subject;                         /* challenge new --subject */
	const char *ttl;                             /* challenge new --ttl */
	const char *reason;                          /* revoke --reason */
	const char *date;                            /* revoke --date */
	const char *txid;                            /* revoke --txid */
	const char *scopes[ADMIN_TOKENS_SCOPES_MAX]; /* token new --scope */
	size_t n_scopes;
	const char *challenge;              /* mobileconfig --challenge */
	const char *sans[SCEPCTL_SANS_MAX]; /* mobileconfig --san */
	size_t n_sans;
	const char *keysize;   /* mobileconfig --keysize */
	const char *url;       /* mobileconfig --url */
	const char *sign_cert; /* mobileconfig --sign-cert */
	const char *sign_key;  /* mobileconfig --sign-key */
	char **words;          /* the command and its operands */
	int nwords;
};

static void
scepctl_usage(FILE *out)
{
	fprintf(out,
		"usage: scepctl [-c FILE] pending\n"
		"       scepctl [-c FILE] approve TXID\n"
		"       scepctl [-c FILE] reject TXID\n"
		"       scepctl [-c FILE] issued [--serial HEX | --profile NAME]\n"
		"       scepctl [-c FILE] revoke SERIAL [--reason REASON] [--date DATE]\n"
		"       scepctl [-c FILE] revoke --txid TXID [--reason REASON] [--date DATE]\n"
		"       scepctl [-c FILE] unrevoke SERIAL\n"
		"       scepctl [-c FILE] revoked\n"
		"       scepctl [-c FILE] challenge new [--owner NAME] [--ttl DURATION]\n"
		"                                       [--profile NAME] [--subject SUBJECT]\n"
		"       scepctl [-c FILE] db migrate\n"
		"       scepctl [-c FILE] db prune [DAYS]\n"
		"       scepctl [-c FILE] token new NAME --scope SCOPE [--scope SCOPE...]\n"
		"       scepctl [-c FILE] mobileconfig [--profile NAME] [--challenge new|TEXT]\n"
		"                       [--subject /CN=x/O=y] [--san "
		"dns:x|email:x|uri:x|upn:x...]\n"
		"                       [--keysize 1024|2048|4096] [--url URL] [--owner NAME]\n"
		"                       [--ttl DURATION] [--sign-cert FILE --sign-key FILE]\n"
		"       scepctl --version\n"
		"\n"
		"  -c, --config FILE  scepd's configuration (default " SCEPCTL_DEFAULT_CONFIG ")\n"
		"      --serial HEX   the certificate with this serial only\n"
		"      --profile NAME issued: the certificates issued through this profile only;\n"
		"                     challenge new: the SCEP profile the challenge is for\n"
		"                     (default: the one with challenge.mode \"otp\", or the only\n"
		"                     SCEP profile)\n"
		"      --owner NAME   who the challenge is for (scepd's %%{REMOTE_USER})\n"
		"      --subject SUBJECT only a request with this subject may use the challenge,\n"
		"                     written as 'scepctl pending' shows subjects (RFC 2253:\n"
		"                     CN=device1,O=Example)\n"
		"      --ttl DURATION how long the challenge is valid: SECONDS, or with\n"
		"                     s, m, h or d (30s, 15m, 1h, 7d); default 1h, at most 365d\n"
		"      --reason REASON revoke: an RFC 5280 reason: unspecified (default),\n"
		"                     keyCompromise, cACompromise, affiliationChanged,\n"
		"                     superseded, cessationOfOperation, certificateHold,\n"
		"                     privilegeWithdrawn, aACompromise\n"
		"      --date DATE    revoke: the revocation date, YYYY-MM-DD or\n"
		"                     YYYY-MM-DDTHH:MM:SSZ (UTC), not in the future; default now\n"
		"      --txid TXID    revoke: the certificates of this SCEP transaction id\n"
		"      --scope SCOPE  token new: what the admin API token may do:\n"
		"                     challenge:PROFILE, challenge:*, revoke, approve, read\n"
		"  mobileconfig: an Apple configuration profile (.mobileconfig) on stdout:\n"
		"      --challenge new|TEXT  mint a one-time challenge (bound to --subject when\n"
		"                     given) or embed TEXT; without it the device asks the user\n"
		"      --subject /CN=x/O=y  the subject the device requests\n"
		"      --san TYPE:VALUE  a subjectAltName it requests: dns:, email:, uri:, upn:\n"
		"      --keysize BITS the RSA key size (1024, 2048, 4096; default 2048)\n"
		"      --url URL      the SCEP URL devices use (default: from server.listen)\n"
		"      --sign-cert FILE --sign-key FILE  sign the profile (CMS, DER) with this\n"
		"                     PEM certificate (chain) and PEM key\n"
		"  -h, --help         show this help\n"
		"      --version      show the version\n");
}

/* One field of a listing: "-" when empty, control characters as \xHH (no tab breaks it). */
static void
scepctl_put_field(const char *s, char sep)
{
	const unsigned char *p;

	if (s == NULL || s[0] == '\0') {
		putchar('-');
	} else {
		for (p = (const unsigned char *)s; *p != '\0'; p++)
			if (*p < 0x20 || *p == 0x7f)
				printf("\\x%02X", *p);
			else
				putchar(*p);
	}
	putchar(sep);
}

/* ISO 8601 UTC, "-" for 0 (not set). */
static void
scepctl_put_time(time_t t, char sep)
{
	struct tm tm;
	char buf[32];

	if (t == 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, sizeof(buf), "-");
	printf("%s%c", buf, sep);
}

/* A user-supplied word in an error line, with control characters made visible. */
static const char *
scepctl_visible(const char *s, char *buf, size_t size)
{
	size_t i, n = 0;

	for (i = 0; s[i] != '\0' && n + 5 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			n += (size_t)snprintf(buf + n, size - n, "\\x%02X", c);
		else
			buf[n++] = (char)c;
	}
	buf[n] = '\0';
	return buf;
}

static int
scepctl_load_config(const char *path, struct scepd_config **ret_cfg)
{
	struct config_errors errs = { 0 };
	int r;

	/* scepctl loads no key: the PIN and key passphrases need not be readable here. */
	r = config_load_flags(path, CONFIG_LOAD_NO_KEY_SECRETS, ret_cfg, &errs);
	for (size_t i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.v[i]);
	config_errors_clear(&errs);
	return r;
}

/*
 * The store of storage.uri; an existing one only (scepd creates it, with its owner),
 * unless create: `db migrate`.
 */
static int
scepctl_open_store(const struct scepd_config *cfg, bool create, struct store **ret_store)
{
	struct secret_error err = { 0 };
	char where[CONFIG_WHERE_MAX];
	const char *hint = "";
	int r;

	if ((r = store_login_open(cfg, create ? 0 : STORE_OPEN_NO_CREATE, ret_store, &err)) == 0)
		return 0;
	if (strcmp(err.setting, "storage.uri") != 0 && err.setting[0] != '\0') {
		fprintf(stderr, "%s: %s\n", config_where(cfg, err.setting, where, sizeof(where)),
			err.message);
		return r;
	}
	if (r == -ENOENT)
		hint = " (scepd creates the database when it starts; is this its configuration?)";
	else if (r == -EACCES || r == -EPERM || r == -EROFS)
		hint = " (run scepctl as the user that owns the database)";
	/* It names the file or the server, never the URI: it may hold a password. */
	fprintf(stderr, "%s: %s%s\n", config_where(cfg, "storage.uri", where, sizeof(where)),
		err.setting[0] != '\0' ? err.message : "cannot open the store", hint);
	return r;
}

/*
 * Bytes from a CSR, which its sender chose: printable ASCII as it is, anything else as
 * \xHH, and so are ',' and '\' (a dNSName "a.example, DNS:b.example" must not pass
 * for two names, nor a literal "\x0A" for an escaped newline). Embedded NULs too.
 */
static void
scepctl_put_untrusted(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] > 0x7e || p[i] == ',' || p[i] == '\\')
			printf("\\x%02X", p[i]);
		else
			putchar(p[i]);
}

/* One subjectAltName entry, labelled as OpenSSL labels it ("DNS:", "IP Address:"...). */
static void
scepctl_put_san(GENERAL_NAME *gen)
{
	const char *label = NULL;
	const ASN1_IA5STRING *ia5;
	BIO *bio;
	char *data;
	long len;

	switch (gen->type) {
	case GEN_DNS:
		label = "DNS:";
		break;
	case GEN_EMAIL:
		label = "email:";
		break;
	case GEN_URI:
		label = "URI:";
		break;
	}
	if (label != NULL) {
		/* By length: OpenSSL's printing stops at an embedded NUL, hiding the rest. */
		ia5 = gen->d.ia5;
		fputs(label, stdout);
		scepctl_put_untrusted(ASN1_STRING_get0_data(ia5), (size_t)ASN1_STRING_length(ia5));
		return;
	}
	if ((bio = BIO_new(BIO_s_mem())) == NULL || GENERAL_NAME_print(bio, gen) <= 0 ||
	    (len = BIO_get_mem_data(bio, &data)) <= 0)
		fputs("?", stdout);
	else
		scepctl_put_untrusted((const unsigned char *)data, (size_t)len);
	BIO_free(bio);
}

/* The CSR's subjectAltNames: "DNS:a.example, IP Address:192.0.2.1"; "-" none, "?" unreadable. */
static void
scepctl_put_sans(const X509_REQ *csr, char sep)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *gens = NULL;
	int crit = -1;

	if (csr != NULL && (exts = X509_REQ_get_extensions((X509_REQ *)csr)) != NULL)
		gens = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
	if (csr == NULL || (gens == NULL && crit != -1)) {
		fputs("?", stdout); /* no CSR, several SAN extensions or an unparsable one */
	} else if (sk_GENERAL_NAME_num(gens) <= 0) {
		fputs("-", stdout);
	} else {
		for (int i = 0; i < sk_GENERAL_NAME_num(gens); i++) {
			if (i > 0)
				fputs(", ", stdout);
			scepctl_put_san(sk_GENERAL_NAME_value(gens, i));
		}
	}
	putchar(sep);
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
}

/* The CSR's key: "RSA 2048", "EC P-256", "EC brainpoolP256r1", "Ed25519"; "?" unreadable. */
static void
scepctl_put_key(const X509_REQ *csr, char sep)
{
	EVP_PKEY *pkey = csr != NULL ? X509_REQ_get0_pubkey((X509_REQ *)csr) : NULL;
	const char *name = NULL;
	char group[80];

	switch (pkey != NULL ? EVP_PKEY_get_base_id(pkey) : EVP_PKEY_NONE) {
	case EVP_PKEY_NONE:
		fputs("?", stdout);
		break;
	case EVP_PKEY_RSA:
		printf("RSA %d", EVP_PKEY_get_bits(pkey));
		break;
	case EVP_PKEY_RSA_PSS:
		printf("RSA-PSS %d", EVP_PKEY_get_bits(pkey));
		break;
	case EVP_PKEY_DSA:
		printf("DSA %d", EVP_PKEY_get_bits(pkey));
		break;
	case EVP_PKEY_EC:
		if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) != 1) {
			printf("EC explicit %d", EVP_PKEY_get_bits(pkey));
			break;
		}
		if ((name = EC_curve_nid2nist(OBJ_sn2nid(group))) == NULL)
			name = group;
		fputs("EC ", stdout);
		scepctl_put_untrusted((const unsigned char *)name, strlen(name));
		break;
	case EVP_PKEY_ED25519:
		fputs("Ed25519", stdout);
		break;
	case EVP_PKEY_ED448:
		fputs("Ed448", stdout);
		break;
	default:
		if ((name = EVP_PKEY_get0_type_name(pkey)) == NULL)
			name = "?";
		scepctl_put_untrusted((const unsigned char *)name, strlen(name));
		break;
	}
	putchar(sep);
}

static int
scepctl_pending_fn(const struct store_pending *req, void *userdata)
{
	const unsigned char *p = req->csr_der;
	X509_REQ *csr;

	(void)userdata;
	csr = d2i_X509_REQ(NULL, &p, (long)req->csr_der_len);
	scepctl_put_field(req->transaction_id, '\t');
	scepctl_put_field(req->subject, '\t');
	scepctl_put_time(req->received_at, '\t');
	scepctl_put_field(req->requester, '\t');
	scepctl_put_sans(csr, '\t');
	scepctl_put_key(csr, '\t');
	scepctl_put_field(req->profile, '\n');
	X509_REQ_free(csr);
	ERR_clear_error();
	return 0;
}

static int
scepctl_pending(struct store *st)
{
	int r;

	if ((r = store_walk_pending(st, scepctl_pending_fn, NULL)) < 0)
		fprintf(stderr, "scepctl: cannot list the pending requests: %s\n", strerror(-r));
	return r;
}

/* approve / reject: one conditional update, pending -> to. */
static int
scepctl_decide(struct store *st, const char *txid, enum store_status to)
{
	struct store_pending *req = NULL;
	const char *verb = to == STORE_STATUS_APPROVED ? "approve" : "reject";
	char vis[STORE_TRANSACTION_ID_MAX * 4 + 8];
	int r;

	r = store_set_pending_status(st, txid, STORE_STATUS_PENDING, to);
	if (r == 0)
		goto out;
	scepctl_visible(txid, vis, sizeof(vis));
	if (r == -ENOENT) {
		fprintf(stderr, "scepctl: cannot %s '%s': no request with this transaction id\n",
			verb, vis);
	} else if (r == -ESTALE && store_get_pending(st, txid, &req) == 0) {
		fprintf(stderr, "scepctl: cannot %s '%s': the request is %s, not pending\n", verb,
			vis, store_status_name(req->status));
	} else {
		fprintf(stderr, "scepctl: cannot %s '%s': %s\n", verb, vis, strerror(-r));
	}
out:
	store_pending_free(req);
	return r;
}

/* "revoked" (on hold too), "expired" (not revoked, past notAfter) or "valid". */
static const char *
scepctl_cert_status(const struct store_cert *cert)
{
	if (cert->revoked_at != 0)
		return "revoked";
	return cert->not_after <= time(NULL) ? "expired" : "valid";
}

/* userdata: the profile to list, NULL for all. */
static int
scepctl_cert_fn(const struct store_cert *cert, void *userdata)
{
	const char *profile = userdata;

	if (profile != NULL && (cert->profile == NULL || strcmp(cert->profile, profile) != 0))
		return 0;
	scepctl_put_field(cert->serial, '\t');
	scepctl_put_field(cert->subject, '\t');
	scepctl_put_field(cert->sans, '\t');
	scepctl_put_time(cert->not_before, '\t');
	scepctl_put_time(cert->not_after, '\t');
	scepctl_put_field(cert->requester, '\t');
	scepctl_put_field(cert->endpoint, '\t');
	scepctl_put_field(cert->transaction_id, '\t');
	scepctl_put_time(cert->issued_at, '\t');
	scepctl_put_field(cert->profile, '\t');
	scepctl_put_field(cert->ca, '\t');
	scepctl_put_field(scepctl_cert_status(cert), '\t');
	scepctl_put_field(store_reason_name(cert->revocation_reason), '\t');
	scepctl_put_time(cert->revoked_at, '\n');
	return 0;
}

/* One certificate (serial), or all of them, or those of one profile. */
static int
scepctl_issued(struct store *st, const char *serial, const char *profile)
{
	struct store_cert *cert = NULL;
	char vis[256];
	int r;

	if (serial == NULL) {
		if ((r = store_walk_certs(st, scepctl_cert_fn, (void *)profile)) < 0)
			fprintf(stderr, "scepctl: cannot list the certificates: %s\n",
				strerror(-r));
		goto out;
	}
	if ((r = store_get_cert(st, serial, &cert)) < 0) {
		scepctl_visible(serial, vis, sizeof(vis));
		if (r == -ENOENT)
			fprintf(stderr, "scepctl: no certificate with serial '%s'\n", vis);
		else
			fprintf(stderr, "scepctl: cannot look up serial '%s': %s\n", vis,
				strerror(-r));
		goto out;
	}
	r = scepctl_cert_fn(cert, NULL);
out:
	store_cert_free(cert);
	return r;
}

/* Revocation */

/* Who runs scepctl: the user name of the real uid, else "uid N". */
static void
scepctl_user(char *buf, size_t size)
{
	struct passwd *pw = getpwuid(getuid());

	if (pw != NULL && pw->pw_name != NULL && pw->pw_name[0] != '\0')
		snprintf(buf, size, "%s", pw->pw_name);
	else
		snprintf(buf, size, "uid %u", (unsigned)getuid());
}

/*
 * "2024-05-01" (midnight UTC) or "2024-05-01T12:00:00Z" -> seconds; -EINVAL, or -ERANGE
 * for a date in the future or before 1970.
 */
static int
scepctl_parse_date(const char *s, time_t *ret_when)
{
	static const char *const formats[] = { "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d" };
	struct tm tm;
	const char *end;
	time_t t;

	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		memset(&tm, 0, sizeof(tm));
		if ((end = strptime(s, formats[i], &tm)) == NULL || *end != '\0')
			continue;
		if ((t = timegm(&tm)) <= 0)
			return -ERANGE;
		if (t > time(NULL))
			return -ERANGE;
		*ret_when = t;
		return 0;
	}
	return -EINVAL;
}

static void
scepctl_audit(const char *result, const struct store_cert *cert, const char *reason,
	      const char *user)
{
	log_audit(&(struct log_audit){
		.result = result,
		.endpoint = cert->endpoint,
		.profile = cert->profile,
		.serial = cert->serial,
		.subject = cert->subject,
		.reason = reason,
		.ca = cert->ca,
		.user = user,
	});
}

/*
 * The audit record of a revocation change: on stderr always (the operator sees what was
 * recorded), and to the journal as well when journald runs.
 */
static void
scepctl_audit_all(const char *result, const struct store_cert *cert, const char *reason,
		  const char *user)
{
	log_setup(LOG_TARGET_JOURNAL, LOG_INFO);
	if (access("/run/systemd/journal/socket", W_OK) == 0)
		scepctl_audit(result, cert, reason, user);
	log_setup(LOG_TARGET_STDERR, LOG_INFO);
	scepctl_audit(result, cert, reason, user);
}

/* The certificate with this serial, or why not (on stderr). */
static int
scepctl_get_cert(struct store *st, const char *serial, struct store_cert **ret_cert)
{
	char vis[256];
	int r;

	if ((r = store_get_cert(st, serial, ret_cert)) == 0)
		return 0;
	scepctl_visible(serial, vis, sizeof(vis));
	if (r == -ENOENT)
		fprintf(stderr, "scepctl: no certificate with serial '%s'\n", vis);
	else
		fprintf(stderr, "scepctl: cannot look up serial '%s': %s\n", vis, strerror(-r));
	return r;
}

static int
scepctl_revoke_one(struct store *st, const char *serial, int reason, time_t when, const char *user)
{
	struct store_cert *cert = NULL, *now = NULL;
	char date[32];
	int r;

	if ((r = scepctl_get_cert(st, serial, &cert)) < 0)
		goto out;
	r = store_revoke(st, cert->serial, reason, when, user);
	if (r == -EALREADY && store_get_cert(st, cert->serial, &now) == 0) {
		struct tm tm;

		if (gmtime_r(&now->revoked_at, &tm) == NULL ||
		    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
			snprintf(date, sizeof(date), "?");
		fprintf(stderr, "scepctl: cannot revoke '%s': revoked already (%s, %s)\n",
			cert->serial,
			store_reason_name(now->revocation_reason) != NULL
				? store_reason_name(now->revocation_reason)
				: "?",
			date);
		goto out;
	}
	if (r < 0) {
		fprintf(stderr, "scepctl: cannot revoke '%s': %s\n", cert->serial,
			r == -EALREADY ? "revoked already" : strerror(-r));
		goto out;
	}
	scepctl_audit_all("revoked", cert, store_reason_name(reason), user);
out:
	store_cert_free(now);
	store_cert_free(cert);
	return r;
}

/* Collects the serials of a transaction's certificates (fn must not use the store). */
struct scepctl_serials {
	char **v;
	size_t n;
};

static int
scepctl_serials_fn(const struct store_cert *cert, void *userdata)
{
	struct scepctl_serials *list = userdata;
	char **v;

	if ((v = realloc(list->v, (list->n + 1) * sizeof(*v))) == NULL)
		return -ENOMEM;
	list->v = v;
	if ((v[list->n] = strdup(cert->serial)) == NULL)
		return -ENOMEM;
	list->n++;
	return 0;
}

/*
 * Every certificate of the transaction: 0 when each was revoked now, -EALREADY when
 * some were revoked already (the others are revoked all the same), -ENOENT when it has
 * none, another error as soon as one fails.
 */
static int
scepctl_revoke_txid(struct store *st, const char *txid, int reason, time_t when, const char *user)
{
	struct scepctl_serials list = { 0 };
	char vis[STORE_TRANSACTION_ID_MAX * 4 + 8];
	int r, result = 0;

	if ((r = store_walk_certs_by_transaction(st, txid, scepctl_serials_fn, &list)) < 0) {
		fprintf(stderr, "scepctl: cannot look up transaction id '%s': %s\n",
			scepctl_visible(txid, vis, sizeof(vis)), strerror(-r));
		goto out;
	}
	if (list.n == 0) {
		fprintf(stderr, "scepctl: no certificate with transaction id '%s'\n",
			scepctl_visible(txid, vis, sizeof(vis)));
		r = -ENOENT;
		goto out;
	}
	for (size_t i = 0; i < list.n; i++) {
		r = scepctl_revoke_one(st, list.v[i], reason, when, user);
		if (r == -EALREADY)
			result = r;
		else if (r < 0)
			goto out;
	}
	r = result;
out:
	for (size_t i = 0; i < list.n; i++)
		free(list.v[i]);
	free(list.v);
	return r;
}

static int
scepctl_revoke(struct store *st, const struct scepctl_args *a)
{
	char user[64];
	time_t when = 0;
	int reason = STORE_REASON_UNSPECIFIED, r;

	if (a->reason != NULL && store_reason_parse(a->reason, &reason) < 0) {
		fprintf(stderr,
			"scepctl: --reason: '%s' is not a reason (unspecified, keyCompromise, "
			"cACompromise, affiliationChanged, superseded, cessationOfOperation, "
			"certificateHold, privilegeWithdrawn, aACompromise)\n",
			a->reason);
		return -EINVAL;
	}
	if (a->date != NULL && (r = scepctl_parse_date(a->date, &when)) < 0) {
		fprintf(stderr, "scepctl: --date: '%s' is %s\n", a->date,
			r == -ERANGE ? "in the future (or before 1970)"
				     : "not a date (YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ)");
		return -EINVAL;
	}
	scepctl_user(user, sizeof(user));
	if (a->txid != NULL)
		return scepctl_revoke_txid(st, a->txid, reason, when, user);
	return scepctl_revoke_one(st, a->words[1], reason, when, user);
}

static int
scepctl_unrevoke(struct store *st, const char *serial)
{
	struct store_cert *cert = NULL;
	char user[64];
	int r;

	scepctl_user(user, sizeof(user));
	if ((r = scepctl_get_cert(st, serial, &cert)) < 0)
		goto out;
	r = store_unrevoke(st, cert->serial, user);
	if (r == -ESRCH)
		fprintf(stderr, "scepctl: cannot unrevoke '%s': it is not revoked\n", cert->serial);
	else if (r == -EPERM)
		fprintf(stderr,
			"scepctl: cannot unrevoke '%s': revoked for %s, which is final (only a "
			"certificateHold can be lifted)\n",
			cert->serial,
			store_reason_name(cert->revocation_reason) != NULL
				? store_reason_name(cert->revocation_reason)
				: "?");
	else if (r == -ENOENT)
		fprintf(stderr, "scepctl: no certificate with serial '%s'\n", cert->serial);
	else if (r < 0)
		fprintf(stderr, "scepctl: cannot unrevoke '%s': %s\n", cert->serial, strerror(-r));
	else /* removeFromCRL: RFC 5280's name for a hold that was lifted */
		scepctl_audit_all("unrevoked", cert, "removeFromCRL", user);
out:
	store_cert_free(cert);
	return r;
}

static int
scepctl_revoked_fn(const struct store_cert *cert, void *userdata)
{
	(void)userdata;
	scepctl_put_field(cert->serial, '\t');
	scepctl_put_field(cert->subject, '\t');
	scepctl_put_field(store_reason_name(cert->revocation_reason), '\t');
	scepctl_put_time(cert->revoked_at, '\t');
	scepctl_put_field(cert->profile, '\t');
	scepctl_put_field(cert->ca, '\t');
	scepctl_put_field(cert->revoked_by, '\n');
	return 0;
}

/* Every revoked certificate, expired ones too, of every CA, in revocation order. */
static int
scepctl_revoked(struct store *st)
{
	int r;

	if ((r = store_walk_revoked(st, NULL, 0, scepctl_revoked_fn, NULL)) < 0)
		fprintf(stderr, "scepctl: cannot list the revoked certificates: %s\n",
			strerror(-r));
	return r;
}

/* "3600", "30s", "15m", "1h", "7d" -> seconds in 1..SCEPCTL_TTL_MAX; -EINVAL, -ERANGE. */
static int
scepctl_parse_ttl(const char *s, long long *ret_seconds)
{
	static const struct {
		char suffix;
		long long seconds;
	} units[] = { { '\0', 1 }, { 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 } };
	long long n = 0;
	size_t i;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	for (; *s >= '0' && *s <= '9'; s++) {
		n = n * 10 + (*s - '0');
		if (n > SCEPCTL_TTL_MAX)
			return -ERANGE;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (s[0] != units[i].suffix || (s[0] != '\0' && s[1] != '\0'))
			continue;
		n *= units[i].seconds;
		if (n < 1 || n > SCEPCTL_TTL_MAX)
			return -ERANGE;
		*ret_seconds = n;
		return 0;
	}
	return -EINVAL;
}

static int
scepctl_owner_valid(const char *owner)
{
	size_t i;

	for (i = 0; owner[i] != '\0'; i++)
		if ((unsigned char)owner[i] < 0x20 || owner[i] == 0x7f)
			return 0;
	return i > 0 && i <= SCEPCTL_OWNER_MAX;
}

/* A subject as the store keeps them: printable, "TYPE=value" at least. */
static int
scepctl_subject_valid(const char *subject)
{
	size_t i;

	for (i = 0; subject[i] != '\0'; i++)
		if ((unsigned char)subject[i] < 0x20 || subject[i] == 0x7f)
			return 0;
	return i <= SCEPCTL_SUBJECT_MAX && strchr(subject, '=') != NULL;
}

/*
 * The SCEP profile a new challenge is for: the one named, else the only one with
 * challenge.mode "otp", else the only SCEP profile. NULL, with the reason on stderr.
 */
static const char *
scepctl_challenge_profile(const struct scepd_config *cfg, const char *name)
{
	const struct config_profile *p, *otp = NULL, *scep = NULL;
	size_t n_otp = 0, n_scep = 0;
	char names[512] = "";
	size_t used = 0;

	if (name != NULL) {
		if ((p = config_profile_by_name(cfg, name)) != NULL &&
		    p->type == CONFIG_PROFILE_SCEP)
			return p->name;
		fprintf(stderr, "scepctl: --profile: %s is not a SCEP profile of %s\n", name,
			cfg->path);
		return NULL;
	}
	for (size_t i = 0; i < cfg->n_profiles; i++) {
		p = &cfg->profiles[i];
		if (p->type != CONFIG_PROFILE_SCEP)
			continue;
		n_scep++;
		scep = p;
		if (p->scep.challenge_mode == CONFIG_CHALLENGE_OTP) {
			n_otp++;
			otp = p;
		}
		if (used < sizeof(names))
			used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s",
						 used > 0 ? ", " : "", p->name);
	}
	if (n_otp == 1)
		return otp->name;
	if (n_otp == 0 && n_scep == 1)
		return scep->name;
	fprintf(stderr, "scepctl: challenge new: name the SCEP profile with --profile (%s)\n",
		names);
	return NULL;
}

static int
scepctl_challenge_new(struct store *st, const char *profile, const struct scepctl_args *a,
		      long long ttl)
{
	char secret[CHALLENGE_MAX];
	time_t expires;
	int r;

	r = challenge_mint(st,
			   &(struct challenge_req){
				   .profile = profile,
				   .owner = a->owner,
				   .subject = a->subject,
				   .ttl = ttl,
				   .format = CHALLENGE_HEX32_LOWER,
			   },
			   secret, &expires);
	if (r < 0) {
		fprintf(stderr, "scepctl: cannot record the challenge: %s\n", strerror(-r));
		return r;
	}
	printf("%s\n", secret);
	OPENSSL_cleanse(secret, sizeof(secret));
	return 0;
}

/* The store was created or migrated when it was opened: say where it is now. */
static int
scepctl_db_migrate(struct store *st)
{
	int version, r;

	if ((r = store_schema_version(st, &version)) < 0) {
		fprintf(stderr, "scepctl: cannot read the schema version: %s\n", strerror(-r));
		return r;
	}
	printf("schema version %d\n", version);
	return 0;
}

/* Every --scope of token new: known, and a challenge scope names a SCEP profile. */
static int
scepctl_token_scopes(const struct scepd_config *cfg, const struct scepctl_args *a)
{
	const struct config_profile *p;
	const char *profile;

	if (a->n_scopes == 0) {
		fprintf(stderr, "scepctl: token new needs at least one --scope\n");
		return -EINVAL;
	}
	for (size_t i = 0; i < a->n_scopes; i++) {
		if (!admin_tokens_scope_valid(a->scopes[i], &profile)) {
			fprintf(stderr,
				"scepctl: --scope: '%s' is not one of challenge:PROFILE, "
				"challenge:*, revoke, approve, read\n",
				a->scopes[i]);
			return -EINVAL;
		}
		if (profile != NULL && strcmp(profile, "*") != 0 &&
		    ((p = config_profile_by_name(cfg, profile)) == NULL ||
		     p->type != CONFIG_PROFILE_SCEP)) {
			fprintf(stderr, "scepctl: --scope: %s is not a SCEP profile of %s\n",
				profile, cfg->path);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * token new NAME: the line goes to admin.tokens (created 0600) under an exclusive lock,
 * after the file was read again under that lock (a name twice is refused); then the
 * token is printed, once.
 */
static int
scepctl_token_new(const struct scepd_config *cfg, const struct scepctl_args *a)
{
	const char *path = cfg->admin.tokens_file, *name = a->words[2];
	struct admin_tokens *tokens = NULL;
	struct admin_tokens_error err;
	char token[ADMIN_TOKENS_TOKEN_MAX], *line = NULL, where[CONFIG_WHERE_MAX];
	size_t len, done = 0;
	ssize_t n;
	int fd = -1, r;

	if (!cfg->admin.enabled || path == NULL) {
		fprintf(stderr,
			"scepctl: %s has no admin group (admin.tokens): no API to "
			"make a token for\n",
			cfg->path);
		return -EINVAL;
	}
	if (!admin_tokens_name_valid(name)) {
		fprintf(stderr, "scepctl: token new: the name is 1 to %d of A-Z a-z 0-9 . _ -\n",
			ADMIN_TOKENS_NAME_MAX);
		return -EINVAL;
	}
	if ((r = scepctl_token_scopes(cfg, a)) < 0)
		return r;
	config_where(cfg, "admin.tokens", where, sizeof(where));
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600)) < 0) {
		r = -errno;
		fprintf(stderr, "%s: cannot open %s: %s\n", where, path, strerror(errno));
		goto out;
	}
	if (flock(fd, LOCK_EX) < 0) {
		r = -errno;
		fprintf(stderr, "scepctl: cannot lock %s: %s\n", path, strerror(errno));
		goto out;
	}
	if ((r = admin_tokens_load(path, &tokens, &err)) < 0) {
		if (err.line > 0)
			fprintf(stderr, "%s: %s:%u: %s\n", where, path, err.line, err.message);
		else
			fprintf(stderr, "%s: %s: %s\n", where, path, err.message);
		goto out;
	}
	if (admin_tokens_by_name(tokens, name) != NULL) {
		fprintf(stderr, "scepctl: token new: %s has a token named %s already\n", path,
			name);
		r = -EEXIST;
		goto out;
	}
	if ((r = admin_tokens_new(name, a->scopes, a->n_scopes, ADMIN_TOKENS_ITER, token, &line)) <
	    0) {
		fprintf(stderr, "scepctl: cannot make a token: %s\n", strerror(-r));
		goto out;
	}
	len = strlen(line);
	line[len++] = '\n'; /* its NUL: the line is not a string any more */
	while (done < len) {
		if ((n = write(fd, line + done, len - done)) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			fprintf(stderr, "scepctl: cannot write %s: %s\n", path, strerror(errno));
			goto out;
		}
		done += (size_t)n;
	}
	if (fsync(fd) < 0) {
		r = -errno;
		fprintf(stderr, "scepctl: cannot write %s: %s\n", path, strerror(errno));
		goto out;
	}
	printf("%s\n", token);
	r = 0;
out:
	OPENSSL_cleanse(token, sizeof(token));
	free(line);
	admin_tokens_free(tokens);
	if (fd >= 0)
		close(fd);
	return r;
}

/*
 * Deletes spent challenges and rejected requests older than days (a count of days),
 * or storage.keep_days when days is NULL.
 */
static int
scepctl_db_prune(struct store *st, const struct scepd_config *cfg, const char *days)
{
	struct store_pruned pruned;
	long long keep = cfg->storage.keep_days;
	char *end;
	int r;

	if (days != NULL) {
		errno = 0;
		keep = strtoll(days, &end, 10);
		if (errno != 0 || end == days || *end != '\0' || keep < 0 || keep > 36500) {
			fprintf(stderr,
				"scepctl: db prune: DAYS is a number of days, 0 to 36500\n");
			return -EINVAL;
		}
	} else if (keep == 0) {
		fprintf(stderr, "scepctl: db prune: storage.keep_days is 0 (keep everything); "
				"give the days to keep: db prune DAYS\n");
		return -EINVAL;
	}
	r = store_prune_all(st, time(NULL) - (time_t)keep * 86400, &pruned);
	printf("pruned %" PRIu64 " challenge(s) and %" PRIu64
	       " rejected request(s) older than %lld days\n",
	       pruned.challenges, pruned.rejected_requests, keep);
	if (r < 0)
		fprintf(stderr, "scepctl: cannot prune the store: %s\n", strerror(-r));
	return r;
}

/*
 * mobileconfig: the SCEP URL of profile p as server.listen serves it (the first
 * plain-HTTP listener, else the first TLS one): 0, or -ENOENT when no listener names
 * an address a device could use (none, or a wildcard).
 */
static int
scepctl_mobileconfig_url(const struct scepd_config *cfg, const struct config_profile *p, char *buf,
			 size_t size)
{
	const struct config_strv *plain = &cfg->server.listen, *tls = &cfg->server.tls.listen;
	const char *listen, *scheme;

	if (plain->n > 0) {
		listen = plain->v[0];
		scheme = "http";
	} else if (tls->n > 0) {
		listen = tls->v[0];
		scheme = "https";
	} else {
		return -ENOENT;
	}
	if (listen[0] == '*' || strncmp(listen, "[::]:", 5) == 0 ||
	    strncmp(listen, "0.0.0.0:", 8) == 0)
		return -ENOENT;
	snprintf(buf, size, "%s://%s%s", scheme, listen, p->scep.path);
	return 0;
}

/*
 * mobileconfig: PayloadIdentifier "<URL host, reversed>.scepd.<profile>"
 * ("org.example.ca.scepd.scep"), or "scepd.<profile>" for an address; characters
 * outside A-Z a-z 0-9 . - as '-'.
 */
static void
scepctl_mobileconfig_identifier(const char *url, const char *profile, char *buf, size_t size)
{
	const char *host = strstr(url, "://"), *end, *dot;
	size_t n = 0, len;
	bool name = false;

	host = host != NULL ? host + 3 : url;
	len = strcspn(host, ":/?#");
	for (size_t i = 0; i < len; i++)
		if ((host[i] < '0' || host[i] > '9') && host[i] != '.')
			name = true;
	if (host[0] == '[' || len == 0)
		name = false;
	for (end = host + len; name && end > host; end = dot) {
		for (dot = end; dot > host && dot[-1] != '.'; dot--)
			;
		n += (size_t)snprintf(buf + n, n < size ? size - n : 0, "%.*s.", (int)(end - dot),
				      dot);
		if (dot > host)
			dot--; /* the '.' */
	}
	snprintf(buf + (n < size ? n : size - 1), n < size ? size - n : 1, "scepd.%s", profile);
	for (char *c = buf; *c != '\0'; c++)
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
		      (*c >= '0' && *c <= '9') || *c == '.' || *c == '-'))
			*c = '-';
}

/* mobileconfig: the certificates of a PEM file, in order: 0, or -EINVAL with a line. */
static int
scepctl_mobileconfig_certs(const char *path, const char *what, STACK_OF(X509) **ret)
{
	STACK_OF(X509) *certs = NULL;
	X509 *cert;
	BIO *bio = NULL;
	int r = -EINVAL;

	if ((bio = BIO_new_file(path, "r")) == NULL) {
		fprintf(stderr, "scepctl: %s: cannot read %s: %s\n", what, path, strerror(errno));
		goto out;
	}
	if ((certs = sk_X509_new_null()) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (!sk_X509_push(certs, cert)) {
			X509_free(cert);
			r = -ENOMEM;
			goto out;
		}
	}
	if (sk_X509_num(certs) == 0) {
		fprintf(stderr, "scepctl: %s: %s holds no PEM certificate\n", what, path);
		goto out;
	}
	*ret = certs;
	certs = NULL; /* the caller owns it now */
	r = 0;
out:
	ERR_clear_error();
	sk_X509_pop_free(certs, X509_free);
	BIO_free(bio);
	return r;
}

/* mobileconfig --sign-cert/--sign-key: the signer first, the rest of its chain. */
static int
scepctl_mobileconfig_signer(const struct scepctl_args *a, STACK_OF(X509) **ret_certs,
			    EVP_PKEY **ret_key)
{
	EVP_PKEY *key = NULL;
	BIO *bio = NULL;
	int r;

	if ((r = scepctl_mobileconfig_certs(a->sign_cert, "--sign-cert", ret_certs)) < 0)
		return r;
	if ((bio = BIO_new_file(a->sign_key, "r")) == NULL ||
	    (key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL)) == NULL) {
		fprintf(stderr, "scepctl: --sign-key: cannot read a PEM private key from %s\n",
			a->sign_key);
		r = -EINVAL;
	} else if (!X509_check_private_key(sk_X509_value(*ret_certs, 0), key)) {
		fprintf(stderr, "scepctl: --sign-key does not belong to the first certificate "
				"of --sign-cert\n");
		r = -EINVAL;
	}
	ERR_clear_error();
	BIO_free(bio);
	if (r < 0) {
		EVP_PKEY_free(key);
		sk_X509_pop_free(*ret_certs, X509_free);
		*ret_certs = NULL;
		return r;
	}
	*ret_key = key;
	return 0;
}

/*
 * mobileconfig: the profile's request checked (key size, policy), a challenge minted
 * last (nothing is left in the store when anything else fails), the plist written to
 * memory, signed when asked, and then to stdout.
 */
static int
scepctl_mobileconfig(const struct scepd_config *cfg, const struct scepctl_args *a, long long ttl)
{
	struct mobileconfig_san sans[SCEPCTL_SANS_MAX];
	const struct config_profile *p;
	const struct config_ca *ca;
	STACK_OF(X509) *ca_certs = NULL, *sign_certs = NULL;
	EVP_PKEY *sign_key = NULL;
	X509_NAME *subject = NULL;
	struct store *st = NULL;
	char url[SCEPCTL_URL_MAX], id[512], display[300], reason[512], secret[CHALLENGE_MAX] = "";
	char *bound = NULL, *plist = NULL, vis[128];
	unsigned char *der = NULL;
	size_t plist_len = 0, der_len = 0;
	const char *profile, *challenge = NULL;
	time_t expires;
	long keysize = MOBILECONFIG_KEYSIZE_DEFAULT;
	char *end;
	FILE *mem = NULL;
	int r = -EINVAL;

	if ((profile = scepctl_challenge_profile(cfg, a->profile)) == NULL)
		return -EINVAL;
	p = config_profile_by_name(cfg, profile);
	ca = config_profile_ca(cfg, p);
	if (a->keysize != NULL) {
		errno = 0;
		keysize = strtol(a->keysize, &end, 10);
		if (errno != 0 || end == a->keysize || *end != '\0' ||
		    (keysize != 1024 && keysize != 2048 && keysize != 4096)) {
			fprintf(stderr, "scepctl: --keysize: 1024, 2048 or 4096 (what Apple "
					"devices make)\n");
			goto out;
		}
	}
	if (keysize < p->keys.rsa_min_bits) {
		fprintf(stderr,
			"scepctl: --keysize: %ld bits is below the profile's keys.rsa_min_bits "
			"(%d): the CA would refuse the request\n",
			keysize, p->keys.rsa_min_bits);
		goto out;
	}
	if ((a->sign_cert == NULL) != (a->sign_key == NULL)) {
		fprintf(stderr, "scepctl: --sign-cert and --sign-key go together\n");
		goto out;
	}
	for (size_t i = 0; i < a->n_sans; i++) {
		if (mobileconfig_parse_san(a->sans[i], &sans[i]) < 0) {
			fprintf(stderr,
				"scepctl: --san: '%s' is not dns:NAME, email:ADDRESS, uri:URI or "
				"upn:NAME (printable ASCII, no space)\n",
				scepctl_visible(a->sans[i], vis, sizeof(vis)));
			goto out;
		}
		for (size_t j = 0; j < i; j++) {
			if (sans[i].type == MOBILECONFIG_SAN_UPN && sans[j].type == sans[i].type) {
				fprintf(stderr, "scepctl: --san: one upn: at most\n");
				goto out;
			}
		}
	}
	if (a->subject != NULL) {
		if ((r = mobileconfig_parse_subject(a->subject, &subject)) < 0) {
			fprintf(stderr,
				"scepctl: --subject: '%s' is not /FIELD=value/... with fields "
				"OpenSSL knows (CN, O, OU, C, ST, L, ...)\n",
				scepctl_visible(a->subject, vis, sizeof(vis)));
			goto out;
		}
		/* The text a challenge is bound to: the device's request, as the SCEP side
		 * prints it (scep_store_consume_challenge()). */
		if ((r = encoding_name_text(subject, &bound)) < 0)
			goto out;
		if (strlen(bound) > SCEPCTL_SUBJECT_MAX) {
			fprintf(stderr, "scepctl: --subject: longer than %d characters\n",
				SCEPCTL_SUBJECT_MAX);
			r = -EINVAL;
			goto out;
		}
	}
	r = mobileconfig_check_policy(p, subject, sans, a->n_sans, a->owner, reason,
				      sizeof(reason));
	if (r == -EPERM) {
		fprintf(stderr, "scepctl: mobileconfig: %s\n", reason);
		goto out;
	}
	if (r < 0) {
		fprintf(stderr, "scepctl: cannot check the policy: %s\n", strerror(-r));
		goto out;
	}
	r = -EINVAL;
	if (a->url != NULL) {
		if (strncmp(a->url, "http://", 7) != 0 && strncmp(a->url, "https://", 8) != 0) {
			fprintf(stderr, "scepctl: --url: an http:// or https:// URL\n");
			goto out;
		}
		snprintf(url, sizeof(url), "%s", a->url);
	} else if (scepctl_mobileconfig_url(cfg, p, url, sizeof(url)) < 0) {
		fprintf(stderr,
			"scepctl: mobileconfig: server.listen names no address devices can use; "
			"give the SCEP URL with --url\n");
		goto out;
	} else if (strstr(url, "://127.") != NULL || strstr(url, "://[::1]") != NULL) {
		fprintf(stderr,
			"scepctl: mobileconfig: warning: the URL %s is on loopback; give the "
			"URL devices reach with --url\n",
			url);
	}
	if ((r = scepctl_mobileconfig_certs(
		     ca->certificate, config_ca_setting(cfg, ca, "certificate", id, sizeof(id)),
		     &ca_certs)) < 0)
		goto out;
	if (a->sign_cert != NULL &&
	    (r = scepctl_mobileconfig_signer(a, &sign_certs, &sign_key)) < 0)
		goto out;
	r = -EINVAL;
	if (a->challenge != NULL && strcmp(a->challenge, "new") == 0) {
		if (p->scep.challenge_mode != CONFIG_CHALLENGE_OTP) {
			fprintf(stderr,
				"scepctl: --challenge new: profile %s does not take one-time "
				"challenges (challenge.mode \"otp\")\n",
				profile);
			goto out;
		}
		if ((r = scepctl_open_store(cfg, false, &st)) < 0)
			goto out;
		r = challenge_mint(st,
				   &(struct challenge_req){
					   .profile = profile,
					   .owner = a->owner,
					   .subject = bound,
					   .ttl = ttl,
					   .format = CHALLENGE_HEX32_LOWER,
				   },
				   secret, &expires);
		if (r < 0) {
			fprintf(stderr, "scepctl: cannot record the challenge: %s\n", strerror(-r));
			goto out;
		}
		challenge = secret;
	} else if (a->challenge != NULL) {
		if (a->challenge[0] == '\0' || !mobileconfig_text_valid(a->challenge)) {
			fprintf(stderr,
				"scepctl: --challenge: 'new', or UTF-8 text without control "
				"characters\n");
			goto out;
		}
		if (p->scep.challenge_mode == CONFIG_CHALLENGE_NONE)
			fprintf(stderr,
				"scepctl: mobileconfig: warning: profile %s takes no "
				"challenge (challenge.mode \"none\")\n",
				profile);
		challenge = a->challenge;
	} else if (p->scep.challenge_mode != CONFIG_CHALLENGE_NONE) {
		fprintf(stderr,
			"scepctl: mobileconfig: warning: no --challenge: profile %s needs one, "
			"the device will ask its user\n",
			profile);
	}
	if (a->owner != NULL && challenge != secret)
		fprintf(stderr, "scepctl: mobileconfig: warning: --owner only goes with "
				"--challenge new\n");
	scepctl_mobileconfig_identifier(url, profile, id, sizeof(id));
	snprintf(display, sizeof(display), "SCEP enrolment (%s)", profile);
	if ((mem = open_memstream(&plist, &plist_len)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	r = mobileconfig_write(mem,
			       &(struct mobileconfig_req){
				       .url = url,
				       .name = ca->name,
				       .identifier = id,
				       .display_name = display,
				       .subject = subject,
				       .challenge = challenge,
				       .keysize = (int)keysize,
				       .sans = sans,
				       .n_sans = a->n_sans,
				       .ca = sk_X509_value(ca_certs, sk_X509_num(ca_certs) - 1),
			       });
	if (fclose(mem) != 0 && r == 0)
		r = -EIO;
	mem = NULL;
	if (r < 0) {
		fprintf(stderr, "scepctl: cannot write the profile: %s%s\n", strerror(-r),
			r == -EINVAL ? " (text a property list cannot carry)" : "");
		goto out;
	}
	if (sign_key != NULL) {
		if ((r = mobileconfig_sign((const unsigned char *)plist, plist_len,
					   sk_X509_value(sign_certs, 0), sign_key, sign_certs, &der,
					   &der_len)) < 0) {
			fprintf(stderr, "scepctl: cannot sign the profile: %s\n", strerror(-r));
			goto out;
		}
		fwrite(der, 1, der_len, stdout);
	} else {
		fwrite(plist, 1, plist_len, stdout);
	}
	r = 0;
out:
	if (mem != NULL)
		fclose(mem);
	if (plist != NULL)
		OPENSSL_cleanse(plist, plist_len);
	free(plist);
	if (der != NULL)
		OPENSSL_cleanse(der, der_len);
	free(der);
	OPENSSL_cleanse(secret, sizeof(secret));
	free(bound);
	X509_NAME_free(subject);
	EVP_PKEY_free(sign_key);
	sk_X509_pop_free(sign_certs, X509_free);
	sk_X509_pop_free(ca_certs, X509_free);
	store_close(st);
	return r;
}

/* The words after the options: which command, and are its operands and options right? */
static int
scepctl_check_words(const struct scepctl_args *a)
{
	const char *cmd = a->nwords > 0 ? a->words[0] : NULL;
	int want = 1;

	if (cmd == NULL) {
		fprintf(stderr, "scepctl: no command given\n");
		return -EINVAL;
	}
	if (strcmp(cmd, "approve") == 0 || strcmp(cmd, "reject") == 0) {
		want = 2;
		if (a->nwords < 2) {
			fprintf(stderr, "scepctl: %s needs a transaction id\n", cmd);
			return -EINVAL;
		}
	} else if (strcmp(cmd, "challenge") == 0) {
		want = 2;
		if (a->nwords < 2 || strcmp(a->words[1], "new") != 0) {
			fprintf(stderr,
				"scepctl: unknown challenge command; use 'challenge new'\n");
			return -EINVAL;
		}
	} else if (strcmp(cmd, "db") == 0) {
		want = 2;
		if (a->nwords >= 2 && strcmp(a->words[1], "prune") == 0)
			want = 3; /* [DAYS] */
		else if (a->nwords < 2 || strcmp(a->words[1], "migrate") != 0) {
			fprintf(stderr,
				"scepctl: unknown db command; use 'db migrate' or 'db prune'\n");
			return -EINVAL;
		}
	} else if (strcmp(cmd, "revoke") == 0) {
		want = a->txid != NULL ? 1 : 2;
		if (a->txid == NULL && a->nwords < 2) {
			fprintf(stderr, "scepctl: revoke needs a serial or --txid TXID\n");
			return -EINVAL;
		}
		if (a->txid != NULL && a->nwords > 1) {
			fprintf(stderr, "scepctl: revoke takes a serial or --txid, not both\n");
			return -EINVAL;
		}
	} else if (strcmp(cmd, "token") == 0) {
		want = 3;
		if (a->nwords < 2 || strcmp(a->words[1], "new") != 0) {
			fprintf(stderr, "scepctl: unknown token command; use 'token new NAME'\n");
			return -EINVAL;
		}
		if (a->nwords < 3) {
			fprintf(stderr, "scepctl: token new needs a name\n");
			return -EINVAL;
		}
	} else if (strcmp(cmd, "unrevoke") == 0) {
		want = 2;
		if (a->nwords < 2) {
			fprintf(stderr, "scepctl: unrevoke needs a serial\n");
			return -EINVAL;
		}
	} else if (strcmp(cmd, "pending") != 0 && strcmp(cmd, "issued") != 0 &&
		   strcmp(cmd, "revoked") != 0 && strcmp(cmd, "mobileconfig") != 0) {
		fprintf(stderr, "scepctl: unknown command '%s'\n", cmd);
		return -EINVAL;
	}
	if (a->nwords > want) {
		fprintf(stderr, "scepctl: unexpected argument '%s'\n", a->words[want]);
		return -EINVAL;
	}
	if (a->serial != NULL && strcmp(cmd, "issued") != 0) {
		fprintf(stderr, "scepctl: --serial belongs to 'issued'\n");
		return -EINVAL;
	}
	if (a->profile != NULL && strcmp(cmd, "issued") != 0 && strcmp(cmd, "challenge") != 0 &&
	    strcmp(cmd, "mobileconfig") != 0) {
		fprintf(stderr, "scepctl: --profile belongs to 'issued', 'challenge new' and "
				"'mobileconfig'\n");
		return -EINVAL;
	}
	if (a->serial != NULL && a->profile != NULL) {
		fprintf(stderr, "scepctl: --serial and --profile exclude each other\n");
		return -EINVAL;
	}
	if ((a->reason != NULL || a->date != NULL || a->txid != NULL) &&
	    strcmp(cmd, "revoke") != 0) {
		fprintf(stderr, "scepctl: --%s belongs to 'revoke'\n",
			a->reason != NULL ? "reason"
			: a->date != NULL ? "date"
					  : "txid");
		return -EINVAL;
	}
	if (a->n_scopes > 0 && strcmp(cmd, "token") != 0) {
		fprintf(stderr, "scepctl: --scope belongs to 'token new'\n");
		return -EINVAL;
	}
	if ((a->challenge != NULL || a->n_sans > 0 || a->keysize != NULL || a->url != NULL ||
	     a->sign_cert != NULL || a->sign_key != NULL) &&
	    strcmp(cmd, "mobileconfig") != 0) {
		fprintf(stderr, "scepctl: --%s belongs to 'mobileconfig'\n",
			a->challenge != NULL   ? "challenge"
			: a->n_sans > 0        ? "san"
			: a->keysize != NULL   ? "keysize"
			: a->url != NULL       ? "url"
			: a->sign_cert != NULL ? "sign-cert"
					       : "sign-key");
		return -EINVAL;
	}
	if ((a->owner != NULL || a->ttl != NULL || a->subject != NULL) &&
	    strcmp(cmd, "challenge") != 0 && strcmp(cmd, "mobileconfig") != 0) {
		fprintf(stderr, "scepctl: --%s belongs to 'challenge new'\n",
			a->owner != NULL ? "owner"
			: a->ttl != NULL ? "ttl"
					 : "subject");
		return -EINVAL;
	}
	return 0;
}

static int
scepctl_run(const struct scepctl_args *a, const struct scepd_config *cfg, struct store *st,
	    long long ttl)
{
	const char *cmd = a->words[0];
	const char *profile;

	if (strcmp(cmd, "pending") == 0)
		return scepctl_pending(st);
	if (strcmp(cmd, "approve") == 0)
		return scepctl_decide(st, a->words[1], STORE_STATUS_APPROVED);
	if (strcmp(cmd, "reject") == 0)
		return scepctl_decide(st, a->words[1], STORE_STATUS_REJECTED);
	if (strcmp(cmd, "issued") == 0)
		return scepctl_issued(st, a->serial, a->profile);
	if (strcmp(cmd, "db") == 0 && strcmp(a->words[1], "prune") == 0)
		return scepctl_db_prune(st, cfg, a->nwords > 2 ? a->words[2] : NULL);
	if (strcmp(cmd, "db") == 0)
		return scepctl_db_migrate(st);
	if (strcmp(cmd, "revoke") == 0)
		return scepctl_revoke(st, a);
	if (strcmp(cmd, "unrevoke") == 0)
		return scepctl_unrevoke(st, a->words[1]);
	if (strcmp(cmd, "revoked") == 0)
		return scepctl_revoked(st);
	if ((profile = scepctl_challenge_profile(cfg, a->profile)) == NULL)
		return -EINVAL;
	return scepctl_challenge_new(st, profile, a, ttl);
}

/* The exit status of a command that failed with r (revoke and unrevoke have their own). */
static int
scepctl_exit_status(const char *cmd, int r)
{
	if (strcmp(cmd, "revoke") != 0 && strcmp(cmd, "unrevoke") != 0)
		return EXIT_FAILURE;
	switch (r) {
	case -ENOENT:
		return SCEPCTL_EXIT_UNKNOWN;
	case -EALREADY:
		return SCEPCTL_EXIT_ALREADY;
	case -ESRCH:
	case -EPERM:
		return SCEPCTL_EXIT_NOT_HELD;
	default:
		return EXIT_FAILURE;
	}
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ "serial", required_argument, NULL, 'S' },
		{ "profile", required_argument, NULL, 'P' },
		{ "owner", required_argument, NULL, 'O' },
		{ "subject", required_argument, NULL, 'U' },
		{ "ttl", required_argument, NULL, 'T' },
		{ "reason", required_argument, NULL, 'R' },
		{ "date", required_argument, NULL, 'D' },
		{ "txid", required_argument, NULL, 'X' },
		{ "scope", required_argument, NULL, 's' },
		{ "challenge", required_argument, NULL, SCEPCTL_OPT_CHALLENGE },
		{ "san", required_argument, NULL, SCEPCTL_OPT_SAN },
		{ "keysize", required_argument, NULL, SCEPCTL_OPT_KEYSIZE },
		{ "url", required_argument, NULL, SCEPCTL_OPT_URL },
		{ "sign-cert", required_argument, NULL, SCEPCTL_OPT_SIGN_CERT },
		{ "sign-key", required_argument, NULL, SCEPCTL_OPT_SIGN_KEY },
		{ NULL, 0, NULL, 0 },
	};
	struct scepctl_args a = { .config = SCEPCTL_DEFAULT_CONFIG };
	struct scepd_config *cfg = NULL;
	struct store *st = NULL;
	long long ttl = SCEPCTL_TTL_DEFAULT;
	int c, r, status = EXIT_FAILURE;

	while ((c = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			a.config = optarg;
			break;
		case 'h':
			scepctl_usage(stdout);
			return EXIT_SUCCESS;
		case 'V':
			printf("scepctl %s\n", SCEPD_VERSION);
			return EXIT_SUCCESS;
		case 'S':
			a.serial = optarg;
			break;
		case 'P':
			a.profile = optarg;
			break;
		case 'O':
			a.owner = optarg;
			break;
		case 'U':
			a.subject = optarg;
			break;
		case 'T':
			a.ttl = optarg;
			break;
		case 'R':
			a.reason = optarg;
			break;
		case 'D':
			a.date = optarg;
			break;
		case 'X':
			a.txid = optarg;
			break;
		case 's':
			if (a.n_scopes == ADMIN_TOKENS_SCOPES_MAX) {
				fprintf(stderr, "scepctl: --scope: at most %d\n",
					ADMIN_TOKENS_SCOPES_MAX);
				return EXIT_FAILURE;
			}
			a.scopes[a.n_scopes++] = optarg;
			break;
		case SCEPCTL_OPT_CHALLENGE:
			a.challenge = optarg;
			break;
		case SCEPCTL_OPT_SAN:
			if (a.n_sans == SCEPCTL_SANS_MAX) {
				fprintf(stderr, "scepctl: --san: at most %d\n", SCEPCTL_SANS_MAX);
				return EXIT_FAILURE;
			}
			a.sans[a.n_sans++] = optarg;
			break;
		case SCEPCTL_OPT_KEYSIZE:
			a.keysize = optarg;
			break;
		case SCEPCTL_OPT_URL:
			a.url = optarg;
			break;
		case SCEPCTL_OPT_SIGN_CERT:
			a.sign_cert = optarg;
			break;
		case SCEPCTL_OPT_SIGN_KEY:
			a.sign_key = optarg;
			break;
		default:
			scepctl_usage(stderr);
			return EXIT_FAILURE;
		}
	}
	a.words = argv + optind;
	a.nwords = argc - optind;
	if (scepctl_check_words(&a) < 0) {
		scepctl_usage(stderr);
		return EXIT_FAILURE;
	}
	if (a.profile != NULL && a.profile[0] == '\0') {
		fprintf(stderr, "scepctl: --profile: the name of a profile, not empty\n");
		return EXIT_FAILURE;
	}
	if (a.owner != NULL && !scepctl_owner_valid(a.owner)) {
		fprintf(stderr, "scepctl: --owner: 1 to %d printable characters\n",
			SCEPCTL_OWNER_MAX);
		return EXIT_FAILURE;
	}
	if (a.subject != NULL && !scepctl_subject_valid(a.subject)) {
		fprintf(stderr, "scepctl: --subject: 1 to %d printable characters, with '='\n",
			SCEPCTL_SUBJECT_MAX);
		return EXIT_FAILURE;
	}
	if (a.ttl != NULL && (r = scepctl_parse_ttl(a.ttl, &ttl)) < 0) {
		fprintf(stderr, "scepctl: --ttl: '%s' is %s\n", a.ttl,
			r == -ERANGE ? "out of range (1s..365d)"
				     : "not a duration (SECONDS, or 30s, 15m, 1h, 7d)");
		return EXIT_FAILURE;
	}

	log_set_program("scepctl");
	if (strcmp(a.words[0], "token") == 0) {
		if (scepctl_load_config(a.config, &cfg) < 0 || scepctl_token_new(cfg, &a) < 0)
			goto out;
		goto flush;
	}
	if (strcmp(a.words[0], "mobileconfig") == 0) {
		if (scepctl_load_config(a.config, &cfg) < 0 ||
		    scepctl_mobileconfig(cfg, &a, ttl) < 0)
			goto out;
		goto flush;
	}
	if (scepctl_load_config(a.config, &cfg) < 0 ||
	    scepctl_open_store(cfg, strcmp(a.words[0], "db") == 0, &st) < 0)
		goto out;
	if ((r = scepctl_run(&a, cfg, st, ttl)) < 0) {
		status = scepctl_exit_status(a.words[0], r);
		goto out;
	}
flush:
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "scepctl: cannot write the output: %s\n", strerror(errno));
		goto out;
	}
	status = EXIT_SUCCESS;
out:
	store_close(st);
	config_free(cfg);
	return status;
}
