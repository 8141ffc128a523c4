/* test-examples.c — the small examples do what their comments promise.
 *
 * examples/drain.c is the drain a reader copies: after an upgrade, a
 * message sent on a connection to the old generation while it drains
 * still gets its answer from that generation, then a clean end of stream
 * (the lingering close), and the old generation exits 0.
 *
 * examples/echo.c, the server people read first, moves its clients at an
 * upgrade, a line half received included; at a stop, or towards a successor
 * that takes no connections, it drains them the classic way. */
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

/* Reads the line echo sends back on fd, failing with echo's log if none
 * comes; a close reads as an empty line, and fails the comparison. */
static void expect_line(int fd, const char *want, const char *log)
{
	char got[256];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, 10000 * timeout_multiplier) != 1)
		FAIL("no echo of \"%s\" within 10 s; log:\n%s", want, file_text(log));
	read_line(fd, got, sizeof got, 10000);
	if (strcmp(got, want) != 0)
		FAIL("expected \"%s\" back, got \"%s\"; log:\n%s", want, got, file_text(log));
}

/* The pid of echo's generation `generation`, from its "generation N ready"
 * line on stderr. */
static pid_t echo_ready(const char *log, unsigned generation)
{
	char needle[64];
	snprintf(needle, sizeof needle, "]: generation %u ready", generation);
	if (!wait_file_contains(log, needle, 1, 10000))
		FAIL("echo generation %u did not say it was ready; log:\n%s", generation,
		     file_text(log));
	char *text = read_file(log), *line = strstr(text, needle);
	while (line > text && line[-1] != '\n')
		line--;
	int pid = 0;
	if (sscanf(line, "echo[%d]", &pid) != 1 || pid <= 1)
		FAIL("no pid in echo's ready line; log:\n%s", text);
	free(text);
	return (pid_t)pid;
}

/* echo (program: examples/echo, or a link to it) on a free port. */
static pid_t echo_start(const char *program, char *log, int *port)
{
	char address[64];
	snprintf(log, PATH_BUFFER, "%s", work_path("echo.log"));
	*port = free_port();
	snprintf(address, sizeof address, "127.0.0.1:%d", *port);
	struct spawn_options o = { .output = log };
	pid_t pid = spawn((char *[]){ (char *)program, address, NULL }, &o);
	ASSERT_EQ(echo_ready(log, 1), pid);
	return pid;
}

/* Waits for pid's clean exit, which it says on stderr with how many clients
 * it left behind. */
