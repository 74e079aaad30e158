/*
 * inproc_bound.c - how many certificates per second this machine can make at most
 * with a server's configuration: scepd's own code doing exactly what one request
 * needs, in one process per core, without HTTP, store, log or audit.
 *
 * SYNOPSIS
 *	inproc_bound -c CONFIG -p PROFILE [--key-type rsa|ec] [--request FILE]
 *		     [--procs N] [--seconds S]
 *
 * DESCRIPTION
 *	Loads CONFIG as scepd does (config_load()) and, in each of N processes (default:
 *	the online cores), the keys through keys_load(): a key file, or a token through
 *	the pkcs11 engine with a session of its own, as a worker has. Then repeats for S
 *	seconds (default 3) what PROFILE does with one request, the bytes of FILE or,
 *	by default, one that each process makes before the clock starts (a PKCS#10
 *	request for CN=inproc-bound with an RSA-2048 or, --key-type ec, a P-256 key; for
 *	SCEP wrapped as a PKCSReq to the profile's RA, RSA-2048, AES-128, SHA-256, as
 *	bench/scep_load sends them, built by tests/tools/scep_build.c):
 *	  /csr profile   the body a client POSTs (DER): csr_body_decode() ->
 *	                 signer_verify_csr() -> policy_check_key() -> policy_check() ->
 *	                 signer_issue() with the profile's extensions and days -> i2d
 *	  SCEP profile   a PKCSReq pkiMessage (DER) encrypted to the profile's RA:
 *	                 scep_msg_parse() (the signature) -> scep_msg_decrypt() with
 *	                 the RA key (the CSR and its self-signature) -> the same policy
 *	                 and signer_issue() -> scep_msg_certrep() SUCCESS with the
 *	                 profile's chain, signed by the RA and encrypted to the signer
 *	The same message again and again: no challenge, replay or store lookup. What
 *	is left out is what a request costs beyond its cryptography and encoding, which
 *	is what the ratio server/bound shows.
 *
 * OUTPUT
 *	One line of key=value pairs:
 *	  procs=N seconds=S ops=COUNT per_second=R cpu_ms_per_op=C
 *	per_second is the sum of the processes' rates and cpu_ms_per_op their user +
 *	system time per operation, both over the timed phase only (after the keys are
 *	loaded, the request made and one operation done to warm up).
 *
 * EXIT STATUS
 *	0; 1 on a usage error, or when the configuration, keys or FILE do not work (the
 *	first failing step is named on stderr).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "bench_clock.h"
#include "scep_build.h"
#include "scepd/config.h"
#include "scepd/csr_body.h"
#include "scepd/keys.h"
#include "scepd/policy.h"
#include "scepd/scep_msg.h"
#include "scepd/signer.h"

struct bound_args {
	const char *config, *profile, *request, *key_type;
	int procs;
	double seconds;
};

/* One process's view: the configuration, its keys, the signer of the profile. */
struct bound {
	const struct scepd_config *cfg;
	const struct config_profile *p;
	struct keys *keys;
	struct signer *signer;
	STACK_OF(X509) *chain, *ra_chain; /* SCEP */
	X509 *ra_cert;
	EVP_PKEY *ra_key;
	const unsigned char *body; /* the request: FILE's bytes, or made (made_body) */
	size_t len;
	unsigned char *made_body;
};

static int
bound_fail(const char *what, int r)
{
	fprintf(stderr, "inproc_bound: %s: %s\n", what, r < 0 ? strerror(-r) : "failed");
	ERR_print_errors_fp(stderr);
	return -1;
}

