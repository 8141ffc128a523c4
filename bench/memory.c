/* memory.c — `BENCH_PARTS=memory make bench`: does an upgrade cost more for
 * a server holding a lot of memory? httpd with --ballast SIZE touched
 * (1 MB, 1 GB, 4 GB, 8 GB), upgraded a few times with the library's spawn
 * (vfork) and, in the same run, with fork() (--spawn-fork), for:
 *   - the upgrade time: SIGHUP to the successor's READY=1, on our notify
 *     socket (bench.c);
 *   - the old generation's loop stall: its longest loop turn until the
 *     handover, which httpd logs at exit with --ballast. The turn that
 *     handles SIGHUP holds the whole spawn: the library waits for the
 *     successor's exec. (Its longest turn overall is shown too: the drain's
 *     turns run beside the successor populating its ballast, on 2 cores.)
 * Every generation populates its ballast after READY=1 and before its loop,
 * so neither figure includes it; we wait for it before the next SIGHUP.
 * A size runs only if MemAvailable holds it twice and 1 GiB more: the old
 * generation frees its copy while the successor touches its own. */
#include "bench.h"
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { MAX_UPGRADES = 20 };

struct chain {
	long ready_us[MAX_UPGRADES], turn_us[MAX_UPGRADES], any_turn_us[MAX_UPGRADES];
	int count;
};

static long mem_available_kib(void)
{
	char *text = read_file("/proc/meminfo");
	char *line = text ? strstr(text, "MemAvailable:") : NULL;
	long kib = line ? strtol(line + strlen("MemAvailable:"), NULL, 10) : -1;
	free(text);
	return kib;
}

/* MemAvailable within 1 MiB of what it was at the last call: nothing is
 * being freed or faulted in any more. *last: the previous reading. */
static int memory_settled(void *arg)
{
	long *last = arg, now = mem_available_kib();
	int still = *last >= 0 && labs(now - *last) < 1024;
	*last = now;
	if (!still)
		pause_ms(50); /* the interval between two readings */
	return still;
}

/* What generation pid logged at exit: "longest loop turn N us, before the
 * handover M us". 1, or 0 if it logged no such line. */
static int logged_turns(const char *log, pid_t pid, long *longest, long *before)
{
	char needle[64];
	snprintf(needle, sizeof needle, "httpd[%d] gen ", (int)pid);
	char *text = read_file(log);
	int found = 0;
	for (char *p = text; p && (p = strstr(p, needle)); p++) {
		char *eol = strchr(p, '\n');
		char *turn = strstr(p, ": longest loop turn ");
		if (turn && (!eol || turn < eol) &&
		    sscanf(turn, ": longest loop turn %ld us, before the handover %ld us",
			   longest, before) == 2) {
			found = 1;
			break;
		}
	}
	free(text);
	return found;
}

/* One httpd holding `size`, upgraded `times` times. */
static void run_chain(struct chain *c, const char *size, int use_fork, int times,
		      const char *log)
{
	char env[128], addr[32];
	int notify = bench_notify_listener(env, sizeof env);
	int port = free_port();
	bench_port_used(port);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	struct spawn_options o = { .output = log, .env = (char *[]){ env, NULL } };
	char *argv[] = { bin_path("examples/httpd"), "--listen", addr, "--ballast",
			 (char *)size, use_fork ? "--spawn-fork" : NULL, NULL };
	pid_t pid = spawn(argv, &o);
	ASSERT_EQ(bench_ready_pid(notify), pid);
	c->count = 0;
	for (int i = 0; i < times; i++) {
		/* Generation i+1 has touched its ballast: one line each. */
		if (!wait_file_contains(log, ": ballast: ", i + 1, 60000))
			FAIL("generation %d did not touch its ballast in 60 s; log:\n%s",
			     (int)pid, file_text(log));
		/* Let the kernel settle from the last generation's exit and this
		 * one's ballast (freeing, zeroing, reporting free pages to a VM's
		 * host): both modes wait alike, until free memory holds still. */
		if (!wait_for(memory_settled, &(long){ -1 }, 5000))
			printf("  (free memory still moving after 5 s; measuring anyway)\n");
		pid_t old = pid;
		int status;
		long start = clock_us();
		kill(old, SIGHUP);
		pid = bench_ready_pid(notify);
		c->ready_us[i] = clock_us() - start;
		if (!wait_exit(old, 30000, &status))
			FAIL("generation %d did not exit in 30 s; log:\n%s", (int)old,
			     file_text(log));
		if (!logged_turns(log, old, &c->any_turn_us[i], &c->turn_us[i]))
			FAIL("generation %d logged no loop turn; log:\n%s", (int)old,
			     file_text(log));
		c->count++;
	}
	/* Not while it touches its ballast: that is before its loop. */
	if (!wait_file_contains(log, ": ballast: ", times + 1, 60000))
		FAIL("generation %d did not touch its ballast in 60 s; log:\n%s",
		     (int)pid, file_text(log));
	kill(pid, SIGTERM);
	int status;
	if (!wait_exit(pid, 30000, &status))
		FAIL("generation %d did not stop in 30 s", (int)pid);
	close(notify);
}

