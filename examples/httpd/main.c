/* httpd — an HTTP/1.1 server that upgrades itself without failing a request.
 *
 *   httpd [--listen [NAME=]ADDR]... [--pidfile FILE] [--drain-timeout MS]
 *         [--ready-timeout MS] [--idle-grace MS] [--ballast SIZE] [--spawn-fork]
 *
 * GET / answers "generation=N pid=P"; GET /sleep?ms=N answers the same
 * after N ms; GET /stream?every=MS sends one chunk "seq=N gen=G pid=P" every
 * MS ms for as long as the client stays; GET /ws is a WebSocket echo (a
 * text message "gen?" is answered "gen=G pid=P"). SIGHUP starts the next
 * generation; SIGTERM stops gracefully.
 *
 * The point of this server is the drain (LESSONS.md 14 and 15). When told
 * to drain, the generation stops accepting at once, but closes no
 * connection blind: every request in flight is completed and answered with
 * "Connection: close"; an idle keep-alive connection gets a short grace in
 * which a request that was already on its way is still answered; and every
 * connection ends with a lingering close (shutdown, read to EOF, close), so
 * that unread input never turns the last response into a reset. A deadline
 * bounds all of it.
 *
 * One thread, level-triggered epoll, one timer heap. The parts:
 *   main.c   options, listeners and accepting, the handoff integration
 *            (new, listen, ready, events), the drain's start and deadline,
 *            the main loop, start-up
 *   conn.c   the connection state machine, the timer heap, responses, and
 *            what a connection does when its generation drains: move to
 *            the successor, or end cleanly
 *   http.c   parsing a request head: pure functions, no I/O (http.h)
 *   stream.c /stream's events and the state they move with (stream.h)
 *   ws.c     WebSocket frames, fragments, the handshake (ws.h); sha1.c
 *   state.h  the layout of the state a moving connection carries
 *   httpd.h  the little they share: epoll fd, generation, clock, log */
#include "handoff.h"
#include "conn.h"
#include "httpd.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum {
	LISTEN_MAX = 64,
	ACCEPT_PAUSE_MS = 100,  /* after EMFILE and the like */
	EVENTS_MAX = 256,
	LOG_MAX = 4096,         /* PIPE_BUF: one write stays one line */
};

/* ------------------------------------------------------------ options */

static struct {
	const char *listen[LISTEN_MAX];
	size_t listen_count;
	const char *pidfile;
	int drain_timeout_ms, ready_timeout_ms, idle_grace_ms;
	size_t ballast;   /* bytes, 0: none (for the benchmark, see ballast_touch) */
	bool spawn_fork;
	bool no_pass;     /* drain the classic way: connections do not move */
} opt = { .drain_timeout_ms = 10000, .ready_timeout_ms = 60000,
	  .idle_grace_ms = 1000 };

/* ------------------------------------------------------------ state */

struct listener {
	struct source source;
	int fd;          /* -1 once closed */
	bool tcp;
	bool blocking;   /* inherited in blocking mode (see accept_all) */
};

int epfd = -1;
unsigned generation;
int64_t now;                /* refreshed once per loop iteration */

static struct handoff *h;
static struct source handoff_source = { SOURCE_HANDOFF };
static struct listener listeners[LISTEN_MAX];
static size_t listener_count;
static bool accept_paused;
static int64_t accept_resume;
static bool draining;
static int64_t drain_start, drain_deadline;

/* ------------------------------------------------------------ utilities */

int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Several generations append to one log file and tests parse it: each line
 * is built first and written with a single write(). Before handoff_new()
 * the generation is not known yet and shows as 0. */
void say(const char *fmt, ...)
{
	char line[LOG_MAX];
	size_t room = sizeof line - 1; /* keep a byte for the newline */
	int n = snprintf(line, room, "httpd[%d] gen %u: ", (int)getpid(),
			 generation);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line + n, room - (size_t)n, fmt, ap);
	va_end(ap);
	size_t len = strlen(line);
	line[len++] = '\n';
	while (write(STDERR_FILENO, line, len) < 0 && errno == EINTR) {}
}

/* ------------------------------------------------------------ listeners */

static void listeners_watch(uint32_t events)
{
	for (size_t i = 0; i < listener_count; i++) {
		struct epoll_event ev = { .events = events,
					  .data.ptr = &listeners[i].source };
		if (listeners[i].fd >= 0)
			epoll_ctl(epfd, EPOLL_CTL_MOD, listeners[i].fd, &ev);
	}
}

