/*
 * config_suggest.c - "did you mean": the known name closest to one that was mistyped.
 *
 *	config_suggest_key(parent, leaf) names the setting of group parent in
 *	config_keys.h closest to leaf; config_suggest_word(words, typed) the closest
 *	of a NULL-terminated list. Both ignore case and return NULL when nothing is
 *	close enough: at most a third of the longer name may differ.
 *
 * Never here: error lines (the caller words them), allocation.
 */
#include "config_internal.h"

#include <ctype.h>
#include <limits.h>
#include <string.h>

#define CONFIG_SUGGEST_MAX_LEN 64 /* names longer than this get no suggestion */

/* Levenshtein distance, ignoring case; INT_MAX for overlong names. */
static int
config_suggest_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int row[CONFIG_SUGGEST_MAX_LEN + 1];

	if (la > CONFIG_SUGGEST_MAX_LEN || lb > CONFIG_SUGGEST_MAX_LEN)
		return INT_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (int)j;
	for (size_t i = 1; i <= la; i++) {
		int diag = row[0];

		row[0] = (int)i;
		for (size_t j = 1; j <= lb; j++) {
			int up = row[j];
			int cost = tolower((unsigned char)a[i - 1]) !=
				   tolower((unsigned char)b[j - 1]);
			int best = diag + cost;

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* Close enough to suggest: at most a third of the longer name differs. */
static bool
config_suggest_close(const char *typed, const char *known, int *best)
{
	size_t la = strlen(typed), lb = strlen(known);
	int d = config_suggest_distance(typed, known);

	if (d == INT_MAX || (size_t)d * 3 > (la > lb ? la : lb) || d >= *best)
		return false;
	*best = d;
	return true;
}

const char *
config_suggest_key(const char *parent, const char *leaf)
{
	const char *found = NULL;
	int best = INT_MAX;

	for (size_t i = 0; i < CONFIG_NKEYS; i++)
		if (config_key_in(&config_keys[i], parent) &&
		    config_suggest_close(leaf, config_key_leaf(&config_keys[i]), &best))
			found = config_key_leaf(&config_keys[i]);
	return found;
}

const char *
config_suggest_word(const char *const *words, const char *typed)
{
	const char *found = NULL;
	int best = INT_MAX;

	for (size_t i = 0; words[i] != NULL; i++)
		if (config_suggest_close(typed, words[i], &best))
			found = words[i];
	return found;
}
