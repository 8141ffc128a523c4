/* control.c — control_parse_request(), the server end of the control
 * protocol, as tool/control_server.c drives it: bytes arrive in pieces
 * into a CONTROL_REQUEST_MAX buffer and the request is parsed after each
 * piece until the answer is known. Whatever the pieces, the answer must be
 * the one given when everything arrives at once.
 *
 * Input: byte 0 gives k = byte 0 % 8 piece lengths in the next k bytes
 * (0 is read as 1); the rest is the stream, its remainder one last piece. */
#include "check.h"
#include "control.h"
#include "control_server.h"

#include <errno.h>

struct answer {
	int r;
	char command[CONTROL_REQUEST_MAX];
	size_t received;
};

/* Like readable() in tool/control_server.c: recv() fills at most the room
 * left, then the whole buffer so far is parsed. */
static struct answer serve(const uint8_t *stream, size_t size,
			   const size_t *pieces, size_t count)
{
	struct answer a = { .r = 0 };
	char request[sizeof ((struct control_client *)0)->request];
	size_t at = 0;
	for (size_t i = 0; i < count && at < size && a.r == 0; i++) {
		size_t room = sizeof request - a.received;
		/* The server would read 0 bytes and take it for a hang-up. */
		CHECK(room > 0);
		size_t n = pieces[i] < room ? pieces[i] : room;
		if (n > size - at)
			n = size - at;
		memcpy(request + a.received, stream + at, n);
		at += n;
		a.received += n;
		/* Its own allocation of exactly what arrived: no read past it. */
		char *copy = malloc(a.received ? a.received : 1);
		CHECK(copy);
		memcpy(copy, request, a.received);
		memset(a.command, 0x7f, sizeof a.command);
		a.r = control_parse_request(copy, a.received, a.command, sizeof a.command);
		free(copy);
		CHECK(a.r == 0 || a.r == 1 || a.r == -EPROTO || a.r == -E2BIG);
	}
	if (a.r == 1) {
		size_t n = strlen(a.command);
		CHECK(n < sizeof a.command && !memchr(a.command, '\n', n));
		CHECK(memcmp(request, CONTROL_GREETING, strlen(CONTROL_GREETING)) == 0);
	}
	if (a.r == 0)
		CHECK(a.received < CONTROL_REQUEST_MAX - 1);
	return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t k = data[0] % 8;
	if (size < 1 + k)
		return 0;
	size_t pieces[9], count = 0;
	for (size_t i = 0; i < k; i++)
		pieces[count++] = data[1 + i] ? data[1 + i] : 1;
	pieces[count++] = (size_t)-1;
	const uint8_t *stream = data + 1 + k;
	size_t length = size - 1 - k;

	size_t whole = (size_t)-1;
	struct answer at_once = serve(stream, length, &whole, 1);
	struct answer cut = serve(stream, length, pieces, count);
	CHECK(cut.r == at_once.r);
	if (cut.r == 1)
		CHECK(strcmp(cut.command, at_once.command) == 0);
	return 0;
}
