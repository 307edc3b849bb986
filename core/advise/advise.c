/*
 * advise: facts in, ranked findings out. Owns the run of the rule table
 * (the families' rows in order), the not-measured list, emitting, ranking
 * (severity, then impact x confidence, then rule id and where, so equal
 * facts always give the same order), the report's memory and the text
 * rendering for the headless summary. Calls libc, sites.c and the rules_*.c
 * tables.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "advise/advise_int.h"

/* ---- the rule table ---------------------------------------------------------- */

static const struct {
    const struct adv_rule *rows;
    const size_t *n;
} families[] = {
    {adv_rules_load, &adv_rules_load_n},
    {adv_rules_aws, &adv_rules_aws_n},
    {adv_rules_runtime, &adv_rules_runtime_n},
    {adv_rules_alloc, &adv_rules_alloc_n},
};
#define NFAMILIES (sizeof(families) / sizeof(families[0]))

static const struct adv_rule *rule_at(size_t i)
{
    for (size_t k = 0; k < NFAMILIES; k++) {
        if (i < *families[k].n)
            return &families[k].rows[i];
        i -= *families[k].n;
    }
    return NULL;
}

size_t adv_rule_count(void)
{
    size_t n = 0;
    for (size_t k = 0; k < NFAMILIES; k++)
        n += *families[k].n;
    return n;
}

const char *adv_rule_id(size_t i)
{
    const struct adv_rule *r = rule_at(i);
    return r ? r->id : NULL;
}

const char *adv_rule_fix(const char *id)
{
    for (size_t i = 0; id && rule_at(i); i++)
        if (strcmp(rule_at(i)->id, id) == 0)
            return rule_at(i)->fix;
    return NULL;
}

const char *adv_severity_name(enum adv_severity s)
{
    switch (s) {
    case ADV_CRITICAL:
        return "critical";
    case ADV_WARNING:
        return "warning";
    case ADV_INFO:
        break;
    }
    return "info";
}

int adv_input_names(uint32_t mask, char *buf, size_t cap)
{
    static const char *const names[ADV_IN__COUNT] = {
        "run",
        "generator CPU and late sends",
        "latency",
        "MCP sessions",
        "downstream calls",
        "connections and DNS",
        "runtime threads",
        "blocking calls",
        "lock waits",
        "CPU profile",
        "allocation stacks",
        "live bytes",
    };
    size_t len = 0;
    if (cap)
        buf[0] = '\0';
    for (unsigned i = 0; i < ADV_IN__COUNT; i++) {
        if (!(mask & (1u << i)))
            continue;
        size_t pos = len < cap ? len : cap;
        int w = snprintf(buf + pos, cap - pos, "%s%s", len ? ", " : "", names[i]);
        if (w > 0)
            len += (size_t)w;
    }
    return (int)len;
}

/* ---- helpers the rules share ---------------------------------------------------- */

const char *adv_s(const char *s)
{
    return s ? s : "";
}

const char *adv_base(const char *path)
{
    const char *s = strrchr(adv_s(path), '/');
    return s ? s + 1 : adv_s(path);
}

double adv_clamp01(double x)
{
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

char *adv_strf(const char *fmt, ...)
{
    va_list ap, aq;
    va_start(ap, fmt);
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, aq);
    va_end(aq);
    return s;
}

void adv_buf_addf(struct adv_buf *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    va_list ap, aq;
    va_start(ap, fmt);
    va_copy(aq, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = true;
        goto out;
    }
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t nc = (b->len + (size_t)n + 1) * 2;
        char *p = realloc(b->p, nc);
        if (p == NULL) {
            b->oom = true;
            goto out;
        }
        b->p = p;
        b->cap = nc;
    }
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, aq);
    b->len += (size_t)n;
out:
    va_end(aq);
}

char *adv_buf_take(struct adv_buf *b)
{
    char *p = b->p;
    if (b->oom) {
        free(p);
        p = NULL;
    } else if (p == NULL) {
        p = calloc(1, 1);
    }
    memset(b, 0, sizeof(*b));
    return p;
}

