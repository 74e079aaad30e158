/*
 * mobileconfig.c - Apple configuration profiles for SCEP enrolment.
 *
 * SYNOPSIS
 *	#include "scepd/mobileconfig.h"
 *
 *	mobileconfig_parse_subject(text, &name)
 *	mobileconfig_parse_san(arg, &san)
 *	mobileconfig_check_policy(profile, name, sans, n, owner, reason, size)
 *	mobileconfig_write(stdout, &req)
 *	mobileconfig_sign(plist, len, cert, key, extra, &der, &der_len)
 *
 * DESCRIPTION
 *	A profile is an XML property list (Apple's "PropertyList-1.0" DTD) written by a
 *	small writer: dict, array, key, string, integer and data elements, one a line
 *	and indented with tabs as Apple's tools do; text is escaped (&amp; &lt; &gt;
 *	&quot;) and must be UTF-8 without control characters, data is base64.
 *
 *	The profile (PayloadType "Configuration", version 1) holds two payloads, each
 *	with its own PayloadIdentifier and a fresh random PayloadUUID:
 *	com.apple.security.scep (URL, Name, Subject as an array of RDNs, each an array
 *	of [field, value] pairs, Challenge, Keysize, Key Type "RSA", Key Usage 5,
 *	SubjectAltName, Retries 3, RetryDelay 10, CAFingerprint) and
 *	com.apple.security.root with the CA certificate's DER, so that the device trusts
 *	the CA that issues its certificate. CAFingerprint is the SHA-1 of the CA
 *	certificate's DER: the lengths Apple's published SecSCEP.c compares are those of
 *	MD5 and SHA-1.
 *
 *	mobileconfig_check_policy() runs policy_check() on a request made of the subject
 *	and names the profile will ask for, so that scepctl refuses to write a profile
 *	whose request the CA would refuse or cut short.
 *
 *	mobileconfig_sign() makes the CMS SignedData that `security cms -S` makes:
 *	content embedded, the signer's certificate included, SHA-256, signed attributes.
 *
 *	No I/O beyond the FILE * it is given; never logs.
 *
 * DIAGNOSTICS
 *	0, or -EINVAL (bad input: a field, a name, a text XML cannot carry), -EPERM (the
 *	policy refuses), -EIO (a write or a crypto operation failed), -ENOMEM.
 */
#include "scepd/mobileconfig.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rand.h>

#include "scepd/policy.h"

#define MOBILECONFIG_RETRIES     3
#define MOBILECONFIG_RETRY_DELAY 10
#define MOBILECONFIG_KEY_USAGE   5 /* 1 signing | 4 encryption */

/* ---- the plist writer ---- */

static void
mobileconfig_plist_fail(struct mobileconfig_plist *w, int r)
{
	if (w->err == 0)
		w->err = r;
}

static void
mobileconfig_plist_indent(struct mobileconfig_plist *w)
{
	for (int i = 0; i < w->depth; i++)
		fputc('\t', w->f);
}

bool
mobileconfig_text_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		unsigned char c = *p;
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
				return false;
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		for (size_t i = 1; i <= n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		/* Overlong forms, surrogates, beyond U+10FFFF, C1 controls. */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f) || cp == 0xfffe ||
		    cp == 0xffff)
			return false;
		p += n + 1;
	}
	return true;
}

static void
mobileconfig_plist_text(struct mobileconfig_plist *w, const char *tag, const char *s)
{
	if (!mobileconfig_text_valid(s)) {
		mobileconfig_plist_fail(w, -EINVAL);
		return;
	}
	mobileconfig_plist_indent(w);
	fprintf(w->f, "<%s>", tag);
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", w->f);
			break;
		case '<':
			fputs("&lt;", w->f);
			break;
		case '>':
			fputs("&gt;", w->f);
			break;
		case '"':
			fputs("&quot;", w->f);
			break;
		default:
			fputc(*s, w->f);
		}
	}
	fprintf(w->f, "</%s>\n", tag);
}

void
mobileconfig_plist_begin(struct mobileconfig_plist *w, FILE *f)
{
	*w = (struct mobileconfig_plist){ .f = f };
	fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	      "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
	      "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
	      "<plist version=\"1.0\">\n",
	      f);
}

