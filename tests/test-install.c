/* test-install.c — `make install` as a user of the library meets it: a
 * staged install (DESTDIR), a program built against it with nothing but
 * pkg-config, shared and static, that serves and upgrades itself; then
 * `make uninstall` leaves nothing of ours. */
#include "harness.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* What a user writes: one listener, ready, an answer naming the release
 * and the generation; on DRAIN (or a stop) it stops accepting and finishes
 * the connection it has. One connection at a time keeps it short, and lets
 * the test hold a request open across the handover. */
static const char app_source[] =
	"#define _POSIX_C_SOURCE 200809L\n"
	"#include <handoff.h>\n"
	"#include <fcntl.h>\n"
	"#include <poll.h>\n"
	"#include <stdio.h>\n"
	"#include <string.h>\n"
	"#include <sys/socket.h>\n"
	"#include <unistd.h>\n"
	"\n"
	"int main(int argc, char *argv[])\n"
	"{\n"
	"	struct handoff_config config = { .size = sizeof config,\n"
	"					 .flags = HANDOFF_SIGNALS };\n"
	"	struct handoff *h;\n"
	"	if (argc != 2 || handoff_new(&h, &config, argc, argv) < 0)\n"
	"		return 2;\n"
	"	int lfd = handoff_listen(h, \"web\", argv[1]);\n"
	"	if (lfd < 0 || handoff_ready(h) < 0)\n"
	"		return 3;\n"
	"	/* Shared with the other generation: never block in accept(). */\n"
	"	fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);\n"
	"	unsigned generation = handoff_generation(h);\n"
	"	printf(\"ready version %s generation %u pid %d\\n\", handoff_version(),\n"
	"	       generation, (int)getpid());\n"
	"	fflush(stdout);\n"
	"	int conn = -1, draining = 0;\n"
	"	char request[4096];\n"
	"	size_t got = 0;\n"
	"	while (!draining || conn >= 0) {\n"
	"		struct pollfd p[3] = {\n"
	"			{ .fd = handoff_fd(h), .events = POLLIN },\n"
	"			{ .fd = conn < 0 ? lfd : -1, .events = POLLIN },\n"
	"			{ .fd = conn, .events = POLLIN },\n"
	"		};\n"
	"		if (poll(p, 3, -1) < 0)\n"
	"			continue;\n"
	"		struct handoff_event ev;\n"
	"		while (handoff_next(h, &ev) > 0) {\n"
	"			if (ev.type == HANDOFF_EVENT_STOP_NOW)\n"
	"				return 0;\n"
	"			if (ev.type == HANDOFF_EVENT_DRAIN ||\n"
	"			    ev.type == HANDOFF_EVENT_STOP) {\n"
	"				handoff_close_listeners(h);\n"
	"				lfd = -1;\n"
	"				draining = 1;\n"
	"				printf(\"draining generation %u\\n\", generation);\n"
	"				fflush(stdout);\n"
	"			}\n"
	"		}\n"
	"		if (conn < 0 && lfd >= 0 && (p[1].revents & POLLIN)) {\n"
	"			conn = accept(lfd, NULL, NULL);\n"
	"			got = 0;\n"
	"		} else if (conn >= 0 && p[2].revents) {\n"
	"			ssize_t n = read(conn, request + got, sizeof request - 1 - got);\n"
	"			if (n > 0) {\n"
	"				got += (size_t)n;\n"
	"				request[got] = '\\0';\n"
	"			}\n"
	"			if (n > 0 && !strstr(request, \"\\r\\n\\r\\n\"))\n"
	"				continue;\n"
	"			if (n > 0)\n"
	"				dprintf(conn, \"HTTP/1.0 200 OK\\r\\nConnection: close\\r\\n\\r\\n\"\n"
	"					\"version %s generation %u\\n\", handoff_version(),\n"
	"					generation);\n"
	"			close(conn);\n"
	"			conn = -1;\n"
	"		}\n"
	"	}\n"
	"	handoff_free(h);\n"
	"	return 0;\n"
	"}\n";

static char stage[PATH_BUFFER];   /* DESTDIR */
static char version[32];          /* "0.9.0", from the header's macros */

static char *staged(const char *relative) /* stage + /usr/... */
{
	return path_join(stage, relative);
}

/* Runs a shell command line (ours: no outside text in it) to its end,
 * failing with what it printed unless it exits 0. */
