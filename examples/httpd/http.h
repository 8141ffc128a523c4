/* http.h — HTTP/1.1 request heads for httpd, as pure functions.
 *
 * No globals, no I/O, no allocation: the caller owns every byte, and the
 * spans in a struct request point into the caller's buffer. A zeroed
 * struct request is valid ("nothing parsed"). Only this header is needed
 * to call them, so a fuzzer or a test can drive the parser directly.
 *
 * What it understands is what httpd serves: GET and HEAD of "/", of
 * "/sleep?ms=N" and of "/stream?every=MS", GET of "/ws" with the headers
 * of a WebSocket handshake (RFC 6455 4.2.1), Content-Length bodies
 * (skipped, never read), the Connection header. Everything else gets the
 * status that says why. */
#ifndef HTTPD_HTTP_H
#define HTTPD_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { SLEEP_MAX_MS = 60000 }; /* the longest /sleep?ms=N */

/* Bytes in someone else's buffer; not NUL-terminated. */
struct span {
	const char *p;
	size_t n;
};

struct request {
	int status;                  /* 0 while nothing is wrong */
	bool http11, head_only;
	bool conn_close, conn_keep;  /* tokens of the Connection header */
	bool conn_upgrade, upgrade_websocket, ws_version_13;
	bool has_length;
	uint64_t length;
	unsigned sleep_ms;
	unsigned stream_ms;          /* /stream: the interval; 0 otherwise */
	bool websocket;              /* /ws: status 101 */
	struct span ws_key;          /* Sec-WebSocket-Key */
	struct span method, target;
	/* what the answer means for the connection */
	bool close_after;            /* close once answered */
	uint64_t body_length;        /* request body bytes to discard */
};

/* Returns the length of the head in in[0, len) up to and including its
 * blank line, or 0 if it is incomplete. *scanned (0 at first) is where the
 * search resumes; it is advanced on 0 and must be reset when in changes. */
size_t http_head_length(const char *in, size_t len, size_t *scanned);

/* Parses head[0, len) (a whole head as http_head_length measured it) into
 * *r, overwriting it. Never fails: r->status is 200 or the error to answer. */
void http_parse_head(struct request *r, const char *head, size_t len);

/* The reason phrase of a status we send ("Error" for one we do not). */
const char *http_reason(int status);

#endif
