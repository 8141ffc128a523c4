/* line.c — the text lines said on a channel between generations, or by the
 * supervisor to a generation:
 *
 *   handoff <version> <verb> key=value key=value ...\n
 *
 * "ready" (a successor to its parent, upgrade.c), "predecessor" and
 * "successor" (the supervisor, supervised.c). Any version >= 1 may say any
 * verb, so that a newer program can talk to an older one; keys we do not
 * know are skipped. The line comes from another program: numbers are read
 * with a checked parser (sscanf's %u takes "-1" and is undefined on
 * overflow). */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int ho_line_is(const char *line, const char *verb)
{
	static const char prefix[] = "handoff ";
	unsigned long version;
	if (strncmp(line, prefix, sizeof prefix - 1) != 0)
		return 0;
	const char *number = line + sizeof prefix - 1;
	size_t digits = strcspn(number, " \n");
	if (number[digits] != ' ' ||
	    ho_parse_uint_n(number, digits, UINT32_MAX, &version) < 0 || version < 1)
		return 0;
	const char *word = number + digits + 1;
	size_t length = strcspn(word, " \n");
	return length == strlen(verb) && memcmp(word, verb, length) == 0;
}

int ho_line_number(const char *line, const char *key, unsigned long max,
		   unsigned long *value)
{
	char pattern[32];
	if ((size_t)snprintf(pattern, sizeof pattern, " %s=", key) >= sizeof pattern)
		return -EINVAL;
	const char *at = strstr(line, pattern);
	if (!at)
		return -ENOENT;
	at += strlen(pattern);
	return ho_parse_uint_n(at, strcspn(at, " \n"), max, value);
}
