/*
 * pocketsphinx.c: "pocketsphinx", the engine that always works offline:
 * Debian's libpocketsphinx (0.8+5prealpha API) with the CMU en-us model.
 *
 * MODEL
 * The `model` string is NULL or "default" for HARK_POCKETSPHINX_MODELDIR
 * (/usr/share/pocketsphinx/model/en-us, package pocketsphinx-en-us), or a
 * directory with the same layout:
 *     <dir>/en-us/              acoustic model: mdef, means, variances,
 *                               transition_matrices, noisedict, feat.params,
 *                               sendump (or mixture_weights)
 *     <dir>/en-us.lm.bin        trigram language model (sphinx binary/trie)
 *     <dir>/cmudict-en-us.dict  pronunciation dictionary
 * model_load checks that every file is there (HARK_ENOTFOUND: no such
 * directory; HARK_EMODEL: a file is missing or obviously broken, naming it). Nothing heavy is
 * loaded into the shared model object, because nothing heavy can be shared:
 * - ps_init() takes only a configuration and builds its own acoustic model,
 *   dictionary, LM and search; the public API has no way to hand it existing
 *   ones (acmod_init/dict_init are internal).
 * - ps_set_lm() does accept an existing ngram_model_t, but scoring is not
 *   read-only: lm_trie_score() caches the last history (hist_cache,
 *   backoff_cache) inside the model, so two decoders scoring at once race.
 * - The cmd_ln_t configuration is rewritten by ps_init (feat.params merged).
 * So every worker state owns a whole decoder. The OS shares what is mapped
 * read-only: the acoustic model's mixture weights (sendump) are mmap()ed
 * (-mmap yes), everything else is private. Measured by bench_pocketsphinx:
 * each extra decoder state costs 95.7 MB resident, 92.7 MB of it anonymous
 * (mostly the 27 MB LM trie read into memory and the lexicon tree and
 * tables built from the 134k-word dictionary), and 0.32 CPU-s to create.
 * The model object is therefore just the validated paths, immutable and
 * safe to read from any thread.
 *
 * DECODING A CHUNK
 * The chunk is one utterance, decoded with libpocketsphinx's defaults (the
 * ones pocketsphinx_continuous uses: fwdtree + fwdflat + bestpath, default
 * beams, -lw 6.5, -topn 4, -pl_window 5...) and three deliberate
 * differences, measured on the 76 files of the en/ corpus, each decoded
 * whole (bench_pocketsphinx; pocketsphinx_continuous itself: 66.5% WER,
 * 0.31 CPU-s per audio-s plus 0.35 s per process to load):
 * 1. Cepstral mean normalisation from the chunk itself. The en-us model
 *    wants batch CMN (feat.params: -cmn batch), but sphinxbase only does
 *    batch CMN when a whole utterance is processed in one call, which rules
 *    out polling job->abort; fed in blocks it silently falls back to live
 *    CMN that starts from a fixed prior and adapts over several seconds, and
 *    the prior carries over from chunk to chunk (results would depend on
 *    what the worker decoded before). Instead a first cheap pass runs a
 *    second front end (VAD on) over the chunk, averages the cepstra of its
 *    speech frames, and the live CMN is set to that mean (cmn_live_set)
 *    before every chunk. WER: 65.0% with the live prior, 57.9% this way,
 *    57.1% with true batch CMN (one call, no abort).
 * 2. -remove_silence no. With the VAD inside the decoder, the frames of a
 *    pause are dropped from the utterance and ps_seg_frames() then reports
 *    times shifted by the start of the last speech run (they are only right
 *    when each utterance is a single run, as in pocketsphinx_continuous,
 *    which ends the utterance at every pause and loses LM context). Without
 *    it, every frame is decoded, frame k stands for the 10 ms hop at samples
 *    [160k, 160k + 160), and word times are exact (58.0% WER). The chunker
 *    removes long silences beforehand.
 * 3. -maxhmmpf 10000 instead of 30000 (PS_MAXHMMPF): as accurate, a little
 *    faster. Tried and rejected as less accurate: -fwdflat no (-20% CPU,
 *    58.6% WER), -topn 2 (-18%, 59.4%).
 * A chunk in which the VAD pass finds no speech frame gives no words without
 * running the decoder (pure silence cannot produce hallucinated words).
 *
 * Samples are converted float -> int16 (x * 32768, rounded, clipped; NaN ->
 * 0; exact for audio that came from 16-bit PCM) and fed in blocks of
 * BLOCK_SAMPLES; job->abort is polled before every block of both passes
 * (HARK_ECANCELED). An utterance left open by a cancel is closed at the
 * next transcribe call. Decoding is single-threaded (job->n_threads is
 * ignored); the pipeline gets parallelism from several states.
 *
 * STREAMING (stream_begin / stream_feed / stream_partial / stream_end)
 * The same decoder, fed as the audio arrives (ps_start_utt, ps_process_raw
 * per feed, ps_get_hyp for the partial, ps_end_utt and the segment iterator
 * for the final). Only the CMN differs from a chunk: the speech mean of the
 * whole utterance is not known while it goes on. The CMN pass's front end
 * runs over the audio as it comes and keeps a running sum of the speech
 * frames' cepstra; the first PRIME_SAMPLES (1 s) are buffered, and decoding
 * starts with the CMN set to the speech mean so far (a prefix without
 * speech waits for the next second); after that the CMN is set to the
 * running speech mean again every PRIME_SAMPLES, for the frames that
 * follow. The audio is processed in blocks of STREAM_BLOCK samples at fixed
 * positions (the remainder waits for the next feed), so the result depends
 * on the samples only, never on how they were split into feeds. An
 * utterance that ends before decoding started is decoded exactly as a chunk
 * would be. How far the final is from the chunk transcript of the same
 * audio is measured by tests/unit/pocketsphinx/stream.c (stream_matches_batch,
 * which prints it).
 *
 * OUTPUT
 * From the best path's segment iterator: fillers (<s>, </s>, <sil>,
 * [NOISE], [SPEECH], ++GARBAGE++...) are skipped; alternate-pronunciation
 * suffixes are stripped ("when(2)" -> "when"). Word times: frames sf..ef
 * (inclusive) -> samples [sf * shift, (ef + 1) * shift), clipped to the
 * chunk, relative to its start. The word confidence p is
 * logmath_exp(ps_seg_prob()): the posterior probability of the word in the
 * utterance's word lattice (forward-backward over the lattice computed by
 * -bestpath, acoustic scores scaled by 1/-ascale); near 1 when no competing
 * hypothesis covers the same span, near 0 when the word is a guess. The
 * words are grouped into segments, a new one starting wherever two words
 * are at least PAUSE_SPLIT_SAMPLES apart; segment confidence is the mean
 * word p.
 *
 * LOGGING
 * sphinxbase logs through one process-wide callback; the first model load or
 * state creation replaces it (pthread_once) with one that prints nothing and
 * keeps the last ERROR line per thread, which becomes the hark error message
 * when a call fails. An application that uses sphinxbase directly in the
 * same process loses its own sphinxbase log output. sphinxbase still calls
 * exit() (E_FATAL) on out-of-memory and on some malformed model files; the
 * model check catches missing, empty and wrongly headed files, not every
 * corruption.
 *
 * INVARIANTS
 * - Output depends only on the chunk's samples: the stream, the CMN and the
 *   search are reset before every chunk, and nothing random is used
 *   (-dither no).
 * - A state is used by one thread at a time; states share nothing mutable.
 */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pocketsphinx.h>
