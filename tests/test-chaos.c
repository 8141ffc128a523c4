/* test-chaos.c — faults chosen at random while the load runs, in both modes:
 * the library's self-upgrading httpd, and httpd under `handoff run`.
 *
 * Each step is one of: a reload; SIGKILL of the starting generation before
 * it is ready; SIGSTOP of the starting generation past the ready timeout,
 * then SIGCONT; SIGKILL of a draining generation; SIGKILL of the serving
 * generation (supervisor only: in library mode the only generation ends the
 * service by design); a burst of reload requests. After every step:
 *   - the port answers within a bound;
 *   - at most one generation is starting, and few are draining (sampled on
 *     every poll until the service has settled to one serving generation);
 *   - no process the test started holds a zombie;
 *   - the supervisor's descriptor count is back to its baseline, and so is
 *     the serving generation's, counting only what does not depend on the
 *     clients (see non_connection_fds); at the end of each mode, with the
 *     load stopped, its whole count (idle_fds) as well;
 *   - every request that failed so far was held by a process the test
 *     SIGKILLed (see explained()).
 * Every process a generation reaps is checked by whoever reaps it; those the
 * test reaps (library generations, once their parent is gone) must exit 0,
 * or be ones it killed.
 *
 * The seed is printed first; the same seed gives the same steps:
 *   HANDOFF_CHAOS_SEED=S build/tests/run-tests chaos_short
 *   HANDOFF_CHAOS_SEED=S HANDOFF_CHAOS_STEPS=500 build/tests/run-tests chaos_long
 *   make chaos SEED=S STEPS=500 [MODE=library|supervisor]
 * chaos_short runs in `make test`: every step kind once per mode, in an
 * order drawn from the seed, and one more at random. chaos_long does
 * nothing unless HANDOFF_CHAOS_STEPS is set. HANDOFF_CHAOS_MODE=library or
 * supervisor runs one mode only. At the end of each mode it
 * prints the steps by kind, the kills, the requests, the failures by kind,
 * and how each was explained.
 *
 * A starting generation is held before it can be ready by a gate: the
 * server's command is a script (named httpd, as what it execs) that waits
 * while a file exists, then execs build/examples/httpd keeping its own
 * argv[0], so that the library's successors run the script too. */
#include "supervisor-kit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <unistd.h>

enum step_kind {
	STEP_RELOAD,
	STEP_KILL_STARTING,
	STEP_STOP_STARTING,
	STEP_KILL_DRAINING,
	STEP_KILL_SERVING,
	STEP_BURST,
	STEP_KINDS
};

static const char *const step_name[STEP_KINDS] = {
	"reload", "kill-starting", "stop-starting", "kill-draining", "kill-serving",
	"burst",
};

/* How often each kind is drawn in long runs. */
static const int step_weight[STEP_KINDS] = { 3, 2, 1, 2, 2, 2 };

enum mode { LIBRARY, SUPERVISOR, MODES };
static const char *const mode_name[MODES] = { "library", "supervisor" };

/* Step kinds a mode leaves out. Killing the serving generation in library
 * mode ends the service by design. */
static const char *skipped(enum mode mode, enum step_kind kind, int is_short)
{
	(void)is_short;
	if (mode == LIBRARY && kind == STEP_KILL_SERVING)
		return "the only generation: killing it ends the service by design";
	return NULL;
}

/* ------------------------------------------------------------ randomness */

static uint64_t rng_state;

/* splitmix64: tiny, and the same sequence everywhere for a seed. */
static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static int rng_below(int n)
{
	return (int)(rng_next() % (uint64_t)n);
}

/* ------------------------------------------------------------ state */

/* A SIGKILL the test sent: when (clock_us() just before the signal), to
 * whom, and whether that process could hold client connections (a serving
 * or draining generation; a starting one accepts nothing before it is
 * ready). */
struct kill_record {
	long t_us;
	pid_t pid;
	int holds_connections;
};

enum { MAX_KILLS = 16384, MAX_REAPED = 1024, MAX_COMMANDS = 64, MAX_GENS = 64 };

struct chaos {
	enum mode mode;
	uint64_t seed;
	int is_short;
	int steps, step;
	enum step_kind kind;
	int port;
	char address[64];
	char program[512], gate[512], log[512], pidfile[512], failures[512];
	char handoff_bin[512], ready_timeout[32], idle_grace[32];
	int ready_timeout_ms;
	pid_t supervisor;
	struct httpd httpd;         /* library mode */
	struct load load;
	FILE *steps_log;
	/* baselines */
	int fd_supervisor, fd_serving, fd_idle;
	long started_ms;
	/* figures */
	int done[STEP_KINDS];
	int kills_by_role[3];       /* starting, draining, serving */
	long failures_by_kind[8];
	long by_pid, by_time;
	long checked_bytes;
};

static struct chaos *current; /* for the failure message */

static struct kill_record kills[MAX_KILLS];
static int kill_count;

static struct {
	pid_t pid;
	int status;
} reaped[MAX_REAPED];
static int reaped_next; /* a ring: old entries are overwritten */

/* `handoff reload` run in the background: a ring, far larger than a burst. */
static pid_t commands[MAX_COMMANDS];
static unsigned command_next;

static const char *const failure_kinds[] = {
	"refused", "reset", "eof", "timeout", "non200", "other",
};
enum { FAILURE_KINDS = 6 };

/* ------------------------------------------------------------ reporting */

static void step_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void step_log(const char *fmt, ...)
{
	if (!current || !current->steps_log)
		return;
	va_list ap;
	va_start(ap, fmt);
	fprintf(current->steps_log, "%.3f ", (double)clock_us() / 1e6);
	vfprintf(current->steps_log, fmt, ap);
	fputc('\n', current->steps_log);
	va_end(ap);
	fflush(current->steps_log);
}

/* The last lines of a file, to stderr. */
static void print_tail(const char *label, const char *path, int lines)
{
	char *text = read_file(path);
	if (!text) {
		fprintf(stderr, "  --- %s: (no such file)\n", label);
		return;
	}
	char *p = text + strlen(text);
	for (int n = 0; p > text && n <= lines; )
		n += *--p == '\n';
	fprintf(stderr, "  --- %s, its end:\n%s\n", label, p == text ? p : p + 1);
	free(text);
}

/* What the test saw, before it fails: the step, the seed, the logs' ends
 * (the runner shows every file of the work directory as well). */
static void context(void)
{
	struct chaos *c = current;
	if (!c)
		return;
	char steps[48] = "";
	if (!c->is_short)
		snprintf(steps, sizeof steps, " HANDOFF_CHAOS_STEPS=%d", c->steps);
	fprintf(stderr, "  chaos %s failed at step %d of %d (%s), seed %" PRIu64 "\n"
		"  replay: HANDOFF_CHAOS_SEED=%" PRIu64 "%s HANDOFF_CHAOS_MODE=%s "
		"build/tests/run-tests chaos_%s\n",
		mode_name[c->mode], c->step, c->steps,
		c->step ? step_name[c->kind] : "setting up", c->seed, c->seed, steps,
		mode_name[c->mode], c->is_short ? "short" : "long");
	print_tail("steps and kills", work_path("chaos-steps.log"), 15);
	print_tail(c->mode == LIBRARY ? "httpd log" : "supervisor log", c->log, 30);
	print_tail("loadgen failures", c->failures, 10);
}

