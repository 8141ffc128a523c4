/* notify_in.h — the generations' sd_notify socket: READY=1 and STATUS=
 * from our servers, and from nobody else.
 *
 * It is a datagram socket at a path in a directory of its own, created
 * with an unpredictable name and mode 0700 (0711 when the generations run
 * as another user, who then owns the socket): other local users can
 * neither reach it, flood it, nor take its name first. The kernel tells us
 * who sent each message (SCM_CREDENTIALS); only a generation or one of its
 * descendants is heard (a daemon the generation became, too). Descriptors
 * a message carries go to the store (fdstore.h) or are closed. */
#ifndef TOOL_NOTIFY_IN_H
#define TOOL_NOTIFY_IN_H

#include "core.h"
#include "endpoint.h"
#include "fdstore.h"
#include "log.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct notify_in {
	char directory[96];          /* "" when not created */
	struct endpoint socket;
	struct log_limit rejected;   /* lines about messages we ignore */
	/* Called (if set) when a sender is a process reparented to us that no
	 * generation claims: the exit that made it ours, a daemon's first
	 * process exiting 0, may not be handled yet, and handling it may make
	 * the sender a generation's. The sender is then looked up once more. */
	void (*settle)(void *ctx);
	void *settle_ctx;
	/* Called (if set) with a generation's message that carries
	 * descriptors or asks the store (fdstore.h); it takes every one of
	 * fds. Without it, or from anyone else, they are closed. */
	void (*store)(void *ctx, struct generation *g, const struct fdstore_request *r,
		      int *fds, int count, const char *who);
	void *store_ctx;
};

/* Creates the directory and the socket; owner: who the generations run as
 * (uid -1: as we do). Returns 0 or -errno with the reason in why. */
int notify_in_open(struct notify_in *n, uid_t owner, gid_t group, char *why,
		   size_t size);
/* The path, for the generations' NOTIFY_SOCKET. */
const char *notify_in_path(const struct notify_in *n);
/* Reads what is queued (a bounded number of messages) and tells the core. */
void notify_in_receive(struct notify_in *n, struct core *c);
/* Across `reload --self`: the socket at fd as notify_in_open left it
 * (its path, the inode bound there, its directory). Returns 0 or -errno. */
int notify_in_restore(struct notify_in *n, int fd, const char *path, uint64_t dev,
		      uint64_t ino, const char *directory);
/* Removes the socket and its directory. Zero-valid. */
void notify_in_close(struct notify_in *n);

/* What one message says, for the keys we act on. status points into the
 * message (not NUL-terminated: status_length bytes). */
struct notify_fields {
	int ready;                   /* READY=1 */
	int reload;                  /* HANDOFF_RELOAD=1: a libhandoff server
					was sent SIGHUP and asks us */
	int connections;             /* HANDOFF_CONNECTIONS=1: it takes live
					connections (handover.h) */
	const char *status;          /* STATUS=, or NULL */
	size_t status_length;
	int barrier;                 /* BARRIER=1: its descriptor is closed */
	struct fdstore_request store;/* FDSTORE=1, FDSTOREREMOVE=1, FDNAME=, FDPOLL= */
};
/* Parses "KEY=VALUE\n..." as systemd does: lines without '=' and unknown
 * keys are ignored; the last STATUS= and FDNAME= win. Never fails. */
void notify_parse(const char *message, size_t length, struct notify_fields *out);

#endif
