/* test-supervisor.c — `handoff run`: a supervisor whose pid never changes
 * replaces the server beneath it under load (httpd and a Python server),
 * keeps the old one serving when a new one fails, restarts a crashed one
 * while clients wait in the queue, detaches as a daemon, refuses bad input,
 * and tells systemd what it does.
 *
 * Every test calls guard_descendants() first: a daemonized supervisor (and
 * the generations, each in its own process group) escape the runner's
 * group kill, and must not outlive a failing test. */
#include "supervisor-kit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------ under load */

/* `reloads` reloads with traffic running: none may fail, each generation
 * drains by itself, the supervisor's pid stays. With moving (the load's
 * kept-alive and slow clients, 0: none), every generation passes its live
 * connections to the next (handover.h): the server ends none of them, and
 * each client keeps its one connection throughout. */
static void reloads_under_load(struct sup *s, unsigned reloads, long moving,
			       char *const load_args[], const char *label)
{
	struct load l;
	struct load_result r;
	unsigned last = reloads + 1;
	load_start(&l, s->port, load_args);
	long start = now_ms();
	for (unsigned n = 2; n <= last; n++)
		reload_ok(s, n, (int)n - 1);
	long took = now_ms() - start;
	load_stop(&l, &r);
	load_print(label, &r);
	int passed = count_in_file(s->log, "passes its connections to");
	printf("  %u reloads (each drained) in %ld ms; %d handovers; connections ended by "
	       "the server: %ld of %ld opened\n", reloads, took, passed, r.server_closes,
	       r.kept_connects);
	check_no_failures(&r);
	ASSERT(r.generations >= (long)reloads);
	ASSERT_EQ(r.gen_max, (long)last);
	if (moving) {
		if (passed != (int)reloads || r.server_closes != 0)
			FAIL("%d handovers in %u reloads, %ld connections ended by the "
			     "server; log:\n%s", passed, reloads, r.server_closes,
			     file_text(s->log));
		ASSERT_EQ(count_in_file(s->log, "cannot pass its connections"), 0);
		/* Each client kept its one connection through every reload. */
		ASSERT_EQ(r.kept_connects, moving);
	}
	ASSERT_EQ(read_pid(s->pidfile), s->pid);
	ASSERT_EQ(kill(s->pid, 0), 0);
	ASSERT_EQ(count_in_file(s->log, "still draining at the deadline"), 0);
	struct gen g = only_generation(s);
	ASSERT_EQ(g.number, last);
	ASSERT(answers(s->port, g.pid, last));
	sup_stop(s);
}

void test_supervisor_reloads_httpd_under_load(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	sup_start(&s, NULL, (char *[]){ httpd_bin, "--listen", s.address, NULL }, NULL);
	reloads_under_load(&s, 50, 16 + 4,
			   (char *[]){ "--keepalive", "16", "--fresh", "2", "--slow", "4",
				       "--slow-ms", "50", NULL },
			   "50 supervisor reloads of httpd, connections moving");
}

void test_supervisor_reloads_python_under_load(void)
{
	locate();
	char server[512];
	snprintf(server, sizeof server, "%s", source_path("tests/pyserver.py"));
	if (access(server, R_OK) < 0)
		FAIL("%s: %s", server, strerror(errno));
	struct sup s;
	sup_init(&s);
	sup_start(&s, NULL, (char *[]){ (char *)python(), server, NULL }, NULL);
	struct gen g = only_generation(&s);
	ASSERT(answers(s.port, g.pid, 1));
	/* Its live connections move with Python's socket.send_fds/recv_fds. */
	reloads_under_load(&s, 30, 8 + 2,
			   (char *[]){ "--keepalive", "8", "--fresh", "2", "--slow", "2",
				       "--slow-ms", "50", NULL },
			   "30 supervisor reloads of pyserver.py, connections moving");
}

/* ------------------------------------------------------ failed reloads */

static int guarded_is(void *arg)
{
	return count_guarded() == *(int *)arg;
}

/* A reload that must fail with `reason`: exit 1, the reason on stderr and
 * in status, the same generation serving, nothing of the failed one left. */
static void failed_reload(const struct sup *s, const char *reason, int processes)
{
	struct gen before = only_generation(s);
	int code = control(s, "reload");
	if (code != 1 || !strstr(said.err, reason))
		FAIL("reload: expected exit 1 and \"%s\" on stderr, got %d\nstdout: %s\n"
		     "stderr: %s\nlog:\n%s", reason, code, said.out, said.err,
		     file_text(s->log));
	ASSERT_EQ(handoff((char *[]){ "status", "--pidfile", (char *)s->pidfile, NULL }), 0);
	char line[128];
	snprintf(line, sizeof line, "generation %u pid %d ready", before.number,
		 (int)before.pid);
	const char *last = strstr(said.out, "last reload: failed: ");
	if (!strstr(said.out, line) || !last || !strstr(last, reason))
		FAIL("status should show \"%s\" and the failure \"%s\":\n%s", line,
		     reason, said.out);
	struct gen after = only_generation(s);
	ASSERT_EQ(after.pid, before.pid);
	ASSERT(answers(s->port, before.pid, before.number));
	/* The failed generation and anything it started are gone. */
	if (!wait_for(guarded_is, &processes, 10000))
		FAIL("after \"%s\": %d processes running, expected %d; log:\n%s", reason,
		     count_guarded(), processes, file_text(s->log));
}

