/* client.c — finds the supervisor, makes sure it is the supervisor, asks.
 *
 * The pid file names the supervisor and its lock proves it alive; the
 * socket next to it must be answered by that very process (SO_PEERCRED pid)
 * running as the owner of the pid file. Anyone else who answers there, a
 * process that got hold of the name or outlived the supervisor, is not
 * believed. With --control PATH there is no pid to check: the peer must be
 * root or our own user.
 *
 * `stop` then waits for the supervisor to be gone, which it is only once
 * every generation is: so that `handoff stop && handoff run` finds the
 * port, the pid file and the control socket free. */
#include "client.h"
#include "control.h"
#include "endpoint.h"
#include "exit_watch.h"
#include "internal.h"
#include "parse.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
	DEFAULT_TIMEOUT_MS = 120000,
	/* After the second stop, the supervisor SIGKILLs every generation's
	 * process group and exits once it has reaped them: moments, unless
	 * the machine is in trouble. */
	KILL_WAIT_MS = 10000,
};

static const char *const usages[][2] = {
	{ "reload",
	  "usage: handoff reload (--pidfile FILE | --control PATH) [--timeout DUR]\n"
	  "       handoff reload --self [--exec BINARY] (--pidfile FILE | --control PATH)\n"
	  "Starts a new generation and waits for the outcome: exits 0 once it serves\n"
	  "(the old one drains), 1 with the reason if it failed or the supervisor\n"
	  "refused (the old one keeps serving).\n"
	  "With --self, the supervisor itself is upgraded instead: it runs its binary\n"
	  "again in place (same pid), keeping its listeners, generations, pid file and\n"
	  "sockets; the generations serve on. The new binary first checks the\n"
	  "supervisor's state in a dry run; exits 0 once it has taken over, 1 with the\n"
	  "reason if it refused or failed (the old binary then runs on).\n"
	  "  --self           upgrade the supervisor, not the server\n"
	  "  --exec BINARY    with --self: run BINARY, not the file now at the path\n"
	  "                   the supervisor was started as\n"
	  "  --timeout DUR    give up waiting for the outcome after DUR (2m)\n" },
	{ "stop",
	  "usage: handoff stop (--pidfile FILE | --control PATH) [--timeout DUR]\n"
	  "Stops the supervisor and returns once it and every generation are gone:\n"
	  "the port, the pid file and the control socket are then free. The\n"
	  "generations drain; if they are still there after --timeout, stop asks\n"
	  "again, which kills every generation at once, and waits up to 10s more.\n"
	  "Exit status:\n"
	  "  0  stopped: every generation drained or was ended by the supervisor's\n"
	  "     own --drain-timeout\n"
	  "  1  failed: no supervisor, refused, or still running (the reason on stderr)\n"
	  "  2  bad usage\n"
	  "  3  stopped, but only by killing the generations left at --timeout\n"
	  "  --timeout DUR    how long the generations may drain before they are\n"
	  "                   killed (2m); their own --drain-timeout may end them sooner\n" },
	{ "status",
	  "usage: handoff status (--pidfile FILE | --control PATH) [--json] [--timeout DUR]\n"
	  "The supervisor, its listeners and its generations, as text or JSON.\n"
	  "  --json           as one JSON object\n"
	  "  --timeout DUR    give up waiting for the answer after DUR (2m)\n" },
};

static int usage(const char *command, FILE *f)
{
	for (size_t i = 0; i < sizeof usages / sizeof *usages; i++)
		if (strcmp(usages[i][0], command) == 0)
			fputs(usages[i][1], f);
	fputs("  --pidfile FILE   the supervisor whose pid file this is (handoff run --pidfile)\n"
	      "  --control PATH   the supervisor listening at PATH (handoff run --control)\n"
	      "DUR is 250ms, 2s, 1.5m or a number of milliseconds.\n",
	      f);
	return f == stderr ? 2 : 0;
}

/* Who must answer: a pid (0: any) and the uids we accept. */
struct expected {
	pid_t pid;
	uid_t uid;
	int any_of_ours;     /* root or our own user */
};

static int find_by_pidfile(const char *pidfile, char *path, size_t size,
			   struct expected *e)
{
	pid_t pid = 0;
	struct stat st;
	int r = ho_pidfile_check(pidfile, &pid);
	if (r == 0) {
		fprintf(stderr, "handoff: no supervisor is running (%s is %s)\n", pidfile,
			access(pidfile, F_OK) == 0 ? "stale" : "absent");
		return -1;
	}
	if (r != -EBUSY || pid <= 0 || stat(pidfile, &st) < 0) {
		fprintf(stderr, "handoff: %s: %s\n", pidfile,
			r == -EBUSY ? "unreadable pid" : strerror(r < 0 ? -r : errno));
		return -1;
	}
	if (control_path_for_pidfile(path, size, pidfile) < 0) {
		fprintf(stderr, "handoff: %s: path too long\n", pidfile);
		return -1;
	}
	*e = (struct expected){ .pid = pid, .uid = st.st_uid };
	return 0;
}

