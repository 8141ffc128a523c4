/* handoff.h — zero-downtime restarts and upgrades for Linux servers.
 *
 * A server built on libhandoff replaces itself with a new version (new binary,
 * new configuration) without refusing, resetting or losing a connection:
 *
 *   1. the running generation forks and execs its successor, which inherits
 *      every listening socket as a file descriptor (systemd's LISTEN_FDS
 *      protocol, so the successor may be any program that reads it);
 *   2. the successor initializes and calls handoff_ready();
 *   3. only then is the old generation told to drain (HANDOFF_EVENT_DRAIN):
 *      it closes its copies of the listeners, finishes what it has, exits.
 *
 * If the successor cannot exec, exits, crashes or is not ready in time, it is
 * killed and reaped and the old generation keeps serving, untouched.
 *
 * Conventions
 * - Every function that can fail returns a negative errno value on failure
 *   (-EINVAL, -EBUSY, ...) and 0 or a non-negative result on success, like
 *   sd_listen_fds(3) and libuv. errno itself is left unspecified.
 * - Every descriptor the library opens is close-on-exec and above 2; only the
 *   listeners are passed to a successor, and only in the successor.
 * - Nothing is thread-safe on one struct handoff: call the functions on it
 *   from one thread at a time. handoff_new() must run before the program
 *   starts threads (it edits the environment). Functions that take no struct
 *   handoff are thread-safe. None is async-signal-safe unless it says so.
 * - Binary compatibility (libhandoff.so.1): struct handoff is opaque,
 *   allocated by handoff_new() and released by handoff_free(), so its
 *   fields may change freely. struct handoff_config is extensible: it
 *   starts with its own size, so a program built against this header keeps
 *   working with a newer library, and a newer program with an older library
 *   as long as it leaves the fields the library does not know zero.
 *   Listeners are read by index through handoff_listener_*(). The other
 *   public types (addresses, events) are plain data that will not change.
 *
 * Environment read by handoff_new() (and removed from the environment):
 *   LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES   systemd socket-activation protocol
 *   HANDOFF_FD                                set by a handoff parent
 *   HANDOFF_SUPERVISOR, HANDOFF_CHANNEL_FD    set under `handoff run`: 1,
 *                                             and the supervisor's channel
 *   HANDOFF_GENERATION                        set by a handoff parent or
 *                                             supervisor (with LISTEN_PID)
 * Environment read but kept (so successors see it too):
 *   NOTIFY_SOCKET                             sd_notify(3) destination
 *
 * MIT License. See LICENSE.
 */
#ifndef HANDOFF_H
#define HANDOFF_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <netinet/in.h>
#include <sys/un.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What libhandoff.so exports: the functions marked so, all named handoff_*.
 * The library is built with -fvisibility=hidden, so nothing else is. */
#if defined(__GNUC__) || defined(__clang__)
#define HANDOFF_EXPORT __attribute__((visibility("default")))
#else
#define HANDOFF_EXPORT
#endif

/* The release of handoff these headers come with (`handoff --version`).
 * It is not the ABI: that is the soname, libhandoff.so.1, which changes
 * only when a compatible program could break. */
#define HANDOFF_VERSION_MAJOR 0
#define HANDOFF_VERSION_MINOR 9
#define HANDOFF_VERSION_PATCH 0
/* The same as one number, MAJOR * 10000 + MINOR * 100 + PATCH (900 for
 * 0.9.0), for #if comparisons. */
#define HANDOFF_VERSION_NUMBER \
	(HANDOFF_VERSION_MAJOR * 10000 + HANDOFF_VERSION_MINOR * 100 + \
	 HANDOFF_VERSION_PATCH)

/* The release of the library running, which may be newer than the header a
 * program was built with: "0.9.0", a static string. Thread-safe. */
HANDOFF_EXPORT
const char *handoff_version(void);

/* The same as HANDOFF_VERSION_NUMBER counts it (900 for 0.9.0), to compare
 * with the header's at run time. Thread-safe. */
