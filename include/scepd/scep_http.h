/*
 * scep_http.h - SCEP (RFC 8894) over HTTP at scep.path and /cgi-bin/pkiclient.exe.
 *
 * GetCACaps, GetCACert, GetNextCACert and PKIOperation (POST with the DER body, or
 * GET with message=base64), OPTIONS (a WADL naming scep.location). What is not a
 * pkiMessage at all gets 400 with one line of text; everything else gets a signed
 * CertRep: SUCCESS, PENDING, or FAILURE with the failInfo that fits.
 */
#ifndef SCEPD_SCEP_HTTP_H
#define SCEPD_SCEP_HTTP_H

#include "scepd/config.h"
#include "scepd/crl_publish.h"
#include "scepd/http.h"
#include "scepd/issuer.h"
#include "scepd/secret.h"

/*
 * The legacy path some clients hard-code: served by the profile named "scep", or by
 * the only SCEP profile.
 */
#define SCEP_HTTP_LEGACY_PATH "/cgi-bin/pkiclient.exe"

struct scep_http;

/*
 * The SCEP endpoint of profile (an index in cfg->profiles, of type scep). Reads its
 * static challenge, if any: 0, or negative with err naming the setting. crls: the
 * worker's CRLs (borrowed), for GetCRL when the profile's CA has crl.path; NULL: GetCRL
 * is redirected to scep.crl_url (or answered 400) as when the CA makes no CRL.
 */
int scep_http_new(const struct scepd_config *cfg, size_t profile, struct issuer *issuer,
		  struct crl_publish *crls, struct scep_http **ret, struct secret_error *err);
void scep_http_free(struct scep_http *sh);

/* The route handler; userdata is the struct scep_http. */
int scep_http_handle(struct http_request *req, void *userdata);

#endif
