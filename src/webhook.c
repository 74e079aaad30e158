/*
 * webhook.c - one question to a challenge webhook (scep.challenge.mode = "webhook"):
 * build the JSON, sign it, POST it with libcurl, read the answer.
 *
 *	The body has the fields step-ca sends with a SCEPCHALLENGE webhook (timestamp,
 *	provisionerName, scepChallenge, scepTransactionID, x509CertificateRequest with
 *	raw, publicKey, publicKeyAlgorithm, subject and SANs), so that a service written
 *	for step-ca reads it unchanged, plus clientAddress. jansson writes it; it is
 *	signed as sent: X-Smallstep-Signature is the hex HMAC-SHA256 of exactly those
 *	bytes under the key (step-ca: the base64-decoded secret).
 *
 *	The transfer: TLS verified against the configured bundle (or the system's), no
 *	redirects, http and https only, no proxy from the environment, the timeout over
 *	the whole call, an answer of at most WEBHOOK_MAX_RESPONSE bytes (beyond: the
 *	call fails, it is not read truncated), no signals (CURLOPT_NOSIGNAL: worker
 *	threads). One easy handle per call, so that threads share nothing but the
 *	immutable struct webhook.
 *
 *	The answer allows when it is a JSON object whose "allow" is true; false is a
 *	refusal; anything else (another status than 2xx, not JSON, allow missing or not
 *	a boolean) is an error, not a refusal: the caller cannot know what was meant.
 *
 * Never here: logging, the challenge or the key in an error text, decisions about
 * what an error means for the client (scep_http.c decides that).
 */
#include "scepd/webhook.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#ifndef SCEPD_VERSION /* CMake defines it; the fuzz build (scripts/fuzz.sh) does not */
#define SCEPD_VERSION "0"
#endif

struct webhook {
	char *url;
	char *host; /* for logs */
	unsigned char *key;
	size_t key_len;
	char *id;
	char *ca_file; /* NULL: libcurl's default bundle */
	int timeout;
};

/* An answer as it arrives, bounded. */
struct webhook_body {
	char *buf;
	size_t len;
	bool too_big;
};

int
webhook_global_init(void)
{
	json_object_seed(0); /* jansson's hash seed, drawn now rather than racing in threads */
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -EIO;
}

/* The host of url, through libcurl's own parser (the one that will connect). */
static int
webhook_parse_host(const char *url, char **ret_host)
{
	CURLU *u = curl_url();
	char *host = NULL;
	int r = -EINVAL;

	if (u == NULL)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		if ((*ret_host = strdup(host)) != NULL)
			r = 0;
		else
			r = -ENOMEM;
	}
	curl_free(host);
	curl_url_cleanup(u);
	return r;
}

/* A header value must stay one line. */
static bool
webhook_header_safe(const char *v)
{
	for (; *v != '\0'; v++)
		if (!isprint((unsigned char)*v))
			return false;
	return true;
}

int
webhook_new(const struct webhook_params *p, struct webhook **ret)
{
	struct webhook *wh;
	int r = -ENOMEM;

	if (p->url == NULL || p->id == NULL || !webhook_header_safe(p->id) || p->key_len == 0 ||
	    p->timeout <= 0)
		return -EINVAL;
	if ((wh = calloc(1, sizeof(*wh))) == NULL)
		return -ENOMEM;
	wh->timeout = p->timeout;
	wh->key_len = p->key_len;
	if ((wh->url = strdup(p->url)) == NULL || (wh->id = strdup(p->id)) == NULL ||
	    (p->ca_file != NULL && (wh->ca_file = strdup(p->ca_file)) == NULL) ||
	    (wh->key = OPENSSL_memdup(p->key, p->key_len)) == NULL)
		goto out;
	if ((r = webhook_parse_host(p->url, &wh->host)) < 0)
		goto out;
	*ret = wh;
	wh = NULL; /* the caller owns it now */
	r = 0;
out:
	webhook_free(wh);
	return r;
}

void
webhook_free(struct webhook *wh)
{
	if (wh == NULL)
		return;
	free(wh->url);
	free(wh->host);
	if (wh->key != NULL)
		OPENSSL_clear_free(wh->key, wh->key_len);
	free(wh->id);
	free(wh->ca_file);
	free(wh);
}

const char *
webhook_get0_host(const struct webhook *wh)
{
	return wh->host;
}

/* Request body: step-ca's field names */

/* json_object_set_new() that reports failure (it frees value either way). */
static int
webhook_json_set(json_t *obj, const char *name, json_t *value)
{
	return value != NULL && json_object_set_new(obj, name, value) == 0 ? 0 : -ENOMEM;
}

