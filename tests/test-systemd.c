/* test-systemd.c — the unit files of docs/systemd/ under the real systemd.
 *
 * Each test boots this machine's own systemd as PID 1 of private
 * namespaces (PID, mount, UTS, IPC, cgroup; the network is the host's, so
 * the load client here reaches the ports served inside), installs the
 * documented units with only their paths and port changed, and drives them
 * with systemctl under load: start, ten reloads, restart, stop.
 *
 * The boot recipe (boot_script below): as root, a child cgroup of the
 * host's cgroup2 hierarchy for the machine; `unshare --pid --mount --uts
 * --ipc --cgroup --mount-proc`; inside, every mount private, tmpfs on /run,
 * /tmp (the test's directory bound back) and /dev (a few device nodes bound
 * in, a devpts of its own), /proc/sys read-only, a cgroup2 of its own on
 * /sys/fs/cgroup; then /lib/systemd/systemd --system with container= set,
 * a unit path holding nothing but the units under test and a few empty
 * targets (so nothing of the host's units starts: no journald, no udev,
 * no networking), and no generators. Talked to with
 * `nsenter -t PID -m -p systemctl`; halted with SIGRTMIN+14 (immediate
 * poweroff), and since unshare runs with --kill-child, a SIGKILL of unshare
 * (the runner's, if the test fails) takes the whole machine down with it.
 *
 * Where systemd cannot boot (not root, no systemd, no cgroup2, a boot that
 * never reaches "running"), the tests skip and say why.
 *
 * systemd 252 (Debian 12) does not know Type=notify-reload: there the two
 * units of `handoff run` are installed as their own comments say, in the
 * Type=notify variant with ExecReload=handoff reload --control; from 253 on,
 * exactly as written. */
#include "supervisor-kit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

#define SYSTEMD "/lib/systemd/systemd"
#define CGROUP_PREFIX "handoff-test-systemd."

struct machine {
	pid_t unshare;          /* our child */
	pid_t init;             /* systemd, PID 1 inside; its pid here */
	int version;            /* systemd's, e.g. 252 */
	char cgroup[PATH_BUFFER];  /* its cgroup, as seen here */
	char units[PATH_BUFFER];   /* the only unit directory it reads */
	char log[PATH_BUFFER];     /* unshare's and the boot script's output */
};

/* Inside the new namespaces, as root; $1 is the test's directory. */
static const char boot_script[] =
	"set -e\n"
	"work=$1\n"
	"mount --make-rprivate /\n"
	"mount -t tmpfs -o mode=755 tmpfs /run\n"
	"mkdir /run/work /run/hostdev\n"
	"mount --bind \"$work\" /run/work\n"
	/* /dev: a few nodes of the host's, no access to its disks or consoles */
	"mount --bind /dev /run/hostdev\n"
	"mount -t tmpfs -o mode=755 tmpfs /dev\n"
	"for n in null zero full random urandom tty; do\n"
	"	touch /dev/$n; mount --bind /run/hostdev/$n /dev/$n\n"
	"done\n"
	"umount -l /run/hostdev; rmdir /run/hostdev\n"
	"mkdir /dev/pts /dev/shm\n"
	"mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /dev/pts\n"
	"ln -s pts/ptmx /dev/ptmx\n"
	"mount -t tmpfs -o mode=1777 tmpfs /dev/shm\n"
	"ln -s /proc/self/fd /dev/fd\n"
	"ln -s /proc/self/fd/0 /dev/stdin\n"
	"ln -s /proc/self/fd/1 /dev/stdout\n"
	"ln -s /proc/self/fd/2 /dev/stderr\n"
	/* /tmp of its own, with the test's directory where it was */
	"mount -t tmpfs -o mode=1777 tmpfs /tmp\n"
	"mkdir -p \"$work\"\n"
	"mount --bind /run/work \"$work\"\n"
	"umount /run/work; rmdir /run/work\n"
	/* no sysctl of the host's may change; a cgroup tree of its own */
	"mount --bind /proc/sys /proc/sys\n"
	"mount -o remount,bind,ro /proc/sys\n"
	"mount -t cgroup2 cgroup2 /sys/fs/cgroup\n"
	"mkdir /run/no-generators\n"
	"export container=handoff-test SYSTEMD_UNIT_PATH=\"$work/units\"\n"
	"export SYSTEMD_GENERATOR_PATH=/run/no-generators\n"
	"export SYSTEMD_ENVIRONMENT_GENERATOR_PATH=/run/no-generators\n"
	"exec " SYSTEMD " --system --unit=handoff-test.target\n";

