/*
 * policy.c - what a certificate request may get: a decision, not an error.
 *
 * SYNOPSIS
 *	#include "scepd/policy.h"
 *
 *	policy_check(subject, subject_alt_name, csr, vars, &decision)
 *	policy_check_renewal(subject, subject_alt_name, csr, vars, signer, &decision)
 *	policy_decision_clear(&decision)
 *
 * DESCRIPTION
 *	policy_check() applies the subject and subject_alt_name rules of scep.* or
 *	csr.* to a request, as mod_scep's ScepSubjectRequest/Set and
 *	ScepSubjectAltNameRequest/Set did: only what a `request` rule names is copied.
 *
 *	Subject: the request's subject is walked in its own order and an attribute is
 *	copied when "*" is listed or its field is named (by any name OpenSSL knows:
 *	"CN", "commonName", "2.5.4.3"); multi-valued RDNs stay together. A field named
 *	with a count that appears more often in the request refuses the request, with
 *	or without "*". Then each `set` pair is appended as its own RDN, in order, as
 *	UTF-8 (OpenSSL picks PrintableString where the field demands it).
 *
 *	subjectAltName: the same over the names of the request's extensionRequest
 *	(one subjectAltName extension at most), by type: otherName, rfc822Name,
 *	dNSName, x400Address, directoryName, ediPartyName, uniformResourceIdentifier,
 *	iPAddress, registeredID. `set` adds rfc822Name, dNSName and
 *	uniformResourceIdentifier (printable ASCII, as IA5String), iPAddress (IPv4 or
 *	IPv6 text) and registeredID (a dotted OID or a name OpenSSL knows); the other
 *	types cannot be written as text and refuse the request. A requested
 *	rfc822Name, dNSName or uniformResourceIdentifier that is not printable ASCII
 *	(a control character, a space, a byte above 0x7e) refuses the request. With an
 *	empty subject_alt_name.request the request's names are read only to list them
 *	as dropped: one that cannot be parsed refuses nothing.
 *
 *	Whatever a request asks for and the rules leave out (a subject attribute, a
 *	subjectAltName entry) is listed in decision.dropped, so that the operator and
 *	the client learn of it (policy.h: the format, escaped for a log or a header).
 *
 *	In set values %{REMOTE_ADDR} and %{REMOTE_USER} are replaced from vars; one
 *	that is NULL refuses the request, and so does a value that ends up empty.
 *	A certificate that would have neither a subject nor a subjectAltName is
 *	refused. The CSR's signature is not checked here (signer_verify_csr()).
 *
 *	policy_check_renewal() is policy_check() for a request signed by a certificate
 *	of this CA, which may stand in for a challenge only to renew its own identity:
 *	it allows only a subject equal to the signer's, and subjectAltNames (asked for
 *	and given) that the signer already has.
 *
 *	Knows nothing of HTTP or keys; never logs.
 *
 * DIAGNOSTICS
 *	policy_check() returns 0 and writes the decision: ALLOW with the subject and
 *	the subjectAltName (NULL for none), or DENY with a one-line reason that names
 *	the rule and never quotes the request. It returns -ENOMEM when it could not
 *	decide, and leaves *ret alone then.
 */
#include "scepd/policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/objects.h>

struct policy_san_type {
	const char *name;
	int type;
};

/* clang-format off */
static const struct policy_san_type policy_san_types[] = {
	{ "otherName", GEN_OTHERNAME },
	{ "rfc822Name", GEN_EMAIL },
	{ "dNSName", GEN_DNS },
	{ "x400Address", GEN_X400 },
	{ "directoryName", GEN_DIRNAME },
	{ "ediPartyName", GEN_EDIPARTY },
	{ "uniformResourceIdentifier", GEN_URI },
	{ "iPAddress", GEN_IPADD },
	{ "registeredID", GEN_RID },
};

struct policy_var {
	const char *token;
	const char *name;
};

