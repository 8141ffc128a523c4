/* systemd.c — sd_notify to our own manager. READY=1 goes only with the end
 * of a start or reload: sent while a new generation is still starting, it
 * would end systemd's RELOADING=1 too early. */
#include "systemd.h"
#include "internal.h"

#include <stdio.h>

void systemd_reloading(void)
{
	char msg[80];
	snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%lld", (long long)ho_now_us());
	handoff_notify(msg);
}

/* The supervisor execs itself: shown as a reload, ended by the READY=1
 * the new image sends once it has taken over (or we, if the exec failed).
 * MAINPID does not change: exec keeps the pid. */
void systemd_upgrading(void)
{
	char msg[120];
	snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%lld\nSTATUS=upgrading the "
		 "supervisor in place", (long long)ho_now_us());
	handoff_notify(msg);
}

void systemd_stopping(void)
{
	handoff_notify("STOPPING=1");
}

void systemd_status(const struct core *c, int ready)
{
	const struct generation *g = NULL;
	for (int i = 0; i < c->count && !g; i++)
		if (c->gens[i].state == GEN_SERVING)
			g = &c->gens[i];
	int draining = core_count_leaving(c);
	char msg[1024], who[32];
	if (c->stopping)
		snprintf(msg, sizeof msg, "STATUS=stopping, %d generation(s) draining",
			 draining);
	else if (g)
		snprintf(msg, sizeof msg, "%sSTATUS=generation %u (%s) serving%s%s; "
			 "%d draining; last reload %s", ready ? "READY=1\n" : "", g->number,
			 core_who(c, g, who, sizeof who), g->status[0] ? ": " : "", g->status,
			 draining,
			 c->last_reload[0] ? c->last_reload : "none");
	else
		snprintf(msg, sizeof msg, "%sSTATUS=no generation serving; %s",
			 ready && c->ever_served ? "READY=1\n" : "",
			 c->last_reload[0] ? c->last_reload : "starting");
	handoff_notify(msg);
}
