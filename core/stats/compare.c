/*
 * compare: the bootstrap over seconds and the two-proportion test (see
 * compare.h). One scratch histogram per side is reset and refilled per
 * resample; the resampled differences are kept per metric and sorted once.
 */
#include "stats/compare.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* splitmix64: small, seedable, good enough to pick seconds. */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

const char *cmp_metric_name(enum cmp_metric m)
{
    static const char *const names[CMP__N] = {"rate/s", "p50", "p90", "p99", "p99.9", "max",
                                              "error_rate"};
    return (unsigned)m < CMP__N ? names[m] : "?";
}

const char *cmp_verdict_name(enum cmp_verdict v)
{
    static const char *const names[] = {"no significant change", "better", "worse", "not judged"};
    return (unsigned)v < 4 ? names[v] : "?";
}

static const double pct_of[CMP__N] = {0, 50, 90, 99, 99.9, 100, 0};

/* The metrics of one merged sample: rate over n seconds, and the latency percentiles. */
static void metrics(const struct hdr *h, uint64_t count, size_t nsec, double m[CMP__N])
{
    m[CMP_RATE] = nsec ? (double)count / (double)nsec : 0;
    for (int k = CMP_P50; k <= CMP_MAX; k++)
        m[k] = k == CMP_MAX ? (double)hdr_max(h) : (double)hdr_value_at_percentile(h, pct_of[k]);
    m[CMP_ERRORS] = 0;
}

/* Merges n seconds drawn with replacement (all of them, in order, when rng is NULL). */
static ls_err merge(struct hdr *dst, const struct cmp_second *s, size_t n, uint64_t *rng,
                    uint64_t *count)
{
    hdr_reset(dst);
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cmp_second *x = rng ? &s[next_rand(rng) % n] : &s[i];
        *count += x->count;
        if (x->h != NULL) {
            ls_err e = hdr_add(dst, x->h);
            if (e != LS_OK)
                return e;
        }
    }
    return LS_OK;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

/* The value at quantile q of sorted v[0..n) (nearest rank). */
static double quantile(const double *v, size_t n, double q)
{
    size_t i = (size_t)ceil(q * (double)n);
    if (i > 0)
        i--;
    return v[i < n ? i : n - 1];
}

static void judge(struct cmp_result *r, enum cmp_metric m)
{
    r->rel = r->a != 0 ? r->diff / r->a : 0;
    r->rel_lo = r->a != 0 ? r->lo / r->a : 0;
    r->rel_hi = r->a != 0 ? r->hi / r->a : 0;
    if (!r->judged || m == CMP_MAX) {
        r->verdict = CMP_NOT_JUDGED;
        return;
    }
    bool up = r->lo > 0, down = r->hi < 0;
    if (!up && !down)
        r->verdict = CMP_SAME;
    else if (m == CMP_RATE)
        r->verdict = up ? CMP_BETTER : CMP_WORSE;
    else
        r->verdict = up ? CMP_WORSE : CMP_BETTER;
}

/* Two-proportion z-test on the failures; the normal 95% interval of pb - pa. */
static void errors(const struct cmp_second *a, size_t na, const struct cmp_second *b, size_t nb,
                   struct cmp_result *r)
{
    double ea = 0, ta = 0, eb = 0, tb = 0;
    for (size_t i = 0; i < na; i++) {
        ea += (double)a[i].errors;
        ta += (double)a[i].count;
    }
    for (size_t i = 0; i < nb; i++) {
        eb += (double)b[i].errors;
        tb += (double)b[i].count;
    }
    r->a = ta > 0 ? ea / ta : 0;
    r->b = tb > 0 ? eb / tb : 0;
    r->diff = r->b - r->a;
    double se = ta > 0 && tb > 0 ? sqrt(r->a * (1 - r->a) / ta + r->b * (1 - r->b) / tb) : 0;
    r->lo = r->diff - 1.96 * se;
    r->hi = r->diff + 1.96 * se;
    r->judged = ta > 0 && tb > 0;
    /* With no failure on either side (se 0) the interval is the point: same. */
    if (r->judged && se == 0)
        r->lo = r->hi = r->diff;
}

ls_err cmp_compare(const struct cmp_second *a, size_t na, const struct cmp_second *b, size_t nb,
                   unsigned resamples, uint64_t seed, struct cmp_result out[CMP__N])
{
    struct hdr *ha = NULL, *hb = NULL;
    double *diffs = NULL;
    ls_err e = LS_OK;
    memset(out, 0, CMP__N * sizeof(*out));
    if (resamples < 10)
        resamples = 10;
    if ((e = hdr_open_latency(&ha)) != LS_OK || (e = hdr_open_latency(&hb)) != LS_OK)
        goto out;
    diffs = malloc((size_t)CMP__N * resamples * sizeof(*diffs));
    if (diffs == NULL) {
        e = LS_ERR_NOMEM;
        goto out;
    }
    /* Point estimates from every second. */
    uint64_t ca, cb;
    double ma[CMP__N], mb[CMP__N];
    if ((e = merge(ha, a, na, NULL, &ca)) != LS_OK || (e = merge(hb, b, nb, NULL, &cb)) != LS_OK)
        goto out;
    metrics(ha, ca, na, ma);
    metrics(hb, cb, nb, mb);
    int judged = na >= 3 && nb >= 3;
    uint64_t rng = seed ^ 0x6c6f616473636f70ull; /* "loadscop" */
    for (unsigned r = 0; judged && r < resamples; r++) {
        double ra[CMP__N], rb[CMP__N];
        if ((e = merge(ha, a, na, &rng, &ca)) != LS_OK || (e = merge(hb, b, nb, &rng, &cb)) != LS_OK)
            goto out;
        metrics(ha, ca, na, ra);
        metrics(hb, cb, nb, rb);
        for (int m = 0; m < CMP_ERRORS; m++)
            diffs[(size_t)m * resamples + r] = rb[m] - ra[m];
    }
    for (int m = 0; m < CMP_ERRORS; m++) {
        struct cmp_result *x = &out[m];
        x->a = ma[m];
        x->b = mb[m];
        x->diff = mb[m] - ma[m];
        x->judged = judged;
        if (judged) {
            double *d = &diffs[(size_t)m * resamples];
            qsort(d, resamples, sizeof(*d), cmp_double);
            x->lo = quantile(d, resamples, 0.025);
            x->hi = quantile(d, resamples, 0.975);
        } else {
            x->lo = x->hi = x->diff;
        }
        judge(x, (enum cmp_metric)m);
    }
    errors(a, na, b, nb, &out[CMP_ERRORS]);
    judge(&out[CMP_ERRORS], CMP_ERRORS);
out:
    free(diffs);
    hdr_close(ha);
    hdr_close(hb);
    return e;
}
