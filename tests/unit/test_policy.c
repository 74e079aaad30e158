/*
 * test_policy.c - policy_check(): subject and subjectAltName request/set rules.
 *
 * One table: rules in a compact form, a request made here (subject as
 * "/C=DE/O=Acme/CN=a+UID=b", subjectAltName in OpenSSL's "DNS:a,IP:192.0.2.1"
 * syntax), the variables, and the decision expected (reasons compared exactly).
 */
#include "scepd/policy.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/err.h>

#include "testlib.h"

static EVP_PKEY *test_key;

/* "CN:1,O,*" -> request rules; NULL -> none. */
static void
test_rules(struct config_field_rules *rules, const char *spec)
{
	char *copy, *tok, *save = NULL;

	memset(rules, 0, sizeof(*rules));
	if (spec == NULL)
		return;
	assert_non_null(copy = strdup(spec));
	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		struct config_field_rule *rule;
		char *colon = strchr(tok, ':');

		assert_non_null(rules->v = realloc(rules->v, (rules->n + 1) * sizeof(*rules->v)));
		rule = &rules->v[rules->n++];
		rule->count = CONFIG_COUNT_UNLIMITED;
		if (colon != NULL) {
			*colon = '\0';
			rule->count = atoi(colon + 1);
		}
		assert_non_null(rule->field = strdup(tok));
	}
	free(copy);
}

/* "OU=Terms and Conditions Apply|CN=%{REMOTE_USER}" -> set pairs. */
static void
test_pairs(struct config_pairs *pairs, const char *spec)
{
	char *copy, *tok, *save = NULL;

	memset(pairs, 0, sizeof(*pairs));
	if (spec == NULL)
		return;
	assert_non_null(copy = strdup(spec));
	for (tok = strtok_r(copy, "|", &save); tok != NULL; tok = strtok_r(NULL, "|", &save)) {
		struct config_pair *pair;
		char *eq = strchr(tok, '=');

		assert_non_null(eq);
		*eq = '\0';
		assert_non_null(pairs->v = realloc(pairs->v, (pairs->n + 1) * sizeof(*pairs->v)));
		pair = &pairs->v[pairs->n++];
		assert_non_null(pair->name = strdup(tok));
		assert_non_null(pair->value = strdup(eq + 1));
		pair->line = 1;
	}
	free(copy);
}

static void
test_policy_free(struct config_name_policy *pol)
{
	for (size_t i = 0; i < pol->request.n; i++)
		free(pol->request.v[i].field);
	free(pol->request.v);
	for (size_t i = 0; i < pol->set.n; i++) {
		free(pol->set.v[i].name);
		free(pol->set.v[i].value);
	}
	free(pol->set.v);
	memset(pol, 0, sizeof(*pol));
}

/* X509_NAME -> "/C=DE/O=Acme/CN=a+UID=b". */
static void
test_name_format(const X509_NAME *name, char *buf, size_t size)
{
	int last = -1;

	buf[0] = '\0';
	for (int i = 0; i < X509_NAME_entry_count(name); i++) {
		const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
		const ASN1_STRING *data = X509_NAME_ENTRY_get_data(e);
		size_t len = strlen(buf);
		char field[80];

		const ASN1_OBJECT *obj = X509_NAME_ENTRY_get_object(e);

		if (OBJ_obj2nid(obj) != NID_undef)
			snprintf(field, sizeof(field), "%s", OBJ_nid2sn(OBJ_obj2nid(obj)));
		else
			OBJ_obj2txt(field, sizeof(field), obj, 1);
		snprintf(buf + len, size - len, "%s%s=%.*s",
			 X509_NAME_ENTRY_set(e) == last ? "+" : "/", field,
			 ASN1_STRING_length(data), (const char *)ASN1_STRING_get0_data(data));
		last = X509_NAME_ENTRY_set(e);
	}
}