#include <sphinxbase/err.h>

#include "asr.h"
#include "../util/arena.h"
#include "../util/util.h"

#ifndef HARK_POCKETSPHINX_MODELDIR
#define HARK_POCKETSPHINX_MODELDIR "/usr/share/pocketsphinx/model/en-us"
#endif

/* Preferred chunk length. One chunk is one utterance: 5 s holds a dozen words
 * of LM context and ~500 frames for a stable CMN estimate; past ~20 s nothing
 * improves while lattice memory and the cost of a retry or a cancel grow. */
#define PS_CHUNK_MIN (5 * (int64_t)HARK_SAMPLE_RATE)
#define PS_CHUNK_MAX (20 * (int64_t)HARK_SAMPLE_RATE)

/* Most HMMs active per frame (library default 30000). On en/, WER by cap: 30000 58.00%, 10000
 * 57.93%, 5000 57.66%, 3000 59.22%, 2000 60.65%; CPU per audio-s 0.271, 0.257, 0.230, 0.201,
 * 0.179. 10000 is as accurate and a little faster, and stays clear of the knee below 5000. */
#define PS_MAXHMMPF "10000"

#define BLOCK_SAMPLES       (HARK_SAMPLE_RATE / 2)  /* abort is polled every 0.5 s of audio */
#define PAUSE_SPLIT_SAMPLES (HARK_SAMPLE_RATE / 2)  /* a pause this long starts a new segment */
#define CEP_ROWS            64                      /* frames per call in the CMN pass */
#define MAX_CEPLEN          64                      /* cepstral coefficients we accept */
#define PRIME_SAMPLES       HARK_SAMPLE_RATE        /* streaming: CMN (re)set every 1 s of audio */
#define STREAM_BLOCK        (HARK_SAMPLE_RATE / 10) /* streaming: decoded in 100 ms blocks */

/* Bump when decoding changes in a way that changes output (cache keys). */
#define PS_ENGINE_REVISION 1

/* Files a model directory must hold, relative to it. */
static const char *const model_files[] = {
    "en-us/mdef",      "en-us/means",       "en-us/variances", "en-us/transition_matrices",
    "en-us/noisedict", "en-us/feat.params", "en-us.lm.bin",    "cmudict-en-us.dict",
};
#define AM_DIR    "en-us"
#define LM_FILE   "en-us.lm.bin"
#define DICT_FILE "cmudict-en-us.dict"

typedef struct ps_model {
    char *dir;  /* model directory as resolved (no trailing slash) */
    char *hmm;  /* <dir>/en-us: acoustic model directory */
    char *lm;   /* <dir>/en-us.lm.bin */
    char *dict; /* <dir>/cmudict-en-us.dict */
} ps_model;

