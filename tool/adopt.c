/* adopt.c — answering the generations' bind() and listen().
 *
 * A trapped process waits until we answer; it may also die, or be
 * interrupted, meanwhile, and its pid be reused. So: what we read from its
 * memory or its descriptor table is believed only if the notification is
 * still valid afterwards (SECCOMP_IOCTL_NOTIF_ID_VALID), and the socket we
 * give is injected by the kernel into the notifying process itself
 * (SECCOMP_IOCTL_NOTIF_ADDFD), never into a pid we looked up. Anything we
 * cannot read or do not hold goes on untouched (SECCOMP_USER_NOTIF_FLAG_
 * CONTINUE): the kernel then runs the call as if we were not there. */
#include "adopt.h"
#include "adopt_filter.h"
#include "selfstate.h"
#include "internal.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifdef ADOPT_BUILT

/* ----------------------------------------------------- the other process */

static int still_valid(int notify_fd, uint64_t id)
{
	return ioctl(notify_fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

/* The number after "key:" in a /proc text, or -1. */
static long proc_field(const char *text, const char *key, int base)
{
	const char *at = strstr(text, key);
	if (!at)
		return -1;
	char *end;
	long v = strtol(at + strlen(key), &end, base);
	return end == at + strlen(key) ? -1 : v;
}

static int read_memory(pid_t tid, uint64_t address, void *buf, size_t size)
{
	/* One system call where it may (the same permission as /proc/PID/mem:
	 * PTRACE_MODE_ATTACH; a thread id names its process here). */
	struct iovec local = { .iov_base = buf, .iov_len = size };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)address, .iov_len = size };
	if (process_vm_readv(tid, &local, 1, &remote, 1, 0) == (ssize_t)size)
		return 0;
	int fd = proc_open(tid, "mem");
	if (fd < 0)
		return -1;
	ssize_t n = address > INT64_MAX ? -1 : ho_pread(fd, buf, size, (off_t)address);
	close(fd);
	return n == (ssize_t)size ? 0 : -1;
}

/* A copy of descriptor fd of the process whose thread tid is trapped, or
 * -1. pidfd_open wants the process, not the thread (before Linux 6.9). */
static int copy_descriptor(int notify_fd, uint64_t id, pid_t tid, int fd)
{
	/* Most binds come from a process's main thread, whose id is the
	 * process's: /proc is read only for the others. */
	int pidfd = (int)syscall(SYS_pidfd_open, tid, 0);
	if (pidfd < 0) {
		char status[2048];
		long tgid = proc_read(tid, "status", status, sizeof status) < 0
				    ? -1 : proc_field(status, "\nTgid:", 10);
		pidfd = tgid > 0 ? (int)syscall(SYS_pidfd_open, (pid_t)tgid, 0) : -1;
	}
	if (pidfd < 0)
		return -1;
	/* The pid is still the trapped process's only while it waits for us. */
	int copy = still_valid(notify_fd, id) ? (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0)
					       : -1;
	close(pidfd);
	return copy;
}

/* Whether the process's descriptor fd is close-on-exec: ADDFD sets the
 * flag anew, and nginx relies on its listeners surviving its own exec. */
static int close_on_exec(pid_t tid, int fd)
{
	char what[64], text[512];
	snprintf(what, sizeof what, "fdinfo/%d", fd);
	if (proc_read(tid, what, text, sizeof text) < 0)
		return 1;
	long flags = proc_field(text, "flags:", 8);
	return flags < 0 || (flags & O_CLOEXEC);
}

/* -------------------------------------------------------------- answers */

static void listened_on(struct adopt_generation *g, int index)
{
	struct adopt *a = g->owner;
	if (g->listened[index])
		return;
	g->listened[index] = 1;
	if (++g->listened_count < a->held_count)
		return;
	/* Only one generation starts at a time: is this one of its workers? */
	struct generation *gen = NULL;
	for (int i = 0; i < a->core->count && !gen; i++) {
		struct generation *r = &a->core->gens[i];
		if (r->state == GEN_STARTING && r->number == g->number && r->worker == g->worker)
			gen = r;
	}
	if (!gen)
		return;
	if (a->ready_on_listen) {
		say("generation %u listens on every listener: ready (--ready=listen)",
		    g->number);
		core_ready(a->core, gen);
	} else if (!g->hinted && !a->core->config.ready_delay_ms) {
		g->hinted = 1;
		say("generation %u listens on every listener; waiting for its READY=1 "
		    "(a server that never sends one wants --ready=listen)", g->number);
	}
}

