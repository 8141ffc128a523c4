/* upgrade.c — starting the successor, watching it become ready (or fail),
 * and turning everything that happens into events on one descriptor.
 *
 * The successor is watched through three descriptors, all in our epoll set:
 *   child_fd     our end of a SOCK_SEQPACKET pair; it says "ready" there
 *   child_pidfd  readable when it exits, with no race against pid reuse
 *   timer_fd     the ready deadline
 * The successor keeps its end (HANDOFF_FD) open; when we exit, it reads EOF
 * and knows its parent is gone (HANDOFF_EVENT_PARENT_EXITED). */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int pidfd_open_pid(pid_t pid)
{
	long fd = syscall(SYS_pidfd_open, pid, 0); /* close-on-exec by design */
	return fd < 0 ? -errno : ho_move_above_stdio((int)fd);
}

static int arm_timer(int ms)
{
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct itimerspec it = {
		.it_value = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L },
	};
	if (timerfd_settime(fd, 0, &it, NULL) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return ho_move_above_stdio(fd);
}

/* Forgets the successor: it has been reaped or has taken over. */
static void forget_child(struct handoff *h)
{
	ho_close(&h->child_pidfd);
	ho_close(&h->timer_fd);
	h->child_pid = 0;
}

/* The parent may have exited without our loop noticing yet: peek, so that
 * the PARENT_EXITED event is still delivered by handoff_next(). */
static int parent_still_draining(struct handoff *h)
{
	char byte;
	if (h->parent_fd < 0)
		return 0;
	ssize_t n = ho_recv(h->parent_fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK);
	return !(n == 0 || (n < 0 && n != -EAGAIN));
}

static int upgrade_refusal(struct handoff *h)
{
	switch (h->state) {
	case HANDOFF_STATE_STARTING:
		return -EAGAIN;
	case HANDOFF_STATE_UPGRADING:
		return -EBUSY;
	case HANDOFF_STATE_SERVING:
		return h->parent_fd >= 0 ? -EAGAIN : 0;
	default:
		return -EALREADY;
	}
}

static pid_t start_successor(struct handoff *h, int child_end)
{
	size_t n = h->listener_count;
	int *fds = calloc(n + 1, sizeof *fds);
	struct ho_child_env env;
	if (!fds)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		fds[i] = h->listeners[i].fd;
	fds[n] = child_end;
	int r = ho_child_env_build(&env, h->listeners, n, HO_LISTEN_FDS_START + (int)n,
				   ho_next_generation(h->generation), NULL);
	if (r < 0) {
		free(fds);
		return r;
	}
	struct ho_spawn s = {
		.path = h->exec_path, .argv = h->exec_argv, .envp = env.envp,
		.fds = fds, .fd_count = n + 1, .env = &env, .umask = -1,
	};
	pid_t pid = ho_spawn(&s);
	ho_child_env_free(&env);
	free(fds);
	return pid;
}

static int watch_child(struct handoff *h, pid_t pid)
{
	h->child_pid = pid;
	h->child_pidfd = pidfd_open_pid(pid);
	if (h->child_pidfd < 0)
		return h->child_pidfd;
	h->timer_fd = arm_timer(h->config.ready_timeout_ms);
	if (h->timer_fd < 0)
		return h->timer_fd;
	int r = ho_watch(h, h->child_fd);
	if (r == 0)
		r = ho_watch(h, h->child_pidfd);
	if (r == 0)
		r = ho_watch(h, h->timer_fd);
	return r;
}

static pid_t spawn_watched(struct handoff *h)
{
	int pair[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0)
		return -errno;
	pid_t pid = start_successor(h, pair[1]);
	close(pair[1]);
	if (pid < 0) {
		close(pair[0]);
		return pid;
	}
	h->child_fd = ho_move_above_stdio(pair[0]);
	h->state = HANDOFF_STATE_UPGRADING;
	int r = h->child_fd < 0 ? h->child_fd : watch_child(h, pid);
	if (r < 0) {
		ho_upgrade_abort(h);
		return r;
	}
	return pid;
}

/* Under `handoff run`, a generation of ours that started its own successor
 * would fight the supervisor, which owns the listeners and the generations:
 * ask it instead. Its new generation takes over, and we get its stop signal
 * (STOP) like any generation it replaces. */
