/* listener.c — creating listening sockets and recognizing inherited ones. */
#include "internal.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A path left behind by a server that died is "in use" for bind() but
 * nobody accepts on it: connect() says ECONNREFUSED. Only then is it ours
 * to remove. A live socket or a non-socket file is never touched. */
static int remove_stale_unix_path(const struct handoff_address *a)
{
	struct stat st;
	if (lstat(a->u.un.sun_path, &st) < 0)
		return -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	/* Non-blocking: a live server with a full accept queue must answer
	 * "in use" (EAGAIN), not stall our start-up. */
	int probe = socket(AF_UNIX, a->type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0)
		return -errno;
	/* Not retried on EINTR: an interrupted connect goes on in the
	 * background, and a retry would say EALREADY. Either way someone
	 * answered, so the path is in use. */
	int r = connect(probe, &a->u.sa, a->length);
	int saved = errno;
	close(probe);
	if (r == 0 || saved == EAGAIN || saved == EINPROGRESS || saved == EINTR)
		return -EADDRINUSE;
	if (saved != ECONNREFUSED)
		return -saved;
	return unlink(a->u.un.sun_path) < 0 ? -errno : 0;
}

static int bind_address(int fd, const struct handoff_address *a)
{
	if (bind(fd, &a->u.sa, a->length) == 0)
		return 0;
	int err = errno;
	int is_path = a->family == AF_UNIX && a->u.un.sun_path[0] != '\0';
	if (err != EADDRINUSE || !is_path)
		return -err;
	int r = remove_stale_unix_path(a);
	if (r < 0)
		return r;
	return bind(fd, &a->u.sa, a->length) == 0 ? 0 : -errno;
}

int ho_listener_open(const struct handoff_address *a, int grouped)
{
	int fd = socket(a->family, a->type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	fd = ho_move_above_stdio(fd);
	if (fd < 0)
		return fd;
	int one = 1, r = 0;
	if (a->family != AF_UNIX &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		r = -errno;
	if (r == 0)
		r = bind_address(fd, a);
	if (r == 0 && grouped && a->type == SOCK_STREAM && a->family != AF_UNIX &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
		r = -errno;
	if (r == 0 && a->type == SOCK_STREAM && listen(fd, SOMAXCONN) < 0)
		r = -errno;
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

static int is_listening(int fd, int type)
{
	if (type != SOCK_STREAM)
		return 1; /* datagram sockets have no listen state */
	int on = 0;
	socklen_t len = sizeof on;
	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on;
}

void ho_describe_inherited(struct ho_inherited_socket *s, int fd)
{
	s->is_socket = handoff_address_of_socket(&s->address, fd) == 0;
	s->listening = s->is_socket && is_listening(fd, s->address.type);
}

/* 1 if have (a bound socket) answers want: family, type, address, and the
 * port unless any_port. */
int ho_address_matches(const struct handoff_address *have,
		       const struct handoff_address *want, int any_port)
{
	struct handoff_address h = *have;
	if (h.family != want->family || h.type != want->type)
		return 0;
	if (any_port && h.family == AF_INET)
		h.u.in.sin_port = want->u.in.sin_port;
	if (any_port && h.family == AF_INET6)
		h.u.in6.sin6_port = want->u.in6.sin6_port;
	return handoff_address_equal(&h, want);
}
