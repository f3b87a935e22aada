/*
 * decode.c: the streaming decoder. Any input libavformat/libavcodec read
 * (WAV, FLAC, MP3, Ogg Vorbis/Opus, M4A/AAC, WebM, the audio track of MP4/MKV
 * video...) comes out as HARK_SAMPLE_RATE mono float, one block at a time.
 *
 * DESIGN
 * - Input always goes through our own AVIOContext: over a file descriptor we
 *   opened (so a missing or unreadable file gets its own error code before
 *   libav sees it, and no path is ever parsed as a libav URL or protocol),
 *   over fd 0 for "-" (seekable only when it is a regular file), or over a
 *   memory buffer (hark__decoder_open_memory). io_open is replaced by a
 *   function that refuses, so playlists and references inside a file (HLS,
 *   concat, dref...) can never open other files or URLs.
 * - Recognition is by content: a probe score below AVPROBE_SCORE_RETRY means
 *   only the name's extension matched, and such input (text called .mp3) is
 *   "not an audio or video file", as are text and images libav does know.
 *   Probing before avformat_open_input separates that from damaged media
 *   ("corrupt or truncated mp4 file: ... (moov atom not found)").
 * - Pipeline: packet -> decoder -> frame -> libswresample -> output queue ->
 *   caller. A frame is fed to the resampler in slices of at most
 *   OUT_SLICE output samples' worth of input, and the queue is only refilled
 *   when it is empty, so memory is bounded by one slice whatever the length
 *   of the input (hark__decoder_buffer_peak reports the high-water mark).
 * - Downmix: a custom swr matrix gives every input channel the weight
 *   1/channels (a plain average; libswresample's default would weight a
 *   stereo pair 0.707 each). Resampling uses libsoxr through swr (see
 *   below; tested: a 1 kHz tone keeps its frequency, amplitude and phase,
 *   tones above 8 kHz do not alias into the output).
 * - Segments: a segment is a run of frames with the same rate, sample format
 *   and channel layout, fed to one SwrContext. A segment ends at a format
 *   change, at a hole after corrupt data, and at the end of the stream; its
 *   resampler is then flushed and its output trimmed or zero-padded to
 *
 *       round(in_samples * 16000 / in_rate)     (halves round up)
 *
 *   so the total length is exact: a file of S source samples at rate R
 *   yields exactly round(S * 16000 / R) samples (N seconds -> N * 16000),
 *   with no drift. (swr+soxr already produce exactly that when flushed, and
 *   compensate the filter delay; the trim/pad is a guarantee, not a fix-up.)
 * - Corrupt data: a packet the codec rejects is counted and skipped. When
 *   the next good frame's timestamp shows a hole (more than 1 ms, at most
 *   MAX_GAP_S), the hole is filled with silence so later audio keeps its
 *   timing. A demuxer error other than end of file is retried while the
 *   demuxer makes progress (it may resynchronise), up to MAX_DEMUX_ERRORS.
 *   "data ends early (truncated file?)" is reported when the demuxer stops
 *   on an error, when the last packet was cut short (AV_PKT_FLAG_CORRUPT),
 *   when fewer samples came than the header promised (a duration from the
 *   header, not from a bitrate guess), and for Ogg, which has no length in
 *   any header, when the file does not end with a whole page carrying the
 *   end-of-stream flag (seekable input only).
 * - On a pipe, a demuxer that fails before the first packet needs to seek
 *   (MP4 with its index at the end): that is an error with a hint, not a
 *   silent empty stream.
 * - Hostile input: NaN and infinity in float input become 0 before the
 *   resampler (they would poison its filter state); source rates outside
 *   [MIN_RATE, MAX_RATE] and absurd timestamps are rejected; libav's single
 *   allocations are capped (avglue.c).
 * - Zero-length audio (a valid file with no samples) is not an error here:
 *   hark_decoder_read returns 0 samples at once; callers that need audio
 *   report HARK_EEMPTY.
 *
 * INVARIANTS
 * - q_start <= q_end <= q_cap; samples in [q_start, q_end) are decoded and
 *   not yet delivered; the queue is refilled only when empty.
 * - `zeros` (silence still owed to the caller) is emitted before anything
 *   decoded later, and only when the queue is empty.
 * - frame_off < frame->nb_samples while have_frame; the frame belongs to the
 *   current segment's resampler.
 * - After an error, every later read returns the same error.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/mathematics.h>
#include <libavutil/opt.h>
#include <libavutil/samplefmt.h>
#include <libswresample/swresample.h>

#include "audio.h"

#define IO_BUF_SIZE      65536 /* bytes: AVIOContext buffer */
#define OUT_SLICE        8192  /* output samples aimed at per swr_convert() call */
#define MAX_CHANNELS     64    /* libswresample's SWR_CH_MAX */
#define MAX_GAP_S        30    /* longest hole (seconds) refilled with silence after corrupt data */
#define MAX_ERR_RUN      256   /* decoder errors in a row without new input before giving up */
#define MAX_DEMUX_ERRORS 64    /* demuxer errors skipped before the rest counts as lost */
#define LOAD_BLOCK       65536 /* samples per read in hark_audio_load */
#define MIN_RATE         1000  /* source sample rates (Hz) outside [MIN_RATE, MAX_RATE] */
#define MAX_RATE         1536000            /* are treated as corrupt */
#define TS_LIMIT         (INT64_C(1) << 60) /* timestamps (samples) beyond +-this are ignored */

/*
 * Resampler: libsoxr through libswresample (Debian's build has it), at swr's
 * default 20-bit precision: flat to 7.6 kHz, -90 dB from 8.1 kHz on, linear
 * phase. Without soxr, swr's own windowed sinc with a longer filter than its
 * default (flat to 7 kHz, -40 dB at 8.1 kHz).
 */
#define SWR_FALLBACK_FILTER_SIZE 64
#define SWR_FALLBACK_CUTOFF      0.95

struct hark_decoder {
    char *name; /* the input as named in messages ("talk.mp3", "stdin") */

