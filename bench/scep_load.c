/*
 * scep_load.c - the load client of bench/run.sh: SCEP PKCSReq and /csr, pre-built.
 *
 * SYNOPSIS
 *	scep_load scep --url http://127.0.0.1:PORT/scep [--device] [options]
 *	scep_load csr --url http://127.0.0.1:PORT/csr --ca CA.pem [options]
 *	scep_load ready --url http://127.0.0.1:PORT/healthz [--since NS] [--timeout S]
 *	scep_load primes --primes FILE --keys N
 *
 * DESCRIPTION
 *	scep fetches GetCACert, picks the certificate to encrypt to as Apple does
 *	(tests/tools/scep_build.c), and builds N distinct PKCSReq pkiMessages before
 *	the clock starts: each has its own RSA-2048 requester key, subject CN, self-signed
 *	signer certificate, transactionID (hex SHA-1 of the key) and senderNonce,
 *	AES-128-CBC and SHA-256. csr builds N PKCS#10 requests the same way (RSA-2048,
 *	P-256, or both in turn). Then C threads, each with one keep-alive HTTP/1.1
 *	connection, POST them, as fast as they are answered or at --rate requests/s,
 *	until all N are sent or --duration seconds are up. Every answer is kept and
 *	checked after the clock stops, so that the checks do not compete with the
 *	server for the CPU: SCEP: a CertRep signed by the CA/RA, SUCCESS, our
 *	transactionID and recipientNonce, a certificate for our key issued by the CA;
 *	/csr: 200 and such a certificate. Serials go to --serials (one hex a line).
 *
 *	Distinct RSA keys are cheap here: each is the product of two 1024-bit primes
 *	from a pool (--primes FILE caches it; P primes make P(P-1)/2 keys), so that
 *	thousands of keys cost a few seconds instead of minutes. Keys sharing a prime
 *	are worthless for anything but a benchmark, which is all they are for.
 *	--key-offset K starts at the K-th key, so that successive runs never repeat a
 *	key, transactionID or subject.
 *
 *	scep --device: SCEP as devices do it. Each enrolment is GetCACaps, GetCACert
 *	and PKIOperation, each on a new TCP connection ("Connection: close", and the
 *	client closes too): no keep-alive. GetCACaps and GetCACert must answer 200 with
 *	a non-empty body, else the enrolment fails there; the PKIOperation is the
 *	pre-built pkiMessage of mode scep, checked the same way. Run it with -c 2
 *	("two devices at a time"). rate, server CPU and latencies are per enrolment
 *	(all three exchanges); connections counts every TCP connection.
 *
 *	--also-url URL (and --also-pid PID): a second server, another node of the
 *	same CA (the same path): every other connection goes there, and its CPU time
 *	counts with the first's. GetCACert is fetched from --url.
 *
 *	--pid PID: the CPU time (utime + stime, /proc/PID/stat) of PID, of all its
 *	descendants and of its reaped children, over the timed phase. The client's own
 *	CPU time (getrusage) is measured over the same phase.
 *
 *	ready polls the URL every millisecond until it answers 200 and prints the
 *	milliseconds since --since (CLOCK_REALTIME nanoseconds, `date +%s%N`).
 *
 *	Only 127.0.0.0/8 is a target; anything else is refused.
 *
 * OUTPUT
 *	One line of key=value pairs on stdout (run.sh reads it):
 *	  mode (scep, scep-device or csr) sent ok failed elapsed_s rate p50_ms p90_ms p99_ms max_ms
 *	  server_cpu_ms server_cpu_ms_per_req client_cpu_ms client_cpu_ms_per_req
 *	  other_cpu_ms connections prebuild_s
 *	other_cpu_ms is the machine's busy time (/proc/stat) less the server's and the
 *	client's: what other processes took meanwhile (with --pid only; 0 when the
 *	difference is negative, as 10 ms clock ticks can make it).
 *	--start-file FILE is created when the clock starts (bench/profile.sh waits for it).
 *	The first failures, one line each, on stderr.
 *
 * EXIT STATUS
 *	0 when every request got its certificate, 2 when some failed, 1 on errors.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "bench_clock.h"
#include "scep_build.h"

#define LOAD_MAX_THREADS   256
#define LOAD_MAX_REQUESTS  1000000
#define LOAD_MAX_RESPONSE  (1024 * 1024)
#define LOAD_PRIME_BITS    1024
#define LOAD_FAIL_REPORTED 5

enum load_mode {
	LOAD_SCEP,
	LOAD_CSR,
};

enum load_key_type {
	LOAD_KEY_RSA,
	LOAD_KEY_EC,
	LOAD_KEY_MIXED,
};

struct load_url {
	struct sockaddr_in addr;
	char host[64];  /* Host: header */
	char path[512]; /* path and query */
};

struct load_opts {
	enum load_mode mode;
	const char *url, *ca, *primes, *serials, *cn_prefix, *challenge, *start_file;
	const char *also_url; /* a second node: every other connection goes there */
	enum load_key_type key_type;
	bool device; /* scep --device: GetCACaps, GetCACert, PKIOperation, a connection each */
	long n, concurrency, key_offset, pid, also_pid;
	double rate, duration;
};

/* One pre-built request and, after the run, what came back. */
struct load_item {
	unsigned char *body;
	size_t body_len;
	EVP_PKEY *key;
	X509 *signer;
	char txid[48];
	unsigned char nonce[16];
	/* the answer */
	const char *stage; /* --device: the exchange that failed before PKIOperation */
	int status;        /* HTTP status; 0: none */
	unsigned char *reply;
	size_t reply_len;
	double latency_ms;
	bool sent;
};

struct load_run {
	const struct load_opts *o;
	struct load_url url;
	struct load_url also_url; /* host "" when there is none */
	atomic_long threads;      /* sender threads started: even ones use url, odd also_url */
	struct load_item *items;
	long n;
	STACK_OF(X509) *ca_certs;
	X509 *recipient; /* SCEP: the certificate the messages are encrypted to */
	const char *content_type;
	char caps_path[600], cacert_path[600]; /* --device: the GETs before PKIOperation */
	/* prebuild */
	BIGNUM **primes;
	long n_primes;
	atomic_long next;
	/* the timed phase */
	struct timespec t0;
	atomic_long connections;
	atomic_long errors;
};