/* The cgroups left by earlier tests whose process is gone (a failed test
 * leaves its own: nothing runs after FAIL). Only empty directories go: one
 * still holding processes stays; and a test still running (another
 * runner's, in parallel) keeps its cgroup whole. */
static int remove_cgroup_dir(const char *path, const struct stat *st, int flag,
			     struct FTW *f)
{
	(void)st, (void)f;
	if (flag == FTW_DP)
		rmdir(path);
	return 0;
}

static void sweep_cgroups(const char *root)
{
	DIR *d = opendir(root);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)))
		if (strncmp(e->d_name, CGROUP_PREFIX, strlen(CGROUP_PREFIX)) == 0 &&
		    kill((pid_t)atoi(e->d_name + strlen(CGROUP_PREFIX)), 0) < 0 &&
		    errno == ESRCH)
			nftw(path_join(root, e->d_name), remove_cgroup_dir, 16,
			     FTW_DEPTH | FTW_PHYS);
	closedir(d);
}

/* The host's cgroup2 hierarchy: /sys/fs/cgroup itself or, on a hybrid
 * set-up, its "unified" directory. NULL if there is none. */
static const char *cgroup2_root(void)
{
	static const char *const roots[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
	for (size_t i = 0; i < sizeof roots / sizeof *roots; i++) {
		struct statfs fs;
		if (statfs(roots[i], &fs) == 0 && fs.f_type == CGROUP2_SUPER_MAGIC)
			return roots[i];
	}
	return NULL;
}

/* What systemctl (or anything run here) last printed. */
static char out_text[16384], err_text[4096];

static int run_here(char *const argv[], int timeout_ms)
{
	char out[PATH_BUFFER], err[PATH_BUFFER];
	snprintf(out, sizeof out, "%s", work_path("command.out"));
	snprintf(err, sizeof err, "%s", work_path("command.err"));
	int code = run_command(argv, out, err, timeout_ms);
	slurp(out_text, sizeof out_text, out);
	slurp(err_text, sizeof err_text, err);
	return code;
}

/* systemctl ARGS... inside the machine; its exit status. */
static int systemctl(const struct machine *m, char *const args[])
{
	char pid[16];
	snprintf(pid, sizeof pid, "%d", (int)m->init);
	char *argv[32] = { "nsenter", "-t", pid, "-m", "-p", "systemctl", "--no-pager" };
	int n = 7;
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return run_here(argv, 20000);
}

static const char *machine_logs(const struct machine *m)
{
	static char text[8192];
	slurp(text, sizeof text, m->log);
	return text;
}

/* `systemctl ARGS...` must exit 0. */
static void must(const struct machine *m, char *const args[])
{
	if (systemctl(m, args) != 0) {
		char line[256] = "";
		for (int i = 0; args[i]; i++)
			snprintf(line + strlen(line), sizeof line - strlen(line), " %s", args[i]);
		FAIL("systemctl%s failed:\n%s%s\n%s", line, out_text, err_text,
		     machine_logs(m));
	}
}

/* A property of a unit (systemctl show -p NAME --value). */
static const char *property(const struct machine *m, const char *unit, const char *name)
{
	static char value[256];
	if (systemctl(m, (char *[]){ "show", "-p", (char *)name, "--value",
				     (char *)unit, NULL }) != 0)
		FAIL("systemctl show %s -p %s: %s", unit, name, err_text);
	size_t n = strcspn(out_text, "\n");
	if (n >= sizeof value)
		n = sizeof value - 1;
	memcpy(value, out_text, n);
	value[n] = '\0';
	return value;
}

static int is_running(void *arg)
{
	const struct machine *m = arg;
	systemctl(m, (char *[]){ "is-system-running", NULL });
	return strncmp(out_text, "running", 7) == 0 || strncmp(out_text, "degraded", 8) == 0;
}

/* systemd is running inside, or unshare (or the boot script) gave up. */
static int init_found(void *arg)
{
	struct machine *m = arg;
	int status;
	if (waitpid(m->unshare, &status, WNOHANG) == m->unshare) {
		m->unshare = 0;
		return 1;
	}
	pid_t kids[4];
	struct process_stat st;
	if (children_of(m->unshare, kids, 4) == 1 && process_stat(kids[0], &st) &&
	    strcmp(st.comm, "systemd") == 0)
		m->init = kids[0];
	return m->init > 0;
}

static void write_unit(const struct machine *m, const char *name, const char *text)
{
	write_file(path_join(m->units, name), text, 0644);
}

static int cgroup_gone(void *arg)
{
	const struct machine *m = arg;
	nftw(m->cgroup, remove_cgroup_dir, 16, FTW_DEPTH | FTW_PHYS);
	return access(m->cgroup, F_OK) < 0;
}

/* Before a skip: the machine down, if it is still up, and its cgroup gone. */
static void give_up(struct machine *m)
{
	int status;
	if (m->unshare > 0) {
		kill(m->unshare, SIGKILL); /* --kill-child: systemd too */
		wait_exit(m->unshare, 10000, &status);
	}
	wait_for(cgroup_gone, m, 5000);
}

/* Boots systemd, or skips the test saying why it cannot. */
static void machine_boot(struct machine *m)
{
	memset(m, 0, sizeof *m);
	locate();
	if (geteuid() != 0)
		SKIP("booting systemd in namespaces needs root");
	if (access(SYSTEMD, X_OK) < 0)
		SKIP("no %s here", SYSTEMD);
	const char *tools[] = { "unshare", "nsenter", "systemctl", "mount" };
	for (size_t i = 0; i < sizeof tools / sizeof *tools; i++)
		if (!find_program(tools[i]))
			SKIP("no %s in PATH", tools[i]);
	const char *root = cgroup2_root();
	if (!root)
		SKIP("no cgroup2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified");
	sweep_cgroups(root);

	char *argv_version[] = { SYSTEMD, "--version", NULL };
	if (run_here(argv_version, 10000) != 0 ||
	    sscanf(out_text, "systemd %d", &m->version) != 1)
		SKIP("%s --version: %s%s", SYSTEMD, out_text, err_text);

	snprintf(m->cgroup, sizeof m->cgroup, "%s/" CGROUP_PREFIX "%d", root, (int)getpid());
	if (mkdir(m->cgroup, 0755) < 0)
		SKIP("cannot create cgroup %s: %s", m->cgroup, strerror(errno));
	snprintf(m->units, sizeof m->units, "%s", work_path("units"));
	if (mkdir(m->units, 0755) < 0)
		FAIL("mkdir %s: %s", m->units, strerror(errno));
	snprintf(m->log, sizeof m->log, "%s", work_path("boot.log"));
	/* What the default dependencies of a service and a socket ask for,
	 * empty; the machine boots to handoff-test.target, which wants
	 * nothing. */
	const char *targets[] = { "handoff-test", "sysinit", "basic", "sockets",
				  "timers", "paths", "slices", "network", "multi-user",
				  "shutdown", "local-fs", "swap", "umount" };
	for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
		char name[64], text[128];
		snprintf(name, sizeof name, "%s.target", targets[i]);
		snprintf(text, sizeof text, "[Unit]\nDescription=%s (empty)\n", targets[i]);
		write_unit(m, name, text);
	}
	write_unit(m, "system.slice", "[Unit]\nDescription=system.slice\n");
	char script[PATH_BUFFER];
	snprintf(script, sizeof script, "%s", work_path("boot.sh"));
	write_file(script, boot_script, 0755);

	/* Into the cgroup first, so that the cgroup namespace's root is it. */
	char *argv[] = { "sh", "-c",
			 "echo $$ > \"$1/cgroup.procs\" && exec unshare --pid --kill-child "
			 "--mount --uts --ipc --cgroup --mount-proc sh \"$2\" \"$3\"",
			 "sh", m->cgroup, script, work_dir, NULL };
	struct spawn_options o = { .output = m->log };
	long started = now_ms();
	m->unshare = spawn(argv, &o);
	if (!wait_for(init_found, m, 10000) || !m->unshare) {
		give_up(m);
		SKIP("systemd did not start in namespaces here:\n%s", machine_logs(m));
	}
	if (!wait_for(is_running, m, 20000)) {
		give_up(m);
		SKIP("systemd in namespaces never reached \"running\" here (is-system-running: "
		     "%s%s):\n%s", out_text, err_text, machine_logs(m));
	}
	printf("  systemd %d booted as PID 1 of namespaces in %ld ms (pid %d here)\n",
	       m->version, now_ms() - started, (int)m->init);
}

