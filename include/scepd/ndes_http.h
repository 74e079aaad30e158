/*
 * ndes_http.h - an NDES-compatible challenge page (scep.challenge.ndes): what MDM
 * servers built for Microsoft NDES's /certsrv/mscep_admin/ (Fleet, Zentral, Jamf and
 * Intune-style connectors) fetch to get a one-time SCEP challenge, unchanged.
 *
 * GET (and HEAD) only. In order:
 *   - the channel: a request neither over TLS nor from 127.0.0.1 / ::1 gets 403,
 *     unless ndes.allow_plain_http (a TLS-terminating proxy in front);
 *   - HTTP Basic auth against the users file: missing, malformed or wrong
 *     credentials get 401 with WWW-Authenticate: Basic realm="scepd NDES";
 *   - a challenge of 16 upper-case hex digits is minted for this profile with the
 *     user as its owner, good for 60 minutes and one enrolment, and sent in the page
 *     NDES sends: HTML in UTF-16LE with a byte order mark, Cache-Control: no-store.
 * A HEAD gets the same headers and no challenge is minted. Every refusal is one line
 * of text and one log line naming the client (and the user, never the password); a
 * challenge given out is one audit record (result "challenge", never the challenge).
 */
#ifndef SCEPD_NDES_HTTP_H
#define SCEPD_NDES_HTTP_H

#include <stddef.h>

#include "scepd/config.h"
#include "scepd/http.h"
#include "scepd/htpasswd.h"
#include "scepd/store.h"

/* The challenges' lifetime, and what the page says of it. */
#define NDES_HTTP_TTL 3600

struct ndes_http;

/*
 * The page of a SCEP profile with scep.challenge.ndes (an index in cfg->profiles):
 * reads its users file. Returns 0; what htpasswd_load() returns, with err filled.
 */
int ndes_http_new(const struct scepd_config *cfg, size_t profile, struct store *store,
		  struct ndes_http **ret, struct htpasswd_error *err);
void ndes_http_free(struct ndes_http *n);

/* The route handler; userdata is the struct ndes_http. */
int ndes_http_handle(struct http_request *req, void *userdata);

#endif
