/*
 * findings_facts: struct adv_facts filled from loadscope's models, live and
 * from storage (see findings.h).
 *
 * One arithmetic for every source. A span's facts are the difference of two
 * cumulative states of the models, taken at its two ends (struct ff_cum):
 * the hot-path model ranked at `from` and at `to` (hotpaths_rank sums
 * seconds [0, upto)), the downstream model's operations after the seconds
 * before each end. The inside model is fed the span's own rows (its sites
 * are totals over what it was fed). The whole run is the difference against
 * an empty state, so the end of a run, its replay and the stored findings
 * agree. Latency comes from the live snapshot's histograms or the stored
 * summaries (the whole run, warm-up excluded as in the summary) and from
 * the stored intervals' histograms merged (a window).
 *
 * What the stored aggregates cannot say is left out rather than guessed:
 * the generator's CPU share (not stored: load.generator_saturated is not
 * measured), the wait before an AWS retry, which unprocessed keys were asked
 * for again (counted as followed), the peer of a DNS lookup.
 */
#include "findings.h"
#include "findings_int.h"

#include <stdlib.h>
#include <string.h>

#include "alloc/alloc_inside.h"
#include "alloc/hotpaths.h"
#include "downstream/ds_model.h"
#include "hotpaths_store.h"
#include "stats/hdr.h"
#include "stats/live.h"
#include "store_alloc_read.h"
#include "store_downstream.h"
#include "store_inside.h"
#include "store_read.h"

#define FF_SERIES_MAX 30 /* points of a stack's live-bytes series over a span */

struct findings_facts {
    struct adv_facts f;
    struct adv_step *steps;
    struct adv_alloc_stack *stacks;
    int64_t *series;
    struct adv_event *blocking, *locks, *creations;
    struct adv_peer *peers;
    struct adv_op *ops;
    char **strs; /* owned strings the facts point at */
    size_t nstrs, capstrs;
    struct ff_src *own;                    /* findings_facts_session's source */
    struct alloc_inside_model *own_inside; /* the span's inside rows: its sites' strings */
    struct ff_ds live_ds;                  /* the live downstream state the ops point into */
};

/* ---- small helpers ------------------------------------------------------------ */

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *n = realloc(*p, c * size);
    if (n == NULL)
        return false;
    *p = n;
    *cap = c;
    return true;
}

/* A copy of s kept by ff; NULL when out of memory. */
static const char *keep(struct findings_facts *ff, const char *s, size_t len)
{
    if (!grow((void **)&ff->strs, &ff->capstrs, ff->nstrs + 1, sizeof(*ff->strs)))
        return NULL;
    char *c = malloc(len + 1);
    if (c == NULL)
        return NULL;
    memcpy(c, s, len);
    c[len] = '\0';
    ff->strs[ff->nstrs++] = c;
    return c;
}

static void clear(struct findings_facts *ff)
{
    for (size_t i = 0; i < ff->nstrs; i++)
        free(ff->strs[i]);
    ff->nstrs = 0;
    free(ff->steps);
    free(ff->stacks);
    free(ff->series);
    free(ff->blocking);
    free(ff->locks);
    free(ff->creations);
    free(ff->peers);
    free(ff->ops);
    ff->steps = NULL;
    ff->stacks = NULL;
    ff->series = NULL;
    ff->blocking = ff->locks = ff->creations = NULL;
    ff->peers = NULL;
    ff->ops = NULL;
    alloc_inside_model_close(ff->own_inside);
    ff->own_inside = NULL;
    ff_ds_free(&ff->live_ds);
    memset(&ff->f, 0, sizeof(ff->f));
}

ls_err findings_facts_new(struct findings_facts **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? LS_OK : LS_ERR_NOMEM;
}

void findings_facts_free(struct findings_facts *ff)
{
    if (ff == NULL)
        return;
    clear(ff);
    free(ff->strs);
    ff_src_free(ff->own);
    free(ff);
}

const struct adv_facts *findings_facts_get(const struct findings_facts *ff)
{
    return &ff->f;
}

static double per(double v, uint64_t requests)
{
    return requests ? v / (double)requests : 0;
}

/*
 * "function (file:line)" into a frame whose strings ff keeps; a text
 * without " (" is a function alone. False when out of memory.
 */
static bool parse_blame(struct findings_facts *ff, const char *blame, struct adv_frame *fr)
{
    memset(fr, 0, sizeof(*fr));
    blame = blame ? blame : "";
    const char *open = NULL;
    for (const char *p = strstr(blame, " ("); p; p = strstr(p + 1, " ("))
        open = p;
    size_t len = strlen(blame);
    if (open == NULL || len < 2 || blame[len - 1] != ')') {
        fr->function = keep(ff, blame, len);
        fr->file = "";
        return fr->function != NULL;
    }
    fr->function = keep(ff, blame, (size_t)(open - blame));
    const char *file = open + 2, *end = blame + len - 1;
    const char *colon = NULL;
    for (const char *p = file; p < end; p++)
        if (*p == ':')
            colon = p;
    if (colon != NULL) {
        fr->line = (uint32_t)strtoul(colon + 1, NULL, 10);
        fr->file = keep(ff, file, (size_t)(colon - file));
    } else {
        fr->file = keep(ff, file, (size_t)(end - file));
    }
    return fr->function != NULL && fr->file != NULL;
}