void test_supervisor_failed_reloads(void)
{
	locate();
	struct sup s;
	struct load l;
	struct load_result r;
	char script[512], away[512];
	sup_init(&s);
	snprintf(script, sizeof script, "%s", work_path("server.sh"));
	snprintf(away, sizeof away, "%s", work_path("server.sh.away"));
	install_httpd(script, &s);
	sup_start(&s, (char *[]){ "--ready-timeout", (char *)scaled_duration(500), NULL },
		  (char *[]){ script, NULL }, NULL);
	load_start(&l, s.port, (char *[]){ "--keepalive", "8", "--fresh", "2", NULL });
	int processes = count_guarded(); /* supervisor, generation, loadgen */
	ASSERT_EQ(processes, 3);

	write_file_atomic(script, "#!/bin/sh\nexit 1\n", 0755);
	failed_reload(&s, "exited with status 1 before it was ready", processes);

	write_file_atomic(script, "#!/bin/sh\nkill -SEGV $$\n", 0755);
	failed_reload(&s, "killed by signal 11 (Segmentation fault) before it was ready",
		      processes);

	/* Hangs past --ready-timeout, with a child in its process group. A
	 * second reload meanwhile is refused as busy. */
	write_file_atomic(script, "#!/bin/sh\nsleep 30 &\nexec sleep 30\n", 0755);
	char *argv[] = { handoff_bin, "reload", "--pidfile", s.pidfile, NULL };
	char *first_out = work_path("first-reload.out");
	struct spawn_options o = { .output = first_out };
	int started = count_in_file(s.log, " started: pid ");
	long start = now_ms();
	pid_t first = spawn(argv, &o);
	if (!wait_file_contains(s.log, " started: pid ", started + 1, 5000))
		FAIL("the hanging generation did not start; log:\n%s", file_text(s.log));
	int code = control(&s, "reload");
	if (code != 1 || !strstr(said.err, "busy"))
		FAIL("a reload during a reload: exit %d, stdout %s, stderr %s", code,
		     said.out, said.err);
	int status;
	if (!wait_exit(first, 10000, &status))
		FAIL("reload of a hanging generation did not return");
	long waited = now_ms() - start;
	char *text = read_file(first_out);
	if (!text || !WIFEXITED(status) || WEXITSTATUS(status) != 1 ||
	    !strstr(text, "not ready in time"))
		FAIL("reload of a hanging generation: status 0x%x: %s", status,
		     file_text(first_out));
	free(text);
	ASSERT(waited >= 450L * timeout_multiplier);
	printf("  hanging generation given up after %ld ms (--ready-timeout %s)\n",
	       waited, scaled_duration(500));
	failed_reload(&s, "not ready in time", processes); /* and once more */

	/* COMMAND not found, then not executable. */
	char reason[640];
	ASSERT_EQ(rename(script, away), 0);
	snprintf(reason, sizeof reason, "cannot start %s: No such file or directory", script);
	failed_reload(&s, reason, processes);
	install_httpd(away, &s);
	ASSERT_EQ(chmod(away, 0644), 0);
	ASSERT_EQ(rename(away, script), 0);
	snprintf(reason, sizeof reason, "cannot start %s: Permission denied", script);
	failed_reload(&s, reason, processes);

	/* A good one again. */
	install_httpd(script, &s);
	struct gen before = only_generation(&s);
	code = control(&s, "reload");
	unsigned next = 0;
	if (code != 0 || sscanf(said.out, "ok generation %u ", &next) != 1)
		FAIL("good reload after failures: exit %d: %s%s", code, said.out, said.err);
	struct gen after = wait_serving(&s, next); /* once 1 has drained */
	ASSERT(after.pid != before.pid && after.number > before.number);
	ASSERT(answers(s.port, after.pid, after.number));
	load_stop(&l, &r);
	load_print("failed reloads, then a good one", &r);
	check_no_failures(&r);
	ASSERT_EQ(r.gen_max, after.number);
	sup_stop(&s);
}

/* Generations that leave a child behind (here a `sleep &` of the wrapper
 * script, which inherited the listening socket as fd 3): a failed one must
 * be "killed and reaped" whole, and what is left of a replaced one's
 * process group is SIGKILLed by --drain-timeout. Else the strays keep the
 * port bound after the supervisor stops, and clients connect to a queue
 * that nobody will ever accept from. */
static int generation_1_gone(void *log)
{
	return count_in_file(log, "exited with status 0 after draining") ||
	       count_in_file(log, "was killed by signal 9 (Killed) at the drain deadline");
}

void test_supervisor_leaves_no_strays(void)
{
	locate();
	struct sup s;
	char script[512], text[2048], problems[4096] = "";
	sup_init(&s);
	snprintf(script, sizeof script, "%s", work_path("server.sh"));
	snprintf(text, sizeof text, "#!/bin/sh\nsleep 30 &\nexec '%s' --listen %s\n",
		 httpd_bin, s.address);
	write_file_atomic(script, text, 0755);
	sup_start(&s, (char *[]){ "--ready-timeout", (char *)scaled_duration(2000),
				  "--drain-timeout", (char *)scaled_duration(1000), NULL },
		  (char *[]){ script, NULL }, NULL);
	int expected = 3; /* supervisor, generation 1 and its sleep */
	/* A wait, not a count at once: a process in the middle of execve()
	 * shows no environment for a moment. */
	if (!wait_for(guarded_is, &expected, 5000))
		FAIL("%d processes, expected %d", count_guarded(), expected);

	/* A failed start with a child. */
	write_file_atomic(script, "#!/bin/sh\nsleep 30 &\nexit 1\n", 0755);
	ASSERT_EQ(control(&s, "reload"), 1);
	ASSERT(strstr(said.err, "exited with status 1 before it was ready"));
	if (!wait_for(guarded_is, &expected, 5000))
		snprintf(problems + strlen(problems), sizeof problems - strlen(problems),
			 "  a failed generation's child outlived it: %d processes, "
			 "expected %d\n", count_guarded(), expected);

	/* A replaced generation whose child stays: gone by the drain deadline
	 * (1 s, times the multiplier; 5 s more allowed). Generation 1 itself
	 * drains, or, on a machine slow enough, is killed at that deadline:
	 * either way it is gone. */
	install_httpd(script, &s);
	ASSERT_EQ(control(&s, "reload"), 0);
	if (!wait_for(generation_1_gone, s.log, 10000))
		FAIL("generation 1 did not go; log:\n%s", file_text(s.log));
	expected = 2; /* supervisor, generation 3 */
	if (!wait_for(guarded_is, &expected, 5000))
		snprintf(problems + strlen(problems), sizeof problems - strlen(problems),
			 "  a replaced generation's child outlived its drain deadline: "
			 "%d processes, expected %d\n", count_guarded(), expected);

	/* Stopped: nothing may accept a connection any more. */
	kill(s.pid, SIGTERM);
	int status;
	if (!wait_exit(s.pid, 20000, &status))
		FAIL("the supervisor did not stop");
	int fd = http_send("127.0.0.1", s.port, "/");
	if (fd >= 0) {
		snprintf(problems + strlen(problems), sizeof problems - strlen(problems),
			 "  after the supervisor stopped, 127.0.0.1:%d still accepts "
			 "connections (a stray holds the listener)\n", s.port);
		close(fd);
	}
	if (problems[0])
		FAIL("stray processes:\n%slog:\n%s", problems, file_text(s.log));
	nothing_left(s.port);
}

