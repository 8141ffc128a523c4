/* internal.h — what the library's files share; not installed.
 * Internal symbols carry the ho_ prefix; public ones handoff_. */
#ifndef HO_INTERNAL_H
#define HO_INTERNAL_H

#include "handoff.h"

#include <signal.h>
#include <stdint.h>

#define HO_LISTEN_FDS_START 3
/* Bound on inherited descriptors we believe; beyond that LISTEN_FDS is
 * treated as garbage. Generous: the benchmark hands over 1000. */
#define HO_LISTEN_FDS_MAX 65536

/* util.c: descriptors and system-call wrappers */
int ho_set_cloexec(int fd, int on);
int ho_move_above_stdio(int fd);
ssize_t ho_read(int fd, void *buf, size_t size);
ssize_t ho_write_all(int fd, const void *buf, size_t size);
void ho_close(int *fd);
int ho_parse_uint(const char *text, unsigned long max, unsigned long *out);
char *ho_format_uint(char *end, unsigned long value);
int64_t ho_now_us(void);

/* environ.c: the protocol between generations, in and out */
struct ho_inherited {
	size_t count;        /* fds [3, 3 + count) */
	char *names;         /* LISTEN_FDNAMES copy, ':'-separated, or NULL */
	int parent_fd;       /* HANDOFF_FD, or -1 */
	unsigned generation; /* HANDOFF_GENERATION, or 1 */
};
int ho_environ_take(struct ho_inherited *in, char *warning, size_t size);

struct ho_child_env {
	char **envp;          /* NULL-terminated, for execve */
	char *listen_pid;     /* the "LISTEN_PID=" entry, digits filled in child */
	size_t listen_pid_size;
	size_t owned;         /* envp[0, owned) are ours to free */
};
/* control_fd < 0: no HANDOFF_FD. extra: NAME=VALUE entries that replace
 * variables of the same name (NULL-terminated, may be NULL). */
int ho_child_env_build(struct ho_child_env *env,
		       const struct handoff_listener *listeners, size_t count,
		       int control_fd, unsigned generation, char *const *extra);
void ho_child_env_set_pid(struct ho_child_env *env, pid_t pid);
void ho_child_env_free(struct ho_child_env *env);

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
int ho_listener_open(const struct handoff_address *address);
void ho_describe_inherited(struct ho_inherited_socket *s, int fd);
int ho_address_matches(const struct handoff_address *have,
		       const struct handoff_address *want, int any_port);
int ho_name_valid(const char *name);

/* spawn.c: fork + exec with a descriptor layout */
struct ho_spawn {
	const char *path;
	char *const *argv;
	char *const *envp;
	const int *fds;       /* placed at 3, 4, ... in the child */
	size_t fd_count;
	struct ho_child_env *env;   /* LISTEN_PID filled in by the child */
	/* optional, for a supervisor's children */
	int new_process_group;      /* setpgid(0, 0): killable as a group */
	int drop_privileges;        /* setgroups/setgid/setuid to these: */
	uid_t uid;
	gid_t gid;
	const gid_t *groups;        /* supplementary groups (group_count) */
	size_t group_count;
	const char *directory;      /* chdir, or NULL */
	int umask;                  /* -1: leave it */
	int output_fd;              /* stdout and stderr, if > 2 (0: inherit) */
	int parent_death_signal;    /* sent to the child when we die (0: none) */
	/* out: on failure, the step that failed ("fork", "exec", "chdir",
	 * "setuid"...), a static string */
	const char *failed_step;
};
/* On failure returns -errno and sets spawn->failed_step. */
pid_t ho_spawn(struct ho_spawn *spawn);

/* handoff.c, upgrade.c */
int ho_watch(struct handoff *h, int fd);
void ho_notify(const struct handoff *h, const char *state);
void ho_upgrade_abort(struct handoff *h);

/* path.c */
char *ho_resolve_program(const char *argv0);

/* notify.c */
int ho_notify_send(const char *state, int fd_to_pass);

/* signals.c */
int ho_signals_install(void);
void ho_signals_uninstall(void);
int ho_signals_fd(void);

/* pidfile.c */
int ho_pidfile_check(const char *path, pid_t *holder);
int ho_pidfile_write(const char *path, pid_t pid);
void ho_pidfile_remove(const char *path, int fd);

#endif
