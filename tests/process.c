/* process.c — the tests' processes: starting them, waiting for them, guarding against
 * strays, and what /proc says of them. */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

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

int socket_fds(pid_t pid, unsigned long *sockets, int *fds, int max, int *others)
{
	char dir[64];
	int n = 0;
	*others = 0;
	snprintf(dir, sizeof dir, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d)) && n < max;) {
		char link[PATH_BUFFER + 64], target[128];
		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof link, "%s/%s", dir, e->d_name);
		ssize_t len = readlink(link, target, sizeof target - 1);
		if (len <= 0)
			continue;
		target[len] = '\0';
		unsigned long inode;
		if (sscanf(target, "socket:[%lu]", &inode) == 1) {
			if (fds)
				fds[n] = atoi(e->d_name);
			sockets[n++] = inode;
		} else {
			++*others;
		}
	}
	closedir(d);
	return n;
}

/* Through sock_diag rather than /proc/net/tcp: a load of fresh
 * connections leaves tens of thousands of TIME_WAIT entries (no process
 * holds them), and reading that file then takes half a second, longer
 * than some of the moments a test watches for. */
int tcp_sockets(unsigned states, struct tcp_socket *out, int max)
{
	static char buf[65536];
	int n = 0;
	for (int family = 0; family < 2; family++) {
		struct {
			struct nlmsghdr h;
			struct inet_diag_req_v2 r;
		} req = {
			.h = { .nlmsg_len = sizeof req, .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			       .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
			.r = { .sdiag_family = family ? AF_INET6 : AF_INET,
			       .sdiag_protocol = IPPROTO_TCP,
			       .idiag_states = states },
		};
		int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
		if (fd < 0 || send(fd, &req, sizeof req, 0) != (ssize_t)sizeof req)
			FAIL("sock_diag: %s", strerror(errno));
		int done = 0;
		for (int datagrams = 0; !done && datagrams < 100000; datagrams++) {
			ssize_t len = recv(fd, buf, sizeof buf, 0);
			if (len <= 0)
				break;
			for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, len);
			     h = NLMSG_NEXT(h, len)) {
				if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
					done = 1;
					break;
				}
				const struct inet_diag_msg *d = NLMSG_DATA(h);
				if (n < max)
					out[n++] = (struct tcp_socket){
						d->idiag_inode, d->idiag_state,
						ntohs(d->id.idiag_sport), ntohs(d->id.idiag_dport),
						d->idiag_rqueue,
					};
			}
		}
		close(fd);
	}
	return n;
}

/* Whether pid's descriptor fd, a socket, is a TCP connection (not a
 * listener), asked of the socket itself through a copy (pidfd_getfd,
 * Linux 5.6): 1 or 0; -1 if it cannot be asked (an older kernel, no
 * right to pid, the descriptor closed meanwhile). The kernel's tables do
 * not do: a connection its peer has closed while its owner has not yet
 * (httpd waits for the client's EOF after the last answer) is in state
 * CLOSE, in no table, and still a descriptor. */
static int tcp_connection(int pidfd, int fd)
{
#ifdef SYS_pidfd_getfd
	int copy = pidfd >= 0 ? (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0) : -1;
	if (copy < 0)
		return -1;
	int domain = 0, protocol = 0, listening = 1;
	socklen_t a = sizeof domain, b = sizeof protocol, c = sizeof listening;
	int asked = getsockopt(copy, SOL_SOCKET, SO_DOMAIN, &domain, &a) == 0 &&
		    getsockopt(copy, SOL_SOCKET, SO_PROTOCOL, &protocol, &b) == 0 &&
		    getsockopt(copy, SOL_SOCKET, SO_ACCEPTCONN, &listening, &c) == 0;
	close(copy);
	if (!asked)
		return -1;
	return (domain == AF_INET || domain == AF_INET6) && protocol == IPPROTO_TCP &&
	       !listening;
#else
	(void)pidfd;
	(void)fd;
	return -1;
#endif
}

/* One copy of the kernel's TCP table for this file's readers (1.5 MB: a
 * load leaves thousands of connections), and of a process's sockets. */
static struct tcp_socket table[65536];
static unsigned long sockets[4096];

int count_connections(pid_t pid)
{
	static int fds[4096];
	int others, tcp = -1; /* the table: read only if a socket cannot be asked */
	int count = socket_fds(pid, sockets, fds, 4096, &others), held = 0;
	int pidfd = count > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
	for (int i = 0; i < count; i++) {
		int connection = tcp_connection(pidfd, fds[i]);
		if (connection < 0) {
			if (tcp < 0)
				tcp = tcp_sockets(TCP_CONNECTION_STATES, table, 65536);
			for (int j = 0; j < tcp && connection < 0; j++)
				if (table[j].inode == sockets[i])
					connection = 1;
		}
		held += connection > 0;
	}
	if (pidfd >= 0)
		close(pidfd);
	return held;
}

static int no_connections(void *arg)
{
	int held = count_connections(*(pid_t *)arg);
	if (held)
		pause_ms(10); /* each look lists every socket of the machine */
	return held == 0;
}

int wait_no_connections(pid_t pid, int timeout_ms)
{
	return wait_for(no_connections, &pid, timeout_ms);
}

int count_idle_fds(pid_t pid)
{
	if (!wait_no_connections(pid, 10000))
		FAIL("%d still holds %d client connections", (int)pid, count_connections(pid));
	return count_fds(pid);
}

static int port_of(const struct sockaddr_storage *a)
{
	return ntohs(a->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)a)->sin6_port
					      : ((const struct sockaddr_in *)a)->sin_port);
}