/* Immediate poweroff; unshare exits once its child, systemd, has. */
static void machine_halt(struct machine *m)
{
	int status;
	kill(m->init, SIGRTMIN + 14);
	if (!wait_exit(m->unshare, 10000, &status)) {
		kill(m->unshare, SIGKILL); /* --kill-child: systemd too */
		wait_exit(m->unshare, 10000, &status);
		FAIL("systemd ignored SIGRTMIN+14 for 10 s:\n%s", machine_logs(m));
	}
	if (!wait_for(cgroup_gone, m, 5000))
		FAIL("cgroup %s still there after the halt", m->cgroup);
}

/* ------------------------------------------------------- the unit files */

/* text with every `from` replaced by `to`, malloc'd; *count += how many. */
static char *replace(char *text, const char *from, const char *to, int *count)
{
	size_t n = 0, lf = strlen(from), lt = strlen(to);
	for (const char *p = text; (p = strstr(p, from)); p += lf)
		n++;
	char *out = malloc(strlen(text) + n * lt + 1), *w = out;
	if (!out)
		FAIL("out of memory");
	const char *p = text, *q;
	while ((q = strstr(p, from))) {
		memcpy(w, p, (size_t)(q - p));
		w += q - p;
		memcpy(w, to, lt);
		w += lt;
		p = q + lf;
	}
	strcpy(w, p);
	free(text);
	if (count)
		*count += (int)n;
	return out;
}

