/*
 * store_findings: the advisor's findings of a session (app/findings.h
 * computes them) in the table findings, one row per finding in rank order,
 * with the first and last second of the run whose sliding window fired it.
 * Written once the run is over (replacing what was stored before: a session
 * judged again by a newer loadscope keeps only its latest findings), read
 * back by export and replay.
 */
#ifndef LS_STORE_FINDINGS_H
#define LS_STORE_FINDINGS_H

#include <stddef.h>
#include <stdint.h>

#include "util/lserr.h"
#include "store.h"

struct sqlite3;

/* Creates the table (store_schema.c's migration from schema 8 to 9). */
LS_MUST_CHECK ls_err store_findings_migrate(struct sqlite3 *db, char *msg, size_t cap);

/* One stored finding; strings borrowed (writing) or valid during the callback (reading). */
struct store_finding {
    uint32_t rank;        /* from 1 */
    const char *rule;     /* "alloc.format_in_hot_path" */
    const char *severity; /* "critical", "warning", "info" */
    const char *title, *evidence, *where, *fix;
    const char *detail;        /* the stacks behind it ("" when none) */
    double impact, confidence; /* 0..1 */
    int64_t first_s, last_s;   /* seconds of the run (since its start, warm-up included) */
};

/* Replaces session_id's findings with rows[0, n) in one transaction (n 0: clears them). */
LS_MUST_CHECK ls_err store_findings_replace(struct store *st, int64_t session_id,
                                            const struct store_finding *rows, size_t n);

typedef int (*store_finding_fn)(void *ctx, const struct store_finding *f);

/*
 * Calls fn for the session's stored findings by rank; fn returns non-zero
 * to stop. *count (may be NULL) gets the rows seen.
 */
LS_MUST_CHECK ls_err store_findings_each(struct store *st, int64_t session_id, store_finding_fn fn,
                                         void *ctx, size_t *count);

#endif
