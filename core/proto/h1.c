/*
 * h1: HTTP/1.1 response parser and request-head writer (RFC 9112).
 *
 * The parser is a small state machine over lines and bodies. A line that is
 * wholly inside the caller's buffer is parsed where it lies; only a line cut
 * by the end of a feed is copied into the parser's fixed line buffer, so
 * whole, split and byte-by-byte feeds reach the same states and the same
 * errors. Body bytes are never copied: they go from the caller's buffer to
 * the body callback.
 */
#include "proto/h1.h"

#include "util/url.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum h1_state {
    H1_ST_STATUS = 0, /* status line of a (possibly interim) response */
    H1_ST_FIELDS,     /* header fields up to the blank line */
    H1_ST_LENGTH,     /* Content-Length body */
    H1_ST_CHUNK_SIZE, /* chunk-size [ext] line */
    H1_ST_CHUNK_DATA, /* chunk data */
    H1_ST_CHUNK_END,  /* the line end after chunk data */
    H1_ST_TRAILERS,   /* trailer fields after the last chunk, up to the blank line */
    H1_ST_CLOSE,      /* body delimited by the connection's close */
    H1_ST_DONE,
    H1_ST_ERROR,
};

struct h1_parser {
    h1_body_fn fn;
    void *ctx;
    enum h1_state state;
    struct h1_head head;

    /* per head (interim or final) */
    uint32_t head_bytes;     /* bytes of this head so far, line ends included */
    uint32_t fields;         /* fields in this head or trailer section */
    uint16_t interim;        /* 1xx responses skipped */
    bool has_length, has_te, te_chunked, conn_close, conn_keep_alive;

    uint64_t remaining;      /* LENGTH / CHUNK_DATA: body bytes still expected */
    uint64_t seen;           /* bytes consumed for this response */
    uint64_t body;           /* body bytes delivered */

    size_t line_len;         /* bytes of a partial line in line[] */
    char line[H1_LINE_MAX + 2];
    char err[200];
};

/* ------------------------------------------------------------- helpers */

static ls_err fail(struct h1_parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static ls_err fail(struct h1_parser *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof(p->err), fmt, ap);
    va_end(ap);
    p->state = H1_ST_ERROR;
    return LS_ERR_PARSE;
}

/* tchar of RFC 9110: the characters of a field name or token (a table: it runs per byte). */
static const uint8_t tchar_table[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1, ['~'] = 1,
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1,
    ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1,
    ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1,
    ['y'] = 1, ['z'] = 1,
};

static bool is_tchar(unsigned char c)
{
    return tchar_table[c] != 0;
}

/* Control characters other than HTAB, and DEL, are not allowed in field values. */
static bool is_bad_ctl(unsigned char c)
{
    return (c < 0x20 && c != '\t') || c == 0x7f;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* Copies up to 40 bytes of s for a message, with non-printing bytes as '?'. */
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

static bool name_is(const char *name, size_t n, const char *lit)
{
    return strlen(lit) == n && strncasecmp(name, lit, n) == 0;
}

/* Calls fn(ctx, token, len) for each comma-separated token of a list value (parameters cut). */
static void each_token(const char *v, size_t n, void (*fn)(struct h1_parser *, const char *, size_t),
                       struct h1_parser *p)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (is_ows(v[i]) || v[i] == ','))
            i++;
        size_t s = i;
        while (i < n && v[i] != ',' && v[i] != ';' && !is_ows(v[i]))
            i++;
        if (i > s)
            fn(p, v + s, i - s);
        while (i < n && v[i] != ',')
            i++;
    }
}

static void te_token(struct h1_parser *p, const char *t, size_t n)
{
    /* Only the last coding decides: chunked must be the final one. */
    p->te_chunked = name_is(t, n, "chunked");
}

static void conn_token(struct h1_parser *p, const char *t, size_t n)
{
    if (name_is(t, n, "close"))
        p->conn_close = true;
    else if (name_is(t, n, "keep-alive"))
        p->conn_keep_alive = true;
}

/* ------------------------------------------------------------- lines */

