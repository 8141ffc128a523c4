/* httpd — an HTTP/1.1 server that upgrades itself without failing a request.
 *
 *   httpd [--listen [NAME=]ADDR]... [--pidfile FILE] [--drain-timeout MS]
 *         [--ready-timeout MS] [--idle-grace MS]
 *
 * GET / answers "generation=N pid=P"; GET /sleep?ms=N answers the same
 * after N ms. SIGHUP starts the next generation; SIGTERM stops gracefully.
 *
 * The point of this file is the drain (LESSONS.md 14 and 15). When told to
 * drain, the generation stops accepting at once, but closes no connection
 * blind: every request in flight is completed and answered with
 * "Connection: close"; an idle keep-alive connection gets a short grace in
 * which a request that was already on its way is still answered; and every
 * connection ends with a lingering close (shutdown, read to EOF, close), so
 * that unread input never turns the last response into a reset. A deadline
 * bounds all of it.
 *
 * One thread, level-triggered epoll, one timer heap. */
#include "handoff.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
	REQUEST_MAX = 8192,     /* request line and headers */
	RESPONSE_MAX = 512,
	LISTEN_MAX = 64,
	SLEEP_MAX_MS = 60000,
	LINGER_MS = 5000,       /* lingering close outside a drain */
	ACCEPT_PAUSE_MS = 100,  /* after EMFILE and the like */
	EVENTS_MAX = 256,
	LOG_MAX = 4096,         /* PIPE_BUF: one write stays one line */
};

#define NOT_QUEUED SIZE_MAX

/* ------------------------------------------------------------ options */

static struct {
	const char *listen[LISTEN_MAX];
	size_t listen_count;
	const char *pidfile;
	int drain_timeout_ms, ready_timeout_ms, idle_grace_ms;
} opt = { .drain_timeout_ms = 10000, .ready_timeout_ms = 60000,
	  .idle_grace_ms = 1000 };

/* ------------------------------------------------------------ state */

/* Everything registered with epoll starts with this, so that one pointer in
 * epoll_data tells what woke us. */
enum source_kind { SOURCE_LISTENER, SOURCE_HANDOFF, SOURCE_CONN };
struct source {
	enum source_kind kind;
};

struct listener {
	struct source source;
	int fd;          /* -1 once closed */
	bool tcp;
	bool blocking;   /* inherited in blocking mode (see accept_all) */
};

enum conn_state {
	CONN_READ,       /* waiting for a request head; idle if in_len == 0 */
	CONN_BODY,       /* discarding a request body */
	CONN_SLEEP,      /* /sleep: waiting for the timer */
	CONN_WRITE,      /* sending the response */
	CONN_LINGER,     /* write side shut: reading to EOF before close */
};

struct conn {
	struct source source;
	int fd;
	bool tcp;
	enum conn_state state;
	uint32_t events;           /* what epoll watches now */
	struct conn *prev, *next;  /* every connection, for the drain */
	size_t heap_index;         /* in the timer heap, or NOT_QUEUED */
	int64_t deadline;          /* ms on CLOCK_MONOTONIC */
	char *in;                  /* REQUEST_MAX bytes; NULL while idle */
	size_t in_len, scanned;    /* scanned: where to resume the head search */
	uint64_t skip;             /* request body bytes still to discard */
	/* the request being answered */
	int status;
	unsigned sleep_ms;
	bool head_only, close_after;
	char out[RESPONSE_MAX];
	size_t out_len, out_off;
};

static struct handoff *h;
static unsigned generation;
static int epfd = -1;
static struct source handoff_source = { SOURCE_HANDOFF };
static struct listener listeners[LISTEN_MAX];
static size_t listener_count;
static bool accept_paused;
static int64_t accept_resume;
static struct conn *conns;
static size_t conn_count;
static struct conn **heap;  /* min-heap on deadline; one slot per conn */
static size_t heap_len, heap_cap;
static bool draining;
static int64_t drain_start, drain_deadline;
static int64_t now;         /* refreshed once per loop iteration */
static char scratch[65536]; /* bytes we read only to throw away */

/* ------------------------------------------------------------ utilities */

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Several generations append to one log file and tests parse it: each line
 * is built first and written with a single write(). Before handoff_new()
 * the generation is not known yet and shows as 0. */
__attribute__((format(printf, 1, 2)))
static void say(const char *fmt, ...)
{
	char line[LOG_MAX];
	size_t room = sizeof line - 1; /* keep a byte for the newline */
	int n = snprintf(line, room, "httpd[%d] gen %u: ", (int)getpid(),
			 generation);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, room - (size_t)n, fmt, ap);
	va_end(ap);
	size_t len = strlen(line);
	line[len++] = '\n';
	while (write(STDERR_FILENO, line, len) < 0 && errno == EINTR) {}
}