/* GENERAL_NAMES -> "DNS:a, IP Address:192.0.2.1" (GENERAL_NAME_print), NULL -> "". */
static void
test_san_format(const GENERAL_NAMES *san, char *buf, size_t size)
{
	BIO *bio;
	char *data;
	long len;

	assert_non_null(bio = BIO_new(BIO_s_mem()));
	for (int i = 0; san != NULL && i < sk_GENERAL_NAME_num(san); i++) {
		if (i > 0)
			BIO_puts(bio, ", ");
		GENERAL_NAME_print(bio, sk_GENERAL_NAME_value(san, i));
	}
	len = BIO_get_mem_data(bio, &data);
	snprintf(buf, size, "%.*s", (int)len, data);
	BIO_free(bio);
}

struct policy_case {
	const char *what;
	const char *subject_request, *subject_set; /* test_rules(), test_pairs() */
	const char *san_request, *san_set;
	const char *csr_subject, *csr_san;
	const char *remote_addr, *remote_user;
	enum policy_verdict verdict;
	const char *reason;        /* DENY */
	const char *subject, *san; /* ALLOW; san "" = none */
};

#define ADDR  "192.0.2.7"
#define EMPTY "the certificate would have an empty subject and no subjectAltName"

/* clang-format off */
static const struct policy_case cases[] = {
	/* subject: "*" */
	{ "star copies the subject as is", "*", NULL, NULL, NULL,
	  "/C=DE/O=Acme/OU=a/OU=b/CN=host", NULL, ADDR, NULL,
	  POLICY_ALLOW, NULL, "/C=DE/O=Acme/OU=a/OU=b/CN=host", "" },
	{ "star keeps multi-valued RDNs", "*", NULL, NULL, NULL,
	  "/O=Acme/CN=host+UID=u1", NULL, ADDR, NULL,
	  POLICY_ALLOW, NULL, "/O=Acme/CN=host+UID=u1", "" },
	{ "star keeps fields OpenSSL does not know", "*", NULL, NULL, NULL,
	  "/1.3.6.1.4.1.99999.1=x/CN=host", NULL, ADDR, NULL,
	  POLICY_ALLOW, NULL, "/1.3.6.1.4.1.99999.1=x/CN=host", "" },
	/* subject: named fields */
	{ "named fields, in the request's order", "CN,O", NULL, NULL, NULL,
	  "/C=DE/O=Acme/CN=host", NULL, ADDR, NULL,
	  POLICY_ALLOW, NULL, "/O=Acme/CN=host", "" },
	{ "fields not requested are dropped", "CN", NULL, NULL, NULL,
	  "/O=Acme/CN=host/emailAddress=x@example.com", NULL, ADDR, NULL,
	  POLICY_ALLOW, NULL, "/CN=host", "" },
	{ "long names and OIDs name fields too", "commonName,2.5.4.10", NULL, NULL, NULL,
	  "/C=DE/O=Acme/CN=host", NULL, ADDR, NULL,
	  POLICY_ALLOW, NULL, "/O=Acme/CN=host", "" },
	{ "part of a multi-valued RDN", "CN,O", NULL, NULL, NULL,
	  "/O=Acme/CN=host+UID=u1+OU=x", NULL, ADDR, NULL,
	  POLICY_ALLOW, NULL, "/O=Acme/CN=host", "" },
	{ "emailAddress and serialNumber", "emailAddress,serialNumber", NULL, NULL, NULL,
	  "/CN=host/serialNumber=42/emailAddress=x@example.com", NULL, ADDR, NULL,
	  POLICY_ALLOW, NULL, "/serialNumber=42/emailAddress=x@example.com", "" },
	/* subject: counts */
	{ "count reached", "CN:1,OU:2", NULL, NULL, NULL,
	  "/OU=a/OU=b/CN=host", NULL, ADDR, NULL,
	  POLICY_ALLOW, NULL, "/OU=a/OU=b/CN=host", "" },
	{ "count exceeded", "CN:1", NULL, NULL, NULL,
	  "/CN=a/CN=b", NULL, ADDR, NULL,
	  POLICY_DENY, "subject field CN appears 2 times, at most 1 allowed", NULL, NULL },
	{ "count exceeded with star", "*,OU:2", NULL, NULL, NULL,
	  "/OU=a/OU=b/OU=c/CN=host", NULL, ADDR, NULL,
	  POLICY_DENY, "subject field OU appears 3 times, at most 2 allowed", NULL, NULL },
	{ "count under the name of the rule", "commonName:1", NULL, NULL, NULL,
	  "/CN=a/CN=b", NULL, ADDR, NULL,
	  POLICY_DENY, "subject field commonName appears 2 times, at most 1 allowed", NULL, NULL },
	{ "count of a field not present", "CN:1,O:1", NULL, NULL, NULL,
	  "/CN=a", NULL, ADDR, NULL,
	  POLICY_ALLOW, NULL, "/CN=a", "" },
	/* subject: set */
	{ "set appends, both variables", "CN",
	  "OU=Terms and Conditions Apply|L=%{REMOTE_ADDR}|UID=%{REMOTE_USER}@%{REMOTE_ADDR}",
	  NULL, NULL,
	  "/CN=host", NULL, ADDR, "alice",
	  POLICY_ALLOW, NULL,
	  "/CN=host/OU=Terms and Conditions Apply/L=" ADDR "/UID=alice@" ADDR, "" },
	{ "set alone (mod_scep's logged-in example)", NULL,
	  "CN=%{REMOTE_USER}|OU=Terms and Conditions Apply",
	  NULL, NULL,
	  "/CN=whatever/O=Evil", NULL, ADDR, "bob",
	  POLICY_ALLOW, NULL, "/CN=bob/OU=Terms and Conditions Apply", "" },
	{ "set after star", "*", "OU=fixed", NULL, NULL,
	  "/O=Acme/CN=host", NULL, ADDR, NULL,
	  POLICY_ALLOW, NULL, "/O=Acme/CN=host/OU=fixed", "" },
	{ "set is UTF-8", NULL, "CN=J\xc3\xbcrgen %{REMOTE_USER}", NULL, NULL,
	  "", NULL, ADDR, "M\xc3\xbcller",
	  POLICY_ALLOW, NULL, "/CN=J\xc3\xbcrgen M\xc3\xbcller", "" },
	{ "set without REMOTE_USER", "CN", "OU=%{REMOTE_USER}", NULL, NULL,
	  "/CN=host", NULL, ADDR, NULL,
	  POLICY_DENY, "no REMOTE_USER for subject set OU", NULL, NULL },
	{ "set without REMOTE_ADDR", "CN", "L=at %{REMOTE_ADDR}", NULL, NULL,
	  "/CN=host", NULL, NULL, "alice",
	  POLICY_DENY, "no REMOTE_ADDR for subject set L", NULL, NULL },
	{ "set empty after expansion", "CN", "OU=%{REMOTE_USER}", NULL, NULL,
	  "/CN=host", NULL, ADDR, "",
	  POLICY_DENY, "subject set OU is empty", NULL, NULL },
	{ "set value the field refuses", "CN", "C=Germany", NULL, NULL,
	  "/CN=host", NULL, ADDR, NULL,
	  POLICY_DENY, "subject set C: the value is not valid for this field", NULL, NULL },
	{ "a literal %{ stays", NULL, "CN=50%{x} %{REMOTE_USER", NULL, NULL,
	  "", NULL, ADDR, NULL,
	  POLICY_ALLOW, NULL, "/CN=50%{x} %{REMOTE_USER", "" },
	/* subjectAltName: request */
	{ "SAN not requested is dropped", "*", NULL, NULL, NULL,
	  "/CN=host", "DNS:host.example", ADDR, NULL,
	  POLICY_ALLOW, NULL, "/CN=host", "" },
	{ "SAN dNSName requested", "*", NULL, "dNSName", NULL,
	  "/CN=host", "DNS:a.example,IP:192.0.2.1,DNS:b.example,email:x@example.com", ADDR, NULL,
	  POLICY_ALLOW, NULL, "/CN=host", "DNS:a.example, DNS:b.example" },
	{ "SAN star copies all", "*", NULL, "*", NULL,
	  "/CN=host", "DNS:a.example,IP:192.0.2.1,email:x@example.com,RID:1.2.3.4", ADDR, NULL,
	  POLICY_ALLOW, NULL, "/CN=host",
	  "DNS:a.example, IP Address:192.0.2.1, email:x@example.com, Registered ID:1.2.3.4" },
	{ "SAN iPAddress, rfc822Name, URI", "*", NULL,
	  "iPAddress,rfc822Name,uniformResourceIdentifier", NULL,
	  "/CN=host",
	  "DNS:a,IP:192.0.2.1,IP:2001:db8::1,email:x@example.com,URI:https://example.com/x",
	  ADDR, NULL,
	  POLICY_ALLOW, NULL, "/CN=host",
	  "IP Address:192.0.2.1, IP Address:2001:DB8:0:0:0:0:0:1, email:x@example.com, "
	  "URI:https://example.com/x" },
	{ "SAN otherName", "*", NULL, "otherName", NULL,
	  "/CN=host", "DNS:a,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:user@example.com", ADDR, NULL,
	  POLICY_ALLOW, NULL, "/CN=host", "othername:UPN:user@example.com" },
	{ "SAN count reached", "*", NULL, "dNSName:2,iPAddress:1", NULL,
	  "/CN=host", "DNS:a,DNS:b,IP:192.0.2.1", ADDR, NULL,
	  POLICY_ALLOW, NULL, "/CN=host", "DNS:a, DNS:b, IP Address:192.0.2.1" },
	{ "SAN count exceeded", "*", NULL, "dNSName:1", NULL,
	  "/CN=host", "DNS:a,DNS:b", ADDR, NULL,
	  POLICY_DENY, "subjectAltName dNSName appears 2 times, at most 1 allowed", NULL, NULL },
	{ "SAN count exceeded with star", "*", NULL, "*,iPAddress:1", NULL,
	  "/CN=host", "IP:192.0.2.1,IP:192.0.2.2", ADDR, NULL,
	  POLICY_DENY, "subjectAltName iPAddress appears 2 times, at most 1 allowed", NULL, NULL },
	{ "SAN requested, request has none", "*", NULL, "dNSName", NULL,
	  "/CN=host", NULL, ADDR, NULL,
	  POLICY_ALLOW, NULL, "/CN=host", "" },
	{ "SAN requested dNSName with a newline", "*", NULL, "*", NULL,
	  "/CN=host", "DNS:ok.example,DNS:host\nscepd[1] supervisor: info: forged", ADDR, NULL,
	  POLICY_DENY, "subjectAltName dNSName of the request: not printable ASCII", NULL, NULL },
	{ "SAN requested rfc822Name with a space", "*", NULL, "rfc822Name", NULL,
	  "/CN=host", "email:a b@example.com", ADDR, NULL,
	  POLICY_DENY, "subjectAltName rfc822Name of the request: not printable ASCII", NULL,
	  NULL },
	{ "SAN not requested is not checked", "*", NULL, "dNSName", NULL,
	  "/CN=host", "DNS:host.example,URI:urn:a\x7f", ADDR, NULL,
	  POLICY_ALLOW, NULL, "/CN=host", "DNS:host.example" },
	/* subjectAltName: set */
	{ "SAN set, every text type", "CN", NULL, NULL,
	  "dNSName=%{REMOTE_USER}.devices.example|iPAddress=%{REMOTE_ADDR}"
	  "|rfc822Name=%{REMOTE_USER}@example.com"
	  "|uniformResourceIdentifier=urn:user:%{REMOTE_USER}|registeredID=1.2.3.4",
	  "/CN=host", NULL, ADDR, "alice",
	  POLICY_ALLOW, NULL, "/CN=host",
	  "DNS:alice.devices.example, IP Address:" ADDR ", email:alice@example.com, "
	  "URI:urn:user:alice, Registered ID:1.2.3.4" },
	{ "SAN set after request", "CN", NULL, "dNSName", "iPAddress=2001:db8::7",
	  "/CN=host", "DNS:host.example", ADDR, NULL,
	  POLICY_ALLOW, NULL, "/CN=host", "DNS:host.example, IP Address:2001:DB8:0:0:0:0:0:7" },
	{ "SAN set without REMOTE_USER", "CN", NULL, NULL, "dNSName=%{REMOTE_USER}.example",
	  "/CN=host", NULL, ADDR, NULL,
	  POLICY_DENY, "no REMOTE_USER for subjectAltName set dNSName", NULL, NULL },
	{ "SAN set iPAddress not an address", "CN", NULL, NULL, "iPAddress=%{REMOTE_ADDR}",
	  "/CN=host", NULL, "unix:/run/x", NULL,
	  POLICY_DENY, "subjectAltName set iPAddress: not an IP address", NULL, NULL },
	{ "SAN set dNSName not ASCII", "CN", NULL, NULL, "dNSName=%{REMOTE_USER}",
	  "/CN=host", NULL, ADDR, "j\xc3\xbcrgen",
	  POLICY_DENY, "subjectAltName set dNSName: not printable ASCII", NULL, NULL },
	{ "SAN set registeredID not an OID", "CN", NULL, NULL, "registeredID=not an oid",
	  "/CN=host", NULL, ADDR, NULL,
	  POLICY_DENY, "subjectAltName set registeredID: not an object identifier", NULL, NULL },
	{ "SAN set directoryName", "CN", NULL, NULL, "directoryName=CN=x",
	  "/CN=host", NULL, ADDR, NULL,
	  POLICY_DENY, "cannot set directoryName from text", NULL, NULL },
	{ "SAN set otherName", "CN", NULL, NULL, "otherName=1.2.3;UTF8:x",
	  "/CN=host", NULL, ADDR, NULL,
	  POLICY_DENY, "cannot set otherName from text", NULL, NULL },
	/* empty results */
	{ "empty subject, no SAN", "CN", NULL, NULL, NULL,
	  "/O=Acme", NULL, ADDR, NULL,
	  POLICY_DENY, EMPTY, NULL, NULL },
	{ "empty request", "*", NULL, "*", NULL,
	  "", NULL, ADDR, NULL,
	  POLICY_DENY, EMPTY, NULL, NULL },
	{ "no rules at all", NULL, NULL, NULL, NULL,
	  "/CN=host", "DNS:host.example", ADDR, NULL,
	  POLICY_DENY, EMPTY, NULL, NULL },
	{ "empty subject with a SAN", "CN", NULL, "dNSName", NULL,
	  "/O=Acme", "DNS:host.example", ADDR, NULL,
	  POLICY_ALLOW, NULL, "", "DNS:host.example" },
};
/* clang-format on */

