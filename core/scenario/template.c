/*
 * template: compile request text with ${seq}, ${worker} and ${rand:LO:HI}
 * once, render it many times on the hot path.
 *
 * Compiling splits the text into segments: literal runs (with `$${` already
 * turned into `${`) and placeholders. Rendering walks the segments and writes
 * digits straight into the caller's buffer, so it never allocates. The random
 * numbers come from a per-worker xoshiro256** generator (seeded through
 * splitmix64, as its authors recommend), and ranges are drawn by rejection so
 * that every value of [LO, HI] is equally likely, even for the full int64 span.
 */
#include "scenario/template.h"

#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum seg_kind { SEG_LIT = 1, SEG_SEQ, SEG_WORKER, SEG_RAND };

struct seg {
    enum seg_kind kind;
    size_t off; /* SEG_LIT: start in tmpl->lit */
    size_t len; /* SEG_LIT: byte count */
    int64_t lo; /* SEG_RAND bounds, inclusive */
    int64_t hi;
};

struct tmpl {
    char *lit; /* literal bytes of all SEG_LIT segments, escapes resolved */
    struct seg *segs;
    size_t nsegs;
    size_t max_len; /* longest possible rendering, without the NUL */
    int constant;   /* no placeholder at all */
};

/* ---- random numbers ------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void tmpl_rng_seed(struct tmpl_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t tmpl_rng_next(struct tmpl_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* Two's-complement reinterpretation without implementation-defined casts. */
static int64_t u64_to_i64(uint64_t x)
{
    if (x <= (uint64_t)INT64_MAX)
        return (int64_t)x;
    return -(int64_t)(UINT64_MAX - x) - 1;
}

int64_t tmpl_rng_range(struct tmpl_rng *r, int64_t lo, int64_t hi)
{
    if (hi <= lo)
        return lo;
    uint64_t span = (uint64_t)hi - (uint64_t)lo; /* hi - lo, exact modulo 2^64 */
    uint64_t x;
    if (span == UINT64_MAX) {
        x = tmpl_rng_next(r); /* every 64-bit value is in range */
    } else {
        uint64_t n = span + 1;
        /* 2^64 mod n: draws below it would make small residues more likely. */
        uint64_t min = (0 - n) % n;
        do {
            x = tmpl_rng_next(r);
        } while (x < min);
        x %= n;
    }
    return u64_to_i64((uint64_t)lo + x);
}

/* ---- compiling ----------------------------------------------------------- */

static void seterr(char *err, size_t errcap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errcap, const char *fmt, ...)
{
    if (err == NULL || errcap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errcap, fmt, ap);
    va_end(ap);
}

/* Decimal digits (and sign) needed to print v. */
static size_t i64_width(int64_t v)
{
    char tmp[24];
    return (size_t)snprintf(tmp, sizeof tmp, "%" PRId64, v);
}

