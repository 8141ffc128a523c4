/* conn.c — httpd's connections: the state machine, its timers, responses.
 *
 * Each connection is a small state machine (conn_state below) driven by
 * epoll events and by one timer: a /sleep, the drain's idle grace, or a
 * lingering close's limit. The timers of all connections live in one
 * min-heap, whose root tells the main loop how long it may wait.
 *
 * The drain is here as much as in main.c: what a connection does when its
 * generation drains is the point of httpd (LESSONS.md 15). Every request in
 * flight is answered with "Connection: close"; an idle keep-alive
 * connection gets a short grace in which a request already on its way is
 * still answered; and every connection ends with a lingering close
 * (shutdown, read to EOF, close), so that unread input never turns the last
 * response into a reset. */
#include "conn.h"
#include "http.h"
#include "httpd.h"

#include <fcntl.h>
#include <handoff.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
	REQUEST_MAX = 8192,     /* request line and headers */
	RESPONSE_MAX = 512,
	LINGER_MS = 5000,       /* lingering close outside a drain */
};

#define NOT_QUEUED SIZE_MAX

enum conn_state {
	CONN_READ,       /* waiting for a request head; idle if in_len == 0 */
	CONN_BODY,       /* discarding a request body */
	CONN_SLEEP,      /* /sleep: waiting for the timer */
	CONN_WRITE,      /* sending the response */
	CONN_LINGER,     /* write side shut: reading to EOF before close */
	CONN_PASSING,    /* handed to the successor, awaiting the outcome */
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
	bool classic;              /* drains here: it could not move */
	char out[RESPONSE_MAX];
	size_t out_len, out_off;
};

static struct conn *conns;
static size_t conn_count;
static struct conn **heap;  /* min-heap on deadline; one slot per conn */
static size_t heap_len, heap_cap;
/* fd -> its connection, to match the outcomes of handoff_pass() */
static struct conn **by_fd;
static size_t by_fd_cap;
/* Set once by conns_drain(). */
static bool draining;
static struct handoff *pass_to; /* the successor takes connections */
static int64_t drain_deadline;
static int idle_grace_ms;
static char scratch[65536]; /* bytes we read only to throw away */

/* ------------------------------------------------------------ utilities */