/* One replacement that must happen, so that a change to the documented
 * unit breaks the test rather than the test silently testing less. */
static char *replace_must(char *text, const char *from, const char *to, const char *file)
{
	int n = 0;
	text = replace(text, from, to, &n);
	if (n == 0)
		FAIL("docs/systemd/%s: no \"%s\" in it any more; update tests/test-systemd.c",
		     file, from);
	return text;
}

/* docs/systemd/file with the programs and the port of this test, in the
 * variant for systemd 252 where the unit says so; installed as `as`, with
 * a drop-in that sends the service's output to work_dir/<as>.log (there is
 * no journal in the machine). */
static void install(const struct machine *m, const char *file, const char *as, int port)
{
	char *text = read_file(source_path(path_join("docs/systemd", file)));
	if (!text)
		FAIL("cannot read docs/systemd/%s", file);
	char server[PATH_BUFFER + 64], portnum[16];
	snprintf(portnum, sizeof portnum, "%d", port);
	if (m->version < 253 && strstr(text, "\nType=notify-reload\n")) {
		/* The variant spelled out at the end of the unit, commented,
		 * takes the place of the two lines it names. */
		text = replace_must(text, "\nType=notify-reload\n", "\n#Type=notify-reload\n", file);
		text = replace_must(text, "\nExecStart=", "\n#(not on 252)ExecStart=", file);
		text = replace_must(text, "\n#Type=notify\n", "\nType=notify\n", file);
		text = replace_must(text, "\n#ExecStart=/", "\nExecStart=/", file);
		text = replace_must(text, "\n#ExecReload=/", "\nExecReload=/", file);
		text = replace_must(text, "\n#RuntimeDirectory=", "\nRuntimeDirectory=", file);
	}
	snprintf(server, sizeof server, "%s --listen web=*:%d", httpd_bin, port);
	text = replace(text, "/usr/local/bin/myserver --flags", server, NULL);
	text = replace(text, "/usr/local/bin/myserver", httpd_bin, NULL);
	text = replace(text, "/usr/local/bin/handoff", handoff_bin, NULL);
	text = replace_must(text, "8080", portnum, file);
	write_unit(m, as, text);
	free(text);

	if (strstr(as, ".service")) {
		char dir[PATH_BUFFER + 128], conf[PATH_BUFFER + 256];
		snprintf(dir, sizeof dir, "%s/%s.d", m->units, as);
		if (mkdir(dir, 0755) < 0)
			FAIL("mkdir %s: %s", dir, strerror(errno));
		snprintf(conf, sizeof conf,
			 "[Service]\nStandardOutput=append:%s/%s.log\nStandardError=inherit\n",
			 work_dir, as);
		write_file(path_join(dir, "output.conf"), conf, 0644);
	}
}

