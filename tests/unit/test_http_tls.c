/*
 * test_http_tls.c - TLS listeners of the HTTP layer, end to end with libcurl: a route
 * answers with what http_request_is_tls() and http_request_client_subject() say, for
 * clients with no certificate, one from the client CA, one from another CA, an expired
 * one and one whose extendedKeyUsage is serverAuth only; the same route on a plain
 * listener and on a TLS listener without a client CA. Then tls_files_load()'s verdicts
 * on the files of server.tls. And the observer that /metrics counts requests with.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/pem.h>

#include "scepd/http.h"
#include "scepd/tls_files.h"
#include "testlib.h"

#define DAY 86400L

struct fixture {
	char *dir;
};

static struct fixture fx;

/* Paths of the files made in group_setup, by name. */
static const char *
file(const char *name)
{
	static char buf[8][512];
	static int next;
	char *p = buf[next++ % 8];

	return testlib_path(p, sizeof(buf[0]), fx.dir, name);
}

static void
write_cert(const char *name, X509 *cert)
{
	FILE *f = fopen(file(name), "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, cert), 1);
	fclose(f);
}

static void
append_cert(const char *name, X509 *cert)
{
	FILE *f = fopen(file(name), "a");

	assert_non_null(f);
	assert_int_equal(PEM_write_X509(f, cert), 1);
	fclose(f);
}

static void
write_key(const char *name, EVP_PKEY *key, const char *passphrase)
{
	FILE *f = fopen(file(name), "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, key, passphrase != NULL ? EVP_aes_256_cbc() : NULL,
					      (unsigned char *)passphrase,
					      passphrase != NULL ? (int)strlen(passphrase) : 0,
					      NULL, NULL),
			 1);
	fclose(f);
	chmod(file(name), 0600);
}

static X509 *
make_ca(EVP_PKEY *key, const char *subject)
{
	return testlib_cert_make(&(struct testlib_cert){
		.key = key,
		.subject = subject,
		.serial = 1,
		.not_before = -DAY,
		.not_after = 30 * DAY,
		.basic_constraints = "critical,CA:TRUE",
		.key_usage = "critical,keyCertSign,cRLSign",
	});
}

/* A client certificate of issuer: name it NAME.pem with its key in NAME.key. */
static void
make_client(const char *name, const char *subject, X509 *issuer, EVP_PKEY *issuer_key,
	    long not_before, long not_after, const char *eku)
{
	EVP_PKEY *key = testlib_ec_key("P-256");
	X509 *cert = testlib_cert_make(&(struct testlib_cert){
		.key = key,
		.subject = subject,
		.issuer = issuer,
		.issuer_key = issuer_key,
		.serial = 100,
		.not_before = not_before,
		.not_after = not_after,
		.basic_constraints = "CA:FALSE",
		.key_usage = "critical,digitalSignature",
		.ext_key_usage = eku,
	});
	char n[64];

	snprintf(n, sizeof(n), "%s.pem", name);
	write_cert(n, cert);
	snprintf(n, sizeof(n), "%s.key", name);
	write_key(n, key, NULL);
	X509_free(cert);
	EVP_PKEY_free(key);
}

