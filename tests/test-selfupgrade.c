/* test-selfupgrade.c — `handoff reload --self`: the supervisor re-executes
 * itself in place while its generations serve on; what it cannot do, it
 * refuses, and keeps running as it was. */
#include "supervisor-kit.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define FAULT_ENV "HANDOFF_TEST_SELF_UPGRADE_FAULT"

/* `handoff status`, without what changes by itself: the uptimes. */
static void status_text(const struct sup *s, char *out, size_t size)
{
	if (control(s, "status") != 0)
		FAIL("handoff status: %s%s", said.out, said.err);
	size_t n = 0;
	for (const char *p = said.out; *p && n + 1 < size;) {
		if (strncmp(p, "up ", 3) == 0 && p[3] >= '0' && p[3] <= '9') {
			p += 3;
			while ((*p >= '0' && *p <= '9') || *p == '.')
				p++;
			continue;
		}
		out[n++] = *p++;
	}
	out[n] = '\0';
}

static void self_upgrade_ok(const struct sup *s)
{
	int code = handoff((char *[]){ "reload", "--self", "--pidfile", (char *)s->pidfile,
				       NULL });
	if (code != 0 || !strstr(said.out, "ok supervisor upgraded in place"))
		FAIL("reload --self: exit %d, stdout %s, stderr %s; log:\n%s", code, said.out,
		     said.err, file_text(s->log));
}

/* The supervisor is the one we started, serving generation g as before. */
static void unchanged(const struct sup *s, const struct gen *g)
{
	ASSERT_EQ(kill(s->pid, 0), 0);
	ASSERT_EQ(read_pid(s->pidfile), s->pid);
	struct gen now = only_generation(s);
	ASSERT_EQ(now.number, g->number);
	ASSERT_EQ(now.pid, g->pid);
}

/* 20 self-upgrades under keep-alive load, and one by SIGPWR: nothing
 * fails, the same pid,
 * the same generation (none restarted), descriptors flat, status the same
 * but for the uptimes; then a reload and a stop work as ever. */
void test_supervisor_self_upgrade_under_load(void)
{
	locate();
	struct sup s;
	struct load l;
	struct load_result r;
	sup_init(&s);
	sup_start(&s, NULL, (char *[]){ httpd_bin, "--listen", s.address, NULL }, NULL);
	struct gen g1 = only_generation(&s);
	char before[4096], after[4096];
	status_text(&s, before, sizeof before);
	int fds = count_fds(s.pid);
	load_start(&l, s.port, (char *[]){ "--keepalive", "8", "--fresh", "2", NULL });
	for (int i = 0; i < 20; i++) {
		self_upgrade_ok(&s);
		ASSERT_EQ(count_fds(s.pid), fds);
	}
	/* The service manager's way: SIGPWR, its outcome in the log. */
	ASSERT_EQ(kill(s.pid, SIGPWR), 0);
	if (!wait_file_contains(s.log, "self-upgrade: supervisor upgraded in place", 21,
				10000))
		FAIL("SIGPWR: no self-upgrade; log:\n%s", file_text(s.log));
	load_stop(&l, &r);
	load_print("20 self-upgrades and a SIGPWR", &r);
	check_no_failures(&r);
	ASSERT_EQ(r.gen_min, 1);
	ASSERT_EQ(r.gen_max, 1);
	unchanged(&s, &g1);
	status_text(&s, after, sizeof after);
	if (strcmp(before, after) != 0)
		FAIL("status changed across the self-upgrades:\n%s\n---\n%s", before, after);
	ASSERT_EQ(count_fds(s.pid), fds);
	ASSERT_EQ(count_in_file(s.log, "self-upgrade: supervisor upgraded in place"), 21);
	ASSERT_EQ(count_in_file(s.log, "generation 2 started"), 0);
	reload_ok(&s, 2, 1);
	sup_stop(&s);
}

/* A self-upgrade while a reload is starting a generation: busy; the
 * reload then ends as it would have. */
