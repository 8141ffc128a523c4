/* handoff.c — a generation's life: start (inherit), claim listeners, say
 * ready, close. Upgrading and events live in upgrade.c. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void reset_descriptors(struct handoff *h)
{
	h->epoll_fd = h->parent_fd = h->child_fd = h->child_pidfd = h->supervisor_fd = -1;
	h->timer_fd = h->signal_fd = h->pidfile_fd = -1;
}

static void free_argv(char **argv)
{
	for (char **a = argv; a && *a; a++)
		free(*a);
	free(argv);
}

static char **dup_argv(char *const argv[], size_t n)
{
	char **copy = calloc(n + 1, sizeof *copy);
	for (size_t i = 0; copy && i < n; i++)
		if (!(copy[i] = strdup(argv[i]))) {
			free_argv(copy);
			return NULL;
		}
	return copy;
}

static int copy_argv(struct handoff *h, int argc, char *argv[])
{
	h->exec_argv = dup_argv(argv, argc > 0 ? (size_t)argc : 0);
	if (!h->exec_argv)
		return -ENOMEM;
	h->exec_path = argc > 0 ? ho_resolve_program(argv[0]) : NULL;
	if (!h->exec_path)
		h->exec_errno = argc > 0 && errno ? errno : ENOENT;
	return 0;
}

int handoff_set_exec(struct handoff *h, const char *path, char *const argv[])
{
	if (!path || !strchr(path, '/') || !argv || !argv[0])
		return -EINVAL;
	char *resolved = ho_resolve_program(path); /* made absolute, now */
	if (!resolved)
		return -errno;
	size_t n = 0;
	while (argv[n])
		n++;
	char **copy = dup_argv(argv, n);
	if (!copy) {
		free(resolved);
		return -ENOMEM;
	}
	free(h->exec_path);
	free_argv(h->exec_argv);
	h->exec_path = resolved;
	h->exec_argv = copy;
	h->exec_errno = 0;
	return 0;
}

static int take_inheritance(struct handoff *h)
{
	struct ho_inherited in;
	int r = ho_environ_take(&in, h->warning, sizeof h->warning);
	if (r < 0)
		return r;
	h->inherited_count = in.count;
	h->inherited_names = in.names;
	h->generation = in.generation;
	h->parent_fd = in.parent_fd;
	h->supervisor_fd = in.supervisor_fd;
	h->supervised = in.supervised;
	if (in.count && !(h->inherited = calloc(in.count, sizeof *h->inherited)))
		return -ENOMEM;
	const char *name = in.names;
	for (size_t i = 0; i < in.count; i++) {
		struct ho_inherited_socket *sock = &h->inherited[i];
		ho_describe_inherited(sock, HO_LISTEN_FDS_START + (int)i);
		sock->name = name ? name : "";
		sock->name_length = name ? strcspn(name, ":") : 0;
		if (name)
			name = name[sock->name_length] ? name + sock->name_length + 1 : "";
	}
	/* Who made the channel, not getppid(): a parent that died before we
	 * got here would be reported as pid 1, or as a subreaper. */
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (h->parent_fd >= 0)
		h->parent_pid = getsockopt(h->parent_fd, SOL_SOCKET, SO_PEERCRED, &cred,
					   &len) == 0 ? cred.pid : getppid();
	return 0;
}

/* A second instance must not start on a live one's pid file; a successor
 * skips this, its parent holds the lock on purpose. */
static int check_pidfile(struct handoff *h)
{
	pid_t holder;
	if (!h->config.pidfile || h->parent_fd >= 0)
		return 0;
	return ho_pidfile_check(h->config.pidfile, &holder);
}

static int setup_events(struct handoff *h)
{
	int r = ho_watch_open(h);
	if (r < 0)
		return r;
	if (!(h->config.flags & HANDOFF_SIGNALS))
		return 0;
	r = ho_signals_install();
	if (r < 0)
		return r;
	h->signal_fd = ho_signals_fd();
	return ho_watch(h, h->signal_fd);
}

