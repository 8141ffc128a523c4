/* test-docs.c — the documentation people look for stays true: the man pages
 * are clean for mandoc, name every public function and every option
 * `handoff COMMAND --help` prints (and nothing else), install with a link
 * per function, and bash completes the commands, options and values.
 *
 * The pages are read from man/ in the source tree, the options from the
 * built `handoff`, the functions from include/handoff.h: so adding an
 * option or a function without documenting it fails here. */
#include "supervisor-kit.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { NAMES_MAX = 128, NAME_MAX_LENGTH = 64 };

/* A small set of words. */
struct names {
	int count;
	char name[NAMES_MAX][NAME_MAX_LENGTH];
};

static int names_has(const struct names *n, const char *name)
{
	for (int i = 0; i < n->count; i++)
		if (strcmp(n->name[i], name) == 0)
			return 1;
	return 0;
}

/* Adds the word of the given length at text (once). */
static void names_add(struct names *n, const char *text, size_t length)
{
	char word[NAME_MAX_LENGTH];
	if (length == 0 || length >= sizeof word)
		FAIL("a name of %zu characters: %.40s", length, text);
	memcpy(word, text, length);
	word[length] = '\0';
	if (names_has(n, word))
		return;
	if (n->count == NAMES_MAX)
		FAIL("more than %d names", NAMES_MAX);
	strcpy(n->name[n->count++], word);
}

static void names_print(const char *label, const struct names *n)
{
	printf("  %s (%d):", label, n->count);
	for (int i = 0; i < n->count; i++)
		printf(" %s", n->name[i]);
	putchar('\n');
}

static int is_name_char(int c)
{
	return isalnum(c) || c == '_';
}

/* The pages in man/ whose name ends with suffix (".1", ".3", or "" for all),
 * as full paths, sorted by readdir order (what matters is that none is
 * missed). Returns how many. */
static int man_pages(char paths[][PATH_BUFFER], int max, const char *suffix)
{
	char dir[PATH_BUFFER];
	snprintf(dir, sizeof dir, "%s", source_path("man"));
	DIR *d = opendir(dir);
	if (!d)
		FAIL("opendir %s: %s", dir, strerror(errno));
	int count = 0;
	for (struct dirent *e; (e = readdir(d));) {
		size_t length = strlen(e->d_name);
		const char *dot = strrchr(e->d_name, '.');
		/* A page is NAME.SECTION with a section digit. */
		if (!dot || dot == e->d_name || length - (size_t)(dot - e->d_name) != 2 ||
		    !isdigit((unsigned char)dot[1]))
			continue;
		if (*suffix && strcmp(dot, suffix) != 0)
			continue;
		if (count == max)
			FAIL("more than %d pages in %s", max, dir);
		if (snprintf(paths[count++], PATH_BUFFER, "%s/%s", dir, e->d_name) >= PATH_BUFFER)
			FAIL("path too long: %s/%s", dir, e->d_name);
	}
	closedir(d);
	return count;
}

static char *must_read(const char *path)
{
	char *text = read_file(path);
	if (!text)
		FAIL("cannot read %s", path);
	return text;
}

/* ------------------------------------------------------ mandoc */

static const char *need_mandoc(void)
{
	const char *mandoc = find_program("mandoc");
	if (!mandoc)
		SKIP("mandoc is not installed (Debian: mandoc; see .ci/run)");
	return mandoc;
}

/* `mandoc -T lint -W warning` on every page: any warning or error fails,
 * with mandoc's own words (file:line:column: WARNING: what). */
