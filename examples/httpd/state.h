/* state.h — the bytes a moving connection carries to the next generation.
 *
 * handoff_pass() moves an opaque state with each connection; httpd's is a
 * kind byte, a version byte, then fixed-width little-endian fields, so a
 * successor built for another machine word or a later httpd still reads
 * it (or refuses it by its version). A keep-alive connection carries none. */
#ifndef HTTPD_STATE_H
#define HTTPD_STATE_H

#include <stdint.h>

enum { STATE_STREAM = 'S', STATE_WS = 'W', STATE_VERSION = 1 };

static inline void state_put(unsigned char *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint64_t state_get(const unsigned char *p, int bytes)
{
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

#endif
