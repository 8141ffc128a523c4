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
#include <signal.h>
#include <string.h>
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
		else
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
	say("env LISTEN_FDS=%s LISTEN_PID=%s LISTEN_FDNAMES=%s",
	    getenv("LISTEN_FDS") ? "set" : "unset",
	    getenv("LISTEN_PID") ? "set" : "unset",
	    getenv("LISTEN_FDNAMES") ? "set" : "unset");
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
 * close-on-exec, as if inherited from a shell), HELPER_LIST_FDS and
 * HELPER_REAL_ARGV adjust it. */
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
		if (ev.type == HANDOFF_EVENT_DRAIN || ev.type == HANDOFF_EVENT_STOP ||
		    ev.type == HANDOFF_EVENT_STOP_NOW)
			return finish(h, 0);
	}
	return finish(h, 0);
}
