/* endpoint.c — path sockets that are ours, and only ours, to remove. */
#include "endpoint.h"
#include "internal.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int address_of(struct sockaddr_un *un, socklen_t *len, const char *path)
{
	size_t n = strlen(path);
	if (n == 0)
		return -EINVAL;
	if (n >= sizeof un->sun_path)
		return -ENAMETOOLONG;
	*un = (struct sockaddr_un){ .sun_family = AF_UNIX };
	memcpy(un->sun_path, path, n);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

/* 1 if something answers at path, 0 if nobody does, or -errno. */
static int answered(const struct sockaddr_un *un, socklen_t len, int type)
{
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	int r = connect(fd, (const struct sockaddr *)un, len);
	int e = errno;
	close(fd);
	if (r == 0 || e == EAGAIN || e == EINPROGRESS)
		return 1; /* EAGAIN: a live listener with a full queue */
	return e == ECONNREFUSED ? 0 : -e;
}

/* Makes room at path for a new socket, or says why not. */
static int clear_path(const struct sockaddr_un *un, socklen_t len, int type)
{
	struct stat st;
	if (lstat(un->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode) || st.st_uid != geteuid())
		return -EEXIST;
	int live = answered(un, len, type);
	if (live != 0)
		return live > 0 ? -EADDRINUSE : live;
	return unlink(un->sun_path) < 0 && errno != ENOENT ? -errno : 0;
}

int endpoint_bind(struct endpoint *e, const char *path, int type, mode_t mode)
{
	struct sockaddr_un un;
	socklen_t len;
	struct stat st;
	e->fd = -1;
	int r = address_of(&un, &len, path);
	if (r < 0 || (r = clear_path(&un, len, type)) < 0)
		return r;
	int fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	mode_t old = umask(0177); /* born 0600 at most: no wider window */
	r = bind(fd, (struct sockaddr *)&un, len);
	umask(old);
	if (r < 0 || (type == SOCK_STREAM && listen(fd, 64) < 0) ||
	    chmod(path, mode) < 0 || lstat(path, &st) < 0) {
		int bound = r == 0;
		r = -errno;
		close(fd);
		if (bound)
			unlink(path); /* ours, just bound: no socket file left behind */
		return r;
	}
	fd = ho_move_above_stdio(fd);
	if (fd < 0) {
		unlink(path); /* ours, just bound: no socket file left behind */
		return fd;
	}
	e->fd = fd;
	memcpy(e->path, un.sun_path, sizeof e->path);
	e->dev = st.st_dev;
	e->ino = st.st_ino;
	return 0;
}

void endpoint_close(struct endpoint *e)
{
	struct stat st;
	if (e->fd < 0)
		return;
	if (lstat(e->path, &st) == 0 && st.st_dev == e->dev && st.st_ino == e->ino)
		unlink(e->path);
	ho_close(&e->fd);
}

int endpoint_connect(const char *path)
{
	struct sockaddr_un un;
	socklen_t len;
	int r = address_of(&un, &len, path);
	if (r < 0)
		return r;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&un, len) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}
