/*
 * scep_client.c - the project's own SCEP client, for integration tests.
 *
 * SYNOPSIS
 *	scep_client request --ca FILE --out MSG --state STATE [options]
 *	scep_client reply --in REPLY --state STATE [--ca FILE] [--out CERT.pem]
 *			  [--chain-out CHAIN.pem]
 *	scep_client nextca --in REPLY --ca FILE [--out NEXT.pem]
 *	scep_client ra --ca FILE [--out RA.pem]
 *
 * DESCRIPTION
 *	No HTTP here: a test fetches with curl and hands the files over, e.g.
 *
 *	  curl -o ca.bin "$url?operation=GetCACert"
 *	  scep_client request --ca ca.bin --cipher des3 --digest sha1 \
 *		--subject /CN=host --challenge s3cret --key key.pem --state st --out req.der
 *	  curl --data-binary @req.der -o rep.der "$url?operation=PKIOperation"
 *	  scep_client reply --in rep.der --state st --out cert.pem   # prints SUCCESS
 *	  openssl verify -CAfile ca.pem cert.pem
 *
 *	request builds a pkiMessage (src/tools/scep_build.c, OpenSSL's PKCS7 API as
 *	certmonger uses it) encrypted to the RA picked from --ca as Apple picks it (the
 *	one certificate, or a non-CA certificate allowing keyEncipherment), and writes
 *	the state the reply needs: transactionID, senderNonce, the signer certificate
 *	and key (the reply is encrypted to the signer), the RA certificate. 0600.
 *	Options:
 *	  --type pkcsreq|renewal|poll|getcert|getcrl|N   messageType (default pkcsreq;
 *	      N sends any number, for the tests that walk 0..255)
 *	  --cipher des|des3|aes128|aes256 (aes128)   --digest sha1|sha256|sha512|md5 (sha256)
 *	  --key FILE      requester key, PEM; made when missing (--key-type rsa2048,
 *	                  rsa1024, rsa4096 or ec)
 *	  --subject /CN=a/O=b   CSR subject, and the self-signed signer's (/CN=scep-client)
 *	  --san DNS:a     subjectAltName entry, openssl.cnf syntax; repeatable
 *	  --challenge X   challengePassword
 *	  --signer-cert F --signer-key F   sign with these (RenewalReq, or a PKCSReq
 *	                  signed by an issued certificate) instead of a fresh self-signed
 *	                  certificate for --key
 *	  --txid T        transactionID (default: hex SHA-1 of the public key, as Apple)
 *	  --serial HEX    GetCert/GetCRL serial; --issuer-cert F names the issuer (default:
 *	                  the issuer of the RA, or the CA itself)
 *	  --content F     encrypt these bytes instead of the request (malformed tests)
 *	  --break WHAT    bad-signature, unsorted-attrs, no-certs, bare-envelope,
 *	                  corrupt-key, corrupt-iv, corrupt-content, corrupt-padding;
 *	                  repeatable
 *	  --format der|b64|b64-raw|b64-lines   how to write MSG: DER for POST; base64
 *	                  for GET message=, percent-encoded (b64), with '+' '/' '='
 *	                  raw as Apple sends them (b64-raw), or with %0A every 64
 *	                  characters as sscep and Cisco do (b64-lines)
 *
 *	reply checks a CertRep: signed by the RA (the state's, or the one --ca picks),
 *	messageType 3, the transactionID and recipientNonce = our senderNonce, a
 *	senderNonce; prints "SUCCESS", "PENDING" or "FAILURE <failInfo>" (failInfoText
 *	on stderr); on SUCCESS decrypts with the signer key and writes the first
 *	certificate to --out and the others to --chain-out, as PEM.
 *
 *	nextca checks a GetNextCACert answer against the current RA and writes the
 *	certificates inside. ra writes the certificate request would encrypt to.
 *
 * EXIT STATUS
 *	0 done (reply: SUCCESS), 2 FAILURE, 3 PENDING, 1 anything else.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "scep_build.h"

#define SCEP_CLIENT_MAX_FILE (16 * 1024 * 1024)

struct scep_client_opts {
	const char *ca, *out, *state, *in, *chain_out;
	const char *type, *cipher, *digest, *key, *key_type, *subject, *challenge;
	const char *signer_cert, *signer_key, *txid, *serial, *issuer_cert, *content, *format;
	char san[4096];
	unsigned int flags;
};

static void
scep_client_die(const char *what)
{
	fprintf(stderr, "scep_client: %s\n", what);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static unsigned char *
scep_client_read(const char *path, size_t *ret_len)
{
	unsigned char *buf;
	size_t n = 0;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(stderr, "scep_client: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	if ((buf = malloc(SCEP_CLIENT_MAX_FILE)) == NULL)
		scep_client_die("out of memory");
	n = fread(buf, 1, SCEP_CLIENT_MAX_FILE, f);
	if (ferror(f) || n == SCEP_CLIENT_MAX_FILE) {
		fprintf(stderr, "scep_client: %s: cannot read (or too big)\n", path);
		exit(1);
	}
	fclose(f);
	*ret_len = n;
	return buf;
}

/* A file we write: 0600 when secret, else 0644; "-" is stdout. */
static FILE *
scep_client_create(const char *path, bool secret)
{
	FILE *f;
	int fd;

	if (strcmp(path, "-") == 0)
		return stdout;
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, secret ? 0600 : 0644)) < 0 ||
	    (f = fdopen(fd, "wb")) == NULL) {
		fprintf(stderr, "scep_client: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return f;
}

static void
scep_client_close(FILE *f, const char *path)
{
	if (f == stdout) {
		if (fflush(f) != 0)
			scep_client_die("cannot write to stdout");
		return;
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "scep_client: %s: %s\n", path, strerror(errno));
		exit(1);
	}
}

