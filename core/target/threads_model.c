/*
 * threads_model: per-second thread-group rows in, the Threads screen's
 * figures out (see threads.h). Fed live by the sampler and in replay by
 * storage; nothing here knows which.
 */
#include <stdlib.h>
#include <string.h>

#include "target/threads.h"

#define MODEL_SYSCALLS 16 /* distinct calls kept per group over the run; the rest are dropped */

struct model_group {
    int pid;
    char name[THREADS_NAME_CAP];
    uint32_t seconds;
    double cpu_sum;             /* cpu_pct summed over seconds */
    double running_w, runnable_w, blocked_w; /* shares weighted by samples */
    uint64_t samples, state_r, state_s, state_d, state_other, created;
    uint32_t threads_max;
    uint32_t nsys;
    struct threads_syscall sys[MODEL_SYSCALLS];
    uint32_t last_second;
    struct threads_group_second last;
};

struct threads_model {
    struct model_group *g;
    size_t n, cap;
    uint32_t latest;
    bool any;
    uint64_t *requests;         /* per second */
    uint8_t *added;             /* per second: 1 once added */
    size_t nsec;
};

ls_err threads_model_new(struct threads_model **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? LS_OK : LS_ERR_NOMEM;
}

void threads_model_free(struct threads_model *m)
{
    if (m == NULL)
        return;
    free(m->g);
    free(m->requests);
    free(m->added);
    free(m);
}

static bool grow_seconds(struct threads_model *m, uint32_t second)
{
    if (second < m->nsec)
        return true;
    size_t nn = (size_t)second + 64;
    uint64_t *r = realloc(m->requests, nn * sizeof(*r));
    if (r == NULL)
        return false;
    m->requests = r;
    uint8_t *a = realloc(m->added, nn);
    if (a == NULL)
        return false;
    m->added = a;
    memset(m->requests + m->nsec, 0, (nn - m->nsec) * sizeof(*r));
    memset(m->added + m->nsec, 0, nn - m->nsec);
    m->nsec = nn;
    return true;
}

static struct model_group *group_of(struct threads_model *m, int pid, const char *name)
{
    for (size_t i = 0; i < m->n; i++)
        if (m->g[i].pid == pid && strcmp(m->g[i].name, name) == 0)
            return &m->g[i];
    if (m->n == m->cap) {
        size_t nc = m->cap ? m->cap * 2 : 16;
        struct model_group *ng = realloc(m->g, nc * sizeof(*ng));
        if (ng == NULL)
            return NULL;
        m->g = ng;
        m->cap = nc;
    }
    struct model_group *g = &m->g[m->n++];
    memset(g, 0, sizeof(*g));
    g->pid = pid;
    memcpy(g->name, name, sizeof(g->name));
    g->name[sizeof(g->name) - 1] = '\0';
    return g;
}

static void add_syscall(struct threads_syscall *sys, uint32_t *n, uint32_t cap, int nr, uint32_t samples)
{
    for (uint32_t i = 0; i < *n; i++) {
        if (sys[i].nr == nr) {
            sys[i].samples += samples;
            return;
        }
    }
    if (*n < cap)
        sys[(*n)++] = (struct threads_syscall){nr, samples};
}

