/* daemon.c — everything that can fail is done before we get here (pid
 * file check, listeners, user lookup); here we open /dev/null and the log
 * first, then fork. The daemon is the grandchild: setsid() in the child,
 * fork again, so that it is no session leader and can never acquire a
 * controlling terminal. */
#include "daemon.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The original process: waits for the daemon's word, prints it, exits. */
static _Noreturn void wait_for_daemon(pid_t child, int report)
{
	ho_waitpid(child, NULL, 0);
	char buf[512];
	size_t got = 0;
	ssize_t n;
	while (got < sizeof buf - 1 &&
	       (n = ho_read(report, buf + got, sizeof buf - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	if (strncmp(buf, "ok ", 3) == 0) {
		fprintf(stdout, "handoff: %s", buf + 3);
		fflush(stdout);
		_exit(0);
	}
	fprintf(stderr, "handoff: %s", got ? buf + (strncmp(buf, "error ", 6) ? 0 : 6)
				      : "the daemon exited before it was ready\n");
	_exit(1);
}

int daemon_detach(const char *log_path, int *report_fd, char *why, size_t size)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int log = log_path ? open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)
			   : -1;
	int report[2] = { -1, -1 };
	if (null < 0 || (log_path && log < 0) || pipe2(report, O_CLOEXEC) < 0) {
		int e = errno;
		snprintf(why, size, "cannot detach: %s%s%s", log_path && log < 0 ? log_path : "",
			 log_path && log < 0 ? ": " : "", strerror(e));
		ho_close(&null);
		ho_close(&log);
		return -e;
	}
	fflush(NULL);
	pid_t child = fork();
	if (child < 0) {
		int e = errno;
		snprintf(why, size, "cannot detach: fork: %s", strerror(e));
		ho_close(&null);
		ho_close(&log);
		ho_close(&report[0]);
		ho_close(&report[1]);
		return -e;
	}
	if (child > 0) {
		close(report[1]);
		wait_for_daemon(child, report[0]);
	}
	close(report[0]);
	if (setsid() < 0 || (child = fork()) < 0)
		_exit(1);
	if (child > 0)
		_exit(0);
	/* The daemon. From here on we speak to the log only. */
	dup2(null, 0);
	dup2(log >= 0 ? log : null, 1);
	dup2(log >= 0 ? log : null, 2);
	close(null);
	if (log >= 0)
		close(log);
	*report_fd = report[1];
	return 0;
}

void daemon_report(int *report_fd, int ok, const char *message)
{
	if (*report_fd < 0)
		return;
	char line[512];
	int n = snprintf(line, sizeof line, "%s %s\n", ok ? "ok" : "error", message);
	ho_write_all(*report_fd, line, (size_t)(n < (int)sizeof line ? n : (int)sizeof line - 1));
	ho_close(report_fd);
}