static const char *service_log(const char *service)
{
	char name[128];
	snprintf(name, sizeof name, "%s.log", service);
	return file_text(work_path(name));
}

/* ------------------------------------------------------------ checking */

/* The pids (as seen here) in the service's cgroup; how many. */
static int service_pids(const struct machine *m, const char *service, pid_t *out, int max)
{
	char path[PATH_BUFFER * 2];
	snprintf(path, sizeof path, "%s/system.slice/%s/cgroup.procs", m->cgroup, service);
	char *text = read_file(path);
	int n = 0;
	for (char *p = text; p && *p && n < max;) {
		out[n++] = (pid_t)strtol(p, &p, 10);
		while (*p == '\n')
			p++;
	}
	free(text);
	return n;
}

struct unit_wait {
	const struct machine *m;
	const char *unit;
	const char *want;
};

static int unit_in_state(void *arg)
{
	const struct unit_wait *w = arg;
	return strcmp(property(w->m, w->unit, "ActiveState"), w->want) == 0;
}

static void wait_state(const struct machine *m, const char *unit, const char *want)
{
	struct unit_wait w = { m, unit, want };
	if (!wait_for(unit_in_state, &w, 15000))
		FAIL("%s: ActiveState %s, expected %s\nits log:\n%s\n%s", unit,
		     property(m, unit, "ActiveState"), want, service_log(unit),
		     machine_logs(m));
}

/* Waits until generation `number` answers on port; its pid (as seen
 * inside the machine, like MainPID). */
static pid_t serving(int port, unsigned number, const char *unit)
{
	char body[256], want[48];
	snprintf(want, sizeof want, "generation=%u pid=", number);
	if (!wait_http_body("127.0.0.1", port, "/", want, body, sizeof body, 15000))
		FAIL("generation %u never answered on port %d; last answer: %s\nlog of %s:\n%s",
		     number, port, body, unit, service_log(unit));
	return (pid_t)atoi(strstr(body, "pid=") + 4);
}

static pid_t main_pid(const struct machine *m, const char *unit)
{
	return (pid_t)atoi(property(m, unit, "MainPID"));
}

struct pid_wait {
	const struct machine *m;
	const char *unit;
	pid_t want;
};

static int main_pid_is(void *arg)
{
	const struct pid_wait *w = arg;
	return main_pid(w->m, w->unit) == w->want;
}

/* The service's processes are down to `count`. */
struct count_wait {
	const struct machine *m;
	const char *service;
	int count;
};

static int processes_are(void *arg)
{
	const struct count_wait *w = arg;
	pid_t pids[64];
	return service_pids(w->m, w->service, pids, 64) == w->count;
}

static void wait_processes(const struct machine *m, const char *service, int count)
{
	struct count_wait w = { m, service, count };
	if (!wait_for(processes_are, &w, 20000)) {
		pid_t pids[64];
		FAIL("%s: %d processes, expected %d\nlog:\n%s", service,
		     service_pids(m, service, pids, 64), count, service_log(service));
	}
}

