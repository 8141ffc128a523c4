/* client.c — finds the supervisor, makes sure it is the supervisor, asks.
 *
 * The pid file names the supervisor and its lock proves it alive; the
 * socket next to it must be answered by that very process (SO_PEERCRED pid)
 * running as the owner of the pid file. Anyone else who answers there, a
 * process that got hold of the name or outlived the supervisor, is not
 * believed. With --control PATH there is no pid to check: the peer must be
 * root or our own user. */
#include "client.h"
#include "control.h"
#include "endpoint.h"
#include "internal.h"
#include "parse.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int usage(void)
{
	fputs("usage: handoff reload|stop|status (--pidfile FILE | --control PATH)"
	      " [--json] [--timeout DUR]\n", stderr);
	return 2;
}

/* Who must answer: a pid (0: any) and the uids we accept. */
struct expected {
	pid_t pid;
	uid_t uid;
	int any_of_ours;     /* root or our own user */
};

static int find_by_pidfile(const char *pidfile, char *path, size_t size,
			   struct expected *e)
{
	pid_t pid = 0;
	struct stat st;
	int r = ho_pidfile_check(pidfile, &pid);
	if (r == 0) {
		fprintf(stderr, "handoff: no supervisor is running (%s is %s)\n", pidfile,
			access(pidfile, F_OK) == 0 ? "stale" : "absent");
		return -1;
	}
	if (r != -EBUSY || pid <= 0 || stat(pidfile, &st) < 0) {
		fprintf(stderr, "handoff: %s: %s\n", pidfile,
			r == -EBUSY ? "unreadable pid" : strerror(r < 0 ? -r : errno));
		return -1;
	}
	if (control_path_for_pidfile(path, size, pidfile) < 0) {
		fprintf(stderr, "handoff: %s: path too long\n", pidfile);
		return -1;
	}
	*e = (struct expected){ .pid = pid, .uid = st.st_uid };
	return 0;
}

static int verify_peer(int fd, const struct expected *e, const char *where)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		fprintf(stderr, "handoff: %s: %s\n", where, strerror(errno));
		return -1;
	}
	int ok = e->any_of_ours ? cred.uid == 0 || cred.uid == geteuid()
				: cred.pid == e->pid && cred.uid == e->uid;
	if (!ok)
		fprintf(stderr, "handoff: %s is answered by pid %d (uid %u), not by the "
			"supervisor%s: not trusting it\n", where, (int)cred.pid,
			(unsigned)cred.uid,
			e->any_of_ours ? " (root or your user)" : " the pid file names");
	return ok ? 0 : -1;
}

/* Prints the answer; returns 0 if it is not an error. */
static int read_answer(int fd, int64_t timeout_ms)
{
	char buf[65536];
	size_t got = 0;
	int64_t deadline = ho_now_us() + timeout_ms * 1000;
	int first = 1, error = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = (deadline - ho_now_us()) / 1000;
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			fprintf(stderr, "handoff: no answer within %lld ms\n",
				(long long)timeout_ms);
			return 1;
		}
		ssize_t n = ho_read(fd, buf + got, sizeof buf - 1 - got);
		if (n > 0)
			got += (size_t)n;
		/* Print as it comes: a status report has no size limit. */
		if (n <= 0 || got == sizeof buf - 1) {
			buf[got] = '\0';
			if (first && got == 0) {
				fputs("handoff: the supervisor closed the connection\n", stderr);
				return 1;
			}
			if (first)
				error = strncmp(buf, "error ", 6) == 0;
			fputs(first && error ? buf + 6 : buf, error ? stderr : stdout);
			first = 0;
			got = 0;
			if (n <= 0)
				return error;
		}
	}
}

int client_main(int argc, char **argv)
{
	const char *command = argv[0], *pidfile = NULL, *control = NULL;
	int json = 0;
	int64_t timeout_ms = 120000;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--pidfile") == 0 && i + 1 < argc)
			pidfile = argv[++i];
		else if (strcmp(argv[i], "--control") == 0 && i + 1 < argc)
			control = argv[++i];
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc &&
			 parse_duration_ms(argv[i + 1], &timeout_ms) == 0 && timeout_ms > 0)
			i++;
		else {
			fprintf(stderr, "handoff %s: %s: unknown option or bad value\n",
				command, argv[i]);
			return usage();
		}
	}
	if (!pidfile == !control || (json && strcmp(command, "status") != 0))
		return usage();
	char path[sizeof ((struct endpoint *)0)->path];
	struct expected e = { .any_of_ours = 1 };
	if (pidfile && find_by_pidfile(pidfile, path, sizeof path, &e) < 0)
		return 1;
	if (control)
		snprintf(path, sizeof path, "%s", control);
	int fd = endpoint_connect(path);
	if (fd < 0) {
		fprintf(stderr, "handoff: cannot reach the supervisor at %s: %s\n", path,
			strerror(-fd));
		return 1;
	}
	char request[64];
	snprintf(request, sizeof request, CONTROL_GREETING "%s%s\n", command,
		 json ? "-json" : "");
	int r = verify_peer(fd, &e, path) < 0			     ? 1
		: ho_write_all(fd, request, strlen(request)) < 0 ? 1
								 : read_answer(fd, timeout_ms);
	close(fd);
	return r;
}
