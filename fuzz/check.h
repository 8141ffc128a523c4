/* check.h — what every fuzz target shares: a property that fails aborts
 * with a line saying which, so libFuzzer keeps the input as a crash. */
#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "FUZZ CHECK failed: %s (%s:%d)\n",   \
				#cond, __FILE__, __LINE__);                  \
			abort();                                             \
		}                                                            \
	} while (0)

/* Properties that fail today in code this branch may not change are
 * asserted only with -DFUZZ_STRICT (make fuzz FUZZ_DEFS=-DFUZZ_STRICT);
 * their inputs wait in fuzz/found/<target>/. */
#ifdef FUZZ_STRICT
#define KNOWN_BUG(cond) ((void)(cond), 0)
#else
#define KNOWN_BUG(cond) (cond)
#endif

/* The input as a string of exactly its length, in its own allocation, so
 * that reading one byte past the NUL is caught. NULL when it holds a NUL
 * (no caller could pass such a string). */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
	if (memchr(data, '\0', size))
		return NULL;
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