static void
test_policy_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct policy_case *c = &cases[i];
		struct config_name_policy subject, san;
		struct policy_vars vars = { c->remote_addr, c->remote_user };
		struct policy_decision d;
		X509_REQ *csr = testlib_csr(test_key, c->csr_subject, c->csr_san, NULL);
		char buf[512];

		print_message("case %zu: %s\n", i, c->what);
		test_rules(&subject.request, c->subject_request);
		test_pairs(&subject.set, c->subject_set);
		test_rules(&san.request, c->san_request);
		test_pairs(&san.set, c->san_set);
		memset(&d, 0xa5, sizeof(d));
		assert_int_equal(policy_check(&subject, &san, csr, &vars, &d), 0);
		assert_int_equal(d.verdict, c->verdict);
		assert_null(strchr(d.reason, '\n'));
		if (c->verdict == POLICY_DENY) {
			assert_string_equal(d.reason, c->reason);
			assert_null(d.subject);
			assert_null(d.san);
		} else {
			assert_string_equal(d.reason, "");
			assert_non_null(d.subject);
			test_name_format(d.subject, buf, sizeof(buf));
			assert_string_equal(buf, c->subject);
			if (c->san[0] == '\0')
				assert_null(d.san);
			else
				assert_non_null(d.san);
			test_san_format(d.san, buf, sizeof(buf));
			assert_string_equal(buf, c->san);
		}
		policy_decision_clear(&d);
		assert_null(d.subject);
		assert_null(d.san);
		test_policy_free(&subject);
		test_policy_free(&san);
		X509_REQ_free(csr);
		ERR_clear_error();
	}
}

