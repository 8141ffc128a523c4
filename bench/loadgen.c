/* loadgen.c — HTTP/1.1 load client that counts every failed request, to prove restarts fail none.
 * With --redis-ping it speaks RESP instead: each request is a PING that must
 * get +PONG, so that a Redis server can be tested the same way. SIGUSR1 and
 * SIGUSR2 mark a window whose requests' latency it prints apart ("windows"). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

enum kind { K_OK, K_REFUSED, K_RESET, K_EOF, K_TIMEOUT, K_NON200, K_OTHER, K_COUNT };
static const char *const kind_name[K_COUNT] = {
	"ok", "refused", "reset", "eof", "timeout", "non200", "other",
};

enum ctype { C_KEEPALIVE, C_FRESH, C_SLOW, C_COUNT };
static const char *const ctype_name[C_COUNT] = { "keepalive", "fresh", "slow" };

enum state {
	S_IDLE,       /* stopped: no connection, no request */
	S_WAIT,       /* after a failure, until deadline_us (no busy loop on a dead server) */
	S_CONNECTING, S_SENDING, S_READING,
	S_LINGER,     /* fresh: response complete, waiting for the server's EOF */
};

#define HDR_MAX 4096           /* status line + headers; Python sends ~150 bytes */
#define BODY_KEEP 512          /* body prefix kept to find "generation=N" */
#define RETRY_US 5000          /* back-off after a failure */
#define TICK_MS 10             /* epoll_wait timeout: drives timeouts and retries */
#define MAX_PRINTED 20
#define MAX_CONNS 100000
#define GEN_TRACKED (1u << 16)

struct resp {
	bool head_done;
	bool close;            /* server will close after this response */
	int status;
	long long clen;        /* Content-Length, or -1: body runs to EOF */
	long long left;        /* body bytes still expected when clen >= 0 */
	size_t hlen, blen;
	char hdr[HDR_MAX];
	char body[BODY_KEEP];
};

struct conn {
	int fd;
	enum ctype type;
	enum state state;
	uint32_t events;       /* what epoll watches for fd; 0 = not registered */
	bool reused;           /* fd already carried a complete response */
	bool ever_ok;
	int last_pid;          /* who answered last on this connection; 0: none yet */
	unsigned last_gen;     /* the generation that answered last on it */
	unsigned gens_seen;    /* how many generations answered on this socket */
	uint64_t start_us, deadline_us;
	size_t sent, got;
	struct resp r;
};

static struct {
	struct sockaddr_storage addr;
	socklen_t addrlen;
	const char *target, *path, *timeline, *failures;
	long keepalive, fresh, slow, slow_ms, timeout_ms;
	double duration;       /* seconds; 0 = until SIGTERM/SIGINT */
	double timeline_s;     /* --timeline: requests started before; 0 = all */
	bool quiet;
	bool redis;            /* --redis-ping: RESP PING/+PONG, not HTTP */
} opt = { .keepalive = 8, .fresh = 2, .slow_ms = 200, .timeout_ms = 5000, .path = "/" };

static struct {
	uint64_t count[K_COUNT];
	uint64_t slow_ok, slow_failed;
	uint64_t server_closes; /* connections the server ended, not the client */
	uint64_t kept_connects; /* connections opened by keep-alive and slow slots */
	uint64_t printed;
	unsigned gens, gen_min, gen_max;
	uint8_t genmap[GEN_TRACKED / 8];
} st;

static struct conn *conns;
static size_t nconns;
static int epfd = -1;
static uint64_t t0, timeout_us;
static uint64_t timeline_until_us = UINT64_MAX; /* from t0: --timeline-seconds */
static bool stopping;
static FILE *timeline, *failures;
static char request[C_COUNT][1024];
static size_t request_len[C_COUNT];
static size_t ready_need, ready_have;
static bool fresh_ok, ready_printed;
static char rbuf[65536];

static _Noreturn void die(const char *what)
{
	fprintf(stderr, "loadgen: %s: %s\n", what, strerror(errno));
	exit(2);
}

static ssize_t read_retry(int fd, void *buf, size_t size)
{
	ssize_t n;
	do
		n = read(fd, buf, size);
	while (n < 0 && errno == EINTR);
	return n;
}

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ------------------------------------------------------------ histogram
 * Log-linear: values below 64 us are exact, above that each power of two is
 * split in 64 sub-buckets, so any reported percentile is within 1.6%. */
#define SUB_BITS 6
#define SUB (1u << SUB_BITS)
#define MAX_EXP 27             /* 2^27 us = 134 s; larger values are clamped */
#define NBUCKETS (SUB + (MAX_EXP - SUB_BITS) * SUB)

struct histogram {
	uint64_t count[NBUCKETS], n, max;
};

/* Every request's latency since the start, and the latencies of the
 * current window only (see "windows" below). */
static struct histogram all, in_window;