static ssize_t recv_retry(int fd, void *buf, size_t size)
{
	ssize_t n;
	do
		n = recv(fd, buf, size, 0);
	while (n < 0 && errno == EINTR);
	return n;
}

static bool would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK;
}

/* ------------------------------------------------------------ timer heap */

static bool heap_before(size_t a, size_t b)
{
	return heap[a]->deadline < heap[b]->deadline;
}

static void heap_swap(size_t a, size_t b)
{
	struct conn *t = heap[a];
	heap[a] = heap[b];
	heap[b] = t;
	heap[a]->heap_index = a;
	heap[b]->heap_index = b;
}

static void heap_up(size_t i)
{
	while (i > 0 && heap_before(i, (i - 1) / 2)) {
		heap_swap(i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_down(size_t i)
{
	for (;;) {
		size_t least = i, l = 2 * i + 1, r = l + 1;
		if (l < heap_len && heap_before(l, least))
			least = l;
		if (r < heap_len && heap_before(r, least))
			least = r;
		if (least == i)
			return;
		heap_swap(i, least);
		i = least;
	}
}

static void timer_clear(struct conn *c)
{
	size_t i = c->heap_index;
	if (i == NOT_QUEUED)
		return;
	c->heap_index = NOT_QUEUED;
	struct conn *last = heap[--heap_len];
	if (i == heap_len)
		return;
	heap[i] = last;
	last->heap_index = i;
	heap_up(i);
	heap_down(i);
}

/* Cannot fail: conn_new() reserved a slot for every connection. */
static void timer_set(struct conn *c, int64_t when)
{
	timer_clear(c);
	c->deadline = when;
	c->heap_index = heap_len;
	heap[heap_len++] = c;
	heap_up(c->heap_index);
}

static bool heap_reserve(size_t n)
{
	if (n <= heap_cap)
		return true;
	size_t cap = heap_cap ? heap_cap * 2 : 1024;
	struct conn **p = realloc(heap, cap * sizeof *p);
	if (!p)
		return false;
	heap = p;
	heap_cap = cap;
	return true;
}

/* ------------------------------------------------------------ connections */

static void conn_watch(struct conn *c, uint32_t events)
{
	if (c->events == events)
		return;
	struct epoll_event ev = { .events = events, .data.ptr = &c->source };
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->events = events;
	else
		say("epoll_ctl: %s", strerror(errno));
}

static bool conn_new(int fd, bool tcp)
{
	struct conn *c = calloc(1, sizeof *c);
	struct epoll_event ev = { .events = EPOLLIN };
	if (!c || !heap_reserve(conn_count + 1))
		goto fail;
	ev.data.ptr = &c->source;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		goto fail;
	*c = (struct conn){ .source = { SOURCE_CONN }, .fd = fd, .tcp = tcp,
			    .events = EPOLLIN, .heap_index = NOT_QUEUED,
			    .next = conns };
	if (conns)
		conns->prev = c;
	conns = c;
	conn_count++;
	if (tcp) /* pipelined responses must not wait for a delayed ACK */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	return true;
fail:
	close(fd);
	free(c);
	return false;
}

static void conn_close(struct conn *c)
{
	timer_clear(c);
	/* Deregister explicitly: epoll forgets a socket only when its last
	 * copy closes, and a child forked for an upgrade holds copies of all
	 * our descriptors until it execs. */
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	conn_count--;
	free(c->in);
	free(c);
}

static void conn_consume(struct conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
	c->scanned = 0;
}

/* ------------------------------------------------------------ parsing */

struct span {
	const char *p;
	size_t n;
};

struct request {
	int status;                  /* 0 while nothing is wrong */
	bool http11, head_only;
	bool conn_close, conn_keep;  /* tokens of the Connection header */
	bool has_length;
	uint64_t length;
	unsigned sleep_ms;
	struct span method, target;
};

static bool span_is(struct span s, const char *text)
{
	return s.n == strlen(text) && memcmp(s.p, text, s.n) == 0;
}

static bool span_is_nocase(struct span s, const char *text)
{
	return s.n == strlen(text) && strncasecmp(s.p, text, s.n) == 0;
}

static struct span span_trim(struct span s)
{
	while (s.n && (s.p[0] == ' ' || s.p[0] == '\t'))
		s.p++, s.n--;
	while (s.n && (s.p[s.n - 1] == ' ' || s.p[s.n - 1] == '\t'))
		s.n--;
	return s;
}

/* Splits s at the first sep: *head gets what precedes it, s what follows. */
static bool span_cut(struct span *s, char sep, struct span *head)
{
	const char *at = memchr(s->p, sep, s->n);
	if (!at)
		return false;
	*head = (struct span){ s->p, (size_t)(at - s->p) };
	s->n -= (size_t)(at - s->p) + 1;
	s->p = at + 1;
	return true;
}

static bool span_has_control(struct span s)
{
	for (size_t i = 0; i < s.n; i++) {
		unsigned char ch = (unsigned char)s.p[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return true;
	}
	return false;
}

/* Returns the value of 1 to max_digits decimal digits, or -1. */
static int64_t span_number(struct span s, size_t max_digits)
{
	int64_t v = 0;
	if (s.n == 0 || s.n > max_digits)
		return -1;
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -1;
		v = v * 10 + (s.p[i] - '0');
	}
	return v;
}

/* Returns the line starting at *p, without its CR LF, and moves *p on. The
 * caller knows a '\n' follows before end. */
static struct span next_line(const char **p, const char *end)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	struct span line = { *p, (size_t)(nl - *p) };
	if (line.n && line.p[line.n - 1] == '\r')
		line.n--;
	*p = nl + 1;
	return line;
}

static void parse_request_line(struct request *r, struct span line)
{
	struct span version = line;
	if (span_has_control(line) || !span_cut(&version, ' ', &r->method) ||
	    !span_cut(&version, ' ', &r->target) || !r->method.n ||
	    !r->target.n) {
		r->status = 400;
		return;
	}
	r->http11 = span_is(version, "HTTP/1.1");
	if (r->http11 || span_is(version, "HTTP/1.0"))
		return;
	bool looks_like_http = version.n == 8 && memcmp(version.p, "HTTP/", 5) == 0;
	r->status = looks_like_http ? 505 : 400;
}

static void parse_connection(struct request *r, struct span value)
{
	struct span token, rest = value;
	bool more = true;
	while (more) {
		more = span_cut(&rest, ',', &token);
		if (!more)
			token = rest;
		token = span_trim(token);
		if (span_is_nocase(token, "close"))
			r->conn_close = true;
		else if (span_is_nocase(token, "keep-alive"))
			r->conn_keep = true;
	}
}

static void parse_content_length(struct request *r, struct span value)
{
	int64_t v = span_number(value, 15);
	/* Two different lengths are how requests get smuggled. */
	if (v < 0 || (r->has_length && r->length != (uint64_t)v)) {
		r->status = 400;
		return;
	}
	r->has_length = true;
	r->length = (uint64_t)v;
}

static void parse_header(struct request *r, struct span line)
{
	struct span name, value = line;
	if (span_has_control(line) || !span_cut(&value, ':', &name) ||
	    !name.n || line.p[0] == ' ' || line.p[0] == '\t' ||
	    name.p[name.n - 1] == ' ' || name.p[name.n - 1] == '\t') {
		r->status = 400; /* also obsolete line folding */
		return;
	}
	value = span_trim(value);
	if (span_is_nocase(name, "content-length"))
		parse_content_length(r, value);
	else if (span_is_nocase(name, "transfer-encoding"))
		r->status = 501; /* no chunked bodies: we could not skip them */
	else if (span_is_nocase(name, "connection"))
		parse_connection(r, value);
}

static int route_sleep(struct request *r, struct span query)
{
	int64_t ms = -1;
	if (query.n > 3 && memcmp(query.p, "ms=", 3) == 0)
		ms = span_number((struct span){ query.p + 3, query.n - 3 }, 5);
	if (ms < 0 || ms > SLEEP_MAX_MS)
		return 400;
	r->sleep_ms = (unsigned)ms;
	return 200;
}

static void route(struct request *r)
{
	struct span query = r->target, path;
	r->head_only = span_is(r->method, "HEAD");
	if (!r->head_only && !span_is(r->method, "GET")) {
		r->status = 405;
		return;
	}
	if (!span_cut(&query, '?', &path)) {
		path = r->target;
		query = (struct span){ "", 0 };
	}
	if (span_is(path, "/"))
		r->status = 200;
	else if (span_is(path, "/sleep"))
		r->status = route_sleep(r, query);
	else
		r->status = 404;
}

/* Parses the head in c->in[0, end) into the request c will answer. */
static void conn_parse(struct conn *c, size_t end)
{
	struct request r = { 0 };
	const char *p = c->in, *stop = c->in + end;
	parse_request_line(&r, next_line(&p, stop));
	while (!r.status && p < stop) {
		struct span line = next_line(&p, stop);
		if (line.n == 0)
			break;
		parse_header(&r, line);
	}
	if (!r.status)
		route(&r);
	/* After 400, 501 or 505 the framing cannot be trusted: close. */
	bool framed = r.status == 200 || r.status == 404 || r.status == 405;
	bool keep = r.http11 ? !r.conn_close : r.conn_keep && !r.conn_close;
	c->status = r.status;
	c->sleep_ms = r.sleep_ms;
	c->head_only = r.head_only;
	c->close_after = !framed || !keep;
	c->skip = framed && r.has_length ? r.length : 0;
}

/* Returns the length of the head (up to its blank line), 0 if incomplete. */
static size_t head_length(struct conn *c)
{
	for (size_t i = c->scanned; i < c->in_len; i++) {
		if (c->in[i] != '\n')
			continue;
		if (i + 1 < c->in_len && c->in[i + 1] == '\n')
			return i + 2;
		if (i + 2 < c->in_len && c->in[i + 1] == '\r' && c->in[i + 2] == '\n')
			return i + 3;
	}
	/* A client sending a byte at a time must not cost O(n^2). */
	c->scanned = c->in_len > 2 ? c->in_len - 2 : 0;
	return 0;
}

/* ------------------------------------------------------------ responses */

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 501: return "Not Implemented";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

static void render(struct conn *c)
{
	char body[128];
	int body_len = c->status == 200
		? snprintf(body, sizeof body, "generation=%u pid=%d\n",
			   generation, (int)getpid())
		: snprintf(body, sizeof body, "%d %s\n", c->status,
			   reason(c->status));
	int n = snprintf(c->out, sizeof c->out,
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: text/plain\r\n"
			 "Content-Length: %d\r\n"
			 "%s"
			 "Connection: %s\r\n"
			 "\r\n"
			 "%s",
			 c->status, reason(c->status), body_len,
			 c->status == 405 ? "Allow: GET, HEAD\r\n" : "",
			 c->close_after ? "close" : "keep-alive",
			 c->head_only ? "" : body);
	c->out_len = (size_t)n < sizeof c->out ? (size_t)n : sizeof c->out - 1;
	c->out_off = 0;
}

/* ------------------------------------------------------------ state machine
 *
 * Each step returns what the connection waits for next. A step that closed
 * the connection returns STEP_GONE and c must not be touched again. */
enum step { STEP_MORE, STEP_WAIT, STEP_GONE };

static void respond(struct conn *c)
{
	if (draining)
		c->close_after = true;
	render(c);
	c->state = CONN_WRITE;
}

/* shutdown(SHUT_WR) sends our FIN after the response; reading on to the
 * client's EOF means close() never finds unread data, which would make the
 * kernel send RST and could destroy the response before it is read. */
static enum step linger_start(struct conn *c)
{
	if (shutdown(c->fd, SHUT_WR) < 0) {
		conn_close(c);
		return STEP_GONE;
	}
	free(c->in);
	c->in = NULL;
	c->in_len = 0;
	c->state = CONN_LINGER;
	int64_t until = now + LINGER_MS;
	timer_set(c, draining && drain_deadline < until ? drain_deadline : until);
	return STEP_WAIT;
}

static enum step step_read(struct conn *c)
{
	size_t lead = 0; /* RFC 9112 2.2: ignore empty lines before a request */
	while (lead < c->in_len && (c->in[lead] == '\r' || c->in[lead] == '\n'))
		lead++;
	if (lead)
		conn_consume(c, lead);
	size_t end = c->in_len ? head_length(c) : 0;
	if (!end) {
		if (c->in_len < REQUEST_MAX)
			return STEP_WAIT;
		c->status = 431;
		c->head_only = false;
		c->close_after = true;
		respond(c);
		return STEP_MORE;
	}
	conn_parse(c, end);
	conn_consume(c, end);
	size_t body = c->skip < c->in_len ? (size_t)c->skip : c->in_len;
	conn_consume(c, body);
	c->skip -= body;
	c->state = CONN_BODY;
	return STEP_MORE;
}

static enum step step_body(struct conn *c)
{
	if (c->skip)
		return STEP_WAIT;
	if (c->status == 200 && c->sleep_ms) {
		c->state = CONN_SLEEP;
		timer_set(c, now + c->sleep_ms);
		return STEP_WAIT;
	}
	respond(c);
	return STEP_MORE;
}

static enum step step_write(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off,
				 c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && would_block())
			return STEP_WAIT;
		if (n < 0) {
			conn_close(c);
			return STEP_GONE;
		}
		c->out_off += (size_t)n;
	}
	if (c->close_after)
		return linger_start(c);
	c->state = CONN_READ;
	return STEP_MORE;
}