static void expect_exit(pid_t pid, int clients_left, const char *log)
{
	int status;
	char needle[80];
	if (!wait_gone(pid, 10000, &status))
		FAIL("echo[%d] did not exit; log:\n%s", (int)pid, file_text(log));
	if (status != -1 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
		FAIL("echo[%d] ended with status 0x%x; log:\n%s", (int)pid, status, file_text(log));
	snprintf(needle, sizeof needle, "echo[%d]: exiting, %d clients left", (int)pid,
		 clients_left);
	if (count_in_file(log, needle) != 1)
		FAIL("no \"%s\"; log:\n%s", needle, file_text(log));
}

enum { ECHO_CLIENTS = 3, ECHO_UPGRADES = 10 };

/* 3 clients across 10 upgrades: at each, one of them has half a line in
 * echo's buffer (sent with a whole line, whose echo says echo has read
 * both) and sends the rest once the successor serves. Every line comes back
 * whole, no client sees a close, each old generation exits by itself with
 * no client left while they all stay connected: they moved. The serving
 * generation holds as many descriptors after each upgrade. */
void test_echo_moves_connections(void)
{
	char log[PATH_BUFFER], line[128];
	int port, fds[ECHO_CLIENTS];
	pid_t pid = echo_start(bin_path("examples/echo"), log, &port);
	for (int j = 0; j < ECHO_CLIENTS; j++) {
		fds[j] = connect_port(port);
		snprintf(line, sizeof line, "client %d says hello\n", j);
		send_text(fds[j], line);
		expect_line(fds[j], line, log);
	}
	int descriptors = -1;
	for (unsigned k = 1; k <= ECHO_UPGRADES; k++) {
		int fd = fds[k % ECHO_CLIENTS];
		snprintf(line, sizeof line, "whole line before upgrade %u\nhalf a line, ", k);
		send_text(fd, line);
		snprintf(line, sizeof line, "whole line before upgrade %u\n", k);
		expect_line(fd, line, log);

		ASSERT_EQ(kill(pid, SIGHUP), 0);
		pid_t next = echo_ready(log, k + 1);
		expect_exit(pid, 0, log);
		snprintf(line, sizeof line, "]: previous generation %d has exited", (int)pid);
		/* The successor has then closed its channel to it: its descriptors,
		 * counted below, are settled. */
		expect_in_file(log, line);

		snprintf(line, sizeof line, "the rest after upgrade %u\n", k);
		send_text(fd, line);
		snprintf(line, sizeof line, "half a line, the rest after upgrade %u\n", k);
		expect_line(fd, line, log);
		for (int j = 0; j < ECHO_CLIENTS; j++) {
			snprintf(line, sizeof line, "client %d after upgrade %u\n", j, k);
			send_text(fds[j], line);
			expect_line(fds[j], line, log);
		}
		int n = count_fds(next);
		if (descriptors < 0)
			descriptors = n;
		if (n != descriptors)
			FAIL("generation %u holds %d descriptors, generation 2 held %d; log:\n%s",
			     k + 1, n, descriptors, file_text(log));
		pid = next;
	}
	printf("  %d clients, %d upgrades, a half line moved at each; %d descriptors "
	       "in every generation\n", ECHO_CLIENTS, ECHO_UPGRADES, descriptors);
	for (int j = 0; j < ECHO_CLIENTS; j++)
		close(fds[j]);
	kill(pid, SIGTERM);
	expect_exit(pid, 0, log);
}

/* A stop hands over to no one (handoff_can_pass() is 0): echo stops
 * accepting and serves its client to the end, half line included, then
 * exits as soon as the client has gone. */
void test_echo_stop_drains_classically(void)
{
	char log[PATH_BUFFER];
	int port;
	pid_t pid = echo_start(bin_path("examples/echo"), log, &port);
	int fd = connect_port(port);
	send_text(fd, "before the stop\nhalf a line, ");
	expect_line(fd, "before the stop\n", log);
	ASSERT_EQ(kill(pid, SIGTERM), 0);
	expect_in_file(log, "stop requested");
	send_text(fd, "the rest during the drain\n");
	expect_line(fd, "half a line, the rest during the drain\n", log);
	close(fd);
	expect_exit(pid, 0, log);
}

/* A successor that takes no connections (tests/mover.c without
 * HANDOFF_CONNECTIONS, as an older program would be): handoff_can_pass()
 * is 0, echo serves its client on, half line included, while the successor
 * answers new ones; it exits once its client has gone. */
void test_echo_drains_for_a_successor_that_does_not_take(void)
{
	char log[PATH_BUFFER], link[PATH_BUFFER], mode[PATH_BUFFER], script[2 * PATH_BUFFER];
	snprintf(link, sizeof link, "%s", work_path("echo-release"));
	snprintf(mode, sizeof mode, "%s", work_path("mode"));
	if (symlink(bin_path("examples/echo"), link) < 0)
		FAIL("symlink %s: %s", link, strerror(errno));
	int port;
	pid_t pid = echo_start(link, log, &port);
	int fd = connect_port(port);
	send_text(fd, "before the upgrade\nhalf a line, ");
	expect_line(fd, "before the upgrade\n", log);

	/* The upgrade runs whatever is at echo's path by then. */
	write_file(mode, "classic", 0644);
	snprintf(script, sizeof script, "#!/bin/sh\nexec '%s' --helper mover '127.0.0.1:%d,%s'\n",
		 self_exe, port, mode);
	write_file_atomic(link, script, 0755);
	ASSERT_EQ(kill(pid, SIGHUP), 0);
	expect_in_file(log, "ready generation=2");
	expect_in_file(log, "is ready; draining");
	int other = connect_port(port); /* the successor accepts now */
	send_text(other, "ping\n");
	char line[128];
	read_line(other, line, sizeof line, 10000);
	if (strncmp(line, "pong gen=2 ", 11) != 0)
		FAIL("the successor answered \"%s\"; log:\n%s", line, file_text(log));
	close(other);

	send_text(fd, "the rest during the drain\n");
	expect_line(fd, "half a line, the rest during the drain\n", log);
	close(fd);
	expect_exit(pid, 0, log);
	if (count_in_file(log, "connections passed"))
		FAIL("echo passed a connection to a successor that takes none; log:\n%s",
		     file_text(log));
	const char *text = file_text(log), *at = strstr(text, "ready generation=2 pid=");
	pid_t successor = at ? (pid_t)atoi(at + strlen("ready generation=2 pid=")) : 0;
	if (successor <= 1)
		FAIL("no successor pid; log:\n%s", text);
	kill(successor, SIGTERM);
	int status;
	if (!wait_gone(successor, 10000, &status))
		FAIL("the successor did not stop; log:\n%s", file_text(log));
}