HANDOFF_EXPORT
int handoff_version_number(void);

/* Version of the messages exchanged between generations. A generation
 * accepts messages of this version or older. */
#define HANDOFF_PROTOCOL_VERSION 1

/* Longest listener name (systemd's limit for LISTEN_FDNAMES entries). */
#define HANDOFF_NAME_MAX 255

/* Longest textual address accepted or produced, including the NUL. */
#define HANDOFF_ADDRESS_TEXT_MAX 128

/* ---------------------------------------------------------------- addresses
 *
 * Textual forms (an optional scheme, then the address):
 *   127.0.0.1:8080   [::1]:8080   *:8080 (IPv4 any)   [::]:8080 (IPv6 any)
 *   localhost:8080 (= 127.0.0.1)           TCP unless a scheme says otherwise
 *   /run/app.sock   unix:/run/app.sock     Unix stream socket at a path
 *   @name           unix:@name             Unix stream socket, abstract name
 *   udp:127.0.0.1:53  udp:[::1]:53         UDP
 *   unixgram:/run/app.dgram  unixgram:@n   Unix datagram
 *   tcp:...  unix:...                      explicit schemes
 * Host names other than localhost are not resolved (no DNS at start-up).
 * Port 0 asks the kernel for a free port; such a listener can only be
 * inherited by name.
 */
struct handoff_address {
	int family;          /* AF_INET, AF_INET6 or AF_UNIX */
	int type;            /* SOCK_STREAM or SOCK_DGRAM */
	socklen_t length;    /* meaningful bytes of sa */
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
		struct sockaddr_un un;
		struct sockaddr_storage storage;
	} u;
};

/* Parses text into *address.
 * Returns 0, or -EINVAL for a malformed address (bad port, bad IP literal,
 * unknown scheme, empty or too long Unix path, unresolvable host name).
 * Thread-safe. */
HANDOFF_EXPORT
int handoff_address_parse(struct handoff_address *address, const char *text);

/* Writes the textual form of *address into buf (at most size bytes, NUL
 * included); parsing the result gives back an equal address.
 * Returns the length written, or -ENOSPC if buf is too small, -EINVAL for an
 * unsupported family. Thread-safe. */
HANDOFF_EXPORT
int handoff_address_format(const struct handoff_address *address, char *buf,
			   size_t size);

/* Returns 1 if a and b name the same endpoint (family, type, address, port),
 * else 0. Thread-safe. */
HANDOFF_EXPORT
int handoff_address_equal(const struct handoff_address *a,
			  const struct handoff_address *b);

/* Fills *address with what socket fd is bound to (getsockname, SO_TYPE).
 * Returns 0, -ENOTSOCK if fd is not a socket, -EAFNOSUPPORT for a family
 * other than IPv4, IPv6 and Unix, or another negative errno. Thread-safe. */
HANDOFF_EXPORT
int handoff_address_of_socket(struct handoff_address *address, int fd);

/* ------------------------------------------------------------ the handoff */

enum handoff_flags {
	/* Catch SIGHUP (upgrade), SIGTERM, SIGINT, SIGQUIT (graceful stop) and
	 * SIGUSR2 (stop now) and report them as events. The handlers only write
	 * a byte to a pipe; they save and restore errno. At most one struct
	 * handoff per process may use this flag. */
	HANDOFF_SIGNALS = 1u << 0,
	/* Send nothing to $NOTIFY_SOCKET: the program speaks to its service
	 * manager itself (the supervisor does). */
	HANDOFF_NO_NOTIFY = 1u << 1,
	/* Live connections move between generations (see "Moving live
	 * connections" below): this program takes the connections its
	 * predecessor passes, and says so when it reports ready, so that its
	 * own successor may be asked for them in turn. */
	HANDOFF_CONNECTIONS = 1u << 2,
};

