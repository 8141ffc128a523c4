/* supervisor.c — the loop, and the wiring between the core and the world.
 *
 * The supervisor owns the listening sockets for its whole life, so between
 * generations (and while one restarts after a crash) clients wait in the
 * accept queue instead of being refused. Descriptors become calls on the
 * core (core.c decides); the core's hooks reach the adapters: the control
 * socket's waiting clients, the daemon's report, systemd. */
#include "supervisor.h"
#include "adopt.h"
#include "control_server.h"
#include "core.h"
#include "daemon.h"
#include "follow.h"
#include "internal.h"
#include "launch.h"
#include "log.h"
#include "notify_in.h"
#include "output.h"
#include "parse.h"
#include "probe.h"
#include "selfexec.h"
#include "selfupgrade.h"
#include "status.h"
#include "supervisor_parts.h"
#include "systemd.h"
#include "watch.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>


/* ------------------------------------------------------------ core hooks */

static pid_t hook_launch(void *ctx, unsigned number, int worker, enum gen_cause cause,
			 char *why, size_t size)
{
	struct supervisor *s = ctx;
	int filter_fd, channel;
	if (cause == CAUSE_RELOAD && worker == 0)
		systemd_reloading(); /* before the fork: READY=1 can only follow */
	/* Workers launched before this one in the same start are recorded
	 * already: only channels of records gone go. */
	handover_prune(&s->handover, &s->core);
	pid_t pid = handover_open(&s->handover, number, worker, &channel);
	if (pid < 0) {
		snprintf(why, size, "cannot start %s: its channel (live connections): %s",
			 s->opt->command[0], strerror((int)-pid));
		return pid;
	}
	pid = launch_generation(&s->launch, number, worker, channel, &filter_fd, why, size);
	int r = pid > 0 && filter_fd >= 0 ? adopt_watch(&s->adopt, number, worker, filter_fd)
					  : 0;
	if (r < 0) {
		/* Unanswered, its binds would fail with ENOSYS: better not at all. */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		ho_waitpid(pid, NULL, 0);
		snprintf(why, size, "cannot watch its seccomp filter: %s", strerror(-r));
		pid = r;
	}
	if (pid < 0) /* no record will name it: its channel goes now */
		handover_prune(&s->handover, &s->core);
	return pid;
}

/* Why a generation did not become ready, from what we saw of it. */
static void hook_explain(void *ctx, const struct generation *g, char *buf, size_t size)
{
	struct supervisor *s = ctx;
	const struct options *opt = s->opt;
	char seen[320] = "", first[80] = "?";
	struct handoff_address address;
	char probed[128];
	probe_describe(&s->probe, g->number, probed, sizeof probed);
	const char *ready = opt->core.ready_delay_ms || opt->ready_on_listen ? ""
			    : probed[0]			   ? probed
							   : "no READY=1 received";
	if (adopt_enabled(&s->adopt)) {
		adopt_describe(&s->adopt, g->number, g->worker, seen, sizeof seen);
		snprintf(buf, size, "%s%s%s", ready, ready[0] && seen[0] ? "; " : "", seen);
		return;
	}
	if (handoff_listener_address(s->listeners, 0, &address) == 0)
		handoff_address_format(&address, first, sizeof first);
	snprintf(buf, size, "%s%sa server that binds %s itself fails with \"Address "
		 "already in use\" while handoff holds it: drop --no-adopt, or let it "
		 "take LISTEN_FDS", ready, ready[0] ? "; " : "", first);
}

static void hook_start_done(void *ctx, int ok, const char *message)
{
	struct supervisor *s = ctx;
	control_server_reload_done(&s->control, ok, message);
	daemon_report(&s->report_fd, ok, message);
}

static void hook_status_changed(void *ctx, int ready)
{
	struct supervisor *s = ctx;
	systemd_status(&s->core, ready);
}

/* Our copies of the listeners go first: once the generations close
 * theirs, a new client is refused at once rather than queued where nobody
 * will accept. */
static void hook_stopping(void *ctx)
{
	struct supervisor *s = ctx;
	systemd_stopping();
	if (s->listeners)
		handoff_close_listeners(s->listeners);
	steer_close(&s->adopt.steer);
}

static void hook_log(void *ctx, const char *message)
{
	(void)ctx;
	say("%s", message);
}

/* A daemon's first process exited 0: which of the processes reparented to
 * us is the generation now (follow.c). Those of the other generations are
 * not candidates. */
