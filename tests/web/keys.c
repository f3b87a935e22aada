/*
 * keys.c: API keys for the browser tests (tests/web/ui.test.mjs), straight
 * into a store, as an administrator's tool would:
 *
 *   hark_web_keys DB create USER ADMIN(0|1)   prints "<id> <token>"
 *   hark_web_keys DB revoke ID
 *
 * Exit status 0 on success, 1 with the library's message otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hark/hark.h"

int main(int argc, char **argv)
{
    hark_store *st = NULL;
    hark_user *u = NULL;
    int64_t uid = 0, kid = 0;
    char token[HARK_KEY_TOKEN_LEN + 1], prefix[HARK_KEY_PREFIX_LEN + 1];
    uint8_t digest[32];
    int rc = 1;

    if (argc < 4 || (strcmp(argv[2], "create") == 0 && argc < 5)) {
        fprintf(stderr, "usage: hark_web_keys DB create USER ADMIN | hark_web_keys DB revoke ID\n");
        return 2;
    }
    if (hark_store_open(&st, argv[1]) < 0)
        goto out;
    if (strcmp(argv[2], "create") == 0) {
        if (hark_store_user_find(st, argv[3], &u) == 0)
            uid = u->id;
        else if (hark_store_user_create(st, argv[3], &uid) < 0)
            goto out;
        if (hark_key_generate(token, digest) < 0)
            goto out;
        memcpy(prefix, token, HARK_KEY_PREFIX_LEN);
        prefix[HARK_KEY_PREFIX_LEN] = '\0';
        if (hark_store_key_create(st, uid, "web test", argv[4][0] == '1', digest, prefix, &kid) < 0)
            goto out;
        printf("%lld %s\n", (long long)kid, token);
    } else if (strcmp(argv[2], "revoke") == 0) {
        if (hark_store_key_revoke(st, strtoll(argv[3], NULL, 10)) < 0)
            goto out;
    } else {
        fprintf(stderr, "unknown command %s\n", argv[2]);
        goto out;
    }
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "hark_web_keys: %s\n", hark_error_last());
    hark_user_free(u);
    hark_store_free(st);
    return rc;
}
