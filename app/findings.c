/*
 * findings: the advisor's report of a stored session, its storage with the
 * seconds each finding was seen, and the headless summary (see findings.h).
 *
 * findings_store() reads the session once (findings_int.h: struct ff_src),
 * judges the whole run, then walks the run's seconds forward once: each
 * second s closes the window [s + 1 - FINDINGS_WINDOW_S, s + 1), whose facts
 * are the difference of the hot-path model's states at its two ends (kept
 * in a ring of FINDINGS_WINDOW_S + 1 states, so the model is only ever
 * ranked forward) and whose findings mark the whole run's findings of the
 * same rule and where as seen at s. A run longer than FINDINGS_MAX_WINDOWS
 * seconds is walked in strides of ceil(seconds / FINDINGS_MAX_WINDOWS), so
 * judging an hour-long run costs at most that many evaluations.
 */
#include "findings.h"
#include "findings_int.h"

#include <stdlib.h>
#include <string.h>

ls_err findings_for_session(struct store *st, int64_t session, struct findings_window w,
                            struct adv_report *out, char *err, size_t errcap)
{
    struct findings_facts *ff = NULL;
    memset(out, 0, sizeof(*out));
    ls_err e = findings_facts_new(&ff);
    if (e == LS_OK)
        e = findings_facts_session(ff, st, session, w, err, errcap);
    if (e == LS_OK) {
        e = adv_evaluate(findings_facts_get(ff), out);
        if (e != LS_OK)
            snprintf(err, errcap, "out of memory");
    }
    findings_facts_free(ff);
    return e;
}

struct seen {
    int64_t first_s, last_s; /* -1: no window fired it */
};

/* Marks the findings of r that the window ending at second s fired too. */
static void mark(const struct adv_report *whole, const struct adv_report *r, uint32_t s,
                 struct seen *seen)
{
    for (size_t i = 0; i < r->n; i++)
        for (size_t k = 0; k < whole->n; k++) {
            if (strcmp(whole->findings[k].rule, r->findings[i].rule) != 0 ||
                strcmp(whole->findings[k].where, r->findings[i].where) != 0)
                continue;
            if (seen[k].first_s < 0)
                seen[k].first_s = s;
            seen[k].last_s = s;
        }
}

/* Walks the run's windows forward, marking where each whole-run finding fired. */
static ls_err walk_windows(const struct ff_src *src, const struct adv_report *whole,
                           struct seen *seen)
{
    enum { W = FINDINGS_WINDOW_S };
    /* a long run is walked in strides, so it is judged at most FINDINGS_MAX_WINDOWS times */
    uint32_t step = 1;
    if (src->seconds > FINDINGS_MAX_WINDOWS)
        step = (src->seconds + FINDINGS_MAX_WINDOWS - 1) / FINDINGS_MAX_WINDOWS;
    uint32_t wn = (W + step - 1) / step; /* boundaries a window spans: at least W seconds */
    struct ff_cum ring[W + 1];
    struct ff_lives lives[W + 1];
    memset(ring, 0, sizeof(ring));
    memset(lives, 0, sizeof(lives));
    struct findings_facts *ff = NULL;
    ls_err e = findings_facts_new(&ff);
    /* boundary j is second min(j * step, seconds); ring[j % (wn + 1)] its state, lives[] its
       live bytes */
    for (uint32_t j = 0; e == LS_OK; j++) {
        uint64_t at = (uint64_t)j * step;
        uint32_t s = at < src->seconds ? (uint32_t)at : src->seconds;
        e = ff_cum_take(src->hp, s, &ring[j % (wn + 1)]);
        if (e == LS_OK)
            e = ff_lives_of(&ring[j % (wn + 1)], &lives[j % (wn + 1)]);
        if (e != LS_OK)
            break;
        if (j > 0) {
            uint32_t jf = j > wn ? j - wn : 0;
            uint32_t from = jf * step;
            const struct ff_lives *pts[W + 1];
            size_t n = 0;
            for (uint32_t b = jf; b <= j; b++)
                pts[n++] = &lives[b % (wn + 1)];
            e = ff_build(ff, src, from, s, from > 0 ? &ring[jf % (wn + 1)] : NULL,
                         &ring[j % (wn + 1)], src->hp ? pts : NULL, src->hp ? n : 0);
            struct adv_report r;
            if (e == LS_OK)
                e = adv_evaluate(findings_facts_get(ff), &r);
            if (e != LS_OK)
                break;
            mark(whole, &r, s - 1, seen);
            adv_report_free(&r);
        }
        if (s >= src->seconds)
            break;
    }
    for (size_t i = 0; i <= W; i++) {
        ff_cum_free(&ring[i]);
        free(lives[i].v);
    }
    findings_facts_free(ff);
    return e;
}

/*
 * Judges session: the whole run into *whole, and the rows to store (rank,
 * first and last second seen) into *rows, whose strings point into *whole.
 */