void test_docs_man_pages_lint(void)
{
	char mandoc[PATH_BUFFER];
	snprintf(mandoc, sizeof mandoc, "%s", need_mandoc());
	static char pages[64][PATH_BUFFER];
	int count = man_pages(pages, 64, "");
	int bad = 0, sections[10] = { 0 };
	for (int i = 0; i < count; i++) {
		char *argv[] = { mandoc, "-T", "lint", "-W", "warning", pages[i], NULL };
		char out[PATH_BUFFER];
		snprintf(out, sizeof out, "%s", work_path("lint.out"));
		int code = run_command(argv, out, out, 30000);
		char *said_text = must_read(out);
		if (code != 0 || said_text[0]) {
			printf("  %s: mandoc exited %d:\n%s", pages[i], code, said_text);
			bad++;
		}
		free(said_text);
		sections[pages[i][strlen(pages[i]) - 1] - '0']++;
	}
	printf("  %d pages linted: %d in section 1, %d in section 3\n", count,
	       sections[1], sections[3]);
	if (bad)
		FAIL("%d of %d pages are not clean for mandoc -T lint -W warning", bad, count);
	/* The pages were there at all. */
	ASSERT(sections[1] >= 1 && sections[3] >= 2);
}

/* ------------------------------------------------------ the API */

/* The functions include/handoff.h marks HANDOFF_EXPORT: the line after the
 * marker declares one, named by the identifier before its '('. */
static void exported_functions(struct names *n)
{
	char *header = must_read(source_path("include/handoff.h"));
	for (char *line = header; line && *line;) {
		char *end = strchr(line, '\n');
		char *next = end ? end + 1 : NULL;
		if (end && (size_t)(end - line) == strlen("HANDOFF_EXPORT") &&
		    strncmp(line, "HANDOFF_EXPORT", (size_t)(end - line)) == 0) {
			char *paren = next ? strchr(next, '(') : NULL;
			char *name = paren;
			while (name && name > next && is_name_char((unsigned char)name[-1]))
				name--;
			if (!paren || name == paren)
				FAIL("include/handoff.h: no function after HANDOFF_EXPORT: %.60s",
				     next ? next : "(end)");
			names_add(n, name, (size_t)(paren - name));
		}
		line = next;
	}
	free(header);
}

/* In page: the names of its NAME section (.Nm lines before .Nd) into nm,
 * the functions of its SYNOPSIS (.Fn and .Fo) into fn. */
static void page_names(const char *page, struct names *nm, struct names *fn)
{
	char *text = must_read(page);
	int in_name = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (strncmp(line, ".Sh ", 4) == 0)
			in_name = strcmp(line, ".Sh NAME") == 0;
		else if (strncmp(line, ".Nd", 3) == 0)
			in_name = 0;
		int is_nm = strncmp(line, ".Nm ", 4) == 0 && in_name;
		int is_fn = strncmp(line, ".Fn ", 4) == 0 || strncmp(line, ".Fo ", 4) == 0;
		if (!is_nm && !is_fn)
			continue;
		const char *word = line + 4;
		size_t length = 0;
		while (is_name_char((unsigned char)word[length]))
			length++;
		if (length)
			names_add(is_nm ? nm : fn, word, length);
	}
	free(text);
}

/* Every exported function has a page that names it (.Nm, so that
 * install-man links `man NAME` to it) and declares it (.Fn or .Fo in the
 * SYNOPSIS); and no page names a function that does not exist. */
void test_docs_man_pages_cover_the_api(void)
{
	static struct names exported, nm, fn;
	exported_functions(&exported);
	static char pages[64][PATH_BUFFER];
	int count = man_pages(pages, 64, ".3");
	for (int i = 0; i < count; i++)
		page_names(pages[i], &nm, &fn);
	names_print("exported by include/handoff.h", &exported);
	/* The header was read at all. */
	ASSERT(exported.count >= 20);
	int missing = 0;
	for (int i = 0; i < exported.count; i++) {
		const char *name = exported.name[i];
		if (!names_has(&nm, name) || !names_has(&fn, name)) {
			printf("  %s: %s\n", name,
			       !names_has(&nm, name) && !names_has(&fn, name)
				       ? "in no page"
			       : !names_has(&nm, name) ? "declared (.Fn/.Fo) but in no NAME section (.Nm)"
						       : "in a NAME section (.Nm) but not declared (.Fn/.Fo)");
			missing++;
		}
	}
	int stale = 0;
	for (int i = 0; i < nm.count; i++)
		if (strcmp(nm.name[i], "libhandoff") != 0 && !names_has(&exported, nm.name[i])) {
			printf("  %s: named by a page (.Nm) but not exported by "
			       "include/handoff.h\n", nm.name[i]);
			stale++;
		}
	if (missing || stale) {
		names_print("named by man/*.3 (.Nm)", &nm);
		names_print("declared by man/*.3 (.Fn/.Fo)", &fn);
		FAIL("%d exported functions undocumented, %d documented names not exported",
		     missing, stale);
	}
	printf("  every one has a page (%d pages)\n", count);
}

