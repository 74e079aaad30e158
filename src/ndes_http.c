/*
 * ndes_http.c - the NDES-compatible challenge page of a SCEP profile (ndes_http.h).
 *
 * What the MDM servers read, and so what the page must be: Fleet decodes the body as
 * UTF-16 honouring a byte order mark (big-endian without one) and looks for
 * "(?i)The enrollment challenge password is: <B> (\S*)"; Zentral decodes it with
 * Python's "utf-16" codec (the BOM says the byte order) and looks for "challenge
 * password is: <B> ([A-Z0-9]{16,32}) </B>". Both send Basic credentials; Fleet's NTLM
 * negotiator first asks without any and sends them only after a 401 that offers Basic.
 * So: a BOM (FF FE), then UTF-16LE, the challenge between "<B> " and " </B>" as 16
 * upper-case hex digits, and a Basic challenge on every 401.
 *
 * The Content-Type names charset=utf-16, not utf-16le: with a BOM the body is UTF-16
 * in the sense of RFC 2781 section 4.3 (a "UTF-16LE" label says there is no BOM, and a
 * reader that believed it would see U+FEFF as a character).
 *
 * Never here: the challenge in a log line or an error body.
 */
#include "scepd/ndes_http.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "scepd/basic_auth.h"
#include "scepd/challenge.h"
#include "scepd/log.h"

#define NDES_HTTP_REALM "Basic realm=\"scepd NDES\""

struct ndes_http {
	const struct config_profile *profile;
	struct store *store;
	struct htpasswd *users;
};

/* The page; %s is the challenge. ASCII only: each character becomes one UTF-16 unit. */
static const char ndes_http_page[] =
	"<HTML><Head><Meta HTTP-Equiv=\"Content-Type\" Content=\"text/html; charset=UTF-16\">"
	"<Title>Network Device Enrollment Service</Title></Head><Body BgColor=#FFFFFF>"
	"<Font Face=\"Arial\"><P> scepd gives out one-time SCEP challenge passwords here, as "
	"the Network Device Enrollment Service does. </P>"
	"<P> The enrollment challenge password is: <B> %s </B> "
	"<P> This password can be used only once and will expire within 60 minutes. "
	"<P> Each enrollment requires a new challenge password: load this page again for "
	"another one. </P></Font></Body></HTML>";

int
ndes_http_new(const struct scepd_config *cfg, size_t profile, struct store *store,
	      struct ndes_http **ret, struct htpasswd_error *err)
{
	struct ndes_http *n;
	int r;

	if ((n = calloc(1, sizeof(*n))) == NULL) {
		snprintf(err->message, sizeof(err->message), "%s", strerror(ENOMEM));
		return -ENOMEM;
	}
	n->profile = &cfg->profiles[profile];
	n->store = store;
	if ((r = htpasswd_load(n->profile->scep.ndes.users_file, &n->users, err)) < 0) {
		ndes_http_free(n);
		return r;
	}
	*ret = n;
	return 0;
}

void
ndes_http_free(struct ndes_http *n)
{
	if (n == NULL)
		return;
	htpasswd_free(n->users);
	free(n);
}

/* The page with challenge in it, as UTF-16LE after a BOM. */
static int
ndes_http_reply_page(struct http_request *req, const char *challenge)
{
	char html[sizeof(ndes_http_page) + CHALLENGE_MAX];
	unsigned char *body;
	size_t len;
	int n, r;

	n = snprintf(html, sizeof(html), ndes_http_page, challenge);
	if (n < 0 || (size_t)n >= sizeof(html))
		return -EINVAL;
	len = 2 + 2 * (size_t)n;
	if ((body = malloc(len)) == NULL) {
		OPENSSL_cleanse(html, sizeof(html));
		return -ENOMEM;
	}
	body[0] = 0xff;
	body[1] = 0xfe;
	for (size_t i = 0; i < (size_t)n; i++) {
		body[2 + 2 * i] = (unsigned char)html[i];
		body[3 + 2 * i] = 0;
	}
	if ((r = http_add_header(req, "Cache-Control", "no-store")) >= 0)
		r = http_reply(req, 200, "text/html; charset=utf-16", body, len);
	OPENSSL_cleanse(html, sizeof(html));
	OPENSSL_cleanse(body, len);
	free(body);
	return r;
}

