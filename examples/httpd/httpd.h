/* httpd.h — the little the parts of httpd share (see main.c for the whole).
 *
 * Set once at start-up and never changed: the epoll descriptor and our
 * generation number. Refreshed once per loop iteration: now, so that every
 * timer set while handling one batch of events counts from the same
 * instant. Everything else is passed as a parameter or stays in its file. */
#ifndef HTTPD_H
#define HTTPD_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

/* Everything registered with epoll starts with this, so that one pointer in
 * epoll_data tells what woke us. */
enum source_kind { SOURCE_LISTENER, SOURCE_HANDOFF, SOURCE_CONN };
struct source {
	enum source_kind kind;
};

extern int epfd;
extern unsigned generation; /* 0 until handoff_new() */
extern int64_t now;         /* ms on CLOCK_MONOTONIC */

int64_t now_ms(void);

/* One line to stderr, "httpd[pid] gen N: " first, written at once. */
__attribute__((format(printf, 1, 2)))
void say(const char *fmt, ...);

static inline bool would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK;
}

#endif
