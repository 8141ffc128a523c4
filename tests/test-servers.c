/* test-servers.c — real servers from Debian, unmodified, under `handoff run`
 * by adoption: each started as its documentation says and told only its
 * port, reloaded 20 times while the load client opens one new connection
 * per request. Adoption promises that no connection is ever refused: the
 * listening socket never closes. Whether a request already accepted by the
 * generation being replaced is answered is the server's own drain; the
 * figures, and the servers' own reloads beside them, are in
 * docs/servers.md (reproduce: build/tests/run-tests servers_).
 *
 * Each test skips (77) when its server is not installed; .ci/run installs
 * them. A static C server (tests/static-server.c) shows that no library in
 * the server's process is involved. The last test makes reloads fail in
 * the three ways a real process does, while the old generation serves. */
#include "supervisor-kit.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define RELOADS 20

/* ---------------------------------------------------------------- kit */

static const char *need(const char *program)
{
	const char *path = find_program(program);
	if (!path)
		SKIP("%s is not installed (Debian: see .ci/run)", program);
	return strdup(path);
}

static char *copy(const char *text)
{
	char *p = strdup(text);
	ASSERT(p);
	return p;
}

/* `handoff run --ready=listen --stop-signal SIG -l 127.0.0.1:PORT -- ...`:
 * readiness by listen() is what a server that knows nothing of READY=1
 * offers. The supervisor and everything under it are killed when the test
 * ends, whatever ends it (nginx rewrites its environment, out of sight of
 * guard_descendants()). */
static void start(struct sup *s, const char *stop_signal, char *const command[])
{
	sup_start(s, (char *[]){ "--ready=listen", "--stop-signal", (char *)stop_signal,
				 "--ready-timeout", (char *)scaled_duration(20000), NULL },
		  command, NULL);
	guard_pid(s->pid);
}

/* The sockets the load client has open: a keep-alive client has one
 * while it is connected, none while it backs off after a failure. (Counted
 * on the client's side: the server's side would need /proc/net/tcp, whose
 * thousands of TIME_WAIT lines on a busy machine make it too slow to read
 * while connections come and go.) */
static int client_sockets(pid_t pid)
{
	char dir[64], link[300], target[64];
	snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
	int n = 0;
	for (int fd = 0; fd < 256; fd++) {
		snprintf(link, sizeof link, "%s/%d", dir, fd);
		ssize_t len = readlink(link, target, sizeof target - 1);
		n += len > 7 && strncmp(target, "socket:", 7) == 0;
	}
	return n;
}

struct clients {
	pid_t loadgen;
	int want;
};

static int clients_connected(void *arg)
{
	struct clients *c = arg;
	return client_sockets(c->loadgen) >= c->want;
}

/* Before the next reload, every keep-alive client is connected again: a
 * reload is measured against the full load, not against clients still
 * backing off after the last one (a restart with no client connected
 * costs nothing, and would make the figures a matter of pace). */
static void wait_clients(pid_t loadgen, int want, const char *what)
{
	struct clients c = { loadgen, want };
	if (want && !wait_for(clients_connected, &c, 10000))
		FAIL("%s: the %d keep-alive clients did not connect again", what, want);
}

/* RELOADS reloads, each one waited for (`handoff reload` says ok, the old
 * generation has exited 0 by itself), under loadgen with load_args; with
 * pace, each once that many clients are connected. */
struct drains {
	const char *log;
	int want;
};

/* Drains that ended by themselves, cleanly or not: not at the deadline. */
static int drains_ended(void *arg)
{
	const struct drains *d = arg;
	return count_in_file(d->log, " after draining") +
		       count_in_file(d->log, " when asked to drain") +
		       count_in_file(d->log, " while draining") >= d->want;
}

/* strict: each old generation exits 0 by itself. Otherwise it may also
 * die of its own shutdown: python's interpreter sometimes crashes (SIGSEGV)
 * while its daemon threads are torn down, without handoff as with it. */
