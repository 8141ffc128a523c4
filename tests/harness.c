/* harness.c — processes, waits, files and sockets for the tests. */
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

char *path_join(const char *dir, const char *name)
{
	static char ring[8][PATH_BUFFER * 2];
	static int next;
	char *buf = ring[next++ % 8];
	snprintf(buf, sizeof ring[0], "%s/%s", dir, name);
	return buf;
}

char *bin_path(const char *name)
{
	return path_join(bin_dir, name);
}

char *work_path(const char *name)
{
	return path_join(work_dir, name);
}

long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

long deadline_after(int timeout_ms)
{
	return now_ms() + (long)timeout_ms * timeout_multiplier;
}

static const char *scaled_text(int ms, const char *unit)
{
	static char ring[8][32];
	static int next;
	char *buf = ring[next++ % 8];
	snprintf(buf, sizeof ring[0], "%ld%s", (long)ms * timeout_multiplier, unit);
	return buf;
}

const char *scaled_ms(int ms)
{
	return scaled_text(ms, "");
}

const char *scaled_duration(int ms)
{
	return scaled_text(ms, "ms");
}

void pause_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------ processes */

static void child_exec(char *const argv[], const struct spawn_options *o)
{
	if (o->output) {
		int fd = open(o->output, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
	}
	int floor = 3 + o->fd_count + 1;
	int moved[64];
	for (int i = 0; i < o->fd_count; i++)
		moved[i] = fcntl(o->fds[i], F_DUPFD_CLOEXEC, floor);
	for (int i = 0; i < o->fd_count; i++)
		if (dup2(moved[i], 3 + i) < 0)
			_exit(126);
	/* Whatever the runner inherited from its own parent stays out. */
	close_range(3 + (unsigned)o->fd_count, ~0U, 0);
	if (o->listen_fds) {
		char buf[32];
		snprintf(buf, sizeof buf, "%d", o->fd_count);
		setenv("LISTEN_FDS", buf, 1);
		snprintf(buf, sizeof buf, "%d", (int)getpid());
		setenv("LISTEN_PID", buf, 1);
	}
	for (char *const *e = o->env; e && *e; e++)
		putenv(*e);
	/* Start as a service manager would: default dispositions (a shell
	 * running us in the background ignores SIGINT and SIGQUIT, and exec
	 * keeps what is ignored) and an empty mask. */
	sigset_t empty;
	sigemptyset(&empty);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigprocmask(SIG_SETMASK, &empty, NULL);
	execvp(argv[0], argv);
	fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

pid_t spawn(char *const argv[], const struct spawn_options *options)
{
	static const struct spawn_options none;
	const struct spawn_options *o = options ? options : &none;
	if (o->fd_count > 60)
		FAIL("too many fds to pass");
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0)
		child_exec(argv, o);
	return pid;
}

pid_t spawn_helper(const char *name, const char *arg,
		   const struct spawn_options *options)
{
	char *argv[] = { self_exe, "--helper", (char *)name, (char *)arg, NULL };
	return spawn(argv, options);
}

/* Sleeps on a pidfd, so the exit is seen the moment it happens. */
int wait_exit(pid_t pid, int timeout_ms, int *status)
{
	long deadline = deadline_after(timeout_ms);
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR) || now_ms() >= deadline) {
			if (pidfd >= 0)
				close(pidfd);
			if (r < 0 && errno != EINTR)
				FAIL("waitpid %d: %s", (int)pid, strerror(errno));
			return r == pid;
		}
		struct pollfd p = { .fd = pidfd, .events = POLLIN };
		long left = deadline - now_ms(); /* never negative: poll(-1) waits for ever */
		if (pidfd < 0 || poll(&p, 1, left > 0 ? (int)left : 0) < 0)
			pause_ms(1);
	}
}

int wait_for(int (*cond)(void *), void *arg, int timeout_ms)
{
	long deadline = deadline_after(timeout_ms);
	for (;;) {
		if (cond(arg))
			return 1;
		if (now_ms() >= deadline)
			return 0;
		pause_ms(1);
	}
}

