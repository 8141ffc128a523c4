/* exit_watch.h — waiting for a process that is not our child to be gone
 * (`handoff stop` waits for the supervisor this way). */
#ifndef TOOL_EXIT_WATCH_H
#define TOOL_EXIT_WATCH_H

#include <stdint.h>
#include <sys/types.h>

struct exit_watch {
	pid_t pid;
	int pidfd; /* -1: no pidfd_open (before Linux 5.3): kill(pid, 0) polled */
};

/* Starts watching pid, which must be alive now: a pid file or SO_PEERCRED
 * named it a moment ago. With a pidfd, the watch holds on to that very
 * process, even if the pid is reused later. Never fails. */
void exit_watch_open(struct exit_watch *w, pid_t pid);

/* Waits until the process has exited (a zombie counts: whatever it held,
 * descriptors, locks, sockets, is released by then) or until deadline_us
 * (ho_now_us()). Returns 1 when it is gone, 0 at the deadline. */
int exit_watch_wait(const struct exit_watch *w, int64_t deadline_us);

/* Sends sig to the process: through the pidfd when there is one. Returns 0
 * or -errno. */
int exit_watch_signal(const struct exit_watch *w, int sig);

void exit_watch_close(struct exit_watch *w);

#endif
