/* ws.h — WebSocket (RFC 6455) for GET /ws: the handshake's accept value,
 * and frames in, answers out. Pure functions: conn.c does the I/O.
 *
 * httpd echoes every message (text or binary, whole or in fragments),
 * answers pings, and completes the closing handshake. What moves with the
 * connection between two frames is struct ws (a fragmented message being
 * reassembled); the bytes of a frame not wholly received yet travel as
 * pending input. */
#ifndef HTTPD_WS_H
#define HTTPD_WS_H

#include <handoff.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	WS_OP_CONTINUATION = 0x0, WS_OP_TEXT = 0x1, WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8, WS_OP_PING = 0x9, WS_OP_PONG = 0xa,
	WS_STATE_HEAD = 3,
	/* A message, reassembled, must fit in the state that moves with
	 * the connection: 64 KiB less our state's head. Larger: close 1009. */
	WS_MESSAGE_MAX = HANDOFF_STATE_MAX - WS_STATE_HEAD,
	WS_HEADER_MAX = 14,    /* 2, 8 bytes of length, 4 of mask */
	WS_FRAME_MAX = WS_HEADER_MAX + WS_MESSAGE_MAX,
	WS_KEY_SIZE = 24,      /* base64 of 16 bytes */
	WS_ACCEPT_SIZE = 28,   /* base64 of a SHA-1 */
	/* close codes (RFC 6455 7.4.1) */
	WS_CLOSE_NORMAL = 1000, WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL = 1002, WS_CLOSE_TOO_BIG = 1009,
	WS_CLOSE_INTERNAL = 1011,
};

/* Between frames: the fragmented message being reassembled, if any. */
struct ws {
	uint8_t opcode;       /* its first frame's: text or binary; 0: none */
	size_t len;
	unsigned char *msg;   /* malloc'ed; kept between messages */
};

/* What one received frame asks the server to send: nothing (opcode 0), an
 * echo, a pong, or a close frame, after which the connection ends. */
struct ws_reply {
	uint8_t opcode;
	const unsigned char *payload; /* into the input or into ws->msg */
	size_t len;
	unsigned char code[2];        /* a close's payload when we chose it */
};

/* Sec-WebSocket-Accept for key: base64(SHA-1(key GUID)); out gets
 * WS_ACCEPT_SIZE characters and a NUL. */
void ws_accept(const char *key, size_t key_len, char out[WS_ACCEPT_SIZE + 1]);

/* Takes the frame at the start of in[0, len) (a client's: masked; unmasked
 * in place). Returns 0 while it is incomplete, else the bytes it took, with
 * *r saying what to answer; after a close, read no further frames. A protocol error (an unmasked frame, a control
 * frame fragmented or too long, a continuation out of place) answers close
 * 1002, a message past WS_MESSAGE_MAX close 1009, as soon as the header
 * shows it. */
size_t ws_receive(struct ws *w, unsigned char *in, size_t len,
		  struct ws_reply *r);
/* A frame's header for a payload of len bytes (server frames are not
 * masked); returns its length, at most WS_HEADER_MAX. */
size_t ws_header(unsigned char *out, uint8_t opcode, size_t len);
void ws_free(struct ws *w);

/* The state handoff_pass() carries (out: WS_STATE_HEAD + WS_MESSAGE_MAX
 * bytes); returns its length. */
size_t ws_save(const struct ws *w, unsigned char *out);
bool ws_load(struct ws *w, const void *state, size_t len);

#endif
