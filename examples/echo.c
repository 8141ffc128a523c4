/* echo [ADDR] — the smallest complete handoff server (default 127.0.0.1:7000).
 * On SIGHUP it starts its successor, which inherits the listening socket; once
 * that one is ready, this one stops accepting, serves its clients, and exits. */
#include "handoff.h"
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { MAX_CLIENTS = 64, DRAIN_MS = 5000 };
static struct handoff h;
static struct pollfd fds[2 + MAX_CLIENTS]; /* listener, handoff_fd, clients */
static int clients;

/* One write() per line: every generation appends to the same log. */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n = snprintf(line, sizeof line, "echo[%d] gen %u: ", (int)getpid(),
			 handoff_generation(&h));
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
	va_end(ap);
	n = strlen(line);
	line[n++] = '\n';
	while (write(STDERR_FILENO, line, n) < 0 && errno == EINTR) {}
}

static long long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000LL + t.tv_nsec / 1000000;
}

/* One per wakeup: poll() reports the listener again while more wait. */
static void accept_client(int listener)
{
	struct pollfd *p = &fds[2];
	while (p->fd >= 0) /* one is free: the listener is polled only then */
		p++;
	/* EAGAIN is normal: the other generation may have taken the client. */
	p->fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	p->events = POLLIN;
	clients += p->fd >= 0;
}

/* Bytes stay in the socket until they have been sent back: a client that
 * does not read is not read from, and no buffer is kept per client. */
static void echo(struct pollfd *p)
{
	char buf[4096];
	ssize_t n = recv(p->fd, buf, sizeof buf, MSG_PEEK);
	ssize_t sent = n > 0 ? send(p->fd, buf, n, MSG_NOSIGNAL) : n;
	if (sent > 0)
		(void)recv(p->fd, buf, sent, 0);
	p->events = sent < n ? POLLOUT : POLLIN;
	if (n == 0 || (sent < 0 && errno != EAGAIN && errno != EINTR)) {
		close(p->fd);
		p->fd = -1;
		clients--;
	}
}

/* Returns how long to keep serving current clients, or -1: keep going. */
static int drain_time(void)
{
	struct handoff_event ev;
	char text[256];
	int ms = -1;
	while (handoff_next(&h, &ev) > 0) {
		say("%s", handoff_event_describe(&ev, text, sizeof text));
		if (ev.type == HANDOFF_EVENT_STOP_NOW)
			return 0;
		if (ev.type == HANDOFF_EVENT_DRAIN || ev.type == HANDOFF_EVENT_STOP)
			ms = DRAIN_MS;
	}
	return ms;
}

int main(int argc, char *argv[])
{
	const char *address = argc > 1 ? argv[1] : "127.0.0.1:7000";
	struct handoff_config config = { .flags = HANDOFF_SIGNALS };
	int err = handoff_init(&h, &config, argc, argv);
	int listener = err < 0 ? err : handoff_listen(&h, NULL, address);
	err = listener < 0 ? listener : handoff_ready(&h); /* a parent drains now */
	if (err < 0) { /* no handoff_close(): a parent may still be serving */
		say("cannot serve on %s: %s", address, strerror(-err));
		return 1;
	}
	say("ready on %s", address);
	for (int i = 0; i < 2 + MAX_CLIENTS; i++)
		fds[i] = (struct pollfd){ .fd = -1, .events = POLLIN };
	fds[1].fd = handoff_fd(&h);
	long long now = now_ms(), deadline = 0; /* set when draining starts */
	while (!deadline || (clients > 0 && now < deadline)) {
		/* poll() skips a negative fd: when full, clients wait queued. */
		fds[0].fd = !deadline && clients < MAX_CLIENTS ? listener : -1;
		int timeout = deadline ? (int)(deadline - now) : -1;
		int ready = poll(fds, 2 + MAX_CLIENTS, timeout);
		now = now_ms();
		if (ready <= 0)
			continue; /* timeout, or EINTR: the signal waits in handoff_fd */
		if (fds[0].revents)
			accept_client(listener);
		int ms = fds[1].revents ? drain_time() : -1;
		if (ms >= 0 && (!deadline || now + ms < deadline)) {
			handoff_close_listeners(&h); /* the successor accepts now */
			deadline = now + ms;
		}
		for (int i = 2; i < 2 + MAX_CLIENTS; i++)
			if (fds[i].fd >= 0 && fds[i].revents)
				echo(&fds[i]);
	}
	say("exiting, %d clients left", clients);
	handoff_close(&h);
	return 0;
}
