/* conn.c — httpd's connections: the state machine, its timers, responses.
 *
 * Each connection is a small state machine (conn_state below) driven by
 * epoll events and by one timer: a /sleep, a /stream's next event, the
 * drain's idle grace, or a lingering close's limit. The timers of all
 * connections live in one min-heap, whose root tells the main loop how long
 * it may wait. A /stream or /ws request switches its connection for good
 * (conn_kind): stream.c renders the events, ws.c parses the frames.
 *
 * The drain is here as much as in main.c: what a connection does when its
 * generation drains is the point of httpd (LESSONS.md 15). Towards a
 * successor that takes connections, each one moves at its next boundary
 * (conn_pass). Otherwise every request in flight is answered with
 * "Connection: close"; an idle keep-alive connection gets a short grace in
 * which a request already on its way is still answered; a stream sends its
 * last chunk and a WebSocket close 1001; and every connection ends with a
 * lingering close (shutdown, read to EOF, close), so that unread input
 * never turns the last response into a reset. */
#include "conn.h"
#include "http.h"
#include "httpd.h"
#include "state.h"
#include "stream.h"
#include "ws.h"

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
	CONN_STREAM,     /* /stream: waiting for the next event's timer */
	CONN_WS,         /* /ws: waiting for (the rest of) a frame */
};

/* What the connection speaks once its request is answered: HTTP, or for
 * good the protocol that request switched to. */
enum conn_kind { KIND_HTTP, KIND_STREAM, KIND_WS };

struct conn {
	struct source source;
	int fd;
	bool tcp;
	enum conn_state state;
	enum conn_state resume;    /* CONN_PASSING: the state to come back to */
	enum conn_kind kind;
	uint32_t events;           /* what epoll watches now */
	struct conn *prev, *next;  /* every connection, for the drain */
	size_t heap_index;         /* in the timer heap, or NOT_QUEUED */
	int64_t deadline;          /* ms on CLOCK_MONOTONIC */
	char *in;                  /* in_capacity() bytes; NULL while idle */
	size_t in_len, scanned;    /* scanned: where to resume the head search */
	uint64_t skip;             /* request body bytes still to discard */
	/* the request being answered */
	int status;
	unsigned sleep_ms, stream_ms;
	bool head_only, close_after;
	bool classic;              /* drains here: it could not move */
	char ws_accept[WS_ACCEPT_SIZE + 1];
	struct stream stream;      /* KIND_STREAM */
	struct ws ws;              /* KIND_WS */
	/* What is being sent: out points to response, or to big for a
	 * WebSocket echo that does not fit. */
	char *out;
	size_t out_len, out_off;
	char response[RESPONSE_MAX];
	char *big;
	size_t big_cap;
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
static unsigned char pass_state[HANDOFF_STATE_MAX]; /* handoff_pass copies it */

/* What epoll watches for a connection waiting in each state. */
static const uint32_t interest[] = {
	[CONN_READ] = EPOLLIN, [CONN_BODY] = EPOLLIN,
	[CONN_SLEEP] = 0, /* no reading: pipelined input waits its turn */
	[CONN_WRITE] = EPOLLOUT, [CONN_LINGER] = EPOLLIN,
	[CONN_PASSING] = 0,
	[CONN_STREAM] = 0, /* as CONN_SLEEP: only writing until the end */
	[CONN_WS] = EPOLLIN,
};

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

/* Watches fd as a new connection; NULL (fd left open) when out of memory. */
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
	c->out = c->response;
	if (conns)
		conns->prev = c;
	conns = c;
	conn_count++;
	by_fd[fd] = c;
	if (tcp) /* pipelined responses must not wait for a delayed ACK */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 }, sizeof(int));
	return c;
fail:
	free(c);
	return NULL;
}

bool conn_new(int fd, bool tcp)
{
	if (conn_add(fd, tcp))
		return true;
	close(fd);
	return false;
}

