/*
 * models_list.c: what is in the models directory (hark_models_list) and
 * removing a model (hark_models_rm).
 *
 * A model is known by its file, ggml-<name>.bin; an unfinished download is
 * ggml-<name>.bin.part next to it. The list merges both by name, checks each
 * file's structure (cheap: headers only) and, on request, hashes it and
 * compares with the catalog. Files whose names are not valid model names are
 * ignored, so every listed name can be passed to pull, path and rm.
 *
 * rm refuses (HARK_EBUSY) while a pull holds the lock on the .part file, so
 * it cannot pull the file from under a running download.
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "models.h"
#include "../util/util.h"

void hark_models_list_free(hark_model_file *files, size_t count)
{
    size_t i;
    if (!files)
        return;
    for (i = 0; i < count; i++) {
        hark__free(files[i].name);
        hark__free(files[i].path);
        hark__free(files[i].problem);
    }
    hark__free(files);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const hark_model_file *)a)->name, ((const hark_model_file *)b)->name);
}

/* The entry for bare name [name, name+len), appended if new. */
static int entry_for(hark_model_file **files, size_t *n, size_t *cap, const char *name, size_t len,
                     hark_model_file **out)
{
    size_t i;
    for (i = 0; i < *n; i++)
        if (strlen((*files)[i].name) == len && memcmp((*files)[i].name, name, len) == 0) {
            *out = &(*files)[i];
            return 0;
        }
    if (*n == *cap) {
        size_t ncap = *cap ? *cap * 2 : 16;
        hark_model_file *p = hark__reallocarray(*files, ncap, sizeof(**files));
        if (!p)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        *files = p;
        *cap = ncap;
    }
    *out = &(*files)[(*n)++];
    memset(*out, 0, sizeof(**out));
    (*out)->name = hark__strndup(name, len);
    if (!(*out)->name)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    (*out)->info = hark__models_catalog_findn(name, len);
    return 0;
}

