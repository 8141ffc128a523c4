/* test-activation.c — socket activation into the supervisor, as systemd
 * does it, and on to the generations beneath it. */
#include "harness.h"

#include <arpa/inet.h>
#include <signal.h>
#include <string.h>
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
	ASSERT_EQ(http_get("::1", port, "/", body, sizeof body), 200);
	ASSERT(strstr(body, "generation=2 "));
	kill(supervisor, SIGTERM);
	int status;
	ASSERT(wait_exit(supervisor, 30000, &status));
	ASSERT_EQ(status, 0);
}
