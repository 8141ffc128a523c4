/* helpers.c — programs the runner becomes with --helper, built on the
 * library, reporting what they see as lines on stdout for tests to read.
 *
 * Listener requests come as one argument: "name=addr;addr;..." ("-" for
 * none). A request prefixed with '?' uses handoff_inherited (no creation). */
#include "harness.h"
#include "internal.h" /* inherited_count: what the library believed */

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof line - 2)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	/* One write per line: generations share one O_APPEND log. */
	ssize_t ignored = write(1, line, (size_t)n);
	(void)ignored;
}

static int env_int(const char *name, int fallback)
{
	const char *v = getenv(name);
	return v ? atoi(v) : fallback;
}

static void claim_listeners(struct handoff *h, const char *spec)
{
	int quiet = env_int("HELPER_QUIET", 0);
	char *copy = strdup(spec), *save = NULL;
	for (char *req = strtok_r(copy, ";", &save); req && strcmp(req, "-");
	     req = strtok_r(NULL, ";", &save)) {
		int only_inherited = req[0] == '?';
		char *text = req + only_inherited;
		char *eq = strchr(text, '=');
		const char *name = eq ? text : NULL;
		const char *addr = eq ? eq + 1 : text;
		if (eq)
			*eq = '\0';
		if (only_inherited && !*addr)
			addr = NULL;
		int fd = only_inherited ? handoff_inherited(h, name, addr)
					: handoff_listen(h, name, addr);
		size_t last = handoff_listener_count(h) - 1;
		char bound[HANDOFF_ADDRESS_TEXT_MAX] = "";
		struct handoff_address a;
		if (fd >= 0 && handoff_listener_address(h, last, &a) == 0)
			handoff_address_format(&a, bound, sizeof bound);
		if (fd < 0)
			say("listen %s -> error %s", addr ? addr : name, strerror(-fd));
		else if (!quiet)
			say("listen %s -> fd=%d inherited=%d bound=%s nonblock=%d",
			    addr ? addr : name, fd, handoff_listener_inherited(h, last), bound,
			    (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
	}
	free(copy);
}

static void list_open_fds(const char *prefix)
{
	char buf[512] = "";
	for (int fd = 3; fd < 64; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			snprintf(buf + strlen(buf), sizeof buf - strlen(buf), "%s%d",
				 buf[0] ? "," : "", fd);
	say("%sopen=%s", prefix, buf);
}

/* Starts like a server, reports what it inherited, exits. */
int helper_inherit(const char *spec)
{
	struct handoff *h;
	int r = handoff_new(&h, NULL, 1, (char *[]){ self_exe, NULL });
	if (r < 0) {
		say("init error %s", strerror(-r));
		return 1;
	}
	const char *warning = handoff_warning(h);
	say("generation=%u inherited=%zu warning=%s", handoff_generation(h),
	    h->inherited_count, warning ? warning : "none");
	say("env LISTEN_FDS=%s LISTEN_PID=%s LISTEN_FDNAMES=%s HANDOFF_CHANNEL_FD=%s",
	    getenv("LISTEN_FDS") ? "set" : "unset",
	    getenv("LISTEN_PID") ? "set" : "unset",
	    getenv("LISTEN_FDNAMES") ? "set" : "unset",
	    getenv("HANDOFF_CHANNEL_FD") ? "set" : "unset");
	claim_listeners(h, spec);
	r = handoff_ready(h);
	warning = handoff_warning(h);
	say("ready %d, warning=%s", r, warning ? warning : "none");
	list_open_fds("");
	handoff_free(h);
	return 0;
}

static void report_event(struct handoff *h, const struct handoff_event *ev)
{
	char text[256];
	say("event %d pid=%d: %s", (int)ev->type, (int)getpid(),
	    handoff_event_describe(ev, text, sizeof text));
	const char *pidfile = getenv("HELPER_PIDFILE");
	if (ev->type == HANDOFF_EVENT_DRAIN && pidfile)
		say("at drain the pid file names %d", (int)read_pid(pidfile));
	if (ev->type == HANDOFF_EVENT_UPGRADE_STARTED &&
	    env_int("HELPER_SECOND_UPGRADE", 0)) {
		int r = handoff_upgrade(h);
		say("second upgrade -> %d (%s)", r, r < 0 ? strerror(-r) : "started");
	}
}

/* Waits (bounded by the drain pause) so that the successor sees a parent
 * still draining for a while. */
static int finish(struct handoff *h, int code)
{
	handoff_close_listeners(h);
	int pause = env_int("HELPER_DRAIN_MS", 0);
	if (pause > 0)
		pause_ms(pause);
	say("exit pid=%d", (int)getpid());
	handoff_free(h);
	/* HELPER_HOLD_AFTER_FREE=FILE: live on until FILE exists (10 s at
	 * most), as a server does that logs and returns from main. */
	const char *hold = getenv("HELPER_HOLD_AFTER_FREE");
	if (hold && *hold) {
		say("freed pid=%d", (int)getpid());
		for (int i = 0; i < 2000 && access(hold, F_OK) < 0; i++)
			pause_ms(5);
	}
	return code;
}

/* A server with no traffic of its own: upgrades on SIGHUP, drains at once,
 * and reports every event. HELPER_PIDFILE, HELPER_READY_TIMEOUT_MS,
 * HELPER_DRAIN_MS, HELPER_SECOND_UPGRADE, HELPER_EARLY_UPGRADE,
 * HELPER_FAIL_BEFORE_READY, HELPER_EXEC (what to exec next),
 * HELPER_DIRTY_SIGNALS, HELPER_STRAY_FD (generation 1 holds that fd without
 * close-on-exec, as if inherited from a shell), HELPER_CPU (generation 1 on
 * that CPU alone), HELPER_LIST_FDS, HELPER_REAL_ARGV and HELPER_QUIET (no
 * line per listener claimed, for the benchmark) adjust it. */
/* The signal state this process was started with (rule 20). Signals 32 and
 * 33 are glibc's own (thread cancellation, set*id): its sigaction() refuses
 * to touch them, in a parent as in a child, and it manages them itself in
 * every program, so they are left out. */
static void report_signal_state(void)
{
	char *status = read_file("/proc/self/status");
	char *blk = status ? strstr(status, "SigBlk:\t") : NULL;
	char *ign = status ? strstr(status, "SigIgn:\t") : NULL;
	if (blk && ign) {
		unsigned long long libc_own = 3ULL << 31; /* signals 32, 33 */
		unsigned long long blocked = strtoull(blk + 8, NULL, 16) & ~libc_own;
		unsigned long long ignored = strtoull(ign + 8, NULL, 16) & ~libc_own;
		say("signals blocked=%016llx ignored=%016llx", blocked, ignored);
	}
	free(status);
}

/* The CPUs this process may run on, as the kernel lists them ("0-1"). */
static void report_cpus(const char *when)
{
	char *status = read_file("/proc/self/status");
	char *list = status ? strstr(status, "Cpus_allowed_list:\t") : NULL;
	if (list) {
		list += strlen("Cpus_allowed_list:\t");
		list[strcspn(list, "\n")] = '\0';
		say("cpus %s=%s", when, list);
	}
	free(status);
}

/* Generation 1 on CPU n alone, as `taskset` would start it. */
static void restrict_cpus(int n)
{
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(n, &one);
	if (sched_setaffinity(0, sizeof one, &one) < 0)
		say("sched_setaffinity(%d): %s", n, strerror(errno));
}

/* Leaves a mess for the successor to not inherit. */
static void dirty_signal_state(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGWINCH, SIG_IGN);
}

int helper_server(const char *spec)
{
	struct handoff *h;
	report_signal_state();
	struct handoff_config config = {
		.size = sizeof config,
		.flags = HANDOFF_SIGNALS,
		.pidfile = getenv("HELPER_PIDFILE"),
		.ready_timeout_ms = env_int("HELPER_READY_TIMEOUT_MS", 0),
	};
	char *argv[] = { self_exe, "--helper", "server", (char *)spec, NULL };
	int real = env_int("HELPER_REAL_ARGV", 0);
	int r = handoff_new(&h, &config, real ? runner_argc : 4, real ? runner_argv : argv);
	if (r < 0) {
		say("init error %s", strerror(-r));
		return 1;
	}
	const char *exec = getenv("HELPER_EXEC");
	if (exec)
		handoff_set_exec(h, exec, (char *[]){ (char *)exec, NULL });
	if (env_int("HELPER_DIRTY_SIGNALS", 0))
		dirty_signal_state();
	if (getenv("HELPER_CPU") && handoff_generation(h) == 1)
		restrict_cpus(env_int("HELPER_CPU", 0));
	report_cpus("at start");
	int stray = env_int("HELPER_STRAY_FD", 0);
	if (stray > 2 && handoff_generation(h) == 1) {
		int fd = open("/dev/null", O_RDONLY); /* no O_CLOEXEC: on purpose */
		if (fd >= 0 && fd != stray) {
			dup2(fd, stray);
			close(fd);
		}
	}
	const char *next_spec = getenv("HELPER_NEXT_SPEC");
	claim_listeners(h, next_spec && handoff_generation(h) > 1 ? next_spec : spec);
	if (env_int("HELPER_FAIL_BEFORE_READY", 0) && handoff_generation(h) > 1) {
		say("failing before ready");
		handoff_free(h); /* must leave the parent's paths alone */
		return 1;
	}
	r = handoff_ready(h);
	say("ready generation=%u pid=%d result=%d", handoff_generation(h),
	    (int)getpid(), r);
	if (env_int("HELPER_LIST_FDS", 0)) {
		char prefix[32];
		snprintf(prefix, sizeof prefix, "generation %u ", handoff_generation(h));
		list_open_fds(prefix);
	}
	if (r < 0)
		return 1;
	if (env_int("HELPER_EARLY_UPGRADE", 0) && handoff_generation(h) == 2) {
		r = handoff_upgrade(h);
		say("early upgrade -> %d (%s)", r, r < 0 ? strerror(-r) : "started");
	}
	for (int rounds = 0; rounds < 100000; rounds++) {
		struct handoff_event ev;
		r = handoff_wait(h, &ev, 60000);
		if (r <= 0)
			return finish(h, r < 0 ? 1 : 0);
		report_event(h, &ev);
		if (ev.type == HANDOFF_EVENT_DRAIN)
			report_cpus("at drain"); /* after the spawn of the successor */
		if (ev.type == HANDOFF_EVENT_DRAIN || ev.type == HANDOFF_EVENT_STOP ||
		    ev.type == HANDOFF_EVENT_STOP_NOW)
			return finish(h, 0);
	}
	return finish(h, 0);
}

/* ------------------------------------------------ a server that daemonizes */

static volatile sig_atomic_t daemon_stopping;

static void daemon_on_term(int sig)
{
	(void)sig;
	daemon_stopping = 1;
}

static void daemon_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (!path || strlen(path) >= sizeof a.sun_path)
		return;
	strcpy(a.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && sendto(fd, state, strlen(state), 0, (struct sockaddr *)&a,
			      sizeof a) < 0)
		say("daemon pid=%d: cannot send %s: %s", (int)getpid(), state,
		    strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* One request per connection, answered "generation=N pid=P". */
static void daemon_answer(int conn, unsigned generation)
{
	char request[2048], body[64], reply[256];
	size_t got = 0;
	struct pollfd p = { .fd = conn, .events = POLLIN };
	while (got < sizeof request - 1 && poll(&p, 1, 5000) > 0) {
		ssize_t n = read(conn, request + got, sizeof request - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		request[got] = '\0';
		if (strstr(request, "\r\n\r\n"))
			break;
	}
	int blen = snprintf(body, sizeof body, "generation=%u pid=%d\n", generation,
			    (int)getpid());
	int len = snprintf(reply, sizeof reply, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
			   "Connection: close\r\n\r\n%s", blen, body);
	ssize_t ignored = write(conn, reply, (size_t)len);
	(void)ignored;
	close(conn);
}

/* Serves fd 3 until SIGTERM; then closes it (never shutdown(): the queue
 * is the next generation's) and exits 0. */
static int daemon_serve(int quiet)
{
	unsigned generation = (unsigned)env_int("HANDOFF_GENERATION", 0);
	sigset_t term, old;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, &old);
	/* No SA_RESTART: a blocking accept() on the shared listener (another
	 * generation may take the connection first) ends with EINTR. */
	struct sigaction sa = { .sa_handler = daemon_on_term };
	sigaction(SIGTERM, &sa, NULL);
	say("daemon pid=%d sid=%d serving generation %u", (int)getpid(),
	    (int)getsid(0), generation);
	if (!quiet)
		daemon_notify("READY=1");
	while (!daemon_stopping) {
		struct pollfd p = { .fd = 3, .events = POLLIN };
		if (ppoll(&p, 1, NULL, &old) <= 0)
			continue;
		sigprocmask(SIG_SETMASK, &old, NULL);
		int conn = accept4(3, NULL, NULL, SOCK_CLOEXEC);
		sigprocmask(SIG_BLOCK, &term, NULL);
		if (conn >= 0)
			daemon_answer(conn, generation);
	}
	close(3);
	say("daemon pid=%d drained", (int)getpid());
	return 0;
}

enum { PF_EXITING_FLAG = 0x4, SLOW_EXIT_BYTES = 1 << 30 };

/* "slow-exit": the daemon's intermediate process takes a while to exit
 * once its memory is gone: the kernel drops a process's memory (so that
 * its environment reads empty) before it hands its children on, and
 * unmapping 1 GiB of touched pages widens that moment to some tenths of a
 * second. The first process exits 0 only once it sees the intermediate
 * exiting (PF_EXITING), so that the supervisor looks for the generation's
 * successor while the intermediate is in that state and the daemon is not
 * yet reparented: what stress-ng once made happen by chance. */
static int daemon_slow_exit(void)
{
	pid_t first = getpid(), intermediate = fork();
	if (intermediate > 0) {
		struct process_stat st;
		for (int i = 0; i < 10000 && process_stat(intermediate, &st) &&
				!(st.flags & PF_EXITING_FLAG); i++)
			pause_ms(1);
		_exit(0);
	}
	if (intermediate < 0 || setsid() < 0)
		_exit(1);
	pid_t daemon = fork();
	if (daemon < 0)
		_exit(1);
	if (daemon > 0) {
		void *m = mmap(NULL, SLOW_EXIT_BYTES, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		_exit(m == MAP_FAILED ? 1 : 0);
	}
	/* The daemon, once its parent's exit has handed it on to us. */
	pid_t parent = getppid();
	for (int i = 0; i < 20000 && getppid() == parent; i++)
		pause_ms(1);
	say("daemon pid=%d intermediate=%d first=%d", (int)getpid(), (int)parent,
	    (int)first);
	return daemon_serve(0);
}

/* The classic recipe: fork; the child calls setsid() and forks again; each
 * parent exits 0 at once but the intermediate, which first does some
 * "initialization" (a short pause), so that the supervisor may meet it.
 * arg "quiet": the daemon sends no READY=1 (for --ready=delay:); arg
 * "slow-exit": daemon_slow_exit(). */
int helper_daemon(const char *arg)
{
	if (strcmp(arg, "slow-exit") == 0)
		return daemon_slow_exit();
	int quiet = strcmp(arg, "quiet") == 0;
	pid_t first = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid != 0)
		_exit(pid < 0 ? 1 : 0);
	if (setsid() < 0)
		_exit(1);
	for (int i = 0; i < 200 && getppid() == first; i++)
		pause_ms(1); /* until the first process has gone */
	pause_ms(50);
	pid_t intermediate = getpid();
	pid = fork();
	if (pid != 0)
		_exit(pid < 0 ? 1 : 0);
	say("daemon pid=%d intermediate=%d first=%d", (int)getpid(), (int)intermediate,
	    (int)first);
	return daemon_serve(quiet);
}

/* Binds ADDR itself (port 0 allowed) and listens, timing each call in
 * nanoseconds; says "timed-bind: bind_ns=B listen_ns=L", sends READY=1
 * to NOTIFY_SOCKET and waits for SIGTERM. Under `handoff run` its calls
 * are trapped and adopted (ADDR held), trapped and let through (another
 * address), or not trapped at all (--no-adopt): bench/adopt.c compares. */
static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

int helper_timed_bind(const char *text)
{
	struct handoff_address a;
	if (handoff_address_parse(&a, text) < 0) {
		say("timed-bind: bad address %s", text);
		return 2;
	}
	int one = 1, fd = socket(a.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
		say("timed-bind: socket: %s", strerror(errno));
		return 1;
	}
	long long t0 = now_ns();
	int r = bind(fd, &a.u.sa, a.length);
	long long t1 = now_ns();
	if (r == 0)
		r = listen(fd, 128);
	long long t2 = now_ns();
	if (r < 0) {
		say("timed-bind: %s: %s", text, strerror(errno));
		return 1;
	}
	say("timed-bind: bind_ns=%lld listen_ns=%lld", t1 - t0, t2 - t1);
	ho_notify_send("READY=1", -1);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	int sig;
	sigwait(&set, &sig);
	return 0;
}