/* ------------------------------------------------------ crash, restart */

void test_supervisor_restarts_crashed_generation(void)
{
	locate();
	struct sup s;
	struct load l;
	struct load_result r;
	sup_init(&s);
	sup_start(&s, NULL, (char *[]){ httpd_bin, "--listen", s.address, NULL }, NULL);
	load_start(&l, s.port, (char *[]){ "--keepalive", "0", "--fresh", "4", NULL });
	const int backoff_ms[] = { 100, 200, 400 };
	int in_gap = 0;
	for (unsigned i = 0; i < 3; i++) {
		struct gen g = wait_serving(&s, i + 1);
		ASSERT_EQ(kill(g.pid, SIGKILL), 0);
		char line[128];
		snprintf(line, sizeof line, "generation %u (pid %d) was killed by signal 9",
			 g.number, (int)g.pid);
		if (!wait_file_contains(s.log, "restarting in ", (int)i + 1, 10000) ||
		    !count_in_file(s.log, line))
			FAIL("no restart scheduled after kill -9; log:\n%s", file_text(s.log));
		/* No generation now: a client connects to the queue... */
		int fd = http_send("127.0.0.1", s.port, "/");
		if (fd < 0)
			FAIL("connect while no generation runs: %s", strerror(-fd));
		snprintf(line, sizeof line, "generation %u started", i + 2);
		in_gap += count_in_file(s.log, line) == 0;
		/* ...and is answered by the next one. */
		char body[256], want[32];
		ASSERT_EQ(http_answer(fd, body, sizeof body, 10000), 200);
		snprintf(want, sizeof want, "generation=%u ", i + 2);
		if (!strstr(body, want))
			FAIL("expected %s, got %s", want, body);
		snprintf(line, sizeof line, "restarting in %d ms", backoff_ms[i]);
		if (!count_in_file(s.log, line))
			FAIL("expected \"%s\" (exponential backoff); log:\n%s", line,
			     file_text(s.log));
	}
	printf("  (requests in flight in a generation killed by SIGKILL fail: "
	       "reset or eof; none may be refused)\n");
	load_stop(&l, &r);
	load_print("3 crashes (kill -9) while serving", &r);
	printf("  %d of 3 probes connected while no generation existed\n", in_gap);
	ASSERT(in_gap >= 1);
	ASSERT_EQ(r.refused, 0);
	ASSERT(r.ok > 0);
	ASSERT_EQ(r.gen_max, 4);
	wait_serving(&s, 4);
	ASSERT_EQ(read_pid(s.pidfile), s.pid);
	sup_stop(&s);

	/* --restart never: the supervisor gives up, says so, exits 1. */
	sup_init(&s);
	sup_start(&s, (char *[]){ "--restart", "never", NULL },
		  (char *[]){ httpd_bin, "--listen", s.address, NULL }, NULL);
	struct gen g = only_generation(&s);
	kill(g.pid, SIGKILL);
	int status;
	if (!wait_exit(s.pid, 10000, &status))
		FAIL("--restart never: the supervisor did not exit; log:\n%s",
		     file_text(s.log));
	ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	ASSERT(count_in_file(s.log, "none to restart"));
	ASSERT(access(s.pidfile, F_OK) < 0);
	nothing_left(s.port);
}

/* The restart delays the log shows, in order, into delays; returns how many. */
static int restart_delays(const char *log, int *delays, int max)
{
	char *text = read_file(log);
	int n = 0;
	for (char *p = text; p && n < max && (p = strstr(p, "restarting in ")); p++)
		delays[n++] = atoi(p + strlen("restarting in "));
	free(text);
	return n;
}

/* A crash loop backs off (100, 200, 400 ms...); once the service has served
 * for --stable-after (a reload counts as service), the next crash restarts
 * at the floor again, however young the generation that died. */
void test_supervisor_restart_backoff_forgives(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	char script[512], crash[512], text[1400];
	snprintf(script, sizeof script, "%s", work_path("server.sh"));
	snprintf(crash, sizeof crash, "%s", work_path("crash"));
	snprintf(text, sizeof text, "#!/bin/sh\n[ -e '%s' ] && exit 1\nexec '%s' --listen %s\n",
		 crash, httpd_bin, s.address);
	write_file_atomic(script, text, 0755);
	sup_start(&s, (char *[]){ "--stable-after", "300ms", NULL },
		  (char *[]){ script, NULL }, NULL);

	/* A crash loop: every new generation exits before it is ready. */
	write_file(crash, "", 0644);
	ASSERT_EQ(kill(only_generation(&s).pid, SIGKILL), 0);
	if (!wait_file_contains(s.log, "restarting in 400 ms", 1, 10000))
		FAIL("no back-off to 400 ms in a crash loop; log:\n%s", file_text(s.log));
	ASSERT_EQ(unlink(crash), 0);
	struct gen g = wait_one_ready(&s);
	int delays[16];
	int n = restart_delays(s.log, delays, 16);
	/* The generation after the 400 ms wait may have seen the file still. */
	if (n < 3 || n > 4)
		FAIL("expected 3 or 4 restarts in the crash loop, got %d; log:\n%s", n,
		     file_text(s.log));
	for (int i = 0; i < n; i++)
		if (delays[i] != 100 << i)
			FAIL("restart %d waited %d ms, expected %d; log:\n%s", i + 1,
			     delays[i], 100 << i, file_text(s.log));

	/* Healthy service, a reload among it: the back-off is forgiven. Two
	 * isolated crashes in a row each restart at the floor. */
	for (int crash_number = 1; crash_number <= 2; crash_number++) {
		if (crash_number == 1) {
			reload_ok(&s, g.number + 1, 1);
			g = wait_one_ready(&s);
		}
		if (!wait_file_contains(s.log, "restart back-off reset", crash_number, 10000))
			FAIL("the back-off was never reset after %d healthy ms; log:\n%s", 300,
			     file_text(s.log));
		ASSERT_EQ(kill(g.pid, SIGKILL), 0);
		if (!wait_file_contains(s.log, "restarting in ", n + crash_number, 10000))
			FAIL("no restart after an isolated crash; log:\n%s", file_text(s.log));
		restart_delays(s.log, delays, 16);
		if (delays[n + crash_number - 1] != 100)
			FAIL("an isolated crash after healthy service waited %d ms, not "
			     "100; log:\n%s", delays[n + crash_number - 1], file_text(s.log));
		g = wait_one_ready(&s);
		printf("  isolated crash %d after healthy service: restarted after %d ms\n",
		       crash_number, delays[n + crash_number - 1]);
	}
	printf("  crash loop: restarts after");
	for (int i = 0; i < n; i++)
		printf(" %d", delays[i]);
	printf(" ms\n");
	sup_stop(&s);
}

