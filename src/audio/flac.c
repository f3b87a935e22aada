/*
 * flac.c: the archive writer. Streams 16 kHz mono float samples into a FLAC
 * file with libavcodec's FLAC encoder and libavformat's flac muxer. The same
 * writer encodes into memory for uploads (hark__flac_encode: the remote
 * engine's chunks), through an AVIOContext over a hark_buf that supports the
 * muxer's seek back to STREAMINFO; no file is involved then.
 *
 * DESIGN
 * - Crash safety: the data goes to a hidden temporary file in the target's
 *   folder (".<name>.XXXXXX", mkstemp, mode 0600: recordings are private),
 *   through our own AVIOContext over its descriptor. close() encodes the last
 *   partial frame, drains the encoder, lets the muxer rewrite STREAMINFO
 *   (total samples, MD5), fsyncs the file, renames it over the final name and
 *   fsyncs the folder. A crash or an error at any point leaves at most the
 *   hidden temporary file, never a half-written archive under the final name;
 *   on error the temporary file is removed.
 * - Samples are quantised to int16 with hark__pcm_to_s16 (round(x * 32768),
 *   clipped), the inverse of the decoder's int16 -> float, so 16-bit audio
 *   round-trips bit-exactly. FLAC_LEVEL trades encode time for size.
 * - Output is bit-exact and free of version strings (AVFMT_FLAG_BITEXACT,
 *   AV_CODEC_FLAG_BITEXACT): the same samples always give the same bytes.
 *
 * INVARIANTS
 * - fill < enc->frame_size between calls: a full frame is encoded at once.
 * - After the first error `err` is set and every later call returns it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>

#include "audio.h"

#define FLAC_LEVEL  8     /* libavcodec compression_level (0-12; 5 is flac(1)'s default) */
#define IO_BUF_SIZE 65536 /* bytes: AVIOContext buffer */

struct hark_flac_writer {
    char *path;           /* final name */
    char *tmp;            /* temporary file beside it */
    int fd;               /* tmp, -1 once closed */
    int io_errno;         /* errno of a failed write/seek, 0 = none */
    AVIOContext *avio;    /* ours: freed after fmt */
    AVFormatContext *fmt; /* flac muxer */
    AVStream *st;         /* its only stream */
    AVCodecContext *enc;  /* FLAC encoder */
    AVFrame *frame;       /* int16 frame being filled, enc->frame_size samples */
    AVPacket *pkt;
    int fill;         /* samples in frame */
    int64_t pts;      /* samples handed to the encoder */
    uint64_t samples; /* samples accepted by _write */
    int err;          /* sticky error, 0 = none */
    char errmsg[512]; /* its message */
    hark_buf *mem;    /* hark__flac_encode: the stream goes here instead of a file */
    size_t mem_pos;   /* its write position (the muxer seeks back to STREAMINFO) */
};

