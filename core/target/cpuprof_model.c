/*
 * cpuprof_model: CPU stacks and per-second rows in, the CPU screen's
 * figures out (see cpuprof.h). Fed live by the profiler's reader and in
 * replay by storage. Function names are interned once per model, so a
 * function's figures are summed by pointer and each stack keeps the list
 * of the distinct functions on it (for the "anywhere on the stack" total).
 */
#include <stdlib.h>
#include <string.h>

#include "target/cpuprof.h"

struct mstack {
    bool present;               /* its info was added */
    struct cpu_stack_info s;    /* strings owned (function names interned) */
    const char **fns;           /* the distinct functions on the stack, interned */
    uint32_t nfns;
    uint64_t samples;
};

struct cpuprof_model {
    struct mstack *st;          /* indexed by key */
    size_t nst;
    char **names;               /* interned strings: open addressing, NULL = free */
    size_t nnames, capnames;
    uint64_t samples, shallow, lost, period_ns;
    uint32_t seconds, stacks;
    uint64_t *requests;
    uint8_t *added;
    size_t nsec;
};

static uint64_t hash_mem(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static bool names_grow(struct cpuprof_model *m)
{
    size_t nc = m->capnames ? m->capnames * 2 : 256;
    char **n = calloc(nc, sizeof(*n));
    if (n == NULL)
        return false;
    for (size_t i = 0; i < m->capnames; i++) {
        if (m->names[i] == NULL)
            continue;
        size_t j = hash_mem(m->names[i], strlen(m->names[i])) & (nc - 1);
        while (n[j])
            j = (j + 1) & (nc - 1);
        n[j] = m->names[i];
    }
    free(m->names);
    m->names = n;
    m->capnames = nc;
    return true;
}

/* The model's copy of s[0..len) (one per distinct string), or NULL when out of memory. */
static const char *intern(struct cpuprof_model *m, const char *s, size_t len)
{
    if ((m->nnames + 1) * 2 > m->capnames && !names_grow(m))
        return NULL;
    size_t j = hash_mem(s, len) & (m->capnames - 1);
    while (m->names[j] && !(strncmp(m->names[j], s, len) == 0 && m->names[j][len] == '\0'))
        j = (j + 1) & (m->capnames - 1);
    if (m->names[j] == NULL) {
        char *c = malloc(len + 1);
        if (c == NULL)
            return NULL;
        memcpy(c, s, len);
        c[len] = '\0';
        m->names[j] = c;
        m->nnames++;
    }
    return m->names[j];
}

static const char *intern_z(struct cpuprof_model *m, const char *s)
{
    return intern(m, s ? s : "", s ? strlen(s) : 0);
}

ls_err cpuprof_model_new(struct cpuprof_model **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? LS_OK : LS_ERR_NOMEM;
}

void cpuprof_model_free(struct cpuprof_model *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nst; i++) {
        free(m->st[i].fns);
        free((char *)(uintptr_t)m->st[i].s.frames);
        free((char *)(uintptr_t)m->st[i].s.folded);
    }
    for (size_t i = 0; i < m->capnames; i++)
        free(m->names[i]);
    free(m->names);
    free(m->st);
    free(m->requests);
    free(m->added);
    free(m);
}

static bool grow_stacks(struct cpuprof_model *m, uint32_t key)
{
    if (key < m->nst)
        return true;
    size_t nn = (size_t)key * 2 + 16;
    struct mstack *n = realloc(m->st, nn * sizeof(*n));
    if (n == NULL)
        return false;
    memset(n + m->nst, 0, (nn - m->nst) * sizeof(*n));
    m->st = n;
    m->nst = nn;
    return true;
}