/* Called when a connection has settled into waiting for something. */
static void conn_settle(struct conn *c)
{
	static const uint32_t interest[] = {
		[CONN_READ] = EPOLLIN, [CONN_BODY] = EPOLLIN,
		[CONN_SLEEP] = 0, /* no reading: pipelined input waits its turn */
		[CONN_WRITE] = EPOLLOUT, [CONN_LINGER] = EPOLLIN,
	};
	conn_watch(c, interest[c->state]);
	if (c->state != CONN_READ || c->in_len)
		return;
	free(c->in); /* idle connections hold no buffer: 10,000 of them add up */
	c->in = NULL;
	if (draining && c->heap_index == NOT_QUEUED)
		timer_set(c, now + opt.idle_grace_ms);
}

/* Runs the connection until it must wait for I/O or a timer. */
static void conn_advance(struct conn *c)
{
	enum step s = STEP_MORE;
	while (s == STEP_MORE) {
		switch (c->state) {
		case CONN_READ: s = step_read(c); break;
		case CONN_BODY: s = step_body(c); break;
		case CONN_WRITE: s = step_write(c); break;
		case CONN_SLEEP:
		case CONN_LINGER: s = STEP_WAIT; break;
		}
	}
	if (s == STEP_WAIT)
		conn_settle(c);
}