/* The policy and the signature: what /csr and SCEP share. 0, or -1 said why. */
static int
bound_certify(const struct bound *b, X509_REQ *csr, X509 **ret_cert)
{
	bool scep = b->p->type == CONFIG_PROFILE_SCEP;
	struct policy_decision d = { 0 };
	char reason[256];
	int r = -1;

	if (policy_check_key(&b->p->keys, csr, reason, sizeof(reason)) < 0) {
		fprintf(stderr, "inproc_bound: the key policy refuses the request: %s\n", reason);
		return -1;
	}
	if (policy_check(scep ? &b->p->scep.subject : &b->p->csr.subject,
			 scep ? &b->p->scep.subject_alt_name : &b->p->csr.subject_alt_name, csr,
			 &(struct policy_vars){ .remote_addr = "127.0.0.1" }, &d) < 0) {
		bound_fail("policy_check", -ENOMEM);
		goto out;
	}
	if (d.verdict != POLICY_ALLOW) {
		fprintf(stderr, "inproc_bound: the policy does not allow the request: %s\n",
			d.reason);
		goto out;
	}
	if ((r = signer_issue(b->signer,
			      &(struct issue_req){ .csr = csr, .subject = d.subject, .san = d.san },
			      ret_cert)) < 0)
		r = bound_fail("signer_issue", r);
out:
	policy_decision_clear(&d);
	return r;
}

static int
bound_csr_once(const struct bound *b)
{
	X509_REQ *csr = NULL;
	X509 *cert = NULL;
	unsigned char *der = NULL;
	int r = -1;

	if (csr_body_decode(b->body, b->len, &csr) < 0) {
		bound_fail("csr_body_decode", -EBADMSG);
		goto out;
	}
	if (signer_verify_csr(csr) < 0) {
		bound_fail("signer_verify_csr", -EBADMSG);
		goto out;
	}
	if (bound_certify(b, csr, &cert) < 0)
		goto out;
	if (i2d_X509(cert, &der) <= 0) {
		bound_fail("i2d_X509", -ENOMEM);
		goto out;
	}
	r = 0;
out:
	OPENSSL_free(der);
	X509_free(cert);
	X509_REQ_free(csr);
	return r;
}

static int
bound_scep_once(const struct bound *b)
{
	struct scep_msg *msg = NULL;
	X509 *cert = NULL;
	unsigned char *der = NULL;
	size_t len = 0;
	int r = -1;

	if (scep_msg_parse(b->body, b->len, &msg) < 0 || msg->fail != SCEP_FAIL_NONE) {
		bound_fail("scep_msg_parse", -EBADMSG);
		goto out;
	}
	if (scep_msg_decrypt(msg, b->ra_cert, b->ra_key) < 0 || msg->fail != SCEP_FAIL_NONE ||
	    msg->csr == NULL) {
		bound_fail("scep_msg_decrypt (is FILE a PKCSReq to this profile's RA?)", -EBADMSG);
		goto out;
	}
	if (bound_certify(b, msg->csr, &cert) < 0)
		goto out;
	if (scep_msg_certrep(msg,
			     &(struct scep_certrep){ .status = SCEP_STATUS_SUCCESS,
						     .cert = cert,
						     .chain = b->chain },
			     b->ra_cert, b->ra_key, &der, &len) < 0) {
		bound_fail("scep_msg_certrep", -EIO);
		goto out;
	}
	r = 0;
out:
	free(der);
	X509_free(cert);
	scep_msg_free(msg);
	return r;
}

static void
bound_clear(struct bound *b)
{
	free(b->made_body);
	signer_free(b->signer);
	sk_X509_pop_free(b->chain, X509_free);
	sk_X509_pop_free(b->ra_chain, X509_free);
	keys_free(b->keys);
}

/* The keys and signer of one process, made after fork() as a worker makes them. */
static int
bound_open(struct bound *b)
{
	const struct config_ca *ca = config_profile_ca(b->cfg, b->p);
	struct keys_error kerr = { 0 };
	X509 *ca_next = NULL, *ra_next = NULL;
	size_t profile = (size_t)(b->p - b->cfg->profiles);
	int r;

	if ((r = keys_load(b->cfg, &b->keys, &kerr)) < 0) {
		fprintf(stderr, "inproc_bound: keys: %s\n", kerr.message);
		return -1;
	}
	if ((r = signer_new(ca, b->p->extensions_set ? &b->p->extensions : NULL, b->p->days,
			    keys_get0_ca_key(b->keys, b->p->ca),
			    keys_get0_ca_cert(b->keys, b->p->ca), &b->signer)) < 0)
		return bound_fail("signer_new", r);
	if (b->p->type != CONFIG_PROFILE_SCEP)
		return 0;
	if (scep_msg_init() < 0)
		fprintf(stderr, "inproc_bound: no DES (the legacy provider is missing)\n");
	if ((r = keys_get1_certs(b->keys, profile, &b->chain, &b->ra_chain, &ca_next, &ra_next)) <
	    0)
		return bound_fail("keys_get1_certs", r);
	X509_free(ca_next);
	X509_free(ra_next);
	keys_get0_ra(b->keys, profile, &b->ra_cert, &b->ra_key);
	return 0;
}