/* Out of descriptors or memory: accepting again at once would spin, since
 * the connection stays queued and the listener stays readable. */
static void accept_pause(const char *why)
{
	say("accept: %s; pausing %d ms", why, ACCEPT_PAUSE_MS);
	listeners_watch(0);
	accept_paused = true;
	accept_resume = now + ACCEPT_PAUSE_MS;
}

static void accept_unpause(void)
{
	listeners_watch(EPOLLIN);
	accept_paused = false;
}

/* A blocking listener (systemd passes those unless NonBlocking=yes) must
 * not be accepted from blindly: another generation sharing it may take the
 * connection first, and accept() would then block the whole loop. Polling
 * first narrows that window; only O_NONBLOCK closes it, and we may not set
 * it on a shared socket (LESSONS.md 3). */
static bool listener_has_pending(const struct listener *l)
{
	struct pollfd p = { .fd = l->fd, .events = POLLIN };
	int n;
	do
		n = poll(&p, 1, 0);
	while (n < 0 && errno == EINTR);
	return n > 0;
}

static bool accept_error_is_transient(int err)
{
	/* accept(2): pending network errors of the new connection surface
	 * here; the next connection in the queue is unaffected. */
	switch (err) {
	case EINTR: case ECONNABORTED: case EPROTO: case EPERM:
	case ENETDOWN: case ENOPROTOOPT: case EHOSTDOWN: case ENONET:
	case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH:
		return true;
	default:
		return false;
	}
}

/* The listener may be shared with the other generation during a handover,
 * so EAGAIN right after a wakeup is normal: it took the connection. */
static void accept_all(struct listener *l)
{
	while (l->fd >= 0 && !accept_paused) {
		if (l->blocking && !listener_has_pending(l))
			return;
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			if (!conn_new(fd, l->tcp))
				accept_pause("out of memory");
			continue;
		}
		if (would_block())
			return;
		if (!accept_error_is_transient(errno))
			accept_pause(strerror(errno));
	}
}

/* Stop accepting: close our copies. The successor holds the same open file
 * descriptions, so close() alone would not take them out of our epoll set;
 * and shutdown() would reset the queue the successor accepts from. */
static void listeners_close(void)
{
	for (size_t i = 0; i < listener_count; i++) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, listeners[i].fd, NULL);
		listeners[i].fd = -1;
	}
	accept_paused = false;
	handoff_close_listeners(h);
}

/* ------------------------------------------------------------ drain */

/* What each connection does from now on is conns_drain()'s (conn.c). */
static void drain_begin(void)
{
	if (draining)
		return;
	draining = true;
	drain_start = now;
	drain_deadline = now + opt.drain_timeout_ms;
	listeners_close();
	/* A stop is no handover: handoff_can_pass() says 0 then, as it does
	 * for a successor that does not take connections (--no-pass, an
	 * older httpd, any program that only reads LISTEN_FDS). */
	bool moving = handoff_can_pass(h);
	conns_drain(drain_deadline, opt.idle_grace_ms, moving ? h : NULL);
	char status[160];
	snprintf(status, sizeof status,
		 "draining: %zu connections, deadline in %d ms (%s)", conns_count(),
		 opt.drain_timeout_ms, moving ? "moving them to the successor" : "ending them");
	say("%s", status);
	/* After a handover the service manager watches the successor too:
	 * name the generation this status is about. */
	char notify[192];
	snprintf(notify, sizeof notify, "STATUS=gen %u pid %d %s", generation,
		 (int)getpid(), status);
	int err = handoff_notify(notify);
	if (err < 0)
		say("handoff_notify: %s", strerror(-err));
}

static void drain_hammer(void)
{
	if (conns_count())
		say("drain deadline: closing %zu connections", conns_count());
	conns_close_all();
}

/* ------------------------------------------------------------ handoff */