/* ------------------------------------------------------ daemon */

static int is_true(void *arg)
{
	return access((const char *)arg, F_OK) == 0;
}

static void link_target(pid_t pid, int fd, char *out, size_t size)
{
	char link[64];
	snprintf(link, sizeof link, "/proc/%d/fd/%d", (int)pid, fd);
	ssize_t n = readlink(link, out, size - 1);
	out[n > 0 ? n : 0] = '\0';
}

void test_supervisor_daemon(void)
{
	locate();
	struct sup s;
	char controlpath[512], rotated[512];
	sup_init(&s);
	snprintf(controlpath, sizeof controlpath, "%s", work_path("control.sock"));
	snprintf(rotated, sizeof rotated, "%s.1", s.log);
	char *command[] = { httpd_bin, "--listen", s.address, NULL };
	char *options[] = { "--control", controlpath, NULL };
	int code = sup_daemon(&s, options, command);
	if (code != 0)
		FAIL("--daemon exited %d\nstdout: %s\nstderr: %s\nlog:\n%s", code,
		     said.out, said.err, file_text(s.log));
	/* It returned once ready: the server answers now, without waiting. */
	char body[256];
	ASSERT_EQ(http_get("127.0.0.1", s.port, "/", body, sizeof body), 200);
	ASSERT(strstr(body, "generation=1 "));
	ASSERT(strstr(said.out, "generation 1 (pid ") && strstr(said.out, "ready"));
	/* Detached: another session, not its leader, stdio on /dev/null and
	 * the log. */
	ASSERT(s.pid > 0);
	ASSERT(getsid(s.pid) != getsid(0));
	ASSERT(getsid(s.pid) != s.pid);
	char target[512];
	link_target(s.pid, 0, target, sizeof target);
	ASSERT_STR_EQ(target, "/dev/null");
	link_target(s.pid, 2, target, sizeof target);
	ASSERT_STR_EQ(target, s.log);

	/* A second identical one is refused, and the first goes on. */
	struct sup second = s;
	code = sup_daemon(&second, options, command);
	char holder[64];
	snprintf(holder, sizeof holder, "held by pid %d", (int)s.pid);
	if (code == 0 || !strstr(said.err, "already running") || !strstr(said.err, holder))
		FAIL("second --daemon: exit %d\nstdout: %s\nstderr: %s", code, said.out,
		     said.err);
	ASSERT_EQ(read_pid(s.pidfile), s.pid);
	ASSERT_EQ(kill(s.pid, 0), 0);
	struct gen g = only_generation(&s);
	ASSERT(answers(s.port, g.pid, 1));

	/* The control socket at a path: 0600. */
	struct stat st;
	ASSERT_EQ(lstat(controlpath, &st), 0);
	ASSERT(S_ISSOCK(st.st_mode));
	ASSERT_EQ(st.st_mode & 07777, 0600);

	/* status, both ways. */
	char line[128];
	for (int way = 0; way < 2; way++) {
		code = handoff((char *[]){ "status", way ? "--control" : "--pidfile",
					   way ? controlpath : s.pidfile, NULL });
		ASSERT_EQ(code, 0);
		snprintf(line, sizeof line, "supervisor pid %d", (int)s.pid);
		ASSERT(strstr(said.out, line));
		snprintf(line, sizeof line, "listener %s\n", s.address);
		ASSERT(strstr(said.out, line));
		snprintf(line, sizeof line, "generation 1 pid %d ready", (int)g.pid);
		if (!strstr(said.out, line))
			FAIL("status lacks \"%s\":\n%s", line, said.out);
	}
	/* reload, both ways; the second while generation 2 still has a slow
	 * request, so that status shows it draining, with its deadline. */
	reload_ok(&s, 2, 1);
	g = wait_serving(&s, 2);
	int slow = http_send("127.0.0.1", s.port, "/sleep?ms=1000");
	ASSERT(slow >= 0);
	if (!wait_request_taken(g.pid, slow, 10000))
		FAIL("generation 2 did not take the slow request");
	code = handoff((char *[]){ "reload", "--control", controlpath, NULL });
	if (code != 0 || !strstr(said.out, "ok generation 3 (pid "))
		FAIL("reload --control: exit %d: %s%s", code, said.out, said.err);
	ASSERT_EQ(handoff((char *[]){ "status", "--control", controlpath, NULL }), 0);
	snprintf(line, sizeof line, "generation 2 pid %d draining, up ", (int)g.pid);
	const char *draining = strstr(said.out, line);
	if (!draining || !strstr(draining, ", deadline in ") ||
	    !strstr(said.out, "generation 3 pid ") || !strstr(said.out, "last reload: ok: "))
		FAIL("status during a drain:\n%s", said.out);
	ASSERT_EQ(http_answer(slow, body, sizeof body, 10000), 200);
	ASSERT(strstr(body, "generation=2 "));
	g = wait_serving(&s, 3);
	ASSERT(answers(s.port, g.pid, 3));

	/* Log rotation: SIGUSR1 reopens the log at its path. */
	ASSERT_EQ(rename(s.log, rotated), 0);
	ASSERT_EQ(kill(s.pid, SIGUSR1), 0);
	if (!wait_for(is_true, s.log, 10000) ||
	    !wait_file_contains(s.log, "log reopened", 1, 10000))
		FAIL("no new log after SIGUSR1; old one:\n%s", file_text(rotated));
	code = handoff((char *[]){ "reload", "--control", controlpath, NULL });
	ASSERT_EQ(code, 0);
	/* The supervisor, the new generation, and the one that was serving
	 * when the log was rotated (its drain) all write to the new file. */
	if (!wait_file_contains(s.log, "generation 4 started", 1, 10000) ||
	    !wait_file_contains(s.log, "ok: generation 4 (pid", 1, 10000) ||
	    !wait_file_contains(s.log, "gen 4: ready", 1, 10000) ||
	    !wait_file_contains(s.log, "gen 3: drained in", 1, 10000))
		FAIL("the new log lacks generations 3 and 4:\n%s\nthe rotated one:\n%s",
		     file_text(s.log), file_text(rotated));
	ASSERT_EQ(count_in_file(rotated, "generation 4"), 0);
	ASSERT_EQ(count_in_file(rotated, "gen 3: drained in"), 0);
	link_target(s.pid, 2, target, sizeof target);
	ASSERT_STR_EQ(target, s.log);

	/* stop through the control socket; the daemon is gone with its files. */
	code = handoff((char *[]){ "stop", "--control", controlpath, NULL });
	if (code != 0 || !strstr(said.out, "ok stopping"))
		FAIL("stop --control: exit %d: %s%s", code, said.out, said.err);
	int status;
	if (!wait_gone(s.pid, 30000, &status))
		FAIL("the daemon did not stop; log:\n%s", file_text(s.log));
	ASSERT(access(s.pidfile, F_OK) < 0);
	ASSERT(access(controlpath, F_OK) < 0);
	nothing_left(s.port);
	/* And the clients say so. */
	ASSERT_EQ(control(&s, "status"), 1);
	ASSERT(strstr(said.err, "no supervisor is running"));
}

