/* test-adopt.c — `handoff run` adopting the ports a server binds itself
 * (tool/adopt.c), with the helper `binder` (tests/binder.c): a server that
 * knows nothing of LISTEN_FDS, abuses bind() first, then serves. Real
 * servers from Debian are in test-servers.c. */
#include "supervisor-kit.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static char port_text[16];

static char **binder(const struct sup *s)
{
	static char *argv[5];
	snprintf(port_text, sizeof port_text, "%d", s->port);
	argv[0] = self_exe;
	argv[1] = "--helper";
	argv[2] = "binder";
	argv[3] = port_text;
	argv[4] = NULL;
	return argv;
}

/* Every check the binder made in generation `number` passed. */
static void binder_checks_passed(const struct sup *s, int generations)
{
	if (!wait_file_contains(s->log, "binder: 0 failure(s)", generations, 10000) ||
	    count_in_file(s->log, " FAIL") != 0)
		FAIL("the binder's checks under adoption:\n%s", file_text(s->log));
}

struct pending {
	int fds[64];
	int count;
};

/* Every connect has completed: the kernel queued them all. */
static int all_connected(void *arg)
{
	struct pending *p = arg;
	for (int i = 0; i < p->count; i++) {
		struct pollfd q = { .fd = p->fds[i], .events = POLLOUT };
		int error = 0;
		socklen_t n = sizeof error;
		if (poll(&q, 1, 0) != 1 ||
		    getsockopt(p->fds[i], SOL_SOCKET, SO_ERROR, &error, &n) < 0 || error)
			return 0;
	}
	return 1;
}

static void open_pending(struct pending *p, int port)
{
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	p->count = 64;
	for (int i = 0; i < p->count; i++) {
		p->fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (connect(p->fds[i], (struct sockaddr *)&in, sizeof in) < 0 &&
		    errno != EINPROGRESS)
			FAIL("connect %d: %s", i, strerror(errno));
	}
}

void test_supervisor_adopts_binds(void)
{
	locate();
	struct sup s;
	struct load l;
	struct load_result r;
	sup_init(&s);
	char *hold = work_path("go");
	char env_hold[600];
	snprintf(env_hold, sizeof env_hold, "BINDER_HOLD=%s", hold);
	sup_start(&s, (char *[]){ "--ready=listen", NULL }, binder(&s),
		  (char *[]){ env_hold, NULL });
	binder_checks_passed(&s, 1);
	expect_in_file(s.log, "generation 1 listens on every listener: ready");
	ASSERT_EQ(handoff((char *[]){ "status", "--json", "--pidfile", s.pidfile, NULL }), 0);
	if (!strstr(said.out, "\"adoption\":true"))
		FAIL("status --json should say adoption is on:\n%s", said.out);

	/* The binder asked listen(5) and accepts nothing yet: 64 clients are
	 * queued all the same, in the supervisor's backlog. */
	struct pending p;
	open_pending(&p, s.port);
	if (!wait_for(all_connected, &p, 5000))
		FAIL("64 clients were not all queued while the server accepted nothing: "
		     "listen(5) shrank the shared backlog");
	write_file(hold, "", 0644);
	for (int i = 0; i < p.count; i++) {
		char body[256];
		ssize_t sent = send(p.fds[i], "GET / HTTP/1.0\r\n\r\n", 18, MSG_NOSIGNAL);
		fcntl(p.fds[i], F_SETFL, 0);
		if (sent != 18 || http_answer(p.fds[i], body, sizeof body, 10000) != 200)
			FAIL("queued client %d got no answer", i);
		close(p.fds[i]);
	}

	/* Reloads under load: each generation binds, is given a socket, and
	 * no request fails. */
	int fds = count_fds(s.pid);
	load_start(&l, s.port, (char *[]){ "--fresh", "4", NULL });
	for (unsigned g = 2; g <= 4; g++)
		reload_ok(&s, g, (int)g - 1);
	load_stop(&l, &r);
	load_print("binder reloads", &r);
	check_no_failures(&r);
	binder_checks_passed(&s, 4);
	/* Each generation had a listening socket of its own (the log says
	 * which), and new clients went to the serving one's: the supervisor
	 * keeps those sockets (no more than three), never one per bind. */
	expect_in_file(s.log, "generation 3 (pid");
	expect_in_file(s.log, "finishing: new clients go elsewhere");
	int after = count_fds(s.pid);
	if (after < fds || after > fds + 3)
		FAIL("the supervisor had %d descriptors before the reloads, %d after", fds,
		     after);
	reload_ok(&s, 5, 4);
	binder_checks_passed(&s, 5);
	ASSERT_EQ(count_fds(s.pid), after);
	sup_stop(&s);
}

