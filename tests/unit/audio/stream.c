/*
 * stream.c: standard input and pipes, the memory decoder, block sizes,
 * max_samples, hark_audio_load, and the streaming guarantee (memory does not
 * grow with the length of the recording).
 */
#define _DEFAULT_SOURCE /* wait4 */
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixtures.h"

/* Decode `path` as standard input fed through a pipe by a child, in small writes. */
static float *decode_through_pipe(const char *path, size_t *n, int64_t *duration)
{
    size_t len;
    char *data = harness_read_file(path, &len);
    int fds[2], saved, st;
    hark_decoder *dec = NULL;
    float *pcm;
    pid_t pid;

    ASSERT(data != NULL);
    ASSERT_EQ(pipe(fds), 0);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        size_t off = 0;
        close(fds[0]);
        while (off < len) { /* odd-sized writes: reads see arbitrary boundaries */
            ssize_t w = write(fds[1], data + off, HARK_MIN(len - off, (size_t)1000));
            if (w <= 0)
                _exit(1);
            off += (size_t)w;
        }
        _exit(0);
    }
    close(fds[1]);
    saved = dup(0);
    ASSERT(dup2(fds[0], 0) == 0);
    close(fds[0]);
    ASSERT_OK(hark_decoder_open(&dec, "-", NULL));
    *duration = hark_decoder_info(dec)->duration;
    pcm = decode_rest(dec, 4096, n);
    hark_decoder_free(dec);
    ASSERT(dup2(saved, 0) == 0);
    close(saved);
    ASSERT(waitpid(pid, &st, 0) == pid);
    ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    free(data);
    return pcm;
}

static void check_pipe_matches_file(const char *path, size_t extra)
{
    size_t n_file, n_pipe, i;
    int64_t duration;
    float *a = decode_file(path, 4096, &n_file);
    float *b = decode_through_pipe(path, &n_pipe, &duration);
    ASSERT_MSG(n_pipe >= n_file && n_pipe <= n_file + extra,
               "%s: %zu samples from a pipe, %zu from the file", path, n_pipe, n_file);
    for (i = 0; i < n_file; i++)
        ASSERT_MSG(a[i] == b[i], "%s: sample %zu differs: %g vs %g", path, i, a[i], b[i]);
    free(a);
    free(b);
}

TEST(stdin_pipe_wav)
{
    check_pipe_matches_file(ref_wav(), 0);
}

TEST(stdin_pipe_flac)
{
    check_pipe_matches_file(make_fixture("s.flac", "-c:a flac", 0), 0);
}

TEST(stdin_pipe_ogg_vorbis)
{
    check_pipe_matches_file(make_fixture("s.ogg", "-c:a libvorbis", 0), 0);
}

TEST(stdin_pipe_mp3)
{
    /* without seeking, libav cannot apply the LAME header's end padding (up to 1152 source
     * samples, 418 output samples at 44.1 kHz): the rest is identical */
    check_pipe_matches_file(make_fixture("s.mp3", "-c:a libmp3lame -b:a 64k", 0), 418);
}

TEST(stdin_from_a_shell_pipe)
{
    const char *path = make_fixture("s.flac", "-c:a flac", 0);
    char cmd[1200];
    FILE *p;
    int saved;
    float *pcm;
    size_t n;
    hark_decoder *dec = NULL;

    snprintf(cmd, sizeof(cmd), "cat '%s'", path);
    p = popen(cmd, "r");
    ASSERT(p != NULL);
    saved = dup(0);
    ASSERT(dup2(fileno(p), 0) == 0);
    ASSERT_OK(hark_decoder_open(&dec, "-", NULL));
    ASSERT_STREQ(hark_decoder_info(dec)->container, "flac");
    pcm = decode_rest(dec, 4096, &n);
    hark_decoder_free(dec);
    ASSERT(dup2(saved, 0) == 0);
    ASSERT_EQ(pclose(p), 0);
    ASSERT_EQ(n, SIG_OUT);
    check_signal(pcm, n, 0.002);
    free(pcm);
}

TEST(stdin_errors_name_stdin)
{
    int fds[2], saved;
    hark_decoder *dec = NULL;
    ASSERT_EQ(pipe(fds), 0);
    ASSERT_EQ(write(fds[1], "just some text, no audio", 24), 24);
    close(fds[1]);
    saved = dup(0);
    ASSERT(dup2(fds[0], 0) == 0);
    close(fds[0]);
    ASSERT_ERR(hark_decoder_open(&dec, "-", NULL), HARK_EDECODE);
    ASSERT_CONTAINS(hark_error_last(), "stdin: not an audio or video file");
    ASSERT(dup2(saved, 0) == 0);
}