    /* input */
    int fd;               /* descriptor read by the AVIOContext, -1 for memory input */
    int close_fd;         /* fd is ours to close (not stdin) */
    const uint8_t *mem;   /* memory input (borrowed), NULL for fd input */
    size_t mem_len;       /* bytes */
    size_t mem_pos;       /* bytes */
    uint64_t bytes_read;  /* bytes delivered to libav so far */
    int io_errno;         /* errno of a failed read(2), 0 = none */
    AVIOContext *avio;    /* ours (custom I/O): freed after fmt */
    AVFormatContext *fmt; /* demuxer */
    int stream;           /* index of the decoded stream in fmt */
    AVCodecContext *codec;
    AVPacket *pkt;     /* packet being decoded */
    int pkt_pending;   /* pkt was refused with EAGAIN and must be sent again */
    AVFrame *frame;    /* frame being fed to the resampler */
    int have_frame;    /* frame holds samples not yet fed */
    int frame_off;     /* samples of frame already fed */
    AVRational pkt_tb; /* time base of frame timestamps */

    /* resampler: one per segment */
    SwrContext *swr;
    int seg_rate;               /* source rate of the segment (Hz) */
    int seg_format;             /* enum AVSampleFormat of the segment */
    AVChannelLayout seg_layout; /* channel layout of the segment */
    int slice_in;               /* source samples per swr_convert() call */
    int64_t seg_in;             /* source samples fed to swr in this segment */
    int64_t seg_out;            /* output samples swr produced in this segment */
    int64_t next_ts; /* expected timestamp of the next frame (source samples), or INT64_MIN */

    /* output */
    float *q;             /* queue of decoded samples */
    size_t q_cap;         /* samples allocated */
    size_t q_start;       /* first undelivered sample */
    size_t q_end;         /* one past the last decoded sample */
    size_t q_peak;        /* largest allocation of q (bytes) */
    int64_t zeros;        /* samples of silence owed to the caller */
    int64_t total;        /* samples decoded (delivered, queued or owed) */
    int64_t position;     /* samples delivered */
    uint64_t max_samples; /* 0 = no limit */

    /* state */
    int demux_eof;         /* no more packets: decoder was sent the flush packet */
    int codec_eof;         /* decoder fully drained */
    int done;              /* last segment flushed: nothing more will come */
    int err;               /* sticky error code, 0 = none */
    char errmsg[512];      /* its message */
    unsigned corrupt;      /* packets the decoder rejected */
    unsigned err_run;      /* decoder errors since the last input or frame */
    int since_error;       /* a packet was rejected since the last good frame */
    int truncated;         /* the data ends early */
    int last_pkt_short;    /* the last packet read was cut short (AV_PKT_FLAG_CORRUPT) */
    uint64_t packets;      /* packets of our stream read */
    unsigned demux_errs;   /* demuxer errors skipped */
    int64_t demux_err_pos; /* input position (bytes) at the last demuxer error */
    int duration_trusted;  /* info.duration comes from the header, not a bitrate guess */
    char warn[160];        /* summary for hark_decoder_warnings */
    hark_audio_info info;
};

/* ---- custom I/O ----------------------------------------------------------------------------- */

static int fd_read(void *opaque, uint8_t *buf, int size)
{
    hark_decoder *dec = opaque;
    for (;;) {
        ssize_t r = read(dec->fd, buf, (size_t)size);
        if (r > 0) {
            dec->bytes_read += (uint64_t)r;
            return (int)r;
        }
        if (r == 0)
            return AVERROR_EOF;
        if (errno == EINTR)
            continue;
        dec->io_errno = errno;
        return AVERROR(errno);
    }
}

static int64_t fd_seek(void *opaque, int64_t offset, int whence)
{
    hark_decoder *dec = opaque;
    return hark__av_fd_seek(dec->fd, offset, whence);
}

static int mem_read(void *opaque, uint8_t *buf, int size)
{
    hark_decoder *dec = opaque;
    size_t n = HARK_MIN((size_t)size, dec->mem_len - dec->mem_pos);
    if (n == 0)
        return AVERROR_EOF;
    memcpy(buf, dec->mem + dec->mem_pos, n);
    dec->mem_pos += n;
    dec->bytes_read += n;
    return (int)n;
}

static int64_t mem_seek(void *opaque, int64_t offset, int whence)
{
    hark_decoder *dec = opaque;
    int64_t base;
    switch (whence & ~AVSEEK_FORCE) {
    case AVSEEK_SIZE:
        return (int64_t)dec->mem_len;
    case SEEK_SET:
        base = 0;
        break;
    case SEEK_CUR:
        base = (int64_t)dec->mem_pos;
        break;
    case SEEK_END:
        base = (int64_t)dec->mem_len;
        break;
    default:
        return AVERROR(EINVAL);
    }
    if (offset < -base || base + offset > (int64_t)dec->mem_len)
        return AVERROR(EINVAL);
    dec->mem_pos = (size_t)(base + offset);
    return (int64_t)dec->mem_pos;
}

/* Files must not open other files or URLs (playlists, references). */
static int deny_io_open(AVFormatContext *s, AVIOContext **pb, const char *url, int flags,
                        AVDictionary **options)
{
    HARK_UNUSED(s);
    HARK_UNUSED(pb);
    HARK_UNUSED(url);
    HARK_UNUSED(flags);
    HARK_UNUSED(options);
    return AVERROR(EPERM);
}

/* ---- opening -------------------------------------------------------------------------------- */

static int decoder_new(hark_decoder **out, const char *name, const hark_decoder_options *opts)
{
    hark_decoder *dec;
    *out = NULL;
    if (opts && opts->version != HARK_DECODER_OPTIONS_VERSION)
        return hark_error_set(HARK_EINVAL, "%s: decoder options version %u, expected %u", name,
                              opts->version, HARK_DECODER_OPTIONS_VERSION);
    dec = hark__calloc(1, sizeof(*dec));
    if (!dec)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    dec->fd = -1;
    dec->stream = -1;
    dec->next_ts = INT64_MIN;
    dec->max_samples = opts ? opts->max_samples : 0;
    dec->name = hark__strdup(name);
    if (!dec->name) {
        hark__free(dec);
        return hark_error_set(HARK_ENOMEM, "out of memory");
    }
    *out = dec;
    return 0;
}

