/* test-lifecycle.c — listeners, upgrades, pid files, unix paths and
 * sd_notify, through the library-based helper server. */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* The address a listener was bound to, from the log line of its claim. */
static void bound_address(const char *log, const char *request, char *out,
			  size_t size)
{
	char key[160];
	snprintf(key, sizeof key, "listen %s -> ", request);
	char *text = read_file(log), *p = text ? strstr(text, key) : NULL;
	if (!p || !(p = strstr(p, "bound=")))
		FAIL("no claim of %s in:\n%s", request, file_text(log));
	snprintf(out, size, "%.*s", (int)strcspn(p + 6, " \n"), p + 6);
	free(text);
}

void test_listen_families(void)
{
	struct handoff *h;
	char path[300], gram[300], abstract[64];
	snprintf(path, sizeof path, "unix:%s", work_path("s.sock"));
	snprintf(gram, sizeof gram, "unixgram:%s", work_path("g.sock"));
	snprintf(abstract, sizeof abstract, "@handoff-test-%d", (int)getpid());
	const char *addresses[] = { "127.0.0.1:0", "[::1]:0", path, abstract,
				    "udp:127.0.0.1:0", "udp:[::1]:0", gram };
	const int types[] = { SOCK_STREAM, SOCK_STREAM, SOCK_STREAM, SOCK_STREAM,
			       SOCK_DGRAM, SOCK_DGRAM, SOCK_DGRAM };
	ASSERT_EQ(handoff_new(&h, NULL, 1, (char *[]){ self_exe, NULL }), 0);
	ASSERT_EQ(handoff_upgrade(h), -EAGAIN); /* not ready yet */
	for (int i = 0; i < 7; i++) {
		char name[8] = { 'l', (char)('0' + i), 0 };
		int fd = handoff_listen(h, name, addresses[i]);
		if (fd < 0)
			FAIL("listen %s: %s", addresses[i], strerror(-fd));
		int type = 0, acc = 0;
		socklen_t len = sizeof type;
		getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len);
		getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len);
		ASSERT_EQ(type, types[i]);
		ASSERT_EQ(acc, type == SOCK_STREAM);
		ASSERT(fd > 2);
		ASSERT(fcntl(fd, F_GETFD) & FD_CLOEXEC);
		ASSERT(fcntl(fd, F_GETFL) & O_NONBLOCK);
	}
	ASSERT_EQ(handoff_listen(h, "l0", "127.0.0.1:0"), -EEXIST);
	ASSERT_EQ(handoff_listen(h, "a:b", "127.0.0.1:0"), -EINVAL);
	ASSERT_EQ(handoff_listen(h, "", "127.0.0.1:0"), -EINVAL);
	ASSERT_EQ(handoff_listen(h, NULL, "127.0.0.1:99999"), -EINVAL);
	ASSERT_EQ(handoff_listen(h, NULL, path), -EADDRINUSE);
	ASSERT_EQ(handoff_add(h, NULL, 1), -EINVAL);
	int pipefd[2];
	ASSERT_EQ(pipe2(pipefd, O_CLOEXEC), 0);
	ASSERT_EQ(handoff_add(h, NULL, pipefd[0] > 2 ? pipefd[0] : 99), -ENOTSOCK);
	close(pipefd[0]);
	close(pipefd[1]);
	int own = socket(AF_INET, SOCK_STREAM, 0);
	ASSERT_EQ(handoff_add(h, "own", own), 0);
	ASSERT(fcntl(own, F_GETFD) & FD_CLOEXEC);
	ASSERT_EQ(handoff_listener_count(h), 8);
	ASSERT_STR_EQ(handoff_listener_name(h, 7), "own");
	ASSERT_EQ(handoff_listener_fd(h, 7), own);
	ASSERT_EQ(handoff_listener_inherited(h, 7), 0);
	struct handoff_address a;
	ASSERT_EQ(handoff_listener_address(h, 2, &a), 0);
	ASSERT_EQ(a.family, AF_UNIX);
	ASSERT(handoff_listener_name(h, 8) == NULL);
	ASSERT_EQ(handoff_listener_fd(h, 8), -ENOENT);
	ASSERT_EQ(handoff_listener_address(h, 8, &a), -ENOENT);
	ASSERT_EQ(handoff_listener_inherited(h, 8), -ENOENT);
	ASSERT_EQ(handoff_ready(h), 0);
	ASSERT_EQ(handoff_ready(h), -EALREADY);
	ASSERT_EQ(handoff_listen(h, NULL, "127.0.0.1:0"), -EBUSY);
	handoff_close_listeners(h);
	handoff_close_listeners(h); /* idempotent */
	ASSERT_EQ(handoff_listener_fd(h, 0), -EBADF);
	struct stat st;
	ASSERT(stat(work_path("s.sock"), &st) < 0); /* final stop unlinks */
	handoff_free(h);
	handoff_free(NULL); /* nothing to do */
}

