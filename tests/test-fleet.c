/* test-fleet.c — the fleet recipe of docs/fleet.md, as written: Debian's
 * ansible-playbook runs examples/ansible/rollout.yml against this machine
 * while httpd serves under `handoff run` with load on it. A good release
 * rolls out (the play exits 0, the new generation serves); a broken one
 * stops the play (non-zero, the reason in its output), the old generation
 * keeps serving and the `current` link points back at it. No request
 * fails either way.
 *
 * Skipped where ansible-playbook is missing (Debian: ansible-core). */
#include "supervisor-kit.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char app_dir[PATH_BUFFER];

static char *app_path(const char *relative) /* one of the rotating buffers */
{
	return path_join(app_dir, relative);
}

static void make_dir(const char *path)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		FAIL("mkdir %s: %s", path, strerror(errno));
}

/* A release as a build would leave it: a directory holding `server`. */
static void release(const char *name, const struct sup *s, const char *broken)
{
	char dir[PATH_BUFFER], server[PATH_BUFFER];
	snprintf(dir, sizeof dir, "%s", work_path(name));
	make_dir(dir);
	snprintf(server, sizeof server, "%s", path_join(dir, "server"));
	if (broken)
		write_file_atomic(server, broken, 0755);
	else
		install_httpd(server, s);
}

/* Where app_dir/current points, resolved. */
static void current_release(char *out, size_t size)
{
	char resolved[PATH_MAX];
	if (!realpath(app_path("current"), resolved))
		FAIL("%s: %s", app_path("current"), strerror(errno));
	snprintf(out, size, "%s", resolved);
}

static void expect_current(const char *name)
{
	char now[PATH_MAX], want[PATH_BUFFER], relative[64];
	current_release(now, sizeof now);
	snprintf(relative, sizeof relative, "releases/%s", name);
	snprintf(want, sizeof want, "%s", app_path(relative));
	char resolved[PATH_MAX];
	if (!realpath(want, resolved) || strcmp(now, resolved) != 0)
		FAIL("current points at %s, not at %s", now, want);
}

/* ansible-playbook -v (which shows what `handoff reload` said) -i inventory
 * rollout.yml for release `name`: its exit
 * status, its output (stdout and stderr) in output. */
static int rollout(const struct sup *s, const char *name, const char *output)
{
	char inventory[PATH_BUFFER], playbook[PATH_BUFFER];
	snprintf(inventory, sizeof inventory, "%s", source_path("examples/ansible/inventory.ini"));
	snprintf(playbook, sizeof playbook, "%s", source_path("examples/ansible/rollout.yml"));
	char e_release[64], e_src[PATH_BUFFER + 16], e_app[PATH_BUFFER + 16],
		e_pidfile[PATH_BUFFER + 32], e_handoff[PATH_BUFFER + 16];
	snprintf(e_release, sizeof e_release, "release=%s", name);
	/* A trailing slash: the directory's contents. */
	snprintf(e_src, sizeof e_src, "release_src=%s/", work_path(name));
	snprintf(e_app, sizeof e_app, "app_dir=%s", app_dir);
	snprintf(e_pidfile, sizeof e_pidfile, "handoff_pidfile=%s", s->pidfile);
	snprintf(e_handoff, sizeof e_handoff, "handoff=%s", handoff_bin);
	char *argv[] = { "ansible-playbook", "-v", "-i", inventory, playbook,
			 "-e", e_release, "-e", e_src, "-e", e_app,
			 "-e", e_pidfile, "-e", e_handoff, NULL };
	long start = now_ms();
	int code = run_command(argv, output, output, 90000);
	printf("  ansible-playbook for %s: exit %d in %ld ms\n", name, code,
	       now_ms() - start);
	return code;
}

/* Everything ansible writes goes under the work directory: its temporary
 * files, ~/.ansible, the configuration it reads (an empty one: not
 * /etc/ansible/ansible.cfg nor one in the current directory). */
