/* test-daemonize.c — `handoff run` with servers that daemonize: the first
 * process forks (the child calls setsid() and may fork again) and exits 0.
 * The supervisor, a child subreaper, gets what it left and follows it as
 * the generation: it becomes ready, is reloaded and drained, and nothing
 * of it outlives `handoff stop`. A first process that exits 0 leaving no
 * process of its generation is still a generation that exited.
 *
 * The helper daemon keeps its environment, so guard_descendants() finds
 * it; nginx writes its process title over its environment, so its
 * processes are guarded by pid (guard_pid) as soon as we learn them. */
#include "supervisor-kit.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char follow_words[] = "running: following it as the generation";

/* The log must say that generation `number` was followed, ending at pid. */
static void expect_followed(const struct sup *s, unsigned number, pid_t pid)
{
	char want[128];
	snprintf(want, sizeof want, "generation %u (pid ", number);
	char *log = read_file(s->log);
	int found = 0;
	for (char *line = log; line && (line = strstr(line, want)); line++) {
		char *eol = strchr(line, '\n');
		char tail[96];
		snprintf(tail, sizeof tail, "left pid %d %s", (int)pid, follow_words);
		found |= eol && memmem(line, (size_t)(eol - line), tail, strlen(tail)) != NULL;
	}
	free(log);
	if (!found)
		FAIL("the log does not say that generation %u was followed to pid %d; "
		     "log:\n%s", number, (int)pid, file_text(s->log));
}

struct followed_wait {
	const struct sup *s;
	unsigned number;
	const char *serving;   /* a log line the daemon writes, "%d" its pid */
	struct gen found;
};

static int log_has_pid_line(const char *log, const char *format, pid_t pid)
{
	char line[160];
	snprintf(line, sizeof line, format, (int)pid);
	return count_in_file(log, line) > 0;
}

static int is_followed(void *arg)
{
	struct followed_wait *w = arg;
	struct gen g[8];
	char line[96];
	if (generations(w->s, g, 8) != 1 || g[0].number != w->number ||
	    strcmp(g[0].state, "ready") != 0)
		return 0;
	snprintf(line, sizeof line, "left pid %d %s", (int)g[0].pid, follow_words);
	if (!count_in_file(w->s->log, line) || getsid(g[0].pid) == getsid(0) ||
	    (w->serving && !log_has_pid_line(w->s->log, w->serving, g[0].pid)))
		return 0;
	w->found = g[0];
	return 1;
}

/* Generation `number` is the only one, ready, and its pid is a daemon it
 * became, in a session of its own (setsid), (and the one that serves, if `serving` says how to tell): a
 * server that is slow to fork may be ready (--ready=delay:) before. */
static struct gen wait_followed(const struct sup *s, unsigned number,
				const char *serving)
{
	struct followed_wait w = { .s = s, .number = number, .serving = serving };
	if (!wait_for(is_followed, &w, 10000))
		FAIL("generation %u was not followed to its daemon; status:\n%s\nlog:\n%s",
		     number, said.out, file_text(s->log));
	expect_followed(s, number, w.found.pid);
	return w.found;
}

static const char helper_serving[] = "daemon pid=%d sid=";

static int gone(void *arg)
{
	return kill(*(pid_t *)arg, 0) < 0 && errno == ESRCH;
}

/* (a) The classic double fork, READY=1 from the daemon, under load: five
 * reloads, none failing, each old daemon drained; `handoff stop` leaves
 * nothing. Then the same daemon without READY=1, under --ready=delay:. */
void test_supervisor_follows_a_daemonizing_server(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	char *daemon[] = { self_exe, "--helper", "daemon", "double", NULL };
	int code = sup_daemon(&s, (char *[]){ "--drain-timeout",
					      (char *)scaled_duration(5000), NULL },
			      daemon);
	if (code != 0)
		FAIL("handoff run --daemon exited %d: %s%s\nlog:\n%s", code, said.out,
		     said.err, file_text(s.log));
	struct gen g = wait_followed(&s, 1, helper_serving);
	ASSERT(answers(s.port, g.pid, 1));

	struct load l;
	struct load_result r;
	load_start(&l, s.port, (char *[]){ "--keepalive", "0", "--fresh", "4", NULL });
	for (unsigned n = 2; n <= 6; n++)
		reload_ok(&s, n, (int)n - 1);
	load_stop(&l, &r);
	load_print("5 reloads of a daemonizing server", &r);
	check_no_failures(&r);
	/* The load may stop before its next request reaches generation 6
	 * (seen in CI); answers() below proves that 6 serves. */
	ASSERT(r.gen_max >= 5);
	g = wait_followed(&s, 6, helper_serving);
	ASSERT(answers(s.port, g.pid, 6));
	/* Each generation was followed once or twice (the intermediate
	 * process too, when we met it alive). */
	int follows = count_in_file(s.log, follow_words);
	printf("  %d follows for 6 generations\n", follows);
	ASSERT(follows >= 6 && follows <= 12);
	ASSERT_EQ(count_in_file(s.log, "ignored: not one of our generations"), 0);
	sup_stop(&s); /* `handoff stop`; nothing of ours left running */

	/* --ready=delay: with a daemon that says nothing. */
	sup_init(&s);
	char *quiet[] = { self_exe, "--helper", "daemon", "quiet", NULL };
	char ready[64];
	snprintf(ready, sizeof ready, "--ready=delay:%s", scaled_duration(300));
	code = sup_daemon(&s, (char *[]){ ready, NULL }, quiet);
	if (code != 0)
		FAIL("--ready=delay: handoff run --daemon exited %d: %s%s\nlog:\n%s", code,
		     said.out, said.err, file_text(s.log));
	g = wait_followed(&s, 1, helper_serving);
	ASSERT(answers(s.port, g.pid, 1));
	reload_ok(&s, 2, 1);
	g = wait_followed(&s, 2, helper_serving);
	ASSERT(answers(s.port, g.pid, 2));
	sup_stop(&s);
}

