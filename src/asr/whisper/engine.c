/*
 * engine.c: "whisper", the native Whisper engine behind hark_engine_ops.
 *
 * DESIGN
 * The model is a hark_whisper_model (model.c), loaded once and shared; each
 * worker owns a hark_whisper_state. transcribe() runs whisper_full over the
 * chunk (decode.c: the 30-s windowing and seeking happen inside the chunk,
 * exactly as whisper.cpp does inside one file) and converts its segments:
 * times from 10 ms frames to samples (x160) relative to the chunk, clamped
 * to [window start, chunk end] (whisper.cpp reports meaningless negative
 * t0 for windows decoded without timestamps, and t1 may pass the end of the
 * audio); confidence = mean probability of the text tokens; words = text
 * tokens merged at leading-space boundaries, timed by the token timestamps.
 *
 * Streaming (live transcription) is stream.c's LocalAgreement over this
 * transcribe.
 *
 * Defaults follow whisper-cli for files (beam 5, best-of 5, fallback by 0.2);
 * a NULL language means English for English-only models and detection for
 * multilingual ones.
 */
#include <string.h>
#include <sys/stat.h>

#include "whisper.h"
#include "../asr.h"
#include "../models.h"

#define CHUNK_MIN (30 * HARK_SAMPLE_RATE)
#define CHUNK_MAX (120 * HARK_SAMPLE_RATE)

static int wh_model_default(hark_buf *out)
{
    return hark__model_default(out);
}