/* Bytes as standard base64 (Go's []byte in JSON). */
static json_t *
webhook_json_base64(const unsigned char *bytes, size_t len)
{
	size_t size = 4 * ((len + 2) / 3) + 1;
	unsigned char *text;
	json_t *v = NULL;
	int n;

	if (len > (size_t)INT_MAX / 2 || (text = malloc(size)) == NULL)
		return NULL;
	if ((n = EVP_EncodeBlock(text, bytes, (int)len)) >= 0)
		v = json_stringn((const char *)text, (size_t)n);
	free(text);
	return v;
}

/*
 * A value of the request as a JSON string: NULL when it is not UTF-8 or holds a NUL
 * ("good.example\0.evil.example" would read differently in each service); the raw DER
 * still carries it.
 */
static json_t *
webhook_json_text(const char *text, size_t len)
{
	if (memchr(text, '\0', len) != NULL)
		return NULL;
	return json_stringn(text, len);
}

/* Appends text to the array named name in obj, creating it. Not UTF-8, a NUL: skipped. */
static int
webhook_json_append(json_t *obj, const char *name, const char *text, size_t len)
{
	json_t *arr = json_object_get(obj, name), *v;

	if ((v = webhook_json_text(text, len)) == NULL)
		return 0;
	if (arr == NULL) {
		if ((arr = json_array()) == NULL || json_object_set_new(obj, name, arr) < 0) {
			json_decref(v);
			return -ENOMEM;
		}
	}
	return json_array_append_new(arr, v) == 0 ? 0 : -ENOMEM;
}

/* x509util's Subject: commonName and serialNumber as strings, the others as arrays. */
static int
webhook_json_subject(const X509_NAME *name, json_t **ret)
{
	static const struct {
		int nid;
		const char *field;
		bool single;
	} fields[] = {
		{ NID_countryName, "country", false },
		{ NID_organizationName, "organization", false },
		{ NID_organizationalUnitName, "organizationalUnit", false },
		{ NID_localityName, "locality", false },
		{ NID_stateOrProvinceName, "province", false },
		{ NID_streetAddress, "streetAddress", false },
		{ NID_postalCode, "postalCode", false },
		{ NID_serialNumber, "serialNumber", true },
		{ NID_commonName, "commonName", true },
	};
	json_t *subject = json_object();
	int r = 0;

	if (subject == NULL)
		return -ENOMEM;
	for (int i = 0; r == 0 && i < X509_NAME_entry_count(name); i++) {
		const X509_NAME_ENTRY *ne = X509_NAME_get_entry(name, i);
		int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(ne));
		unsigned char *utf8 = NULL;
		int len;

		for (size_t f = 0; f < sizeof(fields) / sizeof(fields[0]); f++) {
			if (fields[f].nid != nid)
				continue;
			if ((len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(ne))) < 0)
				break;
			if (!fields[f].single)
				r = webhook_json_append(subject, fields[f].field, (char *)utf8,
							(size_t)len);
			else if (json_object_get(subject, fields[f].field) == NULL)
				(void)json_object_set_new(
					subject, fields[f].field,
					webhook_json_text((char *)utf8, (size_t)len));
			break;
		}
		OPENSSL_free(utf8);
	}
	if (r < 0) {
		json_decref(subject);
		return r;
	}
	*ret = subject;
	return 0;
}

/* dnsNames, emailAddresses, ipAddresses, uris of the request's subjectAltName. */
static int
webhook_json_sans(X509_REQ *csr, json_t *obj)
{
	STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(csr);
	GENERAL_NAMES *sans = NULL;
	int r = 0;

	if (exts != NULL)
		sans = X509V3_get_d2i(exts, NID_subject_alt_name, NULL, NULL);
	for (int i = 0; r == 0 && sans != NULL && i < sk_GENERAL_NAME_num(sans); i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
		const ASN1_STRING *s;
		char ip[INET6_ADDRSTRLEN];

		switch (gn->type) {
		case GEN_DNS:
		case GEN_EMAIL:
		case GEN_URI:
			s = gn->d.ia5;
			r = webhook_json_append(obj,
						gn->type == GEN_DNS     ? "dnsNames"
						: gn->type == GEN_EMAIL ? "emailAddresses"
									: "uris",
						(const char *)ASN1_STRING_get0_data(s),
						(size_t)ASN1_STRING_length(s));
			break;
		case GEN_IPADD:
			s = gn->d.iPAddress; /* any length may arrive: 4 and 16 only are read */
			if ((ASN1_STRING_length(s) == 4 || ASN1_STRING_length(s) == 16) &&
			    inet_ntop(ASN1_STRING_length(s) == 4 ? AF_INET : AF_INET6,
				      ASN1_STRING_get0_data(s), ip, sizeof(ip)) != NULL)
				r = webhook_json_append(obj, "ipAddresses", ip, strlen(ip));
			break;
		default:
			break;
		}
	}
	GENERAL_NAMES_free(sans);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return r;
}

