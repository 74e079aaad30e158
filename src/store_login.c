/*
 * store_login.c - storage.password read from its source, handed to the store, wiped.
 *
 * The password is read by secret_read() just before store_open_explain() (or
 * store_probe()) and wiped right after. A store that cannot be opened is described in
 * the secret_error as "storage.uri: cannot open the store: PATH-OR-HOST: why".
 * Never here: keys or the ENGINE (scepctl links this), logging.
 */
#include "scepd/store_login.h"

#include <stdio.h>

#include <openssl/crypto.h>

/* Opens (ret_store) or probes (timeout_s) the store, with the password when set. */
static int
store_login_run(const struct scepd_config *cfg, unsigned flags, struct store **ret_store,
		unsigned timeout_s, struct secret_error *err)
{
	char password[SECRET_MAX];
	const char *pw = NULL;
	struct store_error serr;
	int r;

	err->setting[0] = '\0';
	if (cfg->storage.password.kind != CONFIG_SECRET_NONE) {
		if ((r = secret_read(&cfg->storage.password, "storage.password", password,
				     sizeof(password), err)) < 0)
			goto out;
		pw = password;
	}
	if (ret_store != NULL)
		r = store_open_explain(cfg->storage.uri, pw, flags, ret_store, &serr);
	else
		r = store_probe(cfg->storage.uri, pw, timeout_s, &serr);
	if (r < 0) {
		snprintf(err->setting, sizeof(err->setting), "storage.uri");
		snprintf(err->message, sizeof(err->message), "cannot open the store: %s",
			 serr.message[0] != '\0' ? serr.message : "(unknown reason)");
	}
out:
	OPENSSL_cleanse(password, sizeof(password));
	return r;
}

int
store_login_open(const struct scepd_config *cfg, unsigned flags, struct store **ret_store,
		 struct secret_error *err)
{
	return store_login_run(cfg, flags, ret_store, 0, err);
}

int
store_login_probe(const struct scepd_config *cfg, unsigned timeout_s, struct secret_error *err)
{
	return store_login_run(cfg, 0, NULL, timeout_s, err);
}
