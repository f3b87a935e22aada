/*
 * sampling.c: whisper.cpp's logit rules one by one (FORMAT.md 8.1) and the
 * token choice with its timestamp bookkeeping, on a tiny English model.
 */
#include <math.h>

#include "harness.h"
#include "../whisper_model/tinymodel.h"
#include "asr/whisper/whisper.h"

#define V 51864

static hark_whisper_model *model(void)
{
    tiny_opts o;
    size_t n;
    unsigned char *d;
    hark_whisper_model *m = NULL;
    tiny_defaults(&o);
    o.n_state = 8;
    o.n_audio_ctx = 1500;
    d = tiny_model(&o, &n);
    ASSERT_OK(hark__whisper_model_load_buffer(&m, d, n, "tiny.bin"));
    free(d);
    return m;
}

static hark_whisper_token tok(int32_t id)
{
    hark_whisper_token t;
    memset(&t, 0, sizeof(t));
    t.id = id;
    return t;
}

/* flat logits with a ramp so that nothing ties */
static void fill(float *lg)
{
    int i;
    for (i = 0; i < V; i++)
        lg[i] = (float)(i % 97) * 0.01f;
}

TEST(suppression_rules_1_to_3)
{
    hark_whisper_model *m = model();
    const hark_whisper_special *sp = &m->sp;
    float *lg = malloc(V * sizeof(float)), *lp = malloc(V * sizeof(float));
    float *stage = malloc(V * sizeof(float));
    hark_whisper_filter f = { 0, 1, 0, 1.0f, 0.0f };
    hark_whisper_ts_state ts = { 0, 3000 };
    hark_whisper_token prev[1];
    int i;

    fill(lg);
    hark__whisper_process_logits(m, &f, NULL, 0, &ts, lg, lp, stage);
    ASSERT(isinf(stage[sp->eot]) && isinf(stage[sp->space])); /* suppress blank, first step */
    ASSERT(isinf(stage[sp->not_ts]) && isinf(stage[sp->sot]) && isinf(stage[sp->nosp]));
    ASSERT(isinf(stage[sp->solm]) && isinf(stage[sp->translate]) && isinf(stage[sp->transcribe]));
    ASSERT(isinf(stage[sp->prev]));
    for (i = sp->sot + 1; i <= sp->sot + 100; i++)
        ASSERT(isinf(stage[i]));
    ASSERT(!isinf(stage[sp->beg]) && !isinf(stage[100]));
    /* later steps: EOT and " " allowed again */
    fill(lg);
    prev[0] = tok(100);
    hark__whisper_process_logits(m, &f, prev, 1, &ts, lg, lp, stage);
    ASSERT(!isinf(stage[sp->eot]) && !isinf(stage[sp->space]));
    /* no timestamps: every id >= beg */
    f.no_timestamps = 1;
    fill(lg);
    hark__whisper_process_logits(m, &f, prev, 1, &ts, lg, lp, stage);
    for (i = sp->beg; i < V; i++)
        ASSERT(isinf(stage[i]));
    /* non-speech tokens: "(" and " (" when asked; "-" alone is allowed, " -" is not */
    f.no_timestamps = 0;
    f.suppress_nst = 1;
    fill(lg);
    hark__whisper_process_logits(m, &f, prev, 1, &ts, lg, lp, stage);
    ASSERT(isinf(stage['(']) && isinf(stage['~']) && !isinf(stage['-']) && !isinf(stage['a']));
    free(lg);
    free(lp);
    free(stage);
    hark__whisper_model_free(m);
}

