/*
 * test_scep_enrol.c - the SCEP state machine (scep_enrol.c), every verdict, on a real
 * issuer (a P-256 CA key in a file, an SQLite store in a temporary directory) behind a
 * store that the test can make fail, as a PostgreSQL server that went away would.
 *
 * Messages are built as scep_msg_parse() and scep_msg_decrypt() would leave them: the
 * signer's signature verified, the envelope opened; the codec has tests of its own.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "scepd/config.h"
#include "scepd/crl_publish.h"
#include "scepd/issuer.h"
#include "scepd/keys.h"
#include "scepd/scep_enrol.h"
#include "scepd/store.h"

#include "../../src/store_backend.h"
#include "testlib.h"

/* A store that forwards to SQLite, or fails every call with `fail` when it is set. */
struct fake_store {
	struct store base;
	struct store *real;
	int fail;         /* every call fails with this */
	int fail_consume; /* consume_challenge alone fails with this */
};

static struct fake_store *the_fake; /* the one of the running test */

#define FAKE(st) ((struct fake_store *)(st))
#define REAL(st) (FAKE(st)->real)
#define FAIL(st)                                                                                   \
	do {                                                                                       \
		if (FAKE(st)->fail != 0)                                                           \
			return FAKE(st)->fail;                                                     \
	} while (0)

static void
fake_close(struct store *st)
{
	store_close(REAL(st));
	free(st);
}

static int
fake_schema_version(struct store *st, int *v)
{
	FAIL(st);
	return REAL(st)->ops->schema_version(REAL(st), v);
}

static int
fake_check(struct store *st)
{
	FAIL(st);
	return REAL(st)->ops->check(REAL(st));
}

static int
fake_add_cert(struct store *st, const struct store_cert *c)
{
	FAIL(st);
	return REAL(st)->ops->add_cert(REAL(st), c);
}

static int
fake_add_certs(struct store *st, const struct store_cert *const *c, size_t n, int *results)
{
	FAIL(st);
	return REAL(st)->ops->add_certs(REAL(st), c, n, results);
}

static int
fake_count_certs(struct store *st, uint64_t *n)
{
	FAIL(st);
	return REAL(st)->ops->count_certs(REAL(st), n);
}

static int
fake_get_cert_der(struct store *st, const char *serial, unsigned char **der, size_t *len)
{
	FAIL(st);
	return REAL(st)->ops->get_cert_der(REAL(st), serial, der, len);
}

static int
fake_walk_certs(struct store *st, const char *serial, const char *txid,
		int (*fn)(const struct store_cert *, void *), void *userdata)
{
	FAIL(st);
	return REAL(st)->ops->walk_certs(REAL(st), serial, txid, fn, userdata);
}

static int
fake_add_pending(struct store *st, const struct store_pending *p)
{
	FAIL(st);
	return REAL(st)->ops->add_pending(REAL(st), p);
}

static int
fake_walk_pending(struct store *st, const char *txid,
		  int (*fn)(const struct store_pending *, void *), void *userdata)
{
	FAIL(st);
	return REAL(st)->ops->walk_pending(REAL(st), txid, fn, userdata);
}

static int
fake_set_pending_status(struct store *st, const char *txid, enum store_status from,
			enum store_status to, time_t now)
{
	FAIL(st);
	return REAL(st)->ops->set_pending_status(REAL(st), txid, from, to, now);
}

static int
fake_add_cert_for_pending(struct store *st, const struct store_cert *c, time_t now)
{
	FAIL(st);
	return REAL(st)->ops->add_cert_for_pending(REAL(st), c, now);
}

static int
fake_add_challenge(struct store *st, const struct store_challenge *ch)
{
	FAIL(st);
	return REAL(st)->ops->add_challenge(REAL(st), ch);
}

static int
fake_consume_challenge(struct store *st, const char *hash, const char *profile, const char *subject,
		       const char *used_by, time_t now, char **owner)
{
	FAIL(st);
	if (FAKE(st)->fail_consume != 0)
		return FAKE(st)->fail_consume;
	return REAL(st)->ops->consume_challenge(REAL(st), hash, profile, subject, used_by, now,
						owner);
}

static int
fake_prune(struct store *st, time_t before, unsigned limit, struct store_pruned *ret_pruned)
{
	FAIL(st);
	return REAL(st)->ops->prune(REAL(st), before, limit, ret_pruned);
}

static int
fake_count_revoked(struct store *st,
		   int (*fn)(const char *ca, const char *profile, uint64_t n, void *userdata),
		   void *userdata)
{
	FAIL(st);
	return REAL(st)->ops->count_revoked(REAL(st), fn, userdata);
}

static int
fake_walk_revoked(struct store *st, const char *ca, time_t now,
		  int (*fn)(const struct store_cert *cert, void *userdata), void *userdata)
{
	FAIL(st);
	return REAL(st)->ops->walk_revoked(REAL(st), ca, now, fn, userdata);
}

