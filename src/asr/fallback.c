/*
 * fallback.c: confidence fallback. A second engine (often "remote": a bigger
 * model on a shared server) re-transcribes the passages the first engine is
 * unsure of, or the chunks it failed on (see hark_engine_set_fallback).
 *
 * DESIGN
 * Runs on the pipeline's worker, right after the primary engine's result for
 * a chunk (and after the chunk cache: the cache holds the primary's result,
 * and the fallback is applied again on a hit, so a cached chunk and a fresh
 * one give the same output). The fallback engine's model is acquired and a
 * state taken from its pool once per chunk, only when some segment needs it.
 * Each doubtful segment's span [start, end) of the chunk's samples is a job
 * of its own (same chunk index, decoding options and abort poll); spans
 * shorter than MIN_SPAN are left alone (too short for any engine). The
 * fallback's answer replaces the segment when its confidence, the
 * duration-weighted mean over its segments, is higher; an empty answer
 * never replaces speech. Everything else is copied unchanged, in order.
 *
 * INVARIANTS
 * - Output segments stay in time order and inside the chunk: the fallback's
 *   times are relative to its span and shifted by the span's start.
 * - The primary's result is only replaced as a whole (*t swapped) on success.
 */
#include <stdint.h>
#include <string.h>

#include "asr.h"
#include "../util/util.h"

#define MIN_SPAN (HARK_SAMPLE_RATE / 10) /* samples: 0.1 s */

/* Duration-weighted mean confidence of `t`'s segments; -1 when it has none. */
static double mean_confidence(const hark_transcript *t)
{
    double sum = 0, dur = 0;
    size_t i, n = hark_transcript_count(t);
    for (i = 0; i < n; i++) {
        const hark_segment *g = hark_transcript_segment(t, i);
        double d = (double)(g->end - g->start) + 1; /* +1: zero-length segments still count */
        sum += (double)g->confidence * d;
        dur += d;
    }
    return n ? sum / dur : -1;
}

/* Transcribe samples [start, start + n) of the job's chunk with the fallback. */
static int run_span(const hark_engine_ops *ops, void *state, const hark_engine_job *job,
                    int64_t start, size_t n, hark_transcript **out)
{
    hark_engine_job sub = *job;
    int rc;
    *out = NULL;
    sub.pcm = job->pcm + start;
    sub.n = n;
    sub.offset = job->offset + start;
    if ((rc = hark_transcript_new(out)) < 0)
        return rc;
    if ((rc = ops->transcribe(state, &sub, *out)) < 0) {
        hark_transcript_free(*out);
        *out = NULL;
    }
    return rc;
}

/* Append `src` shifted by `offset`, every segment marked as made by `engine`. */
static int append_as(hark_transcript *dst, const hark_transcript *src, int64_t offset,
                     uint32_t chunk, const char *engine)
{
    size_t first = hark_transcript_count(dst), i;
    int rc = hark_transcript_append(dst, src, offset, chunk);
    for (i = first; rc == 0 && i < hark_transcript_count(dst); i++)
        rc = hark_transcript_set_segment_engine(dst, i, engine);
    return rc;
}

/* Copy segment i of `src` with its engine attribution. */
static int copy_segment(hark_transcript *dst, const hark_transcript *src, size_t i)
{
    const char *own = hark_transcript_segment_engine(src, i);
    const char *base = hark_transcript_meta(src, "engine");
    int rc = hark_transcript_add(dst, hark_transcript_segment(src, i));
    if (rc == 0 && own && (!base || strcmp(own, base) != 0))
        rc = hark_transcript_set_segment_engine(dst, hark_transcript_count(dst) - 1, own);
    return rc;
}

