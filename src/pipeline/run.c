/*
 * run.c: hark_run_file, the pipeline plus result cache, store and audio
 * archive, as used by `hark transcribe` and (later) the server's job workers.
 *
 * DESIGN
 * 1. Open the input once (input_open): a regular file is hashed where it
 *    lies; anything that can be read only once (standard input, a pipe,
 *    FIFO, process substitution, socket) is copied to an unlinked temporary
 *    file while it is hashed, then decoded from there like a regular file.
 *    Waiting on an idle FIFO polls the abort callback. Resolve the run's
 *    canonical configuration once (config.c): its JSON is what the
 *    recording is matched on, its key C is part of every cache key.
 * 2. Fast path: the cache entry H("file" C filehash) holds the whole
 *    transcript: no decoding, no engine.
 * 3. Otherwise find the recording in the store by (content hash, engine,
 *    model, options), or create it, and run the pipeline with hooks:
 *    - before a chunk is transcribed, look up H("chunk" C pcm); after, store
 *      the result there (durable at once: this is how an interrupted run
 *      resumes);
 *    - after each chunk is merged, upsert its segments as (recording, seq);
 *    - hash every decoded block (the recording's audio hash) and append it
 *      to the FLAC archive when asked.
 * 4. On success, store the whole transcript under the file and audio keys,
 *    drop segments beyond the final count (a longer earlier attempt), and
 *    mark the recording done.
 * Cache writes that fail are logged and ignored (the cache is an
 * accelerator); store failures fail the run (the store is the record).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hark/run.h"
#include "../asr/asr.h"
#include "../audio/audio.h"
#include "../cache/cache.h"
#include "../util/util.h"
#include "pipeline_int.h"

/* How long a chunk's durable progress is retried while the store cannot be reached (half the
 * default job lease: what the runner gives recording a job's end). */
#define STORE_RETRY_MS 15000L

/* The input, opened once (input_open). */
typedef struct run_input {
    int fd;           /* the file, or its spooled copy; -1 = not open */
    const char *name; /* as named in messages: the path, or "stdin" */
} run_input;

typedef struct run_ctx {
    hark_store *store;
    hark_cache *cache;
    uint8_t config[32];        /* configuration key */
    const char *group;         /* cache group: the file hash, NULL for stdin */
    int64_t rec;               /* recording id, 0 = not stored */
    hark_sha256 audio_hash;    /* over the decoded PCM */
    int hashing;               /* audio_hash is initialised */
    hark_flac_writer *flac;    /* archive being written, or NULL */
    const run_input *input;    /* what is decoded */
    _Atomic uint32_t hits;     /* chunks found in the cache */
    uint32_t merged;           /* chunks merged so far */
    int64_t job;               /* job whose chunk progress is kept, 0 = none */
    hark_job_chunk_list *prev; /* that job's chunks from earlier attempts (with results) */
    uint32_t cut;              /* chunks cut so far */
} run_ctx;

int hark_run_describe(hark_engine *engine, const hark_pipeline_options *pipeline, hark_buf *options,
                      hark_buf *model)
{
    hark__config cfg;
    const char *m;
    int rc;

    HARK_ASSERT_ARG(engine && pipeline);
    if (options) {
        if ((rc = hark__config_resolve(&cfg, engine, pipeline)) < 0)
            return rc;
        rc = hark_buf_put(options, cfg.json.ptr, cfg.json.len);
        hark__config_dispose(&cfg);
        if (rc < 0)
            return rc;
    }
    m = hark__engine_model_name(engine);
    return model ? hark_buf_puts(model, m ? m : "default") : 0;
}

void hark_run_options_default(hark_run_options *o)
{
    memset(o, 0, sizeof(*o));
    o->version = HARK_RUN_OPTIONS_VERSION;
    hark_pipeline_options_default(&o->pipeline);
}

static int key_of(uint8_t out[32], const char *kind, const uint8_t config[32], const void *data,
                  size_t len)
{
    hark_sha256 h = { NULL };
    int rc = hark_sha256_init(&h);
    if (rc == 0)
        rc = hark_sha256_update(&h, kind, strlen(kind) + 1);
    if (rc == 0)
        rc = hark_sha256_update(&h, config, 32);
    if (rc == 0)
        rc = hark_sha256_update(&h, data, len);
    if (rc == 0)
        return hark_sha256_final(&h, out);
    hark_sha256_dispose(&h);
    return rc;
}

