/* supervisor.c — what `handoff run` costs: the time a reload takes beyond
 * the server's own start-up, and the supervisor's memory. (Per request it
 * costs nothing: it never touches traffic, only the listening sockets.)
 *
 * The server is examples/echo. Its own start-up is timed from fork to its
 * READY=1; a reload from SIGHUP to the supervisor to the supervisor's own
 * READY=1, which it sends once the new generation has told it so.
 *
 * Then a storm: reload requests on the control socket (what `handoff
 * reload` sends) at 100 per second for 10 s, whether or not the last one is
 * over, as a deploy script gone wrong would send them. What it costs the
 * supervisor: CPU time per reload, and whether its memory or descriptors
 * grow. */
#include "bench.h"
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { SAMPLES = 100, STORM_RATE = 100, STORM_SECONDS = 10, STORM_WARM_UP_SECONDS = 2,
       STORM_OPEN = 256 };

/* echo started directly, as a service manager would: fork to READY=1. */
static long own_startup_us(int notify, char *env, const char *addr)
{
	long took[SAMPLES];
	for (int i = 0; i < SAMPLES; i++) {
		struct spawn_options o = { .output = work_path("echo.log"),
					   .env = (char *[]){ env, NULL } };
		long start = clock_us();
		pid_t pid = spawn((char *[]){ bin_path("examples/echo"), (char *)addr,
					      NULL }, &o);
		if (!bench_wait_ready(notify, 10000, NULL))
			FAIL("echo did not say READY=1");
		took[i] = clock_us() - start;
		kill(pid, SIGKILL);
		int status;
		wait_exit(pid, 10000, &status);
	}
	return percentile(took, SAMPLES, 50);
}

static long status_kib(pid_t pid, const char *field)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	char *text = read_file(path), *p = text ? strstr(text, field) : NULL;
	long kib = p ? strtol(p + strlen(field), NULL, 10) : -1;
	free(text);
	return kib;
}

/* --- the storm */

struct storm {
	long sent, ok, refused, other, unanswered;
	char other_answer[128]; /* the first answer that was neither */
	struct pollfd open[STORM_OPEN];
	int count;
};

/* One request, "handoff-control 1 reload\n", on a connection of its own;
 * its answer is read later. The request fits the socket buffer: one write. */