/* struct handoff_config is extensible, the way clone3(2) and openat2(2)
 * read theirs: a program built against an older header passes a smaller
 * size, and the fields it does not know keep their defaults (zero); one
 * built against a newer header passes a larger size, accepted as long as
 * every field we do not know is zero, since a non-zero one is a request we
 * cannot honour. */
enum { HO_CONFIG_SIZE_MAX = 4096 }; /* openat2(2) stops at a page too */

static int read_config(struct handoff_config *out, const struct handoff_config *in)
{
	*out = (struct handoff_config){ .size = sizeof *out };
	if (in) {
		if (in->size < HANDOFF_CONFIG_SIZE_VER1)
			return -EINVAL;
		if (in->size > HO_CONFIG_SIZE_MAX) /* garbage, not a newer header */
			return -E2BIG;
		size_t known = in->size < sizeof *out ? in->size : sizeof *out;
		const unsigned char *bytes = (const unsigned char *)in;
		for (size_t i = known; i < in->size; i++)
			if (bytes[i])
				return -E2BIG;
		memcpy(out, in, known);
		out->size = sizeof *out;
	}
	if (out->ready_timeout_ms <= 0)
		out->ready_timeout_ms = 60000;
	return 0;
}

static int start(struct handoff *h, const struct handoff_config *config,
		 int argc, char *argv[])
{
	int r = read_config(&h->config, config);
	if (r < 0)
		return r;
	/* Inherited descriptors first: anything we open before looking at
	 * them could take the number of one that was not passed after all. */
	r = take_inheritance(h);
	if (r == 0)
		r = copy_argv(h, argc, argv);
	if (r == 0)
		r = setup_events(h);
	if (r == 0 && h->parent_fd >= 0)
		r = ho_watch(h, h->parent_fd);
	if (r == 0 && h->supervisor_fd >= 0)
		r = ho_watch(h, h->supervisor_fd);
	if (r == 0)
		r = ho_take_open(h);
	if (r == 0)
		r = check_pidfile(h);
	return r;
}

int handoff_new(struct handoff **out, const struct handoff_config *config,
		int argc, char *argv[])
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	struct handoff *h = calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	reset_descriptors(h);
	int r = start(h, config, argc, argv);
	if (r < 0) {
		handoff_free(h);
		return r;
	}
	*out = h;
	return 0;
}

/* ------------------------------------------------------------ listeners */

static int name_in_use(const struct handoff *h, const char *name)
{
	for (size_t i = 0; name && i < h->listener_count; i++)
		if (strcmp(h->listeners[i].name, name) == 0)
			return 1;
	return 0;
}

/* known: the socket's address when already described (inherited), or
 * NULL to ask the kernel. */
static int append_listener(struct handoff *h, int fd, int inherited,
			   const struct handoff_address *known, const char *name)
{
	if (h->listener_count == h->listener_capacity) {
		size_t cap = h->listener_capacity ? h->listener_capacity * 2 : 8;
		void *grown = realloc(h->listeners, cap * sizeof *h->listeners);
		if (!grown)
			return -ENOMEM;
		h->listeners = grown;
		h->listener_capacity = cap;
	}
	struct handoff_listener *l = &h->listeners[h->listener_count];
	int r;
	memset(l, 0, sizeof *l);
	if (known)
		l->address = *known;
	else if ((r = handoff_address_of_socket(&l->address, fd)) < 0)
		return r;
	l->fd = fd;
	l->inherited = inherited;
	l->owns_path = !inherited || h->parent_fd >= 0;
	if (name)
		snprintf(l->name, sizeof l->name, "%s", name);
	/* Remember which inode the path names now: at final stop we unlink it
	 * only if it still names this one, not a successor's or a stranger's. */
	struct stat st;
	if (l->address.family == AF_UNIX && l->address.u.un.sun_path[0] &&
	    stat(l->address.u.un.sun_path, &st) == 0) {
		l->path_dev = st.st_dev;
		l->path_ino = st.st_ino;
	}
	h->listener_count++;
	return 0;
}

static int inherited_name_is(const struct ho_inherited_socket *sock,
			     const char *name)
{
	if (!name) /* asking for "unnamed": systemd's default is "unknown" */
		return sock->name_length == 0 ||
		       (sock->name_length == 7 && memcmp(sock->name, "unknown", 7) == 0);
	return strlen(name) == sock->name_length &&
	       memcmp(sock->name, name, sock->name_length) == 0;
}

