/* PLACEHOLDER: replaced by the libav streaming decoder. */
#include "hark/audio.h"
#include "../util/util.h"

int hark_decoder_open(hark_decoder **out, const char *path, const hark_decoder_options *opts)
{
    HARK_UNUSED(opts);
    *out = NULL;
    return hark_error_set(HARK_EUNSUPPORTED, "%s: decoder not built yet", path);
}
int hark_decoder_read(hark_decoder *dec, float *pcm, size_t max, size_t *n)
{
    HARK_UNUSED(dec);
    HARK_UNUSED(pcm);
    HARK_UNUSED(max);
    *n = 0;
    return HARK_EUNSUPPORTED;
}
const hark_audio_info *hark_decoder_info(const hark_decoder *dec)
{
    HARK_UNUSED(dec);
    return NULL;
}
int64_t hark_decoder_position(const hark_decoder *dec)
{
    HARK_UNUSED(dec);
    return 0;
}
unsigned hark_decoder_warnings(const hark_decoder *dec, const char **msg)
{
    HARK_UNUSED(dec);
    *msg = NULL;
    return 0;
}
void hark_decoder_free(hark_decoder *dec)
{
    HARK_UNUSED(dec);
}
int hark_audio_load(float **pcm, size_t *n, const char *path)
{
    *pcm = NULL;
    *n = 0;
    return hark_error_set(HARK_EUNSUPPORTED, "%s: decoder not built yet", path);
}
int hark_wav_write(const char *path, const float *pcm, size_t n)
{
    HARK_UNUSED(pcm);
    HARK_UNUSED(n);
    return hark_error_set(HARK_EUNSUPPORTED, "%s: not built yet", path);
}
