/*
 * dash_hot: the Hot paths screen and the Overview's panel (see dash_hot.h).
 *
 * Each refresh fills h->rows (at most HOT_CAP ranked paths) and the totals
 * from the source, live at most twice a second, in replay whenever the
 * second shown or the ranking changes; the view functions only format them.
 * Strings in rows are borrowed: from the tracer (valid until alloc_close) or
 * from the replay's own copies.
 */
#include "dash_hot.h"

#include <curses.h> /* key codes only: painting is dash_term's */
#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "clock.h"
#include "dash.h"
#include "store.h"
#include "store_alloc_read.h"

#define HOT_CAP 256                     /* ranked paths kept per refresh */
#define HOT_REFRESH_NS 500000000ull     /* live: re-read the tracer at most twice a second */
#define HOT_PROCS 8
#define HOT_LEAK_SLOTS 8192             /* paths whose live bytes are followed (power of two) */

struct hot_row {
    uint32_t key;
    int pid;
    const char *blame, *label, *stack; /* borrowed */
    uint64_t allocs, bytes, reallocs, frees, short_lived;
    int64_t live_bytes;
    double allocs_per_s, bytes_per_s, allocs_per_req, bytes_per_req;
    bool leak;
};

struct hot_proc {
    int pid;
    bool alive;
    uint64_t rss_bytes;
    double cpu_pct;        /* < 0: not known yet */
    uint64_t threads;
    char names[200];       /* "node x1, libuv-worker x4" */
};

/* A path's live bytes second by second: how many seconds in a row they rose. */
struct leak_slot {
    uint32_t key1;         /* key + 1; 0: free */
    uint32_t last_sec;
    int64_t last_live;
    uint32_t streak;
    uint32_t records;
};

struct rp_stack {
    uint32_t key;
    int pid;
    char *blame, *label, *stack;
    uint64_t allocs, bytes, reallocs, frees, short_lived; /* summed up to the second shown */
    int64_t live;
    bool seen;
};

struct rp_proc {
    uint32_t second;
    int pid;
    uint64_t rss_bytes, threads;
    double cpu_pct;
    char *names_json;
};

struct dash_hot {
    struct alloc *a;                   /* live; NULL in replay */
    /* replay: the stored session */
    struct rp_stack *st;
    size_t nst, capst;
    struct store_alloc_second *sec;
    size_t nsec, capsec;
    struct rp_proc *pr;
    size_t npr, cappr;
    bool oom;

    /* the figures shown */
    struct hot_row rows[HOT_CAP];
    size_t nrows;
    uint64_t total_allocs, requests, stacks, dropped;
    int64_t live_total;
    double seconds;                    /* what the rates are over: run time so far */
    char warning[512];
    struct hot_proc procs[HOT_PROCS];
    size_t nprocs;
    bool have;                         /* refreshed at least once */
    uint64_t refreshed_ns;
    int64_t computed_upto;             /* replay: seconds summed (-1: none) */
    bool computed_by_bytes;
    struct alloc_hot snap[HOT_CAP];    /* live: the tracer's copy */

    struct leak_slot *leak;            /* HOT_LEAK_SLOTS */
    uint32_t leak_seconds;             /* live: traced seconds when last recorded */

    /* live CPU %: the previous reading */
    int prev_pid[HOT_PROCS];
    uint64_t prev_ticks[HOT_PROCS];
    double prev_cpu[HOT_PROCS];
    size_t nprev;
    uint64_t prev_ns;

    /* view state */
    bool by_bytes;
    size_t sel;
    bool stack_open;
    size_t stack_scroll;
    char *stack_title, *stack_text;    /* owned copies of the path opened */
};

/* ---- formatting ---------------------------------------------------------- */

/* 999.9, 12.3k, 4.56M, 7.89G */
static void fmt_count(double v, char *buf, size_t cap)
{
    if (v < 1000)
        snprintf(buf, cap, v < 100 && v != (double)(uint64_t)v ? "%.2f" : "%.0f", v);
    else if (v < 1e6)
        snprintf(buf, cap, "%.1fk", v / 1e3);
    else if (v < 1e9)
        snprintf(buf, cap, "%.2fM", v / 1e6);
    else
        snprintf(buf, cap, "%.2fG", v / 1e9);
}

/* 512B, 97.7K, 12.3M, 1.20G (binary units) */
static void fmt_bytes(double v, char *buf, size_t cap)
{
    static const char units[] = "BKMGT";
    int u = 0;
    bool neg = v < 0;
    if (neg)
        v = -v;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%s%.0fB", neg ? "-" : "", v);
    else
        snprintf(buf, cap, "%s%.*f%c", neg ? "-" : "", v < 10 ? 2 : 1, v, units[u]);
}

