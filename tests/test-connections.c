/* test-connections.c — live connections moving between generations
 * (HANDOFF_CONNECTIONS): across upgrades with a line cut in two, to an
 * older successor (classic drain), to a successor that dies on the way,
 * and bad messages on the channel. The server is the `mover` helper
 * (tests/mover.c). */
#include "harness.h"
#include "conn_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct mover {
	pid_t pid;
	unsigned generation;
	int port;
	char log[256], mode[256];
};

/* The pid that logged "ready generation=G pid=P"; waits for the line. */
static pid_t ready_pid(struct mover *m, unsigned generation)
{
	char line[64];
	snprintf(line, sizeof line, "ready generation=%u pid=", generation);
	expect_in_file(m->log, line);
	const char *text = file_text(m->log);
	return (pid_t)atoi(strstr(text, line) + strlen(line));
}

/* A mover on port (0: a free one), logging to log_name in the work dir. */
static void mover_start_on(struct mover *m, const char *mode, int port, const char *log_name)
{
	m->port = port ? port : free_port();
	snprintf(m->log, sizeof m->log, "%s", work_path(log_name));
	snprintf(m->mode, sizeof m->mode, "%s", work_path("mode"));
	write_file(m->mode, mode, 0644);
	char spec[400];
	snprintf(spec, sizeof spec, "127.0.0.1:%d,%s", m->port, m->mode);
	struct spawn_options o = { .output = m->log };
	spawn_helper("mover", spec, &o);
	m->generation = 1;
	m->pid = ready_pid(m, 1);
}

static void mover_start(struct mover *m, const char *mode)
{
	mover_start_on(m, mode, 0, "mover.log");
}

/* SIGHUP; returns the new generation's pid once it is ready. */
static pid_t mover_upgrade(struct mover *m, const char *next_mode)
{
	write_file(m->mode, next_mode, 0644);
	kill(m->pid, SIGHUP);
	return ready_pid(m, ++m->generation);
}

static void mover_stop(struct mover *m, pid_t pid)
{
	int status;
	kill(pid, SIGTERM);
	if (!wait_gone(pid, 10000, &status))
		FAIL("generation %u (%d) did not stop:\n%s", m->generation, (int)pid,
		     file_text(m->log));
}

/* The answer to the line just completed on fd must come from generation
 * gen, process pid, and count `count` lines on this connection. */
static void expect_pong(struct mover *m, int fd, unsigned gen, unsigned long count, pid_t pid)
{
	char got[128], want[128];
	if (read_line(fd, got, sizeof got, 10000) == 0)
		FAIL("the server closed the connection; its log:\n%s", file_text(m->log));
	snprintf(want, sizeof want, "pong gen=%u count=%lu pid=%d\n", gen, count, (int)pid);
	if (strcmp(got, want) != 0)
		FAIL("expected \"%.*s\", got \"%s\"; log:\n%s", (int)strlen(want) - 1, want, got,
		     file_text(m->log));
}

enum { CONNS = 3, UPGRADES = 20 };

/* A line on each connection, answered by generation gen (process pid) as
 * the count-th line of that connection. */
static void ping_all(struct mover *m, const int fds[CONNS], unsigned gen, unsigned long count,
		     pid_t pid)
{
	for (int i = 0; i < CONNS; i++) {
		send_text(fds[i], "ping\n");
		expect_pong(m, fds[i], gen, count, pid);
	}
}

/* A mover whose first generation answered one line on each of CONNS
 * connections. */
static void mover_start_with(struct mover *m, int fds[CONNS], const char *log_name, int port)
{
	mover_start_on(m, "move", port, log_name);
	for (int i = 0; i < CONNS; i++)
		fds[i] = connect_port(m->port);
	ping_all(m, fds, 1, 1, m->pid);
}

static void close_all(const int fds[CONNS])
{
	for (int i = 0; i < CONNS; i++)
		close(fds[i]);
}

