/* control_server.c — requests in, answers out, nobody left waiting. */
#include "control_server.h"
#include "internal.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { REQUEST_TIMEOUT_MS = 5000, ANSWER_TIMEOUT_MS = 10000, ACCEPT_PAUSE_MS = 100 };

static void drop(struct control_client *c)
{
	if (c->watch.fd >= 0)
		ho_close(&c->watch.fd); /* also leaves the epoll set */
	free(c->answer);
	c->answer = NULL;
	c->waits_for_reload = 0;
}

static void write_answer(struct control_client *c)
{
	while (c->answer_sent < c->answer_length) {
		ssize_t n = send(c->watch.fd, c->answer + c->answer_sent,
				 c->answer_length - c->answer_sent, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return; /* the rest when it reads: EPOLLOUT */
		if (n < 0)
			break;
		c->answer_sent += (size_t)n;
	}
	drop(c);
}

/* Takes ownership of text (malloc'd); NULL: out of memory. */
static void answer_with(struct control_client *c, char *text, size_t length)
{
	static char no_memory[] = "error out of memory\n";
	free(c->answer);
	c->answer = text;
	c->answer_length = text ? length : sizeof no_memory - 1;
	c->answer_sent = 0;
	if (!text) {
		c->answer = strdup(no_memory);
		c->answer_length = c->answer ? c->answer_length : 0;
	}
	c->deadline_us = ho_now_us() + ANSWER_TIMEOUT_MS * 1000LL;
	watch_set(c->server->epoll_fd, EPOLL_CTL_MOD, &c->watch, EPOLLOUT);
	write_answer(c);
}

static void answer(struct control_client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void answer(struct control_client *c, const char *fmt, ...)
{
	char *text = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&text, fmt, ap);
	va_end(ap);
	answer_with(c, n < 0 ? NULL : text, n < 0 ? 0 : (size_t)n);
}

/* `reload --self [--exec PATH]`: refused while anything is under way that
 * an exec would cut short; else the supervisor execs itself, and this
 * client is answered by the new image (or here, if it did not happen). */
static void self_upgrade(struct control_client *c, const char *path)
{
	struct control_server *s = c->server;
	char why[600];
	if (s->core->stopping)
		answer(c, "error the supervisor is stopping\n");
	else if (core_in_state(s->core, GEN_STARTING))
		answer(c, "error busy: a reload is already in progress\n");
	else if (!s->self_upgrade)
		answer(c, "error this supervisor cannot upgrade itself\n");
	else if (s->self_upgrade(s->self_upgrade_ctx, path, c->watch.fd, why, sizeof why) < 0)
		answer(c, "error %s\n", why);
}

static void run(struct control_client *c, const char *command)
{
	struct core *core = c->server->core;
	if (strcmp(command, "reload") == 0) {
		int r = core_reload(core);
		if (r == 0)
			c->waits_for_reload = 1; /* answered by ..._reload_done() */
		else if (r == -EBUSY)
			answer(c, "error busy: %s\n",
			       core_in_state(core, GEN_STARTING)
				       ? "a reload is already in progress"
				       : "too many generations are still draining");
		else
			answer(c, "error %s\n", core->last_reload);
	} else if (strcmp(command, "reload-self") == 0 ||
		   strncmp(command, "reload-self ", 12) == 0) {
		self_upgrade(c, command[11] ? command + 12 : NULL);
	} else if (strcmp(command, "stop") == 0) {
		answer(c, "ok stopping\n");
		core_stop(core);
	} else if (strcmp(command, "status") == 0 || strcmp(command, "status-json") == 0) {
		size_t length = 0;
		char *text = status_render(c->server->view, command[6] != '\0', &length);
		answer_with(c, text, length);
	} else {
		answer(c, "error unknown command\n");
	}
}

static void readable(struct control_client *c)
{
	/* Once its request is taken, whatever else it sends is read and
	 * ignored; only its hanging up matters (a reload goes on regardless). */
	char ignored[64];
	char *into = c->waits_for_reload ? ignored : c->request + c->request_length;
	size_t room = c->waits_for_reload ? sizeof ignored
					  : sizeof c->request - c->request_length;
	ssize_t n = recv(c->watch.fd, into, room, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		drop(c);
		return;
	}
	if (c->waits_for_reload)
		return;
	c->request_length += (size_t)n;
	char command[CONTROL_REQUEST_MAX];
	int r = control_parse_request(c->request, c->request_length, command,
				      sizeof command);
	if (r == -E2BIG)
		answer(c, "error request too long\n");
	else if (r < 0)
		answer(c, "error not a handoff-control 1 request\n");
	else if (r > 0)
		run(c, command);
	/* r == 0: the rest is on its way */
}

static void client_ready(struct watch *w, uint32_t events)
{
	struct control_client *c = CONTAINER_OF(w, struct control_client, watch);
	if (c->answer)
		write_answer(c);
	else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		readable(c);
}

static int peer_allowed(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof cred;
	return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 &&
	       (cred.uid == 0 || cred.uid == geteuid());
}

static void accept_client(struct watch *w, uint32_t events)
{
	(void)events;
	struct control_listener *l = CONTAINER_OF(w, struct control_listener, watch);
	struct control_server *s = l->server;
	int fd = accept4(w->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (fd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		       errno == ENOMEM)) {
		/* The client stays queued; polling a socket we cannot accept
		 * from would spin. Try again a little later. */
		epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, w->fd, NULL);
		l->paused_until_us = ho_now_us() + ACCEPT_PAUSE_MS * 1000LL;
		if (log_allowed(&s->accept_failures, 1, 10000))
			say("control socket: cannot accept: %s; trying again every %d ms",
			    strerror(errno), ACCEPT_PAUSE_MS);
		return;
	}
	if (fd < 0)
		return;
	struct control_client *slot = NULL;
	for (int i = 0; i < CONTROL_CLIENTS_MAX && !slot; i++)
		if (s->clients[i].watch.fd < 0)
			slot = &s->clients[i];
	const char *refusal = !peer_allowed(fd) ? "error permission denied\n"
			      : !slot		? "error busy, try again\n"
						: NULL;
	if (refusal) {
		ssize_t ignored = send(fd, refusal, strlen(refusal), MSG_DONTWAIT | MSG_NOSIGNAL);
		(void)ignored;
		close(fd);
		return;
	}
	*slot = (struct control_client){
		.watch = { .fd = fd, .ready = client_ready }, .server = s,
		.deadline_us = ho_now_us() + REQUEST_TIMEOUT_MS * 1000LL,
	};
	if (watch_set(s->epoll_fd, EPOLL_CTL_ADD, &slot->watch, EPOLLIN) < 0)
		drop(slot);
}

