/* watch.h — a descriptor in the supervisor's epoll set, with the function
 * that handles it: each adapter embeds its watches, so the loop needs to
 * know none of them. */
#ifndef TOOL_WATCH_H
#define TOOL_WATCH_H

#include <stdint.h>
#include <sys/epoll.h>

struct watch {
	int fd;
	void (*ready)(struct watch *self, uint32_t events);
};

static inline int watch_set(int epoll_fd, int op, struct watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };
	return epoll_ctl(epoll_fd, op, w->fd, &ev);
}

#define CONTAINER_OF(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#endif
