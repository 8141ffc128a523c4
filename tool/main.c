/* main.c — `handoff`: run a server with zero-downtime reloads, or talk to
 * the supervisor that runs one. */
#include "client.h"
#include "options.h"
#include "supervisor.h"

#include <stdio.h>
#include <string.h>

static int usage(FILE *f)
{
	fputs("usage: handoff run [options] -l [NAME=]ADDR [-l ...] -- COMMAND [ARGS...]\n"
	      "       handoff reload|stop|status (--pidfile FILE | --control PATH) [--json]\n"
	      "\n"
	      "run     supervise COMMAND: it gets the listening sockets through LISTEN_FDS\n"
	      "        and is replaced without dropping a connection on every reload\n"
	      "reload  start a new generation; exits 0 once it serves, 1 with the reason\n"
	      "stop    stop gracefully\n"
	      "status  the supervisor, its listeners and generations\n"
	      "See handoff run --help for the options of run.\n",
	      f);
	return f == stderr ? 2 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr);
	const char *command = argv[1];
	if (strcmp(command, "--help") == 0 || strcmp(command, "help") == 0)
		return usage(stdout);
	if (strcmp(command, "run") == 0) {
		struct options opt;
		int r = options_parse(&opt, argc - 1, argv + 1);
		return r != 0 ? (r > 0 ? 0 : 2) : supervisor_run(&opt);
	}
	if (strcmp(command, "reload") == 0 || strcmp(command, "stop") == 0 ||
	    strcmp(command, "status") == 0)
		return client_main(argc - 1, argv + 1);
	fprintf(stderr, "handoff: unknown command %s\n", command);
	return usage(stderr);
}
