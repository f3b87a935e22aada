/* The public headers compile alone with -std=c11 -pedantic -Werror. */
#include <hark/hark.h>
#include <hark/sys/engine.h>
#include <hark/sys/store.h>

int hark_headertest_dummy(void);
int hark_headertest_dummy(void)
{
    return HARK_VERSION_MAJOR;
}
