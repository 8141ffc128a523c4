/* main.c — `handoff`: run a server with zero-downtime reloads, or talk to
 * the supervisor that runs one. */
#include "tool.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

char last_said[256];

/* One write() per line: the log may be shared with the generations. */
void say(const char *fmt, ...)
{
	char line[1024];
	int n = snprintf(line, sizeof line, "handoff[%d]: ", (int)getpid());
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	snprintf(last_said, sizeof last_said, "%s", line + n);
	n += m < 0 ? 0 : m > (int)sizeof line - n - 2 ? (int)sizeof line - n - 2 : m;
	line[n++] = '\n';
	ho_write_all(2, line, (size_t)n);
}

int64_t now_us(void)
{
	return ho_now_us();
}

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
		int r = parse_run_options(&opt, argc - 1, argv + 1);
		if (r != 0)
			return r > 0 ? 0 : 2;
		static struct supervisor s;
		return supervise(&s, &opt);
	}
	if (strcmp(command, "reload") == 0 || strcmp(command, "stop") == 0 ||
	    strcmp(command, "status") == 0)
		return control_command(argc - 1, argv + 1);
	fprintf(stderr, "handoff: unknown command %s\n", command);
	return usage(stderr);
}