static void handoff_events(void)
{
	struct handoff_event ev;
	char text[256];
	int r;
	while ((r = handoff_next(h, &ev)) > 0) {
		switch (ev.type) {
		case HANDOFF_EVENT_UPGRADE_STARTED:
			say("upgrade started: successor pid %d", (int)ev.pid);
			break;
		case HANDOFF_EVENT_UPGRADE_FAILED:
			say("upgrade failed: %s",
			    handoff_event_describe(&ev, text, sizeof text));
			break;
		case HANDOFF_EVENT_PARENT_EXITED:
			say("parent pid %d exited", (int)ev.pid);
			break;
		case HANDOFF_EVENT_RELOAD_REQUESTED:
			say("%s", handoff_event_describe(&ev, text, sizeof text));
			break;
		case HANDOFF_EVENT_DRAIN:
			say("successor pid %d is ready", (int)ev.pid);
			drain_begin();
			break;
		case HANDOFF_EVENT_STOP:
			say("%s: stopping", strsignal(ev.signal));
			drain_begin();
			break;
		case HANDOFF_EVENT_STOP_NOW:
			say("%s: stopping now", strsignal(ev.signal));
			handoff_free(h);
			exit(0);
		case HANDOFF_EVENT_CONNECTIONS:
			conns_receive(h);
			/* One message of connections a turn: those taken
			 * are served before the next is read, and
			 * handoff_fd() stays readable for the rest. */
			return;
		case HANDOFF_EVENT_PASSED:
			conns_passed(h);
			break;
		case HANDOFF_EVENT_NONE:
			break;
		}
	}
	if (r < 0)
		say("handoff_next: %s", strerror(-r));
}

/* ------------------------------------------------------------ main loop */

/* Returns true for the handoff descriptor, whose events the caller runs
 * after the batch: they free connections (those the successor took) that
 * may still have an event further in it. Otherwise only a connection's own
 * event frees it, and epoll reports each descriptor once per batch, so no
 * pointer here is stale. */
static bool dispatch(const struct epoll_event *ev)
{
	struct source *s = ev->data.ptr;
	switch (s->kind) {
	case SOURCE_LISTENER: accept_all((struct listener *)s); break;
	case SOURCE_HANDOFF: return true;
	case SOURCE_CONN: conn_event((struct conn *)s, ev->events); break;
	}
	return false;
}

