/* base.h — the private base library: system-call wrappers, fork + exec
 * with a descriptor layout, pid files, argv[0] resolution, and the
 * environment a child generation starts with. libhandoff and the
 * supervisor (tool/) both build on it; it is never installed, and
 * libhandoff.so does not export it. It knows nothing of struct handoff.
 * Symbols carry the ho_ prefix. */
#ifndef HO_BASE_H
#define HO_BASE_H

#include "handoff.h" /* struct handoff_address, HANDOFF_NAME_MAX */

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#define HO_LISTEN_FDS_START 3
/* Bound on inherited descriptors we believe; beyond that LISTEN_FDS is
 * treated as garbage. Generous: the benchmark hands over 1000. */
#define HO_LISTEN_FDS_MAX 65536

/* util.c: descriptors, numbers, the clock */
int ho_set_cloexec(int fd, int on);
/* 1 if fd is a Unix SOCK_SEQPACKET socket: what every channel between a
 * generation and its parent, successor or supervisor is. */
int ho_is_channel(int fd);
int ho_move_above_stdio(int fd);
void ho_close(int *fd);
int ho_parse_uint(const char *text, unsigned long max, unsigned long *out);
int ho_parse_uint_n(const char *text, size_t length, unsigned long max,
		    unsigned long *out);
char *ho_format_uint(char *end, unsigned long value);
int64_t ho_now_us(void);

/* One listening socket as libhandoff and the supervisor keep it. Private
 * since libhandoff.so.1 (applications read handoff_listener_*()); the name
 * stayed so that ho_child_env_build() keeps its signature. */
struct handoff_listener {
	int fd;                              /* -1 once closed */
	int inherited;                       /* 1 if it came from the parent */
	int owns_path;                       /* Unix path ours to unlink at the
						final stop: we bound it, or a
						handoff parent did */
	struct handoff_address address;      /* as bound (port 0 resolved) */
	char name[HANDOFF_NAME_MAX + 1];     /* "" when unnamed */
	dev_t path_dev;                      /* Unix path sockets: the inode */
	ino_t path_ino;                      /*   the path named at bind time */
};

/* nointr.c: system calls retried on EINTR. Each returns the call's result
 * or a negative errno, and leaves errno untouched when it succeeds. The
 * waits restart with the time left (timeout_ms -1: forever). */
struct epoll_event;
struct msghdr;
struct pollfd;
ssize_t ho_read(int fd, void *buf, size_t size);
ssize_t ho_pread(int fd, void *buf, size_t size, off_t offset);
ssize_t ho_write_all(int fd, const void *buf, size_t size); /* all, or error */
ssize_t ho_recv(int fd, void *buf, size_t size, int flags);
ssize_t ho_send(int fd, const void *buf, size_t size, int flags);
ssize_t ho_sendmsg(int fd, const struct msghdr *msg, int flags);
ssize_t ho_recvmsg(int fd, struct msghdr *msg, int flags);
pid_t ho_waitpid(pid_t pid, int *status, int options);
int ho_epoll_wait(int epfd, struct epoll_event *events, int max, int timeout_ms);
int ho_poll(struct pollfd *fds, unsigned long count, int timeout_ms);

/* fd_pass.c: a message with one descriptor beside it (SCM_RIGHTS), on a
 * connected Unix socket; async-signal-safe. ho_recv_with_fd: the message's
 * length or -errno, *fd its descriptor or -1 (when there was none, or
 * anything but one: closed); a message or descriptors cut short is
 * -EMSGSIZE, with nothing left open. */
ssize_t ho_send_with_fd(int sock, const void *buf, size_t size, int fd, int flags);
ssize_t ho_recv_with_fd(int sock, void *buf, size_t size, int *fd, int flags);

/* listen_env.c: the environment of a child generation */
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
/* The generation after g: 1 after the largest HANDOFF_GENERATION accepted
 * (UINT32_MAX - 1), never 0, so numbering never breaks an upgrade. */
unsigned ho_next_generation(unsigned g);
int ho_name_valid(const char *name);

/* spawn.c: vfork + exec with a descriptor layout */
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
	/* Run in the child first, before anything above, with every descriptor
	 * of the parent still open, in the parent's memory (vfork): async-signal-
	 * safe calls only, nothing written that the caller reads, errno the
	 * only thread-local touched (see spawn.c). Returns 0 or
	 * -errno; failing, the spawn fails with child_setup_step as its step. */
	int (*child_setup)(void *arg);
	void *child_setup_arg;
	const char *child_setup_step;
	/* out: on failure, the step that failed ("vfork", "exec", "chdir",
	 * "setuid"...), a static string */
	const char *failed_step;
};
/* On failure returns -errno and sets spawn->failed_step. The caller's
 * errno is kept on success. */
pid_t ho_spawn(struct ho_spawn *spawn);
/* fork() instead of vfork() from now on (1) or not (0): for the benchmark's
 * comparison only, never for the library or the supervisor. */
void ho_spawn_use_fork(int on);

/* path.c */
char *ho_resolve_program(const char *argv0);

/* pidfile.c */
int ho_pidfile_check(const char *path, pid_t *holder);
int ho_pidfile_write(const char *path, pid_t pid);
void ho_pidfile_remove(const char *path, int fd);

#endif
