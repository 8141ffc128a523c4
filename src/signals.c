/* signals.c — the self-pipe: handlers only record which signal arrived, as
 * one byte in a non-blocking pipe that the event loop reads. Everything
 * else happens outside the handler. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static const int caught[] = { SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGUSR2 };
enum { CAUGHT_COUNT = sizeof caught / sizeof caught[0] };

static volatile sig_atomic_t write_end = -1;
static int read_end = -1;
static struct sigaction previous[CAUGHT_COUNT];

static void on_signal(int sig)
{
	int saved = errno;
	unsigned char byte = (unsigned char)sig;
	/* A full pipe drops the byte: the loop is behind, and already has at
	 * least one of each pending signal kind to act on. */
	ssize_t ignored = write(write_end, &byte, 1);
	(void)ignored;
	errno = saved;
}

int ho_signals_install(void)
{
	if (read_end >= 0)
		return -EBUSY;
	int p[2];
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	p[0] = ho_move_above_stdio(p[0]);
	p[1] = ho_move_above_stdio(p[1]);
	if (p[0] < 0 || p[1] < 0) {
		if (p[0] >= 0)
			close(p[0]);
		if (p[1] >= 0)
			close(p[1]);
		return -EMFILE;
	}
	read_end = p[0];
	write_end = p[1];
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < CAUGHT_COUNT; i++)
		sigaction(caught[i], &sa, &previous[i]);
	return 0;
}

void ho_signals_uninstall(int handed_over)
{
	if (read_end < 0)
		return;
	/* A generation that handed over may live on for a moment after this
	 * (logging, returning from main): a SIGHUP meant for it then is a
	 * late reload request, for its successor to act on, and must not
	 * kill it by the default action. */
	static const struct sigaction ignore = { .sa_handler = SIG_IGN };
	for (int i = 0; i < CAUGHT_COUNT; i++)
		sigaction(caught[i], handed_over && caught[i] == SIGHUP ? &ignore : &previous[i],
			  NULL);
	int w = write_end;
	write_end = -1;
	close(w);
	ho_close(&read_end);
}

int ho_signals_fd(void)
{
	return read_end;
}