/* Returns the peer's pid, or -1 if it is not the one expected. */
static pid_t verify_peer(int fd, const struct expected *e, const char *where)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		fprintf(stderr, "handoff: %s: %s\n", where, strerror(errno));
		return -1;
	}
	int ok = (!e->pid || cred.pid == e->pid) &&
		 (e->any_of_ours ? cred.uid == 0 || cred.uid == geteuid()
				 : cred.uid == e->uid);
	if (!ok)
		fprintf(stderr, "handoff: %s is answered by pid %d (uid %u), not by the "
			"supervisor%s: not trusting it\n", where, (int)cred.pid,
			(unsigned)cred.uid,
			e->any_of_ours ? " (root or your user)" : " the pid file names");
	return ok ? cred.pid : -1;
}

/* Prints the answer (an "ok" one to out, unless NULL; an error to
 * stderr); returns 0 if it is not an error. */
static int read_answer(int fd, int64_t timeout_ms, FILE *out)
{
	char buf[65536];
	size_t got = 0;
	int64_t deadline = ho_now_us() + timeout_ms * 1000;
	int first = 1, error = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = (deadline - ho_now_us()) / 1000;
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			fprintf(stderr, "handoff: no answer within %lld ms\n",
				(long long)timeout_ms);
			return 1;
		}
		ssize_t n = ho_read(fd, buf + got, sizeof buf - 1 - got);
		if (n > 0)
			got += (size_t)n;
		/* Print as it comes: a status report has no size limit. */
		if (n <= 0 || got == sizeof buf - 1) {
			buf[got] = '\0';
			if (first && got == 0) {
				fputs("handoff: the supervisor closed the connection\n", stderr);
				return 1;
			}
			if (first)
				error = strncmp(buf, "error ", 6) == 0;
			if (error || out)
				fputs(first && error ? buf + 6 : buf, error ? stderr : out);
			first = 0;
			got = 0;
			if (n <= 0)
				return error;
		}
	}
}

struct request {
	const char *command, *pidfile, *control;
	int json;
	int self;                   /* reload --self */
	char exec[CONTROL_REQUEST_MAX]; /* reload --self --exec, made absolute */
	int64_t timeout_ms;
};

/* --exec BINARY: the supervisor may run in another directory, so the
 * path it gets is absolute; and it must fit in a request line. */
static int exec_path(struct request *q, const char *path)
{
	char *full = realpath(path, NULL);
	size_t room = CONTROL_REQUEST_MAX - sizeof CONTROL_GREETING - sizeof "reload-self ";
	if (!full || access(full, X_OK) < 0) {
		fprintf(stderr, "handoff reload: --exec %s: %s\n", path, strerror(errno));
		free(full);
		return -1;
	}
	if (strlen(full) > room || strchr(full, '\n')) {
		fprintf(stderr, "handoff reload: --exec %s: path longer than %zu bytes\n",
			full, room);
		free(full);
		return -1;
	}
	snprintf(q->exec, sizeof q->exec, "%s", full);
	free(full);
	return 0;
}

/* Returns 0, 1 after --help, or -1 after a complaint. */
static int parse(struct request *q, int argc, char **argv)
{
	*q = (struct request){ .command = argv[0], .timeout_ms = DEFAULT_TIMEOUT_MS };
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			return 1;
		if (strcmp(argv[i], "--json") == 0)
			q->json = 1;
		else if (strcmp(argv[i], "--self") == 0)
			q->self = 1;
		else if (strcmp(argv[i], "--exec") == 0 && i + 1 < argc) {
			if (exec_path(q, argv[++i]) < 0)
				return -1;
		}
		else if (strcmp(argv[i], "--pidfile") == 0 && i + 1 < argc)
			q->pidfile = argv[++i];
		else if (strcmp(argv[i], "--control") == 0 && i + 1 < argc)
			q->control = argv[++i];
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc &&
			 parse_duration_ms(argv[i + 1], &q->timeout_ms) == 0 &&
			 q->timeout_ms > 0)
			i++;
		else {
			fprintf(stderr, "handoff %s: %s: unknown option or bad value\n",
				q->command, argv[i]);
			return -1;
		}
	}
	if (q->exec[0] && !q->self) {
		fprintf(stderr, "handoff %s: --exec goes with --self\n", q->command);
		return -1;
	}
	return !q->pidfile == !q->control || (q->json && strcmp(q->command, "status") != 0) ||
			       (q->self && strcmp(q->command, "reload") != 0)
		       ? -1 : 0;
}

