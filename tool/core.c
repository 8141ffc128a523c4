/* core.c — what happens to a generation, event by event.
 *
 * Every decision about a generation is one cell of the table below, a
 * function named after what it does. The rest of the file is the service
 * around them: reloads, restarts with back-off, stopping.
 *
 * A record is one worker of a generation (core.h). The cells act on the
 * record they are given; where a generation is more than its workers
 * (ready when all are, failed when one is, one dead among live ones), the
 * cell looks at the record's siblings, those of the same number. */
#include "core.h"
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { BACKOFF_MIN_MS = 100, BACKOFF_MAX_MS = 30000 };
/* A finishing generation is asked whether it is quiet this often, and
 * must be so twice in a row: a handshake begun on its socket before new
 * clients went elsewhere completes within that time on a local network. */
enum { QUIET_POLL_MS = 20, QUIET_ANSWERS = 2 };

enum gen_event {
	EV_READY,     /* it said READY=1 (or lived through --ready=delay:) */
	EV_EXITED,    /* its main process exited */
	EV_DAEMONIZED,/* its main process exited 0 and left another running */
	EV_DEADLINE,  /* its ready or drain deadline passed */
	EV_REPLACED,  /* a newer generation serves now */
	EV_STOP,      /* the supervisor stops */
	EV_QUIET,     /* it holds nothing more (finishing: hooks.quiet) */
	GEN_EVENTS
};

typedef void transition(struct core *c, struct generation *g, int status);

static transition promote, start_failed, start_overdue, abandon, crashed,
	finish, drain, drained, drain_overdue, follow;

static void ignore(struct core *c, struct generation *g, int status)
{
	(void)c, (void)g, (void)status;
}

/* DAEMONIZED while draining is a drain: a generation asked to stop that
 * exits 0 has done what it was asked, and the rest of its group may finish
 * until the deadline (core_exited does not even look for a successor). */
static transition *const table[GEN_STATES][GEN_EVENTS] = {
	/*                 READY    EXITED        DAEMONIZED DEADLINE       REPLACED STOP     QUIET */
	[GEN_STARTING]  = { promote, start_failed, follow,    start_overdue, ignore, abandon, ignore },
	[GEN_SERVING]   = { ignore,  crashed,      follow,    ignore,        finish, drain,   ignore },
	[GEN_FINISHING] = { ignore,  drained,      drained,   drain,         ignore, drain,   drain  },
	[GEN_DRAINING]  = { ignore,  drained,      drained,   drain_overdue, ignore, ignore,  ignore },
};

static void fire(struct core *c, struct generation *g, enum gen_event event,
		 int status)
{
	table[g->state][event](c, g, status);
}

/* ---------------------------------------------------------------- helpers */

static void say(struct core *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct core *c, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	c->hooks.log(c->hooks.ctx, line);
}

static int64_t now_of(const struct core *c)
{
	(void)c;
	return ho_now_us();
}

const char *core_state_name(enum gen_state state)
{
	static const char *const names[] = { "starting", "ready", "draining", "finishing" };
	return names[state];
}

struct generation *core_find(struct core *c, pid_t pid)
{
	for (int i = 0; i < c->count; i++)
		if (c->gens[i].pid == pid && !c->gens[i].exited)
			return &c->gens[i];
	return NULL;
}

struct generation *core_in_state(struct core *c, enum gen_state state)
{
	for (int i = 0; i < c->count; i++)
		if (c->gens[i].state == state)
			return &c->gens[i];
	return NULL;
}

/* Record i is the first of its generation among those in `state` (any
 * state: GEN_STATES). */
static int first_of_generation(const struct core *c, int i, enum gen_state state)
{
	const struct generation *g = &c->gens[i];
	if (state != GEN_STATES && g->state != state)
		return 0;
	for (int j = 0; j < i; j++)
		if (c->gens[j].number == g->number &&
		    (state == GEN_STATES || c->gens[j].state == state))
			return 0;
	return 1;
}