int
mobileconfig_plist_end(struct mobileconfig_plist *w)
{
	fputs("</plist>\n", w->f);
	if (w->depth != 0)
		mobileconfig_plist_fail(w, -EINVAL); /* our bug: an element left open */
	if (fflush(w->f) != 0 || ferror(w->f))
		mobileconfig_plist_fail(w, -EIO);
	return w->err;
}

static void
mobileconfig_plist_open(struct mobileconfig_plist *w, const char *tag)
{
	mobileconfig_plist_indent(w);
	fprintf(w->f, "<%s>\n", tag);
	w->depth++;
}

static void
mobileconfig_plist_close(struct mobileconfig_plist *w, const char *tag)
{
	w->depth--;
	mobileconfig_plist_indent(w);
	fprintf(w->f, "</%s>\n", tag);
}

void
mobileconfig_plist_dict_begin(struct mobileconfig_plist *w)
{
	mobileconfig_plist_open(w, "dict");
}

void
mobileconfig_plist_dict_end(struct mobileconfig_plist *w)
{
	mobileconfig_plist_close(w, "dict");
}

void
mobileconfig_plist_array_begin(struct mobileconfig_plist *w)
{
	mobileconfig_plist_open(w, "array");
}

void
mobileconfig_plist_array_end(struct mobileconfig_plist *w)
{
	mobileconfig_plist_close(w, "array");
}

void
mobileconfig_plist_key(struct mobileconfig_plist *w, const char *s)
{
	mobileconfig_plist_text(w, "key", s);
}

void
mobileconfig_plist_string(struct mobileconfig_plist *w, const char *s)
{
	mobileconfig_plist_text(w, "string", s);
}

void
mobileconfig_plist_integer(struct mobileconfig_plist *w, long long n)
{
	mobileconfig_plist_indent(w);
	fprintf(w->f, "<integer>%lld</integer>\n", n);
}

void
mobileconfig_plist_data(struct mobileconfig_plist *w, const unsigned char *p, size_t len)
{
	unsigned char line[65]; /* 48 bytes -> 64 characters, and the NUL */

	mobileconfig_plist_open(w, "data");
	for (size_t done = 0; done < len; done += 48) {
		size_t n = len - done < 48 ? len - done : 48;

		EVP_EncodeBlock(line, p + done, (int)n);
		mobileconfig_plist_indent(w);
		fprintf(w->f, "%s\n", (const char *)line);
	}
	mobileconfig_plist_close(w, "data");
}

/* Key and string in one call: the pairs of a payload. */
static void
mobileconfig_plist_pair(struct mobileconfig_plist *w, const char *key, const char *value)
{
	mobileconfig_plist_key(w, key);
	mobileconfig_plist_string(w, value);
}

static void
mobileconfig_plist_pair_int(struct mobileconfig_plist *w, const char *key, long long n)
{
	mobileconfig_plist_key(w, key);
	mobileconfig_plist_integer(w, n);
}

int
mobileconfig_uuid(char out[MOBILECONFIG_UUID_LEN + 1])
{
	unsigned char b[16];
	size_t n = 0;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -EIO;
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4: random */
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant RFC 4122 */
	for (size_t i = 0; i < sizeof(b); i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[n++] = '-';
		n += (size_t)snprintf(out + n, MOBILECONFIG_UUID_LEN + 1 - n, "%02X", b[i]);
	}
	return 0;
}

/* ---- what the operator asks for ---- */

static const struct {
	const char *prefix;
	enum mobileconfig_san_type type;
} mobileconfig_san_prefixes[] = {
	{ "dns:", MOBILECONFIG_SAN_DNS },
	{ "email:", MOBILECONFIG_SAN_EMAIL },
	{ "uri:", MOBILECONFIG_SAN_URI },
	{ "upn:", MOBILECONFIG_SAN_UPN },
};