void test_connections_move_across_upgrades(void)
{
	struct mover m;
	int fds[CONNS];
	mover_start_with(&m, fds, "mover.log", 0);
	int fds_at_2 = -1;
	for (unsigned gen = 2; gen <= UPGRADES + 1; gen++) {
		/* Half a line now, the rest after the upgrade: the old
		 * generation may have read it, and passes it on. */
		send_text(fds[0], "pi");
		pid_t old = m.pid;
		pid_t next = mover_upgrade(&m, "move");
		int status;
		if (!wait_gone(old, 10000, &status) || status != 0)
			FAIL("generation %u did not exit cleanly after passing its "
			     "connections:\n%s", gen - 1, file_text(m.log));
		m.pid = next;
		send_text(fds[0], "ng\n");
		expect_pong(&m, fds[0], gen, gen, next);
		for (int i = 1; i < CONNS; i++) {
			send_text(fds[i], "ping\n");
			expect_pong(&m, fds[i], gen, gen, next);
		}
		int now = count_fds(next);
		if (gen == 2)
			fds_at_2 = now;
		else if (now != fds_at_2)
			FAIL("generation %u holds %d descriptors, generation 2 held %d",
			     gen, now, fds_at_2);
	}
	printf("  %d connections across %d upgrades: every line answered, none closed; "
	       "%d descriptors per generation\n", CONNS, UPGRADES, fds_at_2);
	for (int i = 0; i < CONNS; i++)
		close(fds[i]);
	mover_stop(&m, m.pid);
}

/* Many connections, each with a state near the limit, move at once: they
 * stream through the channel a message at a time (two 60 KB states per
 * 128 KB message) between turns of both loops, and each state arrives
 * whole, on its own connection. A client that connects meanwhile is
 * served by the successor. */
void test_connections_many_with_large_states(void)
{
	enum { MANY = 300, ROUNDS = 3 };
	static int fds[MANY];
	struct mover m;
	mover_start(&m, "big");
	for (int i = 0; i < MANY; i++) {
		fds[i] = connect_port(m.port);
		send_text(fds[i], "ping\n");
	}
	for (int i = 0; i < MANY; i++)
		expect_pong(&m, fds[i], 1, 1, m.pid);
	long moved_ms[ROUNDS];
	for (unsigned gen = 2; gen <= ROUNDS + 1; gen++) {
		pid_t old = m.pid;
		long start = clock_us();
		m.pid = mover_upgrade(&m, "big");
		int probe = connect_port(m.port);
		send_text(probe, "ping\n");
		expect_pong(&m, probe, gen, 1, m.pid);
		close(probe);
		int status;
		if (!wait_gone(old, 20000, &status) || status != 0)
			FAIL("generation %u did not pass its %d connections and exit:\n%s",
			     gen - 1, MANY, file_text(m.log));
		moved_ms[gen - 2] = (clock_us() - start) / 1000;
		for (int i = 0; i < MANY; i++) {
			send_text(fds[i], "ping\n");
			expect_pong(&m, fds[i], gen, gen, m.pid);
		}
	}
	if (count_in_file(m.log, "bad state"))
		FAIL("a state arrived changed:\n%s", file_text(m.log));
	if (count_in_file(m.log, "stays here"))
		FAIL("a connection was not moved:\n%s", file_text(m.log));
	printf("  %d connections with %d KB of state each (%.1f MB a move) across %d "
	       "upgrades; SIGHUP to old generation gone: %ld, %ld, %ld ms\n", MANY, 60,
	       MANY * 60000 / 1e6, ROUNDS, moved_ms[0], moved_ms[1], moved_ms[2]);
	for (int i = 0; i < MANY; i++)
		close(fds[i]);
	mover_stop(&m, m.pid);
}

/* A successor without HANDOFF_CONNECTIONS: the old generation is never
 * asked to pass, and serves its connections to the end itself. */
void test_connections_classic_successor(void)
{
	struct mover m;
	mover_start(&m, "move");
	int a = connect_port(m.port);
	send_text(a, "ping\n");
	expect_pong(&m, a, 1, 1, m.pid);
	pid_t old = m.pid, next = mover_upgrade(&m, "classic");
	expect_in_file(m.log, "gen 1: drain, can pass 0");
	send_text(a, "ping\n");
	expect_pong(&m, a, 1, 2, old); /* still the old generation's */
	int b = connect_port(m.port);
	send_text(b, "ping\n");
	expect_pong(&m, b, 2, 1, next);
	close(a);
	int status;
	if (!wait_gone(old, 10000, &status) || status != 0)
		FAIL("generation 1 did not finish:\n%s", file_text(m.log));
	close(b);
	mover_stop(&m, next);
}

/* The successor dies with connections on the way: they come back to the
 * old generation, which serves them on. */
