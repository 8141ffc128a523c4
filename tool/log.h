/* log.h — the supervisor's own lines, on stderr (the --log file). */
#ifndef TOOL_LOG_H
#define TOOL_LOG_H

#include <stdint.h>

/* "2026-12-01T12:34:56.789Z handoff[<pid>]: <message>\n" (UTC, to the
 * millisecond) in one write(): the log may be shared with the generations,
 * whose lines must not be cut into ours. Without the time when stderr is
 * the journal's stream (JOURNAL_STREAM names its device and inode): the
 * journal has its own. */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Points stdout and stderr at path (append, created 0644): --log, and
 * again on SIGUSR1 after a rotation. Returns 0 or -errno. */
int log_reopen(const char *path);

/* At most `burst` lines per `period_ms` for one kind of message, so that a
 * flood of bad input cannot fill the disk; then one line saying how many
 * were left out. Zero-valid. */
struct log_limit {
	int64_t period_start_us;
	int said, suppressed;
};
int log_allowed(struct log_limit *l, int burst, int period_ms);

#endif
