/*
 * errors.c: bad input. Each case gets its own code and a one-line message
 * that names the file and the reason; damaged files decode what is valid and
 * say what was wrong through hark_decoder_warnings.
 */
#define _DEFAULT_SOURCE /* wait4 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixtures.h"

/* Open must fail with `code` and a message naming `path` and containing `reason`. */
static void expect_open_error(const char *path, int code, const char *reason)
{
    hark_decoder *dec = (hark_decoder *)&dec; /* must be reset to NULL */
    ASSERT_ERR(hark_decoder_open(&dec, path, NULL), code);
    ASSERT(dec == NULL);
    ASSERT_CONTAINS(hark_error_last(), path);
    ASSERT_CONTAINS(hark_error_last(), reason);
    ASSERT(strchr(hark_error_last(), '\n') == NULL);
}

/* Copy the first `fraction` of the bytes of src to tmpdir/name. */
static const char *truncated_copy(const char *src, const char *name, double fraction)
{
    size_t len;
    char *data = harness_read_file(src, &len);
    const char *path = harness_path(name);
    ASSERT(data != NULL);
    ASSERT_EQ(harness_write_file(path, data, (size_t)((double)len * fraction)), 0);
    free(data);
    return path;
}

/* Decode a damaged file: must succeed, with the warning `want` and `min..max` samples. */
static void expect_damage(const char *path, const char *want, size_t min, size_t max)
{
    hark_decoder *dec = NULL;
    const char *warn = NULL;
    float *pcm;
    size_t n;
    ASSERT_OK(hark_decoder_open(&dec, path, NULL));
    pcm = decode_rest(dec, 4096, &n);
    ASSERT(hark_decoder_warnings(dec, &warn) > 0);
    ASSERT_CONTAINS(warn, want);
    ASSERT_MSG(n >= min && n <= max, "%s: %zu samples, expected %zu..%zu", path, n, min, max);
    free(pcm);
    hark_decoder_free(dec);
}

TEST(missing_file_is_ENOTFOUND)
{
    expect_open_error(harness_path("nope.wav"), HARK_ENOTFOUND, "no such file");
    expect_open_error(harness_path("no/such/dir/x.mp3"), HARK_ENOTFOUND, "no such file");
}

TEST(unreadable_file_is_EIO)
{
    const char *path = harness_path("secret.wav");
    pid_t pid;
    int st;
    write_wav(path, 16000, 1, (const int16_t[]){ 1, 2, 3 }, 3);
    ASSERT_EQ(chmod(path, 0), 0);
    if (geteuid() != 0) {
        expect_open_error(path, HARK_EIO, "permission denied");
        return;
    }
    /* root reads anything: check as an ordinary user in a child */
    ASSERT_EQ(chmod(harness_tmpdir(), 0755), 0);
    pid = fork();
    ASSERT(pid >= 0);
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            _exit(77);
        expect_open_error(path, HARK_EIO, "permission denied");
        _exit(0);
    }
    ASSERT(waitpid(pid, &st, 0) == pid);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 77)
        SKIP("cannot drop privileges to test permissions");
    ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child failed");
}

TEST(directory_is_EIO)
{
    expect_open_error(harness_tmpdir(), HARK_EIO, "is a directory");
}

TEST(text_file_is_EDECODE_not_audio)
{
    /* whatever the name says: a misleading extension must not make text "corrupt audio" */
    static const char *const names[] = { "notes.txt", "notes.c",   "notes.mp3",
                                         "page.m4a",  "notes.wav", "notes.ogg" };
    const char *text = "Meeting notes\nThis is a plain text file, not audio at all.\n";
    size_t i;
    for (i = 0; i < HARK_ARRAY_SIZE(names); i++) {
        const char *path = harness_path(names[i]);
        ASSERT_EQ(harness_write_file(path, text, strlen(text)), 0);
        expect_open_error(path, HARK_EDECODE, "not an audio or video file");
    }
}

TEST(random_bytes_are_EDECODE_not_audio)
{
    static const char *const names[] = { "noise.bin", "noise.mp3", "noise.flac" };
    uint64_t seed = 42;
    uint8_t buf[65536];
    size_t i;
    for (i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)harness_rand(&seed);
    for (i = 0; i < HARK_ARRAY_SIZE(names); i++) {
        const char *path = harness_path(names[i]);
        ASSERT_EQ(harness_write_file(path, buf, sizeof(buf)), 0);
        expect_open_error(path, HARK_EDECODE, "not an audio or video file");
    }
}

