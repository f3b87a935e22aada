/*
 * fuzz_live_frame.c: binary frames of the live protocol ([u64 seq][PCM]) and
 * the records of a session's audio file ([u64 seq][u32 n][n x s16le]), which
 * the server reads back after a crash and when it archives a session. Input
 * layout:
 *
 *     8 bytes   last_seq (little-endian): the frames the session has
 *     1 byte    bit 0: Vosk; bit 1: two channels; bit 2: f32le; bits 3-7: rate step
 *     the rest  one frame, and read as an audio file of records
 *
 * A frame must be refused or give seq = last_seq + 1 and whole samples inside
 * the frame, no more than the 1 MiB limit, and a resampled size within what a
 * record may hold. Records are walked as read_records() in live.c walks them:
 * each accepted header follows the one before it, and the walk ends inside
 * the input.
 */
#include <stdlib.h>
#include <string.h>

#include "server/live_parse.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int rates[] = { 8000, 11025, 16000, 22050, 44100, 48000, 96000, 192000 };
    uint64_t last_seq = 0, seq = 0;
    uint32_t n;
    size_t i, bpf, off;
    int vosk, rate;
    srv_live_frame f;
    enum srv_frame_result r;

    if (size < 9)
        return 0;
    for (i = 0; i < 8; i++)
        last_seq |= (uint64_t)data[i] << (8 * i);
    vosk = data[8] & 1;
    bpf = (size_t)((data[8] & 2) ? 2 : 1) * ((data[8] & 4) ? 4 : 2);
    rate = rates[(data[8] >> 3) % 8];
    data += 9;
    size -= 9;

    r = srv_live_parse_frame(data, size, vosk, last_seq, bpf, &f);
    switch (r) {
    case SRV_FRAME_OK:
        if (f.seq != last_seq + 1 || f.pcm < data || f.pcm + f.bytes != data + size ||
            f.bytes != f.frames * bpf || f.bytes > SRV_LIVE_MAX_FRAME ||
            srv_live_out_max(f.frames, rate) > SRV_LIVE_REC_MAX)
            abort();
        break;
    case SRV_FRAME_RESEND:
        if (vosk || f.seq > last_seq)
            abort();
        break;
    case SRV_FRAME_GAP:
        if (vosk || f.seq <= last_seq + 1)
            abort();
        break;
    case SRV_FRAME_SHORT:
        if (vosk || size >= 8)
            abort();
        break;
    case SRV_FRAME_PARTIAL:
    case SRV_FRAME_BIG:
        break;
    default:
        abort();
    }

    /* the same bytes as an audio file */
    off = 0;
    while (size - off >= SRV_LIVE_REC_HDR) {
        uint64_t prev = seq;
        if (!srv_live_record_header(data + off, prev, &seq, &n))
            break;
        if (seq != prev + 1 || n > SRV_LIVE_REC_MAX)
            abort();
        if ((size - off - SRV_LIVE_REC_HDR) / 2 < n)
            break; /* torn: the file ends inside the record */
        off += SRV_LIVE_REC_HDR + (size_t)n * 2;
    }
    if (off > size)
        abort();
    return 0;
}
