/* systemd.h — what we tell the service manager above us (sd_notify), as a
 * Type=notify-reload service: READY=1 once serving, RELOADING=1 with
 * MONOTONIC_USEC= at each reload, STOPPING=1, and a STATUS= line. */
#ifndef TOOL_SYSTEMD_H
#define TOOL_SYSTEMD_H

#include "core.h"

void systemd_reloading(void);
void systemd_upgrading(void);    /* reload --self: RELOADING=1 */
void systemd_stopping(void);
/* STATUS= from the core's state; with READY=1 when ready (a start or
 * reload just ended; before the first generation served, never). */
void systemd_status(const struct core *c, int ready);

#endif