static ssize_t recv_retry(int fd, void *buf, size_t size)
{
	ssize_t n;
	do
		n = recv(fd, buf, size, 0);
	while (n < 0 && errno == EINTR);
	return n;
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

static bool by_fd_reserve(int fd)
{
	if ((size_t)fd < by_fd_cap)
		return true;
	size_t cap = by_fd_cap ? by_fd_cap : 1024;
	while (cap <= (size_t)fd)
		cap *= 2;
	struct conn **p = realloc(by_fd, cap * sizeof *p);
	if (!p)
		return false;
	memset(p + by_fd_cap, 0, (cap - by_fd_cap) * sizeof *p);
	by_fd = p;
	by_fd_cap = cap;
	return true;
}

static struct conn *conn_add(int fd, bool tcp)
{
	struct conn *c = calloc(1, sizeof *c);
	struct epoll_event ev = { .events = EPOLLIN };
	if (!c || !heap_reserve(conn_count + 1) || !by_fd_reserve(fd))
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
	by_fd[fd] = c;
	if (tcp) /* pipelined responses must not wait for a delayed ACK */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	return c;
fail:
	close(fd);
	free(c);
	return NULL;
}

bool conn_new(int fd, bool tcp)
{
	return conn_add(fd, tcp) != NULL;
}

static void conn_close(struct conn *c)
{
	timer_clear(c);
	/* Deregister explicitly: epoll forgets a socket only when its last
	 * copy closes, and a child forked for an upgrade holds copies of all
	 * our descriptors until it execs. */
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	by_fd[c->fd] = NULL;
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

/* Takes the head in c->in[0, end) as the request c will answer. */
static void conn_parse(struct conn *c, size_t end)
{
	struct request r;
	http_parse_head(&r, c->in, end);
	c->status = r.status;
	c->sleep_ms = r.sleep_ms;
	c->head_only = r.head_only;
	c->close_after = r.close_after;
	c->skip = r.body_length;
}

/* ------------------------------------------------------------ responses */

static void render(struct conn *c)
{
	char body[128];
	int body_len = c->status == 200
		? snprintf(body, sizeof body, "generation=%u pid=%d\n",
			   generation, (int)getpid())
		: snprintf(body, sizeof body, "%d %s\n", c->status,
			   http_reason(c->status));
	int n = snprintf(c->out, sizeof c->out,
			 "HTTP/1.1 %d %s\r\n"
			 "Content-Type: text/plain\r\n"
			 "Content-Length: %d\r\n"
			 "%s"
			 "Connection: %s\r\n"
			 "\r\n"
			 "%s",
			 c->status, http_reason(c->status), body_len,
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
	if (draining && (!pass_to || c->classic))
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
	size_t end = c->in_len
		? http_head_length(c->in, c->in_len, &c->scanned) : 0;
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

static void drain_conn(struct conn *c);

/* Between two requests, during a drain towards a successor that takes
 * connections: the connection moves, with the bytes of a request begun
 * (pending). Out of epoll first: it would report the socket for as long as
 * our copy is open. */
static bool conn_pass(struct conn *c)
{
	if (!pass_to || c->classic || c->state != CONN_READ)
		return false;
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	c->events = 0;
	timer_clear(c);
	int r = handoff_pass(pass_to, c->fd, c->in, c->in_len, NULL, 0);
	if (r == 0) {
		c->state = CONN_PASSING;
		return true;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &c->source };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) == 0)
		c->events = EPOLLIN;
	c->classic = true;
	drain_conn(c);
	return false;
}

/* Called when a connection has settled into waiting for something. */
static void conn_settle(struct conn *c)
{
	static const uint32_t interest[] = {
		[CONN_READ] = EPOLLIN, [CONN_BODY] = EPOLLIN,
		[CONN_SLEEP] = 0, /* no reading: pipelined input waits its turn */
		[CONN_WRITE] = EPOLLOUT, [CONN_LINGER] = EPOLLIN,
		[CONN_PASSING] = 0,
	};
	if (draining && conn_pass(c))
		return;
	conn_watch(c, interest[c->state]);
	if (c->state != CONN_READ || c->in_len)
		return;
	free(c->in); /* idle connections hold no buffer: 10,000 of them add up */
	c->in = NULL;
	if (draining && c->heap_index == NOT_QUEUED)
		timer_set(c, now + idle_grace_ms);
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
		case CONN_LINGER:
		case CONN_PASSING: s = STEP_WAIT; break;
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

void conn_event(struct conn *c, uint32_t events)
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
	case CONN_PASSING: /* out of epoll */
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
	case CONN_PASSING: /* never queued */
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

void conns_run_timers(void)
{
	while (heap_len && heap[0]->deadline <= now) {
		struct conn *c = heap[0];
		timer_clear(c);
		conn_timer(c);
	}
}

/* ------------------------------------------------------------ drain */

static void drain_conn(struct conn *c)
{
	if (pass_to && !c->classic) {
		/* Between requests it moves now; otherwise once its response
		 * is out (conn_settle), still keep-alive. */
		if (c->state == CONN_READ)
			conn_pass(c);
		return;
	}
	if (c->state == CONN_READ && c->in_len == 0) {
		timer_set(c, now + idle_grace_ms);
	} else if (c->state == CONN_WRITE && c->out_off == 0 && !c->close_after) {
		c->close_after = true; /* not a byte sent yet: say we will close */
		render(c);
	}
	/* Every other request in flight gets "Connection: close" from
	 * respond(); a keep-alive response already partly sent is followed by
	 * the idle grace like any idle connection. */
}

void conns_drain(int64_t deadline, int grace_ms, struct handoff *successor)
{
	if (draining)
		return;
	draining = true;
	drain_deadline = deadline;
	idle_grace_ms = grace_ms;
	pass_to = successor;
	for (struct conn *c = conns, *next; c; c = next) {
		next = c->next; /* drain_conn never frees c, but stay safe */
		drain_conn(c);
	}
}

void conns_passed(struct handoff *h)
{
	int fd, error;
	while (handoff_pass_outcome(h, &fd, &error) == 1) {
		struct conn *c = fd >= 0 && (size_t)fd < by_fd_cap ? by_fd[fd] : NULL;
		if (!c || c->state != CONN_PASSING)
			continue;
		if (error == 0) { /* the successor has it: our copy goes */
			conn_close(c);
			continue;
		}
		/* Back to us: it drains here, the classic way. */
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &c->source };
		c->state = CONN_READ;
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			conn_close(c);
			continue;
		}
		c->events = EPOLLIN;
		c->classic = true;
		drain_conn(c);
		conn_advance(c);
	}
}

void conns_receive(struct handoff *h)
{
	struct handoff_connection hc;
	while (handoff_receive(h, &hc) == 1) {
		int flags = fcntl(hc.fd, F_GETFL);
		struct sockaddr_storage a;
		socklen_t len = sizeof a;
		bool tcp = getsockname(hc.fd, (struct sockaddr *)&a, &len) == 0 &&
			   (a.ss_family == AF_INET || a.ss_family == AF_INET6);
		if (flags < 0 || fcntl(hc.fd, F_SETFL, flags | O_NONBLOCK) < 0) {
			close(hc.fd);
			continue;
		}
		struct conn *c = conn_add(hc.fd, tcp);
		if (!c)
			continue;
		if (hc.pending_length) {
			if (hc.pending_length > REQUEST_MAX || !(c->in = malloc(REQUEST_MAX))) {
				conn_close(c);
				continue;
			}
			memcpy(c->in, hc.pending, hc.pending_length);
			c->in_len = hc.pending_length;
		}
		conn_advance(c);
	}
}

void conns_close_all(void)
{
	while (conns)
		conn_close(conns);
}

int64_t conns_next_timer(void)
{
	return heap_len ? heap[0]->deadline : INT64_MAX;
}

size_t conns_count(void)
{
	return conn_count;
}