static unsigned bucket_of(uint64_t v)
{
	if (v >= (1ull << MAX_EXP))
		v = (1ull << MAX_EXP) - 1;
	if (v < SUB)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v);
	return SUB + (e - SUB_BITS) * SUB + (unsigned)((v >> (e - SUB_BITS)) & (SUB - 1));
}

/* Highest value that falls in bucket b: percentiles err on the slow side. */
static uint64_t bucket_high(unsigned b)
{
	if (b < SUB)
		return b;
	unsigned shift = (b - SUB) / SUB;
	uint64_t low = (uint64_t)(SUB + (b - SUB) % SUB) << shift;
	return low + (1ull << shift) - 1;
}

static void hist_add(struct histogram *h, uint64_t v)
{
	h->count[bucket_of(v)]++;
	h->n++;
	h->max = v > h->max ? v : h->max;
}

static uint64_t hist_pct(const struct histogram *h, unsigned pct)
{
	if (h->n == 0)
		return 0;
	uint64_t rank = (h->n * pct + 99) / 100, seen = 0;
	for (unsigned b = 0; b < NBUCKETS; b++) {
		seen += h->count[b];
		if (seen >= rank) {
			uint64_t v = bucket_high(b);
			return v < h->max ? v : h->max;
		}
	}
	return h->max;
}

/* ------------------------------------------------------------ windows
 * SIGUSR1 opens a window and SIGUSR2 closes it: a caller marks the span of
 * something it does to the server (an upgrade, say) and learns the latency
 * of the requests that overlapped it. A request belongs to the window if it
 * was in flight at any moment of it: it ended after the window opened and
 * started before it closed. A request held up by what the caller did may
 * well end after the close, so the window's line waits until no request
 * started before the close is in flight (each is bounded by --timeout):
 *   window=N requests=R failed=F p50_us=.. p99_us=.. max_us=.. span_us=..
 * on a line of its own, which no key of the final report starts. Its opening
 * is said at once ("opened=N"): a caller that waits for that line before it
 * acts knows the window holds all of what it did, whatever our scheduling. */
enum window_state { W_NONE, W_OPEN, W_CLOSING };

static struct {
	enum window_state state;
	unsigned number;      /* windows opened so far */
	uint64_t open_us, close_us;
	uint64_t failed;      /* failed requests of the window; ok ones: in_window.n */
} win;

static bool in_window_now(uint64_t start_us)
{
	return win.state == W_OPEN || (win.state == W_CLOSING && start_us < win.close_us);
}

static void window_print(void)
{
	printf("window=%u requests=%" PRIu64 " failed=%" PRIu64 " p50_us=%" PRIu64
	       " p99_us=%" PRIu64 " max_us=%" PRIu64 " span_us=%" PRIu64 "\n", win.number,
	       in_window.n + win.failed, win.failed, hist_pct(&in_window, 50),
	       hist_pct(&in_window, 99), in_window.max, win.close_us - win.open_us);
	fflush(stdout);
	memset(&in_window, 0, sizeof in_window);
	win.failed = 0;
	win.state = W_NONE;
}

/* A window opened while the last one is still closing ends that one first. */
static void window_open(uint64_t now)
{
	if (win.state == W_OPEN)
		return;
	if (win.state == W_CLOSING)
		window_print();
	win.state = W_OPEN;
	win.number++;
	win.open_us = now;
	printf("opened=%u\n", win.number);
	fflush(stdout);
}

static void window_close(uint64_t now)
{
	if (win.state != W_OPEN)
		return;
	win.state = W_CLOSING;
	win.close_us = now;
}

/* ------------------------------------------------------------ command line */

static void usage(FILE *f)
{
	fputs("usage: loadgen --target ADDR [--keepalive N] [--fresh N] [--slow N] [--slow-ms MS]\n"
	      "               [--path PATH] [--duration SEC] [--timeout MS] [--timeline FILE]\n"
	      "               [--timeline-seconds SEC] [--quiet]\n"
	      "               [--failures FILE] [--redis-ping]\n"
	      "  ADDR is 127.0.0.1:PORT or [::1]:PORT (numeric IPv4/IPv6 only)\n"
	      "  defaults: --keepalive 8 --fresh 2 --slow 0 --slow-ms 200 --path / --timeout 5000,\n"
	      "  run until SIGTERM/SIGINT unless --duration is given\n"
	      "  --failures FILE: one line per failed request, as it happens: when it started\n"
	      "  and failed (CLOCK_MONOTONIC us), its kind, and the pid that last answered\n"
	      "  on its connection (\"pid=P\" in the body; 0 if none did)\n"
	      "  --timeline FILE: one line per request (start_us latency_us kind generation,\n"
	      "  from our start); --timeline-seconds SEC: only those started in the first SEC\n"
	      "  --redis-ping: each request is a RESP PING that must be answered +PONG\n"
	      "  (no --slow); a fresh connection is closed by us after its answer\n"
	      "  SIGUSR1 opens a window, SIGUSR2 closes it: a line \"window=N requests=R\n"
	      "  failed=F p50_us= p99_us= max_us= span_us=\" for the requests in flight\n"
	      "  at any moment of it, once the last of them has ended; \"opened=N\" as it opens\n", f);
}

