/* wire.c — the connection messages a draining generation sends its
 * successor, and the answers (src/conn_wire.c): whatever bytes arrive, the
 * reader stays inside the message and within the limits, and what it
 * accepts, written again, reads back the same. */
#include "check.h"
#include "conn_wire.h"

#include <errno.h>

static unsigned char again[HO_WIRE_MESSAGE_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Its own allocation: a read past the end is caught. */
	unsigned char *m = malloc(size ? size : 1);
	CHECK(m);
	memcpy(m, data, size);
	struct ho_wire_reader r;
	int e = ho_wire_open(&r, m, size);
	CHECK(e == 0 || e == -EPROTO || e == -EBADMSG);
	if (e == 0) {
		struct ho_wire_writer w;
		struct ho_wire_record rec;
		int type = (int)r.type, records = 0;
		ho_wire_begin(&w, again, sizeof again, (enum ho_wire_type)type);
		while ((e = ho_wire_next(&r, &rec)) == 1) {
			records++;
			CHECK(rec.pending_length <= HO_WIRE_PENDING_MAX);
			CHECK(rec.state_length <= HO_WIRE_STATE_MAX);
			CHECK(!rec.pending_length || ((const unsigned char *)rec.pending >= m &&
				(const unsigned char *)rec.pending + rec.pending_length <= m + size));
			CHECK(!rec.state_length || ((const unsigned char *)rec.state >= m &&
				(const unsigned char *)rec.state + rec.state_length <= m + size));
			CHECK(type != HO_WIRE_REFUSED || (rec.error > 0 && rec.error < 4096));
			/* Whatever was accepted fits a message of ours too: the
			 * records of a message, written again, take no more room
			 * than they did (unknown fields are dropped). */
			CHECK(ho_wire_add(&w, rec.id, rec.pending, rec.pending_length, rec.state,
					  rec.state_length, type == HO_WIRE_REFUSED ? rec.error : 0) == 0);
		}
		CHECK(e == 0 || e == -EBADMSG);
		CHECK(records <= HO_WIRE_MAX_RECORDS);
		if (e == 0) {
			CHECK((uint32_t)records == r.count);
			size_t length = ho_wire_finish(&w);
			struct ho_wire_reader back;
			struct ho_wire_record one;
			CHECK(ho_wire_open(&back, again, length) == 0);
			int n = 0;
			while (ho_wire_next(&back, &one) == 1)
				n++;
			CHECK(n == records && back.offset == length);
		}
	}
	free(m);
	return 0;
}