/*
 * A certificate of this CA stands in for a challenge only to renew its own identity:
 * the signer is CN=dev,OU=laptop-7 with DNS:dev.example and DNS:alt.example, issued
 * with subject.set OU=%{REMOTE_USER}.
 */
static void
test_policy_renewal(void **state)
{
	static const struct {
		const char *what, *csr_subject, *csr_san, *remote_user, *san_set, *reason;
	} renewals[] = {
		{ "the same identity", "/CN=dev", "DNS:dev.example", "laptop-7", NULL, NULL },
		{ "fewer names", "/CN=dev", NULL, "laptop-7", NULL, NULL },
		{ "another CN", "/CN=admin", "DNS:dev.example", "laptop-7", NULL,
		  "the new subject is not the signer certificate's" },
		{ "another owner", "/CN=dev", NULL, "laptop-8", NULL,
		  "the new subject is not the signer certificate's" },
		{ "a name the signer lacks", "/CN=dev", "DNS:vpn.example", "laptop-7", NULL,
		  "a requested subjectAltName is not in the signer certificate" },
		{ "a set name the signer lacks", "/CN=dev", NULL, "laptop-7", "dNSName=vpn.example",
		  "a requested subjectAltName is not in the signer certificate" },
		{ "what the policy refuses anyway", "/CN=dev", NULL, NULL, NULL,
		  "no REMOTE_USER for subject set OU" },
	};
	EVP_PKEY *ca_key = testlib_ec_key("P-256");
	X509 *ca = testlib_cert_make(&(struct testlib_cert){ .key = ca_key, .subject = "/CN=CA" });
	X509 *signer = testlib_cert_make(&(struct testlib_cert){
		.key = test_key,
		.subject = "/CN=dev/OU=laptop-7",
		.issuer = ca,
		.issuer_key = ca_key,
		.san = "DNS:dev.example,DNS:alt.example",
	});

	(void)state;
	for (size_t i = 0; i < sizeof(renewals) / sizeof(renewals[0]); i++) {
		struct config_name_policy subject, san;
		struct policy_vars vars = { ADDR, renewals[i].remote_user };
		struct policy_decision d;
		X509_REQ *csr =
			testlib_csr(test_key, renewals[i].csr_subject, renewals[i].csr_san, NULL);

		print_message("renewal %zu: %s\n", i, renewals[i].what);
		test_rules(&subject.request, "CN");
		test_pairs(&subject.set, "OU=%{REMOTE_USER}");
		test_rules(&san.request, "dNSName");
		test_pairs(&san.set, renewals[i].san_set);
		assert_int_equal(policy_check_renewal(&subject, &san, csr, &vars, signer, &d), 0);
		if (renewals[i].reason == NULL) {
			assert_int_equal(d.verdict, POLICY_ALLOW);
			assert_non_null(d.subject);
		} else {
			assert_int_equal(d.verdict, POLICY_DENY);
			assert_string_equal(d.reason, renewals[i].reason);
			assert_null(d.subject);
		}
		policy_decision_clear(&d);
		test_policy_free(&subject);
		test_policy_free(&san);
		X509_REQ_free(csr);
	}
	assert_int_equal(policy_check_renewal(NULL, NULL, NULL, NULL, NULL, NULL), -EINVAL);
	X509_free(signer);
	X509_free(ca);
	EVP_PKEY_free(ca_key);
}