void test_connections_successor_dies_while_moving(void)
{
	struct mover m;
	int fds[CONNS];
	mover_start_with(&m, fds, "mover.log", 0);
	pid_t old = m.pid;
	mover_upgrade(&m, "die");
	expect_in_file(m.log, "gen 2: dying with connections on the way");
	/* Each comes back (EPIPE), or was never passed once the library saw
	 * the successor gone (ENOTCONN): which, depends on when it died. */
	if (!wait_file_contains(m.log, "gen 1: connection stays here: ", CONNS, 10000))
		FAIL("the connections did not come back:\n%s", file_text(m.log));
	ping_all(&m, fds, 1, 2, old);
	close_all(fds);
	int status;
	if (!wait_gone(old, 10000, &status) || status != 0)
		FAIL("generation 1 did not finish:\n%s", file_text(m.log));
}

/* The successor is SIGKILLed while its connections wait to be taken: none
 * was acknowledged, so each comes back to the old generation and is served
 * to the end. The listeners died with the successor (in library mode the
 * serving generation is the service): what a service manager does next,
 * start the server again on the same port, works at once beside the old
 * generation still serving, and its upgrades move connections again. */
void test_connections_successor_killed_while_moving(void)
{
	struct mover m;
	int fds[CONNS];
	mover_start_with(&m, fds, "mover.log", 0);
	pid_t old = m.pid, stalled = mover_upgrade(&m, "stall");
	expect_in_file(m.log, "gen 2: stalling with connections on the way");
	kill(stalled, SIGKILL);
	if (!wait_file_contains(m.log, "gen 1: connection stays here: Broken pipe", CONNS, 10000))
		FAIL("the connections did not come back:\n%s", file_text(m.log));
	ping_all(&m, fds, 1, 2, old);

	struct mover again;
	int again_fds[CONNS];
	mover_start_with(&again, again_fds, "mover-again.log", m.port);
	for (int i = 0; i < 3; i++) {
		pid_t before = again.pid;
		again.pid = mover_upgrade(&again, "move");
		ping_all(&again, again_fds, again.generation, again.generation, again.pid);
		int status;
		if (!wait_gone(before, 10000, &status) || status != 0)
			FAIL("generation %u did not exit after passing its connections:\n%s",
			     again.generation - 1, file_text(again.log));
	}
	ping_all(&m, fds, 1, 3, old); /* still served, all along */
	close_all(fds);
	int status;
	if (!wait_gone(old, 10000, &status) || status != 0)
		FAIL("the first server's generation 1 did not finish:\n%s", file_text(m.log));
	close_all(again_fds);
	mover_stop(&again, again.pid);
	printf("  %d connections back from a SIGKILLed successor, served to the end; "
	       "a restart on the same port and 3 upgrades after it moved theirs\n", CONNS);
}

/* The successor's application cannot take them (handoff_refuse, as out of
 * memory): the old generation serves them on, and the successor serves
 * new connections. */
void test_connections_refused_by_successor(void)
{
	struct mover m;
	int fds[CONNS];
	mover_start_with(&m, fds, "mover.log", 0);
	pid_t old = m.pid, next = mover_upgrade(&m, "refuse");
	if (!wait_file_contains(m.log, "gen 1: connection stays here: Cannot allocate memory",
				CONNS, 10000))
		FAIL("the refused connections did not come back:\n%s", file_text(m.log));
	/* Its lines may reach the log after the old generation's. */
	if (!wait_file_contains(m.log, "gen 2: refusing a connection: 0", CONNS, 10000))
		FAIL("the successor did not refuse them with handoff_refuse():\n%s",
		     file_text(m.log));
	ping_all(&m, fds, 1, 2, old);
	int b = connect_port(m.port);
	send_text(b, "ping\n");
	expect_pong(&m, b, 2, 1, next);
	close_all(fds);
	int status;
	if (!wait_gone(old, 10000, &status) || status != 0)
		FAIL("generation 1 did not finish:\n%s", file_text(m.log));
	close(b);
	mover_stop(&m, next);
}

/* --- bad input, in this process: we play the old generation */

static int channel[2];
static struct handoff *h;

static void successor_start(void)
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel) < 0)
		FAIL("socketpair: %s", strerror(errno));
	char pid[16], fd[16];
	snprintf(pid, sizeof pid, "%d", (int)getpid());
	snprintf(fd, sizeof fd, "%d", channel[1]);
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", "0", 1);
	setenv("HANDOFF_FD", fd, 1);
	struct handoff_config config = { .size = sizeof config,
					 .flags = HANDOFF_CONNECTIONS | HANDOFF_NO_NOTIFY };
	char *argv[] = { self_exe, NULL };
	ASSERT_EQ(handoff_new(&h, &config, 1, argv), 0);
	ASSERT_EQ(handoff_ready(h), 0);
	char ready[128] = "";
	ASSERT(recv(channel[0], ready, sizeof ready - 1, MSG_DONTWAIT) > 0);
	if (!strstr(ready, " connections=1"))
		FAIL("the ready message does not offer to take connections: %s", ready);
}

