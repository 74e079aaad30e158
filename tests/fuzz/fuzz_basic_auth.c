/*
 * fuzz_basic_auth.c - libFuzzer target for the value of an Authorization header as
 * libmicrohttpd hands it over (NUL-terminated, any bytes up to the first NUL):
 * basic_auth_parse() must take anything, and what it returns must fit its buffers
 * and hold no control character.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scepd/basic_auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct basic_auth a;
	char *value;

	if ((value = malloc(size + 1)) == NULL)
		return 0;
	memcpy(value, data, size);
	value[size] = '\0';
	if (basic_auth_parse(value, &a) == 0) {
		size_t ulen = strnlen(a.user, sizeof(a.user));
		size_t plen = strnlen(a.password, sizeof(a.password));

		if (ulen == 0 || ulen == sizeof(a.user) || plen == sizeof(a.password) ||
		    strchr(a.user, ':') != NULL)
			abort();
		for (size_t i = 0; i < ulen; i++)
			if ((unsigned char)a.user[i] < 0x20 || a.user[i] == 0x7f)
				abort();
		for (size_t i = 0; i < plen; i++)
			if ((unsigned char)a.password[i] < 0x20 || a.password[i] == 0x7f)
				abort();
	}
	basic_auth_clear(&a);
	free(value);
	return 0;
}