/* A request with two subjectAltName extensions is ambiguous. */
static void
test_policy_two_sans(void **state)
{
	struct config_name_policy subject, san;
	struct policy_vars vars = { ADDR, NULL };
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	struct policy_decision d;
	X509_REQ *csr;

	(void)state;
	assert_non_null(csr = X509_REQ_new());
	testlib_name_add(X509_REQ_get_subject_name(csr), "/CN=host");
	sk_X509_EXTENSION_push(exts,
			       X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, "DNS:a"));
	sk_X509_EXTENSION_push(exts,
			       X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, "DNS:b"));
	assert_int_equal(X509_REQ_add_extensions(csr, exts), 1);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	assert_int_equal(X509_REQ_set_pubkey(csr, test_key), 1);
	assert_true(X509_REQ_sign(csr, test_key, EVP_sha256()) > 0);

	test_rules(&subject.request, "*");
	test_pairs(&subject.set, NULL);
	test_rules(&san.request, "dNSName");
	test_pairs(&san.set, NULL);
	assert_int_equal(policy_check(&subject, &san, csr, &vars, &d), 0);
	assert_int_equal(d.verdict, POLICY_DENY);
	assert_string_equal(d.reason, "the request has more than one subjectAltName extension");
	policy_decision_clear(&d);

	/* Not refused when no subjectAltName is requested: named as dropped. */
	test_policy_free(&san);
	test_rules(&san.request, NULL);
	assert_int_equal(policy_check(&subject, &san, csr, &vars, &d), 0);
	assert_int_equal(d.verdict, POLICY_ALLOW);
	assert_null(d.san);
	assert_string_equal(d.dropped, "subjectAltName=unreadable");
	policy_decision_clear(&d);

	test_policy_free(&subject);
	test_policy_free(&san);
	X509_REQ_free(csr);
	ERR_clear_error();
}