__attribute__((format(printf, 1, 2))) static _Noreturn void bad_usage(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("loadgen: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	exit(2);
}

static long parse_long(const char *name, const char *s, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		bad_usage("%s: bad number '%s' (want %ld..%ld)", name, s, min, max);
	return v;
}

static double parse_seconds(const char *name, const char *s)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	/* The comparisons also reject NaN. */
	if (errno || end == s || *end || !(v > 0 && v < 1e7))
		bad_usage("%s: bad number of seconds '%s'", name, s);
	return v;
}

/* Numeric only: a load test must not depend on DNS or on /etc/hosts. */
static void parse_target(const char *t)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)&opt.addr;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&opt.addr;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(t, ':');
	size_t hl = colon ? (size_t)(colon - t) : 0;
	bool v6 = hl > 2 && t[0] == '[' && t[hl - 1] == ']';
	if (!colon || hl >= sizeof host)
		bad_usage("--target: want 127.0.0.1:PORT or [::1]:PORT, got '%s'", t);
	memcpy(host, t + v6, hl - 2 * v6); /* without the brackets */
	host[hl - 2 * v6] = '\0';
	in_port_t port = htons((in_port_t)parse_long("--target port", colon + 1, 1, 65535));
	memset(&opt.addr, 0, sizeof opt.addr);
	opt.addr.ss_family = v6 ? AF_INET6 : AF_INET;
	if (inet_pton(opt.addr.ss_family, host, v6 ? (void *)&a6->sin6_addr : (void *)&a4->sin_addr) != 1)
		bad_usage("--target: bad %s address in '%s'%s", v6 ? "IPv6" : "IPv4", t,
			  v6 ? "" : " (numeric only; IPv6 needs [brackets])");
	if (v6)
		a6->sin6_port = port;
	else
		a4->sin_port = port;
	opt.addrlen = v6 ? sizeof *a6 : sizeof *a4;
	opt.target = t;
}

static void parse_args(int argc, char **argv)
{
	enum { O_TARGET = 256, O_KEEPALIVE, O_FRESH, O_SLOW, O_SLOW_MS, O_PATH,
	       O_DURATION, O_TIMEOUT, O_TIMELINE, O_TIMELINE_SECONDS, O_QUIET, O_FAILURES,
	       O_REDIS, O_HELP };
	static const struct option longopts[] = {
		{ "target", required_argument, NULL, O_TARGET },
		{ "keepalive", required_argument, NULL, O_KEEPALIVE },
		{ "fresh", required_argument, NULL, O_FRESH },
		{ "slow", required_argument, NULL, O_SLOW },
		{ "slow-ms", required_argument, NULL, O_SLOW_MS },
		{ "path", required_argument, NULL, O_PATH },
		{ "duration", required_argument, NULL, O_DURATION },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "timeline", required_argument, NULL, O_TIMELINE },
		{ "timeline-seconds", required_argument, NULL, O_TIMELINE_SECONDS },
		{ "quiet", no_argument, NULL, O_QUIET },
		{ "failures", required_argument, NULL, O_FAILURES },
		{ "redis-ping", no_argument, NULL, O_REDIS },
		{ "help", no_argument, NULL, O_HELP },
		{ NULL, 0, NULL, 0 },
	};
	int c;
	/* The leading ':' keeps getopt quiet so every usage error reads alike. */
	while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
		switch (c) {
		case O_TARGET: parse_target(optarg); break;
		case O_KEEPALIVE: opt.keepalive = parse_long("--keepalive", optarg, 0, MAX_CONNS); break;
		case O_FRESH: opt.fresh = parse_long("--fresh", optarg, 0, MAX_CONNS); break;
		case O_SLOW: opt.slow = parse_long("--slow", optarg, 0, MAX_CONNS); break;
		case O_SLOW_MS: opt.slow_ms = parse_long("--slow-ms", optarg, 0, 3600000); break;
		case O_PATH: opt.path = optarg; break;
		case O_DURATION: opt.duration = parse_seconds("--duration", optarg); break;
		case O_TIMEOUT: opt.timeout_ms = parse_long("--timeout", optarg, 1, 3600000); break;
		case O_TIMELINE: opt.timeline = optarg; break;
		case O_TIMELINE_SECONDS:
			opt.timeline_s = parse_seconds("--timeline-seconds", optarg);
			break;
		case O_QUIET: opt.quiet = true; break;
		case O_FAILURES: opt.failures = optarg; break;
		case O_REDIS: opt.redis = true; break;
		case O_HELP: usage(stdout); exit(0);
		case ':': bad_usage("option '%s' needs a value", argv[optind - 1]);
		default: bad_usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		bad_usage("unexpected argument '%s'", argv[optind]);
	if (!opt.target)
		bad_usage("--target is required");
	if (opt.path[0] != '/' || strpbrk(opt.path, " \t\r\n"))
		bad_usage("--path: want an absolute path without spaces, got '%s'", opt.path);
	if (opt.keepalive + opt.fresh + opt.slow == 0)
		bad_usage("nothing to do: --keepalive, --fresh and --slow are all 0");
	if (opt.redis && opt.slow)
		bad_usage("--slow asks for /sleep, which --redis-ping has no equivalent of");
}

