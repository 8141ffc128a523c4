/* selfstate.c — the state across `reload --self`, as text.
 *
 * One table per record (the supervisor, a listener, a generation) says
 * which key is which field, of which kind: the writer and the parser walk
 * the same tables, so a field cannot be written under one name and read
 * under another. A field added later is a row here and a default in
 * self_state_defaults(); an old image that does not know it ignores it. */
#include "selfstate.h"
#include "internal.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum kind { K_INT, K_FD, K_UINT, K_I64, K_U64, K_BOOL, K_STR, K_STATE, K_CAUSE };

struct field {
	const char *key;
	enum kind kind;
	size_t offset, size;
};

#define F(type, key, kind, member) \
	{ key, kind, offsetof(type, member), sizeof ((type *)0)->member }

static const struct field top_fields[] = {
	F(struct self_state, "version", K_STR, version),
	F(struct self_state, "nonce", K_STR, nonce),
	F(struct self_state, "exe_path", K_STR, exe_path),
	F(struct self_state, "pid", K_INT, pid),
	F(struct self_state, "started_us", K_I64, started_us),
	F(struct self_state, "next_number", K_UINT, next_number),
	F(struct self_state, "ever_served", K_BOOL, ever_served),
	F(struct self_state, "restart_at_us", K_I64, restart_at_us),
	F(struct self_state, "backoff_ms", K_I64, backoff_ms),
	F(struct self_state, "stable_at_us", K_I64, stable_at_us),
	F(struct self_state, "respawn_number", K_UINT, respawn_number),
	F(struct self_state, "respawn_at_us", K_I64, respawn_at_us),
	F(struct self_state, "respawn_mask", K_U64, respawn_mask),
	F(struct self_state, "last_reload", K_STR, last_reload),
	F(struct self_state, "last_restart", K_STR, last_restart),
	F(struct self_state, "pidfile_fd", K_FD, pidfile_fd),
	F(struct self_state, "notify_fd", K_FD, notify.fd),
	F(struct self_state, "notify_path", K_STR, notify.path),
	F(struct self_state, "notify_dev", K_U64, notify.dev),
	F(struct self_state, "notify_ino", K_U64, notify.ino),
	F(struct self_state, "notify_dir", K_STR, notify_dir),
	F(struct self_state, "control0_fd", K_FD, control[0].fd),
	F(struct self_state, "control0_path", K_STR, control[0].path),
	F(struct self_state, "control0_dev", K_U64, control[0].dev),
	F(struct self_state, "control0_ino", K_U64, control[0].ino),
	F(struct self_state, "control1_fd", K_FD, control[1].fd),
	F(struct self_state, "control1_path", K_STR, control[1].path),
	F(struct self_state, "control1_dev", K_U64, control[1].dev),
	F(struct self_state, "control1_ino", K_U64, control[1].ino),
	F(struct self_state, "output_read_fd", K_FD, output_read_fd),
	F(struct self_state, "output_write_fd", K_FD, output_write_fd),
	F(struct self_state, "client_fd", K_FD, client_fd),
	F(struct self_state, "fallback_fd", K_FD, fallback_fd),
	F(struct self_state, "steered", K_INT, steered),
	F(struct self_state, "slot0_owner", K_UINT, slot_owner[0]),
	F(struct self_state, "slot1_owner", K_UINT, slot_owner[1]),
	F(struct self_state, "slot2_owner", K_UINT, slot_owner[2]),
	F(struct self_state, "slot3_owner", K_UINT, slot_owner[3]),
};

static const struct field listener_fields[] = {
	F(struct self_listener, "fd", K_FD, fd),
	F(struct self_listener, "name", K_STR, name),
	F(struct self_listener, "inherited", K_BOOL, inherited),
	F(struct self_listener, "owns_path", K_BOOL, owns_path),
	F(struct self_listener, "path_dev", K_U64, path_dev),
	F(struct self_listener, "path_ino", K_U64, path_ino),
	F(struct self_listener, "members", K_INT, members),
	F(struct self_listener, "shared", K_BOOL, shared),
	F(struct self_listener, "slot1_fd", K_FD, slot_fd[1]),
	F(struct self_listener, "slot1_place", K_INT, slot_place[1]),
	F(struct self_listener, "slot2_fd", K_FD, slot_fd[2]),
	F(struct self_listener, "slot2_place", K_INT, slot_place[2]),
	F(struct self_listener, "slot3_fd", K_FD, slot_fd[3]),
	F(struct self_listener, "slot3_place", K_INT, slot_place[3]),
};
_Static_assert(STEER_SLOTS == 4, "one row per slot above");

