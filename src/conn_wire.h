/* conn_wire.h — the messages that move live connections from a draining
 * generation to its successor, on the SOCK_SEQPACKET channel the two share
 * (docs/design.md, "Moving live connections"). Only the bytes: the
 * descriptors travel beside them (SCM_RIGHTS), one per record of a
 * CONNECTIONS message, in record order.
 *
 * Every integer is little-endian. A message:
 *
 *   header   "HOCN"  u16 version  u16 type  u32 header_length  u32 count
 *   records  count of: u32 record_length, then fields:
 *              u16 tag  u16 flags  u32 length  length bytes of value
 *
 * header_length and record_length let a newer sender append header fields
 * and a newer record carry fields an older reader skips; a field whose flags
 * say HO_WIRE_CRITICAL may not be skipped: a reader that does not know it
 * refuses that record (not the message). No allocation: the reader points
 * into the message, the writer fills the caller's buffer. */
#ifndef HO_CONN_WIRE_H
#define HO_CONN_WIRE_H

#include <stddef.h>
#include <stdint.h>

enum {
	HO_WIRE_VERSION = 1,
	HO_WIRE_HEADER_SIZE = 16,
	/* SCM_MAX_FD is 253 in Linux; one spare for whatever a later
	 * version attaches to the message itself. */
	HO_WIRE_MAX_RECORDS = 252,
	HO_WIRE_PENDING_MAX = 32768,  /* bytes read, not yet processed */
	HO_WIRE_STATE_MAX = 65536,    /* the application's state */
	/* Fits the default socket send buffer (net.core.wmem_default,
	 * 208 KiB) with room to spare: a message is sent whole or not at all. */
	HO_WIRE_MESSAGE_MAX = 131072,
};

enum ho_wire_type {
	HO_WIRE_CONNECTIONS = 1, /* old → new: records with id, pending, state */
	HO_WIRE_TAKEN = 2,       /* new → old: these ids are the successor's now */
	HO_WIRE_REFUSED = 3,     /* new → old: these ids stay yours (error, reason) */
};

enum ho_wire_tag {
	HO_WIRE_ID = 1,      /* u64, the sender's name for the connection */
	HO_WIRE_PENDING = 2, /* bytes */
	HO_WIRE_STATE = 3,   /* bytes */
	HO_WIRE_ERROR = 4,   /* u32, a positive errno, in REFUSED */
};

#define HO_WIRE_CRITICAL 0x0001u /* field flag: do not skip if unknown */

/* One record, as read. Pointers into the message. */
struct ho_wire_record {
	uint64_t id;
	const void *pending, *state;
	size_t pending_length, state_length;
	int error;             /* REFUSED: the positive errno, else 0 */
	int unknown_critical;  /* a field we may not skip: refuse this record */
};

struct ho_wire_reader {
	const unsigned char *message;
	size_t length, offset;
	unsigned version, type;
	uint32_t count, read;
};

/* Checks the header of a received message. Returns 0, -EPROTO if it is not
 * one of ours (magic, version 0, unknown type), -EBADMSG if its lengths do
 * not add up or it announces more than HO_WIRE_MAX_RECORDS records. */
int ho_wire_open(struct ho_wire_reader *r, const void *message, size_t length);

/* The next record: 1 with *record filled, 0 after the last one (and no
 * bytes left over), -EBADMSG if the record is malformed (out of bounds, no
 * or a repeated id, a field longer than its limit, bytes after the last
 * record). After an error, the rest of the message cannot be trusted. */
int ho_wire_next(struct ho_wire_reader *r, struct ho_wire_record *record);

struct ho_wire_writer {
	unsigned char *buffer;
	size_t size, length;
	uint32_t count;
};

/* Starts a message of type in buffer (size bytes, at least
 * HO_WIRE_HEADER_SIZE; at most HO_WIRE_MESSAGE_MAX is used). */
void ho_wire_begin(struct ho_wire_writer *w, void *buffer, size_t size,
		   enum ho_wire_type type);

/* Appends a record. error is for REFUSED (a positive errno), 0 otherwise.
 * Returns 0; -EMSGSIZE if it does not fit in what is left (send this message,
 * then add it to the next one); -E2BIG if pending or state is past its limit
 * (it fits in no message); -ENOSPC after HO_WIRE_MAX_RECORDS records. */
int ho_wire_add(struct ho_wire_writer *w, uint64_t id, const void *pending,
		size_t pending_length, const void *state, size_t state_length,
		int error);

/* Writes the count into the header; returns the message's length. */
size_t ho_wire_finish(struct ho_wire_writer *w);

#endif
