/*
 * compare: two sessions' measured seconds side by side (see compare.h).
 *
 * Each side is read from storage as per-second rows per step (warm-up left
 * out), with their corrected-latency histograms decoded once; steps are
 * matched by name, and "ALL STEPS" (step -1) is always compared.
 */
#include "compare.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "store.h"
#include "store_read.h"

#define ALL_STEPS (-1)

struct side_step {
    char *name;
    int32_t idx;                /* -1: all steps */
    struct cmp_second *sec;
    struct hdr **owned;         /* the decoded histograms sec[] borrows, one per second */
    size_t n, cap;
};

struct side {
    struct side_step *steps;    /* [0]: all steps, then the scenario's by index */
    size_t nsteps;
    uint32_t end_s;             /* seconds from this one on are the drain after the end (0: unknown) */
    char *title;                /* "session 3 (name, started ...)" */
    bool oom;
    ls_err decode_err;
};

static void side_free(struct side *s)
{
    for (size_t i = 0; i < s->nsteps; i++) {
        for (size_t k = 0; k < s->steps[i].n; k++)
            hdr_close(s->steps[i].owned[k]);
        free(s->steps[i].sec);
        free(s->steps[i].owned);
        free(s->steps[i].name);
    }
    free(s->steps);
    free(s->title);
    memset(s, 0, sizeof(*s));
}

static struct side_step *add_step(struct side *s, int32_t idx, const char *name)
{
    struct side_step *n = realloc(s->steps, (s->nsteps + 1) * sizeof(*n));
    if (n == NULL)
        return NULL;
    s->steps = n;
    struct side_step *st = &s->steps[s->nsteps];
    memset(st, 0, sizeof(*st));
    st->idx = idx;
    st->name = strdup(name);
    if (st->name == NULL)
        return NULL;
    s->nsteps++;
    return st;
}

static int on_step(void *ctx, const struct store_step *st)
{
    struct side *s = ctx;
    /* The handshake is stored as the last step; it is not a scenario step. */
    if (strcmp(st->name, "initialize") == 0 && strcmp(st->method ? st->method : "", "initialize") == 0)
        return 0;
    if (add_step(s, st->idx, st->name) == NULL) {
        s->oom = true;
        return 1;
    }
    return 0;
}

static struct side_step *step_of(struct side *s, int32_t idx)
{
    for (size_t i = 0; i < s->nsteps; i++)
        if (s->steps[i].idx == idx)
            return &s->steps[i];
    return NULL;
}

static int on_interval(void *ctx, const struct store_interval *iv)
{
    struct side *s = ctx;
    /* The warm-up, and the drain after the measured end (a partial second), are left out. */
    if (iv->warmup || (s->end_s > 0 && iv->second >= s->end_s))
        return 0;
    struct side_step *st = step_of(s, iv->step);
    if (st == NULL)
        return 0; /* the handshake */
    if (st->n == st->cap) {
        size_t cap = st->cap ? st->cap * 2 : 64;
        struct cmp_second *n = realloc(st->sec, cap * sizeof(*n));
        if (n != NULL)
            st->sec = n;
        struct hdr **o = n != NULL ? realloc(st->owned, cap * sizeof(*o)) : NULL;
        if (o == NULL) {
            s->oom = true;
            return 1;
        }
        st->owned = o;
        st->cap = cap;
    }
    struct cmp_second *x = &st->sec[st->n];
    memset(x, 0, sizeof(*x));
    st->owned[st->n] = NULL;
    x->count = iv->count;
    x->errors = iv->errors;
    if (iv->hist_len > 0) {
        struct hdr *h = NULL;
        ls_err e = hdr_decode(iv->hist, iv->hist_len, &h);
        if (e != LS_OK) {
            s->decode_err = e;
            return 1;
        }
        x->h = h;
        st->owned[st->n] = h;
    }
    st->n++;
    return 0;
}

