/* probe.h — `--ready=exec:CMD`: a starting generation is ready once CMD
 * exits 0 (`redis-cli -p 6379 ping`, `curl -fs http://127.0.0.1:8080/`).
 *
 * CMD runs through /bin/sh -c, with HANDOFF_GENERATION and HANDOFF_PID
 * (the generation's main process) added to the environment; again 100 ms
 * after each run that fails, for as long as the generation is starting. A
 * run still going when its generation stops starting is killed. One probe
 * runs at a time: only one generation starts at a time. */
#ifndef TOOL_PROBE_H
#define TOOL_PROBE_H

#include "core.h"
#include "log.h"

#include <stdint.h>
#include <sys/types.h>

struct probe {
	const char *command;         /* NULL: off */
	int output_fd;               /* its stdout and stderr (0: ours) */
	pid_t pid;                   /* the run going on, or 0 */
	unsigned number;             /*   for this generation */
	int64_t next_us;             /* no run before this */
	int runs;                    /* runs for the current generation */
	int last_status;             /* of the last failed run, for messages */
	struct log_limit spawn_failures; /* one every 100 ms would flood the log */
};

/* Starts a run when one is due; kills a run whose generation is no longer
 * starting. Call after every turn of the loop. */
void probe_tick(struct probe *p, struct core *c);
/* 1 if pid was the probe's (then it is handled: ready on status 0). */
int probe_exited(struct probe *p, struct core *c, pid_t pid, int status);
/* When probe_tick wants to run next, in ms from now; -1: never. */
int probe_timeout_ms(const struct probe *p, struct core *c);
/* What the runs of generation number said, for a message; "" if none. */
void probe_describe(const struct probe *p, unsigned number, char *buf, size_t size);

#endif
