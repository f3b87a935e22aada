/*
 * avglue.c: what hark needs around libav* besides decoding proper.
 *
 * Logging: libav prints to stderr by default, and the library must never
 * print. hark__av_init() installs (once per process, pthread_once) a log
 * callback that keeps the last error-level message in a thread-local buffer
 * and drops everything else; hark__av_error() appends that message to hark's
 * error text when it says more than av_strerror(). Because libav's log
 * callback is process-global, an application that links libav itself loses
 * libav's own console messages once hark has opened a decoder or a writer.
 *
 * Memory: libav trusts sizes written in files more than it should (FFmpeg
 * 5.1's RIFF INFO reader zero-allocates whatever a chunk header claims: a
 * 400-byte WAV made it touch 1.6 GB). hark__av_init caps any single libav
 * allocation at HARK_AV_MAX_ALLOC with av_max_alloc(), which is far above
 * what decoding audio needs (the largest legitimate blocks are demuxer
 * indexes: 24 bytes per packet, ~90 MB for a 24-hour AAC file). Like the log
 * callback, this setting is process-wide.
 *
 * Invariants: the callback never allocates and never blocks; messages are cut
 * at HARK_AV_LOG_MAX bytes.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavformat/avio.h>
#include <libavutil/error.h>
#include <libavutil/log.h>
#include <libavutil/mem.h>

#include "audio.h"

#define HARK_AV_LOG_MAX   256
#define HARK_AV_MAX_ALLOC ((size_t)256 << 20) /* bytes: largest single libav allocation */

static pthread_once_t av_once = PTHREAD_ONCE_INIT;
static _Thread_local char av_last[HARK_AV_LOG_MAX]; /* last error message, no trailing newline */

static void av_log_sink(void *avcl, int level, const char *fmt, va_list vl)
{
    char line[HARK_AV_LOG_MAX];
    size_t n;

    HARK_UNUSED(avcl);
    if (level > AV_LOG_ERROR || !fmt)
        return;
    vsnprintf(line, sizeof(line), fmt, vl);
    n = strlen(line);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == ' ' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (n > 0)
        memcpy(av_last, line, n + 1);
}

static void av_setup(void)
{
    av_log_set_level(AV_LOG_ERROR);
    av_log_set_callback(av_log_sink);
    av_max_alloc(HARK_AV_MAX_ALLOC);
}

void hark__av_init(void)
{
    pthread_once(&av_once, av_setup);
}

const char *hark__av_last_log(void)
{
    return av_last;
}

void hark__av_clear_log(void)
{
    av_last[0] = '\0';
}

int hark__av_error(int code, int averr, const char *name, const char *what)
{
    char reason[AV_ERROR_MAX_STRING_SIZE];

    if (averr == AVERROR(ENOMEM))
        return hark_error_set(HARK_ENOMEM, "%s: %s: out of memory", name, what);
    if (av_strerror(averr, reason, sizeof(reason)) < 0)
        snprintf(reason, sizeof(reason), "libav error %d", averr);
    if (av_last[0] && !strstr(av_last, reason))
        return hark_error_set(code, "%s: %s: %s (%s)", name, what, reason, av_last);
    return hark_error_set(code, "%s: %s: %s", name, what, reason);
}

int64_t hark__av_fd_seek(int fd, int64_t offset, int whence)
{
    off_t r;
    if (whence == AVSEEK_SIZE) {
        struct stat st;
        return fstat(fd, &st) == 0 ? (int64_t)st.st_size : AVERROR(errno);
    }
    r = lseek(fd, (off_t)offset, whence & ~AVSEEK_FORCE);
    return r < 0 ? AVERROR(errno) : (int64_t)r;
}