static STACK_OF(X509) *
scep_client_certs(const char *path)
{
	STACK_OF(X509) *certs;
	unsigned char *data;
	size_t len;

	data = scep_client_read(path, &len);
	if (scep_build_read_certs(data, len, &certs) < 0) {
		fprintf(stderr, "scep_client: %s: no certificate, PKCS#7 or PEM\n", path);
		exit(1);
	}
	free(data);
	return certs;
}

static X509 *
scep_client_cert(const char *path)
{
	STACK_OF(X509) *certs = scep_client_certs(path);
	X509 *x = sk_X509_shift(certs);

	sk_X509_pop_free(certs, X509_free);
	return x;
}

static X509 *
scep_client_ra(const char *path)
{
	STACK_OF(X509) *certs = scep_client_certs(path);
	X509 *ra;

	if (scep_build_pick_ra(certs, &ra) < 0) {
		fprintf(stderr,
			"scep_client: %s: no RA (a non-CA certificate allowing "
			"keyEncipherment) among %d certificates\n",
			path, sk_X509_num(certs));
		exit(1);
	}
	sk_X509_pop_free(certs, X509_free);
	return ra;
}

static EVP_PKEY *
scep_client_load_key(const char *path)
{
	EVP_PKEY *key;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL)
		return NULL;
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (key == NULL) {
		fprintf(stderr, "scep_client: %s: not a PEM private key\n", path);
		exit(1);
	}
	return key;
}

static EVP_PKEY *
scep_client_key(const char *path, const char *type)
{
	EVP_PKEY *key;
	FILE *f;

	if (path != NULL && (key = scep_client_load_key(path)) != NULL)
		return key;
	if (strcmp(type, "ec") == 0)
		key = EVP_EC_gen("P-256");
	else if (strcmp(type, "rsa1024") == 0)
		key = EVP_RSA_gen(1024);
	else if (strcmp(type, "rsa4096") == 0)
		key = EVP_RSA_gen(4096);
	else if (strcmp(type, "rsa2048") == 0)
		key = EVP_RSA_gen(2048);
	else
		scep_client_die("--key-type: rsa1024, rsa2048, rsa4096 or ec");
	if (key == NULL)
		scep_client_die("cannot make a key");
	if (path != NULL) {
		f = scep_client_create(path, true);
		if (!PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL))
			scep_client_die("cannot write the key");
		scep_client_close(f, path);
	}
	return key;
}