static int wh_model_identity(const char *model, hark_buf *out)
{
    hark_buf path = HARK_BUF_INIT;
    struct stat st;
    int rc;
    if ((rc = hark__model_resolve(model, &path)) < 0)
        goto out;
    if (stat(path.ptr, &st) < 0) {
        rc = hark_error_set(HARK_ENOTFOUND, "model file %s not found", path.ptr);
        goto out;
    }
    rc = hark_buf_printf(out, "%s:%lld:%lld.%09ld", path.ptr, (long long)st.st_size,
                         (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
out:
    hark_buf_dispose(&path);
    return rc;
}

static int wh_model_load(void **out, const char *model)
{
    hark_buf path = HARK_BUF_INIT;
    hark_whisper_model *m = NULL;
    int rc;
    *out = NULL;
    if ((rc = hark__model_resolve(model, &path)) < 0)
        goto out;
    if ((rc = hark__whisper_model_load(&m, path.ptr)) < 0)
        goto out;
    *out = m;
out:
    hark_buf_dispose(&path);
    return rc;
}

static void wh_model_free(void *model)
{
    hark__whisper_model_free(model);
}

static int wh_model_describe(const void *model, hark_buf *out)
{
    return hark__whisper_model_describe(model, out);
}

static int wh_options_key(const hark_decode_options *o, hark_buf *out)
{
    hark_jsonw w;
    hark_jsonw_init(&w, out, 0);
    hark_jsonw_object(&w);
    hark_jsonw_key(&w, "language");
    if (o->language)
        hark_jsonw_str(&w, o->language);
    else
        hark_jsonw_null(&w);
    hark_jsonw_key(&w, "translate");
    hark_jsonw_bool(&w, o->translate);
    hark_jsonw_key(&w, "beam_size");
    hark_jsonw_int(&w, o->beam_size);
    hark_jsonw_key(&w, "best_of");
    hark_jsonw_int(&w, o->best_of);
    hark_jsonw_key(&w, "temperature");
    hark_jsonw_fixed(&w, o->temperature, 4);
    hark_jsonw_key(&w, "temperature_inc");
    hark_jsonw_fixed(&w, o->no_fallback ? 0.0 : o->temperature_inc, 4);
    hark_jsonw_key(&w, "no_timestamps");
    hark_jsonw_bool(&w, o->no_timestamps);
    hark_jsonw_key(&w, "prompt");
    if (o->prompt)
        hark_jsonw_str(&w, o->prompt);
    else
        hark_jsonw_null(&w);
    hark_jsonw_key(&w, "no_context");
    hark_jsonw_bool(&w, o->no_context);
    hark_jsonw_key(&w, "max_context");
    hark_jsonw_int(&w, o->max_context);
    hark_jsonw_key(&w, "entropy_thold");
    hark_jsonw_fixed(&w, o->entropy_thold, 4);
    hark_jsonw_key(&w, "logprob_thold");
    hark_jsonw_fixed(&w, o->logprob_thold, 4);
    hark_jsonw_key(&w, "no_speech_thold");
    hark_jsonw_fixed(&w, o->no_speech_thold, 4);
    hark_jsonw_key(&w, "word_timestamps");
    hark_jsonw_bool(&w, o->word_timestamps);
    hark_jsonw_key(&w, "suppress_nst");
    hark_jsonw_bool(&w, o->suppress_nst);
    hark_jsonw_close(&w);
    return hark_jsonw_end(&w);
}

static int wh_state_new(void **out, const void *model)
{
    hark_whisper_state *st = NULL;
    int rc = hark__whisper_state_new(&st, model);
    *out = st;
    return rc;
}

static void wh_state_free(void *state)
{
    hark__whisper_state_free(state);
}

/* hark_decode_options -> whisper_full parameters (whisper-cli's mapping). */
static void map_options(const hark_whisper_model *m, const hark_decode_options *o,
                        const hark_engine_job *job, hark_whisper_params *p)
{
    hark__whisper_params_default(p);
    p->beam_size = o->beam_size > 1 ? HARK_MIN(o->beam_size, HARK_WHISPER_MAX_DECODERS) : 1;
    p->best_of = HARK_MAX(1, HARK_MIN(o->best_of, HARK_WHISPER_MAX_DECODERS));
    p->temperature = o->temperature < 0.0f ? 0.0f : o->temperature;
    p->temperature_inc = o->no_fallback ? 0.0f : o->temperature_inc;
    p->no_timestamps = o->no_timestamps;
    p->prompt = o->prompt;
    p->carry_context = !o->no_context;
    p->n_max_text_ctx = o->max_context >= 0 ? o->max_context : 16384;
    p->entropy_thold = o->entropy_thold;
    p->logprob_thold = o->logprob_thold;
    p->no_speech_thold = o->no_speech_thold;
    p->token_timestamps = o->word_timestamps;
    p->suppress_nst = o->suppress_nst;
    p->translate = o->translate;
    if (o->language && *o->language)
        p->language = o->language;
    else
        p->language = m->sp.multilingual ? "auto" : "en";
    p->seed = 0; /* the same chunk always gives the same transcript */
    p->abort = job->abort;
    p->payload = job->payload;
}

static int64_t frames_to_samples(int64_t t, int64_t lo, int64_t hi)
{
    int64_t s = t * HARK_WHISPER_HOP;
    return s < lo ? lo : s > hi ? hi : s;
}

/* Convert one whisper segment into a hark_segment and append it. */
static int add_segment(const hark_whisper_model *m, const hark_whisper_segment *ws,
                       const hark_engine_job *job, hark_transcript *out, hark_buf *scratch)
{
    const int64_t n = (int64_t)job->n;
    hark_segment seg;
    hark_token *toks = NULL;
    hark_word *words = NULL;
    size_t *word_off = NULL;
    int *word_cnt = NULL;
    int i, n_words = 0, n_text = 0, rc = 0, timed = job->opts->word_timestamps;
    double psum = 0.0;

    memset(&seg, 0, sizeof(seg));
    seg.start = frames_to_samples(ws->t0 < ws->seek ? ws->seek : ws->t0, 0, n);
    seg.end = frames_to_samples(ws->t1, seg.start, n);
    seg.text = ws->text;
    seg.no_speech_prob = ws->no_speech_prob;
    seg.avg_logprob = ws->avg_logprob;
    seg.compression_ratio = ws->compression_ratio;
    seg.temperature = ws->temperature;

    toks = hark__calloc((size_t)ws->n_tokens + 1, sizeof(*toks));
    words = hark__calloc((size_t)ws->n_tokens + 1, sizeof(*words));
    word_off = hark__calloc((size_t)ws->n_tokens + 1, sizeof(*word_off));
    word_cnt = hark__calloc((size_t)ws->n_tokens + 1, sizeof(*word_cnt));
    HARK_ALLOC_CHECK(toks && words && word_off && word_cnt ? toks : NULL, rc, out);
    hark_buf_clear(scratch);
    for (i = 0; i < ws->n_tokens; i++) {
        const hark_whisper_token *t = &ws->tokens[i];
        hark_token *ht = &toks[i];
        size_t len;
        const char *b = hark__whisper_token_bytes(m, t->id, &len);
        ht->id = t->id;
        ht->p = t->p;
        ht->plog = t->plog;
        ht->text = b;
        ht->start = timed && t->t0 >= 0 ? frames_to_samples(t->t0, 0, n) : -1;
        ht->end = timed && t->t1 >= 0 ? frames_to_samples(t->t1, 0, n) : -1;
        if (ht->end >= 0 && ht->start > ht->end)
            ht->end = ht->start;
        if (t->id >= m->sp.eot)
            continue;
        psum += t->p;
        n_text++;
        if (!job->opts->word_timestamps)
            continue;
        /* a token starting with a space begins a new word */
        if (n_words == 0 || (len > 0 && b[0] == ' ')) {
            if (n_words > 0 && (rc = hark_buf_putc(scratch, '\0')) < 0)
                goto out;
            word_off[n_words] = scratch->len;
            words[n_words].start = ht->start;
            words[n_words].p = 0.0f;
            words[n_words].end = ht->end;
            n_words++;
            if (len > 0 && b[0] == ' ') {
                b++;
                len--;
            }
        }
        if ((rc = hark_buf_put(scratch, b, len)) < 0)
            goto out;
        words[n_words - 1].end = ht->end;
        words[n_words - 1].p += t->p; /* summed, divided below */
        word_cnt[n_words - 1]++;
    }
    if (n_words > 0 && (rc = hark_buf_putc(scratch, '\0')) < 0)
        goto out;
    {
        int k = 0;
        for (i = 0; i < n_words; i++) {
            int cnt = word_cnt[i];
            const char *wt = scratch->ptr + word_off[i];
            if (!*wt)
                continue; /* a bare space token */
            words[k] = words[i];
            words[k].text = wt;
            words[k].p = cnt ? words[i].p / (float)cnt : 0.0f;
            if (words[k].start < 0 || words[k].end < 0)
                words[k].start = words[k].end = -1;
            k++;
        }
        n_words = k;
    }
    seg.confidence = n_text ? (float)(psum / n_text) : 0.0f;
    seg.n_tokens = (uint32_t)ws->n_tokens;
    seg.tokens = ws->n_tokens ? toks : NULL;
    /* words without times cannot be placed: only keep timed words */
    seg.n_words = timed ? (uint32_t)n_words : 0;
    seg.words = seg.n_words ? words : NULL;
    for (i = 0; i < (int)seg.n_words; i++) {
        hark_word *w = &words[i];
        if (w->start < 0) {
            w->start = seg.start;
            w->end = seg.start;
        }
        /* token times are estimates: keep every word inside its segment */
        w->start = w->start < seg.start ? seg.start : w->start > seg.end ? seg.end : w->start;
        w->end = w->end < w->start ? w->start : w->end > seg.end ? seg.end : w->end;
    }
    rc = hark_transcript_add(out, &seg);
out:
    hark__free(toks);
    hark__free(words);
    hark__free(word_off);
    hark__free(word_cnt);
    return rc;
}

static int wh_transcribe(void *state, const hark_engine_job *job, hark_transcript *out)
{
    hark_whisper_state *st = state;
    const hark_whisper_model *m = hark__whisper_state_model(st);
    hark_whisper_params p;
    hark_whisper_result r;
    hark_buf scratch = HARK_BUF_INIT;
    int rc, i;

    double enc0 = st->t_encode_ms, dec0 = st->t_decode_ms;
    uint64_t win0 = st->n_encode, pos0 = st->n_positions, smp0 = st->n_sampled;
    hark_timings *tm = hark_transcript_timings(out);

    memset(&r, 0, sizeof(r));
    if ((rc = hark__whisper_state_threads(st, job->n_threads)) < 0)
        return rc;
    map_options(m, job->opts, job, &p);
    rc = hark__whisper_full(st, &p, job->pcm, job->n, &r);
    tm->encoder_ms += st->t_encode_ms - enc0;
    tm->decoder_ms += st->t_decode_ms - dec0;
    tm->windows += (uint32_t)(st->n_encode - win0);
    tm->positions += (uint32_t)(st->n_positions - pos0);
    tm->sampled += (uint32_t)(st->n_sampled - smp0);
    if (rc < 0)
        goto out;
    for (i = 0; i < r.n_seg; i++)
        if ((rc = add_segment(m, &r.seg[i], job, out, &scratch)) < 0)
            goto out;
    if (r.lang_id >= 0 && hark__whisper_lang_code(r.lang_id))
        rc = hark_transcript_set_meta(out, "language", hark__whisper_lang_code(r.lang_id));
    else if (!m->sp.multilingual)
        rc = hark_transcript_set_meta(out, "language", "en");
out:
    hark_buf_dispose(&scratch);
    hark__whisper_result_dispose(&r);
    return rc;
}

int hark__whisper_engine_transcribe(void *state, const hark_engine_job *job, hark_transcript *out)
{
    return wh_transcribe(state, job, out);
}

const hark_engine_ops hark__engine_whisper = {
    .version = HARK_ENGINE_API_VERSION,
    .name = "whisper",
    .chunk_min = CHUNK_MIN,
    .chunk_max = CHUNK_MAX,
    .model_default = wh_model_default,
    .model_identity = wh_model_identity,
    .model_load = wh_model_load,
    .model_free = wh_model_free,
    .model_describe = wh_model_describe,
    .options_key = wh_options_key,
    .state_new = wh_state_new,
    .state_free = wh_state_free,
    .transcribe = wh_transcribe,
    .stream_begin = hark__whisper_stream_begin, /* stream.c */
    .stream_feed = hark__whisper_stream_feed,
    .stream_partial = hark__whisper_stream_partial,
    .stream_end = hark__whisper_stream_end,
};