static const struct policy_var policy_vars_known[] = {
	{ "%{REMOTE_ADDR}", "REMOTE_ADDR" },
	{ "%{REMOTE_USER}", "REMOTE_USER" },
};
/* clang-format on */

void
policy_decision_clear(struct policy_decision *d)
{
	if (d == NULL)
		return;
	X509_NAME_free(d->subject);
	GENERAL_NAMES_free(d->san);
	memset(d, 0, sizeof(*d));
}

static void __attribute__((format(printf, 2, 3)))
policy_deny(struct policy_decision *d, const char *fmt, ...)
{
	va_list ap;

	d->verdict = POLICY_DENY;
	va_start(ap, fmt);
	vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
	va_end(ap);
}

static const char *policy_san_type_name(int type);

/*
 * Appends "what=label" then the bytes of value (NULL: none) to d->dropped, escaped as
 * policy.h says; "; ..." ends it once something did not fit.
 */
static void
policy_drop(struct policy_decision *d, const char *what, const char *label,
	    const unsigned char *value, size_t len)
{
	char item[POLICY_DROPPED_MAX];
	size_t n, used = strlen(d->dropped);
	int k;

	if (used >= 5 && strcmp(d->dropped + used - 5, "; ...") == 0)
		return;
	k = snprintf(item, sizeof(item), "%s%s=%s", used > 0 ? "; " : "", what, label);
	n = k < 0 ? 0 : (size_t)k < sizeof(item) ? (size_t)k : sizeof(item) - 1;
	for (size_t i = 0; value != NULL && i < len && n + 5 < sizeof(item); i++) {
		unsigned char c = value[i];

		if (c < 0x21 || c > 0x7e || c == ';' || c == ',' || c == '\\')
			n += (size_t)snprintf(item + n, sizeof(item) - n, "\\x%02X", c);
		else
			item[n++] = (char)c;
	}
	item[n < sizeof(item) ? n : sizeof(item) - 1] = '\0';
	if (used + n + 1 <= sizeof(d->dropped) - 5)
		memcpy(d->dropped + used, item, n + 1);
	else if (used + 6 <= sizeof(d->dropped))
		memcpy(d->dropped + used, used > 0 ? "; ..." : "...", used > 0 ? 6 : 4);
}

/* A subject attribute the policy did not copy: by its short name, or its OID. */
static void
policy_drop_subject(struct policy_decision *d, const X509_NAME_ENTRY *e)
{
	const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);
	int nid = OBJ_obj2nid(obj);
	char oid[80];

	if (nid != NID_undef && OBJ_nid2sn(nid) != NULL) {
		policy_drop(d, "subject", OBJ_nid2sn(nid), NULL, 0);
		return;
	}
	if (OBJ_obj2txt(oid, sizeof(oid), obj, 1) <= 0)
		snprintf(oid, sizeof(oid), "unknown");
	policy_drop(d, "subject", oid, NULL, 0);
}

/* A subjectAltName the policy did not copy: "DNS:name", "IP:addr", "otherName"... */
static void
policy_drop_san(struct policy_decision *d, const GENERAL_NAME *gen)
{
	const ASN1_OCTET_STRING *ip;
	char label[64], addr[INET6_ADDRSTRLEN];

	switch (gen->type) {
	case GEN_DNS:
	case GEN_EMAIL:
	case GEN_URI:
		snprintf(label, sizeof(label), "%s:",
			 gen->type == GEN_DNS     ? "DNS"
			 : gen->type == GEN_EMAIL ? "email"
						  : "URI");
		policy_drop(d, "subjectAltName", label, ASN1_STRING_get0_data(gen->d.ia5),
			    (size_t)ASN1_STRING_length(gen->d.ia5));
		return;
	case GEN_IPADD:
		ip = gen->d.iPAddress;
		if ((ASN1_STRING_length(ip) == 4 &&
		     inet_ntop(AF_INET, ASN1_STRING_get0_data(ip), addr, sizeof(addr)) != NULL) ||
		    (ASN1_STRING_length(ip) == 16 &&
		     inet_ntop(AF_INET6, ASN1_STRING_get0_data(ip), addr, sizeof(addr)) != NULL)) {
			snprintf(label, sizeof(label), "IP:%s", addr);
			policy_drop(d, "subjectAltName", label, NULL, 0);
			return;
		}
		break;
	}
	policy_drop(d, "subjectAltName", policy_san_type_name(gen->type), NULL, 0);
}

