/* adopt_filter.c — the generation's side of adoption: a four-line BPF
 * program, and the descriptor it gives the supervisor. */
#include "adopt_filter.h"
#include "internal.h"
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

#ifdef ADOPT_BUILT
static long install(unsigned long flags)
{
	static struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ADOPT_ARCH, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_bind, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_listen, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
	};
	struct sock_fprog program = { .len = sizeof code / sizeof *code, .filter = code };
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &program);
}

/* Once the supervisor has taken a bind, only a fatal signal interrupts the
 * wait for its answer (Linux 5.19): Go's runtime signals its threads all
 * the time, and each would otherwise restart the bind. */
static int install_with_listener(void)
{
	unsigned long flags = SECCOMP_FILTER_FLAG_NEW_LISTENER;
	long fd = install(flags | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV);
	if (fd < 0 && errno == EINVAL)
		fd = install(flags);
	if (fd < 0 && errno == EACCES) {
		/* Without CAP_SYS_ADMIN the kernel wants the promise that no
		 * program run from here gains privileges (setuid bits). */
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			return -errno;
		fd = install(flags | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV);
		if (fd < 0 && errno == EINVAL)
			fd = install(flags);
	}
	return fd < 0 ? -errno : (int)fd;
}

int adopt_filter_install(void *channel)
{
	int fd = install_with_listener();
	if (fd < 0)
		return fd;
	char byte = 'F';
	ssize_t sent = ho_send_with_fd(*(int *)channel, &byte, 1, fd, MSG_NOSIGNAL);
	close(fd); /* the program must not answer its own binds */
	return sent < 0 ? (int)sent : 0;
}
#else
int adopt_filter_install(void *channel)
{
	(void)channel;
	return -ENOSYS;
}
#endif

int adopt_filter_receive(int channel)
{
	char byte;
	int fd;
	/* The child sent it before exec, and the spawn waited for the exec. */
	ssize_t n = ho_recv_with_fd(channel, &byte, 1, &fd, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n != 1 || fd < 0) {
		if (fd >= 0)
			close(fd);
		return n < 0 && n != -EAGAIN && n != -EMSGSIZE ? (int)n : -EPROTO;
	}
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static void explain(char *why, size_t size, int error)
{
	snprintf(why, size,
		 "cannot adopt the servers' own binds: %s (%s); with --no-adopt the "
		 "server must take its sockets from LISTEN_FDS",
		 error == ENOSYS || error == EINVAL || error == ENOTTY
			 ? "this kernel has no seccomp user notification with "
			   "SECCOMP_IOCTL_NOTIF_ADDFD (Linux 5.9 or later)"
		 : error == EACCES || error == EPERM
			 ? "seccomp filters are not allowed here (a sandbox or a "
			   "container's policy)"
			 : "seccomp failed",
		 strerror(error));
}

#ifdef ADOPT_BUILT
/* Reading a trapped process's memory and copying its socket need ptrace
 * rights over it, which a container may withhold (CAP_SYS_PTRACE): tried
 * on the probe's child, of our own user, while it waits. 0 or an errno. */
static int ptrace_rights(pid_t pid, int fd_in_child)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		return errno;
	int copy = (int)syscall(SYS_pidfd_getfd, pidfd, fd_in_child, 0);
	int error = copy < 0 ? errno : 0;
	close(pidfd);
	if (copy >= 0)
		close(copy);
	int mem = error ? -1 : proc_open(pid, "mem");
	if (!error && mem < 0)
		error = errno;
	if (mem >= 0)
		close(mem);
	return error;
}
#endif

int adopt_filter_probe(char *why, size_t size)
{
	int pair[2];
	/* Seqpacket: a child that dies before sending is an end of file. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) < 0) {
		int e = errno;
		snprintf(why, size, "cannot test seccomp: socketpair: %s", strerror(e));
		return -e;
	}
	pid_t pid = fork();
	if (pid == 0) {
		close(pair[0]);
		int r = adopt_filter_install(&pair[1]);
		char go;
		if (r == 0) /* then wait, to be looked at */
			ho_recv(pair[1], &go, 1, 0);
		_exit(r < 0 ? (unsigned char)-r : 0);
	}
	int error = pid < 0 ? errno : 0, status = 0, fd = -1, rights = 0;
	int childs_end = pair[1]; /* its number in the child, still open there */
	close(pair[1]); /* so that the child's exit is our end of file */
	struct pollfd p = { .fd = pair[0], .events = POLLIN };
	if (!error && ho_poll(&p, 1, 10000) == 1 && !(p.revents & POLLHUP))
		fd = adopt_filter_receive(pair[0]);
#ifdef ADOPT_BUILT
	if (fd >= 0)
		rights = ptrace_rights(pid, childs_end);
#endif
	close(pair[0]); /* lets the child go */
	if (pid > 0 && ho_waitpid(pid, &status, 0) < 0)
		error = ECHILD;
	else if (pid > 0 && (!WIFEXITED(status) || WEXITSTATUS(status)))
		error = WIFEXITED(status) ? WEXITSTATUS(status) : EINTR;
	else if (!error && fd < 0)
		error = EPROTO;
#ifdef ADOPT_BUILT
	if (!error) {
		/* A kernel that knows ADDFD looks for notification 0 and finds
		 * none; an older one does not know the request. */
		struct seccomp_notif_addfd addfd = { .id = 0, .srcfd = (unsigned)fd };
		if (ioctl(fd, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) == 0 || errno != ENOENT)
			error = ENOTTY;
	}
#endif
	if (fd >= 0)
		close(fd);
	if (error) {
		explain(why, size, error);
	} else if (rights) {
		snprintf(why, size, "cannot adopt the servers' own binds: no ptrace rights "
			 "over our own children (pidfd_getfd, /proc/PID/mem: %s; a container "
			 "without CAP_SYS_PTRACE?); with --no-adopt the server must take its "
			 "sockets from LISTEN_FDS", strerror(rights));
		error = rights;
	}
	return -error;
}