/* ------------------------------------------------------ options */

/* The long options ("--word") in text, and "-l". */
static void options_in(const char *text, struct names *n)
{
	for (const char *p = text; (p = strstr(p, "-")); p++) {
		if (p > text && (isalnum((unsigned char)p[-1]) || p[-1] == '-'))
			continue; /* inside a word ("on-failure") or an option */
		int dashes = p[1] == '-' ? 2 : 1;
		const char *word = p + dashes;
		size_t length = 0;
		while (isalnum((unsigned char)word[length]) || word[length] == '-')
			length++;
		/* "--" alone ends the options; short options other than -l and
		 * -h are not options of ours ("-c" of sh in a sentence). */
		if (length == 0 || !islower((unsigned char)word[0]) ||
		    (dashes == 1 && (length != 1 || !strchr("lh", word[0]))))
			continue;
		names_add(n, p, (size_t)dashes + length);
	}
}

/* The options a usage text declares: those on its option lines (a line
 * that starts with '-' after its indent), before the description (which
 * starts after two spaces). Prose may name other commands' options ("their
 * own --drain-timeout"), which are not this command's. */
static void declared_options(const char *text, struct names *n)
{
	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t length = end ? (size_t)(end - line) : strlen(line);
		const char *p = line;
		while (p < line + length && *p == ' ')
			p++;
		if (*p == '-') {
			const char *gap = strstr(p, "  ");
			size_t part = gap && gap < line + length ? (size_t)(gap - p)
								 : (size_t)(line + length - p);
			char segment[256];
			snprintf(segment, sizeof segment, "%.*s", (int)part, p);
			options_in(segment, n);
		}
		line = end ? end + 1 : NULL;
	}
}

/* What `handoff ARGS --help` prints: its options into n. */
static void help_options(char *const args[], struct names *n)
{
	int code = handoff(args);
	if (code != 0 || !strstr(said.out, "usage: handoff"))
		FAIL("handoff %s %s: exit %d\nstdout: %s\nstderr: %s", args[0],
		     args[1] ? args[1] : "", code, said.out, said.err);
	options_in(said.out, n);
}

/* The options of every command, as --help prints them. */
static void every_option(struct names *n, struct names *run)
{
	static char *const asks[][3] = {
		{ "--help" }, { "reload", "--help" }, { "stop", "--help" },
		{ "status", "--help" },
	};
	/* Every command takes -h and --help (main.c, options.c, client.c),
	 * whether or not its usage says so. */
	names_add(n, "-h", 2);
	names_add(n, "--help", 6);
	help_options((char *[]){ "run", "--help", NULL }, run);
	for (int i = 0; i < run->count; i++)
		names_add(n, run->name[i], strlen(run->name[i]));
	for (size_t i = 0; i < sizeof asks / sizeof *asks; i++)
		help_options(asks[i], n);
}

/* Every option `handoff COMMAND --help` prints is in handoff(1) (as
 * ".Fl \-name"), and handoff(1) documents no option that none prints. */