int core_count_in_state(const struct core *c, enum gen_state state)
{
	int n = 0;
	for (int i = 0; i < c->count; i++)
		n += first_of_generation(c, i, state);
	return n;
}

int core_first_of_generation(const struct core *c, int i)
{
	return first_of_generation(c, i, GEN_STATES);
}

int core_generation_count(const struct core *c)
{
	return core_count_in_state(c, GEN_STATES);
}

int core_count_leaving(const struct core *c)
{
	return core_count_in_state(c, GEN_FINISHING) + core_count_in_state(c, GEN_DRAINING);
}

const char *core_name(const struct core *c, const struct generation *g, char *buf,
		      size_t size)
{
	if (c->config.workers > 1)
		snprintf(buf, size, "generation %u worker %d", g->number, g->worker);
	else
		snprintf(buf, size, "generation %u", g->number);
	return buf;
}

const char *core_who(const struct core *c, const struct generation *g, char *buf,
		     size_t size)
{
	if (c->config.workers > 1)
		snprintf(buf, size, "%d workers", c->config.workers);
	else
		snprintf(buf, size, "pid %d", (int)g->pid);
	return buf;
}

static int siblings(const struct generation *a, const struct generation *b)
{
	return a != b && a->number == b->number;
}

/* Names a record in a message: NAME(g) is "generation 3 worker 1" as
 * core_name says, in a buffer of the caller's statement. */
#define NAME(g) core_name(c, (g), (char[48]){ 0 }, 48)

static void forget(struct core *c, struct generation *g)
{
	*g = c->gens[--c->count];
}

/* A followed daemon may leave its group after we chose to follow it (its
 * setsid() after the fork, or after we looked): while it lives, its group
 * is asked again. Never once it is reaped: its pid may be another's. */
static pid_t group_of(struct generation *g)
{
	if (g->follows && !g->exited) {
		pid_t group = getpgid(g->pid);
		if (group > 1)
			g->group = group;
	}
	return g->group;
}

static void kill_group(struct generation *g)
{
	if (g->killed)
		return;
	kill(-group_of(g), SIGKILL);
	if (!g->exited) /* a reaped pid is not ours to signal */
		kill(g->pid, SIGKILL); /* in case it left its group */
	g->killed = 1;
}

static void describe_exit(const struct core *c, char *buf, size_t size,
			  const struct generation *g, int status)
{
	if (WIFEXITED(status))
		snprintf(buf, size, "%s (pid %d) exited with status %d", NAME(g),
			 (int)g->pid, WEXITSTATUS(status));
	else
		snprintf(buf, size, "%s (pid %d) was killed by signal %d (%s)", NAME(g),
			 (int)g->pid, WTERMSIG(status), strsignal(WTERMSIG(status)));
}

/* Its main process is gone. Anything left of a generation that failed or
 * crashed is killed now: it holds the listening sockets and would answer
 * for no one. A draining generation's other processes may finish their
 * work until the drain deadline. Returns 1 if the record stays. */
static int bury(struct core *c, struct generation *g)
{
	int leftovers = kill(-g->group, 0) == 0;
	if (leftovers && (g->state == GEN_DRAINING || g->state == GEN_FINISHING) &&
	    !g->killed) {
		g->exited = 1;
		say(c, "%s: its other processes may drain until the deadline", NAME(g));
		return 1;
	}
	if (leftovers)
		kill(-g->group, SIGKILL);
	forget(c, g);
	return 0;
}

/* ------------------------------------------------------------ the service */

static void finish_start(struct core *c, enum gen_cause cause, int ok,
			 const char *message)
{
	if (cause == CAUSE_RESTART) {
		snprintf(c->last_restart, sizeof c->last_restart, "%s: %s",
			 ok ? "ok" : "failed", message);
		say(c, "restart %s", c->last_restart);
		c->hooks.status_changed(c->hooks.ctx, 0);
		return;
	}
	snprintf(c->last_reload, sizeof c->last_reload, "%s: %s",
		 ok ? "ok" : "failed", message);
	say(c, "%s", c->last_reload);
	c->hooks.start_done(c->hooks.ctx, ok, message);
	/* Ends RELOADING=1 either way; the first READY=1 only once serving. */
	c->hooks.status_changed(c->hooks.ctx, 1);
}