static void sh(const char *what, const char *command, int timeout_ms)
{
	char *log = strdup(work_path("command.log"));
	char *argv[] = { "sh", "-c", (char *)command, NULL };
	int status = run_command(argv, log, log, timeout_ms);
	if (status != 0)
		FAIL("%s: `%s` exited %d:\n%s", what, command, status, file_text(log));
	free(log);
}

/* The DT_NEEDED entries of an ELF file, space-separated into out ("" for
 * none, as in a -static binary: no dynamic section at all). */
static void needed(const char *path, char *out, size_t size)
{
	out[0] = '\0';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		FAIL("%s: %s", path, strerror(errno));
	size_t length = (size_t)st.st_size;
	const unsigned char *data = mmap(NULL, length, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (data == MAP_FAILED || length < sizeof(Elf64_Ehdr) ||
	    memcmp(data, ELFMAG, SELFMAG) != 0 || data[EI_CLASS] != ELFCLASS64)
		FAIL("%s is not a 64-bit ELF file", path);
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)data;
	if (eh->e_shoff + (size_t)eh->e_shnum * sizeof(Elf64_Shdr) > length)
		FAIL("%s: section headers out of bounds", path);
	const Elf64_Shdr *sh = (const Elf64_Shdr *)(data + eh->e_shoff);
	for (unsigned i = 0; i < eh->e_shnum; i++) {
		if (sh[i].sh_type != SHT_DYNAMIC)
			continue;
		const Elf64_Shdr *strings = &sh[sh[i].sh_link];
		const Elf64_Dyn *d = (const Elf64_Dyn *)(data + sh[i].sh_offset);
		for (size_t j = 0; j < sh[i].sh_size / sizeof *d && d[j].d_tag != DT_NULL; j++)
			if (d[j].d_tag == DT_NEEDED && d[j].d_un.d_val < strings->sh_size)
				snprintf(out + strlen(out), size - strlen(out), "%s ",
					 (const char *)data + strings->sh_offset + d[j].d_un.d_val);
	}
	munmap((void *)data, length);
}

/* What pid has mapped from files named like needle, one per line. */
static void mappings(pid_t pid, const char *needle, char *out, size_t size)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
	char *maps = read_file(path);
	if (!maps)
		FAIL("no %s: the server is gone", path);
	out[0] = '\0';
	for (char *line = strtok(maps, "\n"); line; line = strtok(NULL, "\n")) {
		char *file = strchr(line, '/');
		if (file && strstr(file, needle) && !strstr(out, file))
			snprintf(out + strlen(out), size - strlen(out), "%s\n", file);
	}
	free(maps);
}

static pid_t pid_of_generation(const char *log, unsigned generation)
{
	char needle[96];
	snprintf(needle, sizeof needle, "ready version %s generation %u pid ",
		 version, generation);
	if (!wait_file_contains(log, needle, 1, 10000))
		FAIL("no generation %u in %s:\n%s", generation, log, file_text(log));
	char *text = read_file(log);
	pid_t pid = (pid_t)atoi(strstr(text, needle) + strlen(needle));
	free(text);
	return pid;
}

/* The program loaded the staged libhandoff.so.1 (shared) or no libhandoff
 * at all (static). */
static void check_library(pid_t pid, int shared)
{
	char maps[2048], want[PATH_BUFFER + 2];
	mappings(pid, "libhandoff", maps, sizeof maps);
	snprintf(want, sizeof want, "%s\n", staged("usr/lib/libhandoff.so.1"));
	if (shared && strcmp(maps, want) != 0)
		FAIL("pid %d should have mapped only the staged library, %s"
		     "it has:\n%s", (int)pid, want, maps[0] ? maps : "(no libhandoff)\n");
	if (!shared && maps[0])
		FAIL("the static program %d mapped a libhandoff:\n%s", (int)pid, maps);
}

/* Starts program, asks it, then SIGHUPs it while a request is half sent:
 * the new generation serves, the old one answers that request during its
 * drain and exits 0; then the new one stops on SIGTERM. */