static void reload_and_drain(struct sup *s, unsigned number, int strict)
{
	if (strict) {
		reload_ok(s, number, (int)number - 1);
		return;
	}
	reload_ok(s, number, 0);
	struct drains d = { s->log, (int)number - 1 };
	if (!wait_for(drains_ended, &d, 20000))
		FAIL("%d generations should have drained; log:\n%s", d.want, file_text(s->log));
}

static void reloads_under_load_as(struct sup *s, unsigned *next,
				  char *const load_args[], int pace, const char *label,
				  struct load_result *r, int strict);

static void reloads_under_load(struct sup *s, unsigned *next, char *const load_args[],
			       int pace, const char *label, struct load_result *r)
{
	reloads_under_load_as(s, next, load_args, pace, label, r, 1);
}

static void reloads_under_load_as(struct sup *s, unsigned *next, char *const load_args[],
				  int pace, const char *label, struct load_result *r,
				  int strict)
{
	struct load l;
	load_start(&l, s->port, load_args);
	long start = now_ms();
	for (int i = 0; i < RELOADS; i++, (*next)++) {
		wait_clients(l.pid, pace, label);
		reload_and_drain(s, *next, strict);
	}
	long took = now_ms() - start;
	load_stop(&l, r);
	load_print(label, r);
	printf("  %d reloads in %ld ms: %.2f failed requests per reload\n", RELOADS, took,
	       (double)r->failed / RELOADS);
}

/* What adoption itself guarantees, whatever the server: nothing refused
 * (the listener never closes), nothing left waiting (every generation
 * answered or closed what it took), nothing garbled. */
static void check_adoption_guarantee(const struct load_result *r, const struct sup *s)
{
	if (r->refused || r->timeout || r->non200 || r->other || r->ok == 0)
		FAIL("refused %ld, timeout %ld, non200 %ld, other %ld, ok %ld; log:\n%s",
		     r->refused, r->timeout, r->non200, r->other, r->ok, file_text(s->log));
}

struct server_case {
	const char *label;
	const char *stop_signal;
	char **command;
	char *const *fresh_args;      /* one new connection per request */
	char *const *keepalive_args;  /* NULL: no keep-alive run */
	int keepalive_clients;        /* its connections, for the pace */
	/* 1: its process may crash at exit, past our control (python's
	 * interpreter tearing down its daemon threads): an old generation
	 * killed by a signal while draining is accepted. */
	int may_crash_at_exit;
};

/* How the old generations finished so far: quiet after how long, or at
 * --finish-timeout (keep-alive clients that never leave). */
static void print_finishing(const struct sup *s)
{
	const char *text = file_text(s->log), *at = text;
	long quiet = 0, deadline = 0, most = 0;
	static const char said_quiet[] = "has answered what it took after ";
	while ((at = strstr(at, said_quiet))) {
		at += sizeof said_quiet - 1;
		long ms = strtol(at, NULL, 10);
		quiet++;
		most = ms > most ? ms : most;
	}
	for (at = text; (at = strstr(at, "at the finish deadline")); at++)
		deadline++;
	printf("  finishing so far: %ld quiet (the slowest after %ld ms), %ld at the "
	       "deadline\n", quiet, most, deadline);
}

static char *fresh_http[] = { "--keepalive", "0", "--fresh", "4", NULL };
static char *keepalive_http[] = { "--keepalive", "8", "--fresh", "0", NULL };

