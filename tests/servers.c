/* servers.c — the programs under test, driven the same way by every test: the
 * example httpd, the library-based helper server, and the load client. */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* ---------------------------------------------------------------- httpd */

static int serving(void *arg)
{
	struct httpd *s = arg;
	pid_t pid = read_pid(s->pidfile);
	char body[256], want[64];
	if (!pid || pid == s->pid)
		return 0;
	snprintf(want, sizeof want, "pid=%d", (int)pid);
	return http_get("127.0.0.1", s->port, "/", body, sizeof body) == 200 &&
	       strstr(body, want);
}

void httpd_start(struct httpd *s, const char *program, char *const extra[])
{
	httpd_start_with_pidfile(s, work_path("httpd.pid"), program, extra);
}

void httpd_start_with_pidfile(struct httpd *s, const char *pidfile,
			      const char *program, char *const extra[])
{
	memset(s, 0, sizeof *s);
	s->port = free_port();
	snprintf(s->address, sizeof s->address, "127.0.0.1:%d", s->port);
	snprintf(s->pidfile, sizeof s->pidfile, "%s", pidfile);
	snprintf(s->log, sizeof s->log, "%s", work_path("httpd.log"));
	snprintf(s->program, sizeof s->program, "%s",
		 program ? program : bin_path("examples/httpd"));
	char *argv[32] = { s->program, "--listen", s->address,
			   "--pidfile", s->pidfile };
	int n = 5;
	for (int i = 0; extra && extra[i] && n < 31; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	struct spawn_options o = { .output = s->log };
	pid_t first = spawn(argv, &o);
	if (!wait_for(serving, s, 10000))
		FAIL("httpd did not start serving; log:\n%s", file_text(s->log));
	s->pid = read_pid(s->pidfile);
	ASSERT_EQ(s->pid, first);
}

pid_t httpd_upgrade(struct httpd *s)
{
	pid_t old = s->pid;
	int status;
	long start = clock_us();
	if (kill(old, SIGHUP) < 0)
		FAIL("kill -HUP %d: %s", (int)old, strerror(errno));
	if (!wait_for(serving, s, 10000))
		FAIL("no new generation after SIGHUP to %d; log:\n%s", (int)old,
		     file_text(s->log));
	s->ready_us = clock_us() - start;
	s->pid = read_pid(s->pidfile);
	if (!wait_exit(old, 15000, &status))
		FAIL("old generation %d did not exit", (int)old);
	s->gone_us = clock_us() - start;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("old generation %d ended with status 0x%x", (int)old, status);
	return s->pid;
}

void httpd_stop(struct httpd *s)
{
	int status;
	kill(s->pid, SIGTERM);
	if (!wait_exit(s->pid, 15000, &status))
		FAIL("httpd %d did not stop", (int)s->pid);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("httpd %d stopped with status 0x%x", (int)s->pid, status);
}

/* ----------------------------------------------------------------- load */

void load_start(struct load *l, int port, char *const extra[])
{
	char target[64];
	snprintf(target, sizeof target, "127.0.0.1:%d", port);
	snprintf(l->output, sizeof l->output, "%s", work_path("load.out"));
	unlink(l->output);
	char *argv[32] = { bin_path("loadgen"), "--target", target };
	int n = 3;
	for (int i = 0; extra && extra[i] && n < 31; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	struct spawn_options o = { .output = l->output };
	l->pid = spawn(argv, &o);
	if (!wait_file_contains(l->output, "ready\n", 1, 10000))
		FAIL("loadgen not ready:\n%s", file_text(l->output));
}

/* -1 when the key is missing. */
static long field(const char *text, const char *key)
{
	char pattern[40];
	snprintf(pattern, sizeof pattern, "\n%s=", key);
	const char *p = strstr(text, pattern);
	return p ? strtol(p + strlen(pattern), NULL, 10) : -1;
}

int load_report_parse(const char *text, struct load_result *r)
{
	*r = (struct load_result){ 0 };
	if (!text || field(text, "requests") < 0 || field(text, "max_us") < 0)
		return -1;
	*r = (struct load_result){
		.requests = field(text, "requests"), .ok = field(text, "ok"),
		.failed = field(text, "failed"), .refused = field(text, "refused"),
		.reset = field(text, "reset"), .eof = field(text, "eof"),
		.timeout = field(text, "timeout"), .non200 = field(text, "non200"),
		.other = field(text, "other"), .slow_ok = field(text, "slow_ok"),
		.slow_failed = field(text, "slow_failed"),
		.server_closes = field(text, "server_closes"),
		.kept_connects = field(text, "kept_connects"),
		.conn_gens_min = field(text, "conn_gens_min"),
		.generations = field(text, "generations"),
		.gen_min = field(text, "gen_min"), .gen_max = field(text, "gen_max"),
		.p50_us = field(text, "p50_us"), .p99_us = field(text, "p99_us"),
		.max_us = field(text, "max_us"),
	};
	const char *rps = strstr(text, "\nrps=");
	r->rps = rps ? strtod(rps + 5, NULL) : 0;
	return 0;
}

int load_window_parse(const char *text, int number, struct load_window *w)
{
	char start[32];
	snprintf(start, sizeof start, "\nwindow=%d ", number);
	const char *p = text ? strstr(text, start) : NULL;
	*w = (struct load_window){ 0 };
	/* The keys in the order loadgen writes them (bench/loadgen.c). */
	return p && sscanf(p + strlen(start), "requests=%ld failed=%ld p50_us=%ld p99_us=%ld "
			   "max_us=%ld span_us=%ld", &w->requests, &w->failed, &w->p50_us,
			   &w->p99_us, &w->max_us, &w->span_us) == 6 ? 0 : -1;
}

void load_stop(struct load *l, struct load_result *r)
{
	int status;
	kill(l->pid, SIGTERM);
	if (!wait_exit(l->pid, 15000, &status))
		FAIL("loadgen did not stop");
	char *text = read_file(l->output);
	if (load_report_parse(text, r) < 0)
		FAIL("loadgen gave no report:\n%s", text ? text : "");
	if (r->failed)
		fprintf(stderr, "  loadgen output:\n%s\n", text);
	free(text);
}

void load_print(const char *label, const struct load_result *r)
{
	printf("  %s: %ld requests, %ld failed (refused %ld, reset %ld, eof %ld, "
	       "timeout %ld, non200 %ld, other %ld), %ld generations, "
	       "p50 %ld us, p99 %ld us\n",
	       label, r->requests, r->failed, r->refused, r->reset, r->eof,
	       r->timeout, r->non200, r->other, r->generations, r->p50_us,
	       r->p99_us);
}

/* ------------------------------------------------ the helper server */

void expect_in_file(const char *path, const char *needle)
{
	if (!wait_file_contains(path, needle, 1, 10000))
		FAIL("expected \"%s\" in %s:\n%s", needle, path, file_text(path));
}

void server_start(struct server *s, const char *spec, char *const env[])
{
	snprintf(s->log, sizeof s->log, "%s", work_path("server.log"));
	struct spawn_options o = { .output = s->log, .env = env };
	s->pid = spawn_helper("server", spec, &o);
	char line[64];
	snprintf(line, sizeof line, "ready generation=1 pid=%d result=0", (int)s->pid);
	expect_in_file(s->log, line);
}

/* SIGHUP; waits for generation `generation` and for the old one to exit 0. */
pid_t server_upgrade(struct server *s, unsigned generation)
{
	char line[64];
	int status;
	snprintf(line, sizeof line, "ready generation=%u pid=", generation);
	kill(s->pid, SIGHUP);
	expect_in_file(s->log, line);
	char *text = read_file(s->log);
	pid_t next = (pid_t)atoi(strstr(text, line) + strlen(line));
	free(text);
	if (!wait_exit(s->pid, 10000, &status) || status != 0)
		FAIL("generation %u (%d) did not exit cleanly", generation - 1,
		     (int)s->pid);
	s->pid = next;
	return next;
}

void server_stop(struct server *s)
{
	int status;
	kill(s->pid, SIGTERM);
	if (!wait_exit(s->pid, 10000, &status) || status != 0)
		FAIL("server %d did not stop cleanly", (int)s->pid);
}


void check_no_failures(const struct load_result *r)
{
	if (r->failed)
		FAIL("%ld of %ld requests failed", r->failed, r->requests);
	ASSERT(r->ok > 0);
}

