/* conn_pass.c — the old generation's side of moving live connections:
 * handoff_pass() queues, the channel carries (conn_wire.h messages, the
 * descriptors beside them), the successor's answers decide, and
 * handoff_pass_outcome() tells the application.
 *
 * Every connection passed is an item, named by its index (the id on the
 * wire). An item is queued, then in flight once sent, then decided (taken,
 * or back to us with an error), then read. The application's descriptor is
 * never closed here: until it is read as taken, it is the application's
 * copy that keeps the connection alive. */
#include "internal.h"
#include "conn_wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>

enum item_state { QUEUED, IN_FLIGHT, DECIDED };

/* Connections a message carries at most, of the 252 the format allows: the
 * successor adopts a message's worth in one turn of its loop, and its other
 * clients wait meanwhile (64 at about 15 us each: about 1 ms). */
enum { BATCH = 64 };

struct item {
	int fd;
	enum item_state state;
	unsigned batch;           /* the message it went in, once sent */
	int error;                /* once decided: 0 taken, else -errno */
	unsigned char *data;      /* pending then state, while queued */
	size_t pending_length, state_length;
};

struct ho_passing {
	struct item *items;
	size_t count, capacity;
	size_t next_to_send;      /* items before it are sent or decided */
	size_t *decided;          /* indexes, in the order they were decided */
	size_t decided_count, decided_read;
	unsigned batches;         /* messages sent */
	int broken;               /* the successor is gone: nothing more goes */
	int watching_out;         /* EPOLLOUT asked on the channel */
	int channel_full;         /* the last send found no room */
	size_t queued_bytes;      /* pending and state passed since flush() ran */
	unsigned char message[HO_WIRE_MESSAGE_MAX];
};

int handoff_can_pass(const struct handoff *h)
{
	return h && h->state == HANDOFF_STATE_HANDED_OVER && h->successor_listening &&
	       !(h->passing && h->passing->broken);
}

static void decide(struct ho_passing *p, size_t index, int error)
{
	struct item *it = &p->items[index];
	if (it->state == DECIDED)
		return;
	free(it->data);
	it->data = NULL;
	it->state = DECIDED;
	it->error = error;
	p->decided[p->decided_count++] = index;
}

/* The successor is gone or the channel broke: everything not decided
 * comes back to the application. */
static void give_back_all(struct ho_passing *p, int error)
{
	p->broken = 1;
	for (size_t i = 0; i < p->count; i++)
		decide(p, i, error);
	p->next_to_send = p->count;
}

static int watch_out(struct handoff *h, int on)
{
	struct epoll_event ev = { .events = EPOLLIN | (on ? EPOLLOUT : 0),
				  .data.fd = h->child_fd };
	if (h->passing->watching_out == on)
		return 0;
	h->passing->watching_out = on;
	return epoll_ctl(h->epoll_fd, EPOLL_CTL_MOD, h->child_fd, &ev) < 0 ? -errno : 0;
}

/* Sends queued items, a message at a time, until the queue is empty or the
 * channel is full (then EPOLLOUT says when to go on). */
static void flush(struct handoff *h)
{
	struct ho_passing *p = h->passing;
	p->queued_bytes = 0;
	p->channel_full = 0;
	while (!p->broken && p->next_to_send < p->count) {
		struct ho_wire_writer w;
		int fds[HO_WIRE_MAX_RECORDS];
		size_t first = p->next_to_send, n = 0;
		ho_wire_begin(&w, p->message, sizeof p->message, HO_WIRE_CONNECTIONS);
		while (first + n < p->count && n < BATCH) {
			struct item *it = &p->items[first + n];
			if (it->state != QUEUED)
				break;
			if (ho_wire_add(&w, first + n, it->data, it->pending_length,
					it->data + it->pending_length, it->state_length, 0) < 0)
				break; /* full: the next message takes it */
			fds[n++] = it->fd;
		}
		if (n == 0) { /* cannot happen within the limits; never loop on it */
			decide(p, first, -E2BIG);
			p->next_to_send = first + 1;
			continue;
		}
		size_t length = ho_wire_finish(&w);
		char control[CMSG_SPACE(sizeof fds)];
		memset(control, 0, sizeof control);
		struct iovec iov = { .iov_base = p->message, .iov_len = length };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
				      .msg_controllen = CMSG_SPACE(n * sizeof(int)) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(c), fds, n * sizeof(int));
		ssize_t sent = ho_sendmsg(h->child_fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (sent == -EAGAIN || sent == -ENOBUFS) {
			p->channel_full = 1;
			watch_out(h, 1);
			return;
		}
		if (sent == -EPIPE || sent == -ECONNRESET) { /* gone; EOF will say so too */
			give_back_all(p, -EPIPE);
			return;
		}
		if (sent < 0) { /* e.g. ETOOMANYREFS: these come back, the next may go */
			for (size_t i = first; i < first + n; i++)
				decide(p, i, (int)sent);
			p->next_to_send = first + n;
			continue;
		}
		for (size_t i = first; i < first + n; i++) {
			free(p->items[i].data);
			p->items[i].data = NULL;
			p->items[i].state = IN_FLIGHT;
			p->items[i].batch = p->batches;
		}
		p->batches++;
		p->next_to_send = first + n;
	}
	watch_out(h, 0);
}