#define CHAOS_FAIL(...)                   \
	do {                              \
		context();                \
		FAIL(__VA_ARGS__);        \
	} while (0)

/* ------------------------------------------------------------ processes */

static int pidfd_of(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Through a pidfd opened before: never a pid reused since. */
static int pidfd_signal(int pidfd, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

/* Pids are reused (pid_max is often 32768, and a long run starts tens of
 * thousands of processes): a kill says something about a pid only for a
 * while. A process we killed is reaped within moments. */
static int killed_by_us(pid_t pid)
{
	long since = clock_us() - 30000000L * timeout_multiplier;
	for (int i = kill_count - 1; i >= 0 && kills[i].t_us >= since; i--)
		if (kills[i].pid == pid)
			return 1;
	return 0;
}

static int is_command(pid_t pid)
{
	for (int i = 0; i < MAX_COMMANDS; i++)
		if (commands[i] == pid)
			return 1;
	return 0;
}

/* Reaps every child we have (the test is a subreaper: library generations
 * whose parent is gone, and whatever they left, come to us), and checks
 * what it can: nothing we did not kill may die of a signal, and nothing but
 * the background commands may exit non-zero. */
static void reap_children(void)
{
	struct chaos *c = current;
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		reaped[reaped_next % MAX_REAPED].pid = pid;
		reaped[reaped_next % MAX_REAPED].status = status;
		reaped_next++;
		if (c && pid == c->load.pid)
			CHAOS_FAIL("loadgen %d ended (status 0x%x)", (int)pid, status);
		if (c && pid == c->supervisor)
			CHAOS_FAIL("the supervisor %d ended (status 0x%x)", (int)pid, status);
		if (WIFSIGNALED(status) &&
		    !(WTERMSIG(status) == SIGKILL && killed_by_us(pid)))
			CHAOS_FAIL("process %d was killed by signal %d (%s), not by the test",
				   (int)pid, WTERMSIG(status), strsignal(WTERMSIG(status)));
		if (WIFEXITED(status) && WEXITSTATUS(status) != 0 && !is_command(pid))
			CHAOS_FAIL("process %d exited with status %d", (int)pid,
				   WEXITSTATUS(status));
	}
}

/* pid is alive now: what was reaped under that pid before was another
 * process (pids are reused). */
static void forget_reaped(pid_t pid)
{
	for (int i = 0; i < MAX_REAPED; i++)
		if (reaped[i].pid == pid)
			reaped[i].pid = 0;
}

/* Waits up to timeout_ms for our child pid, reaped here or earlier (since
 * forget_reaped(pid), called while it was known alive). */
static int wait_child(pid_t pid, int timeout_ms, int *status)
{
	long deadline = deadline_after(timeout_ms);
	for (;;) {
		reap_children();
		for (int i = 0; i < MAX_REAPED; i++)
			if (reaped[i].pid == pid) {
				*status = reaped[i].status;
				reaped[i].pid = 0;
				return 1;
			}
		if (now_ms() >= deadline)
			return 0;
		pause_ms(2);
	}
}

/* SIGKILL through pidfd, recorded first (the time is taken before the
 * signal, so it never comes after the failures the kill causes). */
static void kill_recorded(int pidfd, pid_t pid, int role)
{
	static const char *const roles[] = { "starting", "draining", "serving" };
	if (kill_count == MAX_KILLS)
		CHAOS_FAIL("more than %d kills", MAX_KILLS);
	kills[kill_count++] = (struct kill_record){ clock_us(), pid, role != 0 };
	step_log("  SIGKILL %d (%s) at %ld us", (int)pid, roles[role],
		 kills[kill_count - 1].t_us);
	current->kills_by_role[role]++;
	if (pidfd_signal(pidfd, SIGKILL) < 0)
		CHAOS_FAIL("SIGKILL to %s generation %d: %s", roles[role], (int)pid,
			   strerror(errno));
}

struct proc {
	pid_t pid, ppid;
	char state;
	char comm[32];
};

static int proc_read(pid_t pid, struct proc *p)
{
	struct process_stat st;
	if (!process_stat(pid, &st))
		return 0;
	*p = (struct proc){ .pid = pid, .ppid = st.ppid, .state = st.state };
	snprintf(p->comm, sizeof p->comm, "%s", st.comm);
	return 1;
}

/* Started, directly or not, by this test: its environment, as it was
 * exec'd, holds guard_descendants()'s marker. */
static int is_ours(pid_t pid)
{
	static char env[1 << 18];
	char marker[96], path[64];
	const char *value = getenv("HANDOFF_TEST_GUARD");
	if (!value)
		return 0;
	int len = snprintf(marker, sizeof marker, "HANDOFF_TEST_GUARD=%s", value);
	snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	size_t got = 0;
	ssize_t n;
	while (got < sizeof env && (n = read(fd, env + got, sizeof env - got)) > 0)
		got += (size_t)n;
	close(fd);
	for (size_t i = 0; i < got; i += strnlen(env + i, got - i) + 1)
		if (got - i > (size_t)len && memcmp(env + i, marker, (size_t)len + 1) == 0)
			return 1;
	return 0;
}

/* Calls fn for every process in /proc; stops early when fn returns 0. */
static void for_each_process(int (*fn)(const struct proc *, void *), void *arg)
{
	DIR *d = opendir("/proc");
	struct proc p;
	for (struct dirent *e; d && (e = readdir(d));) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || !proc_read((pid_t)pid, &p))
			continue;
		if (!fn(&p, arg))
			break;
	}
	if (d)
		closedir(d);
}

struct zombie_scan {
	int count;
	char seen[512];
};

/* A zombie whose parent is one of ours (the test itself reaps its own
 * before looking). A zombie's environment cannot be read; its parent's can. */
static int note_zombie(const struct proc *p, void *arg)
{
	struct zombie_scan *z = arg;
	if (p->state != 'Z' || !(p->ppid == getpid() || is_ours(p->ppid)))
		return 1;
	z->count++;
	size_t len = strlen(z->seen);
	snprintf(z->seen + len, sizeof z->seen - len, " %d (%s, parent %d)", (int)p->pid,
		 p->comm, (int)p->ppid);
	return 1;
}

static struct zombie_scan last_zombies;

static int no_zombies(void *arg)
{
	(void)arg;
	reap_children();
	memset(&last_zombies, 0, sizeof last_zombies);
	for_each_process(note_zombie, &last_zombies);
	if (last_zombies.count)
		pause_ms(10);
	return last_zombies.count == 0;
}

/* ------------------------------------------------------------ descriptors */