/* ---------------------------------------------------------------- files */

char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	if (!buf)
		FAIL("out of memory");
	buf[len] = '\0';
	return buf;
}

const char *file_text(const char *path)
{
	char *text = read_file(path);
	return text ? text : "(no such file)";
}

int count_in_file(const char *path, const char *needle)
{
	char *text = read_file(path);
	int count = 0;
	for (char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
		count++;
	free(text);
	return count;
}

struct file_wait {
	const char *path, *needle;
	int count;
};

static int file_has(void *arg)
{
	struct file_wait *w = arg;
	return count_in_file(w->path, w->needle) >= w->count;
}

int wait_file_contains(const char *path, const char *needle, int count,
		       int timeout_ms)
{
	struct file_wait w = { path, needle, count };
	return wait_for(file_has, &w, timeout_ms);
}

void write_file(const char *path, const char *text, int mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		FAIL("write %s: %s", path, strerror(errno));
	fchmod(fd, (mode_t)mode);
	close(fd);
}

void write_file_atomic(const char *path, const char *text, int mode)
{
	char tmp[600];
	snprintf(tmp, sizeof tmp, "%s.new", path);
	write_file(tmp, text, mode);
	if (rename(tmp, path) < 0)
		FAIL("rename %s: %s", tmp, strerror(errno));
}

pid_t read_pid(const char *path)
{
	char *text = read_file(path);
	long pid = text ? strtol(text, NULL, 10) : 0;
	free(text);
	return pid > 0 ? (pid_t)pid : 0;
}

int count_fds(pid_t pid)
{
	char dir[64];
	snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Inodes of TCP sockets that are not listening (state 0A is LISTEN). */
static int is_connection_inode(unsigned long inode)
{
	static const char *const tables[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	for (int t = 0; t < 2; t++) {
		FILE *f = fopen(tables[t], "re");
		char line[512];
		while (f && fgets(line, sizeof line, f)) {
			unsigned state;
			unsigned long ino;
			if (sscanf(line, "%*d: %*s %*s %x %*s %*s %*s %*s %*s %lu",
				   &state, &ino) == 2 && ino == inode && state != 0x0A) {
				fclose(f);
				return 1;
			}
		}
		if (f)
			fclose(f);
	}
	return 0;
}

int count_connections(pid_t pid)
{
	int n = 0;
	for (int fd = 0; fd < 4096; fd++) {
		char link[64], target[64];
		unsigned long inode;
		snprintf(link, sizeof link, "/proc/%d/fd/%d", (int)pid, fd);
		ssize_t len = readlink(link, target, sizeof target - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		if (sscanf(target, "socket:[%lu]", &inode) == 1 &&
		    is_connection_inode(inode))
			n++;
	}
	return n;
}

static int no_connections(void *arg)
{
	return count_connections(*(pid_t *)arg) == 0;
}

int count_idle_fds(pid_t pid)
{
	if (!wait_for(no_connections, &pid, 10000))
		FAIL("%d still holds client connections", (int)pid);
	return count_fds(pid);
}

/* -------------------------------------------------------------- sockets */

int free_port(void)
{
	int fd = listen_on("127.0.0.1:0");
	struct sockaddr_in in;
	socklen_t len = sizeof in;
	getsockname(fd, (struct sockaddr *)&in, &len);
	close(fd);
	return ntohs(in.sin_port);
}

int listen_on(const char *text)
{
	struct handoff_address a;
	if (handoff_address_parse(&a, text) < 0)
		FAIL("bad address %s", text);
	int fd = socket(a.family, a.type | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, &a.u.sa, a.length) < 0 ||
	    (a.type == SOCK_STREAM && listen(fd, SOMAXCONN) < 0))
		FAIL("listen on %s: %s", text, strerror(errno));
	return fd;
}

static int wait_fd(int fd, short events, long deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	long left = deadline - now_ms();
	return left > 0 && poll(&p, 1, (int)left) == 1;
}

int http_send(const char *host, int port, const char *path)
{
	struct sockaddr_in6 in6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
	struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int v6 = strchr(host, ':') != NULL;
	int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (v6)
		inet_pton(AF_INET6, host, &in6.sin6_addr);
	else
		inet_pton(AF_INET, host, &in.sin_addr);
	if (connect(fd, v6 ? (struct sockaddr *)&in6 : (struct sockaddr *)&in,
		    v6 ? sizeof in6 : sizeof in) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	char req[256];
	int n = snprintf(req, sizeof req,
			 "GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", path);
	if (write(fd, req, (size_t)n) != n) {
		int err = errno ? errno : EIO;
		close(fd);
		return -err;
	}
	return fd;
}

int http_answer(int fd, char *body, size_t size, int timeout_ms)
{
	char resp[4096];
	long deadline = deadline_after(timeout_ms);
	ssize_t got = 0, r = 1;
	while (r > 0 && (size_t)got < sizeof resp - 1 && wait_fd(fd, POLLIN, deadline)) {
		r = read(fd, resp + got, sizeof resp - 1 - (size_t)got);
		got += r > 0 ? r : 0;
	}
	int err = r < 0 ? errno : r > 0 ? ETIMEDOUT : 0;
	close(fd);
	resp[got] = '\0';
	int status = 0;
	if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
		return -(err ? err : EPROTO);
	char *b = strstr(resp, "\r\n\r\n");
	if (body)
		snprintf(body, size, "%s", b ? b + 4 : "");
	return status;
}

int http_get(const char *host, int port, const char *path, char *body,
	     size_t size)
{
	int fd = http_send(host, port, path);
	return fd < 0 ? fd : http_answer(fd, body, size, 5000);
}

int wait_http_body(const char *host, int port, const char *path,
		   const char *needle, char *body, size_t size, int timeout_ms)
{
	long deadline = deadline_after(timeout_ms);
	for (;;) {
		int code = http_get(host, port, path, body, size);
		if (code < 0)
			snprintf(body, size, "(no answer: %s)", strerror(-code));
		if (code == 200 && strstr(body, needle))
			return 1;
		if (now_ms() >= deadline)
			return 0;
		pause_ms(5);
	}
}

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
		.generations = field(text, "generations"),
		.gen_min = field(text, "gen_min"), .gen_max = field(text, "gen_max"),
		.p50_us = field(text, "p50_us"), .p99_us = field(text, "p99_us"),
		.max_us = field(text, "max_us"),
	};
	const char *rps = strstr(text, "\nrps=");
	r->rps = rps ? strtod(rps + 5, NULL) : 0;
	return 0;
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

int connects(const char *address)
{
	struct handoff_address a;
	ASSERT_EQ(handoff_address_parse(&a, address), 0);
	int fd = socket(a.family, a.type | SOCK_CLOEXEC, 0);
	int r = connect(fd, &a.u.sa, a.length);
	close(fd);
	return r == 0;
}


/* ------------------------------------------------ added for the supervisor */

char *source_path(const char *relative)
{
	char dir[PATH_BUFFER];
	snprintf(dir, sizeof dir, "%s", bin_dir);
	for (int up = 0; up < 4; up++) {
		if (access(path_join(dir, "Makefile"), F_OK) == 0)
			return path_join(dir, relative);
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			break;
		*slash = '\0';
	}
	FAIL("no Makefile above %s: where is the repository?", bin_dir);
}

static void redirect(const char *path, int fd)
{
	if (!path)
		return;
	int f = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (f < 0 || dup2(f, fd) < 0)
		_exit(126);
}

int run_command(char *const argv[], const char *out_path, const char *err_path,
		int timeout_ms)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		redirect(out_path, 1);
		redirect(err_path, 2);
		close_range(3, ~0U, 0);
		sigset_t empty;
		sigemptyset(&empty);
		sigprocmask(SIG_SETMASK, &empty, NULL);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	int status;
	if (!wait_exit(pid, timeout_ms, &status)) {
		kill(pid, SIGKILL);
		wait_exit(pid, 5000, &status);
		FAIL("%s %s did not finish within %d ms", argv[0],
		     argv[1] ? argv[1] : "", timeout_ms);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static char guard_marker[64]; /* "HANDOFF_TEST_GUARD=<pid>.<ms>" */

/* Signals (sig > 0) or counts the live processes whose environment, as
 * they were started, holds the marker. */
static int guarded(int sig)
{
	DIR *d = opendir("/proc");
	int found = 0;
	size_t want = strlen(guard_marker) + 1; /* with its NUL */
	for (struct dirent *e; d && (e = readdir(d));) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);
		if (*end || pid <= 0 || pid == getpid())
			continue;
		char path[64];
		snprintf(path, sizeof path, "/proc/%ld/environ", pid);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		static char env[1 << 18];
		size_t len = 0;
		ssize_t n;
		while (len < sizeof env && (n = read(fd, env + len, sizeof env - len)) > 0)
			len += (size_t)n;
		close(fd);
		int match = 0;
		for (size_t i = 0; i < len && !match; i += strlen(env + i) + 1)
			match = len - i >= want && memcmp(env + i, guard_marker, want) == 0;
		if (match) {
			found++;
			if (sig > 0)
				kill((pid_t)pid, sig);
		}
	}
	if (d)
		closedir(d);
	return found;
}

void guard_descendants(void)
{
	if (guard_marker[0])
		return;
	snprintf(guard_marker, sizeof guard_marker, "HANDOFF_TEST_GUARD=%d.%ld",
		 (int)getpid(), now_ms());
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		FAIL("pipe2: %s", strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		/* Outside the test's group: the runner's kill must not take us
		 * before we act. Nothing of the test's but the pipe's read end. */
		setpgid(0, 0);
		if (p[0] != 3 && dup2(p[0], 3) < 0)
			_exit(1);
		close_range(4, ~0U, 0);
		char c;
		while (read(3, &c, 1) < 0 && errno == EINTR)
			;
		/* The test has ended. A supervisor may start a generation while
		 * we kill: a few passes, until one finds nothing. */
		for (int pass = 0; pass < 50 && guarded(SIGKILL) > 0; pass++)
			pause_ms(10);
		_exit(0);
	}
	close(p[0]); /* p[1] stays open, close-on-exec, until the test ends */
	if (setenv("HANDOFF_TEST_GUARD", strchr(guard_marker, '=') + 1, 1) < 0)
		FAIL("setenv: %s", strerror(errno));
}

int count_guarded(void)
{
	if (!guard_marker[0])
		FAIL("count_guarded() without guard_descendants()");
	return guarded(0);
}

int wait_gone(pid_t pid, int timeout_ms, int *status)
{
	long deadline = deadline_after(timeout_ms);
	*status = -1;
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return 1;
		if (r < 0 && errno == ECHILD && kill(pid, 0) < 0 && errno == ESRCH) {
			*status = -1;
			return 1;
		}
		if (now_ms() >= deadline)
			return 0;
		pause_ms(2);
	}
}

/* ------------------------------------------------ added for the benchmark */

long clock_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000L;
}