static int ask_supervisor(struct handoff *h)
{
	if (h->state != HANDOFF_STATE_SERVING)
		return h->state == HANDOFF_STATE_HANDED_OVER ? -EALREADY : -EAGAIN;
	int r = ho_notify_send("HANDOFF_RELOAD=1", -1);
	return r < 0 ? r : r == 0 ? -ENOTCONN : 0;
}

int handoff_upgrade(struct handoff *h)
{
	if (h->supervised)
		return ask_supervisor(h);
	int r = upgrade_refusal(h);
	if (r == -EAGAIN && h->state == HANDOFF_STATE_SERVING &&
	    !parent_still_draining(h))
		r = 0;
	if (r < 0)
		return r; /* refused: nothing was attempted, nothing announced */
	/* Announced before the fork: a quick successor's READY=1 must not
	 * reach the service manager ahead of our RELOADING=1. */
	char msg[64];
	snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%lld",
		 (long long)ho_now_us());
	ho_notify(h, msg);
	pid_t pid = h->exec_path ? spawn_watched(h) : -h->exec_errno;
	if (pid < 0) /* ends the RELOADING=1 */
		ho_notify(h, "READY=1\nSTATUS=upgrade failed, still serving");
	return pid;
}

/* Kills and reaps a successor that is not ready; we keep serving. */
void ho_upgrade_abort(struct handoff *h)
{
	if (h->child_pid > 0) {
		kill(h->child_pid, SIGKILL);
		ho_waitpid(h->child_pid, NULL, 0);
	}
	forget_child(h);
	ho_close(&h->child_fd);
	h->child_hung_up = 0;
	h->state = HANDOFF_STATE_SERVING;
}

static int fail(struct handoff *h, struct handoff_event *ev, int error,
		int status)
{
	pid_t pid = h->child_pid;
	if (error == -ECHILD) /* already reaped */
		h->child_pid = 0;
	ho_upgrade_abort(h);
	*ev = (struct handoff_event){ .type = HANDOFF_EVENT_UPGRADE_FAILED,
				      .pid = pid, .error = error,
				      .status = status };
	/* Ends a RELOADING=1 for a service manager waiting on it. */
	ho_notify(h, "READY=1\nSTATUS=upgrade failed, still serving");
	return 1;
}

static int handed_over(struct handoff *h, struct handoff_event *ev, int takes_connections)
{
	pid_t pid = h->child_pid;
	forget_child(h);
	/* Keep child_fd open until we exit (the successor watches for our EOF);
	 * listen to it only if connections may go that way (conn_pass.c). */
	h->successor_pid = pid;
	h->successor_listening = takes_connections &&
				 (h->config.flags & HANDOFF_CONNECTIONS);
	if (!h->successor_listening)
		ho_unwatch(h, h->child_fd);
	h->state = HANDOFF_STATE_HANDED_OVER;
	char msg[48];
	snprintf(msg, sizeof msg, "MAINPID=%ld", (long)pid);
	ho_notify(h, msg);
	*ev = (struct handoff_event){ .type = HANDOFF_EVENT_DRAIN, .pid = pid };
	return 1;
}

/* " connections=N" among the fields of a ready message, N >= 1: the
 * successor takes live connections (version N of conn_wire.h). */
static int says_connections(const char *msg)
{
	unsigned long version;
	return ho_line_number(msg, "connections", UINT32_MAX, &version) == 0 && version >= 1;
}

static int exited(struct handoff *h, int *status)
{
	siginfo_t info = { 0 };
	if (waitid(P_PIDFD, (id_t)h->child_pidfd, &info, WEXITED | WNOHANG) < 0 ||
	    info.si_pid == 0)
		return 0;
	/* Rebuild the classic wait status that waitpid() would have given. */
	if (info.si_code == CLD_EXITED)
		*status = W_EXITCODE(info.si_status, 0);
	else
		*status = info.si_status | (info.si_code == CLD_DUMPED ? WCOREFLAG : 0);
	return 1;
}

/* The channel reached EOF. A dying process closes its files before it
 * becomes waitable, so this is usually a crash whose status the pidfd will
 * tell in a moment; a successor that closed the channel and lives on gets a
 * second, then is killed. Nothing here blocks the serving loop. */
enum { HUNG_UP_GRACE_MS = 1000 };

