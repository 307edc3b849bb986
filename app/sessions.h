/*
 * sessions: the listing of `loadscope sessions`: one line per stored
 * session, newest first, with its start, duration, requests, rate, p99,
 * errors, status, scenario and target.
 *
 * The figures are the run's all-steps summary (warm-up excluded); a run
 * that did not finish has none, so its requests, errors and rate are summed
 * from its measured per-second intervals and its p99 is shown as unknown.
 */
#ifndef LS_SESSIONS_H
#define LS_SESSIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/lserr.h"
#include "store_list.h"

/* The headline figures of one session, as the listing shows them. */
struct sessions_figures {
    bool known;        /* any measured second or a summary: the figures below mean something */
    bool from_summary; /* false: summed from the intervals (the run did not finish) */
    uint64_t requests; /* measured requests, all steps */
    uint64_t errors;
    double rate;       /* completed requests per second */
    int64_t p99_us;    /* corrected p99; -1 when unknown */
};

/* The figures of s (pure). */
void sessions_figures(const struct store_session_stats *s, struct sessions_figures *out);

/* The header line, without a newline. */
void sessions_header(char *buf, size_t cap);

/* One session's line, without a newline (the start in local time). */
void sessions_format(const struct store_session_stats *s, char *buf, size_t cap);

/*
 * Writes the header and a line per session to out. On failure err gets a
 * message (the lines before it are written).
 */
LS_MUST_CHECK ls_err sessions_list(struct store *st, FILE *out, char *err, size_t errcap);

#endif