void test_upgrade_passes_listeners(void)
{
	char spec[1024], path[300];
	snprintf(path, sizeof path, "%s", work_path("p.sock"));
	snprintf(spec, sizeof spec,
		 "tcp=127.0.0.1:0;tcp6=[::1]:0;path=unix:%s;abs=@handoff-%d;"
		 "udp=udp:127.0.0.1:0;gram=unixgram:%s",
		 path, (int)getpid(), work_path("g.sock"));
	struct server s;
	server_start(&s, spec, NULL);
	char tcp[64], tcp6[64];
	bound_address(s.log, "127.0.0.1:0", tcp, sizeof tcp);
	bound_address(s.log, "[::1]:0", tcp6, sizeof tcp6);
	server_upgrade(&s, 2);
	server_upgrade(&s, 3);
	/* Generation 3 inherited all six, and they still accept. */
	ASSERT_EQ(count_in_file(s.log, "inherited=1"), 12);
	ASSERT(connects(tcp));
	ASSERT(connects(tcp6));
	char unix_addr[310];
	snprintf(unix_addr, sizeof unix_addr, "unix:%s", path);
	ASSERT(connects(unix_addr));
	server_stop(&s);
	ASSERT(!connects(tcp));
}

/* The new version drops a, keeps b, adds c, and moves d to another port:
 * between generations a changed address is a changed configuration. */
void test_upgrade_changes_port_set(void)
{
	int pa = free_port(), pb = free_port(), pc = free_port();
	int pd = free_port(), pd2 = free_port();
	char spec[128], next[160], env_next[200], a[32], b[32], c[32], d[32], d2[32];
	snprintf(a, sizeof a, "127.0.0.1:%d", pa);
	snprintf(b, sizeof b, "127.0.0.1:%d", pb);
	snprintf(c, sizeof c, "127.0.0.1:%d", pc);
	snprintf(d, sizeof d, "127.0.0.1:%d", pd);
	snprintf(d2, sizeof d2, "127.0.0.1:%d", pd2);
	snprintf(spec, sizeof spec, "a=%s;b=%s;d=%s", a, b, d);
	snprintf(next, sizeof next, "b=%s;c=%s;d=%s", b, c, d2);
	snprintf(env_next, sizeof env_next, "HELPER_NEXT_SPEC=%s", next);
	struct server s;
	server_start(&s, spec, (char *[]){ env_next, NULL });
	server_upgrade(&s, 2);
	ASSERT(!connects(a)); /* dropped by the new version: closed everywhere */
	ASSERT(!connects(d));
	ASSERT(connects(b));
	ASSERT(connects(c));
	ASSERT(connects(d2));
	/* No copy of a's or d's socket survives anywhere: the ports bind again. */
	close(listen_on(a));
	close(listen_on(d));
	server_stop(&s);
}

/* A generation that claims what it inherited in another order passes the
 * sockets on in its own order: the spawn puts each at its new number, the
 * one already in place (b, at 4) included, and swaps a and c (3 and 5)
 * without clobbering either. Generation 3 finds c at 3, b at 4, a at 5. */
void test_upgrade_reorders_inherited(void)
{
	char a[32], b[32], c[32], spec[128], env_next[160], want[128];
	snprintf(a, sizeof a, "127.0.0.1:%d", free_port());
	snprintf(b, sizeof b, "127.0.0.1:%d", free_port());
	snprintf(c, sizeof c, "127.0.0.1:%d", free_port());
	snprintf(spec, sizeof spec, "%s;%s;%s", a, b, c);
	snprintf(env_next, sizeof env_next, "HELPER_NEXT_SPEC=%s;%s;%s", c, b, a);
	struct server s;
	server_start(&s, spec, (char *[]){ env_next, NULL });
	server_upgrade(&s, 2);
	server_upgrade(&s, 3);
	const char *order[] = { c, b, a };
	for (int i = 0; i < 3; i++) {
		snprintf(want, sizeof want, "listen %s -> fd=%d inherited=1 bound=%s ",
			 order[i], 3 + i, order[i]);
		expect_in_file(s.log, want);
		ASSERT(connects(order[i]));
	}
	ASSERT_EQ(count_in_file(s.log, "inherited=1"), 6); /* generations 2 and 3 */
	server_stop(&s);
}

