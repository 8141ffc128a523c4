/* adopt_match.c — the rules of adopt_match.h, on bytes read from another
 * process: every length is checked before it is used. */
#include "adopt_match.h"

#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

/* An endpoint reduced to what the rules compare. */
struct endpoint_key {
	int family;
	unsigned port;              /* inet: host order */
	unsigned char address[16];  /* inet: 4 or 16 bytes */
	int any;                    /* inet: the wildcard address */
	const char *name;           /* unix: path or abstract name */
	size_t name_length;         /*   (abstract: with its leading NUL) */
};

static int key_of(const void *sa, size_t len, struct endpoint_key *k)
{
	sa_family_t family;
	if (len < sizeof family)
		return -1;
	memcpy(&family, sa, sizeof family);
	*k = (struct endpoint_key){ .family = family };
	if (family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in in;
		memcpy(&in, sa, sizeof in);
		k->port = ntohs(in.sin_port);
		memcpy(k->address, &in.sin_addr, 4);
		k->any = in.sin_addr.s_addr == htonl(INADDR_ANY);
		return 0;
	}
	/* The kernel takes the 24-byte sockaddr_in6 of RFC 2133 too. */
	if (family == AF_INET6 && len >= offsetof(struct sockaddr_in6, sin6_scope_id)) {
		struct sockaddr_in6 in6 = { 0 };
		memcpy(&in6, sa, len < sizeof in6 ? len : sizeof in6);
		k->port = ntohs(in6.sin6_port);
		memcpy(k->address, &in6.sin6_addr, 16);
		k->any = IN6_IS_ADDR_UNSPECIFIED(&in6.sin6_addr);
		return 0;
	}
	if (family == AF_UNIX && len <= sizeof(struct sockaddr_un)) {
		const char *path = (const char *)sa + offsetof(struct sockaddr_un, sun_path);
		size_t n = len - offsetof(struct sockaddr_un, sun_path);
		if (n > 0 && path[0] != '\0')
			n = strnlen(path, n); /* a path ends at its NUL, if any */
		k->name = path;
		k->name_length = n;
		return 0;
	}
	return -1;
}

static int never_adopted(const struct endpoint_key *k)
{
	return k->family == AF_UNIX ? k->name_length == 0 : k->port == 0;
}

static int same_endpoint(const struct endpoint_key *a, const struct endpoint_key *b)
{
	if (a->family == AF_UNIX)
		return a->name_length == b->name_length &&
		       memcmp(a->name, b->name, a->name_length) == 0;
	return a->port == b->port &&
	       memcmp(a->address, b->address, a->family == AF_INET ? 4 : 16) == 0;
}

/* The same port under another family or address, or the same path on a
 * socket of another type: worth telling the user. */
static int near_miss(const struct endpoint_key *a, const struct endpoint_key *b)
{
	if (a->family == AF_UNIX || b->family == AF_UNIX)
		return a->family == b->family && same_endpoint(a, b);
	return a->port == b->port;
}

int adopt_match(const struct adopt_held *held, size_t count, int domain, int type,
		int protocol, const void *sa, size_t len, int *near)
{
	struct endpoint_key want, have;
	*near = -1;
	if (key_of(sa, len, &want) < 0 || want.family != domain || never_adopted(&want))
		return ADOPT_PASS;
	int wildcard = -1, wildcards = 0;
	for (size_t i = 0; i < count; i++) {
		const struct handoff_address *a = &held[i].address;
		if (key_of(&a->u, a->length, &have) < 0)
			continue;
		int kind = have.family == want.family && a->type == type &&
			   held[i].protocol == protocol;
		if (kind && same_endpoint(&have, &want)) {
			*near = -1;
			return (int)i;
		}
		if (kind && want.family != AF_UNIX && have.port == want.port &&
		    (have.any || want.any)) {
			wildcard = (int)i;
			wildcards++;
		} else if (*near < 0 && near_miss(&have, &want)) {
			*near = (int)i;
		}
	}
	if (wildcards == 1) {
		*near = -1;
		return wildcard;
	}
	if (wildcards > 1)
		*near = wildcard; /* ambiguous: which of them? */
	return ADOPT_NONE;
}