/* Options for handoff_new(). An extensible struct, like the kernel's
 * clone3(2) and openat2(2) arguments: set size to sizeof the struct you
 * were compiled with, and zero everything you do not set (an initializer
 * does both):
 *
 *   struct handoff_config config = { .size = sizeof config,
 *                                    .flags = HANDOFF_SIGNALS };
 *   struct handoff_config config = HANDOFF_CONFIG_INIT;  (all defaults)
 *
 * New fields are only ever appended, and zero always means "the default",
 * so the library reads the fields that fit in size and defaults the rest. */
struct handoff_config {
	size_t size;             /* sizeof(struct handoff_config) */
	unsigned flags;          /* enum handoff_flags */
	int ready_timeout_ms;    /* how long a successor may take to be ready;
				    0 means 60000 */
	const char *pidfile;     /* written atomically by each generation before
				    it reports ready; NULL for none. The string
				    must outlive the struct handoff. */
};

#define HANDOFF_CONFIG_INIT { .size = sizeof(struct handoff_config) }

/* The size of the first version of struct handoff_config: the smallest
 * size handoff_new() accepts. */
#define HANDOFF_CONFIG_SIZE_VER1 \
	(offsetof(struct handoff_config, pidfile) + sizeof(const char *))

/* One process's handoff state: opaque, from handoff_new() to handoff_free(). */
struct handoff;

enum handoff_state {
	HANDOFF_STATE_STARTING = 0, /* handoff_ready() not called yet */
	HANDOFF_STATE_SERVING,      /* ready; may upgrade */
	HANDOFF_STATE_UPGRADING,    /* a successor is starting */
	HANDOFF_STATE_HANDED_OVER,  /* the successor is ready; we drain */
	HANDOFF_STATE_CLOSED,       /* (not reported since handoff_free) */
};

/* Event types, delivered by handoff_next(). */
enum handoff_event_type {
	HANDOFF_EVENT_NONE = 0,
	/* A successor was started by SIGHUP (pid). */
	HANDOFF_EVENT_UPGRADE_STARTED,
	/* An upgrade failed and the successor, if any, was killed and reaped;
	 * keep serving. error: -ETIMEDOUT (not ready in time), -ECHILD (exited
	 * or crashed; status holds the wait status), -EPIPE (it closed the
	 * channel without saying ready), or what handoff_upgrade() returned
	 * for a SIGHUP (-EBUSY, -EAGAIN, the exec errno...). */
	HANDOFF_EVENT_UPGRADE_FAILED,
	/* The successor (pid) is ready and owns the listeners: close yours
	 * with handoff_close_listeners(), finish in-flight work, exit. */
	HANDOFF_EVENT_DRAIN,
	/* SIGTERM, SIGINT or SIGQUIT (signal): stop gracefully. */
	HANDOFF_EVENT_STOP,
	/* SIGUSR2: stop now (handoff_free(), then exit). */
	HANDOFF_EVENT_STOP_NOW,
	/* The previous generation (pid) has exited; upgrades are allowed. */
	HANDOFF_EVENT_PARENT_EXITED,
	/* SIGHUP under `handoff run`: the supervisor was asked to reload (see
	 * handoff_upgrade). Keep serving; STOP comes when the new one serves. */
	HANDOFF_EVENT_RELOAD_REQUESTED,
	/* Connections from the previous generation (pid) are waiting: take
	 * each with handoff_receive() until it returns 0. */
	HANDOFF_EVENT_CONNECTIONS,
	/* Outcomes of handoff_pass() are waiting (successor pid): read each
	 * with handoff_pass_outcome() until it returns 0. */
	HANDOFF_EVENT_PASSED,
};

struct handoff_event {
	enum handoff_event_type type;
	pid_t pid;      /* successor or parent, as the type says */
	int error;      /* negative errno for UPGRADE_FAILED */
	int status;     /* wait status when error is -ECHILD */
	int signal;     /* the signal behind STOP / STOP_NOW / UPGRADE_* */
};

