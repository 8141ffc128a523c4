/* util.c — descriptor helpers, numbers, the clock. The EINTR wrappers
 * are in nointr.c. */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int ho_is_channel(int fd)
{
	int type = 0, domain = 0;
	socklen_t type_length = sizeof type, domain_length = sizeof domain;
	return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_length) == 0 &&
	       getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &domain_length) == 0 &&
	       type == SOCK_SEQPACKET && domain == AF_UNIX;
}

int ho_set_cloexec(int fd, int on)
{
	/* FD_CLOEXEC is the only descriptor flag Linux has, so there is none
	 * to read and keep first: one call, which matters a thousand times
	 * over for a thousand listeners. (F_SETFD takes FD_CLOEXEC; O_CLOEXEC
	 * is a different bit.) */
	return fcntl(fd, F_SETFD, on ? FD_CLOEXEC : 0) < 0 ? -errno : 0;
}

/* Keeps our descriptors out of 0-2 so that a closed stdio slot is never
 * silently reused by a socket (a later write to "stderr" would hit a client).
 * Returns the new fd (the old one is closed) or a negative errno. */
int ho_move_above_stdio(int fd)
{
	if (fd > 2)
		return fd;
	int moved = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	int saved = errno;
	close(fd);
	return moved < 0 ? -saved : moved;
}

/* close() is not retried on EINTR: on Linux the descriptor is gone either
 * way, and retrying could close one another thread just opened. */
void ho_close(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
		*fd = -1;
	}
}

/* Strict decimal: digits only, no sign, no spaces, no overflow, <= max. */
int ho_parse_uint(const char *text, unsigned long max, unsigned long *out)
{
	return text ? ho_parse_uint_n(text, strlen(text), max, out) : -EINVAL;
}

/* The same for the first length bytes of text (a word inside a message). */
int ho_parse_uint_n(const char *text, size_t length, unsigned long max,
		    unsigned long *out)
{
	unsigned long value = 0;
	if (length == 0)
		return -EINVAL;
	for (const char *p = text; p < text + length; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		unsigned digit = (unsigned)(*p - '0');
		/* digit > max first: max - digit would wrap (found by fuzz/cmdline) */
		if (digit > max || value > (max - digit) / 10)
			return -ERANGE;
		value = value * 10 + digit;
	}
	*out = value;
	return 0;
}

/* Writes value in decimal ending just before end; returns the first digit.
 * Async-signal-safe (used between fork and exec). */
char *ho_format_uint(char *end, unsigned long value)
{
	char *p = end;
	do {
		*--p = (char)('0' + value % 10);
		value /= 10;
	} while (value);
	return p;
}

int64_t ho_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
