/* handover.h — live connections from a draining generation to the one
 * that serves in its place, under `handoff run` (docs/connections.md).
 *
 * Each worker of a generation gets at start a channel of its own to us:
 * one end of a SOCK_SEQPACKET pair, at the descriptor HANDOFF_CHANNEL_FD
 * names (with HANDOFF_SUPERVISOR=1: a variable of its own, so that a
 * libhandoff older than it does not take it for a parent's HANDOFF_FD).
 * Only we write there; what a worker writes there is never read (it fills
 * that worker's own send buffer, nothing of ours). A worker that takes
 * live connections says HANDOFF_CONNECTIONS=1 with its READY=1. When such
 * a worker is asked to drain and the worker serving in its place said so
 * too, we introduce them: a new pair, one end to the successor ("handoff 1
 * predecessor ..."), then the other to the old one ("handoff 1 successor
 * ..."), which is its request to drain: no stop signal follows (it would
 * race the introduction in the server's loop). From then on the two speak the library's
 * protocol to each other (conn_wire.h), exactly as a libhandoff program and
 * the successor it started do.
 *
 * The connections never pass through us: the supervisor stays out of the
 * data path, and neither its crash nor its `reload --self` can lose one
 * (the old generation keeps each until the successor has taken it). */
#ifndef TOOL_HANDOVER_H
#define TOOL_HANDOVER_H

#include "core.h"

#include <stddef.h>

/* Our end of one worker's channel. */
struct handover_channel {
	unsigned number;
	int worker;
	int fd;
	unsigned predecessor;  /* introduced to it, and not reaped yet; 0: none */
};

struct handover {
	struct handover_channel channels[CORE_RECORDS_MAX];
	int count;
};

/* Zero-valid after handover_init: no channel. */
void handover_init(struct handover *h);

/* A channel for worker `worker` of generation `number`, about to start:
 * *child_end is the end it gets at HANDOFF_CHANNEL_FD (ours to close once it is
 * started). Replaces that worker's previous channel, if any. Returns 0 or
 * -errno. */
int handover_open(struct handover *h, unsigned number, int worker, int *child_end);

/* Forgets the channels of workers the core no longer has, and the
 * predecessors they had that it no longer has. */
void handover_prune(struct handover *h, const struct core *c);

/* old is to drain and successor serves in its place: if both take live
 * connections, introduces them. Not while old's own predecessor lives: it
 * may still be passing old connections, and a generation takes or passes
 * on, not both. Returns 1 if it did, 0 if there was nothing to do, or
 * -errno with the reason in why (old then drains the classic way, ending
 * its connections itself). */
int handover_introduce(struct handover *h, const struct generation *old,
		       const struct generation *successor, char *why, size_t size);

/* Our end of that worker's channel, or -1: for `reload --self`. */
int handover_channel_fd(const struct handover *h, unsigned number, int worker);
/* Back in the new image: fd is our end of that worker's channel. */
int handover_restore(struct handover *h, unsigned number, int worker, int fd);

void handover_close(struct handover *h);

#endif
