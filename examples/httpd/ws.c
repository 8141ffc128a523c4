/* ws.c — RFC 6455 frames for httpd's echo: the handshake's key, parsing
 * the client's frames, reassembling fragments, and the state that moves.
 *
 * A frame is taken only when it is whole (the input buffer holds
 * WS_FRAME_MAX bytes), which keeps the parser to one function and makes
 * "between two frames" the only place a connection can move. What RFC 6455
 * leaves to the endpoint: text is echoed without checking its UTF-8 (an
 * echo changes nothing in it), and no extension or subprotocol is offered. */
#include "ws.h"
#include "sha1.h"
#include "state.h"

#include <stdlib.h>
#include <string.h>

static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

static void base64(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		*out++ = digits[v >> 18 & 63];
		*out++ = digits[v >> 12 & 63];
		*out++ = i + 1 < len ? digits[v >> 6 & 63] : '=';
		*out++ = i + 2 < len ? digits[v & 63] : '=';
	}
	*out = '\0';
}

void ws_accept(const char *key, size_t key_len, char out[WS_ACCEPT_SIZE + 1])
{
	char text[WS_KEY_SIZE + sizeof guid];
	unsigned char digest[SHA1_SIZE];
	if (key_len > WS_KEY_SIZE) /* http.c lets only 24 through */
		key_len = WS_KEY_SIZE;
	memcpy(text, key, key_len);
	memcpy(text + key_len, guid, sizeof guid - 1);
	sha1(text, key_len + sizeof guid - 1, digest);
	base64(digest, sizeof digest, out);
}

static size_t closing(struct ws_reply *r, unsigned code)
{
	r->opcode = WS_OP_CLOSE;
	r->code[0] = (unsigned char)(code >> 8);
	r->code[1] = (unsigned char)code;
	r->payload = r->code;
	r->len = 2;
	return 1; /* not 0 ("incomplete"): after a close nothing more is read */
}

static bool append(struct ws *w, const unsigned char *p, size_t n)
{
	if (!w->msg && !(w->msg = malloc(WS_MESSAGE_MAX)))
		return false;
	memcpy(w->msg + w->len, p, n);
	w->len += n;
	return true;
}

size_t ws_receive(struct ws *w, unsigned char *in, size_t len,
		  struct ws_reply *r)
{
	*r = (struct ws_reply){ 0 };
	if (len < 2)
		return 0;
	bool fin = in[0] & 0x80;
	uint8_t opcode = in[0] & 0x0f;
	bool control = opcode & 0x8;
	uint64_t n = in[1] & 0x7f;
	size_t head = 2;
	/* RFC 6455 5.1: a server must close on an unmasked client frame. */
	if ((in[0] & 0x70) || !(in[1] & 0x80))
		return closing(r, WS_CLOSE_PROTOCOL);
	if (n >= 126) {
		size_t bytes = n == 126 ? 2 : 8;
		if (len < head + bytes)
			return 0;
		n = 0;
		for (size_t i = 0; i < bytes; i++)
			n = n << 8 | in[head + i];
		head += bytes;
		if (n >> 63)
			return closing(r, WS_CLOSE_PROTOCOL);
	}
	switch (opcode) {
	case WS_OP_CONTINUATION:
		if (!w->opcode)
			return closing(r, WS_CLOSE_PROTOCOL);
		break;
	case WS_OP_TEXT: case WS_OP_BINARY:
		if (w->opcode) /* a new message inside a fragmented one */
			return closing(r, WS_CLOSE_PROTOCOL);
		break;
	case WS_OP_CLOSE: case WS_OP_PING: case WS_OP_PONG:
		if (!fin || n > 125)
			return closing(r, WS_CLOSE_PROTOCOL);
		break;
	default:
		return closing(r, WS_CLOSE_PROTOCOL);
	}
	if (!control && n > WS_MESSAGE_MAX - w->len)
		return closing(r, WS_CLOSE_TOO_BIG);
	if (len < head + 4 || len - head - 4 < n)
		return 0;
	const unsigned char *mask = in + head;
	unsigned char *payload = in + head + 4;
	for (size_t i = 0; i < n; i++)
		payload[i] ^= mask[i & 3];
	size_t used = head + 4 + (size_t)n;

	switch (opcode) {
	case WS_OP_PING:
		*r = (struct ws_reply){ WS_OP_PONG, payload, (size_t)n, { 0 } };
		return used;
	case WS_OP_PONG:
		return used;
	case WS_OP_CLOSE:
		if (n == 1)
			return closing(r, WS_CLOSE_PROTOCOL);
		/* Answer with the client's code (no reason): the handshake's
		 * second half. */
		*r = (struct ws_reply){ WS_OP_CLOSE, payload, n ? 2 : 0, { 0 } };
		return used;
	}
	if (opcode != WS_OP_CONTINUATION && fin) { /* whole: echo in place */
		*r = (struct ws_reply){ opcode, payload, (size_t)n, { 0 } };
		return used;
	}
	if (!append(w, payload, (size_t)n))
		return closing(r, WS_CLOSE_INTERNAL);
	if (opcode != WS_OP_CONTINUATION)
		w->opcode = opcode;
	if (fin) {
		*r = (struct ws_reply){ w->opcode, w->msg, w->len, { 0 } };
		w->opcode = 0; /* w->msg stays valid until the next frame */
		w->len = 0;
	}
	return used;
}

size_t ws_header(unsigned char *out, uint8_t opcode, size_t len)
{
	out[0] = (unsigned char)(0x80 | opcode);
	if (len < 126) {
		out[1] = (unsigned char)len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)len;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	return 10;
}

void ws_free(struct ws *w)
{
	free(w->msg);
	*w = (struct ws){ 0 };
}

size_t ws_save(const struct ws *w, unsigned char *out)
{
	out[0] = STATE_WS;
	out[1] = STATE_VERSION;
	out[2] = w->opcode;
	if (w->opcode)
		memcpy(out + WS_STATE_HEAD, w->msg, w->len);
	return WS_STATE_HEAD + (w->opcode ? w->len : 0);
}

bool ws_load(struct ws *w, const void *state, size_t len)
{
	const unsigned char *p = state;
	*w = (struct ws){ 0 };
	if (len < WS_STATE_HEAD || p[0] != STATE_WS || p[1] != STATE_VERSION ||
	    len - WS_STATE_HEAD > WS_MESSAGE_MAX)
		return false;
	if (p[2] == 0)
		return len == WS_STATE_HEAD;
	if ((p[2] != WS_OP_TEXT && p[2] != WS_OP_BINARY) ||
	    !append(w, p + WS_STATE_HEAD, len - WS_STATE_HEAD))
		return false;
	w->opcode = p[2];
	return true;
}
