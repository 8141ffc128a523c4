/* proc.h — what /proc says of a process: the one reader for every part of
 * handoff that asks (who a process's parent is, whether it is a zombie,
 * when it started; its memory, descriptors and environment). */
#ifndef TOOL_PROC_H
#define TOOL_PROC_H

#include <stddef.h>
#include <sys/types.h>

struct proc_stat {
	char state;                     /* 'R', 'S', 'Z'... */
	pid_t ppid, group;
	unsigned flags;                 /* the kernel's PF_* */
	unsigned long long start_ticks; /* since boot */
};

/* In flags: the process has begun to exit (its memory may already be
 * gone, its children not yet handed on). */
#define PROC_EXITING 0x00000004u

/* /proc/PID/stat, or -1 (gone, unreadable, not what we expect). */
int proc_stat(pid_t pid, struct proc_stat *st);
/* /proc/PID/WHAT opened read-only and close-on-exec, or -1. PID may be a
 * thread's id. */
int proc_open(pid_t pid, const char *what);
/* A small /proc/PID/WHAT text into buf, NUL-terminated: its length, or -1. */
ssize_t proc_read(pid_t pid, const char *what, char *buf, size_t size);

#endif
