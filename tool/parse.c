/* parse.c — values from the command line, checked to the last character. */
#include "parse.h"
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

/* Written out by hand because strtod() also takes "nan", "inf", "-0", hex
 * and exponents, and a NaN cast to an integer is undefined. */
int parse_duration_ms(const char *text, int64_t *ms)
{
	int64_t whole = 0, fraction = 0, fraction_scale = 1;
	const char *p = text;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		whole = whole * 10 + (*p - '0');
		if (whole > DURATION_MAX_MS)
			return -ERANGE;
	}
	if (*p == '.') {
		if (p[1] < '0' || p[1] > '9')
			return -EINVAL;
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (fraction_scale < 1000000) { /* finer than a nanosecond: dropped */
				fraction = fraction * 10 + (*p - '0');
				fraction_scale *= 10;
			}
	}
	int64_t unit = strcmp(p, "ms") == 0 || !*p ? 1
		       : strcmp(p, "s") == 0	    ? 1000
		       : strcmp(p, "m") == 0	    ? 60000
						    : 0;
	if (!unit)
		return -EINVAL;
	if (whole > DURATION_MAX_MS / unit)
		return -ERANGE;
	int64_t total = whole * unit + fraction * unit / fraction_scale;
	if (total > DURATION_MAX_MS)
		return -ERANGE;
	*ms = total;
	return 0;
}

int parse_signal(const char *text, int *signal)
{
	static const struct {
		const char *name;
		int number;
	} names[] = {
		{ "TERM", SIGTERM }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
		{ "HUP", SIGHUP },   { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
		{ "KILL", SIGKILL }, { "WINCH", SIGWINCH },
	};
	if (strncmp(text, "SIG", 3) == 0)
		text += 3;
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		if (strcmp(text, names[i].name) == 0) {
			*signal = names[i].number;
			return 0;
		}
	unsigned long n;
	if (ho_parse_uint(text, 64, &n) < 0 || n == 0)
		return -EINVAL;
	*signal = (int)n;
	return 0;
}

int parse_count(const char *text, long min, long max, long *out)
{
	unsigned long n;
	int r = ho_parse_uint(text, (unsigned long)max, &n);
	if (r < 0)
		return r;
	if ((long)n < min)
		return -ERANGE;
	*out = (long)n;
	return 0;
}

const char *split_listen_spec(const char *spec, char *name, size_t size)
{
	const char *eq = strchr(spec, '=');
	const char *colon = strchr(spec, ':');
	name[0] = '\0';
	if (!eq || (colon && colon < eq) || spec[0] == '@' || spec[0] == '/')
		return spec;
	snprintf(name, size, "%.*s", (int)(eq - spec), spec);
	return eq + 1;
}
