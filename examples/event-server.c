/* event-server [--listen ADDR] [--pidfile FILE] [--grace MS] — handoff in
 * a libevent loop (docs/event-loops.md). HTTP/1.1 with keep-alive (default
 * 127.0.0.1:7003): every request is answered "generation=N pid=P".
 * SIGHUP upgrades, SIGTERM stops; both end in the same drain: stop
 * accepting, answer every request still coming with "Connection: close",
 * give idle keep-alive connections a grace (1000 ms) for a request already
 * on its way, end every connection with a lingering close, exit by 10 s.
 *
 * The listener is the library's and libevent gets it as it is: without
 * LEV_OPT_CLOSE_ON_FREE, evconnlistener_free() leaves it open for
 * handoff_close_listeners(); with backlog 0, libevent does not call
 * listen() again (-1 would set 128 on the queue every generation shares).
 * LEV_OPT_CLOSE_ON_EXEC makes the accepted sockets close-on-exec. The
 * library's event descriptor is watched by a plain event, which never
 * closes its descriptor. */
#include "handoff.h"
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { REQUEST_MAX = 8192, LINGER_MS = 5000, DEADLINE_MS = 10000, TICK_MS = 100 };
struct conn {
	struct bufferevent *bev;
	struct conn *prev, *next;  /* every connection, for the drain */
	bool closing;              /* our FIN is sent or queued: reading to EOF */
	long linger_end;
};
static struct handoff *h;
static struct event_base *base;
static struct evconnlistener *listener;
static struct conn *conns;
static int count, grace_ms = 1000;
static bool draining;
static long drain_start;

static long now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000L + t.tv_nsec / 1000000;
}

static void conn_free(struct conn *c)
{
	*(c->prev ? &c->prev->next : &conns) = c->next;
	if (c->next)
		c->next->prev = c->prev;
	bufferevent_free(c->bev); /* closes the client's socket (CLOSE_ON_FREE) */
	free(c);
	if (--count == 0 && draining)
		event_base_loopbreak(base); /* the last connection of a draining generation */
}

/* Our FIN goes once the replies are written (on_written); reading on to
 * the client's EOF means close() never finds unread input, which would
 * make the kernel send a reset that can destroy the last reply. Returns
 * false if c is gone. */
static bool linger(struct conn *c)
{
	c->closing = true;
	c->linger_end = now_ms() + LINGER_MS;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0 &&
	    shutdown(bufferevent_getfd(c->bev), SHUT_WR) < 0) {
		conn_free(c);
		return false;
	}
	return true;
}

/* Called when the output is empty (the write low-water mark is 0). */
static void on_written(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	if (c->closing && shutdown(bufferevent_getfd(bev), SHUT_WR) < 0)
		conn_free(c);
}

