/* mover.c — the `mover` helper: a line server whose connections move to
 * the next generation at every upgrade (HANDOFF_CONNECTIONS), for
 * tests/test-connections.c.
 *
 * Spec: "ADDRESS,MODEFILE". Each generation reads MODEFILE when it starts:
 *   move     take and pass connections (the default)
 *   classic  no HANDOFF_CONNECTIONS: an older program as successor
 *   die      take connections, then exit 3 at the first CONNECTIONS event
 *            without taking them (a successor that dies while they move)
 *   stall    take connections, then stop at the first CONNECTIONS event
 *            without taking them, until killed (the test SIGKILLs it)
 *   refuse   take connections, and give each back with handoff_refuse()
 *            (an application out of memory)
 *   big      move, each state padded to BIG_STATE bytes of a pattern that
 *            the successor checks ("gen G: bad state" if it differs)
 * Protocol: each line "ping" is answered "pong gen=G count=C pid=P", C
 * counting the lines of that connection across generations (its state).
 * A line cut in two across an upgrade travels as pending bytes. On DRAIN
 * a generation passes every connection whose line is complete; a
 * connection that comes back is served here until its client closes it. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { MAX_CONNS = 512, LINE_MAX_BYTES = 256, BIG_STATE = 60000 };

struct conn {
	int fd;                 /* -1: free slot */
	int passing;            /* handed to handoff_pass, outcome pending */
	unsigned long count;    /* lines served on this connection, ever */
	char buf[LINE_MAX_BYTES];
	size_t length;          /* bytes read, not yet a whole line */
};

enum mode { MOVE, CLASSIC, DIE, STALL, REFUSE, BIG };
static const char *const mode_names[] = { "move", "classic", "die", "stall", "refuse", "big" };

static struct conn conns[MAX_CONNS];
static enum mode mode;
static struct handoff *h;
static unsigned generation;
static int draining;

static struct conn *add_conn(int fd)
{
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i].fd < 0) {
			conns[i] = (struct conn){ .fd = fd };
			return &conns[i];
		}
	close(fd);
	return NULL;
}

static void drop(struct conn *c)
{
	close(c->fd);
	c->fd = -1;
}

/* Answers every whole line in the buffer. */
static void serve_lines(struct conn *c)
{
	char *nl;
	while ((nl = memchr(c->buf, '\n', c->length))) {
		size_t line = (size_t)(nl - c->buf) + 1;
		char answer[128];
		int n = snprintf(answer, sizeof answer, "pong gen=%u count=%lu pid=%d\n",
				 generation, ++c->count, (int)getpid());
		if (write(c->fd, answer, (size_t)n) != n) {
			drop(c);
			return;
		}
		memmove(c->buf, c->buf + line, c->length - line);
		c->length -= line;
	}
}

static void readable(struct conn *c)
{
	ssize_t n = read(c->fd, c->buf + c->length, sizeof c->buf - c->length);
	if (n <= 0 || (c->length += (size_t)n) == sizeof c->buf) {
		drop(c);
		return;
	}
	serve_lines(c);
}

/* The byte at i of a big state: from its connection's client port, so
 * that a state moved to the wrong connection, cut or shifted is seen. */
static char pattern(unsigned port, size_t i)
{
	return (char)('a' + (i * 31 + port) % 26);
}

static unsigned peer_port(int fd)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	return getpeername(fd, (struct sockaddr *)&a, &len) == 0 ? ntohs(a.sin_port) : 0;
}

/* "count=C" then a NUL, then the pattern up to BIG_STATE bytes. */
static int pad_state(char *state, int n, int fd)
{
	unsigned port = peer_port(fd);
	for (size_t i = (size_t)n + 1; i < BIG_STATE; i++)
		state[i] = pattern(port, i);
	return BIG_STATE;
}

static int pattern_holds(const char *state, size_t length, int fd)
{
	unsigned port = peer_port(fd);
	size_t i = strnlen(state, length) + 1;
	if (length != BIG_STATE)
		return 0;
	for (; i < length; i++)
		if (state[i] != pattern(port, i))
			return 0;
	return 1;
}

static void pass_all(void)
{
	for (int i = 0; i < MAX_CONNS; i++) {
		struct conn *c = &conns[i];
		if (c->fd < 0 || c->passing)
			continue;
		static char state[BIG_STATE];
		int n = snprintf(state, 32, "count=%lu", c->count);
		if (mode == BIG)
			n = pad_state(state, n, c->fd);
		int r = handoff_pass(h, c->fd, c->buf, c->length, state, (size_t)n);
		if (r == 0)
			c->passing = 1;
		else
			/* The successor may already be gone: the same as coming back. */
			printf("gen %u: connection stays here: %s\n", generation, strerror(-r));
	}
}

static void outcomes(void)
{
	int fd, error;
	while (handoff_pass_outcome(h, &fd, &error) == 1)
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = &conns[i];
			if (c->fd != fd || !c->passing)
				continue;
			c->passing = 0;
			if (error == 0) {
				drop(c);
			} else {
				printf("gen %u: connection stays here: %s\n", generation,
				       strerror(-error));
				serve_lines(c);
			}
		}
}

