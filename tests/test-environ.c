/* test-environ.c — systemd's socket-activation protocol, good and bad. */
#include "harness.h"

#include <errno.h>
#include <stdarg.h>

#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Runs the inherit helper with fds at 3, 4, ... and returns its output. */
static char *inherit(const char *spec, const int *fds, int count,
		     int listen_fds, char *const env[])
{
	static int runs;
	char name[32];
	snprintf(name, sizeof name, "inherit.%d.out", runs++);
	char *out = work_path(name);
	struct spawn_options o = { .output = out, .env = env, .fds = fds,
				   .fd_count = count, .listen_fds = listen_fds };
	pid_t pid = spawn_helper("inherit", spec, &o);
	int status;
	if (!wait_exit(pid, 10000, &status))
		FAIL("inherit helper hung");
	char *text = read_file(out);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("inherit helper failed (0x%x):\n%s", status, text);
	return text;
}

static void expect(const char *text, const char *needle)
{
	if (!strstr(text, needle))
		FAIL("expected \"%s\" in:\n%s", needle, text);
}

static void expect_not(const char *text, const char *needle)
{
	if (strstr(text, needle))
		FAIL("did not expect \"%s\" in:\n%s", needle, text);
}

static int bound_port(int fd)
{
	struct handoff_address a;
	ASSERT_EQ(handoff_address_of_socket(&a, fd), 0);
	return ntohs(a.u.in.sin_port);
}

void test_environ_systemd_protocol(void)
{
	int web = listen_on("127.0.0.1:0"), spare = listen_on("127.0.0.1:0");
	char *sock = work_path("admin.sock"), spec[700], line[400];
	char unix_addr[300];
	snprintf(unix_addr, sizeof unix_addr, "unix:%s", sock);
	int admin = listen_on(unix_addr);
	int fds[] = { web, admin, spare };
	char *env[] = { "LISTEN_FDNAMES=web:admin:spare", NULL };
	snprintf(spec, sizeof spec, "web=127.0.0.1:%d;admin=%s", bound_port(web),
		 unix_addr);
	char *out = inherit(spec, fds, 3, 1, env);
	expect(out, "generation=1 inherited=3 warning=none");
	expect(out, "env LISTEN_FDS=unset LISTEN_PID=unset LISTEN_FDNAMES=unset");
	snprintf(line, sizeof line, "listen 127.0.0.1:%d -> fd=3 inherited=1 ",
		 bound_port(web));
	expect(out, line);
	snprintf(line, sizeof line, "listen %s -> fd=4 inherited=1 ", unix_addr);
	expect(out, line);
	expect(out, "ready 0,");
	/* The socket nobody claimed (fd 5) is closed once ready. */
	expect(out, "open=3,4,");
	expect_not(out, "open=3,4,5");
	/* The helper stopped for good, but the path was systemd's to remove. */
	ASSERT_EQ(access(sock, F_OK), 0);
	free(out);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
}