/* A request with these subjectAltNames (each "TYPE", value bytes of len). */
static X509_REQ *
test_csr_sans(const char *subject, int n, const int *types, const char *const *values)
{
	STACK_OF(X509_EXTENSION) *exts = NULL;
	GENERAL_NAMES *gens = GENERAL_NAMES_new();
	X509_REQ *csr = X509_REQ_new();

	assert_non_null(gens);
	assert_non_null(csr);
	testlib_name_add(X509_REQ_get_subject_name(csr), subject);
	for (int i = 0; i < n; i++) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_OCTET_STRING *s = ASN1_OCTET_STRING_new();

		assert_non_null(g);
		assert_non_null(s);
		assert_int_equal(ASN1_STRING_set(s, values[i], (int)strlen(values[i])), 1);
		if (types[i] != GEN_IPADD)
			s->type = V_ASN1_IA5STRING;
		GENERAL_NAME_set0_value(g, types[i], s);
		assert_true(sk_GENERAL_NAME_push(gens, g) > 0);
	}
	assert_int_equal(X509V3_add1_i2d(&exts, NID_subject_alt_name, gens, 0, 0), 1);
	assert_int_equal(X509_REQ_add_extensions(csr, exts), 1);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	assert_int_equal(X509_REQ_set_pubkey(csr, test_key), 1);
	assert_true(X509_REQ_sign(csr, test_key, EVP_sha256()) > 0);
	return csr;
}