/* After an OpenSSL call failed: was it memory (cannot decide) or the value (refuse)? */
static bool
policy_openssl_oom(void)
{
	return ERR_GET_REASON(ERR_peek_last_error()) == ERR_R_MALLOC_FAILURE;
}

static bool
policy_is_any(const struct config_field_rule *rule)
{
	return strcmp(rule->field, CONFIG_FIELD_ANY) == 0;
}

static int
policy_san_type(const char *name)
{
	for (size_t i = 0; i < sizeof(policy_san_types) / sizeof(policy_san_types[0]); i++)
		if (strcmp(name, policy_san_types[i].name) == 0)
			return policy_san_types[i].type;
	return -1;
}

static const char *
policy_san_type_name(int type)
{
	for (size_t i = 0; i < sizeof(policy_san_types) / sizeof(policy_san_types[0]); i++)
		if (type == policy_san_types[i].type)
			return policy_san_types[i].name;
	return "?";
}

/* What an IA5String name (rfc822Name, dNSName, URI) may hold: printable ASCII, no space. */
static bool
policy_printable(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x21 || p[i] > 0x7e)
			return false;
	return true;
}

/* A field or type key of a rule: a NID for the subject, a GEN_* for subjectAltName. */
static int
policy_rule_key(const struct config_field_rule *rule, bool san)
{
	return san ? policy_san_type(rule->field) : OBJ_txt2nid(rule->field);
}

/* Does a named rule (not "*") ask for key? */
static bool
policy_requested(const struct config_field_rules *rules, bool san, int key)
{
	for (size_t i = 0; i < rules->n; i++)
		if (!policy_is_any(&rules->v[i]) && policy_rule_key(&rules->v[i], san) == key)
			return true;
	return false;
}

static bool
policy_any(const struct config_field_rules *rules)
{
	for (size_t i = 0; i < rules->n; i++)
		if (policy_is_any(&rules->v[i]))
			return true;
	return false;
}

/* The first rule with a count that keys[] (n of them) exceeds refuses the request. */
static void
policy_check_counts(const struct config_field_rules *rules, bool san, const int *keys, int n,
		    struct policy_decision *d)
{
	for (size_t i = 0; i < rules->n; i++) {
		const struct config_field_rule *rule = &rules->v[i];
		int key, seen = 0;

		if (policy_is_any(rule) || rule->count == CONFIG_COUNT_UNLIMITED)
			continue;
		if ((key = policy_rule_key(rule, san)) == (san ? -1 : NID_undef))
			continue;
		for (int j = 0; j < n; j++)
			if (keys[j] == key)
				seen++;
		if (seen > rule->count) {
			policy_deny(d, "%s %s appears %d times, at most %d allowed",
				    san ? "subjectAltName" : "subject field", rule->field, seen,
				    rule->count);
			return;
		}
	}
}

static const char *
policy_var_value(const struct policy_vars *vars, const struct policy_var *var)
{
	if (vars == NULL)
		return NULL;
	return var == &policy_vars_known[0] ? vars->remote_addr : vars->remote_user;
}

/*
 * tmpl with its variables replaced. Returns 0 with *ret (to free), or 0 with
 * *ret_missing naming a variable that is not set, or -ENOMEM.
 */
