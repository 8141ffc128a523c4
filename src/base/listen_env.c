/* listen_env.c — the protocol between generations, outgoing side: the
 * environment a child starts with (systemd's LISTEN_FDS, LISTEN_PID,
 * LISTEN_FDNAMES plus HANDOFF_FD and HANDOFF_GENERATION), and what a valid
 * listener name is. Shared by the library (its successor) and the
 * supervisor (its generations); the incoming side is src/environ.c. */
#include "base.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static const char *const protocol_variables[] = {
	"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES",
	"HANDOFF_FD", "HANDOFF_GENERATION", "HANDOFF_SUPERVISOR", "HANDOFF_CHANNEL_FD",
};
enum { VARIABLE_COUNT = sizeof protocol_variables / sizeof protocol_variables[0] };

unsigned ho_next_generation(unsigned g)
{
	return g >= UINT32_MAX - 1 ? 1 : g + 1;
}

/* An entry of LISTEN_FDNAMES: systemd's rules, and no ':' (the separator). */
int ho_name_valid(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > HANDOFF_NAME_MAX)
		return 0;
	for (const char *p = name; *p; p++)
		if (*p == ':' || *p <= ' ' || *p > '~')
			return 0;
	return 1;
}

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

/* vasprintf into *slot, which is NULL on failure: vasprintf leaves it
 * undefined then, and the cleanup frees every slot up to the failed one. */
__attribute__((format(printf, 2, 3)))
static int format_entry(char **slot, const char *format, ...)
{
	char *text;
	va_list ap;
	va_start(ap, format);
	int n = vasprintf(&text, format, ap);
	va_end(ap);
	*slot = n < 0 ? NULL : text;
	return n < 0 ? -1 : 0;
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
	if (format_entry(out++, "LISTEN_FDS=%zu", count) < 0 ||
	    format_entry(out++, "HANDOFF_GENERATION=%u", generation) < 0 ||
	    !(*out++ = listen_fdnames(listeners, count)) ||
	    (control_fd >= 0 && format_entry(out++, "HANDOFF_FD=%d", control_fd) < 0))
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