static void build_requests(void)
{
	static const char fmt[] = "GET %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: handoff-loadgen\r\n%s\r\n";
	char slow[64];
	snprintf(slow, sizeof slow, "?ms=%ld", opt.slow_ms);
	const char *paths[C_COUNT][2] = { { opt.path, "" }, { opt.path, "" }, { "/sleep", slow } };
	static const char ping[] = "*1\r\n$4\r\nPING\r\n";
	for (int t = 0; t < C_COUNT && opt.redis; t++) {
		memcpy(request[t], ping, sizeof ping);
		request_len[t] = sizeof ping - 1;
	}
	for (int t = 0; t < C_COUNT && !opt.redis; t++) {
		int n = snprintf(request[t], sizeof request[t], fmt, paths[t][0], paths[t][1],
				 opt.target, t == C_FRESH ? "Connection: close\r\n" : "");
		if (n < 0 || (size_t)n >= sizeof request[t])
			bad_usage("--path too long: '%s'", opt.path);
		request_len[t] = (size_t)n;
	}
}

/* ------------------------------------------------------------ accounting */

static unsigned parse_generation(const struct resp *r)
{
	const char *p = memmem(r->body, r->blen, "generation=", 11);
	if (!p)
		return 0;
	unsigned long g = 0;
	for (p += 11; p < r->body + r->blen && *p >= '0' && *p <= '9' && g < 100000000; p++)
		g = g * 10 + (unsigned long)(*p - '0');
	return (unsigned)g;
}

/* The pid in "pid=P" of the body kept so far; 0 if there is none. */
static int parse_pid(const struct resp *r)
{
	const char *p = memmem(r->body, r->blen, "pid=", 4);
	long pid = 0;
	for (p = p ? p + 4 : NULL; p && p < r->body + r->blen && *p >= '0' && *p <= '9' &&
	     pid < 100000000; p++)
		pid = pid * 10 + (*p - '0');
	return (int)pid;
}

/* Generation 0 means "none seen": handoff numbers generations from 1. */
static void note_generation(unsigned g)
{
	if (g == 0)
		return;
	if (st.gens == 0 || g < st.gen_min)
		st.gen_min = g;
	if (g > st.gen_max)
		st.gen_max = g;
	/* Distinct generations are counted below GEN_TRACKED only. */
	if (g < GEN_TRACKED && !(st.genmap[g / 8] & (1u << (g % 8)))) {
		st.genmap[g / 8] |= (uint8_t)(1u << (g % 8));
		st.gens++;
	}
}

static void note_ready(struct conn *c)
{
	if (!c->ever_ok && c->type != C_FRESH)
		ready_have++;
	if (c->type == C_FRESH)
		fresh_ok = true;
	c->ever_ok = true;
	if (!ready_printed && ready_have == ready_need && (opt.fresh == 0 || fresh_ok)) {
		ready_printed = true;
		puts("ready");
		fflush(stdout);
	}
}

static void print_failure(const struct conn *c, enum kind k, int err, const char *detail, uint64_t now)
{
	if (opt.quiet || ++st.printed > MAX_PRINTED)
		return;
	fprintf(stderr, "loadgen: failure %" PRIu64 ": %s on %s connection at %.3fs: %s%s%s\n",
		st.printed, kind_name[k], ctype_name[c->type], (double)(now - t0) / 1e6,
		detail ? detail : "", err && detail ? ": " : "", err ? strerror(err) : "");
	if (st.printed == MAX_PRINTED)
		fputs("loadgen: (further failures are counted, not printed)\n", stderr);
}

/* Every failure, with what a test needs to say who held it: the process
 * that last answered on this connection (a keep-alive connection stays with
 * the process that accepted it), or the one named by the part of this
 * response already received; times are absolute CLOCK_MONOTONIC, the
 * caller's clock too. Flushed at once: a test reads it while we run. */
static void log_failure(const struct conn *c, enum kind k, int err, const char *detail, uint64_t now)
{
	if (!failures)
		return;
	int pid = parse_pid(&c->r);
	fprintf(failures, "failure end_us=%" PRIu64 " start_us=%" PRIu64 " kind=%s conn=%s pid=%d "
		"detail=%s%s%s\n", now, c->start_us, kind_name[k], ctype_name[c->type],
		pid ? pid : c->last_pid, detail ? detail : "", err && detail ? ": " : "",
		err ? strerror(err) : "");
	fflush(failures);
}