static const struct field stored_fields[] = {
	F(struct self_stored, "fd", K_FD, fd),
	F(struct self_stored, "name", K_STR, name),
	F(struct self_stored, "poll", K_BOOL, poll),
};

static const struct field generation_fields[] = {
	F(struct self_generation, "number", K_UINT, g.number),
	F(struct self_generation, "worker", K_INT, g.worker),
	F(struct self_generation, "pid", K_INT, g.pid),
	F(struct self_generation, "group", K_INT, g.group),
	F(struct self_generation, "follows", K_INT, g.follows),
	F(struct self_generation, "state", K_STATE, g.state),
	F(struct self_generation, "cause", K_CAUSE, g.cause),
	F(struct self_generation, "started_us", K_I64, g.started_us),
	F(struct self_generation, "deadline_us", K_I64, g.deadline_us),
	F(struct self_generation, "killed", K_BOOL, g.killed),
	F(struct self_generation, "signalled", K_BOOL, g.signalled),
	F(struct self_generation, "exited", K_BOOL, g.exited),
	F(struct self_generation, "status", K_STR, g.status),
	F(struct self_generation, "connections", K_BOOL, g.connections),
	F(struct self_generation, "filter_fd", K_FD, filter_fd),
	F(struct self_generation, "channel_fd", K_FD, channel_fd),
	F(struct self_generation, "listened", K_STR, listened),
	F(struct self_generation, "adopted", K_UINT, adopted),
	F(struct self_generation, "own_binds", K_UINT, own_binds),
	F(struct self_generation, "own_bind", K_STR, own_bind),
};

#define COUNT(a) (sizeof a / sizeof *a)

static const char *const state_names[] = { "starting", "serving", "draining",
					   "finishing" };
static const char *const cause_names[] = { "first", "reload", "restart" };

void self_state_defaults(struct self_state *s)
{
	memset(s, 0, sizeof *s);
	s->format = SELF_STATE_FORMAT;
	s->next_number = 1;
	s->pidfile_fd = s->notify.fd = s->control[0].fd = s->control[1].fd = -1;
	s->output_read_fd = s->output_write_fd = s->client_fd = s->fallback_fd = -1;
}

int self_state_generations(const struct self_state *s)
{
	int n = 0;
	for (int i = 0; i < s->generation_count; i++) {
		int first = 1;
		for (int j = 0; j < i; j++)
			first &= s->gens[j].g.number != s->gens[i].g.number;
		n += first;
	}
	return n;
}

static void generation_defaults(struct self_generation *g)
{
	memset(g, 0, sizeof *g);
	g->g.state = GEN_SERVING;
	g->g.cause = CAUSE_RELOAD;
	g->filter_fd = g->channel_fd = -1;
}

static void stored_defaults(struct self_stored *s)
{
	memset(s, 0, sizeof *s);
	s->fd = -1;
	s->poll = 1;
}

static void listener_defaults(struct self_listener *l)
{
	memset(l, 0, sizeof *l);
	l->fd = -1;
	for (int k = 0; k < STEER_SLOTS; k++)
		l->slot_fd[k] = -1;
}

/* ----------------------------------------------------------------- writing */

static void write_text(FILE *f, const char *text)
{
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (*p < 0x20 || *p == 0x7f || *p == '\\')
			fprintf(f, "\\x%02x", *p);
		else
			fputc(*p, f);
	}
}

static void write_fields(FILE *f, const char *prefix, const struct field *fields,
			 size_t count, const void *record)
{
	for (size_t i = 0; i < count; i++) {
		const struct field *d = &fields[i];
		const char *at = (const char *)record + d->offset;
		fprintf(f, "%s%s=", prefix, d->key);
		switch (d->kind) {
		case K_INT:
		case K_FD:
		case K_BOOL: fprintf(f, "%d", *(const int *)at); break;
		case K_UINT: fprintf(f, "%u", *(const unsigned *)at); break;
		case K_I64: fprintf(f, "%lld", (long long)*(const int64_t *)at); break;
		case K_U64:
			fprintf(f, "%llu", (unsigned long long)*(const uint64_t *)at);
			break;
		case K_STR: write_text(f, at); break;
		case K_STATE: fputs(state_names[*(const enum gen_state *)at], f); break;
		case K_CAUSE: fputs(cause_names[*(const enum gen_cause *)at], f); break;
		}
		fputc('\n', f);
	}
}