static void exercise(const struct server_case *c)
{
	struct sup s;
	sup_init(&s);
	/* The port goes into the command: find "PORT" and "ADDR" in it. */
	char port[16];
	snprintf(port, sizeof port, "%d", s.port);
	for (int i = 0; c->command[i]; i++)
		if (strcmp(c->command[i], "PORT") == 0)
			c->command[i] = port;
	start(&s, c->stop_signal, c->command);
	struct gen g = only_generation(&s);
	printf("  %s: generation 1 pid %d ready\n", c->label, (int)g.pid);

	unsigned next = 2;
	struct load_result r;
	char label[128];
	snprintf(label, sizeof label, "%s, %d reloads, a new connection per request",
		 c->label, RELOADS);
	reloads_under_load_as(&s, &next, c->fresh_args, 0, label, &r,
			      !c->may_crash_at_exit);
	/* Not one: each old generation finished what it took before it was
	 * asked to stop, new clients going to its successor (tool/steer.h). */
	check_adoption_guarantee(&r, &s);
	check_no_failures(&r);
	print_finishing(&s);

	if (c->keepalive_args) {
		/* Reported, never failed: a keep-alive client's next request
		 * races the old generation closing its idle connection, a
		 * matter of the server's drain, not of the listener. */
		snprintf(label, sizeof label, "%s, %d reloads, keep-alive (reported)",
			 c->label, RELOADS);
		reloads_under_load_as(&s, &next, c->keepalive_args,
				      c->keepalive_clients, label, &r, !c->may_crash_at_exit);
		if (r.refused || r.timeout)
			FAIL("keep-alive: refused %ld, timeout %ld; log:\n%s", r.refused,
			     r.timeout, file_text(s.log));
	}
	if (c->keepalive_args)
		print_finishing(&s);
	ASSERT_EQ(read_pid(s.pidfile), s.pid);
	ASSERT_EQ(count_in_file(s.log, "still draining at the deadline"), 0);
	sup_stop(&s);
}

/* ------------------------------------------------- the servers themselves */

/* python3 -m http.server: SIGINT is its KeyboardInterrupt, after which it
 * says so and exits 0; SIGTERM (Python's default action: die) would cut
 * the request in hand too. Either way its handler threads are daemon
 * threads that die with the interpreter, and the interrupt can land
 * between accept() and the thread: it does not drain. It speaks HTTP/1.0,
 * so the keep-alive run opens a connection per request as well. */
void test_servers_python_http_server(void)
{
	locate();
	char *command[] = { copy(python()), "-m", "http.server", "PORT", "--bind",
			    "127.0.0.1", NULL };
	exercise(&(struct server_case){ "python3 -m http.server", "INT", command,
					fresh_http, keepalive_http, 0, 1 });
}

/* The work directory's paths for a server's files, made once. */
static char *in_dir(const char *dir, const char *name)
{
	char *path = copy(path_join(dir, name));
	return path;
}

static char *make_dir(const char *name)
{
	char *dir = copy(work_path(name));
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		FAIL("mkdir %s: %s", dir, strerror(errno));
	/* nginx's workers run as nobody when it starts as root. */
	chmod(dir, 0755);
	return dir;
}

static void write_index(const char *dir, const char *text)
{
	char *www = in_dir(dir, "www");
	if (mkdir(www, 0755) < 0 && errno != EEXIST)
		FAIL("mkdir %s: %s", www, strerror(errno));
	write_file(path_join(www, "index.html"), text, 0644);
	free(www);
}

/* A plain nginx.conf: every path in dir, nothing from /etc/nginx. */
static char *nginx_config(const char *dir, int port)
{
	char text[2048], *conf = in_dir(dir, "nginx.conf");
	snprintf(text, sizeof text,
		 "daemon off;\nmaster_process on;\nworker_processes 1;\n"
		 "pid %s/nginx.pid;\nerror_log %s/error.log;\n"
		 "events { worker_connections 512; }\n"
		 "http {\n  access_log %s/access.log;\n"
		 "  client_body_temp_path %s/body;\n  proxy_temp_path %s/proxy;\n"
		 "  fastcgi_temp_path %s/fastcgi;\n  uwsgi_temp_path %s/uwsgi;\n"
		 "  scgi_temp_path %s/scgi;\n"
		 "  server { listen 127.0.0.1:%d; root %s/www; }\n}\n",
		 dir, dir, dir, dir, dir, dir, dir, dir, port, dir);
	write_file(conf, text, 0644);
	write_index(dir, "hello from nginx\n");
	return conf;
}

