/* selfexec.h — the mechanics of `handoff reload --self`: the state in a
 * memfd, the new binary tried on it in a child, then exec in place.
 *
 * The supervisor decides what goes into the state (supervisor.c); this
 * file moves it across exec and checks what comes back. Every descriptor
 * of ours is close-on-exec; those the state names lose that flag only for
 * the exec (and in the checking child), and get it back if the exec fails.
 *
 * The environment tells the new image what to do:
 *   HANDOFF_SUPERVISOR_STATE=FD     restore from the state at FD
 *   HANDOFF_SUPERVISOR_FALLBACK=FD  the previous binary (O_PATH): if the
 *                                   new image cannot take over, it execs
 *                                   that one with the same state
 *   HANDOFF_SUPERVISOR_RETURNED=WHY set by an image that gave the state
 *                                   back: the previous binary runs again
 *                                   and reports WHY; never given back twice */
#ifndef TOOL_SELFEXEC_H
#define TOOL_SELFEXEC_H

#include "selfstate.h"

#include <stddef.h>

#define SELFEXEC_STATE_ENV "HANDOFF_SUPERVISOR_STATE"
#define SELFEXEC_FALLBACK_ENV "HANDOFF_SUPERVISOR_FALLBACK"
#define SELFEXEC_RETURNED_ENV "HANDOFF_SUPERVISOR_RETURNED"
/* Test only: damages the state written ("truncate", "garbage", "hostile"),
 * writes it as an older or a later version would ("previous": keys left
 * out; "next": keys added), or makes a first take-over fail ("takeover"):
 * to prove the refusals and the compatibility. */
#define SELFEXEC_TEST_ENV "HANDOFF_TEST_SELF_UPGRADE_FAULT"

/* The state as text in a sealed memfd, close-on-exec, above stdio.
 * Returns the descriptor or -errno. */
int selfexec_write(const struct self_state *s);

/* Reads and parses the state at fd (from its start). Returns 0 or -errno
 * with why. */
int selfexec_read(int fd, struct self_state *s, char *why, size_t size);

/* The descriptors the state names are open, of the kind it says.
 * Returns 0 or -EBADF with why. */
int selfexec_check_fds(const struct self_state *s, char *why, size_t size);

/* Runs `path run --check-state FD ARGS...` (run_argv: "run", ARGS...) and
 * waits for it (at most timeout_ms): it must read the state, find its
 * descriptors and say the state's nonce back. Returns 0, or -errno with
 * what went wrong, in the words of the new binary when it said any. */
int selfexec_try(const char *path, char *const run_argv[], int state_fd,
		 const struct self_state *s, int timeout_ms, char *why, size_t size);

/* execs path with run_argv in place, the state at state_fd. Returns only
 * if the exec failed: -errno, every descriptor close-on-exec again. */
int selfexec_exec(const char *path, char *const run_argv[], int state_fd,
		  const struct self_state *s);

/* The same, to the previous binary at fallback_fd, telling it why. */
int selfexec_give_back(int fallback_fd, char *const run_argv[], int state_fd,
		       const struct self_state *s, const char *reason);

/* `handoff run --check-state FD ...`: the new image's dry run. Prints
 * "state-ok NONCE ..." and returns 0, or the reason and 1. */
int selfexec_check_main(int fd);

#endif
