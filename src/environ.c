/* environ.c — the protocol between generations: systemd's LISTEN_FDS,
 * LISTEN_PID, LISTEN_FDNAMES plus our HANDOFF_FD and HANDOFF_GENERATION.
 *
 * Reading is forgiving in the way sd_listen_fds(3) is: anything not meant
 * for this process, or malformed, means "nothing inherited", never a crash
 * and never a wrong descriptor adopted. The variables are removed once read
 * so that our own children do not mistake fd 3 for a socket. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

struct raw_environ {
	char *listen_pid, *listen_fds, *listen_fdnames;
	char *handoff_fd, *handoff_generation;
};

static const char *const protocol_variables[] = {
	"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES",
	"HANDOFF_FD", "HANDOFF_GENERATION",
};
enum { VARIABLE_COUNT = 5 };

static char *take(const char *name, int *oom)
{
	const char *value = getenv(name);
	char *copy = value ? strdup(value) : NULL;
	if (value && !copy)
		*oom = 1;
	unsetenv(name);
	return copy;
}

static void raw_free(struct raw_environ *raw)
{
	free(raw->listen_pid);
	free(raw->listen_fds);
	free(raw->listen_fdnames);
	free(raw->handoff_fd);
	free(raw->handoff_generation);
}

/* Counts the ':'-separated entries of names and checks each. */
static int names_valid(const char *names, size_t expected)
{
	size_t count = 1, length = 0;
	for (const char *p = names; *p; p++) {
		if (*p == ':') {
			count++;
			length = 0;
		} else if (++length > HANDOFF_NAME_MAX || *p < ' ' || *p > '~') {
			return 0;
		}
	}
	return count == expected;
}

static void warn(char *warning, size_t size, const char *what,
		 const char *value, const char *why)
{
	if (warning && !warning[0])
		snprintf(warning, size, "ignored %s=%.40s: %s", what,
			 value ? value : "", why);
}

/* The descriptors must exist; non-sockets stay untouched but are never
 * adopted (handoff_listen checks each one it considers). */
static int fds_open(size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (fcntl(HO_LISTEN_FDS_START + (int)i, F_GETFD) < 0)
			return 0;
	return 1;
}

/* Returns 1 if the variables were meant for us and are sound. */
static int take_listen_fds(struct ho_inherited *in, struct raw_environ *raw,
			   char *warning, size_t size)
{
	unsigned long pid, count;
	if (ho_parse_uint(raw->listen_pid, (unsigned long)INT32_MAX, &pid) < 0) {
		warn(warning, size, "LISTEN_PID", raw->listen_pid, "not a pid");
		return 0;
	}
	if ((pid_t)pid != getpid())
		return 0; /* meant for another process: not an error */
	if (ho_parse_uint(raw->listen_fds, HO_LISTEN_FDS_MAX, &count) < 0) {
		warn(warning, size, "LISTEN_FDS", raw->listen_fds,
		     "not a number in range");
		return 0;
	}
	if (!fds_open(count)) {
		warn(warning, size, "LISTEN_FDS", raw->listen_fds,
		     "descriptors are not open");
		return 0;
	}
	in->count = count;
	if (raw->listen_fdnames && names_valid(raw->listen_fdnames, count)) {
		in->names = raw->listen_fdnames;
		raw->listen_fdnames = NULL;
	} else if (raw->listen_fdnames) {
		warn(warning, size, "LISTEN_FDNAMES", raw->listen_fdnames,
		     "count or characters do not match LISTEN_FDS");
	}
	return 1;
}

/* HANDOFF_GENERATION may come from a supervisor too; HANDOFF_FD only from
 * a handoff parent, and must lie past the listeners. */
static void take_handoff(struct ho_inherited *in, struct raw_environ *raw,
			 char *warning, size_t size)
{
	unsigned long fd, generation;
	if (raw->handoff_generation &&
	    (ho_parse_uint(raw->handoff_generation, UINT32_MAX - 1, &generation) < 0 ||
	     generation < 1)) {
		warn(warning, size, "HANDOFF_GENERATION", raw->handoff_generation,
		     "not a generation number");
		return;
	}
	if (raw->handoff_fd &&
	    (ho_parse_uint(raw->handoff_fd, INT32_MAX, &fd) < 0 ||
	     fd < HO_LISTEN_FDS_START + in->count ||
	     ho_set_cloexec((int)fd, 1) < 0)) {
		warn(warning, size, "HANDOFF_FD", raw->handoff_fd, "bad descriptor");
		return;
	}
	if (raw->handoff_generation)
		in->generation = (unsigned)generation;
	if (raw->handoff_fd)
		in->parent_fd = (int)fd;
}

/* Fills *in from the environment and removes the variables from it.
 * warning (may be NULL) receives the first reason something was ignored.
 * Returns 0 or -ENOMEM. */
