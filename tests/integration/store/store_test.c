/*
 * store_test.c: helpers of the conformance suite (see store_test.h).
 */
#include <time.h>

#include "store_test.h"

const char *st_uri(void)
{
    static char uri[1300];
    if (uri[0])
        return uri;
    if (harness_pg_active())
        snprintf(uri, sizeof(uri), "%s", harness_pg_uri()); /* a fresh database per test */
    else
        snprintf(uri, sizeof(uri), "sqlite:%s", harness_path("store.db"));
    return uri;
}

hark_store *st_reopen(void)
{
    hark_store *s = NULL;
    int rc = hark_store_open(&s, st_uri());
    if (rc == HARK_EUNSUPPORTED)
        SKIP("no backend for %s: %s", st_uri(), hark_error_last());
    ASSERT_OK(rc);
    return s;
}

hark_store *st_open(void)
{
    return st_reopen();
}

int64_t st_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void st_sleep_ms(int64_t ms)
{
    struct timespec ts;
    if (ms <= 0)
        return;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0) {
    }
}

int64_t st_job(hark_store *s, const char *hash, int64_t owner, hark_priority prio, int64_t *rec)
{
    hark_recording r = HARK_RECORDING_INIT;
    hark_job j = HARK_JOB_INIT;
    hark_job_submitted sub;
    r.title = hash ? hash : "no hash";
    r.content_hash = hash;
    r.owner = owner;
    j.priority = prio;
    ASSERT_OK(hark_store_job_submit(s, &r, &j, &sub));
    ASSERT(sub.job > 0 && sub.recording > 0);
    if (rec)
        *rec = sub.recording;
    return sub.job;
}

hark_job_state st_job_state(hark_store *s, int64_t id)
{
    hark_job *j = NULL;
    hark_job_state st;
    ASSERT_OK(hark_store_job_get(s, id, &j));
    st = j->state;
    hark_job_free(j);
    return st;
}

/* Add one segment with a word per space-separated token of `text`. */
static void add_segment(hark_transcript *t, const char *text, int64_t start, int64_t end, float p)
{
    hark_word words[64];
    char copy[1024], *tok, *save = NULL;
    uint32_t n = 0;
    int64_t step;
    hark_segment seg;

    snprintf(copy, sizeof(copy), "%s", text);
    for (tok = strtok_r(copy, " ", &save); tok && n < 64; tok = strtok_r(NULL, " ", &save))
        words[n++].text = tok;
    step = n ? (end - start) / n : 0;
    for (uint32_t i = 0; i < n; i++) {
        words[i].start = start + (int64_t)i * step;
        words[i].end = start + (int64_t)(i + 1) * step;
        words[i].p = p;
    }
    memset(&seg, 0, sizeof(seg));
    seg.start = start;
    seg.end = end;
    seg.text = text;
    seg.confidence = p;
    seg.n_words = n;
    seg.words = n ? words : NULL;
    ASSERT_OK(hark_transcript_add(t, &seg));
}

hark_transcript *st_transcript(int n, const char *text_fmt)
{
    hark_transcript *t = NULL;
    char text[512];
    ASSERT_OK(hark_transcript_new(&t));
    for (int i = 0; i < n; i++) {
        snprintf(text, sizeof(text), text_fmt, i);
        add_segment(t, text, (int64_t)i * 32000, (int64_t)i * 32000 + 24000,
                    0.5f + (float)(i % 50) / 100.0f);
    }
    hark_transcript_set_duration(t, (int64_t)n * 32000);
    return t;
}

hark_transcript *st_texts(const char *const *texts)
{
    hark_transcript *t = NULL;
    int i;
    ASSERT_OK(hark_transcript_new(&t));
    for (i = 0; texts[i]; i++)
        add_segment(t, texts[i], (int64_t)i * 32000, (int64_t)i * 32000 + 24000, 0.9f);
    hark_transcript_set_duration(t, (int64_t)i * 32000);
    return t;
}

int64_t st_recording(hark_store *s, const char *title, int64_t created_ms)
{
    hark_recording rec = HARK_RECORDING_INIT;
    int64_t id = 0;
    rec.title = title;
    rec.created_ms = created_ms;
    ASSERT_OK(hark_store_recording_create(s, &rec, &id));
    ASSERT(id > 0);
    return id;
}

int64_t st_recording_texts(hark_store *s, const char *title, const char *const *texts)
{
    int64_t id = st_recording(s, title, 0);
    hark_transcript *t = st_texts(texts);
    ASSERT_OK(hark_store_segments_put(s, id, t, 0, hark_transcript_count(t), 0));
    hark_transcript_free(t);
    return id;
}

size_t st_hits(hark_store *s, const char *query)
{
    hark_search_options o = HARK_SEARCH_OPTIONS_INIT;
    size_t total = 0;
    int more = 1;
    o.limit = 1000;
    o.max_ranked = SIZE_MAX; /* every match, not only the newest 2000 */
    while (more) {
        hark_search_result *r = NULL;
        ASSERT_OK(hark_store_search(s, query, &o, &r));
        total += r->n;
        o.offset += r->n;
        more = r->more;
        hark_search_result_free(r);
    }
    return total;
}
