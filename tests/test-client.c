/* test-client.c — `handoff` as its user meets it: stop returns only once
 * everything is gone (and says when it had to kill), every command has
 * --help, --version names the release, and the supervisor's log lines
 * carry the time unless the journal adds its own. */
#include "supervisor-kit.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------ stop */

/* Right after `handoff stop` returned, with no wait at all: nothing the
 * test started runs (a zombie waiting for us to reap it is no longer
 * running), nothing listens, the pid file and the control socket are gone,
 * and none of the generations' pids is alive. */
static void gone_at_once(const struct sup *s, const pid_t *gens, int count)
{
	char control_path[300];
	snprintf(control_path, sizeof control_path, "%s.control", s->pidfile);
	int running = count_guarded();
	if (running)
		FAIL("`handoff stop` returned, but %d processes still run; log:\n%s",
		     running, file_text(s->log));
	for (int i = 0; i < count; i++)
		if (!(kill(gens[i], 0) < 0 && errno == ESRCH))
			FAIL("generation pid %d is still there", (int)gens[i]);
	if (!refused(s->port))
		FAIL("something still listens on %s", s->address);
	if (access(s->pidfile, F_OK) == 0 || access(control_path, F_OK) == 0)
		FAIL("the pid file or the control socket is left behind: %s",
		     access(s->pidfile, F_OK) == 0 ? s->pidfile : control_path);
}

/* The supervisor stopped by `handoff stop` (a zombie by now, adopted by
 * the test) must have exited 0. */
