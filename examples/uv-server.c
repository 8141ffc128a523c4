/* uv-server [--listen ADDR] [--pidfile FILE] [--grace MS] — handoff in a
 * libuv loop (docs/event-loops.md). HTTP/1.1 with keep-alive (default
 * 127.0.0.1:7002): every request is answered "generation=N pid=P".
 * SIGHUP upgrades, SIGTERM stops; both end in the same drain: stop
 * accepting, answer every request still coming with "Connection: close",
 * give idle keep-alive connections a grace (1000 ms) for a request already
 * on its way, end every connection with a lingering close, exit by 10 s.
 *
 * The listener is the library's: libuv gets an F_DUPFD_CLOEXEC copy, since
 * uv_close() closes what uv_tcp_open() was given, and uv_listen() is given
 * the backlog the socket already has, since it calls listen() again on the
 * queue every generation shares. The library's event descriptor is watched
 * with uv_poll, which never closes its descriptor. libuv's errors are
 * negative errno values on Linux, like the library's. */
#include "handoff.h"
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

enum { REQUEST_MAX = 8192, LINGER_MS = 5000, DEADLINE_MS = 10000, TICK_MS = 100 };
struct conn {
	uv_tcp_t tcp;              /* first: the handle is the connection */
	struct conn *prev, *next;  /* every connection, for the drain */
	bool closing;              /* our FIN is sent or queued: reading to EOF */
	uint64_t linger_end;
	size_t len;                /* bytes of a request not answered yet */
	char in[REQUEST_MAX + 1];
};
struct reply {
	uv_write_t req;            /* first: the request is the reply */
	char text[256];
};
static struct handoff *h;
static uv_loop_t *loop;
static uv_tcp_t server;
static uv_poll_t events;
static uv_timer_t tick;
static struct conn *conns;
static int count, grace_ms = 1000;
static bool draining;
static uint64_t drain_start;

/* What handoff_listener_dup() would be: a copy of listener index for a
 * loop that closes what it is given. Not dup(): a copy without
 * close-on-exec is inherited by every program this process execs, the
 * next generation included. Above 2, like every descriptor of the library. */
static int listener_dup(const struct handoff *hh, size_t index)
{
	int fd = handoff_listener_fd(hh, index);
	int copy = fd < 0 ? fd : fcntl(fd, F_DUPFD_CLOEXEC, 3);
	return copy < 0 && fd >= 0 ? -errno : copy;
}

/* listen() on a listening socket only sets its backlog, which all the
 * generations share: ask for the one it has (a TCP listener reports it as
 * tcpi_sacked), never libuv's usual 511 nor a smaller number. */
static int backlog_of(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof ti;
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 ||
	    ti.tcpi_state != TCP_LISTEN)
		return SOMAXCONN;
	return (int)ti.tcpi_sacked;
}

static void on_closed(uv_handle_t *handle)
{
	struct conn *c = (struct conn *)handle;
	*(c->prev ? &c->prev->next : &conns) = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c);
	if (--count == 0 && draining)
		uv_stop(loop); /* the last connection of a draining generation */
}

static void conn_close(struct conn *c)
{
	c->closing = true;
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	if (status < 0 && status != UV_ECANCELED)
		conn_close(req->data);
	free(req);
}

/* uv_shutdown() sends our FIN after the queued replies; reading on to the
 * client's EOF means close() never finds unread input, which would make
 * the kernel send a reset that can destroy the last reply. */
static void linger(struct conn *c)
{
	uv_shutdown_t *req = malloc(sizeof *req);
	c->closing = true;
	c->linger_end = uv_now(loop) + LINGER_MS;
	if (req)
		req->data = c;
	if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
		free(req);
		conn_close(c);
	}
}

static void on_written(uv_write_t *req, int status)
{
	(void)status; /* a failed write shows as a read error too */
	free(req);
}

static void respond(struct conn *c, bool close)
{
	struct reply *r = malloc(sizeof *r);
	char body[64];
	int blen = snprintf(body, sizeof body, "generation=%u pid=%d\n",
			    handoff_generation(h), (int)getpid());
	int n = r ? snprintf(r->text, sizeof r->text, "HTTP/1.1 200 OK\r\n"
			     "Content-Type: text/plain\r\nContent-Length: %d\r\n"
			     "Connection: %s\r\n\r\n%s", blen,
			     close ? "close" : "keep-alive", body) : 0;
	uv_buf_t buf = uv_buf_init(r ? r->text : NULL, (unsigned)n);
	if (!r || uv_write(&r->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written) < 0) {
		free(r);
		conn_close(c);
	}
}

