/* test-fdstore.c — `handoff run --fdstore-max N`: systemd's file descriptor
 * store (tool/fdstore.h), spoken by tests/storeserver.py as a server written
 * for systemd would, with Python's socket.send_fds. */
#include "supervisor-kit.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void start_store_server(struct sup *s, const char *max)
{
	static char script[512];
	snprintf(script, sizeof script, "%s", source_path("tests/storeserver.py"));
	sup_start(s, (char *[]){ "--fdstore-max", (char *)max, NULL },
		  (char *[]){ (char *)python(), script, NULL }, NULL);
}

/* GET path: the body, which must start with want. */
static void get(const struct sup *s, const char *path, const char *want)
{
	char body[256] = "";
	int code = http_get("127.0.0.1", s->port, path, body, sizeof body);
	if (code != 200 || strncmp(body, want, strlen(want)) != 0)
		FAIL("GET %s: %d \"%s\", expected \"%s...\"; log:\n%s", path, code, body, want,
		     file_text(s->log));
}

/* The store as status --json says it: {"max":..,"count":..,"names":[..]}. */
static const char *store_status(const struct sup *s)
{
	if (handoff((char *[]){ "status", "--json", "--pidfile", (char *)s->pidfile,
				NULL }) != 0)
		FAIL("status --json: %s", said.err);
	const char *at = strstr(said.out, "\"fdstore\":");
	if (!at)
		FAIL("no fdstore in status --json:\n%s", said.out);
	return at + strlen("\"fdstore\":");
}

struct store_wait {
	const struct sup *s;
	const char *want;
};

static int store_says(void *arg)
{
	struct store_wait *w = arg;
	return strncmp(store_status(w->s), w->want, strlen(w->want)) == 0;
}

static void store_is(const struct sup *s, const char *want)
{
	struct store_wait w = { s, want };
	if (!wait_for(store_says, &w, 10000))
		FAIL("the store should be %s, status says %s; log:\n%s", want, store_status(s),
		     file_text(s->log));
}

/* A memfd holding a counter outlives the generation that stored it: a
 * crash (SIGKILL), a reload and the supervisor's own upgrade. */
void test_fdstore_state_survives_crash_and_reload(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	start_store_server(&s, "4");
	get(&s, "/", "count=1 generation=1");
	get(&s, "/", "count=2 generation=1");
	store_is(&s, "{\"max\":4,\"count\":1,\"names\":[{\"name\":\"counter\",\"count\":1}]}");
	struct gen first = only_generation(&s);
	kill(first.pid, SIGKILL);
	wait_serving(&s, 2);
	get(&s, "/", "count=3 generation=2");
	expect_in_file(s.log, "started with 1 listener(s), stored counter:1");
	reload_ok(&s, 3, 1);
	get(&s, "/", "count=4 generation=3");
	int code = handoff((char *[]){ "reload", "--self", "--pidfile", s.pidfile, NULL });
	if (code != 0)
		FAIL("reload --self: exit %d, %s%s; log:\n%s", code, said.out, said.err,
		     file_text(s.log));
	store_is(&s, "{\"max\":4,\"count\":1,");
	reload_ok(&s, 4, 2);
	get(&s, "/", "count=5 generation=4");
	if (handoff((char *[]){ "status", "--pidfile", s.pidfile, NULL }) != 0 ||
	    !strstr(said.out, "fd store: 1 of at most 4: counter (1)"))
		FAIL("status should show the store:\n%s", said.out);
	sup_stop(&s);
}

/* FDSTOREREMOVE, removal when a descriptor hangs up (and not with
 * FDPOLL=0), and the cap. */
