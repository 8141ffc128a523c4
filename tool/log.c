/* log.c — one line per write, and a brake for floods. */
#include "log.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* systemd's JOURNAL_STREAM=<dev>:<ino> names the journal's stream; stderr
 * is that stream only if it is that very inode (a variable inherited by a
 * process whose stderr went elsewhere since says nothing). Looked at for
 * every line: --log and SIGUSR1 move stderr. */
static int stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	char end;
	struct stat st;
	return v && sscanf(v, "%llu:%llu%c", &dev, &ino, &end) == 2 &&
	       fstat(2, &st) == 0 && (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

/* "2026-12-01T12:34:56.789Z ": UTC, so that lines compare across time
 * zones and daylight saving changes. */
static int timestamp(char *out, size_t size)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	if (!gmtime_r(&ts.tv_sec, &tm))
		return 0;
	size_t n = strftime(out, size, "%Y-%m-%dT%H:%M:%S", &tm);
	int m = n ? snprintf(out + n, size - n, ".%03ldZ ", ts.tv_nsec / 1000000) : -1;
	return m < 0 || (size_t)m >= size - n ? 0 : (int)n + m;
}

void say(const char *fmt, ...)
{
	char line[1024];
	/* The journal stamps every line itself. */
	int n = stderr_is_journal() ? 0 : timestamp(line, sizeof line);
	n += snprintf(line + n, sizeof line - (size_t)n, "handoff[%d]: ", (int)getpid());
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n += m < 0 ? 0 : m > (int)sizeof line - n - 2 ? (int)sizeof line - n - 2 : m;
	line[n++] = '\n';
	ho_write_all(2, line, (size_t)n);
}

int log_reopen(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int r = dup2(fd, 1) < 0 || dup2(fd, 2) < 0 ? -errno : 0;
	close(fd);
	return r;
}

int log_allowed(struct log_limit *l, int burst, int period_ms)
{
	int64_t now = ho_now_us();
	if (now - l->period_start_us >= (int64_t)period_ms * 1000) {
		if (l->suppressed)
			say("(%d more such lines left out in %d ms)", l->suppressed, period_ms);
		*l = (struct log_limit){ .period_start_us = now };
	}
	if (l->said < burst) {
		l->said++;
		return 1;
	}
	l->suppressed++;
	return 0;
}