/* Parses "HTTP/1.x SSS reason". */
static ls_err status_line(struct h1_parser *p, const char *l, size_t n)
{
    char q[48];
    if (n < 12 || memcmp(l, "HTTP/1.", 7) != 0 || l[7] < '0' || l[7] > '9' || l[8] != ' ' ||
        l[9] < '1' || l[9] > '9' || l[10] < '0' || l[10] > '9' || l[11] < '0' || l[11] > '9' ||
        (n > 12 && l[12] != ' '))
        return fail(p, "not an HTTP/1.x status line: \"%s\"", quote(l, n, q));
    for (size_t i = 13; i < n; i++) {
        if (is_bad_ctl((unsigned char)l[i]))
            return fail(p, "control character in the status line's reason phrase");
    }
    p->head.version_minor = l[7] == '0' ? 0 : 1;
    p->head.status = (uint16_t)((l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0'));
    return LS_OK;
}

static ls_err content_length(struct h1_parser *p, const char *v, size_t n)
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
                return fail(p, "Content-Length too large");
            x = x * 10 + (uint64_t)(v[i] - '0');
            i++;
            d++;
        }
        while (i < n && is_ows(v[i]))
            i++;
        if (d == 0 || (i < n && v[i] != ','))
            return fail(p, "Content-Length is not a number");
        if (p->has_length && x != p->head.content_length)
            return fail(p, "conflicting Content-Length values");
        p->head.content_length = x;
        p->has_length = true;
        if (i == n)
            return LS_OK;
        i++; /* the comma: another value must follow */
    }
}

/* Parses one "name: value" field; in trailers only the syntax is checked. */
static ls_err field_line(struct h1_parser *p, const char *l, size_t n, bool trailer)
{
    char q[48];
    if (is_ows(l[0]))
        return fail(p, "obsolete line folding in the %s", trailer ? "trailers" : "header");
    if (++p->fields > H1_FIELDS_MAX)
        return fail(p, "more than %d %s fields", H1_FIELDS_MAX, trailer ? "trailer" : "header");
    size_t c = 0;
    while (c < n && is_tchar((unsigned char)l[c]))
        c++;
    if (c == 0 || c == n || l[c] != ':')
        return fail(p, "malformed %s field: \"%s\"", trailer ? "trailer" : "header", quote(l, n, q));
    const char *v = l + c + 1;
    const char *end = l + n;
    while (v < end && is_ows(*v))
        v++;
    while (end > v && is_ows(end[-1]))
        end--;
    size_t vn = (size_t)(end - v);
    for (size_t i = 0; i < vn; i++) {
        if (is_bad_ctl((unsigned char)v[i]))
            return fail(p, "control character in field %s", quote(l, c, q));
    }
    if (trailer)
        return LS_OK;
    switch (c) {
    case 10:
        if (name_is(l, c, "connection"))
            each_token(v, vn, conn_token, p);
        break;
    case 12:
        if (name_is(l, c, "content-type")) {
            size_t k = vn < H1_CONTENT_TYPE_MAX ? vn : H1_CONTENT_TYPE_MAX;
            memcpy(p->head.content_type, v, k);
            p->head.content_type[k] = '\0';
        }
        break;
    case 14:
        if (name_is(l, c, "content-length"))
            return content_length(p, v, vn);
        if (name_is(l, c, "mcp-session-id")) {
            if (vn > H1_SESSION_ID_MAX)
                return fail(p, "Mcp-Session-Id longer than %d bytes", H1_SESSION_ID_MAX);
            for (size_t i = 0; i < vn; i++) {
                if (v[i] < 0x21 || v[i] > 0x7e)
                    return fail(p, "Mcp-Session-Id holds a character that is not visible ASCII");
            }
            memcpy(p->head.session_id, v, vn);
            p->head.session_id[vn] = '\0';
            p->head.has_session_id = true;
        }
        break;
    case 17:
        if (name_is(l, c, "transfer-encoding")) {
            p->has_te = true;
            each_token(v, vn, te_token, p);
        }
        break;
    default:
        break;
    }
    return LS_OK;
}

static void clear_head(struct h1_parser *p)
{
    /* Member by member: the strings need only their first byte cleared. */
    p->head.status = 0;
    p->head.version_minor = 0;
    p->head.framing = H1_BODY_NONE;
    p->head.content_length = 0;
    p->head.keep_alive = false;
    p->head.content_type[0] = '\0';
    p->head.session_id[0] = '\0';
    p->head.has_session_id = false;
    p->head_bytes = 0;
    p->fields = 0;
    p->has_length = p->has_te = p->te_chunked = p->conn_close = p->conn_keep_alive = false;
}

