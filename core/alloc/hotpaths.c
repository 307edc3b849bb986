/*
 * hotpaths: the one model of allocation hot paths (see hotpaths.h).
 *
 * Rows are kept as they arrive, in second order (a late one marks the model
 * unsorted and the next ranking sorts them). Rankings usually move forward
 * (a live run, a replay playing), so the sums are kept up to the last second
 * ranked and extended row by row; asking for an earlier second starts the
 * sums over. Each path's leak record is updated as its rows are summed, so
 * the flag depends only on the rows before upto, live or in replay.
 */
#include "alloc/hotpaths.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hp_stack {
    uint32_t key;
    int pid;
    char *blame, *blame_function, *blame_file, *label, *stack, *folded; /* NULL until its text arrives */
    uint32_t blame_line;
    /* sums over the seconds [0, done_upto) */
    uint64_t allocs, bytes, reallocs, frees, freed_bytes, short_lived;
    int64_t live;
    bool seen;
    /* leak record over the same seconds */
    uint32_t records, streak, last_sec;
    int64_t last_live;
};

struct hp_row {
    uint32_t second, key;
    uint64_t allocs, bytes, reallocs, frees, freed_bytes, short_lived;
    int64_t live;
};

struct hp_proc {
    uint32_t second;
    int pid;
    uint64_t rss_bytes, threads;
    double cpu_pct;
    char names[200];
};

struct hotpaths {
    pthread_mutex_t mu;
    struct hp_stack *st;
    size_t nst, capst;
    uint32_t *slot;             /* open addressing: index + 1 into st, 0 empty */
    size_t nslot;               /* a power of two, at least twice nst */
    struct hp_row *rows;
    size_t nrows, caprows;
    bool rows_unsorted;
    struct hp_proc *procs;
    size_t nprocs, capprocs;
    bool procs_unsorted;
    uint64_t *req;              /* requests per second */
    uint32_t nreq;
    uint32_t seconds;           /* one past the last second fed */
    uint32_t done_upto;         /* sums cover [0, done_upto) */
    size_t cursor;              /* rows[0, cursor) are in the sums */
    struct hp_stack **order;    /* ranking scratch */
    size_t caporder;
};

static uint32_t hash_key(uint32_t key)
{
    return key * 2654435761u;
}

static struct hp_stack *find(struct hotpaths *hp, uint32_t key)
{
    if (hp->nslot == 0)
        return NULL;
    for (size_t i = hash_key(key) & (hp->nslot - 1);; i = (i + 1) & (hp->nslot - 1)) {
        uint32_t s = hp->slot[i];
        if (s == 0)
            return NULL;
        if (hp->st[s - 1].key == key)
            return &hp->st[s - 1];
    }
}

static ls_err rehash(struct hotpaths *hp, size_t nslot)
{
    uint32_t *slot = calloc(nslot, sizeof(*slot));
    if (!slot)
        return LS_ERR_NOMEM;
    for (size_t k = 0; k < hp->nst; k++) {
        size_t i = hash_key(hp->st[k].key) & (nslot - 1);
        while (slot[i])
            i = (i + 1) & (nslot - 1);
        slot[i] = (uint32_t)k + 1;
    }
    free(hp->slot);
    hp->slot = slot;
    hp->nslot = nslot;
    return LS_OK;
}

/* The stack of key, made (without text) when new; NULL when out of memory. */
static struct hp_stack *get(struct hotpaths *hp, uint32_t key)
{
    struct hp_stack *s = find(hp, key);
    if (s)
        return s;
    if ((hp->nst + 1) * 2 > hp->nslot && rehash(hp, hp->nslot ? hp->nslot * 2 : 256) != LS_OK)
        return NULL;
    if (hp->nst == hp->capst) {
        size_t cap = hp->capst ? hp->capst * 2 : 128;
        struct hp_stack *n = realloc(hp->st, cap * sizeof(*n));
        if (!n)
            return NULL;
        hp->st = n;
        hp->capst = cap;
    }
    s = &hp->st[hp->nst];
    memset(s, 0, sizeof(*s));
    s->key = key;
    size_t i = hash_key(key) & (hp->nslot - 1);
    while (hp->slot[i])
        i = (i + 1) & (hp->nslot - 1);
    hp->slot[i] = (uint32_t)++hp->nst;
    return s;
}

ls_err hotpaths_open(struct hotpaths **out)
{
    *out = NULL;
    struct hotpaths *hp = calloc(1, sizeof(*hp));
    if (!hp)
        return LS_ERR_NOMEM;
    pthread_mutex_init(&hp->mu, NULL);
    *out = hp;
    return LS_OK;
}

