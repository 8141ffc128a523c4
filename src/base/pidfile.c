/* pidfile.c — pid files that tell the truth.
 *
 * Written to a temporary file and renamed into place, so a reader never sees
 * a half-written pid. The temporary file has an unpredictable name and is
 * created with O_EXCL (mkostemp), so nobody can have put a file, a FIFO or
 * a symlink there first; it is removed on every failure.
 *
 * The writer holds a lock on the file through one dedicated descriptor for
 * as long as it lives: a live holder is judged by that lock, never by
 * kill(pid, 0), because pids get reused. The lock is an open file
 * description write lock (F_OFD_SETLK, F_WRLCK), which the kernel grants
 * only on a descriptor open for writing: the file is 0644, so only its
 * owner can take it. A stranger who can read the file can take a read lock
 * at most (an flock() would have worked on a read-only descriptor, and made
 * a dead service look alive); the holder's write lock refuses that, and
 * the liveness check asks about write locks only, so a read lock is never
 * mistaken for a holder. Removed only when the path still names the very
 * inode we wrote. */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* The holder's lock, taken before the file is readable by anyone else. */
static int lock_for_life(int fd)
{
	struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	return fcntl(fd, F_OFD_SETLK, &lock) < 0 ? -errno : 0;
}

/* 1 if some process holds the write lock on fd's file, 0 if none does, or
 * a negative errno. Asking with a read lock finds write locks only. */
static int write_locked(int fd)
{
	struct flock lock = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	if (fcntl(fd, F_OFD_GETLK, &lock) < 0)
		return -errno;
	return lock.l_type != F_UNLCK;
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
	if (r == 0)
		r = write_locked(fd);
	if (r == 1) {
		r = -EBUSY;
		read_pid(fd, holder);
	}
	close(fd);
	return r;
}

/* Locks, fills and publishes the temporary file: the lock comes first, and
 * only then is the file made readable (it was created 0600). */
static int fill_and_place(int fd, const char *tmp, const char *path, pid_t pid)
{
	char line[24];
	int len = snprintf(line, sizeof line, "%ld\n", (long)pid);
	int r = lock_for_life(fd);
	if (r < 0)
		return r;
	ssize_t w = ho_write_all(fd, line, (size_t)len);
	if (w < 0)
		return (int)w;
	if (fchmod(fd, 0644) < 0)
		return -errno;
	/* rename() replaces a symlink at path rather than following it. */
	return rename(tmp, path) < 0 ? -errno : 0;
}

/* Writes pid to path. Returns the descriptor holding the lock (keep it open
 * for the life of the process) or a negative errno; -ENOENT means the
 * directory is missing. */
int ho_pidfile_write(const char *path, pid_t pid)
{
	size_t size = strlen(path) + sizeof ".XXXXXX";
	char *tmp = malloc(size);
	if (!tmp)
		return -ENOMEM;
	snprintf(tmp, size, "%s.XXXXXX", path);
	int fd = mkostemp(tmp, O_CLOEXEC); /* O_EXCL, 0600, a random name */
	if (fd < 0) {
		int r = -errno;
		free(tmp);
		return r;
	}
	int r = fd = ho_move_above_stdio(fd);
	if (r >= 0)
		r = fill_and_place(fd, tmp, path, pid);
	if (r < 0) {
		unlink(tmp);
		if (fd >= 0)
			close(fd);
	}
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