static int grow(struct ho_passing *p)
{
	if (p->count < p->capacity)
		return 0;
	size_t capacity = p->capacity ? p->capacity * 2 : 64;
	struct item *items = realloc(p->items, capacity * sizeof *items);
	if (!items)
		return -ENOMEM;
	p->items = items;
	size_t *decided = realloc(p->decided, capacity * sizeof *decided);
	if (!decided)
		return -ENOMEM;
	p->decided = decided;
	p->capacity = capacity;
	return 0;
}

int handoff_pass(struct handoff *h, int fd, const void *pending, size_t pending_length,
		 const void *state, size_t state_length)
{
	if (!handoff_can_pass(h))
		return -ENOTCONN;
	if (pending_length > HANDOFF_PENDING_MAX || state_length > HANDOFF_STATE_MAX)
		return -E2BIG;
	if ((pending_length && !pending) || (state_length && !state))
		return -EINVAL;
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return -EBADF;
	if (!S_ISSOCK(st.st_mode))
		return -ENOTSOCK;
	if (!h->passing && !(h->passing = calloc(1, sizeof *h->passing)))
		return -ENOMEM;
	struct ho_passing *p = h->passing;
	unsigned char *data = malloc(pending_length + state_length + 1);
	if (!data || grow(p) < 0) {
		free(data);
		return -ENOMEM;
	}
	if (pending_length)
		memcpy(data, pending, pending_length);
	if (state_length)
		memcpy(data + pending_length, state, state_length);
	p->items[p->count++] = (struct item){ .fd = fd, .state = QUEUED, .data = data,
					      .pending_length = pending_length,
					      .state_length = state_length };
	/* Connections passed in one loop turn travel in full messages, not a
	 * message each (each costs the successor a turn): one goes as soon as
	 * it is full, so the first connections need not wait for the last;
	 * the rest at the next handoff_next(), which EPOLLOUT on the channel
	 * brings at once (or when the channel has room again). */
	p->queued_bytes += pending_length + state_length;
	if (!p->channel_full && (p->count - p->next_to_send >= BATCH ||
				 p->queued_bytes >= HO_WIRE_MESSAGE_MAX / 2))
		flush(h);
	else
		watch_out(h, 1);
	return 0;
}

/* "REFUSED" naming no connection: the successor could not read our oldest
 * unanswered message; everything of it still in flight comes back. (It
 * answers in the order we send.) */
static void oldest_refused(struct ho_passing *p)
{
	unsigned oldest = 0;
	int found = 0;
	for (size_t i = 0; i < p->next_to_send; i++)
		if (p->items[i].state == IN_FLIGHT && (!found || p->items[i].batch < oldest)) {
			oldest = p->items[i].batch;
			found = 1;
		}
	for (size_t i = 0; found && i < p->next_to_send; i++)
		if (p->items[i].state == IN_FLIGHT && p->items[i].batch == oldest)
			decide(p, i, -EPROTO);
}

/* An answer from the successor: decides the items it names. Ids we never
 * sent, or already decided, are ignored: the successor cannot take back a
 * connection, nor make us give one up twice. */
static void answered(struct ho_passing *p, const unsigned char *message, size_t length)
{
	struct ho_wire_reader r;
	struct ho_wire_record rec;
	if (ho_wire_open(&r, message, length) < 0 || r.type == HO_WIRE_CONNECTIONS)
		return;
	if (r.type == HO_WIRE_REFUSED && r.count == 0) {
		oldest_refused(p);
		return;
	}
	while (ho_wire_next(&r, &rec) == 1)
		if (rec.id < p->count && p->items[rec.id].state == IN_FLIGHT)
			decide(p, (size_t)rec.id, r.type == HO_WIRE_TAKEN ? 0 : -rec.error);
}

/* The successor is gone: its end of the channel closed. The channel stays
 * open (it tells the successor about our exit... or would have), unwatched. */
static void successor_gone(struct handoff *h)
{
	ho_unwatch(h, h->child_fd);
	h->successor_listening = 0;
	if (h->passing)
		give_back_all(h->passing, -EPIPE);
}

int ho_pass_check(struct handoff *h, struct handoff_event *ev)
{
	struct ho_passing *p = h->passing;
	unsigned char unexpected[64]; /* answers before anything was passed */
	for (int budget = 64; h->successor_listening && budget > 0; budget--) {
		ssize_t n = p ? ho_recv(h->child_fd, p->message, sizeof p->message, MSG_DONTWAIT)
			      : ho_recv(h->child_fd, unexpected, sizeof unexpected, MSG_DONTWAIT);
		if (n == -EAGAIN)
			break;
		if (n <= 0)
			successor_gone(h);
		else if (p)
			answered(p, p->message, (size_t)n);
	}
	if (p)
		flush(h);
	if (!p || p->decided_read == p->decided_count)
		return 0;
	*ev = (struct handoff_event){ .type = HANDOFF_EVENT_PASSED, .pid = h->successor_pid };
	return 1;
}

int handoff_pass_outcome(struct handoff *h, int *fd, int *error)
{
	struct ho_passing *p = h ? h->passing : NULL;
	if (!p || p->decided_read == p->decided_count)
		return 0;
	struct item *it = &p->items[p->decided[p->decided_read++]];
	*fd = it->fd;
	*error = it->error;
	return 1;
}

void ho_pass_free(struct handoff *h)
{
	struct ho_passing *p = h->passing;
	if (!p)
		return;
	for (size_t i = 0; i < p->count; i++)
		free(p->items[i].data);
	free(p->items);
	free(p->decided);
	free(p);
	h->passing = NULL;
}