static void storm_send(struct storm *s, const struct sockaddr_un *a)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	static const char request[] = "handoff-control 1 reload\n";
	s->sent++;
	if (fd < 0 || connect(fd, (const struct sockaddr *)a, sizeof *a) < 0 ||
	    write(fd, request, sizeof request - 1) != (ssize_t)sizeof request - 1 ||
	    s->count == STORM_OPEN) {
		if (!s->other++)
			snprintf(s->other_answer, sizeof s->other_answer, "%s",
				 s->count == STORM_OPEN ? "(too many unanswered)" : strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	s->open[s->count++] = (struct pollfd){ .fd = fd, .events = POLLIN };
}

/* Reads the answers that have come, until timeout_ms. */
static void storm_collect(struct storm *s, int timeout_ms)
{
	if (poll(s->open, (nfds_t)s->count, timeout_ms) <= 0)
		return;
	for (int i = 0; i < s->count; i++) {
		if (!s->open[i].revents)
			continue;
		char answer[512];
		ssize_t n = read(s->open[i].fd, answer, sizeof answer - 1);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		answer[n > 0 ? n : 0] = '\0';
		if (strncmp(answer, "ok", 2) == 0) {
			s->ok++;
		} else if (strncmp(answer, "error busy", 10) == 0) {
			s->refused++;
		} else {
			if (!s->other++)
				snprintf(s->other_answer, sizeof s->other_answer, "%.100s", answer);
		}
		close(s->open[i].fd);
		s->open[i--] = s->open[--s->count];
	}
}

static double cpu_ms(pid_t pid)
{
	struct process_stat st;
	if (!process_stat(pid, &st))
		FAIL("the supervisor (%d) is gone", (int)pid);
	return (double)(st.utime + st.stime) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

/* One generation left, the others drained: the descriptors a draining
 * generation holds in the supervisor (its filter's) are no growth. */
static int settled(void *arg)
{
	pid_t child;
	return children_of(*(pid_t *)arg, &child, 1) == 1;
}

static void settle(pid_t supervisor)
{
	if (!wait_for(settled, &supervisor, 10000))
		FAIL("the supervisor still has generations draining after 10 s");
}

struct fd_goal {
	pid_t pid;
	int count;
};

static int fds_back(void *arg)
{
	const struct fd_goal *g = arg;
	return count_fds(g->pid) <= g->count;
}

/* The supervisor's descriptors once they hold still for 100 ms (the last
 * reload's hang-ups and exits handled), within 5 s. */
static int fds_at_rest(pid_t pid)
{
	int last = count_fds(pid);
	for (int i = 0; i < 50; i++) {
		pause_ms(100);
		int now = count_fds(pid);
		if (now == last)
			break;
		last = now;
	}
	return last;
}

static void storm(pid_t supervisor, const char *control, int second)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	if (strlen(control) >= sizeof a.sun_path)
		FAIL("control socket path too long: %s", control);
	memcpy(a.sun_path, control, strlen(control));
	settle(supervisor);
	int fds_before = fds_at_rest(supervisor);
	long rss_before = status_kib(supervisor, "VmRSS:");
	long anon_before = status_kib(supervisor, "RssAnon:");
	double cpu_before = cpu_ms(supervisor);
	struct storm s = { 0 };
	long rss_each[STORM_SECONDS] = { 0 };
	int seconds = second ? STORM_SECONDS : STORM_WARM_UP_SECONDS;
	long start = clock_us(), interval = 1000000 / STORM_RATE;
	for (long k = 0; k < (long)STORM_RATE * seconds; k++) {
		long when = start + k * interval;
		if (k % STORM_RATE == 0)
			rss_each[k / STORM_RATE] = status_kib(supervisor, "RssAnon:");
		for (long now = clock_us(); now < when; now = clock_us())
			storm_collect(&s, (int)((when - now + 999) / 1000));
		storm_send(&s, &a);
	}
	/* The last reload is answered once its generation is ready. */
	for (long deadline = clock_us() + 10000000; s.count && clock_us() < deadline;)
		storm_collect(&s, 100);
	s.unanswered = s.count;
	for (int i = 0; i < s.count; i++)
		close(s.open[i].fd);
	long took = clock_us() - start;
	double cpu = cpu_ms(supervisor) - cpu_before;
	settle(supervisor);
	/* The last generation's exit and the storm's hang-ups reach the
	 * supervisor's loop a moment after we see them: a descriptor still held
	 * 5 s later is growth. */
	wait_for(fds_back, &(struct fd_goal){ supervisor, fds_before }, 5000);
	long rss_after = status_kib(supervisor, "VmRSS:");
	long anon_after = status_kib(supervisor, "RssAnon:");
	int fds_after = count_fds(supervisor);

	printf("\nreload storm %d: %ld requests on the control socket in %.1f s "
	       "(%d per second)\n", second + 1, s.sent, took / 1e6, STORM_RATE);
	printf("  reloaded %ld, refused as busy %ld, other %ld%s%s, unanswered %ld\n",
	       s.ok, s.refused, s.other, s.other ? ", first: " : "", s.other_answer,
	       s.unanswered);
	printf("  supervisor's anonymous memory each second (KiB):");
	for (int i = 0; i < seconds; i++)
		printf(" %ld", rss_each[i]);
	printf("\n");
	printf("  supervisor CPU %.0f ms: %.3f ms per reload, %.3f ms per request\n",
	       cpu, s.ok ? cpu / (double)s.ok : 0.0, s.sent ? cpu / (double)s.sent : 0.0);
	printf("  supervisor RSS %ld KiB before, %ld KiB after (anonymous %ld, %ld); "
	       "descriptors %d before, %d after\n", rss_before, rss_after, anon_before,
	       anon_after, fds_before, fds_after);
	bench_target(s.other == 0 && s.unanswered == 0 && s.ok > 0,
		     "reload storm %d: every request answered, ok or refused (%ld ok, %ld refused, "
		     "%ld other, %ld unanswered)", second + 1, s.ok, s.refused, s.other, s.unanswered);
	/* Growth is judged on the anonymous memory, where a leak would be (the
	 * heap, the stack): the RSS also counts pages of the binary and libc
	 * mapped the first time a path runs, a few KiB at most once, shared with
	 * every other process and bounded by their size. Two pages of slack:
	 * malloc keeps or trims the top of its heap as it likes. */
	if (second)
		bench_target(anon_before > 0 && anon_after <= anon_before + 8 &&
			     fds_after <= fds_before,
			     "reload storm: no growth in the second storm (anonymous memory "
			     "%ld -> %ld KiB, descriptors %d -> %d; RSS %ld -> %ld KiB)",
			     anon_before, anon_after, fds_before, fds_after, rss_before, rss_after);
}

void bench_supervisor(void)
{
	char env[128], addr[32];
	int notify = bench_notify_listener(env, sizeof env);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", free_port());
	long own = own_startup_us(notify, env, addr);

	struct spawn_options o = { .output = work_path("handoff.log"),
				   .env = (char *[]){ env, NULL } };
	char pidfile[256], control[300];
	snprintf(pidfile, sizeof pidfile, "%s", work_path("handoff.pid"));
	snprintf(control, sizeof control, "%s.control", pidfile);
	pid_t supervisor = spawn((char *[]){ bin_path("handoff"), "run", "--pidfile", pidfile,
					     "-l", addr, "--", bin_path("examples/echo"), addr,
					     NULL }, &o);
	if (!bench_wait_ready(notify, 10000, NULL))
		FAIL("the supervisor did not say READY=1");
	long rss_start = status_kib(supervisor, "VmRSS:");
	long took[SAMPLES];
	for (int i = 0; i < SAMPLES; i++) {
		long start = clock_us();
		kill(supervisor, SIGHUP);
		if (!bench_wait_ready(notify, 10000, NULL)) /* skips RELOADING=1 */
			FAIL("no READY=1 after a reload");
		took[i] = clock_us() - start;
	}
	long reload = percentile(took, SAMPLES, 50);
	long rss = status_kib(supervisor, "VmRSS:"), hwm = status_kib(supervisor, "VmHWM:");
	/* Twice: the first, short, storm is also the first use of the control
	 * path with many clients at once (the heap settles, pages are touched
	 * for the first time); growth would show in the second. */
	storm(supervisor, control, 0);
	storm(supervisor, control, 1);
	kill(supervisor, SIGTERM);
	int status;
	wait_exit(supervisor, 30000, &status);
	close(notify);

	printf("\nsupervisor (handoff run -- examples/echo), %d reloads\n", SAMPLES);
	printf("  echo's own start-up (fork to READY=1), median   %7.3f ms\n", own / 1000.0);
	printf("  reload (SIGHUP to the supervisor's READY=1)    %7.3f ms\n", reload / 1000.0);
	printf("  the supervisor's part                           %7.3f ms\n",
	       (reload - own) / 1000.0);
	printf("  supervisor RSS: %ld KiB at start, %ld KiB after, peak %ld KiB\n",
	       rss_start, rss, hwm);
	bench_target(reload - own <= 2000, "supervisor reload within 2 ms of the "
		     "server's own start-up (%.3f ms over)", (reload - own) / 1000.0);
	bench_target(hwm < 2048, "supervisor RSS under 2 MiB (peak %ld KiB)", hwm);
}
