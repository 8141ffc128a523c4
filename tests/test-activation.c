/* test-activation.c — socket activation into the supervisor, as systemd
 * does it, and on to the generations beneath it. */
#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* systemd's ListenStream=8080 is [::]:8080 while the command line says
 * *:8080: the socket passed under the name is the one used. */
void test_supervisor_socket_activation(void)
{
	guard_descendants(); /* generations have process groups of their own */
	int sock = listen_on("[::1]:0");
	struct handoff_address a;
	handoff_address_of_socket(&a, sock);
	int port = ntohs(a.u.in6.sin6_port);
	char wanted[64], log[300], pidfile[300];
	snprintf(wanted, sizeof wanted, "web=127.0.0.1:%d", free_port());
	snprintf(log, sizeof log, "%s", work_path("handoff.log"));
	snprintf(pidfile, sizeof pidfile, "%s", work_path("handoff.pid"));
	struct spawn_options o = { .output = log, .fds = &sock, .fd_count = 1,
				   .listen_fds = 1,
				   .env = (char *[]){ "LISTEN_FDNAMES=web", NULL } };
	pid_t supervisor = spawn((char *[]){ bin_path("handoff"), "run", "--pidfile",
					     pidfile, "-l", wanted, "--",
					     bin_path("examples/httpd"), "--listen",
					     wanted, NULL }, &o);
	close(sock); /* systemd keeps its copy; ours would only blur the test */
	expect_in_file(log, "ready on");
	expect_in_file(log, "as passed by the service manager");
	char body[128];
	ASSERT_EQ(http_get("::1", port, "/", body, sizeof body), 200);
	ASSERT(strstr(body, "generation=1 "));
	/* A reload hands the same socket on. */
	kill(supervisor, SIGHUP);
	expect_in_file(log, "ok: generation 2");
	if (!wait_http_body("::1", port, "/", "generation=2 ", body, sizeof body, 10000))
		FAIL("generation 2 never answered; last answer: %s", body);
	kill(supervisor, SIGTERM);
	int status;
	ASSERT(wait_exit(supervisor, 30000, &status));
	ASSERT_EQ(status, 0);
}

/* --env-file (re-read at each reload), --chdir, --umask, --stop-signal,
 * the drain deadline, and a second stop request, with a server that is a
 * shell script made ready by --ready=delay. */
void test_supervisor_options(void)
{
	guard_descendants();
	char env_file[300], report[300], script[300], sub[300], log[300], env[400];
	snprintf(env_file, sizeof env_file, "%s", work_path("app.env"));
	snprintf(report, sizeof report, "%s", work_path("report"));
	snprintf(script, sizeof script, "%s", work_path("gen.sh"));
	snprintf(sub, sizeof sub, "%s", work_path("sub"));
	snprintf(log, sizeof log, "%s", work_path("handoff.log"));
	ASSERT_EQ(mkdir(sub, 0755), 0);
	write_file(script, "#!/bin/sh\n"
		   "echo \"gen=$HANDOFF_GENERATION greeting=$GREETING pwd=$(pwd) "
		   "umask=$(umask)\" >> \"$REPORT\"\n"
		   "[ -n \"$IGNORE_STOP\" ] && trap '' USR1\n"
		   "exec sleep 1000\n", 0755);
	snprintf(env, sizeof env, "# the first version\nGREETING=one\nREPORT=%s\n", report);
	write_file(env_file, env, 0644);
	struct spawn_options o = { .output = log };
	pid_t supervisor = spawn((char *[]){ bin_path("handoff"), "run",
					     "--ready=delay:50ms", "--env-file", env_file,
					     "--chdir", sub, "--umask", "027",
					     "--stop-signal", "USR1", "--drain-timeout",
					     (char *)scaled_duration(300),
					     "-l", "127.0.0.1:0", "--", script, NULL }, &o);
	char line[400];
	snprintf(line, sizeof line, "gen=1 greeting=one pwd=%s umask=0027", sub);
	expect_in_file(report, line);
	expect_in_file(log, "ok: generation 1 ");

	/* A new environment takes effect at the reload; the old generation
	 * gets USR1, which kills a sleep. */
	snprintf(env, sizeof env, "GREETING=two\nREPORT=%s\nIGNORE_STOP=1\n", report);
	write_file(env_file, env, 0644);
	kill(supervisor, SIGHUP);
	expect_in_file(report, "gen=2 greeting=two");
	expect_in_file(log, "generation 1 (pid ");
	expect_in_file(log, "killed by signal 10 (User defined signal 1) when asked to drain");

	/* Generation 2 ignores the stop signal: killed at the drain deadline. */
	expect_in_file(log, "ok: generation 2 ");
	kill(supervisor, SIGHUP);
	expect_in_file(report, "gen=3 greeting=two");
	expect_in_file(log, "generation 2 (pid ");
	expect_in_file(log, "still draining at the deadline: killing its process group");
	expect_in_file(log, "was killed by signal 9 (Killed) at the drain deadline");

	/* Generation 3 ignores it too; a second stop request does not wait. */
	expect_in_file(log, "ok: generation 3 ");
	kill(supervisor, SIGTERM);
	expect_in_file(log, "stopping: 1 generation(s) drain");
	kill(supervisor, SIGTERM);
	expect_in_file(log, "second stop request: killing every generation now");
	int status;
	ASSERT(wait_exit(supervisor, 10000, &status));
	ASSERT_EQ(status, 0);
	ASSERT_EQ(count_guarded(), 0);
}

