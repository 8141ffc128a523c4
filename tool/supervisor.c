/* supervisor.c — generations come and go beneath a process that stays.
 *
 * The supervisor owns the listening sockets for its whole life, so between
 * generations (and while one restarts after a crash) clients wait in the
 * accept queue instead of being refused. A generation is a process group:
 * it is started with the listeners at fds 3, 4, ..., becomes READY when it
 * says so over sd_notify (or after --ready=delay:), replaces the previous
 * one, which is sent --stop-signal and, past --drain-timeout, SIGKILL. */
#include "tool.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

enum { BACKOFF_MIN_MS = 100, BACKOFF_MAX_MS = 30000 };

const char *state_name(enum generation_state state)
{
	static const char *const names[] = { "starting", "ready", "draining" };
	return names[state];
}

static struct generation *find_state(struct supervisor *s,
				     enum generation_state state)
{
	for (int i = 0; i < s->gen_count; i++)
		if (s->gens[i].state == state)
			return &s->gens[i];
	return NULL;
}

struct generation *serving_generation(struct supervisor *s)
{
	return find_state(s, GEN_READY);
}

struct generation *starting_generation(struct supervisor *s)
{
	return find_state(s, GEN_STARTING);
}

/* ------------------------------------------------------------- starting */

static void free_vars(char **vars)
{
	for (char **v = vars; v && *v; v++)
		free(*v);
	free(vars);
}

/* NAME=VALUE lines; '#' comments and blank lines skipped. Re-read at every
 * start so that a changed file takes effect at the next reload. */
static char **read_env_file(const char *path, char *why, size_t size)
{
	char **vars = calloc(1, sizeof *vars);
	if (!vars)
		snprintf(why, size, "out of memory");
	if (!path || !vars)
		return vars;
	FILE *f = fopen(path, "re");
	if (!f) {
		snprintf(why, size, "cannot read --env-file %s: %s", path, strerror(errno));
		free(vars);
		return NULL;
	}
	char line[4096];
	size_t n = 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0] || line[0] == '#' || !strchr(line, '=') || line[0] == '=')
			continue;
		char **grown = realloc(vars, (n + 2) * sizeof *vars);
		if (!grown || !(grown[n] = strdup(line))) {
			vars = grown ? grown : vars;
			snprintf(why, size, "--env-file %s: out of memory", path);
			fclose(f);
			free_vars(vars);
			return NULL;
		}
		vars = grown;
		vars[++n] = NULL;
	}
	fclose(f);
	return vars;
}

/* The generation's environment: ours, the --env-file's (read now), and
 * NOTIFY_SOCKET naming us, not whatever manager we answer to. */
static char **generation_vars(struct supervisor *s, char *why, size_t size)
{
	char **vars = read_env_file(s->opt->env_file, why, size);
	size_t n = 0;
	while (vars && vars[n])
		n++;
	if (!vars)
		return NULL; /* why says it */
	char **grown = realloc(vars, (n + 2) * sizeof *vars);
	if (!grown || asprintf(&grown[n], "NOTIFY_SOCKET=%s", s->notify_name) < 0) {
		if (grown)
			grown[n] = NULL; /* asprintf leaves it undefined */
		snprintf(why, size, "out of memory");
		free_vars(grown ? grown : vars);
		return NULL;
	}
	grown[n + 1] = NULL;
	return grown;
}

static pid_t spawn_generation(struct supervisor *s, unsigned number, char *why,
			      size_t size)
{
	const struct options *opt = s->opt;
	size_t count;
	const struct handoff_listener *l = ho_listeners(s->listeners, &count);
	char **vars = generation_vars(s, why, size);
	char *path = vars ? ho_resolve_program(opt->command[0]) : NULL;
	int *fds = calloc(count + 1, sizeof *fds);
	struct ho_child_env env;
	pid_t pid = -1;
	if (vars && !path)
		snprintf(why, size, "cannot start %s: %s", opt->command[0], strerror(errno));
	else if (path && (!fds || ho_child_env_build(&env, l, count, -1, number, vars) < 0))
		snprintf(why, size, "cannot start %s: out of memory", path);
	else if (path) {
		for (size_t i = 0; i < count; i++)
			fds[i] = l[i].fd;
		struct ho_spawn sp = {
			.path = path, .argv = opt->command, .envp = env.envp,
			.fds = fds, .fd_count = count, .env = &env,
			.new_process_group = 1, .drop_privileges = s->drop_privileges,
			.uid = s->uid, .gid = s->gid, .directory = opt->directory,
			.umask = opt->umask,
		};
		pid = ho_spawn(&sp);
		if (pid < 0)
			snprintf(why, size, "cannot start %s: %s", path, strerror(-pid));
		ho_child_env_free(&env);
	}
	free(fds);
	free(path);
	free_vars(vars);
	return pid;
}