static int
group_setup(void **state)
{
	EVP_PKEY *server_ca_key = testlib_ec_key("P-256"), *client_ca_key = testlib_ec_key("P-256"),
		 *other_ca_key = testlib_ec_key("P-256"), *server_key = testlib_ec_key("P-256");
	X509 *server_ca = make_ca(server_ca_key, "/CN=server CA"),
	     *client_ca = make_ca(client_ca_key, "/O=Example/CN=admin clients CA"),
	     *other_ca = make_ca(other_ca_key, "/CN=other CA"), *server;

	(void)state;
	fx.dir = testlib_tmpdir("test_http_tls");
	server = testlib_cert_make(&(struct testlib_cert){
		.key = server_key,
		.subject = "/CN=127.0.0.1",
		.issuer = server_ca,
		.issuer_key = server_ca_key,
		.serial = 7,
		.not_before = -DAY,
		.not_after = 30 * DAY,
		.basic_constraints = "CA:FALSE",
		.key_usage = "critical,digitalSignature",
		.san = "IP:127.0.0.1",
		.ext_key_usage = "serverAuth",
	});
	write_cert("server-ca.pem", server_ca);
	write_cert("server.pem", server);
	append_cert("server.pem", server_ca);
	write_key("server.key", server_key, NULL);
	write_key("server-encrypted.key", server_key, "secret passphrase");
	write_key("other.key", other_ca_key, NULL);
	write_cert("client-ca.pem", client_ca);
	make_client("good", "/O=Example/CN=admin", client_ca, client_ca_key, -DAY, 30 * DAY,
		    "clientAuth");
	make_client("no-eku", "/O=Example/CN=plain", client_ca, client_ca_key, -DAY, 30 * DAY,
		    NULL);
	make_client("stranger", "/O=Example/CN=admin", other_ca, other_ca_key, -DAY, 30 * DAY,
		    "clientAuth");
	make_client("expired", "/O=Example/CN=admin", client_ca, client_ca_key, -30 * DAY, -DAY,
		    "clientAuth");
	make_client("server-only", "/O=Example/CN=admin", client_ca, client_ca_key, -DAY, 30 * DAY,
		    "serverAuth");
	X509_free(server_ca);
	X509_free(client_ca);
	X509_free(other_ca);
	X509_free(server);
	EVP_PKEY_free(server_ca_key);
	EVP_PKEY_free(client_ca_key);
	EVP_PKEY_free(other_ca_key);
	EVP_PKEY_free(server_key);
	assert_int_equal(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	curl_global_cleanup();
	testlib_rmtree(fx.dir);
	free(fx.dir);
	return 0;
}

/* "tls CN=admin,O=Example", "tls none", "tls refused", "plain none". */
static int
who(struct http_request *req, void *userdata)
{
	const char *kind = http_request_is_tls(req) ? "tls" : "plain";
	char *subject = NULL;
	int r;

	(void)userdata;
	r = http_request_client_subject(req, &subject);
	if (r == 0) {
		r = http_reply_text(req, 200, "%s %s", kind, subject);
		free(subject);
		return r;
	}
	return http_reply_text(req, 200, "%s %s", kind,
			       r == -ENOENT  ? "none"
			       : r == -EPERM ? "refused"
					     : "error");
}

static const struct http_route routes[] = {
	{ .path = "/who", .methods = HTTP_GET, .handler = who },
};

/* What the observer heard: answers on /who and answers without a route, by status. */
static unsigned observed_who_200, observed_none_404;
static unsigned long long observed_max_usec;

static void
observe(void *userdata, const struct http_route *route, unsigned status, unsigned long long usec)
{
	(void)userdata;
	if (route == &routes[0] && status == 200)
		__atomic_add_fetch(&observed_who_200, 1, __ATOMIC_RELAXED);
	else if (route == NULL && status == 404)
		__atomic_add_fetch(&observed_none_404, 1, __ATOMIC_RELAXED);
	if (usec > __atomic_load_n(&observed_max_usec, __ATOMIC_RELAXED))
		__atomic_store_n(&observed_max_usec, usec, __ATOMIC_RELAXED);
}

struct server {
	int fd;
	int port;
	struct http_server *http;
};

static void
server_start(struct server *s, bool tls, bool client_ca)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	struct http_limits limits = {
		.max_request_bytes = 4096,
		.request_timeout = 5,
		.max_connections = 16,
		.threads = 2,
		.observe = observe,
	};
	char *cert = testlib_read_file(file("server.pem")),
	     *key = testlib_read_file(file("server.key")),
	     *ca = testlib_read_file(file("client-ca.pem"));
	struct http_tls creds = { .certificate = cert,
				  .key = key,
				  .client_ca = client_ca ? ca : NULL };

	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(s->fd, 16), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&sa, &len), 0);
	s->port = ntohs(sa.sin_port);
	assert_int_equal(
		http_server_start(s->fd, &limits, tls ? &creds : NULL, routes, 1, &s->http), 0);
	/* The server is done with the texts: the key may be wiped at once. */
	memset(key, 0, strlen(key));
	free(cert);
	free(key);
	free(ca);
}

static void
server_stop(struct server *s)
{
	http_server_free(s->http);
	close(s->fd);
}

struct buf {
	char text[512];
	size_t len;
};

static size_t
collect(char *data, size_t size, size_t n, void *userdata)
{
	struct buf *b = userdata;
	size_t take = size * n;

	if (take > sizeof(b->text) - 1 - b->len)
		take = sizeof(b->text) - 1 - b->len;
	memcpy(b->text + b->len, data, take);
	b->len += take;
	b->text[b->len] = '\0';
	return size * n;
}