void test_supervisor_adopt_failures(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	char *env_file = work_path("binder.env");
	write_file(env_file, "", 0644);
	sup_start(&s, (char *[]){ "--ready=listen", "--ready-timeout",
				  (char *)scaled_duration(2000), "--env-file", env_file, NULL },
		  binder(&s), NULL);
	struct gen first = only_generation(&s);

	write_file(env_file, "BINDER_EXIT=1\n", 0644);
	int code = control(&s, "reload");
	if (code != 1 || !strstr(said.err, "exited with status 3 before it was ready: "
				 "it listened on 0 of 1 listener(s)"))
		FAIL("a generation that exits at once: exit %d, stderr %s\nlog:\n%s", code,
		     said.err, file_text(s.log));
	ASSERT(answers(s.port, first.pid, first.number));

	/* Binds, never listens: the timeout says what it saw. */
	write_file(env_file, "BINDER_NO_LISTEN=1\n", 0644);
	code = control(&s, "reload");
	if (code != 1 || !strstr(said.err, "not ready in time"))
		FAIL("a generation that never listens: exit %d, stderr %s\nlog:\n%s", code,
		     said.err, file_text(s.log));
	char missing[128];
	snprintf(missing, sizeof missing, "listened on 0 of 1 listener(s) (missing %s)",
		 s.address);
	expect_in_file(s.log, missing);
	ASSERT(answers(s.port, first.pid, first.number));
	ASSERT_EQ(only_generation(&s).pid, first.pid);
	sup_stop(&s);
}

/* Without adoption, a server that binds a held port fails, and the
 * message names the port and the way out. */
void test_supervisor_no_adopt_says_why(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	char *argv[64];
	run_argv(argv, 64, &s, 0, (char *[]){ "--no-adopt", NULL }, binder(&s));
	struct spawn_options o = { .output = s.log };
	s.pid = spawn(argv, &o);
	int status;
	if (!wait_exit(s.pid, 20000, &status))
		FAIL("handoff run --no-adopt with a server that binds the port: still "
		     "running; log:\n%s", file_text(s.log));
	char hint[160];
	snprintf(hint, sizeof hint, "a server that binds %s itself fails with "
		 "\"Address already in use\"", s.address);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 1 || !strstr(file_text(s.log), hint) ||
	    !strstr(file_text(s.log), "drop --no-adopt"))
		FAIL("expected exit 1 and \"%s\"; status 0x%x, log:\n%s", hint, status,
		     file_text(s.log));
	nothing_left(s.port);
}

/* A supervisor where seccomp is forbidden (as in some sandboxes): --adopt
 * and --ready=listen refuse to start, saying why; by default it warns and
 * serves LISTEN_FDS servers as before. */
static void forbid_seccomp(void)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_seccomp, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog program = { .len = 4, .filter = code };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program) < 0)
		FAIL("cannot forbid seccomp in this process: %s", strerror(errno));
}

void test_supervisor_adopt_unavailable(void)
{
	locate();
	forbid_seccomp(); /* this test's process and what it starts */
	struct sup s;
	sup_init(&s);
	const char *options[][2] = { { "--adopt", NULL }, { "--ready=listen", NULL } };
	for (int i = 0; i < 2; i++) {
		char *argv[64];
		run_argv(argv, 64, &s, 0, (char **)options[i], binder(&s));
		int code = run_command(argv, s.log, s.log, 20000);
		if (code != 1 || !strstr(file_text(s.log), "seccomp filters are not allowed here") ||
		    !strstr(file_text(s.log), "--no-adopt"))
			FAIL("%s where seccomp is forbidden: exit %d, log:\n%s", options[i][0],
			     code, file_text(s.log));
		nothing_left(s.port);
	}
	install_httpd(work_path("httpd.sh"), &s);
	sup_start(&s, NULL, (char *[]){ work_path("httpd.sh"), NULL }, NULL);
	expect_in_file(s.log, "going on without adoption");
	reload_ok(&s, 2, 1);
	sup_stop(&s);
}