/* Connects to path and checks who answers. Returns the socket, its peer's
 * pid in *peer, or -1 after saying why. */
static int reach(const char *path, const struct expected *e, pid_t *peer)
{
	int fd = endpoint_connect(path);
	if (fd < 0) {
		fprintf(stderr, "handoff: cannot reach the supervisor at %s: %s\n", path,
			strerror(-fd));
		return -1;
	}
	if ((*peer = verify_peer(fd, e, path)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* One request on fd; its answer printed (ok answers to out, if not NULL).
 * Returns 0, or 1 after saying why. */
static int ask(int fd, const struct request *q, FILE *out)
{
	char text[CONTROL_REQUEST_MAX + 16];
	snprintf(text, sizeof text, CONTROL_GREETING "%s%s%s%s\n", q->command,
		 q->json ? "-json" : "", q->self ? "-self" : "",
		 q->exec[0] ? " " : "");
	size_t n = strlen(text) - 1;
	snprintf(text + n, sizeof text - n, "%s\n", q->exec);
	return ho_write_all(fd, text, strlen(text)) < 0 ? 1
							 : read_answer(fd, q->timeout_ms, out);
}

/* The second stop request: the supervisor kills every generation at once.
 * Through the control socket, believing only the same process; if that
 * fails, SIGTERM, which the supervisor takes for a stop request too.
 * Returns 0 if the supervisor was gone before we asked. */
static int stop_again(const char *path, const struct expected *e,
		      const struct exit_watch *w, const struct request *q)
{
	if (exit_watch_wait(w, 0))
		return 0; /* it made it just in time: no reason to complain */
	fprintf(stderr, "handoff: pid %d still stopping after %lld ms: killing "
		"its generations\n", (int)w->pid, (long long)q->timeout_ms);
	struct expected same = *e;
	same.pid = w->pid;
	pid_t peer;
	int fd = reach(path, &same, &peer);
	int r = fd < 0 ? 1 : ask(fd, q, NULL);
	if (fd >= 0)
		close(fd);
	if (r != 0 && (r = exit_watch_signal(w, SIGTERM)) < 0)
		fprintf(stderr, "handoff: cannot signal pid %d: %s\n", (int)w->pid,
			strerror(-r));
	return 1;
}

/* After "ok stopping": waits for the supervisor (w) to be gone. Returns
 * the exit status (see the usage of stop). */
static int wait_stopped(const char *path, const struct expected *e,
			const struct exit_watch *w, const struct request *q,
			int64_t started_us)
{
	pid_t pid = w->pid;
	int code = 0;
	if (!exit_watch_wait(w, started_us + q->timeout_ms * 1000) &&
	    stop_again(path, e, w, q)) {
		code = exit_watch_wait(w, ho_now_us() + KILL_WAIT_MS * 1000LL) ? 3 : 1;
		if (code == 1)
			fprintf(stderr, "handoff: pid %d is still running %d ms after its "
				"generations were to be killed\n", (int)pid, KILL_WAIT_MS);
	}
	if (code != 1)
		printf("ok stopped (pid %d and its generations are gone%s) in %lld ms\n",
		       (int)pid, code == 3 ? ", killed" : "",
		       (long long)((ho_now_us() - started_us) / 1000));
	return code;
}

int client_main(int argc, char **argv)
{
	int64_t started_us = ho_now_us();
	struct request q;
	int r = parse(&q, argc, argv);
	if (r != 0)
		return usage(q.command, r > 0 ? stdout : stderr);
	char path[sizeof ((struct endpoint *)0)->path];
	struct expected e = { .any_of_ours = 1 };
	if (q.pidfile && find_by_pidfile(q.pidfile, path, sizeof path, &e) < 0)
		return 1;
	if (q.control)
		snprintf(path, sizeof path, "%s", q.control);
	pid_t peer;
	int fd = reach(path, &e, &peer);
	if (fd < 0)
		return 1;
	if (strcmp(q.command, "stop") != 0) {
		r = ask(fd, &q, stdout);
		close(fd);
		return r;
	}
	/* Watched from before the request on: until the request, the pid
	 * cannot have been reused, since it is the one answering. */
	struct exit_watch w;
	exit_watch_open(&w, peer);
	r = ask(fd, &q, stdout);
	close(fd);
	fflush(stdout); /* "ok stopping" now, not once it is over */
	if (r == 0)
		r = wait_stopped(path, &e, &w, &q, started_us);
	exit_watch_close(&w);
	return r;
}
