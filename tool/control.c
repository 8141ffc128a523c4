/* control.c — `handoff reload|stop|status` and the socket that answers them.
 *
 * The supervisor listens on the abstract socket "@handoff-<pid>-control"
 * (found from the pid file) and, with --control PATH, on a path created
 * mode 0600. Either way the peer must be root or our own user (SO_PEERCRED).
 * One request per connection: "handoff-control 1 COMMAND\n"; the answer is
 * text, its first word "ok" or "error". A reload answers once it is over. */
#include "tool.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define CONTROL_GREETING "handoff-control 1 "

static socklen_t control_address(struct sockaddr_un *un, pid_t pid,
				 const char *path)
{
	*un = (struct sockaddr_un){ .sun_family = AF_UNIX };
	if (path) {
		snprintf(un->sun_path, sizeof un->sun_path, "%s", path);
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
				   strlen(un->sun_path) + 1);
	}
	int n = snprintf(un->sun_path + 1, sizeof un->sun_path - 1,
			 "handoff-%d-control", (int)pid);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static int listen_control(struct sockaddr_un *un, socklen_t len)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	/* A path socket is born 0600: no window where others may connect. */
	mode_t old = umask(0177);
	int r = bind(fd, (struct sockaddr *)un, len);
	umask(old);
	if (r < 0 || listen(fd, 16) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

int control_open(struct supervisor *s)
{
	struct sockaddr_un un;
	s->control_fd = listen_control(&un, control_address(&un, getpid(), NULL));
	if (s->control_fd < 0 || watch(s, s->control_fd) < 0) {
		say("cannot open the control socket: %s", strerror(errno));
		return -1;
	}
	if (!s->opt->control)
		return 0;
	if (strlen(s->opt->control) >= sizeof un.sun_path) {
		say("--control %s: path too long", s->opt->control);
		return -1;
	}
	struct stat st;
	if (lstat(s->opt->control, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(s->opt->control); /* ours from a previous run: the pid file
					    lock says no other supervisor lives */
	s->control_path_fd = listen_control(&un, control_address(&un, 0, s->opt->control));
	if (s->control_path_fd < 0 || watch(s, s->control_path_fd) < 0) {
		say("--control %s: %s", s->opt->control, strerror(errno));
		return -1;
	}
	return 0;
}

static void reply(int fd, const char *text)
{
	ho_write_all(fd, text, strlen(text));
}

static void drop_client(struct control_client *c)
{
	ho_close(&c->fd); /* also leaves the epoll set */
	c->waits_for_reload = 0;
}

static int peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	       (cred.uid == 0 || cred.uid == geteuid());
}

void control_accept(struct supervisor *s, int listen_fd)
{
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0)
		return;
	struct control_client *slot = NULL;
	for (int i = 0; i < MAX_CLIENTS && !slot; i++)
		if (s->clients[i].fd < 0)
			slot = &s->clients[i];
	if (!peer_allowed(fd) || !slot || watch(s, fd) < 0) {
		reply(fd, slot ? "error permission denied\n" : "error busy, try again\n");
		close(fd);
		return;
	}
	*slot = (struct control_client){ .fd = fd };
}

static void run_command(struct supervisor *s, struct control_client *c,
			const char *command)
{
	if (strcmp(command, "reload") == 0) {
		int r = reload(s);
		if (r == 0) {
			c->waits_for_reload = 1;
			return; /* answered by control_reload_done() */
		}
		reply(c->fd, r == -EBUSY ? "error busy: a reload is already in progress\n"
					 : "error ");
		if (r != -EBUSY) {
			reply(c->fd, s->last_reload);
			reply(c->fd, "\n");
		}
	} else if (strcmp(command, "stop") == 0) {
		reply(c->fd, "ok stopping\n");
		begin_stop(s);
	} else if (strcmp(command, "status") == 0 || strcmp(command, "status-json") == 0) {
		char text[16384];
		status_text(s, text, sizeof text, command[6] != '\0');
		reply(c->fd, text);
	} else {
		reply(c->fd, "error unknown command\n");
	}
	drop_client(c);
}

void control_readable(struct supervisor *s, int fd)
{
	struct control_client *c = NULL;
	for (int i = 0; i < MAX_CLIENTS && !c; i++)
		if (s->clients[i].fd == fd)
			c = &s->clients[i];
	if (!c)
		return;
	char line[256];
	ssize_t n = recv(fd, line, sizeof line - 1, MSG_DONTWAIT);
	if (n <= 0 || c->waits_for_reload) {
		if (n == 0 || (n < 0 && errno != EAGAIN))
			drop_client(c); /* gone; a reload goes on regardless */
		return;
	}
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (strncmp(line, CONTROL_GREETING, strlen(CONTROL_GREETING)) != 0) {
		reply(fd, "error not a handoff-control 1 request\n");
		drop_client(c);
		return;
	}
	run_command(s, c, line + strlen(CONTROL_GREETING));
}

void control_reload_done(struct supervisor *s, int ok, const char *message)
{
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct control_client *c = &s->clients[i];
		if (c->fd < 0 || !c->waits_for_reload)
			continue;
		reply(c->fd, ok ? "ok " : "error ");
		reply(c->fd, message);
		reply(c->fd, "\n");
		drop_client(c);
	}
}

