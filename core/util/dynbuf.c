/*
 * dynbuf: a growable, NUL-terminated byte buffer with a maximum size (see
 * dynbuf.h). Growth doubles the allocation, starting at 64 bytes, and never
 * allocates past the maximum; the C library only.
 */
#include "util/dynbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DYN_MIN_ALLOC 64

void dyn_init(struct dynbuf *s, size_t toobig)
{
    s->bufr = NULL;
    s->leng = 0;
    s->allc = 0;
    s->toobig = toobig;
    s->err = LS_OK;
}

void dyn_free(struct dynbuf *s)
{
    if (!s)
        return;
    free(s->bufr);
    s->bufr = NULL;
    s->leng = 0;
    s->allc = 0;
    s->err = LS_OK;
}

void dyn_reset(struct dynbuf *s)
{
    s->leng = 0;
    if (s->bufr)
        s->bufr[0] = '\0';
    s->err = LS_OK;
}

/* Records the first failure and frees the memory. */
static ls_err fail(struct dynbuf *s, ls_err e)
{
    free(s->bufr);
    s->bufr = NULL;
    s->leng = 0;
    s->allc = 0;
    s->err = e;
    return e;
}

ls_err dyn_addn(struct dynbuf *s, const void *mem, size_t len)
{
    if (s->err != LS_OK)
        return s->err;
    /* leng + 1 <= toobig holds, so this cannot overflow */
    if (s->toobig == 0 || len > s->toobig - 1 - s->leng)
        return fail(s, LS_ERR_RANGE);
    size_t need = s->leng + len + 1;
    if (need > s->allc) {
        size_t a = s->allc ? s->allc : DYN_MIN_ALLOC;
        while (a < need)
            a = a > s->toobig / 2 ? s->toobig : a * 2;
        if (a > s->toobig)
            a = s->toobig;
        char *p = realloc(s->bufr, a);
        if (!p)
            return fail(s, LS_ERR_NOMEM);
        s->bufr = p;
        s->allc = a;
    }
    if (len)
        memcpy(s->bufr + s->leng, mem, len);
    s->leng += len;
    s->bufr[s->leng] = '\0';
    return LS_OK;
}

ls_err dyn_add(struct dynbuf *s, const char *str)
{
    return dyn_addn(s, str, strlen(str));
}

ls_err dyn_vaddf(struct dynbuf *s, const char *fmt, va_list ap)
{
    char small[256];
    va_list ap2;
    if (s->err != LS_OK)
        return s->err;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return fail(s, LS_ERR_INVALID);
    if ((size_t)n < sizeof small)
        return dyn_addn(s, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return fail(s, LS_ERR_NOMEM);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    ls_err rc = dyn_addn(s, big, (size_t)n);
    free(big);
    return rc;
}

ls_err dyn_addf(struct dynbuf *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ls_err rc = dyn_vaddf(s, fmt, ap);
    va_end(ap);
    return rc;
}

ls_err dyn_read(struct dynbuf *s, FILE *f)
{
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        ls_err rc = dyn_addn(s, chunk, got);
        if (rc != LS_OK)
            return rc;
    }
    return ferror(f) ? LS_ERR_IO : s->err;
}

void dyn_setlen(struct dynbuf *s, size_t len)
{
    if (!s->bufr || len >= s->leng)
        return;
    s->leng = len;
    s->bufr[len] = '\0';
}

char *dyn_ptr(const struct dynbuf *s)
{
    return s->bufr;
}

size_t dyn_len(const struct dynbuf *s)
{
    return s->leng;
}

ls_err dyn_error(const struct dynbuf *s)
{
    return s->err;
}

char *dyn_take(struct dynbuf *s, size_t *len)
{
    char *p = NULL;
    if (s->err != LS_OK) {
        dyn_free(s);
        if (len)
            *len = 0;
        return NULL;
    }
    if (s->bufr) {
        p = s->bufr;
    } else {
        p = malloc(1);
        if (p)
            p[0] = '\0';
    }
    if (len)
        *len = p ? s->leng : 0;
    s->bufr = NULL;
    s->leng = 0;
    s->allc = 0;
    return p;
}
