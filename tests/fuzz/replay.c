/*
 * replay.c - runs a fuzz target over files without libFuzzer, so that every ctest run
 * (plain and sanitized) replays the seed corpus and every crasher ever found.
 *
 * usage: fuzz_<parser>_replay FILE|DIR...
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path)
{
	unsigned char *data = NULL;
	long size;
	FILE *f;
	int r = -1;

	if ((f = fopen(path, "rb")) == NULL)
		goto out;
	if (fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0)
		goto out;
	if ((data = malloc((size_t)size + 1)) == NULL)
		goto out;
	if (fread(data, 1, (size_t)size, f) != (size_t)size)
		goto out;
	LLVMFuzzerTestOneInput(data, (size_t)size);
	r = 0;
out:
	if (r < 0)
		fprintf(stderr, "replay: cannot read %s\n", path);
	free(data);
	if (f != NULL)
		fclose(f);
	return r;
}

static int
replay_dir(const char *dir, size_t *count)
{
	struct dirent **names;
	char path[4096];
	int n, r = 0;

	if ((n = scandir(dir, &names, NULL, alphasort)) < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
			if (replay_file(path) < 0)
				r = -1;
			else
				(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return r;
}

int
main(int argc, char **argv)
{
	size_t count = 0;
	struct stat st;
	int r = 0;

	for (int i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode))
			r |= replay_dir(argv[i], &count) < 0;
		else if (replay_file(argv[i]) < 0)
			r = 1;
		else
			count++;
	}
	printf("replayed %zu input(s)\n", count);
	return r != 0 || count == 0;
}
