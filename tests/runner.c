/* runner.c — runs the tests, each in its own process with a timeout, and
 * speaks TAP (a plan "1..N", then "ok N - name" or "not ok N - name").
 *
 *   run-tests [--timeout-multiplier N] [NAME...]
 *                             the tests whose name contains a NAME (all
 *                             without one); N scales every time limit
 *   run-tests --list          their names
 *   run-tests --helper H ARG  (internal) act as helper process H
 *
 * Each test is forked into a new process group, made a child subreaper (so
 * the generations a server spawns stay its children to reap), given a fresh
 * temporary directory, and killed with its whole group when it ends or
 * overruns. What it prints is kept and shown afterwards as TAP comments;
 * when it fails, so is the end of every text file it left in its directory
 * (the servers' logs, the load client's report), so that a failure on CI
 * can be understood from the output alone. The last line is
 * "N passed, N failed".
 *
 * The multiplier also comes from HANDOFF_TEST_TIMEOUT_MULTIPLIER; a build
 * with AddressSanitizer defaults to 3, since everything runs slower there. */
#include "harness.h"
#include "list.h"
#include "program.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define DEFAULT_MULTIPLIER 3
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DEFAULT_MULTIPLIER 3
#endif
#endif
#ifndef DEFAULT_MULTIPLIER
#define DEFAULT_MULTIPLIER 1
#endif

#define DECLARE(name, timeout) void test_##name(void);
TESTS(DECLARE)

struct test {
	const char *name;
	void (*run)(void);
	int timeout_s;
};

#define ENTRY(name, timeout) { #name, test_##name, timeout },
static const struct test tests[] = { TESTS(ENTRY) };
enum { TEST_COUNT = sizeof tests / sizeof tests[0] };

static int remove_entry(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void run_in_child(const struct test *t, int output)
{
	setpgid(0, 0);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	if (dup2(output, 1) < 0 || dup2(output, 2) < 0)
		_exit(126);
	close(output);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (chdir(work_dir) < 0)
		FAIL("chdir %s: %s", work_dir, strerror(errno));
	/* A supervisor makes its private directory here (not in /tmp, where a
	 * SIGKILLed one would leave it); servers running as nobody must be
	 * able to pass through to their notify socket. */
	chmod(work_dir, 0711);
	setenv("XDG_RUNTIME_DIR", work_dir, 1);
	t->run();
	fflush(NULL);
	_exit(0);
}

/* Prints f from its current position, each line as a TAP comment; at most
 * the last max_lines lines. */
static void print_comment_lines(FILE *f, int max_lines)
{
	long lines = 0;
	int c, at_start = 1;
	long start = ftell(f);
	while ((c = getc(f)) != EOF)
		lines += c == '\n';
	fseek(f, start, SEEK_SET);
	long skip = lines > max_lines ? lines - max_lines : 0;
	if (skip)
		printf("#   (%ld lines before these left out)\n", skip);
	while (skip && (c = getc(f)) != EOF)
		skip -= c == '\n';
	while ((c = getc(f)) != EOF) {
		if (at_start)
			fputs("# ", stdout);
		putchar(c == '\0' ? '?' : c);
		at_start = c == '\n';
	}
	if (!at_start)
		putchar('\n');
}

static int is_text(const char *path)
{
	char buf[512];
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof buf);
	close(fd);
	return n > 0 && !memchr(buf, '\0', (size_t)n);
}

/* The end of every text file the failed test left in its directory. */
static void print_work_files(void)
{
	DIR *d = opendir(work_dir);
	struct dirent *e;
	int shown = 0;
	while (d && (e = readdir(d)) && shown < 16) {
		char *path = work_path(e->d_name);
		struct stat st;
		if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || !is_text(path))
			continue;
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		printf("# --- %s (%lld bytes):\n", e->d_name, (long long)st.st_size);
		print_comment_lines(f, 40);
		fclose(f);
		shown++;
	}
	if (d)
		closedir(d);
}

