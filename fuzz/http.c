/* http.c — httpd's request parser (examples/httpd/http.c): the head-length
 * scan, fed the bytes at once and in two pieces, must agree; a head it
 * measured must parse to a status httpd can send, with spans inside the
 * buffer and a body length only for a framed request; /stream and /ws only
 * within their limits. */
#include "check.h"
#include "http.h"
#include "stream.h"
#include "ws.h"

static int sendable(int status)
{
	static const int known[] = { 101, 200, 400, 404, 405, 501, 505 };
	for (size_t i = 0; i < sizeof known / sizeof *known; i++)
		if (status == known[i])
			return 1;
	return 0;
}

static void check_span(struct span s, const char *buf, size_t len)
{
	CHECK(s.n == 0 || (s.p >= buf && s.p + s.n <= buf + len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Its own allocation, exactly the bytes: one read past the end is an
	 * ASan report. */
	char *in = malloc(size ? size : 1);
	CHECK(in);
	memcpy(in, data, size);

	size_t scanned = 0;
	size_t whole = http_head_length(in, size, &scanned);
	CHECK(whole <= size);
	/* In two pieces, as a client sends them: the same head length. */
	size_t cut = size ? (size_t)data[0] % (size + 1) : 0, resumed = 0;
	size_t first = http_head_length(in, cut, &resumed);
	size_t second = first ? first : http_head_length(in, size, &resumed);
	CHECK(first == 0 || first == whole);
	CHECK(second == whole);

	if (whole) {
		struct request r;
		memset(&r, 0x5a, sizeof r);
		http_parse_head(&r, in, whole);
		CHECK(sendable(r.status));
		CHECK(r.status != 200 || r.sleep_ms <= SLEEP_MAX_MS);
		CHECK(r.stream_ms <= STREAM_EVERY_MAX);
		CHECK(r.stream_ms == 0 || (r.status == 200 && r.http11));
		/* A handshake only with a key of the right size, no body. */
		CHECK((r.status == 101) == r.websocket);
		CHECK(!r.websocket || (r.ws_key.n == WS_KEY_SIZE &&
				       r.body_length == 0 && !r.head_only));
		check_span(r.ws_key, in, whole);
		check_span(r.method, in, whole);
		check_span(r.target, in, whole);
		/* After an error the framing cannot be trusted: close, skip none. */
		if (r.status == 400 || r.status == 501 || r.status == 505)
			CHECK(r.close_after && r.body_length == 0);
		CHECK(r.body_length == 0 || r.has_length);
		CHECK(http_reason(r.status)[0]);
	}
	free(in);
	return 0;
}