void test_docs_man_page_lists_every_option(void)
{
	locate();
	static struct names help, run, page;
	every_option(&help, &run);
	names_print("handoff run --help", &run);
	names_print("every --help", &help);
	ASSERT(names_has(&run, "--listen") && names_has(&run, "--stable-after"));

	/* The page's options: what follows each "Fl" (mdoc's flag macro,
	 * which prints a '-' before its argument), "\-" unescaped. */
	char *text = must_read(source_path("man/handoff.1"));
	char *w = text;
	for (const char *r = text; *r; r++)
		if (!(r[0] == '\\' && r[1] == '-'))
			*w++ = *r;
	*w = '\0';
	for (const char *p = text; (p = strstr(p, "Fl ")); p += 3) {
		if (p > text && !isspace((unsigned char)p[-1]) && p[-1] != '.')
			continue; /* "Fl" inside a word */
		char option[NAME_MAX_LENGTH + 1] = "-";
		size_t length = 0;
		while (length < NAME_MAX_LENGTH - 1 &&
		       (isalnum((unsigned char)p[3 + length]) || p[3 + length] == '-'))
			length++;
		memcpy(option + 1, p + 3, length);
		option[1 + length] = '\0';
		/* "Fl" alone (a bare '-') and "Fl -" ("--" before the command). */
		if (length > 0 && strcmp(option, "--") != 0)
			names_add(&page, option, strlen(option));
	}
	free(text);
	names_print("handoff.1", &page);
	int bad = 0;
	for (int i = 0; i < help.count; i++)
		if (!names_has(&page, help.name[i])) {
			printf("  %s: printed by --help, not in man/handoff.1\n", help.name[i]);
			bad++;
		}
	for (int i = 0; i < page.count; i++)
		if (!names_has(&help, page.name[i])) {
			printf("  %s: in man/handoff.1, printed by no --help\n", page.name[i]);
			bad++;
		}
	if (bad)
		FAIL("man/handoff.1 and the --help texts disagree on %d options", bad);
}

/* ------------------------------------------------------ install-man */

static int is_link_to(const char *path, const char *target)
{
	char buf[PATH_BUFFER];
	ssize_t n = readlink(path, buf, sizeof buf - 1);
	if (n < 0)
		return 0;
	buf[n] = '\0';
	return strcmp(buf, target) == 0;
}

/* Counts the entries (files and links) under dir, recursively. */
static int count_files(const char *dir)
{
	DIR *d = opendir(dir);
	int count = 0;
	for (struct dirent *e; d && (e = readdir(d));) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		char path[PATH_BUFFER];
		struct stat st;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
			count += count_files(path);
		else
			count++;
	}
	if (d)
		closedir(d);
	return count;
}

static void run_make(const char *target, const char *dest)
{
	char make[PATH_BUFFER], root[PATH_BUFFER], destdir[PATH_BUFFER + 16];
	snprintf(make, sizeof make, "%s", find_program("make"));
	snprintf(root, sizeof root, "%s", source_path(""));
	snprintf(destdir, sizeof destdir, "DESTDIR=%s", dest);
	char *argv[] = { make, "-s", "-C", root, (char *)target, destdir, "PREFIX=/usr", NULL };
	char out[PATH_BUFFER];
	snprintf(out, sizeof out, "%s", work_path("make.out"));
	int code = run_command(argv, out, out, 60000);
	if (code != 0)
		FAIL("make %s %s exited %d:\n%s", target, destdir, code, file_text(out));
}

/* make install-man puts every page in place and a link named after every
 * exported function; uninstall-man (and -completion) take all of it away. */