/* Forgets c, leaving its descriptor open. */
static void conn_detach(struct conn *c)
{
	timer_clear(c);
	/* Deregister explicitly: epoll forgets a socket only when its last
	 * copy closes, and a child forked for an upgrade holds copies of all
	 * our descriptors until it execs. */
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	by_fd[c->fd] = NULL;
	if (c->prev)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	conn_count--;
	free(c->in);
	free(c->big);
	ws_free(&c->ws);
	free(c);
}

static void conn_close(struct conn *c)
{
	int fd = c->fd;
	conn_detach(c);
	close(fd);
}

static void conn_consume(struct conn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
	c->scanned = 0;
}

/* A WebSocket frame may be up to WS_FRAME_MAX bytes: it is taken whole. */
static size_t in_capacity(const struct conn *c)
{
	return c->kind == KIND_WS ? WS_FRAME_MAX : REQUEST_MAX;
}

/* Takes the head in c->in[0, end) as the request c will answer. */
static void conn_parse(struct conn *c, size_t end)
{
	struct request r;
	http_parse_head(&r, c->in, end);
	c->status = r.status;
	c->sleep_ms = r.sleep_ms;
	c->stream_ms = r.stream_ms;
	if (r.websocket) /* r.ws_key points into c->in: use it now */
		ws_accept(r.ws_key.p, r.ws_key.n, c->ws_accept);
	c->head_only = r.head_only;
	c->close_after = r.close_after;
	c->skip = r.body_length;
}

/* ------------------------------------------------------------ responses */

/* Answers that switch the connection to another protocol once sent. */
static bool switches(const struct conn *c)
{
	return c->status == 101 ||
	       (c->status == 200 && c->stream_ms && !c->head_only);
}