typedef struct ps_state {
    const ps_model *model;       /* borrowed, outlives the state */
    ps_decoder_t *ps;            /* the decoder (-remove_silence no) */
    fe_t *vad_fe;                /* second front end, VAD on: the CMN pass */
    int ceplen;                  /* cepstral coefficients per frame */
    int frame_shift;             /* samples between frames (160 at 100 frames/s) */
    int utt_open;                /* an utterance was left open by a cancel */
    int s_open;                  /* a stream utterance is open */
    int s_started;               /* ... and the decoder runs (the CMN prefix was found) */
    int s_vad_open;              /* the CMN pass's front end is inside an utterance */
    size_t s_total;              /* samples of it fed so far */
    size_t s_done;               /* samples of it processed (whole blocks) */
    float *s_buf;                /* its samples until the decoder starts */
    size_t s_n, s_cap;           /* samples in s_buf, allocated */
    long s_count;                /* speech frames seen (CMN pass) */
    size_t s_carry;              /* samples in s_block */
    double s_sum[MAX_CEPLEN];    /* sum of their cepstra */
    float s_block[STREAM_BLOCK]; /* a block being filled */
    int16 *pcm;                  /* conversion buffer, BLOCK_SAMPLES samples */
    mfcc_t *cep;                 /* CEP_ROWS * ceplen coefficients for the CMN pass */
    const char **args;           /* decoder arguments (flag, value...); sphinxbase keeps pointers */
    size_t n_args;               /* entries in args */
    mfcc_t *cep_rows[CEP_ROWS];  /* row pointers into cep */
} ps_state;

/* ---- logging ------------------------------------------------------------------------------ */

static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static _Thread_local char last_error[256]; /* last ERROR/FATAL line from sphinxbase */

/* Keep the message part of 'ERROR: "file.c", line 12: message\n'. */
static void capture_log(void *user_data, err_lvl_t level, const char *fmt, ...)
{
    char line[512];
    const char *msg = line;
    const char *p;
    size_t len;
    va_list ap;

    HARK_UNUSED(user_data);
    if (level < ERR_ERROR)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if ((p = strstr(line, ", line ")) != NULL && (p = strstr(p, ": ")) != NULL)
        msg = p + 2;
    len = strlen(msg);
    while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
        len--;
    if (len >= sizeof(last_error))
        len = sizeof(last_error) - 1;
    memcpy(last_error, msg, len);
    last_error[len] = '\0';
}

static void quiet_logs(void)
{
    err_set_logfp(NULL); /* also silences cmd_ln's help/config printing */
    err_set_callback(capture_log, NULL);
}

static void logs_init(void)
{
    pthread_once(&log_once, quiet_logs);
    last_error[0] = '\0';
}

static const char *ps_reason(const char *fallback)
{
    return last_error[0] ? last_error : fallback;
}

/* ---- model -------------------------------------------------------------------------------- */

static int join_path(char **out, const char *dir, const char *name)
{
    hark_buf b = HARK_BUF_INIT;
    int rc = hark_buf_printf(&b, "%s/%s", dir, name);
    *out = NULL;
    if (rc < 0) {
        hark_buf_dispose(&b);
        return rc;
    }
    *out = hark_buf_detach(&b);
    return 0;
}

static int is_readable_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

/*
 * Cheap content checks. sphinxbase calls exit() (E_FATAL) on some malformed
 * files, e.g. an empty or truncated mdef, so catch the obvious cases here:
 * every file must be non-empty, and the binary acoustic files must start
 * with their magic ("BMDF" or a text mdef's "0.3"; "s3\n" for the others).
 * Returns a static reason, NULL when the file looks right.
 */
static const char *bad_content(const char *path, const char *name)
{
    char head[8] = { 0 };
    size_t got;
    FILE *f = fopen(path, "rb");

    if (!f)
        return "cannot be opened";
    got = fread(head, 1, sizeof(head), f);
    fclose(f);
    if (got == 0)
        return "is empty";
    if (strcmp(name, AM_DIR "/mdef") == 0)
        return got >= 4 && (memcmp(head, "BMDF", 4) == 0 || memcmp(head, "0.3", 3) == 0)
                   ? NULL
                   : "is not a model definition";
    if (strcmp(name, AM_DIR "/means") == 0 || strcmp(name, AM_DIR "/variances") == 0 ||
        strcmp(name, AM_DIR "/transition_matrices") == 0)
        return got >= 3 && memcmp(head, "s3\n", 3) == 0 ? NULL : "is not a sphinx-3 parameter file";
    return NULL;
}

/* Resolve the model string into a directory name (hark__malloc'ed, no trailing slash). */
static int resolve_dir(const char *model, char **out)
{
    const char *dir =
        model && *model && strcmp(model, "default") != 0 ? model : HARK_POCKETSPHINX_MODELDIR;
    size_t len = strlen(dir);
    while (len > 1 && dir[len - 1] == '/')
        len--;
    *out = hark__strndup(dir, len);
    return *out ? 0 : hark_error_set(HARK_ENOMEM, "out of memory");
}

/* Check the layout of `dir`; names the first missing file. */
static int check_dir(const char *dir)
{
    struct stat st;
    char *path = NULL, *alt = NULL;
    const char *why;
    size_t i;
    int rc = 0;

    if (stat(dir, &st) != 0)
        return hark_error_set(HARK_ENOTFOUND, "pocketsphinx model %s: no such directory", dir);
    if (!S_ISDIR(st.st_mode))
        return hark_error_set(HARK_EMODEL, "pocketsphinx model %s: not a directory", dir);
    for (i = 0; i < HARK_ARRAY_SIZE(model_files); i++) {
        if ((rc = join_path(&path, dir, model_files[i])) < 0)
            goto out;
        if (!is_readable_file(path)) {
            rc = hark_error_set(HARK_EMODEL,
                                "pocketsphinx model %s: missing %s (expected " AM_DIR "/, " LM_FILE
                                " and " DICT_FILE ")",
                                dir, model_files[i]);
            goto out;
        }
        if ((why = bad_content(path, model_files[i])) != NULL) {
            rc = hark_error_set(HARK_EMODEL, "pocketsphinx model %s: %s %s", dir, model_files[i],
                                why);
            goto out;
        }
        hark__free(path);
        path = NULL;
    }
    if ((rc = join_path(&path, dir, AM_DIR "/sendump")) < 0 ||
        (rc = join_path(&alt, dir, AM_DIR "/mixture_weights")) < 0)
        goto out;
    if (!is_readable_file(path) && !is_readable_file(alt))
        rc = hark_error_set(HARK_EMODEL,
                            "pocketsphinx model %s: missing " AM_DIR "/sendump (or " AM_DIR
                            "/mixture_weights)",
                            dir);
out:
    hark__free(path);
    hark__free(alt);
    return rc;
}

