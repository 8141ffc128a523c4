/* proc.c — /proc/PID files, read with bounds. */
#include "proc.h"
#include "internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int proc_open(pid_t pid, const char *what)
{
	char path[96];
	snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
	return open(path, O_RDONLY | O_CLOEXEC);
}

ssize_t proc_read(pid_t pid, const char *what, char *buf, size_t size)
{
	int fd = proc_open(pid, what);
	if (fd < 0)
		return -1;
	ssize_t n = ho_read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* "pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt
 * cmajflt utime stime cutime cstime priority nice threads itrealvalue
 * starttime": comm may hold spaces and parentheses, so fields are counted
 * from the last ')'. */
int proc_stat(pid_t pid, struct proc_stat *st)
{
	char buf[1024];
	if (proc_read(pid, "stat", buf, sizeof buf) <= 0)
		return -1;
	char *p = strrchr(buf, ')');
	int ppid, group;
	if (!p || sscanf(p + 1, " %c %d %d %*d %*d %*d %u %*u %*u %*u %*u %*u %*u "
			 "%*d %*d %*d %*d %*d %*d %llu", &st->state, &ppid, &group,
			 &st->flags, &st->start_ticks) != 5)
		return -1;
	st->ppid = ppid;
	st->group = group;
	return 0;
}
