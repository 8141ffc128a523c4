/* harness.h — what the tests share: assertions, processes, waits, HTTP.
 * Paths, waits and files are in harness.c, processes in process.c, sockets
 * and HTTP in net.c, the servers under test and the load client in
 * servers.c; the supervisor tests add supervisor-kit.h.
 *
 * Every test runs in its own process (a fresh process group, a child
 * subreaper, its own temporary directory) with a timeout; the runner kills
 * the whole group afterwards, so a failing test still leaves nothing behind.
 * Every wait here is a condition polled against a deadline. */
#ifndef HARNESS_H
#define HARNESS_H

#include "handoff.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#define PATH_BUFFER 512
extern char bin_dir[];  /* absolute: build/ or build/asan/ */
extern char work_dir[]; /* this test's temporary directory */
extern char self_exe[]; /* the runner, for --helper re-execution */
extern int runner_argc;   /* main()'s, as the runner was started */
extern char **runner_argv;
/* Every time limit below is multiplied by this (run-tests
 * --timeout-multiplier): a bound, never a pause, so a slow machine only
 * waits longer for what does happen. */
extern int timeout_multiplier;

#define FAIL(...)                                                         \
	do {                                                              \
		fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);         \
		fprintf(stderr, __VA_ARGS__);                             \
		fputc('\n', stderr);                                      \
		fflush(NULL);                                             \
		_exit(1);                                                 \
	} while (0)

/* Ends the test as skipped (TAP "# SKIP"), saying why: for what this
 * machine cannot do (not root, no namespaces), never for a failure. */
#define TEST_SKIPPED 77
#define SKIP(...)                                                         \
	do {                                                              \
		printf("skip: ");                                         \
		printf(__VA_ARGS__);                                      \
		putchar('\n');                                           \
		fflush(NULL);                                             \
		_exit(TEST_SKIPPED);                                      \
	} while (0)

