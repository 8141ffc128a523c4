/* main.c — `make bench`: the figures, in a child with a 10-minute limit
 * (the benchmark keeps its own budget of 340 s, counted once what was
 * missing is installed: nginx, HAProxy, Go... on a fresh machine). */
#include "harness.h"
#include "program.h"

void bench(void);

int main(int argc, char **argv)
{
	program_start(argc, argv);
	return program_run_alone("bench", bench, 600);
}
