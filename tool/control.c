/* control.c — what client and server agree on. */
#include "control.h"
#include "endpoint.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int control_path_for_pidfile(char *out, size_t size, const char *pidfile)
{
	size_t limit = sizeof ((struct endpoint *)0)->path;
	int n = snprintf(out, size, "%s.control", pidfile);
	return n < 0 || (size_t)n >= size || (size_t)n >= limit ? -ENAMETOOLONG : 0;
}

int control_parse_request(const char *data, size_t length, char *command,
			  size_t size)
{
	/* Only as far as a request may reach, so that the answer is the same
	 * whether the bytes come at once or in pieces (found by fuzz/control). */
	size_t reach = length < CONTROL_REQUEST_MAX - 1 ? length : CONTROL_REQUEST_MAX - 1;
	const char *end = memchr(data, '\n', reach);
	if (!end)
		return length >= CONTROL_REQUEST_MAX - 1 ? -E2BIG : 0;
	size_t line = (size_t)(end - data);
	if (line > 0 && data[line - 1] == '\r')
		line--;
	size_t greeting = strlen(CONTROL_GREETING);
	if (line < greeting || memcmp(data, CONTROL_GREETING, greeting) != 0 ||
	    memchr(data, '\0', line))
		return -EPROTO;
	size_t n = line - greeting;
	if (n >= size)
		return -E2BIG;
	memcpy(command, data + greeting, n);
	command[n] = '\0';
	return 1;
}