static void ps_model_free(void *model)
{
    ps_model *m = model;
    if (!m)
        return;
    hark__free(m->dir);
    hark__free(m->hmm);
    hark__free(m->lm);
    hark__free(m->dict);
    hark__free(m);
}

static int ps_model_load(void **out, const char *model)
{
    ps_model *m = NULL;
    int rc;

    *out = NULL;
    logs_init();
    m = hark__calloc(1, sizeof(*m));
    HARK_ALLOC_CHECK(m, rc, out);
    if ((rc = resolve_dir(model, &m->dir)) < 0 || (rc = check_dir(m->dir)) < 0)
        goto out;
    if ((rc = join_path(&m->hmm, m->dir, AM_DIR)) < 0 ||
        (rc = join_path(&m->lm, m->dir, LM_FILE)) < 0 ||
        (rc = join_path(&m->dict, m->dir, DICT_FILE)) < 0)
        goto out;
    *out = m;
    m = NULL;
out:
    ps_model_free(m);
    return rc;
}

static int ps_model_default(hark_buf *out)
{
    return hark_buf_puts(out, HARK_POCKETSPHINX_MODELDIR);
}

/* "<dir>|rev=N|<file>:<size>:<mtime>|..." for every file of the layout. */
static int ps_model_identity(const char *model, hark_buf *out)
{
    static const char *const extra[] = { AM_DIR "/sendump", AM_DIR "/mixture_weights" };
    char *dir = NULL, *path = NULL;
    size_t i;
    int rc;

    if ((rc = resolve_dir(model, &dir)) < 0 || (rc = check_dir(dir)) < 0)
        goto out;
    if ((rc = hark_buf_printf(out, "%s|rev=%d", dir, PS_ENGINE_REVISION)) < 0)
        goto out;
    for (i = 0; i < HARK_ARRAY_SIZE(model_files) + HARK_ARRAY_SIZE(extra); i++) {
        const char *name = i < HARK_ARRAY_SIZE(model_files)
                               ? model_files[i]
                               : extra[i - HARK_ARRAY_SIZE(model_files)];
        struct stat st;
        if ((rc = join_path(&path, dir, name)) < 0)
            goto out;
        if (stat(path, &st) == 0 &&
            (rc = hark_buf_printf(out, "|%s:%lld:%lld", name, (long long)st.st_size,
                                  (long long)st.st_mtime)) < 0)
            goto out;
        hark__free(path);
        path = NULL;
    }
out:
    hark__free(dir);
    hark__free(path);
    return rc;
}

static int ps_model_describe(const void *model, hark_buf *out)
{
    const ps_model *m = model;
    return hark_buf_printf(
        out, "PocketSphinx 5prealpha, CMU US English (%s: " AM_DIR "/, " LM_FILE ", " DICT_FILE ")",
        m->dir);
}

/* ---- options ------------------------------------------------------------------------------ */

static int check_language(const hark_decode_options *opts)
{
    const char *lang = opts ? opts->language : NULL;
    if (!lang || !*lang || hark__strcasecmp(lang, "en") == 0 || hark__strcasecmp(lang, "auto") == 0)
        return 0;
    return hark_error_set(HARK_EUNSUPPORTED,
                          "pocketsphinx: language '%s' is not supported (the model is English "
                          "only; use the whisper engine)",
                          lang);
}

/* No decode option changes PocketSphinx's output (beam size, temperature, prompt... are
 * Whisper's); the language must be English. */
static int ps_options_key(const hark_decode_options *opts, hark_buf *out)
{
    int rc = check_language(opts);
    if (rc < 0)
        return rc;
    return hark_buf_puts(out, "{}");
}

/* ---- state -------------------------------------------------------------------------------- */

static void ps_state_free(void *state)
{
    ps_state *s = state;
    if (!s)
        return;
    if (s->vad_fe)
        fe_free(s->vad_fe);
    if (s->ps)
        ps_free(s->ps);
    hark__free(s->pcm);
    hark__free(s->cep);
    hark__free(s->s_buf);
    hark__free(s->args);
    hark__free(s);
}