/*
 * What the rules leave out is named in decision.dropped: subject fields by name,
 * subjectAltNames with their value, escaped so that a crafted name cannot end a log
 * line or an HTTP header, nor pass for another entry; a long list is cut short.
 */
static void
test_policy_dropped(void **state)
{
	static const int types[] = { GEN_DNS, GEN_IPADD, GEN_EMAIL };
	static const char *const values[] = { "a\r\nX-Evil: 1;b", "\xc6\x33\x64\x07",
					      "u@example.com" };
	struct config_name_policy subject, san;
	struct policy_vars vars = { ADDR, NULL };
	struct policy_decision d;
	X509_REQ *csr = test_csr_sans("/O=Acme/CN=host", 3, types, values);
	int many_types[60];
	const char *many[60];

	(void)state;
	test_rules(&subject.request, "CN");
	test_pairs(&subject.set, NULL);
	test_rules(&san.request, NULL);
	test_pairs(&san.set, NULL);
	assert_int_equal(policy_check(&subject, &san, csr, &vars, &d), 0);
	assert_int_equal(d.verdict, POLICY_ALLOW);
	assert_string_equal(d.dropped,
			    "subject=O; subjectAltName=DNS:a\\x0D\\x0AX-Evil:\\x201\\x3Bb; "
			    "subjectAltName=IP:198.51.100.7; subjectAltName=email:u@example.com");
	policy_decision_clear(&d);

	/* Requested ones are copied and not named; nothing dropped: "". */
	test_policy_free(&san);
	test_rules(&san.request, "iPAddress,rfc822Name");
	assert_int_equal(policy_check(&subject, &san, csr, &vars, &d), 0);
	assert_string_equal(d.dropped,
			    "subject=O; subjectAltName=DNS:a\\x0D\\x0AX-Evil:\\x201\\x3Bb");
	policy_decision_clear(&d);
	test_policy_free(&subject);
	test_rules(&subject.request, "*");
	test_policy_free(&san);
	test_rules(&san.request, "*");
	X509_REQ_free(csr);
	csr = test_csr_sans("/O=Acme/CN=host", 1, types + 2, values + 2);
	assert_int_equal(policy_check(&subject, &san, csr, &vars, &d), 0);
	assert_int_equal(d.verdict, POLICY_ALLOW);
	assert_string_equal(d.dropped, "");
	policy_decision_clear(&d);
	X509_REQ_free(csr);

	/* Sixty names do not fit: the list ends with "; ..." */
	for (int i = 0; i < 60; i++) {
		many_types[i] = GEN_DNS;
		many[i] = "a-rather-long-host-name.example.com";
	}
	csr = test_csr_sans("/CN=host", 60, many_types, many);
	test_policy_free(&san);
	test_rules(&san.request, NULL);
	assert_int_equal(policy_check(&subject, &san, csr, &vars, &d), 0);
	assert_true(strlen(d.dropped) < sizeof(d.dropped));
	assert_string_equal(d.dropped + strlen(d.dropped) - 5, "; ...");
	assert_non_null(
		strstr(d.dropped, "subjectAltName=DNS:a-rather-long-host-name.example.com; "));
	policy_decision_clear(&d);

	test_policy_free(&subject);
	test_policy_free(&san);
	X509_REQ_free(csr);
	ERR_clear_error();
}