static int is_video(const AVStream *st)
{
    return st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO &&
           !(st->disposition & AV_DISPOSITION_ATTACHED_PIC);
}

static const char *first_audio_codec(const AVFormatContext *fmt)
{
    unsigned i;
    for (i = 0; i < fmt->nb_streams; i++)
        if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO)
            return avcodec_get_name(fmt->streams[i]->codecpar->codec_id);
    return "unknown";
}

/* Pick the stream and its decoder. */
static int select_stream(hark_decoder *dec, int wanted, const AVCodec **codec_out)
{
    AVFormatContext *fmt = dec->fmt;
    const AVCodec *codec = NULL;
    unsigned i, videos = 0;
    int idx;

    if (wanted >= 0) {
        if ((unsigned)wanted >= fmt->nb_streams ||
            fmt->streams[wanted]->codecpar->codec_type != AVMEDIA_TYPE_AUDIO)
            return hark_error_set(HARK_ENOAUDIO, "%s: stream %d is not an audio stream", dec->name,
                                  wanted);
        idx = wanted;
        codec = avcodec_find_decoder(fmt->streams[idx]->codecpar->codec_id);
        if (!codec)
            return hark_error_set(HARK_EDECODE, "%s: unsupported audio codec '%s'", dec->name,
                                  avcodec_get_name(fmt->streams[idx]->codecpar->codec_id));
    } else {
        idx = av_find_best_stream(fmt, AVMEDIA_TYPE_AUDIO, -1, -1, &codec, 0);
        if (idx == AVERROR_DECODER_NOT_FOUND)
            return hark_error_set(HARK_EDECODE, "%s: unsupported audio codec '%s'", dec->name,
                                  first_audio_codec(fmt));
        if (idx < 0) {
            for (i = 0; i < fmt->nb_streams; i++)
                videos += (unsigned)is_video(fmt->streams[i]);
            if (videos > 0)
                return hark_error_set(HARK_ENOAUDIO, "%s: no audio stream (video only)", dec->name);
            if (fmt->nb_streams == 0)
                return hark_error_set(HARK_EDECODE, "%s: not an audio or video file", dec->name);
            return hark_error_set(HARK_ENOAUDIO, "%s: no audio stream", dec->name);
        }
    }
    dec->stream = idx;
    *codec_out = codec;
    return 0;
}

/* Formats libav recognises that are not audio or video files in any useful sense. */
static const char *non_media_kind(const char *format)
{
    size_t n = strlen(format);
    if (strcmp(format, "tty") == 0)
        return "text";
    if (strcmp(format, "image2") == 0 || strcmp(format, "gif") == 0 ||
        (n > 5 && strcmp(format + n - 5, "_pipe") == 0))
        return "an image";
    return NULL;
}

static int open_input(hark_decoder *dec, const char *url, int seekable,
                      const hark_decoder_options *opts)
{
    uint8_t *iobuf = NULL;
    const AVInputFormat *ifmt = NULL;
    const AVCodec *codec = NULL;
    const char *kind;
    char what[128];
    AVStream *st;
    unsigned i;
    int rc = 0, ret;

    hark__av_init();
    hark__av_clear_log();

    iobuf = av_malloc(IO_BUF_SIZE);
    HARK_ALLOC_CHECK(iobuf, rc, out);
    dec->avio = avio_alloc_context(iobuf, IO_BUF_SIZE, 0, dec, dec->mem ? mem_read : fd_read, NULL,
                                   seekable ? (dec->mem ? mem_seek : fd_seek) : NULL);
    HARK_ALLOC_CHECK(dec->avio, rc, out);
    iobuf = NULL; /* owned by avio now */
    dec->fmt = avformat_alloc_context();
    HARK_ALLOC_CHECK(dec->fmt, rc, out);
    dec->fmt->pb = dec->avio;
    dec->fmt->flags |= AVFMT_FLAG_CUSTOM_IO;
    dec->fmt->io_open = deny_io_open;

    /* probe first, so "not media at all" and "damaged media" get different messages */
    ret = av_probe_input_buffer2(dec->avio, &ifmt, url, NULL, 0, 0);
    /* a score below AVPROBE_SCORE_RETRY means "only the name's extension matched" */
    if (ret < AVPROBE_SCORE_RETRY || !ifmt) {
        if (dec->io_errno)
            rc = hark_error_set(HARK_EIO, "%s: %s", dec->name, strerror(dec->io_errno));
        else if (ret == AVERROR(ENOMEM))
            rc = hark_error_set(HARK_ENOMEM, "%s: out of memory", dec->name);
        else if (dec->bytes_read == 0)
            rc = hark_error_set(HARK_EDECODE, "%s: empty file (not an audio or video file)",
                                dec->name);
        else
            rc = hark_error_set(HARK_EDECODE, "%s: not an audio or video file", dec->name);
        goto out;
    }
    kind = non_media_kind(ifmt->name);
    if (kind) {
        rc = hark_error_set(HARK_EDECODE, "%s: not an audio or video file (it looks like %s)",
                            dec->name, kind);
        goto out;
    }
    ret = avformat_open_input(&dec->fmt, url, ifmt, NULL);
    if (ret < 0) {
        /* avformat_open_input freed fmt */
        if (dec->io_errno)
            rc = hark_error_set(HARK_EIO, "%s: %s", dec->name, strerror(dec->io_errno));
        else if (ret == AVERROR_EOF)
            rc = hark_error_set(HARK_EDECODE, "%s: truncated %s file (it ends inside the header)",
                                dec->name, ifmt->name);
        else {
            snprintf(what, sizeof(what), "corrupt or truncated %s file", ifmt->name);
            rc = hark__av_error(HARK_EDECODE, ret, dec->name, what);
        }
        goto out;
    }
    ret = avformat_find_stream_info(dec->fmt, NULL);
    if (ret < 0 && (ret == AVERROR(ENOMEM) || dec->io_errno)) {
        rc = dec->io_errno ? hark_error_set(HARK_EIO, "%s: %s", dec->name, strerror(dec->io_errno))
                           : hark_error_set(HARK_ENOMEM, "%s: out of memory", dec->name);
        goto out;
    }
    /* other find_stream_info failures are not fatal: the decoder may still manage */

    rc = select_stream(dec, opts ? opts->stream_index : -1, &codec);
    if (rc < 0)
        goto out;
    for (i = 0; i < dec->fmt->nb_streams; i++)
        if ((int)i != dec->stream)
            dec->fmt->streams[i]->discard = AVDISCARD_ALL;
    st = dec->fmt->streams[dec->stream];

    dec->codec = avcodec_alloc_context3(codec);
    HARK_ALLOC_CHECK(dec->codec, rc, out);
    ret = avcodec_parameters_to_context(dec->codec, st->codecpar);
    if (ret < 0) {
        rc = hark__av_error(HARK_EDECODE, ret, dec->name, "bad codec parameters");
        goto out;
    }
    dec->codec->pkt_timebase = st->time_base;
    dec->codec->thread_count = 1;
    ret = avcodec_open2(dec->codec, codec, NULL);
    if (ret < 0) {
        rc = hark__av_error(HARK_EDECODE, ret, dec->name, "cannot open the audio decoder");
        goto out;
    }
    dec->pkt_tb = st->time_base;
    dec->pkt = av_packet_alloc();
    dec->frame = av_frame_alloc();
    HARK_ALLOC_CHECK(dec->pkt, rc, out);
    HARK_ALLOC_CHECK(dec->frame, rc, out);

    if (dec->codec->sample_rate != 0 &&
        (dec->codec->sample_rate < MIN_RATE || dec->codec->sample_rate > MAX_RATE)) {
        rc = hark_error_set(HARK_EDECODE, "%s: unsupported sample rate %d Hz", dec->name,
                            dec->codec->sample_rate);
        goto out;
    }
    dec->info.container = dec->fmt->iformat->name;
    dec->info.codec = avcodec_get_name(st->codecpar->codec_id);
    dec->info.sample_rate = dec->codec->sample_rate;
    dec->info.channels = dec->codec->ch_layout.nb_channels;
    if (st->duration != AV_NOPTS_VALUE && st->duration > 0 && st->time_base.num > 0 &&
        st->time_base.den > 0)
        dec->info.duration =
            av_rescale_q_rnd(st->duration, st->time_base, (AVRational){ 1, HARK_SAMPLE_RATE },
                             AV_ROUND_NEAR_INF | AV_ROUND_PASS_MINMAX);
    else if (dec->fmt->duration != AV_NOPTS_VALUE && dec->fmt->duration > 0)
        dec->info.duration = av_rescale_q_rnd(dec->fmt->duration, AV_TIME_BASE_Q,
                                              (AVRational){ 1, HARK_SAMPLE_RATE },
                                              AV_ROUND_NEAR_INF | AV_ROUND_PASS_MINMAX);
    if (dec->info.duration < 0)
        dec->info.duration = 0;
    dec->duration_trusted = dec->info.duration > 0 &&
                            dec->fmt->duration_estimation_method != AVFMT_DURATION_FROM_BITRATE;
out:
    av_free(iobuf);
    return rc;
}

