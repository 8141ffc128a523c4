/* launch.h — starting one generation: the server's command with the
 * listeners at fds 3, 4, ..., then what the fd store keeps, systemd's
 * variables, our notify socket, its
 * own process group, and the user, directory and umask asked for. */
#ifndef TOOL_LAUNCH_H
#define TOOL_LAUNCH_H

#include "options.h"

#include <stddef.h>
#include <sys/types.h>

struct handoff;
struct fdstore;

struct launch {
	const struct options *opt;
	struct handoff *listeners;
	const char *notify_socket;  /* the generations' NOTIFY_SOCKET */
	int drop_privileges;        /* --user or --group given: */
	uid_t uid;
	gid_t gid;
	gid_t *groups;              /* --user's supplementary groups (malloc'd) */
	int group_count;
	int output_fd;              /* the generations' stdout and stderr (0:
				       ours) */
	int adopt;                  /* run them under adopt_filter.h's filter */
	const struct fdstore *store;/* passed after the listeners (NULL: none) */
};

/* Resolves --user and --group. Returns 0 or -errno with the reason in why. */
int launch_resolve_user(struct launch *l, char *why, size_t size);

void launch_free(struct launch *l);

/* Starts worker `worker` of generation `number` (HANDOFF_WORKER); its
 * pid, or -errno with the reason in why. channel (-1: none) goes after
 * the descriptors of LISTEN_FDS, named by HANDOFF_CHANNEL_FD (handover.h); it is
 * closed here, started or not. With
 * l->adopt, *filter_fd is its filter's notification descriptor (the
 * caller's to close), else -1. */
pid_t launch_generation(const struct launch *l, unsigned number, int worker,
			int channel, int *filter_fd, char *why, size_t size);

#endif
