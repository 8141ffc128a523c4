/* cmdline.c — the supervisor's command line values (tool/parse.h). The
 * first byte picks the parser, the rest is the value:
 *   0 parse_duration_ms   --ready-timeout, --drain-timeout, --ready=delay:
 *   1 parse_signal        --stop-signal
 *   2 parse_count         --max-draining (1..62), then with bounds from
 *                         the next two bytes (max, then min modulo max + 1)
 *   3 split_listen_spec   --listen [NAME=]ADDR
 * Each result is checked against a model written here from the contract
 * in tool/parse.h, not from the code. */
#include "check.h"
#include "core.h"
#include "parse.h"

#include <errno.h>
#include <handoff.h>

static int is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* DIGITS[.DIGITS][ms|s|m]; the fraction counts to its 6th digit. */
static void duration(const char *text)
{
	int64_t ms = -12345;
	int r = parse_duration_ms(text, &ms);
	CHECK(r == 0 || r == -EINVAL || r == -ERANGE);
	CHECK(r == 0 || ms == -12345); /* written only on success */

	const char *p = text;
	__int128 whole = 0, fraction = 0, scale = 1;
	int valid = is_digit(*p);
	for (; is_digit(*p); p++)
		if (whole <= DURATION_MAX_MS)
			whole = whole * 10 + (*p - '0');
	if (valid && *p == '.') {
		valid = is_digit(p[1]);
		for (p++; is_digit(*p); p++)
			if (scale < 1000000) {
				fraction = fraction * 10 + (*p - '0');
				scale *= 10;
			}
	}
	int unit = !strcmp(p, "") || !strcmp(p, "ms") ? 1
		   : !strcmp(p, "s")		       ? 1000
		   : !strcmp(p, "m")		       ? 60000
							: 0;
	valid = valid && unit;
	if (!valid) {
		CHECK(r < 0);
		return;
	}
	__int128 total = whole * unit + fraction * unit / scale;
	if (total > DURATION_MAX_MS) {
		CHECK(r == -ERANGE);
		return;
	}
	CHECK(r == 0);
	CHECK(ms >= 0 && ms <= DURATION_MAX_MS);
	CHECK(ms == (int64_t)total);
}

/* A name (with or without SIG) of the table, or 1..64 in decimal. */
static void signal_value(const char *text)
{
	int sig = -7;
	int r = parse_signal(text, &sig);
	CHECK(r == 0 || r == -EINVAL);
	if (r < 0) {
		CHECK(sig == -7);
		return;
	}
	CHECK(sig >= 1 && sig <= 64);
	const char *bare = strncmp(text, "SIG", 3) == 0 ? text + 3 : text;
	if (is_digit(bare[0])) {
		long n = 0;
		for (const char *p = bare; *p; p++) {
			CHECK(is_digit(*p));
			n = n * 10 + (*p - '0');
			CHECK(n <= 64);
		}
		CHECK(n == sig);
	} else {
		CHECK(!strcmp(bare, "TERM") || !strcmp(bare, "INT") ||
		      !strcmp(bare, "QUIT") || !strcmp(bare, "HUP") ||
		      !strcmp(bare, "USR1") || !strcmp(bare, "USR2") ||
		      !strcmp(bare, "KILL") || !strcmp(bare, "WINCH"));
	}
}

/* Digits only, value within [min, max]. */
static void count_in(const char *text, long min, long max)
{
	long n = -99;
	int r = parse_count(text, min, max, &n);
	CHECK(r == 0 || r == -EINVAL || r == -ERANGE);
	int digits = text[0] != '\0';
	unsigned long long value = 0;
	int over = 0;
	for (const char *p = text; *p; p++) {
		if (!is_digit(*p)) {
			digits = 0;
			break;
		}
		value = value * 10 + (unsigned)(*p - '0');
		if (value > (unsigned long long)max)
			over = 1, value = (unsigned long long)max + 1;
	}
	int expect_ok = digits && !over && (long)value >= min;
	if (!expect_ok) {
		CHECK(r < 0 && n == -99);
		return;
	}
	CHECK(r == 0);
	CHECK(n >= min && n <= max);
	CHECK(n == (long)value);
}

static void listen_spec(const char *spec)
{
	char name[HANDOFF_NAME_MAX + 2]; /* as tool/options.c */
	memset(name, 'x', sizeof name);
	const char *address = split_listen_spec(spec, name, sizeof name);
	CHECK(memchr(name, '\0', sizeof name));
	if (address == spec) {
		CHECK(name[0] == '\0');
		return;
	}
	/* Split at the first '=', which comes before any ':'. */
	const char *eq = strchr(spec, '=');
	CHECK(eq && address == eq + 1);
	CHECK(spec[0] != '@' && spec[0] != '/');
	CHECK(!memchr(spec, ':', (size_t)(eq - spec)));
	size_t n = strlen(name);
	CHECK(n == (size_t)(eq - spec) || n == sizeof name - 1);
	CHECK(strncmp(name, spec, n) == 0);
	/* What tool/options.c does next must cope with anything left. */
	struct handoff_address a;
	(void)handoff_address_parse(&a, address);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	unsigned which = data[0] % 4;
	if (which == 2 && size >= 3) {
		char *text = fuzz_string(data + 3, size - 3);
		if (text) {
			long max = data[1] == 255 ? (long)INT32_MAX : data[1];
			count_in(text, data[2] % (max + 1), max);
			free(text);
		}
	}
	char *text = fuzz_string(data + 1, size - 1);
	if (!text)
		return 0;
	switch (which) {
	case 0: duration(text); break;
	case 1: signal_value(text); break;
	case 2: count_in(text, 1, CORE_GENERATIONS_MAX - 2); break;
	case 3: listen_spec(text); break;
	}
	free(text);
	return 0;
}