/* Creates this process's handoff state in *h: copies argv and resolves
 * argv[0] through PATH (so an
 * upgrade execs the file now at that path, not /proc/self/exe), reads and
 * removes LISTEN_FDS, LISTEN_PID, LISTEN_FDNAMES, HANDOFF_FD,
 * HANDOFF_GENERATION, HANDOFF_SUPERVISOR and HANDOFF_CHANNEL_FD, checks each inherited descriptor is a socket, installs
 * the signal handlers if asked. LISTEN_PID naming another process means "no
 * inherited sockets", as systemd specifies; malformed values are ignored the
 * same way (the fds are left alone), and handoff_warning() says why.
 * config may be NULL (all defaults); see struct handoff_config for size.
 * Returns 0 with *h set, or, with *h set to NULL: -EINVAL (h is NULL, or
 * config->size is below HANDOFF_CONFIG_SIZE_VER1), -E2BIG (config->size is
 * larger than this library knows and a field it does not know is not zero,
 * or larger than 4096),
 * -EBUSY if config->pidfile is locked by a live process (another instance
 * runs), -ELOOP if it is a symlink, -ENOMEM, or another negative errno. */
HANDOFF_EXPORT
int handoff_new(struct handoff **h, const struct handoff_config *config,
		int argc, char *argv[]);

/* Returns a listening socket for address (see handoff_address_parse): the
 * inherited one that matches, else a new one (SO_REUSEADDR, backlog
 * SOMAXCONN, O_NONBLOCK, close-on-exec). A named request matches the
 * inherited socket of that name: from a previous generation, if the address
 * is the same too (any port when the requested port is 0; a changed address
 * is a changed configuration and gets a new socket); from a service manager
 * (systemd, `handoff run`), whatever its address, as long as it is of the
 * same kind (stream/datagram, IP/Unix) — its unit decides where to listen,
 * and handoff_warning() says so. Failing a name match, an unnamed inherited
 * socket at the same address is used. An unnamed request matches by family,
 * type and address only; never by position. Inherited sockets keep the file
 * status flags they came with: O_NONBLOCK is shared with the previous
 * generation, which may still be accepting, so the library never changes it.
 * systemd passes blocking sockets unless the service says NonBlocking=yes:
 * say it, or an accept() racing with another generation's can block.
 * Before handoff_ready() a generation owns nothing it inherited: closing
 * then (a failed start) never unlinks a path the parent still serves.
 * name may be NULL; it must not contain ':' or control characters.
 * Returns the descriptor (owned by the library until handoff_free), or
 * -EINVAL (bad address or name), -EEXIST (name already used), -EBUSY (called
 * after handoff_ready), -EADDRINUSE, or the errno of socket/bind/listen. */
HANDOFF_EXPORT
int handoff_listen(struct handoff *h, const char *name, const char *address);

/* Claims an inherited socket without creating one: by name if name is not
 * NULL, by address if address is not NULL, by both if both are given.
 * Returns the descriptor, -ENOENT if nothing matches, -EINVAL, -EEXIST. */
HANDOFF_EXPORT
int handoff_inherited(struct handoff *h, const char *name,
		      const char *address);

/* Registers a socket the application created itself so that it is passed on
 * at upgrade. The library takes ownership (closes it in handoff_free) and
 * sets close-on-exec. Returns 0, -ENOTSOCK, -EINVAL, -EEXIST, -ENOMEM. */
HANDOFF_EXPORT
int handoff_add(struct handoff *h, const char *name, int fd);

/* Declares this generation ready: closes inherited sockets nobody claimed,
 * writes the pid file (temp file + rename, locked), tells the parent (which
 * then drains), and sends "READY=1\nMAINPID=<pid>" to $NOTIFY_SOCKET if set
 * (under `handoff run` with HANDOFF_CONNECTIONS, plus HANDOFF_CONNECTIONS=1).
 * Returns 0, -EALREADY if called twice, or the pid file's errno (nothing
 * is reported to the parent then, so it keeps serving). */
HANDOFF_EXPORT
int handoff_ready(struct handoff *h);