void control_server_init(struct control_server *s)
{
	*s = (struct control_server){ .epoll_fd = -1 };
	for (int i = 0; i < CONTROL_CLIENTS_MAX; i++)
		s->clients[i].watch.fd = -1;
	for (int i = 0; i < 2; i++)
		s->listeners[i] = (struct control_listener){
			.watch = { .fd = -1, .ready = accept_client }, .server = s,
			.endpoint = { .fd = -1 } };
}

/* Empty, and knowing what it serves: both ways of opening start here. */
static void control_server_start(struct control_server *s, int epoll_fd, struct core *c,
				 const struct status_view *view)
{
	control_server_init(s);
	s->epoll_fd = epoll_fd;
	s->core = c;
	s->view = view;
}

int control_server_open(struct control_server *s, int epoll_fd, struct core *c,
			const struct status_view *view, const char *paths[2],
			char *why, size_t size)
{
	control_server_start(s, epoll_fd, c, view);
	for (int i = 0; i < 2; i++) {
		struct control_listener *l = &s->listeners[i];
		if (!paths[i])
			continue;
		int r = endpoint_bind(&l->endpoint, paths[i], SOCK_STREAM, 0600);
		if (r == 0) {
			l->watch.fd = l->endpoint.fd;
			if (watch_set(epoll_fd, EPOLL_CTL_ADD, &l->watch, EPOLLIN) < 0)
				r = -errno;
		}
		if (r < 0) {
			snprintf(why, size, "cannot open the control socket %s: %s%s", paths[i],
				 strerror(-r),
				 r == -EADDRINUSE ? " (another program answers there)"
				 : r == -EEXIST	  ? " (something that is not our socket is there)"
						  : "");
			control_server_close(s);
			return r;
		}
	}
	return 0;
}