/* The descriptors of a generation's "open=" line, as text. */
static void open_fds_of(const char *log, unsigned generation, char *out,
			size_t size)
{
	char key[48];
	snprintf(key, sizeof key, "generation %u open=", generation);
	expect_in_file(log, key);
	char *text = read_file(log), *p = text ? strstr(text, key) : NULL;
	snprintf(out, size, ",%.*s,", p ? (int)strcspn(p + strlen(key), "\n") : 0,
		 p ? p + strlen(key) : "");
	free(text);
}

/* A descriptor the server inherited without close-on-exec (from a shell,
 * an IDE, a service manager) does not leak into its successor, which gets
 * stdio, its listeners and the channel only. */
void test_upgrade_closes_stray_descriptors(void)
{
	struct server s;
	server_start(&s, "127.0.0.1:0",
		     (char *[]){ "HELPER_STRAY_FD=50", "HELPER_LIST_FDS=1", NULL });
	server_upgrade(&s, 2);
	char first[256], second[256];
	open_fds_of(s.log, 1, first, sizeof first);
	open_fds_of(s.log, 2, second, sizeof second);
	if (!strstr(first, ",50,"))
		FAIL("generation 1 does not hold the stray fd 50: open=%s", first);
	if (strstr(second, ",50,"))
		FAIL("the stray fd 50 leaked into generation 2: open=%s", second);
	server_stop(&s);
}

void test_upgrade_one_at_a_time(void)
{
	struct server s;
	server_start(&s, "127.0.0.1:0",
		     (char *[]){ "HELPER_SECOND_UPGRADE=1", "HELPER_EARLY_UPGRADE=1",
				 "HELPER_DRAIN_MS=1000", NULL });
	server_upgrade(&s, 2);
	expect_in_file(s.log, "second upgrade -> -16 (Device or resource busy)");
	expect_in_file(s.log, "early upgrade -> -11 (Resource temporarily unavailable)");
	expect_in_file(s.log, "previous generation");
	server_upgrade(&s, 3);
	ASSERT_EQ(count_in_file(s.log, "upgrade started"), 2);
	server_stop(&s);
}

void test_unix_path_lifecycle(void)
{
	char spec[320], path[300];
	snprintf(path, sizeof path, "%s", work_path("u.sock"));
	snprintf(spec, sizeof spec, "u=unix:%s", path);
	/* A stale socket file from a dead server is replaced... */
	int stale = listen_on(spec + 2);
	close(stale);
	struct server s;
	server_start(&s, spec, NULL);
	struct stat st;
	server_upgrade(&s, 2);
	ASSERT_EQ(stat(path, &st), 0); /* the old generation did not unlink */
	server_stop(&s);
	ASSERT(stat(path, &st) < 0); /* the final stop did */

	/* ...a successor that fails before ready leaves the parent's path... */
	server_start(&s, spec, (char *[]){ "HELPER_FAIL_BEFORE_READY=1", NULL });
	kill(s.pid, SIGHUP);
	expect_in_file(s.log, "exited with status 1 before it was ready");
	ASSERT_EQ(stat(path, &st), 0);
	char unix_addr[310];
	snprintf(unix_addr, sizeof unix_addr, "unix:%s", path);
	ASSERT(connects(unix_addr));
	server_stop(&s);
	unlink(s.log);

	/* ...a path someone else re-created is left alone at stop... */
	server_start(&s, spec, NULL);
	ASSERT_EQ(rename(path, work_path("moved.sock")), 0);
	int other = listen_on(spec + 2);
	server_stop(&s);
	ASSERT_EQ(stat(path, &st), 0);
	close(other);
	unlink(path);

	/* ...and a regular file at the path is never clobbered. */
	write_file(path, "data", 0644);
	snprintf(s.log, sizeof s.log, "%s", work_path("file.log"));
	struct spawn_options o = { .output = s.log };
	pid_t pid = spawn_helper("server", spec, &o);
	expect_in_file(s.log, "error File exists");
	int status;
	kill(pid, SIGTERM);
	ASSERT(wait_exit(pid, 10000, &status));
	char *text = read_file(path);
	ASSERT_STR_EQ(text, "data");
	free(text);
}

