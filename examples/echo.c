/* echo [ADDR] — the smallest complete handoff server (default 127.0.0.1:7000):
 * it sends back each line it receives. On SIGHUP it starts its successor,
 * which inherits the listening socket; once that one is ready, this one stops
 * accepting and passes it every client, a line begun included
 * (HANDOFF_CONNECTIONS): an upgrade closes no connection. A client the
 * successor does not take (no room, or it takes none) is served here to the
 * end, then this one exits. */
#include "handoff.h"
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { MAX_CLIENTS = 64, LINE_BYTES = 1024, DRAIN_POLLS = 50 }; /* 50 x 100 ms */
static struct pollfd fds[2 + MAX_CLIENTS];   /* listener, handoff_fd, clients */
static struct pollfd *const cfd = fds + 2;   /* the clients' */
static struct client {
	char line[LINE_BYTES]; /* received, not yet echoed */
	size_t length;
} client[MAX_CLIENTS];                       /* client[i] is cfd[i]'s */
static int clients;                          /* those being passed included */

static void drop(int i)
{
	close(cfd[i].fd);
	cfd[i].fd = -1;
	client[i].length = 0;
	clients--;
}

/* Reads, then echoes the complete lines at the start of the buffer and keeps
 * the rest: a line longer than the buffer goes in pieces of its size, a last
 * one without its newline at the end of stream. While some is unsent the
 * client is watched for POLLOUT only: one that does not read is not read
 * from. MSG_DONTWAIT: whatever flags a received socket has. */
static void serve(int i)
{
	struct client *c = &client[i];
	ssize_t n = 1, sent = 0;
	/* A full buffer (one can come so from the old generation) is sent first:
	 * a recv() into no room returns 0, which is no end of stream. */
	if ((cfd[i].events & POLLIN) && c->length < sizeof c->line) {
		n = recv(cfd[i].fd, c->line + c->length, sizeof c->line - c->length,
			 MSG_DONTWAIT);
		c->length += n > 0 ? (size_t)n : 0;
	}
	char *nl = memrchr(c->line, '\n', c->length);
	size_t ready = n == 0 || c->length == sizeof c->line ? c->length
		       : nl ? (size_t)(nl - c->line) + 1 : 0;
	if (ready)
		sent = send(cfd[i].fd, c->line, ready, MSG_DONTWAIT | MSG_NOSIGNAL);
	int gone = (n < 0 || sent < 0) && errno != EAGAIN && errno != EINTR;
	sent = sent > 0 ? sent : 0;
	memmove(c->line, c->line + sent, c->length - (size_t)sent);
	c->length -= (size_t)sent;
	cfd[i].events = (size_t)sent < ready ? POLLOUT : POLLIN;
	if (gone || (n == 0 && c->length == 0)) /* an error, or its end all echoed */
		drop(i);
}

/* Takes fd into a free slot and returns it, or -1 if there is none. (A slot
 * whose client is being passed looks free, but by then no client comes.) */
static int add(int fd)
{
	for (int i = 0; fd >= 0 && i < MAX_CLIENTS; i++)
		if (cfd[i].fd < 0) {
			cfd[i] = (struct pollfd){ .fd = fd, .events = POLLIN };
			clients++;
			return i;
		}
	return -1;
}

/* The old generation: every client goes, with its unechoed bytes as the
 * pending ones. Echo has no message boundary to wait for: the successor
 * sends on whatever this one had not, the client sees one stream. poll()
 * skips a negative fd; its complement hides it while it is away (poll(2)). */
static void pass_all(struct handoff *h)
{
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (cfd[i].fd >= 0 &&
		    handoff_pass(h, cfd[i].fd, client[i].line, client[i].length, NULL, 0) == 0)
			cfd[i].fd = ~cfd[i].fd;
}

static void outcomes(struct handoff *h)
{
	int fd, error;
	while (handoff_pass_outcome(h, &fd, &error) == 1)
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (cfd[i].fd == ~fd) {
				cfd[i].fd = fd; /* ours again: served as in a classic drain, */
				if (error == 0) /* unless the successor has it */
					drop(i);
			}
}

/* The successor: each client comes with the bytes it had sent to the old
 * generation and had not had back, echoed now if they make a line. */
static void adopt(struct handoff *h)
{
	struct handoff_connection c;
	while (handoff_receive(h, &c) == 1) {
		int i = c.pending_length <= LINE_BYTES ? add(c.fd) : -1;
		if (i < 0) { /* no room: the old generation serves it on */
			handoff_refuse(h, &c, -EMFILE);
			continue;
		}
		if (c.pending_length) /* pending is NULL then */
			memcpy(client[i].line, c.pending, c.pending_length);
		client[i].length = c.pending_length;
		serve(i);
	}
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
		if (ev.type == HANDOFF_EVENT_CONNECTIONS)
			adopt(h); /* all of them before the next handoff_next() */
		if (ev.type == HANDOFF_EVENT_PASSED)
			outcomes(h);
	}
	return drain;
}

int main(int argc, char *argv[])
{
	const char *address = argc > 1 ? argv[1] : "127.0.0.1:7000";
	struct handoff *h;
	struct handoff_config config = { .size = sizeof config,
					 .flags = HANDOFF_SIGNALS | HANDOFF_CONNECTIONS };
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
	/* The drain limit bounds a successor that never answers, too. */
	while (!stop_now && (!draining || (clients > 0 && draining < DRAIN_POLLS))) {
		/* poll() skips a negative fd: when full, new clients wait queued. */
		fds[0].fd = !draining && clients < MAX_CLIENTS ? listener : -1;
		if (poll(fds, 2 + MAX_CLIENTS, draining ? 100 : -1) <= 0) {
			draining += draining > 0; /* a timeout, or EINTR */
			continue;
		}
		if (fds[0].revents) /* EAGAIN is normal: the other generation took it */
			add(accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
		if (fds[1].revents && handle_events(h, &stop_now) && !draining) {
			handoff_close_listeners(h); /* the successor accepts from now */
			draining = 1;
			if (handoff_can_pass(h)) /* 0 at a stop, or for an older successor */
				pass_all(h);
		}
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (cfd[i].fd >= 0 && cfd[i].revents)
				serve(i);
	}
	fprintf(stderr, "echo[%d]: exiting, %d clients left\n", (int)getpid(), clients);
	handoff_free(h);
	return 0;
}
