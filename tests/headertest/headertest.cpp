// The public headers compile as C++ and their extern "C" guards work: the
// functions keep C linkage, so this links against the C library.
#include <hark/hark.h>
#include <hark/sys/engine.h>

extern "C" int hark_headertest_cxx(void);
int hark_headertest_cxx(void)
{
    const char *(*fn)(int) = hark_strerror;
    return HARK_VERSION_MINOR + (fn(HARK_OK)[0] == 's' ? 0 : 1);
}
