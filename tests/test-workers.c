/* test-workers.c — `handoff run --workers N`: a generation of N processes,
 * ready when all are, replaced all at once, a dead one started again alone
 * while the others serve, all of them kept across `reload --self`. */
#include "supervisor-kit.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { WORKERS_MAX = 8 };

struct generation_wait {
	const struct sup *s;
	unsigned number;
	int count;
	pid_t pids[WORKERS_MAX]; /* by index, once it is so */
};

/* Only generation `number` is there, with `count` ready workers, one
 * of each index. */
static int only_workers_of(void *arg)
{
	struct generation_wait *g = arg;
	struct gen w[WORKERS_MAX + 4];
	int n = generations(g->s, w, WORKERS_MAX + 4);
	if (n != g->count)
		return 0;
	memset(g->pids, 0, sizeof g->pids);
	for (int i = 0; i < n; i++) {
		if (w[i].number != g->number || strcmp(w[i].state, "ready") != 0 ||
		    w[i].worker < 0 || w[i].worker >= g->count || g->pids[w[i].worker])
			return 0;
		g->pids[w[i].worker] = w[i].pid;
	}
	return 1;
}

static struct generation_wait wait_generation(const struct sup *s, unsigned number,
					      int count)
{
	struct generation_wait g = { .s = s, .number = number, .count = count };
	if (!wait_for(only_workers_of, &g, 10000))
		FAIL("expected generation %u alone with %d ready workers; status:\n%s\nlog:\n%s",
		     number, count, said.out, file_text(s->log));
	return g;
}

/* HANDOFF_WORKER in pid's environment as it was started; -1 if none. */
static int worker_index_of(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
	FILE *f = fopen(path, "r");
	char entry[4096];
	int index = -1;
	size_t n = 0;
	for (int ch; f && (ch = fgetc(f)) != EOF;) {
		if (ch && n + 1 < sizeof entry) {
			entry[n++] = (char)ch;
			continue;
		}
		entry[n] = '\0';
		if (strncmp(entry, "HANDOFF_WORKER=", 15) == 0)
			index = atoi(entry + 15);
		n = 0;
	}
	if (f)
		fclose(f);
	return index;
}

struct served {
	int port;
	int count;
	pid_t pids[WORKERS_MAX];
	int seen[WORKERS_MAX];
	char last[256];
};

/* One request on a fresh connection; true once every pid has answered. */
static int all_answered(void *arg)
{
	struct served *v = arg;
	char body[256] = "";
	if (http_get("127.0.0.1", v->port, "/", body, sizeof body) == 200) {
		snprintf(v->last, sizeof v->last, "%s", body);
		const char *at = strstr(body, "pid=");
		pid_t pid = at ? (pid_t)atoi(at + 4) : 0;
		for (int i = 0; i < v->count; i++)
			v->seen[i] |= v->pids[i] == pid;
	}
	int all = 1;
	for (int i = 0; i < v->count; i++)
		all &= v->seen[i];
	return all;
}

/* httpd under `handoff run --workers count`, with env for the supervisor:
 * its first generation, ready. */
static struct generation_wait start_workers(struct sup *s, int count, char *const env[])
{
	char want[64], workers[16];
	snprintf(workers, sizeof workers, "%d", count);
	sup_init(s);
	sup_start(s, (char *[]){ "--workers", workers, NULL },
		  (char *[]){ httpd_bin, "--listen", s->address, NULL }, env);
	snprintf(want, sizeof want, "ok: generation 1 (%d workers) ready", count);
	ASSERT_EQ(count_in_file(s->log, want), 1);
	return wait_generation(s, 1, count);
}

/* Worker `index` of generation 1 was started again: the generation, with
 * all of its workers. */
static struct generation_wait started_again(const struct sup *s, int index, int count)
{
	char want[64];
	snprintf(want, sizeof want, "generation 1 worker %d started again: pid", index);
	if (!wait_file_contains(s->log, want, 1, 10000))
		FAIL("worker %d was not started again; log:\n%s", index, file_text(s->log));
	return wait_generation(s, 1, count);
}

