/*
 * hark/summary.h: summaries of transcripts by a chat-completions model on
 * any OpenAI-compatible server (POST {url}/v1/chat/completions: llama.cpp's
 * server, vLLM, Ollama, OpenAI).
 *
 * A transcript that fits the context budget is summarised in one request.
 * A longer one is map-reduced: cut at word boundaries into pieces of at most
 * `context_chars`, each piece summarised, then the summaries summarised
 * (again in pieces while they are still too long) into one.
 *
 *     hark_summary_options so;
 *     hark_summary_options_default(&so);
 *     so.url = "http://127.0.0.1:8081"; so.model = "llama3";
 *     hark_buf out = HARK_BUF_INIT;
 *     rc = hark_summarize(&so, transcript_text, &out, NULL);
 *
 * Errors (message names the URL and the status): HARK_EBUSY (429; the
 * stats' retry_after_ms holds its Retry-After), HARK_EENGINE (5xx, or an
 * answer that is not chat-completions JSON), HARK_ETIMEOUT, HARK_ENETWORK,
 * HARK_EAUTH (401, 403), HARK_EUNSUPPORTED (404: no such endpoint),
 * HARK_EINVAL (other 4xx, or no URL), HARK_ECANCELED (abort callback).
 * Nothing is retried here: callers (the job runner) retry with backoff.
 * Thread-safe: every call uses its own connection.
 */
#ifndef HARK_SUMMARY_H
#define HARK_SUMMARY_H

#include "common.h"

HARK_BEGIN_DECL

/** Options; initialise with hark_summary_options_default(). Strings are borrowed. */
typedef struct hark_summary_options {
    unsigned version;            /**< HARK_SUMMARY_OPTIONS_VERSION */
    const char *url;             /**< server base URL, or the full .../chat/completions URL */
    const char *model;           /**< model name sent (default "default") */
    const char *api_key;         /**< sent as "Authorization: Bearer KEY", NULL = none */
    unsigned timeout_ms;         /**< per request (default 120000) */
    size_t context_chars;        /**< transcript characters per request at most (default 12000) */
    const char *prompt;          /**< system prompt, NULL = the built-in one */
    int (*abort)(void *payload); /**< polled while waiting; nonzero stops; may be NULL */
    void *payload;               /**< passed to abort */
} hark_summary_options;

#define HARK_SUMMARY_OPTIONS_VERSION 1

HARK_API void hark_summary_options_default(hark_summary_options *o);

/** What a call did. */
typedef struct hark_summary_stats {
    unsigned requests;   /**< chat-completions requests answered 2xx */
    unsigned pieces;     /**< pieces the transcript was cut into (1 = no map-reduce) */
    unsigned rounds;     /**< summarising rounds (1 = one request, 2+ = map-reduce) */
    long retry_after_ms; /**< the last failure's Retry-After, -1 = none */
} hark_summary_stats;

/**
 * Summarise `text` (UTF-8) and append the summary to `out`.
 * @param stats may be NULL.
 * @return 0 or a negative HARK_E* code (see above); HARK_EEMPTY for empty text.
 */
HARK_API int hark_summarize(const hark_summary_options *o, const char *text, hark_buf *out,
                            hark_summary_stats *stats);

HARK_END_DECL

#endif