void test_supervisor_self_upgrade_busy_during_reload(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	char script[512], go[512];
	snprintf(script, sizeof script, "%s", work_path("gated-httpd"));
	snprintf(go, sizeof go, "%s", work_path("go"));
	write_file(go, "", 0644);
	install_gated_httpd(script, &s, go);
	sup_start(&s, NULL, (char *[]){ script, NULL }, NULL);
	unlink(go);
	char *argv[] = { handoff_bin, "reload", "--pidfile", s.pidfile, NULL };
	struct spawn_options o = { .output = work_path("reload.out") };
	pid_t reload = spawn(argv, &o);
	if (!wait_file_contains(s.log, "generation 2 started", 1, 10000))
		FAIL("the reload did not start generation 2; log:\n%s", file_text(s.log));
	int code = handoff((char *[]){ "reload", "--self", "--pidfile", s.pidfile, NULL });
	if (code != 1 || !strstr(said.err, "busy"))
		FAIL("reload --self during a reload: exit %d, stdout %s, stderr %s", code,
		     said.out, said.err);
	ASSERT_EQ(count_in_file(s.log, "self-upgrade: checking"), 0);
	write_file(go, "", 0644);
	int status;
	if (!wait_exit(reload, 20000, &status) || status != 0)
		FAIL("the reload did not end well: 0x%x; log:\n%s", status, file_text(s.log));
	wait_serving(&s, 2);
	self_upgrade_ok(&s); /* and once it is over, it can */
	sup_stop(&s);
}

/* A supervisor with httpd under keep-alive load, its state damaged as
 * fault says (FAULT_ENV); served_on_end() checks that whatever was refused
 * lost nothing: no request failed, the same supervisor and generation,
 * descriptors flat, and a reload works after. */
struct served_on {
	struct sup s;
	struct load l;
	struct gen g1;
	int fds;
};

static void served_on_begin(struct served_on *t, const char *fault)
{
	char env[128];
	snprintf(env, sizeof env, FAULT_ENV "=%s", fault);
	sup_init(&t->s);
	sup_start(&t->s, NULL, (char *[]){ httpd_bin, "--listen", t->s.address, NULL },
		  (char *[]){ env, NULL });
	t->g1 = only_generation(&t->s);
	t->fds = count_fds(t->s.pid);
	load_start(&t->l, t->s.port, (char *[]){ "--keepalive", "4", "--fresh", "1", NULL });
}

static void served_on_end(struct served_on *t)
{
	struct load_result r;
	load_stop(&t->l, &r);
	check_no_failures(&r);
	unchanged(&t->s, &t->g1);
	ASSERT_EQ(count_fds(t->s.pid), t->fds);
	reload_ok(&t->s, 2, 1);
	sup_stop(&t->s);
}

/* One supervisor whose state is damaged as fault says: the new image
 * refuses it, the command exits 1 with the reason (want), and nothing
 * served is lost. */
static void refused_with(const char *fault, const char *want)
{
	struct served_on t;
	served_on_begin(&t, fault);
	struct sup *sp = &t.s;
	int code = handoff((char *[]){ "reload", "--self", "--pidfile", sp->pidfile, NULL });
	if (code != 1 || !strstr(said.err, want))
		FAIL("%s: reload --self: exit %d (want 1), stderr %s (want \"%s\"); log:\n%s",
		     fault, code, said.err, want, file_text(sp->log));
	/* Again, with a binary that is no handoff at all. */
	code = handoff((char *[]){ "reload", "--self", "--exec", "/bin/true", "--pidfile",
				   sp->pidfile, NULL });
	if (code != 1 || !strstr(said.err, "not a handoff that can take over"))
		FAIL("--exec /bin/true: exit %d, stderr %s", code, said.err);
	served_on_end(&t);
}

void test_supervisor_self_upgrade_refuses_bad_state(void)
{
	locate();
	refused_with("truncate", "state truncated");
	refused_with("garbage", "not a handoff supervisor state");
	refused_with("hostile", "refused the state");
}

