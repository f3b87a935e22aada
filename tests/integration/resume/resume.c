/*
 * kill -9 at random points during a long transcription, then rerun: the
 * output must be identical to an uninterrupted run, the store must hold one
 * recording with no duplicate or missing segment, the database must pass its
 * integrity check, and the rerun must resume (finished chunks come from the
 * chunk cache instead of the engine).
 */
#define _DEFAULT_SOURCE
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define SEC   16000
#define N_SEC 60
#define OPTS  "-e test -m delay=60 --no-vad --chunk-max 2 --chunk-min 1 -j 2 -f srt"

/* 60 s, a different tone every 2 s, so every chunk has its own text. */
static const char *make_audio(void)
{
    const char *path = harness_path("long.wav");
    float *pcm = malloc(sizeof(float) * N_SEC * SEC);
    int i;
    for (i = 0; i < N_SEC * SEC; i++) {
        int seg = i / (2 * SEC);
        pcm[i] = (float)(0.2 * sin(2 * M_PI * (150.0 + 37.0 * seg) * i / SEC));
    }
    ASSERT_OK(hark_wav_write(path, pcm, (size_t)N_SEC * SEC));
    free(pcm);
    return path;
}

static pid_t start(const char *wav, const char *out)
{
    char cmd[4096];
    pid_t pid;
    snprintf(cmd, sizeof(cmd), "exec %s transcribe " OPTS " '%s' > '%s' 2>>'%s'",
             harness_hark_bin(), wav, out, harness_path("err.txt"));
    pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

TEST(kill_9_at_random_points_then_a_rerun_gives_the_same_transcript)
{
    char wav[1024], partial[1024];
    char *ref, *final, *err;
    uint64_t rng = 20261123;
    hark_store *db = NULL;
    hark_list_options lo = HARK_LIST_OPTIONS_INIT;
    hark_recording_list *list = NULL;
    hark_transcript *t = NULL;
    hark_buf srt = HARK_BUF_INIT;
    int st, k;

    harness_timeout(300);
    snprintf(wav, sizeof(wav), "%s", make_audio());
    snprintf(partial, sizeof(partial), "%s", harness_path("partial.srt"));
    /* the reference: one uninterrupted run that stores and caches nothing */
    ref = harness_sh_output(&st, "%s transcribe " OPTS " --no-store --no-cache '%s' 2>/dev/null",
                            harness_hark_bin(), wav);
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(ref, "\n30\n");

    /* 30 chunks x 60 ms on 2 workers take about 1 s: kill at random moments */
    for (k = 0; k < 6; k++) {
        pid_t pid = start(wav, partial);
        unsigned ms = 80 + (unsigned)(harness_rand(&rng) % 700);
        int reaped = 0;
        usleep(ms * 1000);
        if (k == 5) { /* at least one kill after a chunk was stored, however slow the machine */
            unsigned waited = 0;
            for (;;) {
                hark_store *p = NULL;
                hark_recording_list *l = NULL;
                int stored = 0;
                if (hark_store_open(&p, NULL) == 0 && hark_store_recording_list(p, NULL, &l) == 0 &&
                    l->n)
                    stored = l->items[0].n_segments > 0 && l->items[0].status != HARK_STATUS_DONE;
                hark_recording_list_free(l);
                hark_store_free(p);
                if (stored || waited > 30000)
                    break;
                if (waitpid(pid, &st, WNOHANG) == pid) {
                    reaped = 1;
                    break;
                }
                usleep(10 * 1000);
                waited += 10;
            }
        }
        if (!reaped) {
            kill(pid, SIGKILL);
            ASSERT_EQ(waitpid(pid, &st, 0), pid);
        }
        if (WIFEXITED(st)) /* it finished before the kill: fine, nothing to resume */
            ASSERT_EQ(WEXITSTATUS(st), 0);
    }
    final = harness_sh_output(&st, "%s transcribe " OPTS " '%s' 2>>'%s'", harness_hark_bin(), wav,
                              harness_path("err.txt"));
    ASSERT_EQ(st, 0);
    ASSERT_STREQ(final, ref);
    err = harness_read_file(harness_path("err.txt"), NULL);
    ASSERT(err);
    ASSERT_CONTAINS(err, "chunks from the cache, resumed");

    /* the store: one recording, done, exactly the reference's segments */
    ASSERT_OK(hark_store_open(&db, NULL));
    ASSERT_OK(hark_store_check(db));
    ASSERT_OK(hark_store_recording_list(db, &lo, &list));
    ASSERT_EQ(list->n, 1);
    ASSERT_EQ(list->items[0].status, HARK_STATUS_DONE);
    ASSERT_EQ(list->items[0].n_segments, 30);
    ASSERT_OK(hark_store_transcript_get(db, list->items[0].id, &t));
    ASSERT_OK(hark_transcript_write(t, HARK_FORMAT_SRT, &srt));
    ASSERT_STREQ(srt.ptr, ref);

    hark_buf_dispose(&srt);
    hark_transcript_free(t);
    hark_recording_list_free(list);
    hark_store_free(db);
    free(err);
    free(final);
    free(ref);
}