/* Every request passes here exactly once, whatever ends it. */
static void record(struct conn *c, enum kind k, int err, const char *detail, uint64_t now)
{
	uint64_t latency = now - c->start_us;
	unsigned gen = 0;
	bool windowed = in_window_now(c->start_us);
	st.count[k]++;
	if (c->type == C_SLOW)
		*(k == K_OK ? &st.slow_ok : &st.slow_failed) += 1;
	if (k == K_OK) {
		c->last_pid = parse_pid(&c->r);
		gen = parse_generation(&c->r);
		note_generation(gen);
		if (gen && gen != c->last_gen) {
			c->last_gen = gen;
			c->gens_seen++;
		}
		hist_add(&all, latency);
		if (windowed)
			hist_add(&in_window, latency);
		note_ready(c);
	} else {
		win.failed += windowed;
		print_failure(c, k, err, detail, now);
		log_failure(c, k, err, detail, now);
	}
	if (timeline && c->start_us - t0 < timeline_until_us)
		fprintf(timeline, "%" PRIu64 " %" PRIu64 " %s %u\n",
			c->start_us - t0, latency, kind_name[k], gen);
}

static enum kind kind_of_errno(int err)
{
	return err == ECONNREFUSED ? K_REFUSED : err == ECONNRESET || err == EPIPE ? K_RESET : K_OTHER;
}

/* ------------------------------------------------------------ response parsing */

static bool name_is(const char *name, size_t len, const char *want)
{
	return len == strlen(want) && strncasecmp(name, want, len) == 0;
}

static bool value_has(const char *v, size_t len, const char *word)
{
	size_t wl = strlen(word);
	for (size_t i = 0; i + wl <= len; i++)
		if (strncasecmp(v + i, word, wl) == 0)
			return true;
	return false;
}

static bool parse_status(struct resp *r, const char *s, size_t len)
{
	if (len < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[8] != ' ' || (len > 12 && s[12] != ' '))
		return false;
	r->status = 0;
	for (int i = 9; i < 12; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		r->status = r->status * 10 + (s[i] - '0');
	}
	/* An HTTP/1.0 server may close after any response: never reuse. */
	r->close = s[7] == '0';
	return true;
}

static const char *parse_header(struct resp *r, const char *line, size_t len)
{
	const char *colon = memchr(line, ':', len);
	if (!colon)
		return "malformed header line";
	const char *v = colon + 1, *end = line + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	size_t nlen = (size_t)(colon - line), vlen = (size_t)(end - v);
	if (name_is(line, nlen, "content-length")) {
		long long n = 0;
		if (vlen == 0 || vlen > 15)
			return "bad Content-Length";
		for (const char *p = v; p < end; p++) {
			if (*p < '0' || *p > '9')
				return "bad Content-Length";
			n = n * 10 + (*p - '0');
		}
		r->clen = n;
	} else if (name_is(line, nlen, "connection")) {
		r->close |= value_has(v, vlen, "close");
	} else if (name_is(line, nlen, "transfer-encoding") && !name_is(v, vlen, "identity")) {
		return "Transfer-Encoding is not supported";
	}
	return NULL;
}

/* Parses hdr[0, end), end being just past the last header's CRLF. */
static const char *parse_head(struct resp *r, size_t end)
{
	const char *p = r->hdr, *lim = r->hdr + end;
	const char *eol = memmem(p, (size_t)(lim - p), "\r\n", 2);
	if (!parse_status(r, p, (size_t)(eol - p)))
		return "malformed status line";
	for (p = eol + 2; p < lim; p = eol + 2) {
		eol = memmem(p, (size_t)(lim - p), "\r\n", 2);
		const char *err = parse_header(r, p, (size_t)(eol - p));
		if (err)
			return err;
	}
	/* These statuses never carry a body, whatever the headers say. */
	if (r->status < 200 || r->status == 204 || r->status == 304)
		r->clen = 0;
	r->left = r->clen;
	return NULL;
}

enum feed { F_MORE, F_DONE, F_BAD };

static enum feed feed_body(struct resp *r, size_t n, const char *d, size_t *extra)
{
	size_t take = n;
	if (r->clen >= 0 && (long long)take > r->left)
		take = (size_t)r->left;
	size_t keep = BODY_KEEP - r->blen < take ? BODY_KEEP - r->blen : take;
	memcpy(r->body + r->blen, d, keep);
	r->blen += keep;
	if (r->clen >= 0)
		r->left -= (long long)take;
	*extra = n - take;
	return r->clen >= 0 && r->left == 0 ? F_DONE : F_MORE;
}

/* A RESP reply to PING: one line, "+PONG" if all is well. Anything else
 * (an -ERR, -LOADING) counts as non200, with the line as its detail. */
