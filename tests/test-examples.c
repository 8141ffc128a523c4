/* test-examples.c — the small examples do what their comments promise.
 *
 * examples/drain.c is the drain a reader copies: after an upgrade, a
 * message sent on a connection to the old generation while it drains
 * still gets its answer from that generation, then a clean end of stream
 * (the lingering close), and the old generation exits 0. */
#include "harness.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* A line sent on fd gets "pid P: LINE" back from pid. */
static void expect_answer(int fd, const char *line, pid_t pid, const char *log)
{
	char want[128], got[256];
	snprintf(want, sizeof want, "pid %d: %s", (int)pid, line);
	ASSERT_EQ(send(fd, line, strlen(line), MSG_NOSIGNAL), (long)strlen(line));
	read_line(fd, got, sizeof got, 10000);
	if (strcmp(got, want) != 0)
		FAIL("sent \"%s\", expected \"%s\", got \"%s\"; log:\n%s", line,
		     want, got, file_text(log));
}

struct drain_server {
	const char *pidfile;
	pid_t old;
};

static int new_generation_ready(void *arg)
{
	const struct drain_server *s = arg;
	pid_t pid = read_pid(s->pidfile);
	return pid && pid != s->old;
}

void test_drain_example_answers_during_drain(void)
{
	char address[64], *log = work_path("drain.log");
	char pidfile[PATH_BUFFER];
	snprintf(pidfile, sizeof pidfile, "%s", work_path("drain.pid"));
	int port = free_port();
	snprintf(address, sizeof address, "127.0.0.1:%d", port);
	struct spawn_options o = { .output = log };
	/* A grace far longer than the test's own steps may take under load:
	 * the exit still comes at once, when the last client has gone. */
	pid_t old = spawn((char *[]){ bin_path("examples/drain"), "--pidfile",
				      pidfile, "--grace", "20000", address, NULL }, &o);
	struct drain_server s = { pidfile, 0 };
	if (!wait_for(new_generation_ready, &s, 10000))
		FAIL("drain did not start; log:\n%s", file_text(log));
	ASSERT_EQ(read_pid(pidfile), old);

	int fd = connect_port(port);
	expect_answer(fd, "before\n", old, log);
	ASSERT_EQ(kill(old, SIGHUP), 0);
	s.old = old;
	if (!wait_for(new_generation_ready, &s, 10000))
		FAIL("no new generation after SIGHUP; log:\n%s", file_text(log));
	pid_t next = read_pid(pidfile);
	/* The old generation has been told to drain: it closed its listener
	 * and waits for its idle client's next line. */
	if (!wait_file_contains(log, "draining, 1 clients", 1, 10000))
		FAIL("the old generation did not drain; log:\n%s", file_text(log));
	expect_answer(fd, "during the drain\n", old, log);
	char rest[64];
	ASSERT_EQ(read_line(fd, rest, sizeof rest, 10000), 0); /* its FIN, no reset */
	close(fd);
	int status;
	if (!wait_exit(old, 15000, &status))
		FAIL("old generation %d did not exit; log:\n%s", (int)old,
		     file_text(log));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("old generation ended with status 0x%x; log:\n%s", status,
		     file_text(log));

	fd = connect_port(port); /* the successor serves */
	expect_answer(fd, "after\n", next, log);
	close(fd);
	kill(next, SIGTERM);
	if (!wait_gone(next, 15000, &status))
		FAIL("new generation %d did not stop", (int)next);
}
