/*
 * store_login.c - storage.password read from its source, handed to the store, wiped.
 *
 * The password is read by secret_read() just before store_open_password() and wiped
 * right after. Never here: keys or the ENGINE (scepctl links this), logging.
 */
#include "scepd/store_login.h"

#include <openssl/crypto.h>

int
store_login_open(const struct scepd_config *cfg, unsigned flags, struct store **ret_store,
		 struct secret_error *err)
{
	char password[SECRET_MAX];
	int r;

	err->setting[0] = '\0';
	if (cfg->storage.password.kind == CONFIG_SECRET_NONE)
		return store_open_password(cfg->storage.uri, NULL, flags, ret_store);
	if ((r = secret_read(&cfg->storage.password, "storage.password", password, sizeof(password),
			     err)) == 0)
		r = store_open_password(cfg->storage.uri, password, flags, ret_store);
	OPENSSL_cleanse(password, sizeof(password));
	return r;
}
