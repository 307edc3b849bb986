/*
 * store_list: sessions listed with their headline figures, for
 * `loadscope sessions` (app/sessions.c) and, later, a picker that shows
 * more than names.
 *
 * Beside each session row (as store_list_sessions() gives it) come the
 * all-steps summary's figures when the run finished, and sums over its
 * measured all-steps intervals either way, so a run that was killed before
 * its summary was stored still shows its requests, errors and rate.
 */
#ifndef LS_STORE_LIST_H
#define LS_STORE_LIST_H

#include <stdbool.h>
#include <stdint.h>

#include "util/lserr.h"
#include "store.h"

struct store_session_stats {
    struct store_session_row row; /* strings valid during the call only */
    bool has_summary;             /* the all-steps summary row exists */
    uint64_t sum_count, sum_errors; /* its requests and errors (measured: warm-up excluded) */
    double sum_rate;              /* its completed requests per second */
    int64_t sum_p99_us;           /* its corrected p99 */
    uint64_t iv_count, iv_errors; /* over the measured all-steps intervals */
    uint64_t iv_seconds;          /* how many of them there are */
};
typedef int (*store_session_stats_fn)(void *ctx, const struct store_session_stats *s);

/* Calls fn for each session, newest first (as store_list_sessions); fn returns non-zero to stop. */
LS_MUST_CHECK ls_err store_sessions_stats_each(struct store *st, store_session_stats_fn fn,
                                               void *ctx);

#endif
