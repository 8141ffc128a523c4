/* status.c — the report, built in a buffer that grows: no size of report
 * is cut short (a thousand listeners make a long one). */
#include "status.h"
#include "fdstore.h"
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct out {
	char *buf;
	size_t len, cap;
	int failed;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	for (int attempt = 0; attempt < 2 && !o->failed; attempt++) {
		va_list ap;
		va_start(ap, fmt);
		int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->failed = 1;
		} else if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		} else {
			size_t cap = (o->cap + (size_t)n + 1) * 2;
			char *grown = realloc(o->buf, cap);
			if (!grown)
				o->failed = 1;
			else
				o->buf = grown, o->cap = cap;
		}
	}
}

/* JSON string contents. Texts from a generation were cleaned when they
 * arrived (printable, valid UTF-8); addresses and names are ours. */
static void put_json_string(struct out *o, const char *s)
{
	put(o, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			put(o, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			put(o, "\\u%04x", c);
		else
			put(o, "%c", c);
	}
	put(o, "\"");
}

/* Listener i's address as text into addr; returns its name ("" if none). */
static const char *listener_address(const struct handoff *h, size_t i, char *addr,
				    size_t size)
{
	struct handoff_address a;
	addr[0] = '\0';
	if (handoff_listener_address(h, i, &a) == 0)
		handoff_address_format(&a, addr, size);
	const char *name = handoff_listener_name(h, i);
	return name ? name : "";
}

static double seconds_since(int64_t us)
{
	return (double)(ho_now_us() - us) / 1e6;
}

static double seconds_until(int64_t us)
{
	return (double)(us - ho_now_us()) / 1e6;
}

/* The records in the order shown: generations as the core holds them, the
 * workers of each together, by index (the core's order alone mixes them
 * once one was replaced). Returns how many. */
static int in_order(const struct core *c, int order[CORE_RECORDS_MAX])
{
	int n = 0;
	for (int i = 0; i < c->count; i++) {
		if (!core_first_of_generation(c, i))
			continue;
		for (int w = 0; w < CORE_WORKERS_MAX; w++)
			for (int j = i; j < c->count; j++)
				if (c->gens[j].number == c->gens[i].number && c->gens[j].worker == w)
					order[n++] = j;
	}
	return n;
}

static int named(const struct fdstore_entry *e, const char *name)
{
	return e && strcmp(e->name, name) == 0;
}

/* Each name in the store once, in the order first stored: calls each(name,
 * how many descriptors have it, index among names). */
static void store_names(const struct fdstore *s, struct out *o,
			void (*each)(struct out *o, const char *name, int count, int index))
{
	int index = 0;
	for (int i = 0; s && i < s->max; i++) {
		const struct fdstore_entry *e = fdstore_at(s, i);
		int first = e != NULL, count = 0;
		for (int j = 0; first && j < i; j++)
			first = !named(fdstore_at(s, j), e->name);
		for (int j = i; first && j < s->max; j++)
			count += named(fdstore_at(s, j), e->name);
		if (first)
			each(o, e->name, count, index++);
	}
}

static void text_name(struct out *o, const char *name, int count, int index)
{
	put(o, "%s%s (%d)", index ? ", " : ": ", name, count);
}

static void json_name(struct out *o, const char *name, int count, int index)
{
	put(o, "%s{\"name\":", index ? "," : "");
	put_json_string(o, name);
	put(o, ",\"count\":%d}", count);
}

static void text(const struct status_view *v, struct out *o)
{
	const struct core *c = v->core;
	int order[CORE_RECORDS_MAX], count = in_order(c, order);
	/* The version that runs now: `reload --self` changes it, and only it. */
	put(o, "supervisor pid %d, up %.1f s%s, adoption %s, handoff %s\n", (int)getpid(),
	    seconds_since(v->started_us), c->stopping ? ", stopping" : "",
	    v->adoption ? "on" : "off", handoff_version());
	for (size_t i = 0; i < handoff_listener_count(v->listeners); i++) {
		char addr[HANDOFF_ADDRESS_TEXT_MAX];
		const char *name = listener_address(v->listeners, i, addr, sizeof addr);
		put(o, "listener %s%s%s%s\n", name, name[0] ? "=" : "", addr,
		    handoff_listener_inherited(v->listeners, i) ? " (from systemd)" : "");
	}
	for (int i = 0; i < count; i++) {
		const struct generation *g = &c->gens[order[i]];
		char name[48];
		put(o, "%s pid %d %s%s, up %.1f s", core_name(c, g, name, sizeof name),
		    (int)g->pid, core_state_name(g->state),
		    g->exited ? " (main process exited)" : "", seconds_since(g->started_us));
		if (g->state != GEN_SERVING)
			put(o, ", deadline in %.1f s", seconds_until(g->deadline_us));
		if (g->connections)
			put(o, ", moves live connections");
		put(o, "%s%s\n", g->status[0] ? ", status: " : "", g->status);
	}
	put(o, "draining: %d of at most %d\n", core_count_leaving(c),
	    c->config.max_draining);
	if (c->config.workers > 1)
		put(o, "workers: %d per generation\n", c->config.workers);
	if (v->store && v->store->max) {
		put(o, "fd store: %d of at most %d", v->store->count, v->store->max);
		store_names(v->store, o, text_name);
		put(o, "\n");
	}
	if (c->respawn_at_us)
		put(o, "worker restart in %.1f s\n", seconds_until(c->respawn_at_us));
	put(o, "last reload: %s\n", c->last_reload[0] ? c->last_reload : "none");
	put(o, "last restart: %s\n", c->last_restart[0] ? c->last_restart : "none");
	if (c->restart_at_us)
		put(o, "restart in %.1f s\n", seconds_until(c->restart_at_us));
}

/* "ok: message" or "failed: message" as {"ok":..,"message":..}, or null. */
static void put_json_outcome(struct out *o, const char *outcome)
{
	const char *colon = strchr(outcome, ':');
	if (!outcome[0] || !colon) {
		put(o, "null");
		return;
	}
	put(o, "{\"ok\":%s,\"message\":", strncmp(outcome, "ok:", 3) == 0 ? "true" : "false");
	put_json_string(o, colon + 2);
	put(o, "}");
}

static void json(const struct status_view *v, struct out *o)
{
	const struct core *c = v->core;
	int order[CORE_RECORDS_MAX], count = in_order(c, order);
	put(o, "{\"supervisor\":{\"pid\":%d,\"version\":\"%s\",\"uptime_s\":%.3f,"
	    "\"stopping\":%s,\"adoption\":%s,\"notify_socket\":", (int)getpid(),
	    handoff_version(), seconds_since(v->started_us), c->stopping ? "true" : "false",
	    v->adoption ? "true" : "false");
	put_json_string(o, v->notify_socket);
	put(o, "},\"listeners\":[");
	for (size_t i = 0; i < handoff_listener_count(v->listeners); i++) {
		char addr[HANDOFF_ADDRESS_TEXT_MAX];
		const char *name = listener_address(v->listeners, i, addr, sizeof addr);
		put(o, "%s{\"name\":", i ? "," : "");
		put_json_string(o, name);
		put(o, ",\"address\":");
		put_json_string(o, addr);
		put(o, ",\"from_systemd\":%s}",
		    handoff_listener_inherited(v->listeners, i) ? "true" : "false");
	}
	put(o, "],\"generations\":[");
	for (int i = 0; i < count; i++) {
		const struct generation *g = &c->gens[order[i]];
		/* "worker" after the keys that were there before it: readers
		 * that scan the entries' start by position keep working. */
		put(o, "%s{\"number\":%u,\"pid\":%d,\"state\":\"%s\",\"main_exited\":%s,"
		    "\"worker\":%d,\"uptime_s\":%.3f,", i ? "," : "", g->number, (int)g->pid,
		    core_state_name(g->state), g->exited ? "true" : "false", g->worker,
		    seconds_since(g->started_us));
		if (g->state != GEN_SERVING)
			put(o, "\"deadline_in_s\":%.3f,", seconds_until(g->deadline_us));
		put(o, "\"connections\":%s,\"status\":", g->connections ? "true" : "false");
		put_json_string(o, g->status);
		put(o, "}");
	}
	put(o, "],\"draining\":%d,\"max_draining\":%d,\"workers\":%d,\"last_reload\":",
	    core_count_leaving(c), c->config.max_draining,
	    c->config.workers);
	put_json_outcome(o, c->last_reload);
	put(o, ",\"last_restart\":");
	put_json_outcome(o, c->last_restart);
	const struct fdstore *s = v->store;
	put(o, ",\"fdstore\":{\"max\":%d,\"count\":%d,\"names\":[", s ? s->max : 0,
	    s ? s->count : 0);
	store_names(s, o, json_name);
	put(o, "]}}\n");
}

char *status_render(const struct status_view *v, int as_json, size_t *length)
{
	struct out o = { .buf = malloc(4096), .cap = 4096 };
	if (!o.buf)
		return NULL;
	o.buf[0] = '\0';
	if (as_json)
		json(v, &o);
	else
		text(v, &o);
	if (o.failed) {
		free(o.buf);
		return NULL;
	}
	*length = o.len;
	return o.buf;
}
