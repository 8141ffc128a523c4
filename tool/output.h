/* output.h — the generations' stdout and stderr, through us to the log.
 *
 * With --log, generations write into a pipe that the supervisor drains
 * into its own log: when SIGUSR1 reopens the log after a rotation, the
 * generations' lines follow at once, the serving generation's too, without
 * telling it anything. Lines are copied whole, so that ours and theirs
 * never cut each other.
 *
 * The price: if the supervisor itself is killed (SIGKILL), the pipe has no
 * reader left, and a generation that writes to its output while it drains
 * gets SIGPIPE (EPIPE if it ignores it). Without --log, generations write
 * to the supervisor's own stdout and stderr directly. */
#ifndef TOOL_OUTPUT_H
#define TOOL_OUTPUT_H

#include "watch.h"

#include <stddef.h>

struct output {
	struct watch watch;        /* the read end; fd -1: none */
	int write_fd;              /* for the generations' 1 and 2 */
	char line[4096];           /* a line not yet complete */
	size_t length;
};

/* Zero state: nothing open. */
void output_init(struct output *o);
/* Creates the pipe and watches it. Returns 0 or -errno. */
int output_open(struct output *o, int epoll_fd);
/* Copies what is there now to our stdout; at_end: partial lines too. */
void output_drain(struct output *o, int at_end);
void output_close(struct output *o);
/* Across `reload --self`: the pipe output_open made, watched again. */
int output_restore(struct output *o, int epoll_fd, int read_fd, int write_fd);

#endif