static void render(struct conn *c)
{
	c->out = c->response;
	c->out_off = 0;
	if (c->status == 101) {
		c->out_len = (size_t)snprintf(c->out, RESPONSE_MAX,
			"HTTP/1.1 101 Switching Protocols\r\n"
			"Upgrade: websocket\r\n"
			"Connection: Upgrade\r\n"
			"Sec-WebSocket-Accept: %s\r\n"
			"\r\n", c->ws_accept);
		return;
	}
	if (c->status == 200 && c->stream_ms) { /* the events follow */
		c->out_len = (size_t)snprintf(c->out, RESPONSE_MAX,
			"HTTP/1.1 200 OK\r\n"
			"Content-Type: text/plain\r\n"
			"Transfer-Encoding: chunked\r\n"
			"Cache-Control: no-store\r\n"
			"Connection: %s\r\n"
			"\r\n", c->close_after ? "close" : "keep-alive");
		return;
	}
	char body[128];
	int body_len = c->status == 200
		? snprintf(body, sizeof body, "generation=%u pid=%d\n",
			   generation, (int)getpid())
		: snprintf(body, sizeof body, "%d %s\n", c->status,
			   http_reason(c->status));
	int n = snprintf(c->out, RESPONSE_MAX,
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
	c->out_len = (size_t)n < RESPONSE_MAX ? (size_t)n : RESPONSE_MAX - 1;
}

/* Room for n bytes of output: the fixed buffer, or a larger one kept for
 * the connection's next big echo. */
static bool out_reserve(struct conn *c, size_t n)
{
	c->out = c->response;
	if (n <= RESPONSE_MAX)
		return true;
	if (n > c->big_cap) {
		char *p = realloc(c->big, n);
		if (!p)
			return false;
		c->big = p;
		c->big_cap = n;
	}
	c->out = c->big;
	return true;
}

static bool ws_frame_out(struct conn *c, uint8_t opcode, const void *payload,
			 size_t len)
{
	if (!out_reserve(c, WS_HEADER_MAX + len))
		return false;
	size_t head = ws_header((unsigned char *)c->out, opcode, len);
	memcpy(c->out + head, payload, len);
	c->out_len = head + len;
	c->out_off = 0;
	return true;
}

/* A draining generation that cannot pass the connection ends it cleanly:
 * a stream with its last chunk, a WebSocket with close 1001 ("going
 * away"), after which the client reconnects to the successor. */
static bool ends_here(const struct conn *c)
{
	return draining && (!pass_to || c->classic);
}

/* ------------------------------------------------------------ state machine
 *
 * Each step returns what the connection waits for next. A step that closed
 * the connection returns STEP_GONE and c must not be touched again. */
enum step { STEP_MORE, STEP_WAIT, STEP_GONE };

static void respond(struct conn *c)
{
	if (ends_here(c) && !switches(c))
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

static enum step stream_begin(struct conn *c)
{
	c->kind = KIND_STREAM;
	stream_start(&c->stream, c->stream_ms, now); /* the first one at once */
	c->state = CONN_STREAM;
	timer_set(c, c->stream.due);
	return STEP_WAIT;
}

static enum step ws_begin(struct conn *c)
{
	c->kind = KIND_WS;
	if (c->in) { /* frames the client sent right after its handshake */
		char *p = realloc(c->in, WS_FRAME_MAX);
		if (!p) {
			conn_close(c);
			return STEP_GONE;
		}
		c->in = p;
	}
	c->state = CONN_WS;
	return STEP_MORE;
}

/* The timer of a stream: its next event, or its end. */
static void stream_next(struct conn *c)
{
	c->out = c->response;
	c->out_off = 0;
	if (ends_here(c)) {
		c->out_len = (size_t)snprintf(c->out, RESPONSE_MAX, "0\r\n\r\n");
		c->close_after = true;
	} else {
		c->out_len = stream_event(&c->stream, c->out, generation,
					  (int)getpid(), now);
	}
	c->state = CONN_WRITE;
}

static bool is_gen_question(const struct ws_reply *r)
{
	return r->opcode == WS_OP_TEXT && r->len == 4 &&
	       memcmp(r->payload, "gen?", 4) == 0;
}

/* One whole frame in, its answer out. A text message "gen?" is answered
 * "gen=G pid=P" instead of its echo: how a client sees who serves it. */
static enum step step_ws(struct conn *c)
{
	struct ws_reply r;
	size_t used = c->in_len
		? ws_receive(&c->ws, (unsigned char *)c->in, c->in_len, &r) : 0;
	if (!used)
		return STEP_WAIT;
	if (r.opcode == 0) {
		conn_consume(c, used);
		return STEP_MORE;
	}
	bool ok;
	if (is_gen_question(&r)) {
		char text[64];
		int n = snprintf(text, sizeof text, "gen=%u pid=%d", generation,
				 (int)getpid());
		ok = ws_frame_out(c, WS_OP_TEXT, text, (size_t)n);
	} else {
		ok = ws_frame_out(c, r.opcode, r.payload, r.len);
	}
	if (!ok) {
		conn_close(c);
		return STEP_GONE;
	}
	if (r.opcode == WS_OP_CLOSE) /* ours ends the handshake, or starts it */
		c->close_after = true;
	else
		conn_consume(c, used); /* r.payload pointed into c->in */
	c->state = CONN_WRITE;
	return STEP_MORE;
}

static void conn_advance(struct conn *c);

static void ws_going_away(struct conn *c)
{
	unsigned char code[2] = { WS_CLOSE_GOING_AWAY >> 8,
				  WS_CLOSE_GOING_AWAY & 0xff };
	if (!ws_frame_out(c, WS_OP_CLOSE, code, sizeof code)) {
		conn_close(c);
		return;
	}
	c->close_after = true;
	c->state = CONN_WRITE;
	conn_advance(c);
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
	if (c->kind == KIND_HTTP && switches(c))
		return c->status == 101 ? ws_begin(c) : stream_begin(c);
	switch (c->kind) {
	case KIND_STREAM: /* a chunk is out: wait for the next event */
		c->state = CONN_STREAM;
		/* Or end now if the drain began while it was being sent. */
		timer_set(c, ends_here(c) ? now : c->stream.due);
		return STEP_WAIT;
	case KIND_WS: /* an answer is out: the next frame, maybe read already */
		c->state = CONN_WS;
		return STEP_MORE;
	case KIND_HTTP:
		break;
	}
	c->state = CONN_READ;
	return STEP_MORE;
}

static void drain_conn(struct conn *c);

/* At a message boundary with nothing half-sent: between two requests,
 * between two events of a stream, between two WebSocket frames (one begun
 * travels as pending bytes, if they fit). */
static bool conn_passable(const struct conn *c)
{
	switch (c->state) {
	case CONN_READ:
	case CONN_STREAM: return true;
	case CONN_WS: return c->in_len <= HANDOFF_PENDING_MAX;
	default: return false;
	}
}

/* What the successor needs besides the socket and the pending bytes: a
 * stream's next event, a WebSocket's message being reassembled (state.h). */
static size_t conn_save(const struct conn *c)
{
	switch (c->kind) {
	case KIND_STREAM:
		stream_save(&c->stream, pass_state);
		return STREAM_STATE_SIZE;
	case KIND_WS:
		return ws_save(&c->ws, pass_state);
	case KIND_HTTP:
		break;
	}
	return 0;
}

/* During a drain towards a successor that takes connections: the
 * connection moves, with the bytes of a request or frame begun (pending)
 * and its state. Out of epoll first: it would report the socket for as
 * long as our copy is open. */
static bool conn_pass(struct conn *c)
{
	if (!pass_to || c->classic || !conn_passable(c))
		return false;
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	c->events = 0;
	timer_clear(c);
	size_t state_len = conn_save(c);
	int r = handoff_pass(pass_to, c->fd, c->in, c->in_len,
			     state_len ? pass_state : NULL, state_len);
	if (r == 0) {
		c->resume = c->state;
		c->state = CONN_PASSING;
		return true;
	}
	struct epoll_event ev = { .events = interest[c->state],
				  .data.ptr = &c->source };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) == 0)
		c->events = ev.events;
	c->classic = true;
	drain_conn(c);
	return false;
}