int
mobileconfig_parse_san(const char *arg, struct mobileconfig_san *ret)
{
	for (size_t i = 0;
	     i < sizeof(mobileconfig_san_prefixes) / sizeof(mobileconfig_san_prefixes[0]); i++) {
		size_t len = strlen(mobileconfig_san_prefixes[i].prefix);
		const char *value = arg + len;

		if (strncasecmp(arg, mobileconfig_san_prefixes[i].prefix, len) != 0)
			continue;
		if (*value == '\0')
			return -EINVAL;
		/* What the policy lets through (printable ASCII, no space) and more is useless. */
		for (const char *p = value; *p != '\0'; p++)
			if (*p <= 0x20 || *p >= 0x7f)
				return -EINVAL;
		ret->type = mobileconfig_san_prefixes[i].type;
		ret->value = value;
		return 0;
	}
	return -EINVAL;
}

/* One "FIELD=value" of a subject, unescaped in buf: added as an RDN of its own. */
static int
mobileconfig_subject_field(X509_NAME *name, char *buf)
{
	ASN1_OBJECT *obj = NULL;
	char *eq = strchr(buf, '=');
	int r;

	if (eq == NULL || eq == buf || eq[1] == '\0' || !mobileconfig_text_valid(eq + 1) ||
	    strpbrk(eq + 1, "\t\r\n") != NULL)
		return -EINVAL;
	*eq = '\0';
	if ((obj = OBJ_txt2obj(buf, 0)) == NULL) {
		ERR_clear_error();
		return -EINVAL;
	}
	if (!X509_NAME_add_entry_by_OBJ(name, obj, MBSTRING_UTF8, (unsigned char *)eq + 1, -1, -1,
					0)) {
		ERR_clear_error();
		r = -EINVAL; /* e.g. a C that is not two letters */
		goto out;
	}
	r = 0;
out:
	ASN1_OBJECT_free(obj);
	return r;
}

