/*
 * `hark listen` with a real sound server: a private PulseAudio daemon (its
 * own runtime folder and socket, a null sink `hark_test`), corpus
 * recordings played into the sink with paplay, and `hark listen --device
 * hark_test.monitor -e pocketsphinx` transcribing the monitor source live
 * until it is sent SIGINT once the files have played. Checked:
 * - the finals' word error rate against the manifest's references stays
 *   within WER_MARGIN of `hark transcribe` on the same files (the live cut
 *   into utterances differs from the file chunker's, and the audio goes
 *   through the sound server's float conversion, so it is not identical);
 * - SIGINT ends it gracefully (exit 0) with the last utterance final;
 * - the session is a stored recording: source "mic", status done, its
 *   duration the audio heard, its stored text the text printed;
 * - no overrun was reported;
 * - --list-devices names the monitor source.
 * Skips (77) without pulseaudio/paplay or the corpus.
 */
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* Measured with src/live, PocketSphinx, 2026-12-06, AMD EPYC: transcribe 42.7% (N=75); listen
 * 52.0, 54.7, 54.7, 57.3% with the low-latency VAD (the live default), 46.7, 46.7, 48.0% with
 * the look-ahead one. The gap is one pause of about 600 ms inside the second recording's
 * sentence that the low-latency detector cuts at (its weak word onsets are not speech, so the
 * silence is longer) and PocketSphinx then loses the sentence's context; over 30 recordings
 * (519 words, bench/bench_endpoint) the two detectors give the same WER (60.69%). The spread
 * between runs comes from where the sound server's stream starts. Margin: the largest gap seen
 * (14.6 points) and two words. */
#define WER_MARGIN 0.17

static const char *files[] = { "1688-142285-0000", "1688-142285-0001", "1688-142285-0002" };

/* Start a private PulseAudio in `dir`, listening on dir/native, with the null sink hark_test. */
static void start_pulse(const char *dir)
{
    int st, i;
    char sock[1024];
    /* `timeout`: the daemon goes away even when a failed assertion skips stop_pulse */
    st =
        harness_sh("cd '%s' || exit 1; mkdir -p run home; "
                   "XDG_RUNTIME_DIR='%s/run' PULSE_RUNTIME_PATH='%s/run/pulse' HOME='%s/home' "
                   "timeout 280 pulseaudio --daemonize=no -n --exit-idle-time=-1 --disable-shm=yes "
                   "-L 'module-native-protocol-unix auth-anonymous=1 socket=%s/native' "
                   "-L 'module-null-sink sink_name=hark_test rate=16000 channels=1' "
                   ">pa.log 2>&1 & echo $! >pa.pid",
                   dir, dir, dir, dir, dir);
    ASSERT_EQ(st, 0);
    snprintf(sock, sizeof(sock), "%s/native", dir);
    for (i = 0; i < 100; i++) { /* up to 10 s */
        struct stat sb;
        if (stat(sock, &sb) == 0)
            break;
        nanosleep(&(struct timespec){ 0, 100000000L }, NULL);
    }
    ASSERT_MSG(i < 100, "pulseaudio did not start (see %s/pa.log)", dir);
}

static void stop_pulse(const char *dir)
{
    harness_sh("kill $(cat '%s/pa.pid') 2>/dev/null; true", dir);
}

/* The manifest's reference transcript of `id` (malloc'ed). */
static char *reference(const char *id)
{
    char *text = harness_read_file(harness_shared_file("corpus/en/manifest.tsv"), NULL);
    char *line, *save = NULL, *ref = NULL;
    ASSERT(text);
    for (line = strtok_r(text, "\n", &save); line && !ref; line = strtok_r(NULL, "\n", &save)) {
        char *last = strrchr(line, '\t');
        if (strncmp(line, id, strlen(id)) == 0 && line[strlen(id)] == '\t' && last)
            ref = strdup(last + 1);
    }
    free(text);
    ASSERT_MSG(ref, "no %s in the manifest", id);
    return ref;
}

