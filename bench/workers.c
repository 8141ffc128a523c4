/* workers.c — `BENCH_PARTS=workers make bench`: what `handoff run
 * --workers 2` gives a single-threaded server on this machine, against
 * one process: httpd's throughput under keep-alive and fresh load, steady
 * and while the supervisor reloads it again and again, with the failed
 * requests (there must be none).
 *
 * The figures count for the machine they ran on: loadgen (one thread)
 * runs here too, so two workers share the cores with it and with whatever
 * else runs. Each row says how much of a core loadgen used and how busy
 * the machine was: a client that uses a whole core, or a machine busy on
 * all of its cores, is the limit, not the server. */
#include "bench.h"
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h> /* sysconf */

struct window {
	struct load_result load;
	int reloads, refused;
	double client_cores, busy_cores; /* loadgen's CPU, the machine's */
};

/* CPU time in seconds: the machine's busy time (all cores, from
 * /proc/stat), or one process's. */
static double machine_busy_s(void)
{
	char *text = read_file("/proc/stat");
	unsigned long long v[8] = { 0 };
	if (text)
		sscanf(text, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
		       &v[3], &v[4], &v[5], &v[6], &v[7]);
	free(text);
	unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]; /* not idle, iowait */
	return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

static double process_cpu_s(pid_t pid)
{
	struct process_stat st;
	if (!process_stat(pid, &st))
		return 0;
	return (double)(st.utime + st.stime) / (double)sysconf(_SC_CLK_TCK);
}

/* `handoff reload` as an operator runs it: it returns once the new
 * generation serves (0), or was refused (busy: the old one still drains). */
static void reload(const char *pidfile, struct window *w)
{
	int code = run_command((char *[]){ bin_path("handoff"), "reload", "--pidfile",
					   (char *)pidfile, NULL },
			       work_path("workers-reload.out"), work_path("workers-reload.err"),
			       30000);
	if (code == 0)
		w->reloads++;
	else
		w->refused++;
}

/* `seconds` of load on port; with pidfile, reloads one after the other
 * meanwhile. */
static struct window measure(int port, int seconds, const char *pidfile)
{
	struct window w = { .reloads = 0 };
	struct load l;
	load_start(&l, port, (char *[]){ "--keepalive", "16", "--fresh", "2", NULL });
	long start = clock_us(), end = start + seconds * 1000000L;
	double client = process_cpu_s(l.pid), busy = machine_busy_s();
	if (!pidfile)
		pause_ms(seconds * 1000); /* a measurement period: the load undisturbed */
	while (pidfile && clock_us() < end) /* each reload is bounded (30 s) */
		reload(pidfile, &w);
	double wall = (double)(clock_us() - start) / 1e6;
	w.client_cores = (process_cpu_s(l.pid) - client) / wall;
	w.busy_cores = (machine_busy_s() - busy) / wall;
	load_stop(&l, &w.load);
	return w;
}

static void print_window(const char *label, const struct window *w)
{
	printf("  %-34s %8.0f req/s, %ld requests, %ld failed, p99 %.2f ms",
	       label, w->load.rps, w->load.requests, w->load.failed,
	       w->load.p99_us / 1000.0);
	if (w->reloads || w->refused)
		printf(", %d reloads (%d refused)", w->reloads, w->refused);
	printf("; loadgen %.2f core, machine %.2f cores busy\n", w->client_cores,
	       w->busy_cores);
}

/* httpd under `handoff run --workers N`: steady, then under reloads. */
static void workers_run(const char *workers, int seconds, struct window out[2])
{
	char addr[32], pidfile[300], log[300], ready[64];
	int port = free_port();
	bench_port_used(port);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	snprintf(pidfile, sizeof pidfile, "%s", work_path("workers.pid"));
	snprintf(log, sizeof log, "%s", work_path("workers.log"));
	unlink(log);
	struct spawn_options o = { .output = log };
	pid_t supervisor = spawn((char *[]){ bin_path("handoff"), "run", "--pidfile", pidfile,
					     "--workers", (char *)workers, "-l", addr, "--",
					     bin_path("examples/httpd"), "--listen", addr, NULL },
				 &o);
	if (!wait_file_contains(log, "ok: generation 1 (", 1, 10000))
		FAIL("httpd under handoff run --workers %s not ready:\n%s", workers,
		     file_text(log));
	out[0] = measure(port, seconds, NULL);
	out[1] = measure(port, seconds, pidfile);
	snprintf(ready, sizeof ready, "%s workers) ready", workers);
	if (strcmp(workers, "1") != 0 && count_in_file(log, ready) < out[1].reloads + 1)
		FAIL("not every generation had %s workers:\n%s", workers, file_text(log));
	kill(supervisor, SIGTERM);
	int status;
	if (!wait_exit(supervisor, 30000, &status))
		FAIL("the supervisor did not stop:\n%s", file_text(log));
}

void bench_workers(void)
{
	int seconds = bench_env_int("BENCH_WORKERS_SECONDS", 2, 1, 60);
	char *loadavg = read_file("/proc/loadavg");
	struct window one[2], two[2];
	workers_run("1", seconds, one);
	workers_run("2", seconds, two);
	printf("\nworkers (handoff run --workers N -- examples/httpd, one thread each), "
	       "16 keep-alive + 2 fresh clients, %d s per row; load average %.14s\n",
	       seconds, loadavg ? loadavg : "?");
	free(loadavg);
	print_window("1 worker, steady", &one[0]);
	print_window("2 workers, steady", &two[0]);
	print_window("1 worker, reloads back to back", &one[1]);
	print_window("2 workers, reloads back to back", &two[1]);
	printf("  2 workers / 1: %.2fx steady, %.2fx during reloads (%ld CPUs online)\n",
	       one[0].load.rps > 0 ? two[0].load.rps / one[0].load.rps : 0,
	       one[1].load.rps > 0 ? two[1].load.rps / one[1].load.rps : 0,
	       sysconf(_SC_NPROCESSORS_ONLN));
	long failed = one[0].load.failed + one[1].load.failed + two[0].load.failed +
		      two[1].load.failed;
	bench_target(failed == 0 && two[1].reloads > 0, "workers: 0 failed requests with 1 "
		     "and 2 workers, steady and across %d + %d reloads (%ld failed)",
		     one[1].reloads, two[1].reloads, failed);
}
