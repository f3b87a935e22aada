/*
 * local.c: installed models: list, path, rm, with HARK_MODELS_DIR pointing
 * at a fresh directory per test.
 */
#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "asr/models.h"
#include "../../fixtures/ggml_gen.h"

static const char *models_dir(void)
{
    const char *dir = harness_path("models");
    mkdir(dir, 0755);
    setenv("HARK_MODELS_DIR", dir, 1);
    return dir;
}

static void put_file(const char *dir, const char *name, const void *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    ASSERT(harness_write_file(path, data, len) == 0);
}

static void put_model(const char *dir, const char *name, hark_buf *b)
{
    ggml_gen g = ggml_gen_default();
    g.n_vocab = 1000;
    ASSERT(ggml_gen_write(b, &g) == 0);
    put_file(dir, name, b->ptr, b->len);
}

TEST(list_of_a_missing_directory_is_empty)
{
    hark_model_file *files = (hark_model_file *)1;
    size_t n = 99;
    setenv("HARK_MODELS_DIR", harness_path("does-not-exist"), 1);
    ASSERT_OK(hark_models_list(&files, &n, 0));
    ASSERT_EQ(n, 0);
    ASSERT(files == NULL);
}

TEST(list_reports_valid_invalid_and_partial_models)
{
    const char *dir = models_dir();
    hark_buf b = HARK_BUF_INIT;
    hark_model_file *f = NULL;
    size_t n = 0;
    put_model(dir, "ggml-mine.bin", &b);
    put_file(dir, "ggml-broken.bin", b.ptr, b.len / 2);  /* truncated */
    put_file(dir, "ggml-base.en.bin.part", b.ptr, 1000); /* download in progress */
    put_file(dir, "ggml-tiny.bin", b.ptr, b.len);        /* not the real tiny */
    put_file(dir, "notes.txt", "x", 1);                  /* ignored */
    put_file(dir, "ggml-bad name.bin", b.ptr, b.len);    /* not a model name: ignored */
    ASSERT_OK(hark_models_list(&f, &n, 0));
    ASSERT_EQ(n, 4);
    /* sorted by name */
    ASSERT_STREQ(f[0].name, "base.en");
    ASSERT_STREQ(f[1].name, "broken");
    ASSERT_STREQ(f[2].name, "mine");
    ASSERT_STREQ(f[3].name, "tiny");

    ASSERT_EQ(f[0].installed, 0);
    ASSERT_EQ(f[0].partial_size, 1000);
    ASSERT(f[0].info && strcmp(f[0].info->name, "base.en") == 0);

    ASSERT_EQ(f[1].installed, 1);
    ASSERT_EQ(f[1].valid, 0);
    ASSERT_CONTAINS(f[1].problem, "truncated");
    ASSERT(strstr(f[1].problem, dir) == NULL); /* the reason, not the path again */
    ASSERT(f[1].info == NULL);

    ASSERT_EQ(f[2].valid, 1);
    ASSERT(f[2].problem == NULL);
    ASSERT_EQ(f[2].size, b.len);
    ASSERT_EQ(f[2].header.n_vocab, 1000);
    ASSERT_EQ(f[2].checksum, HARK_MODEL_CHECKSUM_UNCHECKED);
    ASSERT_CONTAINS(f[2].path, "/models/ggml-mine.bin");

    /* a file named like a catalog model but of another size is known to differ without hashing */
    ASSERT_EQ(f[3].valid, 1);
    ASSERT_EQ(f[3].checksum, HARK_MODEL_CHECKSUM_MISMATCH);
    hark_models_list_free(f, n);
    hark_buf_dispose(&b);
}

TEST(list_verify_hashes_files)
{
    const char *dir = models_dir();
    hark_buf b = HARK_BUF_INIT;
    hark_model_file *f = NULL;
    size_t n = 0;
    uint8_t d[32];
    char hex[65];
    put_model(dir, "ggml-mine.bin", &b);
    ASSERT_OK(hark_models_list(&f, &n, HARK_MODELS_LIST_VERIFY));
    ASSERT_EQ(n, 1);
    ASSERT_OK(hark_sha256_buf(d, b.ptr, b.len));
    hark_hex(hex, d, 32);
    ASSERT_STREQ(f[0].sha256, hex);
    ASSERT_STREQ(f[0].sha1, ""); /* SHA-1 only when it is the only published checksum */
    ASSERT_EQ(f[0].checksum, HARK_MODEL_CHECKSUM_NONE); /* not in the catalog */
    hark_models_list_free(f, n);
    hark_buf_dispose(&b);
}