static void free_text(struct hp_stack *s)
{
    free(s->blame);
    free(s->blame_function);
    free(s->blame_file);
    free(s->label);
    free(s->stack);
    free(s->folded);
}

void hotpaths_close(struct hotpaths *hp)
{
    if (!hp)
        return;
    for (size_t i = 0; i < hp->nst; i++)
        free_text(&hp->st[i]);
    free(hp->st);
    free(hp->slot);
    free(hp->rows);
    free(hp->procs);
    free(hp->req);
    free(hp->order);
    pthread_mutex_destroy(&hp->mu);
    free(hp);
}

/* "function (file:line)" with the file's base name, as the tracer names a blame frame. */
static char *blame_text(const char *fn, const char *file, uint32_t line)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    size_t cap = strlen(fn) + strlen(base) + 32;
    char *b = malloc(cap);
    if (!b)
        return NULL;
    if (base[0])
        snprintf(b, cap, "%s (%s:%u)", fn, base, line);
    else
        snprintf(b, cap, "%s", fn);
    return b;
}

ls_err hotpaths_add_stack(struct hotpaths *hp, const struct alloc_stack_info *si)
{
    ls_err rc = LS_ERR_NOMEM;
    pthread_mutex_lock(&hp->mu);
    struct hp_stack *s = get(hp, si->key);
    if (!s)
        goto out;
    rc = LS_OK;
    if (s->stack)
        goto out; /* the first text stays */
    struct hp_stack t = {0};
    const char *fn = si->blame_function ? si->blame_function : "";
    const char *file = si->blame_file ? si->blame_file : "";
    t.blame = blame_text(fn, file, si->blame_line);
    t.blame_function = strdup(fn);
    t.blame_file = strdup(file);
    t.label = strdup(si->label ? si->label : "");
    t.stack = strdup(si->stack ? si->stack : "");
    t.folded = strdup(si->folded ? si->folded : "");
    if (!t.blame || !t.blame_function || !t.blame_file || !t.label || !t.stack || !t.folded) {
        free_text(&t);
        rc = LS_ERR_NOMEM;
        goto out;
    }
    s->pid = si->pid;
    s->blame_line = si->blame_line;
    s->blame = t.blame;
    s->blame_function = t.blame_function;
    s->blame_file = t.blame_file;
    s->label = t.label;
    s->stack = t.stack;
    s->folded = t.folded;
out:
    pthread_mutex_unlock(&hp->mu);
    return rc;
}

static bool grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return true;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *n = realloc(*p, c * size);
    if (!n)
        return false;
    *p = n;
    *cap = c;
    return true;
}

static bool set_requests_locked(struct hotpaths *hp, uint32_t second, uint64_t requests)
{
    if (second >= hp->nreq) {
        uint32_t n = hp->nreq ? hp->nreq : 64;
        while (n <= second)
            n *= 2;
        uint64_t *r = realloc(hp->req, n * sizeof(*r));
        if (!r)
            return false;
        memset(r + hp->nreq, 0, (n - hp->nreq) * sizeof(*r));
        hp->req = r;
        hp->nreq = n;
    }
    hp->req[second] = requests;
    return true; /* requests alone do not make a second fed: its rows may still come */
}

/* {"node":1,"libuv-worker":4} -> "node x1, libuv-worker x4". */
static void names_from_json(const char *js, char *out, size_t cap)
{
    out[0] = '\0';
    cJSON *o = js ? cJSON_Parse(js) : NULL;
    size_t off = 0;
    for (cJSON *it = o ? o->child : NULL; it && off < cap; it = it->next) {
        if (!it->string || !cJSON_IsNumber(it))
            continue;
        off += (size_t)snprintf(out + off, cap - off, "%s%s x%.0f", off ? ", " : "", it->string,
                                it->valuedouble);
    }
    cJSON_Delete(o);
}