/* Kills whatever the test left in its group and reaps what was adopted. */
static void clean_up(pid_t group)
{
	kill(-group, SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	nftw(work_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static FILE *output_file(void)
{
	char path[] = "/tmp/handoff-test-output.XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		FAIL("mkostemp: %s", strerror(errno));
	unlink(path);
	FILE *f = fdopen(fd, "w+");
	if (!f)
		FAIL("fdopen: %s", strerror(errno));
	return f;
}

static int run_test(const struct test *t, int number)
{
	snprintf(work_dir, PATH_BUFFER, "/tmp/handoff-test.XXXXXX");
	if (!mkdtemp(work_dir))
		FAIL("mkdtemp: %s", strerror(errno));
	FILE *output = output_file();
	int timeout_s = t->timeout_s * timeout_multiplier;
	long start = now_ms();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0)
		run_in_child(t, fileno(output));
	setpgid(pid, pid);
	int status = 0;
	int finished = wait_exit(pid, t->timeout_s * 1000, &status); /* scaled */
	if (!finished) {
		/* Reap the test itself before clean_up() reaps "anything". */
		kill(-pid, SIGKILL);
		wait_exit(pid, 5000, &status);
	}
	long took = now_ms() - start;
	int skipped = finished && WIFEXITED(status) && WEXITSTATUS(status) == TEST_SKIPPED;
	int ok = skipped || (finished && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (skipped)
		printf("ok %d - %s # SKIP\n", number, t->name);
	else if (ok)
		printf("ok %d - %s (%ld ms)\n", number, t->name, took);
	else
		printf("not ok %d - %s\n", number, t->name);
	rewind(output);
	print_comment_lines(output, ok ? 60 : 400);
	fclose(output);
	if (!finished)
		printf("# timed out after %d s\n", timeout_s);
	else if (WIFSIGNALED(status))
		printf("# killed by signal %d (%s)\n", WTERMSIG(status),
		       strsignal(WTERMSIG(status)));
	if (!ok)
		print_work_files();
	fflush(stdout);
	clean_up(pid);
	return skipped ? 2 : ok;
}

static int selected(const char *name, char **names, int count)
{
	if (count == 0)
		return 1;
	for (int i = 0; i < count; i++)
		if (strstr(name, names[i]))
			return 1;
	return 0;
}

static int parse_multiplier(const char *text)
{
	char *end;
	errno = 0;
	long n = text ? strtol(text, &end, 10) : 0;
	if (!text || errno || end == text || *end || n < 1 || n > 100) {
		fprintf(stderr, "run-tests: the timeout multiplier must be a whole "
				"number from 1 to 100, not \"%s\"\n", text ? text : "");
		exit(2);
	}
	return (int)n;
}

int main(int argc, char **argv)
{
	program_start(argc, argv);
	if (argc == 2 && strcmp(argv[1], "--list") == 0) {
		for (int i = 0; i < TEST_COUNT; i++)
			puts(tests[i].name);
		return 0;
	}
	const char *env = getenv("HANDOFF_TEST_TIMEOUT_MULTIPLIER");
	timeout_multiplier = env && *env ? parse_multiplier(env) : DEFAULT_MULTIPLIER;
	char **names = argv + 1;
	int name_count = argc - 1;
	if (name_count >= 1 && strcmp(names[0], "--timeout-multiplier") == 0) {
		timeout_multiplier = parse_multiplier(name_count >= 2 ? names[1] : NULL);
		names += 2;
		name_count -= 2;
	}
	int planned = 0;
	for (int i = 0; i < TEST_COUNT; i++)
		planned += selected(tests[i].name, names, name_count);
	printf("1..%d\n", planned);
	if (timeout_multiplier != 1)
		printf("# time limits multiplied by %d\n", timeout_multiplier);
	int passed = 0, failed = 0, skipped = 0;
	for (int i = 0; i < TEST_COUNT; i++) {
		if (!selected(tests[i].name, names, name_count))
			continue;
		int r = run_test(&tests[i], passed + failed + skipped + 1);
		passed += r == 1;
		failed += r == 0;
		skipped += r == 2;
	}
	if (skipped)
		printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	else
		printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