/* Go's names (crypto/x509), as step-ca sends them. */
static const char *
webhook_key_algorithm(EVP_PKEY *key)
{
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_RSA:
	case EVP_PKEY_RSA_PSS:
		return "RSA";
	case EVP_PKEY_EC:
		return "ECDSA";
	case EVP_PKEY_ED25519:
		return "Ed25519";
	case EVP_PKEY_DSA:
		return "DSA";
	default:
		return "Unknown";
	}
}

static const char *
webhook_signature_algorithm(X509_REQ *csr)
{
	static const struct {
		int nid;
		const char *name;
	} algs[] = {
		{ NID_sha1WithRSAEncryption, "SHA1-RSA" },
		{ NID_sha256WithRSAEncryption, "SHA256-RSA" },
		{ NID_sha384WithRSAEncryption, "SHA384-RSA" },
		{ NID_sha512WithRSAEncryption, "SHA512-RSA" },
		{ NID_ecdsa_with_SHA1, "ECDSA-SHA1" },
		{ NID_ecdsa_with_SHA256, "ECDSA-SHA256" },
		{ NID_ecdsa_with_SHA384, "ECDSA-SHA384" },
		{ NID_ecdsa_with_SHA512, "ECDSA-SHA512" },
		{ NID_ED25519, "Ed25519" },
	};
	const X509_ALGOR *alg = NULL;
	int nid;

	X509_REQ_get0_signature(csr, NULL, &alg);
	nid = alg != NULL ? OBJ_obj2nid(alg->algorithm) : NID_undef;
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (algs[i].nid == nid)
			return algs[i].name;
	return NULL;
}

/* x509CertificateRequest: the CSR as x509util decodes it, with raw and publicKey. */
static int
webhook_json_csr(X509_REQ *csr, json_t **ret)
{
	EVP_PKEY *key = X509_REQ_get0_pubkey(csr);
	unsigned char *der = NULL, *spki = NULL;
	json_t *obj = json_object(), *subject = NULL;
	const char *sig = webhook_signature_algorithm(csr);
	int len, spki_len, r = -ENOMEM;

	if (obj == NULL)
		return -ENOMEM;
	if (key == NULL || (len = i2d_X509_REQ(csr, &der)) <= 0 ||
	    (spki_len = i2d_PUBKEY(key, &spki)) <= 0) {
		r = -EBADMSG;
		goto out;
	}
	if ((r = webhook_json_subject(X509_REQ_get_subject_name(csr), &subject)) < 0 ||
	    (r = webhook_json_set(obj, "version", json_integer(X509_REQ_get_version(csr)))) < 0 ||
	    (r = webhook_json_set(obj, "subject", subject)) < 0 ||
	    (r = webhook_json_sans(csr, obj)) < 0 ||
	    (sig != NULL &&
	     (r = webhook_json_set(obj, "signatureAlgorithm", json_string(sig))) < 0) ||
	    (r = webhook_json_set(obj, "publicKey", webhook_json_base64(spki, (size_t)spki_len))) <
		    0 ||
	    (r = webhook_json_set(obj, "publicKeyAlgorithm",
				  json_string(webhook_key_algorithm(key)))) < 0 ||
	    (r = webhook_json_set(obj, "raw", webhook_json_base64(der, (size_t)len))) < 0)
		goto out;
	*ret = obj;
	obj = NULL; /* the caller owns it now */
	r = 0;
out:
	json_decref(obj);
	OPENSSL_free(der);
	OPENSSL_free(spki);
	return r;
}