ls_err hotpaths_add_interval(struct hotpaths *hp, const struct alloc_interval *iv)
{
    ls_err rc = LS_ERR_NOMEM;
    pthread_mutex_lock(&hp->mu);
    if (!grow((void **)&hp->rows, &hp->caprows, hp->nrows + iv->nrows, sizeof(*hp->rows)) ||
        !grow((void **)&hp->procs, &hp->capprocs, hp->nprocs + iv->nprocs, sizeof(*hp->procs)))
        goto out;
    for (size_t i = 0; i < iv->nrows; i++) {
        const struct alloc_row *r = &iv->rows[i];
        if (!get(hp, r->key))
            goto out;
        if (hp->nrows > 0 && hp->rows[hp->nrows - 1].second > iv->second)
            hp->rows_unsorted = true;
        hp->rows[hp->nrows++] = (struct hp_row){
            .second = iv->second, .key = r->key, .allocs = r->allocs, .bytes = r->bytes,
            .reallocs = r->reallocs, .frees = r->frees, .freed_bytes = r->freed_bytes,
            .short_lived = r->short_lived, .live = r->live_bytes};
    }
    for (size_t i = 0; i < iv->nprocs; i++) {
        const struct alloc_procstat *p = &iv->procs[i];
        if (hp->nprocs > 0 && hp->procs[hp->nprocs - 1].second > iv->second)
            hp->procs_unsorted = true;
        struct hp_proc *d = &hp->procs[hp->nprocs++];
        *d = (struct hp_proc){.second = iv->second, .pid = p->pid, .rss_bytes = p->rss_bytes,
                              .threads = p->threads, .cpu_pct = p->cpu_pct};
        names_from_json(p->thread_names, d->names, sizeof(d->names));
    }
    if (iv->requests > 0 || iv->second >= hp->nreq || hp->req[iv->second] == 0) {
        if (!set_requests_locked(hp, iv->second, iv->requests))
            goto out;
    }
    if (iv->second + 1 > hp->seconds)
        hp->seconds = iv->second + 1;
    rc = LS_OK;
out:
    pthread_mutex_unlock(&hp->mu);
    return rc;
}

ls_err hotpaths_set_requests(struct hotpaths *hp, uint32_t second, uint64_t requests)
{
    pthread_mutex_lock(&hp->mu);
    bool ok = set_requests_locked(hp, second, requests);
    pthread_mutex_unlock(&hp->mu);
    return ok ? LS_OK : LS_ERR_NOMEM;
}

uint32_t hotpaths_seconds(struct hotpaths *hp)
{
    pthread_mutex_lock(&hp->mu);
    uint32_t n = hp->seconds;
    pthread_mutex_unlock(&hp->mu);
    return n;
}

static int cmp_row(const void *x, const void *y)
{
    const struct hp_row *a = x, *b = y;
    if (a->second != b->second)
        return a->second < b->second ? -1 : 1;
    return a->key < b->key ? -1 : a->key > b->key;
}

static int cmp_proc(const void *x, const void *y)
{
    const struct hp_proc *a = x, *b = y;
    if (a->second != b->second)
        return a->second < b->second ? -1 : 1;
    return a->pid < b->pid ? -1 : a->pid > b->pid;
}

static void reset_sums(struct hotpaths *hp)
{
    for (size_t i = 0; i < hp->nst; i++) {
        struct hp_stack *s = &hp->st[i];
        s->allocs = s->bytes = s->reallocs = s->frees = s->freed_bytes = s->short_lived = 0;
        s->live = 0;
        s->seen = false;
        s->records = s->streak = s->last_sec = 0;
        s->last_live = 0;
    }
    hp->cursor = 0;
    hp->done_upto = 0;
}

/* A path's live bytes at the end of second sec: how many seconds in a row they rose. */
static void leak_record(struct hp_stack *s, uint32_t sec, int64_t live)
{
    if (s->records > 0) {
        bool rose = live > s->last_live;
        s->streak = !rose ? 0 : sec == s->last_sec + 1 ? s->streak + 1 : 1;
    }
    s->records++;
    s->last_sec = sec;
    s->last_live = live;
}

static void sum_upto(struct hotpaths *hp, uint32_t upto)
{
    if (hp->rows_unsorted) {
        qsort(hp->rows, hp->nrows, sizeof(*hp->rows), cmp_row);
        hp->rows_unsorted = false;
        reset_sums(hp);
    }
    if (upto < hp->done_upto)
        reset_sums(hp);
    while (hp->cursor < hp->nrows && hp->rows[hp->cursor].second < upto) {
        const struct hp_row *r = &hp->rows[hp->cursor++];
        struct hp_stack *s = find(hp, r->key);
        if (!s)
            continue;
        s->allocs += r->allocs;
        s->bytes += r->bytes;
        s->reallocs += r->reallocs;
        s->frees += r->frees;
        s->freed_bytes += r->freed_bytes;
        s->short_lived += r->short_lived;
        s->live = r->live;
        s->seen = true;
        leak_record(s, r->second, r->live);
    }
    hp->done_upto = upto;
}