/* Inodes of the Unix sockets /proc/net/unix lists, appended to out. */
static int unix_inodes(unsigned long *out, int n, int max)
{
	FILE *f = fopen("/proc/net/unix", "re");
	char line[512];
	if (f && !fgets(line, sizeof line, f)) /* the header */
		line[0] = '\0';
	while (f && n < max && fgets(line, sizeof line, f)) {
		unsigned long inode;
		if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu", &inode) == 1)
			out[n++] = inode;
	}
	if (f)
		fclose(f);
	return n;
}

static struct tcp_socket tcp_table[65536];
static unsigned long unix_table[65536];

/* pid's descriptors that do not depend on its clients: everything but its
 * TCP connections. Under load the number of connections a generation holds
 * changes all the time, and pausing the load after every step would leave
 * most faults without traffic, so a step's check counts the rest (listeners,
 * Unix sockets, pipes, epoll, timers, pidfds, files): a leak of any of them
 * shows. A leaked connection does not; the end of each mode checks the whole
 * count with the load stopped (idle_fds).
 *
 * A socket is counted if the kernel lists it as a TCP listener or a Unix
 * socket. The descriptors are read first and the tables after, so that a
 * connection closed in between is not counted; a Unix socket opened and
 * closed in between may be missed, which a retry corrects. */
static int non_connection_fds(pid_t pid)
{
	static unsigned long sockets[4096];
	int fds;
	int count = socket_fds(pid, sockets, NULL, 4096, &fds);
	if (count < 0)
		return -1;
	int tcp = tcp_sockets(TCP_ALL_BUT_TIME_WAIT, tcp_table, 65536);
	int unix_count = unix_inodes(unix_table, 0, 65536);
	for (int i = 0; i < count; i++) {
		int known = 0;
		for (int j = 0; j < tcp && !known; j++)
			known = tcp_table[j].inode == sockets[i] && tcp_table[j].state == TCP_LISTEN;
		for (int j = 0; j < unix_count && !known; j++)
			known = unix_table[j] == sockets[i];
		fds += known;
	}
	return fds;
}

/* count_idle_fds() of the harness, failing with the chaos run's context:
 * pid's descriptors once it holds no client connection (bounded wait). */
static int idle_fds(pid_t pid)
{
	if (!wait_no_connections(pid, 10000))
		CHAOS_FAIL("%d still holds %d client connections", (int)pid, count_connections(pid));
	return count_fds(pid);
}

struct fd_wait {
	pid_t pid;
	int want, got;
	int (*count)(pid_t);
};

static int fds_at_baseline(void *arg)
{
	struct fd_wait *w = arg;
	w->got = w->count(w->pid);
	if (w->got != w->want)
		pause_ms(10);
	return w->got == w->want;
}

static void fd_listing(pid_t pid, char *out, size_t size)
{
	out[0] = '\0';
	for (int fd = 0; fd < 256; fd++) {
		char link[64], target[128];
		snprintf(link, sizeof link, "/proc/%d/fd/%d", (int)pid, fd);
		ssize_t n = readlink(link, target, sizeof target - 1);
		size_t len = strlen(out);
		if (n > 0)
			snprintf(out + len, size - len, "  %d -> %.*s\n", fd, (int)n, target);
	}
}

static void expect_fds(const char *who, pid_t pid, int (*count)(pid_t), int want)
{
	struct fd_wait w = { pid, want, -1, count };
	if (!wait_for(fds_at_baseline, &w, 5000)) {
		char listing[8192];
		fd_listing(pid, listing, sizeof listing);
		CHAOS_FAIL("%s %d has %d descriptors, its baseline is %d:\n%s", who,
			   (int)pid, w.got, want, listing);
	}
}

/* ------------------------------------------------------------ failures */

/* The attribution rule. loadgen logs each failed request with the time it
 * started, the time it failed, and the pid that last answered on its
 * connection (0 if none has: a fresh connection, or the first request of a
 * keep-alive one). A failure is held by a killed process, and explained, if
 * it is a reset or an EOF (what a dead peer's connection gives; a refusal, a
 * timeout, a bad answer never are) and
 *   - its pid is known: the test SIGKILLed that pid before the failure,
 *     and not long before (kill time <= failure time <= kill time + 10 s,
 *     times the timeout multiplier): a keep-alive connection stays with the
 *     process that last answered on it until the next handover, so that
 *     process held the request, and its death resets the connection at
 *     once; the bound keeps a pid reused later (pid_max is often 32768)
 *     from being taken for the killed one;
 *   - whatever its pid, the test SIGKILLed a serving or draining
 *     generation while the request was in flight: start - W <= kill time
 *     <= failure time. A known pid that was not killed counts too: in both
 *     modes a keep-alive connection moves at each upgrade or reload to the
 *     next generation (HANDOFF_CONNECTIONS), which may be killed before it
 *     has answered on it. W (100 ms, times the timeout multiplier) covers a
 *     victim that was inside accept() when the signal came and takes a
 *     connection begun just after it (the kill time is also taken just
 *     before the signal). Starting generations accept nothing, so killing
 *     one explains nothing; nor does any kill long before the request: the
 *     listeners survive every kill, and a connection begun afterwards waits
 *     in their queue for the next generation.
 * Every kill before the failure is logged before we read it, so a line that
 * is not explained now never will be. */
static int explained(const char *kind, long start, long end, pid_t pid, int *by_pid)
{
	long window = 100000L * timeout_multiplier;
	long reuse = 10000000L * timeout_multiplier;
	if (strcmp(kind, "reset") != 0 && strcmp(kind, "eof") != 0)
		return 0;
	for (int i = 0; i < kill_count; i++) {
		const struct kill_record *k = &kills[i];
		if (k->t_us > end)
			continue;
		if (pid > 0 && k->pid == pid && end - k->t_us <= reuse) {
			*by_pid = 1;
			return 1;
		}
		if (k->holds_connections && k->t_us >= start - window) {
			*by_pid = 0;
			return 1;
		}
	}
	return 0;
}

/* Checks the lines loadgen has added since the last call. */
static long check_failures(void)
{
	struct chaos *c = current;
	char *text = read_file(c->failures);
	long lines = 0;
	if (!text)
		return 0;
	char *p = text + c->checked_bytes;
	for (char *nl; (nl = strchr(p, '\n')); p = nl + 1) {
		*nl = '\0';
		long end, start;
		int pid;
		char kind[16];
		if (sscanf(p, "failure end_us=%ld start_us=%ld kind=%15s conn=%*s pid=%d", &end,
			   &start, kind, &pid) != 4)
			CHAOS_FAIL("loadgen wrote a line we cannot read: %s", p);
		int by_pid = 0;
		if (!explained(kind, start, end, pid, &by_pid))
			CHAOS_FAIL("a failure no kill explains: %s", p);
		for (int k = 0; k < FAILURE_KINDS; k++)
			c->failures_by_kind[k] += strcmp(kind, failure_kinds[k]) == 0;
		*(by_pid ? &c->by_pid : &c->by_time) += 1;
		step_log("  failure held by a killed process (%s): %s",
			 by_pid ? "its pid" : "in flight during a kill", p);
		lines++;
	}
	c->checked_bytes = p - text;
	free(text);
	return lines;
}

/* ------------------------------------------------------------ generations */

