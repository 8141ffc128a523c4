/* environ.c — the protocol between generations, incoming side: systemd's
 * LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES plus our HANDOFF_FD and
 * HANDOFF_GENERATION. (The outgoing side is base/listen_env.c.)
 *
 * Reading is forgiving in the way sd_listen_fds(3) is: anything not meant
 * for this process, or malformed, means "nothing inherited", never a crash
 * and never a wrong descriptor adopted. The variables are removed once read
 * so that our own children do not mistake fd 3 for a socket. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct raw_environ {
	char *listen_pid, *listen_fds, *listen_fdnames;
	char *handoff_fd, *handoff_generation, *handoff_supervisor;
	char *handoff_channel_fd;
};

static char *take(const char *name, int *oom)
{
	const char *value = getenv(name);
	char *copy = value ? strdup(value) : NULL;
	if (value && !copy)
		*oom = 1;
	unsetenv(name);
	return copy;
}

static void raw_free(struct raw_environ *raw)
{
	free(raw->listen_pid);
	free(raw->listen_fds);
	free(raw->listen_fdnames);
	free(raw->handoff_fd);
	free(raw->handoff_generation);
	free(raw->handoff_supervisor);
	free(raw->handoff_channel_fd);
}

/* Counts the ':'-separated entries of names and checks each. */
static int names_valid(const char *names, size_t expected)
{
	size_t count = 1, length = 0;
	for (const char *p = names; *p; p++) {
		if (*p == ':') {
			count++;
			length = 0;
		} else if (++length > HANDOFF_NAME_MAX || *p < ' ' || *p > '~') {
			return 0;
		}
	}
	return count == expected;
}

static void warn(char *warning, size_t size, const char *what,
		 const char *value, const char *why)
{
	if (warning && !warning[0])
		snprintf(warning, size, "ignored %s=%.40s: %s", what,
			 value ? value : "", why);
}

/* The descriptors must exist. Each is made close-on-exec as it is checked,
 * one system call for both. If one is missing the variables are ignored,
 * and those before it keep the flag, as sd_listen_fds(3) leaves them: a
 * descriptor nobody adopts has no business in a child we exec, and taking
 * the flag off again could open up one the program set it on itself.
 * Non-sockets stay open but are never adopted (handoff_listen checks each
 * one it considers). */
static int take_fds(size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (ho_set_cloexec(HO_LISTEN_FDS_START + (int)i, 1) < 0)
			return 0;
	return 1;
}

/* Returns 1 if the variables were meant for us and are sound. */
static int take_listen_fds(struct ho_inherited *in, struct raw_environ *raw,
			   char *warning, size_t size)
{
	unsigned long pid, count;
	if (ho_parse_uint(raw->listen_pid, (unsigned long)INT32_MAX, &pid) < 0) {
		warn(warning, size, "LISTEN_PID", raw->listen_pid, "not a pid");
		return 0;
	}
	if ((pid_t)pid != getpid())
		return 0; /* meant for another process: not an error */
	if (ho_parse_uint(raw->listen_fds, HO_LISTEN_FDS_MAX, &count) < 0) {
		warn(warning, size, "LISTEN_FDS", raw->listen_fds,
		     "not a number in range");
		return 0;
	}
	if (!take_fds(count)) {
		warn(warning, size, "LISTEN_FDS", raw->listen_fds,
		     "descriptors are not open");
		return 0;
	}
	in->count = count;
	if (raw->listen_fdnames && names_valid(raw->listen_fdnames, count)) {
		in->names = raw->listen_fdnames;
		raw->listen_fdnames = NULL;
	} else if (raw->listen_fdnames) {
		warn(warning, size, "LISTEN_FDNAMES", raw->listen_fdnames,
		     "count or characters do not match LISTEN_FDS");
	}
	return 1;
}

