/* supervisor.h — `handoff run`: a process that stays while generations of
 * the server come and go beneath it. */
#ifndef TOOL_SUPERVISOR_H
#define TOOL_SUPERVISOR_H

#include "options.h"

/* Runs until stopped. Returns the exit status: 0 after a requested stop, 1
 * if it could not start or the service could not be kept running. */
int supervisor_run(const struct options *opt);

#endif