static void conn_read_request(struct conn *c)
{
	if (!c->in && !(c->in = malloc(REQUEST_MAX))) {
		conn_close(c);
		return;
	}
	ssize_t n = recv_retry(c->fd, c->in + c->in_len, REQUEST_MAX - c->in_len);
	if (n < 0 && would_block()) {
		conn_settle(c);
		return;
	}
	if (n <= 0) { /* EOF or error: no whole request is left to answer */
		conn_close(c);
		return;
	}
	if (c->in_len == 0) /* a request arrived within the drain grace */
		timer_clear(c);
	c->in_len += (size_t)n;
	conn_advance(c);
}

static void conn_read_discard(struct conn *c)
{
	size_t want = sizeof scratch;
	if (c->state == CONN_BODY && c->skip < want)
		want = (size_t)c->skip;
	ssize_t n = recv_retry(c->fd, scratch, want);
	if (n < 0 && would_block())
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	if (c->state == CONN_BODY) {
		c->skip -= (uint64_t)n;
		conn_advance(c);
	}
}

static void conn_event(struct conn *c, uint32_t events)
{
	if (events & EPOLLERR) { /* reset by the peer: nothing can be sent */
		conn_close(c);
		return;
	}
	switch (c->state) {
	case CONN_READ: conn_read_request(c); break;
	case CONN_BODY:
	case CONN_LINGER: conn_read_discard(c); break;
	case CONN_WRITE: conn_advance(c); break;
	case CONN_SLEEP: /* watching nothing: only a hangup wakes us */
		if (events & EPOLLHUP)
			conn_close(c);
		break;
	}
}