long rss_kib(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	char *text = read_file(path);
	char *line = text ? strstr(text, "\nVmRSS:") : NULL;
	long kib = line ? strtol(line + 7, NULL, 10) : -1;
	free(text);
	return kib;
}

/* Field 4 (ppid) and 22 (start time) of /proc/<pid>/stat; 0 if gone. */
static int proc_stat(pid_t pid, pid_t *ppid, unsigned long long *start)
{
	char path[64], buf[1024];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	char *p = strrchr(buf, ')'); /* the command may hold spaces and ')' */
	char state;
	int parent;
	unsigned long long t;
	if (!p || sscanf(p + 2, "%c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u "
			 "%*u %*d %*d %*d %*d %*d %*d %llu", &state, &parent, &t) != 3)
		return 0;
	if (ppid)
		*ppid = parent;
	if (start)
		*start = t;
	return state != 'Z' && state != 'X';
}

int children_of(pid_t pid, pid_t *out, int max)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
	char *text = read_file(path); /* threads' children are not listed: fine here */
	int n = 0;
	if (text) {
		char *p = text, *end;
		for (long c; n < max && (c = strtol(p, &end, 10)) > 0; p = end)
			if (proc_stat((pid_t)c, NULL, NULL))
				out[n++] = (pid_t)c;
		free(text);
		return n;
	}
	DIR *d = opendir("/proc"); /* without CONFIG_PROC_CHILDREN */
	for (struct dirent *e; d && n < max && (e = readdir(d));) {
		pid_t c = (pid_t)atoi(e->d_name), parent;
		if (c > 0 && proc_stat(c, &parent, NULL) && parent == pid)
			out[n++] = c;
	}
	if (d)
		closedir(d);
	return n;
}

