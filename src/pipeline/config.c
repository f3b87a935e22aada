/*
 * config.c: the one canonical configuration of a run.
 *
 * DESIGN
 * Everything that shapes a run's output besides the audio is resolved here,
 * once per run, from the engine and the pipeline options: the chunking
 * (engine defaults applied), and the engine's canonical text of the decoding
 * options that matter to it (ops->options_key, which also rejects options
 * the engine cannot honour). From these come
 *   - `json`: {"decode":<engine options>,"chunk":{...}}, stored with the
 *     recording (so a stored recording matches only a run with the very same
 *     settings) and carried in the transcript's "options" metadata;
 *   - `key`: SHA-256 over "hark-config-v2", the engine and model identity
 *     and `json`: the configuration part of every cache key.
 * With a confidence fallback, "fallback": {engine identity, threshold} is
 * part of `json` too.
 * Workers, threads, queue depths and retry settings never change the output
 * and are not part of either.
 */
#include <string.h>

#include "../asr/asr.h"
#include "../util/util.h"
#include "pipeline_int.h"

#define DEFAULT_VAD_THRESHOLD 0.5f
#define DEFAULT_SKIP_SILENCE  (2 * HARK_SAMPLE_RATE)

static void resolve_chunking(const hark_engine_ops *ops, const hark_chunk_options *co,
                             hark_chunker_config *cfg)
{
    cfg->min = co->min > 0 ? co->min : ops->chunk_min;
    cfg->max = co->max > 0 ? co->max : ops->chunk_max;
    if (cfg->min > cfg->max)
        cfg->min = cfg->max;
    cfg->no_vad = co->no_vad;
    cfg->vad_threshold =
        co->vad_threshold > 0 && co->vad_threshold < 1 ? co->vad_threshold : DEFAULT_VAD_THRESHOLD;
    cfg->skip_silence = co->skip_silence != 0 ? co->skip_silence : DEFAULT_SKIP_SILENCE;
}

int hark__config_resolve(hark__config *out, hark_engine *engine, const hark_pipeline_options *opts)
{
    const hark_engine_ops *ops = hark__engine_ops(engine);
    hark_buf decode = HARK_BUF_INIT, keytext = HARK_BUF_INIT;
    hark_jsonw w;
    int rc;

    memset(out, 0, sizeof(*out));
    resolve_chunking(ops, &opts->chunk, &out->chunk);
    rc = ops->options_key ? ops->options_key(&opts->decode, &decode) : hark_buf_puts(&decode, "{}");
    if (rc < 0)
        goto out;
    hark_jsonw_init(&w, &out->json, 0);
    hark_jsonw_object(&w);
    hark_jsonw_key(&w, "decode");
    hark_jsonw_raw(&w, decode.ptr);
    hark_jsonw_key(&w, "chunk");
    hark_jsonw_object(&w);
    hark_jsonw_key(&w, "min_s");
    hark_jsonw_fixed(&w, (double)out->chunk.min / HARK_SAMPLE_RATE, 4);
    hark_jsonw_key(&w, "max_s");
    hark_jsonw_fixed(&w, (double)out->chunk.max / HARK_SAMPLE_RATE, 4);
    hark_jsonw_key(&w, "vad");
    hark_jsonw_bool(&w, !out->chunk.no_vad);
    hark_jsonw_key(&w, "vad_threshold");
    hark_jsonw_fixed(&w, out->chunk.vad_threshold, 4);
    hark_jsonw_key(&w, "skip_silence_s");
    if (out->chunk.skip_silence < 0)
        hark_jsonw_null(&w);
    else
        hark_jsonw_fixed(&w, (double)out->chunk.skip_silence / HARK_SAMPLE_RATE, 4);
    hark_jsonw_close(&w);
    if (hark__engine_fallback(engine, NULL)) {
        /* only with a fallback: the keys of runs without one are unchanged */
        float below = 0;
        hark_engine *fb = hark__engine_fallback(engine, &below);
        hark_buf fid = HARK_BUF_INIT;
        if ((rc = hark_engine_identity(fb, &fid)) < 0) {
            hark_buf_dispose(&fid);
            goto out;
        }
        hark_jsonw_key(&w, "fallback");
        hark_jsonw_object(&w);
        hark_jsonw_key(&w, "engine");
        hark_jsonw_str(&w, fid.ptr);
        hark_jsonw_key(&w, "below");
        hark_jsonw_fixed(&w, below, 4);
        hark_jsonw_close(&w);
        hark_buf_dispose(&fid);
    }
    hark_jsonw_close(&w);
    if ((rc = hark_jsonw_end(&w)) < 0)
        goto out;
    if ((rc = hark_buf_puts(&keytext, "hark-config-v2\n")) < 0 ||
        (rc = hark_engine_identity(engine, &keytext)) < 0 ||
        (rc = hark_buf_putc(&keytext, '\n')) < 0 ||
        (rc = hark_buf_put(&keytext, out->json.ptr, out->json.len)) < 0)
        goto out;
    rc = hark_sha256_buf(out->key, keytext.ptr, keytext.len);
out:
    hark_buf_dispose(&decode);
    hark_buf_dispose(&keytext);
    if (rc < 0)
        hark__config_dispose(out);
    return rc;
}

void hark__config_dispose(hark__config *c)
{
    if (c)
        hark_buf_dispose(&c->json);
}
