/* fd_pass.c — a message with one descriptor beside it (SCM_RIGHTS), on a
 * connected Unix socket: a filter's descriptor from a child to the
 * supervisor, a channel from the supervisor to a generation. Both are
 * async-signal-safe (the first runs between fork and exec): no allocation,
 * the control buffer on the stack. */
#include "base.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

union one_fd {
	struct cmsghdr align;
	char buf[CMSG_SPACE(sizeof(int))];
};

ssize_t ho_send_with_fd(int sock, const void *buf, size_t size, int fd, int flags)
{
	union one_fd control;
	memset(&control, 0, sizeof control);
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = size };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			      .msg_controllen = sizeof control.buf };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	return ho_sendmsg(sock, &msg, flags);
}

ssize_t ho_recv_with_fd(int sock, void *buf, size_t size, int *fd, int flags)
{
	union one_fd control;
	struct iovec iov = { .iov_base = buf, .iov_len = size };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
			      .msg_controllen = sizeof control.buf };
	*fd = -1;
	ssize_t n = ho_recvmsg(sock, &msg, flags);
	if (n < 0)
		return n;
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(int)))
		memcpy(fd, CMSG_DATA(c), sizeof *fd);
	if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
		if (*fd >= 0)
			close(*fd);
		*fd = -1;
		return -EMSGSIZE;
	}
	return n;
}