long raise_nofile(long want)
{
	struct rlimit rl;
	rlim_t w = (rlim_t)want;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -1;
	if (rl.rlim_cur >= w)
		return (long)rl.rlim_cur;
	if (rl.rlim_max < w) { /* the hard limit moves only for root */
		struct rlimit more = { w, w };
		if (setrlimit(RLIMIT_NOFILE, &more) == 0)
			return want;
	}
	rl.rlim_cur = rl.rlim_max < w ? rl.rlim_max : w;
	setrlimit(RLIMIT_NOFILE, &rl);
	getrlimit(RLIMIT_NOFILE, &rl);
	return (long)rl.rlim_cur;
}

char *find_program(const char *name)
{
	if (strchr(name, '/')) {
		char *copy = path_join(name, ""); /* "name/" */
		copy[strlen(copy) - 1] = '\0';
		return access(copy, X_OK) == 0 ? copy : NULL;
	}
	const char *path = getenv("PATH");
	char dir[400];
	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t len = strcspn(p, ":");
		snprintf(dir, sizeof dir, "%.*s", (int)len, p);
		char *full = path_join(dir[0] ? dir : ".", name);
		if (access(full, X_OK) == 0)
			return full;
		p += len + (p[len] == ':');
	}
	/* Root's PATH may lack the sbin directories where daemons live. */
	static const char *const sbin[] = { "/usr/sbin", "/sbin" };
	for (int i = 0; i < 2; i++) {
		char *full = path_join(sbin[i], name);
		if (access(full, X_OK) == 0)
			return full;
	}
	return NULL;
}