ls_err cpuprof_model_add_stack(struct cpuprof_model *m, const struct cpu_stack_info *s)
{
    if (!grow_stacks(m, s->key))
        return LS_ERR_NOMEM;
    struct mstack *t = &m->st[s->key];
    if (t->present)
        return LS_OK;
    t->s = *s;
    t->s.leaf_function = intern_z(m, s->leaf_function);
    t->s.leaf_file = intern_z(m, s->leaf_file);
    t->s.blame_function = intern_z(m, s->blame_function);
    t->s.blame_file = intern_z(m, s->blame_file);
    t->s.frames = strdup(s->frames ? s->frames : "");
    t->s.folded = strdup(s->folded ? s->folded : "");
    /* the distinct functions on the stack, from the folded names */
    size_t cap = 1;
    for (const char *p = t->s.folded ? t->s.folded : ""; *p; p++)
        cap += *p == ';';
    t->fns = calloc(cap, sizeof(*t->fns));
    if (!t->s.leaf_function || !t->s.leaf_file || !t->s.blame_function || !t->s.blame_file ||
        !t->s.frames || !t->s.folded || !t->fns) {
        free(t->fns);
        free((char *)(uintptr_t)t->s.frames);
        free((char *)(uintptr_t)t->s.folded);
        memset(t, 0, sizeof(*t));
        return LS_ERR_NOMEM;
    }
    t->present = true;
    m->stacks++;
    for (const char *p = t->s.folded; *p;) {
        size_t l = strcspn(p, ";");
        const char *fn = intern(m, p, l);
        if (fn == NULL)
            return LS_ERR_NOMEM; /* the stack stays, with fewer functions */
        bool dup = false;
        for (uint32_t i = 0; i < t->nfns && !dup; i++)
            dup = t->fns[i] == fn;
        if (!dup)
            t->fns[t->nfns++] = fn;
        p += l;
        if (*p == ';')
            p++;
    }
    return LS_OK;
}

static bool grow_seconds(struct cpuprof_model *m, uint32_t second)
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

ls_err cpuprof_model_add_second(struct cpuprof_model *m, const struct cpu_second *s)
{
    if (!grow_seconds(m, s->second))
        return LS_ERR_NOMEM;
    m->added[s->second] = 1;
    m->seconds++;
    m->samples += s->samples;
    m->shallow += s->shallow;
    m->lost += s->lost;
    if (s->period_ns)
        m->period_ns = s->period_ns;
    for (size_t i = 0; i < s->nrows; i++) {
        if (!grow_stacks(m, s->rows[i].key))
            return LS_ERR_NOMEM;
        m->st[s->rows[i].key].samples += s->rows[i].samples;
    }
    return LS_OK;
}

void cpuprof_model_requests(struct cpuprof_model *m, uint32_t second, uint64_t count)
{
    if (grow_seconds(m, second))
        m->requests[second] = count;
}

static uint64_t requests_added(const struct cpuprof_model *m)
{
    uint64_t r = 0;
    for (size_t i = 0; i < m->nsec; i++)
        if (m->added[i])
            r += m->requests[i];
    return r;
}

static int cmp_hot(const void *x, const void *y)
{
    const struct cpu_hot *a = x, *b = y;
    if (a->samples != b->samples)
        return a->samples > b->samples ? -1 : 1;
    return a->s.key < b->s.key ? -1 : a->s.key > b->s.key;
}

size_t cpuprof_model_stacks(const struct cpuprof_model *m, struct cpu_hot *out, size_t cap)
{
    uint64_t reqs = requests_added(m);
    size_t n = 0;
    struct cpu_hot *all = calloc(m->stacks ? m->stacks : 1, sizeof(*all));
    if (all == NULL)
        return 0;
    for (size_t k = 0; k < m->nst && n < m->stacks; k++) {
        const struct mstack *t = &m->st[k];
        if (!t->present || t->samples == 0)
            continue;
        struct cpu_hot *h = &all[n++];
        h->s = t->s;
        h->samples = t->samples;
        h->share = m->samples ? (double)t->samples / (double)m->samples : 0;
        h->cpu_ms = (double)t->samples * (double)m->period_ns / 1e6;
        h->cpu_us_per_req = reqs ? h->cpu_ms * 1000.0 / (double)reqs : 0;
    }
    qsort(all, n, sizeof(*all), cmp_hot);
    if (n > cap)
        n = cap;
    memcpy(out, all, n * sizeof(*out));
    free(all);
    return n;
}

/* ---- functions ------------------------------------------------------------------- */

struct fn_acc {
    struct cpu_fn f;
    uint64_t where_samples;     /* samples of the stack its file:line came from */
};

struct fn_table {
    struct fn_acc *slot;        /* open addressing by interned pointer; function NULL = free */
    size_t cap, n;
};

static struct fn_acc *fn_get(struct fn_table *t, const char *fn)
{
    size_t j = ((uintptr_t)fn >> 4) * 11400714819323198485ull & (t->cap - 1);
    while (t->slot[j].f.function && t->slot[j].f.function != fn)
        j = (j + 1) & (t->cap - 1);
    if (t->slot[j].f.function == NULL) {
        t->slot[j].f.function = fn;
        t->slot[j].f.file = "";
        t->n++;
    }
    return &t->slot[j];
}