static char **nginx_command(const char *nginx, const char *dir, const char *conf)
{
	static char *command[12];
	char **c = command;
	*c++ = (char *)nginx;
	*c++ = "-e"; /* its error log from the start: not /var/log/nginx */
	*c++ = in_dir(dir, "error.log");
	*c++ = "-p";
	*c++ = (char *)dir;
	*c++ = "-c";
	*c++ = (char *)conf;
	*c = NULL;
	return command;
}

/* nginx: SIGQUIT is its graceful shutdown (the master closes its listeners,
 * the workers finish what they accepted). */
void test_servers_nginx(void)
{
	locate();
	const char *nginx = need("nginx");
	char *dir = make_dir("nginx");
	/* nginx names its port in its configuration: the same as ours. */
	struct sup s;
	sup_init(&s);
	char *conf = nginx_config(dir, s.port);
	start(&s, "QUIT", nginx_command(nginx, dir, conf));
	unsigned next = 2;
	struct load_result r;
	reloads_under_load(&s, &next, fresh_http, 0,
			   "nginx, 20 reloads, a new connection per request", &r);
	check_adoption_guarantee(&r, &s);
	check_no_failures(&r);
	reloads_under_load(&s, &next, keepalive_http, 8,
			   "nginx, 20 reloads, keep-alive (reported)", &r);
	print_finishing(&s);
	ASSERT_EQ(r.refused + r.timeout, 0);
	ASSERT_EQ(count_in_file(s.log, "still draining at the deadline"), 0);
	sup_stop(&s);
}

/* The same configuration, nginx alone (our child, in the foreground):
 * its own reload (SIGHUP to the master: new workers, the old ones finish
 * gracefully) under the same keep-alive load, for docs/servers.md. */
struct nginx_reload {
	pid_t master;
	pid_t old[16];
	int old_count;
};

static int workers_replaced(void *arg)
{
	struct nginx_reload *w = arg;
	pid_t now[16];
	int n = children_of(w->master, now, 16);
	for (int i = 0; i < n; i++)
		for (int k = 0; k < w->old_count; k++)
			if (now[i] == w->old[k])
				return 0;
	return n > 0;
}

void test_servers_nginx_own_reload(void)
{
	locate();
	const char *nginx = need("nginx");
	char *dir = make_dir("nginx");
	int port = free_port();
	char *conf = nginx_config(dir, port);
	char log[512];
	snprintf(log, sizeof log, "%s", in_dir(dir, "stdout.log"));
	struct spawn_options o = { .output = log };
	pid_t master = spawn(nginx_command(nginx, dir, conf), &o);
	guard_pid(master);
	char body[256];
	if (!wait_http_body("127.0.0.1", port, "/", "hello from nginx", body, sizeof body,
			    10000))
		FAIL("nginx does not answer: %s\n%s", body, file_text(log));
	struct load l;
	struct load_result r;
	load_start(&l, port, keepalive_http);
	for (int i = 0; i < RELOADS; i++) {
		wait_clients(l.pid, 8, "nginx -s reload");
		struct nginx_reload w = { .master = master };
		w.old_count = children_of(master, w.old, 16);
		kill(master, SIGHUP);
		if (!wait_for(workers_replaced, &w, 10000))
			FAIL("nginx -s reload %d: the old workers are still there\n%s", i + 1,
			     file_text(path_join(dir, "error.log")));
	}
	load_stop(&l, &r);
	load_print("nginx alone, 20 SIGHUP reloads, keep-alive (reported)", &r);
	printf("  %.2f failed requests per reload\n", (double)r.failed / RELOADS);
	ASSERT_EQ(r.refused + r.timeout, 0);
	stop_tree(master, SIGQUIT);
}

/* redis-server, told its port and nothing to persist. SIGTERM is its clean
 * shutdown; it has no graceful one: clients it accepted in the event-loop
 * round that shuts down are closed unanswered. */
