/* scale.c — `make bench`: what a restart costs as the counts grow.
 *
 *   listeners   1, 64, 1000 sockets on 127.0.0.1, upgraded by the library
 *               (the runner's helper server, SIGHUP) and reloaded by the
 *               supervisor (`handoff run` with the same helper beneath it)
 *   connections 100, 1000, 10,000 idle keep-alive connections on
 *               examples/httpd, which moves them to its successor once
 *               that is ready (none may be closed), upgrading itself or
 *               under the supervisor (which introduces the two); with
 *               --no-pass, it drains them instead (closes each one without
 *               a reset); and a small keep-alive load beside
 *               10,000 of them, whose latency during the move is compared
 *               with its steady state
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
#include <limits.h>
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
 * times by SIGHUP; READY=1 from the successor ends each upgrade. The
 * helper is quiet (HELPER_QUIET: no line per listener, two system calls
 * each) and its output goes to /dev/null, so that the figures are the
 * library's and not the helper's logging. */
static void listeners_library(struct listener_point *pt, const int *ports, int n)
{
	char env[128];
	int notify = bench_notify_listener(env, sizeof env);
	char *spec = join_addresses(ports, n, ";");
	struct spawn_options o = { .output = "/dev/null",
				   .env = (char *[]){ env, "HELPER_QUIET=1", NULL } };
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
	struct spawn_options o = { .output = "/dev/null",
				   .env = (char *[]){ env, "HELPER_QUIET=1", NULL } };
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
 * open, then "eof=E reset=R\n", how many the server has closed, once the
 * server has closed them all or once asked (its end of `ask` reads EOF):
 * connections that move to the successor are never closed, so the parent
 * asks once the old generation has gone. */
struct idle_clients {
	int n, ep, report;
	int *fds;
	char *answered;
	int opened, pending, idle, closed, eof, reset;
	int asked;
};

/* epoll's tag for the ask pipe; connections are tagged with their index. */
static const uint32_t ASK_TAG = UINT32_MAX;

/* Connections go out a few hundred at a time: the accept queue is not what
 * is measured here. */
static void idle_connect_more(struct idle_clients *ic, const struct sockaddr_in *in)
{
	enum { IN_FLIGHT = 256 };
	while (ic->opened < ic->n && ic->pending < IN_FLIGHT) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			_exit(3);
		if (connect(fd, (const struct sockaddr *)in, sizeof *in) < 0 && errno != EINPROGRESS)
			_exit(4);
		struct epoll_event ev = { .events = EPOLLOUT, .data.u32 = (uint32_t)ic->opened };
		epoll_ctl(ic->ep, EPOLL_CTL_ADD, fd, &ev);
		ic->fds[ic->opened++] = fd;
		ic->pending++;
	}
}

static void idle_on_connection(struct idle_clients *ic, uint32_t c, uint32_t events)
{
	static const char request[] = "GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
	int fd = ic->fds[c];
	char buf[4096];
	if (!ic->answered[c] && (events & EPOLLOUT)) {
		if (send(fd, request, sizeof request - 1, MSG_NOSIGNAL) != sizeof request - 1)
			_exit(5);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = c };
		epoll_ctl(ic->ep, EPOLL_CTL_MOD, fd, &ev);
		return;
	}
	ssize_t r = recv(fd, buf, sizeof buf, 0);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (r > 0 && !ic->answered[c]) { /* the response: now idle */
		ic->answered[c] = 1;
		ic->pending--;
		if (++ic->idle == ic->n && write(ic->report, "ready\n", 6) != 6)
			_exit(6);
		return;
	}
	if (r > 0)
		return; /* nothing else is expected; ignored */
	ic->eof += r == 0;
	ic->reset += r < 0;
	ic->closed++;
	close(fd);
}

