/* test-wire.c — the connection messages between generations
 * (src/conn_wire.c): what is written reads back the same, the limits hold,
 * and every malformed message a peer could send is refused. */
#include "harness.h"
#include "conn_wire.h"

#include <errno.h>
#include <string.h>

static unsigned char message[HO_WIRE_MESSAGE_MAX + 64];

/* Reads every record of m; returns how many, or the error. */
static int read_all(const void *m, size_t length, struct ho_wire_record *out, int max)
{
	struct ho_wire_reader r;
	struct ho_wire_record one;
	int e = ho_wire_open(&r, m, length), n = 0;
	if (e < 0)
		return e;
	while ((e = ho_wire_next(&r, &one)) == 1)
		if (n++ < max)
			out[n - 1] = one;
	return e < 0 ? e : n;
}

void test_wire_roundtrip(void)
{
	static unsigned char state[HO_WIRE_STATE_MAX], pending[HO_WIRE_PENDING_MAX];
	for (size_t i = 0; i < sizeof state; i++)
		state[i] = (unsigned char)(i * 7);
	for (size_t i = 0; i < sizeof pending; i++)
		pending[i] = (unsigned char)(i * 3);
	struct ho_wire_writer w;
	ho_wire_begin(&w, message, sizeof message, HO_WIRE_CONNECTIONS);
	ASSERT_EQ(ho_wire_add(&w, 1, NULL, 0, NULL, 0, 0), 0);
	ASSERT_EQ(ho_wire_add(&w, UINT64_MAX, "GET / HTTP/1.1\r\n", 16, "k=v", 3, 0), 0);
	ASSERT_EQ(ho_wire_add(&w, 42, pending, sizeof pending, state, sizeof state, 0), 0);
	size_t length = ho_wire_finish(&w);
	ASSERT(length <= HO_WIRE_MESSAGE_MAX);

	struct ho_wire_record rec[4];
	ASSERT_EQ(read_all(message, length, rec, 4), 3);
	ASSERT_EQ(rec[0].id, 1);
	ASSERT_EQ(rec[0].pending_length, 0);
	ASSERT_EQ(rec[0].state_length, 0);
	ASSERT(rec[1].id == UINT64_MAX);
	ASSERT_EQ(rec[1].pending_length, 16);
	ASSERT(memcmp(rec[1].pending, "GET / HTTP/1.1\r\n", 16) == 0);
	ASSERT_EQ(rec[1].state_length, 3);
	ASSERT(memcmp(rec[1].state, "k=v", 3) == 0);
	ASSERT_EQ(rec[2].pending_length, sizeof pending);
	ASSERT(memcmp(rec[2].pending, pending, sizeof pending) == 0);
	ASSERT(memcmp(rec[2].state, state, sizeof state) == 0);
	ASSERT(!rec[2].unknown_critical && !rec[2].error);

	/* The answers: taken, and refused with a reason. */
	ho_wire_begin(&w, message, sizeof message, HO_WIRE_REFUSED);
	ASSERT_EQ(ho_wire_add(&w, 7, NULL, 0, NULL, 0, EMFILE), 0);
	length = ho_wire_finish(&w);
	struct ho_wire_reader r;
	ASSERT_EQ(ho_wire_open(&r, message, length), 0);
	ASSERT_EQ(r.type, HO_WIRE_REFUSED);
	ASSERT_EQ(ho_wire_next(&r, &rec[0]), 1);
	ASSERT_EQ(rec[0].id, 7);
	ASSERT_EQ(rec[0].error, EMFILE);
	ASSERT_EQ(ho_wire_next(&r, &rec[0]), 0);
}

void test_wire_limits(void)
{
	static unsigned char big[HO_WIRE_STATE_MAX + 1];
	struct ho_wire_writer w;
	ho_wire_begin(&w, message, sizeof message, HO_WIRE_CONNECTIONS);
	ASSERT_EQ(ho_wire_add(&w, 1, big, HO_WIRE_PENDING_MAX + 1, NULL, 0, 0), -E2BIG);
	ASSERT_EQ(ho_wire_add(&w, 1, NULL, 0, big, sizeof big, 0), -E2BIG);
	/* A full message says so; the record goes into the next one. */
	ASSERT_EQ(ho_wire_add(&w, 1, NULL, 0, big, HO_WIRE_STATE_MAX, 0), 0);
	ASSERT_EQ(ho_wire_add(&w, 2, NULL, 0, big, HO_WIRE_STATE_MAX, 0), -EMSGSIZE);
	ASSERT_EQ(w.count, 1);
	/* A small buffer is a small message. */
	unsigned char small[64];
	ho_wire_begin(&w, small, sizeof small, HO_WIRE_CONNECTIONS);
	ASSERT_EQ(ho_wire_add(&w, 1, NULL, 0, "0123456789", 10, 0), 0);
	ASSERT_EQ(ho_wire_add(&w, 2, NULL, 0, "0123456789", 10, 0), -EMSGSIZE);
	/* At most one descriptor's worth of records per message. */
	ho_wire_begin(&w, message, sizeof message, HO_WIRE_TAKEN);
	for (uint64_t id = 0; id < HO_WIRE_MAX_RECORDS; id++)
		ASSERT_EQ(ho_wire_add(&w, id, NULL, 0, NULL, 0, 0), 0);
	ASSERT_EQ(ho_wire_add(&w, 999, NULL, 0, NULL, 0, 0), -ENOSPC);
	struct ho_wire_record rec[1];
	ASSERT_EQ(read_all(message, ho_wire_finish(&w), rec, 1), HO_WIRE_MAX_RECORDS);
}

/* --- hand-made messages */

static size_t at;

static void put(const void *bytes, size_t n)
{
	memcpy(message + at, bytes, n);
	at += n;
}