/* Starts the next generation. Returns 0, or -1 with the reason in why. */
static int start_generation(struct supervisor *s, char *why, size_t size)
{
	if (s->gen_count == MAX_GENERATIONS) {
		snprintf(why, size, "%d generations are still draining", s->gen_count - 1);
		return -1;
	}
	unsigned number = s->next_number;
	int64_t started = now_us(); /* "ready in" counts fork and exec too */
	pid_t pid = spawn_generation(s, number, why, size);
	if (pid < 0)
		return -1;
	s->next_number++;
	int64_t wait_ms = s->opt->ready_delay_ms ? s->opt->ready_delay_ms
						 : s->opt->ready_timeout_ms;
	s->gens[s->gen_count++] = (struct generation){
		.number = number, .pid = pid, .state = GEN_STARTING,
		.started_us = started, .deadline_us = started + wait_ms * 1000,
	};
	say("generation %u started: pid %d", number, (int)pid);
	return 0;
}

/* ------------------------------------------------------ reload outcomes */

static void reload_finished(struct supervisor *s, int ok, const char *message)
{
	snprintf(s->last_reload, sizeof s->last_reload, "%s: %s",
		 ok ? "ok" : "failed", message);
	say("%s", s->last_reload);
	control_reload_done(s, ok, message);
	if (s->report_fd >= 0)
		daemon_report(s, ok, message);
	/* Ends RELOADING=1 either way; the first READY=1 only once serving. */
	systemd_notify_status(s, 1);
}

void generation_ready(struct supervisor *s, struct generation *g)
{
	double took = (double)(now_us() - g->started_us) / 1000.0;
	for (int i = 0; i < s->gen_count; i++) {
		struct generation *old = &s->gens[i];
		if (old == g || old->state != GEN_READY)
			continue;
		old->state = GEN_DRAINING;
		old->deadline_us = now_us() + s->opt->drain_timeout_ms * 1000;
		kill(old->pid, s->opt->stop_signal);
		say("generation %u (pid %d) draining, deadline in %lld ms", old->number,
		    (int)old->pid, (long long)s->opt->drain_timeout_ms);
	}
	g->state = GEN_READY;
	s->ever_ready = 1;
	/* Service is back after a restart: once it has stayed up for
	 * --stable-after (reloads included), the next crash is an isolated one. */
	if (s->backoff_ms && !s->stable_at_us)
		s->stable_at_us = now_us() + s->opt->stable_after_ms * 1000;
	char message[128];
	snprintf(message, sizeof message, "generation %u (pid %d) ready in %.1f ms",
		 g->number, (int)g->pid, took);
	reload_finished(s, 1, message);
}