/* N = 3: three processes, each with its HANDOFF_WORKER, all answering on
 * the one listener; status lists them all. */
void test_workers_generation_of_n(void)
{
	locate();
	struct sup s;
	struct generation_wait g = start_workers(&s, 3, NULL);
	struct served v = { .port = s.port, .count = 3 };
	for (int i = 0; i < 3; i++) {
		int index = worker_index_of(g.pids[i]);
		if (index != i)
			FAIL("worker %d (pid %d) has HANDOFF_WORKER=%d", i, (int)g.pids[i], index);
		v.pids[i] = g.pids[i];
	}
	if (!wait_for(all_answered, &v, 10000))
		FAIL("not every worker answered: pids %d %d %d seen %d %d %d; last: %s",
		     (int)v.pids[0], (int)v.pids[1], (int)v.pids[2], v.seen[0], v.seen[1],
		     v.seen[2], v.last);
	ASSERT_EQ(control(&s, "status"), 0);
	for (int i = 0; i < 3; i++) {
		char line[64];
		snprintf(line, sizeof line, "generation 1 worker %d pid %d ready", i,
			 (int)g.pids[i]);
		if (!strstr(said.out, line))
			FAIL("status does not say \"%s\":\n%s", line, said.out);
	}
	if (!strstr(said.out, "workers: 3 per generation"))
		FAIL("status does not say how many workers:\n%s", said.out);
	sup_stop(&s);
}

/* N = 2 under keep-alive and fresh load: every reload starts two, waits
 * for both, drains the old two; nothing fails. */
void test_workers_reload_under_load(void)
{
	locate();
	struct sup s;
	struct load l;
	struct load_result r;
	start_workers(&s, 2, NULL);
	load_start(&l, s.port, (char *[]){ "--keepalive", "8", "--fresh", "2", NULL });
	for (unsigned number = 2; number <= 6; number++) {
		char want[64];
		snprintf(want, sizeof want, "ok generation %u (2 workers) ready", number);
		int code = control(&s, "reload");
		if (code != 0 || !strstr(said.out, want))
			FAIL("reload %u: exit %d, stdout %s, stderr %s; log:\n%s", number, code,
			     said.out, said.err, file_text(s.log));
		wait_generation(&s, number, 2);
	}
	load_stop(&l, &r);
	load_print("5 reloads of 2 workers", &r);
	check_no_failures(&r);
	ASSERT_EQ(count_in_file(s.log, "started: pid"), 12); /* 6 generations of 2 */
	ASSERT_EQ(count_in_file(s.log, "after draining"), 10);
	sup_stop(&s);
}

/* SIGKILL to one of three workers: it alone is started again, with its
 * index; the others keep their pids; the load loses at most what the
 * killed one held. */
void test_workers_one_dies_alone(void)
{
	locate();
	struct sup s;
	struct load l;
	struct load_result r;
	struct generation_wait before = start_workers(&s, 3, NULL);
	load_start(&l, s.port, (char *[]){ "--keepalive", "6", "--fresh", "2", NULL });
	/* loadgen is ready once each keep-alive client has been answered: what
	 * the victim holds now is what it will hold when killed, but for the
	 * fresh clients' two connections. */
	pid_t victim = before.pids[1];
	int held = count_connections(victim);
	ASSERT_EQ(kill(victim, SIGKILL), 0);
	struct generation_wait after = started_again(&s, 1, 3);
	load_stop(&l, &r);
	load_print("one of 3 workers killed", &r);
	ASSERT_EQ(after.pids[0], before.pids[0]);
	ASSERT_EQ(after.pids[2], before.pids[2]);
	if (after.pids[1] == victim || worker_index_of(after.pids[1]) != 1)
		FAIL("worker 1 is pid %d (was %d), HANDOFF_WORKER=%d", (int)after.pids[1],
		     (int)victim, worker_index_of(after.pids[1]));
	/* What it held when killed, and the fresh clients' requests in flight. */
	if (r.failed > held + 2 || r.ok == 0)
		FAIL("%ld requests failed, %ld ok; the killed worker held %d connection(s)",
		     r.failed, r.ok, held);
	ASSERT_EQ(count_in_file(s.log, "generation 2 started"), 0);
	ASSERT_EQ(count_in_file(s.log, "worker 1 starts again in 100 ms"), 1);
	sup_stop(&s);
}

