/*
 * file.c: files read and written safely, for the CLI and (later) the server.
 *
 * DESIGN
 * - Inputs: hark__file_open_read opens anything a user can name (a regular
 *   file, "-" for standard input, a FIFO, /dev/fd/N from process
 *   substitution, a socket passed as /dev/fd/N) without ever blocking: a
 *   FIFO is opened O_NONBLOCK (no wait for a writer) and then switched back
 *   to blocking reads on our own open file description. The descriptors we
 *   did not open (standard input, a socket under /dev/fd) are duplicated and
 *   their flags never touched, since the description is shared with other
 *   processes. hark__file_read waits for data with poll() in slices of
 *   POLL_MS and asks the caller's abort callback between slices, so a read
 *   that would block for ever (a FIFO nobody writes to) stops promptly on
 *   Ctrl-C whichever thread the signal was delivered to. (Linux reports
 *   POLLHUP on a FIFO only after a writer has come and gone, so poll waits
 *   for the first writer.)
 * - Spooling: an input that can be read only once is copied to an anonymous
 *   temporary file (mkstemp in $TMPDIR, else /tmp; mode 0600; unlinked at
 *   once, so nothing is left behind even after kill -9) while it is hashed,
 *   and is then read and seeked like a regular file.
 * - Outputs: hark__file_write_atomic writes a new file beside the target,
 *   created with O_CREAT|O_EXCL|O_NOFOLLOW under a random name (a planted
 *   file or symbolic link is never opened, let alone followed), fsyncs it
 *   and renames it over the target (rename replaces a link, never writes
 *   through it). The temporary name is ".<name>.XXXXXXXX" when that fits in
 *   NAME_MAX, else ".hark-XXXXXXXX", so any target name that fits works.
 *   The mode is 0666 minus the umask, as for any new file.
 * - Private files: hark__file_create_private creates a missing file with
 *   mode 0600 whatever the umask (databases, caches).
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define POLL_MS    100        /* longest wait between two calls of the abort callback */
#define COPY_BLOCK (1u << 20) /* bytes per read while hashing or spooling */

/* The one message for each reason an input cannot be opened. */
static int input_error(int e, const char *name)
{
    if (e == ENOENT || e == ENOTDIR)
        return hark_error_set(HARK_ENOTFOUND, "%s: no such file", name);
    if (e == EACCES || e == EPERM)
        return hark_error_set(HARK_EIO, "%s: permission denied", name);
    if (e == EISDIR)
        return hark_error_set(HARK_EIO, "%s: is a directory", name);
    return hark_error_set(HARK_EIO, "%s: cannot open: %s", name, strerror(e));
}

int hark__file_check_input(const char *path, const char *name)
{
    struct stat st;
    HARK_ASSERT_ARG(path && name);
    if (strcmp(path, "-") == 0)
        return 0;
    if (stat(path, &st) != 0)
        return input_error(errno, name);
    if (S_ISDIR(st.st_mode))
        return input_error(EISDIR, name);
    return 0;
}

/* N for "/dev/fd/N", "/proc/self/fd/N" and /dev/stdin; -1 otherwise. */
static int fd_path(const char *path)
{
    const char *p = NULL;
    char *end;
    long n;
    if (strcmp(path, "/dev/stdin") == 0)
        return 0;
    if (strncmp(path, "/dev/fd/", 8) == 0)
        p = path + 8;
    else if (strncmp(path, "/proc/self/fd/", 14) == 0)
        p = path + 14;
    if (!p || *p < '0' || *p > '9')
        return -1;
    errno = 0;
    n = strtol(p, &end, 10);
    return *end || errno || n > INT_MAX ? -1 : (int)n;
}