/* The decoder settings: the engine's (defaults[]) unless `argv` overrides them, then argv. */
static int build_args(ps_state *s, const ps_model *m, int argc, const char *const *argv)
{
    const char *const defaults[][2] = {
        { "-hmm", m->hmm },       { "-lm", m->lm },
        { "-dict", m->dict },     { "-remove_silence", "no" },
        { "-dither", "no" },      { "-mmap", "yes" },
        { "-samprate", "16000" }, { "-maxhmmpf", PS_MAXHMMPF },
    };
    size_t i;
    int j;

    if (argc < 0 || argc % 2 != 0)
        return hark_error_set(HARK_EINVAL, "pocketsphinx: settings come in flag/value pairs");
    s->args =
        hark__reallocarray(NULL, 2 * HARK_ARRAY_SIZE(defaults) + (size_t)argc, sizeof(char *));
    if (!s->args)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    for (i = 0; i < HARK_ARRAY_SIZE(defaults); i++) {
        for (j = 0; j < argc; j += 2)
            if (strcmp(argv[j], defaults[i][0]) == 0)
                break;
        if (j < argc)
            continue; /* overridden */
        s->args[s->n_args++] = defaults[i][0];
        s->args[s->n_args++] = defaults[i][1];
    }
    for (j = 0; j < argc; j++)
        s->args[s->n_args++] = argv[j];
    return 0;
}

int hark__pocketsphinx_state_new_args(void **out, const void *model, int argc,
                                      const char *const *argv)
{
    const ps_model *m = model;
    ps_state *s = NULL;
    cmd_ln_t *config = NULL, *cfg;
    float samprate;
    int frate, i, rc = 0;

    *out = NULL;
    logs_init();
    s = hark__calloc(1, sizeof(*s));
    HARK_ALLOC_CHECK(s, rc, out);
    s->model = m;
    if ((rc = build_args(s, m, argc, argv)) < 0)
        goto out;
    if (!(config = cmd_ln_parse_r(NULL, ps_args(), (int32)s->n_args, (char **)s->args, TRUE))) {
        rc = hark_error_set(HARK_EINVAL, "pocketsphinx: bad configuration: %s",
                            ps_reason("cannot parse the arguments"));
        goto out;
    }
    if (!(s->ps = ps_init(config))) {
        rc = hark_error_set(HARK_EMODEL, "pocketsphinx model %s: %s", m->dir,
                            ps_reason("cannot initialise the decoder"));
        goto out;
    }
    cfg = ps_get_config(s->ps);
    samprate = cmd_ln_float32_r(cfg, "-samprate");
    frate = (int)cmd_ln_int32_r(cfg, "-frate");
    s->ceplen = (int)cmd_ln_int32_r(cfg, "-ceplen");
    if (samprate != (float)HARK_SAMPLE_RATE || frate <= 0 || HARK_SAMPLE_RATE % frate != 0 ||
        s->ceplen <= 0 || s->ceplen > MAX_CEPLEN) {
        rc = hark_error_set(HARK_EMODEL,
                            "pocketsphinx model %s: unsupported features (%.0f Hz, %d frames/s, "
                            "%d coefficients); hark feeds 16 kHz audio",
                            m->dir, (double)samprate, frate, s->ceplen);
        goto out;
    }
    s->frame_shift = HARK_SAMPLE_RATE / frate;

    /* The CMN pass: the same front end with the VAD on (it only selects frames). */
    cmd_ln_set_boolean_r(cfg, "-remove_silence", TRUE);
    s->vad_fe = fe_init_auto_r(cfg);
    cmd_ln_set_boolean_r(cfg, "-remove_silence", FALSE);
    if (!s->vad_fe || fe_get_output_size(s->vad_fe) != s->ceplen) {
        rc = hark_error_set(HARK_EMODEL, "pocketsphinx model %s: %s", m->dir,
                            ps_reason("cannot create the front end"));
        goto out;
    }
    s->pcm = hark__reallocarray(NULL, BLOCK_SAMPLES, sizeof(*s->pcm));
    HARK_ALLOC_CHECK(s->pcm, rc, out);
    s->cep = hark__reallocarray(NULL, (size_t)CEP_ROWS * (size_t)s->ceplen, sizeof(*s->cep));
    HARK_ALLOC_CHECK(s->cep, rc, out);
    for (i = 0; i < CEP_ROWS; i++)
        s->cep_rows[i] = s->cep + (size_t)i * (size_t)s->ceplen;
    *out = s;
    s = NULL;
out:
    cmd_ln_free_r(config); /* the decoder holds its own reference */
    ps_state_free(s);
    return rc;
}

static int ps_state_new(void **out, const void *model)
{
    return hark__pocketsphinx_state_new_args(out, model, 0, NULL);
}

/* ---- transcription ------------------------------------------------------------------------ */

static int16 to_s16(float x)
{
    float v = x * 32768.0f;
    if (v != v)
        return 0;
    if (v >= 32767.0f)
        return 32767;
    if (v <= -32768.0f)
        return -32768;
    return (int16)lrintf(v);
}

/* Convert pcm[off, off + n) into s->pcm (n <= BLOCK_SAMPLES). */
static void convert(ps_state *s, const float *pcm, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        s->pcm[i] = to_s16(pcm[i]);
}

static int canceled(const hark_engine_job *job)
{
    return job->abort && job->abort(job->payload);
}

/* Add the first `n` rows of s->cep to sum[]. */
static void accumulate(const ps_state *s, int n, double *sum)
{
    int r, c;
    for (r = 0; r < n; r++)
        for (c = 0; c < s->ceplen; c++)
            sum[c] += (double)MFCC2FLOAT(s->cep_rows[r][c]);
}

/*
 * The CMN pass: mean of the cepstra of the frames the VAD keeps. *n_speech
 * is the number of such frames (0: the chunk has no speech).
 */
