/*
 * alloc_seconds: the per-second aggregation and the sink's intervals.
 *
 * Seconds count from the origin the caller sets, so they line up with the
 * load run's seconds. Deltas add into the bucket of their second (and into
 * per-stack totals); at each second's end the watched processes' RSS, CPU
 * and threads are read from /proc into it; a second is closed and handed to
 * the sink ALLOC_CLOSE_LAG_NS after it ends, since deltas arrive every
 * ~200 ms. Reader thread only; what other threads read is taken under the
 * handle's lock.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lsalloc_wire.h"
#include "alloc/alloc.h"
#include "alloc/alloc_int.h"

#define ALLOC_CLOSE_LAG_NS 1500000000ull

uint32_t alloc_second_of(const struct alloc *a, uint64_t t_ns)
{
    uint64_t o = atomic_load(&a->origin_ns);
    return t_ns <= o ? 0 : (uint32_t)((t_ns - o) / 1000000000ull);
}

/* ---- seconds ---------------------------------------------------------------- */

struct alloc_bucket *alloc_bucket_for(struct alloc *a, uint32_t sec)
{
    if (sec < a->next_close)
        sec = a->next_close; /* late data joins the oldest open second */
    if (sec >= a->next_close + ALLOC_RING)
        sec = a->next_close + ALLOC_RING - 1;
    struct alloc_bucket *b = &a->ring[sec % ALLOC_RING];
    if (!b->used) {
        b->used = true;
        b->second = sec;
        b->n = 0;
        b->nprocs = 0;
        b->in_n = 0;
    }
    if (sec > a->max_second || !a->any_data)
        a->max_second = sec;
    a->any_data = true;
    return b;
}

static void close_second(struct alloc *a, uint32_t sec)
{
    struct alloc_bucket *b = &a->ring[sec % ALLOC_RING];
    struct alloc_interval iv = {.second = sec};
    pthread_mutex_lock(&a->lock);
    iv.requests = sec < a->nreq ? a->requests[sec] : 0;
    a->traced_seconds = sec + 1;
    pthread_mutex_unlock(&a->lock);
    if (b->used && b->second == sec) {
        iv.rows = b->rows;
        iv.nrows = b->n;
        iv.procs = b->procs;
        iv.nprocs = b->nprocs;
        iv.inside = b->in_rows;
        iv.ninside = b->in_n;
    }
    if (a->sink.interval)
        a->sink.interval(a->sink.ctx, &iv);
    alloc_inside_close_second(a, &iv);
    if (b->used && b->second == sec) {
        for (size_t i = 0; i < b->nprocs; i++) {
            free(b->names[i]);
            b->names[i] = NULL;
        }
        b->used = false;
        b->n = 0;
        b->nprocs = 0;
        b->in_n = 0;
    }
    a->next_close = sec + 1;
}

/* Reads /proc for every watched process into the bucket of second sec. */
static void sample_procs(struct alloc *a, uint32_t sec)
{
    struct alloc_bucket *b = alloc_bucket_for(a, sec);
    pthread_mutex_lock(&a->lock);
    size_t nw = a->nwatch;
    int pids[ALLOC_MAX_CONNS];
    memcpy(pids, a->watch, nw * sizeof(int));
    pthread_mutex_unlock(&a->lock);
    uint64_t rss_total = 0;
    for (size_t i = 0; i < nw && b->nprocs < ALLOC_MAX_CONNS; i++) {
        struct alloc_procstat ps = {.pid = pids[i]};
        uint64_t ticks = 0;
        char *names = NULL;
        if (!alloc_proc_read(pids[i], &ps.rss_bytes, &ticks, &ps.threads, &names))
            continue;
        pthread_mutex_lock(&a->lock);
        uint64_t prev = a->last_cpu[i];
        a->last_cpu[i] = ticks;
        for (size_t c = 0; c < a->nconns; c++) {
            if (a->conns[c]->pid == pids[i]) {
                ps.allocs = a->conns[c]->ctr.allocs;
                ps.frees = a->conns[c]->ctr.frees;
                ps.bytes_allocated = a->conns[c]->ctr.bytes_allocated;
                ps.dropped = a->conns[c]->ctr.dropped;
            }
        }
        ps.cpu_pct = prev && ticks >= prev ? alloc_ticks_to_pct(ticks - prev) : 0;
        a->last_proc[i] = ps;
        a->last_proc[i].thread_names = NULL;
        pthread_mutex_unlock(&a->lock);
        rss_total += ps.rss_bytes;
        ps.thread_names = names;
        b->names[b->nprocs] = names;
        b->procs[b->nprocs++] = ps;
    }
    /* A global allocator that bypasses malloc shows as RSS the shim never saw. */
    if (!a->warned_rss && a->o.mode != ALLOC_COUNT && rss_total > (256ull << 20)) {
        uint64_t seen = 0;
        pthread_mutex_lock(&a->lock);
        for (size_t c = 0; c < a->nconns; c++)
            seen += a->conns[c]->ctr.bytes_allocated;
        pthread_mutex_unlock(&a->lock);
        if (seen < rss_total / 16) {
            a->warned_rss = true;
            alloc_event(a, "alloc_warning",
                       "the target's RSS is %" PRIu64 " MiB but the tracer saw only %" PRIu64
                       " MiB allocated through malloc: it likely uses its own global allocator "
                       "(jemalloc, mimalloc) that the tracer cannot see",
                       rss_total >> 20, seen >> 20);
        }
    }
}