/* ------------------------------------------------------ pid files */

static void refused_start(struct sup *s, int daemon, const char *pidfile,
			  char *const command[], const char *message)
{
	struct sup t = *s;
	snprintf(t.pidfile, sizeof t.pidfile, "%s", pidfile);
	int code;
	if (daemon) {
		code = sup_daemon(&t, NULL, command);
	} else {
		char *argv[64];
		run_argv(argv, 64, &t, 0, NULL, command);
		char out[512], err[512];
		snprintf(out, sizeof out, "%s", work_path("run.out"));
		snprintf(err, sizeof err, "%s", work_path("run.err"));
		code = run_command(argv, out, err, 30000);
		slurp(said.out, sizeof said.out, out);
		slurp(said.err, sizeof said.err, err);
	}
	if (code == 0 || !strstr(said.err, message))
		FAIL("%s--pidfile %s: expected failure and \"%s\" on stderr, got exit %d\n"
		     "stdout: %s\nstderr: %s", daemon ? "--daemon " : "", pidfile, message,
		     code, said.out, said.err);
	nothing_left(s->port);
}

void test_supervisor_stale_pidfile_and_symlink(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	char *command[] = { httpd_bin, "--listen", s.address, NULL };

	/* Stale: a dead pid, no lock. */
	pid_t dead = spawn((char *[]){ "true", NULL }, NULL);
	int status;
	ASSERT(wait_exit(dead, 10000, &status));
	char text[32];
	snprintf(text, sizeof text, "%d\n", (int)dead);
	write_file(s.pidfile, text, 0644);
	ASSERT_EQ(control(&s, "status"), 1);
	ASSERT(strstr(said.err, "stale"));
	int code = sup_daemon(&s, NULL, command);
	if (code != 0)
		FAIL("stale pid file not taken over: exit %d: %s", code, said.err);
	ASSERT(s.pid > 0 && s.pid != dead);
	sup_stop(&s);

	/* Stale too: a live process that holds no lock (our own pid). Pids are
	 * reused; the lock is what counts. */
	snprintf(text, sizeof text, "%d\n", (int)getpid());
	write_file(s.pidfile, text, 0644);
	code = sup_daemon(&s, NULL, command);
	if (code != 0)
		FAIL("pid file naming a live process without its lock: exit %d: %s",
		     code, said.err);
	ASSERT(s.pid > 0 && s.pid != getpid());
	sup_stop(&s);

	/* A symlink, to a file or to nowhere: refused, never followed. */
	char victim[512], link1[512], link2[512], nowhere[512];
	snprintf(victim, sizeof victim, "%s", work_path("victim"));
	snprintf(link1, sizeof link1, "%s", work_path("link.pid"));
	snprintf(link2, sizeof link2, "%s", work_path("dangling.pid"));
	snprintf(nowhere, sizeof nowhere, "%s", work_path("nowhere"));
	write_file(victim, "precious\n", 0644);
	ASSERT_EQ(symlink(victim, link1), 0);
	ASSERT_EQ(symlink(nowhere, link2), 0);
	for (int daemon = 0; daemon < 2; daemon++) {
		refused_start(&s, daemon, link1, command, "symbolic link");
		refused_start(&s, daemon, link2, command, "symbolic link");
	}
	char *kept = read_file(victim);
	ASSERT_STR_EQ(kept, "precious\n");
	free(kept);
	ASSERT(access(nowhere, F_OK) < 0);
	struct stat st;
	ASSERT(lstat(link1, &st) == 0 && S_ISLNK(st.st_mode));
	ASSERT(lstat(link2, &st) == 0 && S_ISLNK(st.st_mode));

	/* A first generation that fails: --daemon says why, exits non-zero. */
	refused_start(&s, 1, s.pidfile, (char *[]){ "/bin/false", NULL },
		      "exited with status 1 before it was ready");
	ASSERT(access(s.pidfile, F_OK) < 0);

	/* A pid file in a missing directory: the reason, on the terminal,
	 * in the foreground and as a daemon. */
	char missing[512];
	snprintf(missing, sizeof missing, "%s", work_path("no/such/dir/handoff.pid"));
	refused_start(&s, 0, missing, command, "No such file or directory");
	refused_start(&s, 1, missing, command, "No such file or directory");
}

/* ------------------------------------------------------ bad input */

static void rejects(const struct sup *s, char *const args[], int code,
		    const char *message)
{
	int got = handoff(args);
	if (got != code || !strstr(said.err, message)) {
		char line[512] = "";
		for (int i = 0; args[i]; i++)
			snprintf(line + strlen(line), sizeof line - strlen(line), " %s",
				 args[i]);
		FAIL("handoff%s: expected exit %d and \"%s\" on stderr, got %d\n"
		     "stdout: %s\nstderr: %s", line, code, message, got, said.out,
		     said.err);
	}
	nothing_left(s->port);
}