int self_state_write(const struct self_state *s, FILE *f)
{
	char prefix[48];
	fprintf(f, "%s %u\n", SELF_STATE_HEADER, SELF_STATE_FORMAT);
	write_fields(f, "", top_fields, COUNT(top_fields), s);
	fprintf(f, "listeners=%d\n", s->listener_count);
	for (int i = 0; i < s->listener_count; i++) {
		snprintf(prefix, sizeof prefix, "listener.%d.", i);
		write_fields(f, prefix, listener_fields, COUNT(listener_fields),
			     &s->listeners[i]);
	}
	for (int i = 0; i < s->stored_count; i++) {
		snprintf(prefix, sizeof prefix, "stored.%d.", i);
		write_fields(f, prefix, stored_fields, COUNT(stored_fields), &s->stored[i]);
	}
	fprintf(f, "generations=%d\n", s->generation_count);
	for (int i = 0; i < s->generation_count; i++) {
		snprintf(prefix, sizeof prefix, "gen.%d.", i);
		write_fields(f, prefix, generation_fields, COUNT(generation_fields),
			     &s->gens[i]);
	}
	fputs("end\n", f);
	return ferror(f) ? -EIO : 0;
}

/* ----------------------------------------------------------------- reading */

static int refuse(char *why, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int refuse(char *why, size_t size, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Decimal, an optional '-' first, nothing else: strtoll alone would take
 * spaces, '+' and an empty string. */
static int parse_number(const char *text, long long min, long long max, long long *out)
{
	const char *digits = text + (text[0] == '-');
	if (*digits < '0' || *digits > '9' || strlen(text) > 20)
		return -EINVAL;
	errno = 0;
	char *end;
	long long v = strtoll(text, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int parse_u64(const char *text, uint64_t *out)
{
	if (*text < '0' || *text > '9' || strlen(text) > 20)
		return -EINVAL;
	errno = 0;
	char *end;
	unsigned long long v = strtoull(text, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

static int name_index(const char *const *names, size_t count, const char *value)
{
	for (size_t i = 0; i < count; i++)
		if (strcmp(names[i], value) == 0)
			return (int)i;
	return -1;
}

/* value: decoded, NUL-terminated. */
static int set_field(const struct field *d, void *record, const char *value)
{
	char *at = (char *)record + d->offset;
	long long n;
	int r = 0, i;
	switch (d->kind) {
	case K_INT:
		if ((r = parse_number(value, -1, INT_MAX, &n)) == 0)
			*(int *)at = (int)n;
		break;
	case K_FD:
		if ((r = parse_number(value, -1, INT_MAX, &n)) == 0)
			*(int *)at = (int)n;
		break;
	case K_BOOL:
		if ((r = parse_number(value, 0, 1, &n)) == 0)
			*(int *)at = (int)n;
		break;
	case K_UINT:
		if ((r = parse_number(value, 0, UINT_MAX, &n)) == 0)
			*(unsigned *)at = (unsigned)n;
		break;
	case K_I64:
		if ((r = parse_number(value, INT64_MIN, INT64_MAX, &n)) == 0)
			*(int64_t *)at = n;
		break;
	case K_U64: r = parse_u64(value, (uint64_t *)(void *)at); break;
	case K_STR:
		if (strlen(value) >= d->size)
			return -E2BIG;
		memcpy(at, value, strlen(value) + 1);
		break;
	case K_STATE:
		if ((i = name_index(state_names, COUNT(state_names), value)) < 0)
			return -EINVAL;
		*(enum gen_state *)at = (enum gen_state)i;
		break;
	case K_CAUSE:
		if ((i = name_index(cause_names, COUNT(cause_names), value)) < 0)
			return -EINVAL;
		*(enum gen_cause *)at = (enum gen_cause)i;
		break;
	}
	return r;
}

static const struct field *find_field(const struct field *fields, size_t count,
				      const char *key)
{
	for (size_t i = 0; i < count; i++)
		if (strcmp(fields[i].key, key) == 0)
			return &fields[i];
	return NULL;
}

/* \xHH into bytes, in place. A NUL, a bad or cut escape: -EINVAL. */
static int decode(char *text)
{
	char *out = text;
	for (const char *p = text; *p; p++) {
		if (*p != '\\') {
			*out++ = *p;
			continue;
		}
		char hex[3] = { 0 };
		if (p[1] != 'x' || !p[2] || !p[3])
			return -EINVAL;
		hex[0] = p[2], hex[1] = p[3];
		char *end;
		long v = strtol(hex, &end, 16);
		if (*end || hex[0] == '-' || hex[0] == '+' || hex[0] == ' ' || v == 0)
			return -EINVAL;
		*out++ = (char)v;
		p += 3;
	}
	*out = '\0';
	return 0;
}

struct parse {
	struct self_state *s;
	int listeners_seen, gens_seen;   /* 1 + the highest index met */
	int stored_seen;
	int listener_count, gen_count;   /* as said; -1: not said */
};

/* "listener.3.fd" -> index 3, rest "fd"; -1 if not of that shape. */
static int indexed(const char *key, const char *prefix, int max, const char **rest)
{
	size_t n = strlen(prefix);
	if (strncmp(key, prefix, n) != 0)
		return -1;
	const char *p = key + n;
	long index = 0;
	if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '.'))
		return -2;
	for (; *p >= '0' && *p <= '9'; p++) {
		index = index * 10 + (*p - '0');
		if (index >= max)
			return -2;
	}
	if (*p != '.')
		return -2;
	*rest = p + 1;
	return (int)index;
}

static int take_line(struct parse *p, char *key, char *value, char *why, size_t size)
{
	const char *rest;
	int i;
	long long n;
	if (strcmp(key, "listeners") == 0 || strcmp(key, "generations") == 0) {
		int listeners = key[0] == 'l';
		if (parse_number(value, 0, listeners ? MAX_LISTENERS : CORE_RECORDS_MAX,
				 &n) < 0)
			return refuse(why, size, "%s=%s: not a count from 0 to %d", key, value,
				      listeners ? MAX_LISTENERS : CORE_RECORDS_MAX);
		*(listeners ? &p->listener_count : &p->gen_count) = (int)n;
		return 0;
	}
	const struct field *fields = top_fields;
	size_t count = COUNT(top_fields);
	void *record = p->s;
	const char *name = key;
	if ((i = indexed(key, "listener.", MAX_LISTENERS, &rest)) != -1) {
		if (i < 0)
			return refuse(why, size, "%s: bad listener index (0 to %d)", key,
				      MAX_LISTENERS - 1);
		for (; p->listeners_seen <= i; p->listeners_seen++)
			listener_defaults(&p->s->listeners[p->listeners_seen]);
		fields = listener_fields, count = COUNT(listener_fields);
		record = &p->s->listeners[i], name = rest;
	} else if ((i = indexed(key, "stored.", FDSTORE_MAX, &rest)) != -1) {
		if (i < 0)
			return refuse(why, size, "%s: bad stored descriptor index (0 to %d)", key,
				      FDSTORE_MAX - 1);
		for (; p->stored_seen <= i; p->stored_seen++)
			stored_defaults(&p->s->stored[p->stored_seen]);
		fields = stored_fields, count = COUNT(stored_fields);
		record = &p->s->stored[i], name = rest;
	} else if ((i = indexed(key, "gen.", CORE_RECORDS_MAX, &rest)) != -1) {
		if (i < 0)
			return refuse(why, size, "%s: bad generation index (0 to %d)", key,
				      CORE_RECORDS_MAX - 1);
		for (; p->gens_seen <= i; p->gens_seen++)
			generation_defaults(&p->s->gens[p->gens_seen]);
		fields = generation_fields, count = COUNT(generation_fields);
		record = &p->s->gens[i], name = rest;
	}
	const struct field *d = find_field(fields, count, name);
	if (!d)
		return 0; /* a later version's: not ours to understand */
	if (decode(value) < 0)
		return refuse(why, size, "%s: bad \\x escape or a NUL in its value", key);
	int r = set_field(d, record, value);
	if (r == -E2BIG)
		return refuse(why, size, "%s: value longer than %zu bytes", key, d->size - 1);
	if (r < 0)
		return refuse(why, size, "%s=%.60s: bad value", key, value);
	return 0;
}

static int check_header(const char *line, struct self_state *s, char *why, size_t size)
{
	size_t n = strlen(SELF_STATE_HEADER);
	long long format;
	if (strncmp(line, SELF_STATE_HEADER, n) != 0 || line[n] != ' ' ||
	    parse_number(line + n + 1, 1, INT_MAX, &format) < 0)
		return refuse(why, size, "not a handoff supervisor state (first line %.40s)",
			      line);
	if (format != SELF_STATE_FORMAT)
		return refuse(why, size, "state format %lld; this handoff reads format %d",
			      format, SELF_STATE_FORMAT);
	s->format = (unsigned)format;
	return 0;
}

int self_state_parse(const char *text, size_t length, struct self_state *s,
		     char *why, size_t size)
{
	self_state_defaults(s);
	if (length > SELF_STATE_BYTES_MAX)
		return refuse(why, size, "state of %zu bytes: more than %d", length,
			      SELF_STATE_BYTES_MAX);
	/* What it is first: the most useful sentence for a wrong file. */
	size_t header = strlen(SELF_STATE_HEADER);
	if (length < header || memcmp(text, SELF_STATE_HEADER, header) != 0)
		return refuse(why, size, "not a handoff supervisor state (it does not "
			      "start with \"" SELF_STATE_HEADER "\")");
	if (memchr(text, '\0', length))
		return refuse(why, size, "state contains a NUL byte");
	struct parse p = { .s = s, .listener_count = -1, .gen_count = -1 };
	char line[SELF_STATE_LINE_MAX + 1];
	size_t at = 0;
	int number = 0, ended = 0;
	while (at < length) {
		const char *nl = memchr(text + at, '\n', length - at);
		if (!nl)
			return refuse(why, size, "state truncated: line %d has no end", number + 1);
		size_t n = (size_t)(nl - (text + at));
		number++;
		if (n > SELF_STATE_LINE_MAX)
			return refuse(why, size, "line %d: longer than %d bytes", number,
				      SELF_STATE_LINE_MAX);
		memcpy(line, text + at, n);
		line[n] = '\0';
		at += n + 1;
		int r = 0;
		if (ended)
			return refuse(why, size, "line %d: text after the end mark", number);
		if (number == 1)
			r = check_header(line, s, why, size);
		else if (strcmp(line, "end") == 0)
			ended = 1;
		else if (line[0] == '\0' || line[0] == '#')
			continue;
		else {
			char *eq = strchr(line, '=');
			if (!eq || eq == line)
				return refuse(why, size, "line %d: not key=value: %.40s", number,
					      line);
			*eq = '\0';
			r = take_line(&p, line, eq + 1, why, size);
		}
		if (r < 0)
			return r;
	}
	if (number == 0)
		return refuse(why, size, "state is empty");
	if (!ended)
		return refuse(why, size, "state truncated: no end mark after line %d", number);
	/* Counts may be missing (then what was met counts), never smaller
	 * than what was met: a record past the count is a damaged state. */
	if (p.listener_count >= 0 && p.listeners_seen > p.listener_count)
		return refuse(why, size, "listener %d met, but listeners=%d",
			      p.listeners_seen - 1, p.listener_count);
	if (p.gen_count >= 0 && p.gens_seen > p.gen_count)
		return refuse(why, size, "generation %d met, but generations=%d",
			      p.gens_seen - 1, p.gen_count);
	s->stored_count = p.stored_seen;
	s->listener_count = p.listener_count >= 0 ? p.listener_count : p.listeners_seen;
	s->generation_count = p.gen_count >= 0 ? p.gen_count : p.gens_seen;
	for (int i = p.listeners_seen; i < s->listener_count; i++)
		listener_defaults(&s->listeners[i]);
	for (int i = p.gens_seen; i < s->generation_count; i++)
		generation_defaults(&s->gens[i]);
	return self_state_validate(s, why, size);
}

/* ---------------------------------------------------------------- checks */

struct fd_set_seen {
	int fds[MAX_LISTENERS * STEER_SLOTS + FDSTORE_MAX + 2 * CORE_RECORDS_MAX + 16];
	int count;
};

static int named_once(struct fd_set_seen *seen, int fd, const char *what, char *why,
		      size_t size)
{
	if (fd < 0)
		return 0;
	if (fd <= 2)
		return refuse(why, size, "%s: descriptor %d is stdio", what, fd);
	for (int i = 0; i < seen->count; i++)
		if (seen->fds[i] == fd)
			return refuse(why, size, "%s: descriptor %d named twice", what, fd);
	seen->fds[seen->count++] = fd;
	return 0;
}

int self_state_validate(const struct self_state *s, char *why, size_t size)
{
	static struct fd_set_seen seen; /* large: not on the stack */
	seen.count = 0;
	char what[48];
	if (s->pid < 1) /* 1 is fine: a supervisor as a container's init */
		return refuse(why, size, "no supervisor pid in the state");
	if (s->next_number == 0)
		return refuse(why, size, "next_number=0");
	if (s->listener_count < 1)
		return refuse(why, size, "no listener in the state");
	const int top[] = { s->pidfile_fd, s->notify.fd, s->control[0].fd, s->control[1].fd,
			    s->output_read_fd, s->output_write_fd, s->client_fd,
			    s->fallback_fd };
	for (size_t i = 0; i < COUNT(top); i++)
		if (named_once(&seen, top[i], "supervisor", why, size) < 0)
			return -EINVAL;
	if (s->notify.fd < 0 || !s->notify.path[0])
		return refuse(why, size, "no notify socket in the state");
	for (int i = 0; i < 2; i++)
		if (s->control[i].fd >= 0 && !s->control[i].path[0])
			return refuse(why, size, "control socket %d has no path", i);
	if ((s->output_read_fd < 0) != (s->output_write_fd < 0))
		return refuse(why, size, "half of the output pipe");
	for (int i = 0; i < s->listener_count; i++) {
		snprintf(what, sizeof what, "listener %d", i);
		if (s->listeners[i].fd < 0)
			return refuse(why, size, "%s has no descriptor", what);
		if (s->listeners[i].name[0] && !ho_name_valid(s->listeners[i].name))
			return refuse(why, size, "%s: bad name", what);
		if (named_once(&seen, s->listeners[i].fd, what, why, size) < 0)
			return -EINVAL;
		for (int k = 1; k < STEER_SLOTS; k++) {
			const struct self_listener *l = &s->listeners[i];
			if (named_once(&seen, l->slot_fd[k], what, why, size) < 0)
				return -EINVAL;
			if (l->slot_fd[k] >= 0 && (l->slot_place[k] <= 0 ||
						   l->slot_place[k] >= l->members))
				return refuse(why, size, "%s: slot %d at place %d of %d", what, k,
					      l->slot_place[k], l->members);
		}
	}
	if (s->steered < 0 || s->steered >= STEER_SLOTS)
		return refuse(why, size, "steered=%d", s->steered);
	for (int i = 0; i < s->stored_count; i++) {
		snprintf(what, sizeof what, "stored descriptor %d", i);
		if (s->stored[i].fd < 0 || !ho_name_valid(s->stored[i].name))
			return refuse(why, size, "%s: no descriptor, or a bad name", what);
		if (named_once(&seen, s->stored[i].fd, what, why, size) < 0)
			return -EINVAL;
	}
	for (int i = 0; i < s->generation_count; i++) {
		const struct self_generation *g = &s->gens[i];
		snprintf(what, sizeof what, "generation record %d", i);
		if (g->g.number == 0 || g->g.pid <= 1 || (g->g.group && g->g.group <= 1))
			return refuse(why, size, "%s: no number, or a bad pid or group", what);
		if (g->g.follows < 0 || g->g.follows > CORE_FOLLOWS_MAX)
			return refuse(why, size, "%s: follows=%d", what, g->g.follows);
		if (g->g.worker < 0 || g->g.worker >= CORE_WORKERS_MAX)
			return refuse(why, size, "%s: worker=%d", what, g->g.worker);
		if (strspn(g->listened, "01") != strlen(g->listened))
			return refuse(why, size, "%s: listened is not 0s and 1s", what);
		if (named_once(&seen, g->filter_fd, what, why, size) < 0 ||
		    named_once(&seen, g->channel_fd, what, why, size) < 0)
			return -EINVAL;
		/* Workers share a number, not an index: a binary older than
		 * --workers refuses a generation of several, which it would
		 * only half follow. */
		for (int j = 0; j < i; j++)
			if ((s->gens[j].g.number == g->g.number &&
			     s->gens[j].g.worker == g->g.worker) || s->gens[j].g.pid == g->g.pid)
				return refuse(why, size, "%s: the same as record %d", what, j);
	}
	return 0;
}
