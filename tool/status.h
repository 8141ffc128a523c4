/* status.h — what `handoff status` shows: the supervisor, its listeners,
 * every generation (a draining one with its deadline), the last reload and
 * restart; as text or as JSON. */
#ifndef TOOL_STATUS_H
#define TOOL_STATUS_H

#include "core.h"

#include <stddef.h>
#include <stdint.h>

struct fdstore;

struct handoff;

struct status_view {
	const struct core *core;
	const struct handoff *listeners;
	int64_t started_us;
	const char *notify_socket;
	int adoption;                /* the servers' own binds are adopted */
	const struct fdstore *store; /* NULL: none */
};

/* The whole report, however long, in a malloc'd string (*length bytes,
 * NUL-terminated); NULL when out of memory. */
char *status_render(const struct status_view *v, int json, size_t *length);

#endif