int hark__file_open_read(int *fd_out, int *regular_out, const char *path, const char *name)
{
    struct stat st;
    int fd = -1, rc = 0, n;

    HARK_ASSERT_ARG(fd_out && regular_out && path && name);
    *fd_out = -1;
    *regular_out = 0;
    if (strcmp(path, "-") == 0) {
        fd = fcntl(0, F_DUPFD_CLOEXEC, 3);
        if (fd < 0) {
            rc = hark_error_set(HARK_EIO, "%s: %s", name, strerror(errno));
            goto out;
        }
    } else {
        fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
            int e = errno;
            n = e == ENXIO ? fd_path(path) : -1; /* a socket under /dev/fd cannot be opened */
            if (n >= 0 && (fd = fcntl(n, F_DUPFD_CLOEXEC, 3)) < 0)
                e = errno;
            if (fd < 0) {
                rc = input_error(e, name);
                goto out;
            }
        } else if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
            rc = hark_error_set(HARK_EIO, "%s: %s", name, strerror(errno));
            goto out;
        }
    }
    if (fstat(fd, &st) != 0) {
        rc = hark_error_set(HARK_EIO, "%s: %s", name, strerror(errno));
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = input_error(EISDIR, name);
        goto out;
    }
    *regular_out = S_ISREG(st.st_mode);
    *fd_out = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

int64_t hark__file_read(int fd, void *buf, size_t n, const char *name, int (*abort)(void *),
                        void *payload)
{
    for (;;) {
        struct pollfd p;
        ssize_t r;
        int ready;
        if (abort && abort(payload))
            return hark_error_set(HARK_ECANCELED, "%s: interrupted", name);
        p.fd = fd;
        p.events = POLLIN;
        p.revents = 0;
        ready = poll(&p, 1, POLL_MS);
        if (ready < 0 && errno != EINTR)
            return hark_error_set(HARK_EIO, "%s: %s", name, strerror(errno));
        if (ready <= 0)
            continue; /* timed out or interrupted: ask abort again */
        r = read(fd, buf, n);
        if (r >= 0)
            return (int64_t)r;
        if (errno != EINTR && errno != EAGAIN)
            return hark_error_set(HARK_EIO, "%s: read error: %s", name, strerror(errno));
    }
}

int hark__file_hash(int fd, const char *name, hark_sha256 *hash, uint64_t *bytes,
                    int (*abort)(void *), void *payload)
{
    unsigned char *buf = hark__malloc(COPY_BLOCK);
    uint64_t total = 0;
    int rc = 0;

    if (!buf)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    for (;;) {
        int64_t n = hark__file_read(fd, buf, COPY_BLOCK, name, abort, payload);
        if (n < 0) {
            rc = (int)n;
            break;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
        if ((rc = hark_sha256_update(hash, buf, (size_t)n)) < 0)
            break;
    }
    hark__free(buf);
    if (bytes)
        *bytes = total;
    return rc;
}

static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int hark__file_spool(int *fd_out, uint64_t *bytes_out, int in, const char *name, hark_sha256 *hash,
                     int (*abort)(void *), void *payload)
{
    const char *dir = getenv("TMPDIR");
    hark_buf tmpl = HARK_BUF_INIT;
    unsigned char *buf = NULL;
    uint64_t total = 0;
    int fd = -1, rc;

    HARK_ASSERT_ARG(fd_out && name);
    *fd_out = -1;
    if (!dir || dir[0] != '/')
        dir = "/tmp";
    if ((rc = hark_buf_printf(&tmpl, "%s/hark-spool-XXXXXX", dir)) < 0)
        goto out;
    buf = hark__malloc(COPY_BLOCK);
    HARK_ALLOC_CHECK(buf, rc, out);
    fd = mkstemp(tmpl.ptr);
    if (fd < 0) {
        rc = hark_error_set(errno == ENOSPC ? HARK_ENOSPC : HARK_EIO,
                            "%s: cannot create a temporary copy in %s: %s", name, dir,
                            strerror(errno));
        goto out;
    }
    unlink(tmpl.ptr); /* anonymous from now on: nothing to clean up, even after kill -9 */
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
        rc = hark_error_set(HARK_EIO, "%s: %s", name, strerror(errno));
        goto out;
    }
    for (;;) {
        int64_t n = hark__file_read(in, buf, COPY_BLOCK, name, abort, payload);
        if (n < 0) {
            rc = (int)n;
            goto out;
        }
        if (n == 0)
            break;
        if (hash && (rc = hark_sha256_update(hash, buf, (size_t)n)) < 0)
            goto out;
        if (write_all(fd, buf, (size_t)n) != 0) {
            rc = hark_error_set(errno == ENOSPC ? HARK_ENOSPC : HARK_EIO,
                                "%s: cannot keep a temporary copy in %s: %s", name, dir,
                                strerror(errno));
            goto out;
        }
        total += (uint64_t)n;
    }
    if (lseek(fd, 0, SEEK_SET) != 0) {
        rc = hark_error_set(HARK_EIO, "%s: %s", name, strerror(errno));
        goto out;
    }
    if (bytes_out)
        *bytes_out = total;
    *fd_out = fd;
    fd = -1;
out:
    if (fd >= 0)
        close(fd);
    hark__free(buf);
    hark_buf_dispose(&tmpl);
    return rc;
}

