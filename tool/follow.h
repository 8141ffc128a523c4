/* follow.h — a generation's process exited 0 and left another running: a
 * server that daemonizes (fork, setsid, perhaps fork again, and the first
 * process exits). We are a child subreaper, so what it left is reparented
 * to us; this finds which of our children is the generation now.
 *
 * A candidate is a live child of ours that is no other generation's
 * process, nor in another generation's process group, and either
 *   - carries the generation's marker in its environment as it was
 *     started (HANDOFF_GENERATION=<number>, which a forked child inherits
 *     with the rest of the environment block), or
 *   - has overwritten its environment block with no NAME=VALUE entry left
 *     (nginx writes its process title over it) and started no earlier than
 *     the generation.
 * Marked candidates win over overwritten ones; among several, the one
 * started first (field 22 of /proc/PID/stat): the daemon before what it
 * started in turn.
 *
 * Failing both, a child of ours that started no earlier than the
 * generation and is exiting (PF_EXITING) is followed: the kernel frees a
 * process's memory (so its environment reads empty) before it hands its
 * children on, and a daemon's intermediate process caught in that moment
 * has neither its marker to show nor its child (the daemon) reparented to
 * us yet. Followed, it exits, and its exit asks again: the daemon is ours
 * by then. (Seen under stress-ng: the generation was taken for one that
 * exited before it was ready.)
 *
 * Limits: a daemon that execs itself with an environment without the
 * marker, and leaves it otherwise intact, is not found; an overwritten
 * environment cannot tell generations apart, only their age can. */
#ifndef TOOL_FOLLOW_H
#define TOOL_FOLLOW_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct follow_query {
	unsigned generation;   /* its HANDOFF_GENERATION */
	int64_t started_us;    /* when it was launched (ho_now_us's clock) */
	const pid_t *avoid;    /* the other generations' pids and groups: */
	size_t avoid_count;    /* neither a candidate nor its group */
};

/* The process that is the generation now, its process group in *group; 0
 * if there is none. */
pid_t follow_successor(const struct follow_query *q, pid_t *group);

/* 1 if pid's environment carries generation's marker: for a message from
 * an orphan of ours whose generation has not been followed to it yet. */
int follow_marked(pid_t pid, unsigned generation);

#endif