/* Generation `number` failed to start: its workers still there but
 * `except` are killed, and end without a word (the failure was told once). */
static void abandon_generation(struct core *c, unsigned number,
			       const struct generation *except)
{
	for (int i = 0; i < c->count; i++)
		if (c->gens[i].number == number && &c->gens[i] != except) {
			c->gens[i].abandoned = 1;
			kill_group(&c->gens[i]);
		}
}

/* A new generation: --workers processes, all starting. If one cannot be
 * started, those already running go (the generation failed) and its
 * number is not used again. */
static int launch(struct core *c, enum gen_cause cause, char *why, size_t size)
{
	int workers = c->config.workers;
	int generations = core_generation_count(c);
	if (generations == CORE_GENERATIONS_MAX) {
		snprintf(why, size, "%d generations are still draining", generations - 1);
		return -EBUSY;
	}
	if (c->count + workers > CORE_RECORDS_MAX) {
		snprintf(why, size, "%d processes of %d generations still run: %d more "
			 "would pass %d", c->count, generations, workers, CORE_RECORDS_MAX);
		return -EBUSY;
	}
	unsigned number = c->next_number;
	int64_t started = now_of(c); /* "ready in" counts fork and exec too */
	int64_t wait_ms = c->config.ready_delay_ms ? c->config.ready_delay_ms
						   : c->config.ready_timeout_ms;
	for (int w = 0; w < workers; w++) {
		char failed[256];
		pid_t pid = c->hooks.launch(c->hooks.ctx, number, w, cause, failed,
					    sizeof failed);
		if (pid < 0) {
			if (workers > 1)
				snprintf(why, size, "worker %d: %.220s", w, failed);
			else
				snprintf(why, size, "%s", failed);
			if (w > 0) {
				abandon_generation(c, number, NULL);
				c->next_number = ho_next_generation(number);
			}
			return (int)pid;
		}
		struct generation *g = &c->gens[c->count++];
		*g = (struct generation){
			.number = number, .worker = w, .pid = pid, .group = pid,
			.state = GEN_STARTING, .cause = cause, .started_us = started,
			.deadline_us = started + wait_ms * 1000,
		};
		say(c, "%s started: pid %d", NAME(g), (int)pid);
	}
	c->next_number = ho_next_generation(number);
	return 0;
}

/* A serving generation is gone and none replaces it: start one after a
 * delay that doubles only while the service keeps failing before it has
 * been healthy for --stable-after. How old the dead generation was says
 * nothing: under frequent reloads every generation is young. */
static int restart_wanted(const struct core *c, int status)
{
	int clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	return !c->stopping && c->config.restart != RESTART_NEVER &&
	       !(c->config.restart == RESTART_ON_FAILURE && clean);
}

/* The next restart's delay: doubled while failures follow each other. */
static int64_t back_off(struct core *c)
{
	c->stable_at_us = 0;
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (c->backoff_ms > BACKOFF_MAX_MS)
		c->backoff_ms = BACKOFF_MAX_MS;
	return now_of(c) + c->backoff_ms * 1000;
}

/* A generation starts or serves (one whose start failed does not). */
static int starting_or_serving(const struct core *c)
{
	for (int i = 0; i < c->count; i++)
		if ((c->gens[i].state == GEN_STARTING || c->gens[i].state == GEN_SERVING) &&
		    !c->gens[i].abandoned)
			return 1;
	return 0;
}

static void schedule_restart(struct core *c, int status)
{
	if (!restart_wanted(c, status) || starting_or_serving(c))
		return;
	c->restart_at_us = back_off(c);
	say(c, "restarting in %lld ms; the listeners stay open meanwhile",
	    (long long)c->backoff_ms);
}