void test_docs_install_man(void)
{
	if (!find_program("make"))
		SKIP("make is not installed");
	/* Not the make that may be running the suite: its jobserver is not
	 * ours to use. */
	unsetenv("MAKEFLAGS");
	unsetenv("MFLAGS");
	unsetenv("MAKELEVEL");
	char dest[PATH_BUFFER];
	snprintf(dest, sizeof dest, "%s", work_path("dest"));
	run_make("install-man", dest);
	run_make("install-completion", dest);

	static struct names exported;
	exported_functions(&exported);
	int bad = 0;
	char man3[PATH_BUFFER];
	if (snprintf(man3, sizeof man3, "%s/usr/share/man/man3", dest) >= (int)sizeof man3)
		FAIL("path too long: %s", dest);
	for (int i = 0; i < exported.count; i++) {
		char path[PATH_BUFFER * 2];
		snprintf(path, sizeof path, "%s/%s.3", man3, exported.name[i]);
		struct stat st;
		/* A page of its own, or a link to the page that names it. */
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
			printf("  %s: no page or dangling link\n", path);
			bad++;
			continue;
		}
		char *text = must_read(path);
		char want[NAME_MAX_LENGTH + 8];
		snprintf(want, sizeof want, ".Nm %s", exported.name[i]);
		if (!strstr(text, want)) {
			printf("  %s: leads to a page without \"%s\"\n", path, want);
			bad++;
		}
		free(text);
	}
	char link[PATH_BUFFER * 2];
	snprintf(link, sizeof link, "%s/handoff_free.3", man3);
	ASSERT(is_link_to(link, "handoff_new.3"));
	char path[PATH_BUFFER * 2];
	snprintf(path, sizeof path, "%s/usr/share/man/man1/handoff.1", dest);
	ASSERT(access(path, R_OK) == 0);
	snprintf(path, sizeof path, "%s/usr/share/bash-completion/completions/handoff", dest);
	ASSERT(access(path, R_OK) == 0);
	if (bad)
		FAIL("%d exported functions have no installed page", bad);
	printf("  installed: %d entries under DESTDIR\n", count_files(dest));

	run_make("uninstall-man", dest);
	run_make("uninstall-completion", dest);
	int left = count_files(dest);
	if (left)
		FAIL("uninstall-man and uninstall-completion left %d files under %s",
		     left, dest);
}

/* ------------------------------------------------------ bash completion */

/* Sources the completion in bash, completes each line of `cases` ("WORDS"
 * with the word being completed last, possibly empty), and checks what
 * bash offers; the options offered after "-" are checked against --help. */