/* Checks and libav set-up common to a named file, stdin and a descriptor (dec->fd is set). */
static int open_fd(hark_decoder *dec, const char *url, const hark_decoder_options *opts)
{
    struct stat st;
    int seekable = 0;
    if (fstat(dec->fd, &st) != 0)
        return hark_error_set(HARK_EIO, "%s: %s", dec->name, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return hark_error_set(HARK_EIO, "%s: is a directory", dec->name);
    if (S_ISREG(st.st_mode)) {
        seekable = 1;
        if (st.st_size == 0)
            return hark_error_set(HARK_EDECODE, "%s: empty file (not an audio or video file)",
                                  dec->name);
    }
    return open_input(dec, url, seekable, opts);
}

int hark_decoder_open(hark_decoder **out, const char *path, const hark_decoder_options *opts)
{
    hark_decoder *dec = NULL;
    int stdin_input, rc;

    HARK_ASSERT_ARG(out);
    *out = NULL;
    HARK_ASSERT_ARG(path);
    stdin_input = strcmp(path, "-") == 0;
    rc = decoder_new(&dec, stdin_input ? "stdin" : path, opts);
    if (rc < 0)
        goto out;
    if (stdin_input) {
        dec->fd = 0;
    } else {
        dec->fd = open(path, O_RDONLY | O_CLOEXEC);
        if (dec->fd < 0) {
            int e = errno;
            if (e == ENOENT || e == ENOTDIR)
                rc = hark_error_set(HARK_ENOTFOUND, "%s: no such file", path);
            else if (e == EACCES || e == EPERM)
                rc = hark_error_set(HARK_EIO, "%s: permission denied", path);
            else
                rc = hark_error_set(HARK_EIO, "%s: cannot open: %s", path, strerror(e));
            goto out;
        }
        dec->close_fd = 1;
    }
    rc = open_fd(dec, stdin_input ? "pipe:" : path, opts);
out:
    if (rc < 0)
        hark_decoder_free(dec);
    else
        *out = dec;
    return rc;
}

int hark__decoder_open_fd(hark_decoder **out, int fd, const char *name,
                          const hark_decoder_options *opts)
{
    hark_decoder *dec = NULL;
    int rc;

    HARK_ASSERT_ARG(out);
    *out = NULL;
    if (fd < 0 || !name) {
        if (fd >= 0)
            close(fd);
        return hark_error_set(HARK_EINVAL, "invalid argument: fd or name");
    }
    if ((rc = decoder_new(&dec, name, opts)) < 0) {
        close(fd);
        goto out;
    }
    dec->fd = fd;
    dec->close_fd = 1;
    if (lseek(fd, 0, SEEK_SET) < 0 && errno != ESPIPE) {
        rc = hark_error_set(HARK_EIO, "%s: %s", name, strerror(errno));
        goto out;
    }
    rc = open_fd(dec, name, opts);
out:
    if (rc < 0)
        hark_decoder_free(dec);
    else
        *out = dec;
    return rc;
}

int hark__decoder_open_memory(hark_decoder **out, const void *data, size_t len, const char *name,
                              const hark_decoder_options *opts)
{
    hark_decoder *dec = NULL;
    int rc;

    HARK_ASSERT_ARG(out);
    *out = NULL;
    HARK_ASSERT_ARG(data || len == 0);
    if (!name)
        name = "memory";
    rc = decoder_new(&dec, name, opts);
    if (rc < 0)
        goto out;
    if (len == 0) {
        rc = hark_error_set(HARK_EDECODE, "%s: empty file (not an audio or video file)", name);
        goto out;
    }
    dec->mem = data;
    dec->mem_len = len;
    rc = open_input(dec, name, 1, opts);
out:
    if (rc < 0)
        hark_decoder_free(dec);
    else
        *out = dec;
    return rc;
}

void hark_decoder_free(hark_decoder *dec)
{
    if (!dec)
        return;
    swr_free(&dec->swr);
    av_channel_layout_uninit(&dec->seg_layout);
    av_frame_free(&dec->frame);
    av_packet_free(&dec->pkt);
    avcodec_free_context(&dec->codec);
    avformat_close_input(&dec->fmt);
    if (dec->avio) {
        av_freep(&dec->avio->buffer);
        avio_context_free(&dec->avio);
    }
    if (dec->close_fd && dec->fd >= 0)
        close(dec->fd);
    hark__free(dec->q);
    hark__free(dec->name);
    hark__free(dec);
}

/* ---- decoding ------------------------------------------------------------------------------- */

static int fail(hark_decoder *dec, int rc)
{
    dec->err = rc;
    snprintf(dec->errmsg, sizeof(dec->errmsg), "%s", hark_error_last());
    return rc;
}

/* Make room for `need` more samples at q_end. */
static int q_reserve(hark_decoder *dec, size_t need)
{
    size_t cap;
    float *q;
    if (dec->q_cap - dec->q_end >= need)
        return 0;
    if (dec->q_start > 0) {
        memmove(dec->q, dec->q + dec->q_start, (dec->q_end - dec->q_start) * sizeof(float));
        dec->q_end -= dec->q_start;
        dec->q_start = 0;
        if (dec->q_cap - dec->q_end >= need)
            return 0;
    }
    cap = dec->q_end + need;
    if (cap < 2 * dec->q_cap)
        cap = 2 * dec->q_cap;
    q = hark__reallocarray(dec->q, cap, sizeof(float));
    if (!q)
        return hark_error_set(HARK_ENOMEM, "%s: out of memory", dec->name);
    dec->q = q;
    dec->q_cap = cap;
    dec->q_peak = HARK_MAX(dec->q_peak, cap * sizeof(float));
    return 0;
}

/* Convert up to `room` samples into the queue; in == NULL flushes. */
static int swr_run(hark_decoder *dec, const uint8_t **in, int in_count, int room)
{
    uint8_t *outp;
    int n, rc;
    if (room <= 0)
        room = 1;
    rc = q_reserve(dec, (size_t)room);
    if (rc < 0)
        return rc;
    outp = (uint8_t *)(dec->q + dec->q_end);
    n = swr_convert(dec->swr, &outp, room, in, in_count);
    if (n < 0)
        return hark__av_error(HARK_EDECODE, n, dec->name, "resampling failed");
    dec->q_end += (size_t)n;
    dec->seg_out += n;
    dec->total += n;
    return n;
}

/* Flush the segment's resampler and make its length exact (see the rule at the top). */
static int end_segment(hark_decoder *dec)
{
    int64_t target, n;
    int rc;

    if (!dec->swr)
        return 0;
    do {
        rc = swr_run(dec, NULL, 0, OUT_SLICE);
        if (rc < 0)
            return rc;
    } while (rc > 0);
    target = av_rescale_rnd(dec->seg_in, HARK_SAMPLE_RATE, dec->seg_rate, AV_ROUND_NEAR_INF);
    if (dec->seg_out > target) {
        n = HARK_MIN(dec->seg_out - target, (int64_t)(dec->q_end - dec->q_start));
        dec->q_end -= (size_t)n;
        dec->total -= n;
    } else if (dec->seg_out < target) {
        dec->zeros += target - dec->seg_out;
        dec->total += target - dec->seg_out;
    }
    swr_free(&dec->swr);
    dec->seg_in = dec->seg_out = 0;
    return 0;
}

/* A resampler for frames shaped like `f`. */
static int start_segment(hark_decoder *dec, const AVFrame *f)
{
    AVChannelLayout out_layout = AV_CHANNEL_LAYOUT_MONO;
    AVChannelLayout in_layout = { 0 };
    double matrix[MAX_CHANNELS];
    int ch = f->ch_layout.nb_channels, ret, i, rc = 0;

    av_channel_layout_uninit(&dec->seg_layout);
    ret = av_channel_layout_copy(&dec->seg_layout, &f->ch_layout);
    if (ret < 0) {
        rc = hark__av_error(HARK_EDECODE, ret, dec->name, "bad channel layout");
        goto out;
    }
    dec->seg_rate = f->sample_rate;
    dec->seg_format = f->format;
    dec->seg_in = dec->seg_out = 0;
    dec->slice_in = (int)HARK_MAX(1, (int64_t)OUT_SLICE * f->sample_rate / HARK_SAMPLE_RATE);

    /* swr wants a layout it understands; with our own matrix the order does not matter */
    if (f->ch_layout.order == AV_CHANNEL_ORDER_NATIVE) {
        ret = av_channel_layout_copy(&in_layout, &f->ch_layout);
        if (ret < 0) {
            rc = hark__av_error(HARK_EDECODE, ret, dec->name, "bad channel layout");
            goto out;
        }
    } else {
        av_channel_layout_default(&in_layout, ch);
    }
    ret = swr_alloc_set_opts2(&dec->swr, &out_layout, AV_SAMPLE_FMT_FLT, HARK_SAMPLE_RATE,
                              &in_layout, f->format, f->sample_rate, 0, NULL);
    if (ret < 0) {
        rc = hark__av_error(HARK_EDECODE, ret, dec->name, "cannot set up the resampler");
        goto out;
    }
    av_opt_set_int(dec->swr, "resampler", SWR_ENGINE_SOXR, 0);
    for (i = 0; i < ch; i++)
        matrix[i] = 1.0 / ch;
    if (ch > 1) {
        ret = swr_set_matrix(dec->swr, matrix, ch);
        if (ret < 0) {
            rc = hark__av_error(HARK_EDECODE, ret, dec->name, "cannot set up the downmix");
            goto out;
        }
    }
    ret = swr_init(dec->swr);
    if (ret < 0 && ret != AVERROR(ENOMEM) && f->sample_rate != HARK_SAMPLE_RATE) {
        /* a libswresample built without soxr */
        av_opt_set_int(dec->swr, "resampler", SWR_ENGINE_SWR, 0);
        av_opt_set_int(dec->swr, "filter_size", SWR_FALLBACK_FILTER_SIZE, 0);
        av_opt_set_double(dec->swr, "cutoff", SWR_FALLBACK_CUTOFF, 0);
        if (ch > 1)
            swr_set_matrix(dec->swr, matrix, ch);
        ret = swr_init(dec->swr);
    }
    if (ret < 0) {
        rc = hark__av_error(HARK_EDECODE, ret, dec->name, "cannot set up the resampler");
        goto out;
    }
out:
    av_channel_layout_uninit(&in_layout);
    if (rc < 0)
        swr_free(&dec->swr);
    return rc;
}

/* Feed the next slice of the current frame to the resampler. */
static int feed_slice(hark_decoder *dec)
{
    const AVFrame *f = dec->frame;
    const uint8_t *in[MAX_CHANNELS];
    int ch = f->ch_layout.nb_channels;
    int bps = av_get_bytes_per_sample(f->format);
    int take = HARK_MIN(dec->slice_in, f->nb_samples - dec->frame_off);
    int room, i, rc;

    if (av_sample_fmt_is_planar(f->format)) {
        for (i = 0; i < ch; i++)
            in[i] = f->extended_data[i] + (size_t)dec->frame_off * (size_t)bps;
    } else {
        in[0] = f->extended_data[0] + (size_t)dec->frame_off * (size_t)bps * (size_t)ch;
    }
    room = swr_get_out_samples(dec->swr, take);
    if (room < 0)
        return hark__av_error(HARK_EDECODE, room, dec->name, "resampling failed");
    rc = swr_run(dec, in, take, room);
    if (rc < 0)
        return rc;
    dec->seg_in += take;
    dec->frame_off += take;
    if (dec->frame_off >= f->nb_samples) {
        av_frame_unref(dec->frame);
        dec->have_frame = 0;
    }
    return 0;
}

/* A decoder error: count it; give up on a decoder that keeps failing without new input. */
static void decode_error(hark_decoder *dec)
{
    dec->corrupt++;
    dec->since_error = 1;
    if (++dec->err_run >= MAX_ERR_RUN) {
        dec->truncated = 1;
        dec->codec_eof = 1;
    }
}

/* Replace NaN and infinity in float input (broken files) by 0: they would poison the filter. */
static int sanitize_frame(hark_decoder *dec, AVFrame *f)
{
    enum AVSampleFormat packed = av_get_packed_sample_fmt(f->format);
    int planar = av_sample_fmt_is_planar(f->format);
    int planes = planar ? f->ch_layout.nb_channels : 1;
    size_t count = (size_t)f->nb_samples * (size_t)(planar ? 1 : f->ch_layout.nb_channels);
    int p, fix, ret;
    size_t i;

    if (packed != AV_SAMPLE_FMT_FLT && packed != AV_SAMPLE_FMT_DBL)
        return 0;
    for (fix = 0; fix < 2; fix++) { /* pass 0 looks, pass 1 (only if needed) repairs */
        int bad = 0;
        if (fix) {
            ret = av_frame_make_writable(f);
            if (ret < 0)
                return hark__av_error(HARK_EDECODE, ret, dec->name, "cannot repair samples");
        }
        for (p = 0; p < planes; p++) {
            if (packed == AV_SAMPLE_FMT_FLT) {
                float *x = (float *)f->extended_data[p];
                for (i = 0; i < count; i++)
                    if (!isfinite(x[i])) {
                        bad = 1;
                        if (fix)
                            x[i] = 0.0f;
                    }
            } else {
                double *x = (double *)f->extended_data[p];
                for (i = 0; i < count; i++)
                    if (!isfinite(x[i])) {
                        bad = 1;
                        if (fix)
                            x[i] = 0.0;
                    }
            }
        }
        if (!bad)
            break;
    }
    return 0;
}

/* Take a decoded frame: start a new segment when its shape changes or after a hole. */
static int accept_frame(hark_decoder *dec)
{
    AVFrame *f = dec->frame;
    int64_t ts = INT64_MIN, gap = 0;
    int changed, rc;

    if (f->nb_samples <= 0 || f->sample_rate < MIN_RATE || f->sample_rate > MAX_RATE ||
        f->ch_layout.nb_channels <= 0 || f->ch_layout.nb_channels > MAX_CHANNELS ||
        av_get_bytes_per_sample(f->format) <= 0) {
        if (f->nb_samples > 0)
            decode_error(dec);
        av_frame_unref(f);
        return 0;
    }
    rc = sanitize_frame(dec, f);
    if (rc < 0)
        return rc;
    if (f->best_effort_timestamp != AV_NOPTS_VALUE && dec->pkt_tb.num > 0 && dec->pkt_tb.den > 0)
        ts = av_rescale_q(f->best_effort_timestamp, dec->pkt_tb, (AVRational){ 1, f->sample_rate });
    if (ts <= -TS_LIMIT || ts >= TS_LIMIT)
        ts = INT64_MIN;
    changed = !dec->swr || f->sample_rate != dec->seg_rate || f->format != dec->seg_format ||
              av_channel_layout_compare(&f->ch_layout, &dec->seg_layout) != 0;
    if (!changed && dec->since_error && ts != INT64_MIN && dec->next_ts != INT64_MIN) {
        int64_t d = ts - dec->next_ts;
        if (d > f->sample_rate / 1000 && d <= (int64_t)MAX_GAP_S * f->sample_rate)
            gap = d;
    }
    if (changed || gap > 0) {
        rc = end_segment(dec);
        if (rc < 0)
            return rc;
        if (gap > 0) {
            int64_t z = av_rescale_rnd(gap, HARK_SAMPLE_RATE, f->sample_rate, AV_ROUND_NEAR_INF);
            dec->zeros += z;
            dec->total += z;
        }
        rc = start_segment(dec, f);
        if (rc < 0)
            return rc;
        if (changed)
            dec->next_ts = INT64_MIN;
    }
    dec->since_error = 0;
    dec->err_run = 0;
    if (ts != INT64_MIN)
        dec->next_ts = ts + f->nb_samples;
    else if (dec->next_ts != INT64_MIN && dec->next_ts < TS_LIMIT)
        dec->next_ts += f->nb_samples;
    dec->have_frame = 1;
    dec->frame_off = 0;
    return 0;
}

/* Read the next packet of our stream and hand it to the decoder. */
static int send_packet(hark_decoder *dec)
{
    int ret;

    if (dec->demux_eof)
        return 0;
    if (!dec->pkt_pending) {
        for (;;) {
            ret = av_read_frame(dec->fmt, dec->pkt);
            if (ret < 0) {
                if (dec->io_errno)
                    return hark_error_set(HARK_EIO, "%s: read error: %s", dec->name,
                                          strerror(dec->io_errno));
                if (ret == AVERROR(ENOMEM))
                    return hark_error_set(HARK_ENOMEM, "%s: out of memory", dec->name);
                if (ret != AVERROR_EOF && dec->packets == 0 && !dec->avio->seekable)
                    return hark__av_error(
                        HARK_EDECODE, ret, dec->name,
                        strncmp(dec->info.container, "mov,", 4) == 0
                            ? "cannot read this MP4/M4A from a pipe (its index is at the end: "
                              "use a file, or remux with -movflags +faststart)"
                            : "cannot read this file from a pipe");
                if (ret != AVERROR_EOF && !avio_feof(dec->avio) &&
                    avio_tell(dec->avio) > dec->demux_err_pos &&
                    dec->demux_errs < MAX_DEMUX_ERRORS) {
                    /* the demuxer may resynchronise further on: try again */
                    dec->demux_err_pos = avio_tell(dec->avio);
                    dec->demux_errs++;
                    decode_error(dec);
                    dec->err_run = 0;
                    continue;
                }
                if (ret != AVERROR_EOF || dec->last_pkt_short)
                    dec->truncated = 1;
                dec->demux_eof = 1;
                ret = avcodec_send_packet(dec->codec, NULL);
                if (ret == AVERROR(ENOMEM))
                    return hark_error_set(HARK_ENOMEM, "%s: out of memory", dec->name);
                return 0;
            }
            if (dec->pkt->stream_index == dec->stream) {
                dec->packets++;
                break;
            }
            av_packet_unref(dec->pkt);
        }
        dec->last_pkt_short = (dec->pkt->flags & AV_PKT_FLAG_CORRUPT) != 0;
    }
    ret = avcodec_send_packet(dec->codec, dec->pkt);
    if (ret == AVERROR(EAGAIN)) {
        dec->pkt_pending = 1; /* the decoder has output first; send again later */
        return 0;
    }
    dec->pkt_pending = 0;
    av_packet_unref(dec->pkt);
    dec->err_run = 0;
    if (ret == AVERROR(ENOMEM))
        return hark_error_set(HARK_ENOMEM, "%s: out of memory", dec->name);
    if (ret < 0 && ret != AVERROR_EOF)
        decode_error(dec);
    return 0;
}

/* Get the next decoded frame into dec->frame, or reach the decoder's end. */
static int next_frame(hark_decoder *dec)
{
    int ret, rc;
    for (;;) {
        if (dec->codec_eof)
            return 0;
        ret = avcodec_receive_frame(dec->codec, dec->frame);
        if (ret >= 0)
            return accept_frame(dec);
        if (ret == AVERROR_EOF) {
            dec->codec_eof = 1;
            return 0;
        }
        if (ret == AVERROR(EAGAIN)) {
            if (dec->demux_eof) { /* a decoder that cannot drain: treat as drained */
                dec->codec_eof = 1;
                return 0;
            }
            rc = send_packet(dec);
            if (rc < 0)
                return rc;
            continue;
        }
        if (ret == AVERROR(ENOMEM))
            return hark_error_set(HARK_ENOMEM, "%s: out of memory", dec->name);
        decode_error(dec);
    }
}

/*
 * Ogg keeps no length in a header, and libav silently drops a final page cut
 * short, so look at the end of the input: a complete Ogg stream ends with a
 * whole page that carries the end-of-stream flag. Returns 1 if it does, 0 if
 * not, -1 when it cannot tell (not seekable, out of memory).
 */
#define OGG_MAX_PAGE 65307 /* bytes: 27-byte header + 255 lacing values + 255 * 255 */
static int ogg_ends_cleanly(hark_decoder *dec)
{
    uint8_t *buf = NULL;
    const uint8_t *tail;
    size_t n, p, nseg, body, i;
    int rc = 0;

    if (dec->mem) {
        n = HARK_MIN(dec->mem_len, (size_t)OGG_MAX_PAGE);
        tail = dec->mem + dec->mem_len - n;
    } else {
        struct stat st;
        ssize_t r;
        if (!dec->avio->seekable || fstat(dec->fd, &st) != 0 || st.st_size <= 0)
            return -1;
        n = (size_t)HARK_MIN((int64_t)st.st_size, (int64_t)OGG_MAX_PAGE);
        buf = hark__malloc(n);
        if (!buf)
            return -1;
        r = pread(dec->fd, buf, n, (off_t)(st.st_size - (off_t)n));
        if (r != (ssize_t)n) {
            hark__free(buf);
            return -1;
        }
        tail = buf;
    }
    for (p = n >= 27 ? n - 27 + 1 : 0; p-- > 0;) {
        if (memcmp(tail + p, "OggS", 4) != 0)
            continue;
        nseg = tail[p + 26];
        if (p + 27 + nseg > n)
            continue;
        for (body = 0, i = 0; i < nseg; i++)
            body += tail[p + 27 + i];
        if (p + 27 + nseg + body == n) {
            rc = (tail[p + 5] & 0x04) != 0; /* header_type: end of stream */
            break;
        }
    }
    hark__free(buf);
    return rc;
}

/* The decoder has produced all it will and everything owed is accounted for. */
static void finish(hark_decoder *dec)
{
    int64_t expected = dec->info.duration;
    dec->done = 1;
    if (dec->max_samples && (uint64_t)dec->total >= dec->max_samples)
        return; /* stopped on purpose before the end */
    if (dec->duration_trusted && dec->total < expected - expected / 100 - HARK_SAMPLE_RATE / 10)
        dec->truncated = 1;
    if (strcmp(dec->info.container, "ogg") == 0 && ogg_ends_cleanly(dec) == 0)
        dec->truncated = 1;
}

/* Refill the empty queue, or owe silence, or reach the end. */
static int refill(hark_decoder *dec)
{
    int rc;
    dec->q_start = dec->q_end = 0;
    while (dec->q_end == 0 && dec->zeros == 0 && !dec->done) {
        if (dec->max_samples && (uint64_t)dec->total >= dec->max_samples) {
            dec->done = 1;
            break;
        }
        if (dec->have_frame) {
            rc = feed_slice(dec);
        } else if (dec->codec_eof) {
            rc = end_segment(dec);
            if (rc >= 0)
                finish(dec);
        } else {
            rc = next_frame(dec);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

int hark_decoder_read(hark_decoder *dec, float *pcm, size_t max, size_t *n)
{
    size_t got = 0, k;
    int rc = 0;

    HARK_ASSERT_ARG(n);
    *n = 0;
    HARK_ASSERT_ARG(dec);
    HARK_ASSERT_ARG(pcm || max == 0);
    if (dec->err)
        return hark_error_set(dec->err, "%s", dec->errmsg);
    if (dec->max_samples) {
        uint64_t left = dec->max_samples - HARK_MIN(dec->max_samples, (uint64_t)dec->position);
        max = (size_t)HARK_MIN((uint64_t)max, left);
    }
    while (got < max) {
        k = dec->q_end - dec->q_start;
        if (k > 0) {
            k = HARK_MIN(k, max - got);
            memcpy(pcm + got, dec->q + dec->q_start, k * sizeof(float));
            dec->q_start += k;
            got += k;
        } else if (dec->zeros > 0) {
            k = (size_t)HARK_MIN((int64_t)(max - got), dec->zeros);
            memset(pcm + got, 0, k * sizeof(float));
            dec->zeros -= (int64_t)k;
            got += k;
        } else if (dec->done) {
            break;
        } else {
            rc = refill(dec);
            if (rc < 0) {
                fail(dec, rc);
                break;
            }
        }
    }
    dec->position += (int64_t)got;
    *n = got;
    /* samples decoded before an error are delivered; the error comes with the next read */
    return got > 0 ? 0 : rc;
}

const hark_audio_info *hark_decoder_info(const hark_decoder *dec)
{
    return dec ? &dec->info : NULL;
}

int64_t hark_decoder_position(const hark_decoder *dec)
{
    return dec ? dec->position : 0;
}

size_t hark__decoder_buffer_peak(const hark_decoder *dec)
{
    return dec ? dec->q_peak : 0;
}

unsigned hark_decoder_warnings(const hark_decoder *dec, const char **msg)
{
    hark_decoder *d = (hark_decoder *)dec; /* warn[] is a cache of the summary */
    size_t len = 0;
    if (msg)
        *msg = NULL;
    if (!dec || (dec->corrupt == 0 && !dec->truncated))
        return 0;
    d->warn[0] = '\0';
    if (dec->corrupt > 0)
        len = (size_t)snprintf(d->warn, sizeof(d->warn), "%u corrupt packet%s skipped",
                               dec->corrupt, dec->corrupt == 1 ? "" : "s");
    if (dec->truncated && len < sizeof(d->warn))
        snprintf(d->warn + len, sizeof(d->warn) - len, "%sdata ends early (truncated file?)",
                 len ? "; " : "");
    if (msg)
        *msg = d->warn;
    return dec->corrupt + (dec->truncated ? 1u : 0u);
}

/* ---- whole-file convenience ------------------------------------------------------------------ */

int hark_audio_load(float **pcm, size_t *n, const char *path)
{
    hark_decoder *dec = NULL;
    float *buf = NULL, *nb;
    size_t len = 0, cap = 0, got;
    int64_t hint;
    int rc;

    HARK_ASSERT_ARG(pcm && n);
    *pcm = NULL;
    *n = 0;
    HARK_ASSERT_ARG(path);
    rc = hark_decoder_open(&dec, path, NULL);
    if (rc < 0)
        goto out;
    hint = hark_decoder_info(dec)->duration;
    /* the header's length is a hint, trusted up to 10 minutes (a lying header must not cost
     * memory); longer files grow the buffer by half each time */
    cap = (size_t)HARK_MIN(hint, (int64_t)600 * HARK_SAMPLE_RATE) + LOAD_BLOCK;
    for (;;) {
        if (cap - len < LOAD_BLOCK || !buf) {
            size_t ncap = buf ? cap + cap / 2 : cap;
            nb = hark__reallocarray(buf, ncap, sizeof(float));
            if (!nb) {
                rc = hark_error_set(HARK_ENOMEM, "%s: out of memory", path);
                goto out;
            }
            buf = nb;
            cap = ncap;
        }
        rc = hark_decoder_read(dec, buf + len, cap - len, &got);
        if (rc < 0)
            goto out;
        if (got == 0)
            break;
        len += got;
    }
    if (len > 0) {
        nb = hark__reallocarray(buf, len, sizeof(float));
        if (nb)
            buf = nb;
        *pcm = buf;
        buf = NULL;
        *n = len;
    }
out:
    hark__free(buf);
    hark_decoder_free(dec);
    return rc;
}
