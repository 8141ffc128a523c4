/* supervisor_parts.h — what `handoff run` is made of: for supervisor.c,
 * which runs it, and selfupgrade.c, which carries it across exec. */
#ifndef TOOL_SUPERVISOR_PARTS_H
#define TOOL_SUPERVISOR_PARTS_H

#include "adopt.h"
#include "control_server.h"
#include "core.h"
#include "fdstore.h"
#include "handover.h"
#include "launch.h"
#include "notify_in.h"
#include "options.h"
#include "output.h"
#include "probe.h"
#include "status.h"
#include "watch.h"

#include <handoff.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

struct supervisor {
	const struct options *opt;
	struct core core;
	struct handoff *listeners;         /* bound or socket-activated */
	struct launch launch;
	struct notify_in notify;
	struct control_server control;
	struct output output;              /* with --log: the generations' */
	struct adopt adopt;                /* the servers' own binds */
	struct fdstore store;              /* what the generations keep with us */
	struct handover handover;          /* their channels: live connections */
	struct probe probe;                /* --ready=exec: */
	struct status_view view;
	struct watch signal_watch, notify_watch;
	int epoll_fd;
	int report_fd;                     /* --daemon: the waiting parent */
	int pidfile_fd;
	char self_path[PATH_MAX];          /* our binary, as resolved at start */
};

/* The listener table, empty, where the launcher and the status view find
 * it: at start (supervisor.c) and after a self-upgrade (selfupgrade.c).
 * The supervisor speaks to its service manager itself: HANDOFF_NO_NOTIFY. */
static inline int supervisor_listeners_new(struct supervisor *s, char *why, size_t size)
{
	struct handoff_config config = { .size = sizeof config,
					 .flags = HANDOFF_NO_NOTIFY };
	int r = handoff_new(&s->listeners, &config, 0, NULL);
	if (r < 0) {
		snprintf(why, size, "cannot initialize: %s", strerror(-r));
		return r;
	}
	s->launch.listeners = s->listeners;
	s->view.listeners = s->listeners;
	return 0;
}

#endif
