/*
 * lserr: the one error type of loadscope.
 *
 * Every fallible function returns an ls_err; 0 is success and ls_strerror()
 * names every code. Detailed, human-readable messages (file, line, JSON path,
 * what was expected) are written to a caller's buffer or kept on the handle;
 * the code says only which kind of failure it was.
 */
#ifndef LS_LSERR_H
#define LS_LSERR_H

#define LS_MUST_CHECK __attribute__((warn_unused_result))

typedef enum ls_err {
    LS_OK = 0,
    LS_ERR_NOMEM,    /* an allocation failed */
    LS_ERR_INVALID,  /* bad argument or bad input data (message says where) */
    LS_ERR_IO,       /* read/write/open failed (errno kept in the message) */
    LS_ERR_PARSE,    /* malformed JSON / SSE / encoding */
    LS_ERR_RANGE,    /* value outside what the structure can hold */
    LS_ERR_FULL,     /* a bounded queue or table is full */
    LS_ERR_NOTFOUND, /* no such session, step, id */
    LS_ERR_SPAWN,    /* a target process could not be started */
    LS_ERR_TIMEOUT,  /* waited too long (target readiness, shutdown) */
    LS_ERR_DB,       /* the storage layer failed (message has SQLite's text) */
    LS_ERR_CURL,     /* libcurl set-up failed */
    LS_ERR_INTERNAL, /* a broken invariant: a bug in loadscope */
    LS_ERR_INTERRUPTED, /* stopped on request (a signal) before it was done */
    LS_ERR__COUNT
} ls_err;

/* Short, static, lower-case description of a code; never NULL. */
const char *ls_strerror(ls_err e);

#endif
