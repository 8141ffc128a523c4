/* steer.c — slots, places and the program that picks one. */
#include "steer.h"
#include "internal.h"
#include "log.h"
#include "quiet.h"
#include "selfstate.h"

#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

void steer_init(struct steer *s)
{
	*s = (struct steer){ .steered = 0 };
}

static int steerable(const struct handoff_address *a)
{
	return a->type == SOCK_STREAM && (a->family == AF_INET || a->family == AF_INET6);
}

int steer_open(struct steer *s, struct core *core, struct handoff *listeners)
{
	size_t count;
	const struct handoff_listener *ls = ho_listeners(listeners, &count);
	s->core = core;
	s->l = calloc(count + 1, sizeof *s->l);
	s->ports = calloc(count + 1, sizeof *s->ports);
	if (!s->l || !s->ports) {
		steer_close(s);
		return -ENOMEM;
	}
	s->count = count;
	for (size_t i = 0; i < count; i++) {
		struct steer_listener *l = &s->l[i];
		for (int k = 0; k < STEER_SLOTS; k++)
			l->fd[k] = -1;
		l->fd[0] = ls[i].fd;
		l->members = 1;
		l->shared = !steerable(&ls[i].address);
		if (!l->shared)
			s->ports[s->port_count++] = ntohs(ls[i].address.family == AF_INET
								  ? ls[i].address.u.in.sin_port
								  : ls[i].address.u.in6.sin6_port);
	}
	return 0;
}

/* ------------------------------------------------------------ the slots */

/* A generation still has a record in the core: its slot is taken. */
static int taken(const struct steer *s, int k)
{
	for (int i = 0; s->owner[k] && i < s->core->count; i++)
		if (s->core->gens[i].number == s->owner[k])
			return 1;
	return 0;
}

static int slot_of(const struct steer *s, unsigned number)
{
	for (int k = 0; k < STEER_SLOTS; k++)
		if (s->owner[k] == number && taken(s, k))
			return k;
	return -1;
}

/* The program: every new connection to slot k's place in the group (the
 * held listener's, where slot k has no socket on this listener). */
static int aim(struct steer_listener *l, int k)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_RET | BPF_K, (unsigned)l->place[l->fd[k] >= 0 ? k : 0]),
	};
	struct sock_fprog program = { .len = 1, .filter = code };
	if (setsockopt(l->fd[0], SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &program,
		       sizeof program) < 0)
		return -errno;
	l->programmed = 1;
	return 0;
}

/* A socket of the same address as the held one, in its group: it joins
 * the group's end when it listens, where the program sends nothing until
 * it is aimed there (a group that had no program yet: see steer.h). */
static int make_slot(struct steer *s, struct steer_listener *l, int k)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof sa;
	int one = 1, v6only = 0, fd = -1;
	socklen_t n = sizeof v6only;
	struct tcp_info info = { 0 };
	socklen_t info_len = sizeof info;
	if (getsockname(l->fd[0], (struct sockaddr *)&sa, &len) < 0)
		return -errno;
	if (sa.ss_family == AF_INET6 &&
	    getsockopt(l->fd[0], IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &n) < 0)
		return -errno;
	/* Its backlog is the held one's: tcpi_sacked of a listener. */
	int backlog = getsockopt(l->fd[0], IPPROTO_TCP, TCP_INFO, &info, &info_len) == 0 &&
				      info.tcpi_sacked > 0 ? (int)info.tcpi_sacked : SOMAXCONN;
	/* The program first, where the group exists already (EINVAL where
	 * it does not: then just after listen()). */
	if (!l->programmed)
		aim(l, s->steered);
	if (setsockopt(l->fd[0], SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
	    (fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
	    (sa.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof v6only) < 0) ||
	    bind(fd, (struct sockaddr *)&sa, len) < 0 || listen(fd, backlog) < 0) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		return -e;
	}
	l->fd[k] = fd;
	l->place[k] = l->members++;
	int r = l->programmed ? 0 : aim(l, s->steered);
	if (r < 0) {
		/* Unsteered, the group hashes: the slot stays (closing it would
		 * move places), and everyone shares fd[0] from now on. */
		l->shared = 1;
	}
	return r;
}

/* Clients wait on slot k's sockets: its generation died or was killed
 * before it had answered them. */
static int leftovers(const struct steer *s, int k)
{
	for (size_t i = 0; i < s->count; i++)
		if (s->l[i].fd[k] >= 0 && quiet_queue_length(s->l[i].fd[k]) > 0)
			return 1;
	return 0;
}

/* The slot for a generation that has none: the one new clients go to if
 * nobody has it (the first generation, or one after a crash, takes what
 * waits there), else a free one where clients wait, else the first free
 * one. None free: the serving one's, shared as without steering. */
