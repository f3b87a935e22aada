/*
 * writers.c: the FLAC archive writer and hark_wav_write. Round trips through
 * the decoder are bit-exact for 16-bit-quantised samples.
 */
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixtures.h"

/* n samples of 16-bit-quantised test signal: a sweep plus noise, with full-scale peaks. */
static float *quantised_signal(size_t n, uint64_t seed)
{
    float *x = malloc(n * sizeof(float) + 1);
    size_t i;
    ASSERT(x != NULL);
    for (i = 0; i < n; i++) {
        double t = (double)i / 16000;
        double v = 0.5 * sin(6.283185307179586 * (200 + 300 * t) * t) + 0.05 * harness_randn(&seed);
        long k = lrint(v * 32768);
        k = k > 32767 ? 32767 : k < -32768 ? -32768 : k;
        x[i] = (float)k / 32768.0f;
    }
    if (n > 2) {
        x[0] = -1.0f;
        x[1] = 32767.0f / 32768.0f;
    }
    return x;
}

/* Names in the test's tmpdir (to find leftovers). */
static int count_files(void)
{
    DIR *d = opendir(harness_tmpdir());
    struct dirent *e;
    int n = 0;
    ASSERT(d != NULL);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void write_flac(const char *path, const float *x, size_t n, size_t chunk)
{
    hark_flac_writer *w = NULL;
    size_t i;
    ASSERT_OK(hark__flac_writer_open(&w, path));
    for (i = 0; i < n; i += chunk)
        ASSERT_OK(hark__flac_writer_write(w, x + i, HARK_MIN(chunk, n - i)));
    ASSERT_EQ(hark__flac_writer_samples(w), n);
    ASSERT_OK(hark__flac_writer_close(w));
}

TEST(flac_round_trip_is_bit_exact)
{
    static const size_t lengths[] = { 1, 4095, 4608, 100003 };
    static const size_t chunks[] = { 1, 1000, 4608, 65536 };
    size_t l, i, n;
    for (l = 0; l < HARK_ARRAY_SIZE(lengths); l++) {
        const char *path = harness_path("a.flac");
        float *x = quantised_signal(lengths[l], l + 1), *y;
        hark_decoder *dec = NULL;
        write_flac(path, x, lengths[l], chunks[l]);
        ASSERT_OK(hark_decoder_open(&dec, path, NULL));
        ASSERT_STREQ(hark_decoder_info(dec)->codec, "flac");
        ASSERT_EQ(hark_decoder_info(dec)->sample_rate, 16000);
        ASSERT_EQ(hark_decoder_info(dec)->channels, 1);
        ASSERT_EQ(hark_decoder_info(dec)->duration, lengths[l]);
        y = decode_rest(dec, 4096, &n);
        ASSERT_EQ(hark_decoder_warnings(dec, NULL), 0);
        hark_decoder_free(dec);
        ASSERT_EQ(n, lengths[l]);
        for (i = 0; i < n; i++)
            ASSERT_MSG(x[i] == y[i], "length %zu, sample %zu: %g vs %g", lengths[l], i, x[i], y[i]);
        free(x);
        free(y);
    }
}

TEST(flac_output_is_deterministic_and_checked_by_ffmpeg)
{
    const char *a = harness_path("a.flac"), *b = harness_path("b.flac");
    float *x = quantised_signal(50000, 3);
    size_t la, lb;
    char *da, *db;
    write_flac(a, x, 50000, 999);
    write_flac(b, x, 50000, 50000);
    da = harness_read_file(a, &la);
    db = harness_read_file(b, &lb);
    ASSERT(da && db);
    ASSERT_EQ(la, lb);
    ASSERT(memcmp(da, db, la) == 0);
    ASSERT(strstr(da, "Lavf") == NULL); /* no version strings */
    if (harness_have("ffmpeg"))         /* the STREAMINFO MD5 matches the audio */
        ASSERT_EQ(harness_sh(
                      "ffmpeg -nostdin -v error -err_detect crccheck+explode -i '%s' -f null -", a),
                  0);
    free(da);
    free(db);
    free(x);
}

TEST(flac_archive_appears_only_when_complete)
{
    const char *path = harness_path("rec.flac");
    hark_flac_writer *w = NULL;
    float *x = quantised_signal(40000, 5);
    ASSERT_OK(hark__flac_writer_open(&w, path));
    ASSERT_OK(hark__flac_writer_write(w, x, 40000));
    ASSERT(!exists(path));
    ASSERT_EQ(count_files(), 1); /* the hidden temporary file */
    ASSERT_OK(hark__flac_writer_close(w));
    ASSERT(exists(path));
    ASSERT_EQ(count_files(), 1); /* renamed: no temporary file left */
    free(x);
}

TEST(flac_discard_removes_everything)
{
    const char *path = harness_path("rec.flac");
    hark_flac_writer *w = NULL;
    float x[100] = { 0 };
    ASSERT_OK(hark__flac_writer_open(&w, path));
    ASSERT_OK(hark__flac_writer_write(w, x, 100));
    hark__flac_writer_discard(w);
    hark__flac_writer_discard(NULL);
    ASSERT_EQ(hark__flac_writer_close(NULL), 0);
    ASSERT(!exists(path));
    ASSERT_EQ(count_files(), 0);
}

TEST(flac_replaces_an_existing_archive_atomically)
{
    const char *path = harness_path("rec.flac");
    float *x = quantised_signal(20000, 9), *y;
    size_t n;
    ASSERT_EQ(harness_write_file(path, "old", 3), 0);
    write_flac(path, x, 20000, 4000);
    y = decode_file(path, 4096, &n);
    ASSERT_EQ(n, 20000);
    ASSERT(memcmp(x, y, n * sizeof(float)) == 0);
    free(x);
    free(y);
}

TEST(flac_with_no_samples_is_a_valid_empty_archive)
{
    const char *path = harness_path("empty.flac");
    hark_flac_writer *w = NULL;
    hark_decoder *dec = NULL;
    float buf[8];
    size_t n = 1;
    ASSERT_OK(hark__flac_writer_open(&w, path));
    ASSERT_OK(hark__flac_writer_close(w));
    ASSERT_OK(hark_decoder_open(&dec, path, NULL));
    ASSERT_OK(hark_decoder_read(dec, buf, 8, &n));
    ASSERT_EQ(n, 0);
    hark_decoder_free(dec);
}

TEST(flac_open_in_a_missing_folder_is_ENOTFOUND)
{
    hark_flac_writer *w = (hark_flac_writer *)&w;
    ASSERT_ERR(hark__flac_writer_open(&w, harness_path("no/such/dir/x.flac")), HARK_ENOTFOUND);
    ASSERT(w == NULL);
    ASSERT_CONTAINS(hark_error_last(), "no/such/dir/x.flac");
}

TEST(flac_write_error_leaves_no_file)
{
    /* a file size limit makes the disk "full" after 64 KiB */
    const char *path = harness_path("big.flac");
    struct rlimit rl = { 65536, 65536 };
    hark_flac_writer *w = NULL;
    float *x = quantised_signal(16000 * 10, 11);
    int rc = 0, i;
    signal(SIGXFSZ, SIG_IGN);
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &rl), 0);
    ASSERT_OK(hark__flac_writer_open(&w, path));
    for (i = 0; i < 10 && rc == 0; i++)
        rc = hark__flac_writer_write(w, x + i * 16000, 16000);
    if (rc == 0)
        rc = hark__flac_writer_close(w);
    else
        ASSERT_EQ(hark__flac_writer_close(w), rc); /* the error sticks */
    ASSERT_EQ(rc, HARK_EIO);
    ASSERT_CONTAINS(hark_error_last(), path);
    ASSERT_CONTAINS(hark_error_last(), "write error");
    ASSERT(!exists(path));
    ASSERT_EQ(count_files(), 0);
    free(x);
}