static void
load_die(const char *fmt, ...)
{
	va_list ap;

	fputs("scep_load: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	ERR_print_errors_fp(stderr);
	exit(1);
}

static long
load_number(const char *text, long min, long max, const char *what)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(text, &end, 10);
	if (errno != 0 || *text == '\0' || *end != '\0' || n < min || n > max)
		load_die("%s: '%s' is not a number in %ld..%ld", what, text, min, max);
	return n;
}

static double
load_real(const char *text, double min, double max, const char *what)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(text, &end);
	if (errno != 0 || *text == '\0' || *end != '\0' || !(d >= min && d <= max))
		load_die("%s: '%s' is not a number in %g..%g", what, text, min, max);
	return d;
}

/* http://127.x.y.z:PORT/path?query; loopback only. */
static void
load_parse_url(const char *text, struct load_url *u)
{
	const char *p = text, *colon, *slash;
	char ip[32];
	long port;

	memset(u, 0, sizeof(*u));
	if (strncmp(p, "http://", 7) != 0)
		load_die("--url: '%s' is not http://127.0.0.1:PORT/...", text);
	p += 7;
	if ((colon = strchr(p, ':')) == NULL || (slash = strchr(colon, '/')) == NULL ||
	    (size_t)(colon - p) >= sizeof(ip) || strlen(slash) >= sizeof(u->path))
		load_die("--url: '%s' needs a numeric address, a port and a path", text);
	memcpy(ip, p, (size_t)(colon - p));
	ip[colon - p] = '\0';
	{
		char portbuf[8];

		if ((size_t)(slash - colon - 1) >= sizeof(portbuf))
			load_die("--url: bad port in '%s'", text);
		memcpy(portbuf, colon + 1, (size_t)(slash - colon - 1));
		portbuf[slash - colon - 1] = '\0';
		port = load_number(portbuf, 1, 65535, "--url port");
	}
	u->addr.sin_family = AF_INET;
	u->addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, ip, &u->addr.sin_addr) != 1)
		load_die("--url: '%s' is not a numeric IPv4 address", ip);
	if ((ntohl(u->addr.sin_addr.s_addr) >> 24) != 127)
		load_die("--url: %s is not a loopback address (127.0.0.0/8); refused", ip);
	snprintf(u->host, sizeof(u->host), "%s:%ld", ip, port);
	snprintf(u->path, sizeof(u->path), "%s", slash);
}

/* --- HTTP/1.1: one request at a time on a keep-alive connection ---------------- */

struct load_conn {
	const struct load_url *url; /* NULL: the run's url */
	bool close;                 /* send "Connection: close" (scep --device) */
	int fd;
	unsigned char *buf;
	size_t len, size;
};

static int
load_connect(const struct load_url *u)
{
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)&u->addr, sizeof(u->addr)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static void
load_conn_close(struct load_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->len = 0;
}

static int
load_write_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static int
load_fill(struct load_conn *c)
{
	ssize_t r;

	if (c->len == c->size) {
		size_t size = c->size ? c->size * 2 : 16384;
		unsigned char *p;

		if (size > LOAD_MAX_RESPONSE || (p = realloc(c->buf, size)) == NULL)
			return -EMSGSIZE;
		c->buf = p;
		c->size = size;
	}
	do
		r = read(c->fd, c->buf + c->len, c->size - c->len);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -EPIPE;
	c->len += (size_t)r;
	return 0;
}

static const unsigned char *
load_find(const unsigned char *p, size_t len, const char *what)
{
	size_t n = strlen(what);

	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(p + i, what, n) == 0)
			return p + i;
	return NULL;
}

/* The value of header NAME in the header block, or NULL; *ret_len its length. */
static const char *
load_header(const char *hdr, size_t hdr_len, const char *name, size_t *ret_len)
{
	size_t n = strlen(name);
	const char *p = hdr, *end = hdr + hdr_len;

	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - p) > n && strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1, *ve = eol;

			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
				ve--;
			*ret_len = (size_t)(ve - v);
			return v;
		}
		p = eol + 1;
	}
	return NULL;
}

/*
 * A chunked body from p: 1 and the decoded body when complete, 0 when more is
 * needed, -EBADMSG. Decodes in place into out (at most len bytes).
 */
static int
load_dechunk(const unsigned char *p, size_t len, unsigned char *out, size_t *ret_out,
	     size_t *ret_used)
{
	size_t pos = 0, o = 0;

	for (;;) {
		const unsigned char *eol = load_find(p + pos, len - pos, "\r\n");
		unsigned long size = 0;
		size_t i;

		if (eol == NULL)
			return 0;
		for (i = pos; p + i < eol && isxdigit(p[i]); i++) {
			size = size * 16 + (unsigned long)(isdigit(p[i])
								   ? p[i] - '0'
								   : (tolower(p[i]) - 'a' + 10));
			if (size > LOAD_MAX_RESPONSE)
				return -EBADMSG;
		}
		if (i == pos)
			return -EBADMSG;
		pos = (size_t)(eol - p) + 2;
		if (size == 0) {
			/* no trailers from these servers: the final CRLF */
			if (len - pos < 2)
				return 0;
			*ret_out = o;
			*ret_used = pos + 2;
			return 1;
		}
		if (len - pos < size + 2)
			return 0;
		memmove(out + o, p + pos, size);
		o += size;
		pos += size + 2;
	}
}

/*
 * Sends one request on c (connecting when needed) and reads the answer: 0 with the
 * status and a malloc()ed body, or a negative errno. A kept-alive connection that the
 * server closed in between is reopened once.
 */
