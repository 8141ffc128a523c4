/* test-evloop.c — the event-loop examples (examples/uv-server.c on libuv,
 * examples/event-server.c on libevent; docs/event-loops.md) upgrade under
 * keep-alive load without failing a request, and every generation holds
 * as many descriptors as the first: a copy of the listener that is not
 * close-on-exec, or one the loop never closes, would add one per
 * generation. Each test skips where its example was not built (the
 * library's headers were missing: the Makefile leaves it out). */
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

enum { UPGRADES = 20 };

/* "3:socket:[123] 4:pipe:[456] ..." of pid, for a failure message. */
static const char *fd_list(pid_t pid)
{
	static char out[4096];
	size_t len = 0;
	out[0] = '\0';
	for (int fd = 0; fd < 1024 && len + 80 < sizeof out; fd++) {
		char link[64], target[64];
		snprintf(link, sizeof link, "/proc/%d/fd/%d", (int)pid, fd);
		ssize_t n = readlink(link, target, sizeof target - 1);
		if (n > 0)
			len += (size_t)snprintf(out + len, sizeof out - len, "%d:%.*s ",
						fd, (int)n, target);
	}
	return out;
}

/* pid's descriptors above stdio without close-on-exec, as " 5 7", or ""
 * for none: each would be inherited by whatever the server execs. The
 * library closes such strays in its successors, so a plain dup() of a
 * listener does not pile up across generations; this finds it anyway. */
static const char *inheritable_fds(pid_t pid)
{
	static char out[512];
	size_t len = 0;
	out[0] = '\0';
	for (int fd = 3; fd < 1024 && len + 16 < sizeof out; fd++) {
		char path[64], *text;
		snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", (int)pid, fd);
		if (!(text = read_file(path)))
			continue;
		const char *flags = strstr(text, "flags:");
		if (flags && !(strtoul(flags + 6, NULL, 8) & O_CLOEXEC))
			len += (size_t)snprintf(out + len, sizeof out - len, " %d", fd);
		free(text);
	}
	return out;
}

/* The backlog of pid's TCP listener (a listener's tcpi_sacked), through a
 * copy of its descriptor (pidfd_getfd, Linux 5.6); -errno if it cannot be
 * read. All the generations share one queue: a loop that calls listen()
 * again with its own number (libuv's usual 511, libevent's 128) cuts it. */
static int listener_backlog(pid_t pid)
{
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd)
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0), err = -ENOENT;
	for (int fd = 0; pidfd >= 0 && fd < 1024 && err == -ENOENT; fd++) {
		char link[64], target[64];
		snprintf(link, sizeof link, "/proc/%d/fd/%d", (int)pid, fd);
		ssize_t n = readlink(link, target, sizeof target - 1);
		int copy = n > 7 && !memcmp(target, "socket:", 7)
			? (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0) : -1;
		struct tcp_info ti;
		socklen_t len = sizeof ti;
		if (copy < 0 && n > 7 && !memcmp(target, "socket:", 7))
			err = -errno;
		else if (copy >= 0 && getsockopt(copy, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
			 ti.tcpi_state == TCP_LISTEN)
			err = (int)ti.tcpi_sacked;
		if (copy >= 0)
			close(copy);
	}
	if (pidfd < 0)
		return -errno;
	close(pidfd);
	return err;
#else
	(void)pid;
	return -ENOSYS;
#endif
}

/* What the library's listen(fd, SOMAXCONN) gives on this machine (the
 * kernel caps it at net.core.somaxconn). */