void bench_memory(void)
{
	if (!bench_part("memory"))
		return;
	static const struct {
		const char *arg, *label;
		long mib;
		int upgrades[2]; /* vfork, fork */
	} sizes[] = {
		/* Each upgrade of a big one costs seconds (the successor's
		 * ballast, the old one's exit), so fewer there; fewer still with
		 * fork(), whose figures are 50 times larger and less noisy. */
		{ "1M", "1 MB", 1, { 11, 11 } }, { "1G", "1 GB", 1024, { 5, 3 } },
		{ "4G", "4 GB", 4096, { 5, 3 } }, { "8G", "8 GB", 8192, { 5, 3 } },
	};
	enum { SIZES = sizeof sizes / sizeof *sizes };
	static const char *const modes[] = { "vfork", "fork" };
	struct chain runs[SIZES][2];
	int measured[SIZES] = { 0 };
	long available = mem_available_kib();
	printf("\n## Upgrades against the server's memory\n\n"
	       "httpd holding --ballast SIZE of touched memory (4 KiB pages), idle, "
	       "upgraded with the library's spawn (vfork) and with fork() "
	       "(--spawn-fork). Upgrade: SIGHUP to the successor's READY=1. Stall: "
	       "the old generation's longest loop turn until the handover (the "
	       "one that starts the successor, and any until its READY=1). Longest "
	       "turn: the same over the old generation's life, drain included "
	       "(the successor populates its ballast then). Medians, max in "
	       "brackets. MemAvailable at start: "
	       "%ld MiB.\n\n", available / 1024);
	fflush(stdout);
	for (int s = 0; s < SIZES; s++) {
		if (available < 0 || available / 1024 < 2 * sizes[s].mib + 1024) {
			printf("note: %s skipped: needs %ld MiB available, %ld MiB are\n",
			       sizes[s].label, 2 * sizes[s].mib + 1024, available / 1024);
			continue;
		}
		for (int m = 0; m < 2; m++) {
			char log[64];
			snprintf(log, sizeof log, "memory-%s-%s.log", sizes[s].arg, modes[m]);
			long start = clock_us();
			run_chain(&runs[s][m], sizes[s].arg, m, sizes[s].upgrades[m],
				  work_path(log));
			printf("  %s, %s: %d upgrades in %.1f s\n", sizes[s].label,
			       modes[m], sizes[s].upgrades[m], (clock_us() - start) / 1e6);
			fflush(stdout);
		}
		measured[s] = 1;
	}
	printf("| memory | vfork: upgrade | vfork: stall | vfork: longest turn "
	       "| fork: upgrade | fork: stall | fork: longest turn |\n"
	       "|---|--:|--:|--:|--:|--:|--:|\n");
	for (int s = 0; s < SIZES; s++) {
		if (!measured[s])
			continue;
		printf("| %s |", sizes[s].label);
		for (int m = 0; m < 2; m++) {
			struct chain *c = &runs[s][m];
			long *figures[] = { c->ready_us, c->turn_us, c->any_turn_us };
			for (int f = 0; f < 3; f++)
				printf(" %.2f (%.2f) ms |",
				       percentile(figures[f], c->count, 50) / 1000.0,
				       percentile(figures[f], c->count, 100) / 1000.0);
		}
		printf("\n");
	}
	if (measured[0] && measured[SIZES - 1]) {
		long small = percentile(runs[0][0].ready_us, runs[0][0].count, 50);
		long big = percentile(runs[SIZES - 1][0].ready_us, runs[SIZES - 1][0].count, 50);
		long stall = percentile(runs[SIZES - 1][0].turn_us, runs[SIZES - 1][0].count, 50);
		bench_target(big <= small * 11 / 10, "8 GB: upgrade median within 10%% of "
			     "1 MB's (%.2f ms vs %.2f ms)", big / 1000.0, small / 1000.0);
		bench_target(stall < 1000, "8 GB: old generation's loop stall until the "
			     "handover < 1 ms, median (%.3f ms)", stall / 1000.0);
	}
	fflush(stdout);
}
