/* supervisor_parts.h — what `handoff run` is made of: for supervisor.c,
 * which runs it, and selfupgrade.c, which carries it across exec. */
#ifndef TOOL_SUPERVISOR_PARTS_H
#define TOOL_SUPERVISOR_PARTS_H

#include "adopt.h"
#include "control_server.h"
#include "core.h"
#include "launch.h"
#include "notify_in.h"
#include "options.h"
#include "output.h"
#include "probe.h"
#include "status.h"
#include "watch.h"

#include <limits.h>

struct supervisor {
	const struct options *opt;
	struct core core;
	struct handoff *listeners;         /* bound or socket-activated */
	struct launch launch;
	struct notify_in notify;
	struct control_server control;
	struct output output;              /* with --log: the generations' */
	struct adopt adopt;                /* the servers' own binds */
	struct probe probe;                /* --ready=exec: */
	struct status_view view;
	struct watch signal_watch, notify_watch;
	int epoll_fd;
	int report_fd;                     /* --daemon: the waiting parent */
	int pidfile_fd;
	char self_path[PATH_MAX];          /* our binary, as resolved at start */
};

#endif