static int wait_timeout(void)
{
	int64_t next = conns_next_timer();
	if (draining && drain_deadline < next)
		next = drain_deadline;
	if (accept_paused && accept_resume < next)
		next = accept_resume;
	if (next == INT64_MAX)
		return -1;
	int64_t left = next - now_ms();
	return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

static int64_t clock_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* The loop turn that began at turn_start (0: none yet), into the longest
 * turns: overall, and before the handover if it began before the drain. */
static void turn_measure(int64_t turn_start, bool began_draining, int64_t *longest,
			 int64_t *before_handover)
{
	int64_t turn = turn_start ? clock_us() - turn_start : 0;
	if (turn > *longest)
		*longest = turn;
	if (!began_draining && turn > *before_handover)
		*before_handover = turn;
}

static int serve(void)
{
	struct epoll_event events[EVENTS_MAX];
	/* The longest turn of the loop (from epoll_wait's return to its next
	 * call): how long a request could wait for us, upgrades included; and
	 * the longest before the handover (the turn that starts the successor
	 * and those until its READY=1): the upgrade's own stall, without the
	 * drain's turns, in which the successor already runs beside us. Logged
	 * at exit with --ballast, which the benchmark reads. A turn counts as
	 * before the handover by how it began: the turn that starts the
	 * successor may also read its READY=1 and begin the drain. */
	int64_t longest_turn_us = 0, before_handover_us = 0, turn_start = 0;
	bool turn_began_draining = false;
	for (;;) {
		turn_measure(turn_start, turn_began_draining, &longest_turn_us,
			     &before_handover_us);
		int n = epoll_wait(epfd, events, EVENTS_MAX, wait_timeout());
		turn_start = clock_us();
		turn_began_draining = draining;
		if (n < 0 && errno != EINTR) {
			say("epoll_wait: %s", strerror(errno));
			return 1;
		}
		now = now_ms();
		bool handoff_ready_to_read = false;
		for (int i = 0; i < n; i++)
			handoff_ready_to_read |= dispatch(&events[i]);
		if (handoff_ready_to_read)
			handoff_events();
		conns_run_timers();
		if (accept_paused && now >= accept_resume)
			accept_unpause();
		if (draining && now >= drain_deadline)
			drain_hammer();
		if (draining && conns_count() == 0)
			break;
	}
	/* The last turn too: idle, the one that starts the successor may
	 * also read its READY=1, begin the drain and end here. */
	turn_measure(turn_start, turn_began_draining, &longest_turn_us, &before_handover_us);
	handoff_free(h);
	if (opt.ballast)
		say("longest loop turn %lld us, before the handover %lld us",
		    (long long)longest_turn_us, (long long)before_handover_us);
	say("drained in %lld ms, exiting", (long long)(now_ms() - drain_start));
	return 0;
}

/* ------------------------------------------------------------ start-up */

static void usage(FILE *to)
{
	fputs("usage: httpd [--listen [NAME=]ADDR]... [--pidfile FILE]\n"
	      "             [--drain-timeout MS] [--ready-timeout MS] [--idle-grace MS]\n"
	      "             [--no-pass]\n"
	      "  --listen [NAME=]ADDR  listen here; repeatable, default 127.0.0.1:8080\n"
	      "                        (ADDR: 127.0.0.1:80, [::]:80, /run/httpd.sock,\n"
	      "                        @abstract, unix:PATH; see handoff.h)\n"
	      "  --pidfile FILE        write our pid here once ready\n"
	      "  --drain-timeout MS    longest drain after a handover (default 10000)\n"
	      "  --ready-timeout MS    how long a successor may take (default 60000)\n"
	      "  --idle-grace MS       how long a draining idle keep-alive connection\n"
	      "                        may still send a request (default 1000)\n"
	      "  --no-pass             at an upgrade, end every connection gracefully\n"
	      "                        instead of moving it to the successor, which\n"
	      "                        happens when both generations can\n"
	      "  --ballast SIZE        once ready, hold SIZE (K, M, G) of touched memory,\n"
	      "                        and log the longest loop turn at exit (benchmark)\n"
	      "  --spawn-fork          start successors with fork(), not vfork()\n"
	      "                        (benchmark; static builds of the library only)\n"
	      "GET / and GET /sleep?ms=N (N up to 60000) answer the generation and\n"
	      "pid; GET /stream?every=MS (1 to 60000, default 100) sends a chunk\n"
	      "\"seq=N gen=G pid=P\" every MS ms; GET /ws is a WebSocket echo (text\n"
	      "\"gen?\" is answered \"gen=G pid=P\"). Streams and WebSockets move to\n"
	      "the successor too; with --no-pass a stream ends with its last chunk\n"
	      "and a WebSocket with close 1001 (going away).\n"
	      "SIGHUP upgrades; SIGTERM, SIGINT, SIGQUIT drain and stop;\n"
	      "SIGUSR2 stops at once.\n",
	      to);
}

__attribute__((format(printf, 1, 2), noreturn))
static void bad_usage(const char *fmt, ...)
{
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	say("%s (try --help)", text);
	exit(2);
}

static int parse_ms(const char *option, const char *text, int min)
{
	char *end;
	errno = 0;
	long v = strtol(text, &end, 10);
	if (errno || end == text || *end || v < min || v > INT_MAX)
		bad_usage("%s: bad value \"%.200s\"", option, text);
	return (int)v;
}

/* "512K", "64M", "8G", or bytes. */
static size_t parse_size(const char *option, const char *text)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(text, &end, 10);
	int shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
	if (shift)
		end++;
	if (errno || end == text || *end || text[0] == '-' || v == 0 ||
	    v > (SIZE_MAX >> shift))
		bad_usage("%s: bad value \"%.200s\"", option, text);
	return (size_t)v << shift;
}

/* "web=127.0.0.1:80" is named; "unix:/run/a=b" is not: a name holds no
 * ':', '/', '@' or '['. */
static const char *listen_address(const char *spec, char *name, size_t size)
{
	const char *eq = strchr(spec, '=');
	size_t n = eq ? (size_t)(eq - spec) : 0;
	name[0] = '\0';
	if (!eq || strcspn(spec, ":/@[") < n)
		return spec;
	if (n == 0 || n >= size)
		bad_usage("--listen %s: bad listener name", spec);
	memcpy(name, spec, n);
	name[n] = '\0';
	return eq + 1;
}

