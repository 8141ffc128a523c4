/* test-address.c — parsing and formatting of listener addresses. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

static void parses(const char *text, int family, int type, const char *canonical)
{
	struct handoff_address a;
	char buf[HANDOFF_ADDRESS_TEXT_MAX];
	int r = handoff_address_parse(&a, text);
	if (r != 0)
		FAIL("%s: %s", text, strerror(-r));
	ASSERT_EQ(a.family, family);
	ASSERT_EQ(a.type, type);
	ASSERT(handoff_address_format(&a, buf, sizeof buf) > 0);
	ASSERT_STR_EQ(buf, canonical);
}

static void rejects(const char *text)
{
	struct handoff_address a;
	int r = handoff_address_parse(&a, text);
	if (r != -EINVAL)
		FAIL("%s was accepted (%d)", text, r);
}

void test_address_parse(void)
{
	parses("127.0.0.1:8080", AF_INET, SOCK_STREAM, "127.0.0.1:8080");
	parses("tcp:127.0.0.1:80", AF_INET, SOCK_STREAM, "127.0.0.1:80");
	parses("*:8080", AF_INET, SOCK_STREAM, "0.0.0.0:8080");
	parses("localhost:0", AF_INET, SOCK_STREAM, "127.0.0.1:0");
	parses("[::1]:8080", AF_INET6, SOCK_STREAM, "[::1]:8080");
	parses("[::]:65535", AF_INET6, SOCK_STREAM, "[::]:65535");
	parses("udp:127.0.0.1:53", AF_INET, SOCK_DGRAM, "udp:127.0.0.1:53");
	parses("udp:[::1]:53", AF_INET6, SOCK_DGRAM, "udp:[::1]:53");
	parses("/run/app.sock", AF_UNIX, SOCK_STREAM, "unix:/run/app.sock");
	parses("unix:/run/app.sock", AF_UNIX, SOCK_STREAM, "unix:/run/app.sock");
	parses("@app", AF_UNIX, SOCK_STREAM, "unix:@app");
	parses("unix:@app", AF_UNIX, SOCK_STREAM, "unix:@app");
	parses("unixgram:/run/a.dgram", AF_UNIX, SOCK_DGRAM, "unixgram:/run/a.dgram");
	parses("unixgram:@a", AF_UNIX, SOCK_DGRAM, "unixgram:@a");

	rejects("");
	rejects("8080");
	rejects(":8080");
	rejects("127.0.0.1");
	rejects("127.0.0.1:");
	rejects("127.0.0.1:65536");
	rejects("127.0.0.1:-1");
	rejects("127.0.0.1:80x");
	rejects("127.0.0.1: 80");
	rejects("127.0.0.256:80");
	rejects("example.com:80");
	rejects("[::1:80");
	rejects("::1:80");
	rejects("[zz]:80");
	rejects("sctp:127.0.0.1:80");
	rejects("unix:");
	rejects("@");
	rejects("unix:relative");
	rejects("udp:/run/x");
	char longpath[200];
	memset(longpath, 'a', sizeof longpath - 1);
	longpath[0] = '/';
	longpath[sizeof longpath - 1] = '\0';
	rejects(longpath);
	ASSERT_EQ(handoff_address_parse(NULL, "1.2.3.4:5"), -EINVAL);
}

void test_address_format_roundtrip(void)
{
	static const char *const samples[] = {
		"127.0.0.1:1", "[::1]:2", "udp:127.0.0.1:3", "unix:/tmp/x.sock",
		"unix:@abstract name", "unixgram:@g", "[fe80::1]:4",
	};
	for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
		struct handoff_address a, b;
		char buf[HANDOFF_ADDRESS_TEXT_MAX], tiny[4];
		ASSERT_EQ(handoff_address_parse(&a, samples[i]), 0);
		ASSERT(handoff_address_format(&a, buf, sizeof buf) > 0);
		ASSERT_EQ(handoff_address_parse(&b, buf), 0);
		ASSERT(handoff_address_equal(&a, &b));
		ASSERT_EQ(handoff_address_format(&a, tiny, sizeof tiny), -ENOSPC);
	}
	struct handoff_address a, b;
	ASSERT_EQ(handoff_address_parse(&a, "127.0.0.1:80"), 0);
	ASSERT_EQ(handoff_address_parse(&b, "udp:127.0.0.1:80"), 0);
	ASSERT(!handoff_address_equal(&a, &b));
	ASSERT_EQ(handoff_address_parse(&b, "127.0.0.1:81"), 0);
	ASSERT(!handoff_address_equal(&a, &b));
	ASSERT_EQ(handoff_address_parse(&a, "@x"), 0);
	ASSERT_EQ(handoff_address_parse(&b, "/x"), 0);
	ASSERT(!handoff_address_equal(&a, &b));

	/* What the kernel reports for a bound socket compares equal. */
	int fd = listen_on("127.0.0.1:0");
	ASSERT_EQ(handoff_address_of_socket(&a, fd), 0);
	ASSERT_EQ(a.family, AF_INET);
	ASSERT(a.u.in.sin_port != 0);
	close(fd);
	int pipefd[2];
	ASSERT_EQ(pipe(pipefd), 0);
	ASSERT_EQ(handoff_address_of_socket(&a, pipefd[0]), -ENOTSOCK);
	close(pipefd[0]);
	close(pipefd[1]);
}
