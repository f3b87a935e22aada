/*
 * commands.h: the list of hark commands, shared by the launcher (for --help)
 * and the full tool (for dispatch). X(name, summary).
 */
#ifndef HARK_CLI_COMMANDS_H
#define HARK_CLI_COMMANDS_H

#define HARK_CLI_COMMANDS(X)                                                                       \
    X(transcribe, "transcribe recordings to txt, srt, vtt, json or tsv")                           \
    X(listen, "live transcription of a microphone, locally or through hark serve")                 \
    X(eval, "word error rate and speed on a manifest of reference transcripts")                    \
    X(bench, "throughput, parallel efficiency and peak memory, 1..N threads")                      \
    X(list, "stored recordings, newest first")                                                     \
    X(show, "a stored transcript in any format")                                                   \
    X(search, "full-text search over stored transcripts, with time offsets")                       \
    X(summarize, "summarise a stored transcript with a chat-completions model")                    \
    X(rm, "remove recordings, their cached results and archived audio")                            \
    X(cache, "result cache statistics, or clear it")                                               \
    X(gc, "retention: remove what is older than a given age")                                      \
    X(keys, "API keys for hark serve: create, list, revoke, audit log")                            \
    X(jobs, "the job queue: list, show, retry, cancel, counts")                                    \
    X(db, "database schema: 'hark db migrate --db URI' (explicit, idempotent)")                    \
    X(worker, "a transcription node without HTTP: runs jobs from the shared store's queue")        \
    X(models, "list, pull, locate or remove Whisper models")                                       \
    X(serve, "the transcription server: REST and OpenAI-compatible APIs, job queue")

#define HARK_CLI_USAGE_TAIL                                                                        \
    "\n'hark COMMAND --help' describes a command's options.\n"                                     \
    "Exit codes: 0 ok, 1 failed, 2 usage, 3 input missing, 4 not audio, 5 empty audio,\n"          \
    "6 model missing or invalid, 7 database error, 8 network error, 130 interrupted.\n"

#endif
