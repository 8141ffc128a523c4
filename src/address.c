/* address.c — textual addresses to sockaddr and back. No DNS: a server
 * must not hang at start-up on a resolver. */
#include "internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

struct scheme {
	const char *prefix;
	int family; /* 0: decided by what follows */
	int type;
};

static const struct scheme schemes[] = {
	{ "tcp:", 0, SOCK_STREAM },
	{ "udp:", 0, SOCK_DGRAM },
	{ "unix:", AF_UNIX, SOCK_STREAM },
	{ "unixgram:", AF_UNIX, SOCK_DGRAM },
};

static int parse_port(const char *text, in_port_t *port)
{
	unsigned long value;
	if (ho_parse_uint(text, 65535, &value) < 0)
		return -EINVAL;
	*port = htons((in_port_t)value);
	return 0;
}

static int parse_unix(struct handoff_address *a, const char *path, int type)
{
	size_t len = strlen(path);
	struct sockaddr_un *un = &a->u.un;
	/* sun_path need not be NUL-terminated for abstract names, but we keep
	 * room for one on paths so they can be passed to unlink(). */
	if (len <= (path[0] == '@') || len >= sizeof un->sun_path)
		return -EINVAL;
	if (path[0] != '/' && path[0] != '@' && path[0] != '.')
		return -EINVAL;
	un->sun_family = AF_UNIX;
	memcpy(un->sun_path, path, len);
	if (path[0] == '@')
		un->sun_path[0] = '\0';
	a->family = AF_UNIX;
	a->type = type;
	a->length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
				(path[0] != '@'));
	return 0;
}

static int parse_inet(struct handoff_address *a, const char *text, int type)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(text, ':');
	if (!colon || (size_t)(colon - text) >= sizeof host)
		return -EINVAL;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	in_port_t port;
	if (parse_port(colon + 1, &port) < 0)
		return -EINVAL;
	a->type = type;
	size_t hl = strlen(host);
	if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		a->family = AF_INET6;
		a->length = sizeof a->u.in6;
		a->u.in6.sin6_family = AF_INET6;
		a->u.in6.sin6_port = port;
		return inet_pton(AF_INET6, host + 1, &a->u.in6.sin6_addr) == 1
			       ? 0
			       : -EINVAL;
	}
	a->family = AF_INET;
	a->length = sizeof a->u.in;
	a->u.in.sin_family = AF_INET;
	a->u.in.sin_port = port;
	if (strcmp(host, "*") == 0) {
		a->u.in.sin_addr.s_addr = htonl(INADDR_ANY);
		return 0;
	}
	if (strcmp(host, "localhost") == 0)
		strcpy(host, "127.0.0.1");
	return inet_pton(AF_INET, host, &a->u.in.sin_addr) == 1 ? 0 : -EINVAL;
}

int handoff_address_parse(struct handoff_address *a, const char *text)
{
	if (!a || !text)
		return -EINVAL;
	memset(a, 0, sizeof *a);
	if (strlen(text) >= HANDOFF_ADDRESS_TEXT_MAX)
		return -EINVAL;
	int family = 0, type = SOCK_STREAM;
	for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
		size_t n = strlen(schemes[i].prefix);
		if (strncmp(text, schemes[i].prefix, n) == 0) {
			family = schemes[i].family;
			type = schemes[i].type;
			text += n;
			break;
		}
	}
	int looks_unix = text[0] == '/' || text[0] == '@' || text[0] == '.';
	if (family == AF_UNIX || (family == 0 && looks_unix && type == SOCK_STREAM))
		return parse_unix(a, text, type);
	int r = parse_inet(a, text, type);
	if (r < 0)
		memset(a, 0, sizeof *a);
	return r;
}

static const char *scheme_of(const struct handoff_address *a)
{
	if (a->family == AF_UNIX)
		return a->type == SOCK_DGRAM ? "unixgram:" : "unix:";
	return a->type == SOCK_DGRAM ? "udp:" : "";
}

int handoff_address_format(const struct handoff_address *a, char *buf,
			   size_t size)
{
	char host[INET6_ADDRSTRLEN];
	int n;
	switch (a->family) {
	case AF_INET:
		inet_ntop(AF_INET, &a->u.in.sin_addr, host, sizeof host);
		n = snprintf(buf, size, "%s%s:%u", scheme_of(a), host,
			     ntohs(a->u.in.sin_port));
		break;
	case AF_INET6:
		inet_ntop(AF_INET6, &a->u.in6.sin6_addr, host, sizeof host);
		n = snprintf(buf, size, "%s[%s]:%u", scheme_of(a), host,
			     ntohs(a->u.in6.sin6_port));
		break;
	case AF_UNIX: {
		size_t off = offsetof(struct sockaddr_un, sun_path);
		size_t len = a->length > off ? a->length - off : 0;
		const char *p = a->u.un.sun_path;
		int abstract = len > 0 && p[0] == '\0';
		if (!abstract)
			len = strnlen(p, len);
		n = snprintf(buf, size, "%s%s%.*s", scheme_of(a),
			     abstract ? "@" : "", (int)(len - (size_t)abstract),
			     p + abstract);
		break;
	}
	default:
		return -EINVAL;
	}
	return n < 0 || (size_t)n >= size ? -ENOSPC : n;
}

/* Unix paths compare by their text: the kernel reports sun_path with or
 * without the trailing NUL depending on how the socket was bound. */
static int unix_equal(const struct handoff_address *a,
		      const struct handoff_address *b)
{
	size_t off = offsetof(struct sockaddr_un, sun_path);
	size_t la = a->length > off ? a->length - off : 0;
	size_t lb = b->length > off ? b->length - off : 0;
	const char *pa = a->u.un.sun_path, *pb = b->u.un.sun_path;
	if (la > 0 && lb > 0 && pa[0] == '\0' && pb[0] == '\0')
		return la == lb && memcmp(pa, pb, la) == 0; /* abstract */
	if (la == 0 || lb == 0 || pa[0] == '\0' || pb[0] == '\0')
		return 0;
	la = strnlen(pa, la);
	lb = strnlen(pb, lb);
	return la == lb && memcmp(pa, pb, la) == 0;
}

int handoff_address_equal(const struct handoff_address *a,
			  const struct handoff_address *b)
{
	if (a->family != b->family || a->type != b->type)
		return 0;
	switch (a->family) {
	case AF_INET:
		return a->u.in.sin_port == b->u.in.sin_port &&
		       a->u.in.sin_addr.s_addr == b->u.in.sin_addr.s_addr;
	case AF_INET6:
		return a->u.in6.sin6_port == b->u.in6.sin6_port &&
		       memcmp(&a->u.in6.sin6_addr, &b->u.in6.sin6_addr,
			      sizeof a->u.in6.sin6_addr) == 0;
	case AF_UNIX:
		return unix_equal(a, b);
	}
	return 0;
}

int handoff_address_of_socket(struct handoff_address *a, int fd)
{
	memset(a, 0, sizeof *a);
	socklen_t len = sizeof a->type;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &a->type, &len) < 0)
		return -errno;
	len = sizeof a->u.storage;
	if (getsockname(fd, &a->u.sa, &len) < 0)
		return -errno;
	a->family = a->u.sa.sa_family;
	a->length = len;
	if (a->family != AF_INET && a->family != AF_INET6 && a->family != AF_UNIX)
		return -EAFNOSUPPORT;
	return 0;
}