void control_close_all(struct supervisor *s)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (s->clients[i].fd >= 0)
			drop_client(&s->clients[i]);
	ho_close(&s->control_fd);
	if (s->control_path_fd >= 0 && s->opt->control)
		unlink(s->opt->control);
	ho_close(&s->control_path_fd);
}

/* ------------------------------------------------------------ the client */

static int client_usage(void)
{
	fputs("usage: handoff reload|stop|status (--pidfile FILE | --control PATH)"
	      " [--json] [--timeout DUR]\n", stderr);
	return 2;
}

/* Finds the supervisor: its pid file must be locked by a live process. */
static int connect_supervisor(const char *pidfile, const char *path)
{
	struct sockaddr_un un;
	pid_t pid = 0;
	if (pidfile) {
		int r = ho_pidfile_check(pidfile, &pid);
		if (r == 0) {
			fprintf(stderr, "handoff: no supervisor is running (%s is %s)\n",
				pidfile, access(pidfile, F_OK) == 0 ? "stale" : "absent");
			return -1;
		}
		if (r != -EBUSY || pid <= 0) {
			fprintf(stderr, "handoff: %s: %s\n", pidfile,
				r == -EBUSY ? "unreadable pid" : strerror(-r));
			return -1;
		}
	}
	socklen_t len = control_address(&un, pid, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&un, len) < 0) {
		fprintf(stderr, "handoff: cannot reach the supervisor at %s: %s\n",
			path ? path : pidfile, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Prints the answer; returns 0 if it is not an error. */
static int read_answer(int fd, int64_t timeout_ms)
{
	char buf[16384];
	size_t got = 0;
	int64_t deadline = now_us() + timeout_ms * 1000;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = (deadline - now_us()) / 1000;
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			fprintf(stderr, "handoff: no answer within %lld ms\n",
				(long long)timeout_ms);
			return 1;
		}
		ssize_t n = ho_read(fd, buf + got, sizeof buf - 1 - got);
		if (n <= 0 || (got += (size_t)n) == sizeof buf - 1)
			break;
	}
	buf[got] = '\0';
	int error = strncmp(buf, "error ", 6) == 0 || got == 0;
	fputs(error && got ? buf + 6 : buf, error ? stderr : stdout);
	if (!got)
		fputs("handoff: the supervisor closed the connection\n", stderr);
	return error;
}

int control_command(int argc, char **argv)
{
	const char *command = argv[0], *pidfile = NULL, *path = NULL;
	int json = 0;
	int64_t timeout_ms = 120000;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--pidfile") == 0 && i + 1 < argc)
			pidfile = argv[++i];
		else if (strcmp(argv[i], "--control") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc &&
			 parse_duration_ms(argv[i + 1], &timeout_ms) == 0)
			i++;
		else {
			fprintf(stderr, "handoff %s: %s: unknown option or missing value\n",
				command, argv[i]);
			return client_usage();
		}
	}
	if (!pidfile == !path || (json && strcmp(command, "status") != 0))
		return client_usage();
	int fd = connect_supervisor(pidfile, path);
	if (fd < 0)
		return 1;
	char request[64];
	snprintf(request, sizeof request, CONTROL_GREETING "%s%s\n", command,
		 json ? "-json" : "");
	int r = ho_write_all(fd, request, strlen(request)) < 0 ? 1
								 : read_answer(fd, timeout_ms);
	close(fd);
	return r;
}
