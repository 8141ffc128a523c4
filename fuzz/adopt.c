/* adopt.c — adopt_match(), whose sockaddr bytes are read from the memory
 * of whatever process a generation runs: any length, any family. Checked
 * against the contract in tool/adopt_match.h: an index within the held
 * listeners or one of the two verdicts, never a read past len bytes (the
 * input has an allocation of its own), and a held address always matches
 * itself. */
#include "adopt_match.h"
#include "check.h"

#include <netinet/in.h>
#include <sys/socket.h>

static struct adopt_held held[4];
static size_t held_count;

static void hold(const char *text)
{
	CHECK(handoff_address_parse(&held[held_count].address, text) == 0);
	held[held_count].protocol = held[held_count].address.type == SOCK_STREAM &&
						    held[held_count].address.family != AF_UNIX
					    ? IPPROTO_TCP : 0;
	if (held[held_count].address.type == SOCK_DGRAM &&
	    held[held_count].address.family != AF_UNIX)
		held[held_count].protocol = IPPROTO_UDP;
	held_count++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!held_count) {
		hold("127.0.0.1:8080");
		hold("[::]:8080");
		hold("unix:/run/x.sock");
		hold("udp:0.0.0.0:53");
	}
	if (size < 3)
		return 0;
	/* The first bytes choose the socket; the rest is the sockaddr. */
	int domain = (const int[]){ AF_INET, AF_INET6, AF_UNIX, AF_PACKET }[data[0] & 3];
	int type = data[1] & 1 ? SOCK_DGRAM : SOCK_STREAM;
	int protocol = data[2] & 1 ? (type == SOCK_STREAM ? IPPROTO_TCP : IPPROTO_UDP) : 0;
	size -= 3;
	void *sa = malloc(size ? size : 1);
	CHECK(sa);
	memcpy(sa, data + 3, size);
	int near = 12345;
	int r = adopt_match(held, held_count, domain, type, protocol, sa, size, &near);
	CHECK(r == ADOPT_PASS || r == ADOPT_NONE || (r >= 0 && (size_t)r < held_count));
	CHECK(near == -1 || (near >= 0 && (size_t)near < held_count));
	CHECK(r == ADOPT_NONE || near == -1);
	free(sa);
	for (size_t i = 0; i < held_count; i++) {
		const struct handoff_address *a = &held[i].address;
		int self = adopt_match(held, held_count, a->family, a->type, held[i].protocol,
				       &a->u, a->length, &near);
		CHECK(self == (int)i);
	}
	return 0;
}