static enum feed feed_redis(struct resp *r, const char *d, size_t n, size_t *extra,
			    const char **err)
{
	size_t old = r->hlen, take = n < HDR_MAX - 1 - old ? n : HDR_MAX - 1 - old;
	memcpy(r->hdr + old, d, take);
	r->hlen += take;
	r->hdr[r->hlen] = '\0';
	const char *end = memmem(r->hdr, r->hlen, "\r\n", 2);
	if (!end) {
		*err = "RESP reply line longer than 4 KiB";
		return r->hlen == HDR_MAX - 1 ? F_BAD : F_MORE;
	}
	size_t line = (size_t)(end - r->hdr);
	r->status = line == 5 && memcmp(r->hdr, "+PONG", 5) == 0 ? 200 : 0;
	r->head_done = true;
	r->clen = 0;
	*extra = n - (line + 2 - old);
	return F_DONE;
}

/* Accepts the response in arbitrary pieces; *extra counts bytes past its end. */
static enum feed feed(struct resp *r, const char *d, size_t n, size_t *extra, const char **err)
{
	if (opt.redis)
		return feed_redis(r, d, n, extra, err);
	if (!r->head_done) {
		size_t old = r->hlen, take = n < HDR_MAX - old ? n : HDR_MAX - old;
		size_t from = old > 3 ? old - 3 : 0;
		memcpy(r->hdr + old, d, take);
		r->hlen += take;
		const char *end = memmem(r->hdr + from, r->hlen - from, "\r\n\r\n", 4);
		if (!end) {
			*err = "response head larger than 4 KiB";
			return r->hlen == HDR_MAX ? F_BAD : F_MORE;
		}
		size_t head = (size_t)(end - r->hdr) + 4;
		if ((*err = parse_head(r, head - 2)))
			return F_BAD;
		r->head_done = true;
		d += head - old;
		n -= head - old;
	}
	return feed_body(r, n, d, extra);
}

/* ------------------------------------------------------------ connections */

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd); /* also leaves the epoll set: the fd is never dup'ed */
	c->fd = -1;
	c->events = 0;
	c->reused = false;
}

/* A connection the client meant to keep (keep-alive and slow slots; a
 * fresh one asks for its close) ended by the server: announced with
 * "Connection: close", or an EOF or a reset. Each costs the client a
 * reconnect, and each would cut a WebSocket or a stream. */
static void note_server_close(const struct conn *c)
{
	if (c->type != C_FRESH && c->fd >= 0 && !stopping)
		st.server_closes++;
}

static void fail(struct conn *c, enum kind k, int err, const char *detail, uint64_t now)
{
	if (k == K_RESET)
		note_server_close(c);
	record(c, k, err, detail, now);
	conn_close(c);
	c->state = S_WAIT;
	c->deadline_us = now + RETRY_US;
}

static void watch(struct conn *c, uint32_t events, uint64_t now)
{
	struct epoll_event ev = { .events = events, .data.u64 = (uint64_t)(c - conns) };
	if (c->events == events)
		return;
	if (epoll_ctl(epfd, c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, c->fd, &ev) < 0)
		fail(c, K_OTHER, errno, "epoll_ctl", now);
	else
		c->events = events;
}

static void do_send(struct conn *c, uint64_t now)
{
	const char *req = request[c->type];
	size_t len = request_len[c->type];
	while (c->sent < len) {
		ssize_t n = send(c->fd, req + c->sent, len - c->sent, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			watch(c, EPOLLOUT, now);
			return;
		}
		if (n < 0) {
			fail(c, kind_of_errno(errno), errno, c->reused ? "send on reused connection" : "send", now);
			return;
		}
		c->sent += (size_t)n;
	}
	c->state = S_READING;
	watch(c, EPOLLIN, now);
}

/* A request starts before its connect when it needs a connection, so its
 * latency and timeout cover a stalled connect (full backlog) too. */
static void start_request(struct conn *c, uint64_t now)
{
	c->start_us = now;
	c->deadline_us = now + timeout_us;
	c->sent = c->got = 0;
	memset(&c->r, 0, offsetof(struct resp, hdr)); /* not the buffers */
	c->r.clen = -1;
	c->state = S_SENDING;
	if (c->fd >= 0) {
		do_send(c, now);
		return;
	}
	c->fd = socket(opt.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		fail(c, kind_of_errno(errno), errno, "socket", now);
		return;
	}
	c->reused = false;
	c->last_pid = 0; /* a new connection: nobody has answered on it yet */
	c->last_gen = c->gens_seen = 0;
	st.kept_connects += c->type != C_FRESH;
	int one = 1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(c->fd, (struct sockaddr *)&opt.addr, opt.addrlen) == 0) {
		do_send(c, now);
	} else if (errno == EINPROGRESS || errno == EINTR) {
		/* EINTR is not retried: the connect goes on asynchronously. */
		c->state = S_CONNECTING;
		watch(c, EPOLLOUT, now);
	} else {
		fail(c, kind_of_errno(errno), errno, "connect", now);
	}
}

static void on_connected(struct conn *c, uint64_t now)
{
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		fail(c, kind_of_errno(err), err, "connect", now);
		return;
	}
	c->state = S_SENDING;
	do_send(c, now);
}