int
webhook_request_body(const struct webhook_request *req, time_t now, char **ret_body,
		     size_t *ret_len)
{
	json_t *root = json_object(), *csr = NULL, *challenge = NULL;
	char stamp[sizeof("2026-12-31T23:59:59Z")], *body = NULL;
	struct tm tm;
	int r = -ENOMEM;

	if (root == NULL)
		return -ENOMEM;
	if (gmtime_r(&now, &tm) == NULL ||
	    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		r = -EBADMSG;
		goto out;
	}
	/* json_string() is NULL for text that is not UTF-8: nothing JSON can carry */
	if (req->challenge == NULL || (challenge = json_string(req->challenge)) == NULL) {
		r = -EILSEQ;
		goto out;
	}
	if ((r = webhook_json_set(root, "scepChallenge", challenge)) < 0 ||
	    (r = webhook_json_csr(req->csr, &csr)) < 0)
		goto out;
	if ((r = webhook_json_set(root, "timestamp", json_string(stamp))) < 0 ||
	    (r = webhook_json_set(root, "provisionerName", json_string(req->profile))) < 0 ||
	    (r = webhook_json_set(root, "x509CertificateRequest", csr)) < 0 ||
	    (r = webhook_json_set(root, "scepTransactionID", json_string(req->transaction_id))) <
		    0 ||
	    (req->client != NULL &&
	     (r = webhook_json_set(root, "clientAddress", json_string(req->client))) < 0))
		goto out;
	if ((body = json_dumps(root, JSON_COMPACT)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	*ret_len = strlen(body);
	*ret_body = body; /* the caller owns it now */
	r = 0;
out:
	json_decref(root);
	return r;
}

int
webhook_sign(const unsigned char *key, size_t key_len, const char *body, size_t len,
	     char ret_hex[WEBHOOK_SIGNATURE_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;

	if (key_len > INT_MAX ||
	    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)body, len, mac,
		 &mac_len) == NULL ||
	    mac_len != 32)
		return -EIO;
	for (unsigned int i = 0; i < mac_len; i++) {
		ret_hex[2 * i] = hex[mac[i] >> 4];
		ret_hex[2 * i + 1] = hex[mac[i] & 0xf];
	}
	ret_hex[2 * mac_len] = '\0';
	return 0;
}

/* Answer: {"allow": true} */

/* A service's text, made safe for a log line: printable ASCII, the rest as '?'. */
static void
webhook_copy_printable(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	for (; src != NULL && *src != '\0' && n + 1 < size; src++)
		dst[n++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
	dst[n] = '\0';
}

int
webhook_parse_response(const char *body, size_t len, struct webhook_answer *ret)
{
	struct webhook_answer a = { 0 };
	json_t *root, *allow, *error;
	json_error_t jerr;
	char message[96], code[48]; /* with " ()" within a.reason */
	int r = -EBADMSG;

	if ((root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL)
		return -EBADMSG;
	if (!json_is_object(root))
		goto out;
	allow = json_object_get(root, "allow");
	if (!json_is_boolean(allow))
		goto out;
	a.allow = json_is_true(allow);
	error = json_object_get(root, "error");
	if (!a.allow && json_is_object(error)) {
		webhook_copy_printable(message, sizeof(message),
				       json_string_value(json_object_get(error, "message")));
		webhook_copy_printable(code, sizeof(code),
				       json_string_value(json_object_get(error, "code")));
		snprintf(a.reason, sizeof(a.reason), "%s%s%s%s", message,
			 code[0] != '\0' ? " (" : "", code, code[0] != '\0' ? ")" : "");
	}
	*ret = a;
	r = 0;
out:
	json_decref(root);
	return r;
}

/* The transfer */

static size_t
webhook_write(char *data, size_t size, size_t n, void *arg)
{
	struct webhook_body *b = arg;
	size_t len = size * n;
	char *buf;

	if (len > WEBHOOK_MAX_RESPONSE - b->len) {
		b->too_big = true;
		return 0; /* CURLE_WRITE_ERROR: the transfer stops here */
	}
	if ((buf = realloc(b->buf, b->len + len + 1)) == NULL)
		return 0;
	memcpy(buf + b->len, data, len);
	b->buf = buf;
	b->len += len;
	b->buf[b->len] = '\0';
	return len;
}

static int
webhook_setopts(const struct webhook *wh, CURL *curl, struct curl_slist *headers, const char *body,
		size_t len, struct webhook_body *answer, char *errbuf)
{
	bool ok = true;

	/* clang-format off */
	ok = ok && curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_URL, wh->url) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_NOPROXY, "*") == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_TIMEOUT, (long)wh->timeout) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, (long)wh->timeout) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) == CURLE_OK;
	ok = ok && (wh->ca_file == NULL ||
		    curl_easy_setopt(curl, CURLOPT_CAINFO, wh->ca_file) == CURLE_OK);
	ok = ok && curl_easy_setopt(curl, CURLOPT_USERAGENT, "scepd/" SCEPD_VERSION) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_POST, 1L) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE,
				    (curl_off_t)WEBHOOK_MAX_RESPONSE) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, webhook_write) == CURLE_OK;
	ok = ok && curl_easy_setopt(curl, CURLOPT_WRITEDATA, answer) == CURLE_OK;
	/* clang-format on */
	return ok ? 0 : -ENOMEM;
}

