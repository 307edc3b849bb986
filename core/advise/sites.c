/*
 * sites: the advisor judges places in the user's code, not stacks. A site
 * is every stack whose blame frame is the same file:line (or function, for
 * CPU): an async state machine reaches one format! through several return
 * paths, and only their sum says what the code does. Sites keep their
 * stacks, biggest first, as the evidence shown with a finding. Owns the
 * grouping, allocation sites, event sites and the detail text; calls libc
 * and frames.c.
 */
#include <stdlib.h>
#include <string.h>

#include "advise/advise_int.h"

/* ---- grouping ------------------------------------------------------------------ */

struct keyed {
    const struct adv_frame *f;
    size_t i;
};

static int cmp_line(const void *x, const void *y)
{
    const struct adv_frame *a = ((const struct keyed *)x)->f, *b = ((const struct keyed *)y)->f;
    const char *fa = adv_s(a->file), *fb = adv_s(b->file);
    int c;
    if (*fa && *fb) {
        c = strcmp(fa, fb);
        if (c == 0 && a->line != b->line)
            c = a->line < b->line ? -1 : 1;
    } else if (*fa || *fb) {
        c = *fa ? 1 : -1; /* no file first */
    } else {
        c = strcmp(adv_s(a->function), adv_s(b->function));
    }
    if (c)
        return c;
    size_t i = ((const struct keyed *)x)->i, j = ((const struct keyed *)y)->i;
    return i < j ? -1 : i > j;
}

static int cmp_function(const void *x, const void *y)
{
    const struct adv_frame *a = ((const struct keyed *)x)->f, *b = ((const struct keyed *)y)->f;
    int c = strcmp(adv_s(a->function), adv_s(b->function));
    if (c == 0)
        c = strcmp(adv_s(a->file), adv_s(b->file));
    if (c)
        return c;
    size_t i = ((const struct keyed *)x)->i, j = ((const struct keyed *)y)->i;
    return i < j ? -1 : i > j;
}

static bool same_site(const struct adv_frame *a, const struct adv_frame *b, enum adv_group_by by)
{
    if (by == ADV_BY_FUNCTION)
        return strcmp(adv_s(a->function), adv_s(b->function)) == 0 &&
               strcmp(adv_s(a->file), adv_s(b->file)) == 0;
    const char *fa = adv_s(a->file), *fb = adv_s(b->file);
    if (*fa || *fb)
        return strcmp(fa, fb) == 0 && a->line == b->line;
    return strcmp(adv_s(a->function), adv_s(b->function)) == 0;
}

size_t adv_group(const struct adv_frame *const *frames, size_t n, enum adv_group_by by,
                 size_t *site_of)
{
    if (n == 0)
        return 0;
    struct keyed *k = calloc(n, sizeof(*k));
    if (k == NULL)
        return SIZE_MAX;
    for (size_t i = 0; i < n; i++)
        k[i] = (struct keyed){frames[i], i};
    qsort(k, n, sizeof(*k), by == ADV_BY_FUNCTION ? cmp_function : cmp_line);
    size_t sites = 0;
    for (size_t i = 0; i < n; i++) {
        if (i > 0 && !same_site(k[i - 1].f, k[i].f, by))
            sites++;
        site_of[k[i].i] = sites;
    }
    free(k);
    return sites + 1;
}

/* Stack indices ordered by site, then by a value, largest first. */
struct ranked {
    size_t site, i;
    double v, v2; /* by v, then v2 */
};

static int cmp_ranked(const void *x, const void *y)
{
    const struct ranked *a = x, *b = y;
    if (a->site != b->site)
        return a->site < b->site ? -1 : 1;
    if (a->v != b->v)
        return a->v > b->v ? -1 : 1;
    if (a->v2 != b->v2)
        return a->v2 > b->v2 ? -1 : 1;
    return a->i < b->i ? -1 : a->i > b->i;
}

/* ---- allocation sites ---------------------------------------------------------- */

static int cmp_alloc_site(const void *x, const void *y)
{
    const struct adv_alloc_site *a = x, *b = y;
    if (a->allocs_per_req != b->allocs_per_req)
        return a->allocs_per_req > b->allocs_per_req ? -1 : 1;
    int c = strcmp(adv_s(a->blame.file), adv_s(b->blame.file));
    if (c == 0 && a->blame.line != b->blame.line)
        c = a->blame.line < b->blame.line ? -1 : 1;
    return c ? c : strcmp(adv_s(a->blame.function), adv_s(b->blame.function));
}