/* After a request ends well: the next one on the same connection if it may
 * carry one, else on a new one; fresh slots first wait for the server's EOF
 * so that TIME_WAIT lands on the server's side, not on our ports. */
static void next_request(struct conn *c, uint64_t now, bool reusable)
{
	/* A Redis server never closes first: there, we do. */
	if (c->type == C_FRESH && c->fd >= 0 && !stopping && !opt.redis) {
		c->state = S_LINGER;
		c->deadline_us = now + timeout_us;
		watch(c, EPOLLIN, now);
		return;
	}
	if (!reusable || stopping || c->type == C_FRESH)
		conn_close(c);
	if (stopping)
		c->state = S_IDLE;
	else
		start_request(c, now);
}

static void complete(struct conn *c, uint64_t now, size_t extra)
{
	char detail[64];
	if (opt.redis)
		snprintf(detail, sizeof detail, "reply %.*s", (int)strcspn(c->r.hdr, "\r\n"),
			 c->r.hdr);
	else
		snprintf(detail, sizeof detail, "status %d", c->r.status);
	record(c, c->r.status == 200 ? K_OK : K_NON200, 0, detail, now);
	c->reused = c->fd >= 0;
	if (c->r.close)
		note_server_close(c);
	/* Bytes past the response would be read as the next one: start over. */
	next_request(c, now, !c->r.close && extra == 0);
}

static void on_eof(struct conn *c, uint64_t now)
{
	bool reused = c->reused;
	note_server_close(c);
	conn_close(c);
	if (c->r.head_done && c->r.clen < 0) {
		complete(c, now, 0);
		return;
	}
	char detail[96];
	snprintf(detail, sizeof detail, "EOF after %zu response bytes on a %s connection",
		 c->got, reused ? "reused" : "new");
	fail(c, K_EOF, 0, detail, now);
}

static void on_data(struct conn *c, size_t n, uint64_t now)
{
	size_t extra = 0;
	const char *err = NULL;
	c->got += n;
	switch (feed(&c->r, rbuf, n, &extra, &err)) {
	case F_MORE: break;
	case F_DONE: complete(c, now, extra); break;
	case F_BAD: fail(c, K_OTHER, 0, err, now); break;
	}
}

static void on_readable(struct conn *c, uint64_t now)
{
	ssize_t n = read_retry(c->fd, rbuf, sizeof rbuf);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;
	if (c->state == S_LINGER) {
		/* The request is already counted: only the end of the connection matters. */
		if (n <= 0) {
			conn_close(c);
			next_request(c, now, false);
		}
	} else if (n == 0) {
		on_eof(c, now);
	} else if (n < 0) {
		fail(c, kind_of_errno(errno), errno, c->reused ? "read on reused connection" : "read", now);
	} else {
		on_data(c, (size_t)n, now);
	}
}

static void on_event(struct conn *c, uint64_t now)
{
	/* Errors and hang-ups are not special-cased: the next send, read or
	 * SO_ERROR reports them with their errno. */
	switch (c->state) {
	case S_CONNECTING: on_connected(c, now); break;
	case S_SENDING: do_send(c, now); break;
	case S_READING: case S_LINGER: on_readable(c, now); break;
	default: break;
	}
}

/* ------------------------------------------------------------ main loop */

/* Time-driven work, at most once per tick. Returns true when, stopping,
 * no request is in flight any more. */
static bool sweep(uint64_t now)
{
	bool busy = false;
	for (size_t i = 0; i < nconns; i++) {
		struct conn *c = &conns[i];
		switch (c->state) {
		case S_CONNECTING: case S_SENDING: case S_READING:
			if (now >= c->deadline_us)
				fail(c, K_TIMEOUT, 0, c->state == S_CONNECTING ? "connecting"
				     : c->state == S_SENDING ? "sending" : c->got ? "response incomplete"
				     : c->reused ? "no response on reused connection" : "no response", now);
			break;
		case S_LINGER:
			if (stopping || now >= c->deadline_us) {
				conn_close(c);
				next_request(c, now, false);
			}
			break;
		case S_WAIT:
			if (stopping)
				c->state = S_IDLE;
			else if (now >= c->deadline_us)
				start_request(c, now);
			break;
		case S_IDLE:
			break;
		}
		busy |= c->state != S_IDLE;
	}
	return stopping && !busy;
}

/* SIGUSR1 and SIGUSR2 open and close a window; any other stops us. */
static void drain_signals(int sfd, uint64_t now)
{
	struct signalfd_siginfo si;
	while (read_retry(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGUSR1)
			window_open(now);
		else if (si.ssi_signo == SIGUSR2)
			window_close(now);
		else
			stopping = true;
	}
}

/* Whether a request that started before the closing window closed is
 * still in flight: its line waits for it. */