static int
fake_revocation_changes(struct store *st, const char *ca, uint64_t *ret)
{
	FAIL(st);
	return REAL(st)->ops->revocation_changes(REAL(st), ca, ret);
}

static int
fake_put_crl(struct store *st, const struct store_crl *crl)
{
	FAIL(st);
	return REAL(st)->ops->put_crl(REAL(st), crl);
}

static int
fake_get_crl(struct store *st, const char *ca,
	     int (*fn)(const struct store_crl *crl, void *userdata), void *userdata)
{
	FAIL(st);
	return REAL(st)->ops->get_crl(REAL(st), ca, fn, userdata);
}

static const struct store_ops fake_ops = {
	.close = fake_close,
	.schema_version = fake_schema_version,
	.check = fake_check,
	.add_cert = fake_add_cert,
	.add_certs = fake_add_certs,
	.count_certs = fake_count_certs,
	.get_cert_der = fake_get_cert_der,
	.walk_certs = fake_walk_certs,
	.add_pending = fake_add_pending,
	.walk_pending = fake_walk_pending,
	.set_pending_status = fake_set_pending_status,
	.add_cert_for_pending = fake_add_cert_for_pending,
	.add_challenge = fake_add_challenge,
	.consume_challenge = fake_consume_challenge,
	.prune = fake_prune,
	.walk_revoked = fake_walk_revoked,
	.count_revoked = fake_count_revoked,
	.revocation_changes = fake_revocation_changes,
	.put_crl = fake_put_crl,
	.get_crl = fake_get_crl,
};

/* The test's CA, issuer and state machine. */
struct env {
	char *dir;
	struct scepd_config *cfg;
	struct issuer *issuer;
	struct scep_enrol *enrol;
	EVP_PKEY *alice_key, *bob_key;
	X509 *alice_self, *bob_self; /* self-signed, as a device's first request */
};

static EVP_PKEY *
make_key(void)
{
	return testlib_ec_key("P-256");
}

/* A self-signed certificate for key, as SCEP clients sign their first request. */
static X509 *
make_self_signed(EVP_PKEY *key, const char *cn, bool ca)
{
	char subject[64];

	snprintf(subject, sizeof(subject), "/CN=%s", cn);
	return testlib_cert_make(&(struct testlib_cert){
		.key = key,
		.subject = subject,
		.serial = 1,
		.not_before = -60,
		.not_after = 86400,
		.basic_constraints = ca ? "critical,CA:TRUE" : NULL,
		.key_usage = ca ? "critical,keyCertSign,cRLSign,digitalSignature" : NULL,
	});
}

/* A CSR for key with CN=cn and, when not NULL, one dNSName. */
static X509_REQ *
make_csr(EVP_PKEY *key, const char *cn, const char *dns)
{
	char subject[64], san[128];

	snprintf(subject, sizeof(subject), "/CN=%s", cn);
	snprintf(san, sizeof(san), "DNS:%s", dns != NULL ? dns : "");
	return testlib_csr(key, subject, dns != NULL ? san : NULL, NULL);
}

/* A message as the codec leaves it: verified, decrypted. Takes csr; signer is copied. */
static struct scep_msg *
make_msg(int type, const char *txid, X509 *signer, X509_REQ *csr, const char *challenge)
{
	struct scep_msg *msg = calloc(1, sizeof(*msg));

	assert_non_null(msg);
	msg->type = type;
	snprintf(msg->txid, sizeof(msg->txid), "%s", txid);
	msg->fail = SCEP_FAIL_NONE;
	msg->decrypted = true;
	assert_true(X509_up_ref(signer));
	msg->signer = signer;
	msg->csr = csr;
	if (challenge != NULL)
		assert_non_null(msg->challenge = OPENSSL_strdup(challenge));
	if (csr != NULL)
		msg->signer_has_csr_key =
			EVP_PKEY_eq(X509_get0_pubkey(signer), X509_REQ_get0_pubkey(csr)) == 1;
	return msg;
}

/* decide(ENV, MSG, KIND): the verdict, checked to be of that kind; MSG is freed. */
static struct scep_verdict
decide(struct env *env, struct scep_msg *msg, enum scep_verdict_kind kind)
{
	struct scep_verdict v = { 0 };

	assert_int_equal(scep_enrol_decide(env->enrol, msg, "192.0.2.7", &v), 0);
	if (v.kind != kind)
		fail_msg("expected %s, got %s (%s)", scep_verdict_kind_name(kind),
			 scep_verdict_kind_name(v.kind), v.log);
	scep_msg_free(msg);
	return v;
}

static void
assert_failure(struct scep_verdict *v, enum scep_fail fail, const char *log)
{
	assert_int_equal(v->kind, SCEP_VERDICT_FAILURE);
	assert_int_equal(v->fail, fail);
	if (strstr(v->log, log) == NULL)
		fail_msg("log '%s' does not say '%s'", v->log, log);
	assert_null(v->cert);
	scep_verdict_clear(v);
}