/* Share of the steps of a series that rose. */
static double rising_share(const double *v, size_t n)
{
    if (n < 2)
        return -1;
    size_t up = 0;
    for (size_t t = 1; t < n; t++)
        up += v[t] > v[t - 1];
    return (double)up / (double)(n - 1);
}

ls_err adv_alloc_sites_build(const struct adv_alloc *a, struct adv_alloc_sites *out)
{
    ls_err rc = LS_ERR_NOMEM;
    memset(out, 0, sizeof(*out));
    size_t n = a->nstacks, ns = a->nseries;
    if (n == 0)
        return LS_OK;
    const struct adv_frame **frames = calloc(n, sizeof(*frames));
    size_t *site_of = calloc(n, sizeof(*site_of));
    struct ranked *rk = calloc(n, sizeof(*rk));
    double *sums = NULL;
    bool *no_series = NULL;
    out->kinds = calloc(n, sizeof(*out->kinds));
    out->order = calloc(n, sizeof(*out->order));
    if (!frames || !site_of || !rk || !out->kinds || !out->order)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const struct adv_alloc_stack *st = &a->stacks[i];
        frames[i] = &st->blame;
        out->kinds[i] = adv_alloc_kind_of(st->label, st->stack, &st->blame);
    }
    size_t nsites = adv_group(frames, n, ADV_BY_LINE, site_of);
    if (nsites == SIZE_MAX)
        goto out;
    out->sites = calloc(nsites, sizeof(*out->sites));
    no_series = calloc(nsites, sizeof(*no_series));
    if (ns >= 2)
        sums = calloc(nsites * ns, sizeof(*sums));
    if (!out->sites || !no_series || (ns >= 2 && !sums))
        goto out;
    out->n = nsites;
    for (size_t i = 0; i < n; i++) {
        const struct adv_alloc_stack *st = &a->stacks[i];
        size_t s = site_of[i];
        struct adv_alloc_site *site = &out->sites[s];
        enum adv_alloc_kind k = out->kinds[i];
        site->allocs_per_req += st->allocs_per_req;
        site->bytes_per_req += st->bytes_per_req;
        site->reallocs_per_req += st->reallocs_per_req;
        site->kind_allocs_per_req[k] += st->allocs_per_req;
        site->kind_bytes_per_req[k] += st->bytes_per_req;
        site->kind_reallocs_per_req[k] += st->reallocs_per_req;
        site->allocs += st->allocs;
        site->bytes += st->bytes;
        site->live_start_bytes += st->live_start_bytes;
        site->live_end_bytes += st->live_end_bytes;
        if (sums && st->live_series)
            for (size_t t = 0; t < ns; t++)
                sums[s * ns + t] += (double)st->live_series[t];
        else
            no_series[s] = true;
        rk[i] = (struct ranked){s, i, st->allocs_per_req, 0};
    }
    qsort(rk, n, sizeof(*rk), cmp_ranked);
    for (size_t j = 0; j < n; j++) {
        out->order[j] = rk[j].i;
        struct adv_alloc_site *site = &out->sites[rk[j].site];
        if (site->nstacks++ == 0) {
            site->stacks = &out->order[j];
            site->blame = a->stacks[rk[j].i].blame;
            site->blame.code = adv_frame_code(&site->blame);
        }
    }
    for (size_t s = 0; s < nsites; s++)
        out->sites[s].live_rising = sums && !no_series[s] ? rising_share(&sums[s * ns], ns) : -1;
    qsort(out->sites, nsites, sizeof(*out->sites), cmp_alloc_site);
    rc = LS_OK;
out:
    free(frames);
    free(site_of);
    free(rk);
    free(sums);
    free(no_series);
    if (rc != LS_OK)
        adv_alloc_sites_free(out);
    return rc;
}

void adv_alloc_sites_free(struct adv_alloc_sites *s)
{
    if (s == NULL)
        return;
    free(s->sites);
    free(s->kinds);
    free(s->order);
    memset(s, 0, sizeof(*s));
}

/* ---- event sites --------------------------------------------------------------- */

static int cmp_event_site(const void *x, const void *y)
{
    const struct adv_event_site *a = x, *b = y;
    if (a->share != b->share)
        return a->share > b->share ? -1 : 1;
    if (a->us_per_req != b->us_per_req)
        return a->us_per_req > b->us_per_req ? -1 : 1;
    int c = strcmp(adv_s(a->blame.file), adv_s(b->blame.file));
    if (c == 0 && a->blame.line != b->blame.line)
        c = a->blame.line < b->blame.line ? -1 : 1;
    return c ? c : strcmp(adv_s(a->blame.function), adv_s(b->blame.function));
}

