/* quiet.c — what a generation still holds.
 *
 * A connection is a socket inode in the kernel's TCP table (sock_diag(7),
 * asked for the states that hold a client) and a "socket:[inode]" link
 * under /proc/PID/fd of whoever holds it: the group's sockets are
 * gathered first (few, for a server that has answered everything), then
 * the table is read once, and the first busy row ends the search. The
 * group's processes are found from our children down (/proc/PID/task/TID/
 * children), so the cost is the generation's size, not the host's.
 * Bounded: the table by its rows, the processes and their depth by
 * constants; past a bound, or where the kernel does not list children,
 * nothing can be told and the generation drains at once. */
#include "quiet.h"
#include "internal.h"
#include "proc.h"

#include <dirent.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

enum { TCP_ROWS_MAX = 4 << 20, FDS_MAX = 1 << 20, PROCESSES_MAX = 4096,
       TREE_DEPTH_MAX = 32, CHILDREN_MAX = 256, OUR_CHILDREN_MAX = 1024 };


int quiet_queue_length(int fd)
{
	struct tcp_info info;
	socklen_t n = sizeof info;
	memset(&info, 0, sizeof info);
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &n) < 0)
		return -errno;
	if (info.tcpi_state != TCP_LISTEN)
		return -EINVAL;
	return (int)info.tcpi_unacked; /* on a listener: its accept queue */
}

struct inodes {
	unsigned long *v;
	size_t count, cap;
};

static int add_inode(struct inodes *s, unsigned long inode)
{
	if (s->count == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		unsigned long *grown = cap > FDS_MAX ? NULL : realloc(s->v, cap * sizeof *grown);
		if (!grown)
			return -ENOMEM;
		s->v = grown;
		s->cap = cap;
	}
	s->v[s->count++] = inode;
	return 0;
}

static int has_inode(const struct inodes *s, unsigned long inode)
{
	for (size_t i = 0; i < s->count; i++)
		if (s->v[i] == inode)
			return 1;
	return 0;
}

/* The socket inodes among pid's descriptors. */
static int gather_sockets(pid_t pid, struct inodes *s)
{
	char path[32];
	snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return 0; /* gone meanwhile: it holds nothing */
	struct dirent *e;
	int r = 0;
	while (r == 0 && (e = readdir(d))) {
		char link[320], target[64];
		if (e->d_name[0] == '.')
			continue;
		snprintf(link, sizeof link, "%s/%s", path, e->d_name);
		ssize_t n = readlink(link, target, sizeof target - 1);
		unsigned long inode;
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (sscanf(target, "socket:[%lu]", &inode) == 1)
			r = add_inode(s, inode);
	}
	closedir(d);
	return r;
}

/* The children of pid's every thread, into out: their count (0 for a
 * process gone meanwhile), -E2BIG past max, -ENOTSUP where the kernel
 * does not list them (CONFIG_PROC_CHILDREN, asked once). */
static int children_of(pid_t pid, pid_t *out, int max)
{
	static int listed = -1;
	if (listed < 0)
		listed = access("/proc/thread-self/children", R_OK) == 0;
	if (!listed)
		return -ENOTSUP;
	char path[48];
	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	struct dirent *e;
	int n = 0;
	while (n >= 0 && (e = readdir(d))) {
		char what[64];
		static char list[16384]; /* parsed before the next read */
		if (e->d_name[0] == '.')
			continue;
		snprintf(what, sizeof what, "task/%.20s/children", e->d_name);
		ssize_t length = proc_read(pid, what, list, sizeof list);
		if (length >= (ssize_t)sizeof list - 1)
			n = -E2BIG; /* cut short: some children unseen */
		for (char *p = list, *end; n >= 0 && length > 0; p = end) {
			long child = strtol(p, &end, 10);
			if (end == p)
				break;
			if (n == max)
				n = -E2BIG;
			else
				out[n++] = (pid_t)child;
		}
	}
	closedir(d);
	return n;
}