/* Under `handoff run` (which sets HANDOFF_SUPERVISOR=1 for its generations)
 * the supervisor owns the listeners and starts every generation, so this
 * asks it to reload instead (HANDOFF_RELOAD=1 on $NOTIFY_SOCKET) and
 * returns 0; once the new generation serves, DRAIN arrives if both move
 * live connections, else the supervisor's stop signal (STOP).
 * -ENOTCONN without $NOTIFY_SOCKET.
 *
 * Otherwise: starts the next generation: fork, then exec of the resolved path with the
 * original argv (or what handoff_set_exec set) and the listeners at fds
 * 3, 4, ... Blocks only until exec has succeeded or failed (a close-on-exec
 * pipe tells). The outcome arrives later through handoff_next(): DRAIN once
 * the successor is ready, or UPGRADE_FAILED. With $NOTIFY_SOCKET set it sends
 * RELOADING=1 (with MONOTONIC_USEC=) before forking, so the successor's
 * READY=1 always comes after it, and READY=1 with a STATUS= if the start
 * fails (systemd's Type=notify-reload protocol).
 * Returns the successor's pid; -EBUSY if an upgrade is already running;
 * -EAGAIN before handoff_ready() or while the previous generation still
 * drains (one generation starting at a time); -EALREADY after handing over;
 * the exec errno (e.g. -ENOENT, -EACCES, -ENOEXEC) if exec failed, the child
 * then reaped. */
HANDOFF_EXPORT
int handoff_upgrade(struct handoff *h);

/* Replaces what the next upgrade execs. path must be absolute or contain a
 * '/'; argv is NULL-terminated and is copied. Returns 0, -EINVAL, -ENOMEM. */
HANDOFF_EXPORT
int handoff_set_exec(struct handoff *h, const char *path, char *const argv[]);

/* Returns a descriptor that polls readable whenever handoff_next() may have
 * an event: add it to your poll/epoll/libuv loop. Valid until handoff_free. */
HANDOFF_EXPORT
int handoff_fd(const struct handoff *h);

/* Takes the next event without blocking. Returns 1 and fills *event, 0 if
 * none is pending, or a negative errno. Call it until it returns 0 each time
 * handoff_fd() polls readable. */
HANDOFF_EXPORT
int handoff_next(struct handoff *h, struct handoff_event *event);

/* Blocking convenience: waits up to timeout_ms (-1: forever) for the next
 * event. Returns 1 with *event filled, 0 on timeout, or a negative errno. */
HANDOFF_EXPORT
int handoff_wait(struct handoff *h, struct handoff_event *event,
		 int timeout_ms);

/* Writes a sentence describing any event (e.g. "successor 1234 was killed by
 * signal 11 (Segmentation fault) before it was ready") into buf. Returns buf.
 * Thread-safe. */
HANDOFF_EXPORT
const char *handoff_event_describe(const struct handoff_event *event,
				   char *buf, size_t size);

/* Closes this generation's copies of every listener: call it on DRAIN or
 * STOP, before finishing in-flight work. If the generation has not handed
 * over, this is the final stop: Unix socket paths it owns are unlinked (only
 * if the path still names the inode bound; paths systemd or a supervisor
 * passed in are theirs) and STOPPING=1 is sent to $NOTIFY_SOCKET. Never
 * calls shutdown() on a listener. Idempotent. */
HANDOFF_EXPORT
void handoff_close_listeners(struct handoff *h);

/* The final call: closes everything (listeners included, as above),
 * removes the pid file if it still names this process and we did not hand
 * over, restores the signal handlers (except that after a handover SIGHUP
 * is ignored: a late reload request is the successor's, and must not kill
 * a generation on its way out), and frees h, which must not be used
 * again. After a handover one descriptor is deliberately left open until
 * the process exits: its EOF is how the successor learns that we are gone.
 * h may be NULL (nothing happens). */
HANDOFF_EXPORT
void handoff_free(struct handoff *h);

/* Returns the generation number: 1 for a process started by hand, parent's
 * plus one for a successor. */
HANDOFF_EXPORT
unsigned handoff_generation(const struct handoff *h);

