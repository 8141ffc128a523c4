/* program.c — the start common to the test runner, the demo and the
 * benchmark. */
#include "program.h"
#include "harness.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

char bin_dir[PATH_BUFFER];
char work_dir[PATH_BUFFER];
char self_exe[PATH_BUFFER];
int runner_argc;
char **runner_argv;
int timeout_multiplier = 1;

int helper_inherit(const char *spec);
int helper_server(const char *spec);
int helper_binder(const char *port);
int helper_daemon(const char *arg);
int helper_mover(const char *spec);
int helper_timed_bind(const char *address);

static int run_helper(const char *name, const char *arg)
{
	if (strcmp(name, "inherit") == 0)
		return helper_inherit(arg);
	if (strcmp(name, "server") == 0)
		return helper_server(arg);
	if (strcmp(name, "binder") == 0)
		return helper_binder(arg);
	if (strcmp(name, "daemon") == 0)
		return helper_daemon(arg);
	if (strcmp(name, "mover") == 0)
		return helper_mover(arg);
	if (strcmp(name, "timed-bind") == 0)
		return helper_timed_bind(arg);
	fprintf(stderr, "unknown helper %s\n", name);
	return 2;
}

void program_start(int argc, char **argv)
{
	runner_argc = argc;
	runner_argv = argv;
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
	if (n <= 0)
		FAIL("readlink /proc/self/exe: %s", strerror(errno));
	self_exe[n] = '\0';
	/* build[/asan]/<dir>/<program> -> build[/asan] */
	snprintf(bin_dir, sizeof bin_dir, "%s", self_exe);
	for (int i = 0; i < 2; i++)
		*strrchr(bin_dir, '/') = '\0';
	if (argc >= 3 && strcmp(argv[1], "--helper") == 0)
		exit(run_helper(argv[2], argc > 3 ? argv[3] : ""));
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

void program_remove_dir(const char *dir)
{
	nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void program_enter(const char *dir)
{
	setpgid(0, 0);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (dir != work_dir)
		snprintf(work_dir, PATH_BUFFER, "%s", dir);
	if (chdir(work_dir) < 0)
		FAIL("chdir %s: %s", work_dir, strerror(errno));
	/* A supervisor makes its private directory here (not in /tmp, where a
	 * SIGKILLed one would leave it); servers running as nobody must be
	 * able to pass through to their notify socket. */
	chmod(work_dir, 0711);
	setenv("XDG_RUNTIME_DIR", work_dir, 1);
}

int program_run_alone(const char *name, void (*work)(void), int timeout_s)
{
	snprintf(work_dir, sizeof work_dir, "/tmp/handoff-%s.XXXXXX", name);
	if (!mkdtemp(work_dir))
		FAIL("mkdtemp: %s", strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		program_enter(work_dir);
		work();
		fflush(NULL);
		_exit(0);
	}
	setpgid(pid, pid);
	int status = 0;
	int finished = wait_exit(pid, timeout_s * 1000, &status);
	if (!finished) {
		kill(-pid, SIGKILL);
		wait_exit(pid, 5000, &status);
		printf("%s: timed out after %d s\n", name, timeout_s);
	}
	kill(-pid, SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	program_remove_dir(work_dir);
	return finished && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
