/* log.c — one line per write, and a brake for floods. */
#include "log.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

void say(const char *fmt, ...)
{
	char line[1024];
	int n = snprintf(line, sizeof line, "handoff[%d]: ", (int)getpid());
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