static uint64_t metric(const struct hp_stack *s, enum alloc_sort by)
{
    if (by == ALLOC_BY_BYTES)
        return s->bytes;
    if (by == ALLOC_BY_LIVE)
        return s->live > 0 ? (uint64_t)s->live : 0;
    return s->allocs;
}

/* qsort_r's comparison: ctx is the enum alloc_sort. */
static int cmp_rank(const void *x, const void *y, void *ctx)
{
    enum alloc_sort by = *(const enum alloc_sort *)ctx;
    const struct hp_stack *const *p = x, *const *q = y;
    uint64_t a = metric(*p, by), b = metric(*q, by);
    if (a != b)
        return a > b ? -1 : 1;
    return (*p)->key < (*q)->key ? -1 : (*p)->key > (*q)->key;
}

static void procs_upto(struct hotpaths *hp, uint32_t upto, struct hotpaths_totals *tot)
{
    if (hp->procs_unsorted) {
        qsort(hp->procs, hp->nprocs, sizeof(*hp->procs), cmp_proc);
        hp->procs_unsorted = false;
    }
    tot->nprocs = 0;
    for (size_t i = 0; i < hp->nprocs && hp->procs[i].second < upto; i++) {
        const struct hp_proc *p = &hp->procs[i];
        size_t k = 0;
        while (k < tot->nprocs && tot->procs[k].pid != p->pid)
            k++;
        if (k == tot->nprocs) {
            if (tot->nprocs == HOTPATHS_PROCS)
                continue;
            tot->nprocs++;
        }
        struct hotpath_proc *d = &tot->procs[k];
        d->pid = p->pid;
        d->second = p->second;
        d->rss_bytes = p->rss_bytes;
        d->cpu_pct = p->cpu_pct;
        d->threads = p->threads;
        snprintf(d->names, sizeof(d->names), "%s", p->names);
    }
}

size_t hotpaths_rank(struct hotpaths *hp, uint32_t upto, enum alloc_sort by, struct hotpath_row *out,
                     size_t cap, struct hotpaths_totals *tot)
{
    size_t n = 0;
    pthread_mutex_lock(&hp->mu);
    sum_upto(hp, upto);
    uint64_t requests = 0;
    for (uint32_t s = 0; s < upto && s < hp->nreq; s++)
        requests += hp->req[s];
    if (!grow((void **)&hp->order, &hp->caporder, hp->nst ? hp->nst : 1, sizeof(*hp->order)))
        goto out;
    struct hotpaths_totals t = {.upto = upto, .seconds_fed = hp->seconds, .requests = requests};
    size_t seen = 0;
    for (size_t i = 0; i < hp->nst; i++) {
        struct hp_stack *s = &hp->st[i];
        if (!s->seen)
            continue;
        t.allocs += s->allocs;
        t.bytes += s->bytes;
        t.live_bytes += s->live;
        if (s->stack) /* a path is ranked once its text is known */
            hp->order[seen++] = s;
    }
    t.paths = seen;
    qsort_r(hp->order, seen, sizeof(*hp->order), cmp_rank, &by);
    double secs = (double)upto, req = (double)requests;
    for (; n < seen && n < cap; n++) {
        const struct hp_stack *s = hp->order[n];
        out[n] = (struct hotpath_row){
            .key = s->key, .pid = s->pid, .blame = s->blame, .blame_function = s->blame_function,
            .blame_file = s->blame_file, .blame_line = s->blame_line, .label = s->label,
            .stack = s->stack, .folded = s->folded, .allocs = s->allocs, .bytes = s->bytes,
            .reallocs = s->reallocs, .frees = s->frees, .freed_bytes = s->freed_bytes,
            .short_lived = s->short_lived, .live_bytes = s->live,
            .allocs_per_s = secs > 0 ? (double)s->allocs / secs : 0,
            .bytes_per_s = secs > 0 ? (double)s->bytes / secs : 0,
            .allocs_per_req = req > 0 ? (double)s->allocs / req : 0,
            .bytes_per_req = req > 0 ? (double)s->bytes / req : 0,
            .leak = upto > 0 && s->streak >= HOTPATHS_LEAK_S && s->last_sec == upto - 1};
    }
    procs_upto(hp, upto, &t);
    if (tot)
        *tot = t;
out:
    pthread_mutex_unlock(&hp->mu);
    return n;
}
