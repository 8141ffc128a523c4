/* conn_take.c — the successor's side of moving live connections: a message
 * from the previous generation is checked, answered (which connections we
 * take, which stay the sender's and why), then handed to the application
 * one connection at a time by handoff_receive().
 *
 * A connection is answered as taken once the application has had its
 * chance to refuse it (handoff_refuse): when it asks for the next one, or
 * its loop turns (handoff_next). From then on the sender may close its
 * copy; until then the sender's copy and state are the connection's. One
 * refused, or not taken at all (the application moved on to the next
 * event), goes back to the sender. Anything
 * wrong — a message cut short or not ours, descriptors that do not match
 * its records, a descriptor that is not a socket, data past the limits —
 * closes what came and says "refused" for every id we can read, so that
 * the sender keeps those connections and serves them itself. */
#include "internal.h"
#include "conn_wire.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

struct taken {
	uint64_t id;
	int fd;
	const void *pending, *state;
	size_t pending_length, state_length;
};

struct ho_taking {
	struct taken list[HO_WIRE_MAX_RECORDS];
	size_t count, next;               /* handed out: list[0, next) */
	int last_open;                    /* list[next - 1] may still be refused */
	struct ho_wire_writer acks;       /* TAKEN for those handed out, unsent */
	unsigned char ack_buffer[HO_WIRE_MESSAGE_MAX / 16];
	unsigned char message[HO_WIRE_MESSAGE_MAX];
	unsigned char answer[HO_WIRE_MESSAGE_MAX / 8];
};

/* Room for more descriptors than a message may carry: a sender that
 * attaches too many is seen (and its extra descriptors closed), not cut. */
enum { FDS_ROOM = HO_WIRE_MAX_RECORDS + 8 };

/* Answers are small (20 bytes a record); the old generation reads them at
 * once. If the channel is full anyway, wait a little: an answer lost would
 * leave the sender holding connections it can never let go of. */
static void send_answer(struct handoff *h, const void *answer, size_t length)
{
	for (int tries = 0; tries < 100; tries++) {
		ssize_t n = ho_send(h->parent_fd, answer, length, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n != -EAGAIN && n != -ENOBUFS)
			return; /* sent, or the sender is gone: nothing to tell */
		struct pollfd p = { .fd = h->parent_fd, .events = POLLOUT };
		ho_poll(&p, 1, 10);
	}
}

static void close_all(const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(fds[i]);
}

static int is_socket(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Refuses a message that cannot be taken as a whole: each record we can
 * read, with error; then, only if some could not be read, "REFUSED" naming
 * none, which gives the sender back whatever else that message carried.
 * Never after every record was named: the sender would apply it to its
 * next message in flight, and keep connections we go on to take. */
static void refuse_all(struct handoff *h, struct ho_taking *t, size_t length, int error)
{
	struct ho_wire_reader r;
	struct ho_wire_record rec;
	struct ho_wire_writer w;
	int e = -EPROTO, named_all = 1;
	if (ho_wire_open(&r, t->message, length) == 0 && r.type == HO_WIRE_CONNECTIONS) {
		ho_wire_begin(&w, t->answer, sizeof t->answer, HO_WIRE_REFUSED);
		while ((e = ho_wire_next(&r, &rec)) == 1)
			named_all &= ho_wire_add(&w, rec.id, NULL, 0, NULL, 0, error) == 0;
		if (w.count)
			send_answer(h, t->answer, ho_wire_finish(&w));
	}
	if (e == 0 && named_all)
		return;
	ho_wire_begin(&w, t->answer, sizeof t->answer, HO_WIRE_REFUSED);
	send_answer(h, t->answer, ho_wire_finish(&w));
}

/* Keeps a checked message's connections for handoff_receive(), each record
 * with its descriptor; refuses those that are not sockets or carry what we
 * may not skip. */
static void take(struct handoff *h, struct ho_taking *t, size_t length, int *fds,
		 size_t nfds)
{
	struct ho_wire_reader r;
	struct ho_wire_record rec;
	struct ho_wire_writer refused;
	ho_wire_open(&r, t->message, length); /* checked by the caller */
	ho_wire_begin(&refused, t->answer, sizeof t->answer, HO_WIRE_REFUSED);
	size_t i = 0;
	for (; i < nfds && ho_wire_next(&r, &rec) == 1; i++) {
		int error = rec.unknown_critical ? EPROTO : !is_socket(fds[i]) ? ENOTSOCK : 0;
		if (error) {
			close(fds[i]);
			ho_wire_add(&refused, rec.id, NULL, 0, NULL, 0, error);
			continue;
		}
		t->list[t->count++] = (struct taken){ .id = rec.id, .fd = fds[i],
						      .pending = rec.pending,
						      .pending_length = rec.pending_length,
						      .state = rec.state,
						      .state_length = rec.state_length };
	}
	close_all(fds + i, nfds - i); /* none: every record was read before */
	if (refused.count)
		send_answer(h, refused.buffer, ho_wire_finish(&refused));
}

/* Sends the TAKEN answers queued so far. */
static void flush_acks(struct handoff *h, struct ho_taking *t)
{
	if (t->acks.buffer && t->acks.count)
		send_answer(h, t->ack_buffer, ho_wire_finish(&t->acks));
	ho_wire_begin(&t->acks, t->ack_buffer, sizeof t->ack_buffer, HO_WIRE_TAKEN);
}

/* The connection handed out last was not refused: it is taken. */
static void take_last(struct handoff *h, struct ho_taking *t)
{
	if (!t->last_open)
		return;
	t->last_open = 0;
	uint64_t id = t->list[t->next - 1].id;
	if (ho_wire_add(&t->acks, id, NULL, 0, NULL, 0, 0) < 0) {
		flush_acks(h, t); /* full: the ones before go now */
		ho_wire_add(&t->acks, id, NULL, 0, NULL, 0, 0);
	}
}

/* Sends every TAKEN answer due, the last one handed out included. */
static void send_acks(struct handoff *h, struct ho_taking *t)
{
	take_last(h, t);
	flush_acks(h, t);
}

/* One answer for one connection. */
static void answer_one(struct handoff *h, uint64_t id, int error)
{
	struct ho_wire_writer w;
	unsigned char buffer[64];
	ho_wire_begin(&w, buffer, sizeof buffer, error ? HO_WIRE_REFUSED : HO_WIRE_TAKEN);
	ho_wire_add(&w, id, NULL, 0, NULL, 0, error);
	send_answer(h, buffer, ho_wire_finish(&w));
}

/* One message from the parent. Returns 1 if it brought connections to hand
 * out, 0 if not, -1 at EOF (the parent is gone). */
static int read_message(struct handoff *h, struct ho_taking *t)
{
	char control[CMSG_SPACE(FDS_ROOM * sizeof(int))];
	struct iovec iov = { .iov_base = t->message, .iov_len = sizeof t->message };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
			      .msg_controllen = sizeof control };
	ssize_t n = ho_recvmsg(h->parent_fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n == -EAGAIN)
		return 0;
	if (n <= 0)
		return -1;
	int fds[FDS_ROOM];
	size_t nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (k > FDS_ROOM - nfds)
			k = FDS_ROOM - nfds;
		memcpy(fds + nfds, CMSG_DATA(c), k * sizeof(int));
		nfds += k;
	}
	t->count = t->next = 0;
	struct ho_wire_reader r;
	int e = ho_wire_open(&r, t->message, (size_t)n);
	if (e < 0 || r.type != HO_WIRE_CONNECTIONS || (msg.msg_flags & MSG_TRUNC)) {
		close_all(fds, nfds);
		snprintf(h->warning, sizeof h->warning,
			 "refused a message from the previous generation: %s",
			 e < 0 ? strerror(-e) : "not connections, or cut short");
		refuse_all(h, t, 0, EPROTO);
		return 0;
	}
	if (msg.msg_flags & MSG_CTRUNC || nfds != r.count) {
		/* Descriptors lost on the way (RLIMIT_NOFILE) or not what the
		 * records say: none can be matched to its record with certainty. */
		close_all(fds, nfds);
		refuse_all(h, t, (size_t)n, msg.msg_flags & MSG_CTRUNC ? EMFILE : EPROTO);
		return 0;
	}
	/* Every record must read well before any is taken. */
	struct ho_wire_record rec;
	while ((e = ho_wire_next(&r, &rec)) == 1)
		;
	if (e < 0) {
		close_all(fds, nfds);
		refuse_all(h, t, (size_t)n, EPROTO);
		return 0;
	}
	take(h, t, (size_t)n, fds, nfds);
	return t->count > 0;
}

