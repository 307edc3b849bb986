/*
 * ds_model: run totals of the downstream calls (see ds_model.h), for live
 * screens and replay alike.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "downstream/ds_model.h"

struct mop {
    uint8_t service;
    char op[DS_OP_MAX];
    struct ds_op_view v;     /* counts; rates and percentiles filled when copied out */
    uint64_t last_second_calls;
    uint32_t last_second;
    struct hdr *lat, *up;
};

struct mattr {
    int32_t step;
    uint8_t service;
    char op[DS_OP_MAX];
    double calls, time_us, new_conns;
};

struct mstep {
    int32_t step;
    uint64_t requests;
};

struct ds_model {
    pthread_mutex_t mu;
    struct mop *ops;
    size_t nops;
    struct mattr *attr;
    size_t nattr, capattr;
    struct mstep *steps;
    size_t nsteps, capsteps;
    uint32_t seconds;        /* seconds added */
    uint32_t last_second;    /* the latest second added */
};

ls_err ds_model_open(struct ds_model **out)
{
    struct ds_model *m = calloc(1, sizeof(*m));
    *out = NULL;
    if (m == NULL)
        return LS_ERR_NOMEM;
    m->ops = calloc(DS_MODEL_OPS_MAX, sizeof(*m->ops));
    if (m->ops == NULL) {
        free(m);
        return LS_ERR_NOMEM;
    }
    pthread_mutex_init(&m->mu, NULL);
    *out = m;
    return LS_OK;
}

void ds_model_close(struct ds_model *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nops; i++) {
        hdr_close(m->ops[i].lat);
        hdr_close(m->ops[i].up);
    }
    free(m->ops);
    free(m->attr);
    free(m->steps);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap * 2 : 16;
    while (n < need)
        n *= 2;
    void *np = realloc(*p, n * elem);
    if (np == NULL)
        return false;
    *p = np;
    *cap = n;
    return true;
}

static struct mop *find_op(struct ds_model *m, uint8_t svc, const char *op)
{
    for (size_t i = 0; i < m->nops; i++)
        if (m->ops[i].service == svc && strcmp(m->ops[i].op, op) == 0)
            return &m->ops[i];
    if (m->nops == DS_MODEL_OPS_MAX - 1 && strcmp(op, "(other)") != 0)
        return find_op(m, svc, "(other)");
    if (m->nops >= DS_MODEL_OPS_MAX)
        return NULL;
    struct mop *o = &m->ops[m->nops];
    memset(o, 0, sizeof(*o));
    o->service = svc;
    snprintf(o->op, sizeof o->op, "%s", op);
    if (hdr_open_latency(&o->lat) != LS_OK || hdr_open_latency(&o->up) != LS_OK) {
        hdr_close(o->lat);
        hdr_close(o->up);
        return NULL;
    }
    m->nops++;
    return o;
}

/* Adds a second's histogram; one that cannot be added (another layout, overflow) is skipped. */
static void merge(struct hdr *dst, const struct hdr *src)
{
    if (src != NULL && hdr_add(dst, src) != LS_OK)
        return;
}

void ds_model_add_second(struct ds_model *m, const struct ds_second *s)
{
    pthread_mutex_lock(&m->mu);
    m->seconds++;
    if (s->second > m->last_second || m->seconds == 1)
        m->last_second = s->second;
    for (size_t i = 0; i < s->nops; i++) {
        const struct ds_op_second *x = &s->ops[i];
        struct mop *o = find_op(m, x->service, x->op);
        if (o == NULL)
            continue;
        struct ds_op_view *v = &o->v;
        v->calls += x->calls;
        v->errors += x->errors;
        v->throttles += x->throttles;
        v->server_errors += x->server_errors;
        v->retries += x->retries;
        v->new_conns += x->new_conns;
        v->faults += x->faults;
        v->bytes_in += x->bytes_in;
        v->bytes_out += x->bytes_out;
        v->batch_asked += x->batch_asked;
        v->batch_unprocessed += x->batch_unprocessed;
        if (s->second >= o->last_second) {
            o->last_second = s->second;
            o->last_second_calls = x->calls;
        }
        merge(o->lat, x->latency);
        merge(o->up, x->upstream);
    }
    for (size_t i = 0; i < s->nattr; i++) {
        const struct ds_attr_second *x = &s->attr[i];
        struct mattr *a = NULL;
        for (size_t k = 0; k < m->nattr && a == NULL; k++)
            if (m->attr[k].step == x->step && m->attr[k].service == x->service &&
                strcmp(m->attr[k].op, x->op) == 0)
                a = &m->attr[k];
        if (a == NULL) {
            if (!grow((void **)&m->attr, &m->capattr, m->nattr + 1, sizeof(*m->attr)))
                continue;
            a = &m->attr[m->nattr++];
            memset(a, 0, sizeof(*a));
            a->step = x->step;
            a->service = x->service;
            snprintf(a->op, sizeof a->op, "%s", x->op);
        }
        a->calls += x->calls;
        a->time_us += x->time_us;
        a->new_conns += x->new_conns;
    }
    for (size_t i = 0; i < s->nsteps; i++) {
        struct mstep *st = NULL;
        for (size_t k = 0; k < m->nsteps && st == NULL; k++)
            if (m->steps[k].step == s->steps[i].step)
                st = &m->steps[k];
        if (st == NULL) {
            if (!grow((void **)&m->steps, &m->capsteps, m->nsteps + 1, sizeof(*m->steps)))
                continue;
            st = &m->steps[m->nsteps++];
            *st = (struct mstep){s->steps[i].step, 0};
        }
        st->requests += s->steps[i].requests;
    }
    pthread_mutex_unlock(&m->mu);
}

