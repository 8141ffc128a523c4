/* core.h — the supervisor's decisions: generations, their states, and what
 * each event does to them. No descriptors and no I/O of its own: the loop
 * (supervisor.c) turns descriptors into the calls below, and the core acts
 * on the world only through kill() and the hooks it is given.
 *
 * A generation is one start of the server: the process we follow (at
 * first the one we started; after it exits 0 leaving another running, as
 * a daemon's first process does, that one) and the process group we
 * signal:
 *
 *   starting --ready--> serving --replaced or stop--> draining --exit--> gone
 *       \                   \                          ^
 *        \                   \--replaced--> finishing --quiet, deadline, stop
 *         \--exit, deadline or stop: failed, killed-------------------------^
 *
 * A replaced generation finishes first when it had listening sockets of
 * its own (steer.h): new clients go elsewhere already, and it is asked to
 * drain only once it holds nothing more (quiet) or at --finish-timeout.
 *
 * An exit 0 that leaves another process of the generation running (a
 * daemon that forked) before draining changes pid and group, not state.
 *
 * With --workers N a generation is N processes of the command: N records
 * below, one per worker, sharing the generation's number. Each record goes
 * through the table on its own; what makes them one generation is
 * decided once for all of them: it is ready when all N are, a worker that
 * fails to start fails them all, and one that dies while the others serve
 * is started again alone. With N = 1 a record is the generation.
 *
 * The table in core.c holds every state x event. */
#ifndef TOOL_CORE_H
#define TOOL_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CORE_GENERATIONS_MAX 64 /* starting + serving + draining */
/* Records, one per worker, of all of them: as many as generations were,
 * so that the state across `reload --self` keeps its bounds. With
 * --workers N, at most 64 / N generations; 16 leaves room for a reload
 * beside two draining. */
#define CORE_RECORDS_MAX CORE_GENERATIONS_MAX
#define CORE_WORKERS_MAX 16      /* --workers: processes per generation */
#define CORE_FOLLOWS_MAX 8       /* per generation: a daemon forks once or twice */

enum gen_state { GEN_STARTING, GEN_SERVING, GEN_DRAINING, GEN_FINISHING, GEN_STATES };

/* Why a generation was started: a reload answers its requester, a restart
 * does not count as a reload. */
enum gen_cause { CAUSE_FIRST, CAUSE_RELOAD, CAUSE_RESTART };

/* One worker of a generation (the generation itself when --workers 1). */
struct generation {
	unsigned number;
	int worker;                /* its index: HANDOFF_WORKER, 0..workers-1 */
	pid_t pid;                 /* the process we follow: its exit is the
				      generation's */
	pid_t group;               /* the process group we signal: pid's own
				      at first, then the followed one's */
	int follows;               /* how many times pid changed */
	pid_t next_pid, next_group;/* EV_DAEMONIZED: whom to follow now */
	enum gen_state state;
	enum gen_cause cause;
	int64_t started_us;
	int64_t deadline_us;       /* ready, finish or drain deadline */
	int64_t asked_us;          /* finishing: when quiet was last asked */
	int quiet_seen;            /* finishing: quiet answers in a row */
	int killed;                /* SIGKILL sent to its group */
	int signalled;             /* asked to drain: its stop signal sent, or
				      its successor introduced (hooks.draining) */
	int exited;                /* its main process is gone; the record waits
				      for the rest of its group until the deadline */
	char status[128];          /* its last STATUS= */
	int ready;                 /* READY=1 while its siblings may not have */
	int abandoned;             /* a sibling failed to start: killed, it
				      ends without a word */
	int connections;           /* its READY=1 said HANDOFF_CONNECTIONS=1:
				      it takes live connections, and passes
				      its own when it drains (handover.h) */
};

struct core_config {
	int64_t ready_delay_ms;    /* 0: wait for READY=1 */
	int64_t ready_timeout_ms;
	int64_t drain_timeout_ms;
	int64_t finish_timeout_ms; /* finishing at most this long */
	int64_t stable_after_ms;   /* healthy this long: back-off forgiven */
	int stop_signal;
	int max_draining;          /* a reload beyond this many draining: busy */
	int workers;               /* processes per generation (1) */
	enum { RESTART_ALWAYS, RESTART_ON_FAILURE, RESTART_NEVER } restart;
};