TEST(memory_decoder_matches_file_decoder)
{
    const char *paths[4];
    size_t k, i;
    paths[0] = ref_wav();
    paths[1] = make_fixture("s.flac", "-c:a flac", 0);
    paths[2] = make_fixture("s.opus", "-c:a libopus", 0);
    paths[3] = make_fixture("s.m4a", "-c:a aac", 0);
    for (k = 0; k < 4; k++) {
        size_t len, n_file, n_mem;
        char *data = harness_read_file(paths[k], &len);
        float *a = decode_file(paths[k], 4096, &n_file), *b;
        hark_decoder *dec = NULL;
        ASSERT(data != NULL);
        ASSERT_OK(hark__decoder_open_memory(&dec, data, len, "upload", NULL));
        b = decode_rest(dec, 4096, &n_mem);
        {
            hark_decoder *fdec = NULL;
            const hark_audio_info *mi = hark_decoder_info(dec), *fi;
            ASSERT_OK(hark_decoder_open(&fdec, paths[k], NULL));
            fi = hark_decoder_info(fdec);
            ASSERT_STREQ(mi->container, fi->container);
            ASSERT_STREQ(mi->codec, fi->codec);
            ASSERT_EQ(mi->sample_rate, fi->sample_rate);
            ASSERT_EQ(mi->duration, fi->duration);
            hark_decoder_free(fdec);
        }
        hark_decoder_free(dec);
        ASSERT_EQ(n_mem, n_file);
        for (i = 0; i < n_file; i++)
            ASSERT_MSG(a[i] == b[i], "%s: sample %zu differs", paths[k], i);
        free(a);
        free(b);
        free(data);
    }
}

TEST(memory_decoder_errors_use_the_given_name)
{
    hark_decoder *dec = NULL;
    static const char junk[] = "<html><body>not audio</body></html>";
    ASSERT_ERR(hark__decoder_open_memory(&dec, junk, sizeof(junk), "upload-17.m4a", NULL),
               HARK_EDECODE);
    ASSERT(dec == NULL);
    ASSERT_CONTAINS(hark_error_last(), "upload-17.m4a: not an audio or video file");
    ASSERT_ERR(hark__decoder_open_memory(&dec, junk, 0, NULL, NULL), HARK_EDECODE);
    ASSERT_CONTAINS(hark_error_last(), "memory: empty file");
}

TEST(any_block_size_gives_the_same_samples)
{
    static const size_t blocks[] = { 1, 7, 160, 4096, 100000 };
    const char *path = make_fixture("s.ogg", "-c:a libvorbis", 0);
    size_t n0, n, b, i;
    float *ref = decode_file(path, 512, &n0);
    for (b = 0; b < HARK_ARRAY_SIZE(blocks); b++) {
        float *pcm = decode_file(path, blocks[b], &n);
        ASSERT_EQ(n, n0);
        for (i = 0; i < n; i++)
            ASSERT_MSG(pcm[i] == ref[i], "block %zu: sample %zu differs", blocks[b], i);
        free(pcm);
    }
    free(ref);
}

TEST(max_samples_stops_early)
{
    hark_decoder_options opts = HARK_DECODER_OPTIONS_INIT;
    hark_decoder *dec = NULL;
    float buf[3000];
    size_t n, total = 0;
    opts.max_samples = 10001;
    ASSERT_OK(hark_decoder_open(&dec, make_fixture("s.mp3", "-c:a libmp3lame", 0), &opts));
    do {
        ASSERT_OK(hark_decoder_read(dec, buf, 3000, &n));
        total += n;
    } while (n > 0);
    ASSERT_EQ(total, 10001);
    ASSERT_EQ(hark_decoder_position(dec), 10001);
    ASSERT_EQ(hark_decoder_warnings(dec, NULL), 0); /* stopping on purpose is not truncation */
    hark_decoder_free(dec);
}

TEST(audio_load_returns_the_whole_file)
{
    float *pcm = NULL, *ref;
    size_t n = 0, n_ref, i;
    ASSERT_OK(hark_audio_load(&pcm, &n, ref_wav()));
    ref = decode_file(ref_wav(), 333, &n_ref);
    ASSERT_EQ(n, n_ref);
    for (i = 0; i < n; i++)
        ASSERT(pcm[i] == ref[i]);
    hark_free(pcm);
    free(ref);
    pcm = (float *)&pcm;
    ASSERT_ERR(hark_audio_load(&pcm, &n, harness_path("missing.wav")), HARK_ENOTFOUND);
    ASSERT(pcm == NULL && n == 0);
}

#ifndef HARK_SANITIZED
static int under_valgrind(void)
{
    const char *p = getenv("LD_PRELOAD");
    return p && strstr(p, "vgpreload");
}
#endif

/*
 * Decode `path` in a child process; report the child's peak RSS (bytes) and
 * the decoder's buffer high-water mark (bytes) and the samples decoded.
 */