/* "/CN=a/O=b" */
static X509_NAME *
scep_client_name(const char *text)
{
	X509_NAME *name = X509_NAME_new();
	char *copy = strdup(text), *save = NULL, *part, *eq;

	if (name == NULL || copy == NULL)
		scep_client_die("out of memory");
	for (part = strtok_r(copy, "/", &save); part != NULL; part = strtok_r(NULL, "/", &save)) {
		if ((eq = strchr(part, '=')) == NULL)
			scep_client_die("--subject: /FIELD=value/...");
		*eq = '\0';
		if (!X509_NAME_add_entry_by_txt(name, part, MBSTRING_UTF8,
						(const unsigned char *)eq + 1, -1, -1, 0))
			scep_client_die("--subject: unknown field");
	}
	free(copy);
	return name;
}

static int
scep_client_type(const char *text)
{
	static const struct {
		const char *name;
		int type;
	} types[] = { { "pkcsreq", 19 },
		      { "renewal", 17 },
		      { "poll", 20 },
		      { "getcert", 21 },
		      { "getcrl", 22 } };
	char *end;
	long n;

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcmp(text, types[i].name) == 0)
			return types[i].type;
	n = strtol(text, &end, 10);
	if (*text == '\0' || *end != '\0' || n < 0 || n > 1000000)
		scep_client_die("--type: pkcsreq, renewal, poll, getcert, getcrl or a number");
	return (int)n;
}

static const EVP_CIPHER *
scep_client_cipher(const char *text)
{
	if (strcmp(text, "des") == 0)
		return EVP_des_cbc();
	if (strcmp(text, "des3") == 0)
		return EVP_des_ede3_cbc();
	if (strcmp(text, "aes128") == 0)
		return EVP_aes_128_cbc();
	if (strcmp(text, "aes256") == 0)
		return EVP_aes_256_cbc();
	scep_client_die("--cipher: des, des3, aes128 or aes256");
	return NULL;
}

static const EVP_MD *
scep_client_digest(const char *text)
{
	if (strcmp(text, "sha1") == 0)
		return EVP_sha1();
	if (strcmp(text, "sha256") == 0)
		return EVP_sha256();
	if (strcmp(text, "sha512") == 0)
		return EVP_sha512();
	if (strcmp(text, "md5") == 0)
		return EVP_md5();
	scep_client_die("--digest: sha1, sha256, sha512 or md5");
	return NULL;
}

static unsigned int
scep_client_break(const char *text)
{
	static const struct {
		const char *name;
		unsigned int flag;
	} breaks[] = {
		{ "bad-signature", SCEP_BUILD_BAD_SIGNATURE },
		{ "unsorted-attrs", SCEP_BUILD_UNSORTED_ATTRS },
		{ "no-certs", SCEP_BUILD_NO_CERTS },
		{ "bare-envelope", SCEP_BUILD_BARE_ENVELOPE },
		{ "corrupt-key", SCEP_BUILD_CORRUPT_KEY },
		{ "corrupt-iv", SCEP_BUILD_CORRUPT_IV },
		{ "corrupt-content", SCEP_BUILD_CORRUPT_CONTENT },
		{ "corrupt-padding", SCEP_BUILD_CORRUPT_PADDING },
	};

	for (size_t i = 0; i < sizeof(breaks) / sizeof(breaks[0]); i++)
		if (strcmp(text, breaks[i].name) == 0)
			return breaks[i].flag;
	scep_client_die("--break: bad-signature, unsorted-attrs, no-certs, bare-envelope, "
			"corrupt-key, corrupt-iv, corrupt-content or corrupt-padding");
	return 0;
}

static void
scep_client_hex(FILE *f, const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		fprintf(f, "%02X", p[i]);
}