/* One datagram from this process, which is no generation, to the
 * supervisor's notify socket; with fds when fd_count > 0. */
static void notify_send(const struct sup *s, const char *data, size_t len, int fd,
			int fd_count)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	notify_path(s, un.sun_path, sizeof un.sun_path);
	int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int fds[32];
	for (int i = 0; i < fd_count && i < 32; i++)
		fds[i] = fd;
	if (send_fds(sock, &un, data, len, fds, fd_count > 0 ? fd_count : 0) != (ssize_t)len)
		FAIL("sendmsg to the notify socket: %s", strerror(errno));
	close(sock);
}

void test_supervisor_bad_input(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	char *a = s.address;
	rejects(&s, (char *[]){ "run", "--bogus", "-l", a, "--", httpd_bin, NULL }, 2,
		"--bogus");
	rejects(&s, (char *[]){ "run", "-l", "nonsense", "--", httpd_bin, NULL }, 2,
		"nonsense");
	rejects(&s, (char *[]){ "run", "-l", "127.0.0.1:99999", "--", httpd_bin, NULL }, 2,
		"127.0.0.1:99999");
	rejects(&s, (char *[]){ "run", "--ready=bogus", "-l", a, "--", httpd_bin, NULL }, 2,
		"bogus");
	/* Durations: strtod() would take nan, inf, -0, hex and exponents, and a
	 * NaN became INT64_MIN (--drain-timeout nan killed every old generation). */
	static const char *const bad_durations[] = {
		"abc", "nan", "NaN", "inf", "-inf", "infinity", "-1", "-0", "0x10",
		"1e3", "", " 5", "5 ", "5h", "1.", ".5", "99999999999999999999",
		"2592000001", "43201m", "1.5.5s",
	};
	for (size_t i = 0; i < sizeof bad_durations / sizeof *bad_durations; i++) {
		char *d = (char *)bad_durations[i];
		rejects(&s, (char *[]){ "run", "--drain-timeout", d, "-l", a, "--",
					httpd_bin, NULL }, 2, "--drain-timeout");
		rejects(&s, (char *[]){ "run", "--ready-timeout", d, "-l", a, "--",
					httpd_bin, NULL }, 2, "--ready-timeout");
		rejects(&s, (char *[]){ "run", "--stable-after", d, "-l", a, "--",
					httpd_bin, NULL }, 2, "--stable-after");
	}
	rejects(&s, (char *[]){ "run", "--ready=delay:nan", "-l", a, "--", httpd_bin,
				NULL }, 2, "--ready");
	rejects(&s, (char *[]){ "run", "--ready-timeout", "0", "-l", a, "--", httpd_bin,
				NULL }, 2, "more than 0");
	rejects(&s, (char *[]){ "run", "--stop-signal", "NOPE", "-l", a, "--", httpd_bin,
				NULL }, 2, "NOPE");
	rejects(&s, (char *[]){ "run", "--restart", "sometimes", "-l", a, "--", httpd_bin,
				NULL }, 2, "sometimes");
	rejects(&s, (char *[]){ "run", "-l", a, NULL }, 2, "no COMMAND");
	rejects(&s, (char *[]){ "run", "-l", a, "--", NULL }, 2, "no COMMAND");
	rejects(&s, (char *[]){ "run", "--", httpd_bin, NULL }, 2, "--listen");
	rejects(&s, (char *[]){ "run", "--user", "no-such-user-here", "-l", a, "--",
				httpd_bin, NULL }, 1, "no-such-user-here");
	rejects(&s, (char *[]){ "frobnicate", NULL }, 2, "frobnicate");
	rejects(&s, (char *[]){ "reload", NULL }, 2, "usage");
	rejects(&s, (char *[]){ "reload", "--pidfile", s.pidfile, NULL }, 1,
		"no supervisor is running");
	/* The address taken by someone else. */
	int busy = listen_on("127.0.0.1:0");
	struct handoff_address ba;
	handoff_address_of_socket(&ba, busy);
	char taken[64];
	handoff_address_format(&ba, taken, sizeof taken);
	rejects(&s, (char *[]){ "run", "-l", taken, "--", httpd_bin, "--listen", taken,
				NULL }, 1, "Address already in use");
	close(busy);

	/* Garbage on the notify socket of a running supervisor. */
	char script[512];
	snprintf(script, sizeof script, "%s", work_path("server.sh"));
	install_httpd(script, &s);
	sup_start(&s, (char *[]){ "--ready-timeout", (char *)scaled_duration(1000), NULL },
		  (char *[]){ script, NULL }, NULL);
	struct gen before = only_generation(&s);
	int fds = count_fds(s.pid);
	static char big[10 * 1024];
	memset(big, 'x', sizeof big);
	memcpy(big, "READY=1\n", 8);
	notify_send(&s, big, sizeof big, -1, 0);
	notify_send(&s, "no equals sign here", 19, -1, 0);
	notify_send(&s, "FOO=bar\nX_UNKNOWN=1\n=\n", 22, -1, 0);
	notify_send(&s, "READY=1", 7, -1, 0);
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	notify_send(&s, "READY=1\nSTATUS=from outside", 27, devnull, 20);
	close(devnull);
	if (!wait_file_contains(s.log, "notification of 10240 bytes", 1, 10000) ||
	    !wait_file_contains(s.log, "ignored", 5, 10000))
		FAIL("the supervisor did not log the ignored notifications:\n%s",
		     file_text(s.log));
	ASSERT_EQ(waitpid(s.pid, NULL, WNOHANG), 0);
	struct gen after = only_generation(&s);
	ASSERT_EQ(after.pid, before.pid);
	ASSERT_EQ(after.number, before.number);
	ASSERT(!strstr(said.out, "from outside"));
	ASSERT_EQ(count_fds(s.pid), fds); /* the passed fds were closed */

	/* A READY=1 from outside does not make a starting generation ready. */
	write_file_atomic(script, "#!/bin/sh\nexec sleep 30\n", 0755);
	char *argv[] = { handoff_bin, "reload", "--pidfile", s.pidfile, NULL };
	char *reload_out = work_path("reload.out");
	struct spawn_options o = { .output = reload_out };
	pid_t reloading = spawn(argv, &o);
	if (!wait_file_contains(s.log, "generation 2 started", 1, 5000))
		FAIL("no generation 2; log:\n%s", file_text(s.log));
	notify_send(&s, "READY=1", 7, -1, 0);
	int status;
	if (!wait_exit(reloading, 10000, &status))
		FAIL("reload did not return");
	char *text = read_file(reload_out);
	if (!text || !WIFEXITED(status) || WEXITSTATUS(status) != 1 ||
	    !strstr(text, "not ready in time"))
		FAIL("a foreign READY=1 was taken for the generation's: 0x%x %s\nlog:\n%s",
		     status, file_text(reload_out), file_text(s.log));
	free(text);

	/* A descendant of the generation may say READY=1 for it: here a
	 * child of the shell that is the generation, which then waits on a
	 * barrier (BARRIER=1 with a pipe, as sd_notify_barrier() does) so
	 * that it is still alive, still a descendant, when it is heard. */
	char ready_py[512], descendant[2048];
	snprintf(ready_py, sizeof ready_py, "%s", work_path("ready.py"));
	write_file(ready_py,
		   "import array, os, select, socket\n"
		   "a = os.environ['NOTIFY_SOCKET']\n"
		   "a = '\\0' + a[1:] if a[0] == '@' else a\n"
		   "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
		   "s.sendto(b'READY=1', a)\n"
		   "r, w = os.pipe()\n"
		   "s.sendmsg([b'BARRIER=1'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,\n"
		   "          array.array('i', [w]))], 0, a)\n"
		   "os.close(w)\n"
		   "select.select([r], [], [], 10)\n", 0644);
	snprintf(descendant, sizeof descendant, "#!/bin/sh\n%s %s\nexec sleep 30\n",
		 python(), ready_py);
	write_file_atomic(script, descendant, 0755);
	reload_ok(&s, 3, 1);
	/* The next reload still works (generation 3, a sleep, is simply
	 * terminated). */
	install_httpd(script, &s);
	reload_ok(&s, 4, 0);
	ASSERT(answers(s.port, wait_serving(&s, 4).pid, 4));
	sup_stop(&s);
}