static ls_err compute(struct store *st, int64_t session, struct adv_report *whole,
                      struct store_finding **rows, char *err, size_t errcap)
{
    struct ff_src *src = NULL;
    struct findings_facts *ff = NULL;
    struct seen *seen = NULL;
    memset(whole, 0, sizeof(*whole));
    *rows = NULL;
    ls_err e = ff_src_load(st, session, &src, err, errcap);
    if (e != LS_OK)
        return e;
    e = findings_facts_new(&ff);
    if (e == LS_OK)
        e = findings_facts_build(ff, src, 0, src->seconds);
    if (e == LS_OK)
        e = adv_evaluate(findings_facts_get(ff), whole);
    findings_facts_free(ff);
    if (e == LS_OK) {
        seen = calloc(whole->n + 1, sizeof(*seen));
        *rows = calloc(whole->n + 1, sizeof(**rows));
        if (seen == NULL || *rows == NULL)
            e = LS_ERR_NOMEM;
    }
    for (size_t i = 0; e == LS_OK && i < whole->n; i++)
        seen[i].first_s = seen[i].last_s = -1;
    if (e == LS_OK && whole->n > 0)
        e = walk_windows(src, whole, seen);
    if (e != LS_OK) {
        snprintf(err, errcap, "judging session %lld: %s", (long long)session, ls_strerror(e));
        adv_report_free(whole);
        free(*rows);
        *rows = NULL;
        goto out;
    }
    for (size_t i = 0; i < whole->n; i++) {
        const struct adv_finding *f = &whole->findings[i];
        bool none = seen[i].first_s < 0; /* no single window: the whole run's span */
        (*rows)[i] = (struct store_finding){
            .rank = (uint32_t)(i + 1),
            .rule = f->rule,
            .severity = adv_severity_name(f->severity),
            .title = f->title,
            .evidence = f->evidence,
            .where = f->where,
            .fix = f->fix,
            .detail = f->detail,
            .impact = f->impact,
            .confidence = f->confidence,
            .first_s = none ? 0 : seen[i].first_s,
            .last_s = none ? (src->seconds ? (int64_t)src->seconds - 1 : 0) : seen[i].last_s};
    }
out:
    free(seen);
    ff_src_free(src);
    return e;
}

ls_err findings_store(struct store *st, int64_t session, struct adv_report *report, char *err,
                      size_t errcap)
{
    struct adv_report whole;
    struct store_finding *rows = NULL;
    if (report != NULL)
        memset(report, 0, sizeof(*report));
    ls_err e = compute(st, session, &whole, &rows, err, errcap);
    if (e != LS_OK)
        return e;
    e = store_findings_replace(st, session, rows, whole.n);
    if (e != LS_OK)
        snprintf(err, errcap, "%s", store_errmsg(st));
    if (e == LS_OK && report != NULL)
        *report = whole;
    else
        adv_report_free(&whole);
    free(rows);
    return e;
}

ls_err findings_each(struct store *st, int64_t session, store_finding_fn fn, void *ctx,
                     bool *computed, char *err, size_t errcap)
{
    size_t n = 0;
    if (computed != NULL)
        *computed = false;
    ls_err e = store_findings_each(st, session, fn, ctx, &n);
    if (e != LS_OK) {
        snprintf(err, errcap, "%s", store_errmsg(st));
        return e;
    }
    if (n > 0)
        return LS_OK;
    struct adv_report whole;
    struct store_finding *rows = NULL;
    e = compute(st, session, &whole, &rows, err, errcap);
    if (e != LS_OK)
        return e;
    if (computed != NULL)
        *computed = true;
    for (size_t i = 0; fn != NULL && i < whole.n; i++)
        if (fn(ctx, &rows[i]) != 0)
            break;
    adv_report_free(&whole);
    free(rows);
    return LS_OK;
}

void findings_print(FILE *f, const struct adv_report *r)
{
    if (r->n == 0) {
        fprintf(f, "Findings: none\n");
    } else {
        fprintf(f, "Findings\n");
        for (size_t i = 0; i < r->n; i++) {
            int need = adv_render(&r->findings[i], i + 1, NULL, 0);
            char *buf = need >= 0 ? malloc((size_t)need + 1) : NULL;
            if (buf == NULL)
                continue;
            adv_render(&r->findings[i], i + 1, buf, (size_t)need + 1);
            fprintf(f, "%s\n", buf);
            free(buf);
        }
    }
    if (r->n_not_measured > 0) {
        fprintf(f, "Not measured:");
        for (size_t i = 0; i < r->n_not_measured; i++) {
            const struct adv_not_measured *m = &r->not_measured[i];
            fprintf(f, "%s %s%s", i ? "," : "", m->rule,
                    m->missing == 0 ? " (too few requests)" : "");
        }
        fprintf(f, "\n");
    }
}
