/* stream.c — the events of GET /stream, and the state that moves them.
 *
 * The due time travels as an absolute CLOCK_MONOTONIC instant: both
 * generations run on the same machine and share that clock, so the
 * successor keeps the cadence whatever the handover took. */
#include "stream.h"
#include "state.h"

#include <stdio.h>

void stream_start(struct stream *s, unsigned every_ms, int64_t now)
{
	*s = (struct stream){ .seq = 1, .every_ms = every_ms, .due = now };
}

size_t stream_event(struct stream *s, char *out, unsigned gen, int pid,
		    int64_t now)
{
	char line[64];
	int n = snprintf(line, sizeof line, "seq=%llu gen=%u pid=%d\n",
			 (unsigned long long)s->seq, gen, pid);
	int len = snprintf(out, STREAM_CHUNK_MAX, "%x\r\n%s\r\n", n, line);
	s->seq++;
	/* Keep the cadence, but after a stall (a slow reader, a loaded
	 * machine) start again from now rather than bursting to catch up. */
	s->due += s->every_ms;
	if (s->due < now)
		s->due = now + s->every_ms;
	return (size_t)len;
}

void stream_save(const struct stream *s, unsigned char *out)
{
	out[0] = STATE_STREAM;
	out[1] = STATE_VERSION;
	state_put(out + 2, s->seq, 8);
	state_put(out + 10, s->every_ms, 4);
	state_put(out + 14, (uint64_t)s->due, 8);
}

bool stream_load(struct stream *s, const void *state, size_t len)
{
	const unsigned char *p = state;
	if (len != STREAM_STATE_SIZE || p[0] != STATE_STREAM ||
	    p[1] != STATE_VERSION)
		return false;
	s->seq = state_get(p + 2, 8);
	s->every_ms = (unsigned)state_get(p + 10, 4);
	s->due = (int64_t)state_get(p + 14, 8);
	return s->seq >= 1 && s->every_ms >= 1 &&
	       s->every_ms <= STREAM_EVERY_MAX;
}
