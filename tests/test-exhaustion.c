/* test-exhaustion.c — upgrades and reloads when the machine says no: too
 * few descriptors, no process left to fork, a full file system under the
 * pid file, no memory for the new generation. Each fails with its reason;
 * the serving generation serves on, untouched; once the limit is lifted
 * the next upgrade works. */
#include "supervisor-kit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

/* Clock ticks of CPU the process has used (user + system), or -1. */
static long cpu_ticks(pid_t pid)
{
	struct process_stat st;
	return process_stat(pid, &st) ? (long)(st.utime + st.stime) : -1;
}

static void expect_serving(int port, pid_t pid)
{
	char body[256], want[32];
	snprintf(want, sizeof want, "pid=%d", (int)pid);
	if (!wait_http_body("127.0.0.1", port, "/", want, body, sizeof body, 10000))
		FAIL("pid %d no longer answers: %s", (int)pid, body);
}

/* ---------------------------------------------------------- descriptors */

struct answer_wait {
	int fd;
	char text[4096];
	size_t got;
};

static int answered(void *arg)
{
	struct answer_wait *w = arg;
	ssize_t n = recv(w->fd, w->text + w->got, sizeof w->text - 1 - w->got, MSG_DONTWAIT);
	if (n > 0)
		w->got += (size_t)n;
	w->text[w->got] = '\0';
	return n == 0 || (n < 0 && errno != EAGAIN);
}

/* The supervisor at its descriptor limit: a reload fails with the reason,
 * a control client waits in the queue (no busy loop meanwhile) and is
 * answered once descriptors are free again. */
void test_supervisor_out_of_descriptors(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	sup_start(&s, NULL, (char *[]){ httpd_bin, "--listen", s.address, NULL }, NULL);
	struct gen g = only_generation(&s);
	struct rlimit old;
	set_soft_limit(s.pid, RLIMIT_NOFILE, (rlim_t)count_fds(s.pid), &old);

	kill(s.pid, SIGHUP);
	if (!wait_file_contains(s.log, "failed: cannot start", 1, 10000) ||
	    !count_in_file(s.log, "Too many open files"))
		FAIL("no reason for the failed reload; log:\n%s", file_text(s.log));
	expect_serving(s.port, g.pid);

	/* A control client now: queued, not accepted, and the supervisor
	 * does not spin on it. */
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	char *path = un.sun_path;
	if (snprintf(path, sizeof un.sun_path, "%s.control", s.pidfile) >= (int)sizeof un.sun_path)
		FAIL("work directory path too long");
	struct answer_wait w = { .fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) };
	if (connect(w.fd, (struct sockaddr *)&un, sizeof un) < 0)
		FAIL("connect %s: %s", path, strerror(errno));
	ASSERT(write(w.fd, "handoff-control 1 status\n", 25) == 25);
	long ticks = cpu_ticks(s.pid), start = now_ms();
	if (!wait_file_contains(s.log, "control socket: cannot accept", 1, 10000))
		FAIL("the supervisor did not say it cannot accept; log:\n%s",
		     file_text(s.log));
	/* Some service meanwhile, for long enough to see a busy loop. */
	for (int i = 0; i < 10000 && (i < 20 || now_ms() - start < 300); i++)
		expect_serving(s.port, g.pid);
	long wall_ms = now_ms() - start, cpu_ms = (cpu_ticks(s.pid) - ticks) *
						 1000 / sysconf(_SC_CLK_TCK);
	printf("  at its limit for %ld ms, the supervisor used %ld ms of CPU\n",
	       wall_ms, cpu_ms);
	if (wall_ms >= 200 && cpu_ms * 2 > wall_ms)
		FAIL("the supervisor spins at its descriptor limit: %ld ms of CPU in %ld ms",
		     cpu_ms, wall_ms);

	restore_limit(s.pid, RLIMIT_NOFILE, &old);
	if (!wait_for(answered, &w, 10000) || !strstr(w.text, "supervisor pid"))
		FAIL("the queued client got: \"%s\"", w.text);
	close(w.fd);
	reload_ok(&s, 2, 1);
	sup_stop(&s);
}

/* httpd at its descriptor limit: the upgrade fails with the reason, the
 * generation serves on. */
