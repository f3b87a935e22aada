/* placeholder until the WER module lands */
#include "cli.h"
int cmd_eval(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "hark eval: not yet available\n");
    return EXIT_FAIL;
}