/* reload --self with two workers: both pids kept, nothing fails, and a
 * worker that dies afterwards is still known for what it is. */
void test_workers_survive_self_upgrade(void)
{
	locate();
	struct sup s;
	struct load l;
	struct load_result r;
	struct generation_wait before = start_workers(&s, 2, NULL);
	load_start(&l, s.port, (char *[]){ "--keepalive", "4", "--fresh", "2", NULL });
	for (int i = 0; i < 3; i++) {
		int code = handoff((char *[]){ "reload", "--self", "--pidfile", s.pidfile,
					       NULL });
		if (code != 0 || !strstr(said.out, "1 generation(s) kept"))
			FAIL("reload --self: exit %d, stdout %s, stderr %s; log:\n%s", code,
			     said.out, said.err, file_text(s.log));
		struct generation_wait now = wait_generation(&s, 1, 2);
		ASSERT_EQ(now.pids[0], before.pids[0]);
		ASSERT_EQ(now.pids[1], before.pids[1]);
	}
	load_stop(&l, &r);
	load_print("3 self-upgrades with 2 workers", &r);
	check_no_failures(&r);
	ASSERT_EQ(kill(s.pid, 0), 0);
	ASSERT_EQ(read_pid(s.pidfile), s.pid);
	/* The new image knows worker 0 as worker 0 of generation 1. */
	ASSERT_EQ(kill(before.pids[0], SIGKILL), 0);
	struct generation_wait after = started_again(&s, 0, 2);
	ASSERT_EQ(after.pids[1], before.pids[1]);
	sup_stop(&s);
}

/* The state's format with workers, both ways (the test-only fault of
 * test-selfupgrade.c): keys a later version adds are ignored, and a
 * version that predates workers (no worker= key) sees two records of one
 * generation and refuses the state: the supervisor runs on unchanged. */
void test_workers_self_upgrade_formats(void)
{
	locate();
	static const char *const faults[] = { "next", "previous" };
	for (int i = 0; i < 2; i++) {
		struct sup s;
		char env[128];
		snprintf(env, sizeof env, "HANDOFF_TEST_SELF_UPGRADE_FAULT=%s", faults[i]);
		struct generation_wait before = start_workers(&s, 2, (char *[]){ env, NULL });
		int code = handoff((char *[]){ "reload", "--self", "--pidfile", s.pidfile,
					       NULL });
		int want = i == 0 ? 0 : 1;
		const char *says = i == 0 ? "1 generation(s) kept" : "the same as record";
		if (code != want || !strstr(i == 0 ? said.out : said.err, says))
			FAIL("%s: reload --self: exit %d (want %d and \"%s\"), stdout %s, "
			     "stderr %s; log:\n%s", faults[i], code, want, says, said.out,
			     said.err, file_text(s.log));
		struct generation_wait after = wait_generation(&s, 1, 2);
		ASSERT_EQ(after.pids[0], before.pids[0]);
		ASSERT_EQ(after.pids[1], before.pids[1]);
		ASSERT_EQ(read_pid(s.pidfile), s.pid);
		sup_stop(&s);
	}
}

/* A worker that cannot start, or is not ready in time, fails its
 * generation: the others are killed, the first start ends the supervisor
 * with the reason, told once and naming that worker; nothing is left. */
