/*
 * ocsp_resp.c - the OCSP responder's protocol core (RFC 6960): OCSPRequest DER in,
 * OCSPResponse DER out, for one CA.
 *
 * SYNOPSIS
 *	#include "scepd/ocsp_resp.h"
 *
 *	ocsp_resp_decode_get(path_tail, &der, &len)
 *	ocsp_resp_prepare(&params, der, len, &prep)
 *	ocsp_resp_sign(prep, signer, key, &der, &len)
 *	ocsp_resp_error(status, &der, &len)
 *
 * DESCRIPTION
 *	ocsp_resp_prepare() decodes the whole input as one OCSPRequest (nothing may follow
 *	it) with 1 to OCSP_RESP_MAX_IDS CertIDs and at most one nonce extension, whose
 *	nonce is 1 to OCSP_RESP_NONCE_MAX octets (RFC 8954 2.1; a nonce not wrapped in its
 *	OCTET STRING, as some old clients send it, counts as a whole); anything else is
 *	malformedRequest. A requestor signature is not checked: the answers are public.
 *	Other request extensions, single request extensions included, are ignored.
 *
 *	Each CertID is answered with itself, in the order asked. It is this CA's when its
 *	hashAlgorithm is SHA-1 or SHA-256 and issuerNameHash and issuerKeyHash are that
 *	hash of the CA's subject name (DER) and public key (the BIT STRING's contents);
 *	then a positive serial of at most 20 octets (RFC 5280 4.1.2.2) is looked up, in
 *	the store's form. Any other CertID is "unknown" without a lookup: we cannot say
 *	anything about it (RFC 6960 2.2). One failed lookup makes the answer tryLater;
 *	a status the lookup does not know does too (never "good" by mistake), and a
 *	revocation reason outside RFC 5280's CRLReason is left out.
 *
 *	thisUpdate is the time of ocsp_resp_prepare(), nextUpdate thisUpdate plus
 *	next_update_secs when that is not 0. The nonce extension is echoed as received.
 *
 *	ocsp_resp_sign() is the only private-key operation: responderID byKey,
 *	producedAt now, SHA-256 (no digest for Ed25519 and Ed448), and the signer's
 *	certificate in certs, the CA's too when it signs itself (RFC 6960 4.2.2.2 requires
 *	a delegated responder's; OpenSSL clients need the CA's unless told the issuer).
 *	OpenSSL checks that the key matches the signer's certificate first.
 *
 *	ocsp_resp_decode_get() undoes RFC 6960 A.1's URL and base64 encodings. Only the
 *	base64 alphabet and '=' may remain after the percent escapes (no whitespace, no
 *	NUL); a missing '=' padding is added.
 *
 * ERRORS
 *	-ENOMEM, and -EIO from ocsp_resp_sign() when the key does not sign. A request we
 *	refuse is not an error: the prepared answer carries its responseStatus.
 *
 *	No HTTP, store, configuration or key loading here; libcrypto only; never logs.
 */
#include "scepd/ocsp_resp.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/objects.h>

#include "scepd/encoding.h"

#define OCSP_RESP_SERIAL_MAX 20 /* octets, RFC 5280 4.1.2.2 */

struct ocsp_resp_prep {
	int status;            /* OCSP_RESPONSE_STATUS_* */
	OCSP_BASICRESP *basic; /* SUCCESSFUL: the answer to sign */
	bool nonce;            /* the request carried one */
	time_t this_update;
};

/* What the CA's CertIDs hash: one per algorithm we accept, without a serial. */
struct ocsp_resp_issuer {
	OCSP_CERTID *ids[2];
};

static int
ocsp_resp_der(OCSP_RESPONSE *resp, unsigned char **ret_der, size_t *ret_len)
{
	unsigned char *der, *p;
	int n;

	if ((n = i2d_OCSP_RESPONSE(resp, NULL)) <= 0 || (der = malloc((size_t)n)) == NULL)
		return -ENOMEM;
	p = der;
	if (i2d_OCSP_RESPONSE(resp, &p) != n) {
		free(der);
		return -ENOMEM;
	}
	*ret_der = der;
	*ret_len = (size_t)n;
	return 0;
}

