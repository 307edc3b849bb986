/*
 * csv: the RFC 4180 writer (contract in csv.h).
 *
 * Bytes gather in a fixed buffer on the writer and go to the FILE with
 * fwrite when it fills: one stdio call per few thousand bytes instead of
 * a locked putc per byte, and memory that does not depend on the export's
 * size. Integers are formatted by hand (no locale can touch digits); doubles
 * by snprintf under a C locale made current for this thread only while
 * formatting, which leaves the process's locale (and other threads) alone.
 */
#include "util/csv.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CSV_BUF_BYTES 8192
#define CSV_NUM_CAP 48 /* the longest number we format, with room to spare */

struct csv {
    FILE *f;           /* borrowed */
    locale_t c_locale; /* for snprintf/strtod of doubles */
    ls_err err;        /* first error; sticky */
    int errnum;        /* errno of the first failed write */
    unsigned cells;    /* cells in the current row */
    uint64_t rows;     /* rows ended */
    size_t len;        /* bytes in buf */
    char buf[CSV_BUF_BYTES];
};

ls_err csv_open(FILE *f, struct csv **out)
{
    struct csv *c;

    if (out == NULL)
        return LS_ERR_INVALID;
    *out = NULL;
    if (f == NULL)
        return LS_ERR_INVALID;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return LS_ERR_NOMEM;
    c->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (c->c_locale == (locale_t)0) {
        free(c);
        return LS_ERR_NOMEM;
    }
    c->f = f;
    *out = c;
    return LS_OK;
}

void csv_free(struct csv *c)
{
    if (c == NULL)
        return;
    freelocale(c->c_locale);
    free(c);
}

static void flush_buf(struct csv *c)
{
    if (c->len == 0)
        return;
    if (c->err == LS_OK && fwrite(c->buf, 1, c->len, c->f) != c->len) {
        c->err = LS_ERR_IO;
        c->errnum = errno != 0 ? errno : EIO;
    }
    c->len = 0;
}

static void put(struct csv *c, const char *p, size_t n)
{
    if (c->err != LS_OK)
        return;
    while (n > 0) {
        size_t room = CSV_BUF_BYTES - c->len;
        size_t k = n < room ? n : room;

        memcpy(c->buf + c->len, p, k);
        c->len += k;
        p += k;
        n -= k;
        if (c->len == CSV_BUF_BYTES)
            flush_buf(c);
    }
}

static void put_ch(struct csv *c, char ch)
{
    put(c, &ch, 1);
}

/* The separator before every cell but a row's first. */
static void begin_cell(struct csv *c)
{
    if (c->cells++ > 0)
        put_ch(c, ',');
}

bool csv_formula_lead(unsigned char b)
{
    return b == '=' || b == '+' || b == '-' || b == '@' || b == '\t' || b == '\r';
}