/* {"node":1,"libuv-worker":4} -> "node x1, libuv-worker x4" (names as stored, quotes dropped). */
static void names_from_json(const char *js, char *out, size_t cap)
{
    size_t off = 0;
    out[0] = '\0';
    const char *p = js ? strchr(js, '"') : NULL;
    while (p && off + 1 < cap) {
        const char *q = p + 1;
        char name[64];
        size_t n = 0;
        while (*q && *q != '"') {
            if (*q == '\\' && q[1])
                q++;
            if (n + 1 < sizeof(name))
                name[n++] = *q;
            q++;
        }
        name[n] = '\0';
        if (*q != '"')
            break;
        const char *c = strchr(q, ':');
        if (!c)
            break;
        unsigned long long cnt = strtoull(c + 1, NULL, 10);
        off += (size_t)snprintf(out + off, cap - off, "%s%s x%llu", off ? ", " : "", name, cnt);
        if (off >= cap)
            break;
        p = strchr(c, '"');
    }
}

/* ---- leak detection -------------------------------------------------------- */

static struct leak_slot *leak_find(struct dash_hot *h, uint32_t key, bool insert)
{
    if (!h->leak)
        return NULL;
    uint32_t i = (key * 2654435761u) & (HOT_LEAK_SLOTS - 1);
    for (uint32_t probe = 0; probe < HOT_LEAK_SLOTS; probe++) {
        struct leak_slot *s = &h->leak[(i + probe) & (HOT_LEAK_SLOTS - 1)];
        if (s->key1 == key + 1)
            return s;
        if (s->key1 == 0) {
            if (!insert)
                return NULL;
            s->key1 = key + 1;
            return s;
        }
    }
    return NULL;
}

/* Records a path's live bytes at the end of traced second sec (the first record sets the base). */
static void leak_record(struct dash_hot *h, uint32_t key, uint32_t sec, int64_t live)
{
    struct leak_slot *s = leak_find(h, key, true);
    if (!s)
        return;
    if (s->records > 0) {
        bool rose = live > s->last_live;
        s->streak = !rose ? 0 : sec == s->last_sec + 1 ? s->streak + 1 : 1;
    }
    s->records++;
    s->last_sec = sec;
    s->last_live = live;
}

/* True when the path's live bytes rose in each of the last DASH_HOT_LEAK_S seconds up to cur_sec. */
static bool leak_flag(struct dash_hot *h, uint32_t key, uint32_t cur_sec)
{
    const struct leak_slot *s = leak_find(h, key, false);
    return s && s->streak >= DASH_HOT_LEAK_S && s->last_sec == cur_sec;
}

/* ---- live: the tracer and /proc ----------------------------------------------- */

/* Thread names of pid from /proc/PID/task/ * /comm, trailing digits folded, the tracer's own left out. */
static void proc_thread_names(int pid, char *out, size_t cap)
{
    struct {
        char name[20];
        unsigned n;
    } nc[12];
    size_t nn = 0;
    char path[64];
    out[0] = '\0';
    snprintf(path, sizeof(path), "/proc/%d/task", pid);
    DIR *d = opendir(path);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char cpath[300], comm[32] = "";
        snprintf(cpath, sizeof(cpath), "/proc/%d/task/%s/comm", pid, de->d_name);
        FILE *f = fopen(cpath, "r");
        if (!f)
            continue;
        if (!fgets(comm, sizeof(comm), f))
            comm[0] = '\0';
        fclose(f);
        size_t l = strcspn(comm, "\n");
        while (l > 0 && comm[l - 1] >= '0' && comm[l - 1] <= '9')
            l--;
        comm[l] = '\0';
        if (strcmp(comm, "loadscope-shim") == 0)
            continue;
        size_t k = 0;
        while (k < nn && strcmp(nc[k].name, comm) != 0)
            k++;
        if (k == nn && nn < sizeof(nc) / sizeof(nc[0])) {
            snprintf(nc[nn].name, sizeof(nc[nn].name), "%.19s", comm);
            nc[nn++].n = 0;
        }
        if (k < nn)
            nc[k].n++;
    }
    closedir(d);
    size_t off = 0;
    for (size_t i = 0; i < nn && off < cap; i++)
        off += (size_t)snprintf(out + off, cap - off, "%s%s x%u", i ? ", " : "", nc[i].name, nc[i].n);
}

