/* selfstate.h — what the supervisor hands to its next image across
 * `handoff reload --self`: plain data, written and read as text.
 *
 * The format is "key=value" lines between a header and an end mark:
 *
 *   handoff-supervisor-state 1
 *   version=1.2.3
 *   next_number=4
 *   listener.0.fd=5
 *   gen.0.pid=1234
 *   ...
 *   end
 *
 * The header's number changes only if a later format could not be read
 * by this one; within it, keys come and go: unknown keys are ignored and
 * missing keys take their defaults, so that version N+1 takes over from N
 * and N from N+1. Descriptors stay where they are across exec; the state
 * names their numbers. Bytes below 0x20, 0x7f and '\' in values are
 * written as \xHH. The parser is bounded (SELF_STATE_BYTES_MAX, lines of
 * SELF_STATE_LINE_MAX) and refuses, with a sentence, anything that is not
 * a whole state: no end mark (truncated), a line without '=', a bad
 * number, an index out of range, a descriptor named twice. */
#ifndef TOOL_SELFSTATE_H
#define TOOL_SELFSTATE_H

#include "core.h"
#include "endpoint.h"
#include "fdstore.h"
#include "handoff.h"
#include "options.h"
#include "steer.h"

#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define SELF_STATE_FORMAT 1
#define SELF_STATE_HEADER "handoff-supervisor-state"
#define SELF_STATE_BYTES_MAX (4 << 20)
#define SELF_STATE_LINE_MAX 8192

struct self_endpoint {
	int fd;                          /* -1: none */
	char path[sizeof ((struct endpoint *)0)->path];
	uint64_t dev, ino;
};

struct self_listener {
	int fd;
	int inherited, owns_path;
	uint64_t path_dev, path_ino;
	char name[HANDOFF_NAME_MAX + 1];
	int slot_fd[STEER_SLOTS];        /* steer.h: its generations' own
					    sockets ([0] unused); -1: none */
	int slot_place[STEER_SLOTS];
	int members, shared;
};

struct self_stored {
	int fd;
	char name[HANDOFF_NAME_MAX + 1];
	int poll;
};

struct self_generation {
	struct generation g;             /* as the core had it */
	int filter_fd;                   /* its adoption filter; -1: none */
	int channel_fd;                  /* our end of its channel (handover.h);
					    -1: none */
	char listened[MAX_LISTENERS + 1];/* '1' per held listener it listened on */
	unsigned adopted, own_binds;
	char own_bind[96];
};

struct self_state {
	unsigned format;                 /* the header's number */
	char version[32];                /* handoff version that wrote it */
	char nonce[40];                  /* echoed by --check-state */
	char exe_path[PATH_MAX];         /* the binary the writer was started as */
	pid_t pid;                       /* the supervisor's: the same after exec */
	int64_t started_us;              /* the supervisor's start (monotonic) */
	unsigned next_number;
	int ever_served;
	int64_t restart_at_us, backoff_ms, stable_at_us;
	unsigned respawn_number;         /* workers waiting to start again */
	int64_t respawn_at_us;
	uint64_t respawn_mask;
	char last_reload[320], last_restart[320];
	int pidfile_fd;                  /* holds the pid file's lock */
	struct self_endpoint notify;
	char notify_dir[96];
	struct self_endpoint control[2]; /* <pidfile>.control, --control */
	int output_read_fd, output_write_fd; /* --log's pipe */
	int client_fd;                   /* who asked: answered by the new image */
	int fallback_fd;                 /* the old binary (O_PATH), to go back to */
	int steered;                     /* steer.h: the serving slot */
	unsigned slot_owner[STEER_SLOTS];
	int listener_count;
	struct self_listener listeners[MAX_LISTENERS];
	int stored_count;                /* the fd store's descriptors */
	struct self_stored stored[FDSTORE_MAX];
	int generation_count;            /* records: one per worker */
	struct self_generation gens[CORE_RECORDS_MAX];
};

/* Every field at its default: no descriptors, nothing else. */
void self_state_defaults(struct self_state *s);

/* How many generations its records are (one record per worker). */
int self_state_generations(const struct self_state *s);

/* Writes s as text to f. Returns 0 or -EIO. */
int self_state_write(const struct self_state *s, FILE *f);

/* Reads length bytes of text into *s. Returns 0, or -EINVAL with the
 * reason in why (what the operator sees). */
int self_state_parse(const char *text, size_t length, struct self_state *s,
		     char *why, size_t size);

/* Each descriptor named at most once; the ones that must be there are.
 * Returns 0 or -EINVAL with why. (The descriptors themselves are checked
 * by selfexec.c, which can see them.) */
int self_state_validate(const struct self_state *s, char *why, size_t size);

#endif
