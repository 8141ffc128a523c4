/* control.h — the words between `handoff reload|stop|status` and the
 * supervisor, and where the supervisor listens for them.
 *
 * One request per connection, "handoff-control 1 COMMAND\n" (COMMAND:
 * reload, stop, status, status-json); the answer is text whose first word
 * is "ok" or "error". A reload is answered once it is over. The supervisor
 * listens at "<pidfile>.control" (mode 0600, next to the pid file, so only
 * whoever may write there can take the name) and at --control PATH. */
#ifndef TOOL_CONTROL_H
#define TOOL_CONTROL_H

#include <stddef.h>

#define CONTROL_GREETING "handoff-control 1 "
#define CONTROL_REQUEST_MAX 256

/* What the bytes received so far on a connection ask. Returns 1 with the
 * command (NUL-terminated, at most size - 1 bytes) when a whole request
 * line is there, 0 while it is incomplete, -EPROTO when it is not a
 * handoff-control 1 request, -E2BIG when no line ends within
 * CONTROL_REQUEST_MAX - 1 bytes. */
int control_parse_request(const char *data, size_t length, char *command,
			  size_t size);

/* The control socket of the supervisor whose pid file is pidfile. Returns
 * 0, or -ENAMETOOLONG. */
int control_path_for_pidfile(char *out, size_t size, const char *pidfile);

#endif