void test_servers_redis(void)
{
	locate();
	const char *redis = need("redis-server");
	char *dir = make_dir("redis");
	char *command[] = { (char *)redis, "--port", "PORT", "--bind", "127.0.0.1",
			    "--save", "", "--appendonly", "no", "--dir", dir, NULL };
	static char *fresh[] = { "--keepalive", "0", "--fresh", "4", "--redis-ping", NULL };
	static char *keepalive[] = { "--keepalive", "8", "--fresh", "0", "--redis-ping", NULL };
	exercise(&(struct server_case){ "redis-server", "TERM", command, fresh, keepalive, 8,
					0 });
}

static char *lighttpd_config(const char *dir, int port)
{
	char text[1024], *conf = in_dir(dir, "lighttpd.conf");
	snprintf(text, sizeof text,
		 "server.port = %d\nserver.bind = \"127.0.0.1\"\n"
		 "server.document-root = \"%s/www\"\nserver.errorlog = \"%s/error.log\"\n"
		 "index-file.names = ( \"index.html\" )\n", port, dir, dir);
	write_file(conf, text, 0644);
	write_index(dir, "hello from lighttpd\n");
	return conf;
}

/* lighttpd -D -f CONF: SIGINT is its graceful shutdown (SIGTERM: at once). */
void test_servers_lighttpd(void)
{
	locate();
	const char *lighttpd = need("lighttpd");
	char *dir = make_dir("lighttpd");
	struct sup s;
	sup_init(&s);
	char *conf = lighttpd_config(dir, s.port);
	char *command[] = { (char *)lighttpd, "-D", "-f", conf, NULL };
	struct server_case c = { "lighttpd", "INT", command, fresh_http, keepalive_http, 8,
				 0 };
	start(&s, c.stop_signal, c.command);
	unsigned next = 2;
	struct load_result r;
	reloads_under_load(&s, &next, fresh_http, 0,
			   "lighttpd, 20 reloads, a new connection per request", &r);
	check_adoption_guarantee(&r, &s);
	check_no_failures(&r);
	reloads_under_load(&s, &next, keepalive_http, 8,
			   "lighttpd, 20 reloads, keep-alive (reported)", &r);
	ASSERT_EQ(r.refused + r.timeout, 0);
	ASSERT_EQ(count_in_file(s.log, "still draining at the deadline"), 0);
	sup_stop(&s);
}

/* lighttpd alone: its graceful restart (SIGUSR1) under the same keep-alive
 * load. It finishes the requests in hand, closes idle connections, and
 * starts again in the same process ("server started" in its log). */
void test_servers_lighttpd_own_reload(void)
{
	locate();
	const char *lighttpd = need("lighttpd");
	char *dir = make_dir("lighttpd");
	int port = free_port();
	char *conf = lighttpd_config(dir, port);
	char log[512], errors[512];
	snprintf(log, sizeof log, "%s", in_dir(dir, "stdout.log"));
	snprintf(errors, sizeof errors, "%s", in_dir(dir, "error.log"));
	struct spawn_options o = { .output = log };
	pid_t pid = spawn((char *[]){ (char *)lighttpd, "-D", "-f", conf, NULL }, &o);
	guard_pid(pid);
	char body[256];
	if (!wait_http_body("127.0.0.1", port, "/", "hello from lighttpd", body,
			    sizeof body, 10000))
		FAIL("lighttpd does not answer: %s\n%s", body, file_text(errors));
	struct load l;
	struct load_result r;
	load_start(&l, port, keepalive_http);
	for (int i = 0; i < RELOADS; i++) {
		wait_clients(l.pid, 8, "lighttpd SIGUSR1");
		kill(pid, SIGUSR1);
		if (!wait_file_contains(errors, "server started", i + 2, 10000))
			FAIL("lighttpd graceful restart %d did not finish:\n%s", i + 1,
			     file_text(errors));
	}
	load_stop(&l, &r);
	load_print("lighttpd alone, 20 SIGUSR1 restarts, keep-alive (reported)", &r);
	printf("  %.2f failed requests per reload\n", (double)r.failed / RELOADS);
	ASSERT_EQ(r.refused + r.timeout, 0);
	stop_tree(pid, SIGINT);
}