/* A worker died while its siblings serve: it alone starts again, after
 * the same back-off as a generation, with the same index. */
static void schedule_respawn(struct core *c, const struct generation *g, int status)
{
	if (!restart_wanted(c, status))
		return;
	c->respawn_at_us = back_off(c);
	c->respawn_number = g->number;
	c->respawn_mask |= UINT64_C(1) << g->worker;
	say(c, "%s starts again in %lld ms; the other workers serve meanwhile",
	    NAME(g), (long long)c->backoff_ms);
}

static void cancel_respawn(struct core *c)
{
	c->respawn_mask = 0;
	c->respawn_at_us = 0;
}

/* The workers that died while their siblings served, started again into
 * the serving generation: they serve at once (their generation is ready;
 * the others answer meanwhile), with the index each had. */
static void respawn(struct core *c)
{
	const struct generation *serving = NULL;
	for (int i = 0; i < c->count && !serving; i++)
		if (c->gens[i].number == c->respawn_number && c->gens[i].state == GEN_SERVING)
			serving = &c->gens[i];
	c->respawn_at_us = 0;
	if (!serving || c->stopping) { /* replaced, or all of it died since */
		c->respawn_mask = 0;
		return;
	}
	unsigned number = serving->number;
	for (int w = 0; w < c->config.workers && w < CORE_WORKERS_MAX; w++) {
		char why[256];
		if (!(c->respawn_mask & (UINT64_C(1) << w)))
			continue;
		pid_t pid = -EBUSY;
		if (c->count == CORE_RECORDS_MAX)
			snprintf(why, sizeof why, "%d processes still run", c->count);
		else
			pid = c->hooks.launch(c->hooks.ctx, number, w, CAUSE_RESTART, why,
					      sizeof why);
		if (pid < 0) {
			finish_start(c, CAUSE_RESTART, 0, why);
			c->respawn_at_us = now_of(c) + c->backoff_ms * 1000;
			continue;
		}
		c->respawn_mask &= ~(UINT64_C(1) << w);
		struct generation *g = &c->gens[c->count++];
		*g = (struct generation){ .number = number, .worker = w, .pid = pid,
					  .group = pid, .state = GEN_SERVING, .ready = 1,
					  .cause = CAUSE_RESTART, .started_us = now_of(c) };
		char message[96];
		snprintf(message, sizeof message, "%s started again: pid %d", NAME(g),
			 (int)pid);
		finish_start(c, CAUSE_RESTART, 1, message);
	}
	if (c->backoff_ms && !c->stable_at_us)
		c->stable_at_us = now_of(c) + c->config.stable_after_ms * 1000;
}

/* ------------------------------------------------------------ transitions */

/* The generation is ready once its last worker is. */
static void promote(struct core *c, struct generation *g, int status)
{
	(void)status;
	if (g->abandoned)
		return; /* a sibling failed: so did the generation */
	g->ready = 1;
	int waiting = 0;
	for (int i = 0; i < c->count; i++)
		waiting += siblings(&c->gens[i], g) && !c->gens[i].ready;
	if (waiting) {
		say(c, "%s (pid %d) ready; waiting for %d more worker(s)", NAME(g),
		    (int)g->pid, waiting);
		return;
	}
	if (c->hooks.serving)
		c->hooks.serving(c->hooks.ctx, g->number); /* before the others finish */
	/* Serving first: a replaced worker that drains at once meets its
	 * successor in that state (hooks.draining). */
	for (int i = 0; i < c->count; i++)
		if (c->gens[i].number == g->number)
			c->gens[i].state = GEN_SERVING;
	for (int i = 0; i < c->count; i++)
		if (c->gens[i].number != g->number)
			fire(c, &c->gens[i], EV_REPLACED, 0);
	if (c->respawn_number != g->number)
		cancel_respawn(c); /* the generation they were for is draining */
	c->ever_served = 1;
	/* Service is back after a restart: once it has stayed up for
	 * --stable-after (reloads included), the next crash is an isolated one. */
	if (c->backoff_ms && !c->stable_at_us)
		c->stable_at_us = now_of(c) + c->config.stable_after_ms * 1000;
	char message[128], who[32];
	snprintf(message, sizeof message, "generation %u (%s) ready in %.1f ms", g->number,
		 core_who(c, g, who, sizeof who), (double)(now_of(c) - g->started_us) / 1000.0);
	finish_start(c, g->cause, 1, message);
}

