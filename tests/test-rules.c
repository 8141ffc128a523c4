/* test-rules.c — rules the field learned the hard way that the broader
 * tests do not already pin down, one test each, named after the behaviour
 * (docs/design.md maps each to its lesson). */
#include "harness.h"
#include "base.h" /* the EINTR wrappers */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* An inherited socket keeps its O_NONBLOCK state, whatever it is. */
void test_inherited_socket_keeps_its_nonblock_state(void)
{
	int blocking = listen_on("127.0.0.1:0");
	struct handoff_address a;
	char spec[64], out[300];
	handoff_address_of_socket(&a, blocking);
	handoff_address_format(&a, spec, sizeof spec);
	snprintf(out, sizeof out, "%s", work_path("inherit.out"));
	struct spawn_options o = { .output = out, .fds = &blocking, .fd_count = 1,
				   .listen_fds = 1 };
	int status;
	ASSERT(wait_exit(spawn_helper("inherit", spec, &o), 10000, &status));
	expect_in_file(out, "inherited=1 bound=");
	expect_in_file(out, "nonblock=0");
	ASSERT_EQ(fcntl(blocking, F_GETFL) & O_NONBLOCK, 0);
	close(blocking);
}

/* argv[0] is resolved through PATH at start; an upgrade execs the
 * file found there then, not /proc/self/exe. */
void test_upgrade_execs_argv0_resolved_at_start(void)
{
	char dir[300], copy[320], path_env[400], log[300];
	snprintf(dir, sizeof dir, "%s", work_path("bin"));
	snprintf(copy, sizeof copy, "%s/run-tests", dir);
	snprintf(log, sizeof log, "%s", work_path("path.log"));
	ASSERT_EQ(mkdir(dir, 0755), 0);
	ASSERT_EQ(symlink(self_exe, copy), 0);
	snprintf(path_env, sizeof path_env, "PATH=%s:/usr/bin:/bin", dir);
	struct spawn_options o = { .output = log,
				   .env = (char *[]){ path_env, "HELPER_REAL_ARGV=1", NULL } };
	pid_t pid = spawn((char *[]){ "run-tests", "--helper", "server", "127.0.0.1:0",
				      NULL }, &o);
	expect_in_file(log, "ready generation=1");
	/* What PATH names now is a broken version: the upgrade must run it. */
	ASSERT_EQ(unlink(copy), 0);
	write_file(copy, "#!/bin/sh\nexit 3\n", 0755);
	kill(pid, SIGHUP);
	expect_in_file(log, "exited with status 3 before it was ready");
	/* Fixed again: the upgrade goes through, with the same argv. */
	ASSERT_EQ(unlink(copy), 0);
	ASSERT_EQ(symlink(self_exe, copy), 0);
	kill(pid, SIGHUP);
	expect_in_file(log, "ready generation=2");
	int status;
	ASSERT(wait_exit(pid, 10000, &status));
	ASSERT_EQ(status, 0);
}

/* A successor speaking a newer protocol version can take over; a
 * message that is not the protocol is not mistaken for "ready". */
void test_newer_successor_protocol_is_accepted(void)
{
	char *script = work_path("next.sh"), env[350];
	write_file(script, "#!/bin/sh\n"
		   "printf 'handoff 9 ready pid=%s generation=2 future=yes\\n' $$ >&$HANDOFF_FD\n"
		   "exec sleep 30\n", 0755);
	snprintf(env, sizeof env, "HELPER_EXEC=%s", script);
	struct server s;
	server_start(&s, "127.0.0.1:0", (char *[]){ env, NULL });
	kill(s.pid, SIGHUP);
	expect_in_file(s.log, "is ready; draining");
	int status;
	ASSERT(wait_exit(s.pid, 10000, &status));
	ASSERT_EQ(status, 0);

	/* Not the protocol: a greeting, a negative or an overflowing version
	 * (which sscanf's %u would have read as a huge one). */
	const char *garbled[] = { "hello", "handoff -1 ready",
				  "handoff 99999999999999999999 ready",
				  "handoff 0 ready", "handoff 1 readyish" };
	for (int i = 0; i < 5; i++) {
		char text[200];
		snprintf(text, sizeof text, "#!/bin/sh\nprintf '%s\\n' >&$HANDOFF_FD\n"
			 "exec sleep 30\n", garbled[i]);
		write_file(script, text, 0755);
		unlink(s.log);
		server_start(&s, "127.0.0.1:0",
			     (char *[]){ env, "HELPER_READY_TIMEOUT_MS=300", NULL });
		kill(s.pid, SIGHUP);
		expect_in_file(s.log, "was not ready in time");
		server_stop(&s);
	}
}