void test_fdstore_remove_hangup_and_cap(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	start_store_server(&s, "4");
	get(&s, "/pair?name=watched", "stored");
	get(&s, "/pair?name=kept&poll=0", "stored");
	store_is(&s, "{\"max\":4,\"count\":3,");
	get(&s, "/hangup?name=watched", "closed");
	expect_in_file(s.log, "stored descriptor \"watched\" hung up: removed");
	get(&s, "/hangup?name=kept", "closed");
	store_is(&s, "{\"max\":4,\"count\":2,\"names\":[{\"name\":\"counter\",\"count\":1},"
		     "{\"name\":\"kept\",\"count\":1}]}");
	get(&s, "/remove?name=kept", "removed");
	expect_in_file(s.log, "FDSTOREREMOVE of \"kept\": 1 descriptor(s) removed");
	store_is(&s, "{\"max\":4,\"count\":1,");
	/* Four more where three fit: three stored, one refused and said. */
	get(&s, "/store?name=many&count=4", "sent");
	expect_in_file(s.log, "1 descriptor(s) named \"many\" not stored: the store is full "
			      "(--fdstore-max 4)");
	store_is(&s, "{\"max\":4,\"count\":4,");
	/* The next generation gets them all, named. */
	reload_ok(&s, 2, 1);
	get(&s, "/names", "counter:1,many:3");
	sup_stop(&s);
}

/* The test itself, not a generation, sends FDSTORE=1 with a descriptor. */
static void store_from_outside(const struct sup *s)
{
	if (handoff((char *[]){ "status", "--json", "--pidfile", (char *)s->pidfile,
				NULL }) != 0)
		FAIL("status --json: %s", said.err);
	char path[108] = "";
	const char *at = strstr(said.out, "\"notify_socket\":\"");
	if (!at || sscanf(at + 17, "%107[^\"]", path) != 1)
		FAIL("no notify socket in status:\n%s", said.out);
	int pipe_fds[2], fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ASSERT(fd >= 0 && pipe(pipe_fds) == 0);
	struct sockaddr_un to = { .sun_family = AF_UNIX };
	snprintf(to.sun_path, sizeof to.sun_path, "%s", path);
	const char text[] = "FDSTORE=1\nFDNAME=outsider";
	if (send_fds(fd, &to, text, sizeof text - 1, &pipe_fds[0], 1) < 0)
		FAIL("sendmsg to %s: %s", path, strerror(errno));
	close(fd);
	close(pipe_fds[0]);
	close(pipe_fds[1]);
}

/* Bad input: a bad FDNAME, descriptors without FDSTORE=1, descriptors
 * from a process outside the generations, a message whose descriptors the
 * kernel cut short: each said, nothing stored by mistake, the supervisor's
 * descriptors back to what they were, and the server serves on. */
void test_fdstore_bad_input(void)
{
	locate();
	struct sup s;
	sup_init(&s);
	start_store_server(&s, "8");
	get(&s, "/", "count=1");
	store_is(&s, "{\"max\":8,\"count\":1,");
	int fds = count_fds(s.pid);
	get(&s, "/store?name=a:b&count=2", "sent");
	expect_in_file(s.log, "2 descriptor(s) named \"(invalid)\" not stored: FDNAME must be");
	get(&s, "/bare?count=3", "sent");
	expect_in_file(s.log, "not stored: descriptors without FDSTORE=1 are closed");
	store_from_outside(&s);
	expect_in_file(s.log, "ignored, its descriptors closed: not one of our generations");
	/* Room for two more descriptors: five arrive, the kernel cuts the
	 * message short (MSG_CTRUNC) and what came is closed. */
	struct rlimit old;
	set_soft_limit(s.pid, RLIMIT_NOFILE, (unsigned long)count_fds(s.pid) + 2, &old);
	get(&s, "/store?name=cut&count=5", "sent");
	expect_in_file(s.log, "ignored: its descriptors cut short");
	restore_limit(s.pid, RLIMIT_NOFILE, &old);
	store_is(&s, "{\"max\":8,\"count\":1,\"names\":[{\"name\":\"counter\",\"count\":1}]}");
	ASSERT_EQ(count_fds(s.pid), fds);
	get(&s, "/", "count=2");
	sup_stop(&s);
}
