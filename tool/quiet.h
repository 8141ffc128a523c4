/* quiet.h — whether a generation that no longer gets new clients has
 * answered everything it took: nothing waits in its own accept queue, and
 * no process of its group holds a connection on a port we listen on.
 *
 * The supervisor asks before it sends the stop signal to a generation
 * whose listening sockets were its own (steer.h): a server that exits
 * with accepted connections unanswered (python's http.server, redis) then
 * exits with none. Read from what any process may read of its own
 * children: TCP_INFO of our sockets, the kernel's TCP table (sock_diag),
 * and /proc/PID/fd of the group's processes. */
#ifndef TOOL_QUIET_H
#define TOOL_QUIET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Connections that finished their handshake on listening socket fd and
 * wait for accept(): 0 or more, or -errno. */
int quiet_queue_length(int fd);

/* Whether a process of group holds an established (or half-closed by the
 * client) TCP connection whose local port is one of ports, or a handshake
 * to one of them is half done (it may land in a queue we just stopped
 * filling): 1, 0, or -errno if we cannot tell. */
int quiet_group_busy(pid_t group, const uint16_t *ports, size_t count);

#endif