static int library_backlog(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in in = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	if (fd < 0 || bind(fd, (struct sockaddr *)&in, sizeof in) < 0 ||
	    listen(fd, SOMAXCONN) < 0 || getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		FAIL("a listener of our own: %s", strerror(errno));
	close(fd);
	return (int)ti.tcpi_sacked;
}

static void upgrades_under_load(const char *name, const char *headers)
{
	char program[PATH_BUFFER];
	snprintf(program, sizeof program, "%s", bin_path(name));
	if (access(program, X_OK) != 0)
		SKIP("%s was not built: %s not installed", name, headers);
	struct httpd s;
	struct load l;
	struct load_result r;
	httpd_start(&s, program, NULL);
	pid_t first = s.pid;
	int first_fds = count_idle_fds(s.pid);
	int backlog = listener_backlog(s.pid);
	char first_list[4096];
	snprintf(first_list, sizeof first_list, "%s", fd_list(s.pid));
	load_start(&l, s.port, (char *[]){ "--keepalive", "8", "--fresh", "2", NULL });
	for (int i = 0; i < UPGRADES; i++)
		httpd_upgrade(&s);
	load_stop(&l, &r);
	load_print(name, &r);
	check_no_failures(&r);
	ASSERT_EQ(r.gen_max, UPGRADES + 1);
	ASSERT(r.generations >= UPGRADES);
	/* Idle, so that only the server's own descriptors are counted. */
	int last_fds = count_idle_fds(s.pid);
	printf("  descriptors: generation 1 (pid %d) %d, generation %d (pid %d) %d\n",
	       (int)first, first_fds, UPGRADES + 1, (int)s.pid, last_fds);
	if (last_fds != first_fds)
		FAIL("generation 1 held %d descriptors, generation %d holds %d\n"
		     "  generation 1: %s\n  generation %d: %s\nlog:\n%s", first_fds,
		     UPGRADES + 1, last_fds, first_list, UPGRADES + 1, fd_list(s.pid),
		     file_text(s.log));
	const char *inheritable = inheritable_fds(s.pid);
	if (*inheritable)
		FAIL("generation %d holds descriptors without close-on-exec:%s\n  %s",
		     UPGRADES + 1, inheritable, fd_list(s.pid));
	int last_backlog = listener_backlog(s.pid), want = library_backlog();
	printf("  listen backlog: the library's %d, generation 1 %d, generation %d %d\n",
	       want, backlog, UPGRADES + 1, last_backlog);
	if (backlog == -EPERM || backlog == -ENOSYS)
		printf("  (the backlog cannot be read here: not checked)\n");
	else if (backlog != want || last_backlog != want)
		FAIL("the library listens with a backlog of %d; generation 1 had %d, "
		     "generation %d %d", want, backlog, UPGRADES + 1, last_backlog);
	httpd_stop(&s);
}

static int client_connect(int port)
{
	struct sockaddr_in in = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&in, sizeof in) < 0)
		FAIL("connect to port %d: %s", port, strerror(errno));
	return fd;
}

static void client_get(int fd)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
	if (write(fd, req, sizeof req - 1) != (ssize_t)sizeof req - 1)
		FAIL("write: %s", strerror(errno));
}

/* The drain of docs/event-loops.md, point 6: the next request on a
 * keep-alive connection is answered by the old generation with
 * "Connection: close", then its FIN; an idle one ends with a clean EOF
 * after the grace; neither sees a reset; the old generation exits 0. */
static void drains_keepalive(const char *name, const char *headers)
{
	char program[PATH_BUFFER], buf[4096], want[32];
	snprintf(program, sizeof program, "%s", bin_path(name));
	if (access(program, X_OK) != 0)
		SKIP("%s was not built: %s not installed", name, headers);
	struct httpd s;
	/* A grace longer than the test's steps may take on a loaded machine. */
	httpd_start(&s, program, (char *[]){ "--grace", (char *)scaled_ms(3000), NULL });
	int busy = client_connect(s.port), idle = client_connect(s.port);
	client_get(busy);
	client_get(idle);
	ASSERT(http_read_response(busy, buf, sizeof buf, 5000) > 0);
	ASSERT(http_read_response(idle, buf, sizeof buf, 5000) > 0);
	pid_t old = s.pid;
	ASSERT_EQ(kill(old, SIGHUP), 0);
	if (!wait_file_contains(s.log, "draining, 2 connections", 1, 10000))
		FAIL("the old generation did not drain; log:\n%s", file_text(s.log));
	client_get(busy);
	int n = http_read_response(busy, buf, sizeof buf, 5000);
	snprintf(want, sizeof want, "pid=%d\n", (int)old);
	if (n <= 0 || !strstr(buf, "200 OK") || !strstr(buf, want) ||
	    !strstr(buf, "Connection: close"))
		FAIL("during the drain got %d:\n%s", n, n > 0 ? buf : "");
	ASSERT_EQ(http_read_response(busy, buf, sizeof buf, 5000), 0); /* its FIN */
	ASSERT_EQ(http_read_response(idle, buf, sizeof buf, 10000), 0); /* after the grace */
	close(busy); /* the old generation lingers until it reads our EOF */
	close(idle);
	int status;
	if (!wait_exit(old, 15000, &status) || status != 0)
		FAIL("old generation %d did not exit 0; log:\n%s", (int)old, file_text(s.log));
	s.pid = read_pid(s.pidfile);
	httpd_stop(&s);
}

void test_evloop_libuv_drains_keepalive(void)
{
	drains_keepalive("examples/uv-server", "libuv's headers (libuv1-dev)");
}

void test_evloop_libevent_drains_keepalive(void)
{
	drains_keepalive("examples/event-server", "libevent's headers (libevent-dev)");
}

void test_evloop_libuv_upgrades_under_load(void)
{
	upgrades_under_load("examples/uv-server", "libuv's headers (libuv1-dev)");
}

void test_evloop_libevent_upgrades_under_load(void)
{
	upgrades_under_load("examples/event-server", "libevent's headers (libevent-dev)");
}
