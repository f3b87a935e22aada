/*
 * vocab.c: the Whisper vocabulary: id -> bytes, bytes -> id, special tokens,
 * languages, and whisper.cpp's text -> ids tokenizer (for --prompt).
 *
 * DESIGN
 * All token bytes live in one blob (each followed by a NUL so they can be
 * used as C strings); ids past the file's vocabulary get whisper.cpp's
 * invented display names ("[_SOT_]", "[_TT_42]", ...). An open-addressing
 * table maps bytes to ids; inserting ids in increasing order and overwriting
 * on duplicates reproduces whisper.cpp's std::map (later id wins).
 *
 * Tokenizer (whisper.cpp v1.7.5 tokenize()): the text is split by the GPT-2
 * pattern  's|'t|'re|'ve|'m|'ll|'d| ?[[:alpha:]]+| ?[[:digit:]]+|
 *  ?[^\s[:alpha:][:digit:]]+|\s+(?!\S)|\s+  evaluated as std::regex does in
 * the "C" locale: ASCII classes only (bytes >= 0x80 are "other"),
 * alternatives tried in order at each position. Each piece is then covered
 * greedily by the longest vocabulary entry starting at the current byte; a
 * byte no entry starts with is skipped (whisper.cpp logs "unknown token").
 * This is not real BPE merging, exactly as in whisper.cpp.
 */
#include <stdio.h>
#include <string.h>

#include "whisper.h"

static const char *const lang_codes[HARK_WHISPER_N_LANGS_MAX] = {
    "en", "zh", "de", "es",  "ru", "ko", "fr", "ja", "pt", "tr",  "pl", "ca", "nl", "ar", "sv",
    "it", "id", "hi", "fi",  "vi", "he", "uk", "el", "ms", "cs",  "ro", "da", "hu", "ta", "no",
    "th", "ur", "hr", "bg",  "lt", "la", "mi", "ml", "cy", "sk",  "te", "fa", "lv", "bn", "sr",
    "az", "sl", "kn", "et",  "mk", "br", "eu", "is", "hy", "ne",  "mn", "bs", "kk", "sq", "sw",
    "gl", "mr", "pa", "si",  "km", "sn", "yo", "so", "af", "oc",  "ka", "be", "tg", "sd", "gu",
    "am", "yi", "lo", "uz",  "fo", "ht", "ps", "tk", "nn", "mt",  "sa", "lb", "my", "bo", "tl",
    "mg", "as", "tt", "haw", "ln", "ha", "ba", "jw", "su", "yue",
};

static const char *const lang_names[HARK_WHISPER_N_LANGS_MAX] = {
    "english",  "chinese",    "german",         "spanish",     "russian",    "korean",
    "french",   "japanese",   "portuguese",     "turkish",     "polish",     "catalan",
    "dutch",    "arabic",     "swedish",        "italian",     "indonesian", "hindi",
    "finnish",  "vietnamese", "hebrew",         "ukrainian",   "greek",      "malay",
    "czech",    "romanian",   "danish",         "hungarian",   "tamil",      "norwegian",
    "thai",     "urdu",       "croatian",       "bulgarian",   "lithuanian", "latin",
    "maori",    "malayalam",  "welsh",          "slovak",      "telugu",     "persian",
    "latvian",  "bengali",    "serbian",        "azerbaijani", "slovenian",  "kannada",
    "estonian", "macedonian", "breton",         "basque",      "icelandic",  "armenian",
    "nepali",   "mongolian",  "bosnian",        "kazakh",      "albanian",   "swahili",
    "galician", "marathi",    "punjabi",        "sinhala",     "khmer",      "shona",
    "yoruba",   "somali",     "afrikaans",      "occitan",     "georgian",   "belarusian",
    "tajik",    "sindhi",     "gujarati",       "amharic",     "yiddish",    "lao",
    "uzbek",    "faroese",    "haitian creole", "pashto",      "turkmen",    "nynorsk",
    "maltese",  "sanskrit",   "luxembourgish",  "myanmar",     "tibetan",    "tagalog",
    "malagasy", "assamese",   "tatar",          "hawaiian",    "lingala",    "hausa",
    "bashkir",  "javanese",   "sundanese",      "cantonese",
};

int hark__whisper_lang_id(const char *code)
{
    int i;
    if (!code)
        return -1;
    for (i = 0; i < HARK_WHISPER_N_LANGS_MAX; i++)
        if (strcmp(code, lang_codes[i]) == 0)
            return i;
    for (i = 0; i < HARK_WHISPER_N_LANGS_MAX; i++)
        if (strcmp(code, lang_names[i]) == 0)
            return i;
    return -1;
}