/* The new image starts, reads the state, and cannot take over: it gives
 * the state back to the previous binary, which runs on; exit 1. */
void test_supervisor_self_upgrade_gives_state_back(void)
{
	locate();
	struct served_on t;
	served_on_begin(&t, "takeover");
	struct sup *sp = &t.s;
	int code = handoff((char *[]){ "reload", "--self", "--pidfile", sp->pidfile, NULL });
	if (code != 1 || !strstr(said.err, "could not take over") ||
	    !strstr(said.err, "the previous binary runs again"))
		FAIL("reload --self: exit %d, stdout %s, stderr %s; log:\n%s", code, said.out,
		     said.err, file_text(sp->log));
	served_on_end(&t);
}

/* Compatibility both ways: a state as the previous version wrote it (keys
 * missing: defaults) and as the next one will (keys unknown: ignored). */
void test_supervisor_self_upgrade_formats(void)
{
	locate();
	const char *faults[] = { "previous", "next" };
	for (int i = 0; i < 2; i++) {
		struct sup s;
		char env[128], before[4096], after[4096];
		snprintf(env, sizeof env, FAULT_ENV "=%s", faults[i]);
		sup_init(&s);
		sup_start(&s, NULL, (char *[]){ httpd_bin, "--listen", s.address, NULL },
			  (char *[]){ env, NULL });
		struct gen g1 = only_generation(&s);
		status_text(&s, before, sizeof before);
		self_upgrade_ok(&s);
		self_upgrade_ok(&s);
		unchanged(&s, &g1);
		status_text(&s, after, sizeof after);
		if (strcmp(before, after) != 0)
			FAIL("%s: status changed:\n%s\n---\n%s", faults[i], before, after);
		reload_ok(&s, 2, 1);
		sup_stop(&s);
	}
}

/* ------------------------------------------------ --check-state, by hand */

/* `handoff run --check-state FD -l ADDR -- true` on text, with the
 * descriptors at fds[] inherited; we are its parent, so the state is
 * "ours". Returns its exit status, what it printed in said.out. */
static int check_state(const char *text, const int *fds, int count)
{
	int state = memfd_create("state", 0);
	ASSERT(state > 2);
	ASSERT_EQ(write(state, text, strlen(text)), (ssize_t)strlen(text));
	char fd_text[16], *out = work_path("check.out");
	snprintf(fd_text, sizeof fd_text, "%d", state);
	char *argv[] = { handoff_bin, "run", "--check-state", fd_text, "-l",
			 "127.0.0.1:1", "--", "true", NULL };
	fflush(NULL);
	pid_t pid = fork();
	ASSERT(pid >= 0);
	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		dup2(o, 1);
		dup2(o, 2);
		for (int i = 0; i < count; i++)
			fcntl(fds[i], F_SETFD, 0);
		execv(handoff_bin, argv);
		_exit(127);
	}
	int status;
	if (!wait_exit(pid, 10000, &status))
		FAIL("--check-state did not exit");
	close(state);
	slurp(said.out, sizeof said.out, out);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* The parser's rules through the new binary's dry run: keys missing take
 * defaults (a state from an older version), keys unknown are ignored (from
 * a newer one), and what is not a whole, sound state is refused with the
 * reason. */
