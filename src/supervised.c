/* supervised.c — a generation under `handoff run`, and the channel the
 * supervisor gave it (HANDOFF_CHANNEL_FD, with HANDOFF_SUPERVISOR=1).
 *
 * Generations there are not parent and child: the supervisor starts each.
 * To move live connections it introduces a draining generation to the one
 * serving in its place (tool/handover.h), with a message on each one's
 * channel: text, and one descriptor attached, the end of a new channel
 * between the two:
 *
 *   "handoff 1 predecessor pid=P generation=N\n"  to the successor: P will
 *        pass its connections there. It is our parent channel from now
 *        on, as if P had started us (conn_take.c).
 *   "handoff 1 successor pid=P generation=N\n"    to the old generation:
 *        P takes our connections there. We have handed over, as if P were
 *        the successor we started (conn_pass.c), and drain: this is the
 *        supervisor's request to, and no stop signal follows.
 *
 * Only the supervisor writes on its channel. A message we cannot use (no
 * HANDOFF_CONNECTIONS, not the moment: a predecessor before we serve, a
 * successor while our own predecessor may still pass us connections; not
 * one of these) is dropped with its descriptor: the other side then reads
 * EOF and carries on alone. A successor we cannot pass to is still the
 * request to drain: the classic way (HANDOFF_EVENT_STOP, signal 0). */
#include "internal.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

enum { MESSAGE_MAX = 128, MESSAGES_PER_CALL = 4 };

/* Our predecessor's channel: connections come in there. */
static int met_predecessor(struct handoff *h, int fd, pid_t pid)
{
	if (h->parent_fd >= 0 || !(h->config.flags & HANDOFF_CONNECTIONS) ||
	    h->state != HANDOFF_STATE_SERVING)
		return -EPROTO;
	h->parent_fd = fd;
	int r = ho_take_open(h);
	if (r == 0)
		r = ho_watch(h, fd);
	if (r < 0) {
		h->parent_fd = -1; /* the caller closes it */
		ho_take_free(h);   /* nothing taken yet: nothing to answer */
		return r;
	}
	h->parent_pid = pid;
	return 0;
}

/* Our successor's channel: we have handed over, and drain. The message is
 * the supervisor's request to drain, so a successor we cannot pass to
 * still ends in a drain: the classic one (STOP, as its stop signal would
 * have said). */
static int met_successor(struct handoff *h, int fd, pid_t pid, struct handoff_event *ev)
{
	if (h->child_fd >= 0 || h->state != HANDOFF_STATE_SERVING)
		return -EPROTO; /* draining already */
	/* Not while our own predecessor may still pass us connections: as
	 * in an upgrade of our own (upgrade_refusal), a generation takes, or
	 * passes on, not both. */
	int r = h->parent_fd >= 0 || !(h->config.flags & HANDOFF_CONNECTIONS) ? -EPROTO
									      : ho_watch(h, fd);
	if (r < 0) {
		close(fd);
		*ev = (struct handoff_event){ .type = HANDOFF_EVENT_STOP };
		return 1;
	}
	h->child_fd = fd;
	h->successor_pid = pid;
	h->successor_listening = 1;
	h->state = HANDOFF_STATE_HANDED_OVER;
	*ev = (struct handoff_event){ .type = HANDOFF_EVENT_DRAIN, .pid = pid };
	return 1;
}

/* One message: 1 with an event, 0 without, -1 when nothing more to read. */
static int read_one(struct handoff *h, struct handoff_event *ev)
{
	char msg[MESSAGE_MAX + 1];
	int fd;
	ssize_t n = ho_recv_with_fd(h->supervisor_fd, msg, MESSAGE_MAX, &fd,
				    MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n == -EAGAIN)
		return -1;
	if (n == -EMSGSIZE)
		return 0; /* not one of its messages: dropped */
	if (n <= 0) { /* the supervisor is gone: nobody will introduce us */
		ho_unwatch(h, h->supervisor_fd);
		ho_close(&h->supervisor_fd);
		return -1;
	}
	msg[n] = '\0';
	unsigned long pid = 0;
	int r = -EPROTO;
	if (fd < 0 || ho_line_number(msg, "pid", INT32_MAX, &pid) < 0 || pid < 1)
		r = -EPROTO;
	else if (ho_line_is(msg, "predecessor"))
		r = met_predecessor(h, fd, (pid_t)pid);
	else if (ho_line_is(msg, "successor"))
		r = met_successor(h, fd, (pid_t)pid, ev);
	if (r < 0 && fd >= 0)
		close(fd);
	return r > 0;
}

int ho_supervisor_check(struct handoff *h, struct handoff_event *ev)
{
	for (int i = 0; i < MESSAGES_PER_CALL && h->supervisor_fd >= 0; i++) {
		int r = read_one(h, ev);
		if (r != 0)
			return r > 0;
	}
	return 0;
}
