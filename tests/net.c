/* net.c — sockets for the tests: free ports, HTTP requests and answers, a fake
 * service manager's notify socket. */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* -------------------------------------------------------------- sockets */

ssize_t send_fds(int sock, const struct sockaddr_un *to, const void *bytes, size_t length,
		 const int *fds, int nfds)
{
	union {
		struct cmsghdr align;
		char space[CMSG_SPACE(sizeof(int) * 32)];
	} control = { 0 };
	struct iovec iov = { .iov_base = (void *)bytes, .iov_len = length };
	struct msghdr msg = { .msg_name = (void *)to, .msg_namelen = to ? sizeof *to : 0,
			      .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds < 0 || nfds > 32) {
		errno = EINVAL;
		return -1;
	}
	if (nfds > 0) {
		msg.msg_control = control.space;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	return sendmsg(sock, &msg, 0);
}

/* Whether this process was given port already (the last 256 given);
 * remembers it if not. */
static int given_before(int port)
{
	enum { REMEMBERED = 256 };
	static int given[REMEMBERED];
	static unsigned count;
	unsigned kept = count < REMEMBERED ? count : REMEMBERED;
	for (unsigned i = 0; i < kept; i++)
		if (given[i] == port)
			return 1;
	given[count++ % REMEMBERED] = port;
	return 0;
}

/* A port below the kernel's range for outgoing connections, which any
 * client on the machine (another suite's load client) could take between
 * our check and the bind of the program under test. Drawn from this test's
 * share of 20000..31999 when the runner runs several at once
 * (HANDOFF_TEST_SLOT of HANDOFF_TEST_JOBS), so that two of its tests never
 * pick the same one; random within it, so that two suites running at once
 * rarely meet. Never one this process was given already: a test that asks
 * for several before it binds any (a port set that changes between
 * generations) got the same port twice once, and its new generation found
 * it taken. The kernel's choice if none of 200 tries is free. */
int free_port(void)
{
	static unsigned seed;
	static int base = 20000, span = 12000;
	if (!seed) {
		seed = (unsigned)getpid() ^ (unsigned)now_ms();
		const char *slot = getenv("HANDOFF_TEST_SLOT");
		const char *jobs = getenv("HANDOFF_TEST_JOBS");
		int k = slot ? atoi(slot) : 0, n = jobs ? atoi(jobs) : 1;
		if (n > 1 && k >= 0 && k < n) {
			span = 12000 / n;
			base = 20000 + k * span;
		}
	}
	for (int attempt = 0; attempt < 200; attempt++) {
		seed = seed * 1103515245u + 12345u;
		int port = base + (int)((seed >> 8) % (unsigned)span);
		struct sockaddr_in in = { .sin_family = AF_INET,
					  .sin_port = htons((uint16_t)port),
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int free = fd >= 0 && bind(fd, (struct sockaddr *)&in, sizeof in) == 0;
		if (fd >= 0)
			close(fd);
		if (free && !given_before(port))
			return port;
	}
	int fd = listen_on("127.0.0.1:0");
	struct sockaddr_in in;
	socklen_t len = sizeof in;
	getsockname(fd, (struct sockaddr *)&in, &len);
	close(fd);
	return ntohs(in.sin_port);
}

int listen_on(const char *text)
{
	struct handoff_address a;
	if (handoff_address_parse(&a, text) < 0)
		FAIL("bad address %s", text);
	int fd = socket(a.family, a.type | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, &a.u.sa, a.length) < 0 ||
	    (a.type == SOCK_STREAM && listen(fd, SOMAXCONN) < 0))
		FAIL("listen on %s: %s", text, strerror(errno));
	return fd;
}

static int wait_fd(int fd, short events, long deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	long left = deadline - now_ms();
	return left > 0 && poll(&p, 1, (int)left) == 1;
}

int http_send(const char *host, int port, const char *path)
{
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int v6 = strchr(host, ':') != NULL;
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (v6)
		inet_pton(AF_INET6, host, &in6.sin6_addr);
	else
		inet_pton(AF_INET, host, &in.sin_addr);
	if (connect(fd, v6 ? (struct sockaddr *)&in6 : (struct sockaddr *)&in,
		    v6 ? sizeof in6 : sizeof in) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	char req[256];
	int n = snprintf(req, sizeof req,
			 "GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", path);
	if (write(fd, req, (size_t)n) != n) {
		int err = errno ? errno : EIO;
		close(fd);
		return -err;
	}
	return fd;
}

int http_answer(int fd, char *body, size_t size, int timeout_ms)
{
	char resp[4096];
	long deadline = deadline_after(timeout_ms);
	ssize_t got = 0, r = 1;
	while (r > 0 && (size_t)got < sizeof resp - 1 && wait_fd(fd, POLLIN, deadline)) {
		r = read(fd, resp + got, sizeof resp - 1 - (size_t)got);
		got += r > 0 ? r : 0;
	}
	int err = r < 0 ? errno : r > 0 ? ETIMEDOUT : 0;
	close(fd);
	resp[got] = '\0';
	int status = 0;
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
		return -(err ? err : EPROTO);
	char *b = strstr(resp, "\r\n\r\n");
	if (body)
		snprintf(body, size, "%s", b ? b + 4 : "");
	return status;
}

int http_get(const char *host, int port, const char *path, char *body,
	     size_t size)
{
	int fd = http_send(host, port, path);
	return fd < 0 ? fd : http_answer(fd, body, size, 5000);
}

int wait_http_body(const char *host, int port, const char *path,
		   const char *needle, char *body, size_t size, int timeout_ms)
{
	long deadline = deadline_after(timeout_ms);
	for (;;) {
		int code = http_get(host, port, path, body, size);
		if (code < 0)
			snprintf(body, size, "(no answer: %s)", strerror(-code));
		if (code == 200 && strstr(body, needle))
			return 1;
		if (now_ms() >= deadline)
			return 0;
		pause_ms(5);
	}
}


int connects(const char *address)
{
	struct handoff_address a;
	ASSERT_EQ(handoff_address_parse(&a, address), 0);
	int fd = socket(a.family, a.type | SOCK_CLOEXEC, 0);
	int r = connect(fd, &a.u.sa, a.length);
	close(fd);
	return r == 0;
}



int port_listening(int port)
{
	static struct tcp_socket listeners[4096];
	int n = tcp_sockets(TCP_LISTENING, listeners, 4096);
	for (int i = 0; i < n; i++)
		if (listeners[i].local_port == port)
			return 1;
	return 0;
}


/* ------------------------------------------------ a fake service manager */

int fake_manager_open(char *name, size_t size, int credentials)
{
	static int serial;
	snprintf(name, size, "@handoff-manager-%d-%d", (int)getpid(), serial++);
	struct handoff_address a;
	char text[128];
	snprintf(text, sizeof text, "unixgram:%s", name);
	ASSERT_EQ(handoff_address_parse(&a, text), 0);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd < 0 || bind(fd, &a.u.sa, a.length) < 0 ||
	    (credentials &&
	     setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0))
		FAIL("notify socket: %s", strerror(errno));
	return fd;
}

ssize_t fake_manager_receive(int fd, char *buf, size_t size, pid_t *sender,
			     int timeout_ms)
{
	long deadline = deadline_after(timeout_ms);
	for (;;) {
		union {
			struct cmsghdr align;
			char space[CMSG_SPACE(sizeof(struct ucred))];
		} control;
		struct iovec iov = { buf, size - 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = control.space,
				      .msg_controllen = sizeof control.space };
		ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
		if (n >= 0) {
			buf[n] = '\0';
			struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
			struct ucred cred = { 0 };
			if (c && c->cmsg_type == SCM_CREDENTIALS)
				memcpy(&cred, CMSG_DATA(c), sizeof cred);
			if (sender)
				*sender = cred.pid;
			return n;
		}
		if (!wait_fd(fd, POLLIN, deadline))
			return -1;
	}
}


/* Reads until a full response (by Content-Length) or EOF; returns the bytes
 * read, 0 on a clean EOF first, or -errno (a reset is -ECONNRESET). */
int http_read_response(int fd, char *buf, size_t size, int timeout_ms)
{
	size_t got = 0;
	long deadline = deadline_after(timeout_ms);
	buf[0] = '\0';
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		long left = deadline - now_ms();
		if (left <= 0 || poll(&p, 1, (int)left) != 1)
			return -ETIMEDOUT;
		ssize_t n = read(fd, buf + got, size - 1 - got);
		if (n < 0)
			return -errno;
		if (n == 0)
			return (int)got;
		got += (size_t)n;
		buf[got] = '\0';
		char *body = strstr(buf, "\r\n\r\n"), *cl = strstr(buf, "Content-Length: ");
		if (body && cl && strlen(body + 4) >= (size_t)atoi(cl + 16))
			return (int)got;
	}
}

int connect_port(int port)
{
	struct sockaddr_in in = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT(fd >= 0);
	if (connect(fd, (struct sockaddr *)&in, sizeof in) < 0)
		FAIL("connect to port %d: %s", port, strerror(errno));
	return fd;
}

void send_all(int fd, const void *bytes, size_t n)
{
	const char *b = bytes;
	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			FAIL("send: %s", strerror(errno));
		b += w;
		n -= (size_t)w;
	}
}

void send_text(int fd, const char *text)
{
	send_all(fd, text, strlen(text));
}

/* Reads up to and including a '\n', or to end of stream (returns the
 * length, 0 at EOF); fails the test past timeout_ms. */
size_t read_line(int fd, char *buf, size_t size, int timeout_ms)
{
	long deadline = deadline_after(timeout_ms);
	size_t len = 0;
	while (len + 1 < size && (len == 0 || buf[len - 1] != '\n')) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left = deadline - now_ms();
		if (left <= 0 || poll(&p, 1, (int)left) == 0)
			FAIL("no answer within %d ms (got \"%.*s\")", timeout_ms,
			     (int)len, buf);
		ssize_t n = recv(fd, buf + len, size - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			FAIL("recv: %s", strerror(errno));
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return len;
}