int
ocsp_resp_error(int status, unsigned char **ret_der, size_t *ret_len)
{
	OCSP_RESPONSE *resp;
	int r;

	switch (status) {
	case OCSP_RESPONSE_STATUS_MALFORMEDREQUEST:
	case OCSP_RESPONSE_STATUS_INTERNALERROR:
	case OCSP_RESPONSE_STATUS_TRYLATER:
	case OCSP_RESPONSE_STATUS_SIGREQUIRED:
	case OCSP_RESPONSE_STATUS_UNAUTHORIZED:
		break;
	default:
		return -EINVAL;
	}
	if ((resp = OCSP_response_create(status, NULL)) == NULL)
		return -ENOMEM;
	r = ocsp_resp_der(resp, ret_der, ret_len);
	OCSP_RESPONSE_free(resp);
	return r;
}

static void
ocsp_resp_issuer_clear(struct ocsp_resp_issuer *issuer)
{
	for (size_t i = 0; i < sizeof(issuer->ids) / sizeof(issuer->ids[0]); i++) {
		OCSP_CERTID_free(issuer->ids[i]);
		issuer->ids[i] = NULL;
	}
}

static int
ocsp_resp_issuer_init(struct ocsp_resp_issuer *issuer, X509 *ca)
{
	const EVP_MD *mds[2] = { EVP_sha1(), EVP_sha256() };

	for (size_t i = 0; i < sizeof(mds) / sizeof(mds[0]); i++)
		if ((issuer->ids[i] = OCSP_cert_id_new(mds[i], X509_get_subject_name(ca),
						       X509_get0_pubkey_bitstr(ca), NULL)) ==
		    NULL) {
			ocsp_resp_issuer_clear(issuer);
			return -ENOMEM;
		}
	return 0;
}

static bool
ocsp_resp_issuer_match(const struct ocsp_resp_issuer *issuer, const OCSP_CERTID *id)
{
	for (size_t i = 0; i < sizeof(issuer->ids) / sizeof(issuer->ids[0]); i++)
		if (OCSP_id_issuer_cmp(issuer->ids[i], id) == 0)
			return true;
	return false;
}

/*
 * The nonce extension: none, or one whose nonce is 1 to OCSP_RESP_NONCE_MAX octets.
 * true and *ret_ext (NULL for none, borrowed), or false: malformedRequest.
 */
static bool
ocsp_resp_nonce(OCSP_REQUEST *req, X509_EXTENSION **ret_ext)
{
	ASN1_OCTET_STRING *value, *inner;
	const unsigned char *p;
	X509_EXTENSION *ext;
	int i, len;

	if ((i = OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, -1)) < 0) {
		*ret_ext = NULL;
		return true;
	}
	if (OCSP_REQUEST_get_ext_by_NID(req, NID_id_pkix_OCSP_Nonce, i) >= 0)
		return false;
	ext = OCSP_REQUEST_get_ext(req, i);
	value = X509_EXTENSION_get_data(ext);
	p = ASN1_STRING_get0_data(value);
	len = ASN1_STRING_length(value);
	if ((inner = d2i_ASN1_OCTET_STRING(NULL, &p, len)) != NULL &&
	    p == ASN1_STRING_get0_data(value) + len)
		len = ASN1_STRING_length(inner);
	ASN1_OCTET_STRING_free(inner);
	if (len < 1 || len > OCSP_RESP_NONCE_MAX)
		return false;
	*ret_ext = ext;
	return true;
}

/* The status of one CertID: 0, or the lookup's negative errno. */
static int
ocsp_resp_lookup(const struct ocsp_resp_params *params, const struct ocsp_resp_issuer *issuer,
		 OCSP_CERTID *id, struct ocsp_resp_status *ret)
{
	struct ocsp_resp_status st = { .status = OCSP_RESP_CERT_UNKNOWN, .reason = -1 };
	ASN1_INTEGER *serial = NULL;
	char *hex = NULL;
	int r;

	(void)OCSP_id_get0_info(NULL, NULL, NULL, &serial, id);
	if (!ocsp_resp_issuer_match(issuer, id) || serial == NULL ||
	    ASN1_STRING_type(serial) != V_ASN1_INTEGER || ASN1_STRING_length(serial) < 1 ||
	    ASN1_STRING_length(serial) > OCSP_RESP_SERIAL_MAX) {
		*ret = st;
		return 0;
	}
	if ((r = encoding_hex_serial(serial, &hex)) < 0)
		return r;
	r = params->lookup(hex, &st, params->userdata);
	free(hex);
	if (r < 0)
		return r;
	switch (st.status) {
	case OCSP_RESP_CERT_GOOD:
	case OCSP_RESP_CERT_UNKNOWN:
		break;
	case OCSP_RESP_CERT_REVOKED:
		if (st.reason < 0 || st.reason > 10 || st.reason == 7) /* 7 is not used */
			st.reason = -1;
		break;
	default:
		return -EINVAL;
	}
	*ret = st;
	return 0;
}