/* BARRIER=1 returns once the manager has closed the fd it got. */
static int barrier_child(int timeout_ms)
{
	pid_t pid = fork();
	if (pid == 0)
		_exit(handoff_notify_barrier("STATUS=about to exit", timeout_ms) == 1 ? 0 : 2);
	return pid;
}

static int receive_barrier_fd(int manager)
{
	for (int i = 0; i < 2; i++) {
		char buf[64];
		union {
			struct cmsghdr align;
			char space[CMSG_SPACE(sizeof(int))];
		} control;
		struct iovec iov = { buf, sizeof buf };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = control.space,
				      .msg_controllen = sizeof control.space };
		struct pollfd p = { manager, POLLIN, 0 };
		if (poll(&p, 1, 5000) != 1 || recvmsg(manager, &msg, MSG_CMSG_CLOEXEC) < 0)
			FAIL("no notification");
		struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
		if (c && c->cmsg_type == SCM_RIGHTS) {
			int fd;
			memcpy(&fd, CMSG_DATA(c), sizeof fd);
			return fd;
		}
	}
	FAIL("no BARRIER=1 with a descriptor");
}

void test_notify_barrier_waits_for_the_manager(void)
{
	char name[64];
	snprintf(name, sizeof name, "@handoff-barrier-%d", (int)getpid());
	int manager = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct handoff_address a;
	char text[96];
	snprintf(text, sizeof text, "unixgram:%s", name);
	ASSERT_EQ(handoff_address_parse(&a, text), 0);
	ASSERT_EQ(bind(manager, &a.u.sa, a.length), 0);
	ASSERT_EQ(handoff_notify_barrier(NULL, 100), 0); /* No NOTIFY_SOCKET */
	setenv("NOTIFY_SOCKET", name, 1);
	int status;

	pid_t pid = barrier_child(5000); /* The manager answers */
	close(receive_barrier_fd(manager));
	ASSERT(wait_exit(pid, 10000, &status));
	ASSERT_EQ(WEXITSTATUS(status), 0);

	pid = barrier_child(200); /* The manager keeps the fd: time out */
	int held = receive_barrier_fd(manager);
	ASSERT(wait_exit(pid, 10000, &status));
	ASSERT_EQ(WEXITSTATUS(status), 2);
	close(held);
	close(manager);
}

/* The successor starts with default dispositions and an empty
 * mask, whatever the parent had. */
void test_successor_starts_with_default_signals(void)
{
	struct server s;
	server_start(&s, "127.0.0.1:0", (char *[]){ "HELPER_DIRTY_SIGNALS=1", NULL });
	server_upgrade(&s, 2);
	/* Generation 1 was started clean by the harness; generation 2 by a
	 * parent that blocked SIGUSR1 and ignored SIGPIPE and SIGWINCH. */
	ASSERT_EQ(count_in_file(s.log, "signals blocked=0000000000000000 "
				       "ignored=0000000000000000"), 2);
	server_stop(&s);
}

/* The CPUs a generation may use, as listed in /proc/PID/status. */
static void cpus_of(pid_t pid, char *list, size_t size)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	char *status = read_file(path);
	char *at = status ? strstr(status, "Cpus_allowed_list:\t") : NULL;
	snprintf(list, size, "%.*s", at ? (int)strcspn(at + 19, "\n") : 0, at ? at + 19 : "");
	free(status);
}

/* The successor may use the CPUs its parent could, and the parent keeps
 * them: spawn pins the parent to the CPU it is on across vfork, which the
 * child inherits, and both put the affinity back (spawn.c). Once with what
 * the harness gave us (every CPU), once as `taskset -c N` would start
 * generation 1, on the last CPU alone (with 2 CPUs or more). */
