/* probe.c — running the --ready=exec: command while a generation starts. */
#include "probe.h"
#include "internal.h"
#include "log.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

extern char **environ;

enum { RETRY_MS = 100 };

/* environ with HANDOFF_GENERATION and HANDOFF_PID of g in front. */
static char **probe_environment(const struct generation *g, char *generation,
				size_t gsize, char *pid, size_t psize)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **envp = calloc(n + 3, sizeof *envp);
	if (!envp)
		return NULL;
	snprintf(generation, gsize, "HANDOFF_GENERATION=%u", g->number);
	snprintf(pid, psize, "HANDOFF_PID=%d", (int)g->pid);
	envp[0] = generation;
	envp[1] = pid;
	size_t k = 2;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "HANDOFF_GENERATION=", 19) &&
		    strncmp(environ[i], "HANDOFF_PID=", 12))
			envp[k++] = environ[i];
	envp[k] = NULL;
	return envp;
}

static void run(struct probe *p, const struct generation *g)
{
	char generation[48], pid[48];
	char **envp = probe_environment(g, generation, sizeof generation, pid, sizeof pid);
	char *argv[] = { "sh", "-c", (char *)p->command, NULL };
	struct ho_spawn sp = { .path = "/bin/sh", .argv = argv, .envp = envp,
			       .output_fd = p->output_fd,
			       .parent_death_signal = SIGKILL };
	pid_t r = envp ? ho_spawn(&sp) : -ENOMEM;
	free(envp);
	if (p->number != g->number)
		p->runs = 0;
	p->number = g->number;
	p->runs++;
	if (r < 0) {
		if (log_allowed(&p->spawn_failures, 1, 10000))
			say("--ready=exec: cannot run /bin/sh: %s: %s", sp.failed_step,
			    strerror((int)-r));
		p->next_us = ho_now_us() + RETRY_MS * 1000;
		return;
	}
	p->pid = r;
}

void probe_tick(struct probe *p, struct core *c)
{
	if (!p->command)
		return;
	struct generation *g = core_in_state(c, GEN_STARTING);
	if (p->pid) {
		if (!g || g->number != p->number)
			kill(p->pid, SIGKILL); /* reaped through probe_exited */
		return;
	}
	if (g && !c->stopping && ho_now_us() >= p->next_us)
		run(p, g);
}

int probe_exited(struct probe *p, struct core *c, pid_t pid, int status)
{
	if (!p->pid || pid != p->pid)
		return 0;
	p->pid = 0;
	struct generation *g = core_in_state(c, GEN_STARTING);
	if (g && g->number == p->number && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		say("generation %u: --ready=exec: command exited 0 (run %d): ready",
		    g->number, p->runs);
		core_generation_ready(c, g->number); /* it answers: all its workers do */
		return 1;
	}
	p->last_status = status;
	p->next_us = ho_now_us() + RETRY_MS * 1000;
	return 1;
}

int probe_timeout_ms(const struct probe *p, struct core *c)
{
	if (!p->command || p->pid || !core_in_state(c, GEN_STARTING))
		return -1;
	int64_t ms = (p->next_us - ho_now_us() + 999) / 1000;
	return ms < 0 ? 0 : ms > RETRY_MS ? RETRY_MS : (int)ms;
}

void probe_describe(const struct probe *p, unsigned number, char *buf, size_t size)
{
	buf[0] = '\0';
	if (!p->command || p->number != number || !p->runs)
		return;
	int s = p->last_status;
	if (WIFEXITED(s))
		snprintf(buf, size, "--ready=exec: ran %d time(s), last exit status %d",
			 p->runs, WEXITSTATUS(s));
	else
		snprintf(buf, size, "--ready=exec: ran %d time(s), last killed by signal %d",
			 p->runs, WTERMSIG(s));
}