void test_workers_one_fails_to_start(void)
{
	locate();
	static const struct {
		const char *worker1;
		int timeout_ms;
		const char *says;
	} cases[] = {
		{ "exit 3", 60000, "exited with status 3 before it was ready" },
		{ "exec sleep 30", 500, "not ready in time, killed: no READY=1 received" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		struct sup s;
		sup_init(&s);
		char script[512], text[1024];
		snprintf(script, sizeof script, "%s", work_path("worker1-fails"));
		snprintf(text, sizeof text, "#!/bin/sh\n[ \"$HANDOFF_WORKER\" = 1 ] && %s\n"
			 "exec '%s' --listen %s\n", cases[i].worker1, httpd_bin, s.address);
		write_file_atomic(script, text, 0755);
		char *argv[64];
		run_argv(argv, 64, &s, 0, (char *[]){ "--workers", "3", "--ready-timeout",
						      (char *)scaled_duration(cases[i].timeout_ms),
						      NULL },
			 (char *[]){ script, NULL });
		unlink(s.log);
		struct spawn_options o = { .output = s.log };
		s.pid = spawn(argv, &o);
		int status;
		if (!wait_exit(s.pid, 20000, &status) || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 1)
			FAIL("%s: the supervisor did not exit 1; log:\n%s", cases[i].worker1,
			     file_text(s.log));
		if (!wait_file_contains(s.log, "failed: generation 1 worker 1 (pid", 1, 1000) ||
		    !strstr(file_text(s.log), cases[i].says))
			FAIL("%s: the failure does not name worker 1 and \"%s\"; log:\n%s",
			     cases[i].worker1, cases[i].says, file_text(s.log));
		ASSERT_EQ(count_in_file(s.log, "failed: "), 1); /* told once */
		nothing_left(s.port);
	}
}

/* A reload whose worker 1 cannot start fails, told once; the old two serve
 * on with their pids; the next good reload replaces them. */
void test_workers_failed_reload_keeps_the_old(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	char script[512], text[2048], fail[512];
	snprintf(script, sizeof script, "%s", work_path("worker1-may-fail"));
	snprintf(fail, sizeof fail, "%s", work_path("fail"));
	snprintf(text, sizeof text, "#!/bin/sh\n[ \"$HANDOFF_WORKER\" = 1 ] && [ -e '%s' ] && "
		 "exit 3\nexec '%s' --listen %s\n", fail, httpd_bin, s.address);
	write_file_atomic(script, text, 0755);
	sup_start(&s, (char *[]){ "--workers", "2", NULL }, (char *[]){ script, NULL }, NULL);
	struct generation_wait before = wait_generation(&s, 1, 2);
	write_file(fail, "", 0644);
	int code = control(&s, "reload");
	if (code != 1 || !strstr(said.err, "generation 2 worker 1 (pid") ||
	    !strstr(said.err, "exited with status 3 before it was ready"))
		FAIL("failed reload: exit %d, stdout %s, stderr %s; log:\n%s", code, said.out,
		     said.err, file_text(s.log));
	struct generation_wait after = wait_generation(&s, 1, 2);
	ASSERT_EQ(after.pids[0], before.pids[0]);
	ASSERT_EQ(after.pids[1], before.pids[1]);
	ASSERT_EQ(count_in_file(s.log, "failed: "), 1);
	unlink(fail);
	code = control(&s, "reload");
	if (code != 0 || !strstr(said.out, "ok generation 3 (2 workers) ready"))
		FAIL("good reload: exit %d, stdout %s, stderr %s; log:\n%s", code, said.out,
		     said.err, file_text(s.log));
	wait_generation(&s, 3, 2);
	sup_stop(&s);
}

/* --workers takes a number of processes from 1 to 16, nothing else. */
void test_workers_bad_input(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	static const char *const bad[] = { "0", "-1", "abc", "", "1.5", " 2", "2 ", "17",
					   "99999999999999999999", "0x2" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int code = handoff((char *[]){ "run", "--workers", (char *)bad[i], "-l",
					       s.address, "--", httpd_bin, NULL });
		if (code != 2 || !strstr(said.err, "--workers") ||
		    !strstr(said.err, "expected a number of processes from 1 to 16"))
			FAIL("--workers '%s': exit %d, stderr: %s", bad[i], code, said.err);
		nothing_left(s.port);
	}
	ASSERT_EQ(handoff((char *[]){ "run", "--help", NULL }), 0);
	if (!strstr(said.out, "--workers N"))
		FAIL("run --help does not list --workers:\n%s", said.out);
}
