/* fdstore.c — the store: a bounded table of descriptors with names. */
#include "fdstore.h"
#include "internal.h"

#include <errno.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

void fdstore_init(struct fdstore *s)
{
	*s = (struct fdstore){ .epoll_fd = -1 };
}

int fdstore_open(struct fdstore *s, int max, int epoll_fd)
{
	s->max = max;
	s->epoll_fd = epoll_fd;
	if (max > 0 && !(s->entries = calloc((size_t)max, sizeof *s->entries)))
		return -ENOMEM;
	for (int i = 0; i < max; i++)
		s->entries[i].watch.fd = -1;
	return 0;
}

/* The same open file as one stored already (kcmp: systemd's same_fd). */
static int stored_already(const struct fdstore *s, int fd)
{
	pid_t self = getpid();
	for (int i = 0; i < s->max; i++)
		if (s->entries[i].watch.fd >= 0 &&
		    syscall(SYS_kcmp, self, self, KCMP_FILE, s->entries[i].watch.fd, fd) == 0)
			return 1;
	return 0;
}

/* Entries never move: a watch's address is what epoll hands back, maybe
 * later in the very batch that removed it (its fd is then -1). */
static void forget(struct fdstore *s, int i)
{
	struct fdstore_entry *e = &s->entries[i];
	if (e->watched)
		epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, e->watch.fd, NULL);
	ho_close(&e->watch.fd);
	e->watched = 0;
	s->count--;
}

/* The other end is gone: what it stood for is no more. */
static void hung_up(struct watch *w, uint32_t events)
{
	(void)events;
	struct fdstore_entry *e = CONTAINER_OF(w, struct fdstore_entry, watch);
	struct fdstore *s = e->owner;
	/* An event of this batch may be for the descriptor that had the entry
	 * before: only a hang-up the descriptor reports now counts. */
	struct pollfd now = { .fd = e->watch.fd };
	if (e->watch.fd < 0 || poll(&now, 1, 0) != 1 || !(now.revents & (POLLHUP | POLLERR)))
		return;
	say("stored descriptor \"%s\" hung up: removed from the store (FDPOLL=0 keeps "
	    "one that does)", e->name);
	forget(s, (int)(e - s->entries));
}

static int add(struct fdstore *s, int fd, const char *name, int poll)
{
	struct fdstore_entry *e = s->entries;
	while (e->watch.fd >= 0)
		e++; /* the caller made sure one is free */
	*e = (struct fdstore_entry){ .watch = { .fd = fd, .ready = hung_up }, .owner = s,
				     .poll = poll };
	snprintf(e->name, sizeof e->name, "%s", name);
	ho_set_cloexec(fd, 1);
	/* EPOLLHUP and EPOLLERR are reported whatever is asked; a regular
	 * file or a memfd cannot be watched (EPERM), and never hangs up. */
	e->watched = poll && s->epoll_fd >= 0 && watch_set(s->epoll_fd, EPOLL_CTL_ADD,
							    &e->watch, 0) == 0;
	s->count++;
	return 0;
}

static void refuse(struct fdstore *s, int *fds, int count, const char *who,
		   const char *name, const char *why)
{
	for (int i = 0; i < count; i++)
		close(fds[i]);
	if (count && log_allowed(&s->said, 20, 10000))
		say("%s: %d descriptor(s) named \"%s\" not stored: %s", who, count, name, why);
}

void fdstore_message(struct fdstore *s, const struct fdstore_request *r, int *fds,
		     int count, const char *who)
{
	char name[HANDOFF_NAME_MAX + 1] = FDSTORE_DEFAULT_NAME;
	int valid = 1;
	if (r->name) {
		valid = r->name_length < sizeof name && !memchr(r->name, '\0', r->name_length);
		snprintf(name, sizeof name, "%.*s", valid ? (int)r->name_length : 0, r->name);
		valid = valid && ho_name_valid(name);
		if (!valid)
			snprintf(name, sizeof name, "(invalid)");
	}
	if (r->remove && r->name && valid) {
		int removed = 0;
		for (int i = 0; i < s->max; i++)
			if (s->entries[i].watch.fd >= 0 && strcmp(s->entries[i].name, name) == 0) {
				forget(s, i);
				removed++;
			}
		if (log_allowed(&s->said, 20, 10000))
			say("%s: FDSTOREREMOVE of \"%s\": %d descriptor(s) removed", who, name,
			    removed);
	} else if (r->remove && log_allowed(&s->said, 20, 10000)) {
		say("%s: FDSTOREREMOVE without a valid FDNAME: nothing removed", who);
	}
	if (!count)
		return;
	if (!r->store) {
		refuse(s, fds, count, who, name, "descriptors without FDSTORE=1 are closed");
		return;
	}
	if (!valid) {
		refuse(s, fds, count, who, name, "FDNAME must be 1 to 255 printable characters "
		       "without ':'");
		return;
	}
	if (!s->max) {
		refuse(s, fds, count, who, name, "the store is off (--fdstore-max 0)");
		return;
	}
	int stored = 0, twice = 0, i = 0;
	for (; i < count; i++) {
		if (stored_already(s, fds[i])) {
			close(fds[i]);
			twice++;
		} else if (s->count < s->max) {
			add(s, fds[i], name, r->poll);
			stored++;
		} else {
			break; /* this one and the rest: refused below */
		}
	}
	if ((stored || twice) && log_allowed(&s->said, 20, 10000))
		say("%s: %d descriptor(s) stored as \"%s\"%s (%d in the store)", who, stored,
		    name, twice ? ", the others were stored already" : "", s->count);
	if (i < count) {
		char why[64];
		snprintf(why, sizeof why, "the store is full (--fdstore-max %d)", s->max);
		refuse(s, fds + i, count - i, who, name, why);
	}
}

const struct fdstore_entry *fdstore_at(const struct fdstore *s, int i)
{
	return i >= 0 && i < s->max && s->entries[i].watch.fd >= 0 ? &s->entries[i] : NULL;
}

int fdstore_restore(struct fdstore *s, int fd, const char *name, int poll)
{
	if (s->count >= s->max || !ho_name_valid(name))
		return -EINVAL;
	return add(s, fd, name, poll);
}

void fdstore_close(struct fdstore *s)
{
	for (int i = 0; i < s->max; i++)
		if (s->entries[i].watch.fd >= 0)
			forget(s, i);
	free(s->entries);
	fdstore_init(s);
}