int port_listening(int port)
{
	static const char *const tables[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	for (int t = 0; t < 2; t++) {
		FILE *f = fopen(tables[t], "re");
		char line[512];
		while (f && fgets(line, sizeof line, f)) {
			unsigned local_port, state;
			if (sscanf(line, "%*d: %*[0-9A-Fa-f]:%x %*s %x", &local_port,
				   &state) == 2 && state == 0x0A && (int)local_port == port) {
				fclose(f);
				return 1;
			}
		}
		if (f)
			fclose(f);
	}
	return 0;
}

struct guarded_pid {
	pid_t pid;
	unsigned long long start;
};

/* Every live descendant of the guarded pids (and they), SIGKILLed in one
 * pass; returns how many were found. */
static int kill_guarded_trees(const struct guarded_pid *g, int count)
{
	enum { MAX = 4096 };
	static pid_t tree[MAX];
	int n = 0;
	for (int i = 0; i < count && n < MAX; i++) {
		unsigned long long start;
		if (proc_stat(g[i].pid, NULL, &start) && start == g[i].start)
			tree[n++] = g[i].pid;
	}
	for (int grown = 1; grown && n < MAX;) {
		grown = 0;
		DIR *d = opendir("/proc");
		for (struct dirent *e; d && n < MAX && (e = readdir(d));) {
			pid_t c = (pid_t)atoi(e->d_name), parent;
			int known = 0, parent_known = 0;
			if (c <= 0 || !proc_stat(c, &parent, NULL))
				continue;
			for (int i = 0; i < n; i++) {
				known |= tree[i] == c;
				parent_known |= tree[i] == parent;
			}
			if (parent_known && !known) {
				tree[n++] = c;
				grown = 1;
			}
		}
		if (d)
			closedir(d);
	}
	for (int i = 0; i < n; i++)
		kill(tree[i], SIGKILL);
	return n;
}

void guard_pid(pid_t pid)
{
	static int pipe_fd = -1;
	struct guarded_pid g = { pid, 0 };
	if (!proc_stat(pid, NULL, &g.start))
		return;
	if (pipe_fd < 0) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) < 0)
			FAIL("pipe2: %s", strerror(errno));
		fflush(NULL);
		pid_t guard = fork();
		if (guard < 0)
			FAIL("fork: %s", strerror(errno));
		if (guard == 0) {
			/* Outside the test's group, holding only the read end. */
			setpgid(0, 0);
			if (p[0] != 3 && dup2(p[0], 3) < 0)
				_exit(1);
			close_range(4, ~0U, 0);
			static struct guarded_pid list[1024];
			int count = 0;
			ssize_t n;
			while (count < 1024 &&
			       ((n = read(3, &list[count], sizeof *list)) > 0 ||
				(n < 0 && errno == EINTR)))
				count += n == (ssize_t)sizeof *list;
			for (int pass = 0; pass < 20 && kill_guarded_trees(list, count) > 0; pass++)
				pause_ms(10);
			_exit(0);
		}
		close(p[0]);
		pipe_fd = p[1];
	}
	if (write(pipe_fd, &g, sizeof g) != (ssize_t)sizeof g)
		FAIL("guard_pid: %s", strerror(errno));
}