void test_successor_and_parent_keep_cpu_affinity(void)
{
	char ours[256], line[300];
	cpus_of(getpid(), ours, sizeof ours);
	ASSERT(ours[0] != '\0');
	cpu_set_t mine;
	ASSERT_EQ(sched_getaffinity(0, sizeof mine, &mine), 0);
	int last = -1;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &mine))
			last = cpu;
	for (int restricted = 0; restricted < 2; restricted++) {
		char env[32], expect[256];
		snprintf(env, sizeof env, "HELPER_CPU=%d", last);
		snprintf(expect, sizeof expect, "%s", ours);
		if (restricted) {
			if (CPU_COUNT(&mine) < 2)
				break; /* one CPU: the first round said it all */
			snprintf(expect, sizeof expect, "%d", last);
		}
		struct server s;
		server_start(&s, "127.0.0.1:0", (char *[]){ restricted ? env : NULL, NULL });
		server_upgrade(&s, 2);
		snprintf(line, sizeof line, "cpus at start=%s\n", expect);
		if (count_in_file(s.log, line) != 2)
			FAIL("both generations should start on CPUs %s; log:\n%s", expect,
			     file_text(s.log));
		snprintf(line, sizeof line, "cpus at drain=%s\n", expect);
		if (!wait_file_contains(s.log, line, 1, 5000))
			FAIL("generation 1 should still have CPUs %s once it has spawned; "
			     "log:\n%s", expect, file_text(s.log));
		char now[256];
		cpus_of(s.pid, now, sizeof now);
		if (strcmp(now, expect) != 0)
			FAIL("generation 2 runs on CPUs %s, not %s", now, expect);
		server_stop(&s);
		ASSERT_EQ(truncate(s.log, 0), 0); /* the next round's lines alone */
	}
}

/* With stdin closed, nothing of ours lands on fd 0. */
void test_descriptors_stay_above_stdio(void)
{
	close(0);
	struct handoff *h;
	struct handoff_config config = { .size = sizeof config,
					 .flags = HANDOFF_SIGNALS };
	ASSERT_EQ(handoff_new(&h, &config, 1, (char *[]){ self_exe, NULL }), 0);
	ASSERT(handoff_fd(h) > 2);
	int fd = handoff_listen(h, "x", "127.0.0.1:0");
	ASSERT(fd > 2);
	ASSERT_EQ(fcntl(0, F_GETFD), -1); /* still closed: nothing took it */
	handoff_free(h);
}

/* A path a live server listens on is never taken over, even when
 * that server is too busy to accept (its queue is full): we must say "in
 * use" at once, not wait in connect(). */
void test_busy_unix_path_is_never_taken_over(void)
{
	char address[320];
	snprintf(address, sizeof address, "unix:%s", work_path("busy.sock"));
	int server = listen_on(address);
	ASSERT_EQ(listen(server, 0), 0);
	struct handoff_address a;
	ASSERT_EQ(handoff_address_parse(&a, address), 0);
	for (int i = 0; i < 8; i++) { /* Fill its queue; nobody accepts */
		int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (connect(c, &a.u.sa, a.length) < 0 && errno == EAGAIN)
			break;
	}
	struct handoff *h;
	ASSERT_EQ(handoff_new(&h, NULL, 1, (char *[]){ self_exe, NULL }), 0);
	long start = now_ms();
	ASSERT_EQ(handoff_listen(h, NULL, address), -EADDRINUSE);
	ASSERT(now_ms() - start < 5000);
	handoff_free(h);
	struct stat st;
	ASSERT_EQ(stat(work_path("busy.sock"), &st), 0); /* Still the server's */
}

/* The library's system calls survive EINTR, and a call that was
 * interrupted and retried leaves errno as the caller had it. A timer
 * without SA_RESTART interrupts a wait and a waitpid; the fifth tick
 * releases the child, so nothing here depends on a sleep. */
static volatile sig_atomic_t ticks, release_fd = -1;

static void on_tick(int sig)
{
	(void)sig;
	if (++ticks == 5 && release_fd >= 0)
		close(release_fd);
}

void test_eintr_wrappers_keep_errno(void)
{
	struct sigaction sa = { .sa_handler = on_tick }; /* no SA_RESTART */
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(sigaction(SIGALRM, &sa, NULL), 0);
	struct itimerval every = { { 0, 20000 }, { 0, 20000 } };
	ASSERT_EQ(setitimer(ITIMER_REAL, &every, NULL), 0);

	int epfd = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev;
	errno = 4242;
	long start = now_ms();
	ASSERT_EQ(ho_epoll_wait(epfd, &ev, 1, 300), 0); /* not -EINTR */
	ASSERT(now_ms() - start >= 290);               /* the time left, kept */
	ASSERT(ticks > 0);
	ASSERT_EQ(errno, 4242);
	close(epfd);

	int p[2];
	ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
	ticks = 0;
	pid_t child = fork();
	if (child == 0) {
		char byte;
		close(p[1]);
		_exit(read(p[0], &byte, 1) == 0 ? 0 : 1); /* EOF at the fifth tick */
	}
	close(p[0]);
	release_fd = p[1];
	int status = -1;
	errno = 4242;
	ASSERT_EQ(ho_waitpid(child, &status, 0), child);
	ASSERT_EQ(errno, 4242);
	ASSERT(ticks >= 5);
	ASSERT_EQ(status, 0);
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
}