void test_pidfile_rules(void)
{
	char env[300];
	char *pidfile = work_path("server.pid");
	snprintf(env, sizeof env, "HELPER_PIDFILE=%s", pidfile);
	char *envs[] = { env, NULL };
	struct server s;
	server_start(&s, "127.0.0.1:0", envs);
	ASSERT_EQ(read_pid(pidfile), s.pid);

	/* A second instance is refused while the first holds the lock. */
	char *second_log = work_path("second.log");
	struct spawn_options o = { .output = second_log, .env = envs };
	pid_t second = spawn_helper("server", "127.0.0.1:0", &o);
	int status;
	ASSERT(wait_exit(second, 10000, &status));
	ASSERT_EQ(WEXITSTATUS(status), 1);
	expect_in_file(second_log, "init error Device or resource busy");

	/* The successor writes the pid file before the old one drains. */
	pid_t old = s.pid;
	pid_t next = server_upgrade(&s, 2);
	char line[64];
	snprintf(line, sizeof line, "at drain the pid file names %d", (int)next);
	expect_in_file(s.log, line);
	ASSERT(old != next);
	ASSERT_EQ(read_pid(pidfile), next);
	server_stop(&s);
	ASSERT(access(pidfile, F_OK) < 0); /* removed: it named us */

	/* A stale file (no lock held, a dead pid) is taken over. */
	write_file(pidfile, "999999\n", 0644);
	unlink(s.log);
	server_start(&s, "127.0.0.1:0", envs);
	ASSERT_EQ(read_pid(pidfile), s.pid);
	server_stop(&s);

	/* A symlink is refused; so is a pid file in a missing directory. */
	ASSERT_EQ(symlink(work_path("elsewhere"), pidfile), 0);
	o.output = work_path("symlink.log");
	ASSERT(wait_exit(spawn_helper("server", "127.0.0.1:0", &o), 10000, &status));
	ASSERT_EQ(WEXITSTATUS(status), 1);
	expect_in_file(o.output, "init error Too many levels of symbolic links");
	snprintf(env, sizeof env, "HELPER_PIDFILE=%s", work_path("missing/x.pid"));
	o.output = work_path("missing.log");
	ASSERT(wait_exit(spawn_helper("server", "127.0.0.1:0", &o), 10000, &status));
	ASSERT_EQ(WEXITSTATUS(status), 1);
	expect_in_file(o.output, "init error No such file or directory");
}

/* The temporary pid file's name cannot be guessed: something already at
 * "<pidfile>.<pid>.tmp" (here a directory, made once the pid is known and
 * before the server starts) neither stops the server nor gets used. */
void test_pidfile_temp_unpredictable(void)
{
	char *pidfile = strdup(work_path("squat.pid"));
	char *script = strdup(work_path("gated.sh"));
	char *log = strdup(work_path("squat.log"));
	char env_pidfile[300], env_runner[600], squat[340], want[96];
	snprintf(env_pidfile, sizeof env_pidfile, "HELPER_PIDFILE=%s", pidfile);
	snprintf(env_runner, sizeof env_runner, "RUNNER=%s", self_exe);
	write_file(script, "#!/bin/sh\nread go <&3\nexec 3<&-\n"
		   "exec \"$RUNNER\" --helper server 127.0.0.1:0\n", 0755);
	int gate[2];
	ASSERT_EQ(pipe2(gate, O_CLOEXEC), 0);
	struct spawn_options o = { .output = log, .fds = &gate[0], .fd_count = 1,
				   .env = (char *[]){ env_pidfile, env_runner, NULL } };
	pid_t pid = spawn((char *[]){ script, NULL }, &o);
	close(gate[0]);
	snprintf(squat, sizeof squat, "%s.%d.tmp", pidfile, (int)pid);
	ASSERT_EQ(mkdir(squat, 0755), 0);
	ASSERT_EQ(write(gate[1], "go\n", 3), 3);
	close(gate[1]);
	snprintf(want, sizeof want, "ready generation=1 pid=%d result=0", (int)pid);
	expect_in_file(log, want);
	ASSERT_EQ(read_pid(pidfile), pid);
	struct stat st;
	ASSERT_EQ(stat(squat, &st), 0);
	ASSERT(S_ISDIR(st.st_mode));
	ASSERT_EQ(st.st_nlink, 2); /* empty: nothing was written into it */
	ASSERT_EQ(stat(pidfile, &st), 0);
	ASSERT_EQ(st.st_mode & 0777, 0644);
	kill(pid, SIGTERM);
	int status;
	ASSERT(wait_exit(pid, 10000, &status));
	/* Nothing but what the test made is left: no temporary file. */
	DIR *dir = opendir(work_path("."));
	char extra[512] = "";
	for (struct dirent *e; dir && (e = readdir(dir));)
		if (strncmp(e->d_name, "squat.pid.", 10) == 0 &&
		    strcmp(e->d_name + 10, squat + strlen(pidfile) + 1) != 0)
			snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
				 " %s", e->d_name);
	if (dir)
		closedir(dir);
	if (extra[0])
		FAIL("left behind:%s", extra);
	free(pidfile);
	free(script);
	free(log);
}