static void measure_child(const char *path, uint64_t *rss, uint64_t *peak, uint64_t *samples)
{
    int fds[2], st;
    uint64_t msg[2];
    struct rusage ru;
    pid_t pid;

    ASSERT_EQ(pipe(fds), 0);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        hark_decoder *dec = NULL;
        float buf[4096];
        size_t n;
        uint64_t total = 0;
        close(fds[0]);
        if (hark_decoder_open(&dec, path, NULL) < 0)
            _exit(1);
        while (hark_decoder_read(dec, buf, 4096, &n) == 0 && n > 0)
            total += n;
        msg[0] = hark__decoder_buffer_peak(dec);
        msg[1] = total;
        hark_decoder_free(dec);
        if (write(fds[1], msg, sizeof(msg)) != (ssize_t)sizeof(msg))
            _exit(1);
        _exit(0);
    }
    close(fds[1]);
    ASSERT_EQ(read(fds[0], msg, sizeof(msg)), (ssize_t)sizeof(msg));
    close(fds[0]);
    ASSERT(wait4(pid, &st, 0, &ru) == pid);
    ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    *rss = (uint64_t)ru.ru_maxrss * 1024;
    *peak = msg[0];
    *samples = msg[1];
}

/* An 8 kHz mono WAV of `minutes` (a 440 Hz tone: upsampled by the decoder), written in blocks. */
static const char *long_wav(const char *name, unsigned minutes)
{
    const char *path = harness_path(name);
    FILE *f = fopen(path, "wb");
    uint64_t frames = (uint64_t)minutes * 60 * 8000, i;
    static uint8_t block[16000];
    ASSERT(f != NULL);
    for (i = 0; i < 8000; i++) {
        int16_t v = (int16_t)lrint(10000 * sin(6.283185307179586 * 440 * (double)i / 8000));
        block[2 * i] = (uint8_t)((uint16_t)v & 0xff);
        block[2 * i + 1] = (uint8_t)((uint16_t)v >> 8);
    }
    write_wav_header(f, 8000, 1, frames);
    for (i = 0; i < frames; i += 8000)
        ASSERT(fwrite(block, 1, sizeof(block), f) == sizeof(block));
    ASSERT(fclose(f) == 0);
    return path;
}

TEST(memory_does_not_grow_with_the_length_of_the_recording)
{
    uint64_t rss1, rss60, peak1, peak60, n1, n60;
    harness_timeout(300);
    measure_child(long_wav("one.wav", 1), &rss1, &peak1, &n1);
    measure_child(long_wav("sixty.wav", 60), &rss60, &peak60, &n60);
    unlink(harness_path("sixty.wav"));
    printf("  1 min: %llu samples, peak RSS %.1f MiB, decoder buffer %llu bytes\n",
           (unsigned long long)n1, (double)rss1 / 1048576, (unsigned long long)peak1);
    printf("  60 min: %llu samples, peak RSS %.1f MiB, decoder buffer %llu bytes\n",
           (unsigned long long)n60, (double)rss60 / 1048576, (unsigned long long)peak60);
    ASSERT_EQ(n1, 60 * 16000);
    ASSERT_EQ(n60, 3600 * 16000);
    ASSERT_EQ(peak60, peak1);
    ASSERT_LT(peak60, 256 * 1024);
    /* 60 minutes of output is 230 MB as float: the decoder must hold none of it. (Under
     * AddressSanitizer freed memory sits in a quarantine of up to 256 MB, so RSS grows with
     * the number of packets there; the buffer high-water mark above still applies.) */
#ifndef HARK_SANITIZED
    if (!under_valgrind()) /* memcheck keeps freed blocks and shadow memory too */
        ASSERT_LT((double)rss60, (double)rss1 + 2 * 1048576.0);
#endif
}

TEST(mp4_with_index_at_the_end_from_a_pipe_is_a_clear_error)
{
    /* ffmpeg writes the moov index after the data; a pipe cannot seek back to the data */
    const char *path = harness_path("late-index.m4a");
    int fds[2], saved, st;
    hark_decoder *dec = NULL;
    float buf[4096];
    size_t n = 0, len;
    char *data;
    pid_t pid;
    int rc;

    need_ffmpeg();
    ASSERT_EQ(harness_sh("ffmpeg -nostdin -v error -f lavfi -i sine=frequency=440:duration=10 "
                         "-c:a aac -b:a 128k '%s'",
                         path),
              0);
    data = harness_read_file(path, &len);
    ASSERT(data != NULL);
    ASSERT_EQ(pipe(fds), 0);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        size_t off = 0;
        close(fds[0]);
        signal(SIGPIPE, SIG_DFL);
        while (off < len) {
            ssize_t w = write(fds[1], data + off, len - off);
            if (w <= 0)
                _exit(0); /* the reader gave up: fine */
            off += (size_t)w;
        }
        _exit(0);
    }
    close(fds[1]);
    saved = dup(0);
    ASSERT(dup2(fds[0], 0) == 0);
    close(fds[0]);
    rc = hark_decoder_open(&dec, "-", NULL);
    if (rc == 0) {
        rc = hark_decoder_read(dec, buf, 4096, &n);
        hark_decoder_free(dec);
    }
    ASSERT(dup2(saved, 0) == 0);
    ASSERT(waitpid(pid, &st, 0) == pid);
    ASSERT_ERR(rc, HARK_EDECODE);
    ASSERT_EQ(n, 0);
    ASSERT_CONTAINS(hark_error_last(), "stdin: cannot read this MP4/M4A from a pipe");
    ASSERT_CONTAINS(hark_error_last(), "faststart");
    free(data);
}