/* A certificate issued to key for CN=cn through a new PKCSReq (challenge none). */
static X509 *
enrol_new(struct env *env, EVP_PKEY *key, X509 *self, const char *cn, const char *txid)
{
	const unsigned char *p;
	unsigned char *der = NULL;
	struct scep_verdict v;
	X509 *cert;
	int len;

	v = decide(env, make_msg(SCEP_MSG_PKCSREQ, txid, self, make_csr(key, cn, NULL), NULL),
		   SCEP_VERDICT_SUCCESS);
	/* As a client has it: from DER (the issuer's own object has its key undecoded). */
	assert_true((len = i2d_X509(v.cert, &der)) > 0);
	p = der;
	assert_non_null(cert = d2i_X509(NULL, &p, len));
	OPENSSL_free(der);
	scep_verdict_clear(&v);
	return cert;
}

static void
write_pem(const char *path, EVP_PKEY *key, X509 *cert)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	if (key != NULL)
		assert_true(PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL));
	else
		assert_true(PEM_write_X509(f, cert));
	assert_int_equal(fclose(f), 0);
}

static int
setup(void **state)
{
	struct config_errors errs = { 0 };
	struct env *env = calloc(1, sizeof(*env));
	char conf[4 * PATH_MAX], path[PATH_MAX + 16], uri[PATH_MAX + 32];
	struct keys_error kerr = { 0 };
	struct keys *keys = NULL;
	EVP_PKEY *ca_key = make_key();
	X509 *ca = make_self_signed(ca_key, "enrol test CA", true);
	struct store *real = NULL;

	assert_non_null(env);
	env->dir = testlib_tmpdir("scepd-enrol");
	snprintf(path, sizeof(path), "%s/ca.key", env->dir);
	write_pem(path, ca_key, NULL);
	snprintf(path, sizeof(path), "%s/ca.pem", env->dir);
	write_pem(path, NULL, ca);
	snprintf(conf, sizeof(conf),
		 "ca: { certificate = \"%s/ca.pem\"; key = \"%s/ca.key\";\n"
		 "      crl = { path = \"/crl/ca.crl\"; }; };\n"
		 "scep: { subject_alt_name = { request = [ \"dNSName\" ]; }; };\n"
		 "storage: { uri = \"sqlite:%s/scepd.db\"; };\n",
		 env->dir, env->dir, env->dir);
	if (config_load_string(conf, "enrol.conf", NULL, &env->cfg, &errs) < 0)
		fail_msg("config: %s", errs.n > 0 ? errs.v[0] : "?");
	assert_int_equal(keys_load(env->cfg, &keys, &kerr), 0);
	snprintf(uri, sizeof(uri), "sqlite:%s/scepd.db", env->dir);
	assert_int_equal(store_open(uri, &real), 0);
	assert_non_null(the_fake = calloc(1, sizeof(*the_fake)));
	the_fake->real = real;
	store_init(&the_fake->base, &fake_ops);
	assert_int_equal(issuer_new(env->cfg, keys, &the_fake->base, NULL, &env->issuer), 0);
	assert_int_equal(scep_enrol_new(env->issuer, 0, NULL, NULL, &env->enrol), 0);
	env->alice_key = make_key();
	env->bob_key = make_key();
	env->alice_self = make_self_signed(env->alice_key, "alice", false);
	env->bob_self = make_self_signed(env->bob_key, "bob", false);
	EVP_PKEY_free(ca_key);
	X509_free(ca);
	*state = env;
	return 0;
}

static int
teardown(void **state)
{
	struct env *env = *state;

	scep_enrol_free(env->enrol);
	issuer_free(env->issuer);
	config_free(env->cfg);
	EVP_PKEY_free(env->alice_key);
	EVP_PKEY_free(env->bob_key);
	X509_free(env->alice_self);
	X509_free(env->bob_self);
	testlib_rmtree(env->dir);
	free(env->dir);
	free(env);
	return 0;
}

