/*
 * models.c: model directory and name resolution (see models.h), and the
 * name rules shared by list, pull and rm: a model is the file
 * <models dir>/ggml-<name>.bin, and a name is a plain file-name fragment, so
 * that no name can reach outside the models directory.
 */
#define _DEFAULT_SOURCE
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "models.h"
#include "../util/util.h"

int hark__models_dir(hark_buf *out)
{
    const char *env = getenv("HARK_MODELS_DIR");
    const char *xdg = getenv("XDG_DATA_HOME");
    const char *home = getenv("HOME");
    if (env && *env)
        return hark_buf_puts(out, env);
    if (xdg && *xdg)
        return hark_buf_printf(out, "%s/hark/models", xdg);
    if (home && *home)
        return hark_buf_printf(out, "%s/.local/share/hark/models", home);
    return hark_error_set(HARK_ENOTFOUND, "cannot locate the models directory: HOME is not set");
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* <dir>/ggml-<name>.bin, accepting names given with or without "ggml-" and ".bin" */
static int name_to_path(const char *name, hark_buf *out)
{
    size_t len = strlen(name);
    const char *prefix = strncmp(name, "ggml-", 5) == 0 ? "" : "ggml-";
    const char *suffix = len > 4 && strcmp(name + len - 4, ".bin") == 0 ? "" : ".bin";
    int rc = hark__models_dir(out);
    if (rc < 0)
        return rc;
    return hark_buf_printf(out, "/%s%s%s", prefix, name, suffix);
}

int hark__model_resolve(const char *name, hark_buf *path_out)
{
    hark_buf p = HARK_BUF_INIT;
    int rc;
    if (!name || !*name)
        return hark__model_default(path_out);
    if (is_file(name) || strchr(name, '/'))
        return is_file(name) ? hark_buf_puts(path_out, name)
                             : hark_error_set(HARK_ENOTFOUND, "model file %s not found", name);
    if ((rc = name_to_path(name, &p)) < 0)
        goto out;
    if (!is_file(p.ptr)) {
        rc = hark_error_set(HARK_ENOTFOUND,
                            "model '%s' is not installed (looked for %s); get it with: hark models "
                            "pull %s",
                            name, p.ptr, name);
        goto out;
    }
    rc = hark_buf_put(path_out, p.ptr, p.len);
out:
    hark_buf_dispose(&p);
    return rc;
}

/* clang-format off */
static const char *const preferred[] = {
    "base.en",
    "base",
    "small.en",
    "small",
    "tiny.en",
    "tiny",
    "medium.en",
    "medium",
    "large-v3",
    "base.en-q8_0",
    "base.en-q5_1",
    "base-q8_0",
    "base-q5_1",
    "small.en-q8_0",
    "small.en-q5_1",
    "small-q8_0",
    "small-q5_1",
    "tiny.en-q8_0",
    "tiny.en-q5_1",
    "tiny-q8_0",
    "tiny-q5_1",
    "medium.en-q5_0",
    "medium-q5_0",
    "large-v3-q5_0",
    "large-v3-turbo",
    "large-v3-turbo-q5_0",
    "large-v3-turbo-q8_0",
};
/* clang-format on */

int hark__model_default(hark_buf *path_out)
{
    hark_buf p = HARK_BUF_INIT, dir = HARK_BUF_INIT;
    struct dirent **names = NULL;
    int rc = 0, n = 0, i;
    size_t k;

    for (k = 0; k < HARK_ARRAY_SIZE(preferred); k++) {
        hark_buf_clear(&p);
        if ((rc = name_to_path(preferred[k], &p)) < 0)
            goto out;
        if (is_file(p.ptr)) {
            rc = hark_buf_put(path_out, p.ptr, p.len);
            goto out;
        }
    }
    if ((rc = hark__models_dir(&dir)) < 0)
        goto out;
    n = scandir(dir.ptr, &names, NULL, alphasort);
    for (i = 0; i < n; i++) {
        const char *f = names[i]->d_name;
        size_t len = strlen(f);
        if (strncmp(f, "ggml-", 5) == 0 && len > 9 && strcmp(f + len - 4, ".bin") == 0) {
            hark_buf_clear(&p);
            if ((rc = hark_buf_printf(&p, "%s/%s", dir.ptr, f)) < 0)
                goto out;
            if (is_file(p.ptr)) {
                rc = hark_buf_put(path_out, p.ptr, p.len);
                goto out;
            }
        }
    }
    rc = hark_error_set(HARK_ENOTFOUND, "no Whisper model installed in %s", dir.ptr);
out:
    for (i = 0; i < n; i++)
        free(names[i]); /* libc */
    free(names);        /* libc: scandir's memory */
    hark_buf_dispose(&p);
    hark_buf_dispose(&dir);
    return rc;
}

const char *hark__models_bare_name(const char *name, size_t *len)
{
    size_t n = strlen(name);
    if (n > 5 && strncmp(name, "ggml-", 5) == 0) {
        name += 5;
        n -= 5;
    }
    if (n > 4 && strcmp(name + n - 4, ".bin") == 0)
        n -= 4;
    *len = n;
    return name;
}

int hark__models_check_name(const char *bare, size_t len, const char *given)
{
    size_t i;
    int ok = len > 0 && len <= 128 && bare[0] != '.' && bare[0] != '-';
    for (i = 0; ok && i < len; i++) {
        char c = bare[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '-' || c == '_';
    }
    if (!ok)
        return hark_error_set(HARK_EINVAL,
                              "invalid model name '%s': use a name like base.en or "
                              "large-v3-turbo-q5_0 (letters, digits, '.', '-', '_')",
                              given ? given : "");
    return 0;
}

int hark_models_check_name(const char *name)
{
    const char *bare;
    size_t len;
    if (!name)
        return hark_error_set(HARK_EINVAL, "no model name");
    bare = hark__models_bare_name(name, &len);
    return hark__models_check_name(bare, len, name);
}

int hark__models_file_path(hark_buf *out, const char *bare, size_t len)
{
    int rc = hark__models_dir(out);
    if (rc < 0)
        return rc;
    return hark_buf_printf(out, "/ggml-%.*s.bin", (int)len, bare);
}

int hark_models_dir(hark_buf *out)
{
    HARK_ASSERT_ARG(out);
    return hark__models_dir(out);
}

int hark_models_path(hark_buf *out, const char *name)
{
    HARK_ASSERT_ARG(out);
    return hark__model_resolve(name, out);
}