/* "" or "; what was seen", for a generation that did not become ready. */
static void explain(struct core *c, const struct generation *g, char *buf, size_t size)
{
	char seen[384] = "";
	if (c->hooks.explain)
		c->hooks.explain(c->hooks.ctx, g, seen, sizeof seen);
	snprintf(buf, size, "%s%s", seen[0] ? ": " : "", seen);
}

static void start_failed(struct core *c, struct generation *g, int status)
{
	char what[192], why[320], seen[400] = "";
	if (g->abandoned) { /* a sibling's failure, told already */
		bury(c, g);
		return;
	}
	abandon_generation(c, g->number, g);
	describe_exit(c, what, sizeof what, g, status);
	if (!c->stopping)
		explain(c, g, seen, sizeof seen);
	snprintf(why, sizeof why, "%s%s%s", what,
		 c->stopping	  ? ": the supervisor is stopping"
		 : g->killed	  ? ": not ready in time, killed"
				  : " before it was ready", seen);
	enum gen_cause cause = g->cause;
	bury(c, g);
	finish_start(c, cause, 0, why);
	if (!c->ever_served && !c->stopping) {
		/* The very first start failed: report it, do not retry. */
		c->exit_code = 1;
		core_stop(c);
	} else {
		schedule_restart(c, status);
	}
}

static void start_overdue(struct core *c, struct generation *g, int status)
{
	if (c->config.ready_delay_ms) {
		fire(c, g, EV_READY, status); /* alive after the delay: ready */
		return;
	}
	/* The worker named is one that is not ready (g may be ready): its
	 * exit tells the failure, the others' are abandoned. */
	struct generation *late = g;
	for (int i = 0; i < c->count && late->ready; i++)
		if (siblings(&c->gens[i], g) && !c->gens[i].ready)
			late = &c->gens[i];
	char seen[400];
	explain(c, late, seen, sizeof seen);
	say(c, "%s (pid %d) not ready within %lld ms%s; killing it%s", NAME(late),
	    (int)late->pid, (long long)c->config.ready_timeout_ms, seen,
	    c->config.workers > 1 ? " and the other workers" : "");
	kill_group(late);
	abandon_generation(c, late->number, late);
}

static void abandon(struct core *c, struct generation *g, int status)
{
	(void)c, (void)status;
	kill_group(g);
}

/* With live siblings, a worker's death is its own: it alone starts again.
 * The last one's is the generation's. */
static void crashed(struct core *c, struct generation *g, int status)
{
	char what[192];
	int others = 0;
	for (int i = 0; i < c->count; i++)
		others += siblings(&c->gens[i], g) && c->gens[i].state == GEN_SERVING;
	describe_exit(c, what, sizeof what, g, status);
	if (others) {
		say(c, "%s while serving; %d other worker(s) serve on", what, others);
		struct generation dead = *g;
		bury(c, g);
		schedule_respawn(c, &dead, status);
	} else {
		say(c, "%s while serving", what);
		cancel_respawn(c);
		bury(c, g);
		schedule_restart(c, status);
	}
	c->hooks.status_changed(c->hooks.ctx, 0);
}

/* Replaced: new clients go to its successor already. One that had
 * sockets of its own first answers what it took (python's http.server
 * would cut it when asked to stop), then drains. */
