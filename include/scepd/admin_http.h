/*
 * admin_http.h - the JSON admin API under admin.path: one-time challenges,
 * certificates (look up, revoke), pending SCEP requests (approve, reject).
 *
 * Every request must come over TLS or from loopback unless admin.allow_plain_http
 * (403), carry "Authorization: Bearer TOKEN" of the tokens file (401) with the scope
 * of its endpoint (403). Answers are application/json; errors {"error": "..."}.
 * docs/api.md and docs/openapi.yaml describe the endpoints.
 */
#ifndef SCEPD_ADMIN_HTTP_H
#define SCEPD_ADMIN_HTTP_H

#include "scepd/admin_tokens.h"
#include "scepd/config.h"
#include "scepd/http.h"
#include "scepd/issuer.h"

struct admin_http;

/*
 * The API of cfg->admin (enabled), on the issuer's store. Reads the tokens file:
 * 0; -ENOENT, -EACCES... (cannot read) or -EBADMSG (a malformed line), err telling
 * which line and why; -ENOMEM.
 */
int admin_http_new(const struct scepd_config *cfg, struct issuer *issuer, struct admin_http **ret,
		   struct admin_tokens_error *err);
void admin_http_free(struct admin_http *a);

/* The route handler (a subtree route at admin.path); userdata is the struct admin_http. */
int admin_http_handle(struct http_request *req, void *userdata);

#endif