static void
scep_client_write_message(const char *path, const char *format, const unsigned char *der,
			  size_t len)
{
	FILE *f = scep_client_create(path, false);
	unsigned char *b64;
	int n;

	if (strcmp(format, "der") == 0) {
		if (fwrite(der, 1, len, f) != len)
			scep_client_die("cannot write the message");
		scep_client_close(f, path);
		return;
	}
	if ((b64 = malloc(len / 3 * 4 + 8)) == NULL)
		scep_client_die("out of memory");
	n = EVP_EncodeBlock(b64, der, (int)len);
	for (int i = 0; i < n; i++) {
		if (strcmp(format, "b64-lines") == 0 && i > 0 && i % 64 == 0)
			fputs("%0A", f);
		if (strcmp(format, "b64-raw") != 0 && b64[i] == '+')
			fputs("%2B", f);
		else if (strcmp(format, "b64-raw") != 0 && b64[i] == '/')
			fputs("%2F", f);
		else if (strcmp(format, "b64-raw") != 0 && b64[i] == '=')
			fputs("%3D", f);
		else
			fputc(b64[i], f);
	}
	free(b64);
	scep_client_close(f, path);
}

static unsigned char *
scep_client_inner(const struct scep_client_opts *o, int type, EVP_PKEY *key, X509_NAME *subject,
		  X509 *ra, size_t *ret_len)
{
	const X509_NAME *issuer;
	unsigned char *der = NULL;
	ASN1_INTEGER *serial;
	X509 *issuer_cert = NULL;
	X509_REQ *csr;
	BIGNUM *bn = NULL;
	int n;

	if (o->content != NULL)
		return scep_client_read(o->content, ret_len);
	if (o->issuer_cert != NULL)
		issuer_cert = scep_client_cert(o->issuer_cert);
	/* the CA: named by the RA's issuer, or the RA is the CA */
	issuer = issuer_cert ? X509_get_subject_name(issuer_cert) : X509_get_issuer_name(ra);
	switch (type) {
	case 20:
		if (scep_build_issuer_and_subject(issuer, subject, &der, ret_len) < 0)
			scep_client_die("cannot encode IssuerAndSubject");
		break;
	case 21:
	case 22:
		if (o->serial == NULL || !BN_hex2bn(&bn, o->serial) ||
		    (serial = BN_to_ASN1_INTEGER(bn, NULL)) == NULL)
			scep_client_die("--serial HEX is needed for getcert and getcrl");
		if (scep_build_issuer_and_serial(issuer, serial, &der, ret_len) < 0)
			scep_client_die("cannot encode IssuerAndSerialNumber");
		ASN1_INTEGER_free(serial);
		BN_free(bn);
		break;
	default:
		if (scep_build_csr(key, subject, o->san[0] ? o->san : NULL, o->challenge, &csr) < 0)
			scep_client_die("cannot make the CSR (--san syntax?)");
		if ((n = i2d_X509_REQ(csr, &der)) <= 0)
			scep_client_die("cannot encode the CSR");
		*ret_len = (size_t)n;
		X509_REQ_free(csr);
		break;
	}
	X509_free(issuer_cert);
	return der;
}