/* The blank line after the fields: decides what follows. */
static ls_err end_of_head(struct h1_parser *p)
{
    struct h1_head *h = &p->head;
    if (h->status < 200) {
        if (h->status == 101)
            return fail(p, "server switched protocols (101), which loadscope never asks for");
        if (++p->interim > H1_INTERIM_MAX)
            return fail(p, "more than %d interim (1xx) responses", H1_INTERIM_MAX);
        clear_head(p);
        p->state = H1_ST_STATUS;
        return LS_OK;
    }
    h->keep_alive = h->version_minor >= 1 ? !p->conn_close : p->conn_keep_alive && !p->conn_close;
    if (h->status == 204 || h->status == 304) {
        h->framing = H1_BODY_NONE;
        p->state = H1_ST_DONE;
        return LS_OK;
    }
    if (p->has_te) {
        /* Transfer-Encoding overrides Content-Length; such a reply ends the connection's use. */
        if (p->has_length)
            h->keep_alive = false;
        h->content_length = 0;
        if (p->te_chunked) {
            h->framing = H1_BODY_CHUNKED;
            p->state = H1_ST_CHUNK_SIZE;
        } else {
            h->framing = H1_BODY_CLOSE;
            h->keep_alive = false;
            p->state = H1_ST_CLOSE;
        }
        return LS_OK;
    }
    if (p->has_length) {
        h->framing = H1_BODY_LENGTH;
        p->remaining = h->content_length;
        p->state = p->remaining ? H1_ST_LENGTH : H1_ST_DONE;
        return LS_OK;
    }
    h->framing = H1_BODY_CLOSE;
    h->keep_alive = false;
    p->state = H1_ST_CLOSE;
    return LS_OK;
}

static ls_err chunk_size_line(struct h1_parser *p, const char *l, size_t n)
{
    char q[48];
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
            return fail(p, "chunk size too large");
        x = x * 16 + d;
        i++;
    }
    if (i == 0)
        return fail(p, "bad chunk size line: \"%s\"", quote(l, n, q));
    while (i < n && is_ows(l[i]))
        i++;
    if (i < n && l[i] != ';')
        return fail(p, "bad chunk size line: \"%s\"", quote(l, n, q));
    /* Extensions (";name=value", quoted strings allowed) are skipped, not interpreted. */
    for (; i < n; i++) {
        if (is_bad_ctl((unsigned char)l[i]))
            return fail(p, "control character in a chunk extension");
    }
    if (x == 0) {
        p->fields = 0;
        p->head_bytes = 0;
        p->state = H1_ST_TRAILERS;
    } else {
        p->remaining = x;
        p->state = H1_ST_CHUNK_DATA;
    }
    return LS_OK;
}

/* A complete line (line end stripped); total is its length with the line end. */
static ls_err on_line(struct h1_parser *p, const char *l, size_t n, size_t total)
{
    switch (p->state) {
    case H1_ST_STATUS:
    case H1_ST_FIELDS:
    case H1_ST_TRAILERS:
        p->head_bytes += (uint32_t)total;
        if (p->head_bytes > H1_HEAD_MAX)
            return fail(p, "response %s larger than %d bytes",
                        p->state == H1_ST_TRAILERS ? "trailers" : "head", H1_HEAD_MAX);
        if (p->state == H1_ST_STATUS) {
            ls_err rc = status_line(p, l, n);
            if (rc == LS_OK)
                p->state = H1_ST_FIELDS;
            return rc;
        }
        if (n == 0) {
            if (p->state == H1_ST_TRAILERS) {
                p->state = H1_ST_DONE;
                return LS_OK;
            }
            return end_of_head(p);
        }
        return field_line(p, l, n, p->state == H1_ST_TRAILERS);
    case H1_ST_CHUNK_SIZE:
        return chunk_size_line(p, l, n);
    case H1_ST_CHUNK_END:
        if (n != 0)
            return fail(p, "chunk data longer than its size");
        p->state = H1_ST_CHUNK_SIZE;
        return LS_OK;
    default:
        return fail(p, "internal: line in state %d", (int)p->state);
    }
}

static bool line_state(enum h1_state s)
{
    return s == H1_ST_STATUS || s == H1_ST_FIELDS || s == H1_ST_CHUNK_SIZE ||
           s == H1_ST_CHUNK_END || s == H1_ST_TRAILERS;
}

