/*
 * hark/version.h: the library version, at compile time and at run time.
 */
#ifndef HARK_VERSION_H
#define HARK_VERSION_H

#define HARK_VERSION_MAJOR  0
#define HARK_VERSION_MINOR  1
#define HARK_VERSION_PATCH  0
#define HARK_VERSION_STRING "0.1.0"
#define HARK_VERSION_HEX                                                                           \
    ((HARK_VERSION_MAJOR << 16) | (HARK_VERSION_MINOR << 8) | (HARK_VERSION_PATCH))

#endif
