/* fabricctl's main(), alone in its file so that the tests can link the rest
 * of the program and run it with fabricctl_run(). */

#include <stdio.h>

#include "cli/commands.h"
#include "cli/fabricctl.h"

int
main(int argc, char *argv[])
{
    int status = fabricctl_run(argc, argv, stdout, stderr);

    /* A full disk or a closed pipe must not pass for success. */
    if (fflush(stdout) || ferror(stdout)) {
        perror("fabricctl: cannot write the output");
        return status ? status : CLI_EXIT_API;
    }
    return status;
}