static ls_err side_load(struct store *st, int64_t id, struct side *s, char *err, size_t errcap)
{
    struct store_session ss;
    ls_err e = store_session_get(st, id, &ss);
    if (e != LS_OK) {
        snprintf(err, errcap, "session %lld: %s", (long long)id,
                 e == LS_ERR_NOTFOUND ? "no such session (see `loadscope sessions`)" : store_errmsg(st));
        return e;
    }
    /* The measured window, from the run's parameters ("warmup_ns":W,"duration_ns":D). */
    const char *pj = ss.params_json ? ss.params_json : "";
    const char *dp = strstr(pj, "\"duration_ns\":"), *wp = strstr(pj, "\"warmup_ns\":");
    if (dp != NULL) {
        unsigned long long d = strtoull(dp + 14, NULL, 10), w = wp ? strtoull(wp + 12, NULL, 10) : 0;
        s->end_s = (uint32_t)((w + d) / 1000000000ull);
    }
    size_t cap = strlen(ss.name ? ss.name : "") + 64;
    s->title = malloc(cap);
    if (s->title != NULL)
        snprintf(s->title, cap, "session %lld (%s)", (long long)id, ss.name ? ss.name : "");
    store_session_clear(&ss);
    if (s->title == NULL || add_step(s, ALL_STEPS, "ALL STEPS") == NULL) {
        snprintf(err, errcap, "out of memory");
        return LS_ERR_NOMEM;
    }
    e = store_steps_each(st, id, on_step, s);
    if (e == LS_OK && !s->oom)
        e = store_intervals_each(st, id, INT32_MIN, on_interval, s);
    if (e != LS_OK || s->oom || s->decode_err != LS_OK) {
        snprintf(err, errcap, "reading session %lld: %s", (long long)id,
                 e != LS_OK ? store_errmsg(st) : s->oom ? "out of memory" : "a stored histogram does not decode");
        return e != LS_OK ? e : s->oom ? LS_ERR_NOMEM : s->decode_err;
    }
    if (s->steps[0].n == 0) {
        snprintf(err, errcap, "session %lld has no measured seconds to compare", (long long)id);
        return LS_ERR_NOTFOUND;
    }
    return LS_OK;
}

/* ---- gates ---------------------------------------------------------------------- */

bool cmp_gate_parse(const char *text, struct cmp_gate *g, char *err, size_t errcap)
{
    memset(g, 0, sizeof(*g));
    snprintf(g->text, sizeof(g->text), "%s", text);
    const char *p = text;
    const char *colon = strchr(text, ':');
    if (colon != NULL) {
        size_t n = (size_t)(colon - text);
        if (n == 0 || n >= sizeof(g->step)) {
            snprintf(err, errcap, "\"%s\": a step name before ':'", text);
            return false;
        }
        memcpy(g->step, text, n);
        p = colon + 1;
    }
    while (isspace((unsigned char)*p))
        p++;
    static const struct {
        const char *name;
        enum cmp_metric m;
    } names[] = {{"p50", CMP_P50},     {"p90", CMP_P90},   {"p99.9", CMP_P999}, {"p999", CMP_P999},
                 {"p99", CMP_P99},     {"rate", CMP_RATE}, {"error_rate", CMP_ERRORS},
                 {"errors", CMP_ERRORS}};
    size_t k = 0;
    for (; k < sizeof(names) / sizeof(names[0]); k++) {
        size_t n = strlen(names[k].name);
        if (strncmp(p, names[k].name, n) == 0 && (isspace((unsigned char)p[n]) || p[n] == '+' || p[n] == '-')) {
            g->metric = names[k].m;
            p += n;
            break;
        }
    }
    if (k == sizeof(names) / sizeof(names[0])) {
        snprintf(err, errcap, "\"%s\": expected p50, p90, p99, p99.9, rate or error_rate, then a change "
                 "such as +10%%, +2ms or +0.5pp", text);
        return false;
    }
    while (isspace((unsigned char)*p))
        p++;
    if (*p != '+' && *p != '-') {
        snprintf(err, errcap, "\"%s\": the change needs a sign (+10%% is worse latency, -5%% a lower rate)", text);
        return false;
    }
    char *end = NULL;
    double v = strtod(p, &end);
    if (end == p || !isfinite(v)) {
        snprintf(err, errcap, "\"%s\": no number in the change", text);
        return false;
    }
    if (strcmp(end, "%") == 0) {
        g->kind = GATE_REL;
        g->limit = v / 100;
    } else if (strcmp(end, "pp") == 0 && g->metric == CMP_ERRORS) {
        g->kind = GATE_ABS;
        g->limit = v / 100;
    } else if (g->metric >= CMP_P50 && g->metric <= CMP_P999 &&
               (strcmp(end, "ms") == 0 || strcmp(end, "us") == 0 || strcmp(end, "s") == 0)) {
        g->kind = GATE_ABS;
        g->limit = v * (end[0] == 'm' ? 1e3 : end[0] == 'u' ? 1 : 1e6);
    } else {
        snprintf(err, errcap, "\"%s\": the unit is %% (relative), pp (error_rate), or ms/us/s (latency)",
                 text);
        return false;
    }
    return true;
}