static int fd_write(void *opaque, uint8_t *buf, int size)
{
    hark_flac_writer *w = opaque;
    int done = 0;
    while (done < size) {
        ssize_t r = write(w->fd, buf + done, (size_t)(size - done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            w->io_errno = errno;
            return AVERROR(errno);
        }
        done += (int)r;
    }
    return size;
}

static int64_t fd_seek(void *opaque, int64_t offset, int whence)
{
    hark_flac_writer *w = opaque;
    int64_t r = hark__av_fd_seek(w->fd, offset, whence);
    if (r < 0)
        w->io_errno = AVUNERROR((int)r);
    return r;
}

static int mem_write(void *opaque, uint8_t *buf, int size)
{
    hark_flac_writer *w = opaque;
    size_t end = w->mem_pos + (size_t)size;
    if (end > w->mem->len) {
        if (hark_buf_grow(w->mem, end - w->mem->len) < 0) {
            w->io_errno = ENOMEM;
            return AVERROR(ENOMEM);
        }
        memset(w->mem->ptr + w->mem->len, 0, end - w->mem->len);
        w->mem->len = end;
        w->mem->ptr[end] = '\0';
    }
    memcpy(w->mem->ptr + w->mem_pos, buf, (size_t)size);
    w->mem_pos = end;
    return size;
}

static int64_t mem_seek(void *opaque, int64_t offset, int whence)
{
    hark_flac_writer *w = opaque;
    int64_t base;
    if (whence & AVSEEK_SIZE)
        return (int64_t)w->mem->len;
    whence &= ~AVSEEK_FORCE;
    base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? (int64_t)w->mem_pos : (int64_t)w->mem->len;
    if (base + offset < 0 || base + offset > (int64_t)w->mem->len)
        return AVERROR(EINVAL);
    w->mem_pos = (size_t)(base + offset);
    return (int64_t)w->mem_pos;
}

/* Record the first error and keep it. */
static int fail(hark_flac_writer *w, int rc)
{
    if (!w->err) {
        w->err = rc;
        snprintf(w->errmsg, sizeof(w->errmsg), "%s", hark_error_last());
    }
    return w->err;
}

/* An error from libav: an I/O failure underneath takes precedence. */
static int av_fail(hark_flac_writer *w, int averr, const char *what)
{
    if (w->io_errno)
        return fail(w, hark_error_set(w->io_errno == ENOSPC ? HARK_ENOSPC : HARK_EIO,
                                      "%s: write error: %s", w->path, strerror(w->io_errno)));
    return fail(w, hark__av_error(HARK_EIO, averr, w->path, what));
}

/* "dir/name" -> "dir/.name.XXXXXX" */
static char *temp_template(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t dir = slash ? (size_t)(slash - path) + 1 : 0;
    size_t len = strlen(path);
    char *t = hark__malloc(len + 9);
    if (!t)
        return NULL;
    memcpy(t, path, dir);
    t[dir] = '.';
    memcpy(t + dir + 1, path + dir, len - dir);
    memcpy(t + len + 1, ".XXXXXX", 8);
    return t;
}

static int encode(hark_flac_writer *w, AVFrame *frame);
static int encode_fill(hark_flac_writer *w);

/* Set up the encoder and the muxer over `w`'s output (a file or w->mem). */
static int setup(hark_flac_writer *w)
{
    AVChannelLayout mono = AV_CHANNEL_LAYOUT_MONO;
    const char *path = w->path;
    const AVCodec *codec;
    uint8_t *iobuf = NULL;
    int rc = 0, ret;

    codec = avcodec_find_encoder(AV_CODEC_ID_FLAC);
    if (!codec) {
        rc = hark_error_set(HARK_EUNSUPPORTED, "%s: libavcodec has no FLAC encoder", path);
        goto out;
    }
    w->enc = avcodec_alloc_context3(codec);
    HARK_ALLOC_CHECK(w->enc, rc, out);
    w->enc->sample_fmt = AV_SAMPLE_FMT_S16;
    w->enc->sample_rate = HARK_SAMPLE_RATE;
    w->enc->time_base = (AVRational){ 1, HARK_SAMPLE_RATE };
    w->enc->compression_level = FLAC_LEVEL;
    w->enc->flags |= AV_CODEC_FLAG_BITEXACT;
    ret = av_channel_layout_copy(&w->enc->ch_layout, &mono);
    if (ret >= 0)
        ret = avcodec_open2(w->enc, codec, NULL);
    if (ret < 0) {
        rc = av_fail(w, ret, "cannot open the FLAC encoder");
        goto out;
    }

    iobuf = av_malloc(IO_BUF_SIZE);
    HARK_ALLOC_CHECK(iobuf, rc, out);
    w->avio = avio_alloc_context(iobuf, IO_BUF_SIZE, 1, w, NULL, w->mem ? mem_write : fd_write,
                                 w->mem ? mem_seek : fd_seek);
    HARK_ALLOC_CHECK(w->avio, rc, out);
    iobuf = NULL; /* owned by avio */
    ret = avformat_alloc_output_context2(&w->fmt, NULL, "flac", NULL);
    if (ret < 0 || !w->fmt) {
        rc = av_fail(w, ret < 0 ? ret : AVERROR(ENOMEM), "cannot set up the FLAC muxer");
        goto out;
    }
    w->fmt->pb = w->avio;
    w->fmt->flags |= AVFMT_FLAG_CUSTOM_IO | AVFMT_FLAG_BITEXACT;
    w->fmt->metadata_header_padding = 0; /* no 8 KiB PADDING block: archives are not retagged */
    w->st = avformat_new_stream(w->fmt, NULL);
    HARK_ALLOC_CHECK(w->st, rc, out);
    w->st->time_base = w->enc->time_base;
    ret = avcodec_parameters_from_context(w->st->codecpar, w->enc);
    if (ret >= 0)
        ret = avformat_write_header(w->fmt, NULL);
    if (ret < 0) {
        rc = av_fail(w, ret, "cannot write the FLAC header");
        goto out;
    }

    w->frame = av_frame_alloc();
    w->pkt = av_packet_alloc();
    HARK_ALLOC_CHECK(w->frame, rc, out);
    HARK_ALLOC_CHECK(w->pkt, rc, out);
    w->frame->format = AV_SAMPLE_FMT_S16;
    w->frame->sample_rate = HARK_SAMPLE_RATE;
    w->frame->nb_samples = w->enc->frame_size > 0 ? w->enc->frame_size : 4096;
    ret = av_channel_layout_copy(&w->frame->ch_layout, &mono);
    if (ret >= 0)
        ret = av_frame_get_buffer(w->frame, 0);
    if (ret < 0) {
        rc = av_fail(w, ret, "cannot allocate a frame");
        goto out;
    }
out:
    av_free(iobuf);
    return rc;
}

int hark__flac_writer_open(hark_flac_writer **out, const char *path)
{
    hark_flac_writer *w = NULL;
    int rc = 0;

    HARK_ASSERT_ARG(out);
    *out = NULL;
    HARK_ASSERT_ARG(path && *path);
    hark__av_init();
    hark__av_clear_log();

    w = hark__calloc(1, sizeof(*w));
    HARK_ALLOC_CHECK(w, rc, out);
    w->fd = -1;
    w->path = hark__strdup(path);
    HARK_ALLOC_CHECK(w->path, rc, out);
    w->tmp = temp_template(path);
    HARK_ALLOC_CHECK(w->tmp, rc, out);
    w->fd = mkstemp(w->tmp);
    if (w->fd < 0) {
        int e = errno;
        rc = hark_error_set(e == ENOENT || e == ENOTDIR ? HARK_ENOTFOUND
                            : e == ENOSPC               ? HARK_ENOSPC
                                                        : HARK_EIO,
                            "%s: cannot create: %s", path, strerror(e));
        hark__free(w->tmp); /* nothing was created: do not unlink the template */
        w->tmp = NULL;
        goto out;
    }
    rc = setup(w);
out:
    if (rc < 0)
        hark__flac_writer_discard(w);
    else
        *out = w;
    return rc;
}

int hark__flac_encode(hark_buf *out, const float *pcm, size_t n)
{
    hark_flac_writer *w = NULL;
    size_t start;
    int rc = 0, ret;

    HARK_ASSERT_ARG(out && (pcm || n == 0));
    hark__av_init();
    hark__av_clear_log();
    start = out->len;
    w = hark__calloc(1, sizeof(*w));
    HARK_ALLOC_CHECK(w, rc, out);
    w->fd = -1;
    w->mem = out;
    w->mem_pos = out->len;
    w->path = hark__strdup("FLAC upload");
    HARK_ALLOC_CHECK(w->path, rc, out);
    if ((rc = setup(w)) < 0 || (rc = hark__flac_writer_write(w, pcm, n)) < 0)
        goto out;
    rc = encode_fill(w);
    if (rc >= 0)
        rc = encode(w, NULL);
    if (rc < 0)
        goto out;
    ret = av_write_trailer(w->fmt);
    if (ret >= 0) {
        avio_flush(w->avio);
        ret = w->avio->error;
    }
    if (ret < 0 || w->io_errno)
        rc = av_fail(w, ret < 0 ? ret : AVERROR(EIO), "cannot finish the FLAC stream");
out:
    hark__flac_writer_discard(w);
    if (rc < 0 && out->len > start) {
        out->len = start;
        if (out->ptr)
            out->ptr[start] = '\0';
    }
    return rc;
}

/* Send `frame` (NULL: flush) to the encoder and write every packet it returns. */
static int encode(hark_flac_writer *w, AVFrame *frame)
{
    int ret = avcodec_send_frame(w->enc, frame);
    if (ret < 0)
        return av_fail(w, ret, "FLAC encoding failed");
    for (;;) {
        ret = avcodec_receive_packet(w->enc, w->pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF)
            return 0;
        if (ret < 0)
            return av_fail(w, ret, "FLAC encoding failed");
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->st->time_base);
        w->pkt->stream_index = w->st->index;
        ret = av_write_frame(w->fmt, w->pkt);
        av_packet_unref(w->pkt);
        if (ret < 0)
            return av_fail(w, ret, "cannot write FLAC data");
    }
}