/* ---- pipeline hooks (lookup/store/failed run on worker threads) --------------------------- */

/* The result of chunk `index` [start, start+n) from an earlier attempt of the job, if it is the
 * same span (a changed configuration cuts differently: then it is not used). */
static const hark_job_chunk *prev_chunk(const run_ctx *c, uint32_t index, int64_t start, size_t n)
{
    const hark_job_chunk *k;
    if (!c->prev || index >= c->prev->n)
        return NULL;
    k = &c->prev->items[index];
    if (k->index != index || k->start != start || k->n != (int64_t)n)
        return NULL;
    return k;
}

/* Durable chunk progress: a retry or a resume does not redo this chunk, and the job's counters
 * show it done. */
static int save_chunk(run_ctx *c, uint32_t index, int64_t start, size_t n,
                      const hark_transcript *result)
{
    hark_job_chunk k;
    hark_buf enc = HARK_BUF_INIT;
    int rc;
    memset(&k, 0, sizeof(k));
    k.index = index;
    k.n = (int64_t)n;
    k.start = start;
    k.state = HARK_CHUNK_DONE;
    k.attempts = 1;
    k.asr_ms = hark_transcript_timings((hark_transcript *)result)->asr_ms;
    if ((rc = hark__transcript_encode(result, &enc)) == 0) {
        long pause_ms = 50, waited_ms = 0;
        k.result = enc.ptr;
        k.result_len = enc.len;
        /* a connection lost mid-write (a database server restarting, a killed backend) is
         * replaced on a later try: keep trying for as long as the runner keeps trying to
         * record the job's end (STORE_RETRY_MS), so a done job's chunk counts stay whole */
        while ((rc = hark_store_job_chunk_put(c->store, c->job, &k)) == HARK_EIO &&
               waited_ms < STORE_RETRY_MS) {
            struct timespec ts = { pause_ms / 1000, (pause_ms % 1000) * 1000000L };
            nanosleep(&ts, NULL);
            waited_ms += pause_ms;
            pause_ms = pause_ms * 2 > 1000 ? 1000 : pause_ms * 2;
        }
    }
    hark_buf_dispose(&enc);
    if (rc < 0)
        hark_warn("chunk %u: saving job progress failed: %s", index, hark_error_last());
    return rc;
}

static int hook_lookup(void *payload, uint32_t index, int64_t start, const float *pcm, size_t n,
                       hark_transcript **out)
{
    run_ctx *c = payload;
    const hark_job_chunk *k = prev_chunk(c, index, start, n);
    uint8_t key[32];
    int rc;
    if (k && k->state == HARK_CHUNK_DONE && k->result &&
        hark__transcript_decode(k->result, k->result_len, out) == 0) {
        atomic_fetch_add(&c->hits, 1);
        return 0;
    }
    if (!c->cache)
        return HARK_ENOTFOUND;
    if ((rc = key_of(key, "chunk", c->config, pcm, n * sizeof(float))) < 0)
        return rc;
    rc = hark_cache_get(c->cache, key, out);
    if (rc == 0) {
        atomic_fetch_add(&c->hits, 1);
        if (c->job) /* the job's own record of it, as for a chunk transcribed */
            save_chunk(c, index, start, n, *out);
    }
    return rc;
}

static int hook_store(void *payload, uint32_t index, int64_t start, const float *pcm, size_t n,
                      const hark_transcript *result)
{
    run_ctx *c = payload;
    uint8_t key[32];
    int rc = 0;
    if (c->job)
        rc = save_chunk(c, index, start, n, result);
    if (!c->cache)
        return rc;
    if ((rc = key_of(key, "chunk", c->config, pcm, n * sizeof(float))) < 0)
        return rc;
    return hark_cache_put(c->cache, key, c->group, result);
}

static void hook_failed(void *payload, uint32_t index, int64_t start, size_t n, int rc,
                        const char *msg)
{
    run_ctx *c = payload;
    hark_job_chunk k;
    memset(&k, 0, sizeof(k));
    HARK_UNUSED(rc);
    k.index = index;
    k.start = start;
    k.n = (int64_t)n;
    k.state = HARK_CHUNK_FAILED;
    k.attempts = 1;
    k.error = msg;
    if (hark_store_job_chunk_put(c->store, c->job, &k) < 0)
        hark_warn("chunk %u: saving job progress failed: %s", index, hark_error_last());
}