ls_err adv_event_sites_build(const struct adv_event *ev, size_t n, enum adv_group_by by,
                             bool (*keep)(const struct adv_event *e), struct adv_event_sites *out)
{
    ls_err rc = LS_ERR_NOMEM;
    memset(out, 0, sizeof(*out));
    if (n == 0)
        return LS_OK;
    const struct adv_frame **frames = calloc(n, sizeof(*frames));
    size_t *idx = calloc(n, sizeof(*idx)), *site_of = calloc(n, sizeof(*site_of));
    struct ranked *rk = calloc(n, sizeof(*rk));
    out->order = calloc(n, sizeof(*out->order));
    if (!frames || !idx || !site_of || !rk || !out->order)
        goto out;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (keep == NULL || keep(&ev[i])) {
            idx[m] = i;
            frames[m++] = &ev[i].blame;
        }
    if (m == 0) {
        rc = LS_OK;
        goto out;
    }
    size_t nsites = adv_group(frames, m, by, site_of);
    if (nsites == SIZE_MAX)
        goto out;
    out->sites = calloc(nsites, sizeof(*out->sites));
    if (out->sites == NULL)
        goto out;
    out->n = nsites;
    for (size_t j = 0; j < m; j++) {
        const struct adv_event *e = &ev[idx[j]];
        struct adv_event_site *s = &out->sites[site_of[j]];
        s->count += e->count;
        s->per_req += e->per_req;
        s->us_per_req += e->us_per_req;
        s->share += e->share;
        rk[j] = (struct ranked){site_of[j], idx[j], e->share, e->us_per_req};
    }
    qsort(rk, m, sizeof(*rk), cmp_ranked);
    for (size_t j = 0; j < m; j++) {
        out->order[j] = rk[j].i;
        struct adv_event_site *s = &out->sites[rk[j].site];
        if (s->nstacks++ == 0) {
            s->stacks = &out->order[j];
            s->blame = ev[rk[j].i].blame;
            s->blame.code = adv_frame_code(&s->blame);
            s->call = ev[rk[j].i].call;
        }
    }
    qsort(out->sites, nsites, sizeof(*out->sites), cmp_event_site);
    rc = LS_OK;
out:
    free(frames);
    free(idx);
    free(site_of);
    free(rk);
    if (rc != LS_OK)
        adv_event_sites_free(out);
    return rc;
}

void adv_event_sites_free(struct adv_event_sites *s)
{
    if (s == NULL)
        return;
    free(s->sites);
    free(s->order);
    memset(s, 0, sizeof(*s));
}

/* ---- detail text --------------------------------------------------------------- */

#define DETAIL_STACKS 8

char *adv_detail(const char *const *stacks, const double *values, size_t n, size_t total,
                 const char *unit)
{
    struct adv_buf b = {0};
    size_t shown = 0;
    for (size_t i = 0; i < n && shown < DETAIL_STACKS; i++) {
        if (stacks[i] == NULL || !*stacks[i])
            continue;
        adv_buf_addf(&b, "%s%.2f %s\n%s", shown ? "\n\n" : "", values[i], unit, stacks[i]);
        shown++;
    }
    if (shown && total > n)
        adv_buf_addf(&b, "\n\n(%zu more stacks)", total - n);
    return adv_buf_take(&b);
}

char *adv_alloc_site_detail(const struct adv_facts *f, const struct adv_alloc_site *s)
{
    const char *st[DETAIL_STACKS];
    double v[DETAIL_STACKS];
    size_t k = s->nstacks < DETAIL_STACKS ? s->nstacks : DETAIL_STACKS;
    for (size_t i = 0; i < k; i++) {
        const struct adv_alloc_stack *a = &f->alloc.stacks[s->stacks[i]];
        st[i] = a->stack;
        v[i] = a->allocs_per_req;
    }
    return adv_detail(st, v, k, s->nstacks, "allocations per request");
}

char *adv_event_site_detail(const struct adv_event *ev, const struct adv_event_site *s,
                            const char *unit)
{
    const char *st[DETAIL_STACKS];
    double v[DETAIL_STACKS];
    size_t k = s->nstacks < DETAIL_STACKS ? s->nstacks : DETAIL_STACKS;
    for (size_t i = 0; i < k; i++) {
        st[i] = ev[s->stacks[i]].stack;
        v[i] = ev[s->stacks[i]].us_per_req;
    }
    return adv_detail(st, v, k, s->nstacks, unit);
}