int ho_take_open(struct handoff *h)
{
	if (!(h->config.flags & HANDOFF_CONNECTIONS) || h->parent_fd < 0 || h->taking)
		return 0;
	/* At start-up, not at the first message: a failure then is handoff_new's
	 * -ENOMEM, not a message left unread on a channel that polls readable. */
	h->taking = calloc(1, sizeof *h->taking);
	return h->taking ? 0 : -ENOMEM;
}

int ho_take_check(struct handoff *h, struct handoff_event *ev)
{
	struct ho_taking *t = h->taking;
	send_acks(h, t);
	/* The application moved on without taking these: back to the sender. */
	for (; t->next < t->count; t->next++) {
		close(t->list[t->next].fd);
		answer_one(h, t->list[t->next].id, ECANCELED);
	}
	int r = read_message(h, t);
	if (r < 0)
		return -1;
	if (r == 0)
		return 0;
	*ev = (struct handoff_event){ .type = HANDOFF_EVENT_CONNECTIONS, .pid = h->parent_pid };
	return 1;
}

int handoff_receive(struct handoff *h, struct handoff_connection *c)
{
	struct ho_taking *t = h ? h->taking : NULL;
	if (!t)
		return 0;
	take_last(h, t);
	if (t->next == t->count) {
		/* All handed out: the sender may let them go now, before the
		 * application's loop turns and touches them. */
		send_acks(h, t);
		return 0;
	}
	struct taken *k = &t->list[t->next++];
	t->last_open = 1;
	*c = (struct handoff_connection){ .fd = k->fd, .pending = k->pending,
					  .pending_length = k->pending_length,
					  .state = k->state, .state_length = k->state_length };
	return 1;
}

int handoff_refuse(struct handoff *h, const struct handoff_connection *c, int error)
{
	struct ho_taking *t = h ? h->taking : NULL;
	if (!t || !c || !t->last_open || t->list[t->next - 1].fd != c->fd || error >= 0 ||
	    error < -4095)
		return -EINVAL;
	t->last_open = 0;
	close(c->fd);
	answer_one(h, t->list[t->next - 1].id, -error);
	return 0;
}

void ho_take_free(struct handoff *h)
{
	struct ho_taking *t = h->taking;
	if (!t)
		return;
	if (h->parent_fd >= 0)
		send_acks(h, t);
	for (; t->next < t->count; t->next++) {
		close(t->list[t->next].fd);
		if (h->parent_fd >= 0)
			answer_one(h, t->list[t->next].id, ECANCELED);
	}
	free(t);
	h->taking = NULL;
}
