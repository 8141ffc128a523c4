/* main.c — `handoff`: run a server with zero-downtime reloads, or talk to
 * the supervisor that runs one. */
#include "client.h"
#include "handoff.h"
#include "options.h"
#include "supervisor.h"

#include <stdio.h>
#include <string.h>

static int usage(FILE *f)
{
	fputs("usage: handoff run [options] -l [NAME=]ADDR [-l ...] -- COMMAND [ARGS...]\n"
	      "       handoff reload|stop|status (--pidfile FILE | --control PATH)\n"
	      "               [--timeout DUR] [--json]\n"
	      "       handoff COMMAND --help | handoff --help | handoff --version\n"
	      "\n"
	      "run      supervise COMMAND: it gets the listening sockets through LISTEN_FDS\n"
	      "         and is replaced without dropping a connection on every reload\n"
	      "reload   start a new generation; exits 0 once it serves, 1 with the reason\n"
	      "stop     stop gracefully; exits 0 once the supervisor and every generation\n"
	      "         are gone, 3 if it had to have them killed after --timeout\n"
	      "status   the supervisor, its listeners and generations\n"
	      "version  print the version\n"
	      "See handoff COMMAND --help for the options of each.\n",
	      f);
	return f == stderr ? 2 : 0;
}

static int version(void)
{
	printf("handoff %s\n", handoff_version());
	return 0;
}

static int is_client_command(const char *command)
{
	return strcmp(command, "reload") == 0 || strcmp(command, "stop") == 0 ||
	       strcmp(command, "status") == 0;
}

/* program: how we were started (argv[0]), for `reload --self`. */
static int run(int argc, char **argv, const char *program)
{
	struct options opt;
	int r = options_parse(&opt, argc, argv);
	opt.program = program;
	return r != 0 ? (r > 0 ? 0 : 2) : supervisor_run(&opt);
}

/* `handoff help [COMMAND]`: the same as `handoff [COMMAND] --help`. */
static int help(const char *command)
{
	char *argv[] = { (char *)command, "--help", NULL };
	if (!command)
		return usage(stdout);
	if (strcmp(command, "run") == 0)
		return run(2, argv, NULL);
	if (is_client_command(command))
		return client_main(2, argv);
	fprintf(stderr, "handoff: unknown command %s\n", command);
	return usage(stderr);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr);
	const char *command = argv[1];
	if (strcmp(command, "--help") == 0 || strcmp(command, "-h") == 0 ||
	    strcmp(command, "help") == 0)
		return help(argc > 2 ? argv[2] : NULL);
	if (strcmp(command, "--version") == 0 || strcmp(command, "version") == 0)
		return version();
	if (strcmp(command, "run") == 0)
		return run(argc - 1, argv + 1, argv[0]);
	if (is_client_command(command))
		return client_main(argc - 1, argv + 1);
	fprintf(stderr, "handoff: unknown command %s\n", command);
	return usage(stderr);
}
