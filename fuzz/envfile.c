/* envfile.c — envfile_parse(), --env-file read through fmemopen(). The
 * result is compared with a model of tool/envfile.h's contract: lines
 * split at '\n' with trailing '\r's dropped; blank and '#' lines skipped;
 * every other line NAME=VALUE with NAME [A-Za-z_][A-Za-z0-9_]*, no NUL,
 * and not NOTIFY_SOCKET, LISTEN_* or HANDOFF_*; any other line refused
 * with its number. */
#include "check.h"
#include "envfile.h"

#include <errno.h>

static int name_char(char c, int first)
{
	return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (!first && c >= '0' && c <= '9');
}

/* 1 if the line is taken, 0 if skipped, -1 if refused. */
static int model_line(const char *line, size_t n)
{
	while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == '\n'))
		n--;
	if (n == 0 || line[0] == '#')
		return 0;
	if (memchr(line, '\0', n))
		return -1;
	const char *eq = memchr(line, '=', n);
	if (!eq || eq == line)
		return -1;
	size_t name = (size_t)(eq - line);
	for (size_t i = 0; i < name; i++)
		if (!name_char(line[i], i == 0))
			return -1;
	if ((name == 13 && !strncmp(line, "NOTIFY_SOCKET", 13)) ||
	    (name >= 7 && !strncmp(line, "LISTEN_", 7)) ||
	    (name >= 8 && !strncmp(line, "HANDOFF_", 8)))
		return -1;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0; /* fmemopen() wants at least one byte */
	char *copy = malloc(size);
	CHECK(copy);
	memcpy(copy, data, size);
	FILE *f = fmemopen(copy, size, "r");
	CHECK(f);
	char **vars = (char **)0x1, why[256] = "";
	int r = envfile_parse(f, "fuzz.env", &vars, why, sizeof why);
	fclose(f);

	/* The model, line by line. */
	size_t taken = 0, number = 0, refused = 0;
	for (size_t start = 0; start < size && !refused;) {
		const char *nl = memchr(copy + start, '\n', size - start);
		size_t end = nl ? (size_t)(nl - copy) + 1 : size;
		number++;
		int m = model_line(copy + start, end - start);
		if (m < 0)
			refused = number;
		else if (m > 0) {
			/* Compared before the next line, while vars is valid. */
			if (r == 0) {
				size_t n = end - start;
				while (n > 0 && (copy[start + n - 1] == '\r' ||
						 copy[start + n - 1] == '\n'))
					n--;
				CHECK(vars[taken] && strlen(vars[taken]) == n &&
				      memcmp(vars[taken], copy + start, n) == 0);
			}
			taken++;
		}
		start = end;
	}
	if (refused) {
		CHECK(r == -EINVAL);
		CHECK(vars == (char **)0x1); /* untouched on failure */
		char expect[64];
		snprintf(expect, sizeof expect, ", line %zu: ", refused);
		CHECK(strstr(why, expect));
	} else {
		CHECK(r == 0);
		CHECK(vars[taken] == NULL);
		envfile_free(vars);
	}
	free(copy);
	return 0;
}
