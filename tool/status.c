/* status.c — what `handoff status` shows: the supervisor, its listeners,
 * every generation (a draining one with its deadline), the last reload. */
#include "tool.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct out {
	char *buf;
	size_t size, len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, o->size - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n < o->size - o->len ? (size_t)n : o->size - o->len - 1;
}

/* JSON string contents: our texts are printable, but a server's STATUS=
 * may hold anything. */
static void put_json_string(struct out *o, const char *s)
{
	put(o, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			put(o, "\\%c", c);
		else if (c < 0x20)
			put(o, "\\u%04x", c);
		else
			put(o, "%c", c);
	}
	put(o, "\"");
}

static double seconds_since(int64_t us)
{
	return (double)(now_us() - us) / 1e6;
}

static void text(struct supervisor *s, struct out *o)
{
	size_t count;
	const struct handoff_listener *l = ho_listeners(s->listeners, &count);
	put(o, "supervisor pid %d, up %.1f s%s\n", (int)getpid(),
	    seconds_since(s->started_us), s->stopping ? ", stopping" : "");
	for (size_t i = 0; i < count; i++) {
		char addr[HANDOFF_ADDRESS_TEXT_MAX];
		handoff_address_format(&l[i].address, addr, sizeof addr);
		put(o, "listener %s%s%s%s\n", l[i].name[0] ? l[i].name : "", l[i].name[0] ? "=" : "",
		    addr, l[i].inherited ? " (from systemd)" : "");
	}
	for (int i = 0; i < s->gen_count; i++) {
		const struct generation *g = &s->gens[i];
		put(o, "generation %u pid %d %s%s, up %.1f s", g->number, (int)g->pid,
		    state_name(g->state), g->exited ? " (main process exited)" : "",
		    seconds_since(g->started_us));
		if (g->state != GEN_READY)
			put(o, ", deadline in %.1f s", (double)(g->deadline_us - now_us()) / 1e6);
		put(o, "%s%s\n", g->status[0] ? ", status: " : "", g->status);
	}
	put(o, "last reload: %s\n", s->last_reload[0] ? s->last_reload : "none");
}

static void json(struct supervisor *s, struct out *o)
{
	size_t count;
	const struct handoff_listener *l = ho_listeners(s->listeners, &count);
	put(o, "{\"supervisor\":{\"pid\":%d,\"uptime_s\":%.3f,\"stopping\":%s},"
	    "\"listeners\":[", (int)getpid(), seconds_since(s->started_us),
	    s->stopping ? "true" : "false");
	for (size_t i = 0; i < count; i++) {
		char addr[HANDOFF_ADDRESS_TEXT_MAX];
		handoff_address_format(&l[i].address, addr, sizeof addr);
		put(o, "%s{\"name\":", i ? "," : "");
		put_json_string(o, l[i].name);
		put(o, ",\"address\":");
		put_json_string(o, addr);
		put(o, ",\"from_systemd\":%s}", l[i].inherited ? "true" : "false");
	}
	put(o, "],\"generations\":[");
	for (int i = 0; i < s->gen_count; i++) {
		const struct generation *g = &s->gens[i];
		put(o, "%s{\"number\":%u,\"pid\":%d,\"state\":\"%s\",\"main_exited\":%s,"
		    "\"uptime_s\":%.3f,", i ? "," : "", g->number, (int)g->pid,
		    state_name(g->state), g->exited ? "true" : "false",
		    seconds_since(g->started_us));
		if (g->state != GEN_READY)
			put(o, "\"deadline_in_s\":%.3f,", (double)(g->deadline_us - now_us()) / 1e6);
		put(o, "\"status\":");
		put_json_string(o, g->status);
		put(o, "}");
	}
	put(o, "],\"last_reload\":");
	if (s->last_reload[0]) {
		put(o, "{\"ok\":%s,\"message\":", strncmp(s->last_reload, "ok", 2) == 0
						      ? "true" : "false");
		put_json_string(o, strchr(s->last_reload, ':') + 2);
		put(o, "}");
	} else {
		put(o, "null");
	}
	put(o, "}\n");
}

void status_text(struct supervisor *s, char *buf, size_t size, int as_json)
{
	struct out o = { buf, size, 0 };
	buf[0] = '\0';
	if (as_json)
		json(s, &o);
	else
		text(s, &o);
}