/* The request of one process: a CSR, wrapped as a PKCSReq for SCEP. 0, or -1. */
static int
bound_make_request(struct bound *b, const char *key_type)
{
	bool ec = strcmp(key_type, "ec") == 0, scep = b->p->type == CONFIG_PROFILE_SCEP;
	EVP_PKEY *key = ec && !scep ? EVP_EC_gen("P-256") : EVP_RSA_gen(2048);
	X509_NAME *name = X509_NAME_new();
	X509_REQ *csr = NULL;
	X509 *self = NULL;
	unsigned char *der = NULL, nonce[16];
	char txid[64];
	int len, r = -1;

	if (key == NULL || name == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)"inproc-bound", -1, -1, 0) ||
	    scep_build_csr(key, name, NULL, NULL, &csr) < 0 ||
	    (len = i2d_X509_REQ(csr, &der)) <= 0) {
		bound_fail("making the request", -ENOMEM);
		goto out;
	}
	if (!scep) {
		b->made_body = der;
		b->len = (size_t)len;
		der = NULL;
		r = 0;
		goto out;
	}
	if (scep_build_self_signed(key, name, &self) < 0 ||
	    scep_build_txid(key, txid, sizeof(txid)) < 0 || RAND_bytes(nonce, sizeof(nonce)) != 1 ||
	    scep_build_request(&(struct scep_build_req){ .type = 19,
							 .txid = txid,
							 .nonce = nonce,
							 .nonce_len = sizeof(nonce),
							 .md = EVP_sha256(),
							 .cipher = EVP_aes_128_cbc(),
							 .signer_cert = self,
							 .signer_key = key,
							 .recipient = b->ra_cert,
							 .content = der,
							 .content_len = (size_t)len },
			       &b->made_body, &b->len) < 0) {
		bound_fail("making the pkiMessage", -ENOMEM);
		goto out;
	}
	r = 0;
out:
	b->body = b->made_body != NULL ? b->made_body : b->body;
	OPENSSL_free(der);
	X509_free(self);
	X509_REQ_free(csr);
	X509_NAME_free(name);
	EVP_PKEY_free(key);
	return r;
}

/* What one process did in its timed phase. */
struct bound_count {
	long ops;
	double seconds, cpu_seconds;
};

