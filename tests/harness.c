/* harness.c — paths, time, waits and files for the tests. The rest of
 * the harness: process.c, net.c, servers.c (one header, harness.h). */
#include "harness.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

char *path_join(const char *dir, const char *name)
{
	static char ring[8][PATH_BUFFER * 2];
	static int next;
	char *buf = ring[next++ % 8];
	snprintf(buf, sizeof ring[0], "%s/%s", dir, name);
	return buf;
}

char *bin_path(const char *name)
{
	return path_join(bin_dir, name);
}

char *work_path(const char *name)
{
	return path_join(work_dir, name);
}

long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

long deadline_after(int timeout_ms)
{
	return now_ms() + (long)timeout_ms * timeout_multiplier;
}

static const char *scaled_text(int ms, const char *unit)
{
	static char ring[8][32];
	static int next;
	char *buf = ring[next++ % 8];
	snprintf(buf, sizeof ring[0], "%ld%s", (long)ms * timeout_multiplier, unit);
	return buf;
}

const char *scaled_ms(int ms)
{
	return scaled_text(ms, "");
}

const char *scaled_duration(int ms)
{
	return scaled_text(ms, "ms");
}

void pause_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}


int wait_for(int (*cond)(void *), void *arg, int timeout_ms)
{
	long deadline = deadline_after(timeout_ms);
	for (;;) {
		if (cond(arg))
			return 1;
		if (now_ms() >= deadline)
			return 0;
		pause_ms(1);
	}
}


/* ---------------------------------------------------------------- files */

char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	if (!f)
		return NULL;
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	size_t n;
	while (buf && (n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (cap - len < 2)
			buf = realloc(buf, cap *= 2);
	}
	fclose(f);
	if (!buf)
		FAIL("out of memory");
	buf[len] = '\0';
	return buf;
}

const char *file_text(const char *path)
{
	char *text = read_file(path);
	return text ? text : "(no such file)";
}

int count_in_file(const char *path, const char *needle)
{
	char *text = read_file(path);
	int count = 0;
	for (char *p = text; p && (p = strstr(p, needle)); p += strlen(needle))
		count++;
	free(text);
	return count;
}

struct file_wait {
	const char *path, *needle;
	int count;
};

static int file_has(void *arg)
{
	struct file_wait *w = arg;
	return count_in_file(w->path, w->needle) >= w->count;
}

int wait_file_contains(const char *path, const char *needle, int count,
		       int timeout_ms)
{
	struct file_wait w = { path, needle, count };
	return wait_for(file_has, &w, timeout_ms);
}

void write_file(const char *path, const char *text, int mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		FAIL("write %s: %s", path, strerror(errno));
	fchmod(fd, (mode_t)mode);
	close(fd);
}

void write_file_atomic(const char *path, const char *text, int mode)
{
	char tmp[600];
	snprintf(tmp, sizeof tmp, "%s.new", path);
	write_file(tmp, text, mode);
	if (rename(tmp, path) < 0)
		FAIL("rename %s: %s", tmp, strerror(errno));
}

pid_t read_pid(const char *path)
{
	char *text = read_file(path);
	long pid = text ? strtol(text, NULL, 10) : 0;
	free(text);
	return pid > 0 ? (pid_t)pid : 0;
}


/* ------------------------------------------------ added for the supervisor */

char *source_path(const char *relative)
{
	char dir[PATH_BUFFER];
	snprintf(dir, sizeof dir, "%s", bin_dir);
	for (int up = 0; up < 4; up++) {
		if (access(path_join(dir, "Makefile"), F_OK) == 0)
			return path_join(dir, relative);
		char *slash = strrchr(dir, '/');
		if (!slash || slash == dir)
			break;
		*slash = '\0';
	}
	FAIL("no Makefile above %s: where is the repository?", bin_dir);
}


/* ------------------------------------------------ added for the benchmark */

long clock_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000L + ts.tv_nsec / 1000L;
}


static int compare_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;
	return (x > y) - (x < y);
}

long percentile(long *v, int n, int p)
{
	if (n <= 0)
		return 0;
	qsort(v, (size_t)n, sizeof *v, compare_long);
	int rank = (n * p + 99) / 100;
	return v[rank > 0 ? rank - 1 : 0];
}