#define ASSERT(cond)                                                      \
	do {                                                              \
		if (!(cond))                                              \
			FAIL("assertion failed: %s", #cond);              \
	} while (0)

#define ASSERT_EQ(a, b)                                                   \
	do {                                                              \
		long long a_ = (long long)(a), b_ = (long long)(b);       \
		if (a_ != b_)                                             \
			FAIL("%s == %s: %lld != %lld", #a, #b, a_, b_);   \
	} while (0)

#define ASSERT_STR_EQ(a, b)                                               \
	do {                                                              \
		const char *a_ = (a), *b_ = (b);                          \
		if (!a_ || !b_ || strcmp(a_, b_) != 0)                    \
			FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b,           \
			     a_ ? a_ : "(none)", b_ ? b_ : "(none)");     \
	} while (0)

/* paths */
/* The path helpers return one of 8 rotating static buffers: copy a path
 * that must live across further calls. */
char *path_join(const char *dir, const char *name);
char *bin_path(const char *name);                    /* bin_dir/name */
char *work_path(const char *name);                   /* work_dir/name */

/* processes */
struct spawn_options {
	const char *output;        /* stdout+stderr appended here; NULL: inherit */
	char *const *env;          /* extra NAME=VALUE entries, NULL-terminated */
	const int *fds;            /* placed at 3, 4, ... */
	int fd_count;
	int listen_fds;            /* set LISTEN_FDS/LISTEN_PID for them */
};
pid_t spawn(char *const argv[], const struct spawn_options *options);
pid_t spawn_helper(const char *name, const char *arg,
		   const struct spawn_options *options);
/* Waits up to timeout_ms for our child pid to exit. Returns 1 and its wait
 * status in *status, or 0 on timeout. */
int wait_exit(pid_t pid, int timeout_ms, int *status);
/* Waits until cond(arg) is true, polling. Returns 1, or 0 on timeout. */
int wait_for(int (*cond)(void *), void *arg, int timeout_ms);
long now_ms(void);
long deadline_after(int timeout_ms); /* now_ms() + the scaled limit */
/* A time limit given to a program under test, scaled like ours: "1500"
 * for 500 under a multiplier of 3 (scaled_duration: "1500ms"). One of 8
 * rotating buffers. */
const char *scaled_ms(int ms);
const char *scaled_duration(int ms);
/* A poll interval inside a condition wait, or a benchmark's measurement
 * period; never a wait for something to happen. */
void pause_ms(int ms);

/* files */
char *read_file(const char *path);              /* malloc'd, NULL if absent */
/* For messages: the text, or "(no such file)"; never freed (we are failing). */
const char *file_text(const char *path);
int count_in_file(const char *path, const char *needle);
int wait_file_contains(const char *path, const char *needle, int count,
		       int timeout_ms);
void write_file(const char *path, const char *text, int mode);
/* Through a temporary file and rename(), as an editor or a deploy does: a
 * reader never sees half of it. */
void write_file_atomic(const char *path, const char *text, int mode);
pid_t read_pid(const char *path);               /* 0 if absent/garbage */
int count_fds(pid_t pid);
/* prlimit on another process: its soft limit, the old one into *old (may
 * be NULL); and back. */
struct rlimit;
void set_soft_limit(pid_t pid, int resource, unsigned long soft, struct rlimit *old);
void restore_limit(pid_t pid, int resource, const struct rlimit *old);
int count_connections(pid_t pid); /* its accepted TCP sockets */
/* The socket inodes among pid's descriptors, into sockets (max), and
 * their descriptor numbers into fds unless it is NULL; the number of its
 * other descriptors into *others. Returns how many sockets, or -1 if pid
 * is gone. */
int socket_fds(pid_t pid, unsigned long *sockets, int *fds, int max, int *others);
/* A TCP socket as sock_diag reports it. */
struct tcp_socket {
	unsigned long inode; /* 0 while it waits in an accept queue */
	int state;           /* TCP_LISTEN, TCP_ESTABLISHED, ... */
	int local_port, remote_port;
	unsigned unread;     /* received, not yet read by its owner */
};
/* Masks of states (1 << TCP_*, <netinet/tcp.h>) for tcp_sockets(). */
#define TCP_LISTENING (1u << 10)                        /* TCP_LISTEN */
#define TCP_ALL_BUT_TIME_WAIT (0x1FFFu & ~(1u << 6))      /* TCP_TIME_WAIT */
#define TCP_CONNECTION_STATES (TCP_ALL_BUT_TIME_WAIT & ~TCP_LISTENING)
/* Every IPv4 and IPv6 TCP socket whose state is in states, into out (max);
 * returns how many. */
int tcp_sockets(unsigned states, struct tcp_socket *out, int max);
/* 1 once pid holds no client connection, 0 if it still does after timeout_ms. */
int wait_no_connections(pid_t pid, int timeout_ms);
/* count_fds once pid holds no client connection (bounded wait). */
int count_idle_fds(pid_t pid);
/* 1 once pid has read everything sent on our connection client_fd (it holds
 * the server's side, the server's kernel has acknowledged every byte, none
 * waits unread), 0 if not within timeout_ms. Accepted is not enough: a
 * request still in the kernel's buffer has not begun, and an upgrade then
 * moves the connection (idle to the server), so the successor answers it. */
int wait_request_taken(pid_t pid, int client_fd, int timeout_ms);
/* Its two halves, now: the inode of the server's side of client_fd once
 * that side has read all we sent (0 until then), and whether pid holds
 * the socket of that inode. */
unsigned long request_read(int client_fd);
int holds_socket(pid_t pid, unsigned long inode);

/* sockets */
struct sockaddr_un;
/* One message of length bytes on sock, to `to` unless it is NULL (a
 * connected socket), with nfds (at most 32) descriptors attached; what
 * sendmsg returns. */
ssize_t send_fds(int sock, const struct sockaddr_un *to, const void *bytes, size_t length,
		 const int *fds, int nfds);
int free_port(void);
int listen_on(const char *address); /* a listening socket, close-on-exec */
/* One GET over a fresh connection. Returns the status code, fills body, or
 * a negative errno. */
int http_get(const char *host, int port, const char *path, char *body,
	     size_t size);
/* The same in two steps: a request sent now (returns the fd or -errno)... */
int http_send(const char *host, int port, const char *path);
/* ...and its answer read later, to end of stream; closes fd. */
int http_answer(int fd, char *body, size_t size, int timeout_ms);
/* Reads until a full response (by Content-Length) or EOF, NUL-terminated:
 * the bytes read, 0 on a clean EOF first, or -errno (-ECONNRESET, -ETIMEDOUT). */
int http_read_response(int fd, char *buf, size_t size, int timeout_ms);

/* Asks GET path again and again until the body contains needle: which
 * process answers settles only after a handover (the old generation may
 * accept a little longer). Returns 1, or 0 on timeout; body holds the last
 * answer (or the error) either way, for the failure message. */
int wait_http_body(const char *host, int port, const char *path,
		   const char *needle, char *body, size_t size, int timeout_ms);

/* the example server */
struct httpd {
	pid_t pid;                  /* the current generation */
	int port;
	char address[64];
	char pidfile[256];
	char log[256];
	char program[256];          /* the binary as started (may be a copy) */
	long ready_us, gone_us;     /* last upgrade: SIGHUP to new generation
				       serving; to old generation reaped */
};
/* Starts httpd with --listen 127.0.0.1:<free port> --pidfile, plus extra
 * arguments (NULL-terminated), logging to work_dir/httpd.log. Waits until it
 * serves. */
void httpd_start(struct httpd *s, const char *program, char *const extra[]);
/* The same with the pid file at pidfile. */
void httpd_start_with_pidfile(struct httpd *s, const char *pidfile,
			      const char *program, char *const extra[]);
/* SIGHUP, then waits for a new ready generation and the old one's clean
 * exit. Returns the new pid. */
pid_t httpd_upgrade(struct httpd *s);
void httpd_stop(struct httpd *s);

/* the load client */
struct load {
	pid_t pid;
	char output[256];
};
struct load_result {
	long requests, ok, failed, refused, reset, eof, timeout, non200, other;
	long slow_ok, slow_failed, generations, gen_min, gen_max;
	long server_closes; /* kept-alive connections the server ended */
	long kept_connects; /* connections opened by keep-alive and slow clients */
	long conn_gens_min; /* fewest generations seen by one such connection */
	long p50_us, p99_us, max_us;
	double rps;
};
/* Starts loadgen against 127.0.0.1:port with extra arguments; waits for
 * its "ready" line. */
void load_start(struct load *l, int port, char *const extra[]);
void load_stop(struct load *l, struct load_result *r);
/* Reads loadgen's key=value report; -1 if there is none. */
int load_report_parse(const char *text, struct load_result *r);
void load_print(const char *label, const struct load_result *r);
/* A window of loadgen's (SIGUSR1 opens it, SIGUSR2 closes it): the
 * requests in flight at any moment of it. */
struct load_window {
	long requests, failed, p50_us, p99_us, max_us, span_us;
};
/* Reads the line of window `number` (from 1); -1 if there is none yet. */
int load_window_parse(const char *text, int number, struct load_window *w);
/* Fails the test if any request failed, or none succeeded. */
void check_no_failures(const struct load_result *r);

/* Sends sig to our child pid, SIGKILL after 15 s, and waits for it; then
 * waits for its children as they were (in process groups of their own,
 * out of reach of the runner's group kill), killing those left after 1 s.
 * Does nothing for pid <= 1. */
void stop_tree(pid_t pid, int sig);

/* A fake service manager: an abstract datagram socket (its "@name" for
 * NOTIFY_SOCKET into name), learning each sender's pid if credentials is
 * set. That has a price, as with systemd: the kernel then binds each
 * sender's socket (about 0.3 ms), so benchmarks do without. */
int fake_manager_open(char *name, size_t size, int credentials);
/* One notification, NUL-terminated, its sender's pid into *sender (may be
 * NULL); -1 after timeout_ms. */
ssize_t fake_manager_receive(int fd, char *buf, size_t size, pid_t *sender,
			     int timeout_ms);

/* the library-based helper server (helpers.c), logging to work_dir */
struct server {
	pid_t pid;
	char log[256];
};
void expect_in_file(const char *path, const char *needle); /* waits 10 s */
void server_start(struct server *s, const char *spec, char *const env[]);
/* SIGHUP; waits for `generation` and for the old one's clean exit. */
pid_t server_upgrade(struct server *s, unsigned generation);
void server_stop(struct server *s);
int connects(const char *address); /* 1 if a connect() succeeds */
/* A TCP connection to 127.0.0.1:port; fails the test if refused. */
int connect_port(int port);
/* Reads up to and including a '\n', or to end of stream (returns the
 * length, 0 at EOF); fails the test past timeout_ms. */
size_t read_line(int fd, char *buf, size_t size, int timeout_ms);
/* Sends all of it (partial sends and EINTR retried); fails the test on an
 * error. */
void send_all(int fd, const void *bytes, size_t n);
void send_text(int fd, const char *text);

/* ------------------------------------------------ added for the supervisor */

/* relative to the repository root: the directory holding the Makefile
 * above bin_dir. One of the rotating path buffers. */
char *source_path(const char *relative);
/* Runs argv to its end, stdout to out_path and stderr to err_path (each
 * truncated first; NULL: inherited). Kills it and fails the test if it
 * runs past timeout_ms. Returns its exit status, or 128 + the signal that
 * ended it. */
int run_command(char *const argv[], const char *out_path, const char *err_path,
		int timeout_ms);
/* From this call on, every process the test starts, and everything those
 * start (daemons that left the process group with setsid included), is
 * SIGKILLed when the test process ends, however it ends (FAIL too): a
 * guard process outside the group waits for the test's end, then kills
 * every process whose environment carries this test's marker. */
void guard_descendants(void);
/* How many live processes carry the marker (guard_descendants first). */
int count_guarded(void);
/* Waits until pid is gone: reaped if it is our child (also by adoption, as
 * a daemon's is: the test is a subreaper), else no longer alive. Returns 1
 * with its wait status in *status when we reaped it (else *status = -1),
 * or 0 on timeout. */
int wait_gone(pid_t pid, int timeout_ms, int *status);

/* ------------------------------------------------ added for the benchmark */

/* CLOCK_MONOTONIC in microseconds (loadgen's clock too). */
long clock_us(void); /* CLOCK_MONOTONIC, microseconds */
/* Sorts v; the p-th percentile by nearest rank (0 if n == 0). */
long percentile(long *v, int n, int p);
/* pid's resident set size (VmRSS) in KiB, or -1 if it is gone. */
long rss_kib(pid_t pid);
/* /proc/<pid>/stat: state, parent, start time (ticks since boot) and
 * command; 0 if it is gone or unreadable. */
struct process_stat {
	char state;
	pid_t ppid;
	unsigned flags;                  /* the kernel's PF_* (0x4: exiting) */
	unsigned long long start;
	unsigned long long utime, stime; /* CPU time, in clock ticks */
	char comm[32];
};
int process_stat(pid_t pid, struct process_stat *st);
/* Up to max live children of pid into out; returns how many. */
int children_of(pid_t pid, pid_t *out, int max);
/* One line on out, for a failure: what pid is doing (its name, state and
 * threads, where it sleeps, its signals pending, blocked, ignored and
 * caught), or that it is gone. */
void describe_process(pid_t pid, FILE *out);
/* Raises RLIMIT_NOFILE to want (the hard limit as well when privileged),
 * or as far as allowed; inherited by every process started later. Returns
 * the soft limit now in force. */
long raise_nofile(long want);
/* An executable named name, searched in PATH unless name holds a '/':
 * its path (one of the rotating path buffers), or NULL. */
char *find_program(const char *name);
/* 1 if some TCP socket (IPv4 or IPv6) listens on port. */
int port_listening(int port);
/* When the test process ends, however it ends, pid and every descendant
 * it has then are SIGKILLed — for daemons that leave the process group and
 * rewrite their environment (nginx), which guard_descendants() cannot
 * find. A pid reused since (another start time) is left alone. */
void guard_pid(pid_t pid);

#endif
