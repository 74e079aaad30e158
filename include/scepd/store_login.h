/*
 * store_login.h - opening the store a configuration names, with its password.
 *
 * The one place where storage.password (credential:, file: or env:) is read: by each
 * worker and by scepctl, just before store_open_password(), into a buffer wiped right
 * after. The password never reaches a log or a message.
 */
#ifndef SCEPD_STORE_LOGIN_H
#define SCEPD_STORE_LOGIN_H

#include "scepd/config.h"
#include "scepd/secret.h"
#include "scepd/store.h"

/*
 * store_open_explain() on cfg->storage.uri with storage.password, when set. 0, or
 * with err filled: the error of reading the secret (err->setting is
 * "storage.password"), or the errors of store_open_password() (err->setting is
 * "storage.uri", err->message "cannot open the store: " and the path or host:port
 * with why, never the URI or the password).
 */
int store_login_open(const struct scepd_config *cfg, unsigned flags, struct store **ret_store,
		     struct secret_error *err);

/* The same with store_probe() (`scepd -t`): opens nothing, creates nothing. */
int store_login_probe(const struct scepd_config *cfg, unsigned timeout_s, struct secret_error *err);

#endif
