/*
 * h1req: HTTP/1.1 request parser over one growing buffer (see h1req.h).
 *
 * A state machine over lines (request line, fields, chunk sizes, trailers)
 * and counted bytes (a Content-Length body, chunk data). r->pos is the first
 * byte not yet consumed; a line is consumed only once its LF has arrived, so
 * feeding a request whole, in pieces or byte by byte reaches the same state,
 * the same result and the same message.
 */
#include "proto/h1req.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

enum {
    ST_LINE = 0,     /* the request line (empty lines before it skipped) */
    ST_FIELDS,       /* header fields up to the blank line */
    ST_LENGTH,       /* Content-Length body */
    ST_CHUNK_SIZE,   /* chunk-size [ext] line */
    ST_CHUNK_DATA,   /* chunk data */
    ST_CHUNK_END,    /* the line end after chunk data */
    ST_TRAILERS,     /* trailer fields after the last chunk */
    ST_DONE,
    ST_ERROR,
};

static ls_err fail(struct h1req *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static ls_err fail(struct h1req *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
    r->state = ST_ERROR;
    return LS_ERR_PARSE;
}

/* tchar of RFC 9110 (a table: it runs per byte of every field name). */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Control characters other than HTAB, and DEL, are not allowed in field values. */
static bool is_bad_ctl(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static bool name_is(const char *name, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(name, lit, n) == 0;
}

/* Up to 40 bytes of s for a message, non-printing bytes as '?'. */
static const char *quote(const char *s, size_t n, char out[48])
{
    size_t k = n > 40 ? 40 : n;
    for (size_t i = 0; i < k; i++) {
        unsigned char c = (unsigned char)s[i];
        out[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[k] = '\0';
    if (n > 40)
        memcpy(out + 37, "...", 4);
    return out;
}

void h1req_reset(struct h1req *r)
{
    /* The field array is overwritten as fields arrive: only the counters need clearing. */
    r->method = r->target = (struct h1req_span){0, 0};
    r->version_minor = 0;
    r->nfields = 0;
    r->head_len = 0;
    r->line_start = 0;
    r->framing = H1REQ_BODY_NONE;
    r->content_length = 0;
    r->keep_alive = false;
    r->expect_continue = false;
    r->msg_len = 0;
    r->body_len = 0;
    r->state = ST_LINE;
    r->pos = 0;
    r->chunk_left = 0;
    r->trailer_bytes = 0;
    r->has_length = r->has_te = r->te_chunked = r->conn_close = r->conn_keep_alive = false;
    r->err[0] = '\0';
}

bool h1req_head_done(const struct h1req *r)
{
    return r->state >= ST_LENGTH && r->state <= ST_DONE;
}

bool h1req_complete(const struct h1req *r)
{
    return r->state == ST_DONE;
}

/* ------------------------------------------------------------ the head */

static ls_err request_line(struct h1req *r, const char *buf, size_t off, size_t n)
{
    const char *l = buf + off;
    char q[48];
    size_t i = 0;
    while (i < n && is_tchar((unsigned char)l[i]))
        i++;
    if (i == 0 || i == n || l[i] != ' ')
        return fail(r, "malformed request line: \"%s\"", quote(l, n, q));
    r->method = (struct h1req_span){(uint32_t)off, (uint32_t)i};
    size_t t = ++i;
    while (i < n && (unsigned char)l[i] > 0x20 && (unsigned char)l[i] < 0x7f)
        i++;
    if (i == t || i == n || l[i] != ' ')
        return fail(r, "malformed request target in \"%s\"", quote(l, n, q));
    r->target = (struct h1req_span){(uint32_t)(off + t), (uint32_t)(i - t)};
    i++;
    if (n - i != 8 || memcmp(l + i, "HTTP/1.", 7) != 0 || l[i + 7] < '0' || l[i + 7] > '9')
        return fail(r, "not an HTTP/1.x request: \"%s\"", quote(l, n, q));
    r->version_minor = l[i + 7] == '0' ? 0 : 1;
    return LS_OK;
}

static ls_err content_length(struct h1req *r, const char *v, size_t n)
{
    /* A list of identical values ("5, 5") is accepted, as RFC 9110 allows. */
    size_t i = 0;
    for (;;) {
        while (i < n && is_ows(v[i]))
            i++;
        uint64_t x = 0;
        size_t d = 0;
        while (i < n && v[i] >= '0' && v[i] <= '9') {
            if (x > (UINT64_MAX >> 1) / 10)
                return fail(r, "Content-Length too large");
            x = x * 10 + (uint64_t)(v[i] - '0');
            i++;
            d++;
        }
        while (i < n && is_ows(v[i]))
            i++;
        if (d == 0 || (i < n && v[i] != ','))
            return fail(r, "Content-Length is not a number");
        if (r->has_length && x != r->content_length)
            return fail(r, "conflicting Content-Length values");
        r->content_length = x;
        r->has_length = true;
        if (i == n)
            return LS_OK;
        i++;
    }
}

/* Walks a comma-separated list value; fn sees each token (parameters cut). */
static void each_token(struct h1req *r, const char *v, size_t n,
                       void (*fn)(struct h1req *, const char *, size_t))
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (is_ows(v[i]) || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ';' && !is_ows(v[i]))
            i++;
        if (i > s)
            fn(r, v + s, i - s);
        while (i < n && v[i] != ',')
            i++;
    }
}

static void te_token(struct h1req *r, const char *t, size_t n)
{
    r->te_chunked = name_is(t, n, "chunked"); /* only the last coding counts */
}

static void conn_token(struct h1req *r, const char *t, size_t n)
{
    if (name_is(t, n, "close"))
        r->conn_close = true;
    else if (name_is(t, n, "keep-alive"))
        r->conn_keep_alive = true;
}

/* One "name: value" line at buf[off..off+n); in trailers only the syntax is checked. */
static ls_err field_line(struct h1req *r, const char *buf, size_t off, size_t n, bool trailer)
{
    const char *l = buf + off;
    char q[48];
    if (is_ows(l[0]))
        return fail(r, "obsolete line folding in the %s", trailer ? "trailers" : "head");
    size_t c = 0;
    while (c < n && is_tchar((unsigned char)l[c]))
        c++;
    if (c == 0 || c == n || l[c] != ':')
        return fail(r, "malformed %s field: \"%s\"", trailer ? "trailer" : "header",
                    quote(l, n, q));
    size_t v = c + 1, end = n;
    while (v < end && is_ows(l[v]))
        v++;
    while (end > v && is_ows(l[end - 1]))
        end--;
    for (size_t i = v; i < end; i++) {
        if (is_bad_ctl((unsigned char)l[i]))
            return fail(r, "control character in field %s", quote(l, c, q));
    }
    if (trailer)
        return LS_OK;
    if (r->nfields == H1REQ_FIELDS_MAX)
        return fail(r, "more than %d header fields", H1REQ_FIELDS_MAX);
    struct h1req_field *f = &r->fields[r->nfields++];
    f->name = (struct h1req_span){(uint32_t)off, (uint32_t)c};
    f->value = (struct h1req_span){(uint32_t)(off + v), (uint32_t)(end - v)};
    const char *val = l + v;
    size_t vn = end - v;
    if (name_is(l, c, "content-length"))
        return content_length(r, val, vn);
    if (name_is(l, c, "transfer-encoding")) {
        r->has_te = true;
        each_token(r, val, vn, te_token);
    } else if (name_is(l, c, "connection")) {
        each_token(r, val, vn, conn_token);
    } else if (name_is(l, c, "expect")) {
        r->expect_continue = name_is(val, vn, "100-continue");
    }
    return LS_OK;
}

/* The blank line after the fields: decides how the body is framed. */
static ls_err end_of_head(struct h1req *r)
{
    r->keep_alive =
        r->version_minor >= 1 ? !r->conn_close : r->conn_keep_alive && !r->conn_close;
    if (r->has_te) {
        if (r->has_length)
            return fail(r, "both Transfer-Encoding and Content-Length (refused: request smuggling)");
        if (r->version_minor == 0)
            return fail(r, "Transfer-Encoding in an HTTP/1.0 request");
        if (!r->te_chunked)
            return fail(r, "Transfer-Encoding does not end in chunked");
        r->framing = H1REQ_BODY_CHUNKED;
        r->state = ST_CHUNK_SIZE;
        return LS_OK;
    }
    if (r->has_length && r->content_length > 0) {
        r->framing = H1REQ_BODY_LENGTH;
        r->state = ST_LENGTH;
        return LS_OK;
    }
    r->framing = r->has_length ? H1REQ_BODY_LENGTH : H1REQ_BODY_NONE;
    r->msg_len = r->head_len;
    r->state = ST_DONE;
    return LS_OK;
}

/* ------------------------------------------------------------ the body */

/* Reads a chunk-size line's hex number; false when it has none or is too large. */
static bool chunk_size(const char *l, size_t n, uint64_t *out, size_t *used)
{
    uint64_t x = 0;
    size_t i = 0;
    while (i < n) {
        char c = l[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A' + 10);
        else
            break;
        if (x > (UINT64_MAX >> 5))
            return false;
        x = x * 16 + d;
        i++;
    }
    *out = x;
    *used = i;
    return i > 0;
}

static ls_err chunk_size_line(struct h1req *r, const char *l, size_t n)
{
    char q[48];
    uint64_t x;
    size_t i;
    if (!chunk_size(l, n, &x, &i))
        return fail(r, "bad chunk size line: \"%s\"", quote(l, n, q));
    while (i < n && is_ows(l[i]))
        i++;
    if (i < n && l[i] != ';')
        return fail(r, "bad chunk size line: \"%s\"", quote(l, n, q));
    for (; i < n; i++) { /* extensions are skipped, not interpreted */
        if (is_bad_ctl((unsigned char)l[i]))
            return fail(r, "control character in a chunk extension");
    }
    if (x == 0) {
        r->state = ST_TRAILERS;
        return LS_OK;
    }
    if (r->body_len > UINT64_MAX - x)
        return fail(r, "chunked body too large");
    r->body_len += x;
    r->chunk_left = x;
    r->state = ST_CHUNK_DATA;
    return LS_OK;
}

/* A complete line at buf[off..off+n) (line end stripped), total bytes with the line end. */
static ls_err on_line(struct h1req *r, const char *buf, size_t off, size_t n, size_t total)
{
    switch (r->state) {
    case ST_LINE:
        r->head_len += (uint32_t)total;
        if (r->head_len > H1REQ_HEAD_MAX)
            return fail(r, "request head larger than %d bytes", H1REQ_HEAD_MAX);
        if (n == 0) {
            r->line_start = r->head_len; /* an empty line before the request line */
            return LS_OK;
        }
        if (request_line(r, buf, off, n) != LS_OK)
            return LS_ERR_PARSE;
        r->state = ST_FIELDS;
        return LS_OK;
    case ST_FIELDS:
        r->head_len += (uint32_t)total;
        if (r->head_len > H1REQ_HEAD_MAX)
            return fail(r, "request head larger than %d bytes", H1REQ_HEAD_MAX);
        if (n == 0)
            return end_of_head(r);
        return field_line(r, buf, off, n, false);
    case ST_CHUNK_SIZE:
        return chunk_size_line(r, buf + off, n);
    case ST_CHUNK_END:
        if (n != 0)
            return fail(r, "chunk data longer than its size");
        r->state = ST_CHUNK_SIZE;
        return LS_OK;
    case ST_TRAILERS:
        r->trailer_bytes += (uint32_t)total;
        if (r->trailer_bytes > H1REQ_HEAD_MAX)
            return fail(r, "trailers larger than %d bytes", H1REQ_HEAD_MAX);
        if (n == 0) {
            r->state = ST_DONE;
            return LS_OK;
        }
        return field_line(r, buf, off, n, true);
    default:
        return fail(r, "internal: line in state %d", r->state);
    }
}

ls_err h1req_parse(struct h1req *r, const char *buf, size_t len)
{
    if (r->state == ST_ERROR)
        return LS_ERR_PARSE;
    while (r->state != ST_DONE) {
        if (r->pos >= len)
            return LS_OK;
        if (r->state == ST_LENGTH) {
            uint64_t end = (uint64_t)r->head_len + r->content_length;
            if (len < end) {
                r->pos = len;
                return LS_OK;
            }
            r->pos = end;
            r->body_len = r->content_length;
            r->state = ST_DONE;
            break;
        }
        if (r->state == ST_CHUNK_DATA) {
            uint64_t avail = len - r->pos;
            uint64_t take = avail < r->chunk_left ? avail : r->chunk_left;
            r->pos += take;
            r->chunk_left -= take;
            if (r->chunk_left > 0)
                return LS_OK;
            r->state = ST_CHUNK_END;
            continue;
        }
        size_t off = (size_t)r->pos;
        const char *nl = memchr(buf + off, '\n', len - off);
        if (nl == NULL) {
            if (len - off > H1REQ_LINE_MAX)
                return fail(r, "line longer than %d bytes", H1REQ_LINE_MAX);
            return LS_OK;
        }
        size_t total = (size_t)(nl - (buf + off)) + 1;
        size_t n = total - 1;
        if (n > 0 && buf[off + n - 1] == '\r')
            n--;
        if (n > H1REQ_LINE_MAX)
            return fail(r, "line longer than %d bytes", H1REQ_LINE_MAX);
        r->pos += total;
        if (on_line(r, buf, off, n, total) != LS_OK)
            return LS_ERR_PARSE;
    }
    if (r->framing == H1REQ_BODY_CHUNKED || r->framing == H1REQ_BODY_LENGTH)
        r->msg_len = r->pos;
    return LS_OK;
}

const char *h1req_field(const struct h1req *r, const char *buf, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (uint32_t i = 0; i < r->nfields; i++) {
        const struct h1req_field *f = &r->fields[i];
        if (f->name.len == n && strncasecmp(buf + f->name.off, name, n) == 0) {
            *len = f->value.len;
            return buf + f->value.off;
        }
    }
    *len = 0;
    return NULL;
}

void h1req_body(const struct h1req *r, const char *buf, char *out)
{
    if (r->framing != H1REQ_BODY_CHUNKED) {
        memcpy(out, buf + r->head_len, (size_t)r->body_len);
        return;
    }
    /* The chunks were checked while parsing: walk them again and copy the data. */
    size_t at = r->head_len;
    size_t w = 0;
    for (;;) {
        const char *nl = memchr(buf + at, '\n', (size_t)(r->msg_len - at));
        uint64_t x = 0;
        size_t used;
        if (nl == NULL || !chunk_size(buf + at, (size_t)(nl - (buf + at)), &x, &used) || x == 0)
            return;
        at = (size_t)(nl - buf) + 1;
        memcpy(out + w, buf + at, (size_t)x);
        w += (size_t)x;
        at += (size_t)x;
        nl = memchr(buf + at, '\n', (size_t)(r->msg_len - at));
        if (nl == NULL)
            return;
        at = (size_t)(nl - buf) + 1;
    }
}
