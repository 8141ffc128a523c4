/* test-hostile.c — `handoff run` against careless operators and hostile
 * neighbours: abused control sockets, names taken first, oversized status,
 * terminal escapes from a server, bad --env-file lines, too many draining
 * generations, too few descriptors. Whatever happens, what is served stays
 * served and the reason is said. */
#include "supervisor-kit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static int unix_connect(const char *path)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	snprintf(un.sun_path, sizeof un.sun_path, "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&un, sizeof un) == 0)
		return fd;
	if (fd >= 0)
		close(fd);
	return -1;
}

static int unix_listen(const char *path)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	snprintf(un.sun_path, sizeof un.sun_path, "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&un, sizeof un) < 0 || listen(fd, 8) < 0)
		FAIL("listen on %s: %s", path, strerror(errno));
	return fd;
}

/* Reads until EOF or timeout_ms; the text read (NUL-terminated). */
static void read_all(int fd, char *buf, size_t size, int timeout_ms)
{
	size_t got = 0;
	long deadline = deadline_after(timeout_ms);
	while (got < size - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long left = deadline - now_ms();
		if (left <= 0 || poll(&p, 1, (int)left) != 1)
			break;
		ssize_t n = read(fd, buf + got, size - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	buf[got] = '\0';
}

static char control_path[300];

static int status_answers(void *arg)
{
	const struct sup *s = arg;
	return control(s, "status") == 0 && strstr(said.out, "supervisor pid");
}

/* ------------------------------------------------- the control socket */

/* Sixteen silent clients fill every slot, but only for a while; a request
 * may arrive in pieces; a request with no end is refused. */
void test_supervisor_control_socket_abuse(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	snprintf(control_path, sizeof control_path, "%s.control", s.pidfile);
	sup_start(&s, NULL, (char *[]){ httpd_bin, "--listen", s.address, NULL }, NULL);

	int idle[16];
	for (int i = 0; i < 16; i++)
		if ((idle[i] = unix_connect(control_path)) < 0)
			FAIL("connect %d to %s: %s", i, control_path, strerror(errno));
	/* Every slot is taken now; the silent ones are dropped after a few
	 * seconds and the command gets through. */
	long start = now_ms();
	if (!wait_for(status_answers, &s, 20000))
		FAIL("status never answered past 16 idle clients: %s%s", said.out, said.err);
	printf("  status answered %ld ms after 16 idle clients took every slot\n",
	       now_ms() - start);
	char buf[256];
	for (int i = 0; i < 16; i++) {
		read_all(idle[i], buf, sizeof buf, 10000);
		close(idle[i]);
	}

	/* A request in two pieces: the second sent only once the supervisor
	 * has answered another client, so it surely read the first alone. */
	int split = unix_connect(control_path);
	ASSERT(split >= 0);
	ASSERT_EQ(write(split, "handoff-control 1 sta", 21), 21);
	ASSERT(status_answers(&s));
	ASSERT_EQ(write(split, "tus\n", 4), 4);
	static char answer[65536];
	read_all(split, answer, sizeof answer, 10000);
	close(split);
	if (!strstr(answer, "supervisor pid"))
		FAIL("a request in two pieces got: \"%s\"", answer);

	/* No end of line within the request's size: refused, not waited on. */
	int endless = unix_connect(control_path);
	char junk[400];
	memset(junk, 'x', sizeof junk);
	ASSERT(endless >= 0);
	ASSERT(write(endless, junk, sizeof junk) > 0);
	read_all(endless, answer, sizeof answer, 10000);
	close(endless);
	if (!strstr(answer, "error request too long"))
		FAIL("an endless request got: \"%s\"", answer);

	/* Nothing of this touched the service. */
	ASSERT(answers(s.port, only_generation(&s).pid, 1));
	sup_stop(&s);
}

/* Someone else answers at <pidfile>.control (here the test, as root, took
 * the name): `handoff stop` must not believe it, and says so. */
void test_supervisor_client_trusts_only_the_supervisor(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	snprintf(control_path, sizeof control_path, "%s.control", s.pidfile);
	sup_start(&s, NULL, (char *[]){ httpd_bin, "--listen", s.address, NULL }, NULL);
	ASSERT_EQ(unlink(control_path), 0);
	int impostor = unix_listen(control_path);
	pid_t child = fork();
	if (child == 0) {
		int fd = accept4(impostor, NULL, NULL, SOCK_CLOEXEC);
		ssize_t ignored = write(fd, "ok stopping\n", 12);
		(void)ignored;
		_exit(0);
	}
	int code = control(&s, "stop");
	char want[96];
	snprintf(want, sizeof want, "not by the supervisor the pid file names");
	if (code != 1 || !strstr(said.err, want))
		FAIL("stop through an impostor: exit %d\nstdout: %s\nstderr: %s", code,
		     said.out, said.err);
	printf("  %s", said.err);
	kill(child, SIGKILL);
	int status;
	wait_exit(child, 10000, &status);
	close(impostor);
	unlink(control_path);
	/* The real supervisor never heard of it (its socket is unreachable
	 * now: ask the server itself). */
	ASSERT_EQ(kill(s.pid, 0), 0);
	char body[256];
	if (!wait_http_body("127.0.0.1", s.port, "/", "generation=1 ", body, sizeof body,
			    10000))
		FAIL("generation 1 no longer answers: %s", body);
	sup_terminate(&s);
}

/* --control PATH: a live socket of another program or a file that is no
 * socket is refused (and the start leaves no pid file); a stale socket is
 * replaced; at stop only our own socket is removed. */
void test_supervisor_control_path_safety(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	char path[300], stale[300];
	snprintf(path, sizeof path, "%s", work_path("ctl.sock"));
	snprintf(stale, sizeof stale, "%s", work_path("stale.sock"));
	char *run_with[] = { "run", "--pidfile", s.pidfile, "--control", path, "-l",
			     s.address, "--", httpd_bin, "--listen", s.address, NULL };

	int other = unix_listen(path);
	struct stat before, after;
	ASSERT_EQ(lstat(path, &before), 0);
	int code = handoff(run_with);
	if (code != 1 || !strstr(said.err, "another program answers there"))
		FAIL("--control at a live socket: exit %d\n%s%s", code, said.out, said.err);
	ASSERT_EQ(lstat(path, &after), 0);
	ASSERT_EQ(after.st_ino, before.st_ino); /* still the other program's */
	int probe = unix_connect(path);
	ASSERT(probe >= 0);
	close(probe);
	if (access(s.pidfile, F_OK) == 0)
		FAIL("a failed start left its pid file behind");
	close(other);
	unlink(path);

	write_file(path, "not a socket\n", 0600);
	code = handoff(run_with);
	if (code != 1 || !strstr(said.err, "not our socket"))
		FAIL("--control at a regular file: exit %d\n%s%s", code, said.out, said.err);
	ASSERT_STR_EQ(file_text(path), "not a socket\n");
	unlink(path);

	/* A socket left by a killed supervisor: nobody answers, it is ours. */
	close(unix_listen(stale));
	sup_start(&s, (char *[]){ "--control", stale, NULL },
		  (char *[]){ httpd_bin, "--listen", s.address, NULL }, NULL);
	ASSERT_EQ(handoff((char *[]){ "status", "--control", stale, NULL }), 0);
	/* A second supervisor on the same --control path is refused and
	 * leaves the first one's socket alone. */
	struct sup second;
	sup_init(&second);
	snprintf(second.pidfile, sizeof second.pidfile, "%s", work_path("second.pid"));
	code = handoff((char *[]){ "run", "--pidfile", second.pidfile, "--control", stale,
				   "-l", second.address, "--", httpd_bin, "--listen",
				   second.address, NULL });
	if (code != 1 || !strstr(said.err, "another program answers there"))
		FAIL("second supervisor on one --control: exit %d\n%s%s", code, said.out,
		     said.err);
	ASSERT_EQ(handoff((char *[]){ "status", "--control", stale, NULL }), 0);
	sup_stop(&s);
	if (access(stale, F_OK) == 0)
		FAIL("the supervisor left its --control socket behind");
}

/* ------------------------------------------------- what status shows */

/* 1,024 listeners make a report far over any fixed buffer; a server's
 * STATUS= with terminal escapes and bytes that are not UTF-8 reaches
 * neither the terminal raw nor the JSON. */
void test_supervisor_status_any_size_clean_text(void)
{
	locate();
	if (raise_nofile(4096) < 2200) {
		SKIP("RLIMIT_NOFILE cannot be raised to 2200");
	}
	struct sup s;
	sup_init(&s);
	char script[300], json_path[300];
	snprintf(script, sizeof script, "%s", work_path("server.py"));
	snprintf(json_path, sizeof json_path, "%s", work_path("status.json"));
	write_file(script,
		   "import os, select, socket\n"
		   "a = os.environ['NOTIFY_SOCKET']\n"
		   "a = '\\0' + a[1:] if a[0] == '@' else a\n"
		   "s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
		   "s.sendto(b'STATUS=\\x1b[31mred\\x07 \\xff\\xfe caf\\xc3\\xa9\\nREADY=1', a)\n"
		   "select.select([], [], [], 60)  # serve nothing, for 60 s at most\n", 0644);
	enum { LISTENERS = 1024 };
	static char specs[LISTENERS][32];
	static char *argv[LISTENERS * 2 + 16];
	int n = 0;
	argv[n++] = handoff_bin;
	argv[n++] = "run";
	argv[n++] = "--pidfile";
	argv[n++] = s.pidfile;
	for (int i = 0; i < LISTENERS; i++) {
		snprintf(specs[i], sizeof specs[i], "n%d=127.0.0.1:0", i);
		argv[n++] = "-l";
		argv[n++] = specs[i];
	}
	argv[n++] = "--";
	argv[n++] = (char *)python();
	argv[n++] = script;
	argv[n] = NULL;
	struct spawn_options o = { .output = s.log };
	s.pid = spawn(argv, &o);
	if (!wait_file_contains(s.log, "ok: generation 1 (pid", 1, 20000))
		FAIL("not ready; log:\n%s", file_text(s.log));
	int code = run_command((char *[]){ handoff_bin, "status", "--json", "--pidfile",
					   s.pidfile, NULL }, json_path, NULL, 30000);
	ASSERT_EQ(code, 0);
	struct stat st;
	ASSERT_EQ(stat(json_path, &st), 0);
	printf("  status --json with %d listeners: %lld bytes\n", LISTENERS,
	       (long long)st.st_size);
	ASSERT(st.st_size > 16384);
	code = run_command((char *[]){ (char *)python(), "-m", "json.tool", json_path, NULL },
			   work_path("parsed.json"), work_path("json-errors"), 30000);
	if (code != 0)
		FAIL("status --json is not valid JSON: %s", file_text(work_path("json-errors")));
	ASSERT_EQ(control(&s, "status"), 0);
	char *esc = strchr(said.out, '\x1b'), *bel = strchr(said.out, '\a');
	if (esc || bel || !strstr(said.out, "status: ?[31mred? ?? caf\xc3\xa9"))
		FAIL("the server's STATUS= reached the terminal unclean:\n%.400s",
		     strstr(said.out, "generation 1") ? strstr(said.out, "generation 1")
						      : said.out);
	sup_terminate(&s);
}

/* ------------------------------------------------- operators' mistakes */

/* --env-file: a line of any length is one variable; a protocol variable
 * or a malformed line fails the reload with the line number, and the
 * serving generation serves on. */
void test_supervisor_env_file_rules(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	char env_file[300], script[300], report[300], text[1024];
	snprintf(env_file, sizeof env_file, "%s", work_path("app.env"));
	snprintf(script, sizeof script, "%s", work_path("server.sh"));
	snprintf(report, sizeof report, "%s", work_path("report"));
	static char big[12000];
	memset(big, 0, sizeof big);
	strcpy(big, "# a comment\n\nBIG=");
	memset(big + strlen(big), 'v', 10000);
	strcat(big, "\nAFTER=yes\n");
	write_file(env_file, big, 0644);
	snprintf(text, sizeof text,
		 "#!/bin/sh\necho \"big=${#BIG} after=$AFTER\" >> '%s'\nexec '%s' --listen %s\n",
		 report, httpd_bin, s.address);
	write_file(script, text, 0755);
	sup_start(&s, (char *[]){ "--env-file", env_file, NULL }, (char *[]){ script, NULL },
		  NULL);
	ASSERT_STR_EQ(file_text(report), "big=10000 after=yes\n");
	struct gen g = only_generation(&s);

	static const struct {
		const char *line, *reason;
	} bad[] = {
		{ "LISTEN_FDS=5", "line 4: LISTEN_FDS is set by handoff itself" },
		{ "NOTIFY_SOCKET=@elsewhere", "line 4: NOTIFY_SOCKET is set by handoff itself" },
		{ "HANDOFF_FD=3", "line 4: HANDOFF_FD is set by handoff itself" },
		{ "just words", "line 4: expected NAME=VALUE" },
		{ "=value", "line 4: expected NAME=VALUE" },
		{ "1ABC=x", "line 4: expected NAME=VALUE" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		snprintf(text, sizeof text, "# a comment\n\nAFTER=yes\n%s\n", bad[i].line);
		write_file_atomic(env_file, text, 0644);
		int code = control(&s, "reload");
		if (code != 1 || !strstr(said.err, bad[i].reason))
			FAIL("--env-file line \"%s\": exit %d, expected \"%s\"\n%s%s",
			     bad[i].line, code, bad[i].reason, said.out, said.err);
		struct gen now = only_generation(&s);
		ASSERT_EQ(now.pid, g.pid);
	}
	ASSERT(answers(s.port, g.pid, 1));
	write_file_atomic(env_file, "AFTER=again\n", 0644);
	reload_ok(&s, 2, 1);
	sup_stop(&s);
}

/* --max-draining: past the bound a reload is refused as busy, status
 * shows the count, and once one has drained reloads work again. */
void test_supervisor_bounds_draining_generations(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	sup_start(&s, (char *[]){ "--max-draining", "1", NULL },
		  (char *[]){ httpd_bin, "--listen", s.address, NULL }, NULL);
	struct gen g1 = only_generation(&s);
	int slow = http_send("127.0.0.1", s.port, "/sleep?ms=3000");
	ASSERT(slow >= 0);
	if (!wait_request_taken(g1.pid, slow, 10000))
		FAIL("generation 1 did not take the slow request");
	reload_ok(&s, 2, 0);
	int code = control(&s, "reload");
	if (code != 1 || !strstr(said.err, "busy: too many generations are still draining"))
		FAIL("a reload past --max-draining: exit %d\n%s%s", code, said.out, said.err);
	ASSERT_EQ(control(&s, "status"), 0);
	if (!strstr(said.out, "draining: 1 of at most 1"))
		FAIL("status does not show the draining count:\n%s", said.out);
	char body[256];
	ASSERT_EQ(http_answer(slow, body, sizeof body, 10000), 200);
	ASSERT(strstr(body, "generation=1 "));
	if (!wait_file_contains(s.log, "exited with status 0 after draining", 1, 10000))
		FAIL("generation 1 did not drain; log:\n%s", file_text(s.log));
	reload_ok(&s, 3, 2);
	sup_stop(&s);
}

/* Too few descriptors: the start fails with the reason, leaves no pid
 * file, and no socket behind. */
void test_supervisor_too_few_descriptors(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	char command[2400];
	for (int limit = 4; limit <= 8; limit++) { /* it needs ten or more */
		snprintf(command, sizeof command,
			 "ulimit -n %d && exec '%s' run --pidfile '%s' -l %s -- '%s' --listen %s",
			 limit, handoff_bin, s.pidfile, s.address, httpd_bin, s.address);
		char *out = work_path("limited.out"), *err = work_path("limited.err");
		int code = run_command((char *[]){ "/bin/sh", "-c", command, NULL }, out, err,
				       30000);
		char *text = read_file(err);
		if (code == 0)
			FAIL("started with ulimit -n %d?", limit);
		if (!text || !strstr(text, "Too many open files"))
			FAIL("ulimit -n %d: exit %d without the reason:\n%s%s", limit, code,
			     file_text(out), file_text(err));
		free(text);
		if (access(s.pidfile, F_OK) == 0)
			FAIL("ulimit -n %d: the failed start left its pid file", limit);
		nothing_left(s.port);
	}
}

/* ------------------------------------------------- the supervisor dies */

/* SIGKILL of the supervisor, once while serving and once in the middle of
 * a reload: its generations are told to stop (their parent-death signal
 * is the stop signal), drain and go, so the port is free again and a new
 * `handoff run` on the same pid file and port starts cleanly. */
void test_supervisor_sigkill_leaves_nothing_serving(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	char script[300], go[300];
	snprintf(script, sizeof script, "%s", work_path("server.sh"));
	snprintf(go, sizeof go, "%s", work_path("go"));
	install_httpd(script, &s);
	for (int round = 0; round < 2; round++) {
		sup_start(&s, NULL, (char *[]){ script, NULL }, NULL);
		struct gen g = only_generation(&s);
		if (round == 1) {
			/* A reload that cannot finish: generation 2 waits for go. */
			install_gated_httpd(script, &s, go);
			kill(s.pid, SIGHUP);
			if (!wait_file_contains(s.log, "generation 2 started", 1, 10000))
				FAIL("no generation 2; log:\n%s", file_text(s.log));
		}
		ASSERT_EQ(kill(s.pid, SIGKILL), 0);
		int status;
		if (!wait_gone(s.pid, 10000, &status))
			FAIL("the supervisor did not die");
		if (!wait_gone(g.pid, 10000, &status))
			FAIL("generation 1 (pid %d) outlived its supervisor; log:\n%s",
			     (int)g.pid, file_text(s.log));
		if (!wait_for(port_refuses, &s.port, 10000))
			FAIL("the port still answers after the supervisor was killed; log:\n%s",
			     file_text(s.log));
		nothing_holds(&s);
		printf("  round %d: killed%s, generation 1 drained (%s), port free\n",
		       round + 1, round ? " mid-reload" : " while serving",
		       count_in_file(s.log, "Terminated: stopping") ? "told to stop" : "?");
		install_httpd(script, &s);
	}
	/* And the next one starts on the same pid file, port and control
	 * socket path. */
	sup_start(&s, NULL, (char *[]){ script, NULL }, NULL);
	reload_ok(&s, 2, 1);
	sup_stop(&s);
}

/* ------------------------------------------------- users and directories */

/* --user gets the user's supplementary groups (as su and systemd's User=
 * do), not only its primary group. The group is added to a copy of
 * /etc/group mounted over it in a mount namespace of this test's own, so
 * the machine's is never touched. Root only. */
void test_supervisor_user_gets_its_groups(void)
{
	locate();
	if (geteuid() != 0) {
		SKIP("needs root");
	}
	char *groups = read_file("/etc/group"), copy[300];
	ASSERT(groups);
	snprintf(copy, sizeof copy, "%s", work_path("group"));
	char *text = malloc(strlen(groups) + 64);
	sprintf(text, "%s%shandofftest:x:4242:nobody\n", groups,
		groups[0] && groups[strlen(groups) - 1] != '\n' ? "\n" : "");
	write_file(copy, text, 0644);
	free(text);
	free(groups);
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(copy, "/etc/group", NULL, MS_BIND, NULL) < 0) {
		SKIP("no private mount namespace (%s)", strerror(errno));
	}
	struct sup s;
	sup_init(&s);
	sup_start(&s, (char *[]){ "--user", "nobody", NULL },
		  (char *[]){ httpd_bin, "--listen", s.address, NULL }, NULL);
	struct gen g = only_generation(&s);
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/status", (int)g.pid);
	char *status = read_file(path);
	ASSERT(status);
	char *line = strstr(status, "\nGroups:");
	if (!line || !strstr(line, "4242") || !strstr(line, "65534"))
		FAIL("generation 1 lacks nobody's groups (4242, 65534):\n%s", status);
	line[strcspn(line + 1, "\n") + 1] = '\0';
	printf("  generation 1 as nobody:%s\n", line + 1);
	free(status);
	sup_stop(&s);
}

/* A --chdir that cannot be entered is named as the reason, not the
 * program. */
void test_supervisor_says_which_step_failed(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	int code = handoff((char *[]){ "run", "--pidfile", s.pidfile, "--chdir",
				       "/nonexistent/dir", "-l", s.address, "--", httpd_bin,
				       "--listen", s.address, NULL });
	if (code != 1 || !strstr(said.err, "--chdir /nonexistent/dir: No such file or directory"))
		FAIL("a bad --chdir: exit %d\n%s%s", code, said.out, said.err);
	printf("  %s", said.err);
	nothing_left(s.port);
}

/* kill -HUP to a libhandoff server running under `handoff run`: it does
 * not start a successor behind the supervisor's back (which then killed it
 * as a stray, resetting requests); it asks the supervisor to reload. */
void test_supervisor_sighup_to_a_libhandoff_generation(void)
{
	locate();
	struct sup s;
	struct load l;
	struct load_result r;
	sup_init(&s);
	sup_start(&s, NULL, (char *[]){ httpd_bin, "--listen", s.address, NULL }, NULL);
	load_start(&l, s.port, (char *[]){ "--keepalive", "4", "--fresh", "2", NULL });
	for (unsigned n = 1; n <= 3; n++) {
		struct gen g = wait_serving(&s, n);
		ASSERT_EQ(kill(g.pid, SIGHUP), 0);
		wait_serving(&s, n + 1);
	}
	load_stop(&l, &r);
	load_print("3 SIGHUPs to the serving generation under handoff run", &r);
	check_no_failures(&r);
	if (count_in_file(s.log, "asks for a reload") != 3 ||
	    count_in_file(s.log, "reload requested from the supervisor") != 3 ||
	    count_in_file(s.log, "upgrade started"))
		FAIL("the SIGHUPs did not go through the supervisor; log:\n%s",
		     file_text(s.log));
	ASSERT_EQ(read_pid(s.pidfile), s.pid);
	sup_stop(&s);
}

/* What the log and the commands say is what happened: a draining
 * generation killed from outside did not drain; a crash restart is not
 * the last reload; a reload cut short by a stop says so. */
void test_supervisor_messages_say_what_happened(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	char script[300], go[300], text[1400];
	snprintf(script, sizeof script, "%s", work_path("server.sh"));
	snprintf(go, sizeof go, "%s", work_path("go"));
	install_httpd(script, &s);
	sup_start(&s, NULL, (char *[]){ script, NULL }, NULL);

	/* Generation 1 drains a slow request and is killed meanwhile. */
	struct gen g1 = only_generation(&s);
	int slow = http_send("127.0.0.1", s.port, "/sleep?ms=10000");
	ASSERT(slow >= 0);
	if (!wait_request_taken(g1.pid, slow, 10000))
		FAIL("generation 1 did not take the slow request");
	reload_ok(&s, 2, 0);
	ASSERT_EQ(kill(g1.pid, SIGKILL), 0);
	snprintf(text, sizeof text, "generation 1 (pid %d) was killed by signal 9 (Killed) "
		 "while draining", (int)g1.pid);
	if (!wait_file_contains(s.log, text, 1, 10000))
		FAIL("expected \"%s\"; log:\n%s", text, file_text(s.log));
	close(slow);

	/* A crash of generation 2: restarted as 3, recorded as a restart. */
	struct gen g2 = wait_one_ready(&s);
	ASSERT_EQ(kill(g2.pid, SIGKILL), 0);
	wait_serving(&s, 3);
	ASSERT_EQ(control(&s, "status"), 0);
	if (!strstr(said.out, "last reload: ok: generation 2 (pid ") ||
	    !strstr(said.out, "last restart: ok: generation 3 (pid "))
		FAIL("status after a crash restart:\n%s", said.out);

	/* A reload that cannot finish, cut short by a stop. */
	install_gated_httpd(script, &s, go);
	char *out = work_path("reload.out");
	struct spawn_options o = { .output = out };
	pid_t reloading = spawn((char *[]){ handoff_bin, "reload", "--pidfile", s.pidfile,
					    NULL }, &o);
	if (!wait_file_contains(s.log, "generation 4 started", 1, 10000))
		FAIL("no generation 4; log:\n%s", file_text(s.log));
	kill(s.pid, SIGTERM);
	int status;
	if (!wait_exit(reloading, 10000, &status) || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 1 || !count_in_file(out, "the supervisor is stopping"))
		FAIL("the reload cut short by a stop: 0x%x \"%s\"", status, file_text(out));
	if (!wait_gone(s.pid, 30000, &status))
		FAIL("the supervisor did not stop");
	nothing_left(s.port);
}

/* A descriptor the supervisor inherited by accident (a shell's, an IDE's,
 * here an open file at fds 3 to 9, with no LISTEN_FDS) never reaches a
 * generation, which may run as another user. */
void test_supervisor_keeps_inherited_descriptors_to_itself(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	char secret[300];
	snprintf(secret, sizeof secret, "%s", work_path("secret"));
	write_file(secret, "not for the server\n", 0600);
	int fd = open(secret, O_RDONLY | O_CLOEXEC);
	ASSERT(fd >= 0);
	char *argv[64];
	run_argv(argv, 64, &s, 0, NULL, (char *[]){ httpd_bin, "--listen", s.address, NULL });
	int strays[] = { fd, fd, fd, fd, fd, fd, fd };
	struct spawn_options o = { .output = s.log, .fds = strays, .fd_count = 7 };
	s.pid = spawn(argv, &o);
	close(fd);
	if (!wait_file_contains(s.log, "ok: generation 1 (pid", 1, 20000))
		FAIL("not ready; log:\n%s", file_text(s.log));
	for (int round = 0; round < 2; round++) {
		struct gen g = only_generation(&s);
		char dir[64], link[400], target[400];
		snprintf(dir, sizeof dir, "/proc/%d/fd", (int)g.pid);
		DIR *d = opendir(dir);
		ASSERT(d);
		for (struct dirent *e; (e = readdir(d));) {
			snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
			ssize_t n = readlink(link, target, sizeof target - 1);
			target[n > 0 ? n : 0] = '\0';
			if (strcmp(target, secret) == 0)
				FAIL("generation %u holds the supervisor's stray fd %s", g.number,
				     e->d_name);
		}
		closedir(d);
		if (round == 0)
			reload_ok(&s, 2, 1);
	}
	sup_stop(&s);
}

/* The old predictable names (@handoff-<pid>-notify and -control) taken
 * first for the next 300 pids stop nothing now; and a flood of messages
 * from a non-generation costs at most ten log lines. */
void test_supervisor_names_taken_first_and_floods(void)
{
	locate();
	if (raise_nofile(2048) < 1000) {
		SKIP("RLIMIT_NOFILE cannot be raised to 1000");
	}
	int taken = 0;
	for (int p = getpid() + 1; p <= getpid() + 300; p++)
		for (int kind = 0; kind < 2; kind++) {
			char text[96];
			struct handoff_address a;
			snprintf(text, sizeof text, "%s:@handoff-%d-%s", kind ? "unix" : "unixgram",
				 p, kind ? "control" : "notify");
			int fd = socket(AF_UNIX, (kind ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
			if (handoff_address_parse(&a, text) == 0 && fd >= 0 &&
			    bind(fd, &a.u.sa, a.length) == 0)
				taken++; /* kept open until the test ends */
		}
	struct sup s;
	sup_init(&s);
	sup_start(&s, NULL, (char *[]){ httpd_bin, "--listen", s.address, NULL }, NULL);
	printf("  started with %d abstract names taken first\n", taken);

	struct sockaddr_un un = { .sun_family = AF_UNIX };
	notify_path(&s, un.sun_path, sizeof un.sun_path);
	int flood = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	/* Blocking while the supervisor reads, a second at most per message. */
	struct timeval second = { 1, 0 };
	setsockopt(flood, SOL_SOCKET, SO_SNDTIMEO, &second, sizeof second);
	int sent = 0;
	for (int i = 0; i < 1000; i++)
		sent += sendto(flood, "READY=1", 7, 0, (struct sockaddr *)&un, sizeof un) == 7;
	close(flood);
	reload_ok(&s, 2, 1); /* heard through the same socket, after the flood */
	int lines = count_in_file(s.log, "not one of our generations");
	printf("  %d messages from outside, %d log lines about them\n", sent, lines);
	if (lines < 1 || lines > 10)
		FAIL("%d log lines for %d foreign messages; log:\n%s", lines, sent,
		     file_text(s.log));
	sup_stop(&s);
}
