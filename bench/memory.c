/* memory.c — `BENCH_PARTS=memory make bench`: does an upgrade cost more for
 * a server holding a lot of memory? httpd with --ballast SIZE touched
 * (1 GB, 4 GB, 8 GB, and 1 MB beside each), upgraded a few times with the library's spawn
 * (vfork) and, in the same run, with fork() (--spawn-fork), for:
 *   - the upgrade time: SIGHUP to the successor's READY=1, on our notify
 *     socket (bench.c);
 *   - the old generation's loop stall: its longest loop turn until the
 *     handover, which httpd logs at exit with --ballast. The turn that
 *     handles SIGHUP holds the whole spawn: the library waits for the
 *     successor's exec.
 * Each size's chain is upgraded in turns with a chain holding 1 MB, so that
 * each is compared with a 1 MB figure taken at the same minute.
 * Every generation populates its ballast after READY=1 and before its loop,
 * so neither figure includes it; we wait for it before the next SIGHUP.
 * Both chains run on one CPU and the bench on the others, as the servers
 * of the restart tables do: left to the kernel, where each generation
 * landed moved the 8 GB median from 10% below the 1 MB one to 17% above
 * it between two runs.
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

enum { MAX_UPGRADES = 64 };

struct chain {
	long ready_us[MAX_UPGRADES], turn_us[MAX_UPGRADES];
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

/* One chain of generations of httpd holding the same ballast, each started
 * by the last one's upgrade. */
struct httpd_chain {
	int notify;       /* our NOTIFY_SOCKET: READY=1 from each generation */
	pid_t pid;        /* the generation serving now */
	int generations;  /* how many have started (each logs one ballast line) */
	char log[96];
};

static void chain_start(struct httpd_chain *h, const char *size, int use_fork,
			const char *log)
{
	char env[128], addr[32];
	h->notify = bench_notify_listener(env, sizeof env);
	int port = free_port();
	bench_port_used(port);
	snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
	snprintf(h->log, sizeof h->log, "%s", log);
	struct spawn_options o = { .output = h->log, .env = (char *[]){ env, NULL } };
	char *argv[] = { bin_path("examples/httpd"), "--listen", addr, "--ballast",
			 (char *)size, use_fork ? "--spawn-fork" : NULL, NULL };
	h->pid = spawn(argv, &o);
	ASSERT_EQ(bench_ready_pid(h->notify), h->pid);
	h->generations = 1;
}

/* The serving generation has touched its ballast: one line each. */
static void chain_wait_ballast(const struct httpd_chain *h)
{
	if (!wait_file_contains(h->log, ": ballast: ", h->generations, 60000))
		FAIL("generation %d did not touch its ballast in 60 s; log:\n%s",
		     (int)h->pid, file_text(h->log));
}

/* Both chains idle, their ballast touched, free memory still: then one
 * upgrade of `h`, recorded in c. */
static void chain_upgrade(struct httpd_chain *h, const struct httpd_chain *other,
			  struct chain *c)
{
	chain_wait_ballast(h);
	chain_wait_ballast(other);
	/* Let the kernel settle from the last generation's exit and this one's
	 * ballast (freeing, zeroing): every upgrade waits alike, until free
	 * memory holds still. */
	if (!wait_for(memory_settled, &(long){ -1 }, 5000))
		printf("  (free memory still moving after 5 s; measuring anyway)\n");
	pid_t old = h->pid;
	int status, i = c->count;
	long longest_turn; /* over its whole life, drain included: not shown */
	long start = clock_us();
	kill(old, SIGHUP);
	h->pid = bench_ready_pid(h->notify);
	c->ready_us[i] = clock_us() - start;
	h->generations++;
	if (!wait_exit(old, 30000, &status))
		FAIL("generation %d did not exit in 30 s; log:\n%s", (int)old,
		     file_text(h->log));
	if (!logged_turns(h->log, old, &longest_turn, &c->turn_us[i]))
		FAIL("generation %d logged no loop turn; log:\n%s", (int)old,
		     file_text(h->log));
	c->count++;
}

static void chain_stop(struct httpd_chain *h)
{
	chain_wait_ballast(h); /* not while it touches it: that is before its loop */
	kill(h->pid, SIGTERM);
	int status;
	if (!wait_exit(h->pid, 30000, &status))
		FAIL("generation %d did not stop in 30 s", (int)h->pid);
	close(h->notify);
}

/* httpd holding `size` and, beside it, httpd holding 1 MB, upgraded in
 * rounds of three: small, big, small. Both chains see the same machine in
 * the same seconds (this VM's speed drifts by a third between runs a minute
 * apart), so `small` is the 1 MB figure that `big` is compared with; it
 * gets twice the upgrades, which cost little, for a steadier median. */
static void run_pair(struct chain *big, struct chain *small, const char *size,
		     int use_fork, int rounds, const char *mode)
{
	char log[64];
	struct httpd_chain b, s;
	snprintf(log, sizeof log, "memory-%s-%s.log", size, mode);
	bench_place(BENCH_SERVER_SIDE);
	chain_start(&b, size, use_fork, work_path(log));
	snprintf(log, sizeof log, "memory-%s-%s-beside.log", size, mode);
	chain_start(&s, "1M", use_fork, work_path(log));
	bench_place(BENCH_CLIENT_SIDE);
	big->count = small->count = 0;
	for (int i = 0; i < rounds; i++) {
		chain_upgrade(&s, &b, small);
		chain_upgrade(&b, &s, big);
		chain_upgrade(&s, &b, small);
	}
	chain_stop(&b);
	chain_stop(&s);
	bench_place(BENCH_ANYWHERE);
}