/* Encode the samples gathered in w->frame (a full frame, or the last partial one). */
static int encode_fill(hark_flac_writer *w)
{
    int full = w->frame->nb_samples, rc;
    if (w->fill == 0)
        return 0;
    w->frame->nb_samples = w->fill;
    w->frame->pts = w->pts;
    rc = encode(w, w->frame);
    w->frame->nb_samples = full;
    w->pts += w->fill;
    w->fill = 0;
    return rc;
}

int hark__flac_writer_write(hark_flac_writer *w, const float *pcm, size_t n)
{
    size_t done = 0;
    int rc, ret;

    HARK_ASSERT_ARG(w);
    HARK_ASSERT_ARG(pcm || n == 0);
    if (w->err)
        return hark_error_set(w->err, "%s", w->errmsg);
    while (done < n) {
        int16_t *dst;
        size_t k, i;
        if (w->fill == 0) {
            ret = av_frame_make_writable(w->frame); /* the encoder may still hold the last one */
            if (ret < 0)
                return av_fail(w, ret, "cannot allocate a frame");
        }
        dst = (int16_t *)w->frame->data[0] + w->fill;
        k = HARK_MIN(n - done, (size_t)(w->frame->nb_samples - w->fill));
        for (i = 0; i < k; i++)
            dst[i] = hark__pcm_to_s16(pcm[done + i]);
        w->fill += (int)k;
        done += k;
        w->samples += k;
        if (w->fill == w->frame->nb_samples) {
            rc = encode_fill(w);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

uint64_t hark__flac_writer_samples(const hark_flac_writer *w)
{
    return w ? w->samples : 0;
}

/* fsync the folder holding `path`, so the rename itself survives a crash (best effort). */
static void sync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir =
        slash ? hark__strndup(path, slash == path ? 1 : (size_t)(slash - path)) : hark__strdup(".");
    int fd;
    if (!dir)
        return;
    fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    hark__free(dir);
}

int hark__flac_writer_close(hark_flac_writer *w)
{
    int rc = 0, ret;

    if (!w)
        return 0;
    if (w->err) {
        rc = hark_error_set(w->err, "%s", w->errmsg);
        goto out;
    }
    rc = encode_fill(w);
    if (rc >= 0)
        rc = encode(w, NULL);
    if (rc < 0)
        goto out;
    ret = av_write_trailer(w->fmt);
    if (ret >= 0) {
        avio_flush(w->avio);
        ret = w->avio->error;
    }
    if (ret < 0 || w->io_errno) {
        rc = av_fail(w, ret < 0 ? ret : AVERROR(EIO), "cannot finish the FLAC file");
        goto out;
    }
    ret = fsync(w->fd);
    if (close(w->fd) != 0)
        ret = -1;
    w->fd = -1;
    if (ret != 0) {
        rc = hark_error_set(errno == ENOSPC ? HARK_ENOSPC : HARK_EIO, "%s: write error: %s",
                            w->path, strerror(errno));
        goto out;
    }
    if (rename(w->tmp, w->path) != 0) {
        rc = hark_error_set(HARK_EIO, "%s: cannot rename %s into place: %s", w->path, w->tmp,
                            strerror(errno));
        goto out;
    }
    hark__free(w->tmp); /* renamed: nothing left to remove */
    w->tmp = NULL;
    sync_parent(w->path);
out:
    hark__flac_writer_discard(w);
    return rc;
}

void hark__flac_writer_discard(hark_flac_writer *w)
{
    if (!w)
        return;
    av_packet_free(&w->pkt);
    av_frame_free(&w->frame);
    avcodec_free_context(&w->enc);
    avformat_free_context(w->fmt); /* custom I/O: does not touch avio */
    if (w->avio) {
        av_freep(&w->avio->buffer);
        avio_context_free(&w->avio);
    }
    if (w->fd >= 0)
        close(w->fd);
    if (w->tmp)
        unlink(w->tmp);
    hark__free(w->tmp);
    hark__free(w->path);
    hark__free(w);
}