/* A new request, its retransmission, and the challenge rules. */
static void
test_new_request(void **state)
{
	struct env *env = *state;
	struct scep_verdict v;
	X509 *cert;

	cert = enrol_new(env, env->alice_key, env->alice_self, "alice", "tx-alice");
	assert_int_equal(
		X509_NAME_cmp(X509_get_subject_name(cert), X509_get_subject_name(env->alice_self)),
		0);
	/* The same request again: the same certificate. */
	v = decide(env,
		   make_msg(SCEP_MSG_PKCSREQ, "tx-alice", env->alice_self,
			    make_csr(env->alice_key, "alice", NULL), NULL),
		   SCEP_VERDICT_SUCCESS);
	assert_int_equal(X509_cmp(v.cert, cert), 0);
	assert_string_equal(v.log, "answered again with its certificate");
	scep_verdict_clear(&v);

	/* Signed by a self-signed certificate for another key. */
	v = decide(env,
		   make_msg(SCEP_MSG_PKCSREQ, "tx-x", env->bob_self,
			    make_csr(env->alice_key, "alice", NULL), NULL),
		   SCEP_VERDICT_FAILURE);
	assert_failure(&v, SCEP_FAIL_BAD_REQUEST, "does not hold the request's key");
	/* A RenewalReq signed by a self-signed certificate. */
	v = decide(env,
		   make_msg(SCEP_MSG_RENEWALREQ, "tx-y", env->bob_self,
			    make_csr(env->bob_key, "bob", NULL), NULL),
		   SCEP_VERDICT_FAILURE);
	assert_failure(&v, SCEP_FAIL_BAD_MESSAGE_CHECK, "must be signed by a certificate");

	/* A static challenge: missing, wrong, right. */
	scep_enrol_free(env->enrol);
	env->cfg->profiles[0].scep.challenge_mode = CONFIG_CHALLENGE_STATIC;
	assert_int_equal(scep_enrol_new(env->issuer, 0, "s3cret", NULL, &env->enrol), 0);
	v = decide(env,
		   make_msg(SCEP_MSG_PKCSREQ, "tx-b1", env->bob_self,
			    make_csr(env->bob_key, "bob", NULL), NULL),
		   SCEP_VERDICT_FAILURE);
	assert_failure(&v, SCEP_FAIL_BAD_REQUEST, "a challenge password is required");
	v = decide(env,
		   make_msg(SCEP_MSG_PKCSREQ, "tx-b2", env->bob_self,
			    make_csr(env->bob_key, "bob", NULL), "s3cre"),
		   SCEP_VERDICT_FAILURE);
	assert_failure(&v, SCEP_FAIL_BAD_REQUEST, "wrong challenge password");
	v = decide(env,
		   make_msg(SCEP_MSG_PKCSREQ, "tx-b3", env->bob_self,
			    make_csr(env->bob_key, "bob", NULL), "s3cret"),
		   SCEP_VERDICT_SUCCESS);
	scep_verdict_clear(&v);
	X509_free(cert);
}

/* Renewal of the same identity, and every way of asking for another one. */
static void
test_renewal(void **state)
{
	struct env *env = *state;
	EVP_PKEY *next = make_key();
	struct scep_verdict v;
	X509 *cert;

	cert = enrol_new(env, env->alice_key, env->alice_self, "alice", "tx-alice");
	/* RenewalReq with a new key: SUCCESS, a new certificate, no challenge. */
	env->cfg->profiles[0].scep.challenge_mode =
		CONFIG_CHALLENGE_OTP; /* would refuse a new request */
	v = decide(env,
		   make_msg(SCEP_MSG_RENEWALREQ, "tx-renew", cert, make_csr(next, "alice", NULL),
			    NULL),
		   SCEP_VERDICT_SUCCESS);
	assert_int_not_equal(X509_cmp(v.cert, cert), 0);
	assert_non_null(strstr(v.log, "renewal of serial"));
	scep_verdict_clear(&v);
	/* The same key and transactionID, signed by the certificate: a new one too. */
	v = decide(env,
		   make_msg(SCEP_MSG_PKCSREQ, "tx-alice", cert,
			    make_csr(env->alice_key, "alice", NULL), NULL),
		   SCEP_VERDICT_SUCCESS);
	assert_int_not_equal(X509_cmp(v.cert, cert), 0);
	scep_verdict_clear(&v);
	/* Another subject, a SAN the signer lacks: refused; a PKCSReq is a new request. */
	v = decide(
		env,
		make_msg(SCEP_MSG_RENEWALREQ, "tx-r1", cert, make_csr(next, "admin", NULL), NULL),
		SCEP_VERDICT_FAILURE);
	assert_failure(&v, SCEP_FAIL_BAD_REQUEST, "the new subject is not the signer");
	v = decide(env,
		   make_msg(SCEP_MSG_RENEWALREQ, "tx-r2", cert,
			    make_csr(next, "alice", "vpn.example"), NULL),
		   SCEP_VERDICT_FAILURE);
	assert_failure(&v, SCEP_FAIL_BAD_REQUEST, "subjectAltName is not in the signer");
	v = decide(env,
		   make_msg(SCEP_MSG_PKCSREQ, "tx-r3", cert, make_csr(next, "bob", NULL), NULL),
		   SCEP_VERDICT_FAILURE);
	assert_failure(&v, SCEP_FAIL_BAD_REQUEST, "does not hold the request's key");
	v = decide(env,
		   make_msg(SCEP_MSG_PKCSREQ, "tx-r4", cert, make_csr(env->alice_key, "bob", NULL),
			    NULL),
		   SCEP_VERDICT_FAILURE);
	assert_failure(&v, SCEP_FAIL_BAD_REQUEST, "a challenge password is required");
	/* A RenewalReq signed by a self-signed certificate. */
	v = decide(env,
		   make_msg(SCEP_MSG_RENEWALREQ, "tx-r5", env->bob_self,
			    make_csr(env->bob_key, "bob", NULL), NULL),
		   SCEP_VERDICT_FAILURE);
	assert_failure(&v, SCEP_FAIL_BAD_MESSAGE_CHECK, "must be signed by a certificate");
	EVP_PKEY_free(next);
	X509_free(cert);
}