/* ---- cumulative states ---------------------------------------------------------- */

void ff_cum_free(struct ff_cum *c)
{
    free(c->hot);
    memset(c, 0, sizeof(*c));
}

static int cmp_hot_key(const void *x, const void *y)
{
    const struct hotpath_row *a = x, *b = y;
    return a->key < b->key ? -1 : a->key > b->key;
}

ls_err ff_cum_take(struct hotpaths *hp, uint32_t upto, struct ff_cum *c)
{
    c->upto = upto;
    c->nhot = 0;
    memset(&c->tot, 0, sizeof(c->tot));
    if (hp == NULL || upto == 0)
        return LS_OK;
    for (;;) {
        size_t n = hotpaths_rank(hp, upto, ALLOC_BY_ALLOCS, c->hot, c->caphot, &c->tot);
        if (c->tot.paths <= c->caphot || n < c->caphot) {
            c->nhot = n;
            break;
        }
        size_t cap = (size_t)c->tot.paths + 16;
        struct hotpath_row *r = realloc(c->hot, cap * sizeof(*r));
        if (r == NULL)
            return LS_ERR_NOMEM;
        c->hot = r;
        c->caphot = cap;
    }
    if (c->nhot > 0) /* c->hot is NULL until a path exists (count mode keeps none) */
        qsort(c->hot, c->nhot, sizeof(*c->hot), cmp_hot_key);
    return LS_OK;
}

ls_err ff_lives_of(const struct ff_cum *c, struct ff_lives *l)
{
    if (!grow((void **)&l->v, &l->cap, c->nhot + 1, sizeof(*l->v)))
        return LS_ERR_NOMEM;
    for (size_t i = 0; i < c->nhot; i++)
        l->v[i] = (struct ff_live){c->hot[i].key, c->hot[i].live_bytes};
    l->n = c->nhot;
    return LS_OK;
}