static bool window_has_stragglers(void)
{
	for (size_t i = 0; i < nconns; i++) {
		const struct conn *c = &conns[i];
		bool in_flight = c->state == S_CONNECTING || c->state == S_SENDING ||
				 c->state == S_READING;
		if (in_flight && c->start_us < win.close_us)
			return true;
	}
	return false;
}

static void run(int sfd)
{
	struct epoll_event ev[256];
	uint64_t stop_at = opt.duration > 0 ? t0 + (uint64_t)(opt.duration * 1e6) : UINT64_MAX;
	uint64_t next_sweep = 0;
	for (;;) {
		int n = epoll_wait(epfd, ev, 256, TICK_MS);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		uint64_t now = now_us();
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u64 == UINT64_MAX)
				drain_signals(sfd, now);
			else
				on_event(&conns[ev[i].data.u64], now);
		}
		if (win.state == W_CLOSING && !window_has_stragglers())
			window_print();
		if (now >= stop_at)
			stopping = true;
		if (now >= next_sweep || stopping) {
			next_sweep = now + TICK_MS * 1000u;
			if (sweep(now))
				return;
		}
	}
}

/* Returns the number of failed requests. */
static uint64_t report(uint64_t end)
{
	uint64_t failed = 0;
	for (int k = K_OK + 1; k < K_COUNT; k++)
		failed += st.count[k];
	double secs = (double)(end - t0) / 1e6;
	printf("requests=%" PRIu64 "\nok=%" PRIu64 "\nfailed=%" PRIu64 "\n",
	       st.count[K_OK] + failed, st.count[K_OK], failed);
	for (int k = K_OK + 1; k < K_COUNT; k++)
		printf("%s=%" PRIu64 "\n", kind_name[k], st.count[k]);
	printf("slow_ok=%" PRIu64 "\nslow_failed=%" PRIu64 "\n", st.slow_ok, st.slow_failed);
	printf("server_closes=%" PRIu64 "\n", st.server_closes);
	/* The fewest generations any kept connection (as it stands at the end)
	 * was answered by: with connections that move, every generation. */
	unsigned least = 0;
	bool any = false;
	for (size_t i = 0; i < nconns; i++)
		if (conns[i].type != C_FRESH && (!any || conns[i].gens_seen < least)) {
			least = conns[i].gens_seen;
			any = true;
		}
	printf("kept_connects=%" PRIu64 "\nconn_gens_min=%u\n", st.kept_connects, least);
	printf("generations=%u\ngen_min=%u\ngen_max=%u\n", st.gens, st.gen_min, st.gen_max);
	printf("p50_us=%" PRIu64 "\np99_us=%" PRIu64 "\nmax_us=%" PRIu64 "\n",
	       hist_pct(&all, 50), hist_pct(&all, 99), all.max);
	printf("duration_s=%.3f\nrps=%.1f\n", secs, secs > 0 ? (double)st.count[K_OK] / secs : 0.0);
	fflush(stdout);
	return failed;
}

/* SIGTERM/SIGINT, and SIGUSR1/SIGUSR2 that mark windows, arrive through a
 * signalfd so that no handler does any work; SIGPIPE is ignored as a second guard beside MSG_NOSIGNAL. */
static int setup_signals(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
	if (sfd < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &ev) < 0)
		die("signalfd");
	return sfd;
}

/* Many fresh connections plus keep-alive ones can outgrow the default 1024. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void setup(void)
{
	raise_nofile();
	build_requests();
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1");
	/* "e": O_CLOEXEC, like every other descriptor here. */
	if (opt.timeline && !(timeline = fopen(opt.timeline, "ae")))
		die(opt.timeline);
	if (opt.failures && !(failures = fopen(opt.failures, "ae")))
		die(opt.failures);
	nconns = (size_t)(opt.keepalive + opt.fresh + opt.slow);
	if (!(conns = calloc(nconns, sizeof *conns)))
		die("calloc");
	ready_need = (size_t)(opt.keepalive + opt.slow);
	timeout_us = (uint64_t)opt.timeout_ms * 1000u;
	if (opt.timeline_s > 0)
		timeline_until_us = (uint64_t)(opt.timeline_s * 1e6);
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	setup();
	int sfd = setup_signals();
	t0 = now_us();
	for (size_t i = 0; i < nconns; i++) {
		struct conn *c = &conns[i];
		c->fd = -1;
		c->type = i < (size_t)opt.keepalive ? C_KEEPALIVE
			: i < (size_t)(opt.keepalive + opt.fresh) ? C_FRESH : C_SLOW;
		start_request(c, t0);
	}
	run(sfd);
	/* A window still open at the end ends with us: its line before the report. */
	window_close(now_us());
	if (win.state == W_CLOSING)
		window_print();
	uint64_t failed = report(now_us());
	if (timeline && fclose(timeline) != 0)
		die(opt.timeline);
	if (failures && fclose(failures) != 0)
		die(opt.failures);
	free(conns); /* sockets are left to exit() */
	return failed ? 1 : 0;
}