static void add_listen(const char *spec)
{
	char name[HANDOFF_NAME_MAX + 1];
	struct handoff_address a;
	const char *address = listen_address(spec, name, sizeof name);
	if (handoff_address_parse(&a, address) < 0)
		bad_usage("--listen %s: bad address", spec);
	if (a.type != SOCK_STREAM)
		bad_usage("--listen %s: not a stream socket", spec);
	if (opt.listen_count == LISTEN_MAX)
		bad_usage("--listen %s: too many listeners", spec);
	opt.listen[opt.listen_count++] = spec;
}

static void parse_options(int argc, char *argv[])
{
	static const struct option options[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "drain-timeout", required_argument, NULL, 'd' },
		{ "ready-timeout", required_argument, NULL, 'r' },
		{ "idle-grace", required_argument, NULL, 'g' },
		{ "ballast", required_argument, NULL, 'b' },
		{ "spawn-fork", no_argument, NULL, 'f' },
		{ "no-pass", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	opterr = 0; /* our own messages: one line each, with our prefix */
	/* '+': stop at the first operand instead of permuting argv, which
	 * handoff_new() copies for the next generation. */
	while ((c = getopt_long(argc, argv, "+:h", options, NULL)) != -1) {
		switch (c) {
		case 'l': add_listen(optarg); break;
		case 'p': opt.pidfile = optarg; break;
		case 'd':
			opt.drain_timeout_ms = parse_ms("--drain-timeout", optarg, 0);
			break;
		case 'r':
			opt.ready_timeout_ms = parse_ms("--ready-timeout", optarg, 1);
			break;
		case 'g':
			opt.idle_grace_ms = parse_ms("--idle-grace", optarg, 0);
			break;
		case 'b': opt.ballast = parse_size("--ballast", optarg); break;
		case 'f': opt.spawn_fork = true; break;
		case 'n': opt.no_pass = true; break;
		case 'h': usage(stdout); exit(0);
		case ':': bad_usage("%s: missing value", argv[optind - 1]); break;
		default: bad_usage("%s: unknown option", argv[optind - 1]); break;
		}
	}
	if (optind < argc)
		bad_usage("%s: unexpected argument", argv[optind]);
	if (opt.listen_count == 0)
		opt.listen[opt.listen_count++] = "127.0.0.1:8080";
}

/* Our descriptors (epoll, connections) take the lowest free numbers: if
 * 0, 1 or 2 were closed at exec, a connection would become our stderr. */
static void keep_stdio_open(void)
{
	for (int fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && errno == EBADF &&
		    open("/dev/null", O_RDWR) != fd)
			exit(1);
}

static void ignore_sigpipe(void)
{
	/* send() has MSG_NOSIGNAL; this covers writes to a closed log pipe. */
	struct sigaction sa = { .sa_handler = SIG_IGN };
	sigaction(SIGPIPE, &sa, NULL);
}

static void watch(int fd, struct source *source)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = source };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		say("epoll_ctl: %s", strerror(errno));
		exit(1);
	}
}

/* On failure here, exit without handoff_free(): before handoff_ready()
 * our parent, if any, still serves these sockets, and closing would be a
 * final stop (unlinking Unix socket paths). */
static void open_listener(const char *spec)
{
	char name[HANDOFF_NAME_MAX + 1];
	const char *address = listen_address(spec, name, sizeof name);
	int fd = handoff_listen(h, name[0] ? name : NULL, address);
	if (fd < 0) {
		say("cannot listen on %s: %s", spec, strerror(-fd));
		exit(1);
	}
	struct handoff_address a;
	int flags = fcntl(fd, F_GETFL);
	struct listener *l = &listeners[listener_count++];
	*l = (struct listener){
		.source = { SOURCE_LISTENER }, .fd = fd,
		.tcp = handoff_address_of_socket(&a, fd) == 0 && a.family != AF_UNIX,
		.blocking = flags >= 0 && !(flags & O_NONBLOCK),
	};
	watch(fd, &l->source);
	if (l->blocking)
		say("warning: %s was inherited in blocking mode; a handover may "
		    "stall accept() briefly", spec);
}

/* The library's private switch back to fork() for starting successors,
 * there for the benchmark's comparison (src/base/spawn.c). Weak: with the
 * shared library, which exports handoff_* only, it is absent. */
void ho_spawn_use_fork(int on) __attribute__((weak));

static void spawn_with_fork(void)
{
	if (!ho_spawn_use_fork) {
		say("--spawn-fork: not in this build of the library");
		exit(2);
	}
	ho_spawn_use_fork(1);
}