/* Median (max) of n figures in microseconds, as " M (X) ms |". */
static void print_figure(long *us, int n)
{
	printf(" %.2f (%.2f) ms |", percentile(us, n, 50) / 1000.0,
	       percentile(us, n, 100) / 1000.0);
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
		 * ballast, the old one's exit), so few; most at 8 GB, where the
		 * target is; fewer with fork(), whose figures are 50 times larger
		 * and vary by 2% from one upgrade to the next. */
		{ "1G", "1 GB", 1024, { 3, 2 } },
		{ "4G", "4 GB", 4096, { 3, 2 } },
		{ "8G", "8 GB", 8192, { 11, 2 } },
	};
	enum { SIZES = sizeof sizes / sizeof *sizes };
	static const char *const modes[] = { "vfork", "fork" };
	static struct chain runs[SIZES][2], beside[SIZES][2];
	int measured[SIZES] = { 0 };
	long available = mem_available_kib();
	printf("\n## Upgrades against the server's memory\n\n"
	       "httpd holding --ballast SIZE of touched memory (4 KiB pages), idle, "
	       "upgraded with the library's spawn (vfork) and with fork() "
	       "(--spawn-fork), in turns with an httpd holding 1 MB beside it "
	       "(\"1 MB beside\": the same machine at the same minute). Upgrade: "
	       "SIGHUP to the successor's READY=1. Stall: the old generation's "
	       "longest loop turn until the handover (the one that starts the "
	       "successor, and any until its READY=1). Medians, max in brackets; "
	       "the 1 MB row pools every upgrade of the 1 MB chains. MemAvailable "
	       "at start: %ld MiB.\n\n", available / 1024);
	fflush(stdout);
	for (int s = 0; s < SIZES; s++) {
		if (available < 0 || available / 1024 < 2 * sizes[s].mib + 1024) {
			printf("note: %s skipped: needs %ld MiB available, %ld MiB are\n",
			       sizes[s].label, 2 * sizes[s].mib + 1024, available / 1024);
			continue;
		}
		for (int m = 0; m < 2; m++) {
			long start = clock_us();
			run_pair(&runs[s][m], &beside[s][m], sizes[s].arg, m,
				 sizes[s].upgrades[m], modes[m]);
			printf("  %s, %s: %d upgrades, and twice as many at 1 MB beside, in "
			       "%.1f s\n", sizes[s].label, modes[m], sizes[s].upgrades[m],
			       (clock_us() - start) / 1e6);
			fflush(stdout);
		}
		measured[s] = 1;
	}
	printf("| memory | vfork: upgrade | vfork: 1 MB beside | vfork: stall "
	       "| fork: upgrade | fork: 1 MB beside | fork: stall |\n"
	       "|---|--:|--:|--:|--:|--:|--:|\n");
	/* The 1 MB row: every upgrade of the 1 MB chains, pooled. */
	struct chain pooled[2] = { 0 };
	for (int s = 0; s < SIZES; s++)
		for (int m = 0; m < 2 && measured[s]; m++)
			for (int i = 0; i < beside[s][m].count &&
			     pooled[m].count < MAX_UPGRADES; i++) {
				pooled[m].ready_us[pooled[m].count] = beside[s][m].ready_us[i];
				pooled[m].turn_us[pooled[m].count++] = beside[s][m].turn_us[i];
			}
	printf("| 1 MB |");
	for (int m = 0; m < 2; m++) {
		print_figure(pooled[m].ready_us, pooled[m].count);
		printf(" |");
		print_figure(pooled[m].turn_us, pooled[m].count);
	}
	printf("\n");
	for (int s = 0; s < SIZES; s++) {
		if (!measured[s])
			continue;
		printf("| %s |", sizes[s].label);
		for (int m = 0; m < 2; m++) {
			print_figure(runs[s][m].ready_us, runs[s][m].count);
			print_figure(beside[s][m].ready_us, beside[s][m].count);
			print_figure(runs[s][m].turn_us, runs[s][m].count);
		}
		printf("\n");
	}
	if (measured[SIZES - 1]) {
		struct chain *b = &runs[SIZES - 1][0], *s = &beside[SIZES - 1][0];
		long big = percentile(b->ready_us, b->count, 50);
		long small = percentile(s->ready_us, s->count, 50);
		long stall = percentile(b->turn_us, b->count, 50);
		bench_target(big <= small * 11 / 10, "8 GB: upgrade median within 10%% of "
			     "1 MB's beside it (%.2f ms vs %.2f ms)", big / 1000.0,
			     small / 1000.0);
		bench_target(stall < 1000, "8 GB: old generation's loop stall until the "
			     "handover < 1 ms, median (%.3f ms)", stall / 1000.0);
	}
	fflush(stdout);
}