/* Content-Type, the signature, the ID; no "Expect: 100-continue" round trip. */
static int
webhook_headers(const struct webhook *wh, const char *signature, struct curl_slist **ret)
{
	char sig[sizeof("X-Smallstep-Signature: ") + WEBHOOK_SIGNATURE_LEN];
	char id[1024];
	struct curl_slist *h = NULL, *t;
	const char *lines[] = { "Content-Type: application/json", "Accept: application/json",
				"Expect:", sig, id };

	snprintf(sig, sizeof(sig), "X-Smallstep-Signature: %s", signature);
	if ((size_t)snprintf(id, sizeof(id), "X-Smallstep-Webhook-ID: %s", wh->id) >= sizeof(id))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		if ((t = curl_slist_append(h, lines[i])) == NULL) {
			curl_slist_free_all(h);
			return -ENOMEM;
		}
		h = t;
	}
	*ret = h;
	return 0;
}

/* libcurl's failure as an errno and a reason (errbuf: its details, when it has any). */
static int
webhook_transfer_error(const struct webhook *wh, CURLcode rc, const struct webhook_body *answer,
		       const char *errbuf, char *why, size_t why_size)
{
	const char *detail = errbuf[0] != '\0' ? errbuf : curl_easy_strerror(rc);

	if (answer->too_big || rc == CURLE_FILESIZE_EXCEEDED) {
		snprintf(why, why_size, "webhook %s: answer longer than %d bytes", wh->host,
			 WEBHOOK_MAX_RESPONSE);
		return -EFBIG;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		snprintf(why, why_size, "webhook %s: no answer within %d s", wh->host, wh->timeout);
		return -ETIMEDOUT;
	}
	snprintf(why, why_size, "webhook %s: %s", wh->host, detail);
	return rc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED
	       : rc == CURLE_OUT_OF_MEMORY ? -ENOMEM
					   : -EIO;
}

int
webhook_check(const struct webhook *wh, const struct webhook_request *req,
	      struct webhook_answer *ret, char *why, size_t why_size)
{
	char signature[WEBHOOK_SIGNATURE_LEN], errbuf[CURL_ERROR_SIZE] = "";
	struct webhook_body answer = { 0 };
	struct curl_slist *headers = NULL;
	struct webhook_answer a;
	char *body = NULL;
	size_t len = 0;
	long status = 0;
	CURL *curl = NULL;
	CURLcode rc;
	int r;

	snprintf(why, why_size, "webhook %s: out of memory", wh->host);
	if ((r = webhook_request_body(req, time(NULL), &body, &len)) < 0) {
		if (r != -ENOMEM)
			snprintf(why, why_size,
				 "webhook %s: the challenge or the request cannot be sent as JSON",
				 wh->host);
		goto out;
	}
	if ((r = webhook_sign(wh->key, wh->key_len, body, len, signature)) < 0) {
		snprintf(why, why_size, "webhook %s: cannot sign the call", wh->host);
		goto out;
	}
	if ((r = webhook_headers(wh, signature, &headers)) < 0)
		goto out;
	if ((curl = curl_easy_init()) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = webhook_setopts(wh, curl, headers, body, len, &answer, errbuf)) < 0)
		goto out;
	if ((rc = curl_easy_perform(curl)) != CURLE_OK) {
		r = webhook_transfer_error(wh, rc, &answer, errbuf, why, why_size);
		goto out;
	}
	(void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status > 299) {
		snprintf(why, why_size, "webhook %s: HTTP status %ld", wh->host, status);
		r = -EPROTO;
		goto out;
	}
	if ((r = webhook_parse_response(answer.buf != NULL ? answer.buf : "", answer.len, &a)) <
	    0) {
		snprintf(why, why_size,
			 "webhook %s: the answer is not a JSON object with a boolean \"allow\"",
			 wh->host);
		goto out;
	}
	*ret = a;
	why[0] = '\0';
	r = 0;
out:
	curl_easy_cleanup(curl);
	curl_slist_free_all(headers);
	if (body != NULL)
		OPENSSL_cleanse(body, len); /* it holds the challenge */
	free(body);                         /* json_dumps()'s: jansson's allocator, malloc() */
	free(answer.buf);
	return r;
}