static void receive(void)
{
	if (mode == DIE || mode == STALL) {
		printf("gen %u: %s with connections on the way\n", generation,
		       mode == DIE ? "dying" : "stalling");
		fflush(stdout);
		if (mode == DIE)
			_exit(3);
		for (;;) /* until the test's SIGKILL */
			pause();
	}
	struct handoff_connection hc;
	int received = 0;
	while (handoff_receive(h, &hc) == 1) {
		if (mode == REFUSE) {
			printf("gen %u: refusing a connection: %d\n", generation,
			       handoff_refuse(h, &hc, -ENOMEM));
			continue;
		}
		struct conn *c = add_conn(hc.fd);
		if (!c)
			continue;
		received++;
		if (hc.pending_length && hc.pending_length <= sizeof c->buf) {
			memcpy(c->buf, hc.pending, hc.pending_length);
			c->length = hc.pending_length;
		}
		char state[64];
		snprintf(state, sizeof state, "%.*s", (int)hc.state_length, (const char *)hc.state);
		sscanf(state, "count=%lu", &c->count);
		if (mode == BIG && !pattern_holds(hc.state, hc.state_length, c->fd))
			printf("gen %u: bad state (%zu bytes)\n", generation, hc.state_length);
		serve_lines(c);
	}
	printf("gen %u: received %d\n", generation, received);
}

static int events(void)
{
	struct handoff_event ev;
	while (handoff_next(h, &ev) == 1) {
		switch (ev.type) {
		case HANDOFF_EVENT_DRAIN:
			handoff_close_listeners(h);
			draining = 1;
			printf("gen %u: drain, can pass %d\n", generation, handoff_can_pass(h));
			if (handoff_can_pass(h))
				pass_all();
			break;
		case HANDOFF_EVENT_PASSED:
			outcomes();
			break;
		case HANDOFF_EVENT_CONNECTIONS:
			receive();
			break;
		case HANDOFF_EVENT_STOP:
		case HANDOFF_EVENT_STOP_NOW:
			return 1;
		default:
			break;
		}
	}
	fflush(stdout);
	return 0;
}

int helper_mover(const char *spec)
{
	char address[128], name[32] = "move";
	const char *comma = strchr(spec, ',');
	if (!comma || (size_t)(comma - spec) >= sizeof address)
		return 2;
	snprintf(address, sizeof address, "%.*s", (int)(comma - spec), spec);
	char *text = read_file(comma + 1);
	if (text)
		sscanf(text, "%31s", name);
	free(text);
	mode = MOVE;
	for (size_t i = 0; i < sizeof mode_names / sizeof *mode_names; i++)
		if (strcmp(name, mode_names[i]) == 0)
			mode = (enum mode)i;
	struct handoff_config config = {
		.size = sizeof config,
		.flags = HANDOFF_SIGNALS | (mode != CLASSIC ? HANDOFF_CONNECTIONS : 0),
	};
	for (int i = 0; i < MAX_CONNS; i++)
		conns[i].fd = -1;
	char *argv[] = { self_exe, "--helper", "mover", (char *)spec, NULL };
	if (handoff_new(&h, &config, 4, argv) < 0)
		return 2;
	int lfd = handoff_listen(h, "lines", address);
	if (lfd < 0 || handoff_ready(h) < 0)
		return 2;
	fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
	generation = handoff_generation(h);
	printf("ready generation=%u pid=%d mode=%s\n", generation, (int)getpid(),
	       mode_names[mode]);
	fflush(stdout);
	for (;;) {
		struct pollfd p[MAX_CONNS + 2];
		int idx[MAX_CONNS + 2], n = 0, live = 0;
		p[n] = (struct pollfd){ .fd = handoff_fd(h), .events = POLLIN };
		idx[n++] = -1;
		if (!draining) {
			p[n] = (struct pollfd){ .fd = lfd, .events = POLLIN };
			idx[n++] = -2;
		}
		for (int i = 0; i < MAX_CONNS; i++)
			if (conns[i].fd >= 0) {
				live++;
				if (!conns[i].passing) {
					p[n] = (struct pollfd){ .fd = conns[i].fd, .events = POLLIN };
					idx[n++] = i;
				}
			}
		if (draining && !live)
			break;
		if (poll(p, (nfds_t)n, -1) < 0 && errno != EINTR)
			return 2;
		for (int k = 0; k < n; k++) {
			if (!p[k].revents)
				continue;
			if (idx[k] == -1 && events())
				goto out;
			if (idx[k] == -2) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) >= 0)
					add_conn(fd);
			}
			if (idx[k] >= 0 && conns[idx[k]].fd >= 0 && !conns[idx[k]].passing)
				readable(&conns[idx[k]]);
		}
	}
out:
	printf("gen %u: exiting\n", generation);
	fflush(stdout);
	handoff_free(h);
	return 0;
}