static int
scep_client_request(const struct scep_client_opts *o)
{
	struct scep_build_req req = { 0 };
	unsigned char nonce[16], *inner, *der;
	X509 *ra, *signer;
	X509_NAME *subject;
	EVP_PKEY *key, *signer_key;
	size_t inner_len, len;
	char txid[64];
	FILE *f;
	int type;

	if (o->ca == NULL || o->out == NULL || o->state == NULL)
		scep_client_die("request: --ca, --out and --state are needed");
	type = scep_client_type(o->type);
	ra = scep_client_ra(o->ca);
	key = scep_client_key(o->key, o->key_type);
	subject = scep_client_name(o->subject);
	inner = scep_client_inner(o, type, key, subject, ra, &inner_len);
	if (o->signer_cert != NULL || o->signer_key != NULL) {
		if (o->signer_cert == NULL || o->signer_key == NULL ||
		    (signer_key = scep_client_load_key(o->signer_key)) == NULL)
			scep_client_die("--signer-cert and --signer-key go together");
		signer = scep_client_cert(o->signer_cert);
	} else {
		if (!EVP_PKEY_up_ref(key) || scep_build_self_signed(key, subject, &signer) < 0)
			scep_client_die("cannot make the self-signed certificate");
		signer_key = key;
	}
	if (o->txid != NULL)
		snprintf(txid, sizeof(txid), "%s", o->txid);
	else if (scep_build_txid(key, txid, sizeof(txid)) < 0)
		scep_client_die("cannot make the transactionID");
	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		scep_client_die("no random bytes");

	req.type = type;
	req.txid = txid;
	req.nonce = nonce;
	req.nonce_len = sizeof(nonce);
	req.md = scep_client_digest(o->digest);
	req.cipher = scep_client_cipher(o->cipher);
	req.signer_cert = signer;
	req.signer_key = signer_key;
	req.recipient = ra;
	req.content = inner;
	req.content_len = inner_len;
	req.flags = o->flags;
	if (scep_build_request(&req, &der, &len) < 0)
		scep_client_die("cannot build the message");
	scep_client_write_message(o->out, o->format, der, len);

	f = scep_client_create(o->state, true);
	fprintf(f, "# scep_client state\ntype=%d\ntxid=%s\nnonce=", type, txid);
	scep_client_hex(f, nonce, sizeof(nonce));
	fputc('\n', f);
	if (!PEM_write_X509(f, signer) ||
	    !PEM_write_PrivateKey(f, signer_key, NULL, NULL, 0, NULL, NULL) ||
	    !PEM_write_X509(f, ra))
		scep_client_die("cannot write the state");
	scep_client_close(f, o->state);

	free(der);
	free(inner);
	X509_NAME_free(subject);
	X509_free(signer);
	X509_free(ra);
	EVP_PKEY_free(signer_key);
	EVP_PKEY_free(key);
	return 0;
}

struct scep_client_state {
	char txid[1024];
	unsigned char nonce[64];
	size_t nonce_len;
	X509 *signer;
	EVP_PKEY *key;
	X509 *ra;
};

static void
scep_client_read_state(const char *path, struct scep_client_state *st)
{
	char line[1024];
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "scep_client: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	while (fgets(line, sizeof(line), f) != NULL && strncmp(line, "-----", 5) != 0) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "txid=", 5) == 0)
			snprintf(st->txid, sizeof(st->txid), "%s", line + 5);
		if (strncmp(line, "nonce=", 6) == 0)
			for (const char *p = line + 6; p[0] && p[1] && st->nonce_len < 64; p += 2) {
				unsigned int byte;

				if (sscanf(p, "%2X", &byte) != 1)
					scep_client_die("state: bad nonce");
				st->nonce[st->nonce_len++] = (unsigned char)byte;
			}
	}
	rewind(f);
	if ((st->signer = PEM_read_X509(f, NULL, NULL, NULL)) == NULL ||
	    (st->key = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL ||
	    (st->ra = PEM_read_X509(f, NULL, NULL, NULL)) == NULL || st->txid[0] == '\0' ||
	    st->nonce_len == 0)
		scep_client_die("state: not written by scep_client request");
	fclose(f);
}

static void
scep_client_write_certs(const char *path, STACK_OF(X509) *certs, int from, int to)
{
	FILE *f = scep_client_create(path, false);

	for (int i = from; i < to; i++)
		if (!PEM_write_X509(f, sk_X509_value(certs, i)))
			scep_client_die("cannot write a certificate");
	scep_client_close(f, path);
}

static void
scep_client_write_crl(const char *path, X509_CRL *crl)
{
	FILE *f = scep_client_create(path, false);

	if (!PEM_write_X509_CRL(f, crl))
		scep_client_die("cannot write a CRL");
	scep_client_close(f, path);
}