static int
ocsp_resp_add(OCSP_BASICRESP *basic, OCSP_CERTID *id, const struct ocsp_resp_status *st,
	      ASN1_TIME *this_update, ASN1_TIME *next_update)
{
	ASN1_TIME *revoked_at = NULL;
	int status, r = -ENOMEM;

	switch (st->status) {
	case OCSP_RESP_CERT_GOOD:
		status = V_OCSP_CERTSTATUS_GOOD;
		break;
	case OCSP_RESP_CERT_REVOKED:
		status = V_OCSP_CERTSTATUS_REVOKED;
		if ((revoked_at = ASN1_TIME_set(NULL, st->revoked_at)) == NULL)
			goto out;
		break;
	default:
		status = V_OCSP_CERTSTATUS_UNKNOWN;
		break;
	}
	if (OCSP_basic_add1_status(basic, id, status,
				   revoked_at != NULL ? st->reason : OCSP_REVOKED_STATUS_NOSTATUS,
				   revoked_at, this_update, next_update) == NULL)
		goto out;
	r = 0;
out:
	ASN1_TIME_free(revoked_at);
	return r;
}

/* The answer to req into prep: 0 with prep->status set, or -ENOMEM. */
static int
ocsp_resp_answer(struct ocsp_resp_prep *prep, const struct ocsp_resp_params *params,
		 OCSP_REQUEST *req)
{
	struct ocsp_resp_issuer issuer = { { NULL } };
	ASN1_TIME *this_update = NULL, *next_update = NULL;
	OCSP_BASICRESP *basic = NULL;
	X509_EXTENSION *nonce;
	time_t now = time(NULL);
	int n, r;

	n = OCSP_request_onereq_count(req);
	if (n < 1 || n > OCSP_RESP_MAX_IDS || !ocsp_resp_nonce(req, &nonce)) {
		prep->status = OCSP_RESPONSE_STATUS_MALFORMEDREQUEST;
		return 0;
	}
	if ((r = ocsp_resp_issuer_init(&issuer, params->ca)) < 0)
		goto out;
	r = -ENOMEM;
	if ((basic = OCSP_BASICRESP_new()) == NULL ||
	    (this_update = ASN1_TIME_set(NULL, now)) == NULL ||
	    (params->next_update_secs != 0 &&
	     (next_update = ASN1_TIME_adj(NULL, now, 0, params->next_update_secs)) == NULL))
		goto out;
	for (int i = 0; i < n; i++) {
		OCSP_CERTID *id = OCSP_onereq_get0_id(OCSP_request_onereq_get0(req, i));
		struct ocsp_resp_status st;

		if (ocsp_resp_lookup(params, &issuer, id, &st) < 0) {
			prep->status = OCSP_RESPONSE_STATUS_TRYLATER;
			r = 0;
			goto out;
		}
		if ((r = ocsp_resp_add(basic, id, &st, this_update, next_update)) < 0)
			goto out;
	}
	r = -ENOMEM;
	if (nonce != NULL && OCSP_BASICRESP_add_ext(basic, nonce, -1) != 1)
		goto out;
	prep->basic = basic;
	basic = NULL; /* prep owns it now */
	prep->nonce = nonce != NULL;
	prep->this_update = now;
	prep->status = OCSP_RESPONSE_STATUS_SUCCESSFUL;
	r = 0;
out:
	ocsp_resp_issuer_clear(&issuer);
	ASN1_TIME_free(next_update);
	ASN1_TIME_free(this_update);
	OCSP_BASICRESP_free(basic);
	return r;
}

int
ocsp_resp_prepare(const struct ocsp_resp_params *params, const unsigned char *der, size_t len,
		  struct ocsp_resp_prep **ret_prep)
{
	struct ocsp_resp_prep *prep;
	OCSP_REQUEST *req = NULL;
	const unsigned char *p = der;
	int r = 0;

