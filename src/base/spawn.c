/* spawn.c — start a program with chosen descriptors at 3, 4, ...
 *
 * The child is made with vfork(): it borrows the parent's memory instead of
 * copying its page tables, so that starting a successor costs the same for
 * a server holding 8 GB as for one holding 1 MB, and the parent's loop
 * stands still only while the child runs up to exec (fork() copies every
 * page-table entry first, in the parent, with the parent's memory map
 * locked: tens of milliseconds per GB; see docs/benchmarks.md).
 *
 * Why vfork() and not clone(CLONE_VM | CLONE_VFORK) on a stack of our own:
 * the two are the same system call, but vfork() runs the child on the
 * parent's stack below the frame that called it, so there is no stack to
 * size (child_setup is the caller's code) or to free, and the sanitizers
 * know it: AddressSanitizer intercepts vfork(), while a child on a stack it
 * has never seen makes it warn at every noreturn call ("ASan is ignoring
 * requested __asan_handle_no_return") and risks false reports.
 *
 * Whether exec worked is learned through a close-on-exec pipe: a successful
 * exec closes it (EOF); a failure writes errno and the step into it.
 *
 * What the child may do, between vfork and exec — it runs in the parent's
 * memory, on the parent's stack, with the parent's thread pointer (TLS):
 *  - async-signal-safe calls only, and no malloc and no locks: another
 *    thread of the parent may hold them, and what the child changed there
 *    would stay changed for the parent;
 *  - nothing the parent reads is written, except through the pipe. The
 *    exceptions, each harmless because the parent is suspended until the
 *    exec (CLONE_VFORK) and does not read them after: LISTEN_PID in the
 *    environment buffer (both callers free it unread, and each child
 *    writes its own pid before its own exec), the scratch array (freed
 *    unread), and errno, which is the parent thread's: ho_spawn() saves
 *    and restores it;
 *  - no library call that acts on "the current thread" through TLS: glibc
 *    would act on the parent's thread. That rules out setuid(), setgid()
 *    and setgroups() (in a threaded process glibc signals every thread of
 *    the parent to change their credentials too) and raise(): their raw
 *    system calls are used instead;
 *  - signals: all are blocked across vfork, so no handler of the parent
 *    runs in the child on the parent's memory; the child's dispositions are
 *    its own (no CLONE_SIGHAND), so it resets them to the default before
 *    unblocking without touching the parent's;
 *  - descriptors, the directory and the umask are the child's own (no
 *    CLONE_FILES, no CLONE_FS): closing, dup2(), chdir() and umask() in the
 *    child leave the parent's alone.
 * The same child code also runs after fork() (ho_spawn_use_fork(), for the
 * benchmark's comparison), where all of this is merely unneeded.
 *
 * The child is made on the parent's CPU. The kernel places a new task on
 * the CPU that looks idlest, and counts the parent, running as it forks,
 * at the load it had when it last slept: a server that has just been busy
 * (serving, or filling its caches) sends the child to another CPU. There
 * the child waits for a sleeping CPU to wake, or behind whatever runs
 * there, while the parent, suspended until the exec, leaves its own CPU
 * idle; then the exec wakes the parent across CPUs again. Measured on a
 * 2-vCPU VM: 0.59 ms to spawn after a rest, 0.75 ms after 300 ms of work,
 * the child on the other CPU every time (docs/benchmarks.md). So the
 * parent's thread is pinned to the CPU it is on across vfork, which the
 * child inherits, and both put the affinity back: the child just before
 * execve, so that the kernel's balancing at exec places the new program
 * freely, and the parent on return. */
#include "base.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Puts fds[i] at 3 + i without close-on-exec, which is what passes it on.
 * A source inside the target range that is not at its own target may be
 * another's target: it is copied above the range first (close-on-exec, the
 * copy vanishes at exec), so that no dup2() clobbers a source not yet
 * placed. A source already at its own target (a generation passing on
 * what it inherited, in the same order) only loses close-on-exec: one
 * call, not two, for each of a thousand listeners, while the parent waits. */
static int place_fds(const int *fds, size_t count, int *scratch, int *report_fd)
{
	int floor = HO_LISTEN_FDS_START + (int)count;
	if (*report_fd < floor) {
		/* On failure keep the old one: the error must still be told, or
		 * the parent would read EOF and take it for a successful exec. */
		int moved = fcntl(*report_fd, F_DUPFD_CLOEXEC, floor);
		if (moved < 0)
			return -1;
		*report_fd = moved;
	}
	for (size_t i = 0; i < count; i++) {
		int target = HO_LISTEN_FDS_START + (int)i;
		scratch[i] = fds[i];
		if (fds[i] != target && fds[i] >= HO_LISTEN_FDS_START && fds[i] < floor &&
		    (scratch[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, floor)) < 0)
			return -1;
	}
	for (size_t i = 0; i < count; i++) {
		int target = HO_LISTEN_FDS_START + (int)i;
		if (scratch[i] == target ? fcntl(target, F_SETFD, 0) < 0
					 : dup2(scratch[i], target) < 0)
			return -1;
	}
	return 0;
}

