/* fdstore.h — descriptors the generations keep with the supervisor, as
 * they would with systemd's file descriptor store (sd_pid_notify_with_fds(3),
 * FileDescriptorStoreMax= in systemd.service(5)), so that a server written
 * for systemd's store works unchanged:
 *
 *   FDSTORE=1 + FDNAME=NAME + descriptors   kept under NAME ("stored" if
 *                                           no FDNAME), each once
 *   FDSTOREREMOVE=1 + FDNAME=NAME           NAME's descriptors closed
 *   FDPOLL=0                                kept even when they hang up
 *
 * Without FDPOLL=0 a stored descriptor that reports POLLHUP or POLLERR is
 * closed (the other end is gone). Every generation started afterwards (a
 * reload, a restart after a crash, a respawned worker) gets them after the
 * listeners, in LISTEN_FDS and LISTEN_FDNAMES: unlike systemd, which hands
 * them over only from a stop to the next start, the successor gets them
 * while the old generation still runs. The store is capped (--fdstore-max;
 * 0, the default as with systemd, turns it off); what is refused is
 * closed and said, with the sender and the name. */
#ifndef TOOL_FDSTORE_H
#define TOOL_FDSTORE_H

#include "log.h"
#include "watch.h"

#include <handoff.h>
#include <stddef.h>

/* --fdstore-max's ceiling: the state across `reload --self` has room for
 * each (selfstate.h), and it stays small. */
#define FDSTORE_MAX 256
#define FDSTORE_DEFAULT_NAME "stored"

struct fdstore;

struct fdstore_entry {
	struct watch watch;       /* watch.fd: the descriptor */
	struct fdstore *owner;
	char name[HANDOFF_NAME_MAX + 1];
	int poll;                 /* closed when it hangs up */
	int watched;              /* in the epoll set (not every kind can be) */
};

struct fdstore {
	int max;                  /* 0: off */
	int epoll_fd;
	struct fdstore_entry *entries; /* max of them; count in use (fd >= 0) */
	int count;
	struct log_limit said;
};

/* What a notify message asks of the store (notify_in.h parses it). */
struct fdstore_request {
	int store;                /* FDSTORE=1 */
	int remove;               /* FDSTOREREMOVE=1 */
	int poll;                 /* FDPOLL=0 gives 0; otherwise 1 */
	const char *name;         /* FDNAME=, not NUL-terminated; NULL: none */
	size_t name_length;
};

/* Zero-valid (off, empty) after fdstore_init. */
void fdstore_init(struct fdstore *s);
/* With max descriptors at most, watched in epoll_fd. Returns 0 or -ENOMEM. */
int fdstore_open(struct fdstore *s, int max, int epoll_fd);
/* A generation's message (who names it in the log) with its descriptors:
 * every one of fds is stored or closed, never left open. */
void fdstore_message(struct fdstore *s, const struct fdstore_request *r, int *fds,
		     int count, const char *who);
/* Entry i (0 <= i < s->max), or NULL if it is free: the order of
 * LISTEN_FDS. */
const struct fdstore_entry *fdstore_at(const struct fdstore *s, int i);
/* Across `reload --self`: the new image adopts descriptor fd under name. */
int fdstore_restore(struct fdstore *s, int fd, const char *name, int poll);
void fdstore_close(struct fdstore *s);

#endif
