/*
 * signer.h - certificate request + policy decision -> signed certificate.
 *
 * One signer per worker, built once from config_ca and the loaded CA key: version 3,
 * a serial per ca.serial ("random": 159 bits from the CSPRNG, positive; "file:PATH":
 * the next number from a locked, fsynced file, safe across workers and restarts;
 * "subject": the serialNumber attribute of the request's subject), notBefore = now -
 * ca.backdate, notAfter = notBefore + ca.days, the issuer from the CA certificate,
 * ca.extensions through OpenSSL's v3 configuration with issuer and subject in the
 * context, the SANs the policy decided, ca.digest. After signing it verifies the new
 * certificate with the CA public key: a faulty token must not hand out a broken one.
 * Knows nothing of HTTP, the store or libconfig.
 */
#ifndef SCEPD_SIGNER_H
#define SCEPD_SIGNER_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "scepd/config.h"

struct signer;

/* What to certify. subject and san come from the policy decision. */
struct issue_req {
	X509_REQ *csr; /* its public key is certified */
	const X509_NAME *subject;
	const GENERAL_NAMES *san; /* NULL: no subjectAltName */
};

/*
 * A signer for ca's key with ca's settings, except that extensions (a profile's, not
 * NULL) replace ca->extensions and days > 0 replaces ca->days. key and ca_cert are
 * borrowed: they must outlive the signer.
 */
int signer_new(const struct config_ca *ca, const struct config_pairs *extensions, int days,
	       EVP_PKEY *key, X509 *ca_cert, struct signer **ret);
void signer_free(struct signer *s);

/* 0 when the CSR is well formed and its self-signature verifies, else -EBADMSG. */
int signer_verify_csr(X509_REQ *csr);

/*
 * Returns 0 and the certificate, -EBADMSG when the request can't be certified (no
 * serialNumber for ca.serial = "subject", an unusable public key), -EIO when the key
 * operation failed (see keys_token_lost()) or the result did not verify.
 * For ca.serial = "file:PATH" also the errno of opening, locking, reading, writing or
 * syncing PATH, or -EUCLEAN when PATH holds no usable serial.
 * A serial that the store finds taken: call again, "random" and "file:" draw anew;
 * "subject" gives the same serial again, so for it a collision is final.
 * The certificate is for encoding (i2d, PEM, CMS): its public key is the request's
 * SubjectPublicKeyInfo copied as bytes and not decoded, so X509_get0_pubkey() gives
 * NULL on it; parse the DER again where the key object is needed.
 */
int signer_issue(struct signer *s, const struct issue_req *req, X509 **ret_cert);

#endif