/* node: http.createServer().listen(PORT, '127.0.0.1'). Node dies on
 * SIGTERM by default, cutting what is in flight; this script handles it as
 * a Node server that wants to drain must: server.close() (no new
 * connection, the requests in hand finish), its idle keep-alive
 * connections closed (server.close() does that itself only since Node 19;
 * Debian 12 has 18), and "Connection: close" on every answer after that,
 * so that a busy keep-alive client is let go cleanly instead of holding
 * the old generation up. Then the event loop empties and node exits 0. */
void test_servers_node(void)
{
	locate();
	const char *node = need("node");
	struct sup s;
	sup_init(&s);
	char *script = copy(work_path("server.js"));
	char text[1024];
	snprintf(text, sizeof text,
		 "const http = require('http');\n"
		 "let draining = false;\n"
		 "const server = http.createServer((req, res) => {\n"
		 "  if (draining) res.setHeader('Connection', 'close');\n"
		 "  res.end(`generation=${process.env.HANDOFF_GENERATION} pid=${process.pid}\\n`);\n"
		 "});\n"
		 "server.listen(%d, '127.0.0.1');\n"
		 "process.on('SIGTERM', () => {\n"
		 "  draining = true;\n"
		 "  server.close();\n"
		 "  server.closeIdleConnections?.();\n"
		 "});\n", s.port);
	write_file(script, text, 0644);
	char *command[] = { (char *)node, script, NULL };
	start(&s, "TERM", command);
	unsigned next = 2;
	struct load_result r;
	reloads_under_load(&s, &next, fresh_http, 0,
			   "node, 20 reloads, a new connection per request", &r);
	check_adoption_guarantee(&r, &s);
	check_no_failures(&r);
	ASSERT(r.generations >= RELOADS);
	reloads_under_load(&s, &next, keepalive_http, 8,
			   "node, 20 reloads, keep-alive (reported)", &r);
	print_finishing(&s);
	ASSERT_EQ(r.refused + r.timeout, 0);
	ASSERT_EQ(count_in_file(s.log, "still draining at the deadline"), 0);
	sup_stop(&s);
}

/* ------------------------------------------------- a static binary */

/* 1 if path is an ELF file without a PT_INTERP program header: nothing but
 * the kernel loads it, so no library can interpose on its bind(). */
static int statically_linked(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	unsigned char head[64];
	ssize_t n = read(fd, head, sizeof head);
	int ok = n == 64 && memcmp(head, "\177ELF", 4) == 0 && head[4] == 2; /* 64-bit */
	if (ok) {
		uint64_t phoff;
		uint16_t phentsize, phnum;
		memcpy(&phoff, head + 32, 8);
		memcpy(&phentsize, head + 54, 2);
		memcpy(&phnum, head + 56, 2);
		for (uint16_t i = 0; ok && i < phnum; i++) {
			uint32_t type;
			if (pread(fd, &type, 4, (off_t)(phoff + (uint64_t)i * phentsize)) != 4)
				ok = 0;
			else if (type == 3) /* PT_INTERP */
				ok = 0;
		}
	}
	close(fd);
	return ok;
}

void test_servers_static_binary(void)
{
	locate();
	/* Never sanitized, even next to the ASan runner (see the Makefile). */
	char *server = copy(bin_path("tests/static-server"));
	if (access(server, X_OK) < 0)
		FAIL("%s: %s (make builds it)", server, strerror(errno));
	if (!statically_linked(server))
		FAIL("%s has a PT_INTERP header: not static", server);
	char *command[] = { server, "PORT", NULL };
	struct server_case c = { "static-server", "TERM", command, fresh_http, NULL, 0,
				 0 };
	exercise(&c);
}

/* ------------------------------------------------- failed reloads */

static int answers_on(void *arg)
{
	char body[128];
	return http_get("127.0.0.1", *(int *)arg, "/", body, sizeof body) == 200;
}

static int silent_on(void *arg)
{
	return !answers_on(arg);
}

