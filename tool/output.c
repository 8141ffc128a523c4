/* output.c — a pipe from the generations to the log. */
#include "output.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

static void on_readable(struct watch *w, uint32_t events)
{
	(void)events;
	output_drain(CONTAINER_OF(w, struct output, watch), 0);
}

void output_init(struct output *o)
{
	*o = (struct output){ .watch = { .fd = -1, .ready = on_readable }, .write_fd = -1 };
}

int output_open(struct output *o, int epoll_fd)
{
	int p[2];
	output_init(o);
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	int r = 0;
	if ((p[0] = ho_move_above_stdio(p[0])) < 0 || (p[1] = ho_move_above_stdio(p[1])) < 0)
		r = p[0] < 0 ? p[0] : p[1];
	/* Only our end is non-blocking: theirs behaves like any stdout. */
	else if (fcntl(p[0], F_SETFL, O_NONBLOCK) < 0)
		r = -errno;
	o->watch.fd = p[0];
	o->write_fd = p[1];
	if (r == 0 && watch_set(epoll_fd, EPOLL_CTL_ADD, &o->watch, EPOLLIN) < 0)
		r = -errno;
	if (r < 0)
		output_close(o);
	return r;
}

static void flush_lines(struct output *o, int all)
{
	char *end = all ? o->line + o->length : memrchr(o->line, '\n', o->length);
	if (!end)
		return;
	size_t n = (size_t)(end - o->line) + (all ? 0 : 1);
	ho_write_all(1, o->line, n); /* our stdout is the log */
	memmove(o->line, o->line + n, o->length - n);
	o->length -= n;
}

void output_drain(struct output *o, int at_end)
{
	/* A bounded amount per wake-up: a chatty server must not starve
	 * the supervisor's other work. */
	for (int rounds = 0; rounds < 16 && o->watch.fd >= 0; rounds++) {
		ssize_t n = ho_read(o->watch.fd, o->line + o->length, sizeof o->line - o->length);
		if (n <= 0)
			break;
		o->length += (size_t)n;
		/* A line longer than the buffer goes out in pieces. */
		flush_lines(o, o->length == sizeof o->line);
	}
	if (at_end)
		flush_lines(o, 1);
}

void output_close(struct output *o)
{
	ho_close(&o->watch.fd); /* also leaves the epoll set */
	ho_close(&o->write_fd);
	o->length = 0;
}

int output_restore(struct output *o, int epoll_fd, int read_fd, int write_fd)
{
	output_init(o);
	o->watch.fd = read_fd;
	o->write_fd = write_fd;
	if (ho_set_cloexec(read_fd, 1) < 0 || ho_set_cloexec(write_fd, 1) < 0 ||
	    watch_set(epoll_fd, EPOLL_CTL_ADD, &o->watch, EPOLLIN) < 0)
		return -errno;
	return 0;
}
