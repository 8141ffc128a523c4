/* control.c — what client and server agree on. */
#include "control.h"
#include "endpoint.h"

#include <errno.h>
#include <stdio.h>

int control_path_for_pidfile(char *out, size_t size, const char *pidfile)
{
	size_t limit = sizeof ((struct endpoint *)0)->path;
	int n = snprintf(out, size, "%s.control", pidfile);
	return n < 0 || (size_t)n >= size || (size_t)n >= limit ? -ENAMETOOLONG : 0;
}