static void conn_timer(struct conn *c)
{
	switch (c->state) {
	case CONN_SLEEP:
		respond(c);
		conn_advance(c);
		break;
	case CONN_READ: /* idle past the drain grace */
		if (linger_start(c) == STEP_WAIT)
			conn_settle(c);
		break;
	case CONN_LINGER:
		conn_close(c);
		break;
	default:
		break;
	}
}

static void run_timers(void)
{
	while (heap_len && heap[0]->deadline <= now) {
		struct conn *c = heap[0];
		timer_clear(c);
		conn_timer(c);
	}
}

/* ------------------------------------------------------------ listeners */

static void listeners_watch(uint32_t events)
{
	for (size_t i = 0; i < listener_count; i++) {
		struct epoll_event ev = { .events = events,
					  .data.ptr = &listeners[i].source };
		if (listeners[i].fd >= 0)
			epoll_ctl(epfd, EPOLL_CTL_MOD, listeners[i].fd, &ev);
	}
}

/* Out of descriptors or memory: accepting again at once would spin, since
 * the connection stays queued and the listener stays readable. */
static void accept_pause(const char *why)
{
	say("accept: %s; pausing %d ms", why, ACCEPT_PAUSE_MS);
	listeners_watch(0);
	accept_paused = true;
	accept_resume = now + ACCEPT_PAUSE_MS;
}

static void accept_unpause(void)
{
	listeners_watch(EPOLLIN);
	accept_paused = false;
}

/* A blocking listener (systemd passes those unless NonBlocking=yes) must
 * not be accepted from blindly: another generation sharing it may take the
 * connection first, and accept() would then block the whole loop. Polling
 * first narrows that window; only O_NONBLOCK closes it, and we may not set
 * it on a shared socket (LESSONS.md 3). */