static int
policy_expand(const char *tmpl, const struct policy_vars *vars, char **ret,
	      const char **ret_missing)
{
	const char *p = tmpl;
	char *buf = NULL;
	size_t size = 0;
	FILE *f;

	if ((f = open_memstream(&buf, &size)) == NULL)
		return -ENOMEM;
	while (*p != '\0') {
		const struct policy_var *var = NULL;
		const char *value;

		for (size_t i = 0; i < sizeof(policy_vars_known) / sizeof(policy_vars_known[0]);
		     i++)
			if (strncmp(p, policy_vars_known[i].token,
				    strlen(policy_vars_known[i].token)) == 0)
				var = &policy_vars_known[i];
		if (var == NULL) {
			fputc(*p++, f);
			continue;
		}
		value = policy_var_value(vars, var);
		if (value == NULL) {
			fclose(f);
			free(buf);
			*ret_missing = var->name;
			return 0;
		}
		fputs(value, f);
		p += strlen(var->token);
	}
	if (fclose(f) != 0) {
		free(buf);
		return -ENOMEM;
	}
	*ret = buf;
	return 0;
}

/* A set value, expanded; NULL in *ret with d refused. */
static int
policy_set_value(const struct config_pair *pair, const char *what, const struct policy_vars *vars,
		 char **ret, struct policy_decision *d)
{
	const char *missing = NULL;
	char *value = NULL;
	int r;

	if ((r = policy_expand(pair->value != NULL ? pair->value : "", vars, &value, &missing)) < 0)
		return r;
	if (missing != NULL)
		policy_deny(d, "no %s for %s set %s", missing, what, pair->name);
	else if (value[0] == '\0')
		policy_deny(d, "%s set %s is empty", what, pair->name);
	if (d->verdict == POLICY_DENY) {
		free(value);
		value = NULL;
	}
	*ret = value;
	return 0;
}

