/*
 * webhook.h - asks an HTTP(S) service whether a SCEP challenge is good, the way
 * step-ca's SCEPCHALLENGE webhooks are asked (scep.challenge.mode = "webhook").
 *
 * One POST per question: a JSON body (the challenge, the transactionID, the CSR as DER
 * and decoded, the profile, the client address), signed with HMAC-SHA256 under the
 * configured key (X-Smallstep-Signature, hex) and named by X-Smallstep-Webhook-ID.
 * The answer allows only when it is a JSON object whose "allow" is exactly true.
 *
 * A struct webhook is immutable once made and shared by the worker's threads: each
 * call has its own libcurl handle. webhook_global_init() runs once per process before
 * any thread starts. No logging here: the caller logs what webhook_check() explains.
 */
#ifndef SCEPD_WEBHOOK_H
#define SCEPD_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

/* Bytes of an answer that are read; a longer one is an error, not a truncated read. */
#define WEBHOOK_MAX_RESPONSE (64 * 1024)
/* The hex HMAC-SHA256 of a body, with its NUL. */
#define WEBHOOK_SIGNATURE_LEN (2 * 32 + 1)

struct webhook;

struct webhook_params {
	const char *url;          /* https://..., or http:// to loopback (the config checks) */
	const unsigned char *key; /* the HMAC key: the base64-decoded secret */
	size_t key_len;
	const char *id;      /* X-Smallstep-Webhook-ID */
	const char *ca_file; /* CA bundle for https; NULL: libcurl's default (the system's) */
	int timeout;         /* seconds for the whole call, connect included */
};

/* What the service is told about one request. */
struct webhook_request {
	const char *profile;        /* as step-ca's provisionerName */
	const char *challenge;      /* the request's challenge password */
	const char *transaction_id; /* SCEP transactionID */
	X509_REQ *csr;
	const char *client; /* the requester's address */
};

/* What the service said: allow, and for a refusal its reason (printable, may be ""). */
struct webhook_answer {
	bool allow;
	char reason[160];
};

/* curl_global_init(): once per process, before its threads start. 0, -EIO. */
int webhook_global_init(void);

/* A copy of p (the key is wiped when freed). 0, -EINVAL (no host in url), -ENOMEM. */
int webhook_new(const struct webhook_params *p, struct webhook **ret);
void webhook_free(struct webhook *wh);

/* The URL's host, for log lines (never the URL's path or query). */
const char *webhook_get0_host(const struct webhook *wh);

/*
 * Asks the service about req and waits up to the timeout. 0 with *ret filled: the
 * service answered (allow or not). Negative, with why set (one line for the log
 * naming the host and the reason, never the key or the challenge): -ECONNREFUSED,
 * -ETIMEDOUT, -EIO (transport, TLS, any other libcurl error), -EPROTO (not a 2xx
 * status), -EFBIG (answer beyond WEBHOOK_MAX_RESPONSE), -EBADMSG (not a JSON object
 * with a boolean allow), -EILSEQ (the challenge is not UTF-8: JSON cannot carry it,
 * nothing was sent), -ENOMEM.
 */
int webhook_check(const struct webhook *wh, const struct webhook_request *req,
		  struct webhook_answer *ret, char *why, size_t why_size);

/*
 * The JSON body for req at time now, malloc()ed with its length (no NUL counted; one
 * follows). 0, -EBADMSG (the CSR cannot be encoded), -ENOMEM.
 */
int webhook_request_body(const struct webhook_request *req, time_t now, char **ret_body,
			 size_t *ret_len);

/* The lower-case hex HMAC-SHA256 of body under key. 0, -EIO. */
int webhook_sign(const unsigned char *key, size_t key_len, const char *body, size_t len,
		 char ret_hex[WEBHOOK_SIGNATURE_LEN]);

/*
 * Reads a service's answer: 0 with *ret filled when it is a JSON object whose "allow"
 * is true or false (reason from error.message / error.code when refused); -EBADMSG for
 * anything else (not JSON, not an object, allow missing or of another type).
 */
int webhook_parse_response(const char *body, size_t len, struct webhook_answer *ret);

#endif
