/* scale.c — `make bench`: what a restart costs as the counts grow.
 *
 *   listeners   1, 64, 1000 sockets on 127.0.0.1, upgraded by the library
 *               (the runner's helper server, SIGHUP) and reloaded by the
 *               supervisor (`handoff run` with the same helper beneath it)
 *   connections 100, 1000, 10,000 idle keep-alive connections on
 *               examples/httpd, which must drain them (close each one
 *               without a reset) once its successor is ready
 *   memory      the resident size of the supervisor and of the library
 *               process at each count
 *
 * The library's timings come from a notify socket of ours: its successor's
 * READY=1 datagram marks the instant it is ready. The supervisor's come from
 * its control socket (what `handoff reload` speaks): the answer comes once
 * the new generation is ready. "Gone" is the old generation's exit, seen on
 * a pidfd. */
#include "bench.h"
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

enum { UPGRADES = 20, DRAIN_RUNS = 3, MAX_LISTENERS = 1000 };

static const int listener_counts[] = { 1, 64, 1000 };
static const int connection_counts[] = { 100, 1000, 10000 };

/* ------------------------------------------------------------ notify socket */

static void notify_drain(int fd)
{
	char buf[512];
	while (recv(fd, buf, sizeof buf, MSG_DONTWAIT) > 0)
		;
}

/* ------------------------------------------------------------ helpers */

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Waits for the exit of a process that need not be our child. */
static int wait_pidfd(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return fd >= 0 ? poll(&p, 1, timeout_ms) == 1 : 1;
}

/* "reload" over the control socket beside the supervisor's pid file; 0 once
 * it answered "ok". */