void alloc_tick(struct alloc *a, bool final)
{
    uint32_t now_sec = alloc_second_of(a, alloc_now_unix_ns());
    while (a->sampled_upto <= now_sec && !final) {
        if (a->sampled_upto == now_sec)
            break; /* sample a second at its end */
        sample_procs(a, a->sampled_upto);
        a->sampled_upto++;
    }
    uint64_t lagged = alloc_now_unix_ns() - ALLOC_CLOSE_LAG_NS;
    uint32_t upto = final ? (a->any_data ? a->max_second + 1 : a->next_close)
                          : alloc_second_of(a, lagged);
    if (final && a->sampled_upto == now_sec && now_sec + 1 > a->next_close) {
        sample_procs(a, now_sec);
        a->sampled_upto++;
        if (upto < now_sec + 1)
            upto = now_sec + 1;
    }
    if (!final && lagged <= atomic_load(&a->origin_ns))
        return;
    while (a->next_close < upto)
        close_second(a, a->next_close);
}

/* ---- deltas ----------------------------------------------------------------- */

void alloc_on_delta(struct alloc *a, struct alloc_conn *c, const uint8_t *p, uint32_t len)
{
    struct lsw_delta_head h;
    memcpy(&h, p, sizeof(h));
    if ((uint64_t)h.count * sizeof(struct lsw_delta) + sizeof(h) != len) {
        alloc_event(a, "alloc_error", "pid %d: malformed DELTA (%u records in %u bytes)", c->pid,
                   h.count, len);
        return;
    }
    struct alloc_bucket *b = alloc_bucket_for(a, alloc_second_of(a, h.t_unix_ns));
    pthread_mutex_lock(&a->lock);
    for (uint32_t i = 0; i < h.count; i++) {
        struct lsw_delta d;
        memcpy(&d, p + sizeof(h) + (size_t)i * sizeof(d), sizeof(d));
        if (d.stack_id == 0 && (c->nkeys == 0 || c->keys[0] == 0)) {
            pthread_mutex_unlock(&a->lock);
            struct alloc_stack *s = alloc_unattributed_stack(c);
            if (s == NULL || !alloc_register_stack(a, c, 0, s)) {
                pthread_mutex_lock(&a->lock);
                continue;
            }
            pthread_mutex_lock(&a->lock);
        }
        if (d.stack_id >= c->nkeys || c->keys[d.stack_id] == 0)
            continue; /* a stack the shim never described: ignored (it always sends STACK first) */
        struct alloc_stack *s = a->stacks[c->keys[d.stack_id] - 1];
        s->allocs += d.allocs;
        s->bytes += d.bytes;
        s->reallocs += d.reallocs;
        s->frees += d.frees;
        s->freed_bytes += d.freed_bytes;
        s->short_lived += d.short_lived;
        s->live = d.live_bytes;
        if (!s->row_valid || s->row_sec != b->second || s->row_idx >= b->n ||
            b->rows[s->row_idx].key != s->key) {
            if (b->n == b->cap) {
                size_t nc = b->cap ? b->cap * 2 : 64;
                struct alloc_row *nr = realloc(b->rows, nc * sizeof(*nr));
                if (nr == NULL)
                    continue;
                b->rows = nr;
                b->cap = nc;
            }
            s->row_sec = b->second;
            s->row_idx = b->n++;
            s->row_valid = true;
            memset(&b->rows[s->row_idx], 0, sizeof(struct alloc_row));
            b->rows[s->row_idx].key = s->key;
        }
        struct alloc_row *r = &b->rows[s->row_idx];
        r->allocs += d.allocs;
        r->bytes += d.bytes;
        r->reallocs += d.reallocs;
        r->frees += d.frees;
        r->freed_bytes += d.freed_bytes;
        r->short_lived += d.short_lived;
        r->live_bytes = d.live_bytes;
        if (!s->have_first) {
            s->have_first = true;
            s->live_first = d.live_bytes;
        }
    }
    pthread_mutex_unlock(&a->lock);
}