static void hung_up(struct handoff *h)
{
	h->child_hung_up = 1;
	ho_unwatch(h, h->child_fd);
	struct itimerspec left;
	if (timerfd_gettime(h->timer_fd, &left) == 0 &&
	    (left.it_value.tv_sec > 0 ||
	     left.it_value.tv_nsec > HUNG_UP_GRACE_MS * 1000000L)) {
		struct itimerspec grace = {
			.it_value = { .tv_sec = HUNG_UP_GRACE_MS / 1000,
				      .tv_nsec = HUNG_UP_GRACE_MS % 1000 * 1000000L },
		};
		timerfd_settime(h->timer_fd, 0, &grace, NULL);
	}
}

static int check_child(struct handoff *h, struct handoff_event *ev)
{
	char msg[256];
	int status;
	ssize_t n = ho_recv(h->child_fd, msg, sizeof msg - 1, MSG_DONTWAIT);
	if (n > 0) {
		msg[n] = '\0';
		if (ho_line_is(msg, "ready"))
			return handed_over(h, ev, says_connections(msg));
	}
	if (exited(h, &status))
		return fail(h, ev, -ECHILD, status);
	if (!h->child_hung_up && (n == 0 || (n < 0 && n != -EAGAIN)))
		hung_up(h);
	uint64_t expirations;
	if (ho_read(h->timer_fd, &expirations, sizeof expirations) > 0)
		return fail(h, ev, h->child_hung_up ? -EPIPE : -ETIMEDOUT, 0);
	return 0;
}

static int check_parent(struct handoff *h, struct handoff_event *ev)
{
	ssize_t n;
	if (h->taking) {
		n = ho_take_check(h, ev);
		if (n >= 0)
			return (int)n;
	} else {
		char byte;
		n = ho_recv(h->parent_fd, &byte, 1, MSG_DONTWAIT);
		if (n == -EAGAIN)
			return 0;
		if (n > 0)
			return 0; /* we take no connections: a message is skipped */
	}
	ho_close(&h->parent_fd); /* also leaves the epoll set */
	*ev = (struct handoff_event){ .type = HANDOFF_EVENT_PARENT_EXITED,
				      .pid = h->parent_pid };
	return 1;
}

/* systemd's Type=notify-reload sends SIGHUP and waits for RELOADING=1,
 * then READY=1: a refused upgrade must still say both, or `systemctl
 * reload` hangs. (-EBUSY needs nothing: the running upgrade will; a failed
 * start was announced and ended by handoff_upgrade itself.) */
static void answer_refused_reload(struct handoff *h, const struct handoff_event *ev)
{
	char msg[320], why[200];
	snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%lld",
		 (long long)ho_now_us());
	ho_notify(h, msg);
	snprintf(msg, sizeof msg, "READY=1\nSTATUS=upgrade refused: %s",
		 handoff_event_describe(ev, why, sizeof why));
	ho_notify(h, msg);
}

static int check_signal(struct handoff *h, struct handoff_event *ev)
{
	unsigned char sig;
	if (h->signal_fd < 0 || ho_read(h->signal_fd, &sig, 1) != 1)
		return 0;
	*ev = (struct handoff_event){ .signal = sig };
	if (sig == SIGHUP) {
		int r = handoff_upgrade(h);
		ev->type = r > 0 || (r == 0 && !h->supervised) ? HANDOFF_EVENT_UPGRADE_STARTED
			   : r == 0				? HANDOFF_EVENT_RELOAD_REQUESTED
								: HANDOFF_EVENT_UPGRADE_FAILED;
		ev->pid = r >= 0 ? r : 0;
		ev->error = r >= 0 ? 0 : r;
		if (r == -EAGAIN || r == -EALREADY) /* refused before announcing */
			answer_refused_reload(h, ev);
	} else {
		ev->type = sig == SIGUSR2 ? HANDOFF_EVENT_STOP_NOW
					  : HANDOFF_EVENT_STOP;
	}
	return 1;
}