static double
bound_cpu_self(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* One process: as many operations as fit in a->seconds; its count on fd. Exit status. */
static int
bound_child(struct bound *b, const struct bound_args *a, int fd)
{
	int (*once)(const struct bound *) =
		b->p->type == CONFIG_PROFILE_SCEP ? bound_scep_once : bound_csr_once;
	struct bound_count c = { 0 };
	double start, cpu;

	if (bound_open(b) < 0 || (a->request == NULL && bound_make_request(b, a->key_type) < 0) ||
	    once(b) < 0) /* the first one warms up, and checks */
		goto fail;
	start = bench_now();
	cpu = bound_cpu_self();
	do {
		for (int i = 0; i < 8; i++)
			if (once(b) < 0)
				goto fail;
		c.ops += 8;
	} while (bench_now() - start < a->seconds);
	c.seconds = bench_now() - start;
	c.cpu_seconds = bound_cpu_self() - cpu;
	bound_clear(b);
	return write(fd, &c, sizeof(c)) == (ssize_t)sizeof(c) ? 0 : 1;
fail:
	bound_clear(b);
	return 1;
}

/* a->procs children at once; the sum of their rates and CPU. 0, or -1 when one failed. */
static int
bound_run(struct bound *b, const struct bound_args *a, struct bound_count *ret_total,
	  double *ret_rate)
{
	struct bound_count c;
	int fds[2], status, failed = 0;

	if (pipe(fds) < 0)
		return -1;
	for (int i = 0; i < a->procs; i++) {
		pid_t pid = fork();

		if (pid < 0)
			return -1;
		if (pid == 0) {
			close(fds[0]);
			_exit(bound_child(b, a, fds[1]));
		}
	}
	close(fds[1]);
	while (read(fds[0], &c, sizeof(c)) == (ssize_t)sizeof(c)) {
		ret_total->ops += c.ops;
		ret_total->cpu_seconds += c.cpu_seconds;
		ret_total->seconds =
			c.seconds > ret_total->seconds ? c.seconds : ret_total->seconds;
		*ret_rate += (double)c.ops / c.seconds;
	}
	close(fds[0]);
	while (wait(&status) > 0)
		failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	return failed ? -1 : 0;
}

/* The whole of path, malloc()ed. 0, or -1. */
static int
bound_read_file(const char *path, unsigned char **ret, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	unsigned char *buf = NULL;
	long len;
	int r = -1;

	if (f == NULL || fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) <= 0 ||
	    fseek(f, 0, SEEK_SET) < 0 || (buf = malloc((size_t)len)) == NULL ||
	    fread(buf, 1, (size_t)len, f) != (size_t)len)
		goto out;
	*ret = buf;
	*ret_len = (size_t)len;
	buf = NULL;
	r = 0;
out:
	free(buf);
	if (f != NULL)
		fclose(f);
	return r;
}

static int
bound_usage(void)
{
	fprintf(stderr, "usage: inproc_bound -c CONFIG -p PROFILE [--key-type rsa|ec] "
			"[--request FILE] [--procs N] [--seconds S]\n");
	return 1;
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "profile", required_argument, NULL, 'p' },
		{ "request", required_argument, NULL, 'r' },
		{ "key-type", required_argument, NULL, 'k' },
		{ "procs", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct bound_args a = { .procs = (int)sysconf(_SC_NPROCESSORS_ONLN),
				.seconds = 3,
				.key_type = "rsa" };
	struct config_errors errs = { 0 };
	struct scepd_config *cfg = NULL;
	struct bound_count total = { 0 };
	struct bound b = { 0 };
	unsigned char *body = NULL;
	double rate = 0;
	int c, status = 1;

	while ((c = getopt_long(argc, argv, "c:p:", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			a.config = optarg;
			break;
		case 'p':
			a.profile = optarg;
			break;
		case 'r':
			a.request = optarg;
			break;
		case 'k':
			a.key_type = optarg;
			break;
		case 'n':
			a.procs = atoi(optarg);
			break;
		case 's':
			a.seconds = atof(optarg);
			break;
		default:
			return bound_usage();
		}
	}
	if (optind != argc || a.config == NULL || a.profile == NULL || a.procs < 1 ||
	    a.seconds <= 0 || (strcmp(a.key_type, "rsa") != 0 && strcmp(a.key_type, "ec") != 0))
		return bound_usage();
	if (config_load(a.config, &cfg, &errs) < 0) {
		for (size_t i = 0; i < errs.n; i++)
			fprintf(stderr, "inproc_bound: %s\n", errs.v[i]);
		goto out;
	}
	b.cfg = cfg;
	if ((b.p = config_profile_by_name(cfg, a.profile)) == NULL) {
		fprintf(stderr, "inproc_bound: %s: no profile of that name\n", a.profile);
		goto out;
	}
	if (a.request != NULL && bound_read_file(a.request, &body, &b.len) < 0) {
		fprintf(stderr, "inproc_bound: %s: cannot read it\n", a.request);
		goto out;
	}
	b.body = body;
	if (bound_run(&b, &a, &total, &rate) < 0 || total.ops == 0) {
		fprintf(stderr, "inproc_bound: a process failed\n");
		goto out;
	}
	printf("procs=%d seconds=%.2f ops=%ld per_second=%.1f cpu_ms_per_op=%.3f\n", a.procs,
	       total.seconds, total.ops, rate, total.cpu_seconds * 1e3 / (double)total.ops);
	status = 0;
out:
	free(body);
	config_errors_clear(&errs);
	config_free(cfg);
	return status;
}