/* A validator that answers what the test says and remembers what it was asked. */
struct fake_validator {
	int r;      /* returned */
	bool allow; /* *ret_allow when r is 0 */
	const char *why;
	int calls;
	char challenge[64], txid[64], profile[32], client[64], cn[64];
};

static int
fake_validator_check(void *arg, const struct scep_enrol_query *q, bool *ret_allow, char *why,
		     size_t why_size)
{
	struct fake_validator *f = arg;

	f->calls++;
	snprintf(f->challenge, sizeof(f->challenge), "%s", q->challenge);
	snprintf(f->txid, sizeof(f->txid), "%s", q->transaction_id);
	snprintf(f->profile, sizeof(f->profile), "%s", q->profile);
	snprintf(f->client, sizeof(f->client), "%s", q->client);
	assert_non_null(q->csr);
	X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(q->csr), NID_commonName, f->cn,
				  sizeof(f->cn));
	snprintf(why, why_size, "%s", f->why != NULL ? f->why : "");
	if (f->r == 0)
		*ret_allow = f->allow;
	return f->r;
}

/*
 * challenge.mode "webhook": the validator decides new requests (allow, refuse, cannot
 * answer: RETRY with Retry-After, nothing issued, the same request passes later); a
 * renewal and a retransmission never ask it; without a validator, RETRY.
 */
static void
test_webhook_validator(void **state)
{
	struct env *env = *state;
	struct fake_validator f = { .r = 0, .allow = true };
	struct scep_verdict v;
	X509 *cert;

	cert = enrol_new(env, env->alice_key, env->alice_self, "alice", "tx-alice");
	env->cfg->profiles[0].scep.challenge_mode = CONFIG_CHALLENGE_WEBHOOK;
	v = decide(env,
		   make_msg(SCEP_MSG_PKCSREQ, "tx-w0", env->bob_self,
			    make_csr(env->bob_key, "bob", NULL), "mdm-0"),
		   SCEP_VERDICT_RETRY);
	assert_int_equal(v.retry_after, SCEP_ENROL_VALIDATOR_RETRY_AFTER);
	assert_non_null(strstr(v.log, "no challenge validator"));
	scep_verdict_clear(&v);

	scep_enrol_set_validator(env->enrol, &(struct scep_enrol_validator){
						     .check = fake_validator_check, .arg = &f });
	/* No answer: RETRY, nothing issued; the reason reaches the log, not the client. */
	f.r = -ETIMEDOUT;
	f.why = "webhook mdm.example: no answer within 5 s";
	v = decide(env,
		   make_msg(SCEP_MSG_PKCSREQ, "tx-w1", env->bob_self,
			    make_csr(env->bob_key, "bob", NULL), "mdm-1"),
		   SCEP_VERDICT_RETRY);
	assert_int_equal(v.retry_after, SCEP_ENROL_VALIDATOR_RETRY_AFTER);
	assert_string_equal(v.log, f.why);
	assert_null(strstr(v.text, "mdm.example"));
	assert_null(v.cert);
	scep_verdict_clear(&v);
	assert_int_equal(f.calls, 1);
	assert_string_equal(f.challenge, "mdm-1");
	assert_string_equal(f.txid, "tx-w1");
	assert_string_equal(f.profile, "scep");
	assert_string_equal(f.client, "192.0.2.7");
	assert_string_equal(f.cn, "bob");
	/* The device comes back with the same request, the service answers: issued. */
	f.r = 0;
	f.allow = true;
	v = decide(env,
		   make_msg(SCEP_MSG_PKCSREQ, "tx-w1", env->bob_self,
			    make_csr(env->bob_key, "bob", NULL), "mdm-1"),
		   SCEP_VERDICT_SUCCESS);
	assert_non_null(v.cert);
	scep_verdict_clear(&v);
	/* Its retransmission: the same certificate, the service not asked again. */
	v = decide(env,
		   make_msg(SCEP_MSG_PKCSREQ, "tx-w1", env->bob_self,
			    make_csr(env->bob_key, "bob", NULL), "mdm-1"),
		   SCEP_VERDICT_SUCCESS);
	scep_verdict_clear(&v);
	assert_int_equal(f.calls, 2);
	/* Refused: FAILURE badRequest with the service's reason in the log. */
	f.allow = false;
	f.why = "webhook mdm.example denied: unknown device";
	v = decide(env,
		   make_msg(SCEP_MSG_PKCSREQ, "tx-w2", env->bob_self,
			    make_csr(env->bob_key, "bob", NULL), "mdm-2"),
		   SCEP_VERDICT_FAILURE);
	assert_string_equal(v.text, "the challenge password was not accepted");
	assert_failure(&v, SCEP_FAIL_BAD_REQUEST, "denied: unknown device");
	f.why = NULL;
	v = decide(env,
		   make_msg(SCEP_MSG_PKCSREQ, "tx-w3", env->bob_self,
			    make_csr(env->bob_key, "bob", NULL), "mdm-3"),
		   SCEP_VERDICT_FAILURE);
	assert_failure(&v, SCEP_FAIL_BAD_REQUEST, "webhook denied");
	/* No challenge at all: refused without asking. */
	v = decide(env,
		   make_msg(SCEP_MSG_PKCSREQ, "tx-w4", env->bob_self,
			    make_csr(env->bob_key, "bob", NULL), NULL),
		   SCEP_VERDICT_FAILURE);
	assert_failure(&v, SCEP_FAIL_BAD_REQUEST, "a challenge password is required");
	assert_int_equal(f.calls, 4);
	/* A renewal needs no challenge: the service is not asked, even when it would refuse. */
	v = decide(env,
		   make_msg(SCEP_MSG_RENEWALREQ, "tx-w5", cert,
			    make_csr(env->alice_key, "alice", NULL), NULL),
		   SCEP_VERDICT_SUCCESS);
	scep_verdict_clear(&v);
	assert_int_equal(f.calls, 4);
	X509_free(cert);
}

