/* envfile.c — NAME=VALUE lines, read again at every start so that a changed
 * file takes effect at the next reload. */
#include "envfile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void envfile_free(char **vars)
{
	for (char **v = vars; v && *v; v++)
		free(*v);
	free(vars);
}

/* The variables through which we and the server talk: one from the file
 * would contradict ours (the server would notify the wrong socket). */
static int is_protocol_name(const char *line, size_t length)
{
	return (length == 13 && strncmp(line, "NOTIFY_SOCKET", 13) == 0) ||
	       strncmp(line, "LISTEN_", 7) == 0 || strncmp(line, "HANDOFF_", 8) == 0;
}

static int valid_name(const char *line, size_t length)
{
	if (length == 0 || (line[0] >= '0' && line[0] <= '9'))
		return 0;
	for (size_t i = 0; i < length; i++) {
		char ch = line[i];
		if (!(ch == '_' || (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= '0' && ch <= '9')))
			return 0;
	}
	return 1;
}

static int append(char ***vars, size_t *count, const char *line)
{
	char **grown = realloc(*vars, (*count + 2) * sizeof **vars);
	if (!grown)
		return -ENOMEM;
	*vars = grown;
	if (!(grown[*count] = strdup(line)))
		return -ENOMEM;
	grown[++*count] = NULL;
	return 0;
}

int envfile_read(const char *path, char ***vars, char *why, size_t size)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		int e = errno;
		snprintf(why, size, "cannot read --env-file %s: %s", path, strerror(e));
		return -e;
	}
	int r = envfile_parse(f, path, vars, why, size);
	fclose(f);
	return r;
}

int envfile_parse(FILE *f, const char *path, char ***vars, char *why, size_t size)
{
	char **out = calloc(1, sizeof *out), *line = NULL;
	size_t count = 0, capacity = 0;
	long number = 0;
	int r = out ? 0 : -ENOMEM;
	ssize_t n;
	while (r == 0 && (n = getline(&line, &capacity, f)) >= 0) {
		number++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		const char *eq = memchr(line, '=', (size_t)n);
		size_t name_length = eq ? (size_t)(eq - line) : 0;
		if (memchr(line, '\0', (size_t)n) || !eq || !valid_name(line, name_length)) {
			snprintf(why, size, "--env-file %s, line %ld: expected NAME=VALUE",
				 path, number);
			r = -EINVAL;
		} else if (is_protocol_name(line, name_length)) {
			snprintf(why, size, "--env-file %s, line %ld: %.*s is set by handoff "
				 "itself, not by the file", path, number, (int)name_length, line);
			r = -EINVAL;
		} else {
			r = append(&out, &count, line);
		}
	}
	if (r == 0 && ferror(f)) {
		r = -EIO;
		snprintf(why, size, "cannot read --env-file %s: %s", path, strerror(EIO));
	}
	if (r == -ENOMEM)
		snprintf(why, size, "--env-file %s: out of memory", path);
	free(line);
	if (r < 0) {
		envfile_free(out);
		return r;
	}
	*vars = out;
	return 0;
}