static int
policy_subject(const struct config_name_policy *pol, X509_REQ *csr, const struct policy_vars *vars,
	       X509_NAME **ret, struct policy_decision *d)
{
	const X509_NAME *src = X509_REQ_get_subject_name(csr);
	int n = X509_NAME_entry_count(src), last_set = -1, *nids = NULL, r;
	bool any = policy_any(&pol->request);
	X509_NAME *name = NULL;
	char *value = NULL;

	if ((name = X509_NAME_new()) == NULL ||
	    (nids = calloc((size_t)n + 1, sizeof(*nids))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++)
		nids[i] = OBJ_obj2nid(X509_NAME_ENTRY_get_object(X509_NAME_get_entry(src, i)));
	policy_check_counts(&pol->request, false, nids, n, d);
	if (d->verdict == POLICY_DENY) {
		r = 0;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(src, i);
		int set;

		if (!any &&
		    (nids[i] == NID_undef || !policy_requested(&pol->request, false, nids[i]))) {
			policy_drop_subject(d, e);
			continue;
		}
		/* -1 joins the RDN of the entry copied before: "CN=a+UID=b" stays one RDN. */
		set = last_set >= 0 && X509_NAME_ENTRY_set(e) == last_set ? -1 : 0;
		if (!X509_NAME_add_entry(name, e, -1, set)) {
			r = -ENOMEM;
			goto out;
		}
		last_set = X509_NAME_ENTRY_set(e);
	}
	for (size_t i = 0; i < pol->set.n; i++) {
		const struct config_pair *pair = &pol->set.v[i];

		if ((r = policy_set_value(pair, "subject", vars, &value, d)) < 0)
			goto out;
		if (value == NULL) {
			r = 0;
			goto out;
		}
		if (!X509_NAME_add_entry_by_txt(name, pair->name, MBSTRING_UTF8,
						(const unsigned char *)value, -1, -1, 0)) {
			if (policy_openssl_oom()) {
				r = -ENOMEM;
				goto out;
			}
			policy_deny(d, "subject set %s: the value is not valid for this field",
				    pair->name);
			r = 0;
			goto out;
		}
		free(value);
		value = NULL;
	}
	*ret = name;
	name = NULL;
	r = 0;
out:
	free(value);
	free(nids);
	X509_NAME_free(name);
	return r;
}

/* A name of type from text; NULL in *ret with d refused. */
static int
policy_san_make(const struct config_pair *pair, int type, const char *value, GENERAL_NAME **ret,
		struct policy_decision *d)
{
	GENERAL_NAME *gen = NULL;
	ASN1_IA5STRING *ia5 = NULL;
	ASN1_OCTET_STRING *ip = NULL;
	ASN1_OBJECT *oid = NULL;
	int r;

	if ((gen = GENERAL_NAME_new()) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	switch (type) {
	case GEN_EMAIL:
	case GEN_DNS:
	case GEN_URI:
		if (!policy_printable((const unsigned char *)value, strlen(value))) {
			policy_deny(d, "subjectAltName set %s: not printable ASCII", pair->name);
			r = 0;
			goto out;
		}
		if ((ia5 = ASN1_IA5STRING_new()) == NULL || !ASN1_STRING_set(ia5, value, -1)) {
			r = -ENOMEM;
			goto out;
		}
		GENERAL_NAME_set0_value(gen, type, ia5);
		ia5 = NULL;
		break;
	case GEN_IPADD:
		if ((ip = a2i_IPADDRESS(value)) == NULL) {
			if (policy_openssl_oom()) {
				r = -ENOMEM;
				goto out;
			}
			policy_deny(d, "subjectAltName set %s: not an IP address", pair->name);
			r = 0;
			goto out;
		}
		GENERAL_NAME_set0_value(gen, type, ip);
		ip = NULL;
		break;
	case GEN_RID:
		if ((oid = OBJ_txt2obj(value, 0)) == NULL) {
			if (policy_openssl_oom()) {
				r = -ENOMEM;
				goto out;
			}
			policy_deny(d, "subjectAltName set %s: not an object identifier",
				    pair->name);
			r = 0;
			goto out;
		}
		GENERAL_NAME_set0_value(gen, type, oid);
		oid = NULL;
		break;
	default:
		policy_deny(d, "cannot set %s from text", pair->name);
		r = 0;
		goto out;
	}
	*ret = gen;
	gen = NULL;
	r = 0;
out:
	ASN1_IA5STRING_free(ia5);
	ASN1_OCTET_STRING_free(ip);
	ASN1_OBJECT_free(oid);
	GENERAL_NAME_free(gen);
	return r;
}

/* The subjectAltName of the request: NULL in *ret for none, or d refused. */
static int
policy_san_request(X509_REQ *csr, GENERAL_NAMES **ret, struct policy_decision *d)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *names = NULL;
	int crit, r;

	if ((exts = X509_REQ_get_extensions(csr)) == NULL) {
		if (policy_openssl_oom()) {
			r = -ENOMEM;
			goto out;
		}
		policy_deny(d, "the request's extensions cannot be parsed");
		r = 0;
		goto out;
	}
	names = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
	if (names == NULL && crit == -2) {
		policy_deny(d, "the request has more than one subjectAltName extension");
	} else if (names == NULL && crit >= 0) {
		if (policy_openssl_oom()) {
			r = -ENOMEM;
			goto out;
		}
		policy_deny(d, "the request's subjectAltName cannot be parsed");
	}
	*ret = names;
	r = 0;
out:
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return r;
}

static int
policy_san(const struct config_name_policy *pol, X509_REQ *csr, const struct policy_vars *vars,
	   GENERAL_NAMES **ret, struct policy_decision *d)
{
	GENERAL_NAMES *src = NULL, *out = NULL;
	GENERAL_NAME *gen = NULL;
	bool any = policy_any(&pol->request);
	char *value = NULL;
	int n = 0, *types = NULL, r;

	if ((out = GENERAL_NAMES_new()) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (pol->request.n > 0) {
		if ((r = policy_san_request(csr, &src, d)) < 0)
			goto out;
		if (d->verdict == POLICY_DENY) {
			r = 0;
			goto out;
		}
		n = src != NULL ? sk_GENERAL_NAME_num(src) : 0;
	} else {
		/*
		 * Nothing is copied: the names are read only to say what was left out, and
		 * one that cannot be read refuses nothing (it would not be used anyway).
		 */
		struct policy_decision probe = { .verdict = POLICY_ALLOW };

		if ((r = policy_san_request(csr, &src, &probe)) < 0)
			goto out;
		ERR_clear_error();
		if (probe.verdict == POLICY_DENY)
			policy_drop(d, "subjectAltName", "unreadable", NULL, 0);
		for (int i = 0; i < (src != NULL ? sk_GENERAL_NAME_num(src) : 0); i++)
			policy_drop_san(d, sk_GENERAL_NAME_value(src, i));
	}
	if ((types = calloc((size_t)n + 1, sizeof(*types))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (int i = 0; i < n; i++)
		types[i] = sk_GENERAL_NAME_value(src, i)->type;
	policy_check_counts(&pol->request, true, types, n, d);
	if (d->verdict == POLICY_DENY) {
		r = 0;
		goto out;
	}
	for (int i = 0; i < n; i++) {
		const GENERAL_NAME *name = sk_GENERAL_NAME_value(src, i);

		if (!any && !policy_requested(&pol->request, true, types[i])) {
			policy_drop_san(d, name);
			continue;
		}
		/* A control character in a name would reach logs and relying parties. */
		if ((types[i] == GEN_EMAIL || types[i] == GEN_DNS || types[i] == GEN_URI) &&
		    !policy_printable(ASN1_STRING_get0_data(name->d.ia5),
				      (size_t)ASN1_STRING_length(name->d.ia5))) {
			policy_deny(d, "subjectAltName %s of the request: not printable ASCII",
				    policy_san_type_name(types[i]));
			r = 0;
			goto out;
		}
		if ((gen = GENERAL_NAME_dup(name)) == NULL || !sk_GENERAL_NAME_push(out, gen)) {
			r = -ENOMEM;
			goto out;
		}
		gen = NULL;
	}
	for (size_t i = 0; i < pol->set.n; i++) {
		const struct config_pair *pair = &pol->set.v[i];

		if ((r = policy_set_value(pair, "subjectAltName", vars, &value, d)) < 0)
			goto out;
		if (value == NULL) {
			r = 0;
			goto out;
		}
		if ((r = policy_san_make(pair, policy_san_type(pair->name), value, &gen, d)) < 0)
			goto out;
		if (d->verdict == POLICY_DENY) {
			r = 0;
			goto out;
		}
		if (!sk_GENERAL_NAME_push(out, gen)) {
			r = -ENOMEM;
			goto out;
		}
		gen = NULL;
		free(value);
		value = NULL;
	}
	if (sk_GENERAL_NAME_num(out) == 0) {
		GENERAL_NAMES_free(out);
		out = NULL;
	}
	*ret = out;
	out = NULL;
	r = 0;
out:
	free(value);
	free(types);
	GENERAL_NAME_free(gen);
	GENERAL_NAMES_free(src);
	GENERAL_NAMES_free(out);
	return r;
}

int
policy_check(const struct config_name_policy *subject,
	     const struct config_name_policy *subject_alt_name, X509_REQ *csr,
	     const struct policy_vars *vars, struct policy_decision *ret)
{
	static const struct config_name_policy none = { { NULL, 0 }, { NULL, 0 } };
	struct policy_decision d = { .verdict = POLICY_ALLOW };
	int r;

	if (csr == NULL || ret == NULL) {
		r = -EINVAL;
		goto out;
	}
	r = policy_subject(subject != NULL ? subject : &none, csr, vars, &d.subject, &d);
	if (r == 0 && d.verdict != POLICY_DENY)
		r = policy_san(subject_alt_name != NULL ? subject_alt_name : &none, csr, vars,
			       &d.san, &d);
	if (r == 0 && d.verdict != POLICY_DENY && X509_NAME_entry_count(d.subject) == 0 &&
	    d.san == NULL)
		policy_deny(&d,
			    "the certificate would have an empty subject and no subjectAltName");
out:
	if (r < 0) {
		policy_decision_clear(&d);
		return r;
	}
	if (d.verdict == POLICY_DENY) {
		X509_NAME_free(d.subject);
		GENERAL_NAMES_free(d.san);
		d.subject = NULL;
		d.san = NULL;
	}
	*ret = d;
	return 0;
}

/* Whether every name of names is also one of within (NULL: no names). */
static bool
policy_names_within(const GENERAL_NAMES *names, const GENERAL_NAMES *within)
{
	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		GENERAL_NAME *n = sk_GENERAL_NAME_value(names, i);
		bool found = false;

		for (int j = 0; !found && j < sk_GENERAL_NAME_num(within); j++)
			found = GENERAL_NAME_cmp(n, sk_GENERAL_NAME_value(within, j)) == 0;
		if (!found)
			return false;
	}
	return true;
}

int
policy_check_renewal(const struct config_name_policy *subject,
		     const struct config_name_policy *subject_alt_name, X509_REQ *csr,
		     const struct policy_vars *vars, X509 *signer, struct policy_decision *ret)
{
	struct policy_decision d = { 0 };
	GENERAL_NAMES *requested = NULL, *held = NULL;
	int r;

	if (signer == NULL) {
		r = -EINVAL;
		goto out;
	}
	if ((r = policy_check(subject, subject_alt_name, csr, vars, &d)) < 0 ||
	    d.verdict != POLICY_ALLOW)
		goto out;
	held = X509_get_ext_d2i(signer, NID_subject_alt_name, NULL, NULL);
	if (X509_NAME_cmp(d.subject, X509_get_subject_name(signer)) != 0) {
		policy_deny(&d, "the new subject is not the signer certificate's");
	} else if ((r = policy_san_request(csr, &requested, &d)) < 0) {
		goto out;
	} else if (d.verdict == POLICY_ALLOW &&
		   (!policy_names_within(requested, held) || !policy_names_within(d.san, held))) {
		policy_deny(&d, "a requested subjectAltName is not in the signer certificate");
	}
out:
	GENERAL_NAMES_free(requested);
	GENERAL_NAMES_free(held);
	if (r < 0) {
		policy_decision_clear(&d);
		return r;
	}
	if (d.verdict == POLICY_DENY) {
		X509_NAME_free(d.subject);
		GENERAL_NAMES_free(d.san);
		d.subject = NULL;
		d.san = NULL;
	}
	*ret = d;
	return 0;
}

/* Key policy */

int
policy_check_key(const struct config_key_policy *keys, X509_REQ *csr, char *reason, size_t size)
{
	EVP_PKEY *pub = X509_REQ_get0_pubkey(csr);
	char curve[64] = "";
	size_t len = 0;
	int nid;

	if (pub == NULL)
		return -EBADMSG;
	switch (EVP_PKEY_get_base_id(pub)) {
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(pub) >= keys->rsa_min_bits)
			return 0;
		snprintf(reason, size, "an RSA key of %d bits: keys.rsa_min_bits is %d",
			 EVP_PKEY_get_bits(pub), keys->rsa_min_bits);
		return -EPERM;
	case EVP_PKEY_EC:
		if (!EVP_PKEY_get_utf8_string_param(pub, OSSL_PKEY_PARAM_GROUP_NAME, curve,
						    sizeof(curve), &len))
			curve[0] = '\0';
		nid = OBJ_txt2nid(curve);
		for (size_t i = 0; nid != NID_undef && i < keys->n_ec_curves; i++)
			if (keys->ec_curves[i] == nid)
				return 0;
		snprintf(reason, size, "an EC key on curve %s: not in keys.ec_curves",
			 curve[0] != '\0' ? curve : "(unnamed)");
		return -EPERM;
	default:
		snprintf(reason, size, "a key of type %s: keys allows RSA and EC keys only",
			 OBJ_nid2sn(EVP_PKEY_get_base_id(pub)));
		return -EPERM;
	}
}
