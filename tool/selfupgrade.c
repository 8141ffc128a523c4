/* selfupgrade.c — the supervisor carried across its own exec.
 *
 * What is kept is what a client, a generation or systemd could tell
 * apart: the pid, the listening sockets (the very same open files, so the
 * accept queues and every generation's copies are untouched), the
 * generations with their numbers, states and deadlines (they stay our
 * children: exec does not change a parent), the pid file and its lock,
 * the notify socket the generations write to, the control sockets, the
 * adoption filters, the back-off and the last results. What is made anew
 * is only ours: the epoll set, the signalfd, buffers. */
#include "selfupgrade.h"
#include "internal.h"
#include "log.h"
#include "selfexec.h"
#include "systemd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

static void make_nonce(char *out, size_t size)
{
	unsigned char bytes[16];
	if (getrandom(bytes, sizeof bytes, GRND_NONBLOCK) != (ssize_t)sizeof bytes) {
		/* Only proves that the checker read this state: uniqueness
		 * matters, secrecy does not. */
		uint64_t t = (uint64_t)ho_now_us() ^ ((uint64_t)getpid() << 32);
		memcpy(bytes, &t, sizeof t);
		memcpy(bytes + 8, &t, sizeof t);
	}
	for (size_t i = 0; i < sizeof bytes && 2 * i + 2 < size; i++)
		snprintf(out + 2 * i, 3, "%02x", bytes[i]);
}

static void save(struct supervisor *s, struct self_state *st, int client_fd,
		 int fallback_fd)
{
	const struct core *c = &s->core;
	self_state_defaults(st);
	snprintf(st->version, sizeof st->version, "%s", handoff_version());
	make_nonce(st->nonce, sizeof st->nonce);
	snprintf(st->exe_path, sizeof st->exe_path, "%s", s->self_path);
	st->pid = getpid();
	st->started_us = s->view.started_us;
	st->next_number = c->next_number;
	st->ever_served = c->ever_served;
	st->restart_at_us = c->restart_at_us;
	st->backoff_ms = c->backoff_ms;
	st->stable_at_us = c->stable_at_us;
	st->respawn_number = c->respawn_number;
	st->respawn_at_us = c->respawn_at_us;
	st->respawn_mask = c->respawn_mask;
	snprintf(st->last_reload, sizeof st->last_reload, "%s", c->last_reload);
	snprintf(st->last_restart, sizeof st->last_restart, "%s", c->last_restart);
	st->pidfile_fd = s->pidfile_fd;
	const struct endpoint *n = &s->notify.socket;
	st->notify = (struct self_endpoint){ .fd = n->fd, .dev = n->dev, .ino = n->ino };
	snprintf(st->notify.path, sizeof st->notify.path, "%s", n->path);
	snprintf(st->notify_dir, sizeof st->notify_dir, "%s", s->notify.directory);
	control_server_save(&s->control, st->control);
	if (s->output.watch.fd >= 0) {
		st->output_read_fd = s->output.watch.fd;
		st->output_write_fd = s->output.write_fd;
	}
	st->client_fd = client_fd;
	st->fallback_fd = fallback_fd;
	size_t count;
	const struct handoff_listener *ls = ho_listeners(s->listeners, &count);
	st->listener_count = (int)count;
	for (size_t i = 0; i < count; i++) {
		struct self_listener *l = &st->listeners[i];
		*l = (struct self_listener){ .fd = ls[i].fd, .inherited = ls[i].inherited,
					     .owns_path = ls[i].owns_path,
					     .path_dev = ls[i].path_dev,
					     .path_ino = ls[i].path_ino };
		snprintf(l->name, sizeof l->name, "%s", ls[i].name);
		for (int k = 0; k < STEER_SLOTS; k++)
			l->slot_fd[k] = -1;
	}
	steer_save(&s->adopt.steer, st);
	st->stored_count = 0;
	for (int i = 0; i < s->store.max; i++) {
		const struct fdstore_entry *e = fdstore_at(&s->store, i);
		struct self_stored *out = &st->stored[st->stored_count];
		if (!e)
			continue;
		*out = (struct self_stored){ .fd = e->watch.fd, .poll = e->poll };
		snprintf(out->name, sizeof out->name, "%s", e->name);
		st->stored_count++;
	}
	st->generation_count = c->count;
	for (int i = 0; i < c->count; i++) {
		memset(&st->gens[i], 0, sizeof st->gens[i]);
		st->gens[i].g = c->gens[i];
		st->gens[i].channel_fd = handover_channel_fd(&s->handover, c->gens[i].number,
							     c->gens[i].worker);
		adopt_save(&s->adopt, &st->gens[i]);
	}
}