static int
scep_client_reply(const struct scep_client_opts *o)
{
	static const char *const fails[] = { "badAlg", "badMessageCheck", "badRequest", "badTime",
					     "badCertId" };
	struct scep_client_state st = { 0 };
	struct scep_build_reply rep;
	unsigned char *der;
	X509 *ra;
	size_t len;
	int r;

	if (o->in == NULL || o->state == NULL)
		scep_client_die("reply: --in and --state are needed");
	scep_client_read_state(o->state, &st);
	ra = o->ca != NULL ? scep_client_ra(o->ca) : st.ra;
	der = scep_client_read(o->in, &len);
	if ((r = scep_build_read_reply(der, len, ra, st.signer, st.key, &rep)) < 0)
		scep_client_die(r == -EBADMSG ? "reply: not a CertRep signed by the RA, or its "
						"envelope does not open"
					      : "reply: cannot read it");
	if (rep.type != 3)
		scep_client_die("reply: messageType is not 3 (CertRep)");
	if (rep.txid == NULL || strcmp(rep.txid, st.txid) != 0)
		scep_client_die("reply: transactionID is not ours");
	if (rep.recipient_nonce_len != st.nonce_len ||
	    memcmp(rep.recipient_nonce, st.nonce, st.nonce_len) != 0)
		scep_client_die("reply: recipientNonce is not our senderNonce");
	if (rep.sender_nonce_len == 0)
		scep_client_die("reply: no senderNonce");
	switch (rep.status) {
	case 0:
		if (sk_X509_num(rep.certs) < 1 && sk_X509_CRL_num(rep.crls) == 1) {
			if (o->out != NULL)
				scep_client_write_crl(o->out, sk_X509_CRL_value(rep.crls, 0));
			printf("SUCCESS\n");
			r = 0;
			break;
		}
		if (sk_X509_num(rep.certs) < 1)
			scep_client_die("reply: SUCCESS without a certificate or one CRL");
		if (o->out != NULL)
			scep_client_write_certs(o->out, rep.certs, 0, 1);
		if (o->chain_out != NULL)
			scep_client_write_certs(o->chain_out, rep.certs, 1, sk_X509_num(rep.certs));
		printf("SUCCESS\n");
		r = 0;
		break;
	case 2:
		if (rep.fail < 0 || rep.fail > 4)
			scep_client_die("reply: FAILURE without a known failInfo");
		printf("FAILURE %s\n", fails[rep.fail]);
		if (rep.fail_text != NULL)
			fprintf(stderr, "failInfoText: %s\n", rep.fail_text);
		r = 2;
		break;
	case 3:
		printf("PENDING\n");
		r = 3;
		break;
	default:
		scep_client_die("reply: no known pkiStatus");
	}
	fflush(stdout);
	scep_build_reply_clear(&rep);
	if (ra != st.ra)
		X509_free(ra);
	X509_free(st.ra);
	X509_free(st.signer);
	EVP_PKEY_free(st.key);
	free(der);
	return r;
}

static int
scep_client_nextca(const struct scep_client_opts *o)
{
	STACK_OF(X509) *certs;
	unsigned char *der;
	size_t len;
	X509 *ra;

	if (o->in == NULL || o->ca == NULL)
		scep_client_die("nextca: --in and --ca are needed");
	ra = scep_client_ra(o->ca);
	der = scep_client_read(o->in, &len);
	if (scep_build_read_next_ca(der, len, ra, &certs) < 0)
		scep_client_die("nextca: not a SignedData by the current RA over certificates");
	scep_client_write_certs(o->out ? o->out : "-", certs, 0, sk_X509_num(certs));
	sk_X509_pop_free(certs, X509_free);
	X509_free(ra);
	free(der);
	return 0;
}