/* Liveness is judged by a lock that only the pid file's owner can take: a
 * stranger who can read the 0644 file and locks it (flock, a POSIX or an
 * OFD read lock, all possible on a read-only descriptor) neither makes a
 * stale pid file look alive nor keeps a new instance from starting. */
void test_pidfile_lock_not_takeable_by_readers(void)
{
	char env[300];
	char *pidfile = work_path("locked.pid");
	snprintf(env, sizeof env, "HELPER_PIDFILE=%s", pidfile);
	write_file(pidfile, "999999\n", 0644); /* stale */
	int stranger = open(pidfile, O_RDONLY | O_CLOEXEC);
	ASSERT(stranger >= 0);
	ASSERT_EQ(flock(stranger, LOCK_EX | LOCK_NB), 0);
	struct flock read_lock = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	ASSERT_EQ(fcntl(stranger, F_OFD_SETLK, &read_lock), 0);
	struct flock write_lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	ASSERT_EQ(fcntl(stranger, F_OFD_SETLK, &write_lock), -1);
	ASSERT_EQ(errno, EBADF); /* a write lock needs a writable descriptor */

	struct server s;
	server_start(&s, "127.0.0.1:0", (char *[]){ env, NULL });
	ASSERT_EQ(read_pid(pidfile), s.pid);
	/* The live holder's file: a reader's read lock is refused now. */
	int reader = open(pidfile, O_RDONLY | O_CLOEXEC);
	ASSERT_EQ(fcntl(reader, F_OFD_SETLK, &read_lock), -1);
	ASSERT(errno == EAGAIN || errno == EACCES);
	close(reader);
	close(stranger);
	server_stop(&s);
	ASSERT(access(pidfile, F_OK) < 0);
}

/* Appends "pid:message|" for each notification until one holds until. */
static void collect(int fd, char *log, size_t size, const char *until)
{
	long deadline = deadline_after(10000);
	while (!strstr(log, until) && now_ms() < deadline) {
		char buf[512];
		pid_t sender;
		if (fake_manager_receive(fd, buf, sizeof buf, &sender,
					 (int)(deadline - now_ms())) >= 0)
			snprintf(log + strlen(log), size - strlen(log), "%d:%s|",
				 (int)sender, buf);
	}
	if (!strstr(log, until))
		FAIL("no \"%s\" among notifications: %s", until, log);
}

