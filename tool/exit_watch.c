/* exit_watch.c — a pidfd polled for the exit of a process that is not our
 * child; without pidfd_open, kill(pid, 0) polled, a zombie counting as
 * gone. */
#include "exit_watch.h"
#include "proc.h"
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* How often the fallback looks: a stop takes tens of milliseconds at best. */
enum { POLL_INTERVAL_MS = 20 };

void exit_watch_open(struct exit_watch *w, pid_t pid)
{
	*w = (struct exit_watch){ .pid = pid, .pidfd = -1 };
#ifdef SYS_pidfd_open
	long fd = syscall(SYS_pidfd_open, pid, 0); /* close-on-exec by design */
	if (fd >= 0)
		w->pidfd = (int)fd;
#endif
}

/* A zombie has released everything but its pid; its parent (which may not
 * be us) reaps it whenever it likes. */
static int is_zombie(pid_t pid)
{
	struct proc_stat st;
	return proc_stat(pid, &st) == 0 && st.state == 'Z';
}

static int gone_now(pid_t pid)
{
	return (kill(pid, 0) < 0 && errno == ESRCH) || is_zombie(pid);
}

static int left_ms(int64_t deadline_us)
{
	int64_t left = (deadline_us - ho_now_us() + 999) / 1000;
	return left <= 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

int exit_watch_wait(const struct exit_watch *w, int64_t deadline_us)
{
	for (;;) {
		int ms = left_ms(deadline_us);
		if (w->pidfd >= 0) {
			struct pollfd p = { .fd = w->pidfd, .events = POLLIN };
			int r = poll(&p, 1, ms);
			if (r > 0)
				return 1; /* readable: it has exited */
			if (r < 0 && errno != EINTR)
				return gone_now(w->pid);
		} else {
			if (gone_now(w->pid))
				return 1;
			if (ms > 0)
				poll(NULL, 0, ms < POLL_INTERVAL_MS ? ms : POLL_INTERVAL_MS);
		}
		if (ms == 0)
			return w->pidfd >= 0 ? 0 : gone_now(w->pid);
	}
}

int exit_watch_signal(const struct exit_watch *w, int sig)
{
#ifdef SYS_pidfd_send_signal
	if (w->pidfd >= 0)
		return syscall(SYS_pidfd_send_signal, w->pidfd, sig, NULL, 0) < 0 ? -errno : 0;
#endif
	return kill(w->pid, sig) < 0 ? -errno : 0;
}

void exit_watch_close(struct exit_watch *w)
{
	if (w->pidfd >= 0)
		close(w->pidfd);
	w->pidfd = -1;
}
