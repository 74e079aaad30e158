/*
 * store.c - the storage interface: storage.uri -> a backend, and the calls forwarded to it.
 *
 * SYNOPSIS
 *	#include "scepd/store.h"
 *
 *	store_open(uri, &st)
 *	store_add_cert(st, cert)
 *	store_count_certs(st, &count)
 *	store_get_cert_der(st, serial, &der, &len)
 *	store_close(st)
 *
 * DESCRIPTION
 *	store_open() picks the backend by the scheme of the URI ("sqlite:PATH" ->
 *	store_sqlite.c; "postgresql://..." and "postgres://..." are reserved for
 *	store_pg.c) and hands it the rest. The other calls check their arguments,
 *	bring serials to the one form the backends store (upper-case hex without
 *	leading zeros, "0" for zero), then call the backend through its ops table
 *	(store_backend.h). No backend code and no SQL here.
 *
 *	Each worker opens its own store after fork(); a handle is never shared
 *	between processes. Nothing here logs: errors are returned to the caller,
 *	which logs them once.
 *
 * DIAGNOSTICS
 *	0 or -errno. store_open(): -EINVAL for an unknown scheme or a malformed URI,
 *	-EPROTONOSUPPORT for PostgreSQL (not built yet), otherwise the backend's
 *	code. store_add_cert(): -EINVAL when a mandatory field is missing or the
 *	serial is not hex. store_get_cert_der(): -ENOENT also for a serial that is
 *	not hex (no certificate can have it). Out-parameters are written only on
 *	success.
 */
#include "scepd/store.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store_backend.h"

#define STORE_HEX "0123456789abcdefABCDEF"

struct store_scheme {
	const char *prefix;
	int whole_uri; /* hand the backend the whole URI (libpq parses it), not what follows */
	int (*open)(const char *location, struct store **ret_store);
};

static int
store_open_unsupported(const char *location, struct store **ret_store)
{
	(void)location;
	(void)ret_store;
	return -EPROTONOSUPPORT;
}

static const struct store_scheme store_schemes[] = {
	{ "sqlite:", 0, store_sqlite_open },
	/* XXX: PostgreSQL is issue 7 (store_pg.c); config.c already accepts the URIs. */
	{ "postgresql://", 1, store_open_unsupported },
	{ "postgres://", 1, store_open_unsupported },
};

int
store_open(const char *uri, struct store **ret_store)
{
	const struct store_scheme *sc;
	size_t i, len;

	assert(uri != NULL && ret_store != NULL);
	for (i = 0; i < sizeof(store_schemes) / sizeof(store_schemes[0]); i++) {
		sc = &store_schemes[i];
		len = strlen(sc->prefix);
		if (strncmp(uri, sc->prefix, len) == 0)
			return sc->open(sc->whole_uri ? uri : uri + len, ret_store);
	}
	return -EINVAL;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	st->ops->close(st);
}

/* "003a9f" -> "3A9F", "00" -> "0"; -EINVAL when empty or not hex. */
static int
store_serial_normalize(const char *serial, char **ret_serial)
{
	char *s;
	size_t i, len, zeros;

	len = strlen(serial);
	if (len == 0 || strspn(serial, STORE_HEX) != len)
		return -EINVAL;
	zeros = strspn(serial, "0");
	if (zeros == len)
		zeros--; /* keep one digit for zero */
	if ((s = strdup(serial + zeros)) == NULL)
		return -ENOMEM;
	for (i = 0; s[i] != '\0'; i++)
		if (s[i] >= 'a' && s[i] <= 'f')
			s[i] = (char)(s[i] - 'a' + 'A');
	*ret_serial = s;
	return 0;
}

static int
store_cert_valid(const struct store_cert *cert)
{
	return cert->serial != NULL && cert->subject != NULL && cert->sans != NULL &&
	       cert->endpoint != NULL && cert->der != NULL && cert->der_len > 0;
}

int
store_add_cert(struct store *st, const struct store_cert *cert)
{
	struct store_cert c;
	char *serial = NULL;
	int r;

	assert(st != NULL && cert != NULL);
	if (!store_cert_valid(cert)) {
		r = -EINVAL;
		goto out;
	}
	if ((r = store_serial_normalize(cert->serial, &serial)) < 0)
		goto out;
	c = *cert;
	c.serial = serial;
	r = st->ops->add_cert(st, &c);
out:
	free(serial);
	return r;
}

int
store_count_certs(struct store *st, uint64_t *ret_count)
{
	assert(st != NULL && ret_count != NULL);
	return st->ops->count_certs(st, ret_count);
}

int
store_get_cert_der(struct store *st, const char *serial, unsigned char **ret_der, size_t *ret_len)
{
	char *s = NULL;
	int r;

	assert(st != NULL && serial != NULL && ret_der != NULL && ret_len != NULL);
	if ((r = store_serial_normalize(serial, &s)) < 0) {
		r = r == -EINVAL ? -ENOENT : r;
		goto out;
	}
	r = st->ops->get_cert_der(st, s, ret_der, ret_len);
out:
	free(s);
	return r;
}