/* How the core reaches the world. ctx is passed back to each. */
struct core_hooks {
	void *ctx;
	/* Start worker `worker` of generation `number`: its pid, or -errno
	 * with the reason in why. */
	pid_t (*launch)(void *ctx, unsigned number, int worker, enum gen_cause cause,
			char *why, size_t size);
	/* A start or reload is over: ok, and a sentence. */
	void (*start_done)(void *ctx, int ok, const char *message);
	/* Something changed that a service manager shows; ready: a start or
	 * reload just ended (systemd's READY=1). */
	void (*status_changed)(void *ctx, int ready);
	/* The supervisor stops: no new client should queue any more. */
	void (*stopping)(void *ctx);
	void (*log)(void *ctx, const char *message);
	/* Optional: what was seen of a generation that did not become ready
	 * (no READY=1, what it bound and listened on), for the message. */
	void (*explain)(void *ctx, const struct generation *g, char *buf, size_t size);
	/* g's followed process exited 0 while starting or serving: the
	 * process it left running that is the generation now (a daemon that
	 * forked), with its process group in *group; 0 if none. May be NULL. */
	pid_t (*successor)(void *ctx, const struct generation *g, pid_t *group);
	/* Optional: generation number serves now (new clients go to it). */
	void (*serving)(void *ctx, unsigned number);
	/* Optional, both or neither: whether replaced g had sockets of its
	 * own, apart from the serving generation's (then it finishes, else it
	 * drains at once); and, asked while it finishes, whether it has
	 * answered everything it took: 1, 0 (not yet), -1 (cannot tell). */
	int (*apart)(void *ctx, const struct generation *g);
	int (*quiet)(void *ctx, const struct generation *g);
	/* Optional: g is to drain; successor is the worker that serves in
	 * its place (the same index of the serving generation), NULL at a
	 * stop or when none serves. 1 if g was asked another way (its
	 * successor introduced, handover.h): no stop signal then; 0: it gets
	 * its stop signal at once. */
	int (*draining)(void *ctx, const struct generation *g,
			const struct generation *successor);
};

struct core {
	struct core_config config;
	struct core_hooks hooks;
	struct generation gens[CORE_RECORDS_MAX]; /* one per worker */
	int count;
	unsigned next_number;
	int stopping;              /* 1: draining everything, 2: killing */
	int ever_served;
	int64_t restart_at_us;     /* 0: none scheduled */
	int64_t backoff_ms;        /* the last restart's delay; 0: forgiven */
	int64_t stable_at_us;      /* serving since a restart: forgive then */
	/* Workers of the serving generation `respawn_number` that died while
	 * the others served, started again alone at respawn_at_us (bit i:
	 * worker i). */
	uint64_t respawn_mask;
	unsigned respawn_number;
	int64_t respawn_at_us;
	char last_reload[320];     /* "ok: ..." or "failed: ..." */
	char last_restart[320];    /* the same for the last crash restart */
	int exit_code;
};

void core_init(struct core *c, const struct core_config *config,
	       const struct core_hooks *hooks);

/* Requests. Each returns 0 or a negative errno:
 * core_start: the first generation (-errno: it could not be started).
 * core_reload: -EBUSY (one is starting, or too many drain), -ESHUTDOWN
 * (stopping), or the launch error; the outcome comes through start_done. */
int core_start(struct core *c);
int core_reload(struct core *c);
void core_stop(struct core *c);

/* Facts. */
void core_ready(struct core *c, struct generation *g);       /* READY=1 */
/* The generation as a whole answers (--ready=exec:): every worker ready. */
void core_generation_ready(struct core *c, unsigned number);
void core_set_status(struct core *c, struct generation *g, const char *text);
/* Our child pid exited with wait status; not one of ours: ignored. */
void core_exited(struct core *c, pid_t pid, int status);
/* Time passes: deadlines, scheduled restarts, forgiveness. */
void core_tick(struct core *c);

/* Questions. */
int core_next_timeout_ms(const struct core *c); /* -1: none */
int core_done(const struct core *c);  /* stopped and nothing left */
struct generation *core_find(struct core *c, pid_t pid);
struct generation *core_in_state(struct core *c, enum gen_state state);
/* Generations (not workers) in a state, and in all; core_count_leaving:
 * those finishing or draining. */
int core_count_in_state(const struct core *c, enum gen_state state);
int core_generation_count(const struct core *c);
int core_count_leaving(const struct core *c);
/* Record i is the first of its generation's in gens[]. */
int core_first_of_generation(const struct core *c, int i);
/* "generation 3", or "generation 3 worker 1" with --workers above 1. */
const char *core_name(const struct core *c, const struct generation *g, char *buf,
		      size_t size);
/* Who g's generation is, in parentheses after its number: "pid 4300", or
 * "3 workers" with --workers above 1. */
const char *core_who(const struct core *c, const struct generation *g, char *buf,
		     size_t size);
const char *core_state_name(enum gen_state state);

#endif