static int
load_http(struct load_run *run, struct load_conn *c, const char *method, const char *path,
	  const char *content_type, const unsigned char *body, size_t body_len, int *ret_status,
	  unsigned char **ret_body, size_t *ret_len)
{
	const struct load_url *url = c->url != NULL ? c->url : &run->url;
	const char *close = c->close ? "Connection: close\r\n" : "";
	char head[1024];
	int n, r = 0;

	if (content_type != NULL)
		n = snprintf(head, sizeof(head),
			     "%s %s HTTP/1.1\r\nHost: %s\r\n%sContent-Type: %s\r\n"
			     "Content-Length: %zu\r\n\r\n",
			     method, path, url->host, close, content_type, body_len);
	else
		n = snprintf(head, sizeof(head), "%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", method,
			     path, url->host, close);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -ENAMETOOLONG;
	for (int attempt = 0; attempt < 2; attempt++) {
		struct iovec iov[2] = { { head, (size_t)n }, { (void *)body, body_len } };
		bool reused = c->fd >= 0;
		const unsigned char *end;
		size_t hdr_len, clen_len, te_len, conn_len, got;
		const char *clen, *te, *conn;
		unsigned char *out;
		int status;

		if (c->fd < 0) {
			if ((c->fd = load_connect(url)) < 0) {
				r = c->fd;
				c->fd = -1;
				return r;
			}
			atomic_fetch_add(&run->connections, 1);
		}
		c->len = 0;
		if ((r = load_write_all(c->fd, iov, body != NULL ? 2 : 1)) < 0)
			goto retry;
		while ((end = load_find(c->buf, c->len, "\r\n\r\n")) == NULL)
			if ((r = load_fill(c)) < 0)
				goto retry;
		hdr_len = (size_t)(end - c->buf) + 4;
		if (c->len < 12 || memcmp(c->buf, "HTTP/1.", 7) != 0 ||
		    sscanf((const char *)c->buf + 9, "%3d", &status) != 1) {
			load_conn_close(c);
			return -EBADMSG;
		}
		clen = load_header((const char *)c->buf, hdr_len, "Content-Length", &clen_len);
		te = load_header((const char *)c->buf, hdr_len, "Transfer-Encoding", &te_len);
		conn = load_header((const char *)c->buf, hdr_len, "Connection", &conn_len);
		if (te != NULL && te_len == 7 && strncasecmp(te, "chunked", 7) == 0) {
			size_t out_len = 0, used = 0;

			for (;;) {
				if ((out = malloc(c->len - hdr_len + 1)) == NULL)
					return -ENOMEM;
				r = load_dechunk(c->buf + hdr_len, c->len - hdr_len, out, &out_len,
						 &used);
				if (r != 0)
					break;
				free(out);
				if ((r = load_fill(c)) < 0) {
					load_conn_close(c);
					return r;
				}
			}
			if (r < 0) {
				free(out);
				load_conn_close(c);
				return r;
			}
			*ret_len = out_len;
		} else if (clen != NULL) {
			unsigned long want = strtoul(clen, NULL, 10);

			if (want > LOAD_MAX_RESPONSE) {
				load_conn_close(c);
				return -EMSGSIZE;
			}
			while (c->len < hdr_len + want)
				if ((r = load_fill(c)) < 0) {
					load_conn_close(c);
					return r;
				}
			if ((out = malloc(want + 1)) == NULL)
				return -ENOMEM;
			memcpy(out, c->buf + hdr_len, want);
			*ret_len = want;
		} else {
			/* no length: the body ends with the connection */
			while ((r = load_fill(c)) == 0)
				;
			if ((out = malloc(c->len - hdr_len + 1)) == NULL)
				return -ENOMEM;
			memcpy(out, c->buf + hdr_len, c->len - hdr_len);
			*ret_len = c->len - hdr_len;
			conn = "close";
			conn_len = 5;
		}
		if (conn != NULL && conn_len == 5 && strncasecmp(conn, "close", 5) == 0)
			load_conn_close(c);
		*ret_status = status;
		*ret_body = out;
		return 0;
	retry:
		/* only a reused connection may have been closed by the server meanwhile */
		got = c->len;
		load_conn_close(c);
		if (!reused || got > 0)
			return r;
	}
	return r;
}

/* --- keys and requests ------------------------------------------------------- */

static void
load_primes_make(BIGNUM **primes, long from, long to)
{
	BN_CTX *ctx = BN_CTX_new();

	if (ctx == NULL)
		load_die("out of memory");
	for (long i = from; i < to; i++) {
		BIGNUM *p = BN_new();

		if (p == NULL)
			load_die("out of memory");
		/* gcd(p - 1, e) = 1 for a prime e: p mod e != 1 */
		do
			if (!BN_generate_prime_ex2(p, LOAD_PRIME_BITS, 0, NULL, NULL, NULL, ctx))
				load_die("cannot generate a prime");
		while (BN_mod_word(p, RSA_F4) == 1);
		primes[i] = p;
	}
	BN_CTX_free(ctx);
}

struct load_primes_job {
	BIGNUM **primes;
	long from, to;
};

static void *
load_primes_thread(void *arg)
{
	struct load_primes_job *job = arg;

	load_primes_make(job->primes, job->from, job->to);
	return NULL;
}

/* Primes for keys 0..keys-1: from the cache file, made and appended when short. */
static void
load_primes(struct load_run *run, const char *path, long keys)
{
	long want = 2, have = 0;
	char line[1024];
	FILE *f;

	while (want * (want - 1) / 2 < keys)
		want++;
	if ((run->primes = calloc((size_t)want, sizeof(*run->primes))) == NULL)
		load_die("out of memory");
	if (path != NULL && (f = fopen(path, "r")) != NULL) {
		while (have < want && fgets(line, sizeof(line), f) != NULL) {
			line[strcspn(line, "\n")] = '\0';
			if (line[0] == '\0')
				continue;
			if (!BN_hex2bn(&run->primes[have], line) ||
			    BN_num_bits(run->primes[have]) != LOAD_PRIME_BITS)
				load_die("%s: not a list of %d-bit primes in hex", path,
					 LOAD_PRIME_BITS);
			have++;
		}
		fclose(f);
	}
	if (have < want) {
		long nthreads = sysconf(_SC_NPROCESSORS_ONLN), per;
		pthread_t threads[16];
		struct load_primes_job jobs[16];

		if (nthreads < 1)
			nthreads = 1;
		if (nthreads > 16)
			nthreads = 16;
		per = (want - have + nthreads - 1) / nthreads;
		for (long t = 0; t < nthreads; t++) {
			jobs[t] = (struct load_primes_job){ run->primes, have + t * per,
							    have + (t + 1) * per };
			if (jobs[t].from > want)
				jobs[t].from = want;
			if (jobs[t].to > want)
				jobs[t].to = want;
			if (pthread_create(&threads[t], NULL, load_primes_thread, &jobs[t]) != 0)
				load_die("cannot start a thread");
		}
		for (long t = 0; t < nthreads; t++)
			pthread_join(threads[t], NULL);
		if (path != NULL) {
			if ((f = fopen(path, "a")) == NULL)
				load_die("%s: %s", path, strerror(errno));
			for (long i = have; i < want; i++) {
				char *hex = BN_bn2hex(run->primes[i]);

				if (hex == NULL)
					load_die("out of memory");
				fprintf(f, "%s\n", hex);
				OPENSSL_free(hex);
			}
			if (fclose(f) != 0)
				load_die("%s: %s", path, strerror(errno));
		}
	}
	run->n_primes = want;
}