/* A path's live bytes in l (0 when it had none yet). */
static int64_t live_in(const struct ff_lives *l, uint32_t key)
{
    size_t lo = 0, hi = l ? l->n : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->v[mid].key == key)
            return l->v[mid].live_bytes;
        if (l->v[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static const struct hotpath_row *cum_find(const struct ff_cum *c, uint32_t key)
{
    struct hotpath_row k = {.key = key};
    return c && c->nhot ? bsearch(&k, c->hot, c->nhot, sizeof(k), cmp_hot_key) : NULL;
}

/* ---- groups ------------------------------------------------------------------- */

/* "tokio-runtime-w x4, ..." -> 4: the runtime's workers in the busiest process. */
static uint32_t workers_of(const struct hotpaths_totals *t)
{
    uint32_t best = 0;
    for (size_t i = 0; t && i < t->nprocs; i++) {
        const char *p = strstr(t->procs[i].names, "tokio-runtime-w");
        if (p == NULL)
            continue;
        const char *x = strstr(p, " x");
        uint32_t n = x ? (uint32_t)strtoul(x + 2, NULL, 10) : 0;
        if (n > best)
            best = n;
    }
    return best;
}

/*
 * Allocation stacks over (from, to]: each stack's figures in to minus those
 * in from; live start is its live bytes at from. series (may be NULL) holds
 * nseries states between the two, oldest first, for the live-bytes series.
 */
static ls_err fill_alloc(struct findings_facts *ff, const struct ff_cum *from,
                         const struct ff_cum *to, const struct ff_lives *const *series,
                         size_t nseries, bool frees_seen)
{
    struct adv_alloc *a = &ff->f.alloc;
    uint64_t req = to->tot.requests - (from ? from->tot.requests : 0);
    ff->stacks = calloc(to->nhot ? to->nhot : 1, sizeof(*ff->stacks));
    if (nseries > 0)
        ff->series = calloc(to->nhot * nseries + 1, sizeof(*ff->series));
    if (ff->stacks == NULL || (nseries > 0 && ff->series == NULL))
        return LS_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < to->nhot; i++) {
        const struct hotpath_row *r = &to->hot[i];
        const struct hotpath_row *b = cum_find(from, r->key);
        uint64_t allocs = r->allocs - (b ? b->allocs : 0);
        uint64_t bytes = r->bytes - (b ? b->bytes : 0);
        uint64_t reallocs = r->reallocs - (b ? b->reallocs : 0);
        int64_t live0 = b ? b->live_bytes : 0;
        if (allocs == 0 && r->live_bytes == live0)
            continue;
        struct adv_alloc_stack *s = &ff->stacks[n];
        s->blame = (struct adv_frame){.function = r->blame_function,
                                      .file = r->blame_file,
                                      .line = r->blame_line,
                                      .code = ADV_CODE_AUTO};
        s->label = r->label;
        s->stack = r->stack;
        s->allocs = allocs;
        s->bytes = bytes;
        s->allocs_per_req = per((double)allocs, req);
        s->bytes_per_req = per((double)bytes, req);
        s->reallocs_per_req = per((double)reallocs, req);
        s->live_start_bytes = live0;
        s->live_end_bytes = r->live_bytes;
        if (nseries > 0) {
            int64_t *pt = ff->series + n * nseries;
            for (size_t k = 0; k < nseries; k++)
                pt[k] = live_in(series[k], r->key);
            s->live_series = pt;
        }
        n++;
    }
    a->measured = true;
    a->live_measured = frees_seen;
    a->allocs_per_req = per((double)(to->tot.allocs - (from ? from->tot.allocs : 0)), req);
    a->bytes_per_req = per((double)(to->tot.bytes - (from ? from->tot.bytes : 0)), req);
    a->stacks = ff->stacks;
    a->nstacks = n;
    a->nseries = nseries;
    return LS_OK;
}

/*
 * Blocking calls, lock waits, connections and thread creations from the
 * inside sites of exactly the span (n of them; their strings must outlive
 * the facts) and its totals. workers: the runtime's worker threads (0: not
 * known, shares then over one worker's time).
 */
static ls_err fill_inside(struct findings_facts *ff, const struct alloc_inside_site *sites,
                          size_t n, const struct alloc_inside_totals *tot, uint64_t requests,
                          double span_s, uint32_t workers)
{
    ls_err e = LS_ERR_NOMEM;
    ff->blocking = calloc(n + 1, sizeof(*ff->blocking));
    ff->locks = calloc(n + 1, sizeof(*ff->locks));
    ff->creations = calloc(n + 1, sizeof(*ff->creations));
    ff->peers = calloc(n + 1, sizeof(*ff->peers));
    if (!ff->blocking || !ff->locks || !ff->creations || !ff->peers)
        return e;
    double worker_us = span_s * 1e6 * (workers ? workers : 1);
    size_t nb = 0, nl = 0, nc = 0, np = 0;
    uint64_t threads = 0;
    for (size_t i = 0; i < n; i++) {
        const struct alloc_inside_site *s = &sites[i];
        struct adv_event *ev = NULL;
        if (alloc_inside_blocking(s->kind, s->worker))
            ev = &ff->blocking[nb++];
        else if (s->kind == ALLOC_IN_LOCK_WAIT)
            ev = &ff->locks[nl++];
        else if (s->kind == ALLOC_IN_THREAD) {
            ev = &ff->creations[nc++];
            threads += s->count;
        } else if (s->kind == ALLOC_IN_CONNECT) {
            size_t k = 0;
            while (k < np && strcmp(ff->peers[k].peer, s->target) != 0)
                k++;
            if (k == np)
                ff->peers[np++] = (struct adv_peer){.peer = s->target, .service = ""};
            ff->peers[k].new_conns += s->count - s->failed;
            continue;
        } else {
            continue;
        }
        if (!parse_blame(ff, s->blame, &ev->blame))
            return e;
        ev->call = alloc_inside_kind_name(s->kind);
        ev->stack = s->stack;
        ev->count = s->count;
        ev->per_req = per((double)s->count, requests);
        ev->us_per_req = per((double)s->time_ns / 1e3, requests);
        ev->share = worker_us > 0 ? (double)s->time_ns / 1e3 / worker_us : 0;
    }
    for (size_t k = 0; k < np; k++)
        ff->peers[k].new_conns_per_req = per((double)ff->peers[k].new_conns, requests);
    struct adv_facts *f = &ff->f;
    f->blocking = (struct adv_events){.measured = true, .ev = ff->blocking, .n = nb};
    f->locks = (struct adv_events){.measured = true, .ev = ff->locks, .n = nl};
    f->net = (struct adv_net){.measured = true, .peers = ff->peers, .npeers = np};
    f->threads.measured = true;
    f->threads.creations_per_req = per((double)threads, requests);
    f->threads.creations = ff->creations;
    f->threads.ncreations = nc;
    /* busy and parked only when the workers are known and their parking was timed */
    uint64_t park_ns = tot->worker_time_ns[ALLOC_IN_PARK];
    if (workers > 0 && park_ns > 0 && span_s > 0) {
        double parked = (double)park_ns / 1e9 / (span_s * workers);
        parked = parked > 1 ? 1 : parked;
        f->threads.workers = workers;
        f->threads.parked_share = parked;
        f->threads.busy_share = 1 - parked;
    }
    return LS_OK;
}

/* The sites of an inside model (the caller frees *out). */
static ls_err model_sites(const struct alloc_inside_model *m, struct alloc_inside_site **out,
                          size_t *n)
{
    size_t total = alloc_inside_model_sites(m, NULL, 0);
    *out = calloc(total + 1, sizeof(**out));
    if (*out == NULL)
        return LS_ERR_NOMEM;
    *n = alloc_inside_model_sites(m, *out, total);
    if (*n > total)
        *n = total;
    return LS_OK;
}

/* The live tracer's inside sites (the caller frees *out). */
static ls_err live_sites(struct alloc *a, struct alloc_inside_site **out, size_t *n)
{
    *out = NULL;
    for (size_t cap = 256;; cap *= 2) {
        struct alloc_inside_site *v = realloc(*out, cap * sizeof(*v));
        if (v == NULL)
            return LS_ERR_NOMEM;
        *out = v;
        *n = alloc_inside_snapshot(a, v, cap);
        if (*n < cap)
            return LS_OK;
    }
}

/* Downstream operations over (from, to]: each operation's counts in to minus those in from. */
static ls_err fill_ds(struct findings_facts *ff, const struct ff_ds *from, const struct ff_ds *to,
                      uint64_t requests)
{
    ff->ops = calloc(to->nops + 1, sizeof(*ff->ops));
    if (ff->ops == NULL)
        return LS_ERR_NOMEM;
    size_t n = 0;
    for (size_t i = 0; i < to->nops; i++) {
        const struct ds_op_view *o = &to->ops[i], *b = NULL;
        for (size_t k = 0; from && k < from->nops && !b; k++)
            if (from->ops[k].service == o->service && strcmp(from->ops[k].op, o->op) == 0)
                b = &from->ops[k];
        uint64_t calls = o->calls - (b ? b->calls : 0);
        if (calls == 0)
            continue;
        uint64_t retries = o->retries - (b ? b->retries : 0);
        uint64_t asked = o->batch_asked - (b ? b->batch_asked : 0);
        uint64_t unproc = o->batch_unprocessed - (b ? b->batch_unprocessed : 0);
        uint64_t conns = o->new_conns - (b ? b->new_conns : 0);
        uint64_t inv = calls > retries ? calls - retries : calls;
        double time_us = 0;
        for (size_t k = 0; k < to->nsteps; k++) {
            const struct ds_step_view *s = &to->steps[k];
            if (s->service == o->service && strcmp(s->op, o->op) == 0)
                time_us += s->time_per_request_us * (double)s->requests;
        }
        for (size_t k = 0; from && k < from->nsteps; k++) {
            const struct ds_step_view *s = &from->steps[k];
            if (s->service == o->service && strcmp(s->op, o->op) == 0)
                time_us -= s->time_per_request_us * (double)s->requests;
        }
        struct adv_op *a = &ff->ops[n++];
        *a = (struct adv_op){
            .service = o->service == AWS_S3 ? "s3" : "dynamodb",
            .operation = o->op,
            .step = "",
            .calls = inv,
            .attempts = calls,
            .throttles = o->throttles - (b ? b->throttles : 0),
            .calls_per_req = per((double)inv, requests),
            .keys_per_call = ds_op_is_batch(o->op) ? (double)asked / (double)inv : 1,
            .unprocessed = unproc,
            .unprocessed_followed = unproc, /* not told apart by the stored aggregates */
            .p50_us = (double)o->p50_us,
            .p99_us = (double)o->p99_us,
            .us_per_req = per(time_us > 0 ? time_us : 0, requests),
            .conns_measured = true,
            .new_conns_per_call = (double)conns / (double)inv,
        };
    }
    ff->f.ds = (struct adv_downstream){.measured = true, .ops = ff->ops, .nops = n};
    return LS_OK;
}

/* Percentiles of a pair of histograms into the latency group's all-steps figures. */
static void lat_from_hdr(struct adv_latency *l, const struct hdr *c, const struct hdr *u)
{
    l->measured = c != NULL && hdr_total_count(c) > 0;
    if (!l->measured)
        return;
    l->p50_us = (double)hdr_value_at_percentile(c, 50);
    l->p99_us = (double)hdr_value_at_percentile(c, 99);
    if (u != NULL && hdr_total_count(u) > 0) {
        l->u_p50_us = (double)hdr_value_at_percentile(u, 50);
        l->u_p99_us = (double)hdr_value_at_percentile(u, 99);
    } else {
        l->u_p50_us = l->p50_us;
        l->u_p99_us = l->p99_us;
    }
}

/* ---- the stored session -------------------------------------------------------- */

void ff_src_free(struct ff_src *s)
{
    if (s == NULL)
        return;
    hotpaths_close(s->hp);
    for (size_t i = 0; i < s->nsec; i++) {
        free(s->sec[i].hist);
        free(s->sec[i].u_hist);
    }
    free(s->sec);
    for (size_t i = 0; i < s->nin; i++) {
        free(s->in[i].target);
        free(s->in[i].blame);
        free(s->in[i].frames);
    }
    free(s->in);
    for (size_t i = 0; i < s->nds; i++)
        ff_ds_free(&s->ds[i]);
    free(s->ds);
    ds_model_close(s->dsm);
    for (size_t i = 0; i < s->nsteps; i++)
        free(s->step_names[i]);
    free(s->step_names);
    free(s->step_sum);
    store_session_clear(&s->session);
    free(s);
}

/* The number after "key": in a flat JSON object; 0 when absent. */
static double param_num(const char *js, const char *key)
{
    char k[64];
    snprintf(k, sizeof(k), "\"%s\":", key);
    const char *p = js ? strstr(js, k) : NULL;
    return p ? strtod(p + strlen(k), NULL) : 0;
}

static ff_sec_t *sec_at(struct ff_src *s, uint32_t second)
{
    if (second >= s->nsec) {
        size_t cap = s->capsec;
        if (!grow((void **)&s->sec, &cap, (size_t)second + 1, sizeof(*s->sec)))
            return NULL;
        memset(s->sec + s->nsec, 0, ((size_t)second + 1 - s->nsec) * sizeof(*s->sec));
        s->capsec = cap;
        s->nsec = (size_t)second + 1;
    }
    return &s->sec[second];
}

static int on_interval(void *ctx, const struct store_interval *iv)
{
    struct ff_src *s = ctx;
    if (iv->step != -1 && iv->step != (int32_t)s->nsteps)
        return 0;
    ff_sec_t *x = sec_at(s, iv->second);
    if (x == NULL) {
        s->err = LS_ERR_NOMEM;
        return 1;
    }
    if (iv->step != -1) { /* the handshake */
        x->handshakes += iv->count;
        x->hs_us += (double)iv->count * iv->u_mean_us;
        return 0;
    }
    x->requests = iv->count;
    x->req_us = (double)iv->count * iv->u_mean_us;
    x->has_latency = iv->count > 0;
    if (iv->hist_len > 0) {
        x->hist = malloc(iv->hist_len);
        if (x->hist == NULL) {
            s->err = LS_ERR_NOMEM;
            return 1;
        }
        memcpy(x->hist, iv->hist, iv->hist_len);
        x->hist_len = iv->hist_len;
    }
    if (iv->u_hist_len > 0) {
        x->u_hist = malloc(iv->u_hist_len);
        if (x->u_hist == NULL) {
            s->err = LS_ERR_NOMEM;
            return 1;
        }
        memcpy(x->u_hist, iv->u_hist, iv->u_hist_len);
        x->u_hist_len = iv->u_hist_len;
    }
    return 0;
}

static int on_step(void *ctx, const struct store_step *st)
{
    struct ff_src *s = ctx;
    if (strcmp(st->method ? st->method : "", "initialize") == 0 && st->weight == 0)
        return 0; /* the handshake's row */
    size_t cap = s->nsteps;
    if (!grow((void **)&s->step_names, &cap, s->nsteps + 1, sizeof(*s->step_names))) {
        s->err = LS_ERR_NOMEM;
        return 1;
    }
    s->step_names[s->nsteps] = strdup(st->name ? st->name : "");
    if (s->step_names[s->nsteps] == NULL) {
        s->err = LS_ERR_NOMEM;
        return 1;
    }
    s->nsteps++;
    return 0;
}

static int on_summary(void *ctx, const struct store_summary *sm)
{
    struct ff_src *s = ctx;
    if (sm->step == -1) {
        s->all_sum = *sm;
        s->has_sum = true;
    } else if (sm->step >= 0 && (size_t)sm->step < s->nsteps) {
        s->step_sum[sm->step] = *sm;
    } else if (sm->step == (int32_t)s->nsteps) {
        s->hs_sum = *sm;
    }
    return 0;
}

static int on_inside(void *ctx, const struct store_inside_row *r)
{
    struct ff_src *s = ctx;
    if (!grow((void **)&s->in, &s->capin, s->nin + 1, sizeof(*s->in))) {
        s->err = LS_ERR_NOMEM;
        return 1;
    }
    struct ff_in *x = &s->in[s->nin];
    *x = (struct ff_in){.second = r->second,
                        .row = {.kind = r->kind,
                                .worker = r->worker,
                                .key = (uint32_t)r->stack_key,
                                .pid = (int)r->pid,
                                .count = r->count,
                                .failed = r->failed,
                                .time_ns = r->time_ns},
                        .target = strdup(r->target ? r->target : ""),
                        .blame = strdup(r->blame ? r->blame : ""),
                        .frames = strdup(r->frames ? r->frames : "")};
    s->nin++;
    if (!x->target || !x->blame || !x->frames) {
        s->err = LS_ERR_NOMEM;
        return 1;
    }
    return 0;
}

/* Copies the downstream model's state after each stored second. */
static int on_ds_second(void *ctx, const struct ds_second *sec)
{
    struct ff_src *s = ctx;
    ds_model_add_second(s->dsm, sec);
    if (!grow((void **)&s->ds, &s->capds, s->nds + 1, sizeof(*s->ds))) {
        s->err = LS_ERR_NOMEM;
        return 1;
    }
    struct ff_ds *d = &s->ds[s->nds];
    memset(d, 0, sizeof(*d));
    d->upto = sec->second + 1;
    s->nds++;
    s->err = ff_ds_take(s->dsm, d);
    return s->err != LS_OK;
}

ls_err ff_ds_take(struct ds_model *m, struct ff_ds *d)
{
    d->ops = calloc(DS_MODEL_OPS_MAX + 1, sizeof(*d->ops));
    if (d->ops == NULL)
        return LS_ERR_NOMEM;
    d->nops = ds_model_ops(m, d->ops, DS_MODEL_OPS_MAX + 1);
    for (size_t cap = 64;; cap *= 2) {
        struct ds_step_view *v = realloc(d->steps, cap * sizeof(*v));
        if (v == NULL)
            return LS_ERR_NOMEM;
        d->steps = v;
        d->nsteps = ds_model_steps(m, v, cap);
        if (d->nsteps < cap)
            return LS_OK;
    }
}

void ff_ds_free(struct ff_ds *d)
{
    free(d->ops);
    free(d->steps);
    memset(d, 0, sizeof(*d));
}

const struct ff_ds *ff_ds_at(const struct ff_src *s, uint32_t upto)
{
    const struct ff_ds *best = NULL;
    for (size_t i = 0; i < s->nds && s->ds[i].upto <= upto; i++)
        best = &s->ds[i];
    return best;
}

ls_err ff_src_load(struct store *st, int64_t session, struct ff_src **out, char *err, size_t errcap)
{
    *out = NULL;
    struct ff_src *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return LS_ERR_NOMEM;
    ls_err e = store_session_get(st, session, &s->session);
    if (e != LS_OK) {
        snprintf(err, errcap, e == LS_ERR_NOTFOUND ? "no session %lld" : "reading session %lld: %s",
                 (long long)session, store_errmsg(st));
        goto out;
    }
    const char *pj = s->session.params_json;
    s->open_loop = pj && strstr(pj, "\"model\":\"open\"");
    s->concurrency = (uint32_t)param_num(pj, s->open_loop ? "max_in_flight" : "concurrency");
    s->per_iteration = pj && strstr(pj, "\"session\":\"per_iteration\"");
    e = store_steps_each(st, session, on_step, s);
    if (e == LS_OK)
        e = s->err;
    s->step_sum = calloc(s->nsteps + 1, sizeof(*s->step_sum));
    if (e == LS_OK && s->step_sum == NULL)
        e = LS_ERR_NOMEM;
    if (e == LS_OK)
        e = store_summaries_each(st, session, on_summary, s);
    if (e == LS_OK)
        e = store_intervals_each(st, session, INT32_MIN, on_interval, s);
    if (e == LS_OK)
        e = s->err;
    if (e != LS_OK) {
        snprintf(err, errcap, "reading the run of session %lld: %s", (long long)session,
                 e == LS_ERR_NOMEM ? "out of memory" : store_errmsg(st));
        goto out;
    }
    struct store_alloc_info ai;
    e = store_alloc_info(st, session, &ai);
    if (e == LS_OK && ai.stacks > 0) {
        s->frees_seen = strcmp(ai.mode, "count") != 0;
        e = hotpaths_load(st, session, &s->hp, err, errcap);
    }
    if (e == LS_OK && ai.processes > 0) {
        s->traced = true;
        e = store_inside_each(st, session, on_inside, s);
        if (e == LS_OK)
            e = s->err;
    }
    if (e != LS_OK) {
        snprintf(err, errcap, "reading the allocation profile of session %lld: %s",
                 (long long)session, e == LS_ERR_NOMEM ? "out of memory" : store_errmsg(st));
        goto out;
    }
    e = ds_model_open(&s->dsm);
    if (e == LS_OK)
        e = store_downstream_seconds_each(st, session, on_ds_second, s);
    if (e == LS_OK)
        e = s->err;
    if (e != LS_OK) {
        snprintf(err, errcap, "reading the downstream calls of session %lld: %s",
                 (long long)session, e == LS_ERR_NOMEM ? "out of memory" : store_errmsg(st));
        goto out;
    }
    s->seconds = (uint32_t)s->nsec;
    if (s->hp && hotpaths_seconds(s->hp) > s->seconds)
        s->seconds = hotpaths_seconds(s->hp);
    *out = s;
    s = NULL;
out:
    ff_src_free(s);
    return e;
}

/* Merges the all-steps histograms of seconds [from, to) into the latency group. */
static ls_err lat_window(struct findings_facts *ff, const struct ff_src *s, uint32_t from,
                         uint32_t to)
{
    struct hdr *c = NULL, *u = NULL;
    ls_err e = hdr_open_latency(&c);
    if (e == LS_OK)
        e = hdr_open_latency(&u);
    for (uint32_t i = from; e == LS_OK && i < to && i < s->nsec; i++) {
        const ff_sec_t *x = &s->sec[i];
        /* a damaged histogram leaves its second out */
        if (x->hist_len > 0 && hdr_decode_add(c, x->hist, x->hist_len) != LS_OK)
            continue;
        if (x->u_hist_len > 0 && hdr_decode_add(u, x->u_hist, x->u_hist_len) != LS_OK)
            continue;
    }
    if (e == LS_OK)
        lat_from_hdr(&ff->f.lat, c, u);
    hdr_close(c);
    hdr_close(u);
    return e;
}

/* The whole run's latency: the stored summaries (warm-up excluded), per step too. */
static ls_err lat_summary(struct findings_facts *ff, const struct ff_src *s)
{
    struct adv_latency *l = &ff->f.lat;
    const struct store_summary *a = &s->all_sum;
    if (!s->has_sum || a->count == 0)
        return lat_window(ff, s, 0, UINT32_MAX);
    l->measured = true;
    l->p50_us = (double)a->p50_us;
    l->p99_us = (double)a->p99_us;
    l->u_p50_us = (double)a->u_p50_us;
    l->u_p99_us = (double)a->u_p99_us;
    ff->steps = calloc(s->nsteps + 1, sizeof(*ff->steps));
    if (ff->steps == NULL)
        return LS_ERR_NOMEM;
    for (size_t i = 0; i < s->nsteps; i++) {
        const struct store_summary *m = &s->step_sum[i];
        ff->steps[i] = (struct adv_step){.name = s->step_names[i],
                                         .requests = m->count,
                                         .p50_us = (double)m->p50_us,
                                         .p99_us = (double)m->p99_us,
                                         .u_p50_us = (double)m->u_p50_us,
                                         .u_p99_us = (double)m->u_p99_us};
    }
    l->steps = ff->steps;
    l->nsteps = s->nsteps;
    return LS_OK;
}

ls_err ff_build(struct findings_facts *ff, const struct ff_src *s, uint32_t from, uint32_t to,
                const struct ff_cum *cfrom, const struct ff_cum *cto,
                const struct ff_lives *const *series, size_t nseries)
{
    clear(ff);
    if (to > s->seconds)
        to = s->seconds;
    if (from > to)
        from = to;
    bool whole = from == 0 && to == s->seconds;
    struct adv_facts *f = &ff->f;
    uint64_t req = 0, hs = 0;
    double req_us = 0, hs_us = 0;
    for (uint32_t i = from; i < to && i < s->nsec; i++) {
        req += s->sec[i].requests;
        req_us += s->sec[i].req_us;
        hs += s->sec[i].handshakes;
        hs_us += s->sec[i].hs_us;
    }
    f->run = (struct adv_run){.measured = s->nsec > 0,
                              .requests = req,
                              .duration_s = (double)(to - from),
                              .concurrency = s->concurrency,
                              .open_loop = s->open_loop};
    f->mcp = (struct adv_mcp){.measured = s->nsec > 0,
                              .handshakes = hs,
                              .handshake_share = hs_us + req_us > 0 ? hs_us / (hs_us + req_us) : 0,
                              .session_per_iteration = s->per_iteration};
    if (whole && s->has_sum && s->all_sum.count > 0) {
        /* as the live model: the measured seconds' steps (warm-up excluded) */
        const struct store_summary *a = &s->all_sum, *h = &s->hs_sum;
        double a_us = (double)a->count * a->u_mean_us, h_us = (double)h->count * h->u_mean_us;
        f->mcp.handshakes = h->count;
        f->mcp.handshake_share = a_us + h_us > 0 ? h_us / (a_us + h_us) : 0;
    }
    ls_err e = whole ? lat_summary(ff, s) : lat_window(ff, s, from, to);
    if (e != LS_OK)
        return e;
    uint32_t workers = 0;
    if (s->hp != NULL && cto != NULL) {
        workers = workers_of(&cto->tot);
        e = fill_alloc(ff, cfrom, cto, series, nseries, s->frees_seen);
        if (e != LS_OK)
            return e;
    }
    if (s->traced) {
        struct alloc_inside_model *m = NULL;
        e = alloc_inside_model_open(&m);
        size_t lo = 0, hi = s->nin; /* rows are by second: the first of the span */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (s->in[mid].second < from)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t i = lo; e == LS_OK && i < s->nin && s->in[i].second < to; i++) {
            const struct ff_in *x = &s->in[i];
            struct alloc_inside_row r = x->row;
            r.target = x->target;
            e = alloc_inside_model_add(m, x->second, &r, x->blame, x->frames);
        }
        for (uint32_t i = from; e == LS_OK && i < to && i < s->nsec; i++)
            alloc_inside_model_requests(m, i, s->sec[i].requests);
        struct alloc_inside_site *sites = NULL;
        size_t n = 0;
        struct alloc_inside_totals tot;
        alloc_inside_model_totals(m, 0, UINT32_MAX, &tot);
        if (e == LS_OK)
            e = model_sites(m, &sites, &n);
        if (e == LS_OK)
            e = fill_inside(ff, sites, n, &tot, req, (double)(to - from), workers);
        free(sites);
        if (e == LS_OK)
            ff->own_inside = m; /* the sites' strings live in it */
        else
            alloc_inside_model_close(m);
        if (e != LS_OK)
            return e;
    }
    if (s->nds > 0) {
        const struct ff_ds *dt = ff_ds_at(s, to), *df = from ? ff_ds_at(s, from) : NULL;
        if (dt != NULL) {
            e = fill_ds(ff, df, dt, req);
            if (e != LS_OK)
                return e;
        }
    }
    return LS_OK;
}