static void read_procs_live(struct dash_hot *h, const int *pids, size_t npids)
{
    uint64_t now = ls_now_ns();
    long hz = sysconf(_SC_CLK_TCK);
    double dt = h->prev_ns ? (double)(now - h->prev_ns) / 1e9 : 0;
    bool fresh = h->prev_ns == 0 || dt >= 1.0;
    uint64_t ticks[HOT_PROCS] = {0};
    h->nprocs = 0;
    for (size_t i = 0; i < npids && h->nprocs < HOT_PROCS; i++) {
        struct dash_proc_info info;
        struct hot_proc *p = &h->procs[h->nprocs];
        memset(p, 0, sizeof(*p));
        p->pid = pids[i];
        p->cpu_pct = -1;
        p->alive = dash_proc_read(pids[i], &info);
        if (p->alive) {
            p->rss_bytes = info.rss_kb * 1024;
            p->threads = info.threads;
            ticks[h->nprocs] = info.cpu_ticks;
            proc_thread_names(pids[i], p->names, sizeof(p->names));
        }
        for (size_t k = 0; k < h->nprev; k++) {
            if (h->prev_pid[k] != p->pid)
                continue;
            if (fresh && p->alive && hz > 0 && dt > 0 && info.cpu_ticks >= h->prev_ticks[k])
                p->cpu_pct = 100.0 * (double)(info.cpu_ticks - h->prev_ticks[k]) / (double)hz / dt;
            else if (!fresh)
                p->cpu_pct = h->prev_cpu[k];
        }
        h->nprocs++;
    }
    if (fresh) {
        for (size_t i = 0; i < h->nprocs; i++) {
            h->prev_pid[i] = h->procs[i].pid;
            h->prev_ticks[i] = ticks[i];
            h->prev_cpu[i] = h->procs[i].cpu_pct;
        }
        h->nprev = h->nprocs;
        h->prev_ns = now;
    } else {
        for (size_t i = 0; i < h->nprocs; i++) {
            for (size_t k = 0; k < h->nprev; k++) {
                if (h->prev_pid[k] == h->procs[i].pid)
                    h->prev_cpu[k] = h->procs[i].cpu_pct;
            }
        }
    }
}

/* Rates are over the run's wall time so far (the tracer's own count of closed seconds lags). */
static void refresh_live(struct dash_hot *h, const struct live_snapshot *sn, const int *pids, size_t npids)
{
    uint64_t now = ls_now_ns();
    if (pids)
        read_procs_live(h, pids, npids);
    if (h->have && h->computed_by_bytes == h->by_bytes && now - h->refreshed_ns < HOT_REFRESH_NS)
        return;
    struct alloc_status as;
    alloc_status(h->a, &as);
    size_t n = alloc_snapshot(h->a, h->by_bytes ? ALLOC_BY_BYTES : ALLOC_BY_ALLOCS, h->snap, HOT_CAP);
    uint32_t secs = (uint32_t)as.traced_seconds;
    double run_s = (double)sn->elapsed_ns / 1e9;
    bool new_second = secs > h->leak_seconds;
    for (size_t i = 0; i < n; i++) {
        const struct alloc_hot *a = &h->snap[i];
        struct hot_row *r = &h->rows[i];
        *r = (struct hot_row){
            .key = a->key, .pid = a->pid, .blame = a->blame, .label = a->label, .stack = a->stack,
            .allocs = a->allocs, .bytes = a->bytes, .reallocs = a->reallocs, .frees = a->frees,
            .short_lived = a->short_lived, .live_bytes = a->live_bytes,
            .allocs_per_s = run_s > 0 ? (double)a->allocs / run_s : 0,
            .bytes_per_s = run_s > 0 ? (double)a->bytes / run_s : 0,
            .allocs_per_req = a->allocs_per_req, .bytes_per_req = a->bytes_per_req};
        if (new_second)
            leak_record(h, a->key, secs - 1, a->live_bytes);
        r->leak = secs > 0 && leak_flag(h, a->key, secs - 1);
    }
    if (new_second)
        h->leak_seconds = secs;
    h->nrows = n;
    h->total_allocs = as.allocs;
    h->requests = as.requests;
    h->stacks = as.stacks;
    h->dropped = as.dropped;
    h->live_total = as.live_bytes;
    h->seconds = run_s;
    snprintf(h->warning, sizeof(h->warning), "%s", as.warning);
    h->have = true;
    h->refreshed_ns = now;
    h->computed_by_bytes = h->by_bytes;
}