int
mobileconfig_parse_subject(const char *text, X509_NAME **ret_name)
{
	X509_NAME *name = NULL;
	char *buf = NULL;
	size_t n = 0;
	int r;

	if (text[0] != '/' || text[1] == '\0')
		return -EINVAL;
	if ((name = X509_NAME_new()) == NULL || (buf = malloc(strlen(text) + 1)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (const char *p = text + 1;; p++) {
		if (*p == '\\') {
			if (p[1] != '/' && p[1] != '\\') {
				r = -EINVAL;
				goto out;
			}
			buf[n++] = *++p;
			continue;
		}
		if (*p != '/' && *p != '\0') {
			buf[n++] = *p;
			continue;
		}
		buf[n] = '\0';
		if ((r = mobileconfig_subject_field(name, buf)) < 0)
			goto out;
		n = 0;
		if (*p == '\0')
			break;
	}
	*ret_name = name;
	name = NULL; /* the caller owns it now */
	r = 0;
out:
	free(buf);
	X509_NAME_free(name);
	return r;
}

static int
mobileconfig_general_name(const struct mobileconfig_san *san, GENERAL_NAME **ret)
{
	GENERAL_NAME *gen = NULL;
	ASN1_IA5STRING *ia5 = NULL;
	ASN1_TYPE *value = NULL;
	ASN1_UTF8STRING *utf8 = NULL;
	ASN1_OBJECT *upn = NULL;
	int type, r = -ENOMEM;

	if ((gen = GENERAL_NAME_new()) == NULL)
		goto out;
	if (san->type == MOBILECONFIG_SAN_UPN) {
		if ((upn = OBJ_nid2obj(NID_ms_upn)) == NULL || (value = ASN1_TYPE_new()) == NULL ||
		    (utf8 = ASN1_UTF8STRING_new()) == NULL ||
		    !ASN1_STRING_set(utf8, san->value, -1))
			goto out;
		ASN1_TYPE_set(value, V_ASN1_UTF8STRING, utf8);
		utf8 = NULL;
		if (!GENERAL_NAME_set0_othername(gen, upn, value))
			goto out;
		upn = NULL;
		value = NULL;
	} else {
		type = san->type == MOBILECONFIG_SAN_DNS     ? GEN_DNS
		       : san->type == MOBILECONFIG_SAN_EMAIL ? GEN_EMAIL
							     : GEN_URI;
		if ((ia5 = ASN1_IA5STRING_new()) == NULL || !ASN1_STRING_set(ia5, san->value, -1))
			goto out;
		GENERAL_NAME_set0_value(gen, type, ia5);
		ia5 = NULL;
	}
	*ret = gen;
	gen = NULL; /* the caller owns it now */
	r = 0;
out:
	GENERAL_NAME_free(gen);
	ASN1_IA5STRING_free(ia5);
	ASN1_TYPE_free(value);
	ASN1_UTF8STRING_free(utf8);
	ASN1_OBJECT_free(upn);
	return r;
}

int
mobileconfig_general_names(const struct mobileconfig_san *sans, size_t n, GENERAL_NAMES **ret_names)
{
	GENERAL_NAMES *names = NULL;
	GENERAL_NAME *gen = NULL;
	int r = -ENOMEM;

	if ((names = GENERAL_NAMES_new()) == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if ((r = mobileconfig_general_name(&sans[i], &gen)) < 0)
			goto out;
		if (!sk_GENERAL_NAME_push(names, gen)) {
			r = -ENOMEM;
			goto out;
		}
		gen = NULL;
	}
	*ret_names = names;
	names = NULL; /* the caller owns it now */
	r = 0;
out:
	GENERAL_NAME_free(gen);
	GENERAL_NAMES_free(names);
	return r;
}

/* A field for a message: its short name ("OU"), else its dotted OID. */
static void
mobileconfig_field_text(const ASN1_OBJECT *obj, char *buf, size_t size)
{
	int nid = OBJ_obj2nid(obj);

	if (nid != NID_undef && OBJ_nid2sn(nid) != NULL)
		snprintf(buf, size, "%s", OBJ_nid2sn(nid));
	else
		OBJ_obj2txt(buf, (int)size, obj, 1);
}

/* Whether name has an attribute of entry's type with entry's value. */
static bool
mobileconfig_name_has(const X509_NAME *name, const X509_NAME_ENTRY *entry)
{
	const ASN1_STRING *want = X509_NAME_ENTRY_get_data(entry);

	for (int i = 0; i < X509_NAME_entry_count(name); i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
		const ASN1_STRING *have = X509_NAME_ENTRY_get_data(e);

		if (OBJ_cmp(X509_NAME_ENTRY_get_object(e), X509_NAME_ENTRY_get_object(entry)) ==
			    0 &&
		    ASN1_STRING_length(have) == ASN1_STRING_length(want) &&
		    memcmp(ASN1_STRING_get0_data(have), ASN1_STRING_get0_data(want),
			   (size_t)ASN1_STRING_length(want)) == 0)
			return true;
	}
	return false;
}

static const char *
mobileconfig_san_key(enum mobileconfig_san_type type)
{
	switch (type) {
	case MOBILECONFIG_SAN_DNS:
		return "dNSName";
	case MOBILECONFIG_SAN_EMAIL:
		return "rfc822Name";
	case MOBILECONFIG_SAN_URI:
		return "uniformResourceIdentifier";
	case MOBILECONFIG_SAN_UPN:
		return "ntPrincipalName";
	}
	return "?";
}

/* The request the device will send, as far as the policy reads it. */
static int
mobileconfig_request(const X509_NAME *subject, const GENERAL_NAMES *names, X509_REQ **ret)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_REQ *req = NULL;
	int r = -ENOMEM;

	if ((req = X509_REQ_new()) == NULL)
		goto out;
	if (subject != NULL && !X509_REQ_set_subject_name(req, subject))
		goto out;
	if (sk_GENERAL_NAME_num(names) > 0 &&
	    (X509V3_add1_i2d(&exts, NID_subject_alt_name, (void *)names, 0, X509V3_ADD_DEFAULT) !=
		     1 ||
	     !X509_REQ_add_extensions(req, exts)))
		goto out;
	*ret = req;
	req = NULL; /* the caller owns it now */
	r = 0;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_REQ_free(req);
	return r;
}

int
mobileconfig_check_policy(const struct config_profile *p, const X509_NAME *subject,
			  const struct mobileconfig_san *sans, size_t n_sans,
			  const char *remote_user, char *reason, size_t size)
{
	struct policy_decision d = { 0 };
	GENERAL_NAMES *names = NULL;
	X509_REQ *req = NULL;
	bool found;
	int r;

	if ((r = mobileconfig_general_names(sans, n_sans, &names)) < 0 ||
	    (r = mobileconfig_request(subject, names, &req)) < 0)
		goto out;
	/* 192.0.2.1 (TEST-NET-1) stands for the device's address, unknown here. */
	r = policy_check(
		&p->scep.subject, &p->scep.subject_alt_name, req,
		&(struct policy_vars){ .remote_addr = "192.0.2.1", .remote_user = remote_user },
		&d);
	if (r < 0)
		goto out;
	if (d.verdict == POLICY_DENY) {
		snprintf(reason, size, "the profile's policy refuses the request: %s", d.reason);
		r = -EPERM;
		goto out;
	}
	for (int i = 0; subject != NULL && i < X509_NAME_entry_count(subject); i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(subject, i);
		char field[80];

		if (d.subject != NULL && mobileconfig_name_has(d.subject, e))
			continue;
		mobileconfig_field_text(X509_NAME_ENTRY_get_object(e), field, sizeof(field));
		snprintf(reason, size,
			 "the profile's subject policy drops the subject's %s (subject.request)",
			 field);
		r = -EPERM;
		goto out;
	}
	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		found = false;
		for (int j = 0; d.san != NULL && j < sk_GENERAL_NAME_num(d.san) && !found; j++)
			found = GENERAL_NAME_cmp(sk_GENERAL_NAME_value(names, i),
						 sk_GENERAL_NAME_value(d.san, j)) == 0;
		if (found)
			continue;
		snprintf(reason, size,
			 "the profile's policy drops the subjectAltName %s "
			 "(subject_alt_name.request)",
			 mobileconfig_san_key(sans[i].type));
		r = -EPERM;
		goto out;
	}
	r = 0;
out:
	policy_decision_clear(&d);
	X509_REQ_free(req);
	GENERAL_NAMES_free(names);
	return r;
}