/* On the feeding thread, in order: a chunk was cut. */
static int hook_cut(void *payload, uint32_t index, int64_t start, size_t n)
{
    run_ctx *c = payload;
    const hark_job_chunk *k = prev_chunk(c, index, start, n);
    int rc = 0;
    c->cut = index + 1;
    if (!k || k->state != HARK_CHUNK_DONE) {
        hark_job_chunk row;
        memset(&row, 0, sizeof(row));
        row.index = index;
        row.start = start;
        row.n = (int64_t)n;
        row.state = HARK_CHUNK_PENDING;
        row.attempts = k ? k->attempts : 0;
        rc = hark_store_job_chunk_put(c->store, c->job, &row);
    }
    if (rc == 0)
        rc = hark_store_job_set_chunks(c->store, c->job, c->cut, 0);
    return rc;
}

static int hook_merged(void *payload, uint32_t index, const hark_transcript *out, size_t first,
                       size_t count)
{
    run_ctx *c = payload;
    c->merged = index + 1;
    if (!c->rec || count == 0)
        return 0;
    return hark_store_segments_put(c->store, c->rec, out, first, count, (int64_t)first);
}

static int hook_audio(void *payload, const float *pcm, size_t n)
{
    run_ctx *c = payload;
    int rc = hark_sha256_update(&c->audio_hash, pcm, n * sizeof(float));
    if (rc == 0 && c->flac)
        rc = hark__flac_writer_write(c->flac, pcm, n);
    return rc;
}

/* ---- helpers ---------------------------------------------------------------------------- */

/*
 * Open `path` ("-" = standard input) once. A regular file is hashed (when
 * `hex` is given) and rewound; anything else is spooled to an anonymous
 * temporary file while it is hashed. Reads poll abort(payload).
 */
static int input_open(run_input *in, const char *path, char *hex, int (*abort)(void *),
                      void *payload)
{
    hark_sha256 h = { NULL };
    uint8_t d[32];
    int fd = -1, copy = -1, regular = 0, rc;

    in->fd = -1;
    in->name = strcmp(path, "-") == 0 ? "stdin" : path;
    if ((rc = hark__file_open_read(&fd, &regular, path, in->name)) < 0)
        goto out;
    if (hex && (rc = hark_sha256_init(&h)) < 0)
        goto out;
    if (!regular) {
        if ((rc = hark__file_spool(&copy, NULL, fd, in->name, hex ? &h : NULL, abort, payload)) < 0)
            goto out;
        close(fd);
        fd = copy;
    } else if (hex) {
        if ((rc = hark__file_hash(fd, in->name, &h, NULL, abort, payload)) < 0)
            goto out;
        if (lseek(fd, 0, SEEK_SET) != 0) {
            rc = hark_error_set(HARK_EIO, "%s: %s", in->name, strerror(errno));
            goto out;
        }
    }
    if (hex) {
        if ((rc = hark_sha256_final(&h, d)) < 0)
            goto out;
        hark_hex(hex, d, 32);
    }
    in->fd = fd;
    fd = -1;
out:
    hark_sha256_dispose(&h);
    if (fd >= 0)
        close(fd);
    return rc;
}

/* A decoder over the input, from its start (each decoder gets its own descriptor). */
static int input_decoder(const run_input *in, hark_decoder **dec)
{
    int fd = fcntl(in->fd, F_DUPFD_CLOEXEC, 3);
    *dec = NULL;
    if (fd < 0)
        return hark_error_set(HARK_EIO, "%s: %s", in->name, strerror(errno));
    return hark__decoder_open_fd(dec, fd, in->name, NULL);
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return strcmp(path, "-") == 0 ? "stdin" : s ? s + 1 : path;
}

static void set_meta(hark_transcript *t, hark_engine *engine, const char *path, const char *options)
{
    const char *model = hark__engine_model_name(engine);
    hark_transcript_set_meta(t, "source", path);
    hark_transcript_set_meta(t, "engine", hark_engine_name(engine));
    hark_transcript_set_meta(t, "model", model ? model : "default");
    hark_transcript_set_meta(t, "options", options);
}