static pid_t hook_successor(void *ctx, const struct generation *g, pid_t *group)
{
	struct supervisor *s = ctx;
	pid_t avoid[2 * CORE_RECORDS_MAX];
	size_t n = 0;
	for (int i = 0; i < s->core.count; i++) {
		const struct generation *other = &s->core.gens[i];
		if (other != g) {
			avoid[n++] = other->pid;
			avoid[n++] = other->group;
		}
	}
	struct follow_query q = { .generation = g->number, .started_us = g->started_us,
				  .avoid = avoid, .avoid_count = n };
	return follow_successor(&q, group);
}

/* notify_in: a generation's descriptors for the store. */
static void store_descriptors(void *ctx, struct generation *g,
			      const struct fdstore_request *r, int *fds, int count,
			      const char *who)
{
	(void)g;
	struct supervisor *s = ctx;
	fdstore_message(&s->store, r, fds, count, who);
}

/* New clients go to the generation that serves now (steer.h). */
static void hook_serving(void *ctx, unsigned number)
{
	struct supervisor *s = ctx;
	if (adopt_enabled(&s->adopt))
		steer_serving(&s->adopt.steer, number);
}

/* Live connections go from g to the worker serving in its place, if both
 * take them (handover.h): the introduction asks it to drain. If they
 * cannot, g ends its own, on its stop signal. */
static int hook_draining(void *ctx, const struct generation *g,
			 const struct generation *successor)
{
	struct supervisor *s = ctx;
	char why[160], name[48], other[48];
	int r = handover_introduce(&s->handover, g, successor, why, sizeof why);
	core_name(&s->core, g, name, sizeof name);
	if (r > 0)
		say("%s (pid %d) passes its connections to %s (pid %d)", name, (int)g->pid,
		    core_name(&s->core, successor, other, sizeof other), (int)successor->pid);
	else if (r < 0)
		say("%s (pid %d) cannot pass its connections: %s; it ends them itself", name,
		    (int)g->pid, why);
	return r > 0;
}

static int hook_apart(void *ctx, const struct generation *g)
{
	struct supervisor *s = ctx;
	return adopt_enabled(&s->adopt) && steer_apart(&s->adopt.steer, g->number);
}

static int hook_quiet(void *ctx, const struct generation *g)
{
	struct supervisor *s = ctx;
	return adopt_enabled(&s->adopt) ? steer_quiet(&s->adopt.steer, g) : -1;
}

/* `handoff reload --self`: returns only if we are still this image. */
static int hook_self_upgrade(void *ctx, const char *path, int client_fd, char *why,
			     size_t size)
{
	return selfupgrade_request(ctx, path, client_fd, why, size);
}

/* -------------------------------------------------------------- the loop */

static void reap(struct supervisor *s)
{
	int status;
	pid_t pid;
	/* We are a child subreaper: descendants a generation left behind come
	 * to us too, and are reaped here without further ado. */
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		if (!probe_exited(&s->probe, &s->core, pid, status))
			core_exited(&s->core, pid, status);
	handover_prune(&s->handover, &s->core);
}

/* notify_in: a message from a process reparented to us: the exit that
 * made it ours (a daemon's first process) may not be handled yet. */
static void settle_exits(void *ctx)
{
	reap(ctx);
}

/* SIGPWR: `reload --self` for service managers, who can send a signal to
 * the main process but not talk to a socket. No server convention gives
 * it a meaning, and it comes to us only (systemctl kill --kill-whom=main).
 * Refused while a reload starts, as the command is; the outcome is in
 * the log. */
static void signalled_self_upgrade(struct supervisor *s)
{
	char why[600];
	if (s->core.stopping || core_in_state(&s->core, GEN_STARTING)) {
		say("self-upgrade (SIGPWR) refused: %s", s->core.stopping
			    ? "the supervisor is stopping" : "busy: a reload is in progress");
		return;
	}
	selfupgrade_request(s, NULL, -1, why, sizeof why); /* logs a refusal */
}

static void on_signal(struct watch *w, uint32_t events)
{
	(void)events;
	struct supervisor *s = CONTAINER_OF(w, struct supervisor, signal_watch);
	struct signalfd_siginfo info;
	while (ho_read(w->fd, &info, sizeof info) == sizeof info) {
		switch (info.ssi_signo) {
		case SIGHUP:
			core_reload(&s->core);
			break;
		case SIGTERM:
		case SIGINT:
		case SIGQUIT:
			core_stop(&s->core);
			break;
		case SIGUSR1:
			if (s->opt->log) {
				int r = log_reopen(s->opt->log);
				if (r < 0)
					say("cannot reopen --log %s: %s", s->opt->log, strerror(-r));
				else
					say("log reopened");
			}
			break;
		case SIGCHLD:
			reap(s);
			break;
		case SIGPWR:
			signalled_self_upgrade(s);
			break;
		}
	}
}