/* Manual approval: PENDING, CertPoll by another key, approval, CertPoll by the holder. */
static void
test_manual_and_poll(void **state)
{
	struct env *env = *state;
	struct store *st = &the_fake->base;
	struct scep_verdict v;

	env->cfg->profiles[0].scep.approval = CONFIG_APPROVAL_MANUAL;
	v = decide(env,
		   make_msg(SCEP_MSG_PKCSREQ, "tx-dave", env->alice_self,
			    make_csr(env->alice_key, "dave", NULL), NULL),
		   SCEP_VERDICT_PENDING);
	scep_verdict_clear(&v);
	v = decide(env, make_msg(SCEP_MSG_CERTPOLL, "tx-dave", env->bob_self, NULL, NULL),
		   SCEP_VERDICT_FAILURE);
	assert_failure(&v, SCEP_FAIL_BAD_CERT_ID, "does not hold the pending request's key");
	v = decide(env, make_msg(SCEP_MSG_CERTPOLL, "tx-dave", env->alice_self, NULL, NULL),
		   SCEP_VERDICT_PENDING);
	scep_verdict_clear(&v);
	assert_int_equal(store_set_pending_status(st, "tx-dave", STORE_STATUS_PENDING,
						  STORE_STATUS_APPROVED),
			 0);
	v = decide(env, make_msg(SCEP_MSG_CERTPOLL, "tx-dave", env->bob_self, NULL, NULL),
		   SCEP_VERDICT_FAILURE);
	assert_failure(&v, SCEP_FAIL_BAD_CERT_ID, "does not hold the pending request's key");
	v = decide(env, make_msg(SCEP_MSG_CERTPOLL, "tx-dave", env->alice_self, NULL, NULL),
		   SCEP_VERDICT_SUCCESS);
	scep_verdict_clear(&v);
	v = decide(env, make_msg(SCEP_MSG_CERTPOLL, "tx-nobody", env->alice_self, NULL, NULL),
		   SCEP_VERDICT_FAILURE);
	assert_failure(&v, SCEP_FAIL_BAD_CERT_ID, "no request with this transactionID");
	/* Rejected. */
	v = decide(env,
		   make_msg(SCEP_MSG_PKCSREQ, "tx-eve", env->bob_self,
			    make_csr(env->bob_key, "eve", NULL), NULL),
		   SCEP_VERDICT_PENDING);
	scep_verdict_clear(&v);
	assert_int_equal(
		store_set_pending_status(st, "tx-eve", STORE_STATUS_PENDING, STORE_STATUS_REJECTED),
		0);
	v = decide(env, make_msg(SCEP_MSG_CERTPOLL, "tx-eve", env->bob_self, NULL, NULL),
		   SCEP_VERDICT_FAILURE);
	assert_failure(&v, SCEP_FAIL_BAD_REQUEST, "rejected");
}

