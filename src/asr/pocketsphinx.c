/* PLACEHOLDER: replaced by the PocketSphinx engine. */
#include "asr.h"
#include "../util/util.h"

static int ps_load(void **out, const char *model)
{
    HARK_UNUSED(model);
    *out = NULL;
    return hark_error_set(HARK_EUNSUPPORTED, "pocketsphinx engine not built yet");
}
static void ps_free(void *m)
{
    HARK_UNUSED(m);
}
static int ps_state_new(void **out, const void *model)
{
    HARK_UNUSED(model);
    *out = NULL;
    return HARK_EUNSUPPORTED;
}
static void ps_state_free(void *s)
{
    HARK_UNUSED(s);
}
static int ps_transcribe(void *s, const hark_engine_job *job, hark_transcript *out)
{
    HARK_UNUSED(s);
    HARK_UNUSED(job);
    HARK_UNUSED(out);
    return HARK_EUNSUPPORTED;
}
const hark_engine_ops hark__engine_pocketsphinx = {
    .version = HARK_ENGINE_API_VERSION,
    .name = "pocketsphinx",
    .chunk_min = 5 * HARK_SAMPLE_RATE,
    .chunk_max = 20 * HARK_SAMPLE_RATE,
    .model_load = ps_load,
    .model_free = ps_free,
    .state_new = ps_state_new,
    .state_free = ps_state_free,
    .transcribe = ps_transcribe,
};