void test_httpd_out_of_descriptors(void)
{
	struct httpd s;
	httpd_start(&s, NULL, NULL);
	struct rlimit old;
	/* One to spare, for the client that checks it still serves. */
	set_soft_limit(s.pid, RLIMIT_NOFILE, (rlim_t)count_idle_fds(s.pid) + 1, &old);
	kill(s.pid, SIGHUP);
	if (!wait_file_contains(s.log, "upgrade failed: ", 1, 10000) ||
	    !count_in_file(s.log, "Too many open files"))
		FAIL("no reason for the failed upgrade; log:\n%s", file_text(s.log));
	expect_serving(s.port, s.pid);
	ASSERT_EQ(read_pid(s.pidfile), s.pid);
	restore_limit(s.pid, RLIMIT_NOFILE, &old);
	httpd_upgrade(&s);
	httpd_stop(&s);
}

/* --------------------------------------------------------------- fork */

/* The processes whose real user is uid. */
static int count_user_processes(uid_t uid)
{
	DIR *d = opendir("/proc");
	int n = 0;
	for (struct dirent *e; d && (e = readdir(d));) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		char path[300], *text;
		snprintf(path, sizeof path, "/proc/%s/status", e->d_name);
		if (!(text = read_file(path)))
			continue;
		unsigned real;
		char *line = strstr(text, "\nUid:");
		if (line && sscanf(line, "\nUid: %u", &real) == 1 && real == uid)
			n++;
		free(text);
	}
	if (d)
		closedir(d);
	return n;
}

/* A supervisor running as nobody that can fork no more (RLIMIT_NPROC,
 * set before it starts: room for itself and its first generation): the
 * reload fails with the reason, the first generation serves on. As root
 * only: RLIMIT_NPROC does not bind root, and becoming nobody needs it. */
void test_supervisor_cannot_fork(void)
{
	locate();
	char *setpriv = find_program("setpriv") ? strdup(find_program("setpriv")) : NULL;
	char *prlimit_bin = find_program("prlimit") ? strdup(find_program("prlimit")) : NULL;
	if (geteuid() != 0 || !setpriv || !prlimit_bin) {
		free(setpriv);
		free(prlimit_bin);
		SKIP("needs root, setpriv and prlimit");
	}
	struct sup s;
	sup_init(&s);
	char dir[200], nproc[32];
	snprintf(dir, sizeof dir, "%s", work_path("nobody"));
	if (mkdir(dir, 0755) < 0 || chown(dir, 65534, 65534) < 0)
		FAIL("mkdir %s: %s", dir, strerror(errno));
	snprintf(s.pidfile, sizeof s.pidfile, "%s/handoff.pid", dir);
	/* nobody's processes now, the supervisor, its first generation. */
	snprintf(nproc, sizeof nproc, "--nproc=%d", count_user_processes(65534) + 2);
	char *argv[] = { prlimit_bin, nproc, "--", setpriv, "--reuid=65534",
			 "--regid=65534", "--clear-groups", handoff_bin, "run", "--pidfile",
			 s.pidfile, "-l", s.address, "--", httpd_bin, "--listen", s.address,
			 NULL };
	/* XDG_RUNTIME_DIR empty: nobody makes its private directory in /tmp.
	 * No leak check: LeakSanitizer starts a tracer process at exit, which
	 * a limit this tight refuses whenever another of nobody's processes
	 * (another suite's) appeared since we counted (seen in a repeat run). */
	struct spawn_options o = { .output = s.log,
				   .env = (char *[]){ "XDG_RUNTIME_DIR=",
						      "ASAN_OPTIONS=detect_leaks=0", NULL } };
	s.pid = spawn(argv, &o);
	if (!wait_file_contains(s.log, "ok: generation 1 (pid", 1, 20000))
		FAIL("the supervisor as nobody did not start; log:\n%s", file_text(s.log));
	struct gen g = only_generation(&s);
	kill(s.pid, SIGHUP);
	if (!wait_file_contains(s.log, "failed: cannot start", 1, 10000) ||
	    !count_in_file(s.log, "Resource temporarily unavailable"))
		FAIL("no reason for the failed reload; log:\n%s", file_text(s.log));
	printf("  %s", strstr(file_text(s.log), "failed: cannot start"));
	expect_serving(s.port, g.pid);
	ASSERT_EQ(only_generation(&s).pid, g.pid);
	sup_terminate(&s);
	free(setpriv);
	free(prlimit_bin);
}

/* ---------------------------------------------------------- full disk */

/* A small tmpfs of our own at dir, in a mount namespace of this test's
 * processes only; the test is skipped where that cannot be had (not root,
 * no namespaces). */
