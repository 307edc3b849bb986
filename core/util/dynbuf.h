/*
 * dynbuf: the one growable byte buffer of loadscope, after curl's dynbuf.
 *
 * A buffer is a small value (struct dynbuf) with a maximum size fixed at
 * dyn_init(): an add that would make it reach that size fails cleanly
 * (LS_ERR_RANGE) instead of growing without bound, as a failed allocation
 * does (LS_ERR_NOMEM). The content is always NUL-terminated, so it can be
 * handed to string functions as is; it may also hold NUL bytes of its own.
 *
 * Failure is sticky: the first failed add frees the memory and every later
 * add returns the same error and changes nothing, so code that builds a
 * string piece by piece may check once, at the end (dyn_error()). dyn_reset()
 * empties the buffer and forgets a failure; dyn_free() releases it.
 *
 * Ownership: the buffer owns its memory until dyn_take() hands it over; the
 * pointer dyn_ptr() returns is borrowed and is invalidated by the next add.
 */
#ifndef LS_DYNBUF_H
#define LS_DYNBUF_H

#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include "util/lserr.h"

struct dynbuf {
    char *bufr;     /* NULL until the first add (and after a failure) */
    size_t leng;    /* bytes in use, the terminating NUL excluded */
    size_t allc;    /* bytes allocated */
    size_t toobig;  /* most bytes the buffer may hold, its terminating NUL included */
    ls_err err;     /* the first failure; LS_OK while there is none */
};

/* Prepares an empty buffer for at most toobig - 1 bytes of content (toobig >= 1). */
void dyn_init(struct dynbuf *s, size_t toobig);

/* Releases the memory and leaves the buffer empty, ready for reuse; NULL-safe. */
void dyn_free(struct dynbuf *s);

/* Empties the buffer, keeping its memory, and forgets a failure. */
void dyn_reset(struct dynbuf *s);

/* Appends len bytes of mem. LS_ERR_RANGE past the maximum, LS_ERR_NOMEM when memory runs out. */
LS_MUST_CHECK ls_err dyn_addn(struct dynbuf *s, const void *mem, size_t len);

/* Appends a NUL-terminated string. */
LS_MUST_CHECK ls_err dyn_add(struct dynbuf *s, const char *str);

/* Appends printf-formatted text. */
LS_MUST_CHECK ls_err dyn_addf(struct dynbuf *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
LS_MUST_CHECK ls_err dyn_vaddf(struct dynbuf *s, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/*
 * Appends everything f has left to read, in chunks. LS_ERR_IO (errno kept)
 * on a read error, LS_ERR_RANGE when it would pass the maximum.
 */
LS_MUST_CHECK ls_err dyn_read(struct dynbuf *s, FILE *f);

/* Cuts the content to its first len bytes (len <= dyn_len()). */
void dyn_setlen(struct dynbuf *s, size_t len);

/* The content, NUL-terminated and borrowed; NULL while nothing was added (or after a failure). */
char *dyn_ptr(const struct dynbuf *s);

/* Bytes of content, the terminator excluded. */
size_t dyn_len(const struct dynbuf *s);

/* LS_OK, or the first failure since dyn_init() / dyn_reset(). */
ls_err dyn_error(const struct dynbuf *s);

/*
 * Hands the content over: the caller owns the returned string (free()) and
 * the buffer is left empty. An empty buffer gives "" (allocated); a failed
 * one gives NULL.
 */
char *dyn_take(struct dynbuf *s, size_t *len);

#endif
