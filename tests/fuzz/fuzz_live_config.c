/*
 * fuzz_live_config.c: the text messages of the live protocol (docs/live.md)
 * come from any WebSocket client: the config (with its key, title and
 * resume), `end`, anything else. The input is one message. Whatever it is,
 * srv_live_parse_text() must either refuse it as JSON (1007 with a code and a
 * message) or give values that live.c can use without further checks: the
 * invariants of live_parse.c. Parsing is deterministic: twice the same input,
 * the same result.
 *
 * src/server is not a library target yet, so the parser is compiled in here.
 */
#include <stdlib.h>
#include <string.h>

#include "server/live_parse.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int valid_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80             ? 0
                : (*p & 0xE0) == 0xC0 ? 1
                : (*p & 0xF0) == 0xE0 ? 2
                : (*p & 0xF8) == 0xF0 ? 3
                                      : -1;
        if (n < 0)
            return 0;
        p++;
        while (n--)
            if ((*p++ & 0xC0) != 0x80)
                return 0;
    }
    return 1;
}

void check_text(const srv_live_text *t, uint16_t rc, int vosk);
void check_text(const srv_live_text *t, uint16_t rc, int vosk)
{
    if (rc) {
        if (rc != 1007 || t->close != 1007 || !t->code || !t->msg[0])
            abort();
        return;
    }
    if (t->kind != SRV_LIVE_CONFIG && t->kind != SRV_LIVE_END && t->kind != SRV_LIVE_OTHER)
        abort();
    if (t->kind != SRV_LIVE_CONFIG || t->close) {
        if (t->close &&
            (!t->code || !t->msg[0] || (t->close != 1003 && t->close != 1007 && t->close != 1008)))
            abort();
        return;
    }
    if (t->rate < 8000 || t->rate > 192000 || t->channels < 1 || t->channels > 2 ||
        (t->f32 != 0 && t->f32 != 1))
        abort();
    if (strlen(t->title) > SRV_LIVE_TITLE_MAX || !valid_utf8(t->title))
        abort();
    if (t->last_final < -1 || t->last_final > (int64_t)UINT32_MAX)
        abort();
    if (t->resume && !srv_live_id_valid(t->session))
        abort();
    if (t->has_key == 1 && strlen(t->key) > SRV_LIVE_KEY_MAX)
        abort();
    if (vosk && (t->resume || t->has_key || t->title[0]))
        abort(); /* Vosk's config carries only a sample rate */
}

#ifndef LIVE_VOSK
#define LIVE_VOSK 0
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    srv_live_text *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
    uint16_t ra, rb;
    if (!a || !b)
        abort();
    ra = srv_live_parse_text(data, size, LIVE_VOSK, a);
    check_text(a, ra, LIVE_VOSK);
    rb = srv_live_parse_text(data, size, LIVE_VOSK, b);
    if (ra != rb || a->kind != b->kind || a->close != b->close || a->rate != b->rate ||
        a->resume != b->resume || strcmp(a->title, b->title) || strcmp(a->msg, b->msg))
        abort();
    free(a);
    free(b);
    return 0;
}