/* Our copy follows the program's choice of blocking: the socket is one
 * open file shared by every generation, and a libuv or Go server that made
 * its socket non-blocking would otherwise block in accept(). But O_NONBLOCK
 * is never cleared while another generation runs: a server that sets it
 * only after listen() (redis) binds a blocking socket, and clearing the
 * flag then would leave the generation draining beside it stuck in a
 * blocking accept() that its event loop expected to return EAGAIN. */
static void match_blocking(int ours, int theirs, int others_running)
{
	int want = fcntl(theirs, F_GETFL), have = fcntl(ours, F_GETFL);
	if (want < 0 || have < 0 || !((want ^ have) & O_NONBLOCK))
		return;
	if (!(want & O_NONBLOCK) && others_running)
		return;
	fcntl(ours, F_SETFL, (have & ~O_NONBLOCK) | (want & O_NONBLOCK));
}

/* Another generation has processes under its filter. */
static int others_running(const struct adopt *a, const struct adopt_generation *g)
{
	for (int i = 0; i < a->count; i++)
		if (a->gens[i] != g && a->gens[i]->watch.fd >= 0)
			return 1;
	return 0;
}

static void remember_own_bind(struct adopt_generation *g, const void *sa, size_t len,
			      int type, int near)
{
	struct handoff_address address = { .type = type };
	char text[80] = "an address";
	memcpy(&address.u, sa, len);
	address.length = (socklen_t)len;
	address.family = address.u.sa.sa_family;
	if (handoff_address_format(&address, text, sizeof text) < 0)
		snprintf(text, sizeof text, "an address of family %d", address.family);
	g->own_binds++;
	snprintf(g->own_bind, sizeof g->own_bind, "%s", text);
	if (near < 0 || !log_allowed(&g->owner->limit, 10, 10000))
		return;
	char held[80] = "?";
	struct adopt *a = g->owner;
	handoff_address_format(&a->held[near].address, held, sizeof held);
	say("generation %u binds %s itself: not adopted, --listen %s is not the same "
	    "family, type and address (try --listen %s)", g->number, text, held, text);
}

/* Returns 1 if it answered, with resp filled in. */
static int on_bind(struct adopt_generation *g, const struct seccomp_notif *req,
		   struct seccomp_notif_resp *resp, int *listened)
{
	struct adopt *a = g->owner;
	int fd = (int)req->data.args[0];
	uint64_t len = (uint32_t)req->data.args[2]; /* a socklen_t */
	struct sockaddr_storage sa;
	if (len < sizeof(sa_family_t) || len > sizeof sa ||
	    read_memory(req->pid, req->data.args[1], &sa, len) < 0)
		return 0; /* the kernel says EINVAL or EFAULT itself */
	int socket_fd = copy_descriptor(g->watch.fd, req->id, req->pid, fd);
	if (socket_fd < 0)
		return 0;
	int domain = -1, type = -1, protocol = -1;
	socklen_t n = sizeof domain;
	getsockopt(socket_fd, SOL_SOCKET, SO_DOMAIN, &domain, &n);
	n = sizeof type;
	getsockopt(socket_fd, SOL_SOCKET, SO_TYPE, &type, &n);
	n = sizeof protocol;
	getsockopt(socket_fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &n);
	int near, index = adopt_match(a->held, a->held_count, domain, type, protocol,
				      &sa, len, &near);
	int ours = index >= 0 ? steer_socket(&a->steer, g->number, (size_t)index) : -1;
	if (index == ADOPT_NONE)
		remember_own_bind(g, &sa, len, type, near);
	if (ours < 0 || !still_valid(g->watch.fd, req->id)) {
		close(socket_fd);
		return 0;
	}
	match_blocking(ours, socket_fd, !steer_alone(&a->steer, g->number, (size_t)index) &&
						others_running(a, g));
	close(socket_fd);
	struct seccomp_notif_addfd addfd = {
		.id = req->id, .flags = SECCOMP_ADDFD_FLAG_SETFD, .srcfd = (unsigned)ours,
		.newfd = (unsigned)fd,
		.newfd_flags = close_on_exec(req->pid, fd) ? O_CLOEXEC : 0,
	};
	if (ioctl(g->watch.fd, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) < 0) {
		resp->error = -errno; /* ENOENT: it is gone, nobody reads this */
		return 1;
	}
	g->adopted++;
	if (log_allowed(&a->limit, 10, 10000)) {
		char text[80] = "?";
		handoff_address_format(&a->held[index].address, text, sizeof text);
		say("generation %u binds %s: given %s (pid %d, fd %d)", g->number, text,
		    ours == handoff_listener_fd(a->listeners, (size_t)index)
			    ? "the supervisor's listener"
			    : "a listening socket of its own, of the supervisor's",
		    (int)req->pid, fd);
	}
	if (a->held[index].address.type == SOCK_DGRAM)
		*listened = index; /* nothing listens on a datagram socket */
	return 1;
}

