/*
 * tls_files.c - server.tls's certificate, key and client CA, read and judged with
 * OpenSSL before the HTTP layer (GnuTLS) gets their text.
 *
 *	tls_files_load() reads each file whole (at most 1 MiB), checks that the
 *	certificate file holds at least one PEM certificate, the key file an
 *	unencrypted private key that belongs to the first certificate, the client CA
 *	file at least one certificate; it notes the leaf's validity and whether the
 *	key file is readable by its group or by others (fstat on the descriptor read).
 *
 * Never here: logging, the key's text in a message, a passphrase prompt (an
 * encrypted key is refused), MHD or GnuTLS.
 */
#include "scepd/tls_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "scepd/encoding.h"
#include "scepd/fileio.h"

#define TLS_FILES_MAX ((size_t)1 << 20)

static int __attribute__((format(printf, 4, 5)))
tls_files_fail(struct tls_files_error *err, int r, const char *setting, const char *fmt, ...)
{
	va_list ap;

	snprintf(err->setting, sizeof(err->setting), "%s", setting);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return r;
}

/*
 * path's content, NUL-terminated, in *ret_text (*ret_size bytes allocated), and its
 * mode. The buffer is wiped before it is freed on failure: it may be a key.
 */
static int
tls_files_read(const char *path, char **ret_text, size_t *ret_size, mode_t *ret_mode)
{
	struct stat st;
	char *buf = NULL;
	size_t len = 0, size = TLS_FILES_MAX + 1;
	int fd, r;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if ((size_t)st.st_size > TLS_FILES_MAX) {
		r = -EFBIG;
		goto out;
	}
	if ((buf = malloc(size + 1)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	if ((r = fileio_read(fd, buf, size, &len)) < 0)
		goto out;
	if (len > TLS_FILES_MAX) {
		r = -EFBIG;
		goto out;
	}
	buf[len] = '\0';
	*ret_text = buf;
	*ret_size = size + 1;
	*ret_mode = st.st_mode;
	buf = NULL;
	r = 0;
out:
	if (buf != NULL)
		OPENSSL_clear_free(buf, size + 1);
	close(fd);
	return r;
}

/* A key with a passphrase is refused, never prompted for. */
static int
tls_files_no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/* The certificates of a PEM text: how many, and the first one (the caller frees it). */
static int
tls_files_certs(const char *pem, X509 **ret_first, size_t *ret_n)
{
	BIO *bio;
	X509 *cert, *first = NULL;
	size_t n = 0;

	if ((bio = BIO_new_mem_buf(pem, -1)) == NULL)
		return -ENOMEM;
	while ((cert = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (first == NULL)
			first = cert;
		else
			X509_free(cert);
		n++;
	}
	ERR_clear_error(); /* the end of the text reads as an error */
	BIO_free(bio);
	if (ret_first != NULL)
		*ret_first = first;
	else
		X509_free(first);
	*ret_n = n;
	return 0;
}

static int
tls_files_read_setting(const char *setting, const char *path, char **ret_text, size_t *ret_size,
		       mode_t *ret_mode, struct tls_files_error *err)
{
	int r = tls_files_read(path, ret_text, ret_size, ret_mode);

	if (r == -EFBIG)
		return tls_files_fail(err, r, setting, "'%s' is larger than 1 MiB", path);
	if (r < 0)
		return tls_files_fail(err, r, setting, "cannot read '%s': %s", path, strerror(-r));
	return 0;
}

/* The leaf's serial and validity. */
static void
tls_files_dates(struct tls_files *f, X509 *leaf)
{
	char *hex = NULL;
	struct tm tm;
	int days = 0, secs = 0;

	if (encoding_hex_serial(X509_get0_serialNumber(leaf), &hex) == 0) {
		snprintf(f->serial, sizeof(f->serial), "%s", hex);
		free(hex);
	}
	f->expired = X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0;
	f->not_yet_valid = X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0;
	if (ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(leaf)) == 1)
		f->days_left = days;
	if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) == 1)
		f->not_after = timegm(&tm);
}

int
tls_files_load(const struct config_tls *tls, struct tls_files **ret_files,
	       struct tls_files_error *err)
{
	struct tls_files *f = NULL;
	EVP_PKEY *key = NULL;
	X509 *leaf = NULL;
	BIO *bio = NULL;
	size_t size, n;
	mode_t mode;
	int r;

	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -ENOMEM;
	if ((r = tls_files_read_setting("server.tls.certificate", tls->certificate, &f->certificate,
					&size, &mode, err)) < 0 ||
	    (r = tls_files_read_setting("server.tls.key", tls->key, &f->key, &f->key_size, &mode,
					err)) < 0)
		goto out;
	f->key_exposed = (mode & (S_IRGRP | S_IROTH)) != 0;
	if ((r = tls_files_certs(f->certificate, &leaf, &n)) < 0)
		goto out;
	if (n == 0) {
		r = tls_files_fail(err, -EBADMSG, "server.tls.certificate",
				   "no PEM certificate in '%s'", tls->certificate);
		goto out;
	}
	if ((bio = BIO_new_mem_buf(f->key, -1)) == NULL) {
		r = -ENOMEM;
		goto out;
	}
	key = PEM_read_bio_PrivateKey(bio, NULL, tls_files_no_passphrase, NULL);
	ERR_clear_error();
	if (key == NULL) {
		r = tls_files_fail(err, -EBADMSG, "server.tls.key",
				   strstr(f->key, "ENCRYPTED") != NULL
					   ? "'%s' is encrypted: scepd needs the key without a "
					     "passphrase (keep the file 0600)"
					   : "no PEM private key in '%s'",
				   tls->key);
		goto out;
	}
	if (X509_check_private_key(leaf, key) != 1) {
		ERR_clear_error();
		r = tls_files_fail(err, -EBADMSG, "server.tls.key",
				   "'%s' is not the key of the first certificate in '%s'", tls->key,
				   tls->certificate);
		goto out;
	}
	tls_files_dates(f, leaf);
	if (tls->client_ca != NULL) {
		if ((r = tls_files_read_setting("admin.client_ca", tls->client_ca, &f->client_ca,
						&size, &mode, err)) < 0 ||
		    (r = tls_files_certs(f->client_ca, NULL, &n)) < 0)
			goto out;
		if (n == 0) {
			r = tls_files_fail(err, -EBADMSG, "admin.client_ca",
					   "no PEM certificate in '%s'", tls->client_ca);
			goto out;
		}
	}
	*ret_files = f;
	f = NULL;
	r = 0;
out:
	EVP_PKEY_free(key);
	X509_free(leaf);
	BIO_free(bio);
	tls_files_free(f);
	return r;
}

void
tls_files_forget_key(struct tls_files *files)
{
	if (files == NULL || files->key == NULL)
		return;
	OPENSSL_clear_free(files->key, files->key_size);
	files->key = NULL;
	files->key_size = 0;
}

void
tls_files_free(struct tls_files *files)
{
	if (files == NULL)
		return;
	tls_files_forget_key(files);
	free(files->certificate);
	free(files->client_ca);
	free(files);
}
