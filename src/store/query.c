/*
 * query.c: the search grammar users type (documented at hark_store_search),
 * parsed into a backend-neutral, checked infix expression (hark_query).
 *
 * DESIGN
 * Two passes. The lexer splits the text into items: "quoted phrases"
 * (optionally followed by *), parentheses, the capitalised operators AND, OR
 * and NOT, and barewords (runs of anything else up to a space, quote or
 * parenthesis; trailing *s make a prefix). Words with no letter or digit
 * ("-", "&") are dropped, as the indexer would drop them. The checker then
 * walks the items with a two-state machine (expecting an operand / an
 * operator), inserts the implicit ANDs and rejects misplaced operators and
 * unbalanced parentheses with a message that quotes the query.
 *
 * INVARIANTS of a parsed query: items alternate operand/operator; it starts
 * and ends with an operand; parentheses balance and never enclose nothing;
 * TERM text never contains '"', so a backend can always quote it safely.
 * Nothing the user typed reaches a backend as raw syntax.
 */
#include <stdio.h>
#include <string.h>

#include "store.h"

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Does [s, s+len) contain something the indexer would keep as a word? */
static int has_word_char(const char *s, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            return 1;
    }
    return 0;
}

typedef struct parser {
    const char *q;          /* the whole query, for messages */
    hark_query_item *items; /* n items, capacity cap */
    size_t n, cap;
} parser;

static int syntax(const parser *p, const char *what)
{
    return hark_error_set(HARK_ESYNTAX, "search: %s in \"%.200s%s", what, p->q,
                          strlen(p->q) > 200 ? "...\"" : "\"");
}

static int push(parser *p, hark_query_op op, const char *text, size_t len, int phrase, int prefix)
{
    hark_query_item *it;
    if (p->n == HARK_QUERY_MAX_ITEMS)
        return hark_error_set(HARK_ETOOBIG, "search: query has more than %d terms and operators",
                              HARK_QUERY_MAX_ITEMS);
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16;
        hark_query_item *items = hark__reallocarray(p->items, cap, sizeof(*items));
        if (!items)
            return hark_error_set(HARK_ENOMEM, "out of memory");
        p->items = items;
        p->cap = cap;
    }
    it = &p->items[p->n];
    it->op = op;
    it->text = NULL;
    it->phrase = phrase;
    it->prefix = prefix;
    if (text && !(it->text = hark__strndup(text, len)))
        return hark_error_set(HARK_ENOMEM, "out of memory");
    p->n++;
    return 0;
}

/* Pass 1: text -> raw items (no implicit ANDs, not yet checked). */
static int lex(parser *p)
{
    const char *s = p->q;
    int rc = 0;

    while (*s && rc == 0) {
        if (is_space(*s)) {
            s++;
        } else if (*s == '"') {
            const char *start = ++s, *close = strchr(start, '"');
            int prefix = 0;
            if (!close)
                return syntax(p, "unterminated phrase");
            s = close + 1;
            while (*s == '*') {
                prefix = 1;
                s++;
            }
            if (has_word_char(start, (size_t)(close - start)))
                rc = push(p, HARK_QUERY_TERM, start, (size_t)(close - start), 1, prefix);
        } else if (*s == '(' || *s == ')') {
            rc = push(p, *s == '(' ? HARK_QUERY_OPEN : HARK_QUERY_CLOSE, NULL, 0, 0, 0);
            s++;
        } else {
            const char *start = s;
            size_t len;
            int prefix = 0;
            while (*s && !is_space(*s) && *s != '"' && *s != '(' && *s != ')')
                s++;
            len = (size_t)(s - start);
            if (len == 3 && memcmp(start, "AND", 3) == 0) {
                rc = push(p, HARK_QUERY_AND, NULL, 0, 0, 0);
            } else if (len == 2 && memcmp(start, "OR", 2) == 0) {
                rc = push(p, HARK_QUERY_OR, NULL, 0, 0, 0);
            } else if (len == 3 && memcmp(start, "NOT", 3) == 0) {
                rc = push(p, HARK_QUERY_NOT, NULL, 0, 0, 0);
            } else {
                while (len > 0 && start[len - 1] == '*') {
                    prefix = 1;
                    len--;
                }
                if (has_word_char(start, len))
                    rc = push(p, HARK_QUERY_TERM, start, len, 0, prefix);
            }
        }
    }
    return rc;
}

static const char *op_name(hark_query_op op)
{
    return op == HARK_QUERY_AND ? "AND" : op == HARK_QUERY_OR ? "OR" : "NOT";
}