static int on_listen(struct adopt_generation *g, const struct seccomp_notif *req,
		     int *listened)
{
	struct adopt *a = g->owner;
	int socket_fd = copy_descriptor(g->watch.fd, req->id, req->pid,
					(int)req->data.args[0]);
	struct stat theirs;
	int type;
	socklen_t n = sizeof type;
	if (socket_fd < 0)
		return 0;
	/* A socket first: fstat() of a FUSE file would ask its server, which
	 * may be the very process that waits for us. */
	int r = getsockopt(socket_fd, SOL_SOCKET, SO_TYPE, &type, &n) < 0
			? -1 : fstat(socket_fd, &theirs);
	close(socket_fd);
	/* Ours: the held listener, or a generation's own socket of its group. */
	for (size_t i = 0; r == 0 && i < a->held_count; i++) {
		if (steer_owns(&a->steer, i, theirs.st_dev, theirs.st_ino)) {
			*listened = (int)i;
			return 1; /* listening already, with our backlog */
		}
	}
	return 0;
}

static void answer_one(struct adopt_generation *g)
{
	struct adopt *a = g->owner;
	struct seccomp_notif *req = a->request;
	struct seccomp_notif_resp *resp = a->response;
	memset(req, 0, a->request_size); /* the kernel insists */
	if (ioctl(g->watch.fd, SECCOMP_IOCTL_NOTIF_RECV, req) < 0)
		return; /* ENOENT: the caller was interrupted or died */
	memset(resp, 0, a->response_size);
	resp->id = req->id;
	int listened = -1;
	int answered = req->data.nr == SYS_bind	  ? on_bind(g, req, resp, &listened)
		       : req->data.nr == SYS_listen ? on_listen(g, req, &listened)
						    : 0;
	if (!answered)
		resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	ioctl(g->watch.fd, SECCOMP_IOCTL_NOTIF_SEND, resp); /* ENOENT: gone */
	/* What it means for readiness (a promotion, with all it sets off)
	 * once the process runs on: it waited for us long enough. */
	if (listened >= 0)
		listened_on(g, listened);
}

/* ------------------------------------------------------------ the filters */

/* No process runs under its filter any more. What it did is kept: its
 * exit may reach the core only after this, and the message wants it. */
static void retire(struct adopt_generation *g)
{
	if (g->watch.fd < 0)
		return;
	epoll_ctl(g->owner->epoll_fd, EPOLL_CTL_DEL, g->watch.fd, NULL);
	ho_close(&g->watch.fd);
}

static void forget(struct adopt *a, struct adopt_generation *g)
{
	for (int i = 0; i < a->count; i++)
		if (a->gens[i] == g)
			a->gens[i] = a->gens[--a->count];
	retire(g);
	free(g->listened);
	free(g);
}