static void finish(struct core *c, struct generation *g, int status)
{
	if (!c->hooks.apart || c->config.finish_timeout_ms <= 0 ||
	    !c->hooks.apart(c->hooks.ctx, g)) {
		drain(c, g, status);
		return;
	}
	g->state = GEN_FINISHING;
	g->quiet_seen = 0;
	g->asked_us = now_of(c);
	g->deadline_us = now_of(c) + c->config.finish_timeout_ms * 1000;
	say(c, "%s (pid %d) finishing: new clients go elsewhere; asked to drain once it "
	       "holds no connection, at most in %lld ms", NAME(g), (int)g->pid,
	    (long long)c->config.finish_timeout_ms);
}

/* Who serves in a draining worker's place: the serving generation's
 * worker of the same index; nobody at a stop. */
static const struct generation *successor_of(const struct core *c,
					     const struct generation *g)
{
	for (int i = 0; i < c->count && !c->stopping; i++) {
		const struct generation *s = &c->gens[i];
		if (s->state == GEN_SERVING && s->number != g->number &&
		    s->worker == g->worker)
			return s;
	}
	return NULL;
}

static void drain(struct core *c, struct generation *g, int status)
{
	(void)status;
	if (g->state == GEN_FINISHING) {
		long long ms = (long long)(now_of(c) - g->deadline_us) / 1000 +
			       c->config.finish_timeout_ms;
		say(c, "%s (pid %d) %s after %lld ms of finishing", NAME(g), (int)g->pid,
		    c->stopping			    ? "stops finishing: the supervisor stops,"
		    : g->quiet_seen >= QUIET_ANSWERS ? "has answered what it took"
		    : g->quiet_seen < 0		    ? "can no longer tell what it holds"
						     : "still holds connections at the finish deadline,",
		    ms);
	}
	int asked = c->hooks.draining && c->hooks.draining(c->hooks.ctx, g, successor_of(c, g));
	g->state = GEN_DRAINING;
	g->signalled = 1;
	g->deadline_us = now_of(c) + c->config.drain_timeout_ms * 1000;
	/* Introduced to its successor, it drains on that: a stop signal too
	 * would race the introduction in its loop, or find it gone already. */
	if (!asked)
		kill(g->pid, c->config.stop_signal);
	say(c, "%s (pid %d) draining, deadline in %lld ms", NAME(g), (int)g->pid,
	    (long long)c->config.drain_timeout_ms);
}

static void drained(struct core *c, struct generation *g, int status)
{
	char what[192];
	describe_exit(c, what, sizeof what, g, status);
	/* Only an exit of its own is a drain; a signal from elsewhere is not. */
	const char *how = g->killed && c->stopping == 2 ? " on the second stop request"
			  : g->killed		 ? " at the drain deadline"
			  : WIFEXITED(status)	 ? " after draining"
			  : WTERMSIG(status) == c->config.stop_signal ? " when asked to drain"
								   : " while draining";
	say(c, "%s%s", what, how);
	bury(c, g);
	c->hooks.status_changed(c->hooks.ctx, 0);
}

/* Its process exited 0, leaving another that is the generation now: the
 * generation stays as it was (a starting one still waits for READY=1 or
 * its deadline). What we had decided to kill is killed again. */
static void follow(struct core *c, struct generation *g, int status)
{
	(void)status;
	say(c, "%s (pid %d) exited 0 and left pid %d running: following it as the "
	       "generation", NAME(g), (int)g->pid, (int)g->next_pid);
	g->pid = g->next_pid;
	g->group = g->next_group > 1 ? g->next_group : g->next_pid;
	g->follows++;
	if (g->killed) {
		g->killed = 0;
		kill_group(g);
	}
}

static void drain_overdue(struct core *c, struct generation *g, int status)
{
	(void)status;
	if (g->exited) {
		if (kill(-g->group, 0) == 0) {
			say(c, "%s: killing what is left of its process group at the "
			       "deadline", NAME(g));
			kill(-g->group, SIGKILL);
		}
		forget(c, g);
		return;
	}
	say(c, "%s (pid %d) still draining at the deadline: killing its process "
	       "group", NAME(g), (int)g->pid);
	kill_group(g);
}

/* ---------------------------------------------------------------- requests */

