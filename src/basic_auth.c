/*
 * basic_auth.c - an "Authorization: Basic" header value -> user and password
 * (basic_auth.h). Never here: the users file, hashing, HTTP, logging. libc only.
 *
 * Every buffer that held the password is wiped before returning (explicit_bzero: the
 * compiler may not drop it as a dead store).
 */
#include "scepd/basic_auth.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

static int
basic_auth_b64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Standard base64 of in[0..n), padding optional: the bytes in out, their count in *ret_len. */
static int
basic_auth_b64_decode(const char *in, size_t n, unsigned char *out, size_t size, size_t *ret_len)
{
	size_t pad = 0, len = 0;
	unsigned acc = 0;
	int bits = 0;

	while (n > 0 && in[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	/* "QQ==" or "QQ", never "QQ=" nor a lone sixth of a byte */
	if ((pad > 0 && (n + pad) % 4 != 0) || n % 4 == 1)
		return -EBADMSG;
	for (size_t i = 0; i < n; i++) {
		int v = basic_auth_b64_value(in[i]);

		if (v < 0)
			return -EBADMSG;
		acc = ((acc << 6) | (unsigned)v) & 0xffffffu;
		bits += 6;
		if (bits < 8)
			continue;
		bits -= 8;
		if (len == size)
			return -E2BIG;
		out[len++] = (unsigned char)(acc >> bits);
	}
	*ret_len = len;
	return 0;
}

/* RFC 7617 section 2: no control characters in the user-id or the password. */
static bool
basic_auth_has_ctl(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x20 || s[i] == 0x7f)
			return true;
	return false;
}

int
basic_auth_parse(const char *value, struct basic_auth *ret)
{
	unsigned char buf[BASIC_AUTH_USER_MAX + BASIC_AUTH_PASSWORD_MAX];
	const unsigned char *colon;
	size_t n, len = 0, user_len;
	int r;

	if (value == NULL || strncasecmp(value, "Basic", 5) != 0 ||
	    (value[5] != ' ' && value[5] != '\0')) {
		r = -ENOENT;
		goto out;
	}
	value += 5;
	while (*value == ' ')
		value++;
	n = strlen(value);
	while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
		n--;
	if ((r = basic_auth_b64_decode(value, n, buf, sizeof(buf), &len)) < 0)
		goto out;
	if ((colon = memchr(buf, ':', len)) == NULL || colon == buf ||
	    basic_auth_has_ctl(buf, len)) {
		r = -EBADMSG;
		goto out;
	}
	user_len = (size_t)(colon - buf);
	if (user_len >= sizeof(ret->user) || len - user_len - 1 >= sizeof(ret->password)) {
		r = -E2BIG;
		goto out;
	}
	memcpy(ret->user, buf, user_len);
	ret->user[user_len] = '\0';
	memcpy(ret->password, colon + 1, len - user_len - 1);
	ret->password[len - user_len - 1] = '\0';
	r = 0;
out:
	explicit_bzero(buf, sizeof(buf));
	if (r < 0)
		basic_auth_clear(ret);
	return r;
}

void
basic_auth_clear(struct basic_auth *a)
{
	explicit_bzero(a, sizeof(*a));
}