/*
 * The paths' live bytes at k points of hp evenly from `from` to `to` (both
 * included), ascending so the model sums forward, into *out (the caller
 * frees it with free_series); the full states at from and to into cfrom
 * and cto.
 */
static ls_err take_series(struct hotpaths *hp, uint32_t from, uint32_t to, struct ff_cum *cfrom,
                          struct ff_cum *cto, struct ff_lives **out, size_t *n)
{
    size_t k = (size_t)(to - from) + 1;
    if (k > FF_SERIES_MAX)
        k = FF_SERIES_MAX;
    *out = calloc(k, sizeof(**out));
    *n = 0;
    if (*out == NULL)
        return LS_ERR_NOMEM;
    ls_err e = ff_cum_take(hp, from, cfrom);
    struct ff_cum scratch = {0};
    for (size_t i = 0; e == LS_OK && i < k; i++) {
        uint32_t at = k == 1 ? to : from + (uint32_t)((uint64_t)(to - from) * i / (k - 1));
        e = ff_cum_take(hp, at, &scratch);
        if (e == LS_OK)
            e = ff_lives_of(&scratch, &(*out)[i]);
        *n = i + 1;
    }
    ff_cum_free(&scratch);
    if (e == LS_OK)
        e = ff_cum_take(hp, to, cto);
    return e;
}