static int speech_mean(ps_state *s, const hark_engine_job *job, const float *pcm, size_t n,
                       mfcc_t *mean, long *n_speech)
{
    double sum[MAX_CEPLEN];
    size_t off;
    long count = 0;
    int32 nfr, idx;
    int c;

    memset(sum, 0, sizeof(sum));
    fe_start_stream(s->vad_fe);
    if (fe_start_utt(s->vad_fe) < 0)
        return hark_error_set(HARK_EENGINE, "pocketsphinx: %s", ps_reason("front end failed"));
    for (off = 0; off < n; off += BLOCK_SAMPLES) {
        size_t left = HARK_MIN((size_t)BLOCK_SAMPLES, n - off);
        const int16 *p = s->pcm;
        if (canceled(job))
            return hark_error_set(HARK_ECANCELED, "canceled");
        convert(s, pcm + off, left);
        while (left > 0) {
            size_t before = left;
            nfr = CEP_ROWS;
            if (fe_process_frames(s->vad_fe, &p, &left, s->cep_rows, &nfr, &idx) < 0)
                return hark_error_set(HARK_EENGINE, "pocketsphinx: %s",
                                      ps_reason("front end failed"));
            accumulate(s, nfr, sum);
            count += nfr;
            if (nfr == 0 && left == before)
                break; /* the rest (less than a frame) stays buffered in the front end */
        }
    }
    nfr = 0;
    if (fe_end_utt(s->vad_fe, s->cep_rows[0], &nfr) < 0)
        return hark_error_set(HARK_EENGINE, "pocketsphinx: %s", ps_reason("front end failed"));
    accumulate(s, nfr, sum);
    count += nfr;
    for (c = 0; c < s->ceplen; c++)
        mean[c] = count > 0 ? FLOAT2MFCC((float)(sum[c] / (double)count)) : FLOAT2MFCC(0.0f);
    *n_speech = count;
    return 0;
}

/* Filler words and sentence markers: <s>, </s>, <sil>, [NOISE], ++GARBAGE++. */
static int is_filler(const char *w)
{
    size_t n = strlen(w);
    if (n == 0)
        return 1;
    if (w[0] == '<' && w[n - 1] == '>')
        return 1;
    if (w[0] == '[' && w[n - 1] == ']')
        return 1;
    return n >= 4 && strncmp(w, "++", 2) == 0 && strcmp(w + n - 2, "++") == 0;
}

/* Length of `w` without an alternate-pronunciation suffix "(2)". */
static size_t base_len(const char *w)
{
    size_t n = strlen(w), i;
    if (n < 4 || w[n - 1] != ')')
        return n;
    for (i = n - 2; i > 0 && w[i] >= '0' && w[i] <= '9'; i--)
        ;
    if (w[i] == '(' && i < n - 2 && i > 0)
        return i;
    return n;
}

/* Emit words[first, last) as one segment. */
static int emit_segment(hark_transcript *out, const hark_word *words, size_t first, size_t last)
{
    hark_buf text = HARK_BUF_INIT;
    hark_segment seg;
    double psum = 0;
    size_t i;
    int rc = 0;

    for (i = first; i < last; i++) {
        if ((rc = hark_buf_printf(&text, "%s%s", i > first ? " " : "", words[i].text)) < 0)
            goto out;
        psum += words[i].p;
    }
    memset(&seg, 0, sizeof(seg));
    seg.start = words[first].start;
    seg.end = words[last - 1].end;
    seg.text = text.ptr;
    seg.confidence = (float)(psum / (double)(last - first));
    seg.n_words = (uint32_t)(last - first);
    seg.words = words + first;
    rc = hark_transcript_add(out, &seg);
out:
    hark_buf_dispose(&text);
    return rc;
}

/* Collect the words of the finished utterance and append them as segments. */
static int collect(ps_state *s, size_t n_samples, hark_transcript *out)
{
    logmath_t *lmath = ps_get_logmath(s->ps);
    hark_arena names = HARK_ARENA_INIT;
    hark_word *words = NULL;
    size_t n = 0, cap = 0, i, first;
    ps_seg_t *seg;
    int rc = 0;

    for (seg = ps_seg_iter(s->ps); seg; seg = ps_seg_next(seg)) {
        const char *w = ps_seg_word(seg);
        int sf, ef;
        int32 ascr, lscr, lback;
        double p;
        hark_word *word;
        if (!w || is_filler(w))
            continue;
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            hark_word *nw = hark__reallocarray(words, ncap, sizeof(*nw));
            if (!nw) {
                ps_seg_free(seg);
                rc = hark_error_set(HARK_ENOMEM, "out of memory");
                goto out;
            }
            words = nw;
            cap = ncap;
        }
        word = &words[n];
        if (!(word->text = hark_arena_strndup(&names, w, base_len(w)))) {
            ps_seg_free(seg);
            rc = hark_error_set(HARK_ENOMEM, "out of memory");
            goto out;
        }
        ps_seg_frames(seg, &sf, &ef);
        word->start = HARK_MIN((int64_t)HARK_MAX(sf, 0) * s->frame_shift, (int64_t)n_samples);
        word->end = HARK_MIN((int64_t)(HARK_MAX(ef, sf) + 1) * s->frame_shift, (int64_t)n_samples);
        p = logmath_exp(lmath, ps_seg_prob(seg, &ascr, &lscr, &lback));
        word->p = (float)(p > 1.0 ? 1.0 : p < 0.0 ? 0.0 : p);
        n++;
    }
    for (first = 0, i = 1; i <= n; i++) {
        if (i == n || words[i].start - words[i - 1].end >= PAUSE_SPLIT_SAMPLES) {
            if ((rc = emit_segment(out, words, first, i)) < 0)
                goto out;
            first = i;
        }
    }
