/*
 * seed.c: many recordings straight into a store, for the browser test of the
 * recordings list at scale (tests/web/list10k.test.mjs):
 *
 *   hark_web_seed DB N USER    adds N recordings owned by USER (who must exist,
 *                              e.g. made by hark_web_keys); prints "<first id> <last id>"
 *
 * Each recording goes in through the public store API (hark_store_recording_create),
 * so the rows, indexes and defaults are exactly what the server itself writes. They are
 * metadata only (no audio, no transcript): the list view never reads either. Recording i
 * (0-based) is created i minutes after a fixed start, so the newest is the last one made;
 * titles vary in length (some long enough to be cut with an ellipsis) and every 50th
 * recording failed.
 *
 * Exit status 0 on success, 1 with the library's message otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hark/hark.h"

int main(int argc, char **argv)
{
    static const char *const topics[] = {
        "Team meeting",
        "Interview",
        "Lecture: signals and systems, week",
        "Voice memo",
        "Customer call about the delayed shipment and what we can offer instead, part",
        "Podcast draft",
    };
    hark_store *st = NULL;
    hark_user *u = NULL;
    int64_t first = 0, id = 0;
    long n, i;
    char title[160], source[64];
    int rc = 1;

    if (argc != 4 || (n = strtol(argv[2], NULL, 10)) <= 0) {
        fprintf(stderr, "usage: hark_web_seed DB N USER\n");
        return 2;
    }
    if (hark_store_open(&st, argv[1]) < 0 || hark_store_user_find(st, argv[3], &u) < 0)
        goto out;
    for (i = 0; i < n; i++) {
        hark_recording r = HARK_RECORDING_INIT;
        snprintf(title, sizeof(title), "%s %ld", topics[i % 6], i + 1);
        snprintf(source, sizeof(source), "seed-%05ld.wav", i + 1);
        r.title = title;
        r.source = source;
        r.duration_ms = 15000 + (i * 7919) % 3600000;
        r.engine = "test";
        r.model = "seed";
        r.language = "en";
        r.status = i % 50 == 49 ? HARK_STATUS_FAILED : HARK_STATUS_DONE;
        r.created_ms = 1767225600000LL + (int64_t)i * 60000; /* 2026-01-01, a minute apart */
        r.owner = u->id;
        if (hark_store_recording_create(st, &r, &id) < 0)
            goto out;
        if (!first)
            first = id;
    }
    printf("%lld %lld\n", (long long)first, (long long)id);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "hark_web_seed: %s\n", hark_error_last());
    hark_user_free(u);
    hark_store_free(st);
    return rc;
}
