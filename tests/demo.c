/* demo.c — `make demo`: httpd under load takes 20 upgrades; a report. */
#include "harness.h"
#include "program.h"

#include <stdlib.h>
#include <string.h>

static void demo(void)
{
	enum { UPGRADES = 20 };
	struct httpd s;
	struct load l;
	struct load_result r;
	long ready_us[UPGRADES], gone_us[UPGRADES];

	printf("starting build/examples/httpd on a free loopback port...\n");
	httpd_start(&s, NULL, NULL);
	printf("  httpd pid %d serving on %s\n", (int)s.pid, s.address);
	printf("starting the load: 16 keep-alive connections, 4 streams of fresh "
	       "connections, 2 connections of 100 ms requests\n");
	load_start(&l, s.port,
		   (char *[]){ "--keepalive", "16", "--fresh", "4", "--slow", "2",
			       "--slow-ms", "100", NULL });
	printf("upgrading %d times while it runs (SIGHUP to the serving pid)...\n",
	       UPGRADES);
	for (int i = 0; i < UPGRADES; i++) {
		pid_t old = s.pid;
		httpd_upgrade(&s);
		ready_us[i] = s.ready_us;
		gone_us[i] = s.gone_us;
		printf("  upgrade %2d: pid %d -> %d, new one serving after %.1f ms, "
		       "old one gone after %.1f ms\n", i + 1, (int)old, (int)s.pid,
		       s.ready_us / 1000.0, s.gone_us / 1000.0);
	}
	load_stop(&l, &r);
	httpd_stop(&s);

	printf("\nreport\n");
	printf("  requests           %ld (%.0f per second)\n", r.requests, r.rps);
	printf("  failed             %ld (refused %ld, reset %ld, eof %ld, timeout %ld, "
	       "non-200 %ld, other %ld)\n",
	       r.failed, r.refused, r.reset, r.eof, r.timeout, r.non200, r.other);
	printf("  slow requests      %ld completed, %ld failed\n", r.slow_ok,
	       r.slow_failed);
	printf("  generations seen   %ld (from %ld to %ld)\n", r.generations,
	       r.gen_min, r.gen_max);
	printf("  connections ended  %ld by the server (keep-alive connections move to "
	       "the new generation)\n", r.server_closes);
	printf("  latency            p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
	       r.p50_us / 1000.0, r.p99_us / 1000.0, r.max_us / 1000.0);
	printf("  upgrade, median    %.1f ms from SIGHUP to the new generation "
	       "serving (seen from outside, by polling)\n", percentile(ready_us, UPGRADES, 50) / 1000.0);
	printf("                     %.1f ms until the old one had drained and "
	       "exited (it finishes its 100 ms requests)\n", percentile(gone_us, UPGRADES, 50) / 1000.0);
	printf("  everything started was stopped.\n");
	if (r.failed)
		FAIL("%ld requests failed", r.failed);
}

int main(int argc, char **argv)
{
	program_start(argc, argv);
	return program_run_alone("demo", demo, 300);
}