void test_environ_bad_input(void)
{
	int port = free_port();
	char spec[64], created[96], pid1[] = "LISTEN_PID=1";
	snprintf(spec, sizeof spec, "127.0.0.1:%d", port);
	snprintf(created, sizeof created, "listen 127.0.0.1:%d -> fd=", port);
	int sock = listen_on("127.0.0.1:0");
	char *out;

	out = inherit(spec, NULL, 0, 1, (char *[]){ "LISTEN_FDS=abc", NULL });
	expect(out, "inherited=0 warning=ignored LISTEN_FDS=abc: not a number");
	expect(out, "env LISTEN_FDS=unset LISTEN_PID=unset");
	expect(out, created);
	expect(out, "inherited=0 bound=");

	out = inherit(spec, NULL, 0, 1, (char *[]){ "LISTEN_FDS=5", NULL });
	expect(out, "inherited=0 warning=ignored LISTEN_FDS=5: descriptors are not open");
	expect(out, created);
	/* fd 3 alone missing: the library's own first descriptor must not be
	 * mistaken for it. */
	out = inherit(spec, NULL, 0, 1, (char *[]){ "LISTEN_FDS=1", NULL });
	expect(out, "inherited=0 warning=ignored LISTEN_FDS=1: descriptors are not open");

	out = inherit(spec, NULL, 0, 1,
		      (char *[]){ "LISTEN_FDS=99999999999999999999", NULL });
	expect(out, "inherited=0 warning=ignored LISTEN_FDS=");

	/* Another process's sockets: not ours, not an error, not adopted, not
	 * closed. Asking for the same address then fails: it is in use. */
	char same[64];
	snprintf(same, sizeof same, "127.0.0.1:%d", bound_port(sock));
	out = inherit(same, &sock, 1, 1, (char *[]){ pid1, NULL });
	expect(out, "inherited=0 warning=none");
	expect(out, "env LISTEN_FDS=unset LISTEN_PID=unset");
	expect(out, "-> error Address already in use");
	expect(out, "open=3");

	/* A stray fd 3 that is a regular file: never adopted, never closed. */
	int file = open(work_path("stray"), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	out = inherit(spec, &file, 1, 1, NULL);
	expect(out, "inherited=1 warning=none");
	expect(out, created);
	expect_not(out, "fd=3 ");
	expect(out, "open=3,");

	/* Names: empty is "unnamed"; overlong or miscounted are ignored, and
	 * matching falls back to the address. */
	snprintf(spec, sizeof spec, "127.0.0.1:%d;?web=", bound_port(sock));
	out = inherit(spec, &sock, 1, 1, (char *[]){ "LISTEN_FDNAMES=", NULL });
	expect(out, "warning=none");
	expect(out, "-> fd=3 inherited=1 ");
	expect(out, "listen web -> error No such file or directory");

	char overlong[400] = "LISTEN_FDNAMES=";
	memset(overlong + strlen(overlong), 'n', 300);
	out = inherit(spec, &sock, 1, 1, (char *[]){ overlong, NULL });
	expect(out, "warning=ignored LISTEN_FDNAMES=nnnn");
	expect(out, "-> fd=3 inherited=1 ");

	out = inherit(spec, &sock, 1, 1, (char *[]){ "LISTEN_FDNAMES=a:b", NULL });
	expect(out, "warning=ignored LISTEN_FDNAMES=a:b: count");

	/* HANDOFF_FD that is not a descriptor past the listeners. */
	out = inherit(spec, &sock, 1, 1,
		      (char *[]){ "HANDOFF_FD=3", "HANDOFF_GENERATION=7", NULL });
	expect(out, "generation=1 inherited=1 warning=ignored HANDOFF_FD=3");
	free(out);

	/* A stray HANDOFF_FD naming a regular file or /dev/null: ignored with a
	 * warning, like any malformed inherited value; start-up goes on. */
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	const int *strays[] = { &file, &devnull };
	for (int i = 0; i < 2; i++) {
		int pair[] = { sock, *strays[i] };
		out = inherit(spec, pair, 2, 1,
			      (char *[]){ "LISTEN_FDS=1", "HANDOFF_FD=4",
					  "HANDOFF_GENERATION=7", NULL });
		expect(out, "generation=1 inherited=1 warning=ignored HANDOFF_FD=4: "
			    "not a handoff channel");
		expect(out, "-> fd=3 inherited=1 ");
		expect(out, "ready 0,");
		free(out);
	}
	/* HANDOFF_CHANNEL_FD, the supervisor's channel: only with
	 * HANDOFF_SUPERVISOR=1 (and then a stray one is ignored with a
	 * warning); removed from the environment either way, so that no
	 * child of the server mistakes it for its own. */
	const char *cases[][2] = {
		{ "HANDOFF_SUPERVISOR=1", "warning=ignored HANDOFF_CHANNEL_FD=4: not a channel "
					  "from the supervisor" },
		{ "HANDOFF_SUPERVISOR=0", "warning=ignored HANDOFF_SUPERVISOR=0: not 1" },
	};
	for (int i = 0; i < 2; i++) {
		int pair[] = { sock, devnull = open("/dev/null", O_RDWR | O_CLOEXEC) };
		out = inherit(spec, pair, 2, 1,
			      (char *[]){ "LISTEN_FDS=1", "HANDOFF_CHANNEL_FD=4",
					  (char *)cases[i][0], NULL });
		expect(out, cases[i][1]);
		expect(out, "HANDOFF_CHANNEL_FD=unset");
		expect(out, "-> fd=3 inherited=1 ");
		expect(out, "ready 0,");
		free(out);
		close(devnull);
	}
	close(sock);
	close(file);
}

void test_listen_match_by_name(void)
{
	int a = listen_on("127.0.0.1:0"), b = listen_on("127.0.0.1:0");
	int c = listen_on("127.0.0.1:0"), d = listen_on("127.0.0.1:0");
	int fds[] = { a, b, c, d };
	char spec[256], line[96];
	/* b asked first: matching is by name and address, not position. c is
	 * asked with port 0 (name only). d's name is asked at another address:
	 * the service manager's socket wins, with a warning. */
	int moved = free_port();
	snprintf(spec, sizeof spec,
		 "b=127.0.0.1:%d;a=127.0.0.1:%d;c=127.0.0.1:0;127.0.0.1:0;d=127.0.0.1:%d",
		 bound_port(b), bound_port(a), moved);
	char *out = inherit(spec, fds, 4, 1,
			    (char *[]){ "LISTEN_FDNAMES=a:b:c:d", NULL });
	snprintf(line, sizeof line, "listen 127.0.0.1:%d -> fd=4 inherited=1 ",
		 bound_port(b));
	expect(out, line);
	snprintf(line, sizeof line, "listen 127.0.0.1:%d -> fd=3 inherited=1 ",
		 bound_port(a));
	expect(out, line);
	expect(out, "listen 127.0.0.1:0 -> fd=5 inherited=1 ");
	expect(out, "listen 127.0.0.1:0 -> fd=8 inherited=0 "); /* 7: epoll */
	snprintf(line, sizeof line, "listen 127.0.0.1:%d -> fd=6 inherited=1", moved);
	expect(out, line);
	expect(out, "warning=listener d: using 127.0.0.1:");
	expect(out, "open=3,4,5,6,");
	free(out);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
}

/* Fault injection for the next test: the runner's own vasprintf and
 * asprintf (they take precedence over libc's for the statically linked
 * library). They behave like libc's until asprintf_failures_after reaches
 * zero; then they fail and, as libc allows, leave *strp undefined: here a
 * pointer that was never allocated, which free() would crash on. */
static int asprintf_failures_after = -1;
static char never_allocated[8];

int vasprintf(char **strp, const char *format, va_list ap)
{
	if (asprintf_failures_after >= 0 && asprintf_failures_after-- == 0) {
		*strp = never_allocated;
		return -1;
	}
	va_list copy;
	va_copy(copy, ap);
	int n = vsnprintf(NULL, 0, format, copy);
	va_end(copy);
	char *text = n < 0 ? NULL : malloc((size_t)n + 1);
	if (!text)
		return -1;
	vsnprintf(text, (size_t)n + 1, format, ap);
	*strp = text;
	return n;
}

int asprintf(char **strp, const char *format, ...)
{
	va_list ap;
	va_start(ap, format);
	int n = vasprintf(strp, format, ap);
	va_end(ap);
	return n;
}

/* Out of memory while building the successor's environment: the upgrade
 * fails with -ENOMEM, frees only what it allocated, and the next one works. */
void test_environ_out_of_memory(void)
{
	struct handoff *h;
	ASSERT_EQ(handoff_new(&h, NULL, 1, (char *[]){ self_exe, NULL }), 0);
	ASSERT(handoff_listen(h, NULL, "127.0.0.1:0") > 2);
	ASSERT_EQ(handoff_ready(h), 0);
	for (int which = 0; which < 3; which++) {
		asprintf_failures_after = which; /* LISTEN_FDS, GENERATION, FD */
		ASSERT_EQ(handoff_upgrade(h), -ENOMEM);
		ASSERT_EQ(handoff_state(h), HANDOFF_STATE_SERVING);
	}
	asprintf_failures_after = -1;
	handoff_free(h);
}