/* The control socket and the notify socket are closed to other users: a
 * client that became nobody can neither stop the supervisor nor say
 * READY=1 to it. As root only, like CI. */
void test_supervisor_sockets_closed_to_other_users(void)
{
	if (geteuid() != 0) {
		SKIP("needs root to become another user");
	}
	guard_descendants();
	char log[300], pidfile[300], addr[32], control[100], status_out[300];
	snprintf(log, sizeof log, "%s", work_path("handoff.log"));
	snprintf(pidfile, sizeof pidfile, "%s", work_path("handoff.pid"));
	if (snprintf(control, sizeof control, "%s.control", pidfile) >= (int)sizeof control)
		FAIL("work directory path too long");
	snprintf(status_out, sizeof status_out, "%s", work_path("status.json"));
	snprintf(addr, sizeof addr, "127.0.0.1:%d", free_port());
	struct spawn_options o = { .output = log };
	pid_t supervisor = spawn((char *[]){ bin_path("handoff"), "run", "--pidfile",
					     pidfile, "-l", addr, "--",
					     bin_path("examples/httpd"), "--listen", addr,
					     NULL }, &o);
	expect_in_file(log, "ok: generation 1 ");
	/* Where the notify socket is, as status tells root. */
	ASSERT_EQ(run_command((char *[]){ bin_path("handoff"), "status", "--json",
					  "--pidfile", pidfile, NULL },
			      status_out, NULL, 10000), 0);
	char *json = read_file(status_out), notify[128] = "";
	char *at = json ? strstr(json, "\"notify_socket\":\"") : NULL;
	if (!at || sscanf(at + 17, "%127[^\"]", notify) != 1)
		FAIL("no notify_socket in status: %s", json ? json : "(none)");
	free(json);
	chmod(work_dir, 0755); /* let nobody reach the paths, if they allow it */
	pid_t client = fork();
	if (client == 0) {
		if (setgid(65534) < 0 || setuid(65534) < 0)
			_exit(3);
		/* The control socket: not reachable, or refused. */
		struct sockaddr_un un = { .sun_family = AF_UNIX };
		snprintf(un.sun_path, sizeof un.sun_path, "%s", control);
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		char reply[128] = "";
		if (connect(fd, (struct sockaddr *)&un, sizeof un) == 0) {
			/* Refused at accept: the write may fail, the answer is there. */
			ssize_t ignored = write(fd, "handoff-control 1 stop\n", 23);
			(void)ignored;
			ssize_t got = read(fd, reply, sizeof reply - 1);
			if (got <= 0 || !strstr(reply, "error permission denied"))
				_exit(5);
		} else if (errno != EACCES) {
			_exit(4);
		}
		/* The notify socket: no way in for a stranger. */
		int dgram = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		snprintf(un.sun_path, sizeof un.sun_path, "%s", notify);
		if (sendto(dgram, "READY=1", 7, 0, (struct sockaddr *)&un, sizeof un) >= 0 ||
		    errno != EACCES)
			_exit(6);
		_exit(0);
	}
	int status;
	ASSERT(wait_exit(client, 10000, &status));
	/* 3: could not become nobody; 4: the control socket failed otherwise;
	 * 5: nobody was not refused; 6: nobody could reach the notify socket */
	ASSERT_EQ(status, 0);
	ASSERT_EQ(kill(supervisor, 0), 0); /* not stopped by a stranger */
	kill(supervisor, SIGTERM);
	ASSERT(wait_exit(supervisor, 30000, &status));
	ASSERT_EQ(status, 0);
}
