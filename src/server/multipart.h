/*
 * multipart.h: a streaming multipart/form-data parser (RFC 7578 over the
 * RFC 2046 framing) for upload bodies of any size.
 *
 *     char boundary[HARK_MULTIPART_BOUNDARY_MAX + 1];
 *     hark_multipart *mp = NULL;
 *     hark_multipart_callbacks cb = { on_begin, on_data, on_end };
 *     rc = hark__multipart_boundary(content_type_header, boundary, sizeof(boundary));
 *     rc = hark__multipart_new(&mp, boundary, &cb, ctx);
 *     for each chunk of the request body: rc = hark__multipart_feed(mp, chunk, len);
 *     rc = hark__multipart_finish(mp);   (the body ended: was it complete?)
 *     hark__multipart_free(mp);
 *
 * The parser keeps no body bytes: part data reaches part_data() as pointers
 * into the caller's chunk (or into the parser's copy of the delimiter, for
 * the few bytes that looked like the start of a delimiter across a chunk
 * split and turned out not to be one). It allocates once, in _new(); its
 * memory is bounded by the header limit, whatever the body size.
 *
 * Callbacks: return 0 to go on, a negative HARK_E* code to abort; the parser
 * then stops and returns that code from _feed() (and from every later call).
 * After any error no callback is called again. part_end() is called only for
 * a part closed by a well-formed delimiter line: a part cut short by an error
 * or a truncated body gets no part_end(), the caller discards it.
 *
 * Not thread-safe: one parser per request, used by one thread at a time.
 */
#ifndef HARK_SERVER_MULTIPART_H
#define HARK_SERVER_MULTIPART_H

#include <stddef.h>

/* RFC 2046: a boundary is 1..70 characters. */
#define HARK_MULTIPART_BOUNDARY_MAX 70
/* Bytes of one part's header section, the blank line that ends it included. */
#define HARK_MULTIPART_HEADER_MAX 8192
/* Parts in one body. */
#define HARK_MULTIPART_PARTS_MAX 100

typedef struct hark_multipart hark_multipart;

typedef struct hark_multipart_callbacks {
    /*
     * A part starts. `name`: its Content-Disposition name (never NULL, may be
     * ""). `filename`: filename*= (RFC 8187, decoded to UTF-8) if present,
     * else filename=, else NULL; it is what the client sent: never use it as
     * a path. `content_type`: the part's Content-Type value, NULL if absent.
     * The strings are valid during the call only. NULL callback = ignored.
     */
    int (*part_begin)(const char *name, const char *filename, const char *content_type,
                      void *payload);
    /* The next bytes of the current part (len > 0, valid during the call only). */
    int (*part_data)(const void *data, size_t len, void *payload);
    /* The current part ended at a well-formed delimiter. */
    int (*part_end)(void *payload);
} hark_multipart_callbacks;

/*
 * The boundary parameter of a Content-Type header value
 * (`multipart/form-data; boundary=...`): quoted or not, parameter names in
 * any case, other parameters in any order. Writes it NUL-terminated into
 * `out` (out_size >= HARK_MULTIPART_BOUNDARY_MAX + 1 always suffices).
 * HARK_EUNSUPPORTED if content_type is NULL or not multipart/form-data (a
 * server answers 415), HARK_EINVAL if the boundary is missing or malformed
 * (400), with a message saying which.
 */
int hark__multipart_boundary(const char *content_type, char *out, size_t out_size);

/*
 * A parser for a body delimited by `boundary` (without the leading "--").
 * `cb` is copied; `payload` is passed to every callback. HARK_EINVAL if the
 * boundary is not 1..70 characters of the RFC 2046 set, HARK_ENOMEM.
 */
int hark__multipart_new(hark_multipart **out, const char *boundary,
                        const hark_multipart_callbacks *cb, void *payload);

/*
 * The next `len` bytes of the body, in chunks of any size (0 is fine).
 * Returns 0, a callback's negative code, HARK_EINVAL for a malformed body
 * (bad delimiter line, bad part headers, part without a name),
 * HARK_ETOOBIG for part headers over HARK_MULTIPART_HEADER_MAX bytes or more
 * than HARK_MULTIPART_PARTS_MAX parts. Errors are sticky.
 */
int hark__multipart_feed(hark_multipart *p, const void *data, size_t len);

/*
 * The body has ended: 0 if the closing delimiter was seen (what follows it,
 * the epilogue, is ignored), else HARK_EINVAL ("multipart: body ends inside
 * part 'file'", "... inside the headers of part 2", "... no delimiter ...").
 * Returns the sticky error if an earlier call failed.
 */
int hark__multipart_finish(hark_multipart *p);

/* Parts begun so far. */
unsigned hark__multipart_parts(const hark_multipart *p);

/* NULL is ok. */
void hark__multipart_free(hark_multipart *p);

#endif