static int
ndes_http_unauthorized(struct http_request *req)
{
	int r;

	if ((r = http_add_header(req, "WWW-Authenticate", NDES_HTTP_REALM)) < 0)
		return r;
	return http_reply_text(req, 401, "a valid user and password (HTTP Basic) are required");
}

/* Who is asking: 0 with the user in *cred, or 1 after replying 401. */
static int
ndes_http_authenticate(struct ndes_http *n, struct http_request *req, struct basic_auth *cred)
{
	const char *path = n->profile->scep.ndes.path, *addr = http_request_remote_addr(req);
	int r;

	r = basic_auth_parse(http_request_header(req, "Authorization"), cred);
	if (r == -ENOENT) {
		/* What every NTLM-first client (Fleet) does before it sends Basic credentials. */
		log_info("%s from %s: no Basic credentials: asking for them", path, addr);
		r = ndes_http_unauthorized(req);
		return r < 0 ? r : 1;
	}
	if (r < 0) {
		log_notice("%s from %s: malformed Basic credentials: %s", path, addr,
			   r == -E2BIG ? "user or password too long"
				       : "not base64 of user:password");
		r = ndes_http_unauthorized(req);
		return r < 0 ? r : 1;
	}
	if (!htpasswd_verify(n->users, cred->user, cred->password)) {
		log_notice("%s from %s: user '%s': unknown user or wrong password", path, addr,
			   cred->user);
		r = ndes_http_unauthorized(req);
		return r < 0 ? r : 1;
	}
	return 0;
}

int
ndes_http_handle(struct http_request *req, void *userdata)
{
	struct ndes_http *n = userdata;
	const char *path = n->profile->scep.ndes.path, *addr = http_request_remote_addr(req);
	struct basic_auth cred = { 0 };
	char challenge[CHALLENGE_MAX] = "0000000000000000";
	time_t expires;
	int r;

	if (!http_request_is_tls(req) && !http_request_from_loopback(req) &&
	    !n->profile->scep.ndes.allow_plain_http) {
		log_notice("%s from %s: refused over plain HTTP (set ndes.allow_plain_http only "
			   "behind a TLS-terminating proxy)",
			   path, addr);
		return http_reply_text(req, 403,
				       "use the TLS listener (server.tls) for the NDES page");
	}
	if ((r = ndes_http_authenticate(n, req, &cred)) != 0) {
		basic_auth_clear(&cred);
		return r < 0 ? r : 0;
	}
	/* HEAD: the same headers and length, and nothing minted that nobody could read. */
	if (http_request_method(req) != HTTP_HEAD) {
		r = challenge_mint(n->store,
				   &(struct challenge_req){
					   .profile = n->profile->name,
					   .owner = cred.user,
					   .ttl = NDES_HTTP_TTL,
					   .format = CHALLENGE_HEX16_UPPER,
				   },
				   challenge, &expires);
		if (r < 0) {
			log_error_errno(r, "%s from %s: user '%s': cannot record a challenge", path,
					addr, cred.user);
			basic_auth_clear(&cred);
			return r == -ENOMEM ? r
					    : http_reply_text(req, 503,
							      "cannot record a challenge now: try "
							      "again later");
		}
		log_audit(&(struct log_audit){
			.result = "challenge",
			.endpoint = "ndes",
			.profile = n->profile->name,
			.client = addr,
			.user = cred.user,
		});
	}
	r = ndes_http_reply_page(req, challenge);
	OPENSSL_cleanse(challenge, sizeof(challenge));
	basic_auth_clear(&cred);
	return r;
}