/* ---- the profile ---- */

/* A field of Subject as Apple's examples write it: a short name, else a dotted OID. */
static void
mobileconfig_field_name(const ASN1_OBJECT *obj, char *buf, size_t size)
{
	static const int short_names[] = { NID_commonName,       NID_countryName,
					   NID_localityName,     NID_stateOrProvinceName,
					   NID_organizationName, NID_organizationalUnitName };
	int nid = OBJ_obj2nid(obj);

	for (size_t i = 0; i < sizeof(short_names) / sizeof(short_names[0]); i++) {
		if (nid == short_names[i]) {
			snprintf(buf, size, "%s", OBJ_nid2sn(nid));
			return;
		}
	}
	OBJ_obj2txt(buf, (int)size, obj, 1);
}

/* Subject: an array of RDNs, each an array of [field, value] arrays. */
static int
mobileconfig_write_subject(struct mobileconfig_plist *w, const X509_NAME *name)
{
	int set = -1, r = 0;

	mobileconfig_plist_key(w, "Subject");
	mobileconfig_plist_array_begin(w);
	for (int i = 0; i < X509_NAME_entry_count(name); i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
		unsigned char *utf8 = NULL;
		char field[80];
		int len;

		if ((len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e))) < 0 ||
		    memchr(utf8, '\0', (size_t)len) != NULL) {
			OPENSSL_free(utf8);
			r = -EINVAL;
			break;
		}
		if (X509_NAME_ENTRY_set(e) != set) {
			if (set != -1)
				mobileconfig_plist_array_end(w);
			mobileconfig_plist_array_begin(w);
			set = X509_NAME_ENTRY_set(e);
		}
		mobileconfig_field_name(X509_NAME_ENTRY_get_object(e), field, sizeof(field));
		mobileconfig_plist_array_begin(w);
		mobileconfig_plist_string(w, field);
		mobileconfig_plist_string(w, (const char *)utf8);
		mobileconfig_plist_array_end(w);
		OPENSSL_free(utf8);
	}
	if (set != -1)
		mobileconfig_plist_array_end(w);
	mobileconfig_plist_array_end(w);
	return r;
}

