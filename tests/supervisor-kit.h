/* supervisor-kit.h — what the tests of `handoff run` share.
 *
 * Every test calls locate() first: it also calls guard_descendants(), since
 * a daemonized supervisor (and the generations, each in its own process
 * group) escape the runner's group kill and must not outlive a failing
 * test. */
#ifndef SUPERVISOR_KIT_H
#define SUPERVISOR_KIT_H

#include "harness.h"

extern char handoff_bin[512], httpd_bin[512];
void locate(void);

/* What the last `handoff` command printed. */
struct said {
	char out[32768], err[8192];
};
extern struct said said;
/* Runs build/handoff ARGS...; returns its exit status, output in `said`. */
int handoff(char *const args[]);
void slurp(char *buf, size_t size, const char *path); /* a file, cut to size */

struct sup {
	pid_t pid;          /* the supervisor: our child, or an adopted daemon */
	int port;
	int daemon;
	char address[64];
	char pidfile[256], log[256];
};

/* argv of `handoff run [--daemon] --pidfile P OPTIONS -l ADDR -- COMMAND`. */
void run_argv(char **argv, int max, const struct sup *s, int daemon,
	      char *const options[], char *const command[]);
void sup_init(struct sup *s);           /* a free port, paths in work_dir */
/* A foreground supervisor, our child, logging to s->log; returns once its
 * first generation is ready. */
void sup_start(struct sup *s, char *const options[], char *const command[],
	       char *const env[]);
/* `handoff run --daemon ...`: its exit status; s->pid from the pid file. */
int sup_daemon(struct sup *s, char *const options[], char *const command[]);
/* SIGTERM (or `handoff stop`): exits 0, pid file gone, nothing left. */
void sup_stop(struct sup *s);
int control(const struct sup *s, const char *verb); /* handoff VERB --pidfile */

struct gen {
	unsigned number;
	pid_t pid;
	char state[16];
	int worker;         /* its HANDOFF_WORKER, with --workers */
};

/* status --json: every generation's process, each worker of one. */
int generations(const struct sup *s, struct gen *g, int max);
struct gen only_generation(const struct sup *s);   /* exactly one, ready */
struct gen wait_serving(const struct sup *s, unsigned number);
struct gen wait_one_ready(const struct sup *s);
/* Generation `number` (pid) answers on port within 10 s. */
int answers(int port, pid_t pid, unsigned number);
/* `handoff reload` exits 0 naming generation `number`; then waits until
 * `drained` generations in all have drained and exited 0. */
void reload_ok(const struct sup *s, unsigned number, int drained);
int refused(int port);                   /* a connect is refused */
void nothing_left(int port);             /* nothing running, nothing listening */
/* nothing_left(s->port), and s's pid file unlocked: a new supervisor can
 * start on both (after its supervisor was SIGKILLed, say). */
void nothing_holds(const struct sup *s);
/* For wait_for: */
int nothing_guarded_now(void *unused);   /* no process the test started is left */
int port_refuses(void *port);            /* int *: refused(*port) */
void install_httpd(const char *path, const struct sup *s); /* a script */
/* The same, but httpd starts only once the file go exists (30 s at most):
 * a reload that stays "starting" for as long as the test wants. */
void install_gated_httpd(const char *path, const struct sup *s, const char *go);
/* SIGTERM to our child supervisor, which must exit 0 (no other checks:
 * for supervisors started without sup_start's pid file). */
void sup_terminate(const struct sup *s);
const char *python(void);
void notify_path(const struct sup *s, char *out, size_t size);

#endif
