/* compare.c — `make bench`: what a restart does to traffic, for handoff and
 * for what one would use instead, in the same run on the same machine.
 *
 * Contenders, each serving a tiny fixed 200 response on 127.0.0.1:
 *   library     examples/httpd upgrading itself through libhandoff (SIGHUP)
 *   supervisor  examples/httpd under `handoff run` (SIGHUP to the supervisor)
 *   nginx       binary upgrade: USR2 to the master, wait for the new master's
 *               pid file (the old one renamed .oldbin), QUIT to the old master
 *   haproxy     master-worker mode (-W), USR2 to the master
 * Each gets one worker process or thread, as httpd has one thread; the load
 * client gets the other core.
 *
 * Every contender answers "generation=N ...": httpd from the generation
 * handoff numbers, nginx and HAProxy from their configuration, which is
 * rewritten with N+1 before each restart (both re-read it when they
 * restart). That gives every contender the same definitions:
 *   ready  from the restart request to the first probe (a new connection,
 *          GET /) answered by generation N+1;
 *   gone   from the restart request until every process of generation N has
 *          exited (nginx: the old master and its workers; HAProxy: the old
 *          workers; httpd: the old generation).
 * Restart k is requested (k + 1/2) intervals after the load starts, or as
 * soon as restart k-1 is complete (generation N gone) if that is later:
 * neither httpd nor nginx takes a new restart while the old one drains.
 *
 * The load client is bench/loadgen, which counts every failed request by
 * kind; wrk, when installed, is an independent witness.
 *
 * Environment: BENCH_INTERVAL_MS (200), BENCH_RESTARTS (100 per run),
 * BENCH_BASELINE_MS (2000); BENCH_PARTS="scale compare" runs those parts. */
#include "bench.h"
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MAX_OLD = 64, MAX_RESTARTS = 2000, MAX_PORTS = 256, MAX_TARGETS = 32 };

#define BUDGET_S 340.0 /* make bench: under 6 minutes, all parts */
#define PLOT_SECONDS "1.6" /* the plot's span, as bench/plot.gp's xrange */

/* ------------------------------------------------------------ shared */

static long started_us;
static int ports[MAX_PORTS], port_count;
static char *targets[MAX_TARGETS];
static int target_count, targets_met;

double bench_seconds_left(void)
{
	return BUDGET_S - (double)(clock_us() - started_us) / 1e6;
}

void bench_port_used(int port)
{
	if (port_count < MAX_PORTS)
		ports[port_count++] = port;
}

int bench_env_int(const char *name, int fallback, int min, int max)
{
	const char *v = getenv(name);
	char *end;
	long n = v ? strtol(v, &end, 10) : fallback;
	if (v && (*end || end == v || n < min || n > max)) {
		printf("note: %s=%s ignored (want %d..%d); using %d\n", name, v, min,
		       max, fallback);
		n = fallback;
	}
	return (int)n;
}

int bench_part(const char *part)
{
	const char *parts = getenv("BENCH_PARTS");
	return !parts || strstr(parts, part) != NULL;
}

/* "0.52 0.40 0.33; " from /proc/loadavg: other work on the machine. */
static const char *loadavg(void)
{
	static char text[64];
	char *raw = read_file("/proc/loadavg");
	double a = 0, b = 0, c = 0;
	if (raw)
		sscanf(raw, "%lf %lf %lf", &a, &b, &c);
	free(raw);
	snprintf(text, sizeof text, "%.2f %.2f %.2f; ", a, b, c);
	return text;
}

/* The first line of `program args` (a version), or "?". */
static const char *version_of(const char *program, const char *arg, const char *skip)
{
	static char text[4][128];
	static int next;
	char *buf = text[next++ % 4];
	char *path = find_program(program);
	snprintf(buf, sizeof text[0], "not installed");
	if (!path)
		return buf;
	char copy[512], out[400];
	snprintf(copy, sizeof copy, "%s", path);
	snprintf(out, sizeof out, "%s/version-%s.txt", work_dir, program);
	char *argv[] = { copy, (char *)arg, NULL };
	run_command(argv, out, out, 10000);
	char *raw = read_file(out);
	char *line = raw ? strstr(raw, skip) : NULL;
	if (line) { /* up to the end of the line, or a copyright or a URL */
		size_t len = strcspn(line, "\r\n");
		const char *cut[] = { " [", " - ", " Copyright" };
		for (int i = 0; i < 3; i++) {
			const char *at = strstr(line, cut[i]);
			if (at && (size_t)(at - line) < len)
				len = (size_t)(at - line);
		}
		snprintf(buf, sizeof text[0], "%.*s", (int)len, line);
	}
	free(raw);
	return buf;
}

static void print_machine(void)
{
	char *cpuinfo = read_file("/proc/cpuinfo");
	char *model = cpuinfo ? strstr(cpuinfo, "model name") : NULL;
	char *colon = model ? strchr(model, ':') : NULL;
	char *os = read_file("/etc/debian_version");
	struct utsname u;
	uname(&u);
	time_t now = time(NULL);
	char date[64];
	strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
	printf("machine: %.*s, %ld cores, %ld MiB; Linux %s; Debian %.*s; %s\n",
	       colon ? (int)strcspn(colon + 2, "\n") : 1, colon ? colon + 2 : "?",
	       sysconf(_SC_NPROCESSORS_ONLN),
	       sysconf(_SC_PHYS_PAGES) / (1048576 / sysconf(_SC_PAGESIZE)), u.release,
	       os ? (int)strcspn(os, "\n") : 1, os ? os : "?", date);
	printf("contenders: %s; %s; %s; %s\n", version_of("nginx", "-v", "nginx version"),
	       version_of("haproxy", "-v", "HAProxy version"), version_of("wrk", "-v", "wrk"),
	       version_of("gnuplot", "--version", "gnuplot"));
	printf("load average at the start: %s(the benchmark wants the machine to itself)\n",
	       loadavg());
	free(cpuinfo);
	free(os);
}

void bench_target(int met, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (target_count < MAX_TARGETS && asprintf(&targets[target_count], "  [%s] %s",
						   met ? "met" : "MISSED", line) > 0)
		target_count++;
	targets_met += met;
}