/* Key number k of the pool: primes j > i with k = j(j-1)/2 + i. */
static EVP_PKEY *
load_rsa_key(struct load_run *run, long k)
{
	BIGNUM *n = BN_new(), *e = BN_new(), *d = BN_new(), *p1 = BN_new(), *q1 = BN_new();
	BIGNUM *phi = BN_new(), *dp = BN_new(), *dq = BN_new(), *qinv = BN_new();
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	BN_CTX *ctx = BN_CTX_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *key = NULL;
	const BIGNUM *p, *q;
	long i, j = 1;

	while ((j + 1) * j / 2 <= k)
		j++;
	i = k - j * (j - 1) / 2;
	if (j >= run->n_primes)
		load_die("key %ld: the prime pool is too small", k);
	p = run->primes[j];
	q = run->primes[i];
	if (BN_cmp(p, q) < 0) {
		const BIGNUM *t = p;

		p = q;
		q = t;
	}
	if (n == NULL || e == NULL || d == NULL || p1 == NULL || q1 == NULL || phi == NULL ||
	    dp == NULL || dq == NULL || qinv == NULL || bld == NULL || ctx == NULL ||
	    !BN_set_word(e, RSA_F4) || !BN_mul(n, p, q, ctx) || !BN_sub(p1, p, BN_value_one()) ||
	    !BN_sub(q1, q, BN_value_one()) || !BN_mul(phi, p1, q1, ctx) ||
	    BN_mod_inverse(d, e, phi, ctx) == NULL || !BN_mod(dp, d, p1, ctx) ||
	    !BN_mod(dq, d, q1, ctx) || BN_mod_inverse(qinv, q, p, ctx) == NULL)
		load_die("key %ld: cannot compute it", k);
	if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qinv) ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(pctx) != 1 ||
	    EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_KEYPAIR, params) != 1)
		load_die("key %ld: cannot make the EVP_PKEY", k);
	EVP_PKEY_CTX_free(pctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_CTX_free(ctx);
	BN_free(n);
	BN_free(e);
	BN_clear_free(d);
	BN_free(p1);
	BN_free(q1);
	BN_clear_free(phi);
	BN_clear_free(dp);
	BN_clear_free(dq);
	BN_clear_free(qinv);
	return key;
}

static X509_NAME *
load_subject(const struct load_opts *o, long k)
{
	X509_NAME *name = X509_NAME_new();
	char cn[128];

	snprintf(cn, sizeof(cn), "%s-%ld", o->cn_prefix, k);
	if (name == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1,
					-1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
					(const unsigned char *)"scepd bench", -1, -1, 0))
		load_die("cannot make a subject");
	return name;
}

static void
load_build_one(struct load_run *run, long idx)
{
	const struct load_opts *o = run->o;
	struct load_item *it = &run->items[idx];
	long k = o->key_offset + idx;
	bool rsa = o->key_type == LOAD_KEY_RSA || (o->key_type == LOAD_KEY_MIXED && k % 2 == 0);
	X509_NAME *subject = load_subject(o, k);
	unsigned char *csr_der = NULL;
	X509_REQ *csr = NULL;
	int n;

	it->key = rsa ? load_rsa_key(run, k) : EVP_EC_gen("P-256");
	if (it->key == NULL)
		load_die("cannot make key %ld", k);
	if (scep_build_csr(it->key, subject, NULL, o->challenge, &csr) < 0 ||
	    (n = i2d_X509_REQ(csr, &csr_der)) <= 0)
		load_die("cannot make CSR %ld", k);
	if (o->mode == LOAD_CSR) {
		if ((it->body = malloc((size_t)n)) == NULL)
			load_die("out of memory");
		memcpy(it->body, csr_der, (size_t)n);
		it->body_len = (size_t)n;
	} else {
		struct scep_build_req req = { 0 };

		if (scep_build_self_signed(it->key, subject, &it->signer) < 0 ||
		    scep_build_txid(it->key, it->txid, sizeof(it->txid)) < 0 ||
		    RAND_bytes(it->nonce, sizeof(it->nonce)) != 1)
			load_die("cannot make the signer of message %ld", k);
		req.type = 19; /* PKCSReq */
		req.txid = it->txid;
		req.nonce = it->nonce;
		req.nonce_len = sizeof(it->nonce);
		req.md = EVP_sha256();
		req.cipher = EVP_aes_128_cbc();
		req.signer_cert = it->signer;
		req.signer_key = it->key;
		req.recipient = run->recipient;
		req.content = csr_der;
		req.content_len = (size_t)n;
		if (scep_build_request(&req, &it->body, &it->body_len) < 0)
			load_die("cannot build message %ld", k);
	}
	OPENSSL_free(csr_der);
	X509_REQ_free(csr);
	X509_NAME_free(subject);
}

static void *
load_build_thread(void *arg)
{
	struct load_run *run = arg;
	long i;

	while ((i = atomic_fetch_add(&run->next, 1)) < run->n)
		load_build_one(run, i);
	return NULL;
}

static void
load_parallel(struct load_run *run, void *(*fn)(void *))
{
	long nthreads = sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t threads[16];

	if (nthreads < 1)
		nthreads = 1;
	if (nthreads > 16)
		nthreads = 16;
	atomic_store(&run->next, 0);
	for (long t = 0; t < nthreads; t++)
		if (pthread_create(&threads[t], NULL, fn, run) != 0)
			load_die("cannot start a thread");
	for (long t = 0; t < nthreads; t++)
		pthread_join(threads[t], NULL);
}