static bool listener_has_pending(const struct listener *l)
{
	struct pollfd p = { .fd = l->fd, .events = POLLIN };
	int n;
	do
		n = poll(&p, 1, 0);
	while (n < 0 && errno == EINTR);
	return n > 0;
}

static bool accept_error_is_transient(int err)
{
	/* accept(2): pending network errors of the new connection surface
	 * here; the next connection in the queue is unaffected. */
	switch (err) {
	case EINTR: case ECONNABORTED: case EPROTO: case EPERM:
	case ENETDOWN: case ENOPROTOOPT: case EHOSTDOWN: case ENONET:
	case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH:
		return true;
	default:
		return false;
	}
}

/* The listener may be shared with the other generation during a handover,
 * so EAGAIN right after a wakeup is normal: it took the connection. */
static void accept_all(struct listener *l)
{
	while (l->fd >= 0 && !accept_paused) {
		if (l->blocking && !listener_has_pending(l))
			return;
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			if (!conn_new(fd, l->tcp))
				accept_pause("out of memory");
			continue;
		}
		if (would_block())
			return;
		if (!accept_error_is_transient(errno))
			accept_pause(strerror(errno));
	}
}

/* Stop accepting: close our copies. The successor holds the same open file
 * descriptions, so close() alone would not take them out of our epoll set;
 * and shutdown() would reset the queue the successor accepts from. */
static void listeners_close(void)
{
	for (size_t i = 0; i < listener_count; i++) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, listeners[i].fd, NULL);
		listeners[i].fd = -1;
	}
	accept_paused = false;
	handoff_close_listeners(h);
}

/* ------------------------------------------------------------ drain */

static void drain_conn(struct conn *c)
{
	if (c->state == CONN_READ && c->in_len == 0) {
		timer_set(c, now + opt.idle_grace_ms);
	} else if (c->state == CONN_WRITE && c->out_off == 0 && !c->close_after) {
		c->close_after = true; /* not a byte sent yet: say we will close */
		render(c);
	}
	/* Every other request in flight gets "Connection: close" from
	 * respond(); a keep-alive response already partly sent is followed by
	 * the idle grace like any idle connection. */
}

static void drain_begin(void)
{
	if (draining)
		return;
	draining = true;
	drain_start = now;
	drain_deadline = now + opt.drain_timeout_ms;
	listeners_close();
	for (struct conn *c = conns; c; c = c->next)
		drain_conn(c);
	char status[128];
	snprintf(status, sizeof status,
		 "draining: %zu connections, deadline in %d ms", conn_count,
		 opt.drain_timeout_ms);
	say("%s", status);
	/* After a handover the service manager watches the successor too:
	 * name the generation this status is about. */
	char notify[192];
	snprintf(notify, sizeof notify, "STATUS=gen %u pid %d %s", generation,
		 (int)getpid(), status);
	int err = handoff_notify(notify);
	if (err < 0)
		say("handoff_notify: %s", strerror(-err));
}

static void drain_hammer(void)
{
	if (conn_count)
		say("drain deadline: closing %zu connections", conn_count);
	while (conns)
		conn_close(conns);
}

/* ------------------------------------------------------------ handoff */

static void handoff_events(void)
{
	struct handoff_event ev;
	char text[256];
	int r;
	while ((r = handoff_next(h, &ev)) > 0) {
		switch (ev.type) {
		case HANDOFF_EVENT_UPGRADE_STARTED:
			say("upgrade started: successor pid %d", (int)ev.pid);
			break;
		case HANDOFF_EVENT_UPGRADE_FAILED:
			say("upgrade failed: %s",
			    handoff_event_describe(&ev, text, sizeof text));
			break;
		case HANDOFF_EVENT_PARENT_EXITED:
			say("parent pid %d exited", (int)ev.pid);
			break;
		case HANDOFF_EVENT_RELOAD_REQUESTED:
			say("%s", handoff_event_describe(&ev, text, sizeof text));
			break;
		case HANDOFF_EVENT_DRAIN:
			say("successor pid %d is ready", (int)ev.pid);
			drain_begin();
			break;
		case HANDOFF_EVENT_STOP:
			say("%s: stopping", strsignal(ev.signal));
			drain_begin();
			break;
		case HANDOFF_EVENT_STOP_NOW:
			say("%s: stopping now", strsignal(ev.signal));
			handoff_free(h);
			exit(0);
		case HANDOFF_EVENT_NONE:
			break;
		}
	}
	if (r < 0)
		say("handoff_next: %s", strerror(-r));
}

/* ------------------------------------------------------------ main loop */

