/*
 * helpers.h: running the built `hark` binary from the CLI tests: as a child
 * process whose exit can be awaited with a deadline (and signalled), or
 * through the shell with its stderr kept for inspection.
 */
#ifndef HARK_TEST_CLI_HELPERS_H
#define HARK_TEST_CLI_HELPERS_H

#include <sys/types.h>

/* A 440 Hz stereo tone of `sec` seconds written to harness_path(name) with ffmpeg (SKIPs without).
 */
const char *ct_tone(const char *name, double sec);

/* `hark ARGS` through sh -c; stdout returned (caller frees), stderr kept for ct_err(). */
char *ct_run(int *status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The stderr of the last ct_run or ct_spawn (caller frees). */
char *ct_err(void);

/*
 * Start `hark argv...` (argv NULL-terminated, without the program) with
 * stdin from in_fd (-1 = /dev/null), stdout to out_path (NULL = /dev/null)
 * and stderr to ct_err()'s file. Descriptor `keep_fd` (-1 = none) is passed
 * on as descriptor 3. Returns the child's pid.
 */
pid_t ct_spawn(const char *const *argv, int in_fd, const char *out_path, int keep_fd);

/*
 * Wait up to timeout_ms until process `pid` holds at least `min` descriptors
 * whose /proc link target is `target` (a path, or "pipe:[INODE]"): the
 * moment it has opened an input and is waiting on it. 1 if so, 0 on timeout.
 */
int ct_wait_fd(pid_t pid, const char *target, int min, unsigned timeout_ms);

/*
 * Wait up to timeout_ms for `pid`; 1 and *status (exit code, or 128 +
 * signal) if it ended, else 0 after killing it with SIGKILL.
 */
int ct_wait(pid_t pid, unsigned timeout_ms, int *status);

#endif