/* ---- replay: the stored session ---------------------------------------------- */

static int rp_add_stack(void *ctx, const struct store_alloc_stack_row *s)
{
    struct dash_hot *h = ctx;
    if (h->nst == h->capst) {
        size_t cap = h->capst ? h->capst * 2 : 64;
        struct rp_stack *n = realloc(h->st, cap * sizeof(*n));
        if (!n)
            goto oom;
        h->st = n;
        h->capst = cap;
    }
    struct rp_stack *r = &h->st[h->nst];
    memset(r, 0, sizeof(*r));
    const char *base = strrchr(s->blame_file, '/');
    base = base ? base + 1 : s->blame_file;
    size_t cap = strlen(s->blame_function) + strlen(base) + 32;
    r->blame = malloc(cap);
    r->label = strdup(s->label);
    r->stack = strdup(s->frames);
    if (!r->blame || !r->label || !r->stack) {
        free(r->blame);
        free(r->label);
        free(r->stack);
        goto oom;
    }
    /* as the tracer names it live: function (file:line) */
    if (base[0])
        snprintf(r->blame, cap, "%s (%s:%lld)", s->blame_function, base, (long long)s->blame_line);
    else
        snprintf(r->blame, cap, "%s", s->blame_function);
    r->key = (uint32_t)s->stack_key;
    r->pid = (int)s->pid;
    h->nst++;
    return 0;
oom:
    h->oom = true;
    return 1;
}

static int rp_add_second(void *ctx, const struct store_alloc_second *r)
{
    struct dash_hot *h = ctx;
    if (h->nsec == h->capsec) {
        size_t cap = h->capsec ? h->capsec * 2 : 256;
        struct store_alloc_second *n = realloc(h->sec, cap * sizeof(*n));
        if (!n) {
            h->oom = true;
            return 1;
        }
        h->sec = n;
        h->capsec = cap;
    }
    h->sec[h->nsec++] = *r;
    return 0;
}

static int rp_add_proc(void *ctx, const struct store_alloc_proc *p)
{
    struct dash_hot *h = ctx;
    if (h->npr == h->cappr) {
        size_t cap = h->cappr ? h->cappr * 2 : 64;
        struct rp_proc *n = realloc(h->pr, cap * sizeof(*n));
        if (!n) {
            h->oom = true;
            return 1;
        }
        h->pr = n;
        h->cappr = cap;
    }
    struct rp_proc *r = &h->pr[h->npr];
    *r = (struct rp_proc){.second = p->second, .pid = (int)p->pid, .rss_bytes = p->rss_bytes,
                          .threads = p->threads, .cpu_pct = p->cpu_pct,
                          .names_json = strdup(p->thread_names)};
    if (!r->names_json) {
        h->oom = true;
        return 1;
    }
    h->npr++;
    return 0;
}