int selfupgrade_request(struct supervisor *s, const char *path, int client_fd,
			char *why, size_t size)
{
	static struct self_state st; /* large: not on the stack */
	const char *target = path ? path : s->self_path;
	if (s->probe.pid) {
		snprintf(why, size, "busy: a readiness probe is still running");
		return -EBUSY;
	}
	if (!target[0]) {
		snprintf(why, size, "the path of the running binary was not known at start "
			 "(/proc/self/exe): give --exec PATH");
		return -ENOENT;
	}
	size_t listeners = 0;
	if (s->listeners)
		ho_listeners(s->listeners, &listeners);
	if (!listeners) {
		snprintf(why, size, "no listeners to hand over");
		return -EINVAL;
	}
	/* The binary that runs now, even if its path was replaced since: the
	 * new image comes back to it if it cannot take over. */
	int fallback = open("/proc/self/exe", O_PATH | O_CLOEXEC);
	if (fallback >= 0)
		fallback = ho_move_above_stdio(fallback);
	save(s, &st, client_fd, fallback < 0 ? -1 : fallback);
	int fd = selfexec_write(&st);
	if (fd < 0) {
		snprintf(why, size, "cannot write the state: %s", strerror(-fd));
		ho_close(&fallback);
		return fd;
	}
	say("self-upgrade: checking %s on the state", target);
	int r = selfexec_try(target, s->opt->run_argv, fd, &st,
			     SELFUPGRADE_CHECK_TIMEOUT_MS, why, size);
	if (r == 0) {
		output_drain(&s->output, 1); /* the generations' lines first */
		say("self-upgrade: executing %s (pid %d, %d generation(s) kept)", target,
		    (int)getpid(), core_generation_count(&s->core));
		systemd_upgrading();
		r = selfexec_exec(target, s->opt->run_argv, fd, &st);
		snprintf(why, size, "cannot execute %s: %s", target, strerror(-r));
		systemd_status(&s->core, 1); /* ends RELOADING=1 */
	}
	say("self-upgrade refused, the supervisor goes on as before: %s", why);
	close(fd);
	ho_close(&fallback);
	return r;
}

/* ------------------------------------------------------------ restoring */

int selfupgrade_restore_listeners(struct supervisor *s, const struct self_state *st,
				  char *why, size_t size)
{
	int r = supervisor_listeners_new(s, why, size);
	if (r < 0)
		return r;
	for (int i = 0; i < st->listener_count; i++) {
		const struct self_listener *l = &st->listeners[i];
		r = handoff_add(s->listeners, l->name[0] ? l->name : NULL, l->fd);
		if (r < 0) {
			snprintf(why, size, "listener %d (descriptor %d): %s", i, l->fd,
				 strerror(-r));
			return r;
		}
	}
	/* handoff_add takes a socket as the application's own; how it came
	 * to us (bound by us, or from systemd) says what status shows and
	 * whether its Unix path is ours to remove at stop. */
	size_t count;
	struct handoff_listener *ls =
		(struct handoff_listener *)ho_listeners(s->listeners, &count);
	for (size_t i = 0; i < count && i < (size_t)st->listener_count; i++) {
		ls[i].inherited = st->listeners[i].inherited;
		ls[i].owns_path = st->listeners[i].owns_path;
		ls[i].path_dev = (dev_t)st->listeners[i].path_dev;
		ls[i].path_ino = (ino_t)st->listeners[i].path_ino;
	}
	r = handoff_ready(s->listeners);
	if (r < 0)
		snprintf(why, size, "cannot take the listeners: %s", strerror(-r));
	return r;
}