/* GET /who as client NAME (NULL: no certificate); the answer's line, or "curl: ...". */
static void
get(const struct server *s, bool https, const char *client, char *out, size_t size)
{
	struct buf b = { .len = 0 };
	char url[64], cert[64], key[64];
	CURLcode rc;
	CURL *c;

	assert_non_null(c = curl_easy_init());
	snprintf(url, sizeof(url), "%s://127.0.0.1:%d/who", https ? "https" : "http", s->port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, file("server-ca.pem"));
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	if (client != NULL) {
		snprintf(cert, sizeof(cert), "%s.pem", client);
		snprintf(key, sizeof(key), "%s.key", client);
		curl_easy_setopt(c, CURLOPT_SSLCERT, file(cert));
		curl_easy_setopt(c, CURLOPT_SSLKEY, file(key));
	}
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		snprintf(out, size, "curl: %s", curl_easy_strerror(rc));
	else
		snprintf(out, size, "%.*s", (int)strcspn(b.text, "\n"), b.text);
	curl_easy_cleanup(c);
}

static void
test_client_certificates(void **state)
{
	static const struct {
		const char *client;
		const char *want;
	} cases[] = {
		{ NULL, "tls none" },
		{ "good", "tls CN=admin,O=Example" },
		{ "no-eku", "tls CN=plain,O=Example" }, /* no extendedKeyUsage: any use */
		{ "stranger", "tls refused" },          /* the same name from another CA */
		{ "expired", "tls refused" },
		{ "server-only", "tls refused" }, /* extendedKeyUsage without clientAuth */
	};
	struct server s;
	char got[512];

	(void)state;
	server_start(&s, true, true);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		get(&s, true, cases[i].client, got, sizeof(got));
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("client %s: want '%s', got '%s'",
				 cases[i].client != NULL ? cases[i].client : "(none)",
				 cases[i].want, got);
	}
	/* Plain HTTP on the TLS socket: no answer, and the server goes on. */
	get(&s, false, NULL, got, sizeof(got));
	assert_true(strncmp(got, "curl: ", 6) == 0);
	get(&s, true, "good", got, sizeof(got));
	assert_string_equal(got, "tls CN=admin,O=Example");
	server_stop(&s);
}

/* The observer hears of each answered request once it is over, route and status. */
static void
test_observer(void **state)
{
	unsigned who0 = __atomic_load_n(&observed_who_200, __ATOMIC_RELAXED);
	unsigned none0 = __atomic_load_n(&observed_none_404, __ATOMIC_RELAXED);
	struct server s;
	char got[512], url[64];
	CURL *c;

	(void)state;
	server_start(&s, false, false);
	get(&s, false, NULL, got, sizeof(got));
	get(&s, false, NULL, got, sizeof(got));
	assert_non_null(c = curl_easy_init());
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/nope", s.port);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_cleanup(c);
	/* Told after the reply went out: the client may have it a moment earlier. */
	for (int i = 0; i < 200; i++) {
		if (__atomic_load_n(&observed_who_200, __ATOMIC_RELAXED) == who0 + 2 &&
		    __atomic_load_n(&observed_none_404, __ATOMIC_RELAXED) == none0 + 1)
			break;
		usleep(10000);
	}
	server_stop(&s);
	assert_int_equal(__atomic_load_n(&observed_who_200, __ATOMIC_RELAXED), who0 + 2);
	assert_int_equal(__atomic_load_n(&observed_none_404, __ATOMIC_RELAXED), none0 + 1);
	/* Microseconds, not seconds or nanoseconds: a local request takes well under 10 s. */
	assert_true(__atomic_load_n(&observed_max_usec, __ATOMIC_RELAXED) < 10000000ULL);
}

static void
test_plain_and_no_client_ca(void **state)
{
	struct server s;
	char got[512];

	(void)state;
	server_start(&s, false, false);
	get(&s, false, NULL, got, sizeof(got));
	assert_string_equal(got, "plain none");
	server_stop(&s);

	/* Without client_ca no certificate is asked for: the client's is never sent. */
	server_start(&s, true, false);
	get(&s, true, "good", got, sizeof(got));
	assert_string_equal(got, "tls none");
	server_stop(&s);
}