/* Same kind of socket: stream or datagram, IP (v4 or v6) or Unix. */
static int same_kind(const struct handoff_address *a,
		     const struct handoff_address *b)
{
	int ip_a = a->family != AF_UNIX, ip_b = b->family != AF_UNIX;
	return a->type == b->type && ip_a == ip_b;
}

/* A name given by a service manager (systemd, the supervisor) wins over
 * our address: its unit file decides where to listen ("ListenStream=8080"
 * is [::]:8080 while we may say *:8080). A name from a previous generation
 * does not: there a changed address is a changed configuration. */
static int name_match_usable(struct handoff *h, const struct ho_inherited_socket *sock,
			     const struct handoff_address *want, int any_port)
{
	if (!want || ho_address_matches(&sock->address, want, any_port))
		return 1;
	if (h->parent_fd >= 0 || !same_kind(&sock->address, want))
		return 0;
	char have[HANDOFF_ADDRESS_TEXT_MAX], asked[HANDOFF_ADDRESS_TEXT_MAX];
	handoff_address_format(&sock->address, have, sizeof have);
	handoff_address_format(want, asked, sizeof asked);
	if (!h->warning[0])
		snprintf(h->warning, sizeof h->warning, "listener %.*s: using %s, "
			 "as passed by the service manager, rather than %s",
			 (int)(sock->name_length > 64 ? 64 : sock->name_length), sock->name, have, asked);
	return 1;
}

/* Finds an unclaimed inherited socket matching name and/or address. With a
 * name, a socket of that name wins; failing that, an unnamed one at the
 * same address (a .socket unit without FileDescriptorName=). Port 0 is
 * matched by name only: any inherited socket would "match" it. */
static int claim_inherited(struct handoff *h, const char *name,
			   const struct handoff_address *want)
{
	int any_port = want && ((want->family == AF_INET && !want->u.in.sin_port) ||
				(want->family == AF_INET6 && !want->u.in6.sin6_port));
	for (int pass = 0; pass < 2; pass++) {
		const char *wanted_name = pass == 0 ? name : NULL;
		if (pass == 1 && (any_port || !want))
			break;
		/* Programs claim in the order they were passed, mostly: start
		 * past the claimed prefix, so that n claims cost O(n). */
		while (h->first_unclaimed < h->inherited_count &&
		       h->inherited[h->first_unclaimed].claimed)
			h->first_unclaimed++;
		for (size_t i = h->first_unclaimed; i < h->inherited_count; i++) {
			struct ho_inherited_socket *sock = &h->inherited[i];
			if (sock->claimed || !sock->listening ||
			    !inherited_name_is(sock, wanted_name))
				continue;
			if (wanted_name ? !name_match_usable(h, sock, want, any_port)
					: want && !ho_address_matches(&sock->address, want, any_port))
				continue;
			sock->claimed = 1;
			return HO_LISTEN_FDS_START + (int)i;
		}
		if (!name)
			break;
	}
	return -ENOENT;
}

static int check_request(const struct handoff *h, const char *name)
{
	if (h->state != HANDOFF_STATE_STARTING)
		return -EBUSY;
	if (name && !ho_name_valid(name))
		return -EINVAL;
	return name_in_use(h, name) ? -EEXIST : 0;
}

static int claim(struct handoff *h, const char *name,
		 const struct handoff_address *want, int create)
{
	int fd = claim_inherited(h, name, want);
	int inherited = fd >= 0;
	if (fd < 0 && create)
		fd = ho_listener_open(want, h->listen_grouped);
	if (fd < 0)
		return fd;
	const struct handoff_address *known =
		inherited ? &h->inherited[fd - HO_LISTEN_FDS_START].address : NULL;
	int r = append_listener(h, fd, inherited, known, name);
	if (r < 0) {
		/* An inherited socket stays claimable; a new one is closed. */
		if (inherited) {
			h->inherited[fd - HO_LISTEN_FDS_START].claimed = 0;
			h->first_unclaimed = 0;
		} else {
			close(fd);
		}
		return r;
	}
	return fd;
}

