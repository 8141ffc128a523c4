/* follow.c — which process a daemonizing generation left running. */
#include "follow.h"
#include "internal.h"
#include "proc.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { ENVIRON_MAX = 1 << 20 }; /* read at most: ARG_MAX's order */

enum mark { MARK_OTHER, MARK_OURS, MARK_OVERWRITTEN };

/* An entry NAME=VALUE with a name as a shell would accept it. */
static int is_variable(const char *entry)
{
	if (!isalpha((unsigned char)*entry) && *entry != '_')
		return 0;
	while (isalnum((unsigned char)*entry) || *entry == '_')
		entry++;
	return *entry == '=';
}

struct env_scan {
	const char *marker;
	int ours, variables;
	int skipping;          /* inside an entry longer than the buffer */
};

/* Judges the complete entries in buf[0, have) and returns how many bytes
 * they took: the rest is the beginning of an entry still to come. */
static size_t scan_entries(struct env_scan *e, const char *buf, size_t have)
{
	size_t start = 0;
	for (const char *nul; (nul = memchr(buf + start, '\0', have - start));
	     start = (size_t)(nul - buf) + 1) {
		if (!e->skipping) {
			e->ours |= strcmp(buf + start, e->marker) == 0;
			e->variables += is_variable(buf + start);
		}
		e->skipping = 0;
	}
	return start;
}

/* What the environment block pid was started with says: /proc/PID/environ
 * shows that memory as it is now, so a daemon that forked still shows its
 * parent's variables, whatever setenv()/unsetenv() did since. Read in
 * pieces: a buffer as large as an environment may be would grow our own
 * address space for good (a --user's RLIMIT_AS is measured against it). */
static enum mark environment_mark(pid_t pid, const char *marker)
{
	char buf[4096];
	int fd = proc_open(pid, "environ");
	if (fd < 0)
		return MARK_OTHER;
	struct env_scan e = { .marker = marker };
	size_t have = 0, total = 0;
	ssize_t n;
	while (!e.ours && total < ENVIRON_MAX &&
	       (n = ho_read(fd, buf + have, sizeof buf - 1 - have)) > 0) {
		total += (size_t)n;
		have += (size_t)n;
		size_t used = scan_entries(&e, buf, have);
		if (used == 0 && have == sizeof buf - 1) {
			/* One entry longer than the buffer: judged by its start. */
			buf[have] = '\0';
			e.variables += !e.skipping && is_variable(buf);
			e.skipping = 1;
			used = have;
		}
		memmove(buf, buf + used, have - used);
		have -= used;
	}
	close(fd);
	if (have && !e.ours) { /* the last entry, cut or without its NUL */
		buf[have] = '\0';
		scan_entries(&e, buf, have + 1);
	}
	if (e.ours)
		return MARK_OURS;
	/* A process in the middle of execve() shows an empty block for a
	 * moment: empty is not overwritten. */
	return e.variables || total == 0 ? MARK_OTHER : MARK_OVERWRITTEN;
}

/* The generation's launch, on /proc's clock (ticks since boot, suspend
 * included), less a tick: /proc rounds start times down. */
static unsigned long long started_ticks(int64_t started_us)
{
	struct timespec boot;
	clock_gettime(CLOCK_BOOTTIME, &boot);
	long hz = sysconf(_SC_CLK_TCK);
	int64_t ago_us = ho_now_us() - started_us;
	int64_t boot_us = (int64_t)boot.tv_sec * 1000000 + boot.tv_nsec / 1000;
	int64_t at = (boot_us - ago_us) * hz / 1000000 - 1;
	return at > 0 ? (unsigned long long)at : 0;
}

static int avoided(const struct follow_query *q, const struct proc_stat *st,
		   pid_t pid)
{
	for (size_t i = 0; i < q->avoid_count; i++)
		if (q->avoid[i] == pid || q->avoid[i] == st->group)
			return 1;
	return 0;
}

struct choice {
	pid_t pid, group;
	unsigned long long start_ticks;
};

static void consider(struct choice *c, pid_t pid, const struct proc_stat *st)
{
	if (!c->pid || st->start_ticks < c->start_ticks)
		*c = (struct choice){ pid, st->group, st->start_ticks };
}

pid_t follow_successor(const struct follow_query *q, pid_t *group)
{
	char marker[40];
	snprintf(marker, sizeof marker, "HANDOFF_GENERATION=%u", q->generation);
	unsigned long long not_before = started_ticks(q->started_us);
	struct choice marked = { 0 }, overwritten = { 0 }, exiting = { 0 };
	pid_t self = getpid();
	DIR *d = opendir("/proc");
	for (struct dirent *e; d && (e = readdir(d));) {
		unsigned long n;
		struct proc_stat st;
		if (ho_parse_uint(e->d_name, INT32_MAX, &n) < 0)
			continue;
		pid_t pid = (pid_t)n;
		/* Zombies have exited: what they left is ours already. */
		if (proc_stat(pid, &st) < 0 || st.ppid != self || st.state == 'Z' ||
		    st.state == 'X' || avoided(q, &st, pid))
			continue;
		enum mark m = environment_mark(pid, marker);
		if (m == MARK_OURS)
			consider(&marked, pid, &st);
		else if (m == MARK_OVERWRITTEN && st.start_ticks >= not_before)
			consider(&overwritten, pid, &st);
		else if ((st.flags & PROC_EXITING) && st.start_ticks >= not_before)
			consider(&exiting, pid, &st);
	}
	if (d)
		closedir(d);
	const struct choice *c = marked.pid ? &marked : overwritten.pid ? &overwritten
								       : &exiting;
	*group = c->group;
	return c->pid;
}

int follow_marked(pid_t pid, unsigned generation)
{
	char marker[40];
	snprintf(marker, sizeof marker, "HANDOFF_GENERATION=%u", generation);
	return environment_mark(pid, marker) == MARK_OURS;
}