/* Strict decimal int64: optional '-', digits only, no overflow. */
static int parse_i64(const char *p, size_t n, int64_t *out)
{
    int neg = 0;
    size_t i = 0;
    if (n > 0 && p[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == n)
        return 0;
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return 0;
        uint64_t d = (uint64_t)(p[i] - '0');
        if (v > (limit - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    *out = neg ? u64_to_i64(0 - v) : (int64_t)v;
    return 1;
}

/* Appends a segment; literal runs next to each other are merged. */
static ls_err push_seg(struct tmpl *t, size_t *cap, struct seg s)
{
    if (s.kind == SEG_LIT && t->nsegs > 0 && t->segs[t->nsegs - 1].kind == SEG_LIT) {
        t->segs[t->nsegs - 1].len += s.len;
        return LS_OK;
    }
    if (t->nsegs == *cap) {
        size_t ncap = *cap ? *cap * 2 : 8;
        struct seg *ns = realloc(t->segs, ncap * sizeof *ns);
        if (ns == NULL)
            return LS_ERR_NOMEM;
        t->segs = ns;
        *cap = ncap;
    }
    t->segs[t->nsegs++] = s;
    return LS_OK;
}

/* Longest placeholder text quoted back in messages. */
#define SHOW_MAX 40

ls_err tmpl_compile(const char *text, size_t len, struct tmpl **out, char *err, size_t errcap)
{
    ls_err rc = LS_OK;
    size_t segcap = 0;
    size_t litlen = 0;
    struct tmpl *t = calloc(1, sizeof *t);

    *out = NULL;
    seterr(err, errcap, "%s", "");
    if (t == NULL)
        return LS_ERR_NOMEM;
    t->lit = malloc(len + 1);
    if (t->lit == NULL) {
        rc = LS_ERR_NOMEM;
        goto out;
    }
    t->constant = 1;

    size_t i = 0;
    while (i < len) {
        if (text[i] == '$' && i + 2 < len && text[i + 1] == '$' && text[i + 2] == '{') {
            t->lit[litlen] = '$';
            t->lit[litlen + 1] = '{';
            rc = push_seg(t, &segcap, (struct seg){.kind = SEG_LIT, .off = litlen, .len = 2});
            if (rc != LS_OK)
                goto out;
            litlen += 2;
            i += 3;
            continue;
        }
        if (text[i] != '$' || i + 1 >= len || text[i + 1] != '{') {
            size_t j = i + 1;
            while (j < len && text[j] != '$')
                j++;
            memcpy(t->lit + litlen, text + i, j - i);
            rc = push_seg(t, &segcap, (struct seg){.kind = SEG_LIT, .off = litlen, .len = j - i});
            if (rc != LS_OK)
                goto out;
            litlen += j - i;
            i = j;
            continue;
        }
        /* A placeholder: ${NAME} */
        const char *name = text + i + 2;
        const char *close = memchr(name, '}', len - (i + 2));
        if (close == NULL) {
            seterr(err, errcap,
                   "unterminated ${ at offset %zu; expected ${seq}, ${worker} or "
                   "${rand:LO:HI}",
                   i);
            rc = LS_ERR_INVALID;
            goto out;
        }
        size_t nlen = (size_t)(close - name);
        int shown = nlen > SHOW_MAX ? SHOW_MAX : (int)nlen;
        const char *ell = nlen > SHOW_MAX ? "..." : "";
        struct seg s = {0};
        if (nlen == 3 && memcmp(name, "seq", 3) == 0) {
            s.kind = SEG_SEQ;
            t->max_len += 20; /* UINT64_MAX has 20 digits */
        } else if (nlen == 6 && memcmp(name, "worker", 6) == 0) {
            s.kind = SEG_WORKER;
            t->max_len += 20;
        } else if (nlen >= 5 && memcmp(name, "rand:", 5) == 0) {
            const char *a = name + 5;
            const char *end = close;
            const char *colon = memchr(a, ':', (size_t)(end - a));
            if (colon == NULL || !parse_i64(a, (size_t)(colon - a), &s.lo) ||
                !parse_i64(colon + 1, (size_t)(end - colon - 1), &s.hi)) {
                seterr(err, errcap,
                       "bad bounds in ${%.*s%s} at offset %zu; expected "
                       "${rand:LO:HI} with LO and HI integers between %" PRId64 " and %" PRId64,
                       shown, name, ell, i, INT64_MIN, INT64_MAX);
                rc = LS_ERR_INVALID;
                goto out;
            }
            if (s.lo > s.hi) {
                seterr(err, errcap, "reversed bounds in ${%.*s%s} at offset %zu; expected LO <= HI",
                       shown, name, ell, i);
                rc = LS_ERR_INVALID;
                goto out;
            }
            s.kind = SEG_RAND;
            size_t wl = i64_width(s.lo), wh = i64_width(s.hi);
            t->max_len += wl > wh ? wl : wh;
        } else {
            seterr(err, errcap,
                   "unknown placeholder ${%.*s%s} at offset %zu; expected ${seq}, "
                   "${worker} or ${rand:LO:HI}",
                   shown, name, ell, i);
            rc = LS_ERR_INVALID;
            goto out;
        }
        t->constant = 0;
        rc = push_seg(t, &segcap, s);
        if (rc != LS_OK)
            goto out;
        i = (size_t)(close - text) + 1;
    }
    t->lit[litlen] = '\0';
    t->max_len += litlen;
    *out = t;
    t = NULL;
out:
    if (rc == LS_ERR_NOMEM)
        seterr(err, errcap, "%s", "out of memory");
    tmpl_free(t);
    return rc;
}

void tmpl_free(struct tmpl *t)
{
    if (t == NULL)
        return;
    free(t->lit);
    free(t->segs);
    free(t);
}

int tmpl_is_constant(const struct tmpl *t)
{
    return t->constant;
}

size_t tmpl_max_len(const struct tmpl *t)
{
    return t->max_len;
}

/* ---- rendering ----------------------------------------------------------- */

/* Writes v in decimal at the end of tmp[24]; returns the first digit. */
static char *fmt_u64(uint64_t v, char *tmp_end)
{
    char *p = tmp_end;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return p;
}

long tmpl_render(const struct tmpl *t, const struct tmpl_vars *v, char *buf, size_t cap)
{
    size_t n = 0;
    char tmp[24];
    char *tend = tmp + sizeof tmp;

    if (cap == 0)
        return -1;
    for (size_t i = 0; i < t->nsegs; i++) {
        const struct seg *s = &t->segs[i];
        const char *src;
        size_t len;
        switch (s->kind) {
        case SEG_LIT:
            src = t->lit + s->off;
            len = s->len;
            break;
        case SEG_SEQ:
        case SEG_WORKER: {
            char *p = fmt_u64(s->kind == SEG_SEQ ? v->seq : v->worker, tend);
            src = p;
            len = (size_t)(tend - p);
            break;
        }
        case SEG_RAND: {
            int64_t x = v->rng != NULL ? tmpl_rng_range(v->rng, s->lo, s->hi) : s->lo;
            char *p;
            if (x < 0) {
                p = fmt_u64(0 - (uint64_t)x, tend);
                *--p = '-';
            } else {
                p = fmt_u64((uint64_t)x, tend);
            }
            src = p;
            len = (size_t)(tend - p);
            break;
        }
        default:
            return -1;
        }
        if (len >= cap - n) {
            buf[n] = '\0';
            return -1;
        }
        memcpy(buf + n, src, len);
        n += len;
    }
    buf[n] = '\0';
    return (long)n;
}
