/* launch.c — one generation, from the command line to a running process. */
#include "launch.h"
#include "adopt_filter.h"
#include "envfile.h"
#include "fdstore.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The user's supplementary groups, as su and systemd's User= give them
 * (initgroups), with the primary group gid (--group replaces only that). */
static int user_groups(struct launch *l, const char *user, char *why, size_t size)
{
	int n = 16;
	for (int attempt = 0; attempt < 8; attempt++) {
		gid_t *groups = realloc(l->groups, (size_t)n * sizeof *groups);
		if (!groups)
			break;
		l->groups = groups;
		int want = n;
		if (getgrouplist(user, l->gid, groups, &want) >= 0) {
			l->group_count = want;
			return 0;
		}
		n = want > n ? want : n * 2; /* it says how many there are */
	}
	snprintf(why, size, "--user %s: cannot list its groups", user);
	return -ENOMEM;
}

int launch_resolve_user(struct launch *l, char *why, size_t size)
{
	const struct options *opt = l->opt;
	if (!opt->user && !opt->group)
		return 0;
	l->uid = getuid();
	l->gid = getgid();
	if (opt->user) {
		errno = 0;
		struct passwd *pw = getpwnam(opt->user);
		if (!pw) {
			snprintf(why, size, "--user %s: %s", opt->user,
				 errno ? strerror(errno) : "no such user");
			return errno ? -errno : -ENOENT;
		}
		l->uid = pw->pw_uid;
		l->gid = pw->pw_gid;
	}
	if (opt->group) {
		errno = 0;
		struct group *gr = getgrnam(opt->group);
		if (!gr) {
			snprintf(why, size, "--group %s: %s", opt->group,
				 errno ? strerror(errno) : "no such group");
			return errno ? -errno : -ENOENT;
		}
		l->gid = gr->gr_gid;
	}
	l->drop_privileges = 1;
	return opt->user ? user_groups(l, opt->user, why, size) : 0;
}

void launch_free(struct launch *l)
{
	free(l->groups);
	l->groups = NULL;
	l->group_count = 0;
}

/* v[n] = the formatted text, v[n + 1] = NULL (v has the room); -1 when
 * out of memory. */
__attribute__((format(printf, 3, 4))) static int append_var(char **v, size_t *n,
							    const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int r = vasprintf(&v[*n], fmt, ap); /* v[*n] undefined on failure */
	va_end(ap);
	if (r < 0) {
		v[*n] = NULL;
		return -1;
	}
	v[++*n] = NULL;
	return 0;
}

/* The --env-file's variables (read now), NOTIFY_SOCKET naming us, not
 * whatever manager we answer to, and which worker it is. */
static int generation_vars(const struct launch *l, int worker, int channel_at,
			   char ***vars, char *why, size_t size)
{
	char **v = NULL;
	size_t n = 0;
	if (l->opt->env_file) {
		int r = envfile_read(l->opt->env_file, &v, why, size);
		if (r < 0)
			return r;
	} else if (!(v = calloc(1, sizeof *v))) {
		snprintf(why, size, "out of memory");
		return -ENOMEM;
	}
	while (v[n])
		n++;
	/* Room for ours; the list stays NULL-terminated, so that
	 * envfile_free() frees whatever was added if one fails. */
	char **grown = realloc(v, (n + 6) * sizeof *v);
	if (grown)
		v = grown;
	/* HANDOFF_SUPERVISOR=1: a libhandoff server asks us to reload when
	 * sent SIGHUP, instead of starting a successor of its own.
	 * HANDOFF_WORKER and HANDOFF_WORKERS: with --workers, which share of
	 * the work is this process's (0 and 1 without). HANDOFF_CHANNEL_FD:
	 * our channel to it (handover.h). */
	if (!grown || append_var(v, &n, "NOTIFY_SOCKET=%s", l->notify_socket) < 0 ||
	    append_var(v, &n, "HANDOFF_SUPERVISOR=1") < 0 ||
	    (channel_at >= 0 && append_var(v, &n, "HANDOFF_CHANNEL_FD=%d", channel_at) < 0) ||
	    append_var(v, &n, "HANDOFF_WORKER=%d", worker) < 0 ||
	    append_var(v, &n, "HANDOFF_WORKERS=%d", l->opt->core.workers) < 0) {
		envfile_free(v);
		snprintf(why, size, "out of memory");
		return -ENOMEM;
	}
	*vars = v;
	return 0;
}

/* Which step failed says what to fix: the directory, the user, or the
 * program. */
static void describe_failure(char *why, size_t size, const struct launch *l,
			     const char *path, const char *step, int error)
{
	const struct options *opt = l->opt;
	if (strcmp(step, "exec") == 0)
		snprintf(why, size, "cannot start %s: %s", path, strerror(error));
	else if (strcmp(step, "chdir") == 0)
		snprintf(why, size, "cannot start %s: --chdir %s: %s", path,
			 opt->directory, strerror(error));
	else if (!strcmp(step, "setgroups") || !strcmp(step, "setgid") ||
		 !strcmp(step, "setuid"))
		snprintf(why, size, "cannot start %s as %s %s: %s: %s", path,
			 opt->user ? "--user" : "--group", opt->user ? opt->user : opt->group,
			 step, strerror(error));
	else
		snprintf(why, size, "cannot start %s: %s: %s", path, step, strerror(error));
}

