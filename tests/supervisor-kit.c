/* supervisor-kit.c — what the tests of `handoff run` share: starting a
 * supervisor, asking it (handoff reload|stop|status), waiting for its
 * generations, and checking that nothing is left behind. */
#include "supervisor-kit.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

char handoff_bin[512], httpd_bin[512];

void locate(void)
{
	guard_descendants();
	snprintf(handoff_bin, sizeof handoff_bin, "%s", bin_path("handoff"));
	snprintf(httpd_bin, sizeof httpd_bin, "%s", bin_path("examples/httpd"));
}

/* What the last `handoff` command printed. */
struct said said;

void slurp(char *buf, size_t size, const char *path)
{
	char *text = read_file(path);
	snprintf(buf, size, "%s", text ? text : "");
	free(text);
}

/* Runs build/handoff ARGS...; returns its exit status, output in `said`. */
int handoff(char *const args[])
{
	char *argv[48] = { handoff_bin };
	int n = 1;
	for (; args[n - 1] && n < 47; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	char out[512], err[512];
	snprintf(out, sizeof out, "%s", work_path("handoff.out"));
	snprintf(err, sizeof err, "%s", work_path("handoff.err"));
	int code = run_command(argv, out, err, 30000);
	slurp(said.out, sizeof said.out, out);
	slurp(said.err, sizeof said.err, err);
	return code;
}


void sup_init(struct sup *s)
{
	memset(s, 0, sizeof *s);
	s->port = free_port();
	snprintf(s->address, sizeof s->address, "127.0.0.1:%d", s->port);
	snprintf(s->pidfile, sizeof s->pidfile, "%s", work_path("handoff.pid"));
	snprintf(s->log, sizeof s->log, "%s", work_path("handoff.log"));
}

/* argv of `handoff run [--daemon] --pidfile P OPTIONS -l ADDR -- COMMAND`. */
void run_argv(char **argv, int max, const struct sup *s, int daemon,
		     char *const options[], char *const command[])
{
	int n = 0;
	argv[n++] = handoff_bin;
	argv[n++] = "run";
	if (daemon)
		argv[n++] = "--daemon";
	argv[n++] = "--pidfile";
	argv[n++] = (char *)s->pidfile;
	for (int i = 0; options && options[i] && n < max - 8; i++)
		argv[n++] = options[i];
	argv[n++] = "-l";
	argv[n++] = (char *)s->address;
	argv[n++] = "--";
	for (int i = 0; command[i] && n < max - 1; i++)
		argv[n++] = command[i];
	argv[n] = NULL;
}

/* Starts a foreground supervisor (our child, logging to s->log) and waits
 * until its first generation is ready. */
void sup_start(struct sup *s, char *const options[], char *const command[],
		      char *const env[])
{
	char *argv[64];
	run_argv(argv, 64, s, 0, options, command);
	unlink(s->log); /* a new supervisor, a new log */
	struct spawn_options o = { .output = s->log, .env = env };
	s->pid = spawn(argv, &o);
	/* "(pid N)", or "(N workers)" with --workers */
	if (!wait_file_contains(s->log, "ok: generation 1 (", 1, 20000))
		FAIL("the supervisor's first generation is not ready; log:\n%s",
		     file_text(s->log));
	ASSERT_EQ(read_pid(s->pidfile), s->pid);
}

/* `handoff run --daemon --log s->log ...`: returns its exit status; the
 * daemon's pid (from the pid file) in s->pid when it started. */
int sup_daemon(struct sup *s, char *const options[], char *const command[])
{
	char *opts[32] = { "--log", s->log };
	int n = 2;
	for (int i = 0; options && options[i] && n < 31; i++)
		opts[n++] = options[i];
	opts[n] = NULL;
	char *argv[64];
	run_argv(argv, 64, s, 1, opts, command);
	char out[512], err[512];
	snprintf(out, sizeof out, "%s", work_path("daemon.out"));
	snprintf(err, sizeof err, "%s", work_path("daemon.err"));
	int code = run_command(argv, out, err, 30000);
	slurp(said.out, sizeof said.out, out);
	slurp(said.err, sizeof said.err, err);
	s->daemon = 1;
	s->pid = read_pid(s->pidfile);
	return code;
}

int control(const struct sup *s, const char *verb)
{
	return handoff((char *[]){ (char *)verb, "--pidfile", (char *)s->pidfile, NULL });
}


/* The generations `status --json` lists. */
int generations(const struct sup *s, struct gen *g, int max)
{
	int code = handoff((char *[]){ "status", "--json", "--pidfile",
				       (char *)s->pidfile, NULL });
	if (code != 0)
		FAIL("status --json exited %d: %s", code, said.err);
	int n = 0;
	for (char *p = said.out; n < max && (p = strstr(p, "{\"number\":")); p++) {
		g[n].worker = 0;
		if (sscanf(p, "{\"number\":%u,\"pid\":%d,\"state\":\"%15[^\"]\","
			   "\"main_exited\":%*[a-z],\"worker\":%d", &g[n].number, &g[n].pid,
			   g[n].state, &g[n].worker) >= 3)
			n++;
	}
	return n;
}

/* The one ready generation, checking there is exactly one generation. */
struct gen only_generation(const struct sup *s)
{
	struct gen g[8];
	int n = generations(s, g, 8);
	if (n != 1 || strcmp(g[0].state, "ready") != 0)
		FAIL("expected one ready generation, status says:\n%s", said.out);
	return g[0];
}

struct serving_wait {
	const struct sup *s;
	unsigned number;
};

static int is_serving(void *arg)
{
	struct serving_wait *w = arg;
	struct gen g[8];
	return generations(w->s, g, 8) == 1 && g[0].number == w->number &&
	       strcmp(g[0].state, "ready") == 0;
}

/* Waits until generation `number` is the only one, and ready. */
struct gen wait_serving(const struct sup *s, unsigned number)
{
	struct serving_wait w = { s, number };
	if (!wait_for(is_serving, &w, 10000))
		FAIL("generation %u is not the one serving:\n%s\nlog:\n%s", number,
		     said.out, file_text(s->log));
	return only_generation(s);
}

/* Generation `number` (pid) answers on port, within 10 s: until the old
 * generation has closed its copy of the listener it may still accept. */
int answers(int port, pid_t pid, unsigned number)
{
	char body[256], want[64];
	snprintf(want, sizeof want, "generation=%u pid=%d", number, (int)pid);
	if (wait_http_body("127.0.0.1", port, "/", want, body, sizeof body, 10000))
		return 1;
	printf("  expected an answer from \"%s\", the last was: %s\n", want, body);
	return 0;
}

/* `handoff reload` must exit 0 and name generation `number`; then waits
 * until the previous generations have drained and exited 0. */
void reload_ok(const struct sup *s, unsigned number, int drained)
{
	int code = control(s, "reload");
	char want[64];
	snprintf(want, sizeof want, "ok generation %u (pid ", number);
	if (code != 0 || !strstr(said.out, want))
		FAIL("reload to generation %u: exit %d\nstdout: %s\nstderr: %s\nlog:\n%s",
		     number, code, said.out, said.err, file_text(s->log));
	if (drained && !wait_file_contains(s->log, "exited with status 0 after draining",
					   drained, 20000))
		FAIL("%d generations should have drained and exited 0; log:\n%s",
		     drained, file_text(s->log));
}

int refused(int port)
{
	return http_get("127.0.0.1", port, "/", NULL, 0) == -ECONNREFUSED;
}

int nothing_guarded_now(void *arg)
{
	(void)arg;
	return count_guarded() == 0;
}

int port_refuses(void *port)
{
	return refused(*(int *)port);
}

/* As the supervisor judges it (src/base/pidfile.c): a write lock on the
 * file's open file description, which a child can inherit and hold on. */
static int pidfile_free(void *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	struct flock lock = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	int held = fcntl(fd, F_OFD_GETLK, &lock) < 0 || lock.l_type != F_UNLCK;
	close(fd);
	return !held;
}

/* Nothing the test started is left running (supervisor, generations and
 * whatever they started), and nothing listens on port. A process that
 * exits gives its memory back before its descriptors: gone from the count,
 * it may hold the port a moment more. */
void nothing_left(int port)
{
	if (!wait_for(nothing_guarded_now, NULL, 10000))
		FAIL("%d processes the test started are still running", count_guarded());
	if (!wait_for(port_refuses, &port, 5000))
		FAIL("something still listens on 127.0.0.1:%d", port);
}

void nothing_holds(const struct sup *s)
{
	nothing_left(s->port);
	if (!wait_for(pidfile_free, (void *)s->pidfile, 5000))
		FAIL("%s is still locked", s->pidfile);
}

/* Stops the supervisor (SIGTERM, or `handoff stop` for a daemon): it must
 * exit 0, remove its pid file, and leave nothing listening or running. */
void sup_stop(struct sup *s)
{
	int status;
	if (s->daemon) {
		int code = control(s, "stop");
		if (code != 0 || !strstr(said.out, "ok stopping"))
			FAIL("stop: exit %d: %s%s", code, said.out, said.err);
	} else {
		kill(s->pid, SIGTERM);
	}
	if (!wait_gone(s->pid, 30000, &status)) {
		pid_t left[16];
		int n = children_of(s->pid, left, 16);
		fprintf(stderr, "  the supervisor and the %d process(es) it still has:\n  ", n);
		describe_process(s->pid, stderr);
		for (int i = 0; i < n; i++) {
			fprintf(stderr, "  ");
			describe_process(left[i], stderr);
		}
		FAIL("supervisor %d did not stop; log:\n%s", (int)s->pid, file_text(s->log));
	}
	if (status != -1 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		FAIL("supervisor %d ended with status 0x%x; log:\n%s", (int)s->pid,
		     status, file_text(s->log));
	if (access(s->pidfile, F_OK) == 0)
		FAIL("pid file %s left behind", s->pidfile);
	ASSERT(count_in_file(s->log, "stopped") >= 1);
	nothing_left(s->port);
}


void install_httpd(const char *path, const struct sup *s)
{
	char text[2048];
	snprintf(text, sizeof text, "#!/bin/sh\nexec '%s' --listen %s\n", httpd_bin,
		 s->address);
	write_file_atomic(path, text, 0755);
}

void install_gated_httpd(const char *path, const struct sup *s, const char *go)
{
	char text[2048];
	snprintf(text, sizeof text,
		 "#!/bin/sh\nn=0; while [ ! -e '%s' ] && [ $n -lt 1500 ]; do sleep 0.02; "
		 "n=$((n+1)); done\nexec '%s' --listen %s\n", go, httpd_bin, s->address);
	write_file_atomic(path, text, 0755);
}

void sup_terminate(const struct sup *s)
{
	int status;
	kill(s->pid, SIGTERM);
	if (!wait_exit(s->pid, 30000, &status) || status != 0)
		FAIL("supervisor stop: 0x%x; log:\n%s", status, file_text(s->log));
}

const char *python(void)
{
	/* Debian's own, as a plain machine has it; else whatever PATH has. */
	return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

struct ready_wait {
	const struct sup *s;
	struct gen found;
};

static int exactly_one_ready(void *arg)
{
	struct ready_wait *w = arg;
	struct gen g[8];
	if (generations(w->s, g, 8) != 1 || strcmp(g[0].state, "ready") != 0)
		return 0;
	w->found = g[0];
	return 1;
}

/* Waits until exactly one generation exists and it is ready; returns it. */
struct gen wait_one_ready(const struct sup *s)
{
	struct ready_wait w = { .s = s };
	if (!wait_for(exactly_one_ready, &w, 10000))
		FAIL("no single ready generation; status:\n%s\nlog:\n%s", said.out,
		     file_text(s->log));
	return w.found;
}

/* The path of the supervisor's notify socket, from `status --json`. */
void notify_path(const struct sup *s, char *out, size_t size)
{
	struct gen g[8];
	generations(s, g, 8); /* leaves status --json in said.out */
	char *at = strstr(said.out, "\"notify_socket\":\"");
	int n = at ? (int)strcspn(at + 17, "\"") : 0;
	if (!at || n <= 0 || (size_t)n >= size)
		FAIL("no notify_socket in status: %s", said.out);
	snprintf(out, size, "%.*s", n, at + 17);
}

