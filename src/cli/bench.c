/* placeholder */
#include "cli.h"
int cmd_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "hark bench: not yet available\n");
    return EXIT_FAIL;
}
