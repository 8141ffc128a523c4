/* drain [--pidfile FILE] [--grace MS] [ADDR] — the smallest correct drain.
 * A line server (default 127.0.0.1:7001): each line a client sends is
 * answered "pid P: LINE". The point is what it does on DRAIN (the successor
 * is ready) or STOP (SIGTERM): 1. close the listeners at once, the successor
 * accepts from now on; 2. answer the line a client is in the middle of
 * sending; 3. give an idle client a grace (1000 ms) to send a line that may
 * be on its way: it cannot know we drain; 4. end every connection with a
 * lingering close (shutdown(SHUT_WR), read to EOF), as close() with unread
 * input sends a reset, which can destroy our last answer before the client
 * reads it; 5. exit by a deadline (10 s). */
#include "handoff.h"
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum { MAX_CLIENTS = 64, LINE_SIZE = 256, DEADLINE_MS = 10000 };
struct client {
	size_t len;          /* bytes of a line not answered yet */
	bool lingering;      /* our write side is shut: reading to EOF */
	char line[LINE_SIZE];
};
static struct pollfd fds[2 + MAX_CLIENTS];   /* listener, handoff_fd, clients */
static struct client cl[2 + MAX_CLIENTS];    /* indexed like fds */
static int clients;

static void drop(int i)
{
	close(fds[i].fd);
	fds[i].fd = -1;
	clients--;
}

/* Our FIN follows the answers; the client's own EOF ends the connection. */
static void linger(int i)
{
	cl[i].lingering = true;
	if (shutdown(fds[i].fd, SHUT_WR) < 0)
		drop(i);
}

static void serve_client(int i, bool draining)
{
	struct client *c = &cl[i];
	char *nl, out[LINE_SIZE + 32];
	ssize_t n = c->lingering ? recv(fds[i].fd, out, sizeof out, 0)
		: recv(fds[i].fd, c->line + c->len, sizeof c->line - c->len, 0);
	if (n <= 0 && !(n < 0 && errno == EINTR))
		drop(i); /* EOF or error; for a lingering client, the clean end */
	if (n <= 0 || c->lingering)
		return;
	for (c->len += (size_t)n; (nl = memchr(c->line, '\n', c->len)); ) {
		int k = (int)(nl - c->line) + 1;
		int len = snprintf(out, sizeof out, "pid %d: %.*s", (int)getpid(),
				   k, c->line);
		if (send(fds[i].fd, out, (size_t)len, MSG_NOSIGNAL) != len) {
			drop(i); /* gone, or not reading its answers (SO_SNDTIMEO) */
			return;
		}
		memmove(c->line, c->line + k, c->len - (size_t)k);
		c->len -= (size_t)k;
	}
	if (c->len == sizeof c->line || (draining && c->len == 0))
		linger(i); /* a line too long to answer, or the request finished */
}

static void accept_client(int listener)
{
	int i = 2;
	while (fds[i].fd >= 0) /* a slot is free: the listener is polled only then */
		i++;
	/* EAGAIN is normal: the other generation may have taken the client.
	 * Blocking, so send() is simple; bounded by SO_SNDTIMEO. */
	int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &(struct timeval){ .tv_sec = 1 },
		   sizeof(struct timeval));
	fds[i] = (struct pollfd){ .fd = fd, .events = POLLIN };
	cl[i] = (struct client){ 0 };
	clients++;
}

int main(int argc, char *argv[])
{
	const char *address = "127.0.0.1:7001", *pidfile = NULL;
	int grace_ms = 1000;
	for (int i = 1; i < argc; i++) /* a deliberately lax parser */
		if (i + 1 < argc && !strcmp(argv[i], "--pidfile"))
			pidfile = argv[++i];
		else if (i + 1 < argc && !strcmp(argv[i], "--grace"))
			grace_ms = atoi(argv[++i]);
		else
			address = argv[i];
	struct handoff *h;
	struct handoff_config config = { .size = sizeof config, .pidfile = pidfile,
					 .flags = HANDOFF_SIGNALS }; /* HUP, TERM... */
	int err = handoff_new(&h, &config, argc, argv);
	int listener = err < 0 ? err : handoff_listen(h, NULL, address);
	err = listener < 0 ? listener : handoff_ready(h); /* the parent drains now */
	if (err < 0) {
		fprintf(stderr, "drain: cannot serve on %s: %s\n", address, strerror(-err));
		return 1;
	}
	fprintf(stderr, "drain[%d]: ready on %s\n", (int)getpid(), address);
	for (int i = 0; i < 2 + MAX_CLIENTS; i++)
		fds[i] = (struct pollfd){ .fd = -1, .events = POLLIN };
	fds[1].fd = handoff_fd(h);
	bool draining = false, stop_now = false;
	long now = 0, grace_end = 0, deadline = 0;
	struct handoff_event ev;
	struct timespec t;
	while (!stop_now && (!draining || (clients && now < deadline))) {
		/* poll() skips a negative fd: when full, new clients wait queued. */
		fds[0].fd = !draining && clients < MAX_CLIENTS ? listener : -1;
		int n = poll(fds, 2 + MAX_CLIENTS, !draining ? -1
			     : (int)((now < grace_end ? grace_end : deadline) - now));
		clock_gettime(CLOCK_MONOTONIC, &t);
		now = t.tv_sec * 1000L + t.tv_nsec / 1000000;
		if (n > 0 && fds[0].revents)
			accept_client(listener);
		while (n > 0 && fds[1].revents && handoff_next(h, &ev) > 0) {
			stop_now |= ev.type == HANDOFF_EVENT_STOP_NOW;
			if (draining || (ev.type != HANDOFF_EVENT_DRAIN &&
					 ev.type != HANDOFF_EVENT_STOP))
				continue;
			handoff_close_listeners(h); /* the successor accepts from now */
			draining = true;
			grace_end = now + grace_ms;
			deadline = now + DEADLINE_MS;
			fprintf(stderr, "drain[%d]: draining, %d clients\n", (int)getpid(), clients);
		}
		for (int i = 2; n > 0 && i < 2 + MAX_CLIENTS; i++)
			if (fds[i].fd >= 0 && fds[i].revents)
				serve_client(i, draining);
		for (int i = 2; draining && now >= grace_end && i < 2 + MAX_CLIENTS; i++)
			if (fds[i].fd >= 0 && !cl[i].lingering && cl[i].len == 0)
				linger(i); /* idle past the grace */
	}
	fprintf(stderr, "drain[%d]: exiting, %d clients left\n", (int)getpid(), clients);
	handoff_free(h);
	return 0;
}