TEST(path_resolves_installed_models_only)
{
    const char *dir = models_dir();
    hark_buf b = HARK_BUF_INIT, p = HARK_BUF_INIT;
    char want[1024];
    put_model(dir, "ggml-small.en.bin", &b);
    snprintf(want, sizeof(want), "%s/ggml-small.en.bin", dir);
    ASSERT_OK(hark_models_path(&p, "small.en"));
    ASSERT_STREQ(p.ptr, want);
    hark_buf_clear(&p);
    ASSERT_OK(hark_models_path(&p, NULL)); /* the default: the only one installed */
    ASSERT_STREQ(p.ptr, want);
    hark_buf_clear(&p);
    ASSERT_ERR(hark_models_path(&p, "base.en"), HARK_ENOTFOUND);
    ASSERT_CONTAINS(hark_error_last(), "hark models pull base.en");
    hark_buf_clear(&p);
    ASSERT_OK(hark_models_dir(&p));
    ASSERT_STREQ(p.ptr, dir);
    hark_buf_dispose(&p);
    hark_buf_dispose(&b);
}

TEST(rm_removes_the_model_and_its_partial_download)
{
    const char *dir = models_dir();
    hark_buf b = HARK_BUF_INIT;
    uint64_t freed = 0;
    char path[1024];
    struct stat st;
    put_model(dir, "ggml-mine.bin", &b);
    put_file(dir, "ggml-mine.bin.part", "abc", 3);
    put_file(dir, "ggml-other.bin", "x", 1);
    ASSERT_OK(hark_models_rm(&freed, "ggml-mine.bin"));
    ASSERT_EQ(freed, b.len + 3);
    snprintf(path, sizeof(path), "%s/ggml-mine.bin", dir);
    ASSERT(stat(path, &st) != 0);
    snprintf(path, sizeof(path), "%s/ggml-mine.bin.part", dir);
    ASSERT(stat(path, &st) != 0);
    snprintf(path, sizeof(path), "%s/ggml-other.bin", dir);
    ASSERT(stat(path, &st) == 0);

    ASSERT_ERR(hark_models_rm(NULL, "mine"), HARK_ENOTFOUND);
    ASSERT_CONTAINS(hark_error_last(), "model 'mine' is not installed");
    ASSERT_ERR(hark_models_rm(NULL, "../models/ggml-other"), HARK_EINVAL);
    ASSERT(stat(path, &st) == 0);
    hark_buf_dispose(&b);
}

TEST(rm_refuses_while_a_download_holds_the_lock)
{
    const char *dir = models_dir();
    char part[1024];
    int fd;
    snprintf(part, sizeof(part), "%s/ggml-base.en.bin.part", dir);
    fd = open(part, O_RDWR | O_CREAT, 0644);
    ASSERT(fd >= 0);
    ASSERT(flock(fd, LOCK_EX) == 0);
    ASSERT_ERR(hark_models_rm(NULL, "base.en"), HARK_EBUSY);
    ASSERT_CONTAINS(hark_error_last(), "being downloaded");
    close(fd);
    ASSERT_OK(hark_models_rm(NULL, "base.en"));
}

/* Every allocation failure surfaces as HARK_ENOMEM, without a crash or a leak. */
TEST(allocation_failures_are_reported)
{
    const char *dir = models_dir();
    hark_buf b = HARK_BUF_INIT;
    char path[1024];
    uint64_t n;
    int rc = HARK_ENOMEM;
    put_model(dir, "ggml-mine.bin", &b);
    put_file(dir, "ggml-broken.bin", b.ptr, 100);
    put_file(dir, "ggml-base.en.bin.part", b.ptr, 10);
    snprintf(path, sizeof(path), "%s/ggml-mine.bin", dir);
    for (n = 1; rc != 0 && n < 1000; n++) {
        hark_model_file *f = NULL;
        size_t count = 0;
        hark__alloc_fail_at(n);
        rc = hark_models_list(&f, &count, HARK_MODELS_LIST_VERIFY);
        hark__alloc_fail_at(0);
        ASSERT_MSG(rc == 0 || rc == HARK_ENOMEM, "list, allocation %llu failing: %s",
                   (unsigned long long)n, hark_err_name(rc));
        ASSERT_EQ(count, rc == 0 ? 3 : 0);
        hark_models_list_free(f, count);
    }
    ASSERT_EQ(rc, 0);
    for (n = 1, rc = HARK_ENOMEM; rc != 0 && n < 100; n++) {
        hark_model_header h;
        hark__alloc_fail_at(n);
        rc = hark_model_inspect(&h, path);
        hark__alloc_fail_at(0);
        ASSERT(rc == 0 || rc == HARK_ENOMEM);
    }
    ASSERT_EQ(rc, 0);
    for (n = 1, rc = HARK_ENOMEM; rc != 0 && n < 100; n++) {
        hark__alloc_fail_at(n);
        rc = hark_models_rm(NULL, "mine");
        hark__alloc_fail_at(0);
        ASSERT(rc == 0 || rc == HARK_ENOMEM);
    }
    ASSERT_EQ(rc, 0);
    hark_buf_dispose(&b);
}