void core_init(struct core *c, const struct core_config *config,
	       const struct core_hooks *hooks)
{
	*c = (struct core){ .config = *config, .hooks = *hooks, .next_number = 1 };
	if (c->config.workers < 1)
		c->config.workers = 1;
}

int core_start(struct core *c)
{
	char why[256];
	int r = launch(c, CAUSE_FIRST, why, sizeof why);
	if (r < 0) {
		finish_start(c, CAUSE_FIRST, 0, why);
		c->exit_code = 1;
		c->stopping = 1;
	}
	return r;
}

int core_reload(struct core *c)
{
	char why[256];
	if (c->stopping) {
		finish_start(c, CAUSE_RELOAD, 0, "the supervisor is stopping");
		return -ESHUTDOWN;
	}
	if (core_in_state(c, GEN_STARTING)) {
		/* Not recorded as the last result: that one is still coming. */
		say(c, "reload refused: a reload is already in progress");
		return -EBUSY;
	}
	int draining = core_count_leaving(c);
	if (draining >= c->config.max_draining) {
		say(c, "reload refused: %d generations are still draining "
		       "(--max-draining %d)", draining, c->config.max_draining);
		return -EBUSY;
	}
	c->restart_at_us = 0; /* a reload replaces a pending restart */
	int r = launch(c, CAUSE_RELOAD, why, sizeof why);
	if (r < 0)
		finish_start(c, CAUSE_RELOAD, 0, why);
	return r;
}

void core_stop(struct core *c)
{
	if (c->stopping) {
		say(c, "second stop request: killing every generation now");
		c->stopping = 2;
		for (int i = 0; i < c->count; i++)
			kill_group(&c->gens[i]);
		return;
	}
	c->stopping = 1;
	c->restart_at_us = 0;
	c->stable_at_us = 0;
	cancel_respawn(c);
	c->hooks.stopping(c->hooks.ctx);
	say(c, "stopping: %d generation(s) drain for up to %lld ms",
	    core_generation_count(c), (long long)c->config.drain_timeout_ms);
	for (int i = 0; i < c->count; i++)
		fire(c, &c->gens[i], EV_STOP, 0);
	c->hooks.status_changed(c->hooks.ctx, 0);
}

/* ------------------------------------------------------------------- facts */

void core_ready(struct core *c, struct generation *g)
{
	if (!c->config.ready_delay_ms)
		fire(c, g, EV_READY, 0);
}

void core_generation_ready(struct core *c, unsigned number)
{
	for (int i = 0; i < c->count; i++)
		if (c->gens[i].number == number && c->gens[i].state == GEN_STARTING)
			core_ready(c, &c->gens[i]);
}

void core_set_status(struct core *c, struct generation *g, const char *text)
{
	snprintf(g->status, sizeof g->status, "%s", text);
	c->hooks.status_changed(c->hooks.ctx, 0);
}

/* What g's process, which exited with status, left running that is the
 * generation now: asked only for an exit 0 before draining. Past
 * CORE_FOLLOWS_MAX, a process that keeps handing on is no daemon: what it
 * left is killed with the rest of the generation. */
static int left_running(struct core *c, struct generation *g, int status)
{
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
	    g->state == GEN_DRAINING || !c->hooks.successor)
		return 0;
	pid_t group = 0;
	pid_t next = c->hooks.successor(c->hooks.ctx, g, &group);
	if (next <= 0)
		return 0;
	if (g->follows >= CORE_FOLLOWS_MAX) {
		say(c, "%s (pid %d) exited 0 and left pid %d running, after %d such "
		       "hand-overs: killing it, the generation has exited", NAME(g),
		    (int)g->pid, (int)next, g->follows);
		kill(next, SIGKILL);
		if (group > 1)
			kill(-group, SIGKILL);
		return 0;
	}
	g->next_pid = next;
	g->next_group = group;
	return 1;
}

void core_exited(struct core *c, pid_t pid, int status)
{
	struct generation *g = core_find(c, pid);
	if (g)
		fire(c, g, left_running(c, g, status) ? EV_DAEMONIZED : EV_EXITED,
		     status);
}