static void reap_supervisor(const struct sup *s)
{
	int status;
	if (!wait_gone(s->pid, 5000, &status))
		FAIL("supervisor %d still there after stop returned", (int)s->pid);
	if (status != -1 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		FAIL("supervisor %d ended with status 0x%x; log:\n%s", (int)s->pid, status,
		     file_text(s->log));
}

/* Two generations, one of them draining a slow request: `handoff stop`
 * waits for both, the slow client gets its answer, and `handoff run` on
 * the same pid file and port starts at once. */
void test_client_stop_waits_for_everything(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	char *command[] = { httpd_bin, "--listen", s.address, NULL };
	if (sup_daemon(&s, NULL, command) != 0)
		FAIL("handoff run --daemon: %s%s", said.out, said.err);
	struct gen g1 = wait_serving(&s, 1);
	int slow = http_send("127.0.0.1", s.port, "/sleep?ms=2000");
	ASSERT(slow >= 0);
	if (!wait_request_taken(g1.pid, slow, 10000))
		FAIL("generation 1 did not take the slow request");
	/* Its answer is read as it comes, not after the stop: httpd's lingering
	 * close waits for the client's end of stream. */
	fflush(NULL);
	pid_t reader = fork();
	if (reader == 0) {
		char body[256];
		int got = http_answer(slow, body, sizeof body, 20000);
		_exit(got == 200 && strstr(body, "generation=1 ") ? 0 : 1);
	}
	close(slow);
	reload_ok(&s, 2, 0);
	pid_t gens[] = { g1.pid, 0 };
	const char *named = strstr(said.out, "ok generation 2 (pid ");
	if (!named || sscanf(named, "ok generation 2 (pid %d", &gens[1]) != 1)
		FAIL("reload named no pid: %s", said.out);

	long start = now_ms();
	int code = control(&s, "stop");
	long took = now_ms() - start;
	gone_at_once(&s, gens, 2);
	if (code != 0 || !strstr(said.out, "ok stopping") || !strstr(said.out, "ok stopped"))
		FAIL("stop: exit %d\nstdout: %s\nstderr: %s", code, said.out, said.err);
	printf("  stop returned in %ld ms: %s", took, said.out);
	int status;
	if (!wait_exit(reader, 10000, &status) || status != 0)
		FAIL("the slow request got no answer from generation 1 (0x%x)", status);
	reap_supervisor(&s);

	/* `handoff stop && handoff run`: the same pid file, the same port. */
	if (sup_daemon(&s, NULL, command) != 0)
		FAIL("handoff run right after stop: %s%s\nlog:\n%s", said.out, said.err,
		     file_text(s.log));
	ASSERT(answers(s.port, only_generation(&s).pid, 1));
	sup_stop(&s);
}

static int exists(void *path)
{
	return access(path, F_OK) == 0;
}

/* A generation that ignores its stop signal, a supervisor whose own drain
 * deadline is far away: `handoff stop --timeout` asks again at the
 * timeout, which kills it, and exits 3 once everything is gone. */
void test_client_stop_kills_at_timeout(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	char script[512], started[512], text[1200];
	snprintf(script, sizeof script, "%s", work_path("stubborn.sh"));
	snprintf(started, sizeof started, "%s", work_path("ignoring"));
	/* SIG_IGN survives exec: sleep ignores SIGTERM too. */
	snprintf(text, sizeof text, "#!/bin/sh\ntrap '' TERM\n: > '%s'\nexec sleep 3600\n",
		 started);
	write_file_atomic(script, text, 0755);
	sup_start(&s, (char *[]){ "--ready=delay:50ms", "--drain-timeout", "10m", NULL },
		  (char *[]){ script, NULL }, NULL);
	struct gen g = only_generation(&s);
	if (!wait_for(exists, started, 10000))
		FAIL("the generation never got to ignore SIGTERM");

	long start = now_ms();
	int code = handoff((char *[]){ "stop", "--timeout", "300ms", "--pidfile",
				       s.pidfile, NULL });
	long took = now_ms() - start;
	gone_at_once(&s, &g.pid, 1);
	if (code != 3 || !strstr(said.out, "ok stopped") ||
	    !strstr(said.err, "still stopping after 300 ms"))
		FAIL("stop --timeout 300ms: exit %d (3 expected)\nstdout: %s\nstderr: %s\n"
		     "log:\n%s", code, said.out, said.err, file_text(s.log));
	printf("  stop returned 3 in %ld ms: %s  %s", took, said.err, said.out);
	/* Not the supervisor's own drain deadline (10 minutes) that ended it. */
	ASSERT(took < 60000);
	ASSERT_EQ(count_in_file(s.log, "second stop request: killing every generation"), 1);
	ASSERT_EQ(count_in_file(s.log, "killed by signal 9 (Killed) on the second stop"), 1);
	reap_supervisor(&s);
	nothing_left(s.port);
}

/* A stop without a supervisor fails, and says so. */
void test_client_stop_without_supervisor(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	int code = control(&s, "stop");
	if (code != 1 || !strstr(said.err, "no supervisor is running"))
		FAIL("stop with no supervisor: exit %d: %s%s", code, said.out, said.err);
	code = handoff((char *[]){ "stop", "--timeout", "0", "--pidfile", s.pidfile, NULL });
	if (code != 2 || !strstr(said.err, "usage: handoff stop"))
		FAIL("stop --timeout 0: exit %d: %s%s", code, said.out, said.err);
}

/* ------------------------------------------------------ help, version */

void test_client_help_and_version(void)
{
	locate();
	static char *const asks[][3] = {
		{ "--help" }, { "-h" }, { "help" },
		{ "run", "--help" }, { "run", "-h" }, { "help", "run" },
		{ "reload", "--help" }, { "reload", "-h" }, { "help", "reload" },
		{ "stop", "--help" }, { "stop", "-h" }, { "help", "stop" },
		{ "status", "--help" }, { "status", "-h" }, { "help", "status" },
	};
	for (size_t i = 0; i < sizeof asks / sizeof *asks; i++) {
		int code = handoff(asks[i]);
		const char *topic = strcmp(asks[i][0], "help") == 0 ? asks[i][1] : asks[i][0];
		char want[64] = "usage: handoff ";
		if (topic && topic[0] != '-')
			snprintf(want, sizeof want, "usage: handoff %s", topic);
		if (code != 0 || !strstr(said.out, want) || said.err[0])
			FAIL("handoff %s %s: exit %d, \"%s\" expected on stdout\n"
			     "stdout: %s\nstderr: %s", asks[i][0], asks[i][1] ? asks[i][1] : "",
			     code, want, said.out, said.err);
	}
	/* The exit statuses of stop are part of its usage. */
	ASSERT_EQ(handoff((char *[]){ "stop", "--help", NULL }), 0);
	ASSERT(strstr(said.out, "  3  stopped, but only by killing"));
	/* Still an error when it is one: stderr and 2. */
	ASSERT_EQ(handoff((char *[]){ "stop", "--bogus", NULL }), 2);
	ASSERT(strstr(said.err, "usage: handoff stop") && !said.out[0]);
	ASSERT_EQ(handoff((char *[]){ "help", "frobnicate", NULL }), 2);

	char want[64];
	snprintf(want, sizeof want, "handoff %d.%d.%d\n", HANDOFF_VERSION_MAJOR,
		 HANDOFF_VERSION_MINOR, HANDOFF_VERSION_PATCH);
	ASSERT_EQ(handoff((char *[]){ "--version", NULL }), 0);
	ASSERT_STR_EQ(said.out, want);
	ASSERT_EQ(handoff((char *[]){ "version", NULL }), 0);
	ASSERT_STR_EQ(said.out, want);
	printf("  %s", want);
}

/* ------------------------------------------------------ log lines */

/* "2026-12-01T12:34:56.789Z " at line: its time (UTC), or -1. */
static time_t stamp_of(const char *line)
{
	struct tm tm = { 0 };
	int ms = -1, n = 0;
	if (sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ %n", &tm.tm_year, &tm.tm_mon,
		   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms, &n) != 7 ||
	    n != 25 || ms < 0)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

/* Every line of the supervisor pid in log text: stamped with a time of
 * around now, or not stamped at all. Returns how many lines it wrote. */
static int check_lines(const char *text, pid_t pid, int stamped)
{
	char tag[64];
	snprintf(tag, sizeof tag, "handoff[%d]: ", (int)pid);
	int lines = 0;
	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n'), *at = strstr(line, tag);
		int length = end ? (int)(end - line) : (int)strlen(line);
		if (at && at < line + length) {
			lines++;
			time_t t = stamp_of(line);
			int ok = stamped ? at == line + 25 && t >= 0 &&
						   labs((long)(t - time(NULL))) < 600
					 : at == line;
			if (!ok)
				FAIL("a line %s a time stamp: \"%.*s\"\nthe log:\n%s",
				     stamped ? "without" : "with", length, line, text);
		}
		line = end ? end + 1 : NULL;
	}
	return lines;
}