/* Handles what is ready within timeout_ms; how many events there were. */
static int idle_poll(struct idle_clients *ic, int timeout_ms)
{
	struct epoll_event evs[256];
	int k = epoll_wait(ic->ep, evs, 256, timeout_ms);
	for (int i = 0; i < k; i++) {
		if (evs[i].data.u32 == ASK_TAG)
			ic->asked = 1;
		else
			idle_on_connection(ic, evs[i].data.u32, evs[i].events);
	}
	return k > 0 ? k : 0;
}

static _Noreturn void idle_clients(int port, int n, int report, int ask)
{
	struct idle_clients ic = { .n = n, .report = report,
				   .fds = calloc((size_t)n, sizeof *ic.fds),
				   .answered = calloc((size_t)n, 1),
				   .ep = epoll_create1(EPOLL_CLOEXEC) };
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct epoll_event asking = { .events = EPOLLIN, .data.u32 = ASK_TAG };
	if (!ic.fds || !ic.answered || ic.ep < 0 ||
	    epoll_ctl(ic.ep, EPOLL_CTL_ADD, ask, &asking) < 0)
		_exit(2);
	signal(SIGTERM, SIG_DFL);
	/* The parent kills us when done; this bound is for when it cannot. */
	long give_up = clock_us() + 120 * 1000000L;
	while (ic.closed < n && !ic.asked && clock_us() < give_up) {
		idle_connect_more(&ic, &in);
		idle_poll(&ic, 1000);
	}
	/* Asked: what the server did before the question is queued already
	 * (a closing generation ends its connections before it exits), so
	 * it is counted before the answer. Each pass handles one event at
	 * least: n + 1 passes cover every connection. */
	for (int pass = 0; ic.asked && pass <= n && idle_poll(&ic, 0) > 0; pass++)
		continue;
	char line[64];
	int len = snprintf(line, sizeof line, "eof=%d reset=%d\n", ic.eof, ic.reset);
	_exit(write(report, line, (size_t)len) == len ? 0 : 7);
}

struct clients {
	pid_t pid;
	int report; /* their "ready", then their count */
	int ask;    /* closed to ask for the count */
};

