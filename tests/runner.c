/* runner.c — runs the tests, each in its own process with a timeout, and
 * speaks TAP (a plan "1..N", then "ok N - name" or "not ok N - name").
 *
 *   run-tests [--timeout-multiplier N] [--jobs N] [NAME...]
 *                             the tests whose name contains a NAME (all
 *                             without one); --timeout-multiplier scales
 *                             every time limit; --jobs runs up to N tests
 *                             at once (1 by default)
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
 * With --jobs N, N tests run at once, each in a slot of its own: a test
 * learns its slot from HANDOFF_TEST_SLOT (and the count from
 * HANDOFF_TEST_JOBS), and free_port() draws from that slot's share of the
 * port range, so two tests never pick the same port. Reports still come
 * out in the tests' order, each whole. A test that depends on the whole
 * machine (list.h's TESTS_ALONE) runs with no other beside it.
 *
 * The multiplier also comes from HANDOFF_TEST_TIMEOUT_MULTIPLIER, the jobs
 * from HANDOFF_TEST_JOBS; a build with AddressSanitizer defaults to a
 * multiplier of 3, since everything runs slower there. */
#include "harness.h"
#include "list.h"
#include "program.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
enum { TEST_COUNT = sizeof tests / sizeof tests[0], MAX_JOBS = 16 };

#define NAME(name) #name,
static const char *const alone[] = { TESTS_ALONE(NAME) };

static int runs_alone(const struct test *t)
{
	for (size_t i = 0; i < sizeof alone / sizeof alone[0]; i++)
		if (strcmp(alone[i], t->name) == 0)
			return 1;
	return 0;
}

/* A test being run: where it is, and what it has printed so far. */
struct slot {
	const struct test *test; /* NULL: the slot is free */
	int number;              /* its TAP number */
	pid_t pid;
	int pidfd;               /* -1 if the kernel has no pidfd_open */
	long start, deadline;
	int finished, status;
	long cpu_ms;             /* user + system time of it and what it reaped */
	FILE *output;
	char dir[PATH_BUFFER];
};

static void run_in_child(const struct slot *s, int slot, int jobs)
{
	if (dup2(fileno(s->output), 1) < 0 || dup2(fileno(s->output), 2) < 0)
		_exit(126);
	setvbuf(stdout, NULL, _IOLBF, 0);
	program_enter(s->dir);
	char number[16];
	snprintf(number, sizeof number, "%d", slot);
	setenv("HANDOFF_TEST_SLOT", number, 1);
	snprintf(number, sizeof number, "%d", jobs);
	setenv("HANDOFF_TEST_JOBS", number, 1);
	s->test->run();
	fflush(NULL);
	_exit(0);
}

/* Copies f from its current position to out, each line as a TAP comment:
 * the first head lines and the last tail lines, and how many in between
 * were left out. A failed test's message comes first and its logs after,
 * so a long log must not push the message out. */
static void print_comment_lines(FILE *f, long head, long tail, FILE *out)
{
	long lines = 0, line = 0;
	int c, at_start = 1;
	long start = ftell(f);
	while ((c = getc(f)) != EOF)
		lines += c == '\n';
	fseek(f, start, SEEK_SET);
	long skip = lines > head + tail ? lines - head - tail : 0;
	while ((c = getc(f)) != EOF) {
		if (skip && line == head) { /* the middle: left out */
			fprintf(out, "#   (%ld lines %s left out)\n", skip,
				head ? "in between" : "before these");
			for (long left = skip; left && c != EOF; c = getc(f))
				left -= c == '\n';
			skip = 0;
			if (c == EOF)
				break;
		}
		if (at_start)
			fputs("# ", out);
		putc(c == '\0' ? '?' : c, out);
		at_start = c == '\n';
		line += c == '\n';
	}
	if (!at_start)
		putc('\n', out);
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
static void print_work_files(const char *dir, FILE *out)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int shown = 0;
	while (d && (e = readdir(d)) && shown < 16) {
		char path[PATH_BUFFER + 256];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		struct stat st;
		if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode) || !is_text(path))
			continue;
		FILE *f = fopen(path, "re");
		if (!f)
			continue;
		fprintf(out, "# --- %s (%lld bytes):\n", e->d_name, (long long)st.st_size);
		print_comment_lines(f, 0, 40, out);
		fclose(f);
		shown++;
	}
	if (d)
		closedir(d);
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

