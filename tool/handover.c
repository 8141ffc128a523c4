/* handover.c — the workers' channels, and introducing a draining worker to
 * its successor. */
#include "handover.h"
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

void handover_init(struct handover *h)
{
	h->count = 0;
}

static int index_of(const struct handover *h, unsigned number, int worker)
{
	for (int i = 0; i < h->count; i++)
		if (h->channels[i].number == number && h->channels[i].worker == worker)
			return i;
	return -1;
}

static struct handover_channel *find(struct handover *h, unsigned number, int worker)
{
	int i = index_of(h, number, worker);
	return i < 0 ? NULL : &h->channels[i];
}

static void forget(struct handover *h, struct handover_channel *ch)
{
	close(ch->fd);
	*ch = h->channels[--h->count];
}

static int add(struct handover *h, unsigned number, int worker, int fd)
{
	struct handover_channel *ch = find(h, number, worker);
	if (ch)
		forget(h, ch);
	if (h->count == CORE_RECORDS_MAX)
		return -ENOSPC; /* the core has no more records than this */
	h->channels[h->count++] = (struct handover_channel){ number, worker, fd, 0 };
	return 0;
}

int handover_open(struct handover *h, unsigned number, int worker, int *child_end)
{
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		return -errno;
	int r = add(h, number, worker, pair[0]);
	if (r < 0) {
		close(pair[0]);
		close(pair[1]);
		return r;
	}
	*child_end = pair[1];
	return 0;
}

/* The core still has worker `worker` (-1: any) of generation `number`. */
static int has_record(const struct core *c, unsigned number, int worker)
{
	for (int k = 0; k < c->count; k++)
		if (c->gens[k].number == number && (worker < 0 || c->gens[k].worker == worker))
			return 1;
	return 0;
}

void handover_prune(struct handover *h, const struct core *c)
{
	for (int i = 0; i < h->count;) {
		struct handover_channel *ch = &h->channels[i];
		if (!has_record(c, ch->number, ch->worker)) {
			forget(h, ch); /* the last one moves here: look again */
			continue;
		}
		if (ch->predecessor && !has_record(c, ch->predecessor, -1))
			ch->predecessor = 0;
		i++;
	}
}

/* "handoff 1 <role> pid=P generation=N\n" with fd attached, whole or not
 * at all (a worker whose queue is full is not waited for). */
static int introduce(int channel, const char *role, const struct generation *other, int fd)
{
	char text[96];
	int n = snprintf(text, sizeof text, "handoff %d %s pid=%ld generation=%u\n",
			 HANDOFF_PROTOCOL_VERSION, role, (long)other->pid, other->number);
	ssize_t sent = ho_send_with_fd(channel, text, (size_t)n, fd,
				       MSG_DONTWAIT | MSG_NOSIGNAL);
	return sent < 0 ? (int)sent : 0;
}

int handover_introduce(struct handover *h, const struct generation *old,
		       const struct generation *successor, char *why, size_t size)
{
	if (!successor || !old->connections || !successor->connections)
		return 0;
	struct handover_channel *from = find(h, old->number, old->worker);
	struct handover_channel *to = find(h, successor->number, successor->worker);
	if (!from || !to || from->predecessor)
		return 0;
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
		int e = errno;
		snprintf(why, size, "cannot make a channel: %s", strerror(e));
		return -e;
	}
	/* The successor first: what the old one sends waits in its end. */
	int r = introduce(to->fd, "predecessor", old, pair[1]);
	if (r < 0)
		snprintf(why, size, "cannot reach generation %u: %s", successor->number,
			 strerror(-r));
	else if ((r = introduce(from->fd, "successor", successor, pair[0])) < 0)
		snprintf(why, size, "cannot reach generation %u: %s", old->number,
			 strerror(-r));
	/* Theirs now (or, on failure, nobody's: the successor reads EOF). */
	close(pair[0]);
	close(pair[1]);
	if (r < 0)
		return r;
	to->predecessor = old->number;
	return 1;
}

int handover_channel_fd(const struct handover *h, unsigned number, int worker)
{
	int i = index_of(h, number, worker);
	return i < 0 ? -1 : h->channels[i].fd;
}

int handover_restore(struct handover *h, unsigned number, int worker, int fd)
{
	/* On failure fd stays open: the state given back to the previous
	 * binary, if the takeover fails later, still names it. */
	int r = ho_set_cloexec(fd, 1);
	return r < 0 ? r : add(h, number, worker, fd);
}

void handover_close(struct handover *h)
{
	while (h->count)
		forget(h, &h->channels[0]);
}
