/*
 * models_digest.c: SHA-1 + SHA-256 of model files, and the comparison with
 * published checksums.
 *
 * whisper.cpp publishes SHA-1 sums of its model files; Hugging Face's LFS
 * object ids are SHA-256 sums. A known SHA-256 pins the file completely, so
 * it is what gets checked; SHA-1 is computed (in the same pass, libcrypto
 * EVP) only for a file whose SHA-256 is unknown, because it costs as much
 * again (bench/bench_models.c: ratio 2.0). Comparisons are case-insensitive
 * on hex digits.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "models.h"
#include "../util/util.h"

#define BLOCK (1u << 20)

void hark__models_digest_dispose(hark__models_digest *d)
{
    if (!d)
        return;
    EVP_MD_CTX_free(d->sha1);
    EVP_MD_CTX_free(d->sha256);
    d->sha1 = d->sha256 = NULL;
}

int hark__models_digest_init(hark__models_digest *d, int with_sha1)
{
    EVP_MD_CTX *a = with_sha1 ? EVP_MD_CTX_new() : NULL, *b = EVP_MD_CTX_new();
    hark__models_digest_dispose(d);
    d->sha1 = a;
    d->sha256 = b;
    if ((with_sha1 && !a) || !b) {
        hark__models_digest_dispose(d);
        return hark_error_set(HARK_ENOMEM, "out of memory");
    }
    if ((a && EVP_DigestInit_ex(a, EVP_sha1(), NULL) != 1) ||
        EVP_DigestInit_ex(b, EVP_sha256(), NULL) != 1) {
        hark__models_digest_dispose(d);
        return hark_error_set(HARK_EIO, "cannot initialise SHA-1/SHA-256 digests");
    }
    return 0;
}

int hark__models_digest_update(hark__models_digest *d, const void *data, size_t len)
{
    if (len && ((d->sha1 && EVP_DigestUpdate(d->sha1, data, len) != 1) ||
                EVP_DigestUpdate(d->sha256, data, len) != 1))
        return hark_error_set(HARK_EIO, "digest update failed");
    return 0;
}

int hark__models_digest_final(hark__models_digest *d, char *sha1, char *sha256)
{
    uint8_t a[EVP_MAX_MD_SIZE], b[EVP_MAX_MD_SIZE];
    unsigned na = 0, nb = 0;
    int ok = (!d->sha1 || (EVP_DigestFinal_ex(d->sha1, a, &na) == 1 && na == 20)) && d->sha256 &&
             EVP_DigestFinal_ex(d->sha256, b, &nb) == 1 && nb == 32;
    sha1[0] = '\0';
    if (ok && d->sha1)
        hark_hex(sha1, a, 20);
    hark__models_digest_dispose(d);
    if (!ok)
        return hark_error_set(HARK_EIO, "digest computation failed");
    hark_hex(sha256, b, 32);
    return 0;
}

int hark__models_digest_fd(hark__models_digest *d, int fd, uint64_t len, const char *what,
                           int (*abort)(void *), void *payload)
{
    uint8_t *buf = hark__malloc(BLOCK);
    uint64_t off = 0;
    int rc = 0;

    HARK_ALLOC_CHECK(buf, rc, out);
    while (off < len) {
        size_t want = (size_t)HARK_MIN((uint64_t)BLOCK, len - off);
        ssize_t n;
        if (abort && abort(payload)) {
            rc = hark_error_set(HARK_ECANCELED, "%s: checksum computation canceled", what);
            goto out;
        }
        n = pread(fd, buf, want, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = hark_error_set(HARK_EIO, "%s: %s", what,
                                n < 0 ? strerror(errno) : "the file shrank while being hashed");
            goto out;
        }
        if ((rc = hark__models_digest_update(d, buf, (size_t)n)) < 0)
            goto out;
        off += (uint64_t)n;
    }
out:
    hark__free(buf);
    return rc;
}

hark_model_checksum hark__models_compare(uint64_t size, const char *sha1, const char *sha256,
                                         uint64_t exp_size, const char *exp_sha1,
                                         const char *exp_sha256, hark_buf *why)
{
    if (exp_size && size != exp_size) {
        if (why)
            hark_buf_printf(why, "size is %llu bytes, expected %llu", (unsigned long long)size,
                            (unsigned long long)exp_size);
        return HARK_MODEL_CHECKSUM_MISMATCH;
    }
    if (exp_sha256) {
        if (hark__strcasecmp(sha256, exp_sha256) == 0)
            return HARK_MODEL_CHECKSUM_OK;
        if (why)
            hark_buf_printf(why, "SHA-256 is %s, expected %s", sha256, exp_sha256);
        return HARK_MODEL_CHECKSUM_MISMATCH;
    }
    if (exp_sha1) {
        if (sha1[0] && hark__strcasecmp(sha1, exp_sha1) == 0)
            return HARK_MODEL_CHECKSUM_OK;
        if (why)
            hark_buf_printf(why, "SHA-1 is %s, expected %s", sha1[0] ? sha1 : "not computed",
                            exp_sha1);
        return HARK_MODEL_CHECKSUM_MISMATCH;
    }
    return HARK_MODEL_CHECKSUM_NONE;
}