/* --ready=exec:CMD: ready once CMD exits 0, whatever the server says. */
void test_supervisor_ready_exec(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	char probe[700];
	snprintf(probe, sizeof probe, "--ready=exec:test -e %s/go-$HANDOFF_GENERATION",
		 work_dir);
	write_file(work_path("go-1"), "", 0644);
	sup_start(&s, (char *[]){ probe, "--ready-timeout", (char *)scaled_duration(3000),
				  NULL }, binder(&s), NULL);
	expect_in_file(s.log, "generation 1: --ready=exec: command exited 0");

	/* Generation 2 binds and listens, but is not ready until go-2. */
	char *argv[] = { handoff_bin, "reload", "--pidfile", s.pidfile, NULL };
	struct spawn_options o = { .output = work_path("reload.out") };
	pid_t reload = spawn(argv, &o);
	if (!wait_file_contains(s.log, "binder: 0 failure(s)", 2, 10000))
		FAIL("generation 2 did not bind; log:\n%s", file_text(s.log));
	int status;
	if (wait_exit(reload, 300, &status))
		FAIL("the reload ended before the probe passed: %s", file_text(o.output));
	write_file(work_path("go-2"), "", 0644);
	if (!wait_exit(reload, 10000, &status) || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		FAIL("reload once go-2 exists: status 0x%x, %s; log:\n%s", status,
		     file_text(o.output), file_text(s.log));

	/* No go-3: the timeout says what the probe said. */
	int code = control(&s, "reload");
	if (code != 1 || !strstr(said.err, "not ready in time"))
		FAIL("a probe that never passes: exit %d, stderr %s", code, said.err);
	expect_in_file(s.log, "--ready=exec: ran ");
	expect_in_file(s.log, "last exit status 1");
	ASSERT(answers(s.port, wait_serving(&s, 2).pid, 2));
	sup_stop(&s);
}

/* ------------------------------------------- steering and finishing */

/* static-server (tests/static-server.c) on our port: it answers one
 * connection at a time, "generation=N pid=P". */
static void start_static_server(struct sup *s, char *const options[])
{
	static char server[512];
	snprintf(server, sizeof server, "%s", bin_path("tests/static-server"));
	snprintf(port_text, sizeof port_text, "%d", s->port);
	sup_start(s, options, (char *[]){ server, port_text, NULL }, NULL);
}

/* Half a request: the generation that accepts it waits for the rest. */
static int hold_a_client(int port)
{
	int fd = connect_port(port);
	send_text(fd, "GET / HTTP/1.0\r\n");
	return fd;
}

/* n clients with a whole request each, queued behind a held one. */
static void queue_clients(int port, int *fds, int n)
{
	for (int i = 0; i < n; i++) {
		fds[i] = connect_port(port);
		send_text(fds[i], "GET / HTTP/1.0\r\n\r\n");
	}
}

/* Each of them answered by generation `number`, and closed. */
static void answered_by(const struct sup *s, int *fds, int n, unsigned number)
{
	char want[32];
	snprintf(want, sizeof want, "generation=%u ", number);
	for (int i = 0; i < n; i++) {
		char body[128] = "";
		int code = http_answer(fds[i], body, sizeof body, 10000);
		if (code != 200 || !strstr(body, want))
			FAIL("queued client %d got %d \"%s\" instead of generation %u's "
			     "answer; log:\n%s", i, code, body, number, file_text(s->log));
		close(fds[i]);
	}
}

/* n new clients, every one answered by generation `number`. */
static void new_clients_go_to(const struct sup *s, unsigned number, int n)
{
	char want[32];
	snprintf(want, sizeof want, "generation=%u ", number);
	for (int i = 0; i < n; i++) {
		char body[128] = "";
		int code = http_get("127.0.0.1", s->port, "/", body, sizeof body);
		if (code != 200 || !strstr(body, want))
			FAIL("new client %d: %d \"%s\": only generation %u should take new "
			     "clients; log:\n%s", i, code, body, number, file_text(s->log));
	}
}

/* Reloaded, a generation that had a listening socket of its own takes no
 * new client, answers the one it holds, and only then is asked to drain:
 * a server that would cut what it holds when asked to stop cuts nothing. */
void test_supervisor_adopt_steers_new_clients(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	start_static_server(&s, (char *[]){ "--ready=listen", "--finish-timeout",
					    (char *)scaled_duration(60000), NULL });
	struct gen first = only_generation(&s);
	int held = hold_a_client(s.port);
	/* Clients queued behind the held one, on generation 1's socket: a
	 * socket handed over by SO_REUSEPORT loses its queue when it closes
	 * (LESSONS.md, rule 1); these are answered by generation 1 below. */
	enum { QUEUED = 10 };
	int queued[QUEUED];
	queue_clients(s.port, queued, QUEUED);
	reload_ok(&s, 2, 0);
	new_clients_go_to(&s, 2, 50);
	char line[128];
	snprintf(line, sizeof line, "generation 1 (pid %d) finishing", (int)first.pid);
	expect_in_file(s.log, line);
	snprintf(line, sizeof line, "generation 1 (pid %d) draining", (int)first.pid);
	if (count_in_file(s.log, line) || kill(first.pid, 0) < 0)
		FAIL("generation 1 was asked to drain while it held a client; log:\n%s",
		     file_text(s.log));

	/* The supervisor upgrades itself meanwhile: the sockets, whose they
	 * are and where new clients go are kept, and so is the finishing. */
	int code = handoff((char *[]){ "reload", "--self", "--pidfile", s.pidfile, NULL });
	if (code != 0)
		FAIL("reload --self: exit %d, stdout %s, stderr %s; log:\n%s", code, said.out,
		     said.err, file_text(s.log));
	new_clients_go_to(&s, 2, 50);
	if (count_in_file(s.log, line) || kill(first.pid, 0) < 0)
		FAIL("across reload --self, generation 1 stopped finishing; log:\n%s",
		     file_text(s.log));

	/* The rest of the request: generation 1 answers it, takes nothing
	 * new meanwhile, and drains once it holds nothing. */
	send_text(held, "\r\n");
	char body[128] = "";
	code = http_answer(held, body, sizeof body, 10000);
	if (code != 200 || !strstr(body, "generation=1 "))
		FAIL("the held client got %d \"%s\" instead of generation 1's answer", code,
		     body);
	close(held);
	answered_by(&s, queued, QUEUED, 1);
	new_clients_go_to(&s, 2, 50);
	snprintf(line, sizeof line, "generation 1 (pid %d) has answered what it took",
		 (int)first.pid);
	expect_in_file(s.log, line);
	snprintf(line, sizeof line, "generation 1 (pid %d) exited with status 0 after "
		 "draining", (int)first.pid);
	expect_in_file(s.log, line);
	/* And the next reload steers as well, to a socket made before. */
	reload_ok(&s, 3, 0);
	new_clients_go_to(&s, 3, 50);
	sup_stop(&s);
}

/* A generation that keeps a client past --finish-timeout is asked to drain
 * all the same, and --drain-timeout still bounds it; the clients it never
 * accepted wait on its socket for the next generation started. */
void test_supervisor_adopt_finish_deadline(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	start_static_server(&s, (char *[]){ "--ready=listen", "--finish-timeout", "300ms",
					    "--drain-timeout",
					    (char *)scaled_duration(1000), NULL });
	struct gen first = only_generation(&s);
	int held = hold_a_client(s.port);
	/* Queued behind it, on generation 1's socket: they outlive it. */
	enum { QUEUED = 5 };
	int queued[QUEUED];
	queue_clients(s.port, queued, QUEUED);
	reload_ok(&s, 2, 0);
	char line[128];
	snprintf(line, sizeof line, "generation 1 (pid %d) still holds connections at the "
		 "finish deadline", (int)first.pid);
	expect_in_file(s.log, line);
	snprintf(line, sizeof line, "generation 1 (pid %d) still draining at the deadline",
		 (int)first.pid);
	expect_in_file(s.log, line);
	char body[64];
	int got = http_read_response(held, body, sizeof body, 10000);
	if (got > 0)
		FAIL("the held client got an answer from a killed generation: %s", body);
	close(held);
	new_clients_go_to(&s, 2, 10);
	/* The next generation started is given the socket they wait on. */
	reload_ok(&s, 3, 0);
	answered_by(&s, queued, QUEUED, 3);
	new_clients_go_to(&s, 3, 10);
	sup_stop(&s);
}