struct request_wait {
	const struct machine *m;
	const char *service;
	int fd; /* our connection */
};

/* A process of the service has read our request: it is in progress there
 * (some connection held is not enough: the readiness probe's, closing,
 * would do, with ours still in the listener's queue). */
static int request_in_flight(void *arg)
{
	const struct request_wait *w = arg;
	unsigned long inode = request_read(w->fd);
	pid_t pids[64];
	int n = inode ? service_pids(w->m, w->service, pids, 64) : 0;
	for (int i = 0; i < n; i++)
		if (holds_socket(pids[i], inode))
			return 1;
	return 0;
}

/* `systemctl stop` while a request is in flight: it is answered (the
 * unit's KillMode lets the server drain), and the unit ends inactive.
 * systemctl runs meanwhile: the stop ends only once the server has closed
 * the connection, which it does after our side has read the answer. */
static void stop_with_request_in_flight(const struct machine *m, const char *service,
					int port, char *const stop[])
{
	int fd = http_send("127.0.0.1", port, "/sleep?ms=1500");
	if (fd < 0)
		FAIL("GET /sleep: %s", strerror(-fd));
	struct request_wait w = { m, service, fd };
	if (!wait_for(request_in_flight, &w, 10000)) {
		pid_t pids[64];
		char seen[1024] = "";
		int n = service_pids(m, service, pids, 64);
		for (int i = 0, at = 0; i < n && at < (int)sizeof seen - 64; i++)
			at += snprintf(seen + at, sizeof seen - (size_t)at,
				       " pid %d: %d fds, %d connections;", (int)pids[i],
				       count_fds(pids[i]), count_connections(pids[i]));
		FAIL("%s never took the request (%d processes:%s)\nlog:\n%s", service, n,
		     seen, service_log(service));
	}
	long t0 = now_ms();
	char pid[16];
	snprintf(pid, sizeof pid, "%d", (int)m->init);
	char *argv[16] = { "nsenter", "-t", pid, "-m", "-p", "systemctl", "--no-pager" };
	int n = 7;
	for (int i = 0; stop[i] && n < 15; i++)
		argv[n++] = stop[i];
	argv[n] = NULL;
	char output[PATH_BUFFER];
	snprintf(output, sizeof output, "%s", work_path("stop.out"));
	struct spawn_options o = { .output = output };
	pid_t systemctl_pid = spawn(argv, &o);
	char body[256];
	int code = http_answer(fd, body, sizeof body, 10000);
	if (code != 200 || !strstr(body, "generation="))
		FAIL("the request in flight during `systemctl stop %s` got %d: %s\nlog:\n%s",
		     service, code, body, service_log(service));
	int status;
	if (!wait_exit(systemctl_pid, 20000, &status)) {
		kill(systemctl_pid, SIGKILL);
		FAIL("systemctl stop %s still running after 20 s\nlog:\n%s", service,
		     service_log(service));
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("systemctl stop %s: status %d\n%s", service, status, file_text(output));
	wait_state(m, service, "inactive");
	printf("  systemctl stop %s: %ld ms, the request in flight answered\n", service,
	       now_ms() - t0);
}

static void print_load(const char *label, const struct load_result *r)
{
	load_print(label, r);
	check_no_failures(r);
	if (r->refused)
		FAIL("%s: %ld refused", label, r->refused);
}

/* ----------------------------------------------------------- the tests */

/* handoff-supervised.service: handoff binds the port; `systemctl reload`
 * swaps generations under load with the main PID fixed; restart starts
 * a new supervisor; stop lets the serving generation finish. */
void test_systemd_supervised_unit(void)
{
	struct machine m;
	machine_boot(&m);
	const char *unit = "handoff-supervised.service";
	int port = free_port();
	install(&m, "handoff-supervised.service", unit, port);
	if (m.version < 253) {
		/* What README.md says of 252: the unit as written loses its
		 * type. Installed only to be looked at, never started. */
		char *text = read_file(source_path("docs/systemd/handoff-supervised.service"));
		if (!text)
			FAIL("cannot read docs/systemd/handoff-supervised.service");
		write_unit(&m, "as-written.service", text);
		free(text);
	}
	must(&m, (char *[]){ "daemon-reload", NULL });
	if (m.version < 253) {
		const char *type = property(&m, "as-written.service", "Type");
		if (strcmp(type, "simple") != 0)
			FAIL("systemd %d took Type=notify-reload as %s; README.md says 252 "
			     "refuses it", m.version, type);
		printf("  systemd %d: the unit as written is Type=simple (notify-reload "
		       "refused), so the Type=notify variant in its comments is installed\n",
		       m.version);
	} else {
		ASSERT_STR_EQ(property(&m, unit, "Type"), "notify-reload");
	}
	long t0 = now_ms();
	must(&m, (char *[]){ "start", (char *)unit, NULL });
	wait_state(&m, unit, "active");
	serving(port, 1, unit);
	pid_t supervisor = main_pid(&m, unit);
	printf("  systemctl start: %ld ms (%s, Type=%s)\n", now_ms() - t0, unit,
	       property(&m, unit, "Type"));

	struct load l;
	load_start(&l, port, (char *[]){ "--keepalive", "8", "--fresh", "2", NULL });
	t0 = now_ms();
	for (unsigned g = 2; g <= 11; g++) {
		must(&m, (char *[]){ "reload", (char *)unit, NULL });
		serving(port, g, unit);
		/* The reload job ended with the new generation serving. */
		ASSERT_EQ(main_pid(&m, unit), supervisor);
	}
	long reloads = now_ms() - t0;
	struct load_result r;
	load_stop(&l, &r);
	printf("  10 reloads: %ld ms, MainPID %d throughout\n", reloads, (int)supervisor);
	print_load("systemd: 10 reloads of handoff-supervised.service", &r);

	/* The supervisor owns the socket: a restart closes it for a moment
	 * (what myserver.socket is for), so no load here. */
	t0 = now_ms();
	must(&m, (char *[]){ "restart", (char *)unit, NULL });
	wait_state(&m, unit, "active");
	serving(port, 1, unit);
	ASSERT(main_pid(&m, unit) != supervisor);
	printf("  systemctl restart: %ld ms, new MainPID %d\n", now_ms() - t0,
	       (int)main_pid(&m, unit));

	stop_with_request_in_flight(&m, unit, port, (char *[]){ "stop", (char *)unit, NULL });
	ASSERT(!port_listening(port));
	machine_halt(&m);
}

/* myserver.socket + handoff-socket-activated.service: the first
 * connection starts the service; reloads, a full restart and even a stop
 * of the service refuse nothing under fresh connections, since systemd
 * holds the socket (and restarts the service on the next connection). */
void test_systemd_socket_activated_unit(void)
{
	struct machine m;
	machine_boot(&m);
	const char *unit = "handoff-socket-activated.service";
	const char *sock = "myserver.socket";
	int port = free_port();
	install(&m, "myserver.socket", sock, port);
	install(&m, "handoff-socket-activated.service", unit, port);
	must(&m, (char *[]){ "daemon-reload", NULL });
	must(&m, (char *[]){ "start", (char *)sock, NULL });
	wait_state(&m, sock, "active");
	ASSERT(strcmp(property(&m, unit, "ActiveState"), "inactive") == 0);
	long t0 = now_ms();
	serving(port, 1, unit); /* the first connection starts it */
	wait_state(&m, unit, "active");
	printf("  first connection to activation: %ld ms (Type=%s)\n", now_ms() - t0,
	       property(&m, unit, "Type"));
	pid_t supervisor = main_pid(&m, unit);

	struct load l;
	load_start(&l, port, (char *[]){ "--keepalive", "4", "--fresh", "4", NULL });
	t0 = now_ms();
	for (unsigned g = 2; g <= 11; g++) {
		must(&m, (char *[]){ "reload", (char *)unit, NULL });
		serving(port, g, unit);
		/* The reload job ended with the new generation serving. */
		ASSERT_EQ(main_pid(&m, unit), supervisor);
	}
	printf("  10 reloads: %ld ms, MainPID %d throughout\n", now_ms() - t0,
	       (int)supervisor);

	t0 = now_ms();
	must(&m, (char *[]){ "restart", (char *)unit, NULL });
	wait_state(&m, unit, "active");
	serving(port, 1, unit);
	pid_t second = main_pid(&m, unit);
	ASSERT(second != supervisor);
	printf("  systemctl restart under load: %ld ms, new MainPID %d\n", now_ms() - t0,
	       (int)second);

	/* Stopping only the service: the socket stays, and the next
	 * connection starts the service again. */
	t0 = now_ms();
	must(&m, (char *[]){ "stop", (char *)unit, NULL });
	serving(port, 1, unit);
	wait_state(&m, unit, "active");
	ASSERT(main_pid(&m, unit) != second);
	printf("  systemctl stop of the service alone under load: started again by the "
	       "socket after %ld ms\n", now_ms() - t0);
	struct load_result r;
	load_stop(&l, &r);
	print_load("systemd: socket activation, 10 reloads, restart, stop", &r);

	stop_with_request_in_flight(&m, unit, port,
				    (char *[]){ "stop", (char *)sock, (char *)unit, NULL });
	wait_state(&m, sock, "inactive");
	ASSERT(!port_listening(port));
	machine_halt(&m);
}

/* libhandoff-self-upgrade.service: httpd upgrades itself on `systemctl
 * reload`; systemd's MainPID follows the generation that serves. */
void test_systemd_self_upgrade_unit(void)
{
	struct machine m;
	machine_boot(&m);
	const char *unit = "libhandoff-self-upgrade.service";
	int port = free_port();
	install(&m, "libhandoff-self-upgrade.service", unit, port);
	must(&m, (char *[]){ "daemon-reload", NULL });
	long t0 = now_ms();
	must(&m, (char *[]){ "start", (char *)unit, NULL });
	wait_state(&m, unit, "active");
	pid_t pid = serving(port, 1, unit);
	ASSERT_EQ(main_pid(&m, unit), pid);
	printf("  systemctl start: %ld ms, MainPID %d\n", now_ms() - t0, (int)pid);

	struct load l;
	load_start(&l, port, (char *[]){ "--keepalive", "8", "--fresh", "2", NULL });
	t0 = now_ms();
	char pids[160] = "";
	for (unsigned g = 2; g <= 11; g++) {
		must(&m, (char *[]){ "reload", (char *)unit, NULL });
		pid_t next = serving(port, g, unit);
		ASSERT(next != pid);
		struct pid_wait w = { &m, unit, next };
		if (!wait_for(main_pid_is, &w, 10000))
			FAIL("generation %u (pid %d) serves, but MainPID is %d\nlog:\n%s", g,
			     (int)next, (int)main_pid(&m, unit), service_log(unit));
		wait_state(&m, unit, "active");
		/* The library takes the next SIGHUP once the old generation
		 * has drained and gone. */
		wait_processes(&m, unit, 1);
		pid = next;
		snprintf(pids + strlen(pids), sizeof pids - strlen(pids), " %d", (int)pid);
	}
	long reloads = now_ms() - t0;
	struct load_result r;
	load_stop(&l, &r);
	printf("  10 reloads: %ld ms, MainPID followed the serving generation:%s\n",
	       reloads, pids);
	print_load("systemd: 10 reloads of libhandoff-self-upgrade.service", &r);

	t0 = now_ms();
	must(&m, (char *[]){ "restart", (char *)unit, NULL });
	wait_state(&m, unit, "active");
	pid_t fresh = serving(port, 1, unit);
	ASSERT_EQ(main_pid(&m, unit), fresh);
	printf("  systemctl restart: %ld ms, MainPID %d\n", now_ms() - t0, (int)fresh);

	stop_with_request_in_flight(&m, unit, port, (char *[]){ "stop", (char *)unit, NULL });
	ASSERT(!port_listening(port));
	machine_halt(&m);
}