/* Holds when the whole 95% interval lies past the limit. */
static bool gate_holds(const struct cmp_gate *g, const struct cmp_result *r)
{
    if (!r->judged)
        return false;
    double lo = g->kind == GATE_REL ? r->rel_lo : r->lo;
    double hi = g->kind == GATE_REL ? r->rel_hi : r->hi;
    return g->limit >= 0 ? lo > g->limit : hi < g->limit;
}

/* ---- printing ------------------------------------------------------------------- */

static void fmt_value(enum cmp_metric m, double v, char *buf, size_t cap)
{
    if (m == CMP_RATE)
        snprintf(buf, cap, "%.1f", v);
    else if (m == CMP_ERRORS)
        snprintf(buf, cap, "%.3f%%", 100 * v);
    else
        report_fmt_us((int64_t)llround(v), buf, cap);
}

/* A change in the metric's own unit: "+2.20ms", "-350.0/s", "+0.500pp". */
static void fmt_abs(enum cmp_metric m, double v, char *buf, size_t cap)
{
    if (m == CMP_ERRORS) {
        snprintf(buf, cap, "%+.3fpp", 100 * v);
    } else if (m == CMP_RATE) {
        snprintf(buf, cap, "%+.1f/s", v);
    } else {
        char t[24];
        report_fmt_us((int64_t)llround(fabs(v)), t, sizeof(t));
        snprintf(buf, cap, "%c%s", v < 0 ? '-' : '+', t);
    }
}

static void print_step(FILE *f, const char *name, const struct cmp_result *res)
{
    fprintf(f, "%s\n", name);
    for (int m = 0; m < CMP__N; m++) {
        const struct cmp_result *r = &res[m];
        enum cmp_metric mm = (enum cmp_metric)m;
        char a[32], b[32], rel[32], ab[32], lo[32], hi[32], ival[80];
        fmt_value(mm, r->a, a, sizeof(a));
        fmt_value(mm, r->b, b, sizeof(b));
        fmt_abs(mm, r->diff, ab, sizeof(ab));
        if (r->a != 0 && m != CMP_ERRORS)
            snprintf(rel, sizeof(rel), "%+.1f%%", 100 * r->rel);
        else
            snprintf(rel, sizeof(rel), "-");
        fmt_abs(mm, r->lo, lo, sizeof(lo));
        fmt_abs(mm, r->hi, hi, sizeof(hi));
        snprintf(ival, sizeof(ival), "[%s, %s]", lo, hi);
        const char *verdict = m == CMP_MAX  ? "(one sample: not judged)"
                              : !r->judged ? "not judged (fewer than 3 seconds)"
                                           : cmp_verdict_name(r->verdict);
        fprintf(f, "  %-10s %10s %10s %9s %10s  %-26s %s\n", cmp_metric_name(mm), a, b, rel, ab,
                m == CMP_MAX || !r->judged ? "" : ival, verdict);
    }
}