void control_server_reload_done(struct control_server *s, int ok, const char *message)
{
	for (int i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		struct control_client *c = &s->clients[i];
		if (c->watch.fd >= 0 && c->waits_for_reload) {
			c->waits_for_reload = 0;
			answer(c, "%s %s\n", ok ? "ok" : "error", message);
		}
	}
}

int control_server_tick(struct control_server *s)
{
	int64_t now = ho_now_us(), next = INT64_MAX;
	for (int i = 0; i < 2; i++) {
		struct control_listener *l = &s->listeners[i];
		if (!l->paused_until_us)
			continue;
		if (now >= l->paused_until_us) {
			l->paused_until_us = 0;
			watch_set(s->epoll_fd, EPOLL_CTL_ADD, &l->watch, EPOLLIN);
		} else if (l->paused_until_us < next) {
			next = l->paused_until_us;
		}
	}
	for (int i = 0; i < CONTROL_CLIENTS_MAX; i++) {
		struct control_client *c = &s->clients[i];
		if (c->watch.fd < 0 || c->waits_for_reload)
			continue;
		if (now >= c->deadline_us)
			drop(c); /* silent or not reading: its slot is for others */
		else if (c->deadline_us < next)
			next = c->deadline_us;
	}
	return next == INT64_MAX ? -1 : (int)((next - now + 999) / 1000);
}

void control_server_close(struct control_server *s)
{
	for (int i = 0; i < CONTROL_CLIENTS_MAX; i++)
		if (s->clients[i].watch.fd >= 0)
			drop(&s->clients[i]);
	for (int i = 0; i < 2; i++) {
		endpoint_close(&s->listeners[i].endpoint); /* only our own inode */
		s->listeners[i].watch.fd = -1;
	}
}

static void save_endpoint(const struct endpoint *e, struct self_endpoint *out)
{
	*out = (struct self_endpoint){ .fd = e->fd, .dev = e->dev, .ino = e->ino };
	snprintf(out->path, sizeof out->path, "%s", e->path);
}

void control_server_save(const struct control_server *s, struct self_endpoint out[2])
{
	for (int i = 0; i < 2; i++)
		save_endpoint(&s->listeners[i].endpoint, &out[i]);
}

int control_server_restore(struct control_server *s, int epoll_fd, struct core *c,
			   const struct status_view *view, const struct self_endpoint in[2])
{
	control_server_start(s, epoll_fd, c, view);
	for (int i = 0; i < 2; i++) {
		struct control_listener *l = &s->listeners[i];
		if (in[i].fd < 0)
			continue;
		l->endpoint = (struct endpoint){ .fd = in[i].fd, .dev = (dev_t)in[i].dev,
						 .ino = (ino_t)in[i].ino };
		snprintf(l->endpoint.path, sizeof l->endpoint.path, "%s", in[i].path);
		l->watch.fd = in[i].fd;
		if (ho_set_cloexec(in[i].fd, 1) < 0 ||
		    watch_set(epoll_fd, EPOLL_CTL_ADD, &l->watch, EPOLLIN) < 0)
			return -errno;
	}
	return 0;
}

void control_server_answer_fd(struct control_server *s, int fd, const char *text)
{
	struct control_client *slot = NULL;
	for (int i = 0; i < CONTROL_CLIENTS_MAX && !slot; i++)
		if (s->clients[i].watch.fd < 0)
			slot = &s->clients[i];
	ho_set_cloexec(fd, 1);
	if (!slot || fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		close(fd);
		return;
	}
	*slot = (struct control_client){ .watch = { .fd = fd, .ready = client_ready },
					 .server = s };
	if (watch_set(s->epoll_fd, EPOLL_CTL_ADD, &slot->watch, EPOLLIN) < 0) {
		drop(slot);
		return;
	}
	answer(slot, "%s", text);
}
