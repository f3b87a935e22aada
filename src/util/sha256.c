/*
 * sha256.c: SHA-256 through OpenSSL's libcrypto (EVP), which uses the CPU's
 * SHA extensions where present.
 */
#include <openssl/evp.h>

#include "util.h"

int hark_sha256_init(hark_sha256 *h)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return hark_error_set(HARK_EIO, "sha256: cannot initialise digest");
    }
    h->ctx = ctx;
    return 0;
}

int hark_sha256_update(hark_sha256 *h, const void *data, size_t len)
{
    if (len && EVP_DigestUpdate(h->ctx, data, len) != 1)
        return hark_error_set(HARK_EIO, "sha256: digest update failed");
    return 0;
}

int hark_sha256_final(hark_sha256 *h, uint8_t out[HARK_SHA256_LEN])
{
    unsigned n = 0;
    int ok = EVP_DigestFinal_ex(h->ctx, out, &n) == 1 && n == HARK_SHA256_LEN;
    hark_sha256_dispose(h);
    return ok ? 0 : hark_error_set(HARK_EIO, "sha256: digest failed");
}

void hark_sha256_dispose(hark_sha256 *h)
{
    if (h && h->ctx) {
        EVP_MD_CTX_free(h->ctx);
        h->ctx = NULL;
    }
}

int hark_sha256_buf(uint8_t out[HARK_SHA256_LEN], const void *data, size_t len)
{
    hark_sha256 h = { NULL };
    int rc;
    if ((rc = hark_sha256_init(&h)) < 0)
        return rc;
    if ((rc = hark_sha256_update(&h, data, len)) < 0) {
        hark_sha256_dispose(&h);
        return rc;
    }
    return hark_sha256_final(&h, out);
}

void hark_hex(char *out, const uint8_t *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < len; i++) {
        out[2 * i] = digits[data[i] >> 4];
        out[2 * i + 1] = digits[data[i] & 15];
    }
    out[2 * len] = '\0';
}
