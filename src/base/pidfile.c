/* pidfile.c — pid files that tell the truth.
 *
 * Written to a temporary file and renamed into place, so a reader never sees
 * a half-written pid. The writer holds an flock() on the file through one
 * dedicated descriptor for as long as it lives: a live holder is judged by
 * that lock, never by kill(pid, 0), because pids get reused. Removed only
 * when the path still names the very inode we wrote. */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static int read_pid(int fd, pid_t *pid)
{
	char buf[24];
	ssize_t n = ho_pread(fd, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return -EINVAL;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	unsigned long value;
	if (ho_parse_uint(buf, INT32_MAX, &value) < 0)
		return -EINVAL;
	*pid = (pid_t)value;
	return 0;
}

/* The pid file will be created next to path: say now if it cannot be. */
static int directory_writable(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	if (!slash)
		return access(".", W_OK) < 0 ? -errno : 0;
	snprintf(dir, sizeof dir, "%.*s", (int)(slash - path + (slash == path)), path);
	return access(dir, W_OK) < 0 ? -errno : 0;
}

/* Returns 0 if the path is free or stale, -EBUSY if a live process holds it
 * (*holder then names it, or 0 if unreadable), -ELOOP for a symlink, -EINVAL
 * for something that is not a regular file, -ENOENT or -EACCES if it could
 * not be created, or another negative errno. */
int ho_pidfile_check(const char *path, pid_t *holder)
{
	*holder = 0;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT)
		return directory_writable(path); /* free, if it can be written */
	if (fd < 0)
		return -errno;
	struct stat st;
	int r = fstat(fd, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : -EINVAL;
	if (r == 0 && flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (r == -EBUSY)
			read_pid(fd, holder);
	}
	close(fd);
	return r;
}

/* Writes pid to path. Returns the descriptor holding the lock (keep it open
 * for the life of the process) or a negative errno; -ENOENT means the
 * directory is missing. */
static int fill_and_place(int fd, const char *tmp, const char *path, pid_t pid)
{
	char line[24];
	int len = snprintf(line, sizeof line, "%ld\n", (long)pid);
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return -errno;
	ssize_t w = ho_write_all(fd, line, (size_t)len);
	if (w < 0)
		return (int)w;
	/* rename() replaces a symlink at path rather than following it. */
	return rename(tmp, path) < 0 ? -errno : 0;
}

int ho_pidfile_write(const char *path, pid_t pid)
{
	char *tmp;
	if (asprintf(&tmp, "%s.%ld.tmp", path, (long)pid) < 0)
		return -ENOMEM;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		      0644);
	int r = fd < 0 ? -errno : 0;
	int created = fd >= 0;
	if (r == 0)
		fd = r = ho_move_above_stdio(fd);
	if (r >= 0)
		r = fill_and_place(fd, tmp, path, pid);
	if (r < 0 && created)
		unlink(tmp);
	if (r < 0 && fd >= 0)
		close(fd);
	free(tmp);
	return r < 0 ? r : fd;
}

void ho_pidfile_remove(const char *path, int fd)
{
	struct stat ours, there;
	if (!path || fd < 0 || fstat(fd, &ours) < 0 || lstat(path, &there) < 0)
		return;
	if (ours.st_dev == there.st_dev && ours.st_ino == there.st_ino)
		unlink(path);
}