/* Hash the file and compare with the catalog. */
static int verify(hark_model_file *f)
{
    hark__models_digest d = HARK__MODELS_DIGEST_INIT;
    int fd = -1, rc;
    if ((fd = open(f->path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = hark_error_set(HARK_EIO, "cannot open %s: %s", f->path, strerror(errno));
        goto out;
    }
    if ((rc = hark__models_digest_init(&d, f->info && f->info->sha1 && !f->info->sha256)) < 0 ||
        (rc = hark__models_digest_fd(&d, fd, f->size, f->path, NULL, NULL)) < 0 ||
        (rc = hark__models_digest_final(&d, f->sha1, f->sha256)) < 0)
        goto out;
    f->checksum = f->info ? hark__models_compare(f->size, f->sha1, f->sha256, f->info->size,
                                                 f->info->sha1, f->info->sha256, NULL)
                          : HARK_MODEL_CHECKSUM_NONE;
out:
    hark__models_digest_dispose(&d);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Fill one entry from the file system. */
static int examine(hark_model_file *f, const char *dir, unsigned flags)
{
    hark_buf part = HARK_BUF_INIT;
    struct stat st;
    int rc;

    if ((rc = hark_buf_printf(&part, "%s/ggml-%s.bin", dir, f->name)) < 0)
        goto out;
    if (!(f->path = hark__strdup(part.ptr))) {
        rc = hark_error_set(HARK_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = hark_buf_puts(&part, ".part")) < 0)
        goto out;
    if (stat(part.ptr, &st) == 0 && S_ISREG(st.st_mode))
        f->partial_size = (uint64_t)st.st_size;
    if (stat(f->path, &st) != 0 || !S_ISREG(st.st_mode)) {
        f->installed = 0;
        goto out;
    }
    f->installed = 1;
    f->size = (uint64_t)st.st_size;
    if (hark_model_inspect(&f->header, f->path) == 0) {
        f->valid = 1;
    } else {
        /* the message is "<path>: <reason>"; keep the reason */
        const char *msg = hark_error_last();
        size_t plen = strlen(f->path);
        if (strncmp(msg, f->path, plen) == 0 && strncmp(msg + plen, ": ", 2) == 0)
            msg += plen + 2;
        if (!(f->problem = hark__strdup(msg))) {
            rc = hark_error_set(HARK_ENOMEM, "out of memory");
            goto out;
        }
    }
    if (f->info && f->info->size && f->size != f->info->size)
        f->checksum = HARK_MODEL_CHECKSUM_MISMATCH; /* a different file: no need to hash */
    else if (flags & HARK_MODELS_LIST_VERIFY)
        rc = verify(f);
out:
    hark_buf_dispose(&part);
    return rc;
}

int hark_models_list(hark_model_file **out, size_t *count, unsigned flags)
{
    hark_buf dir = HARK_BUF_INIT;
    hark_model_file *files = NULL;
    size_t n = 0, cap = 0, i;
    DIR *d = NULL;
    struct dirent *e;
    int rc;

    HARK_ASSERT_ARG(out && count);
    *out = NULL;
    *count = 0;
    if ((rc = hark__models_dir(&dir)) < 0)
        goto out;
    if (!(d = opendir(dir.ptr))) {
        rc = errno == ENOENT || errno == ENOTDIR
                 ? 0
                 : hark_error_set(HARK_EIO, "cannot read %s: %s", dir.ptr, strerror(errno));
        goto out;
    }
    while ((e = readdir(d)) != NULL) {
        const char *f = e->d_name;
        size_t len = strlen(f), stem;
        hark_model_file *entry;
        if (strncmp(f, "ggml-", 5) != 0)
            continue;
        if (len > 10 && strcmp(f + len - 9, ".bin.part") == 0)
            stem = len - 9;
        else if (len > 9 && strcmp(f + len - 4, ".bin") == 0)
            stem = len - 4;
        else
            continue;
        if (hark__models_check_name(f + 5, stem - 5, f) < 0)
            continue;
        if ((rc = entry_for(&files, &n, &cap, f + 5, stem - 5, &entry)) < 0)
            goto out;
    }
    hark_error_clear();
    for (i = 0; i < n; i++)
        if ((rc = examine(&files[i], dir.ptr, flags)) < 0)
            goto out;
    if (n > 1)
        qsort(files, n, sizeof(*files), by_name);
    *out = files;
    *count = n;
    files = NULL;
    rc = 0;
out:
    hark_models_list_free(files, n);
    if (d)
        closedir(d);
    hark_buf_dispose(&dir);
    return rc;
}

/* Unlink `path` if it exists, adding its size to *freed; 1 if it existed. */
static int remove_file(const char *path, uint64_t *freed, int *existed)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        return hark_error_set(HARK_EIO, "cannot remove %s: %s", path, strerror(errno));
    }
    if (unlink(path) != 0)
        return hark_error_set(HARK_EIO, "cannot remove %s: %s", path, strerror(errno));
    *freed += S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    *existed = 1;
    return 0;
}

int hark_models_rm(uint64_t *freed_out, const char *name)
{
    hark_buf path = HARK_BUF_INIT, part = HARK_BUF_INIT;
    const char *bare;
    size_t len;
    uint64_t freed = 0;
    int rc, existed = 0, fd = -1;

    HARK_ASSERT_ARG(name);
    if (freed_out)
        *freed_out = 0;
    bare = hark__models_bare_name(name, &len);
    if ((rc = hark__models_check_name(bare, len, name)) < 0)
        goto out;
    if ((rc = hark__models_file_path(&path, bare, len)) < 0 ||
        (rc = hark_buf_printf(&part, "%s.part", path.ptr)) < 0)
        goto out;
    fd = open(part.ptr, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK) {
        rc = hark_error_set(HARK_EBUSY, "model '%.*s' is being downloaded right now (%s is locked)",
                            (int)len, bare, part.ptr);
        goto out;
    }
    if ((rc = remove_file(path.ptr, &freed, &existed)) < 0 ||
        (rc = remove_file(part.ptr, &freed, &existed)) < 0)
        goto out;
    if (!existed) {
        rc = hark_error_set(HARK_ENOTFOUND, "model '%.*s' is not installed (no %s)", (int)len, bare,
                            path.ptr);
        goto out;
    }
    if (freed_out)
        *freed_out = freed;
out:
    if (fd >= 0)
        close(fd);
    hark_buf_dispose(&path);
    hark_buf_dispose(&part);
    return rc;
}