/* Closes [first, last], with close_range(2) where the kernel has it (5.9),
 * else one by one up to the descriptor limit. Async-signal-safe. */
static void close_span(unsigned first, unsigned last)
{
	if (first > last || syscall(SYS_close_range, first, last, 0) == 0)
		return;
	struct rlimit limit;
	unsigned end = last;
	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur > 0 &&
	    limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur - 1 < end)
		end = (unsigned)(limit.rlim_cur - 1); /* no fd is above it */
	else if (end > 1u << 20)
		end = 1u << 20;
	for (unsigned fd = first; fd <= end; fd++)
		close((int)fd);
}

/* Descriptors the process inherited without close-on-exec (from a shell,
 * an IDE, a service manager) must not reach the program we exec: it gets
 * stdio and the layout at 3, 4, ..., nothing else. Everything above the
 * layout goes, except the exec-status pipe, which is close-on-exec itself
 * and still needed if execve fails. */
static void close_the_rest(size_t count, int report_fd)
{
	unsigned floor = HO_LISTEN_FDS_START + (unsigned)count;
	unsigned keep = (unsigned)report_fd; /* >= floor: place_fds saw to it */
	if (keep > floor)
		close_span(floor, keep - 1);
	close_span(keep + 1, ~0U);
}

/* The CPU affinity the calling thread had before pin_to_this_cpu(). */
struct cpu_pin {
	int pinned;
	cpu_set_t saved;
};

/* Pins the calling thread to the CPU it runs on, saving its affinity;
 * does nothing where that cannot be done (more CPUs than a cpu_set_t). */
static void pin_to_this_cpu(struct cpu_pin *pin)
{
	cpu_set_t here;
	int cpu = sched_getcpu();
	pin->pinned = 0;
	if (cpu < 0 || cpu >= CPU_SETSIZE ||
	    sched_getaffinity(0, sizeof pin->saved, &pin->saved) < 0)
		return;
	CPU_ZERO(&here);
	CPU_SET(cpu, &here);
	pin->pinned = sched_setaffinity(0, sizeof here, &here) == 0;
}

/* Gives the calling thread back the affinity pin saved, or every CPU it
 * is allowed if that fails (its cpuset changed meanwhile): a thread left
 * on one CPU for good would be worse. Async-signal-safe. 0 or -1. */
static int unpin(const struct cpu_pin *pin)
{
	if (!pin->pinned || sched_setaffinity(0, sizeof pin->saved, &pin->saved) == 0)
		return 0;
	cpu_set_t all;
	memset(&all, 0xff, sizeof all);
	return sched_setaffinity(0, sizeof all, &all);
}

static void reset_signals(const sigset_t *empty)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	for (int sig = 1; sig < NSIG; sig++)
		sigaction(sig, &dfl, NULL); /* fails harmlessly on KILL/STOP */
	sigprocmask(SIG_SETMASK, empty, NULL);
}

/* What the child reports when it cannot exec: errno, and which step. */
struct failure {
	int error;
	int step;
};

static const char *const step_names[] = {
	"exec", "move descriptors", "setpgid", "set the parent death signal",
	"redirect output", "setgroups", "setgid", "setuid", "chdir", "set up the child",
	"restore the CPU affinity",
};
enum { STEP_EXEC, STEP_FDS, STEP_SETPGID, STEP_PDEATHSIG, STEP_OUTPUT,
       STEP_SETGROUPS, STEP_SETGID, STEP_SETUID, STEP_CHDIR, STEP_SETUP,
       STEP_AFFINITY };

/* What a supervisor asks of its children: their own process group (so
 * that a whole generation can be killed), to die with us (so that a
 * SIGKILLed supervisor does not leave them serving for ever), their output
 * elsewhere, fewer privileges, a directory. Returns 0 or the failed step. */
static int apply_options(const struct ho_spawn *s, pid_t parent)
{
	/* Raw system calls for the credentials: glibc's wrappers would change
	 * those of every thread of the parent too (see the top). The 32-bit
	 * variants where the plain ones take 16-bit ids. */
#ifdef SYS_setuid32
	const long sys_setgroups = SYS_setgroups32, sys_setgid = SYS_setgid32,
		   sys_setuid = SYS_setuid32;
#else
	const long sys_setgroups = SYS_setgroups, sys_setgid = SYS_setgid,
		   sys_setuid = SYS_setuid;
#endif
	if (s->new_process_group && setpgid(0, 0) < 0)
		return STEP_SETPGID;
	if (s->umask >= 0)
		umask((mode_t)s->umask);
	if (s->drop_privileges) {
		if (syscall(sys_setgroups, s->groups ? s->group_count : 1,
			    s->groups ? s->groups : &s->gid) < 0)
			return STEP_SETGROUPS;
		if (syscall(sys_setgid, s->gid) < 0)
			return STEP_SETGID;
		if (syscall(sys_setuid, s->uid) < 0)
			return STEP_SETUID;
	}
	/* After setuid(), which clears it. */
	if (s->parent_death_signal) {
		if (prctl(PR_SET_PDEATHSIG, s->parent_death_signal) < 0)
			return STEP_PDEATHSIG;
		/* It died before we asked. Still true with vfork: the parent
		 * is suspended, but a SIGKILL ends it all the same. kill(), not
		 * raise(), which may aim at the parent's thread (see the top);
		 * the signal stays pending until reset_signals() unblocks it. */
		if (getppid() != parent)
			kill(getpid(), s->parent_death_signal);
	}
	if (s->directory && chdir(s->directory) < 0)
		return STEP_CHDIR;
	return 0;
}