/* ------------------------------------------------------ systemd */

struct note {
	pid_t pid;
	char text[512];
};

struct notes {
	int fd, count;
	struct note n[256];
};

static void notes_open(struct notes *ns, char *name, size_t size)
{
	ns->count = 0;
	ns->fd = fake_manager_open(name, size, 1);
}

static int notes_find(const struct notes *ns, int from, const char *needle)
{
	for (int i = from; i < ns->count; i++)
		if (strstr(ns->n[i].text, needle))
			return i;
	return -1;
}

/* Reads notifications until one holds `until` (10 s at most). */
static int notes_collect(struct notes *ns, int from, const char *until)
{
	long deadline = deadline_after(10000);
	for (;;) {
		int i = notes_find(ns, from, until);
		if (i >= 0)
			return i;
		long left = deadline - now_ms();
		if (left <= 0 || ns->count == 256)
			break;
		struct note *n = &ns->n[ns->count];
		if (fake_manager_receive(ns->fd, n->text, sizeof n->text, &n->pid,
					 (int)left) >= 0)
			ns->count++;
	}
	char all[16384] = "";
	for (int i = 0; i < ns->count; i++)
		snprintf(all + strlen(all), sizeof all - strlen(all), "%d: %s|\n",
			 (int)ns->n[i].pid, ns->n[i].text);
	FAIL("no notification holding \"%s\" after #%d:\n%s", until, from, all);
}

static void print_notes(const struct notes *ns)
{
	for (int i = 0; i < ns->count; i++)
		fprintf(stderr, "  #%d from %d: %s\n", i, (int)ns->n[i].pid, ns->n[i].text);
}

