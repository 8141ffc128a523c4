/* test-stream.c — httpd's long-lived connections across upgrades: /stream
 * (chunked events) and /ws (WebSocket echo, RFC 6455), and the SHA-1 the
 * handshake rests on.
 *
 * The moving tests read every connection continuously in a child process
 * (one poll loop) while this process upgrades httpd; after each upgrade it
 * waits, bounded, until the child has seen every connection served by the
 * new generation, so "every connection saw every generation" is exact. */
#include "harness.h"
#include "../examples/httpd/sha1.h"
#include "../examples/httpd/ws.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

enum { UPGRADES = 50, STREAMS = 20, SOCKETS = 50 };

/* ------------------------------------------------------------ SHA-1 */

static void hex(const unsigned char *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static void expect_sha1(const void *data, size_t len, const char *want)
{
	unsigned char d[SHA1_SIZE];
	char text[2 * SHA1_SIZE + 1];
	sha1(data, len, d);
	hex(d, sizeof d, text);
	ASSERT_STR_EQ(text, want);
}

void test_sha1_fips_vectors(void)
{
	/* FIPS 180-2 appendix A, and the empty message. */
	expect_sha1("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
	expect_sha1("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	expect_sha1(two, strlen(two), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
	static char million[1000000];
	memset(million, 'a', sizeof million);
	expect_sha1(million, sizeof million,
		    "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
	/* Every padding case: the length field in the same block or the next. */
	for (size_t n = 50; n <= 70; n++)
		sha1(million, n, (unsigned char[SHA1_SIZE]){ 0 });
	expect_sha1(million, 55, "c1c8bbdc22796e28c0e15163d20899b65621d65a");
	expect_sha1(million, 56, "c2db330f6083854c99d4b5bfb6e8f29f201be699");
	expect_sha1(million, 64, "0098ba824b5c16427bd7a1122a5a442a25ec644d");
	/* RFC 6455 1.3: the example key and its accept value. */
	char accept[WS_ACCEPT_SIZE + 1];
	ws_accept("dGhlIHNhbXBsZSBub25jZQ==", 24, accept);
	ASSERT_STR_EQ(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	printf("  SHA-1: FIPS vectors, 1e6 x 'a', padding edges, RFC 6455 key\n");
}

/* ------------------------------------------------------------ I/O */

/* Reads what is there into buf (at most size - *len), waiting up to
 * timeout_ms for something. Returns the bytes read, 0 at EOF. */
static size_t read_some(int fd, unsigned char *buf, size_t *len, size_t size,
			int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	long deadline = deadline_after(timeout_ms);
	for (;;) {
		long left = deadline - now_ms();
		if (left <= 0 || poll(&p, 1, (int)left) == 0)
			FAIL("nothing to read within %d ms", timeout_ms);
		ssize_t n = recv(fd, buf + *len, size - *len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			FAIL("recv: %s", strerror(errno));
		*len += (size_t)n;
		return (size_t)n;
	}
}

/* ------------------------------------------------------------ a WebSocket client */

struct wsc {
	int fd;
	unsigned char in[WS_FRAME_MAX];
	size_t len;
	uint32_t mask_seed;
};

/* A client frame: masked (unless told otherwise, to test the server). */
static size_t frame(unsigned char *out, int opcode, bool fin, const void *p,
		    size_t n, bool masked, uint32_t *seed)
{
	size_t h = 0;
	out[h++] = (unsigned char)((fin ? 0x80 : 0) | opcode);
	unsigned char m = masked ? 0x80 : 0;
	if (n < 126) {
		out[h++] = (unsigned char)(m | n);
	} else if (n <= 0xffff) {
		out[h++] = m | 126;
		out[h++] = (unsigned char)(n >> 8);
		out[h++] = (unsigned char)n;
	} else {
		out[h++] = m | 127;
		for (int i = 7; i >= 0; i--)
			out[h++] = (unsigned char)((uint64_t)n >> (8 * i));
	}
	unsigned char key[4] = { 0 };
	if (masked) {
		*seed = *seed * 1103515245u + 12345u;
		for (int i = 0; i < 4; i++)
			key[i] = out[h++] = (unsigned char)(*seed >> (8 * i));
	}
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		out[h + i] = b[i] ^ key[i & 3];
	return h + n;
}

static void ws_send(struct wsc *c, int opcode, bool fin, const void *p, size_t n)
{
	static unsigned char out[WS_FRAME_MAX + 16];
	send_all(c->fd, out, frame(out, opcode, fin, p, n, true, &c->mask_seed));
}

/* A server frame from c->in, if whole: returns its length (0: not yet),
 * its opcode and payload (in c->in, valid until the next read). */
static size_t ws_parse(struct wsc *c, int *opcode, unsigned char **payload,
		       size_t *n)
{
	if (c->len < 2)
		return 0;
	if (c->in[1] & 0x80)
		FAIL("a server frame was masked");
	if (!(c->in[0] & 0x80))
		FAIL("the server fragmented a frame");
	size_t h = 2;
	uint64_t len = c->in[1] & 0x7f;
	if (len >= 126) {
		size_t bytes = len == 126 ? 2 : 8;
		if (c->len < h + bytes)
			return 0;
		len = 0;
		for (size_t i = 0; i < bytes; i++)
			len = len << 8 | c->in[h + i];
		h += bytes;
	}
	if (c->len < h + len)
		return 0;
	*opcode = c->in[0] & 0x0f;
	*payload = c->in + h;
	*n = (size_t)len;
	return h + (size_t)len;
}

static void ws_consume(struct wsc *c, size_t n)
{
	memmove(c->in, c->in + n, c->len - n);
	c->len -= n;
}

/* The next frame, waiting up to timeout_ms; copied to out (NUL-terminated
 * when it fits). Returns its length, or -1 at EOF. */
static long ws_read(struct wsc *c, int *opcode, char *out, size_t size,
		    int timeout_ms)
{
	unsigned char *p;
	size_t n, used;
	while (!(used = ws_parse(c, opcode, &p, &n)))
		if (!read_some(c->fd, c->in, &c->len, sizeof c->in, timeout_ms))
			return -1;
	if (n >= size)
		FAIL("a frame of %zu bytes, expected less than %zu", n, size);
	memcpy(out, p, n);
	out[n] = '\0';
	ws_consume(c, used);
	return (long)n;
}

static void ws_expect(struct wsc *c, int opcode, const void *payload, size_t n)
{
	static char got[WS_FRAME_MAX];
	int op;
	long len = ws_read(c, &op, got, sizeof got, 5000);
	if (len < 0)
		FAIL("EOF, expected a frame of opcode %d", opcode);
	if (op != opcode || (size_t)len != n || memcmp(got, payload, n) != 0)
		FAIL("expected opcode %d with %zu bytes, got opcode %d with %ld "
		     "(\"%.40s\")", opcode, n, op, len, got);
}

static void ws_expect_eof(struct wsc *c)
{
	unsigned char scratch[256];
	size_t len = 0;
	while (read_some(c->fd, scratch, &len, sizeof scratch, 5000))
		if (len == sizeof scratch)
			FAIL("bytes after the close frame");
}

/* Connects and shakes hands; head gets the server's answer up to its
 * blank line (read a byte at a time: the frames after it stay unread). */
static void ws_open_key(struct wsc *c, int port, const char *key, char *head,
			size_t size)
{
	char req[512];
	memset(c, 0, sizeof *c);
	c->fd = connect_port(port);
	c->mask_seed = (uint32_t)c->fd * 2654435761u;
	int n = snprintf(req, sizeof req,
			 "GET /ws HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\n"
			 "Connection: keep-alive, Upgrade\r\n"
			 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
			 key);
	send_all(c->fd, req, (size_t)n);
	size_t len = 0;
	while (len < 4 || memcmp(head + len - 4, "\r\n\r\n", 4) != 0) {
		if (len + 1 >= size)
			FAIL("handshake answer too long: %s", head);
		size_t before = len;
		head[len] = '\0';
		if (!read_some(c->fd, (unsigned char *)head, &len, len + 1, 5000))
			FAIL("EOF during the handshake: \"%.*s\"", (int)before, head);
	}
	head[len] = '\0';
	if (strncmp(head, "HTTP/1.1 101 ", 13) != 0)
		FAIL("handshake refused: %s", head);
}

static void ws_open(struct wsc *c, int port)
{
	char head[1024];
	ws_open_key(c, port, "x3JJHMbDL1EzLkh9GBhXDw==", head, sizeof head);
}

static void ws_close_code(struct wsc *c, int code)
{
	unsigned char want[2] = { (unsigned char)(code >> 8), (unsigned char)code };
	ws_expect(c, WS_OP_CLOSE, want, 2);
	ws_expect_eof(c);
	close(c->fd);
}

/* ------------------------------------------------------------ protocol */

static void stream_until_end(int fd)
{
	unsigned char buf[65536];
	size_t len = 0;
	while (read_some(fd, buf, &len, sizeof buf - 1, 5000))
		if (len == sizeof buf - 1)
			FAIL("the stream did not end");
	buf[len] = '\0';
	if (len < 5 || memcmp(buf + len - 5, "0\r\n\r\n", 5) != 0)
		FAIL("the stream ended without its last chunk: \"%s\"",
		     (char *)buf + (len > 60 ? len - 60 : 0));
}

void test_httpd_websocket_protocol(void)
{
	static struct wsc c, d;
	static char big[WS_MESSAGE_MAX];
	char head[1024], body[256], want[64];
	struct httpd s;
	httpd_start(&s, NULL, NULL);

	/* The handshake: RFC 6455's own example key. */
	ws_open_key(&c, s.port, "dGhlIHNhbXBsZSBub25jZQ==", head, sizeof head);
	if (!strstr(head, "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") ||
	    !strstr(head, "\r\nUpgrade: websocket\r\n"))
		FAIL("bad handshake answer:\n%s", head);
	/* Text and binary echoes, a 126-length frame. */
	ws_send(&c, WS_OP_TEXT, true, "hello", 5);
	ws_expect(&c, WS_OP_TEXT, "hello", 5);
	for (size_t i = 0; i < sizeof big; i++)
		big[i] = (char)(i * 7);
	ws_send(&c, WS_OP_BINARY, true, big, 300);
	ws_expect(&c, WS_OP_BINARY, big, 300);
	/* Fragments, with a ping between them: the pong comes first. */
	ws_send(&c, WS_OP_TEXT, false, "Hel", 3);
	ws_send(&c, WS_OP_PING, true, "p1", 2);
	ws_send(&c, WS_OP_CONTINUATION, false, "lo, ", 4);
	ws_send(&c, WS_OP_CONTINUATION, true, "world", 5);
	ws_expect(&c, WS_OP_PONG, "p1", 2);
	ws_expect(&c, WS_OP_TEXT, "Hello, world", 12);
	/* A large message in three fragments; an unsolicited pong is ignored. */
	ws_send(&c, WS_OP_BINARY, false, big, 20000);
	ws_send(&c, WS_OP_PONG, true, "", 0);
	ws_send(&c, WS_OP_CONTINUATION, false, big + 20000, 20000);
	ws_send(&c, WS_OP_CONTINUATION, true, big + 40000, 20000);
	ws_expect(&c, WS_OP_BINARY, big, 60000);
	/* Who serves us. */
	ws_send(&c, WS_OP_TEXT, true, "gen?", 4);
	snprintf(want, sizeof want, "gen=1 pid=%d", (int)s.pid);
	ws_expect(&c, WS_OP_TEXT, want, strlen(want));
	/* The closing handshake: our code back, then the server's EOF. */
	ws_send(&c, WS_OP_CLOSE, true, "\x03\xe8" "bye", 5);
	ws_close_code(&c, 1000);
	printf("  handshake (RFC 6455 key), echoes, fragments, ping, close: ok\n");

	/* Past the message limit, in fragments: close 1009; up to it, an echo
	 * (below, across an upgrade). */
	ws_open(&c, s.port);
	ws_send(&c, WS_OP_BINARY, false, big, 40000);
	ws_send(&c, WS_OP_CONTINUATION, false, big, WS_MESSAGE_MAX - 40000);
	ws_send(&c, WS_OP_CONTINUATION, true, big, 1);
	ws_close_code(&c, 1009);
	/* Past it in one frame's header: 1009 before the payload comes. */
	ws_open(&c, s.port);
	unsigned char hdr[16];
	uint32_t seed = 1;
	size_t h = frame(hdr, WS_OP_BINARY, true, "", 0, true, &seed);
	hdr[1] = 0x80 | 127;
	memmove(hdr + 10, hdr + 2, h - 2);
	memset(hdr + 2, 0, 8);
	hdr[6] = 1; /* 2^24 bytes */
	send_all(c.fd, hdr, 10 + 4);
	ws_close_code(&c, 1009);
	/* An unmasked client frame (RFC 6455 5.1), a continuation with no
	 * message begun, a fragmented ping: close 1002. */
	unsigned char raw[64];
	ws_open(&c, s.port);
	send_all(c.fd, raw, frame(raw, WS_OP_TEXT, true, "abc", 3, false, &seed));
	ws_close_code(&c, 1002);
	ws_open(&c, s.port);
	ws_send(&c, WS_OP_CONTINUATION, true, "abc", 3);
	ws_close_code(&c, 1002);
	ws_open(&c, s.port);
	ws_send(&c, WS_OP_PING, false, "abc", 3);
	ws_close_code(&c, 1002);
	printf("  oversized: 1009 (fragments, header), protocol errors: 1002\n");

	/* Not a handshake: plain GET /ws is refused. */
	ASSERT_EQ(http_get("127.0.0.1", s.port, "/ws", body, sizeof body), 400);
	ASSERT_EQ(http_get("127.0.0.1", s.port, "/stream?every=0", body, sizeof body), 400);
	ASSERT_EQ(http_get("127.0.0.1", s.port, "/stream?every=60001", body, sizeof body), 400);

	/* A generation that stops (or drains towards a successor that takes no
	 * connections: the same path) ends both cleanly: the last chunk,
	 * close 1001. */
	ws_open(&d, s.port);
	int st = connect_port(s.port);
	const char *get = "GET /stream?every=20 HTTP/1.1\r\nHost: t\r\n\r\n";
	send_all(st, get, strlen(get));
	unsigned char first[512];
	size_t len = 0;
	while (!memmem(first, len, "seq=2 ", 6))
		if (!read_some(st, first, &len, sizeof first, 5000))
			FAIL("stream ended early");
	kill(s.pid, SIGTERM);
	ws_close_code(&d, 1001);
	stream_until_end(st);
	close(st);
	int status;
	if (!wait_exit(s.pid, 15000, &status) || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		FAIL("httpd did not stop cleanly");
	printf("  at a stop: WebSocket close 1001, stream's zero-length chunk\n");

	/* The same at an upgrade with --no-pass: the successor serves the
	 * client's next connection. */
	httpd_start(&s, NULL, (char *[]){ "--no-pass", NULL });
	pid_t old = s.pid;
	ws_open(&d, s.port);
	st = connect_port(s.port);
	send_all(st, get, strlen(get));
	kill(old, SIGHUP);
	ws_close_code(&d, 1001);
	stream_until_end(st);
	close(st);
	if (!wait_exit(old, 15000, &status) || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		FAIL("the old generation did not exit cleanly");
	s.pid = read_pid(s.pidfile);
	ASSERT(s.pid != old);
	ws_open(&d, s.port);
	ws_send(&d, WS_OP_TEXT, true, "gen?", 4);
	snprintf(want, sizeof want, "gen=2 pid=%d", (int)s.pid);
	ws_expect(&d, WS_OP_TEXT, want, strlen(want));
	close(d.fd);
	httpd_stop(&s);
	printf("  --no-pass upgrade: the same; the successor serves the reconnect\n");

	/* The most a WebSocket carries across an upgrade: a message of the
	 * largest size, all but its last frame received (state), and part of
	 * that frame (pending bytes). */
	httpd_start(&s, NULL, NULL);
	ws_open(&c, s.port);
	static unsigned char last[WS_FRAME_MAX];
	size_t first_part = WS_MESSAGE_MAX - 5000;
	ws_send(&c, WS_OP_BINARY, false, big, first_part);
	size_t n = frame(last, WS_OP_CONTINUATION, true, big + first_part,
			 WS_MESSAGE_MAX - first_part, true, &c.mask_seed);
	send_all(c.fd, last, 3000);
	httpd_upgrade(&s);
	send_all(c.fd, last + 3000, n - 3000);
	ws_expect(&c, WS_OP_BINARY, big, WS_MESSAGE_MAX);
	ws_send(&c, WS_OP_TEXT, true, "gen?", 4);
	snprintf(want, sizeof want, "gen=2 pid=%d", (int)s.pid);
	ws_expect(&c, WS_OP_TEXT, want, strlen(want));
	close(c.fd);
	httpd_stop(&s);
	printf("  across an upgrade: %zu bytes of a message reassembled and 3000 "
	       "of a frame begun; its echo whole (%d bytes)\n", first_part,
	       WS_MESSAGE_MAX);
}

/* ------------------------------------------------------------ moving */

/* The reader child tells the parent the lowest generation every connection
 * has reached; the parent tells the child (WebSocket test) which generation
 * to ask for. */
struct sync {
	int to_child, from_child;   /* the parent's ends */
	int child_in, child_out;    /* the child's */
	pid_t child;
};

static void sync_start(struct sync *y)
{
	int down[2], up[2];
	if (pipe2(down, O_CLOEXEC) < 0 || pipe2(up, O_CLOEXEC) < 0)
		FAIL("pipe: %s", strerror(errno));
	y->to_child = down[1], y->child_in = down[0];
	y->from_child = up[0], y->child_out = up[1];
}

static void sync_forked(struct sync *y, bool child)
{
	if (child) {
		close(y->to_child);
		close(y->from_child);
	} else {
		close(y->child_in);
		close(y->child_out);
	}
}

static void child_reports(struct sync *y, unsigned gen)
{
	if (write(y->child_out, &gen, sizeof gen) != sizeof gen)
		FAIL("report: %s", strerror(errno));
}

/* Waits, bounded, until the child reports every connection at gen. */
static void parent_awaits(struct sync *y, unsigned gen)
{
	unsigned got = 0;
	long deadline = deadline_after(10000);
	while (got < gen) {
		struct pollfd p = { .fd = y->from_child, .events = POLLIN };
		long left = deadline - now_ms();
		if (left <= 0 || poll(&p, 1, (int)left) == 0)
			FAIL("not every connection reached generation %u", gen);
		if (read(y->from_child, &got, sizeof got) != sizeof got)
			FAIL("the reader ended (generation %u)", gen);
	}
}

static void parent_finishes(struct sync *y)
{
	int status;
	close(y->to_child); /* EOF: no more upgrades */
	if (!wait_exit(y->child, 20000, &status))
		FAIL("the reader did not finish");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("the reader failed (status 0x%x)", status);
	close(y->from_child);
}

typedef void reader_fn(struct sync *y, int port, unsigned last_gen);

/* httpd upgraded UPGRADES times while a child (reader) keeps its
 * connections busy; after each upgrade the child is told the new
 * generation (a reader that needs no telling leaves it in the pipe) and
 * the parent waits until every connection has reached it. */
static void moves_across_upgrades(reader_fn *reader)
{
	struct httpd s;
	struct sync y;
	httpd_start(&s, NULL, NULL);
	sync_start(&y);
	y.child = fork();
	if (y.child < 0)
		FAIL("fork: %s", strerror(errno));
	if (y.child == 0) {
		sync_forked(&y, true);
		reader(&y, s.port, 1 + UPGRADES);
	}
	sync_forked(&y, false);
	parent_awaits(&y, 1);
	long start = now_ms();
	for (unsigned gen = 2; gen <= 1 + UPGRADES; gen++) {
		httpd_upgrade(&s);
		/* A reader that has seen the last generation may have ended
		 * already (EPIPE): what it saw is in its reports. */
		if (write(y.to_child, &gen, sizeof gen) != sizeof gen && errno != EPIPE)
			FAIL("telling the reader: %s", strerror(errno));
		parent_awaits(&y, gen);
	}
	printf("  %d upgrades in %ld ms\n", UPGRADES, now_ms() - start);
	parent_finishes(&y);
	httpd_stop(&s);
}

/* --- /stream */

struct reader {
	int fd;
	char buf[8192];
	size_t len;
	bool body;            /* past the response head */
	unsigned long next;   /* the seq expected */
	unsigned gen, gens;   /* the last generation seen; how many seen */
};

/* Takes the whole chunks in r->buf; fails on a gap, a repeat, an end. */
static void stream_parse(struct reader *r, int i)
{
	char *p = r->buf, *end = r->buf + r->len;
	if (!r->body) {
		char *blank = memmem(p, r->len, "\r\n\r\n", 4);
		if (!blank)
			return;
		if (strncmp(p, "HTTP/1.1 200 ", 13) != 0 ||
		    !memmem(p, (size_t)(blank - p), "Transfer-Encoding: chunked", 26))
			FAIL("stream %d: bad head \"%.*s\"", i, (int)(blank - p), p);
		r->body = true;
		p = blank + 4;
	}
	for (;;) {
		char *crlf = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (!crlf)
			break;
		unsigned long size = strtoul(p, NULL, 16);
		if (size == 0)
			FAIL("stream %d ended (after seq %lu)", i, r->next - 1);
		if ((size_t)(end - crlf) < 2 + size + 2)
			break;
		char line[128];
		if (size >= sizeof line || memcmp(crlf + 2 + size, "\r\n", 2) != 0)
			FAIL("stream %d: bad chunk", i);
		memcpy(line, crlf + 2, size);
		line[size] = '\0';
		unsigned long seq;
		unsigned gen;
		int pid;
		if (sscanf(line, "seq=%lu gen=%u pid=%d\n", &seq, &gen, &pid) != 3)
			FAIL("stream %d: bad event \"%s\"", i, line);
		if (seq != r->next)
			FAIL("stream %d: seq %lu after %lu (%s)", i, seq, r->next - 1,
			     seq > r->next ? "a gap" : "a repeat");
		if (gen < r->gen)
			FAIL("stream %d: generation %u after %u", i, gen, r->gen);
		if (gen != r->gen)
			r->gens++;
		r->gen = gen;
		r->next++;
		p = crlf + 2 + size + 2;
	}
	memmove(r->buf, p, (size_t)(end - p));
	r->len = (size_t)(end - p);
}

static unsigned min_gen(const struct reader *r, int n)
{
	unsigned m = r[0].gen;
	for (int i = 1; i < n; i++)
		if (r[i].gen < m)
			m = r[i].gen;
	return m;
}

static void stream_reader(struct sync *y, int port, unsigned last_gen)
{
	static struct reader r[STREAMS];
	struct pollfd p[STREAMS + 1];
	const char *get = "GET /stream?every=10 HTTP/1.1\r\nHost: test\r\n\r\n";
	for (int i = 0; i < STREAMS; i++) {
		r[i] = (struct reader){ .fd = connect_port(port), .next = 1 };
		send_all(r[i].fd, get, strlen(get));
		p[i] = (struct pollfd){ .fd = r[i].fd, .events = POLLIN };
	}
	p[STREAMS] = (struct pollfd){ .fd = y->child_in, .events = POLLIN };
	unsigned reported = 0;
	long deadline = 0; /* set once the parent is done */
	for (;;) {
		unsigned m = min_gen(r, STREAMS);
		if (m > reported)
			child_reports(y, reported = m);
		if (deadline && m >= last_gen)
			break;
		if (deadline && now_ms() > deadline)
			FAIL("streams did not all reach generation %u", last_gen);
		if (poll(p, STREAMS + 1, 1000) < 0 && errno != EINTR)
			FAIL("poll: %s", strerror(errno));
		for (int i = 0; i < STREAMS; i++) {
			if (!p[i].revents)
				continue;
			size_t room = sizeof r[i].buf - r[i].len;
			ssize_t n = recv(r[i].fd, r[i].buf + r[i].len, room, 0);
			if (n <= 0)
				FAIL("stream %d: %s after seq %lu", i,
				     n ? strerror(errno) : "EOF", r[i].next - 1);
			r[i].len += (size_t)n;
			stream_parse(&r[i], i);
		}
		if (p[STREAMS].revents) { /* EOF: the parent is done */
			p[STREAMS].fd = -1;
			deadline = deadline_after(10000);
		}
	}
	unsigned long events = 0, least = ULONG_MAX;
	unsigned gens = UINT32_MAX;
	for (int i = 0; i < STREAMS; i++) {
		events += r[i].next - 1;
		least = r[i].next - 1 < least ? r[i].next - 1 : least;
		gens = r[i].gens < gens ? r[i].gens : gens;
	}
	printf("  %d streams x %u upgrades: %lu events (at least %lu per "
	       "stream), no gap, no repeat, no end; every stream saw %u "
	       "generations\n", STREAMS, last_gen - 1, events, least, gens);
	if (gens < last_gen)
		FAIL("a stream saw only %u generations", gens);
	fflush(NULL);
	_exit(0);
}

void test_httpd_stream_moves(void)
{
	moves_across_upgrades(stream_reader);
}

/* --- /ws */

enum { QUEUE = 8, GEN_QUESTION = -1 };

struct peer {
	struct wsc ws;
	int expect[QUEUE];      /* message numbers, or GEN_QUESTION */
	int head, count;
	int next;               /* the next message's number */
	unsigned char tail[512]; /* a frame's rest, sent at the next tick */
	size_t tail_len;
	bool ask;               /* "gen?" wanted */
	unsigned gen, gens;
	long echoes;
};

/* Message k of peer i: its bytes and opcode, the same on both ends. */
static size_t message(int i, int k, char *out, int *opcode)
{
	int n = snprintf(out, 64, "peer %d message %d ", i, k);
	size_t len = (size_t)n + (size_t)((k * 37 + i) % 200);
	for (size_t j = (size_t)n; j < len; j++)
		out[j] = (char)('a' + (j + (size_t)k) % 26);
	*opcode = k % 2 ? WS_OP_BINARY : WS_OP_TEXT;
	return len;
}

static void push(struct peer *p, int what)
{
	if (p->count == QUEUE)
		FAIL("too many answers outstanding");
	p->expect[(p->head + p->count++) % QUEUE] = what;
}

/* One tick (10 ms) of peer i: the rest of a frame begun, a "gen?", or a
 * new message: some whole, some in two fragments, some with the header
 * cut, so that connections move with a fragment reassembled (state) or a
 * partial frame (pending bytes). */
static void peer_tick(struct peer *p, int i)
{
	static unsigned char out[1024];
	char msg[300];
	int opcode;
	if (p->tail_len) {
		send_all(p->ws.fd, p->tail, p->tail_len);
		p->tail_len = 0;
		return;
	}
	if (p->ask) {
		ws_send(&p->ws, WS_OP_TEXT, true, "gen?", 4);
		push(p, GEN_QUESTION);
		p->ask = false;
		return;
	}
	if (p->count > QUEUE / 2)
		return;
	int k = p->next++;
	size_t len = message(i, k, msg, &opcode);
	push(p, k);
	size_t n;
	switch (k % 3) {
	case 0: /* whole */
		ws_send(&p->ws, opcode, true, msg, len);
		break;
	case 1: /* two fragments, the second at the next tick */
		ws_send(&p->ws, opcode, false, msg, len / 2);
		p->tail_len = frame(p->tail, WS_OP_CONTINUATION, true, msg + len / 2,
				    len - len / 2, true, &p->ws.mask_seed);
		break;
	default: /* a frame cut after 3 bytes */
		n = frame(out, opcode, true, msg, len, true, &p->ws.mask_seed);
		send_all(p->ws.fd, out, 3);
		memcpy(p->tail, out + 3, n - 3);
		p->tail_len = n - 3;
		break;
	}
}

/* Checks every whole answer against what peer i expects. */
static void peer_read(struct peer *p, int i)
{
	int op;
	unsigned char *payload;
	size_t n, used;
	while ((used = ws_parse(&p->ws, &op, &payload, &n))) {
		if (op == WS_OP_CLOSE)
			FAIL("peer %d: closed by the server", i);
		if (!p->count)
			FAIL("peer %d: an answer nobody asked for", i);
		int what = p->expect[p->head];
		p->head = (p->head + 1) % QUEUE;
		p->count--;
		if (what == GEN_QUESTION) {
			unsigned gen;
			char text[64];
			snprintf(text, sizeof text, "%.*s", (int)n, (char *)payload);
			if (op != WS_OP_TEXT || sscanf(text, "gen=%u pid=", &gen) != 1)
				FAIL("peer %d: \"%s\" for gen?", i, text);
			if (gen < p->gen)
				FAIL("peer %d: generation %u after %u", i, gen, p->gen);
			if (gen != p->gen)
				p->gens++;
			p->gen = gen;
		} else {
			char msg[300];
			int opcode;
			size_t len = message(i, what, msg, &opcode);
			if (op != opcode || n != len || memcmp(payload, msg, len) != 0)
				FAIL("peer %d: echo of message %d does not match", i, what);
			p->echoes++;
		}
		ws_consume(&p->ws, used);
	}
}

static void ws_reader(struct sync *y, int port, unsigned last_gen)
{
	static struct peer peers[SOCKETS];
	struct pollfd p[SOCKETS + 1];
	for (int i = 0; i < SOCKETS; i++) {
		ws_open(&peers[i].ws, port);
		peers[i].ask = true;
		p[i] = (struct pollfd){ .fd = peers[i].ws.fd, .events = POLLIN };
	}
	p[SOCKETS] = (struct pollfd){ .fd = y->child_in, .events = POLLIN };
	unsigned reported = 0, asked = 1;
	long next_tick = now_ms(), deadline = 0;
	for (;;) {
		unsigned m = peers[0].gen;
		bool idle = true;
		for (int i = 0; i < SOCKETS; i++) {
			m = peers[i].gen < m ? peers[i].gen : m;
			idle = idle && !peers[i].count && !peers[i].tail_len;
		}
		if (m > reported)
			child_reports(y, reported = m);
		if (deadline && m >= last_gen && idle)
			break;
		if (deadline && now_ms() > deadline)
			FAIL("peers did not all reach generation %u", last_gen);
		long now = now_ms();
		if (now >= next_tick) {
			for (int i = 0; i < SOCKETS; i++)
				if (!deadline || peers[i].tail_len || peers[i].ask)
					peer_tick(&peers[i], i);
			next_tick = now + 10;
		}
		long wait = next_tick - now_ms();
		if (poll(p, SOCKETS + 1, wait > 0 ? (int)wait : 0) < 0 && errno != EINTR)
			FAIL("poll: %s", strerror(errno));
		for (int i = 0; i < SOCKETS; i++) {
			if (!p[i].revents)
				continue;
			struct wsc *c = &peers[i].ws;
			ssize_t n = recv(c->fd, c->in + c->len, sizeof c->in - c->len, 0);
			if (n <= 0)
				FAIL("peer %d disconnected: %s", i,
				     n ? strerror(errno) : "EOF");
			c->len += (size_t)n;
			peer_read(&peers[i], i);
		}
		if (p[SOCKETS].revents) {
			unsigned gen;
			ssize_t n = read(y->child_in, &gen, sizeof gen);
			if (n == sizeof gen && gen > asked) { /* ask everyone */
				asked = gen;
				for (int i = 0; i < SOCKETS; i++)
					peers[i].ask = true;
			} else if (n <= 0) { /* the parent is done */
				p[SOCKETS].fd = -1;
				deadline = deadline_after(10000);
			}
		}
	}
	long echoes = 0, least = LONG_MAX;
	unsigned gens = UINT32_MAX;
	for (int i = 0; i < SOCKETS; i++) {
		echoes += peers[i].echoes;
		least = peers[i].echoes < least ? peers[i].echoes : least;
		gens = peers[i].gens < gens ? peers[i].gens : gens;
	}
	printf("  %d WebSockets x %u upgrades: %ld echoes (at least %ld per "
	       "connection), all matching, 0 disconnects; every connection "
	       "saw %u generations\n", SOCKETS, last_gen - 1, echoes, least, gens);
	if (gens < last_gen)
		FAIL("a connection saw only %u generations", gens);
	fflush(NULL);
	_exit(0);
}

void test_httpd_websocket_moves(void)
{
	moves_across_upgrades(ws_reader);
}