static void on_notify(struct watch *w, uint32_t events)
{
	(void)events;
	struct supervisor *s = CONTAINER_OF(w, struct supervisor, notify_watch);
	notify_in_receive(&s->notify, &s->core);
}

static int min_timeout(int a, int b)
{
	return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

static void loop(struct supervisor *s)
{
	while (!core_done(&s->core)) {
		struct epoll_event events[16];
		int timeout = min_timeout(core_next_timeout_ms(&s->core),
					  control_server_tick(&s->control));
		timeout = min_timeout(timeout, probe_timeout_ms(&s->probe, &s->core));
		int n = epoll_wait(s->epoll_fd, events, 16, timeout);
		if (n < 0 && errno != EINTR) {
			say("epoll_wait: %s", strerror(errno));
			core_stop(&s->core);
			core_stop(&s->core); /* at once: we can no longer watch */
			break;
		}
		for (int i = 0; i < n; i++) {
			struct watch *w = events[i].data.ptr;
			w->ready(w, events[i].events);
		}
		core_tick(&s->core);
		probe_tick(&s->probe, &s->core);
	}
}

/* --------------------------------------------------------------- set-up */

static int open_listeners(struct supervisor *s, char *why, size_t size)
{
	int r = supervisor_listeners_new(s, why, size);
	if (r < 0)
		return r;
	/* Sockets we bind head a group of their own, steered from the start. */
	s->listeners->listen_grouped = s->opt->adopt != ADOPT_OFF;
	for (int i = 0; i < s->opt->listen_count; i++) {
		const char *spec = s->opt->listen[i];
		char name[HANDOFF_NAME_MAX + 2];
		const char *address = split_listen_spec(spec, name, sizeof name);
		int fd = handoff_listen(s->listeners, name[0] ? name : NULL, address);
		if (fd < 0) {
			snprintf(why, size, "cannot listen on %s: %s", spec, strerror(-fd));
			return fd;
		}
	}
	if (handoff_warning(s->listeners))
		say("%s", handoff_warning(s->listeners));
	r = handoff_ready(s->listeners);
	if (r < 0)
		snprintf(why, size, "cannot take the listeners: %s", strerror(-r));
	return r;
}

static int check_pidfile(const char *path, char *why, size_t size)
{
	pid_t holder;
	int r = ho_pidfile_check(path, &holder);
	if (r == -EBUSY)
		snprintf(why, size, "already running: %s is held by pid %d", path, (int)holder);
	else if (r == -ELOOP)
		snprintf(why, size, "%s is a symbolic link: refusing to follow it", path);
	else if (r < 0)
		snprintf(why, size, "pid file %s: %s", path, strerror(-r));
	return r;
}

static int open_signals(struct supervisor *s, char *why, size_t size)
{
	sigset_t set;
	sigemptyset(&set);
	int handled[] = { SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGCHLD, SIGPWR };
	for (size_t i = 0; i < sizeof handled / sizeof *handled; i++)
		sigaddset(&set, handled[i]);
	signal(SIGPIPE, SIG_IGN);
	int fd = sigprocmask(SIG_BLOCK, &set, NULL) < 0
			 ? -1
			 : signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (fd < 0 || (fd = ho_move_above_stdio(fd)) < 0) {
		int e = fd < -1 ? -fd : errno;
		snprintf(why, size, "cannot watch signals: %s", strerror(e));
		return -e;
	}
	s->signal_watch = (struct watch){ .fd = fd, .ready = on_signal };
	return watch_set(s->epoll_fd, EPOLL_CTL_ADD, &s->signal_watch, EPOLLIN) < 0
		       ? -errno : 0;
}

static int open_loop(struct supervisor *s, char *why, size_t size)
{
	s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epoll_fd < 0 || (s->epoll_fd = ho_move_above_stdio(s->epoll_fd)) < 0) {
		int e = s->epoll_fd < -1 ? -s->epoll_fd : errno;
		s->epoll_fd = -1;
		snprintf(why, size, "cannot create the event loop: %s", strerror(e));
		return -e;
	}
	if (fdstore_open(&s->store, s->opt->fdstore_max, s->epoll_fd) < 0) {
		snprintf(why, size, "cannot make room for --fdstore-max %d: out of memory",
			 s->opt->fdstore_max);
		return -ENOMEM;
	}
	s->launch.store = &s->store;
	s->view.store = &s->store;
	/* Generations' descendants must come back to us to be reaped. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0) {
		int e = errno;
		snprintf(why, size, "cannot become a child subreaper: %s", strerror(e));
		return -e;
	}
	return 0;
}

static int write_pidfile(struct supervisor *s, char *why, size_t size)
{
	if (!s->opt->pidfile)
		return 0;
	s->pidfile_fd = ho_pidfile_write(s->opt->pidfile, getpid());
	if (s->pidfile_fd < 0)
		snprintf(why, size, "cannot write pid file %s: %s", s->opt->pidfile,
			 strerror(-s->pidfile_fd));
	return s->pidfile_fd < 0 ? s->pidfile_fd : 0;
}

static int watch_notify(struct supervisor *s, char *why, size_t size)
{
	s->notify.settle = settle_exits;
	s->notify.settle_ctx = s;
	s->notify.store = store_descriptors;
	s->notify.store_ctx = s;
	s->launch.notify_socket = notify_in_path(&s->notify);
	s->view.notify_socket = notify_in_path(&s->notify);
	s->notify_watch = (struct watch){ .fd = s->notify.socket.fd, .ready = on_notify };
	if (watch_set(s->epoll_fd, EPOLL_CTL_ADD, &s->notify_watch, EPOLLIN) < 0) {
		int e = errno;
		snprintf(why, size, "cannot watch the notify socket: %s", strerror(e));
		return -e;
	}
	return 0;
}

static int open_adapters(struct supervisor *s, char *why, size_t size)
{
	if (s->opt->log) {
		int e = output_open(&s->output, s->epoll_fd);
		if (e < 0) {
			snprintf(why, size, "cannot make a pipe for the servers' output: %s",
				 strerror(-e));
			return e;
		}
		s->launch.output_fd = s->output.write_fd;
		s->probe.output_fd = s->output.write_fd;
	}
	int r = notify_in_open(&s->notify, s->launch.drop_privileges ? s->launch.uid
								     : (uid_t)-1,
			       s->launch.gid, why, size);
	if (r < 0 || (r = watch_notify(s, why, size)) < 0)
		return r;
	char pidfile_control[sizeof s->notify.socket.path];
	const char *paths[2] = { NULL, s->opt->control };
	if (s->opt->pidfile) {
		if (control_path_for_pidfile(pidfile_control, sizeof pidfile_control,
					     s->opt->pidfile) < 0) {
			snprintf(why, size, "--pidfile %s: path too long for the control "
				 "socket beside it", s->opt->pidfile);
			return -ENAMETOOLONG;
		}
		paths[0] = pidfile_control;
	}
	r = control_server_open(&s->control, s->epoll_fd, &s->core, &s->view, paths, why,
				size);
	s->control.self_upgrade = hook_self_upgrade;
	s->control.self_upgrade_ctx = s;
	return r;
}

/* On by default where the kernel allows it; asked for (--adopt, or
 * --ready=listen, which needs it), its absence stops us here. */
static int open_adoption(struct supervisor *s, char *why, size_t size)
{
	const struct options *opt = s->opt;
	if (opt->adopt == ADOPT_OFF)
		return 0;
	int r = adopt_open(&s->adopt, &s->core, s->listeners, opt->ready_on_listen,
			   why, size);
	if (r < 0 && (opt->adopt == ADOPT_ON || opt->ready_on_listen))
		return r;
	if (r < 0)
		say("%s; going on without adoption", why);
	s->launch.adopt = s->view.adoption = adopt_enabled(&s->adopt);
	return 0;
}

/* Everything that can fail, before we detach, so that the person who typed
 * the command sees the reason. */
static int prepare(struct supervisor *s, char *why, size_t size)
{
	const struct options *opt = s->opt;
	int r;
	if ((r = launch_resolve_user(&s->launch, why, size)) < 0 ||
	    (opt->pidfile && (r = check_pidfile(opt->pidfile, why, size)) < 0) ||
	    (r = open_listeners(s, why, size)) < 0 || (r = open_adoption(s, why, size)) < 0)
		return r;
	if (opt->daemon && (r = daemon_detach(opt->log, &s->report_fd, why, size)) < 0)
		return r;
	if (!opt->daemon && opt->log && (r = log_reopen(opt->log)) < 0) {
		snprintf(why, size, "cannot open --log %s: %s", opt->log, strerror(-r));
		return r;
	}
	if ((r = open_loop(s, why, size)) < 0)
		return r;
	adopt_attach(&s->adopt, s->epoll_fd);
	if ((r = write_pidfile(s, why, size)) < 0 ||
	    (r = open_signals(s, why, size)) < 0 || (r = open_adapters(s, why, size)) < 0)
		return r;
	return 0;
}

static void finish(struct supervisor *s);

/* Which binary `reload --self` runs: the file at the path we were started
 * as, as the library's upgrades do (path.c): argv[0] through PATH, made
 * absolute, symlinks not followed, so that a package that replaced the
 * file, or a symlink pointed at a new release, is what runs next. Failing
 * that, /proc/self/exe (the file that runs now). */
static void resolve_self(struct supervisor *s)
{
	char *path = s->opt->program ? ho_resolve_program(s->opt->program) : NULL;
	if (path && strlen(path) < sizeof s->self_path) {
		snprintf(s->self_path, sizeof s->self_path, "%s", path);
	} else {
		ssize_t n = readlink("/proc/self/exe", s->self_path, sizeof s->self_path - 1);
		s->self_path[n > 0 ? n : 0] = '\0';
		if (strstr(s->self_path, " (deleted)"))
			s->self_path[0] = '\0';
	}
	free(path);
}

/* prepare()'s counterpart in an image started by `reload --self`: the
 * same parts, from the state instead of from scratch. Nothing is detached,
 * bound or written: all of it is there already. */
static int restore(struct supervisor *s, const struct self_state *st, char *why,
		   size_t size)
{
	int r;
	if ((r = launch_resolve_user(&s->launch, why, size)) < 0 ||
	    (r = selfupgrade_restore_listeners(s, st, why, size)) < 0 ||
	    (r = open_adoption(s, why, size)) < 0 || (r = open_loop(s, why, size)) < 0)
		return r;
	adopt_attach(&s->adopt, s->epoll_fd);
	if ((r = open_signals(s, why, size)) < 0 ||
	    (r = selfupgrade_restore(s, st, why, size)) < 0 ||
	    (r = watch_notify(s, why, size)) < 0)
		return r;
	s->control.self_upgrade = hook_self_upgrade;
	s->control.self_upgrade_ctx = s;
	return 0;
}

/* Test only (SELFEXEC_TEST_ENV=takeover): a new image that cannot take
 * over, to prove the state goes back to the previous binary. */
static int test_takeover_fault(const char *returned, char *why, size_t size)
{
	const char *fault = getenv(SELFEXEC_TEST_ENV);
	if (returned || !fault || strcmp(fault, "takeover") != 0)
		return 0;
	snprintf(why, size, "refused by the test fault " SELFEXEC_TEST_ENV "=takeover");
	return -EINVAL;
}

static int env_fd(const char *name)
{
	const char *text = getenv(name);
	long fd;
	return text && parse_count(text, 3, INT_MAX, &fd) == 0 ? (int)fd : -1;
}

/* This image was exec'd by `reload --self`: take over from the state, or
 * give it back to the previous binary. Returns the exit status. */
static int run_restored(struct supervisor *s)
{
	static struct self_state st; /* large: not on the stack */
	char why[512], returned[512] = "", answer[768];
	int fd = env_fd(SELFEXEC_STATE_ENV), fallback = env_fd(SELFEXEC_FALLBACK_ENV);
	const char *back = getenv(SELFEXEC_RETURNED_ENV);
	if (back)
		snprintf(returned, sizeof returned, "%s", back);
	/* Not for the generations we start from now on. */
	unsetenv(SELFEXEC_STATE_ENV);
	unsetenv(SELFEXEC_FALLBACK_ENV);
	unsetenv(SELFEXEC_RETURNED_ENV);
	int r = fd < 0 ? -EBADF : selfexec_read(fd, &st, why, sizeof why);
	if (fd < 0)
		snprintf(why, sizeof why, SELFEXEC_STATE_ENV " is not a descriptor number");
	if (r < 0)
		self_state_defaults(&st); /* names nothing: no descriptor of a bad
					     state is touched on the way back */
	if (r == 0 && st.pid != getpid()) {
		snprintf(why, sizeof why, "the state is pid %d's, not ours", (int)st.pid);
		r = -EINVAL;
	}
	if (r == 0)
		r = selfexec_check_fds(&st, why, sizeof why);
	if (r == 0)
		r = test_takeover_fault(returned[0] ? returned : NULL, why, sizeof why);
	if (r == 0)
		r = restore(s, &st, why, sizeof why);
	if (r < 0) {
		say("self-upgrade: handoff %s cannot take over: %s", handoff_version(), why);
		if (!returned[0] && fallback >= 0 && fd >= 0) {
			/* Nothing of the state was changed, or what was is
			 * undone by the exec: the previous binary reads it as
			 * it was written. */
			char reason[600];
			snprintf(reason, sizeof reason, "handoff %s could not take over: %s",
				 handoff_version(), why);
			r = selfexec_give_back(fallback, s->opt->run_argv, fd, &st, reason);
			say("self-upgrade: cannot go back to the previous binary: %s",
			    strerror(-r));
		}
		say("self-upgrade: no image can take over: exiting; the generations get "
		    "their stop signal and drain");
		return 1;
	}
	close(fd);
	/* The previous binary is needed no more: not by us (nobody gives
	 * back to a binary twice), nor by it. */
	if (st.fallback_fd >= 0 && st.fallback_fd != fallback)
		close(st.fallback_fd);
	ho_close(&fallback);
	reap(s); /* exits during the exec: SIGCHLD stays pending, but be sure */
	if (returned[0])
		snprintf(answer, sizeof answer, "error %s; the previous binary runs again "
			 "(handoff %s)\n", returned, handoff_version());
	else
		snprintf(answer, sizeof answer, "ok supervisor upgraded in place: handoff %s "
			 "(was %s), pid %d, %d generation(s) kept\n", handoff_version(),
			 st.version[0] ? st.version : "?", (int)getpid(),
			 core_generation_count(&s->core));
	const char *text = answer + (returned[0] ? 6 : 3); /* past "ok "/"error " */
	say("self-upgrade: %.*s", (int)strcspn(text, "\n"), text);
	if (st.client_fd >= 0)
		control_server_answer_fd(&s->control, st.client_fd, answer);
	systemd_status(&s->core, 1);
	loop(s);
	finish(s);
	say("stopped");
	return s->core.exit_code;
}

static void finish(struct supervisor *s)
{
	output_drain(&s->output, 1);
	output_close(&s->output);
	adopt_close(&s->adopt);
	fdstore_close(&s->store);
	handover_close(&s->handover);
	control_server_close(&s->control);
	notify_in_close(&s->notify);
	handoff_free(s->listeners);
	launch_free(&s->launch);
	if (s->opt->pidfile && s->pidfile_fd >= 0)
		ho_pidfile_remove(s->opt->pidfile, s->pidfile_fd);
	ho_close(&s->pidfile_fd);
	ho_close(&s->signal_watch.fd);
	ho_close(&s->epoll_fd);
}

int supervisor_run(const struct options *opt)
{
	static struct supervisor supervisor; /* large: not on the stack */
	struct supervisor *s = &supervisor;
	*s = (struct supervisor){
		.opt = opt, .epoll_fd = -1, .report_fd = -1, .pidfile_fd = -1,
		.signal_watch.fd = -1, .notify.socket.fd = -1,
		.launch = { .opt = opt }, .probe = { .command = opt->ready_command },
		.view = { .core = &s->core,
			  .started_us = ho_now_us(), .notify_socket = "" },
	};
	const struct core_hooks hooks = {
		.ctx = s, .launch = hook_launch, .start_done = hook_start_done,
		.status_changed = hook_status_changed, .stopping = hook_stopping,
		.log = hook_log, .explain = hook_explain, .successor = hook_successor,
		.serving = hook_serving, .apart = hook_apart, .quiet = hook_quiet,
		.draining = hook_draining,
	};
	core_init(&s->core, &opt->core, &hooks);
	control_server_init(&s->control);
	output_init(&s->output);
	adopt_init(&s->adopt);
	fdstore_init(&s->store);
	handover_init(&s->handover);
	if (opt->check_state_fd >= 0)
		return selfexec_check_main(opt->check_state_fd);
	resolve_self(s);
	if (getenv(SELFEXEC_STATE_ENV))
		return run_restored(s);
	char why[512];
	if (prepare(s, why, sizeof why) < 0) {
		say("%s", why);
		daemon_report(&s->report_fd, 0, why);
		finish(s);
		return 1;
	}
	if (core_start(&s->core) == 0)
		loop(s);
	finish(s);
	say("stopped");
	return s->core.exit_code;
}