/* HANDOFF_GENERATION may come from a supervisor too; HANDOFF_FD only from
 * a handoff parent, HANDOFF_CHANNEL_FD only from the supervisor; both
 * must lie past the listeners. Each channel is one end of a Unix
 * SOCK_SEQPACKET pair (ho_is_channel): anything else at that number (a
 * stray variable left in the environment, naming a file, /dev/null or
 * nothing) did not come from one, and is ignored like any other malformed
 * inherited value, never adopted. */
static void take_handoff(struct ho_inherited *in, struct raw_environ *raw,
			 char *warning, size_t size)
{
	unsigned long fd, generation;
	if (raw->handoff_generation &&
	    (ho_parse_uint(raw->handoff_generation, UINT32_MAX - 1, &generation) < 0 ||
	     generation < 1)) {
		warn(warning, size, "HANDOFF_GENERATION", raw->handoff_generation,
		     "not a generation number");
		return;
	}
	if (raw->handoff_fd &&
	    (ho_parse_uint(raw->handoff_fd, INT32_MAX, &fd) < 0 ||
	     fd < HO_LISTEN_FDS_START + in->count ||
	     ho_set_cloexec((int)fd, 1) < 0)) {
		warn(warning, size, "HANDOFF_FD", raw->handoff_fd, "bad descriptor");
		return;
	}
	if (raw->handoff_fd && !ho_is_channel((int)fd)) {
		warn(warning, size, "HANDOFF_FD", raw->handoff_fd,
		     "not a handoff channel");
		return;
	}
	if (raw->handoff_generation)
		in->generation = (unsigned)generation;
	if (raw->handoff_supervisor && strcmp(raw->handoff_supervisor, "1") == 0)
		in->supervised = 1;
	else if (raw->handoff_supervisor)
		warn(warning, size, "HANDOFF_SUPERVISOR", raw->handoff_supervisor,
		     "not 1");
	if (raw->handoff_fd)
		in->parent_fd = (int)fd;
	/* The supervisor's channel (supervised.c): a variable of its own, which
	 * a libhandoff older than it leaves alone rather than take it for a
	 * parent's channel. */
	unsigned long channel;
	if (!in->supervised || !raw->handoff_channel_fd)
		return;
	if (ho_parse_uint(raw->handoff_channel_fd, INT32_MAX, &channel) < 0 ||
	    channel < HO_LISTEN_FDS_START + in->count || (int)channel == in->parent_fd ||
	    ho_set_cloexec((int)channel, 1) < 0 || !ho_is_channel((int)channel))
		warn(warning, size, "HANDOFF_CHANNEL_FD", raw->handoff_channel_fd,
		     "not a channel from the supervisor");
	else
		in->supervisor_fd = (int)channel;
}

/* Fills *in from the environment and removes the variables from it.
 * warning (may be NULL) receives the first reason something was ignored.
 * Returns 0 or -ENOMEM. */
int ho_environ_take(struct ho_inherited *in, char *warning, size_t size)
{
	*in = (struct ho_inherited){ .parent_fd = -1, .supervisor_fd = -1, .generation = 1 };
	int oom = 0;
	struct raw_environ raw = {
		.listen_pid = take("LISTEN_PID", &oom),
		.listen_fds = take("LISTEN_FDS", &oom),
		.listen_fdnames = take("LISTEN_FDNAMES", &oom),
		.handoff_fd = take("HANDOFF_FD", &oom),
		.handoff_generation = take("HANDOFF_GENERATION", &oom),
		.handoff_supervisor = take("HANDOFF_SUPERVISOR", &oom),
		.handoff_channel_fd = take("HANDOFF_CHANNEL_FD", &oom),
	};
	/* HANDOFF_FD is only believed together with a LISTEN_PID naming us. */
	if (!oom && (raw.listen_pid || raw.listen_fds) &&
	    take_listen_fds(in, &raw, warning, size))
		take_handoff(in, &raw, warning, size);
	raw_free(&raw);
	return oom ? -ENOMEM : 0;
}
