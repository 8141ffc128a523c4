/* watch.c — the generation's epoll set: one descriptor (handoff_fd) that
 * polls readable whenever any source of events does. Used by handoff.c
 * (the signal pipe, the parent's channel) and upgrade.c (the successor). */
#include "internal.h"

#include <errno.h>
#include <sys/epoll.h>

int ho_watch_open(struct handoff *h)
{
	int fd = epoll_create1(EPOLL_CLOEXEC);
	if (fd < 0)
		return -errno;
	h->epoll_fd = ho_move_above_stdio(fd);
	return h->epoll_fd < 0 ? h->epoll_fd : 0;
}

int ho_watch(struct handoff *h, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	return epoll_ctl(h->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

/* Stops watching fd without closing it. */
void ho_unwatch(struct handoff *h, int fd)
{
	epoll_ctl(h->epoll_fd, EPOLL_CTL_DEL, fd, NULL);
}
