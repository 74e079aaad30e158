/*
 * signer.c - certificate request + policy decision -> signed certificate.
 *
 * SYNOPSIS
 *	#include "scepd/signer.h"
 *
 *	signer_new(ca, key, ca_cert, &signer)
 *	signer_verify_csr(csr)
 *	signer_issue(signer, &req, &cert)
 *	signer_free(signer)
 *
 * DESCRIPTION
 *	signer_new() keeps the CA key and certificate (borrowed), the digest, days,
 *	backdate and serial mode of ca.*, and prepares ca.extensions once: every
 *	extension that does not depend on the certificate being issued (basicConstraints,
 *	keyUsage, extendedKeyUsage, ...) is built here and copied into each
 *	certificate; subjectKeyIdentifier, authorityKeyIdentifier, subjectAltName and
 *	whatever needs the subject are built per certificate with the CA certificate
 *	as issuer and the new certificate as subject in the v3 context, so "hash" and
 *	"keyid,issuer" work. "none" for the key identifiers leaves them out, as in
 *	openssl(1).
 *
 *	signer_issue() makes an X.509 v3 certificate: issuer = the subject of the CA
 *	certificate, subject and subjectAltName as the policy decided, the public key of
 *	the request, notBefore = now - ca.backdate, notAfter = notBefore + ca.days, the
 *	extensions in the order of ca.extensions (the policy's subjectAltName replaces
 *	one written there, critical when the subject is empty, RFC 5280 4.2.1.6; one
 *	that comes out empty, as "email:copy" without an address, is left out), then
 *	a serial, then X509_sign() with ca.digest, then a check of the signature with
 *	the public key of the CA certificate.
 *
 *	Serials (RFC 5280: positive, at most 20 octets, so below 2^159):
 *	"random" draws 159 bits from RAND_bytes() and redraws zero. "file:PATH" opens
 *	PATH (O_RDWR|O_CREAT, 0600) on every call, takes an exclusive flock(), reads
 *	the first line as a hexadecimal number (the format of openssl-ca's serial
 *	file), uses it, writes the next number back as "HEX\n" in place, fsync()s and
 *	unlocks: safe across forked workers, several daemons and restarts. A missing,
 *	empty or blank file starts at 1. "subject" takes the one serialNumber attribute
 *	of the certificate's subject (as the policy decided it) as a decimal number,
 *	or as hexadecimal after "0x".
 *
 *	Knows nothing of HTTP, the store or libconfig; never logs.
 *
 * DIAGNOSTICS
 *	Functions return 0 or a negative errno; out-parameters are written only on
 *	success. signer_new(): -EINVAL for an unknown digest or extension, or an
 *	authorityKeyIdentifier the CA certificate cannot provide; -ENOMEM.
 *	signer_issue(): -EBADMSG when the request cannot be certified (no usable
 *	public key; for "subject" no serialNumber, two of them, or one that is not a
 *	number in 1..2^159-1; an extension of ca.extensions that cannot be made for
 *	this request); -EIO when RAND_bytes(), the signature or its check failed
 *	(OpenSSL's error queue is left for the caller to inspect); for "file:" the
 *	errno of open, flock, read, write or fsync, or -EUCLEAN when the file holds
 *	no usable serial (not hexadecimal, zero, or 2^159 and more).
 *
 * BUGS
 *	The serial file is rewritten in place, not renamed over, so that a process
 *	waiting for the lock reads the new value. The line is at most 41 bytes at
 *	offset 0, within one disk sector, which drives write atomically.
 */
#include "scepd/signer.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/rand.h>

#include "scepd/fileio.h"

#define SIGNER_SERIAL_BITS     159 /* RFC 5280 4.1.2.2: positive, at most 20 octets */
#define SIGNER_SERIAL_FILE_MAX 128 /* a serial file longer than this is not ours */
#define SIGNER_SERIAL_TEXT_MAX 64  /* digits of a subject serialNumber */

struct signer_ext {
	int nid;
	char *value;
	X509_EXTENSION *built; /* made once by signer_new(); NULL: made per certificate */
};