static void put16(unsigned v)
{
	put((unsigned char[]){ (unsigned char)v, (unsigned char)(v >> 8) }, 2);
}

static void put32(unsigned long v)
{
	put16(v & 0xffff);
	put16((unsigned)(v >> 16));
}

static void header(unsigned version, unsigned type, unsigned long header_length,
		   unsigned long count)
{
	at = 0;
	put("HOCN", 4);
	put16(version);
	put16(type);
	put32(header_length);
	put32(count);
}

static void field(unsigned tag, unsigned flags, const void *value, unsigned long length)
{
	put16(tag);
	put16(flags);
	put32(length);
	put(value, length);
}

static const unsigned char id8[8] = { 1 };

/* One record holding an id and, if tag, one more field. */
static void record_with(unsigned tag, unsigned flags, const void *value, unsigned long length)
{
	put32(4 + 16 + (tag ? 8 + length : 0));
	field(HO_WIRE_ID, 0, id8, 8);
	if (tag)
		field(tag, flags, value, length);
}

static void refused(const char *what, int expected)
{
	struct ho_wire_record rec[2];
	int got = read_all(message, at, rec, 2);
	if (got != expected)
		FAIL("%s: got %d, expected %d", what, got, expected);
}

void test_wire_rejects_malformed(void)
{
	header(1, HO_WIRE_CONNECTIONS, 16, 0);
	refused("an empty message", 0);
	message[0] = 'X';
	refused("bad magic", -EPROTO);
	header(0, HO_WIRE_CONNECTIONS, 16, 0);
	refused("version 0", -EPROTO);
	header(1, 9, 16, 0);
	refused("unknown type", -EPROTO);
	header(1, HO_WIRE_CONNECTIONS, 12, 0);
	refused("header_length below 16", -EBADMSG);
	header(1, HO_WIRE_CONNECTIONS, 100, 0);
	refused("header_length past the end", -EBADMSG);
	header(1, HO_WIRE_CONNECTIONS, 16, HO_WIRE_MAX_RECORDS + 1);
	refused("too many records", -EBADMSG);
	header(1, HO_WIRE_CONNECTIONS, 16, 0);
	at = 10;
	refused("truncated header", -EPROTO);

	header(1, HO_WIRE_CONNECTIONS, 16, 2);
	record_with(0, 0, NULL, 0);
	refused("fewer records than announced", -EBADMSG);
	header(1, HO_WIRE_CONNECTIONS, 16, 1);
	record_with(0, 0, NULL, 0);
	put("x", 1);
	refused("bytes after the last record", -EBADMSG);
	header(1, HO_WIRE_CONNECTIONS, 16, 1);
	put32(5000);
	field(HO_WIRE_ID, 0, id8, 8);
	refused("record longer than the message", -EBADMSG);
	header(1, HO_WIRE_CONNECTIONS, 16, 1);
	put32(2);
	refused("record shorter than its own length field", -EBADMSG);
	header(1, HO_WIRE_CONNECTIONS, 16, 1);
	put32(4 + 16);
	field(HO_WIRE_ID, 0, id8, 4);
	put("1234", 4);
	refused("an id of 4 bytes", -EBADMSG);
	header(1, HO_WIRE_CONNECTIONS, 16, 1);
	put32(4 + 12);
	put16(HO_WIRE_ID);
	put16(0);
	put32(9000); /* past the record */
	put("abcd", 4);
	refused("field longer than its record", -EBADMSG);
	header(1, HO_WIRE_CONNECTIONS, 16, 1);
	put32(4 + 8 + 3);
	field(HO_WIRE_STATE, 0, "abc", 3);
	refused("no id", -EBADMSG);
	header(1, HO_WIRE_CONNECTIONS, 16, 1);
	record_with(HO_WIRE_ID, 0, id8, 8);
	refused("two ids", -EBADMSG);
	header(1, HO_WIRE_CONNECTIONS, 16, 1);
	put32(4 + 16 + 6);
	field(HO_WIRE_ID, 0, id8, 8);
	put("\x03\x00\x00\x00\x05", 5); /* a field head cut short */
	put("", 1);
	refused("truncated field head", -EBADMSG);

	static unsigned char big[HO_WIRE_STATE_MAX + 1];
	header(1, HO_WIRE_CONNECTIONS, 16, 1);
	record_with(HO_WIRE_STATE, 0, big, sizeof big);
	refused("state past its limit", -EBADMSG);
	header(1, HO_WIRE_CONNECTIONS, 16, 1);
	record_with(HO_WIRE_PENDING, 0, big, HO_WIRE_PENDING_MAX + 1);
	refused("pending bytes past their limit", -EBADMSG);
	header(1, HO_WIRE_REFUSED, 16, 1);
	record_with(0, 0, NULL, 0);
	refused("a refusal without an error", -EBADMSG);
	header(1, HO_WIRE_REFUSED, 16, 1);
	record_with(HO_WIRE_ERROR, 0, "\0\0\0\0", 4);
	refused("a refusal with error 0", -EBADMSG);
}

void test_wire_newer_sender_is_understood(void)
{
	/* A longer header, an unknown field: skipped. */
	header(2, HO_WIRE_CONNECTIONS, 24, 2);
	put("newfield", 8);
	record_with(99, 0, "later", 5);
	/* An unknown field that may not be skipped: that record is refused. */
	record_with(100, HO_WIRE_CRITICAL, "must", 4);
	struct ho_wire_record rec[2];
	ASSERT_EQ(read_all(message, at, rec, 2), 2);
	ASSERT_EQ(rec[0].id, 1);
	ASSERT_EQ(rec[0].unknown_critical, 0);
	ASSERT_EQ(rec[1].unknown_critical, 1);
}