static void restore_core(struct core *c, const struct self_state *st)
{
	c->next_number = st->next_number;
	c->ever_served = st->ever_served;
	c->restart_at_us = st->restart_at_us;
	c->backoff_ms = st->backoff_ms;
	c->stable_at_us = st->stable_at_us;
	c->respawn_number = st->respawn_number;
	c->respawn_at_us = st->respawn_at_us;
	c->respawn_mask = st->respawn_mask;
	snprintf(c->last_reload, sizeof c->last_reload, "%s", st->last_reload);
	snprintf(c->last_restart, sizeof c->last_restart, "%s", st->last_restart);
	c->count = st->generation_count;
	for (int i = 0; i < st->generation_count; i++) {
		c->gens[i] = st->gens[i].g;
		if (c->gens[i].group <= 1)
			c->gens[i].group = c->gens[i].pid;
		c->gens[i].ready = c->gens[i].state != GEN_STARTING;
	}
}

int selfupgrade_restore(struct supervisor *s, const struct self_state *st,
			char *why, size_t size)
{
	int r = 0;
	s->view.started_us = st->started_us ? st->started_us : s->view.started_us;
	s->pidfile_fd = st->pidfile_fd;
	if (s->pidfile_fd >= 0 && (r = ho_set_cloexec(s->pidfile_fd, 1)) < 0) {
		snprintf(why, size, "pid file descriptor: %s", strerror(-r));
		return r;
	}
	if (st->output_read_fd >= 0) {
		if ((r = output_restore(&s->output, s->epoll_fd, st->output_read_fd,
					st->output_write_fd)) < 0) {
			snprintf(why, size, "output pipe: %s", strerror(-r));
			return r;
		}
		s->launch.output_fd = s->output.write_fd;
		s->probe.output_fd = s->output.write_fd;
	}
	if ((r = notify_in_restore(&s->notify, st->notify.fd, st->notify.path,
				   st->notify.dev, st->notify.ino, st->notify_dir)) < 0) {
		snprintf(why, size, "notify socket: %s", strerror(-r));
		return r;
	}
	if ((r = control_server_restore(&s->control, s->epoll_fd, &s->core, &s->view,
					st->control)) < 0) {
		snprintf(why, size, "control socket: %s", strerror(-r));
		return r;
	}
	restore_core(&s->core, st);
	/* The whole store or no takeover: a descriptor closed here would be
	 * missing from the state given back to the previous binary. */
	for (int i = 0; i < st->stored_count; i++)
		if ((r = fdstore_restore(&s->store, st->stored[i].fd, st->stored[i].name,
					 st->stored[i].poll)) < 0) {
			snprintf(why, size, "%d stored descriptors, more than --fdstore-max %d",
				 st->stored_count, s->store.max);
			return r;
		}
	for (int i = 0; i < st->listener_count; i++)
		for (int k = 1; k < STEER_SLOTS; k++)
			if (st->listeners[i].slot_fd[k] >= 0)
				ho_set_cloexec(st->listeners[i].slot_fd[k], 1);
	if (adopt_enabled(&s->adopt))
		steer_restore(&s->adopt.steer, st);
	for (int i = 0; i < st->generation_count; i++) {
		const struct self_generation *g = &st->gens[i];
		if (g->filter_fd >= 0)
			ho_set_cloexec(g->filter_fd, 1);
		/* A filter we cannot serve any more fails the generation's
		 * later binds (ENOSYS), not what it serves now: go on. */
		if ((r = adopt_restore(&s->adopt, g)) < 0)
			say("self-upgrade: generation %u's adoption filter: %s",
			    g->g.number, strerror(-r));
		/* Without it the generation still serves; it only cannot be
		 * introduced to a successor (its connections end the classic way). */
		if (g->channel_fd >= 0 &&
		    (r = handover_restore(&s->handover, g->g.number, g->g.worker,
					  g->channel_fd)) < 0)
			say("self-upgrade: generation %u's channel: %s", g->g.number,
			    strerror(-r));
	}
	return 0;
}
