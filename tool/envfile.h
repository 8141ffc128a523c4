/* envfile.h — --env-file: NAME=VALUE lines for the server's environment. */
#ifndef TOOL_ENVFILE_H
#define TOOL_ENVFILE_H

#include <stddef.h>
#include <stdio.h>

/* Reads path: NAME=VALUE lines of any length; blank lines and lines
 * starting with '#' skipped; VALUE taken as it is (no quotes, no
 * expansion). A line that is not NAME=VALUE, or that sets a variable of
 * the protocol between us and the server (NOTIFY_SOCKET, LISTEN_*,
 * HANDOFF_*), is refused with its line number in why.
 * Returns 0 with a malloc'd NULL-terminated array in *vars (free with
 * envfile_free), or a negative errno with the reason in why. */
int envfile_read(const char *path, char ***vars, char *why, size_t size);
/* The same from an open stream (path only names it in messages). */
int envfile_parse(FILE *f, const char *path, char ***vars, char *why, size_t size);
void envfile_free(char **vars);

#endif
