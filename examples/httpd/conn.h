/* conn.h — httpd's client connections: accepted sockets until closed.
 *
 * A connection reads a request head, discards its body, waits if asked to
 * (/sleep), writes the response, and either goes back to reading or ends
 * with a lingering close; or it switches for good to a stream of events
 * (/stream) or to WebSocket frames (/ws). The drain changes only how they
 * end: see conns_drain(). */
#ifndef HTTPD_CONN_H
#define HTTPD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Starts with a struct source of kind SOURCE_CONN. */
struct conn;

/* Takes fd (non-blocking, just accepted) into the epoll set. Returns false,
 * fd closed, when out of memory. */
bool conn_new(int fd, bool tcp);
/* What epoll reported for c; c may be freed on return. */
void conn_event(struct conn *c, uint32_t events);
/* Runs the timers that are due at now. */
void conns_run_timers(void);
/* The next timer's deadline, or INT64_MAX. */
int64_t conns_next_timer(void);
size_t conns_count(void);

struct handoff;

/* With successor NULL (no successor, or one that takes no connections):
 * from now on every answer says "Connection: close", an idle connection
 * may send one more request within idle_grace_ms, a stream sends its last
 * chunk, a WebSocket close 1001, and no lingering close lasts past
 * deadline. With a successor: each connection moves to it as soon as it is
 * between two requests, two events or two frames (handoff_pass), with its
 * state; one that comes back drains the first way. */
void conns_drain(int64_t deadline, int idle_grace_ms, struct handoff *successor);
/* HANDOFF_EVENT_PASSED: closes our copies of the connections taken; those
 * that came back drain here. */
void conns_passed(struct handoff *h);
/* HANDOFF_EVENT_CONNECTIONS: takes the previous generation's connections
 * into the epoll set, with the bytes it had read and their state. */
void conns_receive(struct handoff *h);
/* The drain's deadline: closes every connection as it stands. */
void conns_close_all(void);

#endif