TEST(listen_transcribes_a_played_recording_like_transcribe_does)
{
    const char *dir = harness_tmpdir();
    char refs[8192] = "", list[4096] = "", *out, *err, *devices, *tr;
    hark_wer_counts live, batch;
    hark_store *db = NULL;
    hark_recording *rec = NULL;
    hark_transcript *t = NULL;
    hark_buf stored = HARK_BUF_INIT, a = HARK_BUF_INIT, b = HARK_BUF_INIT;
    size_t k;
    int st;

    if (!harness_have("pulseaudio") || !harness_have("paplay"))
        SKIP("pulseaudio or paplay is not installed (tools/setup.sh installs them)");
    harness_timeout(300);
    for (k = 0; k < sizeof(files) / sizeof(files[0]); k++) {
        char *r = reference(files[k]);
        const char *wav;
        char rel[256];
        snprintf(rel, sizeof(rel), "corpus/en/%s.wav", files[k]);
        wav = harness_shared_file(rel);
        snprintf(refs + strlen(refs), sizeof(refs) - strlen(refs), "%s%s", k ? " " : "", r);
        snprintf(list + strlen(list), sizeof(list) - strlen(list), " '%s'", wav);
        free(r);
    }
    start_pulse(dir);

    devices = harness_sh_output(&st, "PULSE_SERVER='unix:%s/native' '%s' listen --list-devices",
                                dir, harness_hark_bin());
    ASSERT_EQ(st, 0);
    ASSERT_CONTAINS(devices, "hark_test.monitor\t");
    free(devices);

    /* listen, play the files one after the other, let the last utterance end, then SIGINT */
    st = harness_sh("cd '%s' && export PULSE_SERVER='unix:%s/native'; "
                    "'%s' listen --device hark_test.monitor -e pocketsphinx --db '%s/h.db' "
                    ">live.txt 2>live.err & L=$!; sleep 1; "
                    "for f in %s; do paplay --device=hark_test \"$f\" || exit 9; done; "
                    "sleep 1.5; kill -INT $L; wait $L",
                    dir, dir, harness_hark_bin(), dir, list);
    out = harness_read_file(harness_path("live.txt"), NULL);
    err = harness_read_file(harness_path("live.err"), NULL);
    printf("listen stderr:\n%s\nlisten stdout:\n%s\n", err ? err : "", out ? out : "");
    stop_pulse(dir);
    ASSERT_EQ(st, 0);
    ASSERT(out && err);
    ASSERT_MSG(!strstr(err, "overrun"), "overruns reported: %s", err);
    {
        /* the capture latency is reported over every block (bench/bench_capture.sh) */
        const char *lat = strstr(err, "capture to ring: p50 ");
        double p50, p95, max;
        unsigned long long blocks;
        ASSERT_MSG(lat, "no capture latency line: %s", err);
        ASSERT_EQ(sscanf(lat,
                         "capture to ring: p50 %lf ms, p95 %lf ms, max %lf ms "
                         "(newest sample of each 50 ms block, %llu blocks)",
                         &p50, &p95, &max, &blocks),
                  4);
        ASSERT(p50 > 0 && p50 <= p95 && p95 <= max);
        ASSERT(blocks >= 560 && blocks <= 900); /* 28 to 45 s of 50 ms blocks, as below */
    }

    tr = harness_sh_output(&st, "'%s' transcribe -e pocketsphinx -q --no-store --no-cache %s",
                           harness_hark_bin(), list);
    ASSERT_EQ(st, 0);
    ASSERT_OK(hark_wer_score(refs, out, &live));
    ASSERT_OK(hark_wer_score(refs, tr, &batch));
    printf("WER listen %.1f%%, transcribe %.1f%% (N=%zu)\n", 100 * hark_wer_rate(&live),
           100 * hark_wer_rate(&batch), live.ref_words);
    ASSERT_LE(hark_wer_rate(&live), hark_wer_rate(&batch) + WER_MARGIN);

    /* the stored session */
    ASSERT_OK(hark_store_open(&db, harness_path("h.db")));
    ASSERT_OK(hark_store_recording_get(db, 1, &rec));
    ASSERT_STREQ(rec->source, "mic");
    ASSERT_EQ(rec->status, HARK_STATUS_DONE);
    ASSERT_STREQ(rec->engine, "pocketsphinx");
    ASSERT(rec->duration_ms > 28000 && rec->duration_ms < 45000); /* 30.5 s played, 2.5 s idle */
    ASSERT(rec->n_segments > 0);
    ASSERT_OK(hark_store_transcript_get(db, 1, &t));
    ASSERT_OK(hark_transcript_text(t, &stored));
    ASSERT_OK(hark_wer_normalize(stored.ptr, &a));
    ASSERT_OK(hark_wer_normalize(out, &b));
    ASSERT_STREQ(a.ptr, b.ptr);

    hark_buf_dispose(&stored);
    hark_buf_dispose(&a);
    hark_buf_dispose(&b);
    hark_transcript_free(t);
    hark_recording_free(rec);
    hark_store_free(db);
    free(out);
    free(err);
    free(tr);
}

TEST(listen_without_a_sound_server_says_so)
{
    const char *dir = harness_tmpdir();
    char *out;
    int st;
    out = harness_sh_output(&st,
                            "PULSE_SERVER='unix:%s/none' '%s' listen --no-store -e pocketsphinx "
                            "2>&1",
                            dir, harness_hark_bin());
    ASSERT_EQ(st, 3);
    ASSERT_CONTAINS(out, "sound server");
    free(out);
    out = harness_sh_output(&st, "PULSE_SERVER='unix:%s/none' '%s' listen --list-devices 2>&1", dir,
                            harness_hark_bin());
    ASSERT_EQ(st, 3);
    free(out);
}

TEST(listen_rejects_bad_options)
{
    char *out;
    int st;
    out = harness_sh_output(&st, "'%s' listen -f vtt 2>&1", harness_hark_bin());
    ASSERT_EQ(st, 2);
    ASSERT_CONTAINS(out, "not txt, srt or json");
    free(out);
    out = harness_sh_output(&st, "'%s' listen --server https://x 2>&1 </dev/null",
                            harness_hark_bin());
    free(out);
    out = harness_sh_output(&st, "'%s' listen extra 2>&1", harness_hark_bin());
    ASSERT_EQ(st, 2);
    free(out);
}