static void ansible_environment(void)
{
	char home[PATH_BUFFER], tmp[PATH_BUFFER], config[PATH_BUFFER];
	snprintf(home, sizeof home, "%s", work_path("home"));
	snprintf(tmp, sizeof tmp, "%s", work_path("ansible-tmp"));
	snprintf(config, sizeof config, "%s", work_path("ansible.cfg"));
	make_dir(home);
	make_dir(tmp);
	write_file(config, "", 0644);
	setenv("HOME", home, 1);
	setenv("ANSIBLE_CONFIG", config, 1);
	setenv("ANSIBLE_LOCAL_TEMP", tmp, 1);
	setenv("ANSIBLE_REMOTE_TEMP", tmp, 1);
	setenv("ANSIBLE_NOCOLOR", "1", 1);
	setenv("ANSIBLE_RETRY_FILES_ENABLED", "0", 1);
	setenv("ANSIBLE_GATHERING", "explicit", 1);
	setenv("ANSIBLE_NOCOWS", "1", 1);
	setenv("PYTHONDONTWRITEBYTECODE", "1", 1);
	unsetenv("ANSIBLE_LOG_PATH");
}

void test_fleet_ansible_rollout(void)
{
	locate();
	if (!find_program("ansible-playbook"))
		SKIP("ansible-playbook is not installed (Debian: ansible-core)");
	ansible_environment();
	struct sup s;
	sup_init(&s);
	snprintf(app_dir, sizeof app_dir, "%s", work_path("app"));

	/* v1 installed as the play leaves a release, by hand: it serves. */
	release("v1", &s, NULL);
	release("v2", &s, NULL);
	release("v3", &s, "#!/bin/sh\necho 'v3: cannot parse its configuration' >&2\nexit 1\n");
	make_dir(app_dir);
	make_dir(app_path("releases"));
	make_dir(app_path("releases/v1"));
	install_httpd(app_path("releases/v1/server"), &s);
	if (symlink("releases/v1", app_path("current")) < 0)
		FAIL("symlink %s: %s", app_path("current"), strerror(errno));
	char target[PATH_BUFFER];
	snprintf(target, sizeof target, "%s", app_path("current/server"));
	sup_start(&s, NULL, (char *[]){ target, NULL }, NULL);
	struct gen g1 = only_generation(&s);
	ASSERT(answers(s.port, g1.pid, 1));

	struct load l;
	struct load_result r;
	/* Requests always in flight, but not as fast as they go: ansible needs
	 * the CPU too (a tight loop made each play take 30 s, not 5, on a busy
	 * machine of 2 cores). */
	load_start(&l, s.port, (char *[]){ "--keepalive", "0", "--fresh", "0", "--slow", "16",
					   "--slow-ms", "10", NULL });

	/* A good release: the play succeeds, generation 2 serves. */
	char output[PATH_BUFFER];
	snprintf(output, sizeof output, "%s", work_path("rollout-v2.log"));
	int code = rollout(&s, "v2", output);
	if (code != 0)
		FAIL("rollout of v2: ansible-playbook exited %d:\n%s\nlog:\n%s", code,
		     file_text(output), file_text(s.log));
	ASSERT(count_in_file(output, "ok generation 2 (pid ") >= 1);
	struct gen g2 = wait_serving(&s, 2);
	ASSERT(answers(s.port, g2.pid, 2));
	expect_current("v2");

	/* A broken one: the play fails and says why; v2 still serves, and
	 * current points at it again. */
	snprintf(output, sizeof output, "%s", work_path("rollout-v3.log"));
	code = rollout(&s, "v3", output);
	if (code == 0 || !count_in_file(output, "exited with status 1 before it was ready") ||
	    !count_in_file(output, "v3 failed on localhost"))
		FAIL("rollout of a broken v3: ansible-playbook exited %d (non-zero and the "
		     "reason expected):\n%s\nlog:\n%s", code, file_text(output),
		     file_text(s.log));
	printf("  broken release stopped the play with exit %d\n", code);
	struct gen after = only_generation(&s);
	ASSERT_EQ(after.number, 2);
	ASSERT_EQ(after.pid, g2.pid);
	ASSERT(answers(s.port, g2.pid, 2));
	expect_current("v2");
	char link[PATH_BUFFER];
	ssize_t n = readlink(app_path("current"), link, sizeof link - 1);
	ASSERT(n > 0);
	link[n] = '\0';
	ASSERT_STR_EQ(link, "releases/v2"); /* put back as it was written */
	ASSERT(count_in_file(s.log, "v3: cannot parse its configuration") >= 1);

	load_stop(&l, &r);
	load_print("rollout of v2, then a broken v3", &r);
	check_no_failures(&r);
	ASSERT_EQ(r.gen_max, 2);
	sup_stop(&s);
}
