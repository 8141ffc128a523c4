/* echo [ADDR] — the smallest complete handoff server (default 127.0.0.1:7000).
 * On SIGHUP it starts its successor, which inherits the listening socket; once
 * that one is ready, this one stops accepting, serves its clients, and exits. */
#include "handoff.h"
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { MAX_CLIENTS = 64, DRAIN_POLLS = 50 }; /* a drain lasts 50 x 100 ms */
static struct pollfd fds[2 + MAX_CLIENTS];   /* listener, handoff_fd, clients */
static int clients;

/* Bytes leave the socket only once echoed: a client that does not read is
 * not read from, and no buffer is kept per client. */
static void echo(struct pollfd *p)
{
	char buf[4096];
	ssize_t n = recv(p->fd, buf, sizeof buf, MSG_PEEK);
	ssize_t sent = n > 0 ? send(p->fd, buf, (size_t)n, MSG_NOSIGNAL) : n;
	if (sent > 0)
		(void)recv(p->fd, buf, (size_t)sent, 0);
	p->events = sent < n ? POLLOUT : POLLIN;
	if (n == 0 || (sent < 0 && errno != EAGAIN && errno != EINTR)) {
		close(p->fd);
		p->fd = -1;
		clients--;
	}
}

static void accept_client(int listener)
{
	struct pollfd *p = &fds[2];
	while (p->fd >= 0) /* a slot is free: the listener is polled only then */
		p++;
	/* EAGAIN is normal: the other generation may have taken the client. */
	p->fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	p->events = POLLIN;
	clients += p->fd >= 0;
}

/* Handles pending events; returns 1 when it is time to stop accepting. */
static int handle_events(struct handoff *h, int *stop_now)
{
	struct handoff_event ev;
	char text[256];
	int drain = 0;
	while (handoff_next(h, &ev) > 0) {
		fprintf(stderr, "echo[%d]: %s\n", (int)getpid(),
			handoff_event_describe(&ev, text, sizeof text));
		drain |= ev.type == HANDOFF_EVENT_DRAIN || ev.type == HANDOFF_EVENT_STOP;
		*stop_now |= ev.type == HANDOFF_EVENT_STOP_NOW;
	}
	return drain;
}

int main(int argc, char *argv[])
{
	const char *address = argc > 1 ? argv[1] : "127.0.0.1:7000";
	struct handoff *h;
	struct handoff_config config = { .size = sizeof config,
					 .flags = HANDOFF_SIGNALS };
	int err = handoff_new(&h, &config, argc, argv);
	int listener = err < 0 ? err : handoff_listen(h, NULL, address);
	err = listener < 0 ? listener : handoff_ready(h); /* the parent drains now */
	if (err < 0) {
		fprintf(stderr, "echo: cannot serve on %s: %s\n", address, strerror(-err));
		return 1;
	}
	fprintf(stderr, "echo[%d]: generation %u ready on %s\n", (int)getpid(),
		handoff_generation(h), address);
	for (int i = 0; i < 2 + MAX_CLIENTS; i++)
		fds[i] = (struct pollfd){ .fd = -1, .events = POLLIN };
	fds[1].fd = handoff_fd(h);
	int draining = 0, stop_now = 0;
	while (!stop_now && (!draining || (clients > 0 && draining < DRAIN_POLLS))) {
		/* poll() skips a negative fd: when full, new clients wait queued. */
		fds[0].fd = !draining && clients < MAX_CLIENTS ? listener : -1;
		if (poll(fds, 2 + MAX_CLIENTS, draining ? 100 : -1) <= 0) {
			draining += draining > 0; /* a timeout, or EINTR */
			continue;
		}
		if (fds[0].revents)
			accept_client(listener);
		if (fds[1].revents && handle_events(h, &stop_now) && !draining) {
			handoff_close_listeners(h); /* the successor accepts from now */
			draining = 1;
		}
		for (int i = 2; i < 2 + MAX_CLIENTS; i++)
			if (fds[i].fd >= 0 && fds[i].revents)
				echo(&fds[i]);
	}
	fprintf(stderr, "echo[%d]: exiting, %d clients left\n", (int)getpid(), clients);
	handoff_free(h);
	return 0;
}