/* --- CPU time ------------------------------------------------------------------ */

/* utime + stime of pid and its descendants (+ reaped children of pid), in ms. */
static double
load_tree_cpu_ms(long pid)
{
	long *pids = NULL, *ppids = NULL, *ticks = NULL;
	size_t n = 0, size = 0;
	long total = 0;
	struct dirent *de;
	DIR *d;
	bool *in;

	if (pid <= 0)
		return 0;
	if ((d = opendir("/proc")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		char path[300], buf[1024], *p;
		long ppid, ut, st, cut, cst;
		FILE *f;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		p = fgets(buf, sizeof(buf), f);
		fclose(f);
		/* after "pid (comm)": state ppid pgrp session tty tpgid flags minflt cminflt
		 * majflt cmajflt utime stime cutime cstime */
		if (p == NULL || (p = strrchr(buf, ')')) == NULL ||
		    sscanf(p + 2, "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld %ld %ld",
			   &ppid, &ut, &st, &cut, &cst) != 5)
			continue;
		if (n == size) {
			size = size ? 2 * size : 1024;
			if ((pids = realloc(pids, size * sizeof(*pids))) == NULL ||
			    (ppids = realloc(ppids, size * sizeof(*ppids))) == NULL ||
			    (ticks = realloc(ticks, size * sizeof(*ticks))) == NULL)
				load_die("out of memory");
		}
		pids[n] = strtol(de->d_name, NULL, 10);
		ppids[n] = ppid;
		ticks[n] = ut + st + (pids[n] == pid ? cut + cst : 0);
		n++;
	}
	closedir(d);
	if ((in = calloc(n ? n : 1, sizeof(*in))) == NULL)
		load_die("out of memory");
	for (bool changed = true; changed;) {
		changed = false;
		for (size_t i = 0; i < n; i++) {
			if (in[i])
				continue;
			if (pids[i] == pid)
				in[i] = changed = true;
			else
				for (size_t j = 0; j < n; j++)
					if (in[j] && pids[j] == ppids[i]) {
						in[i] = changed = true;
						break;
					}
		}
	}
	for (size_t i = 0; i < n; i++)
		if (in[i])
			total += ticks[i];
	free(in);
	free(pids);
	free(ppids);
	free(ticks);
	return (double)total * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/* Busy time of the whole machine (all CPUs, /proc/stat), in ms. */
static double
load_machine_cpu_ms(void)
{
	unsigned long long v[8] = { 0 };
	FILE *f = fopen("/proc/stat", "r");
	int n = 0;

	if (f != NULL) {
		n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
			   &v[3], &v[4], &v[5], &v[6], &v[7]);
		fclose(f);
	}
	if (n != 8)
		return 0;
	/* user nice system idle iowait irq softirq steal: all but idle and iowait */
	return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * 1000.0 /
	       (double)sysconf(_SC_CLK_TCK);
}

static double
load_self_cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000.0 +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000.0;
}

/* --- the timed phase ----------------------------------------------------------- */

/*
 * scep --device: GET PATH on a connection of its own, closed after the answer: 0, or
 * -1 with it->stage and it->status (the HTTP status, or a negative errno) set.
 */
static int
load_device_get(struct load_run *run, struct load_conn *c, const char *path, const char *stage,
		struct load_item *it)
{
	unsigned char *body = NULL;
	size_t len = 0;
	int status = 0, r;

	r = load_http(run, c, "GET", path, NULL, NULL, 0, &status, &body, &len);
	load_conn_close(c);
	free(body);
	if (r == 0 && status == 200 && len > 0)
		return 0;
	it->stage = stage;
	it->status = r < 0 ? r : status != 200 ? status : -ENODATA;
	return -1;
}

static void *
load_send_thread(void *arg)
{
	struct load_run *run = arg;
	const struct load_opts *o = run->o;
	struct load_conn c = { .fd = -1, .close = o->device };
	double t0 = (double)run->t0.tv_sec + (double)run->t0.tv_nsec / 1e9;
	long i;

	if (run->also_url.host[0] != '\0' && atomic_fetch_add(&run->threads, 1) % 2 == 1)
		c.url = &run->also_url;

	while ((i = atomic_fetch_add(&run->next, 1)) < run->n) {
		struct load_item *it = &run->items[i];
		double start;
		int r;

		if (o->rate > 0) {
			double at = t0 + (double)i / o->rate;
			struct timespec ts = { (time_t)at,
					       (long)((at - (double)(time_t)at) * 1e9) };

			while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
				;
		}
		start = bench_now();
		if (o->duration > 0 && start - t0 > o->duration)
			break;
		it->sent = true;
		/* a device asks what the CA can and which certificate to encrypt to first */
		if (o->device &&
		    (load_device_get(run, &c, run->caps_path, "GetCACaps", it) < 0 ||
		     load_device_get(run, &c, run->cacert_path, "GetCACert", it) < 0)) {
			it->latency_ms = (bench_now() - start) * 1000.0;
			atomic_fetch_add(&run->errors, 1);
			continue;
		}
		r = load_http(run, &c, "POST", run->url.path, run->content_type, it->body,
			      it->body_len, &it->status, &it->reply, &it->reply_len);
		if (o->device)
			load_conn_close(&c);
		it->latency_ms = (bench_now() - start) * 1000.0;
		if (r < 0) {
			it->status = r; /* negative: no answer */
			atomic_fetch_add(&run->errors, 1);
		}
	}
	load_conn_close(&c);
	free(c.buf);
	return NULL;
}

/* --- checks after the clock stopped ---------------------------------------------- */

static X509 *
load_issuer_of(struct load_run *run, X509 *cert)
{
	for (int i = 0; i < sk_X509_num(run->ca_certs); i++) {
		X509 *ca = sk_X509_value(run->ca_certs, i);

		if (X509_check_issued(ca, cert) == X509_V_OK)
			return ca;
	}
	return NULL;
}