int reload(struct supervisor *s)
{
	char why[256];
	if (s->stopping) {
		reload_finished(s, 0, "the supervisor is stopping");
		return -1;
	}
	if (starting_generation(s)) {
		/* Not recorded as the last result: that one is still coming. */
		say("reload refused: a reload is already in progress");
		return -EBUSY;
	}
	s->restart_at_us = 0; /* a reload replaces a pending restart */
	char msg[80];
	snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%lld", (long long)now_us());
	handoff_notify(msg);
	if (start_generation(s, why, sizeof why) < 0) {
		reload_finished(s, 0, why);
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------- exits */

static void describe_exit(char *buf, size_t size, const struct generation *g,
			  int status)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "generation %u (pid %d) exited with status %d",
			 g->number, (int)g->pid, WEXITSTATUS(status));
	else
		snprintf(buf, size, "generation %u (pid %d) was killed by signal %d (%s)",
			 g->number, (int)g->pid, WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
}

static void schedule_restart(struct supervisor *s, int status)
{
	int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (s->stopping || s->opt->restart == RESTART_NEVER ||
	    (s->opt->restart == RESTART_ON_FAILURE && clean) || starting_generation(s))
		return;
	/* The delay doubles only while the service keeps failing before it has
	 * been healthy for --stable-after; how old the dead generation was
	 * says nothing (under frequent reloads every generation is young). */
	s->stable_at_us = 0;
	s->backoff_ms = s->backoff_ms ? s->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (s->backoff_ms > BACKOFF_MAX_MS)
		s->backoff_ms = BACKOFF_MAX_MS;
	s->restart_at_us = now_us() + s->backoff_ms * 1000;
	say("restarting in %lld ms; the listeners stay open meanwhile",
	    (long long)s->backoff_ms);
}

static void forget(struct supervisor *s, struct generation *g)
{
	*g = s->gens[--s->gen_count];
}

/* Its main process is gone; what of its process group may live on? A
 * draining generation's helpers may finish their work, until the drain
 * deadline. Anything left of a generation that failed or crashed is killed
 * now: it holds the listening sockets and would answer for no one. */
static void bury(struct supervisor *s, struct generation *g)
{
	int leftovers = kill(-g->pid, 0) == 0;
	if (leftovers && g->state == GEN_DRAINING && !g->killed) {
		g->exited = 1;
		say("generation %u: its other processes may drain until the deadline",
		    g->number);
		return;
	}
	if (leftovers)
		kill(-g->pid, SIGKILL);
	forget(s, g);
}

static void generation_exited(struct supervisor *s, struct generation *g,
			      int status)
{
	char what[192];
	describe_exit(what, sizeof what, g, status);
	struct generation gone = *g;
	bury(s, g);
	switch (gone.state) {
	case GEN_STARTING: {
		char why[256];
		snprintf(why, sizeof why, "%s%s", what,
			 gone.killed ? ": not ready in time, killed" : " before it was ready");
		reload_finished(s, 0, why);
		if (!s->ever_ready && !s->stopping) {
			/* The very first start failed: report it, do not retry. */
			s->exit_code = 1;
			begin_stop(s);
		} else if (!serving_generation(s)) {
			schedule_restart(s, status);
		}
		break;
	}
	case GEN_READY:
		say("%s while serving", what);
		if (!serving_generation(s))
			schedule_restart(s, status);
		systemd_status(s);
		break;
	case GEN_DRAINING:
		say("%s after draining", what);
		systemd_status(s);
		break;
	}
}

static void reap(struct supervisor *s)
{
	int status;
	pid_t pid;
	/* We are a child subreaper: descendants a generation left behind come
	 * to us too, and are reaped here without further ado. */
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (int i = 0; i < s->gen_count; i++)
			if (s->gens[i].pid == pid && !s->gens[i].exited) {
				generation_exited(s, &s->gens[i], status);
				break;
			}
}

/* ------------------------------------------------------------- deadlines */

static void kill_group(struct generation *g)
{
	if (!g->killed) {
		kill(-g->pid, SIGKILL);
		if (!g->exited) /* a reaped pid is not ours to signal */
			kill(g->pid, SIGKILL); /* in case it left its group */
		g->killed = 1;
	}
}

/* Records of exited main processes go once their group is empty, or is
 * killed at the deadline. */
static void sweep_exited(struct supervisor *s, int64_t now)
{
	for (int i = 0; i < s->gen_count; i++) {
		struct generation *g = &s->gens[i];
		if (!g->exited)
			continue;
		if (now >= g->deadline_us && kill(-g->pid, 0) == 0) {
			say("generation %u: killing what is left of its process group "
			    "at the deadline", g->number);
			kill(-g->pid, SIGKILL);
		}
		if (now >= g->deadline_us || kill(-g->pid, 0) < 0)
			forget(s, g--);
	}
}

static void check_deadlines(struct supervisor *s)
{
	int64_t now = now_us();
	sweep_exited(s, now);
	for (int i = 0; i < s->gen_count; i++) {
		struct generation *g = &s->gens[i];
		if (now < g->deadline_us || g->killed)
			continue;
		if (g->state == GEN_STARTING && s->opt->ready_delay_ms) {
			generation_ready(s, g); /* alive after the delay */
		} else if (g->state == GEN_STARTING) {
			say("generation %u (pid %d) not ready within %lld ms: killing it",
			    g->number, (int)g->pid, (long long)s->opt->ready_timeout_ms);
			kill_group(g);
		} else if (g->state == GEN_DRAINING) {
			say("generation %u (pid %d) still draining at the deadline: "
			    "killing its process group", g->number, (int)g->pid);
			kill_group(g);
		}
	}
	if (s->stable_at_us && now >= s->stable_at_us) {
		s->stable_at_us = 0;
		if (serving_generation(s)) {
			s->backoff_ms = 0;
			say("served for %lld ms since the last restart: restart back-off reset",
			    (long long)s->opt->stable_after_ms);
		}
	}
	if (s->restart_at_us && now >= s->restart_at_us) {
		char why[256];
		s->restart_at_us = 0;
		if (start_generation(s, why, sizeof why) < 0) {
			say("restart failed: %s", why);
			s->restart_at_us = now + s->backoff_ms * 1000;
		}
	}
}

static int next_timeout_ms(const struct supervisor *s)
{
	int64_t next = INT64_MAX;
	for (int i = 0; i < s->gen_count; i++)
		if (!s->gens[i].killed && s->gens[i].deadline_us < next &&
		    s->gens[i].state != GEN_READY)
			next = s->gens[i].deadline_us;
	if (s->restart_at_us && s->restart_at_us < next)
		next = s->restart_at_us;
	if (s->stable_at_us && s->stable_at_us < next)
		next = s->stable_at_us;
	if (next == INT64_MAX)
		return -1;
	int64_t ms = (next - now_us() + 999) / 1000;
	return ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
}

/* ------------------------------------------------------------- stopping */

void begin_stop(struct supervisor *s)
{
	if (s->stopping) {
		say("second stop request: killing every generation now");
		s->stopping = 2;
		for (int i = 0; i < s->gen_count; i++)
			kill_group(&s->gens[i]);
		return;
	}
	s->stopping = 1;
	s->restart_at_us = 0;
	handoff_notify("STOPPING=1");
	/* Our copies go first: once the generations close theirs, a new client
	 * is refused at once rather than queued where nobody will accept. */
	handoff_close_listeners(s->listeners);
	say("stopping: %d generation(s) drain for up to %lld ms", s->gen_count,
	    (long long)s->opt->drain_timeout_ms);
	for (int i = 0; i < s->gen_count; i++) {
		struct generation *g = &s->gens[i];
		if (g->state == GEN_STARTING) {
			kill_group(g);
			continue;
		}
		if (g->state == GEN_READY)
			kill(g->pid, s->opt->stop_signal);
		g->state = GEN_DRAINING;
		g->deadline_us = now_us() + s->opt->drain_timeout_ms * 1000;
	}
}

/* ------------------------------------------------------------- the loop */

static void on_signal(struct supervisor *s)
{
	struct signalfd_siginfo info;
	while (ho_read(s->signal_fd, &info, sizeof info) == sizeof info) {
		switch (info.ssi_signo) {
		case SIGHUP:
			reload(s);
			break;
		case SIGTERM:
		case SIGINT:
		case SIGQUIT:
			begin_stop(s);
			break;
		case SIGUSR1:
			if (s->opt->log && reopen_log(s->opt->log) == 0)
				say("log reopened");
			break;
		case SIGCHLD:
			reap(s);
			break;
		}
	}
}

static void dispatch(struct supervisor *s, int fd)
{
	if (fd == s->signal_fd)
		on_signal(s);
	else if (fd == s->notify_fd)
		notify_receive(s);
	else if (fd == s->control_fd || fd == s->control_path_fd)
		control_accept(s, fd);
	else
		control_readable(s, fd);
}

static int open_signals(struct supervisor *s)
{
	sigset_t set;
	sigemptyset(&set);
	int handled[] = { SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR1, SIGCHLD };
	for (size_t i = 0; i < sizeof handled / sizeof *handled; i++)
		sigaddset(&set, handled[i]);
	signal(SIGPIPE, SIG_IGN);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
		return -errno;
	s->signal_fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	return s->signal_fd < 0 ? -errno : 0;
}

int watch(struct supervisor *s, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	return epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void loop(struct supervisor *s)
{
	while (!s->stopping || s->gen_count > 0) {
		struct epoll_event events[16];
		int n = epoll_wait(s->epoll_fd, events, 16, next_timeout_ms(s));
		if (n < 0 && errno != EINTR) {
			say("epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++)
			dispatch(s, events[i].data.fd);
		check_deadlines(s);
		if (!s->stopping && !s->gen_count && !s->restart_at_us) {
			say("no generation left and none to restart: stopping");
			s->exit_code = 1;
			begin_stop(s);
		}
	}
}

/* --------------------------------------------------------------- set-up */

static int resolve_user(struct supervisor *s)
{
	const struct options *opt = s->opt;
	if (!opt->user && !opt->group)
		return 0;
	s->uid = getuid();
	s->gid = getgid();
	if (opt->user) {
		struct passwd *pw = getpwnam(opt->user);
		if (!pw) {
			say("--user %s: no such user", opt->user);
			return -1;
		}
		s->uid = pw->pw_uid;
		s->gid = pw->pw_gid;
	}
	if (opt->group) {
		struct group *gr = getgrnam(opt->group);
		if (!gr) {
			say("--group %s: no such group", opt->group);
			return -1;
		}
		s->gid = gr->gr_gid;
	}
	s->drop_privileges = 1;
	return 0;
}

static int open_listeners(struct supervisor *s)
{
	struct handoff_config config = { .size = sizeof config,
					 .flags = HANDOFF_NO_NOTIFY };
	int r = handoff_new(&s->listeners, &config, 0, NULL);
	if (r < 0) {
		say("cannot initialize: %s", strerror(-r));
		return -1;
	}
	for (int i = 0; i < s->opt->listen_count; i++) {
		const char *spec = s->opt->listen[i];
		char name[HANDOFF_NAME_MAX + 2];
		const char *address = split_listen_spec(spec, name, sizeof name);
		int fd = handoff_listen(s->listeners, name[0] ? name : NULL, address);
		if (fd < 0) {
			say("cannot listen on %s: %s", spec, strerror(-fd));
			return -1;
		}
	}
	if (handoff_warning(s->listeners))
		say("%s", handoff_warning(s->listeners));
	return handoff_ready(s->listeners) < 0 ? -1 : 0;
}

static int check_pidfile(struct supervisor *s)
{
	pid_t holder;
	if (!s->opt->pidfile)
		return 0;
	int r = ho_pidfile_check(s->opt->pidfile, &holder);
	if (r == -EBUSY)
		say("already running: %s is held by pid %d", s->opt->pidfile, (int)holder);
	else if (r == -ELOOP)
		say("%s is a symbolic link: refusing to follow it", s->opt->pidfile);
	else if (r < 0)
		say("pid file %s: %s", s->opt->pidfile, strerror(-r));
	return r < 0 ? -1 : 0;
}

static int write_pidfile(struct supervisor *s)
{
	if (!s->opt->pidfile)
		return 0;
	s->pidfile_fd = ho_pidfile_write(s->opt->pidfile, getpid());
	if (s->pidfile_fd < 0)
		say("cannot write pid file %s: %s", s->opt->pidfile,
		    strerror(-s->pidfile_fd));
	return s->pidfile_fd < 0 ? -1 : 0;
}

/* Everything that can fail, before we detach, so that the person who typed
 * the command sees the reason. */
static int prepare(struct supervisor *s)
{
	if (resolve_user(s) < 0 || check_pidfile(s) < 0 || open_listeners(s) < 0)
		return -1;
	if (s->opt->daemon && daemonize(s) < 0)
		return -1;
	if (!s->opt->daemon && s->opt->log && reopen_log(s->opt->log) < 0) {
		say("cannot open --log %s: %s", s->opt->log, strerror(errno));
		return -1;
	}
	s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (s->epoll_fd < 0 || write_pidfile(s) < 0 || open_signals(s) < 0 ||
	    notify_open(s) < 0 || control_open(s) < 0)
		return -1;
	return watch(s, s->signal_fd) < 0 || watch(s, s->notify_fd) < 0 ? -1 : 0;
}

static void finish(struct supervisor *s)
{
	control_close_all(s);
	handoff_free(s->listeners);
	s->listeners = NULL;
	if (s->opt->pidfile)
		ho_pidfile_remove(s->opt->pidfile, s->pidfile_fd);
	ho_close(&s->pidfile_fd);
	say("stopped");
}

int supervise(struct supervisor *s, const struct options *opt)
{
	*s = (struct supervisor){ .opt = opt, .next_number = 1, .epoll_fd = -1,
				  .signal_fd = -1, .notify_fd = -1, .control_fd = -1,
				  .control_path_fd = -1, .report_fd = -1,
				  .pidfile_fd = -1, .started_us = now_us() };
	for (int i = 0; i < MAX_CLIENTS; i++)
		s->clients[i].fd = -1;
	char why[256];
	if (prepare(s) < 0) {
		daemon_report(s, 0, last_said);
		return 1;
	}
	if (start_generation(s, why, sizeof why) < 0) {
		reload_finished(s, 0, why);
		finish(s);
		return 1;
	}
	loop(s);
	finish(s);
	return s->exit_code;
}