static void private_tmpfs(const char *dir)
{
	if (mkdir(dir, 0755) < 0)
		FAIL("mkdir %s: %s", dir, strerror(errno));
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0755") < 0)
		SKIP("no private tmpfs (%s)", strerror(errno));
}

static void fill(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	char block[4096] = { 0 };
	for (int i = 0; i < 1024 && write(fd, block, sizeof block) > 0; i++)
		;
	close(fd);
}

/* The pid file's file system is full: the successor cannot write it, so
 * it never says ready; the old generation serves on, and the pid file
 * still names it. */
void test_httpd_pidfile_on_full_disk(void)
{
	char dir[300], filler[320], pidfile[320];
	snprintf(dir, sizeof dir, "%s", work_path("small"));
	snprintf(filler, sizeof filler, "%s/filler", dir);
	snprintf(pidfile, sizeof pidfile, "%s/httpd.pid", dir);
	private_tmpfs(dir);
	struct httpd s;
	httpd_start_with_pidfile(&s, pidfile, NULL, NULL);
	fill(filler);
	kill(s.pid, SIGHUP);
	if (!wait_file_contains(s.log, "upgrade failed: ", 1, 10000) ||
	    !count_in_file(s.log, "No space left on device"))
		FAIL("no reason for the failed upgrade; log:\n%s", file_text(s.log));
	expect_serving(s.port, s.pid);
	ASSERT_EQ(read_pid(s.pidfile), s.pid);
	ASSERT_EQ(unlink(filler), 0);
	httpd_upgrade(&s);
	httpd_stop(&s);
}

/* The same for the supervisor's start: said, and nothing left behind. */
void test_supervisor_pidfile_on_full_disk(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	char dir[200], filler[220];
	snprintf(dir, sizeof dir, "%s", work_path("small"));
	snprintf(filler, sizeof filler, "%s/filler", dir);
	private_tmpfs(dir);
	snprintf(s.pidfile, sizeof s.pidfile, "%s/handoff.pid", dir);
	fill(filler);
	int code = handoff((char *[]){ "run", "--pidfile", s.pidfile, "-l", s.address, "--",
				       httpd_bin, "--listen", s.address, NULL });
	if (code != 1 || !strstr(said.err, "No space left on device"))
		FAIL("start with a full disk under the pid file: exit %d\n%s%s", code,
		     said.out, said.err);
	ASSERT(access(s.pidfile, F_OK) < 0);
	nothing_left(s.port);
}

/* ------------------------------------------------------------- memory */

static long vm_size_kib(pid_t pid)
{
	char path[64], *status;
	long kib = 0;
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	if (!(status = read_file(path)) || !strstr(status, "VmSize:") ||
	    sscanf(strstr(status, "VmSize:"), "VmSize: %ld", &kib) != 1)
		FAIL("no VmSize for %d", (int)pid);
	free(status);
	return kib;
}

/* No address space left for the new generation (RLIMIT_AS, inherited by
 * it): the reload fails with the reason. Not under AddressSanitizer, which
 * reserves terabytes of address space up front. */
void test_supervisor_out_of_memory(void)
{
#if defined(__SANITIZE_ADDRESS__)
	SKIP("under AddressSanitizer");
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	SKIP("under AddressSanitizer");
#endif
#endif
	locate();
	struct sup s;
	sup_init(&s);
	sup_start(&s, NULL, (char *[]){ httpd_bin, "--listen", s.address, NULL }, NULL);
	struct gen g = only_generation(&s);
	long vm_kib = vm_size_kib(s.pid), httpd_kib = vm_size_kib(g.pid);
	struct rlimit old;
	/* What the supervisor has now, and not a page more for anyone; and
	 * less than a running httpd needs, which the new generation inherits
	 * (which of the two is larger depends on how the binaries were
	 * built). */
	if (httpd_kib - 64 < vm_kib)
		vm_kib = httpd_kib - 64;
	set_soft_limit(s.pid, RLIMIT_AS, (rlim_t)vm_kib * 1024, &old);
	kill(s.pid, SIGHUP);
	if (!wait_file_contains(s.log, "failed: ", 1, 10000) ||
	    !count_in_file(s.log, "Cannot allocate memory"))
		FAIL("no reason for the failed reload; log:\n%s", file_text(s.log));
	printf("  %s", strstr(file_text(s.log), "failed: "));
	expect_serving(s.port, g.pid);
	restore_limit(s.pid, RLIMIT_AS, &old);
	reload_ok(&s, 3, 1); /* 2 was the one that failed */
	sup_stop(&s);
}