/* GetCert: a certificate of the same subject may fetch; a stranger may not. */
static void
test_get_cert(void **state)
{
	struct env *env = *state;
	struct scep_verdict v;
	struct scep_msg *msg;
	X509 *alice, *bob;

	alice = enrol_new(env, env->alice_key, env->alice_self, "alice", "tx-a");
	bob = enrol_new(env, env->bob_key, env->bob_self, "bob", "tx-b");
	msg = make_msg(SCEP_MSG_GETCERT, "tx-g1", alice, NULL, NULL);
	assert_non_null(msg->serial = ASN1_INTEGER_dup(X509_get0_serialNumber(alice)));
	v = decide(env, msg, SCEP_VERDICT_SUCCESS);
	assert_int_equal(X509_cmp(v.cert, alice), 0);
	scep_verdict_clear(&v);
	msg = make_msg(SCEP_MSG_GETCERT, "tx-g2", bob, NULL, NULL);
	assert_non_null(msg->serial = ASN1_INTEGER_dup(X509_get0_serialNumber(alice)));
	v = decide(env, msg, SCEP_VERDICT_FAILURE);
	assert_failure(&v, SCEP_FAIL_BAD_CERT_ID, "subject is not the requested");
	msg = make_msg(SCEP_MSG_GETCERT, "tx-g3", env->alice_self, NULL, NULL);
	assert_non_null(msg->serial = ASN1_INTEGER_dup(X509_get0_serialNumber(alice)));
	v = decide(env, msg, SCEP_VERDICT_FAILURE);
	assert_failure(&v, SCEP_FAIL_BAD_CERT_ID, "not a valid certificate of this CA");
	/* "any": the old behaviour; "none": nobody. */
	env->cfg->profiles[0].scep.get_cert = CONFIG_GET_CERT_ANY;
	msg = make_msg(SCEP_MSG_GETCERT, "tx-g4", env->bob_self, NULL, NULL);
	assert_non_null(msg->serial = ASN1_INTEGER_dup(X509_get0_serialNumber(alice)));
	v = decide(env, msg, SCEP_VERDICT_SUCCESS);
	scep_verdict_clear(&v);
	env->cfg->profiles[0].scep.get_cert = CONFIG_GET_CERT_NONE;
	msg = make_msg(SCEP_MSG_GETCERT, "tx-g5", alice, NULL, NULL);
	assert_non_null(msg->serial = ASN1_INTEGER_dup(X509_get0_serialNumber(alice)));
	v = decide(env, msg, SCEP_VERDICT_FAILURE);
	assert_failure(&v, SCEP_FAIL_BAD_CERT_ID, "not offered");
	X509_free(alice);
	X509_free(bob);
}

/*
 * GetCRL: any signer gets the CA's CRL when it names the CA as issuer; another issuer
 * badCertId; without a CRL on the CA badRequest; a store that fails RETRY.
 */
static void
test_get_crl(void **state)
{
	struct env *env = *state;
	struct crl_publish *pub = NULL;
	struct crl_published crl = { 0 };
	struct scep_verdict v;
	struct scep_msg *msg;
	X509_NAME *other = X509_NAME_new();

	/* no CRL (the profile's CA has no crl.path as far as the caller knows) */
	msg = make_msg(SCEP_MSG_GETCRL, "tx-c1", env->bob_self, NULL, NULL);
	assert_non_null(msg->issuer = X509_NAME_dup(
				X509_get_subject_name(issuer_get0_ca_cert(env->issuer, 0))));
	v = decide(env, msg, SCEP_VERDICT_FAILURE);
	assert_failure(&v, SCEP_FAIL_BAD_REQUEST, "makes no CRL");

	assert_int_equal(crl_publish_new(env->cfg, env->issuer, &pub), 0);
	scep_enrol_free(env->enrol);
	assert_int_equal(scep_enrol_new(env->issuer, 0, NULL, pub, &env->enrol), 0);
	msg = make_msg(SCEP_MSG_GETCRL, "tx-c2", env->bob_self, NULL, NULL);
	assert_non_null(msg->issuer = X509_NAME_dup(
				X509_get_subject_name(issuer_get0_ca_cert(env->issuer, 0))));
	v = decide(env, msg, SCEP_VERDICT_SUCCESS);
	assert_null(v.cert);
	assert_non_null(v.crl);
	assert_int_equal(crl_publish_get(pub, 0, &crl), 0);
	assert_int_equal(v.crl_len, crl.der_len);
	assert_memory_equal(v.crl, crl.der, crl.der_len);
	crl_published_clear(&crl);
	scep_verdict_clear(&v);

	assert_non_null(other);
	assert_int_equal(X509_NAME_add_entry_by_txt(other, "CN", MBSTRING_ASC,
						    (const unsigned char *)"another CA", -1, -1, 0),
			 1);
	msg = make_msg(SCEP_MSG_GETCRL, "tx-c3", env->bob_self, NULL, NULL);
	assert_non_null(msg->issuer = X509_NAME_dup(other));
	v = decide(env, msg, SCEP_VERDICT_FAILURE);
	assert_failure(&v, SCEP_FAIL_BAD_CERT_ID, "another issuer");
	X509_NAME_free(other);

	/* a worker that has no list yet and a store that fails: 503 */
	scep_enrol_free(env->enrol);
	crl_publish_free(pub);
	assert_int_equal(crl_publish_new(env->cfg, env->issuer, &pub), 0);
	assert_int_equal(scep_enrol_new(env->issuer, 0, NULL, pub, &env->enrol), 0);
	the_fake->fail = -EIO;
	msg = make_msg(SCEP_MSG_GETCRL, "tx-c4", env->bob_self, NULL, NULL);
	assert_non_null(msg->issuer = X509_NAME_dup(
				X509_get_subject_name(issuer_get0_ca_cert(env->issuer, 0))));
	v = decide(env, msg, SCEP_VERDICT_RETRY);
	assert_non_null(strstr(v.log, "cannot be made"));
	scep_verdict_clear(&v);
	the_fake->fail = 0;
	scep_enrol_free(env->enrol);
	env->enrol = NULL;
	crl_publish_free(pub);
}