/* NULL when cert is ours and issued by the CA, else what is wrong. */
static const char *
load_check_cert(struct load_run *run, struct load_item *it, X509 *cert, char *serial, size_t size)
{
	ASN1_INTEGER *sn = X509_get_serialNumber(cert);
	BIGNUM *bn;
	X509 *ca;
	char *hex;

	if (EVP_PKEY_eq(X509_get0_pubkey(cert), it->key) != 1)
		return "the certificate is not for the request's key";
	if ((ca = load_issuer_of(run, cert)) == NULL)
		return "the certificate is not issued by the CA";
	if (X509_verify(cert, X509_get0_pubkey(ca)) != 1)
		return "the certificate's signature does not verify";
	if ((bn = ASN1_INTEGER_to_BN(sn, NULL)) == NULL || (hex = BN_bn2hex(bn)) == NULL)
		load_die("out of memory");
	snprintf(serial, size, "%s", hex);
	OPENSSL_free(hex);
	BN_free(bn);
	return NULL;
}

static const char *
load_check_scep(struct load_run *run, struct load_item *it, char *serial, size_t size)
{
	struct scep_build_reply rep;
	const char *why = NULL;

	if (scep_build_read_reply(it->reply, it->reply_len, run->recipient, it->signer, it->key,
				  &rep) < 0)
		return "not a CertRep signed by the CA/RA, or its envelope does not open";
	if (rep.type != 3)
		why = "messageType is not CertRep";
	else if (rep.status != 0)
		why = rep.status == 3 ? "PENDING" : "FAILURE";
	else if (rep.txid == NULL || strcmp(rep.txid, it->txid) != 0)
		why = "transactionID is not ours";
	else if (rep.recipient_nonce_len != sizeof(it->nonce) ||
		 memcmp(rep.recipient_nonce, it->nonce, sizeof(it->nonce)) != 0)
		why = "recipientNonce is not our senderNonce";
	else if (sk_X509_num(rep.certs) < 1)
		why = "SUCCESS without a certificate";
	else
		why = load_check_cert(run, it, sk_X509_value(rep.certs, 0), serial, size);
	if (why != NULL && rep.status == 2 && rep.fail_text != NULL)
		fprintf(stderr, "scep_load: failInfoText: %s\n", rep.fail_text);
	scep_build_reply_clear(&rep);
	return why;
}

static const char *
load_check_csr(struct load_run *run, struct load_item *it, char *serial, size_t size)
{
	const unsigned char *p = it->reply;
	const char *why;
	BIO *bio = NULL;
	X509 *cert;

	if (it->reply_len > 0 && it->reply[0] == 0x30)
		cert = d2i_X509(NULL, &p, (long)it->reply_len);
	else if ((bio = BIO_new_mem_buf(it->reply, (int)it->reply_len)) != NULL)
		cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	else
		load_die("out of memory");
	BIO_free(bio);
	if (cert == NULL)
		return "200 without a certificate";
	why = load_check_cert(run, it, cert, serial, size);
	X509_free(cert);
	return why;
}

struct load_check {
	long ok, failed, unsent;
	long reported;
	FILE *serials;
	pthread_mutex_t lock;
};

static struct load_check load_checked = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void *
load_check_thread(void *arg)
{
	struct load_run *run = arg;
	long i;

	while ((i = atomic_fetch_add(&run->next, 1)) < run->n) {
		struct load_item *it = &run->items[i];
		char serial[128] = "", buf[160];
		const char *why = NULL;

		if (!it->sent) {
			pthread_mutex_lock(&load_checked.lock);
			load_checked.unsent++;
			pthread_mutex_unlock(&load_checked.lock);
			continue;
		}
		if (it->stage != NULL && it->status == -ENODATA) {
			snprintf(buf, sizeof(buf), "%s: 200 with an empty body", it->stage);
			why = buf;
		} else if (it->status < 0) {
			snprintf(buf, sizeof(buf), "%s%sno answer: %.100s",
				 it->stage ? it->stage : "", it->stage ? ": " : "",
				 strerror(-it->status));
			why = buf;
		} else if (it->status != 200) {
			snprintf(buf, sizeof(buf), "%s%sHTTP %d: %.*s", it->stage ? it->stage : "",
				 it->stage ? ": " : "", it->status,
				 (int)(it->reply_len < 80 ? it->reply_len : 80),
				 it->reply ? (const char *)it->reply : "");
			buf[strcspn(buf, "\r\n")] = '\0';
			why = buf;
		} else if (run->o->mode == LOAD_SCEP)
			why = load_check_scep(run, it, serial, sizeof(serial));
		else
			why = load_check_csr(run, it, serial, sizeof(serial));
		ERR_clear_error();
		pthread_mutex_lock(&load_checked.lock);
		if (why == NULL) {
			load_checked.ok++;
			if (load_checked.serials != NULL)
				fprintf(load_checked.serials, "%s\n", serial);
		} else {
			load_checked.failed++;
			if (load_checked.reported++ < LOAD_FAIL_REPORTED)
				fprintf(stderr, "scep_load: request %ld: %s\n",
					run->o->key_offset + i, why);
		}
		pthread_mutex_unlock(&load_checked.lock);
	}
	return NULL;
}

static int
load_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
load_percentile(const double *sorted, size_t n, double pct)
{
	size_t i;

	if (n == 0)
		return 0;
	i = (size_t)(pct / 100.0 * (double)n + 0.5);
	if (i >= 1)
		i--;
	if (i >= n)
		i = n - 1;
	return sorted[i];
}

/* --- commands ------------------------------------------------------------------ */