/* Decode the input into a FLAC archive (a cache hit that must still keep the audio). */
static int archive_only(const run_input *in, const char *dest, uint64_t *bytes)
{
    hark_decoder *dec = NULL;
    hark_flac_writer *w = NULL;
    float *buf = NULL;
    size_t n;
    int rc;

    if (!(buf = hark__malloc(16384 * sizeof(float)))) {
        rc = hark_error_set(HARK_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = input_decoder(in, &dec)) < 0 || (rc = hark__flac_writer_open(&w, dest)) < 0)
        goto out;
    while ((rc = hark_decoder_read(dec, buf, 16384, &n)) == 0 && n > 0)
        if ((rc = hark__flac_writer_write(w, buf, n)) < 0)
            goto out;
    if (rc < 0)
        goto out;
    rc = hark__flac_writer_close(w);
    w = NULL;
    if (rc == 0) {
        FILE *f = fopen(dest, "rb");
        if (f) {
            fseek(f, 0, SEEK_END);
            *bytes = (uint64_t)ftell(f);
            fclose(f);
        }
    }
out:
    hark__flac_writer_discard(w);
    hark_decoder_free(dec);
    hark__free(buf);
    return rc;
}

/* Store a whole transcript (from the cache) as a finished recording. */
static int store_cached(run_ctx *c, hark_recording *rec, const hark_transcript *t,
                        const char *audio_dir, hark_run_result *res)
{
    hark_recording *found = NULL;
    hark_buf apath = HARK_BUF_INIT;
    const int given = c->rec != 0; /* hark_run_options.recording: fill that one */
    int rc;
    if (given)
        rc = rec->audio_path ? hark_buf_puts(&apath, rec->audio_path) : 0;
    else
        rc = hark_store_recording_find(c->store, 0, rec->content_hash, rec->engine, rec->model,
                                       rec->options, &found);
    if (!given && rc == 0 && found->status == HARK_STATUS_DONE &&
        found->n_segments == (int64_t)hark_transcript_count(t) &&
        (!audio_dir || found->audio_path)) {
        res->recording_id = found->id; /* the same transcription is already there */
        hark_recording_free(found);
        return 0;
    }
    if (given) {
        /* nothing was looked up */
    } else if (rc == 0) {
        c->rec = found->id;
        if (found->audio_path && !audio_dir) /* keep an archive made earlier */
            rc = hark_buf_puts(&apath, found->audio_path);
        hark_recording_free(found);
    } else if (rc == HARK_ENOTFOUND) {
        rc = hark_store_recording_create(c->store, rec, &c->rec);
    }
    if (rc < 0)
        goto out;
    if (audio_dir) {
        if ((rc = hark_buf_printf(&apath, "%s/%lld.flac", audio_dir, (long long)c->rec)) < 0 ||
            (rc = archive_only(c->input, apath.ptr, &res->audio_bytes)) < 0)
            goto out;
    }
    rec->audio_path = apath.ptr;
    if (hark_transcript_count(t) &&
        (rc = hark_store_segments_put(c->store, c->rec, t, 0, hark_transcript_count(t), 0)) < 0)
        goto out;
    rc = hark_store_segments_truncate(c->store, c->rec, (int64_t)hark_transcript_count(t));
    if (rc < 0)
        goto out;
    rec->id = c->rec;
    rec->status = HARK_STATUS_DONE;
    if ((rc = hark_store_recording_update(c->store, rec)) < 0)
        goto out;
    res->recording_id = c->rec;
out:
    rec->audio_path = NULL;
    hark_buf_dispose(&apath);
    return rc;
}

/* ---- the run ------------------------------------------------------------------------------ */