static int clients_start(struct clients *c, int port, int n)
{
	int report[2], ask[2];
	if (pipe2(report, O_CLOEXEC) < 0 || pipe2(ask, O_CLOEXEC) < 0)
		FAIL("pipe2: %s", strerror(errno));
	fflush(NULL);
	c->pid = fork();
	if (c->pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (c->pid == 0) {
		close(report[0]);
		close(ask[1]);
		idle_clients(port, n, report[1], ask[0]);
	}
	close(report[1]);
	close(ask[0]);
	c->report = report[0];
	c->ask = ask[1];
	char buf[16] = "";
	struct pollfd pf = { .fd = c->report, .events = POLLIN };
	if (poll(&pf, 1, 30000) == 1 && read(c->report, buf, sizeof buf - 1) > 0 &&
	    strncmp(buf, "ready", 5) == 0)
		return 0;
	stop_tree(c->pid, SIGKILL);
	close(c->report);
	close(c->ask);
	return -1;
}

/* Once the old generation has gone: how many connections the server closed. */
static void clients_finish(struct clients *c, int *eof, int *reset)
{
	char buf[64] = "";
	struct pollfd pf = { .fd = c->report, .events = POLLIN };
	*eof = *reset = -1;
	close(c->ask);
	if (poll(&pf, 1, 15000) == 1 && read(c->report, buf, sizeof buf - 1) > 0)
		sscanf(buf, "eof=%d reset=%d", eof, reset);
	stop_tree(c->pid, SIGKILL);
	close(c->report);
}

/* ------------------------------------------------------------ moves and drains */

/* How the old generation gives its connections up. */
enum drain_mode {
	MOVE,       /* httpd upgrading itself: its connections move (the default) */
	NO_PASS,    /* the same with --no-pass: the classic drain */
	SUPERVISED, /* under `handoff run`: the supervisor introduces the old
		     * generation to the new, and the connections move */
	DRAIN_MODES
};

static const char *const drain_mode_name[DRAIN_MODES] = {
	"library", "library --no-pass", "supervisor",
};

struct drain_point {
	int count, runs, eof, reset;
	long drain_med, drain_max, rss_server_kib, rss_supervisor_kib;
	char error[200];
};

/* One httpd under test, on its own port and notify socket. */
struct drain_server {
	enum drain_mode mode;
	int notify, port;
	char pidfile[512];
	pid_t pid;    /* our child: httpd's first generation, or the supervisor */
	pid_t server; /* the generation holding the connections */
};

static int drain_server_start(struct drain_server *d, enum drain_mode mode,
			      struct drain_point *pt)
{
	char env[128], httpd[512], handoff[512], addr[32];
	d->mode = mode;
	d->notify = bench_notify_listener(env, sizeof env);
	d->port = free_port();
	bench_port_used(d->port);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", d->port);
	snprintf(httpd, sizeof httpd, "%s", bin_path("examples/httpd"));
	snprintf(handoff, sizeof handoff, "%s", bin_path("handoff"));
	snprintf(d->pidfile, sizeof d->pidfile, "%s", work_path("scale-drain.pid"));
	/* The grace is set, not left to httpd's default: it is what the
	 * classic drain's figures are measured against. */
	char *plain[] = { httpd, "--listen", addr, "--idle-grace", "100",
			  mode == NO_PASS ? "--no-pass" : NULL, NULL };
	char *under[] = { handoff, "run", "--pidfile", d->pidfile, "--drain-timeout", "10s",
			  "-l", addr, "--", httpd, "--listen", addr, "--idle-grace", "100",
			  NULL };
	struct spawn_options o = { .output = work_path("scale-drain.log"),
				   .env = (char *[]){ env, NULL } };
	d->pid = d->server = spawn(mode == SUPERVISED ? under : plain, &o);
	pid_t ready = 0;
	if (!bench_wait_ready(d->notify, 10000, &ready) || (mode != SUPERVISED && ready != d->pid)) {
		snprintf(pt->error, sizeof pt->error, "httpd did not start");
		return -1;
	}
	if (mode == SUPERVISED && children_of(d->pid, &d->server, 1) != 1) {
		snprintf(pt->error, sizeof pt->error, "no generation under the supervisor");
		return -1;
	}
	return 0;
}

static void drain_note_rss(struct drain_point *pt, const struct drain_server *d)
{
	long rss = rss_kib(d->server), rss_sup = d->mode == SUPERVISED ? rss_kib(d->pid) : -1;
	if (rss > pt->rss_server_kib)
		pt->rss_server_kib = rss;
	if (rss_sup > pt->rss_supervisor_kib)
		pt->rss_supervisor_kib = rss_sup;
}

/* Starts the next generation; the instant it is ready (the old one's DRAIN
 * begins), or 0 if it did not get ready. */
static long drain_handover(struct drain_server *d)
{
	notify_drain(d->notify);
	if (d->mode == SUPERVISED) {
		char answer[256];
		return control_reload(d->pidfile, answer, sizeof answer) == 0 ? clock_us() : 0;
	}
	kill(d->pid, SIGHUP);
	pid_t next = 0;
	if (!bench_wait_ready(d->notify, 10000, &next) || next <= 1)
		return 0;
	d->pid = next;
	return clock_us();
}

/* A small keep-alive load on the same httpd while its connections move:
 * loadgen's window 1 is the steady state, window 2 the move. */
enum { LOAD_RUNS = 3, STEADY_SAMPLE_MS = 1000, MOVE_CONNECTIONS = 10000 };

struct move_load {
	int runs;
	struct load_window steady[LOAD_RUNS], move[LOAD_RUNS];
	long move_us[LOAD_RUNS], failed, server_closes;
	char error[200];
};

static void load_steady_window(struct load *l, int port)
{
	load_start(l, port, (char *[]){ "--keepalive", "4", "--fresh", "0", "--quiet", NULL });
	kill(l->pid, SIGUSR1);
	pause_ms(STEADY_SAMPLE_MS); /* a measurement period: the load undisturbed */
	kill(l->pid, SIGUSR2);
}

/* After the move (window 2 closed): both windows, and the whole run's
 * failures and connections the server closed. */
static void load_finish(struct load *l, struct move_load *ml, long move_us)
{
	struct load_result r;
	/* loadgen writes window 2 once its last request has ended (5 s at most). */
	int written = wait_file_contains(l->output, "\nwindow=2 ", 1, 10000);
	load_stop(l, &r);
	char *text = read_file(l->output);
	int i = ml->runs;
	if (!written || load_window_parse(text, 1, &ml->steady[i]) < 0 ||
	    load_window_parse(text, 2, &ml->move[i]) < 0) {
		snprintf(ml->error, sizeof ml->error, "loadgen gave no window");
	} else {
		ml->move_us[ml->runs++] = move_us;
		ml->failed += r.failed;
		ml->server_closes += r.server_closes;
	}
	free(text);
}

/* httpd holding n idle keep-alive connections hands over once; the drain
 * (for MOVE: the move) is the time from the successor's readiness to the
 * old generation's exit. With ml, a small load runs beside them, and its
 * latency is sampled before the handover and during the move. */
static long drain_once(struct drain_point *pt, int n, enum drain_mode mode,
		       struct move_load *ml)
{
	struct drain_server d;
	struct clients c;
	struct load l;
	long drain = -1;
	if (drain_server_start(&d, mode, pt) < 0)
		goto out;
	if (clients_start(&c, d.port, n) < 0) {
		snprintf(pt->error, sizeof pt->error, "could not open %d connections", n);
		goto out;
	}
	drain_note_rss(pt, &d);
	if (ml)
		load_steady_window(&l, d.port);
	int fd = pidfd_open(d.server), status, eof, reset;
	long t1 = drain_handover(&d);
	if (ml)
		kill(l.pid, SIGUSR1);
	if (t1 && wait_pidfd(fd, 15000))
		drain = clock_us() - t1;
	if (ml) {
		kill(l.pid, SIGUSR2);
		load_finish(&l, ml, drain);
	}
	if (fd >= 0)
		close(fd);
	if (mode != SUPERVISED)
		wait_exit(d.server, 1000, &status); /* reap the old generation */
	clients_finish(&c, &eof, &reset);
	pt->eof += eof;
	pt->reset += reset;
	if (drain < 0)
		snprintf(pt->error, sizeof pt->error, "the handover did not complete");
out:
	stop_tree(d.pid, SIGTERM);
	close(d.notify);
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

/* "median / max" of a mode's runs, and who closed its connections. */
static void print_drain_cells(const struct drain_point *p)
{
	printf(" %.1f / %.1f ms | %d / %d |", ms(p->drain_med), ms(p->drain_max), p->eof,
	       p->reset);
}

enum drain_figure { DRAIN_TIME, SERVER_RSS, SUPERVISOR_RSS };

/* How one figure grows over the three counts; offset_ms comes off times. */
static void print_drain_growth(const char *what, const struct drain_point *p,
			       enum drain_figure f, double offset_ms)
{
	double v[3];
	char text[256];
	for (int i = 0; i < 3; i++)
		v[i] = !p[i].runs ? NAN
			: f == DRAIN_TIME ? ms(p[i].drain_med) - offset_ms
			: (double)(f == SERVER_RSS ? p[i].rss_server_kib : p[i].rss_supervisor_kib);
	growth(text, sizeof text, connection_counts, v, f == DRAIN_TIME ? "ms" : "KiB");
	printf("- %s: %s\n", what, text);
}

static void report_drain(struct drain_point dp[DRAIN_MODES][3])
{
	struct drain_point *move = dp[MOVE], *no_pass = dp[NO_PASS], *sup = dp[SUPERVISED];
	printf("\n### Moving or draining idle keep-alive connections on the old "
	       "generation (httpd --idle-grace 100 ms, %d runs each)\n\n", DRAIN_RUNS);
	printf("library: httpd moves its connections to its successor; the move is the "
	       "time from the old generation's DRAIN (its successor's READY=1) to its "
	       "exit. supervisor: the same httpd under `handoff run`, which introduces "
	       "the old generation to the new once the reload is answered; the move is "
	       "the time from that answer to the old generation's exit. library "
	       "--no-pass: the classic drain, which closes every connection.\n\n");
	printf("| connections | library, moving: DRAIN to old generation gone (median / "
	       "max) | closed by the server: EOF / reset | library --no-pass: successor "
	       "ready to old generation gone (median / max) | closed by EOF / reset | "
	       "RSS: httpd | supervisor, moving: reload answered to old generation gone "
	       "(median / max) | closed by the server: EOF / reset | RSS: supervisor | "
	       "RSS: its httpd |\n");
	printf("|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
	for (int i = 0; i < 3; i++) {
		printf("| %d |", move[i].count);
		print_drain_cells(&move[i]);
		print_drain_cells(&no_pass[i]);
		printf(" %ld KiB |", move[i].rss_server_kib);
		print_drain_cells(&sup[i]);
		printf(" %ld KiB | %ld KiB |\n", sup[i].rss_supervisor_kib, sup[i].rss_server_kib);
	}
	printf("\n");
	for (int m = 0; m < DRAIN_MODES; m++)
		for (int i = 0; i < 3; i++)
			if (dp[m][i].error[0])
				printf("- %s, %d connections: %s\n", drain_mode_name[m],
				       dp[m][i].count, dp[m][i].error);
	print_drain_growth("library move time", move, DRAIN_TIME, 0);
	/* The grace is constant: what grows is beyond it. */
	print_drain_growth("library --no-pass drain beyond the 100 ms idle grace", no_pass,
			   DRAIN_TIME, 100);
	print_drain_growth("supervisor move time", sup, DRAIN_TIME, 0);
	print_drain_growth("httpd RSS", move, SERVER_RSS, 0);
	print_drain_growth("supervisor RSS", sup, SUPERVISOR_RSS, 0);
	static const enum drain_mode moving[] = { MOVE, SUPERVISED };
	for (size_t i = 0; i < sizeof moving / sizeof moving[0]; i++) {
		enum drain_mode s = moving[i];
		const struct drain_point *p = &dp[s][2];
		bench_target(!p->error[0] && p->runs && p->drain_max < 200000 && p->eof == 0 &&
			     p->reset == 0, "%s: 10,000 idle keep-alive connections move in "
			     "under 200 ms from %s to the old generation's exit, none closed by "
			     "the server (max %.1f ms, %d EOF, %d reset)", drain_mode_name[s],
			     s == MOVE ? "DRAIN" : "the reload's answer", ms(p->drain_max),
			     p->eof, p->reset);
	}
	const struct drain_point *p = &no_pass[2];
	bench_target(!p->error[0] && p->runs && p->drain_max < 1000000 && p->reset == 0,
		     "library --no-pass: 10,000 idle keep-alive connections drain in under "
		     "1 s, none reset (max %.1f ms, %d reset)", ms(p->drain_max), p->reset);
}

static void report_move_load(const struct move_load *ml, const struct drain_point *pt)
{
	printf("\n### Request latency while %d connections move (loadgen --keepalive 4 "
	       "--fresh 0 on the same httpd, %d runs)\n\n", MOVE_CONNECTIONS, LOAD_RUNS);
	printf("Steady state: %d ms of the load, no upgrade. During the move: the "
	       "requests in flight at any moment from DRAIN to the old generation's "
	       "exit.\n\n", STEADY_SAMPLE_MS);
	printf("| run | steady state: requests / p50 / p99 / max | during the move: "
	       "requests / p50 / p99 / max | move (DRAIN to old generation gone) |\n");
	printf("|--:|--:|--:|--:|\n");
	long worst = LONG_MIN;
	int worst_run = 0;
	for (int r = 0; r < ml->runs; r++) {
		const struct load_window *s = &ml->steady[r], *m = &ml->move[r];
		printf("| %d | %ld / %.2f / %.2f / %.2f ms | %ld / %.2f / %.2f / %.2f ms | "
		       "%.1f ms |\n", r + 1, s->requests, ms(s->p50_us), ms(s->p99_us),
		       ms(s->max_us), m->requests, ms(m->p50_us), ms(m->p99_us), ms(m->max_us),
		       ms(ml->move_us[r]));
		long over = m->requests ? m->p99_us - s->p99_us : LONG_MAX;
		if (over > worst) {
			worst = over;
			worst_run = r;
		}
	}
	printf("\n- load: %ld failed requests, %ld connections closed by the server; idle "
	       "connections closed by the server: %d EOF, %d reset\n", ml->failed,
	       ml->server_closes, pt->eof, pt->reset);
	if (ml->error[0] || pt->error[0])
		printf("- STOPPED EARLY: %s\n", ml->error[0] ? ml->error : pt->error);
	bench_target(ml->runs == LOAD_RUNS && worst <= 10000,
		     "p99 during the move of 10,000 connections within 10 ms of steady state "
		     "(worst run: %.2f ms during vs. %.2f ms steady, %d of %d runs)",
		     ml->runs ? ms(ml->move[worst_run].p99_us) : NAN,
		     ml->runs ? ms(ml->steady[worst_run].p99_us) : NAN, ml->runs, LOAD_RUNS);
}

/* DRAIN_RUNS handovers of httpd holding n connections, in one mode. */
static void drain_runs(struct drain_point *p, int n, enum drain_mode mode)
{
	long runs[DRAIN_RUNS];
	for (int r = 0; r < DRAIN_RUNS && !p->error[0]; r++) {
		long d = drain_once(p, n, mode, NULL);
		if (d >= 0)
			runs[p->runs++] = d;
	}
	p->drain_med = percentile(runs, p->runs, 50);
	p->drain_max = percentile(runs, p->runs, 100);
}

static void bench_listeners(long limit)
{
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
}

static void bench_drain(long limit)
{
	struct drain_point dp[DRAIN_MODES][3] = { 0 };
	for (int i = 0; i < 3; i++) {
		int n = connection_counts[i];
		for (int m = 0; m < DRAIN_MODES; m++) {
			dp[m][i].count = n;
			/* The server and the clients are separate processes. */
			if (limit < n + 256)
				snprintf(dp[m][i].error, sizeof dp[m][i].error,
					 "skipped: RLIMIT_NOFILE %ld is too low", limit);
			else
				drain_runs(&dp[m][i], n, (enum drain_mode)m);
		}
	}
	report_drain(dp);

	struct move_load ml = { 0 };
	struct drain_point pt = { .count = MOVE_CONNECTIONS };
	if (limit < MOVE_CONNECTIONS + 256)
		snprintf(ml.error, sizeof ml.error, "skipped: RLIMIT_NOFILE %ld is too low", limit);
	for (int r = 0; r < LOAD_RUNS && !ml.error[0] && !pt.error[0]; r++)
		drain_once(&pt, MOVE_CONNECTIONS, MOVE, &ml);
	report_move_load(&ml, &pt);
}

/* BENCH_PARTS: "scale" runs both sections, "moves" the connections' alone. */
void bench_scale(void)
{
	int listeners = bench_part("scale"), moves = listeners || bench_part("moves");
	if (!moves)
		return;
	printf("\n## Cost against scale\n");
	long limit = raise_nofile(65536);
	if (listeners)
		bench_listeners(limit);
	bench_drain(limit);
}