const char *hark__whisper_lang_code(int id)
{
    return id >= 0 && id < HARK_WHISPER_N_LANGS_MAX ? lang_codes[id] : NULL;
}

static uint32_t bytes_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= (uint8_t)s[i];
        h *= 16777619u;
    }
    return h;
}

int32_t hark__whisper_token_find(const hark_whisper_model *m, const char *bytes, size_t len)
{
    uint32_t h;
    if (!m->hash)
        return -1;
    h = bytes_hash(bytes, len) & m->hash_mask;
    for (;;) {
        int32_t id = m->hash[h];
        if (id < 0)
            return -1;
        if (m->tok_len[id] == len && memcmp(m->tok_blob + m->tok_off[id], bytes, len) == 0)
            return id;
        h = (h + 1) & m->hash_mask;
    }
}

const char *hark__whisper_token_bytes(const hark_whisper_model *m, int32_t id, size_t *len)
{
    if (id < 0 || id >= m->hp.n_vocab || !m->tok_off) {
        if (len)
            *len = 0;
        return "";
    }
    if (len)
        *len = m->tok_len[id];
    return m->tok_blob + m->tok_off[id];
}

/* whisper.cpp's display name for an id past the file's vocabulary. */
static void special_name(const hark_whisper_model *m, int32_t i, char *buf, size_t size)
{
    const hark_whisper_special *sp = &m->sp;
    if (i > sp->beg)
        snprintf(buf, size, "[_TT_%d]", i - sp->beg);
    else if (i == sp->eot)
        snprintf(buf, size, "[_EOT_]");
    else if (i == sp->sot)
        snprintf(buf, size, "[_SOT_]");
    else if (i == sp->translate)
        snprintf(buf, size, "[_TRANSLATE_]");
    else if (i == sp->transcribe)
        snprintf(buf, size, "[_TRANSCRIBE_]");
    else if (i == sp->solm)
        snprintf(buf, size, "[_SOLM_]");
    else if (i == sp->prev)
        snprintf(buf, size, "[_PREV_]");
    else if (i == sp->nosp)
        snprintf(buf, size, "[_NOSP_]");
    else if (i == sp->not_ts)
        snprintf(buf, size, "[_NOT_]");
    else if (i == sp->beg)
        snprintf(buf, size, "[_BEG_]");
    else if (i > sp->sot && i <= sp->sot + sp->n_langs && hark__whisper_lang_code(i - sp->sot - 1))
        snprintf(buf, size, "[_LANG_%s]", hark__whisper_lang_code(i - sp->sot - 1));
    else
        snprintf(buf, size, "[_extra_token_%d]", i);
}

static void hash_insert(hark_whisper_model *m, int32_t id)
{
    const char *b = m->tok_blob + m->tok_off[id];
    uint32_t len = m->tok_len[id];
    uint32_t h = bytes_hash(b, len) & m->hash_mask;
    for (;;) {
        int32_t cur = m->hash[h];
        if (cur < 0 ||
            (m->tok_len[cur] == len && memcmp(m->tok_blob + m->tok_off[cur], b, len) == 0)) {
            m->hash[h] = id; /* later ids win, as whisper.cpp's map assignment */
            return;
        }
        h = (h + 1) & m->hash_mask;
    }
}

