/* endpoint.h — Unix sockets at a path in the filesystem, where the
 * permissions of the file and of its directory say who may connect. (An
 * abstract name can be reached, flooded or taken first by anyone.) */
#ifndef TOOL_ENDPOINT_H
#define TOOL_ENDPOINT_H

#include <sys/types.h>
#include <sys/un.h>

struct endpoint {
	int fd;                      /* -1: none */
	char path[sizeof ((struct sockaddr_un *)0)->sun_path];
	dev_t dev;                   /* the inode we bound, to remove only it */
	ino_t ino;
};

/* Binds a socket of type (SOCK_STREAM, which then listens, or SOCK_DGRAM)
 * at path, created with mode (no window with wider permissions). What is
 * already at path: a socket nobody answers on, of our own user, is
 * replaced; a live socket gives -EADDRINUSE; anything else -EEXIST. Also
 * -ENAMETOOLONG or the errno of socket/bind/listen. e->fd is close-on-exec
 * and non-blocking. */
int endpoint_bind(struct endpoint *e, const char *path, int type, mode_t mode);

/* Closes e->fd, and removes e->path if it still names the inode we bound.
 * Zero-valid when e->fd is -1. */
void endpoint_close(struct endpoint *e);

/* A connected stream socket to path (blocking, close-on-exec), or -errno. */
int endpoint_connect(const char *path);

#endif