/* Called when a connection has settled into waiting for something. */
static void conn_settle(struct conn *c)
{
	if (draining && conn_pass(c))
		return;
	conn_watch(c, interest[c->state]);
	if (c->state == CONN_WS && ends_here(c) && c->heap_index == NOT_QUEUED)
		timer_set(c, now); /* between frames: close 1001 (conn_timer) */
	if ((c->state != CONN_READ && c->state != CONN_WS) || c->in_len)
		return;
	free(c->in); /* idle connections hold no buffer: 10,000 of them add up */
	c->in = NULL;
	if (c->state == CONN_WS) { /* nor a WebSocket between messages */
		if (!c->ws.opcode) {
			free(c->ws.msg);
			c->ws.msg = NULL;
		}
		free(c->big); /* everything it had to send is sent */
		c->big = NULL;
		c->big_cap = 0;
		return;
	}
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
		case CONN_WS: s = step_ws(c); break;
		case CONN_STREAM:
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
	size_t cap = in_capacity(c);
	if (!c->in && !(c->in = malloc(cap))) {
		conn_close(c);
		return;
	}
	ssize_t n = recv_retry(c->fd, c->in + c->in_len, cap - c->in_len);
	if (n < 0 && would_block()) {
		conn_settle(c);
		return;
	}
	if (n <= 0) { /* EOF or error: no whole request is left to answer */
		conn_close(c);
		return;
	}
	if (c->in_len == 0 && c->state == CONN_READ) /* within the drain grace */
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
	case CONN_READ:
	case CONN_WS: conn_read_request(c); break;
	case CONN_BODY:
	case CONN_LINGER: conn_read_discard(c); break;
	case CONN_WRITE: conn_advance(c); break;
	case CONN_SLEEP: /* watching nothing: only a hangup wakes us */
	case CONN_STREAM:
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
	case CONN_STREAM:
		stream_next(c);
		conn_advance(c);
		break;
	case CONN_WS: /* draining, and it cannot move */
		ws_going_away(c);
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
		/* At a boundary it moves now; otherwise once its response,
		 * chunk or frame is out (conn_settle), still open. */
		conn_pass(c);
		return;
	}
	if (c->state == CONN_STREAM || c->state == CONN_WS) {
		timer_set(c, now); /* its end, now (conn_timer) */
	} else if (c->state == CONN_READ && c->in_len == 0) {
		timer_set(c, now + idle_grace_ms);
	} else if (c->state == CONN_WRITE && c->kind == KIND_HTTP &&
		   c->out_off == 0 && !c->close_after && !switches(c)) {
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
		c->state = c->resume;
		struct epoll_event ev = { .events = interest[c->state],
					  .data.ptr = &c->source };
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
			conn_close(c);
			continue;
		}
		c->events = ev.events;
		c->classic = true;
		drain_conn(c);
		conn_advance(c);
	}
}