/* A supervisor with the given environment (NULL-terminated), its stderr
 * the file log (created first: JOURNAL_STREAM may name it), started and
 * stopped; returns its pid. */
static pid_t run_logging(struct sup *s, const char *log, char *const env[])
{
	char *argv[64];
	run_argv(argv, 64, s, 0, NULL, (char *[]){ httpd_bin, "--listen", s->address, NULL });
	struct spawn_options o = { .output = log, .env = env };
	s->pid = spawn(argv, &o);
	if (!wait_file_contains(log, "ok: generation 1 (pid", 1, 20000))
		FAIL("no generation 1; log:\n%s", file_text(log));
	int code = control(s, "stop");
	if (code != 0)
		FAIL("stop: exit %d: %s%s", code, said.out, said.err);
	int status;
	if (!wait_gone(s->pid, 5000, &status) || status != 0)
		FAIL("supervisor %d: 0x%x; log:\n%s", (int)s->pid, status, file_text(log));
	return s->pid;
}

static void journal_stream_of(const char *path, char *out, size_t size)
{
	struct stat st;
	if (stat(path, &st) < 0)
		FAIL("stat %s: %s", path, strerror(errno));
	snprintf(out, size, "JOURNAL_STREAM=%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
}

/* Stamped lines on a plain stderr, even with a JOURNAL_STREAM that names
 * another file; none when it names the supervisor's stderr. */
void test_client_log_lines_carry_the_time(void)
{
	locate();
	unsetenv("JOURNAL_STREAM"); /* in case the suite runs under systemd */
	struct sup s;
	sup_init(&s);
	char plain[512], other[512], mismatch[512], journal[512], elsewhere[128],
		here[128];
	snprintf(plain, sizeof plain, "%s", work_path("plain.log"));
	snprintf(other, sizeof other, "%s", work_path("other.log"));
	snprintf(mismatch, sizeof mismatch, "%s", work_path("mismatch.log"));
	snprintf(journal, sizeof journal, "%s", work_path("journal.log"));
	write_file(other, "", 0644);
	write_file(journal, "", 0644);
	journal_stream_of(other, elsewhere, sizeof elsewhere);
	journal_stream_of(journal, here, sizeof here);

	pid_t pid = run_logging(&s, plain, (char *[]){ NULL });
	char *text = read_file(plain);
	int lines = check_lines(text, pid, 1);
	ASSERT(lines >= 4); /* started, ready, stopping, stopped */
	printf("  %.*s", (int)strcspn(text, "\n") + 1, text);
	free(text);

	pid = run_logging(&s, mismatch, (char *[]){ elsewhere, NULL });
	text = read_file(mismatch);
	ASSERT(check_lines(text, pid, 1) >= 4);
	free(text);

	pid = run_logging(&s, journal, (char *[]){ here, NULL });
	text = read_file(journal);
	ASSERT(check_lines(text, pid, 0) >= 4);
	printf("  with %s: %.*s", here, (int)strcspn(text, "\n") + 1, text);
	free(text);
}