out:
    hark__free(words);
    hark_arena_dispose(&names);
    return rc;
}

static void stream_reset(ps_state *s);

/* Start an utterance with the CMN set to `mean`. */
static int decode_start(ps_state *s, const mfcc_t *mean)
{
    if (ps_start_stream(s->ps) < 0)
        return hark_error_set(HARK_EENGINE, "pocketsphinx: %s", ps_reason("cannot start"));
    cmn_live_set(ps_get_feat(s->ps)->cmn_struct, (mfcc_t *)mean);
    if (ps_start_utt(s->ps) < 0)
        return hark_error_set(HARK_EENGINE, "pocketsphinx: %s", ps_reason("cannot start"));
    s->utt_open = 1;
    return 0;
}

/* Decode pcm[0, n) in the open utterance. */
static int decode_feed(ps_state *s, const hark_engine_job *job, const float *pcm, size_t n)
{
    size_t off;
    for (off = 0; off < n; off += BLOCK_SAMPLES) {
        size_t len = HARK_MIN((size_t)BLOCK_SAMPLES, n - off);
        if (canceled(job))
            return hark_error_set(HARK_ECANCELED, "canceled");
        convert(s, pcm + off, len);
        if (ps_process_raw(s->ps, s->pcm, len, FALSE, FALSE) < 0)
            return hark_error_set(HARK_EENGINE, "pocketsphinx: %s", ps_reason("decoding failed"));
    }
    return 0;
}

/* Close the open utterance and append its words (times clipped to n_samples). */
static int decode_end(ps_state *s, size_t n_samples, hark_transcript *out)
{
    s->utt_open = 0;
    if (ps_end_utt(s->ps) < 0)
        return hark_error_set(HARK_EENGINE, "pocketsphinx: %s", ps_reason("decoding failed"));
    return collect(s, n_samples, out);
}

static int ps_transcribe(void *state, const hark_engine_job *job, hark_transcript *out)
{
    ps_state *s = state;
    mfcc_t mean[MAX_CEPLEN];
    long n_speech = 0;
    int rc;

    HARK_ASSERT_ARG(s && job && out && (job->pcm || job->n == 0));
    last_error[0] = '\0';
    if ((rc = check_language(job->opts)) < 0)
        return rc;
    stream_reset(s); /* an utterance left open by a cancel or a stream: discard it */
    if (job->n == 0)
        return 0;
    if ((rc = speech_mean(s, job, job->pcm, job->n, mean, &n_speech)) < 0 || n_speech == 0)
        return rc;
    if ((rc = decode_start(s, mean)) < 0 || (rc = decode_feed(s, job, job->pcm, job->n)) < 0)
        return rc;
    return decode_end(s, job->n, out);
}

/* ---- streaming ---------------------------------------------------------------------------- */

static const hark_engine_job no_job; /* no abort callback */

static void stream_reset(ps_state *s)
{
    if (s->utt_open) {
        ps_end_utt(s->ps);
        s->utt_open = 0;
    }
    if (s->s_vad_open) { /* close the CMN pass's utterance: nothing carries over */
        int32 nfr = 0;
        fe_end_utt(s->vad_fe, s->cep_rows[0], &nfr);
        s->s_vad_open = 0;
    }
    s->s_open = s->s_started = 0;
    s->s_total = s->s_n = s->s_cap = s->s_carry = s->s_done = 0;
    s->s_count = 0;
    hark__free(s->s_buf); /* a state between utterances keeps no audio */
    s->s_buf = NULL;
}

static int ps_stream_begin(void *state, const hark_engine_job *job)
{
    ps_state *s = state;
    int rc;
    HARK_ASSERT_ARG(s && job);
    last_error[0] = '\0';
    stream_reset(s);
    if ((rc = check_language(job->opts)) < 0)
        return rc;
    memset(s->s_sum, 0, sizeof(s->s_sum));
    fe_start_stream(s->vad_fe);
    if (fe_start_utt(s->vad_fe) < 0)
        return hark_error_set(HARK_EENGINE, "pocketsphinx: %s", ps_reason("front end failed"));
    s->s_vad_open = s->s_open = 1;
    return 0;
}

/* Run the CMN pass's front end over one block: add its speech frames to the running sum. */
static int stream_vad(ps_state *s, const float *pcm, size_t n)
{
    const int16 *p = s->pcm;
    size_t left = n;
    int32 nfr, idx;
    int r, c;
    convert(s, pcm, n);
    while (left > 0) {
        size_t before = left;
        nfr = CEP_ROWS;
        if (fe_process_frames(s->vad_fe, &p, &left, s->cep_rows, &nfr, &idx) < 0)
            return hark_error_set(HARK_EENGINE, "pocketsphinx: %s", ps_reason("front end failed"));
        for (r = 0; r < nfr; r++)
            for (c = 0; c < s->ceplen; c++)
                s->s_sum[c] += (double)MFCC2FLOAT(s->cep_rows[r][c]);
        s->s_count += nfr;
        if (nfr == 0 && left == before)
            break;
    }
    return 0;
}

static void running_mean(const ps_state *s, mfcc_t *mean)
{
    int c;
    for (c = 0; c < s->ceplen; c++)
        mean[c] = FLOAT2MFCC((float)(s->s_sum[c] / (double)s->s_count));
}

