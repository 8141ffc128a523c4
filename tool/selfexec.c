/* selfexec.c — the state across exec, and the checks around it. */
#include "selfexec.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define NAMED_MAX (MAX_LISTENERS * STEER_SLOTS + FDSTORE_MAX + 2 * CORE_RECORDS_MAX + 16)

/* Every descriptor the state names. */
static int named_fds(const struct self_state *s, int *out)
{
	int n = 0;
	const int top[] = { s->pidfile_fd, s->notify.fd, s->control[0].fd, s->control[1].fd,
			    s->output_read_fd, s->output_write_fd, s->client_fd,
			    s->fallback_fd };
	for (size_t i = 0; i < sizeof top / sizeof *top; i++)
		if (top[i] >= 0)
			out[n++] = top[i];
	for (int i = 0; i < s->listener_count; i++) {
		out[n++] = s->listeners[i].fd;
		for (int k = 1; k < STEER_SLOTS; k++)
			if (s->listeners[i].slot_fd[k] >= 0)
				out[n++] = s->listeners[i].slot_fd[k];
	}
	for (int i = 0; i < s->generation_count; i++) {
		if (s->gens[i].filter_fd >= 0)
			out[n++] = s->gens[i].filter_fd;
		if (s->gens[i].channel_fd >= 0)
			out[n++] = s->gens[i].channel_fd;
	}
	for (int i = 0; i < s->stored_count; i++)
		out[n++] = s->stored[i].fd;
	return n;
}

/* ------------------------------------------------------------ the memfd */

/* Test only: a state as an older version wrote it, without keys that
 * came later (as far as the reader knows: they take their defaults). */
static void drop_keys(char *text, size_t *length)
{
	static const char *const later[] = { "version=", "last_restart=", "stable_at_us=",
					     "own_bind=", "signalled=", "worker=",
					     "respawn_" };
	size_t out = 0;
	for (size_t at = 0; at < *length;) {
		const char *nl = memchr(text + at, '\n', *length - at);
		size_t n = nl ? (size_t)(nl - (text + at)) + 1 : *length - at;
		const char *key = text + at;
		const char *dot = memchr(key, '=', n);
		/* Past "gen.N." and "listener.N.": the key itself. */
		for (const char *p = key; dot && p < dot; p++)
			if (*p == '.')
				key = p + 1;
		int drop = 0;
		for (size_t i = 0; i < sizeof later / sizeof *later && dot; i++)
			drop |= strncmp(key, later[i], strlen(later[i])) == 0;
		if (!drop)
			memmove(text + out, text + at, n), out += n;
		at += n;
	}
	*length = out;
}

/* Test only: a state as a later version writes it, with keys we do not
 * know, at every level. */
static void add_keys(char **text, size_t *length)
{
	static const char extra[] = "future_key=1\nlistener.0.future=a\\x41\n"
				    "gen.0.future=b\nend\n";
	char *grown = realloc(*text, *length + sizeof extra);
	if (!grown || *length < 4)
		return;
	memcpy(grown + *length - 4, extra, sizeof extra); /* over "end\n" */
	*text = grown;
	*length += sizeof extra - 1 - 4;
}

/* Test only (SELFEXEC_TEST_ENV): what a damaged or hostile state does. */
static void test_fault(char **text, size_t *length)
{
	const char *fault = getenv(SELFEXEC_TEST_ENV);
	if (!fault)
		return;
	if (strcmp(fault, "truncate") == 0)
		*length /= 2;
	else if (strcmp(fault, "garbage") == 0)
		for (size_t i = 0; i < *length; i++)
			(*text)[i] = (char)(i * 131 + 7);
	else if (strcmp(fault, "previous") == 0)
		drop_keys(*text, length);
	else if (strcmp(fault, "next") == 0)
		add_keys(text, length);
	else if (strcmp(fault, "hostile") == 0) {
		static const char hostile[] =
			SELF_STATE_HEADER " 1\npid=1\nlisteners=1\nlistener.0.fd=0\n"
			"gen.99999999999999999999.pid=1\nend\n";
		char *copy = strdup(hostile);
		if (copy) {
			free(*text);
			*text = copy;
			*length = sizeof hostile - 1;
		}
	}
}

