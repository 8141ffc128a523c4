/* notify_in.c — the supervisor's side of sd_notify: generations (or any of
 * their descendants) tell us READY=1 and STATUS= on a datagram socket whose
 * name we put in their NOTIFY_SOCKET. The kernel tells us who sent each
 * message (SCM_CREDENTIALS); anything not from a generation is ignored,
 * and so is anything malformed. */
#include "tool.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

enum { MESSAGE_MAX = 4096, ANCESTRY_MAX = 32 };

int notify_open(struct supervisor *s)
{
	snprintf(s->notify_name, sizeof s->notify_name, "@handoff-%d-notify",
		 (int)getpid());
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	size_t len = strlen(s->notify_name);
	memcpy(un.sun_path + 1, s->notify_name + 1, len - 1);
	s->notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1;
	if (s->notify_fd < 0 ||
	    bind(s->notify_fd, (struct sockaddr *)&un,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) < 0 ||
	    setsockopt(s->notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0) {
		say("cannot open the notify socket: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static pid_t parent_of(pid_t pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* "pid (comm) state ppid": comm may hold spaces and parentheses. */
	char *close_paren = strrchr(buf, ')');
	int ppid = 0;
	if (!close_paren || sscanf(close_paren + 1, " %*c %d", &ppid) != 1)
		return 0;
	return (pid_t)ppid;
}

/* The generation whose process is pid or one of pid's ancestors. */
static struct generation *sender_generation(struct supervisor *s, pid_t pid)
{
	for (int depth = 0; pid > 1 && depth < ANCESTRY_MAX; depth++) {
		for (int i = 0; i < s->gen_count; i++)
			if (s->gens[i].pid == pid)
				return &s->gens[i];
		pid = parent_of(pid);
	}
	return NULL;
}

static void apply(struct supervisor *s, struct generation *g, char *message)
{
	char *save = NULL;
	for (char *line = strtok_r(message, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '=');
		if (!eq)
			continue; /* not an assignment: ignored, as systemd does */
		*eq = '\0';
		const char *value = eq + 1;
		if (strcmp(line, "READY") == 0 && strcmp(value, "1") == 0) {
			if (g->state == GEN_STARTING && !s->opt->ready_delay_ms)
				generation_ready(s, g);
		} else if (strcmp(line, "STATUS") == 0) {
			snprintf(g->status, sizeof g->status, "%s", value);
			systemd_status(s);
		}
		/* Other keys (MAINPID, STOPPING, RELOADING, ...) are noted by
		 * nothing here: the generation is the process we started. */
	}
}

void notify_receive(struct supervisor *s)
{
	for (int budget = 0; budget < 64; budget++) {
		char buf[MESSAGE_MAX + 1];
		union {
			struct cmsghdr align;
			char space[CMSG_SPACE(sizeof(struct ucred)) +
				   CMSG_SPACE(sizeof(int) * 16)];
		} control;
		struct iovec iov = { buf, MESSAGE_MAX };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
				      .msg_control = control.space,
				      .msg_controllen = sizeof control.space };
		ssize_t n = recvmsg(s->notify_fd, &msg, MSG_DONTWAIT | MSG_TRUNC |
						       MSG_CMSG_CLOEXEC);
		if (n < 0)
			return; /* EAGAIN: all read */
		struct ucred cred = { 0 };
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
			if (c->cmsg_type == SCM_CREDENTIALS)
				memcpy(&cred, CMSG_DATA(c), sizeof cred);
			if (c->cmsg_type == SCM_RIGHTS) /* fds (barriers): close */
				for (int *fd = (int *)CMSG_DATA(c);
				     (char *)fd < (char *)c + c->cmsg_len; fd++)
					close(*fd);
		}
		if (n > MESSAGE_MAX || (msg.msg_flags & MSG_TRUNC)) {
			say("notification of %zd bytes from pid %d ignored: too long",
			    n, (int)cred.pid);
			continue;
		}
		buf[n] = '\0';
		struct generation *g = sender_generation(s, cred.pid);
		if (!g) {
			say("notification from pid %d ignored: not one of our generations",
			    (int)cred.pid);
			continue;
		}
		apply(s, g, buf);
	}
}

/* What systemd shows in `systemctl status`. READY=1 goes only with the end
 * of a start or reload (reload_finished): sent while a new generation is
 * still starting, it would end systemd's RELOADING=1 too early. */
void systemd_status(struct supervisor *s)
{
	systemd_notify_status(s, 0);
}

void systemd_notify_status(struct supervisor *s, int ready)
{
	struct generation *g = serving_generation(s);
	int draining = 0;
	for (int i = 0; i < s->gen_count; i++)
		draining += s->gens[i].state == GEN_DRAINING;
	char msg[512];
	if (s->stopping)
		snprintf(msg, sizeof msg, "STATUS=stopping, %d generation(s) draining",
			 draining);
	else if (g)
		snprintf(msg, sizeof msg, "%sSTATUS=generation %u (pid %d) "
			 "serving%s%s; %d draining; last reload %s",
			 ready ? "READY=1\n" : "", g->number,
			 (int)g->pid, g->status[0] ? ": " : "", g->status, draining,
			 s->last_reload[0] ? s->last_reload : "none");
	else
		snprintf(msg, sizeof msg, "%sSTATUS=no generation serving; %s",
			 ready && s->ever_ready ? "READY=1\n" : "",
			 s->last_reload[0] ? s->last_reload : "starting");
	handoff_notify(msg);
}
