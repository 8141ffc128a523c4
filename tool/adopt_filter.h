/* adopt_filter.h — the seccomp filter a generation runs under when the
 * supervisor adopts its binds: bind() and listen() wait for the
 * supervisor's answer, every other system call runs untouched.
 *
 * The filter is installed in the child between fork and exec, so it holds
 * for the server's program, static or not, and for every process that
 * program starts. Its notification descriptor (SECCOMP_FILTER_FLAG_NEW_
 * LISTENER) is sent to the supervisor over a socketpair and closed in the
 * child. Needs Linux 5.9 (SECCOMP_IOCTL_NOTIF_ADDFD). */
#ifndef TOOL_ADOPT_FILTER_H
#define TOOL_ADOPT_FILTER_H

#include <linux/audit.h>
#include <stddef.h>
#include <sys/syscall.h>

/* The architecture the supervisor was built for: a process of another one
 * (a 32-bit program on x86_64, whose bind goes through socketcall) is let
 * through unadopted. */
#if defined(__x86_64__) && !defined(__ILP32__)
#define ADOPT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ADOPT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__riscv) && __riscv_xlen == 64
#define ADOPT_ARCH AUDIT_ARCH_RISCV64
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
#define ADOPT_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define ADOPT_ARCH AUDIT_ARCH_S390X
#endif
#if defined(ADOPT_ARCH) && defined(SYS_bind) && defined(SYS_listen) && \
	defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd)
#define ADOPT_BUILT 1
#endif

/* In the child, async-signal-safe: installs the filter (with
 * PR_SET_NO_NEW_PRIVS only if we lack CAP_SYS_ADMIN) and sends its
 * notification descriptor on *(int *)channel. Returns 0 or -errno.
 * Matches struct ho_spawn.child_setup. */
int adopt_filter_install(void *channel);

/* In the parent, after the spawn: the notification descriptor the child
 * sent (close-on-exec, non-blocking), or -errno. */
int adopt_filter_receive(int channel);

/* Whether adoption works here: forks a child that installs the filter and
 * checks that the kernel knows SECCOMP_IOCTL_NOTIF_ADDFD. Returns 0, or
 * -errno with a sentence for the user in why. */
int adopt_filter_probe(char *why, size_t size);

#endif