size_t csv_utf8_len(const unsigned char *p, size_t n)
{
    unsigned char b = p[0];
    size_t need;
    uint32_t cp;

    if (b < 0x80)
        return 1;
    if (b >= 0xC2 && b <= 0xDF) {
        need = 2;
        cp = b & 0x1Fu;
    } else if (b >= 0xE0 && b <= 0xEF) {
        need = 3;
        cp = b & 0x0Fu;
    } else if (b >= 0xF0 && b <= 0xF4) {
        need = 4;
        cp = b & 0x07u;
    } else {
        return 0;
    }
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xC0u) != 0x80u)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3Fu);
    }
    if ((need == 3 && cp < 0x800) || (need == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

void csv_text_n(struct csv *c, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    bool quote = false;

    if (c == NULL)
        return;
    begin_cell(c);
    if (s == NULL || len == 0)
        return;
    for (size_t i = 0; i < len && !quote; i++)
        quote = p[i] == ',' || p[i] == '"' || p[i] == '\r' || p[i] == '\n';
    if (quote)
        put_ch(c, '"');
    if (csv_formula_lead(p[0]))
        put_ch(c, '\'');
    for (size_t i = 0; i < len;) {
        size_t run = 0;

        /* a run of bytes that go out as they are */
        while (i + run < len && p[i + run] != '"') {
            size_t k = csv_utf8_len(p + i + run, len - i - run);

            if (k == 0)
                break;
            run += k;
        }
        put(c, s + i, run);
        i += run;
        if (i >= len)
            break;
        if (p[i] == '"') {
            put(c, "\"\"", 2);
        } else {
            put(c, "\xEF\xBF\xBD", 3); /* U+FFFD for a byte that is not UTF-8 */
        }
        i++;
    }
    if (quote)
        put_ch(c, '"');
}

void csv_text(struct csv *c, const char *s)
{
    csv_text_n(c, s, s != NULL ? strlen(s) : 0);
}

/* Digits of v, written backwards from end; returns the first character. */
static char *u64_digits(char *end, uint64_t v)
{
    char *p = end;

    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return p;
}

void csv_u64(struct csv *c, uint64_t v)
{
    char tmp[24];
    char *p;

    if (c == NULL)
        return;
    begin_cell(c);
    p = u64_digits(tmp + sizeof(tmp), v);
    put(c, p, (size_t)(tmp + sizeof(tmp) - p));
}

void csv_i64(struct csv *c, int64_t v)
{
    char tmp[24];
    char *p;

    if (c == NULL)
        return;
    begin_cell(c);
    /* the magnitude in unsigned arithmetic, so INT64_MIN is fine */
    p = u64_digits(tmp + sizeof(tmp), v < 0 ? 0 - (uint64_t)v : (uint64_t)v);
    if (v < 0)
        *--p = '-';
    put(c, p, (size_t)(tmp + sizeof(tmp) - p));
}

size_t csv_fmt_fixed(char *buf, size_t cap, int64_t v, unsigned decimals)
{
    char tmp[CSV_NUM_CAP];
    char *end = tmp + sizeof(tmp);
    char *p = end;
    uint64_t mag = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    uint64_t scale = 1;
    size_t n;

    if (buf == NULL || cap == 0)
        return 0;
    buf[0] = '\0';
    if (decimals > 19) /* 10^20 does not fit in 64 bits */
        return 0;
    for (unsigned i = 0; i < decimals; i++)
        scale *= 10;
    if (decimals > 0) {
        uint64_t frac = mag % scale;

        for (unsigned i = 0; i < decimals; i++) {
            *--p = (char)('0' + frac % 10);
            frac /= 10;
        }
        *--p = '.';
    }
    p = u64_digits(p, mag / scale);
    if (v < 0)
        *--p = '-';
    n = (size_t)(end - p);
    if (n >= cap)
        return 0;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return n;
}

void csv_fixed(struct csv *c, int64_t v, unsigned decimals)
{
    char tmp[CSV_NUM_CAP];
    size_t n;

    if (c == NULL)
        return;
    begin_cell(c);
    n = csv_fmt_fixed(tmp, sizeof(tmp), v, decimals);
    put(c, tmp, n);
}

/* The shortest of %.15g, %.16g, %.17g that reads back as v, under locale loc. */
static size_t fmt_f64_in(char *buf, size_t cap, double v, locale_t loc)
{
    locale_t old;
    int n = -1;

    if (buf == NULL || cap == 0)
        return 0;
    buf[0] = '\0';
    if (!isfinite(v))
        return 0;
    old = uselocale(loc);
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, cap, "%.*g", prec, v);
        if (n < 0 || (size_t)n >= cap) {
            n = -1;
            break;
        }
        if (strtod(buf, NULL) == v)
            break;
    }
    uselocale(old);
    if (n < 0) {
        buf[0] = '\0';
        return 0;
    }
    return (size_t)n;
}

size_t csv_fmt_f64(char *buf, size_t cap, double v)
{
    locale_t loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    size_t n;

    if (loc == (locale_t)0) {
        if (buf != NULL && cap > 0)
            buf[0] = '\0';
        return 0;
    }
    n = fmt_f64_in(buf, cap, v, loc);
    freelocale(loc);
    return n;
}

void csv_f64(struct csv *c, double v)
{
    char tmp[CSV_NUM_CAP];
    size_t n;

    if (c == NULL)
        return;
    begin_cell(c);
    n = fmt_f64_in(tmp, sizeof(tmp), v, c->c_locale);
    put(c, tmp, n);
}

void csv_empty(struct csv *c)
{
    if (c != NULL)
        begin_cell(c);
}

ls_err csv_end_row(struct csv *c)
{
    if (c == NULL)
        return LS_ERR_INVALID;
    put(c, "\r\n", 2);
    c->cells = 0;
    c->rows++;
    return c->err;
}

ls_err csv_header(struct csv *c, const char *const *names, size_t n)
{
    if (c == NULL || (names == NULL && n > 0))
        return LS_ERR_INVALID;
    for (size_t i = 0; i < n; i++)
        csv_text(c, names[i]);
    return csv_end_row(c);
}

ls_err csv_finish(struct csv *c)
{
    if (c == NULL)
        return LS_ERR_INVALID;
    flush_buf(c);
    if (c->err == LS_OK && fflush(c->f) != 0) {
        c->err = LS_ERR_IO;
        c->errnum = errno != 0 ? errno : EIO;
    }
    return c->err;
}

int csv_errno(const struct csv *c)
{
    return c != NULL ? c->errnum : 0;
}

uint64_t csv_rows(const struct csv *c)
{
    return c != NULL ? c->rows : 0;
}