int handoff_listen(struct handoff *h, const char *name, const char *address)
{
	struct handoff_address want;
	int r = check_request(h, name);
	if (r == 0)
		r = handoff_address_parse(&want, address);
	return r < 0 ? r : claim(h, name, &want, 1);
}

int handoff_inherited(struct handoff *h, const char *name, const char *address)
{
	struct handoff_address want;
	int r = check_request(h, name);
	if (r == 0 && !name && !address)
		r = -EINVAL;
	if (r == 0 && address)
		r = handoff_address_parse(&want, address);
	return r < 0 ? r : claim(h, name, address ? &want : NULL, 0);
}

int handoff_add(struct handoff *h, const char *name, int fd)
{
	struct handoff_address have;
	int r = check_request(h, name);
	if (r == 0 && fd <= 2)
		r = -EINVAL;
	if (r == 0)
		r = handoff_address_of_socket(&have, fd);
	if (r == 0)
		r = ho_set_cloexec(fd, 1);
	return r < 0 ? r : append_listener(h, fd, 0, &have, name);
}

/* ----------------------------------------------------------------- ready */

/* Sockets the previous generation passed that this version does not use:
 * each copy keeps a port bound, so they go now. Non-sockets (a stray fd 3
 * from a shell) were never ours to close. */
static void close_unclaimed(struct handoff *h)
{
	for (size_t i = 0; i < h->inherited_count; i++)
		if (!h->inherited[i].claimed && h->inherited[i].is_socket)
			close(HO_LISTEN_FDS_START + (int)i);
	free(h->inherited);
	free(h->inherited_names);
	h->inherited = NULL;
	h->inherited_names = NULL;
	h->inherited_count = 0;
}

static void tell_parent_ready(struct handoff *h)
{
	char msg[112];
	/* connections=1: we take live connections (conn_take.c); a parent
	 * that does not know the field ignores it. */
	int n = snprintf(msg, sizeof msg, "handoff %d ready pid=%ld generation=%u%s\n",
			 HANDOFF_PROTOCOL_VERSION, (long)getpid(), h->generation,
			 h->config.flags & HANDOFF_CONNECTIONS ? " connections=1" : "");
	/* A parent that is gone cannot drain; nothing else to do. */
	ho_send(h->parent_fd, msg, (size_t)n, MSG_NOSIGNAL);
}

int handoff_ready(struct handoff *h)
{
	if (h->state != HANDOFF_STATE_STARTING)
		return -EALREADY;
	if (h->config.pidfile) {
		int fd = ho_pidfile_write(h->config.pidfile, getpid());
		if (fd < 0)
			return fd;
		ho_close(&h->pidfile_fd);
		h->pidfile_fd = fd;
	}
	close_unclaimed(h);
	h->state = HANDOFF_STATE_SERVING;
	/* The service manager hears it from us before the parent hands the
	 * main pid over and starts to drain. */
	char msg[96];
	/* HANDOFF_CONNECTIONS=1: the supervisor may introduce our
	 * predecessor and, later, our successor (supervised.c). */
	snprintf(msg, sizeof msg, "READY=1\nMAINPID=%ld%s", (long)getpid(),
		 h->supervisor_fd >= 0 && (h->config.flags & HANDOFF_CONNECTIONS)
			 ? "\nHANDOFF_CONNECTIONS=1" : "");
	ho_notify(h, msg);
	if (h->parent_fd >= 0)
		tell_parent_ready(h);
	return 0;
}

/* ----------------------------------------------------------------- close */

/* A generation that never got ready has not taken over anything: the
 * paths it inherited still belong to the parent serving them. */
static void unlink_if_ours(const struct handoff *h, const struct handoff_listener *l)
{
	struct stat st;
	const char *path = l->address.u.un.sun_path;
	if (l->address.family != AF_UNIX || !path[0] || !l->owns_path ||
	    (l->inherited && h->state == HANDOFF_STATE_STARTING))
		return;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == l->path_dev && st.st_ino == l->path_ino)
		unlink(path);
}