/* Room for one more: the oldest retired record goes. */
static int make_room(struct adopt *a)
{
	struct adopt_generation *oldest = NULL;
	for (int i = 0; i < a->count; i++)
		if (a->gens[i]->watch.fd < 0 && (!oldest || a->gens[i]->serial < oldest->serial))
			oldest = a->gens[i];
	if (a->count < ADOPT_RECORDS_MAX)
		return 0;
	if (!oldest)
		return -EBUSY;
	forget(a, oldest);
	return 0;
}

static void on_notification(struct watch *w, uint32_t events)
{
	struct adopt_generation *g = CONTAINER_OF(w, struct adopt_generation, watch);
	if (events & EPOLLIN)
		answer_one(g); /* one at a time: RECV would block on an empty queue */
	else if (events & (EPOLLHUP | EPOLLERR))
		retire(g);
}

int adopt_watch(struct adopt *a, unsigned number, int worker, int fd)
{
	struct adopt_generation *g = NULL;
	if (make_room(a) < 0 || !(g = calloc(1, sizeof *g)) ||
	    !(g->listened = calloc(a->held_count + 1, 1))) {
		free(g);
		close(fd);
		return -ENOMEM;
	}
	g->owner = a;
	g->number = number;
	g->worker = worker;
	g->serial = ++a->serial;
	g->watch = (struct watch){ .fd = fd, .ready = on_notification };
	if (watch_set(a->epoll_fd, EPOLL_CTL_ADD, &g->watch, EPOLLIN) < 0) {
		int e = errno;
		close(fd);
		free(g->listened);
		free(g);
		return -e;
	}
	a->gens[a->count++] = g;
	return 0;
}

static int describe_held(struct adopt *a, char *why, size_t size)
{
	size_t count;
	const struct handoff_listener *ls = ho_listeners(a->listeners, &count);
	if (!(a->held = calloc(count + 1, sizeof *a->held))) {
		snprintf(why, size, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < count; i++) {
		socklen_t n = sizeof a->held[i].protocol;
		a->held[i].address = ls[i].address;
		getsockopt(ls[i].fd, SOL_SOCKET, SO_PROTOCOL, &a->held[i].protocol, &n);
	}
	a->held_count = count;
	return 0;
}

int adopt_open(struct adopt *a, struct core *core, struct handoff *listeners,
	       int ready_on_listen, char *why, size_t size)
{
	struct seccomp_notif_sizes sizes;
	int r = adopt_filter_probe(why, size);
	if (r < 0)
		return r;
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0) {
		r = -errno;
		snprintf(why, size, "cannot adopt the servers' own binds: "
			 "SECCOMP_GET_NOTIF_SIZES: %s", strerror(-r));
		return r;
	}
	/* The kernel's structures may be larger than our headers say. */
	a->request_size = sizes.seccomp_notif > sizeof(struct seccomp_notif)
				  ? sizes.seccomp_notif : sizeof(struct seccomp_notif);
	a->response_size = sizes.seccomp_notif_resp > sizeof(struct seccomp_notif_resp)
				   ? sizes.seccomp_notif_resp
				   : sizeof(struct seccomp_notif_resp);
	a->request = calloc(1, a->request_size);
	a->response = calloc(1, a->response_size);
	a->core = core;
	a->listeners = listeners;
	a->ready_on_listen = ready_on_listen;
	if (!a->request || !a->response || describe_held(a, why, size) < 0 ||
	    steer_open(&a->steer, core, listeners) < 0) {
		snprintf(why, size, "out of memory");
		adopt_close(a);
		return -ENOMEM;
	}
	return 0;
}

#else /* no seccomp user notification on this architecture or libc */

int adopt_open(struct adopt *a, struct core *core, struct handoff *listeners,
	       int ready_on_listen, char *why, size_t size)
{
	(void)a, (void)core, (void)listeners, (void)ready_on_listen;
	return adopt_filter_probe(why, size);
}

int adopt_watch(struct adopt *a, unsigned number, int worker, int fd)
{
	(void)a, (void)number, (void)worker;
	close(fd);
	return -ENOSYS;
}

#endif

void adopt_init(struct adopt *a)
{
	*a = (struct adopt){ .epoll_fd = -1 };
	steer_init(&a->steer);
}