TEST(empty_file_is_EDECODE)
{
    const char *path = harness_path("empty.mp3");
    ASSERT_EQ(harness_write_file(path, "", 0), 0);
    expect_open_error(path, HARK_EDECODE, "empty file");
}

TEST(image_is_EDECODE_not_audio)
{
    const char *path;
    need_ffmpeg();
    path = harness_path("pic.png");
    ASSERT_EQ(harness_sh("ffmpeg -nostdin -v error -f lavfi -i testsrc=size=32x32 -frames:v 1 '%s'",
                         path),
              0);
    expect_open_error(path, HARK_EDECODE, "not an audio or video file");
}

TEST(video_without_audio_is_ENOAUDIO)
{
    const char *path;
    need_ffmpeg();
    path = harness_path("silent-film.mp4");
    ASSERT_EQ(
        harness_sh("ffmpeg -nostdin -v error -f lavfi -i testsrc=size=64x48:rate=5:duration=1 "
                   "-c:v mpeg4 '%s'",
                   path),
        0);
    expect_open_error(path, HARK_ENOAUDIO, "no audio stream");
}

TEST(stream_index_must_name_an_audio_stream)
{
    const char *path = make_fixture("v.mkv", "-c:v mpeg4 -c:a flac", 1);
    hark_decoder_options opts = HARK_DECODER_OPTIONS_INIT;
    hark_decoder *dec = NULL;
    float *pcm;
    size_t n;
    opts.stream_index = 0; /* the video */
    ASSERT_ERR(hark_decoder_open(&dec, path, &opts), HARK_ENOAUDIO);
    ASSERT_CONTAINS(hark_error_last(), "stream 0 is not an audio stream");
    opts.stream_index = 7;
    ASSERT_ERR(hark_decoder_open(&dec, path, &opts), HARK_ENOAUDIO);
    opts.stream_index = 1;
    ASSERT_OK(hark_decoder_open(&dec, path, &opts));
    pcm = decode_rest(dec, 4096, &n);
    ASSERT_EQ(n, SIG_OUT);
    free(pcm);
    hark_decoder_free(dec);
}

TEST(options_with_unknown_version_are_EINVAL)
{
    hark_decoder_options opts = HARK_DECODER_OPTIONS_INIT;
    hark_decoder *dec = NULL;
    opts.version = 99;
    ASSERT_ERR(hark_decoder_open(&dec, ref_wav(), &opts), HARK_EINVAL);
    ASSERT(dec == NULL);
}

TEST(zero_length_audio_yields_no_samples)
{
    const char *path = harness_path("nothing.wav");
    hark_decoder *dec = NULL;
    float buf[16], *pcm = (float *)buf;
    size_t n = 99;
    write_wav(path, 44100, 2, NULL, 0);
    ASSERT_OK(hark_decoder_open(&dec, path, NULL));
    ASSERT_OK(hark_decoder_read(dec, buf, 16, &n));
    ASSERT_EQ(n, 0);
    ASSERT_OK(hark_decoder_read(dec, buf, 16, &n)); /* and stays at the end */
    ASSERT_EQ(n, 0);
    ASSERT_EQ(hark_decoder_warnings(dec, NULL), 0);
    hark_decoder_free(dec);
    ASSERT_OK(hark_audio_load(&pcm, &n, path));
    ASSERT(pcm == NULL);
    ASSERT_EQ(n, 0);
}

TEST(truncated_wav_decodes_what_is_there_and_warns)
{
    const char *path = truncated_copy(ref_wav(), "cut.wav", 0.5);
    expect_damage(path, "data ends early (truncated file?)", SIG_OUT / 2 - 100, SIG_OUT / 2);
}

TEST(truncated_flac_decodes_what_is_there_and_warns)
{
    const char *path = truncated_copy(make_fixture("s.flac", "-c:a flac", 0), "cut.flac", 0.5);
    expect_damage(path, "data ends early (truncated file?)", SIG_OUT / 4, SIG_OUT * 3 / 4);
}

TEST(truncated_mp3_decodes_what_is_there_and_warns)
{
    const char *path =
        truncated_copy(make_fixture("s.mp3", "-c:a libmp3lame -b:a 64k", 0), "cut.mp3", 0.6);
    expect_damage(path, "data ends early (truncated file?)", SIG_OUT / 2, SIG_OUT * 3 / 4);
}

