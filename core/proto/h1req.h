/*
 * h1req: the server side of HTTP/1.1, as the downstream recording proxy
 * (core/downstream) needs it: a request parser over one growing buffer.
 *
 * The proxy keeps each request whole (head and body) in its connection's
 * buffer until it has been answered, so the parser does not copy: it is
 * called again on the same buffer, grown by the latest read, and resumes
 * where it stopped. It records where the method, target and fields lie in the
 * buffer (offsets, so the buffer may move when it grows) and what the proxy
 * needs from the head: framing (Content-Length, or Transfer-Encoding ending
 * in chunked), keep-alive (HTTP/1.1 unless "Connection: close", HTTP/1.0
 * only with "keep-alive") and "Expect: 100-continue". Complete means the
 * whole message, chunked framing and trailers included, lies in the buffer.
 *
 * Written by hand because no library here parses requests: libcurl is a
 * client, and the response parser (h1.h) streams bodies away where the proxy
 * must keep them for signing and batch counting.
 *
 * Strictness, as a server in front of AWS should be (RFC 9112): a bad request
 * line or version, a field name followed by white space, obsolete line
 * folding, control characters, conflicting Content-Length values,
 * Transfer-Encoding together with Content-Length (request smuggling), a
 * Transfer-Encoding whose last coding is not chunked, Transfer-Encoding on
 * HTTP/1.0, a bad chunk size, and anything past the limits below are
 * LS_ERR_PARSE with a message in r->err. Empty lines before the request line
 * are skipped and bare LF line ends accepted, as RFC 9112 allows.
 */
#ifndef LS_H1REQ_H
#define LS_H1REQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/lserr.h"

#define H1REQ_LINE_MAX 16384   /* longest request line, field line or chunk-size line */
#define H1REQ_HEAD_MAX 65536   /* largest head, and largest trailer section */
#define H1REQ_FIELDS_MAX 128   /* most header fields */

enum h1req_framing {
    H1REQ_BODY_NONE = 0,  /* no Content-Length and no Transfer-Encoding: no body */
    H1REQ_BODY_LENGTH,    /* Content-Length bytes */
    H1REQ_BODY_CHUNKED,   /* Transfer-Encoding ending in chunked */
};

/* Bytes [off, off + len) of the caller's buffer. */
struct h1req_span {
    uint32_t off;
    uint32_t len;
};

struct h1req_field {
    struct h1req_span name;  /* as sent (case kept) */
    struct h1req_span value; /* surrounding white space removed */
};

/*
 * One request. Zero it (or h1req_reset) before the first call. The public
 * part is valid from h1req_head_done() (head) and h1req_complete() (sizes).
 */
struct h1req {
    struct h1req_span method;
    struct h1req_span target;    /* request-target as sent: "/", "/bucket/key?x-id=GetObject" */
    uint8_t version_minor;       /* HTTP/1.0 or HTTP/1.1 */
    struct h1req_field fields[H1REQ_FIELDS_MAX];
    uint32_t nfields;
    uint32_t head_len;           /* bytes of the head, skipped empty lines and blank line included */
    uint32_t line_start;         /* offset of the request line (after skipped empty lines) */
    enum h1req_framing framing;
    uint64_t content_length;     /* H1REQ_BODY_LENGTH only */
    bool keep_alive;             /* the connection may carry another request after this one */
    bool expect_continue;        /* "Expect: 100-continue" */
    uint64_t msg_len;            /* head + body as framed (chunk framing, trailers); once complete */
    uint64_t body_len;           /* decoded body bytes; once complete */

    /* private: where the scan resumes */
    int state;
    uint64_t pos;                /* next byte to look at */
    uint64_t chunk_left;         /* chunk data still to skip */
    uint32_t trailer_bytes;
    bool has_length, has_te, te_chunked, conn_close, conn_keep_alive;
    char err[160];               /* why LS_ERR_PARSE ("" otherwise) */
};

/* Prepares r for a new request (the next one on a kept-alive connection). */
void h1req_reset(struct h1req *r);

/*
 * Parses the request that starts at buf[0], of which len bytes have arrived.
 * Call again with the same buffer (it may have moved) and a larger len as
 * bytes arrive; bytes already scanned are not looked at again. Returns LS_OK
 * (see h1req_head_done / h1req_complete) or LS_ERR_PARSE (r->err says why;
 * reset before reuse). Bytes past msg_len belong to the next request.
 */
LS_MUST_CHECK ls_err h1req_parse(struct h1req *r, const char *buf, size_t len);

bool h1req_head_done(const struct h1req *r);
bool h1req_complete(const struct h1req *r);

/*
 * The value of the first field named name (case-insensitive), with its
 * length in *len, pointing into buf; NULL when absent.
 */
const char *h1req_field(const struct h1req *r, const char *buf, const char *name, size_t *len);

/*
 * Copies the decoded body (r->body_len bytes, chunk framing removed) of a
 * complete request into out. For a Content-Length body the bytes simply
 * follow the head: buf + head_len.
 */
void h1req_body(const struct h1req *r, const char *buf, char *out);

#endif
