/* environ.c — handoff_new() reading LISTEN_PID, LISTEN_FDS,
 * LISTEN_FDNAMES, HANDOFF_FD and HANDOFF_GENERATION, then
 * handoff_inherited() claiming what the input asks for, then
 * handoff_free().
 *
 * Input: lines, in this order (a missing line or "!" leaves the variable
 * unset; "$$" anywhere becomes our pid):
 *   LISTEN_PID / LISTEN_FDS / LISTEN_FDNAMES / HANDOFF_FD /
 *   HANDOFF_GENERATION / claims: "NAME|ADDRESS;..." (either side may be
 *   empty: NULL), passed to handoff_inherited().
 *
 * The descriptors an inheriting process would find are laid out once, at
 * fixed numbers (see layout[]); every run must leave the descriptor table
 * as it found it: the library may close only what it adopted (a claimed
 * listener, its parent channel), which is then put back from a copy. */
#include "check.h"
#include "internal.h" /* the fields it checks: inherited_count, parent_fd */

#include <errno.h>
#include <fcntl.h>
#include <handoff.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

enum { FIRST = 3, LAST = 10, BACKUP = 200, FD_LIMIT = 256, VALUE_MAX = 4096 };

static const char *const variables[] = {
	"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "HANDOFF_FD",
	"HANDOFF_GENERATION",
};
enum { VARIABLES = 5 };

/* What fds 3..10 are: an inheriting process may find anything there. */
enum kind { TCP_LISTENING, UNIX_LISTENING, UDP, NOT_A_SOCKET, CHANNEL,
	    TCP_BOUND, HOLE, UNIXGRAM };
static const enum kind layout[LAST - FIRST + 1] = {
	TCP_LISTENING, UNIX_LISTENING, UDP, NOT_A_SOCKET, CHANNEL,
	TCP_BOUND, HOLE, UNIXGRAM,
};
static char pid_text[24];
static int backup[LAST - FIRST + 1]; /* copies of the layout, high up */

static int is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static int bound(int domain, int type, const char *abstract, int listening)
{
	int fd = socket(domain, type | SOCK_CLOEXEC, 0);
	CHECK(fd >= 0);
	struct handoff_address a;
	char text[64];
	if (abstract)
		snprintf(text, sizeof text, "@handoff-fuzz-%s-%s", pid_text, abstract);
	else
		snprintf(text, sizeof text, "127.0.0.1:0");
	CHECK(handoff_address_parse(&a, text) == 0);
	CHECK(bind(fd, &a.u.sa, a.length) == 0);
	if (listening)
		CHECK(listen(fd, 8) == 0);
	return fd;
}

static int make(enum kind k)
{
	int pair[2];
	switch (k) {
	case TCP_LISTENING: return bound(AF_INET, SOCK_STREAM, NULL, 1);
	case UNIX_LISTENING: return bound(AF_UNIX, SOCK_STREAM, "stream", 1);
	case UDP: return bound(AF_INET, SOCK_DGRAM, NULL, 0);
	case NOT_A_SOCKET: return open("/dev/null", O_RDONLY | O_CLOEXEC);
	case CHANNEL:
		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) == 0);
		/* The parent's end stays open, high up, for the whole run. */
		CHECK(fcntl(pair[1], F_DUPFD_CLOEXEC, BACKUP) >= 0);
		close(pair[1]);
		return pair[0];
	case TCP_BOUND: return bound(AF_INET, SOCK_STREAM, NULL, 0);
	case UNIXGRAM: return bound(AF_UNIX, SOCK_DGRAM, "dgram", 0);
	case HOLE: break;
	}
	return -1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	snprintf(pid_text, sizeof pid_text, "%ld", (long)getpid());
	/* Strays inherited from whoever started us (a shell's fd 10) would
	 * be taken for listeners: moved out of the way, still open. */
	for (int fd = FIRST; fd <= LAST; fd++)
		if (is_open(fd)) {
			int moved = fcntl(fd, F_DUPFD_CLOEXEC, BACKUP + 50);
			CHECK(moved >= 0);
			close(fd);
			fprintf(stderr, "fuzz environ: moved stray fd %d to %d\n", fd, moved);
		}
	/* Each made high up first (a copy to restore from), then placed. */
	for (int i = 0; i <= LAST - FIRST; i++) {
		if (layout[i] == HOLE)
			continue;
		int fd = make(layout[i]);
		CHECK(fd >= 0);
		CHECK((backup[i] = fcntl(fd, F_DUPFD_CLOEXEC, BACKUP)) >= 0);
		close(fd);
	}
	for (int i = 0; i <= LAST - FIRST; i++)
		if (layout[i] != HOLE)
			CHECK(dup3(backup[i], FIRST + i, O_CLOEXEC) == FIRST + i);
	unsetenv("NOTIFY_SOCKET");
	return 0;
}

/* "$$" becomes our pid; at most VALUE_MAX bytes. */
static void expand(char *out, size_t size, const char *in, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < size; i++) {
		if (in[i] == '$' && i + 1 < n && in[i + 1] == '$') {
			o += (size_t)snprintf(out + o, size - o, "%s", pid_text);
			if (o >= size)
				o = size - 1;
			i++;
		} else {
			out[o++] = in[i];
		}
	}
	out[o] = '\0';
}

