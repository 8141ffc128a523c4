/* conn_wire.c — encoding and checking the connection messages (see
 * conn_wire.h). Everything a peer sends is bounded before it is used: the
 * channel's other end may be an older, newer, buggy or hostile generation. */
#include "conn_wire.h"

#include <errno.h>
#include <string.h>

static const unsigned char magic[4] = { 'H', 'O', 'C', 'N' };
enum { FIELD_HEAD = 8, RECORD_HEAD = 4 };

static uint32_t get16(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t get32(const unsigned char *p)
{
	return get16(p) | get16(p + 2) << 16;
}

static uint64_t get64(const unsigned char *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put16(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
}

static void put32(unsigned char *p, uint32_t v)
{
	put16(p, v & 0xffff);
	put16(p + 2, v >> 16);
}

static void put64(unsigned char *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

int ho_wire_open(struct ho_wire_reader *r, const void *message, size_t length)
{
	const unsigned char *m = message;
	*r = (struct ho_wire_reader){ 0 };
	if (length < HO_WIRE_HEADER_SIZE || memcmp(m, magic, sizeof magic) != 0)
		return -EPROTO;
	unsigned version = get16(m + 4), type = get16(m + 6);
	if (version == 0 || type < HO_WIRE_CONNECTIONS || type > HO_WIRE_REFUSED)
		return -EPROTO;
	uint32_t header_length = get32(m + 8), count = get32(m + 12);
	if (header_length < HO_WIRE_HEADER_SIZE || header_length > length ||
	    length > HO_WIRE_MESSAGE_MAX || count > HO_WIRE_MAX_RECORDS)
		return -EBADMSG;
	*r = (struct ho_wire_reader){ .message = m, .length = length,
				      .offset = header_length, .version = version,
				      .type = type, .count = count };
	return 0;
}

/* One field into *out; 0, or -EBADMSG. seen: the tags met so far. */
static int take_field(unsigned tag, unsigned flags, const unsigned char *value,
		      uint32_t length, unsigned *seen, struct ho_wire_record *out)
{
	if (tag >= HO_WIRE_ID && tag <= HO_WIRE_ERROR) {
		if (*seen & 1u << tag)
			return -EBADMSG; /* which of two would we believe? */
		*seen |= 1u << tag;
	}
	switch (tag) {
	case HO_WIRE_ID:
		if (length != 8)
			return -EBADMSG;
		out->id = get64(value);
		return 0;
	case HO_WIRE_PENDING:
		if (length > HO_WIRE_PENDING_MAX)
			return -EBADMSG;
		out->pending = value;
		out->pending_length = length;
		return 0;
	case HO_WIRE_STATE:
		if (length > HO_WIRE_STATE_MAX)
			return -EBADMSG;
		out->state = value;
		out->state_length = length;
		return 0;
	case HO_WIRE_ERROR:
		if (length != 4 || get32(value) == 0 || get32(value) > 4095)
			return -EBADMSG;
		out->error = (int)get32(value);
		return 0;
	default:
		if (flags & HO_WIRE_CRITICAL)
			out->unknown_critical = 1;
		return 0;
	}
}

int ho_wire_next(struct ho_wire_reader *r, struct ho_wire_record *out)
{
	*out = (struct ho_wire_record){ 0 };
	if (r->read == r->count)
		return r->offset == r->length ? 0 : -EBADMSG;
	size_t left = r->length - r->offset;
	if (left < RECORD_HEAD)
		return -EBADMSG;
	const unsigned char *record = r->message + r->offset;
	uint32_t record_length = get32(record);
	if (record_length < RECORD_HEAD || record_length > left)
		return -EBADMSG;
	unsigned seen = 0;
	for (size_t at = RECORD_HEAD; at < record_length;) {
		if (record_length - at < FIELD_HEAD)
			return -EBADMSG;
		const unsigned char *field = record + at;
		uint32_t length = get32(field + 4);
		if (length > record_length - at - FIELD_HEAD)
			return -EBADMSG;
		int e = take_field(get16(field), get16(field + 2), field + FIELD_HEAD, length,
				   &seen, out);
		if (e < 0)
			return e;
		at += FIELD_HEAD + (size_t)length;
	}
	if (!(seen & 1u << HO_WIRE_ID))
		return -EBADMSG;
	if (r->type == HO_WIRE_REFUSED && !out->error)
		return -EBADMSG; /* a refusal says why */
	r->offset += record_length;
	r->read++;
	return 1;
}

void ho_wire_begin(struct ho_wire_writer *w, void *buffer, size_t size,
		   enum ho_wire_type type)
{
	*w = (struct ho_wire_writer){ .buffer = buffer, .length = HO_WIRE_HEADER_SIZE,
				      .size = size > HO_WIRE_MESSAGE_MAX ? HO_WIRE_MESSAGE_MAX
									 : size };
	memcpy(w->buffer, magic, sizeof magic);
	put16(w->buffer + 4, HO_WIRE_VERSION);
	put16(w->buffer + 6, type);
	put32(w->buffer + 8, HO_WIRE_HEADER_SIZE);
	put32(w->buffer + 12, 0);
}

static unsigned char *put_field(unsigned char *p, unsigned tag, const void *value,
				size_t length)
{
	put16(p, tag);
	put16(p + 2, 0);
	put32(p + 4, (uint32_t)length);
	if (length)
		memcpy(p + FIELD_HEAD, value, length);
	return p + FIELD_HEAD + length;
}

int ho_wire_add(struct ho_wire_writer *w, uint64_t id, const void *pending,
		size_t pending_length, const void *state, size_t state_length,
		int error)
{
	if (pending_length > HO_WIRE_PENDING_MAX || state_length > HO_WIRE_STATE_MAX ||
	    error < 0 || error > 4095)
		return -E2BIG;
	if (w->count == HO_WIRE_MAX_RECORDS)
		return -ENOSPC;
	size_t need = RECORD_HEAD + FIELD_HEAD + 8 +
		      (pending_length ? FIELD_HEAD + pending_length : 0) +
		      (state_length ? FIELD_HEAD + state_length : 0) +
		      (error ? FIELD_HEAD + 4 : 0);
	if (need > w->size - w->length)
		return -EMSGSIZE;
	unsigned char *record = w->buffer + w->length, *p = record + RECORD_HEAD;
	unsigned char number[8];
	put64(number, id);
	p = put_field(p, HO_WIRE_ID, number, sizeof number);
	if (pending_length)
		p = put_field(p, HO_WIRE_PENDING, pending, pending_length);
	if (state_length)
		p = put_field(p, HO_WIRE_STATE, state, state_length);
	if (error) {
		put32(number, (uint32_t)error);
		p = put_field(p, HO_WIRE_ERROR, number, 4);
	}
	put32(record, (uint32_t)need);
	w->length += need;
	w->count++;
	return 0;
}

size_t ho_wire_finish(struct ho_wire_writer *w)
{
	put32(w->buffer + 12, w->count);
	return w->length;
}