static void free_series(struct ff_lives *l, size_t n)
{
    for (size_t i = 0; l && i < n; i++)
        free(l[i].v);
    free(l);
}

/* Builds from s over [from, to), taking the hot-path states it needs. */
static ls_err build_span(struct findings_facts *ff, const struct ff_src *s, uint32_t from,
                         uint32_t to)
{
    struct ff_lives *ser = NULL;
    struct ff_cum cfrom = {0}, cto = {0};
    size_t n = 0;
    const struct ff_lives **pts = NULL;
    ls_err e = LS_OK;
    if (s->hp != NULL) {
        e = take_series(s->hp, from, to, &cfrom, &cto, &ser, &n);
        pts = calloc(n + 1, sizeof(*pts));
        if (e == LS_OK && pts == NULL)
            e = LS_ERR_NOMEM;
        for (size_t i = 0; e == LS_OK && i < n; i++)
            pts[i] = &ser[i];
    }
    if (e == LS_OK)
        e = ff_build(ff, s, from, to, from > 0 ? &cfrom : NULL, s->hp ? &cto : NULL, pts, n);
    free(pts);
    free_series(ser, n);
    ff_cum_free(&cfrom);
    ff_cum_free(&cto);
    return e;
}

ls_err findings_facts_session(struct findings_facts *ff, struct store *st, int64_t session,
                              struct findings_window w, char *err, size_t errcap)
{
    clear(ff);
    ff_src_free(ff->own);
    ff->own = NULL;
    ls_err e = ff_src_load(st, session, &ff->own, err, errcap);
    if (e != LS_OK)
        return e;
    uint32_t to = w.to < ff->own->seconds ? w.to : ff->own->seconds;
    uint32_t from = w.from < to ? w.from : to;
    e = build_span(ff, ff->own, from, to);
    if (e == LS_ERR_NOMEM)
        snprintf(err, errcap, "out of memory");
    return e;
}