/* Reads one line from buf at *pos: LS_OK with the line handled, or all of buf kept for later. */
static ls_err take_line(struct h1_parser *p, const char *buf, size_t len, size_t *pos)
{
    const char *s = buf + *pos;
    size_t avail = len - *pos;
    const char *nl = memchr(s, '\n', avail);
    if (!nl) {
        if (p->line_len + avail > H1_LINE_MAX + 1)
            return fail(p, "line longer than %d bytes", H1_LINE_MAX);
        memcpy(p->line + p->line_len, s, avail);
        p->line_len += avail;
        *pos = len;
        return LS_OK;
    }
    size_t part = (size_t)(nl - s);
    size_t total = p->line_len + part + 1;
    *pos += part + 1;
    const char *l;
    size_t n;
    if (p->line_len) {
        if (p->line_len + part > H1_LINE_MAX + 1)
            return fail(p, "line longer than %d bytes", H1_LINE_MAX);
        memcpy(p->line + p->line_len, s, part);
        l = p->line;
        n = p->line_len + part;
        p->line_len = 0;
    } else {
        l = s;
        n = part;
    }
    if (n && l[n - 1] == '\r')
        n--;
    if (n > H1_LINE_MAX)
        return fail(p, "line longer than %d bytes", H1_LINE_MAX);
    for (size_t i = 0; i < n; i++) {
        if (l[i] == '\r' || l[i] == '\0')
            return fail(p, "stray CR or NUL inside a line");
    }
    return on_line(p, l, n, total);
}

/* ------------------------------------------------------------- public */

ls_err h1_parser_open(h1_body_fn fn, void *ctx, struct h1_parser **out)
{
    struct h1_parser *p = calloc(1, sizeof(*p));
    *out = NULL;
    if (!p)
        return LS_ERR_NOMEM;
    p->fn = fn;
    p->ctx = ctx;
    h1_parser_reset(p);
    *out = p;
    return LS_OK;
}

void h1_parser_close(struct h1_parser *p)
{
    free(p);
}

void h1_parser_reset(struct h1_parser *p)
{
    clear_head(p);
    p->state = H1_ST_STATUS;
    p->interim = 0;
    p->remaining = 0;
    p->seen = 0;
    p->body = 0;
    p->line_len = 0;
    p->err[0] = '\0';
}

static ls_err deliver(struct h1_parser *p, const char *s, size_t n)
{
    p->body += n;
    if (p->fn && p->fn(p->ctx, s, n) != 0) {
        p->state = H1_ST_ERROR;
        snprintf(p->err, sizeof(p->err), "the body consumer stopped");
        return LS_ERR_INVALID;
    }
    return LS_OK;
}

ls_err h1_feed(struct h1_parser *p, const char *buf, size_t len, size_t *used)
{
    size_t pos = 0;
    ls_err rc = LS_OK;
    if (p->state == H1_ST_ERROR) {
        *used = 0;
        return LS_ERR_PARSE;
    }
    while (pos < len && rc == LS_OK && p->state != H1_ST_DONE) {
        if (line_state(p->state)) {
            rc = take_line(p, buf, len, &pos);
            continue;
        }
        size_t avail = len - pos;
        size_t n = avail;
        switch (p->state) {
        case H1_ST_LENGTH:
        case H1_ST_CHUNK_DATA:
            if (n > p->remaining)
                n = (size_t)p->remaining;
            p->remaining -= n;
            rc = deliver(p, buf + pos, n);
            pos += n;
            if (rc == LS_OK && p->remaining == 0)
                p->state = p->state == H1_ST_LENGTH ? H1_ST_DONE : H1_ST_CHUNK_END;
            break;
        case H1_ST_CLOSE:
            rc = deliver(p, buf + pos, n);
            pos += n;
            break;
        default:
            rc = fail(p, "internal: feed in state %d", (int)p->state);
            break;
        }
    }
    p->seen += pos;
    *used = pos;
    return rc;
}

ls_err h1_eof(struct h1_parser *p)
{
    switch (p->state) {
    case H1_ST_DONE:
        return LS_OK;
    case H1_ST_CLOSE:
        p->state = H1_ST_DONE;
        return LS_OK;
    case H1_ST_ERROR:
        return LS_ERR_PARSE;
    case H1_ST_STATUS:
    case H1_ST_FIELDS:
        if (p->seen == 0)
            return fail(p, "connection closed before any response byte");
        return fail(p, "connection closed inside the response head");
    case H1_ST_LENGTH:
        return fail(p, "connection closed after %llu of %llu body bytes",
                    (unsigned long long)p->body, (unsigned long long)p->head.content_length);
    default:
        return fail(p, "connection closed inside the chunked body after %llu bytes",
                    (unsigned long long)p->body);
    }
}