static struct rp_stack *rp_stack_of(struct dash_hot *h, int64_t key)
{
    size_t lo = 0, hi = h->nst;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((int64_t)h->st[mid].key == key)
            return &h->st[mid];
        if ((int64_t)h->st[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int cmp_allocs(const void *x, const void *y)
{
    const struct rp_stack *const *p = x, *const *q = y;
    if ((*p)->allocs != (*q)->allocs)
        return (*p)->allocs > (*q)->allocs ? -1 : 1;
    return (*p)->key < (*q)->key ? -1 : (*p)->key > (*q)->key;
}

static int cmp_bytes(const void *x, const void *y)
{
    const struct rp_stack *const *p = x, *const *q = y;
    if ((*p)->bytes != (*q)->bytes)
        return (*p)->bytes > (*q)->bytes ? -1 : 1;
    return (*p)->key < (*q)->key ? -1 : (*p)->key > (*q)->key;
}

/* Sums the stored rows of the seconds before upto, as the live screen showed them then. */
static void refresh_replay(struct dash_hot *h, const struct live_snapshot *sn)
{
    int64_t upto = sn->seconds_closed;
    if (h->have && h->computed_upto == upto && h->computed_by_bytes == h->by_bytes)
        return;
    for (size_t i = 0; i < h->nst; i++) {
        struct rp_stack *s = &h->st[i];
        s->allocs = s->bytes = s->reallocs = s->frees = s->short_lived = 0;
        s->live = 0;
        s->seen = false;
    }
    if (h->leak)
        memset(h->leak, 0, HOT_LEAK_SLOTS * sizeof(*h->leak));
    for (size_t i = 0; i < h->nsec && (int64_t)h->sec[i].second < upto; i++) {
        const struct store_alloc_second *r = &h->sec[i];
        struct rp_stack *s = rp_stack_of(h, r->stack_key);
        if (!s)
            continue;
        s->allocs += r->allocs;
        s->bytes += r->bytes;
        s->reallocs += r->reallocs;
        s->frees += r->frees;
        s->short_lived += r->short_lived;
        s->live = r->live_bytes;
        s->seen = true;
        leak_record(h, s->key, r->second, r->live_bytes);
    }
    struct rp_stack **order = calloc(h->nst ? h->nst : 1, sizeof(*order));
    size_t n = 0;
    h->total_allocs = 0;
    h->live_total = 0;
    for (size_t i = 0; order && i < h->nst; i++) {
        h->total_allocs += h->st[i].allocs;
        h->live_total += h->st[i].live;
        if (h->st[i].seen)
            order[n++] = &h->st[i];
    }
    if (order)
        qsort(order, n, sizeof(*order), h->by_bytes ? cmp_bytes : cmp_allocs);
    h->seconds = upto > 0 ? (double)upto : 0;
    h->requests = sn->run_count;
    h->stacks = n;
    h->nrows = n < HOT_CAP ? n : HOT_CAP;
    for (size_t i = 0; i < h->nrows; i++) {
        const struct rp_stack *s = order[i];
        double secs = h->seconds, req = (double)h->requests;
        h->rows[i] = (struct hot_row){
            .key = s->key, .pid = s->pid, .blame = s->blame, .label = s->label, .stack = s->stack,
            .allocs = s->allocs, .bytes = s->bytes, .reallocs = s->reallocs, .frees = s->frees,
            .short_lived = s->short_lived, .live_bytes = s->live,
            .allocs_per_s = secs > 0 ? (double)s->allocs / secs : 0,
            .bytes_per_s = secs > 0 ? (double)s->bytes / secs : 0,
            .allocs_per_req = req > 0 ? (double)s->allocs / req : 0,
            .bytes_per_req = req > 0 ? (double)s->bytes / req : 0,
            .leak = upto > 0 && leak_flag(h, s->key, (uint32_t)(upto - 1))};
    }
    free(order);
    /* Each process as of the last stored second shown. */
    h->nprocs = 0;
    for (size_t i = 0; i < h->npr && (int64_t)h->pr[i].second < upto; i++) {
        const struct rp_proc *p = &h->pr[i];
        size_t k = 0;
        while (k < h->nprocs && h->procs[k].pid != p->pid)
            k++;
        if (k == h->nprocs) {
            if (h->nprocs == HOT_PROCS)
                continue;
            h->nprocs++;
        }
        struct hot_proc *d = &h->procs[k];
        d->pid = p->pid;
        d->alive = true;
        d->rss_bytes = p->rss_bytes;
        d->cpu_pct = p->cpu_pct;
        d->threads = p->threads;
        names_from_json(p->names_json, d->names, sizeof(d->names));
    }
    h->have = true;
    h->computed_upto = upto;
    h->computed_by_bytes = h->by_bytes;
}

/* ---- handles ------------------------------------------------------------------- */

static struct dash_hot *hot_new(void)
{
    struct dash_hot *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->leak = calloc(HOT_LEAK_SLOTS, sizeof(*h->leak));
    if (!h->leak) {
        free(h);
        return NULL;
    }
    h->computed_upto = -1;
    return h;
}

ls_err dash_hot_open_live(struct alloc *a, struct dash_hot **out)
{
    *out = NULL;
    struct dash_hot *h = hot_new();
    if (!h)
        return LS_ERR_NOMEM;
    h->a = a;
    *out = h;
    return LS_OK;
}

ls_err dash_hot_open_replay(struct store *st, int64_t session, struct dash_hot **out, char *err,
                            size_t errcap)
{
    struct store_alloc_info ai;
    *out = NULL;
    ls_err e = store_alloc_info(st, session, &ai);
    if (e != LS_OK) {
        snprintf(err, errcap, "%s", store_errmsg(st));
        return e;
    }
    if (ai.stacks == 0)
        return LS_OK;
    struct dash_hot *h = hot_new();
    if (!h) {
        snprintf(err, errcap, "out of memory");
        return LS_ERR_NOMEM;
    }
    e = store_alloc_stacks_each(st, session, rp_add_stack, h);
    if (e == LS_OK && !h->oom)
        e = store_alloc_seconds_each(st, session, rp_add_second, h);
    if (e == LS_OK && !h->oom)
        e = store_alloc_procs_each(st, session, rp_add_proc, h);
    if (e != LS_OK || h->oom) {
        snprintf(err, errcap, "reading the allocation profile: %s",
                 e != LS_OK ? store_errmsg(st) : "out of memory");
        dash_hot_close(h);
        return e != LS_OK ? e : LS_ERR_NOMEM;
    }
    *out = h;
    return LS_OK;
}

void dash_hot_close(struct dash_hot *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->nst; i++) {
        free(h->st[i].blame);
        free(h->st[i].label);
        free(h->st[i].stack);
    }
    free(h->st);
    free(h->sec);
    for (size_t i = 0; i < h->npr; i++)
        free(h->pr[i].names_json);
    free(h->pr);
    free(h->leak);
    free(h->stack_title);
    free(h->stack_text);
    free(h);
}

static void hot_refresh(struct dash_hot *h, const struct live_snapshot *sn, const int *pids, size_t npids)
{
    if (h->a)
        refresh_live(h, sn, pids, npids);
    else
        refresh_replay(h, sn);
    if (h->sel >= h->nrows)
        h->sel = h->nrows ? h->nrows - 1 : 0;
}

/* ---- the screen -------------------------------------------------------------- */

static void put_procs(struct dash_hot *h, struct dash_frame *f, int *r, int bottom, int maxrows)
{
    int used = 0;
    if (h->nprocs == 0 && *r < bottom) {
        dash_frame_put(f, (*r)++, 1, DS_DIM, "target: %s", h->a ? "no process running" : "no /proc rows stored");
        return;
    }
    for (size_t i = 0; i < h->nprocs && *r < bottom && used < maxrows; i++, used++) {
        const struct hot_proc *p = &h->procs[i];
        if (!p->alive) {
            dash_frame_put(f, (*r)++, 1, DS_DIM, "pid %d (gone)", p->pid);
            continue;
        }
        char rss[16], cpu[16] = "...";
        fmt_bytes((double)p->rss_bytes, rss, sizeof(rss));
        if (p->cpu_pct >= 0)
            snprintf(cpu, sizeof(cpu), "%.1f%%", p->cpu_pct);
        dash_frame_put(f, *r, 1, DS_NORMAL, "pid %-7d RSS %-7s CPU %-6s threads %-3llu %s", p->pid, rss,
                       cpu, (unsigned long long)p->threads, p->names);
        dash_frame_style(f, *r, 1, 3, DS_HEAD);
        (*r)++;
    }
}

static void put_totals(struct dash_hot *h, struct dash_frame *f, int r)
{
    char tot[16], rate[16], preq[16], live[16];
    fmt_count((double)h->total_allocs, tot, sizeof(tot));
    fmt_count(h->seconds > 0 ? (double)h->total_allocs / h->seconds : 0, rate, sizeof(rate));
    fmt_count(h->requests ? (double)h->total_allocs / (double)h->requests : 0, preq, sizeof(preq));
    fmt_bytes((double)h->live_total, live, sizeof(live));
    int n = dash_frame_put(f, r, 1, DS_NORMAL, "allocations %s  %s/s  %s/req  live %s  stacks %llu  over %.0fs",
                           tot, rate, h->requests ? preq : "-", live, (unsigned long long)h->stacks,
                           h->seconds);
    if (h->dropped)
        dash_frame_put(f, r, 1 + n, DS_BAD, "  dropped %llu", (unsigned long long)h->dropped);
}

/* The table's heading and rows; wide screens get a label column. */
static int table(struct dash_hot *h, struct dash_frame *f, int top, int bottom, bool mark_sel)
{
    bool wide = f->cols >= 110;
    int r = top;
    dash_frame_put(f, r++, 1, DS_HEAD, "%2s %8s %8s %7s %7s %6s %5s %8s %s%s", "#",
                   h->by_bytes ? "allocs/s" : "allocs/s*", h->by_bytes ? "bytes/s*" : "bytes/s",
                   "al/req", "B/req", "reall", "short", "live", wide ? "label          " : "",
                   "blame: function (file:line)");
    int rows = bottom - r;
    if (rows <= 0)
        return r;
    size_t first = h->sel >= (size_t)rows ? h->sel - (size_t)rows + 1 : 0;
    if (!mark_sel)
        first = 0;
    for (size_t i = first; i < h->nrows && r < bottom; i++, r++) {
        const struct hot_row *x = &h->rows[i];
        char as[16], bs[16], ar[16], br[16], re[16], lv[16];
        fmt_count(x->allocs_per_s, as, sizeof(as));
        fmt_bytes(x->bytes_per_s, bs, sizeof(bs));
        fmt_count(x->allocs_per_req, ar, sizeof(ar));
        fmt_bytes(x->bytes_per_req, br, sizeof(br));
        fmt_count((double)x->reallocs, re, sizeof(re));
        fmt_bytes((double)x->live_bytes, lv, sizeof(lv));
        double sp = x->allocs ? 100.0 * (double)x->short_lived / (double)x->allocs : 0;
        char lab[24] = "";
        if (wide)
            snprintf(lab, sizeof(lab), "%-14.14s ", x->label[0] ? x->label : "-");
        dash_frame_put(f, r, 1, DS_NORMAL, "%2zu %8s %8s %7s %7s %6s %4.0f%% %7s%c %s%s", i + 1, as, bs,
                       h->requests ? ar : "-", h->requests ? br : "-", re, sp, lv, x->leak ? '!' : ' ', lab,
                       x->blame);
        if (x->leak)
            dash_frame_style(f, r, 1 + 2 + 1 + 8 + 1 + 8 + 1 + 7 + 1 + 7 + 1 + 6 + 1 + 5 + 1, 8, DS_BAD);
        if (mark_sel && i == h->sel)
            dash_frame_style(f, r, 0, f->cols, DS_SELECT);
    }
    return r;
}

static void stack_view(struct dash_hot *h, struct dash_frame *f, int top, int bottom)
{
    int r = top;
    dash_frame_put(f, r++, 1, DS_HEAD, "stack of %s", h->stack_title ? h->stack_title : "?");
    size_t nlines = 0;
    for (const char *p = h->stack_text; p && *p; p++)
        nlines += *p == '\n';
    nlines += h->stack_text && h->stack_text[0] ? 1 : 0;
    int rows = bottom - r;
    if (rows <= 0)
        return;
    if (h->stack_scroll + (size_t)rows > nlines)
        h->stack_scroll = nlines > (size_t)rows ? nlines - (size_t)rows : 0;
    const char *p = h->stack_text ? h->stack_text : "";
    for (size_t i = 0; *p && r < bottom; i++) {
        size_t l = strcspn(p, "\n");
        if (i >= h->stack_scroll)
            dash_frame_put(f, r++, 3, i == 0 ? DS_WARN : DS_NORMAL, "%2zu %.*s", i, (int)l, p);
        p += l;
        if (*p == '\n')
            p++;
    }
}

void dash_view_hot(struct dash_hot *h, const struct live_snapshot *sn, const int *pids, size_t npids,
                   struct dash_frame *f, int top, int bottom)
{
    hot_refresh(h, sn, pids, npids);
    if (h->stack_open) {
        stack_view(h, f, top, bottom);
        return;
    }
    int r = top;
    if (bottom - top < 8) {
        dash_frame_put(f, r, 1, DS_WARN, "the window is too small: 80x24 or larger shows everything");
        return;
    }
    put_procs(h, f, &r, bottom, bottom - top >= 16 ? 2 : 1);
    put_totals(h, f, r++);
    if (h->warning[0] && r < bottom)
        dash_frame_put(f, r++, 1, DS_WARN, "%s", h->warning);
    /* Three rows of detail about the selected path under the table. */
    int detail = 3;
    if (h->nrows == 0) {
        dash_frame_put(f, r + 1, 3, DS_DIM, "%s", h->total_allocs ? "no stacks recorded (count mode keeps none)"
                                                                                 : "no allocations traced yet");
        return;
    }
    table(h, f, r, bottom - detail, true);
    const struct hot_row *x = &h->rows[h->sel];
    int d = bottom - detail;
    char b[16], lv[16];
    fmt_bytes((double)x->bytes, b, sizeof(b));
    fmt_bytes((double)x->live_bytes, lv, sizeof(lv));
    char pid[24];
    snprintf(pid, sizeof(pid), "pid %d  ", x->pid);
    int pl = (int)strlen(pid);
    /* The blame gives way to the pid on the right. */
    int room = f->cols - pl - 2 - 6 - (int)strlen(x->label);
    dash_frame_put(f, d, 1, DS_HEAD, "#%zu %s%s%.*s", h->sel + 1, x->label, x->label[0] ? ": " : "",
                   room > 8 ? room : 8, x->blame);
    dash_frame_put(f, d, f->cols - pl, DS_NORMAL, "%s", pid);
    dash_frame_put(f, d + 1, 3, DS_NORMAL, "allocs %" PRIu64 "  bytes %s  reallocs %" PRIu64 "  frees %" PRIu64
                   "  short-lived %" PRIu64 "  live %s",
                   x->allocs, b, x->reallocs, x->frees, x->short_lived, lv);
    if (x->leak)
        dash_frame_put(f, d + 2, 3, DS_BAD, "live bytes rose in each of the last %d seconds: a possible leak",
                       DASH_HOT_LEAK_S);
    else
        dash_frame_put(f, d + 2, 3, DS_DIM, "* ranking; ! live bytes rising %ds in a row (leak?); K,M = KiB,MiB",
                       DASH_HOT_LEAK_S);
}

int dash_hot_panel_rows(int body_rows)
{
    return body_rows >= 17 ? 4 : 0;
}

void dash_hot_panel(struct dash_hot *h, const struct live_snapshot *sn, struct dash_frame *f, int top,
                    int bottom)
{
    if (bottom - top < 2)
        return;
    hot_refresh(h, sn, NULL, 0); /* NULL pids: the screen's /proc reading is kept */
    size_t n = h->nrows < (size_t)(bottom - top - 1) ? h->nrows : (size_t)(bottom - top - 1);
    if (n == 0) {
        dash_frame_put(f, top, 1, DS_HEAD, "allocation hot paths");
        dash_frame_put(f, top, 23, DS_DIM, "%s", h->total_allocs ? "no stacks recorded" : "none traced yet");
        return;
    }
    char tot[16];
    fmt_count(h->seconds > 0 ? (double)h->total_allocs / h->seconds : 0, tot, sizeof(tot));
    dash_frame_put(f, top, 1, DS_HEAD, "allocation hot paths (%s allocs/s in all)", tot);
    for (size_t i = 0; i < n; i++) {
        const struct hot_row *x = &h->rows[i];
        char as[16], ar[16], bs[16], lv[16];
        fmt_count(x->allocs_per_s, as, sizeof(as));
        fmt_count(x->allocs_per_req, ar, sizeof(ar));
        fmt_bytes(x->bytes_per_s, bs, sizeof(bs));
        fmt_bytes((double)x->live_bytes, lv, sizeof(lv));
        dash_frame_put(f, top + 1 + (int)i, 1, DS_NORMAL, "%zu %8s/s %8s/s %7s/req live %7s%c %s", i + 1, as,
                       bs, h->requests ? ar : "-", lv, x->leak ? '!' : ' ', x->blame);
    }
}

int dash_hot_key(struct dash_hot *h, int ch)
{
    const int done = DASH_KEY_HANDLED | DASH_KEY_REDRAW;
    if (h->stack_open) {
        switch (ch) {
        case '\n':
        case '\r':
        case KEY_ENTER:
        case 27: /* Esc */
        case KEY_BACKSPACE:
            h->stack_open = false;
            return done;
        case KEY_UP:
            if (h->stack_scroll > 0)
                h->stack_scroll--;
            return done;
        case KEY_DOWN:
            h->stack_scroll++; /* clamped when drawn */
            return done;
        default:
            return 0;
        }
    }
    switch (ch) {
    case 's':
        h->by_bytes = !h->by_bytes;
        h->sel = 0;
        return done;
    case KEY_UP:
        if (h->sel > 0)
            h->sel--;
        return done;
    case KEY_DOWN:
        if (h->sel + 1 < h->nrows)
            h->sel++;
        return done;
    case '\n':
    case '\r':
    case KEY_ENTER: {
        if (h->nrows == 0)
            return DASH_KEY_HANDLED;
        const struct hot_row *x = &h->rows[h->sel];
        char *title = malloc(strlen(x->blame) + 32);
        char *text = strdup(x->stack ? x->stack : "");
        if (!title || !text) {
            free(title);
            free(text);
            return DASH_KEY_HANDLED;
        }
        sprintf(title, "#%zu %s", h->sel + 1, x->blame);
        free(h->stack_title);
        free(h->stack_text);
        h->stack_title = title;
        h->stack_text = text;
        h->stack_open = true;
        h->stack_scroll = 0;
        return done;
    }
    default:
        return 0;
    }
}

void dash_hot_keys_help(const struct dash_hot *h, char *buf, size_t cap)
{
    if (h->stack_open)
        snprintf(buf, cap, "Up/Down scroll  Enter/Esc back");
    else
        snprintf(buf, cap, "Up/Down path  Enter stack  s sort by %s", h->by_bytes ? "allocs" : "bytes");
}