/* NULL policies are empty ones; vars may be NULL; clear is idempotent; bad calls. */
static void
test_policy_edges(void **state)
{
	struct config_name_policy subject;
	X509_REQ *csr = testlib_csr(test_key, "/CN=host", NULL, NULL);
	struct policy_decision d, untouched;

	(void)state;
	test_rules(&subject.request, "CN");
	test_pairs(&subject.set, NULL);
	assert_int_equal(policy_check(&subject, NULL, csr, NULL, &d), 0);
	assert_int_equal(d.verdict, POLICY_ALLOW);
	policy_decision_clear(&d);
	policy_decision_clear(&d);
	policy_decision_clear(NULL);

	test_policy_free(&subject);
	test_pairs(&subject.set, "OU=%{REMOTE_ADDR}");
	assert_int_equal(policy_check(&subject, NULL, csr, NULL, &d), 0);
	assert_int_equal(d.verdict, POLICY_DENY);
	assert_string_equal(d.reason, "no REMOTE_ADDR for subject set OU");
	policy_decision_clear(&d);

	memset(&untouched, 0x5a, sizeof(untouched));
	d = untouched;
	assert_int_equal(policy_check(&subject, NULL, NULL, NULL, &d), -EINVAL);
	assert_memory_equal(&d, &untouched, sizeof(d));

	test_policy_free(&subject);
	X509_REQ_free(csr);
}

static int
test_setup(void **state)
{
	(void)state;
	test_key = testlib_ec_key("P-256");
	return 0;
}

static int
test_teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(test_key);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_cases),   cmocka_unit_test(test_policy_two_sans),
		cmocka_unit_test(test_policy_dropped), cmocka_unit_test(test_policy_edges),
		cmocka_unit_test(test_policy_renewal),
	};

	return cmocka_run_group_tests(tests, test_setup, test_teardown);
}
