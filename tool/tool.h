/* tool.h — the handoff command: a supervisor whose pid never changes, that
 * owns the listening sockets and replaces the server process beneath it. */
#ifndef TOOL_H
#define TOOL_H

#include "internal.h"

#include <stdint.h>
#include <sys/types.h>

#define MAX_LISTENERS 1024
#define MAX_GENERATIONS 64    /* starting + serving + draining */
#define MAX_CLIENTS 16        /* control connections at once */

enum restart_policy { RESTART_ALWAYS, RESTART_ON_FAILURE, RESTART_NEVER };

struct options {
	const char *listen[MAX_LISTENERS]; /* [NAME=]ADDR */
	int listen_count;
	char **command;                    /* argv of the server */
	int64_t ready_delay_ms;            /* 0: wait for READY=1 */
	int64_t ready_timeout_ms;
	int64_t drain_timeout_ms;
	int64_t stable_after_ms;           /* healthy this long: back-off reset */
	int stop_signal;
	enum restart_policy restart;
	int daemon;
	const char *pidfile;
	const char *log;
	const char *control;               /* extra control socket path */
	const char *user, *group;
	const char *directory;
	int umask;                         /* -1: inherit */
	const char *env_file;
};

enum generation_state { GEN_STARTING, GEN_READY, GEN_DRAINING };

struct generation {
	unsigned number;
	pid_t pid;
	enum generation_state state;
	int64_t started_us;
	int64_t deadline_us;               /* ready, or drain, deadline */
	int killed;                        /* SIGKILL sent to its group */
	int exited;                        /* its main process is gone; the
					      record waits for the rest of
					      its group, until the deadline */
	char status[128];                  /* its last STATUS= */
};

struct control_client {
	int fd;
	int waits_for_reload;
};

struct supervisor {
	const struct options *opt;
	struct handoff *listeners;         /* bound or socket-activated */
	struct generation gens[MAX_GENERATIONS];
	int gen_count;
	unsigned next_number;
	int epoll_fd, signal_fd, notify_fd, control_fd, control_path_fd;
	char notify_name[108];             /* "@handoff-<pid>-notify" */
	struct control_client clients[MAX_CLIENTS];
	int stopping;                      /* 1: graceful, 2: killing */
	int ever_ready;                    /* a generation has served */
	int64_t started_us;
	int64_t restart_at_us;             /* 0: none scheduled */
	int64_t backoff_ms;                /* the last restart's delay; 0: none
					      since the service was healthy */
	int64_t stable_at_us;              /* serving again since a restart: the
					      back-off resets at this time */
	int report_fd;                     /* daemon: tells the waiting parent */
	int pidfile_fd;
	int drop_privileges;
	uid_t uid;
	gid_t gid;
	char last_reload[256];             /* "ok: ..." or "failed: ..." */
	int exit_code;
};

/* main.c */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
extern char last_said[256]; /* the last line say() wrote, without prefix */
int64_t now_us(void);

/* options.c */
int parse_run_options(struct options *opt, int argc, char **argv);
int parse_duration_ms(const char *text, int64_t *ms);
const char *split_listen_spec(const char *spec, char *name, size_t size);
void run_usage(void);

/* supervisor.c */
int watch(struct supervisor *s, int fd);
int supervise(struct supervisor *s, const struct options *opt);
int reload(struct supervisor *s);
void begin_stop(struct supervisor *s);
struct generation *serving_generation(struct supervisor *s);
struct generation *starting_generation(struct supervisor *s);
const char *state_name(enum generation_state state);

/* notify_in.c: what the generations tell us */
int notify_open(struct supervisor *s);
void notify_receive(struct supervisor *s);
void generation_ready(struct supervisor *s, struct generation *g);
void systemd_status(struct supervisor *s);             /* STATUS= only */
void systemd_notify_status(struct supervisor *s, int ready); /* + READY=1 */

/* control.c */
int control_open(struct supervisor *s);
void control_accept(struct supervisor *s, int listen_fd);
void control_readable(struct supervisor *s, int fd);
void control_reload_done(struct supervisor *s, int ok, const char *message);
void control_close_all(struct supervisor *s);
int control_command(int argc, char **argv);

/* status.c */
void status_text(struct supervisor *s, char *buf, size_t size, int json);

/* daemon.c */
int daemonize(struct supervisor *s);
void daemon_report(struct supervisor *s, int ok, const char *message);
int reopen_log(const char *path);

#endif
