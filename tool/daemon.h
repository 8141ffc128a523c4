/* daemon.h — detaching without losing failures: the process that was
 * started waits until the daemon is ready or failed, prints that on the
 * terminal it was started from, and exits with it. */
#ifndef TOOL_DAEMON_H
#define TOOL_DAEMON_H

#include <stddef.h>

/* Forks twice (setsid between) and returns in the daemon, stdio on
 * /dev/null and log_path (if not NULL), with *report_fd set. The original
 * process never returns: it exits with the daemon's report. Returns 0, or
 * -errno with the reason in why (then nothing was forked). */
int daemon_detach(const char *log_path, int *report_fd, char *why, size_t size);

/* Tells the waiting original process how the start went; once (then
 * *report_fd is -1). Does nothing when *report_fd is -1. */
void daemon_report(int *report_fd, int ok, const char *message);

#endif