int selfexec_write(const struct self_state *s)
{
	char *text = NULL;
	size_t length = 0;
	FILE *f = open_memstream(&text, &length);
	if (!f)
		return -errno;
	int r = self_state_write(s, f);
	if (fclose(f) != 0 && r == 0)
		r = -EIO;
	if (r < 0) {
		free(text);
		return r;
	}
	test_fault(&text, &length);
	int fd = memfd_create("handoff-supervisor-state", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0 || (fd = ho_move_above_stdio(fd)) < 0) {
		r = fd < -1 ? fd : -errno;
		free(text);
		return r;
	}
	ssize_t w = ho_write_all(fd, text, length);
	free(text);
	/* Sealed: the checking child, or anyone else holding it, cannot
	 * change what the new image will read. */
	if (w < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
				      F_SEAL_SEAL) < 0) {
		r = w < 0 ? (int)w : -errno;
		close(fd);
		return r;
	}
	return fd;
}

int selfexec_read(int fd, struct self_state *s, char *why, size_t size)
{
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = errno;
		snprintf(why, size, "state descriptor %d: %s", fd, strerror(e));
		return -e;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > SELF_STATE_BYTES_MAX) {
		snprintf(why, size, "state descriptor %d: not a state (%s, %lld bytes)", fd,
			 S_ISREG(st.st_mode) ? "a file" : "not a file", (long long)st.st_size);
		return -EINVAL;
	}
	size_t length = (size_t)st.st_size;
	char *text = malloc(length + 1);
	if (!text) {
		snprintf(why, size, "state: out of memory");
		return -ENOMEM;
	}
	size_t got = 0;
	while (got < length) {
		ssize_t n = ho_pread(fd, text + got, length - got, (off_t)got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	int r = got == length ? self_state_parse(text, length, s, why, size) : -EIO;
	if (got != length)
		snprintf(why, size, "state: read %zu of %zu bytes", got, length);
	free(text);
	return r;
}

/* ------------------------------------------------------- the descriptors */

static int has_kind(int fd, mode_t kind)
{
	struct stat st;
	return fstat(fd, &st) == 0 && (kind == 0 || (st.st_mode & S_IFMT) == kind);
}

/* A generation's channel (handover.h): a Unix SOCK_SEQPACKET socket. */
#define S_IFCHANNEL ((mode_t)-1)

static int check_fd(int fd, mode_t kind, const char *what, char *why, size_t size)
{
	if (kind == S_IFCHANNEL && fd >= 0 && !ho_is_channel(fd)) {
		snprintf(why, size, "%s: descriptor %d is %s", what, fd,
			 fcntl(fd, F_GETFD) < 0 ? "not open" : "not a channel");
		return -EBADF;
	}
	if (kind == S_IFCHANNEL)
		return 0;
	if (fd < 0 || has_kind(fd, kind))
		return 0;
	snprintf(why, size, "%s: descriptor %d is %s", what, fd,
		 fcntl(fd, F_GETFD) < 0 ? "not open" : "not of the right kind");
	return -EBADF;
}

int selfexec_check_fds(const struct self_state *s, char *why, size_t size)
{
	int r = 0;
	r = r ? r : check_fd(s->pidfile_fd, S_IFREG, "pid file", why, size);
	r = r ? r : check_fd(s->notify.fd, S_IFSOCK, "notify socket", why, size);
	r = r ? r : check_fd(s->control[0].fd, S_IFSOCK, "control socket", why, size);
	r = r ? r : check_fd(s->control[1].fd, S_IFSOCK, "--control socket", why, size);
	r = r ? r : check_fd(s->output_read_fd, S_IFIFO, "output pipe", why, size);
	r = r ? r : check_fd(s->output_write_fd, S_IFIFO, "output pipe", why, size);
	r = r ? r : check_fd(s->client_fd, S_IFSOCK, "control client", why, size);
	r = r ? r : check_fd(s->fallback_fd, 0, "previous binary", why, size);
	for (int i = 0; i < s->listener_count && !r; i++) {
		r = check_fd(s->listeners[i].fd, S_IFSOCK, "listener", why, size);
		for (int k = 1; k < STEER_SLOTS && !r; k++)
			r = check_fd(s->listeners[i].slot_fd[k], S_IFSOCK, "listener slot", why,
				     size);
	}
	for (int i = 0; i < s->generation_count && !r; i++) {
		r = check_fd(s->gens[i].filter_fd, 0, "adoption filter", why, size);
		r = r ? r : check_fd(s->gens[i].channel_fd, S_IFCHANNEL, "generation channel",
				     why, size);
	}
	for (int i = 0; i < s->stored_count && !r; i++)
		r = check_fd(s->stored[i].fd, 0, "stored descriptor", why, size);
	return r;
}

/* ------------------------------------------------------------- the exec */

/* argv: path, then prefix (NULL-terminated, may be NULL), then run_argv
 * from its second word. malloc'd; NULL when out of memory. */
static char **exec_argv(const char *path, char *const prefix[], char *const run_argv[])
{
	size_t n = 0, p = 0;
	while (run_argv[n])
		n++;
	while (prefix && prefix[p])
		p++;
	char **argv = calloc(n + p + 2, sizeof *argv);
	if (!argv)
		return NULL;
	size_t k = 0;
	argv[k++] = (char *)path;
	argv[k++] = run_argv[0];
	for (size_t i = 0; i < p; i++)
		argv[k++] = prefix[i];
	for (size_t i = 1; i < n; i++)
		argv[k++] = run_argv[i];
	return argv;
}

/* environ without our three variables, plus extra (up to 3). */
static char **exec_env(char *const extra[])
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **envp = calloc(n + 4, sizeof *envp);
	if (!envp)
		return NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const char *e = environ[i];
		if (strncmp(e, "HANDOFF_SUPERVISOR_", 19) != 0)
			envp[k++] = environ[i];
	}
	for (size_t i = 0; i < 3 && extra[i]; i++)
		envp[k++] = extra[i];
	return envp;
}