TEST(timestamp_rules_4_to_7)
{
    hark_whisper_model *m = model();
    const hark_whisper_special *sp = &m->sp;
    float *lg = malloc(V * sizeof(float)), *lp = malloc(V * sizeof(float));
    hark_whisper_filter f = { 0, 1, 0, 1.0f, 0.0f };
    hark_whisper_ts_state ts = { 0, 3000 };
    hark_whisper_token prev[3];
    int i;

    /* 5. first step: no timestamp above max_initial_ts (1 s = beg + 50) */
    fill(lg);
    hark__whisper_process_logits(m, &f, NULL, 0, &ts, lg, lp, NULL);
    ASSERT(!isinf(lg[sp->beg + 50]) && isinf(lg[sp->beg + 51]) && isinf(lg[V - 1]));
    /* 4. text then timestamp: the next one must be a timestamp (text < EOT suppressed) */
    prev[0] = tok(100);
    prev[1] = tok(sp->beg + 20);
    fill(lg);
    lg[sp->eot] = 30.0f; /* EOT stays possible (and beats the timestamps in rule 7) */
    hark__whisper_process_logits(m, &f, prev, 2, &ts, lg, lp, NULL);
    for (i = 0; i < sp->eot; i++)
        ASSERT(isinf(lg[i]));
    ASSERT(!isinf(lg[sp->eot]));
    /* two timestamps (or a lone initial one): no timestamp next */
    prev[0] = tok(sp->beg + 10);
    fill(lg);
    hark__whisper_process_logits(m, &f, prev, 2, &ts, lg, lp, NULL);
    for (i = sp->beg; i < V; i++)
        ASSERT(isinf(lg[i]));
    fill(lg);
    hark__whisper_process_logits(m, &f, prev + 1, 1, &ts, lg, lp, NULL);
    ASSERT(isinf(lg[sp->beg + 30]) && !isinf(lg[100]));
    /* 6. after <|2.00|> (seek_delta 200 frames) no timestamp below it */
    ts.has_ts = 1;
    ts.seek_delta = 200;
    prev[0] = tok(100);
    prev[1] = tok(101);
    fill(lg);
    hark__whisper_process_logits(m, &f, prev, 2, &ts, lg, lp, NULL);
    ASSERT(isinf(lg[sp->beg]) && isinf(lg[sp->beg + 99]) && !isinf(lg[sp->beg + 100]));
    /* 7. timestamps more probable together than any text token: text suppressed */
    ts.has_ts = 0;
    for (i = 0; i < V; i++)
        lg[i] = i >= sp->beg ? 1.0f : (i == 7 ? 3.0f : -5.0f);
    hark__whisper_process_logits(m, &f, prev, 2, &ts, lg, lp, NULL);
    ASSERT(isinf(lg[7]) && isinf(lp[7]) && !isinf(lg[sp->beg + 5]));
    /* ... but not when one text token beats them */
    for (i = 0; i < V; i++)
        lg[i] = i >= sp->beg ? -10.0f : (i == 7 ? 3.0f : -5.0f);
    hark__whisper_process_logits(m, &f, prev, 2, &ts, lg, lp, NULL);
    ASSERT(!isinf(lg[7]));
    free(lg);
    free(lp);
    hark__whisper_model_free(m);
}

TEST(sampling_picks_the_first_maximum_and_tracks_timestamps)
{
    hark_whisper_model *m = model();
    const hark_whisper_special *sp = &m->sp;
    float *lg = malloc(V * sizeof(float)), *lp = malloc(V * sizeof(float));
    float *pr = malloc(V * sizeof(float));
    hark_whisper_filter f = { 0, 0, 0, 0.0f, 0.0f };
    hark_whisper_token t, prev[1];
    uint64_t rng = hark__whisper_rng_seed(1);
    double mass = 0;
    int i, counts[2] = { 0, 0 };

    for (i = 0; i < V; i++)
        lg[i] = -20.0f;
    lg[10] = 5.0f;
    lg[11] = 5.0f;           /* a tie: the first index wins */
    lg[sp->beg + 40] = 2.0f; /* the most likely timestamp */
    lg[sp->beg + 41] = 1.0f;
    prev[0] = tok(100);
    hark__whisper_process_logits(m, &f, prev, 1, NULL, lg, lp, NULL);
    hark__whisper_probs(lg, lp, pr, V);
    for (i = 0; i < V; i++)
        mass += pr[i];
    ASSERT_NEAR(mass, 1.0, 1e-4);
    t = hark__whisper_sample(m, pr, lp, NULL, 1);
    ASSERT_EQ(t.id, 10);
    ASSERT_EQ(t.tid, sp->beg + 40);
    ASSERT_NEAR(t.pt, exp(2.0) / (exp(2.0) + exp(1.0)), 1e-3);
    ASSERT_NEAR(t.p, pr[10], 0);
    ASSERT_NEAR(t.plog, lp[10], 0);
    /* drawing: tokens 10 and 11 about equally often, nothing else */
    for (i = 0; i < 2000; i++) {
        t = hark__whisper_sample(m, pr, lp, &rng, 0);
        ASSERT(t.id == 10 || t.id == 11 || t.id >= sp->beg);
        if (t.id == 10 || t.id == 11)
            counts[t.id - 10]++;
    }
    ASSERT(counts[0] > 800 && counts[1] > 800);
    /* a sampled timestamp is its own tid */
    for (i = 0; i < V; i++)
        lg[i] = i == sp->beg + 3 ? 9.0f : -20.0f;
    hark__whisper_process_logits(m, &f, prev, 1, NULL, lg, lp, NULL);
    hark__whisper_probs(lg, lp, pr, V);
    t = hark__whisper_sample(m, pr, lp, NULL, 1);
    ASSERT_EQ(t.id, sp->beg + 3);
    ASSERT_EQ(t.tid, sp->beg + 3);
    ASSERT_NEAR(t.pt, t.p, 0);
    free(lg);
    free(lp);
    free(pr);
    hark__whisper_model_free(m);
}