/* The other side of conn_save(): a stream waits for its next event, a
 * WebSocket for its next frame. */
static bool conn_load(struct conn *c, const void *state, size_t len)
{
	const unsigned char *kind = state;
	if (kind[0] == STATE_STREAM && stream_load(&c->stream, state, len)) {
		c->kind = KIND_STREAM;
		c->state = CONN_STREAM;
		timer_set(c, c->stream.due);
		return true;
	}
	if (kind[0] == STATE_WS && ws_load(&c->ws, state, len)) {
		c->kind = KIND_WS;
		c->state = CONN_WS;
		return true;
	}
	return false;
}

/* Serves a connection from the previous generation from where it was: 0,
 * or a negative errno with nothing kept and the descriptor left open. */
static int conn_adopt(const struct handoff_connection *hc)
{
	/* An httpd's connections come non-blocking (the flag belongs to the
	 * socket's open file, which moved): one system call, not two. */
	int flags = fcntl(hc->fd, F_GETFL);
	if (flags < 0 ||
	    (!(flags & O_NONBLOCK) && fcntl(hc->fd, F_SETFL, flags | O_NONBLOCK) < 0))
		return -errno;
	/* TCP_NODELAY is an option of the socket: it came with it. */
	struct conn *c = conn_add(hc->fd, false);
	if (!c)
		return -ENOMEM;
	int err = 0;
	if (hc->state_length && !conn_load(c, hc->state, hc->state_length))
		err = -EPROTO; /* from a newer httpd, say: it serves it on */
	else if (hc->pending_length > in_capacity(c))
		err = -E2BIG;
	else if (hc->pending_length && !(c->in = malloc(in_capacity(c))))
		err = -ENOMEM;
	if (err) {
		conn_detach(c);
		return err;
	}
	if (hc->pending_length)
		memcpy(c->in, hc->pending, hc->pending_length);
	c->in_len = hc->pending_length;
	/* An idle keep-alive connection waits for epoll, which reports it at
	 * once if its next request came meanwhile: no read that would only
	 * say EAGAIN, 10,000 times in a large move. (conn_settle passes it
	 * on if we drain already.) */
	if (c->kind == KIND_HTTP && !c->in_len)
		conn_settle(c);
	else
		conn_advance(c);
	return 0;
}

/* A connection we cannot serve goes back: the old generation keeps it. */
void conns_receive(struct handoff *h)
{
	struct handoff_connection hc;
	while (handoff_receive(h, &hc) == 1) {
		int err = conn_adopt(&hc);
		if (err < 0) {
			say("a connection from the previous generation stays there: %s",
			    strerror(-err));
			handoff_refuse(h, &hc, err);
		}
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