ls_err compare_sessions(struct store *sa, int64_t a, struct store *sb, int64_t b,
                        const struct compare_opts *o, FILE *f, bool *failed, char *err, size_t errcap)
{
    struct side A = {0}, B = {0};
    ls_err e = side_load(sa, a, &A, err, errcap);
    if (e == LS_OK)
        e = side_load(sb, b, &B, err, errcap);
    *failed = false;
    if (e != LS_OK)
        goto out;
    unsigned resamples = o->resamples ? o->resamples : 1000;
    fprintf(f, "A: %s\nB: %s\n", A.title, B.title);
    fprintf(f, "change is B - A; 95%% intervals by a bootstrap over seconds (%u resamples, seed %llu); "
               "error rate by a two-proportion test\n\n",
            resamples, (unsigned long long)o->seed);
    fprintf(f, "  %-10s %10s %10s %9s %10s  %-26s %s\n", "", "A", "B", "change", "B - A",
            "95% interval of B - A", "verdict");
    bool *gate_seen = calloc(o->ngates ? o->ngates : 1, sizeof(*gate_seen));
    if (gate_seen == NULL) {
        e = LS_ERR_NOMEM;
        snprintf(err, errcap, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < A.nsteps; i++) {
        const struct side_step *x = &A.steps[i];
        const struct side_step *y = NULL;
        for (size_t k = 0; k < B.nsteps && y == NULL; k++)
            if (strcmp(B.steps[k].name, x->name) == 0 && (B.steps[k].idx == ALL_STEPS) == (x->idx == ALL_STEPS))
                y = &B.steps[k];
        if (y == NULL) {
            fprintf(f, "%s: only in A\n", x->name);
            continue;
        }
        struct cmp_result res[CMP__N];
        e = cmp_compare(x->sec, x->n, y->sec, y->n, resamples, o->seed, res);
        if (e != LS_OK) {
            snprintf(err, errcap, "comparing %s: %s", x->name, ls_strerror(e));
            free(gate_seen);
            goto out;
        }
        print_step(f, x->name, res);
        for (size_t g = 0; g < o->ngates; g++) {
            const struct cmp_gate *gt = &o->gates[g];
            bool mine = gt->step[0] ? strcmp(gt->step, x->name) == 0 : x->idx == ALL_STEPS;
            if (!mine)
                continue;
            gate_seen[g] = true;
            if (gate_holds(gt, &res[gt->metric])) {
                *failed = true;
                fprintf(f, "  GATE %s: holds (the whole interval is past it)\n", gt->text);
            }
        }
    }
    for (size_t g = 0; g < o->ngates; g++) {
        if (!gate_seen[g]) {
            snprintf(err, errcap, "--fail-if \"%s\": no step \"%s\" in both sessions", o->gates[g].text,
                     o->gates[g].step);
            e = LS_ERR_INVALID;
        }
    }
    if (o->ngates > 0 && e == LS_OK)
        fprintf(f, "\ngates: %s\n", *failed ? "a condition holds (regression)" : "no condition holds");
    free(gate_seen);
out:
    side_free(&A);
    side_free(&B);
    return e;
}

/* ---- A/A calibration ------------------------------------------------------------ */

static uint64_t split_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

ls_err compare_calibrate(struct store *st, int64_t id, unsigned rounds, uint64_t seed,
                         const struct compare_opts *o, FILE *f, unsigned *flagged, char *err,
                         size_t errcap)
{
    struct side S = {0};
    struct cmp_second *x = NULL, *y = NULL;
    unsigned per_metric[CMP__N] = {0};
    *flagged = 0;
    ls_err e = side_load(st, id, &S, err, errcap);
    if (e != LS_OK)
        goto out;
    const struct side_step *all = &S.steps[0];
    if (all->n < 6) {
        snprintf(err, errcap, "session %lld has %zu measured seconds: at least 6 are needed to split",
                 (long long)id, all->n);
        e = LS_ERR_INVALID;
        goto out;
    }
    x = malloc(all->n * sizeof(*x));
    y = malloc(all->n * sizeof(*y));
    if (x == NULL || y == NULL) {
        e = LS_ERR_NOMEM;
        snprintf(err, errcap, "out of memory");
        goto out;
    }
    uint64_t rng = seed;
    unsigned resamples = o->resamples ? o->resamples : 1000;
    for (unsigned r = 0; r < rounds; r++) {
        /* A random half of the seconds against the other half. */
        size_t *perm = malloc(all->n * sizeof(*perm));
        if (perm == NULL) {
            e = LS_ERR_NOMEM;
            snprintf(err, errcap, "out of memory");
            goto out;
        }
        for (size_t i = 0; i < all->n; i++)
            perm[i] = i;
        for (size_t i = all->n - 1; i > 0; i--) {
            size_t j = (size_t)(split_rand(&rng) % (i + 1));
            size_t t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        size_t nx = all->n / 2, ny = all->n - nx;
        for (size_t i = 0; i < nx; i++)
            x[i] = all->sec[perm[i]];
        for (size_t i = 0; i < ny; i++)
            y[i] = all->sec[perm[nx + i]];
        free(perm);
        struct cmp_result res[CMP__N];
        e = cmp_compare(x, nx, y, ny, resamples, seed + r, res);
        if (e != LS_OK) {
            snprintf(err, errcap, "%s", ls_strerror(e));
            goto out;
        }
        bool any = false;
        for (int m = 0; m < CMP_MAX; m++) {
            if (res[m].verdict == CMP_BETTER || res[m].verdict == CMP_WORSE) {
                per_metric[m]++;
                any = true;
            }
        }
        *flagged += any;
    }
    fprintf(f, "A/A calibration of %s: %u random half/half splits of its %zu measured seconds\n", S.title,
            rounds, all->n);
    for (int m = 0; m < CMP_MAX; m++)
        fprintf(f, "  %-8s called different in %3u of %u (%.1f%%; a 95%% interval promises about 5%%)\n",
                cmp_metric_name((enum cmp_metric)m), per_metric[m], rounds,
                rounds ? 100.0 * per_metric[m] / rounds : 0);
    fprintf(f, "  any of them: %u of %u\n", *flagged, rounds);
out:
    free(x);
    free(y);
    side_free(&S);
    return e;
}