static void
load_fetch_ca(struct load_run *run)
{
	struct load_conn c = { .fd = -1 };
	unsigned char *body = NULL;
	size_t len = 0;
	char path[600];
	int status = 0;

	if (run->o->mode == LOAD_CSR) {
		FILE *f;
		long n;

		if (run->o->ca == NULL)
			load_die("csr: --ca FILE is needed");
		if ((f = fopen(run->o->ca, "rb")) == NULL)
			load_die("%s: %s", run->o->ca, strerror(errno));
		if ((body = malloc(LOAD_MAX_RESPONSE)) == NULL)
			load_die("out of memory");
		n = (long)fread(body, 1, LOAD_MAX_RESPONSE, f);
		fclose(f);
		if (scep_build_read_certs(body, (size_t)n, &run->ca_certs) < 0)
			load_die("%s: no certificate", run->o->ca);
		free(body);
		return;
	}
	snprintf(path, sizeof(path), "%.*s?operation=GetCACert", (int)strcspn(run->url.path, "?"),
		 run->url.path);
	if (load_http(run, &c, "GET", path, NULL, NULL, 0, &status, &body, &len) < 0 ||
	    status != 200)
		load_die("GetCACert at %s%s: HTTP %d", run->url.host, path, status);
	if (scep_build_read_certs(body, len, &run->ca_certs) < 0 ||
	    scep_build_pick_ra(run->ca_certs, &run->recipient) < 0)
		load_die("GetCACert: no certificate to encrypt to");
	free(body);
	load_conn_close(&c);
	free(c.buf);
}

static int
load_main(struct load_opts *o)
{
	struct load_run run = { .o = o };
	double prebuild, elapsed, end = 0, cpu0, cpu1, srv0, srv1, all0, all1, *lat;
	pthread_t threads[LOAD_MAX_THREADS];
	const char *mode_name;
	size_t n_lat = 0;
	long sent = 0;

	load_parse_url(o->url, &run.url);
	if (o->also_url != NULL)
		load_parse_url(o->also_url, &run.also_url);
	if (o->mode == LOAD_SCEP) {
		int base = (int)strcspn(run.url.path, "?");

		snprintf(run.caps_path, sizeof(run.caps_path), "%.*s?operation=GetCACaps", base,
			 run.url.path);
		snprintf(run.cacert_path, sizeof(run.cacert_path), "%.*s?operation=GetCACert", base,
			 run.url.path);
		snprintf(run.url.path + strcspn(run.url.path, "?"),
			 sizeof(run.url.path) - strcspn(run.url.path, "?"),
			 "?operation=PKIOperation");
		snprintf(run.also_url.path + strcspn(run.also_url.path, "?"),
			 sizeof(run.also_url.path) - strcspn(run.also_url.path, "?"),
			 "?operation=PKIOperation");
	}
	run.content_type =
		o->mode == LOAD_SCEP ? "application/x-pki-message" : "application/pkcs10";
	run.n = o->n;
	if ((run.items = calloc((size_t)run.n, sizeof(*run.items))) == NULL ||
	    (lat = calloc((size_t)run.n, sizeof(*lat))) == NULL)
		load_die("out of memory");

	prebuild = bench_now();
	load_fetch_ca(&run);
	if (o->key_type != LOAD_KEY_EC)
		load_primes(&run, o->primes, o->key_offset + o->n);
	load_parallel(&run, load_build_thread);
	prebuild = bench_now() - prebuild;

	atomic_store(&run.next, 0);
	srv0 = load_tree_cpu_ms(o->pid) + load_tree_cpu_ms(o->also_pid);
	cpu0 = load_self_cpu_ms();
	all0 = load_machine_cpu_ms();
	clock_gettime(CLOCK_MONOTONIC, &run.t0);
	if (o->start_file != NULL) {
		FILE *f = fopen(o->start_file, "w");

		if (f == NULL)
			load_die("%s: %s", o->start_file, strerror(errno));
		fclose(f);
	}
	for (long t = 0; t < o->concurrency; t++)
		if (pthread_create(&threads[t], NULL, load_send_thread, &run) != 0)
			load_die("cannot start a thread");
	for (long t = 0; t < o->concurrency; t++)
		pthread_join(threads[t], NULL);
	end = bench_now();
	all1 = load_machine_cpu_ms();
	cpu1 = load_self_cpu_ms();
	srv1 = load_tree_cpu_ms(o->pid) + load_tree_cpu_ms(o->also_pid);
	elapsed = end - ((double)run.t0.tv_sec + (double)run.t0.tv_nsec / 1e9);

	if (o->serials != NULL && (load_checked.serials = fopen(o->serials, "a")) == NULL)
		load_die("%s: %s", o->serials, strerror(errno));
	load_parallel(&run, load_check_thread);
	if (load_checked.serials != NULL && fclose(load_checked.serials) != 0)
		load_die("%s: %s", o->serials, strerror(errno));

	for (long i = 0; i < run.n; i++) {
		if (run.items[i].sent)
			sent++;
		if (run.items[i].sent && run.items[i].status == 200)
			lat[n_lat++] = run.items[i].latency_ms;
	}
	qsort(lat, n_lat, sizeof(*lat), load_cmp_double);
	if (o->mode == LOAD_CSR)
		mode_name = "csr";
	else
		mode_name = o->device ? "scep-device" : "scep";
	printf("mode=%s sent=%ld ok=%ld failed=%ld elapsed_s=%.3f rate=%.1f p50_ms=%.2f "
	       "p90_ms=%.2f p99_ms=%.2f max_ms=%.2f server_cpu_ms=%.0f "
	       "server_cpu_ms_per_req=%.3f client_cpu_ms=%.0f client_cpu_ms_per_req=%.3f "
	       "other_cpu_ms=%.0f connections=%ld prebuild_s=%.1f\n",
	       mode_name, sent, load_checked.ok, load_checked.failed, elapsed,
	       elapsed > 0 ? (double)load_checked.ok / elapsed : 0, load_percentile(lat, n_lat, 50),
	       load_percentile(lat, n_lat, 90), load_percentile(lat, n_lat, 99),
	       n_lat ? lat[n_lat - 1] : 0, srv1 - srv0,
	       load_checked.ok ? (srv1 - srv0) / (double)load_checked.ok : 0, cpu1 - cpu0,
	       sent ? (cpu1 - cpu0) / (double)sent : 0,
	       o->pid > 0 && all1 - all0 > srv1 - srv0 + cpu1 - cpu0
		       ? (all1 - all0) - (srv1 - srv0) - (cpu1 - cpu0)
		       : 0,
	       atomic_load(&run.connections), prebuild);
	fflush(stdout);

	for (long i = 0; i < run.n; i++) {
		free(run.items[i].body);
		free(run.items[i].reply);
		EVP_PKEY_free(run.items[i].key);
		X509_free(run.items[i].signer);
	}
	for (long i = 0; i < run.n_primes; i++)
		BN_free(run.primes[i]);
	free(run.primes);
	free(run.items);
	free(lat);
	X509_free(run.recipient);
	sk_X509_pop_free(run.ca_certs, X509_free);
	return load_checked.failed > 0 || sent == 0 ? 2 : 0;
}