struct gens {
	int total, starting, draining, ready;
	pid_t serving, starting_pid;
	unsigned serving_number;
	char what[1024];
};

struct library_scan {
	struct gens *g;
	pid_t serving;
};

/* A live process of ours named httpd (the gate script has the same name)
 * is a generation: the one in the pid file serves, its child is starting
 * (forked, gated or initializing), any other is draining. */
static int note_generation(const struct proc *p, void *arg)
{
	struct library_scan *s = arg;
	struct gens *g = s->g;
	if (p->state == 'Z' || p->state == 'X' || strcmp(p->comm, "httpd") != 0 ||
	    !is_ours(p->pid))
		return 1;
	g->total++;
	const char *state = "draining";
	if (p->pid == s->serving) {
		g->ready++;
		state = "serving";
	} else if (p->ppid == s->serving) {
		g->starting++;
		g->starting_pid = p->pid;
		state = "starting";
	} else {
		g->draining++;
	}
	size_t len = strlen(g->what);
	snprintf(g->what + len, sizeof g->what - len, " %d %s (parent %d, %c);",
		 (int)p->pid, state, (int)p->ppid, p->state);
	return 1;
}

static void library_generations(struct chaos *c, struct gens *g)
{
	memset(g, 0, sizeof *g);
	struct library_scan s = { g, read_pid(c->pidfile) };
	g->serving = s.serving;
	for_each_process(note_generation, &s);
}

/* Whether the last `handoff` command said needle, on either stream. */
static int said_has(const char *needle)
{
	return strstr(said.out, needle) || strstr(said.err, needle);
}

static void supervisor_generations(struct chaos *c, struct gens *g)
{
	memset(g, 0, sizeof *g);
	int code = handoff((char *[]){ "status", "--json", "--pidfile", c->pidfile, NULL });
	if (code != 0)
		CHAOS_FAIL("status --json exited %d: %s%s", code, said.out, said.err);
	for (char *p = said.out; g->total < MAX_GENS && (p = strstr(p, "{\"number\":")); p++) {
		unsigned number;
		int pid;
		char state[16], exited[8] = "";
		if (sscanf(p, "{\"number\":%u,\"pid\":%d,\"state\":\"%15[^\"]\",\"main_exited\":%7[a-z]",
			   &number, &pid, state, exited) < 3)
			continue;
		g->total++;
		if (strcmp(state, "starting") == 0) {
			g->starting++;
			g->starting_pid = pid;
		} else if (strcmp(state, "draining") == 0) {
			g->draining++;
		} else if (strcmp(state, "ready") == 0 && strcmp(exited, "false") == 0) {
			g->ready++;
			g->serving = pid;
			g->serving_number = number;
		}
		size_t len = strlen(g->what);
		snprintf(g->what + len, sizeof g->what - len, " %u pid %d %s%s;", number, pid,
			 state, strcmp(exited, "true") == 0 ? " (main exited)" : "");
	}
}

/* Generations now, with the bounds that hold at every moment: at most one
 * starting, and a few draining (the library allows one; the supervisor one
 * per reload whose predecessor has not finished yet, and a burst makes a
 * few, each gone within the drain). */
static void chaos_generations(struct chaos *c, struct gens *g)
{
	if (c->mode == LIBRARY)
		library_generations(c, g);
	else
		supervisor_generations(c, g);
	int max_draining = c->mode == LIBRARY ? 1 : 10;
	if (g->starting > 1 || g->draining > max_draining)
		CHAOS_FAIL("%d starting and %d draining generations (at most 1 and %d):%s",
			   g->starting, g->draining, max_draining, g->what);
}

static int answers_as(int port, pid_t pid)
{
	char body[256], want[32];
	snprintf(want, sizeof want, "pid=%d\n", (int)pid);
	return http_get("127.0.0.1", port, "/", body, sizeof body) == 200 &&
	       strstr(body, want);
}

/* A SIGHUP sent to pid that it has not taken yet. The supervisor blocks
 * its signals and reads them from a signalfd: one stays pending until it is
 * read, and the reload it asks for starts as it is read. */
static int sighup_pending(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	char *text = read_file(path);
	int pending = 0;
	static const char *const fields[] = { "\nSigPnd:", "\nShdPnd:" };
	for (int i = 0; i < 2; i++) {
		const char *p = text ? strstr(text, fields[i]) : NULL;
		unsigned long long mask = p ? strtoull(p + 8, NULL, 16) : 0;
		pending |= (mask & (1ull << (SIGHUP - 1))) != 0;
	}
	free(text);
	return pending;
}

static struct gens last_gens;

/* One generation, serving, and answering; nothing starting or draining,
 * and no reload asked for and not yet begun. */
static int settled(void *arg)
{
	struct chaos *c = arg;
	reap_children();
	if (c->mode == SUPERVISOR && sighup_pending(c->supervisor)) {
		pause_ms(5);
		return 0;
	}
	chaos_generations(c, &last_gens);
	int ok = last_gens.total == 1 && last_gens.ready == 1 &&
		 answers_as(c->port, last_gens.serving);
	if (!ok)
		pause_ms(c->mode == SUPERVISOR ? 20 : 5);
	return ok;
}

static struct gens settle(struct chaos *c)
{
	if (!wait_for(settled, c, 30000))
		CHAOS_FAIL("no single serving generation after 30 s:%s", last_gens.what);
	return last_gens;
}

/* ------------------------------------------------------------ the gate */

static void gate(struct chaos *c, int closed)
{
	if (closed)
		write_file(c->gate, "", 0644);
	else if (unlink(c->gate) < 0)
		CHAOS_FAIL("unlink %s: %s", c->gate, strerror(errno));
}

static void write_gate_script(struct chaos *c)
{
	char text[2048];
	snprintf(text, sizeof text,
		 "#!/bin/bash\n"
		 "# The chaos test's server: held while %s exists (60 s at most),\n"
		 "# then httpd, keeping this script as its argv[0] for its successors.\n"
		 "n=0\n"
		 "while [ -e '%s' ] && [ $n -lt 3000 ]; do sleep 0.02; n=$((n+1)); done\n"
		 "exec -a \"$0\" '%s' \"$@\"\n",
		 c->gate, c->gate, bin_path("examples/httpd"));
	write_file(c->program, text, 0755);
}

/* ------------------------------------------------------------ helpers */