/* A finishing generation that is quiet QUIET_ANSWERS times in a row, or
 * can no longer tell, drains. */
static void ask_quiet(struct core *c, struct generation *g, int64_t now_us)
{
	if (g->state != GEN_FINISHING || now_us < g->asked_us + QUIET_POLL_MS * 1000)
		return;
	g->asked_us = now_us;
	int quiet = c->hooks.quiet(c->hooks.ctx, g);
	g->quiet_seen = quiet < 0 ? -1 : quiet ? g->quiet_seen + 1 : 0;
	if (quiet < 0 || g->quiet_seen >= QUIET_ANSWERS)
		fire(c, g, EV_QUIET, 0);
}

void core_tick(struct core *c)
{
	int64_t now_us = now_of(c);
	/* Exited generations whose group has emptied go now. */
	for (int i = 0; i < c->count; i++)
		if (c->gens[i].exited && kill(-c->gens[i].group, 0) < 0)
			forget(c, &c->gens[i--]);
	for (int i = 0; i < c->count; i++)
		group_of(&c->gens[i]); /* while the followed process can tell */
	for (int i = 0; i < c->count; i++)
		ask_quiet(c, &c->gens[i], now_us);
	for (int i = 0; i < c->count; i++) {
		struct generation *g = &c->gens[i];
		int before = c->count;
		if (g->state != GEN_SERVING && !g->killed && now_us >= g->deadline_us)
			fire(c, g, EV_DEADLINE, 0);
		if (c->count < before)
			i--; /* g was forgotten: another record took its place */
	}
	if (c->stable_at_us && now_us >= c->stable_at_us) {
		c->stable_at_us = 0;
		if (core_in_state(c, GEN_SERVING)) {
			c->backoff_ms = 0;
			say(c, "served for %lld ms since the last restart: restart "
			       "back-off reset", (long long)c->config.stable_after_ms);
		}
	}
	if (c->respawn_at_us && now_us >= c->respawn_at_us)
		respawn(c);
	if (c->restart_at_us && now_us >= c->restart_at_us) {
		char why[256];
		c->restart_at_us = 0;
		if (launch(c, CAUSE_RESTART, why, sizeof why) < 0) {
			finish_start(c, CAUSE_RESTART, 0, why);
			c->restart_at_us = now_us + c->backoff_ms * 1000;
		}
	}
	if (!c->stopping && !c->count && !c->restart_at_us) {
		say(c, "no generation left and none to restart: stopping");
		c->exit_code = 1;
		core_stop(c);
	}
}

/* --------------------------------------------------------------- questions */

int core_next_timeout_ms(const struct core *c)
{
	int64_t now_us = now_of(c);
	int64_t next = INT64_MAX;
	for (int i = 0; i < c->count; i++) {
		const struct generation *g = &c->gens[i];
		if ((g->exited || (!g->killed && g->state != GEN_SERVING)) &&
		    g->deadline_us < next)
			next = g->deadline_us;
	}
	if (c->restart_at_us && c->restart_at_us < next)
		next = c->restart_at_us;
	if (c->stable_at_us && c->stable_at_us < next)
		next = c->stable_at_us;
	if (c->respawn_at_us && c->respawn_at_us < next)
		next = c->respawn_at_us;
	if (next == INT64_MAX)
		return -1;
	int64_t ms = (next - now_us + 999) / 1000;
	/* An exited generation's group is polled: its last process may go at
	 * any time and tells us nothing. */
	for (int i = 0; i < c->count; i++) {
		if (c->gens[i].exited && ms > 100)
			ms = 100;
		if (c->gens[i].state == GEN_FINISHING && ms > QUIET_POLL_MS)
			ms = QUIET_POLL_MS;
	}
	return ms < 0 ? 0 : ms > 60000 ? 60000 : (int)ms;
}

int core_done(const struct core *c)
{
	return c->stopping && c->count == 0;
}
