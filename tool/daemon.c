/* daemon.c — detaching without losing failures.
 *
 * Everything that can fail is done before we get here (pid file check,
 * listeners, user lookup); here we open /dev/null and the log first, then
 * fork. The original process does not exit at once: it waits on a pipe and
 * exits with the daemon's real outcome, "ready" or the reason it was not,
 * printed on the terminal it was started from. The daemon is the grandchild:
 * setsid() in the child, fork again, so that it is no session leader and can
 * never acquire a controlling terminal. */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int reopen_log(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	int r = dup2(fd, 1) < 0 || dup2(fd, 2) < 0 ? -1 : 0;
	close(fd);
	return r;
}

/* The original process: waits for the daemon's word, prints it, exits. */
static _Noreturn void wait_for_daemon(pid_t child, int report)
{
	int status;
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
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

int daemonize(struct supervisor *s)
{
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	int log = s->opt->log ? open(s->opt->log, O_WRONLY | O_CREAT | O_APPEND |
					      O_CLOEXEC, 0644)
			      : -1;
	int report[2];
	if (null < 0 || (s->opt->log && log < 0) || pipe2(report, O_CLOEXEC) < 0) {
		say("cannot detach: %s%s%s", s->opt->log && log < 0 ? s->opt->log : "",
		    s->opt->log && log < 0 ? ": " : "", strerror(errno));
		return -1;
	}
	fflush(NULL);
	pid_t child = fork();
	if (child < 0) {
		say("fork: %s", strerror(errno));
		return -1;
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
	s->report_fd = report[1];
	return 0;
}

/* Tells the waiting original process how the start went; once. */
void daemon_report(struct supervisor *s, int ok, const char *message)
{
	if (s->report_fd < 0)
		return;
	char line[512];
	int n = snprintf(line, sizeof line, "%s %s\n", ok ? "ok" : "error", message);
	ho_write_all(s->report_fd, line, (size_t)n);
	ho_close(&s->report_fd);
}
