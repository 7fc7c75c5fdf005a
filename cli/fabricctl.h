/* fabricctl, the operator's command-line client of fabric-controller. */
#ifndef CLI_FABRICCTL_H
#define CLI_FABRICCTL_H 1

#include <stdio.h>

/* Runs fabricctl with the 'argc' words of 'argv' ('argv[0]' being the
 * program's name), reading its configuration from the environment,
 * writing results to 'out' and messages to 'err'.  Returns the exit
 * status (CLI_EXIT_* of cli/commands.h). */
int fabricctl_run(int argc, char *argv[], FILE *out, FILE *err);

#endif /* cli/fabricctl.h */
