/* internal.h — what libhandoff's files share; not installed. Builds on
 * the private base library (base/base.h). Internal symbols carry the ho_
 * prefix and are hidden; public ones are handoff_. */
#ifndef HO_INTERNAL_H
#define HO_INTERNAL_H

#include "base.h"

/* environ.c: the protocol between generations, incoming */
struct ho_inherited {
	size_t count;        /* fds [3, 3 + count) */
	char *names;         /* LISTEN_FDNAMES copy, ':'-separated, or NULL */
	int parent_fd;       /* HANDOFF_FD, or -1 */
	unsigned generation; /* HANDOFF_GENERATION, or 1 */
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
int ho_listener_open(const struct handoff_address *address);
void ho_describe_inherited(struct ho_inherited_socket *s, int fd);
int ho_address_matches(const struct handoff_address *have,
		       const struct handoff_address *want, int any_port);

/* handoff.c, upgrade.c */
int ho_watch(struct handoff *h, int fd);
void ho_notify(const struct handoff *h, const char *state);
void ho_upgrade_abort(struct handoff *h);

/* notify.c */
int ho_notify_send(const char *state, int fd_to_pass);

/* signals.c */
int ho_signals_install(void);
void ho_signals_uninstall(void);
int ho_signals_fd(void);

#endif