	if ((prep = calloc(1, sizeof(*prep))) == NULL)
		return -ENOMEM;
	prep->status = OCSP_RESPONSE_STATUS_MALFORMEDREQUEST; /* unless it decodes */
	if (der != NULL && len > 0 && len <= LONG_MAX &&
	    (req = d2i_OCSP_REQUEST(NULL, &p, (long)len)) != NULL && p == der + len)
		r = ocsp_resp_answer(prep, params, req);
	OCSP_REQUEST_free(req);
	if (r < 0) {
		ocsp_resp_prep_free(prep);
		return r;
	}
	*ret_prep = prep;
	return 0;
}

int
ocsp_resp_prep_status(const struct ocsp_resp_prep *prep)
{
	return prep->status;
}

bool
ocsp_resp_prep_reusable(const struct ocsp_resp_prep *prep)
{
	return prep->status == OCSP_RESPONSE_STATUS_SUCCESSFUL && !prep->nonce;
}

time_t
ocsp_resp_prep_this_update(const struct ocsp_resp_prep *prep)
{
	return prep->this_update;
}

int
ocsp_resp_sign(struct ocsp_resp_prep *prep, X509 *signer, EVP_PKEY *key, unsigned char **ret_der,
	       size_t *ret_len)
{
	OCSP_RESPONSE *resp = NULL;
	EVP_MD_CTX *ctx = NULL;
	const EVP_MD *md = EVP_sha256();
	/*
	 * The signer's certificate goes in even when it is the CA's: OpenSSL's
	 * OCSP_basic_verify() looks for the signer there and in its certs argument, not
	 * in the trust store, so `openssl ocsp` without -issuer or -verify_other could
	 * not verify a response without it ("signer certificate not found").
	 */
	unsigned long flags = OCSP_RESPID_KEY;
	int r;

	if (prep->status != OCSP_RESPONSE_STATUS_SUCCESSFUL)
		return ocsp_resp_error(prep->status, ret_der, ret_len);
	if (signer == NULL || key == NULL)
		return -EINVAL;
	if (EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 || EVP_PKEY_get_id(key) == EVP_PKEY_ED448)
		md = NULL;
	if ((ctx = EVP_MD_CTX_new()) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if (EVP_DigestSignInit(ctx, NULL, md, NULL, key) != 1 ||
	    OCSP_basic_sign_ctx(prep->basic, signer, ctx, NULL, flags) != 1) {
		r = -EIO;
		goto out;
	}
	if ((resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, prep->basic)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	r = ocsp_resp_der(resp, ret_der, ret_len);
out:
	OCSP_RESPONSE_free(resp);
	EVP_MD_CTX_free(ctx);
	return r;
}

void
ocsp_resp_prep_free(struct ocsp_resp_prep *prep)
{
	if (prep == NULL)
		return;
	OCSP_BASICRESP_free(prep->basic);
	free(prep);
}

static bool
ocsp_resp_base64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/' || c == '=';
}

int
ocsp_resp_decode_get(const char *path_tail, unsigned char **ret_der, size_t *ret_len)
{
	size_t n = strnlen(path_tail, OCSP_RESP_GET_MAX + 1), j = 0;
	char *text;
	int r = -EBADMSG;

	if (n > OCSP_RESP_GET_MAX)
		return -EBADMSG;
	if ((text = malloc(n + 4)) == NULL) /* room for the padding */
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		char c = path_tail[i];

		if (c == '%') {
			int hi = encoding_hex_digit(path_tail[i + 1]), lo;

			/* path_tail[i + 2] is read only when [i + 1] was a digit, not the NUL. */
			if (hi < 0 || (lo = encoding_hex_digit(path_tail[i + 2])) < 0)
				goto out;
			c = (char)(hi << 4 | lo);
			i += 2;
		}
		if (c == ' ')
			c = '+';
		if (!ocsp_resp_base64_char(c))
			goto out;
		text[j++] = c;
	}
	if (j % 4 != 0 && memchr(text, '=', j) == NULL)
		while (j % 4 != 0)
			text[j++] = '=';
	r = encoding_base64_decode(text, j, ret_der, ret_len);
out:
	free(text);
	return r;
}
