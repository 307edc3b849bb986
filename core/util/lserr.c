/*
 * lserr: names of the project's error codes.
 */
#include "util/lserr.h"

const char *ls_strerror(ls_err e)
{
    switch (e) {
    case LS_OK: return "success";
    case LS_ERR_NOMEM: return "out of memory";
    case LS_ERR_INVALID: return "invalid input";
    case LS_ERR_IO: return "input/output error";
    case LS_ERR_PARSE: return "parse error";
    case LS_ERR_RANGE: return "value out of range";
    case LS_ERR_FULL: return "queue or table full";
    case LS_ERR_NOTFOUND: return "not found";
    case LS_ERR_SPAWN: return "could not start process";
    case LS_ERR_TIMEOUT: return "timed out";
    case LS_ERR_DB: return "database error";
    case LS_ERR_CURL: return "libcurl error";
    case LS_ERR_INTERNAL: return "internal error";
    case LS_ERR_INTERRUPTED: return "interrupted";
    case LS_ERR__COUNT: break;
    }
    return "unknown error";
}