void test_notify_messages(void)
{
	char name[64], env[96], log[4096] = "", want[128];
	int fd = fake_manager_open(name, sizeof name, 1);
	snprintf(env, sizeof env, "NOTIFY_SOCKET=%s", name);
	struct server s;
	server_start(&s, "127.0.0.1:0", (char *[]){ env, NULL });
	pid_t first = s.pid;
	snprintf(want, sizeof want, "%d:READY=1\nMAINPID=%d|", (int)first, (int)first);
	collect(fd, log, sizeof log, want);
	pid_t second = server_upgrade(&s, 2);
	snprintf(want, sizeof want, "%d:MAINPID=%d|", (int)first, (int)second);
	collect(fd, log, sizeof log, want);
	/* Order: the old generation announces the reload, the new one says
	 * ready, then the old one hands the main pid over. */
	char reloading[64], ready[64];
	snprintf(reloading, sizeof reloading, "%d:RELOADING=1\nMONOTONIC_USEC=", (int)first);
	snprintf(ready, sizeof ready, "%d:READY=1\nMAINPID=%d|", (int)second, (int)second);
	char *r1 = strstr(log, reloading), *r2 = strstr(log, ready), *r3 = strstr(log, want);
	if (!r1 || !r2 || !r3 || !(r1 < r2 && r2 < r3))
		FAIL("notifications out of order: %s", log);
	server_stop(&s);
	snprintf(want, sizeof want, "%d:STOPPING=1|", (int)second);
	collect(fd, log, sizeof log, want);

	/* A SIGHUP refused (the parent still drains) still answers a
	 * Type=notify-reload manager: RELOADING=1, then READY=1 and why. */
	unlink(s.log);
	log[0] = '\0';
	server_start(&s, "127.0.0.1:0", (char *[]){ env, "HELPER_DRAIN_MS=3000", NULL });
	kill(s.pid, SIGHUP);
	expect_in_file(s.log, "ready generation=2 pid=");
	char *text = read_file(s.log);
	pid_t next = (pid_t)atoi(strstr(text, "ready generation=2 pid=") + 23);
	free(text);
	kill(next, SIGHUP);
	snprintf(want, sizeof want, "%d:READY=1\nSTATUS=upgrade refused: not ready "
		 "to upgrade yet", (int)next);
	collect(fd, log, sizeof log, want);
	snprintf(reloading, sizeof reloading, "%d:RELOADING=1\nMONOTONIC_USEC=", (int)next);
	if (!strstr(log, reloading) || strstr(log, reloading) > strstr(log, want))
		FAIL("no RELOADING=1 before the refusal: %s", log);
	close(fd);
}

/* Generation numbers wrap to 1 after the largest one a successor accepts,
 * instead of becoming a number the successor refuses (which broke every
 * upgrade from there on). */
void test_generation_numbers_wrap(void)
{
	char spec[64], line[96];
	int port = free_port();
	snprintf(spec, sizeof spec, "web=127.0.0.1:%d", port);
	int sock = listen_on(spec + 4);
	struct server s;
	snprintf(s.log, sizeof s.log, "%s", work_path("server.log"));
	struct spawn_options o = {
		.output = s.log, .fds = &sock, .fd_count = 1, .listen_fds = 1,
		.env = (char *[]){ "LISTEN_FDNAMES=web", "HANDOFF_GENERATION=4294967294",
				   NULL },
	};
	s.pid = spawn_helper("server", spec, &o);
	close(sock);
	snprintf(line, sizeof line, "ready generation=4294967294 pid=%d result=0", (int)s.pid);
	expect_in_file(s.log, line);
	server_upgrade(&s, 1);
	server_upgrade(&s, 2);
	server_stop(&s);
}

/* A SIGHUP that reaches a generation after it handed over and released the
 * library (a late reload request, meant for its successor) does not kill
 * it on its way out: it still exits 0. */
void test_late_sighup_after_handover_is_harmless(void)
{
	char hold[300], env[340], line[64];
	snprintf(hold, sizeof hold, "%s", work_path("go"));
	snprintf(env, sizeof env, "HELPER_HOLD_AFTER_FREE=%s", hold);
	int port = free_port();
	char spec[64];
	snprintf(spec, sizeof spec, "web=127.0.0.1:%d", port);
	struct server s;
	server_start(&s, spec, (char *[]){ env, NULL });
	pid_t old = s.pid;
	kill(old, SIGHUP);
	expect_in_file(s.log, "ready generation=2 pid=");
	snprintf(line, sizeof line, "freed pid=%d", (int)old);
	expect_in_file(s.log, line);
	ASSERT_EQ(kill(old, SIGHUP), 0);
	write_file(hold, "", 0644);
	int status;
	if (!wait_exit(old, 10000, &status))
		FAIL("generation 1 did not exit");
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("generation 1 ended with 0x%x after a late SIGHUP (signal %d)", status,
		     WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	char *text = read_file(s.log);
	s.pid = (pid_t)atoi(strstr(text, "ready generation=2 pid=") + 23);
	free(text);
	server_stop(&s);
}