void adv_fmt_us(char *buf, size_t cap, double us)
{
    if (us < 1000)
        snprintf(buf, cap, "%.0f us", us);
    else if (us < 1e6)
        snprintf(buf, cap, "%.2f ms", us / 1e3);
    else
        snprintf(buf, cap, "%.2f s", us / 1e6);
}

void adv_fmt_bytes(char *buf, size_t cap, double bytes)
{
    if (bytes < 1024)
        snprintf(buf, cap, "%.0f B", bytes);
    else if (bytes < 1024.0 * 1024)
        snprintf(buf, cap, "%.1f KiB", bytes / 1024);
    else if (bytes < 1024.0 * 1024 * 1024)
        snprintf(buf, cap, "%.2f MiB", bytes / (1024.0 * 1024));
    else
        snprintf(buf, cap, "%.2f GiB", bytes / (1024.0 * 1024 * 1024));
}

char *adv_where_frame(const struct adv_frame *fr)
{
    const char *fn = adv_s(fr->function);
    if (!*fn)
        fn = "??";
    if (*adv_s(fr->file))
        return adv_strf("%s (%s:%u)", fn, adv_base(fr->file), fr->line);
    return adv_strf("%s", fn);
}

enum adv_code adv_frame_code(const struct adv_frame *fr)
{
    return fr->code != ADV_CODE_AUTO ? fr->code : adv_code_of(fr->function, fr->file);
}

const struct adv_step *adv_step_named(const struct adv_facts *f, const char *name)
{
    if (!f->lat.measured || name == NULL || !*name)
        return NULL;
    for (size_t i = 0; i < f->lat.nsteps; i++)
        if (strcmp(adv_s(f->lat.steps[i].name), name) == 0)
            return &f->lat.steps[i];
    return NULL;
}

double adv_ref_p50_us(const struct adv_ctx *cx, const char *step)
{
    const struct adv_step *s = adv_step_named(cx->f, step);
    if (s && s->p50_us > 0)
        return s->p50_us;
    return cx->f->lat.measured && cx->f->lat.p50_us > 0 ? cx->f->lat.p50_us : 0;
}

/* ---- findings ------------------------------------------------------------------ */

static void finding_free(struct adv_finding *f)
{
    free(f->title);
    free(f->evidence);
    free(f->where);
    free(f->fix);
    free(f->detail);
    memset(f, 0, sizeof(*f));
}

void adv_emit(struct adv_ctx *cx, const struct adv_rule *r, struct adv_draft *d)
{
    struct adv_finding f = {
        .rule = r->id,
        .severity = d->severity,
        .title = d->title,
        .evidence = d->evidence,
        .where = d->where,
        .detail = d->detail ? d->detail : calloc(1, 1),
        .fix = adv_strf("%s", d->fix ? d->fix : r->fix),
        .impact = adv_clamp01(d->impact),
        .confidence = adv_clamp01(d->confidence),
    };
    memset(d, 0, sizeof(*d));
    if (cx->err != LS_OK || !f.title || !f.evidence || !f.where || !f.detail || !f.fix)
        goto fail;
    if (cx->n == cx->cap) {
        size_t nc = cx->cap ? cx->cap * 2 : 16;
        struct adv_finding *v = realloc(cx->v, nc * sizeof(*v));
        if (v == NULL)
            goto fail;
        cx->v = v;
        cx->cap = nc;
    }
    cx->v[cx->n++] = f;
    return;
fail:
    if (cx->err == LS_OK)
        cx->err = LS_ERR_NOMEM;
    finding_free(&f);
}

static int cmp_rank(const void *x, const void *y)
{
    const struct adv_finding *a = x, *b = y;
    if (a->severity != b->severity)
        return a->severity > b->severity ? -1 : 1;
    double sa = a->impact * a->confidence, sb = b->impact * b->confidence;
    if (sa != sb)
        return sa > sb ? -1 : 1;
    int c = strcmp(a->rule, b->rule);
    return c ? c : strcmp(a->where, b->where);
}

