/* ws.c — httpd's WebSocket frames (examples/httpd/ws.c): a client's bytes,
 * driven as conn.c drives them (into a WS_FRAME_MAX buffer, each whole
 * frame taken, stopping at a close), give the same answers whether they
 * come at once or cut in two; an answer lies in the input or in the
 * reassembly buffer, and a control answer is at most 125 bytes; the
 * buffer never fills without a frame to take; between frames the state
 * saves and loads back unchanged. */
#include "check.h"
#include "ws.h"

/* The answers, one after another: opcode, length, payload. */
struct log {
	unsigned char *p;
	size_t len, cap;
};

static void log_add(struct log *l, const struct ws_reply *r)
{
	size_t need = l->len + 1 + sizeof r->len + r->len;
	if (need > l->cap) {
		l->cap = need * 2;
		l->p = realloc(l->p, l->cap);
		CHECK(l->p);
	}
	l->p[l->len++] = r->opcode;
	memcpy(l->p + l->len, &r->len, sizeof r->len);
	l->len += sizeof r->len;
	memcpy(l->p + l->len, r->payload, r->len);
	l->len += r->len;
}

static void check_state(const struct ws *w)
{
	static unsigned char saved[WS_STATE_HEAD + WS_MESSAGE_MAX];
	struct ws back;
	CHECK(w->opcode == 0 || w->opcode == WS_OP_TEXT || w->opcode == WS_OP_BINARY);
	CHECK(w->len <= WS_MESSAGE_MAX && (w->opcode || w->len == 0));
	size_t n = ws_save(w, saved);
	CHECK(n <= sizeof saved);
	CHECK(ws_load(&back, saved, n));
	CHECK(back.opcode == w->opcode && back.len == w->len);
	CHECK(w->len == 0 || memcmp(back.msg, w->msg, w->len) == 0);
	ws_free(&back);
}

/* Feeds data in two pieces, cut at cut; logs every answer. */
static void run(const uint8_t *data, size_t size, size_t cut, struct log *l)
{
	static unsigned char in[WS_FRAME_MAX];
	struct ws w = { 0 };
	size_t len = 0, fed = 0;
	while (fed < size) {
		size_t piece = fed < cut ? cut - fed : size - fed;
		if (piece > sizeof in - len)
			piece = sizeof in - len;
		memcpy(in + len, data + fed, piece);
		len += piece;
		fed += piece;
		for (;;) {
			struct ws_reply r;
			size_t used = ws_receive(&w, in, len, &r);
			if (!used) {
				CHECK(len < sizeof in); /* a whole frame fits */
				break;
			}
			CHECK(used <= len);
			bool in_input = r.payload >= in && r.payload + r.len <= in + len;
			bool in_msg = w.msg && r.payload >= w.msg &&
				      r.payload + r.len <= w.msg + WS_MESSAGE_MAX;
			bool ours = r.payload == r.code && r.len == 2;
			CHECK(r.len == 0 || in_input || in_msg || ours);
			CHECK(r.opcode != WS_OP_PONG || r.len <= 125);
			CHECK(r.opcode != WS_OP_CLOSE || r.len == 0 || r.len == 2);
			CHECK(r.len <= WS_MESSAGE_MAX);
			if (r.opcode)
				log_add(l, &r);
			if (r.opcode == WS_OP_CLOSE) {
				ws_free(&w);
				return;
			}
			memmove(in, in + used, len - used);
			len -= used;
			check_state(&w);
		}
	}
	ws_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct log whole = { 0 }, parts = { 0 };
	size_t cut = size ? data[0] * size / 256 : 0;
	run(data, size, size, &whole);
	run(data, size, cut, &parts);
	CHECK(whole.len == parts.len);
	CHECK(whole.len == 0 || memcmp(whole.p, parts.p, whole.len) == 0);
	free(whole.p);
	free(parts.p);

	/* A header says the length it was given. */
	unsigned char h[WS_HEADER_MAX];
	size_t n = size >= 3 ? (size_t)data[1] << 8 | data[2] : size;
	size_t hl = ws_header(h, WS_OP_BINARY, n);
	CHECK(hl == (n < 126 ? 2u : 4u));
	CHECK(h[0] == (0x80 | WS_OP_BINARY) && !(h[1] & 0x80));
	return 0;
}