static void
test_bad_client_ca(void **state)
{
	struct http_limits limits = {
		.max_request_bytes = 4096, .request_timeout = 5, .max_connections = 4, .threads = 1
	};
	char *cert = testlib_read_file(file("server.pem")),
	     *key = testlib_read_file(file("server.key"));
	struct http_tls creds = { .certificate = cert, .key = key, .client_ca = "not PEM\n" };
	struct http_server *http = NULL;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(listen(fd, 4), 0);
	assert_int_equal(http_server_start(fd, &limits, &creds, routes, 1, &http), -EBADMSG);
	assert_null(http);
	close(fd);
	free(cert);
	free(key);
}

static void
test_tls_files(void **state)
{
	static const struct {
		const char *certificate, *key, *client_ca;
		int want;
		const char *setting;
		const char *message; /* a part of it */
	} cases[] = {
		{ "server.pem", "server.key", "client-ca.pem", 0, "", "" },
		{ "server.pem", "server.key", NULL, 0, "", "" },
		{ "missing.pem", "server.key", NULL, -ENOENT, "server.tls.certificate",
		  "cannot read" },
		{ "server.key", "server.key", NULL, -EBADMSG, "server.tls.certificate",
		  "no PEM certificate" },
		{ "server.pem", "server.pem", NULL, -EBADMSG, "server.tls.key",
		  "no PEM private key" },
		{ "server.pem", "server-encrypted.key", NULL, -EBADMSG, "server.tls.key",
		  "is encrypted" },
		{ "server.pem", "other.key", NULL, -EBADMSG, "server.tls.key",
		  "is not the key of the first certificate" },
		{ "server.pem", "server.key", "server.key", -EBADMSG, "admin.client_ca",
		  "no PEM certificate" },
		{ "expired.pem", "expired.key", NULL, 0, "", "" },
	};
	char c[512], k[512], ca[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct config_tls tls = {
			.certificate =
				(char *)testlib_path(c, sizeof(c), fx.dir, cases[i].certificate),
			.key = (char *)testlib_path(k, sizeof(k), fx.dir, cases[i].key),
			.client_ca = cases[i].client_ca != NULL
					     ? (char *)testlib_path(ca, sizeof(ca), fx.dir,
								    cases[i].client_ca)
					     : NULL,
		};
		struct tls_files_error err = { 0 };
		struct tls_files *files = NULL;
		int r = tls_files_load(&tls, &files, &err);

		if (r != cases[i].want)
			fail_msg("case %zu: want %d, got %d (%s: %s)", i, cases[i].want, r,
				 err.setting, err.message);
		if (r < 0) {
			assert_null(files);
			assert_string_equal(err.setting, cases[i].setting);
			if (strstr(err.message, cases[i].message) == NULL)
				fail_msg("case %zu: '%s' lacks '%s'", i, err.message,
					 cases[i].message);
			/* No message ever shows the key's text. */
			assert_null(strstr(err.message, "BEGIN"));
			continue;
		}
		assert_non_null(files->key);
		assert_true((files->client_ca != NULL) == (cases[i].client_ca != NULL));
		if (strcmp(cases[i].certificate, "expired.pem") == 0) {
			assert_true(files->expired);
			assert_string_equal(files->serial, "64");
		} else {
			assert_false(files->expired);
			assert_false(files->not_yet_valid);
			assert_string_equal(files->serial, "7");
			assert_true(files->days_left >= 29 && files->days_left <= 30);
			assert_false(files->key_exposed);
		}
		tls_files_forget_key(files);
		assert_null(files->key);
		tls_files_free(files);
	}
}

static void
test_tls_files_key_exposed(void **state)
{
	char c[512], k[512];
	struct config_tls tls = {
		.certificate = (char *)testlib_path(c, sizeof(c), fx.dir, "server.pem"),
		.key = (char *)testlib_path(k, sizeof(k), fx.dir, "server.key"),
	};
	struct tls_files_error err = { 0 };
	struct tls_files *files = NULL;

	(void)state;
	assert_int_equal(chmod(tls.key, 0640), 0);
	assert_int_equal(tls_files_load(&tls, &files, &err), 0);
	assert_true(files->key_exposed);
	tls_files_free(files);
	assert_int_equal(chmod(tls.key, 0600), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_certificates),
		cmocka_unit_test(test_plain_and_no_client_ca),
		cmocka_unit_test(test_observer),
		cmocka_unit_test(test_bad_client_ca),
		cmocka_unit_test(test_tls_files),
		cmocka_unit_test(test_tls_files_key_exposed),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