static void respond(struct conn *c, bool close)
{
	char body[64];
	int blen = snprintf(body, sizeof body, "generation=%u pid=%d\n",
			    handoff_generation(h), (int)getpid());
	evbuffer_add_printf(bufferevent_get_output(c->bev), "HTTP/1.1 200 OK\r\n"
			    "Content-Type: text/plain\r\nContent-Length: %d\r\n"
			    "Connection: %s\r\n\r\n%s", blen,
			    close ? "close" : "keep-alive", body);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char head[REQUEST_MAX + 1];
	struct evbuffer_ptr end;
	if (c->closing) { /* what a lingering client still sends */
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	/* One head at a time, pipelined ones in order; GET has no body. */
	while (!c->closing && (end = evbuffer_search(in, "\r\n\r\n", 4, NULL)).pos >= 0) {
		size_t k = (size_t)end.pos + 4;
		if (k > REQUEST_MAX)
			break;
		evbuffer_remove(in, head, k);
		head[k - 2] = '\0'; /* the head as a string */
		bool close = draining || strcasestr(head, "\nConnection: close") ||
			     !strstr(head, " HTTP/1.1\r\n");
		respond(c, close);
		if (close && !linger(c))
			return;
	}
	if (!c->closing && evbuffer_get_length(in) >= REQUEST_MAX)
		conn_free(c); /* a head too large to answer */
}

/* EOF or error; for a lingering client, the clean end. */
static void on_error(struct bufferevent *bev, short what, void *arg)
{
	(void)bev, (void)what;
	conn_free(arg);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int socklen, void *arg)
{
	struct conn *c = calloc(1, sizeof *c);
	(void)l, (void)sa, (void)socklen, (void)arg;
	if (!c || !(c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE)))
		abort(); /* out of memory */
	if ((c->next = conns))
		conns->prev = c;
	conns = c;
	count++;
	bufferevent_setcb(c->bev, on_read, on_written, on_error, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* The lingering closes' limit, the drain's grace and its deadline. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	long now = now_ms();
	(void)fd, (void)what, (void)arg;
	for (struct conn *c = conns, *next; c; c = next) {
		next = c->next; /* c may be freed here */
		bool idle = evbuffer_get_length(bufferevent_get_input(c->bev)) == 0;
		if (c->closing ? now >= c->linger_end
		    : draining && idle && now >= drain_start + grace_ms)
			c->closing ? conn_free(c) : (void)linger(c);
	}
	if (draining && now >= drain_start + DEADLINE_MS)
		event_base_loopbreak(base);
}

static void drain_begin(void)
{
	if (draining)
		return;
	draining = true;
	drain_start = now_ms();
	evconnlistener_free(listener); /* stops accepting; leaves the fd open */
	handoff_close_listeners(h);    /* the successor accepts from now on */
	fprintf(stderr, "event-server[%d]: draining, %d connections\n", (int)getpid(), count);
	if (count == 0)
		event_base_loopbreak(base);
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
	struct handoff_event ev;
	char text[256];
	(void)fd, (void)what, (void)arg;
	while (handoff_next(h, &ev) > 0) {
		fprintf(stderr, "event-server[%d]: %s\n", (int)getpid(),
			handoff_event_describe(&ev, text, sizeof text));
		if (ev.type == HANDOFF_EVENT_DRAIN || ev.type == HANDOFF_EVENT_STOP)
			drain_begin();
		else if (ev.type == HANDOFF_EVENT_STOP_NOW)
			event_base_loopbreak(base);
	}
}

int main(int argc, char *argv[])
{
	const char *address = "127.0.0.1:7003", *pidfile = NULL;
	for (int i = 1; i + 1 < argc; i += 2) /* a deliberately lax parser */
		if (!strcmp(argv[i], "--pidfile"))
			pidfile = argv[i + 1];
		else if (!strcmp(argv[i], "--grace"))
			grace_ms = atoi(argv[i + 1]);
		else
			address = argv[i + 1]; /* --listen */
	struct handoff_config config = { .size = sizeof config, .pidfile = pidfile,
					 .flags = HANDOFF_SIGNALS }; /* HUP, TERM... */
	struct event *events = NULL, *tick = NULL;
	int err = handoff_new(&h, &config, argc, argv);
	int fd = err < 0 ? err : handoff_listen(h, NULL, address);
	err = fd < 0 ? fd : (base = event_base_new()) ? 0 : -ENOMEM;
	if (!err && !(listener = evconnlistener_new(base, on_accept, NULL,
						    LEV_OPT_CLOSE_ON_EXEC, 0, fd)))
		err = -errno;
	if (!err && (!(events = event_new(base, handoff_fd(h), EV_READ | EV_PERSIST,
					  on_event, NULL)) || event_add(events, NULL) < 0))
		err = -ENOMEM;
	if (!err && (!(tick = event_new(base, -1, EV_PERSIST, on_tick, NULL)) ||
		     event_add(tick, &(struct timeval){ .tv_usec = TICK_MS * 1000 }) < 0))
		err = -ENOMEM;
	err = err < 0 ? err : handoff_ready(h); /* the parent drains now */
	if (err < 0) {
		fprintf(stderr, "event-server: cannot serve on %s: %s\n", address, strerror(-err));
		return 1;
	}
	fprintf(stderr, "event-server[%d]: generation %u ready on %s\n", (int)getpid(),
		handoff_generation(h), address);
	event_base_dispatch(base);
	fprintf(stderr, "event-server[%d]: exiting, %d connections left\n", (int)getpid(), count);
	event_free(events); /* handoff_free() closes its descriptor */
	handoff_free(h);
	return 0;
}