int hark__whisper_vocab_init(hark_whisper_model *m, const uint8_t *vocab, size_t vocab_size,
                             int32_t n_file)
{
    hark_whisper_special *sp = &m->sp;
    const int32_t n_vocab = m->hp.n_vocab;
    size_t blob = 0, off = 0, pos = 0;
    uint32_t n_slots;
    char name[48];
    int32_t i;

    /* special ids (FORMAT.md section 8) */
    sp->multilingual = n_vocab >= 51865;
    sp->n_langs = n_vocab - 51765 - (sp->multilingual ? 1 : 0);
    sp->eot = 50256;
    sp->sot = 50257;
    sp->translate = 50357;
    sp->transcribe = 50358;
    sp->solm = 50359;
    sp->prev = 50360;
    sp->nosp = 50361;
    sp->not_ts = 50362;
    sp->beg = 50363;
    if (sp->multilingual) {
        int dt = sp->n_langs - 98;
        sp->eot++;
        sp->sot++;
        sp->translate += dt;
        sp->transcribe += dt;
        sp->solm += dt;
        sp->prev += dt;
        sp->nosp += dt;
        sp->not_ts += dt;
        sp->beg += dt;
    }

    /* sizes: the file's tokens plus invented names */
    blob = vocab_size - 4 * (size_t)n_file + (size_t)n_file;
    blob += (size_t)(n_vocab - n_file) * sizeof(name);
    m->tok_blob = hark__malloc(blob);
    m->tok_off = hark__malloc((size_t)n_vocab * sizeof(uint32_t));
    m->tok_len = hark__malloc((size_t)n_vocab * sizeof(uint32_t));
    for (n_slots = 1; n_slots < 2u * (uint32_t)n_vocab; n_slots <<= 1)
        ;
    m->hash = hark__malloc(n_slots * sizeof(int32_t));
    if (!m->tok_blob || !m->tok_off || !m->tok_len || !m->hash)
        return hark_error_set(HARK_ENOMEM, "out of memory");
    m->hash_mask = n_slots - 1;
    memset(m->hash, 0xff, n_slots * sizeof(int32_t));

    for (i = 0; i < n_file; i++) {
        uint32_t len = (uint32_t)vocab[pos] | (uint32_t)vocab[pos + 1] << 8 |
                       (uint32_t)vocab[pos + 2] << 16 | (uint32_t)vocab[pos + 3] << 24;
        pos += 4;
        memcpy(m->tok_blob + off, vocab + pos, len);
        pos += len;
        m->tok_off[i] = (uint32_t)off;
        m->tok_len[i] = len;
        m->tok_blob[off + len] = '\0';
        off += len + 1;
    }
    for (i = n_file; i < n_vocab; i++) {
        size_t len;
        special_name(m, i, name, sizeof(name));
        len = strlen(name);
        memcpy(m->tok_blob + off, name, len + 1);
        m->tok_off[i] = (uint32_t)off;
        m->tok_len[i] = (uint32_t)len;
        off += len + 1;
    }
    m->max_tok_len = 0;
    for (i = 0; i < n_vocab; i++) {
        hash_insert(m, i);
        if (m->tok_len[i] > m->max_tok_len)
            m->max_tok_len = m->tok_len[i];
    }
    sp->space = hark__whisper_token_find(m, " ", 1);
    return 0;
}

/* ---- tokenizer ----------------------------------------------------------------------------------
 */

static int is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int is_other(unsigned char c)
{
    return !is_space(c) && !is_alpha(c) && !is_digit(c);
}

/* Length of the regex match at s[i] (always >= 1 for i < n). */
static size_t split_match(const unsigned char *s, size_t i, size_t n)
{
    static const char *const contractions[] = { "'s", "'t", "'re", "'ve", "'m", "'ll", "'d" };
    size_t k, j;
    int (*cls[3])(unsigned char) = { is_alpha, is_digit, is_other };
    int c;

    for (k = 0; k < HARK_ARRAY_SIZE(contractions); k++) {
        size_t l = strlen(contractions[k]);
        if (n - i >= l && memcmp(s + i, contractions[k], l) == 0)
            return l;
    }
    /*  ?[[:alpha:]]+ |  ?[[:digit:]]+ |  ?[^\s[:alpha:][:digit:]]+ */
    for (c = 0; c < 3; c++) {
        size_t start = i;
        if (s[start] == ' ' && start + 1 < n && cls[c](s[start + 1]))
            start++;
        if (cls[c](s[start])) {
            j = start;
            while (j < n && cls[c](s[j]))
                j++;
            return j - i;
        }
    }
    /* \s+(?!\S) | \s+ */
    j = i;
    while (j < n && is_space(s[j]))
        j++;
    if (j == n || j - i == 1)
        return j - i;
    return j - i - 1;
}

int hark__whisper_tokenize(const hark_whisper_model *m, const char *text, int32_t **ids, int *n_ids,
                           int *cap)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t n = text ? strlen(text) : 0, i = 0;

    while (i < n) {
        size_t wlen = split_match(s, i, n), a = 0;
        const char *w = text + i;
        while (a < wlen) {
            size_t b = wlen - a > m->max_tok_len ? a + m->max_tok_len : wlen;
            int32_t id = -1;
            for (; b > a; b--)
                if ((id = hark__whisper_token_find(m, w + a, b - a)) >= 0)
                    break;
            if (id < 0) {
                a++; /* whisper.cpp: "unknown token", skip one byte */
                continue;
            }
            if (*n_ids == *cap) {
                int nc = *cap ? *cap * 2 : 64;
                int32_t *p = hark__reallocarray(*ids, (size_t)nc, sizeof(int32_t));
                if (!p)
                    return hark_error_set(HARK_ENOMEM, "out of memory");
                *ids = p;
                *cap = nc;
            }
            (*ids)[(*n_ids)++] = id;
            a = b;
        }
        i += wlen;
    }
    return 0;
}