/* ---- evaluation ------------------------------------------------------------------ */

static uint32_t measured(const struct adv_facts *f)
{
    uint32_t m = 0;
    m |= f->run.measured ? ADV_IN_RUN : 0;
    m |= f->gen.measured ? ADV_IN_GENERATOR : 0;
    m |= f->lat.measured ? ADV_IN_LATENCY : 0;
    m |= f->mcp.measured ? ADV_IN_MCP : 0;
    m |= f->ds.measured ? ADV_IN_DOWNSTREAM : 0;
    m |= f->net.measured ? ADV_IN_NET : 0;
    m |= f->threads.measured ? ADV_IN_THREADS : 0;
    m |= f->blocking.measured ? ADV_IN_BLOCKING : 0;
    m |= f->locks.measured ? ADV_IN_LOCKS : 0;
    m |= f->cpu.measured ? ADV_IN_CPU : 0;
    m |= f->alloc.measured ? ADV_IN_ALLOC : 0;
    m |= f->alloc.measured && f->alloc.live_measured ? ADV_IN_LIVE : 0;
    return m;
}

void adv_report_free(struct adv_report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        finding_free(&r->findings[i]);
    free(r->findings);
    memset(r, 0, sizeof(*r));
}

ls_err adv_evaluate(const struct adv_facts *f, struct adv_report *out)
{
    memset(out, 0, sizeof(*out));
    struct adv_ctx cx = {.f = f, .have = measured(f)};
    bool enough = f->run.measured && f->run.requests >= ADV_MIN_REQUESTS;
    if (enough && (cx.have & ADV_IN_ALLOC)) {
        cx.err = adv_alloc_sites_build(&f->alloc, &cx.asites);
        if (cx.err != LS_OK)
            goto out;
    }
    for (size_t i = 0; rule_at(i) && cx.err == LS_OK; i++) {
        const struct adv_rule *r = rule_at(i);
        uint32_t missing = r->needs_all & ~cx.have;
        if (r->needs_any && !(r->needs_any & cx.have))
            missing |= r->needs_any;
        if (missing || !enough) {
            if (out->n_not_measured < ADV_MAX_RULES)
                out->not_measured[out->n_not_measured++] = (struct adv_not_measured){
                    r->id, missing, missing ? "not measured" : "too few requests"};
            continue;
        }
        size_t first = cx.n;
        r->evaluate(&cx, r);
        /* Keep a rule's largest findings only: one finding per site can be many. */
        size_t got = cx.n - first;
        if (got > ADV_PER_RULE_MAX) {
            qsort(cx.v + first, got, sizeof(*cx.v), cmp_rank);
            for (size_t k = first + ADV_PER_RULE_MAX; k < cx.n; k++)
                finding_free(&cx.v[k]);
            cx.n = first + ADV_PER_RULE_MAX;
        }
    }
out:
    adv_alloc_sites_free(&cx.asites);
    if (cx.err != LS_OK) {
        struct adv_report tmp = {.findings = cx.v, .n = cx.n};
        adv_report_free(&tmp);
        memset(out, 0, sizeof(*out));
        return cx.err;
    }
    if (cx.n)
        qsort(cx.v, cx.n, sizeof(*cx.v), cmp_rank);
    out->findings = cx.v;
    out->n = cx.n;
    return LS_OK;
}

/* ---- rendering ----------------------------------------------------------------- */

int adv_render(const struct adv_finding *f, size_t rank, char *buf, size_t cap)
{
    char num[24] = "";
    if (rank)
        snprintf(num, sizeof(num), "%zu. ", rank);
    return snprintf(buf, cap, "%s[%s] %s (%s)\n    evidence: %s\n    where: %s\n    fix: %s", num,
                    adv_severity_name(f->severity), adv_s(f->title), adv_s(f->rule),
                    adv_s(f->evidence), adv_s(f->where), adv_s(f->fix));
}
