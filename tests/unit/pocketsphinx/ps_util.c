/* Helpers for the PocketSphinx engine tests (see ps_util.h). */
#include <fcntl.h>
#include <unistd.h>

#include "harness.h"
#include "ps_util.h"
#include "asr/asr.h"

float *ps_read_wav(const char *path, size_t *n)
{
    float *pcm = NULL;
    ASSERT_OK(hark_audio_load(&pcm, n, path));
    ASSERT_MSG(pcm != NULL, "%s: no samples", path);
    return pcm;
}

int ps_fixture_open(ps_fixture *f, const char *model)
{
    hark_engine_options eo = HARK_ENGINE_OPTIONS_INIT;
    int rc;
    memset(f, 0, sizeof(*f));
    eo.model = model;
    if ((rc = hark_engine_open(&f->engine, "pocketsphinx", &eo)) < 0)
        return rc;
    f->ops = hark__engine_ops(f->engine);
    if ((rc = hark__engine_acquire(f->engine, &f->model)) < 0)
        f->model = NULL;
    return rc;
}

void ps_fixture_close(ps_fixture *f)
{
    if (f->model)
        hark__engine_release(f->engine);
    hark_engine_free(f->engine);
    memset(f, 0, sizeof(*f));
}

int ps_run(ps_fixture *f, void *state, const float *pcm, size_t n, const char *language,
           int (*abort_fn)(void *), void *payload, hark_transcript **out)
{
    hark_decode_options opts;
    hark_engine_job job;
    int rc;

    hark_decode_options_default(&opts);
    opts.language = language;
    memset(&job, 0, sizeof(job));
    job.pcm = pcm;
    job.n = n;
    job.n_threads = 1;
    job.opts = &opts;
    job.abort = abort_fn;
    job.payload = payload;
    ASSERT_OK(hark_transcript_new(out));
    rc = f->ops->transcribe(state, &job, *out);
    return rc;
}

char *ps_words(const hark_transcript *t)
{
    size_t i, j, cap = 1, len = 0;
    char *s;
    for (i = 0; i < hark_transcript_count(t); i++) {
        const hark_segment *seg = hark_transcript_segment(t, i);
        for (j = 0; j < seg->n_words; j++)
            cap += strlen(seg->words[j].text) + 1;
    }
    s = malloc(cap);
    ASSERT(s != NULL);
    s[0] = '\0';
    for (i = 0; i < hark_transcript_count(t); i++) {
        const hark_segment *seg = hark_transcript_segment(t, i);
        for (j = 0; j < seg->n_words; j++)
            len += (size_t)sprintf(s + len, "%s%s", len ? " " : "", seg->words[j].text);
    }
    return s;
}

void ps_assert_same(const hark_transcript *a, const hark_transcript *b)
{
    size_t i, j;
    ASSERT_EQ(hark_transcript_count(a), hark_transcript_count(b));
    for (i = 0; i < hark_transcript_count(a); i++) {
        const hark_segment *x = hark_transcript_segment(a, i), *y = hark_transcript_segment(b, i);
        ASSERT_STREQ(x->text, y->text);
        ASSERT_EQ(x->start, y->start);
        ASSERT_EQ(x->end, y->end);
        ASSERT_EQ(x->n_words, y->n_words);
        ASSERT(x->confidence == y->confidence);
        for (j = 0; j < x->n_words; j++) {
            ASSERT_STREQ(x->words[j].text, y->words[j].text);
            ASSERT_EQ(x->words[j].start, y->words[j].start);
            ASSERT_EQ(x->words[j].end, y->words[j].end);
            ASSERT(x->words[j].p == y->words[j].p);
        }
    }
}

static int saved_fd = -1;
static char capture_path[1024];

void ps_stderr_begin(void)
{
    int fd;
    snprintf(capture_path, sizeof(capture_path), "%s", harness_path("stderr.txt"));
    fflush(stderr);
    fd = open(capture_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ASSERT(fd >= 0);
    saved_fd = dup(2);
    ASSERT(saved_fd >= 0);
    ASSERT(dup2(fd, 2) == 2);
    close(fd);
}

char *ps_stderr_end(void)
{
    size_t len = 0;
    char *text;
    fflush(stderr);
    ASSERT(saved_fd >= 0);
    ASSERT(dup2(saved_fd, 2) == 2);
    close(saved_fd);
    saved_fd = -1;
    text = harness_read_file(capture_path, &len);
    ASSERT(text != NULL);
    return text;
}