static int choose_slot(struct steer *s, unsigned number)
{
	int k = taken(s, s->steered) ? -1 : s->steered;
	for (int j = 0; k < 0 && j < STEER_SLOTS; j++)
		if (!taken(s, j) && leftovers(s, j))
			k = j;
	for (int j = 0; k < 0 && j < STEER_SLOTS; j++)
		if (!taken(s, j))
			k = j;
	if (k < 0) {
		if (!s->said_full)
			say("generation %u shares its listening sockets with generation %u: "
			    "%d generations have their own already", number,
			    s->owner[s->steered], STEER_SLOTS);
		s->said_full = 1;
		return s->steered;
	}
	s->owner[k] = number;
	return k;
}

int steer_socket(struct steer *s, unsigned number, size_t i)
{
	if (!s->l || i >= s->count)
		return -1;
	struct steer_listener *l = &s->l[i];
	if (l->shared)
		return l->fd[0];
	int k = slot_of(s, number);
	if (k < 0)
		k = choose_slot(s, number);
	if (l->fd[k] < 0) {
		int r = make_slot(s, l, k);
		if (r < 0)
			say("listener %zu: cannot make a socket of its own for generation %u "
			    "(%s): generations share it", i, number, strerror(-r));
		if (r < 0 && l->fd[k] < 0)
			l->shared = 1;
		if (l->shared)
			return l->fd[0];
	}
	return l->fd[k];
}

int steer_owns(const struct steer *s, size_t i, uint64_t dev, uint64_t ino)
{
	struct stat st;
	for (int k = 0; s->l && i < s->count && k < STEER_SLOTS; k++)
		if (s->l[i].fd[k] >= 0 && fstat(s->l[i].fd[k], &st) == 0 &&
		    st.st_dev == dev && st.st_ino == ino)
			return 1;
	return 0;
}

int steer_alone(const struct steer *s, unsigned number, size_t i)
{
	/* Slot 0 is also what a generation that takes LISTEN_FDS uses. */
	int k = slot_of(s, number);
	return s->l && i < s->count && !s->l[i].shared && k > 0 && s->l[i].fd[k] >= 0;
}

void steer_serving(struct steer *s, unsigned number)
{
	int k = slot_of(s, number);
	s->steered = k < 0 ? 0 : k;
	for (size_t i = 0; i < s->count; i++) {
		struct steer_listener *l = &s->l[i];
		int r = l->shared || l->members < 2 ? 0 : aim(l, s->steered);
		if (r < 0) {
			say("listener %zu: cannot steer new clients to generation %u (%s): "
			    "generations share it", i, number, strerror(-r));
			l->shared = 1;
		}
	}
}

int steer_apart(const struct steer *s, unsigned number)
{
	int k = slot_of(s, number);
	for (size_t i = 0; k >= 0 && k != s->steered && i < s->count; i++)
		if (!s->l[i].shared && s->l[i].fd[k] >= 0)
			return 1;
	return 0;
}

int steer_quiet(const struct steer *s, const struct generation *g)
{
	if (!steer_apart(s, g->number))
		return -1;
	int k = slot_of(s, g->number);
	for (size_t i = 0; i < s->count; i++) {
		const struct steer_listener *l = &s->l[i];
		int queued = l->shared || l->fd[k] < 0 ? 0 : quiet_queue_length(l->fd[k]);
		if (queued != 0)
			return queued < 0 ? -1 : 0;
	}
	int busy = quiet_group_busy(g->group, s->ports, s->port_count);
	return busy < 0 ? -1 : !busy;
}

void steer_close(struct steer *s)
{
	for (size_t i = 0; s->l && i < s->count; i++)
		for (int k = 1; k < STEER_SLOTS; k++)
			ho_close(&s->l[i].fd[k]);
	free(s->l);
	free(s->ports);
	steer_init(s);
}

/* ------------------------------------------------------- across exec */

void steer_save(const struct steer *s, struct self_state *st)
{
	st->steered = s->steered;
	for (int k = 0; k < STEER_SLOTS; k++)
		st->slot_owner[k] = s->owner[k];
	for (size_t i = 0; i < s->count && i < (size_t)st->listener_count; i++) {
		struct self_listener *out = &st->listeners[i];
		out->members = s->l[i].members;
		out->shared = s->l[i].shared;
		for (int k = 1; k < STEER_SLOTS; k++) {
			out->slot_fd[k] = s->l[i].fd[k];
			out->slot_place[k] = s->l[i].place[k];
		}
	}
}

void steer_restore(struct steer *s, const struct self_state *st)
{
	s->steered = st->steered;
	for (int k = 0; k < STEER_SLOTS; k++)
		s->owner[k] = st->slot_owner[k];
	for (size_t i = 0; i < s->count && i < (size_t)st->listener_count; i++) {
		const struct self_listener *in = &st->listeners[i];
		struct steer_listener *l = &s->l[i];
		l->members = in->members > 0 ? in->members : 1;
		l->shared |= in->shared;
		for (int k = 1; k < STEER_SLOTS; k++) {
			l->fd[k] = in->slot_fd[k];
			l->place[k] = in->slot_place[k];
		}
	}
}