TEST(flac_compresses_corpus_speech)
{
    const char *src = harness_shared_file("corpus/en/jfk.wav");
    const char *path = harness_path("jfk.flac");
    float *x = NULL, *y;
    size_t n = 0, m;
    struct stat st;
    ASSERT_OK(hark_audio_load(&x, &n, src));
    write_flac(path, x, n, 16000);
    ASSERT_EQ(stat(path, &st), 0);
    printf("  jfk.wav: %zu samples, FLAC %lld bytes = %.1f%% of 16-bit PCM\n", n,
           (long long)st.st_size, 100.0 * (double)st.st_size / (double)(2 * n));
    ASSERT_LT((double)st.st_size, 0.8 * (double)(2 * n));
    y = decode_file(path, 4096, &m);
    ASSERT_EQ(m, n);
    ASSERT(memcmp(x, y, n * sizeof(float)) == 0);
    hark_free(x);
    free(y);
}

TEST(wav_write_round_trip_is_bit_exact)
{
    const char *path = harness_path("out.wav");
    float *x = quantised_signal(12345, 13), *y;
    size_t n, len, i;
    char *raw;
    ASSERT_OK(hark_wav_write(path, x, 12345));
    raw = harness_read_file(path, &len);
    ASSERT(raw != NULL);
    ASSERT_EQ(len, 44 + 2 * 12345);
    ASSERT(memcmp(raw, "RIFF", 4) == 0 && memcmp(raw + 8, "WAVE", 4) == 0);
    y = decode_file(path, 1000, &n);
    ASSERT_EQ(n, 12345);
    for (i = 0; i < n; i++)
        ASSERT(x[i] == y[i]);
    free(raw);
    free(x);
    free(y);
}

TEST(wav_write_clips_and_quantises)
{
    const char *path = harness_path("clip.wav");
    const float x[] = { 2.0f, -2.0f, 1.0f, -1.0f, 0.5f, 1.0f / 65536, NAN, 0.0f };
    const float want[] = {
        32767 / 32768.0f, -1.0f, 32767 / 32768.0f, -1.0f, 0.5f, 0.0f, 0.0f, 0.0f
    };
    float *y;
    size_t n, i;
    ASSERT_OK(hark_wav_write(path, x, 8));
    y = decode_file(path, 8, &n);
    ASSERT_EQ(n, 8);
    for (i = 0; i < 8; i++)
        ASSERT_MSG(y[i] == want[i], "sample %zu: %g, expected %g", i, y[i], want[i]);
    free(y);
    ASSERT_OK(hark_wav_write(harness_path("none.wav"), NULL, 0));
    ASSERT_ERR(hark_wav_write(harness_path("no/dir/x.wav"), x, 8), HARK_ENOTFOUND);
}