struct signer {
	EVP_PKEY *key;
	X509 *ca_cert;
	const EVP_MD *md;
	int days;
	int backdate;
	enum config_serial_kind serial;
	char *serial_file;
	struct signer_ext *ext;
	size_t n_ext;
	bool may_issue_ca; /* ca.extensions says basicConstraints CA:TRUE */
};

void
signer_free(struct signer *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n_ext; i++) {
		X509_EXTENSION_free(s->ext[i].built);
		free(s->ext[i].value);
	}
	free(s->ext);
	free(s->serial_file);
	free(s);
}

/* These depend on the certificate being issued, whatever their value. */
static bool
signer_ext_per_cert(int nid)
{
	return nid == NID_subject_key_identifier || nid == NID_authority_key_identifier ||
	       nid == NID_subject_alt_name;
}

/*
 * Builds each extension with the CA certificate as issuer and no subject. What
 * succeeds and does not depend on the subject is kept; what needs the subject
 * ("hash", "email:copy") is made per certificate. authorityKeyIdentifier needs the
 * issuer only, so its failure here is final: the CA certificate cannot provide it.
 */
static int
signer_ext_prepare(struct signer *s, const struct config_pairs *pairs)
{
	X509_EXTENSION *ext;
	X509V3_CTX v3;
	int r;

	if (pairs->n == 0)
		return 0;
	if ((s->ext = calloc(pairs->n, sizeof(*s->ext))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < pairs->n; i++) {
		const struct config_pair *p = &pairs->v[i];
		struct signer_ext *e = &s->ext[s->n_ext];
		int nid;

		if (p->name == NULL || p->value == NULL ||
		    (nid = OBJ_txt2nid(p->name)) == NID_undef) {
			r = -EINVAL;
			goto out;
		}
		if ((nid == NID_subject_key_identifier || nid == NID_authority_key_identifier) &&
		    strcmp(p->value, "none") == 0)
			continue;
		e->nid = nid;
		if ((e->value = strdup(p->value)) == NULL) {
			r = -ENOMEM;
			goto out;
		}
		s->n_ext++;

		X509V3_set_ctx(&v3, s->ca_cert, NULL, NULL, NULL, 0);
		ERR_set_mark();
		ext = X509V3_EXT_nconf_nid(NULL, &v3, nid, e->value);
		if (ext == NULL && nid == NID_authority_key_identifier) {
			ERR_clear_last_mark(); /* keep OpenSSL's reason for the caller */
			r = -EINVAL;
			goto out;
		}
		ERR_pop_to_mark();
		if (ext != NULL && signer_ext_per_cert(nid))
			X509_EXTENSION_free(ext);
		else
			e->built = ext;
	}
	r = 0;
out:
	return r;
}

static bool
signer_pairs_name(const struct config_pairs *pairs, const char *name)
{
	for (size_t i = 0; i < pairs->n; i++)
		if (pairs->v[i].name != NULL && strcmp(pairs->v[i].name, name) == 0)
			return true;
	return false;
}

/*
 * extensions, then crlDistributionPoints from ca.crl_distribution_points and
 * authorityInfoAccess from ca.ocsp_url, unless extensions name them: the list written
 * wins.
 */
static int
signer_ext_prepare_all(struct signer *s, const struct config_ca *ca,
		       const struct config_pairs *extensions)
{
	struct config_pairs all = { 0 };
	char *cdp = NULL, *aia = NULL;
	size_t used = 0, size = 1;
	int r = -ENOMEM;

	if ((all.v = calloc(extensions->n + 2, sizeof(*all.v))) == NULL)
		goto out;
	memcpy(all.v, extensions->v, extensions->n * sizeof(*all.v));
	all.n = extensions->n;
	if (ca->crl_distribution_points.n > 0 &&
	    !signer_pairs_name(extensions, "crlDistributionPoints")) {
		for (size_t i = 0; i < ca->crl_distribution_points.n; i++)
			size += strlen(ca->crl_distribution_points.v[i]) + 5;
		if ((cdp = malloc(size)) == NULL)
			goto out;
		for (size_t i = 0; i < ca->crl_distribution_points.n; i++)
			used += (size_t)snprintf(cdp + used, size - used, "%sURI:%s",
						 i > 0 ? "," : "",
						 ca->crl_distribution_points.v[i]);
		all.v[all.n++] =
			(struct config_pair){ .name = "crlDistributionPoints", .value = cdp };
	}
	if (ca->ocsp_url != NULL && !signer_pairs_name(extensions, "authorityInfoAccess")) {
		if (asprintf(&aia, "OCSP;URI:%s", ca->ocsp_url) < 0) {
			aia = NULL;
			goto out;
		}
		all.v[all.n++] =
			(struct config_pair){ .name = "authorityInfoAccess", .value = aia };
	}
	r = signer_ext_prepare(s, &all);
out:
	free(all.v);
	free(cdp);
	free(aia);
	return r;
}

int
signer_new(const struct config_ca *ca, const struct config_pairs *extensions, int days,
	   EVP_PKEY *key, X509 *ca_cert, struct signer **ret)
{
	struct signer *s = NULL;
	int r;

	if (ca != NULL && extensions == NULL)
		extensions = &ca->extensions;
	if (ca == NULL || key == NULL || ca_cert == NULL || ca->days <= 0 || days < 0 ||
	    ca->backdate < 0) {
		r = -EINVAL;
		goto out;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	s->key = key;
	s->ca_cert = ca_cert;
	s->days = days > 0 ? days : ca->days;
	s->backdate = ca->backdate;
	s->serial = ca->serial;
	if ((s->md = EVP_get_digestbyname(ca->digest != NULL ? ca->digest : "sha256")) == NULL) {
		r = -EINVAL;
		goto out;
	}
	switch (ca->serial) {
	case CONFIG_SERIAL_RANDOM:
	case CONFIG_SERIAL_SUBJECT:
		break;
	case CONFIG_SERIAL_FILE:
		if (ca->serial_file == NULL || ca->serial_file[0] == '\0') {
			r = -EINVAL;
			goto out;
		}
		if ((s->serial_file = strdup(ca->serial_file)) == NULL) {
			r = -ENOMEM;
			goto out;
		}
		break;
	default:
		r = -EINVAL;
		goto out;
	}
	if ((r = signer_ext_prepare_all(s, ca, extensions)) < 0)
		goto out;
	for (size_t i = 0; i < extensions->n; i++)
		if (strcmp(extensions->v[i].name, "basicConstraints") == 0 &&
		    extensions->v[i].value != NULL &&
		    strcasestr(extensions->v[i].value, "CA:TRUE") != NULL)
			s->may_issue_ca = true;
	*ret = s;
	s = NULL; /* the caller owns it now */
	r = 0;
out:
	signer_free(s);
	return r;
}

int
signer_verify_csr(X509_REQ *csr)
{
	EVP_PKEY *pkey;

	if (csr == NULL || (pkey = X509_REQ_get0_pubkey(csr)) == NULL)
		return -EBADMSG;
	if (X509_REQ_verify(csr, pkey) != 1)
		return -EBADMSG;
	return 0;
}

static bool
signer_serial_usable(const BIGNUM *bn)
{
	return !BN_is_zero(bn) && !BN_is_negative(bn) && BN_num_bits(bn) <= SIGNER_SERIAL_BITS;
}

static int
signer_serial_random(BIGNUM **ret)
{
	unsigned char buf[(SIGNER_SERIAL_BITS + 1) / 8];
	BIGNUM *bn = NULL;
	int r;

	do {
		if (RAND_bytes(buf, sizeof(buf)) != 1) {
			r = -EIO;
			goto out;
		}
		buf[0] &= 0x7f; /* 159 bits: positive in 20 octets */
		if ((bn = BN_bin2bn(buf, sizeof(buf), bn)) == NULL) {
			r = -ENOMEM;
			goto out;
		}
	} while (BN_is_zero(bn));
	*ret = bn;
	bn = NULL;
	r = 0;
out:
	BN_free(bn);
	return r;
}

static bool
signer_is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * The serial in a serial file: blanks, hexadecimal digits, blanks, then the end of
 * the line. Later lines are ignored (a crash between rewriting and truncating a
 * longer, hand-written file leaves its tail there). A blank file means 1.
 */
static int
signer_serial_file_parse(const char *buf, size_t len, BIGNUM **ret, bool *ret_blank)
{
	char hex[SIGNER_SERIAL_FILE_MAX + 1];
	BIGNUM *bn = NULL;
	size_t i = 0, n = 0;
	int r;

	while (i < len && signer_is_blank(buf[i]) && buf[i] != '\n')
		i++;
	while (i < len && isxdigit((unsigned char)buf[i]))
		hex[n++] = buf[i++];
	hex[n] = '\0';
	while (i < len && signer_is_blank(buf[i]) && buf[i] != '\n')
		i++;
	if (n == 0) {
		for (i = 0; i < len; i++)
			if (!signer_is_blank(buf[i])) {
				r = -EUCLEAN;
				goto out;
			}
		if ((bn = BN_new()) == NULL || !BN_one(bn)) {
			r = -ENOMEM;
			goto out;
		}
	} else {
		if (i < len && buf[i] != '\n') {
			r = -EUCLEAN;
			goto out;
		}
		if (BN_hex2bn(&bn, hex) != (int)n) {
			r = -ENOMEM;
			goto out;
		}
	}
	if (!signer_serial_usable(bn)) {
		r = -EUCLEAN;
		goto out;
	}
	*ret = bn;
	*ret_blank = n == 0;
	bn = NULL;
	r = 0;
out:
	BN_free(bn);
	return r;
}

/* A newly created serial file must survive a crash: make its directory entry durable. */
static int
signer_fsync_dir(const char *path)
{
	char *dir = NULL, *slash;
	int fd = -1, r;

	if ((dir = strdup(path)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if ((slash = strrchr(dir, '/')) == NULL)
		strcpy(dir, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 || fsync(fd) < 0) {
		r = -errno;
		goto out;
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(dir);
	return r;
}

static int
signer_serial_file(const char *path, BIGNUM **ret)
{
	char buf[SIGNER_SERIAL_FILE_MAX + 1], *hex = NULL;
	BIGNUM *bn = NULL, *next = NULL;
	size_t len = 0, out_len;
	bool blank;
	int fd = -1, r;
	ssize_t k;

	/* Opened per call: a descriptor shared through fork() would share the lock too. */
	if ((fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		r = -errno;
		goto out;
	}
	while (flock(fd, LOCK_EX) < 0)
		if (errno != EINTR) {
			r = -errno;
			goto out;
		}
	if ((r = fileio_read(fd, buf, sizeof(buf), &len)) < 0) /* at offset 0: opened just now */
		goto out;
	if (len > SIGNER_SERIAL_FILE_MAX) {
		r = -EUCLEAN;
		goto out;
	}
	if ((r = signer_serial_file_parse(buf, len, &bn, &blank)) < 0)
		goto out;

	if ((next = BN_dup(bn)) == NULL || !BN_add_word(next, 1) ||
	    (hex = BN_bn2hex(next)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	out_len = (size_t)snprintf(buf, sizeof(buf), "%s\n", hex);
	if (out_len >= sizeof(buf)) {
		r = -EUCLEAN;
		goto out;
	}
	for (size_t done = 0; done < out_len;) {
		if ((k = pwrite(fd, buf + done, out_len - done, (off_t)done)) < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		done += (size_t)k;
	}
	if ((len > out_len && ftruncate(fd, (off_t)out_len) < 0) || fsync(fd) < 0) {
		r = -errno;
		goto out;
	}
	if (blank && (r = signer_fsync_dir(path)) < 0)
		goto out;
	*ret = bn;
	bn = NULL;
	r = 0;
out:
	if (fd >= 0)
		close(fd); /* releases the lock */
	OPENSSL_free(hex);
	BN_free(next);
	BN_free(bn);
	return r;
}

/* The one serialNumber attribute of the subject: decimal, or hexadecimal after "0x". */
static int
signer_serial_subject(const X509_NAME *subject, BIGNUM **ret)
{
	char text[SIGNER_SERIAL_TEXT_MAX + 1];
	const unsigned char *p;
	const ASN1_STRING *data;
	BIGNUM *bn = NULL;
	bool is_hex;
	int idx, len, r;

	idx = X509_NAME_get_index_by_NID(subject, NID_serialNumber, -1);
	if (idx < 0 || X509_NAME_get_index_by_NID(subject, NID_serialNumber, idx) >= 0) {
		r = -EBADMSG;
		goto out;
	}
	data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
	p = ASN1_STRING_get0_data(data);
	len = ASN1_STRING_length(data);
	is_hex = len > 2 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X');
	if (is_hex) {
		p += 2;
		len -= 2;
	}
	if (len <= 0 || len > SIGNER_SERIAL_TEXT_MAX) {
		r = -EBADMSG;
		goto out;
	}
	for (int i = 0; i < len; i++)
		if (!(is_hex ? isxdigit(p[i]) : isdigit(p[i]))) {
			r = -EBADMSG;
			goto out;
		}
	memcpy(text, p, (size_t)len);
	text[len] = '\0';
	if ((is_hex ? BN_hex2bn(&bn, text) : BN_dec2bn(&bn, text)) != len) {
		r = -ENOMEM;
		goto out;
	}
	if (!signer_serial_usable(bn)) {
		r = -EBADMSG;
		goto out;
	}
	*ret = bn;
	bn = NULL;
	r = 0;
out:
	BN_free(bn);
	return r;
}

static int
signer_set_serial(const struct signer *s, const struct issue_req *req, X509 *cert)
{
	BIGNUM *bn = NULL;
	int r;

	switch (s->serial) {
	case CONFIG_SERIAL_FILE:
		r = signer_serial_file(s->serial_file, &bn);
		break;
	case CONFIG_SERIAL_SUBJECT:
		r = signer_serial_subject(req->subject, &bn);
		break;
	default:
		r = signer_serial_random(&bn);
		break;
	}
	if (r < 0)
		goto out;
	if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	r = 0;
out:
	BN_free(bn);
	return r;
}

static int
signer_set_validity(const struct signer *s, X509 *cert)
{
	time_t not_before = time(NULL) - s->backdate;

	/* Days apart, so that 36500 days do not overflow an int of seconds. */
	if (ASN1_TIME_set(X509_getm_notBefore(cert), not_before) == NULL ||
	    ASN1_TIME_adj(X509_getm_notAfter(cert), not_before, s->days, 0) == NULL)
		return -ENOMEM;
	return 0;
}

static int
signer_add_san(const struct issue_req *req, X509 *cert)
{
	/* RFC 5280 4.2.1.6: critical when the subject is empty. */
	int critical = X509_NAME_entry_count(req->subject) == 0;

	if (X509_add1_ext_i2d(cert, NID_subject_alt_name, (GENERAL_NAMES *)req->san, critical,
			      X509V3_ADD_APPEND) != 1)
		return -ENOMEM;
	return 0;
}

/* RFC 5280 4.2.1.6: a subjectAltName holds at least one name. */
static bool
signer_san_empty(X509_EXTENSION *ext)
{
	GENERAL_NAMES *names = X509V3_EXT_d2i(ext);
	bool empty = names != NULL && sk_GENERAL_NAME_num(names) == 0;

	GENERAL_NAMES_free(names);
	return empty;
}

static int
signer_add_extensions(const struct signer *s, const struct issue_req *req, X509 *cert)
{
	bool have_san = req->san != NULL && sk_GENERAL_NAME_num(req->san) > 0;
	bool san_done = false;
	X509_EXTENSION *made = NULL;
	X509V3_CTX v3;
	int r;

	X509V3_set_ctx(&v3, s->ca_cert, cert, NULL, NULL, 0);
	for (size_t i = 0; i < s->n_ext; i++) {
		const struct signer_ext *e = &s->ext[i];

		if (e->nid == NID_subject_alt_name && have_san) {
			/* The policy's subjectAltName takes the place of the configured one. */
			if ((r = signer_add_san(req, cert)) < 0)
				goto out;
			san_done = true;
			continue;
		}
		if (e->built == NULL &&
		    (made = X509V3_EXT_nconf_nid(NULL, &v3, e->nid, e->value)) == NULL) {
			r = -EBADMSG;
			goto out;
		}
		if (made != NULL && e->nid == NID_subject_alt_name && signer_san_empty(made)) {
			/* "email:copy" without an address: no SAN rather than an empty one. */
			X509_EXTENSION_free(made);
			made = NULL;
			continue;
		}
		if (!X509_add_ext(cert, made != NULL ? made : e->built, -1)) {
			r = -ENOMEM;
			goto out;
		}
		X509_EXTENSION_free(made);
		made = NULL;
	}
	if (have_san && !san_done && (r = signer_add_san(req, cert)) < 0)
		goto out;
	r = 0;
out:
	X509_EXTENSION_free(made);
	return r;
}

/*
 * What was signed is what the profile says: the configured validity, and no CA
 * certificate unless ca.extensions asks for one. A signer bug or a tampered request
 * path must not hand out a certificate the operator never configured.
 */
static int
signer_check_profile(const struct signer *s, X509 *cert)
{
	int days = 0, secs = 0;

	if (!ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert), X509_get0_notAfter(cert)) ||
	    days != s->days || secs != 0)
		return -EIO;
	if (!s->may_issue_ca && X509_check_ca(cert) != 0)
		return -EIO;
	return 0;
}

/*
 * The request's SubjectPublicKeyInfo as it is, algorithm and key bits copied:
 * X509_set_pubkey() would encode the key and decode it again (OpenSSL 3's decoder
 * lookup is a good part of a certificate's cost). The CSR's key was decoded and its
 * signature checked before; what is not a NULL, absent or OID parameter (RSA, EC)
 * takes the long way.
 */
static int
signer_copy_spki(X509 *cert, X509_REQ *csr)
{
	const X509_PUBKEY *from = X509_REQ_get_X509_PUBKEY(csr);
	const unsigned char *bits;
	const ASN1_OBJECT *alg;
	const X509_ALGOR *algor;
	ASN1_OBJECT *oid = NULL, *param = NULL;
	unsigned char *key = NULL;
	const void *pval;
	int ptype, len;

	if (from == NULL || !X509_PUBKEY_get0_param(NULL, &bits, &len, (X509_ALGOR **)&algor, from))
		return -EBADMSG;
	X509_ALGOR_get0(&alg, &ptype, &pval, algor);
	if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF && ptype != V_ASN1_OBJECT)
		return X509_set_pubkey(cert, X509_REQ_get0_pubkey(csr)) ? 0 : -EBADMSG;
	if ((oid = OBJ_dup(alg)) == NULL ||
	    (ptype == V_ASN1_OBJECT && (param = OBJ_dup(pval)) == NULL) ||
	    (key = OPENSSL_memdup(bits, (size_t)len)) == NULL ||
	    !X509_PUBKEY_set0_param(X509_get_X509_PUBKEY(cert), oid, ptype, param, key, len)) {
		ASN1_OBJECT_free(oid);
		ASN1_OBJECT_free(param);
		OPENSSL_free(key);
		return -ENOMEM;
	}
	return 0;
}

int
signer_issue(struct signer *s, const struct issue_req *req, X509 **ret_cert)
{
	X509 *cert = NULL;
	int r;

	if (s == NULL || req == NULL || req->csr == NULL || req->subject == NULL) {
		r = -EINVAL;
		goto out;
	}
	if (X509_REQ_get0_pubkey(req->csr) == NULL) {
		r = -EBADMSG;
		goto out;
	}
	if ((cert = X509_new()) == NULL || !X509_set_version(cert, X509_VERSION_3) ||
	    !X509_set_issuer_name(cert, X509_get_subject_name(s->ca_cert)) ||
	    !X509_set_subject_name(cert, req->subject)) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = signer_copy_spki(cert, req->csr)) < 0)
		goto out;
	/* The serial comes last: a request refused on the way wastes no file serial. */
	if ((r = signer_set_validity(s, cert)) < 0 ||
	    (r = signer_add_extensions(s, req, cert)) < 0 ||
	    (r = signer_set_serial(s, req, cert)) < 0)
		goto out;
	if (X509_sign(cert, s->key, s->md) <= 0) {
		r = -EIO;
		goto out;
	}
	/* A faulty token must not hand out a certificate that does not verify. */
	if (X509_verify(cert, X509_get0_pubkey(s->ca_cert)) != 1 ||
	    (r = signer_check_profile(s, cert)) < 0) {
		r = -EIO;
		goto out;
	}
	*ret_cert = cert;
	cert = NULL; /* the caller owns it now */
	r = 0;
out:
	X509_free(cert);
	return r;
}