unsigned long request_read(int client_fd)
{
	struct sockaddr_storage mine, theirs;
	socklen_t a = sizeof mine, b = sizeof theirs;
	int unacknowledged = -1;
	if (getsockname(client_fd, (struct sockaddr *)&mine, &a) < 0 ||
	    getpeername(client_fd, (struct sockaddr *)&theirs, &b) < 0 ||
	    ioctl(client_fd, SIOCOUTQ, &unacknowledged) < 0 || unacknowledged != 0)
		return 0;
	int n = tcp_sockets(TCP_CONNECTION_STATES, table, 65536);
	for (int i = 0; i < n; i++)
		if (table[i].local_port == port_of(&theirs) &&
		    table[i].remote_port == port_of(&mine))
			return table[i].unread ? 0 : table[i].inode; /* 0: still queued */
	return 0;
}

int holds_socket(pid_t pid, unsigned long inode)
{
	int others, count = socket_fds(pid, sockets, NULL, 4096, &others);
	for (int i = 0; i < count; i++)
		if (sockets[i] == inode)
			return 1;
	return 0;
}

struct request_wait {
	pid_t pid;
	int fd;
};

static int request_taken(void *arg)
{
	const struct request_wait *w = arg;
	unsigned long inode = request_read(w->fd);
	return inode && holds_socket(w->pid, inode);
}

int wait_request_taken(pid_t pid, int client_fd, int timeout_ms)
{
	return wait_for(request_taken, &(struct request_wait){ pid, client_fd }, timeout_ms);
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

/* Processes seen with the marker. One that exits gives back its memory,
 * and with it the environment we know it by, before its descriptors:
 * until it is a zombie it still holds ports and locks, so it still counts. */
struct seen_process {
	pid_t pid;
	unsigned long long start; /* against a reused pid */
};
static struct seen_process seen[256];
static int seen_count;

static int proc_stat(pid_t pid, pid_t *ppid, unsigned long long *start);

static int still_exiting(const struct seen_process *p)
{
	unsigned long long start;
	return proc_stat(p->pid, NULL, &start) && start == p->start;
}

static void remember(pid_t pid)
{
	for (int i = 0; i < seen_count; i++)
		if (seen[i].pid == pid)
			return;
	if (seen_count == (int)(sizeof seen / sizeof *seen)) { /* full: drop the gone */
		int kept = 0;
		for (int i = 0; i < seen_count; i++)
			if (still_exiting(&seen[i]))
				seen[kept++] = seen[i];
		seen_count = kept;
	}
	struct seen_process p = { .pid = pid };
	if (seen_count < (int)(sizeof seen / sizeof *seen) && proc_stat(pid, NULL, &p.start))
		seen[seen_count++] = p;
}

/* Signals (sig > 0) or counts the live processes whose environment, as
 * they were started, holds the marker, and those seen with it that have
 * not finished exiting. */
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
			remember((pid_t)pid);
			if (sig > 0)
				kill((pid_t)pid, sig);
		} else {
			for (int i = 0; i < seen_count; i++)
				if (seen[i].pid == pid && still_exiting(&seen[i]))
					found++;
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

int process_stat(pid_t pid, struct process_stat *st)
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
	/* "pid (comm) state ppid ...": comm may hold spaces and ')'. */
	char *open_paren = strchr(buf, '('), *close_paren = strrchr(buf, ')');
	int parent;
	if (!open_paren || !close_paren || close_paren < open_paren ||
	    sscanf(close_paren + 2, "%c %d %*d %*d %*d %*d %u %*u %*u %*u %*u %llu "
		   "%llu %*d %*d %*d %*d %*d %*d %llu", &st->state, &parent, &st->flags,
		   &st->utime, &st->stime, &st->start) != 6)
		return 0;
	st->ppid = parent;
	snprintf(st->comm, sizeof st->comm, "%.*s", (int)(close_paren - open_paren - 1),
		 open_paren + 1);
	return 1;
}

/* Field 4 (ppid) and 22 (start time) of a live process; 0 if gone. */
static int proc_stat(pid_t pid, pid_t *ppid, unsigned long long *start)
{
	struct process_stat st;
	if (!process_stat(pid, &st))
		return 0;
	if (ppid)
		*ppid = st.ppid;
	if (start)
		*start = st.start;
	return st.state != 'Z' && st.state != 'X';
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

void describe_process(pid_t pid, FILE *out)
{
	static const char *const keys[] = { "Name:", "State:", "Threads:", "SigPnd:",
					    "ShdPnd:", "SigBlk:", "SigIgn:", "SigCgt:" };
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	char *status = read_file(path);
	snprintf(path, sizeof path, "/proc/%d/wchan", (int)pid);
	char *wchan = read_file(path);
	if (!status) {
		fprintf(out, "pid %d: gone\n", (int)pid);
		free(wchan);
		return;
	}
	fprintf(out, "pid %d, wchan %s:", (int)pid, wchan && wchan[0] ? wchan : "?");
	for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
		const char *at = strstr(status, keys[k]);
		if (at)
			fprintf(out, " %.*s;", (int)strcspn(at, "\n"), at);
	}
	fprintf(out, "\n");
	free(status);
	free(wchan);
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


void set_soft_limit(pid_t pid, int resource, unsigned long soft, struct rlimit *old)
{
	struct rlimit now;
	if (prlimit(pid, resource, NULL, &now) < 0)
		FAIL("prlimit %d: %s", (int)pid, strerror(errno));
	if (old)
		*old = now;
	now.rlim_cur = (rlim_t)soft;
	if (prlimit(pid, resource, &now, NULL) < 0)
		FAIL("prlimit %d: %s", (int)pid, strerror(errno));
}

void restore_limit(pid_t pid, int resource, const struct rlimit *old)
{
	if (prlimit(pid, resource, old, NULL) < 0)
		FAIL("prlimit %d: %s", (int)pid, strerror(errno));
}
