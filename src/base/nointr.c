/* nointr.c — system calls that a signal handler may interrupt, retried.
 *
 * Each wrapper restarts its call on EINTR, returns its result or a negative
 * errno, and, when it succeeds, leaves errno as the caller had it: an EINTR
 * met and retried on the way is not the caller's business, and code that
 * reports an earlier errno must not see it replaced. The calls that wait
 * take a timeout and restart with the time left, so a storm of signals
 * cannot stretch the wait. close() is not here: see ho_close(). */
#include "base.h"

#include <errno.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* The common end of every wrapper: n < 0 is a failure with errno set. */
static long finish(long n, int saved)
{
	if (n < 0)
		return -errno;
	errno = saved;
	return n;
}

ssize_t ho_read(int fd, void *buf, size_t size)
{
	int saved = errno;
	ssize_t n;
	do
		n = read(fd, buf, size);
	while (n < 0 && errno == EINTR);
	return finish(n, saved);
}

ssize_t ho_pread(int fd, void *buf, size_t size, off_t offset)
{
	int saved = errno;
	ssize_t n;
	do
		n = pread(fd, buf, size, offset);
	while (n < 0 && errno == EINTR);
	return finish(n, saved);
}

ssize_t ho_write_all(int fd, const void *buf, size_t size)
{
	int saved = errno;
	const char *p = buf;
	size_t left = size;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		left -= (size_t)n;
	}
	errno = saved;
	return (ssize_t)size;
}

ssize_t ho_recv(int fd, void *buf, size_t size, int flags)
{
	int saved = errno;
	ssize_t n;
	do
		n = recv(fd, buf, size, flags);
	while (n < 0 && errno == EINTR);
	return finish(n, saved);
}

ssize_t ho_send(int fd, const void *buf, size_t size, int flags)
{
	int saved = errno;
	ssize_t n;
	do
		n = send(fd, buf, size, flags);
	while (n < 0 && errno == EINTR);
	return finish(n, saved);
}

ssize_t ho_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	int saved = errno;
	ssize_t n;
	do
		n = sendmsg(fd, msg, flags);
	while (n < 0 && errno == EINTR);
	return finish(n, saved);
}

ssize_t ho_recvmsg(int fd, struct msghdr *msg, int flags)
{
	int saved = errno;
	ssize_t n;
	do
		n = recvmsg(fd, msg, flags);
	while (n < 0 && errno == EINTR);
	return finish(n, saved);
}

pid_t ho_waitpid(pid_t pid, int *status, int options)
{
	int saved = errno;
	pid_t r;
	do
		r = waitpid(pid, status, options);
	while (r < 0 && errno == EINTR);
	return (pid_t)finish(r, saved);
}

/* The time left of timeout_ms (-1: forever) started at start_us. */
static int time_left(int timeout_ms, int64_t start_us)
{
	if (timeout_ms < 0)
		return -1;
	int64_t left = timeout_ms - (ho_now_us() - start_us) / 1000;
	return left > 0 ? (int)left : 0;
}

int ho_epoll_wait(int epfd, struct epoll_event *events, int max, int timeout_ms)
{
	int saved = errno;
	int64_t start = ho_now_us();
	int n;
	do
		n = epoll_wait(epfd, events, max, time_left(timeout_ms, start));
	while (n < 0 && errno == EINTR);
	return (int)finish(n, saved);
}

int ho_poll(struct pollfd *fds, unsigned long count, int timeout_ms)
{
	int saved = errno;
	int64_t start = ho_now_us();
	int n;
	do
		n = poll(fds, (nfds_t)count, time_left(timeout_ms, start));
	while (n < 0 && errno == EINTR);
	return (int)finish(n, saved);
}