/* (b') The daemon's intermediate process met while it exits, its memory
 * gone and its child not yet ours (helpers.c, daemon_slow_exit): followed,
 * and through it the daemon. Before, the generation was taken for one that
 * exited before it was ready. */
void test_supervisor_follows_a_daemon_through_an_exiting_parent(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	char *daemon[] = { self_exe, "--helper", "daemon", "slow-exit", NULL };
	int code = sup_daemon(&s, NULL, daemon);
	if (code != 0)
		FAIL("handoff run --daemon exited %d: %s%s\nlog:\n%s", code, said.out,
		     said.err, file_text(s.log));
	struct gen g = wait_followed(&s, 1, helper_serving);
	ASSERT(answers(s.port, g.pid, 1));
	int follows = count_in_file(s.log, follow_words);
	printf("  %d follows\n", follows);
	ASSERT(follows == 1 || follows == 2);
	sup_stop(&s);
}

/* (c) A first process that exits 0 leaving nothing of its generation is a
 * generation that exited, as before: here once alone, once leaving a
 * process that does not carry the generation's environment (env -i). The
 * first start failing ends the supervisor with status 1; the stray, in the
 * generation's process group, is killed. */
void test_supervisor_exit_0_leaving_nothing(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	char stray_file[256], script[512];
	snprintf(stray_file, sizeof stray_file, "%s", work_path("stray.pid"));
	const char *scripts[] = {
		"exit 0",
		/* Once it is sleep (env, then sleep, exec'd): before, it is the
		 * shell's fork, which carries the marker and would be followed. */
		"env -i /bin/sleep 30 & echo $! > '%s'; n=0; while [ \"$(cat "
		"/proc/$!/comm)\" != sleep ] && [ $n -lt 10000 ]; do n=$((n+1)); "
		"done; exit 0",
	};
	for (int i = 0; i < 2; i++) {
		snprintf(script, sizeof script, scripts[i], stray_file);
		char *argv[64];
		run_argv(argv, 64, &s, 0,
			 (char *[]){ "--ready-timeout", (char *)scaled_duration(10000), NULL },
			 (char *[]){ "/bin/sh", "-c", script, NULL });
		unlink(s.log);
		int code = run_command(argv, NULL, s.log, 30000);
		if (code != 1 || !count_in_file(s.log, "exited with status 0 before it "
							 "was ready"))
			FAIL("\"%s\": handoff run exited %d; log:\n%s", script, code,
			     file_text(s.log));
		if (count_in_file(s.log, follow_words))
			FAIL("\"%s\" was followed; log:\n%s", script, file_text(s.log));
	}
	pid_t stray = read_pid(stray_file);
	ASSERT(stray > 0);
	int status;
	if (!wait_gone(stray, 10000, &status))
		FAIL("the process left behind (pid %d) still runs", (int)stray);
	nothing_left(s.port);
}

/* ------------------------------------------------------------- nginx */

static void nginx_config(int port, const char *dir)
{
	char text[4096], path[512];
	snprintf(path, sizeof path, "%s/nginx.conf", dir);
	snprintf(text, sizeof text,
		 "daemon on;\n"
		 "worker_processes 1;\n"
		 "pid %s/nginx.pid;\n"
		 "error_log %s/error.log notice;\n"
		 "events { worker_connections 256; }\n"
		 "http {\n"
		 "  access_log off;\n"
		 "  client_body_temp_path %s/body; proxy_temp_path %s/proxy;\n"
		 "  fastcgi_temp_path %s/fastcgi; uwsgi_temp_path %s/uwsgi;\n"
		 "  scgi_temp_path %s/scgi;\n"
		 "  keepalive_timeout 0;\n"
		 "  server { listen 127.0.0.1:%d reuseport;\n"
		 "           return 200 \"nginx pid=$pid\\n\"; }\n"
		 "}\n", dir, dir, dir, dir, dir, dir, dir, port);
	write_file(path, text, 0644);
}