uint32_t ds_model_seconds(struct ds_model *m)
{
    pthread_mutex_lock(&m->mu);
    uint32_t n = m->seconds;
    pthread_mutex_unlock(&m->mu);
    return n;
}

static uint64_t total_requests(const struct ds_model *m)
{
    uint64_t n = 0;
    for (size_t i = 0; i < m->nsteps; i++)
        n += m->steps[i].requests;
    return n;
}

static int by_calls(const void *a, const void *b)
{
    const struct ds_op_view *x = a, *y = b;
    if (x->calls != y->calls)
        return x->calls > y->calls ? -1 : 1;
    if (x->service != y->service)
        return x->service < y->service ? -1 : 1;
    return strcmp(x->op, y->op);
}

size_t ds_model_ops(struct ds_model *m, struct ds_op_view *out, size_t cap)
{
    pthread_mutex_lock(&m->mu);
    uint64_t req = total_requests(m);
    size_t n = 0;
    for (size_t i = 0; i < m->nops && n < cap; i++) {
        const struct mop *o = &m->ops[i];
        struct ds_op_view *v = &out[n++];
        *v = o->v;
        v->service = o->service;
        snprintf(v->op, sizeof v->op, "%s", o->op);
        v->calls_per_s = o->last_second == m->last_second ? (double)o->last_second_calls : 0;
        v->per_request = req ? (double)o->v.calls / (double)req : 0;
        v->p50_us = hdr_value_at_percentile(o->lat, 50);
        v->p99_us = hdr_value_at_percentile(o->lat, 99);
        v->max_us = hdr_max(o->lat);
        v->up_p50_us = hdr_value_at_percentile(o->up, 50);
        v->up_p99_us = hdr_value_at_percentile(o->up, 99);
    }
    pthread_mutex_unlock(&m->mu);
    qsort(out, n, sizeof(*out), by_calls);
    return n;
}

static int by_step(const void *a, const void *b)
{
    const struct ds_step_view *x = a, *y = b;
    if (x->step != y->step)
        return x->step < y->step ? -1 : 1;
    bool xa = x->op[0] == '\0', ya = y->op[0] == '\0';
    if (xa != ya)
        return xa ? -1 : 1; /* the step's total first */
    if (x->calls != y->calls)
        return x->calls > y->calls ? -1 : 1;
    return strcmp(x->op, y->op);
}

size_t ds_model_steps(struct ds_model *m, struct ds_step_view *out, size_t cap)
{
    pthread_mutex_lock(&m->mu);
    size_t n = 0;
    /* one total row per step that had requests or calls, then its operations */
    int32_t seen[512];
    size_t nseen = 0;
    for (size_t i = 0; i < m->nsteps + m->nattr; i++) {
        int32_t step = i < m->nsteps ? m->steps[i].step : m->attr[i - m->nsteps].step;
        bool dup = false;
        for (size_t k = 0; k < nseen && !dup; k++)
            dup = seen[k] == step;
        if (dup || nseen == sizeof seen / sizeof seen[0])
            continue;
        seen[nseen++] = step;
        uint64_t req = 0;
        for (size_t k = 0; k < m->nsteps; k++)
            if (m->steps[k].step == step)
                req = m->steps[k].requests;
        struct ds_step_view tot = {.step = step, .requests = req};
        double time_us = 0, nc = 0;
        for (size_t k = 0; k < m->nattr; k++) {
            const struct mattr *a = &m->attr[k];
            if (a->step != step)
                continue;
            tot.calls += a->calls;
            time_us += a->time_us;
            nc += a->new_conns;
            if (n + 1 < cap) {
                struct ds_step_view *v = &out[n++];
                *v = (struct ds_step_view){.step = step, .service = a->service, .requests = req,
                                           .calls = a->calls};
                snprintf(v->op, sizeof v->op, "%s", a->op);
                if (req > 0) {
                    v->calls_per_request = a->calls / (double)req;
                    v->time_per_request_us = a->time_us / (double)req;
                    v->new_conns_per_request = a->new_conns / (double)req;
                }
            }
        }
        if (req > 0) {
            tot.calls_per_request = tot.calls / (double)req;
            tot.time_per_request_us = time_us / (double)req;
            tot.new_conns_per_request = nc / (double)req;
        }
        if (n < cap)
            out[n++] = tot;
    }
    pthread_mutex_unlock(&m->mu);
    qsort(out, n, sizeof(*out), by_step);
    return n;
}