/* The spawn, with the filter's descriptor coming back over a socketpair
 * when the generation's binds are adopted. */
static pid_t spawn_generation(const struct launch *l, struct ho_spawn *sp,
			      int channel, int *filter_fd)
{
	int pair[2];
	*filter_fd = -1;
	if (!l->adopt) {
		pid_t pid = ho_spawn(sp);
		ho_close(&channel);
		return pid;
	}
	sp->failed_step = "create a socketpair";
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, pair) < 0) {
		int e = errno;
		ho_close(&channel);
		return -e;
	}
	sp->child_setup = adopt_filter_install;
	sp->child_setup_arg = &pair[1];
	sp->child_setup_step = "install the seccomp filter that adopts its binds";
	pid_t pid = ho_spawn(sp);
	close(pair[1]);
	ho_close(&channel); /* before the filter's descriptor moves down */
	if (pid > 0 && (*filter_fd = adopt_filter_receive(pair[0])) < 0) {
		/* It runs, but its binds would wait for an answer for ever. */
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		ho_waitpid(pid, NULL, 0);
		sp->failed_step = "receive the seccomp filter's descriptor";
		pid = *filter_fd;
		*filter_fd = -1;
	}
	close(pair[0]);
	/* Into the lowest free number: the pair's two are free again, and a
	 * compact table is what a descriptor limit counts. */
	int low = *filter_fd >= 0 ? fcntl(*filter_fd, F_DUPFD_CLOEXEC, 0) : -1;
	if (low >= 0 && low < *filter_fd) {
		close(*filter_fd);
		*filter_fd = low;
	} else if (low >= 0) {
		close(low);
	}
	return pid;
}

/* The listeners, then the stored descriptors with their names: what goes
 * to fds 3... and LISTEN_FDNAMES. malloc'd; NULL when out of memory. */
static struct handoff_listener *passed_descriptors(const struct launch *l,
						   const struct handoff_listener *held,
						   size_t *count)
{
	size_t n = *count, stored = l->store ? (size_t)l->store->count : 0;
	struct handoff_listener *all = calloc(n + stored + 1, sizeof *all);
	if (!all)
		return NULL;
	memcpy(all, held, n * sizeof *all);
	for (int i = 0; l->store && i < l->store->max; i++) {
		const struct fdstore_entry *e = fdstore_at(l->store, i);
		if (!e)
			continue;
		all[n].fd = e->watch.fd;
		snprintf(all[n].name, sizeof all[n].name, "%s", e->name);
		n++;
	}
	*count = n;
	return all;
}

pid_t launch_generation(const struct launch *l, unsigned number, int worker,
			int channel, int *filter_fd, char *why, size_t size)
{
	const struct options *opt = l->opt;
	size_t count;
	const struct handoff_listener *held = ho_listeners(l->listeners, &count);
	struct handoff_listener *ls = passed_descriptors(l, held, &count);
	char **vars = NULL, *path = NULL;
	*filter_fd = -1;
	int *fds = NULL;
	if (!ls) {
		snprintf(why, size, "cannot start %s: out of memory", opt->command[0]);
		ho_close(&channel);
		return -ENOMEM;
	}
	struct ho_child_env env;
	int channel_at = channel >= 0 ? HO_LISTEN_FDS_START + (int)count : -1;
	pid_t pid = generation_vars(l, worker, channel_at, &vars, why, size);
	if (pid < 0) {
		free(ls);
		ho_close(&channel);
		return pid;
	}
	if (!(path = ho_resolve_program(opt->command[0]))) {
		pid = -errno;
		snprintf(why, size, "cannot start %s: %s", opt->command[0], strerror(errno));
	} else if (!(fds = calloc(count + 1, sizeof *fds)) ||
		   ho_child_env_build(&env, ls, count, -1, number, vars) < 0) {
		pid = -ENOMEM;
		snprintf(why, size, "cannot start %s: out of memory", path);
	} else {
		for (size_t i = 0; i < count; i++)
			fds[i] = ls[i].fd;
		if (channel >= 0)
			fds[count] = channel;
		struct ho_spawn sp = {
			.path = path, .argv = opt->command, .envp = env.envp,
			.fds = fds, .fd_count = count + (channel >= 0), .env = &env,
			.new_process_group = 1, .drop_privileges = l->drop_privileges,
			.uid = l->uid, .gid = l->gid, .groups = l->groups,
			.group_count = (size_t)l->group_count, .directory = opt->directory,
			.umask = opt->umask, .output_fd = l->output_fd,
			/* If we are killed, the generations drain and go: nothing
			 * else would ever stop them, and they hold the ports. */
			.parent_death_signal = opt->core.stop_signal,
		};
		pid = spawn_generation(l, &sp, channel, filter_fd);
		channel = -1;
		if (pid < 0)
			describe_failure(why, size, l, path, sp.failed_step, (int)-pid);
		ho_child_env_free(&env);
	}
	free(fds);
	free(ls);
	free(path);
	envfile_free(vars);
	ho_close(&channel);
	return pid;
}