static void start_test(struct slot *slots, int slot, int jobs,
		       const struct test *t, int number)
{
	struct slot *s = &slots[slot];
	*s = (struct slot){ .test = t, .number = number, .pidfd = -1 };
	snprintf(s->dir, sizeof s->dir, "/tmp/handoff-test.XXXXXX");
	if (!mkdtemp(s->dir))
		FAIL("mkdtemp: %s", strerror(errno));
	s->output = output_file();
	fflush(NULL);
	s->start = now_ms();
	s->deadline = deadline_after(t->timeout_s * 1000);
	s->pid = fork();
	if (s->pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (s->pid == 0) {
		for (int i = 0; i < jobs; i++) /* the other tests' */
			if (i != slot && slots[i].test) {
				fclose(slots[i].output);
				if (slots[i].pidfd >= 0)
					close(slots[i].pidfd);
			}
		run_in_child(s, slot, jobs);
	}
	setpgid(s->pid, s->pid);
	s->pidfd = (int)syscall(SYS_pidfd_open, s->pid, 0);
}

/* Reaps every child that has ended: the tests' own processes, and what the
 * runner adopted as a subreaper when a test's group was killed. The one
 * place that waits, so no test's status is ever taken by another wait. */
static void reap(struct slot *slots, int jobs)
{
	int status;
	struct rusage ru;
	for (pid_t pid; (pid = wait4(-1, &status, WNOHANG, &ru)) > 0;)
		for (int i = 0; i < jobs; i++)
			if (slots[i].test && slots[i].pid == pid) {
				slots[i].finished = 1;
				slots[i].status = status;
				slots[i].cpu_ms = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000L +
						  (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
			}
}

/* Sleeps until a test ends or the nearest deadline passes. */
static void wait_for_tests(struct slot *slots, int jobs)
{
	struct pollfd p[MAX_JOBS];
	int n = 0, polling = 0;
	long nearest = now_ms() + 60000;
	for (int i = 0; i < jobs; i++) {
		if (!slots[i].test)
			continue;
		if (slots[i].finished)
			return;
		if (slots[i].deadline < nearest)
			nearest = slots[i].deadline;
		if (slots[i].pidfd >= 0)
			p[n++] = (struct pollfd){ .fd = slots[i].pidfd, .events = POLLIN };
		else
			polling = 1; /* no pidfd: look again soon */
	}
	long left = nearest - now_ms();
	if (left < 0)
		left = 0;
	if (polling && left > 10)
		left = 10;
	poll(p, (nfds_t)n, (int)left);
}

/* Ends a finished or overrun test: kills what is left of its group, writes
 * its report (TAP line, output, the files it left if it failed) to a
 * string, removes its directory. Returns 1 passed, 0 failed, 2 skipped. */
static int finish_test(struct slot *s, struct slot *slots, int jobs,
		       char **report)
{
	int overran = !s->finished;
	if (overran) { /* killed, and reaped to leave no zombie */
		kill(-s->pid, SIGKILL);
		for (long until = now_ms() + 5000; !s->finished && now_ms() < until;) {
			reap(slots, jobs);
			if (!s->finished)
				pause_ms(1);
		}
	}
	long took = now_ms() - s->start;
	int status = s->status;
	int skipped = !overran && WIFEXITED(status) && WEXITSTATUS(status) == TEST_SKIPPED;
	int ok = skipped || (!overran && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	size_t size;
	FILE *out = open_memstream(report, &size);
	if (!out)
		FAIL("open_memstream: %s", strerror(errno));
	if (skipped)
		fprintf(out, "ok %d - %s # SKIP\n", s->number, s->test->name);
	else if (ok)
		fprintf(out, "ok %d - %s (%ld ms, cpu %ld ms)\n", s->number, s->test->name,
			took, s->cpu_ms);
	else
		fprintf(out, "not ok %d - %s\n", s->number, s->test->name);
	rewind(s->output);
	print_comment_lines(s->output, ok ? 0 : 100, ok ? 60 : 300, out);
	fclose(s->output);
	if (overran)
		fprintf(out, "# timed out after %d s\n", s->test->timeout_s * timeout_multiplier);
	else if (WIFSIGNALED(status))
		fprintf(out, "# killed by signal %d (%s)\n", WTERMSIG(status),
			strsignal(WTERMSIG(status)));
	if (!ok)
		print_work_files(s->dir, out);
	fclose(out);
	kill(-s->pid, SIGKILL); /* what the test left in its group */
	if (s->pidfd >= 0)
		close(s->pidfd);
	program_remove_dir(s->dir);
	s->test = NULL;
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

static int parse_number(const char *what, const char *text, int max)
{
	char *end;
	errno = 0;
	long n = text ? strtol(text, &end, 10) : 0;
	if (!text || errno || end == text || *end || n < 1 || n > max) {
		fprintf(stderr, "run-tests: %s must be a whole number from 1 to %d, "
				"not \"%s\"\n", what, max, text ? text : "");
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
	timeout_multiplier = env && *env ? parse_number("the timeout multiplier", env, 100)
					 : DEFAULT_MULTIPLIER;
	env = getenv("HANDOFF_TEST_JOBS");
	int jobs = env && *env ? parse_number("the number of jobs", env, MAX_JOBS) : 1;
	char **names = argv + 1;
	int name_count = argc - 1;
	/* Options first, each with its value (parse_number exits without). */
	for (; name_count >= 1; names += 2, name_count -= 2) {
		const char *value = name_count >= 2 ? names[1] : NULL;
		if (strcmp(names[0], "--timeout-multiplier") == 0)
			timeout_multiplier = parse_number("the timeout multiplier", value, 100);
		else if (strcmp(names[0], "--jobs") == 0 || strcmp(names[0], "-j") == 0)
			jobs = parse_number("the number of jobs", value, MAX_JOBS);
		else
			break;
	}
	static const struct test *planned[TEST_COUNT];
	static char *reports[TEST_COUNT];
	int count = 0;
	for (int i = 0; i < TEST_COUNT; i++)
		if (selected(tests[i].name, names, name_count))
			planned[count++] = &tests[i];
	printf("1..%d\n", count);
	if (timeout_multiplier != 1)
		printf("# time limits multiplied by %d\n", timeout_multiplier);
	if (jobs != 1)
		printf("# up to %d tests at once\n", jobs);
	struct slot slots[MAX_JOBS] = { 0 };
	int passed = 0, failed = 0, skipped = 0;
	int next = 0, printed = 0, running = 0, alone_running = 0;
	while (printed < count) {
		/* Start what may start: a test that runs alone waits for the
		 * others to end, and nothing starts beside it. */
		for (int i = 0; i < jobs && next < count && !alone_running; i++) {
			if (slots[i].test)
				continue;
			int is_alone = runs_alone(planned[next]);
			if (is_alone && running > 0)
				break;
			start_test(slots, i, jobs, planned[next], next + 1);
			next++;
			running++;
			alone_running = is_alone;
		}
		wait_for_tests(slots, jobs);
		reap(slots, jobs);
		for (int i = 0; i < jobs; i++) {
			struct slot *s = &slots[i];
			if (!s->test || (!s->finished && now_ms() < s->deadline))
				continue;
			int number = s->number;
			int r = finish_test(s, slots, jobs, &reports[number - 1]);
			passed += r == 1;
			failed += r == 0;
			skipped += r == 2;
			running--;
			alone_running = 0;
		}
		/* Reports in the tests' order, each as soon as those before it
		 * are out. */
		for (; printed < count && reports[printed]; printed++) {
			fputs(reports[printed], stdout);
			fflush(stdout);
			free(reports[printed]);
		}
	}
	if (skipped)
		printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
	else
		printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
