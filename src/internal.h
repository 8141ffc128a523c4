/* internal.h — what libhandoff's files share; not installed. Builds on
 * the private base library (base/base.h). Internal symbols carry the ho_
 * prefix and are hidden; public ones are handoff_. */
#ifndef HO_INTERNAL_H
#define HO_INTERNAL_H

#include "base.h"

/* One process's handoff state (opaque in the public header). */
struct handoff {
	struct handoff_config config;     /* the caller's, completed with
					     defaults (see read_config) */
	enum handoff_state state;
	unsigned generation;
	/* listeners we serve, passed on at upgrade */
	struct handoff_listener *listeners;
	size_t listener_count, listener_capacity;
	/* what was inherited, fds [3, 3 + inherited_count), described once */
	size_t inherited_count;
	size_t first_unclaimed;           /* all before it are claimed */
	struct ho_inherited_socket *inherited;
	char *inherited_names;            /* copy of LISTEN_FDNAMES, or NULL */
	/* what to exec at upgrade */
	char *exec_path;
	char **exec_argv;
	/* descriptors, -1 when closed */
	int epoll_fd;
	int parent_fd;      /* channel to the previous generation */
	int supervisor_fd;  /* under `handoff run`: its channel (supervised.c) */
	int child_fd;       /* channel to the successor */
	int child_pidfd;
	int timer_fd;
	int signal_fd;      /* read end of the signal self-pipe */
	int pidfile_fd;     /* holds the pid file lock */
	pid_t child_pid;
	int child_hung_up;  /* closed its channel; waiting for its exit */
	pid_t parent_pid;
	int exec_errno;     /* why exec_path could not be resolved */
	int stopping_sent;
	int supervised;     /* upgrades are the supervisor's: ask it */
	int listen_grouped; /* the supervisor's (tool/steer.h): a TCP listener
			       opens a SO_REUSEPORT group of its own */
	/* moving live connections (conn_pass.c, conn_take.c) */
	pid_t successor_pid;       /* once handed over */
	int successor_listening;   /* it takes connections; its channel is open */
	struct ho_passing *passing;  /* ours going out; NULL until the first */
	struct ho_taking *taking;    /* the predecessor's coming in; NULL: we
					take none (no flag, no predecessor) */
	char warning[384];  /* what handoff_new ignored, see handoff_warning */
};

/* handoff.c: the listener table itself, for the supervisor (which links
 * libhandoff statically and passes the table to ho_child_env_build). Valid
 * until the next call that adds a listener, or handoff_free. */
const struct handoff_listener *ho_listeners(const struct handoff *h,
					    size_t *count);

/* environ.c: the protocol between generations, incoming */
struct ho_inherited {
	size_t count;        /* fds [3, 3 + count) */
	char *names;         /* LISTEN_FDNAMES copy, ':'-separated, or NULL */
	int parent_fd;       /* HANDOFF_FD, or -1 */
	int supervisor_fd;   /* HANDOFF_CHANNEL_FD with HANDOFF_SUPERVISOR=1, or -1 */
	unsigned generation; /* HANDOFF_GENERATION, or 1 */
	int supervised;      /* HANDOFF_SUPERVISOR=1: `handoff run` started us */
};
int ho_environ_take(struct ho_inherited *in, char *warning, size_t size);

/* An inherited descriptor, described once at start-up so that matching
 * a thousand listeners costs no system call per comparison. */
struct ho_inherited_socket {
	struct handoff_address address;
	const char *name;        /* into the LISTEN_FDNAMES copy; not NUL-ended */
	size_t name_length;
	unsigned char is_socket; /* of a family we know */
	unsigned char listening; /* SO_ACCEPTCONN, or a datagram socket */
	unsigned char claimed;
};

/* listener.c */
/* grouped: a TCP socket bound as any other (a taken port is EADDRINUSE),
 * then given SO_REUSEPORT before listen(), so that it heads a group that
 * the caller's sockets of the same address may join. */
int ho_listener_open(const struct handoff_address *address, int grouped);
void ho_describe_inherited(struct ho_inherited_socket *s, int fd);
int ho_address_matches(const struct handoff_address *have,
		       const struct handoff_address *want, int any_port);

/* watch.c: the generation's epoll set */
int ho_watch_open(struct handoff *h); /* creates h->epoll_fd */
int ho_watch(struct handoff *h, int fd);
void ho_unwatch(struct handoff *h, int fd);

/* upgrade.c */
void ho_upgrade_abort(struct handoff *h);

/* conn_pass.c: answers from the successor, and sending what is queued;
 * 1 with a PASSED event when outcomes wait. */
int ho_pass_check(struct handoff *h, struct handoff_event *ev);
void ho_pass_free(struct handoff *h);
/* conn_take.c: ready to take connections if the flag asks and a
 * predecessor is there (h->taking set); 0 or -ENOMEM. */
int ho_take_open(struct handoff *h);
/* A message from the predecessor (h->taking set); 1 with a CONNECTIONS
 * event, 0 if nothing to hand out, -1 at EOF (it is gone). */
int ho_take_check(struct handoff *h, struct handoff_event *ev);
void ho_take_free(struct handoff *h);

/* line.c: "handoff <version> <verb> key=value ...\n", any version >= 1.
 * ho_line_is: 1 if line says verb. ho_line_number: the number after
 * " key=" (at most max): 0, -ENOENT if absent, -EINVAL if not a number. */
int ho_line_is(const char *line, const char *verb);
int ho_line_number(const char *line, const char *key, unsigned long max,
		   unsigned long *value);

/* supervised.c: what the supervisor said on its channel; 1 with a DRAIN
 * event when it introduced our successor. */
int ho_supervisor_check(struct handoff *h, struct handoff_event *ev);

/* notify.c */
int ho_notify_send(const char *state, int fd_to_pass);
/* sends state unless config.flags says HANDOFF_NO_NOTIFY */
void ho_notify(const struct handoff *h, const char *state);

/* signals.c */
int ho_signals_install(void);
/* handed_over: SIGHUP is ignored from now on instead of restored. */
void ho_signals_uninstall(int handed_over);
int ho_signals_fd(void);

#endif
