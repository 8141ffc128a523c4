/* steer.h — each adopting generation its own listening socket, and new
 * clients only to the serving generation's.
 *
 * With one socket shared by every generation, the one being replaced
 * accepts until it exits, and a server that exits with what it accepted
 * unanswered (python's http.server, redis) cuts those clients. So each
 * held TCP listener gets a few sockets of the same address, bound with
 * SO_REUSEPORT (one "slot" each; slot 0 is the held listener itself), and
 * a one-instruction classic BPF program (SO_ATTACH_REUSEPORT_CBPF) that
 * sends every new connection to the serving generation's slot. A replaced
 * generation then takes nothing new: the supervisor waits until its own
 * queue is empty and it holds no connection (quiet.h), and only then asks
 * it to drain.
 *
 * A program's answer is a place in the kernel's group, which is the order
 * in which the sockets listened; a socket that leaves the group moves the
 * last one into its place. So no slot socket is ever closed while the
 * supervisor runs: places stay what we recorded. Needs nothing but
 * sockets of our own uid (no CAP_BPF: classic BPF).
 *
 * A listener we bound heads its group from the start (SO_REUSEPORT set
 * before listen(), src/listener.c), so the program is there before any
 * slot joins. One passed to us (systemd) has no group until its first
 * slot listens: until the program is attached a moment later, the kernel
 * may hash a new connection to that slot, which the generation it was
 * made for accepts (or, if that one fails, the next one given the slot). A listener that is not
 * TCP, or that the kernel will not steer, is shared by every generation,
 * as without steering. */
#ifndef TOOL_STEER_H
#define TOOL_STEER_H

#include "core.h"

#include <stddef.h>
#include <stdint.h>

#define STEER_SLOTS 4 /* the held listener, and three of our own */

struct handoff;

struct steer_listener {
	int fd[STEER_SLOTS];      /* [0]: the held listener; -1: not made yet */
	int place[STEER_SLOTS];   /* its index in the SO_REUSEPORT group */
	int members;              /* sockets in the group */
	int programmed;           /* the group has our program */
	int shared;               /* not steered: every generation shares fd[0] */
};

struct steer {
	struct core *core;
	struct steer_listener *l; /* one per held listener */
	size_t count;
	uint16_t *ports;          /* the held TCP ports, for quiet.h */
	size_t port_count;
	unsigned owner[STEER_SLOTS]; /* the generation whose slot it is; 0: none */
	int steered;              /* the slot new clients go to */
	int said_full;
};

/* Zero-valid (off) after steer_init. */
void steer_init(struct steer *s);
/* For the listeners held: returns 0 or -ENOMEM. */
int steer_open(struct steer *s, struct core *core, struct handoff *listeners);
/* The socket that generation number gets when it binds listener i: its
 * slot's (made now if need be), or the held listener. */
int steer_socket(struct steer *s, unsigned number, size_t i);
/* Whether the socket of inode dev:ino is one of listener i's: the held
 * listener itself, or a slot's. */
int steer_owns(const struct steer *s, size_t i, uint64_t dev, uint64_t ino);
/* Whether generation number's socket for listener i is its own, shared
 * with no other generation. */
int steer_alone(const struct steer *s, unsigned number, size_t i);
/* Generation number serves now: new clients go to its slot. */
void steer_serving(struct steer *s, unsigned number);
/* Whether generation number has sockets of its own apart from those new
 * clients go to: then it can finish what it took while they do. */
int steer_apart(const struct steer *s, unsigned number);
/* A replaced generation (g): 1 if it has answered everything it took, 0
 * if not yet, -1 if that cannot be told (it is not apart, or its sockets
 * cannot be read). */
int steer_quiet(const struct steer *s, const struct generation *g);
void steer_close(struct steer *s);

/* Across `reload --self` (selfstate.h): the slots' descriptors, places
 * and owners, and back in the new image (whose listeners are open again;
 * the state was validated by selfstate.c, its descriptors checked by
 * selfexec.c). */
struct self_state;
void steer_save(const struct steer *s, struct self_state *st);
void steer_restore(struct steer *s, const struct self_state *st);

#endif
