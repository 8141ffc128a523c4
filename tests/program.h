/* program.h — what every test program (the runner, the demo, the
 * benchmark) does first: find the build directory, answer --helper
 * re-executions, and run its work in a child of its own. */
#ifndef PROGRAM_H
#define PROGRAM_H

/* Finds bin_dir from /proc/self/exe (build[/asan]/<dir>/<program>). If
 * argv asks for a helper (--helper NAME ARG), runs it and exits with its
 * status; otherwise returns. */
void program_start(int argc, char **argv);

/* Runs work() in a child: its own process group, a child subreaper, a
 * fresh temporary directory; kills what is left when it ends or after
 * timeout_s. Output streams as it comes. Returns 0 if work() returned. */
int program_run_alone(const char *name, void (*work)(void), int timeout_s);

/* In the child that runs a test or work(): its own process group, a child
 * subreaper, dir as work_dir, the current directory and XDG_RUNTIME_DIR. */
void program_enter(const char *dir);
/* Removes dir and everything in it. */
void program_remove_dir(const char *dir);

#endif