static pid_t parent_of(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	char *stat = read_file(path);
	char *paren = stat ? strrchr(stat, ')') : NULL;
	int ppid = 0;
	if (!paren || sscanf(paren + 1, " %*c %d", &ppid) != 1)
		ppid = 0;
	free(stat);
	return ppid;
}

struct nginx_wait {
	int port;
	pid_t master, worker;
	char body[256];
};

/* An answer from a worker of the master we follow: until the old one has
 * drained, its workers may answer too (reuseport: a queue each). */
static int answered_by_master(void *arg)
{
	struct nginx_wait *w = arg;
	int code = http_get("127.0.0.1", w->port, "/", w->body, sizeof w->body);
	char *pid = code == 200 ? strstr(w->body, "nginx pid=") : NULL;
	w->worker = pid ? (pid_t)atoi(pid + 10) : 0;
	if (w->worker > 0)
		guard_pid(w->worker);
	return w->worker > 0 && parent_of(w->worker) == w->master;
}

static pid_t nginx_answers(const struct sup *s, int port, pid_t master)
{
	struct nginx_wait w = { .port = port, .master = master };
	if (!wait_for(answered_by_master, &w, 10000))
		FAIL("no answer from a worker of nginx master %d, the last: \"%s\" "
		     "(worker %d, child of %d); log:\n%s", (int)master, w.body,
		     (int)w.worker, (int)parent_of(w.worker), file_text(s->log));
	return w.worker;
}

/* (b) Debian's nginx with `daemon on;`: its first process forks the master,
 * which calls setsid() and writes its title over its environment; the
 * master is followed as the generation, drains on QUIT, and nothing of it
 * outlives `handoff stop`.
 *
 * nginx binds its port itself here (`reuseport`, so that two generations
 * can), not through NGINX=3;, its binary-upgrade route: an nginx that
 * inherits sockets never daemonizes (src/core/nginx.c: `if (!ngx_inherited
 * && ccf->daemon) ngx_daemon()`), so there would be nothing to follow. */
void test_supervisor_follows_nginx(void)
{
	locate();
	const char *nginx = "/usr/sbin/nginx";
	if (access(nginx, X_OK) < 0)
		SKIP("no %s", nginx);
	struct sup s;
	sup_init(&s);
	int port = free_port();
	char dir[256], conf[512], err[512];
	snprintf(dir, sizeof dir, "%s", work_path("nginx"));
	if (mkdir(dir, 0755) < 0)
		FAIL("mkdir %s: %s", dir, strerror(errno));
	nginx_config(port, dir);
	snprintf(conf, sizeof conf, "%s/nginx.conf", dir);
	snprintf(err, sizeof err, "%s/error.log", dir);
	char ready[64];
	snprintf(ready, sizeof ready, "--ready=delay:%s", scaled_duration(500));
	sup_start(&s, (char *[]){ "--stop-signal", "QUIT", ready, "--drain-timeout",
				  (char *)scaled_duration(10000), NULL },
		  (char *[]){ (char *)nginx, "-e", err, "-p", dir, "-c", conf, NULL }, NULL);
	pid_t masters[2], workers[2];
	for (unsigned n = 1; n <= 2; n++) {
		if (n > 1)
			reload_ok(&s, n, (int)n - 1);
		struct gen g = wait_followed(&s, n, NULL);
		masters[n - 1] = g.pid;
		guard_pid(g.pid);
		workers[n - 1] = nginx_answers(&s, port, g.pid);
	}
	/* `handoff stop`: QUIT to the master, which drains and exits 0. */
	s.daemon = 1;
	int status;
	int code = control(&s, "stop");
	if (code != 0)
		FAIL("stop: exit %d: %s%s", code, said.out, said.err);
	if (!wait_gone(s.pid, 30000, &status) || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		FAIL("the supervisor did not stop cleanly; log:\n%s", file_text(s.log));
	for (int i = 0; i < 2; i++)
		if (!wait_for(gone, &masters[i], 10000) || !wait_for(gone, &workers[i], 10000))
			FAIL("nginx master %d or worker %d outlived the supervisor; log:\n%s",
			     (int)masters[i], (int)workers[i], file_text(s.log));
	if (count_in_file(s.log, "exited with status 0 after draining") != 2)
		FAIL("both nginx generations should have drained; log:\n%s",
		     file_text(s.log));
	nothing_left(s.port);
	if (!refused(port))
		FAIL("something still listens on nginx's port %d", port);
}
