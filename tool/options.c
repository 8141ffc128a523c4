/* options.c — the command line of `handoff run`. Every bad value gets a
 * message naming it; nothing is started until all of them are good. */
#include "options.h"
#include "fdstore.h"
#include "internal.h"
#include "parse.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
	fputs("usage: handoff run [options] -l [NAME=]ADDR [-l ...] -- COMMAND [ARGS...]\n"
	      "  -l, --listen [NAME=]ADDR  a listening socket for the server (repeatable):\n"
	      "                            127.0.0.1:8080 [::1]:8080 *:8080 unix:/path @name\n"
	      "                            udp:ADDR unixgram:/path; taken from systemd socket\n"
	      "                            activation when it passed a match\n"
	      "  --ready=notify|listen|exec:CMD|delay:DUR\n"
	      "                            readiness: READY=1 over sd_notify (default);\n"
	      "                            listening on every listener (servers that\n"
	      "                            cannot say READY=1); CMD (sh -c) exits 0,\n"
	      "                            tried every 100ms; or alive after DUR\n"
	      "  --ready-timeout DUR       give up on a new generation after DUR (60s)\n"
	      "  --stop-signal SIG         sent to a generation being replaced (TERM)\n"
	      "  --drain-timeout DUR       then SIGKILL its process group after DUR (30s)\n"
	      "  --finish-timeout DUR      an adopting generation being replaced first\n"
	      "                            answers what it took, new clients going to its\n"
	      "                            successor, for at most DUR (1s; 0: not at all)\n"
	      "  --restart always|on-failure|never\n"
	      "                            when a serving generation dies (always)\n"
	      "  --daemon                  detach; return once the server is ready\n"
	      "  --pidfile FILE            the supervisor's pid, locked\n"
	      "  --log FILE                stdout and stderr (reopened on SIGUSR1)\n"
	      "  --control PATH            a control socket at PATH as well (mode 0600)\n"
	      "  --user USER, --group GROUP  run the server as them\n"
	      "  --chdir DIR, --umask MODE   for the server\n"
	      "  --env-file FILE           NAME=VALUE lines, re-read at every reload\n"
	      "  --max-draining N          refuse a reload while N generations drain (16)\n"
	      "  --workers N               a generation is N processes of the command, each\n"
	      "                            with HANDOFF_WORKER=0..N-1 (1; at most 16)\n"
	      "  --fdstore-max N           keep up to N descriptors the generations store\n"
	      "                            (sd_notify FDSTORE=1) for the next ones (0: off)\n"
	      "  --adopt, --no-adopt       a server that binds a --listen address itself\n"
	      "                            gets the held socket (seccomp; Linux 5.9).\n"
	      "                            Default: on where the kernel allows it\n"
	      "  --stable-after DUR        a service that has served this long is healthy:\n"
	      "                            the next crash restarts it at once (10s)\n"
	      "  --check-state FD          (for a self-upgrade, see handoff reload) read the state\n"
	      "                            a running supervisor passes at FD, check it and\n"
	      "                            exit: 0 if this binary can take over\n"
	      "DUR is 250ms, 2s, 1.5m or a number of milliseconds, at most 30 days.\n"
	      "A crash restarts the server after 100ms, doubling while it keeps failing\n"
	      "before --stable-after, up to 30s.\n"
	      "SIGHUP reloads, SIGTERM/SIGINT stop (twice: at once), SIGUSR1 reopens the log,\n"
	      "SIGPWR upgrades the supervisor in place (handoff reload --self).\n",
	      stdout);
}

/* DIGITS[.DIGITS][ms|s|m], at most DURATION_MAX_MS. Written out by hand
 * because strtod() also takes "nan", "inf", "-0", hex and exponents. */
static int bad(const char *option, const char *value, const char *why)
{
	fprintf(stderr, "handoff run: %s %s: %s (try handoff run --help)\n",
		option, value, why);
	return -EINVAL;
}

static int check_listen(const char *spec)
{
	struct handoff_address a;
	char name[HANDOFF_NAME_MAX + 2];
	const char *address = split_listen_spec(spec, name, sizeof name);
	if (address != spec && !ho_name_valid(name))
		return bad("--listen", spec, "bad name");
	if (handoff_address_parse(&a, address) < 0)
		return bad("--listen", spec, "bad address");
	return 0;
}

static int duration(const char *option, const char *value, int64_t *ms, int zero_ok)
{
	int r = parse_duration_ms(value, ms);
	if (r == -ERANGE)
		return bad(option, value, "too long (at most 30 days)");
	if (r < 0)
		return bad(option, value, "expected a duration: 250ms, 2s, 1.5m");
	return !zero_ok && *ms == 0 ? bad(option, value, "must be more than 0") : 0;
}

/* A whole number from min to max, of what the message names ("processes"). */
static int count(const char *option, const char *value, long min, long max,
		 const char *of_what, int *out)
{
	long n;
	if (parse_count(value, min, max, &n) < 0) {
		char why[96];
		snprintf(why, sizeof why, "expected a number of %s from %ld to %ld", of_what,
			 min, max);
		return bad(option, value, why);
	}
	*out = (int)n;
	return 0;
}