/* Every check that needs the store while it fails with the_fake->fail: RETRY. */
static void
store_down(struct env *env, X509 *alice)
{
	struct scep_verdict v;
	struct scep_msg *msg;

	/* A renewal: the signer cannot be looked up. */
	v = decide(env,
		   make_msg(SCEP_MSG_RENEWALREQ, "tx-r", alice,
			    make_csr(env->alice_key, "alice", NULL), NULL),
		   SCEP_VERDICT_RETRY);
	assert_string_equal(v.text, "the certificate store is unavailable");
	assert_non_null(strstr(v.log, "look up the signer"));
	scep_verdict_clear(&v);
	/* A new request: the transaction cannot be looked up. */
	v = decide(env,
		   make_msg(SCEP_MSG_PKCSREQ, "tx-n", env->bob_self,
			    make_csr(env->bob_key, "bob", NULL), NULL),
		   SCEP_VERDICT_RETRY);
	scep_verdict_clear(&v);
	v = decide(env, make_msg(SCEP_MSG_CERTPOLL, "tx-a", env->alice_self, NULL, NULL),
		   SCEP_VERDICT_RETRY);
	scep_verdict_clear(&v);
	msg = make_msg(SCEP_MSG_GETCERT, "tx-g", alice, NULL, NULL);
	assert_non_null(msg->serial = ASN1_INTEGER_dup(X509_get0_serialNumber(alice)));
	v = decide(env, msg, SCEP_VERDICT_RETRY);
	scep_verdict_clear(&v);
}

/*
 * The store goes away: every check that needs it is a RETRY (HTTP 503, which clients
 * retry), never a permanent FAILURE; nothing is issued. Then it is back.
 */
static void
test_store_failing(void **state)
{
	struct env *env = *state;
	struct scep_verdict v;
	X509 *alice;

	alice = enrol_new(env, env->alice_key, env->alice_self, "alice", "tx-a");
	/* -EIO as SQLite fails, -ENOTCONN as PostgreSQL's handle does while it is away. */
	for (size_t i = 0; i < 2; i++) {
		the_fake->fail = i == 0 ? -EIO : -ENOTCONN;
		store_down(env, alice);
	}
	/* Only the one-time challenge cannot be used up. */
	the_fake->fail = 0;
	the_fake->fail_consume = -ENOTCONN;
	env->cfg->profiles[0].scep.challenge_mode = CONFIG_CHALLENGE_OTP;
	v = decide(env,
		   make_msg(SCEP_MSG_PKCSREQ, "tx-otp", env->bob_self,
			    make_csr(env->bob_key, "bob", NULL), "0123456789abcdef"),
		   SCEP_VERDICT_RETRY);
	assert_non_null(strstr(v.log, "use up the one-time challenge"));
	scep_verdict_clear(&v);
	the_fake->fail_consume = 0;
	/* Back: the renewal goes through. */
	v = decide(env,
		   make_msg(SCEP_MSG_RENEWALREQ, "tx-r", alice,
			    make_csr(env->alice_key, "alice", NULL), NULL),
		   SCEP_VERDICT_SUCCESS);
	scep_verdict_clear(&v);
	X509_free(alice);
}

/* What is not for the state machine is an error, not a verdict. */
static void
test_contract(void **state)
{
	struct env *env = *state;
	struct scep_verdict v = { .kind = SCEP_VERDICT_PENDING };
	struct scep_msg *msg;

	msg = make_msg(SCEP_MSG_GETCRL, "tx", env->alice_self, NULL, NULL);
	assert_int_equal(scep_enrol_decide(env->enrol, msg, "192.0.2.7", &v), -EINVAL);
	assert_int_equal(v.kind, SCEP_VERDICT_PENDING); /* untouched */
	msg->type = SCEP_MSG_PKCSREQ;                   /* without a CSR */
	assert_int_equal(scep_enrol_decide(env->enrol, msg, "192.0.2.7", &v), -EINVAL);
	msg->decrypted = false;
	assert_int_equal(scep_enrol_decide(env->enrol, msg, "192.0.2.7", &v), -EINVAL);
	scep_msg_free(msg);
	for (int k = SCEP_VERDICT_SUCCESS; k <= SCEP_VERDICT_RETRY; k++)
		assert_non_null(scep_verdict_kind_name(k));
	assert_null(scep_verdict_kind_name(SCEP_VERDICT_RETRY + 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_new_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_renewal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_webhook_validator, setup, teardown),
		cmocka_unit_test_setup_teardown(test_manual_and_poll, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_cert, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_crl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_failing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_contract, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