int adopt_enabled(const struct adopt *a)
{
	return a->request != NULL; /* adopt_open's last allocation; freed on failure */
}

void adopt_attach(struct adopt *a, int epoll_fd)
{
	a->epoll_fd = epoll_fd;
}

/* Appends to buf what snprintf would, never past size. */
static size_t append(char *buf, size_t size, size_t at, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static size_t append(char *buf, size_t size, size_t at, const char *fmt, ...)
{
	if (at >= size)
		return at;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf + at, size - at, fmt, ap);
	va_end(ap);
	return n < 0 ? at : at + (size_t)n;
}

/* The newest record of that worker of generation number (should numbers
 * wrap); with live, only one that still has its filter. */
static struct adopt_generation *newest_record(const struct adopt *a, unsigned number,
					      int worker, int live)
{
	struct adopt_generation *found = NULL;
	for (int i = 0; i < a->count; i++)
		if (a->gens[i]->number == number && a->gens[i]->worker == worker &&
		    (!live || a->gens[i]->watch.fd >= 0) &&
		    (!found || a->gens[i]->serial > found->serial))
			found = a->gens[i];
	return found;
}

void adopt_describe(const struct adopt *a, unsigned number, int worker, char *buf,
		    size_t size)
{
	const struct adopt_generation *g = newest_record(a, number, worker, 0);
	buf[0] = '\0';
	/* A server that takes LISTEN_FDS neither binds nor listens: nothing
	 * to say, unless listening is what readiness waits for. */
	if (!g || !(a->ready_on_listen || g->adopted || g->listened_count || g->own_binds))
		return;
	size_t n = append(buf, size, 0, "it listened on %zu of %zu listener(s)",
			  g->listened_count, a->held_count);
	const char *separator = " (missing ";
	for (size_t k = 0; k < a->held_count && n < size; k++) {
		char text[80] = "?";
		if (g->listened[k])
			continue;
		handoff_address_format(&a->held[k].address, text, sizeof text);
		n = append(buf, size, n, "%s%s", separator, text);
		separator = ", ";
	}
	if (g->listened_count < a->held_count)
		n = append(buf, size, n, ")");
	if (g->own_binds)
		append(buf, size, n, "; it bound %s itself%s", g->own_bind,
		       g->own_binds > 1 ? " (and more)" : "");
}

void adopt_save(const struct adopt *a, struct self_generation *out)
{
	const struct adopt_generation *g = newest_record(a, out->g.number, out->g.worker, 1);
	out->filter_fd = g ? g->watch.fd : -1;
	if (!g)
		return;
	size_t n = a->held_count < sizeof out->listened - 1 ? a->held_count
							    : sizeof out->listened - 1;
	for (size_t k = 0; k < n; k++)
		out->listened[k] = g->listened[k] ? '1' : '0';
	out->listened[n] = '\0';
	out->adopted = g->adopted;
	out->own_binds = g->own_binds;
	snprintf(out->own_bind, sizeof out->own_bind, "%s", g->own_bind);
}

int adopt_restore(struct adopt *a, const struct self_generation *in)
{
	if (in->filter_fd < 0)
		return 0;
	int r = adopt_watch(a, in->g.number, in->g.worker, in->filter_fd);
	struct adopt_generation *g =
		r < 0 ? NULL : newest_record(a, in->g.number, in->g.worker, 1);
	if (!g)
		return r < 0 ? r : -ENOENT;
	for (size_t k = 0; k < a->held_count && in->listened[k]; k++)
		if (in->listened[k] == '1' && !g->listened[k]) {
			g->listened[k] = 1;
			g->listened_count++;
		}
	g->adopted = in->adopted;
	g->own_binds = in->own_binds;
	snprintf(g->own_bind, sizeof g->own_bind, "%s", in->own_bind);
	return 0;
}

void adopt_close(struct adopt *a)
{
#ifdef ADOPT_BUILT
	while (a->count)
		forget(a, a->gens[0]);
#endif
	steer_close(&a->steer);
	free(a->held);
	free(a->request);
	free(a->response);
	adopt_init(a);
}