/* Pass 2: check the grammar and make implicit ANDs explicit, into `out`. */
static int check(parser *p, parser *out)
{
    size_t i;
    int want_operand = 1, depth = 0, rc = 0;
    char msg[96];

    for (i = 0; i < p->n && rc == 0; i++) {
        hark_query_item *it = &p->items[i];
        switch (it->op) {
        case HARK_QUERY_TERM:
        case HARK_QUERY_OPEN:
            if (!want_operand && (rc = push(out, HARK_QUERY_AND, NULL, 0, 0, 0)) < 0)
                break;
            if (it->op == HARK_QUERY_TERM) {
                /* move the text over */
                if ((rc = push(out, HARK_QUERY_TERM, NULL, 0, it->phrase, it->prefix)) < 0)
                    break;
                out->items[out->n - 1].text = it->text;
                it->text = NULL;
                want_operand = 0;
            } else {
                rc = push(out, HARK_QUERY_OPEN, NULL, 0, 0, 0);
                depth++;
                want_operand = 1;
            }
            break;
        case HARK_QUERY_CLOSE:
            if (depth == 0)
                return syntax(p, "unbalanced parenthesis )");
            if (want_operand) {
                if (out->n && out->items[out->n - 1].op == HARK_QUERY_OPEN)
                    return syntax(p, "nothing to search for inside ( )");
                snprintf(msg, sizeof(msg), "%s needs a term on each side",
                         op_name(out->items[out->n - 1].op));
                return syntax(p, msg);
            }
            rc = push(out, HARK_QUERY_CLOSE, NULL, 0, 0, 0);
            depth--;
            break;
        default: /* AND, OR, NOT */
            if (want_operand) {
                if (it->op == HARK_QUERY_NOT &&
                    (out->n == 0 || out->items[out->n - 1].op == HARK_QUERY_OPEN))
                    return syntax(p, "NOT needs a term before it (a NOT b)");
                snprintf(msg, sizeof(msg), "%s needs a term on each side", op_name(it->op));
                return syntax(p, msg);
            }
            rc = push(out, it->op, NULL, 0, 0, 0);
            want_operand = 1;
            break;
        }
    }
    if (rc < 0)
        return rc;
    if (out->n == 0)
        return p->q[strspn(p->q, " \t\n\r\f\v")]
                   ? syntax(p, "nothing to search for")
                   : hark_error_set(HARK_ESYNTAX, "search: empty query");
    if (want_operand && out->items[out->n - 1].op != HARK_QUERY_OPEN) {
        snprintf(msg, sizeof(msg), "%s needs a term on each side",
                 op_name(out->items[out->n - 1].op));
        return syntax(p, msg);
    }
    if (depth > 0)
        return syntax(p, "unbalanced parenthesis (");
    return 0;
}

static void items_free(hark_query_item *items, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        hark__free((char *)items[i].text);
    hark__free(items);
}

int hark__query_parse(hark_query *out, const char *text)
{
    parser raw = { text, NULL, 0, 0 }, checked = { text, NULL, 0, 0 };
    int rc;

    out->n = 0;
    out->items = NULL;
    HARK_ASSERT_ARG(text);
    if (strlen(text) > HARK_QUERY_MAX_BYTES) {
        rc = hark_error_set(HARK_ETOOBIG, "search: query longer than %d bytes",
                            HARK_QUERY_MAX_BYTES);
        goto out;
    }
    if ((rc = lex(&raw)) < 0 || (rc = check(&raw, &checked)) < 0)
        goto out;
    out->n = checked.n;
    out->items = checked.items;
    checked.items = NULL;
    checked.n = 0;
out:
    items_free(raw.items, raw.n);
    items_free(checked.items, checked.n);
    return rc;
}

void hark__query_dispose(hark_query *q)
{
    if (!q)
        return;
    items_free((hark_query_item *)q->items, q->n);
    q->items = NULL;
    q->n = 0;
}

int hark__query_fts5(const hark_query *q, hark_buf *out)
{
    size_t i;
    int rc = 0;
    for (i = 0; i < q->n && rc == 0; i++) {
        const hark_query_item *it = &q->items[i];
        if (i > 0)
            rc = hark_buf_putc(out, ' ');
        if (rc < 0)
            break;
        switch (it->op) {
        case HARK_QUERY_TERM:
            /* TERM text never holds '"' (the lexer ends a word there), so quoting is enough. */
            if ((rc = hark_buf_putc(out, '"')) < 0 || (rc = hark_buf_puts(out, it->text)) < 0 ||
                (rc = hark_buf_putc(out, '"')) < 0)
                break;
            if (it->prefix)
                rc = hark_buf_puts(out, " *");
            break;
        case HARK_QUERY_AND:
            rc = hark_buf_puts(out, "AND");
            break;
        case HARK_QUERY_OR:
            rc = hark_buf_puts(out, "OR");
            break;
        case HARK_QUERY_NOT:
            rc = hark_buf_puts(out, "NOT");
            break;
        case HARK_QUERY_OPEN:
            rc = hark_buf_putc(out, '(');
            break;
        case HARK_QUERY_CLOSE:
            rc = hark_buf_putc(out, ')');
            break;
        }
    }
    return rc;
}