static void open_set(unsigned char *set)
{
	for (int fd = 0; fd < FD_LIMIT; fd++)
		set[fd] = (unsigned char)is_open(fd);
}

static int same_file(int a, int b)
{
	struct stat sa, sb;
	return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Puts back the layout descriptors the library closed; each must have
 * been adopted (claimed), unless anything goes. */
static void restore_layout(const unsigned char *claimed, int anything)
{
	for (int i = 0; i <= LAST - FIRST; i++) {
		int fd = FIRST + i;
		if (layout[i] == HOLE || is_open(fd)) {
			CHECK(layout[i] == HOLE || same_file(fd, backup[i]));
			continue;
		}
		CHECK(anything || claimed[fd]); /* closed: only if it was adopted */
		CHECK(dup3(backup[i], fd, O_CLOEXEC) == fd);
	}
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* putenv() keeps these very strings: no copy is made or leaked. */
	static char env[VARIABLES][VALUE_MAX + 32];
	static char line[VALUE_MAX + 1];
	const char *values[VARIABLES] = { NULL };
	char *claims = NULL;

	const char *p = (const char *)data, *end = p + size;
	for (int i = 0; i <= VARIABLES && p < end; i++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);
		expand(line, sizeof line, p, n);
		p = nl ? nl + 1 : end;
		if (i == VARIABLES) {
			claims = strdup(line);
			CHECK(claims);
			break;
		}
		if (strcmp(line, "!") == 0)
			continue;
		snprintf(env[i], sizeof env[i], "%s=%s", variables[i], line);
		values[i] = env[i] + strlen(variables[i]) + 1;
		CHECK(putenv(env[i]) == 0);
	}

	unsigned char before[FD_LIMIT], after[FD_LIMIT];
	open_set(before);
	struct handoff *h = NULL;
	struct handoff_config config = { .size = sizeof config, .flags = HANDOFF_NO_NOTIFY };
	char *argv[] = { NULL };
	int r = handoff_new(&h, &config, 0, argv);
	CHECK(r == 0);
	for (int i = 0; i < VARIABLES; i++)
		CHECK(getenv(variables[i]) == NULL); /* read and removed */

	/* Inherited only what LISTEN_PID said was for us, and only open fds. */
	int for_us = values[0] && values[0][0] &&
		     strspn(values[0], "0123456789") == strlen(values[0]) &&
		     strtoull(values[0], NULL, 10) == (unsigned long long)getpid();
	CHECK(h->inherited_count == 0 || for_us);
	for (size_t i = 0; i < h->inherited_count; i++)
		CHECK(FIRST + i < FD_LIMIT && before[FIRST + i]);
	CHECK(h->parent_fd < 0 || (for_us && h->parent_fd >= FIRST + (int)h->inherited_count &&
				  h->parent_fd < FD_LIMIT && before[h->parent_fd]));
	unsigned generation = handoff_generation(h);
	CHECK(generation >= 1);
	if (generation != 1) {
		/* Decimal digits only (leading zeros are fine), of that value. */
		CHECK(for_us && values[4] && values[4][0]);
		CHECK(strspn(values[4], "0123456789") == strlen(values[4]));
		CHECK(strtoull(values[4], NULL, 10) == generation);
	}
	const char *warning = handoff_warning(h);
	CHECK(!warning || (*warning && strlen(warning) < sizeof h->warning));

	/* Claims: only sockets among the inherited, each at most once. */
	unsigned char claimed[FD_LIMIT] = { 0 };
	for (char *c = claims, *next; c && *c; c = next) {
		next = strchr(c, ';');
		if (next)
			*next++ = '\0';
		char *bar = strchr(c, '|');
		if (bar)
			*bar = '\0';
		const char *name = *c ? c : NULL;
		const char *address = bar && bar[1] ? bar + 1 : NULL;
		int fd = handoff_inherited(h, name, address);
		if (fd < 0)
			continue;
		CHECK(fd >= FIRST && fd < FIRST + (int)h->inherited_count);
		CHECK(!claimed[fd]);
		claimed[fd] = 1;
		struct stat st;
		CHECK(fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode));
	}
	free(claims);

	/* Its parent channel is the library's to close: keep a copy. */
	int parent = h->parent_fd, parent_copy = -1;
	if (parent >= 0)
		CHECK((parent_copy = fcntl(parent, F_DUPFD_CLOEXEC, BACKUP)) >= 0);
	handoff_free(h);
	if (parent_copy >= 0) {
		CHECK(!is_open(parent));
		CHECK(dup3(parent_copy, parent, O_CLOEXEC) == parent);
		close(parent_copy);
	}
	restore_layout(claimed, 0);
	/* Nothing leaked, nothing else closed. */
	open_set(after);
	CHECK(memcmp(before, after, sizeof before) == 0);
	for (int i = 0; i < VARIABLES; i++)
		unsetenv(variables[i]);
	return 0;
}