void bench_targets_print(void)
{
	printf("\n## Targets: %d of %d met\n\n", targets_met, target_count);
	for (int i = 0; i < target_count; i++)
		printf("%s\n", targets[i]);
	int left = 0;
	for (int i = 0; i < port_count; i++)
		if (port_listening(ports[i])) {
			printf("  still listening: 127.0.0.1:%d\n", ports[i]);
			left++;
		}
	int alive = count_guarded(); /* all but nginx, which is stopped by pid */
	printf("\nleft behind: %s (%d ports checked), %d processes; load average %s"
	       "whole benchmark %.0f s\n", left ? "SOME LISTENERS" : "nothing listening",
	       port_count, alive, loadavg(), (double)(clock_us() - started_us) / 1e6);
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };
	while (us > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void sleep_until(long when_us)
{
	long left = when_us - clock_us();
	if (left > 0)
		sleep_us(left);
}

static int pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Reaps pid if it is our child (a daemon or a generation adopted by us, the
 * subreaper) and has exited; harmless otherwise. */
static void reap(pid_t pid)
{
	while (waitpid(pid, NULL, WNOHANG) < 0 && errno == EINTR)
		;
}

/* Waits until every pidfd reports its process exited; -1 entries are gone
 * already. Returns 1, or 0 at the deadline. */
static int wait_pidfds(const int *fds, int n, long deadline_us)
{
	struct pollfd p[MAX_OLD];
	for (;;) {
		int live = 0;
		for (int i = 0; i < n; i++) {
			p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
			live += fds[i] >= 0;
		}
		if (!live)
			return 1;
		long left = deadline_us - clock_us();
		if (left <= 0)
			return 0;
		/* Wakes at the first exit: poll again for the others. */
		if (poll(p, (nfds_t)n, (int)(left / 1000) + 1) < 0 && errno != EINTR)
			return 0;
		int all = 1;
		for (int i = 0; i < n; i++)
			all &= fds[i] < 0 || (p[i].revents & (POLLIN | POLLHUP)) != 0;
		if (all)
			return 1;
	}
}

/* Stops pids that would not stop: their children first. */
static void kill_tree(pid_t pid)
{
	if (pid <= 0)
		return;
	pid_t kids[MAX_OLD];
	int n = children_of(pid, kids, MAX_OLD);
	kill(pid, SIGKILL);
	for (int i = 0; i < n; i++)
		kill(kids[i], SIGKILL);
	int status;
	wait_exit(pid, 2000, &status);
	for (int i = 0; i < n; i++)
		reap(kids[i]);
}


/* ------------------------------------------------------------ contenders */

struct instance;

struct restart {
	long ready_us, gone_us;
	long native_us;     /* nginx: until the new master's pid file; else -1 */
};

struct contender {
	const char *key;     /* file names, plot panels */
	const char *name;    /* table rows */
	const char *program; /* the third-party program it needs, or NULL */
	int self_upgrade;    /* one process that replaces itself: s->pid follows it */
	int (*start)(struct instance *s);
	void (*prepare)(struct instance *s);   /* before the clock starts */
	int (*request)(struct instance *s, struct restart *r, long t0);
	void (*stop)(struct instance *s);
};

struct instance {
	const struct contender *kind;
	int port;
	pid_t pid;           /* library: serving generation; else supervisor/master */
	unsigned generation; /* the one serving */
	char dir[300];       /* work_dir/<key> */
	char log[400];
	char path[400];      /* scratch for file_in() */
	long probe_failures;
	char error[256];     /* why the last restart failed */
};

static char *file_in(struct instance *s, const char *name)
{
	snprintf(s->path, sizeof s->path, "%s/%s", s->dir, name);
	return s->path;
}

/* One GET / on a new connection: its generation and pid (0 if none). */
static int probe(struct instance *s, unsigned *generation, pid_t *pid)
{
	char body[256] = "";
	int status = http_get("127.0.0.1", s->port, "/", body, sizeof body);
	if (status != 200) {
		s->probe_failures++;
		return 0;
	}
	const char *g = strstr(body, "generation="), *p = strstr(body, "pid=");
	*generation = g ? (unsigned)strtoul(g + 11, NULL, 10) : 0;
	*pid = p ? (pid_t)strtol(p + 4, NULL, 10) : 0;
	return 1;
}

/* Probes until generation `want` (or later) answers; its pid in *pid. */
static int await_generation(struct instance *s, unsigned want, long deadline_us,
			    pid_t *pid)
{
	for (;;) {
		unsigned g = 0;
		if (probe(s, &g, pid) && g >= want) {
			s->generation = g;
			return 1;
		}
		if (clock_us() >= deadline_us)
			return 0;
		sleep_us(200);
	}
}

static int wait_serving(struct instance *s)
{
	pid_t pid;
	if (await_generation(s, 1, clock_us() + 10000000, &pid))
		return 0;
	char *log = read_file(s->log);
	printf("  %s did not start serving; its log:\n%s\n", s->kind->name,
	       log ? log : "(none)");
	free(log);
	return -1;
}

static void copy_str(char *to, size_t size, const char *from)
{
	snprintf(to, size, "%s", from);
}

/* When a restart stops a row early: what each process of the old
 * generation still running is doing (its state and threads, from /proc),
 * and the end of the server's log, so that the report says why. */
static void print_stuck(const struct instance *s, const pid_t *old, int n)
{
	for (int i = 0; i < n; i++) {
		printf("  %s, still running: ", s->kind->key);
		describe_process(old[i], stdout);
	}
	char *log = read_file(s->log);
	const char *tail = log ? log + strlen(log) : NULL;
	for (int lines = 0; tail && tail > log && lines <= 12; tail--)
		lines += tail[-1] == '\n';
	printf("  the end of its log:\n%s\n", tail ? tail : "(none)");
	free(log);
}

/* --- httpd upgrading itself (libhandoff) */

static int library_start(struct instance *s)
{
	char program[512], addr[32], pidfile[400];
	copy_str(program, sizeof program, bin_path("examples/httpd"));
	copy_str(pidfile, sizeof pidfile, file_in(s, "httpd.pid"));
	snprintf(addr, sizeof addr, "127.0.0.1:%d", s->port);
	char *argv[] = { program, "--listen", addr, "--pidfile", pidfile,
			 "--drain-timeout", "10000", NULL };
	struct spawn_options o = { .output = s->log };
	s->pid = spawn(argv, &o);
	return wait_serving(s);
}

static int library_request(struct instance *s, struct restart *r, long t0)
{
	(void)r, (void)t0;
	if (s->pid <= 1) /* kill(0, ...) is our own group, 1 is init */
		return -1;
	return kill(s->pid, SIGHUP);
}

static void library_stop(struct instance *s)
{
	if (s->pid <= 0) /* kill(0, ...) would signal our own group */
		return;
	int status;
	kill(s->pid, SIGTERM);
	/* wait_gone, not wait_exit: the serving generation is a grandchild
	 * until its parent (the generation before) has exited. */
	if (!wait_gone(s->pid, 15000, &status))
		kill_tree(s->pid);
}

/* --- httpd under `handoff run` */

static int supervisor_start(struct instance *s)
{
	char handoff[512], httpd[512], addr[32], pidfile[400];
	copy_str(handoff, sizeof handoff, bin_path("handoff"));
	copy_str(httpd, sizeof httpd, bin_path("examples/httpd"));
	copy_str(pidfile, sizeof pidfile, file_in(s, "handoff.pid"));
	snprintf(addr, sizeof addr, "127.0.0.1:%d", s->port);
	char *argv[] = { handoff, "run", "--pidfile", pidfile, "--drain-timeout", "10s",
			 "-l", addr, "--", httpd, "--listen", addr, NULL };
	struct spawn_options o = { .output = s->log };
	s->pid = spawn(argv, &o);
	return wait_serving(s);
}

static int supervisor_request(struct instance *s, struct restart *r, long t0)
{
	(void)r, (void)t0;
	return kill(s->pid, SIGHUP);
}

static void supervisor_stop(struct instance *s)
{
	stop_tree(s->pid, SIGTERM);
}

/* --- nginx, binary upgrade */

static void nginx_config(struct instance *s, unsigned generation)
{
	char text[4096];
	const char *d = s->dir;
	snprintf(text, sizeof text,
		 "# Written by bench/compare.c for one run of make bench.\n"
		 "daemon on;            # the binary upgrade needs a detached master\n"
		 "master_process on;\n"
		 "worker_processes 1;   # httpd has one thread too\n"
		 "worker_shutdown_timeout 10s;\n"
		 "pid %s/nginx.pid;\n"
		 "error_log %s/error.log notice;\n"
		 "events { worker_connections 4096; }\n"
		 "http {\n"
		 "    access_log off;\n"
		 "    keepalive_requests 1000000;\n"
		 "    client_body_temp_path %s/body;\n"
		 "    proxy_temp_path %s/proxy;\n"
		 "    fastcgi_temp_path %s/fastcgi;\n"
		 "    uwsgi_temp_path %s/uwsgi;\n"
		 "    scgi_temp_path %s/scgi;\n"
		 "    server {\n"
		 "        listen 127.0.0.1:%d;\n"
		 "        location / {\n"
		 "            default_type text/plain;\n"
		 "            return 200 \"generation=%u pid=$pid\\n\";\n"
		 "        }\n"
		 "    }\n"
		 "}\n",
		 d, d, d, d, d, d, d, s->port, generation);
	char path[400];
	copy_str(path, sizeof path, file_in(s, "nginx.conf"));
	write_file_atomic(path, text, 0644);
}

static int nginx_start(struct instance *s)
{
	char program[512], prefix[400], conf[400], errlog[400];
	copy_str(program, sizeof program, find_program("nginx"));
	snprintf(prefix, sizeof prefix, "%s/", s->dir);
	copy_str(conf, sizeof conf, file_in(s, "nginx.conf"));
	copy_str(errlog, sizeof errlog, file_in(s, "error.log"));
	nginx_config(s, 1);
	/* An absolute argv[0]: the master re-executes it at USR2. */
	char *argv[] = { program, "-e", errlog, "-p", prefix, "-c", conf, NULL };
	struct spawn_options o = { .output = s->log };
	pid_t launcher = spawn(argv, &o);
	int status = 0;
	if (!wait_exit(launcher, 10000, &status)) {
		kill_tree(launcher);
		printf("  nginx did not start (its launcher hung): see %s\n", errlog);
		return -1;
	}
	if (status != 0) {
		printf("  nginx did not start (status 0x%x): see %s\n", status, errlog);
		return -1;
	}
	long deadline = clock_us() + 5000000;
	while (!(s->pid = read_pid(file_in(s, "nginx.pid"))) && clock_us() < deadline)
		sleep_us(500);
	if (!s->pid)
		return -1;
	guard_pid(s->pid);
	return wait_serving(s);
}

static void nginx_prepare(struct instance *s)
{
	nginx_config(s, s->generation + 1);
}

static int nginx_request(struct instance *s, struct restart *r, long t0)
{
	pid_t old = s->pid, next = 0;
	if (kill(old, SIGUSR2) < 0)
		return -1;
	char pidfile[400], oldbin[400];
	copy_str(pidfile, sizeof pidfile, file_in(s, "nginx.pid"));
	copy_str(oldbin, sizeof oldbin, file_in(s, "nginx.pid.oldbin"));
	long deadline = t0 + 10000000;
	for (;;) {
		if (access(oldbin, F_OK) == 0 && (next = read_pid(pidfile)) > 0 && next != old)
			break;
		if (clock_us() >= deadline) {
			snprintf(s->error, sizeof s->error, "no new nginx master after USR2");
			return -1;
		}
		sleep_us(100);
	}
	r->native_us = clock_us() - t0;
	guard_pid(next);
	s->pid = next;
	return kill(old, SIGQUIT);
}

static void nginx_stop(struct instance *s)
{
	if (s->pid <= 0) /* kill(0, ...) would signal our own group */
		return;
	pid_t workers[MAX_OLD];
	int n = children_of(s->pid, workers, MAX_OLD), status;
	kill(s->pid, SIGQUIT);
	if (!wait_exit(s->pid, 15000, &status))
		kill_tree(s->pid);
	for (int i = 0; i < n; i++)
		reap(workers[i]);
}

/* --- HAProxy, master-worker reload */

static void haproxy_config(struct instance *s, unsigned generation)
{
	char text[2048];
	snprintf(text, sizeof text,
		 "# Written by bench/compare.c for one run of make bench.\n"
		 "global\n"
		 "    nbthread 1            # httpd has one thread too\n"
		 "    hard-stop-after 10s\n"
		 "defaults\n"
		 "    mode http\n"
		 "    timeout connect 5s\n"
		 "    timeout client 30s\n"
		 "    timeout server 30s\n"
		 "    timeout http-keep-alive 30s\n"
		 "frontend bench\n"
		 "    bind 127.0.0.1:%d\n"
		 "    http-request return status 200 content-type text/plain "
		 "string \"generation=%u\\n\"\n",
		 s->port, generation);
	char path[400];
	copy_str(path, sizeof path, file_in(s, "haproxy.cfg"));
	write_file_atomic(path, text, 0644);
}

static int haproxy_start(struct instance *s)
{
	char program[512], conf[400], pidfile[400];
	copy_str(program, sizeof program, find_program("haproxy"));
	copy_str(conf, sizeof conf, file_in(s, "haproxy.cfg"));
	copy_str(pidfile, sizeof pidfile, file_in(s, "haproxy.pid"));
	haproxy_config(s, 1);
	char *argv[] = { program, "-W", "-f", conf, "-p", pidfile, NULL };
	struct spawn_options o = { .output = s->log };
	s->pid = spawn(argv, &o);
	guard_pid(s->pid);
	return wait_serving(s);
}

static void haproxy_prepare(struct instance *s)
{
	haproxy_config(s, s->generation + 1);
}

static int haproxy_request(struct instance *s, struct restart *r, long t0)
{
	(void)r, (void)t0;
	return kill(s->pid, SIGUSR2);
}

static void haproxy_stop(struct instance *s)
{
	if (s->pid <= 0) /* kill(0, ...) would signal our own group */
		return;
	pid_t workers[MAX_OLD];
	int n = children_of(s->pid, workers, MAX_OLD), status;
	kill(s->pid, SIGUSR1); /* soft stop: workers finish, then the master */
	if (!wait_exit(s->pid, 15000, &status))
		kill_tree(s->pid);
	for (int i = 0; i < n; i++)
		reap(workers[i]);
}

/* --- Go's tableflip (bench/tableflip/main.go) */

#define TABLEFLIP_SOURCE "/usr/share/gocode/src/github.com/cloudflare/tableflip"

/* Built once per run, into the work directory, from Debian's packages. */
static int tableflip_build(char *binary, size_t size)
{
	static int built; /* 0: not yet, 1: done, -1: failed */
	snprintf(binary, size, "%s", work_path("tableflip-server"));
	if (built)
		return built > 0 ? 0 : -1;
	char go[512], source[512], cache[400], home[400], log[400];
	copy_str(go, sizeof go, find_program("go"));
	copy_str(source, sizeof source, source_path("bench/tableflip/main.go"));
	snprintf(cache, sizeof cache, "GOCACHE=%s", work_path("go-cache"));
	snprintf(home, sizeof home, "HOME=%s", work_dir);
	copy_str(log, sizeof log, work_path("go-build.log"));
	/* Debian's Go libraries are a GOPATH tree, not modules. */
	char *env[] = { "GOPATH=/usr/share/gocode", "GO111MODULE=off", "GOFLAGS=",
			cache, home, NULL };
	char *argv[] = { go, "build", "-o", binary, source, NULL };
	struct spawn_options o = { .output = log, .env = env };
	int status = -1;
	pid_t pid = spawn(argv, &o);
	if (!wait_exit(pid, 120000, &status)) {
		kill(pid, SIGKILL);
		wait_exit(pid, 5000, &status);
	}
	built = status == 0 ? 1 : -1;
	if (built < 0) {
		char *text = read_file(log);
		printf("  go build of bench/tableflip failed:\n%s\n", text ? text : "");
		free(text);
	}
	return built > 0 ? 0 : -1;
}

static int tableflip_start(struct instance *s)
{
	char binary[400], addr[32];
	if (tableflip_build(binary, sizeof binary) < 0)
		return -1;
	snprintf(addr, sizeof addr, "127.0.0.1:%d", s->port);
	/* One thread runs Go code, as every other contender has one worker. */
	char *argv[] = { binary, "--listen", addr, "--drain-timeout", "10s", NULL };
	struct spawn_options o = { .output = s->log, .env = (char *[]){ "GOMAXPROCS=1", NULL } };
	s->pid = spawn(argv, &o);
	return wait_serving(s);
}

static const struct contender contenders[] = {
	{ "library", "httpd, self-upgrade (libhandoff, SIGHUP)", NULL, 1,
	  library_start, NULL, library_request, library_stop },
	{ "supervisor", "httpd under `handoff run` (SIGHUP)", NULL, 0,
	  supervisor_start, NULL, supervisor_request, supervisor_stop },
	{ "nginx", "nginx 1.22, binary upgrade (USR2, QUIT)", "nginx", 0,
	  nginx_start, nginx_prepare, nginx_request, nginx_stop },
	{ "haproxy", "HAProxy 2.6, master-worker reload (USR2)", "haproxy", 0,
	  haproxy_start, haproxy_prepare, haproxy_request, haproxy_stop },
	{ "tableflip", "Go tableflip 1.2.1, self-upgrade (SIGHUP)", "go", 1,
	  tableflip_start, NULL, library_request, library_stop },
};
enum { CONTENDERS = sizeof contenders / sizeof contenders[0] };

/* The processes of the serving generation. */
static int old_generation(struct instance *s, pid_t *out, int max)
{
	const char *key = s->kind->key;
	if (s->kind->self_upgrade) {
		out[0] = s->pid;
		return 1;
	}
	int n = 0;
	if (strcmp(key, "nginx") == 0)
		out[n++] = s->pid; /* the master, then its workers */
	return n + children_of(s->pid, out + n, max - n);
}

static int instance_start(struct instance *s, const struct contender *kind)
{
	memset(s, 0, sizeof *s);
	s->kind = kind;
	s->port = free_port();
	bench_port_used(s->port);
	snprintf(s->dir, sizeof s->dir, "%s/%s", work_dir, kind->key);
	mkdir(s->dir, 0755);
	chmod(s->dir, 0755); /* nginx workers run as nobody */
	snprintf(s->log, sizeof s->log, "%s/output.log", s->dir);
	int r = kind->start(s);
	s->probe_failures = 0; /* refused until it listens: not a restart's */
	return r;
}

/* One restart, timed; 0, or -1 with s->error set. */
static int restart_once(struct instance *s, struct restart *r)
{
	pid_t old[MAX_OLD];
	int fds[MAX_OLD];
	int n = old_generation(s, old, MAX_OLD), result = -1;
	*r = (struct restart){ .native_us = -1 };
	for (int i = 0; i < n; i++)
		fds[i] = pidfd_open(old[i]); /* -1 (ESRCH): gone already */
	if (s->kind->prepare)
		s->kind->prepare(s);
	unsigned want = s->generation + 1;
	pid_t serving = 0;
	long t0 = clock_us();
	if (s->kind->request(s, r, t0) < 0) {
		if (!s->error[0])
			snprintf(s->error, sizeof s->error, "restart request: %s", strerror(errno));
	} else if (!await_generation(s, want, t0 + 10000000, &serving)) {
		snprintf(s->error, sizeof s->error, "generation %u not serving within 10 s", want);
	} else {
		r->ready_us = clock_us() - t0;
		if (s->kind->self_upgrade)
			s->pid = serving;
		if (!wait_pidfds(fds, n, t0 + 15000000)) {
			snprintf(s->error, sizeof s->error, "generation %u still running after 15 s",
				 want - 1);
			print_stuck(s, old, n);
		} else {
			r->gone_us = clock_us() - t0;
			result = 0;
		}
	}
	/* Before the next restart, the old processes are reaped too: HAProxy's
	 * master ignores a USR2 that comes before it has reaped the old worker
	 * (seen with 2.6). Not part of any timing. */
	long reaped_by = clock_us() + 2000000;
	for (int i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		reap(old[i]);
		while (result == 0 && kill(old[i], 0) == 0 && clock_us() < reaped_by)
			sleep_us(200);
	}
	return result;
}

/* Restarts at (k + 1/2) intervals from now for duration_us. Returns the
 * number done; their timings in r[], their instants (from base_us) in at[]. */
static int drive_restarts(struct instance *s, long duration_us, long interval_us,
			  struct restart *r, int max, long base_us, long *at)
{
	long start = clock_us(), end = start + duration_us;
	int done = 0;
	for (int k = 0; done < max; k++) {
		long when = start + interval_us / 2 + k * interval_us;
		if (when > end - interval_us / 2)
			break;
		sleep_until(when);
		if (at)
			at[done] = clock_us() - base_us;
		if (restart_once(s, &r[done]) < 0)
			break;
		done++;
	}
	sleep_until(end);
	return done;
}

/* ------------------------------------------------------------ the load */


struct shape {
	const char *key, *name;
	char *args[6];
};

static const struct shape shapes[] = {
	{ "keepalive", "32 keep-alive connections, requests back to back",
	  { "--keepalive", "32", "--fresh", "0", NULL } },
	{ "fresh", "16 clients, each request on a new connection",
	  { "--keepalive", "0", "--fresh", "16", NULL } },
};

struct load_run {
	pid_t pid;
	char out[400];
	long t0_us; /* about when loadgen's clock started (within ~1 ms) */
};

static int load_begin(struct load_run *l, struct instance *s, const struct shape *shape,
		      const char *label, const char *timeline)
{
	char program[512], target[32];
	copy_str(program, sizeof program, bin_path("loadgen"));
	snprintf(target, sizeof target, "127.0.0.1:%d", s->port);
	snprintf(l->out, sizeof l->out, "%s/load-%s.out", s->dir, label);
	char *argv[16] = { program, "--target", target, "--quiet" };
	int n = 4;
	for (int i = 0; shape->args[i]; i++)
		argv[n++] = shape->args[i];
	if (timeline) {
		argv[n++] = "--timeline";
		argv[n++] = (char *)timeline;
		argv[n++] = "--timeline-seconds";
		argv[n++] = PLOT_SECONDS;
	}
	argv[n] = NULL;
	struct spawn_options o = { .output = l->out };
	l->t0_us = clock_us();
	l->pid = spawn(argv, &o);
	if (wait_file_contains(l->out, "ready\n", 1, 10000))
		return 0;
	printf("  loadgen did not get going against %s:\n%s\n", s->kind->name,
	       read_file(l->out));
	kill(l->pid, SIGKILL);
	int status;
	wait_exit(l->pid, 5000, &status);
	return -1;
}

static int load_end(struct load_run *l, struct load_result *f)
{
	int status;
	kill(l->pid, SIGTERM);
	if (!wait_exit(l->pid, 15000, &status)) {
		kill(l->pid, SIGKILL);
		wait_exit(l->pid, 5000, &status);
	}
	char *text = read_file(l->out);
	int r = load_report_parse(text, f);
	if (r < 0)
		printf("  loadgen gave no report:\n%s\n", text ? text : "");
	free(text);
	return r;
}

/* ------------------------------------------------------------ results */

struct row {
	const struct contender *kind;
	char skipped[200];    /* why there are no figures */
	char error[256];      /* a restart that did not complete */
	struct load_result base, run;
	int restarts;
	long ready_med, gone_med, native_med, ready_p90;
	long probe_failures;
};

static struct {
	int interval_ms, restarts, baseline_ms;
	const char *missing[CONTENDERS]; /* why a contender cannot run */
	struct row rows[2][CONTENDERS];
	char plot_keys[256];
} cfg;

static struct restart restarts_buf[MAX_RESTARTS];
static long restart_at[MAX_RESTARTS];

static void summarize(struct row *row, struct restart *r, int n)
{
	static long v[MAX_RESTARTS];
	row->restarts = n;
	for (int i = 0; i < n; i++)
		v[i] = r[i].ready_us;
	row->ready_med = percentile(v, n, 50);
	row->ready_p90 = percentile(v, n, 90);
	for (int i = 0; i < n; i++)
		v[i] = r[i].gone_us;
	row->gone_med = percentile(v, n, 50);
	int m = 0;
	for (int i = 0; i < n; i++)
		if (r[i].native_us >= 0)
			v[m++] = r[i].native_us;
	row->native_med = m ? percentile(v, m, 50) : -1;
}

static void kilo(char *buf, size_t size, double v)
{
	if (v >= 1000)
		snprintf(buf, size, "%.1fk", v / 1000);
	else
		snprintf(buf, size, "%.0f", v);
}

static void print_table(int shape)
{
	printf("\n### %s, a restart every %d ms\n\n", shapes[shape].name, cfg.interval_ms);
	printf("| server, restart | restarts | requests | failed | refused / reset / "
	       "EOF / timeout / non-2xx / other | failed per restart | connections "
	       "closed by the server per restart | throughput "
	       "vs. steady state | p50 | p99 | max | new generation serving "
	       "(median) | old generation gone (median) |\n");
	printf("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
	for (int c = 0; c < CONTENDERS; c++) {
		struct row *r = &cfg.rows[shape][c];
		if (!r->kind)
			continue;
		if (r->skipped[0]) {
			printf("| %s | skipped: %s ||||||||||||\n", r->kind->name, r->skipped);
			continue;
		}
		/* Fresh connections ask for their close: only kept ones count. */
		char closed[32] = "n/a";
		if (strcmp(shapes[shape].key, "keepalive") == 0)
			snprintf(closed, sizeof closed, "%.2f",
				 r->restarts ? (double)r->run.server_closes / r->restarts : 0.0);
		char base[16], run[16];
		kilo(base, sizeof base, r->base.rps);
		kilo(run, sizeof run, r->run.rps);
		printf("| %s | %d | %ld | **%ld** | %ld / %ld / %ld / %ld / %ld / %ld | %.2f | %s | "
		       "%.1f%% (%s of %s/s) | %.2f ms | %.2f ms | %.1f ms | %.2f ms | %.1f ms |\n",
		       r->kind->name, r->restarts, r->run.requests, r->run.failed,
		       r->run.refused, r->run.reset, r->run.eof, r->run.timeout,
		       r->run.non200, r->run.other,
		       r->restarts ? (double)r->run.failed / r->restarts : 0.0, closed,
		       r->base.rps > 0 ? 100.0 * r->run.rps / r->base.rps : 0.0, run, base,
		       r->run.p50_us / 1000.0, r->run.p99_us / 1000.0, r->run.max_us / 1000.0,
		       r->ready_med / 1000.0, r->gone_med / 1000.0);
	}
	printf("\n");
	for (int c = 0; c < CONTENDERS; c++) {
		struct row *r = &cfg.rows[shape][c];
		if (!r->kind || r->skipped[0])
			continue;
		printf("- %s: generations seen by the load %ld; new generation serving p90 "
		       "%.2f ms", r->kind->key, r->run.generations, r->ready_p90 / 1000.0);
		if (r->native_med >= 0)
			printf("; new master's pid file after %.2f ms (median)", r->native_med / 1000.0);
		if (r->probe_failures)
			printf("; %ld readiness probes failed", r->probe_failures);
		if (r->error[0])
			printf("; STOPPED EARLY: %s", r->error);
		printf("\n");
	}
}

/* ------------------------------------------------------------ wrk */

struct wrk_row {
	const struct contender *kind;
	int restarts;
	char text[400];
};

static struct wrk_row wrk_rows[CONTENDERS];

static const char *after(const char *text, const char *key)
{
	const char *p = strstr(text, key);
	return p ? p + strlen(key) : NULL;
}

/* The lines of wrk's report a user reads: requests, errors, latency. */
static void wrk_parse(struct wrk_row *w, const char *out)
{
	long requests = 0, non2xx = 0;
	int conn = 0, rd = 0, wr = 0, to = 0;
	char p50[32] = "?", p99[32] = "?", max[32] = "?";
	double rps = 0;
	const char *p;
	if ((p = strstr(out, " requests in ")))
		while (p > out && p[-1] >= '0' && p[-1] <= '9')
			p--;
	if (p)
		requests = strtol(p, NULL, 10);
	if ((p = after(out, "Socket errors:")))
		sscanf(p, " connect %d, read %d, write %d, timeout %d", &conn, &rd, &wr, &to);
	if ((p = after(out, "Non-2xx or 3xx responses:")))
		non2xx = strtol(p, NULL, 10);
	if ((p = after(out, "Requests/sec:")))
		rps = strtod(p, NULL);
	if ((p = after(out, "    Latency ")))
		sscanf(p, " %*s %*s %31s", max);
	if ((p = after(out, " 50% ")))
		sscanf(p, " %31s", p50);
	if ((p = after(out, " 99% ")))
		sscanf(p, " %31s", p99);
	char k[16];
	kilo(k, sizeof k, rps);
	snprintf(w->text, sizeof w->text,
		 "| %s | %d | %ld | %d / %d / %d / %d | %ld | %s | %s | %s | %s |",
		 w->kind->name, w->restarts, requests, conn, rd, wr, to, non2xx, k, p50,
		 p99, max);
}

static void wrk_run(struct instance *s, struct wrk_row *w)
{
	char program[512], url[64], out[400];
	copy_str(program, sizeof program, find_program("wrk"));
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", s->port);
	copy_str(out, sizeof out, file_in(s, "wrk.out"));
	char *argv[] = { program, "-t1", "-c32", "-d2s", "--latency", url, NULL };
	struct spawn_options o = { .output = out };
	w->kind = s->kind;
	pid_t pid = spawn(argv, &o);
	/* Restarts begin once wrk's 32 connections are up. */
	long connected_by = clock_us() + 5000000;
	while (count_connections(pid) < 32 && clock_us() < connected_by)
		sleep_us(1000);
	w->restarts = drive_restarts(s, 1800000, cfg.interval_ms * 1000L, restarts_buf,
				     MAX_RESTARTS, clock_us(), NULL);
	int status;
	if (!wait_exit(pid, 15000, &status)) {
		kill(pid, SIGKILL);
		wait_exit(pid, 5000, &status);
	}
	char *text = read_file(out);
	wrk_parse(w, text ? text : "");
	free(text);
}

/* ------------------------------------------------------------ the plot */

/* gnuplot draws one point per line: 10 s for the five panels' 800,000
 * requests, most of them on a pixel already drawn. Keeps every failed
 * request and, of those answered, the first in each cell of 0.5 ms by 1/16
 * of an octave of latency (4.4%), finer than a pixel of the plot (1.6 ms by
 * 7.6%): the picture is the same. */
enum { CELL_US = 500, CELL_COLUMNS = 4000 /* 2 s: the plot's 1.6 and more */,
       CELL_OCTAVES = 24, CELL_ROWS = CELL_OCTAVES * 16 };

/* The octave of latency_us and the next four bits below its highest; past
 * 2^24 us (the plot stops at 5 s), the last row. */
static unsigned latency_row(unsigned long long latency_us)
{
	unsigned octave = 63 - (unsigned)__builtin_clzll(latency_us | 1);
	if (octave >= CELL_OCTAVES)
		return CELL_ROWS - 1;
	unsigned long long top5 = octave >= 4 ? latency_us >> (octave - 4)
					      : latency_us << (4 - octave);
	return octave * 16 + (unsigned)(top5 & 15);
}

static void thin_timeline(const char *from, const char *to)
{
	FILE *in = fopen(from, "re"), *out = fopen(to, "we");
	static unsigned char seen[CELL_COLUMNS * CELL_ROWS / 8];
	memset(seen, 0, sizeof seen);
	char line[160];
	while (in && out && fgets(line, sizeof line, in)) {
		unsigned long long start_us, latency_us;
		char kind[32];
		if (sscanf(line, "%llu %llu %31s", &start_us, &latency_us, kind) == 3 &&
		    strcmp(kind, "ok") == 0 && start_us / CELL_US < CELL_COLUMNS) {
			size_t cell = (size_t)(start_us / CELL_US) * CELL_ROWS +
				      (size_t)latency_row(latency_us);
			unsigned char bit = (unsigned char)(1u << (cell % 8));
			if (seen[cell / 8] & bit)
				continue;
			seen[cell / 8] |= bit;
		}
		fputs(line, out);
	}
	if (in)
		fclose(in);
	if (out)
		fclose(out);
}

/* The plot's panel for s: the first PLOT_SECONDS of its keep-alive row,
 * whose loadgen wrote `every` request's latency, and the instants of the n
 * restarts requested meanwhile (at[], on loadgen's clock). */
static void plot_keep(struct instance *s, const char *every, const long *at, int n)
{
	char timeline[400], instants[400];
	copy_str(timeline, sizeof timeline, file_in(s, "timeline"));
	copy_str(instants, sizeof instants, file_in(s, "restarts"));
	thin_timeline(every, timeline);
	FILE *out = fopen(instants, "we");
	for (int i = 0; out && i < n; i++)
		fprintf(out, "%.6f\n", at[i] / 1e6);
	if (out)
		fclose(out);
	if (strlen(cfg.plot_keys) + strlen(s->kind->key) + 2 < sizeof cfg.plot_keys)
		snprintf(cfg.plot_keys + strlen(cfg.plot_keys),
			 sizeof cfg.plot_keys - strlen(cfg.plot_keys), "%s%s",
			 cfg.plot_keys[0] ? " " : "", s->kind->key);
}

static void plot(void)
{
	char *gnuplot = find_program("gnuplot");
	if (!gnuplot) {
		printf("\nplot: skipped, gnuplot is not installed\n");
		return;
	}
	if (!cfg.plot_keys[0])
		return;
	char program[512], script[512], png[512], expr[1024];
	copy_str(program, sizeof program, gnuplot);
	copy_str(script, sizeof script, source_path("bench/plot.gp"));
	copy_str(png, sizeof png, source_path("docs/restarts.png"));
	snprintf(expr, sizeof expr, "dir='%s'; keys='%s'; out='%s'; interval=%d",
		 work_dir, cfg.plot_keys, png, cfg.interval_ms);
	char *argv[] = { program, "-e", expr, script, NULL };
	struct spawn_options o = { .output = work_path("gnuplot.log") };
	int status = -1; /* stays non-zero if it never ends */
	pid_t pid = spawn(argv, &o);
	if (!wait_exit(pid, 60000, &status)) {
		kill(pid, SIGKILL);
		wait_exit(pid, 5000, &status);
	}
	if (status == 0) {
		printf("\nplot: latency of every request over time, restarts marked: %s\n", png);
	} else {
		char *log = read_file(work_path("gnuplot.log"));
		printf("\nplot: gnuplot failed (status 0x%x):\n%s\n", status, log ? log : "");
		free(log);
	}
}

/* ------------------------------------------------------------ a contender */

/* The restarts of a row, in rounds of ROUND_RESTARTS, each round followed
 * by a quiet moment without restarts that loadgen (l) counts apart in a
 * window: the steady state. The machine's speed drifts over a row
 * (a server's steady state once went from 100k to 135k requests/s between
 * the start of a row and its end), so the steady state is measured all
 * along the restarts, not before or after them. Returns the restarts done,
 * their timings in r[]; the first round's instants are in restart_at[],
 * *first of them. */
enum { ROUND_RESTARTS = 10 };

static int drive_rounds(struct instance *s, const struct load_run *l, struct restart *r,
			int *first)
{
	int rounds = (cfg.restarts + ROUND_RESTARTS - 1) / ROUND_RESTARTS, done = 0;
	long quiet_us = cfg.baseline_ms * 1000L / rounds;
	pid_t loadgen = l->pid;
	for (int k = 0; k < rounds && !s->error[0]; k++) {
		int want = cfg.restarts - done < ROUND_RESTARTS ? cfg.restarts - done
							       : ROUND_RESTARTS;
		/* The first round's instants: the plot's, on loadgen's clock. */
		done += drive_restarts(s, (long)want * cfg.interval_ms * 1000L,
				       cfg.interval_ms * 1000L, r + done, MAX_RESTARTS - done,
				       l->t0_us, k == 0 ? restart_at : NULL);
		if (k == 0)
			*first = done;
		kill(loadgen, SIGUSR1);
		sleep_us(quiet_us);
		kill(loadgen, SIGUSR2);
	}
	return done;
}

/* Splits a row's load: its quiet windows into base (requests and rate),
 * the rest, with restarts, stays in run (its rate recomputed without the
 * quiet moments; its counts and latencies are the whole run's). */
static void steady_state(const struct load_run *l, struct load_result *run,
			 struct load_result *base)
{
	char *text = read_file(l->out);
	long requests = 0, span_us = 0;
	for (const char *at = text; at && (at = strstr(at, "window=")); at++) {
		long n, us;
		const char *req = strstr(at, " requests="), *span = strstr(at, " span_us=");
		if (req && span && sscanf(req, " requests=%ld", &n) == 1 &&
		    sscanf(span, " span_us=%ld", &us) == 1) {
			requests += n;
			span_us += us;
		}
	}
	free(text);
	*base = (struct load_result){ .requests = requests };
	if (span_us <= 0 || run->rps <= 0)
		return;
	base->rps = requests * 1e6 / (double)span_us;
	double total_s = (double)run->requests / run->rps, quiet_s = span_us / 1e6;
	if (total_s > quiet_s && run->requests > requests)
		run->rps = (double)(run->requests - requests) / (total_s - quiet_s);
}

static void run_contender(int shape, int c)
{
	const struct contender *kind = &contenders[c];
	struct row *row = &cfg.rows[shape][c];
	struct instance s;
	row->kind = kind;
	if (cfg.missing[c]) {
		snprintf(row->skipped, sizeof row->skipped, "%s", cfg.missing[c]);
		return;
	}
	long duration = (long)cfg.restarts * cfg.interval_ms * 1000L;
	if (bench_seconds_left() < duration / 1e6 + cfg.baseline_ms / 1e3 + 5) {
		snprintf(row->skipped, sizeof row->skipped, "out of time");
		return;
	}
	printf("  %s: %s ...\n", shapes[shape].key, kind->name);
	fflush(stdout);
	bench_place(BENCH_SERVER_SIDE);
	int started = instance_start(&s, kind);
	bench_place(BENCH_CLIENT_SIDE);
	if (started < 0) {
		snprintf(row->skipped, sizeof row->skipped, "did not start (see its log)");
		kind->stop(&s);
		bench_place(BENCH_ANYWHERE);
		return;
	}
	struct load_run l;
	char label[64], every[400];
	snprintf(label, sizeof label, "%s-restarts", shapes[shape].key);
	/* The plot: keep-alive rows, their first seconds. */
	int plotted = shape == 0 && find_program("gnuplot");
	copy_str(every, sizeof every, file_in(&s, "timeline.all"));
	if (load_begin(&l, &s, &shapes[shape], label, plotted ? every : NULL) == 0) {
		int first = 0, n = drive_rounds(&s, &l, restarts_buf, &first);
		load_end(&l, &row->run);
		steady_state(&l, &row->run, &row->base);
		summarize(row, restarts_buf, n);
		snprintf(row->error, sizeof row->error, "%s", s.error);
		if (plotted && !s.error[0])
			plot_keep(&s, every, restart_at, first);
	}
	row->probe_failures = s.probe_failures;
	/* The witness, on the same server: keep-alive only. */
	if (shape == 0 && !s.error[0] && find_program("wrk") && bench_seconds_left() > 100)
		wrk_run(&s, &wrk_rows[c]);
	kind->stop(&s);
	bench_place(BENCH_ANYWHERE);
}

/* httpd moves its keep-alive connections to the new generation, upgrading
 * itself or under `handoff run` (which introduces the two generations; the
 * fresh shape's connections end after one request: nothing to move), so
 * the restarts cost it less than a drain would: no reconnects, no requests
 * answered "Connection: close". The load must have seen no connection
 * closed for the figure to be the moving one. */
static void check_moving_target(const struct row *r, int shape, const char *who)
{
	if (strcmp(shapes[shape].key, "keepalive") != 0 || r->skipped[0])
		return;
	double ratio = r->base.rps > 0 ? r->run.rps / r->base.rps : 0;
	bench_target(ratio >= 0.95 && r->run.server_closes == 0,
		     "%s, keepalive: throughput during restarts with connections moving "
		     ">= 95%% of steady state (%.1f%%, %ld connections closed by the server)",
		     who, 100 * ratio, r->run.server_closes);
}

static void check_targets(void)
{
	struct row *nginx_rows[2] = { &cfg.rows[0][2], &cfg.rows[1][2] };
	for (int shape = 0; shape < 2; shape++) {
		for (int c = 0; c < 2; c++) {
			struct row *r = &cfg.rows[shape][c];
			const char *who = c == 0 ? "library" : "supervisor";
			if (r->skipped[0]) {
				bench_target(0, "%s, %s: not measured (%s)", who, shapes[shape].key,
					     r->skipped);
				continue;
			}
			bench_target(r->run.failed == 0 && r->restarts >= 100,
				     "%s, %s: zero failed requests over at least 100 restarts "
				     "(%ld failed over %d restarts)", who, shapes[shape].key,
				     r->run.failed, r->restarts);
			double ratio = r->base.rps > 0 ? r->run.rps / r->base.rps : 0;
			bench_target(ratio >= 0.9, "%s, %s: throughput during restarts >= 90%% "
				     "of steady state (%.1f%%)", who, shapes[shape].key, 100 * ratio);
			check_moving_target(r, shape, who);
			struct row *n = nginx_rows[shape];
			if (n->skipped[0] || !n->restarts)
				bench_target(0, "%s, %s: new generation serving in at most half "
					     "nginx's median: no nginx figure", who, shapes[shape].key);
			else
				bench_target(r->ready_med * 2 <= n->ready_med,
					     "%s, %s: new generation serving in at most half nginx's "
					     "median (%.2f ms vs. nginx %.2f ms)", who, shapes[shape].key,
					     r->ready_med / 1000.0, n->ready_med / 1000.0);
		}
	}
}

/* ------------------------------------------------------------ entry points */

/* A program (found in PATH) or a path (starting with '/'), and its package. */
static const struct {
	const char *program, *package;
} needed[] = {
	{ "nginx", "nginx-light" }, { "haproxy", "haproxy" },
	{ "wrk", "wrk" }, { "gnuplot", "gnuplot-nox" }, { "go", "golang-go" },
	{ TABLEFLIP_SOURCE, "golang-github-cloudflare-tableflip-dev" },
};

static int have(const char *program_or_path)
{
	return program_or_path[0] == '/' ? access(program_or_path, F_OK) == 0
					 : find_program(program_or_path) != NULL;
}

/* Runs argv with a time limit; its exit status, or -1. */
static int run_limited(char *const argv[], int timeout_ms, const char *log)
{
	struct spawn_options o = { .output = log,
				   .env = (char *[]){ "DEBIAN_FRONTEND=noninteractive", NULL } };
	int status;
	pid_t pid = spawn(argv, &o);
	if (!wait_exit(pid, timeout_ms, &status)) {
		kill(pid, SIGKILL);
		wait_exit(pid, 5000, &status);
		return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Debian's packages start their services when installed: a policy-rc.d
 * that says no keeps nginx off port 80, for the install only. */
static void install(const char *packages)
{
	static const char policy[] = "/usr/sbin/policy-rc.d";
	int ours = access(policy, F_OK) != 0;
	char log[400];
	copy_str(log, sizeof log, work_path("apt.log"));
	printf("installing with apt-get (root, missing): %s\n", packages);
	fflush(stdout);
	if (ours)
		write_file(policy, "#!/bin/sh\n# make bench: no service starts while it installs\nexit 101\n", 0755);
	char *update[] = { "apt-get", "update", NULL };
	int r = run_limited(update, 120000, log);
	char *argv[16] = { "apt-get", "install", "-y" };
	int n = 3;
	char copy[256];
	copy_str(copy, sizeof copy, packages);
	for (char *save = NULL, *p = strtok_r(copy, " ", &save); p && n < 15;
	     p = strtok_r(NULL, " ", &save))
		argv[n++] = p;
	argv[n] = NULL;
	if (r == 0)
		r = run_limited(argv, 180000, log);
	if (ours)
		unlink(policy);
	if (r != 0) {
		char *text = read_file(log);
		size_t len = text ? strlen(text) : 0;
		printf("apt-get failed (%d); the end of its output:\n%s\n", r,
		       text ? text + (len > 1500 ? len - 1500 : 0) : "");
		free(text);
	}
}

void bench_prepare(void)
{
	/* Whatever this run starts ends with it, even if it fails half-way:
	 * generations in process groups of their own included (nginx, which
	 * rewrites its environment, is guarded by pid). */
	guard_descendants();
	char missing[256] = "";
	for (size_t i = 0; i < sizeof needed / sizeof *needed; i++)
		if (!have(needed[i].program))
			snprintf(missing + strlen(missing), sizeof missing - strlen(missing),
				 "%s%s", missing[0] ? " " : "", needed[i].package);
	if (missing[0] && geteuid() == 0 && find_program("apt-get"))
		install(missing);
	else if (missing[0])
		printf("note: not installed: %s (as root, make bench installs them with "
		       "apt-get); their rows are skipped\n", missing);
	/* 10,000 connections on each side, 1000 listeners, the others' own. */
	/* The budget starts once what was missing is installed. */
	started_us = clock_us();
	long limit = raise_nofile(65536);
	if (limit < 10300)
		printf("note: RLIMIT_NOFILE is %ld: the largest scale rows will be skipped\n",
		       limit);
	print_machine();
}

void bench_compare(void)
{
	if (!bench_part("compare"))
		return;
	cfg.interval_ms = bench_env_int("BENCH_INTERVAL_MS", 200, 10, 10000);
	cfg.restarts = bench_env_int("BENCH_RESTARTS", 100, 1, MAX_RESTARTS);
	cfg.baseline_ms = bench_env_int("BENCH_BASELINE_MS", 2000, 200, 60000);
	for (int c = 0; c < CONTENDERS; c++)
		if (contenders[c].program && !find_program(contenders[c].program))
			cfg.missing[c] = "not installed";
	/* BENCH_CONTENDERS="library nginx ...": only those (all by default). */
	const char *only = getenv("BENCH_CONTENDERS");
	for (int c = 0; c < CONTENDERS; c++) {
		char padded[64], list[512];
		snprintf(padded, sizeof padded, " %s ", contenders[c].key);
		snprintf(list, sizeof list, " %s ", only ? only : "");
		if (only && !strstr(list, padded))
			cfg.missing[c] = "not in BENCH_CONTENDERS";
	}
	for (int c = 0; c < CONTENDERS; c++)
		if (strcmp(contenders[c].key, "tableflip") == 0 && !have(TABLEFLIP_SOURCE))
			cfg.missing[c] = "golang-github-cloudflare-tableflip-dev not installed";
	printf("\n## Restarts under load\n\n"
	       "Each server, one load: %d restarts, one every %d ms, in rounds of %d, "
	       "each round followed by %.0f ms without restarts (%.1f s in all): "
	       "its steady state, measured in the same minutes as the restarts "
	       "(the machine's speed drifts: a steady state measured before the "
	       "restarts once differed by a third from one measured after). The "
	       "server and every process it starts run on one CPU, the load and the "
	       "bench on the others (left to the kernel, the same steady state "
	       "ranged from 52k to 99k requests/s from run to run). Throughput with "
	       "restarts excludes the quiet moments; the counts and latencies are "
	       "the whole load's. Load: bench/loadgen. \"New generation serving\": "
	       "from the restart request to the first response from the new "
	       "generation (a new connection, GET /). \"Old generation gone\": from "
	       "the request until every process of the old one has exited.\n\n",
	       cfg.restarts, cfg.interval_ms, ROUND_RESTARTS,
	       (double)cfg.baseline_ms / ((cfg.restarts + ROUND_RESTARTS - 1) / ROUND_RESTARTS),
	       cfg.baseline_ms / 1000.0);
	for (int shape = 0; shape < 2; shape++)
		for (int c = 0; c < CONTENDERS; c++)
			run_contender(shape, c);
	for (int shape = 0; shape < 2; shape++)
		print_table(shape);
	if (!find_program("wrk")) {
		printf("\nwrk: not installed, no independent witness\n");
	} else {
		printf("\n### wrk as a witness: `wrk -t1 -c32 -d2s --latency`, a restart "
		       "every %d ms\n\n", cfg.interval_ms);
		printf("| server, restart | restarts | requests | socket errors: connect / "
		       "read / write / timeout | non-2xx | req/s | p50 | p99 | max |\n");
		printf("|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
		for (int c = 0; c < CONTENDERS; c++)
			if (wrk_rows[c].kind)
				printf("%s\n", wrk_rows[c].text);
	}
	plot();
	check_targets();
}