/* Sends bytes with descriptors attached. */
static void send_with(const void *bytes, size_t length, const int *fds, int nfds)
{
	if (send_fds(channel[0], NULL, bytes, length, fds, nfds) != (ssize_t)length)
		FAIL("sendmsg: %s", strerror(errno));
}

static unsigned char message[HO_WIRE_MESSAGE_MAX];

/* A CONNECTIONS message of n records with ids first, first + 1, ... */
static size_t connections(uint64_t first, int n, const char *state)
{
	struct ho_wire_writer w;
	ho_wire_begin(&w, message, sizeof message, HO_WIRE_CONNECTIONS);
	for (int i = 0; i < n; i++)
		ASSERT_EQ(ho_wire_add(&w, first + (uint64_t)i, "pi", 2, state, strlen(state), 0), 0);
	return ho_wire_finish(&w);
}

/* handoff_next() finds no connection to hand out. */
static void no_event(const char *what)
{
	struct handoff_event ev;
	int r;
	while ((r = handoff_next(h, &ev)) == 1)
		if (ev.type == HANDOFF_EVENT_CONNECTIONS)
			FAIL("%s: connections handed out", what);
	ASSERT_EQ(r, 0);
}

/* Nothing more on the channel: in particular no refusal naming no record,
 * which the sender would apply to its next message in flight, keeping
 * connections that the successor may go on to take. */
static void expect_no_answer(const char *what)
{
	unsigned char answer[4096];
	ssize_t n = recv(channel[0], answer, sizeof answer, MSG_DONTWAIT);
	if (n >= 0 || errno != EAGAIN)
		FAIL("%s: an answer too many (%zd bytes: %s)", what, n,
		     n < 0 ? strerror(errno) : "a message");
}

/* The next answer on the channel: its type, and its first record's id and
 * error; id 0 and error 0: a refusal naming no record (the whole message). */
static void expect_answer(const char *what, enum ho_wire_type type, uint64_t id, int error)
{
	unsigned char answer[4096];
	ssize_t n = recv(channel[0], answer, sizeof answer, MSG_DONTWAIT);
	if (n <= 0)
		FAIL("%s: no answer (%s)", what, n < 0 ? strerror(errno) : "EOF");
	struct ho_wire_reader r;
	struct ho_wire_record rec;
	ASSERT_EQ(ho_wire_open(&r, answer, (size_t)n), 0);
	if (r.type != (unsigned)type)
		FAIL("%s: answer of type %u, expected %u", what, r.type, (unsigned)type);
	if (id == 0 && error == 0) { /* "the whole message": no record */
		if (r.count != 0)
			FAIL("%s: expected a refusal of the whole message", what);
		return;
	}
	ASSERT_EQ(ho_wire_next(&r, &rec), 1);
	ASSERT_EQ(rec.id, id);
	ASSERT_EQ(rec.error, error);
}

