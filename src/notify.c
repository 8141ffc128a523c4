/* notify.c — the sd_notify(3) protocol, client side: one datagram to the
 * AF_UNIX socket named by $NOTIFY_SOCKET (a path, or "@name" for the
 * abstract namespace). The service manager learns our pid from the kernel's
 * credentials, so there is nothing to add. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* $NOTIFY_SOCKET: an absolute path, or "@name" in the abstract namespace,
 * read by the one parser of Unix addresses (address.c). */
static int notify_address(struct handoff_address *a)
{
	const char *name = getenv("NOTIFY_SOCKET");
	char text[sizeof "unixgram:" + sizeof a->u.un.sun_path];
	if (!name || !*name)
		return 0;
	if ((name[0] != '/' && name[0] != '@') ||
	    (size_t)snprintf(text, sizeof text, "unixgram:%s", name) >= sizeof text)
		return -EINVAL;
	return handoff_address_parse(a, text) < 0 ? -EINVAL : 1;
}

/* Sends state, with fd_to_pass attached when >= 0. Returns 1 if sent, 0 if
 * there is no NOTIFY_SOCKET, or a negative errno. */
int ho_notify_send(const char *state, int fd_to_pass)
{
	struct handoff_address a;
	int r = notify_address(&a);
	if (r <= 0)
		return r;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct iovec iov = { .iov_base = (void *)state, .iov_len = strlen(state) };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr msg = {
		.msg_name = &a.u.un, .msg_namelen = a.length,
		.msg_iov = &iov, .msg_iovlen = 1,
	};
	if (fd_to_pass >= 0) {
		memset(&control, 0, sizeof control);
		msg.msg_control = control.buf;
		msg.msg_controllen = sizeof control.buf;
		struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd_to_pass, sizeof(int));
	}
	/* Never block: a service manager that reads slowly must not stall the
	 * server's (or the supervisor's) event loop. A full queue loses this
	 * one message, and says so (-EAGAIN). */
	ssize_t n = ho_sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	ho_close(&fd);
	return n < 0 ? (int)n : 1;
}

/* The library's own notifications, unless the program speaks for itself. */
void ho_notify(const struct handoff *h, const char *state)
{
	if (!(h->config.flags & HANDOFF_NO_NOTIFY))
		handoff_notify(state);
}

int handoff_notify(const char *state)
{
	return state ? ho_notify_send(state, -1) : -EINVAL;
}

/* BARRIER=1 carries the write end of a pipe; the manager closes its copy
 * once it has processed every earlier message, and we see POLLHUP. */
int handoff_notify_barrier(const char *state, int timeout_ms)
{
	if (state) {
		int r = ho_notify_send(state, -1);
		if (r <= 0)
			return r;
	}
	int pipefd[2];
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	int r = ho_notify_send("BARRIER=1", pipefd[1]);
	close(pipefd[1]);
	if (r > 0) {
		struct pollfd p = { .fd = pipefd[0], .events = 0 };
		int n = ho_poll(&p, 1, timeout_ms > 0 ? timeout_ms : 0);
		r = n < 0 ? n : n == 0 ? -ETIMEDOUT : 1;
	}
	close(pipefd[0]);
	return r;
}