void test_supervisor_self_upgrade_check_state(void)
{
	locate();
	int listener = listen_on("127.0.0.1:0");
	int notify = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT(notify > 2);
	int fds[] = { listener, notify };
	char head[256], text[2048];
	snprintf(head, sizeof head,
		 "handoff-supervisor-state 1\npid=%d\nnonce=abc\nnotify_fd=%d\n"
		 "notify_path=/nonexistent/notify\nlisteners=1\nlistener.0.fd=%d\n",
		 (int)getpid(), notify, listener);
	static const struct {
		const char *tail;   /* after head */
		int code;
		const char *want;   /* in its output */
	} cases[] = {
		{ "end\n", 0, "state-ok abc " },
		{ "future=1\nlistener.0.future=2\ngen.0.future=3\ngen.0.number=1\n"
		  "gen.0.pid=99999\ngenerations=1\nend\n", 0, "1 generation(s)" },
		{ "", 1, "no end mark" },
		{ "end\nmore=1\n", 1, "after the end mark" },
		{ "listener.1.fd=9\nend\n", 1, "but listeners=1" },
		{ "gen.64.pid=5\nend\n", 1, "bad generation index" },
		{ "gen.0.pid=5\nend\n", 1, "no number" },
		{ "pidfile_fd=1\nend\n", 1, "is stdio" },
		{ "last_reload=\\x0\nend\n", 1, "bad \\x escape" },
		{ "last_reload=\\x00\nend\n", 1, "bad \\x escape" },
		{ "next_number=-1\nend\n", 1, "bad value" },
		{ "next_number=+1\nend\n", 1, "bad value" },
		{ "no equals sign\nend\n", 1, "not key=value" },
		{ "client_fd=4000\nend\n", 1, "not open" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		snprintf(text, sizeof text, "%s%s", head, cases[i].tail);
		int code = check_state(text, fds, 2);
		if (code != cases[i].code || !strstr(said.out, cases[i].want))
			FAIL("case %zu (%s): exit %d (want %d), output %s (want \"%s\")", i,
			     cases[i].tail, code, cases[i].code, said.out, cases[i].want);
	}
	/* Another format, another pid, garbage. */
	int code = check_state("handoff-supervisor-state 2\nend\n", fds, 2);
	ASSERT(code == 1 && strstr(said.out, "state format 2"));
	snprintf(text, sizeof text, "%s", head);
	char *pid = strstr(text, "pid=");
	pid[4] = pid[4] == '9' ? '8' : '9';
	strcat(text, "end\n");
	code = check_state(text, fds, 2);
	ASSERT(code == 1 && strstr(said.out, "not our parent's"));
	code = check_state("\x7f" "ELF\x02\x01\x01", fds, 2);
	ASSERT(code == 1 && strstr(said.out, "not a handoff supervisor state"));
	close(listener);
	close(notify);
}

/* ------------------------------------------------------ which binary */

static void copy_binary(const char *from, const char *to)
{
	char *argv[] = { "/bin/cp", (char *)from, (char *)to, NULL };
	char *out = work_path("cp.out");
	if (run_command(argv, out, out, 10000) != 0)
		FAIL("cp %s %s: %s", from, to, file_text(out));
}

static void exe_of(pid_t pid, char *out, size_t size)
{
	char link[64];
	snprintf(link, sizeof link, "/proc/%d/exe", (int)pid);
	ssize_t n = readlink(link, out, size - 1);
	out[n > 0 ? n : 0] = '\0';
}

/* --exec BINARY runs that file; the next `reload --self` runs the file
 * now at that path: a package upgrade that replaced it (rename over it)
 * is what runs, not the deleted one. */
void test_supervisor_self_upgrade_exec_path(void)
{
	locate();
	struct sup s;
	char installed[512], staged[512], exe[1024];
	snprintf(installed, sizeof installed, "%s", work_path("bin-handoff"));
	snprintf(staged, sizeof staged, "%s", work_path("bin-handoff.new"));
	copy_binary(handoff_bin, installed);
	sup_init(&s);
	sup_start(&s, NULL, (char *[]){ httpd_bin, "--listen", s.address, NULL }, NULL);
	struct gen g1 = only_generation(&s);
	int code = handoff((char *[]){ "reload", "--self", "--exec", installed, "--pidfile",
				       s.pidfile, NULL });
	if (code != 0)
		FAIL("--exec %s: exit %d: %s%s", installed, code, said.out, said.err);
	exe_of(s.pid, exe, sizeof exe);
	ASSERT(strcmp(exe, installed) == 0);
	/* The "package upgrade": a new file renamed over the old one. */
	copy_binary(handoff_bin, staged);
	ASSERT_EQ(rename(staged, installed), 0);
	exe_of(s.pid, exe, sizeof exe);
	ASSERT(strstr(exe, "(deleted)"));
	self_upgrade_ok(&s);
	exe_of(s.pid, exe, sizeof exe);
	if (strcmp(exe, installed) != 0)
		FAIL("after reload --self, the supervisor runs %s, not %s", exe, installed);
	unchanged(&s, &g1);
	/* A missing binary: refused by the client, or by the supervisor. */
	code = handoff((char *[]){ "reload", "--self", "--exec", "/nonexistent/handoff",
				   "--pidfile", s.pidfile, NULL });
	ASSERT(code != 0 && strstr(said.err, "No such file"));
	unchanged(&s, &g1);
	sup_stop(&s);
}

/* ------------------------------------------------ what crosses, and not */

/* A generation draining a slow request across two self-upgrades: it keeps
 * its state and deadline, answers its client, and its exit is seen by the
 * new image (it is still our child). */
void test_supervisor_self_upgrade_keeps_draining(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	sup_start(&s, NULL, (char *[]){ httpd_bin, "--listen", s.address, NULL }, NULL);
	struct gen g1 = only_generation(&s);
	int slow = http_send("127.0.0.1", s.port, "/sleep?ms=1500");
	ASSERT(slow >= 0);
	if (!wait_request_taken(g1.pid, slow, 10000))
		FAIL("generation 1 did not take the slow request");
	if (control(&s, "reload") != 0)
		FAIL("reload: %s%s", said.out, said.err);
	struct gen g[4];
	ASSERT_EQ(generations(&s, g, 4), 2);
	char before[4096], after[4096];
	status_text(&s, before, sizeof before);
	ASSERT(strstr(before, "draining"));
	self_upgrade_ok(&s);
	self_upgrade_ok(&s);
	status_text(&s, after, sizeof after);
	/* The drain deadline is shown as time left: not compared. */
	ASSERT_EQ(generations(&s, g, 4), 2);
	ASSERT(strstr(after, "draining"));
	char body[256];
	ASSERT_EQ(http_answer(slow, body, sizeof body, 10000), 200);
	ASSERT(strstr(body, "generation=1 "));
	char line[128];
	snprintf(line, sizeof line, "generation 1 (pid %d) exited with status 0 after draining",
		 (int)g1.pid);
	if (!wait_file_contains(s.log, line, 1, 10000))
		FAIL("the new image did not see generation 1 drain; log:\n%s",
		     file_text(s.log));
	struct gen g2 = only_generation(&s);
	ASSERT_EQ(g2.number, 2);
	sup_stop(&s);
}

/* SIGKILL of the supervisor while it upgrades itself, at whatever point
 * that lands: the generations get their stop signal and drain, and a new
 * `handoff run` on the same pid file and port starts cleanly. */
void test_supervisor_self_upgrade_sigkill(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	sup_start(&s, NULL, (char *[]){ httpd_bin, "--listen", s.address, NULL }, NULL);
	char *argv[] = { handoff_bin, "reload", "--self", "--pidfile", s.pidfile, NULL };
	struct spawn_options o = { .output = work_path("self.out") };
	pid_t asker = spawn(argv, &o);
	if (!wait_file_contains(s.log, "self-upgrade: checking", 1, 10000))
		FAIL("no self-upgrade began; log:\n%s", file_text(s.log));
	ASSERT_EQ(kill(s.pid, SIGKILL), 0);
	int status;
	ASSERT(wait_exit(s.pid, 10000, &status));
	ASSERT(wait_exit(asker, 10000, &status)); /* answered or cut off: it ends */
	nothing_holds(&s);
	sup_start(&s, NULL, (char *[]){ httpd_bin, "--listen", s.address, NULL }, NULL);
	struct gen g = only_generation(&s);
	ASSERT(answers(s.port, g.pid, 1));
	self_upgrade_ok(&s);
	sup_stop(&s);
}

static int two_children(void *pid)
{
	pid_t left[4];
	return children_of(*(pid_t *)pid, left, 4) >= 2;
}

/* The check of the new binary inherits the pid file's lock and the
 * listeners. One that never ends, its supervisor SIGKILLed (the OOM
 * killer, say): it dies with it, or a new `handoff run` on the same pid
 * file would find the service "already running" for as long as it lived. */
void test_supervisor_self_upgrade_check_dies_with_it(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	sup_start(&s, NULL, (char *[]){ httpd_bin, "--listen", s.address, NULL }, NULL);
	const char *stuck = work_path("stuck-check");
	write_file(stuck, "#!/bin/sh\nexec sleep 120\n", 0755);
	char *argv[] = { handoff_bin, "reload", "--self", "--exec", (char *)stuck,
			 "--pidfile", s.pidfile, NULL };
	struct spawn_options o = { .output = work_path("self.out") };
	pid_t asker = spawn(argv, &o);
	if (!wait_file_contains(s.log, "self-upgrade: checking", 1, 10000))
		FAIL("no self-upgrade began; log:\n%s", file_text(s.log));
	if (!wait_for(two_children, &s.pid, 10000)) /* the generation and the check */
		FAIL("the check did not start; log:\n%s", file_text(s.log));
	ASSERT_EQ(kill(s.pid, SIGKILL), 0);
	int status;
	ASSERT(wait_exit(s.pid, 10000, &status));
	ASSERT(wait_exit(asker, 10000, &status));
	nothing_holds(&s); /* the stuck check would hold all three */
	sup_start(&s, NULL, (char *[]){ httpd_bin, "--listen", s.address, NULL }, NULL);
	struct gen g = only_generation(&s);
	ASSERT(answers(s.port, g.pid, 1));
	sup_stop(&s);
}

/* ---------------------------------------------------------- systemd */

/* Reads notifications until one holds needle; each must come from pid
 * (MAINPID never changes). Returns 1, or 0 after 10 s. */
static int manager_says(int fd, pid_t pid, const char *needle, char *text, size_t size)
{
	long deadline = deadline_after(10000);
	for (long left; (left = deadline - now_ms()) > 0;) {
		pid_t sender = 0;
		if (fake_manager_receive(fd, text, size, &sender, (int)left) < 0)
			continue;
		if (sender != pid)
			FAIL("a notification from pid %d, not the supervisor %d: %s",
			     (int)sender, (int)pid, text);
		if (strstr(text, needle))
			return 1;
	}
	return 0;
}

/* What systemd sees: RELOADING=1 with "upgrading the supervisor", then
 * READY=1 with the status, all from the one MainPID. */
void test_supervisor_self_upgrade_tells_systemd(void)
{
	locate();
	char name[108], env[160], text[1024];
	int manager = fake_manager_open(name, sizeof name, 1);
	snprintf(env, sizeof env, "NOTIFY_SOCKET=%s", name);
	struct sup s;
	sup_init(&s);
	sup_start(&s, NULL, (char *[]){ httpd_bin, "--listen", s.address, NULL },
		  (char *[]){ env, NULL });
	if (!manager_says(manager, s.pid, "READY=1", text, sizeof text))
		FAIL("no READY=1 at start");
	self_upgrade_ok(&s);
	if (!manager_says(manager, s.pid, "upgrading the supervisor", text, sizeof text) ||
	    !strstr(text, "RELOADING=1"))
		FAIL("no RELOADING=1 before the exec: %s", text);
	if (!manager_says(manager, s.pid, "READY=1", text, sizeof text) ||
	    !strstr(text, "STATUS=generation 1 (pid "))
		FAIL("no READY=1 with the status after the exec: %s", text);
	sup_stop(&s);
	close(manager);
}