static int option_value(struct options *opt, int key, const char *value)
{
	switch (key) {
	case 'l':
		if (opt->listen_count == MAX_LISTENERS)
			return bad("--listen", value, "too many listeners");
		opt->listen[opt->listen_count++] = value;
		return check_listen(value);
	case 'r':
		opt->ready_on_listen = strcmp(value, "listen") == 0;
		opt->ready_command = NULL;
		opt->core.ready_delay_ms = 0;
		if (strcmp(value, "notify") == 0 || opt->ready_on_listen)
			return 0;
		if (strncmp(value, "exec:", 5) == 0) {
			opt->ready_command = value + 5;
			return value[5] ? 0 : bad("--ready", value, "exec: wants a command");
		}
		if (strncmp(value, "delay:", 6) != 0)
			return bad("--ready", value, "expected notify, listen, exec:CMD or delay:DUR");
		return duration("--ready", value + 6, &opt->core.ready_delay_ms, 0);
	case 'T':
		return duration("--ready-timeout", value, &opt->core.ready_timeout_ms, 0);
	case 'D':
		return duration("--drain-timeout", value, &opt->core.drain_timeout_ms, 1);
	case 'F':
		return duration("--finish-timeout", value, &opt->core.finish_timeout_ms, 1);
	case 'B':
		return duration("--stable-after", value, &opt->core.stable_after_ms, 1);
	case 'S':
		return parse_signal(value, &opt->core.stop_signal) < 0
			       ? bad("--stop-signal", value, "unknown signal")
			       : 0;
	case 'N':
		return count("--max-draining", value, 1, CORE_GENERATIONS_MAX - 2,
			     "draining generations", &opt->core.max_draining);
	case 'W':
		return count("--workers", value, 1, CORE_WORKERS_MAX, "processes",
			     &opt->core.workers);
	case 'X':
		return count("--fdstore-max", value, 0, FDSTORE_MAX, "descriptors",
			     &opt->fdstore_max);
	case 'R':
		if (strcmp(value, "always") == 0)
			opt->core.restart = RESTART_ALWAYS;
		else if (strcmp(value, "on-failure") == 0)
			opt->core.restart = RESTART_ON_FAILURE;
		else if (strcmp(value, "never") == 0)
			opt->core.restart = RESTART_NEVER;
		else
			return bad("--restart", value, "expected always, on-failure or never");
		return 0;
	case 'M': {
		char *end;
		long mode = strtol(value, &end, 8);
		if (*end || end == value || mode < 0 || mode > 0777)
			return bad("--umask", value, "expected an octal mode");
		opt->umask = (int)mode;
		return 0;
	}
	case 'p': opt->pidfile = value; return 0;
	case 'L': opt->log = value; return 0;
	case 'C': opt->control = value; return 0;
	case 'u': opt->user = value; return 0;
	case 'g': opt->group = value; return 0;
	case 'c': opt->directory = value; return 0;
	case 'E': opt->env_file = value; return 0;
	case 'K': {
		long fd;
		if (parse_count(value, 3, INT32_MAX, &fd) < 0)
			return bad("--check-state", value, "expected a descriptor number");
		opt->check_state_fd = (int)fd;
		return 0;
	}
	}
	return -EINVAL;
}

int options_parse(struct options *opt, int argc, char **argv)
{
	static const struct option longs[] = {
		{ "listen", required_argument, 0, 'l' },
		{ "ready", required_argument, 0, 'r' },
		{ "ready-timeout", required_argument, 0, 'T' },
		{ "drain-timeout", required_argument, 0, 'D' },
		{ "finish-timeout", required_argument, 0, 'F' },
		{ "stop-signal", required_argument, 0, 'S' },
		{ "restart", required_argument, 0, 'R' },
		{ "daemon", no_argument, 0, 'd' },
		{ "pidfile", required_argument, 0, 'p' },
		{ "log", required_argument, 0, 'L' },
		{ "control", required_argument, 0, 'C' },
		{ "user", required_argument, 0, 'u' },
		{ "group", required_argument, 0, 'g' },
		{ "chdir", required_argument, 0, 'c' },
		{ "umask", required_argument, 0, 'M' },
		{ "env-file", required_argument, 0, 'E' },
		{ "stable-after", required_argument, 0, 'B' },
		{ "max-draining", required_argument, 0, 'N' },
		{ "workers", required_argument, 0, 'W' },
		{ "fdstore-max", required_argument, 0, 'X' },
		{ "adopt", no_argument, 0, 'a' },
		{ "no-adopt", no_argument, 0, 'A' },
		{ "check-state", required_argument, 0, 'K' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	*opt = (struct options){
		.core = { .ready_timeout_ms = 60000, .drain_timeout_ms = 30000,
			  .finish_timeout_ms = 1000,
			  .stable_after_ms = 10000, .stop_signal = SIGTERM,
			  .max_draining = 16, .restart = RESTART_ALWAYS, .workers = 1 },
		.umask = -1, .run_argv = argv, .check_state_fd = -1,
	};
	optind = 1;
	opterr = 0;
	int key;
	while ((key = getopt_long(argc, argv, "+l:h", longs, NULL)) != -1) {
		if (key == 'h') {
			usage();
			return 1;
		}
		if (key == 'd' || key == 'a' || key == 'A') {
			if (key == 'd')
				opt->daemon = 1;
			else
				opt->adopt = key == 'a' ? ADOPT_ON : ADOPT_OFF;
			continue;
		}
		if (key == '?' || key == ':') {
			fprintf(stderr, "handoff run: %s: unknown option or missing value "
				"(try handoff run --help)\n", argv[optind - 1]);
			return -EINVAL;
		}
		if (option_value(opt, key, optarg) < 0)
			return -EINVAL;
	}
	if (optind >= argc) {
		fprintf(stderr, "handoff run: no COMMAND after -- (try handoff run --help)\n");
		return -EINVAL;
	}
	if (opt->listen_count == 0) {
		fprintf(stderr, "handoff run: no --listen address\n");
		return -EINVAL;
	}
	if (opt->ready_on_listen && opt->adopt == ADOPT_OFF) {
		fprintf(stderr, "handoff run: --ready=listen needs adoption: it sees the "
			"server's listen() (drop --no-adopt)\n");
		return -EINVAL;
	}
	opt->command = argv + optind;
	return 0;
}
