/*
 * policy.h - what a certificate request may get: a decision, not an error.
 *
 * policy_check() applies a subject { request; set } and subject_alt_name { request;
 * set } pair of the configuration (scep.* or csr.*) to a request: `request` entries
 * copy fields of the request ("*" all of them, ("CN", 1) at most one CN), `set`
 * entries add fixed values with %{REMOTE_ADDR} and %{REMOTE_USER} expanded. An empty
 * resulting subject without any SAN is refused. Knows nothing of HTTP or keys.
 */
#ifndef SCEPD_POLICY_H
#define SCEPD_POLICY_H

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "scepd/config.h"

enum policy_verdict {
	POLICY_ALLOW,
	POLICY_DENY,
	POLICY_PENDING, /* manual approval (SCEP) */
};

struct policy_vars {
	const char *remote_addr; /* %{REMOTE_ADDR} */
	const char *
		remote_user; /* %{REMOTE_USER}: /csr token name, SCEP challenge owner; NULL = unset */
};

/* Room for policy_decision.dropped, with its NUL. */
#define POLICY_DROPPED_MAX 512

struct policy_decision {
	enum policy_verdict verdict;
	char reason[256]; /* DENY: which rule refused, one line for client and log */
	/*
	 * ALLOW: what the request asked for that the policy left out, "" for nothing:
	 * "subject=OU; subjectAltName=DNS:www.example.com; subjectAltName=IP:192.0.2.1",
	 * subject fields by name (values are not repeated), subjectAltName entries with
	 * their value ("subjectAltName=unreadable" when the extension cannot be parsed).
	 * Printable ASCII only: a byte of the request outside 0x21..0x7e, and ';', ',',
	 * '\', as \xHH; cut short with "; ..." when it does not fit. Safe for a log line
	 * and an HTTP header.
	 */
	char dropped[POLICY_DROPPED_MAX];
	X509_NAME *subject; /* ALLOW: the subject of the certificate */
	GENERAL_NAMES *san; /* ALLOW: its subjectAltName, NULL for none */
};

/*
 * Returns 0 with *ret filled (ALLOW or DENY), or a negative errno when it could not
 * decide (-ENOMEM). The CSR's signature is not checked here (signer_verify_csr()).
 */
int policy_check(const struct config_name_policy *subject,
		 const struct config_name_policy *subject_alt_name, X509_REQ *csr,
		 const struct policy_vars *vars, struct policy_decision *ret);

/*
 * policy_check() for a request signed by signer, a certificate of this CA: ALLOW only
 * when it renews signer's identity, that is the subject the policy gives equals
 * signer's, and every subjectAltName the request asks for (and every one the policy
 * would give) is already in signer. A refusal names the rule that failed. 0 with *ret
 * filled, or a negative errno (-EINVAL, -ENOMEM).
 */
int policy_check_renewal(const struct config_name_policy *subject,
			 const struct config_name_policy *subject_alt_name, X509_REQ *csr,
			 const struct policy_vars *vars, X509 *signer, struct policy_decision *ret);

/* Frees what a decision holds and zeroes it. */
/*
 * Whether the request's public key is one keys allows: RSA of at least rsa_min_bits,
 * or EC on one of ec_curves; any other type is refused. 0, or -EPERM with the rule
 * that refused it in reason (one line for the client and the log); -EBADMSG when the
 * key cannot be read.
 */
int policy_check_key(const struct config_key_policy *keys, X509_REQ *csr, char *reason,
		     size_t size);

void policy_decision_clear(struct policy_decision *d);

#endif