ls_err findings_facts_build(struct findings_facts *ff, const struct ff_src *s, uint32_t from,
                            uint32_t to)
{
    return build_span(ff, s, from, to);
}

ls_err findings_facts_live(struct findings_facts *ff, const struct findings_live *src)
{
    clear(ff);
    struct adv_facts *f = &ff->f;
    const struct live_snapshot *sn = src->snap;
    uint64_t req = 0;
    uint32_t upto = sn ? sn->seconds_closed : 0;
    for (size_t i = 0; sn && i < sn->nhistory; i++)
        req += sn->history[i].count;
    f->run = (struct adv_run){.measured = sn != NULL && upto > 0,
                              .requests = req,
                              .duration_s = upto,
                              .concurrency = src->concurrency,
                              .open_loop = src->open_loop,
                              .cores = src->cores};
    size_t nsteps = sn && sn->nsteps_total >= 2 ? sn->nsteps_total - 2 : 0;
    ls_err e = LS_OK;
    if (sn != NULL && sn->nsteps_total >= 2) {
        const struct live_step *all = &sn->steps[nsteps + 1], *hs = &sn->steps[nsteps];
        lat_from_hdr(&f->lat, all->corrected, all->uncorrected);
        ff->steps = calloc(nsteps + 1, sizeof(*ff->steps));
        if (ff->steps == NULL)
            return LS_ERR_NOMEM;
        for (size_t i = 0; i < nsteps; i++) {
            const struct live_step *x = &sn->steps[i];
            struct adv_latency one = {0};
            lat_from_hdr(&one, x->corrected, x->uncorrected);
            ff->steps[i] = (struct adv_step){.name = x->name,
                                             .requests = x->count,
                                             .p50_us = one.p50_us,
                                             .p99_us = one.p99_us,
                                             .u_p50_us = one.u_p50_us,
                                             .u_p99_us = one.u_p99_us};
        }
        f->lat.steps = ff->steps;
        f->lat.nsteps = nsteps;
        double a_us = all->uncorrected ? (double)all->count * hdr_mean(all->uncorrected) : 0;
        double h_us = hs->uncorrected ? (double)hs->count * hdr_mean(hs->uncorrected) : 0;
        f->mcp = (struct adv_mcp){.measured = true,
                                  .handshakes = hs->count,
                                  .handshake_share = a_us + h_us > 0 ? h_us / (a_us + h_us) : 0,
                                  .session_per_iteration = src->session_per_iteration};
    }
    uint32_t workers = 0;
    if (src->hot != NULL) {
        uint32_t hup = hotpaths_seconds(src->hot);
        struct ff_lives *ser = NULL;
        struct ff_cum c0 = {0}, cto = {0};
        size_t n = 0;
        const struct ff_lives **pts = NULL;
        e = take_series(src->hot, 0, hup, &c0, &cto, &ser, &n);
        pts = calloc(n + 1, sizeof(*pts));
        if (e == LS_OK && pts == NULL)
            e = LS_ERR_NOMEM;
        for (size_t i = 0; e == LS_OK && i < n; i++)
            pts[i] = &ser[i];
        if (e == LS_OK) {
            workers = workers_of(&cto.tot);
            e = fill_alloc(ff, NULL, &cto, pts, n, src->frees_seen);
        }
        free(pts);
        free_series(ser, n);
        ff_cum_free(&c0);
        ff_cum_free(&cto);
        if (e != LS_OK)
            return e;
    }
    if (src->alloc != NULL || src->inside != NULL) {
        struct alloc_inside_site *sites = NULL;
        size_t n = 0;
        struct alloc_inside_totals tot;
        if (src->alloc != NULL) {
            alloc_inside_totals(src->alloc, 0, UINT32_MAX, &tot);
            e = live_sites(src->alloc, &sites, &n);
        } else {
            alloc_inside_model_totals(src->inside, 0, UINT32_MAX, &tot);
            e = model_sites(src->inside, &sites, &n);
        }
        if (e == LS_OK)
            e = fill_inside(ff, sites, n, &tot, req, upto, workers);
        free(sites);
        if (e != LS_OK)
            return e;
    }
    if (src->ds != NULL) {
        e = ff_ds_take(src->ds, &ff->live_ds);
        if (e == LS_OK)
            e = fill_ds(ff, NULL, &ff->live_ds, req);
    }
    return e;
}
