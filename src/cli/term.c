/*
 * term.c: printing stored data (file names, titles, transcript text, query
 * echoes) without letting it drive the terminal.
 *
 * A file name is chosen by whoever made the file, and a transcript by the
 * engine: either may hold an escape sequence that retitles the window,
 * rewrites the screen or worse when printed raw. cli_put_safe writes text
 * with every control character made visible: C0 controls (0x00-0x1f, except
 * newline and tab when the caller keeps lines) and DEL as \xHH, the C1
 * controls U+0080-U+009F as \u00HH, and bytes that are not UTF-8 as \xHH.
 * Printable UTF-8 goes through unchanged.
 *
 * Highlights: the caller's own markers (cli_marks) are recognised in the
 * text before escaping and replaced by their terminal sequences; they are
 * random per process (cli_marks_init), so stored text cannot forge them.
 */
#define _DEFAULT_SOURCE
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cli.h"
#include "../util/util.h"

void cli_marks_init(cli_marks *m, const char *out_open, const char *out_close)
{
    unsigned char r[8];
    size_t i;
    if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
        uint64_t x = hark__now_ns() ^ ((uint64_t)getpid() << 40);
        memcpy(r, &x, sizeof(r));
    }
    /* "\x01<16 hex digits>[" and "...]": never produced by cli_put_safe's escaping */
    m->in_open[0] = m->in_close[0] = '\x01';
    for (i = 0; i < sizeof(r); i++) {
        static const char hex[] = "0123456789abcdef";
        m->in_open[1 + 2 * i] = m->in_close[1 + 2 * i] = hex[r[i] >> 4];
        m->in_open[2 + 2 * i] = m->in_close[2 + 2 * i] = hex[r[i] & 15];
    }
    m->in_open[17] = '[';
    m->in_close[17] = ']';
    m->in_open[18] = m->in_close[18] = '\0';
    m->out_open = out_open;
    m->out_close = out_close;
}

/* Length of the valid UTF-8 sequence at s (1-4), 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    size_t n, i;
    unsigned cp;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1fu;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0fu;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07u;
    else
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void cli_put_safe(FILE *f, const char *text, int keep_lines, const cli_marks *m)
{
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    size_t mlen = m ? strlen(m->in_open) : 0;
    while (*s) {
        size_t n;
        if (m && *s == '\x01') {
            if (strncmp((const char *)s, m->in_open, mlen) == 0) {
                fputs(m->out_open, f);
                s += mlen;
                continue;
            }
            if (strncmp((const char *)s, m->in_close, mlen) == 0) {
                fputs(m->out_close, f);
                s += mlen;
                continue;
            }
        }
        if (keep_lines && (*s == '\n' || *s == '\t')) {
            fputc(*s++, f);
            continue;
        }
        if (*s < 0x20 || *s == 0x7f) {
            fprintf(f, "\\x%02x", *s++);
            continue;
        }
        n = utf8_len(s);
        if (n == 0) {
            fprintf(f, "\\x%02x", *s++);
        } else if (n == 2 && s[0] == 0xc2 && s[1] < 0xa0) { /* U+0080..U+009F: C1 controls */
            fprintf(f, "\\u%04x", (unsigned)(s[1] & 0x3f) | 0x80u);
            s += 2;
        } else {
            fwrite(s, 1, n, f);
            s += n;
        }
    }
}
