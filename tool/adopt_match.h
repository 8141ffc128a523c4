/* adopt_match.h — which of the listeners we hold a server's bind() takes.
 *
 * The rules (docs/servers.md says them to users):
 * - family, socket type and protocol must be the same: an IPv6 socket is
 *   never given an IPv4 listener, nor a datagram socket a stream one;
 * - the port (or the Unix path, or the abstract name) must be the same;
 * - the address: the same one, or a wildcard on either side (0.0.0.0 or
 *   ::) when that leaves exactly one held listener. A server that binds
 *   0.0.0.0:8080 under `--listen 127.0.0.1:8080` gets the loopback
 *   listener: what is exposed is what the operator asked for with --listen;
 * - port 0 and unnamed Unix sockets (autobind) always pass through. */
#ifndef TOOL_ADOPT_MATCH_H
#define TOOL_ADOPT_MATCH_H

#include "handoff.h"

#include <stddef.h>

/* One listener we hold, described once. */
struct adopt_held {
	struct handoff_address address;
	int protocol;                   /* SO_PROTOCOL */
};

enum {
	ADOPT_PASS = -1,  /* never adopted: port 0, autobind, another family */
	ADOPT_NONE = -2,  /* adoptable, but we hold nothing that matches */
};

/* The index of the held listener that a bind of sa (len bytes, as the
 * program passed them) on a socket of domain, type and protocol takes, or
 * ADOPT_PASS or ADOPT_NONE. With ADOPT_NONE, *near is a held listener on
 * the same port or path that did not match (to tell the user why), or -1.
 * Reads only len bytes of sa. */
int adopt_match(const struct adopt_held *held, size_t count, int domain, int type,
		int protocol, const void *sa, size_t len, int *near);

#endif
