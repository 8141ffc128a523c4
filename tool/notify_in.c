/* notify_in.c — what the generations tell us over sd_notify. */
#include "notify_in.h"
#include "follow.h"
#include "proc.h"
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* FDS_PER_MESSAGE: the kernel's SCM_MAX_FD, as many as one message holds. */
enum { MESSAGE_MAX = 4096, ANCESTRY_MAX = 32, MESSAGES_PER_WAKEUP = 64,
       FDS_PER_MESSAGE = 253 };

/* systemd's own directory for the service, then the user's, then /tmp. */
static const char *runtime_base(void)
{
	const char *candidates[] = { getenv("RUNTIME_DIRECTORY"),
				     getenv("XDG_RUNTIME_DIR"), "/tmp" };
	for (size_t i = 0; i < 2; i++) {
		const char *dir = candidates[i];
		/* RUNTIME_DIRECTORY may list several, ':'-separated: not ours. */
		if (dir && dir[0] == '/' && !strchr(dir, ':') && strlen(dir) < 64 &&
		    access(dir, W_OK | X_OK) == 0)
			return dir;
	}
	return "/tmp";
}

int notify_in_open(struct notify_in *n, uid_t owner, gid_t group, char *why,
		   size_t size)
{
	*n = (struct notify_in){ .socket.fd = -1 };
	char directory[96], path[128];
	snprintf(directory, sizeof directory, "%s/handoff.XXXXXX", runtime_base());
	if (!mkdtemp(directory)) {
		int e = errno;
		snprintf(why, size, "cannot create a directory for the notify socket "
			 "(%s): %s", directory, strerror(e));
		return -e;
	}
	snprintf(n->directory, sizeof n->directory, "%s", directory);
	snprintf(path, sizeof path, "%s/notify", directory);
	int other_user = owner != (uid_t)-1 && owner != geteuid();
	int r = endpoint_bind(&n->socket, path, SOCK_DGRAM, 0600);
	int one = 1;
	if (r == 0 && setsockopt(n->socket.fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0)
		r = -errno;
	/* Another user's generations: the socket is theirs to write to, and
	 * the directory only to pass through. */
	if (r == 0 && other_user &&
	    (chown(path, owner, group) < 0 || chmod(directory, 0711) < 0))
		r = -errno;
	if (r < 0) {
		snprintf(why, size, "cannot open the notify socket %s: %s", path,
			 strerror(-r));
		notify_in_close(n);
		return r;
	}
	return 0;
}

const char *notify_in_path(const struct notify_in *n)
{
	return n->socket.path;
}

void notify_in_close(struct notify_in *n)
{
	endpoint_close(&n->socket);
	if (n->directory[0])
		rmdir(n->directory);
	n->directory[0] = '\0';
}

void notify_parse(const char *message, size_t length, struct notify_fields *out)
{
	*out = (struct notify_fields){ .store.poll = 1 };
	const char *end = message + length;
	for (const char *line = message; line < end;) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			eol = end;
		size_t n = (size_t)(eol - line);
		if (n == 7 && memcmp(line, "READY=1", 7) == 0) {
			out->ready = 1;
		} else if (n == 16 && memcmp(line, "HANDOFF_RELOAD=1", 16) == 0) {
			out->reload = 1;
		} else if (n == 21 && memcmp(line, "HANDOFF_CONNECTIONS=1", 21) == 0) {
			out->connections = 1;
		} else if (n >= 7 && memcmp(line, "STATUS=", 7) == 0) {
			out->status = line + 7;
			out->status_length = n - 7;
		} else if (n == 9 && memcmp(line, "BARRIER=1", 9) == 0) {
			out->barrier = 1;
		} else if (n == 9 && memcmp(line, "FDSTORE=1", 9) == 0) {
			out->store.store = 1;
		} else if (n == 15 && memcmp(line, "FDSTOREREMOVE=1", 15) == 0) {
			out->store.remove = 1;
		} else if (n == 8 && memcmp(line, "FDPOLL=0", 8) == 0) {
			out->store.poll = 0;
		} else if (n >= 7 && memcmp(line, "FDNAME=", 7) == 0) {
			out->store.name = line + 7;
			out->store.name_length = n - 7;
		}
		/* Anything else (MAINPID, STOPPING, RELOADING, lines without '=')
		 * is ignored: the generation is the process we started. */
		line = eol + 1;
	}
}

static pid_t parent_of(pid_t pid)
{
	struct proc_stat st;
	return proc_stat(pid, &st) == 0 ? st.ppid : 0;
}

/* The generation whose process is pid or one of pid's ancestors. Reaching
 * ourselves means an orphan of ours (*orphan = 1): its generation may be
 * one whose followed process exited a moment ago. */
static struct generation *ancestor_generation(struct core *c, pid_t pid,
					      int *orphan)
{
	pid_t self = getpid();
	for (int depth = 0; pid > 1 && depth < ANCESTRY_MAX; depth++) {
		struct generation *g = core_find(c, pid);
		if (g)
			return g;
		pid = parent_of(pid);
		if (pid == self) {
			*orphan = 1;
			return NULL;
		}
	}
	return NULL;
}

static struct generation *sender_generation(struct notify_in *n, struct core *c,
					    pid_t pid)
{
	int orphan = 0;
	struct generation *g = ancestor_generation(c, pid, &orphan);
	if (!g && orphan && n->settle) {
		n->settle(n->settle_ctx);
		g = ancestor_generation(c, pid, &orphan);
	}
	/* A daemon's READY=1 may come while the process that started it has
	 * not exited yet, so nothing was followed to it: it is ours if it
	 * carries a live generation's marker (it is our child, so it descends
	 * from one of our generations; seen under ASan). */
	for (int i = 0; !g && orphan && i < c->count; i++)
		if (c->gens[i].state != GEN_DRAINING && follow_marked(pid, c->gens[i].number))
			g = &c->gens[i];
	return g;
}