static void set_cloexec_all(const int *fds, int count, int on)
{
	for (int i = 0; i < count; i++)
		ho_set_cloexec(fds[i], on);
}

static int exec_with(const char *path, int via_fd, char *const run_argv[], int state_fd,
		     const struct self_state *s, const char *reason)
{
	static int fds[NAMED_MAX + 1];
	char state[48], fallback[48], *returned = NULL;
	snprintf(state, sizeof state, SELFEXEC_STATE_ENV "=%d", state_fd);
	snprintf(fallback, sizeof fallback, SELFEXEC_FALLBACK_ENV "=%d", s->fallback_fd);
	if (reason && asprintf(&returned, SELFEXEC_RETURNED_ENV "=%s", reason) < 0)
		return -ENOMEM;
	for (char *c = returned; c && *c; c++)
		if (*c == '\n')
			*c = ' ';
	char *extra[4] = { state, reason ? returned : s->fallback_fd >= 0 ? fallback : NULL,
			   NULL, NULL };
	/* Given back, the previous binary is told the path it was started as:
	 * its next `reload --self` runs what is at that path. */
	const char *argv0 = path ? path : s->exe_path[0] ? s->exe_path : "handoff";
	char **argv = exec_argv(argv0, NULL, run_argv);
	char **envp = exec_env(extra);
	int count = named_fds(s, fds);
	fds[count++] = state_fd;
	int e = ENOMEM;
	if (argv && envp) {
		set_cloexec_all(fds, count, 0);
		if (via_fd >= 0)
			fexecve(via_fd, argv, envp);
		else
			execve(path, argv, envp);
		e = errno;
		set_cloexec_all(fds, count, 1);
	}
	free(argv);
	free(envp);
	free(returned);
	return -e;
}

int selfexec_exec(const char *path, char *const run_argv[], int state_fd,
		  const struct self_state *s)
{
	return exec_with(path, -1, run_argv, state_fd, s, NULL);
}

int selfexec_give_back(int fallback_fd, char *const run_argv[], int state_fd,
		       const struct self_state *s, const char *reason)
{
	return exec_with(NULL, fallback_fd, run_argv, state_fd, s, reason);
}

/* ------------------------------------------------------------ the check */

/* The first line of what the checking child printed, for a message. */
static void first_line(char *out, size_t size, const char *text)
{
	size_t n = strcspn(text, "\n");
	snprintf(out, size, "%.*s", (int)(n < 200 ? n : 200), text);
}

