/*
 * config_x509.c - the settings that OpenSSL judges: ca.extensions, ca.digest, and the
 * subject and subjectAltName field names of the request and set lists.
 *
 *	config_x509_extension() builds each extension in OpenSSL's test mode (no
 *	issuer, no subject), so only its name and syntax count. config_x509_digest()
 *	takes SHA-2 digests only and says why MD5 and SHA-1 are refused.
 *	config_x509_dn_field() takes any field name OpenSSL knows;
 *	config_x509_san_field() the nine GeneralName types, with a suggestion.
 *
 * Never here: certificates or keys (nothing is signed or loaded), OpenSSL's error
 * queue beyond this load (config_parse() sets a mark and pops to it), logging.
 * Errors are recorded with config_error(); functions return 0 or -ENOMEM.
 */
#include "config_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

/* clang-format off */
static const char *const config_x509_san_fields[] = {
	"otherName",    "rfc822Name",   "dNSName",
	"x400Address",  "directoryName", "ediPartyName",
	"uniformResourceIdentifier", "iPAddress", "registeredID",
	NULL,
};

static const char *const config_x509_digests[] = { "sha256", "sha384", "sha512", NULL };

/* clang-format on */

/* ca.digest: v if it is one of config_x509_digests, in a copy in *ret_digest. */
int
config_x509_digest(struct config_ctx *ctx, const config_setting_t *s, const char *setting,
		   const char *v, char **ret_digest)
{

	if (strcasecmp(v, "md5") == 0)
		return config_error(ctx, s, setting,
				    "'%s' is refused: MD5 is broken; use \"sha256\", \"sha384\" "
				    "or \"sha512\"",
				    v);
	if (strcasecmp(v, "sha1") == 0 || strcasecmp(v, "sha-1") == 0)
		return config_error(ctx, s, setting,
				    "'%s' is refused: SHA-1 collisions are practical; use "
				    "\"sha256\", \"sha384\" or \"sha512\"",
				    v);
	for (size_t i = 0; config_x509_digests[i] != NULL; i++) {
		if (strcmp(v, config_x509_digests[i]) == 0) {
			if ((*ret_digest = strdup(v)) == NULL)
				return -ENOMEM;
			return 0;
		}
	}
	return config_error(ctx, s, setting,
			    "'%s' is not one of \"sha256\", \"sha384\", \"sha512\"", v);
}

/* Element i of ca.extensions: a known extension, once, with a value OpenSSL accepts. */
int
config_x509_extension(struct config_ctx *ctx, const config_setting_t *at, const char *setting,
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

/* A subject field name of a request or set list. */
int
config_x509_dn_field(struct config_ctx *ctx, const config_setting_t *at, const char *setting,
		     const char *field)
{
	if (OBJ_txt2nid(field) == NID_undef)
		return config_error(ctx, at, setting,
				    "'%s' is not a subject field known to OpenSSL", field);
	return 0;
}

/* A subjectAltName type of a request or set list. */
int
config_x509_san_field(struct config_ctx *ctx, const config_setting_t *at, const char *setting,
		      const char *field)
{
	const char *hint;

	for (size_t i = 0; config_x509_san_fields[i] != NULL; i++)
		if (strcmp(field, config_x509_san_fields[i]) == 0)
			return 0;
	if ((hint = config_suggest_word(config_x509_san_fields, field)) != NULL)
		return config_error(ctx, at, setting,
				    "'%s' is not a subjectAltName type, did you mean '%s'?", field,
				    hint);
	return config_error(ctx, at, setting,
			    "'%s' is not a subjectAltName type (otherName, rfc822Name, dNSName, "
			    "x400Address, directoryName, ediPartyName, uniformResourceIdentifier, "
			    "iPAddress, registeredID)",
			    field);
}
