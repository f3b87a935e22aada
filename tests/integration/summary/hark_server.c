/*
 * hark_server.c: the server tests' helpers (a real `hark serve` on
 * 127.0.0.1 and a libcurl client), compiled into this test binary too.
 */
#include "../server/client.c"