int handoff_next(struct handoff *h, struct handoff_event *ev)
{
	memset(ev, 0, sizeof *ev);
	if (h->state == HANDOFF_STATE_UPGRADING && check_child(h, ev))
		return 1;
	/* Our predecessor's channel before the supervisor's: the supervisor
	 * may introduce our successor right after the predecessor's exit, and
	 * the end of its channel, already waiting, must be read first. Else
	 * we would still seem to be taking connections, and would refuse to
	 * pass ours on (supervised.c): our clients would be ended instead. */
	if (h->parent_fd >= 0 && check_parent(h, ev))
		return 1;
	if (h->supervisor_fd >= 0 && ho_supervisor_check(h, ev))
		return 1;
	if (h->state == HANDOFF_STATE_HANDED_OVER && ho_pass_check(h, ev))
		return 1;
	if (check_signal(h, ev))
		return 1;
	/* Nothing pending: let epoll re-evaluate its ready list, or the
	 * descriptor would keep polling readable for sources already drained. */
	struct epoll_event drained[8];
	ho_epoll_wait(h->epoll_fd, drained, 8, 0);
	return 0;
}

int handoff_wait(struct handoff *h, struct handoff_event *ev, int timeout_ms)
{
	int64_t deadline = ho_now_us() + (int64_t)timeout_ms * 1000;
	for (;;) {
		int r = handoff_next(h, ev);
		if (r != 0)
			return r;
		int64_t left = timeout_ms < 0 ? -1 : (deadline - ho_now_us() + 999) / 1000;
		if (timeout_ms >= 0 && left <= 0)
			return 0;
		struct epoll_event ready;
		r = ho_epoll_wait(h->epoll_fd, &ready, 1, (int)left);
		if (r < 0)
			return r;
	}
}

/* ----------------------------------------------------------- describing */

static void describe_failure(const struct handoff_event *ev, char *buf,
			     size_t size)
{
	int st = ev->status;
	switch (ev->error) {
	case -ECHILD:
		if (WIFEXITED(st))
			snprintf(buf, size, "successor %d exited with status %d "
				 "before it was ready", ev->pid, WEXITSTATUS(st));
		else
			snprintf(buf, size, "successor %d was killed by signal %d "
				 "(%s) before it was ready", ev->pid,
				 WTERMSIG(st), strsignal(WTERMSIG(st)));
		return;
	case -ETIMEDOUT:
		snprintf(buf, size, "successor %d was not ready in time; killed",
			 ev->pid);
		return;
	case -EPIPE:
		snprintf(buf, size, "successor %d closed the handoff channel "
			 "without saying ready; killed", ev->pid);
		return;
	case -EBUSY:
		snprintf(buf, size, "an upgrade is already in progress");
		return;
	case -EAGAIN:
		snprintf(buf, size, "not ready to upgrade yet (starting, or the "
			 "previous generation is still draining)");
		return;
	case -EALREADY:
		snprintf(buf, size, "this generation has already handed over");
		return;
	}
	snprintf(buf, size, "cannot start the successor: %s", strerror(-ev->error));
}

const char *handoff_event_describe(const struct handoff_event *ev, char *buf,
				   size_t size)
{
	switch (ev->type) {
	case HANDOFF_EVENT_UPGRADE_STARTED:
		snprintf(buf, size, "upgrade started: successor pid %d", ev->pid);
		break;
	case HANDOFF_EVENT_RELOAD_REQUESTED:
		snprintf(buf, size, "reload requested from the supervisor");
		break;
	case HANDOFF_EVENT_UPGRADE_FAILED:
		describe_failure(ev, buf, size);
		break;
	case HANDOFF_EVENT_DRAIN:
		snprintf(buf, size, "successor %d is ready; draining", ev->pid);
		break;
	case HANDOFF_EVENT_STOP:
	case HANDOFF_EVENT_STOP_NOW:
		if (ev->signal == 0) { /* supervised.c */
			snprintf(buf, size, "stop requested by the supervisor: replaced by a "
				 "successor this generation cannot pass connections to");
			break;
		}
		snprintf(buf, size, "stop%s requested by signal %d (%s)",
			 ev->type == HANDOFF_EVENT_STOP_NOW ? " now" : "",
			 ev->signal, strsignal(ev->signal));
		break;
	case HANDOFF_EVENT_PARENT_EXITED:
		snprintf(buf, size, "previous generation %d has exited", ev->pid);
		break;
	case HANDOFF_EVENT_CONNECTIONS:
		snprintf(buf, size, "connections from the previous generation %d", ev->pid);
		break;
	case HANDOFF_EVENT_PASSED:
		snprintf(buf, size, "successor %d answered for connections passed", ev->pid);
		break;
	default:
		snprintf(buf, size, "no event");
	}
	return buf;
}