TEST(truncated_ogg_opus_decodes_what_is_there_and_warns)
{
    const char *path =
        truncated_copy(make_fixture("s.opus", "-c:a libopus -b:a 32k", 0), "cut.opus", 0.8);
    expect_damage(path, "data ends early (truncated file?)", SIG_OUT / 2, SIG_OUT * 9 / 10);
}

TEST(truncated_webm_decodes_what_is_there_and_warns)
{
    const char *path =
        truncated_copy(make_fixture("s.webm", "-c:a libopus -b:a 32k", 0), "cut.webm", 0.6);
    expect_damage(path, "data ends early (truncated file?)", SIG_OUT / 3, SIG_OUT * 3 / 4);
}

TEST(m4a_cut_before_its_index_is_EDECODE)
{
    /* ffmpeg writes the moov index at the end: without it nothing can be decoded */
    const char *path = truncated_copy(make_fixture("s.m4a", "-c:a aac", 0), "cut.m4a", 0.6);
    expect_open_error(path, HARK_EDECODE, "corrupt or truncated");
}

/* Overwrite 64 bytes at 30%, 50% and 70% of the file with noise. */
static const char *corrupt_copy(const char *src, const char *name)
{
    size_t len, i, k;
    uint64_t seed = 1;
    char *data = harness_read_file(src, &len);
    const char *path = harness_path(name);
    static const double at[] = { 0.3, 0.5, 0.7 };
    ASSERT(data != NULL);
    for (k = 0; k < 3; k++)
        for (i = 0; i < 64; i++)
            data[(size_t)((double)len * at[k]) + i] = (char)harness_rand(&seed);
    ASSERT_EQ(harness_write_file(path, data, len), 0);
    free(data);
    return path;
}

TEST(corrupt_flac_skips_bad_packets_and_keeps_timing)
{
    const char *path = corrupt_copy(make_fixture("s.flac", "-c:a flac", 0), "bad.flac");
    hark_decoder *dec = NULL;
    const char *warn = NULL;
    float *pcm;
    size_t n;
    ASSERT_OK(hark_decoder_open(&dec, path, NULL));
    pcm = decode_rest(dec, 4096, &n);
    ASSERT(hark_decoder_warnings(dec, &warn) >= 1);
    ASSERT_CONTAINS(warn, "corrupt packet");
    ASSERT_CONTAINS(warn, "skipped");
    /* the lost frames became silence of the same length: later audio is on time */
    ASSERT_EQ(n, SIG_OUT);
    {
        double on = rms(pcm, n, 2 * 16000 + 1600, 2 * 16000 + 6400);
        ASSERT_NEAR(on, SIG_AMP / sqrt(2.0), 0.01);
    }
    free(pcm);
    hark_decoder_free(dec);
}

TEST(corrupt_mp3_skips_bad_packets)
{
    const char *path =
        corrupt_copy(make_fixture("s.mp3", "-c:a libmp3lame -b:a 64k", 0), "bad.mp3");
    expect_damage(path, "corrupt packets skipped", SIG_OUT * 8 / 10, SIG_OUT + 100);
}

TEST(corrupt_aac_in_m4a_skips_bad_packets)
{
    const char *path = corrupt_copy(make_fixture("s.m4a", "-c:a aac -b:a 64k", 0), "bad.m4a");
    expect_damage(path, "corrupt packet", SIG_OUT * 8 / 10, SIG_OUT + 372);
}

TEST(absurd_sample_rate_is_EDECODE)
{
    const char *path = harness_path("slow.wav");
    static const int16_t d[400] = { 0 };
    write_wav(path, 400, 1, d, 400);
    expect_open_error(path, HARK_EDECODE, "unsupported sample rate 400 Hz");
}

TEST(lying_chunk_sizes_do_not_cost_gigabytes)
{
    /* found by the fuzzer: a 395-byte WAV whose RIFF INFO list makes libav zero-allocate the
     * 1.6 GB a chunk header claims. The allocation cap turns that into a plain error. */
    const char *path = HARK_SOURCE_DIR "/tests/fuzz/corpora/decoder/riff-info-huge-chunk.wav";
    struct rusage ru;
    pid_t pid = fork();
    int st;
    ASSERT(pid >= 0);
    if (pid == 0) {
        hark_decoder *dec = NULL;
        if (hark_decoder_open(&dec, path, NULL) != HARK_EDECODE)
            _exit(1);
        _exit(0);
    }
    ASSERT(wait4(pid, &st, 0, &ru) == pid);
    ASSERT_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "open did not fail with EDECODE");
    ASSERT_LT((double)ru.ru_maxrss * 1024, 400.0 * 1048576);
}
