/* bench.h — what the parts of `make bench` share. bench.c runs them:
 * the upgrade timings (bench.c), the supervisor's (supervisor.c, adopt.c,
 * workers.c), the cost against scale (scale.c), the contenders under
 * restart load (compare.c), and last the cost against the server's memory
 * (memory.c). */
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <sys/types.h>

/* compare.c */
void bench_prepare(void);  /* installs what is missing (root, apt-get); limits */
void bench_compare(void);
/* Records a target and whether it was met; printed together at the end. */
void bench_target(int met, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void bench_targets_print(void);
/* Seconds left of the runner's budget for the whole benchmark. */
double bench_seconds_left(void);
/* Remembers a port the benchmark listened on, checked at the end. */
void bench_port_used(int port);
int bench_env_int(const char *name, int fallback, int min, int max);
/* 1 unless BENCH_PARTS is set and does not name part: upgrade, supervisor,
 * adopt, workers, scale (or moves: its connections section alone), memory,
 * compare ("scale compare"). */
int bench_part(const char *part);

/* bench.c: a notify socket of our own, "NOTIFY_SOCKET=@..." into env */
int bench_notify_listener(char *env, size_t size);
/* Waits up to timeout_ms for a datagram starting "READY=1": 1, with its
 * MAINPID= in *mainpid (0 if none; mainpid may be NULL), or 0 on timeout. */
int bench_wait_ready(int fd, int timeout_ms, pid_t *mainpid);
/* The MAINPID of the next READY=1, always > 1; fails the run otherwise. */
pid_t bench_ready_pid(int fd);

/* bench.c: where this process runs, and so what it spawns next: the server
 * side is the last CPU, the client side the others (BENCH_ANYWHERE: all). */
enum bench_placement { BENCH_ANYWHERE, BENCH_SERVER_SIDE, BENCH_CLIENT_SIDE };
void bench_place(enum bench_placement where);

/* supervisor.c */
void bench_supervisor(void);

/* adopt.c */
void bench_adopt(void);

/* workers.c */
void bench_workers(void);

/* scale.c */
void bench_scale(void);

/* memory.c */
void bench_memory(void);

#endif
