/* path.c — which file an upgrade execs.
 *
 * We resolve argv[0] once, at start-up, the way the shell did: through PATH
 * when it has no slash, against the start-up directory when relative. We do
 * not resolve symlinks, so pointing /usr/local/bin/app at a new release is
 * an upgrade; and we never use /proc/self/exe, which names the old binary
 * (possibly "(deleted)") rather than what is installed now. */
#include "base.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char *join(const char *dir, size_t dir_len, const char *file)
{
	size_t file_len = strlen(file);
	char *path = malloc(dir_len + 1 + file_len + 1);
	if (!path)
		return NULL;
	memcpy(path, dir, dir_len);
	path[dir_len] = '/';
	memcpy(path + dir_len + 1, file, file_len + 1);
	return path;
}

static int is_executable_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	       access(path, X_OK) == 0;
}

static char *absolute(const char *path)
{
	if (path[0] == '/')
		return strdup(path);
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd))
		return NULL;
	return join(cwd, strlen(cwd), path);
}

static char *search_path(const char *name)
{
	const char *dirs = getenv("PATH");
	if (!dirs || !*dirs)
		dirs = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = dirs;; p++) {
		const char *end = strchrnul(p, ':');
		/* An empty PATH entry means the current directory. */
		char *candidate = end == p ? join(".", 1, name)
					   : join(p, (size_t)(end - p), name);
		if (!candidate)
			return NULL;
		if (is_executable_file(candidate)) {
			char *abs = absolute(candidate);
			free(candidate);
			return abs;
		}
		free(candidate);
		if (!*end) {
			errno = ENOENT;
			return NULL;
		}
		p = end;
	}
}

/* Returns a malloc'd absolute path, or NULL with errno set. */
char *ho_resolve_program(const char *argv0)
{
	if (!argv0 || !*argv0) {
		errno = ENOENT;
		return NULL;
	}
	if (strchr(argv0, '/'))
		return absolute(argv0);
	return search_path(argv0);
}