static void dispatch(const struct epoll_event *ev)
{
	/* Only a connection's own event frees it, and epoll reports each
	 * descriptor once per batch, so no pointer here is stale. */
	struct source *s = ev->data.ptr;
	switch (s->kind) {
	case SOURCE_LISTENER: accept_all((struct listener *)s); break;
	case SOURCE_HANDOFF: handoff_events(); break;
	case SOURCE_CONN: conn_event((struct conn *)s, ev->events); break;
	}
}

static int wait_timeout(void)
{
	int64_t next = INT64_MAX;
	if (heap_len)
		next = heap[0]->deadline;
	if (draining && drain_deadline < next)
		next = drain_deadline;
	if (accept_paused && accept_resume < next)
		next = accept_resume;
	if (next == INT64_MAX)
		return -1;
	int64_t left = next - now_ms();
	return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

static int serve(void)
{
	struct epoll_event events[EVENTS_MAX];
	for (;;) {
		int n = epoll_wait(epfd, events, EVENTS_MAX, wait_timeout());
		if (n < 0 && errno != EINTR) {
			say("epoll_wait: %s", strerror(errno));
			return 1;
		}
		now = now_ms();
		for (int i = 0; i < n; i++)
			dispatch(&events[i]);
		run_timers();
		if (accept_paused && now >= accept_resume)
			accept_unpause();
		if (draining && now >= drain_deadline)
			drain_hammer();
		if (draining && conn_count == 0)
			break;
	}
	handoff_free(h);
	say("drained in %lld ms, exiting", (long long)(now_ms() - drain_start));
	return 0;
}

/* ------------------------------------------------------------ start-up */

static void usage(FILE *to)
{
	fputs("usage: httpd [--listen [NAME=]ADDR]... [--pidfile FILE]\n"
	      "             [--drain-timeout MS] [--ready-timeout MS] [--idle-grace MS]\n"
	      "  --listen [NAME=]ADDR  listen here; repeatable, default 127.0.0.1:8080\n"
	      "                        (ADDR: 127.0.0.1:80, [::]:80, /run/httpd.sock,\n"
	      "                        @abstract, unix:PATH; see handoff.h)\n"
	      "  --pidfile FILE        write our pid here once ready\n"
	      "  --drain-timeout MS    longest drain after a handover (default 10000)\n"
	      "  --ready-timeout MS    how long a successor may take (default 60000)\n"
	      "  --idle-grace MS       how long a draining idle keep-alive connection\n"
	      "                        may still send a request (default 1000)\n"
	      "SIGHUP upgrades; SIGTERM, SIGINT, SIGQUIT drain and stop;\n"
	      "SIGUSR2 stops at once.\n",
	      to);
}

__attribute__((format(printf, 1, 2), noreturn))
static void bad_usage(const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	say("%s (try --help)", text);
	exit(2);
}

static int parse_ms(const char *option, const char *text, int min)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < min || v > INT_MAX)
		bad_usage("%s: bad value \"%.200s\"", option, text);
	return (int)v;
}

/* "web=127.0.0.1:80" is named; "unix:/run/a=b" is not: a name holds no
 * ':', '/', '@' or '['. */
static const char *listen_address(const char *spec, char *name, size_t size)
{
	const char *eq = strchr(spec, '=');
	size_t n = eq ? (size_t)(eq - spec) : 0;
	name[0] = '\0';
	if (!eq || strcspn(spec, ":/@[") < n)
		return spec;
	if (n == 0 || n >= size)
		bad_usage("--listen %s: bad listener name", spec);
	memcpy(name, spec, n);
	name[n] = '\0';
	return eq + 1;
}

static void add_listen(const char *spec)
{
	char name[HANDOFF_NAME_MAX + 1];
	struct handoff_address a;
	const char *address = listen_address(spec, name, sizeof name);
	if (handoff_address_parse(&a, address) < 0)
		bad_usage("--listen %s: bad address", spec);
	if (a.type != SOCK_STREAM)
		bad_usage("--listen %s: not a stream socket", spec);
	if (opt.listen_count == LISTEN_MAX)
		bad_usage("--listen %s: too many listeners", spec);
	opt.listen[opt.listen_count++] = spec;
}