bool h1_complete(const struct h1_parser *p)
{
    return p->state == H1_ST_DONE;
}

bool h1_head_done(const struct h1_parser *p)
{
    return p->state != H1_ST_STATUS && p->state != H1_ST_FIELDS && p->state != H1_ST_ERROR &&
           p->head.status >= 200;
}

uint64_t h1_bytes_seen(const struct h1_parser *p)
{
    return p->seen;
}

uint64_t h1_body_bytes(const struct h1_parser *p)
{
    return p->body;
}

const struct h1_head *h1_head(const struct h1_parser *p)
{
    return &p->head;
}

const char *h1_error(const struct h1_parser *p)
{
    return p->err;
}

/* ----------------------------------------------------------- requests */

ls_err h1_parse_url(const char *url, struct h1_url *out, char *err, size_t errcap)
{
    struct ls_url u;
    memset(out, 0, sizeof(*out));
    if (strncasecmp(url, "http://", 7) != 0) {
        snprintf(err, errcap, "%s: the native HTTP client speaks plain http:// only", url);
        return LS_ERR_INVALID;
    }
    for (const char *c = url; *c; c++) {
        if ((unsigned char)*c <= 0x20 || *c == 0x7f) {
            snprintf(err, errcap, "%s: space or control character in the URL", url);
            return LS_ERR_INVALID;
        }
    }
    ls_err rc = url_parse(url, 0, &u, err, errcap);
    if (rc != LS_OK)
        return rc;
    if (u.has_userinfo) {
        snprintf(err, errcap, "%s: user information in the URL is not supported", url);
        rc = LS_ERR_INVALID;
    } else if (strlen(u.host) >= sizeof(out->host) ||
               strlen(u.authority) >= sizeof(out->authority)) {
        snprintf(err, errcap, "%s: too long a host", url);
        rc = LS_ERR_INVALID;
    } else if (strlen(u.path) + (u.query ? strlen(u.query) + 1 : 0) + 2 > sizeof(out->target)) {
        snprintf(err, errcap, "%s: path longer than %zu bytes", url, sizeof(out->target) - 2);
        rc = LS_ERR_INVALID;
    } else {
        snprintf(out->host, sizeof(out->host), "%s", u.host);
        snprintf(out->port, sizeof(out->port), "%u", u.port);
        snprintf(out->authority, sizeof(out->authority), "%s", u.authority);
        snprintf(out->target, sizeof(out->target), "%s%s%s", u.path, u.query ? "?" : "",
                 u.query ? u.query : "");
    }
    url_free(&u);
    return rc;
}

static bool put(char **w, char *end, const char *s, size_t n)
{
    if ((size_t)(end - *w) < n)
        return false;
    memcpy(*w, s, n);
    *w += n;
    return true;
}

#define PUT_LIT(w, end, lit) put((w), (end), (lit), sizeof(lit) - 1)

long h1_format_head(char *buf, size_t cap, const char *method, const struct h1_url *url,
                    const char *const *fields, size_t nfields)
{
    char *w = buf, *end = buf + cap;
    if (!put(&w, end, method, strlen(method)) || !PUT_LIT(&w, end, " ") ||
        !put(&w, end, url->target, strlen(url->target)) ||
        !PUT_LIT(&w, end, " HTTP/1.1\r\nHost: ") ||
        !put(&w, end, url->authority, strlen(url->authority)) || !PUT_LIT(&w, end, "\r\n"))
        return -1;
    for (size_t i = 0; i < nfields; i++) {
        size_t n = strlen(fields[i]);
        if (strpbrk(fields[i], "\r\n") != NULL)
            return -1;
        if (!put(&w, end, fields[i], n) || !PUT_LIT(&w, end, "\r\n"))
            return -1;
    }
    return (long)(w - buf);
}

size_t h1_format_length(char *buf, uint64_t n)
{
    static const char pre[] = "Content-Length: ";
    char digits[24];
    size_t d = 0;
    do {
        digits[d++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    size_t k = sizeof(pre) - 1;
    memcpy(buf, pre, k);
    while (d)
        buf[k++] = digits[--d];
    memcpy(buf + k, "\r\n\r\n", 4);
    return k + 4;
}