/* SubjectAltName: arrays of strings by type; ntPrincipalName is one string. */
static void
mobileconfig_write_sans(struct mobileconfig_plist *w, const struct mobileconfig_san *sans, size_t n)
{
	static const enum mobileconfig_san_type types[] = { MOBILECONFIG_SAN_DNS,
							    MOBILECONFIG_SAN_EMAIL,
							    MOBILECONFIG_SAN_URI };

	mobileconfig_plist_key(w, "SubjectAltName");
	mobileconfig_plist_dict_begin(w);
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		bool open = false;

		for (size_t i = 0; i < n; i++) {
			if (sans[i].type != types[t])
				continue;
			if (!open) {
				mobileconfig_plist_key(w, mobileconfig_san_key(types[t]));
				mobileconfig_plist_array_begin(w);
				open = true;
			}
			mobileconfig_plist_string(w, sans[i].value);
		}
		if (open)
			mobileconfig_plist_array_end(w);
	}
	for (size_t i = 0; i < n; i++)
		if (sans[i].type == MOBILECONFIG_SAN_UPN)
			mobileconfig_plist_pair(w, "ntPrincipalName", sans[i].value);
	mobileconfig_plist_dict_end(w);
}

/* The identifier of a payload: the profile's and a suffix. */
static int
mobileconfig_payload_id(const char *base, const char *suffix, char **ret)
{
	size_t len = strlen(base) + strlen(suffix) + 2;

	if ((*ret = malloc(len)) == NULL)
		return -ENOMEM;
	snprintf(*ret, len, "%s.%s", base, suffix);
	return 0;
}

/* PayloadIdentifier, PayloadType, PayloadUUID, PayloadVersion of one payload. */
static int
mobileconfig_write_header(struct mobileconfig_plist *w, const char *display, const char *id,
			  const char *type)
{
	char uuid[MOBILECONFIG_UUID_LEN + 1];
	int r;

	if ((r = mobileconfig_uuid(uuid)) < 0)
		return r;
	mobileconfig_plist_pair(w, "PayloadDisplayName", display);
	mobileconfig_plist_pair(w, "PayloadIdentifier", id);
	mobileconfig_plist_pair(w, "PayloadType", type);
	mobileconfig_plist_pair(w, "PayloadUUID", uuid);
	mobileconfig_plist_pair_int(w, "PayloadVersion", 1);
	return 0;
}

static int
mobileconfig_write_scep(struct mobileconfig_plist *w, const struct mobileconfig_req *req)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	char *id = NULL;
	int r;

	if (!X509_digest(req->ca, EVP_sha1(), md, &md_len))
		return -EIO;
	if ((r = mobileconfig_payload_id(req->identifier, "scep", &id)) < 0)
		return r;
	mobileconfig_plist_dict_begin(w);
	mobileconfig_plist_key(w, "PayloadContent");
	mobileconfig_plist_dict_begin(w);
	mobileconfig_plist_pair(w, "URL", req->url);
	if (req->name != NULL)
		mobileconfig_plist_pair(w, "Name", req->name);
	if (req->subject != NULL && (r = mobileconfig_write_subject(w, req->subject)) < 0)
		goto out;
	if (req->challenge != NULL)
		mobileconfig_plist_pair(w, "Challenge", req->challenge);
	mobileconfig_plist_pair_int(w, "Keysize", req->keysize);
	mobileconfig_plist_pair(w, "Key Type", "RSA");
	mobileconfig_plist_pair_int(w, "Key Usage", MOBILECONFIG_KEY_USAGE);
	if (req->n_sans > 0)
		mobileconfig_write_sans(w, req->sans, req->n_sans);
	mobileconfig_plist_pair_int(w, "Retries", MOBILECONFIG_RETRIES);
	mobileconfig_plist_pair_int(w, "RetryDelay", MOBILECONFIG_RETRY_DELAY);
	mobileconfig_plist_key(w, "CAFingerprint");
	mobileconfig_plist_data(w, md, md_len);
	mobileconfig_plist_dict_end(w);
	if ((r = mobileconfig_write_header(w, "SCEP enrolment", id, "com.apple.security.scep")) < 0)
		goto out;
	mobileconfig_plist_dict_end(w);
	r = 0;
out:
	free(id);
	return r;
}

