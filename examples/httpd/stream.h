/* stream.h — GET /stream?every=MS: one chunk per event, for as long as the
 * client stays, across upgrades.
 *
 * Each event is a chunk holding one line, "seq=N gen=G pid=P\n", N counting
 * from 1 with no gap and no repeat, G the generation that sent it. What
 * moves with the connection is this struct: the next N, the interval, and
 * when the next event is due. Pure functions: conn.c does the I/O. */
#ifndef HTTPD_STREAM_H
#define HTTPD_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
	STREAM_EVERY_DEFAULT = 100, /* ms */
	STREAM_EVERY_MAX = 60000,
	STREAM_STATE_SIZE = 2 + 8 + 4 + 8,
	STREAM_CHUNK_MAX = 96,
};

struct stream {
	uint64_t seq;      /* of the next event */
	unsigned every_ms;
	int64_t due;       /* the next event, ms on CLOCK_MONOTONIC */
};

void stream_start(struct stream *s, unsigned every_ms, int64_t now);
/* Renders the next event into out (STREAM_CHUNK_MAX bytes) and moves on to
 * the one after; returns its length. */
size_t stream_event(struct stream *s, char *out, unsigned gen, int pid,
		    int64_t now);
/* The state handoff_pass() carries: STREAM_STATE_SIZE bytes. */
void stream_save(const struct stream *s, unsigned char *out);
bool stream_load(struct stream *s, const void *state, size_t len);

#endif