/* Returns why handoff_new ignored inherited state ("ignored LISTEN_FDS=abc:
 * not a number in range"), or NULL if it ignored nothing. Worth logging. */
HANDOFF_EXPORT
const char *handoff_warning(const struct handoff *h);

/* Returns the current state. */
HANDOFF_EXPORT
enum handoff_state handoff_state(const struct handoff *h);

/* The listeners, by index from 0 to handoff_listener_count() - 1, in the
 * order they were claimed (handoff_listen, handoff_inherited, handoff_add);
 * a successor receives them at fds 3, 4, ... in that order. */
HANDOFF_EXPORT
size_t handoff_listener_count(const struct handoff *h);

/* Returns listener index's descriptor, -EBADF once handoff_close_listeners()
 * closed it, or -ENOENT if there is no such index. */
HANDOFF_EXPORT
int handoff_listener_fd(const struct handoff *h, size_t index);

/* Returns listener index's name ("" when unnamed), valid until
 * handoff_free, or NULL if there is no such index. */
HANDOFF_EXPORT
const char *handoff_listener_name(const struct handoff *h, size_t index);

/* Fills *address with what listener index is bound to (port 0 resolved).
 * Returns 0, or -ENOENT if there is no such index. */
HANDOFF_EXPORT
int handoff_listener_address(const struct handoff *h, size_t index,
			     struct handoff_address *address);

/* Returns 1 if listener index came from the parent or the service manager,
 * 0 if it was created or added here, -ENOENT if there is no such index. */
HANDOFF_EXPORT
int handoff_listener_inherited(const struct handoff *h, size_t index);

/* ------------------------------------------------- moving live connections
 *
 * With HANDOFF_CONNECTIONS on both sides, an upgrade need not close a single
 * connection: during its drain the old generation passes each connection to
 * its successor — the socket, the bytes it has read but not processed, and
 * an opaque state of the application's — over the channel the two already
 * share, and the successor carries on serving it.
 *
 * The old generation, after DRAIN:
 *   if (handoff_can_pass(h)) for each connection at a message boundary:
 *       epoll_ctl(EPOLL_CTL_DEL, fd)  (epoll keeps reporting a descriptor
 *                                      until every copy of it is closed)
 *       handoff_pass(h, fd, unread, unread_length, state, state_length)
 *   on HANDOFF_EVENT_PASSED: while (handoff_pass_outcome(h, &fd, &error) == 1)
 *       error == 0: the successor has it; close(fd), forget it
 *       error < 0:  it is yours again; watch it, serve it to the end
 *   else drain the classic way.
 * The successor, on HANDOFF_EVENT_CONNECTIONS (a message of up to 252;
 * serve what you have between two such events, not all of them in one
 * turn of your loop: many may be on the way):
 *   while (handoff_receive(h, &c) == 1) adopt c.fd (close-on-exec, with the
 *   file status flags it had: set O_NONBLOCK if you need it), feed
 *   c.pending to your parser first, rebuild your state from c.state;
 *   or, if you cannot (no memory, no room), handoff_refuse(h, &c, -ENOMEM)
 *   and the old generation serves it on.
 *
 * Rules. Pass a connection only between two messages of its protocol, with
 * nothing half-written. The old generation keeps its copy until the
 * successor has taken it: a connection is never lost by the handover (if the
 * successor refuses it, dies, or the channel breaks, it comes back with an
 * error). The successor acknowledges a connection once the application
 * has had its chance to refuse it: at the next handoff_receive() or
 * handoff_next(), before its loop turns and touches it. From then on it is
 * the successor's, and a successor that crashes loses it as it loses its
 * own.
 * Each received descriptor counts against the successor's RLIMIT_NOFILE; one
 * that does not fit comes back to the old generation (-EMFILE). A successor
 * that does not set HANDOFF_CONNECTIONS (an older libhandoff, a program that
 * only reads LISTEN_FDS) is never asked: handoff_can_pass() returns 0.
 * Under `handoff run` the same happens between the generation replaced
 * and the one serving in its place, when both set HANDOFF_CONNECTIONS: the
 * supervisor introduces them, which is its request to drain: the first
 * gets DRAIN (and no stop signal), and everything above holds; otherwise
 * the replaced generation gets STOP, and handoff_can_pass() returns 0
 * (docs/connections.md).
 * TLS: with kernel TLS (kTLS) the keys stay in the socket and move with it;
 * the record sequence numbers and secrets a TLS library keeps must travel in
 * the state. Nothing here does that for you. */

