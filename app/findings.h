/*
 * findings: the advisor (core/advise/advise.h) fed from loadscope's models,
 * live and from storage, and what the application does with its report:
 * store it per session, print it at the end of a headless run, export it.
 *
 * The facts come from the same models live and in replay: latency from the
 * live model's snapshot (live) or the stored summaries and intervals
 * (replay), allocation sites from the hot-path model (core/alloc/hotpaths.h),
 * blocking calls, lock waits, connections and thread creations from the
 * inside model (core/alloc/alloc_inside.h), downstream calls from the
 * downstream model (core/downstream/ds_model.h). A group whose source is
 * absent (no tracing, no downstream proxy) is left unmeasured and its rules
 * are listed as not measured, never guessed.
 *
 * A window is seconds [from, to) of the run (seconds since its start, the
 * warm-up included, as the stored intervals count them); FINDINGS_WHOLE_RUN
 * covers every second. Per-request figures are over the requests completed
 * in the window (all scenario steps, the handshake apart).
 *
 * Stored findings (storage/store_findings.h) carry the first and last second
 * whose sliding window (FINDINGS_WINDOW_S seconds, ending at that second)
 * fires them, besides the whole run's ranking.
 */
#ifndef LS_APP_FINDINGS_H
#define LS_APP_FINDINGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "advise/advise.h"
#include "store_findings.h"
#include "util/lserr.h"

struct store;
struct hotpaths;
struct alloc;
struct alloc_inside_model;
struct ds_model;
struct live_snapshot;

#define FINDINGS_WINDOW_S 5      /* seconds in a sliding window for first/last seen */
#define FINDINGS_MAX_WINDOWS 600 /* a longer run's windows slide by more than a second */

struct findings_window {
    uint32_t from, to; /* seconds [from, to); to = UINT32_MAX: to the run's end */
};
#define FINDINGS_WHOLE_RUN ((struct findings_window){0, UINT32_MAX})

/* ---- facts (findings_facts.c) ------------------------------------------------- */

/*
 * The facts of a span, with the memory behind them. Opaque: filled by one of
 * the builders below, read with findings_facts_get(), freed with
 * findings_facts_free(). The facts point into the builder and into the
 * models it was given (hot paths' and inside sites' strings): keep those
 * open while the facts are used.
 */
struct findings_facts;

LS_MUST_CHECK ls_err findings_facts_new(struct findings_facts **out);
/* NULL-safe. */
void findings_facts_free(struct findings_facts *ff);
/* The facts last built (all groups unmeasured before a build). Owned by ff. */
const struct adv_facts *findings_facts_get(const struct findings_facts *ff);

/*
 * Facts of stored session `session` over window w: run shape and latency
 * from its intervals and summaries, allocation sites from its hot-path rows
 * (hotpaths_load), blocking calls, locks, connections and threads from its
 * inside rows (store_inside_load), downstream operations from its
 * downstream seconds (store_downstream_model). Each group is measured only
 * when the session holds that data. err gets a message on failure.
 */
LS_MUST_CHECK ls_err findings_facts_session(struct findings_facts *ff, struct store *st,
                                            int64_t session, struct findings_window w, char *err,
                                            size_t errcap);

/* What a live run hands the builder; every pointer is borrowed, NULL when absent. */
struct findings_live {
    /* the live model's snapshot (latency, requests, handshakes) */
    const struct live_snapshot *snap;
    struct hotpaths *hot; /* the tracer's hot-path model; NULL: not tracing stacks */
    bool frees_seen;      /* full or sampled tracing: live bytes mean something */
    struct alloc *alloc;  /* the run's tracer: its inside sites (alloc_inside_snapshot);
                             NULL: not traced */
    const struct alloc_inside_model *inside; /* or an inside model of the run so far (replay);
                                                used when alloc is NULL */
    struct ds_model *ds;                     /* the downstream model; NULL: no downstream proxy */
    uint32_t concurrency; /* virtual users, or most requests in flight (open loop) */
    bool open_loop;
    bool session_per_iteration; /* the scenario opens a session per iteration */
    uint32_t cores;             /* CPUs the target may use (0: not known) */
};

/*
 * Facts of the live run so far: the seconds closed in src->snap (allocation
 * sites up to the hot-path model's seconds fed). Same arithmetic as
 * findings_facts_session over the whole run, so the end of a run and its
 * replay agree. Call from the thread that owns src->snap; it ranks the
 * hot-path model at up to 30 seconds from 0 (a pass over its rows), so once
 * a second is plenty. The facts point into the tracer's and the models'
 * strings: keep them open while the facts (not the report) are used.
 */
LS_MUST_CHECK ls_err findings_facts_live(struct findings_facts *ff,
                                         const struct findings_live *src);

/* ---- findings (findings.c) ---------------------------------------------------- */

/*
 * Judges session over w into *out (freed by the caller with
 * adv_report_free): the stored findings' order is not used, the facts are
 * built afresh from storage.
 */
LS_MUST_CHECK ls_err findings_for_session(struct store *st, int64_t session,
                                          struct findings_window w, struct adv_report *out,
                                          char *err, size_t errcap);

/*
 * Judges the whole run of session and every sliding window of
 * FINDINGS_WINDOW_S seconds ending at each second (a run longer than
 * FINDINGS_MAX_WINDOWS seconds: windows ending every ceil(seconds /
 * FINDINGS_MAX_WINDOWS) seconds, each at least FINDINGS_WINDOW_S long), and stores the whole
 * run's findings, ranked, each with the first and last second a window
 * fired it (0 and the run's last second when only the whole run fired it), replacing any stored
 * before. report (may be NULL) receives the whole run's report; the caller
 * frees it. Call after the session's writers have finished.
 */
LS_MUST_CHECK ls_err findings_store(struct store *st, int64_t session, struct adv_report *report,
                                    char *err, size_t errcap);

/*
 * The session's findings, ranked, with the first and last second seen: the
 * stored ones, or (a session stored before findings were, or never judged)
 * computed as findings_store would, without storing them. fn returns
 * non-zero to stop; its strings are valid during the call. *computed (may
 * be NULL) says which.
 */
LS_MUST_CHECK ls_err findings_each(struct store *st, int64_t session, store_finding_fn fn,
                                   void *ctx, bool *computed, char *err, size_t errcap);

/*
 * The headless summary's end: "Findings" then each finding rendered
 * (adv_render: title, evidence, where, fix) and, in one line, the rules not
 * measured. Prints "Findings: none" when the report is empty.
 */
void findings_print(FILE *f, const struct adv_report *r);

#endif
