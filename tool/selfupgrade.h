/* selfupgrade.h — `handoff reload --self`: the supervisor's parts into a
 * state (selfstate.h), the exec (selfexec.h), and the parts again from it
 * in the new image. Same pid, same listeners, same children. */
#ifndef TOOL_SELFUPGRADE_H
#define TOOL_SELFUPGRADE_H

#include "selfstate.h"
#include "supervisor_parts.h"

#include <stddef.h>

/* How long the new binary may take to check the state. */
#define SELFUPGRADE_CHECK_TIMEOUT_MS 10000

/* Checks path (NULL: the binary resolved at start) on our state and execs
 * it; client_fd, if >= 0, is answered by the new image. Returns only if
 * that did not happen: -errno with why; we go on as before. */
int selfupgrade_request(struct supervisor *s, const char *path, int client_fd,
			char *why, size_t size);

/* In the new image, before adoption is opened: the listeners. */
int selfupgrade_restore_listeners(struct supervisor *s, const struct self_state *st,
				  char *why, size_t size);
/* Then, once the loop exists: the pid file, the output pipe, the notify
 * and control sockets, the core and the adoption filters. The notify
 * socket is not watched yet (the caller wires it). */
int selfupgrade_restore(struct supervisor *s, const struct self_state *st,
			char *why, size_t size);

#endif
