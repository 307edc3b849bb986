/*
 * export_json: the json and jsonl format rows (docs/export.schema.json).
 *
 * json is one document: {"format": "loadscope-export", "version": 1,
 * "what", "session": {...}, "columns": [...], "rows": [{...}, ...]}, a row
 * per line. jsonl (JSON Lines) is the rows alone, one object per line, for
 * tools that read a line at a time. A row's keys are the CSV columns, in
 * the same order; its values keep their types (numbers, booleans, null for
 * an empty cell, a stack as an array of frames), and text is not
 * neutralized: that guards spreadsheets, which do not open JSON.
 *
 * Written by hand rather than built with cJSON, as the style guide asks us
 * to say why: cJSON holds a tree (a samples export is millions of rows, and
 * must stream in constant memory), allocates for every value, and keeps
 * numbers as doubles, which cannot hold the 64-bit stack keys and
 * nanosecond times exactly. This writer keeps a buffer and nothing else.
 * Output is valid UTF-8 (an invalid byte becomes U+FFFD, as in the CSV) and
 * numbers use '.' in any locale (core/util/csv.h's formatters).
 */
#include "export_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "util/csv.h"

#define JSON_BUF_BYTES 8192
#define JSON_NUM_CAP 48

/* The document's format name and version: bumped when a key changes meaning or goes. */
#define EXPORT_JSON_FORMAT "loadscope-export"
#define EXPORT_JSON_VERSION 1

struct export_writer {
    FILE *f;        /* borrowed */
    bool lines;     /* jsonl: rows only, one per line */
    ls_err err;     /* first error; sticky */
    int errnum;     /* errno of the first failed write */
    unsigned cells; /* cells in the current row */
    uint64_t rows;  /* rows ended */
    size_t len;     /* bytes in buf */
    char buf[JSON_BUF_BYTES];
};

static void flush_buf(struct export_writer *w)
{
    if (w->len == 0)
        return;
    if (w->err == LS_OK && fwrite(w->buf, 1, w->len, w->f) != w->len) {
        w->err = LS_ERR_IO;
        w->errnum = errno != 0 ? errno : EIO;
    }
    w->len = 0;
}

static void put(struct export_writer *w, const char *p, size_t n)
{
    if (w->err != LS_OK)
        return;
    while (n > 0) {
        size_t room = JSON_BUF_BYTES - w->len;
        size_t k = n < room ? n : room;

        memcpy(w->buf + w->len, p, k);
        w->len += k;
        p += k;
        n -= k;
        if (w->len == JSON_BUF_BYTES)
            flush_buf(w);
    }
}

static void puts_(struct export_writer *w, const char *s)
{
    put(w, s, strlen(s));
}

/* A JSON string of len bytes: quotes, escapes, U+FFFD for bytes that are not UTF-8. */
static void put_string_n(struct export_writer *w, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;

    put(w, "\"", 1);
    for (size_t i = 0; i < len;) {
        size_t run = 0;

        /* a run of bytes that go out as they are */
        while (i + run < len && p[i + run] >= 0x20 && p[i + run] != '"' && p[i + run] != '\\') {
            size_t k = csv_utf8_len(p + i + run, len - i - run);

            if (k == 0)
                break;
            run += k;
        }
        put(w, s + i, run);
        i += run;
        if (i >= len)
            break;
        switch (p[i]) {
        case '"': put(w, "\\\"", 2); break;
        case '\\': put(w, "\\\\", 2); break;
        case '\n': put(w, "\\n", 2); break;
        case '\r': put(w, "\\r", 2); break;
        case '\t': put(w, "\\t", 2); break;
        case '\b': put(w, "\\b", 2); break;
        case '\f': put(w, "\\f", 2); break;
        default:
            if (p[i] < 0x20) {
                char esc[8];

                snprintf(esc, sizeof(esc), "\\u%04x", p[i]);
                put(w, esc, 6);
            } else {
                put(w, "\xEF\xBF\xBD", 3); /* U+FFFD for a byte that is not UTF-8 */
            }
        }
        i++;
    }
    put(w, "\"", 1);
}

static void put_string(struct export_writer *w, const char *s)
{
    put_string_n(w, s, strlen(s));
}

/* Lines as an array of strings; "" is an empty array. */
static void put_lines(struct export_writer *w, const char *s)
{
    const char *p = s;

    put(w, "[", 1);
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t n = nl != NULL ? (size_t)(nl - p) : strlen(p);

        if (p != s)
            put(w, ",", 1);
        put_string_n(w, p, n);
        p += n;
        if (*p == '\n')
            p++;
    }
    put(w, "]", 1);
}

static void put_i64(struct export_writer *w, int64_t v)
{
    char tmp[JSON_NUM_CAP];
    int n = snprintf(tmp, sizeof(tmp), "%" PRId64, v);

    put(w, tmp, (size_t)n);
}

static void put_u64(struct export_writer *w, uint64_t v)
{
    char tmp[JSON_NUM_CAP];
    int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);

    put(w, tmp, (size_t)n);
}