/* 8 characters of [a-z0-9] from the kernel's generator (the clock if that fails). */
static void random_suffix(char out[9])
{
    static const char digits[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char r[8];
    size_t i;
    if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        uint64_t x = hark__now_ns() ^ ((uint64_t)getpid() << 32);
        for (i = 0; i < sizeof(r); i++, x >>= 8)
            r[i] = (unsigned char)(x * 0x9e3779b97f4a7c15ull >> 56) ^ (unsigned char)x;
    }
    for (i = 0; i < 8; i++)
        out[i] = digits[r[i] % (sizeof(digits) - 1)];
    out[8] = '\0';
}

int hark__file_write_atomic(const char *path, const void *data, size_t len)
{
    hark_buf tmp = HARK_BUF_INIT;
    const char *slash, *base;
    size_t dir_len;
    int fd = -1, created = 0, rc = 0, tries, e;

    HARK_ASSERT_ARG(path && (data || len == 0));
    slash = strrchr(path, '/');
    base = slash ? slash + 1 : path;
    dir_len = slash ? (size_t)(slash - path) + 1 : 0; /* with the slash */
    if (!*base)
        return hark_error_set(HARK_EINVAL, "%s: not a file name", path);
    for (tries = 0; tries < 100; tries++) {
        char suffix[9];
        random_suffix(suffix);
        hark_buf_clear(&tmp);
        if (strlen(base) + 10 <= NAME_MAX) /* "." + base + "." + 8 characters */
            rc = hark_buf_printf(&tmp, "%.*s.%s.%s", (int)dir_len, path, base, suffix);
        else
            rc = hark_buf_printf(&tmp, "%.*s.hark-%s", (int)dir_len, path, suffix);
        if (rc < 0)
            goto out;
        fd = open(tmp.ptr, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            break;
    }
    if (fd < 0) {
        e = errno;
        rc = hark_error_set(e == ENOSPC   ? HARK_ENOSPC
                            : e == ENOENT ? HARK_ENOTFOUND
                                          : HARK_EIO,
                            "%s: cannot create: %s", path, strerror(e));
        goto out;
    }
    created = 1;
    if (write_all(fd, data, len) != 0 || fsync(fd) != 0) {
        e = errno;
        rc = hark_error_set(e == ENOSPC ? HARK_ENOSPC : HARK_EIO, "%s: %s", path, strerror(e));
        goto out;
    }
    e = close(fd) == 0 ? 0 : errno;
    fd = -1;
    if (e == 0 && rename(tmp.ptr, path) != 0)
        e = errno;
    if (e) {
        rc = hark_error_set(e == ENOSPC ? HARK_ENOSPC : HARK_EIO, "%s: %s", path, strerror(e));
        goto out;
    }
    created = 0; /* renamed: nothing to remove */
out:
    if (fd >= 0)
        close(fd);
    if (created)
        unlink(tmp.ptr);
    hark_buf_dispose(&tmp);
    return rc;
}

int hark__file_create_private(const char *path)
{
    int fd, rc = 0;
    HARK_ASSERT_ARG(path);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        if (e == EEXIST)
            return 0;
        return hark_error_set(e == EACCES || e == EPERM || e == EROFS ? HARK_EREADONLY
                              : e == ENOSPC                           ? HARK_ENOSPC
                              : e == ENOENT                           ? HARK_ENOTFOUND
                                                                      : HARK_EIO,
                              "%s: cannot create: %s", path, strerror(e));
    }
    if (fchmod(fd, 0600) != 0) /* exactly 0600, also under a umask such as 0277 */
        rc = hark_error_set(HARK_EIO, "%s: %s", path, strerror(errno));
    close(fd);
    return rc;
}