void handoff_close_listeners(struct handoff *h)
{
	/* A final stop while a successor starts: the successor must not go
	 * on serving from paths we are about to unlink. */
	if (h->state == HANDOFF_STATE_UPGRADING)
		ho_upgrade_abort(h);
	int final = h->state != HANDOFF_STATE_HANDED_OVER;
	for (size_t i = 0; i < h->listener_count; i++) {
		struct handoff_listener *l = &h->listeners[i];
		if (l->fd < 0)
			continue;
		if (final)
			unlink_if_ours(h, l);
		ho_close(&l->fd);
	}
	if (final && h->state != HANDOFF_STATE_STARTING && !h->stopping_sent) {
		h->stopping_sent = 1;
		ho_notify(h, "STOPPING=1");
	}
}

void handoff_free(struct handoff *h)
{
	if (!h)
		return;
	handoff_close_listeners(h);
	free(h->inherited); /* never got ready: the fds are left alone */
	free(h->inherited_names);
	if (h->state != HANDOFF_STATE_HANDED_OVER)
		ho_pidfile_remove(h->config.pidfile, h->pidfile_fd);
	if (h->signal_fd >= 0) {
		ho_signals_uninstall(h->state == HANDOFF_STATE_HANDED_OVER);
		h->signal_fd = -1;
	}
	ho_close(&h->pidfile_fd);
	ho_take_free(h); /* what was not taken goes back to the predecessor */
	ho_pass_free(h); /* the descriptors passed are the application's */
	ho_close(&h->parent_fd);
	ho_close(&h->supervisor_fd);
	/* After a handover the successor's end reads EOF when this process is
	 * gone, not before: it must not upgrade while we still drain. So the
	 * kernel closes this one at exit (it is close-on-exec). */
	if (h->state != HANDOFF_STATE_HANDED_OVER)
		ho_close(&h->child_fd);
	ho_close(&h->child_pidfd);
	ho_close(&h->timer_fd);
	ho_close(&h->epoll_fd);
	free(h->listeners);
	free(h->exec_path);
	free_argv(h->exec_argv);
	free(h);
}

/* --------------------------------------------------------------- getters */

/* From the header's three macros, so there is one place to bump. */
#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

const char *handoff_version(void)
{
	return STRINGIFY(HANDOFF_VERSION_MAJOR) "." STRINGIFY(HANDOFF_VERSION_MINOR)
		"." STRINGIFY(HANDOFF_VERSION_PATCH);
}

int handoff_version_number(void)
{
	return HANDOFF_VERSION_NUMBER;
}

unsigned handoff_generation(const struct handoff *h)
{
	return h->generation;
}

enum handoff_state handoff_state(const struct handoff *h)
{
	return h->state;
}

const char *handoff_warning(const struct handoff *h)
{
	return h->warning[0] ? h->warning : NULL;
}

int handoff_fd(const struct handoff *h)
{
	return h->epoll_fd;
}

const struct handoff_listener *ho_listeners(const struct handoff *h,
					    size_t *count)
{
	*count = h->listener_count;
	return h->listeners;
}

size_t handoff_listener_count(const struct handoff *h)
{
	return h->listener_count;
}

static const struct handoff_listener *listener_at(const struct handoff *h,
						  size_t index)
{
	return index < h->listener_count ? &h->listeners[index] : NULL;
}

int handoff_listener_fd(const struct handoff *h, size_t index)
{
	const struct handoff_listener *l = listener_at(h, index);
	return !l ? -ENOENT : l->fd < 0 ? -EBADF : l->fd;
}

const char *handoff_listener_name(const struct handoff *h, size_t index)
{
	const struct handoff_listener *l = listener_at(h, index);
	return l ? l->name : NULL;
}

int handoff_listener_address(const struct handoff *h, size_t index,
			     struct handoff_address *address)
{
	const struct handoff_listener *l = listener_at(h, index);
	if (!l)
		return -ENOENT;
	*address = l->address;
	return 0;
}

int handoff_listener_inherited(const struct handoff *h, size_t index)
{
	const struct handoff_listener *l = listener_at(h, index);
	return l ? l->inherited : -ENOENT;
}