/* The last number after the last occurrence of needle in path; 0 if none. */
static long last_number_after(const char *path, const char *needle)
{
	char *text = read_file(path), *last = NULL;
	for (char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
		last = p;
	long n = last ? strtol(last + strlen(needle), NULL, 10) : 0;
	free(text);
	return n;
}

/* A request that takes 30 s, taken by `holder` (the only generation
 * that accepts): it keeps holder draining after the next reload. */
static int slow_request(struct chaos *c, pid_t holder)
{
	int fd = http_send("127.0.0.1", c->port, "/sleep?ms=30000");
	if (fd < 0)
		CHAOS_FAIL("slow request: %s", strerror(-fd));
	if (!wait_request_taken(holder, fd, 10000))
		CHAOS_FAIL("generation %d did not take the slow request", (int)holder);
	return fd;
}

/* The slow request must not be answered: its holder was killed. */
static void slow_failed(int fd)
{
	char body[256];
	int code = http_answer(fd, body, sizeof body, 10000);
	if (code == 200)
		CHAOS_FAIL("the killed generation answered: %s", body);
	if (code == -ETIMEDOUT)
		CHAOS_FAIL("the slow request held by the killed generation did not end");
}

/* ------------------------------------------------------------ library steps */

struct new_serving {
	struct chaos *c;
	pid_t old, now;
};

static int replaced(void *arg)
{
	struct new_serving *w = arg;
	reap_children();
	w->now = read_pid(w->c->pidfile);
	return w->now > 0 && w->now != w->old && answers_as(w->c->port, w->now);
}

/* SIGHUP to the serving generation; returns the new one once it serves. */
static pid_t library_reload(struct chaos *c, pid_t old)
{
	struct new_serving w = { c, old, 0 };
	if (kill(old, SIGHUP) < 0)
		CHAOS_FAIL("kill -HUP %d: %s", (int)old, strerror(errno));
	if (!wait_for(replaced, &w, 10000 + c->ready_timeout_ms))
		CHAOS_FAIL("no new generation serving after SIGHUP to %d", (int)old);
	return w.now;
}

static void library_step_reload(struct chaos *c, pid_t serving)
{
	library_reload(c, serving);
	int status;
	if (!wait_child(serving, 30000, &status))
		CHAOS_FAIL("generation %d did not finish draining", (int)serving);
}

/* SIGHUP with the gate closed: the successor's pid, held at the gate. */
static pid_t library_gated_start(struct chaos *c, pid_t serving)
{
	const char *needle = "upgrade started: successor pid ";
	int before = count_in_file(c->log, needle);
	gate(c, 1);
	if (kill(serving, SIGHUP) < 0)
		CHAOS_FAIL("kill -HUP %d: %s", (int)serving, strerror(errno));
	if (!wait_file_contains(c->log, needle, before + 1, 10000))
		CHAOS_FAIL("no upgrade started after SIGHUP to %d", (int)serving);
	return (pid_t)last_number_after(c->log, needle);
}

static void library_step_kill_starting(struct chaos *c, pid_t serving)
{
	pid_t starting = library_gated_start(c, serving);
	int pidfd = pidfd_of(starting);
	if (pidfd < 0)
		CHAOS_FAIL("the starting generation %d is gone: %s", (int)starting,
			   strerror(errno));
	kill_recorded(pidfd, starting, 0);
	close(pidfd);
	gate(c, 0);
	char want[128];
	snprintf(want, sizeof want, "upgrade failed: successor %d was killed by signal 9",
		 (int)starting);
	if (!wait_file_contains(c->log, want, 1, 10000))
		CHAOS_FAIL("generation %d did not report \"%s\"", (int)serving, want);
	if (read_pid(c->pidfile) != serving)
		CHAOS_FAIL("after a failed upgrade the pid file names %d, not %d",
			   (int)read_pid(c->pidfile), (int)serving);
}

static void library_step_stop_starting(struct chaos *c, pid_t serving)
{
	pid_t starting = library_gated_start(c, serving);
	int pidfd = pidfd_of(starting);
	if (pidfd < 0 || pidfd_signal(pidfd, SIGSTOP) < 0)
		CHAOS_FAIL("SIGSTOP to the starting generation %d: %s", (int)starting,
			   strerror(errno));
	step_log("  SIGSTOP %d (starting)", (int)starting);
	gate(c, 0);
	char want[128];
	snprintf(want, sizeof want, "upgrade failed: successor %d was not ready in time",
		 (int)starting);
	if (!wait_file_contains(c->log, want, 1, 10000 + c->ready_timeout_ms))
		CHAOS_FAIL("generation %d did not report \"%s\"", (int)serving, want);
	pidfd_signal(pidfd, SIGCONT); /* killed and reaped by now: ESRCH */
	step_log("  SIGCONT %d", (int)starting);
	close(pidfd);
	if (read_pid(c->pidfile) != serving)
		CHAOS_FAIL("after a failed upgrade the pid file names %d, not %d",
			   (int)read_pid(c->pidfile), (int)serving);
}

static void library_step_kill_draining(struct chaos *c, pid_t serving)
{
	int slow = slow_request(c, serving);
	int pidfd = pidfd_of(serving);
	library_reload(c, serving);
	struct proc p;
	if (!proc_read(serving, &p) || p.state == 'Z')
		CHAOS_FAIL("generation %d stopped draining with a request in flight",
			   (int)serving);
	kill_recorded(pidfd, serving, 1);
	close(pidfd);
	slow_failed(slow);
	int status;
	if (!wait_child(serving, 10000, &status))
		CHAOS_FAIL("the killed generation %d was not reaped", (int)serving);
}

/* Lines of path holding both a and b. */
static int count_lines_with(const char *path, const char *a, const char *b)
{
	char *text = read_file(path), *save = NULL;
	int n = 0;
	for (char *line = text ? strtok_r(text, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		n += strstr(line, a) && strstr(line, b);
	free(text);
	return n;
}

/* SIGHUPs to the serving generation, at once or a few milliseconds apart
 * (the shape of the burst, not a wait): one upgrade starts, the others are
 * refused (busy, or handed over). All go to one generation: a SIGHUP sent to
 * its successor could be handled after any check the test makes (a
 * handler takes it at once, the loop later), so a burst that followed the
 * pid file would have no end the test can see; httpd_sighup_burst covers
 * that shape, counting upgrades against the generations it reaps. */
static void library_step_burst(struct chaos *c, pid_t serving)
{
	int count = 2 + rng_below(9), spacing = rng_below(3) * 5, status;
	char who[32];
	snprintf(who, sizeof who, "httpd[%d] ", (int)serving);
	int before = count_lines_with(c->log, who, "upgrade started: ");
	step_log("  %d SIGHUPs, %d ms apart", count, spacing);
	for (int i = 0; i < count; i++) {
		if (kill(serving, SIGHUP) < 0 && errno != ESRCH)
			CHAOS_FAIL("kill -HUP %d: %s", (int)serving, strerror(errno));
		if (spacing)
			pause_ms(spacing);
	}
	struct new_serving w = { c, serving, 0 };
	if (!wait_for(replaced, &w, 10000 + c->ready_timeout_ms))
		CHAOS_FAIL("no new generation serving after %d SIGHUPs to %d", count,
			   (int)serving);
	if (!wait_child(serving, 30000, &status))
		CHAOS_FAIL("generation %d did not finish draining", (int)serving);
	int started = count_lines_with(c->log, who, "upgrade started: ") - before;
	if (started != 1)
		CHAOS_FAIL("%d SIGHUPs to %d started %d upgrades", count, (int)serving, started);
}

/* ------------------------------------------------------------ supervisor steps */

static pid_t reload_in_background(struct chaos *c, const char *out)
{
	char *argv[] = { c->handoff_bin, "reload", "--pidfile", c->pidfile, NULL };
	struct spawn_options o = { .output = out };
	unlink(out);
	pid_t pid = spawn(argv, &o);
	forget_reaped(pid);
	commands[command_next++ % MAX_COMMANDS] = pid;
	return pid;
}

/* A background reload's exit status; its output in `said`. */
static int reload_result(pid_t pid, const char *out, int timeout_ms)
{
	int status;
	if (!wait_child(pid, timeout_ms, &status))
		CHAOS_FAIL("handoff reload %d did not return", (int)pid);
	slurp(said.out, sizeof said.out, out); /* stdout and stderr, both */
	said.err[0] = '\0';
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void supervisor_step_reload(struct chaos *c)
{
	int code = handoff((char *[]){ "reload", "--pidfile", c->pidfile, NULL });
	if (code != 0 || !said_has("ok generation "))
		CHAOS_FAIL("reload: exit %d: %s%s", code, said.out, said.err);
}

struct starting_wait {
	struct chaos *c;
	pid_t pid;
};

static int has_starting(void *arg)
{
	struct starting_wait *w = arg;
	struct gens g;
	chaos_generations(w->c, &g);
	w->pid = g.starting ? g.starting_pid : 0;
	if (!w->pid)
		pause_ms(10);
	return w->pid > 0;
}

/* A reload with the gate closed: the starting generation's pid, held. */
static pid_t supervisor_gated_start(struct chaos *c, pid_t *reload, const char *out)
{
	struct starting_wait w = { c, 0 };
	gate(c, 1);
	*reload = reload_in_background(c, out);
	if (!wait_for(has_starting, &w, 10000))
		CHAOS_FAIL("no generation starting after a reload");
	return w.pid;
}

static void supervisor_step_kill_starting(struct chaos *c)
{
	char out[512];
	pid_t reload;
	snprintf(out, sizeof out, "%s", work_path("reload.out"));
	pid_t starting = supervisor_gated_start(c, &reload, out);
	int pidfd = pidfd_of(starting);
	if (pidfd < 0)
		CHAOS_FAIL("the starting generation %d is gone: %s", (int)starting,
			   strerror(errno));
	kill_recorded(pidfd, starting, 0);
	close(pidfd);
	gate(c, 0);
	int code = reload_result(reload, out, 20000);
	if (code != 1 || !said_has("killed by signal 9"))
		CHAOS_FAIL("reload whose generation was killed: exit %d: %s%s", code, said.out, said.err);
}

static void supervisor_step_stop_starting(struct chaos *c)
{
	char out[512];
	pid_t reload;
	snprintf(out, sizeof out, "%s", work_path("reload.out"));
	pid_t starting = supervisor_gated_start(c, &reload, out);
	int pidfd = pidfd_of(starting);
	if (pidfd < 0 || pidfd_signal(pidfd, SIGSTOP) < 0)
		CHAOS_FAIL("SIGSTOP to the starting generation %d: %s", (int)starting,
			   strerror(errno));
	step_log("  SIGSTOP %d (starting)", (int)starting);
	gate(c, 0);
	int code = reload_result(reload, out, 20000 + c->ready_timeout_ms);
	if (code != 1 || !said_has("not ready in time"))
		CHAOS_FAIL("reload whose generation was stopped: exit %d: %s%s", code, said.out, said.err);
	pidfd_signal(pidfd, SIGCONT); /* killed and reaped by now: ESRCH */
	step_log("  SIGCONT %d", (int)starting);
	close(pidfd);
}

struct gone_wait {
	struct chaos *c;
	pid_t pid;
};

static int not_listed(void *arg)
{
	struct gone_wait *w = arg;
	struct gens g;
	chaos_generations(w->c, &g);
	char want[32];
	snprintf(want, sizeof want, " pid %d ", (int)w->pid);
	int listed = strstr(g.what, want) != NULL;
	if (listed)
		pause_ms(10);
	return !listed;
}

static void supervisor_step_kill_draining(struct chaos *c, pid_t serving)
{
	int slow = slow_request(c, serving);
	int pidfd = pidfd_of(serving);
	supervisor_step_reload(c);
	struct gens g;
	chaos_generations(c, &g);
	char want[64];
	snprintf(want, sizeof want, " pid %d draining;", (int)serving);
	if (!strstr(g.what, want))
		CHAOS_FAIL("generation %d should be draining a request:%s", (int)serving,
			   g.what);
	kill_recorded(pidfd, serving, 1);
	close(pidfd);
	slow_failed(slow);
	struct gone_wait w = { c, serving };
	if (!wait_for(not_listed, &w, 10000))
		CHAOS_FAIL("the killed generation %d is still listed", (int)serving);
}

static void supervisor_step_kill_serving(struct chaos *c, pid_t serving)
{
	int pidfd = pidfd_of(serving);
	if (pidfd < 0)
		CHAOS_FAIL("the serving generation %d is gone: %s", (int)serving,
			   strerror(errno));
	kill_recorded(pidfd, serving, 2);
	close(pidfd);
	struct gone_wait w = { c, serving };
	if (!wait_for(not_listed, &w, 10000))
		CHAOS_FAIL("the killed generation %d is still listed", (int)serving);
}

/* Reload commands all at once, and SIGHUPs to the supervisor among them:
 * each command either reloads or is told the supervisor is busy. */
static void supervisor_step_burst(struct chaos *c, unsigned before)
{
	enum { MAX_BURST = 10 };
	int count = 2 + rng_below(MAX_BURST - 1), hups = rng_below(3);
	pid_t pids[MAX_BURST];
	char outs[MAX_BURST][64];
	step_log("  %d reload commands and %d SIGHUPs", count, hups);
	for (int i = 0; i < count; i++) {
		snprintf(outs[i], sizeof outs[i], "burst-%d.out", i);
		pids[i] = reload_in_background(c, work_path(outs[i]));
		if (i < hups)
			kill(c->supervisor, SIGHUP);
	}
	int ok = 0;
	for (int i = 0; i < count; i++) {
		int code = reload_result(pids[i], work_path(outs[i]), 30000 + c->ready_timeout_ms);
		if (code == 0 && said_has("ok generation "))
			ok++;
		else if (code != 1 || !said_has("busy"))
			CHAOS_FAIL("reload in a burst: exit %d: %s%s", code, said.out, said.err);
	}
	struct gens g = settle(c);
	if (g.serving_number <= before)
		CHAOS_FAIL("a burst of %d reloads (%d ok) and %d SIGHUPs left generation %u "
			   "serving", count, ok, hups, g.serving_number);
	step_log("  %d of %d reload commands reloaded", ok, count);
}

/* ------------------------------------------------------------ a step */

static void run_step(struct chaos *c)
{
	struct gens g = settle(c);
	pid_t serving = g.serving;
	forget_reaped(serving);
	step_log("step %d/%d %s (serving %d)", c->step, c->steps, step_name[c->kind],
		 (int)serving);
	switch (c->kind) {
	case STEP_RELOAD:
		if (c->mode == LIBRARY)
			library_step_reload(c, serving);
		else
			supervisor_step_reload(c);
		break;
	case STEP_KILL_STARTING:
		if (c->mode == LIBRARY)
			library_step_kill_starting(c, serving);
		else
			supervisor_step_kill_starting(c);
		break;
	case STEP_STOP_STARTING:
		if (c->mode == LIBRARY)
			library_step_stop_starting(c, serving);
		else
			supervisor_step_stop_starting(c);
		break;
	case STEP_KILL_DRAINING:
		if (c->mode == LIBRARY)
			library_step_kill_draining(c, serving);
		else
			supervisor_step_kill_draining(c, serving);
		break;
	case STEP_KILL_SERVING:
		supervisor_step_kill_serving(c, serving);
		break;
	case STEP_BURST:
		if (c->mode == LIBRARY)
			library_step_burst(c, serving);
		else
			supervisor_step_burst(c, g.serving_number);
		break;
	case STEP_KINDS:
		break;
	}
	c->done[c->kind]++;
}

/* What must hold after every step. */
static void check_step(struct chaos *c)
{
	char body[256];
	if (!wait_http_body("127.0.0.1", c->port, "/", "generation=", body, sizeof body,
			    15000))
		CHAOS_FAIL("the port does not answer: %s", body);
	struct gens g;
	chaos_generations(c, &g); /* fails past the bounds */
	g = settle(c);
	if (!wait_for(no_zombies, NULL, 5000))
		CHAOS_FAIL("zombies:%s", last_zombies.seen);
	if (c->mode == SUPERVISOR)
		expect_fds("the supervisor", c->supervisor, count_fds, c->fd_supervisor);
	expect_fds("the serving generation", g.serving, non_connection_fds, c->fd_serving);
	check_failures();
}

/* ------------------------------------------------------------ a mode */

static void start_library(struct chaos *c)
{
	char *extra[] = { "--ready-timeout", c->ready_timeout, "--drain-timeout", "20000",
			  "--idle-grace", c->idle_grace, NULL };
	httpd_start(&c->httpd, c->program, extra);
	c->port = c->httpd.port;
	snprintf(c->address, sizeof c->address, "%s", c->httpd.address);
	snprintf(c->pidfile, sizeof c->pidfile, "%s", c->httpd.pidfile);
	snprintf(c->log, sizeof c->log, "%s", c->httpd.log);
}

static void start_supervisor(struct chaos *c)
{
	char timeout[40];
	c->port = free_port();
	snprintf(c->address, sizeof c->address, "127.0.0.1:%d", c->port);
	snprintf(c->pidfile, sizeof c->pidfile, "%s", work_path("handoff.pid"));
	snprintf(c->log, sizeof c->log, "%s", work_path("handoff.log"));
	snprintf(timeout, sizeof timeout, "%sms", c->ready_timeout);
	/* --stable-after short: a kill of the serving generation soon after
	 * another is still restarted at once, not after a growing back-off. */
	char *argv[] = { c->handoff_bin, "run", "--pidfile", c->pidfile, "--ready-timeout",
			 timeout, "--stable-after", "200ms", "-l", c->address, "--",
			 c->program, "--listen", c->address, "--drain-timeout", "20000",
			 "--idle-grace", c->idle_grace, NULL };
	struct spawn_options o = { .output = c->log };
	c->supervisor = spawn(argv, &o);
	if (!wait_file_contains(c->log, "ok: generation 1 (pid", 1, 20000))
		CHAOS_FAIL("the supervisor's first generation is not ready");
}

static void stop_server(struct chaos *c, pid_t serving)
{
	pid_t pid = c->mode == LIBRARY ? serving : c->supervisor;
	int status;
	c->supervisor = 0; /* its end is no failure any more */
	kill(pid, SIGTERM);
	if (!wait_child(pid, 30000, &status))
		CHAOS_FAIL("%d did not stop", (int)pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		CHAOS_FAIL("%d stopped with status 0x%x", (int)pid, status);
}

static int nothing_running(void *arg)
{
	(void)arg;
	reap_children();
	return count_guarded() == 0;
}

/* Each mode's figures, printed once both have run: the runner shows the
 * end of a test's output, and loadgen's report comes in between. */
static char figures[MODES][2048];

static void add_figures(struct chaos *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void add_figures(struct chaos *c, const char *fmt, ...)
{
	char *f = figures[c->mode];
	size_t len = strlen(f);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f + len, sizeof figures[0] - len, fmt, ap);
	va_end(ap);
}

static void note_figures(struct chaos *c, const struct load_result *r)
{
	figures[c->mode][0] = '\0';
	add_figures(c, "chaos %s, seed %" PRIu64 ": %d steps in %.1f s:", mode_name[c->mode],
		    c->seed, c->steps, (double)(now_ms() - c->started_ms) / 1000);
	for (int k = 0; k < STEP_KINDS; k++)
		if (!skipped(c->mode, k, c->is_short))
			add_figures(c, " %s %d%s", step_name[k], c->done[k],
				    k < STEP_BURST ? "," : "");
	add_figures(c, "\n  kills: %d starting, %d draining, %d serving\n",
		    c->kills_by_role[0], c->kills_by_role[1], c->kills_by_role[2]);
	add_figures(c, "  requests %ld (ok %ld), generations %ld (last %ld), failed %ld:",
		    r->requests, r->ok, r->generations, r->gen_max, r->failed);
	for (int k = 0; k < FAILURE_KINDS; k++)
		add_figures(c, " %s %ld%s", failure_kinds[k], c->failures_by_kind[k],
			    k < FAILURE_KINDS - 1 ? "," : "\n");
	add_figures(c, "  held by a killed process: %ld (%ld by the pid that answered "
		    "last, %ld in flight during a kill); unexplained: 0\n",
		    c->by_pid + c->by_time, c->by_pid, c->by_time);
}

static void plan_steps(struct chaos *c, enum step_kind *plan)
{
	int n = 0;
	if (c->is_short) {
		/* Every kind once, in an order drawn from the seed... */
		for (int k = 0; k < STEP_KINDS; k++)
			if (!skipped(c->mode, k, 1))
				plan[n++] = k;
		for (int i = n - 1; i > 0; i--) {
			int j = rng_below(i + 1);
			enum step_kind t = plan[i];
			plan[i] = plan[j];
			plan[j] = t;
		}
	}
	/* ...then drawn by weight. */
	int total = 0;
	for (int k = 0; k < STEP_KINDS; k++)
		total += skipped(c->mode, k, c->is_short) ? 0 : step_weight[k];
	for (; n < c->steps; n++) {
		int pick = rng_below(total), k = 0;
		for (;; k++) {
			if (skipped(c->mode, k, c->is_short))
				continue;
			if (pick < step_weight[k])
				break;
			pick -= step_weight[k];
		}
		plan[n] = k;
	}
}

static void run_mode(enum mode mode, uint64_t seed, int steps, int is_short)
{
	static struct chaos c;
	c = (struct chaos){ .mode = mode, .seed = seed, .is_short = is_short,
			    .started_ms = now_ms() };
	current = &c;
	kill_count = 0; /* each mode has its own port, load and failures */
	rng_state = seed ^ (mode * 0xD1B54A32D192ED03ull);
	/* A normal start (bash, then httpd) takes milliseconds; a stopped one
	 * costs the whole timeout. */
	c.ready_timeout_ms = 1500 * timeout_multiplier;
	snprintf(c.ready_timeout, sizeof c.ready_timeout, "%d", c.ready_timeout_ms);
	/* httpd closes a keep-alive connection that stays idle past this grace
	 * once it drains; a request the client sends at that moment meets the
	 * close (an EOF no kill explains). The load's connections are never
	 * idle unless loadgen is starved of CPU, and with the default 100 ms a
	 * long run on a loaded machine met that once in 180 steps: a grace of
	 * seconds keeps what the test checks to the faults. */
	snprintf(c.idle_grace, sizeof c.idle_grace, "%d", 3000 * timeout_multiplier);
	snprintf(c.handoff_bin, sizeof c.handoff_bin, "%s", bin_path("handoff"));
	snprintf(c.program, sizeof c.program, "%s", work_path("httpd"));
	snprintf(c.gate, sizeof c.gate, "%s", work_path("gate"));
	snprintf(c.failures, sizeof c.failures, "%s",
		 work_path(mode == LIBRARY ? "library.failures" : "supervisor.failures"));
	c.steps_log = fopen(work_path("chaos-steps.log"), "ae");
	if (!c.steps_log)
		FAIL("chaos-steps.log: %s", strerror(errno));
	if (is_short) { /* every kind the mode has, once, and one more */
		steps = 1;
		for (int k = 0; k < STEP_KINDS; k++)
			steps += !skipped(mode, k, 1);
	}
	step_log("chaos %s, seed %" PRIu64 ", %d steps", mode_name[mode], seed, steps);
	enum step_kind *plan = calloc((size_t)steps + STEP_KINDS, sizeof *plan);
	if (!plan)
		FAIL("out of memory");
	c.steps = steps;
	plan_steps(&c, plan);
	write_gate_script(&c);
	unlink(c.failures);

	if (mode == LIBRARY)
		start_library(&c);
	else
		start_supervisor(&c);
	struct gens g = settle(&c);
	forget_reaped(g.serving);
	if (mode == SUPERVISOR)
		forget_reaped(c.supervisor);
	c.fd_idle = idle_fds(g.serving);
	c.fd_serving = non_connection_fds(g.serving);
	c.fd_supervisor = mode == SUPERVISOR ? count_fds(c.supervisor) : 0;
	char timeout[32];
	snprintf(timeout, sizeof timeout, "%d", 10000 * timeout_multiplier);
	load_start(&c.load, c.port, (char *[]){ "--keepalive", "4", "--fresh", "2",
						"--timeout", timeout, "--failures",
						c.failures, NULL });
	long started = now_ms();
	for (c.step = 1; c.step <= steps; c.step++) {
		c.kind = plan[c.step - 1];
		long step_start = now_ms();
		run_step(&c);
		long checks_start = now_ms();
		check_step(&c);
		if (is_short)
			printf("  %s step %d: %s, %ld ms, checks %ld ms\n", mode_name[mode],
			       c.step, step_name[c.kind], checks_start - step_start,
			       now_ms() - checks_start);
		if (c.step % 50 == 0)
			printf("  %s: %d steps in %.1f s\n", mode_name[mode], c.step,
			       (double)(now_ms() - started) / 1000);
	}
	c.step = steps;
	free(plan);

	/* The end: the load stops, every failure is accounted for, and the
	 * serving generation, without clients, has what it had at the start. */
	struct load_result r;
	load_stop(&c.load, &r);
	c.load.pid = 0;
	long lines = check_failures();
	long logged = 0;
	for (int k = 0; k < FAILURE_KINDS; k++)
		logged += c.failures_by_kind[k];
	if (logged != r.failed)
		CHAOS_FAIL("loadgen counted %ld failures and logged %ld (%ld just now)", r.failed,
			   logged, lines);
	g = settle(&c);
	forget_reaped(g.serving);
	int idle = idle_fds(g.serving);
	if (idle != c.fd_idle) {
		char listing[8192];
		fd_listing(g.serving, listing, sizeof listing);
		CHAOS_FAIL("the serving generation %d has %d descriptors without clients, "
			   "generation 1 had %d:\n%s", (int)g.serving, idle, c.fd_idle, listing);
	}
	if (r.ok == 0)
		CHAOS_FAIL("no request succeeded");
	note_figures(&c, &r);
	stop_server(&c, g.serving);
	if (!wait_for(nothing_running, NULL, 10000))
		CHAOS_FAIL("%d processes the test started are still running", count_guarded());
	step_log("chaos %s done", mode_name[mode]);
	fclose(c.steps_log);
	c.steps_log = NULL;
	current = NULL;
}

/* ------------------------------------------------------------ the tests */

static uint64_t chaos_seed(void)
{
	const char *text = getenv("HANDOFF_CHAOS_SEED");
	if (text && *text) {
		char *end;
		errno = 0;
		unsigned long long seed = strtoull(text, &end, 0);
		if (errno || *end)
			FAIL("HANDOFF_CHAOS_SEED=%s: not a number", text);
		return seed;
	}
	return (uint64_t)clock_us() ^ ((uint64_t)getpid() << 32);
}

/* HANDOFF_CHAOS_MODE: library, supervisor, or both (the default). */
static int mode_wanted(enum mode mode)
{
	const char *text = getenv("HANDOFF_CHAOS_MODE");
	if (!text || !*text || strcmp(text, "both") == 0)
		return 1;
	if (strcmp(text, "library") != 0 && strcmp(text, "supervisor") != 0)
		FAIL("HANDOFF_CHAOS_MODE=%s: library, supervisor or both", text);
	return strcmp(text, mode_name[mode]) == 0;
}

static void chaos(int steps_per_mode, int is_short)
{
	uint64_t seed = chaos_seed();
	printf("seed %" PRIu64 "\n", seed);
	fflush(stdout);
	locate(); /* the guard, and the binaries supervisor-kit's handoff() runs */
	for (int mode = 0; mode < MODES; mode++)
		if (mode_wanted(mode))
			run_mode(mode, seed, steps_per_mode, is_short);
	for (int mode = 0; mode < MODES; mode++)
		fputs(figures[mode], stdout);
}

/* In `make test`: every step kind once per mode, and one more. */
void test_chaos_short(void)
{
	chaos(0, 1);
}

/* On demand: HANDOFF_CHAOS_STEPS steps per mode (make chaos). */
void test_chaos_long(void)
{
	const char *text = getenv("HANDOFF_CHAOS_STEPS");
	if (!text || !*text) {
		SKIP("set HANDOFF_CHAOS_STEPS (make chaos STEPS=500)");
	}
	char *end;
	long steps = strtol(text, &end, 10);
	if (*end || steps < 1 || steps > 100000)
		FAIL("HANDOFF_CHAOS_STEPS=%s: a number of steps from 1 to 100000", text);
	chaos((int)steps, 0);
}