void test_connections_bad_input_refused(void)
{
	successor_start();
	int before = count_fds(getpid());
	int sock[2], pipe_fds[2];
	ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock), 0);
	ASSERT_EQ(pipe2(pipe_fds, O_CLOEXEC), 0);

	send_with("hello", 5, NULL, 0);
	no_event("not a message of ours");
	expect_answer("not a message of ours", HO_WIRE_REFUSED, 0, 0);
	send_with("HOCN", 4, sock, 1);
	no_event("a truncated header, with a descriptor");
	expect_answer("a truncated header", HO_WIRE_REFUSED, 0, 0);

	size_t length = connections(10, 1, "s");
	send_with(message, length, (int[]){ sock[0], sock[1] }, 2);
	no_event("more descriptors than records");
	expect_answer("more descriptors than records", HO_WIRE_REFUSED, 10, EPROTO);
	expect_no_answer("more descriptors than records, each named");

	length = connections(11, 2, "s");
	send_with(message, length, sock, 1);
	no_event("fewer descriptors than records");
	expect_answer("fewer descriptors than records", HO_WIRE_REFUSED, 11, EPROTO);
	expect_no_answer("fewer descriptors than records, each named");

	length = connections(13, 1, "s");
	send_with(message, length, pipe_fds, 1);
	no_event("a pipe for a connection");
	expect_answer("a pipe for a connection", HO_WIRE_REFUSED, 13, ENOTSOCK);

	/* The second record's state claims more than the message holds: the
	 * message cannot be trusted; the first id is refused by name, the rest
	 * as "the whole message". */
	length = connections(14, 2, "s");
	size_t record = 4 + 8 + 8 + 8 + 2 + 8 + 1; /* id, "pi", "s" */
	message[HO_WIRE_HEADER_SIZE + record + 4 + 8 + 8 + 8 + 2 + 4 + 2] = 0x7f;
	send_with(message, length, sock, 2);
	no_event("a state past its limit");
	expect_answer("a state past its limit", HO_WIRE_REFUSED, 14, EPROTO);
	expect_answer("a state past its limit", HO_WIRE_REFUSED, 0, 0);
	expect_no_answer("a state past its limit");

	ASSERT_EQ(count_fds(getpid()), before + 4); /* the pair and the pipe */

	/* A good one, of two connections: one taken, the other not taken
	 * before the next handoff_next() goes back to its sender. */
	length = connections(20, 2, "count=7");
	send_with(message, length, sock, 2);
	struct handoff_event ev;
	ASSERT_EQ(handoff_next(h, &ev), 1);
	ASSERT_EQ(ev.type, HANDOFF_EVENT_CONNECTIONS);
	struct handoff_connection c;
	ASSERT_EQ(handoff_receive(h, &c), 1);
	ASSERT(c.fd >= 0 && c.fd != sock[0] && c.fd != sock[1]);
	ASSERT_EQ(c.pending_length, 2);
	ASSERT(memcmp(c.pending, "pi", 2) == 0);
	ASSERT_EQ(c.state_length, 7);
	ASSERT(memcmp(c.state, "count=7", 7) == 0);
	ASSERT(fcntl(c.fd, F_GETFD) & FD_CLOEXEC);
	close(c.fd);
	no_event("after one of two");
	expect_answer("the one taken", HO_WIRE_TAKEN, 20, 0);
	expect_answer("the one not taken", HO_WIRE_REFUSED, 21, ECANCELED);
	ASSERT_EQ(count_fds(getpid()), before + 4);

	handoff_free(h);
	close(sock[0]);
	close(sock[1]);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
	close(channel[0]);
}

/* The application gives back a connection it cannot adopt: refused with
 * its errno, its descriptor closed here; only the one received last, and
 * only before the next handoff_receive(). */
void test_connections_refused_by_application(void)
{
	successor_start();
	int before = count_fds(getpid());
	int sock[2];
	ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock), 0);
	size_t length = connections(30, 2, "s");
	send_with(message, length, sock, 2);
	struct handoff_event ev;
	ASSERT_EQ(handoff_next(h, &ev), 1);
	ASSERT_EQ(ev.type, HANDOFF_EVENT_CONNECTIONS);
	struct handoff_connection first, second;
	ASSERT_EQ(handoff_receive(h, &first), 1);
	ASSERT_EQ(handoff_refuse(h, &first, ENOMEM), -EINVAL); /* not a negative errno */
	ASSERT_EQ(handoff_refuse(h, &first, -ENOMEM), 0);
	ASSERT_EQ(handoff_refuse(h, &first, -ENOMEM), -EINVAL); /* refused already */
	expect_answer("the refused one", HO_WIRE_REFUSED, 30, ENOMEM);
	ASSERT_EQ(count_fds(getpid()), before + 2 + 1); /* the pair, the second */
	ASSERT_EQ(handoff_receive(h, &second), 1);
	ASSERT_EQ(handoff_refuse(h, &first, -ENOMEM), -EINVAL); /* not the last */
	ASSERT_EQ(handoff_receive(h, &second), 0);
	ASSERT_EQ(handoff_refuse(h, &second, -ENOMEM), -EINVAL); /* taken already */
	expect_answer("the taken one", HO_WIRE_TAKEN, 31, 0);
	close(second.fd);
	no_event("after both");
	ASSERT_EQ(count_fds(getpid()), before + 2);
	handoff_free(h);
	close(sock[0]);
	close(sock[1]);
	close(channel[0]);
	printf("  refused with ENOMEM, its descriptor closed; too late once taken\n");
}