int hark_run_file(hark_transcript **out, hark_run_result *res_out, hark_engine *engine,
                  const char *path, const hark_run_options *opts)
{
    run_ctx c;
    hark_run_result res;
    hark_run_options defaults;
    hark_pipeline_hooks hooks;
    hark_recording rec = HARK_RECORDING_INIT;
    hark_recording *found = NULL, *given = NULL;
    hark_decoder *dec = NULL;
    hark_transcript *t = NULL;
    hark__config cfg;
    hark_buf model_id = HARK_BUF_INIT, apath = HARK_BUF_INIT;
    run_input input = { -1, NULL };
    uint8_t key[32];
    int rc = 0, have_cfg = 0, hashed;
    double t0;

    HARK_ASSERT_ARG(out && engine && path);
    *out = NULL;
    if (!opts) {
        hark_run_options_default(&defaults);
        opts = &defaults;
    }
    if (opts->version != HARK_RUN_OPTIONS_VERSION)
        return hark_error_set(HARK_EVERSION, "hark_run_options version %u not supported",
                              opts->version);
    memset(&c, 0, sizeof(c));
    memset(&res, 0, sizeof(res));
    c.store = opts->store;
    c.cache = opts->cache;
    c.input = &input;

    if ((rc = hark__config_resolve(&cfg, engine, &opts->pipeline)) < 0)
        goto out;
    have_cfg = 1;
    memcpy(c.config, cfg.key, sizeof(c.config));
    {
        const char *m = hark__engine_model_name(engine);
        if ((rc = hark_buf_puts(&model_id, m ? m : "default")) < 0)
            goto out;
    }

    if ((opts->recording || opts->job) && !c.store) {
        rc = hark_error_set(HARK_EINVAL, "a run into a given recording or job needs a store");
        goto out;
    }
    if (opts->recording) { /* fill this recording: keep what it says about itself */
        if ((rc = hark_store_recording_get(c.store, opts->recording, &given)) < 0)
            goto out;
        c.rec = given->id;
        res.recording_id = given->id;
    }
    if (opts->job) {
        c.job = opts->job;
        if ((rc = hark_store_job_chunks(c.store, c.job, 1, &c.prev)) < 0)
            goto out;
    }

    /* 1-2: open (and hash, unless the caller knows the hash) the input, try
     * the whole-file cache entry */
    hashed = opts->file_hash && strlen(opts->file_hash) == 64;
    if (hashed)
        memcpy(res.file_hash, opts->file_hash, 65);
    t0 = hark__now_ms();
    rc = input_open(&input, path, !hashed && (c.store || c.cache) ? res.file_hash : NULL,
                    opts->pipeline.abort, opts->pipeline.payload);
    res.hash_ms = hark__now_ms() - t0;
    if (rc < 0)
        goto out;
    c.group = res.file_hash[0] ? res.file_hash : NULL;
    rec.title = opts->title ? opts->title : base_name(path);
    rec.source = path;
    rec.content_hash = c.group;
    rec.engine = hark_engine_name(engine);
    rec.model = model_id.ptr;
    rec.options = cfg.json.ptr;
    rec.language = opts->pipeline.decode.language;
    if (given) {
        rec.title = given->title;
        rec.source = given->source;
        rec.owner = given->owner;
        rec.created_ms = given->created_ms;
        rec.audio_path = given->audio_path;
        if (given->content_hash && *given->content_hash)
            rec.content_hash = c.group = given->content_hash;
        if (!rec.language)
            rec.language = given->language;
    }
    if (c.cache && c.group) {
        if ((rc = key_of(key, "file", c.config, res.file_hash, 64)) < 0)
            goto out;
        rc = hark_cache_get(c.cache, key, &t);
        if (rc == 0) {
            res.cached = 1;
            set_meta(t, engine, path, cfg.json.ptr);
            rec.duration_ms = hark_transcript_duration(t) / (HARK_SAMPLE_RATE / 1000);
            if (c.store && (rc = store_cached(&c, &rec, t, opts->audio_dir, &res)) < 0)
                goto out;
            if (c.job && (rc = hark_store_job_set_chunks(c.store, c.job, 0, 1)) < 0)
                goto out;
            goto out;
        }
        if (rc != HARK_ENOTFOUND)
            hark_warn("cache lookup failed: %s", hark_error_last());
        rc = 0;
    }

    /* 3: the recording, the archive, the pipeline */
    if ((rc = input_decoder(&input, &dec)) < 0)
        goto out;
    if (c.store && given) {
        res.resumed = given->status == HARK_STATUS_RUNNING || given->n_segments > 0;
        if ((rc = hark_store_recording_set_status(c.store, c.rec, HARK_STATUS_RUNNING)) < 0)
            goto out;
    } else if (c.store) {
        rc = c.group ? hark_store_recording_find(c.store, 0, rec.content_hash, rec.engine,
                                                 rec.model, rec.options, &found)
                     : HARK_ENOTFOUND;
        if (rc == 0) {
            c.rec = found->id;
            res.resumed = found->status != HARK_STATUS_DONE;
        } else if (rc == HARK_ENOTFOUND) {
            rec.status = HARK_STATUS_RUNNING;
            if ((rc = hark_store_recording_create(c.store, &rec, &c.rec)) < 0)
                goto out;
        } else {
            goto out;
        }
        if (found && found->status != HARK_STATUS_RUNNING &&
            (rc = hark_store_recording_set_status(c.store, c.rec, HARK_STATUS_RUNNING)) < 0)
            goto out;
        res.recording_id = c.rec;
        if (opts->audio_dir) {
            if ((rc = hark_buf_printf(&apath, "%s/%lld.flac", opts->audio_dir, (long long)c.rec)) <
                    0 ||
                (rc = hark__flac_writer_open(&c.flac, apath.ptr)) < 0)
                goto out;
        }
    }
    if ((rc = hark_sha256_init(&c.audio_hash)) < 0)
        goto out;
    c.hashing = 1;
    memset(&hooks, 0, sizeof(hooks));
    hooks.lookup = c.cache || c.prev ? hook_lookup : NULL;
    hooks.store = c.cache || c.job ? hook_store : NULL;
    hooks.failed = c.job ? hook_failed : NULL;
    hooks.cut = c.job ? hook_cut : NULL;
    hooks.merged = hook_merged;
    hooks.audio = hook_audio;
    hooks.payload = &c;
    rc = hark__pipeline_run(&t, engine, dec, NULL, 0, &opts->pipeline, &cfg, &hooks);
    if (rc < 0 && rc != HARK_ECANCELED && rc != HARK_EEMPTY)
        hark_error_prefix("%s", path);
    {
        const char *w = NULL;
        if (hark_decoder_warnings(dec, &w) && w)
            snprintf(res.warning, sizeof(res.warning), "%s", w);
    }
    if (t) {
        hark_transcript_set_meta(t, "source", path);
    }
    res.chunks = c.merged;
    res.chunks_cached = atomic_load(&c.hits);
    if (c.job && rc == 0 && (rc = hark_store_job_set_chunks(c.store, c.job, c.cut, 1)) < 0)
        goto finish;
    if (rc < 0)
        goto finish;

    /* 4: whole-transcript cache entries, final state of the recording */
    {
        uint8_t digest[32];
        c.hashing = 0;
        if ((rc = hark_sha256_final(&c.audio_hash, digest)) < 0)
            goto finish;
        hark_hex(res.audio_hash, digest, 32);
        if (!c.group)
            c.group = rec.content_hash = res.audio_hash;
    }
    if (c.cache) {
        if (res.file_hash[0] && key_of(key, "file", c.config, res.file_hash, 64) == 0 &&
            hark_cache_put(c.cache, key, c.group, t) < 0)
            hark_warn("cache store failed: %s", hark_error_last());
        if (key_of(key, "audio", c.config, res.audio_hash, 64) == 0 &&
            hark_cache_put(c.cache, key, c.group, t) < 0)
            hark_warn("cache store failed: %s", hark_error_last());
    }
    if (c.flac) {
        hark_flac_writer *w = c.flac;
        c.flac = NULL;
        if ((rc = hark__flac_writer_close(w)) < 0)
            goto finish;
        rec.audio_path = apath.ptr;
        {
            FILE *f = fopen(apath.ptr, "rb");
            if (f) {
                fseek(f, 0, SEEK_END);
                res.audio_bytes = (uint64_t)ftell(f);
                fclose(f);
            }
        }
    }
finish:
    if (c.rec) {
        int src = 0;
        rec.id = c.rec;
        rec.duration_ms = t ? hark_transcript_duration(t) / (HARK_SAMPLE_RATE / 1000) : 0;
        rec.status = rc == 0                ? HARK_STATUS_DONE
                     : rc == HARK_ECANCELED ? HARK_STATUS_CANCELED
                                            : HARK_STATUS_FAILED;
        if (rc == 0 && t)
            src = hark_store_segments_truncate(c.store, c.rec, (int64_t)hark_transcript_count(t));
        if (src == 0) {
            int saved = rc;
            char msg[512];
            snprintf(msg, sizeof(msg), "%s", hark_error_last());
            src = hark_store_recording_update(c.store, &rec);
            if (saved < 0) /* keep the run's own error as the one reported */
                hark_error_set(saved, "%s", msg);
        }
        if (rc == 0 && src < 0)
            rc = src;
    }
out:
    if (c.flac)
        hark__flac_writer_discard(c.flac);
    if (c.hashing)
        hark_sha256_dispose(&c.audio_hash);
    hark_recording_free(found);
    hark_recording_free(given);
    hark_job_chunk_list_free(c.prev);
    hark_decoder_free(dec);
    if (have_cfg)
        hark__config_dispose(&cfg);
    if (input.fd >= 0)
        close(input.fd);
    hark_buf_dispose(&model_id);
    hark_buf_dispose(&apath);
    if (res_out)
        *res_out = res;
    *out = t;
    return rc;
}
