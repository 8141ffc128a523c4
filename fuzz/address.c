/* address.c — handoff_address_parse(), the text of --listen and of every
 * handoff_listen() call, and its round trip through
 * handoff_address_format(): what is accepted formats within
 * HANDOFF_ADDRESS_TEXT_MAX and parses again to an equal address. */
#include "check.h"

#include <errno.h>
#include <handoff.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fuzz_string(data, size);
	if (!text)
		return 0;
	struct handoff_address a, b;
	int r = handoff_address_parse(&a, text);
	CHECK(r == 0 || r == -EINVAL);
	if (r == 0) {
		CHECK(strlen(text) < HANDOFF_ADDRESS_TEXT_MAX);
		CHECK(a.family == AF_INET || a.family == AF_INET6 || a.family == AF_UNIX);
		CHECK(a.type == SOCK_STREAM || a.type == SOCK_DGRAM);
		CHECK(a.length > 0 && a.length <= sizeof a.u);
		CHECK(a.u.sa.sa_family == a.family);
		CHECK(handoff_address_equal(&a, &a));

		char out[HANDOFF_ADDRESS_TEXT_MAX];
		int n = handoff_address_format(&a, out, sizeof out);
		CHECK(n > 0 && (size_t)n == strlen(out));
		CHECK(handoff_address_parse(&b, out) == 0);
		CHECK(handoff_address_equal(&a, &b) && handoff_address_equal(&b, &a));
		CHECK(a.length == b.length);
		/* The formatted text is the canonical one: a fixed point. */
		char again[HANDOFF_ADDRESS_TEXT_MAX];
		CHECK(handoff_address_format(&b, again, sizeof again) == n);
		CHECK(strcmp(out, again) == 0);
		/* Too small a buffer is refused, never overrun. */
		char *tight = malloc((size_t)n);
		CHECK(tight && handoff_address_format(&a, tight, (size_t)n) == -ENOSPC);
		free(tight);
	}
	free(text);
	return 0;
}