/* The limits of one connection's data. */
#define HANDOFF_PENDING_MAX 32768 /* bytes read and not processed */
#define HANDOFF_STATE_MAX 65536   /* the application's state */

/* A connection received from the previous generation. */
struct handoff_connection {
	int fd;                 /* yours now; close-on-exec */
	const void *pending;    /* bytes the old generation had read and not
				   processed: parse them before reading
				   (NULL when pending_length is 0) */
	size_t pending_length;
	const void *state;      /* the old generation's state for it (NULL
				   when state_length is 0) */
	size_t state_length;
};

/* 1 if this generation has handed over to a successor that takes
 * connections and is still there to take them; 0 otherwise. */
HANDOFF_EXPORT
int handoff_can_pass(const struct handoff *h);

/* Passes connection fd to the successor with a copy of pending and state
 * (either may be NULL when its length is 0). fd stays yours and open until
 * its outcome (handoff_pass_outcome): do not read, write or watch it
 * meanwhile. Never blocks: it queues, and handoff_next() sends, in full
 * messages, as the channel drains (handoff_fd() polls readable for it).
 * Returns 0, -ENOTCONN (handoff_can_pass() is 0), -E2BIG (past
 * HANDOFF_PENDING_MAX or HANDOFF_STATE_MAX), -ENOTSOCK, -EBADF, -ENOMEM. */
HANDOFF_EXPORT
int handoff_pass(struct handoff *h, int fd, const void *pending,
		 size_t pending_length, const void *state, size_t state_length);

/* The next decided handoff_pass(): 1 with *fd and *error set (0: the
 * successor has it, close your copy; negative errno: yours again, e.g.
 * -EPIPE the successor is gone, -EMFILE it had no room, -EPROTO it refused
 * it), 0 when none is waiting. */
HANDOFF_EXPORT
int handoff_pass_outcome(struct handoff *h, int *fd, int *error);

/* The next connection from the previous generation: 1 with *c filled (its
 * pointers valid until the next handoff_receive() or handoff_next()), 0
 * when none is waiting. */
HANDOFF_EXPORT
int handoff_receive(struct handoff *h, struct handoff_connection *c);

/* Gives back the connection handoff_receive() has just returned, before the
 * next handoff_receive() or handoff_next(): closes c->fd here, and the old
 * generation keeps the connection (its outcome is error, a negative errno
 * such as -ENOMEM). Returns 0, or -EINVAL (not the last one received,
 * already taken, or error not a negative errno). */
HANDOFF_EXPORT
int handoff_refuse(struct handoff *h, const struct handoff_connection *c, int error);

/* ------------------------------------------------------------- sd_notify */

/* Sends state (e.g. "STATUS=draining 12 connections") to $NOTIFY_SOCKET, a
 * path or an abstract name written "@name". The environment is not changed.
 * Never blocks: if the manager's queue is full the message is dropped.
 * Returns 1 if sent, 0 if NOTIFY_SOCKET is unset, or a negative errno
 * (-EAGAIN: dropped). Thread-safe. */
HANDOFF_EXPORT
int handoff_notify(const char *state);

/* Like handoff_notify(), then waits up to timeout_ms for the service manager
 * to have processed everything this process sent (BARRIER=1 protocol): use it
 * before exiting right after a notification that matters. Returns 1, 0 if
 * NOTIFY_SOCKET is unset, -ETIMEDOUT, or a negative errno. Thread-safe. */
HANDOFF_EXPORT
int handoff_notify_barrier(const char *state, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif /* HANDOFF_H */
