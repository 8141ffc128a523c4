/* runner.c — runs the tests, each in its own process with a timeout.
 *
 *   run-tests                 every test
 *   run-tests NAME...         the tests whose name contains NAME
 *   run-tests --list          their names
 *   run-tests --helper H ARG  (internal) act as helper process H
 *   run-tests --demo          the demo of `make demo`
 *   run-tests --bench         the figures of `make bench`
 *
 * Each test is forked into a new process group, made a child subreaper (so
 * the generations a server spawns stay its children to reap), given a fresh
 * temporary directory, and killed with its whole group when it ends or
 * overruns. The last line is "N passed, N failed". */
#include "harness.h"
#include "list.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

char bin_dir[512];
char work_dir[512];
char self_exe[512];
int runner_argc;
char **runner_argv;

#define DECLARE(name, timeout) void test_##name(void);
TESTS(DECLARE)
#define DECLARE_HELPER(name) int helper_##name(const char *arg);
HELPERS(DECLARE_HELPER)
void demo(void);
void bench(void);

struct test {
	const char *name;
	void (*run)(void);
	int timeout_s;
};

#define ENTRY(name, timeout) { #name, test_##name, timeout },
static const struct test tests[] = { TESTS(ENTRY) };
enum { TEST_COUNT = sizeof tests / sizeof tests[0] };

static void locate_self(void)
{
	ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
	if (n <= 0)
		FAIL("readlink /proc/self/exe: %s", strerror(errno));
	self_exe[n] = '\0';
	/* build[/asan]/tests/run-tests -> build[/asan] */
	snprintf(bin_dir, sizeof bin_dir, "%s", self_exe);
	for (int i = 0; i < 2; i++)
		*strrchr(bin_dir, '/') = '\0';
}

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void run_in_child(const struct test *t)
{
	setpgid(0, 0);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (chdir(work_dir) < 0)
		FAIL("chdir %s: %s", work_dir, strerror(errno));
	t->run();
	fflush(NULL);
	_exit(0);
}

/* Kills whatever the test left in its group and reaps what was adopted. */
static void clean_up(pid_t group)
{
	kill(-group, SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	nftw(work_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int run_test(const struct test *t)
{
	snprintf(work_dir, sizeof work_dir, "/tmp/handoff-test.XXXXXX");
	if (!mkdtemp(work_dir))
		FAIL("mkdtemp: %s", strerror(errno));
	long start = now_ms();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0)
		run_in_child(t);
	setpgid(pid, pid);
	int status = 0;
	int finished = wait_exit(pid, t->timeout_s * 1000, &status);
	if (!finished) {
		/* Reap the test itself before clean_up() reaps "anything". */
		kill(-pid, SIGKILL);
		wait_exit(pid, 5000, &status);
	}
	clean_up(pid);
	if (!finished) {
		printf("not ok - %s: timed out after %d s\n", t->name, t->timeout_s);
		return 0;
	}
	int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (ok)
		printf("ok - %s (%ld ms)\n", t->name, now_ms() - start);
	else if (WIFSIGNALED(status))
		printf("not ok - %s: killed by signal %d\n", t->name, WTERMSIG(status));
	else
		printf("not ok - %s\n", t->name);
	fflush(stdout);
	return ok;
}

static int selected(const char *name, int argc, char **argv)
{
	if (argc < 2)
		return 1;
	for (int i = 1; i < argc; i++)
		if (strstr(name, argv[i]))
			return 1;
	return 0;
}

static int run_helper(const char *name, const char *arg)
{
#define CALL_HELPER(h)                    \
	if (strcmp(name, #h) == 0)        \
		return helper_##h(arg);
	HELPERS(CALL_HELPER)
	fprintf(stderr, "unknown helper %s\n", name);
	return 2;
}

/* The benchmark keeps its own 5-minute budget; the runner's limit leaves
 * room for installing nginx and HAProxy first on a fresh machine. */
static int run_alone(const char *name, void (*run)(void), int timeout_s)
{
	const struct test t = { name, run, timeout_s };
	return run_test(&t) ? 0 : 1;
}

int main(int argc, char **argv)
{
	runner_argc = argc;
	runner_argv = argv;
	locate_self();
	if (argc >= 3 && strcmp(argv[1], "--helper") == 0)
		return run_helper(argv[2], argc > 3 ? argv[3] : "");
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	signal(SIGPIPE, SIG_IGN);
	if (argc == 2 && strcmp(argv[1], "--demo") == 0)
		return run_alone("demo", demo, 300);
	if (argc == 2 && strcmp(argv[1], "--bench") == 0)
		return run_alone("bench", bench, 600);
	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (int i = 0; i < TEST_COUNT; i++)
			puts(tests[i].name);
		return 0;
	}
	int passed = 0, failed = 0;
	for (int i = 0; i < TEST_COUNT; i++) {
		if (!selected(tests[i].name, argc, argv))
			continue;
		if (run_test(&tests[i]))
			passed++;
		else
			failed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
