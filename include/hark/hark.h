/*
 * hark.h: fast, private speech-to-text.
 *
 * Transcribe a file with the default engine:
 *
 *     #include <hark/hark.h>
 *
 *     hark_engine *engine = NULL;
 *     hark_transcript *t = NULL;
 *     hark_buf text = HARK_BUF_INIT;
 *     hark_pipeline_options opts;
 *     int rc;
 *
 *     hark_pipeline_options_default(&opts);
 *     if ((rc = hark_engine_open(&engine, NULL, NULL)) < 0)
 *         goto out;
 *     if ((rc = hark_transcribe_file(&t, engine, "meeting.m4a", &opts)) < 0)
 *         goto out;
 *     if ((rc = hark_transcript_write(t, HARK_FORMAT_SRT, &text)) < 0)
 *         goto out;
 *     fwrite(text.ptr, 1, text.len, stdout);
 * out:
 *     if (rc < 0)
 *         fprintf(stderr, "hark: %s\n", hark_error_last());
 *     hark_buf_dispose(&text);
 *     hark_transcript_free(t);
 *     hark_engine_free(engine);
 *
 * Conventions: functions return 0 or a negative HARK_E* code (hark/errors.h)
 * and never print; objects handed back through `**out` belong to the caller
 * and are freed with the matching _free; values returned directly are
 * borrowed from their parent. Objects are single-threaded unless their header
 * says otherwise.
 */
#ifndef HARK_H
#define HARK_H

#include "version.h"
#include "common.h"
#include "errors.h"
#include "audio.h"
#include "transcript.h"
#include "engine.h"
#include "scheduler.h"
#include "pipeline.h"
#include "models.h"
#include "store.h"
#include "jobs.h"
#include "auth.h"
#include "render.h"
#include "cache.h"
#include "run.h"
#include "runner.h"
#include "live.h"
#include "wer.h"

#endif