int ho_environ_take(struct ho_inherited *in, char *warning, size_t size)
{
	*in = (struct ho_inherited){ .parent_fd = -1, .generation = 1 };
	int oom = 0;
	struct raw_environ raw = {
		.listen_pid = take("LISTEN_PID", &oom),
		.listen_fds = take("LISTEN_FDS", &oom),
		.listen_fdnames = take("LISTEN_FDNAMES", &oom),
		.handoff_fd = take("HANDOFF_FD", &oom),
		.handoff_generation = take("HANDOFF_GENERATION", &oom),
	};
	/* HANDOFF_FD is only believed together with a LISTEN_PID naming us. */
	if (!oom && (raw.listen_pid || raw.listen_fds) &&
	    take_listen_fds(in, &raw, warning, size))
		take_handoff(in, &raw, warning, size);
	for (size_t i = 0; i < in->count; i++)
		ho_set_cloexec(HO_LISTEN_FDS_START + (int)i, 1);
	raw_free(&raw);
	return oom ? -ENOMEM : 0;
}

/* ------------------------------------------------------------ outgoing */

static int same_name(const char *entry, const char *name_eq_value)
{
	size_t n = strcspn(name_eq_value, "=");
	return strncmp(entry, name_eq_value, n) == 0 && entry[n] == '=';
}

/* Dropped from the inherited environment: stale protocol variables, and
 * whatever the caller replaces. */
static int is_replaced(const char *entry, char *const *extra)
{
	for (int i = 0; i < VARIABLE_COUNT; i++) {
		size_t n = strlen(protocol_variables[i]);
		if (strncmp(entry, protocol_variables[i], n) == 0 && entry[n] == '=')
			return 1;
	}
	for (char *const *e = extra; e && *e; e++)
		if (same_name(entry, *e))
			return 1;
	return 0;
}

static char *listen_fdnames(const struct handoff_listener *listeners,
			    size_t count)
{
	size_t size = sizeof "LISTEN_FDNAMES=";
	for (size_t i = 0; i < count; i++)
		size += (listeners[i].name[0] ? strlen(listeners[i].name)
					      : strlen("unknown")) + 1;
	char *s = malloc(size), *p = s;
	if (!s)
		return NULL;
	p = stpcpy(p, "LISTEN_FDNAMES=");
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			*p++ = ':';
		p = stpcpy(p, listeners[i].name[0] ? listeners[i].name : "unknown");
	}
	return s;
}

/* Builds the successor's environment: ours minus stale protocol variables,
 * plus the new ones. LISTEN_PID is left blank: only the child knows its pid,
 * and it fills it in with ho_child_env_set_pid() before exec. The strings we
 * allocate come first in envp; ho_child_env_free() frees exactly those. */
int ho_child_env_build(struct ho_child_env *env,
		       const struct handoff_listener *listeners, size_t count,
		       int control_fd, unsigned generation, char *const *extra)
{
	size_t n = 0, n_extra = 0;
	while (environ[n])
		n++;
	while (extra && extra[n_extra])
		n_extra++;
	*env = (struct ho_child_env){ 0 };
	env->envp = calloc(n + n_extra + VARIABLE_COUNT + 1, sizeof *env->envp);
	env->listen_pid_size = sizeof "LISTEN_PID=" + 20;
	env->listen_pid = calloc(1, env->listen_pid_size);
	char **out = env->envp;
	if (!env->envp || !env->listen_pid)
		goto fail;
	strcpy(env->listen_pid, "LISTEN_PID=");
	*out++ = env->listen_pid;
	if (asprintf(out++, "LISTEN_FDS=%zu", count) < 0 ||
	    asprintf(out++, "HANDOFF_GENERATION=%u", generation) < 0 ||
	    !(*out++ = listen_fdnames(listeners, count)) ||
	    (control_fd >= 0 && asprintf(out++, "HANDOFF_FD=%d", control_fd) < 0))
		goto fail;
	env->owned = (size_t)(out - env->envp);
	for (size_t i = 0; i < n_extra; i++)
		*out++ = extra[i];
	for (size_t i = 0; i < n; i++)
		if (!is_replaced(environ[i], extra))
			*out++ = environ[i];
	*out = NULL;
	return 0;
fail:
	if (env->envp)
		env->owned = (size_t)(out - env->envp);
	ho_child_env_free(env);
	return -ENOMEM;
}

/* Async-signal-safe: runs in the child between fork and exec. */
void ho_child_env_set_pid(struct ho_child_env *env, pid_t pid)
{
	char digits[24];
	char *end = digits + sizeof digits;
	char *p = ho_format_uint(end, (unsigned long)pid);
	char *dst = env->listen_pid + sizeof "LISTEN_PID=" - 1;
	while (p < end)
		*dst++ = *p++;
	*dst = '\0';
}

void ho_child_env_free(struct ho_child_env *env)
{
	for (size_t i = 0; env->envp && i < env->owned; i++)
		free(env->envp[i]);
	if (!env->envp)
		free(env->listen_pid);
	free(env->envp);
	*env = (struct ho_child_env){ 0 };
}