static void serve_and_upgrade(const char *program, int shared)
{
	char log[PATH_BUFFER], library_path[PATH_BUFFER + 32];
	snprintf(log, sizeof log, "%s.log", program);
	snprintf(library_path, sizeof library_path, "LD_LIBRARY_PATH=%s",
		 staged("usr/lib"));
	char *env[] = { library_path, NULL };
	int port = free_port();
	char address[64];
	snprintf(address, sizeof address, "127.0.0.1:%d", port);
	char *argv[] = { (char *)program, address, NULL };
	struct spawn_options options = { .output = log, .env = shared ? env : NULL };
	pid_t first = spawn(argv, &options);
	ASSERT_EQ(pid_of_generation(log, 1), first);
	check_library(first, shared);

	char body[512], want[96];
	snprintf(want, sizeof want, "version %s generation 1", version);
	if (!wait_http_body("127.0.0.1", port, "/", want, body, sizeof body, 10000))
		FAIL("%s: wanted \"%s\", got \"%s\"\n%s", program, want, body,
		     file_text(log));

	/* A request begun before the upgrade, finished after it. */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ASSERT(fd >= 0);
	ASSERT_EQ(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	const char *head = "GET / HTTP/1.0\r\n";
	ASSERT_EQ(write(fd, head, strlen(head)), (long)strlen(head));
	if (!wait_request_taken(first, fd, 10000))
		FAIL("%d never read the start of the request", (int)first);

	ASSERT_EQ(kill(first, SIGHUP), 0);
	pid_t second = pid_of_generation(log, 2);
	snprintf(want, sizeof want, "version %s generation 2", version);
	if (!wait_http_body("127.0.0.1", port, "/", want, body, sizeof body, 10000))
		FAIL("after SIGHUP: wanted \"%s\", got \"%s\"\n%s", want, body,
		     file_text(log));
	if (!wait_file_contains(log, "draining generation 1", 1, 10000))
		FAIL("generation 1 was never told to drain:\n%s", file_text(log));
	ASSERT_EQ(kill(first, 0), 0); /* still there, for our request */

	ASSERT_EQ(write(fd, "\r\n", 2), 2);
	int code = http_answer(fd, body, sizeof body, 10000);
	snprintf(want, sizeof want, "version %s generation 1", version);
	if (code != 200 || !strstr(body, want))
		FAIL("the request held across the upgrade: %d \"%s\", wanted \"%s\"\n%s",
		     code, body, want, file_text(log));
	int status;
	if (!wait_exit(first, 10000, &status))
		FAIL("generation 1 (%d) did not exit after its drain:\n%s", (int)first,
		     file_text(log));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		FAIL("generation 1 ended with wait status %#x:\n%s", status, file_text(log));

	/* The successor, exec'd by the library, found the same library. */
	check_library(second, shared);
	ASSERT_EQ(kill(second, SIGTERM), 0);
	if (!wait_gone(second, 10000, &status))
		FAIL("generation 2 (%d) did not stop:\n%s", (int)second, file_text(log));
	if (status != -1 && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
		FAIL("generation 2 ended with wait status %#x:\n%s", status, file_text(log));
}

static char leftovers[2048];

static int note_file(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type != FTW_D && type != FTW_DP)
		snprintf(leftovers + strlen(leftovers), sizeof leftovers - strlen(leftovers),
			 "%s\n", path);
	return 0;
}

void test_install_staged_builds_with_pkg_config(void)
{
	/* What a user has; the compiler is the suite's (make exports CC). */
	const char *cc = getenv("CC") && *getenv("CC") ? getenv("CC") : "cc";
	char cc_name[64];
	snprintf(cc_name, sizeof cc_name, "%.*s", (int)strcspn(cc, " "), cc);
	if (!find_program(cc_name))
		SKIP("no C compiler (%s)", cc_name);
	const char *pkg_config = find_program("pkg-config") ? "pkg-config"
				 : find_program("pkgconf") ? "pkgconf" : NULL;
	if (!pkg_config)
		SKIP("neither pkg-config nor pkgconf is installed");
	if (!find_program("make"))
		SKIP("no make");
	snprintf(version, sizeof version, "%d.%d.%d", HANDOFF_VERSION_MAJOR,
		 HANDOFF_VERSION_MINOR, HANDOFF_VERSION_PATCH);
	snprintf(stage, sizeof stage, "%s", work_path("stage"));
	char root[PATH_BUFFER];
	snprintf(root, sizeof root, "%s", source_path("."));

	/* Installed from the plain tree whichever runner we are (the sanitized
	 * build is never installed), built there first if it has to be. A make
	 * above us (make test) must not lend us its jobserver's descriptors. */
	unsetenv("MAKEFLAGS");
	unsetenv("MFLAGS");
	unsetenv("MAKELEVEL");
	char command[4 * PATH_BUFFER];
	snprintf(command, sizeof command,
		 "make -s -j2 -C '%s' install DESTDIR='%s' PREFIX=/usr", root, stage);
	sh("make install", command, 240000);

	/* What a package holds, and nothing private. */
	struct stat st;
	const char *files[] = { "usr/bin/handoff", "usr/lib/libhandoff.so.1",
				"usr/lib/libhandoff.a", "usr/include/handoff.h",
				"usr/lib/pkgconfig/handoff.pc" };
	for (size_t i = 0; i < sizeof files / sizeof *files; i++)
		if (lstat(staged(files[i]), &st) < 0 || !S_ISREG(st.st_mode))
			FAIL("%s is not installed as a file", files[i]);
	char link[64] = "";
	if (readlink(staged("usr/lib/libhandoff.so"), link, sizeof link - 1) < 0)
		FAIL("usr/lib/libhandoff.so: %s", strerror(errno));
	ASSERT_STR_EQ(link, "libhandoff.so.1");
	leftovers[0] = '\0';
	nftw(stage, note_file, 16, FTW_PHYS);
	if (strstr(leftovers, "libhandoff-base"))
		FAIL("the private base library was installed:\n%s", leftovers);

	char *out = strdup(work_path("out.txt"));
	char *argv[] = { staged("usr/bin/handoff"), "--version", NULL };
	ASSERT_EQ(run_command(argv, out, NULL, 10000), 0);
	char want[64];
	snprintf(want, sizeof want, "handoff %s\n", version);
	char *text = read_file(out);
	ASSERT_STR_EQ(text, want);
	free(text);

	/* pkg-config sees only the stage (LIBDIR, not PATH: an installed
	 * handoff.pc of the machine's must not answer), its paths under it. */
	setenv("PKG_CONFIG_LIBDIR", staged("usr/lib/pkgconfig"), 1);
	unsetenv("PKG_CONFIG_PATH");
	setenv("PKG_CONFIG_SYSROOT_DIR", stage, 1);
	snprintf(command, sizeof command, "%s --modversion handoff > '%s'", pkg_config, out);
	sh("pkg-config", command, 10000);
	snprintf(want, sizeof want, "%s\n", version);
	text = read_file(out);
	ASSERT_STR_EQ(text, want);
	free(text);

	/* The header as a user's -Wall -Wextra -pedantic build sees it. */
	write_file(work_path("app.c"), app_source, 0644);
	char shared[PATH_BUFFER], fixed[PATH_BUFFER];
	snprintf(shared, sizeof shared, "%s", work_path("app-shared"));
	snprintf(fixed, sizeof fixed, "%s", work_path("app-static"));
	const char *warnings = "-std=c17 -Wall -Wextra -pedantic -Werror";
	snprintf(command, sizeof command,
		 "%s %s '%s' $(%s --cflags --libs handoff) -o '%s'", cc, warnings,
		 work_path("app.c"), pkg_config, shared);
	sh("building against libhandoff.so", command, 60000);
	snprintf(command, sizeof command,
		 "%s %s -static '%s' $(%s --static --cflags --libs handoff) -o '%s'", cc,
		 warnings, work_path("app.c"), pkg_config, fixed);
	sh("building against libhandoff.a", command, 60000);

	char deps[1024];
	needed(shared, deps, sizeof deps);
	if (!strstr(deps, "libhandoff.so.1 "))
		FAIL("app-shared does not need libhandoff.so.1: %s", deps);
	needed(fixed, deps, sizeof deps);
	if (strstr(deps, "libhandoff"))
		FAIL("app-static needs %s", deps);

	serve_and_upgrade(shared, 1);
	serve_and_upgrade(fixed, 0);

	/* Uninstalled: directories may stay, no file of ours. */
	snprintf(command, sizeof command,
		 "make -s -C '%s' uninstall DESTDIR='%s' PREFIX=/usr", root, stage);
	sh("make uninstall", command, 60000);
	leftovers[0] = '\0';
	nftw(stage, note_file, 16, FTW_PHYS);
	if (leftovers[0])
		FAIL("make uninstall left:\n%s", leftovers);
	free(out);
}
