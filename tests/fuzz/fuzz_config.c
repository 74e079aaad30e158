/*
 * fuzz_config.c - libFuzzer target for the configuration parser.
 *
 * Any bytes are handed to config_load_string(): it must return 0 or a negative errno
 * with every problem in the error list, never crash, hang or leak; a configuration
 * that loads has its warnings listed (config_warnings(), which reads storage.uri).
 * The same bytes are also read as a PostgreSQL URI by config_pg_uri_unverified().
 * Relative paths resolve against /nonexistent, so no file of the machine is ever
 * named valid.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scepd/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_errors errs = { 0 };
	struct scepd_config *cfg = NULL;
	char *text;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	(void)config_pg_uri_unverified(text);
	if (config_load_string(text, "fuzz.conf", "/nonexistent", &cfg, &errs) == 0) {
		config_errors_clear(&errs);
		(void)config_warnings(cfg, &errs);
		config_free(cfg);
	}
	config_errors_clear(&errs);
	free(text);
	return 0;
}