static _Noreturn void child(const struct ho_spawn *s, int *scratch,
			    int report_fd, const sigset_t *empty, pid_t parent,
			    const struct cpu_pin *pin)
{
	struct failure f = { 0, STEP_SETUP };
	/* Into the parent's buffer when vfork'd: see the top. getpid() is a
	 * system call (glibc keeps no cache since 2.25). */
	if (s->env)
		ho_child_env_set_pid(s->env, getpid());
	/* First, while privileged: a seccomp filter installed before setuid()
	 * needs no PR_SET_NO_NEW_PRIVS. */
	int setup = s->child_setup ? s->child_setup(s->child_setup_arg) : 0;
	if (setup < 0) {
		f.error = -setup;
		ssize_t ignored = write(report_fd, &f, sizeof f);
		(void)ignored;
		_exit(127);
	}
	f.step = STEP_OUTPUT;
	/* Output first: placing the layout may reuse output_fd's number. */
	int output_ok = s->output_fd <= 2 ||
			(dup2(s->output_fd, 1) >= 0 && dup2(s->output_fd, 2) >= 0);
	if (output_ok && (f.step = STEP_FDS) &&
	    place_fds(s->fds, s->fd_count, scratch, &report_fd) == 0 &&
	    (f.step = apply_options(s, parent)) == 0 &&
	    (f.step = STEP_AFFINITY) && unpin(pin) == 0) {
		close_the_rest(s->fd_count, report_fd);
		reset_signals(empty);
		execve(s->path, s->argv, s->envp);
		f.step = STEP_EXEC;
	}
	f.error = errno;
	ssize_t ignored = write(report_fd, &f, sizeof f);
	(void)ignored;
	_exit(127);
}

static int use_fork;

void ho_spawn_use_fork(int on)
{
	use_fork = on;
}

/* A frame of its own for the call that returns twice: the vfork'd child
 * runs on the stack below it and never returns into it (child() ends in
 * execve or _exit), so nothing of the parent's frames is overwritten, and
 * no variable of ho_spawn() lives across vfork() (-Wclobbered). */
__attribute__((noinline))
static pid_t start_child(const struct ho_spawn *s, int *scratch, int report_fd,
			 const sigset_t *empty, pid_t parent, const struct cpu_pin *pin)
{
	pid_t pid = use_fork ? fork() : vfork();
	if (pid == 0)
		child(s, scratch, report_fd, empty, parent, pin);
	return pid;
}

/* Returns the child's pid once it has exec'd. On failure returns a negative
 * errno: the exec errno if the child could not exec (it is reaped). */
pid_t ho_spawn(struct ho_spawn *s)
{
	int saved_errno = errno;
	pid_t parent = getpid();
	int *scratch = calloc(s->fd_count + 1, sizeof *scratch);
	int report[2];
	s->failed_step = "allocate";
	if (!scratch)
		return -ENOMEM;
	s->failed_step = "create the exec-status pipe";
	if (pipe2(report, O_CLOEXEC) < 0) {
		int err = errno;
		free(scratch);
		return -err;
	}
	/* Block every signal across vfork so that no handler of ours runs in
	 * the child (on our memory) before reset_signals() restored the
	 * defaults. */
	sigset_t all, old, empty;
	sigfillset(&all);
	sigemptyset(&empty);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	struct cpu_pin pin;
	pin_to_this_cpu(&pin); /* the child starts here: see the top */
	s->failed_step = use_fork ? "fork" : "vfork";
	pid_t pid = start_child(s, scratch, report[1], &empty, parent, &pin);
	/* After vfork the child has exec'd or exited; what it left in errno
	 * (ours: it ran on our thread pointer) is not the caller's. */
	int fork_errno = errno;
	unpin(&pin);
	errno = saved_errno;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close(report[1]);
	free(scratch);
	if (pid < 0) {
		close(report[0]);
		return -fork_errno;
	}
	struct failure f = { 0, STEP_EXEC };
	ssize_t n = ho_read(report[0], &f, sizeof f);
	close(report[0]);
	if (n == 0) {
		errno = saved_errno;
		return pid;
	}
	ho_waitpid(pid, NULL, 0);
	if (n != (ssize_t)sizeof f || f.step < 0 ||
	    f.step >= (int)(sizeof step_names / sizeof *step_names))
		return -EIO;
	s->failed_step = f.step == STEP_SETUP && s->child_setup_step
				 ? s->child_setup_step : step_names[f.step];
	return -f.error;
}