/* One block of STREAM_BLOCK samples (fewer only for the last): speech statistics, then
 * decoding (or buffering until the decoder starts); the CMN is (re)set every PRIME_SAMPLES. */
static int stream_block(ps_state *s, const float *pcm, size_t n)
{
    mfcc_t mean[MAX_CEPLEN];
    int rc;
    if ((rc = stream_vad(s, pcm, n)) < 0)
        return rc;
    if (s->s_started) {
        if ((rc = decode_feed(s, &no_job, pcm, n)) < 0)
            return rc;
    } else {
        if (s->s_n + n > s->s_cap) {
            size_t cap = HARK_MAX(s->s_n + n, s->s_cap ? s->s_cap * 2 : (size_t)PRIME_SAMPLES);
            float *b = hark__reallocarray(s->s_buf, cap, sizeof(float));
            if (!b)
                return hark_error_set(HARK_ENOMEM, "out of memory");
            s->s_buf = b;
            s->s_cap = cap;
        }
        memcpy(s->s_buf + s->s_n, pcm, n * sizeof(float));
        s->s_n += n;
    }
    s->s_done += n;
    if (n != STREAM_BLOCK || s->s_done % PRIME_SAMPLES != 0 || s->s_count == 0)
        return 0;
    running_mean(s, mean);
    if (s->s_started) {
        cmn_live_set(ps_get_feat(s->ps)->cmn_struct, mean);
        return 0;
    }
    if ((rc = decode_start(s, mean)) < 0 || (rc = decode_feed(s, &no_job, s->s_buf, s->s_n)) < 0)
        return rc;
    s->s_started = 1;
    s->s_n = 0;
    return 0;
}

static int ps_stream_feed(void *state, const float *pcm, size_t n)
{
    ps_state *s = state;
    int rc;
    HARK_ASSERT_ARG(s && (pcm || n == 0));
    if (!s->s_open)
        return hark_error_set(HARK_EINVAL, "pocketsphinx: no utterance is open");
    last_error[0] = '\0';
    s->s_total += n;
    while (n > 0) { /* whole blocks at fixed positions, whatever the feeds */
        size_t take = HARK_MIN(n, (size_t)STREAM_BLOCK - s->s_carry);
        memcpy(s->s_block + s->s_carry, pcm, take * sizeof(float));
        s->s_carry += take;
        pcm += take;
        n -= take;
        if (s->s_carry == STREAM_BLOCK) {
            s->s_carry = 0;
            if ((rc = stream_block(s, s->s_block, STREAM_BLOCK)) < 0)
                return rc;
        }
    }
    return 0;
}

/* The hypothesis so far without fillers and pronunciation suffixes. */
static int ps_stream_partial(void *state, hark_buf *text)
{
    ps_state *s = state;
    const char *hyp, *p;
    int first = 1, rc = 0;
    HARK_ASSERT_ARG(s && text);
    if (!s->s_open || !s->s_started || !(hyp = ps_get_hyp(s->ps, NULL)))
        return 0;
    for (p = hyp; *p;) {
        char w[256];
        size_t len = strcspn(p, " ");
        if (len > 0 && len < sizeof(w)) {
            memcpy(w, p, len);
            w[len] = '\0';
            if (!is_filler(w)) {
                if ((rc = hark_buf_printf(text, "%s%.*s", first ? "" : " ", (int)base_len(w), w)) <
                    0)
                    return rc;
                first = 0;
            }
        }
        p += len;
        while (*p == ' ')
            p++;
    }
    return 0;
}

static int ps_stream_end(void *state, hark_transcript *out)
{
    ps_state *s = state;
    mfcc_t mean[MAX_CEPLEN];
    long n_speech = 0;
    int rc = 0;
    if (!s)
        return 0;
    if (!out || !s->s_open) {
        stream_reset(s);
        return out ? hark_error_set(HARK_EINVAL, "pocketsphinx: no utterance is open") : 0;
    }
    last_error[0] = '\0';
    if (s->s_carry && (rc = stream_block(s, s->s_block, s->s_carry)) < 0)
        goto out;
    if (!s->s_started) { /* never started: exactly the chunk transcription */
        int32 nfr = 0;
        fe_end_utt(s->vad_fe, s->cep_rows[0], &nfr);
        s->s_vad_open = 0;
        if (s->s_n == 0 || (rc = speech_mean(s, &no_job, s->s_buf, s->s_n, mean, &n_speech)) < 0 ||
            n_speech == 0)
            goto out;
        if ((rc = decode_start(s, mean)) < 0 ||
            (rc = decode_feed(s, &no_job, s->s_buf, s->s_n)) < 0)
            goto out;
    }
    rc = decode_end(s, s->s_total, out);
out:
    stream_reset(s);
    return rc;
}

const hark_engine_ops hark__engine_pocketsphinx = {
    .version = HARK_ENGINE_API_VERSION,
    .name = "pocketsphinx",
    .chunk_min = PS_CHUNK_MIN,
    .chunk_max = PS_CHUNK_MAX,
    .model_default = ps_model_default,
    .model_identity = ps_model_identity,
    .model_load = ps_model_load,
    .model_free = ps_model_free,
    .model_describe = ps_model_describe,
    .options_key = ps_options_key,
    .state_new = ps_state_new,
    .state_free = ps_state_free,
    .transcribe = ps_transcribe,
    .stream_begin = ps_stream_begin,
    .stream_feed = ps_stream_feed,
    .stream_partial = ps_stream_partial,
    .stream_end = ps_stream_end,
};