int hark__fallback_apply(hark_engine *e, const hark_engine_job *job, hark_transcript **t,
                         unsigned *resent, unsigned *replaced)
{
    float below = 0;
    hark_engine *fb = hark__engine_fallback(e, &below);
    const hark_engine_ops *ops;
    const void *model = NULL;
    void *state = NULL;
    hark_transcript *out = NULL, *r = NULL;
    const char *name;
    size_t i, n;
    unsigned n_resent = 0, n_replaced = 0;
    int rc = 0, acquired = 0, need = 0;

    if (resent)
        *resent = 0;
    if (replaced)
        *replaced = 0;
    if (!fb)
        return 0;
    ops = hark__engine_ops(fb);
    name = hark_engine_name(fb);
    n = *t ? hark_transcript_count(*t) : 0;
    for (i = 0; i < n && !need; i++) {
        const hark_segment *g = hark_transcript_segment(*t, i);
        need = g->confidence < below && g->end - g->start >= MIN_SPAN;
    }
    if (*t && !need)
        return 0;
    if ((rc = hark__engine_acquire(fb, &model)) < 0)
        goto out;
    acquired = 1;
    if ((rc = hark__engine_state_take(fb, model, &state)) < 0)
        goto out;
    if ((rc = hark_transcript_new(&out)) < 0)
        goto out;
    if (!*t) { /* the primary failed: the fallback takes the whole chunk */
        n_resent = 1;
        if ((rc = run_span(ops, state, job, 0, job->n, &r)) < 0) {
            hark_error_prefix("fallback %s", name);
            goto out;
        }
        if ((rc = append_as(out, r, 0, UINT32_MAX, name)) < 0)
            goto out;
        n_replaced = 1;
        goto done;
    }
    for (i = 0; i < n; i++) {
        const hark_segment *g = hark_transcript_segment(*t, i);
        double conf;
        if (g->confidence >= below || g->end - g->start < MIN_SPAN) {
            if ((rc = copy_segment(out, *t, i)) < 0)
                goto out;
            continue;
        }
        n_resent++;
        hark_transcript_free(r);
        r = NULL;
        rc = run_span(ops, state, job, g->start, (size_t)(g->end - g->start), &r);
        if (rc == HARK_ECANCELED)
            goto out;
        if (rc == HARK_EENGINE && state) { /* the state may be damaged: never reuse it */
            ops->state_free(state);
            state = NULL;
            if (hark__engine_state_take(fb, model, &state) < 0)
                state = NULL;
        }
        conf = rc < 0 ? -1 : mean_confidence(r);
        if (rc < 0)
            hark_warn("chunk %u: fallback %s failed on %.2f-%.2f s, keeping the local text: %s",
                      job->chunk, name, (double)(job->offset + g->start) / HARK_SAMPLE_RATE,
                      (double)(job->offset + g->end) / HARK_SAMPLE_RATE, hark_error_last());
        rc = 0;
        if (conf > (double)g->confidence) {
            if ((rc = append_as(out, r, g->start, g->chunk, name)) < 0)
                goto out;
            n_replaced++;
        } else if ((rc = copy_segment(out, *t, i)) < 0) {
            goto out;
        }
        if (!state) { /* could not replace a damaged state: the rest stays local */
            for (i++; i < n; i++)
                if ((rc = copy_segment(out, *t, i)) < 0)
                    goto out;
            break;
        }
    }
done : {
    /* the chunk's metadata and engine counters stay the primary's */
    hark_timings *ot = hark_transcript_timings(out);
    if (*t) {
        *ot = *hark_transcript_timings(*t);
        if (hark_transcript_meta(*t, "engine"))
            rc = hark_transcript_set_meta(out, "engine", hark_transcript_meta(*t, "engine"));
    }
}
    if (rc < 0)
        goto out;
    hark_transcript_free(*t);
    *t = out;
    out = NULL;
    if (resent)
        *resent = n_resent;
    if (replaced)
        *replaced = n_replaced;
out:
    hark_transcript_free(r);
    hark_transcript_free(out);
    if (state)
        hark__engine_state_give(fb, state);
    if (acquired)
        hark__engine_release(fb);
    return rc;
}