static void put_value(struct export_writer *w, const struct export_val *v)
{
    char tmp[JSON_NUM_CAP];
    size_t n;

    switch (v->kind) {
    case EXV_NULL: puts_(w, "null"); break;
    case EXV_TEXT: put_string(w, v->v.s); break;
    case EXV_LINES: put_lines(w, v->v.s); break;
    case EXV_I64: put_i64(w, v->v.i); break;
    case EXV_U64: put_u64(w, v->v.u); break;
    case EXV_FIXED:
        n = csv_fmt_fixed(tmp, sizeof(tmp), v->v.i, v->decimals);
        put(w, n > 0 ? tmp : "null", n > 0 ? n : 4);
        break;
    case EXV_F64:
        n = csv_fmt_f64(tmp, sizeof(tmp), v->v.d);
        put(w, n > 0 ? tmp : "null", n > 0 ? n : 4); /* NaN, infinity: null */
        break;
    case EXV_BOOL: puts_(w, v->v.b ? "true" : "false"); break;
    }
}

/* "key": */
static void put_key(struct export_writer *w, const char *key, bool first)
{
    if (!first)
        put(w, ",", 1);
    put_string(w, key);
    put(w, ":", 1);
}

/* The stored session the document is about. */
static void put_session(struct export_writer *w, const struct store_session *s)
{
    put(w, "{", 1);
    put_key(w, "id", true);
    put_i64(w, s->id);
    put_key(w, "name", false);
    put_string(w, s->name != NULL ? s->name : "");
    put_key(w, "scenario_path", false);
    put_string(w, s->scenario_path != NULL ? s->scenario_path : "");
    put_key(w, "target", false);
    put_string(w, s->target != NULL ? s->target : "");
    put_key(w, "host", false);
    put_string(w, s->host != NULL ? s->host : "");
    put_key(w, "loadscope_version", false);
    put_string(w, s->version != NULL ? s->version : "");
    put_key(w, "started_unix_ns", false);
    put_i64(w, s->started_unix_ns);
    put_key(w, "ended_unix_ns", false);
    if (s->ended_unix_ns != 0)
        put_i64(w, s->ended_unix_ns);
    else
        puts_(w, "null"); /* still running, or killed */
    put_key(w, "exit_code", false);
    if (s->exit_code >= 0)
        put_i64(w, s->exit_code);
    else
        puts_(w, "null");
    put_key(w, "status", false);
    if (s->status_text != NULL && s->status_text[0] != '\0')
        put_string(w, s->status_text);
    else
        puts_(w, "null");
    put(w, "}", 1);
}

static ls_err json_open_as(FILE *f, const struct export_doc *d, bool lines,
                           struct export_writer **out)
{
    struct export_writer *w = calloc(1, sizeof(*w));

    *out = NULL;
    if (w == NULL)
        return LS_ERR_NOMEM;
    w->f = f;
    w->lines = lines;
    *out = w;
    if (lines)
        return LS_OK; /* rows only */
    put(w, "{", 1);
    put_key(w, "format", true);
    put_string(w, EXPORT_JSON_FORMAT);
    put_key(w, "version", false);
    put_i64(w, EXPORT_JSON_VERSION);
    put_key(w, "what", false);
    put_string(w, d->what);
    put_key(w, "session", false);
    put_session(w, d->session);
    put_key(w, "columns", false);
    put(w, "[", 1);
    for (size_t i = 0; i < d->ncols; i++) {
        if (i > 0)
            put(w, ",", 1);
        put_string(w, d->cols[i]);
    }
    put(w, "]", 1);
    put_key(w, "rows", false);
    put(w, "[", 1);
    return w->err;
}

static ls_err json_open(FILE *f, const struct export_doc *d, struct export_writer **out)
{
    return json_open_as(f, d, false, out);
}

static ls_err jsonl_open(FILE *f, const struct export_doc *d, struct export_writer **out)
{
    return json_open_as(f, d, true, out);
}

static void json_cell(struct export_writer *w, const char *col, const struct export_val *v)
{
    if (w->cells == 0) {
        if (!w->lines)
            put(w, w->rows > 0 ? ",\n" : "\n", w->rows > 0 ? 2 : 1);
        put(w, "{", 1);
    }
    put_key(w, col, w->cells == 0);
    put_value(w, v);
    w->cells++;
}

static ls_err json_end_row(struct export_writer *w)
{
    if (w->cells == 0) /* a row without columns */
        json_cell(w, "", &(struct export_val){.kind = EXV_NULL});
    put(w, w->lines ? "}\n" : "}", w->lines ? 2 : 1);
    w->cells = 0;
    w->rows++;
    return w->err;
}

static ls_err json_finish(struct export_writer *w)
{
    if (!w->lines)
        puts_(w, w->rows > 0 ? "\n]}\n" : "]}\n");
    flush_buf(w);
    if (w->err == LS_OK && fflush(w->f) != 0) {
        w->err = LS_ERR_IO;
        w->errnum = errno != 0 ? errno : EIO;
    }
    return w->err;
}

static int json_errno(const struct export_writer *w)
{
    return w->errnum;
}

static void json_free(struct export_writer *w)
{
    free(w);
}

const struct export_format export_format_json = {
    .name = "json",
    .doc = "one JSON document: the session, the columns and the rows",
    .open = json_open,
    .cell = json_cell,
    .end_row = json_end_row,
    .finish = json_finish,
    .write_errno = json_errno,
    .free = json_free,
};

const struct export_format export_format_jsonl = {
    .name = "jsonl",
    .doc = "JSON Lines: one object per row, streamed",
    .open = jsonl_open,
    .cell = json_cell,
    .end_row = json_end_row,
    .finish = json_finish,
    .write_errno = json_errno,
    .free = json_free,
};
