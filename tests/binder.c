/* binder.c — the helper `binder PORT`: a server that knows nothing of
 * handoff and binds 127.0.0.1:PORT itself, after abusing bind() every way
 * a careless or hostile program could. Run under `handoff run -l
 * 127.0.0.1:PORT`, each check prints "binder: NAME ok" or "binder: NAME
 * FAIL: what it saw"; then it serves "generation=N pid=P" over HTTP/1.0
 * until SIGTERM.
 *
 * BINDER_HOLD=FILE: accept nothing until FILE exists (the backlog test).
 * BINDER_EXIT=1: exit at once, status 3. BINDER_NO_LISTEN=1: bind but never
 * listen, and wait for SIGTERM. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

static int failures;

static void check(const char *name, int ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void check(const char *name, int ok, const char *fmt, ...)
{
	char detail[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	printf("binder: %s %s%s%s\n", name, ok ? "ok" : "FAIL", ok ? "" : ": ", ok ? "" : detail);
	failures += !ok;
}

static struct sockaddr_in address(const char *ip, int port)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, ip, &in.sin_addr);
	return in;
}

static int stream_socket(void)
{
	return socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

static int bind_to(int fd, const char *ip, int port)
{
	struct sockaddr_in in = address(ip, port);
	return bind(fd, (struct sockaddr *)&in, sizeof in) < 0 ? -errno : 0;
}

static int local_port(int fd)
{
	struct sockaddr_in in;
	socklen_t n = sizeof in;
	return getsockname(fd, (struct sockaddr *)&in, &n) < 0 ? -1 : ntohs(in.sin_port);
}

/* Bad pointers and lengths go to the kernel untouched, which refuses them. */
static void garbage(int port)
{
	int fd = stream_socket();
	int r = bind(fd, (struct sockaddr *)(uintptr_t)16, sizeof(struct sockaddr_in)) < 0
			? errno : 0;
	check("bad_pointer", r == EFAULT, "bind(0x10) gave %s", strerror(r));
	/* The end of a readable page: the address runs into an unmapped one. */
	long page = sysconf(_SC_PAGESIZE);
	char *two = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (two != MAP_FAILED) {
		munmap(two + page, (size_t)page);
		struct sockaddr_in in = address("127.0.0.1", port);
		char *edge = two + page - 4;
		memcpy(edge, &in, 4);
		r = bind(fd, (struct sockaddr *)edge, sizeof in) < 0 ? errno : 0;
		check("pointer_across_pages", r == EFAULT, "gave %s", strerror(r));
		munmap(two, (size_t)page);
	}
	struct sockaddr_in in = address("127.0.0.1", port);
	r = bind(fd, (struct sockaddr *)&in, 1) < 0 ? errno : 0;
	check("short_length", r == EINVAL, "bind(len 1) gave %s", strerror(r));
	r = bind(fd, (struct sockaddr *)&in, 100000) < 0 ? errno : 0;
	check("huge_length", r == EINVAL, "bind(len 100000) gave %s", strerror(r));
	r = bind(fd, (struct sockaddr *)&in, (socklen_t)-1) < 0 ? errno : 0;
	check("negative_length", r == EINVAL, "bind(len -1) gave %s", strerror(r));
	close(fd);
	int not_socket = open("/dev/null", O_RDONLY | O_CLOEXEC);
	r = bind(not_socket, (struct sockaddr *)&in, sizeof in) < 0 ? errno : 0;
	check("not_a_socket", r == ENOTSOCK, "bind(/dev/null) gave %s", strerror(r));
	close(not_socket);
	r = bind(9999, (struct sockaddr *)&in, sizeof in) < 0 ? errno : 0;
	check("bad_descriptor", r == EBADF, "bind(fd 9999) gave %s", strerror(r));
	/* A datagram socket on the held stream port: not ours to give. */
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	r = bind_to(fd, "127.0.0.1", port);
	check("datagram_passes", r == 0 && local_port(fd) == port,
	      "bind(udp) gave %s", strerror(-r));
	close(fd);
}

static void ordinary(int port)
{
	int fd = stream_socket();
	int r = bind_to(fd, "127.0.0.1", 0);
	int got = local_port(fd);
	check("port_zero_passes", r == 0 && got > 0 && got != port,
	      "bind(:0) gave %s, port %d", strerror(-r), got);
	close(fd);
	fd = stream_socket();
	r = bind_to(fd, "0.0.0.0", port);
	struct sockaddr_in in;
	socklen_t n = sizeof in;
	getsockname(fd, (struct sockaddr *)&in, &n);
	check("wildcard_takes_held", r == 0 && in.sin_addr.s_addr == htonl(INADDR_LOOPBACK),
	      "bind(0.0.0.0) gave %s, address %08x", strerror(-r), ntohl(in.sin_addr.s_addr));
	close(fd);
}

/* A thousand binds of the held address, each closed again: every one is
 * adopted, and nothing piles up on either side. */
static void thousand(int port)
{
	int adopted = 0;
	for (int i = 0; i < 1000; i++) {
		int fd = stream_socket();
		if (bind_to(fd, "127.0.0.1", port) == 0 && local_port(fd) == port)
			adopted++;
		close(fd);
	}
	check("thousand_binds", adopted == 1000, "%d of 1000 adopted", adopted);
}

static volatile sig_atomic_t stop;
static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static void serve(int fd)
{
	const char *hold = getenv("BINDER_HOLD");
	const char *generation = getenv("HANDOFF_GENERATION");
	for (int i = 0; hold && access(hold, F_OK) != 0 && !stop && i < 3000; i++) {
		struct pollfd none = { .fd = -1 };
		poll(&none, 1, 10); /* a helper waiting for its cue, bounded */
	}
	while (!stop) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 100) <= 0)
			continue;
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		char request[1024], body[96], reply[256];
		ssize_t got = recv(c, request, sizeof request, 0);
		(void)got;
		int m = snprintf(body, sizeof body, "generation=%s pid=%d\n",
				 generation ? generation : "?", (int)getpid());
		int n = snprintf(reply, sizeof reply,
				 "HTTP/1.0 200 OK\r\nContent-Length: %d\r\n"
				 "Connection: close\r\n\r\n%s", m, body);
		ssize_t sent = send(c, reply, (size_t)n, MSG_NOSIGNAL);
		(void)sent;
		shutdown(c, SHUT_WR);
		close(c);
	}
}

int helper_binder(const char *arg)
{
	int port = atoi(arg);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGTERM, on_term);
	if (getenv("BINDER_EXIT"))
		return 3;
	garbage(port);
	ordinary(port);
	thousand(port);
	/* Close and bind again: the last one serves, and asks for a backlog of
	 * 5, which must not shrink the queue every generation shares. */
	int fd = stream_socket();
	int r = bind_to(fd, "127.0.0.1", port);
	check("final_bind", r == 0, "gave %s", strerror(-r));
	if (r < 0) {
		fprintf(stderr, "binder: cannot bind 127.0.0.1:%d: %s\n", port, strerror(-r));
		return 1; /* as any server would */
	}
	if (getenv("BINDER_NO_LISTEN")) {
		while (!stop)
			pause();
		return 0;
	}
	r = listen(fd, 5) < 0 ? -errno : 0;
	check("listen", r == 0, "listen(5) gave %s", strerror(-r));
	printf("binder: %d failure(s)\n", failures);
	serve(fd);
	return 0;
}