static int
scep_client_print_ra(const struct scep_client_opts *o)
{
	STACK_OF(X509) *one = sk_X509_new_null();
	X509 *ra;

	if (o->ca == NULL)
		scep_client_die("ra: --ca is needed");
	ra = scep_client_ra(o->ca);
	if (one == NULL || !sk_X509_push(one, ra))
		scep_client_die("out of memory");
	scep_client_write_certs(o->out ? o->out : "-", one, 0, 1);
	sk_X509_pop_free(one, X509_free);
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "ca", required_argument, NULL, 'a' },
		{ "out", required_argument, NULL, 'o' },
		{ "state", required_argument, NULL, 's' },
		{ "in", required_argument, NULL, 'i' },
		{ "chain-out", required_argument, NULL, 'C' },
		{ "type", required_argument, NULL, 't' },
		{ "cipher", required_argument, NULL, 'c' },
		{ "digest", required_argument, NULL, 'd' },
		{ "key", required_argument, NULL, 'k' },
		{ "key-type", required_argument, NULL, 'K' },
		{ "subject", required_argument, NULL, 'S' },
		{ "san", required_argument, NULL, 'N' },
		{ "challenge", required_argument, NULL, 'p' },
		{ "signer-cert", required_argument, NULL, 'x' },
		{ "signer-key", required_argument, NULL, 'y' },
		{ "txid", required_argument, NULL, 'T' },
		{ "serial", required_argument, NULL, 'n' },
		{ "issuer-cert", required_argument, NULL, 'I' },
		{ "content", required_argument, NULL, 'b' },
		{ "break", required_argument, NULL, 'B' },
		{ "format", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct scep_client_opts o = {
		.type = "pkcsreq",
		.cipher = "aes128",
		.digest = "sha256",
		.key_type = "rsa2048",
		.subject = "/CN=scep-client",
		.format = "der",
	};
	const char *cmd;
	int c;

	if (argc < 2) {
		fprintf(stderr, "usage: scep_client request|reply|nextca|ra [options] "
				"(see tests/tools/scep_client.c)\n");
		return 1;
	}
	cmd = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case 'a':
			o.ca = optarg;
			break;
		case 'o':
			o.out = optarg;
			break;
		case 's':
			o.state = optarg;
			break;
		case 'i':
			o.in = optarg;
			break;
		case 'C':
			o.chain_out = optarg;
			break;
		case 't':
			o.type = optarg;
			break;
		case 'c':
			o.cipher = optarg;
			break;
		case 'd':
			o.digest = optarg;
			break;
		case 'k':
			o.key = optarg;
			break;
		case 'K':
			o.key_type = optarg;
			break;
		case 'S':
			o.subject = optarg;
			break;
		case 'N':
			if (strlen(o.san) + strlen(optarg) + 2 > sizeof(o.san))
				scep_client_die("--san: too many");
			if (o.san[0] != '\0')
				strcat(o.san, ",");
			strcat(o.san, optarg);
			break;
		case 'p':
			o.challenge = optarg;
			break;
		case 'x':
			o.signer_cert = optarg;
			break;
		case 'y':
			o.signer_key = optarg;
			break;
		case 'T':
			o.txid = optarg;
			break;
		case 'n':
			o.serial = optarg;
			break;
		case 'I':
			o.issuer_cert = optarg;
			break;
		case 'b':
			o.content = optarg;
			break;
		case 'B':
			o.flags |= scep_client_break(optarg);
			break;
		case 'f':
			if (strcmp(optarg, "der") != 0 && strcmp(optarg, "b64") != 0 &&
			    strcmp(optarg, "b64-raw") != 0 && strcmp(optarg, "b64-lines") != 0)
				scep_client_die("--format: der, b64, b64-raw or b64-lines");
			o.format = optarg;
			break;
		default:
			return 1;
		}
	}
	if (optind != argc)
		scep_client_die("unexpected arguments");
	if (strcmp(cmd, "request") == 0)
		return scep_client_request(&o);
	if (strcmp(cmd, "reply") == 0)
		return scep_client_reply(&o);
	if (strcmp(cmd, "nextca") == 0)
		return scep_client_nextca(&o);
	if (strcmp(cmd, "ra") == 0)
		return scep_client_print_ra(&o);
	scep_client_die("commands: request, reply, nextca, ra");
	return 1;
}