ls_err threads_model_add(struct threads_model *m, const struct threads_second *s)
{
    if (!grow_seconds(m, s->second))
        return LS_ERR_NOMEM;
    m->added[s->second] = 1;
    if (!m->any || s->second > m->latest)
        m->latest = s->second;
    m->any = true;
    for (size_t i = 0; i < s->ngroups; i++) {
        const struct threads_group_second *r = &s->groups[i];
        struct model_group *g = group_of(m, r->pid, r->name);
        if (g == NULL)
            return LS_ERR_NOMEM;
        g->seconds++;
        g->cpu_sum += r->cpu_pct;
        g->running_w += r->running * r->samples;
        g->runnable_w += r->runnable * r->samples;
        g->blocked_w += r->blocked * r->samples;
        g->samples += r->samples;
        g->state_r += r->state_r;
        g->state_s += r->state_s;
        g->state_d += r->state_d;
        g->state_other += r->state_other;
        g->created += r->created;
        if (r->threads > g->threads_max)
            g->threads_max = r->threads;
        for (uint32_t k = 0; k < r->nsys && k < THREADS_TOP_SYSCALLS; k++)
            add_syscall(g->sys, &g->nsys, MODEL_SYSCALLS, r->sys[k].nr, r->sys[k].samples);
        if (g->seconds == 1 || s->second >= g->last_second) {
            g->last_second = s->second;
            g->last = *r;
        }
    }
    return LS_OK;
}

void threads_model_requests(struct threads_model *m, uint32_t second, uint64_t count)
{
    if (grow_seconds(m, second))
        m->requests[second] = count;
}

static int cmp_sys(const void *x, const void *y)
{
    const struct threads_syscall *a = x, *b = y;
    if (a->samples != b->samples)
        return a->samples > b->samples ? -1 : 1;
    return a->nr < b->nr ? -1 : a->nr > b->nr;
}

static int cmp_view(const void *x, const void *y)
{
    const struct threads_group_view *a = x, *b = y;
    double ca = a->run.cpu_pct * a->seconds, cb = b->run.cpu_pct * b->seconds;
    if (ca != cb)
        return ca > cb ? -1 : 1;
    if (a->run.pid != b->run.pid)
        return a->run.pid < b->run.pid ? -1 : 1;
    return strcmp(a->run.name, b->run.name);
}

size_t threads_model_rows(const struct threads_model *m, struct threads_group_view *out, size_t cap,
                          uint32_t *last_second)
{
    if (last_second)
        *last_second = m->latest;
    uint64_t reqs = 0;
    for (size_t s = 0; s < m->nsec; s++)
        if (m->added[s])
            reqs += m->requests[s];
    struct threads_group_view *all = calloc(m->n ? m->n : 1, sizeof(*all));
    if (all == NULL)
        return 0;
    for (size_t i = 0; i < m->n; i++) {
        const struct model_group *g = &m->g[i];
        struct threads_group_view *v = &all[i];
        if (g->last_second == m->latest)
            v->last = g->last;
        struct threads_group_second *r = &v->run;
        r->pid = g->pid;
        memcpy(r->name, g->name, sizeof(r->name));
        v->seconds = g->seconds;
        r->threads = g->threads_max;
        r->created = (uint32_t)g->created;
        r->cpu_pct = g->seconds ? g->cpu_sum / g->seconds : 0;
        if (g->samples) {
            r->running = g->running_w / (double)g->samples;
            r->runnable = g->runnable_w / (double)g->samples;
            r->blocked = g->blocked_w / (double)g->samples;
        }
        r->samples = (uint32_t)g->samples;
        r->state_r = (uint32_t)g->state_r;
        r->state_s = (uint32_t)g->state_s;
        r->state_d = (uint32_t)g->state_d;
        r->state_other = (uint32_t)g->state_other;
        struct threads_syscall sys[MODEL_SYSCALLS];
        memcpy(sys, g->sys, g->nsys * sizeof(sys[0]));
        qsort(sys, g->nsys, sizeof(sys[0]), cmp_sys);
        r->nsys = g->nsys < THREADS_TOP_SYSCALLS ? g->nsys : THREADS_TOP_SYSCALLS;
        memcpy(r->sys, sys, r->nsys * sizeof(sys[0]));
        v->created_per_req = reqs ? (double)g->created / (double)reqs : 0;
    }
    qsort(all, m->n, sizeof(*all), cmp_view);
    size_t n = m->n < cap ? m->n : cap;
    memcpy(out, all, n * sizeof(*out));
    free(all);
    return n;
}
