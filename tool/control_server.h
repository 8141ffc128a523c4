/* control_server.h — the supervisor's end of the control socket. Peers
 * must be root or our own user (SO_PEERCRED). A client has a few seconds
 * to send its request, which may come in pieces; its answer, however long,
 * is written as the client reads it. */
#ifndef TOOL_CONTROL_SERVER_H
#define TOOL_CONTROL_SERVER_H

#include "control.h"
#include "core.h"
#include "endpoint.h"
#include "log.h"
#include "selfstate.h"
#include "status.h"
#include "watch.h"

#include <stddef.h>
#include <stdint.h>

#define CONTROL_CLIENTS_MAX 16

struct control_server;

struct control_client {
	struct watch watch;              /* fd -1: a free slot */
	struct control_server *server;
	char request[CONTROL_REQUEST_MAX];
	size_t request_length;
	char *answer;                    /* being written */
	size_t answer_length, answer_sent;
	int waits_for_reload;
	int64_t deadline_us;             /* for its request, then its answer */
};

struct control_listener {
	struct watch watch;
	struct control_server *server;
	struct endpoint endpoint;
	int64_t paused_until_us;         /* out of descriptors: accept later */
};

struct control_server {
	int epoll_fd;
	struct core *core;
	const struct status_view *view;
	struct control_listener listeners[2]; /* <pidfile>.control, --control */
	struct log_limit accept_failures;
	struct control_client clients[CONTROL_CLIENTS_MAX];
	/* `reload --self`: returns only if the exec did not happen, -errno
	 * with why; client_fd is the asker's, for the new image to answer. */
	int (*self_upgrade)(void *ctx, const char *path, int client_fd, char *why,
			    size_t size);
	void *self_upgrade_ctx;
};

/* The state of a server that listens nowhere (safe to close). */
void control_server_init(struct control_server *s);
/* Listens at each non-NULL path. Returns 0 or -errno with why. */
int control_server_open(struct control_server *s, int epoll_fd, struct core *c,
			const struct status_view *view, const char *paths[2],
			char *why, size_t size);
/* A start or reload ended: answers the clients waiting for it. */
void control_server_reload_done(struct control_server *s, int ok, const char *message);
/* Drops clients past their deadline; the next deadline (ms, -1: none). */
int control_server_tick(struct control_server *s);
void control_server_close(struct control_server *s);

/* Across `reload --self`: the listening sockets (with the inode each
 * path names, so that only ours is removed at stop), and back; then the
 * client who asked, answered with text. */
void control_server_save(const struct control_server *s, struct self_endpoint out[2]);
int control_server_restore(struct control_server *s, int epoll_fd, struct core *c,
			   const struct status_view *view, const struct self_endpoint in[2]);
void control_server_answer_fd(struct control_server *s, int fd, const char *text);

#endif
