/* http.c — parsing an HTTP/1.1 request head into a struct request.
 *
 * Strict where leniency lets requests be smuggled (two Content-Lengths,
 * chunked bodies we could not skip, obsolete line folding, control bytes),
 * and silent about every header httpd does not act on. See http.h for the
 * contracts: no globals, no I/O, no allocation. */
#include "http.h"
#include "stream.h"
#include "ws.h"

#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------ spans */

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

/* Returns the line starting at *p, without its CR LF, and moves *p on. In
 * a head http_head_length measured a '\n' always follows before end; a
 * line without one runs to end, so any input is safe. */
static struct span next_line(const char **p, const char *end)
{
	const char *nl = memchr(*p, '\n', (size_t)(end - *p));
	struct span line = { *p, (size_t)((nl ? nl : end) - *p) };
	if (line.n && line.p[line.n - 1] == '\r')
		line.n--;
	*p = nl ? nl + 1 : end;
	return line;
}

/* ------------------------------------------------------------ the head */

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
		else if (span_is_nocase(token, "upgrade"))
			r->conn_upgrade = true;
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
	else if (span_is_nocase(name, "upgrade"))
		r->upgrade_websocket = span_is_nocase(value, "websocket");
	else if (span_is_nocase(name, "sec-websocket-key"))
		r->ws_key = value;
	else if (span_is_nocase(name, "sec-websocket-version"))
		r->ws_version_13 = span_is(value, "13");
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

static int route_stream(struct request *r, struct span query)
{
	int64_t ms = STREAM_EVERY_DEFAULT;
	if (query.n)
		ms = query.n > 6 && memcmp(query.p, "every=", 6) == 0
			? span_number((struct span){ query.p + 6, query.n - 6 }, 5)
			: -1;
	if (ms < 1 || ms > STREAM_EVERY_MAX)
		return 400;
	/* Chunked encoding is HTTP/1.1's. */
	if (!r->http11)
		return 505;
	r->stream_ms = (unsigned)ms;
	return 200;
}

/* RFC 6455 4.2.1: an HTTP/1.1 GET with Upgrade: websocket, Connection:
 * Upgrade, a 16-byte key in base64 and version 13. */
static int route_ws(struct request *r)
{
	if (r->head_only || !r->http11 || !r->upgrade_websocket || !r->conn_upgrade ||
	    r->ws_key.n != WS_KEY_SIZE || !r->ws_version_13 || r->has_length)
		return 400;
	r->websocket = true;
	return 101;
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
	else if (span_is(path, "/stream"))
		r->status = route_stream(r, query);
	else if (span_is(path, "/ws"))
		r->status = route_ws(r);
	else
		r->status = 404;
}

void http_parse_head(struct request *r, const char *head, size_t len)
{
	const char *p = head, *stop = head + len;
	*r = (struct request){ 0 };
	parse_request_line(r, next_line(&p, stop));
	while (!r->status && p < stop) {
		struct span line = next_line(&p, stop);
		if (line.n == 0)
			break;
		parse_header(r, line);
	}
	if (!r->status)
		route(r);
	/* After 400, 501 or 505 the framing cannot be trusted: close. */
	bool framed = r->status == 200 || r->status == 404 ||
		      r->status == 405 || r->status == 101;
	bool keep = r->http11 ? !r->conn_close : r->conn_keep && !r->conn_close;
	r->close_after = !framed || !keep;
	r->body_length = framed && r->has_length ? r->length : 0;
}

size_t http_head_length(const char *in, size_t len, size_t *scanned)
{
	for (size_t i = *scanned; i < len; i++) {
		if (in[i] != '\n')
			continue;
		if (i + 1 < len && in[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && in[i + 1] == '\r' && in[i + 2] == '\n')
			return i + 3;
	}
	/* A client sending a byte at a time must not cost O(n^2). */
	*scanned = len > 2 ? len - 2 : 0;
	return 0;
}

/* ------------------------------------------------------------ responses */

const char *http_reason(int status)
{
	switch (status) {
	case 101: return "Switching Protocols";
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