static int
mobileconfig_write_root(struct mobileconfig_plist *w, const struct mobileconfig_req *req)
{
	unsigned char *der = NULL;
	char cn[256], *id = NULL;
	const char *display = "CA certificate";
	int len, r;

	if ((len = i2d_X509(req->ca, &der)) <= 0)
		return -ENOMEM;
	if ((r = mobileconfig_payload_id(req->identifier, "ca", &id)) < 0)
		goto out;
	if (X509_NAME_get_text_by_NID(X509_get_subject_name(req->ca), NID_commonName, cn,
				      sizeof(cn)) > 0 &&
	    mobileconfig_text_valid(cn) && strpbrk(cn, "\t\r\n") == NULL)
		display = cn;
	mobileconfig_plist_dict_begin(w);
	mobileconfig_plist_pair(w, "PayloadCertificateFileName", "ca.cer");
	mobileconfig_plist_key(w, "PayloadContent");
	mobileconfig_plist_data(w, der, (size_t)len);
	if ((r = mobileconfig_write_header(w, display, id, "com.apple.security.root")) < 0)
		goto out;
	mobileconfig_plist_dict_end(w);
	r = 0;
out:
	OPENSSL_free(der);
	free(id);
	return r;
}

int
mobileconfig_write(FILE *out, const struct mobileconfig_req *req)
{
	struct mobileconfig_plist w;
	int r;

	if (req->url == NULL || req->identifier == NULL || req->display_name == NULL ||
	    req->ca == NULL ||
	    (req->keysize != 1024 && req->keysize != 2048 && req->keysize != 4096))
		return -EINVAL;
	mobileconfig_plist_begin(&w, out);
	mobileconfig_plist_dict_begin(&w);
	mobileconfig_plist_key(&w, "PayloadContent");
	mobileconfig_plist_array_begin(&w);
	if ((r = mobileconfig_write_scep(&w, req)) < 0 ||
	    (r = mobileconfig_write_root(&w, req)) < 0)
		return r;
	mobileconfig_plist_array_end(&w);
	if ((r = mobileconfig_write_header(&w, req->display_name, req->identifier,
					   "Configuration")) < 0)
		return r;
	mobileconfig_plist_dict_end(&w);
	return mobileconfig_plist_end(&w);
}

/* ---- the signature ---- */

int
mobileconfig_sign(const unsigned char *data, size_t len, X509 *cert, EVP_PKEY *key,
		  STACK_OF(X509) *extra, unsigned char **ret_der, size_t *ret_len)
{
	const unsigned int flags = CMS_BINARY | CMS_NOSMIMECAP | CMS_PARTIAL;
	CMS_ContentInfo *cms = NULL;
	BIO *in = NULL, *out = NULL;
	unsigned char *der = NULL;
	char *mem;
	long n;
	int r = -EIO;

	if (len > INT32_MAX)
		return -EINVAL;
	if (!X509_check_private_key(cert, key)) {
		ERR_clear_error();
		return -EINVAL;
	}
	if ((in = BIO_new_mem_buf(data, (int)len)) == NULL ||
	    (out = BIO_new(BIO_s_mem())) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if ((cms = CMS_sign(NULL, NULL, NULL, NULL, flags)) == NULL ||
	    CMS_add1_signer(cms, cert, key, EVP_sha256(), flags) == NULL)
		goto out;
	for (int i = 0; i < sk_X509_num(extra); i++)
		if (X509_cmp(sk_X509_value(extra, i), cert) != 0 && /* in once (OpenSSL 3.0) */
		    !CMS_add1_cert(cms, sk_X509_value(extra, i)))
			goto out;
	if (!CMS_final(cms, in, NULL, flags) || !i2d_CMS_bio(out, cms))
		goto out;
	if ((n = BIO_get_mem_data(out, &mem)) <= 0)
		goto out;
	if ((der = malloc((size_t)n)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	memcpy(der, mem, (size_t)n);
	*ret_der = der;
	*ret_len = (size_t)n;
	r = 0;
out:
	if (r < 0)
		ERR_clear_error();
	CMS_ContentInfo_free(cms);
	BIO_free(in);
	BIO_free(out);
	return r;
}