static int compare_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

long percentile(long *v, int n, int p)
{
	if (n <= 0)
		return 0;
	qsort(v, (size_t)n, sizeof *v, compare_long);
	int rank = (n * p + 99) / 100;
	return v[rank > 0 ? rank - 1 : 0];
}

void check_no_failures(const struct load_result *r)
{
	if (r->failed)
		FAIL("%ld of %ld requests failed", r->failed, r->requests);
	ASSERT(r->ok > 0);
}

/* ------------------------------------------------ a fake service manager */

int fake_manager_open(char *name, size_t size, int credentials)
{
	static int serial;
	snprintf(name, size, "@handoff-manager-%d-%d", (int)getpid(), serial++);
	struct handoff_address a;
	char text[128];
	snprintf(text, sizeof text, "unixgram:%s", name);
	ASSERT_EQ(handoff_address_parse(&a, text), 0);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (fd < 0 || bind(fd, &a.u.sa, a.length) < 0 ||
	    (credentials &&
	     setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0))
		FAIL("notify socket: %s", strerror(errno));
	return fd;
}

ssize_t fake_manager_receive(int fd, char *buf, size_t size, pid_t *sender,
			     int timeout_ms)
{
	long deadline = deadline_after(timeout_ms);
	for (;;) {
		union {
			struct cmsghdr align;
			char space[CMSG_SPACE(sizeof(struct ucred))];
		} control;
		struct iovec iov = { buf, size - 1 };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = control.space,
				      .msg_controllen = sizeof control.space };
		ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT);
		if (n >= 0) {
			buf[n] = '\0';
			struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
			struct ucred cred = { 0 };
			if (c && c->cmsg_type == SCM_CREDENTIALS)
				memcpy(&cred, CMSG_DATA(c), sizeof cred);
			if (sender)
				*sender = cred.pid;
			return n;
		}
		if (!wait_fd(fd, POLLIN, deadline))
			return -1;
	}
}

void stop_tree(pid_t pid, int sig)
{
	if (pid <= 1) /* 0 is our own group, 1 is init */
		return;
	pid_t kids[64];
	int n = children_of(pid, kids, 64), status;
	kill(pid, sig);
	if (!wait_exit(pid, 15000, &status)) {
		kill(pid, SIGKILL);
		wait_exit(pid, 5000, &status);
	}
	for (int i = 0; i < n; i++)
		if (wait_gone(kids[i], 1000, &status) == 0) {
			kill(kids[i], SIGKILL);
			wait_gone(kids[i], 1000, &status);
		}
}