void test_supervisor_systemd_notifications(void)
{
	locate();
	static struct notes ns;
	char name[108], env[160], script[512];
	notes_open(&ns, name, sizeof name);
	snprintf(env, sizeof env, "NOTIFY_SOCKET=%s", name);
	struct sup s;
	sup_init(&s);
	snprintf(script, sizeof script, "%s", work_path("server.sh"));
	install_httpd(script, &s);
	sup_start(&s, (char *[]){ "--ready-timeout", "10s", NULL },
		  (char *[]){ script, NULL }, (char *[]){ env, NULL });

	/* Ready once generation 1 is. */
	int ready1 = notes_collect(&ns, 0, "READY=1");
	ASSERT(strstr(ns.n[ready1].text, "STATUS=generation 1 (pid "));

	/* A reload: RELOADING=1 with MONOTONIC_USEC=, then READY=1. */
	long long before = clock_us();
	reload_ok(&s, 2, 1);
	long long after = clock_us();
	int reloading = notes_collect(&ns, ready1 + 1, "RELOADING=1");
	int ready2 = notes_collect(&ns, reloading + 1, "STATUS=generation 2 (pid ");
	const char *usec = strstr(ns.n[reloading].text, "\nMONOTONIC_USEC=");
	ASSERT(usec);
	long long stamp = strtoll(usec + 16, NULL, 10);
	if (stamp < before || stamp > after)
		FAIL("MONOTONIC_USEC=%lld is not CLOCK_MONOTONIC now (%lld..%lld)", stamp,
		     before, after);
	ASSERT(strstr(ns.n[ready2].text, "READY=1"));
	ASSERT_EQ(notes_find(&ns, reloading + 1, "READY=1"), ready2);

	/* A failed reload ends with READY=1 too (the old one serves), and
	 * STATUS= says it failed: else `systemctl reload` would hang. */
	write_file_atomic(script, "#!/bin/sh\nexit 1\n", 0755);
	ASSERT_EQ(control(&s, "reload"), 1);
	int reloading3 = notes_collect(&ns, ready2 + 1, "RELOADING=1");
	int ready3 = notes_collect(&ns, reloading3 + 1, "READY=1");
	if (!strstr(ns.n[ready3].text, "failed"))
		FAIL("READY=1 after a failed reload should say it failed: %s",
		     ns.n[ready3].text);

	/* A reload that starts while an older generation is still draining
	 * (here: a slow request in generation 2). */
	install_httpd(script, &s);
	struct gen g2 = only_generation(&s);
	/* Long enough to outlast the reloads below on a loaded machine. */
	int slow = http_send("127.0.0.1", s.port, "/sleep?ms=5000");
	ASSERT(slow >= 0);
	if (!wait_request_taken(g2.pid, slow, 10000))
		FAIL("generation 2 did not take the slow request");
	reload_ok(&s, 4, 0); /* generation 2 drains its slow request */
	char go[512];
	snprintf(go, sizeof go, "%s", work_path("go"));
	install_gated_httpd(script, &s, go);
	char *argv[] = { handoff_bin, "reload", "--pidfile", s.pidfile, NULL };
	char *reload_out = work_path("reload.out");
	struct spawn_options o = { .output = reload_out };
	pid_t reload5 = spawn(argv, &o);
	char gone[128];
	snprintf(gone, sizeof gone, "generation 2 (pid %d) exited with status 0",
		 (int)g2.pid);
	if (!wait_file_contains(s.log, "generation 5 started", 1, 10000) ||
	    count_in_file(s.log, gone))
		FAIL("precondition: generation 5 should start while generation 2 "
		     "drains; log:\n%s", file_text(s.log));
	/* The slow request is answered by generation 2, which then exits while
	 * generation 5 is still starting. */
	char body[256];
	ASSERT_EQ(http_answer(slow, body, sizeof body, 10000), 200);
	ASSERT(strstr(body, "generation=2 "));
	if (!wait_file_contains(s.log, gone, 1, 10000))
		FAIL("generation 2 did not finish draining; log:\n%s", file_text(s.log));
	if (count_in_file(s.log, "ok: generation 5"))
		FAIL("precondition: generation 5 should still be starting; log:\n%s",
		     file_text(s.log));
	write_file(go, "", 0644);
	int status;
	if (!wait_exit(reload5, 10000, &status) || status != 0)
		FAIL("gated reload: 0x%x %s", status, file_text(reload_out));
	int reloading5 = notes_collect(&ns, ready3 + 1, "RELOADING=1");
	reloading5 = notes_collect(&ns, reloading5 + 1, "RELOADING=1"); /* 4, then 5 */
	int ready5 = notes_collect(&ns, reloading5 + 1, "STATUS=generation 5 (pid ");

	/* Stop: STOPPING=1, and no READY=1 after it. */
	kill(s.pid, SIGTERM);
	int stopping = notes_collect(&ns, ready5 + 1, "STOPPING=1");
	if (!wait_exit(s.pid, 20000, &status) || status != 0)
		FAIL("supervisor stop: 0x%x; log:\n%s", status, file_text(s.log));
	notes_collect(&ns, stopping + 1, "STATUS=stopping");
	/* All of it from the supervisor, whose pid never changed: the
	 * generations' own READY=1 went to the supervisor, not to us. */
	for (int i = 0; i < ns.count; i++)
		if (ns.n[i].pid != s.pid) {
			print_notes(&ns);
			FAIL("notification #%d from pid %d, not the supervisor %d", i,
			     (int)ns.n[i].pid, (int)s.pid);
		}
	if (notes_find(&ns, stopping + 1, "READY=1") >= 0) {
		print_notes(&ns);
		FAIL("READY=1 after STOPPING=1");
	}
	/* Between RELOADING=1 and the end of that reload, no READY=1: with
	 * Type=notify-reload systemd takes any READY=1 as the reload's end. */
	int early = notes_find(&ns, reloading5 + 1, "READY=1");
	if (early != ready5) {
		print_notes(&ns);
		FAIL("READY=1 (#%d) sent while generation 5 was still starting "
		     "(RELOADING=1 #%d, its READY=1 #%d)", early, reloading5, ready5);
	}
	ASSERT(access(s.pidfile, F_OK) < 0);
	nothing_left(s.port);
	close(ns.fd);
}

/* ------------------------------------------------------ --user */

void test_supervisor_user_nobody(void)
{
	if (geteuid() != 0) {
		SKIP("--user nobody needs root (euid %d)", (int)geteuid());
	}
	locate();
	struct passwd *pw = getpwnam("nobody");
	if (!pw)
		FAIL("no user nobody");
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	struct sup s;
	sup_init(&s);
	/* A privileged port that is free. */
	s.port = 0;
	for (int port = 1000; port < 1024 && !s.port; port++) {
		struct sockaddr_in in = { .sin_family = AF_INET,
					  .sin_port = htons((uint16_t)port) };
		inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (bind(fd, (struct sockaddr *)&in, sizeof in) == 0)
			s.port = port;
		close(fd);
	}
	if (!s.port)
		FAIL("no free port in 1000..1023");
	snprintf(s.address, sizeof s.address, "127.0.0.1:%d", s.port);
	sup_start(&s, (char *[]){ "--user", "nobody", NULL },
		  (char *[]){ httpd_bin, "--listen", s.address, NULL }, NULL);
	for (unsigned number = 1; number <= 2; number++) {
		if (number == 2)
			reload_ok(&s, 2, 1);
		struct gen g = only_generation(&s);
		ASSERT(answers(s.port, g.pid, number));
		char path[64], want[128];
		snprintf(path, sizeof path, "/proc/%d/status", (int)g.pid);
		char *st = read_file(path);
		ASSERT(st);
		snprintf(want, sizeof want, "\nUid:\t%u\t%u\t%u\t%u\n", uid, uid, uid, uid);
		if (!strstr(st, want))
			FAIL("generation %u is not running as nobody:\n%s", number, st);
		snprintf(want, sizeof want, "\nGid:\t%u\t%u\t%u\t%u\n", gid, gid, gid, gid);
		ASSERT(strstr(st, want));
		snprintf(want, sizeof want, "\nGroups:\t%u \n", gid);
		if (!strstr(st, want))
			FAIL("generation %u keeps other groups:\n%s", number, st);
		free(st);
	}
	/* The supervisor itself stays root: it owns the sockets. */
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/status", (int)s.pid);
	char *st = read_file(path);
	ASSERT(st && strstr(st, "\nUid:\t0\t0\t0\t0\n"));
	free(st);
	sup_stop(&s);
}