/* Under pid (one of ours, or below), the processes of group: their sockets
 * into s. What it costs is the size of the tree, not of the host. Where a
 * part of the tree cannot be seen, nothing can be told (-errno): the
 * generation then drains at once. */
static int gather_tree(pid_t pid, pid_t group, struct inodes *s, int *budget,
		       int depth)
{
	struct proc_stat st;
	pid_t children[CHILDREN_MAX];
	if (--*budget < 0 || depth > TREE_DEPTH_MAX)
		return -E2BIG;
	if (proc_stat(pid, &st) < 0)
		return 0; /* gone meanwhile */
	int r = st.group == group ? gather_sockets(pid, s) : 0;
	int n = r < 0 ? r : children_of(pid, children, CHILDREN_MAX);
	for (int i = 0; i < n && r == 0; i++)
		r = gather_tree(children[i], group, s, budget, depth + 1);
	return n < 0 ? n : r;
}

/* The group's processes are our children (a generation, or what was
 * reparented to us) and what runs under them. */
static int gather_group(pid_t group, struct inodes *s)
{
	pid_t ours[OUR_CHILDREN_MAX];
	int budget = PROCESSES_MAX, n = children_of(getpid(), ours, OUR_CHILDREN_MAX), r = 0;
	for (int i = 0; r == 0 && i < n; i++) {
		struct proc_stat st;
		if (proc_stat(ours[i], &st) == 0 && st.group == group)
			r = gather_tree(ours[i], group, s, &budget, 0);
	}
	return n < 0 ? n : r;
}

static int port_held(unsigned port, const uint16_t *ports, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (ports[i] == port)
			return 1;
	return 0;
}

/* One row of the dump: busy if it is a connection of ours to a held port,
 * or a handshake to one (no inode nor owner yet: it may become ours). */
static int row_busy(const struct inet_diag_msg *m, const struct inodes *s,
		    const uint16_t *ports, size_t count)
{
	if (!port_held(ntohs(m->id.idiag_sport), ports, count))
		return 0;
	return m->idiag_state == TCP_SYN_RECV || has_inode(s, m->idiag_inode);
}

/* The kernel's table of TCP sockets of one family, in the states that
 * hold a client (sock_diag(7)): TIME_WAIT rows, which a busy server has by
 * the ten thousand, are never read. 1 if a row is busy, 0 if none. */
static int dump_busy(int family, const struct inodes *s, const uint16_t *ports,
		     size_t count)
{
	int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		return -errno;
	struct {
		struct nlmsghdr h;
		struct inet_diag_req_v2 r;
	} req = {
		.h = { .nlmsg_len = sizeof req, .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		       .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP },
		.r = { .sdiag_family = (uint8_t)family, .sdiag_protocol = IPPROTO_TCP,
		       .idiag_states = (1u << TCP_ESTABLISHED) | (1u << TCP_CLOSE_WAIT) |
				       (1u << TCP_SYN_RECV) },
	};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct timeval bound = { .tv_sec = 1 }; /* the kernel answers at once */
	int busy = 0, done = 0;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound) < 0 ||
	    sendto(fd, &req, sizeof req, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
		busy = -errno;
	static long buf[8192 / sizeof(long)]; /* aligned for nlmsghdr */
	for (long rows = 0; !busy && !done && rows < TCP_ROWS_MAX;) {
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			busy = n < 0 ? -errno : -EIO;
			break;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n) && !busy;
		     h = NLMSG_NEXT(h, n), rows++) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = 1;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);
				busy = e->error < 0 ? e->error : -EIO;
				break;
			}
			if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg)))
				busy = row_busy(NLMSG_DATA(h), s, ports, count);
		}
	}
	close(fd);
	return busy;
}

int quiet_group_busy(pid_t group, const uint16_t *ports, size_t count)
{
	struct inodes s = { 0 };
	int r = group > 1 ? gather_group(group, &s) : -EINVAL;
	if (r == 0)
		r = dump_busy(AF_INET, &s, ports, count);
	if (r == 0)
		r = dump_busy(AF_INET6, &s, ports, count);
	free(s.v);
	return r;
}