static void parse_options(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "drain-timeout", required_argument, NULL, 'd' },
		{ "ready-timeout", required_argument, NULL, 'r' },
		{ "idle-grace", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	opterr = 0; /* our own messages: one line each, with our prefix */
	/* '+': stop at the first operand instead of permuting argv, which
	 * handoff_new() copies for the next generation. */
	while ((c = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
		switch (c) {
		case 'l': add_listen(optarg); break;
		case 'p': opt.pidfile = optarg; break;
		case 'd':
			opt.drain_timeout_ms = parse_ms("--drain-timeout", optarg, 0);
			break;
		case 'r':
			opt.ready_timeout_ms = parse_ms("--ready-timeout", optarg, 1);
			break;
		case 'g':
			opt.idle_grace_ms = parse_ms("--idle-grace", optarg, 0);
			break;
		case 'h': usage(stdout); exit(0);
		case ':': bad_usage("%s: missing value", argv[optind - 1]); break;
		default: bad_usage("%s: unknown option", argv[optind - 1]); break;
		}
	}
	if (optind < argc)
		bad_usage("%s: unexpected argument", argv[optind]);
	if (opt.listen_count == 0)
		opt.listen[opt.listen_count++] = "127.0.0.1:8080";
}

/* Our descriptors (epoll, connections) take the lowest free numbers: if
 * 0, 1 or 2 were closed at exec, a connection would become our stderr. */
static void keep_stdio_open(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", O_RDWR) != fd)
			exit(1);
}

static void ignore_sigpipe(void)
{
	/* send() has MSG_NOSIGNAL; this covers writes to a closed log pipe. */
	struct sigaction sa = { .sa_handler = SIG_IGN };
	sigaction(SIGPIPE, &sa, NULL);
}

static void watch(int fd, struct source *source)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = source };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		say("epoll_ctl: %s", strerror(errno));
		exit(1);
	}
}

/* On failure here, exit without handoff_free(): before handoff_ready()
 * our parent, if any, still serves these sockets, and closing would be a
 * final stop (unlinking Unix socket paths). */
static void open_listener(const char *spec)
{
	char name[HANDOFF_NAME_MAX + 1];
	const char *address = listen_address(spec, name, sizeof name);
	int fd = handoff_listen(h, name[0] ? name : NULL, address);
	if (fd < 0) {
		say("cannot listen on %s: %s", spec, strerror(-fd));
		exit(1);
	}
	struct handoff_address a;
	int flags = fcntl(fd, F_GETFL);
	struct listener *l = &listeners[listener_count++];
	*l = (struct listener){
		.source = { SOURCE_LISTENER }, .fd = fd,
		.tcp = handoff_address_of_socket(&a, fd) == 0 && a.family != AF_UNIX,
		.blocking = flags >= 0 && !(flags & O_NONBLOCK),
	};
	watch(fd, &l->source);
	if (l->blocking)
		say("warning: %s was inherited in blocking mode; a handover may "
		    "stall accept() briefly", spec);
}

static void log_ready(void)
{
	size_t count = handoff_listener_count(h), used = 0;
	char list[LOG_MAX - 128] = "";
	for (size_t i = 0; i < count && used < sizeof list; i++) {
		char text[HANDOFF_ADDRESS_TEXT_MAX];
		struct handoff_address a;
		if (handoff_listener_address(h, i, &a) < 0 ||
		    handoff_address_format(&a, text, sizeof text) < 0)
			snprintf(text, sizeof text, "fd %d", handoff_listener_fd(h, i));
		used += (size_t)snprintf(list + used, sizeof list - used, "%s%s (%s)",
					 i ? ", " : "", text,
					 handoff_listener_inherited(h, i) == 1 ? "inherited" : "new");
	}
	say("ready on %s", list);
}

int main(int argc, char *argv[])
{
	keep_stdio_open();
	parse_options(argc, argv);
	ignore_sigpipe();
	struct handoff_config config = {
		.size = sizeof config,
		.flags = HANDOFF_SIGNALS,
		.ready_timeout_ms = opt.ready_timeout_ms,
		.pidfile = opt.pidfile,
	};
	int err = handoff_new(&h, &config, argc, argv);
	if (err < 0) {
		say("handoff_new: %s%s", strerror(-err),
		    err == -EBUSY ? " (another instance holds the pid file)" : "");
		return 1;
	}
	generation = handoff_generation(h);
	/* After handoff_new: inherited sockets sit at 3, 4, ... */
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		say("epoll_create1: %s", strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < opt.listen_count; i++)
		open_listener(opt.listen[i]);
	/* What the library ignored or overrode (a malformed LISTEN_FDS, a
	 * service manager's address instead of ours) is worth a line. */
	const char *warning = handoff_warning(h);
	if (warning)
		say("warning: %s", warning);
	watch(handoff_fd(h), &handoff_source);
	err = handoff_ready(h); /* from here our parent, if any, drains */
	if (err < 0) {
		say("handoff_ready: %s", strerror(-err));
		return 1;
	}
	log_ready();
	return serve();
}
