/*
 * mobileconfig.h - Apple configuration profiles for SCEP enrolment: an XML property
 * list writer, the profile with its com.apple.security.scep and com.apple.security.root
 * payloads, its CMS signature, and the parsing and policy check of what the operator
 * asks the device to request.
 *
 * Pure: writes to the FILE * it is given and nothing else; no store, no keys of its
 * own, never logs. scepctl's `mobileconfig` command does the I/O around it.
 */
#ifndef SCEPD_MOBILECONFIG_H
#define SCEPD_MOBILECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "scepd/config.h"

/* "8-4-4-4-12" upper-case hex digits, as Apple shows PayloadUUIDs; without the NUL. */
#define MOBILECONFIG_UUID_LEN 36

/* Apple's SCEP payload takes these RSA key sizes only. */
#define MOBILECONFIG_KEYSIZE_DEFAULT 2048

/* The plist writer: one per document; the first error sticks in err. */
struct mobileconfig_plist {
	FILE *f;
	int depth; /* tabs before the next element */
	int err;   /* 0, -EINVAL (a string XML cannot carry) or -EIO (the FILE failed) */
};

/* The XML declaration, the DOCTYPE and <plist version="1.0">. */
void mobileconfig_plist_begin(struct mobileconfig_plist *w, FILE *f);
/* </plist>: 0, or the first error of the document (a write error too). */
int mobileconfig_plist_end(struct mobileconfig_plist *w);

void mobileconfig_plist_dict_begin(struct mobileconfig_plist *w);
void mobileconfig_plist_dict_end(struct mobileconfig_plist *w);
void mobileconfig_plist_array_begin(struct mobileconfig_plist *w);
void mobileconfig_plist_array_end(struct mobileconfig_plist *w);
/*
 * <key> and <string>: the text escaped (& < > " as entities); -EINVAL sticks when s is
 * not UTF-8 or holds a control character other than tab, LF and CR (XML 1.0 has no
 * way to write those).
 */
void mobileconfig_plist_key(struct mobileconfig_plist *w, const char *s);
void mobileconfig_plist_string(struct mobileconfig_plist *w, const char *s);
void mobileconfig_plist_integer(struct mobileconfig_plist *w, long long n);
/* <data>: base64, 64 characters a line. */
void mobileconfig_plist_data(struct mobileconfig_plist *w, const unsigned char *p, size_t len);

/* Whether s is text a plist <string> can carry (see mobileconfig_plist_string()). */
bool mobileconfig_text_valid(const char *s);

/* A fresh random (version 4) UUID, upper case: 0, or -EIO (no random bytes). */
int mobileconfig_uuid(char out[MOBILECONFIG_UUID_LEN + 1]);

enum mobileconfig_san_type {
	MOBILECONFIG_SAN_DNS,   /* dNSName: --san dns:NAME */
	MOBILECONFIG_SAN_EMAIL, /* rfc822Name: --san email:ADDRESS */
	MOBILECONFIG_SAN_URI,   /* uniformResourceIdentifier: --san uri:URI */
	MOBILECONFIG_SAN_UPN,   /* ntPrincipalName (otherName msUPN): --san upn:NAME */
};

struct mobileconfig_san {
	enum mobileconfig_san_type type;
	const char *value; /* borrowed */
};

/*
 * "dns:host.example" -> type and value (pointing into arg). 0, or -EINVAL: an unknown
 * type, an empty value, or one that is not printable ASCII.
 */
int mobileconfig_parse_san(const char *arg, struct mobileconfig_san *ret);

/*
 * "/CN=device 1/O=Example" -> a name with one RDN a field, in that order (the order in
 * which the device writes it); "\/" and "\\" stand for '/' and '\'. Fields are what
 * OpenSSL knows by name (CN, O, OU, C, ST, L, emailAddress...) or dotted OIDs; values
 * UTF-8 without control characters. 0, -EINVAL, -ENOMEM.
 */
int mobileconfig_parse_subject(const char *text, X509_NAME **ret_name);

/* The names of sans as GENERAL_NAMES (what the device puts in its request). 0, -ENOMEM. */
int mobileconfig_general_names(const struct mobileconfig_san *sans, size_t n,
			       GENERAL_NAMES **ret_names);

/*
 * Whether profile p's subject and subject_alt_name policy (policy_check()) lets a request
 * with subject (NULL: empty) and sans through whole: 0 when it does; -EPERM, with why in
 * reason, when it refuses the request or drops a field or name of it; -ENOMEM.
 * remote_user stands for %{REMOTE_USER} (the challenge's owner, NULL for none).
 */
int mobileconfig_check_policy(const struct config_profile *p, const X509_NAME *subject,
			      const struct mobileconfig_san *sans, size_t n_sans,
			      const char *remote_user, char *reason, size_t size);

/* What the profile holds. */
struct mobileconfig_req {
	const char *url;          /* the SCEP URL the device uses (required) */
	const char *name;         /* Name: the CA's name, sent as GetCACert's message=; NULL */
	const char *identifier;   /* PayloadIdentifier of the profile (required); the
				     payloads get ".scep" and ".ca" appended */
	const char *display_name; /* PayloadDisplayName of the profile (required) */
	const X509_NAME *subject; /* Subject; NULL: none */
	const char *challenge;    /* Challenge; NULL: none (the device asks the user) */
	int keysize;              /* Keysize: 1024, 2048 or 4096 */
	const struct mobileconfig_san *sans; /* SubjectAltName */
	size_t n_sans;
	X509 *ca; /* CAFingerprint (SHA-1 of its DER) and the root payload (required) */
};

/*
 * Writes the profile as an XML plist: PayloadType Configuration with a fresh UUID, a
 * com.apple.security.scep payload (Key Type RSA, Key Usage 5 = signing and encryption,
 * Retries 3, RetryDelay 10) and a com.apple.security.root payload with the CA's DER.
 * 0, -EINVAL (a missing field, a keysize Apple does not take, text XML cannot carry),
 * -EIO (the FILE failed, no random bytes), -ENOMEM.
 */
int mobileconfig_write(FILE *out, const struct mobileconfig_req *req);

/*
 * A CMS SignedData (DER) of the len bytes at data, embedded, signed by cert with key
 * (SHA-256, signed attributes), cert and the certificates of extra included: what
 * `security cms -S` makes of a profile. *ret_der is malloc()ed. 0, -EINVAL (the key
 * does not match cert), -EIO, -ENOMEM.
 */
int mobileconfig_sign(const unsigned char *data, size_t len, X509 *cert, EVP_PKEY *key,
		      STACK_OF(X509) *extra, unsigned char **ret_der, size_t *ret_len);

#endif
