/* client.h — `handoff reload|stop|status`: asks a running supervisor. */
#ifndef TOOL_CLIENT_H
#define TOOL_CLIENT_H

/* argv[0] is the command. Returns the exit status: 0 done, 1 refused or
 * failed (the reason on stderr), 2 bad usage. */
int client_main(int argc, char **argv);

#endif