/* The memory a big server holds (a cache, a heap): what a successor's start
 * must not cost more for. Every page allocated and mapped writable, as if
 * written (page-table entries are what fork() copies), in 4 KiB pages as
 * most heaps are: transparent huge pages would hide the cost behind 512
 * times fewer entries. MADV_POPULATE_WRITE (Linux 5.14) rather than a
 * write per page: the same pages and entries, without a fault each (in a
 * VM, each first write also faults in the host: seconds per GB). After
 * ready, so that our own start does not count in the upgrade that started
 * us; before the loop, so that it is not a loop turn.
 *
 * In a thread of its own: filling 8 GB is seconds of work, and the kernel
 * remembers a thread that has just worked hard (its estimated use of a
 * CPU), which moves where it places the threads it wakes and starts. The
 * server thread then meets its upgrade like any idle server, whatever the
 * size: the benchmark compares memory held, not a recent burst of work. */
static void *ballast_fill(void *arg)
{
	char *p = arg;
	madvise(p, opt.ballast, MADV_NOHUGEPAGE);
#ifdef MADV_POPULATE_WRITE
	if (madvise(p, opt.ballast, MADV_POPULATE_WRITE) < 0)
#endif
	{
		long page = sysconf(_SC_PAGESIZE);
		for (size_t i = 0; i < opt.ballast; i += (size_t)page)
			p[i] = 1;
	}
	return NULL;
}

static void ballast_touch(void)
{
	int64_t start = now_ms();
	char *p = mmap(NULL, opt.ballast, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		say("--ballast: %s", strerror(errno));
		return;
	}
	/* No signal of ours lands in the filler: it starts with all blocked. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t filler;
	int err = pthread_create(&filler, NULL, ballast_fill, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err == 0)
		pthread_join(filler, NULL);
	else
		ballast_fill(p); /* here, then */
	say("ballast: %zu MiB touched in %lld ms", opt.ballast >> 20,
	    (long long)(now_ms() - start));
}

static void log_ready(void)
{
	size_t count = handoff_listener_count(h), used = 0;
	char list[LOG_MAX - 128] = "";
	for (size_t i = 0; i < count && used < sizeof list; i++) {
		char text[HANDOFF_ADDRESS_TEXT_MAX];
		struct handoff_address a;
		if (handoff_listener_address(h, i, &a) < 0 ||
		    handoff_address_format(&a, text, sizeof text) < 0)
			snprintf(text, sizeof text, "fd %d", handoff_listener_fd(h, i));
		used += (size_t)snprintf(list + used, sizeof list - used, "%s%s (%s)",
					 i ? ", " : "", text,
					 handoff_listener_inherited(h, i) == 1 ? "inherited" : "new");
	}
	say("ready on %s", list);
}

int main(int argc, char *argv[])
{
	keep_stdio_open();
	parse_options(argc, argv);
	if (opt.spawn_fork)
		spawn_with_fork();
	ignore_sigpipe();
	struct handoff_config config = {
		.size = sizeof config,
		.flags = HANDOFF_SIGNALS | (opt.no_pass ? 0 : HANDOFF_CONNECTIONS),
		.ready_timeout_ms = opt.ready_timeout_ms,
		.pidfile = opt.pidfile,
	};
	int err = handoff_new(&h, &config, argc, argv);
	if (err < 0) {
		say("handoff_new: %s%s", strerror(-err),
		    err == -EBUSY ? " (another instance holds the pid file)" : "");
		return 1;
	}
	generation = handoff_generation(h);
	/* After handoff_new: inherited sockets sit at 3, 4, ... */
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0) {
		say("epoll_create1: %s", strerror(errno));
		return 1;
	}
	for (size_t i = 0; i < opt.listen_count; i++)
		open_listener(opt.listen[i]);
	/* What the library ignored or overrode (a malformed LISTEN_FDS, a
	 * service manager's address instead of ours) is worth a line. */
	const char *warning = handoff_warning(h);
	if (warning)
		say("warning: %s", warning);
	watch(handoff_fd(h), &handoff_source);
	err = handoff_ready(h); /* from here our parent, if any, drains */
	if (err < 0) {
		say("handoff_ready: %s", strerror(-err));
		return 1;
	}
	log_ready();
	if (opt.ballast)
		ballast_touch();
	return serve();
}