static int control_reload(const char *pidfile, char *answer, size_t size)
{
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	if (snprintf(un.sun_path, sizeof un.sun_path, "%s.control", pidfile) >=
	    (int)sizeof un.sun_path) {
		snprintf(answer, size, "pid file path too long");
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&un, sizeof un) < 0) {
		snprintf(answer, size, "connect: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	static const char request[] = "handoff-control 1 reload\n";
	size_t got = 0;
	if (write(fd, request, sizeof request - 1) == (ssize_t)sizeof request - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;
		while (got < size - 1 && poll(&p, 1, 30000) == 1 &&
		       (r = read(fd, answer + got, size - 1 - got)) > 0)
			got += (size_t)r;
	}
	answer[got] = '\0';
	close(fd);
	return strncmp(answer, "ok ", 3) == 0 ? 0 : -1;
}

/* Stops our child pid with sig, or SIGKILL after 15 s; then the children
 * it had, which a supervisor puts in process groups of their own. */
static double ms(long us)
{
	return us / 1000.0;
}

/* How v grows with n over three points: flat, linear or worse. A point
 * that is NAN was not measured. */
static void growth(char *out, size_t size, const int *n, const double *v,
		   const char *unit)
{
	if (isnan(v[0]) || isnan(v[1]) || isnan(v[2])) {
		snprintf(out, size, "not measured at every count");
		return;
	}
	double s1 = (v[1] - v[0]) / (n[1] - n[0]), s2 = (v[2] - v[1]) / (n[2] - n[1]);
	double rise = v[2] - v[0];
	/* The first step must rise clearly above noise (and memory comes in
	 * pages) before its slope can be compared with the second's. */
	int first_step_measurable = v[1] - v[0] > 0.1 * fabs(v[0]);
	if (rise < 0.2 * fabs(v[0]) || rise <= 0)
		snprintf(out, size, "flat (%+.3g %s from %d to %d)", rise, unit, n[0], n[2]);
	else if (first_step_measurable && s2 > 2.5 * s1 && s1 > 0)
		snprintf(out, size, "WORSE THAN LINEAR: %.3g %s per unit from %d to %d, "
			 "%.3g from %d to %d", s1, unit, n[0], n[1], s2, n[1], n[2]);
	else
		snprintf(out, size, "linear, about %.3g %s per unit (%.3g from %d to %d)",
			 (v[2] - v[0]) / (n[2] - n[0]), unit, s2, n[1], n[2]);
}

/* ------------------------------------------------------------ listeners */

struct listener_point {
	int count, done;
	long ready_med, ready_p90, gone_med, rss_kib;
	char error[200];
};

/* n free ports on 127.0.0.1, all distinct: held open while picked. */
static int pick_ports(int *ports, int n)
{
	static int fds[MAX_LISTENERS];
	int got = 0;
	for (; got < n; got++) {
		fds[got] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in in = { .sin_family = AF_INET,
					  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		socklen_t len = sizeof in;
		if (fds[got] < 0 || bind(fds[got], (struct sockaddr *)&in, sizeof in) < 0 ||
		    getsockname(fds[got], (struct sockaddr *)&in, &len) < 0) {
			if (fds[got] >= 0)
				close(fds[got]);
			break;
		}
		ports[got] = ntohs(in.sin_port);
	}
	for (int i = 0; i < got; i++)
		close(fds[i]);
	for (int i = 0; i < got; i++)
		bench_port_used(ports[i]);
	return got;
}

static char *join_addresses(const int *ports, int n, const char *sep)
{
	char *text = malloc((size_t)n * 24 + 1), *p = text;
	if (!text)
		FAIL("out of memory");
	*p = '\0';
	for (int i = 0; i < n; i++)
		p += sprintf(p, "%s127.0.0.1:%d", i ? sep : "", ports[i]);
	return text;
}

/* The library: the helper server holding n listeners, upgraded UPGRADES
 * times by SIGHUP; READY=1 from the successor ends each upgrade. Its
 * output (a line per listener per generation) goes to /dev/null, so that
 * the figures are the library's and not the helper's logging. */
static void listeners_library(struct listener_point *pt, const int *ports, int n)
{
	char env[128];
	int notify = bench_notify_listener(env, sizeof env);
	char *spec = join_addresses(ports, n, ";");
	struct spawn_options o = { .output = "/dev/null", .env = (char *[]){ env, NULL } };
	pid_t pid = spawn_helper("server", spec, &o);
	long ready[UPGRADES], gone[UPGRADES];
	pid_t said;
	if (!bench_wait_ready(notify, 10000, &said) || said != pid) {
		snprintf(pt->error, sizeof pt->error, "the helper server did not start");
		goto out;
	}
	for (int i = 0; i < UPGRADES; i++) {
		pid_t old = pid;
		int status;
		long t0 = clock_us();
		kill(old, SIGHUP);
		int ok = bench_wait_ready(notify, 10000, &pid) && pid > 1;
		long t1 = clock_us();
		if (!ok) {
			pid = old;
			snprintf(pt->error, sizeof pt->error, "no successor within 10 s");
			goto out;
		}
		if (!wait_exit(old, 10000, &status)) {
			snprintf(pt->error, sizeof pt->error, "old generation did not exit");
			goto out;
		}
		ready[i] = t1 - t0;
		gone[i] = clock_us() - t1;
		pt->done++;
	}
	pt->rss_kib = rss_kib(pid);
	pt->ready_med = percentile(ready, pt->done, 50);
	pt->ready_p90 = percentile(ready, pt->done, 90);
	pt->gone_med = percentile(gone, pt->done, 50);
out:
	stop_tree(pid, SIGTERM);
	free(spec);
	close(notify);
}

/* The supervisor: `handoff run -l ... -- run-tests --helper server SPEC`,
 * reloaded over its control socket UPGRADES times. */
static void listeners_supervisor(struct listener_point *pt, long *helper_rss,
				 const int *ports, int n)
{
	char env[128], handoff[512], pidfile[512];
	int notify = bench_notify_listener(env, sizeof env);
	char *spec = join_addresses(ports, n, ";");
	char **argv = calloc((size_t)(2 * n + 16), sizeof *argv);
	char *addresses = join_addresses(ports, n, " "); /* split in place below */
	if (!argv || !spec || !addresses)
		FAIL("out of memory");
	snprintf(handoff, sizeof handoff, "%s", bin_path("handoff"));
	snprintf(pidfile, sizeof pidfile, "%s", work_path("scale-handoff.pid"));
	int a = 0;
	argv[a++] = handoff;
	argv[a++] = "run";
	argv[a++] = "--pidfile";
	argv[a++] = pidfile;
	argv[a++] = "--drain-timeout";
	argv[a++] = "10s";
	for (char *save = NULL, *t = strtok_r(addresses, " ", &save); t;
	     t = strtok_r(NULL, " ", &save)) {
		argv[a++] = "-l";
		argv[a++] = t;
	}
	argv[a++] = "--";
	argv[a++] = self_exe;
	argv[a++] = "--helper";
	argv[a++] = "server";
	argv[a++] = spec;
	argv[a] = NULL;
	struct spawn_options o = { .output = "/dev/null", .env = (char *[]){ env, NULL } };
	pid_t sup = spawn(argv, &o);
	long ready[UPGRADES], gone[UPGRADES];
	if (!bench_wait_ready(notify, 10000, NULL)) {
		snprintf(pt->error, sizeof pt->error, "the supervisor did not get ready");
		goto out;
	}
	pid_t serving;
	if (children_of(sup, &serving, 1) != 1) {
		snprintf(pt->error, sizeof pt->error, "no generation under the supervisor");
		goto out;
	}
	for (int i = 0; i < UPGRADES; i++) {
		int fd = pidfd_open(serving);
		char answer[256];
		/* Its STATUS= messages must not pile up: a full datagram queue
		 * would block the supervisor in sendmsg(). */
		notify_drain(notify);
		long t0 = clock_us();
		if (control_reload(pidfile, answer, sizeof answer) < 0) {
			snprintf(pt->error, sizeof pt->error, "reload: %.180s", answer);
			if (fd >= 0)
				close(fd);
			goto out;
		}
		long t1 = clock_us();
		int exited = wait_pidfd(fd, 10000);
		if (fd >= 0)
			close(fd);
		const char *p = strstr(answer, "(pid "); /* "ok generation N (pid P) ..." */
		serving = p ? (pid_t)atoi(p + 5) : 0;
		if (!exited || fd < 0 || serving <= 0) {
			snprintf(pt->error, sizeof pt->error, "the old generation did not exit");
			goto out;
		}
		ready[i] = t1 - t0;
		gone[i] = clock_us() - t1;
		pt->done++;
	}
	pt->rss_kib = rss_kib(sup);
	pid_t helper;
	*helper_rss = children_of(sup, &helper, 1) == 1 ? rss_kib(helper) : -1;
	pt->ready_med = percentile(ready, pt->done, 50);
	pt->ready_p90 = percentile(ready, pt->done, 90);
	pt->gone_med = percentile(gone, pt->done, 50);
out:
	stop_tree(sup, SIGTERM);
	free(argv);
	free(addresses);
	free(spec);
	close(notify);
}

/* ------------------------------------------------------------ idle clients */

/* A child process holding n idle keep-alive connections: each has had one
 * request answered. It behaves as a browser does: it closes a connection
 * when the server closes it. It writes "ready\n" on report once all are
 * open, then "eof=E reset=R\n" once the server has closed them all. */
static _Noreturn void idle_clients(int port, int n, int report)
{
	enum { IN_FLIGHT = 256 };
	static const char request[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
	int *fds = calloc((size_t)n, sizeof *fds);
	char *answered = calloc((size_t)n, 1);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int opened = 0, pending = 0, idle = 0, closed = 0, eof = 0, reset = 0;
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (!fds || !answered || ep < 0)
		_exit(2);
	signal(SIGTERM, SIG_DFL);
	/* The parent kills us when done; this bound is for when it cannot. */
	long give_up = clock_us() + 120 * 1000000L;
	while (closed < n && clock_us() < give_up) {
		/* Connections go out a few hundred at a time: the accept queue
		 * is not what is measured here. */
		while (opened < n && pending < IN_FLIGHT) {
			int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
			if (fd < 0)
				_exit(3);
			if (connect(fd, (struct sockaddr *)&in, sizeof in) < 0 && errno != EINPROGRESS)
				_exit(4);
			struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = (uint32_t)opened };
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			fds[opened++] = fd;
			pending++;
		}
		struct epoll_event evs[256];
		int k = epoll_wait(ep, evs, 256, 1000);
		for (int i = 0; i < k; i++) {
			int c = (int)evs[i].data.u32, fd = fds[c];
			char buf[4096];
			if (!answered[c] && (evs[i].events & EPOLLOUT)) {
				if (send(fd, request, sizeof request - 1, MSG_NOSIGNAL) != sizeof request - 1)
					_exit(5);
				struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)c };
				epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
				continue;
			}
			ssize_t r = recv(fd, buf, sizeof buf, 0);
			if (r < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (r > 0 && !answered[c]) { /* the response: now idle */
				answered[c] = 1;
				pending--;
				if (++idle == n && write(report, "ready\n", 6) != 6)
					_exit(6);
				continue;
			}
			if (r > 0)
				continue; /* nothing else is expected; ignored */
			eof += r == 0;
			reset += r < 0;
			closed++;
			close(fd);
		}
	}
	char line[64];
	int len = snprintf(line, sizeof line, "eof=%d reset=%d\n", eof, reset);
	_exit(write(report, line, (size_t)len) == len ? 0 : 7);
}

struct clients {
	pid_t pid;
	int report;
};

static int clients_start(struct clients *c, int port, int n)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		FAIL("pipe2: %s", strerror(errno));
	fflush(NULL);
	c->pid = fork();
	if (c->pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (c->pid == 0) {
		close(p[0]);
		idle_clients(port, n, p[1]);
	}
	close(p[1]);
	c->report = p[0];
	char buf[16] = "";
	struct pollfd pf = { .fd = c->report, .events = POLLIN };
	if (poll(&pf, 1, 30000) == 1 && read(c->report, buf, sizeof buf - 1) > 0 &&
	    strncmp(buf, "ready", 5) == 0)
		return 0;
	stop_tree(c->pid, SIGKILL);
	close(c->report);
	return -1;
}

/* After the drain: how the server closed them. */
static void clients_finish(struct clients *c, int *eof, int *reset)
{
	char buf[64] = "";
	struct pollfd pf = { .fd = c->report, .events = POLLIN };
	*eof = *reset = -1;
	if (poll(&pf, 1, 15000) == 1 && read(c->report, buf, sizeof buf - 1) > 0)
		sscanf(buf, "eof=%d reset=%d", eof, reset);
	stop_tree(c->pid, SIGKILL);
	close(c->report);
}

struct drain_point {
	int count, runs, eof, reset;
	long drain_med, drain_max, rss_server_kib, rss_supervisor_kib;
	char error[200];
};

/* httpd holding n idle keep-alive connections hands over once; the drain
 * is the time from the successor's readiness to the old generation's exit.
 * supervised: under `handoff run`, reloaded over the control socket. */
static long drain_once(struct drain_point *pt, int n, int supervised)
{
	char env[128], httpd[512], handoff[512], addr[32], pidfile[512];
	int notify = bench_notify_listener(env, sizeof env);
	int port = free_port();
	bench_port_used(port);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	snprintf(httpd, sizeof httpd, "%s", bin_path("examples/httpd"));
	snprintf(handoff, sizeof handoff, "%s", bin_path("handoff"));
	snprintf(pidfile, sizeof pidfile, "%s", work_path("scale-drain.pid"));
	/* The grace is set, not left to httpd's default: it is what these
	 * figures are measured against. */
	char *plain[] = { httpd, "--listen", addr, "--idle-grace", "100", NULL };
	char *under[] = { handoff, "run", "--pidfile", pidfile, "--drain-timeout", "10s",
			  "-l", addr, "--", httpd, "--listen", addr, "--idle-grace", "100",
			  NULL };
	struct spawn_options o = { .output = work_path("scale-drain.log"),
				   .env = (char *[]){ env, NULL } };
	pid_t pid = spawn(supervised ? under : plain, &o), server = pid;
	long drain = -1;
	struct clients c;
	pid_t ready = 0;
	if (!bench_wait_ready(notify, 10000, &ready) || (!supervised && ready != pid)) {
		snprintf(pt->error, sizeof pt->error, "httpd did not start");
		goto out;
	}
	if (supervised && children_of(pid, &server, 1) != 1) {
		snprintf(pt->error, sizeof pt->error, "no generation under the supervisor");
		goto out;
	}
	if (clients_start(&c, port, n) < 0) {
		snprintf(pt->error, sizeof pt->error, "could not open %d connections", n);
		goto out;
	}
	long rss = rss_kib(server), rss_sup = supervised ? rss_kib(pid) : -1;
	if (rss > pt->rss_server_kib)
		pt->rss_server_kib = rss;
	if (rss_sup > pt->rss_supervisor_kib)
		pt->rss_supervisor_kib = rss_sup;
	int fd = pidfd_open(server), status, eof, reset;
	long t1 = 0;
	notify_drain(notify);
	if (supervised) {
		char answer[256];
		if (control_reload(pidfile, answer, sizeof answer) == 0)
			t1 = clock_us();
	} else {
		kill(pid, SIGHUP);
		pid_t next = 0;
		if (bench_wait_ready(notify, 10000, &next) && next > 1) {
			t1 = clock_us();
			pid = next;
		}
	}
	if (t1 && wait_pidfd(fd, 15000))
		drain = clock_us() - t1;
	if (fd >= 0)
		close(fd);
	if (!supervised)
		wait_exit(server, 1000, &status); /* reap the old generation */
	clients_finish(&c, &eof, &reset);
	pt->eof += eof;
	pt->reset += reset;
	if (drain < 0)
		snprintf(pt->error, sizeof pt->error, "the handover did not complete");
out:
	stop_tree(pid, SIGTERM);
	close(notify);
	return drain;
}

/* ------------------------------------------------------------ report */

static void report_listeners(struct listener_point *lib, struct listener_point *sup,
			     const long *helper_rss)
{
	printf("\n### Upgrade time against the number of listeners (%d upgrades each)\n\n",
	       UPGRADES);
	printf("| listeners | library: request to successor ready (median / p90) | "
	       "old generation exits after | supervisor: reload request to answer "
	       "(median / p90) | old generation exits after | RSS: library process | "
	       "RSS: supervisor | RSS: its server |\n");
	printf("|--:|--:|--:|--:|--:|--:|--:|--:|\n");
	for (int i = 0; i < 3; i++)
		printf("| %d | %.2f / %.2f ms | %.2f ms | %.2f / %.2f ms | %.2f ms | "
		       "%ld KiB | %ld KiB | %ld KiB |\n", lib[i].count,
		       ms(lib[i].ready_med), ms(lib[i].ready_p90), ms(lib[i].gone_med),
		       ms(sup[i].ready_med), ms(sup[i].ready_p90), ms(sup[i].gone_med),
		       lib[i].rss_kib, sup[i].rss_kib, helper_rss[i]);
	printf("\n");
	for (int i = 0; i < 3; i++) {
		if (lib[i].error[0])
			printf("- library, %d listeners: %s\n", lib[i].count, lib[i].error);
		if (sup[i].error[0])
			printf("- supervisor, %d listeners: %s\n", sup[i].count, sup[i].error);
	}
	double v[3];
	char text[256];
	for (int i = 0; i < 3; i++)
		v[i] = lib[i].error[0] ? NAN : ms(lib[i].ready_med);
	growth(text, sizeof text, listener_counts, v, "ms");
	printf("- library upgrade time: %s\n", text);
	for (int i = 0; i < 3; i++)
		v[i] = sup[i].error[0] ? NAN : ms(sup[i].ready_med);
	growth(text, sizeof text, listener_counts, v, "ms");
	printf("- supervisor reload time: %s\n", text);
	for (int i = 0; i < 3; i++)
		v[i] = lib[i].error[0] ? NAN : (double)lib[i].rss_kib;
	growth(text, sizeof text, listener_counts, v, "KiB");
	printf("- library process RSS: %s\n", text);
	for (int i = 0; i < 3; i++)
		v[i] = sup[i].error[0] ? NAN : (double)sup[i].rss_kib;
	growth(text, sizeof text, listener_counts, v, "KiB");
	printf("- supervisor RSS: %s\n", text);
	bench_target(!lib[2].error[0] && lib[2].ready_med < 10000,
		     "library: 1000 listeners hand over in under 10 ms (median %.2f ms)",
		     ms(lib[2].ready_med));
	bench_target(!sup[2].error[0] && sup[2].ready_med < 10000,
		     "supervisor: 1000 listeners hand over in under 10 ms (median %.2f ms)",
		     ms(sup[2].ready_med));
}

static void report_drain(struct drain_point *lib, struct drain_point *sup)
{
	printf("\n### Drain time against idle keep-alive connections on the old "
	       "generation (httpd --idle-grace 100 ms, %d runs each)\n\n", DRAIN_RUNS);
	printf("| connections | library: successor ready to old generation gone "
	       "(median / max) | closed by EOF / reset | RSS: httpd | supervisor: "
	       "reload answered to old generation gone (median / max) | closed by "
	       "EOF / reset | RSS: supervisor | RSS: its httpd |\n");
	printf("|--:|--:|--:|--:|--:|--:|--:|--:|\n");
	for (int i = 0; i < 3; i++)
		printf("| %d | %.1f / %.1f ms | %d / %d | %ld KiB | %.1f / %.1f ms | %d / %d | "
		       "%ld KiB | %ld KiB |\n", lib[i].count, ms(lib[i].drain_med),
		       ms(lib[i].drain_max), lib[i].eof, lib[i].reset, lib[i].rss_server_kib,
		       ms(sup[i].drain_med), ms(sup[i].drain_max), sup[i].eof, sup[i].reset,
		       sup[i].rss_supervisor_kib, sup[i].rss_server_kib);
	printf("\n");
	for (int i = 0; i < 3; i++) {
		if (lib[i].error[0])
			printf("- library, %d connections: %s\n", lib[i].count, lib[i].error);
		if (sup[i].error[0])
			printf("- supervisor, %d connections: %s\n", sup[i].count, sup[i].error);
	}
	double v[3];
	char text[256];
	for (int i = 0; i < 3; i++)
		v[i] = !lib[i].runs ? NAN : ms(lib[i].drain_med) - 100; /* the grace is constant */
	growth(text, sizeof text, connection_counts, v, "ms");
	printf("- library drain beyond the 100 ms idle grace: %s\n", text);
	for (int i = 0; i < 3; i++)
		v[i] = !sup[i].runs ? NAN : ms(sup[i].drain_med) - 100;
	growth(text, sizeof text, connection_counts, v, "ms");
	printf("- supervisor drain beyond the 100 ms idle grace: %s\n", text);
	for (int i = 0; i < 3; i++)
		v[i] = !lib[i].runs ? NAN : (double)lib[i].rss_server_kib;
	growth(text, sizeof text, connection_counts, v, "KiB");
	printf("- httpd RSS: %s\n", text);
	for (int i = 0; i < 3; i++)
		v[i] = !sup[i].runs ? NAN : (double)sup[i].rss_supervisor_kib;
	growth(text, sizeof text, connection_counts, v, "KiB");
	printf("- supervisor RSS: %s\n", text);
	for (int s = 0; s < 2; s++) {
		struct drain_point *p = s ? &sup[2] : &lib[2];
		bench_target(!p->error[0] && p->runs && p->drain_max < 1000000 && p->reset == 0,
			     "%s: 10,000 idle keep-alive connections drain in under 1 s, none "
			     "reset (max %.1f ms, %d reset)", s ? "supervisor" : "library",
			     ms(p->drain_max), p->reset);
	}
}

void bench_scale(void)
{
	if (!bench_part("scale"))
		return;
	printf("\n## Cost against scale\n");
	long limit = raise_nofile(65536);
	static int ports[MAX_LISTENERS];
	struct listener_point lib[3] = { 0 }, sup[3] = { 0 };
	long helper_rss[3] = { 0 };
	for (int i = 0; i < 3; i++) {
		int n = listener_counts[i];
		lib[i].count = sup[i].count = n;
		if (pick_ports(ports, n) < n || limit < n + 64) {
			snprintf(lib[i].error, sizeof lib[i].error, "no %d ports or descriptors", n);
			snprintf(sup[i].error, sizeof sup[i].error, "no %d ports or descriptors", n);
			continue;
		}
		listeners_library(&lib[i], ports, n);
		listeners_supervisor(&sup[i], &helper_rss[i], ports, n);
	}
	report_listeners(lib, sup, helper_rss);

	struct drain_point dl[3] = { 0 }, ds[3] = { 0 };
	for (int i = 0; i < 3; i++) {
		int n = connection_counts[i];
		dl[i].count = ds[i].count = n;
		/* The server and the clients are separate processes. */
		if (limit < n + 256) {
			snprintf(dl[i].error, sizeof dl[i].error,
				 "skipped: RLIMIT_NOFILE %ld is too low", limit);
			snprintf(ds[i].error, sizeof ds[i].error,
				 "skipped: RLIMIT_NOFILE %ld is too low", limit);
			continue;
		}
		for (int s = 0; s < 2; s++) {
			struct drain_point *p = s ? &ds[i] : &dl[i];
			long runs[DRAIN_RUNS];
			for (int r = 0; r < DRAIN_RUNS && !p->error[0]; r++) {
				long d = drain_once(p, n, s);
				if (d >= 0)
					runs[p->runs++] = d;
			}
			p->drain_med = percentile(runs, p->runs, 50);
			p->drain_max = percentile(runs, p->runs, 100);
		}
	}
	report_drain(dl, ds);
}
