/* parse.h — one parser per kind of value the command line takes. Each
 * returns 0 or a negative errno, and writes its result only on success. */
#ifndef TOOL_PARSE_H
#define TOOL_PARSE_H

#include <stddef.h>
#include <stdint.h>

#define DURATION_MAX_MS (30LL * 24 * 3600 * 1000) /* 30 days */

/* "250ms", "2s", "1.5m", "40" (milliseconds): -EINVAL, or -ERANGE past
 * DURATION_MAX_MS. No sign, exponent, hex, nan or inf. */
int parse_duration_ms(const char *text, int64_t *ms);

/* "TERM", "SIGTERM" or a number from 1 to 64. */
int parse_signal(const char *text, int *signal);

/* A decimal whole number from min to max, nothing around it. */
int parse_count(const char *text, long min, long max, long *out);

/* "[NAME=]ADDR": an '=' before any ':' (and not in a path or abstract
 * name) ends a name. Fills name ("" if none); returns the address part. */
const char *split_listen_spec(const char *spec, char *name, size_t size);

#endif
