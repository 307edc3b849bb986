/*
 * h1: the HTTP/1.1 client side loadscope needs for plain http:// MCP
 * targets: an incremental response parser and a request-head writer.
 *
 * The parser is fed whatever pieces the socket returns (a boundary may fall
 * anywhere, even between the CR and LF of a line end). It reads the status
 * line and the header fields, skips 1xx interim responses, and keeps what the
 * engine needs from the final head: status, framing (Content-Length,
 * Transfer-Encoding: chunked, or until the connection closes), whether the
 * connection may be reused (Connection, HTTP/1.0 vs 1.1), Content-Type and
 * Mcp-Session-Id. Body bytes are handed to a callback straight from the
 * caller's buffer (chunked framing removed), and h1_feed stops at the end of
 * the message so the caller can tell a complete response from trailing bytes.
 *
 * Only a line that is split across two feeds is copied, into a fixed buffer
 * inside the parser: the parser allocates once, at open, never per response.
 *
 * Strictness: a line longer than H1_LINE_MAX, a head larger than H1_HEAD_MAX,
 * more than H1_FIELDS_MAX fields, a malformed status line or field, obsolete
 * line folding, control characters, a bad or conflicting Content-Length, a
 * bad chunk size, 101 Switching Protocols or more than H1_INTERIM_MAX interim
 * responses are errors (LS_ERR_PARSE) with a message from h1_error().
 * Bare LF line ends are accepted (as curl and browsers do).
 */
#ifndef LS_H1_H
#define LS_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/lserr.h"

#define H1_LINE_MAX 8192        /* longest status, field, chunk-size or trailer line */
#define H1_HEAD_MAX 65536       /* largest head (status line + fields) of one response */
#define H1_FIELDS_MAX 128       /* most header (or trailer) fields in one response */
#define H1_INTERIM_MAX 16       /* most 1xx responses before the final one */
#define H1_SESSION_ID_MAX 255   /* longest Mcp-Session-Id kept */
#define H1_CONTENT_TYPE_MAX 127 /* longest Content-Type kept (longer is cut) */

enum h1_framing {
    H1_BODY_NONE = 0, /* 204, 304: no body whatever the fields say */
    H1_BODY_LENGTH,   /* Content-Length bytes */
    H1_BODY_CHUNKED,  /* Transfer-Encoding ending in chunked */
    H1_BODY_CLOSE,    /* no length: the body ends when the server closes */
};

/* The final (non-1xx) response head; valid from h1_head_done() until the next reset. */
struct h1_head {
    uint16_t status;
    uint8_t version_minor;      /* HTTP/1.0 or HTTP/1.1 */
    enum h1_framing framing;
    uint64_t content_length;    /* H1_BODY_LENGTH only */
    bool keep_alive;            /* the connection may carry another request afterwards */
    char content_type[H1_CONTENT_TYPE_MAX + 1]; /* "" when absent */
    char session_id[H1_SESSION_ID_MAX + 1];     /* Mcp-Session-Id, "" when absent */
    bool has_session_id;
};

/* Body bytes, chunk framing removed; data is the caller's buffer. Non-zero stops the feed. */
typedef int (*h1_body_fn)(void *ctx, const char *data, size_t len);

struct h1_parser;

/* Creates a parser that hands body bytes to fn(ctx, ...). *out owns it. */
LS_MUST_CHECK ls_err h1_parser_open(h1_body_fn fn, void *ctx, struct h1_parser **out);
void h1_parser_close(struct h1_parser *p);

/* Prepares for the next response (on the same or a new connection). */
void h1_parser_reset(struct h1_parser *p);

/*
 * Feeds len bytes. *used is set to the bytes consumed: all of them unless the
 * message completed (h1_complete()) before the end of buf, or an error
 * occurred. Returns LS_OK, LS_ERR_PARSE (message in h1_error()), or
 * LS_ERR_INVALID when the body callback asked to stop. After an error *used
 * is not meaningful and the parser must be reset before it is fed again. The parser keeps no pointer
 * into buf.
 */
LS_MUST_CHECK ls_err h1_feed(struct h1_parser *p, const char *buf, size_t len, size_t *used);

/*
 * The connection was closed by the server. Completes a close-delimited body
 * (LS_OK); otherwise, if the response is not complete, LS_ERR_PARSE with a
 * message saying where it stopped.
 */
LS_MUST_CHECK ls_err h1_eof(struct h1_parser *p);

/* The whole final response has been read. */
bool h1_complete(const struct h1_parser *p);
/* The final response's head has been read (h1_head() is valid). */
bool h1_head_done(const struct h1_parser *p);
/* Bytes of the current response seen so far (interim responses included); 0 before any. */
uint64_t h1_bytes_seen(const struct h1_parser *p);
/* Body bytes delivered so far (after chunk decoding). */
uint64_t h1_body_bytes(const struct h1_parser *p);
const struct h1_head *h1_head(const struct h1_parser *p);
/* The last error's message ("" when none); owned by the parser. */
const char *h1_error(const struct h1_parser *p);

/* ----------------------------------------------------------- requests */

/* An http:// URL split for the request line and the Host field. */
struct h1_url {
    char host[256];       /* name or address, IPv6 without brackets */
    char port[6];         /* "80" when the URL has none */
    char authority[272];  /* Host field value: as in the URL, ":80" dropped */
    char target[4096];    /* path and query, "/" when empty; fragment dropped */
};

/*
 * Splits an http:// URL (scheme case-insensitive) with util/url.h, the URL
 * parser every part of loadscope shares. Refuses https://, user
 * information, an empty host, a bad port, parts longer than struct h1_url
 * holds, and spaces or control characters, with a message in err.
 */
LS_MUST_CHECK ls_err h1_parse_url(const char *url, struct h1_url *out, char *err, size_t errcap);

/*
 * Writes a request head "METHOD TARGET HTTP/1.1\r\nHost: AUTHORITY\r\n" and
 * one "LINE\r\n" per fields[i] ("Name: value" strings) into buf, without the
 * blank line that ends the head: the caller appends a Content-Length field
 * (h1_format_length) or just "\r\n". Returns the length, or -1 when it does
 * not fit in cap or a field holds CR, LF or NUL (header injection).
 */
long h1_format_head(char *buf, size_t cap, const char *method, const struct h1_url *url,
                    const char *const *fields, size_t nfields);

/* Writes "Content-Length: N\r\n\r\n" into buf (at least 40 bytes); returns its length. */
size_t h1_format_length(char *buf, uint64_t n);

#endif