int selfexec_try(const char *path, char *const run_argv[], int state_fd,
		 const struct self_state *s, int timeout_ms, char *why, size_t size)
{
	static int fds[NAMED_MAX + 1];
	char fd_text[16];
	snprintf(fd_text, sizeof fd_text, "%d", state_fd);
	char *prefix[] = { "--check-state", fd_text, NULL };
	char **argv = exec_argv(path, prefix, run_argv);
	int p[2];
	if (!argv || pipe2(p, O_CLOEXEC) < 0) {
		int e = argv ? errno : ENOMEM;
		free(argv);
		snprintf(why, size, "cannot check the new binary: %s", strerror(e));
		return -e;
	}
	int count = named_fds(s, fds);
	fds[count++] = state_fd;
	char **envp = exec_env((char *[]){ NULL });
	fflush(NULL);
	pid_t parent = getpid();
	pid_t pid = envp ? fork() : -1;
	if (pid == 0) {
		/* Only async-signal-safe calls until exec. The check holds the
		 * pid file's lock and the listeners: if we die (SIGKILL, the OOM
		 * killer), it dies too, or a new `handoff run` would find the
		 * service "already running" until the check ended, if ever. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
			_exit(127);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(p[1], 1);
		dup2(p[1], 2);
		for (int i = 0; i < count; i++)
			fcntl(fds[i], F_SETFD, 0);
		execve(path, argv, envp);
		const char *msg = "cannot run the new binary: ";
		const char *err = strerror(errno);
		ssize_t ignored = write(1, msg, strlen(msg));
		ignored = write(1, err, strlen(err));
		(void)ignored;
		_exit(127);
	}
	int e = errno;
	close(p[1]);
	free(argv);
	free(envp);
	if (pid < 0) {
		close(p[0]);
		snprintf(why, size, "cannot check the new binary: %s", strerror(e));
		return -e;
	}
	char out[2048];
	size_t got = 0;
	int64_t deadline = ho_now_us() + (int64_t)timeout_ms * 1000;
	int timed_out = 0;
	for (;;) {
		int64_t left = (deadline - ho_now_us()) / 1000;
		struct pollfd pf = { .fd = p[0], .events = POLLIN };
		if (left <= 0 || ho_poll(&pf, 1, (int)left) == 0) {
			timed_out = 1;
			break;
		}
		ssize_t n = ho_read(p[0], out + got, sizeof out - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == sizeof out - 1)
			break;
	}
	out[got] = '\0';
	close(p[0]);
	if (timed_out)
		kill(pid, SIGKILL);
	int status = 0;
	/* Its stdout closed or the deadline passed: it is gone or going. */
	ho_waitpid(pid, &status, 0);
	char said[256], expected[64];
	first_line(said, sizeof said, out);
	snprintf(expected, sizeof expected, "state-ok %s ", s->nonce);
	const char *ok = strstr(out, expected);
	if (!timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    (ok == out || (ok && ok[-1] == '\n')))
		return 0;
	if (timed_out)
		snprintf(why, size, "%s did not check the state within %d ms", path,
			 timeout_ms);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		snprintf(why, size, "%s is not a handoff that can take over (it exited 0 "
			 "without checking the state%s%s)", path, said[0] ? ": " : "", said);
	else if (WIFEXITED(status))
		snprintf(why, size, "%s refused the state (exit status %d)%s%s", path,
			 WEXITSTATUS(status), said[0] ? ": " : "", said);
	else
		snprintf(why, size, "%s was killed by signal %d while checking the state",
			 path, WTERMSIG(status));
	return -EINVAL;
}

int selfexec_check_main(int fd)
{
	static struct self_state s; /* large: not on the stack */
	char why[512];
	int r = selfexec_read(fd, &s, why, sizeof why);
	if (r == 0 && s.pid != getppid()) {
		snprintf(why, sizeof why, "the state is pid %d's, not our parent's (%d)",
			 (int)s.pid, (int)getppid());
		r = -EINVAL;
	}
	if (r == 0)
		r = selfexec_check_fds(&s, why, sizeof why);
	if (r < 0) {
		printf("state refused: %s\n", why);
		return 1;
	}
	printf("state-ok %s handoff %s: %d listener(s), %d generation(s), written by %s\n",
	       s.nonce, handoff_version(), s.listener_count, self_state_generations(&s),
	       s.version[0] ? s.version : "an unnamed version");
	return 0;
}
