/*
 * dash_hot_model: the Hot paths handle and its live figures (see dash_hot.h).
 *
 * Each refresh fills h->rows (at most DASH_HOT_CAP ranked paths) and the totals
 * from the source, live at most twice a second, in replay (dash_hot_replay.c)
 * whenever the second shown or the ranking changes; the view functions in
 * dash_hot.c only format them. Strings in rows are borrowed: from the tracer
 * (valid until alloc_close) or from the replay's own copies. Here too: the
 * leak flag's record of live bytes per path, the target's /proc reading, and
 * the copies the stack view shows. No curses.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc/alloc.h"
#include "util/clock.h"
#include "dash.h"
#include "dash_hot_int.h"

/* ---- leak detection -------------------------------------------------------- */

static struct dash_hot_leak *leak_find(struct dash_hot *h, uint32_t key, bool insert)
{
    if (!h->leak)
        return NULL;
    uint32_t i = (key * 2654435761u) & (DASH_HOT_LEAK_SLOTS - 1);
    for (uint32_t probe = 0; probe < DASH_HOT_LEAK_SLOTS; probe++) {
        struct dash_hot_leak *s = &h->leak[(i + probe) & (DASH_HOT_LEAK_SLOTS - 1)];
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
void dash_hot_leak_record(struct dash_hot *h, uint32_t key, uint32_t sec, int64_t live)
{
    struct dash_hot_leak *s = leak_find(h, key, true);
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
bool dash_hot_leak_flag(struct dash_hot *h, uint32_t key, uint32_t cur_sec)
{
    const struct dash_hot_leak *s = leak_find(h, key, false);
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
    uint64_t ticks[DASH_HOT_PROCS] = {0};
    h->nprocs = 0;
    for (size_t i = 0; i < npids && h->nprocs < DASH_HOT_PROCS; i++) {
        struct dash_proc_info info;
        struct dash_hot_proc *p = &h->procs[h->nprocs];
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
    if (h->have && h->computed_by_bytes == h->by_bytes && now - h->refreshed_ns < DASH_HOT_REFRESH_NS)
        return;
    struct alloc_status as;
    alloc_status(h->a, &as);
    size_t n = alloc_snapshot(h->a, h->by_bytes ? ALLOC_BY_BYTES : ALLOC_BY_ALLOCS, h->snap, DASH_HOT_CAP);
    uint32_t secs = (uint32_t)as.traced_seconds;
    double run_s = (double)sn->elapsed_ns / 1e9;
    bool new_second = secs > h->leak_seconds;
    for (size_t i = 0; i < n; i++) {
        const struct alloc_hot *a = &h->snap[i];
        struct dash_hot_row *r = &h->rows[i];
        *r = (struct dash_hot_row){
            .key = a->key, .pid = a->pid, .blame = a->blame, .label = a->label, .stack = a->stack,
            .allocs = a->allocs, .bytes = a->bytes, .reallocs = a->reallocs, .frees = a->frees,
            .short_lived = a->short_lived, .live_bytes = a->live_bytes,
            .allocs_per_s = run_s > 0 ? (double)a->allocs / run_s : 0,
            .bytes_per_s = run_s > 0 ? (double)a->bytes / run_s : 0,
            .allocs_per_req = a->allocs_per_req, .bytes_per_req = a->bytes_per_req};
        if (new_second)
            dash_hot_leak_record(h, a->key, secs - 1, a->live_bytes);
        r->leak = secs > 0 && dash_hot_leak_flag(h, a->key, secs - 1);
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

/* ---- handles ------------------------------------------------------------------- */

struct dash_hot *dash_hot_new(void)
{
    struct dash_hot *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    h->leak = calloc(DASH_HOT_LEAK_SLOTS, sizeof(*h->leak));
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
    struct dash_hot *h = dash_hot_new();
    if (!h)
        return LS_ERR_NOMEM;
    h->a = a;
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

void dash_hot_refresh(struct dash_hot *h, const struct live_snapshot *sn, const int *pids, size_t npids)
{
    if (h->a)
        refresh_live(h, sn, pids, npids);
    else
        dash_hot_refresh_replay(h, sn);
    if (h->sel >= h->nrows)
        h->sel = h->nrows ? h->nrows - 1 : 0;
}

/* ---- the stack view's text ------------------------------------------------------- */

bool dash_hot_stack_open(struct dash_hot *h)
{
    const struct dash_hot_row *x = &h->rows[h->sel];
    char *title = malloc(strlen(x->blame) + 32);
    char *text = strdup(x->stack ? x->stack : "");
    if (!title || !text) {
        free(title);
        free(text);
        return false;
    }
    sprintf(title, "#%zu %s", h->sel + 1, x->blame);
    free(h->stack_title);
    free(h->stack_text);
    h->stack_title = title;
    h->stack_text = text;
    h->stack_open = true;
    h->stack_scroll = 0;
    return true;
}

size_t dash_hot_stack_lines(const struct dash_hot *h)
{
    size_t nlines = 0;
    for (const char *p = h->stack_text; p && *p; p++)
        nlines += *p == '\n';
    nlines += h->stack_text && h->stack_text[0] ? 1 : 0;
    return nlines;
}
