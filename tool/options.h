/* options.h — the command line of `handoff run`. */
#ifndef TOOL_OPTIONS_H
#define TOOL_OPTIONS_H

#include "core.h"

#define MAX_LISTENERS 1024

struct options {
	const char *listen[MAX_LISTENERS]; /* [NAME=]ADDR */
	int listen_count;
	char **command;                    /* argv of the server */
	struct core_config core;           /* timeouts, signals, restarts */
	int daemon;
	const char *pidfile;
	const char *log;
	const char *control;               /* extra control socket path */
	const char *user, *group;
	const char *directory;
	int umask;                         /* -1: inherit */
	const char *env_file;
	enum { ADOPT_AUTO, ADOPT_ON, ADOPT_OFF } adopt; /* the servers' own binds */
	int ready_on_listen;               /* --ready=listen */
	const char *ready_command;         /* --ready=exec:CMD */
	char **run_argv;                   /* "run" and every argument, as given:
					      what `reload --self` execs again */
	const char *program;               /* our argv[0] (set by main) */
	int check_state_fd;                /* --check-state FD; -1: not asked */
	int fdstore_max;                   /* --fdstore-max; 0: no fd store */
};

/* Returns 0, 1 after printing --help, or -EINVAL after printing why. */
int options_parse(struct options *opt, int argc, char **argv);

#endif