/* A reload that fails: exit 1 with reason on stderr. */
static void reload_fails(const struct sup *s, const char *reason)
{
	int code = control(s, "reload");
	printf("  reload: exit %d: %s", code, said.err);
	if (code != 1 || !strstr(said.err, reason))
		FAIL("expected exit 1 and \"%s\"; stdout: %s\nstderr: %s\nlog:\n%s", reason,
		     said.out, said.err, file_text(s->log));
}

/* Generation 1, the static server, serves under load while reloads fail:
 * a server that binds a port nobody holds (its bind passes through; it
 * serves there itself, but never listens on ours), one that exits at once,
 * one that binds our port but never listens. Not one request may fail. */
void test_servers_failed_reloads_keep_the_old_generation(void)
{
	locate();
	char *server = copy(bin_path("tests/static-server"));
	struct sup s;
	sup_init(&s);
	char *script = copy(work_path("server.sh"));
	char text[1024];
	snprintf(text, sizeof text, "#!/bin/sh\nexec '%s' %d\n", server, s.port);
	write_file_atomic(script, text, 0755);
	sup_start(&s, (char *[]){ "--ready=listen", "--ready-timeout",
				  (char *)scaled_duration(2000), NULL },
		  (char *[]){ script, NULL }, NULL);
	guard_pid(s.pid);
	struct gen first = only_generation(&s);
	struct load l;
	struct load_result r;
	load_start(&l, s.port, fresh_http);

	/* 1. Another port: the bind passes through and works, the log names it. */
	int other = free_port();
	snprintf(text, sizeof text, "#!/bin/sh\nexec '%s' %d\n", server, other);
	write_file_atomic(script, text, 0755);
	kill(s.pid, SIGHUP); /* asynchronous: to see it serve on the other port */
	if (!wait_for(answers_on, &other, 10000))
		FAIL("the new generation does not serve on 127.0.0.1:%d itself; log:\n%s",
		     other, file_text(s.log));
	char bound[96];
	snprintf(bound, sizeof bound, "it bound 127.0.0.1:%d itself", other);
	if (!wait_file_contains(s.log, bound, 1, 15000))
		FAIL("no \"%s\" in the log:\n%s", bound, file_text(s.log));
	ASSERT(count_in_file(s.log, "it listened on 0 of 1 listener(s)") >= 1);
	/* The log says "killing it" just before the kill: the killed server
	 * may answer on its own port a moment longer (seen under stress-ng). */
	if (!wait_for(answers_on, &s.port, 10000) || !wait_for(silent_on, &other, 10000))
		FAIL("after the failed reload: %s", file_text(s.log));

	/* 2. Exits at once: its own message and status reach the reason. */
	snprintf(text, sizeof text, "#!/bin/sh\nexec '%s' not-a-port\n", server);
	write_file_atomic(script, text, 0755);
	reload_fails(&s, "status 2");
	ASSERT(count_in_file(s.log, "usage: static-server PORT") >= 1);

	/* 3. Binds our port, never listens: the timeout says what it saw. */
	snprintf(text, sizeof text,
		 "#!/bin/sh\nexec '%s' -c 'import socket, time\n"
		 "s = socket.socket()\ns.bind((\"127.0.0.1\", %d))\ntime.sleep(60)'\n",
		 python(), s.port);
	write_file_atomic(script, text, 0755);
	reload_fails(&s, "not ready in time");
	/* What it did is in the log line that says why it was killed. */
	char seen[160];
	snprintf(seen, sizeof seen, "not ready within %s ms: it listened on 0 of 1 "
		 "listener(s) (missing 127.0.0.1:%d); killing it", scaled_ms(2000), s.port);
	if (count_in_file(s.log, seen) != 1)
		FAIL("no \"%s\" in the log:\n%s", seen, file_text(s.log));

	load_stop(&l, &r);
	load_print("static-server generation 1 across 3 failed reloads", &r);
	check_no_failures(&r);
	struct gen now = only_generation(&s);
	ASSERT_EQ(now.pid, first.pid);
	ASSERT(answers(s.port, first.pid, 1));
	sup_stop(&s);
}