static void on_alloc(uv_handle_t *handle, size_t hint, uv_buf_t *buf)
{
	static char discard[4096]; /* what a lingering client still sends */
	struct conn *c = (struct conn *)handle;
	(void)hint;
	*buf = c->closing ? uv_buf_init(discard, sizeof discard)
		: uv_buf_init(c->in + c->len, (unsigned)(REQUEST_MAX - c->len));
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
	struct conn *c = (struct conn *)stream;
	char *end;
	(void)buf;
	if (n < 0) /* EOF or error; for a lingering client, the clean end */
		conn_close(c);
	if (n <= 0 || c->closing)
		return;
	c->len += (size_t)n;
	/* One head at a time, pipelined ones in order; GET has no body. */
	while (!c->closing && (end = memmem(c->in, c->len, "\r\n\r\n", 4))) {
		size_t k = (size_t)(end + 4 - c->in);
		end[2] = '\0'; /* the head as a string; the rest moves over it */
		bool close = draining || strcasestr(c->in, "\nConnection: close") ||
			     !strstr(c->in, " HTTP/1.1\r\n");
		respond(c, close);
		memmove(c->in, c->in + k, c->len - k);
		c->len -= k;
		if (close && !c->closing)
			linger(c);
	}
	if (c->len == REQUEST_MAX)
		conn_close(c); /* a head too large to answer */
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct conn *c = status < 0 ? NULL : calloc(1, sizeof *c);
	if (!c || uv_tcp_init(loop, &c->tcp) < 0)
		abort(); /* out of memory; libuv stops accepting if we do not */
	if ((c->next = conns))
		conns->prev = c;
	conns = c;
	count++;
	/* EAGAIN never gets here: libuv swallows it (another generation
	 * may have taken the client). */
	if (uv_accept(listener, (uv_stream_t *)&c->tcp) < 0 ||
	    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) < 0)
		conn_close(c);
}

/* The lingering closes' limit, the drain's grace and its deadline. */
static void on_tick(uv_timer_t *timer)
{
	uint64_t now = uv_now(timer->loop);
	for (struct conn *c = conns; c; c = c->next)
		if (c->closing ? now >= c->linger_end
		    : draining && c->len == 0 && now >= drain_start + (uint64_t)grace_ms)
			c->closing ? conn_close(c) : linger(c);
	if (draining && now >= drain_start + DEADLINE_MS)
		uv_stop(loop);
}

static void drain_begin(void)
{
	if (draining)
		return;
	draining = true;
	drain_start = uv_now(loop);
	uv_close((uv_handle_t *)&server, NULL); /* our copy of the listener */
	handoff_close_listeners(h);             /* the library's: the successor accepts */
	fprintf(stderr, "uv-server[%d]: draining, %d connections\n", (int)getpid(), count);
	if (count == 0)
		uv_stop(loop);
}

static void on_event(uv_poll_t *poll, int status, int revents)
{
	struct handoff_event ev;
	char text[256];
	(void)poll, (void)status, (void)revents;
	while (handoff_next(h, &ev) > 0) {
		fprintf(stderr, "uv-server[%d]: %s\n", (int)getpid(),
			handoff_event_describe(&ev, text, sizeof text));
		if (ev.type == HANDOFF_EVENT_DRAIN || ev.type == HANDOFF_EVENT_STOP)
			drain_begin();
		else if (ev.type == HANDOFF_EVENT_STOP_NOW)
			uv_stop(loop);
	}
}

int main(int argc, char *argv[])
{
	const char *address = "127.0.0.1:7002", *pidfile = NULL;
	for (int i = 1; i + 1 < argc; i += 2) /* a deliberately lax parser */
		if (!strcmp(argv[i], "--pidfile"))
			pidfile = argv[i + 1];
		else if (!strcmp(argv[i], "--grace"))
			grace_ms = atoi(argv[i + 1]);
		else
			address = argv[i + 1]; /* --listen */
	struct handoff_config config = { .size = sizeof config, .pidfile = pidfile,
					 .flags = HANDOFF_SIGNALS }; /* HUP, TERM... */
	int err = handoff_new(&h, &config, argc, argv);
	err = err < 0 ? err : handoff_listen(h, NULL, address);
	int copy = err < 0 ? err : listener_dup(h, 0);
	loop = uv_default_loop();
	err = copy < 0 ? copy : uv_tcp_init(loop, &server);
	err = err < 0 ? err : uv_tcp_open(&server, copy);
	err = err < 0 ? err : uv_listen((uv_stream_t *)&server, backlog_of(copy),
					on_connection);
	err = err < 0 ? err : uv_poll_init(loop, &events, handoff_fd(h));
	err = err < 0 ? err : uv_poll_start(&events, UV_READABLE, on_event);
	err = err < 0 ? err : uv_timer_init(loop, &tick);
	err = err < 0 ? err : uv_timer_start(&tick, on_tick, TICK_MS, TICK_MS);
	err = err < 0 ? err : handoff_ready(h); /* the parent drains now */
	if (err < 0) {
		fprintf(stderr, "uv-server: cannot serve on %s: %s\n", address, strerror(-err));
		return 1;
	}
	fprintf(stderr, "uv-server[%d]: generation %u ready on %s\n", (int)getpid(),
		handoff_generation(h), address);
	uv_run(loop, UV_RUN_DEFAULT);
	fprintf(stderr, "uv-server[%d]: exiting, %d connections left\n", (int)getpid(), count);
	uv_poll_stop(&events); /* handoff_free() closes its descriptor */
	handoff_free(h);
	return 0;
}