void test_docs_bash_completion(void)
{
	locate();
	char bash[PATH_BUFFER];
	if (!find_program("bash"))
		SKIP("bash is not installed");
	snprintf(bash, sizeof bash, "%s", find_program("bash"));

	static const struct {
		const char *words; /* handoff ... */
		const char *want;  /* COMPREPLY, sorted, space-separated */
	} cases[] = {
		{ "handoff r", "reload run" },
		{ "handoff st", "status stop" },
		{ "handoff --v", "--version" },
		{ "handoff help re", "reload" },
		{ "handoff run --rest", "--restart" },
		{ "handoff run --restart ''", "always never on-failure" },
		{ "handoff run --restart = on", "on-failure" },
		{ "handoff run --ready ''", "delay: exec: listen notify" },
		{ "handoff run --stop-signal US", "USR1 USR2" },
		{ "handoff run --no", "--no-adopt" },
		{ "handoff run --log fil", "file-a file-b" },
		{ "handoff run --chdir fil", "" }, /* files are not directories */
		{ "handoff run --chdir di", "dir" },
		{ "handoff run -l 127.0.0.1:1 -- ./fil", "./file-a ./file-b" },
		{ "handoff run -l 127.0.0.1:1 -- prog fil", "file-a file-b" },
		{ "handoff run -l 127.0.0.1:1 -- prog --rest", "" },
		{ "handoff status --j", "--json" },
		{ "handoff stop --j", "" },
		{ "handoff reload --pidfile fil", "file-a file-b" },
	};
	/* Something to complete file names against, in the test's directory
	 * (the current one). */
	write_file(work_path("file-a"), "", 0644);
	write_file(work_path("file-b"), "", 0644);
	if (mkdir(work_path("dir"), 0755) < 0)
		FAIL("mkdir: %s", strerror(errno));

	/* One bash for every case: `c WORDS...` prints the sorted reply. */
	char script[16384];
	int n = snprintf(script, sizeof script,
			 "set -u\n"
			 ". '%s' || exit 3\n"
			 "c() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1));\n"
			 "  COMP_LINE=\"$*\"; COMP_POINT=${#COMP_LINE}; COMPREPLY=()\n"
			 "  _handoff 2>/dev/null\n"
			 "  printf '%%s\\n' \"${COMPREPLY[@]}\" | sort | tr '\\n' ' '\n"
			 "  echo; }\n",
			 source_path("contrib/bash-completion/handoff"));
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
		n += snprintf(script + n, sizeof script - (size_t)n, "c %s\n",
			      cases[i].words);
	n += snprintf(script + n, sizeof script - (size_t)n,
		      "c handoff run -\nc handoff reload -\nc handoff stop -\n"
		      "c handoff status -\n");
	ASSERT((size_t)n < sizeof script);
	write_file(work_path("complete.sh"), script, 0644);

	char *argv[] = { bash, "--norc", "--noprofile", work_path("complete.sh"), NULL };
	char out[PATH_BUFFER], err[PATH_BUFFER];
	snprintf(out, sizeof out, "%s", work_path("complete.out"));
	snprintf(err, sizeof err, "%s", work_path("complete.err"));
	int code = run_command(argv, out, err, 30000);
	char *text = must_read(out);
	if (code != 0)
		FAIL("bash exited %d\nstdout:\n%s\nstderr:\n%s", code, text, file_text(err));

	int bad = 0;
	char *line = text;
	size_t i;
	for (i = 0; i < sizeof cases / sizeof *cases && line && *line; i++) {
		char *end = strchr(line, '\n');
		if (end)
			*end = '\0';
		char got[1024];
		snprintf(got, sizeof got, "%s", line);
		size_t length = strlen(got);
		if (length && got[length - 1] == ' ')
			got[length - 1] = '\0';
		int ok = strcmp(got, cases[i].want) == 0;
		printf("  %s %s -> [%s]%s%s%s\n", ok ? "ok" : "NOT OK", cases[i].words, got,
		       ok ? "" : " (expected [", ok ? "" : cases[i].want, ok ? "" : "])");
		bad += !ok;
		line = end ? end + 1 : NULL;
	}
	if (i < sizeof cases / sizeof *cases)
		FAIL("bash printed %zu answers for %zu cases:\n%s\nstderr:\n%s", i,
		     sizeof cases / sizeof *cases, text, file_text(err));

	/* The options offered after "-", command by command, are those of the
	 * command's --help (plus "--", which ends run's options). */
	static char *const commands[] = { "run", "reload", "stop", "status" };
	for (size_t c = 0; c < 4 && line; c++) {
		char *end = strchr(line, '\n');
		if (end)
			*end = '\0';
		static struct names offered, help;
		offered.count = help.count = 0;
		options_in(line, &offered);
		names_add(&help, "--help", 6); /* taken by all, printed by none */
		char *args[] = { commands[c], "--help", NULL };
		if (handoff(args) != 0)
			FAIL("handoff %s --help: %s", commands[c], said.err);
		declared_options(said.out, &help);
		for (int k = 0; k < help.count; k++)
			if (!names_has(&offered, help.name[k])) {
				printf("  handoff %s %s: printed by --help, not completed\n",
				       commands[c], help.name[k]);
				bad++;
			}
		for (int k = 0; k < offered.count; k++)
			if (!names_has(&help, offered.name[k])) {
				printf("  handoff %s %s: completed, printed by no --help\n",
				       commands[c], offered.name[k]);
				bad++;
			}
		line = end ? end + 1 : NULL;
	}
	free(text);
	if (bad)
		FAIL("%d completions are not what was expected", bad);
}
