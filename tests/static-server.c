/* static-server.c — a server that knows nothing of handoff, linked -static:
 * it binds 127.0.0.1:PORT itself with plain socket/bind/listen and answers
 * every connection "generation=N pid=P" over HTTP/1.0 (N from
 * HANDOFF_GENERATION, only so that the load client can count generations;
 * it never looks at LISTEN_FDS). One connection at a time, blocking. On
 * SIGTERM it closes its listener, then exits 0 once the connection in
 * hand, if any, is answered.
 *
 * Static, so that no dynamic loader and no libc interposition can be what
 * makes adoption work: `handoff run` traps the bind() system call itself.
 *
 *   static-server PORT */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stopping;
static int listen_fd = -1;

/* Closes the listener right here (close() is async-signal-safe): a SIGTERM
 * that lands just before accept() then makes it fail with EBADF instead of
 * blocking until the next client. close(), never shutdown(): the listening
 * socket is shared with the next generation, and shutdown() would empty
 * the queue it reads. */
static void on_term(int sig)
{
	(void)sig;
	if (!stopping)
		close(listen_fd);
	stopping = 1;
}

/* Reads the request head (up to its blank line, or what fits), so that
 * closing afterwards never resets a client whose request is unread. */
static void read_request(int fd)
{
	char buf[4096];
	size_t have = 0;
	while (have < sizeof buf - 1) {
		ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		have += (size_t)n;
		buf[have] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			return;
	}
}

static void answer(int fd, const char *generation)
{
	char body[128], reply[512];
	int blen = snprintf(body, sizeof body, "generation=%s pid=%d\n", generation,
			    (int)getpid());
	int n = snprintf(reply, sizeof reply,
			 "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
			 "Content-Length: %d\r\nConnection: close\r\n\r\n%s", blen, body);
	read_request(fd);
	for (int off = 0; off < n;) {
		ssize_t w = write(fd, reply + off, (size_t)(n - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (int)w;
	}
	/* Half-close, then wait for the client's end: our FIN goes first and
	 * nothing it still sends can turn the close into a reset. */
	shutdown(fd, SHUT_WR);
	char sink[256];
	while (read(fd, sink, sizeof sink) > 0)
		continue;
	close(fd);
}

int main(int argc, char **argv)
{
	if (argc != 2 || atoi(argv[1]) <= 0 || atoi(argv[1]) > 65535) {
		fprintf(stderr, "usage: static-server PORT\n");
		return 2;
	}
	const char *generation = getenv("HANDOFF_GENERATION");
	if (!generation)
		generation = "0";
	/* No SA_RESTART: SIGTERM must interrupt a blocking accept(). */
	struct sigaction sa = { .sa_handler = on_term };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	sigset_t term, old;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &old); /* until listen_fd is set */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_port = htons((uint16_t)atoi(argv[1])) };
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 128) < 0) {
		fprintf(stderr, "static-server[%d]: 127.0.0.1:%s: %s\n", (int)getpid(),
			argv[1], strerror(errno));
		return 1;
	}
	fprintf(stderr, "static-server[%d]: generation %s listening on 127.0.0.1:%s\n",
		(int)getpid(), generation, argv[1]);
	listen_fd = fd;
	sigprocmask(SIG_SETMASK, &old, NULL);
	while (!stopping) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0)
			answer(c, generation);
		else if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN &&
			 errno != EBADF)
			fprintf(stderr, "static-server[%d]: accept: %s\n", (int)getpid(),
				strerror(errno));
	}
	fprintf(stderr, "static-server[%d]: stopped\n", (int)getpid());
	return 0;
}
