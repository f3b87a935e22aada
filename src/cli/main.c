/* hark CLI (placeholder main until the commands land) */
#include <stdio.h>
#include <string.h>

#include "hark/hark.h"

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("hark %s\n", hark_version());
        return 0;
    }
    fprintf(stderr, "usage: hark --version\n");
    return 2;
}
