/* supervisor.c — what `handoff run` costs: the time a reload takes beyond
 * the server's own start-up, and the supervisor's memory. (Per request it
 * costs nothing: it never touches traffic, only the listening sockets.)
 *
 * The server is examples/echo. Its own start-up is timed from fork to its
 * READY=1; a reload from SIGHUP to the supervisor to the supervisor's own
 * READY=1, which it sends once the new generation has told it so. */
#include "bench.h"
#include "harness.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

enum { SAMPLES = 100 };

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

void bench_supervisor(void)
{
	char env[128], addr[32];
	int notify = bench_notify_listener(env, sizeof env);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", free_port());
	long own = own_startup_us(notify, env, addr);

	struct spawn_options o = { .output = work_path("handoff.log"),
				   .env = (char *[]){ env, NULL } };
	pid_t supervisor = spawn((char *[]){ bin_path("handoff"), "run", "-l", addr,
					     "--", bin_path("examples/echo"), addr, NULL }, &o);
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