static int
load_ready(const struct load_opts *o, long long since_ns, double timeout)
{
	struct load_run run = { .o = o };
	struct load_conn c = { .fd = -1 };
	double give_up = bench_now() + timeout;

	load_parse_url(o->url, &run.url);
	while (bench_now() < give_up) {
		unsigned char *body = NULL;
		size_t len;
		int status = 0;

		if (load_http(&run, &c, "GET", run.url.path, NULL, NULL, 0, &status, &body, &len) ==
			    0 &&
		    status == 200) {
			struct timespec ts;

			clock_gettime(CLOCK_REALTIME, &ts);
			printf("ready_ms=%.1f\n", (double)((long long)ts.tv_sec * 1000000000LL +
							   ts.tv_nsec - since_ns) /
							  1e6);
			free(body);
			load_conn_close(&c);
			free(c.buf);
			return 0;
		}
		free(body);
		load_conn_close(&c);
		usleep(1000);
	}
	fprintf(stderr, "scep_load: %s%s did not answer 200 within %.0f s\n", run.url.host,
		run.url.path, timeout);
	free(c.buf);
	return 1;
}

int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "url", required_argument, NULL, 'u' },
		{ "ca", required_argument, NULL, 'a' },
		{ "requests", required_argument, NULL, 'n' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "rate", required_argument, NULL, 'r' },
		{ "pid", required_argument, NULL, 'p' },
		{ "also-url", required_argument, NULL, 'U' },
		{ "also-pid", required_argument, NULL, 'q' },
		{ "serials", required_argument, NULL, 's' },
		{ "primes", required_argument, NULL, 'P' },
		{ "keys", required_argument, NULL, 'K' },
		{ "key-offset", required_argument, NULL, 'o' },
		{ "key-type", required_argument, NULL, 't' },
		{ "cn-prefix", required_argument, NULL, 'C' },
		{ "challenge", required_argument, NULL, 'x' },
		{ "since", required_argument, NULL, 'S' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "start-file", required_argument, NULL, 'F' },
		{ "device", no_argument, NULL, 'D' },
		{ NULL, 0, NULL, 0 },
	};
	struct load_opts o = {
		.n = 1000,
		.concurrency = 8,
		.duration = 20,
		.key_type = LOAD_KEY_RSA,
		.cn_prefix = "bench",
	};
	long long since = 0;
	double timeout = 10;
	long keys = 0;
	const char *cmd;
	int c;

	if (argc < 2)
		load_die(
			"usage: scep_load scep|csr|ready|primes [options] (see bench/scep_load.c)");
	cmd = argv[1];
	optind = 2;
	while ((c = getopt_long(argc, argv, "n:c:d:r:", options, NULL)) != -1) {
		switch (c) {
		case 'u':
			o.url = optarg;
			break;
		case 'a':
			o.ca = optarg;
			break;
		case 'n':
			o.n = load_number(optarg, 1, LOAD_MAX_REQUESTS, "--requests");
			break;
		case 'c':
			o.concurrency = load_number(optarg, 1, LOAD_MAX_THREADS, "--concurrency");
			break;
		case 'd':
			o.duration = load_real(optarg, 0.1, 600, "--duration");
			break;
		case 'r':
			o.rate = load_real(optarg, 0, 1e6, "--rate");
			break;
		case 'p':
			o.pid = load_number(optarg, 1, INT_MAX, "--pid");
			break;
		case 'U':
			o.also_url = optarg;
			break;
		case 'q':
			o.also_pid = load_number(optarg, 1, INT_MAX, "--also-pid");
			break;
		case 's':
			o.serials = optarg;
			break;
		case 'P':
			o.primes = optarg;
			break;
		case 'K':
			keys = load_number(optarg, 1, 100000000, "--keys");
			break;
		case 'o':
			o.key_offset = load_number(optarg, 0, 100000000, "--key-offset");
			break;
		case 't':
			if (strcmp(optarg, "rsa2048") == 0)
				o.key_type = LOAD_KEY_RSA;
			else if (strcmp(optarg, "ec") == 0)
				o.key_type = LOAD_KEY_EC;
			else if (strcmp(optarg, "mixed") == 0)
				o.key_type = LOAD_KEY_MIXED;
			else
				load_die("--key-type: rsa2048, ec or mixed");
			break;
		case 'C':
			o.cn_prefix = optarg;
			break;
		case 'x':
			o.challenge = optarg;
			break;
		case 'S':
			since = strtoll(optarg, NULL, 10);
			break;
		case 'F':
			o.start_file = optarg;
			break;
		case 'D':
			o.device = true;
			break;
		case 'T':
			timeout = load_real(optarg, 0.1, 600, "--timeout");
			break;
		default:
			return 1;
		}
	}
	if (optind != argc)
		load_die("unexpected arguments");
	if (strcmp(cmd, "primes") == 0) {
		struct load_run run = { .o = &o };

		if (o.primes == NULL || keys == 0)
			load_die("primes: --primes FILE and --keys N are needed");
		load_primes(&run, o.primes, keys);
		printf("primes=%ld keys=%ld\n", run.n_primes,
		       run.n_primes * (run.n_primes - 1) / 2);
		return 0;
	}
	if (o.url == NULL)
		load_die("--url is needed");
	if (strcmp(cmd, "ready") == 0)
		return load_ready(&o, since, timeout);
	if (strcmp(cmd, "scep") == 0)
		o.mode = LOAD_SCEP;
	else if (strcmp(cmd, "csr") == 0)
		o.mode = LOAD_CSR;
	else
		load_die("commands: scep, csr, ready, primes");
	if (o.device && o.mode != LOAD_SCEP)
		load_die("--device: only with scep");
	if (o.mode == LOAD_SCEP && o.key_type != LOAD_KEY_RSA)
		load_die("scep: RSA requester keys only (the CertRep is encrypted to them)");
	return load_main(&o);
}