/* A generation's words reach a terminal (status) and JSON: printable
 * ASCII and well-formed UTF-8 only, the rest becomes '?'. */
static void clean_text(char *out, size_t size, const char *in, size_t length)
{
	size_t o = 0;
	for (size_t i = 0; i < length && o + 1 < size;) {
		unsigned char ch = (unsigned char)in[i];
		size_t len = ch < 0x80 ? 1 : (ch & 0xe0) == 0xc0 ? 2
				  : (ch & 0xf0) == 0xe0	    ? 3
				  : (ch & 0xf8) == 0xf0	    ? 4
							    : 0;
		int ok = len > 0 && i + len <= length && o + len < size;
		for (size_t k = 1; ok && k < len; k++)
			ok = ((unsigned char)in[i + k] & 0xc0) == 0x80;
		if (len == 1)
			ok = ch >= 0x20 && ch != 0x7f;
		if (len == 2 && ok)
			ok = ch >= 0xc2; /* no overlong forms */
		if (ok) {
			memcpy(out + o, in + i, len);
			o += len;
			i += len;
		} else {
			out[o++] = '?';
			i++;
		}
	}
	out[o] = '\0';
}

static void close_all(int *fds, int count)
{
	for (int i = 0; i < count; i++)
		close(fds[i]);
}

static void heard(struct notify_in *n, struct core *c, pid_t sender,
		  const char *message, size_t length, int *fds, int count)
{
	struct generation *g = sender_generation(n, c, sender);
	if (!g) {
		close_all(fds, count);
		if (log_allowed(&n->rejected, 10, 10000))
			say("notification from pid %d ignored%s: not one of our generations",
			    (int)sender, count ? ", its descriptors closed" : "");
		return;
	}
	struct notify_fields f;
	notify_parse(message, length, &f);
	if (f.barrier && !f.store.store) {
		close_all(fds, count); /* closing them is the answer */
		count = 0;
	}
	if ((count || f.store.remove) && n->store) {
		char name[48], who[96];
		snprintf(who, sizeof who, "%s (pid %d)", core_name(c, g, name, sizeof name),
			 (int)sender);
		n->store(n->store_ctx, g, &f.store, fds, count, who);
	} else {
		close_all(fds, count);
	}
	if (f.status) {
		char text[sizeof g->status];
		clean_text(text, sizeof text, f.status, f.status_length);
		core_set_status(c, g, text);
	}
	/* Said with READY=1, so known when its predecessor drains
	 * (handover.h); a worker started again alone is serving already. */
	if (f.connections && (g->state == GEN_STARTING || g->state == GEN_SERVING))
		g->connections = 1;
	if (f.ready && g->state == GEN_STARTING)
		core_ready(c, g);
	if (f.reload && g->state == GEN_SERVING) {
		char name[48];
		say("%s (pid %d) asks for a reload", core_name(c, g, name, sizeof name),
		    (int)g->pid);
		core_reload(c);
	}
}

/* The descriptors a message carries, into fds (up to SCM_MAX_FD): their
 * count. */
static int passed_fds(struct msghdr *msg, int *fds, int max)
{
	int n = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
			for (int *fd = (int *)CMSG_DATA(c);
			     (char *)(fd + 1) <= (char *)c + c->cmsg_len; fd++) {
				if (n < max)
					fds[n++] = *fd;
				else
					close(*fd);
			}
	return n;
}

void notify_in_receive(struct notify_in *n, struct core *c)
{
	for (int budget = 0; budget < MESSAGES_PER_WAKEUP; budget++) {
		char buf[MESSAGE_MAX + 1];
		union {
			struct cmsghdr align;
			char space[CMSG_SPACE(sizeof(struct ucred)) +
				   CMSG_SPACE(sizeof(int) * FDS_PER_MESSAGE)];
		} control;
		struct iovec iov = { buf, MESSAGE_MAX };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = control.space,
				      .msg_controllen = sizeof control.space };
		ssize_t got = recvmsg(n->socket.fd, &msg, MSG_DONTWAIT | MSG_TRUNC |
							    MSG_CMSG_CLOEXEC);
		if (got < 0)
			return; /* EAGAIN: all read */
		struct ucred cred = { 0 };
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS)
				memcpy(&cred, CMSG_DATA(cm), sizeof cred);
		int fds[FDS_PER_MESSAGE];
		int count = passed_fds(&msg, fds, FDS_PER_MESSAGE);
		const char *bad = got > MESSAGE_MAX || (msg.msg_flags & MSG_TRUNC) ? "too long"
				  : (msg.msg_flags & MSG_CTRUNC) ? "its descriptors cut short"
								 : NULL;
		if (bad) {
			close_all(fds, count);
			if (log_allowed(&n->rejected, 10, 10000))
				say("notification of %zd bytes from pid %d ignored: %s", got,
				    (int)cred.pid, bad);
			continue;
		}
		heard(n, c, cred.pid, buf, (size_t)got, fds, count);
	}
}

int notify_in_restore(struct notify_in *n, int fd, const char *path, uint64_t dev,
		      uint64_t ino, const char *directory)
{
	*n = (struct notify_in){ .socket = { .fd = fd, .dev = (dev_t)dev, .ino = (ino_t)ino } };
	snprintf(n->socket.path, sizeof n->socket.path, "%s", path);
	snprintf(n->directory, sizeof n->directory, "%s", directory);
	return ho_set_cloexec(fd, 1);
}