static void fn_where(struct fn_acc *a, const char *file, uint32_t line, uint64_t samples)
{
    if (samples > a->where_samples || (a->f.file[0] == '\0' && file && file[0])) {
        a->f.file = file ? file : "";
        a->f.line = line;
        a->where_samples = samples;
    }
}

static int cmp_fn(const void *x, const void *y, void *byp)
{
    const struct cpu_fn *a = x, *b = y;
    enum cpu_fn_by by = *(enum cpu_fn_by *)byp;
    uint64_t va = by == CPU_FN_SELF ? a->self_samples : by == CPU_FN_TOTAL ? a->total_samples : a->blame_samples;
    uint64_t vb = by == CPU_FN_SELF ? b->self_samples : by == CPU_FN_TOTAL ? b->total_samples : b->blame_samples;
    if (va != vb)
        return va > vb ? -1 : 1;
    return strcmp(a->function, b->function);
}

size_t cpuprof_model_functions(const struct cpuprof_model *m, enum cpu_fn_by by, struct cpu_fn *out,
                               size_t cap)
{
    struct fn_table t = {.cap = 16};
    while (t.cap < m->nnames * 2 + 2)
        t.cap *= 2;
    t.slot = calloc(t.cap, sizeof(*t.slot));
    if (t.slot == NULL)
        return 0;
    for (size_t k = 0; k < m->nst; k++) {
        const struct mstack *s = &m->st[k];
        if (!s->present || s->samples == 0)
            continue;
        struct fn_acc *leaf = fn_get(&t, s->s.leaf_function);
        leaf->f.self_samples += s->samples;
        fn_where(leaf, s->s.leaf_file, s->s.leaf_line, s->samples);
        struct fn_acc *blame = fn_get(&t, s->s.blame_function);
        blame->f.blame_samples += s->samples;
        fn_where(blame, s->s.blame_file, s->s.blame_line, s->samples);
        for (uint32_t i = 0; i < s->nfns; i++)
            fn_get(&t, s->fns[i])->f.total_samples += s->samples;
    }
    struct cpu_fn *all = calloc(t.n ? t.n : 1, sizeof(*all));
    size_t n = 0;
    uint64_t reqs = requests_added(m);
    for (size_t j = 0; all && j < t.cap; j++) {
        if (t.slot[j].f.function == NULL)
            continue;
        struct cpu_fn *f = &all[n++];
        *f = t.slot[j].f;
        /* a leaf or blame frame missing from the folded names still counts itself */
        if (f->total_samples < f->self_samples)
            f->total_samples = f->self_samples;
        uint64_t v = by == CPU_FN_SELF ? f->self_samples : by == CPU_FN_TOTAL ? f->total_samples : f->blame_samples;
        f->share = m->samples ? (double)v / (double)m->samples : 0;
        f->cpu_us_per_req = reqs ? (double)v * (double)m->period_ns / 1e3 / (double)reqs : 0;
    }
    free(t.slot);
    if (all == NULL)
        return 0;
    qsort_r(all, n, sizeof(*all), cmp_fn, &by);
    size_t keep = 0;
    for (size_t i = 0; i < n && keep < cap; i++) {
        uint64_t v = by == CPU_FN_SELF ? all[i].self_samples : by == CPU_FN_TOTAL ? all[i].total_samples : all[i].blame_samples;
        if (v > 0)
            out[keep++] = all[i];
    }
    free(all);
    return keep;
}

void cpuprof_model_totals(const struct cpuprof_model *m, struct cpu_totals *out)
{
    memset(out, 0, sizeof(*out));
    out->samples = m->samples;
    out->shallow = m->shallow;
    out->lost = m->lost;
    out->period_ns = m->period_ns;
    out->seconds = m->seconds;
    out->stacks = m->stacks;
    out->requests = requests_added(m);
    out->shallow_share = m->samples ? (double)m->shallow / (double)m->samples : 0;
    out->no_frame_pointers = m->samples >= 20 && out->shallow_share > 0.5;
}

ls_err cpuprof_model_write_folded(const struct cpuprof_model *m, FILE *f)
{
    size_t n = m->stacks;
    struct cpu_hot *h = calloc(n ? n : 1, sizeof(*h));
    if (h == NULL)
        return LS_ERR_NOMEM;
    n = cpuprof_model_stacks(m, h, n);
    bool ok = true;
    for (size_t i = 0; i < n && ok; i++)
        ok = fprintf(f, "%s %llu\n", h[i].s.folded, (unsigned long long)h[i].samples) > 0;
    free(h);
    return ok ? LS_OK : LS_ERR_IO;
}
