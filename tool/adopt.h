/* adopt.h — the supervisor's side of adoption: servers that bind their own
 * ports, unmodified, static binaries too.
 *
 * Each generation runs under the filter of adopt_filter.h; its bind() and
 * listen() wait here. A bind() on an address we hold (adopt_match.h) gets
 * our listening socket at the very descriptor number it bound, and
 * returns 0; a listen() on one of our sockets returns 0 and leaves our
 * backlog alone (python's http.server asks for 5). Everything else goes on
 * as if we were not there. The supervisor stays out of the data path:
 * accept, read and write are never trapped.
 *
 * Each generation's sockets are its own where the kernel allows it, and
 * new clients go to the serving one's (steer.h).
 *
 * It also remembers what each generation did, for --ready=listen and for
 * the message when one does not become ready. */
#ifndef TOOL_ADOPT_H
#define TOOL_ADOPT_H

#include "adopt_match.h"
#include "core.h"
#include "log.h"
#include "steer.h"
#include "watch.h"

#include <stddef.h>
#include <stdint.h>

struct handoff;
struct adopt;

/* Every worker alive, and what the last few that ended did. */
#define ADOPT_RECORDS_MAX (CORE_RECORDS_MAX + 8)

/* One generation's filter (one worker's, with --workers). */
struct adopt_generation {
	struct adopt *owner;
	struct watch watch;          /* the filter's notification descriptor */
	unsigned number;
	int worker;
	uint64_t serial;             /* order of creation */
	unsigned char *listened;     /* per held listener: it listened on it
					(a datagram one: bound it) */
	size_t listened_count;
	unsigned adopted;            /* binds given one of our sockets */
	unsigned own_binds;          /* binds let through */
	char own_bind[96];           /* the last of them, as text */
	int hinted;                  /* "listens everywhere, no READY=1" said */
};

struct adopt {
	int epoll_fd;
	struct core *core;
	struct handoff *listeners;
	int ready_on_listen;         /* --ready=listen */
	struct adopt_held *held;
	size_t held_count;
	struct adopt_generation *gens[ADOPT_RECORDS_MAX]; /* live and retired */
	int count;
	uint64_t serial;
	void *request, *response;    /* sized as this kernel says */
	size_t request_size, response_size;
	struct log_limit limit;
	struct steer steer;          /* whose socket a bind() gets */
};

/* Zero-valid (off) after adopt_init. */
void adopt_init(struct adopt *a);
/* Turns adoption on for the listeners we hold, once it is known to work
 * here (adopt_filter_probe). Returns 0 or -errno with the reason in why. */
int adopt_open(struct adopt *a, struct core *core, struct handoff *listeners,
	       int ready_on_listen, char *why, size_t size);
int adopt_enabled(const struct adopt *a);
/* The loop whose epoll set the filters join (before adopt_watch). */
void adopt_attach(struct adopt *a, int epoll_fd);
/* Serves the filter of generation number's worker, whose notification
 * descriptor fd it takes over (closed when every process under the filter
 * is gone). */
int adopt_watch(struct adopt *a, unsigned number, int worker, int fd);
/* What that worker did, for a message: "it listened on ...; it bound ...
 * itself". Empty when there is nothing to say. */
void adopt_describe(const struct adopt *a, unsigned number, int worker, char *buf,
		    size_t size);
/* Across `reload --self` (selfstate.h): what a live worker's filter did,
 * and its descriptor (-1: none), into out (out->g.number and worker name it);
 * and back in the new image, where the filter is served again. */
struct self_generation;
void adopt_save(const struct adopt *a, struct self_generation *out);
int adopt_restore(struct adopt *a, const struct self_generation *in);
void adopt_close(struct adopt *a);

#endif
